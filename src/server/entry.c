/* server/entry.c — the command entry of server/entry.h.
 *
 * FORMAT (little-endian): u8 version (1), i64 time_ms, u64 session,
 * u64 seq, u32 n_cmds, then per command: u32 argc, then per argument:
 * u32 length, bytes. */
#include "server/entry.h"

#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"

static void put32(struct rbuf *b, uint32_t v)
{
	bytes_put_u32(rbuf_reserve(b, 4), v);
	b->len += 4;
}

static void put64(struct rbuf *b, uint64_t v)
{
	bytes_put_u64(rbuf_reserve(b, 8), v);
	b->len += 8;
}

void entry_header(struct rbuf *out, int64_t time_ms, uint64_t session, uint64_t seq,
		  uint32_t n_cmds)
{
	rbuf_put(out, "\x01", 1);
	put64(out, (uint64_t)time_ms);
	put64(out, session);
	put64(out, seq);
	put32(out, n_cmds);
}

void entry_cmd_append(struct rbuf *out, const struct resp_arg *argv, uint32_t argc)
{
	put32(out, argc);
	for (uint32_t k = 0; k < argc; k++) {
		put32(out, (uint32_t)argv[k].len);
		rbuf_put(out, argv[k].p, argv[k].len);
	}
}

void entry_encode(struct rbuf *out, int64_t time_ms, uint64_t session, uint64_t seq,
		  const struct entry_cmd *cmds, uint32_t n)
{
	entry_header(out, time_ms, session, seq, n);
	for (uint32_t i = 0; i < n; i++)
		entry_cmd_append(out, cmds[i].argv, cmds[i].argc);
}

int entry_decode(struct entry *e, const uint8_t *p, size_t n)
{
	memset(e, 0, sizeof *e);
	struct bytes_reader r;
	bytes_reader_init(&r, p, n);
	if (bytes_read_u8(&r) != 1)
		return KEEL_ECORRUPT;
	e->time_ms = (int64_t)bytes_read_u64(&r);
	e->session = bytes_read_u64(&r);
	e->seq = bytes_read_u64(&r);
	e->n_cmds = bytes_read_u32(&r);
	if (r.err || e->n_cmds == 0 || e->n_cmds > ENTRY_CMDS_MAX ||
	    e->n_cmds > bytes_reader_left(&r) / 4)
		return KEEL_ECORRUPT;
	e->cmds = keel_calloc(e->n_cmds, sizeof *e->cmds);
	for (uint32_t i = 0; i < e->n_cmds && !r.err; i++) {
		uint32_t argc = bytes_read_u32(&r);
		if (r.err || argc == 0 || argc > bytes_reader_left(&r) / 4) {
			r.err = true;
			break;
		}
		e->cmds[i].argc = argc;
		e->cmds[i].argv = keel_calloc(argc, sizeof *e->cmds[i].argv);
		for (uint32_t k = 0; k < argc && !r.err; k++) {
			uint32_t len = bytes_read_u32(&r);
			const uint8_t *a = bytes_read_raw(&r, len);
			e->cmds[i].argv[k].p = a && len ? a : (const uint8_t *)"";
			e->cmds[i].argv[k].len = len;
		}
	}
	if (r.err || bytes_reader_left(&r)) {
		entry_free(e);
		return KEEL_ECORRUPT;
	}
	return KEEL_OK;
}

void entry_free(struct entry *e)
{
	for (uint32_t i = 0; i < e->n_cmds; i++)
		keel_free(e->cmds[i].argv);
	keel_free(e->cmds);
	memset(e, 0, sizeof *e);
}
