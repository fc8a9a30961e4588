/* tests/nsim/main.c — the whole-node simulator's seed runner.
 *
 *   nsim --seeds N [--first S]   run seeds S .. S+N-1 (default S = 1)
 *   nsim --seed S [--verbose]    replay one seed twice: prints its trace
 *                                (with --verbose) and the hash of each
 *                                run's trace, which must be the same
 *   nsim --scenarios | --scenario NAME   the scripted scenarios, or one
 *   --sharded                    every seed 2 or 3 shards, moving slot
 *                                ranges while it runs (reshard.c)
 *
 * Each seed draws a cluster (3 or 5 nodes, each keel-server's own code on
 * a simulated host), clients, a disk and a fault rate, runs the workload
 * under faults, heals everything, and checks: every history linearizable
 * per key (INCR counters included: exactly-once), a SET and a GET
 * pipelined on one connection seen in that order, every write's error
 * telling whether it was applied, the nodes agreeing once healed, and a
 * write acknowledged after the heal. A failing seed prints
 * `seed S: <violation>`, the last trace lines and how to replay it. Ends
 * with `nsim: P passed, F failed`. */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "nsim/nsim.h"
#include "sim/simfs.h"

static volatile uint64_t current_seed;

struct ns_block {
	struct ns_block *next;
	max_align_t data[];
};

void *ns_alloc(struct ns_run *r, size_t n)
{
	struct ns_block *b = keel_malloc(sizeof *b + n);
	b->next = r->blocks;
	r->blocks = b;
	return b->data;
}

void ns_fail(struct ns_run *r, const char *fmt, ...)
{
	if (r->failed)
		return; /* the first violation is the one to replay */
	r->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
	world_tracef(r->w, "VIOLATION: %s", r->why);
}

static void on_trace(void *ctx, const char *line)
{
	struct ns_run *r = ctx;
	for (const char *p = line; *p; p++) /* FNV-1a */
		r->trace_hash = (r->trace_hash ^ (uint8_t)*p) * 0x100000001b3ull;
	r->trace_hash = (r->trace_hash ^ '\n') * 0x100000001b3ull;
	snprintf(r->ring[r->ring_next], sizeof r->ring[0], "%s", line);
	r->ring_next = (r->ring_next + 1) % 64;
	if (r->verbose)
		printf("%s\n", line);
}

/* --sharded: every seed runs 2 or 3 shards and moves slot ranges. */
static bool sharded_only;

static void params(uint64_t seed, struct ns_run *r)
{
	struct prng g;
	prng_seed(&g, seed * 0x9E3779B97F4A7C15ull + 17);
	struct ns_params *p = &r->p;
	p->nodes = prng_below(&g, 5) == 0 ? 5 : 3;
	p->spares = p->nodes == 3 ? (uint32_t)prng_below(&g, 3) : 0;
	p->replicas = prng_below(&g, 3) == 0 ? 1 + (uint32_t)prng_below(&g, 2) : 0;
	p->clients = 3 + (uint32_t)prng_below(&g, 4);
	p->replica_clients = p->replicas ? 1 + (uint32_t)prng_below(&g, 2) : 0;
	p->run_ns = 6000000000ull;
	p->settle_ns = 8000000000ull;
	p->think_ns = 1000000 + prng_below(&g, 30000000);
	p->snapshot_entries = 40 + (uint32_t)prng_below(&g, 400);
	p->fault_every_ms = 300 + (uint32_t)prng_below(&g, 1500);
	r->disk_max_ns = 100000 + prng_below(&g, 5000000);
	r->disk_slow_permille = (uint32_t)prng_below(&g, 20);
	r->split_permille = prng_below(&g, 2) ? 0 : 100 + (uint32_t)prng_below(&g, 901);
	/* a third of the seeds without spares run 2 or 3 groups a node, and
	 * their read replicas as many (docs/replicas.md); the --sharded seeds,
	 * below, change a sharded cluster's members */
	if (!p->spares && prng_below(&g, 3) == 0)
		p->shards = 2 + (uint32_t)prng_below(&g, 2);
	/* most of those move slot ranges while they run (reshard.c) */
	if (p->shards && prng_below(&g, 4))
		p->reshards = 1 + (uint32_t)prng_below(&g, 4);
	if (sharded_only) {
		p->spares = p->replicas = p->replica_clients = 0;
		p->shards = 2 + (uint32_t)prng_below(&g, 2);
		p->reshards = 2 + (uint32_t)prng_below(&g, 5);
		/* half of them with a spare host, added by a membership change
		 * (every group takes it: docs/shards.md, "Membership"), and
		 * changes of the members among their faults */
		if (p->nodes == 3 && prng_below(&g, 2))
			p->spares = 1;
	}
	/* one client of those that move slots is plain: its writes refused
	 * for a slot being moved are held by the node (server/retry.c) */
	if (p->reshards)
		p->plain_clients = 1;
	/* half of them move a range a slot of keys at a time (pieces:
	 * server/migrate.c), so a move's pieces meet the faults too */
	if (p->reshards)
		p->pieces = prng_below(&g, 2);
}

static void stop_workload(void *arg)
{
	ns_heal_all(arg);
}

/* One seed; scenario: a scripted run's index, or -1. */
static void run_seed(struct ns_run *r, uint64_t seed, bool verbose, int scenario)
{
	memset(r, 0, sizeof *r);
	r->seed = seed;
	r->verbose = verbose;
	r->trace_hash = 0xcbf29ce484222325ull;
	params(seed, r);
	struct world_options o = {.seed = seed, .trace = on_trace, .trace_ctx = r};
	r->w = world_new(&o);
	if (scenario >= 0)
		ns_scenario_setup(r, (uint32_t)scenario);
	else
		world_set_split(r->w, r->split_permille);
	world_tracef(r->w,
		     "seed %llu: %u nodes (%u spare), %u read replicas, %u clients (%u of "
		     "replicas), a fault every ~%u ms, snapshots every %u entries, %u shards, %u "
		     "reshards%s",
		     (unsigned long long)seed, r->p.nodes, r->p.spares, r->p.replicas,
		     r->p.clients + r->p.replica_clients, r->p.replica_clients, r->p.fault_every_ms,
		     r->p.snapshot_entries, r->p.shards ? r->p.shards : 1, r->p.reshards,
		     r->p.pieces ? " in pieces" : "");
	if (scenario < 0 && r->split_permille)
		world_tracef(r->w, "writes arrive in pieces on %u permille of the connections",
			     r->split_permille);
	r->n_nodes = r->p.nodes + r->p.spares + r->p.replicas;
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		char ip[32];
		snprintf(ip, sizeof ip, "127.0.0.%u", i + 1);
		r->nodes[i] = (struct ns_node){.id = i + 1,
					       .kind = i < r->p.nodes		      ? NS_FOUNDER
						       : i < r->p.nodes + r->p.spares ? NS_SPARE
										      : NS_REPLICA,
					       .h = world_host(r->w, ip),
					       .run = r,
					       /* a scenario's setting of the node's own */
					       .session_ms = r->nodes[i].session_ms,
					       .databases = r->nodes[i].databases};
	}
	r->admin_host = world_host(r->w, "127.0.2.1");
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (ns_node_live(&r->nodes[i]))
			ns_node_start(&r->nodes[i]);
	ns_clients_start(r);
	ns_faults_schedule(r);
	world_at(r->w, r->p.run_ns, stop_workload, r);
	uint64_t end = r->p.run_ns + r->p.settle_ns;
	while (!r->failed && world_now_ns(r->w) < end && world_step(r->w))
		if (world_now_ns(r->w) > end)
			break;
	if (!r->failed)
		ns_check_agreement(r);
	ns_clients_stop(r);
	if (r->p.plain_clients)
		world_tracef(r->w, "plain clients: %llu writes done, %llu answered -TRYAGAIN slot",
			     (unsigned long long)r->n_plain_ok,
			     (unsigned long long)r->n_plain_tryagain);
	if (!r->failed)
		ns_check_history(r);
	if (!r->failed)
		ns_check_replica_reads(r);
	if (!r->failed && !r->n_ok_healed)
		ns_fail(r, "no operation succeeded in the %llu s after every fault healed",
			(unsigned long long)(r->p.settle_ns / 1000000000));
	for (uint32_t i = 0; i < r->n_nodes; i++)
		ns_node_crash(&r->nodes[i]);
	world_free(r->w);
	keel_free(r->hist);
	keel_free(r->rreads);
	while (r->blocks) {
		struct ns_block *b = r->blocks;
		r->blocks = b->next;
		keel_free(b);
	}
}

static void report_failure(const struct ns_run *r)
{
	printf("seed %llu: %s\n", (unsigned long long)r->seed, r->why);
	printf("  last trace lines:\n");
	for (uint32_t i = 0; i < 64; i++) {
		const char *line = r->ring[(r->ring_next + i) % 64];
		if (line[0])
			printf("    %s\n", line);
	}
	printf("  replay: make nsim SEED=%llu  (or build/asan/nsim --seed %llu --verbose)%s\n",
	       (unsigned long long)r->seed, (unsigned long long)r->seed,
	       sharded_only ? ", with --sharded" : "");
}

static void on_fatal(int sig)
{
	char msg[96];
	int n = snprintf(msg, sizeof msg,
			 "\nnsim: seed %llu died (signal %d); replay: make nsim SEED=%llu\n",
			 (unsigned long long)current_seed, sig, (unsigned long long)current_seed);
	if (write(2, msg, (size_t)n) < 0)
		_exit(3);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: nsim --seeds N [--first S] [--sharded] | nsim --seed S [--verbose] "
		"[--sharded] | nsim --scenarios [--verbose] | nsim --scenario NAME [--verbose]\n");
	return 2;
}

/* Every scripted scenario, each from seed 1; `nsim-scenario: P passed, F
 * failed`. */
static int run_scenarios(struct ns_run *r, bool verbose, const char *only)
{
	uint32_t pass = 0, fail = 0;
	for (uint32_t i = 0; i < ns_scenario_count(); i++) {
		if (only && strcmp(only, ns_scenario_name(i)))
			continue;
		current_seed = 1;
		run_seed(r, 1, verbose, (int)i);
		printf("scenario %s: %s\n", ns_scenario_name(i), r->failed ? r->why : "ok");
		if (r->failed)
			report_failure(r);
		r->failed ? fail++ : pass++;
	}
	printf("nsim-scenario: %u passed, %u failed\n", pass, fail);
	fflush(stdout);
	return fail ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t first = 1, seeds = 0, one = 0;
	bool verbose = false, scenarios = false;
	const char *only = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
			seeds = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--first") && i + 1 < argc)
			first = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			one = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--scenarios"))
			scenarios = true;
		else if (!strcmp(argv[i], "--scenario") && i + 1 < argc)
			scenarios = true, only = argv[++i];
		else if (!strcmp(argv[i], "--sharded"))
			sharded_only = true;
		else
			return usage();
	}
	if (!one && !seeds && !scenarios)
		return usage();
	signal(SIGABRT, on_fatal);
	signal(SIGSEGV, on_fatal);
	signal(SIGPIPE, SIG_IGN);
	struct ns_run *r = keel_calloc(1, sizeof *r);
	if (scenarios) {
		int rc = run_scenarios(r, verbose, only);
		keel_free(r);
		return rc;
	}
	if (one) {
		current_seed = one;
		run_seed(r, one, verbose, -1);
		uint64_t h1 = r->trace_hash;
		bool ok = !r->failed;
		if (!ok)
			report_failure(r);
		run_seed(r, one, false, -1);
		printf("seed %llu: %s; trace hash %016llx, again %016llx: %s\n",
		       (unsigned long long)one, ok ? "ok" : "FAILED", (unsigned long long)h1,
		       (unsigned long long)r->trace_hash,
		       h1 == r->trace_hash ? "the same" : "DIFFERENT (not deterministic)");
		bool same = h1 == r->trace_hash;
		keel_free(r);
		fflush(stdout);
		return ok && same ? 0 : 1;
	}
	uint64_t pass = 0, fail = 0, ops = 0, crashes = 0, faults = 0, unknown = 0, retries = 0,
		 settled = 0;
	time_t t0 = time(NULL);
	for (uint64_t s = first; s < first + seeds; s++) {
		current_seed = s;
		run_seed(r, s, false, -1);
		if (r->failed) {
			report_failure(r);
			fail++;
		} else {
			pass++;
		}
		ops += r->n_ok + r->n_failed + r->n_unknown;
		crashes += r->n_crashes;
		faults += r->n_faults;
		unknown += r->n_unknown;
		retries += r->n_retries;
		settled += r->n_settled;
		fflush(stdout);
	}
	printf("nsim: seeds %llu..%llu in %llds: %llu client operations (%llu outcome unknown; "
	       "%llu resends in their session settled %llu), %llu faults, %llu crashes\n",
	       (unsigned long long)first, (unsigned long long)(first + seeds - 1),
	       (long long)(time(NULL) - t0), (unsigned long long)ops, (unsigned long long)unknown,
	       (unsigned long long)retries, (unsigned long long)settled, (unsigned long long)faults,
	       (unsigned long long)crashes);
	printf("nsim: %llu passed, %llu failed\n", (unsigned long long)pass,
	       (unsigned long long)fail);
	keel_free(r);
	fflush(stdout);
	return fail ? 1 : 0;
}
