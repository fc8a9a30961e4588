/* tests/nsim/scen_shard_replicas.c — a scripted whole-node run of read
 * replicas of a sharded cluster (docs/replicas.md, "A replica of a sharded
 * cluster"): three nodes of three groups, a replica of them and a replica
 * of that replica (cascading), each restarted while the members take
 * snapshots and purge their logs. Each group of each replica resumes from
 * its source's log (a departed replica's claim is kept per group), never
 * by a snapshot; each group of each replica names, from its source's
 * TOPOLOGY (relayed by a replica source), the leader the members name; and
 * the run's own checks hold: the replicas' reads show only applied writes
 * and never go back, and once healed every group of every replica holds
 * what the members hold.
 *
 * sharded_replica_by_snapshot: the replica is down while a range of slots
 * moves and its first source restarts (forgetting the replica's claim on
 * its logs), so it catches up by snapshots; each of its groups' keyspaces
 * keeps its shard (the members' shard_n, shard_i and metadata flag:
 * checked here), without which a group checks no slot (a read of a slot
 * it let go answered, a write its members refused applied). */
#include <stdio.h>

#include "nsim/nsim.h"

#define MS 1000000ull

static void crash(void *arg)
{
	ns_node_crash(arg);
}

static void start(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s)
		ns_node_start(n);
}

static void no_snapshot(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s || n->s->n_shards != 3 || !n->s->meta) {
		ns_fail(n->run,
			"scenario: replica %s is not running with 3 shards and the metadata group",
			host_ip(n->h));
		return;
	}
	for (uint32_t gi = 0; gi < n->s->n_groups; gi++)
		if (n->s->groups[gi]->replica->follow.stats.snapshots)
			ns_fail(n->run,
				"replica %s was sent a snapshot of group %u: its source's log "
				"was not kept for it",
				host_ip(n->h), gi);
}

/* The leader of group gi as a member that leads it says (0: none). */
static uint64_t member_leader(struct ns_run *r, uint32_t gi)
{
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->groups[gi]->r && raft_role_of(s->groups[gi]->r) == RAFT_LEADER)
			return r->nodes[i].id;
	}
	return 0;
}

static void names_leaders(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t gi = 0; gi < 3; gi++) {
		uint64_t lead = member_leader(r, gi);
		for (uint32_t i = r->p.nodes; i < r->n_nodes && lead; i++) {
			const struct ns_node *x = &r->nodes[i];
			const struct replica_node *rn = x->s ? x->s->groups[gi]->replica : NULL;
			uint64_t named = 0;
			for (uint32_t k = 0; rn && rn->has_topo && k < rn->topo.n; k++)
				if (rn->topo.nodes[k].flags & REPL_TOPO_LEADER)
					named = rn->topo.nodes[k].id;
			if (named != lead)
				ns_fail(r,
					"replica %s names %llu the leader of group %u; the members "
					"%llu",
					host_ip(x->h), (unsigned long long)named, gi,
					(unsigned long long)lead);
		}
		if (!lead)
			ns_fail(r, "scenario: no leader of group %u at 5.5 s", gi);
	}
}

void ns_scen_sharded_replicas(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.shards = 3;
	r->p.replicas = 2;
	r->p.replica_clients = 1;
	r->p.cascade = true;
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	struct ns_node *a = &r->nodes[3], *b = &r->nodes[4]; /* b follows a */
	world_at(r->w, 1000 * MS, crash, a);
	world_at(r->w, 1800 * MS, start, a);
	world_at(r->w, 2500 * MS, crash, b);
	world_at(r->w, 3000 * MS, start, b);
	world_at(r->w, 4900 * MS, no_snapshot, a);
	world_at(r->w, 4900 * MS, no_snapshot, b);
	world_at(r->w, 5500 * MS, names_leaders, r);
}

/* ---- a replica caught up by snapshots keeps each group's shard ---------- */

static void move_c1(void *arg)
{
	ns_reshard_key(arg, "c1", 200, UINT32_MAX, 1);
}

static void shards_kept(void *arg)
{
	struct ns_node *n = arg;
	struct ns_run *r = n->run;
	const struct server *m = r->nodes[1].s;
	if (!n->s || !m || n->s->n_groups != m->n_groups) {
		ns_fail(r, "scenario: replica %s or node 2 is not running with the same groups",
			host_ip(n->h));
		return;
	}
	uint64_t snapshots = 0;
	for (uint32_t gi = 0; gi < n->s->n_groups; gi++) {
		const struct kv *a = &n->s->groups[gi]->kv, *b = &m->groups[gi]->kv;
		snapshots += n->s->groups[gi]->replica->follow.stats.snapshots;
		if (a->shard_n != b->shard_n || a->shard_i != b->shard_i ||
		    a->shard_meta != b->shard_meta)
			ns_fail(r,
				"replica %s's group %u is shard %u of %u%s, its members' %u of "
				"%u%s",
				host_ip(n->h), gi, a->shard_i, a->shard_n,
				a->shard_meta ? " (metadata)" : "", b->shard_i, b->shard_n,
				b->shard_meta ? " (metadata)" : "");
	}
	if (!snapshots)
		ns_fail(r, "scenario: replica %s caught up by no snapshot", host_ip(n->h));
}

void ns_scen_sharded_replica_by_snapshot(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.shards = 3;
	r->p.replicas = 1;
	r->p.replica_clients = 1;
	r->p.snapshot_entries = 20;
	r->p.trailing_entries = 10;
	struct ns_node *rep = &r->nodes[3];
	world_at(r->w, 1000 * MS, crash, rep);
	world_at(r->w, 1500 * MS, move_c1, r);
	world_at(r->w, 2500 * MS, crash, &r->nodes[0]); /* the replica's first source */
	world_at(r->w, 3000 * MS, start, &r->nodes[0]);
	world_at(r->w, 3500 * MS, start, rep);
	world_at(r->w, 5500 * MS, shards_kept, rep);
}
