/* server/entry.c — the command entry of server/entry.h.
 *
 * FORMAT (little-endian): u8 version (2), i64 time_ms, u32 n_reqs; then
 * per request: u64 session, u64 seq, u32 n_cmds; then per command:
 * u32 argc, then per argument: u32 length, bytes. */
#include "server/entry.h"

#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"

#define ENTRY_VERSION 2

void entry_header(struct rbuf *out, int64_t time_ms, uint32_t n_reqs)
{
	uint8_t v = ENTRY_VERSION;
	rbuf_put(out, &v, 1);
	rbuf_put_u64(out, (uint64_t)time_ms);
	rbuf_put_u32(out, n_reqs);
}

void entry_req_header(struct rbuf *out, uint64_t session, uint64_t seq, uint32_t n_cmds)
{
	rbuf_put_u64(out, session);
	rbuf_put_u64(out, seq);
	rbuf_put_u32(out, n_cmds);
}

void entry_cmd_append(struct rbuf *out, const struct resp_arg *argv, uint32_t argc)
{
	rbuf_put_u32(out, argc);
	for (uint32_t k = 0; k < argc; k++) {
		rbuf_put_u32(out, (uint32_t)argv[k].len);
		rbuf_put(out, argv[k].p, argv[k].len);
	}
}

static bool read_cmd(struct bytes_reader *r, struct entry_cmd *c)
{
	uint32_t argc = bytes_read_u32(r);
	if (r->err || argc == 0 || argc > bytes_reader_left(r) / 4)
		return false;
	c->argc = argc;
	c->argv = keel_calloc(argc, sizeof *c->argv);
	for (uint32_t k = 0; k < argc && !r->err; k++) {
		uint32_t len = bytes_read_u32(r);
		const uint8_t *a = bytes_read_raw(r, len);
		c->argv[k].p = a && len ? a : (const uint8_t *)"";
		c->argv[k].len = len;
	}
	return !r->err;
}

int entry_decode(struct entry *e, const uint8_t *p, size_t n)
{
	memset(e, 0, sizeof *e);
	struct bytes_reader r;
	bytes_reader_init(&r, p, n);
	if (bytes_read_u8(&r) != ENTRY_VERSION)
		return KEEL_ECORRUPT;
	e->time_ms = (int64_t)bytes_read_u64(&r);
	e->n_reqs = bytes_read_u32(&r);
	if (r.err || e->n_reqs == 0 || e->n_reqs > bytes_reader_left(&r) / 20)
		return KEEL_ECORRUPT;
	e->reqs = keel_calloc(e->n_reqs, sizeof *e->reqs);
	for (uint32_t i = 0; i < e->n_reqs && !r.err; i++) {
		struct entry_req *q = &e->reqs[i];
		q->session = bytes_read_u64(&r);
		q->seq = bytes_read_u64(&r);
		q->n_cmds = bytes_read_u32(&r);
		if (r.err || q->n_cmds == 0 || q->n_cmds > ENTRY_CMDS_MAX ||
		    q->n_cmds > bytes_reader_left(&r) / 4) {
			r.err = true;
			break;
		}
		q->cmds = keel_calloc(q->n_cmds, sizeof *q->cmds);
		for (uint32_t k = 0; k < q->n_cmds && !r.err; k++)
			if (!read_cmd(&r, &q->cmds[k]))
				r.err = true;
	}
	if (r.err || bytes_reader_left(&r)) {
		entry_free(e);
		return KEEL_ECORRUPT;
	}
	return KEEL_OK;
}

void entry_free(struct entry *e)
{
	for (uint32_t i = 0; i < e->n_reqs; i++) {
		for (uint32_t k = 0; e->reqs[i].cmds && k < e->reqs[i].n_cmds; k++)
			keel_free(e->reqs[i].cmds[k].argv);
		keel_free(e->reqs[i].cmds);
	}
	keel_free(e->reqs);
	memset(e, 0, sizeof *e);
}

int entry_cmd_decode(const uint8_t *p, size_t n, struct resp_arg **argv, uint32_t *argc)
{
	struct bytes_reader r;
	bytes_reader_init(&r, p, n);
	struct entry_cmd c = {0};
	if (!read_cmd(&r, &c) || bytes_reader_left(&r)) {
		keel_free(c.argv);
		return KEEL_ECORRUPT;
	}
	*argv = c.argv;
	*argc = c.argc;
	return KEEL_OK;
}
