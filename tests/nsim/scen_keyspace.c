/* tests/nsim/scen_keyspace.c — the keyspace commands over every shard
 * (src/server/fanout.c) on 3 nodes of 3 shards (shard i led by node
 * i + 1), the run's clients writing and reading all along:
 *
 *   keyspace_over_shards_crash  six keys, two a shard, in database 7:
 *       DBSIZE, KEYS, a whole SCAN (its cursor from shard to shard) and
 *       RANDOMKEY on node 1 see them all; then a FLUSHDB is sent on node 3
 *       and a DBSIZE on node 1, and node 3 (shard 2's leader) crashes with
 *       them under way: node 3's is lost with it (freed with the node:
 *       ASan sees a part or a request left or freed twice), node 1's is
 *       answered a count or an error once shard 2 has a leader again;
 *       a connection on node 2 hangs up right after a KEYS and a FLUSHDB
 *       (its fan-out goes on without it, and is freed when its last part
 *       is answered); then FLUSHDB empties database 7 on every shard, in
 *       the order sent
 *       among writes of the shard the flush reaches last, and the counts,
 *       lists and scans are empty on every node.
 *
 *   keyspace_flush_in_a_move    a key of each shard in database 7; the
 *       link between nodes 1 and 2 cut, shard 2's slots move to shard 0:
 *       shard 2 freezes them, and the copy (sent by node 2, the driver, to
 *       node 1, shard 0's leader) is held in the cut. A FLUSHDB on node 3
 *       flushes shards 0 and 1 and is refused by shard 2, and says so:
 *       "-ERR the first 2 of 3 shards were flushed, then shard 2
 *       answered: TRYAGAIN a move ..."; healed, the move ends, and shard
 *       2's key, copied to shard 0, is the one key left.
 *
 * Its keys and database are its own: the workload's checks are unaffected. */
#include <stdio.h>
#include <string.h>

#include "kv/kv.h"
#include "nsim/nsim.h"
#include "server/server.h"

#define MS 1000000ull

/* The run's cluster: 3 nodes of 3 shards, no spare, 14 s. */
static void three_shards(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.shards = 3;
	r->p.run_ns = 14000 * MS;
}

/* The (skip+1)-th key <prefix><n> of shard's range (of 3). */
static void key_of_shard(const char *prefix, uint32_t skip, uint32_t shard, char *out, size_t cap)
{
	uint16_t first = shard ? (uint16_t)(kv_slot_range_last(shard - 1, 3) + 1) : 0;
	ns_probe_key(prefix, skip, first, kv_slot_range_last(shard, 3), out, cap);
}

struct ks {
	struct ns_run *r;
	char keys[6][16]; /* two a shard: keys[2i], keys[2i+1] of shard i */
	struct ns_probe *a, *b, *c[2], *d;
};

static void ks_write(void *arg)
{
	struct ks *k = arg;
	struct ns_probe *a = k->a = ns_probe_open(k->r, "keyspace-a", 0);
	ns_probe_send(a, "+OK", "SELECT 7");
	for (uint32_t i = 0; i < 6; i++)
		ns_probe_send(a, "+OK", "SET %s v%u", k->keys[i], i);
	ns_probe_send(a, ":6", "DBSIZE");
	ns_probe_send(a, "*6 ", "KEYS *");
	/* shard 0's two keys, then the cursor of shard 1's start */
	ns_probe_send(a, "*2 $1 1 *2 ", "SCAN 0 COUNT 100");
	ns_probe_send(a, "*2 $1 2 *2 ", "SCAN 1 COUNT 100");
	ns_probe_send(a, "*2 $1 0 *2 ", "SCAN 2 COUNT 100");
	ns_probe_send(a, "-ERR invalid cursor", "SCAN 3");
	ns_probe_send(a, "$", "RANDOMKEY");
}

/* A FLUSHDB on node 3 and a DBSIZE on node 1, then node 3 crashes. */
static void ks_crash(void *arg)
{
	struct ks *k = arg;
	struct ns_run *r = k->r;
	struct ns_probe *b = k->b = ns_probe_open(r, "keyspace-b", 2);
	b->may_close = true;
	ns_probe_send(b, "", "SELECT 7");
	ns_probe_send(b, "", "FLUSHDB");
	ns_probe_send(b, "", "DBSIZE");
	ns_probe_send(k->a, ":|-CLUSTERDOWN|-TRYAGAIN|-TIMEOUT", "DBSIZE");
}

/* Whether a connection of node n has a keyspace command under way. */
static bool fanning(struct ns_node *n)
{
	for (const struct client *c = n->s ? n->s->clients : NULL; c; c = c->next)
		if (c->n_fanout)
			return true;
	return false;
}

/* ... once node 3 has the FLUSHDB under way (a part of it sent). */
static void ks_crash_now(void *arg)
{
	struct ks *k = arg;
	struct ns_run *r = k->r;
	if (!fanning(&r->nodes[2])) {
		if (world_now_ns(r->w) < 3500 * MS)
			world_at(r->w, world_now_ns(r->w) + 100000, ks_crash_now, k);
		else
			ns_fail(r, "node 3 never had the FLUSHDB under way");
		return;
	}
	world_tracef(r->w, "scenario: node 3 crashes with a FLUSHDB and a DBSIZE under way");
	ns_node_crash(&r->nodes[2]);
}

static void ks_restart(void *arg)
{
	struct ks *k = arg;
	if (!k->r->nodes[2].s)
		ns_node_start(&k->r->nodes[2]);
}

static bool fanning(struct ns_node *n);

/* ... once node 2 has them: its KEYS under way, the FLUSHDB behind it. */
static void ks_hang_up_now(void *arg)
{
	struct ks *k = arg;
	struct ns_run *r = k->r;
	if (!fanning(&r->nodes[1])) {
		if (world_now_ns(r->w) < 7500 * MS)
			world_at(r->w, world_now_ns(r->w) + 100000, ks_hang_up_now, k);
		else
			ns_fail(r, "scenario: node 2 never had the KEYS under way");
		return;
	}
	world_tracef(k->r->w, "scenario: a connection to node 2 hangs up, its KEYS under way");
	wconn_close(k->d->conn);
	k->d->conn = NULL;
}

/* A connection that hangs up with a FLUSHDB under way: its parts are
 * answered to no client. */
static void ks_hang_up(void *arg)
{
	struct ks *k = arg;
	struct ns_probe *d = k->d = ns_probe_open(k->r, "keyspace-d", 1);
	d->may_close = true;
	ns_probe_send(d, "", "SELECT 7");
	ns_probe_send(d, "", "KEYS *");
	ns_probe_send(d, "", "FLUSHDB");
	world_at(k->r->w, world_now_ns(k->r->w), ks_hang_up_now, k);
}

/* Once shard 2 leads again: flushed in the order sent, and empty. */
static void ks_flush(void *arg)
{
	struct ks *k = arg;
	struct ns_probe *a = k->a;
	ns_probe_send(a, "+OK", "SET %s again", k->keys[4]);
	ns_probe_send(a, "+OK", "FLUSHDB");
	ns_probe_send(a, "+OK", "SET %s after", k->keys[5]);
	ns_probe_send(a, ":1", "DBSIZE");
	ns_probe_send(a, "$-1", "GET %s", k->keys[4]);
	ns_probe_send(a, "$5 after", "GET %s", k->keys[5]);
	ns_probe_send(a, "+OK", "FLUSHDB");
	ns_probe_send(a, ":0", "DBSIZE");
}

/* ... on every node (a's flush answered by then). */
static void ks_check(void *arg)
{
	struct ks *k = arg;
	for (uint32_t n = 1; n < 3; n++) {
		struct ns_probe *c = ns_probe_open(k->r, "keyspace-c", n);
		ns_probe_send(c, "+OK", "SELECT 7");
		ns_probe_send(c, "*0", "KEYS *");
		ns_probe_send(c, "*2 $1 1 *0", "SCAN 0");
		ns_probe_send(c, "$-1", "RANDOMKEY");
		k->c[n - 1] = c;
	}
}

static void ks_done(void *arg)
{
	struct ks *k = arg;
	ns_probe_done(k->a);
	ns_probe_done(k->b); /* node 3 crashed with it: what it had not answered is not due */
	ns_probe_done(k->d);
	ns_probe_done(k->c[0]);
	ns_probe_done(k->c[1]);
}

void ns_scen_keyspace_over_shards_crash(struct ns_run *r)
{
	three_shards(r);
	struct ks *k = ns_alloc(r, sizeof *k);
	memset(k, 0, sizeof *k);
	k->r = r;
	for (uint32_t i = 0; i < 6; i++)
		key_of_shard("ks", i % 2, i / 2, k->keys[i], sizeof k->keys[i]);
	world_at(r->w, 1500 * MS, ks_write, k);
	world_at(r->w, 3000 * MS, ks_crash, k);
	world_at(r->w, 3000 * MS, ks_crash_now, k);
	world_at(r->w, 3700 * MS, ks_restart, k);
	world_at(r->w, 7000 * MS, ks_hang_up, k);
	world_at(r->w, 9000 * MS, ks_flush, k);
	world_at(r->w, 10500 * MS, ks_check, k);
	world_at(r->w, 12000 * MS, ks_done, k);
}

/* ---- a flush refused by a shard in a move ------------------------------ */

struct kf {
	struct ns_run *r;
	char keys[3][16]; /* one a shard */
	struct ns_probe *a, *b;
	bool sent;
};

static void kf_write(void *arg)
{
	struct kf *k = arg;
	struct ns_probe *a = k->a = ns_probe_open(k->r, "flush-a", 2);
	ns_probe_send(a, "+OK", "SELECT 7");
	for (uint32_t i = 0; i < 3; i++)
		ns_probe_send(a, "+OK", "SET %s v%u", k->keys[i], i);
	ns_probe_send(a, ":3", "DBSIZE");
}

static void kf_move(void *arg)
{
	struct kf *k = arg;
	struct ns_run *r = k->r;
	world_tracef(r->w, "scenario: nodes 1 and 2 cut; shard 2's slots move to shard 0");
	world_cut(r->w, r->nodes[0].h, r->nodes[1].h, true);
	char first[8];
	snprintf(first, sizeof first, "%u", kv_slot_range_last(1, 3) + 1);
	const char *argv[] = {"KEEL.RESHARD", first, "16383", "0"};
	ns_admin_expect(r, 2, 4, argv, "+OK");
}

/* Once shard 2 (led by node 3) froze its slots: a FLUSHDB on node 3. */
static void kf_flush(void *arg)
{
	struct kf *k = arg;
	struct ns_run *r = k->r;
	struct server *s = r->nodes[2].s;
	const struct kv_slots *sl = s && s->n_shards == 3 ? kv_slots_of(&s->groups[2]->kv) : NULL;
	if (!sl || sl->state[KV_SLOTS - 1] != KV_SLOT_FROZEN) {
		if (world_now_ns(r->w) < 6000 * MS)
			world_at(r->w, world_now_ns(r->w) + MS, kf_flush, k);
		else
			ns_fail(r, "scenario: shard 2 never froze its slots");
		return;
	}
	k->sent = true;
	world_tracef(r->w, "scenario: shard 2 frozen, its copy held: FLUSHDB on node 3");
	ns_probe_send(k->a,
		      "-ERR the first 2 of 3 shards were flushed, then shard 2 answered: "
		      "TRYAGAIN a move",
		      "FLUSHDB");
	ns_probe_send(k->a, "$-1", "GET %s", k->keys[0]);
	ns_probe_send(k->a, "$-1", "GET %s", k->keys[1]);
	ns_probe_send(k->a, "$2 v2", "GET %s", k->keys[2]);
}

static void kf_heal(void *arg)
{
	struct kf *k = arg;
	world_tracef(k->r->w, "scenario: nodes 1 and 2 healed");
	world_cut(k->r->w, k->r->nodes[0].h, k->r->nodes[1].h, false);
}

/* The move done: shard 2's key, now shard 0's, the one key left. */
static void kf_check(void *arg)
{
	struct kf *k = arg;
	struct ns_probe *b = k->b = ns_probe_open(k->r, "flush-b", 0);
	ns_probe_send(b, "+OK", "SELECT 7");
	ns_probe_send(b, ":1", "DBSIZE");
	ns_probe_send(b, "$2 v2", "GET %s", k->keys[2]);
	struct server *s = k->r->nodes[0].s;
	if (s && s->meta && kv_slots_of(&s->meta->kv)->owner[KV_SLOTS - 1] != 0)
		ns_fail(k->r, "scenario: slot 16383 is shard %u's after the move, not shard 0's",
			kv_slots_of(&s->meta->kv)->owner[KV_SLOTS - 1]);
}

static void kf_done(void *arg)
{
	struct kf *k = arg;
	ns_probe_done(k->a);
	ns_probe_done(k->b);
	if (!k->sent)
		ns_fail(k->r, "scenario: the FLUSHDB was never sent");
}

void ns_scen_keyspace_flush_in_a_move(struct ns_run *r)
{
	three_shards(r);
	struct kf *k = ns_alloc(r, sizeof *k);
	memset(k, 0, sizeof *k);
	k->r = r;
	for (uint32_t i = 0; i < 3; i++)
		key_of_shard("kf", 0, i, k->keys[i], sizeof k->keys[i]);
	world_at(r->w, 1500 * MS, kf_write, k);
	world_at(r->w, 2500 * MS, kf_move, k);
	world_at(r->w, 2500 * MS, kf_flush, k);
	world_at(r->w, 6500 * MS, kf_heal, k);
	world_at(r->w, 11000 * MS, kf_check, k);
	world_at(r->w, 13500 * MS, kf_done, k);
}
