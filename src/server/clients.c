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
		if (q->done)
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
	if (q->fwd_peer) { /* a follower's request: the reply joins this pass's frame to it */
		struct peer_batch *b = peer_batch_of(s, q->fwd_peer);
		if (b) {
			rbuf_put_u64(&b->rep, q->fwd_id);
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

/* Queues a command inside MULTI, or refuses it. */
static void multi_queue(struct client *c, struct creq *q, const struct kv_cmd *cmd,
			const struct resp_arg *argv, uint32_t argc)
{
	if (cmd->flags & KV_SERVER) {
		c->multi_error = true;
		resp_errorf(&q->reply, "ERR '%s' is not allowed inside MULTI here", cmd->name);
	} else {
		entry_cmd_append(&c->multi, argv, argc);
		c->multi_n++;
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
		server_command(s, c, q, argv, argc);
		return;
	}
	if (!(cmd->flags & (KV_WRITE | KV_READ))) { /* PING, ECHO, SELECT */
		struct kv_ctx k = {&s->kv, argv, argc, &q->reply, c->proto, server_now_ms()};
		kv_exec(&k);
		creq_finish(s, q);
		return;
	}
	bool read = (cmd->flags & KV_READ) != 0;
	if (!read) /* a write carries its session and sequence number */
		entry_req_header(&q->cmd, c->session, c->next_seq++, 1);
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
	c->session = rnd->u64(rnd->ctx) | 1; /* never 0: that means none */
	c->next_seq = 1;
	rbuf_init(&c->in);
	rbuf_init(&c->multi);
	resp_req_init(&c->req);
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	c->next = s->clients;
	s->clients = c;
	s->n_clients++;
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
	for (uint32_t i = 0; i < n; i++) {
		const char *ip = s->cfg.n_client_bind ? s->cfg.client_bind[i] : s->cfg.bind;
		struct sockaddr_in a;
		uv_tcp_t *l = &s->listeners[i];
		uv_tcp_init(s->loop, l);
		l->data = s;
		s->n_listeners = i + 1;
		int rc = uv_ip4_addr(ip, s->cfg.port, &a);
		if (rc == 0)
			rc = uv_tcp_bind(l, (const struct sockaddr *)&a, 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)l, 511, on_connection);
		if (rc != 0) {
			keel_errmsg_set(err, "client port %s:%d: %s", ip, s->cfg.port,
					uv_strerror(rc));
			return KEEL_EIO;
		}
	}
	return KEEL_OK;
}

void clients_close_all(struct server *s)
{
	for (struct client *c = s->clients; c; c = c->next)
		client_close(c);
}
