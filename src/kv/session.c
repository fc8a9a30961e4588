/* kv/session.c — the session table of exactly-once writes (Raft thesis
 * §6.3), replicated with the keyspace and kept in snapshots.
 *
 * For each session: the highest sequence number applied, the highest ack
 * a request of it carried (the lowest sequence number whose reply its
 * connection had not yet been given), and the replies of the requests at
 * or above that ack (plus always the newest one), so that a request sent
 * again — re-forwarded after a leader change, or resumed by CLIENT
 * SESSION — is answered with its own original reply and not applied
 * twice. The replies kept are bounded in bytes per session: past the
 * bound the oldest become markers that remember only that the request was
 * applied. Every decision here depends only on the table and the entry,
 * so every replica decides the same.
 *
 * Sessions expire (thesis §6.3): each is stamped with the time of the
 * entry that last applied a request of it (never below the newest stamp,
 * so stamps rise with the log even if a new leader's clock is behind),
 * and the sessions are kept in a list by last use, the least recently
 * used first. KEEL.EXPIRE-SESSIONS, which the leader proposes, removes
 * from the front of the list those idle past a timeout, and whole groups
 * of equal stamps while the table is over a size: which sessions go
 * depends only on the stamps, never on the order of equal ones, so a
 * replica that restored a snapshot removes the same ones as one that
 * applied the log. Per request the list costs three lookups; nothing is
 * scanned per entry.
 *
 * A session's value (binary): u64 SESS_LAYOUT, u64 last, u64 ack, u32 n,
 * u64 bytes (of the replies kept), i64 used (its stamp), u64 prev, u64
 * next (its neighbours in the list by last use, 0: none), then n records
 * in increasing sequence order: u64 seq, u32 length (SESS_DROPPED: reply
 * not kept), the reply's bytes. Older layouts are read from snapshots and
 * converted (kv_session_relink), stamped 0 (idle since the epoch): the
 * layout before expiry (u64 UINT64_MAX, last, ack, n, bytes, records) and
 * the first one (u64 seq, then that request's reply). A request is
 * recorded in place (the records below the ack cut from the front, the
 * new one put at the end), so its cost does not grow with the replies
 * kept. */
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "kv/cmds.h"
#include "kv/kv.h"
#include "resp/encode.h"

#define SESS_LAYOUT   (UINT64_MAX - 1)
#define SESS_LAYOUT_2 UINT64_MAX /* before expiry: no stamp, no list */
#define SESS_DROPPED  UINT32_MAX
#define SESS_HEAD_2   36 /* layout, last, ack, n, bytes */
#define SESS_HEAD     60 /* and used, prev, next */
#define AT_USED	      36
#define AT_PREV	      44
#define AT_NEXT	      52

struct sess_rec {
	uint64_t seq;
	uint32_t len; /* SESS_DROPPED: the reply is not kept */
	const uint8_t *reply;
};

struct sess_view {
	uint64_t last, ack, bytes, prev, next;
	int64_t used;
	uint32_t n;
	const uint8_t *recs; /* the records, n of them */
	const uint8_t *end;
};

/* Reads a session's value; false if it is malformed. */
static bool sess_open(const struct kv_entry *e, struct sess_view *v)
{
	memset(v, 0, sizeof *v);
	if (e->vlen < SESS_HEAD || bytes_get_u64(e->val) != SESS_LAYOUT)
		return false;
	v->last = bytes_get_u64(e->val + 8);
	v->ack = bytes_get_u64(e->val + 16);
	v->n = bytes_get_u32(e->val + 24);
	v->bytes = bytes_get_u64(e->val + 28);
	v->used = (int64_t)bytes_get_u64(e->val + AT_USED);
	v->prev = bytes_get_u64(e->val + AT_PREV);
	v->next = bytes_get_u64(e->val + AT_NEXT);
	v->recs = e->val + SESS_HEAD;
	v->end = e->val + e->vlen;
	return true;
}

/* The record at *at (advanced past it); false past the end or if torn. */
static bool sess_next(const struct sess_view *v, const uint8_t **at, struct sess_rec *r)
{
	if (v->end - *at < 12)
		return false;
	r->seq = bytes_get_u64(*at);
	r->len = bytes_get_u32(*at + 8);
	r->reply = *at + 12;
	size_t body = r->len == SESS_DROPPED ? 0 : r->len;
	if ((size_t)(v->end - r->reply) < body)
		return false;
	*at = r->reply + body;
	return true;
}

static struct kv_entry *sess_find(struct kv *kv, uint64_t id)
{
	uint8_t key[8];
	bytes_put_u64(key, id);
	return id ? kv_dict_find(&kv->sessions, key, sizeof key) : NULL;
}

/* ---- the list by last use ---------------------------------------------------- */

/* Sets the link at off (AT_PREV or AT_NEXT) of session id to `to`. */
static void set_link(struct kv *kv, uint64_t id, size_t off, uint64_t to)
{
	struct kv_entry *e = sess_find(kv, id);
	if (e && e->vlen >= SESS_HEAD)
		bytes_put_u64(e->val + off, to);
}

/* Takes a session (its neighbours prev and next) out of the list. */
static void sess_unlink(struct kv *kv, uint64_t prev, uint64_t next)
{
	if (prev)
		set_link(kv, prev, AT_NEXT, next);
	else
		kv->sess_head = next;
	if (next)
		set_link(kv, next, AT_PREV, prev);
	else
		kv->sess_tail = prev;
}

/* Puts session id (its value already says prev = the tail, next = 0) at
 * the end of the list, stamped used. */
static void sess_link_tail(struct kv *kv, uint64_t id, int64_t used)
{
	if (kv->sess_tail)
		set_link(kv, kv->sess_tail, AT_NEXT, id);
	else
		kv->sess_head = id;
	kv->sess_tail = id;
	kv->sess_tail_used = used;
}

static void sess_delete(struct kv *kv, uint64_t id)
{
	struct kv_entry *e = sess_find(kv, id);
	struct sess_view v;
	if (!e)
		return;
	if (sess_open(e, &v))
		sess_unlink(kv, v.prev, v.next);
	kv->sess_bytes -= e->vlen;
	uint8_t key[8];
	bytes_put_u64(key, id);
	kv_dict_delete(&kv->sessions, key, sizeof key);
	if (!kv->sess_head)
		kv->sess_tail_used = 0;
}

/* ---- checking and recording ----------------------------------------------------- */

int kv_session_check(struct kv *kv, uint64_t id, uint64_t seq, uint64_t ack, const uint8_t **reply,
		     size_t *len)
{
	struct kv_entry *e = sess_find(kv, id);
	struct sess_view v;
	if (!e || !sess_open(e, &v)) /* ack 0: an entry from before acks */
		return seq > 1 && ack && ack < seq ? KV_SESSION_EXPIRED : KV_SESSION_NEW;
	if (seq > v.last)
		return KV_SESSION_NEW;
	const uint8_t *at = v.recs;
	struct sess_rec r;
	for (uint32_t i = 0; i < v.n && sess_next(&v, &at, &r); i++) {
		if (r.seq != seq)
			continue;
		if (r.len == SESS_DROPPED)
			return KV_SESSION_APPLIED;
		*reply = r.reply;
		*len = r.len;
		return KV_SESSION_REPLY;
	}
	return seq < v.ack ? KV_SESSION_ANSWERED : KV_SESSION_PASSED;
}

bool kv_session_refused_last(struct kv *kv, uint64_t id, uint64_t seq)
{
	static const char prefix[] = "-" KV_REFUSED, suffix[] = KV_REFUSED_END "\r\n";
	const size_t np = sizeof prefix - 1, ns = sizeof suffix - 1;
	struct kv_entry *e = sess_find(kv, id);
	struct sess_view v;
	/* the newest record is the value's last: most values end otherwise */
	if (!e || e->vlen < ns || memcmp(e->val + e->vlen - ns, suffix, ns) || !sess_open(e, &v) ||
	    !v.n || seq != v.last + 1)
		return false;
	const uint8_t *at = v.recs;
	struct sess_rec r = {0};
	for (uint32_t i = 0; i < v.n; i++)
		if (!sess_next(&v, &at, &r))
			return false;
	if (r.seq != v.last || r.len == SESS_DROPPED || r.len < np + ns ||
	    memcmp(r.reply, prefix, np) || memcmp(r.reply + r.len - ns, suffix, ns))
		return false;
	return true;
}

/* Appends a record to the value being built. */
static void put_rec(struct rbuf *b, uint64_t seq, uint32_t len, const uint8_t *reply)
{
	rbuf_put_u64(b, seq);
	rbuf_put_u32(b, len);
	if (len != SESS_DROPPED && len)
		rbuf_put(b, reply, len);
}

/* Over the bound, the oldest kept replies of a value (len bytes, n
 * records, *bytes of replies) become markers. */
static void sess_bound(uint8_t *p, size_t *len, uint32_t n, uint64_t *bytes)
{
	size_t at = SESS_HEAD;
	for (uint32_t i = 0; i<n && * bytes> KV_SESSION_KEEP_BYTES; i++) {
		uint32_t rlen = bytes_get_u32(p + at + 8);
		if (rlen == SESS_DROPPED) {
			at += 12;
			continue;
		}
		memmove(p + at + 12, p + at + 12 + rlen, *len - (at + 12 + rlen));
		*len -= rlen;
		bytes_put_u32(p + at + 8, SESS_DROPPED);
		*bytes -= rlen;
		at += 12;
	}
}

struct sess_head {
	uint64_t last, ack;
	uint32_t n;
	uint64_t bytes;
	int64_t used;
	uint64_t prev, next;
};

static void put_head(uint8_t *p, const struct sess_head *h)
{
	bytes_put_u64(p, SESS_LAYOUT);
	bytes_put_u64(p + 8, h->last);
	bytes_put_u64(p + 16, h->ack);
	bytes_put_u32(p + 24, h->n);
	bytes_put_u64(p + 28, h->bytes);
	bytes_put_u64(p + AT_USED, (uint64_t)h->used);
	bytes_put_u64(p + AT_PREV, h->prev);
	bytes_put_u64(p + AT_NEXT, h->next);
}

/* The value rebuilt whole: a new session, or when a record must go from
 * the middle (a sequence number recorded again, the count bound). h
 * holds the stamp and links; the rest is computed here. */
static void sess_rebuild(struct kv *kv, struct kv_entry *e, const struct sess_view *v, bool had,
			 uint64_t seq, uint64_t ack, const uint8_t *reply, uint32_t len,
			 struct sess_head *h)
{
	h->last = had && v->last > seq ? v->last : seq;
	h->ack = had && v->ack > ack ? v->ack : ack;
	struct rbuf *b = &kv->scratch;
	b->len = 0;
	rbuf_reserve(b, SESS_HEAD);
	b->len = SESS_HEAD;
	h->n = 0;
	h->bytes = 0;
	const uint8_t *at = v->recs;
	struct sess_rec r;
	for (uint32_t i = 0; had && i < v->n && sess_next(v, &at, &r); i++) {
		/* below the ack the connection has had its reply; a record is
		 * never kept twice; the oldest go past the count bound (the
		 * new one is the last of KV_SESSION_KEEP_MAX) */
		if (r.seq < h->ack || r.seq == seq || v->n - i >= KV_SESSION_KEEP_MAX)
			continue;
		put_rec(b, r.seq, r.len, r.reply);
		h->bytes += r.len == SESS_DROPPED ? 0 : r.len;
		h->n++;
	}
	put_rec(b, seq, len, reply);
	h->bytes += len == SESS_DROPPED ? 0 : len;
	h->n++;
	size_t blen = b->len;
	sess_bound(b->p, &blen, h->n, &h->bytes);
	put_head(b->p, h);
	kv_entry_set(e, b->p, blen);
	if (b->cap > (4u << 20))
		rbuf_free(b);
}

/* The value changed in place: records below the ack cut from the front,
 * the new one appended. */
static void sess_append(struct kv_entry *e, const struct sess_view *v, uint64_t seq, uint64_t ack,
			const uint8_t *reply, uint32_t rlen, struct sess_head *h)
{
	h->ack = v->ack > ack ? v->ack : ack;
	const uint8_t *at = v->recs, *keep = v->recs;
	struct sess_rec r;
	h->n = v->n;
	h->bytes = v->bytes;
	for (uint32_t i = 0; i < v->n && sess_next(v, &at, &r) && r.seq < h->ack; i++) {
		keep = at;
		h->n--;
		h->bytes -= r.len == SESS_DROPPED ? 0 : r.len;
	}
	size_t cut = (size_t)(keep - v->recs);
	size_t vlen = e->vlen - cut;
	if (cut)
		memmove(e->val + SESS_HEAD, e->val + SESS_HEAD + cut, vlen - SESS_HEAD);
	size_t body = rlen == SESS_DROPPED ? 0 : rlen;
	uint8_t *p = kv_entry_reserve(e, vlen + 12 + body);
	bytes_put_u64(p + vlen, seq);
	bytes_put_u32(p + vlen + 8, rlen);
	if (body)
		memcpy(p + vlen + 12, reply, body);
	vlen += 12 + body;
	h->bytes += body;
	h->n++;
	sess_bound(p, &vlen, h->n, &h->bytes);
	h->last = seq;
	put_head(p, h);
	e->vlen = vlen;
}

void kv_session_record(struct kv *kv, uint64_t id, uint64_t seq, uint64_t ack, int64_t now_ms,
		       const uint8_t *reply, size_t len)
{
	uint8_t key[8];
	bytes_put_u64(key, id);
	struct kv_entry *e = kv_dict_find(&kv->sessions, key, sizeof key);
	if (!e)
		e = kv_dict_add(&kv->sessions, key, sizeof key);
	uint32_t rlen = len > KV_SESSION_KEEP_BYTES ? SESS_DROPPED : (uint32_t)len;
	struct sess_view v;
	bool had = sess_open(e, &v);
	/* stamped no earlier than the newest stamp: the list stays in order */
	int64_t used = kv->sess_head && kv->sess_tail_used > now_ms ? kv->sess_tail_used : now_ms;
	/* already last, or stamped as the last is: its place keeps the list in
	 * order, and its neighbours need not be looked up (a pipeline's
	 * requests in one entry move a session once) */
	bool stays = had && (kv->sess_tail == id || v.used == used);
	if (had && !stays)
		sess_unlink(kv, v.prev, v.next);
	kv->sess_bytes -= e->vlen;
	struct sess_head h = {
		.used = used, .prev = stays ? v.prev : kv->sess_tail, .next = stays ? v.next : 0};
	if (!had || seq <= v.last || v.n >= KV_SESSION_KEEP_MAX)
		sess_rebuild(kv, e, &v, had, seq, ack, reply, rlen, &h);
	else
		sess_append(e, &v, seq, ack, reply, rlen, &h);
	kv->sess_bytes += e->vlen;
	if (!stays)
		sess_link_tail(kv, id, used);
	else if (kv->sess_tail == id)
		kv->sess_tail_used = used;
}

uint64_t kv_session_kept(struct kv *kv, uint64_t id)
{
	struct kv_entry *e = sess_find(kv, id);
	struct sess_view v;
	return e && sess_open(e, &v) ? v.n : 0;
}

/* ---- expiry ------------------------------------------------------------------ */

uint64_t kv_session_expire(struct kv *kv, int64_t now_ms, int64_t idle_ms, uint64_t max_bytes)
{
	uint64_t n = 0;
	int64_t cut = 0; /* stamps at or before it are idle past idle_ms */
	bool by_idle = idle_ms > 0 && !__builtin_sub_overflow(now_ms, idle_ms, &cut);
	bool group = false;
	int64_t group_used = 0;
	while (kv->sess_head) {
		struct kv_entry *e = sess_find(kv, kv->sess_head);
		struct sess_view v;
		if (!e || !sess_open(e, &v)) { /* never: every session is linked whole */
			kv->sess_head = kv->sess_tail = 0;
			break;
		}
		bool idle = by_idle && v.used <= cut;
		bool over = max_bytes && kv->sess_bytes > max_bytes;
		/* a group of equal stamps goes whole: the order among them is
		 * not the same on every replica */
		if (!idle && !over && !(group && v.used == group_used))
			break;
		group = true;
		group_used = v.used;
		sess_delete(kv, kv->sess_head);
		n++;
	}
	return n;
}

int64_t kv_session_oldest(struct kv *kv)
{
	struct kv_entry *e = sess_find(kv, kv->sess_head);
	struct sess_view v;
	return e && sess_open(e, &v) ? v.used : INT64_MAX;
}

/* KEEL.EXPIRE-SESSIONS idle-ms max-bytes: what the leader proposes to
 * remove the sessions idle past idle-ms at the entry's time (0: none for
 * idleness), and the least recently used while the table holds more than
 * max-bytes (0: no bound). Replies with the number removed. A client may
 * not send it: its requests carry a session. */
void cmd_expire_sessions(struct kv_ctx *c)
{
	int64_t idle, max;
	if (c->argc != 3) {
		kv_reply_arity(c->out, "keel.expire-sessions");
	} else if (c->session) {
		resp_error(c->out, "ERR KEEL.EXPIRE-SESSIONS is proposed by the leader; a client "
				   "may not send it");
	} else if (!resp_str2ll(c->argv[1].p, c->argv[1].len, &idle) ||
		   !resp_str2ll(c->argv[2].p, c->argv[2].len, &max) || idle < 0 || max < 0) {
		resp_error(c->out, "ERR value is not an integer or out of range");
	} else {
		uint64_t n = kv_session_expire(c->kv, c->now_ms, idle, (uint64_t)max);
		resp_int(c->out, (int64_t)n);
	}
}

/* ---- snapshots ---------------------------------------------------------------- */

void kv_session_each(struct kv *kv, void (*fn)(void *ctx, struct kv_entry *e), void *ctx)
{
	uint64_t left = kv_dict_size(&kv->sessions);
	for (uint64_t id = kv->sess_head; id && left; left--) {
		struct kv_entry *e = sess_find(kv, id);
		struct sess_view v;
		if (!e || !sess_open(e, &v))
			break;
		fn(ctx, e);
		id = v.next;
	}
}

/* A value of an older layout, rewritten in this one, stamped 0; false if
 * it is malformed. */
static bool sess_convert(struct kv *kv, struct kv_entry *e)
{
	struct sess_head h = {0};
	struct rbuf *b = &kv->scratch;
	b->len = 0;
	if (e->vlen >= SESS_HEAD_2 && bytes_get_u64(e->val) == SESS_LAYOUT_2) {
		h.last = bytes_get_u64(e->val + 8);
		h.ack = bytes_get_u64(e->val + 16);
		h.n = bytes_get_u32(e->val + 24);
		h.bytes = bytes_get_u64(e->val + 28);
		rbuf_reserve(b, SESS_HEAD);
		b->len = SESS_HEAD;
		rbuf_put(b, e->val + SESS_HEAD_2, e->vlen - SESS_HEAD_2);
	} else if (e->vlen >= 8 && bytes_get_u64(e->val) < SESS_LAYOUT) {
		/* the first layout: one request's sequence number and reply */
		size_t len = e->vlen - 8;
		uint32_t rlen = len > KV_SESSION_KEEP_BYTES ? SESS_DROPPED : (uint32_t)len;
		h.last = bytes_get_u64(e->val);
		h.n = 1;
		h.bytes = rlen == SESS_DROPPED ? 0 : rlen;
		rbuf_reserve(b, SESS_HEAD);
		b->len = SESS_HEAD;
		put_rec(b, h.last, rlen, e->val + 8);
	} else {
		return false;
	}
	put_head(b->p, &h);
	kv_entry_set(e, b->p, b->len);
	return true;
}

/* Whether a value read from outside (a snapshot) is whole: its n records
 * fill it exactly, in increasing sequence order up to its last, and its
 * byte count is theirs. The code that changes a value in place
 * (sess_append, sess_bound) relies on it. */
static bool sess_whole(const struct kv_entry *e)
{
	struct sess_view v;
	if (!sess_open(e, &v))
		return false;
	const uint8_t *at = v.recs;
	struct sess_rec r;
	uint64_t bytes = 0, prev = 0;
	for (uint32_t i = 0; i < v.n; i++) {
		if (!sess_next(&v, &at, &r) || (i && r.seq <= prev) || r.seq > v.last)
			return false;
		bytes += r.len == SESS_DROPPED ? 0 : r.len;
		prev = r.seq;
	}
	return at == v.end && bytes == v.bytes;
}

/* Appends the records of a and b (each in increasing order) at or past
 * ack, merged in order, a record of both sides once (a's), the oldest
 * past KV_SESSION_KEEP_MAX left out; their count and reply bytes. */
static void merge_recs(struct rbuf *out, const struct sess_view *a, const struct sess_view *b,
		       uint64_t ack, uint32_t *n, uint64_t *bytes)
{
	for (int pass = 0; pass < 2; pass++) { /* counting, then writing */
		const uint8_t *pa = a->recs, *pb = b->recs;
		struct sess_rec ra, rb;
		uint32_t ia = 0, ib = 0, k = 0,
			 skip = pass && *n > KV_SESSION_KEEP_MAX ? *n - KV_SESSION_KEEP_MAX : 0;
		bool has_a = ia < a->n && sess_next(a, &pa, &ra);
		bool has_b = ib < b->n && sess_next(b, &pb, &rb);
		if (pass)
			*bytes = 0;
		while (has_a || has_b) {
			bool take_a = has_a && (!has_b || ra.seq <= rb.seq);
			struct sess_rec r = take_a ? ra : rb;
			if (has_a && has_b && ra.seq == rb.seq)
				has_b = ++ib < b->n && sess_next(b, &pb, &rb);
			if (take_a)
				has_a = ++ia < a->n && sess_next(a, &pa, &ra);
			else
				has_b = ++ib < b->n && sess_next(b, &pb, &rb);
			if (r.seq < ack || (pass && k++ < skip))
				continue;
			if (pass) {
				put_rec(out, r.seq, r.len, r.reply);
				*bytes += r.len == SESS_DROPPED ? 0 : r.len;
			} else {
				++*n;
			}
		}
		if (pass && *n > KV_SESSION_KEEP_MAX)
			*n = KV_SESSION_KEEP_MAX;
	}
}

bool kv_session_merge(struct kv *kv, uint64_t id, const uint8_t *val, size_t len, int64_t now_ms)
{
	struct kv_entry src = {.val = (uint8_t *)val, .vlen = len};
	struct sess_view a = {0}, b = {0};
	if (!id || !sess_whole(&src) || !sess_open(&src, &a))
		return false;
	struct kv_entry *e = sess_find(kv, id);
	bool had = e && sess_open(e, &b);
	if (had && !sess_whole(e)) { /* not ours to merge with: its records go */
		sess_unlink(kv, b.prev, b.next);
		had = false;
		memset(&b, 0, sizeof b);
	}
	struct sess_head h = {.last = had && b.last > a.last ? b.last : a.last,
			      .ack = had && b.ack > a.ack ? b.ack : a.ack};
	struct rbuf *out = &kv->scratch;
	out->len = 0;
	rbuf_reserve(out, SESS_HEAD);
	out->len = SESS_HEAD;
	merge_recs(out, &a, &b, h.ack, &h.n, &h.bytes);
	size_t blen = out->len;
	sess_bound(out->p, &blen, h.n, &h.bytes);
	if (e) { /* out of the list: it goes to its end, stamped now */
		if (had)
			sess_unlink(kv, b.prev, b.next);
		kv->sess_bytes -= e->vlen;
	} else {
		uint8_t key[8];
		bytes_put_u64(key, id);
		e = kv_dict_add(&kv->sessions, key, sizeof key);
	}
	h.used = kv->sess_head && kv->sess_tail_used > now_ms ? kv->sess_tail_used : now_ms;
	h.prev = kv->sess_tail;
	h.next = 0;
	put_head(out->p, &h);
	kv_entry_set(e, out->p, blen);
	kv->sess_bytes += e->vlen;
	sess_link_tail(kv, id, h.used);
	if (out->cap > (4u << 20))
		rbuf_free(out);
	return true;
}

bool kv_session_value_ok(const uint8_t *val, size_t len)
{
	struct kv_entry e = {.val = (uint8_t *)val, .vlen = len};
	return sess_whole(&e);
}

bool kv_session_adopt(struct kv *kv, struct kv_entry *e)
{
	struct sess_view v;
	if (e->klen != 8 || !bytes_get_u64(e->key) || (!sess_open(e, &v) && !sess_convert(kv, e)) ||
	    !sess_whole(e))
		return false;
	bytes_put_u64(e->val + AT_PREV, kv->sess_tail);
	bytes_put_u64(e->val + AT_NEXT, 0);
	sess_link_tail(kv, bytes_get_u64(e->key), (int64_t)bytes_get_u64(e->val + AT_USED));
	kv->sess_bytes += e->vlen;
	return true;
}

static int64_t used_of(const struct kv_entry *e)
{
	return (int64_t)bytes_get_u64(e->val + AT_USED);
}

/* In order of stamp; equal stamps keep their order. */
static void sort_by_used(struct kv_entry **v, uint64_t n)
{
	struct kv_entry **tmp = keel_malloc((n ? n : 1) * sizeof *tmp);
	for (uint64_t width = 1; width < n; width *= 2) {
		for (uint64_t lo = 0; lo < n; lo += 2 * width) {
			uint64_t mid = lo + width < n ? lo + width : n;
			uint64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			uint64_t a = lo, b = mid, k = lo;
			while (a < mid || b < hi)
				tmp[k++] = b >= hi || (a < mid && used_of(v[a]) <= used_of(v[b]))
						   ? v[a++]
						   : v[b++];
		}
		memcpy(v, tmp, n * sizeof *tmp);
	}
	keel_free(tmp);
}

void kv_session_relink(struct kv *kv)
{
	uint64_t n = 0, cap = kv_dict_size(&kv->sessions);
	struct kv_entry **v = keel_malloc((cap ? cap : 1) * sizeof *v);
	bool sorted = true;
	for (uint64_t id = kv->sess_head; id && n < cap;) {
		struct kv_entry *e = sess_find(kv, id);
		struct sess_view sv;
		if (!e || !sess_open(e, &sv))
			break;
		sorted = sorted && (!n || used_of(v[n - 1]) <= sv.used);
		v[n++] = e;
		id = sv.next;
	}
	if (!sorted) {
		sort_by_used(v, n);
		kv->sess_head = kv->sess_tail = 0;
		kv->sess_tail_used = 0;
		for (uint64_t i = 0; i < n; i++) {
			bytes_put_u64(v[i]->val + AT_PREV, kv->sess_tail);
			bytes_put_u64(v[i]->val + AT_NEXT, 0);
			sess_link_tail(kv, bytes_get_u64(v[i]->key), used_of(v[i]));
		}
	}
	keel_free(v);
	rbuf_free(&kv->scratch);
}
