/* tests/sim/scenario_main.c — runs the scenario scripts of
 * tests/sim/scenarios/: stories told as commands to a small cluster of real
 * Raft cores (sim/node.h) on a network that delivers only when told, each
 * command followed by the exact trace it must produce.
 *
 *   scenario DIR|FILE... [--rewrite]
 *
 * A script is a sequence of blocks: a command line, a line `----`, the
 * expected output, a blank line. Lines starting with # are comments. The
 * commands are listed in cmd_table below; `--rewrite` writes what each
 * command produced as its expected output. Ends with
 * `scenario: N passed, M failed` (scripts). */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "sim/net.h"
#include "sim/node.h"

#define SC_NODES   10
#define SC_OUT_MAX (256 * 1024)

struct scen {
	struct node nodes[SC_NODES];
	bool exists[SC_NODES];
	struct prng prng;
	struct net net;
	struct raft_options opts;
	bool async;
	/* a snapshot completes up to this much later (`sync` waits for it) */
	uint64_t snap_delay;
	char *out; /* what the current command printed */
	size_t out_len;
	char err[256];
};

static struct scen *S;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(S->out + S->out_len, SC_OUT_MAX - S->out_len - 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		S->out_len += (size_t)n;
	if (S->out_len >= SC_OUT_MAX - 2)
		S->out_len = SC_OUT_MAX - 2;
	S->out[S->out_len++] = '\n';
	S->out[S->out_len] = '\0';
}

/* ---- describing things --------------------------------------------------- */

static const char *const type_names[] = {
	"?",	       "PREVOTE",  "PREVOTE_RESP",  "VOTE",	   "VOTE_RESP",	 "APPEND",
	"APPEND_RESP", "SNAPSHOT", "SNAPSHOT_RESP", "TIMEOUT_NOW", "READ_INDEX", "READ_INDEX_RESP",
};

static int type_of(const char *name)
{
	for (int t = 1; t <= RAFT_MSG_TYPE_MAX; t++)
		if (!strcasecmp(name, type_names[t]))
			return t;
	return -1;
}

static void msg_describe(const struct raft_msg *m, char *buf, size_t len)
{
	int k = snprintf(buf, len, "%llu->%llu %s term=%llu", (unsigned long long)m->from,
			 (unsigned long long)m->to, type_names[m->type],
			 (unsigned long long)m->term);
	const struct raft_msg_append *a = &m->u.append;
	const struct raft_msg_append_resp *ar = &m->u.append_resp;
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		snprintf(buf + k, len - (size_t)k, " last=%llu/%llu%s",
			 (unsigned long long)m->u.vote.last_index,
			 (unsigned long long)m->u.vote.last_term,
			 m->u.vote.transfer ? " transfer" : "");
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		snprintf(buf + k, len - (size_t)k, " %s",
			 m->u.vote_resp.granted ? "granted" : "refused");
		break;
	case RAFT_MSG_APPEND:
		k += snprintf(buf + k, len - (size_t)k, " prev=%llu/%llu commit=%llu entries=[",
			      (unsigned long long)a->prev_index, (unsigned long long)a->prev_term,
			      (unsigned long long)a->commit);
		for (uint32_t i = 0; i < a->n_entries && k < (int)len - 24; i++)
			k += snprintf(buf + k, len - (size_t)k, "%s%llu/%llu", i ? " " : "",
				      (unsigned long long)a->entries[i].index,
				      (unsigned long long)a->entries[i].term);
		snprintf(buf + k, len - (size_t)k, "]");
		break;
	case RAFT_MSG_APPEND_RESP:
		if (ar->success)
			snprintf(buf + k, len - (size_t)k, " ok match=%llu",
				 (unsigned long long)ar->match_index);
		else
			snprintf(buf + k, len - (size_t)k,
				 " reject=%llu conflict_index=%llu conflict_term=%llu",
				 (unsigned long long)ar->reject_index,
				 (unsigned long long)ar->conflict_index,
				 (unsigned long long)ar->conflict_term);
		break;
	case RAFT_MSG_SNAPSHOT:
		snprintf(buf + k, len - (size_t)k, " snap=%llu/%llu off=%llu len=%u",
			 (unsigned long long)m->u.snapshot.meta.index,
			 (unsigned long long)m->u.snapshot.meta.term,
			 (unsigned long long)m->u.snapshot.offset, m->u.snapshot.len);
		break;
	case RAFT_MSG_SNAPSHOT_RESP:
		snprintf(buf + k, len - (size_t)k, " next=%llu%s",
			 (unsigned long long)m->u.snapshot_resp.next_offset,
			 m->u.snapshot_resp.done ? " done" : "");
		break;
	case RAFT_MSG_READ_INDEX_RESP:
		snprintf(buf + k, len - (size_t)k, " req=%llu index=%llu %s",
			 (unsigned long long)m->u.read_index_resp.req_id,
			 (unsigned long long)m->u.read_index_resp.index,
			 m->u.read_index_resp.ok ? "ok" : "failed");
		break;
	default:
		break;
	}
}

/* ---- the node environment ------------------------------------------------- */

static void env_send(void *ctx, struct node *n, const struct raft_msg *m)
{
	(void)ctx;
	(void)n;
	net_send(&S->net, m, 0);
}

static void env_applied(void *ctx, struct node *n, const struct raft_entry *e, int64_t o)
{
	(void)ctx;
	(void)o;
	struct regs_cmd c;
	if (e->type == RAFT_ENTRY_NOOP)
		out("%llu: apply %llu/%llu noop", (unsigned long long)n->id,
		    (unsigned long long)e->index, (unsigned long long)e->term);
	else if (e->type == RAFT_ENTRY_CONFIG)
		out("%llu: apply %llu/%llu config", (unsigned long long)n->id,
		    (unsigned long long)e->index, (unsigned long long)e->term);
	else if (regs_cmd_decode(&c, e->data, e->len))
		out("%llu: apply %llu/%llu write %u=%lld", (unsigned long long)n->id,
		    (unsigned long long)e->index, (unsigned long long)e->term, c.key,
		    (long long)c.arg);
}

static void env_read(void *ctx, struct node *n, uint64_t req_id, int status)
{
	(void)ctx;
	if (status == KEEL_OK)
		out("%llu: read req=%llu ok applied=%llu value=%lld", (unsigned long long)n->id,
		    (unsigned long long)req_id, (unsigned long long)n->kv.applied,
		    (long long)n->kv.value[0]);
	else
		out("%llu: read req=%llu failed %s", (unsigned long long)n->id,
		    (unsigned long long)req_id, keel_err_name(status));
}

static void env_stopped(void *ctx, struct node *n)
{
	(void)ctx;
	out("%llu: stopped", (unsigned long long)n->id);
}

static void scen_trace(void *ctx, const char *line)
{
	(void)ctx;
	out("%s", line);
}

/* ---- commands -------------------------------------------------------------- */

#define ARGS_MAX 16

struct args {
	int n;
	char *k[ARGS_MAX]; /* key, or NULL for a positional argument */
	char *v[ARGS_MAX];
};

static const char *arg(const struct args *a, const char *key)
{
	for (int i = 0; i < a->n; i++)
		if (a->k[i] && !strcmp(a->k[i], key))
			return a->v[i];
	return NULL;
}

static uint64_t arg_u(const struct args *a, const char *key, uint64_t dflt)
{
	const char *v = arg(a, key);
	return v ? strtoull(v, NULL, 10) : dflt;
}

static bool arg_b(const struct args *a, const char *key, bool dflt)
{
	const char *v = arg(a, key);
	return v ? !strcmp(v, "true") : dflt;
}

/* The i-th positional argument as a node id (0: missing or unknown). */
static raft_id arg_node(const struct args *a, int i)
{
	for (int k = 0; k < a->n; k++)
		if (!a->k[k] && i-- == 0) {
			uint64_t id = strtoull(a->v[k], NULL, 10);
			return id > 0 && id < SC_NODES && S->exists[id] ? id : 0;
		}
	return 0;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(S->err, sizeof S->err, fmt, ap);
	va_end(ap);
	return -1;
}

static struct node *node_arg(const struct args *a, int i)
{
	raft_id id = arg_node(a, i);
	return id ? &S->nodes[id] : NULL;
}

static void node_new(raft_id id)
{
	struct node_env env = {NULL, env_send, NULL, env_applied, env_read, env_stopped};
	node_init(&S->nodes[id], id, &S->opts, 1, &env);
	S->nodes[id].sync_delay_max = S->async ? 1 : 0;
	S->nodes[id].snapshot_delay_max = S->snap_delay;
	S->exists[id] = true;
}

static int cmd_cluster(struct args *a)
{
	uint32_t n = (uint32_t)arg_u(a, "n", 3), learners = (uint32_t)arg_u(a, "learners", 0);
	if (n < 1 || n + learners >= SC_NODES)
		return fail("cluster: n=%u learners=%u out of range", n, learners);
	raft_options_default(&S->opts);
	S->opts.pre_vote = arg_b(a, "prevote", true);
	S->opts.check_quorum = arg_b(a, "checkquorum", true);
	S->opts.snapshot_chunk_bytes = (uint32_t)arg_u(a, "chunk", 1u << 20);
	S->opts.snapshot_entries = arg_u(a, "snap-entries", 100000);
	S->opts.snapshot_bytes = arg_u(a, "snap-bytes", 64u << 20);
	S->opts.trailing_entries = arg_u(a, "trailing", 0);
	S->opts.inflight_msgs_max = (uint32_t)arg_u(a, "window", 64);
	S->opts.promote_distance = arg_u(a, "promote", 2);
	S->opts.msg_entries_max = (uint32_t)arg_u(a, "batch", 512);
	S->opts.msg_bytes_max = arg_u(a, "batch-bytes", S->opts.msg_bytes_max);
	S->opts.snapshot_bytes = arg_u(a, "snap-bytes", S->opts.snapshot_bytes);
	S->opts.trace = (struct trace){scen_trace, NULL};
	S->async = arg_b(a, "async", false);
	S->snap_delay = arg_u(a, "snap-delay", 0);
	struct raft_config boot = {.n = n + learners};
	for (uint32_t i = 0; i < n + learners; i++) {
		boot.members[i].id = i + 1;
		boot.members[i].role = i < n ? RAFT_VOTER : RAFT_LEARNER;
	}
	for (raft_id id = 1; id <= n + learners; id++) {
		node_new(id);
		node_start(&S->nodes[id], &boot);
	}
	for (raft_id id = 1; id <= n + learners; id++)
		node_process(&S->nodes[id]);
	return 0;
}

static int cmd_add_node(struct args *a)
{
	uint64_t id = arg_u(a, "id", 0);
	if (!id || id >= SC_NODES || S->exists[id])
		return fail("add-node: id=%llu not free", (unsigned long long)id);
	node_new(id);
	node_start(&S->nodes[id], NULL);
	return 0;
}

/* Delivers (or drops) the queued messages matching the filter, in the order
 * they were sent, leaving the first `skip` of them queued; messages sent
 * meanwhile wait for the next command. */
static int cmd_deliver_or_drop(struct args *a, bool deliver)
{
	uint64_t from = arg_u(a, "from", 0), to = arg_u(a, "to", 0), max = arg_u(a, "n", ~0ull);
	uint64_t skip = arg_u(a, "skip", 0);
	int type = arg(a, "type") ? type_of(arg(a, "type")) : 0;
	if (type < 0)
		return fail("unknown message type %s", arg(a, "type"));
	uint32_t left = S->net.n, i = 0;
	while (i < left && max) {
		const struct raft_msg *m = &S->net.q[i].m;
		if ((from && m->from != from) || (to && m->to != to) || (type && m->type != type)) {
			i++;
			continue;
		}
		if (skip) {
			skip--;
			i++;
			continue;
		}
		struct net_msg nm;
		net_take(&S->net, i, &nm);
		left--;
		max--;
		char d[512];
		msg_describe(&nm.m, d, sizeof d);
		struct node *n =
			nm.m.to < SC_NODES && S->exists[nm.m.to] ? &S->nodes[nm.m.to] : NULL;
		if (!deliver || !n || !node_up(n) || S->net.cut[nm.m.from][nm.m.to]) {
			out("dropped %s", d);
		} else {
			raft_step(n->r, &nm.m);
			node_process(n);
		}
		net_msg_free(&nm);
	}
	return 0;
}

/* Steps a message made up by the script into node `to`, as if a peer had
 * sent it: `inject from=9 to=1 type=READ_INDEX_RESP term=N [index=I]
 * [req=R] [ok=true]` (READ_INDEX takes req= too; SNAPSHOT index=, size=,
 * off= and len=)
 * (the sender need not exist: a frame from a node no one knows); a vote
 * answer is a refusal unless `granted=true`. */
static int cmd_inject(struct args *a)
{
	raft_id from = arg_u(a, "from", 0), to = arg_u(a, "to", 0);
	int type = arg(a, "type") ? type_of(arg(a, "type")) : -1;
	struct node *n = to < SC_NODES && S->exists[to] ? &S->nodes[to] : NULL;
	if (!n || !node_up(n) || !from || type <= 0)
		return fail("inject: needs from=, to= (a running node) and type=");
	struct raft_msg m = {.type = (uint8_t)type, .from = from, .to = to};
	m.term = arg_u(a, "term", 0);
	if (type == RAFT_MSG_READ_INDEX_RESP) {
		m.u.read_index_resp.index = arg_u(a, "index", 0);
		m.u.read_index_resp.req_id = arg_u(a, "req", 0);
		m.u.read_index_resp.ok = arg_b(a, "ok", false);
	}
	if (type == RAFT_MSG_READ_INDEX)
		m.u.read_index.req_id = arg_u(a, "req", 0);
	static const uint8_t zeros[4096];
	if (type == RAFT_MSG_SNAPSHOT) { /* index= size= off= len=: a chunk of zero bytes */
		m.u.snapshot.meta.index = arg_u(a, "index", 0);
		m.u.snapshot.meta.term = m.term;
		m.u.snapshot.meta.size = arg_u(a, "size", 0);
		m.u.snapshot.offset = arg_u(a, "off", 0);
		m.u.snapshot.len = (uint32_t)arg_u(a, "len", 0);
		if (m.u.snapshot.len > sizeof zeros)
			return fail("inject: len= at most %zu", sizeof zeros);
		m.u.snapshot.data = zeros;
	}
	if (type == RAFT_MSG_VOTE_RESP || type == RAFT_MSG_PREVOTE_RESP)
		m.u.vote_resp.granted = arg_b(a, "granted", false);
	if (type == RAFT_MSG_APPEND) { /* a heartbeat at the node's last entry */
		m.u.append.prev_index = raft_last_index(n->r);
		m.u.append.prev_term = raft_term_at(n->r, m.u.append.prev_index);
	}
	int rc = raft_step(n->r, &m);
	out("%llu: %s", (unsigned long long)to, rc == KEEL_OK ? "stepped" : keel_err_str(rc));
	node_process(n);
	return 0;
}

/* Delivers rounds of messages until none is left (at most 50 rounds). */
static int cmd_stabilize(struct args *a)
{
	(void)a;
	struct args none = {0};
	for (int round = 0; round < 50 && S->net.n; round++)
		cmd_deliver_or_drop(&none, true);
	return 0;
}

static int cmd_msgs(struct args *a)
{
	(void)a;
	for (uint32_t i = 0; i < S->net.n; i++) {
		char d[512];
		msg_describe(&S->net.q[i].m, d, sizeof d);
		out("%s", d);
	}
	if (!S->net.n)
		out("no messages");
	return 0;
}

static int cmd_tick(struct args *a)
{
	uint64_t times = arg_u(a, "n", 1);
	for (uint64_t t = 0; t < times; t++)
		for (int i = 0; arg_node(a, i); i++) {
			struct node *n = &S->nodes[arg_node(a, i)];
			if (!node_up(n) || raft_stopped(n->r))
				continue;
			raft_tick(n->r);
			node_process(n);
		}
	return node_arg(a, 0) ? 0 : fail("tick: which node?");
}

static int cmd_propose(struct args *a)
{
	struct node *n = node_arg(a, 0);
	const char *v = arg(a, "value");
	if (!n || !v || !node_up(n))
		return fail("propose: usage: propose ID value=V (node up)");
	struct regs_cmd c = {.op = REGS_WRITE, .key = 0, .arg = strtoll(v, NULL, 10)};
	uint8_t buf[REGS_CMD_BYTES];
	raft_index index;
	raft_term term;
	int rc = raft_propose(n->r, buf, regs_cmd_encode(&c, buf), &index, &term);
	if (rc == KEEL_OK)
		out("%llu: proposed at %llu/%llu", (unsigned long long)n->id,
		    (unsigned long long)index, (unsigned long long)term);
	else
		out("%llu: propose refused: %s", (unsigned long long)n->id, keel_err_name(rc));
	node_process(n);
	return 0;
}

static int cmd_read(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n || !node_up(n) || !arg(a, "req"))
		return fail("read: usage: read ID req=N (node up)");
	int rc = raft_read_index(n->r, arg_u(a, "req", 0));
	if (rc != KEEL_OK)
		out("%llu: read refused: %s", (unsigned long long)n->id, keel_err_name(rc));
	node_process(n);
	return 0;
}

static int cmd_change(struct args *a)
{
	struct node *n = node_arg(a, 0);
	const char *op = a->n > 1 && !a->k[1] ? a->v[1] : NULL;
	uint64_t who = arg_u(a, "node", 0);
	if (!n || !node_up(n) || !op || !who)
		return fail("change: usage: change ID add-learner|promote|remove node=N");
	enum raft_change_op o = !strcmp(op, "add-learner") ? RAFT_CHANGE_ADD_LEARNER
				: !strcmp(op, "promote")   ? RAFT_CHANGE_PROMOTE
				: !strcmp(op, "remove")	   ? RAFT_CHANGE_REMOVE
							   : 0;
	if (!o)
		return fail("change: unknown operation %s", op);
	int rc = raft_change(n->r, o, who, "", arg_b(a, "auto", false));
	if (rc != KEEL_OK)
		out("%llu: change refused: %s", (unsigned long long)n->id, keel_err_name(rc));
	node_process(n);
	return 0;
}

static int cmd_transfer(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n || !node_up(n) || !arg(a, "to"))
		return fail("transfer: usage: transfer ID to=N");
	int rc = raft_transfer_leader(n->r, arg_u(a, "to", 0));
	if (rc != KEEL_OK)
		out("%llu: transfer refused: %s", (unsigned long long)n->id, keel_err_name(rc));
	node_process(n);
	return 0;
}

/* snapshot ID: an operator's RAFT SNAPSHOT on that node. */
static int cmd_snapshot(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n || !node_up(n))
		return fail("snapshot: which running node?");
	raft_index at = 0;
	int rc = raft_snapshot_now(n->r, &at);
	if (rc != KEEL_OK)
		out("%llu: snapshot refused: %s", (unsigned long long)n->id, keel_err_name(rc));
	else
		out("%llu: snapshot will cover %llu", (unsigned long long)n->id,
		    (unsigned long long)at);
	node_process(n);
	return 0;
}

static int cmd_campaign(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n || !node_up(n))
		return fail("campaign: which node?");
	raft_campaign(n->r);
	node_process(n);
	return 0;
}

/* partition 1 2 | 3 4 5: no message crosses between the two groups. */
static int cmd_partition(struct args *a)
{
	int side = 0;
	bool in[2][SC_NODES] = {{0}};
	for (int i = 0; i < a->n; i++) {
		if (!strcmp(a->v[i], "|"))
			side = 1;
		else
			in[side][strtoull(a->v[i], NULL, 10) % SC_NODES] = true;
	}
	for (int x = 0; x < SC_NODES; x++)
		for (int y = 0; y < SC_NODES; y++)
			if (in[0][x] && in[1][y])
				S->net.cut[x][y] = S->net.cut[y][x] = true;
	return side ? 0 : fail("partition: usage: partition 1 2 | 3 4 5");
}

static int cmd_heal(struct args *a)
{
	(void)a;
	net_heal(&S->net);
	return 0;
}

static int cmd_crash(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n || !node_up(n))
		return fail("crash: which running node?");
	/* lose=all: every unsynced write is lost; else a random part survives */
	node_crash(n, arg(a, "lose") && !strcmp(arg(a, "lose"), "all"));
	net_drop_node(&S->net, n->id);
	out("%llu: crashed", (unsigned long long)n->id);
	return 0;
}

static int cmd_restart(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n || node_up(n))
		return fail("restart: which crashed node?");
	if (node_start(n, NULL) != KEEL_OK)
		return fail("restart: node %llu does not start", (unsigned long long)n->id);
	out("%llu: restarted term=%llu vote=%llu last=%llu snap=%llu", (unsigned long long)n->id,
	    (unsigned long long)raft_current_term(n->r), (unsigned long long)raft_voted_for(n->r),
	    (unsigned long long)raft_last_index(n->r),
	    (unsigned long long)(raft_snapshot_of(n->r) ? raft_snapshot_of(n->r)->index : 0));
	node_process(n);
	return 0;
}

/* Completes a node's pending syncs (with async=true); fail-sync fails the
 * next one instead. */
static int cmd_sync(struct args *a, bool failing)
{
	struct node *n = node_arg(a, 0);
	if (!n || !node_up(n))
		return fail("sync: which running node?");
	n->fsync_fail_pct = failing ? 100 : 0;
	node_advance(n, n->now + 1000000);
	n->fsync_fail_pct = 0;
	return 0;
}

static void status_of(struct node *n)
{
	if (!node_up(n)) {
		out("%llu: down", (unsigned long long)n->id);
		return;
	}
	struct raft *r = n->r;
	const struct raft_snapshot_meta *sn = raft_snapshot_of(r);
	out("%llu: %s term=%llu vote=%llu leader=%llu commit=%llu applied=%llu last=%llu "
	    "snap=%llu%s",
	    (unsigned long long)n->id, raft_role_name(r), (unsigned long long)raft_current_term(r),
	    (unsigned long long)raft_voted_for(r), (unsigned long long)raft_leader_of(r),
	    (unsigned long long)raft_commit_index(r), (unsigned long long)n->kv.applied,
	    (unsigned long long)raft_last_index(r), (unsigned long long)(sn ? sn->index : 0),
	    raft_stopped(r) ? " stopped" : "");
}

static int cmd_status(struct args *a)
{
	if (!node_arg(a, 0)) {
		for (raft_id id = 1; id < SC_NODES; id++)
			if (S->exists[id])
				status_of(&S->nodes[id]);
		return 0;
	}
	for (int i = 0; node_arg(a, i); i++)
		status_of(node_arg(a, i));
	return 0;
}

static int cmd_log(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n || !node_up(n))
		return fail("log: which running node?");
	char line[1024];
	int k = snprintf(line, sizeof line, "%llu: log", (unsigned long long)n->id);
	for (raft_index i = raft_first_index(n->r); i <= raft_last_index(n->r); i++) {
		const struct raft_entry *e = raft_entry_at(n->r, i);
		if (e && k < (int)sizeof line - 32)
			k += snprintf(line + k, sizeof line - (size_t)k, " %llu/%llu",
				      (unsigned long long)i, (unsigned long long)e->term);
	}
	out("%s", line);
	return 0;
}

/* progress ID: what the leader ID knows of each member (match, next). */
static int cmd_progress(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n || !node_up(n))
		return fail("progress: which running node?");
	const struct raft_config *c = raft_config_of(n->r);
	for (uint32_t k = 0; k < c->n; k++) {
		raft_index match, next;
		if (raft_progress_of(n->r, c->members[k].id, &match, &next))
			out("%llu: progress %llu match=%llu next=%llu", (unsigned long long)n->id,
			    (unsigned long long)c->members[k].id, (unsigned long long)match,
			    (unsigned long long)next);
		else
			out("%llu: progress %llu unknown", (unsigned long long)n->id,
			    (unsigned long long)c->members[k].id);
	}
	return 0;
}

static int cmd_kv(struct args *a)
{
	struct node *n = node_arg(a, 0);
	if (!n)
		return fail("kv: which node?");
	out("%llu: kv applied=%llu key0=%s%lld", (unsigned long long)n->id,
	    (unsigned long long)n->kv.applied, n->kv.present[0] ? "" : "nil ",
	    (long long)n->kv.value[0]);
	return 0;
}

static int cmd_deliver(struct args *a)
{
	return cmd_deliver_or_drop(a, true);
}
static int cmd_drop(struct args *a)
{
	return cmd_deliver_or_drop(a, false);
}
static int cmd_sync_ok(struct args *a)
{
	return cmd_sync(a, false);
}
static int cmd_sync_fail(struct args *a)
{
	return cmd_sync(a, true);
}

static const struct {
	const char *name;
	int (*fn)(struct args *a);
} cmd_table[] = {
	{"cluster", cmd_cluster},
	{"add-node", cmd_add_node},
	{"campaign", cmd_campaign},
	{"tick", cmd_tick},
	{"propose", cmd_propose},
	{"read", cmd_read},
	{"change", cmd_change},
	{"transfer", cmd_transfer},
	{"snapshot", cmd_snapshot},
	{"deliver", cmd_deliver},
	{"inject", cmd_inject},
	{"drop", cmd_drop},
	{"stabilize", cmd_stabilize},
	{"msgs", cmd_msgs},
	{"partition", cmd_partition},
	{"heal", cmd_heal},
	{"crash", cmd_crash},
	{"restart", cmd_restart},
	{"sync", cmd_sync_ok},
	{"fail-sync", cmd_sync_fail},
	{"status", cmd_status},
	{"log", cmd_log},
	{"kv", cmd_kv},
	{"progress", cmd_progress},
};

/* ---- scripts ----------------------------------------------------------------- */

static void scen_reset(void)
{
	for (raft_id id = 1; id < SC_NODES; id++)
		if (S->exists[id])
			node_free(&S->nodes[id]);
	net_free(&S->net);
	memset(S->exists, 0, sizeof S->exists);
	prng_seed(&S->prng, 1);
	struct net_faults f = {.delay_min = 0, .delay_max = 1};
	net_init(&S->net, &S->prng, &f);
	S->err[0] = '\0';
}

/* Runs one command line; its output is in S->out. */
static int run_command(char *line)
{
	S->out_len = 0;
	S->out[0] = '\0';
	struct args a = {0};
	char *save = NULL, *name = strtok_r(line, " \t", &save);
	for (char *t; (t = strtok_r(NULL, " \t", &save)) && a.n < ARGS_MAX; a.n++) {
		char *eq = strchr(t, '=');
		a.k[a.n] = eq ? t : NULL;
		a.v[a.n] = eq ? eq + 1 : t;
		if (eq)
			*eq = '\0';
	}
	for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++) {
		if (strcmp(name, cmd_table[i].name))
			continue;
		if (cmd_table[i].fn(&a) != 0)
			return -1;
		for (raft_id id = 1; id < SC_NODES; id++)
			if (S->exists[id] && node_up(&S->nodes[id]) &&
			    !raft_stopped(S->nodes[id].r))
				raft_check_invariants(S->nodes[id].r);
		return 0;
	}
	return fail("unknown command '%s'", name);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = keel_malloc(cap);
	size_t got;
	while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (cap - len < 2)
			buf = keel_realloc(buf, cap *= 2);
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

struct text {
	char *p;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = keel_realloc(t->p, t->cap);
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

/* Runs a script; true if every block's output matched. */
static bool run_script(const char *path, bool rewrite)
{
	char *src = read_file(path);
	if (!src) {
		printf("%s: cannot read\n", path);
		return false;
	}
	scen_reset();
	struct text re = {0};
	bool ok = true;
	int lineno = 0;
	char *p = src;
	while (*p && ok) {
		char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		lineno++;
		char *next = eol ? eol + 1 : p + n;
		if (n == 0 || p[0] == '#') {
			text_add(&re, p, n);
			text_add(&re, "\n", 1);
			p = next;
			continue;
		}
		char cmd[512];
		snprintf(cmd, sizeof cmd, "%.*s", (int)(n < 511 ? n : 511), p);
		text_add(&re, p, n);
		text_add(&re, "\n----\n", 6);
		int cmd_line = lineno;
		p = next;
		if (strncmp(p, "----\n", 5)) {
			printf("%s:%d: expected a line '----' after the command\n", path, cmd_line);
			ok = false;
			break;
		}
		p += 5;
		lineno++;
		/* The expected block runs to a blank line or the end. */
		char *end = p;
		while (*end && *end != '\n') {
			char *e2 = strchr(end, '\n');
			end = e2 ? e2 + 1 : end + strlen(end);
			lineno++;
		}
		size_t exp_len = (size_t)(end - p);
		char copy[512];
		snprintf(copy, sizeof copy, "%s", cmd);
		if (run_command(copy) != 0) {
			printf("%s:%d: %s: %s\n", path, cmd_line, cmd, S->err);
			ok = false;
			break;
		}
		text_add(&re, S->out, S->out_len);
		if (!rewrite && (exp_len != S->out_len || memcmp(p, S->out, exp_len))) {
			size_t i = 0;
			int l = 0;
			while (i < exp_len && i < S->out_len && p[i] == S->out[i])
				l += p[i++] == '\n';
			const char *x = p, *y = S->out;
			for (int k = 0; k < l; k++) {
				x = strchr(x, '\n') + 1;
				y = strchr(y, '\n') + 1;
			}
			printf("%s:%d: %s: output differs at its line %d\n  expected: %.*s\n  got: "
			       "     "
			       "%.*s\n",
			       path, cmd_line, cmd, l + 1, (int)strcspn(x, "\n"), x,
			       (int)strcspn(y, "\n"), y);
			ok = false;
		}
		p = end;
	}
	if (rewrite && ok) {
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(re.p, 1, re.len, f) != re.len)
			ok = false;
		if (f)
			fclose(f);
	}
	keel_free(re.p);
	keel_free(src);
	return ok;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	static struct scen scen;
	S = &scen;
	S->out = keel_malloc(SC_OUT_MAX);
	bool rewrite = false;
	char *files[512];
	int n = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rewrite")) {
			rewrite = true;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d) {
			if (n < 512)
				files[n++] = strdup(argv[i]);
			continue;
		}
		for (struct dirent *e; (e = readdir(d)) && n < 512;) {
			size_t l = strlen(e->d_name);
			if (l > 4 && !strcmp(e->d_name + l - 4, ".txt")) {
				char path[1024];
				snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
				files[n++] = strdup(path);
			}
		}
		closedir(d);
	}
	qsort(files, (size_t)n, sizeof *files, by_name);
	int passed = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		if (run_script(files[i], rewrite))
			passed++;
		else
			failed++;
		free(files[i]);
	}
	scen_reset();
	net_free(&S->net);
	keel_free(S->out);
	printf("scenario: %d passed, %d failed\n", passed, failed);
	return failed || n == 0 ? 1 : 0;
}
