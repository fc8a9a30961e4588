/* raft/replication.c — log replication (Raft §5.3) and commitment (§5.4.2).
 *
 * The leader keeps a progress record per member (core.h). PROBE sends one
 * append at a time until the follower's log matches; REPLICATE pipelines
 * appends, bounded by an in-flight window in messages and bytes; a follower
 * whose next entry was compacted moves to SNAPSHOT (snapshot.c).
 *
 *   PROBE --success--> REPLICATE --rejection--> PROBE
 *     |                    |
 *     +-- entries gone ----+--> SNAPSHOT --installed--> PROBE
 *
 * A rejection carries a hint (the follower's term at the refused index and
 * the first index of that term), so the leader skips back a term at a time
 * instead of an entry at a time (Raft §5.3, end). */
#include <string.h>

#include "base/assert.h"
#include "raft/core.h"

/* ---- progress ---------------------------------------------------------------- */

struct raft_progress *raft_progress_find(struct raft *r, raft_id id)
{
	for (uint32_t k = 0; k < r->n_prs; k++)
		if (r->prs[k].id == id)
			return &r->prs[k];
	return NULL;
}

static void progress_clear_inflight(struct raft_progress *pr)
{
	pr->infl_head = 0;
	pr->infl_n = 0;
	pr->infl_bytes = 0;
}

void raft_progress_become_probe(struct raft_progress *pr)
{
	pr->state = RAFT_PR_PROBE;
	pr->probe_sent = false;
	pr->next = pr->match + 1;
	progress_clear_inflight(pr);
}

void raft_progress_become_replicate(struct raft_progress *pr)
{
	pr->state = RAFT_PR_REPLICATE;
	pr->probe_sent = false;
	pr->next = pr->match + 1;
	progress_clear_inflight(pr);
}

/* Keeps one progress record per member other than this node, in config order. */
void raft_progress_reset(struct raft *r)
{
	struct raft_progress old[RAFT_MEMBERS_MAX];
	uint32_t n_old = r->n_prs;
	memcpy(old, r->prs, n_old * sizeof(old[0]));
	r->n_prs = 0;
	for (uint32_t i = 0; i < r->config.n; i++) {
		raft_id id = r->config.members[i].id;
		if (id == r->id)
			continue;
		struct raft_progress *pr = &r->prs[r->n_prs++];
		bool found = false;
		for (uint32_t k = 0; k < n_old && !found; k++) {
			if (old[k].id == id) {
				*pr = old[k];
				found = true;
			}
		}
		if (found)
			continue;
		memset(pr, 0, sizeof(*pr));
		pr->id = id;
		pr->match = 0;
		pr->recent_active = true;
		raft_progress_become_probe(pr);
		pr->next = raft_log_last(&r->log) + 1;
	}
}

static bool progress_window_full(const struct raft *r, const struct raft_progress *pr)
{
	return pr->infl_n >= r->o.inflight_msgs_max || pr->infl_bytes >= r->o.inflight_bytes_max;
}

static void progress_add_inflight(struct raft_progress *pr, raft_index last, uint64_t bytes)
{
	KEEL_ASSERT(pr->infl_n < RAFT_INFLIGHT_MAX);
	uint32_t slot = (pr->infl_head + pr->infl_n) % RAFT_INFLIGHT_MAX;
	pr->infl[slot].last = last;
	pr->infl[slot].bytes = bytes;
	pr->infl_n++;
	pr->infl_bytes += bytes;
}

static void progress_free_inflight(struct raft_progress *pr, raft_index upto)
{
	while (pr->infl_n > 0 && pr->infl[pr->infl_head].last <= upto) {
		pr->infl_bytes -= pr->infl[pr->infl_head].bytes;
		pr->infl_head = (pr->infl_head + 1) % RAFT_INFLIGHT_MAX;
		pr->infl_n--;
	}
}

/* ---- the leader's side ------------------------------------------------------- */

/* How many entries from `from` fit in one message. */
static uint32_t append_batch(const struct raft *r, raft_index from, uint64_t *bytes)
{
	raft_index last = raft_log_last(&r->log);
	uint32_t n = 0;
	*bytes = 0;
	for (raft_index i = from; i <= last && n < r->o.msg_entries_max; i++) {
		const struct raft_entry *e = raft_log_get(&r->log, i);
		if (n > 0 && *bytes + e->len > r->o.msg_bytes_max)
			break;
		*bytes += e->len;
		n++;
	}
	return n;
}

static void append_send_one(struct raft *r, struct raft_progress *pr, raft_term prev_term,
			    uint32_t n)
{
	struct raft_msg m = {.type = RAFT_MSG_APPEND, .to = pr->id};
	m.u.append.prev_index = pr->next - 1;
	m.u.append.prev_term = prev_term;
	m.u.append.commit = r->commit;
	m.u.append.read_seq = r->read_seq;
	m.u.append.n_entries = n; /* entries resolved at raft_update_get */
	raft_send(r, &m);
}

/* Sends what pr needs: entries from pr->next (or, with heartbeat, at least an
 * empty append that carries the commit index and the read round). */
void raft_send_append(struct raft *r, struct raft_progress *pr, bool heartbeat)
{
	if (pr->state == RAFT_PR_SNAPSHOT) {
		if (heartbeat)
			raft_snapshot_tick(r, pr);
		return;
	}
	raft_term prev_term;
	if (pr->next < r->log.start || !raft_term_at_known(r, pr->next - 1, &prev_term)) {
		raft_send_snapshot(r, pr);
		return;
	}
	raft_index last = raft_log_last(&r->log);
	if (pr->state == RAFT_PR_PROBE) {
		if (pr->probe_sent && !heartbeat)
			return;
		uint64_t bytes;
		uint32_t n = pr->next <= last ? append_batch(r, pr->next, &bytes) : 0;
		append_send_one(r, pr, prev_term, n);
		pr->probe_sent = true;
		return;
	}
	bool sent = false;
	while (pr->next <= last && !progress_window_full(r, pr)) {
		uint64_t bytes;
		uint32_t n = append_batch(r, pr->next, &bytes);
		append_send_one(r, pr, prev_term, n);
		pr->next += n;
		progress_add_inflight(pr, pr->next - 1, bytes);
		prev_term = raft_log_get(&r->log, pr->next - 1)->term;
		sent = true;
	}
	if (heartbeat && !sent)
		append_send_one(r, pr, prev_term, 0);
}

void raft_broadcast(struct raft *r, bool heartbeat)
{
	KEEL_ASSERT(r->role == RAFT_LEADER);
	for (uint32_t k = 0; k < r->n_prs; k++)
		raft_send_append(r, &r->prs[k], heartbeat);
}

/* A new commit index goes to every follower being replicated to at once,
 * in an empty append if nothing else is on its way (as etcd's leader
 * does), rather than with the next heartbeat: a follower applies, and
 * answers a read that must see a write, a round trip after the commit
 * rather than up to a heartbeat later. Followers being probed or sent a
 * snapshot hear of it when they catch up. */
void raft_broadcast_commit(struct raft *r)
{
	KEEL_ASSERT(r->role == RAFT_LEADER);
	for (uint32_t k = 0; k < r->n_prs; k++)
		if (r->prs[k].state == RAFT_PR_REPLICATE)
			raft_send_append(r, &r->prs[k], true);
}

void raft_append_local(struct raft *r, uint8_t type, const void *data, uint32_t len)
{
	KEEL_ASSERT(r->role == RAFT_LEADER);
	raft_log_append(&r->log, r->term, type, data, len);
	const struct raft_entry *e = raft_log_get(&r->log, raft_log_last(&r->log));
	if (type == RAFT_ENTRY_CONFIG)
		raft_config_apply_entry(r, e);
	r->broadcast_pending = true;
	raft_maybe_commit(r);
}

/* Raft §5.4.2: commit the highest index replicated on a quorum of voters,
 * but only if that entry is of the current term (figure 8). The leader
 * counts itself only for what is durable on its own disk (§10.2.1). */
void raft_maybe_commit(struct raft *r)
{
	raft_index m[RAFT_MEMBERS_MAX];
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->config.n; i++) {
		const struct raft_member *mb = &r->config.members[i];
		if (mb->role != RAFT_VOTER)
			continue;
		if (mb->id == r->id) {
			m[n++] = r->persisted;
			continue;
		}
		struct raft_progress *pr = raft_progress_find(r, mb->id);
		m[n++] = pr ? pr->match : 0;
	}
	if (n == 0)
		return;
	for (uint32_t i = 1; i < n; i++) /* insertion sort, descending */
		for (uint32_t j = i; j > 0 && m[j] > m[j - 1]; j--) {
			raft_index t = m[j];
			m[j] = m[j - 1];
			m[j - 1] = t;
		}
	raft_index idx = m[raft_quorum(r) - 1];
	raft_term t;
	if (idx <= r->commit || !raft_term_at_known(r, idx, &t) || t != r->term)
		return;
	raft_index old = r->commit;
	r->commit = idx;
	r->commit_pending = true;
	raft_trace(r, "commit %llu", (unsigned long long)idx);
	raft_membership_on_commit(r, old);
	raft_read_on_ack(r);
}

/* Where to probe next after a rejection, from the follower's hint. */
static raft_index append_hint(const struct raft *r, const struct raft_msg_append_resp *a)
{
	raft_index next = a->conflict_index;
	if (a->conflict_term != 0) {
		raft_index i = a->reject_index;
		if (i > raft_log_last(&r->log))
			i = raft_log_last(&r->log);
		raft_term t;
		while (i >= r->log.start && raft_log_term(&r->log, i, &t) && t > a->conflict_term)
			i--;
		if (raft_log_term(&r->log, i, &t) && t == a->conflict_term)
			next = i + 1;
	}
	return next;
}

static void append_rejected(struct raft *r, struct raft_progress *pr,
			    const struct raft_msg_append_resp *a)
{
	if (pr->state == RAFT_PR_SNAPSHOT)
		return;
	if (pr->state == RAFT_PR_REPLICATE && a->reject_index <= pr->match)
		return; /* stale */
	if (pr->state == RAFT_PR_PROBE && a->reject_index != pr->next - 1)
		return; /* stale */
	raft_index next = append_hint(r, a);
	if (next > a->reject_index)
		next = a->reject_index;
	if (next <= pr->match)
		next = pr->match + 1;
	raft_progress_become_probe(pr);
	pr->next = next;
	raft_send_append(r, pr, false);
}

static void append_accepted(struct raft *r, struct raft_progress *pr, raft_index match)
{
	if (match > raft_log_last(&r->log))
		return; /* not from this term's log: ignore */
	if (match > pr->match)
		pr->match = match;
	if (pr->state == RAFT_PR_PROBE) {
		raft_progress_become_replicate(pr);
	} else if (pr->state == RAFT_PR_REPLICATE) {
		progress_free_inflight(pr, pr->match);
		if (pr->next <= pr->match)
			pr->next = pr->match + 1;
	}
	raft_maybe_commit(r);
	raft_maybe_promote(r, pr);
	raft_transfer_check(r, pr);
}

void raft_recv_append_resp(struct raft *r, const struct raft_msg *m)
{
	if (r->role != RAFT_LEADER)
		return;
	struct raft_progress *pr = raft_progress_find(r, m->from);
	if (!pr)
		return;
	const struct raft_msg_append_resp *a = &m->u.append_resp;
	pr->recent_active = true;
	if (a->read_seq > pr->read_acked) {
		pr->read_acked = a->read_seq;
		raft_read_on_ack(r);
	}
	if (r->role != RAFT_LEADER)
		return;
	if (a->success)
		append_accepted(r, pr, a->match_index);
	else
		append_rejected(r, pr, a);
	if (r->role == RAFT_LEADER && pr->state != RAFT_PR_SNAPSHOT)
		raft_send_append(r, pr, false);
}

/* ---- the follower's side ----------------------------------------------------- */

void raft_truncate(struct raft *r, raft_index from)
{
	KEEL_ASSERT(from > r->commit);
	raft_trace(r, "truncate from %llu", (unsigned long long)from);
	raft_log_truncate(&r->log, from);
	if (r->out.truncate_from == 0 || from < r->out.truncate_from)
		r->out.truncate_from = from;
	if (r->out.append_from > from)
		r->out.append_from = from;
	if (r->persisted >= from)
		r->persisted = from - 1;
	if (r->config_index >= from)
		raft_config_rebuild(r);
}

static void append_reply(struct raft *r, const struct raft_msg *m, bool ok, raft_index match)
{
	struct raft_msg out = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
	struct raft_msg_append_resp *a = &out.u.append_resp;
	a->success = ok;
	a->read_seq = m->u.append.read_seq;
	if (ok) {
		a->match_index = match;
	} else {
		raft_index prev = m->u.append.prev_index;
		raft_index last = raft_log_last(&r->log);
		a->reject_index = prev;
		if (prev > last) {
			a->conflict_index = last + 1;
		} else {
			raft_term t = 0;
			raft_term_at_known(r, prev, &t);
			raft_index i = prev;
			raft_term u;
			while (i > r->log.start && raft_log_term(&r->log, i - 1, &u) && u == t)
				i--;
			a->conflict_term = t;
			a->conflict_index = i;
		}
	}
	raft_send(r, &out);
}

/* Appends the message's entries after prev, skipping those already held and
 * truncating a conflicting suffix (Raft §5.3, Figure 2 steps 3 and 4). */
static void append_store(struct raft *r, const struct raft_msg_append *a)
{
	for (uint32_t k = 0; k < a->n_entries; k++) {
		const struct raft_entry *e = &a->entries[k];
		raft_term t;
		if (e->index <= r->commit)
			continue; /* committed: already ours (Log Matching) */
		if (raft_term_at_known(r, e->index, &t)) {
			if (t == e->term)
				continue;
			raft_truncate(r, e->index);
		}
		KEEL_ASSERT(e->index == raft_log_last(&r->log) + 1);
		raft_log_append(&r->log, e->term, e->type, e->data, e->len);
		if (e->type == RAFT_ENTRY_CONFIG)
			raft_config_apply_entry(r, raft_log_get(&r->log, e->index));
	}
}

void raft_recv_append(struct raft *r, const struct raft_msg *m)
{
	if (r->role == RAFT_LEADER)
		return; /* another leader in our term cannot exist (Election Safety) */
	if (r->role != RAFT_FOLLOWER || r->leader != m->from)
		raft_become_follower(r, r->term, m->from);
	r->leader_quiet = 0;
	r->elapsed = 0;
	const struct raft_msg_append *a = &m->u.append;
	raft_term t;
	/* Entries up to our commit index match the leader's (Log Matching and
	 * Leader Completeness), so a prev below it needs no check. */
	bool matched = a->prev_index < r->commit ||
		       (raft_term_at_known(r, a->prev_index, &t) && t == a->prev_term);
	if (!matched) {
		raft_trace(r, "reject append prev=%llu/%llu", (unsigned long long)a->prev_index,
			   (unsigned long long)a->prev_term);
		append_reply(r, m, false, 0);
		return;
	}
	append_store(r, a);
	raft_index last_new = a->prev_index + a->n_entries;
	if (a->commit > r->commit && last_new > r->commit) {
		raft_index c = a->commit < last_new ? a->commit : last_new;
		r->commit = c;
	}
	append_reply(r, m, true, last_new > r->commit ? last_new : r->commit);
}
