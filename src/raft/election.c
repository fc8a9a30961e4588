/* raft/election.c — leader election (Raft §5.2, §5.4.1) with pre-vote
 * (thesis §9.6): a node first asks whether it could win, without touching
 * any term, and only then becomes a candidate. A vote is granted at most once
 * per term, only to a candidate whose log is at least as up to date, and the
 * vote is durable before the reply leaves (raft.h, update contract). */
#include <string.h>

#include "base/assert.h"
#include "raft/core.h"

static void election_reset_votes(struct raft *r)
{
	r->n_granted = 0;
	r->n_refused = 0;
}

/* Records one voter's answer; returns false if that voter already
 * answered. Only voters are recorded (raft_recv_vote_resp), each once, so
 * the two lists hold at most RAFT_MEMBERS_MAX ids together. */
static bool election_record(struct raft *r, raft_id id, bool granted)
{
	for (uint32_t k = 0; k < r->n_granted; k++)
		if (r->votes_granted[k] == id)
			return false;
	for (uint32_t k = 0; k < r->n_refused; k++)
		if (r->votes_refused[k] == id)
			return false;
	KEEL_ASSERT(r->n_granted + r->n_refused < RAFT_MEMBERS_MAX);
	if (granted)
		r->votes_granted[r->n_granted++] = id;
	else
		r->votes_refused[r->n_refused++] = id;
	return true;
}

static uint32_t election_count(const struct raft *r, const raft_id *ids, uint32_t n)
{
	uint32_t c = 0;
	for (uint32_t k = 0; k < n; k++)
		c += raft_config_is_voter(&r->config, ids[k]);
	return c;
}

static void election_request(struct raft *r, uint8_t type, raft_term term)
{
	raft_term last_term = 0;
	raft_index last = raft_log_last(&r->log);
	KEEL_ASSERT(raft_term_at_known(r, last, &last_term));
	for (uint32_t k = 0; k < r->config.n; k++) {
		const struct raft_member *mb = &r->config.members[k];
		if (mb->id == r->id || mb->role != RAFT_VOTER)
			continue;
		struct raft_msg m = {.type = type, .to = mb->id, .term = term};
		m.u.vote.last_index = last;
		m.u.vote.last_term = last_term;
		m.u.vote.transfer = r->campaign_transfer;
		raft_send(r, &m);
	}
}

static void election_tally(struct raft *r);

static void raft_become_candidate(struct raft *r)
{
	raft_read_fail_all(r, KEEL_ENOLEADER);
	raft_set_term(r, r->term + 1);
	raft_set_vote(r, r->id);
	r->role = RAFT_CANDIDATE;
	r->leader = RAFT_ID_NONE;
	raft_reset_timeout(r);
	election_reset_votes(r);
	election_record(r, r->id, true);
	raft_trace(r, "candidate term=%llu", (unsigned long long)r->term);
	election_request(r, RAFT_MSG_VOTE, r->term);
	election_tally(r);
}

static void raft_become_precandidate(struct raft *r)
{
	raft_read_fail_all(r, KEEL_ENOLEADER);
	r->role = RAFT_PRECANDIDATE;
	r->leader = RAFT_ID_NONE;
	raft_reset_timeout(r);
	election_reset_votes(r);
	election_record(r, r->id, true);
	raft_trace(r, "precandidate term=%llu", (unsigned long long)r->term + 1);
	election_request(r, RAFT_MSG_PREVOTE, r->term + 1);
	election_tally(r);
}

void raft_election_start(struct raft *r, bool transfer)
{
	KEEL_ASSERT(raft_is_voter(r));
	if (r->term >= RAFT_TERM_MAX) {
		/* No later term exists: the node keeps following (a leader of
		 * this term, if one shows up) and serves what a follower
		 * serves, but never campaigns. Only a data folder written
		 * before terms were range-checked can be here. */
		raft_trace(r, "cannot campaign: term %llu is the largest",
			   (unsigned long long)r->term);
		raft_reset_timeout(r);
		return;
	}
	r->campaign_transfer = transfer;
	if (r->o.pre_vote && !transfer)
		raft_become_precandidate(r);
	else
		raft_become_candidate(r);
}

void raft_become_leader(struct raft *r)
{
	KEEL_ASSERT(r->role == RAFT_CANDIDATE);
	r->role = RAFT_LEADER;
	r->leader = r->id;
	r->leader_quiet = 0;
	r->hb_elapsed = 0;
	r->cq_elapsed = 0;
	r->read_seq = 0;
	r->transfer_to = RAFT_ID_NONE;
	r->n_prs = 0;
	raft_progress_reset(r);
	raft_trace(r, "leader term=%llu", (unsigned long long)r->term);
	/* Raft §5.4.2, §8: commit an entry of the new term at once, which also
	 * commits everything before it. */
	raft_append_local(r, RAFT_ENTRY_NOOP, NULL, 0);
	r->term_start = raft_log_last(&r->log);
	raft_maybe_commit(r);
}

/* Counts answers: a quorum of grants wins, a quorum of refusals loses. */
static void election_tally(struct raft *r)
{
	uint32_t q = raft_quorum(r);
	uint32_t voters = raft_config_voters(&r->config);
	uint32_t yes = election_count(r, r->votes_granted, r->n_granted);
	uint32_t no = election_count(r, r->votes_refused, r->n_refused);
	if (yes >= q) {
		if (r->role == RAFT_PRECANDIDATE)
			raft_become_candidate(r);
		else
			raft_become_leader(r);
	} else if (no > voters - q) {
		raft_trace(r, "lost election term=%llu", (unsigned long long)r->term);
		raft_become_follower(r, r->term, RAFT_ID_NONE);
	}
}

/* Raft §5.4.1: the candidate's log is at least as up to date as ours. */
static bool election_log_ok(const struct raft *r, const struct raft_msg *m)
{
	raft_term last_term = 0;
	raft_index last = raft_log_last(&r->log);
	KEEL_ASSERT(raft_term_at_known(r, last, &last_term));
	if (m->u.vote.last_term != last_term)
		return m->u.vote.last_term > last_term;
	return m->u.vote.last_index >= last;
}

void raft_recv_vote(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PREVOTE;
	bool grant = !raft_leader_sticky_vote(r, m) && election_log_ok(r, m);
	if (pre)
		grant = grant && m->term > r->term;
	else
		grant = grant && (r->vote == RAFT_ID_NONE || r->vote == m->from);
	struct raft_msg out = {.to = m->from};
	out.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
	out.term = pre && grant ? m->term : r->term;
	out.u.vote_resp.granted = grant;
	if (grant && !pre) {
		raft_set_vote(r, m->from);
		r->elapsed = 0; /* Raft §5.2: granting a vote resets the timer */
	}
	raft_trace(r, "%s %s to %llu term=%llu", grant ? "granted" : "refused",
		   pre ? "pre-vote" : "vote", (unsigned long long)m->from,
		   (unsigned long long)m->term);
	raft_send(r, &out);
}

void raft_recv_vote_resp(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PREVOTE_RESP;
	if (pre && (r->role != RAFT_PRECANDIDATE ||
		    (m->u.vote_resp.granted && m->term != r->term + 1)))
		return;
	if (!pre && r->role != RAFT_CANDIDATE)
		return;
	/* An answer from a node that is not a voter counts for nothing, and
	 * is not recorded: made-up answers cannot fill the lists. */
	if (!raft_config_is_voter(&r->config, m->from))
		return;
	if (!election_record(r, m->from, m->u.vote_resp.granted))
		return;
	election_tally(r);
}
