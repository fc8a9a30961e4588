/* net/peer.c — peer connections of net/peer.h on libuv. Every handle is
 * freed in its close callback; the peers object itself once its last
 * handle has closed after peers_stop. */
#include "net/peer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "base/prng.h"
#include "net/frame.h"
#include "net/stream.h"

struct peer;

struct conn {
	uv_tcp_t tcp;
	struct peers *ps;
	struct peer *owner; /* outgoing: its peer; incoming: NULL */
	uint64_t id;	    /* incoming: known after HELLO */
	bool connected;
	uint8_t *out; /* frames of this loop pass, not yet handed over */
	size_t out_len, out_cap;
	struct conn *next_out; /* the list of connections with frames to go */
	bool in_out_list;
	uint8_t *in;
	size_t in_len, in_cap;
	struct conn *next;    /* incoming list */
	uint64_t accepted_ms; /* incoming: when (uv_now), for the HELLO deadline */
};

struct peer {
	uint64_t id; /* 0: free slot */
	char host[64];
	int port;
	struct conn *out;
	uv_timer_t retry;
	bool retry_init;
	uint32_t backoff_ms;
	struct peers *ps;
};

struct peers {
	uv_loop_t *loop;
	uint64_t self;
	char bind_ip[64];
	uv_tcp_t listener;
	struct peers_cb cb;
	struct frame_hello hello;	    /* what we send */
	struct frame_hello told[PEERS_MAX]; /* what peers sent (id 0: free) */
	uint32_t told_next;		    /* the slot replaced when all are taken */
	struct peer peers[PEERS_MAX];
	struct conn *incoming;
	uint32_t n_unnamed, n_named; /* incoming, before and after their HELLO */
	uv_timer_t sweep;	     /* closes those late with their HELLO */
	struct conn *outq;	     /* connections with frames to go (peers_flush) */
	bool stopping;
	bool no_learning; /* peers_learn(false) */
	int open_handles;
	struct prng rng; /* reconnect jitter */
};

static void logf_(struct peers *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(struct peers *ps, const char *fmt, ...)
{
	if (!ps->cb.log)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	ps->cb.log(ps->cb.ctx, line);
}

static void maybe_free(struct peers *ps)
{
	if (ps->stopping && ps->open_handles == 0)
		keel_free(ps);
}

static void handle_closed(uv_handle_t *h)
{
	struct peers *ps = h->data;
	ps->open_handles--;
	maybe_free(ps);
}

static void schedule_connect(struct peer *p);

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = (struct conn *)h;
	struct peers *ps = c->ps;
	if (c->owner && c->owner->out == c) {
		c->owner->out = NULL;
		if (!ps->stopping && c->owner->id)
			schedule_connect(c->owner);
	}
	if (!c->owner) { /* unlink from the incoming list */
		if (c->id)
			ps->n_named--;
		else
			ps->n_unnamed--;
		for (struct conn **pp = &ps->incoming; *pp; pp = &(*pp)->next) {
			if (*pp == c) {
				*pp = c->next;
				break;
			}
		}
	}
	if (c->in_out_list) {
		for (struct conn **pp = &ps->outq; *pp; pp = &(*pp)->next_out) {
			if (*pp == c) {
				*pp = c->next_out;
				break;
			}
		}
	}
	keel_free(c->out);
	keel_free(c->in);
	keel_free(c);
	ps->open_handles--;
	maybe_free(ps);
}

static void conn_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static struct conn *conn_new(struct peers *ps, struct peer *owner)
{
	struct conn *c = keel_calloc(1, sizeof *c);
	c->ps = ps;
	c->owner = owner;
	uv_tcp_init(ps->loop, &c->tcp);
	uv_tcp_nodelay(&c->tcp, 1);
	c->tcp.data = c;
	ps->open_handles++;
	return c;
}

static void write_failed(uv_stream_t *st)
{
	conn_close(st->data);
}

/* Queues a frame: it goes with the rest of this loop pass's frames to the
 * same peer, in one write, when peers_flush runs. */
/* Queues a frame whose payload is pre (pre_n bytes, up to a GROUP frame's
 * header) followed by payload. */
static bool conn_write2(struct conn *c, uint8_t kind, const void *pre, size_t pre_n,
			const void *payload, size_t n)
{
	size_t len = pre_n + n;
	if (!c->connected ||
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + c->out_len + FRAME_HDR + len >
		    PEER_QUEUE_MAX ||
	    n > FRAME_MAX || uv_is_closing((uv_handle_t *)&c->tcp))
		return false;
	if (c->out_cap - c->out_len < FRAME_HDR + len) {
		size_t cap = c->out_cap ? c->out_cap : 16384;
		while (cap - c->out_len < FRAME_HDR + len)
			cap *= 2;
		c->out = keel_realloc(c->out, cap);
		c->out_cap = cap;
	}
	uint8_t *body = c->out + c->out_len + FRAME_HDR;
	if (pre_n)
		memcpy(body, pre, pre_n);
	if (n)
		memcpy(body + pre_n, payload, n);
	frame_header(c->out + c->out_len, kind, body, (uint32_t)len);
	c->out_len += FRAME_HDR + len;
	if (!c->in_out_list) {
		c->in_out_list = true;
		c->next_out = c->ps->outq;
		c->ps->outq = c;
	}
	return true;
}

static bool conn_write(struct conn *c, uint8_t kind, const void *payload, size_t n)
{
	return conn_write2(c, kind, NULL, 0, payload, n);
}

void peers_flush(struct peers *ps)
{
	while (ps->outq) {
		struct conn *c = ps->outq;
		ps->outq = c->next_out;
		c->in_out_list = false;
		if (c->out_len &&
		    stream_write((uv_stream_t *)&c->tcp, c->out, c->out_len, write_failed) != 0)
			conn_close(c);
		c->out_len = 0;
		if (c->out_cap > (1u << 20)) { /* the buffer is kept, unless big */
			keel_free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;
	if (!c->owner && !c->id) { /* no more than a HELLO is read before one */
		if (!c->in) {
			c->in_cap = FRAME_HDR + FRAME_HELLO_MAX;
			c->in = keel_malloc(c->in_cap);
		}
	} else if (c->in_cap - c->in_len < 65536) {
		c->in_cap = c->in_cap >= 65536 ? c->in_cap * 2 : 131072;
		c->in = keel_realloc(c->in, c->in_cap);
	}
	*buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static struct peer *find(struct peers *ps, uint64_t id);

/* A peer's HELLO: kept (where it serves clients), and if the node is not
 * known yet (one that added us to the cluster), we connect back to it. */
static void learn_peer(struct peers *ps, const struct frame_hello *h)
{
	if (h->id == ps->self)
		return;
	struct frame_hello *slot = NULL;
	for (int i = 0; i < PEERS_MAX && !slot; i++)
		if (ps->told[i].id == h->id)
			slot = &ps->told[i];
	for (int i = 0; i < PEERS_MAX && !slot; i++)
		if (!ps->told[i].id)
			slot = &ps->told[i];
	if (!slot) {
		slot = &ps->told[ps->told_next];
		ps->told_next = (ps->told_next + 1) % PEERS_MAX;
	}
	*slot = *h;
	if (find(ps, h->id) || ps->no_learning)
		return;
	logf_(ps, "learned peer %llu at %s", (unsigned long long)h->id, h->peer_addr);
	peers_set(ps, h->id, h->peer_addr);
}

const struct frame_hello *peers_told(const struct peers *ps, uint64_t id)
{
	for (int i = 0; i < PEERS_MAX && id; i++)
		if (ps->told[i].id == id)
			return &ps->told[i];
	return NULL;
}

/* A HELLO names the connection: it replaces an older connection from the
 * same node (whose peer has reconnected), within PEERS_MAX names. */
static bool conn_name(struct conn *c, uint64_t id)
{
	struct peers *ps = c->ps;
	uint32_t named = 0; /* other names, on connections that stay */
	for (struct conn *o = ps->incoming; o; o = o->next) {
		if (o == c || !o->id || uv_is_closing((uv_handle_t *)&o->tcp))
			continue;
		if (o->id == id)
			conn_close(o);
		else
			named++;
	}
	if (named >= PEERS_MAX)
		return false;
	ps->n_unnamed--;
	ps->n_named++;
	c->id = id;
	return true;
}

/* Handles the frames buffered on an incoming connection. */
static void conn_frames(struct conn *c)
{
	struct peers *ps = c->ps;
	size_t at = 0;
	for (;;) {
		struct frame f;
		size_t used;
		const char *why = NULL;
		if (!c->id && c->in_len - at > 3 && c->in[at + 3] != FRAME_HELLO) {
			logf_(ps, "peer connection dropped: no hello");
			conn_close(c);
			return;
		}
		int rc = frame_parse(c->in + at, c->in_len - at, &f, &used, &why);
		if (rc == FRAME_MORE)
			break;
		struct frame_hello h;
		if (rc == FRAME_OK && f.kind == FRAME_HELLO &&
		    (!frame_hello_decode(f.payload, f.len, &h) || (c->id && h.id != c->id)))
			why = "bad hello";
		if (rc == FRAME_BAD || (!c->id && f.kind != FRAME_HELLO) ||
		    (f.kind == FRAME_HELLO && why)) {
			logf_(ps, "peer connection dropped: %s", why ? why : "no hello");
			conn_close(c);
			return;
		}
		at += used;
		if (f.kind == FRAME_HELLO) {
			if (!c->id && !conn_name(c, h.id)) {
				logf_(ps, "peer connection dropped: %u peers connected",
				      (unsigned)PEERS_MAX);
				conn_close(c);
				return;
			}
			learn_peer(ps, &h);
			continue;
		}
		if (ps->cb.recv && !ps->stopping)
			ps->cb.recv(ps->cb.ctx, c->id, f.kind, f.payload, f.len);
		if (uv_is_closing((uv_handle_t *)&c->tcp))
			return;
	}
	memmove(c->in, c->in + at, c->in_len - at);
	c->in_len -= at;
	if (c->in_cap > (1u << 20) && c->in_len < c->in_cap / 4) { /* shrink after a big frame */
		c->in_cap = c->in_len > 131072 ? c->in_len : 131072;
		c->in = keel_realloc(c->in, c->in_cap);
	}
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->owner)
		return; /* an outgoing connection: nothing is expected back */
	c->in_len += (size_t)n;
	conn_frames(c);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	keel_free(req);
	if (status < 0 || c->ps->stopping) {
		conn_close(c);
		return;
	}
	c->connected = true;
	c->owner->backoff_ms = 0;
	uint8_t hello[FRAME_HELLO_MAX];
	size_t n = frame_hello_encode(&c->ps->hello, hello);
	if (n)
		conn_write(c, FRAME_HELLO, hello, n);
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	logf_(c->ps, "connected to peer %llu at %s:%d", (unsigned long long)c->owner->id,
	      c->owner->host, c->owner->port);
}

static void do_connect(struct peer *p)
{
	struct peers *ps = p->ps;
	if (p->out || ps->stopping || !p->id)
		return;
	struct sockaddr_in src, dst;
	if (uv_ip4_addr(p->host, p->port, &dst) != 0) {
		logf_(ps, "peer %llu: bad address %s:%d", (unsigned long long)p->id, p->host,
		      p->port);
		return;
	}
	struct conn *c = conn_new(ps, p);
	p->out = c;
	if (ps->bind_ip[0] && uv_ip4_addr(ps->bind_ip, 0, &src) == 0)
		uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
	uv_connect_t *req = keel_malloc(sizeof *req);
	req->data = c;
	if (uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&dst, connect_cb) != 0) {
		keel_free(req);
		conn_close(c);
	}
}

static void retry_cb(uv_timer_t *t)
{
	do_connect(t->data);
}

static void schedule_connect(struct peer *p)
{
	struct peers *ps = p->ps;
	if (!p->retry_init) {
		uv_timer_init(ps->loop, &p->retry);
		p->retry.data = p;
		p->retry_init = true;
		ps->open_handles++;
	}
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : 50;
	if (p->backoff_ms > 2000)
		p->backoff_ms = 2000;
	uint32_t jitter = (uint32_t)prng_below(&ps->rng, p->backoff_ms / 2 + 1);
	uv_timer_start(&p->retry, retry_cb, p->backoff_ms / 2 + jitter, 0);
}

static void accept_cb(uv_stream_t *server, int status)
{
	struct peers *ps = server->data;
	if (status < 0 || ps->stopping)
		return;
	struct conn *c = conn_new(ps, NULL);
	c->accepted_ms = uv_now(ps->loop);
	c->next = ps->incoming;
	ps->incoming = c;
	ps->n_unnamed++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	if (ps->n_unnamed > PEER_UNNAMED_MAX) {
		logf_(ps, "peer connection refused: %u connections wait for their hello",
		      (unsigned)PEER_UNNAMED_MAX);
		conn_close(c);
		return;
	}
	c->connected = true;
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* Closes the incoming connections that have not said HELLO in time. */
static void sweep_cb(uv_timer_t *t)
{
	struct peers *ps = t->data;
	uint64_t now = uv_now(ps->loop);
	for (struct conn *c = ps->incoming; c; c = c->next) {
		if (!c->id && now - c->accepted_ms >= PEER_HELLO_MS &&
		    !uv_is_closing((uv_handle_t *)&c->tcp)) {
			logf_(ps, "peer connection dropped: no hello within %d ms", PEER_HELLO_MS);
			conn_close(c);
		}
	}
}

int peers_start(uv_loop_t *loop, uint64_t self, const char *bind_ip, int port,
		const struct peers_cb *cb, struct peers **out, struct keel_errmsg *err)
{
	struct peers *ps = keel_calloc(1, sizeof *ps);
	ps->loop = loop;
	ps->self = self;
	ps->cb = *cb;
	prng_seed(&ps->rng, self * 0x9E3779B97F4A7C15ull + (uint64_t)uv_hrtime());
	snprintf(ps->bind_ip, sizeof ps->bind_ip, "%s", bind_ip);
	ps->hello.id = self;
	snprintf(ps->hello.peer_addr, sizeof ps->hello.peer_addr, "%s:%d", bind_ip, port);
	struct sockaddr_in a;
	int rc = uv_ip4_addr(bind_ip, port, &a);
	uv_tcp_init(loop, &ps->listener);
	ps->listener.data = ps;
	ps->open_handles++;
	if (rc == 0)
		rc = uv_tcp_bind(&ps->listener, (const struct sockaddr *)&a, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&ps->listener, 128, accept_cb);
	if (rc != 0) {
		keel_errmsg_set(err, "peer port %s:%d: %s", bind_ip, port, uv_strerror(rc));
		ps->stopping = true;
		uv_close((uv_handle_t *)&ps->listener, handle_closed);
		return KEEL_EIO;
	}
	uv_timer_init(loop, &ps->sweep);
	ps->sweep.data = ps;
	ps->open_handles++;
	uv_timer_start(&ps->sweep, sweep_cb, PEER_HELLO_MS / 4, PEER_HELLO_MS / 4);
	*out = ps;
	return KEEL_OK;
}

static struct peer *find(struct peers *ps, uint64_t id)
{
	for (int i = 0; i < PEERS_MAX; i++)
		if (ps->peers[i].id == id)
			return &ps->peers[i];
	return NULL;
}

void peers_set(struct peers *ps, uint64_t id, const char *addr)
{
	if (id == ps->self)
		return;
	struct peer *p = find(ps, id);
	if (!p)
		p = find(ps, 0);
	if (!p)
		return;
	char host[64] = "";
	int port = 0;
	const char *colon = strrchr(addr, ':');
	if (colon && (size_t)(colon - addr) < sizeof host) {
		memcpy(host, addr, (size_t)(colon - addr));
		port = (int)strtol(colon + 1, NULL, 10);
	}
	bool changed = p->id != id || strcmp(p->host, host) || p->port != port;
	p->id = id;
	p->ps = ps;
	snprintf(p->host, sizeof p->host, "%s", host);
	p->port = port;
	if (changed && p->out)
		conn_close(p->out);
	else if (!p->out)
		do_connect(p);
}

void peers_learn(struct peers *ps, bool on)
{
	ps->no_learning = !on;
}

void peers_announce(struct peers *ps, const char *client_host, int client_port, int sentinel_port)
{
	bool ok = client_port > 0 && client_port <= 65535 && sentinel_port >= 0 &&
		  sentinel_port <= 65535 && strlen(client_host) < FRAME_ADDR_MAX;
	snprintf(ps->hello.client_host, sizeof ps->hello.client_host, "%s", ok ? client_host : "");
	ps->hello.client_port = ok ? (uint16_t)client_port : 0;
	ps->hello.sentinel_port = ok ? (uint16_t)sentinel_port : 0;
}

void peers_remove(struct peers *ps, uint64_t id)
{
	struct peer *p = find(ps, id);
	if (!p || !id)
		return;
	p->id = 0;
	if (p->retry_init)
		uv_timer_stop(&p->retry);
	if (p->out)
		conn_close(p->out);
}

bool peers_send(struct peers *ps, uint64_t id, uint8_t kind, const void *payload, size_t n)
{
	struct peer *p = find(ps, id);
	return p && id && p->out && conn_write(p->out, kind, payload, n);
}

bool peers_send_group(struct peers *ps, uint64_t id, uint32_t group, uint8_t kind,
		      const void *payload, size_t n)
{
	if (!group)
		return peers_send(ps, id, kind, payload, n);
	struct peer *p = find(ps, id);
	uint8_t hdr[FRAME_GROUP_HDR];
	frame_group_header(hdr, group, kind);
	return p && id && p->out && conn_write2(p->out, FRAME_GROUP, hdr, sizeof hdr, payload, n);
}

bool peers_connected(const struct peers *ps, uint64_t id)
{
	for (int i = 0; i < PEERS_MAX; i++)
		if (ps->peers[i].id == id && id)
			return ps->peers[i].out && ps->peers[i].out->connected;
	return false;
}

void peers_stop(struct peers *ps)
{
	ps->stopping = true;
	for (int i = 0; i < PEERS_MAX; i++) {
		struct peer *p = &ps->peers[i];
		if (p->retry_init) {
			p->retry.data = ps; /* handle_closed reads the owner */
			uv_close((uv_handle_t *)&p->retry, handle_closed);
		}
		if (p->out)
			conn_close(p->out);
	}
	for (struct conn *c = ps->incoming; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&ps->sweep, handle_closed);
	uv_close((uv_handle_t *)&ps->listener, handle_closed);
}
