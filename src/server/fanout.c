/* server/fanout.c — the keyspace commands on a node of several shards:
 * DBSIZE, KEYS, RANDOMKEY, FLUSHDB and FLUSHALL over every shard, SCAN
 * over the shard its cursor names.
 *
 * Such a command is a request of its connection's order like any other:
 * it starts once every request before it is answered (as a server command
 * does: requests_defer), and the ones after it wait until it is answered
 * (client.n_fanout makes them held: requests_hold). It runs as parts, one
 * shard after another in shard order, each part the same command as a
 * request of this node's own to that shard (a read through the shard's
 * read index, a write through its log, on whichever node serves it),
 * answered with the parts' replies put together:
 * - DBSIZE the sum of the shards' counts, KEYS their keys shard by shard;
 * - RANDOMKEY the first key drawn, from a shard taken in turn from one
 *   that changes with each command (nil only if no shard has a key);
 * - FLUSHDB / FLUSHALL +OK once every shard has flushed; a shard's error
 *   ends it: answered as is if it came first (nothing flushed), else
 *   saying how many shards did flush before it (the rest were not sent
 *   it);
 * - SCAN: the cursor is the shard's own cursor times FANOUT_SPAN plus the
 *   shard's index, starting at 0 (shard 0, its start); the shard's next
 *   cursor is given back so, and where a shard's scan ends the next
 *   shard's starts, the last one's end being 0.
 * Each shard answers at a linearizable point of its own within the
 * request, not one point for all: a key whose slot moves between shards
 * while it runs may be counted, listed or scanned twice or not at all, as
 * summing a Redis Cluster's masters' answers may (docs/shards.md). Each
 * shard answers for the slots it serves (kv/keys.c). A read error of a
 * part (no leader in time, say) is the command's answer. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "resp/encode.h"
#include "server/entry.h"
#include "server/server.h"

/* A SCAN cursor's shard: its remainder by this (every shard index is
 * below it: a shard serves at least one of the KV_SLOTS slots). */
#define FANOUT_SPAN KV_SLOTS

enum kind { F_DBSIZE, F_KEYS, F_RANDOMKEY, F_FLUSH, F_SCAN };

struct fanout {
	enum kind kind;
	struct rbuf cmd;  /* the part's command (entry_cmd_append's bytes) */
	uint32_t db;	  /* the connection's database when it was sent */
	uint32_t first;	  /* the shard of the first part */
	uint32_t done;	  /* parts answered */
	uint32_t parts;	  /* parts in all */
	int64_t count;	  /* DBSIZE: the sum; KEYS: keys gathered */
	struct rbuf keys; /* KEYS: the keys' bulk strings, back to back */
};

static const char *const names[] = {"dbsize", "keys", "randomkey", "flushdb", "flushall", "scan"};
static const enum kind kinds[] = {F_DBSIZE, F_KEYS, F_RANDOMKEY, F_FLUSH, F_FLUSH, F_SCAN};

static int kind_of(const struct resp_arg *a)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t n = strlen(names[i]);
		if (a->len == n && !strncasecmp((const char *)a->p, names[i], n))
			return (int)kinds[i];
	}
	return -1;
}

bool fanout_is(const struct server *s, const struct resp_arg *argv, uint32_t argc)
{
	return s->meta && s->n_shards && argc > 0 && kind_of(&argv[0]) >= 0;
}

void fanout_free(struct fanout *f)
{
	if (!f)
		return;
	rbuf_free(&f->cmd);
	rbuf_free(&f->keys);
	keel_free(f);
}

static struct group *shard_at(struct server *s, struct fanout *f, uint32_t k)
{
	return s->groups[(f->first + k) % s->n_shards];
}

/* The client's request answered with what its reply now holds. */
static void finish(struct server *s, struct creq *q)
{
	if (q->client && q->client->n_fanout)
		q->client->n_fanout--;
	fanout_free(q->fan);
	q->fan = NULL;
	q->no_retry = true; /* its parts were the requests: never sent again whole */
	creq_finish(s, q);
}

static void part_done(struct server *s, struct creq *part);

/* Sends the next part, to shard first + done. */
static void send_part(struct server *s, struct creq *q)
{
	struct fanout *f = q->fan;
	struct creq *p = creq_new(s, NULL);
	bool write = f->kind == F_FLUSH;
	if (write)
		entry_req_header(&p->cmd, &(struct entry_req_head){.db = f->db}, 1);
	rbuf_put(&p->cmd, f->cmd.p, f->cmd.len);
	p->db = f->db;
	p->n_cmds = 1;
	p->on_done = part_done;
	p->answers = q;
	request_submit(shard_at(s, f, f->done), p, !write);
}

/* A RESP integer line's value (":n\r\n" or "*n\r\n", the type byte
 * skipped); false if it is none. */
static bool line_int(const uint8_t *p, size_t n, int64_t *v, size_t *used)
{
	const uint8_t *cr = n > 1 ? memchr(p + 1, '\r', n - 1) : NULL;
	if (!cr || (size_t)(cr - p) + 2 > n || !resp_str2ll(p + 1, (size_t)(cr - p) - 1, v))
		return false;
	*used = (size_t)(cr - p) + 2;
	return true;
}

/* SCAN's answer from a shard: its cursor put back in the node's terms. */
static void scan_reply(struct server *s, struct fanout *f, struct creq *q, const struct rbuf *r)
{
	int64_t len;
	size_t used;
	/* *2 $len cursor *n keys... */
	if (r->len < 4 || memcmp(r->p, "*2\r\n", 4) || r->p[4] != '$' ||
	    !line_int(r->p + 4, r->len - 4, &len, &used) || len < 1 || len > 20 ||
	    4 + used + (size_t)len + 2 > r->len) {
		resp_error(&q->reply, "ERR internal: a shard's SCAN reply could not be read");
		return;
	}
	char buf[24];
	memcpy(buf, r->p + 4 + used, (size_t)len);
	buf[len] = 0;
	errno = 0;
	char *end;
	uint64_t inner = strtoull(buf, &end, 10), cursor;
	uint32_t shard = f->first;
	if (*end || errno) {
		resp_error(&q->reply, "ERR internal: a shard's SCAN cursor could not be read");
		return;
	}
	if (inner) {
		if (inner > (UINT64_MAX - shard) / FANOUT_SPAN) {
			resp_error(&q->reply, "ERR a shard's SCAN cursor is past what a cursor "
					      "of this node can name");
			return;
		}
		cursor = inner * FANOUT_SPAN + shard;
	} else {
		cursor = shard + 1 < s->n_shards ? shard + 1 : 0;
	}
	resp_array(&q->reply, 2);
	resp_bulk_int(&q->reply, (int64_t)cursor);
	size_t rest = 4 + used + (size_t)len + 2;
	rbuf_put(&q->reply, r->p + rest, r->len - rest);
}

/* A part's reply that is not what the shard's command answers. */
static void unreadable(struct server *s, struct creq *q, const char *what)
{
	resp_errorf(&q->reply, "ERR internal: a shard's %s reply could not be read", what);
	finish(s, q);
}

/* A part's reply is in: gathered, then the next part or the answer. */
static void part_done(struct server *s, struct creq *part)
{
	struct creq *q = part->answers;
	struct fanout *f = q->fan;
	const struct rbuf *r = &part->reply;
	part->answers = NULL;
	f->done++;
	if (r->len && r->p[0] == '-') { /* a shard's error ends it */
		q->reply.len = 0;
		if (f->kind == F_FLUSH && f->done > 1)
			resp_errorf(&q->reply,
				    "ERR the first %u of %u shards were flushed, then shard %u "
				    "answered: %.*s (the shards after it were not sent it)",
				    f->done - 1, f->parts, (f->first + f->done - 1) % s->n_shards,
				    (int)(r->len > 3 ? r->len - 3 : 0), (const char *)r->p + 1);
		else
			rbuf_put(&q->reply, r->p, r->len);
		finish(s, q);
		return;
	}
	int64_t v;
	size_t used;
	switch (f->kind) {
	case F_DBSIZE:
		if (!line_int(r->p, r->len, &v, &used) || r->p[0] != ':' || v < 0 ||
		    v > INT64_MAX - f->count) {
			unreadable(s, q, "DBSIZE");
			return;
		}
		f->count += v;
		break;
	case F_KEYS:
		if (!line_int(r->p, r->len, &v, &used) || r->p[0] != '*' || v < 0 ||
		    v > INT64_MAX - f->count) {
			unreadable(s, q, "KEYS");
			return;
		}
		f->count += v;
		rbuf_put(&f->keys, r->p + used, r->len - used);
		break;
	case F_RANDOMKEY:
		if (r->len > 1 && r->p[0] == '$' && r->p[1] != '-') { /* a key: the answer */
			rbuf_put(&q->reply, r->p, r->len);
			finish(s, q);
			return;
		}
		break;
	case F_SCAN:
		scan_reply(s, f, q, r);
		finish(s, q);
		return;
	case F_FLUSH:
		if (r->len < 3 || memcmp(r->p, "+OK", 3)) {
			unreadable(s, q, "FLUSHDB or FLUSHALL");
			return;
		}
		break;
	}
	if (f->done < f->parts) {
		send_part(s, q);
		return;
	}
	switch (f->kind) {
	case F_DBSIZE:
		resp_int(&q->reply, f->count);
		break;
	case F_KEYS:
		resp_array(&q->reply, (size_t)f->count);
		rbuf_put(&q->reply, f->keys.p, f->keys.len);
		break;
	case F_RANDOMKEY:
		resp_null(&q->reply, q->proto);
		break;
	default:
		resp_simple(&q->reply, "OK");
	}
	finish(s, q);
}

/* SCAN's cursor, as Redis reads it (strtoull of the whole argument: ""
 * is 0, "-1" wraps; no leading space, nothing after). */
static bool scan_cursor(const struct resp_arg *a, uint64_t *cur)
{
	char buf[32];
	if (a->len >= sizeof buf)
		return false;
	memcpy(buf, a->p, a->len);
	buf[a->len] = 0;
	errno = 0;
	char *end;
	*cur = strtoull(buf, &end, 10);
	return !(buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r') || *end || errno == ERANGE);
}

void fanout_run(struct server *s, struct client *c, struct creq *q, const struct resp_arg *argv,
		uint32_t argc)
{
	(void)c;
	int kind = kind_of(&argv[0]);
	struct fanout *f = keel_calloc(1, sizeof *f);
	f->kind = (enum kind)kind;
	f->db = q->db;
	f->parts = s->n_shards;
	rbuf_init(&f->cmd);
	rbuf_init(&f->keys);
	q->fan = f;
	if (f->kind == F_SCAN) {
		uint64_t cur;
		if (argc < 2 || !scan_cursor(&argv[1], &cur) || cur % FANOUT_SPAN >= s->n_shards) {
			resp_error(&q->reply, "ERR invalid cursor");
			finish(s, q);
			return;
		}
		f->first = (uint32_t)(cur % FANOUT_SPAN);
		f->parts = 1;
		char inner[24];
		int len = snprintf(inner, sizeof inner, "%llu",
				   (unsigned long long)(cur / FANOUT_SPAN));
		struct resp_arg *v = keel_malloc(argc * sizeof *v);
		memcpy(v, argv, argc * sizeof *v);
		v[1] = (struct resp_arg){(const uint8_t *)inner, (size_t)len};
		entry_cmd_append(&f->cmd, v, argc);
		keel_free(v);
	} else {
		if (f->kind == F_RANDOMKEY) /* a shard to start at, another each time */
			f->first = (uint32_t)(s->stats.commands % s->n_shards);
		entry_cmd_append(&f->cmd, argv, argc);
	}
	send_part(s, q);
}
