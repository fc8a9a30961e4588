/* tests/fuzz/fuzz_cluster.c — the Redis Cluster protocol's parsing and a
 * sharded node's routing (src/server/cluster.c), fuzzed on a node of 1 to
 * 4 groups whose keyspaces hold keys the input names, the slot map first
 * changed by up to 3 moves of slot ranges (a migration's BEGIN and FLIP in
 * the metadata group's keyspace):
 *   - CLUSTER subcommands (KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, MYID,
 *     HELP, and the topology ones, which a node with no core refuses) with
 *     the arity kv_resolve checks, as a client's dispatch does, and edge
 *     integers (0, ±1, 16383, 16384, INT64_MIN/MAX, past 64 bits, words);
 *   - any data command of the table with keys and raw arguments, routed
 *     to its keys' group (cluster_keys_group), alone and queued in MULTI
 *     (cluster_multi_route).
 * Properties: every reply is one well-formed RESP value; COUNTKEYSINSLOT
 * of a slot counts exactly the keys put in it; GETKEYSINSLOT slot n gives
 * min(n, that count) distinct keys, each of the slot, and the error for a
 * slot out of range or a negative n (the slot argument often one that
 * holds keys, n often -2..3); a command routed to a
 * group (1) has every key in slots the map gives that group, one refused as CROSSSLOT
 * (-1) has keys in two groups, one without keys (0) names none; a MULTI
 * takes a command only if its keys are in the transaction's group. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "shard_node.h"

#include "base/mem.h"
#include "kv/kv.h"
#include "resp/buf.h"
#include "resp/parse.h"
#include "server/server.h"

#define ARGS_MAX 8
#define KEYS_MAX 8 /* keys put in one input, at most */

static const char *const subs[] = {"keyslot", "countkeysinslot", "getkeysinslot", "myid", "help",
				   "slots",   "shards",		 "nodes",	  "info", "reset"};
static const char *const words[] = {"0",
				    "1",
				    "-1",
				    "16383",
				    "16384",
				    "5460",
				    "5461",
				    "-9223372036854775808",
				    "9223372036854775807",
				    "18446744073709551616",
				    " 1",
				    "1e3",
				    "",
				    "k",
				    "{t}k",
				    "{t}x"};

/* each slot's count of the keys put in it, on this input's node, and the
 * slots of the keys put, in turn */
static uint32_t counts[KV_SLOTS];
static uint16_t put_slots[KEYS_MAX];
static uint32_t n_put;

static void meta_exec(struct shard_node *n, const struct resp_arg *argv, uint32_t argc)
{
	struct rbuf out;
	rbuf_init(&out);
	struct kv_ctx k = {.kv = &n->meta.kv, .argv = argv, .argc = argc, .out = &out, .proto = 2};
	kv_exec(&k);
	rbuf_free(&out);
}

/* Moves a range of slots to another group in the map, as a migration's
 * BEGIN and FLIP would (before any key is put: keys are not moved). */
static void move(struct shard_node *n, struct fuzz_in *in)
{
	const struct kv_slots *sl = kv_slots_of(&n->meta.kv);
	if (!sl)
		return;
	char a[3][16], v[24];
	uint32_t first = fuzz_below(in, KV_SLOTS), len = 1 + fuzz_below(in, 3000);
	snprintf(a[0], sizeof a[0], "%u", first);
	snprintf(a[1], sizeof a[1], "%u", first + len < KV_SLOTS ? first + len : KV_SLOTS - 1);
	snprintf(a[2], sizeof a[2], "%u", fuzz_below(in, n->s.n_shards));
	snprintf(v, sizeof v, "%llu", (unsigned long long)sl->version);
	struct resp_arg begin[5] = {{(const uint8_t *)"KEEL.SLOTS", 10},
				    {(const uint8_t *)"BEGIN", 5},
				    {(const uint8_t *)a[0], strlen(a[0])},
				    {(const uint8_t *)a[1], strlen(a[1])},
				    {(const uint8_t *)a[2], strlen(a[2])}};
	struct resp_arg flip[3] = {{(const uint8_t *)"KEEL.SLOTS", 10},
				   {(const uint8_t *)"FLIP", 4},
				   {(const uint8_t *)v, strlen(v)}};
	meta_exec(n, begin, 5);
	meta_exec(n, flip, 3);
}

/* An argument: a word, or raw bytes of the input. */
static struct resp_arg arg(struct fuzz_in *in)
{
	if (fuzz_u8(in) & 1) {
		const char *w = words[fuzz_below(in, sizeof words / sizeof *words)];
		return (struct resp_arg){(const uint8_t *)w, strlen(w)};
	}
	size_t len;
	const uint8_t *p = fuzz_bytes(in, fuzz_below(in, 12), &len);
	return (struct resp_arg){p, len};
}

/* SETs a key in db 0 of its group, as the log would have. */
static void put(struct shard_node *n, struct resp_arg key)
{
	struct resp_arg argv[3] = {{(const uint8_t *)"SET", 3}, key, {(const uint8_t *)"v", 1}};
	uint16_t slot = kv_slot(key.p, key.len);
	struct group *g = cluster_slot_group(&n->s, slot);
	struct rbuf out;
	rbuf_init(&out);
	struct kv_ctx k = {
		.kv = &g->kv, .argv = argv, .argc = 3, .out = &out, .proto = 2, .dbs = 2};
	uint64_t before = kv_keys_total(&g->kv);
	kv_exec(&k);
	counts[slot] += kv_keys_total(&g->kv) - before;
	if (n_put < KEYS_MAX)
		put_slots[n_put++] = slot;
	rbuf_free(&out);
}

/* GETKEYSINSLOT slot max's reply: the first max keys of the slot (or all
 * of them), each of that slot, each once; an error for a slot out of range
 * or a negative max. */
static void getkeys_check(const struct rbuf *r, int64_t slot, int64_t max)
{
	static const char bad[] = "-ERR Invalid slot or number of keys\r\n";
	if (slot < 0 || slot >= KV_SLOTS || max < 0) {
		FUZZ_CHECK(r->len == sizeof bad - 1 && !memcmp(r->p, bad, r->len));
		return;
	}
	uint64_t want = (uint64_t)max < counts[slot] ? (uint64_t)max : counts[slot];
	/* *n, then n bulk strings */
	const uint8_t *p = r->p, *end = r->p + r->len, *key[KEYS_MAX];
	size_t klen[KEYS_MAX];
	int64_t n, len;
	const uint8_t *cr = memchr(p, '\r', (size_t)(end - p));
	FUZZ_CHECK(p < end && *p == '*' && cr && resp_str2ll(p + 1, (size_t)(cr - p - 1), &n));
	FUZZ_CHECK((uint64_t)n == want && n <= KEYS_MAX);
	p = cr + 2;
	for (int64_t i = 0; i < n; i++) {
		cr = p < end ? memchr(p, '\r', (size_t)(end - p)) : NULL;
		FUZZ_CHECK(cr && *p == '$' && resp_str2ll(p + 1, (size_t)(cr - p - 1), &len));
		FUZZ_CHECK(len >= 0 && len <= end - cr - 4);
		key[i] = cr + 2;
		klen[i] = (size_t)len;
		FUZZ_CHECK(kv_slot(key[i], klen[i]) == slot);
		for (int64_t j = 0; j < i; j++)
			FUZZ_CHECK(klen[j] != klen[i] || memcmp(key[j], key[i], klen[i]) != 0);
		p = key[i] + len + 2;
	}
	FUZZ_CHECK(p == end);
}

static void cluster(struct shard_node *n, struct client *c, struct fuzz_in *in)
{
	struct resp_arg argv[ARGS_MAX];
	const char *sub = subs[fuzz_below(in, sizeof subs / sizeof *subs)];
	uint32_t argc = 2 + fuzz_below(in, 3);
	argv[0] = (struct resp_arg){(const uint8_t *)"CLUSTER", 7};
	argv[1] = (struct resp_arg){(const uint8_t *)sub, strlen(sub)};
	for (uint32_t i = 2; i < argc; i++)
		argv[i] = arg(in);
	/* COUNTKEYSINSLOT and GETKEYSINSLOT: often a slot that holds keys,
	 * and a count about as many */
	char slot_text[8], max_text[4];
	if (argc > 2 && n_put && (fuzz_u8(in) & 1)) {
		snprintf(slot_text, sizeof slot_text, "%u", put_slots[fuzz_below(in, n_put)]);
		argv[2] = (struct resp_arg){(const uint8_t *)slot_text, strlen(slot_text)};
	}
	if (argc > 3 && (fuzz_u8(in) & 1)) {
		snprintf(max_text, sizeof max_text, "%d", (int)fuzz_below(in, 6) - 2);
		argv[3] = (struct resp_arg){(const uint8_t *)max_text, strlen(max_text)};
	}
	struct creq q = {0};
	rbuf_init(&q.reply);
	const struct kv_cmd *cmd = kv_resolve(argv, argc, &q.reply);
	if (cmd) {
		FUZZ_CHECK(cluster_command(&n->s, c, &q, argv, argc));
		int64_t slot;
		if (!strcmp(sub, "countkeysinslot") && !c->db &&
		    resp_str2ll(argv[2].p, argv[2].len, &slot) && slot >= 0 && slot < KV_SLOTS) {
			char want[32];
			snprintf(want, sizeof want, ":%u\r\n", counts[slot]);
			FUZZ_CHECK(q.reply.len == strlen(want) &&
				   !memcmp(q.reply.p, want, q.reply.len));
		}
		int64_t max;
		if (!strcmp(sub, "getkeysinslot") && !c->db &&
		    resp_str2ll(argv[2].p, argv[2].len, &slot) &&
		    resp_str2ll(argv[3].p, argv[3].len, &max))
			getkeys_check(&q.reply, slot, max);
	}
	shard_node_check_reply(&q.reply);
	rbuf_free(&q.reply);
}

/* A data command of the table, its keys' group checked. */
static void route(struct shard_node *n, struct client *c, struct fuzz_in *in)
{
	uint32_t n_cmds;
	const struct kv_cmd *all = kv_commands(&n_cmds), *cmd = &all[fuzz_below(in, n_cmds)];
	if (!(cmd->flags & (KV_READ | KV_WRITE)))
		return;
	struct resp_arg argv[ARGS_MAX];
	uint32_t argc = 1 + fuzz_below(in, ARGS_MAX);
	argv[0] = (struct resp_arg){(const uint8_t *)cmd->name, strlen(cmd->name)};
	for (uint32_t i = 1; i < argc; i++)
		argv[i] = arg(in);
	struct group *g = NULL;
	int rc = cluster_keys_group(&n->s, cmd, argv, argc, &g);
	uint32_t pos[ARGS_MAX];
	int keys = kv_command_keys(cmd, argv, argc, pos, NULL, ARGS_MAX);
	FUZZ_CHECK(g && (rc == 1 || rc == 0 || rc == -1));
	FUZZ_CHECK(rc != 0 || (keys == 0 && g == n->s.g));
	bool apart = false;
	for (int i = 0; i < keys; i++) {
		uint16_t slot = kv_slot(argv[pos[i]].p, argv[pos[i]].len);
		bool in_g = cluster_slot_group(&n->s, slot) == g;
		FUZZ_CHECK(rc != 1 || n->s.n_shards == 1 || in_g);
		apart = apart || !in_g;
	}
	FUZZ_CHECK(rc != -1 || apart);
	struct creq q = {0};
	rbuf_init(&q.reply);
	struct group *before = c->multi_group;
	if (cluster_multi_route(&n->s, c, &q, cmd, argv, argc)) {
		FUZZ_CHECK(rc == 1 && (!before || before == g) && c->multi_group == g);
	} else {
		FUZZ_CHECK(rc != 1 || (before && before != g));
		FUZZ_CHECK(c->multi_group == before);
		shard_node_check_reply(&q.reply);
	}
	rbuf_free(&q.reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct shard_node *n = keel_calloc(1, sizeof *n);
	shard_node_init(n, 1 + fuzz_below(&in, SHARD_NODE_GROUPS), 2);
	memset(counts, 0, sizeof counts);
	n_put = 0;
	for (uint32_t k = fuzz_below(&in, 4); k > 0; k--)
		move(n, &in);
	for (uint32_t k = fuzz_below(&in, 8); k > 0; k--)
		put(n, arg(&in));
	struct client c = {.proto = 2 + (fuzz_u8(&in) & 1), .db = fuzz_u8(&in) & 1};
	for (int step = 0; step < 16 && fuzz_left(&in); step++) {
		if (fuzz_u8(&in) & 1)
			cluster(n, &c, &in);
		else
			route(n, &c, &in);
		if (!fuzz_below(&in, 8))
			c.multi_group = NULL; /* a new MULTI */
	}
	shard_node_free(n);
	keel_free(n);
	return 0;
}
