/* tests/nsim/scenarios.c — scripted runs of the whole-node simulator: the
 * fault schedules of bugs its random seeds found, written out, so each
 * stays caught whatever later changes do to the seeds' traces. A scenario
 * sets the run's parameters (no random faults) and schedules its events;
 * the workload and every check are a seed's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsim/nsim.h"
#include "resp/buf.h"
#include "resp/parse.h"

static struct ns_node *leader(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].s && r->nodes[i].s->r &&
		    raft_role_of(r->nodes[i].s->r) == RAFT_LEADER)
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
	if (!n->s || !n->s->replica)
		ns_fail(n->run, "scenario: replica %s is not running", host_ip(n->h));
	else if (n->s->stats.snapshots_installed || n->s->replica->follow.stats.snapshots)
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

static const struct {
	const char *name;
	void (*setup)(struct ns_run *r);
} scenarios[] = {
	{"leader_outside_config", leader_outside_config},
	{"snapshot_to_a_follower_behind", snapshot_to_a_follower_behind},
	{"crash_while_receiving_a_snapshot", crash_while_receiving_a_snapshot},
	{"long_pipelines", long_pipelines},
	{"replica_resumes_from_the_log", replica_resumes_from_the_log},
	{"query_limit_edges", query_limit_edges},
	{"session_expired_between_writes", session_expired_between_writes},
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
