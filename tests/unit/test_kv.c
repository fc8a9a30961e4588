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
#include "base/crc32c.h"
#include "kv/snapshot.h"
#include "resp/encode.h"

#include "kv_edges.h"

struct run {
	struct kv kv;
	struct rbuf out;
	int64_t now;
	int proto;
	uint32_t db;  /* the connection's database: SELECT changes it */
	uint32_t dbs; /* the databases commands may name (0: the keyspace's) */

	uint64_t session; /* the request's session (0: the leader's own) */
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
	struct kv_ctx c = {.kv = &r->kv,
			   .argv = argv,
			   .argc = argc,
			   .out = &r->out,
			   .proto = r->proto ? r->proto : 2,
			   .now_ms = r->now,
			   .db = r->db,
			   .dbs = r->dbs,
			   .session = r->session};
	kv_exec(&c);
	r->db = c.db;
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
	EXPECT(&r, "SELECT 16", "-ERR DB index is out of range\r\n");
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

/* CRC16-XMODEM a bit at a time, straight from its definition: what the
 * byte-at-a-time table of kv/slot.c must agree with. */
static uint16_t crc16_bitwise(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

/* kv_crc16 against the bit-at-a-time definition: every single byte (each
 * entry of the table), every pair of bytes, and longer pseudo-random
 * strings (every entry reached from every register state). */
static void crc16_table(void **state)
{
	(void)state;
	uint8_t b[64];
	for (uint32_t x = 0; x < 65536; x++) {
		b[0] = (uint8_t)(x >> 8);
		b[1] = (uint8_t)x;
		assert_int_equal(kv_crc16(b + 1, 1), crc16_bitwise(b + 1, 1));
		assert_int_equal(kv_crc16(b, 2), crc16_bitwise(b, 2));
	}
	uint64_t r = 88172645463325252ull;
	for (int k = 0; k < 2000; k++) {
		size_t n = (size_t)(k % 64) + 1;
		for (size_t i = 0; i < n; i++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			b[i] = (uint8_t)r;
		}
		assert_int_equal(kv_crc16(b, n), crc16_bitwise(b, n));
	}
}

/* Hash slots: CRC16-XMODEM's check value (the cluster specification gives
 * 0x31C3 for "123456789"), then keys whose slots are redis-server 7.0.15's
 * answers to CLUSTER KEYSLOT (with --cluster-enabled yes): plain keys, hash
 * tags, an empty tag (the whole key is hashed), the first tag only, a '{'
 * with no '}' after it. Then every key sharing a tag shares its slot, and
 * every slot is below 16384. */
static void slots(void **state)
{
	(void)state;
	assert_int_equal(kv_crc16((const uint8_t *)"123456789", 9), 0x31C3);
	struct {
		const char *key;
		uint16_t slot;
	} t[] = {
		{"123456789", 12739},
		{"foo", 12182},
		{"bar", 5061},
		{"somekey", 11058},
		{"foo{hash_tag}", 2515},
		{"bar{hash_tag}", 2515},
		{"{user1000}.following", 3443},
		{"foo{}{bar}", 8363},
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"", 0},
		{"{", 4092},
		{"}", 12090},
		{"{}", 15257},
		{"a{b", 13340},
		{"{a}", 15495},
		{"x{ab}", 13567},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint16_t got = kv_slot((const uint8_t *)t[i].key, strlen(t[i].key));
		if (got != t[i].slot)
			fail_msg("slot of '%s': %u, redis-server says %u", t[i].key, got,
				 t[i].slot);
	}
	uint8_t key[40];
	for (uint32_t n = 0; n < 2000; n++) {
		int len = snprintf((char *)key, sizeof key, "pre%u{tag%u}post%u", n, n % 7, n * 31);
		char tag[16];
		int tl = snprintf(tag, sizeof tag, "tag%u", n % 7);
		assert_int_equal(kv_slot(key, (size_t)len),
				 kv_slot((const uint8_t *)tag, (size_t)tl));
		assert_true(kv_slot(key, (size_t)len - 1) < KV_SLOTS);
	}
}

/* Every integer argument at its edges (tests/unit/kv_edges.h): keel's
 * reply is redis-server's, byte for byte, and nothing overflows (UBSan
 * stops the suite at the first signed overflow). The keyspace's time is
 * near the one the replies were taken at (2026), so the same expiry
 * times are in the past and in the future on both sides. */
static void edge_values(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	r.now = 1780000000000;
	for (size_t i = 0; i < sizeof edge_cases / sizeof edge_cases[0]; i++) {
		const struct edge_case *t = &edge_cases[i];
		if (!strcmp(t->reply, "*2 (scan)")) {
			const char *got = run(&r, t->cmd);
			if (strncmp(got, "*2\r\n$", 5))
				fail_msg("%s: got '%s', want a cursor and keys", t->cmd, got);
			continue;
		}
		expect(&r, t->cmd, t->reply, strlen(t->reply));
	}
	teardown(&r);
}

/* The sizes that would pass KV_STRING_MAX are refused before anything is
 * allocated (a test of 512 MiB strings themselves would need the memory). */
static void string_limit_without_allocating(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	const char *too_big = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
	EXPECT(&r, "SET foo bar", "+OK\r\n");
	expect(&r, "SETRANGE foo 9223372036854775807 x", too_big, strlen(too_big));
	expect(&r, "SETRANGE foo 9223372036854775806 xy", too_big, strlen(too_big));
	expect(&r, "SETRANGE foo 536870912 x", too_big, strlen(too_big));
	expect(&r, "SETRANGE foo 536870911 xy", too_big, strlen(too_big));
	expect(&r, "SETRANGE new 536870912 x", too_big, strlen(too_big));
	EXPECT(&r, "EXISTS new", ":0\r\n");
	EXPECT(&r, "GET foo", "$3\r\nbar\r\n");
	/* the limit itself is reached without allocating it: an empty write */
	EXPECT(&r, "SETRANGE foo 536870911 \"\"", ":3\r\n");
	/* APPEND is checked by the same rule: a value made to look 512 MiB
	 * long (its bytes are never read: APPEND refuses before copying) */
	struct resp_arg key = {(const uint8_t *)"foo", 3};
	struct kv_entry *e = kv_dict_find(&r.kv.db[0], key.p, key.len);
	assert_non_null(e);
	size_t real = e->vlen;
	e->vlen = (size_t)536870911;
	expect(&r, "APPEND foo xy", too_big, strlen(too_big));
	EXPECT(&r, "APPEND foo \"\"", ":536870911\r\n");
	e->vlen = real;
	EXPECT(&r, "GET foo", "$3\r\nbar\r\n");
	teardown(&r);
}

/* Times near the ends of int64 with a keyspace clock near 0 or negative
 * (an entry's time is the leader's; a test or a fuzzer may give any):
 * TTL's rounding and the expiry arithmetic never overflow. */
static void expiry_arithmetic_at_the_edges(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	r.now = 0;
	EXPECT(&r, "SET k v", "+OK\r\n");
	EXPECT(&r, "PEXPIREAT k 9223372036854775807", ":1\r\n");
	EXPECT(&r, "PTTL k", ":9223372036854775807\r\n");
	EXPECT(&r, "TTL k", ":9223372036854776\r\n");
	EXPECT(&r, "PEXPIREAT k 9223372036854775499", ":1\r\n");
	EXPECT(&r, "TTL k", ":9223372036854775\r\n");
	EXPECT(&r, "PEXPIRE k 9223372036854775807", ":1\r\n");
	EXPECT(&r, "SET k v PX 9223372036854775807", "+OK\r\n");
	r.now = 1;
	EXPECT(&r, "PEXPIRE k 9223372036854775807",
	       "-ERR invalid expire time in 'pexpire' command\r\n");
	EXPECT(&r, "SET k v PX 9223372036854775807",
	       "-ERR invalid expire time in 'set' command\r\n");
	EXPECT(&r, "GETEX k PX 9223372036854775807",
	       "-ERR invalid expire time in 'getex' command\r\n");
	r.now = -5000; /* a clock before 1970 */
	EXPECT(&r, "SET k v PXAT 9223372036854775807", "+OK\r\n");
	EXPECT(&r, "PTTL k", ":9223372036854775807\r\n");
	EXPECT(&r, "PEXPIRE k -9223372036854775808",
	       "-ERR invalid expire time in 'pexpire' command\r\n");
	EXPECT(&r, "EXISTS k", ":1\r\n");
	EXPECT(&r, "SET k v PX 9223372036854775807", "+OK\r\n");
	teardown(&r);
}

/* SCAN's COUNT at the top of int64: ten buckets a key asked for would
 * overflow; it saturates (the whole table, as a full scan). */
static void scan_count_at_the_edge(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "MSET a 1 b 2 c 3", "+OK\r\n");
	const char *got = run(&r, "SCAN 0 COUNT 9223372036854775807");
	assert_true(!strncmp(got, "*2\r\n$1\r\n0\r\n*3\r\n", 15));
	got = run(&r, "SCAN 18446744073709551615 COUNT 922337203685477580");
	assert_true(!strncmp(got, "*2\r\n", 4));
	EXPECT(&r, "SCAN 18446744073709551616", "-ERR invalid cursor\r\n");
	teardown(&r);
}

/* Redis 7.2's (and 7.0.15's) nesting limit: a match that needs more than
 * 1000 stars nested fails, whatever the pattern's length, so 200,000
 * stars take a bounded stack. The figures are redis-server 7.0.15's. */
static void glob_nesting_bounded(void **state)
{
	(void)state;
	size_t n = 200000;
	uint8_t *pat = malloc(2 * n + 2), *s = malloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		pat[2 * i] = '*';
		pat[2 * i + 1] = 'a';
		s[i] = 'a';
	}
	pat[2 * n] = 'b';
	assert_false(kv_glob(pat, 2 * n + 1, s, n, false));
	memset(pat, '*', 2 * n);
	memcpy(pat + 2 * n, "ab", 2);
	assert_false(kv_glob(pat, 2 * n + 2, s, n, false)); /* a run of stars is one */
	assert_true(kv_glob(pat, 2 * n + 1, s, n, false));
	/* "*a" x k then "*" against 3000 a's: matches up to k = 1000 */
	for (size_t k = 998; k <= 1002; k++) {
		for (size_t i = 0; i < k; i++) {
			pat[2 * i] = '*';
			pat[2 * i + 1] = 'a';
		}
		pat[2 * k] = '*';
		bool m = kv_glob(pat, 2 * k + 1, s, 3000, false);
		if (m != (k <= 1000))
			fail_msg("%zu times '*a' then '*': %d", k, m);
	}
	/* "a*" x k (then "a") against 1200 a's */
	for (size_t k = 999; k <= 1001; k++) {
		for (size_t i = 0; i < k; i++) {
			pat[2 * i] = 'a';
			pat[2 * i + 1] = '*';
		}
		pat[2 * k] = 'a';
		assert_true(kv_glob(pat, 2 * k, s, 1200, false));
		bool m = kv_glob(pat, 2 * k + 1, s, 1200, false);
		if (m != (k <= 1000))
			fail_msg("%zu times 'a*' then 'a': %d", k, m);
	}
	free(pat);
	free(s);
}

struct seen {
	uint8_t *hit;
};

static void mark(void *ctx, struct kv_entry *e)
{
	struct seen *s = ctx;
	s->hit[strtol((const char *)e->key + 1, NULL, 10)] = 1;
}

/* A lookup's memory fetched ahead: the bucket's hash is the entry's, in
 * an empty table, a growing one (both tables) and a steady one, and
 * fetching changes nothing (no rehash step, no entry). */
static void dict_prefetch(void **state)
{
	(void)state;
	struct kv_dict d;
	kv_dict_init(&d, 7);
	struct kv_prefetch p;
	p.n = 0;
	kv_prefetch_add(&p, &d, (const uint8_t *)"k", 1);
	kv_prefetch_entries(&p); /* no table yet */
	assert_int_equal(kv_dict_size(&d), 0);
	char key[32];
	bool rehashing_seen = false;
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(key, sizeof key, "k%d", i);
		kv_dict_add(&d, (const uint8_t *)key, (size_t)n);
		int64_t rehash = d.rehash;
		rehashing_seen |= rehash >= 0;
		p.n = 0;
		for (int j = 0; j < 8 && j <= i; j++) { /* the newest and some before */
			int m = snprintf(key, sizeof key, "k%d", i - j);
			kv_prefetch_add(&p, &d, (const uint8_t *)key, (size_t)m);
		}
		kv_prefetch_add(&p, &d, (const uint8_t *)"absent", 6);
		kv_prefetch_entries(&p);
		assert_int_equal(p.n, (i < 8 ? i + 1 : 8) + 1);
		assert_int_equal(d.rehash, rehash); /* no step taken */
		assert_int_equal(kv_dict_size(&d), (uint64_t)i + 1);
		for (uint32_t j = 0; j + 1 < p.n; j++) {
			int m = snprintf(key, sizeof key, "k%d", i - (int)j);
			struct kv_entry *e = kv_dict_find(&d, (const uint8_t *)key, (size_t)m);
			assert_non_null(e);
			assert_int_equal(e->hash, p.h[j]);
			assert_ptr_equal(p.d[j], &d);
		}
	}
	assert_true(rehashing_seen);
	kv_dict_free(&d);
}

/* A table that remembers its last entry (kv_dict_remember) against one
 * that does not, the same operations on both: a few keys (the empty one
 * among them) found, added, deleted, found again right after a delete or
 * an add, and the tables freed now and then. Each find returns the same
 * key and value in both, and both take the same rehash steps. A
 * remembered entry returned after its delete is a use after free (ASan)
 * or a wrong answer. */
static void dict_remember(void **state)
{
	(void)state;
	struct kv_dict a, b;
	kv_dict_init(&a, 11);
	kv_dict_init(&b, 11);
	kv_dict_remember(&a);
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		char key[16];
		int n = (int)(x % 40) ? snprintf(key, sizeof key, "s%u", (unsigned)(x >> 8) % 24)
				      : 0;
		const uint8_t *k = (const uint8_t *)key;
		switch ((x >> 32) % 16) {
		case 0:
		case 1:
		case 2:
			assert_int_equal(kv_dict_delete(&a, k, (size_t)n),
					 kv_dict_delete(&b, k, (size_t)n));
			break;
		case 3:
			if (x % 7 == 0) {
				kv_dict_free(&a);
				kv_dict_free(&b);
			}
			break;
		default: {
			struct kv_entry *ea = kv_dict_find(&a, k, (size_t)n);
			struct kv_entry *eb = kv_dict_find(&b, k, (size_t)n);
			assert_int_equal(!ea, !eb);
			if (!ea) {
				ea = kv_dict_add(&a, k, (size_t)n);
				eb = kv_dict_add(&b, k, (size_t)n);
				kv_entry_set(ea, (const uint8_t *)&i, sizeof i);
				kv_entry_set(eb, (const uint8_t *)&i, sizeof i);
			}
			assert_ptr_equal(a.last, ea); /* what it found or added */
			assert_null(b.last);
			assert_int_equal(ea->klen, (uint32_t)n);
			assert_memory_equal(ea->key, key, (size_t)n);
			assert_int_equal(ea->vlen, eb->vlen);
			assert_memory_equal(ea->val, eb->val, ea->vlen);
		}
		}
		assert_int_equal(kv_dict_size(&a), kv_dict_size(&b));
		assert_int_equal(a.rehash, b.rehash);
		assert_int_equal(a.t[0].size, b.t[0].size);
	}
	kv_dict_free(&a);
	kv_dict_free(&b);
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

/* d's slot lists against its table: every entry of slot s's list is in
 * the table and of slot s, linked both ways; every entry of the table is
 * in its slot's list once. */
struct slot_count {
	uint64_t *n;
};

static void count_slot(void *ctx, struct kv_entry *e)
{
	((struct slot_count *)ctx)->n[kv_slot(e->key, e->klen)]++;
}

static void check_slot_lists(struct kv_dict *d)
{
	struct slot_count c = {calloc(KV_SLOTS, sizeof *c.n)};
	kv_dict_each(d, count_slot, &c);
	uint64_t total = 0;
	for (uint32_t s = 0; s < KV_SLOTS; s++) {
		uint64_t n = 0;
		for (struct kv_entry *e = kv_dict_slot_first(d, (uint16_t)s); e;
		     e = e->snext, n++) {
			assert_int_equal(kv_slot(e->key, e->klen), s);
			assert_ptr_equal(*e->sprev, e);
			assert_ptr_equal(kv_dict_find(d, e->key, e->klen), e);
		}
		if (n != c.n[s])
			fail_msg("slot %u: %llu in its list, %llu in the table", s,
				 (unsigned long long)n, (unsigned long long)c.n[s]);
		total += n;
	}
	assert_int_equal(total, kv_dict_size(d));
	free(c.n);
}

/* A keyspace's table lists its entries by slot through adds, deletes
 * (first, middle and last of a list), a rehash, a held table and a
 * flush; keys of one hash tag share a list; edge keys (empty, braces
 * alone, an empty tag) are in the slots Redis gives them; a table not
 * listed by slot has no lists. */
static void dict_slot_lists(void **state)
{
	(void)state;
	struct kv_dict d, plain;
	kv_dict_init(&d, 7);
	kv_dict_by_slot(&d);
	kv_dict_init(&plain, 7);
	static const char *edge[] = {"", "{", "}", "{}", "{}x", "}{a}", "{a}", "a", "{{a}}"};
	for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
		kv_dict_add(&d, (const uint8_t *)edge[i], strlen(edge[i]));
		kv_dict_add(&plain, (const uint8_t *)edge[i], strlen(edge[i]));
	}
	check_slot_lists(&d);
	assert_null(kv_dict_slot_first(&plain, kv_slot((const uint8_t *)"a", 1)));
	/* "{a}", "a" and "}{a}" share slot 15495; "{{a}}" hashes "{a" */
	uint16_t a = kv_slot((const uint8_t *)"a", 1);
	uint32_t in_a = 0;
	for (struct kv_entry *e = kv_dict_slot_first(&d, a); e; e = e->snext)
		in_a++;
	assert_int_equal(in_a, 3);
	/* random adds and deletes over keys of a few tags, the table growing
	 * (and held for a while) meanwhile */
	uint64_t x = 12345;
	char key[32];
	for (int i = 0; i < 40000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		int n = (x >> 33) % 4
				? snprintf(key, sizeof key, "{t%u}k%u", (unsigned)(x >> 40) % 5,
					   (unsigned)(x >> 20) % 3000)
				: snprintf(key, sizeof key, "k%u", (unsigned)(x >> 20) % 3000);
		if (i == 10000)
			kv_dict_hold(&d, true);
		if (i == 20000)
			kv_dict_hold(&d, false);
		if ((x >> 60) < 11) {
			if (!kv_dict_find(&d, (const uint8_t *)key, (size_t)n))
				kv_dict_add(&d, (const uint8_t *)key, (size_t)n);
		} else {
			kv_dict_delete(&d, (const uint8_t *)key, (size_t)n);
		}
		if (i % 5000 == 0)
			check_slot_lists(&d);
	}
	check_slot_lists(&d);
	assert_true(kv_dict_size(&d) > 1000);
	/* every key of one tag's slot deleted from the list's head on */
	uint16_t t1 = kv_slot((const uint8_t *)"t1", 2);
	for (struct kv_entry *e; (e = kv_dict_slot_first(&d, t1));)
		assert_true(kv_dict_delete(&d, e->key, e->klen));
	check_slot_lists(&d);
	kv_dict_free(&d);
	for (uint32_t s = 0; s < KV_SLOTS; s++)
		assert_null(kv_dict_slot_first(&d, (uint16_t)s));
	kv_dict_add(&d, (const uint8_t *)"a", 1); /* still listed by slot */
	assert_non_null(kv_dict_slot_first(&d, a));
	check_slot_lists(&d);
	kv_dict_free(&d);
	kv_dict_free(&plain);
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
	kv_session_record(&r.kv, 77, 5, 5, 1000, (const uint8_t *)":3\r\n", 4);
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
	check_slot_lists(&copy.db[0]); /* a loaded keyspace is listed by slot too */
	assert_non_null(kv_dict_slot_first(&copy.db[0], kv_slot((const uint8_t *)"a", 1)));
	const uint8_t *reply;
	size_t rlen;
	/* sessions travel too */
	assert_int_equal(kv_session_check(&copy, 77, 5, 5, &reply, &rlen), KV_SESSION_REPLY);
	assert_memory_equal(reply, ":3\r\n", 4);
	assert_int_equal(kv_session_check(&copy, 78, 1, 1, &reply, &rlen), KV_SESSION_NEW);
	/* a flipped byte anywhere is refused, and changes nothing */
	for (size_t i = 0; i < snap.len; i++) {
		snap.p[i] ^= 0x20;
		struct kv bad;
		kv_init(&bad, 1);
		assert_int_equal(kv_snapshot_read(&bad, snap.p, snap.len), KEEL_ECORRUPT);
		assert_int_equal(kv_keys_total(&bad), 0);
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
/* kv_session_refused_last: only for the request right after the newest
 * one recorded, and only when that one's reply is a slot's refusal, whole
 * (a reply that merely ends like one, or a dropped one, is not). */
static void session_refused_last(void **state)
{
	(void)state;
	struct kv kv;
	kv_init(&kv, 5);
	static const char moved[] = "-TRYAGAIN slot 42 is being moved to another shard; not "
				    "applied\r\n";
	static const char other[] = "-TRYAGAIN slot 7 is served by another shard; not applied\r\n";
	assert_false(kv_session_refused_last(&kv, 9, 1)); /* no session */
	kv_session_record(&kv, 9, 1, 1, 1000, (const uint8_t *)"+OK\r\n", 5);
	assert_false(kv_session_refused_last(&kv, 9, 2));
	kv_session_record(&kv, 9, 2, 1, 1000, (const uint8_t *)moved, sizeof moved - 1);
	assert_true(kv_session_refused_last(&kv, 9, 3));
	assert_false(kv_session_refused_last(&kv, 9, 2)); /* not after it */
	assert_false(kv_session_refused_last(&kv, 9, 4));
	assert_false(kv_session_refused_last(&kv, 8, 3)); /* another session */
	assert_false(kv_session_refused_last(&kv, 0, 3));
	kv_session_record(&kv, 9, 3, 1, 1000, (const uint8_t *)other, sizeof other - 1);
	assert_true(kv_session_refused_last(&kv, 9, 4));
	/* a reply that ends as a refusal does, but is a value: not one */
	static const char bulk[] = "$15\r\n; not applied\r\n";
	kv_session_record(&kv, 9, 4, 1, 1000, (const uint8_t *)bulk, sizeof bulk - 1);
	assert_false(kv_session_refused_last(&kv, 9, 5));
	static const char err[] = "-ERR not a slot's refusal, though; not applied\r\n";
	kv_session_record(&kv, 9, 5, 1, 1000, (const uint8_t *)err, sizeof err - 1);
	assert_false(kv_session_refused_last(&kv, 9, 6));
	/* the shortest refusal: its two ends, nothing between */
	static const char bare[] = "-TRYAGAIN slot ; not applied\r\n";
	kv_session_record(&kv, 9, 6, 1, 1000, (const uint8_t *)bare, sizeof bare - 1);
	assert_true(kv_session_refused_last(&kv, 9, 7));
	/* a refusal recorded after its ack moved past the rest */
	kv_session_record(&kv, 9, 7, 7, 1000, (const uint8_t *)moved, sizeof moved - 1);
	assert_int_equal(kv_session_kept(&kv, 9), 1);
	assert_true(kv_session_refused_last(&kv, 9, 8));
	kv_session_record(&kv, 9, 8, 7, 1000, (const uint8_t *)"+OK\r\n", 5);
	assert_false(kv_session_refused_last(&kv, 9, 9));
	kv_free(&kv);
}

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
		assert_int_equal(kv_session_check(&kv, 9, seq, seq, &reply, &len), KV_SESSION_NEW);
		kv_session_record(&kv, 9, seq, 1, 1000, (const uint8_t *)buf, (size_t)n);
	}
	for (uint64_t seq = 1; seq <= 4; seq++) { /* each one's own reply */
		int n = snprintf(buf, sizeof buf, ":%llu\r\n", (unsigned long long)seq);
		assert_int_equal(kv_session_check(&kv, 9, seq, seq, &reply, &len),
				 KV_SESSION_REPLY);
		assert_int_equal(len, (size_t)n);
		assert_memory_equal(reply, buf, len);
	}
	assert_int_equal(kv_session_check(&kv, 9, 5, 5, &reply, &len), KV_SESSION_NEW);
	/* seq 6 applied with ack 3: 1 and 2 were answered, 5 was passed over */
	kv_session_record(&kv, 9, 6, 3, 1000, (const uint8_t *)"+OK\r\n", 5);
	assert_int_equal(kv_session_check(&kv, 9, 1, 1, &reply, &len), KV_SESSION_ANSWERED);
	assert_int_equal(kv_session_check(&kv, 9, 2, 2, &reply, &len), KV_SESSION_ANSWERED);
	assert_int_equal(kv_session_check(&kv, 9, 3, 3, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_check(&kv, 9, 5, 5, &reply, &len), KV_SESSION_PASSED);
	assert_int_equal(kv_session_check(&kv, 9, 6, 6, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_kept(&kv, 9), 3); /* 3, 4, 6 */
	/* ack past everything: the newest is still kept (CLIENT SESSION resume) */
	kv_session_record(&kv, 9, 7, 100, 1000, (const uint8_t *)"+A\r\n", 4);
	assert_int_equal(kv_session_kept(&kv, 9), 1);
	assert_int_equal(kv_session_check(&kv, 9, 7, 7, &reply, &len), KV_SESSION_REPLY);
	/* over the byte bound the oldest replies are dropped, not forgotten */
	size_t big = KV_SESSION_KEEP_BYTES / 3;
	uint8_t *v = calloc(1, KV_SESSION_KEEP_BYTES + 1);
	for (uint64_t seq = 101; seq <= 104; seq++)
		kv_session_record(&kv, 9, seq, 101, 1000, v, big);
	assert_int_equal(kv_session_check(&kv, 9, 101, 101, &reply, &len), KV_SESSION_APPLIED);
	assert_int_equal(kv_session_check(&kv, 9, 102, 102, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_check(&kv, 9, 104, 104, &reply, &len), KV_SESSION_REPLY);
	kv_session_record(&kv, 9, 105, 101, 1000, v, KV_SESSION_KEEP_BYTES + 1); /* alone too big */
	assert_int_equal(kv_session_check(&kv, 9, 105, 105, &reply, &len), KV_SESSION_APPLIED);
	free(v);
	kv_free(&kv);
}

/* A snapshot of no keys and the given session values, as keel wrote them
 * before sessions expired. */
static void old_snapshot(struct rbuf *b, const uint64_t *ids, const struct rbuf *vals, int n)
{
	rbuf_put(b, "KEELKV3", 8);
	rbuf_put_u32(b, 0);
	rbuf_put_u64(b, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		uint8_t key[8];
		bytes_put_u64(key, ids[i]);
		rbuf_put(b, key, 8);
		rbuf_put_u64(b, vals[i].len);
		rbuf_put(b, vals[i].p, vals[i].len);
	}
	rbuf_put_u32(b, crc32c(0, b->p, b->len));
}

static const uint8_t *R(const char *s)
{
	return (const uint8_t *)s;
}

/* Both older layouts of a session are read from a snapshot: the first
 * (seq, reply) and the one before expiry (records, no time of last use);
 * they count as idle since the epoch, so the first expiry removes them
 * and a session used since stays. A value of neither layout is refused. */
static void session_older_layouts_restored(void **state)
{
	(void)state;
	struct rbuf vals[2], snap;
	rbuf_init(&vals[0]);
	rbuf_init(&vals[1]);
	rbuf_init(&snap);
	rbuf_put_u64(&vals[0], 40);
	rbuf_put(&vals[0], ":1\r\n", 4);
	rbuf_put_u64(&vals[1], UINT64_MAX);
	rbuf_put_u64(&vals[1], 7); /* last */
	rbuf_put_u64(&vals[1], 6); /* ack */
	rbuf_put_u32(&vals[1], 2); /* records */
	rbuf_put_u64(&vals[1], 8); /* bytes of replies */
	rbuf_put_u64(&vals[1], 6);
	rbuf_put_u32(&vals[1], 4);
	rbuf_put(&vals[1], ":6\r\n", 4);
	rbuf_put_u64(&vals[1], 7);
	rbuf_put_u32(&vals[1], 4);
	rbuf_put(&vals[1], ":7\r\n", 4);
	uint64_t ids[2] = {10, 11};
	old_snapshot(&snap, ids, vals, 2);
	struct kv kv;
	kv_init(&kv, 3);
	assert_int_equal(kv_snapshot_read(&kv, snap.p, snap.len), KEEL_OK);
	const uint8_t *reply;
	size_t len;
	assert_int_equal(kv_session_check(&kv, 10, 40, 40, &reply, &len), KV_SESSION_REPLY);
	assert_memory_equal(reply, ":1\r\n", 4);
	assert_int_equal(kv_session_check(&kv, 10, 39, 39, &reply, &len), KV_SESSION_PASSED);
	assert_int_equal(kv_session_check(&kv, 10, 41, 41, &reply, &len), KV_SESSION_NEW);
	assert_int_equal(kv_session_check(&kv, 11, 6, 6, &reply, &len), KV_SESSION_REPLY);
	assert_memory_equal(reply, ":6\r\n", 4);
	assert_int_equal(kv_session_check(&kv, 11, 7, 7, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_check(&kv, 11, 5, 5, &reply, &len), KV_SESSION_ANSWERED);
	assert_int_equal(kv_session_oldest(&kv), 0);
	kv_session_record(&kv, 11, 8, 8, 5000, R("+OK\r\n"), 5);
	assert_int_equal(kv_session_expire(&kv, 5000, 1000, 0), 1);
	assert_int_equal(kv_session_check(&kv, 10, 41, 40, &reply, &len), KV_SESSION_EXPIRED);
	assert_int_equal(kv_session_check(&kv, 11, 8, 8, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_check(&kv, 11, 7, 7, &reply, &len), KV_SESSION_ANSWERED);
	/* a value that is no layout: the snapshot is refused */
	vals[1].len = 20;
	snap.len = 0;
	old_snapshot(&snap, ids, vals, 2);
	struct kv bad;
	kv_init(&bad, 4);
	assert_int_equal(kv_snapshot_read(&bad, snap.p, snap.len), KEEL_ECORRUPT);
	kv_free(&bad);
	kv_free(&kv);
	rbuf_free(&vals[0]);
	rbuf_free(&vals[1]);
	rbuf_free(&snap);
}

/* Sessions expire by the entries' times: at an entry, those idle past the
 * timeout go and those used since stay. A request of a session that is
 * gone is refused as expired, unless it may be the session's first: seq
 * 1, or every request before it answered (ack == seq: a connection still
 * open, whose session expired while it was idle), or an entry from before
 * acks (ack 0). A clock that goes back never lowers a stamp. */
static void session_expiry_by_entry_time(void **state)
{
	(void)state;
	struct kv kv;
	kv_init(&kv, 5);
	const uint8_t *reply;
	size_t len;
	kv_session_record(&kv, 1, 1, 1, 1000, R(":1\r\n"), 4);
	kv_session_record(&kv, 2, 1, 1, 2000, R(":1\r\n"), 4);
	kv_session_record(&kv, 3, 1, 1, 3000, R(":1\r\n"), 4);
	kv_session_record(&kv, 1, 2, 2, 4000, R(":2\r\n"), 4); /* 1 used again */
	assert_int_equal(kv_session_oldest(&kv), 2000);
	assert_int_equal(kv_session_expire(&kv, 5000, 2500, 0), 1); /* 2: idle 3000 */
	assert_int_equal(kv_dict_size(&kv.sessions), 2);
	assert_int_equal(kv_session_oldest(&kv), 3000);
	assert_int_equal(kv_session_check(&kv, 2, 2, 1, &reply, &len), KV_SESSION_EXPIRED);
	assert_int_equal(kv_session_check(&kv, 2, 2, 2, &reply, &len), KV_SESSION_NEW);
	assert_int_equal(kv_session_check(&kv, 2, 1, 1, &reply, &len), KV_SESSION_NEW);
	assert_int_equal(kv_session_check(&kv, 2, 5, 0, &reply, &len), KV_SESSION_NEW);
	assert_int_equal(kv_session_check(&kv, 1, 2, 2, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_expire(&kv, 5000, 2500, 0), 0);
	/* an entry stamped earlier (a new leader's clock behind) */
	kv_session_record(&kv, 4, 1, 1, 100, R(":1\r\n"), 4);
	assert_int_equal(kv_session_expire(&kv, 6000, 2500, 0), 1); /* 3 */
	assert_int_equal(kv_session_oldest(&kv), 4000);
	assert_int_equal(kv_session_check(&kv, 4, 1, 1, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_expire(&kv, 6499, 2500, 0), 0);
	assert_int_equal(kv_session_expire(&kv, 6500, 2500, 0), 2); /* 1 and 4 */
	assert_int_equal(kv_dict_size(&kv.sessions), 0);
	assert_int_equal(kv_session_oldest(&kv), INT64_MAX);
	assert_int_equal(kv.sess_bytes, 0);
	/* no timeout and no bound: nothing goes, at any time */
	kv_session_record(&kv, 5, 1, 1, 1, R(":1\r\n"), 4);
	assert_int_equal(kv_session_expire(&kv, INT64_MAX, 0, 0), 0);
	assert_int_equal(kv_session_expire(&kv, INT64_MIN, INT64_MAX, 0), 0);
	assert_int_equal(kv_session_check(&kv, 5, 1, 1, &reply, &len), KV_SESSION_REPLY);
	kv_free(&kv);
}

/* Over the size bound the least recently used go first, and a group of
 * equal stamps goes whole (their order is not the same on every
 * replica); the table's byte count follows every change. */
static void session_size_bound(void **state)
{
	(void)state;
	struct kv kv;
	kv_init(&kv, 5);
	uint8_t big[1000] = {0};
	kv_session_record(&kv, 1, 1, 1, 1000, big, sizeof big);
	kv_session_record(&kv, 2, 1, 1, 1000, big, sizeof big);
	kv_session_record(&kv, 3, 1, 1, 2000, big, sizeof big);
	kv_session_record(&kv, 4, 1, 1, 3000, big, sizeof big);
	uint64_t total = kv.sess_bytes, one = total / 4;
	assert_true(one > sizeof big && one * 4 == total);
	kv_session_record(&kv, 4, 2, 2, 3000, big, 10); /* 1000 bytes fewer */
	assert_int_equal(kv.sess_bytes, total - 990);
	total = kv.sess_bytes;
	assert_int_equal(kv_session_expire(&kv, 3000, 0, total - 1), 2); /* 1 and 2 */
	assert_int_equal(kv_dict_size(&kv.sessions), 2);
	assert_int_equal(kv_session_oldest(&kv), 2000);
	assert_int_equal(kv.sess_bytes, total - 2 * one);
	assert_int_equal(kv_session_expire(&kv, 3000, 0, kv.sess_bytes), 0);
	assert_int_equal(kv_session_expire(&kv, 3000, 0, 1), 2);
	assert_int_equal(kv.sess_bytes, 0);
	kv_free(&kv);
}

static void snap_of(struct kv *kv, int64_t now, struct rbuf *out)
{
	out->len = 0;
	kv_snapshot_write(kv, now, out);
}

/* A replica that restored a snapshot expires the same sessions as one
 * that applied the log: after the same requests and expiries, the same
 * sessions, and the same snapshot bytes. */
static void session_expiry_after_restore(void **state)
{
	(void)state;
	struct kv a, b;
	kv_init(&a, 11);
	kv_init(&b, 12);
	char rep[32];
	for (uint64_t i = 1; i <= 60; i++) { /* stamps in groups of 5 */
		int n = snprintf(rep, sizeof rep, ":%llu\r\n", (unsigned long long)i);
		kv_session_record(&a, i, 1, 1, 1000 + (int64_t)(i / 5) * 100, R(rep), (size_t)n);
	}
	for (uint64_t i = 3; i <= 60; i += 7) /* some used again */
		kv_session_record(&a, i, 2, 2, 2500, R("+OK\r\n"), 5);
	struct rbuf sa, sb;
	rbuf_init(&sa);
	rbuf_init(&sb);
	snap_of(&a, 2500, &sa);
	assert_int_equal(kv_snapshot_read(&b, sa.p, sa.len), KEEL_OK);
	snap_of(&b, 2500, &sb);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);
	struct kv *both[2] = {&a, &b};
	uint64_t gone[2][3];
	for (int k = 0; k < 2; k++) {
		struct kv *kv = both[k];
		kv_session_record(kv, 100, 1, 1, 2000, R("+OK\r\n"), 5); /* stamped 2500 */
		kv_session_record(kv, 9, 2, 2, 2600, R("+OK\r\n"), 5);
		gone[k][0] = kv_session_expire(kv, 3000, 1750, 0);
		gone[k][1] = kv_session_expire(kv, 3000, 0, kv->sess_bytes - 1);
		gone[k][2] = kv_dict_size(&kv->sessions);
	}
	assert_int_equal(gone[0][0], 11); /* stamps up to 1250: 1..14 but 3, 9, 10 */
	assert_memory_equal(gone[0], gone[1], sizeof gone[0]);
	snap_of(&a, 3000, &sa);
	snap_of(&b, 3000, &sb);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);
	rbuf_free(&sa);
	rbuf_free(&sb);
	kv_free(&a);
	kv_free(&b);
}

/* KEEL.EXPIRE-SESSIONS is what the leader proposes: a client's (its
 * request has a session) is refused and changes nothing. */
static void expire_sessions_command(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	r.now = 10000;
	kv_session_record(&r.kv, 1, 1, 1, 1000, R(":1\r\n"), 4);
	r.session = 7;
	EXPECT(&r, "KEEL.EXPIRE-SESSIONS 1000 0",
	       "-ERR KEEL.EXPIRE-SESSIONS is proposed by the leader; a client may not send it\r\n");
	assert_int_equal(kv_dict_size(&r.kv.sessions), 1);
	r.session = 0;
	EXPECT(&r, "KEEL.EXPIRE-SESSIONS -1 0", "-ERR value is not an integer or out of range\r\n");
	EXPECT(&r, "KEEL.EXPIRE-SESSIONS 1 x", "-ERR value is not an integer or out of range\r\n");
	EXPECT(&r, "KEEL.EXPIRE-SESSIONS 9001 0", ":0\r\n");
	EXPECT(&r, "KEEL.EXPIRE-SESSIONS 9000 0", ":1\r\n");
	assert_int_equal(kv_dict_size(&r.kv.sessions), 0);
	teardown(&r);
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
	EXPECT(&r, "SELECT 3", "+OK\r\n"); /* and databases after the first */
	EXPECT(&r, "SET three 3", "+OK\r\n");
	EXPECT(&r, "SELECT 12", "+OK\r\n");
	EXPECT(&r, "SET twelve 12", "+OK\r\n");
	r.db = 0;
	kv_session_record(&r.kv, 77, 5, 5, 1000, (const uint8_t *)":3\r\n", 4);
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
		assert_int_equal(kv_keys_total(&got), 52);
		struct run r2 = r;
		r2.kv = got;
		EXPECT(&r2, "GET key:3", "$22\r\n0000000000000000000003\r\n");
		EXPECT(&r2, "SELECT 12", "+OK\r\n");
		EXPECT(&r2, "GET twelve", "$2\r\n12\r\n");
		EXPECT(&r2, "SELECT 3", "+OK\r\n");
		EXPECT(&r2, "DBSIZE", ":1\r\n");
		kv_free(&got);
	}
	struct kv keep;
	kv_init(&keep, 7);
	kv_entry_set(kv_dict_add(&keep.db[0], (const uint8_t *)"x", 1), (const uint8_t *)"1", 1);
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
		assert_int_equal(kv_keys_total(&keep), 1);
	}
	kv_free(&keep);
	rbuf_free(&snap);
	teardown(&r);
}

#define ERR_RANGE     "-ERR DB index is out of range\r\n"
#define ERR_NOT_INT_R "-ERR value is not an integer or out of range\r\n"
#define ERR_INT_RANGE \
	"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"

/* SELECT's answers at and past every edge, as Redis 7.0 gives them; a
 * refused SELECT leaves the connection where it was. */
static void select_edges(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "SELECT 3", "+OK\r\n");
	assert_int_equal(r.db, 3);
	EXPECT(&r, "SELECT -1", ERR_RANGE);
	EXPECT(&r, "SELECT 16", ERR_RANGE);
	EXPECT(&r, "SELECT 2147483647", ERR_RANGE);
	EXPECT(&r, "SELECT 2147483648", ERR_INT_RANGE); /* 2^31 */
	EXPECT(&r, "SELECT -2147483649", ERR_INT_RANGE);
	EXPECT(&r, "SELECT 9223372036854775807", ERR_INT_RANGE);
	EXPECT(&r, "SELECT 9223372036854775808", ERR_NOT_INT_R); /* 2^63 */
	EXPECT(&r, "SELECT abc", ERR_NOT_INT_R);
	EXPECT(&r, "SELECT \"\"", ERR_NOT_INT_R);
	EXPECT(&r, "SELECT 01", ERR_NOT_INT_R);
	EXPECT(&r, "SELECT +1", ERR_NOT_INT_R);
	EXPECT(&r, "SELECT 1.0", ERR_NOT_INT_R);
	EXPECT(&r, "SELECT -0", ERR_NOT_INT_R);
	assert_int_equal(r.db, 3);
	EXPECT(&r, "SELECT 15", "+OK\r\n");
	EXPECT(&r, "SELECT 0", "+OK\r\n");
	assert_int_equal(r.db, 0);
	r.dbs = 4; /* a count given with the command: SELECT checks against it */
	EXPECT(&r, "SELECT 4", ERR_RANGE);
	EXPECT(&r, "SELECT 3", "+OK\r\n");
	/* a command in a database past its count (a request from a node with
	 * more databases than the leader's) is refused whole */
	r.db = 5;
	EXPECT(&r, "SET x 1", ERR_RANGE);
	EXPECT(&r, "PING", ERR_RANGE);
	/* a larger count grows the keyspace; nothing shrinks it */
	r.dbs = 40;
	r.db = 39;
	EXPECT(&r, "SET x 1", "+OK\r\n");
	assert_int_equal(r.kv.n_db, 40);
	r.dbs = 0;
	EXPECT(&r, "GET x", "$1\r\n1\r\n");
	teardown(&r);
}

/* Each database is a keyspace of its own for every command. */
static void databases_apart(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "SET k zero", "+OK\r\n");
	EXPECT(&r, "SELECT 1", "+OK\r\n");
	EXPECT(&r, "GET k", "$-1\r\n");
	EXPECT(&r, "EXISTS k", ":0\r\n");
	EXPECT(&r, "DBSIZE", ":0\r\n");
	EXPECT(&r, "KEYS *", "*0\r\n");
	EXPECT(&r, "SCAN 0", "*2\r\n$1\r\n0\r\n*0\r\n");
	EXPECT(&r, "RANDOMKEY", "$-1\r\n");
	EXPECT(&r, "TTL k", ":-2\r\n");
	EXPECT(&r, "INCR k", ":1\r\n");
	EXPECT(&r, "RENAME k k2", "+OK\r\n");
	EXPECT(&r, "KEYS *", "*1\r\n$2\r\nk2\r\n");
	EXPECT(&r, "SELECT 0", "+OK\r\n");
	EXPECT(&r, "GET k", "$4\r\nzero\r\n");
	EXPECT(&r, "EXISTS k k2", ":1\r\n");
	EXPECT(&r, "DBSIZE", ":1\r\n");
	teardown(&r);
}

/* MOVE: Redis's checks in Redis's order; the key keeps its expiry; a key
 * in the destination (live) stops it. */
static void move_between_databases(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "MOVE k abc", ERR_NOT_INT_R);
	EXPECT(&r, "MOVE k 9223372036854775808", ERR_NOT_INT_R);
	EXPECT(&r, "MOVE k 2147483648", ERR_INT_RANGE);
	EXPECT(&r, "MOVE k 16", ERR_RANGE);
	EXPECT(&r, "MOVE k -1", ERR_RANGE);
	EXPECT(&r, "MOVE k 0", "-ERR source and destination objects are the same\r\n");
	EXPECT(&r, "MOVE k 1", ":0\r\n"); /* no such key */
	EXPECT(&r, "SET k v PX 5000", "+OK\r\n");
	EXPECT(&r, "MOVE k 0", "-ERR source and destination objects are the same\r\n");
	EXPECT(&r, "MOVE k 1", ":1\r\n");
	EXPECT(&r, "GET k", "$-1\r\n");
	EXPECT(&r, "DBSIZE", ":0\r\n");
	EXPECT(&r, "SELECT 1", "+OK\r\n");
	EXPECT(&r, "GET k", "$1\r\nv\r\n");
	EXPECT(&r, "PTTL k", ":5000\r\n"); /* the expiry came along */
	r.now += 5000;
	EXPECT(&r, "GET k", "$-1\r\n"); /* ... and still ends it */
	/* the destination has the key: nothing moves */
	EXPECT(&r, "SET d one", "+OK\r\n");
	EXPECT(&r, "SELECT 2", "+OK\r\n");
	EXPECT(&r, "SET d two", "+OK\r\n");
	EXPECT(&r, "MOVE d 1", ":0\r\n");
	EXPECT(&r, "GET d", "$3\r\ntwo\r\n");
	/* an expired key in the destination does not count */
	EXPECT(&r, "SELECT 1", "+OK\r\n");
	EXPECT(&r, "SET e old PX 10", "+OK\r\n");
	EXPECT(&r, "SELECT 2", "+OK\r\n");
	EXPECT(&r, "SET e new", "+OK\r\n");
	r.now += 10;
	EXPECT(&r, "MOVE e 1", ":1\r\n");
	EXPECT(&r, "SELECT 1", "+OK\r\n");
	EXPECT(&r, "GET e", "$3\r\nnew\r\n");
	EXPECT(&r, "TTL e", ":-1\r\n");
	/* an expired key in the source is not moved */
	EXPECT(&r, "SET f x PX 1", "+OK\r\n");
	r.now += 1;
	EXPECT(&r, "MOVE f 3", ":0\r\n");
	EXPECT(&r, "SELECT 3", "+OK\r\n");
	EXPECT(&r, "EXISTS f", ":0\r\n");
	teardown(&r);
}

/* INFO keyspace: a line for each database with keys; expires and avg_ttl
 * follow the keys' expiries through every command that changes them. */
static void info_keyspace(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	struct rbuf o;
	rbuf_init(&o);
	kv_info_keyspace(&(const struct kv *){&r.kv}, 1, r.now, &o);
	assert_int_equal(o.len, 0);
	EXPECT(&r, "SET a 1", "+OK\r\n");
	EXPECT(&r, "SET b 1 PX 1000", "+OK\r\n");
	EXPECT(&r, "SET c 1 PX 3000", "+OK\r\n");
	EXPECT(&r, "SELECT 7", "+OK\r\n");
	EXPECT(&r, "SET d 1", "+OK\r\n");
	kv_info_keyspace(&(const struct kv *){&r.kv}, 1, r.now, &o);
	rbuf_put(&o, "", 1);
	assert_string_equal((const char *)o.p, "db0:keys=3,expires=2,avg_ttl=2000\r\n"
					       "db7:keys=1,expires=0,avg_ttl=0\r\n");
	EXPECT(&r, "SELECT 0", "+OK\r\n");
	EXPECT(&r, "PERSIST b", ":1\r\n");
	EXPECT(&r, "MOVE c 7", ":1\r\n");
	EXPECT(&r, "PEXPIRE a 500", ":1\r\n");
	EXPECT(&r, "SWAPDB 0 5", "+OK\r\n");
	o.len = 0;
	kv_info_keyspace(&(const struct kv *){&r.kv}, 1, r.now, &o);
	rbuf_put(&o, "", 1);
	assert_string_equal((const char *)o.p, "db5:keys=2,expires=1,avg_ttl=500\r\n"
					       "db7:keys=2,expires=1,avg_ttl=3000\r\n");
	EXPECT(&r, "SELECT 7", "+OK\r\n");
	EXPECT(&r, "DEL c", ":1\r\n");
	EXPECT(&r, "FLUSHALL", "+OK\r\n");
	o.len = 0;
	kv_info_keyspace(&(const struct kv *){&r.kv}, 1, r.now, &o);
	assert_int_equal(o.len, 0);
	for (uint32_t i = 0; i < r.kv.n_db; i++)
		assert_int_equal(r.kv.db[i].expires, 0);
	rbuf_free(&o);
	teardown(&r);
}

/* SWAPDB's errors and its effect; FLUSHDB empties one database only. */
static void swapdb_and_flushdb(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "SWAPDB abc 0", "-ERR invalid first DB index\r\n");
	EXPECT(&r, "SWAPDB 0 abc", "-ERR invalid second DB index\r\n");
	EXPECT(&r, "SWAPDB 16 abc", "-ERR invalid second DB index\r\n");
	EXPECT(&r, "SWAPDB 2147483648 1", "-ERR invalid first DB index\r\n");
	EXPECT(&r, "SWAPDB 1 -2147483649", "-ERR invalid second DB index\r\n");
	EXPECT(&r, "SWAPDB 0 16", ERR_RANGE);
	EXPECT(&r, "SWAPDB -1 0", ERR_RANGE);
	EXPECT(&r, "SWAPDB 0 0", "+OK\r\n");
	EXPECT(&r, "SET a in0", "+OK\r\n");
	EXPECT(&r, "SELECT 1", "+OK\r\n");
	EXPECT(&r, "SET b in1", "+OK\r\n");
	EXPECT(&r, "SET c in1", "+OK\r\n");
	EXPECT(&r, "SWAPDB 0 1", "+OK\r\n");
	/* the connection stays in database 1, which now holds the old 0 */
	EXPECT(&r, "KEYS *", "*1\r\n$1\r\na\r\n");
	EXPECT(&r, "SELECT 0", "+OK\r\n");
	EXPECT(&r, "DBSIZE", ":2\r\n");
	EXPECT(&r, "FLUSHDB foo", "-ERR syntax error\r\n");
	EXPECT(&r, "FLUSHDB ASYNC extra", "-ERR syntax error\r\n");
	EXPECT(&r, "DBSIZE", ":2\r\n");
	EXPECT(&r, "FLUSHDB ASYNC", "+OK\r\n");
	EXPECT(&r, "DBSIZE", ":0\r\n");
	EXPECT(&r, "SELECT 1", "+OK\r\n");
	EXPECT(&r, "DBSIZE", ":1\r\n"); /* untouched */
	EXPECT(&r, "FLUSHDB sync", "+OK\r\n");
	EXPECT(&r, "DBSIZE", ":0\r\n");
	EXPECT(&r, "SET x 1", "+OK\r\n");
	EXPECT(&r, "SELECT 9", "+OK\r\n");
	EXPECT(&r, "SET y 1", "+OK\r\n");
	EXPECT(&r, "FLUSHALL SYNC", "+OK\r\n");
	assert_int_equal(kv_keys_total(&r.kv), 0);
	teardown(&r);
}

struct sampled {
	uint32_t n;
	char keys[8][16];
};

static void sampled_key(void *ctx, const struct kv_entry *e)
{
	struct sampled *sm = ctx;
	if (sm->n < 8)
		snprintf(sm->keys[sm->n++], sizeof sm->keys[0], "%.*s", (int)e->klen,
			 (const char *)e->key);
}

/* Active expiry finds due keys in every database, each in its own, and a
 * KEEL.EXPIRED in one database removes its keys there only. */
static void expiry_in_every_database(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	const uint32_t dbs[] = {2, 9, 15};
	char cmd[64];
	for (size_t i = 0; i < 3; i++) {
		snprintf(cmd, sizeof cmd, "SELECT %u", dbs[i]);
		EXPECT(&r, cmd, "+OK\r\n");
		EXPECT(&r, "SET due 1 PX 5", "+OK\r\n");
		EXPECT(&r, "SET stays 1", "+OK\r\n");
	}
	r.now += 5;
	uint32_t db = 0, found = 0;
	uint64_t cursor = 0;
	bool seen[16] = {false};
	for (int round = 0; round < 64 && found < 3; round++) {
		struct sampled sm = {0};
		uint32_t at = kv_expired_sample(&r.kv, r.now, &db, &cursor, 100, sampled_key, &sm);
		assert_true(at < 16);
		for (uint32_t k = 0; k < sm.n; k++) {
			assert_string_equal(sm.keys[k], "due");
			assert_true(at == 2 || at == 9 || at == 15);
			if (!seen[at])
				found++;
			seen[at] = true;
		}
	}
	assert_int_equal(found, 3);
	snprintf(cmd, sizeof cmd, "KEEL.EXPIRED due %lld", (long long)(r.now));
	EXPECT(&r, "SELECT 9", "+OK\r\n");
	EXPECT(&r, cmd, ":1\r\n");
	assert_int_equal(kv_dict_size(&r.kv.db[9]), 1);
	assert_int_equal(kv_dict_size(&r.kv.db[2]), 2); /* the others wait for theirs */
	assert_int_equal(kv_dict_size(&r.kv.db[15]), 2);
	teardown(&r);
}

/* Active expiry scans only databases that hold a key with an expiry: with
 * none, nothing is scanned (the cursor stays where it was); a database of
 * keys without one is passed over for the one whose key is due. */
static void expiry_skips_databases_without_ttls(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	char cmd[64];
	for (int i = 0; i < 2000; i++) {
		snprintf(cmd, sizeof cmd, "SET k%d 1", i);
		EXPECT(&r, cmd, "+OK\r\n");
	}
	uint32_t db = 0;
	uint64_t cursor = 0;
	struct sampled sm = {0};
	assert_int_equal(kv_expired_sample(&r.kv, r.now, &db, &cursor, 100, sampled_key, &sm), 0);
	assert_int_equal(sm.n, 0);
	assert_int_equal(db, 0);
	assert_int_equal(cursor, 0);
	EXPECT(&r, "SELECT 3", "+OK\r\n");
	EXPECT(&r, "SET due 1 PX 5", "+OK\r\n");
	r.now += 5;
	assert_int_equal(kv_expired_sample(&r.kv, r.now, &db, &cursor, 100, sampled_key, &sm), 3);
	assert_int_equal(sm.n, 1);
	assert_string_equal(sm.keys[0], "due");
	teardown(&r);
}

/* Hand-made keyspace streams, for what the writer would never produce. */
static void stream_key(struct rbuf *b, const char *k, const char *v, int64_t expire)
{
	rbuf_put_u32(b, (uint32_t)strlen(k));
	rbuf_put(b, k, strlen(k));
	rbuf_put_u64(b, strlen(v));
	rbuf_put(b, v, strlen(v));
	rbuf_put_u64(b, (uint64_t)expire);
}

static int read_stream(struct rbuf *b, struct kv *into)
{
	rbuf_put_u64(b, 0); /* no sessions */
	rbuf_put_u32(b, crc32c(0, b->p, b->len));
	return kv_snapshot_read(into, b->p, b->len);
}

/* Several databases through a snapshot and back; the reader refuses
 * databases out of order or range, an empty one, and a negative expiry,
 * and still reads version 2 (one database). */
static void snapshot_databases(void **state)
{
	(void)state;
	struct run r;
	setup(&r);
	EXPECT(&r, "SET a zero", "+OK\r\n");
	EXPECT(&r, "SELECT 3", "+OK\r\n");
	EXPECT(&r, "SET a three PX 5000", "+OK\r\n");
	EXPECT(&r, "SET b three", "+OK\r\n");
	EXPECT(&r, "SELECT 15", "+OK\r\n");
	EXPECT(&r, "SET a fifteen", "+OK\r\n");
	EXPECT(&r, "SELECT 7", "+OK\r\n");
	EXPECT(&r, "SET gone 1 PX 10", "+OK\r\n"); /* due by then: database 7 not written */
	r.now += 10;
	struct rbuf snap;
	rbuf_init(&snap);
	kv_snapshot_write(&r.kv, r.now, &snap);
	struct run c;
	setup(&c);
	kv_free(&c.kv);
	kv_init_dbs(&c.kv, 3, 4); /* fewer databases than the stream names: it grows */
	assert_int_equal(kv_snapshot_read(&c.kv, snap.p, snap.len), KEEL_OK);
	assert_int_equal(c.kv.n_db, 16);
	c.now = r.now;
	EXPECT(&c, "GET a", "$4\r\nzero\r\n");
	EXPECT(&c, "SELECT 3", "+OK\r\n");
	EXPECT(&c, "DBSIZE", ":2\r\n");
	EXPECT(&c, "PTTL a", ":4990\r\n");
	EXPECT(&c, "SELECT 15", "+OK\r\n");
	EXPECT(&c, "GET a", "$7\r\nfifteen\r\n");
	EXPECT(&c, "SELECT 7", "+OK\r\n");
	EXPECT(&c, "DBSIZE", ":0\r\n");
	/* a keyspace of more databases keeps them all */
	struct kv big;
	kv_init_dbs(&big, 3, 100);
	assert_int_equal(kv_snapshot_read(&big, snap.p, snap.len), KEEL_OK);
	assert_int_equal(big.n_db, 100);
	assert_int_equal(kv_keys_total(&big), 4);
	kv_free(&big);
	teardown(&c);
	/* hand-made streams: {databases, then per database index, count} */
	static const uint32_t bad[][5] = {
		{2, 3, 1, 3, 1},	  /* an index twice */
		{2, 4, 1, 3, 1},	  /* out of order */
		{1, KV_DBS_MAX, 1, 0, 0}, /* past the largest count */
		{1, 2, 0, 0, 0},	  /* an empty database */
		{2, 1, 1, 0, 0},	  /* one database fewer than announced */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct rbuf b;
		rbuf_init(&b);
		rbuf_put(&b, "KEELKV3", 8);
		rbuf_put_u32(&b, bad[i][0]);
		for (uint32_t d = 0; d < 2 && bad[i][1 + 2 * d] + bad[i][2 + 2 * d]; d++) {
			rbuf_put_u32(&b, bad[i][1 + 2 * d]);
			rbuf_put_u64(&b, bad[i][2 + 2 * d]);
			if (bad[i][2 + 2 * d])
				stream_key(&b, "k", "v", 0);
		}
		struct kv k;
		kv_init(&k, 1);
		if (read_stream(&b, &k) != KEEL_ECORRUPT)
			fail_msg("stream %zu was read", i);
		assert_int_equal(kv_keys_total(&k), 0);
		kv_free(&k);
		rbuf_free(&b);
	}
	struct rbuf b; /* a negative expiry */
	rbuf_init(&b);
	rbuf_put(&b, "KEELKV3", 8);
	rbuf_put_u32(&b, 1);
	rbuf_put_u32(&b, 0);
	rbuf_put_u64(&b, 1);
	stream_key(&b, "k", "v", -5);
	struct kv k;
	kv_init(&k, 1);
	assert_int_equal(read_stream(&b, &k), KEEL_ECORRUPT);
	b.len = 0; /* version 2: its keys go to database 0 */
	rbuf_put(&b, "KEELKV2", 8);
	rbuf_put_u64(&b, 2);
	stream_key(&b, "x", "1", 0);
	stream_key(&b, "y", "2", r.now + 100);
	assert_int_equal(read_stream(&b, &k), KEEL_OK);
	assert_int_equal(kv_dict_size(&k.db[0]), 2);
	assert_int_equal(kv_keys_total(&k), 2);
	assert_int_equal(k.db[0].expires, 1);
	kv_free(&k);
	rbuf_free(&b);
	rbuf_free(&snap);
	teardown(&r);
}

/* Many sessions written in random order, several requests of one in the
 * same millisecond (as a pipeline's in one entry), the clock moving on by
 * random steps: expiry at random cuts removes exactly the sessions whose
 * last request is at or before the cut (a model kept beside the table),
 * and the oldest stamp is the model's. */
static void session_list_against_a_model(void **state)
{
	(void)state;
	enum { N = 40 };
	struct kv kv;
	kv_init(&kv, 7);
	int64_t used[N + 1] = {0};
	uint64_t seq[N + 1] = {0};
	int64_t now = 1000;
	uint32_t r = 12345;
	for (int step = 0; step < 4000; step++) {
		r = r * 1103515245u + 12345u;
		uint64_t id = 1 + (r >> 8) % N;
		if ((r >> 20) % 4 == 0)
			now += (r >> 24) % 3; /* often the same millisecond */
		seq[id]++;
		kv_session_record(&kv, id, seq[id], seq[id], now, (const uint8_t *)"+OK\r\n", 5);
		used[id] = now;
		if (step % 97 == 0) {
			/* idle of 1 ms or more: 0 means never */
			int64_t cut = now - 1 - (int64_t)((r >> 4) % 6);
			uint64_t want = 0;
			int64_t oldest = INT64_MAX;
			for (int i = 1; i <= N; i++) {
				if (seq[i] && used[i] <= cut) {
					want++;
					seq[i] = 0;
				} else if (seq[i] && used[i] < oldest) {
					oldest = used[i];
				}
			}
			assert_int_equal(kv_session_expire(&kv, now, now - cut, 0), want);
			assert_int_equal(kv_session_oldest(&kv), oldest);
			uint64_t live = 0;
			for (int i = 1; i <= N; i++)
				live += seq[i] != 0;
			assert_int_equal(kv_dict_size(&kv.sessions), live);
		}
	}
	kv_free(&kv);
}

/* A session's value from a snapshot is taken only if it is whole: a
 * count of records, a length or a byte count that does not match what the
 * value holds is refused (the in-place recording relies on it). */
static void session_value_from_outside_checked(void **state)
{
	(void)state;
	struct kv src, dst;
	kv_init(&src, 3);
	kv_session_record(&src, 5, 1, 1, 100, (const uint8_t *)":1\r\n", 4);
	kv_session_record(&src, 5, 2, 1, 100, (const uint8_t *)":2\r\n", 4);
	uint8_t key[8];
	bytes_put_u64(key, 5);
	struct kv_entry *good = kv_dict_find(&src.sessions, key, 8);
	assert_non_null(good);
	/* the count of records (offset 24), a record's length (the first
	 * record's, after the head), the byte count (offset 28): each off by
	 * one, and the value cut short by a byte */
	size_t head = good->vlen - 2 * (12 + 4);
	const size_t at[] = {24, head + 8, 28};
	for (size_t k = 0; k <= sizeof at / sizeof at[0]; k++) {
		kv_init(&dst, 4);
		struct kv_entry *e = kv_dict_add(&dst.sessions, key, 8);
		kv_entry_set(e, good->val, good->vlen - (k == 3));
		if (k < 3)
			e->val[at[k]]++;
		assert_false(kv_session_adopt(&dst, e));
		kv_free(&dst);
	}
	kv_init(&dst, 4); /* the value as written is taken */
	struct kv_entry *e = kv_dict_add(&dst.sessions, key, 8);
	kv_entry_set(e, good->val, good->vlen);
	assert_true(kv_session_adopt(&dst, e));
	kv_free(&dst);
	kv_free(&src);
}

/* Adopts into kv a session value built from outside (a snapshot's). */
static bool adopt(struct kv *kv, uint64_t id, const uint8_t *val, size_t len)
{
	uint8_t key[8];
	bytes_put_u64(key, id);
	struct kv_entry *e = kv_dict_add(&kv->sessions, key, 8);
	kv_entry_set(e, val, len);
	return kv_session_adopt(kv, e);
}

/* A session's value in the current layout with no records: its head. */
static void empty_session(uint8_t *v, uint64_t last, int64_t used)
{
	memset(v, 0, 60);
	bytes_put_u64(v, UINT64_MAX - 1);
	bytes_put_u64(v + 8, last);
	bytes_put_u64(v + 16, last + 1); /* ack: every reply given */
	bytes_put_u64(v + 36, (uint64_t)used);
}

static void collect_id(void *ctx, struct kv_entry *e)
{
	uint64_t *ids = ctx;
	ids[++ids[0]] = bytes_get_u64(e->key);
}

/* A session's requests beyond KV_SESSION_KEEP_MAX are not all kept, however
 * small their replies: the oldest go, the newest stay. */
static void session_count_bound(void **state)
{
	(void)state;
	struct kv kv;
	kv_init(&kv, 5);
	const uint8_t *reply;
	size_t len;
	for (uint64_t seq = 1; seq <= KV_SESSION_KEEP_MAX + 1; seq++)
		kv_session_record(&kv, 3, seq, 1, 1000, R(":1\r\n"), 4);
	assert_int_equal(kv_session_kept(&kv, 3), KV_SESSION_KEEP_MAX);
	assert_int_equal(kv_session_check(&kv, 3, 2, 1, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_check(&kv, 3, KV_SESSION_KEEP_MAX + 1, 1, &reply, &len),
			 KV_SESSION_REPLY);
	kv_session_record(&kv, 3, KV_SESSION_KEEP_MAX + 2, 1, 1000, R(":2\r\n"), 4);
	assert_int_equal(kv_session_kept(&kv, 3), KV_SESSION_KEEP_MAX);
	assert_int_equal(kv_session_check(&kv, 3, 3, 1, &reply, &len), KV_SESSION_REPLY);
	kv_free(&kv);
}

/* A request recorded again (a sequence number at or below the last) takes
 * the place of its record: its new reply is the one kept, and the
 * requests after it stay applied with theirs. */
static void session_recorded_again(void **state)
{
	(void)state;
	struct kv kv;
	kv_init(&kv, 5);
	const uint8_t *reply;
	size_t len;
	kv_session_record(&kv, 4, 1, 1, 1000, R(":1\r\n"), 4);
	kv_session_record(&kv, 4, 2, 1, 1000, R(":2\r\n"), 4);
	kv_session_record(&kv, 4, 3, 1, 1000, R(":3\r\n"), 4);
	kv_session_record(&kv, 4, 3, 1, 1000, R(":33\r\n"), 5);
	assert_int_equal(kv_session_check(&kv, 4, 3, 1, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(len, 5);
	assert_memory_equal(reply, ":33\r\n", 5);
	kv_session_record(&kv, 4, 2, 1, 1000, R(":22\r\n"), 5);
	assert_int_equal(kv_session_check(&kv, 4, 2, 1, &reply, &len), KV_SESSION_REPLY);
	assert_memory_equal(reply, ":22\r\n", 5);
	assert_int_equal(kv_session_check(&kv, 4, 3, 1, &reply, &len), KV_SESSION_REPLY);
	assert_memory_equal(reply, ":33\r\n", 5);
	assert_int_equal(kv_session_check(&kv, 4, 4, 1, &reply, &len), KV_SESSION_NEW);
	assert_int_equal(kv_session_kept(&kv, 4), 3);
	kv_free(&kv);
}

/* An entry stamped at the epoch (a leader whose clock reads 0) still
 * records its session in the list by last use: expiry and snapshots see
 * it. */
static void session_stamped_at_the_epoch(void **state)
{
	(void)state;
	struct kv kv, copy;
	kv_init(&kv, 5);
	kv_init(&copy, 6);
	kv_session_record(&kv, 8, 1, 1, 0, R(":1\r\n"), 4);
	assert_int_equal(kv_session_oldest(&kv), 0);
	struct rbuf snap;
	rbuf_init(&snap);
	snap_of(&kv, 0, &snap);
	assert_int_equal(kv_snapshot_read(&copy, snap.p, snap.len), KEEL_OK);
	const uint8_t *reply;
	size_t len;
	assert_int_equal(kv_session_check(&copy, 8, 1, 1, &reply, &len), KV_SESSION_REPLY);
	assert_int_equal(kv_session_expire(&kv, 10, 5, 0), 1);
	rbuf_free(&snap);
	kv_free(&copy);
	kv_free(&kv);
}

/* Values from outside that are not a session are refused, however they
 * are wrong: a session id of 0 (no session), a value of no layout seen
 * first, a record cut inside its 12-byte head. A session that keeps no
 * records is whole, and is linked like any other. */
static void session_odd_values_from_outside(void **state)
{
	(void)state;
	struct kv kv;
	uint8_t v[80];
	empty_session(v, 9, 1000);
	kv_init(&kv, 5);
	assert_false(adopt(&kv, 0, v, 60));
	kv_free(&kv);
	uint8_t junk[20] = {0};
	bytes_put_u64(junk, UINT64_MAX); /* the layout before expiry, too short */
	kv_init(&kv, 5);
	assert_false(adopt(&kv, 1, junk, sizeof junk));
	kv_free(&kv);
	/* one record of which only 11 bytes are there */
	bytes_put_u32(v + 24, 1);
	bytes_put_u64(v + 60, 9);
	kv_init(&kv, 5);
	assert_false(adopt(&kv, 1, v, 71));
	kv_free(&kv);
	/* no records: taken, and the next session is linked after it */
	empty_session(v, 9, 1000);
	kv_init(&kv, 5);
	assert_true(adopt(&kv, 1, v, 60));
	kv_session_record(&kv, 2, 1, 1, 2000, R(":1\r\n"), 4);
	uint64_t ids[4] = {0};
	kv_session_each(&kv, collect_id, ids);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 1);
	assert_int_equal(ids[2], 2);
	assert_int_equal(kv_session_expire(&kv, 2500, 1000, 0), 1);
	assert_int_equal(kv_session_oldest(&kv), 2000);
	kv_free(&kv);
}

/* Sessions from a snapshot that lists them out of order of last use
 * (another writer's) are put in that order, equal stamps in the order
 * given: expiry then takes the least recently used first, as on a replica
 * that applied the log. */
static void session_restored_out_of_order(void **state)
{
	(void)state;
	static const int64_t stamps[2][7] = {{5000, 2000, 7000, 1000, 4000, 3000, 6000},
					     {7000, 6000, 5000, 4000, 3000, 2000, 2000}};
	static const uint64_t want[2][8] = {{7, 4, 2, 6, 5, 1, 7, 3}, {7, 6, 7, 5, 4, 3, 2, 1}};
	for (int k = 0; k < 2; k++) {
		struct kv kv;
		kv_init(&kv, 5);
		uint8_t v[60];
		for (uint64_t i = 0; i < 7; i++) {
			empty_session(v, 1, stamps[k][i]);
			assert_true(adopt(&kv, i + 1, v, sizeof v));
		}
		kv_session_relink(&kv);
		uint64_t ids[9] = {0};
		kv_session_each(&kv, collect_id, ids);
		assert_memory_equal(ids, want[k], sizeof want[k]);
		assert_int_equal(kv_session_oldest(&kv), k ? 2000 : 1000);
		assert_int_equal(kv_session_expire(&kv, 5000, 1000, 0), 4);
		kv_free(&kv);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basics),
		cmocka_unit_test(errors),
		cmocka_unit_test(arity),
		cmocka_unit_test(expiry),
		cmocka_unit_test(globs),
		cmocka_unit_test(dict_slot_lists),
		cmocka_unit_test(crc16_table),
		cmocka_unit_test(slots),
		cmocka_unit_test(dict_rehash_and_scan),
		cmocka_unit_test(dict_prefetch),
		cmocka_unit_test(dict_remember),
		cmocka_unit_test(snapshot_round_trip),
		cmocka_unit_test(session_keeps_unanswered_replies),
		cmocka_unit_test(session_refused_last),
		cmocka_unit_test(session_older_layouts_restored),
		cmocka_unit_test(session_expiry_by_entry_time),
		cmocka_unit_test(session_size_bound),
		cmocka_unit_test(session_expiry_after_restore),
		cmocka_unit_test(session_list_against_a_model),
		cmocka_unit_test(session_value_from_outside_checked),
		cmocka_unit_test(session_count_bound),
		cmocka_unit_test(session_recorded_again),
		cmocka_unit_test(session_stamped_at_the_epoch),
		cmocka_unit_test(session_odd_values_from_outside),
		cmocka_unit_test(session_restored_out_of_order),
		cmocka_unit_test(expire_sessions_command),
		cmocka_unit_test(snapshot_in_pieces),
		cmocka_unit_test(select_edges),
		cmocka_unit_test(databases_apart),
		cmocka_unit_test(move_between_databases),
		cmocka_unit_test(info_keyspace),
		cmocka_unit_test(swapdb_and_flushdb),
		cmocka_unit_test(expiry_in_every_database),
		cmocka_unit_test(expiry_skips_databases_without_ttls),
		cmocka_unit_test(snapshot_databases),
		cmocka_unit_test(edge_values),
		cmocka_unit_test(string_limit_without_allocating),
		cmocka_unit_test(expiry_arithmetic_at_the_edges),
		cmocka_unit_test(scan_count_at_the_edge),
		cmocka_unit_test(glob_nesting_bounded),
	};
	return UNIT_RUN("kv", tests);
}
