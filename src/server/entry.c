/* server/entry.c — the command entry of server/entry.h.
 *
 * FORMAT, version 3 (little-endian): u8 version (3), i64 time_ms, u32 dbs
 * (1 .. KV_DBS_MAX), u32 n_reqs; then per request: u64 session, u64 seq,
 * u64 ack, u32 db, u8 flags (ENTRY_MULTI: a MULTI/EXEC, answered with an
 * array even of one reply; ENTRY_HELD: a plain connection's write, refused
 * when its session's write before it was refused for a slot; ENTRY_RESEND:
 * one such sent again, which is not; no other bit may be set), u32
 * n_cmds; then per
 * command: u32 argc, then per argument: u32 length, bytes. Version 2 (no
 * dbs, ack, db or flags) is still decoded, as database 0 of a keyspace of
 * one, ack 0, and a MULTI/EXEC wherever a request has more than one
 * command: what keel had when it wrote them. A request's db is not
 * checked here: one at or past dbs gets an error reply when it is
 * applied, the same on every replica. */
#include "server/entry.h"

#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "kv/kv.h"

#define ENTRY_VERSION	 3
#define ENTRY_VERSION_V2 2 /* before databases and the session's ack */
#define ENTRY_MULTI	 1
#define ENTRY_HELD	 2
#define ENTRY_RESEND	 4
#define ENTRY_FLAGS_AT	 28 /* in a request's header: session, seq, ack, db */

void entry_header(struct rbuf *out, int64_t time_ms, uint32_t dbs, uint32_t n_reqs)
{
	uint8_t v = ENTRY_VERSION;
	rbuf_put(out, &v, 1);
	rbuf_put_u64(out, (uint64_t)time_ms);
	rbuf_put_u32(out, dbs);
	rbuf_put_u32(out, n_reqs);
}

void entry_req_header(struct rbuf *out, const struct entry_req_head *h, uint32_t n_cmds)
{
	rbuf_put_u64(out, h->session);
	rbuf_put_u64(out, h->seq);
	rbuf_put_u64(out, h->ack);
	rbuf_put_u32(out, h->db);
	uint8_t flags = (uint8_t)((h->multi ? ENTRY_MULTI : 0) | (h->held ? ENTRY_HELD : 0) |
				  (h->resend ? ENTRY_RESEND : 0));
	rbuf_put(out, &flags, 1);
	rbuf_put_u32(out, n_cmds);
}

void entry_req_mark_resend(uint8_t *req)
{
	req[ENTRY_FLAGS_AT] |= ENTRY_RESEND;
}

void entry_cmd_append(struct rbuf *out, const struct resp_arg *argv, uint32_t argc)
{
	rbuf_put_u32(out, argc);
	for (uint32_t k = 0; k < argc; k++) {
		rbuf_put_u32(out, (uint32_t)argv[k].len);
		rbuf_put(out, argv[k].p, argv[k].len);
	}
}

/* Reads one command: returns its argument count (0: malformed) and puts
 * its arguments in argv unless NULL (a first read sizes argv). */
static uint32_t read_cmd(struct bytes_reader *r, struct resp_arg *argv)
{
	uint32_t argc = bytes_read_u32(r);
	if (r->err || argc == 0 || argc > bytes_reader_left(r) / 4)
		return 0;
	for (uint32_t k = 0; k < argc; k++) {
		uint32_t len = bytes_read_u32(r);
		const uint8_t *a = bytes_read_raw(r, len);
		if (r->err)
			return 0;
		if (argv)
			argv[k] = (struct resp_arg){len ? a : (const uint8_t *)"", len};
	}
	return argc;
}

/* Reads an entry's requests: counts them, their commands and arguments
 * (e == NULL), or fills e's arrays, already sized by a counting pass. */
static bool walk(const uint8_t *p, size_t n, struct entry *e, uint32_t *n_reqs, size_t *n_cmds,
		 size_t *n_args)
{
	struct bytes_reader r;
	bytes_reader_init(&r, p, n);
	uint8_t version = bytes_read_u8(&r);
	if (version != ENTRY_VERSION && version != ENTRY_VERSION_V2)
		return false;
	bool v2 = version == ENTRY_VERSION_V2;
	int64_t time_ms = (int64_t)bytes_read_u64(&r);
	uint32_t dbs = v2 ? 1 : bytes_read_u32(&r);
	uint32_t reqs = bytes_read_u32(&r);
	size_t req_min = v2 ? 20 : 33; /* a request's header */
	if (r.err || dbs == 0 || dbs > KV_DBS_MAX || reqs == 0 ||
	    reqs > bytes_reader_left(&r) / req_min)
		return false;
	size_t cmds = 0, args = 0;
	for (uint32_t i = 0; i < reqs && !r.err; i++) {
		uint64_t session = bytes_read_u64(&r);
		uint64_t seq = bytes_read_u64(&r);
		uint64_t ack = v2 ? 0 : bytes_read_u64(&r);
		uint32_t db = v2 ? 0 : bytes_read_u32(&r);
		uint8_t flags = v2 ? 0 : bytes_read_u8(&r);
		uint32_t k_cmds = bytes_read_u32(&r);
		if (r.err || k_cmds == 0 || k_cmds > ENTRY_CMDS_MAX ||
		    k_cmds > bytes_reader_left(&r) / 4 ||
		    (flags & ~(ENTRY_MULTI | ENTRY_HELD | ENTRY_RESEND)))
			return false;
		bool multi = v2 ? k_cmds > 1 : (flags & ENTRY_MULTI) != 0;
		if (e)
			e->reqs[i] = (struct entry_req){{session, seq, ack, db, multi,
							 (flags & ENTRY_HELD) != 0,
							 (flags & ENTRY_RESEND) != 0},
							&e->cmd_store[cmds],
							k_cmds};
		for (uint32_t k = 0; k < k_cmds; k++, cmds++) {
			uint32_t argc = read_cmd(&r, e ? &e->arg_store[args] : NULL);
			if (!argc)
				return false;
			if (e)
				e->cmd_store[cmds] = (struct entry_cmd){&e->arg_store[args], argc};
			args += argc;
		}
	}
	if (r.err || bytes_reader_left(&r))
		return false;
	if (e) {
		e->time_ms = time_ms;
		e->dbs = dbs;
		e->n_reqs = reqs;
	}
	*n_reqs = reqs;
	*n_cmds = cmds;
	*n_args = args;
	return true;
}

/* One allocation holds the requests, their commands and their arguments
 * (which point into p). */
int entry_decode(struct entry *e, const uint8_t *p, size_t n)
{
	memset(e, 0, sizeof *e);
	uint32_t reqs;
	size_t cmds, args;
	if (!walk(p, n, NULL, &reqs, &cmds, &args))
		return KEEL_ECORRUPT;
	size_t at_cmds = reqs * sizeof *e->reqs;
	size_t at_args = at_cmds + cmds * sizeof *e->cmd_store;
	uint8_t *block = keel_malloc(at_args + args * sizeof *e->arg_store);
	e->reqs = (struct entry_req *)block;
	e->cmd_store = (struct entry_cmd *)(block + at_cmds);
	e->arg_store = (struct resp_arg *)(block + at_args);
	if (!walk(p, n, e, &reqs, &cmds, &args)) { /* cannot happen: it was read once */
		entry_free(e);
		return KEEL_ECORRUPT;
	}
	return KEEL_OK;
}

void entry_free(struct entry *e)
{
	keel_free(e->reqs); /* the block */
	memset(e, 0, sizeof *e);
}

bool entry_cmd_arg(const uint8_t *p, size_t n, uint32_t k, struct resp_arg *arg)
{
	struct bytes_reader r;
	bytes_reader_init(&r, p, n);
	uint32_t argc = bytes_read_u32(&r);
	for (uint32_t i = 0; i < argc; i++) { /* returns at k or before */
		uint32_t len = bytes_read_u32(&r);
		const uint8_t *a = bytes_read_raw(&r, len);
		if (r.err)
			return false;
		if (i == k) {
			*arg = (struct resp_arg){len ? a : (const uint8_t *)"", len};
			return true;
		}
	}
	return false;
}

int entry_cmd_decode(const uint8_t *p, size_t n, struct resp_arg **argv, uint32_t *cap,
		     uint32_t *argc)
{
	struct bytes_reader r;
	bytes_reader_init(&r, p, n);
	uint32_t k = read_cmd(&r, NULL);
	if (!k || bytes_reader_left(&r))
		return KEEL_ECORRUPT;
	if (k > *cap) {
		keel_free(*argv);
		*argv = keel_malloc(k * sizeof **argv);
		*cap = k;
	}
	bytes_reader_init(&r, p, n);
	*argc = read_cmd(&r, *argv);
	return KEEL_OK;
}
