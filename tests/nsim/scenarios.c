/* tests/nsim/scenarios.c — scripted runs of the whole-node simulator: the
 * fault schedules of bugs its random seeds found, written out, so each
 * stays caught whatever later changes do to the seeds' traces. A scenario
 * sets the run's parameters (no random faults) and schedules its events;
 * the workload and every check are a seed's. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "net/frame.h"
#include "nsim/nsim.h"
#include "resp/buf.h"
#include "sim/simfs.h"

static struct ns_node *leader(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].s && r->nodes[i].s->r &&
		    raft_role_of(r->nodes[i].s->r) == RAFT_LEADER)
			return &r->nodes[i];
	return NULL;
}

static void crash3(void *arg)
{
	ns_node_crash(&((struct ns_run *)arg)->nodes[2]);
}

static void restart3(void *arg)
{
	ns_node_start(&((struct ns_run *)arg)->nodes[2]);
}

static void add4(void *arg)
{
	ns_membership_add(arg); /* the spare: RAFT ADD-LEARNER 4 ... AUTO */
}

static void transfer_to_4(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader to transfer from");
		return;
	}
	ns_admin(r, (uint32_t)(l - r->nodes), "TRANSFER", 4);
}

/* A founder down while a node is added and made leader: restarted, its
 * configuration does not hold the leader, whose appends it must answer
 * over a connection of its own (members_follow_leader). */
static void leader_outside_config(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	world_at(r->w, 500000000, crash3, r);
	world_at(r->w, 1000000000, add4, r);
	world_at(r->w, 4000000000, transfer_to_4, r);
	world_at(r->w, 5500000000, restart3, r);
}

static struct ns_node *failed_disk;

static void disk_replaced(void *arg)
{
	struct ns_run *r = arg;
	if (failed_disk) {
		if (failed_disk->s && !failed_disk->s->closed)
			ns_fail(r, "scenario: node %llu still runs on a failed disk",
				(unsigned long long)failed_disk->id);
		simfs_fail_clear(host_disk(failed_disk->h));
	}
}

/* A follower's disk fills (every write from now on: ENOSPC): it stops, the
 * other two go on, and once given room it restarts from what it had synced
 * and catches up (the agreement check). */
static void follower_disk_fills_now(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *l = leader(r);
	failed_disk = NULL;
	for (uint32_t i = 0; i < r->n_nodes && !failed_disk; i++)
		if (&r->nodes[i] != l && r->nodes[i].s)
			failed_disk = &r->nodes[i];
	if (!l || !failed_disk) {
		ns_fail(r, "scenario: no leader and follower");
		return;
	}
	world_tracef(r->w, "fault: node %llu's disk is full", (unsigned long long)failed_disk->id);
	simfs_fail(host_disk(failed_disk->h), SIMFS_WRITE, 0, KEEL_ENOSPC, true);
}

static void follower_disk_fills(struct ns_run *r)
{
	r->p.nodes = 3;
	failed_disk = NULL;
	world_at(r->w, 2000000000, follower_disk_fills_now, r);
	world_at(r->w, 5000000000, disk_replaced, r);
}

/* ---- what an operator sees of a node ---- */

struct info_ctx {
	struct server *s;
	const char *section;
	struct rbuf *out;
};

static void info_in(void *arg)
{
	struct info_ctx *c = arg;
	server_info(c->s, c->section, c->out);
}

/* Whether node n is running and its INFO section holds line (a whole
 * "field:value"). */
static bool info_says(struct ns_node *n, const char *section, const char *line)
{
	if (!n->s)
		return false;
	struct rbuf out;
	rbuf_init(&out);
	struct info_ctx c = {n->s, section, &out};
	host_enter(n->h, info_in, &c);
	char want[96];
	snprintf(want, sizeof want, "\n%s\r\n", line);
	bool found = out.len && memmem(out.p, out.len, want, strlen(want)) != NULL;
	rbuf_free(&out);
	return found;
}

/* INFO raft's last_contact_ms for member id as node n sees it (what
 * `keel-cli status` shows), or LLONG_MIN if n does not list it. */
static long long last_contact(struct ns_node *n, uint64_t id)
{
	if (!n->s)
		return LLONG_MIN;
	struct rbuf out;
	rbuf_init(&out);
	struct info_ctx c = {n->s, "raft", &out};
	host_enter(n->h, info_in, &c);
	rbuf_put(&out, "", 1);
	char want[48];
	snprintf(want, sizeof want, "raft_member_%llu:", (unsigned long long)id);
	const char *line = strstr((const char *)out.p, want);
	const char *f = line ? strstr(line, "last_contact_ms=") : NULL;
	long long v = f ? strtoll(f + strlen("last_contact_ms="), NULL, 10) : LLONG_MIN;
	rbuf_free(&out);
	return v;
}

/* A scheduled step of a scenario that concerns one node. */
struct step {
	struct ns_run *r;
	uint32_t node;
	uint32_t other; /* the node it looks at, or was chosen at an earlier step */
	uint32_t count; /* how many (0: the step's own number) */
};

static struct step *step_new(struct ns_run *r, uint32_t node)
{
	struct step *st = ns_alloc(r, sizeof *st);
	*st = (struct step){r, node, UINT32_MAX, 0};
	return st;
}

/* ---- a graceful stop (SIGTERM) of the leader ---- */

static void stop_in(void *arg)
{
	server_stop(arg);
}

static void check_handed_over(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l || l == &r->nodes[st->other])
		ns_fail(r, "400 ms after SIGTERM of leader %llu, %s leads: it did not hand over",
			(unsigned long long)r->nodes[st->other].id, l ? "it still" : "no node");
}

static void check_stopped(void *arg)
{
	struct step *st = arg;
	struct ns_node *n = &st->r->nodes[st->other];
	if (n->s && !n->s->closed)
		ns_fail(st->r, "node %llu still runs 1.5 s after SIGTERM",
			(unsigned long long)n->id);
}

static void sigterm_leader(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader to stop");
		return;
	}
	st->other = (uint32_t)(l - r->nodes);
	world_tracef(r->w, "node %llu: SIGTERM", (unsigned long long)l->id);
	host_enter(l->h, stop_in, l->s);
	world_at(r->w, world_now_ns(r->w) + 400000000, check_handed_over, st);
	world_at(r->w, world_now_ns(r->w) + 1500000000, check_stopped, st);
}

/* SIGTERM of the leader under the workload: it hands leadership to a
 * caught-up voter at once (a new leader well within an election
 * timeout), answers what was in flight truthfully (the history's checks),
 * and stops within its second. */
static void leader_sigterm(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 2500000000, sigterm_leader, step_new(r, 0));
}

/* ---- --join ---- */

static void start_joiner(void *arg)
{
	struct step *st = arg;
	struct ns_node *n = &st->r->nodes[st->node];
	n->kind = NS_ADDED;
	n->join = true;
	ns_node_start(n);
}

static void cut_first(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	for (uint32_t i = 1; i < r->p.nodes; i++)
		world_cut(r->w, r->nodes[0].h, r->nodes[i].h, st->other == 1);
}

/* The joiner is a voter of the configuration every member holds, and it
 * stopped asking (its --join connection closed: told it was added). */
static void check_joined(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *n = &r->nodes[st->node];
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->r && !raft_config_is_voter(raft_config_of(s->r), n->id))
			ns_fail(r, "node %llu, added, is not a voter in node %llu's configuration",
				(unsigned long long)n->id, (unsigned long long)r->nodes[i].id);
	}
	if (n->s && (n->s->join.active || n->s->join.tcp_open))
		ns_fail(r, "node %llu (--join) still asks to join once added",
			(unsigned long long)n->id);
	struct ns_node *l = leader(r);
	long long ms = l ? last_contact(l, n->id) : LLONG_MIN;
	if (l && (ms < 0 || ms > 1000))
		ns_fail(r, "leader %llu last heard from node %llu %lld ms ago (INFO raft)",
			(unsigned long long)l->id, (unsigned long long)n->id, ms);
}

/* A node started with --join while the member it names knows no leader
 * (cut off from the others): refused (CLUSTERDOWN), it asks again each
 * second until the member is back and the leader adds it (AUTO: then
 * promotes it). */
static void join_refused_then_added(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	struct step *cut = step_new(r, 0), *uncut = step_new(r, 0);
	cut->other = 1;
	uncut->other = 0;
	world_at(r->w, 1000, cut_first, cut);
	world_at(r->w, 1500000000, start_joiner, step_new(r, 3));
	world_at(r->w, 3500000000, cut_first, uncut);
	world_at(r->w, 5900000000, check_joined, step_new(r, 3));
}

/* ---- removal ---- */

static void remove_third(void *arg)
{
	struct step *st = arg;
	const char *argv[] = {"RAFT", "REMOVE", "3"};
	ns_admin_expect(st->r, st->node, 3, argv, "+OK");
}

/* The removed node says so (INFO raft_role:removed) and answers a request
 * with -REMOVED; every other member still serves. */
static void check_removed(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	if (!info_says(&r->nodes[2], "raft", "raft_role:removed"))
		ns_fail(r, "node 3, removed, does not say raft_role:removed");
	const char *get[] = {"GET", "k0"};
	ns_admin_expect(r, 2, 2, get, "-REMOVED");
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (i != 2 && info_says(&r->nodes[i], "raft", "raft_role:removed"))
			ns_fail(r, "node %llu says raft_role:removed",
				(unsigned long long)r->nodes[i].id);
}

/* RAFT REMOVE of a running follower, sent to another follower (which
 * forwards it): OK, and the removed node is told (FRAME_REMOVED) and
 * stops taking part. A spare was added first, so three voters remain. */
static void remove_running_follower(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	world_at(r->w, 500000000, add4, r);
	world_at(r->w, 4000000000, remove_third, step_new(r, 1));
	world_at(r->w, 5500000000, check_removed, step_new(r, 2));
}

/* ---- frames no member sent ---- */

struct forger {
	struct ns_run *r;
	struct wconn *c; /* NULL once closed */
	uint64_t as;	 /* the node id its HELLO claims */
};

struct forged { /* one frame, sent later */
	struct forger *f;
	uint8_t kind;
	uint8_t payload[64];
	uint32_t len;
};

static void on_forger(void *ctx, struct wconn *c, enum wconn_event ev)
{
	struct forger *f = ctx;
	if (ev == WCONN_CLOSED) {
		wconn_close(c);
		f->c = NULL;
	}
}

static void forged_send(struct forger *f, uint8_t kind, const void *p, uint32_t n)
{
	uint8_t hdr[FRAME_HDR];
	frame_header(hdr, kind, p, n);
	wconn_send(f->c, hdr, sizeof hdr);
	if (n)
		wconn_send(f->c, p, n);
}

static void forged_frame(void *arg)
{
	struct forged *g = arg;
	world_tracef(g->f->r->w, "forged: as node %llu, a frame of kind %u, %u bytes%s",
		     (unsigned long long)g->f->as, g->kind, g->len, g->f->c ? "" : " (closed)");
	if (g->f->c)
		forged_send(g->f, g->kind, g->payload, g->len);
}

/* A connection to node r->nodes[to]'s peer port from a host that is no
 * node, claiming to be node `as`, and its HELLO. */
static struct forger *forger_to(struct ns_run *r, uint32_t to, uint64_t as)
{
	struct forger *f = ns_alloc(r, sizeof *f);
	memset(f, 0, sizeof *f);
	f->r = r;
	f->as = as;
	f->c = wconn_open(r->w, r->admin_host, host_ip(r->nodes[to].h), 7379, on_forger, f);
	struct frame_hello h = {.id = as};
	snprintf(h.peer_addr, sizeof h.peer_addr, "127.0.2.1:7379");
	uint8_t buf[FRAME_HELLO_MAX];
	size_t n = frame_hello_encode(&h, buf);
	forged_send(f, FRAME_HELLO, buf, (uint32_t)n);
	return f;
}

static struct forger *forger_open(struct ns_run *r, uint64_t as)
{
	return forger_to(r, 0, as);
}

static void forged_later(struct ns_run *r, struct forger *f, uint64_t after_ns, uint8_t kind,
			 const void *p, uint32_t n)
{
	struct forged *g = ns_alloc(r, sizeof *g);
	g->f = f;
	g->kind = kind;
	memcpy(g->payload, p, n);
	g->len = n;
	world_at(r->w, world_now_ns(r->w) + after_ns, forged_frame, g);
}

static void uncut_first_second(void *arg)
{
	struct ns_run *r = arg;
	world_cut(r->w, r->nodes[0].h, r->nodes[1].h, false);
}

/* Notices of removal node 1 must not believe: from an id that is no
 * member; naming an index far past its log; naming the configuration it
 * holds, which includes it; a payload one byte short (its eighth byte
 * would be a stale zero of the connection's buffer). Sent on connections
 * that claim an id, as any process that reaches the peer port can. */
static void forge_notices(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct raft *c = r->nodes[0].s ? r->nodes[0].s->r : NULL;
	if (!c) {
		ns_fail(r, "scenario: node 1 is not running");
		return;
	}
	uint8_t p[8], zeros[64] = {0};
	raft_index mine = raft_config_index_of(c), last = raft_last_index(c);
	struct forger *stranger = forger_open(r, 99);
	bytes_put_u64(p, mine + 1);
	forged_later(r, stranger, 50000000, FRAME_REMOVED, p, 8);
	/* node 2 cut off from node 1 meanwhile, or its own connection (a HELLO
	 * of the same id) would replace the forger's */
	world_cut(r->w, r->nodes[0].h, r->nodes[1].h, true);
	world_at(r->w, world_now_ns(r->w) + 400000000, uncut_first_second, r);
	struct forger *member = forger_open(r, 2);
	bytes_put_u64(p, last + 512u * 64u + 100000); /* the log grows meanwhile */
	forged_later(r, member, 50000000, FRAME_REMOVED, p, 8);
	bytes_put_u64(p, mine);
	forged_later(r, member, 100000000, FRAME_REMOVED, p, 8);
	forged_later(r, member, 150000000, 40, zeros, sizeof zeros); /* a kind it ignores */
	bytes_put_u64(p, mine + 1);
	forged_later(r, member, 200000000, FRAME_REMOVED, p, 7);
}

static void check_not_removed(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	if (!r->nodes[0].s || r->nodes[0].s->removed_at ||
	    (!info_says(&r->nodes[0], "raft", "raft_role:leader") &&
	     !info_says(&r->nodes[0], "raft", "raft_role:follower")))
		ns_fail(r, "node 1 believed a notice of removal no member sent");
}

static void forged_removal_notices(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 2500000000, forge_notices, step_new(r, 0));
	world_at(r->w, 3500000000, check_not_removed, step_new(r, 0));
}

/* ---- a disk that fails ---- */

static void fail_disk(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader");
		return;
	}
	st->other = (uint32_t)(l - r->nodes);
	world_tracef(r->w, "node %llu: its disk fails (EIO on every sync)",
		     (unsigned long long)l->id);
	simfs_fail(host_disk(l->h), SIMFS_FDATASYNC, 0, KEEL_EIO, true);
}

static void check_failed_stop(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *n = &r->nodes[st->other];
	if (n->s && !n->s->closed)
		ns_fail(r, "node %llu runs on 2 s after its disk failed",
			(unsigned long long)n->id);
	simfs_fail_clear(host_disk(n->h));
	/* the others' INFO: the stopped node silent since, each other heard */
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		if (i == st->other)
			continue;
		for (uint32_t k = 0; k < r->p.nodes; k++) {
			long long ms = last_contact(&r->nodes[i], r->nodes[k].id);
			bool ok = k == i	   ? ms == 0
				  : k == st->other ? ms >= 1500
						   : ms >= 0 && ms < 1000;
			if (!ok)
				ns_fail(r,
					"node %llu last heard from node %llu %lld ms ago (INFO "
					"raft)",
					(unsigned long long)r->nodes[i].id,
					(unsigned long long)r->nodes[k].id, ms);
		}
	}
}

/* The leader's disk fails under the workload: it stops (fail-stop), what
 * it had in flight is answered truthfully (the history's checks), the
 * others elect a leader and go on, and it recovers once restarted. */
static void leader_disk_fails(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	struct step *st = step_new(r, 0);
	world_at(r->w, 2500000000, fail_disk, st);
	world_at(r->w, 4500000000, check_failed_stop, st);
}

/* ---- a removal proposed but never committed ---- */

/* Whether a running node holds a committed configuration without n. */
static bool removal_committed_anywhere(struct ns_run *r, const struct ns_node *n)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->r && raft_config_index_of(s->r) <= raft_commit_index(s->r) &&
		    !raft_config_find(raft_config_of(s->r), n->id))
			return true;
	}
	return false;
}

static void check_not_told(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (info_says(&r->nodes[i], "raft", "raft_role:removed") &&
		    !removal_committed_anywhere(r, &r->nodes[i]))
			ns_fail(r,
				"node %llu says raft_role:removed, but no committed configuration "
				"leaves it out",
				(unsigned long long)r->nodes[i].id);
}

static void uncut_pair(void *arg)
{
	struct step *st = arg;
	world_cut(st->r->w, st->r->nodes[st->node].h, st->r->nodes[st->other].h, false);
}

/* The leader, cut off from one follower, is asked to remove the other:
 * RAFT REMOVE answers OK (proposed), but the new configuration cannot
 * commit (its only other voter is cut off). The follower to be removed
 * stops hearing from the leader and campaigns; nobody may tell it it was
 * removed (FRAME_REMOVED) while no committed configuration says so: with
 * the other follower it elects a leader, which overwrites the proposal. */
static void cut_and_remove(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader");
		return;
	}
	uint32_t li = (uint32_t)(l - r->nodes), x = (li + 1) % 3, y = (li + 2) % 3;
	world_tracef(r->w, "fault: cut %llu-%llu", (unsigned long long)l->id,
		     (unsigned long long)r->nodes[y].id);
	world_cut(r->w, l->h, r->nodes[y].h, true);
	struct step *uncut = step_new(r, li);
	uncut->other = y;
	world_at(r->w, world_now_ns(r->w) + 3500000000, uncut_pair, uncut);
	char id[24];
	snprintf(id, sizeof id, "%llu", (unsigned long long)r->nodes[x].id);
	const char *argv[] = {"RAFT", "REMOVE", id};
	ns_admin_expect(r, li, 3, argv, "+OK");
	for (uint64_t t = 500000000; t <= 3000000000; t += 500000000)
		world_at(r->w, world_now_ns(r->w) + t, check_not_told, st);
}

static void removal_never_committed(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 2500000000, cut_and_remove, step_new(r, 0));
}

/* ---- made-up ids ---- */

#define STRANGERS 62 /* with the two members, every incoming name the peer port takes */

struct stranger {
	struct step *st;
	uint32_t no;
	struct forger *f;
};

static void stranger_leaves(void *arg)
{
	struct stranger *x = arg;
	if (x->f->c) {
		wconn_close(x->f->c);
		x->f->c = NULL;
	}
}

/* One made-up id: its HELLO, a frame, and it leaves. */
static void stranger_comes(void *arg)
{
	struct stranger *x = arg;
	struct ns_run *r = x->st->r;
	uint8_t zeros[8] = {0};
	x->f = forger_to(r, x->st->other, 100 + x->no);
	forged_later(r, x->f, 20000000, 40, zeros, sizeof zeros); /* a kind it ignores */
	world_at(r->w, world_now_ns(r->w) + 100000000, stranger_leaves, x);
}

/* One after another (a peer port takes few connections before their
 * HELLO at once). */
static void strangers_call(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader");
		return;
	}
	st->other = (uint32_t)(l - r->nodes);
	for (uint32_t i = 0; i < (st->count ? st->count : STRANGERS); i++) {
		struct stranger *x = ns_alloc(r, sizeof *x);
		*x = (struct stranger){st, i, NULL};
		world_at(r->w, world_now_ns(r->w) + i * 10000000ull, stranger_comes, x);
	}
}

/* The leader lists every member as heard from (INFO raft), the one added
 * after the strangers came and went included. */
static void check_heard(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = &r->nodes[st->other];
	if (leader(r) != l) {
		ns_fail(r, "scenario: node %llu no longer leads", (unsigned long long)l->id);
		return;
	}
	for (uint32_t k = 0; k < 4; k++) {
		long long ms = last_contact(l, r->nodes[k].id);
		if (k == st->other ? ms != 0 : ms < 0 || ms > 1000)
			ns_fail(r, "leader %llu last heard from node %llu %lld ms ago (INFO raft)",
				(unsigned long long)l->id, (unsigned long long)r->nodes[k].id, ms);
	}
}

/* Processes that reach the leader's peer port with made-up ids (a HELLO
 * says any id) and send a frame, then leave: they take no lasting place,
 * so a node added after them is listed as heard from like the others. */
static void strangers_take_no_place(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	struct step *st = step_new(r, 0);
	world_at(r->w, 2000000000, strangers_call, st);
	world_at(r->w, 3000000000, add4, r);
	world_at(r->w, 5500000000, check_heard, st);
}

/* ---- a leader removing itself ---- */

static void isolate(struct ns_run *r, uint32_t a, bool cut)
{
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (i != a)
			world_cut(r->w, r->nodes[a].h, r->nodes[i].h, cut);
}

static void reconnect(void *arg)
{
	struct step *st = arg;
	isolate(st->r, st->other, false);
}

/* As another member, a notice naming the first configuration (index 1). */
static void forge_old_notice(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	uint8_t p[8];
	bytes_put_u64(p, 1);
	struct forger *f = forger_to(r, st->other, r->nodes[(st->other + 1) % 3].id);
	forged_later(r, f, 20000000, FRAME_REMOVED, p, 8);
}

/* The leader, cut off from the others, is asked to remove itself: its
 * configuration then leaves it out, uncommitted. A notice naming an older
 * configuration (the first) must not make it think itself removed. */
static void remove_the_leader(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader");
		return;
	}
	st->other = (uint32_t)(l - r->nodes);
	world_tracef(r->w, "fault: isolate node %llu", (unsigned long long)l->id);
	isolate(r, st->other, true);
	char id[24];
	snprintf(id, sizeof id, "%llu", (unsigned long long)l->id);
	const char *argv[] = {"RAFT", "REMOVE", id};
	ns_admin_expect(r, st->other, 3, argv, "+OK");
	uint64_t now = world_now_ns(r->w);
	world_at(r->w, now + 100000000, forge_old_notice, st);
	world_at(r->w, now + 400000000, check_not_told, st);
	world_at(r->w, now + 1000000000, reconnect, st);
}

static void leader_removing_itself(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 2500000000, remove_the_leader, step_new(r, 0));
}

/* ---- time counted in ticks, not in loop passes ---- */

struct pinger {
	struct step *st;
	struct wconn *c;
	uint32_t left;
};

static void on_pinger(void *ctx, struct wconn *c, enum wconn_event ev)
{
	struct pinger *p = ctx;
	size_t n;
	wconn_data(c, &n);
	wconn_consume(c, n);
	if (ev == WCONN_CLOSED) {
		wconn_close(c);
		p->c = NULL;
	}
}

static void ping_once(void *arg)
{
	struct pinger *p = arg;
	if (!p->c || !p->left--) {
		if (p->c)
			wconn_close(p->c);
		p->c = NULL;
		return;
	}
	wconn_send(p->c, "*1\r\n$4\r\nPING\r\n", 14);
	world_at(p->st->r->w, world_now_ns(p->st->r->w) + 1000000, ping_once, p);
}

static void check_still_follows(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	char line[48];
	snprintf(line, sizeof line, "raft_leader_id:%llu",
		 (unsigned long long)r->nodes[st->node].id);
	if (!info_says(&r->nodes[st->other], "raft", line))
		ns_fail(r,
			"node %llu, cut off 450 ms ago (under an election timeout), no longer "
			"names leader %llu",
			(unsigned long long)r->nodes[st->other].id,
			(unsigned long long)r->nodes[st->node].id);
}

/* A follower cut off from the others while a client pings it every
 * millisecond: its loop runs far more often than it ticks, but it waits an
 * election timeout (1 s at least) of ticks before it campaigns: it still
 * names its leader 450 ms on. */
static void cut_busy_follower(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader");
		return;
	}
	st->node = (uint32_t)(l - r->nodes);
	st->other = (st->node + 1) % 3;
	world_tracef(r->w, "fault: isolate node %llu", (unsigned long long)r->nodes[st->other].id);
	isolate(r, st->other, true);
	struct pinger *p = ns_alloc(r, sizeof *p);
	*p = (struct pinger){st, NULL, 420};
	p->c = wconn_open(r->w, r->admin_host, host_ip(r->nodes[st->other].h), 6379, on_pinger, p);
	uint64_t now = world_now_ns(r->w);
	world_at(r->w, now + 5000000, ping_once, p);
	world_at(r->w, now + 450000000, check_still_follows, st);
	world_at(r->w, now + 600000000, reconnect, st);
}

static void busy_follower_cut_off(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 2500000000, cut_busy_follower, step_new(r, 0));
}

/* ---- a read replica is no peer ---- */

struct knock {
	struct ns_run *r;
	char where[40];
	bool answered;
};

static void on_knock(void *ctx, struct wconn *c, enum wconn_event ev)
{
	struct knock *k = ctx;
	if (ev == WCONN_CONNECTED && !k->answered) {
		k->answered = true;
		ns_fail(k->r, "a read replica takes connections on its peer port (%s)", k->where);
	}
	wconn_close(c);
}

/* Its peer port (the default, client port + 10000) takes no connection. */
static void knock_on_replica(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[r->p.nodes];
	if (n->kind != NS_REPLICA || !n->s) {
		ns_fail(r, "scenario: the read replica is not running");
		return;
	}
	struct knock *k = ns_alloc(r, sizeof *k);
	*k = (struct knock){r, "", false};
	snprintf(k->where, sizeof k->where, "%s:%d", host_ip(n->h), n->s->cfg.peer_port);
	wconn_open(r->w, r->admin_host, host_ip(n->h), n->s->cfg.peer_port, on_knock, k);
}

static void replica_is_no_peer(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.replicas = 1;
	r->p.replica_clients = 1;
	world_at(r->w, 2000000000, knock_on_replica, r);
}

/* ---- made-up ids that forward ---- */

static void stranger_forwards(void *arg)
{
	struct stranger *x = arg;
	struct ns_run *r = x->st->r;
	uint8_t rec[8 + 1 + 4 + 4 + 3];
	bytes_put_u64(rec, 1); /* the request's id */
	rec[8] = 0;	       /* a write */
	bytes_put_u32(rec + 9, 1);
	bytes_put_u32(rec + 13, 3);
	memcpy(rec + 17, "abc", 3); /* not a command: answered as malformed */
	x->f = forger_to(r, x->st->other, 200 + x->no);
	forged_later(r, x->f, 20000000, FRAME_FORWARD, rec, sizeof rec);
	world_at(r->w, world_now_ns(r->w) + 100000000, stranger_leaves, x);
}

static void strangers_forward(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader");
		return;
	}
	st->other = (uint32_t)(l - r->nodes);
	for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
		struct stranger *x = ns_alloc(r, sizeof *x);
		*x = (struct stranger){st, i, NULL};
		world_at(r->w, world_now_ns(r->w) + i * 10000000ull, stranger_forwards, x);
	}
}

/* A write sent to the member added after the strangers: it forwards it to
 * the leader, whose reply must come back. */
static void write_through_new_member(void *arg)
{
	struct step *st = arg;
	const char *argv[] = {"SET", "added", "1"};
	ns_admin_expect(st->r, 3, 3, argv, "+OK");
}

/* Made-up ids on the leader's peer port each forward a (malformed)
 * request, and leave: the leader answers each, and still answers the
 * requests a member added after them forwards. */
static void strangers_forward_first(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	struct step *st = step_new(r, 0);
	world_at(r->w, 2000000000, strangers_forward, st);
	world_at(r->w, 3000000000, add4, r);
	world_at(r->w, 5000000000, write_through_new_member, st);
}

/* A cluster of one: its configuration has a single member, so it learns no
 * peer from HELLOs (only a node given no configuration yet does): 64
 * made-up ids take none of its peer slots, and a node added after them is
 * reached, caught up and promoted. */
static void strangers_at_a_cluster_of_one(struct ns_run *r)
{
	r->p.nodes = 1;
	r->p.spares = 1;
	struct step *st = step_new(r, 0);
	st->count = PEERS_MAX;
	world_at(r->w, 1000000000, strangers_call, st);
	world_at(r->w, 2000000000, add4, r);
	world_at(r->w, 5500000000, check_joined, step_new(r, 1));
}

/* ---- a learner removed ---- */

static void add_learner_4(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[3];
	n->kind = NS_ADDED;
	ns_node_start(n);
	char addr[40];
	snprintf(addr, sizeof addr, "%s:7379", host_ip(n->h));
	const char *argv[] = {"RAFT", "ADD-LEARNER", "4", addr};
	ns_admin_expect(r, 0, 4, argv, "+OK");
}

static void remove_learner_4(void *arg)
{
	struct ns_run *r = arg;
	const char *argv[] = {"RAFT", "REMOVE", "4"};
	ns_admin_expect(r, 1, 3, argv, "+OK");
}

static void check_learner_told(void *arg)
{
	struct ns_run *r = arg;
	if (!info_says(&r->nodes[3], "raft", "raft_role:removed"))
		ns_fail(r, "node 4, a learner removed 1.5 s ago, does not say raft_role:removed");
}

/* A learner (added without AUTO: never promoted) is removed: it never
 * campaigns, so only the members' notices (FRAME_REMOVED, sent while the
 * dropped node is kept connected) can tell it. */
static void learner_removed(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	world_at(r->w, 1000000000, add_learner_4, r);
	world_at(r->w, 3000000000, remove_learner_4, r);
	world_at(r->w, 4500000000, check_learner_told, r);
}

/* ---- a burst of membership changes ---- */

struct change {
	struct ns_run *r;
	uint32_t no;
};

/* Change no: even, RAFT ADD-LEARNER of id 10 + no/2 at an address where
 * nothing listens; odd, RAFT REMOVE of it. */
static void change_one(void *arg)
{
	struct change *ch = arg;
	char id[24], addr[40];
	snprintf(id, sizeof id, "%u", 10 + ch->no / 2);
	snprintf(addr, sizeof addr, "127.0.3.%u:7379", 1 + ch->no / 2);
	const char *add[] = {"RAFT", "ADD-LEARNER", id, addr};
	const char *rm[] = {"RAFT", "REMOVE", id};
	if (ch->no % 2)
		ns_admin_expect(ch->r, 0, 3, rm, "+OK");
	else
		ns_admin_expect(ch->r, 0, 4, add, "+OK");
}

/* Node 4 joins as a learner; six learners that never start are added and
 * removed, one change at a time; then node 4 is removed: the members
 * still keep it connected to tell it (twelve changes do not crowd out
 * the record of the one it must be told). */
static void learner_removed_after_a_burst(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	world_at(r->w, 1000000000, add_learner_4, r);
	for (uint32_t i = 0; i < 12; i++) {
		struct change *ch = ns_alloc(r, sizeof *ch);
		*ch = (struct change){r, i};
		world_at(r->w, 1500000000 + i * 150000000ull, change_one, ch);
	}
	world_at(r->w, 3500000000, remove_learner_4, r);
	world_at(r->w, 5000000000, check_learner_told, r);
}

static const struct {
	const char *name;
	void (*setup)(struct ns_run *r);
} scenarios[] = {
	{"leader_outside_config", leader_outside_config},
	{"leader_sigterm", leader_sigterm},
	{"join_refused_then_added", join_refused_then_added},
	{"remove_running_follower", remove_running_follower},
	{"forged_removal_notices", forged_removal_notices},
	{"leader_disk_fails", leader_disk_fails},
	{"removal_never_committed", removal_never_committed},
	{"strangers_take_no_place", strangers_take_no_place},
	{"leader_removing_itself", leader_removing_itself},
	{"busy_follower_cut_off", busy_follower_cut_off},
	{"replica_is_no_peer", replica_is_no_peer},
	{"strangers_forward_first", strangers_forward_first},
	{"strangers_at_a_cluster_of_one", strangers_at_a_cluster_of_one},
	{"learner_removed", learner_removed},
	{"learner_removed_after_a_burst", learner_removed_after_a_burst},
	{"follower_disk_fills", follower_disk_fills},
};

uint32_t ns_scenario_count(void)
{
	return sizeof scenarios / sizeof *scenarios;
}

const char *ns_scenario_name(uint32_t i)
{
	return scenarios[i].name;
}

void ns_scenario_setup(struct ns_run *r, uint32_t i)
{
	r->p.replicas = 0;
	r->p.replica_clients = 0;
	r->p.fault_every_ms = 0;
	r->scripted = true;
	scenarios[i].setup(r);
}
