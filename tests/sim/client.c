/* tests/sim/client.c — the simulator's clients: each sends one operation at
 * a time (write, read, increment, compare-and-swap on a few keys) to the
 * node it believes leads, and records every operation in the history that
 * the linearizability checker judges at the end. An operation whose answer
 * never comes (timeout, crash) is recorded as indeterminate. */
#include "sim/cluster.h"

#include <string.h>

#include "base/mem.h"
#include "sim/regs.h"

#define CLIENT_TIMEOUT_TIMEOUTS 2 /* election timeouts before giving up */

void client_init(struct cluster *c)
{
	for (uint32_t i = 0; i < c->p.clients && i < CL_CLIENTS_MAX; i++) {
		c->clients[i].id = i + 1;
		c->clients[i].next_at = prng_below(&c->prng, 50);
	}
}

static struct lin_op *client_push(struct cluster *c, struct cl_client *cl, uint8_t kind,
				  uint64_t key)
{
	if (c->n_hist == c->cap_hist) {
		c->cap_hist = c->cap_hist ? c->cap_hist * 2 : 256;
		c->hist = keel_realloc(c->hist, c->cap_hist * sizeof *c->hist);
	}
	cl->op = c->n_hist;
	struct lin_op *op = &c->hist[c->n_hist++];
	memset(op, 0, sizeof *op);
	op->key = key;
	op->kind = kind;
	op->outcome = LIN_UNKNOWN;
	op->invoke = c->now;
	op->client = cl->id;
	op->id = ++c->next_op_id;
	return op;
}

static void client_finish(struct cluster *c, struct cl_client *cl, uint8_t outcome)
{
	struct lin_op *op = &c->hist[cl->op];
	op->outcome = outcome;
	op->complete = c->now;
	cl->waiting = false;
	cl->next_at = c->now + prng_below(&c->prng, 40);
	if (outcome == LIN_OK && c->healed)
		cl->ok_after_heal++;
	if (outcome == LIN_OK && op->kind != LIN_READ)
		c->last_value[op->key] = op->kind == LIN_CAS
						 ? (op->out ? op->arg2 : c->last_value[op->key])
					 : op->kind == LIN_INCR ? op->out
								: op->arg;
	if (outcome == LIN_OK && op->kind == LIN_READ && !op->out_nil)
		c->last_value[op->key] = op->out;
}

/* The node to talk to: the leader it last heard of, or any running member. */
static raft_id client_target(struct cluster *c, struct cl_client *cl)
{
	/* Mostly the believed leader; sometimes any member (a client of a
	 * load balancer, or one whose leader went quiet). */
	if (cl->hint && cluster_live(c, cl->hint) && !c->pause_until[cl->hint] &&
	    raft_config_find(&c->members, cl->hint) && prng_chance(&c->prng, 3, 4))
		return cl->hint;
	raft_id ids[RAFT_MEMBERS_MAX];
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->members.n; i++) {
		raft_id id = c->members.members[i].id;
		if (cluster_live(c, id) && !c->pause_until[id] && !raft_stopped(c->nodes[id].r))
			ids[n++] = id;
	}
	return n ? ids[prng_below(&c->prng, n)] : 0;
}

static void client_send(struct cluster *c, struct cl_client *cl)
{
	raft_id to = client_target(c, cl);
	if (!to) {
		cl->next_at = c->now + CL_STEPS_PER_TICK;
		return;
	}
	struct raft *r = c->nodes[to].r;
	uint32_t pct = (uint32_t)prng_below(&c->prng, 100);
	uint8_t kind = pct < 35 ? LIN_WRITE : pct < 70 ? LIN_READ : pct < 90 ? LIN_INCR : LIN_CAS;
	struct lin_op *op = client_push(c, cl, kind, prng_below(&c->prng, c->p.keys));
	int rc;
	if (kind == LIN_READ) {
		cl->req_id = op->id;
		rc = raft_read_index(r, op->id);
	} else {
		struct regs_cmd cmd = {.op = kind, .key = (uint32_t)op->key, .op_id = op->id};
		cmd.arg = kind == LIN_WRITE  ? (int64_t)op->id
			  : kind == LIN_INCR ? (int64_t)prng_range(&c->prng, 1, 4)
					     : c->last_value[op->key];
		cmd.arg2 = kind == LIN_CAS ? (int64_t)op->id : 0;
		op->arg = cmd.arg;
		op->arg2 = cmd.arg2;
		uint8_t buf[REGS_CMD_BYTES];
		rc = raft_propose(r, buf, regs_cmd_encode(&cmd, buf), &cl->index, &cl->term);
	}
	if (rc != KEEL_OK) {
		c->n_hist--; /* refused at once: it never took effect */
		raft_id l = raft_leader_of(r);
		cl->hint = l && l != to ? l : 0;
		cl->next_at = c->now + prng_range(&c->prng, 1, 3 * CL_STEPS_PER_TICK);
		return;
	}
	cl->waiting = true;
	cl->node = to;
	cl->hint = to;
	node_process(&c->nodes[to]);
}

void client_step(struct cluster *c)
{
	uint64_t timeout = (uint64_t)CLIENT_TIMEOUT_TIMEOUTS * c->p.opts.election_ticks_max *
			   CL_STEPS_PER_TICK;
	for (uint32_t i = 0; i < c->p.clients && i < CL_CLIENTS_MAX; i++) {
		struct cl_client *cl = &c->clients[i];
		if (cl->waiting && c->now - c->hist[cl->op].invoke > timeout) {
			bool read = c->hist[cl->op].kind == LIN_READ;
			client_finish(c, cl, read ? LIN_FAILED : LIN_UNKNOWN);
			cl->hint = 0;
		}
		if (!cl->waiting && !c->clients_stopped && c->now >= cl->next_at && !c->failed)
			client_send(c, cl);
	}
}

void client_on_applied(struct cluster *c, struct node *n, const struct raft_entry *e, int64_t out)
{
	for (uint32_t i = 0; i < c->p.clients && i < CL_CLIENTS_MAX; i++) {
		struct cl_client *cl = &c->clients[i];
		if (!cl->waiting || cl->node != n->id || c->hist[cl->op].kind == LIN_READ ||
		    cl->index != e->index)
			continue;
		/* Another entry at our index: ours can never be applied (§5.3). */
		if (e->term != cl->term) {
			client_finish(c, cl, LIN_FAILED);
			continue;
		}
		c->hist[cl->op].out = out;
		client_finish(c, cl, LIN_OK);
	}
}

void client_on_read(struct cluster *c, struct node *n, uint64_t req_id, int status)
{
	for (uint32_t i = 0; i < c->p.clients && i < CL_CLIENTS_MAX; i++) {
		struct cl_client *cl = &c->clients[i];
		if (!cl->waiting || cl->node != n->id || c->hist[cl->op].kind != LIN_READ ||
		    cl->req_id != req_id)
			continue;
		if (status != KEEL_OK) {
			client_finish(c, cl, LIN_FAILED);
			continue;
		}
		struct lin_op *op = &c->hist[cl->op];
		op->out_nil = !n->kv.present[op->key];
		op->out = n->kv.value[op->key];
		client_finish(c, cl, LIN_OK);
	}
}

void client_on_crash(struct cluster *c, raft_id id)
{
	for (uint32_t i = 0; i < c->p.clients && i < CL_CLIENTS_MAX; i++) {
		struct cl_client *cl = &c->clients[i];
		if (!cl->waiting || cl->node != id)
			continue;
		bool read = c->hist[cl->op].kind == LIN_READ;
		client_finish(c, cl, read ? LIN_FAILED : LIN_UNKNOWN);
		cl->hint = 0;
	}
}

/* Liveness after the heal: every client got two answers; then clients send
 * nothing new, and every request still pending must be answered. */
bool client_all_done(struct cluster *c)
{
	for (uint32_t i = 0; i < c->p.clients && i < CL_CLIENTS_MAX; i++)
		if (c->clients[i].ok_after_heal < 2)
			return false;
	c->clients_stopped = true;
	for (uint32_t i = 0; i < c->p.clients && i < CL_CLIENTS_MAX; i++)
		if (c->clients[i].waiting)
			return false;
	return true;
}

bool client_check_history(struct cluster *c)
{
	struct lin_result res;
	lin_check(c->hist, c->n_hist, 2000000, &res);
	if (!res.ok) {
		cluster_fail(c, "history of %zu operations is not linearizable: %s", c->n_hist,
			     res.explain);
		return false;
	}
	if (res.timed_out)
		cluster_log(c, "sim: linearizability search budget exhausted (inconclusive)");
	return true;
}
