/* raft/invariants.c — raft_check_invariants: every internal invariant of a
 * node, asserted; the simulator runs it after every step. */
#include "base/assert.h"
#include "raft/core.h"

static void check_log(const struct raft *r)
{
	const struct raft_log *l = &r->log;
	KEEL_ASSERT(l->start >= 1);
	raft_term prev = l->prev_known ? l->prev_term : 0;
	for (uint64_t k = 0; k < l->n; k++) {
		KEEL_ASSERT(l->e[k].index == l->start + k);
		KEEL_ASSERT(l->e[k].term >= prev);      /* terms never decrease */
		KEEL_ASSERT(l->e[k].term <= r->term);   /* no entry from the future */
		KEEL_ASSERT(l->e[k].len == 0 || l->e[k].data != NULL);
		prev = l->e[k].term;
	}
}

static void check_indexes(const struct raft *r)
{
	raft_index last = raft_log_last(&r->log);
	KEEL_ASSERT(r->applied <= r->commit);
	KEEL_ASSERT(r->commit <= last || (r->has_snap && r->commit <= r->snap.index));
	KEEL_ASSERT(r->persisted <= last || (r->has_snap && r->persisted <= r->snap.index));
	if (r->has_snap) {
		KEEL_ASSERT(r->snap.index <= r->commit);
		KEEL_ASSERT(r->log.start <= r->snap.index + 1); /* no gap after it */
	}
	/* Entries are purged only below the commit index and never above the
	 * snapshot (so every purged entry is covered by the snapshot). */
	KEEL_ASSERT(r->log.start <= r->commit + 1);
	KEEL_ASSERT(r->log.start == 1 || r->has_snap);
	KEEL_ASSERT(r->config_index <= last || (r->has_snap && r->config_index <= r->snap.index));
}

static void check_leader(const struct raft *r)
{
	if (r->role != RAFT_LEADER) {
		KEEL_ASSERT(r->out.msgs_now.n == 0 || r->in_update);
		return;
	}
	KEEL_ASSERT(r->leader == r->id);
	KEEL_ASSERT(r->vote == r->id); /* it voted for itself in this term */
	KEEL_ASSERT(r->term_start >= r->log.start || r->term_start <= r->commit);
	if (r->term_start >= r->log.start)
		KEEL_ASSERT(raft_term_at(r, r->term_start) == r->term);
	raft_index last = raft_log_last(&r->log);
	for (uint32_t k = 0; k < r->n_prs; k++) {
		const struct raft_progress *pr = &r->prs[k];
		KEEL_ASSERT(pr->id != r->id);
		KEEL_ASSERT(raft_config_find(&r->config, pr->id) != NULL);
		KEEL_ASSERT(pr->match <= last);
		KEEL_ASSERT(pr->next >= pr->match + 1 || pr->state == RAFT_PR_SNAPSHOT);
		KEEL_ASSERT(pr->next <= last + 1 || pr->state == RAFT_PR_SNAPSHOT);
		KEEL_ASSERT(pr->infl_n <= r->o.inflight_msgs_max);
		KEEL_ASSERT(pr->state != RAFT_PR_PROBE || pr->infl_n == 0);
	}
}

void raft_check_invariants(const struct raft *r)
{
	if (r->stopped)
		return;
	check_log(r);
	check_indexes(r);
	check_leader(r);
	KEEL_ASSERT(r->role >= RAFT_FOLLOWER && r->role <= RAFT_LEADER);
	KEEL_ASSERT(r->role == RAFT_FOLLOWER || raft_is_voter(r) || r->role == RAFT_LEADER);
	KEEL_ASSERT(r->vote == RAFT_ID_NONE || r->term > 0);
}
