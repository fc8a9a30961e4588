/* tests/fuzz/fuzz_migrate.c — the argument parsers of the slot migration's
 * client commands (src/server/migrate.c), fuzzed on a node of 1 to 4
 * groups (every group, and the metadata group, a replica's: no core):
 *   - KEEL.RESHARD first last shard, with the arity kv_resolve checks, as a
 *     client's dispatch does, and also as migrate_command sees any count of
 *     arguments; edge integers (0, -1, 16383, 16384, INT64_MIN/MAX, past 64
 *     bits, leading zeros and signs, words) or raw bytes;
 *   - KEEL.ADDSHARD's list of ids (migrate_members_listed) against a
 *     configuration of 1 to 7 members, voters and learners, ids 1 to 9 or
 *     edge ones.
 * Properties: every reply is one well-formed RESP value; KEEL.RESHARD is
 * taken (its BEGIN proposed to the metadata group: here a replica's
 * -READONLY, relayed) exactly when it has three arguments, each a
 * decimal integer, 0 <= first <= last <= 16383 and the shard one of the
 * node's; otherwise it is refused with exactly the error of its first bad
 * argument, and a node of one shard refuses every one; the map is never
 * changed by the command itself; an id list is taken as every node
 * exactly when it is empty or names each voter once and nothing else, as
 * a placement when it names fewer voters, each once. */
#include <string.h>

#include "fuzz.h"
#include "shard_node.h"

#include "base/mem.h"
#include "kv/kv.h"
#include "resp/buf.h"
#include "resp/parse.h"
#include "server/server.h"

#define ARGS_MAX 6

static const char *const words[] = {"0",
				    "1",
				    "-1",
				    "2",
				    "3",
				    "16383",
				    "16384",
				    "5460",
				    "-0",
				    "+1",
				    "01",
				    "9",
				    "-9223372036854775808",
				    "9223372036854775807",
				    "18446744073709551616",
				    "99999999999999999999999",
				    " 1",
				    "1 ",
				    "1e3",
				    "0x10",
				    "",
				    "slot",
				    "4294967296",
				    "65536"};

static struct resp_arg arg(struct fuzz_in *in)
{
	if (fuzz_u8(in) & 1) {
		const char *w = words[fuzz_below(in, sizeof words / sizeof *words)];
		return (struct resp_arg){(const uint8_t *)w, strlen(w)};
	}
	size_t len;
	const uint8_t *p = fuzz_bytes(in, fuzz_below(in, 24), &len);
	return (struct resp_arg){p, len};
}

static bool reply_is(const struct rbuf *r, const char *want)
{
	size_t n = strlen(want);
	return r->len == n + 2 && !memcmp(r->p, want, n) && !memcmp(r->p + n, "\r\n", 2);
}

static struct rbuf got; /* the reply of the request asked, once finished */

static void on_answer(struct server *s, struct creq *q)
{
	(void)s;
	got.len = 0;
	rbuf_put(&got, q->reply.p, q->reply.len);
}

/* An integer argument in 0..max. */
static bool in_range(const struct resp_arg *a, int64_t max)
{
	int64_t v;
	return resp_str2ll(a->p, a->len, &v) && v >= 0 && v <= max;
}

static void expect(struct shard_node *n, const struct resp_arg *argv, uint32_t argc)
{
	char shards[96];
	snprintf(shards, sizeof shards, "-ERR no such shard: shards are 0 to %u",
		 n->s.n_shards - 1);
	int64_t first = -1, last = -1;
	bool slots = argc == 4 && in_range(&argv[1], KV_SLOTS - 1) &&
		     in_range(&argv[2], KV_SLOTS - 1) &&
		     resp_str2ll(argv[1].p, argv[1].len, &first) &&
		     resp_str2ll(argv[2].p, argv[2].len, &last) && first <= last;
	if (!n->s.meta)
		FUZZ_CHECK(reply_is(&got, "-ERR this node has one shard (--shards): there is "
					  "nowhere to move slots to"));
	else if (!slots)
		FUZZ_CHECK(reply_is(&got, "-ERR Invalid or out of range slot"));
	else if (!in_range(&argv[3], (int64_t)n->s.n_shards - 1))
		FUZZ_CHECK(reply_is(&got, shards));
	else /* taken: proposed to the metadata group (a replica's here) */
		FUZZ_CHECK(got.len > 9 && !memcmp(got.p, "-READONLY", 9));
}

/* KEEL.RESHARD with argc arguments, through the table's arity check as a
 * client's dispatch does (or straight to migrate_command). */
static void reshard(struct shard_node *n, struct fuzz_in *in)
{
	struct resp_arg argv[ARGS_MAX];
	uint32_t argc = 1 + fuzz_below(in, ARGS_MAX);
	argv[0] = (struct resp_arg){(const uint8_t *)"KEEL.RESHARD", 12};
	for (uint32_t i = 1; i < argc; i++)
		argv[i] = arg(in);
	bool direct = fuzz_u8(in) & 1;
	struct creq *q = creq_new(&n->s, NULL);
	q->on_done = on_answer;
	got.len = 0;
	uint64_t version = n->s.meta ? kv_slots_of(&n->s.meta->kv)->version : 0;
	if (!direct && !kv_resolve(argv, argc, &q->reply)) {
		FUZZ_CHECK(argc != 4);
		creq_finish(&n->s, q);
		shard_node_check_reply(&got);
		return;
	}
	migrate_command(&n->s, q, argv, argc);
	shard_node_check_reply(&got);
	expect(n, argv, argc);
	FUZZ_CHECK(!n->s.meta || kv_slots_of(&n->s.meta->kv)->version == version);
}

/* KEEL.ADDSHARD's ids against a configuration drawn from the input. */
static void addshard(struct fuzz_in *in)
{
	static const raft_id ids[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, INT64_MAX, UINT64_MAX};
	struct raft_config c = {0};
	uint32_t voters = 0;
	for (uint32_t k = 1 + fuzz_below(in, 7); k > 0; k--) {
		raft_id id = ids[fuzz_below(in, sizeof ids / sizeof *ids)];
		bool dup = false;
		for (uint32_t i = 0; i < c.n; i++)
			dup = dup || c.members[i].id == id;
		if (dup)
			continue;
		c.members[c.n].id = id;
		c.members[c.n].role = fuzz_u8(in) & 1 ? RAFT_VOTER : RAFT_LEARNER;
		voters += c.members[c.n].role == RAFT_VOTER;
		c.n++;
	}
	struct resp_arg argv[ARGS_MAX + 2];
	uint32_t argc = 1 + fuzz_below(in, ARGS_MAX + 1);
	argv[0] = (struct resp_arg){(const uint8_t *)"KEEL.ADDSHARD", 13};
	for (uint32_t i = 1; i < argc; i++)
		argv[i] = arg(in);
	/* the oracle: each argument a positive id of a voter, no id twice, at
	 * most as many as there are voters and KV_SHARD_MEMBERS_MAX: every
	 * voter (or none at all: 1), some of them (2) */
	bool want = argc - 1 <= voters && argc - 1 <= KV_SHARD_MEMBERS_MAX;
	for (uint32_t i = 1; want && i < argc; i++) {
		int64_t id;
		want = resp_str2ll(argv[i].p, argv[i].len, &id) && id > 0;
		bool voter = false;
		for (uint32_t k = 0; want && k < c.n; k++)
			voter = voter ||
				(c.members[k].id == (raft_id)id && c.members[k].role == RAFT_VOTER);
		want = want && voter;
		for (uint32_t k = 1; want && k < i; k++) {
			int64_t other;
			want = !(resp_str2ll(argv[k].p, argv[k].len, &other) && other == id);
		}
	}
	int kind = !want ? 0 : argc == 1 || argc - 1 == voters ? 1 : 2;
	FUZZ_CHECK(migrate_members_listed(&c, argv, argc) == kind);
}

/* The nodes, one for each count of groups, made once: the commands change
 * nothing in them (checked), and building a map costs more than a run. */
static struct shard_node *nodes[SHARD_NODE_GROUPS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint32_t groups = 1 + fuzz_below(&in, SHARD_NODE_GROUPS);
	if (!nodes[groups - 1]) {
		nodes[groups - 1] = keel_calloc(1, sizeof **nodes);
		shard_node_init(nodes[groups - 1], groups, 1);
		nodes[groups - 1]->s.cfg.request_timeout_ms = 5000;
	}
	struct shard_node *n = nodes[groups - 1];
	rbuf_init(&got);
	for (int step = 0; step < 16 && fuzz_left(&in); step++) {
		if (fuzz_u8(&in) & 1)
			reshard(n, &in);
		else
			addshard(&in);
	}
	rbuf_free(&got);
	return 0;
}
