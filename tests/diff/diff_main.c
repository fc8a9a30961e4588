/* tests/diff/diff_main.c — the differential test of the key-value state
 * machine: random sequences of SPEC.md §3 commands go to keel's src/kv
 * (in process) and to a real redis-server (over loopback), and the replies
 * are compared byte for byte. Where the two may differ by design the
 * comparison says so here:
 *   - TTL and PTTL are compared within the time the round trip took (the
 *     two clocks are read a moment apart);
 *   - KEYS is compared as a set (the order of a hash table is its own);
 *   - SCAN and RANDOMKEY are checked by what they return being keys that
 *     exist, not by which.
 * Integers are drawn at their edges too (INT64_MIN/MAX and one past, 2^31,
 * 2^32, the 512 MiB string limit, ms that overflow: edges[]) for GETRANGE,
 * SETRANGE, INCRBY, DECRBY, the expiry commands and SCAN COUNT.
 * Both sides run in the same database: SELECT, MOVE, SWAPDB and FLUSHDB are
 * drawn too (mostly among databases 0 to 3, so keys meet), with indexes at
 * and past the edges of redis's 16.
 * Usage: diff PORT [COMMANDS] [SEED]. Prints `diff: N passed, M failed`
 * (one per command checked) and the first divergences in full. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/prng.h"
#include "kv/kv.h"
#include "resp/buf.h"
#include "resp/encode.h"
#include "resp/parse.h"

static int fd;
static struct rbuf in;
static uint32_t db; /* the connection's database, on both sides */

static int64_t now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void connect_redis(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("connect to redis-server");
		exit(2);
	}
}

/* Sends argv, returns redis's reply (its bytes in *out). */
static void redis_call(const struct resp_arg *argv, uint32_t argc, struct rbuf *out)
{
	struct rbuf req;
	rbuf_init(&req);
	resp_array(&req, argc);
	for (uint32_t i = 0; i < argc; i++)
		resp_bulk(&req, argv[i].p, argv[i].len);
	for (size_t off = 0; off < req.len;) {
		ssize_t w = write(fd, req.p + off, req.len - off);
		if (w <= 0) {
			perror("write");
			exit(2);
		}
		off += (size_t)w;
	}
	rbuf_free(&req);
	size_t frame;
	while (resp_scan_reply(in.p, in.len, &frame) != RESP_OK) {
		ssize_t r = read(fd, rbuf_reserve(&in, 65536), 65536);
		if (r <= 0) {
			fprintf(stderr, "redis-server closed the connection\n");
			exit(2);
		}
		in.len += (size_t)r;
	}
	out->len = 0;
	rbuf_put(out, in.p, frame);
	rbuf_consume(&in, frame);
}

/* Runs argv on keel's keyspace in the connection's database (which SELECT
 * moves), at time now; the reply in *out. */
static void keel_call(struct kv *kv, const struct resp_arg *argv, uint32_t argc, struct rbuf *out,
		      int64_t now)
{
	struct kv_ctx c = {.kv = kv,
			   .argv = argv,
			   .argc = argc,
			   .out = out,
			   .proto = 2,
			   .now_ms = now,
			   .db = db};
	kv_exec(&c);
	db = c.db;
}

/* ---- the generator --------------------------------------------------------- */

struct gen {
	struct prng p;
	char words[16][64];
	struct resp_arg argv[16];
	uint32_t argc;
};

static const char *keys[] = {"k0", "k1", "k2", "k3", "k4", "counter", "f", "a b", "", "k\x01"};
static const char *vals[] = {"v",
			     "",
			     "0",
			     "1",
			     "-1",
			     "10",
			     "42",
			     "3.5",
			     "-2.25",
			     "1e3",
			     "abc",
			     " 1",
			     "1 ",
			     "9223372036854775807",
			     "-9223372036854775808",
			     "9223372036854775806",
			     "inf",
			     "0x10",
			     "007",
			     "hello world",
			     "1.1e308",
			     "nan",
			     "+5",
			     "-0",
			     "0.1",
			     "1e4932",
			     "-inf",
			     "1e-400"};

static uint64_t pick(struct gen *g, uint64_t n)
{
	return prng_below(&g->p, n);
}

static void add(struct gen *g, const char *s)
{
	snprintf(g->words[g->argc], sizeof g->words[0], "%s", s);
	g->argv[g->argc] = (struct resp_arg){(const uint8_t *)g->words[g->argc], strlen(s)};
	g->argc++;
}

static void add_int(struct gen *g, int64_t v)
{
	char b[32];
	snprintf(b, sizeof b, "%lld", (long long)v);
	add(g, b);
}

static void add_key(struct gen *g)
{
	add(g, keys[pick(g, sizeof keys / sizeof keys[0])]);
}

static void add_val(struct gen *g)
{
	add(g, vals[pick(g, sizeof vals / sizeof vals[0])]);
}

/* Integers at the edges (0, +-1, INT64_MIN/MAX and one past them, 2^31,
 * 2^32, the 512 MiB string limit, the seconds that overflow in ms): one of
 * them, or a small number. None is an offset or a length Redis would
 * accept and then allocate (512 MiB on both sides): past the limit they
 * are refused. */
static const char *edges[] = {"0",
			      "1",
			      "-1",
			      "9223372036854775807",
			      "-9223372036854775808",
			      "9223372036854775808",
			      "-9223372036854775809",
			      "9223372036854775806",
			      "2147483647",
			      "2147483648",
			      "-2147483649",
			      "4294967295",
			      "4294967296",
			      "536870912",
			      "536870913",
			      "9223372036854775",
			      "9223372036854776",
			      "-9223372036854776"};

static void add_edge_or_small(struct gen *g, int64_t small_below, int64_t small_from)
{
	if (pick(g, 4) == 0)
		add(g, edges[pick(g, sizeof edges / sizeof edges[0])]);
	else
		add_int(g, small_from + (int64_t)pick(g, (uint64_t)(small_below - small_from)));
}

/* An expiry argument: long enough not to pass during the run, or in the
 * past, or invalid. */
static void add_expiry(struct gen *g, bool absolute, bool ms)
{
	int64_t now = now_ms();
	switch (pick(g, 8)) {
	case 0:
		add(g, "0");
		return;
	case 1:
		add(g, "-5");
		return;
	case 2:
		if (pick(g, 3))
			add(g, edges[3 + pick(g, sizeof edges / sizeof edges[0] - 3)]);
		else
			add(g, "abc");
		return;
	case 3:
		if (absolute) {
			add_int(g, ms ? 1000 : 1); /* long past */
			return;
		}
		/* fall through */
	default: {
		int64_t s = 1000 + (int64_t)pick(g, 100000);
		add_int(g, absolute ? (ms ? now + s * 1000 : now / 1000 + s) : (ms ? s * 1000 : s));
	}
	}
}

static const char *set_opts[] = {"NX", "XX", "GET", "KEEPTTL", "EX", "PX", "EXAT", "PXAT", "nx"};

static void gen_set(struct gen *g)
{
	add(g, pick(g, 2) ? "SET" : "set");
	add_key(g);
	add_val(g);
	for (uint64_t n = pick(g, 4); n; n--) {
		const char *o = set_opts[pick(g, sizeof set_opts / sizeof set_opts[0])];
		add(g, o);
		if (!strcmp(o, "EX") || !strcmp(o, "PX") || !strcmp(o, "EXAT") ||
		    !strcmp(o, "PXAT"))
			add_expiry(g, o[2] == 'A', o[0] == 'P');
	}
}

static void gen_expire(struct gen *g)
{
	static const char *names[] = {"EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"};
	uint64_t k = pick(g, 4);
	add(g, names[k]);
	add_key(g);
	add_expiry(g, k >= 2, k % 2 == 1);
	static const char *opts[] = {"NX", "XX", "GT", "LT", "zz"};
	for (uint64_t n = pick(g, 3) ? 0 : 1 + pick(g, 2); n; n--)
		add(g, opts[pick(g, 5)]);
}

static void gen_getex(struct gen *g)
{
	add(g, "GETEX");
	add_key(g);
	static const char *opts[] = {"EX", "PX", "EXAT", "PXAT", "PERSIST", "KEEPTTL"};
	for (uint64_t n = pick(g, 3); n; n--) {
		const char *o = opts[pick(g, 6)];
		add(g, o);
		if (o[0] == 'E' || (o[0] == 'P' && o[1] == 'X'))
			add_expiry(g, strlen(o) == 4, o[0] == 'P');
	}
}

/* A database index: mostly 0 to 3 (so keys meet), sometimes at or past
 * an edge of redis's 16, or not a number. */
static void add_db(struct gen *g)
{
	static const char *edge[] = {
		"15",	      "16",	     "-1", "abc", "",
		"2147483648", "-2147483649", "01", "+1",  "9223372036854775808"};
	if (pick(g, 6))
		add_int(g, (int64_t)pick(g, 4));
	else
		add(g, edge[pick(g, sizeof edge / sizeof edge[0])]);
}

/* SELECT, MOVE, SWAPDB, DBSIZE, FLUSHDB (rarely: it wipes what the others
 * test), with the wrong arity now and then. */
static void gen_db_command(struct gen *g)
{
	switch (pick(g, 8)) {
	case 0:
	case 1:
	case 2:
		add(g, pick(g, 2) ? "SELECT" : "select");
		add_db(g);
		break;
	case 3:
	case 4:
		add(g, "MOVE");
		add_key(g);
		add_db(g);
		break;
	case 5:
		add(g, "SWAPDB");
		add_db(g);
		add_db(g);
		break;
	case 6:
		add(g, "DBSIZE");
		break;
	default:
		if (pick(g, 10))
			return; /* nothing: the caller draws again */
		add(g, "FLUSHDB");
		static const char *opt[] = {"ASYNC", "SYNC", "sync", "LATER"};
		if (pick(g, 2))
			add(g, opt[pick(g, 4)]);
		break;
	}
	if (!pick(g, 30)) /* an argument too many */
		add(g, "x");
}

/* A random command; most are well formed, some have the wrong arity. */
static void generate(struct gen *g)
{
	g->argc = 0;
	static const char *one_key[] = {"GET", "GETDEL", "STRLEN",  "INCR", "DECR", "TYPE",
					"TTL", "PTTL",	 "PERSIST", "get",  "Incr"};
	static const char *key_val[] = {"SETNX",  "GETSET",	 "APPEND", "INCRBY",
					"DECRBY", "INCRBYFLOAT", "RENAME", "RENAMENX"};
	static const char *multi_key[] = {"DEL", "UNLINK", "EXISTS", "MGET"};
	switch (pick(g, 20)) {
	case 0:
	case 1:
	case 2:
		gen_set(g);
		break;
	case 3:
	case 4:
	case 5:
		add(g, one_key[pick(g, sizeof one_key / sizeof one_key[0])]);
		add_key(g);
		break;
	case 6:
	case 7:
	case 8: {
		const char *c = key_val[pick(g, sizeof key_val / sizeof key_val[0])];
		add(g, c);
		add_key(g);
		if (!strncmp(c, "RENAME", 6))
			add_key(g);
		else if (!strcmp(c + 4, "BY") && pick(g, 3) == 0) /* INCRBY, DECRBY */
			add(g, edges[pick(g, sizeof edges / sizeof edges[0])]);
		else
			add_val(g);
		break;
	}
	case 9:
		add(g, multi_key[pick(g, 4)]);
		for (uint64_t n = 1 + pick(g, 4); n; n--)
			add_key(g);
		break;
	case 10:
		add(g, pick(g, 2) ? "MSET" : "MSETNX");
		for (uint64_t n = 1 + pick(g, 5); n; n--)
			pick(g, 2) ? add_key(g) : add_val(g);
		break;
	case 11:
		add(g, pick(g, 2) ? "SETEX" : "PSETEX");
		add_key(g);
		add_expiry(g, false, false);
		add_val(g);
		break;
	case 12:
		add(g, "GETRANGE");
		add_key(g);
		add_edge_or_small(g, 10, -10);
		add_edge_or_small(g, 10, -10);
		break;
	case 13:
		add(g, "SETRANGE");
		add_key(g);
		add_edge_or_small(g, 10, -2);
		add_val(g);
		break;
	case 14:
		gen_expire(g);
		break;
	case 15:
		gen_getex(g);
		break;
	case 16: {
		static const char *p[] = {"*", "k*", "k?", "k[0-2]", "[^k]*", "a\\ b", "*1*"};
		add(g, "KEYS");
		add(g, p[pick(g, 7)]);
		break;
	}
	case 17: {
		static const char *c[] = {"DBSIZE", "PING", "ECHO", "NOSUCH"};
		const char *cmd = c[pick(g, 4)];
		add(g, cmd);
		if (!strcmp(cmd, "ECHO") || !strcmp(cmd, "NOSUCH") ||
		    (!strcmp(cmd, "PING") && pick(g, 2)))
			add_val(g);
		break;
	}
	case 18:
		gen_db_command(g);
		break;
	default: /* wrong arity */
		add(g, one_key[pick(g, sizeof one_key / sizeof one_key[0])]);
		if (pick(g, 2)) {
			add_key(g);
			add_key(g);
		}
		break;
	}
	if (!g->argc)
		generate(g);
}

/* ---- comparison -------------------------------------------------------------- */

static bool is_cmd(const struct gen *g, const char *name)
{
	return g->argv[0].len == strlen(name) &&
	       !strncasecmp((const char *)g->argv[0].p, name, g->argv[0].len);
}

static int cmp_frame(const void *a, const void *b)
{
	const struct resp_arg *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* An array reply's elements sorted, re-encoded: for KEYS. */
static void sorted(const struct rbuf *r, struct rbuf *out)
{
	out->len = 0;
	if (r->len < 1 || r->p[0] != '*') {
		rbuf_put(out, r->p, r->len);
		return;
	}
	size_t pos = 0, frame;
	while (pos < r->len && r->p[pos] != '\n')
		pos++;
	pos++;
	struct resp_arg v[256];
	uint32_t n = 0;
	while (pos < r->len && n < 256 &&
	       resp_scan_reply(r->p + pos, r->len - pos, &frame) == RESP_OK) {
		v[n++] = (struct resp_arg){r->p + pos, frame};
		pos += frame;
	}
	qsort(v, n, sizeof v[0], cmp_frame);
	rbuf_put(out, r->p,
		 (size_t)(memchr(r->p, '\n', r->len)
				  ? (uint8_t *)memchr(r->p, '\n', r->len) - r->p + 1
				  : 0));
	for (uint32_t i = 0; i < n; i++)
		rbuf_put(out, v[i].p, v[i].len);
}

/* TTL and PTTL agree within the round trip. */
static bool ttl_close(const struct rbuf *a, const struct rbuf *b, int64_t slack)
{
	if (a->len < 2 || b->len < 2 || a->p[0] != ':' || b->p[0] != ':')
		return false;
	long long x = strtoll((const char *)a->p + 1, NULL, 10);
	long long y = strtoll((const char *)b->p + 1, NULL, 10);
	if (x < 0 || y < 0)
		return x == y;
	return llabs(x - y) <= slack;
}

/* Redis's DBSIZE counts keys whose time has passed until its expiry cycle
 * removes them; keel removes them when they are written. The two agree if
 * the live keys are the same and Redis counts no fewer. */
static bool dbsize_stale_only(struct kv *kv, const struct rbuf *mine, const struct rbuf *theirs,
			      struct rbuf *s1, struct rbuf *s2)
{
	long long a = strtoll((const char *)mine->p + 1, NULL, 10);
	long long b = strtoll((const char *)theirs->p + 1, NULL, 10);
	if (b < a)
		return false;
	struct resp_arg ka[2] = {{(const uint8_t *)"KEYS", 4}, {(const uint8_t *)"*", 1}};
	struct rbuf k1, k2;
	rbuf_init(&k1);
	rbuf_init(&k2);
	redis_call(ka, 2, &k2);
	keel_call(kv, ka, 2, &k1, now_ms());
	sorted(&k1, s1);
	sorted(&k2, s2);
	bool same = s1->len == s2->len && !memcmp(s1->p, s2->p, s1->len);
	rbuf_free(&k1);
	rbuf_free(&k2);
	return same;
}

/* A full SCAN of keel with a random COUNT and MATCH gives the keys that
 * redis's KEYS gives for the pattern (as sets). */
static bool scan_matches_keys(struct kv *kv, struct gen *g, struct rbuf *s1, struct rbuf *s2)
{
	static const char *pats[] = {"*", "k*", "k?", "*1*", "[a-k]*"};
	const char *pat = pats[pick(g, 5)];
	char count[24];
	static const char *big[] = {"9223372036854775807", "2147483648", "4294967296"};
	snprintf(count, sizeof count, "%d", 1 + (int)pick(g, 5));
	if (pick(g, 5) == 0) /* a COUNT at an edge: the whole table at once */
		snprintf(count, sizeof count, "%s", big[pick(g, 3)]);
	struct rbuf all, one;
	rbuf_init(&all);
	rbuf_init(&one);
	uint64_t cursor = 0, n = 0;
	do {
		char cur[24];
		snprintf(cur, sizeof cur, "%llu", (unsigned long long)cursor);
		struct resp_arg a[6] = {
			{(const uint8_t *)"SCAN", 4},  {(const uint8_t *)cur, strlen(cur)},
			{(const uint8_t *)"MATCH", 5}, {(const uint8_t *)pat, strlen(pat)},
			{(const uint8_t *)"COUNT", 5}, {(const uint8_t *)count, strlen(count)}};
		one.len = 0;
		keel_call(kv, a, 6, &one, now_ms());
		/* *2 $<len> <cursor> *<n> keys... */
		const char *p = (const char *)one.p;
		const char *c = strchr(strchr(p, '\n') + 1, '\n') + 1;
		cursor = strtoull(c, NULL, 10);
		const char *arr = strchr(c, '\n') + 1;
		n += strtoull(arr + 1, NULL, 10);
		rbuf_put(&all, strchr(arr, '\n') + 1,
			 one.len - (size_t)(strchr(arr, '\n') + 1 - p));
	} while (cursor);
	struct rbuf mine, theirs;
	rbuf_init(&mine);
	rbuf_init(&theirs);
	char hdr[24];
	snprintf(hdr, sizeof hdr, "*%llu\r\n", (unsigned long long)n);
	rbuf_puts(&mine, hdr);
	rbuf_put(&mine, all.p, all.len);
	struct resp_arg ka[2] = {{(const uint8_t *)"KEYS", 4}, {(const uint8_t *)pat, strlen(pat)}};
	redis_call(ka, 2, &theirs);
	sorted(&mine, s1);
	sorted(&theirs, s2);
	bool same = s1->len == s2->len && !memcmp(s1->p, s2->p, s1->len);
	rbuf_free(&all);
	rbuf_free(&one);
	rbuf_free(&mine);
	rbuf_free(&theirs);
	return same;
}

/* RANDOMKEY: nil on both or on neither, and keel's key exists in redis. */
static bool randomkey_exists(struct kv *kv, struct rbuf *mine, struct rbuf *theirs)
{
	struct resp_arg a = {(const uint8_t *)"RANDOMKEY", 9};
	redis_call(&a, 1, theirs);
	mine->len = 0;
	keel_call(kv, &a, 1, mine, now_ms());
	bool nil_m = mine->len == 5 && !memcmp(mine->p, "$-1", 3);
	bool nil_t = theirs->len == 5 && !memcmp(theirs->p, "$-1", 3);
	if (nil_m || nil_t)
		return nil_m == nil_t;
	size_t frame;
	const uint8_t *nl = memchr(mine->p, '\n', mine->len);
	struct resp_arg e[2] = {{(const uint8_t *)"EXISTS", 6},
				{nl + 1, (size_t)strtoull((const char *)mine->p + 1, NULL, 10)}};
	redis_call(e, 2, theirs);
	return resp_scan_reply(theirs->p, theirs->len, &frame) == RESP_OK &&
	       !memcmp(theirs->p, ":1", 2);
}

static void show(const char *who, const struct rbuf *r)
{
	fprintf(stderr, "  %s: ", who);
	for (size_t i = 0; i < r->len && i < 300; i++) {
		uint8_t c = r->p[i];
		if (c == '\r')
			fputs("\\r", stderr);
		else if (c == '\n')
			fputs("\\n", stderr);
		else if (c < 32 || c > 126)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: diff PORT [COMMANDS] [SEED]\n");
		return 2;
	}
	int port = (int)strtol(argv[1], NULL, 10);
	long total = argc > 2 ? strtol(argv[2], NULL, 10) : 10000;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	connect_redis(port);
	rbuf_init(&in);
	struct kv kv;
	kv_init(&kv, seed);
	struct gen g;
	prng_seed(&g.p, seed);
	struct rbuf mine, theirs, s1, s2;
	rbuf_init(&mine);
	rbuf_init(&theirs);
	rbuf_init(&s1);
	rbuf_init(&s2);
	struct resp_arg flush = {(const uint8_t *)"FLUSHALL", 8};
	redis_call(&flush, 1, &theirs);
	long passed = 0, failed = 0;
	static char hist[8][512];
	for (long i = 0; i < total; i++) {
		if (pick(&g, 100) == 0) { /* a whole SCAN against KEYS, or RANDOMKEY */
			bool ok = pick(&g, 2) ? scan_matches_keys(&kv, &g, &s1, &s2)
					      : randomkey_exists(&kv, &mine, &theirs);
			passed += ok;
			if (!ok && ++failed <= 10)
				fprintf(stderr, "divergence at command %ld: SCAN or RANDOMKEY\n",
					i);
			continue;
		}
		generate(&g);
		size_t hn = 0;
		for (uint32_t k = 0; k < g.argc && hn < sizeof hist[0] - 70; k++)
			hn += (size_t)snprintf(hist[i % 8] + hn, sizeof hist[0] - hn, "'%.*s' ",
					       (int)g.argv[k].len, (const char *)g.argv[k].p);
		int64_t t0 = now_ms();
		redis_call(g.argv, g.argc, &theirs);
		int64_t t1 = now_ms();
		mine.len = 0;
		keel_call(&kv, g.argv, g.argc, &mine, (t0 + t1) / 2);
		bool same = mine.len == theirs.len && !memcmp(mine.p, theirs.p, mine.len);
		if (!same && is_cmd(&g, "KEYS")) {
			sorted(&mine, &s1);
			sorted(&theirs, &s2);
			same = s1.len == s2.len && !memcmp(s1.p, s2.p, s1.len);
		}
		if (!same && is_cmd(&g, "DBSIZE"))
			same = dbsize_stale_only(&kv, &mine, &theirs, &s1, &s2);
		if (!same && (is_cmd(&g, "TTL") || is_cmd(&g, "PTTL")))
			same = ttl_close(&mine, &theirs, is_cmd(&g, "TTL") ? 1 : t1 - t0 + 2);
		const char *trace = getenv("DIFF_TRACE");
		for (uint32_t k = 1; trace && k < g.argc; k++) {
			if (g.argv[k].len == strlen(trace) &&
			    !memcmp(g.argv[k].p, trace, g.argv[k].len)) {
				fprintf(stderr, "%ld:", i);
				for (uint32_t j = 0; j < g.argc; j++)
					fprintf(stderr, " '%.*s'", (int)g.argv[j].len,
						(const char *)g.argv[j].p);
				fputc('\n', stderr);
				show("keel ", &mine);
				show("redis", &theirs);
				break;
			}
		}
		if (same) {
			passed++;
			continue;
		}
		if (++failed <= 10) {
			for (int h = 3; h >= 1 && getenv("DIFF_HISTORY"); h--)
				fprintf(stderr, "  before: %s\n", hist[(i - h + 8) % 8]);
			fprintf(stderr, "divergence at command %ld:", i);
			for (uint32_t k = 0; k < g.argc; k++)
				fprintf(stderr, " '%.*s'", (int)g.argv[k].len,
					(const char *)g.argv[k].p);
			fputc('\n', stderr);
			show("keel ", &mine);
			show("redis", &theirs);
			if (getenv("DIFF_HISTORY")) {
				struct resp_arg ka[2] = {{(const uint8_t *)"KEYS", 4},
							 {(const uint8_t *)"*", 1}};
				redis_call(ka, 2, &theirs);
				mine.len = 0;
				keel_call(&kv, ka, 2, &mine, now_ms());
				sorted(&mine, &s1);
				sorted(&theirs, &s2);
				show("keel  keys", &s1);
				show("redis keys", &s2);
			}
		}
	}
	printf("diff: %ld passed, %ld failed (%ld commands against redis-server, seed %llu)\n",
	       passed, failed, total, (unsigned long long)seed);
	kv_free(&kv);
	rbuf_free(&mine);
	rbuf_free(&theirs);
	rbuf_free(&s1);
	rbuf_free(&s2);
	rbuf_free(&in);
	close(fd);
	return failed ? 1 : 0;
}
