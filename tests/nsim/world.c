/* tests/nsim/world.c — the simulated world of world.h: one clock, one
 * queue of events ordered by (time, sequence number), hosts with their
 * loops and disks, the network between them (the kernel's side of TCP,
 * see uvsim.h), the driver's own connections, and the getters of src/io/
 * (files, clocks, randomness) in place of src/io/fs_posix.c and
 * clock_posix.c.
 *
 * Guarantees: everything random is drawn from the one PRNG seeded with
 * the world's seed, and every event runs in (time, sequence) order, so a
 * seed replays the same trace byte for byte. Bytes of a connection arrive
 * in order, each segment after a latency drawn when it is sent and never
 * before the segment sent before it (on a split connection, world_set_split,
 * in pieces); a cut holds a pipe's segments (and
 * its SYN, FIN and RST) until healed; a host's loop iterates at most once
 * per NSIM_ITER_NS of world time (the time an iteration takes), so a loop
 * that always has work (an idle handle) still lets the clock move. */
#include "nsim/world.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "io/clock.h"
#include "nsim/uvsim.h"
#include "sim/simfs.h"

#define NSIM_ITER_NS	  1000u		  /* the least world time between two iterations */
#define NSIM_EPOCH_MS	  1767225600000ll /* 2026-01-01T00:00:00Z: the world's wall at 0 */
#define NSIM_EPHEMERAL_LO 40000u	  /* ephemeral ports: [LO, LO + N) */
#define NSIM_EPHEMERAL_N  20000u
#define NSIM_NEVER	  UINT64_MAX

enum ev_kind { EV_DRIVER = 1, EV_HOST, EV_PIPE, EV_CTIMEOUT };

struct wev {
	uint64_t at, seq;
	int kind;
	void *p;
	void (*fn)(void *arg);
	uint64_t u;
};

enum host_state { H_DOWN = 0, H_UP, H_STOPPING };

struct host {
	struct world *w;
	char ip[16];
	uint32_t addr;
	int number;
	struct simfs *disk;
	int64_t wall_offset_ms;
	enum host_state state;
	uv_loop_t *loop;
	uint64_t paused_until, armed_at, last_iter, epoch, iterations;
	bool dirty;
	struct host *next_dirty;
	uint16_t next_port;
	struct io_wall wall;
};

enum seg_kind { SEG_SYN = 1, SEG_SYNACK, SEG_DATA, SEG_FIN, SEG_RST };

struct seg {
	struct seg *next;
	uint64_t at;
	int kind;
	size_t len, off;
	uint8_t data[];
};

struct pipe { /* one direction of a connection: pipe[i] from ep[i] */
	struct seg *head, *tail;
	uint64_t last_at;
	size_t unread; /* DATA bytes in flight or received and not read */
	bool armed, held, blocked;
};

struct ep {
	struct conn *c;
	int side;
	struct host *host; /* NULL: an address no host has */
	struct naddr local, peer;
	ep_notify_fn notify;
	void *owner;
	int cstatus; /* 0 connecting, 1 connected, < 0 the connect's error */
	int err;     /* an error the next read or write reports */
	bool open;   /* an owner (or a listener's queue) holds it */
	bool gone;   /* its socket is gone (crash, connect timeout) */
	bool fin_out, rst_out, fin_in, rst_in;
	struct seg *rx_head, *rx_tail;
	size_t rx_bytes;
	struct nlisten *lis; /* in this listener's queue, not accepted yet */
	struct ep *lnext;
};

struct conn {
	struct conn *prev, *next;
	struct ep ep[2]; /* ep[0] connected, ep[1] accepted */
	struct pipe pipe[2];
	int refs; /* events that point at it */
	uint64_t id;
	bool split; /* its data segments arrive in pieces (world_set_split) */
};

struct nlisten {
	struct nlisten *next;
	struct host *h;
	struct naddr a;
	ep_notify_fn fn;
	void *owner;
	struct ep *qh, *qt;
};

struct cut {
	struct cut *next;
	struct host *a, *b;
};

struct wconn {
	struct wconn *prev, *next;
	struct world *w;
	struct ep *ep;
	void (*cb)(void *ctx, struct wconn *c, enum wconn_event ev);
	void *ctx;
	uint8_t *in, *out;
	size_t in_len, in_cap, out_len, out_cap;
	bool connected, ended, in_cb, close_asked;
};

struct world {
	struct world_options o;
	struct prng rng;
	uint64_t now, seq, conn_ids;
	uint32_t split_permille;
	struct wev *heap;
	size_t n_ev, cap_ev;
	struct host **hosts;
	size_t n_hosts;
	struct host *current, *dirty;
	struct conn *conns;
	struct nlisten *listeners;
	struct cut *cuts;
	struct wconn *wconns;
	struct io_clock clock;
	struct io_random random;
	struct io_wall wall;
};

static struct world *the_world;

/* ---------------------------------------------------------------- trace */

void world_tracef(struct world *w, const char *fmt, ...)
{
	if (!w->o.trace)
		return;
	char line[512];
	int n = snprintf(line, sizeof line, "%llu.%09llu ",
			 (unsigned long long)(w->now / 1000000000u),
			 (unsigned long long)(w->now % 1000000000u));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	w->o.trace(w->o.trace_ctx, line);
}

static const char *addr_str(struct naddr a, char *buf, size_t n)
{
	snprintf(buf, n, "%u.%u.%u.%u:%u", a.ip >> 24, (a.ip >> 16) & 255, (a.ip >> 8) & 255,
		 a.ip & 255, a.port);
	return buf;
}

/* ---------------------------------------------------------------- events */

static bool ev_less(const struct wev *a, const struct wev *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void ev_push(struct world *w, struct wev e)
{
	if (e.at < w->now)
		e.at = w->now;
	e.seq = w->seq++;
	if (w->n_ev == w->cap_ev) {
		w->cap_ev = w->cap_ev ? w->cap_ev * 2 : 256;
		w->heap = keel_realloc(w->heap, w->cap_ev * sizeof *w->heap);
	}
	size_t i = w->n_ev++;
	while (i > 0 && ev_less(&e, &w->heap[(i - 1) / 2])) {
		w->heap[i] = w->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->heap[i] = e;
}

static struct wev ev_pop(struct world *w)
{
	struct wev top = w->heap[0], last = w->heap[--w->n_ev];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= w->n_ev)
			break;
		if (c + 1 < w->n_ev && ev_less(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!ev_less(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->n_ev)
		w->heap[i] = last;
	return top;
}

/* ---------------------------------------------------------------- the io getters */

static uint64_t clock_now(void *ctx)
{
	return ((struct world *)ctx)->now;
}

static uint64_t random_u64(void *ctx)
{
	return prng_next(&((struct world *)ctx)->rng);
}

static int64_t world_wall_ms(void *ctx)
{
	return NSIM_EPOCH_MS + (int64_t)(((struct world *)ctx)->now / 1000000u);
}

static int64_t host_wall_ms(void *ctx)
{
	struct host *h = ctx;
	return NSIM_EPOCH_MS + (int64_t)(h->w->now / 1000000u) + h->wall_offset_ms;
}

static struct world *world_get(void)
{
	if (!the_world) {
		fprintf(stderr, "nsim: the io getters are called with no world\n");
		abort();
	}
	return the_world;
}

const struct io_clock *io_clock_posix(void)
{
	return &world_get()->clock;
}

const struct io_random *io_random_posix(void)
{
	return &world_get()->random;
}

const struct io_wall *io_wall_posix(void)
{
	struct world *w = world_get();
	return w->current ? &w->current->wall : &w->wall;
}

const struct io_fs *io_fs_posix(void)
{
	struct world *w = world_get();
	if (!w->current) {
		fprintf(stderr, "nsim: io_fs_posix called on no host\n");
		abort();
	}
	return simfs_ops(w->current->disk);
}

uint64_t nsim_now_ns(void)
{
	return world_get()->now;
}

struct host *nsim_current(void)
{
	return world_get()->current;
}

/* ---------------------------------------------------------------- the world */

struct world *world_new(const struct world_options *o)
{
	if (the_world) {
		fprintf(stderr, "nsim: one world at a time\n");
		abort();
	}
	struct world *w = keel_calloc(1, sizeof *w);
	w->o = *o;
	if (!w->o.latency_max_ns) {
		w->o.latency_min_ns = 100000u;
		w->o.latency_max_ns = 2000000u;
	}
	if (w->o.latency_min_ns > w->o.latency_max_ns)
		w->o.latency_min_ns = w->o.latency_max_ns;
	if (!w->o.connect_timeout_ns)
		w->o.connect_timeout_ns = 1000000000u;
	prng_seed(&w->rng, o->seed);
	w->clock = (struct io_clock){.ctx = w, .now_ns = clock_now};
	w->random = (struct io_random){.ctx = w, .u64 = random_u64};
	w->wall = (struct io_wall){.ctx = w, .now_ms = world_wall_ms};
	the_world = w;
	return w;
}

static void conn_free(struct world *w, struct conn *c);

void world_free(struct world *w)
{
	for (size_t i = 0; i < w->n_hosts; i++)
		if (w->hosts[i]->state != H_DOWN) {
			fprintf(stderr, "nsim: world_free with host %s up\n", w->hosts[i]->ip);
			abort();
		}
	while (w->wconns)
		wconn_close(w->wconns);
	while (w->conns)
		conn_free(w, w->conns);
	while (w->cuts) {
		struct cut *c = w->cuts;
		w->cuts = c->next;
		keel_free(c);
	}
	w->dirty = NULL;
	for (size_t i = 0; i < w->n_hosts; i++) {
		simfs_free(w->hosts[i]->disk);
		keel_free(w->hosts[i]);
	}
	keel_free(w->hosts);
	keel_free(w->heap);
	keel_free(w);
	the_world = NULL;
}

uint64_t world_now_ns(const struct world *w)
{
	return w->now;
}

struct prng *world_rng(struct world *w)
{
	return &w->rng;
}

void world_at(struct world *w, uint64_t at_ns, void (*fn)(void *arg), void *arg)
{
	ev_push(w, (struct wev){.at = at_ns, .kind = EV_DRIVER, .fn = fn, .p = arg});
}

void world_set_latency(struct world *w, uint64_t min_ns, uint64_t max_ns)
{
	w->o.latency_min_ns = min_ns < max_ns ? min_ns : max_ns;
	w->o.latency_max_ns = max_ns;
}

static uint64_t latency(struct world *w)
{
	return prng_range(&w->rng, w->o.latency_min_ns, w->o.latency_max_ns + 1);
}

void world_set_split(struct world *w, uint32_t permille)
{
	w->split_permille = permille < 1000 ? permille : 1000;
}

/* ---------------------------------------------------------------- hosts: scheduling */

void host_dirty(struct host *h)
{
	if (h->dirty)
		return;
	h->dirty = true;
	h->next_dirty = h->w->dirty;
	h->w->dirty = h;
}

/* Arms an iteration of each dirty host's loop at the time it is due. */
static void rearm_dirty(struct world *w)
{
	while (w->dirty) {
		struct host *h = w->dirty;
		w->dirty = h->next_dirty;
		h->dirty = false;
		if (h->state != H_UP || !h->loop)
			continue;
		uint64_t t = uvsim_loop_due(h->loop);
		if (t == NSIM_NEVER)
			continue;
		if (t < w->now)
			t = w->now;
		if (h->iterations && t < h->last_iter + NSIM_ITER_NS)
			t = h->last_iter + NSIM_ITER_NS;
		if (t < h->paused_until)
			t = h->paused_until;
		if (t >= h->armed_at)
			continue;
		h->armed_at = t;
		ev_push(w, (struct wev){.at = t, .kind = EV_HOST, .p = h, .u = h->epoch});
	}
}

static void host_iterate(struct world *w, struct wev *e)
{
	struct host *h = e->p;
	if (e->u != h->epoch || h->state != H_UP || e->at != h->armed_at)
		return; /* a stale wake: another is armed, or the host went down */
	h->armed_at = NSIM_NEVER;
	if (h->paused_until > w->now) {
		host_dirty(h);
		return;
	}
	h->last_iter = w->now;
	h->iterations++;
	struct host *prev = w->current;
	w->current = h;
	uvsim_loop_iterate(h->loop);
	w->current = prev;
	host_dirty(h);
}

static void pipe_event(struct world *w, struct conn *c, int dir);
static void connect_timeout(struct world *w, struct conn *c);
static void conn_maybe_free(struct world *w, struct conn *c);

bool world_step(struct world *w)
{
	rearm_dirty(w);
	if (!w->n_ev)
		return false;
	struct wev e = ev_pop(w);
	w->now = e.at;
	switch (e.kind) {
	case EV_DRIVER:
		e.fn(e.p);
		break;
	case EV_HOST:
		host_iterate(w, &e);
		break;
	case EV_PIPE: /* its reference held until delivery is over: a callback may close */
		pipe_event(w, e.p, (int)e.u);
		((struct conn *)e.p)->refs--;
		conn_maybe_free(w, e.p);
		break;
	case EV_CTIMEOUT:
		connect_timeout(w, e.p);
		((struct conn *)e.p)->refs--;
		conn_maybe_free(w, e.p);
		break;
	}
	rearm_dirty(w);
	return true;
}

void world_run_until(struct world *w, uint64_t t_ns)
{
	for (;;) {
		rearm_dirty(w);
		if (!w->n_ev || w->heap[0].at > t_ns)
			break;
		world_step(w);
	}
	if (w->now < t_ns)
		w->now = t_ns;
}

/* ---------------------------------------------------------------- hosts */

static uint32_t parse_ip(const char *ip)
{
	unsigned a, b, c, d;
	char tail;
	if (sscanf(ip, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 ||
	    c > 255 || d > 255) {
		fprintf(stderr, "nsim: bad host address %s\n", ip);
		abort();
	}
	return a << 24 | b << 16 | c << 8 | d;
}

static struct host *host_by_addr(struct world *w, uint32_t addr)
{
	for (size_t i = 0; i < w->n_hosts; i++)
		if (w->hosts[i]->addr == addr)
			return w->hosts[i];
	return NULL;
}

struct host *world_host(struct world *w, const char *ip)
{
	uint32_t addr = parse_ip(ip);
	if (host_by_addr(w, addr)) {
		fprintf(stderr, "nsim: two hosts at %s\n", ip);
		abort();
	}
	struct host *h = keel_calloc(1, sizeof *h);
	h->w = w;
	snprintf(h->ip, sizeof h->ip, "%s", ip);
	h->addr = addr;
	h->number = (int)w->n_hosts + 1;
	h->disk = simfs_new();
	h->armed_at = NSIM_NEVER;
	h->next_port = (uint16_t)(NSIM_EPHEMERAL_LO + prng_below(&w->rng, NSIM_EPHEMERAL_N));
	h->wall = (struct io_wall){.ctx = h, .now_ms = host_wall_ms};
	w->hosts = keel_realloc(w->hosts, (w->n_hosts + 1) * sizeof *w->hosts);
	w->hosts[w->n_hosts++] = h;
	return h;
}

const char *host_ip(const struct host *h)
{
	return h->ip;
}

uint32_t host_addr(const struct host *h)
{
	return h->addr;
}

int host_number(const struct host *h)
{
	return h->number;
}

struct simfs *host_disk(struct host *h)
{
	return h->disk;
}

void host_set_wall_offset_ms(struct host *h, int64_t ms)
{
	h->wall_offset_ms = ms;
}

bool host_is_up(const struct host *h)
{
	return h->state == H_UP;
}

uv_loop_t *host_loop(struct host *h)
{
	return h->state == H_UP ? h->loop : NULL;
}

struct host *world_current(struct world *w)
{
	return w->current;
}

void host_enter(struct host *h, void (*fn)(void *arg), void *arg)
{
	struct world *w = h->w;
	struct host *prev = w->current;
	w->current = h;
	fn(arg);
	w->current = prev;
	host_dirty(h);
	rearm_dirty(w);
}

uv_loop_t *host_up(struct host *h, void (*fn)(void *arg), void *arg)
{
	struct world *w = h->w;
	if (h->state != H_DOWN) {
		fprintf(stderr, "nsim: host_up of %s, which is up\n", h->ip);
		abort();
	}
	h->loop = keel_calloc(1, sizeof *h->loop);
	uvsim_loop_init(h->loop, h);
	h->state = H_UP;
	h->epoch++;
	h->armed_at = NSIM_NEVER;
	h->paused_until = 0;
	h->iterations = 0;
	world_tracef(w, "host %s up", h->ip);
	if (fn)
		host_enter(h, fn, arg);
	host_dirty(h);
	rearm_dirty(w);
	return h->loop;
}

static void net_host_crash(struct world *w, struct host *h);

/* The loop's last close callbacks run; then it must hold no handle. */
static void host_close_loop(struct host *h, const char *why)
{
	struct world *w = h->w;
	struct host *prev = w->current;
	w->current = h;
	uvsim_loop_finish_closing(h->loop);
	w->current = prev;
	size_t left = uvsim_loop_handles(h->loop);
	if (left) {
		fprintf(stderr, "nsim: %s of %s leaves %zu handles open on its loop\n", why, h->ip,
			left);
		abort();
	}
	uvsim_loop_free(h->loop);
	keel_free(h->loop);
	h->loop = NULL;
	h->state = H_DOWN;
	h->epoch++;
	h->armed_at = NSIM_NEVER;
	h->paused_until = 0;
}

void host_crash_free(struct host *h, void (*halt)(void *arg), void (*free_fn)(void *arg), void *arg)
{
	struct world *w = h->w;
	if (h->state != H_UP) {
		fprintf(stderr, "nsim: host_crash of %s, which is down\n", h->ip);
		abort();
	}
	world_tracef(w, "host %s crash", h->ip);
	h->state = H_STOPPING;
	net_host_crash(w, h);
	if (halt) {
		struct host *prev = w->current;
		w->current = h;
		halt(arg);
		w->current = prev;
	}
	host_close_loop(h, "host_crash");
	if (free_fn) {
		struct host *prev = w->current;
		w->current = h;
		free_fn(arg);
		w->current = prev;
	}
	simfs_crash(h->disk, &w->rng);
	rearm_dirty(w);
}

void host_crash(struct host *h, void (*halt)(void *arg), void *arg)
{
	host_crash_free(h, halt, NULL, arg);
}

void host_down(struct host *h)
{
	if (h->state != H_UP) {
		fprintf(stderr, "nsim: host_down of %s, which is down\n", h->ip);
		abort();
	}
	world_tracef(h->w, "host %s down", h->ip);
	h->state = H_STOPPING;
	host_close_loop(h, "host_down");
	rearm_dirty(h->w);
}

void host_pause_until(struct host *h, uint64_t t_ns)
{
	world_tracef(h->w, "host %s paused until %llu", h->ip, (unsigned long long)t_ns);
	h->paused_until = t_ns;
	host_dirty(h);
	rearm_dirty(h->w);
}

/* ---------------------------------------------------------------- network: segments */

static bool is_cut(struct world *w, const struct host *a, const struct host *b)
{
	if (!a || !b || a == b)
		return false;
	for (struct cut *c = w->cuts; c; c = c->next)
		if ((c->a == a && c->b == b) || (c->a == b && c->b == a))
			return true;
	return false;
}

static void pipe_arm(struct world *w, struct conn *c, int dir)
{
	struct pipe *p = &c->pipe[dir];
	if (p->armed || p->held || !p->head)
		return;
	p->armed = true;
	c->refs++;
	ev_push(w, (struct wev){.at = p->head->at, .kind = EV_PIPE, .p = c, .u = (uint64_t)dir});
}

/* Queues a segment on c->pipe[dir], to arrive at at (or with the one
 * before it). */
static void seg_queue(struct world *w, struct conn *c, int dir, int kind, const void *d, size_t n,
		      uint64_t at)
{
	struct pipe *p = &c->pipe[dir];
	struct seg *s = keel_malloc(sizeof *s + n);
	s->next = NULL;
	s->kind = kind;
	s->len = n;
	s->off = 0;
	if (n)
		memcpy(s->data, d, n);
	s->at = at;
	if (s->at < p->last_at)
		s->at = p->last_at;
	p->last_at = s->at;
	if (p->tail)
		p->tail->next = s;
	else
		p->head = s;
	p->tail = s;
	if (kind == SEG_DATA)
		p->unread += n;
	pipe_arm(w, c, dir);
}

#define SPLIT_PIECES_MAX 8 /* pieces a split segment arrives in, at most */

/* Sends a segment from c->ep[dir] to the other end. On a split connection
 * its data arrives in up to SPLIT_PIECES_MAX pieces (one byte in three of
 * them), each a few loop iterations after the one before: the reader gets
 * them in separate reads, as a real TCP reader may. */
static void seg_send(struct world *w, struct conn *c, int dir, int kind, const void *d, size_t n)
{
	uint64_t at = w->now + latency(w);
	if (kind != SEG_DATA || !c->split || n < 2) {
		seg_queue(w, c, dir, kind, d, n, at);
		return;
	}
	const uint8_t *b = d;
	for (int k = 1; n; k++) {
		size_t m = n;
		if (k < SPLIT_PIECES_MAX && n > 1)
			m = prng_below(&w->rng, 3) == 0 ? 1 : 1 + (size_t)prng_below(&w->rng, n);
		seg_queue(w, c, dir, kind, b, m, at);
		at += NSIM_ITER_NS * (1 + prng_below(&w->rng, 50));
		b += m;
		n -= m;
	}
}

static void ep_notify(struct ep *e)
{
	if (e->open && e->notify)
		e->notify(e->owner);
}

static void ep_rst_back(struct world *w, struct ep *e)
{
	if (e->rst_out)
		return;
	e->rst_out = true;
	seg_send(w, e->c, e->side, SEG_RST, NULL, 0);
}

static void rx_purge(struct ep *e)
{
	struct pipe *p = &e->c->pipe[1 - e->side];
	while (e->rx_head) {
		struct seg *s = e->rx_head;
		e->rx_head = s->next;
		keel_free(s);
	}
	e->rx_tail = NULL;
	p->unread -= e->rx_bytes;
	e->rx_bytes = 0;
}

static struct nlisten *find_listener(struct world *w, struct naddr a)
{
	for (struct nlisten *l = w->listeners; l; l = l->next)
		if (l->a.ip == a.ip && l->a.port == a.port && l->h->state == H_UP)
			return l;
	return NULL;
}

static void deliver_syn(struct world *w, struct conn *c, struct ep *r)
{
	char b1[32], b2[32];
	struct nlisten *l = find_listener(w, r->local);
	if (!l) {
		world_tracef(w, "conn %llu %s -> %s refused", (unsigned long long)c->id,
			     addr_str(r->peer, b1, sizeof b1), addr_str(r->local, b2, sizeof b2));
		ep_rst_back(w, r);
		return;
	}
	world_tracef(w, "conn %llu %s -> %s established", (unsigned long long)c->id,
		     addr_str(r->peer, b1, sizeof b1), addr_str(r->local, b2, sizeof b2));
	r->open = true;
	r->cstatus = 1;
	r->lis = l;
	r->lnext = NULL;
	if (l->qt)
		l->qt->lnext = r;
	else
		l->qh = r;
	l->qt = r;
	seg_send(w, c, r->side, SEG_SYNACK, NULL, 0);
	if (l->fn)
		l->fn(l->owner);
}

static void deliver_rst(struct world *w, struct ep *r)
{
	if (!r->open || r->gone || r->rst_in || r->rst_out)
		return;
	world_tracef(w, "conn %llu side %d reset", (unsigned long long)r->c->id, r->side);
	r->rst_in = true;
	if (r->cstatus == 0)
		r->cstatus = UV_ECONNREFUSED;
	else
		r->err = UV_ECONNRESET;
	ep_notify(r);
}

/* Segment s (already off its pipe) reaches the far end r. */
static void deliver(struct world *w, struct conn *c, int dir, struct seg *s)
{
	struct ep *r = &c->ep[1 - dir];
	bool dead = !r->open || r->gone || r->rst_in;
	switch (s->kind) {
	case SEG_SYN:
		deliver_syn(w, c, r);
		break;
	case SEG_SYNACK:
		if (dead) {
			ep_rst_back(w, r);
		} else if (r->cstatus == 0) {
			r->cstatus = 1;
			ep_notify(r);
		}
		break;
	case SEG_DATA:
		if (dead) { /* no socket for it any more: the sender is reset */
			c->pipe[dir].unread -= s->len;
			ep_rst_back(w, r);
			break;
		}
		world_tracef(w, "conn %llu side %d gets %zu bytes", (unsigned long long)c->id,
			     r->side, s->len);
		if (r->rx_tail)
			r->rx_tail->next = s;
		else
			r->rx_head = s;
		r->rx_tail = s;
		r->rx_bytes += s->len;
		ep_notify(r);
		return; /* s is r's now */
	case SEG_FIN:
		if (!dead) {
			world_tracef(w, "conn %llu side %d gets EOF", (unsigned long long)c->id,
				     r->side);
			r->fin_in = true;
			ep_notify(r);
		}
		break;
	case SEG_RST:
		deliver_rst(w, r);
		break;
	}
	keel_free(s);
}

static void pipe_event(struct world *w, struct conn *c, int dir)
{
	struct pipe *p = &c->pipe[dir];
	p->armed = false;
	while (p->head && p->head->at <= w->now) {
		if (is_cut(w, c->ep[0].host, c->ep[1].host)) {
			p->held = true;
			return;
		}
		struct seg *s = p->head;
		p->head = s->next;
		if (!p->head)
			p->tail = NULL;
		s->next = NULL;
		deliver(w, c, dir, s);
	}
	pipe_arm(w, c, dir);
}

/* A cut is healed: the held segments leave again, in order. */
static void pipe_release(struct world *w, struct conn *c, int dir)
{
	struct pipe *p = &c->pipe[dir];
	if (!p->held)
		return;
	p->held = false;
	uint64_t last = 0;
	for (struct seg *s = p->head; s; s = s->next) {
		uint64_t t = w->now + latency(w);
		if (s->at < t)
			s->at = t;
		if (s->at < last)
			s->at = last;
		last = s->at;
	}
	if (last > p->last_at)
		p->last_at = last;
	pipe_arm(w, c, dir);
}

static void connect_timeout(struct world *w, struct conn *c)
{
	struct ep *e = &c->ep[0];
	if (e->cstatus != 0 || !e->open)
		return;
	world_tracef(w, "conn %llu connect timed out", (unsigned long long)c->id);
	e->cstatus = UV_ETIMEDOUT;
	e->gone = true;
	ep_notify(e);
}

static void conn_free(struct world *w, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	for (int i = 0; i < 2; i++) {
		rx_purge(&c->ep[i]);
		while (c->pipe[i].head) {
			struct seg *s = c->pipe[i].head;
			c->pipe[i].head = s->next;
			keel_free(s);
		}
	}
	keel_free(c);
}

static void conn_maybe_free(struct world *w, struct conn *c)
{
	if (!c->refs && !c->ep[0].open && !c->ep[1].open)
		conn_free(w, c);
}

/* ---------------------------------------------------------------- network: for uvsim.c */

bool net_port_listened(uint32_t ip, uint16_t port)
{
	for (struct nlisten *l = world_get()->listeners; l; l = l->next)
		if (l->a.ip == ip && l->a.port == port)
			return true;
	return false;
}

int net_listen(struct host *h, struct naddr a, ep_notify_fn fn, void *owner, struct nlisten **out)
{
	struct world *w = h->w;
	if (net_port_listened(a.ip, a.port))
		return UV_EADDRINUSE;
	struct nlisten *l = keel_calloc(1, sizeof *l);
	l->h = h;
	l->a = a;
	l->fn = fn;
	l->owner = owner;
	l->next = w->listeners;
	w->listeners = l;
	char b[32];
	world_tracef(w, "listen %s", addr_str(a, b, sizeof b));
	*out = l;
	return 0;
}

void net_unlisten(struct nlisten *l)
{
	struct world *w = l->h->w;
	for (struct nlisten **pp = &w->listeners; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	while (l->qh) {
		struct ep *e = l->qh;
		l->qh = e->lnext;
		e->lis = NULL;
		if (!e->gone)
			ep_rst_back(w, e);
		e->open = false;
		conn_maybe_free(w, e->c);
	}
	keel_free(l);
}

struct ep *net_accept(struct nlisten *l)
{
	struct ep *e = l->qh;
	if (!e)
		return NULL;
	l->qh = e->lnext;
	if (!l->qh)
		l->qt = NULL;
	e->lis = NULL;
	e->lnext = NULL;
	return e;
}

bool net_acceptable(const struct nlisten *l)
{
	return l->qh != NULL;
}

static struct conn *conn_new(struct world *w)
{
	struct conn *c = keel_calloc(1, sizeof *c);
	c->id = ++w->conn_ids;
	c->split = w->split_permille && prng_below(&w->rng, 1000) < w->split_permille;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	for (int i = 0; i < 2; i++) {
		c->ep[i].c = c;
		c->ep[i].side = i;
	}
	return c;
}

struct ep *net_connect(struct host *from, struct naddr src, struct naddr dst, ep_notify_fn fn,
		       void *owner)
{
	struct world *w = from->w;
	struct conn *c = conn_new(w);
	struct ep *e = &c->ep[0], *r = &c->ep[1];
	if (!src.port) {
		src.port = from->next_port;
		from->next_port = (uint16_t)(from->next_port + 1);
		if (from->next_port >= NSIM_EPHEMERAL_LO + NSIM_EPHEMERAL_N)
			from->next_port = NSIM_EPHEMERAL_LO;
	}
	e->host = from;
	e->local = src;
	e->peer = dst;
	e->notify = fn;
	e->owner = owner;
	e->open = true;
	r->host = host_by_addr(w, dst.ip);
	r->local = dst;
	r->peer = src;
	char b1[32], b2[32];
	world_tracef(w, "conn %llu %s -> %s connect", (unsigned long long)c->id,
		     addr_str(src, b1, sizeof b1), addr_str(dst, b2, sizeof b2));
	seg_send(w, c, 0, SEG_SYN, NULL, 0);
	c->refs++;
	ev_push(w,
		(struct wev){.at = w->now + w->o.connect_timeout_ns, .kind = EV_CTIMEOUT, .p = c});
	return e;
}

void ep_own(struct ep *e, ep_notify_fn fn, void *owner)
{
	e->notify = fn;
	e->owner = owner;
}

int ep_connect_status(const struct ep *e)
{
	return e->cstatus;
}

static struct world *ep_world(const struct ep *e)
{
	(void)e;
	return world_get();
}

int ep_send(struct ep *e, const void *p, size_t n)
{
	struct world *w = ep_world(e);
	if (e->err) {
		int err = e->err;
		e->err = 0;
		return err;
	}
	if (e->cstatus < 0)
		return UV_ENOTCONN;
	if (!e->open || e->gone || e->fin_out || e->rst_in || e->rst_out)
		return UV_EPIPE;
	if (e->cstatus == 0)
		return UV_EAGAIN;
	struct pipe *pp = &e->c->pipe[e->side];
	size_t space = pp->unread < NSIM_SNDBUF ? NSIM_SNDBUF - pp->unread : 0;
	size_t m = n < space ? n : space;
	if (m < n)
		pp->blocked = true;
	if (!m)
		return UV_EAGAIN;
	seg_send(w, e->c, e->side, SEG_DATA, p, m);
	return (int)m;
}

int ep_recv(struct ep *e, void *p, size_t n)
{
	if (e->cstatus < 0)
		return UV_ENOTCONN;
	if (!e->rx_bytes) {
		if (e->err) {
			int err = e->err;
			e->err = 0;
			return err;
		}
		return e->fin_in || e->rst_in ? 0 : UV_EAGAIN;
	}
	size_t got = 0;
	while (got < n && e->rx_head) {
		struct seg *s = e->rx_head;
		size_t k = s->len - s->off < n - got ? s->len - s->off : n - got;
		memcpy((uint8_t *)p + got, s->data + s->off, k);
		s->off += k;
		got += k;
		if (s->off == s->len) {
			e->rx_head = s->next;
			if (!e->rx_head)
				e->rx_tail = NULL;
			keel_free(s);
		}
	}
	e->rx_bytes -= got;
	struct conn *c = e->c;
	struct pipe *pp = &c->pipe[1 - e->side];
	pp->unread -= got;
	if (pp->blocked && got) {
		pp->blocked = false;
		ep_notify(&c->ep[1 - e->side]);
	}
	return (int)got;
}

bool ep_recv_ready(const struct ep *e)
{
	return e->rx_bytes || e->err || e->fin_in || e->rst_in || e->cstatus < 0;
}

bool ep_send_ready(const struct ep *e)
{
	if (e->err || e->cstatus < 0 || e->gone || e->rst_in || e->rst_out || e->fin_out)
		return true;
	return e->cstatus == 1 && e->c->pipe[e->side].unread < NSIM_SNDBUF;
}

void ep_close(struct ep *e)
{
	struct world *w = ep_world(e);
	if (!e->open)
		return;
	e->open = false;
	e->notify = NULL;
	e->owner = NULL;
	if (!e->gone && !e->rst_in && !e->rst_out && e->cstatus == 1) {
		if (e->rx_bytes) {
			ep_rst_back(w, e); /* unread bytes: Linux resets */
		} else {
			e->fin_out = true;
			seg_send(w, e->c, e->side, SEG_FIN, NULL, 0);
		}
	}
	rx_purge(e);
	conn_maybe_free(w, e->c);
}

struct naddr ep_local(const struct ep *e)
{
	return e->local;
}

struct naddr ep_peer(const struct ep *e)
{
	return e->peer;
}

/* Every connection of h: the far end is reset (after what already left),
 * nothing leaves h any more. */
static void net_host_crash(struct world *w, struct host *h)
{
	for (struct conn *c = w->conns; c; c = c->next)
		for (int i = 0; i < 2; i++) {
			struct ep *e = &c->ep[i];
			if (e->host != h || !e->open || e->gone)
				continue;
			if (e->cstatus == 1 && !e->rst_in)
				ep_rst_back(w, e);
			e->gone = true;
		}
}

/* ---------------------------------------------------------------- faults */

void world_cut(struct world *w, struct host *a, struct host *b, bool cut)
{
	if (a == b || cut == is_cut(w, a, b))
		return;
	world_tracef(w, "%s %s %s", cut ? "cut" : "heal", a->ip, b->ip);
	if (cut) {
		struct cut *c = keel_malloc(sizeof *c);
		c->a = a;
		c->b = b;
		c->next = w->cuts;
		w->cuts = c;
		return;
	}
	for (struct cut **pp = &w->cuts; *pp; pp = &(*pp)->next)
		if (((*pp)->a == a && (*pp)->b == b) || ((*pp)->a == b && (*pp)->b == a)) {
			struct cut *c = *pp;
			*pp = c->next;
			keel_free(c);
			break;
		}
	for (struct conn *c = w->conns; c; c = c->next)
		if ((c->ep[0].host == a && c->ep[1].host == b) ||
		    (c->ep[0].host == b && c->ep[1].host == a)) {
			pipe_release(w, c, 0);
			pipe_release(w, c, 1);
		}
	rearm_dirty(w);
}

void world_reset(struct world *w, struct host *a, struct host *b)
{
	world_tracef(w, "reset %s %s", a->ip, b->ip);
	for (struct conn *c = w->conns; c; c = c->next) {
		if (!((c->ep[0].host == a && c->ep[1].host == b) ||
		      (c->ep[0].host == b && c->ep[1].host == a)))
			continue;
		for (int i = 0; i < 2; i++) {
			struct ep *e = &c->ep[i];
			/* a connect still on its way is reset too (refused) */
			if (e->open && !e->gone && (e->cstatus == 1 || e->cstatus == 0) &&
			    !e->rst_in)
				seg_send(w, c, 1 - i, SEG_RST, NULL, 0);
		}
	}
	rearm_dirty(w);
}

/* ---------------------------------------------------------------- the driver's connections */

/* The driver's callback runs on no host, even when a host's read of the
 * far end freed the send buffer and woke it. */
static void wconn_event(struct wconn *c, enum wconn_event ev)
{
	struct host *prev = c->w->current;
	c->w->current = NULL;
	c->in_cb = true;
	c->cb(c->ctx, c, ev);
	c->in_cb = false;
	c->w->current = prev;
}

static void wconn_flush(struct wconn *c)
{
	size_t off = 0;
	while (off < c->out_len) {
		int n = ep_send(c->ep, c->out + off, c->out_len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (!off)
		return;
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
}

static void wconn_notify(void *owner)
{
	struct wconn *c = owner;
	if (c->ended || c->in_cb)
		return;
	if (!c->connected) {
		int st = ep_connect_status(c->ep);
		if (st == 0)
			return;
		if (st < 0) {
			c->ended = true;
			wconn_event(c, WCONN_CLOSED);
			goto out;
		}
		c->connected = true;
		wconn_flush(c);
		wconn_event(c, WCONN_CONNECTED);
		if (c->close_asked)
			goto out;
	}
	wconn_flush(c);
	bool got = false, end = false;
	for (;;) {
		if (c->in_cap - c->in_len < NSIM_READ_MAX) {
			c->in_cap = c->in_cap * 2 + NSIM_READ_MAX;
			c->in = keel_realloc(c->in, c->in_cap);
		}
		int n = ep_recv(c->ep, c->in + c->in_len, NSIM_READ_MAX);
		if (n == UV_EAGAIN)
			break;
		if (n <= 0) {
			end = true;
			break;
		}
		c->in_len += (size_t)n;
		got = true;
	}
	if (got)
		wconn_event(c, WCONN_DATA);
	if (end && !c->close_asked) {
		c->ended = true;
		wconn_event(c, WCONN_CLOSED);
	}
out:
	if (c->close_asked)
		wconn_close(c);
}

struct wconn *wconn_open(struct world *w, struct host *from, const char *ip, int port,
			 void (*cb)(void *ctx, struct wconn *c, enum wconn_event ev), void *ctx)
{
	struct wconn *c = keel_calloc(1, sizeof *c);
	c->w = w;
	c->cb = cb;
	c->ctx = ctx;
	c->next = w->wconns;
	if (w->wconns)
		w->wconns->prev = c;
	w->wconns = c;
	struct naddr src = {from->addr, 0}, dst = {parse_ip(ip), (uint16_t)port};
	c->ep = net_connect(from, src, dst, wconn_notify, c);
	rearm_dirty(w);
	return c;
}

void wconn_send(struct wconn *c, const void *p, size_t n)
{
	if (c->ended)
		return;
	if (c->out_cap - c->out_len < n) {
		c->out_cap = (c->out_len + n) * 2;
		c->out = keel_realloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	if (c->connected)
		wconn_flush(c);
	rearm_dirty(c->w);
}

const uint8_t *wconn_data(const struct wconn *c, size_t *n)
{
	*n = c->in_len;
	return c->in;
}

void wconn_consume(struct wconn *c, size_t n)
{
	if (n > c->in_len)
		n = c->in_len;
	if (!n)
		return;
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

void wconn_close(struct wconn *c)
{
	if (c->in_cb) {
		c->close_asked = true;
		return;
	}
	struct world *w = c->w;
	ep_close(c->ep);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->wconns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	keel_free(c->in);
	keel_free(c->out);
	keel_free(c);
	rearm_dirty(w);
}
