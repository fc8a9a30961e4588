/* tests/nsim/nodes.c — the whole-node simulator's nodes and faults. A node
 * is keel-server's own struct server, started from the same command line
 * keel-server parses, on a host of the simulated world: its loop is the
 * host's, its disk the host's simfs, its storage group commit run by the
 * simulator after a simulated disk latency (server_embed), its snapshots
 * taken in-process. Faults: crashes at any moment (then a restart from
 * what the disk kept), partitions of one link or of a node from all,
 * pauses, connection resets, latency changes, slow disks. Then everything
 * heals, and the nodes must agree. A node's INFO is read here as an
 * operator reads it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "nsim/nsim.h"
#include "resp/buf.h"
#include "server/server.h"
#include "sim/simfs.h"

/* ---- disk: the group commit, run when the simulated disk gets to it ---- */

struct disk_ev {
	struct ns_node *n;
	uint32_t starts; /* the node's life it belongs to */
};

static void disk_step_in(void *arg)
{
	struct ns_node *n = arg;
	committer_step(n->s->com);
}

static void disk_step(void *arg)
{
	struct disk_ev *e = arg;
	struct ns_node *n = e->n;
	bool live = n->s && e->starts == n->starts;
	/* a node whose loop has closed is a process on its way out: its wake
	 * handle is closed, and what it queued is not run here (reaped, it is
	 * discarded, as a crash would) */
	if (!live || n->s->closed)
		return;
	/* a read replica shows only what it still has after a crash: it never
	 * applies past what is durable (docs/replicas.md), in any group */
	for (uint32_t gi = 0; gi < n->s->n_groups; gi++) {
		const struct replica_node *rn = n->s->groups[gi]->replica;
		if (rn && rn->applied > rn->durable)
			ns_fail(n->run,
				"replica %s applied up to %llu of group %u, past what is durable "
				"(%llu)",
				host_ip(n->h), (unsigned long long)rn->applied, gi,
				(unsigned long long)rn->durable);
	}
	n->disk_pending = false;
	host_enter(n->h, disk_step_in, n);
}

static void disk_queued(void *ctx, struct committer *c)
{
	struct ns_node *n = ctx;
	(void)c;
	if (n->disk_pending)
		return;
	n->disk_pending = true;
	struct ns_run *r = n->run;
	struct prng *g = world_rng(r->w);
	uint64_t lat = 50000 + prng_below(g, r->disk_max_ns) + n->disk_extra_ns;
	if (prng_below(g, 1000) < r->disk_slow_permille)
		lat += 50000000 + prng_below(g, 400000000); /* a slow sync */
	struct disk_ev *e = ns_alloc(r, sizeof *e);
	*e = (struct disk_ev){n, n->starts};
	world_at(r->w, world_now_ns(r->w) + lat, disk_step, e);
}

/* ---- start, crash ---- */

static void start_in(void *arg)
{
	struct ns_node *n = arg;
	struct ns_run *r = n->run;
	char id[24], bind[32], cluster[256] = "", snap[24];
	snprintf(id, sizeof id, "%llu", (unsigned long long)n->id);
	snprintf(bind, sizeof bind, "%s", host_ip(n->h));
	/* a node of several groups with an even id is given the founders in
	 * the reverse order: every node must rank the voters alike anyway
	 * (each group's preferred leader, server/group.c) */
	bool reverse = r->p.shards > 1 && n->id % 2 == 0;
	for (uint32_t k = 0; k < r->n_nodes; k++) {
		uint32_t i = reverse ? r->n_nodes - 1 - k : k;
		if (r->nodes[i].kind != NS_FOUNDER)
			continue;
		size_t len = strlen(cluster);
		snprintf(cluster + len, sizeof cluster - len, "%s%llu@%s:7379", len ? "," : "",
			 (unsigned long long)r->nodes[i].id, host_ip(r->nodes[i].h));
	}
	snprintf(snap, sizeof snap, "%u", r->p.snapshot_entries);
	/* a node added later starts with no --cluster: the leader reaches it */
	char *argv[] = {"keel-server",
			"--id",
			id,
			"--bind",
			bind,
			"--port",
			"6379",
			"--peer-port",
			"7379",
			"--dir",
			"/data",
			"--segment-mb",
			"2", /* preallocated a step (1 MiB) at a time */
			"--snapshot-entries",
			snap,
			"--cluster",
			cluster,
			NULL};
	int argc = (int)(sizeof argv / sizeof *argv) - 1 - (n->kind == NS_FOUNDER ? 0 : 2);
	char join[40];
	if (n->join) { /* it asks to be added itself (RAFT ADD-LEARNER ... AUTO) */
		snprintf(join, sizeof join, "%s:6379", host_ip(r->nodes[0].h));
		argv[argc] = "--join";
		argv[argc + 1] = join;
		argc += 2;
	}
	char sources[256] = "";
	if (n->kind == NS_REPLICA) { /* no --id, no peers: the founders' client ports */
		for (uint32_t i = 0; i < r->n_nodes; i++) {
			size_t len = strlen(sources);
			if (r->nodes[i].kind == NS_FOUNDER)
				snprintf(sources + len, sizeof sources - len, "%s%s:6379",
					 len ? "," : "", host_ip(r->nodes[i].h));
		}
		const struct ns_node *first = &r->nodes[r->n_nodes - r->p.replicas];
		bool cascaded = r->p.cascade && n == &r->nodes[r->n_nodes - 1] && n != first;
		if (cascaded) /* its stream uncompressed: both kinds run */
			snprintf(sources, sizeof sources, "%s:6379", host_ip(first->h));
		argv[1] = "--replica-of";
		argv[2] = sources;
		argv[7] = "--trailing-entries";
		argv[8] = "50";
		argc -= 2;
		argv[argc++] = "--snapshot-entries"; /* snapshots of its own */
		argv[argc++] = snap;
		if (cascaded) {
			argv[argc++] = "--replica-compress";
			argv[argc++] = "no";
		}
	}
	char *av[40] = {0}, trailing[24], lag[24];
	memcpy(av, argv, (size_t)argc * sizeof *argv);
	snprintf(trailing, sizeof trailing, "%u", r->p.trailing_entries);
	if (r->p.trailing_entries && n->kind != NS_REPLICA) {
		av[argc++] = "--trailing-entries";
		av[argc++] = trailing;
	}
	snprintf(lag, sizeof lag, "%u", r->p.replica_max_lag);
	if (r->p.replica_max_lag) {
		av[argc++] = "--replica-max-lag";
		av[argc++] = lag;
	}
	char query[24], session[24];
	snprintf(query, sizeof query, "%u", r->p.query_limit);
	if (r->p.query_limit) {
		av[argc++] = "--client-query-buffer-limit";
		av[argc++] = query;
	}
	snprintf(session, sizeof session, "%u", n->session_ms ? n->session_ms : r->p.session_ms);
	if (n->session_ms || r->p.session_ms) {
		av[argc++] = "--session-timeout-ms";
		av[argc++] = session;
	}
	char sess_mb[24];
	snprintf(sess_mb, sizeof sess_mb, "%u", r->p.session_max_mb);
	if (r->p.session_max_mb) {
		av[argc++] = "--session-max-mb";
		av[argc++] = sess_mb;
	}
	char dbs[24];
	snprintf(dbs, sizeof dbs, "%u", n->databases);
	if (n->databases) {
		av[argc++] = "--databases";
		av[argc++] = dbs;
	}
	char shards[24];
	snprintf(shards, sizeof shards, "%u", r->p.shards);
	if (r->p.shards) {
		av[argc++] = "--shards";
		av[argc++] = shards;
	}
	if (r->p.pieces) {
		av[argc++] = "--reshard-piece-kb";
		av[argc++] = "0";
	}
	struct server *s = keel_calloc(1, sizeof *s);
	struct keel_errmsg err = {{0}};
	if (server_config_parse(&s->cfg, argc, av, &err)) {
		ns_fail(r, "node %llu: its command line: %s", (unsigned long long)n->id, err.text);
		keel_free(s);
		return;
	}
	n->embed = (struct server_embed){.queued = disk_queued, .queued_ctx = n};
	s->embed = &n->embed;
	s->loop = host_loop(n->h);
	n->s = s;
	if (server_start(s, &err)) {
		/* a start that fails is a node that stays down: say why */
		ns_fail(r, "node %llu did not start: %s", (unsigned long long)n->id, err.text);
	}
}

void ns_node_start(struct ns_node *n)
{
	n->starts++;
	n->disk_pending = false;
	world_tracef(n->run->w, "node %llu: start", (unsigned long long)n->id);
	n->loop = host_up(n->h, start_in, n);
}

static void halt_in(void *arg)
{
	struct ns_node *n = arg;
	server_halt(n->s);
}

static void discard_in(void *arg)
{
	struct ns_node *n = arg;
	server_discard(n->s);
}

void ns_node_crash(struct ns_node *n)
{
	if (!n->s)
		return;
	world_tracef(n->run->w, "node %llu: crash", (unsigned long long)n->id);
	host_crash_free(n->h, halt_in, discard_in, n);
	keel_free(n->s);
	n->s = NULL;
	n->crashes++;
	n->run->n_crashes++;
}

/* A node whose server stopped by itself (fail-stop after a disk error, a
 * removal): its loop is empty. */
void ns_node_reap(struct ns_node *n)
{
	if (!n->s || !n->s->closed)
		return;
	world_tracef(n->run->w, "node %llu: stopped by itself", (unsigned long long)n->id);
	/* what a process exit does: the loop ran its last close callbacks */
	host_crash_free(n->h, halt_in, discard_in, n);
	keel_free(n->s);
	n->s = NULL;
}

/* ---- faults ---- */

struct fault_ev {
	struct ns_run *r;
	uint32_t kind, a, b;
};

enum { F_RESTART = 1, F_UNCUT, F_HEAL_ISOLATE, F_LATENCY, F_DISK_OK };

static void later(struct ns_run *r, uint64_t delay_ns, uint32_t kind, uint32_t a, uint32_t b);

/* The disk fails from now on: every fdatasync (EIO), every write (ENOSPC:
 * full) or every rename (EIO), at once or after a few more that succeed.
 * The node must stop at its first failure (fail-stop: a failed sync leaves
 * the page cache's state unknown) and never tell a client more than it
 * knows. */
static void disk_fail(struct ns_run *r, struct ns_node *n)
{
	static const struct {
		enum simfs_op op;
		int err;
		const char *what;
	} kinds[] = {{SIMFS_FDATASYNC, KEEL_EIO, "fdatasync fails"},
		     {SIMFS_WRITE, KEEL_ENOSPC, "is full"},
		     {SIMFS_RENAME, KEEL_EIO, "rename fails"}};
	struct prng *g = world_rng(r->w);
	uint32_t k = (uint32_t)prng_below(g, 3);
	uint32_t after = (uint32_t)prng_below(g, 20);
	world_tracef(r->w, "fault: node %llu's disk %s (after %u more)", (unsigned long long)n->id,
		     kinds[k].what, after);
	simfs_fail(host_disk(n->h), kinds[k].op, after, kinds[k].err, true);
	n->disk_failed = true;
}

static void disk_replace(struct ns_node *n)
{
	if (!n->disk_failed)
		return;
	if (n->s && n->s->closed)
		ns_node_reap(n);
	world_tracef(n->run->w, "node %llu: its disk works again%s", (unsigned long long)n->id,
		     n->s ? "" : " (it stopped)");
	simfs_fail_clear(host_disk(n->h));
	n->disk_failed = false;
	n->disk_late = n->s != NULL && n->run->healing;
}

static void fault_fire(void *arg)
{
	struct fault_ev *f = arg;
	struct ns_run *r = f->r;
	struct ns_node *na = &r->nodes[f->a], *nb = &r->nodes[f->b];
	switch (f->kind) {
	case F_RESTART:
		if (!na->s && ns_node_live(na) && !na->disk_failed)
			ns_node_start(na);
		break;
	case F_DISK_OK:
		disk_replace(na);
		if (!na->s && ns_node_live(na))
			ns_node_start(na);
		break;
	case F_UNCUT:
		world_cut(r->w, na->h, nb->h, false);
		break;
	case F_HEAL_ISOLATE:
		for (uint32_t i = 0; i < r->n_nodes; i++)
			if (i != f->a)
				world_cut(r->w, na->h, r->nodes[i].h, false);
		break;
	case F_LATENCY:
		world_set_latency(r->w, 100000, 2000000);
		break;
	}
}

static void later(struct ns_run *r, uint64_t delay_ns, uint32_t kind, uint32_t a, uint32_t b)
{
	struct fault_ev *f = ns_alloc(r, sizeof *f);
	*f = (struct fault_ev){r, kind, a, b};
	world_at(r->w, world_now_ns(r->w) + delay_ns, fault_fire, f);
}

bool ns_node_active(const struct ns_node *n)
{
	return n->kind == NS_FOUNDER || n->kind == NS_ADDED;
}

bool ns_node_live(const struct ns_node *n)
{
	return ns_node_active(n) || n->kind == NS_REPLICA;
}

static void one_fault(void *arg)
{
	struct ns_run *r = arg;
	if (r->healing)
		return;
	struct prng *g = world_rng(r->w);
	uint32_t act[NS_NODES_MAX], n_act = 0;
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (ns_node_live(&r->nodes[i]))
			act[n_act++] = i;
	uint32_t ia = (uint32_t)prng_below(g, n_act);
	uint32_t a = act[ia];
	uint32_t b = act[(ia + 1 + (uint32_t)prng_below(g, n_act - 1)) % n_act];
	uint64_t dur = 200000000 + prng_below(g, 3000000000ull);
	struct ns_node *na = &r->nodes[a];
	uint32_t kind = (uint32_t)prng_below(g, 100);
	r->n_faults++;
	/* a sharded seed changes its members only if it has a spare (main.c) */
	if (kind >= 92 && (r->p.shards < 2 || r->p.spares) && ns_membership_fault(r)) {
		/* a membership change or a transfer (members.c) */
	} else if (kind < 28) {
		ns_node_crash(na);
		later(r, dur, F_RESTART, a, a);
	} else if (kind < 46) {
		world_tracef(r->w, "fault: isolate node %llu", (unsigned long long)na->id);
		for (uint32_t i = 0; i < r->n_nodes; i++)
			if (i != a)
				world_cut(r->w, na->h, r->nodes[i].h, true);
		later(r, dur, F_HEAL_ISOLATE, a, a);
	} else if (kind < 60) {
		world_tracef(r->w, "fault: cut %llu-%llu", (unsigned long long)na->id,
			     (unsigned long long)r->nodes[b].id);
		world_cut(r->w, na->h, r->nodes[b].h, true);
		later(r, dur, F_UNCUT, a, b);
	} else if (kind < 74) {
		if (host_is_up(na->h)) {
			world_tracef(r->w, "fault: pause node %llu", (unsigned long long)na->id);
			host_pause_until(na->h, world_now_ns(r->w) + dur / 2);
		}
	} else if (kind < 84) {
		world_tracef(r->w, "fault: reset %llu-%llu", (unsigned long long)na->id,
			     (unsigned long long)r->nodes[b].id);
		world_reset(r->w, na->h, r->nodes[b].h);
	} else if (kind < 88) {
		if (!na->disk_failed) {
			disk_fail(r, na);
			later(r, dur, F_DISK_OK, a, a);
		}
	} else {
		world_tracef(r->w, "fault: slow network");
		world_set_latency(r->w, 1000000, 60000000);
		later(r, dur, F_LATENCY, a, a);
	}
	uint64_t next = (uint64_t)r->p.fault_every_ms * 1000000 / 2 +
			prng_below(g, (uint64_t)r->p.fault_every_ms * 1000000);
	world_at(r->w, world_now_ns(r->w) + next, one_fault, r);
}

/* Whether a group of s met a storage failure (the node stops for it). */
static bool met_storage_failure(const struct server *s)
{
	for (uint32_t i = 0; i < s->n_groups; i++)
		if (s->groups[i]->storage_failed)
			return true;
	return false;
}

static void reap_tick(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct ns_node *n = &r->nodes[i];
		bool disk_stop = n->s && n->s->closed && n->disk_late && met_storage_failure(n->s);
		ns_node_reap(n);
		if (disk_stop && ns_node_live(n)) {
			world_tracef(r->w,
				     "node %llu: stopped by a disk failure met before healing; "
				     "started again",
				     (unsigned long long)n->id);
			n->disk_late = false;
			ns_node_start(n);
		}
	}
	if (world_now_ns(r->w) < r->p.run_ns + r->p.settle_ns)
		world_at(r->w, world_now_ns(r->w) + 100000000, reap_tick, r);
}

void ns_faults_schedule(struct ns_run *r)
{
	if (r->p.fault_every_ms)
		world_at(r->w, (uint64_t)r->p.fault_every_ms * 1000000, one_fault, r);
	world_at(r->w, 100000000, reap_tick, r);
	if (r->p.shards > 1 && !r->scripted)
		ns_reshard_schedule(r);
	for (uint32_t i = 0; i < r->p.spares && !r->scripted; i++)
		world_at(r->w, 500000000 + prng_below(world_rng(r->w), r->p.run_ns / 2),
			 ns_membership_add, r);
}

void ns_isolate(struct ns_run *r, uint32_t a, bool cut)
{
	world_tracef(r->w, "scenario: %s node %u", cut ? "isolate" : "rejoin", a + 1);
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (i != a)
			world_cut(r->w, r->nodes[a].h, r->nodes[i].h, cut);
}

void ns_heal_all(struct ns_run *r)
{
	r->healing = true;
	world_tracef(r->w, "heal: every node up, every link whole");
	world_set_latency(r->w, 100000, 2000000);
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		for (uint32_t k = i + 1; k < r->n_nodes; k++)
			world_cut(r->w, r->nodes[i].h, r->nodes[k].h, false);
		disk_replace(&r->nodes[i]);
		if (!r->nodes[i].s && ns_node_live(&r->nodes[i]))
			ns_node_start(&r->nodes[i]);
	}
}

/* ---- agreement once healed ---- */

struct get_ctx {
	struct ns_node *n;
	const char *key;
	struct rbuf *out;
};

static void get_in(void *arg)
{
	struct get_ctx *g = arg;
	struct resp_arg argv[2] = {{(const uint8_t *)"GET", 3},
				   {(const uint8_t *)g->key, strlen(g->key)}};
	struct server *s = g->n->s; /* the key's group's keyspace */
	struct group *grp = cluster_slot_group(s, kv_slot((const uint8_t *)g->key, strlen(g->key)));
	struct kv_ctx k = {.kv = &grp->kv,
			   .argv = argv,
			   .argc = 2,
			   .out = g->out,
			   .proto = 2,
			   .now_ms = server_now_ms(),
			   .db = 0,
			   .dbs = g->n->s->cfg.databases};
	kv_exec(&k);
}

/* The member whose configuration counts: the running one with the highest
 * commit index (a configuration entry that only some node's log holds, a
 * leader's that never committed, does not). */
static struct ns_node *reference(struct ns_run *r)
{
	struct ns_node *best = NULL;
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct ns_node *n = &r->nodes[i];
		if (n->s && n->s->g->r && n->kind != NS_REPLICA &&
		    (!best || raft_commit_index(n->s->g->r) > raft_commit_index(best->s->g->r)))
			best = n;
	}
	return best;
}

static struct ns_node *node_by_id(struct ns_run *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].id == id)
			return &r->nodes[i];
	return NULL;
}

static void key_of(uint32_t k, char *key, size_t cap)
{
	if (k < NS_KEYS)
		snprintf(key, cap, "k%u", k);
	else if (k < 2 * NS_KEYS)
		snprintf(key, cap, "c%u", k - NS_KEYS);
	else
		snprintf(key, cap, "p%u", k - 2 * NS_KEYS);
}

/* What a node's core says of itself, for a violation's message. */
static void describe(const struct ns_node *n, char *out, size_t cap)
{
	const struct raft *c = n->s->g->r;
	const struct raft_snapshot_meta *sm = raft_snapshot_of(c);
	snprintf(out, cap,
		 "node %llu: %s term %llu leader %llu, log to %llu, commit %llu, applied %llu, "
		 "snapshot %llu, configuration at %llu",
		 (unsigned long long)n->id,
		 raft_role_of(c) == RAFT_LEADER	    ? "leader"
		 : raft_role_of(c) == RAFT_FOLLOWER ? "follower"
						    : "candidate",
		 (unsigned long long)raft_current_term(c), (unsigned long long)raft_leader_of(c),
		 (unsigned long long)raft_last_index(c), (unsigned long long)raft_commit_index(c),
		 (unsigned long long)raft_applied_index(c),
		 (unsigned long long)(sm ? sm->index : 0),
		 (unsigned long long)raft_config_index_of(c));
}

/* Once quiet, every member (and read replica) has a snapshot of its own
 * within --snapshot-entries of what it applied: snapshots are taken as the
 * log grows, adopted, and the same one kept to send (server/snapshots.c). */
static bool snapshot_ok(struct ns_run *r, const struct ns_node *n, uint64_t applied,
			uint64_t snap_index)
{
	const struct server *s = n->s;
	const char *what = s->g->replica ? "replica" : "member";
	if (snapshots_busy(s->g))
		return true; /* one in progress: it ends the gap */
	if (applied - snap_index >= r->p.snapshot_entries) {
		ns_fail(r,
			"once quiet, %s %s applied %llu entries since its latest snapshot (at "
			"%llu): one is due every %u",
			what, host_ip(n->h), (unsigned long long)(applied - snap_index),
			(unsigned long long)snap_index, r->p.snapshot_entries);
		return false;
	}
	/* a member sends its followers the bytes it holds (a replica's source
	 * reads its file) */
	bool bytes = !s->g->r || (s->g->snap_bytes.p && s->g->snap_bytes.len == s->g->snap.size);
	if (snap_index && (!s->g->have_snap || s->g->snap.index != snap_index || !bytes)) {
		ns_fail(r, "%s %s: its snapshot at %llu is not the one it holds to send (%llu)",
			what, host_ip(n->h), (unsigned long long)snap_index,
			(unsigned long long)(s->g->have_snap ? s->g->snap.index : 0));
		return false;
	}
	return true;
}

static bool check_snapshots(struct ns_run *r, struct ns_node **m, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct raft_snapshot_meta *sm = raft_snapshot_of(m[i]->s->g->r);
		if (!snapshot_ok(r, m[i], raft_applied_index(m[i]->s->g->r), sm ? sm->index : 0))
			return false;
	}
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		const struct ns_node *x = &r->nodes[i];
		if (x->kind == NS_REPLICA && x->s && x->s->g->replica &&
		    !snapshot_ok(r, x, x->s->g->replica->applied,
				 x->s->g->have_snap ? x->s->g->snap.index : 0))
			return false;
		if (x->kind != NS_REPLICA || !x->s || !x->s->g->have_snap)
			continue;
		/* its snapshot carries the term of the entry at its index, as
		 * every member that still knows that term has it */
		for (uint32_t k = 0; k < n; k++) {
			raft_term t = raft_term_at(m[k]->s->g->r, x->s->g->snap.index);
			if (t && t != x->s->g->snap.term) {
				ns_fail(r,
					"replica %s: its snapshot at %llu has term %llu; member "
					"%llu has term %llu there",
					host_ip(x->h), (unsigned long long)x->s->g->snap.index,
					(unsigned long long)x->s->g->snap.term,
					(unsigned long long)m[k]->id, (unsigned long long)t);
				return false;
			}
		}
	}
	return true;
}

/* A read replica applied what the members applied, in every group (a
 * shard placed on some nodes: what the first of m it is placed on did). */
static bool replica_caught_up(struct ns_run *r, struct ns_node *x, struct ns_node *const *ms,
			      uint32_t n)
{
	if (x->s->n_groups != ms[0]->s->n_groups) {
		ns_fail(r, "replica %s holds %u groups, the members %u", host_ip(x->h),
			x->s->n_groups, ms[0]->s->n_groups);
		return false;
	}
	for (uint32_t gi = 0; gi < x->s->n_groups; gi++) {
		uint32_t id = x->s->groups[gi]->id;
		struct group *mg = NULL;
		struct ns_node *m = NULL;
		for (uint32_t k = 0; k < n && (!mg || mg->outside); k++) {
			m = ms[k];
			if (!(mg = groups_find(m->s, id))) {
				ns_fail(r, "after healing, member %llu does not hold group %u",
					(unsigned long long)m->id, id);
				return false;
			}
		}
		uint64_t got = x->s->groups[gi]->replica->applied;
		if (got == raft_applied_index(mg->r))
			continue;
		char a[256];
		describe(m, a, sizeof a);
		ns_fail(r, "after healing, replica %s applied up to %llu of group %u; %s",
			host_ip(x->h), (unsigned long long)got, id, a);
		return false;
	}
	return true;
}

/* Every member of the configuration (voters and learners) is running,
 * applied the same entries, and holds the same values; so does each read
 * replica, in every group. */
void ns_check_agreement(struct ns_run *r)
{
	struct ns_node *ref = reference(r);
	if (!ref) {
		ns_fail(r, "no node is running once every fault healed");
		return;
	}
	const struct raft_config *cfg = raft_config_of(ref->s->g->r);
	struct ns_node *m[NS_NODES_MAX];
	uint32_t n = 0;
	for (uint32_t i = 0; i < cfg->n; i++) {
		struct ns_node *x = node_by_id(r, cfg->members[i].id);
		if (!x || !x->s || !x->s->g->r) {
			ns_fail(r, "member %llu is not running once every fault healed",
				(unsigned long long)cfg->members[i].id);
			return;
		}
		m[n++] = x;
	}
	for (uint32_t i = 0; i < n; i++) /* INFO stats keel_skipped_entries */
		if (m[i]->s->stats.skipped_entries) {
			ns_fail(r, "node %llu skipped %llu log entries that did not decode",
				(unsigned long long)m[i]->id,
				(unsigned long long)m[i]->s->stats.skipped_entries);
			return;
		}
	for (uint32_t gi = 1; gi < ref->s->n_groups; gi++) { /* every group past the first */
		uint32_t id = ref->s->groups[gi]->id;	     /* a member's may sit elsewhere */
		struct ns_node *one = NULL; /* of those it is placed on (every node, or some) */
		struct group *og = NULL;    /* its group */
		for (uint32_t i = 0; i < n; i++) {
			struct group *g = groups_find(m[i]->s, id);
			if (!g) {
				ns_fail(r, "after healing, member %llu does not hold group %u",
					(unsigned long long)m[i]->id, id);
				return;
			}
			if (g->outside) { /* a copy kept by a node taken off it: as it was */
				if (raft_config_of(g->r)->n == 0 &&
				    (raft_last_index(g->r) || kv_keys_total(&g->kv))) {
					ns_fail(r,
						"node %llu holds entries or keys of group %u, "
						"which is placed on other nodes",
						(unsigned long long)m[i]->id, id);
					return;
				}
				continue;
			}
			if (!one) {
				one = m[i];
				og = g;
				continue;
			}
			if (raft_applied_index(g->r) != raft_applied_index(og->r)) {
				ns_fail(r,
					"after healing, members %llu and %llu applied different "
					"entries of group %u: %llu and %llu",
					(unsigned long long)one->id, (unsigned long long)m[i]->id,
					id, (unsigned long long)raft_applied_index(og->r),
					(unsigned long long)raft_applied_index(g->r));
				return;
			}
		}
	}
	for (uint32_t i = 1; i < n; i++)
		if (raft_applied_index(m[i]->s->g->r) != raft_applied_index(m[0]->s->g->r)) {
			char a[256], b[256], l[160] = "no leader";
			describe(m[0], a, sizeof a);
			describe(m[i], b, sizeof b);
			for (uint32_t k = 0; k < n; k++) {
				raft_index match, next;
				if (raft_role_of(m[k]->s->g->r) == RAFT_LEADER &&
				    raft_progress_of(m[k]->s->g->r, m[i]->id, &match, &next))
					snprintf(l, sizeof l,
						 "leader %llu has match %llu next %llu for %llu",
						 (unsigned long long)m[k]->id,
						 (unsigned long long)match,
						 (unsigned long long)next,
						 (unsigned long long)m[i]->id);
			}
			ns_fail(r, "after healing, members applied different entries: %s; %s; %s",
				a, b, l);
			return;
		}
	if (!check_snapshots(r, m, n) || !ns_check_slots(r, m, n))
		return;
	for (uint32_t i = 0; i < r->n_nodes; i++) { /* the read replicas caught up */
		struct ns_node *x = &r->nodes[i];
		if (x->kind != NS_REPLICA)
			continue;
		if (!x->s || !x->s->g->replica) {
			ns_fail(r, "replica %s is not running once every fault healed",
				host_ip(x->h));
			return;
		}
		if (!replica_caught_up(r, x, m, n))
			return;
		m[n++] = x;
	}
	char key[16];
	for (uint32_t k = 0; k < 2 * NS_KEYS + r->p.clients; k++) {
		key_of(k, key, sizeof key);
		struct rbuf first;
		rbuf_init(&first);
		uint64_t first_id = 0;
		for (uint32_t i = 0; i < n; i++) {
			struct rbuf out;
			uint16_t slot = kv_slot((const uint8_t *)key, strlen(key));
			if (m[i]->kind != NS_REPLICA && cluster_slot_group(m[i]->s, slot)->outside)
				continue; /* its shard is placed on other nodes */
			rbuf_init(&out);
			struct get_ctx g = {m[i], key, &out};
			host_enter(m[i]->h, get_in, &g);
			if (!first_id) {
				rbuf_put(&first, out.p, out.len);
				first_id = m[i]->id;
			} else if (out.len != first.len || memcmp(out.p, first.p, out.len)) {
				ns_fail(r, "after healing, nodes %llu and %llu disagree on %s",
					(unsigned long long)first_id, (unsigned long long)m[i]->id,
					key);
			}
			rbuf_free(&out);
		}
		rbuf_free(&first);
	}
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

bool ns_info(struct ns_node *n, const char *section, struct rbuf *out)
{
	if (!n->s)
		return false;
	struct info_ctx c = {n->s, section, out};
	host_enter(n->h, info_in, &c);
	return true;
}

bool ns_info_says(struct ns_node *n, const char *section, const char *line)
{
	struct rbuf out;
	rbuf_init(&out);
	char want[96];
	snprintf(want, sizeof want, "\n%s\r\n", line);
	bool found = ns_info(n, section, &out) && out.len &&
		     memmem(out.p, out.len, want, strlen(want)) != NULL;
	rbuf_free(&out);
	return found;
}
