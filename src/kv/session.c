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
 * then n records: u64 seq, u32 length (SESS_DROPPED: reply not kept),
 * the reply's bytes. A value without SESS_LAYOUT is the older layout:
 * u64 seq, then that request's reply (read as one record). */
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "kv/kv.h"

#define SESS_LAYOUT  UINT64_MAX
#define SESS_DROPPED UINT32_MAX
#define SESS_HEAD    28 /* layout, last, ack, n */

struct sess_rec {
	uint64_t seq;
	uint32_t len; /* SESS_DROPPED: the reply is not kept */
	const uint8_t *reply;
};

struct sess_view {
	uint64_t last, ack;
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

/* Over the bound, the oldest kept replies become markers. */
static void sess_bound(struct rbuf *b, uint32_t n)
{
	uint64_t bytes = 0;
	size_t at = SESS_HEAD;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = bytes_get_u32(b->p + at + 8);
		bytes += len == SESS_DROPPED ? 0 : len;
		at += 12 + (len == SESS_DROPPED ? 0 : len);
	}
	at = SESS_HEAD;
	for (uint32_t i = 0; i < n && bytes > KV_SESSION_KEEP_BYTES; i++) {
		uint32_t len = bytes_get_u32(b->p + at + 8);
		if (len == SESS_DROPPED) {
			at += 12;
			continue;
		}
		memmove(b->p + at + 12, b->p + at + 12 + len, b->len - (at + 12 + len));
		b->len -= len;
		bytes_put_u32(b->p + at + 8, SESS_DROPPED);
		bytes -= len;
		at += 12;
	}
}

void kv_session_record(struct kv *kv, uint64_t id, uint64_t seq, uint64_t ack, const uint8_t *reply,
		       size_t len)
{
	uint8_t key[8];
	bytes_put_u64(key, id);
	struct kv_entry *e = kv_dict_find(&kv->sessions, key, sizeof key);
	if (!e)
		e = kv_dict_add(&kv->sessions, key, sizeof key);
	struct sess_view v;
	bool had = sess_open(e, &v);
	uint64_t last = had && v.last > seq ? v.last : seq;
	uint64_t new_ack = had && v.ack > ack ? v.ack : ack;
	struct rbuf *b = &kv->scratch;
	b->len = 0;
	rbuf_put_u64(b, SESS_LAYOUT);
	rbuf_put_u64(b, last);
	rbuf_put_u64(b, new_ack);
	rbuf_put_u32(b, 0);
	uint32_t n = 0;
	const uint8_t *at = v.recs;
	struct sess_rec r;
	for (uint32_t i = 0; had && i < v.n && sess_next(&v, &at, &r); i++) {
		/* below the ack the connection has had its reply; a record is
		 * never kept twice; the oldest go past the count bound */
		if (r.seq < new_ack || r.seq == seq || v.n - i > KV_SESSION_KEEP_MAX)
			continue;
		put_rec(b, r.seq, r.len, r.reply);
		n++;
	}
	put_rec(b, seq, len > KV_SESSION_KEEP_BYTES ? SESS_DROPPED : (uint32_t)len, reply);
	n++;
	bytes_put_u32(b->p + 24, n);
	sess_bound(b, n);
	kv_entry_set(e, b->p, b->len);
	if (b->cap > (4u << 20))
		rbuf_free(b);
}

uint64_t kv_session_kept(struct kv *kv, uint64_t id)
{
	struct kv_entry *e = sess_find(kv, id);
	struct sess_view v;
	return e && sess_open(e, &v) ? v.n : 0;
}
