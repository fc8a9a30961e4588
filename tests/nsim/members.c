/* tests/nsim/members.c — the whole-node simulator's membership changes,
 * made as an operator makes them: a RAFT command sent over RESP to any
 * node (a follower forwards it to the leader). ADD-LEARNER of a spare host
 * (started empty, with no --cluster: the leader reaches it, and promotes
 * it once caught up: AUTO), REMOVE of a member (which the operator then
 * stops for good once told OK), and TRANSFER of leadership. A command
 * whose reply is lost may still take effect: the checks read the
 * configuration from the nodes, never from what the driver asked. */
#include <stdio.h>
#include <string.h>

#include "nsim/nsim.h"
#include "resp/parse.h"

struct admin {
	struct ns_run *r;
	struct wconn *conn;
	char cmd[160];
	uint32_t node; /* the node it concerns */
	int what;      /* ADMIN_* */
	bool replied;
	const char *expect; /* what the reply must begin with (NULL: anything) */
	char words[96];	    /* the command, as an operator typed it */
};

enum { ADMIN_ADD = 1, ADMIN_REMOVE, ADMIN_TRANSFER };

/* RAFT REMOVE answers OK once the metadata group (or the one group)
 * committed the change; every other group then drops the node in its own
 * log. As an operator would, the driver stops the node only once it says
 * it is out of the cluster (INFO raft's raft_role:removed, its log's "stop
 * it": a member of no group), looking every 500 ms; a node that is down
 * is looked at once it is back. */
static void retire(void *arg)
{
	struct ns_node *n = arg;
	if (n->kind == NS_RETIRED)
		return;
	if (!ns_info_says(n, "raft", "raft_role:removed")) {
		world_tracef(n->run->w, "node %llu: not yet out of every group: kept",
			     (unsigned long long)n->id);
		world_at(n->run->w, world_now_ns(n->run->w) + 500000000, retire, n);
		return;
	}
	world_tracef(n->run->w, "node %llu: stopped for good (removed)", (unsigned long long)n->id);
	n->kind = NS_RETIRED;
	ns_node_crash(n);
}

static void on_admin(void *ctx, struct wconn *c, enum wconn_event ev)
{
	struct admin *a = ctx;
	struct ns_run *r = a->r;
	if (ev == WCONN_CONNECTED) {
		wconn_send(c, a->cmd, strlen(a->cmd));
		return;
	}
	size_t n, frame;
	const uint8_t *p = wconn_data(c, &n);
	if (ev == WCONN_DATA && !a->replied && resp_scan_reply(p, n, &frame) == RESP_OK) {
		a->replied = true;
		world_tracef(r->w, "admin: %.*s", (int)(frame > 2 ? frame - 2 : frame),
			     (const char *)p);
		if (a->expect &&
		    (frame < strlen(a->expect) || memcmp(p, a->expect, strlen(a->expect))))
			ns_fail(r, "admin: %s answered %.*s, not %s...", a->words,
				(int)(frame > 2 ? frame - 2 : frame), (const char *)p, a->expect);
		if (p[0] == '+' && a->what == ADMIN_REMOVE)
			world_at(r->w, world_now_ns(r->w) + 500000000, retire, &r->nodes[a->node]);
	} else if (ev != WCONN_CLOSED) {
		return;
	} else if (a->expect && !a->replied) {
		ns_fail(r, "admin: %s: no reply (the connection closed)", a->words);
	}
	wconn_close(c);
	a->conn = NULL;
}

static struct admin *admin_send(struct ns_run *r, uint32_t to, int what, uint32_t node,
				const char *cmd)
{
	struct admin *a = ns_alloc(r, sizeof *a);
	memset(a, 0, sizeof *a);
	a->r = r;
	a->what = what;
	a->node = node;
	snprintf(a->cmd, sizeof a->cmd, "%s", cmd);
	world_tracef(r->w, "admin: to node %llu: %s", (unsigned long long)r->nodes[to].id,
		     what == ADMIN_ADD	      ? "RAFT ADD-LEARNER"
		     : what == ADMIN_REMOVE   ? "RAFT REMOVE"
		     : what == ADMIN_TRANSFER ? "RAFT TRANSFER"
					      : "a scripted command");
	a->conn = wconn_open(r->w, r->admin_host, host_ip(r->nodes[to].h), 6379, on_admin, a);
	return a;
}

static void resp_cmd(char *out, size_t cap, int argc, const char *const *argv)
{
	int n = snprintf(out, cap, "*%d\r\n", argc);
	for (int i = 0; i < argc && n > 0 && (size_t)n < cap; i++)
		n += snprintf(out + n, cap - (size_t)n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
}

/* One membership change, or a leadership transfer; false if none fits. */
bool ns_membership_fault(struct ns_run *r)
{
	struct prng *g = world_rng(r->w);
	uint32_t active[NS_NODES_MAX], n_active = 0, spare = UINT32_MAX;
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		if (ns_node_active(&r->nodes[i]))
			active[n_active++] = i;
		else if (r->nodes[i].kind == NS_SPARE && spare == UINT32_MAX)
			spare = i;
	}
	if (!n_active)
		return false;
	uint32_t to = active[prng_below(g, n_active)];
	uint32_t roll = r->add_due ? 0 : (uint32_t)prng_below(g, 3);
	r->add_due = false;
	char cmd[160], id[24], addr[40];
	if (roll == 0 && spare != UINT32_MAX) {
		struct ns_node *n = &r->nodes[spare];
		snprintf(id, sizeof id, "%llu", (unsigned long long)n->id);
		snprintf(addr, sizeof addr, "%s:7379", host_ip(n->h));
		const char *argv[] = {"RAFT", "ADD-LEARNER", id, addr, "AUTO"};
		resp_cmd(cmd, sizeof cmd, 5, argv);
		n->kind = NS_ADDED; /* started now: if the change is lost, it waits unused */
		ns_node_start(n);
		admin_send(r, to, ADMIN_ADD, spare, cmd);
		return true;
	}
	uint32_t who = active[prng_below(g, n_active)];
	snprintf(id, sizeof id, "%llu", (unsigned long long)r->nodes[who].id);
	if (roll == 1 && n_active > 3) {
		const char *argv[] = {"RAFT", "REMOVE", id};
		resp_cmd(cmd, sizeof cmd, 3, argv);
		admin_send(r, to, ADMIN_REMOVE, who, cmd);
		return true;
	}
	const char *argv[] = {"RAFT", "TRANSFER", id};
	resp_cmd(cmd, sizeof cmd, 3, argv);
	admin_send(r, to, ADMIN_TRANSFER, who, cmd);
	return true;
}

/* A spare is added at a time the seed draws (once per spare). */
void ns_membership_add(void *arg)
{
	struct ns_run *r = arg;
	if (r->healing)
		return;
	r->add_due = true;
	ns_membership_fault(r);
}

void ns_admin(struct ns_run *r, uint32_t to, const char *verb, uint64_t id)
{
	char cmd[160], ids[24];
	snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
	const char *argv[] = {"RAFT", verb, ids};
	resp_cmd(cmd, sizeof cmd, 3, argv);
	uint32_t who = 0;
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].id == id)
			who = i;
	admin_send(r, to, !strcmp(verb, "REMOVE") ? ADMIN_REMOVE : ADMIN_TRANSFER, who, cmd);
}

static void check_answered(void *arg)
{
	struct admin *a = arg;
	if (!a->replied)
		ns_fail(a->r, "admin: %s: no reply in 2 s", a->words);
}

void ns_admin_expect(struct ns_run *r, uint32_t to, int argc, const char *const *argv,
		     const char *expect)
{
	char cmd[160];
	resp_cmd(cmd, sizeof cmd, argc, argv);
	struct admin *a = admin_send(r, to, 0, to, cmd);
	a->expect = expect;
	world_at(r->w, world_now_ns(r->w) + 2000000000, check_answered, a);
	for (int i = 0; i < argc; i++) {
		size_t len = strlen(a->words);
		snprintf(a->words + len, sizeof a->words - len, "%s%s", i ? " " : "", argv[i]);
	}
}

void ns_admin_send(struct ns_run *r, uint32_t to, int argc, const char *const *argv)
{
	char cmd[160];
	resp_cmd(cmd, sizeof cmd, argc, argv);
	admin_send(r, to, 0, to, cmd);
}
