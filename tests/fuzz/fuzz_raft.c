/* tests/fuzz/fuzz_raft.c — Raft messages as a peer sends them
 * (src/raft/codec.c raft_msg_decode), and the configurations they carry
 * (raft_config_decode: a snapshot's, and each configuration entry of an
 * APPEND). Properties: a message that decodes encodes within
 * raft_msg_size's bound back to exactly the input (the format has one
 * encoding per message), a deep copy encodes the same, and a configuration
 * that decodes encodes back to its bytes. */
#include <string.h>

#include "fuzz.h"

#include "base/mem.h"
#include "raft/codec.h"

static uint8_t *encode(const struct raft_msg *m, size_t *n)
{
	size_t cap = raft_msg_size(m);
	uint8_t *buf = keel_malloc(cap);
	*n = raft_msg_encode(m, buf, cap);
	FUZZ_CHECK(*n > 0 && *n <= cap);
	return buf;
}

static void config(const uint8_t *p, uint32_t len)
{
	struct raft_config c;
	if (raft_config_decode(&c, p, len) != KEEL_OK)
		return;
	FUZZ_CHECK(c.n <= RAFT_MEMBERS_MAX);
	uint8_t buf[RAFT_CONFIG_BYTES_MAX];
	uint32_t n = raft_config_encode(&c, buf);
	FUZZ_CHECK(n == len && !memcmp(buf, p, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct raft_msg m;
	if (raft_msg_decode(&m, data, size) != KEEL_OK)
		return 0;
	FUZZ_CHECK(m.from != RAFT_ID_NONE);
	size_t n, n2;
	uint8_t *a = encode(&m, &n);
	FUZZ_CHECK(n == size && !memcmp(a, data, n));
	struct raft_msg copy;
	raft_msg_clone(&copy, &m);
	uint8_t *b = encode(&copy, &n2);
	FUZZ_CHECK(n2 == n && !memcmp(a, b, n));
	if (m.type == RAFT_MSG_APPEND)
		for (uint32_t i = 0; i < m.u.append.n_entries; i++)
			if (m.u.append.entries[i].type == RAFT_ENTRY_CONFIG)
				config(m.u.append.entries[i].data, m.u.append.entries[i].len);
	keel_free(a);
	keel_free(b);
	raft_msg_clone_free(&copy);
	raft_msg_decoded_free(&m);
	return 0;
}
