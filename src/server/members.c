/* server/members.c — the node among its peers: connections kept to the
 * members of the current configuration, when each peer was last heard
 * from, and removal.
 *
 * A removed node must learn that it was removed, or it would sit as a
 * voter of an old configuration forever (Raft thesis §4.2.2: the leader
 * stops sending to it once the new configuration is in its log). So:
 * - every node keeps a dropped member connected for GONE_MS, and once the
 *   configuration that dropped it is committed sends it FRAME_REMOVED;
 * - a member whose committed configuration lacks the sender answers a
 *   PREVOTE or VOTE (a removed voter that missed the news) the same way;
 * - a node that finds its own committed configuration without itself
 *   (a leader that removed itself) knows without being told.
 * A notice is believed only if the receiver can relate it to what it knows:
 * - its sender is a member of the receiver's configuration (a node it can
 *   check; a made-up id, or a node that is itself gone, is not), or, of a
 *   shard placed on some nodes, one the map lists while it does not list
 *   the receiver (a node taken off it while down holds a configuration
 *   older than the members added since);
 * - it names a configuration newer than the receiver's own (so a member
 *   that lags cannot remove a node added since), or the receiver's own,
 *   when that one already lacks the receiver;
 * - the receiver is not a node listed again on a placed shard that waits
 *   to be added (it knows it is not a member: shards.c, groups_place);
 * - that configuration is at most REMOVED_AHEAD entries past the end of
 *   the receiver's log: the leader replicates to a member until the
 *   configuration that drops it is in its log, so a node that was in
 *   touch holds the log to within the window in flight. A notice for an
 *   index no log could relate to (2^64-1) is a frame no honest peer sends.
 * A node cut off for longer than that is not told: it stays a follower
 * without a leader (members refuse its votes) until the operator stops it,
 * as a removed node must be anyway.
 * A removed node stops taking part (no ticks, peers' frames dropped),
 * says so in its log and in INFO (raft_role:removed), and refuses
 * requests; the operator stops it. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/bytes.h"
#include "net/frame.h"
#include "server/server.h"

#define GONE_MS	  10000 /* a dropped member is told for this long */
#define NOTICE_MS 500	/* ... this often */
/* how far past its log's end a notice may name (the leader's window of
 * entries in flight: raft_options msg_entries_max x inflight_msgs_max) */
#define REMOVED_AHEAD (512u * 64u)

KEEL_STATIC_ASSERT(RAFT_MEMBERS_MAX < PEERS_MAX, "a full table of who was heard from has a "
						 "slot of a node no longer a member");

int64_t server_last_heard(const struct group *g, uint64_t id)
{
	const struct server *s = g->node;
	for (uint32_t i = 0; i < s->n_heard; i++)
		if (s->heard[i].id == id)
			return s->heard[i].ms;
	return 0;
}

/* Only a member of the configuration takes a slot, the one of a node
 * that has left it if need be: an id made up in a HELLO would keep one for
 * good, and once every slot was taken a member added later would never be
 * listed as heard from (INFO raft showed last_contact_ms=-1). */
static struct heard *heard_from(struct group *g, uint64_t id)
{
	struct server *s = g->node;
	int64_t now = server_now_ms();
	for (uint32_t i = 0; i < s->n_heard; i++) {
		if (s->heard[i].id == id) {
			s->heard[i].ms = now;
			return &s->heard[i];
		}
	}
	const struct raft_config *c = raft_config_of(g->r);
	if (!raft_config_find(c, id))
		return NULL;
	uint32_t i = 0; /* a full table has a non-member's slot (above) */
	while (i < s->n_heard && raft_config_find(c, s->heard[i].id))
		i++;
	if (i == s->n_heard)
		s->n_heard++;
	s->heard[i] = (struct heard){id, now, 0};
	return &s->heard[i];
}

struct heard *members_heard(struct server *s, uint64_t from)
{
	return s->g->r && !s->g->removed_at ? heard_from(s->g, from) : NULL;
}

static bool config_committed(const struct group *g)
{
	return raft_config_index_of(g->r) <= raft_commit_index(g->r);
}

bool members_taken_off(const struct group *g)
{
	const struct server *s = g->node;
	const struct group *meta = s->meta;
	return meta && g != meta && !meta->removed_at &&
	       (g->n_placed || (meta->r && raft_config_find(raft_config_of(meta->r), s->cfg.id)));
}

/* Whether a group of the node still has it as a member: one it was not
 * told it left, whose configuration names it. A group with no
 * configuration yet (a node joining) and a placed shard it is outside of
 * hold no seat. */
bool members_seated(const struct server *s)
{
	if (s->left) /* shards it holds not yet opened */
		return true;
	for (uint32_t i = 0; i < s->n_groups; i++) {
		const struct group *g = s->groups[i];
		if (g->r && !g->removed_at && raft_config_find(raft_config_of(g->r), s->cfg.id))
			return true;
	}
	return false;
}

static void mark_removed(struct group *g, raft_index at, const char *how)
{
	struct server *s = g->node;
	if (g->removed_at)
		return;
	g->removed_at = at ? at : 1;
	if (members_taken_off(g)) {
		fprintf(stderr,
			"[%llu] shard %u: this node was removed from its members by the "
			"configuration at index %llu (%s)\n",
			(unsigned long long)s->cfg.id, g->id, (unsigned long long)at, how);
		requests_fail_all(g, ERR_TAKEN_OFF);
		return;
	}
	/* removed from the cluster: every group drops it, each in its own log
	 * (a placed shard it leads hands over first). Stopping it before the
	 * last one did could leave a shard a voter short for good (two voters,
	 * one stopped), so the node says to stop it only then; shards it has
	 * folders of but did not open (added past its snapshot of the map)
	 * are opened first (groups_open_left). */
	if (g->meta)
		s->left = groups_left(s);
	if (members_seated(s))
		fprintf(stderr,
			"[%llu] group %u: removed from its members by the configuration at index "
			"%llu (%s); a member of other groups still: keep it running\n",
			(unsigned long long)s->cfg.id, g->id, (unsigned long long)at, how);
	else
		fprintf(stderr,
			"[%llu] removed from the cluster by the configuration at index %llu (%s); "
			"this node takes no further part: stop it\n",
			(unsigned long long)s->cfg.id, (unsigned long long)at, how);
	requests_fail_all(g, "-REMOVED this node was removed from the cluster; the request was "
			     "not applied");
}

static void send_removed(struct group *g, uint64_t to)
{
	struct server *s = g->node;
	uint8_t p[8];
	bytes_put_u64(p, raft_config_index_of(g->r));
	peers_send_group(s->peers, to, g->id, FRAME_REMOVED, p, sizeof p);
}

/* Whether another group of the node than g keeps a connection to id: the
 * peers are one set for every group, the union of their configurations
 * (and of the members each still tells it was dropped). */
static bool kept_by_another(const struct group *g, uint64_t id)
{
	const struct server *s = g->node;
	for (uint32_t i = 0; i < s->n_groups; i++) {
		const struct group *o = s->groups[i];
		if (o == g || !o->r)
			continue;
		if (raft_config_find(&o->peer_config, id))
			return true;
		for (uint32_t k = 0; k < o->n_gone; k++)
			if (o->gone[k].id == id)
				return true;
	}
	return false;
}

/* Whether a group of the node has no configuration yet (a node joining:
 * each group is given its own by its leader). */
static bool any_unconfigured(const struct server *s)
{
	for (uint32_t i = 0; i < s->n_groups; i++)
		if (s->groups[i]->r && raft_config_of(s->groups[i]->r)->n == 0)
			return true;
	return false;
}

/* Keeps the peer connections to the members of the current configuration;
 * a member it drops stays connected for a while, to be told. */
void members_sync(struct group *g)
{
	struct server *s = g->node;
	const struct raft_config *c = raft_config_of(g->r);
	/* a node not yet given its configuration learns its peers (looked at
	 * again as a group's changes: not every pass over every group) */
	if (c->n == 0)
		peers_learn(s->peers, true);
	if (raft_config_find(c, s->cfg.id))
		g->was_member = true;
	else if (g->was_member && config_committed(g))
		mark_removed(g, raft_config_index_of(g->r),
			     "its own committed configuration does not include it");
	if (!memcmp(c, &g->peer_config, sizeof *c))
		return;
	peers_learn(s->peers, any_unconfigured(s));
	int64_t now = server_now_ms();
	for (uint32_t i = 0; i < g->peer_config.n; i++) {
		uint64_t id = g->peer_config.members[i].id;
		if (id == s->cfg.id || raft_config_find(c, id) || g->n_gone == RAFT_MEMBERS_MAX)
			continue;
		g->gone[g->n_gone++] =
			(struct gone){id, raft_config_index_of(g->r), now + GONE_MS, 0};
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_gone; i++) /* added back: not gone */
		if (!raft_config_find(c, g->gone[i].id))
			g->gone[k++] = g->gone[i];
	g->n_gone = k;
	for (uint32_t i = 0; i < c->n; i++)
		peers_set(s->peers, c->members[i].id, c->members[i].addr);
	g->peer_config = *c;
}

void members_tick(struct group *g)
{
	struct server *s = g->node;
	if (!g->r || !s->peers)
		return;
	int64_t now = server_now_ms();
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_gone; i++) {
		struct gone *gn = &g->gone[i];
		if (now >= gn->until_ms) {
			if (!kept_by_another(g, gn->id))
				peers_remove(s->peers, gn->id);
			continue;
		}
		if (!g->removed_at && gn->config_index <= raft_commit_index(g->r) &&
		    now >= gn->next_notice_ms) {
			send_removed(g, gn->id);
			gn->next_notice_ms = now + NOTICE_MS;
		}
		g->gone[k++] = *gn;
	}
	g->n_gone = k;
}

bool members_on_frame(struct group *g, uint64_t from, uint8_t kind, const uint8_t *p, size_t n)
{
	struct server *s = g->node;
	if (g->removed_at) /* a node taken off a placed shard: its requests' answers */
		return g->outside && kind == FRAME_REPLY;
	heard_from(g, from);
	if (kind != FRAME_REMOVED)
		return true;
	if (n != 8)
		return false;
	raft_index at = bytes_get_u64(p);
	const struct raft_config *c = raft_config_of(g->r);
	raft_index mine = raft_config_index_of(g->r), last = raft_last_index(g->r);
	bool in_mine = raft_config_find(c, s->cfg.id) != NULL;
	/* at == mine: the configuration this node holds already leaves it out
	 * (its log has the entry; whether it was committed, a member of that
	 * configuration now says). Not only once it was seen a member in this
	 * run: a node that crashed with the entry removing it appended but not
	 * yet known committed restarts with that configuration last, and no
	 * leader replicates to it any more (the whole-node simulator found one
	 * so, serving a read replica from an applied index of 0 for good). */
	bool newer = at > mine || (!in_mine && at == mine);
	/* a placed shard that lists this node again once it was removed: no
	 * member tells it more than that it is not one of them until its
	 * leader adds it (shards.c groups_place) */
	bool waiting = group_waits_added(g);
	/* a node taken off a placed shard while it was down restarts with a
	 * configuration older than every member now: the map (committed in
	 * the metadata group) names the members that may tell it */
	bool known = raft_config_find(c, from) ||
		     (!group_placed_on(g, s->cfg.id) && group_placed_on(g, from));
	if (!known || !newer || waiting || at > last + REMOVED_AHEAD) {
		fprintf(stderr,
			"[%llu] REMOVED notice from node %llu for index %llu not believed: %s\n",
			(unsigned long long)s->cfg.id, (unsigned long long)from,
			(unsigned long long)at,
			!known	  ? "not a member here"
			: !newer  ? "not a newer configuration"
			: waiting ? "listed again, waiting to be added"
				  : "past this node's log");
		return false;
	}
	char how[96];
	snprintf(how, sizeof how, "told by node %llu", (unsigned long long)from);
	mark_removed(g, at, how);
	return false;
}

void members_on_msg(struct group *g, const struct raft_msg *m)
{
	struct server *s = g->node;
	if ((m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE) && g->r && !g->removed_at &&
	    raft_config_index_of(g->r) > 0 && config_committed(g) &&
	    raft_config_find(raft_config_of(g->r), m->from) == NULL &&
	    raft_config_find(raft_config_of(g->r), s->cfg.id) != NULL)
		send_removed(g, m->from);
}

/* The leader this node now follows may be outside its configuration: one
 * added while this node was down, whose log holds the configurations this
 * node missed. Frames flow one way on a connection, so this node's answers
 * reach that leader only over a connection of its own: it is made to the
 * peer address the leader told in its HELLO. Without it the leader never
 * hears where this node's log ends, never sends what it lacks, and the
 * node stays behind for good (the whole-node simulator found a restarted
 * founder stuck so, its log at 147, the leader's at 1433). Only the leader
 * the core follows after a leader's message (raft_step_term): a made-up id
 * in a HELLO still takes no peer slot. */
void members_follow_leader(struct group *g, const struct raft_msg *m)
{
	struct server *s = g->node;
	if (!g->r || !s->peers || g->removed_at ||
	    (m->type != RAFT_MSG_APPEND && m->type != RAFT_MSG_SNAPSHOT) ||
	    raft_leader_of(g->r) != m->from || raft_config_find(raft_config_of(g->r), m->from))
		return;
	const struct frame_hello *h = peers_told(s->peers, m->from);
	if (h && h->peer_addr[0])
		peers_set(s->peers, m->from, h->peer_addr);
}
