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

static void crash_ev(void *arg)
{
	ns_node_crash(arg);
}

static void start_ev(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s)
		ns_node_start(n);
}

/* Node 3 (a follower, or a replica) has had a snapshot sent to it since it
 * last started. */
static void expect_installed(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s || !n->s->stats.snapshots_installed)
		ns_fail(n->run,
			"scenario: %s caught up without a snapshot: the scenario does not "
			"test what it says",
			host_ip(n->h));
}

/* A follower down while the others take snapshots and purge their logs
 * (--trailing-entries 10) is caught up by a snapshot when it returns; a
 * read replica of a read replica (cascading) down as long is caught up by
 * its source's own snapshot, from its file. Once healed every member and
 * replica must hold the same keyspace. */
static void snapshot_to_a_follower_behind(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.replicas = 2;
	r->p.replica_clients = 1;
	r->p.cascade = true;
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	r->p.replica_max_lag = 20;
	struct ns_node *n3 = &r->nodes[2], *cascaded = &r->nodes[4];
	world_at(r->w, 300000000, crash_ev, n3);
	world_at(r->w, 2500000000, start_ev, n3);
	world_at(r->w, 500000000, crash_ev, cascaded);
	world_at(r->w, 3500000000, start_ev, cascaded);
	world_at(r->w, 9000000000, expect_installed, n3);
	world_at(r->w, 9000000000, expect_installed, cascaded);
}

/* Node 3's moments: crashed in the middle of receiving a snapshot (its
 * chunks arrived and it is installed, the install not yet durable), then,
 * back and receiving one again, with the leader crashed at that moment. */
struct receiving {
	struct ns_run *r;
	uint32_t step;
};

static void when_receiving(void *arg)
{
	struct receiving *x = arg;
	struct ns_run *r = x->r;
	struct ns_node *n3 = &r->nodes[2];
	if (x->step == 2 || r->healing)
		return;
	if (!n3->s || !n3->s->stats.snapshots_installed || !n3->disk_pending) {
		world_at(r->w, world_now_ns(r->w) + 20000, when_receiving, x);
		return;
	}
	struct ns_node *victim = x->step == 0 ? n3 : leader(r);
	world_tracef(r->w, "scenario: node 3 is receiving a snapshot: crash node %llu",
		     (unsigned long long)(victim ? victim->id : 0));
	if (victim) {
		ns_node_crash(victim);
		world_at(r->w, world_now_ns(r->w) + 300000000, start_ev, victim);
	}
	x->step++;
	world_at(r->w, world_now_ns(r->w) + 20000, when_receiving, x);
}

static void expect_steps(void *arg)
{
	struct receiving *x = arg;
	if (x->step != 2)
		ns_fail(x->r, "scenario: node 3 was seen receiving a snapshot %u times of 2",
			x->step);
}

static void crash_while_receiving_a_snapshot(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	struct ns_node *n3 = &r->nodes[2];
	struct receiving *x = ns_alloc(r, sizeof *x);
	*x = (struct receiving){r, 0};
	world_at(r->w, 300000000, crash_ev, n3);
	world_at(r->w, 2500000000, start_ev, n3);
	world_at(r->w, 2500000000, when_receiving, x);
	world_at(r->w, 9000000000, expect_installed, n3);
	world_at(r->w, 9000000000, expect_steps, x);
}

static const struct {
	const char *name;
	void (*setup)(struct ns_run *r);
} scenarios[] = {
	{"leader_outside_config", leader_outside_config},
	{"snapshot_to_a_follower_behind", snapshot_to_a_follower_behind},
	{"crash_while_receiving_a_snapshot", crash_while_receiving_a_snapshot},
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
}
