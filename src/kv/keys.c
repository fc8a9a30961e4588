/* kv/keys.c — the keyspace and expiry commands, and the connection
 * commands that are pure functions of their arguments, as Redis 7.0's
 * db.c, expire.c and server.c answer them: DEL UNLINK EXISTS TYPE KEYS
 * SCAN DBSIZE RENAME RENAMENX RANDOMKEY FLUSHDB FLUSHALL MOVE SWAPDB,
 * EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT) TTL PTTL PERSIST, PING
 * ECHO SELECT. Each runs in its context's database (kv_ctx.db); database
 * indexes are checked against the context's count (kv_ctx.dbs). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "kv/cmds.h"
#include "resp/encode.h"

struct sample_ctx {
	int64_t now;
	uint32_t left;
	void (*fn)(void *, const struct kv_entry *);
	void *ctx;
};

static void sample_one(void *ctx, struct kv_entry *e)
{
	struct sample_ctx *sm = ctx;
	if (sm->left && e->expire && e->expire <= sm->now) {
		sm->fn(sm->ctx, e);
		sm->left--;
	}
}

void cmd_del(struct kv_ctx *c)
{
	int64_t n = 0;
	for (uint32_t i = 1; i < c->argc; i++)
		n += kv_remove(c, &c->argv[i]);
	resp_int(c->out, n);
}

void cmd_exists(struct kv_ctx *c)
{
	int64_t n = 0;
	for (uint32_t i = 1; i < c->argc; i++)
		n += kv_find(c, &c->argv[i], false) != NULL;
	resp_int(c->out, n);
}

void cmd_type(struct kv_ctx *c)
{
	resp_simple(c->out, kv_find(c, &c->argv[1], false) ? "string" : "none");
}

/* Keys gathered for a reply. */
struct keylist {
	struct kv_ctx *c;
	const struct resp_arg *pattern; /* NULL: all */
	bool type_ok;			/* SCAN TYPE matched strings (or no TYPE) */
	struct resp_arg *v;
	uint64_t n, cap;
};

/* Whether the keyspace serves e: every key on a keyspace of one shard; on
 * one of several, a key of a slot it serves (reads: owned or frozen),
 * not one a move copied into a slot it has not accepted yet. */
static bool served(struct kv_ctx *c, const struct kv_entry *e)
{
	return c->kv->shard_n <= 1 || c->kv->shard_meta ||
	       kv_slots_check_slot(c->kv, kv_slot(e->key, e->klen), true) == KV_SLOT_OWNED;
}

static void keylist_add(void *ctx, struct kv_entry *e)
{
	struct keylist *l = ctx;
	if (e->expire && e->expire <= l->c->now_ms)
		return;
	if (!served(l->c, e))
		return;
	if (!l->type_ok)
		return;
	if (l->pattern && !kv_glob(l->pattern->p, l->pattern->len, e->key, e->klen, false))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = keel_realloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = (struct resp_arg){e->key, e->klen};
}

static void keylist_reply(struct keylist *l)
{
	resp_array(l->c->out, l->n);
	for (uint64_t i = 0; i < l->n; i++)
		resp_bulk(l->c->out, l->v[i].p, l->v[i].len);
	keel_free(l->v);
}

void cmd_keys(struct kv_ctx *c)
{
	bool all = c->argv[1].len == 1 && c->argv[1].p[0] == '*';
	struct keylist l = {.c = c, .pattern = all ? NULL : &c->argv[1], .type_ok = true};
	kv_dict_each(kv_db(c), keylist_add, &l);
	keylist_reply(&l);
}

bool kv_scan_cursor(const uint8_t *p, size_t n, uint64_t *cur)
{
	char buf[32];
	if (n >= sizeof buf)
		return false;
	if (n) /* "" is 0 */
		memcpy(buf, p, n);
	buf[n] = 0;
	errno = 0;
	char *end;
	*cur = strtoull(buf, &end, 10);
	return !(buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r') || *end || errno == ERANGE);
}

void cmd_scan(struct kv_ctx *c)
{
	uint64_t cur;
	if (!kv_scan_cursor(c->argv[1].p, c->argv[1].len, &cur)) {
		resp_error(c->out, "ERR invalid cursor");
		return;
	}
	int64_t count = 10;
	struct keylist l = {.c = c, .type_ok = true};
	for (uint32_t i = 2; i < c->argc; i++) {
		bool next = i + 1 < c->argc;
		if (kv_arg_is(c, i, "count") && next) {
			if (!kv_arg_ll(c, i + 1, &count))
				return;
			if (count < 1) {
				resp_error(c->out, ERR_SYNTAX);
				return;
			}
			i++;
		} else if (kv_arg_is(c, i, "match") && next) {
			bool all = c->argv[i + 1].len == 1 && c->argv[i + 1].p[0] == '*';
			l.pattern = all ? NULL : &c->argv[i + 1];
			i++;
		} else if (kv_arg_is(c, i, "type") && next) {
			l.type_ok = kv_arg_is(c, i + 1, "string");
			i++;
		} else {
			resp_error(c->out, ERR_SYNTAX);
			return;
		}
	}
	/* buckets visited at most: ten per key asked for, as Redis (whose
	 * count * 10 may overflow; here it saturates: the whole table) */
	int64_t budget;
	if (!kv_mul_i64(count, 10, &budget))
		budget = INT64_MAX;
	do
		cur = kv_dict_scan(kv_db(c), cur, keylist_add, &l);
	while (cur && budget-- && l.n < (uint64_t)count);
	resp_array(c->out, 2);
	resp_bulk_int(c->out, (int64_t)cur);
	keylist_reply(&l);
}

void cmd_dbsize(struct kv_ctx *c)
{
	uint64_t n = kv_dict_size(kv_db(c));
	resp_int(c->out, (int64_t)(n - kv_slots_unserved_keys(c->kv, c->db)));
}

static void rename_generic(struct kv_ctx *c, bool nx)
{
	const struct resp_arg *from = &c->argv[1], *to = &c->argv[2];
	struct kv_entry *e = kv_find(c, from, true);
	if (!e) {
		resp_error(c->out, ERR_NO_KEY);
		return;
	}
	if (from->len == to->len && !memcmp(from->p, to->p, from->len)) {
		rbuf_puts(c->out, nx ? ":0\r\n" : "+OK\r\n");
		return;
	}
	if (nx && kv_find(c, to, true)) {
		resp_int(c->out, 0);
		return;
	}
	int64_t expire = e->expire;
	struct kv_entry *d = kv_store(c, to, e->val, e->vlen, false);
	kv_dict_expire(kv_db(c), d, expire);
	kv_remove(c, from);
	rbuf_puts(c->out, nx ? ":1\r\n" : "+OK\r\n");
}

void cmd_rename(struct kv_ctx *c)
{
	rename_generic(c, false);
}

void cmd_renamenx(struct kv_ctx *c)
{
	rename_generic(c, true);
}

void cmd_randomkey(struct kv_ctx *c)
{
	uint64_t n = kv_dict_size(kv_db(c));
	for (uint64_t tries = 0; tries < 100 + 2 * n; tries++) {
		uint64_t x = (c->kv->rand_state += 0x9E3779B97F4A7C15ull);
		x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
		struct kv_entry *e = kv_dict_random(kv_db(c), x ^ (x >> 27));
		if (!e)
			break;
		if ((!e->expire || e->expire > c->now_ms) && served(c, e)) {
			resp_bulk(c->out, e->key, e->klen);
			return;
		}
	}
	resp_null(c->out, c->proto);
}

#define ERR_FLUSH_MOVING "TRYAGAIN a move of this shard's slots is under way; not applied"

/* FLUSHDB and FLUSHALL take ASYNC or SYNC (Redis's getFlushCommandFlags);
 * both empty at once here. A shard of several in a move refuses them:
 * keys being copied out would live on in the shard they go to, and keys
 * copied in are not this shard's to delete yet. */
static bool flush_args_ok(struct kv_ctx *c)
{
	if (c->argc > 2 ||
	    (c->argc == 2 && !kv_arg_is(c, 1, "sync") && !kv_arg_is(c, 1, "async"))) {
		resp_error(c->out, ERR_SYNTAX);
		return false;
	}
	if (kv_slots_moving(c->kv)) {
		resp_error(c->out, ERR_FLUSH_MOVING);
		return false;
	}
	return true;
}

void cmd_flushdb(struct kv_ctx *c)
{
	if (!flush_args_ok(c))
		return;
	kv_dict_free(kv_db(c));
	resp_simple(c->out, "OK");
}

/* Every database the keyspace has: those beyond the count of this command
 * are empty on every replica (kv/kv.h), or hold the same keys on each. */
void cmd_flushall(struct kv_ctx *c)
{
	if (!flush_args_ok(c))
		return;
	for (uint32_t i = 0; i < c->kv->n_db; i++)
		kv_dict_free(&c->kv->db[i]);
	resp_simple(c->out, "OK");
}

enum { X_NX = 1, X_XX = 2, X_GT = 4, X_LT = 8 };

/* Redis's expireGenericCommand. */
static void expire_generic(struct kv_ctx *c, int64_t base, bool seconds, const char *name)
{
	int f = 0;
	for (uint32_t j = 3; j < c->argc; j++) {
		if (kv_arg_is(c, j, "nx"))
			f |= X_NX;
		else if (kv_arg_is(c, j, "xx"))
			f |= X_XX;
		else if (kv_arg_is(c, j, "gt"))
			f |= X_GT;
		else if (kv_arg_is(c, j, "lt"))
			f |= X_LT;
		else {
			resp_errorf(c->out, "ERR Unsupported option %.*s", (int)c->argv[j].len,
				    (const char *)c->argv[j].p);
			return;
		}
	}
	if ((f & X_NX) && (f & (X_XX | X_GT | X_LT))) {
		resp_error(c->out, "ERR NX and XX, GT or LT options at the same time are not "
				   "compatible");
		return;
	}
	if ((f & X_GT) && (f & X_LT)) {
		resp_error(c->out, "ERR GT and LT options at the same time are not compatible");
		return;
	}
	int64_t when;
	if (!kv_arg_ll(c, 2, &when))
		return;
	if (seconds && (when > INT64_MAX / 1000 || when < INT64_MIN / 1000)) {
		kv_reply_expire_time(c, name);
		return;
	}
	if (seconds)
		when *= 1000; /* within INT64_MIN .. INT64_MAX: checked above */
	if (!kv_add_i64(when, base, &when)) {
		kv_reply_expire_time(c, name);
		return;
	}
	struct kv_entry *e = kv_find(c, &c->argv[1], true);
	int64_t cur = e && e->expire ? e->expire : -1;
	if (!e || ((f & X_NX) && cur != -1) || ((f & X_XX) && cur == -1) ||
	    ((f & X_GT) && (when <= cur || cur == -1)) ||
	    ((f & X_LT) && cur != -1 && when >= cur)) {
		resp_int(c->out, 0);
		return;
	}
	if (when <= c->now_ms)
		kv_remove(c, &c->argv[1]);
	else
		kv_dict_expire(kv_db(c), e, when);
	resp_int(c->out, 1);
}

void cmd_expire(struct kv_ctx *c)
{
	expire_generic(c, c->now_ms, true, "expire");
}

void cmd_pexpire(struct kv_ctx *c)
{
	expire_generic(c, c->now_ms, false, "pexpire");
}

void cmd_expireat(struct kv_ctx *c)
{
	expire_generic(c, 0, true, "expireat");
}

void cmd_pexpireat(struct kv_ctx *c)
{
	expire_generic(c, 0, false, "pexpireat");
}

static void ttl_generic(struct kv_ctx *c, bool ms)
{
	struct kv_entry *e = kv_find(c, &c->argv[1], false);
	if (!e) {
		resp_int(c->out, -2);
		return;
	}
	if (!e->expire) {
		resp_int(c->out, -1);
		return;
	}
	int64_t ttl;
	if (!kv_sub_i64(e->expire, c->now_ms, &ttl))
		ttl = INT64_MAX; /* only with a time before 1970: the most there is */
	if (ttl < 0)
		ttl = 0;
	/* rounded to the nearest second, as Redis's (ttl + 500) / 1000, which
	 * would overflow for a ttl within 500 ms of INT64_MAX */
	resp_int(c->out, ms ? ttl : ttl / 1000 + (ttl % 1000 >= 500));
}

void cmd_ttl(struct kv_ctx *c)
{
	ttl_generic(c, false);
}

void cmd_pttl(struct kv_ctx *c)
{
	ttl_generic(c, true);
}

void cmd_persist(struct kv_ctx *c)
{
	struct kv_entry *e = kv_find(c, &c->argv[1], true);
	if (e && e->expire) {
		kv_dict_expire(kv_db(c), e, 0);
		resp_int(c->out, 1);
	} else {
		resp_int(c->out, 0);
	}
}

/* KEEL.EXPIRED key expiry [key expiry ...]: what the leader proposes to
 * remove keys whose time has passed. A key goes only if its expiry is
 * still the one named and has passed at the entry's time: a key written
 * again since the proposal stays. Replies with the number removed. */
void cmd_expired(struct kv_ctx *c)
{
	if (c->argc % 2 == 0) {
		kv_reply_arity(c->out, "keel.expired");
		return;
	}
	int64_t n = 0;
	for (uint32_t i = 1; i + 1 < c->argc; i += 2) {
		int64_t when;
		if (!resp_str2ll(c->argv[i + 1].p, c->argv[i + 1].len, &when))
			continue;
		struct kv_entry *e = kv_dict_find(kv_db(c), c->argv[i].p, c->argv[i].len);
		if (e && e->expire && e->expire == when && when <= c->now_ms) {
			kv_dict_delete(kv_db(c), c->argv[i].p, c->argv[i].len);
			n++;
		}
	}
	resp_int(c->out, n);
}

uint32_t kv_expired_sample(struct kv *kv, int64_t now_ms, uint32_t *db, uint64_t *cursor,
			   uint32_t max, void (*fn)(void *ctx, const struct kv_entry *e), void *ctx)
{
	if (*db >= kv->n_db)
		*db = *cursor = 0;
	/* the next database that holds a key with an expiry (from the
	 * cursor's, if it does); none: nothing to scan */
	for (uint32_t i = 0; i < kv->n_db && !kv->db[*db].expires; i++) {
		*db = (*db + 1) % kv->n_db;
		*cursor = 0;
	}
	uint32_t at = *db;
	if (!kv->db[at].expires)
		return at;
	struct sample_ctx sm = {now_ms, max, fn, ctx};
	uint32_t buckets = 0;
	do {
		*cursor = kv_dict_scan(&kv->db[at], *cursor, sample_one, &sm);
	} while (*cursor && sm.left && ++buckets < 4 * max);
	if (!*cursor) /* this database is done: the next one's turn */
		*db = (at + 1) % kv->n_db;
	return at;
}

void cmd_ping(struct kv_ctx *c)
{
	if (c->argc > 2)
		kv_reply_arity(c->out, "ping");
	else if (c->argc == 2)
		resp_bulk(c->out, c->argv[1].p, c->argv[1].len);
	else
		resp_simple(c->out, "PONG");
}

void cmd_echo(struct kv_ctx *c)
{
	resp_bulk(c->out, c->argv[1].p, c->argv[1].len);
}

/* Argument i as a C int, as Redis's getIntFromObjectOrReply: not an
 * integer, or outside int's range, is answered with msg if given, else
 * with Redis's own two messages. */
static bool arg_int(struct kv_ctx *c, uint32_t i, const char *msg, int64_t *v)
{
	if (!resp_str2ll(c->argv[i].p, c->argv[i].len, v)) {
		resp_error(c->out, msg ? msg : ERR_NOT_INT);
		return false;
	}
	if (*v < INT32_MIN || *v > INT32_MAX) {
		resp_error(c->out, msg ? msg
				       : "ERR value is out of range, value must between "
					 "-2147483648 and 2147483647");
		return false;
	}
	return true;
}

static bool db_in_range(const struct kv_ctx *c, int64_t id)
{
	return id >= 0 && id < (int64_t)c->dbs;
}

void cmd_select(struct kv_ctx *c)
{
	int64_t id;
	if (!arg_int(c, 1, NULL, &id))
		return;
	if (!db_in_range(c, id)) {
		resp_error(c->out, ERR_DB_RANGE);
		return;
	}
	c->db = (uint32_t)id;
	resp_simple(c->out, "OK");
}

/* MOVE key db: Redis's moveCommand, in its order of checks (the index,
 * then the same database, then the key in each). The key keeps its
 * expiry. */
void cmd_move(struct kv_ctx *c)
{
	int64_t id;
	if (!arg_int(c, 2, NULL, &id))
		return;
	if (!db_in_range(c, id)) {
		resp_error(c->out, ERR_DB_RANGE);
		return;
	}
	if ((uint32_t)id == c->db) {
		resp_error(c->out, "ERR source and destination objects are the same");
		return;
	}
	const struct resp_arg *key = &c->argv[1];
	struct kv_entry *e = kv_find(c, key, true);
	struct kv_ctx dst = *c;
	dst.db = (uint32_t)id;
	if (!e || kv_find(&dst, key, true)) {
		resp_int(c->out, 0);
		return;
	}
	struct kv_entry *d = kv_dict_add(kv_db(&dst), key->p, key->len);
	kv_entry_set(d, e->val, e->vlen);
	kv_dict_expire(kv_db(&dst), d, e->expire);
	kv_dict_delete(kv_db(c), key->p, key->len);
	resp_int(c->out, 1);
}

/* SWAPDB index1 index2: Redis's swapdbCommand. Connections follow their
 * index, not the data: a client in index1 sees index2's keys after it. */
void cmd_swapdb(struct kv_ctx *c)
{
	int64_t a, b;
	if (!arg_int(c, 1, "ERR invalid first DB index", &a) ||
	    !arg_int(c, 2, "ERR invalid second DB index", &b))
		return;
	if (!db_in_range(c, a) || !db_in_range(c, b)) {
		resp_error(c->out, ERR_DB_RANGE);
		return;
	}
	struct kv_dict t = c->kv->db[a];
	c->kv->db[a] = c->kv->db[b];
	c->kv->db[b] = t;
	resp_simple(c->out, "OK");
}
