/* tests/fuzz/fuzz_kv.c — the key-value state machine (src/kv/), fuzzed from
 * its own command table: kv_commands() and each container's subcommands,
 * with the arguments' keywords read from the commands' COMMAND DOCS (so a
 * command added later is fuzzed with no change here). The input becomes a
 * sequence of steps, as committed entries would bring them: requests of
 * one command or a MULTI body of several, each command with its right
 * arity or a wrong one, and arguments among keys (binary ones too), edge
 * integers (0, ±1, INT64_MIN/MAX, 2^31, 2^32, lengths near 512 MiB), floats
 * (inf, nan), keywords, glob patterns, times around the clock and raw
 * bytes; the clock moving on so keys expire; the request's database and
 * the leader's count of databases changing; client sessions retrying. One
 * input in four runs on a shard's keyspace (shard 1 of 3), one in four on
 * the metadata group's (the slot map), so KEEL.SLOTS changes them.
 *
 * Every request is applied to two keyspaces, as two replicas apply one
 * log. Properties: each reply is one well-formed RESP value and is byte
 * for byte the same on both; both write the same snapshot; that snapshot
 * reads back, whole and streamed in pieces, into keyspaces of another hash
 * seed holding the same data and slots.
 *
 * A write whose integer argument lies in [64 KiB, 512 MiB) is not run: it
 * may legitimately allocate that much (SETRANGE), which would only slow
 * the fuzzer down; the edges at and past 512 MiB are run (refused). */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "same.h"

#include "base/prng.h"
#include "kv/kv.h"
#include "kv/snapshot.h"
#include "resp/encode.h"

#define SEED	   0x6b76
#define TOKENS_MAX 512
#define ARGS_MAX   12
#define MULTI_MAX  6
#define BIG_MIN	   (64ll << 10)
#define BIG_MAX	   (512ll << 20)
#define SESSIONS   3

static const char *const keys[] = {"k", "k2", "{t}k", "", "\x00\xff\r\n", "a*b?", "k\x00", "ks"};
static const size_t key_lens[] = {1, 2, 4, 0, 4, 4, 2, 2};
static const char *const edges[] = {
	"0",
	"1",
	"-1",
	"2",
	"-2",
	"9223372036854775807",
	"-9223372036854775808",
	"9223372036854775808",
	"-9223372036854775809",
	"2147483647",
	"2147483648",
	"-2147483648",
	"-2147483649",
	"4294967295",
	"4294967296",
	"536870911",
	"536870912",
	"16383",
	"16384",
	"536870913",
	"-536870912",
	"18446744073709551615",
	"01",
	"+1",
	" 1",
	"1 ",
	"",
	"0x10",
	"1e3",
	"100000",
	"65535",
	"65536",
	"16",
	"15",
	"9223372036854775",
	"9223372036854776",
};
static const char *const floats[] = {
	"inf",	  "-inf",    "+inf",	"nan", "-nan", "1e308", "-1e308", "1.7976931348623157e308",
	"5e-324", "0.1",     "-0",	"0.0", "1.5",  "3.0e3", "1e",	  ".5",
	"1.",	  "10.5abc", "infinity"};
static const char *const globs[] = {"*",    "k*",  "?",	      "[a-z]*", "\\",  "[",  "[^k]*",
				    "*k*2", "[\\", "*?*?*?*", "k[",	"\\*", "[]", "[!]"};

struct tokens {
	const char *p[TOKENS_MAX];
	size_t len[TOKENS_MAX];
	uint32_t n;
};

static struct tokens toks;

/* Every `token` value in a COMMAND DOCS blob (RESP2): the keywords. */
static void tokens_of(const struct kv_blob *b)
{
	static const char pat[] = "$5\r\ntoken\r\n$";
	const char *p = b->p, *end = b->p + b->len;
	while (toks.n < TOKENS_MAX && (p = memmem(p, (size_t)(end - p), pat, sizeof pat - 1))) {
		p += sizeof pat - 1;
		char *e;
		long n = strtol(p, &e, 10);
		if (n <= 0 || e + 2 + n > end)
			continue;
		toks.p[toks.n] = e + 2;
		toks.len[toks.n++] = (size_t)n;
	}
}

static void tokens_init(void)
{
	if (toks.n)
		return;
	uint32_t n;
	const struct kv_cmd *cmds = kv_commands(&n);
	for (uint32_t i = 0; i < n; i++) {
		tokens_of(&cmds[i].docs[0]);
		for (uint32_t k = 0; k < cmds[i].n_subs; k++)
			tokens_of(&cmds[i].subs[k].docs[0]);
	}
	FUZZ_CHECK(toks.n > 0);
}

/* The state both keyspaces share: the clock, the request's database. */
struct run {
	struct fuzz_in in;
	struct kv a, b;
	int64_t now_ms;
	uint32_t db, dbs;
	uint64_t seq[SESSIONS + 1];
	char num[32 * ARGS_MAX * MULTI_MAX]; /* numbers printed for one request */
	size_t num_at;
};

static struct resp_arg str_arg(const char *s)
{
	return (struct resp_arg){(const uint8_t *)s, strlen(s)};
}

/* A number printed into the run's scratch, as an argument. */
static struct resp_arg num_arg(struct run *r, long long v)
{
	char *at = r->num + r->num_at;
	int n = snprintf(at, 32, "%lld", v);
	r->num_at = (r->num_at + 32) % sizeof r->num;
	return (struct resp_arg){(const uint8_t *)at, (size_t)n};
}

static struct resp_arg gen_arg(struct run *r)
{
	struct fuzz_in *in = &r->in;
	uint8_t c = fuzz_u8(in);
	size_t n;
	switch (c % 12) {
	case 0:
	case 1:
	case 2:
		c = fuzz_below(in, sizeof keys / sizeof *keys);
		return (struct resp_arg){(const uint8_t *)keys[c], key_lens[c]};
	case 3:
	case 4:
		return str_arg(edges[fuzz_below(in, sizeof edges / sizeof *edges)]);
	case 5:
		return num_arg(r, (long long)(int8_t)fuzz_u8(in));
	case 6:
	case 7:
		c = fuzz_below(in, toks.n);
		return (struct resp_arg){(const uint8_t *)toks.p[c], toks.len[c]};
	case 8:
		return str_arg(floats[fuzz_below(in, sizeof floats / sizeof *floats)]);
	case 9: { /* a time around now: seconds or ms */
		long long d = (int8_t)fuzz_u8(in);
		return num_arg(r, c & 16 ? r->now_ms / 1000 + d : r->now_ms + d * 100);
	}
	case 10:
		return str_arg(globs[fuzz_below(in, sizeof globs / sizeof *globs)]);
	default: {
		const uint8_t *p = fuzz_bytes(in, fuzz_u8(in) % 24, &n);
		return (struct resp_arg){n ? p : (const uint8_t *)"", n};
	}
	}
}

/* A command from the table: its name (a subcommand's with its container),
 * then arguments for its arity, or a wrong count. */
static uint32_t gen_cmd(struct run *r, struct resp_arg *argv)
{
	uint32_t n;
	const struct kv_cmd *cmds = kv_commands(&n);
	const struct kv_cmd *cmd = &cmds[fuzz_below(&r->in, n)];
	uint8_t how = fuzz_u8(&r->in);
	uint32_t argc = 0;
	argv[argc++] = str_arg(cmd->name);
	if (cmd->n_subs && !(how & 64)) {
		const struct kv_cmd *sub = &cmd->subs[fuzz_below(&r->in, cmd->n_subs)];
		argv[argc++] = str_arg(strchr(sub->name, '|') + 1);
		cmd = sub;
	}
	int want = cmd->arity > 0 ? cmd->arity : -cmd->arity + (how & 3);
	if (how & 128)
		want = fuzz_below(&r->in, ARGS_MAX + 1);
	if (want > ARGS_MAX)
		want = ARGS_MAX;
	while ((int)argc < want)
		argv[argc++] = gen_arg(r);
	return argc;
}

/* Would this command be a write that may allocate one of its integers? */
static bool too_big(const struct resp_arg *argv, uint32_t argc)
{
	struct rbuf err;
	rbuf_init(&err);
	const struct kv_cmd *cmd = kv_resolve(argv, argc, &err);
	rbuf_free(&err);
	if (!cmd || !(cmd->flags & KV_WRITE))
		return false;
	for (uint32_t i = 1; i < argc; i++) {
		int64_t v;
		if (resp_str2ll(argv[i].p, argv[i].len, &v) && v >= BIG_MIN && v < BIG_MAX)
			return true;
	}
	return false;
}

/* Applies one request (n commands; a MULTI body when multi) to kv, as a
 * node applies a request of an entry (server/node.c apply_request). */
static void apply(struct run *r, struct kv *kv, struct resp_arg cmds[][ARGS_MAX],
		  const uint32_t *argc, uint32_t n, bool multi, uint64_t session, uint64_t seq,
		  struct rbuf *out)
{
	const uint8_t *kept;
	size_t klen;
	uint64_t ack = seq > 2 ? seq - 2 : 0;
	int seen = session ? kv_session_check(kv, session, seq, ack, &kept, &klen) : KV_SESSION_NEW;
	if (seen == KV_SESSION_REPLY) {
		rbuf_put(out, kept, klen);
		return;
	}
	if (seen != KV_SESSION_NEW) {
		resp_errorf(out, "ERR session %d", seen);
		return;
	}
	if (multi)
		resp_array(out, n);
	uint32_t db = r->db;
	for (uint32_t k = 0; k < n; k++) {
		struct kv_ctx c = {.kv = kv,
				   .argv = cmds[k],
				   .argc = argc[k],
				   .out = out,
				   .proto = 2,
				   .now_ms = r->now_ms,
				   .db = db,
				   .dbs = r->dbs,
				   .session = session};
		if (too_big(cmds[k], argc[k]))
			resp_error(out, "ERR not run by the fuzzer");
		else
			kv_exec(&c);
		db = c.db;
	}
	if (session)
		kv_session_record(kv, session, seq, ack, r->now_ms, out->p, out->len);
}

static void request(struct run *r, bool multi)
{
	static struct resp_arg cmds[MULTI_MAX][ARGS_MAX];
	uint32_t argc[MULTI_MAX];
	uint32_t n = multi ? 1 + fuzz_below(&r->in, MULTI_MAX) : 1;
	for (uint32_t k = 0; k < n; k++)
		argc[k] = gen_cmd(r, cmds[k]);
	uint8_t s = fuzz_u8(&r->in);
	uint64_t session = s % (SESSIONS + 1), seq = 0;
	if (session) /* the next request of the session, or one sent again */
		seq = (s & 64) && r->seq[session] > 1 ? r->seq[session] - (s >> 7)
						      : ++r->seq[session];
	struct rbuf oa, ob;
	rbuf_init(&oa);
	rbuf_init(&ob);
	apply(r, &r->a, cmds, argc, n, multi, session, seq, &oa);
	apply(r, &r->b, cmds, argc, n, multi, session, seq, &ob);
	size_t frame = 0;
	FUZZ_CHECK(resp_scan_reply(oa.p, oa.len, &frame) == RESP_OK && frame == oa.len);
	FUZZ_CHECK(oa.len == ob.len && !memcmp(oa.p, ob.p, oa.len));
	rbuf_free(&oa);
	rbuf_free(&ob);
}

static void clock_step(struct run *r)
{
	static const int64_t steps[] = {0, 1, 99, 100, 999, 1000, 1001, 60000, 86400000};
	r->now_ms += steps[fuzz_below(&r->in, sizeof steps / sizeof *steps)];
}

static void db_step(struct run *r)
{
	static const uint32_t counts[] = {16, 1, 2, 3, 17, 300};
	uint8_t c = fuzz_u8(&r->in);
	if (c & 1)
		r->dbs = counts[(c >> 1) % (sizeof counts / sizeof *counts)];
	r->db = fuzz_below(&r->in, r->dbs + 1); /* one past: refused */
}

/* The snapshot of kv, read whole, and streamed in pieces, into keyspaces
 * of another seed: the same data. */
static void snapshot_checks(struct run *r, const struct rbuf *w, uint8_t pieces)
{
	struct kv c;
	kv_init(&c, SEED ^ 0xc0ffee);
	FUZZ_CHECK(kv_snapshot_read(&c, w->p, w->len) == KEEL_OK);
	FUZZ_CHECK(same_kv(&r->a, &c, r->now_ms));
	struct kv d;
	kv_init(&d, SEED ^ 0xd00d);
	struct kv_restore rs;
	kv_restore_init(&rs, d.rand_state);
	struct prng g;
	prng_seed(&g, pieces);
	for (size_t at = 0; at < w->len;) {
		size_t piece = 1 + prng_below(&g, pieces & 1 ? 7 : 300);
		piece = piece < w->len - at ? piece : w->len - at;
		FUZZ_CHECK(kv_restore_feed(&rs, w->p + at, piece) == KEEL_OK);
		at += piece;
	}
	FUZZ_CHECK(kv_restore_finish(&rs, &d) == KEEL_OK);
	FUZZ_CHECK(same_kv(&c, &d, INT64_MIN));
	kv_free(&c);
	kv_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tokens_init();
	static struct run r;
	memset(&r, 0, sizeof r);
	r.in = (struct fuzz_in){data, size};
	r.now_ms = 1700000000000;
	r.dbs = KV_DBS_DEFAULT;
	kv_init(&r.a, SEED);
	kv_init(&r.b, SEED);
	uint8_t mode = size ? data[0] % 4 : 0; /* a shard's keyspace, or the map's */
	if (mode >= 2) {
		kv_shard_set(&r.a, 3, 1, mode == 3);
		kv_shard_set(&r.b, 3, 1, mode == 3);
	}
	for (int steps = 0; fuzz_left(&r.in) && steps < 200; steps++) {
		uint8_t op = fuzz_u8(&r.in) % 10;
		if (op < 6)
			request(&r, false);
		else if (op < 8)
			request(&r, true);
		else if (op == 8)
			clock_step(&r);
		else
			db_step(&r);
	}
	struct rbuf wa, wb;
	rbuf_init(&wa);
	rbuf_init(&wb);
	kv_snapshot_write(&r.a, r.now_ms, &wa);
	kv_snapshot_write(&r.b, r.now_ms, &wb);
	FUZZ_CHECK(wa.len == wb.len && !memcmp(wa.p, wb.p, wa.len));
	snapshot_checks(&r, &wa, size ? data[size - 1] : 0);
	rbuf_free(&wa);
	rbuf_free(&wb);
	kv_free(&r.a);
	kv_free(&r.b);
	return 0;
}
