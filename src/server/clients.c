/* server/clients.c — client connections on the event loop: RESP requests
 * parsed as they arrive (pipelining), each given a reply slot so replies
 * leave in request order even when a write waits for its commit; the
 * replies a loop pass finished go out at its end, one write per client
 * (as Redis writes in beforeSleep); limits on pending requests (reading
 * pauses), on a client's unexecuted input (client-query-buffer-limit: the
 * client is closed before the bytes are held), on its share of a loop
 * pass and on its unwritten replies (its pipeline is held back; past
 * --client-output-mb it is closed, checked as replies are built); a big
 * read request is handed over in place and a big reply written from its
 * own buffer, so neither is copied; a protocol error is answered and the
 * connection closed. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/bytes.h"
#include "base/mem.h"
#include "io/clock.h"
#include "net/frame.h"
#include "net/stream.h"
#include "resp/encode.h"
#include "server/entry.h"
#include "server/server.h"

static bool session_expired(const struct rbuf *r);

#define PENDING_MAX 10000 /* requests in flight before reading pauses */
#define POOL_MAX    4096  /* finished request slots kept for reuse */
#define POOL_BUF    16384 /* ... with their buffers, up to this size */
/* a read request at least this big is handed over, not copied */
#define REQ_HANDOVER_MIN (1u << 20)
/* A client's share of a loop pass: at most PASS_REQS_MAX requests, and
 * no more than it takes for their replies to reach PASS_REPLY_BYTES at
 * the size its replies have had (`reply_est`: the largest recent reply,
 * REPLY_EST_START until it has had some); none while its unwritten
 * replies reach OUT_PAUSE_MAX (or a quarter of its output limit). Past
 * its share it is held, reading stopped, and goes on in a later pass
 * (clients_resume). One client's pipeline cannot build a mountain of
 * replies, nor keep the loop from the others. */
#define PASS_REQS_MAX	 1024
#define PASS_REPLY_BYTES (4u << 20)
#define REPLY_EST_START	 (64u << 10)
/* a reply this big is written from its own buffer */
#define REPLY_OWNED_MIN (64u << 10)
#define OUT_PAUSE_MAX	(4u << 20)

/* Slots are reused, buffers and all: a request costs no allocation once
 * the node has served a few. */
struct creq *creq_new(struct server *s, struct client *c)
{
	struct creq *q = s->creq_pool;
	if (q) {
		s->creq_pool = q->next;
		s->n_creq_pool--;
		struct rbuf reply = q->reply, cmd = q->cmd;
		memset(q, 0, sizeof *q);
		q->reply = reply;
		q->cmd = cmd;
		q->reply.len = q->cmd.len = 0;
	} else {
		q = keel_calloc(1, sizeof *q);
		rbuf_init(&q->reply);
		rbuf_init(&q->cmd);
	}
	q->client = c;
	q->g = s->g; /* until it is routed (clients.c: dispatch) */
	if (c) {
		q->proto = (uint8_t)c->proto;
		if (c->tail)
			c->tail->next = q;
		else
			c->head = q;
		c->tail = q;
		c->n_pending++;
	}
	return q;
}

static void creq_destroy(struct creq *q)
{
	rbuf_free(&q->reply);
	rbuf_free(&q->cmd);
	keel_free(q);
}

void creq_free(struct server *s, struct creq *q)
{
	fanout_free(q->fan); /* one whose client went, discarded */
	q->fan = NULL;
	if (s->n_creq_pool >= POOL_MAX) {
		creq_destroy(q);
		return;
	}
	if (q->reply.cap > POOL_BUF)
		rbuf_free(&q->reply);
	if (q->cmd.cap > POOL_BUF)
		rbuf_free(&q->cmd);
	q->next = s->creq_pool;
	s->creq_pool = q;
	s->n_creq_pool++;
}

void clients_free(struct server *s)
{
	while (s->creq_pool) {
		struct creq *q = s->creq_pool;
		s->creq_pool = q->next;
		creq_destroy(q);
	}
	s->n_creq_pool = 0;
	rbuf_free(&s->out);
	keel_free(s->sessions);
	s->sessions = NULL;
	keel_free(s->order_clients);
	s->order_clients = NULL;
	keel_free(s->retrying);
	s->retrying = NULL;
	s->n_retrying = s->cap_retrying = 0;
	s->sessions_cap = 0;
}

static void client_closed(uv_handle_t *h)
{
	struct client *c = h->data;
	struct server *s = c->s;
	for (struct client **pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	s->n_clients--;
	client_set_session(c, 0);
	if (c->in_order_list) {
		for (uint32_t i = 0; i < s->n_order_clients; i++)
			if (s->order_clients[i] == c)
				s->order_clients[i] = s->order_clients[--s->n_order_clients];
	}
	if (c->held) {
		for (struct client **pp = &s->held_clients; *pp; pp = &(*pp)->next_held) {
			if (*pp == c) {
				*pp = c->next_held;
				break;
			}
		}
	}
	if (c->dirty) {
		for (struct client **pp = &s->dirty; *pp; pp = &(*pp)->next_dirty) {
			if (*pp == c) {
				*pp = c->next_dirty;
				break;
			}
		}
	}
	struct creq *q = c->head;
	while (q) {
		struct creq *next = q->next;
		bool held = q->retrying; /* on retry.c's list only */
		if (held)
			retry_forget(s, q);
		if (q->done || q->deferred || held)
			creq_free(s, q);
		else
			q->client = NULL; /* still in flight: freed when it finishes */
		q = next;
	}
	rbuf_free(&c->in);
	rbuf_free(&c->multi);
	resp_req_free(&c->req);
	if (c->repl)
		replication_detach(c);
	keel_free(c);
}

static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, client_closed);
}

void client_drop(struct client *c)
{
	client_close(c);
}

static void write_failed(uv_stream_t *st)
{
	client_close(st->data);
}

/* Writes n bytes to the client; false (the client is being closed) if the
 * socket refuses them. */
static bool write_out(struct client *c, const uint8_t *p, size_t n)
{
	if (stream_write((uv_stream_t *)&c->tcp, p, n, write_failed) == 0)
		return true;
	client_close(c);
	return false;
}

static void process_input(struct client *c);
static void query_too_big(struct client *c);
static void client_mark(struct client *c);
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* Writes what s->out gathered; false if the client is being closed. */
static bool write_gathered(struct client *c)
{
	struct server *s = c->s;
	if (!s->out.len)
		return true;
	bool ok = write_out(c, s->out.p, s->out.len);
	s->out.len = 0;
	if (s->out.cap > (1u << 20)) /* it held a big reply: its buffer goes */
		rbuf_free(&s->out);
	return ok;
}

/* Writes the finished replies at the head of the queue: small ones
 * gathered into one write, a big one handed to the socket as it is (its
 * buffer given away, not copied). */
static void flush(struct client *c)
{
	if (c->closing)
		return;
	struct server *s = c->s;
	s->out.len = 0;
	bool ok = true;
	while (ok && c->head && c->head->done) {
		struct creq *q = c->head;
		c->head = q->next;
		if (!c->head)
			c->tail = NULL;
		c->n_pending--;
		if (q->seq) /* it and every write before it answered */
			c->acked_seq = q->seq;
		if (q->seq && c->resumed_at && q->applied_at && !session_expired(&q->reply))
			c->resumed_at = 0; /* the session is there: acks as usual */
		c->out_bytes -= c->out_bytes < q->reply.len ? c->out_bytes : q->reply.len;
		if (q->reply.len >= REPLY_OWNED_MIN) {
			ok = write_gathered(c);
			if (ok && stream_write_owned((uv_stream_t *)&c->tcp, q->reply.p,
						     q->reply.len, write_failed) != 0) {
				client_close(c);
				ok = false;
			} else if (!ok) {
				keel_free(q->reply.p);
			}
			rbuf_init(&q->reply);
		} else {
			rbuf_put(&s->out, q->reply.p, q->reply.len);
		}
		creq_free(s, q);
	}
	if (!ok || !write_gathered(c) || client_output_full(c))
		return;
	if (c->close_after_reply && !c->head) {
		client_close(c);
		return;
	}
	if (c->paused && c->n_pending < PENDING_MAX / 2) {
		c->paused = false; /* go on with what is buffered, then read again */
		if (!c->held)
			uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
		process_input(c);
	}
}

/* A client that does not read its replies cannot make the node hold them
 * without bound (Redis's client-output-buffer-limit): checked as replies
 * are built and as they are written. */
bool client_output_full(struct client *c)
{
	if (c->closing)
		return true;
	if (client_queued(c) + c->out_bytes <= c->s->cfg.client_output_max)
		return false;
	fprintf(stderr, "[%llu] client %llu (%s) closed: over %llu MiB of replies unread\n",
		(unsigned long long)c->s->cfg.id, (unsigned long long)c->id, c->addr,
		(unsigned long long)(c->s->cfg.client_output_max >> 20));
	client_close(c);
	return true;
}

/* Unwritten output at which a client's pipeline stops for now. */
static uint64_t out_pause(const struct client *c)
{
	uint64_t q = c->s->cfg.client_output_max / 4;
	return q < OUT_PAUSE_MAX ? q : OUT_PAUSE_MAX;
}

/* Whether c has had its share of this loop pass (PASS_REQS, OUT_PAUSE_MAX). */
static bool pass_spent(struct client *c)
{
	if (c->pass_no != c->s->pass_no) {
		c->pass_no = c->s->pass_no;
		c->pass_reqs = 0;
	}
	uint64_t est = c->reply_est ? c->reply_est : REPLY_EST_START;
	return c->pass_reqs >= PASS_REQS_MAX || c->pass_reqs * est >= PASS_REPLY_BYTES ||
	       client_queued(c) + c->out_bytes >= out_pause(c);
}

/* Holds c back: reading stops (the peer's TCP window fills) until
 * clients_resume lets it go on. */
static void client_hold(struct client *c)
{
	if (c->held)
		return;
	c->held = true;
	c->next_held = c->s->held_clients;
	c->s->held_clients = c;
	if (!c->paused)
		uv_read_stop((uv_stream_t *)&c->tcp);
}

void clients_resume(struct server *s)
{
	struct client *list = s->held_clients;
	s->held_clients = NULL;
	bool more = false;
	while (list) {
		struct client *c = list;
		list = c->next_held;
		c->held = false;
		if (c->closing)
			continue;
		if (client_queued(c) + c->out_bytes >= out_pause(c) / 2) {
			c->held = true; /* its replies still wait for the socket */
			c->next_held = s->held_clients;
			s->held_clients = c;
			continue;
		}
		if (!c->paused)
			uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
		process_input(c);
		more = more || c->held;
	}
	/* a client held for its share of the pass goes on in the next one,
	 * which nothing else may wake */
	if (more)
		uv_async_send(&s->wake);
}

void client_send(struct client *c, const uint8_t *p, size_t n)
{
	if (c->closing || !n)
		return;
	write_out(c, p, n);
}

size_t client_queued(const struct client *c)
{
	return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

void creq_finish(struct server *s, struct creq *q)
{
	if (retry_take(s, q)) /* a slot being moved: held to go again */
		return;
	cluster_ask(s, q); /* a cluster client's refusal: -ASK, if a shard here has the slot */
	q->done = true;
	struct client *c = q->client;
	if (c && q->ordered) {
		q->ordered = false;
		c->n_ordered--;
	}
	if (c && q->applied_at) { /* reads of its group after it must see it */
		if (c->need_group != q->g || q->applied_at > c->need_index)
			c->need_index = q->applied_at;
		c->need_group = q->g;
	}
	if (c && !q->fwd_peer) {
		c->out_bytes += q->reply.len;
		/* the largest recent reply: a big one counts at once, then fades */
		uint64_t est = c->reply_est ? c->reply_est : REPLY_EST_START;
		est -= est / 16;
		c->reply_est = q->reply.len > est ? q->reply.len : est < 16 ? 16 : est;
		client_output_full(c);
	}
	if (q->fwd_peer) { /* a peer's request: the reply joins this pass's frame to it */
		struct peer_batch *b = peer_batch_of(q->g, q->fwd_peer);
		if (b) {
			rbuf_put_u64(&b->rep, q->fwd_id);
			rbuf_put_u64(&b->rep, q->applied_at); /* where it was applied */
			rbuf_put_u32(&b->rep, (uint32_t)q->reply.len);
			rbuf_put(&b->rep, q->reply.p, q->reply.len);
		}
		creq_free(s, q);
		return;
	}
	if (!q->client) {
		if (q->on_done) /* a node's own request (server/migrate.c) */
			q->on_done(s, q);
		creq_free(s, q);
		return;
	}
	client_mark(q->client);
}

/* The client has replies to write at the end of this loop pass. */
static void client_mark(struct client *c)
{
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	c->next_dirty = c->s->dirty;
	c->s->dirty = c;
}

void clients_flush(struct server *s)
{
	/* a flush may resume a paused client, whose input may finish more
	 * replies: they join a new list, flushed in turn */
	while (s->dirty) {
		struct client *c = s->dirty;
		s->dirty = c->next_dirty;
		c->dirty = false;
		flush(c);
	}
	s->pass_no++; /* every client's share of the next pass is whole */
	/* a held client whose replies the socket took goes on at once, not
	 * at the next tick */
	for (struct client *c = s->held_clients; c; c = c->next_held) {
		if (!c->closing && client_queued(c) + c->out_bytes < out_pause(c) / 2) {
			uv_async_send(&s->wake);
			break;
		}
	}
}

/* A SELECT queued inside MULTI runs when EXEC is applied and moves the
 * commands after it; the connection is in its database after EXEC, as in
 * Redis. Its index is checked as SELECT checks it, against this node's
 * count (the leader's decides when it is applied: the same if the members
 * are configured alike). */
static void multi_track_select(struct client *c, const struct kv_cmd *cmd,
			       const struct resp_arg *argv, uint32_t argc)
{
	int64_t id;
	if (strcmp(cmd->name, "select") != 0 || argc != 2)
		return;
	if (resp_str2ll(argv[1].p, argv[1].len, &id) && id >= 0 && id < c->s->cfg.databases)
		c->multi_db = (uint32_t)id;
}

/* What a transaction may hold: its commands go in one request of one log
 * entry (server/entry.h), so a command that would take it past an entry's
 * count of commands or bytes is refused when it is queued, as Redis
 * refuses a queueing error, and EXEC then discards the transaction
 * (EXECABORT): an answer no retry can change, where a transaction
 * proposed whole could only fail on every node. 128 bytes: the request's
 * and the entry's headers. */
static bool multi_fits(struct client *c, struct creq *q, const struct resp_arg *argv, uint32_t argc)
{
	uint64_t bytes = c->multi.len + 4 + 128;
	for (uint32_t i = 0; i < argc; i++)
		bytes += 4 + (uint64_t)argv[i].len;
	if (c->multi_n >= ENTRY_CMDS_MAX) {
		resp_errorf(&q->reply,
			    "ERR a transaction may hold at most %u commands: this one was not "
			    "queued, and EXEC will discard the transaction",
			    (unsigned)ENTRY_CMDS_MAX);
		return false;
	}
	if (bytes > RAFT_ENTRY_BYTES_MAX) {
		resp_errorf(&q->reply,
			    "ERR a transaction may hold at most %u MiB of commands: this one was "
			    "not queued, and EXEC will discard the transaction",
			    (unsigned)(RAFT_ENTRY_BYTES_MAX >> 20));
		return false;
	}
	return true;
}

/* Queues a command inside MULTI, or refuses it. */
static void multi_queue(struct client *c, struct creq *q, const struct kv_cmd *cmd,
			const struct resp_arg *argv, uint32_t argc)
{
	if (cmd->flags & KV_SERVER) {
		c->multi_error = true;
		resp_errorf(&q->reply, "ERR '%s' is not allowed inside MULTI here", cmd->name);
	} else if (!multi_fits(c, q, argv, argc)) {
		c->multi_error = true;
	} else if ((cmd->flags & (KV_READ | KV_WRITE)) &&
		   !cluster_multi_route(c->s, c, q, cmd, argv, argc)) {
		c->multi_error = true; /* -CROSSSLOT: EXEC discards the transaction */
	} else {
		entry_cmd_append(&c->multi, argv, argc);
		c->multi_n++;
		multi_track_select(c, cmd, argv, argc);
		resp_simple(&q->reply, "QUEUED");
	}
	creq_finish(c->s, q);
}

/* The size of entry_cmd_append's encoding of a command. */
static uint64_t cmd_size(const struct resp_arg *argv, uint32_t argc)
{
	uint64_t n = 4;
	for (uint32_t k = 0; k < argc; k++)
		n += 4 + (uint64_t)argv[k].len;
	return n;
}

/* Gives q the request that fills the start of `in` (`used` bytes of RESP
 * multibulk, parsed into argv) without copying it: the command encoding
 * (entry_cmd_append's) is written over the RESP bytes in place, which is
 * never longer (a "*N\r\n" line is at least the 4 bytes of the count,
 * a "$L\r\n" line at least the 4 of a length, and each argument's CRLF
 * is dropped), and q's buffer becomes the client's input, holding what
 * followed the request. A big request thus costs its own size once. */
static void take_request(struct creq *q, struct rbuf *in, size_t used, const struct resp_arg *argv,
			 uint32_t argc)
{
	uint8_t *p = in->p;
	KEEL_ASSERT(used <= in->len);
	bytes_put_u32(p, argc);
	size_t w = 4;
	for (uint32_t k = 0; k < argc; k++) {
		KEEL_ASSERT(argv[k].p >= p + w + 4);
		KEEL_ASSERT(argv[k].p + argv[k].len <= p + used);
		bytes_put_u32(p + w, (uint32_t)argv[k].len);
		memmove(p + w + 4, argv[k].p, argv[k].len);
		w += 4 + argv[k].len;
	}
	KEEL_ASSERT(w <= used);
	struct rbuf rest = q->cmd;
	rest.len = 0;
	rbuf_put(&rest, p + used, in->len - used);
	q->cmd = *in;
	q->cmd.len = w;
	*in = rest;
}

/* Runs or submits one request. `whole`, if not NULL, is the client's input
 * buffer when the request fills its start (`used` bytes) and is big: a
 * read may take it (take_request). True if it did: the input then starts
 * with what followed the request. */
static bool dispatch(struct client *c, const struct resp_arg *argv, uint32_t argc,
		     struct rbuf *whole, size_t used)
{
	struct server *s = c->s;
	struct creq *q = creq_new(s, c);
	s->stats.commands++;
	/* the command, or its subcommand, with its arity checked */
	const struct kv_cmd *cmd = kv_resolve(argv, argc, &q->reply);
	if (cmd && (cmd->flags & KV_INTERNAL)) { /* nodes' own: no client's */
		kv_reply_unknown(&q->reply, argv, argc);
		cmd = NULL;
	}
	c->last_cmd = cmd;
	c->last_ms = server_now_ms();
	/* ASKING counts for the one command after it */
	bool asking = c->asking;
	if (cmd)
		c->asking = !strcmp(cmd->name, "asking");
	if (!cmd) {
		if (c->in_multi)
			c->multi_error = true;
		creq_finish(s, q);
		return false;
	}
	bool control = !strcmp(cmd->name, "exec") || !strcmp(cmd->name, "discard") ||
		       !strcmp(cmd->name, "multi") || !strcmp(cmd->name, "quit") ||
		       !strcmp(cmd->name, "reset");
	if (c->in_multi && !control) {
		multi_queue(c, q, cmd, argv, argc);
		return false;
	}
	bool fan = fanout_is(s, argv, argc); /* data commands: none is a server one */
	if (fan) { /* run as a server command (fanout.c); the ones after it wait */
		q->db = c->db;
		c->n_fanout++;
	}
	if ((cmd->flags & KV_SERVER) || fan) {
		cluster_note(c, cmd);
		if (!(cmd->flags & KV_CONNECTION) && requests_defer(s->g, c, q, argv, argc))
			return false; /* runs once the requests before it are answered */
		server_command(s, c, q, argv, argc);
		return false;
	}
	if (!(cmd->flags & (KV_WRITE | KV_READ))) { /* PING, ECHO, SELECT */
		struct kv_ctx k = {.kv = &s->g->kv,
				   .argv = argv,
				   .argc = argc,
				   .out = &q->reply,
				   .proto = c->proto,
				   .now_ms = server_now_ms(),
				   .db = c->db,
				   .dbs = s->cfg.databases};
		kv_exec(&k);
		c->db = k.db;
		creq_finish(s, q);
		return false;
	}
	struct group *g = cluster_route(s, q, cmd, argv, argc);
	if (g && asking)
		g = cluster_asking(s, g, cmd, argv, argc);
	if (!g || cluster_redirect(s, c, q, g, cmd, argv, argc))
		return false; /* -CROSSSLOT, or -MOVED: a cluster client's write, for the leader */
	bool read = (cmd->flags & KV_READ) != 0, taken = false;
	if (!read) { /* a write carries its session, sequence number, ack and database */
		q->seq = c->next_seq++;
		struct entry_req_head h = {c->session, q->seq, client_ack(c, g, q->seq),
					   c->db,      false,  s->meta && retry_holds(c),
					   false};
		entry_req_header(&q->cmd, &h, 1);
	}
	q->db = c->db;
	if (read && whole) {
		take_request(q, whole, used, argv, argc);
		taken = true;
	} else if (!read && q->cmd.len + cmd_size(argv, argc) + 64 > RAFT_ENTRY_BYTES_MAX) {
		q->oversize = true; /* refused by request_submit, not copied first */
	} else {
		entry_cmd_append(&q->cmd, argv, argc);
	}
	q->n_cmds = 1;
	if (requests_hold(g, c, q, read))
		return taken; /* submitted once the requests before it are answered */
	request_submit(g, q, read);
	return taken;
}

/* Parses and dispatches what is buffered, flushing replies as it goes;
 * pauses reading while too many requests are in flight. */
static void process_input(struct client *c)
{
	size_t at = 0;
	bool spent = false;
	while (!c->closing && !c->close_after_reply && c->n_pending < PENDING_MAX) {
		if (c->in.len - at < c->need)
			break;
		if (c->in.len > at && pass_spent(c)) {
			spent = true;
			break;
		}
		size_t used, need;
		const char *err;
		int rc = resp_parse_request(&c->req, c->in.p + at, c->in.len - at, &used, &need,
					    &err);
		if (rc == RESP_MORE) {
			c->need = need;
			if (need + c->multi.len > c->s->cfg.client_query_max) {
				query_too_big(c); /* it could never fit: not waited for */
				return;
			}
			break;
		}
		c->need = 0;
		if (rc == RESP_ERR) {
			struct creq *q = creq_new(c->s, c);
			resp_errorf(&q->reply, "ERR %s", err);
			c->close_after_reply = true;
			q->done = true;
			break;
		}
		at += used;
		/* a big request alone at the start of the buffer (the usual case:
		 * alloc_cb reads up to its end) may be handed over whole */
		struct rbuf *whole =
			at == used && used >= REQ_HANDOVER_MIN && c->in.p[0] == '*' ? &c->in : NULL;
		c->pass_reqs++;
		if (c->req.argc && dispatch(c, c->req.argv, c->req.argc, whole, used))
			at = 0; /* the input now holds only what followed */
		if (c->repl) {	/* KEEL.REPLICATE: what follows is the stream's */
			if (c->in.len > at)
				replication_recv(c, c->in.p + at, c->in.len - at);
			at = c->in.len;
			break;
		}
	}
	rbuf_consume(&c->in, at);
	if (c->closing)
		return;
	if (c->in.cap > REQ_HANDOVER_MIN && c->need <= 16384)
		rbuf_shrink(&c->in, 16384); /* a big request's buffer is not kept */
	if (spent)
		client_hold(c);
	if (c->n_pending >= PENDING_MAX && !c->paused) {
		c->paused = true;
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
	client_mark(c);
}

/* A request whose size is known is read into a buffer of that size and
 * 16 KiB more (for the next argument's header, or a small argument), up
 * to its end (so that it can be handed over whole, and no buffer doubles
 * past it); otherwise 16 KiB at a time, as Redis reads. */
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct client *c = h->data;
	(void)hint;
	if (c->need > c->in.len + 16384) {
		size_t want = c->need - c->in.len;
		uint8_t *p = rbuf_reserve_exact(&c->in, want + 16384);
		*buf = uv_buf_init((char *)p, (unsigned)(want < UINT32_MAX ? want : UINT32_MAX));
		return;
	}
	uint8_t *p = rbuf_reserve(&c->in, 16384);
	*buf = uv_buf_init((char *)p, (unsigned)(c->in.cap - c->in.len));
}

/* Redis's client-query-buffer-limit: a client whose unexecuted input (the
 * request it is sending, whole, and what it queued in MULTI) would pass
 * the limit is closed, with no reply, as Redis closes it. */
static void query_too_big(struct client *c)
{
	fprintf(stderr,
		"[%llu] closing client %llu (%s) that reached max query buffer length "
		"(client-query-buffer-limit %llu bytes)\n",
		(unsigned long long)c->s->cfg.id, (unsigned long long)c->id, c->addr,
		(unsigned long long)c->s->cfg.client_query_max);
	client_close(c);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = st->data;
	(void)buf;
	if (n < 0) {
		client_close(c);
		return;
	}
	c->in.len += (size_t)n;
	if (c->repl) {
		replication_recv(c, c->in.p, c->in.len);
		c->in.len = 0;
		return;
	}
	if (c->in.len + c->multi.len > c->s->cfg.client_query_max) {
		query_too_big(c);
		return;
	}
	process_input(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct server *s = server->data;
	if (status < 0 || s->stopping)
		return;
	struct client *c = keel_calloc(1, sizeof *c);
	c->s = s;
	c->id = ++s->next_client_id;
	c->proto = 2;
	c->created_ms = c->last_ms = server_now_ms();
	const struct io_random *rnd = io_random_posix();
	c->next_seq = 1;
	rbuf_init(&c->in);
	rbuf_init(&c->multi);
	resp_req_init(&c->req);
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	c->next = s->clients;
	s->clients = c;
	s->n_clients++;
	/* never 0 (that means none), and below 2^63: CLIENT SESSION shows it as
	 * an integer, which a client gives back to resume it */
	client_set_session(c, (rnd->u64(rnd->ctx) >> 1) | 1);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		client_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		char ip[48] = "";
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		uv_ip4_name(in, ip, sizeof ip);
		snprintf(c->addr, sizeof c->addr, "%s:%d", ip, ntohs(in->sin_port));
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

int clients_listen(struct server *s, struct keel_errmsg *err)
{
	uint32_t n = s->cfg.n_client_bind ? s->cfg.n_client_bind : 1;
	/* the client port on each address, then the Sentinel port (if any):
	 * a second client listener (server/sentinel.c) */
	for (uint32_t i = 0; i < (s->cfg.sentinel_port ? 2 * n : n); i++) {
		const char *ip = s->cfg.n_client_bind ? s->cfg.client_bind[i % n] : s->cfg.bind;
		int port = i < n ? s->cfg.port : s->cfg.sentinel_port;
		struct sockaddr_in a;
		uv_tcp_t *l = &s->listeners[i];
		uv_tcp_init(s->loop, l);
		l->data = s;
		s->n_listeners = i + 1;
		int rc = uv_ip4_addr(ip, port, &a);
		if (rc == 0)
			rc = uv_tcp_bind(l, (const struct sockaddr *)&a, 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)l, 511, on_connection);
		if (rc != 0) {
			keel_errmsg_set(err, "%s port %s:%d: %s", i < n ? "client" : "sentinel", ip,
					port, uv_strerror(rc));
			return KEEL_EIO;
		}
	}
	return KEEL_OK;
}

/* ---- the session map: which client here has a session ---------------------- */

/* The ack write seq carries: the lowest sequence number whose reply the
 * connection has not been given; the state machine applies a write of a
 * session it does not have (expired) only if its ack is its own number
 * (kv/session.c). While no write of the connection has gone to a leader,
 * none can have been applied: the ack is seq itself, so a write after
 * ones refused here (too large, no leader in time) starts the session. A
 * connection that resumed a session (CLIENT SESSION) has not been given
 * the replies before the number it resumed at: until a write shows the
 * session is still there, its acks stay below it, and a write of an
 * expired session is refused rather than started again. */
uint64_t client_ack(const struct client *c, const struct group *g, uint64_t seq)
{
	if (c->resumed_at)
		return c->resumed_at - 1;
	return c->sent_write[g->id / 64] >> (g->id % 64) & 1 ? c->acked_seq + 1 : seq;
}

void client_sent_write(struct client *c, const struct group *g)
{
	if (g->id >= SERVER_SHARDS_MAX) /* the metadata group: only RAFT commands */
		return;			/* reach it from a client, in no session */
	c->sent_write[g->id / 64] |= 1ull << (g->id % 64);
}

static bool session_expired(const struct rbuf *r)
{
	static const char e[] = "-ERR session expired";
	return r->len >= sizeof e - 1 && !memcmp(r->p, e, sizeof e - 1);
}

static uint32_t session_slot(uint64_t id, uint32_t cap)
{
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static void session_link(struct server *s, struct client *c)
{
	uint32_t i = session_slot(c->session, s->sessions_cap);
	c->next_in_session = s->sessions[i];
	s->sessions[i] = c;
}

/* Gives c the session id (0: none), kept findable by client_by_session. */
void client_set_session(struct client *c, uint64_t id)
{
	struct server *s = c->s;
	if (c->session && s->sessions_cap) {
		struct client **pp = &s->sessions[session_slot(c->session, s->sessions_cap)];
		while (*pp && *pp != c)
			pp = &(*pp)->next_in_session;
		if (*pp)
			*pp = c->next_in_session;
	}
	c->session = id;
	if (!id)
		return;
	if (s->n_clients > s->sessions_cap) { /* grown: every client is linked again */
		uint32_t cap = s->sessions_cap ? s->sessions_cap : 64;
		while (cap < s->n_clients * 2)
			cap *= 2;
		keel_free(s->sessions);
		s->sessions = keel_calloc(cap, sizeof *s->sessions);
		s->sessions_cap = cap;
		for (struct client *o = s->clients; o; o = o->next)
			if (o->session && o != c)
				session_link(s, o);
	}
	session_link(s, c);
}

struct client *client_by_session(struct server *s, uint64_t id)
{
	if (!s->sessions_cap)
		return NULL;
	struct client *c = s->sessions[session_slot(id, s->sessions_cap)];
	while (c && c->session != id)
		c = c->next_in_session;
	return c;
}

void clients_close_all(struct server *s)
{
	for (struct client *c = s->clients; c; c = c->next)
		client_close(c);
}
