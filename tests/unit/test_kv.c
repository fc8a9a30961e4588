/* tests/unit/test_kv.c — src/kv: the hash table (incremental rehash, the
 * scan guarantee across a resize), expiry against a given time, every
 * command's arity error, overflow and bad-argument errors, huge lengths,
 * glob patterns, RESP3 replies, snapshot and restore. Redis's own answers
 * are checked by the differential test (tests/diff). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "base/bytes.h"
#include "kv/cmds.h"
#include "kv/kv.h"
#include "kv/snapshot.h"
#include "resp/encode.h"

struct run {
	struct kv kv;
	struct rbuf out;
	int64_t now;
	int proto;
};

/* Runs a command given as space-separated words ("" for an empty one);
 * returns the reply as a C string. */
static const char *run(struct run *r, const char *line)
{
	char buf[1024];
	struct resp_arg argv[32];
	uint32_t argc = 0;
	snprintf(buf, sizeof buf, "%s", line);
	for (char *p = buf; *p && argc < 32;) {
		char *e = strchr(p, ' ');
		if (e)
			*e = 0;
		if (!strcmp(p, "\"\""))
			*p = 0;
		argv[argc++] = (struct resp_arg){(const uint8_t *)p, strlen(p)};
		if (!e)
			break;
		p = e + 1;
	}
	r->out.len = 0;
	struct kv_ctx c = {&r->kv, argv, argc, &r->out, r->proto ? r->proto : 2, r->now};
	kv_exec(&c);
	rbuf_put(&r->out, "", 1);
	r->out.len--;
	return (const char *)r->out.p;
}

static void setup(struct run *r)
{
	memset(r, 0, sizeof *r);
	kv_init(&r->kv, 7);
	rbuf_init(&r->out);
	r->now = 1000000;
}

static void teardown(struct run *r)
{
	kv_free(&r->kv);
	rbuf_free(&r->out);
}

/* The reply must be exactly want (a literal: its bytes, NULs included). */
#define EXPECT(r, cmd, want) expect(r, cmd, want, sizeof(want) - 1)

static void expect(struct run *r, const char *cmd, const char *want, size_t n)
{
	run(r, cmd);
	if (r->out.len != n || memcmp(r->out.p, want, n))
		fail_msg("%s: got '%.*s', want '%s'", cmd, (int)r->out.len, (const char *)r->out.p,
			 want);
}

static void basics(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "SET k v", "+OK\r\n");
	EXPECT(&r, "get k", "$1\r\nv\r\n");
	EXPECT(&r, "GET nope", "$-1\r\n");
	r.proto = 3;
	EXPECT(&r, "GET nope", "_\r\n");
	r.proto = 2;
	EXPECT(&r, "APPEND k xy", ":3\r\n");
	EXPECT(&r, "SETRANGE k 5 z", ":6\r\n");
	EXPECT(&r, "GET k", "$6\r\nvxy\0\0z\r\n");
	EXPECT(&r, "GETRANGE k -3 -1", "$3\r\n\0\0z\r\n");
	EXPECT(&r, "MSET a 1 b 2", "+OK\r\n");
	EXPECT(&r, "MGET a b c", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
	EXPECT(&r, "MSETNX a 5 z 6", ":0\r\n");
	EXPECT(&r, "INCRBY a 41", ":42\r\n");
	EXPECT(&r, "INCRBYFLOAT b 0.5", "$3\r\n2.5\r\n");
	EXPECT(&r, "INCRBYFLOAT b -2.5", "$1\r\n0\r\n");
	EXPECT(&r, "RENAME a c", "+OK\r\n");
	EXPECT(&r, "EXISTS a c c", ":2\r\n");
	EXPECT(&r, "DEL a c nope", ":1\r\n");
	EXPECT(&r, "TYPE k", "+string\r\n");
	EXPECT(&r, "DBSIZE", ":2\r\n");
	EXPECT(&r, "FLUSHDB", "+OK\r\n");
	EXPECT(&r, "DBSIZE", ":0\r\n");
	EXPECT(&r, "RANDOMKEY", "$-1\r\n");
	teardown(&r);
}

static void errors(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "SET n 9223372036854775807", "+OK\r\n");
	EXPECT(&r, "INCR n", "-ERR increment or decrement would overflow\r\n");
	EXPECT(&r, "GET n", "$19\r\n9223372036854775807\r\n");
	EXPECT(&r, "DECRBY n -9223372036854775808", "-ERR decrement would overflow\r\n");
	EXPECT(&r, "INCRBY n x", "-ERR value is not an integer or out of range\r\n");
	EXPECT(&r, "SET s abc", "+OK\r\n");
	EXPECT(&r, "INCR s", "-ERR value is not an integer or out of range\r\n");
	EXPECT(&r, "INCRBYFLOAT s 1", "-ERR value is not a valid float\r\n");
	EXPECT(&r, "INCRBYFLOAT f inf", "-ERR increment would produce NaN or Infinity\r\n");
	EXPECT(&r, "SET k v EX 0", "-ERR invalid expire time in 'set' command\r\n");
	EXPECT(&r, "SET k v PX -1", "-ERR invalid expire time in 'set' command\r\n");
	EXPECT(&r, "SET k v EX 9223372036854775", "-ERR invalid expire time in 'set' command\r\n");
	EXPECT(&r, "SET k v EX x", "-ERR value is not an integer or out of range\r\n");
	EXPECT(&r, "SET k v NX XX", "-ERR syntax error\r\n");
	EXPECT(&r, "SET k v EX 1 PX 1", "-ERR syntax error\r\n");
	EXPECT(&r, "SETEX k 0 v", "-ERR invalid expire time in 'setex' command\r\n");
	EXPECT(&r, "EXPIRE s 10 NX XX",
	       "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
	EXPECT(&r, "EXPIRE s 10 GT LT",
	       "-ERR GT and LT options at the same time are not compatible\r\n");
	EXPECT(&r, "EXPIRE s 10 QQ", "-ERR Unsupported option QQ\r\n");
	EXPECT(&r, "EXPIRE s 9223372036854776", "-ERR invalid expire time in 'expire' command\r\n");
	EXPECT(&r, "SETRANGE s -1 x", "-ERR offset is out of range\r\n");
	/* a huge length is refused before anything is allocated */
	EXPECT(&r, "SETRANGE s 536870911 xy",
	       "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
	EXPECT(&r, "SETRANGE s 536870911 x", ":536870912\r\n");
	EXPECT(&r, "APPEND s y",
	       "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
	EXPECT(&r, "DEL s", ":1\r\n");
	EXPECT(&r, "MSET a", "-ERR wrong number of arguments for 'mset' command\r\n");
	EXPECT(&r, "MSET a 1 b", "-ERR wrong number of arguments for 'mset' command\r\n");
	EXPECT(&r, "RENAME nope x", "-ERR no such key\r\n");
	EXPECT(&r, "SCAN x", "-ERR invalid cursor\r\n");
	EXPECT(&r, "SCAN 0 COUNT 0", "-ERR syntax error\r\n");
	EXPECT(&r, "FLUSHALL now", "-ERR syntax error\r\n");
	EXPECT(&r, "SELECT 1", "-ERR DB index is out of range\r\n");
	EXPECT(&r, "NOSUCH a b",
	       "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n");
	teardown(&r);
}

/* Every command with one argument too few (and too many where fixed). */
static void arity(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	uint32_t n;
	const struct kv_cmd *t = kv_commands(&n);
	for (uint32_t i = 0; i < n; i++) {
		if (!t[i].fn)
			continue; /* the server's */
		int need = t[i].arity > 0 ? t[i].arity : -t[i].arity;
		char line[256], want[128];
		snprintf(want, sizeof want, "-ERR wrong number of arguments for '%s' command\r\n",
			 t[i].name);
		if (need > 1) { /* one argument too few */
			size_t n = (size_t)snprintf(line, sizeof line, "%s", t[i].name);
			for (int k = 2; k < need; k++)
				n += (size_t)snprintf(line + n, sizeof line - n, " x");
			expect(&r, line, want, strlen(want));
		}
		if (t[i].arity > 0) { /* one too many */
			size_t n = (size_t)snprintf(line, sizeof line, "%s", t[i].name);
			for (int k = 1; k <= need; k++)
				n += (size_t)snprintf(line + n, sizeof line - n, " x");
			expect(&r, line, want, strlen(want));
		}
	}
	teardown(&r);
}

static void expiry(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "SET k v PX 100", "+OK\r\n");
	EXPECT(&r, "PTTL k", ":100\r\n");
	EXPECT(&r, "TTL k", ":0\r\n");
	r.now += 99;
	EXPECT(&r, "GET k", "$1\r\nv\r\n");
	r.now += 1; /* at its expiry time it is gone, for reads and writes */
	EXPECT(&r, "GET k", "$-1\r\n");
	EXPECT(&r, "EXISTS k", ":0\r\n");
	EXPECT(&r, "TTL k", ":-2\r\n");
	EXPECT(&r, "DBSIZE", ":1\r\n"); /* until a write removes it */
	EXPECT(&r, "SETNX k w", ":1\r\n");
	EXPECT(&r, "TTL k", ":-1\r\n");
	EXPECT(&r, "EXPIRE k 100 XX", ":0\r\n");
	EXPECT(&r, "EXPIRE k 100 NX", ":1\r\n");
	EXPECT(&r, "EXPIRE k 50 GT", ":0\r\n");
	EXPECT(&r, "EXPIRE k 50 LT", ":1\r\n");
	EXPECT(&r, "TTL k", ":50\r\n");
	EXPECT(&r, "SET k v2 KEEPTTL", "+OK\r\n");
	EXPECT(&r, "TTL k", ":50\r\n");
	EXPECT(&r, "INCR k", "-ERR value is not an integer or out of range\r\n");
	EXPECT(&r, "GETEX k PERSIST", "$2\r\nv2\r\n");
	EXPECT(&r, "TTL k", ":-1\r\n");
	EXPECT(&r, "PEXPIREAT k 1", ":1\r\n"); /* in the past: deleted */
	EXPECT(&r, "DBSIZE", ":0\r\n");
	EXPECT(&r, "SET k v EXAT 1", "+OK\r\n"); /* already expired: gone at once */
	EXPECT(&r, "DBSIZE", ":0\r\n");
	EXPECT(&r, "SETEX k 10 v", "+OK\r\n");
	EXPECT(&r, "RENAME k j", "+OK\r\n");
	EXPECT(&r, "TTL j", ":10\r\n");
	EXPECT(&r, "PERSIST j", ":1\r\n");
	EXPECT(&r, "PERSIST j", ":0\r\n");
	/* active expiry: the leader's KEEL.EXPIRED removes a key only if its
	 * expiry is the one named and has passed at the entry's time */
	char line[128];
	EXPECT(&r, "SET x v PX 50", "+OK\r\n");
	snprintf(line, sizeof line, "KEEL.EXPIRED x %lld", (long long)(r.now + 50));
	EXPECT(&r, line, ":0\r\n"); /* not yet */
	r.now += 50;
	EXPECT(&r, "KEEL.EXPIRED x 1", ":0\r\n"); /* another expiry */
	EXPECT(&r, line, ":1\r\n");
	EXPECT(&r, "DBSIZE", ":1\r\n");
	EXPECT(&r, "KEEL.EXPIRED j",
	       "-ERR wrong number of arguments for 'keel.expired' command\r\n");
	teardown(&r);
}

static void globs(void **state)
{
	(void)state;
	struct {
		const char *pat, *s;
		bool match;
	} t[] = {
		{"*", "", false},
		/* as Redis: KEYS and SCAN treat a lone '*' apart */ {"*", "abc", true},
		{"a*", "abc", true},
		{"a*c", "abxc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[abc]x", "bx", true},
		{"[^abc]x", "bx", false},
		{"[a-c]x", "cx", true},
		{"[c-a]x", "bx", true},
		{"a\\*", "a*", true},
		{"a\\*", "ab", false},
		{"**b", "ab", true},
		{"[ab", "a", true},
		{"k[0-2]", "k3", false},
		{"h\\[llo", "h[llo", true},
		{"", "", true},
		{"", "a", false},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		bool m = kv_glob((const uint8_t *)t[i].pat, strlen(t[i].pat),
				 (const uint8_t *)t[i].s, strlen(t[i].s), false);
		if (m != t[i].match)
			fail_msg("glob '%s' on '%s': %d", t[i].pat, t[i].s, m);
	}
}

struct seen {
	uint8_t *hit;
};

static void mark(void *ctx, struct kv_entry *e)
{
	struct seen *s = ctx;
	s->hit[strtol((const char *)e->key + 1, NULL, 10)] = 1;
}

/* Keys present for a whole scan are returned, even while the table grows
 * in the middle of it; every key is found during an incremental rehash. */
static void dict_rehash_and_scan(void **state)
{
	(void)state;
	struct kv_dict d;
	kv_dict_init(&d, 1);
	char key[32];
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(key, sizeof key, "k%d", i);
		kv_dict_add(&d, (const uint8_t *)key, (size_t)n);
	}
	struct seen s = {calloc(20000, 1)};
	uint64_t cur = 0;
	int added = 1000, steps = 0;
	do {
		cur = kv_dict_scan(&d, cur, mark, &s);
		for (int k = 0; k < 50 && added < 20000; k++, added++) { /* grow meanwhile */
			int n = snprintf(key, sizeof key, "k%d", added);
			kv_dict_add(&d, (const uint8_t *)key, (size_t)n);
		}
		steps++;
	} while (cur);
	for (int i = 0; i < 1000; i++)
		if (!s.hit[i])
			fail_msg("scan missed k%d", i);
	assert_int_equal(kv_dict_size(&d), (uint64_t)added);
	for (int i = 0; i < added; i++) {
		int n = snprintf(key, sizeof key, "k%d", i);
		assert_non_null(kv_dict_find(&d, (const uint8_t *)key, (size_t)n));
	}
	for (int i = 0; i < added; i += 2) {
		int n = snprintf(key, sizeof key, "k%d", i);
		assert_true(kv_dict_delete(&d, (const uint8_t *)key, (size_t)n));
	}
	assert_int_equal(kv_dict_size(&d), (uint64_t)added / 2);
	free(s.hit);
	kv_dict_free(&d);
}

static void snapshot_round_trip(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "SET a 1", "+OK\r\n");
	EXPECT(&r, "SET b 2 PX 5000", "+OK\r\n");
	EXPECT(&r, "SET c 3 PX 10", "+OK\r\n");
	r.now += 10; /* c has expired: not in the snapshot */
	kv_session_record(&r.kv, 77, 5, 5, (const uint8_t *)":3\r\n", 4);
	struct rbuf snap;
	rbuf_init(&snap);
	kv_snapshot_write(&r.kv, r.now, &snap);
	struct kv copy;
	kv_init(&copy, 99);
	assert_int_equal(kv_snapshot_read(&copy, snap.p, snap.len), KEEL_OK);
	struct run r2 = r;
	r2.kv = copy;
	EXPECT(&r2, "DBSIZE", ":2\r\n");
	EXPECT(&r2, "GET a", "$1\r\n1\r\n");
	EXPECT(&r2, "PTTL b", ":4990\r\n");
	const uint8_t *reply;
	size_t rlen;
	/* sessions travel too */
	assert_int_equal(kv_session_check(&copy, 77, 5, &reply, &rlen), KV_SESSION_REPLY);
	assert_memory_equal(reply, ":3\r\n", 4);
	assert_int_equal(kv_session_check(&copy, 78, 1, &reply, &rlen), KV_SESSION_NEW);
	/* a flipped byte anywhere is refused, and changes nothing */
	for (size_t i = 0; i < snap.len; i++) {
		snap.p[i] ^= 0x20;
		struct kv bad;
		kv_init(&bad, 1);
		assert_int_equal(kv_snapshot_read(&bad, snap.p, snap.len), KEEL_ECORRUPT);
		assert_int_equal(kv_dict_size(&bad.dict), 0);
		kv_free(&bad);
		snap.p[i] ^= 0x20;
	}
	assert_int_equal(kv_snapshot_read(&copy, snap.p, snap.len - 1), KEEL_ECORRUPT);
	kv_free(&copy);
	rbuf_free(&snap);
	teardown(&r);
}

/* The session table keeps the reply of every request its connection has
 * not been given (at or above the ack its requests carry), drops them as
 * the ack passes them (but for the newest), tells a request never applied
 * from one whose reply was given or dropped, and keeps within its bound. */
static void session_keeps_unanswered_replies(void **state)
{
	(void)state;
	struct kv kv;
	kv_init(&kv, 5);
	const uint8_t *reply;
	size_t len;
	char buf[32];
	for (uint64_t seq = 1; seq <= 4; seq++) { /* four writes in flight, ack 1 */
		int n = snprintf(buf, sizeof buf, ":%llu\r\n", (unsigned long long)seq);
		assert_int_equal(kv_session_check(&kv, 9, seq, &reply, &len), KV_SESSION_NEW);
		kv_session_record(&kv, 9, seq, 1, (const uint8_t *)buf, (size_t)n);
	}
	for (uint64_t seq = 1; seq <= 4; seq++) { /* each one's own reply */
		int n = snprintf(buf, sizeof buf, ":%llu\r\n", (unsigned long long)seq);
		assert_int_equal(kv_session_check(&kv, 9, seq, &reply, &len), KV_SESSION_REPLY);
		assert_int_equal(len, (size_t)n);
		assert_memory_equal(reply, buf, len);
	}
	assert_int_equal(kv_session_check(&kv, 9, 5, &reply, &len), KV_SESSION_NEW);
	/* seq 6 applied with ack 3: 1 and 2 were answered, 5 was passed over */
	kv_session_record(&kv, 9, 6, 3, (const uint8_t *)"+OK\r\n", 5);
	assert_int_equal(kv_session_check(&kv, 9, 1, &reply, &len), KV_SESSION_ANSWERED);
	assert_int_equal(kv_session_check(&kv, 9, 2, &reply, &len), KV_SESSION_ANSWERED);
	assert_int_equal(kv_session_check(&kv, 9, 3, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_check(&kv, 9, 5, &reply, &len), KV_SESSION_PASSED);
	assert_int_equal(kv_session_check(&kv, 9, 6, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_kept(&kv, 9), 3); /* 3, 4, 6 */
	/* ack past everything: the newest is still kept (CLIENT SESSION resume) */
	kv_session_record(&kv, 9, 7, 100, (const uint8_t *)"+A\r\n", 4);
	assert_int_equal(kv_session_kept(&kv, 9), 1);
	assert_int_equal(kv_session_check(&kv, 9, 7, &reply, &len), KV_SESSION_REPLY);
	/* over the byte bound the oldest replies are dropped, not forgotten */
	size_t big = KV_SESSION_KEEP_BYTES / 3;
	uint8_t *v = calloc(1, KV_SESSION_KEEP_BYTES + 1);
	for (uint64_t seq = 101; seq <= 104; seq++)
		kv_session_record(&kv, 9, seq, 101, v, big);
	assert_int_equal(kv_session_check(&kv, 9, 101, &reply, &len), KV_SESSION_APPLIED);
	assert_int_equal(kv_session_check(&kv, 9, 102, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_check(&kv, 9, 104, &reply, &len), KV_SESSION_REPLY);
	kv_session_record(&kv, 9, 105, 101, v, KV_SESSION_KEEP_BYTES + 1); /* alone too big */
	assert_int_equal(kv_session_check(&kv, 9, 105, &reply, &len), KV_SESSION_APPLIED);
	free(v);
	/* the older layout (seq, reply) is still read */
	uint8_t old[12];
	bytes_put_u64(old, 40);
	memcpy(old + 8, ":1\r\n", 4);
	uint8_t key[8];
	bytes_put_u64(key, 10);
	kv_entry_set(kv_dict_add(&kv.sessions, key, 8), old, sizeof old);
	assert_int_equal(kv_session_check(&kv, 10, 40, &reply, &len), KV_SESSION_REPLY);
	assert_memory_equal(reply, ":1\r\n", 4);
	assert_int_equal(kv_session_check(&kv, 10, 39, &reply, &len), KV_SESSION_PASSED);
	assert_int_equal(kv_session_check(&kv, 10, 41, &reply, &len), KV_SESSION_NEW);
	kv_free(&kv);
}

/* The stream restored as it arrives, in pieces of every size from 1 byte:
 * the same keyspace as a whole read; a cut stream, a byte too many and a
 * flipped byte are refused, and leave the keyspace it was to replace as it
 * was. */
static void snapshot_in_pieces(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	char cmd[512];
	for (int i = 0; i < 50; i++) {
		snprintf(cmd, sizeof cmd, "SET key:%d %0*d", i, 1 + i * 7, i);
		EXPECT(&r, cmd, "+OK\r\n");
	}
	kv_session_record(&r.kv, 77, 5, 5, (const uint8_t *)":3\r\n", 4);
	struct rbuf snap;
	rbuf_init(&snap);
	kv_snapshot_write(&r.kv, r.now, &snap);
	for (size_t piece = 1; piece < snap.len + 1; piece += piece < 20 ? 1 : 97) {
		struct kv_restore rs;
		kv_restore_init(&rs, 5);
		for (size_t at = 0; at < snap.len; at += piece) {
			size_t n = snap.len - at < piece ? snap.len - at : piece;
			if (kv_restore_feed(&rs, snap.p + at, n) != KEEL_OK)
				fail_msg("pieces of %zu: refused at %zu of %zu", piece, at,
					 snap.len);
		}
		struct kv got;
		kv_init(&got, 6);
		if (kv_restore_finish(&rs, &got) != KEEL_OK)
			fail_msg("pieces of %zu: the whole stream is refused", piece);
		assert_int_equal(kv_dict_size(&got.dict), 50);
		struct run r2 = r;
		r2.kv = got;
		EXPECT(&r2, "GET key:3", "$22\r\n0000000000000000000003\r\n");
		kv_free(&got);
	}
	struct kv keep;
	kv_init(&keep, 7);
	kv_entry_set(kv_dict_add(&keep.dict, (const uint8_t *)"x", 1), (const uint8_t *)"1", 1);
	for (int how = 0; how < 3; how++) { /* cut, one byte too many, flipped */
		struct kv_restore rs;
		kv_restore_init(&rs, 5);
		if (how == 2)
			snap.p[snap.len / 2] ^= 1;
		int rc = kv_restore_feed(&rs, snap.p, how == 0 ? snap.len - 1 : snap.len);
		if (how == 1 && rc == KEEL_OK)
			rc = kv_restore_feed(&rs, (const uint8_t *)"!", 1);
		if (rc == KEEL_OK)
			rc = kv_restore_finish(&rs, &keep);
		else
			kv_restore_free(&rs);
		assert_int_equal(rc, KEEL_ECORRUPT);
		assert_int_equal(kv_dict_size(&keep.dict), 1);
	}
	kv_free(&keep);
	rbuf_free(&snap);
	teardown(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basics),
		cmocka_unit_test(errors),
		cmocka_unit_test(arity),
		cmocka_unit_test(expiry),
		cmocka_unit_test(globs),
		cmocka_unit_test(dict_rehash_and_scan),
		cmocka_unit_test(snapshot_round_trip),
		cmocka_unit_test(session_keeps_unanswered_replies),
		cmocka_unit_test(snapshot_in_pieces),
	};
	return UNIT_RUN("kv", tests);
}
