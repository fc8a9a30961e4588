/* tests/fuzz/fuzz_snapshot.c — snapshot restore (src/kv/snapshot.c): the
 * keyspace stream read whole (kv_snapshot_read, as a follower installs a
 * snapshot) and as it arrives in pieces (kv_restore_feed/finish, as a
 * replica restores while it receives). The first input byte chooses the
 * pieces' sizes, and its low bit asks the harness to set the stream's
 * trailing checksum right, so mutations reach the records. Properties:
 * both ways agree; a refused stream leaves the whole-read keyspace empty
 * and usable, the streamed one untouched; an accepted one writes a
 * snapshot that reads back to the same data; each keyspace remains
 * usable (a SET, then another snapshot round trip). */
#include <string.h>

#include "fuzz.h"
#include "same.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "base/prng.h"
#include "kv/snapshot.h"

#define SEED 0x5eed

/* A keyspace holding one key, so that replacing it shows. */
static void start(struct kv *kv)
{
	kv_init(kv, SEED);
	struct kv_entry *e = kv_dict_add(&kv->db[3], (const uint8_t *)"old", 3);
	kv_entry_set(e, (const uint8_t *)"v", 1);
}

static void set_key(struct kv *kv)
{
	struct resp_arg argv[3] = {
		{(const uint8_t *)"SET", 3}, {(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}};
	struct rbuf out;
	rbuf_init(&out);
	struct kv_ctx c = {.kv = kv, .argv = argv, .argc = 3, .out = &out, .proto = 2};
	FUZZ_CHECK(kv_exec(&c) != NULL);
	FUZZ_CHECK(out.len == 5 && !memcmp(out.p, "+OK\r\n", 5));
	rbuf_free(&out);
}

/* kv's snapshot reads back into a keyspace of another seed, same data. */
static void round_trip(struct kv *kv)
{
	struct rbuf w;
	rbuf_init(&w);
	kv_snapshot_write(kv, 0, &w);
	struct kv back;
	kv_init(&back, SEED ^ 77);
	FUZZ_CHECK(kv_snapshot_read(&back, w.p, w.len) == KEEL_OK);
	FUZZ_CHECK(same_kv(kv, &back, 0));
	kv_free(&back);
	rbuf_free(&w);
}

static int streamed(struct kv *kv, const uint8_t *s, size_t n, uint8_t mode)
{
	struct prng g;
	prng_seed(&g, mode);
	struct kv_restore r;
	kv_restore_init(&r, kv->rand_state);
	size_t at = 0;
	int rc = KEEL_OK;
	while (at < n && rc == KEEL_OK) {
		size_t piece = 1 + prng_below(&g, mode < 64 ? 3 : mode < 128 ? 40 : 4096);
		piece = piece < n - at ? piece : n - at;
		rc = kv_restore_feed(&r, s + at, piece);
		at += piece;
	}
	rc = kv_restore_finish(&r, kv); /* frees r on failure */
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	size_t n = size - 1;
	uint8_t *s = keel_memdup(data + 1, n);
	if ((mode & 1) && n >= 4)
		bytes_put_u32(s + n - 4, crc32c(0, s, n - 4));
	struct kv a, b, before;
	start(&a);
	start(&b);
	start(&before);
	int ra = kv_snapshot_read(&a, s, n);
	int rb = streamed(&b, s, n, mode);
	FUZZ_CHECK(ra == rb);
	if (ra == KEEL_OK) {
		FUZZ_CHECK(same_kv(&a, &b, INT64_MIN));
	} else {
		FUZZ_CHECK(kv_keys_total(&a) == 0 && kv_dict_size(&a.sessions) == 0);
		FUZZ_CHECK(same_kv(&b, &before, INT64_MIN));
	}
	round_trip(&a);
	set_key(&a);
	set_key(&b);
	round_trip(&a);
	round_trip(&b);
	kv_free(&a);
	kv_free(&b);
	kv_free(&before);
	keel_free(s);
	return 0;
}
