/* tests/nsim/scen_requests.c — scripted whole-node runs of the request
 * path's windows: a write that waits for a leader that never comes, a
 * write whose leader loses its entry, a write forwarded by a follower
 * whose leader changes, reads on a follower right after its connection's
 * writes, and a write sent again in its session. Each sets up the window
 * with its own faults and a probe (probe.c) whose replies must be what
 * the rules promise (SPEC.md §4, docs/architecture.md "One connection,
 * one order"); the workload's clients run beside it, under every check
 * of a seed. */
#include <stdio.h>
#include <string.h>

#include "nsim/nsim.h"

#define MS 1000000ull

static struct ns_probe *probe;

static int32_t leader_no(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].s && r->nodes[i].s->r &&
		    raft_role_of(r->nodes[i].s->r) == RAFT_LEADER)
			return (int32_t)i;
	return -1;
}

/* A founder that is not the leader (the leader's index otherwise). */
static uint32_t follower_no(struct ns_run *r, uint32_t leader)
{
	return (leader + 1) % r->p.nodes;
}

static void isolate(struct ns_run *r, uint32_t a, bool cut)
{
	world_tracef(r->w, "scenario: %s node %u", cut ? "isolate" : "rejoin", a + 1);
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (i != a)
			world_cut(r->w, r->nodes[a].h, r->nodes[i].h, cut);
}

static void probe_done(void *arg)
{
	(void)arg;
	if (probe)
		ns_probe_done(probe);
	probe = NULL;
}

/* ---- no leader in time: -CLUSTERDOWN, never sent anywhere ---- */

static void no_leader_crash(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	uint32_t keep = follower_no(r, (uint32_t)l);
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (i != keep)
			ns_node_crash(&r->nodes[i]);
	probe = ns_probe_open(r, "lone", keep);
}

/* 3 nodes, two of them down: a write to the third waits for a leader up
 * to the request timeout, and is told it was not applied (-CLUSTERDOWN),
 * since it never went to a leader; a read likewise gets an error, not a
 * value. */
static void lone_write_after_leader_went(void *arg)
{
	(void)arg;
	ns_probe_send(probe, "-CLUSTERDOWN", "SET lone v2");
	ns_probe_send(probe, "-", "GET lone");
}

static void no_leader_restart(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (!r->nodes[i].s)
			ns_node_start(&r->nodes[i]);
}

void ns_scen_write_without_leader(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, no_leader_crash, r);
	world_at(r->w, 1300 * MS, lone_write_after_leader_went, r);
	world_at(r->w, 7000 * MS, probe_done, r);
	world_at(r->w, 7100 * MS, no_leader_restart, r);
}

/* ---- the leader loses the write's entry: -TRYAGAIN, not applied ---- */

static uint32_t deposed;

static void deposed_write(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	deposed = (uint32_t)l;
	probe = ns_probe_open(r, "deposed", deposed);
	ns_probe_send(probe, "+OK", "SET dep v1");
	ns_probe_send(probe, "$2 v1", "GET dep");
}

static void deposed_isolate(void *arg)
{
	struct ns_run *r = arg;
	isolate(r, deposed, true);
	/* proposed once, by a leader cut off from every follower: never
	 * committed, and its entry is replaced once the new leader's log
	 * reaches it */
	ns_probe_send(probe, "-TRYAGAIN leadership changed", "SET dep v2");
	ns_probe_send(probe, "$2 v1", "GET dep");
}

static void deposed_rejoin(void *arg)
{
	isolate(arg, deposed, false);
}

void ns_scen_write_on_deposed_leader(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, deposed_write, r);
	world_at(r->w, 1500 * MS, deposed_isolate, r);
	world_at(r->w, 4000 * MS, deposed_rejoin, r);
	world_at(r->w, 9000 * MS, probe_done, r);
}
