/* raft/raft.c — the node: construction from durable state, the tick and
 * message dispatch (term rules of Raft §5.1), role changes, proposals, and
 * the update handed to the embedder (the contract is in raft.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "raft/core.h"

void raft_options_default(struct raft_options *o)
{
	memset(o, 0, sizeof(*o));
	o->election_ticks_min = 10;
	o->election_ticks_max = 20;
	o->heartbeat_ticks = 2;
	o->pre_vote = true;
	o->check_quorum = true;
	o->inflight_msgs_max = 64;
	o->inflight_bytes_max = 16u << 20;
	o->msg_entries_max = 512;
	o->msg_bytes_max = 1u << 20;
	o->apply_entries_max = 1024;
	o->snapshot_entries = 100000;
	o->snapshot_bytes = 64u << 20;
	o->trailing_entries = 5000;
	o->snapshot_chunk_bytes = 1u << 20;
	o->promote_distance = 100;
}

void raft_trace(const struct raft *r, const char *fmt, ...)
{
	if (!trace_on(&r->trace))
		return;
	char line[TRACE_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	trace_printf(&r->trace, "%llu: %s", (unsigned long long)r->id, line);
}

/* ---- helpers shared by the core ------------------------------------------ */

bool raft_term_at_known(const struct raft *r, raft_index i, raft_term *t)
{
	if (i == 0) {
		*t = 0;
		return true;
	}
	if (raft_log_term(&r->log, i, t))
		return true;
	if (r->has_snap && i == r->snap.index) {
		*t = r->snap.term;
		return true;
	}
	return false;
}

bool raft_is_voter(const struct raft *r)
{
	return raft_config_is_voter(&r->config, r->id);
}

uint32_t raft_quorum(const struct raft *r)
{
	return raft_config_voters(&r->config) / 2 + 1;
}

void raft_set_term(struct raft *r, raft_term term)
{
	KEEL_ASSERT(term > r->term);
	r->term = term;
	r->vote = RAFT_ID_NONE;
	r->out.hs_changed = true;
}

void raft_set_vote(struct raft *r, raft_id vote)
{
	r->vote = vote;
	r->out.hs_changed = true;
}

static void msgs_push(struct raft_msgs *v, const struct raft_msg *m)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->v = keel_realloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = *m;
}

/* Queues a message. The leader's AppendEntries and snapshot chunks may leave
 * before its own log is durable (thesis §10.2.1); everything else waits for
 * the persist part of the update. */
void raft_send(struct raft *r, struct raft_msg *m)
{
	m->from = r->id;
	if (m->term == 0)
		m->term = r->term;
	bool now = r->role == RAFT_LEADER &&
		   (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT);
	msgs_push(now ? &r->out.msgs_now : &r->out.msgs, m);
}

void raft_reset_timeout(struct raft *r)
{
	r->elapsed = 0;
	r->timeout = (uint32_t)prng_range(&r->rng, r->o.election_ticks_min,
					  r->o.election_ticks_max);
}

static void raft_leave_leader(struct raft *r)
{
	/* Queued appends refer to this term's log; they must not leave once we
	 * are no longer leader (the log may be truncated under them). */
	r->out.msgs_now.n = 0;
	r->transfer_to = RAFT_ID_NONE;
	r->broadcast_pending = false;
	r->n_prs = 0;
}

void raft_become_follower(struct raft *r, raft_term term, raft_id leader)
{
	bool was_leader = r->role == RAFT_LEADER;
	raft_id old_leader = r->leader;
	if (term > r->term)
		raft_set_term(r, term);
	if (was_leader)
		raft_leave_leader(r);
	if (was_leader || old_leader != leader)
		raft_read_fail_all(r, KEEL_ENOTLEADER);
	if (r->role != RAFT_FOLLOWER || old_leader != leader)
		raft_trace(r, "follower term=%llu leader=%llu", (unsigned long long)r->term,
			   (unsigned long long)leader);
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	if (leader != RAFT_ID_NONE)
		r->leader_quiet = 0;
	raft_reset_timeout(r);
}

/* ---- construction -------------------------------------------------------- */

static int raft_check_options(const struct raft_options *o, struct keel_errmsg *err)
{
	if (o->election_ticks_min < 2 || o->election_ticks_max <= o->election_ticks_min) {
		keel_errmsg_set(err, "election ticks must satisfy 2 <= min < max");
		return KEEL_EINVAL;
	}
	if (o->heartbeat_ticks == 0 || o->heartbeat_ticks >= o->election_ticks_min) {
		keel_errmsg_set(err, "heartbeat ticks must be in [1, election min)");
		return KEEL_EINVAL;
	}
	if (o->inflight_msgs_max == 0 || o->inflight_msgs_max > RAFT_INFLIGHT_MAX ||
	    o->msg_entries_max == 0 || o->apply_entries_max == 0 ||
	    o->snapshot_chunk_bytes == 0 || o->inflight_bytes_max == 0) {
		keel_errmsg_set(err, "window, batch and chunk sizes must be positive "
				     "(in-flight messages at most %d)", RAFT_INFLIGHT_MAX);
		return KEEL_EINVAL;
	}
	return KEEL_OK;
}

static int raft_load_log(struct raft *r, const struct raft_init *in, struct keel_errmsg *err)
{
	raft_index snap_index = r->has_snap ? r->snap.index : 0;
	raft_term snap_term = r->has_snap ? r->snap.term : 0;
	raft_index first = in->n_entries ? in->entries[0].index : snap_index + 1;
	if (first == 0 || first > snap_index + 1) {
		keel_errmsg_set(err, "log starts at %llu, after the snapshot at %llu",
				(unsigned long long)first, (unsigned long long)snap_index);
		return KEEL_ECORRUPT;
	}
	bool prev_known = first == snap_index + 1 || first == 1;
	raft_log_init(&r->log, first, first == 1 ? 0 : snap_term, prev_known);
	for (uint32_t k = 0; k < in->n_entries; k++) {
		const struct raft_entry *e = &in->entries[k];
		if (e->index != first + k || e->term > r->term ||
		    (k > 0 && e->term < in->entries[k - 1].term) || e->term == 0) {
			keel_errmsg_set(err, "log entry %llu out of order",
					(unsigned long long)e->index);
			return KEEL_ECORRUPT;
		}
		raft_log_append(&r->log, e->term, e->type, e->data, e->len);
	}
	/* The snapshot wins over a log that disagrees with it or ends before it. */
	raft_term t;
	if (r->has_snap && (!raft_log_term(&r->log, snap_index, &t) || t != snap_term))
		raft_log_reset(&r->log, snap_index, snap_term);
	else if (r->has_snap && r->log.start <= snap_index)
		r->purged = r->log.start;
	return KEEL_OK;
}

static void raft_bootstrap(struct raft *r, const struct raft_config *c)
{
	uint8_t buf[RAFT_CONFIG_BYTES_MAX];
	uint32_t len = raft_config_encode(c, buf);
	KEEL_ASSERT(len > 0);
	/* A founding node that crashed before its log reached the disk may have
	 * a later term (and a vote) on disk: keep them. */
	if (r->term < 1)
		raft_set_term(r, 1);
	raft_log_append(&r->log, 1, RAFT_ENTRY_CONFIG, buf, len);
	/* Entry 1 is the same on every founding node, so it is committed. */
	r->commit = 1;
	raft_trace(r, "bootstrap with %u voters", raft_config_voters(c));
}

struct raft *raft_new(const struct raft_init *in, struct keel_errmsg *err)
{
	struct keel_errmsg scratch;
	if (!err)
		err = &scratch;
	if (in->id == RAFT_ID_NONE) {
		keel_errmsg_set(err, "node id must be non-zero");
		return NULL;
	}
	if (raft_check_options(&in->options, err) != KEEL_OK)
		return NULL;
	struct raft *r = keel_calloc(1, sizeof(*r));
	r->id = in->id;
	r->o = in->options;
	r->trace = in->options.trace;
	prng_seed(&r->rng, in->seed ^ (in->id * 0x9E3779B97F4A7C15ull));
	r->term = in->term;
	r->vote = in->vote;
	if (in->snapshot) {
		r->has_snap = true;
		r->snap = *in->snapshot;
	}
	if (raft_load_log(r, in, err) != KEEL_OK) {
		raft_free(r);
		return NULL;
	}
	r->commit = r->applied = r->has_snap ? r->snap.index : 0;
	r->persisted = raft_log_last(&r->log);
	r->out.append_from = raft_log_last(&r->log) + 1;
	if (!r->has_snap && in->n_entries == 0 && in->bootstrap)
		raft_bootstrap(r, in->bootstrap);
	raft_config_rebuild(r);
	r->role = RAFT_FOLLOWER;
	raft_reset_timeout(r);
	r->leader_quiet = r->o.election_ticks_max;
	return r;
}

void raft_free(struct raft *r)
{
	if (!r)
		return;
	raft_log_free(&r->log);
	keel_free(r->out.msgs_now.v);
	keel_free(r->out.msgs.v);
	keel_free(r->out.reads.v);
	keel_free(r->out.chunk_data);
	keel_free(r->reads.v);
	keel_free(r);
}

/* ---- events ---------------------------------------------------------------- */

static void raft_tick_leader(struct raft *r)
{
	r->leader_quiet = 0;
	r->hb_elapsed++;
	r->cq_elapsed++;
	if (r->cq_elapsed >= r->o.election_ticks_min) {
		r->cq_elapsed = 0;
		uint32_t active = raft_is_voter(r) ? 1 : 0;
		for (uint32_t k = 0; k < r->n_prs; k++) {
			struct raft_progress *pr = &r->prs[k];
			if (pr->recent_active && raft_config_is_voter(&r->config, pr->id))
				active++;
			pr->recent_active = false;
		}
		if (r->o.check_quorum && active < raft_quorum(r)) {
			raft_trace(r, "lost quorum (%u active), stepping down", active);
			raft_become_follower(r, r->term, RAFT_ID_NONE);
			return;
		}
	}
	raft_transfer_tick(r);
	if (r->hb_elapsed >= r->o.heartbeat_ticks) {
		r->hb_elapsed = 0;
		raft_read_on_heartbeat(r);
		raft_broadcast(r, true);
	}
}

void raft_tick(struct raft *r)
{
	KEEL_ASSERT(!r->in_update);
	if (r->stopped)
		return;
	if (r->role == RAFT_LEADER) {
		raft_tick_leader(r);
		return;
	}
	if (r->leader_quiet < UINT32_MAX)
		r->leader_quiet++;
	r->elapsed++;
	if (r->elapsed < r->timeout)
		return;
	if (raft_is_voter(r))
		raft_election_start(r, false);
	else
		raft_reset_timeout(r);
}

void raft_heartbeat_now(struct raft *r)
{
	KEEL_ASSERT(!r->in_update);
	if (r->stopped || r->role != RAFT_LEADER)
		return;
	r->hb_elapsed = 0;
	raft_read_on_heartbeat(r);
	raft_broadcast(r, true);
}

int raft_campaign(struct raft *r)
{
	if (r->stopped)
		return KEEL_ESTOPPED;
	if (r->role == RAFT_LEADER)
		return KEEL_OK;
	if (!raft_is_voter(r))
		return KEEL_EINVAL;
	raft_election_start(r, false);
	return KEEL_OK;
}

/* Replies to a message from an older term, so that a stale leader or
 * candidate learns the current term and steps down (Raft §5.1). */
static void raft_reply_stale(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg out = {.to = m->from};
	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_SNAPSHOT:
		out.type = RAFT_MSG_APPEND_RESP;
		out.u.append_resp.reject_index = 0;
		break;
	case RAFT_MSG_PREVOTE:
		out.type = RAFT_MSG_PREVOTE_RESP;
		break;
	case RAFT_MSG_VOTE:
		out.type = RAFT_MSG_VOTE_RESP;
		break;
	default:
		return;
	}
	raft_send(r, &out);
}

/* A vote request from a higher term is ignored while we have heard from a
 * leader within the minimum election timeout (thesis §4.2.3, §9.6): a node
 * that was cut off cannot depose a healthy leader. */
bool raft_leader_sticky_vote(const struct raft *r, const struct raft_msg *m)
{
	if (!(r->o.check_quorum || r->o.pre_vote) || m->u.vote.transfer)
		return false;
	if (r->role == RAFT_LEADER)
		return true;
	return r->leader != RAFT_ID_NONE && r->leader_quiet < r->o.election_ticks_min;
}

/* Whether m, from a later term, may move ours. A leader's message (an
 * append or a snapshot chunk) may, from any node: it is how a member that
 * missed the configurations adding the current leader (and perhaps
 * removing every member it knew) learns of them, from that leader's log
 * (Raft §5.1, §4.1); refusing it would leave such a member behind for
 * good. Any other message (votes, answers, reads, transfers) moves the
 * term only if it comes from a node of our configuration (a voter or a
 * learner, the one being added included), or if we have none yet: a
 * removed node, or one that made up its id, cannot push the term with a
 * vote request or a made-up answer. A forged leader's message can still
 * raise the term (up to RAFT_TERM_MAX, never past it): stopping that
 * needs peers to authenticate, which keel does not do yet. */
static bool raft_may_move_term(const struct raft *r, const struct raft_msg *m)
{
	return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT || r->config.n == 0 ||
	       raft_config_find(&r->config, m->from) != NULL;
}

/* Raft §5.1: a higher term makes us a follower. Returns false if the message
 * must be dropped. */
static bool raft_step_term(struct raft *r, const struct raft_msg *m)
{
	if (m->term > r->term && !raft_may_move_term(r, m)) {
		raft_trace(r, "ignored term %llu from %llu: not a member",
			   (unsigned long long)m->term, (unsigned long long)m->from);
		return false;
	}
	if (m->term > r->term) {
		switch (m->type) {
		case RAFT_MSG_PREVOTE:
			return true; /* a pre-vote never changes our term */
		case RAFT_MSG_PREVOTE_RESP:
			if (m->u.vote_resp.granted)
				return true; /* granted pre-votes carry term+1 */
			raft_become_follower(r, m->term, RAFT_ID_NONE);
			return true;
		case RAFT_MSG_VOTE:
			if (raft_leader_sticky_vote(r, m)) {
				raft_trace(r, "ignored vote request from %llu: leader is alive",
					   (unsigned long long)m->from);
				return false;
			}
			raft_become_follower(r, m->term, RAFT_ID_NONE);
			return true;
		case RAFT_MSG_APPEND:
		case RAFT_MSG_SNAPSHOT:
		case RAFT_MSG_TIMEOUT_NOW:
			raft_become_follower(r, m->term, m->from);
			return true;
		default:
			raft_become_follower(r, m->term, RAFT_ID_NONE);
			return true;
		}
	}
	if (m->term < r->term) {
		raft_reply_stale(r, m);
		return false;
	}
	return true;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	KEEL_ASSERT(!r->in_update);
	if (r->stopped)
		return KEEL_ESTOPPED;
	if (m->type == 0 || m->type > RAFT_MSG_TYPE_MAX || m->from == RAFT_ID_NONE ||
	    m->from == r->id || m->to != r->id || m->term > RAFT_TERM_MAX)
		return KEEL_EINVAL;
	if (!raft_step_term(r, m))
		return KEEL_OK;
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		raft_recv_vote(r, m);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		raft_recv_vote_resp(r, m);
		break;
	case RAFT_MSG_APPEND:
		raft_recv_append(r, m);
		break;
	case RAFT_MSG_APPEND_RESP:
		raft_recv_append_resp(r, m);
		break;
	case RAFT_MSG_SNAPSHOT:
		raft_recv_snapshot(r, m);
		break;
	case RAFT_MSG_SNAPSHOT_RESP:
		raft_recv_snapshot_resp(r, m);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		raft_recv_timeout_now(r, m);
		break;
	case RAFT_MSG_READ_INDEX:
		raft_recv_read_index(r, m);
		break;
	case RAFT_MSG_READ_INDEX_RESP:
		raft_recv_read_index_resp(r, m);
		break;
	}
	return KEEL_OK;
}

int raft_propose(struct raft *r, const void *data, uint32_t len, raft_index *index,
		 raft_term *term)
{
	KEEL_ASSERT(!r->in_update);
	if (r->stopped)
		return KEEL_ESTOPPED;
	if (r->role != RAFT_LEADER)
		return KEEL_ENOTLEADER;
	if (r->transfer_to != RAFT_ID_NONE)
		return KEEL_EBUSY;
	if (len > RAFT_ENTRY_BYTES_MAX)
		return KEEL_ETOOBIG;
	raft_append_local(r, RAFT_ENTRY_COMMAND, data, len);
	if (index)
		*index = raft_log_last(&r->log);
	if (term)
		*term = r->term;
	return KEEL_OK;
}

void raft_persisted(struct raft *r, raft_index index, raft_term term)
{
	raft_term t;
	if (r->stopped || !raft_term_at_known(r, index, &t) || t != term)
		return; /* a report about entries since truncated */
	if (index <= r->persisted)
		return;
	r->persisted = index;
	if (r->role == RAFT_LEADER)
		raft_maybe_commit(r);
}

void raft_fail(struct raft *r, int err)
{
	if (r->stopped)
		return;
	raft_trace(r, "stopped: storage error (%s)", keel_err_str(err));
	r->stopped = true;
}
