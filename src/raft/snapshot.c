/* raft/snapshot.c — snapshots: when to take one, compaction of the log
 * below it, and InstallSnapshot in chunks (Raft §7, thesis §5.3).
 *
 * Transfer. The leader streams its latest snapshot in chunks of
 * snapshot_chunk_bytes, at most inflight_bytes_max ahead of the last
 * acknowledged offset. The receiver accepts a chunk only at the offset it
 * expects, extends a running CRC-32C, and answers every chunk with the offset
 * it wants next; so a lost or reordered chunk is resent from that offset, and
 * a stream that made no progress for a whole election timeout (chunks or
 * acks lost with a connection) is resent from the acknowledged offset. Not
 * sooner: the receiver acknowledges a chunk only once it is on its disk,
 * which on a loaded machine takes longer than a heartbeat, and resending
 * the window at every heartbeat without an ack floods every process on
 * the path with copies (measured: 2 GB sent for a 58 MiB snapshot, the
 * voters' loops starved into an election storm). The last chunk is
 * checked against the snapshot's checksum; on a match the snapshot is
 * installed atomically (the embedder renames it into place), on a
 * mismatch the transfer restarts at offset 0.
 *
 * Compaction. After a snapshot at index s, entries below
 * min(s, commit) - trailing_entries + 1 are purged; the purge point never
 * moves back, and never passes the commit index. */
#include <string.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "raft/core.h"

/* ---- taking snapshots and compacting -------------------------------------------- */

/* Is a live follower receiving the current snapshot? */
static bool snapshot_sending(const struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return false;
	for (uint32_t k = 0; k < r->n_prs; k++) {
		const struct raft_progress *pr = &r->prs[k];
		if (pr->state == RAFT_PR_SNAPSHOT && (pr->recent_active || pr->snap_moved))
			return true;
	}
	return false;
}

#define SNAPSHOT_DEFER_MAX 4 /* intervals a transfer may hold a new snapshot back */

void raft_maybe_want_snapshot(struct raft *r)
{
	if (r->snapshotting || r->stopped)
		return;
	raft_index base = r->has_snap ? r->snap.index : 0;
	if (r->applied <= base)
		return;
	uint64_t n = r->applied - base, b = r->bytes_since_snap;
	/* By bytes: once the log since the last snapshot is as large as the
	 * snapshot itself (replaying it would cost as much as loading one),
	 * and at least snapshot_bytes; so a large keyspace is not rewritten
	 * whole every snapshot_bytes of writes. */
	uint64_t bytes_at = r->o.snapshot_bytes;
	if (r->has_snap && r->snap.size > bytes_at)
		bytes_at = r->snap.size;
	bool by_entries = r->o.snapshot_entries && n >= r->o.snapshot_entries;
	bool by_bytes = r->o.snapshot_bytes && b >= bytes_at;
	if (!by_entries && !by_bytes)
		return;
	/* A newer snapshot would restart a transfer in progress (only the
	 * latest is kept), and transfers slower than the snapshot interval
	 * would never finish. So, as etcd holds compaction back while a
	 * snapshot is in flight, wait, up to SNAPSHOT_DEFER_MAX intervals. */
	bool overdue = (r->o.snapshot_entries && n >= SNAPSHOT_DEFER_MAX * r->o.snapshot_entries) ||
		       (r->o.snapshot_bytes && b >= SNAPSHOT_DEFER_MAX * bytes_at);
	if (!overdue && snapshot_sending(r))
		return;
	r->snapshotting = true;
	r->out.snapshot_wanted = true;
	r->out.snapshot_index = r->applied;
	raft_trace(r, "snapshot wanted at %llu", (unsigned long long)r->applied);
}

int raft_snapshot_now(struct raft *r, raft_index *index)
{
	if (r->stopped)
		return KEEL_ESTOPPED;
	if (r->snapshotting)
		return KEEL_EBUSY;
	raft_index base = r->has_snap ? r->snap.index : 0;
	*index = r->applied > base ? r->applied : base;
	if (r->applied <= base)
		return KEEL_OK;
	r->snapshotting = true;
	r->out.snapshot_wanted = true;
	r->out.snapshot_index = r->applied;
	raft_trace(r, "snapshot asked for at %llu", (unsigned long long)r->applied);
	return KEEL_OK;
}

/* The configuration in force at index i: the last config entry at or
 * before i, else the snapshot's. */
static void snapshot_config_at(const struct raft *r, raft_index i, struct raft_config *c)
{
	/* i <= applied <= last: every k here is in the log */
	for (raft_index k = i; k >= r->log.start && k > 0; k--) {
		const struct raft_entry *e = raft_log_get(&r->log, k);
		KEEL_ASSERT(e != NULL);
		if (e->type == RAFT_ENTRY_CONFIG) {
			int rc = raft_config_decode(c, e->data, e->len);
			KEEL_ASSERT(rc == KEEL_OK);
			return;
		}
	}
	if (r->has_snap) {
		*c = r->snap.config;
		return;
	}
	memset(c, 0, sizeof(*c));
}

static void snapshot_purge(struct raft *r)
{
	raft_index upto = r->snap.index < r->commit ? r->snap.index : r->commit;
	if (upto < r->o.trailing_entries + 1)
		return;
	raft_index below = upto - r->o.trailing_entries + 1;
	if (r->keep_from && below > r->keep_from)
		below = r->keep_from;
	if (below <= r->purged || below <= r->log.start)
		return;
	KEEL_ASSERT(below <= r->commit + 1);
	raft_log_purge(&r->log, below);
	r->purged = below;
	r->out.purge_below = below;
	raft_trace(r, "purged below %llu", (unsigned long long)below);
}

void raft_snapshot_done(struct raft *r, raft_index index, uint64_t size, uint32_t crc)
{
	KEEL_ASSERT(r->snapshotting);
	KEEL_ASSERT(size > 0); /* the embedder's format has a header */
	r->snapshotting = false;
	if (r->stopped || (r->has_snap && index <= r->snap.index))
		return; /* an installed snapshot overtook this one */
	raft_term term;
	if (!raft_term_at_known(r, index, &term) || index > r->applied)
		return;
	struct raft_snapshot_meta meta = {.index = index, .term = term, .size = size, .crc = crc};
	snapshot_config_at(r, index, &meta.config);
	r->snap = meta;
	r->has_snap = true;
	r->bytes_since_snap = 0;
	raft_trace(r, "snapshot taken at %llu/%llu", (unsigned long long)index,
		   (unsigned long long)term);
	snapshot_purge(r);
}

void raft_keep_log_from(struct raft *r, raft_index index)
{
	r->keep_from = index;
}

void raft_snapshot_failed(struct raft *r)
{
	KEEL_ASSERT(r->snapshotting);
	r->snapshotting = false;
}

/* ---- sending (leader) --------------------------------------------------------------- */

static void snapshot_send_chunks(struct raft *r, struct raft_progress *pr)
{
	uint64_t size = r->snap.size;
	/* The in-flight window, in bytes and in messages (as for appends). */
	uint64_t window = r->o.inflight_bytes_max;
	uint64_t by_msgs = (uint64_t)r->o.inflight_msgs_max * r->o.snapshot_chunk_bytes;
	if (window > by_msgs)
		window = by_msgs;
	if (window < r->o.snapshot_chunk_bytes)
		window = r->o.snapshot_chunk_bytes;
	/* up to the end (then the last ack is awaited), within the window */
	while (pr->snap_sent < size && pr->snap_sent - pr->snap_acked < window) {
		uint64_t len = size - pr->snap_sent;
		if (len > r->o.snapshot_chunk_bytes)
			len = r->o.snapshot_chunk_bytes;
		struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .to = pr->id};
		m.u.snapshot.meta = r->snap;
		m.u.snapshot.offset = pr->snap_sent;
		m.u.snapshot.len = (uint32_t)len;
		raft_send(r, &m);
		pr->snap_sent += len;
	}
}

void raft_send_snapshot(struct raft *r, struct raft_progress *pr)
{
	if (!r->has_snap)
		return; /* cannot happen: entries are purged only below a snapshot */
	if (pr->state != RAFT_PR_SNAPSHOT || pr->snap_index != r->snap.index ||
	    pr->snap_term != r->snap.term) {
		raft_trace(r, "sending snapshot %llu/%llu to %llu",
			   (unsigned long long)r->snap.index, (unsigned long long)r->snap.term,
			   (unsigned long long)pr->id);
		pr->state = RAFT_PR_SNAPSHOT;
		pr->snap_index = r->snap.index;
		pr->snap_term = r->snap.term;
		pr->snap_acked = 0;
		pr->snap_sent = 0;
		pr->snap_moved = true;
		pr->snap_rewind = false;
		pr->snap_quiet = 0;
	}
	snapshot_send_chunks(r, pr);
}

/* At each heartbeat: a stream that made no progress for an election
 * timeout is resent from the acknowledged offset (a chunk or an ack was
 * lost, or the receiver restarted and asked for an earlier offset). A
 * newer snapshot restarts the transfer with it. */
void raft_snapshot_tick(struct raft *r, struct raft_progress *pr)
{
	if (pr->snap_index != r->snap.index || pr->snap_term != r->snap.term) {
		raft_send_snapshot(r, pr);
		return;
	}
	if (pr->snap_moved)
		pr->snap_quiet = 0;
	else if (pr->snap_quiet < r->o.election_ticks_min)
		pr->snap_quiet += r->o.heartbeat_ticks;
	bool stalled = pr->snap_quiet >= r->o.election_ticks_min;
	/* The receiver asked for an earlier offset (it lost what it had):
	 * that needs no waiting, once its answers to the chunks in flight
	 * have stopped coming. */
	bool rewind = pr->snap_rewind && !pr->snap_moved;
	pr->snap_moved = false;
	if (stalled || rewind) {
		if (pr->snap_rewind)
			pr->snap_acked = pr->snap_rewind_to;
		raft_trace(r, "snapshot to %llu resent from %llu", (unsigned long long)pr->id,
			   (unsigned long long)pr->snap_acked);
		pr->snap_sent = pr->snap_acked;
		pr->snap_rewind = false;
		pr->snap_quiet = 0;
	}
	snapshot_send_chunks(r, pr);
}

void raft_recv_snapshot_resp(struct raft *r, const struct raft_msg *m)
{
	if (r->role != RAFT_LEADER)
		return;
	struct raft_progress *pr = raft_progress_find(r, m->from);
	if (!pr)
		return;
	pr->recent_active = true;
	const struct raft_msg_snapshot_resp *a = &m->u.snapshot_resp;
	if (a->done) {
		if (a->index > raft_log_last(&r->log))
			return;
		if (a->index > pr->match)
			pr->match = a->index;
		if (pr->next <= pr->match)
			pr->next = pr->match + 1;
		if (pr->state != RAFT_PR_SNAPSHOT)
			return;
		raft_trace(r, "%llu installed snapshot %llu", (unsigned long long)pr->id,
			   (unsigned long long)a->index);
		raft_progress_become_probe(pr);
		raft_maybe_commit(r);
		raft_send_append(r, pr, false);
		return;
	}
	if (pr->state != RAFT_PR_SNAPSHOT || a->index != pr->snap_index)
		return;
	if (a->next_offset > pr->snap_acked) {
		pr->snap_acked = a->next_offset;
		pr->snap_moved = true;
		if (pr->snap_sent < pr->snap_acked)
			pr->snap_sent = pr->snap_acked;
	} else if (a->next_offset < pr->snap_acked) {
		/* The receiver lost what it had (it restarted). Acted on at the
		 * next heartbeat, not here: rewinding on every stale answer
		 * would resend the whole window once per answer. */
		pr->snap_rewind = true;
		pr->snap_rewind_to = a->next_offset;
	}
	snapshot_send_chunks(r, pr);
}

/* ---- receiving (follower) ------------------------------------------------------ */

static void snapshot_reply(struct raft *r, raft_id to, uint64_t next, bool done, raft_index idx)
{
	struct raft_msg out = {.type = RAFT_MSG_SNAPSHOT_RESP, .to = to};
	out.u.snapshot_resp.next_offset = next;
	out.u.snapshot_resp.done = done;
	out.u.snapshot_resp.index = idx;
	raft_send(r, &out);
}

/* Makes the received snapshot the node's own. Raft §7: if the log holds the
 * snapshot's last entry (same term), the entries after it are kept;
 * otherwise the whole log is discarded. */
static void snapshot_install(struct raft *r)
{
	const struct raft_snapshot_meta *meta = &r->rx_meta;
	struct raft_out *o = &r->out;
	raft_term t;
	bool keep = raft_log_term(&r->log, meta->index, &t) && t == meta->term;
	if (keep) {
		raft_log_purge(&r->log, meta->index + 1);
	} else {
		raft_log_reset(&r->log, meta->index, meta->term);
		if (o->truncate_from == 0 || o->truncate_from > meta->index + 1)
			o->truncate_from = meta->index + 1;
	}
	if (o->append_from <= meta->index)
		o->append_from = meta->index + 1;
	o->has_install = true;
	o->install = *meta;
	r->snap = *meta;
	r->has_snap = true;
	r->commit = meta->index;
	r->applied = meta->index;
	if (r->persisted < meta->index || !keep)
		r->persisted = meta->index;
	if (r->purged < meta->index + 1)
		r->purged = meta->index + 1;
	r->bytes_since_snap = 0;
	r->rx_active = false;
	raft_config_rebuild(r);
	raft_trace(r, "installed snapshot %llu/%llu%s", (unsigned long long)meta->index,
		   (unsigned long long)meta->term, keep ? " (log suffix kept)" : "");
}

static void snapshot_accept_chunk(struct raft *r, const struct raft_msg_snapshot *s)
{
	KEEL_ASSERT(s->data != NULL);
	struct raft_out *o = &r->out;
	o->has_chunk = true;
	o->chunk.meta = s->meta;
	o->chunk.offset = s->offset;
	o->chunk.len = s->len;
	o->chunk_data = keel_memdup(s->data, s->len);
	o->chunk.data = o->chunk_data;
	r->rx_crc = crc32c(r->rx_crc, s->data, s->len);
	r->rx_offset += s->len;
}

void raft_recv_snapshot(struct raft *r, const struct raft_msg *m)
{
	if (r->role == RAFT_LEADER)
		return;
	if (r->role != RAFT_FOLLOWER || r->leader != m->from)
		raft_become_follower(r, r->term, m->from);
	r->leader_quiet = 0;
	r->elapsed = 0;
	const struct raft_msg_snapshot *s = &m->u.snapshot;
	if (s->meta.index <= r->commit) {
		snapshot_reply(r, m->from, 0, true, r->commit);
		return;
	}
	bool same = r->rx_active && r->rx_meta.index == s->meta.index &&
		    r->rx_meta.term == s->meta.term;
	if (!same && s->offset == 0) {
		r->rx_active = true;
		r->rx_meta = s->meta;
		r->rx_offset = 0;
		r->rx_crc = 0;
		same = true;
	}
	/* One chunk per update (an install comes with its last chunk); a second
	 * one is asked for again. Every chunk holds data: an empty one (of a
	 * 0-byte snapshot, which no node takes) is refused. */
	if (!same || s->offset != r->rx_offset || r->out.has_chunk ||
	    s->offset + s->len > s->meta.size || s->len == 0) {
		snapshot_reply(r, m->from, same ? r->rx_offset : 0, false, s->meta.index);
		return;
	}
	snapshot_accept_chunk(r, s);
	if (r->rx_offset < s->meta.size) {
		snapshot_reply(r, m->from, r->rx_offset, false, s->meta.index);
		return;
	}
	if (r->rx_crc != s->meta.crc) {
		raft_trace(r, "snapshot %llu failed its checksum, restarting",
			   (unsigned long long)s->meta.index);
		r->rx_active = false;
		snapshot_reply(r, m->from, 0, false, s->meta.index);
		return;
	}
	snapshot_install(r);
	snapshot_reply(r, m->from, r->rx_offset, true, s->meta.index);
}
