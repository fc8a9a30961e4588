/* tests/fuzz/fuzz_poison.c — the poison pill's records DIR/apply-failed and
 * DIR/skip-entry (src/server/poison.c poison_record_parse), read at every
 * start: a damaged or hand-edited record must be refused with a reason, never
 * read as another entry. Properties: a record is accepted exactly when it is
 * 1 to 19 decimal digits, then at most one newline, naming 1..INT64_MAX
 * (checked against a model written from the digits' text, not their value);
 * the accepted index is the digits' value; and what the node writes for an
 * index ("%llu\n") reads back as that index. */
#include <string.h>

#include "fuzz.h"

#include "server/poison.h"

/* The model: whether buf[0..len) is such a record. */
static bool model_accepts(const char *buf, size_t len)
{
	static const char max[] = "9223372036854775807";
	if (len && buf[len - 1] == '\n')
		len--;
	if (len == 0 || len > 19)
		return false;
	bool nonzero = false;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return false;
		nonzero |= buf[i] != '0';
	}
	if (!nonzero)
		return false;
	/* at most INT64_MAX: compared as text once leading zeros are gone */
	while (*buf == '0') {
		buf++;
		len--;
	}
	return len < 19 || memcmp(buf, max, 19) <= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	raft_index got = 12345;
	int rc = poison_record_parse(buf, size, &got);
	bool ok = model_accepts(buf, size);
	FUZZ_CHECK((rc == KEEL_OK) == ok);
	if (!ok) {
		FUZZ_CHECK(rc == KEEL_ECORRUPT && got == 0);
		return 0;
	}
	char copy[24];
	size_t n = size && buf[size - 1] == '\n' ? size - 1 : size;
	memcpy(copy, buf, n);
	copy[n] = 0;
	FUZZ_CHECK(got >= 1 && got <= INT64_MAX && got == strtoull(copy, NULL, 10));
	char line[24];
	int w = snprintf(line, sizeof line, "%llu\n", (unsigned long long)got);
	raft_index back = 0;
	FUZZ_CHECK(poison_record_parse(line, (size_t)w, &back) == KEEL_OK && back == got);
	return 0;
}
