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
 * A session's value (binary): u64 SESS_LAYOUT, u64 last, u64 ack, u32 n,
 * u64 bytes (of the replies kept), then n records in increasing sequence
 * order: u64 seq, u32 length (SESS_DROPPED: reply not kept), the reply's
 * bytes. A value without SESS_LAYOUT is the older layout: u64 seq, then
 * that request's reply (read as one record). A request is recorded in
 * place (the records below the ack cut from the front, the new one put at
 * the end), so its cost does not grow with the replies kept. */
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "kv/kv.h"

#define SESS_LAYOUT  UINT64_MAX
#define SESS_DROPPED UINT32_MAX
#define SESS_HEAD    36 /* layout, last, ack, n, bytes */

struct sess_rec {
	uint64_t seq;
	uint32_t len; /* SESS_DROPPED: the reply is not kept */
	const uint8_t *reply;
};

struct sess_view {
	uint64_t last, ack, bytes;
	uint32_t n;
	const uint8_t *recs; /* the records, n of them */
	const uint8_t *end;
	bool old; /* the older layout: recs is one reply */
};

/* Reads a session's value; false if it is malformed. */
static bool sess_open(const struct kv_entry *e, struct sess_view *v)
{
	memset(v, 0, sizeof *v);
	if (e->vlen < 8)
		return false;
	v->end = e->val + e->vlen;
	if (bytes_get_u64(e->val) != SESS_LAYOUT) {
		v->last = bytes_get_u64(e->val);
		v->n = 1;
		v->recs = e->val + 8;
		v->old = true;
		return true;
	}
	if (e->vlen < SESS_HEAD)
		return false;
	v->last = bytes_get_u64(e->val + 8);
	v->ack = bytes_get_u64(e->val + 16);
	v->n = bytes_get_u32(e->val + 24);
	v->bytes = bytes_get_u64(e->val + 28);
	v->recs = e->val + SESS_HEAD;
	return true;
}

/* The record at *at (advanced past it); false past the end or if torn. */
static bool sess_next(const struct sess_view *v, const uint8_t **at, struct sess_rec *r)
{
	if (v->old) {
		if (*at != v->recs)
			return false;
		*r = (struct sess_rec){v->last, (uint32_t)(v->end - v->recs), v->recs};
		*at = v->end;
		return true;
	}
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
	return kv_dict_find(&kv->sessions, key, sizeof key);
}

int kv_session_check(struct kv *kv, uint64_t id, uint64_t seq, const uint8_t **reply, size_t *len)
{
	struct kv_entry *e = sess_find(kv, id);
	struct sess_view v;
	if (!e || !sess_open(e, &v) || seq > v.last)
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
	for (uint32_t i = 0; i < n && *bytes > KV_SESSION_KEEP_BYTES; i++) {
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

static void put_head(uint8_t *p, uint64_t last, uint64_t ack, uint32_t n, uint64_t bytes)
{
	bytes_put_u64(p, SESS_LAYOUT);
	bytes_put_u64(p + 8, last);
	bytes_put_u64(p + 16, ack);
	bytes_put_u32(p + 24, n);
	bytes_put_u64(p + 28, bytes);
}

/* The value rebuilt whole: from the older layout, or when a record must
 * go from the middle (a sequence number recorded again, the count bound). */
static void sess_rebuild(struct kv *kv, struct kv_entry *e, const struct sess_view *v, bool had,
			 uint64_t seq, uint64_t ack, const uint8_t *reply, uint32_t len)
{
	uint64_t last = had && v->last > seq ? v->last : seq;
	uint64_t new_ack = had && v->ack > ack ? v->ack : ack;
	struct rbuf *b = &kv->scratch;
	b->len = 0;
	rbuf_reserve(b, SESS_HEAD);
	b->len = SESS_HEAD;
	uint32_t n = 0;
	uint64_t bytes = 0;
	const uint8_t *at = v->recs;
	struct sess_rec r;
	for (uint32_t i = 0; had && i < v->n && sess_next(v, &at, &r); i++) {
		/* below the ack the connection has had its reply; a record is
		 * never kept twice; the oldest go past the count bound */
		if (r.seq < new_ack || r.seq == seq || v->n - i > KV_SESSION_KEEP_MAX)
			continue;
		put_rec(b, r.seq, r.len, r.reply);
		bytes += r.len == SESS_DROPPED ? 0 : r.len;
		n++;
	}
	put_rec(b, seq, len, reply);
	bytes += len == SESS_DROPPED ? 0 : len;
	n++;
	put_head(b->p, last, new_ack, n, bytes);
	size_t blen = b->len;
	sess_bound(b->p, &blen, n, &bytes);
	bytes_put_u64(b->p + 28, bytes);
	kv_entry_set(e, b->p, blen);
	if (b->cap > (4u << 20))
		rbuf_free(b);
}

void kv_session_record(struct kv *kv, uint64_t id, uint64_t seq, uint64_t ack, const uint8_t *reply,
		       size_t len)
{
	uint8_t key[8];
	bytes_put_u64(key, id);
	struct kv_entry *e = kv_dict_find(&kv->sessions, key, sizeof key);
	if (!e)
		e = kv_dict_add(&kv->sessions, key, sizeof key);
	uint32_t rlen = len > KV_SESSION_KEEP_BYTES ? SESS_DROPPED : (uint32_t)len;
	struct sess_view v;
	bool had = sess_open(e, &v);
	if (!had || v.old || seq <= v.last || v.n >= KV_SESSION_KEEP_MAX) {
		sess_rebuild(kv, e, &v, had, seq, ack, reply, rlen);
		return;
	}
	/* the records below the ack leave from the front */
	uint64_t new_ack = v.ack > ack ? v.ack : ack;
	const uint8_t *at = v.recs, *keep = v.recs;
	struct sess_rec r;
	uint32_t n = v.n;
	uint64_t bytes = v.bytes;
	for (uint32_t i = 0; i < v.n && sess_next(&v, &at, &r) && r.seq < new_ack; i++) {
		keep = at;
		n--;
		bytes -= r.len == SESS_DROPPED ? 0 : r.len;
	}
	size_t cut = (size_t)(keep - v.recs);
	size_t vlen = e->vlen - cut;
	if (cut)
		memmove(e->val + SESS_HEAD, e->val + SESS_HEAD + cut, vlen - SESS_HEAD);
	/* the new one at the end */
	size_t body = rlen == SESS_DROPPED ? 0 : rlen;
	uint8_t *p = kv_entry_reserve(e, vlen + 12 + body);
	bytes_put_u64(p + vlen, seq);
	bytes_put_u32(p + vlen + 8, rlen);
	if (body)
		memcpy(p + vlen + 12, reply, body);
	vlen += 12 + body;
	bytes += body;
	n++;
	sess_bound(p, &vlen, n, &bytes);
	put_head(p, seq, new_ack, n, bytes);
	e->vlen = vlen;
}

uint64_t kv_session_kept(struct kv *kv, uint64_t id)
{
	struct kv_entry *e = sess_find(kv, id);
	struct sess_view v;
	return e && sess_open(e, &v) ? v.n : 0;
}
