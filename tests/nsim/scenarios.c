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

static const struct {
	const char *name;
	void (*setup)(struct ns_run *r);
} scenarios[] = {
	{"leader_outside_config", leader_outside_config},
	{"write_without_leader", ns_scen_write_without_leader},
	{"write_on_deposed_leader", ns_scen_write_on_deposed_leader},
	{"admin_through_follower", ns_scen_admin_through_follower},
	{"disk_fails_under_requests", ns_scen_disk_fails_under_requests},
	{"forward_sent_once", ns_scen_forward_sent_once},
	{"snapshot_in_chunks", ns_scen_snapshot_in_chunks},
	{"removed_under_requests", ns_scen_removed_under_requests},
	{"peer_forwards_malformed", ns_scen_peer_forwards_malformed},
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
