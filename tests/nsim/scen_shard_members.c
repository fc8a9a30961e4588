/* tests/nsim/scen_shard_members.c — scripted whole-node runs of a sharded
 * cluster's membership changes (docs/shards.md, "Membership").
 *
 * sharded_members: three nodes of three shards and a spare. The spare is
 * added (RAFT ADD-LEARNER ... AUTO, sent as an operator sends it, to any
 * node), and the node that leads the metadata group, which brings each
 * shard to the metadata group's members (server/conform.c), is crashed
 * just after and started again: whichever node leads the metadata group
 * next carries on, and the spare becomes a voter of every group on every
 * node. Then a founder is removed: it leaves every group, says it was
 * removed in each, and, still running, answers -REMOVED for each shard's
 * key. A shard added then (KEEL.ADDSHARD) starts with the members of that
 * time on every node (the spare and two founders), whatever each node's
 * metadata group has applied. The workload writes throughout; the run's
 * own checks hold (every key's history linearizable, every group of the
 * members agreeing once healed).
 *
 * shard_leader_removed: the leader of a shard placed on two nodes is
 * removed from the cluster; it hands the shard over and leaves it before
 * it says it may be stopped. The shard's last node is then not removed:
 * the removal is refused and changes nothing.
 *
 * place_while_removing: KEEL.PLACESHARD of a shard on one node alone and
 * that node's removal from the cluster, asked at nearly the same time,
 * in either order: never both made (the shard left on a node out of the
 * cluster); and a placement asked of a leader handing over is refused.
 *
 * placed_elsewhere_cut_off, placed_elsewhere_down: a shard's only node,
 * cut off or down, removed from the cluster as the shard is placed on
 * others: they ask it to add them, and it hands the shard over.
 *
 * learner_taken_off_down: a learner taken off a placed shard while down,
 * never told: outside the shard, it serves through the listed nodes.
 *
 * learner_restarts_unheard: a learner restarted before any LIVE frame of
 * its reached the metadata group's quiet leader: that leader wakes for
 * the first, and the learner learns the commit index.
 *
 * deposed_driver_reads_old_members: a leader of the metadata group
 * deposed while paused asks a shard to drop a member the cluster added
 * meanwhile: the shard's leader refuses.
 *
 * pair_never_led: a shard placed on two nodes, one of them down (or
 * paused) since before: that node's removal is refused until the shard
 * has had a leader (it needs the node's vote), not for a shard of three
 * or of another node; running again, it is removed.
 *
 * shard_added_before_join: a shard is added on every node (KEEL.ADDSHARD),
 * then the spare joins. The spare opens the shard as it applies the
 * entry that added it, before it was a member: it founds nothing (no
 * first configuration that leaves it out, which a node removed by it
 * would hold, and a member's REMOVED notice would be believed), and the
 * shard's leader brings it in; once healed it holds what the members
 * hold. */
#include <stdio.h>
#include <string.h>

#include "nsim/nsim.h"

#define MS 1000000ull

static struct ns_node *crashed;
static uint32_t want_shards;

/* The node that leads the metadata group (NULL: none). */
static struct ns_node *meta_leader(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->meta && s->meta->r && raft_role_of(s->meta->r) == RAFT_LEADER)
			return &r->nodes[i];
	}
	return NULL;
}

static void add_spare(void *arg)
{
	ns_membership_add(arg); /* the spare: RAFT ADD-LEARNER 4 ... AUTO */
}

static void crash_driver(void *arg)
{
	struct ns_run *r = arg;
	crashed = meta_leader(r);
	if (!crashed) {
		ns_fail(r, "scenario: no node leads the metadata group at 1.007 s");
		return;
	}
	world_tracef(r->w, "scenario: crash node %llu, which leads the metadata group",
		     (unsigned long long)crashed->id);
	ns_node_crash(crashed);
}

static void restart_driver(void *arg)
{
	(void)arg;
	if (crashed && !crashed->s)
		ns_node_start(crashed);
}

/* Whether every group of node n has `id` as a voter (in: true) or not at
 * all (in: false), as n's copies have them. */
static bool groups_have(const struct ns_node *n, uint64_t id, bool in)
{
	for (uint32_t gi = 0; gi < n->s->n_groups; gi++) {
		const struct raft_config *c = raft_config_of(n->s->groups[gi]->r);
		if (in ? !raft_config_is_voter(c, id) : raft_config_find(c, id) != NULL)
			return false;
	}
	return true;
}

static void check_members(struct ns_run *r, uint64_t id, bool in, uint64_t but)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		const struct ns_node *n = &r->nodes[i];
		if (n->id == but || n->kind == NS_REPLICA)
			continue;
		if (!n->s || !n->s->meta || n->s->n_shards != want_shards) {
			ns_fail(r, "scenario: node %llu is not running with %u shards",
				(unsigned long long)n->id, want_shards);
			return;
		}
		if (!groups_have(n, id, in))
			ns_fail(r, "scenario: a group of node %llu %s node %llu",
				(unsigned long long)n->id,
				in ? "does not have as a voter" : "still has",
				(unsigned long long)id);
	}
}

/* Each shard took the spare as the metadata group has it (a learner to be
 * promoted: ADD-LEARNER ... AUTO, promoted by the shard's own leader once
 * caught up), in node 3's copy of its log (node 3 is never crashed here
 * unless it led the metadata group; a log compacted past the change
 * shows nothing to check). */
static void spare_added_auto(struct ns_run *r)
{
	const struct server *s = r->nodes[2].s;
	for (uint32_t k = 0; s && k < s->n_shards; k++) {
		const struct raft *g = s->groups[k]->r;
		for (raft_index i = raft_first_index(g); i && i <= raft_last_index(g); i++) {
			const struct raft_entry *e = raft_entry_at(g, i);
			struct raft_config c;
			if (!e || e->type != RAFT_ENTRY_CONFIG ||
			    raft_config_decode(&c, e->data, e->len) != KEEL_OK)
				continue;
			const struct raft_member *m = raft_config_find(&c, 4);
			if (!m)
				continue;
			const char *as = m->role != RAFT_LEARNER ? "voter"
					 : m->auto_promote	 ? NULL
								 : "learner (no AUTO)";
			if (as)
				ns_fail(r, "scenario: shard %u took node 4 as a %s", k, as);
			break;
		}
	}
}

static void spare_everywhere(void *arg)
{
	check_members(arg, 4, true, 0);
	spare_added_auto(arg);
}

static void remove_founder(void *arg)
{
	struct ns_run *r = arg;
	/* sent to node 2; not stopped after (ask_removed asks it) */
	static const char *const rm[] = {"RAFT", "REMOVE", "1"};
	ns_admin_expect(r, 1, 3, rm, "+OK");
}

/* Node 1, removed from the cluster (and so from every shard), still
 * running: asked for a key of each shard, it says it was removed from the
 * cluster, not that it no longer holds the shard (members_taken_off). */
static struct ns_probe *removed_probe;

static void ask_removed(void *arg)
{
	struct ns_run *r = arg;
	if (!r->nodes[0].s) {
		ns_fail(r, "scenario: node 1 stopped before it was asked");
		return;
	}
	removed_probe = ns_probe_open(r, "removed", 0);
	for (uint32_t shard = 0; shard < 3; shard++) {
		char key[16];
		for (uint32_t n = 0;; n++) { /* a key of the shard (--shards 3's split) */
			snprintf(key, sizeof key, "rm%u", n);
			uint16_t slot = kv_slot((const uint8_t *)key, strlen(key));
			if ((slot < 5461 ? 0u : slot < 10923 ? 1u : 2u) == shard)
				break;
		}
		ns_probe_send(removed_probe, "-REMOVED this node was removed from the cluster",
			      "SET %s x", key);
		ns_probe_send(removed_probe, "-REMOVED this node was removed from the cluster",
			      "GET %s", key);
	}
}

static void add_shard(void *arg)
{
	struct ns_run *r = arg;
	static const char *const add[] = {"KEEL.ADDSHARD"};
	ns_admin_expect(r, 2, 1, add, ":3");
	want_shards = 4;
}

/* Node 1 is in no group, the spare in every one, shard 3 included, and
 * shard 3 has a leader. */
static void founder_gone(void *arg)
{
	struct ns_run *r = arg;
	check_members(r, 1, false, 1);
	check_members(r, 4, true, 1);
	if (r->nodes[0].s && !r->nodes[0].s->g->removed_at)
		ns_fail(r, "scenario: node 1 does not know it was removed");
	ns_probe_done(removed_probe);
	removed_probe = NULL;
	const struct server *s = r->nodes[3].s;
	if (s && s->n_shards == 4 && !raft_leader_of(s->groups[3]->r))
		ns_fail(r, "scenario: the added shard has no leader");
}

void ns_scen_sharded_members(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.shards = 3;
	r->p.reshards = 0;
	crashed = NULL;
	removed_probe = NULL;
	want_shards = 3;
	world_at(r->w, 1000 * MS, add_spare, r);
	world_at(r->w, 1007 * MS, crash_driver, r);
	world_at(r->w, 1900 * MS, restart_driver, r);
	world_at(r->w, 4000 * MS, spare_everywhere, r);
	world_at(r->w, 4200 * MS, remove_founder, r);
	world_at(r->w, 5500 * MS, add_shard, r);
	world_at(r->w, 6500 * MS, ask_removed, r);
	world_at(r->w, 7000 * MS, founder_gone, r);
}

/* ---- the leader of a shard on two nodes removed from the cluster ---------- */

struct leader_removed {
	struct ns_run *r;
	char key[16]; /* a key of shard 1 (slots 8192-16383 of --shards 2) */
	struct ns_probe *p;
};

/* Shard 1 placed on nodes 2 and 3 (asked of node 1): node 3 its
 * preferred leader (group 1's, the second of two voters). Node 3's disk
 * is slow until it leads (its entries durable 100 ms late): node 1, no
 * longer listed, hands the shard to it all the same, some entries
 * behind. */
static void lr_place(void *arg)
{
	struct leader_removed *x = arg;
	x->r->nodes[2].disk_extra_ns = 100 * MS;
	static const char *const place[] = {"KEEL.PLACESHARD", "1", "2", "3"};
	ns_admin_expect(x->r, 0, 4, place, "+OK");
}

/* Shard 2 added on nodes 1 and 2: node 3 holds it empty, never a member
 * (a group that gives it no seat). */
static void lr_add(void *arg)
{
	struct leader_removed *x = arg;
	static const char *const add[] = {"KEEL.ADDSHARD", "1", "2"};
	ns_admin_expect(x->r, 0, 3, add, ":2");
}

/* Node 3 leads shard 1, whose voters are nodes 2 and 3: removed from the
 * cluster now, the shard has no quorum without it until the shard's own
 * log drops it. Node 2's disk is slow from now on (its entries durable
 * 100 ms late): under the workload it is always some entries behind, and
 * node 3, which must leave, hands the shard over all the same. */
static void lr_remove(void *arg)
{
	struct leader_removed *x = arg;
	x->r->nodes[1].disk_extra_ns = 100 * MS;
	const struct server *s = x->r->nodes[2].s;
	const struct raft *g = s && s->n_shards > 1 ? s->groups[1]->r : NULL;
	if (!g || raft_role_of(g) != RAFT_LEADER || raft_config_of(g)->n != 2)
		ns_fail(x->r, "scenario: node 3 does not lead shard 1 of two voters at 3 s");
	x->r->nodes[2].disk_extra_ns = 0;
	ns_admin(x->r, 0, "REMOVE", 3); /* the operator stops it once it says it is out */
}

/* Node 3, still running: its groups on every node but shard 1 dropped it
 * at once, shard 1 only once node 3 handed it to node 2. */
static void lr_check(void *arg)
{
	struct leader_removed *x = arg;
	struct ns_node *n3 = &x->r->nodes[2];
	if (n3->kind != NS_RETIRED)
		ns_fail(x->r, "scenario: node 3 was not out of every group (and stopped) 4 s "
			      "after its removal");
	const struct server *s = x->r->nodes[1].s;
	const struct raft_config *c = s && s->n_shards > 1 ? raft_config_of(s->groups[1]->r) : NULL;
	if (!c || c->n != 1 || !raft_config_is_voter(c, 2))
		ns_fail(x->r, "scenario: shard 1 is not on node 2 alone once node 3 stopped");
	x->p = ns_probe_open(x->r, "after", 0); /* through node 1, outside shard 1 */
	ns_probe_send(x->p, "+OK", "SET %s v", x->key);
	/* node 2 is the last node shard 1 is placed on: not removed */
	static const char *const rm[] = {"RAFT", "REMOVE", "2"};
	ns_admin_expect(x->r, 0, 3, rm, "-ERR remove: shard 1 is placed on node 2 alone");
	ns_probe_send(x->p, "$1 v", "GET %s", x->key);
}

/* The refused removal changed nothing: node 2 is still a voter of the
 * cluster and of shard 1. */
static void lr_done(void *arg)
{
	struct leader_removed *x = arg;
	ns_probe_done(x->p);
	for (uint32_t i = 0; i < 2; i++) {
		const struct server *s = x->r->nodes[i].s;
		if (s && !raft_config_is_voter(raft_config_of(s->meta->r), 2))
			ns_fail(x->r, "scenario: node %u's cluster lost node 2 (a refused removal)",
				i + 1);
	}
	const struct server *s = x->r->nodes[1].s;
	if (!s || !raft_config_is_voter(raft_config_of(s->groups[1]->r), 2))
		ns_fail(x->r, "scenario: shard 1 lost node 2 (a refused removal)");
}

/* Three nodes of two shards; shard 1 placed on nodes 2 and 3, led by node
 * 3, and shard 2 added on nodes 1 and 2; node 3 is then removed from the
 * cluster. RAFT REMOVE is answered once
 * the metadata group committed it; the operator stops node 3 once it says
 * it is out of the cluster. Node 3 must first hand shard 1 to node 2 (a
 * node removed from the cluster is no group's preferred leader), which
 * then removes it; only then does node 3 say so. Before, node 3 said
 * "stop it" as soon as the metadata group dropped it, and stopped while
 * it led shard 1 (two voters, one stopped), the shard had no leader for
 * good (the random sharded seed 1476); and a removed node stayed its
 * placed shard's preferred leader, so it never handed it over. Then node
 * 2, shard 1's only node, is not removed (-ERR): before, it was, said
 * "stop it" once out of the groups it knew, and shard 1's keys and slots
 * were left with no member (sharded seed 884, with a driver that takes
 * its next step at once: a move to a shard placed on a node removed while
 * down never finished). */
void ns_scen_shard_leader_removed(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.shards = 2;
	r->p.reshards = 0;
	r->p.run_ns = 12000 * MS;
	struct leader_removed *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	ns_probe_key("lr", 0, 8192, 16383, x->key, sizeof x->key);
	world_at(r->w, 1000 * MS, lr_place, x);
	world_at(r->w, 1500 * MS, lr_add, x);
	world_at(r->w, 3000 * MS, lr_remove, x);
	world_at(r->w, 7000 * MS, lr_check, x);
	world_at(r->w, 9000 * MS, lr_done, x);
}

/* ---- a member of a placed shard removed while down --------------------- */

struct removed_down {
	struct ns_run *r;
	uint32_t down, other; /* shard 2's follower at 2.5 s, crashed; its leader */
};

/* Shard 2 added on nodes 3 and 4 (asked of node 1). */
static void rd_add(void *arg)
{
	struct removed_down *x = arg;
	static const char *const add[] = {"KEEL.ADDSHARD", "3", "4"};
	ns_admin_expect(x->r, 0, 3, add, ":2");
}

static void rd_crash(void *arg)
{
	struct removed_down *x = arg;
	const struct server *s = x->r->nodes[3].s;
	const struct raft *g = s && s->n_shards > 2 ? s->groups[2]->r : NULL;
	if (!g || raft_leader_of(g) == RAFT_ID_NONE) {
		ns_fail(x->r, "scenario: shard 2 has no leader at 2.5 s");
		return;
	}
	x->other = raft_leader_of(g) == 4 ? 3 : 2;
	x->down = x->other == 3 ? 2 : 3;
	world_tracef(x->r->w, "scenario: crash node %u, which follows shard 2", x->down + 1);
	ns_node_crash(&x->r->nodes[x->down]);
}

/* The node down removed from the cluster, 3.5 s after it crashed: shard 2's
 * leader has stepped down by then (check-quorum), so the metadata group's
 * leader knows of none now, only that it saw one; the operator stops the
 * node for good once it says it is out of every group. */
static void rd_remove(void *arg)
{
	struct removed_down *x = arg;
	ns_admin(x->r, 0, "REMOVE", x->r->nodes[x->down].id);
}

static void rd_restart(void *arg)
{
	struct removed_down *x = arg;
	ns_node_start(&x->r->nodes[x->down]);
}

/* Shard 2 is on the other node alone, which leads it; the node down was
 * stopped (it said it was out of the cluster only once shard 2 had
 * dropped it). */
static void rd_check(void *arg)
{
	struct removed_down *x = arg;
	if (x->r->nodes[x->down].kind != NS_RETIRED)
		ns_fail(x->r, "scenario: node %u never said it was out of the cluster",
			x->down + 1);
	const struct server *s = x->r->nodes[x->other].s;
	const struct raft *g = s && s->n_shards > 2 ? s->groups[2]->r : NULL;
	if (!g || raft_role_of(g) != RAFT_LEADER || raft_config_of(g)->n != 1)
		ns_fail(x->r, "scenario: shard 2 is not led by node %u alone", x->other + 1);
}

/* Four nodes of two shards; shard 2 added on nodes 3 and 4; the one that
 * follows it crashes, is removed from the cluster while down, and starts
 * again. Shard 2 has no quorum without it (two voters, check-quorum), so
 * that node must take part in it again so that shard 2 drops it, and say
 * it may be stopped only then. Its removal is made though shard 2 has no
 * leader at the time: the metadata group's leader saw one (the node took
 * part), which pair_never_led's refusal asks. */
void ns_scen_placed_removed_while_down(struct ns_run *r)
{
	r->p.nodes = 4;
	r->p.shards = 2;
	r->p.reshards = 0;
	r->p.run_ns = 15000 * MS;
	struct removed_down *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	world_at(r->w, 1000 * MS, rd_add, x);
	world_at(r->w, 2500 * MS, rd_crash, x);
	world_at(r->w, 6000 * MS, rd_remove, x);
	world_at(r->w, 6500 * MS, rd_restart, x);
	world_at(r->w, 12000 * MS, rd_check, x);
}

/* ---- a shard placed on a node while that node is removed ---------------- */

struct place_remove {
	struct ns_run *r;
	char key[16];	     /* a key of shard 1 (slots 8192-16383 of --shards 2) */
	uint32_t lead, x, y; /* nodes: the metadata group's leader at 2 s, two others */
	struct ns_probe *p;
};

/* A write of shard 1's key; and a peer's forwarded placements short of
 * their arity (3 words or more), which a node must refuse without
 * reading past them. */
static void pr_write(void *arg)
{
	struct place_remove *x = arg;
	x->p = ns_probe_open(x->r, "before", 0);
	ns_probe_send(x->p, "+OK", "SET %s v", x->key);
	static const char *const place[] = {"KEEL.PLACESHARD", "1"};
	for (uint32_t i = 0; i < 3; i++) {
		ns_peer_forward_to(x->r, i, 90, SERVER_META_GROUP, 2, place, 1);
		ns_peer_forward_to(x->r, i, 91, SERVER_META_GROUP, 2, place, 2);
	}
	/* a placement a peer sent to a node that does not lead the metadata
	 * group: refused there, not sent on (a second hop) */
	struct ns_node *l = meta_leader(x->r);
	uint32_t f = l ? (uint32_t)(l - x->r->nodes + 1) % 3 : 0;
	static const char *const every[] = {"KEEL.PLACESHARD", "1", "1", "2", "3"};
	ns_peer_forward_to(x->r, f, 92, SERVER_META_GROUP, 2, every, 5);
}

/* That placement was not made: shard 1 is still on every node. */
static void pr_not_sent_on(void *arg)
{
	struct place_remove *x = arg;
	for (uint32_t i = 0; i < 3; i++) {
		const struct server *s = x->r->nodes[i].s;
		if (s && s->meta && kv_shard_placed(kv_slots_of(&s->meta->kv), 1))
			ns_fail(x->r, "scenario: a placement forwarded to a follower was made");
	}
}

/* An operator's w0 w1 <node's id> sent to node `to`; its reply must begin
 * with expect (NULL: any). */
static void pr_ask(struct place_remove *x, uint32_t to, const char *w0, const char *w1,
		   uint32_t node, const char *expect)
{
	char id[24];
	snprintf(id, sizeof id, "%llu", (unsigned long long)x->r->nodes[node].id);
	const char *const argv[] = {w0, w1, id};
	if (expect)
		ns_admin_expect(x->r, to, 3, argv, expect);
	else
		ns_admin_send(x->r, to, 3, argv);
}

static void pr_remove_x(void *arg)
{
	struct place_remove *x = arg;
	pr_ask(x, x->lead, "RAFT", "REMOVE", x->x,
	       "-TRYAGAIN the metadata group's leader has entries");
}

static void pr_disks_back(void *arg)
{
	struct place_remove *x = arg;
	for (uint32_t i = 0; i < x->r->n_nodes; i++)
		x->r->nodes[i].disk_extra_ns = 0;
}

/* Shard 1 placed on node X alone, asked of the metadata group's leader,
 * whose followers' disks are slow (their entries durable 100 ms late):
 * the placement is in the leader's log, not yet applied, when X's
 * removal is asked of it 20 ms later. Refused for now (-TRYAGAIN): the
 * map the removal is checked against (placed_holds) lacks the placement
 * until it is applied. Before, the removal was made (+OK once
 * committed), and shard 1 was left placed on a node out of the cluster. */
static void pr_place_then_remove(void *arg)
{
	struct place_remove *x = arg;
	struct ns_node *l = meta_leader(x->r);
	if (!l) {
		ns_fail(x->r, "scenario: no leader of the metadata group at 2 s");
		return;
	}
	x->lead = (uint32_t)(l - x->r->nodes);
	x->x = (x->lead + 1) % 3;
	x->y = (x->lead + 2) % 3;
	for (uint32_t i = 0; i < x->r->n_nodes; i++)
		if (i != x->lead)
			x->r->nodes[i].disk_extra_ns = 100 * MS;
	pr_ask(x, x->lead, "KEEL.PLACESHARD", "1", x->x, "+OK");
	world_at(x->r->w, world_now_ns(x->r->w) + 20 * MS, pr_remove_x, x);
	world_at(x->r->w, world_now_ns(x->r->w) + 400 * MS, pr_disks_back, x);
}

/* Node Y's removal asked of the leader, and shard 1's placement on Y
 * alone asked of node X, at the same moment. X sends the placement to
 * the metadata group's leader, which checks it against the newest
 * configuration in its log and puts it there in one step: whichever
 * comes second is refused (the placement, -ERR: Y is no voter once its
 * removal is in the log; the removal, -TRYAGAIN or -ERR "placed on node
 * Y alone"). Before, X checked the placement against its own copy of the
 * configuration, which the removal had not reached yet, and both were
 * made. */
static void pr_remove_and_place(void *arg)
{
	struct place_remove *x = arg;
	struct ns_node *l = meta_leader(x->r);
	if (!l) {
		ns_fail(x->r, "scenario: no leader of the metadata group at 4 s");
		return;
	}
	ns_admin(x->r, (uint32_t)(l - x->r->nodes), "REMOVE", x->r->nodes[x->y].id);
	pr_ask(x, x->x, "KEEL.PLACESHARD", "1", x->y, NULL);
}

static void pr_place_in_handover(void *arg)
{
	struct place_remove *x = arg;
	pr_ask(x, x->lead, "KEEL.PLACESHARD", "1", x->x, "-TRYAGAIN this node stopped leading");
}

/* The metadata group's leader hands over to node X, which is paused (so
 * the handover waits for it to catch up, and the leader proposes
 * nothing); a placement asked of it meanwhile is checked there, so it
 * is refused rather than sent on to the next leader, whose log the
 * check did not see. */
static void pr_handover(void *arg)
{
	struct place_remove *x = arg;
	struct ns_node *l = meta_leader(x->r);
	if (!l || l == &x->r->nodes[x->x]) {
		ns_fail(x->r, "scenario: the metadata group's leader at 5.5 s is not node 1 or 2");
		return;
	}
	x->lead = (uint32_t)(l - x->r->nodes);
	host_pause_until(x->r->nodes[x->x].h, world_now_ns(x->r->w) + 300 * MS);
	ns_admin(x->r, x->lead, "TRANSFER", x->r->nodes[x->x].id);
	world_at(x->r->w, world_now_ns(x->r->w) + 20 * MS, pr_place_in_handover, x);
}

/* Shard 1 is placed on a voter of the cluster, and serves its key. */
static void pr_check(void *arg)
{
	struct place_remove *x = arg;
	ns_probe_done(x->p);
	const struct server *s = x->r->nodes[x->x].s;
	const struct kv_slots *sl = s && s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	const struct kv_shard_members *m = sl ? kv_shard_placed(sl, 1) : NULL;
	bool voter = !m;
	for (uint32_t k = 0; m && k < m->n; k++)
		voter = voter || raft_config_is_voter(raft_config_of(s->meta->r), m->ids[k]);
	if (!s || !voter)
		ns_fail(x->r,
			"scenario: shard 1 is placed on no voter of the cluster (node %u's map)",
			x->x + 1);
	x->p = ns_probe_open(x->r, "after", x->x);
	ns_probe_send(x->p, "$1 v", "GET %s", x->key);
}

static void pr_done(void *arg)
{
	struct place_remove *x = arg;
	ns_probe_done(x->p);
}

/* Three nodes of two shards: shard 1 placed on one node while that node
 * is removed, twice, then while the metadata group's leader hands over
 * (above). */
void ns_scen_place_while_removing(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.shards = 2;
	r->p.reshards = 0;
	r->p.run_ns = 10000 * MS;
	struct place_remove *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	ns_probe_key("pr", 0, 8192, 16383, x->key, sizeof x->key);
	world_at(r->w, 1000 * MS, pr_write, x);
	world_at(r->w, 1900 * MS, pr_not_sent_on, x);
	world_at(r->w, 2000 * MS, pr_place_then_remove, x);
	world_at(r->w, 4000 * MS, pr_remove_and_place, x);
	world_at(r->w, 5500 * MS, pr_handover, x);
	world_at(r->w, 7000 * MS, pr_check, x);
	world_at(r->w, 8500 * MS, pr_done, x);
}

/* ---- a shard added before a node joined -------------------------------- */

static bool spare_opened;

static void add_shard_before(void *arg)
{
	static const char *const add[] = {"KEEL.ADDSHARD"};
	ns_admin_expect(arg, 0, 1, add, ":3");
}

/* As soon as the spare holds shard 3: no log of it yet (it founded
 * nothing; the leader's first entries come later), and never a belief
 * that it was removed from it. */
static void spare_shard(void *arg)
{
	struct ns_run *r = arg;
	const struct server *s = r->nodes[3].s;
	if (s && s->n_shards >= 4) {
		const struct group *g = s->groups[3];
		const struct raft_config *c = raft_config_of(g->r);
		if (!spare_opened && raft_last_index(g->r) && !raft_config_find(c, r->nodes[3].id))
			ns_fail(r,
				"node 4 opened shard 3 with a configuration of %u members that "
				"leaves it out (index %llu)",
				c->n, (unsigned long long)raft_config_index_of(g->r));
		if (g->removed_at)
			ns_fail(r, "node 4 believes it was removed from shard 3");
		spare_opened = true;
	}
	if (!r->failed && world_now_ns(r->w) < 5000 * MS)
		world_at(r->w, world_now_ns(r->w) + MS / 4, spare_shard, r);
}

static void spare_member(void *arg)
{
	struct ns_run *r = arg;
	if (!spare_opened)
		ns_fail(r, "scenario: node 4 never opened shard 3");
	check_members(r, 4, true, 0); /* every group of every node has it a voter */
}

void ns_scen_shard_added_before_join(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.shards = 3;
	r->p.reshards = 0;
	spare_opened = false;
	want_shards = 4;
	world_at(r->w, 1000 * MS, add_shard_before, r);
	world_at(r->w, 2000 * MS, add_spare, r);
	world_at(r->w, 2000 * MS, spare_shard, r);
	world_at(r->w, 5500 * MS, spare_member, r);
}

/* ---- a shard's only node removed, out of reach, as others are listed ----- */

struct cut_off {
	struct ns_run *r;
	bool crash;		/* node 3 crashes (else it is cut off) */
	raft_index relisted[2]; /* nodes 1 and 2 listed again past this removal */
	char key[16]; /* a key of shard 1 (slots 8192-16383 of --shards 2) */
	struct ns_probe *p;
};

/* Shard 1 placed on node 3 alone (asked of node 1). */
static void co_place_alone(void *arg)
{
	struct cut_off *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "1", "3"};
	ns_admin_expect(x->r, 0, 3, place, "+OK");
}

static void co_write(void *arg)
{
	struct cut_off *x = arg;
	x->p = ns_probe_open(x->r, "co", 0); /* through node 1, outside shard 1 */
	ns_probe_send(x->p, "+OK", "SET %s v", x->key);
}

/* Node 3, shard 1's only voter and leader, crashes or is cut off from
 * the others: no entry of the metadata group reaches it from now on. */
static void co_away(void *arg)
{
	struct cut_off *x = arg;
	if (x->crash)
		ns_node_crash(&x->r->nodes[2]);
	else
		ns_isolate(x->r, 2, true);
}

/* Shard 1 placed on nodes 1-3 (asked of node 1: the metadata group's
 * leader is not node 3 by now), so node 3 is no longer its only node. */
static void co_place_all(void *arg)
{
	struct cut_off *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "1", "1", "2", "3"};
	ns_admin_expect(x->r, 0, 5, place, "+OK");
}

/* ... and node 3 removed from the cluster (allowed: shard 1 is placed on
 * other nodes too); the operator stops it once it says it is out. */
static void co_remove(void *arg)
{
	struct cut_off *x = arg;
	ns_admin(x->r, 0, "REMOVE", 3);
}

/* Node 3 back: started again, or its links whole again with what was
 * sent to it meanwhile lost (its connections reset: the metadata group's
 * last entries to it among what is lost, the placement too). */
static void co_back(void *arg)
{
	struct cut_off *x = arg;
	if (x->crash) {
		ns_node_start(&x->r->nodes[2]);
		return;
	}
	for (uint32_t i = 0; i < x->r->n_nodes; i++)
		if (i != 2)
			world_reset(x->r->w, x->r->nodes[2].h, x->r->nodes[i].h);
	ns_isolate(x->r, 2, false);
}

/* From the placement on: nodes 1 and 2, listed again, wait outside the
 * shard to be added, believing no member that tells them they are not
 * one (they know); and their requests for it are not sent round between
 * them (a few per client in flight, not thousands). */
static void co_watch(void *arg)
{
	struct cut_off *x = arg;
	for (uint32_t i = 0; i < 2; i++) {
		const struct server *s = x->r->nodes[i].s;
		const struct group *g = s && s->n_shards > 1 ? s->groups[1] : NULL;
		/* a notice believed, then listed again at once: the
		 * configuration it was removed by moves */
		if (g && !x->relisted[i])
			x->relisted[i] = g->relisted_past;
		if (g && (g->removed_at || g->relisted_past != x->relisted[i]))
			ns_fail(x->r,
				"node %u believes again it was removed from shard 1 (at %llu), "
				"listed again",
				i + 1,
				(unsigned long long)(g->removed_at ? g->removed_at
								   : g->relisted_past));
		if (g && g->n_forwarded > 1000)
			ns_fail(x->r, "node %u has %u requests of shard 1 in flight", i + 1,
				g->n_forwarded);
	}
	/* node 4, taken off shard 1 before and not listed again, is not
	 * added (it asks nobody): not in the configuration of a member */
	for (uint32_t i = 0; i < 3; i++) {
		const struct server *s = x->r->nodes[i].s;
		const struct group *g = s && s->n_shards > 1 ? s->groups[1] : NULL;
		if (g && !g->outside && raft_config_find(raft_config_of(g->r), 4))
			ns_fail(x->r, "node %u's shard 1 has node 4, not listed", i + 1);
	}
	if (!x->r->failed && world_now_ns(x->r->w) < 10000 * MS)
		world_at(x->r->w, world_now_ns(x->r->w) + 50 * MS, co_watch, x);
}

/* Shard 1 is on nodes 1 and 2, both voters, and holds the key written
 * while it was on node 3; node 3 was stopped. */
static void co_check(void *arg)
{
	struct cut_off *x = arg;
	if (x->r->nodes[2].kind != NS_RETIRED)
		ns_fail(x->r, "scenario: node 3 never said it was out of the cluster (it "
			      "still leads shard 1?)");
	for (uint32_t i = 0; i < 2; i++) {
		const struct server *s = x->r->nodes[i].s;
		const struct raft_config *c =
			s && s->n_shards > 1 ? raft_config_of(s->groups[1]->r) : NULL;
		if (!c || c->n != 2 || !raft_config_is_voter(c, 1) || !raft_config_is_voter(c, 2))
			ns_fail(x->r,
				"scenario: node %u's shard 1 is not on nodes 1 and 2, both "
				"voters",
				i + 1);
	}
	ns_probe_send(x->p, "$1 v", "GET %s", x->key);
}

static void co_done(void *arg)
{
	struct cut_off *x = arg;
	ns_probe_done(x->p);
}

static void cut_off(struct ns_run *r, bool crash)
{
	r->p.nodes = 4;
	r->p.shards = 2;
	r->p.reshards = 0;
	r->p.run_ns = 14000 * MS;
	struct cut_off *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	x->crash = crash;
	ns_probe_key("co", 0, 8192, 16383, x->key, sizeof x->key);
	world_at(r->w, 1000 * MS, co_place_alone, x);
	world_at(r->w, 1500 * MS, co_write, x);
	world_at(r->w, 2500 * MS, co_away, x);
	world_at(r->w, 5000 * MS, co_place_all, x);
	world_at(r->w, 5100 * MS, co_watch, x);
	world_at(r->w, 5500 * MS, co_remove, x);
	world_at(r->w, 6500 * MS, co_back, x);
	world_at(r->w, 11000 * MS, co_check, x);
	world_at(r->w, 12500 * MS, co_done, x);
}

/* Four nodes of two shards; shard 1 placed on node 3 alone, which is
 * then cut off from the others; while it is, shard 1 is placed on nodes
 * 1-3 (not 4) and node 3 removed from the cluster; then it is back, what was
 * sent to it meanwhile lost. Told it was removed, node 3's metadata group
 * stops before the placement that lists the others: its map still says
 * shard 1 is its alone, so it adds nobody, and the nodes listed wait for
 * a leader to add them. Each asks node 3 (a leader out of the cluster) to
 * add it (conform.c, ask_to_join), waiting outside the shard meanwhile
 * (their copies of it, kept from before, name them: shards.c), and node 3
 * hands the shard to one of them once it is a voter, though its map lists
 * none (group.c). Before, node 3 led shard 1 alone for good, never said it
 * was out, and nodes 1 and 2 stayed outside (the random sharded seed
 * 44720: "members 1 and 3 applied different entries of group 2"). */
void ns_scen_placed_elsewhere_cut_off(struct ns_run *r)
{
	cut_off(r, false);
}

/* The same with node 3 crashed and started again: nodes 1 and 2, both
 * listed and outside, know no leader of the shard to send its requests
 * to, each the other's member to try; neither sends the other's on
 * (requests.c on_forward). Before, the two sent each request round
 * between them, tens of thousands in flight within seconds. */
void ns_scen_placed_elsewhere_down(struct ns_run *r)
{
	cut_off(r, true);
}

/* ---- a learner of a placed shard taken off it while down --------------- */

struct learner_off {
	struct ns_run *r;
	char key[16]; /* a key of shard 1 (slots 8192-16383 of --shards 2) */
	struct ns_probe *p;
};

/* The spare (node 4) started and added as a learner (AUTO: to be
 * promoted), the command sent to node `to`. */
static void start_spare_learner(struct ns_run *r, uint32_t to, bool auto_promote)
{
	struct ns_node *n = &r->nodes[3];
	char addr[40];
	snprintf(addr, sizeof addr, "%s:7379", host_ip(n->h));
	const char *const add[] = {"RAFT", "ADD-LEARNER", "4", addr, "AUTO"};
	n->kind = NS_ADDED;
	ns_node_start(n);
	ns_admin_expect(r, to, auto_promote ? 5 : 4, add, "+OK");
}

/* The spare (node 4) added as a learner (no AUTO): a learner of every
 * group once the metadata group's leader brought each shard to it. */
static void lo_add(void *arg)
{
	struct learner_off *x = arg;
	start_spare_learner(x->r, 0, false);
}

/* Node 4, a learner of shard 1, crashes; shard 1 is then placed on nodes
 * 1-3, whose leader drops node 4 from it while it is down. */
static void lo_crash(void *arg)
{
	struct learner_off *x = arg;
	const struct server *s = x->r->nodes[3].s;
	const struct raft_member *m =
		s && s->n_shards > 1 ? raft_config_find(raft_config_of(s->groups[1]->r), 4) : NULL;
	if (!m || m->role != RAFT_LEARNER)
		ns_fail(x->r, "scenario: node 4 is not a learner of shard 1 at 3 s");
	ns_node_crash(&x->r->nodes[3]);
}

static void lo_place(void *arg)
{
	struct learner_off *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "1", "1", "2", "3"};
	ns_admin_expect(x->r, 0, 5, place, "+OK");
}

/* Started again past the time the members tell a node it was dropped:
 * its copy still names it a learner, and nobody tells it otherwise. */
static void lo_restart(void *arg)
{
	struct learner_off *x = arg;
	ns_node_start(&x->r->nodes[3]);
}

/* Its clients' requests for shard 1 are served, through the nodes
 * listed. */
static void lo_ask(void *arg)
{
	struct learner_off *x = arg;
	x->p = ns_probe_open(x->r, "lo", 3);
	ns_probe_send(x->p, "+OK", "SET %s v", x->key);
	ns_probe_send(x->p, "$1 v", "GET %s", x->key);
}

static void lo_done(void *arg)
{
	struct learner_off *x = arg;
	ns_probe_done(x->p);
	const struct server *s = x->r->nodes[3].s;
	if (!s || s->n_shards < 2 || !s->groups[1]->outside)
		ns_fail(x->r, "node 4 is not outside shard 1, which is not placed on it");
}

/* Three nodes of two shards and a spare; the spare is added as a learner,
 * crashes, and, while it is down, shard 1 is placed on the three others
 * (its leader drops the learner). Started again 11 s later, past the 10 s
 * the members tell a dropped node, its copy of shard 1 names it a learner
 * still: a learner never campaigns, so no member answers it with a notice
 * (a voter's pre-votes would be). A learner the map does not list is
 * outside at once (server/shards.c), and sends the shard's requests to
 * the listed nodes. Before, it stayed a member that knew no leader: its
 * clients' requests for the shard timed out, and once healed it had
 * applied nothing of the shard (the random sharded seed 54850: "members
 * 1 and 4 applied different entries of group 2: 8 and 0"). */
void ns_scen_learner_taken_off_down(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.shards = 2;
	r->p.reshards = 0;
	r->p.run_ns = 19000 * MS;
	struct learner_off *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	ns_probe_key("lo", 0, 8192, 16383, x->key, sizeof x->key);
	world_at(r->w, 1000 * MS, lo_add, x);
	world_at(r->w, 3000 * MS, lo_crash, x);
	world_at(r->w, 3500 * MS, lo_place, x);
	world_at(r->w, 14500 * MS, lo_restart, x);
	world_at(r->w, 15500 * MS, lo_ask, x);
	world_at(r->w, 17500 * MS, lo_done, x);
}

/* ---- learner_restarts_unheard ---- */

struct unheard {
	struct ns_run *r;
	char key[16]; /* a key of shard 1 (slots 8192-16383 of --shards 2) */
	struct ns_probe *p;
	struct ns_node *cut; /* shard 0's leader, cut off from node 4 */
	bool crashed;
};

/* The node that leads shard g (NULL: none). */
static struct ns_node *shard_leader(struct ns_run *r, uint32_t g)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->n_shards > g && s->groups[g]->r &&
		    raft_role_of(s->groups[g]->r) == RAFT_LEADER)
			return &r->nodes[i];
	}
	return NULL;
}

/* Node 4 added as a learner, shard 0's leader cut off from it: shard 0
 * does not reach it, the metadata group does. */
static void uh_add(void *arg)
{
	struct unheard *x = arg;
	struct ns_node *n = &x->r->nodes[3];
	x->cut = shard_leader(x->r, 0);
	if (!x->cut || x->cut == meta_leader(x->r)) {
		ns_fail(x->r, "scenario: shard 0 has no leader, or the metadata group's, at 2 s");
		return;
	}
	world_tracef(x->r->w, "scenario: cut node %llu (shard 0's leader) off from node 4",
		     (unsigned long long)x->cut->id);
	world_cut(x->r->w, x->cut->h, n->h, true);
	start_spare_learner(x->r, 0, false);
}

/* Node 4 crashes as soon as the metadata group's leader has it matching
 * its whole log: no LIVE frame of node 4 may have reached that leader. */
static void uh_watch(void *arg)
{
	struct unheard *x = arg;
	struct ns_node *lead = meta_leader(x->r);
	raft_index match, next;
	if (x->crashed)
		return;
	if (!lead || !raft_progress_of(lead->s->meta->r, 4, &match, &next) ||
	    match != raft_last_index(lead->s->meta->r) ||
	    raft_commit_index(lead->s->meta->r) != match) {
		if (world_now_ns(x->r->w) > 4000 * MS)
			ns_fail(x->r, "scenario: node 4 never matched the metadata group's log");
		else
			world_at(x->r->w, world_now_ns(x->r->w) + MS, uh_watch, x);
		return;
	}
	const struct server *s = lead->s;
	for (uint32_t i = 0; i < s->n_heard; i++)
		if (s->heard[i].id == 4 && s->heard[i].incarnation)
			ns_fail(x->r,
				"scenario: node %llu had a LIVE frame of node 4 before it "
				"crashed (the case is not made)",
				(unsigned long long)lead->id);
	world_tracef(x->r->w, "scenario: crash node 4, which matches the metadata group's log");
	x->crashed = true;
	ns_node_crash(&x->r->nodes[3]);
}

static void uh_restart(void *arg)
{
	struct unheard *x = arg;
	struct ns_node *lead = meta_leader(x->r);
	if (!lead || !lead->s->meta->quiet)
		ns_fail(x->r, "scenario: the metadata group is not quiet at 6 s");
	ns_node_start(&x->r->nodes[3]);
}

/* Node 4 has applied the metadata group's log (its map), holds shard 1,
 * and serves its key. */
static void uh_check(void *arg)
{
	struct unheard *x = arg;
	struct ns_node *lead = meta_leader(x->r);
	const struct server *s = x->r->nodes[3].s;
	if (!lead || !s || !s->meta || !s->meta->r) {
		ns_fail(x->r, "scenario: no metadata group's leader, or node 4 not up, at 9 s");
		return;
	}
	if (raft_applied_index(s->meta->r) != raft_applied_index(lead->s->meta->r))
		ns_fail(x->r,
			"node 4 applied the metadata group's log to %llu, its leader to %llu "
			"(never told the commit index)",
			(unsigned long long)raft_applied_index(s->meta->r),
			(unsigned long long)raft_applied_index(lead->s->meta->r));
	world_cut(x->r->w, x->cut->h, x->r->nodes[3].h, false);
	x->p = ns_probe_open(x->r, "uh", 3);
	ns_probe_send(x->p, "+OK", "SET %s v", x->key);
	ns_probe_send(x->p, "$1 v", "GET %s", x->key);
}

static void uh_done(void *arg)
{
	struct unheard *x = arg;
	ns_probe_done(x->p);
}

/* Three nodes of two shards and a spare added as a learner, with shard
 * 0's leader cut off from it (shard 0 does not reach it; the metadata
 * group does), crashed as soon as the metadata group's leader has it
 * matching the whole log, and started again once that group is quiet. The
 * commit index it had heard died with it, and only the leader's next
 * message brings it: the quiet leader must wake for it. It did on a LIVE
 * frame with a new incarnation only, and node 4's were sent to the
 * members of its first shard's configuration, empty while shard 0 has not
 * reached it: none came before the crash, and the first after it was
 * counted as no restart. Node 4 never applied the metadata group's log
 * nor opened the shards it adds (the random sharded seed 67830: "members
 * 1 and 4 applied different entries of group 2: 4 and 0"). The cut is
 * healed at 9 s, after the check. */
void ns_scen_learner_restarts_unheard(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.shards = 2;
	r->p.reshards = 0;
	r->p.run_ns = 12000 * MS;
	struct unheard *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	ns_probe_key("uh", 0, 8192, 16383, x->key, sizeof x->key);
	world_at(r->w, 2000 * MS, uh_add, x);
	world_at(r->w, 2000 * MS + 1, uh_watch, x);
	world_at(r->w, 6000 * MS, uh_restart, x);
	world_at(r->w, 9000 * MS, uh_check, x);
	world_at(r->w, 11000 * MS, uh_done, x);
}

/* ---- deposed_driver_reads_old_members ---- */

struct deposed {
	struct ns_run *r;
	uint32_t paused;     /* the metadata group's leader, paused */
	struct ns_node *cut; /* the metadata group's next leader, cut off from it */
	bool added[3];	     /* node 4 seen in node i's copy of shard 0's configuration */
};

/* The metadata group's leader is paused for 3 s: the others elect
 * another, which is asked to add node 4 meanwhile. */
static void dd_pause(void *arg)
{
	struct deposed *x = arg;
	struct ns_node *m = meta_leader(x->r);
	if (!m) {
		ns_fail(x->r, "scenario: no node leads the metadata group at 1.5 s");
		return;
	}
	x->paused = (uint32_t)(m - x->r->nodes);
	struct ns_node *l0 = shard_leader(x->r, 0);
	if (!l0 || l0 == m) {
		ns_fail(x->r, "scenario: shard 0 has no leader, or the metadata group's, at 4.5 s");
		return;
	}
	/* cut off from the third node, which is to lead the metadata group
	 * next: it hears nothing of the new term once running again, and
	 * still reaches shard 0's leader */
	x->cut = &x->r->nodes[3 - x->paused - (uint32_t)(l0 - x->r->nodes)];
	world_tracef(x->r->w,
		     "scenario: pause node %llu, which leads the metadata group, and cut it off "
		     "from node %llu",
		     (unsigned long long)m->id, (unsigned long long)x->cut->id);
	world_cut(x->r->w, m->h, x->cut->h, true);
	host_pause_until(m->h, world_now_ns(x->r->w) + 2400 * MS);
}

static void dd_add(void *arg)
{
	struct deposed *x = arg;
	struct ns_node *m = NULL; /* the paused node still says it leads */
	for (uint32_t i = 0; i < 3; i++) {
		const struct server *s = x->r->nodes[i].s;
		if (i != x->paused && s && s->meta && raft_role_of(s->meta->r) == RAFT_LEADER)
			m = &x->r->nodes[i];
	}
	if (m != x->cut) {
		ns_fail(x->r, "scenario: node %llu does not lead the metadata group at 6.3 s",
			(unsigned long long)x->cut->id);
		return;
	}
	start_spare_learner(x->r, (uint32_t)(m - x->r->nodes), true);
}

static void dd_heal(void *arg)
{
	struct deposed *x = arg;
	if (x->cut)
		world_cut(x->r->w, x->r->nodes[x->paused].h, x->cut->h, false);
}

/* Once a node's copy of shard 0 has node 4, it never drops it again. */
static void dd_watch(void *arg)
{
	struct deposed *x = arg;
	bool all = true;
	for (uint32_t i = 0; i < 3 && !x->r->failed; i++) {
		const struct server *s = x->r->nodes[i].s;
		if (!s || !s->n_shards || !s->groups[0]->r) {
			all = false;
			continue;
		}
		bool has = raft_config_find(raft_config_of(s->groups[0]->r), 4) != NULL;
		if (x->added[i] && !has)
			ns_fail(x->r,
				"node %u's shard 0 dropped node 4 (configuration at %llu), which "
				"the "
				"cluster has",
				i + 1, (unsigned long long)raft_config_index_of(s->groups[0]->r));
		x->added[i] = x->added[i] || has;
		all = all && x->added[i];
	}
	if (world_now_ns(x->r->w) < 12000 * MS)
		world_at(x->r->w, world_now_ns(x->r->w) + 10 * MS, dd_watch, x);
	else if (!all)
		ns_fail(x->r, "a node's copy of shard 0 never had node 4");
}

/* Three nodes of two shards and a spare, the metadata group quiet (the
 * clients write to the shards). The metadata group's leader is paused for 2.4 s and cut off from
 * the node that does not lead shard 0; that node is elected in its place and adds the spare to the
 * cluster and to each shard. The paused node, running again, still leads the metadata group in its
 * own eyes (a quiet leader that hears LIVE frames from a quorum's nodes does not tick), with a
 * committed configuration that lacks the spare: it asked shard 0's leader
 * to remove the spare, which did (a peer's change was taken as it came:
 * "node 1's shard 0 dropped node 4 (configuration at 189), which the
 * cluster has"); in the random sharded seed 95352 the spare believed the
 * notice and took no further part, and the next leader added it back to
 * no avail ("members applied different entries ... node 4: follower term
 * 2, log to 115"). A peer's change of a shard on every node is now
 * refused while the receiver's copy of the metadata group's configuration
 * (its newest) still has the member (older_driver, server/commands.c). */
void ns_scen_deposed_driver_reads_old_members(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.shards = 2;
	r->p.reshards = 0;
	r->p.run_ns = 13000 * MS;
	struct deposed *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	world_at(r->w, 4500 * MS, dd_pause, x);
	world_at(r->w, 6300 * MS, dd_add, x);
	world_at(r->w, 6300 * MS, dd_watch, x);
	world_at(r->w, 9500 * MS, dd_heal, x);
}

/* ---- a shard of two nodes, one of them never took part ----------------- */

struct never_led {
	struct ns_run *r;
	uint32_t lead, x, w, v; /* the metadata group's leader at 1 s; crashed; paused; another */
};

/* w0 [w1] and the ids of n nodes, asked of the metadata group's leader;
 * its reply must begin with expect. */
static void nl_ask(struct never_led *x, const char *expect, const char *w0, const char *w1, int n,
		   const uint32_t *nodes)
{
	char ids[3][24];
	const char *argv[5] = {w0, w1};
	int argc = w1 ? 2 : 1;
	for (int i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[0], "%llu",
			 (unsigned long long)x->r->nodes[nodes[i]].id);
		argv[argc++] = ids[i];
	}
	ns_admin_expect(x->r, x->lead, argc, argv, expect);
}

static void nl_crash(void *arg)
{
	struct never_led *x = arg;
	struct ns_node *l = meta_leader(x->r);
	if (!l) {
		ns_fail(x->r, "scenario: no leader of the metadata group at 1 s");
		return;
	}
	x->lead = (uint32_t)(l - x->r->nodes);
	x->x = (x->lead + 1) % 5;
	x->w = (x->lead + 2) % 5;
	x->v = (x->lead + 3) % 5;
	world_tracef(x->r->w, "scenario: crash node %llu, pause node %llu",
		     (unsigned long long)x->r->nodes[x->x].id,
		     (unsigned long long)x->r->nodes[x->w].id);
	ns_node_crash(&x->r->nodes[x->x]);
	host_pause_until(x->r->nodes[x->w].h, world_now_ns(x->r->w) + 2500 * MS);
}

static void nl_add_2(void *arg) /* on X and L */
{
	struct never_led *x = arg;
	nl_ask(x, ":2", "KEEL.ADDSHARD", NULL, 2, (uint32_t[]){x->x, x->lead});
}

static void nl_remove_x_refused(void *arg)
{
	struct never_led *x = arg;
	nl_ask(x, "-TRYAGAIN remove: shard 2 is placed on node", "RAFT", "REMOVE", 1, &x->x);
}

static void nl_add_3(void *arg) /* on X, W and L */
{
	struct never_led *x = arg;
	nl_ask(x, ":3", "KEEL.ADDSHARD", NULL, 3, (uint32_t[]){x->x, x->w, x->lead});
}

static void nl_add_4(void *arg) /* on X alone */
{
	struct never_led *x = arg;
	nl_ask(x, ":4", "KEEL.ADDSHARD", NULL, 1, &x->x);
}

static void nl_add_5(void *arg) /* on W and V */
{
	struct never_led *x = arg;
	nl_ask(x, ":5", "KEEL.ADDSHARD", NULL, 2, (uint32_t[]){x->w, x->v});
}

static void nl_remove_w_refused(void *arg)
{
	struct never_led *x = arg;
	nl_ask(x, "-TRYAGAIN remove: shard 5 is placed on node", "RAFT", "REMOVE", 1, &x->w);
}

static void nl_start(void *arg)
{
	struct never_led *x = arg;
	ns_node_start(&x->r->nodes[x->x]);
}

static void nl_remove_w(void *arg)
{
	struct never_led *x = arg;
	ns_admin(x->r, x->lead, "REMOVE", x->r->nodes[x->w].id); /* stopped once it says so */
}

static void nl_place_4(void *arg) /* on L */
{
	struct never_led *x = arg;
	nl_ask(x, "+OK", "KEEL.PLACESHARD", "4", 1, &x->lead);
}

static void nl_remove_x(void *arg)
{
	struct never_led *x = arg;
	ns_admin(x->r, x->lead, "REMOVE", x->r->nodes[x->x].id);
}

static void nl_led_alone(struct never_led *x, uint32_t node, uint32_t shard)
{
	const struct ns_node *n = &x->r->nodes[node];
	const struct group *g = n->s && n->s->n_shards > shard ? n->s->groups[shard] : NULL;
	if (!g || raft_role_of(g->r) != RAFT_LEADER || raft_config_of(g->r)->n != 1)
		ns_fail(x->r, "node %llu does not lead shard %u alone", (unsigned long long)n->id,
			shard);
}

/* Nodes W and X out of the cluster, each stopped once it said so; shard
 * 2 led by L alone, shard 5 by V alone. */
static void nl_check(void *arg)
{
	struct never_led *x = arg;
	for (uint32_t i = 0; i < 2; i++) {
		const struct ns_node *n = &x->r->nodes[i ? x->x : x->w];
		if (n->kind != NS_RETIRED)
			ns_fail(x->r, "node %llu was not removed from the cluster and stopped",
				(unsigned long long)n->id);
	}
	nl_led_alone(x, x->lead, 2);
	nl_led_alone(x, x->v, 5);
}

/* Five nodes of two shards, L leading the metadata group. Node X crashes
 * and node W is paused (2.5 s). Shard 2 is added on X and L (two voters,
 * so no leader without X): X's removal is refused (-TRYAGAIN). In the
 * random sharded seed 111386, X, started again but cut off from the
 * metadata group's leader, was removed before it applied the entry that
 * added the shard; its other groups dropped it, it said "stop it" and was
 * stopped, and shard 2 never had a leader: a move to it never finished.
 * Then shards 3 (on X, W and L: three voters, none led), 4 (on X alone,
 * none led) and 5 (on W and V, none led; L, outside it, hears of its
 * leaders by LEADS frames) are added: W's removal is refused for shard 5,
 * not for shard 3 or 4. X started again takes part (it applies the
 * entries, opens the shards, votes), and W, running again, too: W's
 * removal is made, and, once shard 4 is placed on L, X's: each shard
 * drops the node, then the node says so. */
void ns_scen_pair_never_led(struct ns_run *r)
{
	r->p.nodes = 5;
	r->p.shards = 2;
	r->p.reshards = 0;
	r->p.run_ns = 13000 * MS;
	struct never_led *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	world_at(r->w, 1000 * MS, nl_crash, x);
	world_at(r->w, 1300 * MS, nl_add_2, x);
	world_at(r->w, 1500 * MS, nl_remove_x_refused, x);
	world_at(r->w, 1700 * MS, nl_add_3, x);
	world_at(r->w, 1850 * MS, nl_add_4, x);
	world_at(r->w, 2000 * MS, nl_add_5, x);
	world_at(r->w, 2200 * MS, nl_remove_w_refused, x);
	world_at(r->w, 2500 * MS, nl_start, x);
	world_at(r->w, 4500 * MS, nl_remove_w, x);
	world_at(r->w, 5000 * MS, nl_place_4, x);
	world_at(r->w, 6000 * MS, nl_remove_x, x);
	world_at(r->w, 12000 * MS, nl_check, x);
}
