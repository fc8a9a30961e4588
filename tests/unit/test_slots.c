/* tests/unit/test_slots.c — src/kv/slots.c: a shard's hold on its slots
 * and the slot map, as KEEL.SLOTS changes them: the fixed split they start
 * from, a whole migration's steps and their replies, every refusal (an
 * error changes nothing: the snapshot's bytes are the same after it), the
 * epoch and batch order that keep a replaced driver's late steps out, the
 * map's version, which commands a frozen or released slot refuses, the
 * export a copy is made of, the shards placed on some nodes, and the
 * snapshot that keeps it all (format 4, 5 with placed shards; a keyspace
 * of no shard still writes format 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "kv/kv.h"
#include "kv/snapshot.h"
#include "resp/buf.h"

struct shard {
	struct kv kv;
	struct rbuf out;
};

/* Runs a command of space-separated words; its arguments in an array of
 * exactly their number, so a read past the last is ASan's to see. */
static const char *run_db(struct shard *s, uint32_t db, const char *line);

static const char *run(struct shard *s, const char *line)
{
	return run_db(s, 0, line);
}

/* The same in database db (of at least 16, as --databases gives them:
 * the keyspace may hold fewer). */
static const char *run_db(struct shard *s, uint32_t db, const char *line)
{
	char buf[512];
	struct resp_arg words[32];
	uint32_t argc = 0;
	snprintf(buf, sizeof buf, "%s", line);
	for (char *p = buf; *p && argc < 32;) {
		char *e = strchr(p, ' ');
		if (e)
			*e = 0;
		words[argc++] = (struct resp_arg){(const uint8_t *)p, strlen(p)};
		if (!e)
			break;
		p = e + 1;
	}
	struct resp_arg *argv = malloc(argc * sizeof *argv);
	memcpy(argv, words, argc * sizeof *argv);
	s->out.len = 0;
	struct kv_ctx c = {.kv = &s->kv,
			   .argv = argv,
			   .argc = argc,
			   .out = &s->out,
			   .proto = 2,
			   .now_ms = 1000,
			   .db = db,
			   .dbs = db < 16 ? 16 : db + 1}; /* --databases past those held */
	kv_exec(&c);
	free(argv);
	rbuf_put(&s->out, "", 1);
	s->out.len--;
	return (const char *)s->out.p;
}

static void open_shard(struct shard *s, uint32_t n, uint32_t i, bool meta)
{
	kv_init(&s->kv, 3);
	kv_shard_set(&s->kv, n, i, meta);
	rbuf_init(&s->out);
}

static void close_shard(struct shard *s)
{
	kv_free(&s->kv);
	rbuf_free(&s->out);
}

/* The snapshot's bytes: what an error must leave as it was. */
static void snap(struct shard *s, struct rbuf *b)
{
	rbuf_init(b);
	kv_snapshot_write(&s->kv, 1000, b);
}

static void expect_unchanged(struct shard *s, const char *cmd, const char *err)
{
	struct rbuf a, b;
	snap(s, &a);
	const char *got = run(s, cmd);
	if (strncmp(got, err, strlen(err)))
		fail_msg("%s: %s, not %s", cmd, got, err);
	snap(s, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	rbuf_free(&a);
	rbuf_free(&b);
}

static uint16_t slot_of(const char *key)
{
	return kv_slot((const uint8_t *)key, strlen(key));
}

/* Shard i of n serves range i, the map gives each range its shard, and a
 * keyspace of no shard has no slots at all. */
static void fixed_split(void **state)
{
	(void)state;
	struct shard a, m, none;
	open_shard(&a, 3, 1, false);
	open_shard(&m, 3, 0, true);
	open_shard(&none, 0, 0, false);
	assert_null(kv_slots_of(&none.kv));
	const struct kv_slots *sa = kv_slots_of(&a.kv), *sm = kv_slots_of(&m.kv);
	assert_int_equal(sa->state[5460], KV_SLOT_GONE);
	assert_int_equal(sa->state[5461], KV_SLOT_OWNED);
	assert_int_equal(sa->state[10922], KV_SLOT_OWNED);
	assert_int_equal(sa->state[10923], KV_SLOT_GONE);
	assert_int_equal(sm->owner[0], 0);
	assert_int_equal(sm->owner[5461], 1);
	assert_int_equal(sm->owner[16383], 2);
	assert_int_equal(sm->version, 1);
	assert_string_equal(run(&none, "KEEL.SLOTS FREEZE 0 1 1"),
			    "-ERR this node has one shard\r\n");
	close_shard(&a);
	close_shard(&m);
	close_shard(&none);
}

/* One migration, step by step, as server/migrate.c drives it: the source
 * (shard 0 of 2) freezes, the target (shard 1) takes the copy, the source
 * releases, the target accepts, the map flips. */
static void whole_migration(void **state)
{
	(void)state;
	struct shard src, dst, map;
	open_shard(&src, 2, 0, false);
	open_shard(&dst, 2, 1, false);
	open_shard(&map, 2, 0, true);
	uint16_t s = slot_of("a"); /* 15495: shard 1's; "b" is 3300: shard 0's */
	assert_int_equal(slot_of("b"), 3300);
	run(&src, "SET b 1");
	assert_string_equal(run(&map, "KEEL.SLOTS BEGIN 3000 3999 1"), "+OK\r\n");
	expect_unchanged(&map, "KEEL.SLOTS BEGIN 0 10 1", "-ERR a migration is under way");
	assert_string_equal(run(&src, "KEEL.SLOTS FREEZE 3000 3999 5"), "+FROZEN\r\n");
	/* frozen: writes refused, reads served */
	struct resp_arg set[3] = {
		{(const uint8_t *)"SET", 3}, {(const uint8_t *)"b", 1}, {(const uint8_t *)"2", 1}};
	struct resp_arg get[2] = {{(const uint8_t *)"GET", 3}, {(const uint8_t *)"b", 1}};
	uint16_t at = 0;
	assert_int_equal(kv_slots_check(&src.kv, set, 3, &at), KV_SLOT_FROZEN);
	assert_int_equal(at, 3300);
	assert_int_equal(kv_slots_check(&src.kv, get, 2, &at), KV_SLOT_OWNED);
	/* the same by the slot a request was routed by */
	assert_int_equal(kv_slots_check_slot(&src.kv, 3300, false), KV_SLOT_FROZEN);
	assert_int_equal(kv_slots_check_slot(&src.kv, 3300, true), KV_SLOT_OWNED);
	assert_int_equal(kv_slots_check_slot(&src.kv, 2999, false), KV_SLOT_OWNED);
	assert_int_equal(kv_slots_check_slot(&src.kv, 4000, false), KV_SLOT_OWNED);
	assert_int_equal(kv_slots_check_slot(&map.kv, 3300, false), KV_SLOT_OWNED);
	/* the target does not serve it yet */
	assert_int_equal(kv_slots_check(&dst.kv, get, 2, &at), KV_SLOT_GONE);
	assert_int_equal(kv_slots_check_slot(&dst.kv, 3300, true), KV_SLOT_GONE);
	assert_int_equal(kv_slots_check_slot(&dst.kv, 3300, false), KV_SLOT_GONE);
	(void)s;
	/* the copy: export from the source, import at the target */
	struct rbuf rec;
	rbuf_init(&rec);
	uint32_t db = 0, n = 0;
	run(&src, "KEEL.SLOTS FREEZE 3000 3999 5"); /* as frozen, with one key expired */
	struct kv_entry *x = kv_dict_add(&src.kv.db[0], (const uint8_t *)"{b}old", 6);
	kv_entry_set(x, (const uint8_t *)"v", 1);
	kv_dict_expire(&src.kv.db[0], x, 900);
	struct kv_entry *y = kv_dict_add(&src.kv.db[0], (const uint8_t *)"{b}new", 6);
	kv_entry_set(y, (const uint8_t *)"v", 1);
	kv_dict_expire(&src.kv.db[0], y, 5000);
	uint64_t cur = kv_slots_export(&src.kv, 3000, 3999, 1000, &db, 0, 1 << 20, &rec, &n);
	assert_int_equal(cur, 0);
	assert_int_equal(n, 2); /* b and {b}new: {b}old expired at 900 */
	assert_true(db >= src.kv.n_db);
	rbuf_free(&rec);
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3000 3999 5 1 0 b 0 1"), "+OK\r\n");
	/* the same batch again (a resend): taken once */
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3000 3999 5 1 0 b 0 9"), "+OK\r\n");
	assert_string_equal(run(&dst, "GET b"), "$1\r\n1\r\n");
	expect_unchanged(&dst, "KEEL.SLOTS IMPORT 3000 3999 5 3 0 b 0 9", "-ERR stale migration");
	expect_unchanged(&dst, "KEEL.SLOTS ACCEPT 3000 3999 4", "-ERR stale migration epoch");
	expect_unchanged(&src, "KEEL.SLOTS RELEASE 3000 3999 4", "-ERR stale migration epoch");
	assert_string_equal(run(&src, "KEEL.SLOTS RELEASE 3000 3999 5"), "+OK\r\n");
	assert_string_equal(run(&src, "GET b"), "$-1\r\n"); /* deleted */
	assert_int_equal(kv_slots_check(&src.kv, get, 2, &at), KV_SLOT_GONE);
	assert_string_equal(run(&src, "KEEL.SLOTS FREEZE 3000 3999 5"), "+GONE\r\n");
	assert_string_equal(run(&dst, "KEEL.SLOTS ACCEPT 3000 3999 5"), "+OK\r\n");
	assert_int_equal(kv_slots_check(&dst.kv, set, 3, &at), KV_SLOT_OWNED);
	expect_unchanged(&map, "KEEL.SLOTS FLIP 2", "-ERR no such migration");
	assert_string_equal(run(&map, "KEEL.SLOTS FLIP 1"), "+OK\r\n");
	const struct kv_slots *sm = kv_slots_of(&map.kv);
	assert_int_equal(sm->owner[3300], 1);
	assert_int_equal(sm->owner[2999], 0);
	assert_int_equal(sm->owner[4000], 0);
	assert_int_equal(sm->version, 2);
	assert_false(sm->moving);
	/* a late copy of the FLIP: refused by its version */
	expect_unchanged(&map, "KEEL.SLOTS FLIP 1", "-ERR no such migration");
	assert_string_equal(run(&map, "KEEL.SLOTS BEGIN 0 10 1"), "+OK\r\n");
	expect_unchanged(&map, "KEEL.SLOTS FLIP 1", "-ERR no such migration");
	close_shard(&src);
	close_shard(&dst);
	close_shard(&map);
}

/* The keyspace commands of a shard of several answer for the slots it
 * serves: a key a move copied into a slot it has not accepted is not
 * counted, listed, scanned or drawn; FLUSHDB and FLUSHALL are refused
 * while a slot is frozen or a copy lies in a slot not accepted, and
 * change nothing then. */
static void put(struct shard *s, uint32_t db, const char *key, int64_t expire);

static void keyspace_commands_serve_own_slots(void **state)
{
	(void)state;
	struct shard src, dst;
	open_shard(&src, 2, 0, false);
	open_shard(&dst, 2, 1, false);
	assert_int_equal(slot_of("b"), 3300);  /* shard 0's */
	assert_int_equal(slot_of("a"), 15495); /* shard 1's */
	run(&src, "SET b 1");
	run(&dst, "SET a 1");
	assert_string_equal(run(&src, "KEEL.SLOTS FREEZE 3000 3999 5"), "+FROZEN\r\n");
	/* frozen: still served (reads), not flushed */
	assert_string_equal(run(&src, "DBSIZE"), ":1\r\n");
	assert_string_equal(run(&src, "KEYS *"), "*1\r\n$1\r\nb\r\n");
	expect_unchanged(&src, "FLUSHALL", "-TRYAGAIN");
	expect_unchanged(&src, "FLUSHDB", "-TRYAGAIN");
	/* the copy at the target, not accepted yet: not the target's */
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3000 3999 5 1 0 b 0 1"), "+OK\r\n");
	assert_string_equal(run(&dst, "DBSIZE"), ":1\r\n");
	assert_string_equal(run(&dst, "KEYS *"), "*1\r\n$1\r\na\r\n");
	assert_string_equal(run(&dst, "SCAN 0 COUNT 100"), "*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n");
	for (int i = 0; i < 20; i++)
		assert_string_equal(run(&dst, "RANDOMKEY"), "$1\r\na\r\n");
	expect_unchanged(&dst, "FLUSHALL", "-TRYAGAIN");
	/* released and accepted: the key is the target's alone */
	assert_string_equal(run(&src, "KEEL.SLOTS RELEASE 3000 3999 5"), "+OK\r\n");
	assert_string_equal(run(&src, "DBSIZE"), ":0\r\n");
	assert_string_equal(run(&src, "RANDOMKEY"), "$-1\r\n");
	assert_string_equal(run(&dst, "KEEL.SLOTS ACCEPT 3000 3999 5"), "+OK\r\n");
	assert_string_equal(run(&dst, "DBSIZE"), ":2\r\n");
	const char *keys = run(&dst, "KEYS *");
	assert_true(!strncmp(keys, "*2\r\n", 4) && strstr(keys, "$1\r\na\r\n") &&
		    strstr(keys, "$1\r\nb\r\n"));
	/* no move: flushed */
	assert_string_equal(run(&src, "FLUSHALL"), "+OK\r\n");
	assert_string_equal(run(&dst, "FLUSHDB"), "+OK\r\n");
	assert_string_equal(run(&dst, "DBSIZE"), ":0\r\n");
	/* a database past those the keyspace holds: empty, on a shard too */
	assert_string_equal(run_db(&dst, 15, "DBSIZE"), ":0\r\n");
	assert_string_equal(run_db(&dst, dst.kv.n_db, "DBSIZE"), ":0\r\n"); /* one not held yet */
	assert_string_equal(run_db(&dst, 15, "KEYS *"), "*0\r\n");
	assert_string_equal(run_db(&dst, 15, "FLUSHDB"), "+OK\r\n");
	/* an expired key (not yet deleted) is counted, as Redis counts it,
	 * and never drawn */
	put(&dst, 0, "a", 500);
	assert_string_equal(run(&dst, "DBSIZE"), ":1\r\n");
	assert_string_equal(run(&dst, "RANDOMKEY"), "$-1\r\n");
	assert_string_equal(run(&dst, "KEYS *"), "*0\r\n");
	/* a keyspace of one group: every key its own */
	struct shard one;
	open_shard(&one, 1, 0, false);
	run(&one, "SET a 1");
	run(&one, "SET b 1");
	assert_string_equal(run(&one, "DBSIZE"), ":2\r\n");
	assert_string_equal(run_db(&one, 15, "DBSIZE"), ":0\r\n");
	assert_string_equal(run(&one, "FLUSHALL"), "+OK\r\n");
	put(&one, 0, "gone", 500);
	put(&one, 0, "now", 1000); /* expired at the entry's time itself */
	assert_string_equal(run(&one, "RANDOMKEY"), "$-1\r\n");
	put(&one, 0, "later", 1001);
	for (int i = 0; i < 10; i++)
		assert_string_equal(run(&one, "RANDOMKEY"), "$5\r\nlater\r\n");
	close_shard(&one);
	close_shard(&src);
	close_shard(&dst);
}

/* Adds key (in database db) with a value and an expiry time (0: none),
 * as a copy or a write would have left it. */
static void put(struct shard *s, uint32_t db, const char *key, int64_t expire)
{
	kv_reserve_dbs(&s->kv, db + 1);
	struct kv_entry *e = kv_dict_add(&s->kv.db[db], (const uint8_t *)key, strlen(key));
	kv_entry_set(e, (const uint8_t *)"v", 1);
	kv_dict_expire(&s->kv.db[db], e, expire);
}

static bool has(struct shard *s, uint32_t db, const char *key)
{
	return db < s->kv.n_db && kv_dict_find(&s->kv.db[db], (const uint8_t *)key, strlen(key));
}

/* A key of slot `slot` (found by trying "k0", "k1", ...), in buf. */
static const char *key_of_slot(uint16_t slot, char *buf, size_t n)
{
	for (unsigned i = 0;; i++) {
		snprintf(buf, n, "k%u", i);
		if (slot_of(buf) == slot)
			return buf;
	}
}

/* RELEASE deletes the range's keys, and only those: in every database,
 * its first and last slots' included, expired ones not yet deleted too,
 * the slots on either side kept, the expiry count kept (INFO keyspace);
 * a first IMPORT batch clears what an abandoned copy left in the range
 * the same way. */
static void release_deletes_range(void **state)
{
	(void)state;
	struct shard src, dst;
	open_shard(&src, 2, 0, false);
	open_shard(&dst, 2, 1, false);
	char k[4][16];
	const uint16_t at[4] = {2999, 3000, 3999, 4000};
	for (int i = 0; i < 4; i++)
		key_of_slot(at[i], k[i], sizeof k[i]);
	for (uint32_t db = 0; db < 16; db += 5)
		for (int i = 0; i < 4; i++)
			put(&src, db, k[i], i == 1 ? 900 : 0); /* k[1] expired at 900 */
	for (int i = 0; i < 200; i++) { /* a tag's slot (3300) of many keys */
		char key[24];
		snprintf(key, sizeof key, "{b}%d", i);
		put(&src, 0, key, i % 2 ? 5000 : 0);
	}
	assert_int_equal(src.kv.db[0].expires, 101);
	assert_string_equal(run(&src, "KEEL.SLOTS FREEZE 3000 3999 5"), "+FROZEN\r\n");
	assert_string_equal(run(&src, "KEEL.SLOTS RELEASE 3000 3999 5"), "+OK\r\n");
	for (uint32_t db = 0; db < 16; db += 5) {
		assert_true(has(&src, db, k[0]));
		assert_false(has(&src, db, k[1]));
		assert_false(has(&src, db, k[2]));
		assert_true(has(&src, db, k[3]));
		assert_int_equal(kv_dict_size(&src.kv.db[db]), 2);
		assert_int_equal(src.kv.db[db].expires, 0);
	}
	/* the target: keys an abandoned copy left in its GONE range (and a
	 * key of a slot it serves) before a new copy's first batch */
	put(&dst, 0, "b", 0);
	put(&dst, 3, "{b}x", 7000);
	put(&dst, 3, k[2], 0);
	put(&dst, 3, k[3], 0);
	put(&dst, 0, "a", 0); /* 15495: shard 1's own */
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3000 3999 6 1 0 {b}1 0 w"), "+OK\r\n");
	assert_false(has(&dst, 0, "b"));
	assert_false(has(&dst, 3, "{b}x"));
	assert_false(has(&dst, 3, k[2]));
	assert_true(has(&dst, 3, k[3])); /* 4000: not the range's */
	assert_true(has(&dst, 0, "a"));
	assert_true(has(&dst, 0, "{b}1")); /* the batch's own key */
	assert_int_equal(dst.kv.db[3].expires, 0);
	/* a later batch clears nothing */
	put(&dst, 0, "{b}2", 0);
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3000 3999 6 2 0 {b}3 0 w"), "+OK\r\n");
	assert_true(has(&dst, 0, "{b}2"));
	close_shard(&src);
	close_shard(&dst);
}

/* A range whose records fit in a batch is exported in one call, however
 * large the table (from the slots' lists): every live key of the range,
 * in every database, the range's ends included; one byte less and the
 * first call is a bounded scan instead, as in export_bounded. */
static void export_small_range_at_once(void **state)
{
	(void)state;
	struct shard a;
	open_shard(&a, 2, 0, false);
	char key[32];
	for (uint32_t i = 0; i < 3 * KV_EXPORT_STEPS; i++) { /* other slots' keys */
		int len = snprintf(key, sizeof key, "{x}%u", i);
		kv_entry_set(kv_dict_add(&a.kv.db[0], (const uint8_t *)key, (size_t)len),
			     (const uint8_t *)"v", 1);
	}
	char k[3][16];
	key_of_slot(3000, k[0], sizeof k[0]);
	key_of_slot(3999, k[1], sizeof k[1]);
	key_of_slot(3500, k[2], sizeof k[2]);
	put(&a, 0, k[0], 0);
	put(&a, 9, k[1], 5000);
	put(&a, 0, k[2], 900); /* expired at 1000: not exported */
	put(&a, 0, "b", 0);    /* 3300 */
	struct rbuf rec;
	rbuf_init(&rec);
	uint32_t db = 0, n = 0;
	uint64_t cur = kv_slots_export(&a.kv, 3000, 3999, 1000, &db, 0, 1 << 20, &rec, &n);
	assert_int_equal(cur, 0);
	assert_true(db >= a.kv.n_db);
	assert_int_equal(n, 3);
	size_t all = rec.len;
	rbuf_put(&rec, "", 1);
	for (int i = 0; i < 2; i++)
		assert_non_null(memmem(rec.p, all, k[i], strlen(k[i])));
	assert_null(memmem(rec.p, all, k[2], strlen(k[2])));
	/* exactly the batch's size: still at once; a byte less: a scan */
	rec.len = 0;
	db = n = 0;
	assert_int_equal(kv_slots_export(&a.kv, 3000, 3999, 1000, &db, 0, all, &rec, &n), 0);
	assert_true(db >= a.kv.n_db);
	assert_int_equal(rec.len, all);
	rec.len = 0;
	db = n = 0;
	cur = kv_slots_export(&a.kv, 3000, 3999, 1000, &db, 0, all - 1, &rec, &n);
	assert_int_equal(db, 0);
	assert_true(cur != 0);
	/* the scan's later calls stay scans, whatever their budget: each key
	 * once in all (not the whole range again from the lists) */
	while (db < a.kv.n_db)
		cur = kv_slots_export(&a.kv, 3000, 3999, 1000, &db, cur, 1 << 20, &rec, &n);
	assert_int_equal(n, 3);
	assert_int_equal(rec.len, all);
	/* a call that goes on from database 1 (as the scan's, once database
	 * 0 is through) reads databases 1 on only */
	rec.len = 0;
	db = 1;
	n = 0;
	cur = 0;
	while (db < a.kv.n_db)
		cur = kv_slots_export(&a.kv, 3000, 3999, 1000, &db, cur, 1 << 20, &rec, &n);
	assert_int_equal(n, 1);
	assert_null(memmem(rec.p, rec.len, k[0], strlen(k[0])));
	rbuf_free(&rec);
	close_shard(&a);
}

/* kv_slot_keys: a slot's live keys of one database, counted or the first
 * n listed (a key expiring at now is expired, one a millisecond later is
 * not; another slot's or database's not counted; a database past the
 * last: none). kv_slots_oversized: a key of more than the limit, key and
 * value, in any database and any slot of the range, its ends included;
 * one of exactly the limit is not. */
static void slot_keys_and_sizes(void **state)
{
	(void)state;
	struct shard a;
	open_shard(&a, 2, 0, false);
	uint16_t b = slot_of("b"); /* 3300 */
	put(&a, 0, "b", 0);
	put(&a, 0, "{b}1", 1000); /* expired at now (1000) */
	put(&a, 0, "{b}2", 1001);
	put(&a, 0, "{b}3", 999);
	put(&a, 0, "a", 0);    /* another slot */
	put(&a, 2, "{b}4", 0); /* another database */
	struct rbuf keys;
	rbuf_init(&keys);
	assert_int_equal(kv_slot_keys(&a.kv, 0, b, 1000, NULL, 0), 2);
	assert_int_equal(kv_slot_keys(&a.kv, 2, b, 1000, NULL, 0), 1);
	assert_int_equal(kv_slot_keys(&a.kv, 1, b, 1000, NULL, 0), 0);
	assert_int_equal(kv_slot_keys(&a.kv, a.kv.n_db, b, 1000, NULL, 0), 0);
	assert_int_equal(kv_slot_keys(&a.kv, 0, b, 999, NULL, 0), 3);
	assert_int_equal(kv_slot_keys(&a.kv, 0, b, 1000, &keys, 0), 0);
	assert_int_equal(keys.len, 0);
	assert_int_equal(kv_slot_keys(&a.kv, 0, b, 1000, &keys, 1), 1);
	assert_int_equal(kv_slot_keys(&a.kv, 0, b, 1000, &keys, 5), 2);
	rbuf_put(&keys, "", 1);
	const char *got = (const char *)keys.p; /* one key, then both */
	assert_true(strstr(got, "$1\r\nb\r\n") && strstr(got, "$4\r\n{b}2\r\n"));
	assert_null(strstr(got, "{b}1") ? strstr(got, "{b}1") : strstr(got, "{b}3"));
	rbuf_free(&keys);
	/* sizes: "{b}1" + "v" is 5 bytes, the largest so far */
	char k[2][16];
	key_of_slot(3000, k[0], sizeof k[0]);
	key_of_slot(3999, k[1], sizeof k[1]);
	assert_int_equal(kv_slots_oversized(&a.kv, 3000, 3999, 5), 0);
	assert_int_equal(kv_slots_oversized(&a.kv, 3000, 3999, 4), 5);
	put(&a, 7, k[1], 0);
	struct kv_entry *e = kv_dict_find(&a.kv.db[7], (const uint8_t *)k[1], strlen(k[1]));
	kv_entry_set(e, (const uint8_t *)"0123456789", 10);
	uint64_t size = strlen(k[1]) + 10;
	assert_int_equal(kv_slots_oversized(&a.kv, 3000, 3999, size - 1), size);
	assert_int_equal(kv_slots_oversized(&a.kv, 3000, 3999, size), 0);
	assert_int_equal(kv_slots_oversized(&a.kv, 0, 16383, size), 0);
	assert_int_equal(kv_slots_oversized(&a.kv, 3999, 3999, size - 1), size);
	assert_int_equal(kv_slots_oversized(&a.kv, 3000, 3998, size - 1), 0);
	assert_int_equal(kv_slots_oversized(&a.kv, 4000, 4000, 0), 0);
	put(&a, 0, k[0], 0);
	assert_int_equal(kv_slots_oversized(&a.kv, 3000, 3000, 1), strlen(k[0]) + 1);
	assert_int_equal(kv_slots_oversized(&a.kv, 2999, 2999, 0), 0);
	close_shard(&a);
}

/* A move in pieces: FLIP with upto gives the map's target slots first..upto
 * and leaves the rest moving, from upto + 1; upto outside the rest, or
 * the version before, is refused and changes nothing; upto at the last
 * slot (or none) ends the move. */
static void flip_in_pieces(void **state)
{
	(void)state;
	struct shard m;
	open_shard(&m, 2, 0, true);
	const struct kv_slots *sm = kv_slots_of(&m.kv);
	assert_string_equal(run(&m, "KEEL.SLOTS BEGIN 3000 3999 1"), "+OK\r\n");
	expect_unchanged(&m, "KEEL.SLOTS FLIP 1 2999", "-ERR no such migration");
	expect_unchanged(&m, "KEEL.SLOTS FLIP 1 4000", "-ERR no such migration");
	expect_unchanged(&m, "KEEL.SLOTS FLIP 1 -1", "-ERR no such migration");
	expect_unchanged(&m, "KEEL.SLOTS FLIP 1 3000 3000", "-ERR no such migration");
	assert_string_equal(run(&m, "KEEL.SLOTS FLIP 1 3000"), "+OK\r\n");
	assert_int_equal(sm->owner[3000], 1);
	assert_int_equal(sm->owner[3001], 0);
	assert_int_equal(sm->owner[2999], 0);
	assert_true(sm->moving);
	assert_int_equal(sm->first, 3001);
	assert_int_equal(sm->last, 3999);
	assert_int_equal(sm->version, 2);
	expect_unchanged(&m, "KEEL.SLOTS FLIP 1 3499", "-ERR no such migration");
	expect_unchanged(&m, "KEEL.SLOTS FLIP 2 3000", "-ERR no such migration");
	expect_unchanged(&m, "KEEL.SLOTS BEGIN 0 10 1",
			 "-ERR a migration is under way: slots 3001-3999");
	assert_string_equal(run(&m, "KEEL.SLOTS FLIP 2 3998"), "+OK\r\n");
	assert_int_equal(sm->owner[3998], 1);
	assert_int_equal(sm->owner[3999], 0);
	assert_true(sm->moving);
	assert_int_equal(sm->first, 3999);
	assert_string_equal(run(&m, "KEEL.SLOTS FLIP 3 3999"), "+OK\r\n");
	assert_false(sm->moving);
	assert_int_equal(sm->owner[3999], 1);
	assert_int_equal(sm->owner[4000], 0);
	assert_int_equal(sm->version, 4);
	/* the rest whole, without upto */
	assert_string_equal(run(&m, "KEEL.SLOTS BEGIN 100 200 1"), "+OK\r\n");
	assert_string_equal(run(&m, "KEEL.SLOTS FLIP 4 149"), "+OK\r\n");
	assert_string_equal(run(&m, "KEEL.SLOTS FLIP 5"), "+OK\r\n");
	assert_false(sm->moving);
	for (uint32_t s = 99; s <= 201; s++)
		assert_int_equal(sm->owner[s], s >= 100 && s <= 200);
	expect_unchanged(&m, "KEEL.SLOTS FLIP 6 200", "-ERR no such migration");
	close_shard(&m);
}

/* The run of slots in first's state: never past last (the slots after a
 * move's range may be in the same state: another shard's, GONE here),
 * nor past the last slot. */
static void slot_runs(void **state)
{
	(void)state;
	struct shard a;
	open_shard(&a, 2, 1, false); /* slots 8192-16383 OWNED, 0-8191 GONE */
	struct kv_slots *sl = kv_slots_of(&a.kv);
	assert_int_equal(kv_slots_run(sl, 8192, 16383), 16383);
	assert_int_equal(kv_slots_run(sl, 16383, 16383), 16383);
	assert_int_equal(kv_slots_run(sl, 0, 100), 100); /* GONE past 100 too */
	assert_int_equal(kv_slots_run(sl, 0, 16383), 8191);
	assert_int_equal(kv_slots_run(sl, 8191, 8192), 8191);
	assert_int_equal(kv_slots_run(sl, 5, 5), 5);
	assert_string_equal(run(&a, "KEEL.SLOTS FREEZE 9000 9999 3"), "+FROZEN\r\n");
	assert_int_equal(kv_slots_run(sl, 9000, 16383), 9999);
	assert_int_equal(kv_slots_run(sl, 9000, 9500), 9500);
	assert_int_equal(kv_slots_run(sl, 8192, 16383), 8999);
	assert_int_equal(kv_slots_run(sl, 10000, 16383), 16383);
	assert_string_equal(run(&a, "KEEL.SLOTS RELEASE 9000 9499 3"), "+OK\r\n");
	assert_int_equal(kv_slots_run(sl, 9000, 16383), 9499);
	assert_int_equal(kv_slots_run(sl, 9500, 16383), 9999);
	close_shard(&a);
}

/* A piece of a move: as many slots from first as hold at most the budget
 * (key, value and KV_PIECE_RECORD a key, every database), the first
 * whatever it holds; empty slots cost nothing. */
static void piece_sizes(void **state)
{
	(void)state;
	struct shard a;
	open_shard(&a, 2, 0, false);
	char k[4][16];
	key_of_slot(3000, k[0], sizeof k[0]);
	key_of_slot(3001, k[1], sizeof k[1]);
	key_of_slot(3500, k[2], sizeof k[2]);
	key_of_slot(3999, k[3], sizeof k[3]);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, 0), 3999); /* no key */
	put(&a, 0, k[0], 0);
	uint64_t r0 = strlen(k[0]) + 1 + KV_PIECE_RECORD;
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, 0), 3000);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0 - 1), 3000);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0), 3999);
	assert_int_equal(kv_slots_piece(&a.kv, 3001, 3999, 0), 3999);
	put(&a, 5, k[1], 0); /* another database */
	uint64_t r1 = strlen(k[1]) + 1 + KV_PIECE_RECORD;
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0), 3000);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0 + r1 - 1), 3000);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0 + r1), 3999);
	put(&a, 0, k[2], 0);
	put(&a, 0, k[3], 0);
	uint64_t r2 = strlen(k[2]) + 1 + KV_PIECE_RECORD, r3 = strlen(k[3]) + 1 + KV_PIECE_RECORD;
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0 + r1), 3499);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0 + r1 + r2), 3998);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0 + r1 + r2 + r3), 3999);
	assert_int_equal(kv_slots_piece(&a.kv, 3001, 3999, 0), 3001);
	assert_int_equal(kv_slots_piece(&a.kv, 3002, 3999, 0), 3499);
	assert_int_equal(kv_slots_piece(&a.kv, 3999, 3999, 0), 3999);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3000, UINT64_MAX), 3000);
	/* the first slot over the budget alone: still a piece */
	struct kv_entry *e = kv_dict_find(&a.kv.db[0], (const uint8_t *)k[0], strlen(k[0]));
	kv_entry_set(e, (const uint8_t *)"0123456789", 10);
	assert_int_equal(kv_slots_piece(&a.kv, 3000, 3999, r0), 3000);
	close_shard(&a);
}

/* ADD: one more shard at a time, numbered on, up to 1024; a move may then
 * target it; it starts serving no slot; the count survives a snapshot. */
static void shards_added(void **state)
{
	(void)state;
	struct shard m, added;
	open_shard(&m, 2, 0, true);
	open_shard(&added, 2, 2, false); /* as a node opens shard 2 of a 2-shard start */
	for (uint32_t s = 0; s < KV_SLOTS; s++)
		assert_int_equal(kv_slots_of(&added.kv)->state[s], KV_SLOT_GONE);
	expect_unchanged(&m, "KEEL.SLOTS BEGIN 0 10 2", "-ERR no such shard");
	assert_string_equal(run(&m, "KEEL.SLOTS ADD"), ":2\r\n");
	expect_unchanged(&m, "KEEL.SLOTS ADD x", "-ERR invalid node id");
	assert_string_equal(run(&m, "KEEL.SLOTS BEGIN 0 10 2"), "+OK\r\n");
	assert_int_equal(kv_slots_of(&m.kv)->n_shards, 3);
	struct rbuf w;
	snap(&m, &w);
	struct kv back;
	kv_init(&back, 5);
	assert_int_equal(kv_snapshot_read(&back, w.p, w.len), KEEL_OK);
	assert_int_equal(kv_slots_of(&back)->n_shards, 3);
	assert_true(kv_slots_of(&back)->moving);
	kv_free(&back);
	rbuf_free(&w);
	while (kv_slots_of(&m.kv)->n_shards < KV_SHARDS_MAX)
		run(&m, "KEEL.SLOTS ADD");
	expect_unchanged(&m, "KEEL.SLOTS ADD", "-ERR a cluster holds at most 1024 shards");
	close_shard(&m);
	close_shard(&added);
}

/* Runs KEEL.SLOTS <op> first last epoch seq, then the records an export
 * appended (u32 length, bytes each). */
static const char *run_records(struct shard *s, const char *head, const struct rbuf *rec)
{
	struct resp_arg argv[64];
	char buf[128];
	uint32_t argc = 0;
	snprintf(buf, sizeof buf, "%s", head);
	for (char *p = buf; *p && argc < 6;) {
		char *e = strchr(p, ' ');
		if (e)
			*e = 0;
		argv[argc++] = (struct resp_arg){(const uint8_t *)p, strlen(p)};
		if (!e)
			break;
		p = e + 1;
	}
	for (size_t at = 0; at + 4 <= rec->len && argc < 64;) {
		uint32_t n = bytes_get_u32(rec->p + at);
		argv[argc++] = (struct resp_arg){rec->p + at + 4, n};
		at += 4 + n;
	}
	s->out.len = 0;
	struct kv_ctx c = {.kv = &s->kv,
			   .argv = argv,
			   .argc = argc,
			   .out = &s->out,
			   .proto = 2,
			   .now_ms = 2000,
			   .dbs = 16};
	kv_exec(&c);
	rbuf_put(&s->out, "", 1);
	s->out.len--;
	return (const char *)s->out.p;
}

/* The source's sessions go with a move: a request the source applied is
 * answered at the target with its reply (not applied again), in order
 * with the target's own requests of the session (one below the source's
 * ack counts as answered); the merged table comes back whole from a
 * snapshot; a malformed value is refused whole. */
static void sessions_move(void **state)
{
	(void)state;
	struct shard src, dst;
	open_shard(&src, 2, 0, false);
	open_shard(&dst, 2, 1, false);
	kv_session_record(&src.kv, 77, 5, 5, 1000, (const uint8_t *)":1\r\n", 4);
	kv_session_record(&src.kv, 77, 6, 5, 1000, (const uint8_t *)":2\r\n", 4);
	kv_session_record(&dst.kv, 77, 3, 3, 900, (const uint8_t *)"+OK\r\n", 5);
	kv_session_record(&dst.kv, 77, 8, 3, 900, (const uint8_t *)"+B\r\n", 4);
	kv_session_record(&src.kv, 88, 1, 1, 1000, (const uint8_t *)"+A\r\n", 4);
	struct rbuf rec;
	rbuf_init(&rec);
	uint32_t n = 0;
	bool done = false;
	kv_sessions_export(&src.kv, 0, 1 << 20, &rec, &n, &done);
	assert_true(done);
	assert_int_equal(n, 2);
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3300 3300 9 1"), "+OK\r\n");
	assert_string_equal(run_records(&dst, "KEEL.SLOTS SESSIONS 3300 3300 9 2", &rec),
			    "+OK\r\n");
	const uint8_t *reply = NULL;
	size_t len = 0;
	assert_int_equal(kv_session_check(&dst.kv, 77, 6, 5, &reply, &len), KV_SESSION_REPLY);
	assert_memory_equal(reply, ":2\r\n", 4);
	assert_int_equal(kv_session_check(&dst.kv, 77, 5, 5, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_check(&dst.kv, 77, 8, 5, &reply, &len), KV_SESSION_REPLY);
	assert_memory_equal(reply, "+B\r\n", 4);
	assert_int_equal(kv_session_check(&dst.kv, 77, 7, 5, &reply, &len), KV_SESSION_PASSED);
	assert_int_equal(kv_session_check(&dst.kv, 77, 9, 5, &reply, &len), KV_SESSION_NEW);
	/* the merged table is whole: it comes back from a snapshot */
	struct rbuf w;
	snap(&dst, &w);
	struct kv back;
	kv_init(&back, 4);
	assert_int_equal(kv_snapshot_read(&back, w.p, w.len), KEEL_OK);
	assert_int_equal(kv_session_check(&back, 77, 5, 5, &reply, &len), KV_SESSION_REPLY);
	kv_free(&back);
	rbuf_free(&w);
	assert_int_equal(kv_session_check(&dst.kv, 77, 3, 5, &reply, &len), KV_SESSION_ANSWERED);
	assert_int_equal(kv_session_check(&dst.kv, 88, 1, 1, &reply, &len), KV_SESSION_REPLY);
	/* the same batch again: taken once (its number) */
	assert_string_equal(run_records(&dst, "KEEL.SLOTS SESSIONS 3300 3300 9 2", &rec),
			    "+OK\r\n");
	/* a value of no layout (its first byte changed): refused, nothing taken */
	rec.p[4 + bytes_get_u32(rec.p) + 4] ^= 1;
	struct rbuf before, after;
	snap(&dst, &before);
	assert_string_equal(run_records(&dst, "KEEL.SLOTS SESSIONS 3300 3300 9 3", &rec),
			    "-ERR malformed import records\r\n");
	snap(&dst, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.p, after.p, before.len);
	rbuf_free(&before);
	rbuf_free(&after);
	rbuf_free(&rec);
	close_shard(&src);
	close_shard(&dst);
}

/* A driver that was replaced: its late steps, at an older epoch, change
 * nothing once a newer one froze or began a copy. */
static void late_steps_refused(void **state)
{
	(void)state;
	struct shard src, dst;
	open_shard(&src, 2, 0, false);
	open_shard(&dst, 2, 1, false);
	run(&src, "SET b 1");
	assert_string_equal(run(&src, "KEEL.SLOTS FREEZE 3300 3300 10"), "+FROZEN\r\n");
	assert_string_equal(run(&src, "KEEL.SLOTS FREEZE 3300 3300 11"), "+FROZEN\r\n");
	expect_unchanged(&src, "KEEL.SLOTS FREEZE 3300 3300 10", "-ERR stale migration epoch");
	expect_unchanged(&src, "KEEL.SLOTS RELEASE 3300 3300 10", "-ERR stale migration epoch");
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3300 3300 10 1 0 b 0 1"), "+OK\r\n");
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3300 3300 11 1"), "+OK\r\n");
	assert_string_equal(run(&dst, "GET b"), "$-1\r\n"); /* the newer copy began: cleared */
	expect_unchanged(&dst, "KEEL.SLOTS IMPORT 3300 3300 10 2 0 b 0 1",
			 "-ERR stale migration epoch");
	expect_unchanged(&dst, "KEEL.SLOTS IMPORT 3300 3300 10 1 0 b 0 1",
			 "-ERR stale migration epoch");
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3300 3300 11 2 0 b 0 1"), "+OK\r\n");
	expect_unchanged(&dst, "KEEL.SLOTS IMPORT 3300 3300 11 4 0 b 0 1", "-ERR stale");
	/* a key a later batch brings again: one key, the later value */
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3300 3300 11 3 0 {b}long 0 2"), "+OK\r\n");
	assert_string_equal(run(&dst, "KEEL.SLOTS IMPORT 3300 3300 11 4 0 {b}long 5000 22"),
			    "+OK\r\n");
	assert_int_equal(kv_keys_total(&dst.kv), 2);
	assert_int_equal(kv_dict_find(&dst.kv.db[0], (const uint8_t *)"{b}long", 7)->vlen, 2);
	/* a late ACCEPT after the shard moved on to a newer migration */
	assert_string_equal(run(&dst, "KEEL.SLOTS ACCEPT 3300 3300 11"), "+OK\r\n");
	assert_string_equal(run(&dst, "KEEL.SLOTS FREEZE 3300 3300 12"), "+FROZEN\r\n");
	assert_string_equal(run(&dst, "KEEL.SLOTS RELEASE 3300 3300 12"), "+OK\r\n");
	expect_unchanged(&dst, "KEEL.SLOTS ACCEPT 3300 3300 11", "-ERR stale migration epoch");
	close_shard(&src);
	close_shard(&dst);
}

/* Every malformed or out-of-turn step is refused and changes nothing. */
static void refusals(void **state)
{
	(void)state;
	struct shard a, m;
	open_shard(&a, 2, 0, false);
	open_shard(&m, 2, 0, true);
	static const struct {
		const char *cmd, *err;
	} bad[] = {
		{"KEEL.SLOTS FREEZE 0 16384 1", "-ERR invalid slot range"},
		{"KEEL.SLOTS FREEZE -1 3 1", "-ERR invalid slot range"},
		{"KEEL.SLOTS FREEZE 5 4 1", "-ERR invalid slot range"},
		{"KEEL.SLOTS FREEZE 0 3", "-ERR invalid migration epoch"},
		{"KEEL.SLOTS IMPORT 9000 9000 1", "-ERR malformed import records"},
		{"KEEL.SLOTS SESSIONS 9000 9000 1", "-ERR malformed import records"},
		{"KEEL.SLOTS FREEZE 0 3 -1", "-ERR invalid migration epoch"},
		{"KEEL.SLOTS FREEZE 0 3 9223372036854775808", "-ERR invalid migration epoch"},
		{"KEEL.SLOTS FREEZE 0 3 1 x", "-ERR syntax error"},
		{"KEEL.SLOTS FREEZE 8000 8300 1", "-ERR slots of the range are not all"},
		{"KEEL.SLOTS RELEASE 0 3 1", "-ERR a slot of the range is not frozen"},
		{"KEEL.SLOTS IMPORT 0 3 1 1", "-ERR a slot of the range is served by this shard"},
		{"KEEL.SLOTS IMPORT 9000 9000 1 0", "-ERR stale migration epoch"},
		{"KEEL.SLOTS IMPORT 9000 9000 1 1 0 b 0", "-ERR malformed import records"},
		{"KEEL.SLOTS IMPORT 9000 9000 1 1 0 b 0 1", "-ERR malformed import records"},
		{"KEEL.SLOTS IMPORT 9000 9000 1 1 65536 x 0 1", "-ERR malformed import records"},
		{"KEEL.SLOTS IMPORT 9000 9000 1 1 0 x -1 1", "-ERR malformed import records"},
		{"KEEL.SLOTS WHAT 0 3 1", "-ERR unknown operation"},
		{"KEEL.SLOTS BEGIN 0 3 1", "-ERR unknown operation"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_unchanged(&a, bad[i].cmd, bad[i].err);
	static const struct {
		const char *cmd, *err;
	} bad_map[] = {
		{"KEEL.SLOTS BEGIN 0 3 2", "-ERR no such shard"},
		{"KEEL.SLOTS BEGIN 0 3 0", "-ERR the slots are that shard's already"},
		{"KEEL.SLOTS BEGIN 8000 8500 1", "-ERR the slots are served by several shards"},
		{"KEEL.SLOTS FLIP 1", "-ERR no such migration"},
		{"KEEL.SLOTS FLIP -1", "-ERR no such migration"},
		{"KEEL.SLOTS FLIP", "-ERR no such migration"},
		{"KEEL.SLOTS FREEZE 0 3 1", "-ERR unknown operation"},
	};
	for (size_t i = 0; i < sizeof bad_map / sizeof bad_map[0]; i++)
		expect_unchanged(&m, bad_map[i].cmd, bad_map[i].err);
	close_shard(&a);
	close_shard(&m);
}

/* A MULTI's command with no key, an unknown command and a key of the
 * shard's pass; a key of another shard's slot is refused. */
static void which_commands_pass(void **state)
{
	(void)state;
	struct shard a;
	open_shard(&a, 2, 0, false);
	uint16_t at = 0;
	struct resp_arg ping[1] = {{(const uint8_t *)"PING", 4}};
	struct resp_arg nope[2] = {{(const uint8_t *)"NOPE", 4}, {(const uint8_t *)"a", 1}};
	struct resp_arg mset[5] = {{(const uint8_t *)"MSET", 4},
				   {(const uint8_t *)"b", 1},
				   {(const uint8_t *)"1", 1},
				   {(const uint8_t *)"a", 1},
				   {(const uint8_t *)"1", 1}};
	assert_int_equal(kv_slots_check(&a.kv, ping, 1, &at), KV_SLOT_OWNED);
	assert_int_equal(kv_slots_check(&a.kv, nope, 2, &at), KV_SLOT_OWNED);
	assert_int_equal(kv_slots_check(&a.kv, mset, 3, &at), KV_SLOT_OWNED);
	assert_int_equal(kv_slots_check(&a.kv, mset, 5, &at), KV_SLOT_GONE);
	assert_int_equal(at, slot_of("a"));
	close_shard(&a);
}

/* A copy of a range with few keys in a large keyspace: each export call
 * stops after KV_EXPORT_STEPS buckets (a batch maybe of no record), and
 * the calls together give each of the range's keys once; the same for the
 * exactly-once sessions' export. */
static void export_bounded(void **state)
{
	(void)state;
	struct shard a;
	open_shard(&a, 2, 0, false);
	const uint32_t n_keys = 3 * KV_EXPORT_STEPS; /* a table of 4 times the steps */
	uint16_t slot = slot_of("k7");
	uint32_t in_range = 0;
	char key[32];
	for (uint32_t i = 0; i < n_keys; i++) {
		int len = snprintf(key, sizeof key, "k%u", i);
		struct kv_entry *e = kv_dict_add(&a.kv.db[0], (const uint8_t *)key, (size_t)len);
		kv_entry_set(e, (const uint8_t *)"v", 1);
		in_range += kv_slot((const uint8_t *)key, (size_t)len) == slot;
	}
	assert_true(in_range > 0);
	struct rbuf rec;
	rbuf_init(&rec);
	uint32_t db = 0, n = 0, calls = 0, empty = 0;
	uint64_t cur = kv_slots_export(&a.kv, slot, slot, 1000, &db, 0, 1 << 30, &rec, &n);
	assert_true(db >= a.kv.n_db); /* all at once, from the lists */
	assert_int_equal(n, in_range);
	size_t all = rec.len; /* a byte less: the bounded scan, stopped by its steps */
	rec.len = 0;
	db = n = 0;
	do {
		uint32_t before = n;
		cur = kv_slots_export(&a.kv, slot, slot, 1000, &db, cur, all - 1, &rec, &n);
		if (!calls++) { /* the first stopped inside database 0's table */
			assert_int_equal(db, 0);
			assert_true(cur != 0);
		}
		empty += n == before;
		assert_true(calls <= 64);
	} while (db < a.kv.n_db);
	assert_int_equal(cur, 0);
	assert_int_equal(n, in_range);
	assert_true(calls >= 3); /* no call scanned the whole table */
	assert_true(empty >= 1); /* nor waited for a record to stop */
	/* each record's key (db, key, expiry, value: 4 arguments, each a
	 * 4-byte length and its bytes) is in the slot */
	uint32_t seen = 0;
	for (size_t at = 0; at < rec.len; seen++) {
		struct resp_arg f[4];
		for (int k = 0; k < 4; k++) {
			assert_true(at + 4 <= rec.len);
			uint32_t len = bytes_get_u32(rec.p + at);
			assert_true(at + 4 + len <= rec.len);
			f[k] = (struct resp_arg){rec.p + at + 4, len};
			at += 4 + (size_t)len;
		}
		assert_int_equal(kv_slot(f[1].p, f[1].len), slot);
	}
	assert_int_equal(seen, in_range);
	/* the sessions' export alike */
	for (uint32_t i = 0; i < n_keys; i++)
		kv_session_record(&a.kv, 1000 + i, 1, 1, 1000, (const uint8_t *)"+OK\r\n", 5);
	rec.len = 0;
	n = calls = 0;
	bool done = false;
	cur = 0;
	do {
		cur = kv_sessions_export(&a.kv, cur, 1 << 30, &rec, &n, &done);
		if (!calls++)
			assert_false(done);
		assert_true(calls <= 64);
	} while (!done);
	assert_int_equal(n, n_keys);
	assert_true(calls >= 3);
	rbuf_free(&rec);
	close_shard(&a);
}

/* The slots survive a snapshot, whole and in pieces; a keyspace of no
 * shard writes format 3, a shard format 4; a damaged slots section is
 * refused. */
static void snapshot_keeps_slots(void **state)
{
	(void)state;
	struct shard a, plain;
	open_shard(&a, 2, 0, false);
	open_shard(&plain, 0, 0, false);
	run(&a, "SET b 1");
	run(&a, "KEEL.SLOTS FREEZE 3300 3300 7");
	struct rbuf w, p;
	snap(&a, &w);
	snap(&plain, &p);
	assert_memory_equal(w.p, "KEELKV4", 7);
	assert_memory_equal(p.p, "KEELKV3", 7);
	struct kv back;
	kv_init(&back, 9);
	kv_shard_set(&back, 2, 0, false);
	assert_int_equal(kv_snapshot_read(&back, w.p, w.len), KEEL_OK);
	assert_int_equal(kv_slots_of(&back)->state[3300], KV_SLOT_FROZEN);
	assert_int_equal(kv_slots_of(&back)->epoch, 7);
	assert_memory_equal(kv_slots_of(&back), kv_slots_of(&a.kv), sizeof(struct kv_slots));
	assert_int_equal(back.shard_n, 2);
	/* a state past FROZEN, with its checksum made good: refused */
	size_t at = w.len - 4 - KV_SLOTS_BYTES + 100;
	w.p[at] = 3;
	uint32_t crc = crc32c(0, w.p, w.len - 4);
	memcpy(w.p + w.len - 4, &crc, 4);
	assert_int_equal(kv_snapshot_read(&back, w.p, w.len), KEEL_ECORRUPT);
	assert_null(back.slots);
	w.p[at] = KV_SLOT_OWNED;
	/* one shard, or an import number past 2^63: refused too */
	size_t base = w.len - 4 - KV_SLOTS_BYTES;
	static const struct {
		size_t off;
		uint8_t byte;
	} bad[] = {{KV_SLOTS + 16 + 2 * KV_SLOTS + 8, 1}, {KV_SLOTS + 8 + 7, 0x80}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t keep = w.p[base + bad[i].off];
		if (bad[i].off == KV_SLOTS + 16 + 2 * KV_SLOTS + 8) /* n_shards, u32: 1 */
			memcpy(w.p + base + bad[i].off, (uint8_t[4]){1, 0, 0, 0}, 4);
		else
			w.p[base + bad[i].off] = bad[i].byte;
		uint8_t owners[2 *
			       KV_SLOTS]; /* one shard: every slot its, else the owners refuse it */
		memcpy(owners, w.p + base + KV_SLOTS + 16, sizeof owners);
		memset(w.p + base + KV_SLOTS + 16, 0, sizeof owners);
		crc = crc32c(0, w.p, w.len - 4);
		memcpy(w.p + w.len - 4, &crc, 4);
		assert_int_equal(kv_snapshot_read(&back, w.p, w.len), KEEL_ECORRUPT);
		memcpy(w.p + base + KV_SLOTS + 16, owners, sizeof owners);
		w.p[base + bad[i].off] = keep;
		if (bad[i].off == KV_SLOTS + 16 + 2 * KV_SLOTS + 8)
			memcpy(w.p + base + bad[i].off, (uint8_t[4]){2, 0, 0, 0}, 4);
	}
	kv_free(&back);
	rbuf_free(&w);
	rbuf_free(&p);
	close_shard(&a);
	close_shard(&plain);
}

/* KEEL.SLOTS ADD id...: a shard placed on those nodes, kept in the map
 * and in its snapshot (format 5); bad lists change nothing, and a
 * snapshot whose list is malformed (checksum made good) is refused. */
static void placed_shards(void **state)
{
	(void)state;
	struct shard m;
	open_shard(&m, 2, 0, true);
	expect_unchanged(&m, "KEEL.SLOTS ADD 1 2 1", "-ERR a node is listed twice");
	expect_unchanged(&m, "KEEL.SLOTS ADD 1 0", "-ERR invalid node id");
	expect_unchanged(&m, "KEEL.SLOTS ADD -1", "-ERR invalid node id");
	expect_unchanged(&m, "KEEL.SLOTS ADD 1 2 3 4 5 6 7 8",
			 "-ERR a shard is placed on at most 7");
	struct rbuf w;
	snap(&m, &w);
	assert_memory_equal(w.p, "KEELKV4", 7); /* no placed shard: format 4 */
	rbuf_free(&w);
	expect_unchanged(&m, "KEEL.SLOTS ADD 1 9223372036854775808", "-ERR invalid node id");
	assert_string_equal(run(&m, "KEEL.SLOTS ADD 3 1 9223372036854775807"), ":2\r\n");
	assert_string_equal(run(&m, "KEEL.SLOTS ADD"), ":3\r\n");
	assert_string_equal(run(&m, "KEEL.SLOTS ADD 1 2 3 4 5 6 7"), ":4\r\n");
	const struct kv_slots *sl = kv_slots_of(&m.kv);
	const struct kv_shard_members *p = kv_shard_placed(sl, 2);
	assert_non_null(p);
	assert_int_equal(p->n, 3);
	assert_true(p->ids[0] == 3 && p->ids[1] == 1 && p->ids[2] == INT64_MAX);
	assert_null(kv_shard_placed(sl, 3));
	assert_null(kv_shard_placed(sl, 0));
	assert_int_equal(kv_shard_placed(sl, 4)->n, 7);
	snap(&m, &w);
	assert_memory_equal(w.p, "KEELKV5", 7);
	struct kv back;
	kv_init(&back, 5);
	kv_shard_set(&back, 2, 0, true);
	assert_int_equal(kv_snapshot_read(&back, w.p, w.len), KEEL_OK);
	const struct kv_slots *b = kv_slots_of(&back);
	assert_int_equal(b->n_placed, 2);
	assert_int_equal(b->n_shards, 5);
	assert_memory_equal(b->placed, sl->placed, 2 * sizeof *b->placed);
	/* the placed list's records: the first at its count's end */
	size_t rec = w.len - 4 - 2 * KV_PLACED_BYTES;
	static const struct {
		size_t off;
		uint8_t byte;
	} bad[] = {
		{5 + 8 * 1, 3},			  /* its second id the same as its first */
		{KV_PLACED_BYTES + 5 + 8 * 2, 0}, /* the next's third id 0, counted */
		{5 + 8 * 3, 9},			  /* an id past its count */
		{4, 0},				  /* a count of 0 */
		{4, 8},				  /* a count past the most */
		{0, 5},				  /* a shard past the map's */
		{0, 4},				  /* ... or out of order (the next is 4) */
		{KV_PLACED_BYTES, 2},		  /* the same shard twice */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t keep = w.p[rec + bad[i].off];
		w.p[rec + bad[i].off] = bad[i].byte;
		uint32_t crc = crc32c(0, w.p, w.len - 4);
		memcpy(w.p + w.len - 4, &crc, 4);
		if (kv_snapshot_read(&back, w.p, w.len) != KEEL_ECORRUPT)
			fail_msg("malformed placed list %zu read", i);
		w.p[rec + bad[i].off] = keep;
	}
	/* a count of placed shards past the map's, or past KV_SHARDS_MAX */
	size_t count_at = w.len - 4 - 2 * KV_PLACED_BYTES - 4;
	for (uint32_t n = 3; n <= 4; n++) {
		uint32_t v = n == 3 ? 6 : KV_SHARDS_MAX + 1;
		memcpy(w.p + count_at, &v, 4);
		uint32_t crc = crc32c(0, w.p, w.len - 4);
		memcpy(w.p + w.len - 4, &crc, 4);
		assert_int_equal(kv_snapshot_read(&back, w.p, w.len), KEEL_ECORRUPT);
	}
	kv_free(&back);
	rbuf_free(&w);
	close_shard(&m);
}

/* KEEL.SLOTS PLACE shard id...: a placed shard's nodes replaced (kept in
 * its snapshot); a shard on every node, one past the map, a bad list
 * change nothing. */
static void place_shard(void **state)
{
	(void)state;
	struct shard m;
	open_shard(&m, 2, 0, true);
	assert_string_equal(run(&m, "KEEL.SLOTS ADD 1 2"), ":2\r\n");
	assert_string_equal(run(&m, "KEEL.SLOTS ADD"), ":3\r\n");
	expect_unchanged(&m, "KEEL.SLOTS PLACE 0 1", "-ERR shard 0 cannot be placed");
	expect_unchanged(&m, "KEEL.SLOTS PLACE 4 1", "-ERR shard 4 cannot be placed");
	expect_unchanged(&m, "KEEL.SLOTS PLACE 4294967295 1", "-ERR shard 4294967295 cannot");
	expect_unchanged(&m, "KEEL.SLOTS PLACE 4294967296 1",
			 "-ERR wrong number of arguments or "
			 "invalid shard");
	expect_unchanged(&m, "KEEL.SLOTS PLACE -1 1",
			 "-ERR wrong number of arguments or invalid "
			 "shard");
	expect_unchanged(&m, "KEEL.SLOTS PLACE 2",
			 "-ERR wrong number of arguments or invalid "
			 "shard");
	expect_unchanged(&m, "KEEL.SLOTS PLACE 2 3 3", "-ERR a node is listed twice");
	expect_unchanged(&m, "KEEL.SLOTS PLACE 2 3 0", "-ERR invalid node id");
	expect_unchanged(&m, "KEEL.SLOTS PLACE 2 1 2 3 4 5 6 7 8",
			 "-ERR a shard is placed on at most 7");
	assert_string_equal(run(&m, "KEEL.SLOTS PLACE 2 3 2 4"), "+OK\r\n");
	const struct kv_shard_members *p = kv_shard_placed(kv_slots_of(&m.kv), 2);
	assert_true(p && p->n == 3 && p->ids[0] == 3 && p->ids[1] == 2 && p->ids[2] == 4);
	assert_string_equal(run(&m, "KEEL.SLOTS PLACE 2 5"), "+OK\r\n");
	assert_true(p->n == 1 && p->ids[0] == 5);
	assert_null(kv_shard_placed(kv_slots_of(&m.kv), 3));
	/* shards on every node join the list, in shard order (past the last
	 * placed one, then before the first) */
	assert_null(kv_shard_placed(kv_slots_of(&m.kv), 1));
	assert_string_equal(run(&m, "KEEL.SLOTS PLACE 3 1 2"), "+OK\r\n");
	assert_string_equal(run(&m, "KEEL.SLOTS PLACE 1 4"), "+OK\r\n");
	const struct kv_slots *sl = kv_slots_of(&m.kv);
	assert_int_equal(sl->n_placed, 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(sl->placed[i].shard, i + 1);
	p = kv_shard_placed(sl, 2);
	assert_true(p && p->n == 1 && p->ids[0] == 5);
	p = kv_shard_placed(sl, 1);
	assert_true(p && p->n == 1 && p->ids[0] == 4);
	p = kv_shard_placed(sl, 3);
	assert_true(p && p->n == 2 && p->ids[0] == 1 && p->ids[1] == 2);
	expect_unchanged(&m, "KEEL.SLOTS PLACE 0 1", "-ERR shard 0 cannot be placed");
	struct rbuf w;
	snap(&m, &w);
	struct kv back;
	kv_init(&back, 5);
	kv_shard_set(&back, 2, 0, true);
	assert_int_equal(kv_snapshot_read(&back, w.p, w.len), KEEL_OK);
	const struct kv_shard_members *b = kv_shard_placed(kv_slots_of(&back), 2);
	assert_true(b && b->n == 1 && b->ids[0] == 5);
	b = kv_shard_placed(kv_slots_of(&back), 1);
	assert_true(b && b->n == 1 && b->ids[0] == 4);
	b = kv_shard_placed(kv_slots_of(&back), 3);
	assert_true(b && b->n == 2 && b->ids[1] == 2);
	kv_free(&back);
	rbuf_free(&w);
	close_shard(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixed_split),
		cmocka_unit_test(whole_migration),
		cmocka_unit_test(late_steps_refused),
		cmocka_unit_test(refusals),
		cmocka_unit_test(which_commands_pass),
		cmocka_unit_test(snapshot_keeps_slots),
		cmocka_unit_test(shards_added),
		cmocka_unit_test(sessions_move),
		cmocka_unit_test(placed_shards),
		cmocka_unit_test(place_shard),
		cmocka_unit_test(export_bounded),
		cmocka_unit_test(release_deletes_range),
		cmocka_unit_test(slot_keys_and_sizes),
		cmocka_unit_test(export_small_range_at_once),
		cmocka_unit_test(flip_in_pieces),
		cmocka_unit_test(piece_sizes),
		cmocka_unit_test(slot_runs),
		cmocka_unit_test(keyspace_commands_serve_own_slots),
	};
	return UNIT_RUN("slots", tests);
}
