/* tests/nsim/scenarios.c — scripted runs of the whole-node simulator: the
 * fault schedules of bugs its random seeds found, written out, so each
 * stays caught whatever later changes do to the seeds' traces. A scenario
 * sets the run's parameters (no random faults) and schedules its events;
 * the workload and every check are a seed's. */
#include <stdio.h>
#include <string.h>

#include "nsim/nsim.h"

static struct ns_node *leader(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].s && r->nodes[i].s->r &&
		    raft_role_of(r->nodes[i].s->r) == RAFT_LEADER)
			return &r->nodes[i];
	return NULL;
}

static void crash3(void *arg)
{
	ns_node_crash(&((struct ns_run *)arg)->nodes[2]);
}

static void restart3(void *arg)
{
	ns_node_start(&((struct ns_run *)arg)->nodes[2]);
}

static void add4(void *arg)
{
	ns_membership_add(arg); /* the spare: RAFT ADD-LEARNER 4 ... AUTO */
}

static void transfer_to_4(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader to transfer from");
		return;
	}
	ns_admin(r, (uint32_t)(l - r->nodes), "TRANSFER", 4);
}

/* A founder down while a node is added and made leader: restarted, its
 * configuration does not hold the leader, whose appends it must answer
 * over a connection of its own (members_follow_leader). */
static void leader_outside_config(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	world_at(r->w, 500000000, crash3, r);
	world_at(r->w, 1000000000, add4, r);
	world_at(r->w, 4000000000, transfer_to_4, r);
	world_at(r->w, 5500000000, restart3, r);
}

/* ---- read replicas: node 4 (127.0.0.4) replicates from the founders ---- */

static struct ns_node *replica(struct ns_run *r)
{
	return &r->nodes[r->p.nodes + r->p.spares];
}

static void crash_replica(void *arg)
{
	ns_node_crash(replica(arg));
}

static void start_replica(void *arg)
{
	struct ns_node *n = replica(arg);
	if (!n->s)
		ns_node_start(n);
}

/* Polled every ms: once the replica is receiving a snapshot, the source
 * sending it crashes. */
static void crash_source_mid_snapshot(void *arg)
{
	struct ns_run *r = arg;
	const struct server *s = replica(r)->s;
	if (s && s->replica && s->replica->follow.state == REPL_CATCHUP) {
		const struct repl_follow *f = &s->replica->follow;
		for (uint32_t i = 0; i < r->p.nodes; i++) {
			size_t n = strlen(host_ip(r->nodes[i].h));
			if (!strncmp(f->sources[f->cur], host_ip(r->nodes[i].h), n) &&
			    f->sources[f->cur][n] == ':') {
				world_tracef(r->w, "scenario: node %u crashes mid-snapshot", i + 1);
				ns_node_crash(&r->nodes[i]);
				return;
			}
		}
	}
	if (world_now_ns(r->w) < 4000000000)
		world_at(r->w, world_now_ns(r->w) + 1000000, crash_source_mid_snapshot, r);
	else
		ns_fail(r, "scenario: the replica never caught up by a snapshot");
}

static void restart_members(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (!r->nodes[i].s)
			ns_node_start(&r->nodes[i]);
}

static void slow_links(void *arg)
{
	world_set_latency(((struct ns_run *)arg)->w, 30000000, 40000000);
}

static void fast_links(void *arg)
{
	world_set_latency(((struct ns_run *)arg)->w, 100000, 2000000);
}

static void remove1(void *arg)
{
	ns_admin(arg, 1, "REMOVE", 1); /* sent to node 2, which forwards it */
}

/* Members that keep little log, and no claim on it for a replica more
 * than 20 entries behind: one that was down comes back to a log that no
 * longer holds what it needs next, and catches up by a snapshot. */
static void compacting_members(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.replicas = 1;
	r->p.replica_clients = 2;
	r->p.snapshot_entries = 40;
	r->p.member_trailing = 10;
	r->p.member_replica_lag = 20;
}

/* A replica down while the members compact their logs, restarted from its
 * files: it resumes by its source's snapshot, serving reads throughout
 * that never go back. */
static void replica_behind_compacted_log(struct ns_run *r)
{
	compacting_members(r);
	world_at(r->w, 400000000, crash_replica, r);
	world_at(r->w, 3000000000, start_replica, r);
}

/* The same, on slow links, and its source crashes while the snapshot is
 * on its way: the replica goes on from the next source. */
static void replica_source_crash_mid_snapshot(struct ns_run *r)
{
	compacting_members(r);
	world_at(r->w, 400000000, crash_replica, r);
	world_at(r->w, 2990000000, slow_links, r);
	world_at(r->w, 3000000000, start_replica, r);
	world_at(r->w, 3001000000, crash_source_mid_snapshot, r);
	world_at(r->w, 4000000000, fast_links, r);
	world_at(r->w, 4500000000, restart_members, r);
}

/* The replica's source is removed from the cluster: the stream ends, and
 * the replica follows the remaining members. */
static void replica_source_removed(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.replicas = 1;
	r->p.replica_clients = 2;
	world_at(r->w, 1500000000, remove1, r);
}

static const struct {
	const char *name;
	void (*setup)(struct ns_run *r);
} scenarios[] = {
	{"leader_outside_config", leader_outside_config},
	{"replica_behind_compacted_log", replica_behind_compacted_log},
	{"replica_source_crash_mid_snapshot", replica_source_crash_mid_snapshot},
	{"replica_source_removed", replica_source_removed},
};

uint32_t ns_scenario_count(void)
{
	return sizeof scenarios / sizeof *scenarios;
}

const char *ns_scenario_name(uint32_t i)
{
	return scenarios[i].name;
}

void ns_scenario_setup(struct ns_run *r, uint32_t i)
{
	r->p.replicas = 0;
	r->p.replica_clients = 0;
	r->p.fault_every_ms = 0;
	r->scripted = true;
	scenarios[i].setup(r);
	world_at(r->w, 1000000, ns_replica_watch, r);
}
