/* tests/sim/check.c — the safety checkers the simulator runs after every
 * step (Raft paper §5.2-§5.4, Figure 3): election safety (at most one
 * leader per term), log matching, leader completeness, state machine
 * safety, a commit index that never moves back, and no committed entry
 * ever truncated or overwritten; and at the end, that every member
 * converged to the same state. */
#include "sim/cluster.h"

#include <string.h>

#include "base/crc32c.h"
#include "base/mem.h"

static uint32_t entry_crc(const struct raft_entry *e)
{
	return crc32c(e->type, e->data, e->len);
}

static struct cl_committed *committed_at(struct cluster *c, raft_index i)
{
	if (i >= c->n_committed) {
		size_t n = c->n_committed ? c->n_committed : 256;
		while (n <= i)
			n *= 2;
		c->committed = keel_realloc(c->committed, n * sizeof *c->committed);
		for (size_t k = c->n_committed; k < n; k++)
			c->committed[k] = (struct cl_committed){0};
		c->n_committed = n;
	}
	return &c->committed[i];
}

/* Records that (term, crc) is committed at index i, or checks it against
 * what was recorded before. */
static void check_commit_entry(struct cluster *c, raft_id who, raft_index i, raft_term term,
			       uint32_t crc, const char *what)
{
	struct cl_committed *k = committed_at(c, i);
	if (!k->known) {
		*k = (struct cl_committed){.term = term, .crc = crc, .known = true};
		if (i > c->max_commit)
			c->max_commit = i;
		return;
	}
	if (k->term != term || k->crc != crc)
		cluster_fail(c,
			     "%s: node %llu has %llu/%llu at index %llu, but %llu/%llu was "
			     "committed there",
			     what, (unsigned long long)who, (unsigned long long)i,
			     (unsigned long long)term, (unsigned long long)i, (unsigned long long)i,
			     (unsigned long long)k->term);
}

/* A vote is granted at most once per term, even across restarts (§5.2,
 * Figure 2: votedFor is persistent state). */
/* The update contract (raft/raft.h, step 2): what a message promises must
 * be on disk before it leaves. A message is checked as it leaves, against
 * the node's durable image. */
static void check_durable(struct cluster *c, struct node *n, const struct raft_msg *m)
{
	const struct store *s = &n->store;
	if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_PREVOTE_RESP)
		return; /* pre-votes carry a term not (yet) adopted */
	if (s->term < m->term)
		cluster_fail(c, "node %llu sends a message of term %llu with term %llu on disk",
			     (unsigned long long)n->id, (unsigned long long)m->term,
			     (unsigned long long)s->term);
	else if (m->type == RAFT_MSG_VOTE_RESP && m->u.vote_resp.granted &&
		 (s->term < m->term || (s->term == m->term && s->vote != m->to)))
		cluster_fail(c,
			     "node %llu grants its vote to %llu in term %llu before the vote "
			     "is on disk",
			     (unsigned long long)n->id, (unsigned long long)m->to,
			     (unsigned long long)m->term);
	if (m->type != RAFT_MSG_APPEND_RESP || !m->u.append_resp.success)
		return;
	raft_index i = m->u.append_resp.match_index;
	const struct raft_entry *e = store_entry(s, i);
	/* (The entry's term is not in the message: the durable log reaching i
	 * is what can be checked here; log matching is checked elsewhere.) */
	bool covered = (s->has_snap && s->snap.index >= i) || e;
	if (i && !covered)
		cluster_fail(c, "node %llu acknowledges its log up to %llu before it is on disk",
			     (unsigned long long)n->id, (unsigned long long)i);
}

void check_send(struct cluster *c, struct node *n, const struct raft_msg *m)
{
	check_durable(c, n, m);
	if (m->type != RAFT_MSG_VOTE_RESP || !m->u.vote_resp.granted)
		return;
	struct cl_watch *w = &c->watch[n->id];
	if (m->term < w->vote_term || (m->term == w->vote_term && m->to != w->vote_for))
		cluster_fail(c,
			     "node %llu grants its vote in term %llu to %llu, after voting for "
			     "%llu in term %llu",
			     (unsigned long long)n->id, (unsigned long long)m->term,
			     (unsigned long long)m->to, (unsigned long long)w->vote_for,
			     (unsigned long long)w->vote_term);
	w->vote_term = m->term;
	w->vote_for = m->to;
}

void check_started(struct cluster *c, struct node *n)
{
	c->watch[n->id].cfg = *raft_config_of(n->r);
}

/* Thesis §4.2.1: a learner that the leader promotes by itself must have
 * caught up to within promote_distance of the leader's log. */
static void check_promotion(struct cluster *c, struct node *n, const struct raft_entry *e)
{
	struct cl_watch *w = &c->watch[n->id];
	struct raft_config cfg;
	if (raft_config_decode(&cfg, e->data, e->len) != KEEL_OK)
		return;
	for (uint32_t i = 0; i < cfg.n && raft_role_of(n->r) == RAFT_LEADER; i++) {
		const struct raft_member *now = &cfg.members[i];
		const struct raft_member *was = raft_config_find(&w->cfg, now->id);
		raft_index match, next;
		if (!was || was->role != RAFT_LEARNER || !was->auto_promote ||
		    now->role != RAFT_VOTER || !raft_progress_of(n->r, now->id, &match, &next))
			continue;
		if (match + c->p.opts.promote_distance + 1 < e->index)
			cluster_fail(c,
				     "leader %llu promotes learner %llu at %llu while its log "
				     "reaches only %llu",
				     (unsigned long long)n->id, (unsigned long long)now->id,
				     (unsigned long long)e->index, (unsigned long long)match);
	}
	w->cfg = cfg;
}

static bool is_committed(const struct cluster *c, raft_index i, const struct raft_entry *e)
{
	return i < c->n_committed && c->committed[i].known && c->committed[i].term == e->term &&
	       c->committed[i].crc == entry_crc(e);
}

/* No update may remove a committed entry the node holds on disk, nor
 * purge entries that no durable snapshot covers. */
void check_update(struct cluster *c, struct node *n, const struct raft_update *u)
{
	const struct store *s = &n->store;
	if (u->truncate_from && s->n_log) {
		raft_index last = s->log[s->n_log - 1].index;
		for (raft_index i = u->truncate_from; i <= last && !c->failed; i++) {
			const struct raft_entry *e = store_entry(s, i);
			if (e && is_committed(c, i, e))
				cluster_fail(c,
					     "node %llu truncates its log from %llu, removing "
					     "committed entry %llu",
					     (unsigned long long)n->id,
					     (unsigned long long)u->truncate_from,
					     (unsigned long long)i);
		}
	}
	for (uint32_t k = 0; k < u->n_msgs_now; k++)
		if (u->msgs_now[k].type != RAFT_MSG_APPEND &&
		    u->msgs_now[k].type != RAFT_MSG_SNAPSHOT)
			cluster_fail(c, "node %llu may send a message of type %u before persisting",
				     (unsigned long long)n->id, u->msgs_now[k].type);
	if (u->snap_install)
		c->watch[n->id].cfg = u->snap_install->config;
	for (uint32_t k = 0; k < u->n_entries && !c->failed; k++)
		if (u->entries[k].type == RAFT_ENTRY_CONFIG)
			check_promotion(c, n, &u->entries[k]);
	raft_index covered = s->has_snap ? s->snap.index : 0;
	if (u->snap_install && u->snap_install->index > covered)
		covered = u->snap_install->index;
	if (u->purge_below > covered + 1)
		cluster_fail(c, "node %llu purges below %llu, but its snapshot covers only %llu",
			     (unsigned long long)n->id, (unsigned long long)u->purge_below,
			     (unsigned long long)covered);
	if (u->snap_install && u->snap_install->index < c->n_committed) {
		const struct cl_committed *k = &c->committed[u->snap_install->index];
		if (k->known && k->term != u->snap_install->term)
			cluster_fail(c,
				     "node %llu installs a snapshot at %llu/%llu that "
				     "contradicts the committed log",
				     (unsigned long long)n->id,
				     (unsigned long long)u->snap_install->index,
				     (unsigned long long)u->snap_install->term);
	}
}

void check_applied(struct cluster *c, struct node *n, const struct raft_entry *e)
{
	/* State machine safety: every node applies the same entry at an index. */
	check_commit_entry(c, n->id, e->index, e->term, entry_crc(e), "state machine safety");
	struct cl_watch *w = &c->watch[n->id];
	if (e->index > raft_commit_index(n->r))
		cluster_fail(c, "node %llu applies %llu beyond its commit index %llu",
			     (unsigned long long)n->id, (unsigned long long)e->index,
			     (unsigned long long)raft_commit_index(n->r));
	w->applied = e->index;
}

/* Election safety (§5.2): at most one leader per term. */
static void check_leader(struct cluster *c, struct node *n)
{
	raft_term t = raft_current_term(n->r);
	if (t >= c->n_terms) {
		size_t k = c->n_terms ? c->n_terms : 64;
		while (k <= t)
			k *= 2;
		c->leader_of_term = keel_realloc(c->leader_of_term, k * sizeof *c->leader_of_term);
		for (size_t i = c->n_terms; i < k; i++)
			c->leader_of_term[i] = 0;
		c->n_terms = k;
	}
	if (!c->leader_of_term[t]) {
		c->leader_of_term[t] = n->id;
		c->n_elections++;
	} else if (c->leader_of_term[t] != n->id) {
		cluster_fail(c, "two leaders in term %llu: %llu and %llu", (unsigned long long)t,
			     (unsigned long long)c->leader_of_term[t], (unsigned long long)n->id);
	}
}

/* Leader completeness (§5.4): a new leader holds every committed entry. */
static void check_leader_complete(struct cluster *c, struct node *n)
{
	struct cl_watch *w = &c->watch[n->id];
	raft_term t = raft_current_term(n->r);
	if (w->leader_checked == t)
		return;
	w->leader_checked = t;
	if (raft_last_index(n->r) < c->max_commit) {
		cluster_fail(c,
			     "leader %llu of term %llu lacks committed entries: its log ends "
			     "at %llu, %llu is committed",
			     (unsigned long long)n->id, (unsigned long long)t,
			     (unsigned long long)raft_last_index(n->r),
			     (unsigned long long)c->max_commit);
		return;
	}
	for (raft_index i = raft_first_index(n->r); i <= c->max_commit && !c->failed; i++) {
		const struct raft_entry *e = raft_entry_at(n->r, i);
		if (e && c->committed[i].known)
			check_commit_entry(c, n->id, i, e->term, entry_crc(e),
					   "leader completeness");
	}
}

/* Commit never moves back; newly committed entries agree with the record. */
static void check_commit(struct cluster *c, struct node *n)
{
	struct cl_watch *w = &c->watch[n->id];
	raft_index commit = raft_commit_index(n->r);
	if (commit < w->commit) {
		cluster_fail(c, "node %llu commit index moved back from %llu to %llu",
			     (unsigned long long)n->id, (unsigned long long)w->commit,
			     (unsigned long long)commit);
		return;
	}
	/* §5.4.2: a leader commits only by counting replicas of an entry of
	 * its own term. */
	if (raft_role_of(n->r) == RAFT_LEADER && commit > w->commit && w->commit &&
	    raft_term_at(n->r, commit) != raft_current_term(n->r))
		cluster_fail(c,
			     "leader %llu of term %llu advanced its commit index to %llu, an "
			     "entry of term %llu",
			     (unsigned long long)n->id, (unsigned long long)raft_current_term(n->r),
			     (unsigned long long)commit,
			     (unsigned long long)raft_term_at(n->r, commit));
	raft_index from = w->commit + 1;
	if (from < raft_first_index(n->r))
		from = raft_first_index(n->r);
	for (raft_index i = from; i <= commit && !c->failed; i++) {
		const struct raft_entry *e = raft_entry_at(n->r, i);
		if (e)
			check_commit_entry(c, n->id, i, e->term, entry_crc(e), "committed entries");
	}
	w->commit = commit;
}

/* Log matching (§5.3) over the uncommitted tails of two logs: if both hold
 * an entry with the same index and term, they agree up to it. */
static void check_matching(struct cluster *c, struct node *a, struct node *b)
{
	raft_index lo = raft_commit_index(a->r);
	if (raft_commit_index(b->r) < lo)
		lo = raft_commit_index(b->r);
	if (raft_first_index(a->r) > lo)
		lo = raft_first_index(a->r);
	if (raft_first_index(b->r) > lo)
		lo = raft_first_index(b->r);
	raft_index hi = raft_last_index(a->r);
	if (raft_last_index(b->r) < hi)
		hi = raft_last_index(b->r);
	raft_index i = hi;
	for (; i >= lo && i > 0; i--) {
		const struct raft_entry *x = raft_entry_at(a->r, i), *y = raft_entry_at(b->r, i);
		if (x && y && x->term == y->term)
			break;
	}
	for (; i >= lo && i > 0; i--) {
		const struct raft_entry *x = raft_entry_at(a->r, i), *y = raft_entry_at(b->r, i);
		if (!x || !y)
			break;
		if (x->term != y->term || entry_crc(x) != entry_crc(y)) {
			cluster_fail(c,
				     "log matching: nodes %llu and %llu differ at index %llu "
				     "below a common entry",
				     (unsigned long long)a->id, (unsigned long long)b->id,
				     (unsigned long long)i);
			return;
		}
	}
}

void check_step(struct cluster *c, bool deep)
{
	for (raft_id id = 1; id < CL_NODES_MAX && !c->failed; id++) {
		if (!cluster_live(c, id))
			continue;
		struct node *n = &c->nodes[id];
		if (raft_stopped(n->r))
			continue;
		if (deep)
			raft_check_invariants(n->r);
		check_commit(c, n);
		if (raft_role_of(n->r) == RAFT_LEADER) {
			check_leader(c, n);
			check_leader_complete(c, n);
		}
		if (!deep)
			continue;
		for (raft_id o = id + 1; o < CL_NODES_MAX && !c->failed; o++)
			if (cluster_live(c, o) && !raft_stopped(c->nodes[o].r))
				check_matching(c, n, &c->nodes[o]);
	}
}

void check_converged(struct cluster *c)
{
	const struct node *ref = NULL;
	for (uint32_t i = 0; i < c->members.n && !c->failed; i++) {
		const struct node *n = &c->nodes[c->members.members[i].id];
		if (!ref) {
			ref = n;
			continue;
		}
		if (n->kv.applied != ref->kv.applied || n->kv.hash != ref->kv.hash ||
		    memcmp(n->kv.value, ref->kv.value, sizeof n->kv.value) ||
		    memcmp(n->kv.present, ref->kv.present, sizeof n->kv.present))
			cluster_fail(c,
				     "nodes %llu and %llu applied up to %llu/%llu but their "
				     "state machines differ",
				     (unsigned long long)ref->id, (unsigned long long)n->id,
				     (unsigned long long)ref->kv.applied,
				     (unsigned long long)n->kv.applied);
	}
}

void check_free(struct cluster *c)
{
	keel_free(c->leader_of_term);
	keel_free(c->committed);
}
