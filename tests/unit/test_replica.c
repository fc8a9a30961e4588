/* tests/unit/test_replica.c — src/replica/: the stream's frames survive a
 * round trip with and without zstd and refuse every malformed payload
 * (truncated, flipped, a false length, a decompression bomb); the source's
 * end chooses the log or the snapshot, sends one snapshot chunk at a time,
 * then CAUGHT_UP and the entries after it, keeps to its window, sends
 * heartbeats, refuses another protocol version and a replica that
 * acknowledges what it was not sent, and drops a silent one. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"

#include "base/bytes.h"
#include "base/mem.h"
#include "base/prng.h"
#include "net/frame.h"
#include "replica/proto.h"
#include "replica/source.h"

/* ---- frames ------------------------------------------------------------- */

static void entries_round_trip(void **state)
{
	(void)state;
	struct prng g;
	prng_seed(&g, 7);
	static uint8_t data[300][200];
	struct repl_entry es[300];
	for (int i = 0; i < 300; i++) {
		uint32_t len = (uint32_t)prng_below(&g, 200);
		for (uint32_t k = 0; k < len; k++)
			data[i][k] = (uint8_t)(i % 2 ? 'a' + k % 3 : prng_next(&g));
		es[i] = (struct repl_entry){1000 + (uint64_t)i, 3, 1, len, data[i]};
	}
	for (uint8_t codec = REPL_RAW; codec <= REPL_ZSTD; codec++) {
		struct rbuf b;
		rbuf_init(&b);
		repl_entries_frame(&b, codec, 5000, es, 300);
		struct frame f;
		size_t used;
		const char *why;
		assert_int_equal(frame_parse(b.p, b.len, &f, &used, &why), FRAME_OK);
		assert_int_equal(f.kind, REPL_ENTRIES);
		uint64_t sa;
		struct repl_entry *got;
		uint32_t n;
		uint8_t *scratch;
		assert_int_equal(repl_entries_decode(f.payload, f.len, &sa, &got, &n, &scratch),
				 KEEL_OK);
		assert_int_equal(sa, 5000);
		assert_int_equal(n, 300);
		for (int i = 0; i < 300; i++) {
			assert_int_equal(got[i].index, es[i].index);
			assert_int_equal(got[i].term, 3);
			assert_int_equal(got[i].len, es[i].len);
			assert_memory_equal(got[i].data, es[i].data, es[i].len);
		}
		keel_free(got);
		keel_free(scratch);
		/* every truncation and every flipped byte of the payload: refused
		 * or decoded within bounds (ASan checks the reads), never more
		 * entries than were sent */
		uint8_t *p = keel_memdup(f.payload, f.len);
		for (size_t k = 0; k < f.len; k += 1 + f.len / 500) {
			if (repl_entries_decode(p, k, &sa, &got, &n, &scratch) == KEEL_OK) {
				assert_true(n <= 300);
				keel_free(got);
				keel_free(scratch);
			}
			p[k] ^= 0x5a;
			if (repl_entries_decode(p, f.len, &sa, &got, &n, &scratch) == KEEL_OK) {
				assert_true(n <= 300);
				keel_free(got);
				keel_free(scratch);
			}
			p[k] ^= 0x5a;
		}
		keel_free(p);
		rbuf_free(&b);
	}
}

static void payload_limits(void **state)
{
	(void)state;
	/* a zstd payload that claims more than REPL_RAW_MAX: refused unread */
	uint8_t zeros[4096] = {0};
	struct rbuf b;
	rbuf_init(&b);
	repl_payload_put(&b, REPL_ZSTD, zeros, sizeof zeros);
	assert_int_equal(b.p[0], REPL_ZSTD); /* zeros compress */
	const uint8_t *raw;
	size_t n;
	uint8_t *scratch;
	assert_int_equal(repl_payload_get(b.p, b.len, &raw, &n, &scratch), KEEL_OK);
	assert_int_equal(n, sizeof zeros);
	keel_free(scratch);
	bytes_put_u32(b.p + 1, REPL_RAW_MAX + 1);
	assert_int_equal(repl_payload_get(b.p, b.len, &raw, &n, &scratch), KEEL_ECORRUPT);
	bytes_put_u32(b.p + 1, sizeof zeros - 1); /* a length that disagrees */
	assert_int_equal(repl_payload_get(b.p, b.len, &raw, &n, &scratch), KEEL_ECORRUPT);
	b.p[0] = 7; /* an unknown codec */
	assert_int_equal(repl_payload_get(b.p, b.len, &raw, &n, &scratch), KEEL_ECORRUPT);
	assert_int_equal(repl_payload_get(b.p, 4, &raw, &n, &scratch), KEEL_ECORRUPT);
	/* an incompressible payload goes raw */
	b.len = 0;
	uint8_t noise[64];
	for (int i = 0; i < 64; i++)
		noise[i] = (uint8_t)(i * 37 + 11);
	repl_payload_put(&b, REPL_ZSTD, noise, sizeof noise);
	assert_int_equal(b.p[0], REPL_RAW);
	rbuf_free(&b);
	/* ACCEPT: round trip, and refused when short or out of range */
	struct repl_accept a = {REPL_VERSION, REPL_ZSTD, REPL_FROM_SNAPSHOT, 3, 0, 60, 2, 999, 77};
	struct repl_accept d;
	rbuf_init(&b);
	repl_accept_frame(&b, &a);
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR, &d), KEEL_OK);
	assert_true(d.version == a.version && d.codec == a.codec && d.mode == a.mode &&
		    d.source_id == a.source_id && d.next == a.next &&
		    d.snap_index == a.snap_index && d.snap_term == a.snap_term &&
		    d.snap_size == a.snap_size && d.snap_crc == a.snap_crc);
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR - 1, &d),
			 KEEL_ECORRUPT);
	b.p[FRAME_HDR + 5] = 9; /* mode */
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR, &d), KEEL_ECORRUPT);
	rbuf_free(&b);
}

/* ---- the source's end ---------------------------------------------------- */

struct fake { /* a node holding entries [first, applied] and a snapshot at 60 */
	uint64_t first, applied;
	uint8_t data[4];
	int snap_fd;
	uint64_t snap_size;
	struct rbuf sent;
};

static uint64_t f_applied(void *ctx)
{
	return ((struct fake *)ctx)->applied;
}

static uint64_t f_first(void *ctx)
{
	return ((struct fake *)ctx)->first;
}

static bool f_entry(void *ctx, uint64_t i, struct repl_entry *out)
{
	struct fake *f = ctx;
	if (i < f->first || i > f->applied)
		return false;
	*out = (struct repl_entry){i, 2, 1, sizeof f->data, f->data};
	return true;
}

static bool f_snap(void *ctx, struct repl_snap *out)
{
	struct fake *f = ctx;
	*out = (struct repl_snap){60, 2, f->snap_size, 0, dup(f->snap_fd), 0, io_fs_posix()};
	return true;
}

static void f_send(void *ctx, const uint8_t *p, size_t n)
{
	rbuf_put(&((struct fake *)ctx)->sent, p, n);
}

static size_t f_queued(void *ctx)
{
	(void)ctx;
	return 0;
}

/* Takes the frames sent so far: kinds[] in order; the last ENTRIES' range. */
static int take(struct fake *f, uint8_t *kinds, int max, uint64_t *first, uint32_t *n)
{
	int k = 0;
	size_t at = 0;
	while (at < f->sent.len) {
		struct frame fr;
		size_t used;
		const char *why;
		assert_int_equal(frame_parse(f->sent.p + at, f->sent.len - at, &fr, &used, &why),
				 FRAME_OK);
		if (k < max)
			kinds[k] = fr.kind;
		k++;
		if (fr.kind == REPL_ENTRIES) {
			uint64_t sa;
			struct repl_entry *es;
			uint8_t *scratch;
			assert_int_equal(
				repl_entries_decode(fr.payload, fr.len, &sa, &es, n, &scratch),
				KEEL_OK);
			*first = es[0].index;
			keel_free(es);
			keel_free(scratch);
		}
		at += used;
	}
	f->sent.len = 0;
	return k;
}

static void ack(struct repl_source *src, uint64_t durable, uint64_t snap, int64_t now)
{
	struct rbuf b;
	rbuf_init(&b);
	repl_u64s_frame(&b, REPL_ACK, durable, snap);
	assert_true(repl_source_recv(src, b.p, b.len, now));
	rbuf_free(&b);
}

static void setup(struct fake *f, struct repl_source_ops *ops)
{
	memset(f, 0, sizeof *f);
	f->first = 50;
	f->applied = 100;
	f->snap_size = REPL_SNAP_CHUNK + 1000; /* two chunks */
	f->snap_fd = memfd_create("snap", 0);
	assert_true(f->snap_fd >= 0);
	assert_int_equal(ftruncate(f->snap_fd, (off_t)f->snap_size), 0);
	rbuf_init(&f->sent);
	/* the batch cache in use, as the server uses it */
	static struct repl_batch_cache cache[2];
	*ops = (struct repl_source_ops){f,	 cache,	 f_applied, f_first,
					f_entry, f_snap, f_send,    f_queued};
}

static void source_from_log(void **state)
{
	(void)state;
	struct fake f;
	struct repl_source_ops ops;
	setup(&f, &ops);
	struct repl_source src;
	struct repl_hello h = {.version = REPL_VERSION, .applied = 70};
	assert_true(repl_source_start(&src, &ops, &h, 1, 0));
	uint8_t k[16];
	uint64_t first = 0;
	uint32_t n = 0;
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(k[0], REPL_ACCEPT);
	assert_true(repl_source_pump(&src, 1));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(k[0], REPL_ENTRIES);
	assert_int_equal(first, 71);
	assert_int_equal(n, 30);
	/* a second replica at the same point is sent the same batch, from the cache */
	struct repl_source two;
	assert_true(repl_source_start(&two, &ops, &h, 1, 0));
	f.sent.len = 0;
	assert_true(repl_source_pump(&two, 1));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(first, 71);
	assert_int_equal(n, 30);
	assert_int_equal(ops.cache[REPL_RAW].first, 71);
	repl_source_free(&two);
	/* nothing new: a heartbeat only after REPL_HEARTBEAT_MS of silence */
	assert_true(repl_source_pump(&src, 2));
	assert_int_equal(take(&f, k, 16, &first, &n), 0);
	assert_true(repl_source_pump(&src, 2 + REPL_HEARTBEAT_MS));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(k[0], REPL_HEARTBEAT);
	/* the window: no more than REPL_WINDOW entries beyond the ack */
	f.applied = 100 + REPL_WINDOW + 500;
	assert_true(repl_source_pump(&src, 300));
	take(&f, k, 16, &first, &n);
	assert_int_equal(src.next - 1 - src.acked, REPL_WINDOW);
	ack(&src, 600, 0, 301);
	assert_true(repl_source_pump(&src, 302));
	assert_int_equal(src.next, 100 + REPL_WINDOW + 501);
	f.sent.len = 0;
	/* an acknowledgement of what was not sent ends the stream */
	struct rbuf b;
	rbuf_init(&b);
	repl_u64s_frame(&b, REPL_ACK, src.next + 5, 0);
	assert_false(repl_source_recv(&src, b.p, b.len, 303));
	assert_non_null(strstr(src.error, "beyond"));
	rbuf_free(&b);
	repl_source_free(&src);
	/* a replica heard from for REPL_DEAD_MS is dropped */
	assert_true(repl_source_start(&src, &ops, &h, 1, 0));
	assert_false(repl_source_pump(&src, REPL_DEAD_MS + 1));
	assert_non_null(strstr(src.error, "nothing heard"));
	repl_source_free(&src);
	rbuf_free(&f.sent);
	close(f.snap_fd);
}

static void source_from_snapshot(void **state)
{
	(void)state;
	struct fake f;
	struct repl_source_ops ops;
	setup(&f, &ops);
	struct repl_source src;
	struct repl_hello h = {.version = REPL_VERSION, .empty = true};
	assert_true(repl_source_start(&src, &ops, &h, 1, 0));
	uint8_t k[16];
	uint64_t first = 0;
	uint32_t n = 0;
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(src.phase, REPL_SRC_SNAPSHOT);
	/* one chunk in flight: nothing more until it is acknowledged */
	assert_true(repl_source_pump(&src, 1));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(k[0], REPL_SNAP);
	assert_true(repl_source_pump(&src, 2));
	assert_int_equal(take(&f, k, 16, &first, &n), 0);
	ack(&src, 0, REPL_SNAP_CHUNK, 3);
	assert_true(repl_source_pump(&src, 4));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(k[0], REPL_SNAP);
	/* the whole snapshot acknowledged: CAUGHT_UP, then entries from 61 */
	ack(&src, 0, f.snap_size, 5);
	assert_true(repl_source_pump(&src, 6));
	assert_int_equal(take(&f, k, 16, &first, &n), 2);
	assert_int_equal(k[0], REPL_CAUGHT_UP);
	assert_int_equal(k[1], REPL_ENTRIES);
	assert_int_equal(first, 61);
	repl_source_free(&src);
	/* the snapshot file cut short mid-transfer (the disk lost it): the
	 * stream ends with an ERROR frame saying so; the replica reconnects */
	assert_true(repl_source_start(&src, &ops, &h, 1, 10));
	assert_true(repl_source_pump(&src, 11));
	ack(&src, 0, REPL_SNAP_CHUNK, 12);
	take(&f, k, 16, &first, &n);
	assert_int_equal(ftruncate(f.snap_fd, (off_t)REPL_SNAP_CHUNK + 10), 0);
	assert_false(repl_source_pump(&src, 13));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(k[0], REPL_ERROR);
	assert_non_null(strstr(src.error, "short file"));
	repl_source_free(&src);
	assert_int_equal(ftruncate(f.snap_fd, (off_t)f.snap_size), 0);
	/* another protocol version: refused with an ERROR frame */
	h.version = REPL_VERSION + 1;
	assert_false(repl_source_start(&src, &ops, &h, 1, 0));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(k[0], REPL_ERROR);
	assert_non_null(strstr(src.error, "not supported"));
	repl_source_free(&src);
	rbuf_free(&f.sent);
	close(f.snap_fd);
}

static void args_of(struct resp_arg *av, const char *const *words)
{
	for (int i = 0; i < 5; i++)
		av[i] = (struct resp_arg){(const uint8_t *)words[i], strlen(words[i])};
}

static void hello_parse(void **state)
{
	(void)state;
	const char *good[] = {"1", "42", "0", "zstd", "9@127.0.0.9:7009"};
	const char *bad[][5] = {
		{"1", "-1", "0", "zstd", "x"},	{"1", "42", "2", "zstd", "x"},
		{"1", "42", "0", "lz4", "x"},	{"x", "42", "0", "none", "x"},
		{"1", "", "0", "none", "x"},	{"4294967296", "42", "0", "none", "x"},
		{"1", "042", "0", "none", "x"},
	};
	struct resp_arg av[5];
	char why[160];
	struct repl_hello h;
	args_of(av, good);
	assert_int_equal(repl_hello_parse(&h, av, 5, why, sizeof why), KEEL_OK);
	assert_int_equal(h.applied, 42);
	assert_true(h.zstd);
	assert_string_equal(h.name, "9@127.0.0.9:7009");
	assert_int_equal(repl_hello_parse(&h, av, 4, why, sizeof why), KEEL_EINVAL);
	for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
		args_of(av, bad[b]);
		assert_int_equal(repl_hello_parse(&h, av, 5, why, sizeof why), KEEL_EINVAL);
	}
}

/* Found by tests/fuzz/fuzz_replica.c: an ENTRIES frame whose first index
 * is near the top of the index space decoded with indexes that wrapped
 * past 2^64-1 to 0. The largest first index that fits decodes; one more
 * is refused. */
static void entries_indexes_do_not_wrap(void **state)
{
	(void)state;
	uint8_t d[2] = {'x', 'y'};
	for (int past = 0; past <= 1; past++) {
		struct repl_entry es[2] = {{UINT64_MAX - 1 + (uint64_t)past, 3, 1, 1, &d[0]},
					   {UINT64_MAX, 3, 1, 1, &d[1]}};
		struct rbuf b;
		rbuf_init(&b);
		repl_entries_frame(&b, REPL_RAW, 9, es, 2);
		struct frame f;
		size_t used;
		const char *why;
		assert_int_equal(frame_parse(b.p, b.len, &f, &used, &why), FRAME_OK);
		uint64_t sa;
		struct repl_entry *got;
		uint32_t n;
		uint8_t *scratch;
		int rc = repl_entries_decode(f.payload, f.len, &sa, &got, &n, &scratch);
		if (!past) {
			assert_int_equal(rc, KEEL_OK);
			assert_int_equal(got[1].index, UINT64_MAX);
			keel_free(got);
			keel_free(scratch);
		} else {
			assert_int_equal(rc, KEEL_ECORRUPT);
		}
		rbuf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(entries_round_trip), cmocka_unit_test(payload_limits),
		cmocka_unit_test(source_from_log),    cmocka_unit_test(source_from_snapshot),
		cmocka_unit_test(hello_parse),
		cmocka_unit_test(entries_indexes_do_not_wrap),
	};
	return UNIT_RUN("replica-stream", tests);
}
