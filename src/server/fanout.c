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
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "resp/encode.h"
#include "server/entry.h"
#include "server/server.h"

/* A SCAN cursor's shard: its remainder by this (every shard index is
 * below it: a shard serves at least one of the KV_SLOTS slots). */
#define FANOUT_SPAN KV_SLOTS

struct fanout {
	enum fanout_kind kind;
	struct rbuf cmd;  /* the part's command (entry_cmd_append's bytes) */
	uint32_t db;	  /* the connection's database when it was sent */
	uint32_t first;	  /* the shard of the first part */
	uint32_t done;	  /* parts answered */
	uint32_t parts;	  /* parts in all */
	int64_t count;	  /* DBSIZE: the sum; KEYS: keys gathered */
	struct rbuf keys; /* KEYS: the keys' bulk strings, back to back */
};

static const char *const names[] = {"dbsize", "keys", "randomkey", "flushdb", "flushall", "scan"};
static const char *const names_of[] = {"DBSIZE", "KEYS", "RANDOMKEY", "FLUSHDB or FLUSHALL",
				       "SCAN"}; /* by kind */
static const enum fanout_kind kinds[] = {FANOUT_DBSIZE, FANOUT_KEYS,  FANOUT_RANDOMKEY,
					 FANOUT_FLUSH,	FANOUT_FLUSH, FANOUT_SCAN};

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
	if (q->client) /* counted when it came (clients.c) */
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
	bool write = f->kind == FANOUT_FLUSH;
	if (write)
		entry_req_header(&p->cmd, &(struct entry_req_head){.db = f->db}, 1);
	rbuf_put(&p->cmd, f->cmd.p, f->cmd.len);
	p->db = f->db;
	p->n_cmds = 1;
	p->on_done = part_done;
	p->answers = q;
	request_submit(shard_at(s, f, f->done), p, !write);
}

/* A RESP integer line's value (":n\r\n", "*n\r\n" or "$n\r\n", the type
 * byte skipped); false if it is none. */
static bool line_int(const uint8_t *p, size_t n, int64_t *v, size_t *used)
{
	const uint8_t *cr = n > 1 ? memchr(p + 1, '\r', n - 1) : NULL;
	if (!cr || (size_t)(cr - p) + 2 > n || cr[1] != '\n' ||
	    !resp_str2ll(p + 1, (size_t)(cr - p) - 1, v))
		return false;
	*used = (size_t)(cr - p) + 2;
	return true;
}

/* Whether p..n is exactly count bulk strings ($len, then len bytes and
 * CRLF each). */
static bool bulks_whole(const uint8_t *p, size_t n, int64_t count)
{
	size_t at = 0, used;
	int64_t len;
	for (int64_t i = 0; i < count; i++) {
		if (at >= n || p[at] != '$' || !line_int(p + at, n - at, &len, &used) || len < 0 ||
		    (uint64_t)len + 2 > n - at - used || p[at + used + (size_t)len] != '\r' ||
		    p[at + used + (size_t)len + 1] != '\n')
			return false;
		at += used + (size_t)len + 2;
	}
	return at == n;
}

bool fanout_part_read(int kind, const uint8_t *p, size_t n, struct fanout_part *out)
{
	memset(out, 0, sizeof *out);
	int64_t v, len;
	size_t used, at;
	if (n && p[0] == '-') { /* one line */
		out->error = true;
		const uint8_t *cr = memchr(p, '\r', n);
		return cr && (size_t)(cr - p) == n - 2 && p[n - 1] == '\n';
	}
	switch (kind) {
	case FANOUT_DBSIZE:
		if (!n || p[0] != ':' || !line_int(p, n, &v, &used) || v < 0 || used != n)
			return false;
		out->n = v;
		return true;
	case FANOUT_KEYS: /* *n, then its bulk strings as they are */
		if (!n || p[0] != '*' || !line_int(p, n, &v, &used) || v < 0 ||
		    !bulks_whole(p + used, n - used, v))
			return false;
		out->n = v;
		out->at = used;
		return true;
	case FANOUT_RANDOMKEY: /* $-1, or a key */
		if (!n || p[0] != '$' || !line_int(p, n, &v, &used) || v < -1 ||
		    (v == -1 && used != n) || (v >= 0 && (uint64_t)v + 2 != n - used))
			return false;
		out->key = v >= 0;
		return true;
	case FANOUT_FLUSH:
		return n == 5 && !memcmp(p, "+OK\r\n", 5);
	case FANOUT_SCAN: /* *2 $len cursor *n keys... */
		if (n < 5 || memcmp(p, "*2\r\n", 4) || p[4] != '$' ||
		    !line_int(p + 4, n - 4, &len, &used) || len < 1 || len > 20)
			return false;
		at = 4 + used;
		if ((size_t)len + 2 > n - at || p[at + (size_t)len] != '\r' ||
		    p[at + (size_t)len + 1] != '\n')
			return false;
		for (int64_t i = 0; i < len; i++) /* digits, as a shard writes its cursor */
			if (p[at + i] < '0' || p[at + i] > '9' || (p[at] == '0' && len > 1))
				return false;
		out->at = at + (size_t)len + 2;
		if (!kv_scan_cursor(p + at, (size_t)len, &out->cursor) || out->at >= n ||
		    p[out->at] != '*' || !line_int(p + out->at, n - out->at, &v, &used) || v < 0)
			return false;
		return bulks_whole(p + out->at + used, n - out->at - used, v);
	}
	return false;
}

bool fanout_cursor_read(const uint8_t *p, size_t n, uint32_t shards, uint32_t *shard,
			uint64_t *inner)
{
	uint64_t cur;
	if (!kv_scan_cursor(p, n, &cur) || cur % FANOUT_SPAN >= shards)
		return false;
	*shard = (uint32_t)(cur % FANOUT_SPAN);
	*inner = cur / FANOUT_SPAN;
	return true;
}

bool fanout_cursor_next(uint32_t shard, uint64_t inner, uint32_t shards, uint64_t *cursor)
{
	if (!inner) { /* the shard's scan is done: the next shard's start */
		*cursor = shard + 1 < shards ? shard + 1 : 0;
		return true;
	}
	if (inner > (UINT64_MAX - shard) / FANOUT_SPAN)
		return false;
	*cursor = inner * FANOUT_SPAN + shard;
	return true;
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
	struct fanout_part got;
	if (!fanout_part_read((int)f->kind, r->p, r->len, &got)) {
		unreadable(s, q, names_of[f->kind]);
		return;
	}
	if (got.error) { /* a shard's error ends it */
		q->reply.len = 0;
		if (f->kind == FANOUT_FLUSH && f->done > 1)
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
	uint64_t cursor;
	char num[24];
	switch (f->kind) {
	case FANOUT_DBSIZE:
	case FANOUT_KEYS:
		if (got.n > INT64_MAX - f->count) {
			unreadable(s, q, names_of[f->kind]);
			return;
		}
		f->count += got.n;
		if (f->kind == FANOUT_KEYS)
			rbuf_put(&f->keys, r->p + got.at, r->len - got.at);
		break;
	case FANOUT_RANDOMKEY:
		if (got.key) { /* a key: the answer */
			rbuf_put(&q->reply, r->p, r->len);
			finish(s, q);
			return;
		}
		break;
	case FANOUT_SCAN: /* the shard's cursor in this node's terms, then its keys */
		if (!fanout_cursor_next(f->first, got.cursor, s->n_shards, &cursor)) {
			resp_error(&q->reply, "ERR a shard's SCAN cursor is past what a cursor of "
					      "this node can name");
		} else {
			resp_array(&q->reply, 2);
			resp_bulk(&q->reply, num,
				  (size_t)snprintf(num, sizeof num, "%llu",
						   (unsigned long long)cursor));
			rbuf_put(&q->reply, r->p + got.at, r->len - got.at);
		}
		finish(s, q);
		return;
	case FANOUT_FLUSH:
		break;
	}
	if (f->done < f->parts) {
		send_part(s, q);
		return;
	}
	switch (f->kind) {
	case FANOUT_DBSIZE:
		resp_int(&q->reply, f->count);
		break;
	case FANOUT_KEYS:
		resp_array(&q->reply, (size_t)f->count);
		rbuf_put(&q->reply, f->keys.p, f->keys.len);
		break;
	case FANOUT_RANDOMKEY:
		resp_null(&q->reply, q->proto);
		break;
	default:
		resp_simple(&q->reply, "OK");
	}
	finish(s, q);
}

void fanout_run(struct server *s, struct creq *q, const struct resp_arg *argv, uint32_t argc)
{
	int kind = kind_of(&argv[0]);
	struct fanout *f = keel_calloc(1, sizeof *f);
	f->kind = (enum fanout_kind)kind;
	f->db = q->db;
	f->parts = s->n_shards;
	rbuf_init(&f->cmd);
	rbuf_init(&f->keys);
	q->fan = f;
	if (f->kind == FANOUT_SCAN) {
		uint64_t in;
		if (argc < 2 ||
		    !fanout_cursor_read(argv[1].p, argv[1].len, s->n_shards, &f->first, &in)) {
			resp_error(&q->reply, "ERR invalid cursor");
			finish(s, q);
			return;
		}
		f->parts = 1;
		char inner[24];
		int len = snprintf(inner, sizeof inner, "%llu", (unsigned long long)in);
		struct resp_arg *v = keel_malloc(argc * sizeof *v);
		memcpy(v, argv, argc * sizeof *v);
		v[1] = (struct resp_arg){(const uint8_t *)inner, (size_t)len};
		entry_cmd_append(&f->cmd, v, argc);
		keel_free(v);
	} else {
		if (f->kind == FANOUT_RANDOMKEY) /* a shard to start at, another each time */
			f->first = (uint32_t)(s->stats.commands % s->n_shards);
		entry_cmd_append(&f->cmd, argv, argc);
	}
	send_part(s, q);
}
