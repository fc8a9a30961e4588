/* tests/unit/test_frame.c — src/net/frame.c and src/server/entry.c: the
 * peer envelope and the command entry survive a round trip; every
 * truncation waits for more, every flipped byte is refused, and a bad
 * entry never decodes. */
#include <string.h>

#include "unit.h"

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

static void entries(void **state)
{
	(void)state;
	struct resp_arg a1[3] = {
		{(const uint8_t *)"SET", 3}, {(const uint8_t *)"k", 1}, {(const uint8_t *)"", 0}};
	struct resp_arg a2[2] = {{(const uint8_t *)"INCR", 4}, {(const uint8_t *)"n\0x", 3}};
	struct rbuf b;
	rbuf_init(&b);
	entry_header(&b, 1234567, 16, 2);
	entry_req_header(&b, &(struct entry_req_head){9, 10, 8, 3, false}, 1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames),
		cmocka_unit_test(entries),
		cmocka_unit_test(entries_v2_and_dbs),
	};
	return UNIT_RUN("frame", tests);
}
