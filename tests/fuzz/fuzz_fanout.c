/* tests/fuzz/fuzz_fanout.c — what the keyspace commands over the shards
 * read (src/server/fanout.c): a part's reply, a shard's RESP2 answer to
 * DBSIZE, KEYS, RANDOMKEY, FLUSHDB/FLUSHALL or SCAN, which may come from a
 * peer (fanout_part_read), and SCAN's cursor, a shard and that shard's
 * own cursor (fanout_cursor_read, fanout_cursor_next). The input's first
 * byte picks a kind and a mode:
 *   - raw bytes as a part's reply, or as a cursor: never read past them;
 *     a reply taken holds what it says (its keys' offset within it, a
 *     count not negative, SCAN's keys an array where it says), and an
 *     error is one line;
 *   - a reply made of the input's numbers and keys, well formed: taken,
 *     with those numbers (DBSIZE's count, KEYS' keys and where they start,
 *     RANDOMKEY's key or nil, SCAN's cursor and where its keys start);
 *     cut short by a byte or grown by one: refused;
 *   - a shard (below a count of shards, 1 to 16384) and its cursor: the
 *     node's cursor made of them reads back as them (a shard's end, as the
 *     next shard's start, or 0 after the last), or is refused past what a
 *     cursor can name. */
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"

#include "base/mem.h"
#include "resp/buf.h"
#include "resp/encode.h"
#include "server/server.h"

#define KINDS 5

/* A reply of kind made from the input, and what reading it must give. */
static void make_reply(struct fuzz_in *in, int kind, struct rbuf *b, struct fanout_part *want)
{
	memset(want, 0, sizeof *want);
	uint32_t n = fuzz_below(in, 5);
	switch (kind) {
	case FANOUT_DBSIZE:
		want->n = (int64_t)(fuzz_u64(in) >> 1);
		resp_int(b, want->n);
		return;
	case FANOUT_FLUSH:
		resp_simple(b, "OK");
		return;
	case FANOUT_RANDOMKEY:
		if (n) {
			size_t len;
			const uint8_t *k = fuzz_bytes(in, fuzz_below(in, 12), &len);
			resp_bulk(b, k, len);
			want->key = true;
		} else {
			resp_null(b, 2);
		}
		return;
	case FANOUT_SCAN: {
		want->cursor = fuzz_u64(in);
		char num[24];
		resp_array(b, 2);
		resp_bulk(b, num, (size_t)snprintf(num, sizeof num, "%" PRIu64, want->cursor));
		want->at = b->len;
		break;
	}
	default: /* KEYS */
		want->at = 0;
		break;
	}
	resp_array(b, n);
	if (kind == FANOUT_KEYS) {
		want->at = b->len;
		want->n = n;
	}
	for (uint32_t i = 0; i < n; i++) {
		size_t len;
		const uint8_t *k = fuzz_bytes(in, fuzz_below(in, 12), &len);
		resp_bulk(b, k, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t head = fuzz_u8(&in);
	int kind = head % KINDS;
	struct fanout_part got;
	switch (head / KINDS % 3) {
	case 0: { /* raw bytes, as a reply and as a cursor */
		size_t n;
		const uint8_t *p = fuzz_bytes(&in, 4096, &n);
		/* exactly n bytes (ASan sees a read past); none: NULL, as an
		 * empty reply's buffer may be */
		uint8_t *copy = n ? keel_malloc(n) : NULL;
		if (n)
			memcpy(copy, p, n);
		static const char type[KINDS] = {':', '*', '$', '+', '*'};
		if (fanout_part_read(kind, copy, n, &got)) {
			FUZZ_CHECK(got.at <= n && got.n >= 0);
			FUZZ_CHECK(copy[0] == (got.error ? '-' : type[kind]));
			if (kind == FANOUT_FLUSH && !got.error)
				FUZZ_CHECK(n == 5 && !memcmp(copy, "+OK\r\n", 5));
			if (kind == FANOUT_SCAN && !got.error) { /* its head as a shard writes it */
				char head[48];
				char num[24];
				int len = snprintf(num, sizeof num, "%" PRIu64, got.cursor);
				int h = snprintf(head, sizeof head, "*2\r\n$%d\r\n%s\r\n", len,
						 num);
				FUZZ_CHECK((size_t)h == got.at && !memcmp(head, copy, got.at));
			}
			if (got.error)
				FUZZ_CHECK(n >= 3 && copy[0] == '-' && copy[n - 1] == '\n');
			if (kind == FANOUT_SCAN && !got.error)
				FUZZ_CHECK(got.at < n && copy[got.at] == '*');
			if (kind == FANOUT_KEYS && !got.error)
				FUZZ_CHECK(copy[0] == '*' && got.at >= 4);
		}
		uint32_t shard;
		uint64_t inner;
		uint32_t shards = 1 + (uint32_t)(n % KV_SLOTS);
		if (fanout_cursor_read(copy, n, shards, &shard, &inner))
			FUZZ_CHECK(shard < shards);
		keel_free(copy);
		break;
	}
	case 1: { /* a well formed reply: taken as made; cut or grown: refused */
		struct rbuf b;
		rbuf_init(&b);
		struct fanout_part want;
		make_reply(&in, kind, &b, &want);
		FUZZ_CHECK(fanout_part_read(kind, b.p, b.len, &got));
		FUZZ_CHECK(!got.error && got.n == want.n && got.key == want.key);
		if (kind == FANOUT_KEYS || kind == FANOUT_SCAN)
			FUZZ_CHECK(got.at == want.at);
		if (kind == FANOUT_SCAN)
			FUZZ_CHECK(got.cursor == want.cursor);
		uint8_t *cut = keel_malloc(b.len - 1); /* exactly: ASan sees a read past */
		memcpy(cut, b.p, b.len - 1);
		FUZZ_CHECK(!fanout_part_read(kind, cut, b.len - 1, &got));
		keel_free(cut);
		uint8_t *grown = keel_malloc(b.len + 1);
		memcpy(grown, b.p, b.len);
		grown[b.len] = 'x';
		FUZZ_CHECK(!fanout_part_read(kind, grown, b.len + 1, &got));
		keel_free(grown);
		b.len = 0;
		resp_error(&b, "ERR a shard's error");
		FUZZ_CHECK(fanout_part_read(kind, b.p, b.len, &got) && got.error);
		rbuf_free(&b);
		break;
	}
	default: { /* a shard and its cursor, as the node's cursor and back */
		uint32_t shards = 1 + fuzz_below(&in, KV_SLOTS);
		uint32_t shard = fuzz_below(&in, shards);
		uint64_t bound = (UINT64_MAX - shard) / KV_SLOTS; /* the greatest it can name */
		uint8_t pick = fuzz_u8(&in);
		uint64_t inner = pick % 4 == 0	 ? fuzz_u64(&in)
				 : pick % 4 == 1 ? bound + (pick & 4 ? 1 : 0)
						 : fuzz_u8(&in);
		uint64_t cursor;
		/* past 2^64-1, a cursor is refused; at it, its shard is 16383 */
		uint32_t s0;
		uint64_t i0;
		static const char past[] = "18446744073709551616", top[] = "18446744073709551615";
		FUZZ_CHECK(!fanout_cursor_read((const uint8_t *)past, 20, shards, &s0, &i0));
		FUZZ_CHECK(fanout_cursor_read((const uint8_t *)top, 20, shards, &s0, &i0) ==
			   (shards == KV_SLOTS));
		if (!fanout_cursor_next(shard, inner, shards, &cursor)) {
			FUZZ_CHECK(inner > bound);
			break;
		}
		FUZZ_CHECK(inner <= bound);
		char num[24];
		int len = snprintf(num, sizeof num, "%" PRIu64, cursor);
		uint32_t s2;
		uint64_t in2;
		const uint8_t *text = (const uint8_t *)num;
		FUZZ_CHECK(fanout_cursor_read(text, (size_t)len, shards, &s2, &in2));
		if (inner) {
			FUZZ_CHECK(s2 == shard && in2 == inner);
		} else { /* the next shard's start, or the end after the last */
			FUZZ_CHECK(in2 == 0 && s2 == (shard + 1 < shards ? shard + 1 : 0));
			FUZZ_CHECK(cursor == (shard + 1 < shards ? shard + 1 : 0));
		}
		break;
	}
	}
	return 0;
}
