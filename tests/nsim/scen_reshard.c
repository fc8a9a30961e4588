/* tests/nsim/scen_reshard.c — online slot migration's windows, set up as
 * scenarios on 3 nodes of 3 shards (the metadata group led by node 2, its
 * preferred voter; shard i by node i + 1), with the run's clients writing
 * and reading all along (their history is checked as every seed's):
 *
 *   reshard_resumes_after_driver_crash  the node driving a move crashes
 *       while it copies; the next leader of the metadata group resumes
 *       the move at a newer epoch, and every key (big ones, copied in
 *       several batches) is read back from the target on every node
 *   reshard_resumes_a_piece             a move in pieces of one slot of
 *       keys: its driver crashes after the source released a piece past
 *       the first, before the target accepted it; the next driver resumes
 *       at that piece, and every key is read back from the target
 *   reshard_release_waits_for_the_copy  the copy's batch is held in a cut
 *       link to the target's leader, then lost as the driver and the
 *       target's leader crash: the source has not released (it waits for
 *       the batch to be applied), so the next driver copies again and no
 *       key is lost
 *   reshard_late_flip_refused           a FLIP of the move before, arriving
 *       late (as a member's forward) while the next move is under way, is
 *       refused by its version: the next move's slots do not change hands
 *       before their copy
 *   reshard_keeps_sessions              a write the source applied, resent
 *       in its session after its slot moved, is answered at the target
 *       with its reply, not applied again (the sessions came with the copy)
 *   reshard_holds_plain_writes          plain connections (no CLIENT
 *       SESSION: every workload client, and probes on each node) write
 *       keys of the slots being moved while the source copies them: each
 *       write is held (server/retry.c) and, once its slot is the target's,
 *       applied there, answered in its connection's order (a pipeline of
 *       SET, INCR, SET, GET), once; no plain write is answered -TRYAGAIN,
 *       the workload's history is checked linearizable as every seed's,
 *       and the held keys are read back from the target on every node
 *   reshard_gives_up_held_requests      a move stalled past the request
 *       timeout (the copy's link cut for 7 s): a held plain write is sent
 *       again at the backoff's pace and answered -TRYAGAIN at its timeout,
 *       not sooner, as is one whose pipeline's next write, of a slot not
 *       moved, is refused behind it and applied after it; the writes of
 *       cluster-aware and session connections get it at
 *       once, and their next write, of a slot not moved, is applied (a
 *       PING answered behind one does not give it up); plain transactions
 *       held until the move is done are applied
 *       at the target, or given up at once if they now span two shards
 *   reshard_stops_with_held_requests    the source's leader stopped
 *       (SIGTERM) while it holds a plain write: it gives the write up (or
 *       its connection is closed) and stops; the move goes on without it
 *   reshard_answers_ask                 the moment node 1's copy of the
 *       target has accepted the slots while its map still names the
 *       source, node 1 is cut from the driver (it hears no flip): a
 *       cluster-aware write of a moved key there is answered -ASK with the
 *       target's leader, sent with ASKING it is -MOVED there (the target's
 *       leader), ASKING and the write at the target applies it, ASKING and
 *       a read at node 1 read it from the target's copy; without ASKING
 *       -ASK again; once healed every node reads it
 *   reshard_multikey_ask                the same with only the key's slot
 *       moved: a read of a key of another slot of the source and the moved
 *       key together (MGET) is -ASK for the moved key's slot, not served
 *       from the source's copy, which no longer holds the key
 *   cluster_topology                    each node's CLUSTER INFO, NODES and
 *       SHARDS with the leaders spread: every member once, each a master
 *       of the ranges of the shards it leads, its own offsets above 0
 *   shard_added                         KEEL.ADDSHARD naming a stranger or a
 *       voter twice is refused; naming every voter adds shard 3 on every
 *       node, which a move then gives slots
 *   shard_placed                        a shard placed on nodes 2-4 of four
 *       is given slots and served through node 1, outside it, also when
 *       the member node 1 sends to (its leader, from LEADS) crashes; node 1
 *       never holds its data;
 *       slots moved out of it by a node that holds it; a second shard
 *       on nodes 3 and 4 given slots and giving some back
 *   shard_replaced                      KEEL.PLACESHARD puts a node on a
 *       placed shard, moves it off its leader (handed over first) onto a
 *       node outside it, and back: each node listed a voter with the
 *       keys, each other serving them through those
 *   shard_every_placed                  shards on every node placed on some
 *       (one off its leader): the nodes taken off serve them through the
 *       others, one also after a restart; shard 0 refused
 *   reshard_unreached                   KEEL.RESHARD asked of a node outside
 *       the source while none of its members is reachable: refused, not
 *       registered; registered through a member once they are back
 *   shard_placed_while_down             a node down while a shard is placed
 *       on a node added meanwhile: restarted, it believes that node's
 *       notice that it was removed, and serves the shard through it
 *   shard_placed_long_down              the same, down for longer than the
 *       members tell a removed node: its pre-votes reach the node the map
 *       lists, which tells it
 *
 * Each ends with the checks of every seed (nodes agreeing, every slot
 * served by exactly the shard the map names, no stray key: reshard.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "nsim/nsim.h"

#define MS	  1000000ull
#define BIG	  60000 /* bytes a big key holds: a copy batch takes about four */
#define N_BIG	  8
#define N_SMALL	  16
#define META_LEAD 1 /* node 2 (index 1): the metadata group's preferred voter */

struct mv {
	struct ns_run *r;
	char big[N_BIG][16], small[N_SMALL][16];
	struct ns_probe *w, *rd[3];
	bool done;	 /* the fault was set off */
	bool small_only; /* no big keys: the copy is one batch */
	uint64_t until_ns;
	uint64_t version; /* late_flip: the map's version the first move flipped */
};

/* The (skip+1)-th key m<n> of shard 0's range (0-5460 of 3). */
static void key_of_shard0(uint32_t skip, char *out, size_t cap)
{
	for (uint32_t n = 0;; n++) {
		snprintf(out, cap, "m%u", n);
		if (kv_slot((const uint8_t *)out, strlen(out)) <= kv_slot_range_last(0, 3) &&
		    !skip--)
			return;
	}
}

static struct mv *mv_new(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.shards = 3;
	r->p.run_ns = 14000 * MS;
	struct mv *m = ns_alloc(r, sizeof *m);
	memset(m, 0, sizeof *m);
	m->r = r;
	for (uint32_t i = 0; i < N_BIG + N_SMALL; i++)
		key_of_shard0(i, i < N_BIG ? m->big[i] : m->small[i - N_BIG], 16);
	return m;
}

static void mv_write(void *arg)
{
	struct mv *m = arg;
	m->w = ns_probe_open(m->r, "writer", 0);
	for (uint32_t i = 0; i < N_BIG && !m->small_only; i++)
		ns_probe_set_big(m->w, "+OK", m->big[i], BIG);
	for (uint32_t i = 0; i < N_SMALL; i++)
		ns_probe_send(m->w, "+OK", "SET %s %u", m->small[i], i);
}

static void mv_reshard(void *arg)
{
	struct mv *m = arg;
	const char *argv[] = {"KEEL.RESHARD", "0", "5460", "2"};
	ns_admin_expect(m->r, 2, 4, argv, "+OK");
}

/* Every key read back from every node, at the target now. */
static void mv_read(void *arg)
{
	struct mv *m = arg;
	char want[24];
	snprintf(want, sizeof want, "$%u", BIG);
	for (uint32_t n = 0; n < 3; n++) {
		m->rd[n] = ns_probe_open(m->r, "reader", n);
		for (uint32_t i = 0; i < N_BIG && !m->small_only; i++)
			ns_probe_send(m->rd[n], want, "GET %s", m->big[i]);
		for (uint32_t i = 0; i < N_SMALL; i++) {
			char v[24];
			snprintf(v, sizeof v, "$%u %u", i < 10 ? 1 : 2, i);
			ns_probe_send(m->rd[n], v, "GET %s", m->small[i]);
		}
	}
	struct server *s = m->r->nodes[0].s;
	if (s && s->meta && kv_slots_of(&s->meta->kv)->owner[0] != 2)
		ns_fail(m->r, "scenario: slot 0 is shard %u's after the move, not shard 2's",
			kv_slots_of(&s->meta->kv)->owner[0]);
}

static void mv_done(void *arg)
{
	struct mv *m = arg;
	if (m->w)
		ns_probe_done(m->w);
	for (uint32_t n = 0; n < 3; n++)
		if (m->rd[n])
			ns_probe_done(m->rd[n]);
	if (!m->done)
		ns_fail(m->r, "scenario: the fault it is about never happened");
}

/* The node driving the move, if its step now is the phase given. */
static int32_t driving(struct ns_run *r, const char *phase)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->meta && s->migrate && !strcmp(migrate_phase(s), phase))
			return (int32_t)i;
	}
	return -1;
}

/* The node driving the move, if it is copying now. */
static int32_t copying(struct ns_run *r)
{
	return driving(r, "copy");
}

static void restart(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s)
		ns_node_start(n);
}

/* ---- the driver crashes mid-copy ------------------------------------------ */

static void crash_driver(void *arg)
{
	struct mv *m = arg;
	struct ns_run *r = m->r;
	int32_t d = copying(r);
	if (m->done || d < 0) {
		if (!m->done && world_now_ns(r->w) < m->until_ns)
			world_at(r->w, world_now_ns(r->w) + 200000, crash_driver, m);
		return;
	}
	m->done = true;
	world_tracef(r->w, "scenario: node %u crashes while it copies", (unsigned)d + 1);
	ns_node_crash(&r->nodes[d]);
	world_at(r->w, world_now_ns(r->w) + 700 * MS, restart, &r->nodes[d]);
}

void ns_scen_reshard_resumes_after_driver_crash(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	m->until_ns = 4000 * MS;
	world_at(r->w, 1500 * MS, mv_write, m);
	world_at(r->w, 2500 * MS, mv_reshard, m);
	world_at(r->w, 2500 * MS, crash_driver, m);
	world_at(r->w, 12000 * MS, mv_read, m);
	world_at(r->w, 13500 * MS, mv_done, m);
}

/* ---- a move in pieces resumes at a released piece -------------------------- */

/* The driver crashes once the source has released a piece past the first
 * (an earlier piece flipped: the map's moving range starts past slot 0)
 * and before the target accepted it: the next driver finds the piece
 * released in its copy of the source and resumes there (kv_slots_run),
 * accepting and flipping it, then goes on piece by piece. */
static void crash_released(void *arg)
{
	struct mv *m = arg;
	struct ns_run *r = m->r;
	int32_t d = driving(r, "accept");
	const struct kv_slots *sl = d >= 0 ? kv_slots_of(&r->nodes[d].s->meta->kv) : NULL;
	if (m->done || !sl || !sl->moving || sl->first == 0) {
		if (!m->done && world_now_ns(r->w) < m->until_ns)
			world_at(r->w, world_now_ns(r->w) + 200000, crash_released, m);
		return;
	}
	m->done = true;
	world_tracef(r->w, "scenario: node %u crashes with slots %u.. released, not accepted",
		     (unsigned)d + 1, sl->first);
	ns_node_crash(&r->nodes[d]);
	world_at(r->w, world_now_ns(r->w) + 700 * MS, restart, &r->nodes[d]);
}

/* The move of shard 0's slots in pieces of one slot of keys
 * (--reshard-piece-kb 0), the driver crashed as above; every key read
 * back from the target on every node. */
void ns_scen_reshard_resumes_a_piece(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	r->p.pieces = true;
	m->until_ns = 6000 * MS;
	world_at(r->w, 1500 * MS, mv_write, m);
	world_at(r->w, 2500 * MS, mv_reshard, m);
	world_at(r->w, 2500 * MS, crash_released, m);
	world_at(r->w, 12000 * MS, mv_read, m);
	world_at(r->w, 13500 * MS, mv_done, m);
}

/* ---- the release waits for the copy ---------------------------------------- */

/* The moment node 2 (the driver) copies, its link to node 3 (the target's
 * leader) is cut: the batch is held in it. 300 ms later nodes 2 and 3
 * crash, and the held batch dies with their connection; the cut heals and
 * they come back. The source (led by node 1) must not have released
 * meanwhile: its keys are the only copy. */
static void crash_copier(void *arg);

static void cut_copy(void *arg)
{
	struct mv *m = arg;
	struct ns_run *r = m->r;
	if (m->done || copying(r) != META_LEAD) {
		if (!m->done && world_now_ns(r->w) < m->until_ns)
			world_at(r->w, world_now_ns(r->w) + 100000, cut_copy, m);
		return;
	}
	m->done = true;
	world_tracef(r->w, "scenario: node 2 copies: its link to node 3 is cut");
	world_cut(r->w, r->nodes[1].h, r->nodes[2].h, true);
	world_at(r->w, world_now_ns(r->w) + 300 * MS, crash_copier, m);
}

static void heal_copier(void *arg)
{
	struct mv *m = arg;
	world_cut(m->r->w, m->r->nodes[1].h, m->r->nodes[2].h, false);
}

/* Node 2 and node 3 crash with the batch still held between them: it is
 * lost with their connection. */
static void crash_copier(void *arg)
{
	struct mv *m = arg;
	struct ns_run *r = m->r;
	for (uint32_t i = 1; i < 3; i++) {
		ns_node_crash(&r->nodes[i]);
		world_at(r->w, world_now_ns(r->w) + 700 * MS, restart, &r->nodes[i]);
	}
	world_at(r->w, world_now_ns(r->w) + 200 * MS, heal_copier, m);
}

void ns_scen_reshard_release_waits_for_the_copy(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	m->small_only = true; /* one batch: the last */
	m->until_ns = 4000 * MS;
	world_at(r->w, 1500 * MS, mv_write, m);
	world_at(r->w, 2500 * MS, mv_reshard, m);
	world_at(r->w, 2500 * MS, cut_copy, m);
	world_at(r->w, 12000 * MS, mv_read, m);
	world_at(r->w, 13500 * MS, mv_done, m);
}

/* ---- a late FLIP ------------------------------------------------------------ */

/* Once the first move (0-5460 to shard 2) is flipped, a second begins
 * (10923-12000, shard 2's, to shard 1); the moment the metadata group's
 * leader has it, the first move's FLIP arrives again. */
static void second_move(void *arg)
{
	struct mv *m = arg;
	struct server *s = m->r->nodes[META_LEAD].s;
	const struct kv_slots *sl = s && s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	if (!sl || sl->moving || sl->owner[0] != 2) {
		ns_fail(m->r, "scenario: the first move is not done at 9 s");
		return;
	}
	m->version = sl->version - 1;
	const char *argv[] = {"KEEL.RESHARD", "10923", "12000", "1"};
	ns_admin_expect(m->r, META_LEAD, 4, argv, "+OK");
}

static void late_flip(void *arg)
{
	struct mv *m = arg;
	struct ns_run *r = m->r;
	struct server *s = r->nodes[META_LEAD].s;
	const struct kv_slots *sl = s && s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	if (!m->done && sl && sl->moving && sl->first == 10923) {
		m->done = true;
		char v[24];
		snprintf(v, sizeof v, "%llu", (unsigned long long)m->version);
		const char *argv[] = {"KEEL.SLOTS", "FLIP", v};
		ns_peer_forward_write(r, META_LEAD, 3, SERVER_META_GROUP, argv, 3);
	} else if (!m->done && world_now_ns(r->w) < m->until_ns) {
		world_at(r->w, world_now_ns(r->w) + 100000, late_flip, m);
	}
}

void ns_scen_reshard_late_flip_refused(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	m->until_ns = 10000 * MS;
	world_at(r->w, 1500 * MS, mv_write, m);
	world_at(r->w, 2500 * MS, mv_reshard, m);
	world_at(r->w, 9000 * MS, second_move, m);
	world_at(r->w, 9000 * MS, late_flip, m);
	world_at(r->w, 12000 * MS, mv_read, m);
	world_at(r->w, 13500 * MS, mv_done, m);
}

/* ---- exactly-once across a move ---------------------------------------------- */

struct once {
	struct ns_run *r;
	char moved[16], stays[16]; /* a key of shard 0 (moved), one of shard 1 */
	struct ns_probe *a, *b;
};

/* A connection with a session: SET of a key that stays, INCR of one that
 * moves; both answered. */
static void once_write(void *arg)
{
	struct once *o = arg;
	o->a = ns_probe_open(o->r, "first", 0);
	ns_probe_send(o->a, "*2 :", "CLIENT SESSION");
	ns_probe_send(o->a, "+OK", "SET %s 1", o->stays);
	ns_probe_send(o->a, ":1", "INCR %s", o->moved);
}

/* After the move, the session resumed at the SET, as a client whose
 * replies were lost resends both: the SET answered from the shard it
 * stayed on, then the INCR, at the shard it moved to, answered with its
 * reply (the source's session came with the keys), not applied again. */
static void once_resend(void *arg)
{
	struct once *o = arg;
	unsigned long long id, seq;
	const char *got = ns_probe_reply(o->a, 0);
	if (!got || sscanf(got, "*2 :%llu :%llu", &id, &seq) != 2) {
		ns_fail(o->r, "scenario: CLIENT SESSION was not answered");
		return;
	}
	struct server *s = o->r->nodes[0].s;
	uint16_t slot = kv_slot((const uint8_t *)o->moved, strlen(o->moved));
	if (!s || !s->meta || kv_slots_of(&s->meta->kv)->owner[slot] != 2) {
		ns_fail(o->r, "scenario: the move was not done at 8 s");
		return;
	}
	o->b = ns_probe_open(o->r, "resumed", 1);
	ns_probe_send(o->b, "+OK", "CLIENT SESSION %llu %llu", id, seq);
	ns_probe_send(o->b, "+OK", "SET %s 1", o->stays);
	ns_probe_send(o->b, ":1", "INCR %s", o->moved);
	ns_probe_send(o->b, "$1 1", "GET %s", o->moved);
}

static void once_done(void *arg)
{
	struct once *o = arg;
	if (o->a)
		ns_probe_done(o->a);
	if (o->b)
		ns_probe_done(o->b);
}

void ns_scen_reshard_keeps_sessions(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	struct once *o = ns_alloc(r, sizeof *o);
	memset(o, 0, sizeof *o);
	o->r = r;
	key_of_shard0(0, o->moved, sizeof o->moved);
	for (uint32_t n = 0;; n++) { /* a key of shard 1 (5461-10922) */
		snprintf(o->stays, sizeof o->stays, "st%u", n);
		uint16_t slot = kv_slot((const uint8_t *)o->stays, strlen(o->stays));
		if (slot > kv_slot_range_last(0, 3) && slot <= kv_slot_range_last(1, 3))
			break;
	}
	m->done = true; /* no fault of its own */
	world_at(r->w, 1500 * MS, once_write, o);
	world_at(r->w, 2500 * MS, mv_reshard, m);
	world_at(r->w, 8000 * MS, once_resend, o);
	world_at(r->w, 13000 * MS, once_done, o);
}

/* ---- -ASK between accept and flip --------------------------------------------- */

struct ask {
	struct ns_run *r;
	char key[16], want_ask[24], want_moved[24], want_tryagain[64];
	char other[16], lookalike[64]; /* a key of shard 1, whose value reads like a refusal */
	uint16_t slot;
	struct ns_probe *first, *src, *dst, *later, *rd[3];
	bool done;
	uint64_t at_ns;
	/* reshard_multikey_ask: only the key's slot moves; stay, a key of
	 * another slot of shard 0, stays */
	bool partial;
	char stay[16], slot_arg[8];
	struct ns_probe *multi;
};

static void ask_heal(void *arg)
{
	struct ask *a = arg;
	world_cut(a->r->w, a->r->nodes[0].h, a->r->nodes[1].h, false);
}

/* ASKING and a read at node 1: from the target's copy; without: -ASK. */
static void ask_read(void *arg)
{
	struct ask *a = arg;
	a->later = ns_probe_open(a->r, "ask-later", 0);
	ns_probe_send(a->later, "+OK", "READWRITE");
	ns_probe_send(a->later, "+OK", "ASKING");
	ns_probe_send(a->later, "$1 b", "GET %s", a->key);
	ns_probe_send(a->later, a->want_ask, "GET %s", a->key);
	/* a transaction is never redirected (a client cannot follow -ASK
	 * with one): -TRYAGAIN */
	ns_probe_send(a->later, "+OK", "MULTI");
	ns_probe_send(a->later, "+QUEUED", "SET %s c", a->key);
	ns_probe_send(a->later, "+QUEUED", "SET %s d", a->key);
	ns_probe_send(a->later, a->want_tryagain, "EXEC");
	/* a value is a value, whatever it reads like */
	char want[96];
	snprintf(want, sizeof want, "$%zu %s", strlen(a->lookalike), a->lookalike);
	ns_probe_send(a->later, want, "GET %s", a->other);
}

/* Waits for node 1's copy of shard 2 to hold the slot while its map
 * names shard 0; then cuts node 1 from the driver (node 2) and asks. */
static void ask_watch(void *arg)
{
	struct ask *a = arg;
	struct ns_run *r = a->r;
	struct server *s = r->nodes[0].s;
	bool open = s && s->meta && s->n_shards == 3 &&
		    kv_slots_of(&s->groups[2]->kv)->state[a->slot] == KV_SLOT_OWNED &&
		    kv_slots_of(&s->meta->kv)->owner[a->slot] == 0;
	if (!open) {
		if (world_now_ns(r->w) < 8000 * MS)
			world_at(r->w, world_now_ns(r->w) + 50000, ask_watch, a);
		return;
	}
	a->done = true;
	a->at_ns = world_now_ns(r->w);
	world_tracef(r->w,
		     "scenario: node 1 holds slot %u in shard 2, its map names shard 0: "
		     "cut from node 2",
		     (unsigned)a->slot);
	world_cut(r->w, r->nodes[0].h, r->nodes[1].h, true);
	world_at(r->w, a->at_ns + 1500 * MS, ask_heal, a);
	world_at(r->w, a->at_ns + 400 * MS, ask_read, a);
	a->src = ns_probe_open(r, "ask-source", 0);
	ns_probe_send(a->src, "+OK", "READWRITE");
	ns_probe_send(a->src, a->want_ask, "SET %s b", a->key);
	ns_probe_send(a->src, "+OK", "ASKING");
	ns_probe_send(a->src, a->want_moved, "SET %s b", a->key);
	a->dst = ns_probe_open(r, "ask-target", 2);
	ns_probe_send(a->dst, "+OK", "READWRITE");
	ns_probe_send(a->dst, "+OK", "ASKING");
	ns_probe_send(a->dst, "+OK", "SET %s b", a->key);
	if (a->partial) { /* a read of both: refused for the moved one's slot */
		a->multi = ns_probe_open(r, "ask-multi", 0);
		ns_probe_send(a->multi, "+OK", "READWRITE");
		ns_probe_send(a->multi, a->want_ask, "MGET %s %s", a->stay, a->key);
		ns_probe_send(a->multi, "$1 s", "GET %s", a->stay);
	}
}

static void ask_write(void *arg)
{
	struct ask *a = arg;
	a->first = ns_probe_open(a->r, "ask-first", 0);
	ns_probe_send(a->first, "+OK", "SET %s a", a->key);
	const char *set[] = {"SET", a->other, a->lookalike};
	ns_probe_send_argv(a->first, "+OK", 3, set);
	if (a->partial)
		ns_probe_send(a->first, "+OK", "SET %s s", a->stay);
}

static void ask_write_done(void *arg)
{
	struct ask *a = arg;
	ns_probe_done(a->first);
	a->first = NULL;
}

static void ask_check(void *arg)
{
	struct ask *a = arg;
	for (uint32_t n = 0; n < 3; n++) {
		a->rd[n] = ns_probe_open(a->r, "ask-reader", n);
		ns_probe_send(a->rd[n], "$1 b", "GET %s", a->key);
	}
}

static void ask_done(void *arg)
{
	struct ask *a = arg;
	struct ns_probe *all[] = {a->src, a->dst, a->later, a->rd[0], a->rd[1], a->rd[2], a->multi};
	for (uint32_t i = 0; i < sizeof all / sizeof *all; i++)
		if (all[i])
			ns_probe_done(all[i]);
	if (!a->done)
		ns_fail(a->r,
			"scenario: node 1 never held the slot in shard 2 before its map flipped");
}

static void ask_reshard_slot(void *arg)
{
	struct ask *a = arg;
	const char *argv[] = {"KEEL.RESHARD", a->slot_arg, a->slot_arg, "2"};
	ns_admin_expect(a->r, 2, 4, argv, "+OK");
}

static void answers_ask(struct ns_run *r, bool partial)
{
	struct mv *m = mv_new(r);
	struct ask *a = ns_alloc(r, sizeof *a);
	memset(a, 0, sizeof *a);
	a->r = r;
	a->partial = partial;
	key_of_shard0(0, a->key, sizeof a->key);
	a->slot = kv_slot((const uint8_t *)a->key, strlen(a->key));
	snprintf(a->want_ask, sizeof a->want_ask, "-ASK %u ", (unsigned)a->slot);
	snprintf(a->want_moved, sizeof a->want_moved, "-MOVED %u ", (unsigned)a->slot);
	snprintf(a->want_tryagain, sizeof a->want_tryagain,
		 "-TRYAGAIN slot %u is served by another shard", (unsigned)a->slot);
	/* its bulk reply's bytes past the 15 of "-TRYAGAIN slot " read as the
	 * refusal of the moved slot */
	snprintf(a->lookalike, sizeof a->lookalike, "0123456789%u is served by another shard",
		 (unsigned)a->slot);
	for (uint32_t n = 0;; n++) { /* a key of shard 1 (5461-10922) */
		snprintf(a->other, sizeof a->other, "o%u", n);
		uint16_t slot = kv_slot((const uint8_t *)a->other, strlen(a->other));
		if (slot > kv_slot_range_last(0, 3) && slot <= kv_slot_range_last(1, 3))
			break;
	}
	if (partial) /* a key of shard 0 in a slot past the key's */
		ns_probe_key("m", 0, (uint16_t)(a->slot + 1), (uint16_t)kv_slot_range_last(0, 3),
			     a->stay, sizeof a->stay);
	snprintf(a->slot_arg, sizeof a->slot_arg, "%u", (unsigned)a->slot);
	m->small_only = true;
	m->done = true; /* its own check is ask_done's */
	world_at(r->w, 1500 * MS, ask_write, a);
	world_at(r->w, 2500 * MS, partial ? ask_reshard_slot : mv_reshard, partial ? (void *)a : m);
	world_at(r->w, 2000 * MS, ask_write_done, a);
	world_at(r->w, 2500 * MS, ask_watch, a);
	world_at(r->w, 11000 * MS, ask_check, a);
	world_at(r->w, 13500 * MS, ask_done, a);
}

void ns_scen_reshard_answers_ask(struct ns_run *r)
{
	answers_ask(r, false);
}

void ns_scen_reshard_multikey_ask(struct ns_run *r)
{
	answers_ask(r, true);
}

/* ---- the CLUSTER commands' view of the shards -------------------------------------- */

struct topo {
	struct ns_run *r;
	struct ns_probe *p[3];
};

static void topo_ask(void *arg)
{
	struct topo *t = arg;
	for (uint32_t n = 0; n < 3; n++) {
		t->p[n] = ns_probe_open(t->r, "topology", n);
		ns_probe_send(t->p[n], "$", "CLUSTER INFO");
		ns_probe_send(t->p[n], "$", "CLUSTER NODES");
		ns_probe_send(t->p[n], "*3 ", "CLUSTER SHARDS");
		ns_probe_send(t->p[n], "+PONG", "PING"); /* the reply before was whole */
	}
}

static uint32_t count_of(const char *text, const char *what)
{
	uint32_t k = 0;
	for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
		k++;
	return k;
}

/* Node n's CLUSTER NODES: each member once, n as myself, each node a
 * master of the slot ranges of the shards it leads (a slave if none). */
static void topo_nodes(struct ns_run *r, uint32_t n, const char *got, const uint64_t *lead)
{
	for (uint32_t j = 0; j < 3; j++) {
		char id[41], range[32], line[1024];
		addr_node_id(r->nodes[j].id, id);
		const char *at = strstr(got, id);
		if (count_of(got, id) != 1 || !at) {
			ns_fail(r, "scenario: node %u's CLUSTER NODES names node %u %u times",
				n + 1, j + 1, count_of(got, id));
			return;
		}
		size_t len = strcspn(at, "\n?");
		snprintf(line, sizeof line, "%.*s", (int)len, at);
		bool leads = false;
		for (uint32_t k = 0; k < 3; k++) {
			if (lead[k] != r->nodes[j].id)
				continue;
			leads = true;
			snprintf(range, sizeof range, " %u-%u",
				 k ? kv_slot_range_last(k - 1, 3) + 1 : 0,
				 kv_slot_range_last(k, 3));
			if (!strstr(line, range))
				ns_fail(r,
					"scenario: node %u's CLUSTER NODES line of node %u "
					"lacks%s: %s",
					n + 1, j + 1, range, line);
		}
		bool myself = strstr(line, "myself,") != NULL;
		if (myself != (j == n) || !strstr(line, leads ? "master " : "slave ") ||
		    !strstr(line, " connected"))
			ns_fail(r, "scenario: node %u's CLUSTER NODES line of node %u: %s", n + 1,
				j + 1, line);
	}
}

/* Node n's CLUSTER SHARDS: three shards of three nodes, n's own entry in
 * each with its applied offset (above 0), each shard's master (its first
 * node) with one above 0 too. */
static void topo_shards(struct ns_run *r, uint32_t n, const char *got)
{
	char mine[41];
	addr_node_id(r->nodes[n].id, mine);
	uint32_t entries = 0, own = 0;
	for (const char *p = strstr(got, "$2 id $40 "); p; p = strstr(p + 1, "$2 id $40 ")) {
		const char *off = strstr(p, "replication-offset :"), *role = strstr(p, "$4 role ");
		long long v = off ? atoll(off + strlen("replication-offset :")) : -1;
		if (role && !strncmp(role, "$4 role $6 master", 17) && v <= 0)
			ns_fail(r, "scenario: node %u's CLUSTER SHARDS gives a master offset %lld",
				n + 1, v);
		entries++;
		if (!strncmp(p + strlen("$2 id $40 "), mine, 40)) {
			own++;
			if (v <= 0)
				ns_fail(r,
					"scenario: node %u's CLUSTER SHARDS gives itself offset "
					"%lld",
					n + 1, v);
		}
	}
	if (entries != 9 || own != 3)
		ns_fail(r, "scenario: node %u's CLUSTER SHARDS has %u node entries, %u its own: %s",
			n + 1, entries, own, got);
}

static void topo_check(void *arg)
{
	struct topo *t = arg;
	struct ns_run *r = t->r;
	uint64_t lead[3];
	uint32_t masters = 0;
	for (uint32_t k = 0; k < 3; k++) {
		lead[k] = 0;
		for (uint32_t n = 0; n < 3; n++) {
			struct server *s = r->nodes[n].s;
			if (s && s->n_shards == 3 && raft_role_of(s->groups[k]->r) == RAFT_LEADER)
				lead[k] = r->nodes[n].id;
		}
		bool seen = false;
		for (uint32_t j = 0; j < k; j++)
			seen = seen || lead[j] == lead[k];
		masters += lead[k] && !seen;
		if (!lead[k])
			ns_fail(r, "scenario: shard %u has no leader at 6.5 s", k);
	}
	for (uint32_t n = 0; n < 3; n++) {
		const char *info = ns_probe_reply(t->p[n], 0), *nodes = ns_probe_reply(t->p[n], 1);
		const char *shards = ns_probe_reply(t->p[n], 2);
		if (!info || !nodes || !shards) {
			ns_fail(r, "scenario: node %u did not answer the CLUSTER commands", n + 1);
			continue;
		}
		char size[32];
		snprintf(size, sizeof size, "cluster_size:%u ", masters);
		if (!strstr(info, "cluster_state:ok ") ||
		    !strstr(info, "cluster_slots_ok:16384 ") ||
		    !strstr(info, "cluster_known_nodes:3 ") || !strstr(info, size))
			ns_fail(r, "scenario: node %u's CLUSTER INFO (%s expected): %s", n + 1,
				size, info);
		topo_nodes(r, n, nodes, lead);
		topo_shards(r, n, shards);
		ns_probe_done(t->p[n]);
	}
}

/* Three nodes of three shards, leaders spread: each node's CLUSTER INFO,
 * NODES and SHARDS as a cluster client reads them (the workload writes
 * meanwhile, no fault). */
void ns_scen_cluster_topology(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	m->done = true;
	struct topo *t = ns_alloc(r, sizeof *t);
	memset(t, 0, sizeof *t);
	t->r = r;
	world_at(r->w, 6000 * MS, topo_ask, t);
	world_at(r->w, 6500 * MS, topo_check, t);
}

/* ---- a shard added --------------------------------------------------------------- */

static void add_checked(void *arg)
{
	struct ns_run *r = arg;
	static const char *const stranger[] = {"KEEL.ADDSHARD", "1", "2", "9"};
	static const char *const twice[] = {"KEEL.ADDSHARD", "1", "1", "2"};
	static const char *const more[] = {"KEEL.ADDSHARD", "1", "2", "3", "1"};
	ns_admin_expect(r, 1, 4, stranger, "-ERR a shard's members are voters");
	ns_admin_expect(r, 2, 4, twice, "-ERR a shard's members are voters");
	ns_admin_expect(r, 0, 5, more, "-ERR a shard's members are voters");
}

static void add_every(void *arg)
{
	struct ns_run *r = arg;
	static const char *const every[] = {"KEEL.ADDSHARD", "3", "1", "2"};
	ns_admin_expect(r, 0, 4, every, ":3");
}

static void add_moved(void *arg)
{
	struct ns_run *r = arg;
	static const char *const move[] = {"KEEL.RESHARD", "16000", "16383", "3"};
	ns_admin_expect(r, 1, 4, move, "+OK");
}

/* Each node holds the added shard, which now serves 16000-16383. */
static void add_check(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < 3; i++) {
		struct server *s = r->nodes[i].s;
		if (!s || s->n_shards != 4 || !s->meta ||
		    kv_slots_of(&s->meta->kv)->owner[16000] != 3)
			ns_fail(r, "scenario: node %u does not hold shard 3 serving slot 16000",
				i + 1);
	}
}

/* keel-cli shard add naming a stranger, or one voter twice, is refused
 * (fewer voters place the shard on them: shard_placed); naming every voter (in any order) adds
 * shard 3, which a move then gives slots 16000-16383 while the clients run. */
void ns_scen_shard_added(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	m->done = true;
	world_at(r->w, 2000 * MS, add_checked, r);
	world_at(r->w, 3000 * MS, add_every, r);
	world_at(r->w, 5000 * MS, add_moved, r);
	world_at(r->w, 12000 * MS, add_check, r);
}

/* ---- plain writes held across a move ----------------------------------------- */

struct plain_held {
	struct mv *m;
	char key[3][16], ctr[16]; /* keys of shard 0's range, the probes' own */
	struct ns_probe *p[3], *rd[3];
};

/* The (skip+1)-th key <prefix><n> of shard 0's range. */
static void prefixed_key_of_shard0(const char *prefix, uint32_t skip, char *out, size_t cap)
{
	for (uint32_t n = 0;; n++) {
		snprintf(out, cap, "%s%u", prefix, n);
		if (kv_slot((const uint8_t *)out, strlen(out)) <= kv_slot_range_last(0, 3) &&
		    !skip--)
			return;
	}
}

/* The moment the source's leader (node 1) has frozen the slots and the
 * driver copies, each node's plain probe sends a pipeline for them. */
static void held_send(void *arg)
{
	struct plain_held *h = arg;
	struct ns_run *r = h->m->r;
	struct server *s = r->nodes[0].s;
	uint16_t slot = kv_slot((const uint8_t *)h->key[0], strlen(h->key[0]));
	bool frozen = s && s->n_shards == 3 &&
		      kv_slots_of(&s->groups[0]->kv)->state[slot] == KV_SLOT_FROZEN;
	if (h->m->done || !frozen || copying(r) < 0) {
		if (!h->m->done && world_now_ns(r->w) < h->m->until_ns)
			world_at(r->w, world_now_ns(r->w) + 100000, held_send, h);
		return;
	}
	h->m->done = true;
	world_tracef(r->w,
		     "scenario: slot %u frozen at node 1, the copy under way: plain "
		     "writes to it from every node",
		     (unsigned)slot);
	for (uint32_t n = 0; n < 3; n++) {
		h->p[n] = ns_probe_open(r, "plain", n);
		ns_probe_send(h->p[n], "+OK", "SET %s a", h->key[n]);
		ns_probe_send(h->p[n], ":", "INCR %s", h->ctr);
		ns_probe_send(h->p[n], "+OK", "SET %s b%u", h->key[n], n);
		char want[24];
		snprintf(want, sizeof want, "$2 b%u", n);
		ns_probe_send(h->p[n], want, "GET %s", h->key[n]);
	}
}

/* A connection with no request left unanswered holds none back: none
 * held to go again, none waiting for those before it (a count left
 * over would hold its later requests for good). */
static void idle_clients_hold_nothing(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		for (struct client *c = s ? s->clients : NULL; c; c = c->next)
			if (!c->head && (c->n_crossing || c->n_retrying || c->n_ordered))
				ns_fail(r,
					"scenario: node %u's connection %llu, all answered, counts "
					"%u "
					"crossing, %u held, %u ordered",
					i + 1, (unsigned long long)c->id, c->n_crossing,
					c->n_retrying, c->n_ordered);
	}
}

/* After the move: each key as its last write left it, the counter
 * counted once per INCR, on every node; the writes were held (none was
 * answered -TRYAGAIN, the workload's neither). */
static void held_read(void *arg)
{
	struct plain_held *h = arg;
	struct ns_run *r = h->m->r;
	for (uint32_t n = 0; n < 3; n++) {
		h->rd[n] = ns_probe_open(r, "plain-reader", n);
		for (uint32_t k = 0; k < 3; k++) {
			char want[24];
			snprintf(want, sizeof want, "$2 b%u", k);
			ns_probe_send(h->rd[n], want, "GET %s", h->key[k]);
		}
		ns_probe_send(h->rd[n], "$1 3", "GET %s", h->ctr);
	}
	idle_clients_hold_nothing(r);
	uint64_t held = 0;
	for (uint32_t i = 0; i < 3; i++)
		held += r->nodes[i].s ? r->nodes[i].s->stats.slot_retries : 0;
	if (!held)
		ns_fail(r, "scenario: no request was held and sent again during the move");
	if (r->n_plain_tryagain)
		ns_fail(r, "scenario: %llu plain workload writes answered -TRYAGAIN",
			(unsigned long long)r->n_plain_tryagain);
	if (!r->n_plain_ok)
		ns_fail(r, "scenario: no plain workload write succeeded");
	for (uint32_t i = 0; i < 3; i++) {
		struct server *s = r->nodes[i].s;
		uint16_t slot = kv_slot((const uint8_t *)h->ctr, strlen(h->ctr));
		if (s && s->n_shards == 3 &&
		    kv_slots_of(&s->groups[2]->kv)->state[slot] != KV_SLOT_OWNED)
			ns_fail(r, "scenario: node %u's shard 2 does not hold slot %u", i + 1,
				(unsigned)slot);
	}
}

static void held_done(void *arg)
{
	struct plain_held *h = arg;
	for (uint32_t n = 0; n < 3; n++) {
		if (h->p[n])
			ns_probe_done(h->p[n]);
		if (h->rd[n])
			ns_probe_done(h->rd[n]);
	}
}

void ns_scen_reshard_holds_plain_writes(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	struct plain_held *h = ns_alloc(r, sizeof *h);
	memset(h, 0, sizeof *h);
	h->m = m;
	r->p.plain_clients = r->p.clients; /* the workload's writes are held too */
	for (uint32_t k = 0; k < 3; k++)
		prefixed_key_of_shard0("h", k, h->key[k], sizeof h->key[k]);
	prefixed_key_of_shard0("g", 0, h->ctr, sizeof h->ctr);
	m->until_ns = 4000 * MS;
	world_at(r->w, 1500 * MS, mv_write, m);
	world_at(r->w, 2500 * MS, mv_reshard, m);
	world_at(r->w, 2500 * MS, held_send, h);
	world_at(r->w, 12000 * MS, mv_read, m);
	world_at(r->w, 12000 * MS, held_read, h);
	world_at(r->w, 13500 * MS, mv_done, m);
	world_at(r->w, 13500 * MS, held_done, h);
}

/* ---- held requests given up ---------------------------------------------------- */

#define GIVEUP_LAST 2000 /* the move: slots 0-2000 of shard 0 to shard 2 */

struct given_up {
	struct ns_run *r;
	char key[4][16];  /* keys of the moved slots */
	char stays[16];	  /* a key of shard 0 that is not moved */
	char late[6][16]; /* keys of the moved slots, for the transactions */
	struct ns_probe *p[4], *multi[4];
	uint64_t at_ns; /* when the probes sent */
	uint64_t owned_ns; /* when node 1's copy of the target held late[1]'s slot */
	int32_t driver;
	bool done;
};

static void giveup_reshard(void *arg)
{
	struct given_up *u = arg;
	const char *argv[] = {"KEEL.RESHARD", "0", "2000", "2"};
	ns_admin_expect(u->r, 2, 4, argv, "+OK");
}

/* Half a second before the cut heals, two plain transactions of the
 * frozen slots, held until the move is done: one that then spans two
 * shards (a moved key and one that stays) gets its -TRYAGAIN at once; one
 * of moved keys (and a PING, which names none) goes to the target and
 * is applied. */
static void giveup_multi(void *arg)
{
	struct given_up *u = arg;
	u->multi[0] = ns_probe_open(u->r, "plain-multi-cross", 0);
	u->multi[1] = ns_probe_open(u->r, "plain-multi", 0);
	ns_probe_send(u->multi[0], "+OK", "MULTI");
	ns_probe_send(u->multi[0], "+QUEUED", "SET %s a", u->late[0]);
	ns_probe_send(u->multi[0], "+QUEUED", "SET %s c", u->stays);
	ns_probe_send(u->multi[0], "-TRYAGAIN slot", "EXEC");
	ns_probe_send(u->multi[1], "+OK", "MULTI");
	ns_probe_send(u->multi[1], "+QUEUED", "SET %s a", u->late[1]);
	ns_probe_send(u->multi[1], "+QUEUED", "PING");
	ns_probe_send(u->multi[1], "+QUEUED", "SET %s b", u->late[5]);
	ns_probe_send(u->multi[1], "*3 +OK +PONG +OK", "EXEC");
	/* one command that now spans two shards gives it up too */
	u->multi[3] = ns_probe_open(u->r, "plain-multi-mset", 0);
	ns_probe_send(u->multi[3], "+OK", "MULTI");
	ns_probe_send(u->multi[3], "+QUEUED", "SET %s a", u->late[3]);
	ns_probe_send(u->multi[3], "+QUEUED", "MSET %s a %s d", u->late[4], u->stays);
	ns_probe_send(u->multi[3], "-TRYAGAIN slot", "EXEC");
	/* a PING answered behind a held write does not make it give up */
	u->multi[2] = ns_probe_open(u->r, "plain-ping", 0);
	ns_probe_send(u->multi[2], "+OK", "SET %s a", u->late[2]);
	ns_probe_send(u->multi[2], "+PONG", "PING");
}

/* 2.5 s after the transactions, long before their request timeout, the
 * move done: both answered. */
static void giveup_multi_check(void *arg)
{
	struct given_up *u = arg;
	struct server *s = u->r->nodes[0].s;
	if (!s || !s->meta || kv_slots_of(&s->meta->kv)->owner[0] != 2)
		ns_fail(u->r, "scenario: the move was not done 2 s after the cut healed");
	idle_clients_hold_nothing(u->r);
	if (!ns_probe_reply(u->multi[3], 3))
		ns_fail(u->r, "scenario: probe plain-multi-mset's EXEC not answered once the "
			      "move is done");
	if (!ns_probe_reply(u->multi[2], 1))
		ns_fail(u->r, "scenario: probe plain-ping not answered once the move is done");
	for (uint32_t i = 0; i < 2; i++)
		if (!ns_probe_reply(u->multi[i], i ? 4 : 3))
			ns_fail(u->r,
				"scenario: probe %s's EXEC not answered once the move is done",
				u->multi[i]->name);
}

/* A held request goes again the moment this node's copy of its shard
 * holds its slots, not at its backoff's next send (200 ms apart by now):
 * the transaction of moved keys is answered within 40 ms of node 1's copy
 * of the target holding them. */
static void giveup_prompt(void *arg)
{
	struct given_up *u = arg;
	struct ns_run *r = u->r;
	struct server *s = r->nodes[0].s;
	uint16_t slot = kv_slot((const uint8_t *)u->late[1], strlen(u->late[1]));
	uint64_t now = world_now_ns(r->w);
	if (!u->owned_ns && s && s->n_shards == 3 &&
	    kv_slots_of(&s->groups[2]->kv)->state[slot] == KV_SLOT_OWNED)
		u->owned_ns = now;
	if (u->owned_ns && ns_probe_reply(u->multi[1], 4)) {
		world_tracef(r->w,
			     "scenario: the held transaction answered %llu us after its "
			     "slots were the target's on node 1",
			     (unsigned long long)((now - u->owned_ns) / 1000));
		if (now - u->owned_ns > 40 * MS)
			ns_fail(r,
				"scenario: the held transaction was answered %llu ms after its "
				"slots were the target's on node 1, not at once",
				(unsigned long long)((now - u->owned_ns) / MS));
		return;
	}
	if (now < u->at_ns + 9000 * MS)
		world_at(r->w, now + 100000, giveup_prompt, u);
}

static void giveup_heal(void *arg)
{
	struct given_up *u = arg;
	world_cut(u->r->w, u->r->nodes[u->driver].h, u->r->nodes[2].h, false);
	giveup_prompt(u);
}

/* 1.5 s on: the cluster-aware and the session's connections are
 * answered (never held); the plain writes are still held, the
 * pipeline's second behind its first (refused with it, not applied
 * before it). */
static void giveup_soon(void *arg)
{
	struct given_up *u = arg;
	struct ns_run *r = u->r;
	for (uint32_t i = 0; i < 2; i++)
		if (ns_probe_reply(u->p[i], 0))
			ns_fail(r, "scenario: probe %s answered before the request timeout",
				u->p[i]->name);
	for (uint32_t i = 2; i < 4; i++)
		if (!ns_probe_reply(u->p[i], 2))
			ns_fail(r, "scenario: probe %s not answered at once", u->p[i]->name);
}

/* 5.5 s on, the slots still frozen: the plain write was given up at its
 * request timeout. */
static void giveup_late(void *arg)
{
	struct given_up *u = arg;
	struct ns_run *r = u->r;
	struct server *s = r->nodes[0].s;
	uint16_t slot = kv_slot((const uint8_t *)u->key[0], strlen(u->key[0]));
	if (!s || kv_slots_of(&s->groups[0]->kv)->state[slot] != KV_SLOT_FROZEN)
		ns_fail(r, "scenario: the move did not stall past the request timeout");
	if (!ns_probe_reply(u->p[0], 0))
		ns_fail(r, "scenario: the plain write was not answered at its request timeout");
	if (!s || s->stats.slot_gave_up < 2)
		ns_fail(r, "scenario: node 1 gave up %llu held requests, not 2",
			s ? (unsigned long long)s->stats.slot_gave_up : 0ull);
	if (!ns_probe_reply(u->p[1], 1)) /* -TRYAGAIN at its timeout, then +OK */
		ns_fail(r, "scenario: the plain pipeline's write behind the held one was not "
			   "applied once that one was given up");
}

/* The lone plain write, and the pipeline's first, were sent again (and
 * refused again) at the backoff's pace: after 20, 40, 80 and 160 ms, then
 * every 200 ms (each plus the refusal's round trip): 3 times each by
 * 250 ms, 7 by 1 s; the pipeline's second waits for its first. */
static void giveup_paced(struct given_up *u, uint64_t lo, uint64_t hi)
{
	struct server *s = u->r->nodes[0].s;
	uint64_t n = s ? s->stats.slot_retries : 0;
	world_tracef(u->r->w, "scenario: the plain write sent again %llu times in %llu ms",
		     (unsigned long long)n,
		     (unsigned long long)((world_now_ns(u->r->w) - u->at_ns) / MS));
	if (n < lo || n > hi)
		ns_fail(u->r, "scenario: the plain write sent again %llu times, not %llu to %llu",
			(unsigned long long)n, (unsigned long long)lo, (unsigned long long)hi);
}

static void giveup_paced_early(void *arg)
{
	giveup_paced(arg, 6, 8);
}

static void giveup_paced_later(void *arg)
{
	giveup_paced(arg, 10, 18);
}

/* The moment the source's leader (node 1) has frozen the slots and the
 * driver copies, the driver's link to the target's leader (node 3) is
 * cut for 7 s: the move stalls past the request timeout (5 s). Then, on
 * node 1: a plain write of a frozen slot; a plain pipeline of one and a
 * write of shard 0 that is not moved; a write from a connection that
 * made itself cluster-aware, and one from a connection with a session. */
static void giveup_send(void *arg)
{
	struct given_up *u = arg;
	struct ns_run *r = u->r;
	struct server *s = r->nodes[0].s;
	uint16_t slot = kv_slot((const uint8_t *)u->key[0], strlen(u->key[0]));
	bool frozen = s && s->n_shards == 3 &&
		      kv_slots_of(&s->groups[0]->kv)->state[slot] == KV_SLOT_FROZEN;
	int32_t d = copying(r);
	if (u->done || !frozen || d < 0 || d == 2) {
		if (!u->done && world_now_ns(r->w) < 4000 * MS)
			world_at(r->w, world_now_ns(r->w) + 100000, giveup_send, u);
		return;
	}
	u->done = true;
	u->driver = d;
	u->at_ns = world_now_ns(r->w);
	world_tracef(r->w, "scenario: slot %u frozen, node %u copies: its link to node 3 is cut",
		     (unsigned)slot, (unsigned)d + 1);
	world_cut(r->w, r->nodes[d].h, r->nodes[2].h, true);
	world_at(r->w, u->at_ns + 7000 * MS, giveup_heal, u);
	world_at(r->w, u->at_ns + 250 * MS, giveup_paced_early, u);
	world_at(r->w, u->at_ns + 1000 * MS, giveup_paced_later, u);
	world_at(r->w, u->at_ns + 1500 * MS, giveup_soon, u);
	world_at(r->w, u->at_ns + 5500 * MS, giveup_late, u);
	world_at(r->w, u->at_ns + 6500 * MS, giveup_multi, u);
	world_at(r->w, u->at_ns + 9000 * MS, giveup_multi_check, u);
	static const char *const names[] = {"plain", "plain-pipeline", "cluster", "session"};
	for (uint32_t i = 0; i < 4; i++)
		u->p[i] = ns_probe_open(r, names[i], 0);
	ns_probe_send(u->p[0], "-TRYAGAIN slot", "SET %s a", u->key[0]);
	ns_probe_send(u->p[1], "-TRYAGAIN slot", "SET %s a", u->key[1]);
	ns_probe_send(u->p[1], "+OK", "SET %s b", u->stays);
	ns_probe_send(u->p[2], "+OK", "READWRITE");
	ns_probe_send(u->p[2], "-TRYAGAIN slot", "SET %s a", u->key[2]);
	ns_probe_send(u->p[2], "+OK", "SET %s c", u->stays); /* not held: not refused with it */
	ns_probe_send(u->p[3], "*2 :", "CLIENT SESSION");
	ns_probe_send(u->p[3], "-TRYAGAIN slot", "SET %s a", u->key[3]);
	ns_probe_send(u->p[3], "+OK", "SET %s d", u->stays);
}

static void giveup_done(void *arg)
{
	struct given_up *u = arg;
	for (uint32_t i = 0; i < 4; i++)
		if (u->p[i])
			ns_probe_done(u->p[i]);
	for (uint32_t i = 0; i < 4; i++)
		if (u->multi[i])
			ns_probe_done(u->multi[i]);
	if (!u->done)
		ns_fail(u->r, "scenario: the slots were never frozen while a node copies");
}

void ns_scen_reshard_gives_up_held_requests(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	struct given_up *u = ns_alloc(r, sizeof *u);
	memset(u, 0, sizeof *u);
	u->r = r;
	m->done = true; /* its keys are not moved whole: no read back */
	for (uint32_t k = 0; k < 4; k++)
		ns_probe_key("u", k, 0, GIVEUP_LAST, u->key[k], sizeof u->key[k]);
	for (uint32_t k = 0; k < 6; k++)
		ns_probe_key("w", k, 0, GIVEUP_LAST, u->late[k], sizeof u->late[k]);
	ns_probe_key("v", 0, GIVEUP_LAST + 1, (uint16_t)kv_slot_range_last(0, 3), u->stays,
		     sizeof u->stays);
	world_at(r->w, 2500 * MS, giveup_reshard, u);
	world_at(r->w, 2500 * MS, giveup_send, u);
	world_at(r->w, 13500 * MS, giveup_done, u);
}

/* ---- a node stopped with a request held ---------------------------------------- */

struct stop_held {
	struct ns_run *r;
	char key[16];
	struct ns_probe *p;
	bool done;
};

static void stop_held_in(void *arg)
{
	server_stop(arg);
}

/* Once node 1 (the source's leader) holds its plain write: SIGTERM. */
static void stop_held_stop(void *arg)
{
	struct stop_held *h = arg;
	struct ns_run *r = h->r;
	struct server *s = r->nodes[0].s;
	if (s && !s->n_retrying && world_now_ns(r->w) < 3500 * MS) {
		world_at(r->w, world_now_ns(r->w) + MS, stop_held_stop, h);
		return;
	}
	if (!s || !s->n_retrying) {
		ns_fail(r, "scenario: node 1 held no request by 3.5 s");
		return;
	}
	world_tracef(h->r->w, "scenario: SIGTERM node 1, a plain write held");
	host_enter(h->r->nodes[0].h, stop_held_in, s);
}

/* The moment node 1 has frozen the slots, a plain write of one to it. */
static void stop_held_send(void *arg)
{
	struct stop_held *h = arg;
	struct ns_run *r = h->r;
	struct server *s = r->nodes[0].s;
	uint16_t slot = kv_slot((const uint8_t *)h->key, strlen(h->key));
	bool frozen = s && s->n_shards == 3 &&
		      kv_slots_of(&s->groups[0]->kv)->state[slot] == KV_SLOT_FROZEN;
	if (h->done || !frozen) {
		if (!h->done && world_now_ns(r->w) < 4000 * MS)
			world_at(r->w, world_now_ns(r->w) + 100000, stop_held_send, h);
		return;
	}
	h->done = true;
	h->p = ns_probe_open(r, "plain-stopping", 0);
	h->p->may_close = true; /* answered -TRYAGAIN as the node stops, or closed */
	ns_probe_send(h->p, "-TRYAGAIN slot", "SET %s a", h->key);
	world_at(r->w, world_now_ns(r->w) + 5 * MS, stop_held_stop, h);
}

/* Node 1 stopped (it gave its held write up), then starts again. */
static void stop_held_check(void *arg)
{
	struct stop_held *h = arg;
	struct ns_node *n = &h->r->nodes[0];
	if (!h->done) {
		ns_fail(h->r, "scenario: the slots were never frozen");
		return;
	}
	if (n->s && !n->s->closed) { /* once stopped it is reaped */
		ns_fail(h->r, "scenario: node 1 did not stop with a write held");
		return;
	}
	ns_node_reap(n);
	ns_node_start(n);
}

static void stop_held_done(void *arg)
{
	struct stop_held *h = arg;
	if (h->p)
		ns_probe_done(h->p);
}

/* A node stopped (SIGTERM) while it holds a plain write answers it, or
 * closes its connection, and stops; the move goes on without it. */
void ns_scen_reshard_stops_with_held_requests(struct ns_run *r)
{
	struct mv *m = mv_new(r);
	struct stop_held *h = ns_alloc(r, sizeof *h);
	memset(h, 0, sizeof *h);
	h->r = r;
	m->done = true;
	m->small_only = true;
	prefixed_key_of_shard0("x", 0, h->key, sizeof h->key);
	world_at(r->w, 1500 * MS, mv_write, m);
	world_at(r->w, 2500 * MS, mv_reshard, m);
	world_at(r->w, 2500 * MS, stop_held_send, h);
	world_at(r->w, 6000 * MS, stop_held_check, h);
	world_at(r->w, 12000 * MS, mv_read, m);
	world_at(r->w, 13500 * MS, mv_done, m);
	world_at(r->w, 13500 * MS, stop_held_done, h);
}

/* ---- a shard placed on some of the nodes -------------------------------------- */

struct placed {
	struct ns_run *r;
	char key[16]; /* a key of slots 0-100 (shard 0's), which move to shard 2 and out */
	struct ns_probe *plain, *aware, *after, *resp3;
	raft_id cut[2]; /* the members node 1 is cut from: the leader, another */
};

static void placed_add(void *arg)
{
	struct placed *p = arg;
	static const char *const stranger[] = {"KEEL.ADDSHARD", "2", "3", "9"};
	static const char *const some[] = {"KEEL.ADDSHARD", "2", "3", "4"};
	static const char *const two[] = {"KEEL.ADDSHARD", "3", "4"};
	ns_admin_expect(p->r, 3, 4, stranger, "-ERR a shard's members are voters");
	ns_admin_expect(p->r, 3, 4, some, ":2");
	ns_admin_expect(p->r, 2, 3, two, ":3");
}

/* Nodes 2-4 are shard 2's voters, node 1 holds it outside (empty, never
 * a member). */
static void placed_check_members(void *arg)
{
	struct placed *p = arg;
	for (uint32_t i = 0; i < 4; i++) {
		struct server *s = p->r->nodes[i].s;
		struct group *g = s && s->n_shards == 4 ? s->groups[2] : NULL;
		struct group *g3 = g ? s->groups[3] : NULL;
		if (!g3 || g3->n_placed != 2 || g3->outside != (i < 2) ||
		    raft_config_of(g3->r)->n != (i < 2 ? 0u : 2u))
			ns_fail(p->r, "scenario: node %u does not hold shard 3 as placed on 3 4",
				i + 1);
		const struct raft_config *c = g ? raft_config_of(g->r) : NULL;
		bool ok = g && g->n_placed == 3 && g->outside == (i == 0) &&
			  c->n == (i == 0 ? 0u : 3u);
		for (uint32_t k = 0; ok && k < c->n; k++)
			ok = c->members[k].id >= 2 && c->members[k].role == RAFT_VOTER;
		if (!ok)
			ns_fail(p->r, "scenario: node %u does not hold shard 2 as placed on 2 3 4",
				i + 1);
	}
}

static void placed_move(void *arg)
{
	struct placed *p = arg;
	static const char *const move[] = {"KEEL.RESHARD", "0", "8191", "2"};
	ns_admin_expect(p->r, 0, 4, move, "+OK");
}

static void placed_move_to_3(void *arg)
{
	struct placed *p = arg;
	static const char *const move[] = {"KEEL.RESHARD", "8192", "9000", "3"};
	ns_admin_expect(p->r, 0, 4, move, "+OK");
}

/* Slots out of shard 3 (on nodes 3 and 4), asked while the metadata
 * group is led by node 1 or 2, neither of which holds it: it is handed
 * to node 3 or 4, never between the two that cannot drive the move. */
static void placed_move_out_of_3(void *arg)
{
	struct placed *p = arg;
	static const char *const out[] = {"KEEL.RESHARD", "8192", "8300", "0"};
	ns_admin_expect(p->r, 1, 4, out, "+OK");
}

/* Node 1 serves shard 2's keys through its members: a plain connection's
 * writes and reads (in another database too); a cluster-aware one is
 * sent to a member. */
static void placed_probe(void *arg)
{
	struct placed *p = arg;
	p->plain = ns_probe_open(p->r, "outside", 0);
	ns_probe_send(p->plain, "+OK", "SET %s v1", p->key);
	ns_probe_send(p->plain, "$2 v1", "GET %s", p->key);
	ns_probe_send(p->plain, ":3", "APPEND %s 7", p->key);
	ns_probe_send(p->plain, "$3 v17", "GET %s", p->key);
	ns_probe_send(p->plain, "+OK", "SELECT 3");
	ns_probe_send(p->plain, "$-1", "GET %s", p->key);
	ns_probe_send(p->plain, "+OK", "SET %s db3", p->key);
	ns_probe_send(p->plain, "$3 db3", "GET %s", p->key);
	ns_probe_send(p->plain, "+OK", "SELECT 0");
	ns_probe_send(p->plain, "$3 v17", "GET %s", p->key);
	p->aware = ns_probe_open(p->r, "outside-aware", 0);
	ns_probe_send(p->aware, "*", "CLUSTER SLOTS");
	ns_probe_send(p->aware, "-MOVED", "SET %s v2", p->key);
}

/* Node 1 knows shard 2's leader from the members' LEADS frames: it sends
 * the shard's requests there, and names it in CLUSTER SLOTS. */
static void placed_knows_leader(void *arg)
{
	struct placed *p = arg;
	raft_id leader = 0;
	for (uint32_t i = 1; i < 4; i++) {
		struct server *s = p->r->nodes[i].s;
		if (s && raft_role_of(s->groups[2]->r) == RAFT_LEADER)
			leader = s->cfg.id;
	}
	struct server *one = p->r->nodes[0].s;
	if (!leader || !one || one->groups[2]->lead_hint != leader ||
	    requests_outside_member(one->groups[2]) != leader)
		ns_fail(p->r,
			"scenario: node 1 sends shard 2's requests to %llu, not its leader %llu",
			one ? (unsigned long long)requests_outside_member(one->groups[2]) : 0ull,
			(unsigned long long)leader);
}

/* A RESP3 connection's read of the shard is answered in RESP3 (a missing
 * key: _), its member told the protocol with the request. */
static void placed_resp3(void *arg)
{
	struct placed *p = arg;
	p->resp3 = ns_probe_open(p->r, "outside-resp3", 0);
	ns_probe_send(p->resp3, "%", "HELLO 3");
	ns_probe_send(p->resp3, "_", "GET {%s}none", p->key);
	ns_probe_send(p->resp3, "$3 v17", "GET %s", p->key);
}

/* Shard 2's leader as node 1 knows it, and the member node 1 would try
 * next (its turn, or the one after it if that is the leader), into
 * p->cut[]: false if node 1 knows no leader. */
static bool placed_pick(struct placed *p)
{
	struct server *one = p->r->nodes[0].s;
	struct group *g = one ? one->groups[2] : NULL;
	if (!g || g->lead_hint < 2 || g->lead_hint > 4)
		return false;
	p->cut[0] = g->lead_hint;
	p->cut[1] = g->placed[g->outside_at % g->n_placed];
	if (p->cut[1] == p->cut[0])
		p->cut[1] = g->placed[(g->outside_at + 1) % g->n_placed];
	return true;
}

static void placed_cut_set(struct placed *p, bool cut)
{
	for (uint32_t i = 0; i < 2; i++)
		world_cut(p->r->w, p->r->nodes[0].h, p->r->nodes[p->cut[i] - 1].h, cut);
}

/* Node 1 cut from shard 2's leader and from the member it would try next
 * (their links still up, the bytes held): a request unanswered for a
 * second goes to another member, then to a third, which relays it, so a
 * write and a read are answered. */
static void placed_cut(void *arg)
{
	struct placed *p = arg;
	if (!placed_pick(p)) {
		ns_fail(p->r, "scenario: node 1 knows no leader of shard 2 to be cut from");
		return;
	}
	world_tracef(p->r->w, "scenario: cut node 1 from nodes %llu (shard 2's leader) and %llu",
		     (unsigned long long)p->cut[0], (unsigned long long)p->cut[1]);
	placed_cut_set(p, true);
	ns_probe_send(p->plain, "+OK", "SET %s v4", p->key);
	ns_probe_send(p->plain, "$2 v4", "GET %s", p->key);
}

static void placed_heal(void *arg)
{
	struct placed *p = arg;
	if (p->cut[0])
		placed_cut_set(p, false);
	if (!ns_probe_reply(p->plain, 10) || !ns_probe_reply(p->plain, 11))
		ns_fail(p->r, "scenario: node 1, cut from two of shard 2's members, did not answer "
			      "through the third in 2.7 s");
}

/* Node 1's links to shard 2's leader and to the member it would try next
 * reset and kept down (their connects time out): requests go at once to
 * the member it is connected to. */
static void placed_unlinked(void *arg)
{
	struct placed *p = arg;
	if (!placed_pick(p)) {
		ns_fail(p->r, "scenario: node 1 knows no leader of shard 2 again after the cut");
		return;
	}
	world_tracef(p->r->w,
		     "scenario: node 1's links to nodes %llu (the leader) and %llu reset, "
		     "then cut",
		     (unsigned long long)p->cut[0], (unsigned long long)p->cut[1]);
	for (uint32_t i = 0; i < 2; i++)
		world_reset(p->r->w, p->r->nodes[0].h, p->r->nodes[p->cut[i] - 1].h);
}

/* The resets have arrived: cut (the connects again time out), then ask. */
static void placed_unlinked_ask(void *arg)
{
	struct placed *p = arg;
	placed_cut_set(p, true);
	ns_probe_send(p->plain, "+OK", "SET %s v5", p->key);
	ns_probe_send(p->plain, "$2 v5", "GET %s", p->key);
}

static void placed_relinked(void *arg)
{
	struct placed *p = arg;
	if (p->cut[0])
		placed_cut_set(p, false);
	if (!ns_probe_reply(p->plain, 12) || !ns_probe_reply(p->plain, 13))
		ns_fail(p->r,
			"scenario: node 1, its links to two of shard 2's members down, did not "
			"answer through the third in 500 ms");
}

/* Crashing a member the outside node sends to: its requests go to another. */
static void placed_crash(void *arg)
{
	struct placed *p = arg;
	struct server *s = p->r->nodes[0].s;
	raft_id to = s ? requests_outside_member(s->groups[2]) : 0;
	if (to < 2 || to > 4) {
		ns_fail(p->r, "scenario: node 1 sends shard 2's requests to no member");
		return;
	}
	world_tracef(p->r->w, "scenario: crash node %llu, where node 1 sends shard 2's requests",
		     (unsigned long long)to);
	ns_node_crash(&p->r->nodes[to - 1]);
	ns_probe_send(p->plain, "+OK", "SET %s v3", p->key);
	ns_probe_send(p->plain, "$2 v3", "GET %s", p->key);
}

static void placed_restart(void *arg)
{
	struct placed *p = arg;
	for (uint32_t i = 1; i < 4; i++)
		if (!p->r->nodes[i].s)
			ns_node_start(&p->r->nodes[i]);
}

/* Slots 0-100 move out of shard 2, asked of node 1, which leads the
 * metadata group (its preferred leader) but does not hold shard 2: it
 * hands the metadata group to a node that does, which drives the move. */
static void placed_move_out(void *arg)
{
	struct placed *p = arg;
	static const char *const out[] = {"KEEL.RESHARD", "0", "100", "1"};
	ns_admin_expect(p->r, 0, 4, out, "+OK");
}

static void placed_read_back(void *arg)
{
	struct placed *p = arg;
	p->after = ns_probe_open(p->r, "after", 0);
	ns_probe_send(p->after, "$2 v3", "GET %s", p->key);
}

static void placed_done(void *arg)
{
	struct placed *p = arg;
	ns_probe_done(p->plain);
	ns_probe_done(p->aware);
	ns_probe_done(p->after);
	ns_probe_done(p->resp3);
	for (uint32_t i = 0; i < 4; i++) {
		const struct server *s = p->r->nodes[i].s;
		const struct kv_slots *sl = s ? kv_slots_of(&s->meta->kv) : NULL;
		if (!sl || sl->owner[0] != 1 || sl->owner[101] != 2 || sl->owner[8192] != 0 ||
		    sl->owner[8301] != 3)
			ns_fail(p->r,
				"scenario: node %u's map does not give slot 0 to shard 1, 101 to "
				"shard 2, 8192 to shard 0 and 8301 to shard 3",
				i + 1);
	}
}

/* Four nodes of two shards; shard 2 is added on nodes 2-4 only (a
 * stranger's id refused) and given shard 0's slots while the clients
 * run, driven by node 1, which is not among them. Node 1 then serves them
 * through shard 2's members, sending to its leader (known from their
 * LEADS frames), in RESP3 too, through another member when cut from
 * the leader (its bytes held, or its link down), and keeps serving them when the member it sends to
 * crashes; it never holds an entry or a key of shard 2 (the
 * run's agreement check). Then slots 0-100 move out of shard 2 to shard
 * 1, driven by a node that holds shard 2, and node 1 reads its key there. */
void ns_scen_shard_placed(struct ns_run *r)
{
	r->p.nodes = 4;
	r->p.spares = 0;
	r->p.shards = 2;
	r->p.run_ns = 18500 * MS;
	struct placed *p = ns_alloc(r, sizeof *p);
	memset(p, 0, sizeof *p);
	p->r = r;
	for (uint32_t n = 0;; n++) {
		snprintf(p->key, sizeof p->key, "pl%u", n);
		if (kv_slot((const uint8_t *)p->key, strlen(p->key)) <= 100)
			break;
	}
	world_at(r->w, 2000 * MS, placed_add, p);
	world_at(r->w, 3000 * MS, placed_check_members, p);
	world_at(r->w, 3100 * MS, placed_move, p);
	world_at(r->w, 4500 * MS, placed_move_to_3, p);
	world_at(r->w, 6000 * MS, placed_probe, p);
	world_at(r->w, 6500 * MS, placed_resp3, p);
	world_at(r->w, 7000 * MS, placed_knows_leader, p);
	world_at(r->w, 7100 * MS, placed_cut, p);
	world_at(r->w, 9800 * MS, placed_heal, p);
	world_at(r->w, 10000 * MS, placed_unlinked, p);
	world_at(r->w, 10003 * MS, placed_unlinked_ask, p);
	world_at(r->w, 10500 * MS, placed_relinked, p);
	world_at(r->w, 11500 * MS, placed_crash, p);
	world_at(r->w, 13000 * MS, placed_restart, p);
	world_at(r->w, 14000 * MS, placed_move_out, p);
	world_at(r->w, 15000 * MS, placed_move_out_of_3, p);
	world_at(r->w, 16500 * MS, placed_read_back, p);
	world_at(r->w, 17500 * MS, placed_done, p);
}

/* ---- a placed shard moved to other nodes -------------------------------------- */

/* The voters of shard `shard` as node i's copy has them if node i leads
 * it, else -1. */
static int leader_voters(struct ns_run *r, uint32_t i, uint32_t shard)
{
	struct server *s = r->nodes[i].s;
	struct group *g = s && s->n_shards > shard ? s->groups[shard] : NULL;
	if (!g || !g->r || raft_role_of(g->r) != RAFT_LEADER)
		return -1;
	return (int)raft_config_voters(raft_config_of(g->r));
}

/* Shard `shard` placed on the three of the four nodes that do not lead
 * it (its leader hands it over before it leaves), asked of its leader;
 * the leader's id, 0 if it has none (the run fails). */
static raft_id place_off_leader(struct ns_run *r, uint32_t shard)
{
	raft_id leader = 0;
	for (uint32_t i = 0; i < 4; i++)
		if (leader_voters(r, i, shard) >= 0)
			leader = r->nodes[i].s->cfg.id;
	if (!leader) {
		ns_fail(r, "scenario: shard %u has no leader to take off it", shard);
		return 0;
	}
	static const char *const ids[] = {"1", "2", "3", "4"};
	char text[16];
	const char *argv[5] = {"KEEL.PLACESHARD", text};
	int argc = 2;
	snprintf(text, sizeof text, "%u", shard);
	for (raft_id id = 1; id <= 4; id++)
		if (id != leader)
			argv[argc++] = ids[id - 1];
	world_tracef(r->w, "scenario: shard %u placed off node %llu (its leader)", shard,
		     (unsigned long long)leader);
	ns_admin_expect(r, (uint32_t)leader - 1, argc, argv, "+OK");
	return leader;
}

struct replaced {
	struct ns_run *r;
	char key[16];	 /* a key of shard 2 (slots 0-8191) */
	raft_id dropped; /* shard 2's leader when it was taken off it */
	struct ns_probe *p[4];
	bool three; /* shard 2's leader has had 3 voters */
};

/* Every 5 ms: once shard 2's leader has 3 voters, it never has fewer (a
 * node is removed only once the one that replaces it is a voter). */
static void replaced_watch(void *arg)
{
	struct replaced *x = arg;
	for (uint32_t i = 0; i < 4; i++) {
		int voters = leader_voters(x->r, i, 2);
		if (voters < 0)
			continue;
		if (x->three && voters < 3) {
			ns_fail(x->r, "scenario: shard 2's leader %u has %d voters", i + 1, voters);
			return;
		}
		x->three = x->three || voters >= 3;
	}
	if (world_now_ns(x->r->w) < 16900 * MS)
		world_at(x->r->w, world_now_ns(x->r->w) + 5 * MS, replaced_watch, x);
}

static void replaced_add(void *arg)
{
	struct replaced *x = arg;
	static const char *const add[] = {"KEEL.ADDSHARD", "2", "3"};
	static const char *const move[] = {"KEEL.RESHARD", "0", "8191", "2"};
	ns_admin_expect(x->r, 3, 3, add, ":2");
	ns_admin_send(x->r, 0, 4, move);
}

/* Refused: shard 0, no such shard, a stranger, no id. */
static void replaced_refusals(void *arg)
{
	struct replaced *x = arg;
	static const char *const first[] = {"KEEL.PLACESHARD", "0", "2", "3"};
	static const char *const none[] = {"KEEL.PLACESHARD", "3", "2", "3"};
	static const char *const stranger[] = {"KEEL.PLACESHARD", "2", "2", "9"};
	static const char *const empty[] = {"KEEL.PLACESHARD", "2"};
	ns_admin_expect(x->r, 1, 4, first, "-ERR shard 0 stays on every node");
	ns_admin_expect(x->r, 2, 4, none, "-ERR no such shard");
	ns_admin_expect(x->r, 3, 4, stranger, "-ERR a shard's members are voters");
	ns_admin_expect(x->r, 0, 2, empty, "-ERR wrong number of arguments");
}

/* Node 4 added to shard 2 (asked of node 1, outside it). */
static void replaced_grow(void *arg)
{
	struct replaced *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "2", "2", "3", "4"};
	ns_admin_expect(x->r, 0, 5, place, "+OK");
	x->p[0] = ns_probe_open(x->r, "through-1", 0);
	ns_probe_send(x->p[0], "+OK", "SET %s a1", x->key);
}

/* The nodes listed are the shard's voters on each of the four nodes, and
 * no other node is a member (it holds it outside, or once held it). */
static bool placed_as(struct ns_run *r, uint32_t shard, const raft_id *want, uint32_t n)
{
	for (uint32_t i = 0; i < 4; i++) {
		struct server *s = r->nodes[i].s;
		struct group *g = s && s->n_shards > shard ? s->groups[shard] : NULL;
		bool listed = false;
		for (uint32_t k = 0; k < n; k++)
			listed = listed || want[k] == i + 1;
		if (!g || g->n_placed != n || g->outside == listed)
			return false;
		const struct raft_config *c = raft_config_of(g->r);
		if (!listed)
			continue;
		if (c->n != n)
			return false;
		for (uint32_t k = 0; k < n; k++)
			if (!raft_config_is_voter(c, want[k]))
				return false;
	}
	return true;
}

static bool replaced_members(struct replaced *x, const raft_id *want, uint32_t n)
{
	return placed_as(x->r, 2, want, n);
}

static void replaced_grown(void *arg)
{
	struct replaced *x = arg;
	static const raft_id want[] = {2, 3, 4};
	if (!replaced_members(x, want, 3))
		ns_fail(x->r, "scenario: shard 2 is not on nodes 2 3 4, as voters, 3 s after "
			      "node 4 was added to it");
	/* node 4 now reads it from its own copy */
	x->p[1] = ns_probe_open(x->r, "on-4", 3);
	ns_probe_send(x->p[1], "$2 a1", "GET %s", x->key);
	ns_probe_send(x->p[1], "+OK", "SET %s a2", x->key);
}

/* Shard 2's leader taken off it, and node 1 (outside it until now) put
 * on: the leader hands the shard to another before it leaves. */
static void replaced_move(void *arg)
{
	struct replaced *x = arg;
	x->dropped = place_off_leader(x->r, 2);
}

static void replaced_moved(void *arg)
{
	struct replaced *x = arg;
	raft_id want[3] = {1};
	uint32_t n = 1;
	for (raft_id id = 2; id <= 4; id++)
		if (id != x->dropped)
			want[n++] = id;
	if (!replaced_members(x, want, n))
		ns_fail(x->r,
			"scenario: shard 2 is not on nodes 1 and the two others than %llu, "
			"as voters, 4 s after it was moved",
			(unsigned long long)x->dropped);
	/* the node taken off serves it through the others */
	x->p[2] = ns_probe_open(x->r, "off", (uint32_t)x->dropped - 1);
	ns_probe_send(x->p[2], "$2 a2", "GET %s", x->key);
	ns_probe_send(x->p[2], "+OK", "SET %s a3", x->key);
	ns_probe_send(x->p[2], "$2 a3", "GET %s", x->key);
}

/* The node taken off is down as the shard is placed back on it: node 1
 * must not leave until it is a voter again. */
static void replaced_down(void *arg)
{
	struct replaced *x = arg;
	ns_probe_done(x->p[1]);
	x->p[1] = NULL;
	world_tracef(x->r->w, "scenario: crash node %llu", (unsigned long long)x->dropped);
	ns_node_crash(&x->r->nodes[x->dropped - 1]);
}

static void replaced_up(void *arg)
{
	struct replaced *x = arg;
	ns_node_start(&x->r->nodes[x->dropped - 1]);
}

/* Back to nodes 2-4: node 1 leaves it, and the node taken off comes back
 * (its copy, kept as it was, catches up). */
static void replaced_back(void *arg)
{
	struct replaced *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "2", "4", "3", "2"};
	if (!ns_probe_reply(x->p[2], 1))
		ns_fail(x->r, "scenario: the node taken off shard 2 did not serve a write of it");
	ns_probe_send(x->p[0], "$2 a3", "GET %s", x->key);
	ns_admin_expect(x->r, 2, 5, place, "+OK");
}

/* A list that is the start of the one before (4 3 2 -> 4 3): node 2
 * leaves. */
static void replaced_shorter(void *arg)
{
	struct replaced *x = arg;
	static const raft_id want[] = {2, 3, 4};
	static const char *const place[] = {"KEEL.PLACESHARD", "2", "4", "3"};
	if (!replaced_members(x, want, 3))
		ns_fail(x->r, "scenario: shard 2 is not back on nodes 2 3 4, as voters");
	ns_admin_expect(x->r, 0, 4, place, "+OK");
}

static void replaced_done(void *arg)
{
	struct replaced *x = arg;
	static const raft_id want[] = {3, 4};
	if (!replaced_members(x, want, 2))
		ns_fail(x->r, "scenario: shard 2 is not on nodes 3 4 only, as voters");
	for (uint32_t i = 0; i < 4; i++)
		if (x->p[i])
			ns_probe_done(x->p[i]);
}

static void replaced_read(void *arg)
{
	struct replaced *x = arg;
	ns_probe_send(x->p[0], "$2 a3", "GET %s", x->key);
	x->p[3] = ns_probe_open(x->r, "on-4-again", 3);
	ns_probe_send(x->p[3], "$2 a3", "GET %s", x->key); /* node 4, on it */
}

/* Four nodes of two shards; shard 2 is added on nodes 2 and 3 and given
 * half the slots while the clients write. KEEL.PLACESHARD refuses a
 * shard on every node, one that does not exist, a stranger; it puts
 * node 4 on shard 2 (which then reads its own copy), then moves the
 * shard off its leader and onto node 1 (the leader hands it over first;
 * the node taken off serves its keys through the others), then back onto
 * nodes 2-4 while the node taken off is down (node 1 leaves only once
 * it is back and a voter: its copy, kept as it was, catches up). Once shard 2 has three voters, its
 * leader never has fewer. The run's checks: every key's history linearizable, and each node's copy
 * of shard 2 that is a member agrees. */
void ns_scen_shard_replaced(struct ns_run *r)
{
	r->p.nodes = 4;
	r->p.spares = 0;
	r->p.shards = 2;
	r->p.run_ns = 20000 * MS;
	struct replaced *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	for (uint32_t n = 0;; n++) {
		snprintf(x->key, sizeof x->key, "rp%u", n);
		if (kv_slot((const uint8_t *)x->key, strlen(x->key)) <= 8191)
			break;
	}
	world_at(r->w, 2000 * MS, replaced_add, x);
	world_at(r->w, 2100 * MS, replaced_watch, x);
	world_at(r->w, 4500 * MS, replaced_refusals, x);
	world_at(r->w, 5000 * MS, replaced_grow, x);
	world_at(r->w, 8000 * MS, replaced_grown, x);
	world_at(r->w, 8500 * MS, replaced_move, x);
	world_at(r->w, 12500 * MS, replaced_moved, x);
	world_at(r->w, 13400 * MS, replaced_down, x);
	world_at(r->w, 13500 * MS, replaced_back, x);
	world_at(r->w, 15000 * MS, replaced_up, x);
	world_at(r->w, 16500 * MS, replaced_read, x);
	world_at(r->w, 17000 * MS, replaced_shorter, x);
	world_at(r->w, 19000 * MS, replaced_done, x);
}

/* ---- a shard on every node placed on some ------------------------------------- */

struct every {
	struct ns_run *r;
	char key[16];	 /* a key of shard 2 (slots 10923-16383) */
	raft_id dropped; /* shard 1's leader when it was taken off it */
	struct ns_probe *p[4];
	uint32_t least; /* the fewest voters shard 2's leader had */
	uint32_t lag, meta; /* a node taken off shard 2, cut from the metadata group's leader */
};

/* Every 5 ms: shard 2's leader never has fewer voters than the two it is
 * placed on (it goes from four to three to two). */
static void every_watch(void *arg)
{
	struct every *x = arg;
	for (uint32_t i = 0; i < 4; i++) {
		int voters = leader_voters(x->r, i, 2);
		if (voters < 0)
			continue;
		x->least = (uint32_t)voters < x->least ? (uint32_t)voters : x->least;
		if (voters < 2)
			ns_fail(x->r, "scenario: shard 2's leader %u has %d voters", i + 1, voters);
	}
	if (world_now_ns(x->r->w) < 12900 * MS)
		world_at(x->r->w, world_now_ns(x->r->w) + 5 * MS, every_watch, x);
}

/* Node 1 or 4 (both are to leave shard 2), cut from the metadata group's
 * leader: it is taken off shard 2 before its copy of the map has the
 * list. */
static void every_cut(void *arg)
{
	struct every *x = arg;
	x->meta = UINT32_MAX;
	for (uint32_t i = 0; i < 4; i++) {
		struct server *s = x->r->nodes[i].s;
		if (s && raft_role_of(s->meta->r) == RAFT_LEADER)
			x->meta = i;
	}
	if (x->meta == UINT32_MAX) {
		ns_fail(x->r, "scenario: no leader of the metadata group");
		return;
	}
	x->lag = x->meta == 3 ? 0 : 3;
	world_tracef(x->r->w, "scenario: node %u cut from node %u", x->lag + 1, x->meta + 1);
	world_cut(x->r->w, x->r->nodes[x->lag].h, x->r->nodes[x->meta].h, true);
}

/* Taken off shard 2 while in the cluster: its write is refused as by a
 * node taken off a shard, not as by one removed from the cluster. */
static void every_lagging(void *arg)
{
	struct every *x = arg;
	struct server *s = x->r->nodes[x->lag].s;
	if (!s || !s->groups[2]->removed_at || kv_shard_placed(kv_slots_of(&s->meta->kv), 2)) {
		ns_fail(x->r, "scenario: node %u was not taken off shard 2 ahead of its map",
			x->lag + 1);
		return;
	}
	x->p[3] = ns_probe_open(x->r, "lagging", x->lag);
	ns_probe_send(x->p[3], "-TRYAGAIN this node no longer holds the shard", "SET %s e0",
		      x->key);
}

static void every_heal(void *arg)
{
	struct every *x = arg;
	world_cut(x->r->w, x->r->nodes[x->lag].h, x->r->nodes[x->meta].h, false);
}

/* Shard 2, on every node since the start, placed on nodes 2 and 3 (asked
 * of node 1, which leaves it); shard 0 refused. */
static void every_place(void *arg)
{
	struct every *x = arg;
	static const char *const first[] = {"KEEL.PLACESHARD", "0", "1", "2"};
	static const char *const past[] = {"KEEL.PLACESHARD", "3", "1"};
	static const char *const place[] = {"KEEL.PLACESHARD", "2", "2", "3"};
	ns_admin_expect(x->r, 3, 4, first, "-ERR shard 0 stays on every node");
	ns_admin_expect(x->r, 2, 3, past, "-ERR no such shard");
	ns_admin_expect(x->r, 0, 4, place, "+OK");
	x->p[0] = ns_probe_open(x->r, "through-1", 0);
	ns_probe_send(x->p[0], "+OK", "SET %s e1", x->key);
}

/* Then shard 1 taken off its leader (handed over first). */
static void every_placed(void *arg)
{
	struct every *x = arg;
	static const raft_id want[] = {2, 3};
	if (!placed_as(x->r, 2, want, 2))
		ns_fail(x->r, "scenario: shard 2 is not on nodes 2 3 only, as voters, 3.5 s "
			      "after it was placed there");
	if (x->least != 2)
		ns_fail(x->r, "scenario: shard 2's leader never had 2 voters only");
	/* node 4, taken off it too, serves it through them */
	x->p[1] = ns_probe_open(x->r, "through-4", 3);
	ns_probe_send(x->p[1], "$2 e1", "GET %s", x->key);
	ns_probe_send(x->p[1], "+OK", "SET %s e2", x->key);
	ns_probe_send(x->p[1], "$2 e2", "GET %s", x->key);
	x->dropped = place_off_leader(x->r, 1);
}

/* Node 1, outside shard 2, crashes and comes back. */
static void every_down(void *arg)
{
	struct every *x = arg;
	ns_probe_done(x->p[0]);
	x->p[0] = NULL;
	world_tracef(x->r->w, "scenario: crash node 1");
	ns_node_crash(&x->r->nodes[0]);
}

static void every_up(void *arg)
{
	struct every *x = arg;
	ns_node_start(&x->r->nodes[0]);
}

/* Node 1, back, is still outside shard 2 and serves it through its
 * members; shard 1 is on the three others than its old leader. */
static void every_back(void *arg)
{
	struct every *x = arg;
	static const raft_id two[] = {2, 3};
	raft_id three[3];
	uint32_t n = 0;
	for (raft_id id = 1; id <= 4; id++)
		if (id != x->dropped)
			three[n++] = id;
	if (!placed_as(x->r, 2, two, 2))
		ns_fail(x->r, "scenario: shard 2 is not on nodes 2 3 only after node 1's restart");
	if (!placed_as(x->r, 1, three, 3))
		ns_fail(x->r, "scenario: shard 1 is not on the three nodes other than %llu",
			(unsigned long long)x->dropped);
	for (uint32_t i = 0; i < 4; i += 3) { /* nodes 1 (restarted since) and 4 */
		const struct group *g = x->r->nodes[i].s ? x->r->nodes[i].s->groups[2] : NULL;
		if (!g || kv_keys_total(&g->kv)) /* freed, or (a start) never loaded */
			ns_fail(x->r, "scenario: node %u still holds its copy of shard 2 in memory",
				i + 1);
	}
	x->p[2] = ns_probe_open(x->r, "back-1", 0);
	ns_probe_send(x->p[2], "$2 e2", "GET %s", x->key);
	ns_probe_send(x->p[2], "+OK", "SET %s e3", x->key);
	ns_probe_send(x->p[2], "$2 e3", "GET %s", x->key);
}

/* Then shard 2 on node 3 alone (node 2 leaves it, handing it over
 * first if it leads it). */
static void every_one(void *arg)
{
	struct every *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "2", "3"};
	for (uint32_t i = 0; i < 4; i++)
		if (x->p[i])
			ns_probe_done(x->p[i]);
	memset(x->p, 0, sizeof x->p);
	ns_admin_expect(x->r, 3, 3, place, "+OK");
}

static void every_end(void *arg)
{
	struct every *x = arg;
	static const raft_id one[] = {3};
	if (!placed_as(x->r, 2, one, 1))
		ns_fail(x->r, "scenario: shard 2 is not on node 3 alone");
	x->p[0] = ns_probe_open(x->r, "through-2", 1);
	ns_probe_send(x->p[0], "$2 e3", "GET %s", x->key);
}

/* Back onto node 4 (its copy freed since it was taken off: rebuilt as it
 * takes part again). */
static void every_again(void *arg)
{
	struct every *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "2", "3", "4"};
	const struct group *g = x->r->nodes[3].s ? x->r->nodes[3].s->groups[2] : NULL;
	if (!g || !g->wiped)
		ns_fail(x->r, "scenario: node 4's copy of shard 2 was not freed");
	ns_probe_done(x->p[0]);
	x->p[0] = NULL;
	ns_admin_expect(x->r, 1, 4, place, "+OK");
}

static void every_done(void *arg)
{
	struct every *x = arg;
	static const raft_id two[] = {3, 4};
	const struct group *g = x->r->nodes[3].s ? x->r->nodes[3].s->groups[2] : NULL;
	if (!placed_as(x->r, 2, two, 2) || !g || g->wiped)
		ns_fail(x->r, "scenario: shard 2 is not back on node 4 with node 3");
	x->p[0] = ns_probe_open(x->r, "on-4", 3);
	ns_probe_send(x->p[0], "$2 e3", "GET %s", x->key);
}

static void every_closed(void *arg)
{
	struct every *x = arg;
	ns_probe_done(x->p[0]);
}

/* Four nodes of three shards, each on every node; the clients write.
 * KEEL.PLACESHARD refuses shard 0; it places shard 2 on nodes 2 and 3
 * (its leader removes nodes 1 and 4, one at a time, never below the two
 * listed; one of those two, cut from the metadata group's leader, is
 * taken off before its map has the list, and says so), then shard 1 on
 * the three nodes other than its leader (which hands it over first). The
 * nodes taken off serve the shard through its members, node 1 also after
 * a restart, and hold none of its keys in memory. Then shard 2 goes to
 * node 3 alone, and back to node 4 too (its copy rebuilt, then caught
 * up). The run's checks: every key's history linearizable, each shard's
 * members agree. */
void ns_scen_shard_every_placed(struct ns_run *r)
{
	r->p.nodes = 4;
	r->p.spares = 0;
	r->p.shards = 3;
	r->p.snapshot_entries = 40; /* a copy freed past a snapshot of it: rebuilt from one */
	r->p.run_ns = 20500 * MS;
	struct every *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	x->least = RAFT_MEMBERS_MAX;
	for (uint32_t n = 0;; n++) {
		snprintf(x->key, sizeof x->key, "ep%u", n);
		if (kv_slot((const uint8_t *)x->key, strlen(x->key)) >= 10923)
			break;
	}
	world_at(r->w, 1900 * MS, every_cut, x);
	world_at(r->w, 2000 * MS, every_place, x);
	world_at(r->w, 2000 * MS, every_watch, x);
	world_at(r->w, 4000 * MS, every_lagging, x);
	world_at(r->w, 4500 * MS, every_heal, x);
	world_at(r->w, 5500 * MS, every_placed, x);
	world_at(r->w, 8000 * MS, every_down, x);
	world_at(r->w, 9000 * MS, every_up, x);
	world_at(r->w, 12000 * MS, every_back, x);
	world_at(r->w, 13000 * MS, every_one, x);
	world_at(r->w, 15500 * MS, every_end, x);
	world_at(r->w, 16000 * MS, every_again, x);
	world_at(r->w, 19000 * MS, every_done, x);
	world_at(r->w, 19500 * MS, every_closed, x);
}

/* ---- KEEL.RESHARD asked of a node outside the source, no member reachable ---- */

struct unreached {
	struct ns_run *r;
};

static void unreached_place(void *arg)
{
	struct unreached *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "1", "2", "3"};
	ns_admin_expect(x->r, 1, 4, place, "+OK");
}

/* Shard 1 on nodes 2 and 3 alone; both crash. */
static void unreached_down(void *arg)
{
	struct unreached *x = arg;
	static const raft_id two[] = {2, 3};
	if (!placed_as(x->r, 1, two, 2))
		ns_fail(x->r, "scenario: shard 1 is not on nodes 2 3 only, 3 s after it was "
			      "placed there");
	world_tracef(x->r->w, "scenario: crash nodes 2 and 3");
	ns_node_crash(&x->r->nodes[1]);
	ns_node_crash(&x->r->nodes[2]);
}

/* Node 1, outside shard 1, reaches none of its members: the move of one
 * of its slots is refused at once, not registered (a node outside sees no
 * key of it, so it may not register the move itself). */
static void unreached_ask(void *arg)
{
	struct unreached *x = arg;
	static const char *const move[] = {"KEEL.RESHARD", "9000", "9000", "0"};
	ns_admin_expect(x->r, 0, 4, move,
			"-TRYAGAIN shard 1 is placed on other nodes, and none of them took the "
			"request; not registered");
}

static void unreached_up(void *arg)
{
	struct unreached *x = arg;
	if (ns_map_owner(x->r, 9000) != 1)
		ns_fail(x->r, "scenario: slot 9000 left shard 1 though its move was refused");
	ns_node_start(&x->r->nodes[1]);
	ns_node_start(&x->r->nodes[2]);
}

/* The members back: the same request is sent on to one of them, which
 * registers it. */
static void unreached_again(void *arg)
{
	struct unreached *x = arg;
	static const char *const move[] = {"KEEL.RESHARD", "9000", "9000", "0"};
	ns_admin_expect(x->r, 0, 4, move, "+OK");
}

static void unreached_done(void *arg)
{
	struct unreached *x = arg;
	if (ns_map_owner(x->r, 9000) != 0)
		ns_fail(x->r, "scenario: slot 9000 is shard %u's, not shard 0's, after its move",
			ns_map_owner(x->r, 9000));
}

/* Four nodes of two shards; shard 1 placed on nodes 2 and 3, which then
 * crash. KEEL.RESHARD of a slot of shard 1 asked of node 1 (outside it) is
 * refused with -TRYAGAIN, the slot still shard 1's; with the members back
 * the same request is registered and the slot moves to shard 0. */
void ns_scen_reshard_unreached(struct ns_run *r)
{
	r->p.nodes = 4;
	r->p.spares = 0;
	r->p.shards = 2;
	r->p.run_ns = 16000 * MS;
	struct unreached *x = ns_alloc(r, sizeof *x);
	x->r = r;
	world_at(r->w, 2000 * MS, unreached_place, x);
	world_at(r->w, 5000 * MS, unreached_down, x);
	world_at(r->w, 6000 * MS, unreached_ask, x);
	world_at(r->w, 7000 * MS, unreached_up, x);
	world_at(r->w, 10000 * MS, unreached_again, x);
	world_at(r->w, 15000 * MS, unreached_done, x);
}

/* ---- a node taken off a placed shard while it was down ------------------------ */

struct while_down {
	struct ns_run *r;
	char key[16]; /* a key of shard 1 (slots 8192-16383) */
	struct ns_probe *p;
};

static void down_crash(void *arg)
{
	struct while_down *x = arg;
	world_tracef(x->r->w, "scenario: crash node 3");
	ns_node_crash(&x->r->nodes[2]);
}

/* The spare, node 4, added (asked of node 1). */
static void down_add(void *arg)
{
	struct while_down *x = arg;
	struct ns_node *n = &x->r->nodes[3];
	char addr[40];
	snprintf(addr, sizeof addr, "%s:7379", host_ip(n->h));
	const char *const add[] = {"RAFT", "ADD-LEARNER", "4", addr, "AUTO"};
	n->kind = NS_ADDED;
	ns_node_start(n);
	ns_admin_expect(x->r, 0, 5, add, "+OK");
}

/* Whether node 4's configuration of shard 1 is the voters want, n of them. */
static bool shard1_on(struct while_down *x, const raft_id *want, uint32_t n)
{
	const struct server *s = x->r->nodes[3].s;
	const struct raft_config *c = s && s->n_shards > 1 ? raft_config_of(s->groups[1]->r) : NULL;
	if (!c || c->n != n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!raft_config_is_voter(c, want[i]))
			return false;
	return true;
}

/* Node 4, added while node 3 was down, is a voter of shard 1: the shard
 * is placed on nodes 2 and 4 (nodes 1 and 3 leave it, node 3 while it
 * is down). */
static void down_place(void *arg)
{
	struct while_down *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "1", "2", "4"};
	const struct server *s = x->r->nodes[3].s;
	if (!s || s->n_shards < 2 || !raft_config_is_voter(raft_config_of(s->groups[1]->r), 4))
		ns_fail(x->r, "scenario: node 4 is not a voter of shard 1 3 s after it was added");
	ns_admin_expect(x->r, 0, 4, place, "+OK");
}

/* Then on node 4 alone: node 2, the last member node 3's configuration
 * names, leaves it too. */
static void down_alone(void *arg)
{
	struct while_down *x = arg;
	static const char *const place[] = {"KEEL.PLACESHARD", "1", "4"};
	static const raft_id two[] = {2, 4};
	if (!shard1_on(x, two, 2))
		ns_fail(x->r,
			"scenario: shard 1 is not on nodes 2 4 2 s after it was placed there");
	ns_admin_expect(x->r, 0, 3, place, "+OK");
}

static void down_restart(void *arg)
{
	struct while_down *x = arg;
	static const raft_id one[] = {4};
	if (!shard1_on(x, one, 1))
		ns_fail(x->r, "scenario: shard 1 is not on node 4 alone 2 s after it was placed");
	ns_node_start(&x->r->nodes[2]);
}

/* Node 3's configuration of shard 1 names nodes 1-3 only (it was down as
 * node 4 joined and the others left): it believes node 4, whom the map
 * lists, that it was removed, and serves the shard through it. */
static void down_back(void *arg)
{
	struct while_down *x = arg;
	const struct server *s = x->r->nodes[2].s;
	const struct group *g = s && s->n_shards > 1 ? s->groups[1] : NULL;
	if (!g || !g->outside || !g->removed_at)
		ns_fail(x->r,
			"scenario: node 3, restarted, does not know it was taken off shard 1");
	x->p = ns_probe_open(x->r, "back-3", 2);
	ns_probe_send(x->p, "+OK", "SET %s d1", x->key);
	ns_probe_send(x->p, "$2 d1", "GET %s", x->key);
}

static void down_done(void *arg)
{
	struct while_down *x = arg;
	ns_probe_done(x->p);
}

/* Three nodes of two shards and a spare. Node 3 crashes; the spare is
 * added (a voter of every group), shard 1 placed on nodes 2 and 4 (node
 * 3 is removed while down), then on node 4 alone. Node 3 restarts with a
 * configuration of shard 1 that names none of its members now; node 4,
 * the only one that tells it it was removed, is not in it: node 3
 * believes it all the same (the map lists node 4, not node 3), is
 * outside the shard and serves its keys through node 4. Before, it
 * stayed a member of its old configuration for good, its applied index 0
 * (the random sharded seed 2394). Node 3 restarts at restart_ms; it is
 * looked at 3 s later. */
static void placed_down(struct ns_run *r, uint64_t restart_ms)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.shards = 2;
	r->p.run_ns = (restart_ms + 6500) * MS;
	struct while_down *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	ns_probe_key("wd", 0, 8192, 16383, x->key, sizeof x->key);
	world_at(r->w, 1000 * MS, down_crash, x);
	world_at(r->w, 1200 * MS, down_add, x);
	world_at(r->w, 4500 * MS, down_place, x);
	world_at(r->w, 6500 * MS, down_alone, x);
	world_at(r->w, restart_ms * MS, down_restart, x);
	world_at(r->w, (restart_ms + 3000) * MS, down_back, x);
	world_at(r->w, (restart_ms + 4500) * MS, down_done, x);
}

void ns_scen_shard_placed_while_down(struct ns_run *r)
{
	placed_down(r, 8500);
}

/* The same with node 3 down for 16 s: restarted long after the members
 * stopped telling it it was removed (10 s after the change), it asks
 * nodes 1 and 2, its configuration's voters, for pre-votes, and they,
 * taken off too, say nothing. The map does not list it: its pre-votes go
 * to node 4, which the map lists, too, and node 4 answers with a REMOVED
 * notice. Before, node 3 stayed a member of its old configuration, a
 * follower with no leader, for good. */
void ns_scen_shard_placed_long_down(struct ns_run *r)
{
	placed_down(r, 17000);
}
