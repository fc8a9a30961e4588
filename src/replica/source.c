/* replica/source.c — the source's end of a replica stream (replica/source.h). */
#include "replica/source.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "net/frame.h"
#include "resp/parse.h"

__attribute__((format(printf, 2, 3))) static bool fail(struct repl_source *src, const char *fmt,
						       ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(src->error, sizeof src->error, fmt, ap);
	va_end(ap);
	return false;
}

/* A non-negative integer argument (Redis's string2ll). */
static bool arg_u64(const struct resp_arg *a, int64_t max, int64_t *out)
{
	return resp_str2ll(a->p, a->len, out) && *out >= 0 && *out <= max;
}

int repl_hello_parse(struct repl_hello *h, const struct resp_arg *argv, uint32_t argc, char *why,
		     size_t cap)
{
	memset(h, 0, sizeof *h);
	int64_t version, applied, empty, group;
	if (argc != 5 && argc != 6) {
		snprintf(why, cap,
			 "KEEL.REPLICATE takes version, applied index, empty flag, "
			 "compression and name, and a group");
		return KEEL_EINVAL;
	}
	if (argc == 6) {
		if (!arg_u64(&argv[5], REPL_GROUP_MAX, &group)) {
			snprintf(why, cap, "KEEL.REPLICATE: the group must be an unsigned integer");
			return KEEL_EINVAL;
		}
		h->group = (uint32_t)group;
		h->has_group = true;
	}
	if (!arg_u64(&argv[0], UINT32_MAX, &version) || !arg_u64(&argv[1], INT64_MAX, &applied) ||
	    !arg_u64(&argv[2], 1, &empty)) {
		snprintf(why, cap,
			 "KEEL.REPLICATE: version, applied index and empty flag must "
			 "be unsigned integers (the flag 0 or 1)");
		return KEEL_EINVAL;
	}
	h->version = (uint32_t)version;
	h->applied = (uint64_t)applied;
	h->empty = empty == 1;
	if (argv[3].len == 4 && !memcmp(argv[3].p, "zstd", 4))
		h->zstd = true;
	else if (!(argv[3].len == 4 && !memcmp(argv[3].p, "none", 4))) {
		snprintf(why, cap, "KEEL.REPLICATE: compression must be zstd or none");
		return KEEL_EINVAL;
	}
	size_t n = argv[4].len < sizeof h->name - 1 ? argv[4].len : sizeof h->name - 1;
	memcpy(h->name, argv[4].p, n);
	for (size_t i = 0; i < n; i++)
		if (h->name[i] < 0x21 || h->name[i] > 0x7e || h->name[i] == ',')
			h->name[i] = '_'; /* it is shown in INFO lines */
	return KEEL_OK;
}

static void flush(struct repl_source *src, int64_t now_ms)
{
	if (!src->out.len)
		return;
	src->ops.send(src->ops.ctx, src->out.p, src->out.len);
	src->bytes_sent += src->out.len;
	src->out.len = 0;
	src->last_sent_ms = now_ms;
}

static void send_error(struct repl_source *src)
{
	repl_frame(&src->out, REPL_ERROR, src->error, strlen(src->error));
	flush(src, src->last_sent_ms);
}

void repl_refusal(struct rbuf *out, const char *why)
{
	repl_frame(out, REPL_ERROR, why, strlen(why));
}

bool repl_source_start(struct repl_source *src, const struct repl_source_ops *ops,
		       const struct repl_hello *h, const struct repl_group_info *gi,
		       uint64_t self_id, int64_t now_ms)
{
	memset(src, 0, sizeof *src);
	src->ops = *ops;
	src->hello = *h;
	src->snap.fd = -1;
	rbuf_init(&src->in);
	rbuf_init(&src->out);
	rbuf_init(&src->topo);
	src->codec = h->zstd ? REPL_ZSTD : REPL_RAW;
	src->last_heard_ms = src->last_sent_ms = now_ms;
	if (h->version != REPL_VERSION) {
		fail(src,
		     "replica protocol version %" PRIu32 " is not supported: this node "
		     "speaks version %d",
		     h->version, REPL_VERSION);
		send_error(src);
		return false;
	}
	uint64_t want = h->empty ? 1 : h->applied + 1;
	struct repl_accept a = {.version = REPL_VERSION, .codec = src->codec, .source_id = self_id};
	if (h->has_group && gi) {
		a.has_group = true;
		a.group = gi->id;
		a.slot_first = gi->slot_first;
		a.slot_last = gi->slot_last;
	}
	if (want >= ops->first(ops->ctx)) {
		a.mode = REPL_FROM_LOG;
		a.next = src->next = want;
		src->phase = REPL_SRC_LIVE;
		src->acked = want - 1;
	} else {
		if (!ops->snap_open(ops->ctx, &src->snap)) {
			fail(src,
			     "this node's log no longer holds index %" PRIu64
			     " and it has no snapshot to send yet; try again",
			     want);
			send_error(src);
			return false;
		}
		src->snap_open = true;
		a.mode = REPL_FROM_SNAPSHOT;
		a.snap_index = src->snap.index;
		a.snap_term = src->snap.term;
		a.snap_size = src->snap.size;
		a.snap_crc = src->snap.crc;
		src->phase = REPL_SRC_SNAPSHOT;
		src->next = src->snap.index + 1;
	}
	repl_accept_frame(&src->out, &a);
	flush(src, now_ms);
	return true;
}

static bool on_frame(struct repl_source *src, const struct frame *f, int64_t now_ms)
{
	if (f->kind != REPL_ACK || f->len != 16)
		return fail(src,
			    "the replica sent a frame of kind %u (%u bytes); only ACKs are "
			    "expected",
			    f->kind, f->len);
	uint64_t durable = bytes_get_u64(f->payload);
	uint64_t snap_got = bytes_get_u64(f->payload + 8);
	src->last_heard_ms = now_ms;
	if (src->phase == REPL_SRC_SNAPSHOT) {
		if (snap_got > src->snap_sent)
			return fail(src, "the replica acknowledged snapshot bytes not sent");
		if (snap_got > src->snap_acked)
			src->snap_acked = snap_got;
		return true;
	}
	if (durable >= src->next)
		return fail(src,
			    "the replica acknowledged index %" PRIu64 ", beyond the %" PRIu64
			    " sent",
			    durable, src->next - 1);
	if (durable > src->acked)
		src->acked = durable;
	return true;
}

bool repl_source_recv(struct repl_source *src, const uint8_t *p, size_t n, int64_t now_ms)
{
	rbuf_put(&src->in, p, n);
	size_t at = 0;
	bool ok = true;
	while (ok) {
		struct frame f;
		size_t used;
		const char *why;
		int rc = frame_parse(src->in.p + at, src->in.len - at, &f, &used, &why);
		if (rc == FRAME_MORE)
			break;
		if (rc == FRAME_BAD) {
			ok = fail(src, "bad frame from the replica: %s", why);
			break;
		}
		ok = on_frame(src, &f, now_ms);
		at += used;
	}
	rbuf_consume(&src->in, at);
	return ok;
}

static bool pump_snapshot(struct repl_source *src)
{
	if (src->snap_sent < src->snap.size && src->snap_acked == src->snap_sent) {
		uint64_t left = src->snap.size - src->snap_sent;
		size_t len = left < REPL_SNAP_CHUNK ? (size_t)left : REPL_SNAP_CHUNK;
		uint8_t *buf = keel_malloc(len);
		const struct io_fs *fs = src->snap.fs;
		int rc = io_read_exact(fs, src->snap.fd, buf, len,
				       src->snap.data_off + src->snap_sent);
		if (rc) {
			keel_free(buf);
			return fail(src, "reading the snapshot at %" PRIu64 ": %s", src->snap.index,
				    rc == KEEL_ECORRUPT ? "short file" : keel_err_str(rc));
		}
		repl_snap_frame(&src->out, src->codec, src->snap_sent, buf, len);
		keel_free(buf);
		src->snap_sent += len;
	}
	if (src->snap_acked == src->snap.size) {
		repl_u64s_frame(&src->out, REPL_CAUGHT_UP, src->snap.index, src->snap.term);
		src->phase = REPL_SRC_LIVE;
		src->acked = src->snap.index;
		src->snap.fs->close(src->snap.fs->ctx, src->snap.fd);
		src->snap_open = false;
	}
	return true;
}

static bool pump_entries(struct repl_source *src, uint64_t applied)
{
	if (src->next < src->ops.first(src->ops.ctx) && src->next <= applied)
		return fail(src,
			    "the replica fell behind this node's log (it needs %" PRIu64
			    "); it will be caught up by a snapshot",
			    src->next);
	while (src->next <= applied && src->next - 1 - src->acked < REPL_WINDOW &&
	       src->ops.queued(src->ops.ctx) + src->out.len < REPL_QUEUE_MAX) {
		struct repl_entry es[256];
		uint32_t n = 0;
		size_t bytes = 0;
		while (n < 256 && src->next + n <= applied && bytes < REPL_BATCH_BYTES &&
		       src->next + n - 1 - src->acked < REPL_WINDOW) {
			if (!src->ops.entry(src->ops.ctx, src->next + n, &es[n]))
				return fail(src, "entry %" PRIu64 " is no longer held",
					    src->next + n);
			bytes += es[n].len + 13;
			n++;
		}
		if (!n)
			break;
		struct repl_batch_cache *c = src->ops.cache ? &src->ops.cache[src->codec] : NULL;
		if (c && (c->first != src->next || c->n != n)) {
			c->frame.len = 0;
			repl_entries_frame(&c->frame, src->codec, applied, es, n);
			c->first = src->next;
			c->n = n;
		}
		if (c)
			rbuf_put(&src->out, c->frame.p, c->frame.len);
		else
			repl_entries_frame(&src->out, src->codec, applied, es, n);
		src->next += n;
	}
	return true;
}

bool repl_source_pump(struct repl_source *src, int64_t now_ms)
{
	if (now_ms - src->last_heard_ms > REPL_DEAD_MS)
		return fail(src, "nothing heard from the replica for %d s", REPL_DEAD_MS / 1000);
	uint64_t applied = src->ops.applied(src->ops.ctx);
	bool ok = src->phase == REPL_SRC_SNAPSHOT ? pump_snapshot(src) : true;
	if (ok && src->phase == REPL_SRC_LIVE)
		ok = pump_entries(src, applied);
	if (!ok) {
		send_error(src);
		return false;
	}
	if (src->phase == REPL_SRC_LIVE) {
		if (src->acked >= applied)
			src->behind_since_ms = 0;
		else if (!src->behind_since_ms)
			src->behind_since_ms = now_ms;
	}
	if (!src->out.len && now_ms - src->last_sent_ms >= REPL_HEARTBEAT_MS)
		repl_u64s_frame(&src->out, REPL_HEARTBEAT, applied, 0);
	flush(src, now_ms);
	return true;
}

void repl_source_topology(struct repl_source *src, const struct repl_topology *t)
{
	if (!src->hello.has_group)
		return; /* a replica that knows no groups knows no TOPOLOGY frame */
	struct rbuf f;
	rbuf_init(&f);
	repl_topology_frame(&f, t);
	if (f.len != src->topo.len || memcmp(f.p, src->topo.p, f.len)) {
		rbuf_put(&src->out, f.p, f.len);
		src->topo.len = 0;
		rbuf_put(&src->topo, f.p, f.len);
	}
	rbuf_free(&f);
}

uint64_t repl_source_needs(const struct repl_source *src)
{
	return src->phase == REPL_SRC_SNAPSHOT ? src->snap.index + 1 : src->acked + 1;
}

void repl_source_end(struct repl_source *src, const char *why)
{
	snprintf(src->error, sizeof src->error, "%s", why);
	send_error(src);
}

void repl_source_free(struct repl_source *src)
{
	if (src->snap_open)
		src->snap.fs->close(src->snap.fs->ctx, src->snap.fd);
	src->snap_open = false;
	rbuf_free(&src->in);
	rbuf_free(&src->out);
	rbuf_free(&src->topo);
}
