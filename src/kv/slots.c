/* kv/slots.c — shards and their slots, as replicated state (kv/kv.h).
 *
 * A shard's keyspace holds its hold on each of the 16384 slots: OWNED (it
 * serves the slot), FROZEN (it serves reads only: the slot is being
 * copied to another shard) or GONE (not its slot). The metadata group's
 * keyspace holds the slot map: each slot's shard, the map's version, and
 * the one migration under way. Both start from the fixed split of
 * kv_shard_set (shard i of n serves range i) and change only by
 * KEEL.SLOTS, a command nodes propose and clients cannot send:
 *
 *   shard:    FREEZE first last epoch   OWNED/FROZEN -> FROZEN ("+FROZEN"),
 *                                       or "+GONE" if released already
 *             IMPORT first last epoch seq [db key expiry value]...
 *                                       batch seq of a copy into GONE
 *                                       slots (seq 1: their keys cleared
 *                                       first; then each one more)
 *             SESSIONS first last epoch seq [id value]...
 *                                       a batch of the copy too: the
 *                                       source's exactly-once sessions,
 *                                       merged into this shard's
 *                                       (kv_session_merge)
 *             RELEASE first last epoch  FROZEN/GONE -> GONE, keys deleted
 *             ACCEPT first last epoch   GONE/OWNED -> OWNED
 *   metadata: BEGIN first last to       a migration of one shard's slots
 *             FLIP version [upto]       the migration done: the slots are
 *                                       to's, the version one more; with
 *                                       upto, slots first..upto only (a
 *                                       piece), the rest still moving
 *             ADD [id...]               one more shard (":n", its number),
 *                                       serving no slot yet; placed on the
 *                                       nodes of those ids (1 to
 *                                       KV_SHARD_MEMBERS_MAX of them,
 *                                       distinct), or on every node
 *             PLACE shard id...         a shard's nodes from now on (as
 *                                       ADD's list; a shard on every node
 *                                       but shard 0 is placed so too)
 *
 * What it guarantees: each command checks everything before it changes
 * anything (an error changes nothing), so every replica takes or refuses
 * it alike. Each shard keeps the newest epoch it was moved at (FREEZE,
 * IMPORT seq 1, ACCEPT): it takes none of them older, RELEASE only at
 * that epoch (the freeze that made the copy), and IMPORT batches of that
 * epoch only in order: a driver that was replaced (an older epoch), or a
 * request of its that arrives late, can no longer delete a source's keys,
 * clear or overwrite a newer copy, or give a shard slots it let go of. A slot is OWNED in
 * at most one shard as long as ACCEPT follows the source's RELEASE
 * (server/migrate.c's order), and FLIP changes the map only for the
 * migration its version names. */
#include <string.h>

#include "base/assert.h"
#include "base/bytes.h"
#include "base/mem.h"
#include "kv/cmds.h"
#include "resp/encode.h"

uint16_t kv_slot_range_last(uint32_t i, uint32_t n)
{
	if (i + 1 >= n)
		return KV_SLOTS - 1;
	uint64_t a = (uint64_t)(i + 1) * KV_SLOTS - n; /* rounded: (2a + n) / 2n */
	return (uint16_t)((2 * a + n) / (2 * (uint64_t)n));
}

void kv_shard_set(struct kv *kv, uint32_t n, uint32_t i, bool meta)
{
	kv->shard_n = n;
	kv->shard_i = i;
	kv->shard_meta = meta;
}

const struct kv_shard_members *kv_shard_placed(const struct kv_slots *sl, uint32_t shard)
{
	for (uint32_t i = 0; sl && i < sl->n_placed; i++)
		if (sl->placed[i].shard == shard)
			return &sl->placed[i];
	return NULL;
}

void kv_slots_free(struct kv_slots *sl)
{
	if (sl)
		keel_free(sl->placed);
	keel_free(sl);
}

struct kv_slots *kv_slots_of(struct kv *kv)
{
	if (kv->slots || kv->shard_n < 2)
		return kv->slots;
	struct kv_slots *sl = keel_calloc(1, sizeof *sl);
	uint32_t k = 0, last = kv_slot_range_last(0, kv->shard_n); /* range k's last slot */
	for (uint32_t s = 0; s < KV_SLOTS; s++) {
		while (s > last)
			last = kv_slot_range_last(++k, kv->shard_n);
		sl->owner[s] = (uint16_t)k;
		sl->state[s] = !kv->shard_meta && k == kv->shard_i ? KV_SLOT_OWNED : KV_SLOT_GONE;
	}
	sl->version = 1;
	sl->n_shards = kv->shard_n;
	kv->slots = sl;
	return sl;
}

/* OWNED if a command (a read: read) may run on slot here, else the state
 * that refuses it. */
static int slot_allows(const struct kv_slots *sl, uint16_t slot, bool read)
{
	int st = sl->state[slot];
	return st == KV_SLOT_GONE || (st == KV_SLOT_FROZEN && !read) ? st : KV_SLOT_OWNED;
}

int kv_slots_check(struct kv *kv, const struct resp_arg *argv, uint32_t argc, uint16_t *slot)
{
	struct kv_slots *sl = kv->shard_meta ? NULL : kv_slots_of(kv);
	const struct kv_cmd *cmd = sl ? kv_lookup(argv[0].p, argv[0].len) : NULL;
	if (cmd && cmd->n_subs)
		cmd = argc > 1 ? kv_lookup_sub(cmd, argv[1].p, argv[1].len) : NULL;
	if (!cmd || (cmd->flags & KV_INTERNAL))
		return KV_SLOT_OWNED;
	uint32_t few[16], *pos = argc <= 16 ? few : keel_malloc(argc * sizeof *pos);
	int n = kv_command_keys(cmd, argv, argc, pos, NULL, argc), rc = KV_SLOT_OWNED;
	for (int i = 0; i < n && rc == KV_SLOT_OWNED; i++) {
		*slot = kv_slot(argv[pos[i]].p, argv[pos[i]].len);
		rc = slot_allows(sl, *slot, cmd->flags & KV_READ);
	}
	if (pos != few)
		keel_free(pos);
	return rc;
}

int kv_slots_check_slot(struct kv *kv, uint16_t slot, bool read)
{
	KEEL_ASSERT(slot < KV_SLOTS);
	struct kv_slots *sl = kv->shard_meta ? NULL : kv_slots_of(kv);
	return sl ? slot_allows(sl, slot, read) : KV_SLOT_OWNED;
}

/* ---- export: a slot range's keys as IMPORT records ------------------------- */

struct exporter {
	uint16_t first, last;
	uint32_t db;
	int64_t now;
	struct rbuf *args;
	uint32_t n;
};

static void put_arg(struct rbuf *b, const void *p, size_t n)
{
	rbuf_put_u32(b, (uint32_t)n);
	rbuf_put(b, p, n);
}

static void put_num(struct rbuf *b, uint64_t v)
{
	char t[24];
	int len = 0;
	do
		t[sizeof t - 1 - len++] = (char)('0' + v % 10);
	while ((v /= 10));
	put_arg(b, t + sizeof t - len, (size_t)len);
}

static void export_entry(void *ctx, struct kv_entry *e)
{
	struct exporter *x = ctx;
	uint16_t s = kv_slot(e->key, e->klen);
	if (s < x->first || s > x->last || (e->expire && e->expire <= x->now))
		return;
	put_num(x->args, x->db);
	put_arg(x->args, e->key, e->klen);
	put_num(x->args, (uint64_t)e->expire);
	put_arg(x->args, e->val, e->vlen);
	x->n++;
}

/* The whole range from its slots' lists, if its records fit in max_bytes
 * (args as it was if not): a few keys of a large table in one call, not
 * in a scan of many. */
static bool export_listed(struct kv *kv, struct exporter *x, size_t max_bytes)
{
	size_t start = x->args->len;
	for (x->db = 0; x->db < kv->n_db; x->db++)
		for (uint32_t s = x->first; s <= x->last; s++)
			for (struct kv_entry *e = kv_dict_slot_first(&kv->db[x->db], (uint16_t)s);
			     e; e = e->snext) {
				export_entry(x, e);
				if (x->args->len - start > max_bytes) {
					x->args->len = start;
					x->n = 0;
					return false;
				}
			}
	return true;
}

uint64_t kv_slots_export(struct kv *kv, uint16_t first, uint16_t last, int64_t now_ms, uint32_t *db,
			 uint64_t cursor, size_t max_bytes, struct rbuf *args, uint32_t *n_records)
{
	struct exporter x = {first, last, 0, now_ms, args, 0};
	if (*db == 0 && cursor == 0 && export_listed(kv, &x, max_bytes)) {
		*db = kv->n_db;
		*n_records += x.n;
		return 0;
	}
	size_t start = args->len;
	uint32_t steps = 0; /* a range with few keys: not the whole table at once */
	while (*db < kv->n_db && args->len - start < max_bytes && steps++ < KV_EXPORT_STEPS) {
		x.db = *db;
		cursor = kv_dict_scan(&kv->db[*db], cursor, export_entry, &x);
		if (!cursor)
			++*db;
	}
	*n_records += x.n;
	return cursor;
}

struct sess_exporter {
	struct rbuf *args;
	uint32_t n;
};

static void export_session(void *ctx, struct kv_entry *e)
{
	struct sess_exporter *x = ctx;
	if (e->klen != 8)
		return;
	put_num(x->args, bytes_get_u64(e->key));
	put_arg(x->args, e->val, e->vlen);
	x->n++;
}

uint64_t kv_sessions_export(struct kv *kv, uint64_t cursor, size_t max_bytes, struct rbuf *args,
			    uint32_t *n_records, bool *done)
{
	struct sess_exporter x = {args, 0};
	size_t start = args->len;
	uint32_t steps = 0;
	*done = false;
	do
		cursor = kv_dict_scan(&kv->sessions, cursor, export_session, &x);
	while (cursor && args->len - start < max_bytes && ++steps < KV_EXPORT_STEPS);
	*done = !cursor;
	*n_records += x.n;
	return cursor;
}

uint64_t kv_slot_keys(struct kv *kv, uint32_t db, uint16_t slot, int64_t now_ms, struct rbuf *keys,
		      uint64_t max)
{
	uint64_t n = 0;
	if (db >= kv->n_db)
		return 0;
	for (const struct kv_entry *e = kv_dict_slot_first(&kv->db[db], slot);
	     e && !(keys && n >= max); e = e->snext) {
		if (e->expire && e->expire <= now_ms)
			continue;
		n++;
		if (keys)
			resp_bulk(keys, e->key, e->klen);
	}
	return n;
}

/* A shard's hold on its slots; NULL for a keyspace of one shard
 * (kv_slots_of), and for the metadata group's. */
static struct kv_slots *shard_slots(struct kv *kv)
{
	return kv->shard_meta ? NULL : kv_slots_of(kv);
}

uint64_t kv_slots_unserved_keys(struct kv *kv, uint32_t db)
{
	const struct kv_slots *sl = shard_slots(kv);
	uint64_t n = 0;
	for (uint32_t s = 0; sl && db < kv->n_db && s < KV_SLOTS; s++)
		if (sl->state[s] == KV_SLOT_GONE)
			for (const struct kv_entry *e =
				     kv_dict_slot_first(&kv->db[db], (uint16_t)s);
			     e; e = e->snext)
				n++;
	return n;
}

bool kv_slots_moving(struct kv *kv)
{
	const struct kv_slots *sl = shard_slots(kv);
	if (!sl || memchr(sl->state, KV_SLOT_FROZEN, KV_SLOTS))
		return sl != NULL;
	for (uint32_t db = 0; db < kv->n_db; db++) {
		if (!kv_dict_size(&kv->db[db])) /* an empty database holds none */
			continue;
		for (uint32_t s = 0; s < KV_SLOTS; s++)
			if (sl->state[s] == KV_SLOT_GONE &&
			    kv_dict_slot_first(&kv->db[db], (uint16_t)s))
				return true;
	}
	return false;
}

uint64_t kv_slots_oversized(struct kv *kv, uint16_t first, uint16_t last, uint64_t limit)
{
	for (uint32_t db = 0; db < kv->n_db; db++)
		for (uint32_t s = first; s <= last; s++)
			for (const struct kv_entry *e =
				     kv_dict_slot_first(&kv->db[db], (uint16_t)s);
			     e; e = e->snext)
				if (e->klen + e->vlen > limit)
					return e->klen + e->vlen;
	return 0;
}

uint16_t kv_slots_run(const struct kv_slots *sl, uint16_t first, uint16_t last)
{
	uint16_t p = first;
	while (p < last && sl->state[p + 1] == sl->state[first])
		p++;
	return p;
}

uint16_t kv_slots_piece(struct kv *kv, uint16_t first, uint16_t last, uint64_t budget)
{
	uint64_t bytes = 0;
	for (uint32_t s = first; s <= last; s++) {
		for (uint32_t db = 0; db < kv->n_db; db++)
			for (const struct kv_entry *e =
				     kv_dict_slot_first(&kv->db[db], (uint16_t)s);
			     e; e = e->snext) {
				bytes += e->klen + e->vlen + KV_PIECE_RECORD;
				if (bytes > budget) /* the slot overflows: the one before ends it */
					return (uint16_t)(s > first ? s - 1 : first);
			}
	}
	return last;
}

/* ---- the commands -------------------------------------------------------- */

static bool arg_u64(const struct resp_arg *a, uint64_t max, uint64_t *v)
{
	int64_t x;
	if (!resp_str2ll(a->p, a->len, &x) || x < 0 || (uint64_t)x > max)
		return false;
	*v = (uint64_t)x;
	return true;
}

static bool is(const struct resp_arg *a, const char *s)
{
	size_t n = strlen(s);
	if (a->len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((a->p[i] | 0x20) != s[i])
			return false;
	return true;
}

/* Deletes every key of slots first..last, in every database: by the
 * slots' lists, in time of the keys deleted (not the keyspace's size: a
 * RELEASE, or a first IMPORT batch, applies on every replica of a shard
 * that may hold millions of keys of other slots). */
static void drop_range(struct kv *kv, uint16_t first, uint16_t last)
{
	for (uint32_t i = 0; i < kv->n_db; i++)
		for (uint32_t s = first; s <= last; s++)
			for (struct kv_entry *e;
			     (e = kv_dict_slot_first(&kv->db[i], (uint16_t)s));) {
				bool listed = kv_dict_delete(&kv->db[i], e->key, e->klen);
				KEEL_ASSERT(listed); /* a listed key is in the table */
			}
}

/* Slots first..last: how many are in each state. */
static void census(const struct kv_slots *sl, uint16_t first, uint16_t last, uint32_t n[3])
{
	n[0] = n[1] = n[2] = 0;
	for (uint32_t s = first; s <= last; s++)
		n[sl->state[s]]++;
}

/* FREEZE: no older epoch; all GONE answers +GONE (released already). */
static void shard_freeze(struct kv_ctx *c, struct kv_slots *sl, uint16_t first, uint16_t last,
			 uint64_t epoch)
{
	uint32_t n[3], all = (uint32_t)(last - first + 1);
	census(sl, first, last, n);
	if (c->argc != 5) {
		resp_error(c->out, ERR_SYNTAX);
	} else if (epoch < sl->epoch) {
		resp_error(c->out, "ERR stale migration epoch");
	} else if (n[KV_SLOT_GONE] == all) {
		resp_simple(c->out, "GONE");
	} else if (n[KV_SLOT_GONE]) {
		resp_error(c->out, "ERR slots of the range are not all this shard's");
	} else {
		memset(&sl->state[first], KV_SLOT_FROZEN, all);
		sl->epoch = epoch;
		sl->import_seq = 0;
		resp_simple(c->out, "FROZEN");
	}
}

/* The records of IMPORT (argv from 6), checked before any is taken. */
static bool import_ok(struct kv_ctx *c, uint16_t first, uint16_t last)
{
	if ((c->argc - 6) % 4)
		return false;
	for (uint32_t k = 6; k < c->argc; k += 4) {
		uint64_t db, exp;
		uint16_t s = kv_slot(c->argv[k + 1].p, c->argv[k + 1].len);
		if (!arg_u64(&c->argv[k], KV_DBS_MAX - 1, &db) ||
		    !arg_u64(&c->argv[k + 2], INT64_MAX, &exp) || s < first || s > last ||
		    c->argv[k + 3].len > (size_t)KV_STRING_MAX)
			return false;
	}
	return true;
}

/* IMPORT's batch seq at epoch: 1 begins a copy (a newer epoch, or this
 * epoch before any batch), one past the last continues it, one already
 * taken is a copy sent twice (taken again it could undo a later batch's
 * work, so it is answered +OK and not run). */
static int import_order(const struct kv_slots *sl, uint64_t epoch, uint64_t seq)
{
	if (epoch < sl->epoch || !seq)
		return -1;
	if (seq == 1 && (epoch > sl->epoch || !sl->import_seq))
		return 1; /* begin */
	if (epoch == sl->epoch && seq <= sl->import_seq)
		return 0; /* sent twice */
	return epoch == sl->epoch && seq == sl->import_seq + 1 ? 2 : -1;
}

/* The records of SESSIONS (argv from 6: session id, value), checked. */
static bool sessions_ok(struct kv_ctx *c)
{
	if ((c->argc - 6) % 2)
		return false;
	for (uint32_t k = 6; k < c->argc; k += 2) {
		uint64_t id;
		if (!arg_u64(&c->argv[k], UINT64_MAX >> 1, &id) || !id ||
		    !kv_session_value_ok(c->argv[k + 1].p, c->argv[k + 1].len))
			return false;
	}
	return true;
}

static void shard_import(struct kv_ctx *c, struct kv_slots *sl, uint16_t first, uint16_t last,
			 uint64_t epoch, bool sessions)
{
	uint64_t seq;
	uint32_t n[3];
	census(sl, first, last, n);
	if (c->argc < 6 || !arg_u64(&c->argv[5], UINT64_MAX >> 1, &seq) ||
	    !(sessions ? sessions_ok(c) : import_ok(c, first, last))) {
		resp_error(c->out, "ERR malformed import records");
		return;
	}
	if (n[KV_SLOT_GONE] != (uint32_t)(last - first + 1)) {
		resp_error(c->out, "ERR a slot of the range is served by this shard");
		return;
	}
	int order = import_order(sl, epoch, seq);
	if (order <= 0) {
		if (order)
			resp_error(c->out, "ERR stale migration epoch or batch out of order");
		else
			resp_simple(c->out, "OK");
		return;
	}
	if (order == 1) {
		sl->epoch = epoch;
		drop_range(c->kv, first, last);
	}
	sl->import_seq = seq;
	for (uint32_t k = 6; sessions && k < c->argc; k += 2) {
		uint64_t id = 0;
		arg_u64(&c->argv[k], UINT64_MAX >> 1, &id);
		kv_session_merge(c->kv, id, c->argv[k + 1].p, c->argv[k + 1].len, c->now_ms);
	}
	for (uint32_t k = 6; !sessions && k < c->argc; k += 4) {
		uint64_t db = 0, exp = 0;
		arg_u64(&c->argv[k], KV_DBS_MAX - 1, &db);
		arg_u64(&c->argv[k + 2], INT64_MAX, &exp);
		kv_reserve_dbs(c->kv, (uint32_t)db + 1);
		struct kv_dict *d = &c->kv->db[db];
		struct kv_entry *e = kv_dict_find(d, c->argv[k + 1].p, c->argv[k + 1].len);
		if (!e)
			e = kv_dict_add(d, c->argv[k + 1].p, c->argv[k + 1].len);
		kv_entry_set(e, c->argv[k + 3].p, c->argv[k + 3].len);
		kv_dict_expire(d, e, (int64_t)exp);
	}
	resp_simple(c->out, "OK");
}

/* RELEASE: only at the epoch of the freeze that made the copy. */
static void shard_release(struct kv_ctx *c, struct kv_slots *sl, uint16_t first, uint16_t last,
			  uint64_t epoch)
{
	uint32_t n[3];
	census(sl, first, last, n);
	if (c->argc != 5)
		resp_error(c->out, ERR_SYNTAX);
	else if (n[KV_SLOT_OWNED])
		resp_error(c->out, "ERR a slot of the range is not frozen");
	else if (epoch != sl->epoch)
		resp_error(c->out, "ERR stale migration epoch");
	else {
		memset(&sl->state[first], KV_SLOT_GONE, (size_t)(last - first + 1));
		drop_range(c->kv, first, last);
		resp_simple(c->out, "OK");
	}
}

/* ACCEPT: no older epoch (a delayed one, after this shard froze or
 * imported for a later migration, is refused). */
static void shard_accept(struct kv_ctx *c, struct kv_slots *sl, uint16_t first, uint16_t last,
			 uint64_t epoch)
{
	uint32_t n[3];
	census(sl, first, last, n);
	if (c->argc != 5)
		resp_error(c->out, ERR_SYNTAX);
	else if (epoch < sl->epoch)
		resp_error(c->out, "ERR stale migration epoch");
	else if (n[KV_SLOT_FROZEN])
		resp_error(c->out, "ERR a slot of the range is frozen here");
	else {
		memset(&sl->state[first], KV_SLOT_OWNED, (size_t)(last - first + 1));
		sl->epoch = epoch;
		sl->import_seq = 0;
		resp_simple(c->out, "OK");
	}
}

static void map_begin(struct kv_ctx *c, struct kv_slots *sl, uint16_t first, uint16_t last)
{
	uint64_t to;
	if (c->argc != 5 || !arg_u64(&c->argv[4], sl->n_shards - 1, &to)) {
		resp_error(c->out, "ERR no such shard");
		return;
	}
	if (sl->moving) {
		resp_errorf(c->out, "ERR a migration is under way: slots %u-%u to shard %u",
			    sl->first, sl->last, sl->to);
		return;
	}
	for (uint32_t s = first; s <= last; s++)
		if (sl->owner[s] != sl->owner[first]) {
			resp_error(c->out, "ERR the slots are served by several shards: move "
					   "each shard's part on its own");
			return;
		}
	if (sl->owner[first] == to) {
		resp_error(c->out, "ERR the slots are that shard's already");
		return;
	}
	sl->moving = true;
	sl->first = first;
	sl->last = last;
	sl->from = sl->owner[first];
	sl->to = (uint32_t)to;
	resp_simple(c->out, "OK");
}

/* FLIP version [upto]: the migration's slots first..upto (all of them
 * without upto) are to's; the rest stay moving, from upto + 1. */
static void map_flip(struct kv_ctx *c, struct kv_slots *sl)
{
	uint64_t v, upto = sl->last;
	if (c->argc < 3 || c->argc > 4 || !arg_u64(&c->argv[2], UINT64_MAX >> 1, &v) ||
	    !sl->moving || v != sl->version ||
	    (c->argc == 4 && (!arg_u64(&c->argv[3], sl->last, &upto) || upto < sl->first))) {
		resp_error(c->out, "ERR no such migration");
		return;
	}
	for (uint32_t s = sl->first; s <= upto; s++)
		sl->owner[s] = (uint16_t)sl->to;
	sl->version++;
	sl->moving = upto < sl->last;
	sl->first = (uint16_t)(sl->moving ? upto + 1 : sl->first);
	resp_simple(c->out, "OK");
}

/* The node ids of c->argv[from..] into *m (its shard set by the caller):
 * at most KV_SHARD_MEMBERS_MAX, each a positive integer, none twice. */
static bool read_members(struct kv_ctx *c, uint32_t from, struct kv_shard_members *m)
{
	m->n = c->argc - from;
	if (c->argc > from + KV_SHARD_MEMBERS_MAX) {
		resp_errorf(c->out, "ERR a shard is placed on at most %u nodes",
			    KV_SHARD_MEMBERS_MAX);
		return false;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		if (!arg_u64(&c->argv[from + i], UINT64_MAX, &m->ids[i]) || !m->ids[i]) {
			resp_error(c->out, "ERR invalid node id");
			return false;
		}
		for (uint32_t k = 0; k < i; k++)
			if (m->ids[k] == m->ids[i]) {
				resp_error(c->out, "ERR a node is listed twice");
				return false;
			}
	}
	return true;
}

/* ADD [id...]: one more shard, serving no slot until a move gives it
 * some, on the nodes listed (else every node); the reply is its number. */
static void map_add(struct kv_ctx *c, struct kv_slots *sl)
{
	struct kv_shard_members m = {.shard = sl->n_shards};
	if (!read_members(c, 2, &m))
		return;
	if (sl->n_shards >= KV_SHARDS_MAX) {
		resp_errorf(c->out, "ERR a cluster holds at most %u shards", KV_SHARDS_MAX);
		return;
	}
	if (m.n) {
		sl->placed = keel_realloc(sl->placed, (sl->n_placed + 1) * sizeof *sl->placed);
		sl->placed[sl->n_placed++] = m;
	}
	resp_int(c->out, sl->n_shards++);
}

/* PLACE shard id...: the nodes a shard is on from now on. A shard on
 * every node joins the placed list (kept in shard order); shard 0 stays
 * on every node (the node's first group: its configuration is the
 * cluster's list of nodes). */
static void map_place(struct kv_ctx *c, struct kv_slots *sl)
{
	uint64_t shard;
	struct kv_shard_members m = {0};
	if (c->argc < 4 || !arg_u64(&c->argv[2], UINT32_MAX, &shard)) {
		resp_error(c->out, "ERR wrong number of arguments or invalid shard");
		return;
	}
	m.shard = (uint32_t)shard;
	if (!read_members(c, 3, &m))
		return;
	if (!shard || shard >= sl->n_shards) {
		resp_errorf(c->out,
			    "ERR shard %llu cannot be placed (no such shard, or shard 0, which "
			    "stays on every node)",
			    (unsigned long long)shard);
		return;
	}
	uint32_t at = 0;
	while (at < sl->n_placed && sl->placed[at].shard < m.shard)
		at++;
	if (at == sl->n_placed || sl->placed[at].shard != m.shard) { /* on every node until now */
		sl->placed = keel_realloc(sl->placed, (sl->n_placed + 1) * sizeof *sl->placed);
		memmove(&sl->placed[at + 1], &sl->placed[at],
			(sl->n_placed - at) * sizeof *sl->placed);
		sl->n_placed++;
	}
	sl->placed[at] = m;
	resp_simple(c->out, "OK");
}

/* KEEL.SLOTS op ...: the operations at the top of this file. */
void cmd_keel_slots(struct kv_ctx *c)
{
	struct kv_slots *sl = kv_slots_of(c->kv);
	if (!sl) {
		resp_error(c->out, "ERR this node has one shard");
		return;
	}
	if (c->kv->shard_meta && is(&c->argv[1], "flip")) {
		map_flip(c, sl);
		return;
	}
	if (c->kv->shard_meta && is(&c->argv[1], "add")) {
		map_add(c, sl);
		return;
	}
	if (c->kv->shard_meta && is(&c->argv[1], "place")) {
		map_place(c, sl);
		return;
	}
	uint64_t first, last, epoch = 0;
	if (c->argc < 4 || !arg_u64(&c->argv[2], KV_SLOTS - 1, &first) ||
	    !arg_u64(&c->argv[3], KV_SLOTS - 1, &last) || first > last) {
		resp_error(c->out, "ERR invalid slot range");
		return;
	}
	uint16_t f = (uint16_t)first, l = (uint16_t)last;
	if (c->kv->shard_meta) {
		if (is(&c->argv[1], "begin"))
			map_begin(c, sl, f, l);
		else
			resp_error(c->out, "ERR unknown operation");
		return;
	}
	if (c->argc < 5 || !arg_u64(&c->argv[4], UINT64_MAX >> 1, &epoch)) {
		resp_error(c->out, "ERR invalid migration epoch");
	} else if (is(&c->argv[1], "freeze")) {
		shard_freeze(c, sl, f, l, epoch);
	} else if (is(&c->argv[1], "import") || is(&c->argv[1], "sessions")) {
		shard_import(c, sl, f, l, epoch, is(&c->argv[1], "sessions"));
	} else if (is(&c->argv[1], "release")) {
		shard_release(c, sl, f, l, epoch);
	} else if (is(&c->argv[1], "accept")) {
		shard_accept(c, sl, f, l, epoch);
	} else {
		resp_error(c->out, "ERR unknown operation");
	}
}

/* ---- snapshots ------------------------------------------------------------ */

void kv_slots_write(const struct kv_slots *sl, bool with_placed, struct rbuf *out)
{
	rbuf_put(out, sl->state, KV_SLOTS);
	rbuf_put_u64(out, sl->epoch);
	rbuf_put_u64(out, sl->import_seq);
	uint8_t *o = rbuf_reserve(out, 2 * KV_SLOTS); /* little-endian, as the array */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(o, sl->owner, 2 * KV_SLOTS);
#else
	for (uint32_t s = 0; s < KV_SLOTS; s++) {
		o[2 * s] = (uint8_t)sl->owner[s];
		o[2 * s + 1] = (uint8_t)(sl->owner[s] >> 8);
	}
#endif
	out->len += 2 * KV_SLOTS;
	rbuf_put_u64(out, sl->version);
	rbuf_put_u32(out, sl->n_shards);
	rbuf_put(out, (uint8_t[1]){sl->moving}, 1);
	rbuf_put(out,
		 (uint8_t[4]){(uint8_t)sl->first, (uint8_t)(sl->first >> 8), (uint8_t)sl->last,
			      (uint8_t)(sl->last >> 8)},
		 4);
	rbuf_put_u32(out, sl->from);
	rbuf_put_u32(out, sl->to);
	if (!with_placed)
		return;
	rbuf_put_u32(out, sl->n_placed);
	for (uint32_t i = 0; i < sl->n_placed; i++) {
		const struct kv_shard_members *m = &sl->placed[i];
		rbuf_put_u32(out, m->shard);
		rbuf_put(out, (uint8_t[1]){(uint8_t)m->n}, 1);
		for (uint32_t k = 0; k < KV_SHARD_MEMBERS_MAX; k++)
			rbuf_put_u64(out, k < m->n ? m->ids[k] : 0);
	}
}

/* The placed shards after the slots (n bytes from p): shards in
 * increasing order below n_shards, each of 1 .. KV_SHARD_MEMBERS_MAX
 * distinct nonzero ids, the unused places zero. */
static bool read_placed(struct kv_slots *sl, const uint8_t *p, size_t n)
{
	if (n < 4)
		return false;
	uint32_t count = bytes_get_u32(p);
	if (count > sl->n_shards || n != 4 + (size_t)count * KV_PLACED_BYTES)
		return false;
	sl->placed = count ? keel_calloc(count, sizeof *sl->placed) : NULL;
	sl->n_placed = count;
	p += 4;
	for (uint32_t i = 0; i < count; i++, p += KV_PLACED_BYTES) {
		struct kv_shard_members *m = &sl->placed[i];
		m->shard = bytes_get_u32(p);
		m->n = p[4];
		if (m->shard >= sl->n_shards || (i && m->shard <= sl->placed[i - 1].shard) ||
		    !m->n || m->n > KV_SHARD_MEMBERS_MAX)
			return false;
		for (uint32_t k = 0; k < KV_SHARD_MEMBERS_MAX; k++) {
			uint64_t id = bytes_get_u64(p + 5 + 8 * k);
			if ((k < m->n) != (id != 0))
				return false;
			for (uint32_t j = 0; j < k && k < m->n; j++)
				if (m->ids[j] == id)
					return false;
			if (k < m->n)
				m->ids[k] = id;
		}
	}
	return true;
}

bool kv_slots_read(struct kv_slots *sl, const uint8_t *p, size_t n, bool with_placed)
{
	const uint8_t *start = p;
	memcpy(sl->state, p, KV_SLOTS);
	p += KV_SLOTS;
	sl->epoch = bytes_get_u64(p);
	sl->import_seq = bytes_get_u64(p + 8);
	p += 16;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(sl->owner, p, 2 * KV_SLOTS);
	p += 2 * KV_SLOTS;
#else
	for (uint32_t s = 0; s < KV_SLOTS; s++, p += 2)
		sl->owner[s] = (uint16_t)(p[0] | p[1] << 8);
#endif
	sl->version = bytes_get_u64(p);
	sl->n_shards = bytes_get_u32(p + 8);
	uint8_t moving = p[12];
	sl->moving = moving == 1;
	sl->first = (uint16_t)(p[13] | p[14] << 8);
	sl->last = (uint16_t)(p[15] | p[16] << 8);
	sl->from = bytes_get_u32(p + 17);
	sl->to = bytes_get_u32(p + 21);
	if (sl->n_shards < 2 || sl->n_shards > KV_SHARDS_MAX || moving > 1 || !sl->version ||
	    sl->epoch > UINT64_MAX >> 1 || sl->import_seq > UINT64_MAX >> 1 ||
	    sl->version > UINT64_MAX >> 1)
		return false;
	for (uint32_t s = 0; s < KV_SLOTS; s++)
		if (sl->state[s] > KV_SLOT_FROZEN || sl->owner[s] >= sl->n_shards)
			return false;
	if (sl->moving &&
	    (sl->first > sl->last || sl->last >= KV_SLOTS || sl->from >= sl->n_shards ||
	     sl->to >= sl->n_shards || sl->from == sl->to))
		return false;
	if (!with_placed)
		return n == KV_SLOTS_BYTES;
	return n >= KV_SLOTS_BYTES && read_placed(sl, start + KV_SLOTS_BYTES, n - KV_SLOTS_BYTES);
}
