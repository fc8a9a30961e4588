/* replica/follow.c — the replica's end of the stream (replica/follow.h). */
#include "replica/follow.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "net/frame.h"

#define TICK_MS	   10
#define ACK_MS	   100 /* an ACK at least this often: the replica's heartbeat */
#define ACK_MIN_MS 5   /* and at most this often */

struct wreq {
	uv_write_t req;
	uint8_t *p;
};

__attribute__((format(printf, 2, 3))) static void logf_(struct repl_follow *f, const char *fmt, ...)
{
	char line[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	f->ops.log(f->ops.ctx, line);
}

static int64_t now(const struct repl_follow *f)
{
	return (int64_t)uv_now(f->loop);
}

static void tcp_closed(uv_handle_t *h)
{
	keel_free(h);
}

/* Ends the connection (if any) and schedules the next attempt. */
__attribute__((format(printf, 2, 3))) static void drop(struct repl_follow *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->last_error, sizeof f->last_error, fmt, ap);
	va_end(ap);
	if (f->tcp) {
		uv_close((uv_handle_t *)f->tcp, tcp_closed);
		f->tcp = NULL;
	}
	f->state = REPL_IDLE;
	f->in.len = 0;
	/* grown once every source failed at this backoff (a round) */
	if (!f->backoff_ms || ++f->round_failed >= f->n_sources) {
		f->backoff_ms = f->backoff_ms ? f->backoff_ms * 2 : 100;
		f->round_failed = 0;
	}
	if (f->backoff_ms > REPL_BACKOFF_MAX_MS)
		f->backoff_ms = REPL_BACKOFF_MAX_MS;
	uint32_t delay = f->backoff_ms / 2 + (uint32_t)prng_below(&f->rng, f->backoff_ms / 2 + 1);
	f->retry_at_ms = now(f) + delay;
	logf_(f, "replication from %s stopped: %s; trying %s in %u ms", f->sources[f->cur],
	      f->last_error, f->sources[(f->cur + 1) % f->n_sources], delay);
	f->cur = (f->cur + 1) % f->n_sources;
}

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	(void)status; /* a failed write shows as a failed read too */
	keel_free(w->p);
	keel_free(w);
}

static void send_bytes(struct repl_follow *f, const uint8_t *p, size_t n)
{
	if (!f->tcp)
		return;
	struct wreq *w = keel_calloc(1, sizeof *w);
	w->p = keel_memdup(p, n);
	uv_buf_t b = uv_buf_init((char *)w->p, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)f->tcp, &b, 1, write_done) != 0) {
		keel_free(w->p);
		keel_free(w);
		drop(f, "cannot write to the source");
	}
}

static void send_ack(struct repl_follow *f)
{
	if (f->state != REPL_CATCHUP && f->state != REPL_STREAMING)
		return;
	struct rbuf b;
	rbuf_init(&b);
	uint64_t d = f->state == REPL_STREAMING ? f->ops.durable(f->ops.ctx) : 0;
	repl_u64s_frame(&b, REPL_ACK, d, f->snap_got);
	send_bytes(f, b.p, b.len);
	rbuf_free(&b);
	f->acked = d;
	f->last_ack_ms = now(f);
}

void repl_follow_poke(struct repl_follow *f)
{
	/* at most one ACK per ACK_MIN_MS: the timer sends the rest */
	if (f->state == REPL_STREAMING && f->ops.durable(f->ops.ctx) != f->acked &&
	    now(f) - f->last_ack_ms >= ACK_MIN_MS)
		send_ack(f);
}

static void note_source(struct repl_follow *f, uint64_t source_applied)
{
	if (source_applied > f->source_applied)
		f->source_applied = source_applied;
	if (f->ops.applied(f->ops.ctx) >= f->source_applied)
		f->behind_since_ms = 0;
	else if (!f->behind_since_ms)
		f->behind_since_ms = now(f);
}

uint64_t repl_follow_lag(const struct repl_follow *f, int64_t *lag_ms)
{
	int64_t now_ms = now(f);
	uint64_t applied = f->ops.applied(f->ops.ctx);
	if (f->state != REPL_STREAMING)
		*lag_ms = now_ms - (f->behind_since_ms ? f->behind_since_ms : f->last_heard_ms);
	else
		*lag_ms = f->behind_since_ms ? now_ms - f->behind_since_ms : 0;
	return f->source_applied > applied ? f->source_applied - applied : 0;
}

/* ---- frames ------------------------------------------------------------- */

/* The group the source accepted to serve is the one asked for, over the
 * slots this replica serves from it. */
static bool group_ok(struct repl_follow *f, const struct repl_accept *a)
{
	const struct repl_follow_group *g = &f->group;
	if (a->has_group != f->has_group || (f->has_group && a->group != g->id)) {
		drop(f, "the source's ACCEPT is for another group than the one asked for");
		return false;
	}
	if (f->has_group && (a->slot_first != g->slot_first || a->slot_last != g->slot_last)) {
		drop(f,
		     "the source's group %" PRIu32 " serves slots %u-%u, this replica's %u-%u: "
		     "start the replica with the source's --shards",
		     g->id, a->slot_first, a->slot_last, g->slot_first, g->slot_last);
		return false;
	}
	return true;
}

static bool on_accept(struct repl_follow *f, const struct frame *fr)
{
	struct repl_accept *a = &f->accept;
	if (repl_accept_decode(fr->payload, fr->len, a) != KEEL_OK) {
		drop(f, "the source's ACCEPT does not decode");
		return false;
	}
	if (a->version != REPL_VERSION) {
		drop(f, "the source speaks replica protocol version %" PRIu32 ", this node %d",
		     a->version, REPL_VERSION);
		return false;
	}
	if (a->codec == REPL_ZSTD && !f->zstd) {
		drop(f, "the source chose zstd, which this replica did not offer");
		return false;
	}
	if (!group_ok(f, a))
		return false;
	uint64_t applied = f->ops.applied(f->ops.ctx);
	f->backoff_ms = 0;
	f->round_failed = 0;
	f->stats.connects++;
	if (a->mode == REPL_FROM_LOG) {
		if (a->next != applied + 1) {
			drop(f,
			     "the source offered entries from %" PRIu64
			     ", this replica needs %" PRIu64,
			     a->next, applied + 1);
			return false;
		}
		f->state = REPL_STREAMING;
		logf_(f,
		      "replicating from %s (node %" PRIu64 "), from its log at index %" PRIu64 "%s",
		      f->sources[f->cur], a->source_id, a->next, a->codec ? ", zstd" : "");
		send_ack(f);
		return true;
	}
	f->state = REPL_CATCHUP;
	f->snap_got = 0;
	f->stats.snapshots++;
	logf_(f,
	      "replicating from %s (node %" PRIu64
	      "): catching up by its snapshot at index %" PRIu64 " (%" PRIu64 " bytes)%s",
	      f->sources[f->cur], a->source_id, a->snap_index, a->snap_size,
	      a->codec ? ", zstd" : "");
	f->ops.snap_begin(f->ops.ctx, a);
	return true;
}

/* The group's members, as the source sees them (to a named group only). */
static bool on_topology(struct repl_follow *f, const struct frame *fr)
{
	struct repl_topology topo;
	if (repl_topology_decode(fr->payload, fr->len, &topo) != KEEL_OK) {
		drop(f, "a TOPOLOGY frame does not decode");
		return false;
	}
	if (f->ops.topology)
		f->ops.topology(f->ops.ctx, &topo);
	return true;
}

static bool on_frame(struct repl_follow *f, const struct frame *fr)
{
	f->last_heard_ms = now(f);
	if (f->state == REPL_CONNECTING) {
		if (fr->kind == REPL_ACCEPT)
			return on_accept(f, fr);
		if (fr->kind == REPL_ERROR) {
			drop(f, "the source refused: %.*s", (int)(fr->len > 160 ? 160 : fr->len),
			     (const char *)fr->payload);
			return false;
		}
		drop(f, "the source answered the handshake with a frame of kind %u", fr->kind);
		return false;
	}
	if (fr->kind == REPL_ERROR) {
		drop(f, "the source ended the stream: %.*s", (int)(fr->len > 160 ? 160 : fr->len),
		     (const char *)fr->payload);
		return false;
	}
	if (fr->kind == REPL_TOPOLOGY && f->has_group)
		return on_topology(f, fr);
	if (fr->kind == REPL_HEARTBEAT && fr->len == 16) {
		if (f->state == REPL_STREAMING)
			note_source(f, bytes_get_u64(fr->payload));
		return true;
	}
	if (f->state == REPL_CATCHUP && fr->kind == REPL_SNAP && fr->len >= 13) {
		uint64_t off = bytes_get_u64(fr->payload);
		uint32_t len = bytes_get_u32(fr->payload + 9); /* the payload's raw length */
		if (off != f->snap_got || len > f->accept.snap_size - off) {
			drop(f,
			     "a snapshot chunk at %" PRIu64 " is not the one expected (%" PRIu64
			     ")",
			     off, f->snap_got);
			return false;
		}
		/* acknowledged on arrival: the source reads and sends the next
		 * chunk while this one is unpacked and stored */
		f->snap_got += len;
		send_ack(f);
		const uint8_t *raw;
		size_t n;
		uint8_t *scratch;
		if (repl_payload_get(fr->payload + 8, fr->len - 8, &raw, &n, &scratch) != KEEL_OK ||
		    n != len) {
			drop(f, "a snapshot chunk at %" PRIu64 " does not unpack", off);
			return false;
		}
		f->ops.snap_chunk(f->ops.ctx, off, raw, n);
		keel_free(scratch);
		return true;
	}
	if (f->state == REPL_CATCHUP && fr->kind == REPL_CAUGHT_UP && fr->len == 16) {
		if (bytes_get_u64(fr->payload) != f->accept.snap_index ||
		    f->snap_got != f->accept.snap_size) {
			drop(f, "the source ended its snapshot early");
			return false;
		}
		if (!f->ops.snap_done(f->ops.ctx)) {
			drop(f, "the snapshot at %" PRIu64 " does not check; starting over",
			     f->accept.snap_index);
			return false;
		}
		f->state = REPL_STREAMING;
		logf_(f, "caught up by the snapshot at index %" PRIu64 "; streaming",
		      f->accept.snap_index);
		send_ack(f);
		return true;
	}
	if (f->state == REPL_STREAMING && fr->kind == REPL_ENTRIES) {
		uint64_t sa;
		struct repl_entry *es;
		uint32_t n;
		uint8_t *scratch;
		if (repl_entries_decode(fr->payload, fr->len, &sa, &es, &n, &scratch) != KEEL_OK) {
			drop(f, "an ENTRIES frame does not decode");
			return false;
		}
		uint64_t want = f->ops.applied(f->ops.ctx) + 1;
		if (n && es[0].index != want) {
			f->stats.gaps++;
			drop(f, "a gap: entries from %" PRIu64 " arrived, %" PRIu64 " was next",
			     es[0].index, want);
			keel_free(es);
			keel_free(scratch);
			return false;
		}
		if (n)
			f->ops.entries(f->ops.ctx, es, n);
		f->stats.entries += n;
		keel_free(es);
		keel_free(scratch);
		note_source(f, sa);
		return true;
	}
	drop(f, "an unexpected frame of kind %u (%u bytes) from the source", fr->kind, fr->len);
	return false;
}

/* ---- the connection ----------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct repl_follow *f = h->data;
	(void)hint;
	uint8_t *p = rbuf_reserve(&f->in, 256 << 10);
	*buf = uv_buf_init((char *)p, (unsigned)(f->in.cap - f->in.len));
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct repl_follow *f = st->data;
	(void)buf;
	if ((uv_tcp_t *)st != f->tcp)
		return;
	if (n < 0) {
		drop(f, "%s",
		     n == UV_EOF ? "the source closed the connection" : uv_strerror((int)n));
		return;
	}
	f->in.len += (size_t)n;
	f->stats.bytes_in += (uint64_t)n;
	size_t at = 0;
	uv_tcp_t *t = f->tcp;
	while (f->tcp == t) {
		struct frame fr;
		size_t used;
		const char *why;
		if (f->state == REPL_CONNECTING && f->in.len - at >= 1 && f->in.p[at] != 'K') {
			size_t k = f->in.len - at;
			const char *p = (const char *)f->in.p + at;
			const char *nl = memchr(p, '\r', k);
			drop(f, "the source did not answer the replica handshake: %.*s",
			     (int)(nl ? (size_t)(nl - p) : (k > 100 ? 100 : k)), p);
			return;
		}
		int rc = frame_parse(f->in.p + at, f->in.len - at, &fr, &used, &why);
		if (rc == FRAME_MORE)
			break;
		if (rc == FRAME_BAD) {
			drop(f, "a bad frame from the source: %s", why);
			return;
		}
		if (!on_frame(f, &fr))
			return; /* dropped: in is already empty */
		at += used;
	}
	if (f->tcp == t)
		rbuf_consume(&f->in, at);
}

static void put_bulk(struct rbuf *b, const char *s)
{
	char h[32];
	snprintf(h, sizeof h, "$%zu\r\n", strlen(s));
	rbuf_puts(b, h);
	rbuf_puts(b, s);
	rbuf_puts(b, "\r\n");
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct repl_follow *f = req->data;
	uv_tcp_t *t = (uv_tcp_t *)req->handle;
	keel_free(req);
	if (t != f->tcp)
		return;
	if (status < 0) {
		drop(f, "cannot connect: %s", uv_strerror(status));
		return;
	}
	f->last_heard_ms = now(f);
	uint64_t applied = f->ops.applied(f->ops.ctx);
	char a[24], v[16];
	snprintf(a, sizeof a, "%" PRIu64, applied);
	snprintf(v, sizeof v, "%d", REPL_VERSION);
	struct rbuf b;
	rbuf_init(&b);
	bool named = f->has_group;
	rbuf_puts(&b, named ? "*7\r\n" : "*6\r\n");
	put_bulk(&b, "KEEL.REPLICATE");
	put_bulk(&b, v);
	put_bulk(&b, a);
	put_bulk(&b, f->ops.empty(f->ops.ctx) ? "1" : "0");
	put_bulk(&b, f->zstd ? "zstd" : "none");
	put_bulk(&b, f->name);
	if (named) {
		char g[16];
		snprintf(g, sizeof g, "%" PRIu32, f->group.id);
		put_bulk(&b, g);
	}
	send_bytes(f, b.p, b.len);
	rbuf_free(&b);
	if (f->tcp)
		uv_read_start((uv_stream_t *)f->tcp, alloc_cb, read_cb);
}

bool repl_parse_addr(const char *src, struct sockaddr_in *out)
{
	const char *colon = strrchr(src, ':');
	char host[64], *end;
	if (!colon || (size_t)(colon - src) >= sizeof host)
		return false;
	memcpy(host, src, (size_t)(colon - src));
	host[colon - src] = 0;
	long port = strtol(colon + 1, &end, 10);
	return colon[1] && !*end && port > 0 && port < 65536 &&
	       uv_ip4_addr(host, (int)port, out) == 0;
}

static void try_connect(struct repl_follow *f)
{
	struct sockaddr_in dst, from;
	if (!repl_parse_addr(f->sources[f->cur], &dst)) {
		drop(f, "bad address");
		return;
	}
	f->tcp = keel_calloc(1, sizeof *f->tcp);
	uv_tcp_init(f->loop, f->tcp);
	uv_tcp_nodelay(f->tcp, 1);
	f->tcp->data = f;
	if (f->bind[0] && uv_ip4_addr(f->bind, 0, &from) == 0)
		uv_tcp_bind(f->tcp, (const struct sockaddr *)&from, 0);
	f->state = REPL_CONNECTING;
	f->in.len = 0;
	uv_connect_t *req = keel_malloc(sizeof *req);
	req->data = f;
	int rc = uv_tcp_connect(req, f->tcp, (const struct sockaddr *)&dst, connect_cb);
	if (rc) {
		keel_free(req);
		drop(f, "cannot connect: %s", uv_strerror(rc));
	}
}

static void on_timer(uv_timer_t *t)
{
	struct repl_follow *f = t->data;
	int64_t n = now(f);
	if (f->stopped)
		return;
	if (f->state == REPL_IDLE) {
		if (n >= f->retry_at_ms)
			try_connect(f);
		return;
	}
	if (n - f->last_heard_ms > REPL_SILENT_MS) {
		drop(f, "nothing heard from the source for %d ms", REPL_SILENT_MS);
		return;
	}
	if (n - f->last_ack_ms >= ACK_MS || f->ops.durable(f->ops.ctx) != f->acked)
		send_ack(f);
}

int repl_follow_start(struct repl_follow *f, uv_loop_t *loop, const struct repl_follow_ops *ops,
		      const char *sources, const char *bind, const char *name, bool zstd,
		      const struct repl_follow_group *group, struct keel_errmsg *err)
{
	memset(f, 0, sizeof *f);
	f->loop = loop;
	f->ops = *ops;
	f->zstd = zstd;
	f->has_group = group != NULL;
	if (group)
		f->group = *group;
	snprintf(f->bind, sizeof f->bind, "%s", bind);
	snprintf(f->name, sizeof f->name, "%s", name);
	const char *p = sources;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || n >= sizeof f->sources[0] || f->n_sources == REPL_SOURCES_MAX) {
			keel_errmsg_set(err, "--replica-of: at most %d addresses, each host:port",
					REPL_SOURCES_MAX);
			return KEEL_EINVAL;
		}
		memcpy(f->sources[f->n_sources], p, n);
		f->sources[f->n_sources][n] = 0;
		struct sockaddr_in a;
		if (!repl_parse_addr(f->sources[f->n_sources], &a)) {
			keel_errmsg_set(err, "--replica-of: '%s' is not an IPv4 host:port",
					f->sources[f->n_sources]);
			return KEEL_EINVAL;
		}
		f->n_sources++;
		p += n + (e ? 1 : 0);
	}
	if (!f->n_sources) {
		keel_errmsg_set(err, "--replica-of needs host:port");
		return KEEL_EINVAL;
	}
	prng_seed(&f->rng, uv_hrtime());
	rbuf_init(&f->in);
	f->state = REPL_IDLE;
	f->last_heard_ms = now(f);
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	uv_timer_start(&f->timer, on_timer, TICK_MS, TICK_MS);
	try_connect(f);
	return KEEL_OK;
}

void repl_follow_stop(struct repl_follow *f)
{
	if (f->stopped)
		return;
	f->stopped = true;
	uv_timer_stop(&f->timer);
	uv_close((uv_handle_t *)&f->timer, NULL);
	if (f->tcp) {
		uv_close((uv_handle_t *)f->tcp, tcp_closed);
		f->tcp = NULL;
	}
	rbuf_free(&f->in);
}
