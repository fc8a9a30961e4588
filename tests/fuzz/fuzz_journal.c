/* tests/fuzz/fuzz_journal.c — the storage journal's records
 * (src/storage/journal.c), on the simulator's in-memory disk. Mode byte
 * even: the rest of the input is a journal file, scanned as recovery
 * scans it. Odd: records are built from the input (sections of three
 * storage names, entries of any term, index, type and payload), written
 * through the journal's own API, then the file is damaged as the input
 * says (a byte changed, or cut short) and scanned. Properties: a scan
 * never reads outside the file and ends in entries or a refusal; the
 * entries of a file written whole are exactly those written, in order;
 * of a damaged one, a prefix of them (or a refusal). */
#include <string.h>

#include "fuzz.h"

#include "base/mem.h"
#include "sim/simfs.h"
#include "storage/journal.h"

#define MAX_ENTRIES 64

static const char *const names[] = {".", "shard-1", "meta"};

struct seen {
	const uint8_t *lo, *hi; /* the file's bytes */
	uint32_t n;
	char name[MAX_ENTRIES][16];
	struct wal_entry e[MAX_ENTRIES];
	bool over;
};

static int each(void *ctx, const char *name, const struct wal_entry *e)
{
	struct seen *s = ctx;
	FUZZ_CHECK(e->data >= s->lo && e->data + e->len <= s->hi);
	FUZZ_CHECK(e->type && e->index && strlen(name) > 0);
	if (s->n == MAX_ENTRIES) {
		s->over = true;
		return KEEL_OK;
	}
	snprintf(s->name[s->n], sizeof s->name[s->n], "%s", name);
	s->e[s->n++] = *e;
	return KEEL_OK;
}

static void scan_raw(const uint8_t *p, size_t n)
{
	uint8_t *copy = keel_malloc(n ? n : 1); /* exactly n: reads past it are caught */
	memcpy(copy, p, n);
	struct seen s = {.lo = copy, .hi = copy + n};
	struct keel_errmsg err = {{0}};
	int64_t records = journal_scan(copy, n, each, &s, &err);
	FUZZ_CHECK(records >= 0 || err.text[0]);
	keel_free(copy);
}

static void built(struct fuzz_in *in)
{
	struct simfs *fs = simfs_new();
	struct journal *j;
	struct keel_errmsg err = {{0}};
	FUZZ_CHECK(simfs_ops(fs)->mkdir(simfs_ops(fs)->ctx, "d") == KEEL_OK);
	FUZZ_CHECK(journal_create(simfs_ops(fs), "d", 64 << 10, 7, &j, &err) == KEEL_OK);
	static uint8_t payloads[MAX_ENTRIES][64];
	char want_name[MAX_ENTRIES][16];
	struct wal_entry want[MAX_ENTRIES];
	uint32_t n_want = 0;
	uint32_t records = fuzz_below(in, 5);
	for (uint32_t r = 0; r < records; r++) {
		uint32_t sections = fuzz_below(in, 4);
		for (uint32_t s = 0; s < sections; s++) {
			const char *name = names[fuzz_below(in, 3)];
			char dir[32];
			snprintf(dir, sizeof dir, strcmp(name, ".") ? "d/%s" : "d", name);
			uint32_t n = fuzz_below(in, 5);
			struct wal_entry e[4];
			uint32_t k = 0;
			for (uint32_t i = 0; i < n && n_want < MAX_ENTRIES; i++, n_want++, k++) {
				size_t len;
				const uint8_t *p = fuzz_bytes(in, fuzz_below(in, 65), &len);
				memcpy(payloads[n_want], p, len);
				e[i] = (struct wal_entry){.term = fuzz_u64(in),
							  .index = fuzz_u64(in) | 1,
							  .type = (uint8_t)(fuzz_u8(in) | 1),
							  .len = (uint32_t)len,
							  .data = payloads[n_want]};
				want[n_want] = e[i];
				snprintf(want_name[n_want], sizeof want_name[n_want], "%s", name);
			}
			journal_add(j, dir, e, k);
		}
		FUZZ_CHECK(journal_fits(j));
		FUZZ_CHECK(journal_commit(j, &err) == KEEL_OK);
	}
	journal_close(j);
	uint64_t size = simfs_size(fs, "d/journal");
	uint8_t *file = keel_malloc(size);
	simfs_peek(fs, "d/journal", 0, file, size);
	uint8_t damage = fuzz_u8(in) % 3;
	uint64_t at = fuzz_u32(in) % (size < 4096 ? size : 4096);
	if (damage == 1)
		file[at] ^= (uint8_t)(fuzz_u8(in) | 1);
	uint64_t len = damage == 2 ? at : size;
	struct seen s = {.lo = file, .hi = file + len};
	int64_t got = journal_scan(file, len, each, &s, &err);
	if (!damage) {
		FUZZ_CHECK(got == (int64_t)records + 1); /* and the empty first */
		FUZZ_CHECK(s.n == n_want);
	}
	FUZZ_CHECK(got >= 0 || damage == 1);
	FUZZ_CHECK(s.n <= n_want);
	for (uint32_t i = 0; i < s.n; i++) {
		FUZZ_CHECK(!strcmp(s.name[i], want_name[i]));
		FUZZ_CHECK(s.e[i].term == want[i].term && s.e[i].index == want[i].index);
		FUZZ_CHECK(s.e[i].type == want[i].type && s.e[i].len == want[i].len);
		FUZZ_CHECK(!memcmp(s.e[i].data, want[i].data, want[i].len));
	}
	keel_free(file);
	simfs_free(fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	if (mode & 1)
		built(&in);
	else
		scan_raw(in.p, in.n);
	return 0;
}
