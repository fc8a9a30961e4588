/* server/clients.c — client connections on the event loop: RESP requests
 * parsed as they arrive (pipelining), each given a reply slot so replies
 * leave in request order even when a write waits for its commit; the
 * replies a loop pass finished go out at its end, one write per client
 * (as Redis writes in beforeSleep); limits on pending requests (reading
 * pauses) and on a request's size (the parser's own); a protocol error is
 * answered and the connection closed. */
#include <stdio.h>
#include <string.h>

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
	s->sessions_cap = 0;
	keel_free(s->order_clients);
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
		if (q->done || q->deferred) /* a deferred command is held by nothing else */
			creq_free(s, q);
		else
			q->client = NULL; /* still in flight: freed when it finishes */
		q = next;
	}
	rbuf_free(&c->in);
	rbuf_free(&c->multi);
	resp_req_free(&c->req);
	if (c->repl)
		replication_detach(s, c);
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
static void client_mark(struct client *c);
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* Writes the finished replies at the head of the queue, in one write. */
static void flush(struct client *c)
{
	if (c->closing)
		return;
	struct server *s = c->s;
	s->out.len = 0;
	while (c->head && c->head->done) {
		struct creq *q = c->head;
		c->head = q->next;
		if (!c->head)
			c->tail = NULL;
		c->n_pending--;
		if (q->seq) /* it and every write before it answered */
			c->acked_seq = q->seq;
		if (q->seq && c->resumed_at && q->applied_at && !session_expired(&q->reply))
			c->resumed_at = 0; /* the session is there: acks as usual */
		rbuf_put(&s->out, q->reply.p, q->reply.len);
		creq_free(s, q);
	}
	if (s->out.len) {
		bool ok = write_out(c, s->out.p, s->out.len);
		if (s->out.cap > (1u << 20)) /* one big reply: its buffer goes */
			rbuf_free(&s->out);
		if (!ok)
			return;
		/* a client that does not read its replies cannot make the node
		 * hold them without bound (Redis's client-output-buffer-limit) */
		if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >
		    c->s->cfg.client_output_max) {
			fprintf(stderr,
				"[%llu] client %llu (%s) closed: over %llu MiB of replies "
				"unread\n",
				(unsigned long long)c->s->cfg.id, (unsigned long long)c->id,
				c->addr, (unsigned long long)(c->s->cfg.client_output_max >> 20));
			client_close(c);
			return;
		}
	}
	if (c->close_after_reply && !c->head) {
		client_close(c);
		return;
	}
	if (c->paused && c->n_pending < PENDING_MAX / 2) {
		c->paused = false; /* go on with what is buffered, then read again */
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
		process_input(c);
	}
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
	q->done = true;
	struct client *c = q->client;
	if (c && q->ordered) {
		q->ordered = false;
		c->n_ordered--;
	}
	if (c && q->applied_at > c->need_index) /* reads after it must see it */
		c->need_index = q->applied_at;
	if (q->fwd_peer) { /* a follower's request: the reply joins this pass's frame to it */
		struct peer_batch *b = peer_batch_of(s, q->fwd_peer);
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
	} else {
		entry_cmd_append(&c->multi, argv, argc);
		c->multi_n++;
		multi_track_select(c, cmd, argv, argc);
		resp_simple(&q->reply, "QUEUED");
	}
	creq_finish(c->s, q);
}

static void dispatch(struct client *c, const struct resp_arg *argv, uint32_t argc)
{
	struct server *s = c->s;
	struct creq *q = creq_new(s, c);
	s->stats.commands++;
	/* the command, or its subcommand, with its arity checked */
	const struct kv_cmd *cmd = kv_resolve(argv, argc, &q->reply);
	c->last_cmd = cmd;
	c->last_ms = server_now_ms();
	if (!cmd) {
		if (c->in_multi)
			c->multi_error = true;
		creq_finish(s, q);
		return;
	}
	bool control = !strcmp(cmd->name, "exec") || !strcmp(cmd->name, "discard") ||
		       !strcmp(cmd->name, "multi") || !strcmp(cmd->name, "quit") ||
		       !strcmp(cmd->name, "reset");
	if (c->in_multi && !control) {
		multi_queue(c, q, cmd, argv, argc);
		return;
	}
	if (cmd->flags & KV_SERVER) {
		if (!(cmd->flags & KV_CONNECTION) && requests_defer(s, c, q, argv, argc))
			return; /* runs once the requests before it are answered */
		server_command(s, c, q, argv, argc);
		return;
	}
	if (!(cmd->flags & (KV_WRITE | KV_READ))) { /* PING, ECHO, SELECT */
		struct kv_ctx k = {.kv = &s->kv,
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
		return;
	}
	bool read = (cmd->flags & KV_READ) != 0;
	if (!read) { /* a write carries its session, sequence number, ack and database */
		q->seq = c->next_seq++;
		struct entry_req_head h = {c->session, q->seq, client_ack(c, q->seq), c->db, false};
		entry_req_header(&q->cmd, &h, 1);
	}
	q->db = c->db;
	entry_cmd_append(&q->cmd, argv, argc);
	q->n_cmds = 1;
	request_submit(s, q, read);
}

/* Parses and dispatches what is buffered, flushing replies as it goes;
 * pauses reading while too many requests are in flight. */
static void process_input(struct client *c)
{
	size_t at = 0;
	while (!c->closing && !c->close_after_reply && c->n_pending < PENDING_MAX) {
		if (c->in.len - at < c->need)
			break;
		size_t used, need;
		const char *err;
		int rc = resp_parse_request(&c->req, c->in.p + at, c->in.len - at, &used, &need,
					    &err);
		if (rc == RESP_MORE) {
			c->need = need;
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
		if (c->req.argc)
			dispatch(c, c->req.argv, c->req.argc);
		if (c->repl) { /* KEEL.REPLICATE: what follows is the stream's */
			if (c->in.len > at)
				replication_recv(c->s, c, c->in.p + at, c->in.len - at);
			at = c->in.len;
			break;
		}
	}
	rbuf_consume(&c->in, at);
	if (c->closing)
		return;
	if (c->n_pending >= PENDING_MAX && !c->paused) {
		c->paused = true;
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
	client_mark(c);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct client *c = h->data;
	(void)hint;
	size_t want = c->need > c->in.len + 16384 ? c->need - c->in.len : 16384;
	uint8_t *p = rbuf_reserve(&c->in, want);
	*buf = uv_buf_init((char *)p, (unsigned)(c->in.cap - c->in.len));
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
		replication_recv(c->s, c, c->in.p, c->in.len);
		c->in.len = 0;
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
	client_set_session(c, rnd->u64(rnd->ctx) | 1); /* never 0: that means none */
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
uint64_t client_ack(const struct client *c, uint64_t seq)
{
	if (c->resumed_at)
		return c->resumed_at - 1;
	return c->sent_write ? c->acked_seq + 1 : seq;
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
