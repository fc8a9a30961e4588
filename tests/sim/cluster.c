/* tests/sim/cluster.c — the simulated cluster: its nodes, clock, faults and
 * membership, and the run of one seed (tests/sim/cluster.h). */
#include "sim/cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

/* ---- trace ------------------------------------------------------------- */

static void cluster_vlog(struct cluster *c, const char *fmt, va_list ap)
{
	char *line = c->ring[c->ring_next++ % CL_TRACE_RING];
	int k = snprintf(line, TRACE_LINE_MAX, "%6llu.%llu ",
			 (unsigned long long)(c->now / CL_STEPS_PER_TICK),
			 (unsigned long long)(c->now % CL_STEPS_PER_TICK));
	vsnprintf(line + k, (size_t)(TRACE_LINE_MAX - k), fmt, ap);
	if (c->verbose &&
	    !(c->quiet && (strstr(line, ": commit ") || strstr(line, ": reject append"))))
		printf("%s\n", line);
}

void cluster_log(struct cluster *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cluster_vlog(c, fmt, ap);
	va_end(ap);
}

void cluster_fail(struct cluster *c, const char *fmt, ...)
{
	if (c->failed)
		return;
	c->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	cluster_log(c, "VIOLATION: %s", c->why);
}

static void cluster_trace(void *ctx, const char *line)
{
	cluster_log(ctx, "%s", line);
}

/* ---- parameters -------------------------------------------------------- */

static uint32_t pick(struct prng *p, uint32_t lo, uint32_t hi) /* [lo, hi] */
{
	return (uint32_t)prng_range(p, lo, (uint64_t)hi + 1);
}

static void params_raft(struct prng *g, struct raft_options *o)
{
	raft_options_default(o);
	/* A message takes up to 3 ticks and a sync up to 3 more: the election
	 * timeout is kept well above a vote's round trip (Raft §5.6). */
	o->election_ticks_min = 20;
	o->election_ticks_max = 40;
	o->heartbeat_ticks = pick(g, 1, 5);
	o->pre_vote = prng_chance(g, 4, 5);
	o->check_quorum = prng_chance(g, 4, 5);
	o->inflight_msgs_max = pick(g, 1, 8);
	o->inflight_bytes_max = pick(g, 64, 4096);
	o->msg_entries_max = pick(g, 1, 16);
	o->msg_bytes_max = pick(g, 64, 1024);
	o->apply_entries_max = pick(g, 1, 64);
	o->snapshot_entries = pick(g, 8, 80);
	o->trailing_entries = pick(g, 0, 20);
	o->snapshot_chunk_bytes = pick(g, 3, 128);
	o->promote_distance = pick(g, 1, 10);
}

void cluster_params(uint64_t seed, struct cl_params *p)
{
	struct prng g;
	prng_seed(&g, seed ^ 0x5eed5eed5eedull);
	memset(p, 0, sizeof *p);
	uint32_t r = pick(&g, 0, 9);
	p->nodes = r == 0 ? 1 : r <= 5 ? 3 : 5;
	p->clients = pick(&g, 2, 6);
	p->keys = pick(&g, 1, 4);
	p->chaos_ticks = pick(&g, 300, 800);
	p->net.drop_pct = prng_chance(&g, 1, 2) ? 0 : pick(&g, 1, 8);
	p->net.dup_pct = prng_chance(&g, 1, 2) ? 0 : pick(&g, 1, 4);
	p->net.delay_min = 1;
	p->net.delay_max = pick(&g, 2, 30);
	p->crash_permille = pick(&g, 0, 15);
	p->pause_permille = pick(&g, 0, 10);
	p->partition_permille = pick(&g, 0, 15);
	p->change_permille = (p->nodes >= 3 && prng_chance(&g, 3, 5)) ? pick(&g, 2, 15) : 0;
	p->transfer_permille = p->nodes >= 3 ? pick(&g, 0, 8) : 0;
	p->fsync_fail_pct = prng_chance(&g, 3, 10) ? pick(&g, 1, 2) : 0;
	p->sync_delay_max = prng_chance(&g, 2, 5) ? 0 : pick(&g, 1, 30);
	p->snapshot_delay_max = pick(&g, 0, 50);
	params_raft(&g, &p->opts);
}

/* ---- nodes --------------------------------------------------------------- */

static int cluster_start(struct cluster *c, raft_id id, const struct raft_config *boot);

static void env_send(void *ctx, struct node *n, const struct raft_msg *m)
{
	struct cluster *c = ctx;
	check_send(c, n, m);
	if (m->type == RAFT_MSG_SNAPSHOT && m->u.snapshot.offset == 0)
		c->n_snapshots_sent++;
	net_send(&c->net, m, c->now);
}

static void env_update(void *ctx, struct node *n, const struct raft_update *u)
{
	check_update(ctx, n, u);
}

static void cluster_retire(struct cluster *c, raft_id id)
{
	if (!c->exists[id] || c->retired[id])
		return;
	cluster_log(c, "sim: node %llu removed from the cluster, shutting it down",
		    (unsigned long long)id);
	client_on_crash(c, id);
	node_crash(&c->nodes[id], false);
	net_drop_node(&c->net, id);
	c->retired[id] = true;
	c->down_until[id] = 0;
}

/* A committed configuration: who is a member now, who was removed. */
static void cluster_config(struct cluster *c, const struct raft_entry *e)
{
	struct raft_config cfg;
	if (e->index <= c->members_index || raft_config_decode(&cfg, e->data, e->len) != KEEL_OK)
		return;
	c->members = cfg;
	c->members_index = e->index;
	for (raft_id id = 1; id < CL_NODES_MAX; id++) {
		bool in = raft_config_find(&cfg, id) != NULL;
		if (in)
			c->joined[id] = true;
		else if (c->joined[id] && !c->retired[id] && !c->retire_at[id])
			c->retire_at[id] =
				c->now + prng_below(&c->prng, 30 * CL_STEPS_PER_TICK) + 1;
	}
}

static void env_applied(void *ctx, struct node *n, const struct raft_entry *e, int64_t out)
{
	struct cluster *c = ctx;
	check_applied(c, n, e);
	if (e->type == RAFT_ENTRY_CONFIG)
		cluster_config(c, e);
	client_on_applied(c, n, e, out);
}

static void env_read(void *ctx, struct node *n, uint64_t req_id, int status)
{
	client_on_read(ctx, n, req_id, status);
}

static void cluster_new_node(struct cluster *c, raft_id id)
{
	struct node_env env = {c, env_send, env_update, env_applied, env_read, NULL};
	struct raft_options o = c->p.opts;
	o.trace = (struct trace){cluster_trace, c};
	node_init(&c->nodes[id], id, &o, c->seed, &env);
	c->nodes[id].sync_delay_max = c->p.sync_delay_max;
	c->nodes[id].fsync_fail_pct = c->p.fsync_fail_pct;
	c->nodes[id].snapshot_delay_max = c->p.snapshot_delay_max;
	c->nodes[id].now = c->now;
	c->exists[id] = true;
}

void cluster_add_node(struct cluster *c, raft_id id)
{
	cluster_new_node(c, id);
	if (cluster_start(c, id, NULL) != KEEL_OK)
		cluster_fail(c, "node %llu could not start", (unsigned long long)id);
}

void cluster_init(struct cluster *c, uint64_t seed, const struct cl_params *p, bool verbose)
{
	memset(c, 0, sizeof *c);
	c->seed = seed;
	c->p = *p;
	c->verbose = verbose;
	prng_seed(&c->prng, seed);
	net_init(&c->net, &c->prng, &p->net);
	struct raft_config boot = {.n = p->nodes};
	for (uint32_t i = 0; i < p->nodes; i++) {
		boot.members[i].id = i + 1;
		boot.members[i].role = RAFT_VOTER;
		snprintf(boot.members[i].addr, RAFT_ADDR_MAX, "127.0.0.1:%u", 7000 + i + 1);
	}
	c->members = boot;
	c->boot = boot;
	c->members_index = 1;
	for (uint32_t i = 0; i < p->nodes; i++) {
		raft_id id = i + 1;
		cluster_new_node(c, id);
		c->joined[id] = true;
		KEEL_ASSERT(cluster_start(c, id, &boot) == KEEL_OK);
		node_process(&c->nodes[id]);
	}
	c->next_id = p->nodes + 1;
	client_init(c);
	cluster_log(c,
		    "sim: seed %llu, %u nodes, %u clients, %u keys, drop %u%%, dup %u%%, "
		    "delay 1-%llu steps, sync delay 0-%llu, prevote %d, checkquorum %d",
		    (unsigned long long)seed, p->nodes, p->clients, p->keys, p->net.drop_pct,
		    p->net.dup_pct, (unsigned long long)p->net.delay_max,
		    (unsigned long long)p->sync_delay_max, p->opts.pre_vote, p->opts.check_quorum);
}

void cluster_free(struct cluster *c)
{
	for (raft_id id = 1; id < CL_NODES_MAX; id++)
		if (c->exists[id])
			node_free(&c->nodes[id]);
	for (uint32_t i = 0; i < c->n_held; i++)
		net_msg_free(&c->held[i]);
	keel_free(c->held);
	net_free(&c->net);
	keel_free(c->hist);
	check_free(c);
}

bool cluster_live(const struct cluster *c, raft_id id)
{
	return id && id < CL_NODES_MAX && c->exists[id] && !c->retired[id] &&
	       node_up(&c->nodes[id]);
}

raft_id cluster_leader(const struct cluster *c)
{
	raft_id best = 0;
	raft_term term = 0;
	for (raft_id id = 1; id < CL_NODES_MAX; id++) {
		if (!cluster_live(c, id) || c->pause_until[id] > c->now)
			continue;
		struct raft *r = c->nodes[id].r;
		if (!raft_stopped(r) && raft_role_of(r) == RAFT_LEADER &&
		    raft_current_term(r) > term) {
			best = id;
			term = raft_current_term(r);
		}
	}
	return best;
}

void cluster_crash(struct cluster *c, raft_id id, uint64_t down_steps)
{
	if (!cluster_live(c, id))
		return;
	cluster_log(c, "sim: crash node %llu (down for %llu ticks)", (unsigned long long)id,
		    (unsigned long long)(down_steps / CL_STEPS_PER_TICK));
	c->n_crashes++;
	client_on_crash(c, id);
	node_crash(&c->nodes[id], false);
	net_drop_node(&c->net, id);
	c->pause_until[id] = 0;
	c->down_until[id] = c->now + down_steps;
	c->watch[id].life++;
	c->watch[id].commit = 0;
	c->watch[id].applied = 0;
	c->watch[id].leader_checked = 0;
}

static int cluster_start(struct cluster *c, raft_id id, const struct raft_config *boot)
{
	int rc = node_start(&c->nodes[id], boot);
	if (rc == KEEL_OK)
		check_started(c, &c->nodes[id]);
	return rc;
}

void cluster_restart(struct cluster *c, raft_id id)
{
	if (!c->exists[id] || c->retired[id] || node_up(&c->nodes[id]))
		return;
	cluster_log(c, "sim: restart node %llu", (unsigned long long)id);
	c->down_until[id] = 0;
	c->nodes[id].now = c->now;
	/* A founding node is always started with the founding configuration,
	 * as a server is with its initial cluster; the core uses it only when
	 * the disk holds no log and no snapshot (a crash before the first
	 * sync), when the node has acknowledged nothing. */
	const struct raft_config *boot = id <= c->p.nodes ? &c->boot : NULL;
	if (cluster_start(c, id, boot) != KEEL_OK) {
		cluster_fail(c, "node %llu could not restart from its disk",
			     (unsigned long long)id);
		return;
	}
	node_process(&c->nodes[id]);
}

void cluster_partition(struct cluster *c, const raft_id *side, uint32_t n, bool one_way)
{
	bool in[CL_NODES_MAX] = {0};
	char text[128] = "";
	size_t k = 0;
	for (uint32_t i = 0; i < n; i++) {
		in[side[i]] = true;
		k += (size_t)snprintf(text + k, sizeof text - k, " %llu",
				      (unsigned long long)side[i]);
		if (k >= sizeof text)
			k = sizeof text - 1;
	}
	for (raft_id a = 1; a < CL_NODES_MAX; a++)
		for (raft_id b = 1; b < CL_NODES_MAX; b++)
			if (in[a] && !in[b]) {
				c->net.cut[a][b] = true;
				if (!one_way)
					c->net.cut[b][a] = true;
			}
	c->partitioned = true;
	cluster_log(c, "sim: partition {%s } %s the rest", text, one_way ? "cannot send to" : "|");
}

void cluster_heal(struct cluster *c)
{
	net_heal(&c->net);
	c->partitioned = false;
	cluster_log(c, "sim: network healed");
}

/* ---- the clock --------------------------------------------------------- */

static void cluster_hold(struct cluster *c, struct net_msg *nm)
{
	if (c->n_held == c->cap_held) {
		c->cap_held = c->cap_held ? c->cap_held * 2 : 32;
		c->held = keel_realloc(c->held, c->cap_held * sizeof *c->held);
	}
	c->held[c->n_held++] = *nm;
}

static void cluster_deliver(struct cluster *c, struct net_msg *nm)
{
	raft_id to = nm->m.to;
	if (!cluster_live(c, to) || raft_stopped(c->nodes[to].r)) {
		net_msg_free(nm);
		return;
	}
	if (c->pause_until[to] > c->now) {
		cluster_hold(c, nm); /* it waits in the paused node's socket buffer */
		return;
	}
	raft_step(c->nodes[to].r, &nm->m);
	node_process(&c->nodes[to]);
	net_msg_free(nm);
}

/* Messages that waited for a paused node arrive once it runs again. */
static void cluster_release_held(struct cluster *c)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->n_held; i++) {
		struct net_msg nm = c->held[i];
		if (c->pause_until[nm.m.to] > c->now)
			c->held[k++] = nm;
		else
			cluster_deliver(c, &nm);
	}
	c->n_held = k;
}

/* Restarts crashed nodes when due; turns a node that stopped itself on a
 * storage error into a crash (the operator restarts it). */
static void cluster_lifecycle(struct cluster *c)
{
	for (raft_id id = 1; id < CL_NODES_MAX; id++) {
		if (!c->exists[id] || c->retired[id])
			continue;
		if (c->retire_at[id] && c->retire_at[id] <= c->now) {
			cluster_retire(c, id);
			continue;
		}
		struct node *n = &c->nodes[id];
		if (node_up(n) && raft_stopped(n->r)) {
			cluster_log(c, "sim: node %llu stopped on a storage error",
				    (unsigned long long)id);
			cluster_crash(c, id, prng_range(&c->prng, 1, 50) * CL_STEPS_PER_TICK);
		} else if (!node_up(n) && c->down_until[id] && c->down_until[id] <= c->now) {
			cluster_restart(c, id);
		}
		if (c->pause_until[id] && c->pause_until[id] <= c->now) {
			c->pause_until[id] = 0;
			cluster_log(c, "sim: node %llu resumes", (unsigned long long)id);
			/* as keel-server after a stall; its clock first (syncs are
			 * due by it) */
			if (node_up(n) && !raft_stopped(n->r)) {
				node_advance(n, c->now);
				raft_heartbeat_now(n->r);
				node_process(n);
			}
		}
	}
}

void cluster_step(struct cluster *c)
{
	c->now++;
	bool tick = c->now % CL_STEPS_PER_TICK == 0;
	cluster_lifecycle(c);
	for (raft_id id = 1; id < CL_NODES_MAX && !c->failed; id++) {
		if (!cluster_live(c, id) || c->pause_until[id] > c->now)
			continue;
		struct node *n = &c->nodes[id];
		node_advance(n, c->now);
		if (tick && n->r && !raft_stopped(n->r)) {
			raft_tick(n->r);
			node_process(n);
		}
	}
	struct net_msg nm;
	while (!c->failed && net_pop_due(&c->net, c->now, &nm))
		cluster_deliver(c, &nm);
	cluster_release_held(c);
	if (c->net.n > 3000)
		cluster_fail(c, "message storm: %u messages in flight", c->net.n);
	client_step(c);
	if (tick && !c->healed)
		fault_tick(c);
	check_step(c, tick);
}

/* ---- the run of one seed ----------------------------------------------- */

static void cluster_heal_all(struct cluster *c)
{
	cluster_log(c, "sim: faults end: heal the network, restart and resume every node");
	c->healed = true;
	c->healed_at = c->now;
	cluster_heal(c);
	c->net.f.drop_pct = 0;
	c->net.f.dup_pct = 0;
	for (raft_id id = 1; id < CL_NODES_MAX; id++) {
		if (!c->exists[id] || c->retired[id])
			continue;
		c->nodes[id].fsync_fail_pct = 0;
		c->pause_until[id] = 0;
		if (c->retire_at[id])
			c->retire_at[id] = c->now;
	}
	cluster_lifecycle(c);
	for (raft_id id = 1; id < CL_NODES_MAX; id++)
		if (c->exists[id] && !c->retired[id] && !node_up(&c->nodes[id]))
			cluster_restart(c, id);
}

static bool cluster_until(struct cluster *c, uint64_t deadline, bool (*done)(struct cluster *))
{
	while (!c->failed && c->now < deadline) {
		if (done(c))
			return true;
		cluster_step(c);
	}
	return !c->failed && done(c);
}

static bool has_leader(struct cluster *c)
{
	return cluster_leader(c) != 0;
}

static bool clients_done(struct cluster *c)
{
	return client_all_done(c);
}

/* Every member is up and has applied everything the leader committed. */
static bool converged(struct cluster *c)
{
	raft_id l = cluster_leader(c);
	if (!l)
		return false;
	raft_index commit = raft_commit_index(c->nodes[l].r);
	for (uint32_t i = 0; i < c->members.n; i++) {
		raft_id id = c->members.members[i].id;
		if (!cluster_live(c, id) || c->nodes[id].kv.applied != commit)
			return false;
	}
	return true;
}

bool cluster_run(struct cluster *c)
{
	while (!c->failed && c->now < c->p.chaos_ticks * CL_STEPS_PER_TICK)
		cluster_step(c);
	return cluster_finish(c);
}

bool cluster_finish(struct cluster *c)
{
	uint64_t timeout = (uint64_t)c->p.opts.election_ticks_max * CL_STEPS_PER_TICK;
	if (c->failed)
		return false;
	cluster_heal_all(c);
	/* Liveness: a leader within 10 election timeouts of the heal. */
	if (!cluster_until(c, c->now + 10 * timeout, has_leader)) {
		cluster_fail(c, "no leader within 10 election timeouts after the faults healed");
		return false;
	}
	if (!cluster_until(c, c->healed_at + 60 * timeout, clients_done)) {
		char who[256] = "";
		size_t k = 0;
		for (uint32_t i = 0; i < c->p.clients && i < CL_CLIENTS_MAX && k < sizeof who;
		     i++) {
			const struct cl_client *cl = &c->clients[i];
			k += (size_t)snprintf(who + k, sizeof who - k, " c%u:%u ok%s", cl->id,
					      cl->ok_after_heal, cl->waiting ? " waiting" : "");
		}
		cluster_fail(c,
			     "client requests still unanswered 60 election timeouts after "
			     "the faults healed (answers since:%s)",
			     who);
		return false;
	}
	c->clients_stopped = true;
	if (!cluster_until(c, c->now + 30 * timeout, converged)) {
		cluster_fail(c, "members did not converge after the faults healed");
		return false;
	}
	check_converged(c);
	if (!c->failed)
		client_check_history(c);
	return !c->failed;
}
