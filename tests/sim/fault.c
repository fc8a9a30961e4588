/* tests/sim/fault.c — the faults and operator actions a seed injects while
 * its chaos phase lasts, one draw per tick: crashes, pauses, partitions
 * (symmetric and one-way), membership changes (including removing the
 * leader) and leadership transfers. */
#include "sim/cluster.h"

#include <stdio.h>

/* A random member that is running, or 0. */
static raft_id fault_pick(struct cluster *c)
{
	raft_id ids[CL_NODES_MAX];
	uint32_t n = 0;
	for (raft_id id = 1; id < CL_NODES_MAX; id++)
		if (cluster_live(c, id))
			ids[n++] = id;
	return n ? ids[prng_below(&c->prng, n)] : 0;
}

static void fault_partition(struct cluster *c)
{
	if (c->partitioned) {
		if (prng_chance(&c->prng, 1, 20))
			cluster_heal(c);
		return;
	}
	raft_id side[CL_NODES_MAX];
	uint32_t n = 0, others = 0;
	for (raft_id id = 1; id < CL_NODES_MAX; id++) {
		if (!c->exists[id] || c->retired[id])
			continue;
		if (prng_chance(&c->prng, 1, 2))
			side[n++] = id;
		else
			others++;
	}
	if (n && others)
		cluster_partition(c, side, n, prng_chance(&c->prng, 1, 4));
}

static void fault_change(struct cluster *c, raft_id leader)
{
	struct raft *r = c->nodes[leader].r;
	const struct raft_config *cfg = raft_config_of(r);
	uint32_t voters = raft_config_voters(cfg);
	if (prng_chance(&c->prng, 1, 2) && cfg->n < 7 && c->next_id < CL_NODES_MAX) {
		raft_id id = c->next_id;
		char addr[RAFT_ADDR_MAX];
		snprintf(addr, sizeof addr, "127.0.0.1:%llu", 7000 + (unsigned long long)id);
		bool autop = prng_chance(&c->prng, 3, 4);
		if (raft_change(r, RAFT_CHANGE_ADD_LEARNER, id, addr, autop) != KEEL_OK)
			return;
		c->next_id++;
		c->n_changes++;
		cluster_log(c, "sim: add node %llu as a learner%s", (unsigned long long)id,
			    autop ? " (auto-promote)" : "");
		cluster_add_node(c, id);
		node_process(&c->nodes[leader]);
		return;
	}
	const struct raft_member *m = &cfg->members[prng_below(&c->prng, cfg->n)];
	/* An operator promotes only learners the leader would not promote
	 * by itself once they catch up. */
	if (m->role == RAFT_LEARNER && !m->auto_promote && prng_chance(&c->prng, 1, 2)) {
		if (raft_change(r, RAFT_CHANGE_PROMOTE, m->id, NULL, false) == KEEL_OK) {
			c->n_changes++;
			cluster_log(c, "sim: promote node %llu", (unsigned long long)m->id);
		}
	} else if (m->role == RAFT_LEARNER || voters > 2) {
		if (raft_change(r, RAFT_CHANGE_REMOVE, m->id, NULL, false) == KEEL_OK) {
			c->n_changes++;
			cluster_log(c, "sim: remove node %llu%s", (unsigned long long)m->id,
				    m->id == leader ? " (the leader)" : "");
		}
	}
	node_process(&c->nodes[leader]);
}

static void fault_transfer(struct cluster *c, raft_id leader)
{
	const struct raft_config *cfg = raft_config_of(c->nodes[leader].r);
	const struct raft_member *m = &cfg->members[prng_below(&c->prng, cfg->n)];
	if (m->id == leader || m->role != RAFT_VOTER)
		return;
	if (raft_transfer_leader(c->nodes[leader].r, m->id) == KEEL_OK)
		cluster_log(c, "sim: transfer leadership %llu -> %llu", (unsigned long long)leader,
			    (unsigned long long)m->id);
	node_process(&c->nodes[leader]);
}

void fault_tick(struct cluster *c)
{
	struct prng *g = &c->prng;
	if (c->p.crash_permille && prng_below(g, 1000) < c->p.crash_permille) {
		raft_id id = fault_pick(c);
		if (id)
			cluster_crash(c, id, prng_range(g, 1, 100) * CL_STEPS_PER_TICK);
	}
	if (c->p.pause_permille && prng_below(g, 1000) < c->p.pause_permille) {
		raft_id id = fault_pick(c);
		if (id && !c->pause_until[id]) {
			uint64_t ticks = prng_range(g, 1, 40);
			c->pause_until[id] = c->now + ticks * CL_STEPS_PER_TICK;
			cluster_log(c, "sim: pause node %llu for %llu ticks",
				    (unsigned long long)id, (unsigned long long)ticks);
		}
	}
	if (c->p.partition_permille && prng_below(g, 1000) < c->p.partition_permille)
		fault_partition(c);
	else if (c->p.partition_permille && c->partitioned && prng_chance(g, 1, 40))
		cluster_heal(c);
	raft_id leader = cluster_leader(c);
	if (!leader)
		return;
	if (c->p.change_permille && prng_below(g, 1000) < c->p.change_permille)
		fault_change(c, leader);
	else if (c->p.transfer_permille && prng_below(g, 1000) < c->p.transfer_permille)
		fault_transfer(c, leader);
}
