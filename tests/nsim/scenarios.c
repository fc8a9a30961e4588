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
#include "storage/snapfile.h"
#include "resp/parse.h"

static struct ns_node *leader(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].s && r->nodes[i].s->g->r &&
		    raft_role_of(r->nodes[i].s->g->r) == RAFT_LEADER)
			return &r->nodes[i];
	return NULL;
}

/* ---- a scripted connection: requests sent at once, the replies checked
 * byte for byte against what they must be ---- */

struct raw {
	struct ns_run *r;
	const char *name;
	struct wconn *conn;
	struct rbuf req, want;
	size_t matched;
	bool hang_up;	  /* it closes as soon as its requests are sent */
	bool keep_open;	  /* it stays connected once answered, until checked */
	bool contains;	  /* one reply, holding each line of want (rbuf NUL-ended) */
	bool closed_ok;	  /* the node closes it once want has come */
	struct rbuf req2; /* sent later on the same connection (raw_then) */
	bool done;
};

static void raw_end(struct raw *x)
{
	x->done = true;
	wconn_close(x->conn);
	x->conn = NULL;
}

/* contains mode: the one reply must hold every line of want */
static void raw_contains(struct raw *x, struct wconn *c)
{
	size_t n, frame;
	const uint8_t *p = wconn_data(c, &n);
	if (resp_scan_reply(p, n, &frame) != RESP_OK)
		return;
	for (const char *w = (const char *)x->want.p; *w;) {
		const char *eol = strstr(w, "\r\n");
		size_t len = eol ? (size_t)(eol - w) + 2 : strlen(w);
		if (!memmem(p, frame, w, len)) {
			ns_fail(x->r, "scenario %s: the reply has no line %.*s: %.*s", x->name,
				(int)len - 2, w, (int)(frame < 400 ? frame : 400), (const char *)p);
			break;
		}
		w += len;
	}
	x->matched = x->want.len;
	raw_end(x);
}

static void on_raw(void *ctx, struct wconn *c, enum wconn_event ev)
{
	struct raw *x = ctx;
	if (ev == WCONN_DATA && x->contains) {
		raw_contains(x, c);
		return;
	}
	if (ev == WCONN_CONNECTED) {
		wconn_send(c, x->req.p, x->req.len);
		if (x->hang_up)
			raw_end(x);
		return;
	}
	if (ev == WCONN_CLOSED && (x->done || (x->closed_ok && x->matched == x->want.len))) {
		x->done = true; /* kept open and answered, or closed as it must be */
		x->conn = NULL;
		return;
	}
	if (ev == WCONN_CLOSED) {
		ns_fail(x->r,
			"scenario %s: the connection closed after %zu of %zu bytes of replies",
			x->name, x->matched, x->want.len);
		x->conn = NULL;
		return;
	}
	size_t n;
	const uint8_t *p = wconn_data(c, &n);
	if (x->matched + n > x->want.len || memcmp(p, x->want.p + x->matched, n)) {
		size_t at = 0;
		while (at < n && x->matched + at < x->want.len &&
		       p[at] == x->want.p[x->matched + at])
			at++;
		size_t back = at < 20 ? at : 20;
		ns_fail(x->r, "scenario %s: reply byte %zu is wrong: got \"%.*s\", want \"%.*s\"",
			x->name, x->matched + at, (int)(n - at + back < 60 ? n - at + back : 60),
			(const char *)p + at - back,
			(int)(x->want.len - x->matched - at + back < 60
				      ? x->want.len - x->matched - at + back
				      : 60),
			(const char *)x->want.p + x->matched + at - back);
		raw_end(x);
		return;
	}
	x->matched += n;
	wconn_consume(c, n);
	if (x->matched == x->want.len && x->keep_open)
		x->done = true;
	else if (x->matched == x->want.len)
		raw_end(x);
}

static void raw_cmd(struct raw *x, const char *cmd)
{
	char *dup = strdup(cmd), *save = NULL;
	const char *a[8];
	int n = 0;
	for (char *t = strtok_r(dup, " ", &save); t && n < 8; t = strtok_r(NULL, " ", &save))
		a[n++] = t;
	char head[32];
	snprintf(head, sizeof head, "*%d\r\n", n);
	rbuf_puts(&x->req, head);
	for (int i = 0; i < n; i++) {
		snprintf(head, sizeof head, "$%zu\r\n", strlen(a[i]));
		rbuf_puts(&x->req, head);
		rbuf_puts(&x->req, a[i]);
		rbuf_puts(&x->req, "\r\n");
	}
	free(dup);
}

static struct raw *raw_new(struct ns_run *r, const char *name)
{
	struct raw *x = ns_alloc(r, sizeof *x);
	memset(x, 0, sizeof *x);
	x->r = r;
	x->name = name;
	rbuf_init(&x->req);
	rbuf_init(&x->req2);
	rbuf_init(&x->want);
	return x;
}

struct raw_go {
	struct raw *x;
	uint32_t node;
};

static void raw_go(void *arg)
{
	struct raw_go *g = arg;
	struct ns_run *r = g->x->r;
	g->x->conn =
		wconn_open(r->w, r->admin_host, host_ip(r->nodes[g->node].h), 6379, on_raw, g->x);
}

/* At t_ns, x connects to node r->nodes[node] and sends its requests; by
 * check_ns every reply must have come (unless it hangs up). */
static void raw_at(struct ns_run *r, struct raw *x, uint32_t node, uint64_t t_ns)
{
	struct raw_go *g = ns_alloc(r, sizeof *g);
	*g = (struct raw_go){x, node};
	world_at(r->w, t_ns, raw_go, g);
}

static void raw_send2(void *arg)
{
	struct raw *x = arg;
	if (x->conn)
		wconn_send(x->conn, x->req2.p, x->req2.len);
	else
		ns_fail(x->r, "scenario %s: not connected when its second part was due", x->name);
}

/* x sends req2 at t_ns, on the same connection (it stays open until). */
static void raw_then(struct ns_run *r, struct raw *x, uint64_t t_ns)
{
	world_at(r->w, t_ns, raw_send2, x);
}

static void raw_check(void *arg)
{
	struct raw *x = arg;
	if (!x->done && !x->r->failed)
		ns_fail(x->r, "scenario %s: %zu of %zu bytes of replies came", x->name, x->matched,
			x->want.len);
	if (x->conn)
		wconn_close(x->conn);
	x->conn = NULL;
	rbuf_free(&x->req);
	rbuf_free(&x->req2);
	rbuf_free(&x->want);
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

/* INFO raft's last_contact_ms for member id as node n sees it (what
 * `keel-cli status` shows), or LLONG_MIN if n does not list it. */
static long long last_contact(struct ns_node *n, uint64_t id)
{
	struct rbuf out;
	rbuf_init(&out);
	if (!ns_info(n, "raft", &out)) {
		rbuf_free(&out);
		return LLONG_MIN;
	}
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
		if (s && s->g->r && !raft_config_is_voter(raft_config_of(s->g->r), n->id))
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
	if (!ns_info_says(&r->nodes[2], "raft", "raft_role:removed"))
		ns_fail(r, "node 3, removed, does not say raft_role:removed");
	const char *get[] = {"GET", "k0"};
	ns_admin_expect(r, 2, 2, get, "-REMOVED");
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (i != 2 && ns_info_says(&r->nodes[i], "raft", "raft_role:removed"))
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
	struct raft *c = r->nodes[0].s ? r->nodes[0].s->g->r : NULL;
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
	if (!r->nodes[0].s || r->nodes[0].s->g->removed_at ||
	    (!ns_info_says(&r->nodes[0], "raft", "raft_role:leader") &&
	     !ns_info_says(&r->nodes[0], "raft", "raft_role:follower")))
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
		if (s && s->g->r && raft_config_index_of(s->g->r) <= raft_commit_index(s->g->r) &&
		    !raft_config_find(raft_config_of(s->g->r), n->id))
			return true;
	}
	return false;
}

static void check_not_told(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (ns_info_says(&r->nodes[i], "raft", "raft_role:removed") &&
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
 * the new configuration cannot commit (its only other voter is cut off).
 * The follower to be removed stops hearing from the leader and campaigns;
 * nobody may tell it it was removed (FRAME_REMOVED) while no committed
 * configuration says so: with the other follower it elects a leader,
 * which overwrites the proposal. RAFT REMOVE, answered only once its
 * entry is applied, is then told it was not applied. */
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
	ns_admin_expect(r, li, 3, argv,
			"-TRYAGAIN leadership changed before the membership change was committed");
	for (uint64_t t = 500000000; t <= 3000000000; t += 500000000)
		world_at(r->w, world_now_ns(r->w) + t, check_not_told, st);
}

static void removal_never_committed(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 2500000000, cut_and_remove, step_new(r, 0));
}

/* ---- a removed node restarted before it hears of its removal ---- */

static void says_leaving(void *arg)
{
	struct step *st = arg;
	struct ns_node *x = &st->r->nodes[st->other];
	if (ns_info_says(x, "raft", "raft_role:removed") ||
	    !ns_info_says(x, "raft", "raft_role:leaving"))
		ns_fail(st->r,
			"node %llu, restarted with a configuration that leaves it out and no "
			"word of its removal, does not say raft_role:leaving",
			(unsigned long long)x->id);
}

static void says_removed(void *arg)
{
	struct step *st = arg;
	struct ns_node *x = &st->r->nodes[st->other];
	if (!ns_info_says(x, "raft", "raft_role:removed"))
		ns_fail(st->r, "node %llu, removed and told, does not say raft_role:removed",
			(unsigned long long)x->id);
}

/* The removed leader (st->other) is crashed, cut off from both others and
 * started again: its newest configuration leaves it out, it knows no
 * leader and no commit index, and no notice reaches it. */
static void restart_cut_off(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *x = &r->nodes[st->other];
	ns_node_crash(x);
	for (uint32_t i = 0; i < 3; i++)
		if (i != st->other)
			world_cut(r->w, x->h, r->nodes[i].h, true);
	ns_node_start(x);
	for (uint64_t t = 100000000; t <= 600000000; t += 100000000)
		world_at(r->w, world_now_ns(r->w) + t, says_leaving, st);
}

static void heal_cut_off(void *arg)
{
	struct step *st = arg;
	for (uint32_t i = 0; i < 3; i++)
		if (i != st->other)
			world_cut(st->r->w, st->r->nodes[st->other].h, st->r->nodes[i].h, false);
}

/* The leader removes itself (RAFT REMOVE of its own id), and is crashed
 * once that is committed; started again cut off from the others, its
 * core names its role "removed" (its newest configuration leaves it out,
 * no leader known), but the node has not learned its removal (no commit
 * index, no notice): INFO raft says raft_role:leaving, not removed, which
 * an operator takes as "stop it". Once the others' notice reaches it, it
 * says removed. Before, it said removed at once: the random sharded seed
 * 29200, where a node so stopped was still one of the two voters of a
 * placed shard, which then had no quorum for good. */
static void leader_removes_itself(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader");
		return;
	}
	struct step *x = step_new(r, 0);
	x->other = (uint32_t)(l - r->nodes);
	char id[24];
	snprintf(id, sizeof id, "%llu", (unsigned long long)l->id);
	const char *argv[] = {"RAFT", "REMOVE", id};
	ns_admin_expect(r, x->other, 3, argv, "+OK");
	world_at(r->w, world_now_ns(r->w) + 500000000, restart_cut_off, x);
	world_at(r->w, world_now_ns(r->w) + 1500000000, heal_cut_off, x);
	world_at(r->w, world_now_ns(r->w) + 4000000000, says_removed, x);
}

static void removed_restart_untold(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 2500000000, leader_removes_itself, step_new(r, 0));
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

static void reconnect(void *arg)
{
	struct step *st = arg;
	ns_isolate(st->r, st->other, false);
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
	ns_isolate(r, st->other, true);
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
	if (!ns_info_says(&r->nodes[st->other], "raft", line))
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
	ns_isolate(r, st->other, true);
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
	if (!ns_info_says(&r->nodes[3], "raft", "raft_role:removed"))
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

static void idle_probe(void *arg)
{
	struct ns_run *r = arg;
	struct ns_probe *p = ns_probe_open(r, "a read once idle", 0);
	ns_probe_send(p, "$-1", "GET idle");
}

/* A learner is removed from a cluster with nothing else to commit (no
 * client writes): the entry that removes it is the last committed one, and
 * the members' notices still tell it. */
static void learner_removed_when_idle(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.clients = 0;
	world_at(r->w, 1000000000, add_learner_4, r);
	world_at(r->w, 3000000000, remove_learner_4, r);
	world_at(r->w, 4500000000, check_learner_told, r);
	world_at(r->w, r->p.run_ns + 500000000, idle_probe, r);
}

/* ---- a learner removed while down, added back later ---- */

static void crash_ev(void *arg);
static void start_ev(void *arg);

static void readd_learner_4(void *arg)
{
	struct ns_run *r = arg;
	char addr[40];
	snprintf(addr, sizeof addr, "%s:7379", host_ip(r->nodes[3].h));
	const char *argv[] = {"RAFT", "ADD-LEARNER", "4", addr};
	ns_admin_expect(r, 0, 4, argv, "+OK");
}

/* Node 4's disk is replaced by an empty one while it is down (a node
 * removed comes back only so: its log says it was removed). */
static void wipe_4(void *arg)
{
	struct ns_run *r = arg;
	const struct io_fs *fs = simfs_ops(host_disk(r->nodes[3].h));
	char **names = NULL, path[IO_PATH_MAX];
	uint32_t n = 0;
	if (fs->list(fs->ctx, "/data", &names, &n)) {
		ns_fail(r, "scenario: node 4's /data cannot be listed");
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		if (!io_path(path, "/data", names[i]))
			fs->unlink(fs->ctx, path);
	io_names_free(names, n);
	fs->sync_dir(fs->ctx, "/data");
}

/* Node 4, back, holds the configuration that added it again: the members
 * reach it. */
static void check_readded(void *arg)
{
	struct ns_run *r = arg;
	const struct server *s4 = r->nodes[3].s;
	raft_index want = 0;
	for (uint32_t i = 0; i < 3; i++) {
		const struct server *s = r->nodes[i].s;
		if (s && s->g->r && raft_config_index_of(s->g->r) > want)
			want = raft_config_index_of(s->g->r);
	}
	if (!s4 || !s4->g->r || s4->g->removed_at || raft_commit_index(s4->g->r) < want)
		ns_fail(r,
			"node 4, added back 4.5 s ago, has committed up to %llu, short of the "
			"configuration %llu that added it back%s",
			s4 && s4->g->r ? (unsigned long long)raft_commit_index(s4->g->r) : 0ull,
			(unsigned long long)want,
			s4 && s4->g->removed_at ? " (it says removed)" : "");
}

/* A learner is removed while it is down; once the members stop keeping it
 * connected (GONE_MS, 10 s), the same id is added back and the node
 * returns on an empty disk: the members connect to it again and it
 * catches up. */
static void learner_readded(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.run_ns = 16000000000ull; /* writes go on past the re-add; the run ends 8 s after */
	/* node 4 is caught up by a snapshot taken after it was added back:
	 * entries before it would remove it again on the way */
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	world_at(r->w, 1000000000, add_learner_4, r);
	world_at(r->w, 2500000000, crash_ev, &r->nodes[3]);
	world_at(r->w, 3000000000, remove_learner_4, r);
	world_at(r->w, 13500000000, wipe_4, r);
	world_at(r->w, 14000000000, readd_learner_4, r);
	world_at(r->w, 15000000000, start_ev, &r->nodes[3]);
	world_at(r->w, 18500000000, check_readded, r);
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

static void crash_ev(void *arg)
{
	ns_node_crash(arg);
}

static void start_ev(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s)
		ns_node_start(n);
}

/* Node 3 (a follower, or a replica) has had a snapshot sent to it since it
 * last started. */
static void expect_installed(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s || !n->s->stats.snapshots_installed)
		ns_fail(n->run,
			"scenario: %s caught up without a snapshot: the scenario does not "
			"test what it says",
			host_ip(n->h));
}

/* A read replica keeps --trailing-entries (50 in the simulator) of its log
 * below a snapshot of its own, and no more: a snapshot taken purges what
 * lies further below (as a member's does), unless a replica of this one
 * still needs it. */
static void expect_replica_trimmed(void *arg)
{
	struct ns_node *n = arg;
	const struct group *g = n->s ? n->s->g : NULL;
	const struct replica_node *rep = g ? g->replica : NULL;
	if (!rep || rep->keep_from || !g->have_snap || g->snap.index + 1 <= 50)
		ns_fail(n->run, "scenario: %s took no snapshot of its own past index 50",
			host_ip(n->h));
	else if (rep->win_first < g->snap.index + 1 - 50)
		ns_fail(n->run,
			"%s keeps its log from %llu, more than 50 entries below its snapshot "
			"at %llu",
			host_ip(n->h), (unsigned long long)rep->win_first,
			(unsigned long long)g->snap.index);
}

/* A follower down while the others take snapshots and purge their logs
 * (--trailing-entries 10) is caught up by a snapshot when it returns; a
 * read replica of a read replica (cascading) down as long is caught up by
 * its source's own snapshot, from its file. Once healed every member and
 * replica must hold the same keyspace. */
static void snapshot_to_a_follower_behind(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.replicas = 2;
	r->p.replica_clients = 1;
	r->p.cascade = true;
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	r->p.replica_max_lag = 20;
	struct ns_node *n3 = &r->nodes[2], *cascaded = &r->nodes[4];
	world_at(r->w, 300000000, crash_ev, n3);
	world_at(r->w, 2500000000, start_ev, n3);
	world_at(r->w, 500000000, crash_ev, cascaded);
	world_at(r->w, 3500000000, start_ev, cascaded);
	world_at(r->w, 9000000000, expect_installed, n3);
	world_at(r->w, 9000000000, expect_installed, cascaded);
	world_at(r->w, 12000000000, expect_replica_trimmed, cascaded);
	/* what INFO says of a streaming replica and of its stream */
	struct raw *info = raw_new(r, "INFO replication of a replica");
	info->contains = true;
	raw_cmd(info, "INFO replication");
	rbuf_puts(&info->want, "keel_role:replica\r\nmaster_link_status:up\r\n"
			       "keel_replica_state:streaming\r\nkeel_replica_compression:zstd\r\n"
			       "keel_read_replicas:1\r\n");
	rbuf_put(&info->want, "", 1);
	info->want.len--;
	raw_at(r, info, 3, 9500000000);
	world_at(r->w, 12000000000, raw_check, info);
	struct raw *info2 = raw_new(r, "INFO replication of a cascaded replica");
	info2->contains = true;
	raw_cmd(info2, "INFO replication");
	rbuf_puts(&info2->want, "master_host:127.0.0.4\r\nmaster_link_status:up\r\n"
				"keel_replica_state:streaming\r\nkeel_replica_compression:none\r\n"
				"keel_read_replicas:0\r\n");
	rbuf_put(&info2->want, "", 1);
	info2->want.len--;
	raw_at(r, info2, 4, 9500000000);
	world_at(r->w, 12000000000, raw_check, info2);
}

/* Node 3's moments: crashed in the middle of receiving a snapshot (its
 * chunks arrived and it is installed, the install not yet durable), then,
 * back and receiving one again, with the leader crashed at that moment. */
struct receiving {
	struct ns_run *r;
	uint32_t step;
};

static void when_receiving(void *arg)
{
	struct receiving *x = arg;
	struct ns_run *r = x->r;
	struct ns_node *n3 = &r->nodes[2];
	if (x->step == 2 || r->healing)
		return;
	if (!n3->s || !n3->s->stats.snapshots_installed || !n3->disk_pending) {
		world_at(r->w, world_now_ns(r->w) + 20000, when_receiving, x);
		return;
	}
	struct ns_node *victim = x->step == 0 ? n3 : leader(r);
	world_tracef(r->w, "scenario: node 3 is receiving a snapshot: crash node %llu",
		     (unsigned long long)(victim ? victim->id : 0));
	if (victim) {
		ns_node_crash(victim);
		world_at(r->w, world_now_ns(r->w) + 300000000, start_ev, victim);
	}
	x->step++;
	world_at(r->w, world_now_ns(r->w) + 20000, when_receiving, x);
}

static void expect_steps(void *arg)
{
	struct receiving *x = arg;
	if (x->step != 2)
		ns_fail(x->r, "scenario: node 3 was seen receiving a snapshot %u times of 2",
			x->step);
}

static void crash_while_receiving_a_snapshot(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	struct ns_node *n3 = &r->nodes[2];
	struct receiving *x = ns_alloc(r, sizeof *x);
	*x = (struct receiving){r, 0};
	world_at(r->w, 300000000, crash_ev, n3);
	world_at(r->w, 2500000000, start_ev, n3);
	world_at(r->w, 2500000000, when_receiving, x);
	world_at(r->w, 9000000000, expect_installed, n3);
	world_at(r->w, 9000000000, expect_steps, x);
}

/* A read replica that was restarted caught up from its source's log, with
 * no snapshot. */
static void expect_no_snapshot(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s || !n->s->g->replica)
		ns_fail(n->run, "scenario: replica %s is not running", host_ip(n->h));
	else if (n->s->stats.snapshots_installed || n->s->g->replica->follow.stats.snapshots)
		ns_fail(n->run,
			"replica %s, back within --replica-max-lag of its source, was sent a "
			"snapshot: its source's log was not kept for it",
			host_ip(n->h));
}

/* Two read replicas of the same source, down one after the other for a
 * moment while the members take snapshots and purge their logs
 * (--trailing-entries 10), and a replica of the first (cascading) down for
 * a moment while its source takes snapshots of its own: each source keeps
 * its log for each (a departed replica's claim, server/replication.c), so
 * each resumes from the log. */
static void replica_resumes_from_the_log(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.replicas = 3;
	r->p.replica_clients = 1;
	r->p.cascade = true;
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	struct ns_node *r4 = &r->nodes[3], *r5 = &r->nodes[4], *r6 = &r->nodes[5];
	world_at(r->w, 1000000000, crash_ev, r4); /* r4 down long, r5 a moment */
	world_at(r->w, 1100000000, crash_ev, r5);
	world_at(r->w, 1600000000, start_ev, r5);
	world_at(r->w, 2300000000, start_ev, r4);
	world_at(r->w, 3500000000, crash_ev, r6); /* its source r4 keeps its log */
	world_at(r->w, 4100000000, start_ev, r6);
	world_at(r->w, 4900000000, expect_no_snapshot, r4); /* each life checked */
	world_at(r->w, 4900000000, expect_no_snapshot, r5);
	world_at(r->w, 4900000000, expect_no_snapshot, r6);
	world_at(r->w, 5000000000, crash_ev, r5); /* now r5 first, and long */
	world_at(r->w, 5100000000, crash_ev, r4);
	world_at(r->w, 5600000000, start_ev, r4); /* r5: the heal starts it */
	world_at(r->w, 9000000000, expect_no_snapshot, r4);
	world_at(r->w, 9000000000, expect_no_snapshot, r5);
	world_at(r->w, 9000000000, expect_no_snapshot, r6);
}

/* INCRs pipelined on one connection, more than a loop pass serves of one
 * client (its share: server/clients.c) and more than may be in flight
 * before reading pauses (10000), a GET after each thousand: every reply
 * in order, each INCR its own count, each GET the count before it. */
static struct raw *incr_pipeline(struct ns_run *r, const char *name, const char *key, int n)
{
	struct raw *x = raw_new(r, name);
	char cmd[96], rep[32];
	for (int i = 1; i <= n; i++) {
		snprintf(cmd, sizeof cmd, "INCR %s", key);
		raw_cmd(x, cmd);
		snprintf(rep, sizeof rep, ":%d\r\n", i);
		rbuf_puts(&x->want, rep);
		if (i % 1000 == 0) {
			snprintf(cmd, sizeof cmd, "GET %s", key);
			raw_cmd(x, cmd);
			snprintf(rep, sizeof rep, "%d", i);
			snprintf(cmd, sizeof cmd, "$%zu\r\n%s\r\n", strlen(rep), rep);
			rbuf_puts(&x->want, cmd);
		}
	}
	return x;
}

/* Long pipelines, on the leader and on a follower (which forwards the
 * writes), with no fault: every reply exact and in order. A client that
 * sends a pipeline and hangs up at once, a KEEL.REPLICATE the node must
 * refuse (the connection stays an ordinary one), and client commands
 * that change the connection's state. */
static void long_pipelines(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	struct raw *a = incr_pipeline(r, "pipeline to node 1", "big1", 12000);
	struct raw *b = incr_pipeline(r, "pipeline to node 2", "big2", 3000);
	raw_at(r, a, 0, 2000000000);
	raw_at(r, b, 1, 2100000000);
	struct raw *gone = incr_pipeline(r, "hang-up", "gone", 3000);
	gone->hang_up = true;
	raw_at(r, gone, 0, 2200000000);
	struct raw *rep = raw_new(r, "refused KEEL.REPLICATE");
	raw_cmd(rep, "KEEL.REPLICATE 1 0 0 gzip x");
	raw_cmd(rep, "KEEL.REPLICATE 1 0 2 none x");
	rbuf_puts(&rep->req, "*0\r\n"); /* an empty request: no reply */
	raw_cmd(rep, "PING");
	rbuf_puts(&rep->want, "-ERR KEEL.REPLICATE: compression must be zstd or none\r\n"
			      "-ERR KEEL.REPLICATE: version, applied index and empty flag must be "
			      "unsigned integers (the flag 0 or 1)\r\n+PONG\r\n");
	raw_at(r, rep, 2, 2300000000);
	/* SELECT queued in MULTI moves the connection once EXEC runs */
	struct raw *sel = raw_new(r, "SELECT in MULTI");
	const char *sel_cmds[] = {"MULTI",   "SELECT 2", "SET sel v", "EXEC",
				  "GET sel", "SELECT 0", "GET sel"};
	for (size_t i = 0; i < sizeof sel_cmds / sizeof *sel_cmds; i++)
		raw_cmd(sel, sel_cmds[i]);
	rbuf_puts(&sel->want, "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n+OK\r\n$1\r\nv\r\n"
			      "+OK\r\n$-1\r\n");
	raw_at(r, sel, 1, 2400000000);
	/* a server command after a write waits for it, and runs once */
	struct raw *dq = raw_new(r, "deferred CLIENT SETNAME");
	raw_cmd(dq, "INCR dq");
	raw_cmd(dq, "CLIENT SETNAME nm");
	raw_cmd(dq, "CLIENT GETNAME");
	rbuf_puts(&dq->want, ":1\r\n+OK\r\n$2\r\nnm\r\n");
	raw_at(r, dq, 0, 2500000000);
	/* one connection, one order after a server command answered at once:
	 * a GET pipelined before a SET of the same key reads the value before */
	struct raw *ox = raw_new(r, "SET before");
	raw_cmd(ox, "SET ox v1");
	raw_cmd(ox, "SET oy v1");
	rbuf_puts(&ox->want, "+OK\r\n+OK\r\n");
	raw_at(r, ox, 0, 2000000000);
	struct raw *gs = raw_new(r, "GET then SET after CLIENT SETNAME, on the leader");
	const char *gs_cmds[] = {"CLIENT SETNAME g", "GET ox", "SET ox v2"};
	for (size_t i = 0; i < sizeof gs_cmds / sizeof *gs_cmds; i++)
		raw_cmd(gs, gs_cmds[i]);
	rbuf_puts(&gs->want, "+OK\r\n$2\r\nv1\r\n+OK\r\n");
	raw_at(r, gs, 0, 2700000000);
	struct raw *gf = raw_new(r, "GET then SET after CLIENT SETNAME, on a follower");
	const char *gf_cmds[] = {"CLIENT SETNAME g", "GET oy", "SET oy v2"};
	for (size_t i = 0; i < sizeof gf_cmds / sizeof *gf_cmds; i++)
		raw_cmd(gf, gf_cmds[i]);
	rbuf_puts(&gf->want, "+OK\r\n$2\r\nv1\r\n+OK\r\n");
	raw_at(r, gf, 1, 2700000000);
	world_at(r->w, 12000000000, raw_check, ox);
	world_at(r->w, 12000000000, raw_check, gs);
	world_at(r->w, 12000000000, raw_check, gf);
	/* QUIT is not queued by MULTI: it answers and closes */
	struct raw *quit = raw_new(r, "QUIT in MULTI");
	raw_cmd(quit, "MULTI");
	raw_cmd(quit, "QUIT");
	rbuf_puts(&quit->want, "+OK\r\n+OK\r\n");
	raw_at(r, quit, 0, 2600000000);
	/* more connections than the node's first session table holds (64),
	 * kept open while the workload goes on */
	for (uint32_t i = 0; i < 70; i++) {
		struct raw *idle = raw_new(r, "many connections");
		idle->keep_open = true;
		raw_cmd(idle, "PING");
		rbuf_puts(&idle->want, "+PONG\r\n");
		raw_at(r, idle, 0, 1500000000 + i * 1000000);
		world_at(r->w, 12000000000, raw_check, idle);
	}
	world_at(r->w, 12000000000, raw_check, sel);
	world_at(r->w, 12000000000, raw_check, dq);
	world_at(r->w, 12000000000, raw_check, quit);
	world_at(r->w, 12000000000, raw_check, a);
	world_at(r->w, 12000000000, raw_check, b);
	world_at(r->w, 12000000000, raw_check, rep);
	world_at(r->w, 12000000000, raw_check, gone);
}

/* GET of a key that makes the request `total` bytes long. */
static void long_get(struct raw *x, size_t total)
{
	size_t key = total - 25; /* "*2\r\n$3\r\nGET\r\n$NNNNNNN\r\n" and "\r\n" */
	char head[64];
	snprintf(head, sizeof head, "*2\r\n$3\r\nGET\r\n$%zu\r\n", key);
	rbuf_puts(&x->req, head);
	uint8_t *p = rbuf_reserve(&x->req, key + 2);
	memset(p, 'q', key);
	memcpy(p + key, "\r\n", 2);
	x->req.len += key + 2;
}

/* Redis's client-query-buffer-limit (1 MiB here): a request of exactly
 * the limit is served; one byte more and the client is closed, with no
 * reply. */
static void query_limit_edges(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.query_limit = 1u << 20;
	struct raw *at = raw_new(r, "a request of exactly the query limit");
	long_get(at, 1u << 20);
	rbuf_puts(&at->want, "$-1\r\n");
	raw_at(r, at, 0, 2000000000);
	struct raw *over = raw_new(r, "a request one byte over the query limit");
	long_get(over, (1u << 20) + 1);
	over->closed_ok = true;
	raw_at(r, over, 1, 2000000000);
	world_at(r->w, 12000000000, raw_check, at);
	world_at(r->w, 12000000000, raw_check, over);
}

/* A connection idle past --session-timeout-ms (5001 ms) loses its
 * session; its next write, with every write before it answered, starts the
 * session again and is applied (client_ack: its own number). */
static void session_expired_between_writes(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.session_ms = 5001;
	struct raw *x = raw_new(r, "a write after the session expired");
	raw_cmd(x, "SET se 1");
	struct raw tmp = *x; /* the second part, built as the first */
	tmp.req = x->req2;
	raw_cmd(&tmp, "SET se 2");
	raw_cmd(&tmp, "GET se");
	x->req2 = tmp.req;
	rbuf_puts(&x->want, "+OK\r\n+OK\r\n$1\r\n2\r\n");
	raw_at(r, x, 0, 1000000000);
	raw_then(r, x, 8500000000);
	world_at(r->w, 12000000000, raw_check, x);
}

/* The session is still held by every member, and node 3 (whose own
 * timeout it passed) does not lead. */
static void check_session_kept(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < 3; i++) {
		struct server *s = r->nodes[i].s;
		if (!s || !s->g->r)
			continue;
		if (i == 2 && raft_role_of(s->g->r) == RAFT_LEADER)
			ns_fail(r, "scenario: node 3 leads: it does not test what it says");
		else if (kv_session_oldest(&s->g->kv) == INT64_MAX)
			ns_fail(r, "node %u expired a session idle 7 s (the leader's: 1 h)", i + 1);
	}
}

static void session_probe(void *arg)
{
	struct ns_run *r = arg;
	struct ns_probe *p = ns_probe_open(r, "a write that starts a session", 0);
	ns_probe_send(p, "+OK", "SET st 1");
}

/* Session expiry is the leader's, with its own --session-timeout-ms: a
 * follower with a shorter one (node 3: 5001 ms) proposes no expiry, and a
 * session idle longer than that is kept. */
static void session_timeout_is_the_leaders(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0;
	r->nodes[2].session_ms = 5001;
	world_at(r->w, r->p.run_ns + 300000000, session_probe, r);
	world_at(r->w, r->p.run_ns + 7600000000, check_session_kept, r);
}

/* ---- read replicas: node 4 (127.0.0.4) replicates from the founders ---- */

static struct ns_node *replica(struct ns_run *r)
{
	return &r->nodes[r->p.nodes + r->p.spares];
}

static void crash_replica(void *arg)
{
	ns_node_crash(replica(arg));
}

static void start_replica(void *arg)
{
	struct ns_node *n = replica(arg);
	if (!n->s)
		ns_node_start(n);
}

/* Polled every ms: once the replica is receiving a snapshot, the source
 * sending it crashes. */
static void crash_source_mid_snapshot(void *arg)
{
	struct ns_run *r = arg;
	const struct server *s = replica(r)->s;
	if (s && s->g->replica && s->g->replica->follow.state == REPL_CATCHUP) {
		const struct repl_follow *f = &s->g->replica->follow;
		for (uint32_t i = 0; i < r->p.nodes; i++) {
			size_t n = strlen(host_ip(r->nodes[i].h));
			if (!strncmp(f->sources[f->cur], host_ip(r->nodes[i].h), n) &&
			    f->sources[f->cur][n] == ':') {
				world_tracef(r->w, "scenario: node %u crashes mid-snapshot", i + 1);
				ns_node_crash(&r->nodes[i]);
				return;
			}
		}
	}
	if (world_now_ns(r->w) < 4000000000)
		world_at(r->w, world_now_ns(r->w) + 1000000, crash_source_mid_snapshot, r);
	else
		ns_fail(r, "scenario: the replica never caught up by a snapshot");
}

static void restart_members(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (!r->nodes[i].s)
			ns_node_start(&r->nodes[i]);
}

static void slow_links(void *arg)
{
	world_set_latency(((struct ns_run *)arg)->w, 30000000, 40000000);
}

static void fast_links(void *arg)
{
	world_set_latency(((struct ns_run *)arg)->w, 100000, 2000000);
}

static void remove1(void *arg)
{
	ns_admin(arg, 1, "REMOVE", 1); /* sent to node 2, which forwards it */
}

/* Members that keep little log, and no claim on it for a replica more
 * than 20 entries behind: one that was down comes back to a log that no
 * longer holds what it needs next, and catches up by a snapshot. */
static void compacting_members(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.replicas = 1;
	r->p.replica_clients = 2;
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	r->p.replica_max_lag = 20;
}

/* A replica down while the members compact their logs, restarted from its
 * files: it resumes by its source's snapshot, serving reads throughout
 * that never go back. */
static void replica_behind_compacted_log(struct ns_run *r)
{
	compacting_members(r);
	world_at(r->w, 400000000, crash_replica, r);
	world_at(r->w, 3000000000, start_replica, r);
}

/* The same, on slow links, and its source crashes while the snapshot is
 * on its way: the replica goes on from the next source. */
static void replica_source_crash_mid_snapshot(struct ns_run *r)
{
	compacting_members(r);
	world_at(r->w, 400000000, crash_replica, r);
	world_at(r->w, 2990000000, slow_links, r);
	world_at(r->w, 3000000000, start_replica, r);
	world_at(r->w, 3001000000, crash_source_mid_snapshot, r);
	world_at(r->w, 4000000000, fast_links, r);
	world_at(r->w, 4500000000, restart_members, r);
}

/* The replica's source is removed from the cluster: the stream ends, and
 * the replica follows the remaining members. */
static void replica_source_removed(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.replicas = 1;
	r->p.replica_clients = 2;
	world_at(r->w, 1500000000, remove1, r);
}

/* ---- read replicas: their claims on the log, INFO, their restarts ---- */

/* The node whose client port the replica follows now, or -1. */
static int32_t followed(struct ns_run *r, const struct server *s)
{
	const struct repl_follow *f = &s->g->replica->follow;
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		size_t n = strlen(host_ip(r->nodes[i].h));
		if (!strncmp(f->sources[f->cur], host_ip(r->nodes[i].h), n) &&
		    f->sources[f->cur][n] == ':')
			return (int32_t)i;
	}
	return -1;
}

/* What the replica needed each time it left (its durable index + 1), and
 * the source it left both times. */
struct departures {
	struct ns_run *r;
	int32_t source;
	uint32_t n;
	uint64_t need[2];
};

static void replica_leaves(void *arg)
{
	struct departures *d = arg;
	struct ns_run *r = d->r;
	struct ns_node *n = replica(r);
	if (!n->s || !n->s->g->replica || n->s->g->replica->follow.state != REPL_STREAMING) {
		ns_fail(r, "scenario: the replica is not streaming when it is to leave");
		return;
	}
	int32_t src = followed(r, n->s);
	if (src < 0 || (d->n && src != d->source)) {
		ns_fail(r, "scenario: the replica left node %d, then node %d: not one source",
			d->source + 1, src + 1);
		return;
	}
	d->source = src;
	d->need[d->n++] = n->s->g->replica->durable + 1;
	ns_node_crash(n);
}

/* The source has compacted its log since the replica left again: to what
 * the replica needs now, not to where it was when it first left. */
static void log_held_for_the_last_departure(void *arg)
{
	struct departures *d = arg;
	struct ns_run *r = d->r;
	const struct server *s = d->n == 2 ? r->nodes[d->source].s : NULL;
	if (!s || !s->g->r) {
		ns_fail(r, "scenario: the replica's source is not running");
		return;
	}
	uint64_t first = raft_first_index(s->g->r), snap = s->g->have_snap ? s->g->snap.index : 0;
	if (snap < d->need[1] + r->p.trailing_entries)
		ns_fail(r,
			"scenario: node %d took no snapshot past %llu since the replica left: "
			"the scenario does not test what it says",
			d->source + 1, (unsigned long long)(d->need[1] + r->p.trailing_entries));
	else if (first <= d->need[0] || first > d->need[1])
		ns_fail(r,
			"node %d's log begins at %llu (keel_log_first): a read replica that "
			"left needing %llu, came back and left again needing %llu holds it back "
			"to %s",
			d->source + 1, (unsigned long long)first, (unsigned long long)d->need[0],
			(unsigned long long)d->need[1],
			first <= d->need[0] ? "its first departure" : "nothing");
}

/* A read replica leaves its source (crashes), comes back, streams and
 * leaves again while the members take snapshots and purge their logs
 * (--trailing-entries 10): its source holds its log for the replica's
 * latest departure only, one claim per replica, and the replica resumes
 * from that log once back. */
static void replica_leaves_twice(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.replicas = 1;
	r->p.replica_clients = 1;
	r->p.snapshot_entries = 40;
	r->p.trailing_entries = 10;
	struct departures *d = ns_alloc(r, sizeof *d);
	*d = (struct departures){r, -1, 0, {0, 0}};
	world_at(r->w, 1000000000, replica_leaves, d);
	world_at(r->w, 1300000000, start_replica, r);
	world_at(r->w, 2000000000, replica_leaves, d);
	world_at(r->w, 3500000000, log_held_for_the_last_departure, d);
	world_at(r->w, 9000000000, expect_no_snapshot, replica(r));
}

/* Polled every 0.1 ms once the replica is restarted: while it receives a
 * snapshot, INFO replication says so, and that its stream is compressed. */
static void info_while_catching_up(void *arg)
{
	struct ns_run *r = arg;
	struct server *s = replica(r)->s;
	if (s && s->g->replica && s->g->replica->follow.state == REPL_CATCHUP) {
		static const char *const want[] = {
			"master_link_status:down\r\n",
			"keel_replica_state:catchup\r\n",
			"keel_replica_compression:zstd\r\n",
		};
		struct rbuf o;
		rbuf_init(&o);
		replication_info(s, &o);
		rbuf_put(&o, "", 1);
		for (uint32_t i = 0; i < sizeof want / sizeof *want; i++)
			if (!strstr((const char *)o.p, want[i]))
				ns_fail(r,
					"INFO replication of a replica catching up by a snapshot "
					"has no line %.*s: %s",
					(int)strlen(want[i]) - 2, want[i], (const char *)o.p);
		rbuf_free(&o);
		return;
	}
	if (world_now_ns(r->w) < 4000000000)
		world_at(r->w, world_now_ns(r->w) + 100000, info_while_catching_up, r);
	else
		ns_fail(r, "scenario: the replica never caught up by a snapshot");
}

/* A replica (its stream compressed) down while the members compact their
 * logs is caught up by a snapshot: what INFO says meanwhile. */
static void replica_info_in_catchup(struct ns_run *r)
{
	compacting_members(r);
	world_at(r->w, 400000000, crash_replica, r);
	world_at(r->w, 3000000000, start_replica, r);
	world_at(r->w, 3000000000, info_while_catching_up, r);
}

/* The writes of a quiet cluster (no workload): one at a time, each once
 * the replica has applied the one before and is taking no snapshot, until
 * the replica's latest snapshot is its last entry; then it is crashed. */
struct quiet {
	struct ns_run *r;
	struct ns_probe *p;
};

static void write_until_snapshot_is_last(void *arg)
{
	struct quiet *q = arg;
	struct ns_run *r = q->r;
	struct ns_node *n = replica(r), *l = leader(r);
	struct server *s = n->s;
	if (!s || !s->g->replica || !l) {
		ns_fail(r, "scenario: no replica or no leader while writing");
		return;
	}
	const struct replica_node *rn = s->g->replica;
	if (s->g->have_snap && s->g->snap.index == rn->received && rn->durable == rn->received &&
	    !snapshots_busy(s->g)) {
		world_tracef(r->w,
			     "scenario: the replica's snapshot at %llu ends its log: crash it",
			     (unsigned long long)s->g->snap.index);
		ns_node_crash(n);
		return;
	}
	if (q->p->n_replied == q->p->n_sent && rn->applied == raft_applied_index(l->s->g->r) &&
	    !snapshots_busy(s->g)) {
		if (q->p->n_sent == 60) {
			ns_fail(r, "scenario: the replica's snapshots never ended its log");
			return;
		}
		ns_probe_send(q->p, "+OK", "SET q%u v", q->p->n_sent);
	}
	world_at(r->w, world_now_ns(r->w) + 1000000, write_until_snapshot_is_last, q);
}

static void quiet_start(void *arg)
{
	struct quiet *q = arg;
	q->p = ns_probe_open(q->r, "quiet", 0);
	write_until_snapshot_is_last(q);
}

static void quiet_write_after(void *arg)
{
	struct quiet *q = arg;
	ns_probe_send(q->p, "+OK", "SET after v1");
}

static void replica_streaming(void *arg)
{
	struct ns_node *n = arg;
	if (!n->s || !n->s->g->replica || n->s->g->replica->follow.state != REPL_STREAMING)
		ns_fail(n->run, "replica %s, restarted from its snapshot, is not streaming",
			host_ip(n->h));
}

static void quiet_read_replica(void *arg)
{
	struct quiet *q = arg;
	struct ns_probe *p = ns_probe_open(q->r, "replica", q->r->p.nodes);
	ns_probe_send(p, "$2 v1", "GET after");
}

static void quiet_done(void *arg)
{
	struct quiet *q = arg;
	ns_probe_done(q->p);
}

/* A read replica whose own snapshot ends its log (no entry after it) is
 * restarted: it is not empty, and resumes from its source's log after
 * that snapshot, as it would with entries after it, with no snapshot sent
 * to it; it then shows what is written after. */
static void replica_restarts_from_its_snapshot(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0;
	r->p.replicas = 1;
	r->p.replica_clients = 0;
	r->p.snapshot_entries = 20;
	struct quiet *q = ns_alloc(r, sizeof *q);
	*q = (struct quiet){r, NULL};
	world_at(r->w, 1000000000, quiet_start, q);
	world_at(r->w, 2500000000, start_replica, r);
	world_at(r->w, 3000000000, quiet_write_after, q);
	world_at(r->w, 3500000000, replica_streaming, replica(r));
	world_at(r->w, 3500000000, expect_no_snapshot, replica(r));
	world_at(r->w, 4000000000, quiet_done, q);
	world_at(r->w, r->p.run_ns + 500000000, quiet_read_replica, q);
}

/* join_refused_then_added with every write arriving in pieces (one-byte
 * ones among them): the joiner reads the refusals and the +OK in several
 * reads. */
static void join_over_split_reads(struct ns_run *r)
{
	world_set_split(r->w, 1000);
	join_refused_then_added(r);
}

/* ---- damaged bytes ---- */

/* Bit rot at rest: one byte in the middle of the data of the snapshot
 * file a member holds flips; whoever reads the file from now on reads it
 * flipped. Returns false if the member has no snapshot. */
static bool rot_snapshot_file(struct ns_run *r, struct ns_node *n)
{
	const struct server *s = n->s;
	if (!s || !s->g->have_snap || !s->g->snap.size)
		return false;
	char name[64], path[IO_PATH_MAX];
	snap_name(name, sizeof name, s->g->snap.index, s->g->snap.term);
	if (io_path(path, s->cfg.dir, name) || !simfs_exists(host_disk(n->h), path))
		return false;
	uint64_t off = SNAP_DATA_OFF + s->g->snap.size / 2;
	uint8_t b;
	simfs_peek(host_disk(n->h), path, off, &b, 1);
	b ^= 0x10;
	simfs_poke(host_disk(n->h), path, off, &b, 1);
	world_tracef(r->w, "scenario: byte %llu of node %llu's %s flipped", (unsigned long long)off,
		     (unsigned long long)n->id, path);
	return true;
}

static void rot_members_snapshots(void *arg)
{
	struct ns_run *r = arg;
	uint32_t rotten = 0;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		rotten += rot_snapshot_file(r, &r->nodes[i]);
	if (rotten < r->p.nodes)
		ns_fail(r, "scenario: %u of %u members hold a snapshot file to damage", rotten,
			r->p.nodes);
}

/* The replica refused the damaged snapshots (their checksum) and caught
 * up by a sound one: it runs, streams, and installed a snapshot after
 * starting at least two catch-ups. */
static void check_replica_caught_up_past_rot(void *arg)
{
	struct ns_run *r = arg;
	const struct server *s = replica(r)->s;
	if (!s || !s->g->replica) {
		ns_fail(r, "the replica stopped after it was sent a damaged snapshot");
		return;
	}
	const struct repl_follow *f = &s->g->replica->follow;
	if (f->state != REPL_STREAMING || !s->stats.snapshots_installed || f->stats.snapshots < 2)
		ns_fail(r,
			"the replica is not streaming past the damaged snapshots (state %d, "
			"%llu snapshots installed of %llu catch-ups)",
			(int)f->state, (unsigned long long)s->stats.snapshots_installed,
			(unsigned long long)f->stats.snapshots);
}

/* A replica down while the members compact their logs comes back as every
 * member's snapshot file has rotted on its disk (a byte flipped at rest):
 * each source reads the damaged file and sends it; the replica refuses it
 * by its checksum, neither installing nor stopping, and tries again until
 * a member's next snapshot catches it up. */
static void replica_sent_a_rotten_snapshot(struct ns_run *r)
{
	compacting_members(r);
	world_at(r->w, 400000000, crash_replica, r);
	world_at(r->w, 2999000000, rot_members_snapshots, r);
	world_at(r->w, 3000000000, start_replica, r);
	world_at(r->w, 5900000000, check_replica_caught_up_past_rot, r);
}

/* ---- a snapshot that reads back damaged on the leader ---- */

static struct {
	struct ns_probe *probe;
	uint32_t leader, behind;
	raft_index damaged; /* the last snapshot damaged */
} dmg;

static void dmg_probe_done(void *arg)
{
	(void)arg;
	if (dmg.probe)
		ns_probe_done(dmg.probe);
	dmg.probe = NULL;
}

/* The leader takes 1.5 MB of writes while a follower is down. */
static void dmg_crash_and_write(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	dmg.leader = (uint32_t)(l - r->nodes);
	dmg.behind = (dmg.leader + 1) % r->p.nodes;
	ns_node_crash(&r->nodes[dmg.behind]);
	dmg.probe = ns_probe_open(r, "dmg", dmg.leader);
	for (uint32_t i = 0; i < 3; i++) {
		char key[16];
		snprintf(key, sizeof key, "big%u", i);
		ns_probe_set_big(dmg.probe, "+OK", key, 500000);
	}
}

/* One byte of the leader's snapshot, as its mapping of the file reads it,
 * comes back flipped (the file on the disk is sound): polled every ms
 * from the follower's restart until the follower hears the leader (what
 * is sent from then on reaches it), once. */
static void dmg_damage_leader_read(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[dmg.leader];
	const struct server *s = n->s, *f = r->nodes[dmg.behind].s;
	if (!s || dmg.damaged)
		return;
	if (world_now_ns(r->w) < 5000000000)
		world_at(r->w, world_now_ns(r->w) + 1000000, dmg_damage_leader_read, r);
	if (!s->g->have_snap || !s->g->snap.size || !f || !f->g->r ||
	    raft_leader_of(f->g->r) != n->id)
		return;
	char name[64], path[IO_PATH_MAX];
	snap_name(name, sizeof name, s->g->snap.index, s->g->snap.term);
	uint64_t off = SNAP_DATA_OFF + s->g->snap.size / 2;
	if (io_path(path, s->cfg.dir, name) || !simfs_damage_maps(host_disk(n->h), path, off))
		return; /* not mapped (not durable under its name yet) */
	dmg.damaged = s->g->snap.index;
	world_tracef(r->w, "scenario: byte %llu of node %llu's %s reads back flipped",
		     (unsigned long long)off, (unsigned long long)n->id, path);
}

static void dmg_restart(void *arg)
{
	struct ns_run *r = arg;
	ns_node_start(&r->nodes[dmg.behind]);
}

/* The follower failed the damaged copy by its checksum and was sent the
 * snapshot again from its start (INFO keel_snapshot_restarts: the first
 * transfer is not checked before it is sent), sound this time: it holds
 * the values; the leader did not stop. */
static void dmg_check(void *arg)
{
	struct ns_run *r = arg;
	const struct server *f = r->nodes[dmg.behind].s;
	if (!r->nodes[dmg.leader].s)
		ns_fail(r, "the leader stopped on a snapshot that read back damaged once");
	if (!f || f->stats.snapshot_restarts < 1 || f->stats.snapshots_installed < 1) {
		ns_fail(r,
			"node %u: %llu snapshot restarts and %llu installed after a damaged "
			"copy (want 1 or more of each)",
			dmg.behind + 1, f ? (unsigned long long)f->stats.snapshot_restarts : 0ull,
			f ? (unsigned long long)f->stats.snapshots_installed : 0ull);
		return;
	}
	dmg.probe = ns_probe_open(r, "dmg-read", dmg.behind);
	for (uint32_t i = 0; i < 3; i++)
		ns_probe_send(dmg.probe, ":500000 ", "STRLEN big%u", i);
}

/* A follower down while the leader took a large snapshot comes back; the
 * leader's copy reads back damaged (one byte). The follower refuses it by
 * its checksum and asks for it from the start; the leader finds its copy
 * damaged, reads the file again (sound), and the follower installs that. */
static void follower_sent_a_damaged_snapshot(struct ns_run *r)
{
	memset(&dmg, 0, sizeof dmg);
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.snapshot_entries = 20;
	r->p.trailing_entries = 10;
	world_at(r->w, 1000000000, dmg_crash_and_write, r);
	world_at(r->w, 2500000000, dmg_probe_done, r);
	world_at(r->w, 3000000000, dmg_restart, r);
	world_at(r->w, 3000000000, dmg_damage_leader_read, r);
	world_at(r->w, 5500000000, dmg_check, r);
	world_at(r->w, 6000000000, dmg_probe_done, r);
}

/* The same byte flipped in the leader's file as well (bit rot at rest):
 * read again, the snapshot is still damaged. Polled every ms from the
 * follower's restart: each snapshot the leader holds rots once it is in
 * its file, until the leader stops. */
static void dmg_rot_leader_file(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[dmg.leader];
	const struct server *s = n->s;
	if (!s)
		return;
	if (world_now_ns(r->w) < 4400000000)
		world_at(r->w, world_now_ns(r->w) + 1000000, dmg_rot_leader_file, r);
	if (!s->g->have_snap || !s->g->snap.size || s->g->snap.index == dmg.damaged)
		return;
	char name[64], path[IO_PATH_MAX];
	snap_name(name, sizeof name, s->g->snap.index, s->g->snap.term);
	uint64_t off = SNAP_DATA_OFF + s->g->snap.size / 2;
	if (io_path(path, s->cfg.dir, name) || !simfs_exists(host_disk(n->h), path) ||
	    !simfs_damage_maps(host_disk(n->h), path, off))
		return; /* not in its file yet */
	uint8_t b;
	simfs_peek(host_disk(n->h), path, off, &b, 1);
	b ^= 0x10;
	simfs_poke(host_disk(n->h), path, off, &b, 1);
	dmg.damaged = s->g->snap.index;
	world_tracef(r->w, "scenario: byte %llu of node %llu's %s rots", (unsigned long long)off,
		     (unsigned long long)n->id, path);
}

/* The leader stopped rather than send its damaged snapshot again; it
 * leaves the cluster (its files are damaged: an operator replaces it). */
static void dmg_remove_stopped_leader(void *arg)
{
	struct ns_run *r = arg;
	if (r->nodes[dmg.leader].s) {
		ns_fail(r, "node %u, its snapshot damaged on disk, did not stop", dmg.leader + 1);
		return;
	}
	ns_admin(r, (dmg.leader + 2) % r->p.nodes, "REMOVE", r->nodes[dmg.leader].id);
}

/* The follower was sent the damaged snapshot once (it failed its
 * checksum), then caught up from the next leader: it holds the values. */
static void dmg_check_after_rot(void *arg)
{
	struct ns_run *r = arg;
	const struct server *f = r->nodes[dmg.behind].s;
	if (!f || f->stats.snapshots_installed < 1) {
		ns_fail(r, "node %u did not install a snapshot from the next leader",
			dmg.behind + 1);
		return;
	}
	dmg.probe = ns_probe_open(r, "dmg-read", dmg.behind);
	for (uint32_t i = 0; i < 3; i++)
		ns_probe_send(dmg.probe, ":500000 ", "STRLEN big%u", i);
}

/* A follower down while the leader took a large snapshot comes back, and
 * the leader's snapshot file has rotted on its disk: the follower refuses
 * it by its checksum; the leader, asked for it again, finds its file
 * damaged and stops instead of sending it forever; the next leader's
 * snapshot catches the follower up. */
static void leader_snapshot_rots_on_disk(struct ns_run *r)
{
	memset(&dmg, 0, sizeof dmg);
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.snapshot_entries = 20;
	r->p.trailing_entries = 10;
	world_at(r->w, 1000000000, dmg_crash_and_write, r);
	world_at(r->w, 2500000000, dmg_probe_done, r);
	world_at(r->w, 3000000000, dmg_restart, r);
	world_at(r->w, 3000000000, dmg_rot_leader_file, r);
	world_at(r->w, 4500000000, dmg_remove_stopped_leader, r);
	world_at(r->w, 5500000000, dmg_check_after_rot, r);
	world_at(r->w, 6000000000, dmg_probe_done, r);
}

/* ---- what --join tells the operator ---- */

/* The nodes' log (their stderr) is held in memory while a scenario reads
 * it, and written out to the real stderr once read. */
static struct {
	FILE *real, *mem;
	char *text;
	size_t len;
} logcap;

static void log_release(void)
{
	if (!logcap.mem)
		return;
	stderr = logcap.real;
	fclose(logcap.mem);
	logcap.mem = NULL;
	fwrite(logcap.text, 1, logcap.len, stderr);
}

static void log_forget(void)
{
	log_release();
	free(logcap.text); /* open_memstream's buffer */
	logcap.text = NULL;
	logcap.len = 0;
}

static void log_capture(void *arg)
{
	static bool registered;
	(void)arg;
	log_forget();
	if (!registered && atexit(log_forget) == 0)
		registered = true; /* a run that fails mid-scenario: released at exit */
	fflush(stderr);
	logcap.real = stderr;
	logcap.mem = open_memstream(&logcap.text, &logcap.len);
	if (logcap.mem)
		stderr = logcap.mem;
}

static void crash_first(void *arg)
{
	struct ns_run *r = arg;
	ns_node_crash(&r->nodes[0]);
}

static void restart_first(void *arg)
{
	struct ns_run *r = arg;
	ns_node_start(&r->nodes[0]);
}

/* The captured log holds each of want's lines, in that order. */
static void log_has_in_order(struct ns_run *r, const char *const *want, uint32_t n)
{
	const char *at = logcap.text ? logcap.text : "", *end = at + logcap.len;
	for (uint32_t i = 0; i < n; i++) {
		const char *p = memmem(at, (size_t)(end - at), want[i], strlen(want[i]));
		if (!p) {
			ns_fail(r, "the log has no line `%.*s` (after the line before)",
				(int)strlen(want[i]) - 1, want[i]);
			return;
		}
		at = p + strlen(want[i]);
	}
}

/* The joiner's log lines, in order: one for each try and its outcome. */
static void check_join_log(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	check_joined(arg);
	log_release();
	static const char *const want[] = {
		"[4] --join 127.0.0.1:6379: cannot connect; trying again\n",
		"[4] --join 127.0.0.1:6379: refused (TRYAGAIN add-learner: this node knows no "
		"leader to send it to (an election is under way); not applied); trying again\n",
		"[4] --join 127.0.0.1:6379: added as a learner; it is promoted once caught up\n",
	};
	log_has_in_order(r, want, sizeof want / sizeof *want);
	/* node 1, restarted, warns of nothing (its term is far from the largest) */
	static const char warn[] = "is the largest a node may hold";
	if (logcap.text && memmem(logcap.text, logcap.len, warn, strlen(warn)))
		ns_fail(r, "a restarted node logs that its term %s", warn);
	log_forget();
}

/* A node started with --join while the member it names is down, then back
 * but cut off from the others (it knows no leader), then reachable: its
 * log tells the operator each outcome, the member's refusal in its own
 * words, and stops once it is added. */
static void join_logs_each_try(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	struct step *cut = step_new(r, 0), *uncut = step_new(r, 0);
	cut->other = 1;
	uncut->other = 0;
	world_at(r->w, 1000, crash_first, r);
	world_at(r->w, 1000000000, log_capture, r);
	world_at(r->w, 1500000000, start_joiner, step_new(r, 3));
	world_at(r->w, 1900000000, cut_first, cut);
	world_at(r->w, 2000000000, restart_first, r);
	world_at(r->w, 3000000000, cut_first, uncut);
	world_at(r->w, 5900000000, check_join_log, step_new(r, 3));
}

/* ---- a --join whose answer is lost ---- */

struct lost_join {
	struct ns_run *r;
	uint64_t forwarded; /* node 1's count when the joiner starts */
	bool crashed;
};

static void lost_join_transfer(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *l = leader(r);
	if (l && l == &r->nodes[0])
		ns_admin(r, 0, "TRANSFER", r->nodes[1].id);
}

static void lost_join_start(void *arg)
{
	struct lost_join *lj = arg;
	struct ns_run *r = lj->r;
	if (!r->nodes[0].s || (leader(r) == &r->nodes[0])) {
		ns_fail(r, "scenario: node 1 is down or still leads at 1.5 s");
		return;
	}
	lj->forwarded = r->nodes[0].s->stats.forwarded;
	start_joiner(step_new(r, 3));
}

/* Node 1 crashes the moment it has forwarded the joiner's ADD-LEARNER to
 * the leader: the joiner's connection closes unanswered. */
static void lost_join_watch(void *arg)
{
	struct lost_join *lj = arg;
	struct ns_run *r = lj->r;
	struct server *s = r->nodes[0].s;
	if (s && s->stats.forwarded > lj->forwarded) {
		world_tracef(r->w, "scenario: node 1 forwarded the join: crash it");
		ns_node_crash(&r->nodes[0]);
		lj->crashed = true;
		return;
	}
	if (world_now_ns(r->w) < 4000 * 1000000ull)
		world_at(r->w, world_now_ns(r->w) + 50000, lost_join_watch, lj);
}

static void lost_join_check(void *arg)
{
	struct lost_join *lj = arg;
	struct ns_run *r = lj->r;
	if (!lj->crashed) {
		ns_fail(r, "scenario: node 1 never forwarded the join");
		log_forget();
		return;
	}
	check_joined(step_new(r, 3));
	log_release();
	static const char *const want[] = {
		"[4] --join 127.0.0.1:6379: the connection closed; trying again\n",
		"[4] --join 127.0.0.1:6379: a leader has reached this node; joined\n",
	};
	log_has_in_order(r, want, sizeof want / sizeof *want);
	log_forget();
}

/* A node started with --join names node 1, a follower, which forwards its
 * ADD-LEARNER to the leader and crashes before the answer comes back: the
 * leader adds the joiner anyway and reaches it, and the joiner, trying
 * again, sees it is a member and stops asking (it would otherwise ask a
 * node that is down, and then one that refuses to add a member twice). */
static void join_answer_lost(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	struct lost_join *lj = ns_alloc(r, sizeof *lj);
	memset(lj, 0, sizeof *lj);
	lj->r = r;
	world_at(r->w, 1000000000, lost_join_transfer, r);
	world_at(r->w, 1000000000, log_capture, r);
	world_at(r->w, 1500000000, lost_join_start, lj);
	world_at(r->w, 1500000000, lost_join_watch, lj);
	world_at(r->w, 3500000000, restart_first, r);
	world_at(r->w, 5900000000, lost_join_check, lj);
}

/* ---- the --join answer read in the pass that closes the node ---- */

static bool join_stopped;

static void join_stop_in(void *arg)
{
	server_stop(arg);
}

/* Once the joiner has sent its request: SIGTERM, and its process stalls
 * while the answer comes, so the tick that ends its shutdown and the
 * answer are handled in one loop pass. */
static void join_watch_request(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[3];
	if (!n->s || join_stopped)
		return;
	uint64_t now = world_now_ns(r->w);
	if (!n->s->join.tcp_open || !n->s->join.write.handle) {
		world_at(r->w, now + 20000, join_watch_request, r);
		return;
	}
	world_tracef(r->w, "scenario: SIGTERM node 4, its --join request sent");
	join_stopped = true;
	host_enter(n->h, join_stop_in, n->s);
	host_pause_until(n->h, now + 100000000);
}

static void join_watch_start(void *arg)
{
	struct step *st = arg;
	join_stopped = false;
	start_joiner(st);
	join_watch_request(st->r);
}

/* It stopped (each handle closed once), having been added. */
static void check_join_stopped(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[3];
	if (!join_stopped)
		ns_fail(r, "scenario: node 4 sent no --join request");
	else if (n->s && !n->s->closed)
		ns_fail(r, "scenario: node 4 runs on after its SIGTERM");
	ns_node_reap(n);
}

static void join_answered_while_stopping(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	world_at(r->w, 1500000000, join_watch_start, step_new(r, 3));
	world_at(r->w, 2000000000, check_join_stopped, r);
}

/* ---- a node added by --join, restarted ---- */

static void crash_node(void *arg)
{
	struct step *st = arg;
	ns_node_crash(&st->r->nodes[st->node]);
}

static void restart_node(void *arg)
{
	struct step *st = arg;
	ns_node_start(&st->r->nodes[st->node]);
}

/* Added through --join, then restarted with the same command line: its
 * log says it is a member, so it does not ask again (it would be refused:
 * it is in the configuration already). */
static void joined_then_restarted(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	world_at(r->w, 1000000000, start_joiner, step_new(r, 3));
	world_at(r->w, 3000000000, check_joined, step_new(r, 3));
	world_at(r->w, 3100000000, crash_node, step_new(r, 3));
	world_at(r->w, 3300000000, restart_node, step_new(r, 3));
	world_at(r->w, 3300000000 + 1000, check_joined, step_new(r, 3));
	world_at(r->w, 4500000000, check_joined, step_new(r, 3));
}

/* ---- a cluster of one expires sessions ---- */

static struct ns_probe *lone_probe;

static void lone_write(void *arg)
{
	lone_probe = ns_probe_open(arg, "lone-session", 0);
	ns_probe_send(lone_probe, "+OK", "SET lone 1");
}

static void lone_close(void *arg)
{
	(void)arg;
	ns_probe_done(lone_probe);
}

static void lone_info(void *arg)
{
	lone_probe = ns_probe_open(arg, "lone-info", 0);
	ns_probe_send(lone_probe, "~keel_sessions:0 ", "INFO memory");
	ns_probe_send(lone_probe, "$1 1", "GET lone");
}

/* A cluster of one (its only member leads) with --session-timeout-ms
 * 5001: the session of a client that wrote once and left is expired by
 * the leader's own sweep, and INFO counts no session. */
static void lone_leader_expires_sessions(struct ns_run *r)
{
	r->p.nodes = 1;
	r->p.spares = 0;
	r->p.clients = 0;
	r->p.session_ms = 5001;
	world_at(r->w, 1000000000, lone_write, r);
	world_at(r->w, 1500000000, lone_close, r);
	world_at(r->w, 8000000000, lone_info, r);
	world_at(r->w, 9000000000, lone_close, r);
}

/* ---- sessions over --session-max-mb ---- */

static struct ns_probe *big_probe[2];

/* Two clients each keep a 600 kB reply in their session (GETSET of a
 * 600 kB value, not yet acknowledged by a next write): 1.2 MB in all. */
static void big_sessions(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < 2; i++) {
		char name[16], key[16];
		snprintf(name, sizeof name, "big-%u", i);
		snprintf(key, sizeof key, "big%u", i);
		big_probe[i] = ns_probe_open(r, name, 0);
		ns_probe_set_big(big_probe[i], "+OK", key, 600000);
		ns_probe_send(big_probe[i], "$600000 ", "GETSET %s x", key);
	}
}

static void big_info(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < 2; i++)
		ns_probe_done(big_probe[i]);
	lone_probe = ns_probe_open(r, "big-info", 0);
	ns_probe_send(lone_probe, "~keel_sessions:1 ", "INFO memory");
}

/* A cluster of one with --session-max-mb 1 and no idle timeout: once its
 * sessions hold more than 1 MiB, the leader's sweep expires the least
 * recently used until they fit (one of the two here). */
static void lone_leader_bounds_session_bytes(struct ns_run *r)
{
	r->p.nodes = 1;
	r->p.spares = 0;
	r->p.clients = 0;
	r->p.session_max_mb = 1;
	world_at(r->w, 1000000000, big_sessions, r);
	world_at(r->w, 6500000000, big_info, r);
	world_at(r->w, 7500000000, lone_close, r);
}

/* ---- the last member of the configuration stops ---- */

static void lead_to_third(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader at 2 s");
		return;
	}
	ns_admin(r, (uint32_t)(l - r->nodes), "TRANSFER", 3);
}

static void third_leads(void *arg)
{
	struct ns_run *r = arg;
	if (leader(r) != &r->nodes[2])
		ns_fail(r, "scenario: node 3 does not lead after RAFT TRANSFER 3");
}

static void quiet_write(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *l = leader(r);
	lone_probe = ns_probe_open(r, "after-stop", l ? (uint32_t)(l - r->nodes) : 0);
	ns_probe_send(lone_probe, "+OK", "SET after 1");
}

/* Node 3 leads, the last voter of the configuration, with a caught-up
 * learner (node 4) after it and no writes coming: on SIGTERM it hands
 * leadership to a voter (1 or 2), never to itself nor to the learner, so
 * a voter leads within 400 ms. */
static void last_voter_hands_over(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.clients = 0;
	world_at(r->w, 1000000000, add_learner_4, r);
	world_at(r->w, 2000000000, lead_to_third, r);
	world_at(r->w, 2900000000, third_leads, r);
	world_at(r->w, 3000000000, sigterm_leader, step_new(r, 0));
	world_at(r->w, 6500000000, quiet_write, r);
	world_at(r->w, 7500000000, lone_close, r);
}

/* ---- a --join that gives up ---- */

/* Once the joiner's 120th try has been refused, the member it names is
 * let back among the others (it learns the leader at once): the joiner's
 * next turn is its 121st, past the limit, so it gives up and asks no
 * more, and is never added. */
static void uncut_after_last_try(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct server *s = r->nodes[st->node].s;
	if (s && s->join.tries == 120 && !s->join.tcp_open) {
		struct step *uncut = step_new(r, 0);
		uncut->other = 0;
		cut_first(uncut);
		return;
	}
	if (!s || s->join.tries > 120 || !s->join.active) {
		ns_fail(r, "node %llu (--join) stopped asking after %d tries, not 120",
			(unsigned long long)r->nodes[st->node].id, s ? s->join.tries : -1);
		return;
	}
	world_at(r->w, world_now_ns(r->w) + 5000000, uncut_after_last_try, st);
}

/* It gave up (stopped asking), and no member holds it in its
 * configuration: "giving up" in its log is the last it asked. */
static void check_gave_up(void *arg)
{
	struct step *st = arg;
	struct ns_run *r = st->r;
	struct ns_node *n = &r->nodes[st->node];
	if (n->s && (n->s->join.active || n->s->join.tcp_open))
		ns_fail(r, "node %llu (--join) still asks to join after giving up",
			(unsigned long long)n->id);
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->g->r && raft_config_find(raft_config_of(s->g->r), n->id))
			ns_fail(r,
				"node %llu was added after its --join gave up (node %llu's "
				"configuration)",
				(unsigned long long)n->id, (unsigned long long)r->nodes[i].id);
	}
}

/* The members serve once healed (the run has no other clients). */
static void write_after_giving_up(void *arg)
{
	struct ns_run *r = arg;
	ns_probe_send(ns_probe_open(r, "after", 0), "+OK", "SET gaveup 1");
}

/* A node started with --join while the member it names knows no leader
 * (cut off from the others) is refused each second; after 120 tries it
 * gives up, and asks no more even once the member could add it. */
static void join_gives_up(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.clients = 0;
	r->p.run_ns = 126000000000ull;
	struct step *cut = step_new(r, 0);
	cut->other = 1;
	world_at(r->w, 1000, cut_first, cut);
	world_at(r->w, 1500000000, start_joiner, step_new(r, 3));
	world_at(r->w, 100000000000ull, uncut_after_last_try, step_new(r, 3));
	world_at(r->w, 125000000000ull, check_gave_up, step_new(r, 3));
	world_at(r->w, 127000000000ull, write_after_giving_up, r);
}

/* A follower that is up, and the leader (*l); UINT32_MAX (the run
 * failed) if there is no leader or no follower up. */
static uint32_t follower_up(struct ns_run *r, struct ns_node **l)
{
	*l = leader(r);
	uint32_t f = 0;
	while (f < r->p.nodes && (!r->nodes[f].s || &r->nodes[f] == *l))
		f++;
	if (*l && f < r->p.nodes)
		return f;
	ns_fail(r, "scenario: no leader, or no follower up");
	return UINT32_MAX;
}

/* ---- one connection, one order on a follower with a slow disk ---- */

struct order3 {
	struct ns_run *r;
	struct ns_probe *p;
};

static void order3_send(void *arg)
{
	struct order3 *o = arg;
	struct ns_run *r = o->r;
	struct ns_node *l;
	uint32_t f = follower_up(r, &l);
	if (f == UINT32_MAX)
		return;
	r->nodes[f].disk_extra_ns = 200000000; /* its entries are durable 200 ms late */
	o->p = ns_probe_open(r, "order3", f);
	ns_probe_send(o->p, "+OK", "SET ord new");
	ns_probe_send(o->p, "$3 new", "GET ord");
	ns_probe_send(o->p, "+OK", "SET ord2 x");
}

static void order3_done(void *arg)
{
	struct order3 *o = arg;
	if (o->p)
		ns_probe_done(o->p);
}

/* SET k, GET k, SET k2 pipelined on one connection to a follower whose
 * disk is slow (its entries are durable 200 ms after the other
 * follower's, so the leader commits without it): the GET, sent after the
 * SET, sees it, and the replies come in the order sent. */
static void slow_follower_pipeline(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0;
	struct order3 *o = ns_alloc(r, sizeof *o);
	*o = (struct order3){r, NULL};
	world_at(r->w, r->p.run_ns + 1000000000, order3_send, o); /* healed: it counts */
	world_at(r->w, r->p.run_ns + 3000000000, order3_done, o);
}

/* ---- a read before a write on a follower that then catches up by a
 * snapshot holding the write ---- */

struct order4 {
	struct ns_run *r;
	uint32_t f;
	struct ns_probe *p, *q;
};

/* GET then SET pipelined on one connection to a follower whose disk is
 * slow (it stays so: it falls behind the leader's log again and again). */
static void order4_send(void *arg)
{
	struct order4 *o = arg;
	struct ns_run *r = o->r;
	struct ns_node *l;
	uint32_t f = follower_up(r, &l);
	if (f == UINT32_MAX)
		return;
	o->f = f;
	r->nodes[f].disk_extra_ns = 20000000; /* its entries are durable 20 ms late */
	o->p = ns_probe_open(r, "order4", f);
	ns_probe_send(o->p, "-TRYAGAIN this node caught up by a snapshot", "GET ord4");
	ns_probe_send(o->p, "+OK", "SET ord4 after");
	ns_probe_send(o->p, "$5 after", "GET ord4"); /* after the SET: runs, and sees it */
	/* a read with no write after it on its connection waits and runs */
	o->q = ns_probe_open(r, "order4-read", f);
	ns_probe_send(o->q, "$-1", "GET ord4-none");
}

static void order4_cut(void *arg)
{
	struct order4 *o = arg;
	struct ns_run *r = o->r;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		world_cut(r->w, r->nodes[o->f].h, r->nodes[i].h, true);
}

static void order4_heal(void *arg)
{
	struct order4 *o = arg;
	struct ns_run *r = o->r;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		world_cut(r->w, r->nodes[o->f].h, r->nodes[i].h, false);
}

static void order4_done(void *arg)
{
	struct order4 *o = arg;
	if (o->p)
		ns_probe_done(o->p);
	if (o->q)
		ns_probe_done(o->q);
}

/* GET k then SET k pipelined on one connection to a follower with a slow
 * disk, cut off from the others as the requests reach it; healed 3 s
 * later, while the workload's writes make the leader take a snapshot
 * every 20 entries and keep 5 entries past it. The SET is applied at the
 * leader and answered; the follower, behind, catches up by snapshots, one
 * of which holds the SET before the follower applied the GET's read
 * index: the GET can no longer run just before the SET, and is refused.
 * Before, it ran on that snapshot's state and read the value of the SET
 * sent after it (the random seed 1754 found it so). A GET on another
 * connection to the follower, with no write after it, is not refused: it
 * waits for its read index and runs. */
static void follower_snapshot_order(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.snapshot_entries = 20;
	r->p.trailing_entries = 5; /* the follower cut off needs the snapshot */
	struct order4 *o = ns_alloc(r, sizeof *o);
	*o = (struct order4){r, 0, NULL, NULL};
	world_at(r->w, 2000000000, order4_send, o);
	world_at(r->w, 2000800000, order4_cut, o);
	world_at(r->w, 5000000000, order4_heal, o);
	world_at(r->w, 9000000000, order4_done, o);
}

/* ---- a session resumed on a follower that has not yet applied the
 * session's last write ---- */

struct resume {
	struct ns_run *r;
	uint32_t f, l; /* the follower it resumes on; the leader */
	struct ns_probe *a, *b, *a2;
};

/* The follower is cut off from the leader; the client's first connection
 * is to the leader. */
static void resume_open(void *arg)
{
	struct resume *o = arg;
	struct ns_run *r = o->r;
	struct ns_node *l;
	uint32_t f = follower_up(r, &l);
	if (f == UINT32_MAX)
		return;
	o->f = f;
	o->l = (uint32_t)(l - r->nodes);
	world_cut(r->w, l->h, r->nodes[f].h, true);
	o->a = ns_probe_open(r, "first", o->l);
	o->a->may_close = true; /* reset below */
	ns_probe_send(o->a, "*2 :", "CLIENT SESSION");
	ns_probe_send(o->a, "+OK", "SET resumed 1");
}

/* Its connection is reset; it resumes its session on the follower, at
 * the write after the one answered, then reads and writes again. */
static void resume_again(void *arg)
{
	struct resume *o = arg;
	struct ns_run *r = o->r;
	const char *got = ns_probe_reply(o->a, 0);
	unsigned long long id, seq;
	if (!got || !ns_probe_reply(o->a, 1) || sscanf(got, "*2 :%llu :%llu", &id, &seq) != 2) {
		ns_fail(r, "scenario: the first connection's write was not answered");
		return;
	}
	world_reset(r->w, o->a->h, r->nodes[o->l].h);
	o->a2 = ns_probe_open(r, "resumed", o->f);
	ns_probe_send(o->a2, "+OK", "CLIENT SESSION %llu %llu", id, seq + 1);
	ns_probe_send(o->a2, "$1 1", "GET resumed");
	ns_probe_send(o->a2, "+OK", "SET resumed2 x");
	ns_probe_send(o->a2, "$1 x", "GET resumed2");
}

static void resume_heal(void *arg)
{
	struct resume *o = arg;
	world_cut(o->r->w, o->r->nodes[o->l].h, o->r->nodes[o->f].h, false);
}

static void resume_done(void *arg)
{
	struct resume *o = arg;
	ns_probe_done(o->a);
	if (o->b)
		ns_probe_done(o->b);
	if (o->a2)
		ns_probe_done(o->a2);
}

/* A client writes through the leader while a follower is cut off from it
 * (the write is answered: the other follower made it durable). Its
 * connection is reset; it resumes its session (CLIENT SESSION id seq+1)
 * on the cut-off follower and sends GET, SET, GET. When the cut heals,
 * the follower applies the session's earlier write while this connection
 * waits for its own, later one: the GET, sent after the first write was
 * answered, still waits for its read index and sees that write. */
static void session_resumed_before_apply(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0;
	struct resume *o = ns_alloc(r, sizeof *o);
	*o = (struct resume){r, 0, 0, NULL, NULL, NULL};
	uint64_t t = r->p.run_ns + 1000000000; /* healed: it counts */
	world_at(r->w, t, resume_open, o);
	world_at(r->w, t + 50000000, resume_again, o);
	world_at(r->w, t + 150000000, resume_heal, o);
	world_at(r->w, t + 2500000000, resume_done, o);
}

/* ---- a write resent, on a resumed session, after a read ---- */

/* After the session's write was answered: another client's write. */
static void resend_other(void *arg)
{
	struct resume *o = arg;
	if (!o->a || !ns_probe_reply(o->a, 1))
		return; /* resend_again fails the run */
	o->b = ns_probe_open(o->r, "other", o->l);
	ns_probe_send(o->b, "+OK", "SET resent_other 2");
}

static void resend_again(void *arg)
{
	struct resume *o = arg;
	struct ns_run *r = o->r;
	const char *got = ns_probe_reply(o->a, 0);
	unsigned long long id, seq;
	if (!got || !ns_probe_reply(o->b, 0) || sscanf(got, "*2 :%llu :%llu", &id, &seq) != 2) {
		ns_fail(r, "scenario: the writes through the leader were not answered");
		return;
	}
	world_reset(r->w, o->a->h, r->nodes[o->l].h);
	o->a2 = ns_probe_open(r, "resumed", o->f);
	ns_probe_send(o->a2, "+OK", "CLIENT SESSION %llu %llu", id, seq);
	ns_probe_send(o->a2, "$1 2", "GET resent_other");
	ns_probe_send(o->a2, "+OK", "SET resumed 1");
}

static void write_resent_after_a_read(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0;
	struct resume *o = ns_alloc(r, sizeof *o);
	*o = (struct resume){r, 0, 0, NULL, NULL, NULL};
	uint64_t t = r->p.run_ns + 1000000000;
	world_at(r->w, t, resume_open, o);
	world_at(r->w, t + 20000000, resend_other, o);
	world_at(r->w, t + 50000000, resend_again, o);
	world_at(r->w, t + 150000000, resume_heal, o);
	world_at(r->w, t + 2500000000, resume_done, o);
}

/* ---- the same write twice in the log, a read between its copies ---- */

struct twice {
	struct ns_run *r;
	uint32_t x, l, y; /* the client's follower; the leader; the other */
	uint32_t step;
	uint64_t base, writes, until;
	struct ns_probe *a, *b;
};

static void twice_poll(void *arg);

static void twice_next(struct twice *o)
{
	o->step++;
	world_at(o->r->w, world_now_ns(o->r->w) + 50000, twice_poll, o);
}

/* Steps, each taken as soon as its condition holds (polled every 50 us):
 * 0: the leader appended the write: its link to the client's follower is
 *    cut (what it sends there is held, its reply among it);
 * 1: the write applied on the leader: it hands over to the other node;
 * 2: the new leader proposed the write again (forwarded anew): the
 *    follower is cut from it and the old leader's link heals, so the
 *    reply to the first copy answers the write there, while the second
 *    copy's entry is held;
 * 3: the write answered: another client writes through the new leader;
 * 4: that write acknowledged: the first client pipelines GET and a write;
 * 5: 200 ms later the follower's link to the leader heals. */
static void twice_poll(void *arg)
{
	struct twice *o = arg;
	struct ns_run *r = o->r;
	struct ns_node *n = r->nodes;
	if (world_now_ns(r->w) > o->until) {
		ns_fail(r, "scenario: step %u of same_write_twice never came", o->step);
		return;
	}
	if (o->step == 0 && raft_last_index(n[o->l].s->g->r) > o->base) {
		world_cut(r->w, n[o->l].h, n[o->x].h, true);
		o->base = raft_last_index(n[o->l].s->g->r);
	} else if (o->step == 1 && raft_applied_index(n[o->l].s->g->r) >= o->base) {
		o->writes = n[o->y].s->stats.writes;
		ns_admin(r, o->l, "TRANSFER", n[o->y].id);
	} else if (o->step == 2 && n[o->y].s->stats.writes > o->writes) {
		world_cut(r->w, n[o->y].h, n[o->x].h, true);
		world_cut(r->w, n[o->l].h, n[o->x].h, false);
	} else if (o->step == 3 && ns_probe_reply(o->a, 0)) {
		o->b = ns_probe_open(r, "twice-other", o->y);
		ns_probe_send(o->b, "+OK", "SET twice_k new");
	} else if (o->step == 4 && ns_probe_reply(o->b, 0)) {
		ns_probe_send(o->a, "$3 new", "GET twice_k");
		ns_probe_send(o->a, "+OK", "SET twice_w2 x");
		o->step++;
		world_at(r->w, world_now_ns(r->w) + 200000000, twice_poll, o);
		return;
	} else if (o->step == 5) {
		world_cut(r->w, n[o->y].h, n[o->x].h, false);
		return;
	} else {
		world_at(r->w, world_now_ns(r->w) + 50000, twice_poll, o);
		return;
	}
	twice_next(o);
}

static void twice_start(void *arg)
{
	struct twice *o = arg;
	struct ns_run *r = o->r;
	struct ns_node *l = leader(r);
	if (!l) {
		ns_fail(r, "scenario: no leader");
		return;
	}
	o->l = (uint32_t)(l - r->nodes);
	o->x = (o->l + 1) % 3;
	o->y = (o->l + 2) % 3;
	o->base = raft_last_index(l->s->g->r);
	o->until = world_now_ns(r->w) + 3000000000;
	o->a = ns_probe_open(r, "twice", o->x);
	ns_probe_send(o->a, "+OK", "SET twice_w 1");
	world_at(r->w, world_now_ns(r->w) + 50000, twice_poll, o);
}

static void twice_done(void *arg)
{
	struct twice *o = arg;
	if (o->a)
		ns_probe_done(o->a);
	if (o->b)
		ns_probe_done(o->b);
}

/* A write forwarded by a follower is in the log twice: the leader's link
 * to the follower is cut once it appended it, so its reply waits; it
 * hands over, and the follower forwards the write again to the new
 * leader. The reply to the first copy answers it; the client then sends
 * GET k and a write, after another client's SET k (entered after the
 * second copy) was acknowledged. When the follower applies the second
 * copy, a duplicate that changes nothing, the GET must not run before
 * it (its connection's pending write is a later one): it sees `new`. */
static void same_write_twice(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0;
	struct twice *o = ns_alloc(r, sizeof *o);
	*o = (struct twice){.r = r};
	world_at(r->w, r->p.run_ns + 1000000000, twice_start, o);
	world_at(r->w, r->p.run_ns + 4500000000, twice_done, o);
}

/* ---- the folders a node of two groups makes ---- */

static void check_no_stray_dir(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		const char *d = simfs_stray_dir(host_disk(r->nodes[i].h));
		if (d)
			ns_fail(r, "node %llu made the folder %s and keeps nothing in it",
				(unsigned long long)r->nodes[i].id, d);
	}
}

/* A node of two groups keeps group 0 in --dir (/data) and group 1 in
 * /data/shard-1, whose parent it makes first: every folder it makes holds
 * its files, no other is made. */
static void shard_folders(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.shards = 2;
	world_at(r->w, 2000000000, check_no_stray_dir, r);
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
	{"removed_restart_untold", removed_restart_untold},
	{"strangers_take_no_place", strangers_take_no_place},
	{"leader_removing_itself", leader_removing_itself},
	{"busy_follower_cut_off", busy_follower_cut_off},
	{"replica_is_no_peer", replica_is_no_peer},
	{"strangers_forward_first", strangers_forward_first},
	{"strangers_at_a_cluster_of_one", strangers_at_a_cluster_of_one},
	{"learner_removed", learner_removed},
	{"learner_removed_after_a_burst", learner_removed_after_a_burst},
	{"follower_disk_fills", follower_disk_fills},
	{"snapshot_to_a_follower_behind", snapshot_to_a_follower_behind},
	{"crash_while_receiving_a_snapshot", crash_while_receiving_a_snapshot},
	{"long_pipelines", long_pipelines},
	{"replica_resumes_from_the_log", replica_resumes_from_the_log},
	{"query_limit_edges", query_limit_edges},
	{"session_expired_between_writes", session_expired_between_writes},
	{"replica_behind_compacted_log", replica_behind_compacted_log},
	{"replica_source_crash_mid_snapshot", replica_source_crash_mid_snapshot},
	{"replica_source_removed", replica_source_removed},
	{"write_without_leader", ns_scen_write_without_leader},
	{"node_of_no_cluster", ns_scen_node_of_no_cluster},
	{"write_on_deposed_leader", ns_scen_write_on_deposed_leader},
	{"admin_through_follower", ns_scen_admin_through_follower},
	{"cluster_aware_follower", ns_scen_cluster_aware_follower},
	{"write_db_not_held", ns_scen_write_db_not_held},
	{"disk_fails_under_requests", ns_scen_disk_fails_under_requests},
	{"forward_sent_once", ns_scen_forward_sent_once},
	{"snapshot_in_chunks", ns_scen_snapshot_in_chunks},
	{"removed_under_requests", ns_scen_removed_under_requests},
	{"peer_forwards_malformed", ns_scen_peer_forwards_malformed},
	{"replica_leaves_twice", replica_leaves_twice},
	{"replica_info_in_catchup", replica_info_in_catchup},
	{"replica_restarts_from_its_snapshot", replica_restarts_from_its_snapshot},
	{"forward_held_through_handover", ns_scen_forward_held_through_handover},
	{"peers_crowd_one_pass", ns_scen_peers_crowd_one_pass},
	{"removal_told_mid_pass", ns_scen_removal_told_mid_pass},
	{"outside_leader_sends_a_snapshot", ns_scen_outside_leader_sends_a_snapshot},
	{"peer_forwards_too_large", ns_scen_peer_forwards_too_large},
	{"join_stopped_between_tries", ns_scen_join_stopped_between_tries},
	{"replica_disk_fails_while_stopping", ns_scen_replica_disk_fails_while_stopping},
	{"join_over_split_reads", join_over_split_reads},
	{"replica_sent_a_rotten_snapshot", replica_sent_a_rotten_snapshot},
	{"follower_sent_a_damaged_snapshot", follower_sent_a_damaged_snapshot},
	{"leader_snapshot_rots_on_disk", leader_snapshot_rots_on_disk},
	{"follower_stopped_with_a_forward", ns_scen_follower_stopped_with_a_forward},
	{"forward_ids_survive_a_restart", ns_scen_forward_ids_survive_a_restart},
	{"join_logs_each_try", join_logs_each_try},
	{"join_answer_lost", join_answer_lost},
	{"join_answered_while_stopping", join_answered_while_stopping},
	{"joined_then_restarted", joined_then_restarted},
	{"lone_leader_expires_sessions", lone_leader_expires_sessions},
	{"lone_leader_bounds_session_bytes", lone_leader_bounds_session_bytes},
	{"last_voter_hands_over", last_voter_hands_over},
	{"lone_leader_stopped_with_a_write", ns_scen_lone_leader_stopped_with_a_write},
	{"join_gives_up", join_gives_up},
	{"slow_follower_pipeline", slow_follower_pipeline},
	{"follower_snapshot_order", follower_snapshot_order},
	{"session_resumed_before_apply", session_resumed_before_apply},
	{"write_resent_after_a_read", write_resent_after_a_read},
	{"same_write_twice", same_write_twice},
	{"order_across_shards", ns_scen_order_across_shards},
	{"sharded_replicas", ns_scen_sharded_replicas},
	{"sharded_replica_by_snapshot", ns_scen_sharded_replica_by_snapshot},
	{"sharded_members", ns_scen_sharded_members},
	{"shard_added_before_join", ns_scen_shard_added_before_join},
	{"shard_leader_removed", ns_scen_shard_leader_removed},
	{"placed_removed_while_down", ns_scen_placed_removed_while_down},
	{"place_while_removing", ns_scen_place_while_removing},
	{"placed_elsewhere_cut_off", ns_scen_placed_elsewhere_cut_off},
	{"placed_elsewhere_down", ns_scen_placed_elsewhere_down},
	{"learner_taken_off_down", ns_scen_learner_taken_off_down},
	{"learner_restarts_unheard", ns_scen_learner_restarts_unheard},
	{"deposed_driver_reads_old_members", ns_scen_deposed_driver_reads_old_members},
	{"pair_never_led", ns_scen_pair_never_led},
	{"shard_folders", shard_folders},
	{"learner_readded", learner_readded},
	{"session_timeout_is_the_leaders", session_timeout_is_the_leaders},
	{"learner_removed_when_idle", learner_removed_when_idle},
	{"reshard_resumes_after_driver_crash", ns_scen_reshard_resumes_after_driver_crash},
	{"reshard_resumes_a_piece", ns_scen_reshard_resumes_a_piece},
	{"reshard_release_waits_for_the_copy", ns_scen_reshard_release_waits_for_the_copy},
	{"reshard_late_flip_refused", ns_scen_reshard_late_flip_refused},
	{"reshard_keeps_sessions", ns_scen_reshard_keeps_sessions},
	{"keyspace_over_shards_crash", ns_scen_keyspace_over_shards_crash},
	{"keyspace_flush_in_a_move", ns_scen_keyspace_flush_in_a_move},
	{"reshard_answers_ask", ns_scen_reshard_answers_ask},
	{"reshard_multikey_ask", ns_scen_reshard_multikey_ask},
	{"cluster_topology", ns_scen_cluster_topology},
	{"reshard_holds_plain_writes", ns_scen_reshard_holds_plain_writes},
	{"reshard_gives_up_held_requests", ns_scen_reshard_gives_up_held_requests},
	{"reshard_stops_with_held_requests", ns_scen_reshard_stops_with_held_requests},
	{"shard_added", ns_scen_shard_added},
	{"shard_placed", ns_scen_shard_placed},
	{"shard_replaced", ns_scen_shard_replaced},
	{"shard_every_placed", ns_scen_shard_every_placed},
	{"reshard_unreached", ns_scen_reshard_unreached},
	{"shard_placed_while_down", ns_scen_shard_placed_while_down},
	{"shard_placed_long_down", ns_scen_shard_placed_long_down},
	{"quiet_leader_crashes", ns_scen_quiet_leader_crashes},
	{"quiet_leader_partitioned", ns_scen_quiet_leader_partitioned},
	{"quiet_follower_served", ns_scen_quiet_follower_served},
	{"quiet_follower_restarts", ns_scen_quiet_follower_restarts},
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
	log_forget(); /* a capture a failed run left */
	r->p.replicas = 0;
	r->p.replica_clients = 0;
	r->p.fault_every_ms = 0;
	r->scripted = true;
	scenarios[i].setup(r);
	world_at(r->w, 1000000, ns_replica_watch, r);
}
