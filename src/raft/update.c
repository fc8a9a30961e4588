/* raft/update.c — assembling the update handed to the embedder (the contract
 * is in raft.h), releasing it, and read-only introspection of the node. */
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "raft/core.h"

bool raft_has_update(const struct raft *r)
{
	const struct raft_out *o = &r->out;
	if (r->stopped)
		return false;
	return o->hs_changed || o->has_chunk || o->has_install || o->truncate_from ||
	       o->append_from <= raft_log_last(&r->log) || o->purge_below ||
	       o->msgs_now.n || o->msgs.n || o->reads.n || r->commit > r->applied ||
	       ((r->broadcast_pending || r->commit_pending) && r->role == RAFT_LEADER) ||
	       o->snapshot_wanted;
}

/* Appends are queued with an entry count only; their entries are resolved
 * here, when the log can no longer change under them. An append whose
 * entries were purged meanwhile is dropped (the follower will be probed). */
static void update_resolve_appends(struct raft *r, struct raft_msgs *v)
{
	uint32_t kept = 0;
	for (uint32_t k = 0; k < v->n; k++) {
		struct raft_msg *m = &v->v[k];
		if (m->type == RAFT_MSG_APPEND && m->u.append.n_entries > 0) {
			raft_index first = m->u.append.prev_index + 1;
			raft_index last = first + m->u.append.n_entries - 1;
			const struct raft_entry *e = raft_log_get(&r->log, first);
			if (!e || last > raft_log_last(&r->log))
				continue;
			m->u.append.entries = (struct raft_entry *)e;
		}
		v->v[kept++] = *m;
	}
	v->n = kept;
}

static void update_move_msgs(struct raft_msgs *from, struct raft_msgs *to)
{
	for (uint32_t k = 0; k < from->n; k++) {
		if (to->n == to->cap) {
			to->cap = to->cap ? to->cap * 2 : 16;
			to->v = keel_realloc(to->v, to->cap * sizeof(*to->v));
		}
		to->v[to->n++] = from->v[k];
	}
	from->n = 0;
}

static void update_fill_persist(struct raft *r, struct raft_update *u)
{
	struct raft_out *o = &r->out;
	u->hs_changed = o->hs_changed;
	u->term = r->term;
	u->vote = r->vote;
	u->snap_chunk = o->has_chunk ? &o->chunk : NULL;
	u->snap_install = o->has_install ? &o->install : NULL;
	u->truncate_from = o->truncate_from;
	raft_index last = raft_log_last(&r->log);
	if (o->append_from <= last) {
		KEEL_ASSERT(o->append_from >= r->log.start);
		u->entries = raft_log_get(&r->log, o->append_from);
		u->n_entries = (uint32_t)(last - o->append_from + 1);
	}
	u->purge_below = o->purge_below;
}

static void update_fill_apply(struct raft *r, struct raft_update *u)
{
	raft_index to = r->commit;
	if (to > r->applied + r->o.apply_entries_max)
		to = r->applied + r->o.apply_entries_max;
	if (to > r->applied) {
		const struct raft_entry *e = raft_log_get(&r->log, r->applied + 1);
		KEEL_ASSERT(e != NULL);
		KEEL_ASSERT(raft_log_get(&r->log, to) != NULL);
		u->committed = e;
		u->n_committed = (uint32_t)(to - r->applied);
		for (uint32_t k = 0; k < u->n_committed; k++)
			r->bytes_since_snap += e[k].len;
		r->applied = to;
	}
}

void raft_update_get(struct raft *r, struct raft_update *u)
{
	KEEL_ASSERT(!r->in_update);
	memset(u, 0, sizeof(*u));
	if (r->stopped)
		return;
	if (r->broadcast_pending && r->role == RAFT_LEADER)
		raft_broadcast(r, false);
	if (r->commit_pending && r->role == RAFT_LEADER)
		raft_broadcast_commit(r);
	r->broadcast_pending = r->commit_pending = false;
	r->in_update = true;
	update_fill_persist(r, u);
	struct raft_out *o = &r->out;
	/* Nothing may leave before a changed term or vote is durable. */
	if (o->hs_changed)
		update_move_msgs(&o->msgs_now, &o->msgs);
	update_resolve_appends(r, &o->msgs_now);
	update_resolve_appends(r, &o->msgs);
	u->msgs_now = o->msgs_now.v;
	u->n_msgs_now = o->msgs_now.n;
	u->msgs = o->msgs.v;
	u->n_msgs = o->msgs.n;
	update_fill_apply(r, u);
	u->reads = o->reads.v;
	u->n_reads = o->reads.n;
	raft_maybe_want_snapshot(r);
	u->snapshot_wanted = o->snapshot_wanted;
	u->snapshot_index = o->snapshot_index;
}

void raft_update_done(struct raft *r, struct raft_update *u)
{
	(void)u;
	if (!r->in_update)
		return;
	struct raft_out *o = &r->out;
	o->hs_changed = false;
	o->has_chunk = false;
	keel_free(o->chunk_data);
	o->chunk_data = NULL;
	o->has_install = false;
	o->truncate_from = 0;
	o->append_from = raft_log_last(&r->log) + 1;
	o->purge_below = 0;
	o->msgs_now.n = 0;
	o->msgs.n = 0;
	o->reads.n = 0;
	o->snapshot_wanted = false;
	r->in_update = false;
}

/* ---- introspection ------------------------------------------------------- */

raft_id raft_id_of(const struct raft *r) { return r->id; }
enum raft_role raft_role_of(const struct raft *r) { return (enum raft_role)r->role; }
raft_term raft_current_term(const struct raft *r) { return r->term; }
raft_id raft_voted_for(const struct raft *r) { return r->vote; }
raft_id raft_leader_of(const struct raft *r) { return r->leader; }
raft_index raft_commit_index(const struct raft *r) { return r->commit; }
raft_index raft_applied_index(const struct raft *r) { return r->applied; }
raft_index raft_last_index(const struct raft *r) { return raft_log_last(&r->log); }
raft_index raft_first_index(const struct raft *r) { return r->log.start; }
const struct raft_config *raft_config_of(const struct raft *r) { return &r->config; }
raft_index raft_config_index_of(const struct raft *r) { return r->config_index; }
bool raft_stopped(const struct raft *r) { return r->stopped; }

const char *raft_role_name(const struct raft *r)
{
	if (r->stopped)
		return "stopped";
	switch (r->role) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_PRECANDIDATE:
		return "precandidate";
	default:
		break;
	}
	const struct raft_member *m = raft_config_find(&r->config, r->id);
	if (m)
		return m->role == RAFT_LEARNER ? "learner" : "follower";
	/* Not in its own configuration. A node being caught up has none yet
	 * (an empty log waiting for its snapshot), or one from a snapshot
	 * taken before it was added: a leader sending to it has it as a
	 * member. A node no leader has reached and that knows no
	 * configuration is waiting to be added. */
	if (r->leader != RAFT_ID_NONE)
		return "learner";
	return r->config.n == 0 ? "joining" : "removed";
}

const struct raft_entry *raft_entry_at(const struct raft *r, raft_index i)
{
	return raft_log_get(&r->log, i);
}

raft_term raft_term_at(const struct raft *r, raft_index i)
{
	raft_term t = 0;
	return raft_term_at_known(r, i, &t) ? t : 0;
}

const struct raft_snapshot_meta *raft_snapshot_of(const struct raft *r)
{
	return r->has_snap ? &r->snap : NULL;
}

bool raft_progress_of(const struct raft *r, raft_id id, raft_index *match, raft_index *next)
{
	if (r->role != RAFT_LEADER)
		return false;
	if (id == r->id) {
		*match = r->persisted;
		*next = raft_log_last(&r->log) + 1;
		return true;
	}
	for (uint32_t k = 0; k < r->n_prs; k++) {
		if (r->prs[k].id == id) {
			*match = r->prs[k].match;
			*next = r->prs[k].next;
			return true;
		}
	}
	return false;
}
