/* raft/membership.c — membership changes one server at a time (thesis §4.1),
 * learners and their automatic promotion (thesis §4.2.1), removal of the
 * leader itself (§4.2.2), and leadership transfer (§3.10).
 *
 * The configuration in force is the latest one in the log, committed or not.
 * A leader accepts a change only when the previous one has committed and it
 * has committed an entry of its own term: the latter closes the hole in
 * single-server changes found after the thesis (raft-dev, 2015). */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "raft/core.h"

static void membership_set(struct raft *r, const struct raft_config *c, raft_index index)
{
	r->config = *c;
	r->config_index = index;
	if (r->role == RAFT_LEADER)
		raft_progress_reset(r);
}

void raft_config_apply_entry(struct raft *r, const struct raft_entry *e)
{
	struct raft_config c;
	int rc = raft_config_decode(&c, e->data, e->len);
	KEEL_ASSERT(rc == KEEL_OK); /* entries are checked where they enter */
	membership_set(r, &c, e->index);
	raft_trace(r, "config at %llu: %u members, %u voters", (unsigned long long)e->index,
		   c.n, raft_config_voters(&c));
}

/* After a truncation, an install or a restart: find the latest configuration. */
void raft_config_rebuild(struct raft *r)
{
	for (raft_index i = raft_log_last(&r->log); i >= r->log.start && i > 0; i--) {
		const struct raft_entry *e = raft_log_get(&r->log, i);
		if (e->type != RAFT_ENTRY_CONFIG)
			continue;
		struct raft_config c;
		int rc = raft_config_decode(&c, e->data, e->len);
		KEEL_ASSERT(rc == KEEL_OK);
		membership_set(r, &c, i);
		return;
	}
	struct raft_config empty;
	memset(&empty, 0, sizeof(empty));
	if (r->has_snap)
		membership_set(r, &r->snap.config, r->snap.index);
	else
		membership_set(r, &empty, 0);
}

/* Called by a leader whose commit index moved on from old_commit (only a
 * leader commits by counting, raft_maybe_commit). */
void raft_membership_on_commit(struct raft *r, raft_index old_commit)
{
	if (r->config_index <= old_commit || r->config_index > r->commit)
		return;
	raft_trace(r, "config at %llu committed", (unsigned long long)r->config_index);
	if (!raft_is_voter(r)) {
		raft_trace(r, "removed from the voters, stepping down");
		raft_become_follower(r, r->term, RAFT_ID_NONE);
	}
}

static int membership_build(const struct raft *r, enum raft_change_op op, raft_id id,
			    const char *addr, bool auto_promote, struct raft_config *c)
{
	*c = r->config;
	struct raft_member *m = (struct raft_member *)raft_config_find(c, id);
	switch (op) {
	case RAFT_CHANGE_ADD_LEARNER:
		if (m)
			return KEEL_EINVAL;
		if (c->n == RAFT_MEMBERS_MAX)
			return KEEL_ETOOBIG;
		m = &c->members[c->n++];
		memset(m, 0, sizeof(*m));
		m->id = id;
		m->role = RAFT_LEARNER;
		m->auto_promote = auto_promote;
		if (addr)
			snprintf(m->addr, sizeof(m->addr), "%s", addr);
		return KEEL_OK;
	case RAFT_CHANGE_PROMOTE:
		if (!m || m->role != RAFT_LEARNER)
			return KEEL_EINVAL;
		m->role = RAFT_VOTER;
		m->auto_promote = false;
		return KEEL_OK;
	case RAFT_CHANGE_REMOVE:
		if (!m)
			return KEEL_EINVAL;
		*m = c->members[--c->n];
		if (raft_config_voters(c) == 0)
			return KEEL_EINVAL;
		return KEEL_OK;
	}
	return KEEL_EINVAL;
}

int raft_change(struct raft *r, enum raft_change_op op, raft_id id, const char *addr,
		bool auto_promote)
{
	KEEL_ASSERT(!r->in_update);
	if (r->stopped)
		return KEEL_ESTOPPED;
	if (r->role != RAFT_LEADER)
		return KEEL_ENOTLEADER;
	if (id == RAFT_ID_NONE)
		return KEEL_EINVAL;
	if (r->config_index > r->commit || r->commit < r->term_start ||
	    r->transfer_to != RAFT_ID_NONE)
		return KEEL_EBUSY;
	struct raft_config c;
	int rc = membership_build(r, op, id, addr, auto_promote, &c);
	if (rc != KEEL_OK)
		return rc;
	uint8_t buf[RAFT_CONFIG_BYTES_MAX];
	uint32_t len = raft_config_encode(&c, buf);
	KEEL_ASSERT(len > 0);
	raft_trace(r, "propose %s %llu",
		   op == RAFT_CHANGE_ADD_LEARNER ? "add-learner"
		   : op == RAFT_CHANGE_PROMOTE ? "promote" : "remove",
		   (unsigned long long)id);
	raft_append_local(r, RAFT_ENTRY_CONFIG, buf, len);
	return KEEL_OK;
}

/* Thesis §4.2.1: a learner joins the voters once it has caught up, so that
 * adding it does not stall commitment while it fetches the log. */
void raft_maybe_promote(struct raft *r, struct raft_progress *pr)
{
	/* every progress record is a member's (raft_progress_reset) */
	const struct raft_member *m = raft_config_find(&r->config, pr->id);
	KEEL_ASSERT(m != NULL);
	if (m->role != RAFT_LEARNER || !m->auto_promote)
		return;
	if (pr->match + r->o.promote_distance < raft_log_last(&r->log))
		return;
	if (raft_change(r, RAFT_CHANGE_PROMOTE, pr->id, NULL, false) == KEEL_OK)
		raft_trace(r, "learner %llu caught up (match %llu), promoting",
			   (unsigned long long)pr->id, (unsigned long long)pr->match);
}

/* ---- leadership transfer (thesis §3.10) -------------------------------------- */

int raft_transfer_leader(struct raft *r, raft_id to)
{
	KEEL_ASSERT(!r->in_update);
	if (r->stopped)
		return KEEL_ESTOPPED;
	if (r->role != RAFT_LEADER)
		return KEEL_ENOTLEADER;
	if (to == r->id)
		return KEEL_OK;
	if (!raft_config_is_voter(&r->config, to))
		return KEEL_EINVAL;
	struct raft_progress *pr = raft_progress_find(r, to);
	if (!pr)
		return KEEL_EINVAL;
	r->transfer_to = to;
	r->transfer_elapsed = 0;
	raft_trace(r, "transferring leadership to %llu", (unsigned long long)to);
	raft_transfer_check(r, pr);
	raft_send_append(r, pr, false); /* nothing while a snapshot is on its way */
	return KEEL_OK;
}

/* Once the target holds the whole log, tell it to campaign at once. */
void raft_transfer_check(struct raft *r, struct raft_progress *pr)
{
	if (r->role != RAFT_LEADER || r->transfer_to != pr->id)
		return;
	if (pr->match != raft_log_last(&r->log))
		return;
	struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = pr->id};
	raft_send(r, &m);
	raft_trace(r, "sent timeout-now to %llu", (unsigned long long)pr->id);
}

/* A transfer that has not completed within an election timeout is abandoned,
 * and the leader accepts proposals again. */
void raft_transfer_tick(struct raft *r)
{
	if (r->transfer_to == RAFT_ID_NONE)
		return;
	if (++r->transfer_elapsed >= r->o.election_ticks_min) {
		raft_trace(r, "transfer to %llu abandoned", (unsigned long long)r->transfer_to);
		r->transfer_to = RAFT_ID_NONE;
	}
}

void raft_recv_timeout_now(struct raft *r, const struct raft_msg *m)
{
	(void)m;
	if (r->role == RAFT_LEADER || !raft_is_voter(r))
		return;
	raft_trace(r, "timeout-now from %llu: campaigning", (unsigned long long)m->from);
	raft_election_start(r, true);
}
