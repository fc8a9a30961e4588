/* tests/unit/test_replica.c — src/replica/: the stream's frames survive a
 * round trip with and without zstd and refuse every malformed payload
 * (truncated, flipped, a false length or count, index 0, an unknown codec
 * or mode, a decompression bomb), each length at its limit decoding; the
 * handshake's arguments at their limits; the source's end chooses the log
 * or the snapshot, sends one snapshot chunk at a time, then CAUGHT_UP and
 * the entries after it, keeps to its window, its batch size and its send
 * queue, gives each replica its own entries through the batch cache,
 * keeps the log a replica needs, sends heartbeats, refuses another
 * protocol version and a replica that acknowledges what it was not sent,
 * and drops a silent one; the replica's end (on a real loop, against a
 * socket playing the source) applies entries in order, acknowledges what
 * is durable and the snapshot bytes received, reports its lag, catches up
 * by a snapshot, and refuses, with the reason in its last error, the next
 * source and the backoff, every answer it must not take. A stream of one
 * group (a replica of a sharded cluster): the handshake names it (up to
 * 2^32-1), the ACCEPT names it with its slots and the replica drops one
 * that names no group, another, or other slots; TOPOLOGY frames round
 * trip, refuse every bad field, are sent only to a stream that named a
 * group and only when the members changed, and reach the embedder. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#include "base/bytes.h"
#include "base/mem.h"
#include "base/prng.h"
#include "net/frame.h"
#include "replica/follow.h"
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
	struct repl_accept a = {
		REPL_VERSION, REPL_ZSTD, REPL_FROM_SNAPSHOT, 3, 0, 60, 2, 999, 77, false, 0, 0, 0};
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

/* ---- frame edges ---------------------------------------------------------- */

/* An ENTRIES payload built by hand: first index, count, entries' bytes. */
static uint8_t *entries_payload(uint64_t first, uint32_t count, const uint8_t *raw, size_t raw_len,
				size_t *n)
{
	struct rbuf b;
	rbuf_init(&b);
	rbuf_put_u64(&b, first);
	rbuf_put_u64(&b, 9);
	rbuf_put_u32(&b, count);
	repl_payload_put(&b, REPL_RAW, raw, raw_len);
	uint8_t *p = keel_memdup(b.p, b.len); /* exactly its size: ASan sees any overread */
	*n = b.len;
	rbuf_free(&b);
	return p;
}

static int decode(const uint8_t *p, size_t n, uint32_t *count)
{
	uint64_t sa;
	struct repl_entry *es;
	uint8_t *scratch;
	int rc = repl_entries_decode(p, n, &sa, &es, count, &scratch);
	if (rc == KEEL_OK) {
		keel_free(es);
		keel_free(scratch);
	}
	return rc;
}

static void entries_edges(void **state)
{
	(void)state;
	uint32_t n;
	size_t len;
	/* two entries with no data: the count at its limit (raw bytes / 13) */
	uint8_t two[26] = {0};
	bytes_put_u64(two, 4);
	bytes_put_u64(two + 13, 4);
	uint8_t *p = entries_payload(1, 2, two, sizeof two, &len);
	assert_int_equal(decode(p, len, &n), KEEL_OK); /* index 1: the first there is */
	assert_int_equal(n, 2);
	keel_free(p);
	/* one more entry claimed than the bytes can hold; and 2^32-1 of them */
	p = entries_payload(1, 3, two, sizeof two, &len);
	assert_int_equal(decode(p, len, &n), KEEL_ECORRUPT);
	keel_free(p);
	p = entries_payload(1, UINT32_MAX, two, sizeof two, &len);
	assert_int_equal(decode(p, len, &n), KEEL_ECORRUPT);
	keel_free(p);
	/* index 0 does not exist */
	p = entries_payload(0, 2, two, sizeof two, &len);
	assert_int_equal(decode(p, len, &n), KEEL_ECORRUPT);
	keel_free(p);
	/* an empty batch decodes to nothing */
	p = entries_payload(0, 0, NULL, 0, &len);
	assert_int_equal(decode(p, len, &n), KEEL_OK);
	assert_int_equal(n, 0);
	keel_free(p);
	/* an entry whose data runs past the payload */
	bytes_put_u32(two + 13 + 9, 1);
	p = entries_payload(1, 2, two, sizeof two, &len);
	assert_int_equal(decode(p, len, &n), KEEL_ECORRUPT);
	keel_free(p);
	/* bytes left over after the last entry */
	bytes_put_u32(two + 13 + 9, 0);
	p = entries_payload(1, 1, two, sizeof two, &len);
	assert_int_equal(decode(p, len, &n), KEEL_ECORRUPT);
	keel_free(p);
	/* a payload that does not unpack: refused, whatever the count says */
	p = entries_payload(1, 0, NULL, 0, &len);
	p[20] = 9; /* an unknown codec */
	assert_int_equal(decode(p, len, &n), KEEL_ECORRUPT);
	keel_free(p);
	/* shorter than the fixed header: refused unread (exact-size buffers) */
	p = entries_payload(1, 0, NULL, 0, &len);
	for (size_t k = 0; k < 20; k++) {
		uint8_t *q = keel_memdup(p, k ? k : 1);
		assert_int_equal(decode(q, k, &n), KEEL_ECORRUPT);
		keel_free(q);
	}
	keel_free(p);
}

static void payload_edges(void **state)
{
	(void)state;
	const uint8_t *raw;
	size_t n;
	uint8_t *scratch;
	/* an empty raw payload is its 5-byte header alone */
	struct rbuf b;
	rbuf_init(&b);
	repl_payload_put(&b, REPL_RAW, NULL, 0);
	assert_int_equal(b.len, 5);
	uint8_t *p = keel_memdup(b.p, b.len);
	assert_int_equal(repl_payload_get(p, 5, &raw, &n, &scratch), KEEL_OK);
	assert_int_equal(n, 0);
	/* any shorter header: refused unread */
	for (size_t k = 0; k < 5; k++) {
		uint8_t *q = keel_memdup(p, k ? k : 1);
		assert_int_equal(repl_payload_get(q, k, &raw, &n, &scratch), KEEL_ECORRUPT);
		keel_free(q);
	}
	keel_free(p);
	/* compression is tried above 64 bytes, and only when zstd was chosen */
	uint8_t zeros[65] = {0};
	b.len = 0;
	repl_payload_put(&b, REPL_ZSTD, zeros, 64);
	assert_int_equal(b.p[0], REPL_RAW);
	assert_int_equal(b.len, 5 + 64);
	assert_int_equal(bytes_get_u32(b.p + 1), 64);
	b.len = 0;
	repl_payload_put(&b, REPL_ZSTD, zeros, 65);
	assert_int_equal(b.p[0], REPL_ZSTD);
	assert_true(b.len < 5 + 65);
	assert_int_equal(bytes_get_u32(b.p + 1), 65);
	b.p[0] = REPL_ZSTD + 1; /* a codec this node does not know, its bytes zstd's */
	assert_int_equal(repl_payload_get(b.p, b.len, &raw, &n, &scratch), KEEL_ECORRUPT);
	b.len = 0;
	repl_payload_put(&b, REPL_RAW, zeros, 65);
	assert_int_equal(b.p[0], REPL_RAW);
	assert_int_equal(b.len, 5 + 65);
	assert_int_equal(repl_payload_get(b.p, b.len, &raw, &n, &scratch), KEEL_OK);
	assert_int_equal(n, 65);
	assert_null(scratch);
	/* a raw payload one byte longer or shorter than it says */
	assert_int_equal(repl_payload_get(b.p, b.len - 1, &raw, &n, &scratch), KEEL_ECORRUPT);
	rbuf_put(&b, "x", 1);
	assert_int_equal(repl_payload_get(b.p, b.len, &raw, &n, &scratch), KEEL_ECORRUPT);
	rbuf_free(&b);
	/* a real zstd frame of REPL_RAW_MAX + 1 bytes (a few KB of zeros'
	 * compression): refused, not unpacked */
	uint8_t *bomb = keel_calloc(1, REPL_RAW_MAX + 1);
	b.len = 0;
	repl_payload_put(&b, REPL_ZSTD, bomb, REPL_RAW_MAX + 1);
	keel_free(bomb);
	assert_int_equal(b.p[0], REPL_ZSTD);
	assert_true(b.len < 64 << 10);
	assert_int_equal(repl_payload_get(b.p, b.len, &raw, &n, &scratch), KEEL_ECORRUPT);
	assert_null(scratch);
	rbuf_free(&b);
	/* ACCEPT with a codec or a mode past the last known */
	struct repl_accept a = {
		REPL_VERSION, REPL_RAW, REPL_FROM_LOG, 3, 7, 0, 0, 0, 0, false, 0, 0, 0};
	struct repl_accept d;
	rbuf_init(&b);
	repl_accept_frame(&b, &a);
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR, &d), KEEL_OK);
	assert_int_equal(d.next, 7);
	b.p[FRAME_HDR + 4] = REPL_ZSTD + 1;
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR, &d), KEEL_ECORRUPT);
	b.p[FRAME_HDR + 4] = REPL_RAW;
	b.p[FRAME_HDR + 5] = REPL_FROM_SNAPSHOT + 1;
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR, &d), KEEL_ECORRUPT);
	rbuf_free(&b);
}

/* ---- the source's end ---------------------------------------------------- */

struct fake { /* a node holding entries [first, applied] and a snapshot at 60 */
	uint64_t first, applied;
	uint8_t data[4];
	const uint8_t *big; /* else each entry's data: big_len bytes */
	uint32_t big_len;
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
	if (f->big)
		*out = (struct repl_entry){i, 2, 1, f->big_len, f->big};
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
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 0));
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
	assert_true(repl_source_start(&two, &ops, &h, NULL, 1, 0));
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
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 0));
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
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 0));
	uint8_t k[16];
	uint64_t first = 0;
	uint32_t n = 0;
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(src.phase, REPL_SRC_SNAPSHOT);
	assert_int_equal(repl_source_needs(&src), 61); /* the log after the snapshot */
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
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 10));
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
	assert_false(repl_source_start(&src, &ops, &h, NULL, 1, 0));
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

static void hello_edges(void **state)
{
	(void)state;
	struct resp_arg av[5];
	char why[160];
	struct repl_hello h;
	/* each integer at its limit; no compression; an empty replica */
	const char *top[] = {"4294967295", "9223372036854775807", "1", "none", "r"};
	args_of(av, top);
	assert_int_equal(repl_hello_parse(&h, av, 5, why, sizeof why), KEEL_OK);
	assert_int_equal(h.version, UINT32_MAX);
	assert_int_equal(h.applied, INT64_MAX);
	assert_true(h.empty);
	assert_false(h.zstd);
	/* a name: cut to 63 bytes, each byte INFO cannot show replaced */
	char name[100];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = 0;
	const char *longer[] = {"1", "0", "0", "none", name};
	args_of(av, longer);
	assert_int_equal(repl_hello_parse(&h, av, 5, why, sizeof why), KEEL_OK);
	assert_int_equal(strlen(h.name), sizeof h.name - 1);
	const char *odd[] = {"1", "0", "0", "zstd", "a b,c\x7f!~\x80\x20"};
	args_of(av, odd);
	assert_int_equal(repl_hello_parse(&h, av, 5, why, sizeof why), KEEL_OK);
	assert_string_equal(h.name, "a_b_c_!~__");
}

static void source_edges(void **state)
{
	(void)state;
	struct fake f;
	struct repl_source_ops ops;
	setup(&f, &ops);
	uint8_t k[16];
	uint64_t first = 0;
	uint32_t n = 0;
	struct repl_source src;
	/* the replica needs exactly the log's first entry: from the log */
	struct repl_hello h = {.version = REPL_VERSION, .applied = 49};
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 0));
	assert_int_equal(src.phase, REPL_SRC_LIVE);
	assert_int_equal(src.next, 50);
	assert_int_equal(repl_source_needs(&src), 50); /* the log is kept from there */
	take(&f, k, 16, &first, &n);
	/* silent for exactly REPL_DEAD_MS: still served; a heartbeat after
	 * exactly REPL_HEARTBEAT_MS of silence */
	assert_true(repl_source_pump(&src, 1));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(first, 50);
	assert_int_equal(src.behind_since_ms, 1); /* sent, not yet acknowledged */
	assert_true(repl_source_pump(&src, 1 + REPL_HEARTBEAT_MS - 1));
	assert_int_equal(take(&f, k, 16, &first, &n), 0);
	assert_true(repl_source_pump(&src, 1 + REPL_HEARTBEAT_MS));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(k[0], REPL_HEARTBEAT);
	assert_true(repl_source_pump(&src, REPL_DEAD_MS));
	ack(&src, 80, 0, REPL_DEAD_MS);
	assert_int_equal(repl_source_needs(&src), 81);
	ack(&src, 100, 0, REPL_DEAD_MS);
	assert_true(repl_source_pump(&src, REPL_DEAD_MS));
	assert_int_equal(src.behind_since_ms, 0); /* caught up */
	/* one entry more: sent at once */
	f.applied = 101;
	take(&f, k, 16, &first, &n);
	assert_true(repl_source_pump(&src, REPL_DEAD_MS));
	assert_int_equal(take(&f, k, 16, &first, &n), 1);
	assert_int_equal(first, 101);
	assert_int_equal(n, 1);
	/* a window short of one entry: the one entry more, and no more */
	f.applied = 100 + REPL_WINDOW - 1;
	assert_true(repl_source_pump(&src, REPL_DEAD_MS));
	assert_int_equal(src.next - 1 - src.acked, REPL_WINDOW - 1);
	f.applied += 10;
	assert_true(repl_source_pump(&src, REPL_DEAD_MS));
	assert_int_equal(src.next - 1 - src.acked, REPL_WINDOW);
	f.sent.len = 0;
	/* an ACK of another length, or another frame of an ACK's length, ends
	 * the stream */
	struct rbuf b;
	rbuf_init(&b);
	uint8_t eight[8] = {0};
	repl_frame(&b, REPL_ACK, eight, sizeof eight);
	assert_false(repl_source_recv(&src, b.p, b.len, REPL_DEAD_MS));
	assert_non_null(strstr(src.error, "only ACKs"));
	repl_source_free(&src);
	f.applied = 100;
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 0));
	b.len = 0;
	repl_u64s_frame(&b, REPL_HEARTBEAT, 50, 0);
	assert_false(repl_source_recv(&src, b.p, b.len, 1));
	assert_non_null(strstr(src.error, "only ACKs"));
	rbuf_free(&b);
	repl_source_free(&src);
	f.sent.len = 0;
	/* a replica that has all the node applied keeps its stream while the
	 * log's first index moves past what it will need next; once the node
	 * applies past it, it is told to take a snapshot */
	h.applied = 100;
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 0));
	f.first = 120;
	assert_true(repl_source_pump(&src, 1));
	f.applied = 130;
	assert_false(repl_source_pump(&src, 2));
	assert_non_null(strstr(src.error, "snapshot"));
	repl_source_free(&src);
	/* ... and at exactly the index it needs */
	f.first = 50;
	f.applied = 100;
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 0));
	f.first = 102;
	f.applied = 101;
	assert_false(repl_source_pump(&src, 2));
	assert_non_null(strstr(src.error, "snapshot"));
	repl_source_free(&src);
	/* a batch stops once it holds REPL_BATCH_BYTES */
	f.big_len = 300000;
	f.big = keel_calloc(1, f.big_len);
	f.first = 50;
	f.applied = 100;
	h.applied = 70;
	assert_true(repl_source_start(&src, &ops, &h, NULL, 1, 0));
	take(&f, k, 16, &first, &n);
	assert_true(repl_source_pump(&src, 1));
	/* 4 entries a frame, until REPL_QUEUE_MAX bytes wait to be sent */
	assert_int_equal(take(&f, k, 16, &first, &n), 7);
	assert_int_equal(first, 95);
	assert_int_equal(n, 4);
	assert_int_equal(src.next, 99);
	keel_free((void *)f.big);
	repl_source_free(&src);
	rbuf_free(&f.sent);
	close(f.snap_fd);
}

/* Replicas at different points are each sent their own entries, with the
 * batch cache and without one. */
static void source_cache(void **state)
{
	(void)state;
	for (int cached = 0; cached <= 1; cached++) {
		struct fake f;
		struct repl_source_ops ops;
		setup(&f, &ops);
		if (!cached)
			ops.cache = NULL;
		else
			ops.cache[REPL_RAW].first = ops.cache[REPL_RAW].n = 0;
		uint8_t k[16];
		uint64_t first = 0;
		uint32_t n = 0;
		struct repl_source a, b, c;
		struct repl_hello h = {.version = REPL_VERSION, .applied = 70};
		assert_true(repl_source_start(&a, &ops, &h, NULL, 1, 0));
		assert_true(repl_source_pump(&a, 1));
		take(&f, k, 16, &first, &n);
		assert_int_equal(first, 71);
		assert_int_equal(n, 30);
		/* as many entries, from elsewhere */
		f.applied = 130;
		h.applied = 100;
		assert_true(repl_source_start(&b, &ops, &h, NULL, 1, 0));
		assert_true(repl_source_pump(&b, 1));
		take(&f, k, 16, &first, &n);
		assert_int_equal(first, 101);
		assert_int_equal(n, 30);
		/* from the same place, more entries */
		f.applied = 160;
		assert_true(repl_source_start(&c, &ops, &h, NULL, 1, 0));
		assert_true(repl_source_pump(&c, 1));
		take(&f, k, 16, &first, &n);
		assert_int_equal(first, 101);
		assert_int_equal(n, 60);
		assert_int_equal(c.next, 161);
		repl_source_free(&a);
		repl_source_free(&b);
		repl_source_free(&c);
		rbuf_free(&f.sent);
		close(f.snap_fd);
	}
}

/* ---- the replica's end ---------------------------------------------------- *
 * repl_follow on a real libuv loop, connected to a listening socket of the
 * test's that plays the source: it reads what the replica sends (the
 * handshake, ACKs), and hands the replica the source's bytes through the
 * stream's own read callback, as libuv does, so that each case decides
 * exactly which bytes arrive together. */

struct rep { /* the embedder: applies at once, durable at once */
	uint64_t applied, snap_index;
	bool empty, snap_ok;
	int entries_calls, snap_begins, snap_dones, topologies;
	uint64_t snap_bytes;
	struct repl_topology topo; /* the last one told */
};

static uint64_t r_applied(void *ctx)
{
	return ((struct rep *)ctx)->applied;
}

static bool r_empty(void *ctx)
{
	return ((struct rep *)ctx)->empty;
}

static void r_entries(void *ctx, const struct repl_entry *e, uint32_t n)
{
	struct rep *r = ctx;
	assert_int_equal(e[0].index, r->applied + 1);
	r->applied = e[n - 1].index;
	r->empty = false;
	r->entries_calls++;
}

static void r_snap_begin(void *ctx, const struct repl_accept *a)
{
	struct rep *r = ctx;
	r->snap_begins++;
	r->snap_index = a->snap_index;
	r->snap_bytes = 0;
}

static void r_snap_chunk(void *ctx, uint64_t off, const uint8_t *p, size_t n)
{
	struct rep *r = ctx;
	(void)p;
	assert_int_equal(off, r->snap_bytes);
	r->snap_bytes += n;
}

static bool r_snap_done(void *ctx)
{
	struct rep *r = ctx;
	r->snap_dones++;
	if (r->snap_ok)
		r->applied = r->snap_index;
	return r->snap_ok;
}

static void r_log(void *ctx, const char *line)
{
	(void)ctx;
	(void)line;
}

static void r_topology(void *ctx, const struct repl_topology *t)
{
	struct rep *r = ctx;
	r->topo = *t;
	r->topologies++;
}

struct harness {
	uv_loop_t loop;
	struct repl_follow f;
	struct rep rep;
	int lfd, cfd;
	uint16_t port;
	struct rbuf got; /* what the replica sent on the current connection */
	char hs_end[32]; /* how its handshake ends */
};

static int64_t wall_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One turn: the loop, then the source's socket. */
static void turn(struct harness *h)
{
	uv_run(&h->loop, UV_RUN_NOWAIT);
	if (h->cfd < 0) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd >= 0) {
			h->cfd = fd;
			h->got.len = 0;
		}
	}
	if (h->cfd >= 0) {
		uint8_t b[4096];
		ssize_t n;
		while ((n = read(h->cfd, b, sizeof b)) > 0)
			rbuf_put(&h->got, b, (size_t)n);
		if (n == 0) { /* the replica closed it */
			close(h->cfd);
			h->cfd = -1;
		}
	}
	usleep(500);
}

#define UNTIL(h, cond)                                                        \
	do {                                                                  \
		int64_t until_ = wall_ms() + 5000;                            \
		while (!(cond)) {                                             \
			assert_true(wall_ms() < until_); /* never happened */ \
			turn(h);                                              \
		}                                                             \
	} while (0)

static bool handshake_in(struct harness *h)
{
	size_t n = strlen(h->hs_end);
	return h->got.len >= n && !memcmp(h->got.p + h->got.len - n, h->hs_end, n);
}

/* A replica of a source at the test's socket (listed `copies` times), its
 * handshake read; it names group (NULL: none). */
static void h_start_group(struct harness *h, uint64_t applied, bool zstd, int copies,
			  const char *from, const struct repl_follow_group *group)
{
	memset(h, 0, sizeof *h);
	snprintf(h->hs_end, sizeof h->hs_end, "$5\r\nrep-1\r\n");
	if (group)
		snprintf(h->hs_end + strlen(h->hs_end), sizeof h->hs_end - strlen(h->hs_end),
			 "$%d\r\n%u\r\n", snprintf(NULL, 0, "%u", group->id), group->id);
	h->rep = (struct rep){.applied = applied, .empty = !applied, .snap_ok = true};
	rbuf_init(&h->got);
	h->cfd = -1;
	h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	assert_int_equal(bind(h->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(h->lfd, 16), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(h->lfd, (struct sockaddr *)&a, &al), 0);
	h->port = ntohs(a.sin_port);
	char sources[200] = "";
	for (int i = 0; i < copies; i++) {
		size_t len = strlen(sources);
		snprintf(sources + len, sizeof sources - len, "%s127.0.0.1:%u", i ? "," : "",
			 h->port);
	}
	assert_int_equal(uv_loop_init(&h->loop), 0);
	struct repl_follow_ops ops = {&h->rep,	 r_applied,    r_empty,	     r_applied,
				      r_entries, r_snap_begin, r_snap_chunk, r_snap_done,
				      r_log,	 r_topology};
	struct keel_errmsg err = {{0}};
	assert_int_equal(
		repl_follow_start(&h->f, &h->loop, &ops, sources, from, "rep-1", zstd, group, &err),
		KEEL_OK);
	UNTIL(h, handshake_in(h));
	h->got.len = 0;
}

static void h_start(struct harness *h, uint64_t applied, bool zstd, int copies, const char *from)
{
	h_start_group(h, applied, zstd, copies, from, NULL);
}

/* The follower's next attempt, by itself after its backoff: the last
 * connection's end here closed, its handshake in, nothing else kept. */
static void h_next_attempt(struct harness *h)
{
	if (h->cfd >= 0)
		close(h->cfd);
	h->cfd = -1;
	UNTIL(h, h->f.state == REPL_CONNECTING && h->f.tcp && handshake_in(h));
	h->got.len = 0;
}

static void h_stop(struct harness *h)
{
	repl_follow_stop(&h->f);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&h->loop), 0);
	if (h->cfd >= 0)
		close(h->cfd);
	close(h->lfd);
	rbuf_free(&h->got);
}

/* The source's bytes reach the replica together, in one read. */
static void h_feed(struct harness *h, const void *p, size_t n)
{
	uv_stream_t *st = (uv_stream_t *)h->f.tcp;
	assert_non_null(st);
	uv_buf_t b;
	st->alloc_cb((uv_handle_t *)st, 65536, &b);
	assert_true(n <= b.len);
	if (n)
		memcpy(b.base, p, n);
	st->read_cb(st, (ssize_t)n, &b); /* n == 0: a read that found nothing */
}

static void h_frame(struct harness *h, uint8_t kind, const void *p, size_t n)
{
	struct rbuf b;
	rbuf_init(&b);
	repl_frame(&b, kind, p, n);
	h_feed(h, b.p, b.len);
	rbuf_free(&b);
}

static void h_accept(struct harness *h, struct repl_accept a)
{
	struct rbuf b;
	rbuf_init(&b);
	repl_accept_frame(&b, &a);
	h_feed(h, b.p, b.len);
	rbuf_free(&b);
}

static void h_entries(struct harness *h, uint64_t first, uint32_t n, uint64_t source_applied)
{
	static const uint8_t d[3] = {'a', 'b', 'c'};
	struct repl_entry es[16];
	for (uint32_t i = 0; i < n; i++)
		es[i] = (struct repl_entry){first + i, 2, 1, sizeof d, d};
	struct rbuf b;
	rbuf_init(&b);
	repl_entries_frame(&b, REPL_RAW, source_applied, es, n);
	h_feed(h, b.p, b.len);
	rbuf_free(&b);
}

/* Whether the replica has sent an ACK of (durable, snap) since the last
 * look; consumes what it read. */
static bool acked(struct harness *h, uint64_t durable, uint64_t snap)
{
	size_t at = 0;
	bool seen = false;
	for (;;) {
		struct frame fr;
		size_t used;
		const char *why;
		if (frame_parse(h->got.p + at, h->got.len - at, &fr, &used, &why) != FRAME_OK)
			break;
		assert_int_equal(fr.kind, REPL_ACK);
		assert_int_equal(fr.len, 16);
		if (bytes_get_u64(fr.payload) == durable && bytes_get_u64(fr.payload + 8) == snap)
			seen = true;
		at += used;
	}
	rbuf_consume(&h->got, at);
	return seen;
}

static const struct repl_accept from_log = {
	REPL_VERSION, REPL_RAW, REPL_FROM_LOG, 7, 0, 0, 0, 0, 0, false, 0, 0, 0};

/* The stream as it goes: the handshake, entries applied in order and
 * acknowledged once durable, heartbeats, the lag, a gap. */
static void follow_streams(void **state)
{
	(void)state;
	struct harness h;
	h_start(&h, 5, false, 1, "");
	h_feed(&h, NULL, 0); /* before the source's first byte too */
	assert_int_equal(h.f.state, REPL_CONNECTING);
	struct repl_accept a = from_log;
	a.next = 6;
	h_accept(&h, a);
	assert_int_equal(h.f.state, REPL_STREAMING);
	assert_int_equal(h.f.stats.connects, 1);
	UNTIL(&h, acked(&h, 5, 0));
	/* entries and a heartbeat in one read */
	struct rbuf b;
	rbuf_init(&b);
	static const uint8_t d[1] = {'x'};
	struct repl_entry es[3] = {{6, 2, 1, 1, d}, {7, 2, 1, 1, d}, {8, 2, 1, 1, d}};
	repl_entries_frame(&b, REPL_RAW, 10, es, 3);
	repl_u64s_frame(&b, REPL_HEARTBEAT, 10, 0);
	h_feed(&h, b.p, b.len);
	rbuf_free(&b);
	assert_int_equal(h.rep.applied, 8);
	assert_int_equal(h.f.state, REPL_STREAMING);
	UNTIL(&h, acked(&h, 8, 0));
	/* libuv's read of nothing (EAGAIN) is no failure */
	h_feed(&h, NULL, 0);
	assert_int_equal(h.f.state, REPL_STREAMING);
	/* behind the source: the lag in entries and in time */
	int64_t ms;
	int64_t t0 = (int64_t)uv_now(&h.loop);
	UNTIL(&h, (int64_t)uv_now(&h.loop) > t0 + 5);
	assert_int_equal(repl_follow_lag(&h.f, &ms), 2);
	assert_true(ms > 0);
	/* caught up with what the source said: no lag */
	h_entries(&h, 9, 2, 10);
	assert_int_equal(h.rep.applied, 10);
	t0 = (int64_t)uv_now(&h.loop);
	UNTIL(&h, (int64_t)uv_now(&h.loop) > t0 + 5);
	assert_int_equal(repl_follow_lag(&h.f, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(h.f.stats.connects, 1);
	assert_int_equal(h.f.stats.entries, 5);
	/* idle: an ACK every ACK_MS all the same, the replica's heartbeat */
	UNTIL(&h, acked(&h, 10, 0));
	UNTIL(&h, acked(&h, 10, 0));
	/* a write made durable is acknowledged at once (repl_follow_poke), at
	 * most once in ACK_MIN_MS (the timer sends the rest); nothing new,
	 * nothing sent */
	UNTIL(&h, (int64_t)uv_now(&h.loop) >= h.f.last_ack_ms + 5);
	int64_t last = h.f.last_ack_ms;
	repl_follow_poke(&h.f);
	assert_int_equal(h.f.last_ack_ms, last);
	h.rep.applied = 11; /* as if written locally: durable, to acknowledge */
	repl_follow_poke(&h.f);
	assert_int_equal(h.f.acked, 11);
	h.rep.applied = 12;
	repl_follow_poke(&h.f);
	assert_int_equal(h.f.acked, 11);
	/* a gap: the connection is dropped, to resume from what was applied */
	h_entries(&h, 14, 1, 14);
	assert_int_equal(h.f.state, REPL_IDLE);
	assert_int_equal(h.f.stats.gaps, 1);
	assert_non_null(strstr(h.f.last_error, "a gap: entries from 14 arrived, 13 was next"));
	assert_int_equal(h.rep.applied, 12);
	h_stop(&h);
}

/* Catching up by a snapshot: chunks acknowledged on arrival, CAUGHT_UP,
 * then entries after the snapshot's index. */
static void follow_snapshot(void **state)
{
	(void)state;
	struct harness h;
	h_start(&h, 0, true, 1, "");
	struct repl_accept a = from_log;
	a.codec = REPL_ZSTD;
	a.mode = REPL_FROM_SNAPSHOT;
	a.snap_index = 60;
	a.snap_term = 2;
	a.snap_size = 3000;
	h_accept(&h, a);
	assert_int_equal(h.f.state, REPL_CATCHUP);
	assert_int_equal(h.rep.snap_begins, 1);
	static uint8_t data[3000];
	struct rbuf b;
	rbuf_init(&b);
	repl_snap_frame(&b, REPL_ZSTD, 0, data, 2000);
	h_feed(&h, b.p, b.len);
	UNTIL(&h, acked(&h, 0, 2000));
	b.len = 0;
	repl_snap_frame(&b, REPL_ZSTD, 2000, data, 1000);
	repl_u64s_frame(&b, REPL_CAUGHT_UP, 60, 2);
	h_feed(&h, b.p, b.len);
	rbuf_free(&b);
	assert_int_equal(h.rep.snap_bytes, 3000);
	assert_int_equal(h.rep.snap_dones, 1);
	assert_int_equal(h.f.state, REPL_STREAMING);
	UNTIL(&h, acked(&h, 60, 3000));
	h_entries(&h, 61, 2, 62);
	assert_int_equal(h.rep.applied, 62);
	assert_int_equal(h.f.stats.snapshots, 1);
	assert_int_equal(h.f.stats.connects, 1);
	h_stop(&h);
}

/* What the replica refuses from a source, and how it tells it. */
struct refusal {
	uint64_t applied; /* 0: an empty replica */
	int accept;	  /* 0: none, 1: from the log, 2: a snapshot of 3000 bytes */
	uint8_t version, codec;
	const char *raw; /* bytes sent as they are */
	uint8_t kind;	 /* a frame: its kind and payload */
	uint8_t payload[32];
	uint32_t len;
	uint64_t chunk_off, chunk_len; /* a snapshot chunk first (len 0: none) */
	uint64_t handed;	       /* snapshot bytes the embedder was given */
	bool snap_bad;		       /* the snapshot does not check */
	const char *why;	       /* in last_error */
	const char *absent;	       /* and not this */
};

static void refused(const struct refusal *c)
{
	struct harness h;
	h_start(&h, c->applied, false, 2, "");
	h.rep.snap_ok = !c->snap_bad;
	struct repl_accept a = from_log;
	a.next = c->applied + 1;
	if (c->accept == 2) {
		a.mode = REPL_FROM_SNAPSHOT;
		a.snap_index = 60;
		a.snap_size = 3000;
	}
	a.version = c->version ? c->version : REPL_VERSION;
	a.codec = c->codec;
	if (c->accept)
		h_accept(&h, a);
	if (c->chunk_len) {
		static uint8_t data[3001];
		struct rbuf b;
		rbuf_init(&b);
		repl_snap_frame(&b, REPL_RAW, c->chunk_off, data, c->chunk_len);
		h_feed(&h, b.p, b.len);
		rbuf_free(&b);
	}
	if (c->raw)
		h_feed(&h, c->raw, strlen(c->raw));
	if (c->kind)
		h_frame(&h, c->kind, c->payload, c->len);
	assert_int_equal(h.f.state, REPL_IDLE);
	if (!strstr(h.f.last_error, c->why))
		fail_msg("last_error \"%s\", expected \"%s\"", h.f.last_error, c->why);
	if (c->absent && strstr(h.f.last_error, c->absent))
		fail_msg("last_error \"%s\" shows \"%s\"", h.f.last_error, c->absent);
	/* one failure: the first backoff, and the next source */
	assert_int_equal(h.f.backoff_ms, 100);
	assert_int_equal(h.f.cur, 1);
	int64_t wait = h.f.retry_at_ms - (int64_t)uv_now(&h.loop);
	assert_true(wait >= 50 && wait <= 100);
	assert_int_equal(h.rep.snap_dones, c->snap_bad);
	assert_int_equal(h.rep.snap_bytes, c->handed);
	assert_int_equal(h.rep.applied, c->applied); /* nothing applied */
	assert_int_equal(h.f.source_applied, 0);     /* nor believed */
	h_stop(&h);
}

static void follow_refuses(void **state)
{
	(void)state;
	char hundred[102]; /* an answer of 101 bytes and no line end: 100 are shown */
	memset(hundred, 'z', 100);
	hundred[100] = 'Q';
	hundred[101] = 0;
	const struct refusal cases[] = {
		{.applied = 5, .accept = 1, .version = 2, .why = "protocol version 2"},
		{.applied = 5, .accept = 1, .codec = REPL_ZSTD, .why = "chose zstd"},
		{.kind = REPL_ERROR,
		 .payload = "no room",
		 .len = 7,
		 .why = "the source refused: no room"},
		{.kind = REPL_SNAP,
		 .len = 16,
		 .why = "answered the handshake with a frame of kind 34"},
		{.raw = "-ERR unknown command 'KEEL.REPLICATE'\r\n",
		 .why = "did not answer the replica handshake: -ERR unknown command "
			"'KEEL.REPLICATE'",
		 .absent = "\r"},
		{.raw = hundred, .why = "handshake: zzzzzzzzzz", .absent = "Q"},
		{.raw = "KF\x7f"
			"AAAAAAAAAAAAAAAA",
		 .why = "a bad frame from the source"},
		{.applied = 5,
		 .accept = 1,
		 .kind = REPL_CAUGHT_UP,
		 .len = 16,
		 .why = "unexpected frame of kind 35"},
		{.applied = 5,
		 .accept = 1,
		 .kind = REPL_ERROR,
		 .payload = "bye",
		 .len = 3,
		 .why = "the source ended the stream: bye"},
		{.applied = 5,
		 .accept = 1,
		 .kind = REPL_ENTRIES,
		 .len = 4,
		 .why = "does not decode"},
		{.accept = 2,
		 .kind = REPL_SNAP,
		 .len = 12,
		 .why = "unexpected frame of kind 34 (12 bytes)"},
		{.accept = 2,
		 .chunk_off = 1,
		 .chunk_len = 10,
		 .why = "a snapshot chunk at 1 is not the one expected (0)"},
		{.accept = 2, .chunk_len = 3001, .why = "a snapshot chunk at 0 is not the one"},
		{.accept = 2,
		 .chunk_len = 3000,
		 .handed = 3000,
		 .kind = REPL_ACK,
		 .payload = {60},
		 .len = 16,
		 .why = "unexpected frame of kind 38"},
		{.accept = 2,
		 .chunk_len = 2000,
		 .handed = 2000,
		 .kind = REPL_CAUGHT_UP,
		 .payload = {60},
		 .len = 16,
		 .why = "ended its snapshot early"},
		{.accept = 2,
		 .chunk_len = 3000,
		 .handed = 3000,
		 .kind = REPL_CAUGHT_UP,
		 .payload = {61},
		 .len = 16,
		 .why = "ended its snapshot early"},
		{.accept = 2,
		 .chunk_len = 3000,
		 .kind = REPL_CAUGHT_UP,
		 .payload = {60},
		 .len = 16,
		 .snap_bad = true,
		 .handed = 3000,
		 .why = "does not check"},
		/* one byte of an answer that is not a frame is enough to tell */
		{.raw = "-", .why = "did not answer the replica handshake: -"},
		/* once streaming, bytes that are not a frame are a bad frame */
		{.applied = 5,
		 .accept = 1,
		 .raw = "-ERR what is this\r\n",
		 .why = "a bad frame from the source: not a keel peer frame"},
		/* a snapshot chunk while streaming */
		{.applied = 5, .accept = 1, .kind = REPL_SNAP, .len = 16, .why = "kind 34"},
		/* a chunk whose payload does not unpack: nothing handed over */
		{.accept = 2,
		 .kind = REPL_SNAP,
		 .payload = {[8] = 9, [9] = 10},
		 .len = 13,
		 .why = "a snapshot chunk at 0 does not unpack"},
		/* ENTRIES whose payload does not unpack: its source index not believed */
		{.applied = 5,
		 .accept = 1,
		 .kind = REPL_ENTRIES,
		 .payload = {6, [8] = 99, [20] = 9},
		 .len = 25,
		 .why = "does not decode"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		refused(&cases[i]);
}

/* The source closing the connection; failures one after another back off
 * twice as long each time, up to REPL_BACKOFF_MAX_MS. */
static void follow_backs_off(void **state)
{
	(void)state;
	struct harness h;
	h_start(&h, 5, false, 1, "");
	struct repl_accept a = from_log;
	a.next = 6;
	h_accept(&h, a);
	assert_int_equal(h.f.backoff_ms, 0); /* a stream begun: no backoff */
	shutdown(h.cfd, SHUT_WR);
	UNTIL(&h, h.f.state == REPL_IDLE);
	if (!strstr(h.f.last_error, "the source closed the connection"))
		fail_msg("%s", h.f.last_error);
	assert_int_equal(h.f.backoff_ms, 100);
	/* the next attempt comes by itself; its refusal doubles the backoff */
	h_next_attempt(&h);
	assert_int_equal(h.f.cur, 0); /* one source: tried again */
	h_frame(&h, REPL_ERROR, "busy", 4);
	assert_int_equal(h.f.backoff_ms, 200);
	/* ... up to the limit */
	h.f.backoff_ms = REPL_BACKOFF_MAX_MS - 1000;
	h.f.retry_at_ms = 0;
	h_next_attempt(&h);
	h_frame(&h, REPL_ERROR, "busy", 4);
	assert_int_equal(h.f.backoff_ms, REPL_BACKOFF_MAX_MS);
	int64_t wait = h.f.retry_at_ms - (int64_t)uv_now(&h.loop);
	assert_true(wait >= REPL_BACKOFF_MAX_MS / 2 && wait <= REPL_BACKOFF_MAX_MS);
	h_stop(&h);
}

/* With several sources, a round of them fails at one backoff before it
 * doubles: a source that refuses (a node that does not hold the group,
 * which may be every source but one) costs the next one little. */
static void follow_backs_off_a_round(void **state)
{
	(void)state;
	struct harness h;
	h_start(&h, 5, false, 3, "");
	static const uint32_t want[] = {100, 100, 100, 200, 200, 200, 400};
	for (uint32_t i = 0; i < sizeof want / sizeof *want; i++) {
		if (i)
			h_next_attempt(&h);
		h_frame(&h, REPL_ERROR, "not here", 8);
		assert_int_equal(h.f.state, REPL_IDLE);
		assert_int_equal(h.f.backoff_ms, want[i]);
		assert_int_equal(h.f.cur, (i + 1) % 3);
		int64_t wait = h.f.retry_at_ms - (int64_t)uv_now(&h.loop);
		assert_true(wait >= want[i] / 2 && wait <= want[i]);
	}
	h_stop(&h);
}

/* A read error ends the connection; a connect that fails is no news from
 * the source. */
static void follow_errors(void **state)
{
	(void)state;
	struct harness h;
	h_start(&h, 5, false, 1, "");
	struct repl_accept a = from_log;
	a.next = 6;
	h_accept(&h, a);
	uv_stream_t *st = (uv_stream_t *)h.f.tcp;
	uv_buf_t b;
	st->alloc_cb((uv_handle_t *)st, 65536, &b);
	st->read_cb(st, UV_EPERM, &b);
	assert_int_equal(h.f.state, REPL_IDLE);
	assert_non_null(strstr(h.f.last_error, uv_strerror(UV_EPERM)));
	/* nothing listens there any more: refused */
	close(h.lfd);
	h.lfd = socket(AF_INET, SOCK_STREAM, 0);
	h.f.last_heard_ms = 1;
	UNTIL(&h, h.f.state == REPL_IDLE && h.f.backoff_ms == 200);
	assert_non_null(strstr(h.f.last_error, "cannot connect"));
	assert_int_equal(h.f.last_heard_ms, 1);
	int64_t ms;
	repl_follow_lag(&h.f, &ms);
	assert_int_equal(ms, (int64_t)uv_now(&h.loop) - 1);
	h_stop(&h);
}

/* --replica-of's addresses, and the address the replica connects from. */
static void follow_addresses(void **state)
{
	(void)state;
	struct sockaddr_in sa;
	char host[80];
	memset(host, '1', sizeof host);
	snprintf(host + 70, sizeof host - 70, ":7000");
	assert_false(repl_parse_addr(host, &sa)); /* a host part too long */
	assert_true(repl_parse_addr("127.0.0.1:7000", &sa));
	assert_int_equal(ntohs(sa.sin_port), 7000);
	assert_false(repl_parse_addr("127.0.0.1:0", &sa));
	assert_false(repl_parse_addr("127.0.0.1:65536", &sa));
	assert_false(repl_parse_addr("127.0.0.1:", &sa));
	assert_false(repl_parse_addr("127.0.0.1", &sa));
	assert_false(repl_parse_addr("localhost:7000", &sa));
	struct repl_follow f;
	uv_loop_t loop;
	struct repl_follow_ops ops = {0};
	struct keel_errmsg err = {{0}};
	assert_int_equal(repl_follow_start(&f, &loop, &ops, "127.0.0.1:1,,127.0.0.1:2", "", "r",
					   false, NULL, &err),
			 KEEL_EINVAL);
	assert_non_null(strstr(err.text, "at most 8 addresses, each host:port"));
	assert_int_equal(
		repl_follow_start(&f, &loop, &ops, ",127.0.0.1:1", "", "r", false, NULL, &err),
		KEEL_EINVAL);
	assert_non_null(strstr(err.text, "at most 8 addresses, each host:port"));
	char nine[200] = "";
	for (int i = 0; i < 9; i++)
		snprintf(nine + strlen(nine), sizeof nine - strlen(nine), "%s127.0.0.1:%d",
			 i ? "," : "", 7000 + i);
	assert_int_equal(repl_follow_start(&f, &loop, &ops, nine, "", "r", false, NULL, &err),
			 KEEL_EINVAL);
	assert_non_null(strstr(err.text, "at most 8"));
	assert_int_equal(repl_follow_start(&f, &loop, &ops, "db:1", "", "r", false, NULL, &err),
			 KEEL_EINVAL);
	assert_non_null(strstr(err.text, "'db:1' is not an IPv4 host:port"));
	char one[140]; /* 128 bytes: one more than an address may have */
	memset(one, '1', 128);
	one[128] = 0;
	assert_int_equal(repl_follow_start(&f, &loop, &ops, one, "", "r", false, NULL, &err),
			 KEEL_EINVAL);
	assert_non_null(strstr(err.text, "at most 8 addresses, each host:port"));
	/* --bind: the source sees the replica's connection come from there */
	struct harness h;
	h_start(&h, 5, false, 1, "127.0.0.5");
	struct sockaddr_in peer;
	socklen_t pl = sizeof peer;
	assert_int_equal(getpeername(h.cfd, (struct sockaddr *)&peer, &pl), 0);
	assert_int_equal(ntohl(peer.sin_addr.s_addr), 0x7f000005);
	h_stop(&h);
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

/* ---- groups (a replica of a sharded cluster) ---------------------------- */

static void accept_and_topology_frames(void **state)
{
	(void)state;
	/* an ACCEPT naming a group and its slots: round trip; one naming none
	 * is the same bytes as before groups */
	struct repl_accept a = {REPL_VERSION, REPL_RAW, REPL_FROM_LOG, 3,    7, 0, 0, 0, 0,
				true,	      1024,	5461,	       10922};
	struct repl_accept d;
	struct rbuf b;
	rbuf_init(&b);
	repl_accept_frame(&b, &a);
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR, &d), KEEL_OK);
	assert_true(d.has_group && d.group == 1024 && d.slot_first == 5461 &&
		    d.slot_last == 10922 && d.next == 7);
	size_t named = b.len;
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR - 1, &d),
			 KEEL_ECORRUPT);
	b.len = 0;
	a.has_group = false;
	repl_accept_frame(&b, &a);
	assert_int_equal(b.len, named - 8);
	assert_int_equal(repl_accept_decode(b.p + FRAME_HDR, b.len - FRAME_HDR, &d), KEEL_OK);
	assert_false(d.has_group);
	/* TOPOLOGY: round trip of every field */
	struct repl_topology tp = {.term = 9, .n = 2};
	tp.nodes[0] = (struct repl_topo_node){1, "127.0.0.1", 7001, 17001,
					      REPL_TOPO_LEADER | REPL_TOPO_UP | REPL_TOPO_VOTER};
	tp.nodes[1] = (struct repl_topo_node){0xffffffffffffffffull, "10.1.2.3", 65535, 0, 0};
	b.len = 0;
	repl_topology_frame(&b, &tp);
	struct repl_topology got;
	assert_int_equal(repl_topology_decode(b.p + FRAME_HDR, b.len - FRAME_HDR, &got), KEEL_OK);
	assert_int_equal(got.term, 9);
	assert_int_equal(got.n, 2);
	assert_memory_equal(&got.nodes[0], &tp.nodes[0], sizeof tp.nodes[0]);
	assert_memory_equal(&got.nodes[1], &tp.nodes[1], sizeof tp.nodes[1]);
	/* refused: short, a byte too many, too many members, a bad host, port 0,
	 * an unknown flag */
	uint8_t *p = b.p + FRAME_HDR;
	size_t n = b.len - FRAME_HDR;
	assert_int_equal(repl_topology_decode(p, n - 1, &got), KEEL_ECORRUPT);
	assert_int_equal(repl_topology_decode(p, 8, &got), KEEL_ECORRUPT);
	rbuf_put(&b, "x", 1);
	assert_int_equal(repl_topology_decode(p, n + 1, &got), KEEL_ECORRUPT);
	/* the first member's bytes start at 9: id, port, peer port, flags,
	 * host length, host */
	struct {
		size_t at, len;
		uint8_t v;
	} bad[] = {{8, 1, REPL_TOPO_NODES + 1},
		   {9 + 8, 2, 0},
		   {9 + 12, 1, 8},
		   {9 + 13, 1, 0},
		   {9 + 13, 1, 64},
		   {9 + 14, 1, ' '}};
	uint8_t copy[256];
	assert_true(n <= sizeof copy);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		memcpy(copy, p, n);
		memset(copy + bad[i].at, bad[i].v, bad[i].len);
		assert_int_equal(repl_topology_decode(copy, n, &got), KEEL_ECORRUPT);
	}
	assert_int_equal(repl_topology_decode(p, n, &got), KEEL_OK);
	rbuf_free(&b);
}

static void hello_group(void **state)
{
	(void)state;
	const char *w[] = {"1", "42", "0", "zstd", "r", "2", "x"};
	struct resp_arg av[7];
	for (int i = 0; i < 7; i++)
		av[i] = (struct resp_arg){(const uint8_t *)w[i], strlen(w[i])};
	char why[200];
	struct repl_hello h;
	assert_int_equal(repl_hello_parse(&h, av, 5, why, sizeof why), KEEL_OK);
	assert_false(h.has_group);
	assert_int_equal(repl_hello_parse(&h, av, 6, why, sizeof why), KEEL_OK);
	assert_true(h.has_group);
	assert_int_equal(h.group, 2);
	assert_int_equal(repl_hello_parse(&h, av, 7, why, sizeof why), KEEL_EINVAL);
	assert_non_null(strstr(why, "and a group"));
	const char *edges[][2] = {{"4294967295", "ok"}, {"1024", "ok"}, {"4294967296", ""},
				  {"-1", ""},		{"01", ""},	{"", ""}};
	for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
		av[5] = (struct resp_arg){(const uint8_t *)edges[i][0], strlen(edges[i][0])};
		int rc = repl_hello_parse(&h, av, 6, why, sizeof why);
		assert_int_equal(rc, edges[i][1][0] ? KEEL_OK : KEEL_EINVAL);
		if (rc)
			assert_non_null(strstr(why, "the group must be an unsigned integer"));
	}
}

/* The kinds of the frames sent since the last look, and the last TOPOLOGY's. */
static int take_topo(struct fake *f, uint8_t *kinds, int max, struct repl_topology *t)
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
		if (fr.kind == REPL_TOPOLOGY)
			assert_int_equal(repl_topology_decode(fr.payload, fr.len, t), KEEL_OK);
		if (fr.kind == REPL_ACCEPT) {
			struct repl_accept a;
			assert_int_equal(repl_accept_decode(fr.payload, fr.len, &a), KEEL_OK);
			assert_true(a.has_group && a.group == 3 && a.slot_first == 100 &&
				    a.slot_last == 200);
		}
		at += used;
	}
	f->sent.len = 0;
	return k;
}

/* A stream that named a group is told the group and its slots, and the
 * group's members when they change; one that named none is told neither. */
static void source_group(void **state)
{
	(void)state;
	struct fake f;
	struct repl_source_ops ops;
	setup(&f, &ops);
	f.applied = 70;
	struct repl_group_info gi = {3, 100, 200};
	struct repl_hello h = {
		.version = REPL_VERSION, .applied = 70, .has_group = true, .group = 3};
	struct repl_source src;
	assert_true(repl_source_start(&src, &ops, &h, &gi, 1, 0));
	uint8_t k[8];
	struct repl_topology t = {.term = 4, .n = 1}, got;
	t.nodes[0] = (struct repl_topo_node){2, "127.0.0.2", 7002, 17002, REPL_TOPO_LEADER};
	repl_source_topology(&src, &t);
	assert_true(repl_source_pump(&src, 1));
	assert_int_equal(take_topo(&f, k, 8, &got), 2);
	assert_true(k[0] == REPL_ACCEPT && k[1] == REPL_TOPOLOGY);
	assert_int_equal(got.nodes[0].id, 2);
	repl_source_topology(&src, &t); /* the same: nothing more */
	assert_true(repl_source_pump(&src, 2));
	assert_int_equal(take_topo(&f, k, 8, &got), 0);
	t.nodes[0].flags = REPL_TOPO_UP; /* the leader is gone */
	repl_source_topology(&src, &t);
	assert_true(repl_source_pump(&src, 3));
	assert_int_equal(take_topo(&f, k, 8, &got), 1);
	assert_int_equal(got.nodes[0].flags, REPL_TOPO_UP);
	repl_source_free(&src);
	struct repl_hello plain = {.version = REPL_VERSION, .applied = 70};
	assert_true(repl_source_start(&src, &ops, &plain, &gi, 1, 0));
	repl_source_topology(&src, &t);
	assert_true(repl_source_pump(&src, 1));
	struct frame fr;
	size_t used;
	const char *why;
	assert_int_equal(frame_parse(f.sent.p, f.sent.len, &fr, &used, &why), FRAME_OK);
	assert_int_equal(used, f.sent.len); /* the ACCEPT, alone */
	struct repl_accept a;
	assert_int_equal(repl_accept_decode(fr.payload, fr.len, &a), KEEL_OK);
	assert_false(a.has_group);
	repl_source_free(&src);
	close(f.snap_fd);
	rbuf_free(&f.sent);
}

/* A follower of a group names it; drops an ACCEPT of no group, another
 * group, or other slots; takes the members the source tells. */
static void follow_group(void **state)
{
	(void)state;
	struct repl_follow_group g = {2, 100, 200};
	struct repl_accept a = from_log;
	a.next = 6;
	struct {
		bool has;
		uint32_t group;
		uint16_t first, last;
		const char *why;
	} cases[] = {
		{false, 0, 0, 0, "is for another group than the one asked for"},
		{true, 3, 100, 200, "is for another group than the one asked for"},
		{true, 2, 100, 201,
		 "group 2 serves slots 100-201, this replica's 100-200: start the replica with "
		 "the source's --shards"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct harness h;
		h_start_group(&h, 5, false, 1, "", &g);
		a.has_group = cases[i].has;
		a.group = cases[i].group;
		a.slot_first = cases[i].first;
		a.slot_last = cases[i].last;
		h_accept(&h, a);
		assert_int_equal(h.f.state, REPL_IDLE);
		assert_non_null(strstr(h.f.last_error, cases[i].why));
		h_stop(&h);
	}
	struct harness h;
	h_start_group(&h, 5, false, 1, "", &g);
	a.has_group = true;
	a.group = 2;
	a.slot_first = 100;
	a.slot_last = 200;
	h_accept(&h, a);
	assert_int_equal(h.f.state, REPL_STREAMING);
	struct repl_topology t = {.term = 3, .n = 1};
	t.nodes[0] = (struct repl_topo_node){1, "127.0.0.1", 7001, 0, REPL_TOPO_LEADER};
	struct rbuf b;
	rbuf_init(&b);
	repl_topology_frame(&b, &t);
	h_feed(&h, b.p, b.len);
	assert_int_equal(h.rep.topologies, 1);
	assert_string_equal(h.rep.topo.nodes[0].host, "127.0.0.1");
	assert_int_equal(h.f.state, REPL_STREAMING);
	h_frame(&h, REPL_TOPOLOGY, "short", 5); /* a TOPOLOGY that does not decode */
	assert_int_equal(h.f.state, REPL_IDLE);
	assert_non_null(strstr(h.f.last_error, "a TOPOLOGY frame does not decode"));
	h_stop(&h);
	/* a follower of no group takes no TOPOLOGY */
	h_start(&h, 5, false, 1, "");
	a.has_group = false;
	h_accept(&h, a);
	h_feed(&h, b.p, b.len);
	assert_int_equal(h.f.state, REPL_IDLE);
	assert_non_null(strstr(h.f.last_error, "unexpected frame of kind 39"));
	assert_int_equal(h.rep.topologies, 0);
	h_stop(&h);
	rbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(entries_round_trip),
		cmocka_unit_test(payload_limits),
		cmocka_unit_test(source_from_log),
		cmocka_unit_test(source_from_snapshot),
		cmocka_unit_test(hello_parse),
		cmocka_unit_test(entries_indexes_do_not_wrap),
		cmocka_unit_test(entries_edges),
		cmocka_unit_test(payload_edges),
		cmocka_unit_test(hello_edges),
		cmocka_unit_test(source_edges),
		cmocka_unit_test(source_cache),
		cmocka_unit_test(follow_streams),
		cmocka_unit_test(follow_snapshot),
		cmocka_unit_test(follow_refuses),
		cmocka_unit_test(follow_backs_off),
		cmocka_unit_test(follow_backs_off_a_round),
		cmocka_unit_test(follow_addresses),
		cmocka_unit_test(follow_errors),
		cmocka_unit_test(accept_and_topology_frames),
		cmocka_unit_test(hello_group),
		cmocka_unit_test(source_group),
		cmocka_unit_test(follow_group),
	};
	return UNIT_RUN("replica-stream", tests);
}
