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

/* The session section: false if malformed. */
static bool read_sessions(struct kv *kv, struct bytes_reader *r)
{
	uint64_t n = bytes_read_u64(r);
	for (uint64_t i = 0; i < n && !r->err; i++) {
		const uint8_t *id = bytes_read_raw(r, 8);
		uint64_t vlen = bytes_read_u64(r);
		const uint8_t *v = vlen <= bytes_reader_left(r) ? bytes_read_raw(r, vlen) : NULL;
		if (r->err || !id || !v || vlen < 8 || kv_dict_find(&kv->sessions, id, 8))
			return false;
		kv_entry_set(kv_dict_add(&kv->sessions, id, 8), v, vlen);
	}
	return !r->err;
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

int kv_snapshot_read(struct kv *kv, const uint8_t *p, size_t n)
{
	kv_dict_free(&kv->dict);
	kv_dict_free(&kv->sessions);
	if (n < sizeof magic + 12 || memcmp(p, magic, sizeof magic) != 0 ||
	    bytes_get_u32(p + n - 4) != crc32c(0, p, n - 4))
		return KEEL_ECORRUPT;
	struct bytes_reader r;
	bytes_reader_init(&r, p + sizeof magic, n - sizeof magic - 4);
	uint64_t count = bytes_read_u64(&r);
	for (uint64_t i = 0; i < count && !r.err; i++) {
		uint32_t klen = bytes_read_u32(&r);
		const uint8_t *key = bytes_read_raw(&r, klen);
		uint64_t vlen = bytes_read_u64(&r);
		const uint8_t *val =
			vlen <= bytes_reader_left(&r) ? bytes_read_raw(&r, vlen) : NULL;
		int64_t expire = (int64_t)bytes_read_u64(&r);
		if (r.err || !key || (vlen && !val) || kv_dict_find(&kv->dict, key, klen)) {
			r.err = true;
			break;
		}
		struct kv_entry *e = kv_dict_add(&kv->dict, key, klen);
		kv_entry_set(e, val, vlen);
		e->expire = expire;
	}
	if (r.err || !read_sessions(kv, &r) || bytes_reader_left(&r) != 0) {
		kv_dict_free(&kv->dict);
		kv_dict_free(&kv->sessions);
		return KEEL_ECORRUPT;
	}
	return KEEL_OK;
}
