/* tests/nsim/scen_requests.c — scripted whole-node runs of the request
 * path's windows: a write that waits for a leader that never comes, a
 * node of no cluster yet that refuses at once, a write whose leader loses its entry, RAFT commands
 * sent to a follower, a cluster-aware connection on a follower, a follower whose disk fails while
 * its client writes, a leader that hands over or is told of its removal mid-pass, peers that
 * forward what no follower would, a node restarted behind a leader outside its configuration, a
 * --join node stopped between tries. Each sets up the window with its own faults and a probe
 * (probe.c) whose replies must be what the rules promise (SPEC.md §4, docs/architecture.md "One
 * connection, one order"); the workload's clients run beside it, under every check of a seed. */
#include <stdio.h>
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "net/frame.h"
#include "kv/kv.h"
#include "nsim/nsim.h"
#include "server/entry.h"
#include "sim/simfs.h"

#define MS 1000000ull

static struct ns_probe *probe;

static int32_t leader_no(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].s && r->nodes[i].s->g->r &&
		    raft_role_of(r->nodes[i].s->g->r) == RAFT_LEADER)
			return (int32_t)i;
	return -1;
}

/* A founder that is not the leader (the leader's index otherwise). */
static uint32_t follower_no(struct ns_run *r, uint32_t leader)
{
	return (leader + 1) % r->p.nodes;
}

static struct ns_probe *last_probe; /* the one probe_done closed */

static void probe_done(void *arg)
{
	(void)arg;
	if (probe)
		ns_probe_done(probe);
	last_probe = probe;
	probe = NULL;
}

/* ---- no leader in time: -CLUSTERDOWN, never sent anywhere ---- */

static void no_leader_crash(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	uint32_t keep = follower_no(r, (uint32_t)l);
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (i != keep)
			ns_node_crash(&r->nodes[i]);
	probe = ns_probe_open(r, "lone", keep);
}

/* 3 nodes, two of them down: a write to the third waits for a leader up
 * to the request timeout, and is told it was not applied (-CLUSTERDOWN),
 * since it never went to a leader; a read likewise gets an error, not a
 * value. */
static void lone_write_after_leader_went(void *arg)
{
	(void)arg;
	ns_probe_send(probe, "-CLUSTERDOWN", "SET lone v2");
	ns_probe_send(probe, "-", "GET lone");
	/* answered after them, with no leader known: the node lists itself
	 * (first) and the others, each a master of no slot */
	ns_probe_send(probe, "~myself,master - 0 0 ", "CLUSTER NODES");
}

static void no_leader_restart(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (!r->nodes[i].s)
			ns_node_start(&r->nodes[i]);
}

void ns_scen_write_without_leader(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, no_leader_crash, r);
	world_at(r->w, 1300 * MS, lone_write_after_leader_went, r);
	world_at(r->w, 7000 * MS, probe_done, r);
	world_at(r->w, 7100 * MS, no_leader_restart, r);
}

/* ---- a node of no cluster yet: -CLUSTERDOWN at once ---- */

static void stranger_start(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[3];
	n->kind = NS_ADDED; /* started empty, not added yet */
	ns_node_start(n);
}

/* Node 4, started with neither --cluster nor --join, knows no member: a
 * write and a read there are refused at once (not after the request
 * timeout), as not applied. */
static void stranger_asked(void *arg)
{
	(void)arg;
	ns_probe_send(probe, "-CLUSTERDOWN this node is not a member of a cluster yet",
		      "SET st v1");
	ns_probe_send(probe, "-CLUSTERDOWN this node is not a member", "GET st");
}

static void stranger_answered(void *arg)
{
	struct ns_run *r = arg;
	if (!ns_probe_reply(probe, 1))
		ns_fail(r, "scenario: node 4, of no cluster, did not answer within 50 ms");
}

static void stranger_add(void *arg)
{
	struct ns_run *r = arg;
	static const char *const add[] = {"RAFT", "ADD-LEARNER", "4", "127.0.0.4:7379", "AUTO"};
	ns_admin_expect(r, 0, 5, add, "+OK");
}

/* Added, it serves them; the write refused was not applied. */
static void stranger_added(void *arg)
{
	(void)arg;
	ns_probe_send(probe, "$-1", "GET st");
	ns_probe_send(probe, "+OK", "SET st v2");
	ns_probe_send(probe, "$2 v2", "GET st");
}

static void stranger_open(void *arg)
{
	probe = ns_probe_open(arg, "stranger", 3);
}

void ns_scen_node_of_no_cluster(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.shards = 2;
	world_at(r->w, 1000 * MS, stranger_start, r);
	world_at(r->w, 1100 * MS, stranger_open, r);
	world_at(r->w, 1200 * MS, stranger_asked, r);
	world_at(r->w, 1250 * MS, stranger_answered, r);
	world_at(r->w, 1500 * MS, stranger_add, r);
	world_at(r->w, 6000 * MS, stranger_added, r);
	world_at(r->w, 7000 * MS, probe_done, r);
}

/* ---- the leader loses the write's entry: -TRYAGAIN, not applied ---- */

static uint32_t deposed;

static void deposed_write(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	deposed = (uint32_t)l;
	probe = ns_probe_open(r, "deposed", deposed);
	ns_probe_send(probe, "+OK", "SET dep v1");
	ns_probe_send(probe, "$2 v1", "GET dep");
}

static void deposed_isolate(void *arg)
{
	struct ns_run *r = arg;
	ns_isolate(r, deposed, true);
	/* proposed once, by a leader cut off from every follower: never
	 * committed, and its entry is replaced once the new leader's log
	 * reaches it */
	ns_probe_send(probe, "-TRYAGAIN leadership changed", "SET dep v2");
	ns_probe_send(probe, "$2 v1", "GET dep");
}

static void deposed_rejoin(void *arg)
{
	ns_isolate(arg, deposed, false);
}

void ns_scen_write_on_deposed_leader(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, deposed_write, r);
	world_at(r->w, 1500 * MS, deposed_isolate, r);
	world_at(r->w, 4000 * MS, deposed_rejoin, r);
	world_at(r->w, 9000 * MS, probe_done, r);
}

/* ---- RAFT commands sent to a follower: the leader answers ---- */

static void admin_via_follower(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	uint32_t f = follower_no(r, (uint32_t)l), g = follower_no(r, f);
	probe = ns_probe_open(r, "admin", f);
	/* a verb the leader does not know: its usage, not a malformed frame */
	ns_probe_send(probe, "-ERR RAFT STATUS [LEADER] | SNAPSHOT", "RAFT PROMOTE");
	ns_probe_send(probe, "-ERR RAFT STATUS [LEADER] | SNAPSHOT", "RAFT BOGUS"); /* sent on */
	ns_probe_send(probe, "$", "RAFT STATUS LEADER");
	ns_probe_send(probe, "+OK", "RAFT TRANSFER %llu", (unsigned long long)r->nodes[g].id);
}

void ns_scen_admin_through_follower(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, admin_via_follower, r);
	world_at(r->w, 3000 * MS, probe_done, r);
}

/* ---- a write in a database a follower's keyspace does not hold yet ---- */

/* Node 3 has 16 databases (the default), nodes 1 and 2 have 32: writes
 * in databases 16 and 20 through a leader of 32, pipelined into one
 * entry, reach node 3 as the first entry it applies, in databases its
 * keyspace holds only once the entry runs (the entry carries the
 * leader's count: kv_reserve_dbs). Node 3 fetches the keys ahead before
 * they run (group.c's prefetch) and must not look for them in databases
 * it does not hold yet; then it holds both keys. */
static void db20_write(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0 || l == 2) {
		ns_fail(r, "scenario: node 1 or 2 does not lead at 2 s");
		return;
	}
	probe = ns_probe_open(r, "db20", (uint32_t)l);
	ns_probe_send(probe, "+OK", "SELECT 16"); /* node 3's count, and past it */
	ns_probe_send(probe, "+OK", "SET first16 v");
	ns_probe_send(probe, "+OK", "SELECT 20");
	ns_probe_send(probe, "+OK", "SET first20 v");
}

static void db20_read(void *arg)
{
	struct ns_run *r = arg;
	probe = ns_probe_open(r, "db20-node3", 2); /* its SELECT stops at 15 */
	ns_probe_send(probe, "~db16:keys=1,", "INFO keyspace");
	ns_probe_send(probe, "~db20:keys=1,", "INFO keyspace");
}

/* More reads of one connection ready at once than a prefetch batch
 * holds (requests.c's prefetch_reads takes READ_PREFETCH of them, the
 * batch at most KV_PREFETCH_MAX): each still answered, in order. */
static void db20_burst(void *arg)
{
	struct ns_run *r = arg;
	probe = ns_probe_open(r, "db20-burst", 1);
	ns_probe_send(probe, "+OK", "SELECT 16");
	for (int k = 0; k < 40; k++)
		ns_probe_send(probe, "$1 v", "GET first16");
}

static void db20_lead(void *arg)
{
	struct ns_run *r = arg;
	if (leader_no(r) != 2)
		return;
	probe = ns_probe_open(r, "db20-transfer", 2);
	ns_probe_send(probe, "+OK", "RAFT TRANSFER 1");
}

static void db20_after_heal(void *arg)
{
	struct ns_run *r = arg;
	probe = ns_probe_open(r, "db20-healed", 0);
	ns_probe_send(probe, "+OK", "SET later v");
}

void ns_scen_write_db_not_held(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0; /* the probe's write is the first */
	r->nodes[0].databases = r->nodes[1].databases = 32;
	world_at(r->w, 1000 * MS, db20_lead, r);
	world_at(r->w, 1900 * MS, probe_done, r);
	world_at(r->w, 2000 * MS, db20_write, r);
	world_at(r->w, 3000 * MS, probe_done, r);
	world_at(r->w, 3100 * MS, db20_read, r);
	world_at(r->w, 4000 * MS, probe_done, r);
	world_at(r->w, 4100 * MS, db20_burst, r);
	world_at(r->w, 5000 * MS, probe_done, r);
	world_at(r->w, r->p.run_ns + 1000 * MS, db20_after_heal, r); /* the run's last check */
	world_at(r->w, r->p.run_ns + 2000 * MS, probe_done, r);
}

/* ---- a cluster-aware connection on a follower of one group ---- */

/* It has asked for the map (CLUSTER SLOTS): a write of a key is
 * redirected to the leader (-MOVED with the key's slot), a write of no key
 * (FLUSHDB, in a database the workload does not use) is forwarded and
 * applied, as a plain connection's, and a read is served here. */
static void aware_on_follower(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	uint32_t f = follower_no(r, (uint32_t)l);
	char moved[48];
	snprintf(moved, sizeof moved, "-MOVED %u %s:6379",
		 (unsigned)kv_slot((const uint8_t *)"aw", 2), host_ip(r->nodes[l].h));
	char slots[64]; /* one range, its three nodes, the leader first */
	snprintf(slots, sizeof slots, "*1 *5 :0 :16383 *4 $9 %s :6379 $40 ",
		 host_ip(r->nodes[l].h));
	probe = ns_probe_open(r, "aware", f);
	ns_probe_send(probe, slots, "CLUSTER SLOTS");
	ns_probe_send(probe, "+OK", "SELECT 5");
	ns_probe_send(probe, moved, "SET aw 1");
	ns_probe_send(probe, "+OK", "FLUSHDB");
	ns_probe_send(probe, "$-1", "GET aw");
}

void ns_scen_cluster_aware_follower(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, aware_on_follower, r);
	world_at(r->w, 3000 * MS, probe_done, r);
}

/* ---- a follower's disk fails while its client sends writes ---- */

static uint32_t failing, sent;

static void disk_fails(void *arg)
{
	struct ns_run *r = arg;
	world_tracef(r->w, "scenario: node %u's disk fails", failing + 1);
	simfs_fail(host_disk(r->nodes[failing].h), SIMFS_FDATASYNC, 0, KEEL_EIO, true);
}

/* One write every 3 ms, across the node's stop: each is answered with
 * what became of it (applied, not applied, not known), or its
 * connection closes. */
static void write_while_failing(void *arg)
{
	struct ns_run *r = arg;
	if (!probe || sent == 60)
		return;
	/* the first ones are answered before the disk fails */
	ns_probe_send(probe, sent < 5 ? "+OK" : "+OK|-ERR the node|-ERR storage failed|-TIMEOUT",
		      "SET disk%u v", sent);
	sent++;
	world_at(r->w, world_now_ns(r->w) + 3 * MS, write_while_failing, r);
}

static void failing_start(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	failing = follower_no(r, (uint32_t)l);
	sent = 0;
	probe = ns_probe_open(r, "disk", failing);
	probe->may_close = true;
	world_at(r->w, world_now_ns(r->w) + 100 * MS, disk_fails, r);
	world_at(r->w, world_now_ns(r->w) + 50 * MS, write_while_failing, r);
}

/* A write told it was not applied is not: read back from the leader. */
static void failing_read_back(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (!last_probe || l < 0)
		return;
	struct ns_probe *back = ns_probe_open(r, "disk-back", (uint32_t)l);
	for (uint32_t i = 0; i < last_probe->n_replied && i < NS_PROBE_MAX; i++)
		if (!strncmp(last_probe->got[i], "-ERR", 4))
			ns_probe_send(back, "$-1", "GET disk%u", i);
	probe = back;
}

static void failing_restart(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[failing];
	simfs_fail_clear(host_disk(n->h));
	if (n->s) {
		ns_fail(r, "scenario: node %u runs on after its disk failed", failing + 1);
		return;
	}
	ns_node_start(n);
}

void ns_scen_disk_fails_under_requests(struct ns_run *r)
{
	probe = NULL;
	last_probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, failing_start, r);
	world_at(r->w, 2500 * MS, probe_done, r);
	world_at(r->w, 2600 * MS, failing_read_back, r);
	world_at(r->w, 3000 * MS, failing_restart, r);
	world_at(r->w, 3500 * MS, probe_done, r);
}

/* ---- a forwarded write is sent once while its leader stays ---- */

static void once_start(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	deposed = (uint32_t)l;
	probe = ns_probe_open(r, "once", follower_no(r, (uint32_t)l));
	ns_probe_send(probe, "+OK", "SET once v1");
}

/* The leader stops for 300 ms (a pause, well under the 1 s after which a
 * follower sends an unanswered write again): the write waits for it, and
 * goes to it once. */
static void once_pause(void *arg)
{
	struct ns_run *r = arg;
	world_tracef(r->w, "scenario: pause node %u", deposed + 1);
	host_pause_until(r->nodes[deposed].h, world_now_ns(r->w) + 300 * MS);
	ns_probe_send(probe, "+OK", "SET once v2");
}

static void once_count(void *arg)
{
	(void)arg;
	ns_probe_send(probe, "~keel_forwarded:2 ", "INFO stats");
}

static void once_after_heal(void *arg)
{
	struct ns_run *r = arg;
	probe = ns_probe_open(r, "once-healed", deposed);
	ns_probe_send(probe, "+OK", "SET once v3");
}

void ns_scen_forward_sent_once(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0; /* the follower forwards the probe's writes only */
	world_at(r->w, 1000 * MS, once_start, r);
	world_at(r->w, 1200 * MS, once_pause, r);
	world_at(r->w, 1800 * MS, once_count, r);
	world_at(r->w, 2500 * MS, probe_done, r);
	world_at(r->w, r->p.run_ns + 1000 * MS, once_after_heal, r);
	world_at(r->w, r->p.run_ns + 2000 * MS, probe_done, r);
}

/* ---- a snapshot larger than one chunk, sent to a node that was down ---- */

static void chunks_crash(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	deposed = follower_no(r, (uint32_t)l);
	ns_node_crash(&r->nodes[deposed]);
	probe = ns_probe_open(r, "chunks", (uint32_t)l);
	for (uint32_t i = 0; i < 3; i++) { /* 1.5 MB: two chunks of a snapshot */
		char key[16];
		snprintf(key, sizeof key, "big%u", i);
		ns_probe_set_big(probe, "+OK", key, 500000);
	}
}

static void chunks_restart(void *arg)
{
	struct ns_run *r = arg;
	ns_node_start(&r->nodes[deposed]);
}

/* The node restarted behind a snapshot holds the big values: each read
 * on it (a follower read) sees what the leader acknowledged. */
static void chunks_read(void *arg)
{
	struct ns_run *r = arg;
	probe = ns_probe_open(r, "chunks-read", deposed);
	for (uint32_t i = 0; i < 3; i++)
		ns_probe_send(probe, ":500000 ", "STRLEN big%u", i);
}

void ns_scen_snapshot_in_chunks(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.snapshot_entries = 20;
	r->p.trailing_entries = 10; /* the node that was down needs the snapshot */
	world_at(r->w, 1000 * MS, chunks_crash, r);
	world_at(r->w, 2500 * MS, probe_done, r);
	world_at(r->w, 3000 * MS, chunks_restart, r);
	world_at(r->w, 5500 * MS, chunks_read, r);
	world_at(r->w, 6000 * MS, probe_done, r);
}

/* ---- a node removed while its client's writes are in flight ---- */

static struct ns_probe *removing[2];
static uint32_t removed_no[2], removed_sent[2];

/* One write every millisecond: each is answered (applied, not applied,
 * not known) while the removed node still runs. */
static void write_while_removed(void *arg)
{
	struct ns_probe **pp = arg;
	uint32_t k = (uint32_t)(pp - removing);
	if (!*pp || removed_sent[k] == NS_PROBE_MAX)
		return;
	ns_probe_send(*pp, "+OK|-REMOVED|-TIMEOUT|-TRYAGAIN", "SET rm%u-%u v", k,
		      removed_sent[k]++);
	struct ns_run *r = (*pp)->r;
	world_at(r->w, world_now_ns(r->w) + 1 * MS, write_while_removed, pp);
}

static void remove_one(struct ns_run *r, uint32_t k, bool the_leader)
{
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader to remove a node through");
		return;
	}
	uint32_t who = the_leader ? (uint32_t)l : follower_no(r, (uint32_t)l);
	removed_no[k] = who;
	removed_sent[k] = 0;
	removing[k] = ns_probe_open(r, k ? "removed-follower" : "removed-leader", who);
	write_while_removed(&removing[k]);
	ns_admin(r, (uint32_t)l, "REMOVE", r->nodes[who].id);
}

static void remove_leader(void *arg)
{
	remove_one(arg, 0, true);
}

static void remove_follower(void *arg)
{
	remove_one(arg, 1, false);
}

static void removed_done(void *arg)
{
	struct ns_probe **pp = arg;
	if (*pp)
		ns_probe_done(*pp);
	*pp = NULL;
}

void ns_scen_removed_under_requests(struct ns_run *r)
{
	removing[0] = removing[1] = NULL;
	r->p.nodes = 5;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, remove_leader, r);
	world_at(r->w, 1400 * MS, removed_done, &removing[0]);
	world_at(r->w, 3000 * MS, remove_follower, r);
	world_at(r->w, 3400 * MS, removed_done, &removing[1]);
}

/* ---- a peer forwards what no follower would ---- */

static uint32_t odd_leader;
static uint64_t odd_kept; /* a voter a forged command names */

static void odd_forwards(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	odd_leader = (uint32_t)l;
	odd_kept = r->nodes[follower_no(r, (uint32_t)l)].id;
	char id[24];
	snprintf(id, sizeof id, "%llu", (unsigned long long)odd_kept);
	const char *const not_raft[] = {"CONFIG", "REMOVE", id};
	ns_peer_forward(r, (uint32_t)l, 95, 2, not_raft, 3); /* a RAFT change, but not RAFT */
	static const char *const raft[] = {"RAFT"}, *const get[] = {"GET", "odd"},
				 *const place[] = {"KEEL.PLACESHARD"};
	ns_peer_forward(r, (uint32_t)l, 90, 2, raft, 1); /* a RAFT command of one word */
	ns_peer_forward(r, (uint32_t)l, 91, 1, get, 2);	 /* a read: never forwarded */
	ns_peer_forward(r, (uint32_t)l, 92, 2, raft, 0); /* a command of no word */
	ns_peer_forward(r, (uint32_t)l, 93, 2, get, 2);	 /* not one a node forwards */
	ns_peer_forward(r, (uint32_t)l, 94, 2, place, 1); /* short of its arity (3) */
	probe = ns_probe_open(r, "after-odd", (uint32_t)l);
	ns_probe_send(probe, "+OK", "SET odd v1");
	ns_probe_send(probe, "$2 v1", "GET odd");
}

/* The forged change was not made. */
static void odd_kept_voter(void *arg)
{
	struct ns_run *r = arg;
	const struct server *s = r->nodes[odd_leader].s;
	if (s && !raft_config_is_voter(raft_config_of(s->g->r), odd_kept))
		ns_fail(r, "scenario: a forwarded CONFIG REMOVE %llu removed it",
			(unsigned long long)odd_kept);
}

/* The leader refuses them (a peer's bytes are checked like a client's)
 * and goes on serving. */
void ns_scen_peer_forwards_malformed(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, odd_forwards, r);
	world_at(r->w, 1900 * MS, odd_kept_voter, r);
	world_at(r->w, 2000 * MS, probe_done, r);
}

/* ---- a forwarded write held by a leader that hands over ---- */

static uint32_t handing, taking, asking;

static void handover_start(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	handing = deposed = (uint32_t)l;
	taking = follower_no(r, handing);
	asking = follower_no(r, taking);
	/* the new leader is slow to catch up: the transfer waits for it, and
	 * the leader proposes nothing meanwhile */
	world_tracef(r->w, "scenario: pause node %u", taking + 1);
	host_pause_until(r->nodes[taking].h, world_now_ns(r->w) + 300 * MS);
	ns_admin(r, handing, "TRANSFER", r->nodes[taking].id);
	probe = ns_probe_open(r, "handover", asking);
}

/* Forwarded to the leader while it hands over: it holds it, and the
 * follower sends it again to the new leader once it hears of it. */
static void handover_write(void *arg)
{
	(void)arg;
	ns_probe_send(probe, "+OK", "SET handover v1");
	ns_probe_send(probe, "$2 v1", "GET handover");
}

/* The old leader never relays a write a follower forwarded to it: the
 * follower does that itself, and a relayed copy would carry the
 * follower's request number into the old leader's own numbering, where a
 * reply to one could answer another. So it forwarded nothing. */
static void handover_count(void *arg)
{
	struct ns_run *r = arg;
	struct ns_probe *old = ns_probe_open(r, "handover-old", handing);
	ns_probe_send(old, "~keel_forwarded:0 ", "INFO stats");
	ns_probe_send(old, "$2 v1", "GET handover");
	probe_done(NULL);
	probe = old;
}

void ns_scen_forward_held_through_handover(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0; /* the probes' writes only */
	world_at(r->w, 1000 * MS, handover_start, r);
	world_at(r->w, 1100 * MS, handover_write, r);
	world_at(r->w, 2500 * MS, handover_count, r);
	world_at(r->w, 3000 * MS, probe_done, r);
	world_at(r->w, r->p.run_ns + 1000 * MS, once_after_heal, r);
	world_at(r->w, r->p.run_ns + 2000 * MS, probe_done, r);
}

/* ---- more peers forward in one pass than a configuration holds ---- */

static void crowd_forwards(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	static const char *const get[] = {"GET", "crowd"};
	/* each a read, which no follower forwards: answered at once, each
	 * answer in a frame of its own peer's, all in one pass (the leader
	 * stalls while they come) */
	host_pause_until(r->nodes[l].h, world_now_ns(r->w) + 50 * MS);
	for (uint64_t id = 0; id < RAFT_MEMBERS_MAX + 2; id++)
		ns_peer_forward(r, (uint32_t)l, 200 + id, 1, get, 2);
	probe = ns_probe_open(r, "after-crowd", (uint32_t)l);
	ns_probe_send(probe, "+OK", "SET crowd v1");
	ns_probe_send(probe, "$2 v1", "GET crowd");
}

/* The leader answers as many peers as it has batches for, drops the
 * answers to the rest (they are no members), and goes on serving; the
 * node is freed cleanly with every batch in use. */
void ns_scen_peers_crowd_one_pass(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, crowd_forwards, r);
	world_at(r->w, 2000 * MS, probe_done, r);
}

/* ---- a leader told of its removal in the pass a write arrives ---- */

static struct wconn *notifier;
static uint32_t told, cut_one;

static void on_notifier(void *ctx, struct wconn *c, enum wconn_event ev)
{
	(void)ctx;
	if (ev == WCONN_CLOSED) {
		wconn_close(c);
		notifier = NULL;
	}
}

static void notifier_send(uint8_t kind, const void *p, uint32_t n)
{
	uint8_t hdr[FRAME_HDR];
	frame_header(hdr, kind, p, n);
	wconn_send(notifier, hdr, sizeof hdr);
	wconn_send(notifier, p, n);
}

static void told_start(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	told = (uint32_t)l;
	cut_one = follower_no(r, told);
	probe = ns_probe_open(r, "told", told);
	ns_probe_send(probe, "+OK", "SET told v1");
}

/* A peer connection made after the client's: its frames are read after
 * the client's in a pass. The member it speaks for is cut off meanwhile,
 * or its own connection would replace this one. */
static void told_notifier(void *arg)
{
	struct ns_run *r = arg;
	world_cut(r->w, r->nodes[told].h, r->nodes[cut_one].h, true);
	notifier =
		wconn_open(r->w, r->admin_host, host_ip(r->nodes[told].h), 7379, on_notifier, NULL);
	struct frame_hello h = {.id = r->nodes[cut_one].id};
	snprintf(h.peer_addr, sizeof h.peer_addr, "127.0.2.1:7379");
	uint8_t buf[FRAME_HELLO_MAX];
	notifier_send(FRAME_HELLO, buf, (uint32_t)frame_hello_encode(&h, buf));
}

/* The leader stalls; meanwhile a write comes from its client, then a
 * member's notice that a newer configuration leaves it out. Both are read
 * in one pass: the write was taken for the pass's entry, which is never
 * proposed, and it is answered -REMOVED (not applied) like every request
 * in flight. */
static void told_in_one_pass(void *arg)
{
	struct ns_run *r = arg;
	if (!notifier || !r->nodes[told].s) {
		ns_fail(r, "scenario: the notice's connection or node %u is gone", told + 1);
		return;
	}
	host_pause_until(r->nodes[told].h, world_now_ns(r->w) + 50 * MS);
	ns_probe_send(probe, "-REMOVED", "SET told v2");
	uint8_t p[8];
	bytes_put_u64(p, raft_config_index_of(r->nodes[told].s->g->r) + 1);
	notifier_send(FRAME_REMOVED, p, 8);
}

/* The notice spoke the truth once the cluster removes the node (the
 * others elected a leader meanwhile): the write it refused is not there. */
static void told_check(void *arg)
{
	struct ns_run *r = arg;
	world_cut(r->w, r->nodes[told].h, r->nodes[cut_one].h, false);
	if (!r->nodes[told].s || !r->nodes[told].s->g->removed_at)
		ns_fail(r, "scenario: node %u did not take the notice", told + 1);
	probe_done(NULL);
	for (uint32_t i = 0; i < r->p.nodes; i++)
		if (i != told && r->nodes[i].s &&
		    raft_role_of(r->nodes[i].s->g->r) == RAFT_LEADER) {
			ns_admin(r, i, "REMOVE", r->nodes[told].id);
			deposed = i; /* once_after_heal writes there */
			probe = ns_probe_open(r, "told-back", i);
			ns_probe_send(probe, "$2 v1", "GET told");
			return;
		}
	ns_fail(r, "scenario: no other node leads after node %u stopped", told + 1);
}

void ns_scen_removal_told_mid_pass(struct ns_run *r)
{
	probe = NULL;
	notifier = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0;
	world_at(r->w, 1000 * MS, told_start, r);
	world_at(r->w, 1100 * MS, told_notifier, r);
	world_at(r->w, 1300 * MS, told_in_one_pass, r);
	world_at(r->w, 3000 * MS, told_check, r);
	world_at(r->w, 5000 * MS, probe_done, r);
	world_at(r->w, r->p.run_ns + 1000 * MS, once_after_heal, r);
	world_at(r->w, r->p.run_ns + 2000 * MS, probe_done, r);
}

/* ---- a leader outside a restarted node's configuration, whose first
 * words to it are a snapshot's ---- */

static uint32_t behind_step, behind_sent;

static void behind_crash(void *arg)
{
	struct ns_run *r = arg;
	ns_node_crash(&r->nodes[2]);
}

static void behind_transfer(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader to hand over from");
		return;
	}
	ns_admin(r, (uint32_t)l, "TRANSFER", r->nodes[3].id);
}

/* One write every 5 ms, each an entry of its own. */
static void behind_small(void *arg)
{
	struct ns_run *r = arg;
	if (!probe || behind_sent == 25)
		return;
	ns_probe_send(probe, "+OK", "SET behind-small%u v", behind_sent++);
	world_at(r->w, world_now_ns(r->w) + 5 * MS, behind_small, r);
}

/* Past the snapshot node 3 will need: more than the leader sends of a
 * snapshot ahead of the receiver's acknowledgements (16 MiB), and entries
 * enough for the leader to drop what came before it. */
static void behind_writes(void *arg)
{
	struct ns_run *r = arg;
	if (leader_no(r) != 3) {
		ns_fail(r, "scenario: node 4 does not lead");
		return;
	}
	deposed = 3;
	probe = ns_probe_open(r, "behind", 3);
	for (uint32_t i = 0; i < 36; i++) {
		char key[16];
		snprintf(key, sizeof key, "behind%u", i);
		ns_probe_set_big(probe, "+OK", key, 500000);
	}
	behind_sent = 0;
	world_at(r->w, world_now_ns(r->w) + 50 * MS, behind_small, r);
}

static void behind_restart(void *arg)
{
	struct ns_run *r = arg;
	ns_node_start(&r->nodes[2]);
}

/* Node 3 crashes once the leader's snapshot has begun to reach it: the
 * leader, which heard from it, now sends it nothing but the snapshot's
 * chunks, and the node, restarted with its old configuration, must answer
 * them over a connection of its own (members_follow_leader). */
static void behind_when_receiving(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n3 = &r->nodes[2];
	if (behind_step)
		return;
	if (!n3->s || !n3->s->g->incoming || n3->s->stats.snapshots_installed) {
		world_at(r->w, world_now_ns(r->w) + 100000, behind_when_receiving, r);
		return;
	}
	world_tracef(r->w, "scenario: node 3 is receiving a snapshot: crash it");
	behind_step = 1;
	ns_node_crash(n3);
	world_at(r->w, world_now_ns(r->w) + 300 * MS, behind_restart, r);
}

static void behind_check(void *arg)
{
	struct ns_run *r = arg;
	if (behind_step != 1)
		ns_fail(r, "scenario: node 3 was not seen receiving a snapshot");
	if (!r->nodes[2].s || !r->nodes[2].s->stats.snapshots_installed)
		ns_fail(r, "scenario: node 3 has not installed the leader's snapshot");
	probe_done(NULL);
	probe = ns_probe_open(r, "behind-read", 2);
	for (uint32_t i = 0; i < 36; i += 7)
		ns_probe_send(probe, ":500000 ", "STRLEN behind%u", i);
}

void ns_scen_outside_leader_sends_a_snapshot(struct ns_run *r)
{
	probe = NULL;
	behind_step = 0;
	r->p.nodes = 3;
	r->p.spares = 1;
	r->p.clients = 0;
	r->p.snapshot_entries = 20;
	r->p.trailing_entries = 10;
	r->p.run_ns = 10000 * MS;
	world_at(r->w, 500 * MS, behind_crash, r);
	world_at(r->w, 1000 * MS, ns_membership_add, r);
	world_at(r->w, 3000 * MS, behind_transfer, r);
	world_at(r->w, 3500 * MS, behind_writes, r);
	world_at(r->w, 4500 * MS, behind_restart, r);
	world_at(r->w, 4500 * MS, behind_when_receiving, r);
	world_at(r->w, r->p.run_ns - 500 * MS, behind_check, r);
	world_at(r->w, r->p.run_ns, probe_done, r);
	world_at(r->w, r->p.run_ns + 1000 * MS, once_after_heal, r);
	world_at(r->w, r->p.run_ns + 2000 * MS, probe_done, r);
}

/* ---- a peer forwards a write larger than a log entry may hold ---- */

static struct {
	uint8_t *p;
	size_t len, sent;
} huge;

/* The frame a MiB at a time, as the network takes it. */
static void huge_piece(void *arg)
{
	struct ns_run *r = arg;
	size_t n = huge.len - huge.sent < (1u << 20) ? huge.len - huge.sent : (1u << 20);
	if (notifier)
		wconn_send(notifier, huge.p + huge.sent, n);
	huge.sent += n;
	if (huge.sent < huge.len && notifier) {
		world_at(r->w, world_now_ns(r->w) + 10 * MS, huge_piece, r);
		return;
	}
	keel_free(huge.p);
	huge.p = NULL;
}

static void huge_forward(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	deposed = (uint32_t)l;
	notifier = wconn_open(r->w, r->admin_host, host_ip(r->nodes[l].h), 7379, on_notifier, NULL);
	struct frame_hello h = {.id = 95};
	snprintf(h.peer_addr, sizeof h.peer_addr, "127.0.2.1:7379");
	uint8_t hb[FRAME_HELLO_MAX];
	notifier_send(FRAME_HELLO, hb, (uint32_t)frame_hello_encode(&h, hb));
	/* a SET of no session whose request is 63 bytes short of an entry's
	 * limit: its entry (17 bytes of header) would still fit, but no node
	 * forwards it, and the leader takes it no more than a client's */
	struct rbuf cmd, f;
	rbuf_init(&cmd);
	rbuf_init(&f);
	entry_req_header(&cmd, &(struct entry_req_head){0}, 1);
	size_t head = cmd.len + 4 + 4 + 3 + 4 + 4 + 4;
	size_t vlen = RAFT_ENTRY_BYTES_MAX - 63 - head;
	uint8_t *v = keel_malloc(vlen);
	memset(v, 'h', vlen);
	struct resp_arg argv[] = {
		{(const uint8_t *)"SET", 3}, {(const uint8_t *)"huge", 4}, {v, vlen}};
	entry_cmd_append(&cmd, argv, 3);
	keel_free(v);
	rbuf_put_u64(&f, 1);
	rbuf_put(&f, &(uint8_t){0}, 1);
	rbuf_put_u32(&f, 1);
	rbuf_put_u32(&f, (uint32_t)cmd.len);
	rbuf_put(&f, cmd.p, cmd.len);
	world_tracef(r->w, "peer 95: forwards a write of %zu bytes to node %u", cmd.len, l + 1);
	huge.len = FRAME_HDR + f.len;
	huge.p = keel_malloc(huge.len);
	frame_header(huge.p, FRAME_FORWARD, f.p, (uint32_t)f.len);
	memcpy(huge.p + FRAME_HDR, f.p, f.len);
	huge.sent = 0;
	huge_piece(r);
	rbuf_free(&cmd);
	rbuf_free(&f);
}

/* Refused, as the node a client sent it to would have: not applied. */
static void huge_check(void *arg)
{
	struct ns_run *r = arg;
	probe = ns_probe_open(r, "huge", deposed);
	ns_probe_send(probe, ":0 ", "STRLEN huge");
	ns_probe_send(probe, "+OK", "SET huge small");
	ns_probe_send(probe, "$5 small", "GET huge");
}

void ns_scen_peer_forwards_too_large(struct ns_run *r)
{
	probe = NULL;
	notifier = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, huge_forward, r);
	world_at(r->w, 2500 * MS, huge_check, r);
	world_at(r->w, 3500 * MS, probe_done, r);
}

/* ---- a node stopped between two --join tries ---- */

static struct {
	bool was_open;
	uint64_t closed_ns, due_ns, last_tick;
	bool stopped;
} jn;

static void join_cut(void *arg)
{
	struct ns_run *r = arg;
	ns_isolate(r, 0, true); /* the member --join names knows no leader: it refuses */
	ns_isolate(r, 3, false);
}

static void join_uncut(void *arg)
{
	struct ns_run *r = arg;
	ns_isolate(r, 0, false);
}

static void join_begin(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[3];
	n->kind = NS_ADDED;
	n->join = true;
	ns_node_start(n);
	memset(&jn, 0, sizeof jn);
}

static void join_stop_in(void *arg)
{
	server_stop(arg);
}

/* Watches the joiner's tries: once the member it asks is back, the stop
 * (SIGTERM) comes just after a tick of its loop and a few ms before its
 * next try is due, so the try falls while it stops. */
static void join_watch(void *arg)
{
	struct ns_run *r = arg;
	struct server *s = r->nodes[3].s;
	uint64_t now = world_now_ns(r->w);
	if (!s || jn.stopped)
		return;
	if (jn.was_open && !s->join.tcp_open && now > 2400 * MS && !jn.due_ns)
		jn.due_ns = now / MS * MS + 1000 * MS; /* the retry timer, in loop ms */
	jn.was_open = s->join.tcp_open;
	if (jn.due_ns && s->tick_last_ns != jn.last_tick) {
		jn.last_tick = s->tick_last_ns;
		if (now < jn.due_ns && jn.due_ns - now <= 8 * MS) {
			world_tracef(r->w,
				     "scenario: SIGTERM node 4, its next --join try due in %llu us",
				     (unsigned long long)(jn.due_ns - now) / 1000);
			jn.stopped = true;
			host_enter(r->nodes[3].h, join_stop_in, s);
			return;
		}
	}
	world_at(r->w, now + 20000, join_watch, r);
}

/* A node stopping asks no more: it is no member. */
static void join_check(void *arg)
{
	struct ns_run *r = arg;
	if (!jn.stopped) {
		ns_fail(r, "scenario: node 4 was not stopped before a try");
		return;
	}
	for (uint32_t i = 0; i < r->p.nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->g->r && raft_config_find(raft_config_of(s->g->r), r->nodes[3].id))
			ns_fail(r, "node 4, stopped while it asked to join, was added (node %u)",
				i + 1);
	}
	ns_node_reap(&r->nodes[3]);
}

void ns_scen_join_stopped_between_tries(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 1;
	world_at(r->w, 1000, join_cut, r);
	world_at(r->w, 1500 * MS, join_begin, r);
	world_at(r->w, 1500 * MS, join_watch, r);
	world_at(r->w, 2700 * MS, join_uncut, r);
	world_at(r->w, 4500 * MS, join_check, r);
}

/* ---- a read replica's disk fails while it stops ---- */

static uint32_t rdisk;
static bool rdisk_stopped;

static void rdisk_check(void *arg);

static void rdisk_stop_in(void *arg)
{
	server_stop(arg);
}

/* Once the replica has a sync on its disk (which fails): SIGTERM, and
 * the process stalls until the failure is known. */
static void rdisk_watch(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[rdisk];
	if (!n->s || rdisk_stopped)
		return;
	if (!n->disk_pending) {
		world_at(r->w, world_now_ns(r->w) + 20000, rdisk_watch, r);
		return;
	}
	world_tracef(r->w, "scenario: SIGTERM replica %u, a failing sync in flight", rdisk + 1);
	rdisk_stopped = true;
	host_enter(n->h, rdisk_stop_in, n->s);
	host_pause_until(n->h, world_now_ns(r->w) + 20 * MS);
	world_at(r->w, world_now_ns(r->w) + 40 * MS, rdisk_check, r);
}

static void rdisk_start(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	rdisk = r->p.nodes + r->p.spares;
	rdisk_stopped = false;
	world_tracef(r->w, "scenario: replica %u's fdatasync fails", rdisk + 1);
	simfs_fail(host_disk(r->nodes[rdisk].h), SIMFS_FDATASYNC, 0, KEEL_EIO, true);
	probe = ns_probe_open(r, "rdisk", (uint32_t)l);
	ns_probe_send(probe, "+OK", "SET rdisk v1");
	rdisk_watch(r);
}

/* Its disk failed: it says so in its exit status, as a member does, even
 * though it was stopping anyway. */
static void rdisk_check(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[rdisk];
	if (!n->s || !n->s->closed)
		ns_fail(r, "scenario: replica %u runs on after its SIGTERM", rdisk + 1);
	else if (n->s->exit_code != 1)
		ns_fail(r, "replica %u, its disk failed while it stopped, exits %d", rdisk + 1,
			n->s->exit_code);
	simfs_fail_clear(host_disk(n->h));
	ns_node_reap(n);
}

static void rdisk_expect(void *arg)
{
	struct ns_run *r = arg;
	if (!rdisk_stopped)
		ns_fail(r, "scenario: replica %u had no sync in flight", rdisk + 1);
}

void ns_scen_replica_disk_fails_while_stopping(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.replicas = 1;
	r->p.replica_clients = 0;
	world_at(r->w, 1000 * MS, rdisk_start, r);
	world_at(r->w, 1500 * MS, rdisk_expect, r);
	world_at(r->w, 1500 * MS, probe_done, r);
}

/* ---- a follower stopped with a write forwarded ---- */

static uint32_t fwd_stopping, fwd_leader;
static bool fwd_stopped;

static void fwd_stop_in(void *arg)
{
	server_stop(arg);
}

/* Once the follower has forwarded its client's write to the leader (and
 * before the answer is back): SIGTERM. */
static void fwd_watch(void *arg)
{
	struct ns_run *r = arg;
	struct server *s = r->nodes[fwd_stopping].s;
	if (!s || fwd_stopped)
		return;
	if (!s->g->n_forwarded) {
		world_at(r->w, world_now_ns(r->w) + 20000, fwd_watch, r);
		return;
	}
	world_tracef(r->w, "scenario: SIGTERM node %u, a forwarded write unanswered",
		     fwd_stopping + 1);
	fwd_stopped = true;
	host_enter(r->nodes[fwd_stopping].h, fwd_stop_in, s);
}

static void fwd_start(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	fwd_leader = (uint32_t)l;
	fwd_stopping = follower_no(r, (uint32_t)l);
	fwd_stopped = false;
	probe = ns_probe_open(r, "stopping", fwd_stopping);
	probe->may_close = true; /* the node closes it once it has answered */
	ns_probe_send(probe, "+OK", "SET stopfwd v1");
	fwd_watch(r);
}

/* The leader applied the write within the second the follower gives its
 * requests in flight: the follower relayed its +OK, then stopped (and
 * was reaped as its process would exit). */
static void fwd_check(void *arg)
{
	struct ns_run *r = arg;
	struct ns_node *n = &r->nodes[fwd_stopping];
	if (!fwd_stopped)
		ns_fail(r, "scenario: node %u forwarded nothing", fwd_stopping + 1);
	else if (n->s && !n->s->closed) /* a closed node is reaped as it exits */
		ns_fail(r, "scenario: node %u runs on after its SIGTERM", fwd_stopping + 1);
	else if (!ns_probe_reply(probe, 0))
		ns_fail(r, "node %u stopped without answering the write it forwarded",
			fwd_stopping + 1);
	probe_done(NULL);
	ns_node_reap(n);
	probe = ns_probe_open(r, "stopfwd-leader", fwd_leader);
	ns_probe_send(probe, "$2 v1", "GET stopfwd");
}

void ns_scen_follower_stopped_with_a_forward(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	world_at(r->w, 1000 * MS, fwd_start, r);
	world_at(r->w, 1800 * MS, fwd_check, r);
	world_at(r->w, 2300 * MS, probe_done, r);
}

/* ---- a reply to a request of a follower's last run ---- */

/* A follower forwards SET fwdid a; the leader appends it but cannot
 * commit it (cut from the other follower) before the follower crashes.
 * The follower restarts cut off, its client sends INCR fwdid2, and once
 * it is joined to the leader again (its disk slow, so that the SET
 * commits only after) it forwards that write: the leader's reply to the SET, named by the id the
 * follower's last run drew, must not answer the INCR (it did while each
 * run numbered its forwards from 1: a client's EXEC answered +FROZEN). */
static uint32_t fid_leader, fid_follower, fid_other;
static struct ns_probe *fid_first;
static bool fid_crashed;

static void fid_watch(void *arg)
{
	struct ns_run *r = arg;
	struct server *l = r->nodes[fid_leader].s;
	if (!l || fid_crashed)
		return;
	if (!l->g->n_writes) {
		world_at(r->w, world_now_ns(r->w) + 20000, fid_watch, r);
		return;
	}
	world_tracef(r->w, "scenario: crash node %u, its forwarded write appended, not committed",
		     fid_follower + 1);
	fid_crashed = true;
	ns_node_crash(&r->nodes[fid_follower]);
}

static void fid_start(void *arg)
{
	struct ns_run *r = arg;
	int32_t l = leader_no(r);
	if (l < 0) {
		ns_fail(r, "scenario: no leader at 1 s");
		return;
	}
	fid_leader = (uint32_t)l;
	fid_follower = follower_no(r, fid_leader);
	fid_other = follower_no(r, fid_follower);
	fid_crashed = false;
	world_cut(r->w, r->nodes[fid_leader].h, r->nodes[fid_other].h, true);
	fid_first = ns_probe_open(r, "before-crash", fid_follower);
	fid_first->may_close = true; /* its node crashes */
	ns_probe_send(fid_first, "", "SET fwdid a");
	fid_watch(r);
}

static void fid_restart(void *arg)
{
	struct ns_run *r = arg;
	if (!fid_crashed) {
		ns_fail(r, "scenario: the leader never took node %u's write", fid_follower + 1);
		return;
	}
	ns_isolate(r, fid_follower, true);
	ns_node_start(&r->nodes[fid_follower]);
}

static void fid_send(void *arg)
{
	struct ns_run *r = arg;
	probe = ns_probe_open(r, "after-restart", fid_follower);
	ns_probe_send(probe, ":1", "INCR fwdid2");
}

static void fid_rejoin(void *arg)
{
	struct ns_run *r = arg;
	world_tracef(r->w, "scenario: node %u joined to the leader again, its disk slow",
		     fid_follower + 1);
	/* it knows the leader, and forwards the INCR, before its append of
	 * the SET is durable: the SET commits after the INCR was forwarded */
	r->nodes[fid_follower].disk_extra_ns = 300 * MS;
	world_cut(r->w, r->nodes[fid_follower].h, r->nodes[fid_leader].h, false);
}

static void fid_heal(void *arg)
{
	struct ns_run *r = arg;
	if (fid_first)
		ns_probe_done(fid_first);
	fid_first = NULL;
	probe_done(NULL);
	r->nodes[fid_follower].disk_extra_ns = 0;
	ns_isolate(r, fid_follower, false);
	world_cut(r->w, r->nodes[fid_leader].h, r->nodes[fid_other].h, false);
}

/* Once every fault healed: both writes applied, once each. */
static void fid_read_back(void *arg)
{
	struct ns_run *r = arg;
	probe = ns_probe_open(r, "read-back", fid_leader);
	ns_probe_send(probe, "$1 a", "GET fwdid");
	ns_probe_send(probe, ":2", "INCR fwdid2");
}

void ns_scen_forward_ids_survive_a_restart(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.clients = 0; /* the follower forwards the probes' writes only */
	world_at(r->w, 1000 * MS, fid_start, r);
	world_at(r->w, 1060 * MS, fid_restart, r);
	world_at(r->w, 1100 * MS, fid_send, r);
	world_at(r->w, 1200 * MS, fid_rejoin, r);
	world_at(r->w, 1800 * MS, fid_heal, r);
	world_at(r->w, r->p.run_ns + 1000 * MS, fid_read_back, r);
	world_at(r->w, r->p.run_ns + 2000 * MS, probe_done, r);
}

/* ---- a cluster of one stopped with a write in flight ---- */

static bool lone_stopped;

/* Once its leader has taken the write (not yet durable): SIGTERM. */
static void lone_watch(void *arg)
{
	struct ns_run *r = arg;
	struct server *s = r->nodes[0].s;
	if (!s || lone_stopped)
		return;
	if (!s->g->n_writes) {
		world_at(r->w, world_now_ns(r->w) + 20000, lone_watch, r);
		return;
	}
	world_tracef(r->w, "scenario: SIGTERM node 1, a write in flight");
	lone_stopped = true;
	host_enter(r->nodes[0].h, fwd_stop_in, s);
}

static void lone_start(void *arg)
{
	struct ns_run *r = arg;
	lone_stopped = false;
	probe = ns_probe_open(r, "lone-stopping", 0);
	probe->may_close = true; /* the node closes it once it has answered */
	ns_probe_send(probe, "+OK", "SET lonestop v1");
	lone_watch(r);
}

/* With no voter to hand over to, the node still answers the write it had
 * taken (+OK once durable, ticks later on its slow disk, within its
 * second), then stops. */
static void lone_check(void *arg)
{
	struct ns_run *r = arg;
	if (!lone_stopped)
		ns_fail(r, "scenario: node 1 had no write in flight");
	else if (!ns_probe_reply(probe, 0))
		ns_fail(r, "node 1 stopped without answering the write it had taken");
	probe_done(NULL);
	ns_node_reap(&r->nodes[0]);
}

/* Restarted (the faults healed): the write it answered +OK is there. */
static void lone_read(void *arg)
{
	probe = ns_probe_open(arg, "lone-back", 0);
	ns_probe_send(probe, "$2 v1", "GET lonestop");
}

void ns_scen_lone_leader_stopped_with_a_write(struct ns_run *r)
{
	probe = NULL;
	r->p.nodes = 1;
	r->p.spares = 0;
	r->p.clients = 0;
	r->disk_max_ns = 60 * MS; /* a slow disk: the write is durable ticks later */
	world_at(r->w, 1000 * MS, lone_start, r);
	world_at(r->w, 1800 * MS, lone_check, r);
	world_at(r->w, 7000 * MS, lone_read, r);
	world_at(r->w, 8000 * MS, probe_done, r);
}

/* ---- one connection's order across shards ---- */

struct across {
	struct ns_run *r;
	uint32_t la, lb; /* the leaders of a's group and b's: the client is on la */
	char a[16], a2[16], b[16];
	struct ns_probe *c1, *c3;
};

/* The (skip+1)-th key x<n> in group g of a node of 2 groups. */
static void key_in(uint32_t g, uint32_t skip, char *out, size_t cap)
{
	for (uint32_t n = 0;; n++) {
		snprintf(out, cap, "x%u", n);
		uint16_t slot = kv_slot((const uint8_t *)out, strlen(out));
		if ((slot > kv_slot_range_last(0, 2)) == (g == 1) && !skip--)
			return;
	}
}

static uint32_t leader_of_group(struct ns_run *r, uint32_t g)
{
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->n_groups > g && raft_role_of(s->groups[g]->r) == RAFT_LEADER)
			return i;
	}
	return UINT32_MAX;
}

/* The client's node, a's leader, is cut from b's (what it sends there is
 * held); it pipelines SET b, forwarded into the cut, then SET a and SET
 * a2, which it could commit at once with the third node. */
static void across_start(void *arg)
{
	struct across *o = arg;
	struct ns_run *r = o->r;
	o->la = leader_of_group(r, 0);
	o->lb = leader_of_group(r, 1);
	/* each group led by its preferred voter: group i by the i-th by id
	 * (node 2 was given the founders in the reverse order: nodes.c) */
	if (o->la != 0 || o->lb != 1) {
		ns_fail(r, "scenario: groups 0 and 1 are not led by nodes 1 and 2 (%u, %u)",
			o->la + 1, o->lb + 1);
		return;
	}
	world_cut(r->w, r->nodes[o->la].h, r->nodes[o->lb].h, true);
	o->c1 = ns_probe_open(r, "pipeline", o->la);
	ns_probe_send(o->c1, "+OK", "SET %s 1", o->b);
	ns_probe_send(o->c1, "+OK", "SET %s 1", o->a);
	ns_probe_send(o->c1, "+OK", "SET %s 1", o->a2);
}

/* While SET b is held: SET a and SET a2, sent after it on the connection,
 * have not taken effect either. */
static void across_read_a(void *arg)
{
	struct across *o = arg;
	o->c3 = ns_probe_open(o->r, "reader", o->la);
	ns_probe_send(o->c3, "$-1", "GET %s", o->a);
	ns_probe_send(o->c3, "$-1", "GET %s", o->a2);
}

static void across_heal(void *arg)
{
	struct across *o = arg;
	world_cut(o->r->w, o->r->nodes[o->la].h, o->r->nodes[o->lb].h, false);
}

/* Healed: both answered, both there. */
static void across_after(void *arg)
{
	struct across *o = arg;
	ns_probe_send(o->c3, "$1 1", "GET %s", o->a);
	ns_probe_send(o->c3, "$1 1", "GET %s", o->a2);
	ns_probe_send(o->c3, "$1 1", "GET %s", o->b);
}

static void across_done(void *arg)
{
	struct across *o = arg;
	if (o->c3)
		ns_probe_done(o->c3);
	if (o->c1)
		ns_probe_done(o->c1);
}

/* Three nodes of two shards. One connection pipelines a write to one
 * group, then a write to the other: the second takes effect after the
 * first, though the first is held in a cut link for 200 ms and the second
 * could commit at once (a connection's request for another group waits
 * for the ones before it: server/requests.c, requests_hold). */
void ns_scen_order_across_shards(struct ns_run *r)
{
	r->p.nodes = 3;
	r->p.spares = 0;
	r->p.replicas = 0;
	r->p.clients = 0;
	r->p.shards = 2;
	struct across *o = ns_alloc(r, sizeof *o);
	*o = (struct across){.r = r};
	key_in(0, 0, o->a, sizeof o->a);
	key_in(0, 1, o->a2, sizeof o->a2);
	key_in(1, 0, o->b, sizeof o->b);
	uint64_t t = r->p.run_ns + 1000 * MS; /* healed, the leaders spread */
	world_at(r->w, t, across_start, o);
	world_at(r->w, t + 100 * MS, across_read_a, o);
	world_at(r->w, t + 200 * MS, across_heal, o);
	world_at(r->w, t + 1500 * MS, across_after, o);
	world_at(r->w, t + 2500 * MS, across_done, o);
}
