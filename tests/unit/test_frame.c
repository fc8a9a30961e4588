/* tests/unit/test_frame.c — src/net/frame.c and src/server/entry.c: the
 * peer envelope, the HELLO payload and the command entry survive a round
 * trip; every truncation waits for more, every flipped byte is refused, a
 * HELLO out of range tells nothing, and a bad entry or command never
 * decodes, down to the smallest ones either side of each bound. */
#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "base/bytes.h"
#include "base/mem.h"
#include "base/prng.h"
#include "kv/kv.h"
#include "net/frame.h"
#include "server/entry.h"

static void frames(void **state)
{
	(void)state;
	uint8_t buf[FRAME_HDR + 100], payload[100];
	for (int i = 0; i < 100; i++)
		payload[i] = (uint8_t)(i * 3);
	frame_header(buf, FRAME_RAFT, payload, sizeof payload);
	memcpy(buf + FRAME_HDR, payload, sizeof payload);
	struct frame f;
	size_t used;
	const char *why;
	assert_int_equal(frame_parse(buf, sizeof buf, &f, &used, &why), FRAME_OK);
	assert_int_equal(used, sizeof buf);
	assert_int_equal(f.kind, FRAME_RAFT);
	assert_memory_equal(f.payload, payload, sizeof payload);
	for (size_t k = 0; k < sizeof buf; k++)
		assert_int_equal(frame_parse(buf, k, &f, &used, &why), FRAME_MORE);
	for (size_t k = 0; k < sizeof buf; k++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[k] ^= (uint8_t)(1 << bit);
			int rc = frame_parse(buf, sizeof buf, &f, &used, &why);
			/* a longer length waits for bytes that never come: not accepted */
			assert_true(rc == FRAME_BAD || (rc == FRAME_MORE && k >= 4 && k < 8));
			buf[k] ^= (uint8_t)(1 << bit);
		}
	}
}

/* A frame's length is checked against its kind on the 12 header bytes
 * alone: a HELLO or REMOVED longer than its format, or a frame of a kind
 * this version does not know longer than FRAME_UNKNOWN_MAX, is refused
 * before any of its payload is waited for; a Raft frame up to FRAME_MAX
 * is waited for. */
static void kind_limits(void **state)
{
	(void)state;
	static const struct {
		uint8_t kind;
		uint32_t len;
		int want;
	} cases[] = {
		{FRAME_HELLO, FRAME_HELLO_MAX, FRAME_MORE},
		{FRAME_HELLO, FRAME_HELLO_MAX + 1, FRAME_BAD},
		{FRAME_HELLO, FRAME_MAX, FRAME_BAD},
		{FRAME_REMOVED, 8, FRAME_MORE},
		{FRAME_REMOVED, 9, FRAME_BAD},
		{FRAME_RAFT, FRAME_MAX, FRAME_MORE},
		{FRAME_RAFT, FRAME_MAX + 1, FRAME_BAD},
		{FRAME_FORWARD, FRAME_MAX, FRAME_MORE},
		{FRAME_GROUP, FRAME_MAX + FRAME_GROUP_HDR, FRAME_MORE},
		{FRAME_GROUP, FRAME_MAX + FRAME_GROUP_HDR + 1, FRAME_BAD},
		{FRAME_QUIET, FRAME_QUIET_LEN, FRAME_MORE},
		{FRAME_QUIET, FRAME_QUIET_LEN + 1, FRAME_BAD},
		{FRAME_LIVE, FRAME_LIVE_LEN, FRAME_MORE},
		{FRAME_LIVE, FRAME_LIVE_LEN + 1, FRAME_BAD},
		{FRAME_LEADS, FRAME_LEADS_LEN(FRAME_LEADS_MAX), FRAME_MORE},
		{FRAME_LEADS, FRAME_LEADS_LEN(FRAME_LEADS_MAX) + 1, FRAME_BAD},
		{10, FRAME_UNKNOWN_MAX, FRAME_MORE},
		{10, FRAME_UNKNOWN_MAX + 1, FRAME_BAD},
		{40, FRAME_MAX, FRAME_MORE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t hdr[FRAME_HDR];
		frame_header(hdr, cases[i].kind, "", 0);
		hdr[4] = (uint8_t)cases[i].len; /* the length field, little-endian */
		hdr[5] = (uint8_t)(cases[i].len >> 8);
		hdr[6] = (uint8_t)(cases[i].len >> 16);
		hdr[7] = (uint8_t)(cases[i].len >> 24);
		struct frame f;
		size_t used;
		const char *why = NULL;
		assert_int_equal(frame_parse(hdr, sizeof hdr, &f, &used, &why), cases[i].want);
		assert_int_equal(frame_kind_max(cases[i].kind) >= cases[i].len,
				 cases[i].want == FRAME_MORE);
	}
}

static void entries(void **state)
{
	(void)state;
	struct resp_arg a1[3] = {
		{(const uint8_t *)"SET", 3}, {(const uint8_t *)"k", 1}, {(const uint8_t *)"", 0}};
	struct resp_arg a2[2] = {{(const uint8_t *)"INCR", 4}, {(const uint8_t *)"n\0x", 3}};
	struct rbuf b;
	rbuf_init(&b);
	entry_header(&b, 1234567, 16, 2);
	entry_req_header(&b, &(struct entry_req_head){9, 10, 8, 3, false, false, false}, 1);
	entry_cmd_append(&b, a1, 3);
	/* a MULTI/EXEC of two commands */
	entry_req_header(&b, &(struct entry_req_head){.multi = true}, 2);
	entry_cmd_append(&b, a2, 2);
	entry_cmd_append(&b, a1, 3);
	struct entry e;
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_int_equal(e.time_ms, 1234567);
	assert_int_equal(e.dbs, 16);
	assert_int_equal(e.n_reqs, 2);
	assert_int_equal(e.reqs[0].h.session, 9);
	assert_int_equal(e.reqs[0].h.seq, 10);
	assert_int_equal(e.reqs[0].h.ack, 8);
	assert_int_equal(e.reqs[0].h.db, 3);
	assert_false(e.reqs[0].h.multi);
	assert_int_equal(e.reqs[1].h.db, 0);
	assert_true(e.reqs[1].h.multi);
	assert_int_equal(e.reqs[0].n_cmds, 1);
	assert_int_equal(e.reqs[0].cmds[0].argc, 3);
	assert_int_equal(e.reqs[0].cmds[0].argv[2].len, 0);
	assert_int_equal(e.reqs[1].n_cmds, 2);
	assert_int_equal(e.reqs[1].cmds[0].argv[1].len, 3);
	assert_memory_equal(e.reqs[1].cmds[0].argv[1].p, "n\0x", 3);
	entry_free(&e);
	for (size_t k = 0; k < b.len; k++)
		assert_int_equal(entry_decode(&e, b.p, k), KEEL_ECORRUPT);
	struct prng p;
	prng_seed(&p, 4);
	for (int round = 0; round < 20000; round++) { /* garbage never decodes badly */
		uint8_t g[64];
		size_t n = (size_t)prng_below(&p, sizeof g);
		for (size_t i = 0; i < n; i++)
			g[i] = (uint8_t)prng_below(&p, 4);
		if (n)
			g[0] = (uint8_t)(1 + prng_below(&p, 3)); /* versions 1 (never), 2, 3 */
		if (entry_decode(&e, g, n) == KEEL_OK)
			entry_free(&e);
	}
	rbuf_free(&b);
}

/* An entry as keel wrote them before databases (version 2) still decodes,
 * in database 0 of one; a count of databases outside 1 .. KV_DBS_MAX does
 * not. */
static void entries_v2_and_dbs(void **state)
{
	(void)state;
	struct resp_arg a[2] = {{(const uint8_t *)"INCR", 4}, {(const uint8_t *)"n", 1}};
	struct rbuf b;
	rbuf_init(&b);
	uint8_t v2 = 2;
	rbuf_put(&b, &v2, 1);
	rbuf_put_u64(&b, 77);
	rbuf_put_u32(&b, 1); /* requests */
	rbuf_put_u64(&b, 5); /* session */
	rbuf_put_u64(&b, 6); /* seq */
	rbuf_put_u32(&b, 1); /* commands */
	entry_cmd_append(&b, a, 2);
	struct entry e;
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_int_equal(e.time_ms, 77);
	assert_int_equal(e.dbs, 1);
	assert_int_equal(e.reqs[0].h.db, 0);
	assert_int_equal(e.reqs[0].h.seq, 6);
	assert_int_equal(e.reqs[0].h.ack, 0);
	assert_false(e.reqs[0].h.multi);
	assert_int_equal(e.reqs[0].cmds[0].argc, 2);
	entry_free(&e);
	b.len = 0; /* a version 2 request of two commands was a MULTI/EXEC */
	rbuf_put(&b, &v2, 1);
	rbuf_put_u64(&b, 77);
	rbuf_put_u32(&b, 1);
	rbuf_put_u64(&b, 5);
	rbuf_put_u64(&b, 7);
	rbuf_put_u32(&b, 2);
	entry_cmd_append(&b, a, 2);
	entry_cmd_append(&b, a, 2);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_true(e.reqs[0].h.multi);
	assert_int_equal(e.reqs[0].n_cmds, 2);
	entry_free(&e);
	const uint32_t bad_dbs[] = {0, KV_DBS_MAX + 1, UINT32_MAX};
	for (size_t i = 0; i < sizeof bad_dbs / sizeof *bad_dbs; i++) {
		b.len = 0;
		entry_header(&b, 1, bad_dbs[i], 1);
		entry_req_header(&b, &(struct entry_req_head){0}, 1);
		entry_cmd_append(&b, a, 2);
		assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_ECORRUPT);
	}
	b.len = 0; /* a database past the count decodes: applying it answers an error */
	entry_header(&b, 1, KV_DBS_MAX, 1);
	entry_req_header(&b, &(struct entry_req_head){.db = UINT32_MAX}, 1);
	entry_cmd_append(&b, a, 2);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_int_equal(e.reqs[0].h.db, UINT32_MAX);
	entry_free(&e);
	rbuf_free(&b);
}

static const struct resp_arg flushall[1] = {{(const uint8_t *)"FLUSHALL", 8}};

/* One request of one command, in a fresh buffer. */
static void one_entry(struct rbuf *b, const struct resp_arg *argv, uint32_t argc)
{
	b->len = 0;
	entry_header(b, 5, 16, 1);
	entry_req_header(b, &(struct entry_req_head){.session = 1, .seq = 1}, 1);
	entry_cmd_append(b, argv, argc);
}

/* The smallest entries decode: one request of a command of one argument
 * (FLUSHALL), and a command whose arguments are (nearly) empty; what is
 * not an entry does not: a version keel never wrote, no request, a request
 * of no command, a command of no argument, a byte past the end. */
static void entry_edges(void **state)
{
	(void)state;
	struct rbuf b;
	rbuf_init(&b);
	struct entry e;
	one_entry(&b, flushall, 1);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_int_equal(e.n_reqs, 1);
	assert_int_equal(e.reqs[0].n_cmds, 1);
	assert_int_equal(e.reqs[0].cmds[0].argc, 1);
	assert_memory_equal(e.reqs[0].cmds[0].argv[0].p, "FLUSHALL", 8);
	entry_free(&e);
	const struct resp_arg thin[3] = {
		{(const uint8_t *)"x", 1}, {(const uint8_t *)"", 0}, {(const uint8_t *)"", 0}};
	one_entry(&b, thin, 3);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_int_equal(e.reqs[0].cmds[0].argc, 3);
	assert_int_equal(e.reqs[0].cmds[0].argv[2].len, 0);
	entry_free(&e);
	b.p[b.len++] = 0; /* a byte past the end */
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_ECORRUPT);
	one_entry(&b, flushall, 1);
	const uint8_t versions[] = {0, 1, 4, 255};
	for (size_t i = 0; i < sizeof versions; i++) {
		b.p[0] = versions[i];
		assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_ECORRUPT);
	}
	b.len = 0; /* no request */
	entry_header(&b, 5, 16, 0);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_ECORRUPT);
	b.len = 0; /* a request of no command */
	entry_header(&b, 5, 16, 1);
	entry_req_header(&b, &(struct entry_req_head){0}, 0);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_ECORRUPT);
	b.len = 0; /* a command of no argument */
	entry_header(&b, 5, 16, 1);
	entry_req_header(&b, &(struct entry_req_head){0}, 1);
	entry_cmd_append(&b, flushall, 0);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_ECORRUPT);
	/* a held write, then marked sent again where its header starts; the
	 * flags' byte with any other bit is corrupt */
	b.len = 0;
	entry_header(&b, 5, 16, 1);
	size_t req = b.len;
	entry_req_header(&b, &(struct entry_req_head){.session = 3, .seq = 4, .held = true}, 1);
	entry_cmd_append(&b, flushall, 1);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_true(e.reqs[0].h.held);
	assert_false(e.reqs[0].h.resend);
	assert_false(e.reqs[0].h.multi);
	entry_free(&e);
	entry_req_mark_resend(b.p + req);
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_true(e.reqs[0].h.held);
	assert_true(e.reqs[0].h.resend);
	assert_int_equal(e.reqs[0].h.seq, 4);
	entry_free(&e);
	for (unsigned bit = 3; bit < 8; bit++) {
		b.p[req + 28] = (uint8_t)(1u << bit);
		assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_ECORRUPT);
	}
	b.p[req + 28] = 7; /* every flag known */
	assert_int_equal(entry_decode(&e, b.p, b.len), KEEL_OK);
	assert_true(e.reqs[0].h.multi && e.reqs[0].h.held && e.reqs[0].h.resend);
	entry_free(&e);
	rbuf_free(&b);
}

/* A request holds at most ENTRY_CMDS_MAX commands (a MULTI/EXEC's). */
static void entry_cmds_max(void **state)
{
	(void)state;
	struct rbuf b;
	rbuf_init(&b);
	struct entry e;
	for (uint32_t n = ENTRY_CMDS_MAX; n <= ENTRY_CMDS_MAX + 1; n++) {
		b.len = 0;
		entry_header(&b, 5, 16, 1);
		entry_req_header(&b, &(struct entry_req_head){.multi = true}, n);
		for (uint32_t k = 0; k < n; k++)
			entry_cmd_append(&b, flushall, 1);
		int rc = entry_decode(&e, b.p, b.len);
		assert_int_equal(rc, n == ENTRY_CMDS_MAX ? KEEL_OK : KEEL_ECORRUPT);
		if (rc == KEEL_OK) {
			assert_int_equal(e.reqs[0].n_cmds, ENTRY_CMDS_MAX);
			entry_free(&e);
		}
	}
	rbuf_free(&b);
}

/* One command alone (what a request keeps until it is proposed): decoded
 * into an array grown as needed; a malformed or overlong one is refused. */
static void commands(void **state)
{
	(void)state;
	const struct resp_arg set[3] = {
		{(const uint8_t *)"SET", 3}, {(const uint8_t *)"k", 1}, {(const uint8_t *)"", 0}};
	struct resp_arg *argv = NULL;
	uint32_t cap = 0, argc = 0;
	struct rbuf b;
	rbuf_init(&b);
	entry_cmd_append(&b, set, 3);
	assert_int_equal(entry_cmd_decode(b.p, b.len, &argv, &cap, &argc), KEEL_OK);
	assert_int_equal(argc, 3);
	assert_true(cap >= 3);
	assert_memory_equal(argv[1].p, "k", 1);
	assert_int_equal(argv[2].len, 0);
	b.len = 0;
	entry_cmd_append(&b, flushall, 1);
	assert_int_equal(entry_cmd_decode(b.p, b.len, &argv, &cap, &argc), KEEL_OK);
	assert_int_equal(argc, 1);
	assert_memory_equal(argv[0].p, "FLUSHALL", 8);
	const struct resp_arg thin[3] = {
		{(const uint8_t *)"x", 1}, {(const uint8_t *)"", 0}, {(const uint8_t *)"", 0}};
	b.len = 0;
	entry_cmd_append(&b, thin, 3);
	assert_int_equal(entry_cmd_decode(b.p, b.len, &argv, &cap, &argc), KEEL_OK);
	assert_int_equal(argc, 3);
	b.p[b.len++] = 'x'; /* a byte past the end */
	assert_int_equal(entry_cmd_decode(b.p, b.len, &argv, &cap, &argc), KEEL_ECORRUPT);
	b.len = 0;
	entry_cmd_append(&b, set, 0); /* no argument */
	assert_int_equal(entry_cmd_decode(b.p, b.len, &argv, &cap, &argc), KEEL_ECORRUPT);
	b.len = 0;
	entry_cmd_append(&b, set, 3);
	for (size_t k = 0; k < b.len; k++)
		assert_int_equal(entry_cmd_decode(b.p, k, &argv, &cap, &argc), KEEL_ECORRUPT);
	/* one argument read without the rest: only where it is whole */
	struct resp_arg a;
	assert_true(entry_cmd_arg(b.p, b.len, 0, &a));
	assert_int_equal(a.len, 3);
	assert_memory_equal(a.p, "SET", 3);
	assert_true(entry_cmd_arg(b.p, b.len, 1, &a));
	assert_int_equal(a.len, 1);
	assert_memory_equal(a.p, "k", 1);
	assert_true(entry_cmd_arg(b.p, b.len, 2, &a));
	assert_int_equal(a.len, 0);
	assert_false(entry_cmd_arg(b.p, b.len, 3, &a));
	rbuf_put_u32(&b, 1); /* bytes past the command: not an argument of it */
	rbuf_put(&b, "x", 1);
	assert_false(entry_cmd_arg(b.p, b.len, 3, &a));
	b.len -= 5;
	size_t whole = 4 + 4 + 3 + 4 + 1; /* argc, "SET", "k" */
	for (size_t k = 0; k < b.len; k++)
		assert_int_equal(entry_cmd_arg(b.p, k, 1, &a), k >= whole);
	b.len = 0;
	entry_cmd_append(&b, flushall, 1);
	assert_true(entry_cmd_arg(b.p, b.len, 0, &a));
	assert_false(entry_cmd_arg(b.p, b.len, 1, &a));
	assert_false(entry_cmd_arg(b.p, 0, 0, &a));
	b.len = 0;
	rbuf_put_u32(&b, UINT32_MAX); /* a count with nothing after it */
	assert_false(entry_cmd_arg(b.p, b.len, 1000000, &a));
	keel_free(argv);
	rbuf_free(&b);
}

static void hellos(void **state)
{
	(void)state;
	struct frame_hello h = {.id = 7, .client_port = 7001, .sentinel_port = 26379}, d;
	snprintf(h.peer_addr, sizeof h.peer_addr, "127.0.0.7:17007");
	snprintf(h.client_host, sizeof h.client_host, "10.1.2.3");
	uint8_t buf[FRAME_HELLO_MAX + 8];
	size_t n = frame_hello_encode(&h, buf);
	assert_true(n > 0 && n <= FRAME_HELLO_OLD_MAX); /* older nodes take it */
	assert_true(frame_hello_decode(buf, n, &d));
	assert_memory_equal(&d, &h, sizeof h);
	/* what an older node sends, and what it reads of ours: the address */
	assert_true(frame_hello_decode(buf, 8 + strlen(h.peer_addr), &d));
	assert_int_equal(d.id, 7);
	assert_string_equal(d.peer_addr, "127.0.0.7:17007");
	assert_int_equal(d.client_port, 0);
	assert_string_equal((const char *)buf + 8, "127.0.0.7:17007");
	/* every cut of the tail, and a client port of 0, tell nothing */
	for (size_t k = 8 + strlen(h.peer_addr) + 1; k < n; k++)
		assert_false(frame_hello_decode(buf, k, &d));
	assert_false(frame_hello_decode(buf, 8, &d)); /* no address */
	uint8_t bad[FRAME_HELLO_MAX + 8];
	memcpy(bad, buf, n);
	bad[8 + strlen(h.peer_addr) + 1] = bad[8 + strlen(h.peer_addr) + 2] = 0;
	assert_false(frame_hello_decode(bad, n, &d));
	memcpy(bad, buf, n);
	memset(bad, 0, 8); /* node id 0 */
	assert_false(frame_hello_decode(bad, n, &d));
	for (size_t k = 8; k < n; k++) { /* a space, a control byte, a high byte */
		if (k >= 8 + strlen(h.peer_addr) && k < 8 + strlen(h.peer_addr) + 5)
			continue; /* the separator and the ports (the length is checked) */
		const uint8_t odd[] = {' ', '\n', 0x80};
		for (size_t j = 0; j < sizeof odd; j++) {
			memcpy(bad, buf, n);
			bad[k] = odd[j];
			assert_false(frame_hello_decode(bad, n, &d));
		}
	}
	memset(bad, 'a', sizeof bad); /* longer than any HELLO */
	bad[0] = 1;
	assert_false(frame_hello_decode(bad, FRAME_HELLO_MAX + 1, &d));
	memset(h.client_host, 'h', sizeof h.client_host - 1); /* the longest that fits */
	h.client_host[sizeof h.client_host - 1] = 0;
	memset(h.peer_addr, 'p', sizeof h.peer_addr - 1);
	h.peer_addr[sizeof h.peer_addr - 1] = 0;
	n = frame_hello_encode(&h, buf);
	assert_int_equal(n, FRAME_HELLO_MAX);
	assert_true(frame_hello_decode(buf, n, &d));
	assert_memory_equal(&d, &h, sizeof h);
	h.client_host[0] = 0; /* a client port with no host: not encoded */
	assert_int_equal(frame_hello_encode(&h, buf), 0);
	struct prng p;
	prng_seed(&p, 9);
	for (int round = 0; round < 20000; round++) { /* garbage: decoded or refused */
		size_t len = (size_t)prng_below(&p, sizeof bad);
		for (size_t i = 0; i < len; i++)
			bad[i] = (uint8_t)(i == 8 + 5 ? 0 : 0x20 + prng_below(&p, 0x60));
		if (frame_hello_decode(bad, len, &d))
			assert_true(d.id && strlen(d.peer_addr) < FRAME_ADDR_MAX);
	}
}

/* A GROUP frame's payload: a group 1..FRAME_GROUP_MAX, one of the four
 * kinds a group's frames have, and an inner payload within that kind's
 * bound; anything else does not open. */
static void groups(void **state)
{
	(void)state;
	static const struct {
		uint32_t group;
		uint8_t kind;
		size_t inner;
		bool ok;
	} cases[] = {
		{1, FRAME_RAFT, 0, true},
		{FRAME_GROUP_MAX, FRAME_RAFT, 40, true},
		{0, FRAME_RAFT, 40, false}, /* group 0's frames go as themselves */
		{FRAME_GROUP_MAX + 1, FRAME_RAFT, 40, false},
		{UINT32_MAX, FRAME_FORWARD, 4, false},
		{7, FRAME_FORWARD, 4, true},
		{7, FRAME_REPLY, 4, true},
		{7, FRAME_REMOVED, 8, true},
		{7, FRAME_REMOVED, 9, false},
		{7, FRAME_QUIET, FRAME_QUIET_LEN, true},
		{7, FRAME_QUIET, FRAME_QUIET_LEN + 1, false},
		{7, FRAME_LIVE, FRAME_LIVE_LEN, false}, /* a node's, not a group's */
		{7, FRAME_HELLO, 9, false},
		{7, FRAME_GROUP, 9, false},
		{7, 40, 9, false},
	};
	uint8_t p[FRAME_GROUP_HDR + 64];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		frame_group_header(p, cases[i].group, cases[i].kind);
		memset(p + FRAME_GROUP_HDR, 0xab, cases[i].inner);
		uint32_t id = 0;
		uint8_t kind = 0;
		const uint8_t *inner = NULL;
		size_t n = 0;
		bool ok = frame_group_open(p, FRAME_GROUP_HDR + cases[i].inner, &id, &kind, &inner,
					   &n);
		assert_int_equal(ok, cases[i].ok);
		if (ok) {
			assert_int_equal(id, cases[i].group);
			assert_int_equal(kind, cases[i].kind);
			assert_ptr_equal(inner, p + FRAME_GROUP_HDR);
			assert_int_equal(n, cases[i].inner);
		}
	}
	for (size_t k = 0; k < FRAME_GROUP_HDR; k++) { /* too short to hold a group */
		uint32_t id;
		uint8_t kind;
		const uint8_t *inner;
		size_t n;
		frame_group_header(p, 1, FRAME_RAFT);
		assert_false(frame_group_open(p, k, &id, &kind, &inner, &n));
	}
}

/* QUIET and LIVE payloads: what encodes decodes to the same; a wrong
 * length, an op other than SLEEP or WAKE, term 0, a WAKE naming an index,
 * or a LIVE incarnation of 0 does not decode. */
static void quiet_and_live(void **state)
{
	(void)state;
	uint8_t b[FRAME_QUIET_LEN + 1] = {0};
	struct frame_quiet q, in[] = {{FRAME_QUIET_SLEEP, 1, 0},
				      {FRAME_QUIET_SLEEP, UINT64_MAX, UINT64_MAX},
				      {FRAME_QUIET_WAKE, 7, 0}};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		frame_quiet_encode(&in[i], b);
		assert_true(frame_quiet_decode(b, FRAME_QUIET_LEN, &q));
		assert_int_equal(q.op, in[i].op);
		assert_true(q.term == in[i].term && q.index == in[i].index);
		assert_false(frame_quiet_decode(b, FRAME_QUIET_LEN - 1, &q));
		assert_false(frame_quiet_decode(b, FRAME_QUIET_LEN + 1, &q));
	}
	struct frame_quiet bad[] = {{0, 1, 0}, {3, 1, 0}, {FRAME_QUIET_SLEEP, 0, 5},
				    {FRAME_QUIET_WAKE, 0, 0}, {FRAME_QUIET_WAKE, 1, 1}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		frame_quiet_encode(&bad[i], b);
		assert_false(frame_quiet_decode(b, FRAME_QUIET_LEN, &q));
	}
	uint64_t inc = 0;
	bytes_put_u64(b, 0x0102030405060708ull);
	assert_true(frame_live_decode(b, FRAME_LIVE_LEN, &inc));
	assert_true(inc == 0x0102030405060708ull);
	assert_false(frame_live_decode(b, FRAME_LIVE_LEN - 1, &inc));
	assert_false(frame_live_decode(b, FRAME_LIVE_LEN + 1, &inc));
	bytes_put_u64(b, 0);
	assert_false(frame_live_decode(b, FRAME_LIVE_LEN, &inc));
}

/* LEADS: shards and terms round trip, from none to FRAME_LEADS_MAX; a
 * length, shard or term out of range, or shards out of order, refused. */
static void leads(void **state)
{
	(void)state;
	static struct frame_lead l[FRAME_LEADS_MAX], got[FRAME_LEADS_MAX];
	static uint8_t b[FRAME_LEADS_LEN(FRAME_LEADS_MAX) + 12];
	uint32_t n = 99;
	frame_leads_encode(l, 0, b);
	assert_true(frame_leads_decode(b, FRAME_LEADS_LEN(0), got, &n));
	assert_int_equal(n, 0);
	for (uint32_t i = 0; i < FRAME_LEADS_MAX; i++)
		l[i] = (struct frame_lead){i, i == FRAME_LEADS_MAX - 1 ? UINT64_MAX : i + 1};
	frame_leads_encode(l, FRAME_LEADS_MAX, b);
	assert_true(frame_leads_decode(b, FRAME_LEADS_LEN(FRAME_LEADS_MAX), got, &n));
	assert_int_equal(n, FRAME_LEADS_MAX);
	assert_memory_equal(got, l, sizeof l);
	assert_int_equal(frame_kind_max(FRAME_LEADS), FRAME_LEADS_LEN(FRAME_LEADS_MAX));
	/* lengths: short of its count, past it, no count */
	assert_false(frame_leads_decode(b, FRAME_LEADS_LEN(FRAME_LEADS_MAX) - 1, got, &n));
	assert_false(frame_leads_decode(b, FRAME_LEADS_LEN(FRAME_LEADS_MAX) + 1, got, &n));
	assert_false(frame_leads_decode(b, 3, got, &n));
	bytes_put_u32(b, FRAME_LEADS_MAX + 1); /* a count past the most */
	assert_false(frame_leads_decode(b, FRAME_LEADS_LEN(FRAME_LEADS_MAX + 1), got, &n));
	static const struct frame_lead bad[][2] = {
		{{1, 5}, {1, 6}},		/* a shard twice */
		{{2, 5}, {1, 6}},		/* out of order */
		{{1, 0}, {2, 6}},		/* term 0 */
		{{1, 5}, {FRAME_GROUP_MAX, 6}}, /* the metadata group's id */
		{{1, 5}, {UINT32_MAX, 6}},	/* a shard past any */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		frame_leads_encode(bad[i], 2, b);
		assert_false(frame_leads_decode(b, FRAME_LEADS_LEN(2), got, &n));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames),
		cmocka_unit_test(kind_limits),
		cmocka_unit_test(leads),
		cmocka_unit_test(entries),
		cmocka_unit_test(entries_v2_and_dbs),
		cmocka_unit_test(hellos),
		cmocka_unit_test(entry_edges),
		cmocka_unit_test(entry_cmds_max),
		cmocka_unit_test(commands),
		cmocka_unit_test(groups),
		cmocka_unit_test(quiet_and_live),
	};
	return UNIT_RUN("frame", tests);
}
