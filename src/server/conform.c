/* server/conform.c — membership of a sharded cluster: every shard's
 * members made the metadata group's.
 *
 * Every group of a sharded cluster (each shard and the metadata group)
 * has the cluster's members as its own. A membership change (RAFT
 * ADD-LEARNER, PROMOTE, REMOVE, and --join) is made in the metadata
 * group's log (commands.c): its configuration, once committed, is the
 * cluster's membership as registered. Then the node that leads the
 * metadata group brings each shard to it, one change at a time per shard
 * (Raft's rule, thesis §4.1), each proposed at that shard's leader through
 * the shard's own log: by this node if it leads the shard, else sent to
 * that leader as a forwarded RAFT command naming the shard (requests.c),
 * which only a peer can send. What a shard lacks, in this order:
 *   1. a member of the metadata group it does not have: ADD-LEARNER, AUTO
 *      if that member is a voter there or is to be promoted (the shard's
 *      leader promotes it once it has caught up; it gets the shard's
 *      snapshot as any new member does);
 *   2. a learner the metadata group has as a voter and the shard does not
 *      promote by itself: PROMOTE;
 *   3. a member the metadata group no longer has: REMOVE (after the adds,
 *      so a replacement is in before the node it replaces leaves).
 * A voter of a shard that the metadata group still has as a learner is
 * left as it is (a learner auto-promoted sooner in the shard than in the
 * metadata group: the metadata group catches up).
 *
 * What it guarantees: the driver keeps no state that a crash loses. The
 * metadata group's committed configuration is the target and each shard's
 * configuration is where it stands, both in logs; whichever node leads the
 * metadata group next looks again and carries on where the last stopped.
 * Each step is idempotent: a change already made is not asked again once
 * this node's copy of the shard has it, and a change asked twice is refused
 * by the shard's leader (the member is there already) and looked at again.
 * A removal is refused too by a shard's leader whose copy of the metadata
 * group's configuration still has the member (commands.c, older_driver):
 * a leader of the metadata group deposed while paused or cut off reads an
 * older configuration until it hears of the newer term.
 * The driver needs to be a member of each shard to see its configuration
 * and its leader: group.c does not hand the metadata group's leadership to
 * a voter that is not yet a voter of every shard, and a node elected to
 * lead it before every shard took it hands it on (hand_over).
 *
 * A shard placed on some of the nodes (KEEL.ADDSHARD id..., or
 * KEEL.PLACESHARD of a shard on every node) is brought
 * by its own leader instead, to the members of the metadata group's
 * committed configuration (as this node's copy has it) that are placed on
 * it: it never takes another node, and a member the cluster removed
 * leaves it. The metadata group's leader need not be one of its members.
 * When its nodes change (KEEL.PLACESHARD), the new ones are added first
 * and the ones no longer listed removed only once every new one is a
 * voter; a leader no longer listed hands the shard to a listed voter
 * (its preferred leader, group.c) instead of removing itself. */
#include <stdio.h>
#include <string.h>

#include "server/server.h"

#define CONFORM_RETRY_MS 200

static bool wants_voter(const struct raft_member *m)
{
	return m->role == RAFT_VOTER || m->auto_promote;
}

/* A change g needs, and its RAFT command's arguments (pointing into it
 * and into the configuration it was read from). */
struct change {
	enum raft_change_op op;
	raft_id id;
	const char *addr;
	bool auto_promote;
	char id_text[24];
	struct resp_arg argv[5];
	uint32_t argc;
};

static bool with(struct change *c, enum raft_change_op op, const struct raft_member *m,
		 bool auto_promote)
{
	static const char *const ops[] = {"", "ADD-LEARNER", "PROMOTE", "REMOVE"};
	*c = (struct change){.op = op, .id = m->id, .addr = m->addr, .auto_promote = auto_promote};
	snprintf(c->id_text, sizeof c->id_text, "%llu", (unsigned long long)m->id);
	c->argv[0] = (struct resp_arg){(const uint8_t *)"RAFT", 4};
	c->argv[1] = (struct resp_arg){(const uint8_t *)ops[op], strlen(ops[op])};
	c->argv[2] = (struct resp_arg){(const uint8_t *)c->id_text, strlen(c->id_text)};
	c->argc = 3;
	if (op == RAFT_CHANGE_ADD_LEARNER)
		c->argv[c->argc++] = (struct resp_arg){(const uint8_t *)m->addr, strlen(m->addr)};
	if (auto_promote)
		c->argv[c->argc++] = (struct resp_arg){(const uint8_t *)"AUTO", 4};
	return true;
}

/* patient: removals wait until every member wanted a voter is one (a
 * placed shard moved to other nodes keeps its voters until the new ones
 * have caught up). */
static bool next_change(const struct raft_config *want, const struct raft_config *have,
			bool patient, struct change *c)
{
	bool promoting = false;
	for (uint32_t i = 0; i < want->n; i++) {
		const struct raft_member *w = &want->members[i];
		const struct raft_member *h = raft_config_find(have, w->id);
		if (!h)
			return with(c, RAFT_CHANGE_ADD_LEARNER, w, wants_voter(w));
		if (w->role == RAFT_VOTER && h->role == RAFT_LEARNER && !h->auto_promote)
			return with(c, RAFT_CHANGE_PROMOTE, w, false);
		promoting = promoting || (wants_voter(w) && h->role == RAFT_LEARNER);
	}
	for (uint32_t i = 0; i < have->n && !(patient && promoting); i++)
		if (!raft_config_find(want, have->members[i].id))
			return with(c, RAFT_CHANGE_REMOVE, &have->members[i], false);
	return false;
}

static void conform_done(struct server *s, struct creq *q)
{
	struct group *g = q->g;
	(void)s;
	g->conform_busy = false;
	g->conform_retry_ms = server_now_ms() + CONFORM_RETRY_MS;
	if (q->reply.len && q->reply.p[0] == '-') {
		size_t n = q->reply.len >= 2 ? q->reply.len - 2 : q->reply.len;
		fprintf(stderr, "[%llu] shard %u's members: %.*s; looked at again\n",
			(unsigned long long)g->node->cfg.id, g->id, (int)(n > 200 ? 200 : n),
			(const char *)q->reply.p);
	}
}

/* Proposes c at g: here if this node leads g, else at g's leader. */
static void propose_change(struct server *s, struct group *g, const struct change *c)
{
	group_wake(g, 0); /* a change needs the group's ticks (server/quiet.c) */
	if (raft_role_of(g->r) == RAFT_LEADER) {
		int rc = raft_change(g->r, c->op, c->id, c->addr, c->auto_promote);
		if (rc == KEEL_OK)
			fprintf(stderr, "[%llu] shard %u: RAFT %s %s proposed\n",
				(unsigned long long)s->cfg.id, g->id, (const char *)c->argv[1].p,
				c->id_text);
		g->conform_retry_ms = server_now_ms() + CONFORM_RETRY_MS;
		return;
	}
	struct creq *q = creq_new(s, NULL);
	q->g = g;
	q->on_done = conform_done;
	g->conform_busy = true;
	if (!request_forward_admin(g, q, c->argv, c->argc)) { /* no leader known: later */
		g->conform_busy = false;
		g->conform_retry_ms = server_now_ms() + CONFORM_RETRY_MS;
		creq_free(s, q);
	}
}

/* Whether id is a voter of every shard whose configuration this node
 * knows (an empty one: a shard not yet given to it). */
static bool voter_where_known(const struct server *s, raft_id id)
{
	for (uint32_t i = 0; i < s->n_shards; i++) {
		const struct raft_config *c = raft_config_of(s->groups[i]->r);
		if (c->n && !s->groups[i]->n_placed && !raft_config_is_voter(c, id))
			return false;
	}
	return true;
}

/* This node leads the metadata group but is not a member of every shard
 * (elected before the shards took it): it cannot see those shards, so it
 * hands the metadata group to a voter that has every entry, one that is a
 * voter of every shard it knows if there is one, once a second (the
 * metadata group's own fields of the driver time it). */
static void hand_over(struct server *s)
{
	struct group *meta = s->meta;
	int64_t now = server_now_ms();
	if (now < meta->conform_retry_ms)
		return;
	meta->conform_retry_ms = now + 1000;
	const struct raft_config *c = raft_config_of(meta->r);
	raft_id to = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		raft_id id = c->members[i].id;
		if (id == s->cfg.id || c->members[i].role != RAFT_VOTER ||
		    !migrate_may_drive(s, id) || !group_caught_up(meta, id, 0))
			continue;
		if (!to || voter_where_known(s, id))
			to = id;
		if (voter_where_known(s, id))
			break;
	}
	if (to)
		group_wake(meta, 0); /* a transfer needs the leader's ticks */
	if (to && raft_transfer_leader(meta->r, to) == KEEL_OK)
		fprintf(stderr,
			"[%llu] not a member of every shard: handing the metadata group to %llu\n",
			(unsigned long long)s->cfg.id, (unsigned long long)to);
}

/* The members of *all (the metadata group's configuration) that shard g
 * is placed on, into *out. */
static void placed_members(const struct raft_config *all, const struct group *g,
			   struct raft_config *out)
{
	out->n = 0;
	for (uint32_t i = 0; i < all->n; i++)
		if (group_placed_on(g, all->members[i].id))
			out->members[out->n++] = all->members[i];
}

/* A shard placed on this node, which is outside it, whose leader is no
 * longer one of the cluster's members (*all lacks it): that leader's
 * metadata group stopped at its removal, and the map it last applied may
 * predate this node's listing (a shard placed on other nodes and its
 * node removed from the cluster at once; it would lead the shard alone
 * for good, its followers never added). So this node asks that leader to
 * add it, as the driver's changes are sent (RAFT ADD-LEARNER naming the
 * shard, a voter AUTO if it is one here); once it is a voter the leader
 * hands the shard on (group.c, a node leaving the cluster), and the new
 * leader's map brings the rest. A leader still in the cluster adds the
 * nodes it lists itself. */
static void ask_to_join(struct server *s, struct group *g, const struct raft_config *all)
{
	const struct raft_member *me = raft_config_find(all, s->cfg.id);
	struct change c;
	/* a leader is known only to a node outside the shard (its LEADS) */
	if (!g->lead_hint || !me || !group_placed_on(g, s->cfg.id) ||
	    raft_config_find(all, g->lead_hint) || g->conform_busy ||
	    server_now_ms() < g->conform_retry_ms)
		return;
	with(&c, RAFT_CHANGE_ADD_LEARNER, me, wants_voter(me));
	propose_change(s, g, &c);
}

void conform_tick(struct server *s)
{
	struct group *meta = s->meta;
	if (!meta || !meta->r || raft_stopped(meta->r) || meta->removed_at || s->stopping)
		return;
	bool leads_meta = raft_role_of(meta->r) == RAFT_LEADER;
	/* the target: the metadata group's configuration, once committed in
	 * this node's copy; a node that does not lead it drives placed shards
	 * only */
	if ((!leads_meta && !kv_slots_of(&meta->kv)->n_placed) ||
	    raft_config_index_of(meta->r) > raft_commit_index(meta->r))
		return;
	const struct raft_config *all = raft_config_of(meta->r);
	int64_t now = server_now_ms();
	bool blind = false; /* a shard on every node this node is not a member of */
	for (uint32_t i = 0; i < s->n_shards; i++) {
		struct group *g = s->groups[i];
		struct change c;
		bool member = g->r && raft_config_find(raft_config_of(g->r), s->cfg.id);
		blind = blind || (g->r && !member && !g->n_placed);
		ask_to_join(s, g, all);
		/* a shard on every node: brought by the metadata group's leader;
		 * one placed on some: by its own leader, as each node knows it */
		bool drives =
			g->n_placed ? member && raft_role_of(g->r) == RAFT_LEADER : leads_meta;
		if (!drives || !member || g->outside || raft_stopped(g->r) || g->removed_at ||
		    g->conform_busy || now < g->conform_retry_ms)
			continue;
		struct raft_config placed;
		if (g->n_placed)
			placed_members(all, g, &placed);
		if (!next_change(g->n_placed ? &placed : all, raft_config_of(g->r), g->n_placed,
				 &c))
			continue;
		/* a leader does not remove itself (its followers would wait out an
		 * election timeout): spread_leader (group.c) hands the shard to a
		 * listed voter, which then removes this node */
		if (c.op != RAFT_CHANGE_REMOVE || c.id != s->cfg.id)
			propose_change(s, g, &c);
	}
	if (blind && leads_meta)
		hand_over(s);
}

bool conform_voter_everywhere(const struct server *s, raft_id id)
{
	for (uint32_t i = 0; i < s->n_shards; i++)
		if (!s->groups[i]->n_placed &&
		    (!s->groups[i]->r ||
		     !raft_config_is_voter(raft_config_of(s->groups[i]->r), id)))
			return false;
	return true;
}
