/* kv/snapshot.c — the keyspace stream of kv/snapshot.h.
 *
 * FORMAT (little-endian):
 *   8  magic "KEELKV1\0"
 *   8  count of keys
 *   count times: 4 key length, key, 8 value length, value,
 *                8 expiry (ms since the epoch, 0: none)
 *   8  count of client sessions
 *   count times: 8 session id, 8 value length, value (the last
 *                sequence number, u64, then its reply)
 *   4  crc32c of everything before it
 * The checksum is checked before anything is read. */
#include "kv/snapshot.h"

#include <string.h>

#include "base/bytes.h"
#include "base/crc32c.h"

static const uint8_t magic[8] = {'K', 'E', 'E', 'L', 'K', 'V', '2', 0};

struct writer {
	struct rbuf *out;
	int64_t now;
	uint64_t count;
};

static void write_entry(void *ctx, struct kv_entry *e)
{
	struct writer *w = ctx;
	if (e->expire && e->expire <= w->now)
		return;
	rbuf_put_u32(w->out, e->klen);
	rbuf_put(w->out, e->key, e->klen);
	rbuf_put_u64(w->out, e->vlen);
	rbuf_put(w->out, e->val, e->vlen);
	rbuf_put_u64(w->out, (uint64_t)e->expire);
	w->count++;
}

static void write_session(void *ctx, struct kv_entry *e)
{
	struct rbuf *out = ctx;
	rbuf_put(out, e->key, 8);
	rbuf_put_u64(out, e->vlen);
	rbuf_put(out, e->val, e->vlen);
}

void kv_snapshot_write(struct kv *kv, int64_t now_ms, struct rbuf *out)
{
	size_t start = out->len;
	rbuf_put(out, magic, sizeof magic);
	size_t count_at = out->len;
	rbuf_put_u64(out, 0);
	struct writer w = {out, now_ms, 0};
	kv_dict_each(&kv->dict, write_entry, &w);
	bytes_put_u64(out->p + count_at, w.count);
	rbuf_put_u64(out, kv_dict_size(&kv->sessions));
	kv_dict_each(&kv->sessions, write_session, out);
	rbuf_put_u32(out, crc32c(0, out->p + start, out->len - start));
}

/* ---- reading, as the bytes arrive ------------------------------------------ */

enum { ST_HEAD, ST_KEYS, ST_SESSION_COUNT, ST_SESSIONS, ST_CRC, ST_DONE };

#define VALUE_MAX (512ull << 20) /* Redis's proto-max-bulk-len */

/* The size of the next record of the current section, given the n bytes
 * of it at p: exact once they show it, else a lower bound above n. */
static uint64_t record_size(const struct kv_restore *r, const uint8_t *p, size_t n)
{
	switch (r->stage) {
	case ST_HEAD:
		return sizeof magic + 8;
	case ST_SESSION_COUNT:
		return 8;
	case ST_CRC:
		return 4;
	case ST_SESSIONS: {
		uint64_t vlen = n < 16 ? 0 : bytes_get_u64(p + 8);
		return n < 16 ? 16 : vlen > VALUE_MAX ? UINT64_MAX : 16 + vlen;
	}
	default: { /* ST_KEYS: 4 klen, key, 8 vlen, value, 8 expiry */
		if (n < 4)
			return 4;
		uint64_t klen = bytes_get_u32(p);
		if (n < 4 + klen + 8)
			return 4 + klen + 8;
		uint64_t vlen = bytes_get_u64(p + 4 + klen);
		return vlen > VALUE_MAX ? UINT64_MAX : 4 + klen + 8 + vlen + 8;
	}
	}
}

/* Takes one whole record of size n; false if it is malformed. */
static bool take(struct kv_restore *r, const uint8_t *p, uint64_t n)
{
	if (r->stage != ST_CRC)
		r->crc = crc32c(r->crc, p, n);
	switch (r->stage) {
	case ST_HEAD:
		if (memcmp(p, magic, sizeof magic) != 0)
			return false;
		r->left = bytes_get_u64(p + sizeof magic);
		r->stage = r->left ? ST_KEYS : ST_SESSION_COUNT;
		return true;
	case ST_KEYS: {
		uint32_t klen = bytes_get_u32(p);
		uint64_t vlen = bytes_get_u64(p + 4 + klen);
		if (kv_dict_find(&r->kv.dict, p + 4, klen))
			return false; /* a key twice */
		struct kv_entry *e = kv_dict_add(&r->kv.dict, p + 4, klen);
		kv_entry_set(e, p + 4 + klen + 8, vlen);
		e->expire = (int64_t)bytes_get_u64(p + 4 + klen + 8 + vlen);
		if (!--r->left)
			r->stage = ST_SESSION_COUNT;
		return true;
	}
	case ST_SESSION_COUNT:
		r->left = bytes_get_u64(p);
		r->stage = r->left ? ST_SESSIONS : ST_CRC;
		return true;
	case ST_SESSIONS: {
		uint64_t vlen = bytes_get_u64(p + 8);
		if (vlen < 8 || kv_dict_find(&r->kv.sessions, p, 8))
			return false;
		kv_entry_set(kv_dict_add(&r->kv.sessions, p, 8), p + 16, vlen);
		if (!--r->left)
			r->stage = ST_CRC;
		return true;
	}
	default: /* ST_CRC */
		r->stage = ST_DONE;
		return bytes_get_u32(p) == r->crc;
	}
}

void kv_restore_init(struct kv_restore *r, uint64_t seed)
{
	memset(r, 0, sizeof *r);
	kv_init(&r->kv, seed);
	rbuf_init(&r->carry);
}

int kv_restore_feed(struct kv_restore *r, const uint8_t *p, size_t n)
{
	while (!r->bad) {
		/* a record split across feeds is gathered in carry, a piece at a time */
		const uint8_t *at = r->carry.len ? r->carry.p : p;
		size_t have = r->carry.len ? r->carry.len : n;
		if (!have)
			break;
		if (r->stage == ST_DONE) {
			r->bad = true; /* bytes after the checksum */
			break;
		}
		uint64_t size = record_size(r, at, have);
		if (size > VALUE_MAX + 64) {
			r->bad = true;
			break;
		}
		if (have < size) {
			if (!r->carry.len) {
				rbuf_put(&r->carry, p, n); /* the record's start */
				break;
			}
			if (!n)
				break;
			size_t more = size - have < n ? (size_t)(size - have) : n;
			rbuf_put(&r->carry, p, more);
			p += more;
			n -= more;
			continue;
		}
		if (!take(r, at, size))
			r->bad = true;
		if (r->carry.len) {
			r->carry.len = 0; /* carry held exactly that record */
		} else {
			p += size;
			n -= size;
		}
	}
	return r->bad ? KEEL_ECORRUPT : KEEL_OK;
}

int kv_restore_finish(struct kv_restore *r, struct kv *kv)
{
	if (r->bad || r->stage != ST_DONE || r->carry.len) {
		kv_restore_free(r);
		return KEEL_ECORRUPT;
	}
	kv_dict_free(&kv->dict);
	kv_dict_free(&kv->sessions);
	kv->dict = r->kv.dict;
	kv->sessions = r->kv.sessions;
	rbuf_free(&r->carry);
	memset(r, 0, sizeof *r);
	return KEEL_OK;
}

void kv_restore_free(struct kv_restore *r)
{
	kv_free(&r->kv);
	rbuf_free(&r->carry);
	memset(r, 0, sizeof *r);
}

int kv_snapshot_read(struct kv *kv, const uint8_t *p, size_t n)
{
	struct kv_restore r;
	kv_restore_init(&r, kv->rand_state);
	kv_restore_feed(&r, p, n);
	int rc = kv_restore_finish(&r, kv);
	if (rc) {
		kv_dict_free(&kv->dict);
		kv_dict_free(&kv->sessions);
	}
	return rc;
}
