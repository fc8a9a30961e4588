/* tests/fuzz/fuzz_resp.c — RESP requests as a client sends them (multibulk
 * and inline, src/resp/parse.c) and replies as a server sends them
 * (resp_scan_reply). The input is one connection's byte stream after a
 * first byte that chooses how it arrives: parsed whole, then again as it
 * trickles in pieces (1 byte, or sizes from a generator that byte seeds),
 * parsing only once the parser's `need` is buffered, as the server does.
 * Both must give the same requests and the same protocol error; every
 * argument must lie in the buffer or the parser's scratch; a request
 * consumes bytes; a scanned reply's length must be stable under a rescan
 * of exactly its bytes, and one byte fewer is incomplete. */
#include <string.h>

#include "fuzz.h"

#include "base/prng.h"
#include "resp/buf.h"
#include "resp/parse.h"

/* Appends what one parse gave to a transcript: OK with its arguments,
 * or the error text. */
static void note(struct rbuf *t, const struct resp_req *r, int rc, const char *err)
{
	rbuf_put_u32(t, (uint32_t)rc);
	if (rc == RESP_ERR) {
		rbuf_puts(t, err);
		return;
	}
	rbuf_put_u32(t, r->argc);
	for (uint32_t i = 0; i < r->argc; i++) {
		rbuf_put_u64(t, r->argv[i].len);
		rbuf_put(t, r->argv[i].p, r->argv[i].len);
	}
}

static bool within(const uint8_t *p, size_t len, const uint8_t *base, size_t cap)
{
	return base && p >= base && p + len <= base + cap;
}

/* One parse at buf[at..len): checks the result's contract and notes it. */
static int parse_one(struct resp_req *r, const uint8_t *buf, size_t len, size_t *at, size_t *need,
		     struct rbuf *t)
{
	size_t used = 0;
	const char *err = NULL;
	int rc = resp_parse_request(r, buf + *at, len - *at, &used, need, &err);
	FUZZ_CHECK(rc == RESP_OK || rc == RESP_MORE || rc == RESP_ERR);
	if (rc == RESP_MORE) {
		FUZZ_CHECK(*need > len - *at);
		return rc;
	}
	if (rc == RESP_ERR) {
		FUZZ_CHECK(err && !strncmp(err, "Protocol error: ", 16));
		note(t, r, rc, err);
		return rc;
	}
	FUZZ_CHECK(used > 0 && used <= len - *at);
	for (uint32_t i = 0; i < r->argc; i++) {
		const struct resp_arg *a = &r->argv[i];
		FUZZ_CHECK(within(a->p, a->len, buf + *at, used) ||
			   within(a->p, a->len, r->scratch, r->scratch_cap) || a->len == 0);
	}
	note(t, r, rc, err);
	*at += used;
	return rc;
}

static void whole(const uint8_t *s, size_t n, struct rbuf *t)
{
	struct resp_req r;
	resp_req_init(&r);
	size_t at = 0, need;
	while (parse_one(&r, s, n, &at, &need, t) == RESP_OK)
		;
	resp_req_free(&r);
}

/* The stream arrives in pieces into a buffer the parser reads from. */
static void pieces(const uint8_t *s, size_t n, uint8_t mode, struct rbuf *t)
{
	struct prng g;
	prng_seed(&g, mode);
	struct resp_req r;
	resp_req_init(&r);
	struct rbuf in;
	rbuf_init(&in);
	size_t fed = 0, at = 0, need = 0;
	while (fed < n) {
		size_t piece = mode == 0 ? 1 : 1 + prng_below(&g, mode < 128 ? 16 : 4096);
		piece = piece < n - fed ? piece : n - fed;
		rbuf_put(&in, s + fed, piece);
		fed += piece;
		if (in.len - at < need && fed < n)
			continue;
		int rc;
		while ((rc = parse_one(&r, in.p, in.len, &at, &need, t)) == RESP_OK)
			need = 0;
		if (rc == RESP_ERR)
			break;
	}
	rbuf_free(&in);
	resp_req_free(&r);
}

static void replies(const uint8_t *s, size_t n)
{
	size_t at = 0;
	while (at < n) {
		size_t frame = 0, again = 0;
		int rc = resp_scan_reply(s + at, n - at, &frame);
		if (rc != RESP_OK)
			break;
		FUZZ_CHECK(frame > 0 && frame <= n - at);
		FUZZ_CHECK(resp_scan_reply(s + at, frame, &again) == RESP_OK && again == frame);
		FUZZ_CHECK(resp_scan_reply(s + at, frame - 1, &again) == RESP_MORE);
		at += frame;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	const uint8_t *s = data + 1;
	size_t n = size - 1;
	struct rbuf a, b;
	rbuf_init(&a);
	rbuf_init(&b);
	whole(s, n, &a);
	pieces(s, n, mode, &b);
	FUZZ_CHECK(a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len)));
	rbuf_free(&a);
	rbuf_free(&b);
	replies(s, n);
	return 0;
}
