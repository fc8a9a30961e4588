/* tests/nsim/nodes.c — the whole-node simulator's nodes and faults. A node
 * is keel-server's own struct server, started from the same command line
 * keel-server parses, on a host of the simulated world: its loop is the
 * host's, its disk the host's simfs, its storage group commit run by the
 * simulator after a simulated disk latency (server_embed), its snapshots
 * taken in-process. Faults: crashes at any moment (then a restart from
 * what the disk kept), partitions of one link or of a node from all,
 * pauses, connection resets, latency changes, slow disks. Then everything
 * heals, and the nodes must agree. */
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
	if (!live)
		return;
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
	uint64_t lat = 50000 + prng_below(g, r->disk_max_ns);
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
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		size_t len = strlen(cluster);
		snprintf(cluster + len, sizeof cluster - len, "%s%llu@%s:7379", i ? "," : "",
			 (unsigned long long)r->nodes[i].id, host_ip(r->nodes[i].h));
	}
	snprintf(snap, sizeof snap, "%u", r->p.snapshot_entries);
	char *argv[] = {"keel-server", "--id",	 id,   "--bind",	   bind,    "--port",
			"6379",	       "--peer-port", "7379", "--dir",	   "/data", "--cluster",
			cluster,       "--snapshot-entries", snap, "--segment-mb", "1", NULL};
	int argc = (int)(sizeof argv / sizeof *argv) - 1;
	struct server *s = keel_calloc(1, sizeof *s);
	struct keel_errmsg err = {{0}};
	if (server_config_parse(&s->cfg, argc, argv, &err)) {
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

enum { F_RESTART = 1, F_UNCUT, F_HEAL_ISOLATE, F_LATENCY };

static void later(struct ns_run *r, uint64_t delay_ns, uint32_t kind, uint32_t a, uint32_t b);

static void fault_fire(void *arg)
{
	struct fault_ev *f = arg;
	struct ns_run *r = f->r;
	struct ns_node *na = &r->nodes[f->a], *nb = &r->nodes[f->b];
	switch (f->kind) {
	case F_RESTART:
		if (!na->s)
			ns_node_start(na);
		break;
	case F_UNCUT:
		world_cut(r->w, na->h, nb->h, false);
		break;
	case F_HEAL_ISOLATE:
		for (uint32_t i = 0; i < r->p.nodes; i++)
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

static void one_fault(void *arg)
{
	struct ns_run *r = arg;
	if (r->healing)
		return;
	struct prng *g = world_rng(r->w);
	uint32_t a = (uint32_t)prng_below(g, r->p.nodes);
	uint32_t b = (a + 1 + (uint32_t)prng_below(g, r->p.nodes - 1)) % r->p.nodes;
	uint64_t dur = 200000000 + prng_below(g, 3000000000ull);
	struct ns_node *na = &r->nodes[a];
	uint32_t kind = (uint32_t)prng_below(g, 100);
	r->n_faults++;
	if (kind < 30) {
		ns_node_crash(na);
		later(r, dur, F_RESTART, a, a);
	} else if (kind < 50) {
		world_tracef(r->w, "fault: isolate node %llu", (unsigned long long)na->id);
		for (uint32_t i = 0; i < r->p.nodes; i++)
			if (i != a)
				world_cut(r->w, na->h, r->nodes[i].h, true);
		later(r, dur, F_HEAL_ISOLATE, a, a);
	} else if (kind < 65) {
		world_tracef(r->w, "fault: cut %llu-%llu", (unsigned long long)na->id,
			     (unsigned long long)r->nodes[b].id);
		world_cut(r->w, na->h, r->nodes[b].h, true);
		later(r, dur, F_UNCUT, a, b);
	} else if (kind < 80) {
		if (host_is_up(na->h)) {
			world_tracef(r->w, "fault: pause node %llu", (unsigned long long)na->id);
			host_pause_until(na->h, world_now_ns(r->w) + dur / 2);
		}
	} else if (kind < 90) {
		world_tracef(r->w, "fault: reset %llu-%llu", (unsigned long long)na->id,
			     (unsigned long long)r->nodes[b].id);
		world_reset(r->w, na->h, r->nodes[b].h);
	} else {
		world_tracef(r->w, "fault: slow network");
		world_set_latency(r->w, 1000000, 60000000);
		later(r, dur, F_LATENCY, a, a);
	}
	uint64_t next = (uint64_t)r->p.fault_every_ms * 1000000 / 2 +
			prng_below(g, (uint64_t)r->p.fault_every_ms * 1000000);
	world_at(r->w, world_now_ns(r->w) + next, one_fault, r);
}

static void reap_tick(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		ns_node_reap(&r->nodes[i]);
	if (world_now_ns(r->w) < r->p.run_ns + r->p.settle_ns)
		world_at(r->w, world_now_ns(r->w) + 100000000, reap_tick, r);
}

void ns_faults_schedule(struct ns_run *r)
{
	if (r->p.fault_every_ms)
		world_at(r->w, (uint64_t)r->p.fault_every_ms * 1000000, one_fault, r);
	world_at(r->w, 100000000, reap_tick, r);
}

void ns_heal_all(struct ns_run *r)
{
	r->healing = true;
	world_tracef(r->w, "heal: every node up, every link whole");
	world_set_latency(r->w, 100000, 2000000);
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		for (uint32_t k = i + 1; k < r->p.nodes; k++)
			world_cut(r->w, r->nodes[i].h, r->nodes[k].h, false);
		if (!r->nodes[i].s)
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
	struct kv_ctx k = {.kv = &g->n->s->kv,
			   .argv = argv,
			   .argc = 2,
			   .out = g->out,
			   .proto = 2,
			   .now_ms = server_now_ms(),
			   .db = 0,
			   .dbs = g->n->s->cfg.databases};
	kv_exec(&k);
}

/* Every node applied the same entries, and holds the same values. */
void ns_check_agreement(struct ns_run *r)
{
	raft_index applied[NS_NODES_MAX] = {0};
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		struct ns_node *n = &r->nodes[i];
		if (!n->s || !n->s->r) {
			ns_fail(r, "node %llu is not running once every fault healed",
				(unsigned long long)n->id);
			return;
		}
		applied[i] = raft_applied_index(n->s->r);
		if (i && applied[i] != applied[0]) {
			ns_fail(r,
				"after healing, node %llu applied up to %llu and node %llu up to "
				"%llu",
				(unsigned long long)r->nodes[0].id, (unsigned long long)applied[0],
				(unsigned long long)n->id, (unsigned long long)applied[i]);
			return;
		}
	}
	char key[16];
	for (uint32_t k = 0; k < 2 * NS_KEYS + r->p.clients; k++) {
		if (k < NS_KEYS)
			snprintf(key, sizeof key, "k%u", k);
		else if (k < 2 * NS_KEYS)
			snprintf(key, sizeof key, "c%u", k - NS_KEYS);
		else
			snprintf(key, sizeof key, "p%u", k - 2 * NS_KEYS);
		struct rbuf first;
		rbuf_init(&first);
		for (uint32_t i = 0; i < r->p.nodes; i++) {
			struct rbuf out;
			rbuf_init(&out);
			struct get_ctx g = {&r->nodes[i], key, &out};
			host_enter(r->nodes[i].h, get_in, &g);
			if (!i)
				rbuf_put(&first, out.p, out.len);
			else if (out.len != first.len || memcmp(out.p, first.p, out.len))
				ns_fail(r, "after healing, nodes %llu and %llu disagree on %s",
					(unsigned long long)r->nodes[0].id,
					(unsigned long long)r->nodes[i].id, key);
			rbuf_free(&out);
		}
		rbuf_free(&first);
	}
}
