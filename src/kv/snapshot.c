/* kv/snapshot.c — the keyspace stream of kv/snapshot.h.
 *
 * FORMAT, version 3 (little-endian):
 *   8  magic "KEELKV3\0"
 *   4  count of databases written: those that hold a live key
 *   per database, in increasing index order:
 *      4  its index (below KV_DBS_MAX, above the one before it)
 *      8  count of keys (1 or more)
 *      count times: 4 key length, key, 8 value length, value,
 *                   8 expiry (ms since the epoch, 0: none; never negative)
 *   8  count of client sessions
 *   count times: 8 session id, 8 value length, value (kv/session.c's
 *                layout: its requests and replies, the time it was last
 *                used), in order of last use, the least recent first
 *   4  crc32c of everything before it
 * Version 4 ("KEELKV4\0") is version 3 with, before the checksum, the
 * shard's slots or the slot map (kv/slots.c, KV_SLOTS_BYTES): written for
 * a keyspace of a node of several shards, version 3 for any other.
 * Version 5 ("KEELKV5\0") is version 4 whose slot map also lists the
 * shards placed on some of the nodes (kv/slots.c, KV_PLACED_BYTES each):
 * written for a map that has any, version 4 for any other.
 * Version 2 ("KEELKV2\0", one database) is still read: after its magic, 8
 * count of keys and the keys, all in database 0; the rest as above. The
 * reader refuses anything else: another magic, a database index out of
 * order or range, an empty database, a key twice in one database, a
 * negative expiry, a length past the limits, bytes after the checksum, a
 * checksum that does not match, a session value of no layout
 * kv/session.c reads. Sessions written by keel before they expired (no
 * time of last use) are read as idle since the epoch. */
#include "kv/snapshot.h"

#include <string.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"

static const uint8_t magic[8] = {'K', 'E', 'E', 'L', 'K', 'V', '3', 0};
static const uint8_t magic_v2[8] = {'K', 'E', 'E', 'L', 'K', 'V', '2', 0};
static const uint8_t magic_v4[8] = {'K', 'E', 'E', 'L', 'K', 'V', '4', 0};
static const uint8_t magic_v5[8] = {'K', 'E', 'E', 'L', 'K', 'V', '5', 0};

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

/* Database i's section, unless it has no live key; true if written. */
static bool write_db(struct kv *kv, uint32_t i, int64_t now_ms, struct rbuf *out)
{
	size_t at = out->len;
	rbuf_put_u32(out, i);
	rbuf_put_u64(out, 0);
	struct writer w = {out, now_ms, 0};
	kv_dict_each(&kv->db[i], write_entry, &w);
	if (!w.count) {
		out->len = at;
		return false;
	}
	bytes_put_u64(out->p + at + 4, w.count);
	return true;
}

static void write_session(void *ctx, struct kv_entry *e)
{
	struct writer *w = ctx;
	rbuf_put(w->out, e->key, 8);
	rbuf_put_u64(w->out, e->vlen);
	rbuf_put(w->out, e->val, e->vlen);
	w->count++;
}

void kv_snapshot_write(struct kv *kv, int64_t now_ms, struct rbuf *out)
{
	size_t start = out->len;
	const struct kv_slots *sl = kv_slots_of(kv);
	bool placed = sl && sl->n_placed;
	rbuf_put(out, placed ? magic_v5 : sl ? magic_v4 : magic, sizeof magic);
	size_t count_at = out->len;
	rbuf_put_u32(out, 0);
	uint32_t n = 0;
	for (uint32_t i = 0; i < kv->n_db; i++)
		n += write_db(kv, i, now_ms, out);
	bytes_put_u32(out->p + count_at, n);
	size_t sessions_at = out->len;
	rbuf_put_u64(out, 0);
	struct writer w = {out, now_ms, 0};
	kv_session_each(kv, write_session, &w);
	bytes_put_u64(out->p + sessions_at, w.count);
	if (sl)
		kv_slots_write(sl, placed, out);
	rbuf_put_u32(out, crc32c(0, out->p + start, out->len - start));
}

/* ---- reading, as the bytes arrive ------------------------------------------ */

enum {
	ST_MAGIC,
	ST_V2_COUNT, /* version 2: the count of keys (database 0) */
	ST_DB_COUNT,
	ST_DB_HEAD,
	ST_KEYS,
	ST_SESSION_COUNT,
	ST_SESSIONS,
	ST_SLOTS, /* version 4 */
	ST_CRC,
	ST_DONE
};

#define VALUE_MAX (512ull << 20) /* Redis's proto-max-bulk-len */

/* The size of the next record of the current section, given the n bytes
 * of it at p: exact once they show it, else a lower bound above n. */
static uint64_t record_size(const struct kv_restore *r, const uint8_t *p, size_t n)
{
	switch (r->stage) {
	case ST_MAGIC:
	case ST_V2_COUNT:
	case ST_SESSION_COUNT:
		return 8;
	case ST_DB_COUNT:
	case ST_CRC:
		return 4;
	case ST_DB_HEAD:
		return 12;
	case ST_SLOTS: {
		if (!r->v5)
			return KV_SLOTS_BYTES;
		if (n < KV_SLOTS_BYTES + 4)
			return KV_SLOTS_BYTES + 4;
		uint32_t placed = bytes_get_u32(p + KV_SLOTS_BYTES);
		return placed > KV_SHARDS_MAX
			       ? UINT64_MAX
			       : KV_SLOTS_BYTES + 4 + (uint64_t)placed * KV_PLACED_BYTES;
	}
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

/* The stage after a database's keys, or after a count of databases. */
static int next_db_stage(const struct kv_restore *r)
{
	return r->dbs_left ? ST_DB_HEAD : ST_SESSION_COUNT;
}

static bool take_key(struct kv_restore *r, const uint8_t *p)
{
	uint32_t klen = bytes_get_u32(p);
	uint64_t vlen = bytes_get_u64(p + 4 + klen);
	int64_t expire = (int64_t)bytes_get_u64(p + 4 + klen + 8 + vlen);
	struct kv_dict *d = &r->kv.db[r->db];
	if (expire < 0 || kv_dict_find(d, p + 4, klen))
		return false; /* a negative expiry, or a key twice */
	struct kv_entry *e = kv_dict_add(d, p + 4, klen);
	kv_entry_set(e, p + 4 + klen + 8, vlen);
	kv_dict_expire(d, e, expire);
	if (!--r->left)
		r->stage = next_db_stage(r);
	return true;
}

/* A database's header: its index, after the one before, and its count of
 * keys (a database with none is not written). */
static bool take_db_head(struct kv_restore *r, const uint8_t *p)
{
	uint32_t db = bytes_get_u32(p);
	r->left = bytes_get_u64(p + 4);
	if (db >= KV_DBS_MAX || (r->any_db && db <= r->db) || !r->left)
		return false;
	kv_reserve_dbs(&r->kv, db + 1);
	r->db = db;
	r->any_db = true;
	r->dbs_left--;
	r->stage = ST_KEYS;
	return true;
}

/* Takes one whole record of size n; false if it is malformed. */
static bool take(struct kv_restore *r, const uint8_t *p, uint64_t n)
{
	if (r->stage != ST_CRC)
		r->crc = crc32c(r->crc, p, n);
	switch (r->stage) {
	case ST_MAGIC:
		if (!memcmp(p, magic_v2, sizeof magic_v2))
			r->stage = ST_V2_COUNT;
		else if (!memcmp(p, magic, sizeof magic))
			r->stage = ST_DB_COUNT;
		else if (!memcmp(p, magic_v4, sizeof magic_v4) ||
			 !memcmp(p, magic_v5, sizeof magic_v5))
			r->stage = ST_DB_COUNT;
		else
			return false;
		r->v5 = !memcmp(p, magic_v5, sizeof magic_v5);
		r->v4 = r->v5 || !memcmp(p, magic_v4, sizeof magic_v4);
		return true;
	case ST_V2_COUNT:
		r->left = bytes_get_u64(p);
		r->db = 0;
		r->stage = r->left ? ST_KEYS : ST_SESSION_COUNT;
		return true;
	case ST_DB_COUNT:
		r->dbs_left = bytes_get_u32(p);
		r->stage = next_db_stage(r);
		return r->dbs_left <= KV_DBS_MAX;
	case ST_DB_HEAD:
		return take_db_head(r, p);
	case ST_KEYS:
		return take_key(r, p);
	case ST_SESSION_COUNT:
		r->left = bytes_get_u64(p);
		r->stage = r->left ? ST_SESSIONS : r->v4 ? ST_SLOTS : ST_CRC;
		return true;
	case ST_SESSIONS: {
		uint64_t vlen = bytes_get_u64(p + 8);
		if (vlen < 8 || kv_dict_find(&r->kv.sessions, p, 8))
			return false;
		struct kv_entry *e = kv_dict_add(&r->kv.sessions, p, 8);
		kv_entry_set(e, p + 16, vlen);
		if (!kv_session_adopt(&r->kv, e))
			return false;
		if (!--r->left)
			r->stage = r->v4 ? ST_SLOTS : ST_CRC;
		return true;
	}
	case ST_SLOTS:
		r->kv.slots = keel_calloc(1, sizeof *r->kv.slots);
		r->stage = ST_CRC;
		return kv_slots_read(r->kv.slots, p, (size_t)n, r->v5);
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
	/* the databases the keyspace had stay (empty): a count it was
	 * started with, or that an entry brought */
	kv_reserve_dbs(&r->kv, kv->n_db);
	kv_session_relink(&r->kv);
	uint64_t rand_state = kv->rand_state;
	bool hold = kv->hold;
	uint32_t shard_n = kv->shard_n, shard_i = kv->shard_i;
	bool meta = kv->shard_meta;
	kv_free(kv);
	*kv = r->kv;
	kv->rand_state = rand_state;
	kv_shard_set(kv, shard_n, shard_i, meta);
	kv_hold(kv, hold);
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
		for (uint32_t i = 0; i < kv->n_db; i++)
			kv_dict_free(&kv->db[i]);
		kv_dict_free(&kv->sessions);
		kv->sess_head = kv->sess_tail = kv->sess_bytes = 0;
		kv->sess_tail_used = 0;
		kv_slots_free(kv->slots);
		kv->slots = NULL;
	}
	return rc;
}
