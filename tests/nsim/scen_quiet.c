/* tests/nsim/scen_quiet.c — scripted whole-node runs of quiescence
 * (server/quiet.c): three nodes of several groups go quiet once idle, and
 * then a quiet group's leader node crashes or is cut off (the others elect
 * a new leader for its groups within a bound, and writes succeed), a
 * write and reads arrive at a quiet group's follower (served, with no
 * election), and a quiet group's follower restarts (it follows the same
 * leaders, in the same terms). Each run also checks that every group of
 * every node is quiet once idle again: quiescence is not given up after
 * a fault. The probes' replies must be what SPEC.md promises; the nodes'
 * agreement and the history are checked at the end of the run. */
#include <stdio.h>
#include <string.h>

#include "kv/kv.h"
#include "nsim/nsim.h"

#define MS 1000000ull
/* idle, the leaders spread (a second after the first elections), quiet
 * (three heartbeats later) */
#define QUIET_AT (4000 * MS)
/* a quiet group's leader node is lost: the others elect within this (the
 * silence noticed after an election timeout, then at most one more) */
#define FAILOVER_BOUND (3500 * MS)

struct quiet_run {
	struct ns_run *r;
	uint32_t shards;
	uint32_t group;	 /* the group the scenario is about */
	uint32_t leader; /* its leader's node when quiet */
	uint32_t other;	 /* another node */
	char key[32];	 /* a key of that group */
	char key2[32];	 /* a key of another group */
	uint64_t terms[NS_NODES_MAX][8];
	uint32_t leaders[8];
	struct ns_probe *p, *p2;
};

/* The (skip+1)-th key q<n> of group g of a node of n groups. */
static void key_of(uint32_t g, uint32_t n, char *out, size_t cap)
{
	uint16_t first = g ? (uint16_t)(kv_slot_range_last(g - 1, n) + 1) : 0;
	for (uint32_t k = 0;; k++) {
		snprintf(out, cap, "q%u", k);
		uint16_t slot = kv_slot((const uint8_t *)out, strlen(out));
		if (slot >= first && slot <= kv_slot_range_last(g, n))
			return;
	}
}

static uint32_t leader_of(struct ns_run *r, uint32_t g)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->n_groups > g && raft_role_of(s->groups[g]->r) == RAFT_LEADER)
			return i;
	}
	return UINT32_MAX;
}

/* Every group of every node up is quiet; else the run fails. */
static void check_quiet(struct ns_run *r, const char *when)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		for (uint32_t g = 0; s && g < s->n_groups; g++)
			if (!s->groups[g]->quiet) {
				ns_fail(r, "%s: group %u of node %u is not quiet (%s, term %llu)",
					when, g, i + 1, raft_role_name(s->groups[g]->r),
					(unsigned long long)raft_current_term(s->groups[g]->r));
				return;
			}
	}
}

/* The leaders and terms of every group, as every node sees them. */
static void note_terms(struct quiet_run *q)
{
	for (uint32_t g = 0; g < q->shards; g++) {
		q->leaders[g] = leader_of(q->r, g);
		for (uint32_t i = 0; i < q->r->n_nodes; i++)
			if (q->r->nodes[i].s)
				q->terms[i][g] = raft_current_term(q->r->nodes[i].s->groups[g]->r);
	}
}

/* The same leaders, in the same terms: nothing was elected. */
static void check_terms(struct quiet_run *q, const char *when)
{
	for (uint32_t g = 0; g < q->shards; g++) {
		if (leader_of(q->r, g) != q->leaders[g]) {
			ns_fail(q->r, "%s: group %u is led by node %u, not node %u", when, g,
				leader_of(q->r, g) + 1, q->leaders[g] + 1);
			return;
		}
		for (uint32_t i = 0; i < q->r->n_nodes; i++) {
			struct server *s = q->r->nodes[i].s;
			if (s && raft_current_term(s->groups[g]->r) != q->terms[i][g]) {
				ns_fail(q->r,
					"%s: group %u's term on node %u moved from %llu to %llu",
					when, g, i + 1, (unsigned long long)q->terms[i][g],
					(unsigned long long)raft_current_term(s->groups[g]->r));
				return;
			}
		}
	}
}

static struct quiet_run *setup(struct ns_run *r, uint32_t shards, uint32_t group)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.replicas = 0;
	r->p.clients = 0; /* idle: the probes' requests only */
	r->p.shards = shards;
	r->p.run_ns = QUIET_AT + 6000 * MS; /* then healed */
	r->p.settle_ns = 7000 * MS;
	struct quiet_run *q = ns_alloc(r, sizeof *q);
	*q = (struct quiet_run){.r = r, .shards = shards, .group = group};
	key_of(group, shards, q->key, sizeof q->key);
	key_of((group + 1) % shards, shards, q->key2, sizeof q->key2);
	return q;
}

/* Quiet, and the group's leader known: the scenario's fault. */
static bool at_quiet(struct quiet_run *q)
{
	check_quiet(q->r, "idle for 3 s");
	q->leader = leader_of(q->r, q->group);
	q->other = (q->leader + 1) % 3;
	note_terms(q);
	if (q->leader == UINT32_MAX)
		ns_fail(q->r, "group %u has no leader once idle", q->group);
	return !q->r->failed;
}

/* A new leader of the group on a node other than the lost one. */
static void check_failover(void *arg)
{
	struct quiet_run *q = arg;
	uint32_t now = leader_of(q->r, q->group);
	if (now == UINT32_MAX || now == q->leader)
		ns_fail(q->r, "group %u: no new leader within %llu ms of losing node %u", q->group,
			(unsigned long long)(FAILOVER_BOUND / MS), q->leader + 1);
	if (!q->p) { /* none was sent at the fault: one now */
		q->p = ns_probe_open(q->r, "writer", q->other);
		ns_probe_send(q->p, "+OK", "SET %s v1", q->key);
	}
	ns_probe_send(q->p, "$2 v1", "GET %s", q->key);
}

/* Healed, idle again: every group quiet, and the write read back on the
 * node that was lost. */
static void check_after(void *arg)
{
	struct quiet_run *q = arg;
	check_quiet(q->r, "idle again after the heal");
	q->p2 = ns_probe_open(q->r, "lost-node", q->leader);
	ns_probe_send(q->p2, "$2 v1", "GET %s", q->key);
}

static void done(void *arg)
{
	struct quiet_run *q = arg;
	if (q->p)
		ns_probe_done(q->p);
	if (q->p2)
		ns_probe_done(q->p2);
}

static void schedule_failover(struct quiet_run *q)
{
	struct ns_run *r = q->r;
	world_at(r->w, QUIET_AT + FAILOVER_BOUND, check_failover, q);
	world_at(r->w, r->p.run_ns + 4000 * MS, check_after, q);
	world_at(r->w, r->p.run_ns + 5000 * MS, done, q);
}

static void leader_crash(void *arg)
{
	struct quiet_run *q = arg;
	if (!at_quiet(q))
		return;
	ns_node_crash(&q->r->nodes[q->leader]); /* nothing is sent for group 1 */
}

/* Three nodes of four groups, idle and quiet. The node leading group 1
 * crashes, and nothing is sent for group 1: the other two notice the
 * node's silence (no LIVE frame for an election timeout), tick group 1
 * again and elect a leader within FAILOVER_BOUND; a write through one of
 * them then succeeds. Restarted, the node reads it back, and every group
 * goes quiet again. */
void ns_scen_quiet_leader_crashes(struct ns_run *r)
{
	struct quiet_run *q = setup(r, 4, 1);
	world_at(r->w, QUIET_AT, leader_crash, q);
	schedule_failover(q);
}

static void leader_cut(void *arg)
{
	struct quiet_run *q = arg;
	if (!at_quiet(q))
		return;
	for (uint32_t i = 0; i < 3; i++)
		if (i != q->leader)
			world_cut(q->r->w, q->r->nodes[q->leader].h, q->r->nodes[i].h, true);
	q->p = ns_probe_open(q->r, "writer", q->other);
	ns_probe_send(q->p, "+OK", "SET %s v1", q->key);
}

/* As quiet_leader_crashes, the leader's node cut off from both others
 * instead (its bytes held until the heal), and a write sent through one of
 * the others at the cut (its forward held in the cut): the majority
 * elects within the bound, the write succeeds; healed, the cut node
 * follows and reads it back. */
void ns_scen_quiet_leader_partitioned(struct ns_run *r)
{
	struct quiet_run *q = setup(r, 4, 1);
	world_at(r->w, QUIET_AT, leader_cut, q);
	schedule_failover(q);
}

static void follower_requests(void *arg)
{
	struct quiet_run *q = arg;
	if (!at_quiet(q))
		return;
	q->p = ns_probe_open(q->r, "follower", q->other);
	ns_probe_send(q->p, "$-1", "GET %s", q->key2); /* another quiet group */
	ns_probe_send(q->p, "+OK", "SET %s v1", q->key);
	ns_probe_send(q->p, "$2 v1", "GET %s", q->key);
	q->p2 = ns_probe_open(q->r, "leader", q->leader);
	ns_probe_send(q->p2, "$-1", "GET %s", q->key2);
}

/* Served without an election; then read on the leader, and quiet again. */
static void follower_after(void *arg)
{
	struct quiet_run *q = arg;
	check_terms(q, "after the requests");
	ns_probe_send(q->p2, "$2 v1", "GET %s", q->key);
}

static void follower_quiet_again(void *arg)
{
	struct quiet_run *q = arg;
	check_quiet(q->r, "idle again after the requests");
	check_terms(q, "idle again after the requests");
	ns_probe_send(q->p, "$2 v1", "GET %s", q->key); /* healed: it counts */
}

/* Three nodes of four groups, idle and quiet. A read of a quiet group, a
 * write and a read of another quiet group arrive at a follower of it:
 * each is served (the write forwarded to the leader, which wakes; the
 * reads under a read index the leader confirms), and no group elects
 * anew. Idle again, every group is quiet. */
void ns_scen_quiet_follower_served(struct ns_run *r)
{
	struct quiet_run *q = setup(r, 4, 1);
	world_at(r->w, QUIET_AT, follower_requests, q);
	world_at(r->w, QUIET_AT + 1000 * MS, follower_after, q);
	world_at(r->w, r->p.run_ns + 2000 * MS, follower_quiet_again, q);
	world_at(r->w, r->p.run_ns + 3000 * MS, done, q);
}

static void follower_crash(void *arg)
{
	struct quiet_run *q = arg;
	if (!at_quiet(q))
		return;
	if (q->leaders[0] == 2 || q->leaders[1] == 2) {
		ns_fail(q->r, "node 3 leads a group of two (groups 0 and 1 by nodes 1 and 2)");
		return;
	}
	ns_node_crash(&q->r->nodes[2]);
}

static void follower_restart(void *arg)
{
	struct quiet_run *q = arg;
	ns_node_start(&q->r->nodes[2]);
}

/* 400 ms after its start, well before its election timer could run out
 * ([1x, 2x) of the timeout less a tick): the restarted node follows each
 * group's leader, which woke on its new incarnation and sent heartbeats. */
static void follower_follows(void *arg)
{
	struct quiet_run *q = arg;
	struct server *s = q->r->nodes[2].s;
	for (uint32_t g = 0; s && g < q->shards; g++)
		if (raft_leader_of(s->groups[g]->r) != q->leaders[g] + 1 ||
		    raft_role_of(s->groups[g]->r) != RAFT_FOLLOWER)
			ns_fail(q->r, "group %u: node 3 restarted 400 ms ago is %s of leader %llu",
				g, raft_role_name(s->groups[g]->r),
				(unsigned long long)raft_leader_of(s->groups[g]->r));
}

/* Restarted beside quiet leaders: it follows them, in the same terms, and
 * a write through it succeeds. */
static void follower_back(void *arg)
{
	struct quiet_run *q = arg;
	check_terms(q, "the follower restarted");
	q->p = ns_probe_open(q->r, "restarted", 2);
	ns_probe_send(q->p, "+OK", "SET %s v1", q->key);
	ns_probe_send(q->p, "$2 v1", "GET %s", q->key);
}

static void follower_quiet_again2(void *arg)
{
	struct quiet_run *q = arg;
	check_quiet(q->r, "idle again after the restart");
	ns_probe_send(q->p, "$2 v1", "GET %s", q->key); /* healed: it counts */
}

/* Three nodes of two groups (led by nodes 1 and 2), idle and quiet. Node
 * 3, a follower of both, crashes and restarts 500 ms later: the leaders
 * hear its new incarnation and wake, so it follows them within 400 ms,
 * before its election timer could run out; no term moves, a write through it succeeds,
 * and every group is quiet again once idle. */
void ns_scen_quiet_follower_restarts(struct ns_run *r)
{
	struct quiet_run *q = setup(r, 2, 0);
	world_at(r->w, QUIET_AT, follower_crash, q);
	world_at(r->w, QUIET_AT + 500 * MS, follower_restart, q);
	world_at(r->w, QUIET_AT + 900 * MS, follower_follows, q);
	world_at(r->w, QUIET_AT + 3000 * MS, follower_back, q);
	world_at(r->w, r->p.run_ns + 2000 * MS, follower_quiet_again2, q);
	world_at(r->w, r->p.run_ns + 3000 * MS, done, q);
}
