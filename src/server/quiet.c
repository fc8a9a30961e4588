/* server/quiet.c — quiescence: on a node of several groups, a group with
 * nothing to do stops ticking, so that a node's idle groups cost next to
 * nothing (docs/shards.md, "Idle groups"). Raft's safety does not depend
 * on timers, only its liveness does (the Raft thesis, §3.4), so the core is
 * unchanged: a group that is not ticked sends no heartbeat and starts no
 * election, and nothing else differs.
 *
 * What it guarantees:
 * - A leader quiets its group only when nothing is in flight (no write,
 *   read, forward, held message, frame waiting in its batches to a peer,
 *   or snapshot at work), every member's log matches
 *   its own, every entry is committed and applied, no key has a TTL
 *   (active expiry needs the leader's ticks), no table is being rehashed,
 *   and it would not hand the group to its preferred voter; and all that
 *   for QUIET_HEARTBEATS heartbeat intervals in a row, so that its
 *   followers have heard the commit index. It then sends each member QUIET
 *   SLEEP with its term and last index, and is not ticked.
 * - A follower takes a SLEEP only from the leader it follows, in its term,
 *   with its own log, commit and apply at that index and nothing in
 *   flight; else it answers WAKE, and the leader ticks again.
 * - Every node of several groups sends each member of the cluster (the
 *   metadata group's) a LIVE frame every heartbeat interval: one frame a
 *   node pair, whatever the number of groups (the coalesced heartbeat). A
 *   quiet follower ticks again once its leader's node has not been heard
 *   from for an election timeout, or that node's incarnation changed (it
 *   restarted); it then elects as usual. A quiet leader ticks again once
 *   it and the voters heard from within an election timeout are no longer
 *   a quorum (its check-quorum then steps it down, as without
 *   quiescence), or a member restarted: its incarnation changed, or came
 *   for the first time (it may have restarted before any LIVE of its
 *   arrived; a wake costs a heartbeat).
 * - Anything for the group wakes it, on either side: a client's request,
 *   a peer's Raft message (but a follower's answer that leaves its leader
 *   with nothing to do), a FORWARD, REPLY, REMOVED or WAKE frame, a RAFT
 *   membership command or transfer, a stop. A leader woken sends a heartbeat at once (its
 *   followers wake on it); a follower woken by anything but its leader's
 *   message sends the leader WAKE, so a follower never ticks toward an
 *   election beside a live leader that does not tick. */
#include "base/bytes.h"
#include "base/mem.h"
#include "net/frame.h"
#include "server/server.h"

/* idle heartbeat intervals before a leader quiets its group */
#define QUIET_HEARTBEATS 3

static struct raft_options timing(const struct server *s)
{
	struct raft_options o;
	raft_options_default(&o);
	server_config_timing(&s->cfg, &o);
	return o;
}

static uint32_t heartbeat_ticks(const struct server *s)
{
	uint32_t t = timing(s).heartbeat_ticks;
	return t ? t : 1;
}

/* Quiescence is for a node of several groups, among peers, not stopping. */
static bool quiet_node(const struct server *s)
{
	return s->n_groups > 1 && s->peers && !s->stopping;
}

static void send_quiet(struct group *g, uint64_t to, uint8_t op, raft_term term, raft_index index)
{
	uint8_t buf[FRAME_QUIET_LEN];
	frame_quiet_encode(&(struct frame_quiet){op, term, index}, buf);
	peers_send_group(g->node->peers, to, g->id, FRAME_QUIET, buf, sizeof buf);
}

/* g's place in the node's groups (its id on a node of --shards). */
static uint32_t index_of(const struct server *s, const struct group *g)
{
	if (g->id < s->n_groups && s->groups[g->id] == g)
		return g->id;
	uint32_t i = 0;
	while (s->groups[i] != g)
		i++;
	return i;
}

static void set_quiet(struct group *g, uint64_t leader)
{
	struct server *s = g->node;
	uint32_t i = index_of(s, g);
	if (!s->quiet_bits)
		s->quiet_bits = keel_calloc((s->n_groups + 63) / 64, sizeof *s->quiet_bits);
	s->quiet_bits[i / 64] |= 1ull << (i % 64);
	g->quiet = true;
	g->quiet_leader = leader;
	s->n_quiet++;
}

uint32_t server_next_awake(const struct server *s, uint32_t i)
{
	if (!s->n_quiet || i >= s->n_groups)
		return i;
	for (uint32_t w = i / 64; w * 64 < s->n_groups; w++) {
		uint64_t awake = ~s->quiet_bits[w];
		if (w == i / 64)
			awake &= ~0ull << (i % 64);
		if (awake) {
			uint32_t at = w * 64 + (uint32_t)__builtin_ctzll(awake);
			return at < s->n_groups ? at : s->n_groups;
		}
	}
	return s->n_groups;
}

/* Nothing waits in the pass's frames to peers (a forwarded request, a
 * reply to one): those of a quiet group would not be flushed. */
static bool batches_empty(const struct group *g)
{
	for (uint32_t i = 0; i < g->n_batches; i++)
		if (g->batches[i].fwd.len || g->batches[i].rep.len)
			return false;
	return true;
}

/* The group's own work: nothing in flight, nothing to carry out, nothing
 * to send. */
static bool nothing_in_flight(const struct group *g)
{
	return g->r && !raft_stopped(g->r) && !g->replica && !g->removed_at && !g->n_writes &&
	       !g->n_reads && !g->n_pass_writes && !g->read_batch_open && !g->n_waiting &&
	       !g->n_forwarded && !g->n_held && !g->n_gone && !snapshots_busy(g) &&
	       g->snapshot_exiting <= 0 && !g->beat_due && batches_empty(g) &&
	       !raft_has_update(g->r);
}

/* No table is being rehashed (the tick moves rehashes on); with expiry,
 * no key with a TTL either (the leader's tick proposes their removal). */
static bool keys_idle(const struct kv *kv, bool expiry)
{
	for (uint32_t i = 0; i < kv->n_db; i++)
		if (kv->db[i].rehash != -1 || (expiry && kv->db[i].expires))
			return false;
	return kv->sessions.rehash == -1;
}

/* Every entry up to at is in the log, committed and applied, and no more. */
static bool log_settled(const struct raft *r, raft_index at)
{
	return raft_last_index(r) == at && raft_commit_index(r) == at &&
	       raft_applied_index(r) == at;
}

static bool leader_idle(struct group *g)
{
	struct server *s = g->node;
	if (!quiet_node(s) || !nothing_in_flight(g) || raft_role_of(g->r) != RAFT_LEADER ||
	    !keys_idle(&g->kv, true))
		return false;
	raft_index last = raft_last_index(g->r);
	if (!log_settled(g->r, last))
		return false;
	const struct raft_config *c = raft_config_of(g->r);
	for (uint32_t i = 0; i < c->n; i++) {
		raft_index match, next;
		raft_id id = c->members[i].id;
		if (id != s->cfg.id &&
		    (!raft_progress_of(g->r, id, &match, &next) || match != last))
			return false;
	}
	/* spread_leader (group.c) would hand it over: not now */
	raft_id pref = group_preferred_leader(g);
	return !pref || pref == s->cfg.id || !peers_connected(s->peers, pref);
}

bool quiet_leader_tick(struct group *g)
{
	struct server *s = g->node;
	if (g->outside) { /* held empty, never a member: idle, nothing to tick */
		if (!quiet_node(s) || !nothing_in_flight(g))
			return false;
		set_quiet(g, 0);
		return true;
	}
	if (!g->r || raft_role_of(g->r) != RAFT_LEADER || !leader_idle(g)) {
		g->idle_ticks = 0;
		return false;
	}
	raft_index last = raft_last_index(g->r);
	if (g->idle_index != last) {
		g->idle_index = last;
		g->idle_ticks = 0;
	}
	if (++g->idle_ticks < QUIET_HEARTBEATS * heartbeat_ticks(s))
		return false;
	const struct raft_config *c = raft_config_of(g->r);
	for (uint32_t i = 0; i < c->n; i++)
		if (c->members[i].id != s->cfg.id)
			send_quiet(g, c->members[i].id, FRAME_QUIET_SLEEP, raft_current_term(g->r),
				   last);
	set_quiet(g, 0);
	return true;
}

/* A quiet follower's core was not ticked while its leader's node was
 * heard from; the time since it last was is made up now, up to a tick
 * short of the shortest election timeout: a follower woken because that
 * node fell silent grants votes at once (its leader is as old as the
 * silence) and campaigns after the random rest of its timeout, as a node
 * that has just started (group.c, member_start). */
static void catch_up(struct group *g)
{
	struct server *s = g->node;
	int64_t heard = server_last_heard(g, g->quiet_leader);
	int64_t silent = heard ? server_now_ms() - heard : INT64_MAX;
	uint32_t most = timing(s).election_ticks_min - 1;
	uint64_t ticks = silent > 0 ? (uint64_t)silent / (s->cfg.tick_ms ? s->cfg.tick_ms : 1) : 0;
	for (uint64_t t = 0; t < ticks && t < most && !raft_stopped(g->r); t++)
		raft_tick(g->r);
}

void group_wake(struct group *g, uint64_t by)
{
	struct server *s = g->node;
	if (!g->quiet)
		return;
	uint32_t i = index_of(s, g);
	s->quiet_bits[i / 64] &= ~(1ull << (i % 64));
	g->quiet = false;
	s->n_quiet--;
	g->idle_ticks = 0;
	if (!g->r || raft_stopped(g->r))
		return;
	if (raft_role_of(g->r) == RAFT_LEADER) {
		g->beat_due = true; /* sent by group_process, outside any update */
		return;
	}
	catch_up(g);
	raft_id leader = raft_leader_of(g->r);
	if (leader != RAFT_ID_NONE && leader != by && leader != s->cfg.id &&
	    raft_current_term(g->r))
		send_quiet(g, leader, FRAME_QUIET_WAKE, raft_current_term(g->r), 0);
}

/* A follower told SLEEP by from: whether it may stop ticking. */
static bool follower_may_sleep(struct group *g, uint64_t from, const struct frame_quiet *q)
{
	return quiet_node(g->node) && nothing_in_flight(g) && raft_role_of(g->r) == RAFT_FOLLOWER &&
	       raft_current_term(g->r) == q->term && raft_leader_of(g->r) == from &&
	       log_settled(g->r, q->index) && keys_idle(&g->kv, false);
}

void quiet_on_frame(struct group *g, uint64_t from, const uint8_t *p, size_t n)
{
	struct frame_quiet q;
	if (!frame_quiet_decode(p, n, &q) || !g->r || raft_stopped(g->r))
		return;
	if (q.op == FRAME_QUIET_WAKE) {
		group_wake(g, from);
		return;
	}
	if (g->quiet)
		return;
	if (follower_may_sleep(g, from, &q))
		set_quiet(g, from);
	else /* it would tick toward an election beside a leader that does not */
		send_quiet(g, from, FRAME_QUIET_WAKE, q.term, 0);
}

bool quiet_leader_step(struct group *g, const struct raft_msg *m)
{
	if (!g->quiet || raft_role_of(g->r) != RAFT_LEADER || m->type != RAFT_MSG_APPEND_RESP ||
	    m->term != raft_current_term(g->r))
		return false;
	raft_step(g->r, m);
	if (raft_role_of(g->r) != RAFT_LEADER || raft_has_update(g->r) ||
	    !log_settled(g->r, g->idle_index))
		group_wake(g, m->from);
	return true;
}

/* Every quiet group that peer `id` takes part in: it restarted. */
static void wake_for(struct server *s, uint64_t id)
{
	for (uint32_t i = 0; i < s->n_groups && s->n_quiet; i++) {
		struct group *g = s->groups[i];
		if (g->quiet && (g->quiet_leader == id ||
				 (!g->quiet_leader && raft_config_find(raft_config_of(g->r), id))))
			group_wake(g, 0);
	}
}

void quiet_on_live(struct server *s, uint64_t from, const uint8_t *p, size_t n)
{
	uint64_t inc;
	struct heard *h;
	if (!frame_live_decode(p, n, &inc) || !(h = members_heard(s, from)))
		return;
	/* a first LIVE counts: a member that restarted before any of its LIVE
	 * frames reached this node looks the same, and its commit index is
	 * lost with its memory (a quiet leader must send it again) */
	bool restarted = h->incarnation != inc;
	h->incarnation = inc;
	if (restarted)
		wake_for(s, from);
}

static bool heard_within(struct group *g, uint64_t id, int64_t now)
{
	int64_t t = server_last_heard(g, id);
	return t && now - t < (int64_t)g->node->cfg.election_timeout_ms;
}

/* A quiet leader: whether it and the voters heard from lately are a quorum. */
static bool quorum_heard(struct group *g, int64_t now)
{
	const struct raft_config *c = raft_config_of(g->r);
	uint32_t voters = 0, heard = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		raft_id id = c->members[i].id;
		if (!raft_config_is_voter(c, id))
			continue;
		voters++;
		heard += id == g->node->cfg.id || heard_within(g, id, now);
	}
	return heard > voters / 2;
}

static void check_liveness(struct server *s)
{
	int64_t now = server_now_ms();
	for (uint32_t i = 0; i < s->n_groups && s->n_quiet; i++) {
		struct group *g = s->groups[i];
		if (!g->quiet || g->outside) /* outside: no leader to hear from */
			continue;
		bool ok = g->quiet_leader ? heard_within(g, g->quiet_leader, now)
					  : quorum_heard(g, now);
		if (!ok)
			group_wake(g, 0);
	}
}

void quiet_tick(struct server *s)
{
	if (s->n_groups < 2 || !s->peers || !server_cluster(s)->r ||
	    ++s->live_ticks < heartbeat_ticks(s))
		return;
	s->live_ticks = 0;
	uint8_t buf[FRAME_LIVE_LEN];
	bytes_put_u64(buf, s->started_ms > 0 ? (uint64_t)s->started_ms : 1);
	/* the cluster's members: those of the metadata group, which has a
	 * node added before any shard has (a shard's leader adds it after) */
	const struct raft_config *c = raft_config_of(server_cluster(s)->r);
	requests_leads(s, &s->leads); /* the placed shards it leads, if any */
	for (uint32_t i = 0; i < c->n; i++)
		if (c->members[i].id != s->cfg.id) {
			peers_send(s->peers, c->members[i].id, FRAME_LIVE, buf, sizeof buf);
			if (s->leads.len)
				peers_send(s->peers, c->members[i].id, FRAME_LEADS, s->leads.p,
					   (uint32_t)s->leads.len);
		}
	if (s->n_quiet)
		check_liveness(s);
}
