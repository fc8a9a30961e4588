/* tests/sim/sim_main.c — the simulator's seed runner.
 *
 *   sim --seeds N [--first S]   run seeds S .. S+N-1 (default S = 1)
 *   sim --seed S [--verbose]    replay one seed, printing its whole trace
 *   sim --story                 a 3-node cluster through a few faults, told
 *                               as trace lines (what `make run` shows)
 *
 * A failing seed prints `seed S: <violation>`, the last trace lines before
 * it and how to replay it. Ends with `sim: P passed, F failed`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/cluster.h"

struct totals {
	uint64_t elections, crashes, snapshots, changes, ops;
};

static bool run_seed(uint64_t seed, bool verbose, struct totals *t)
{
	struct cl_params p;
	cluster_params(seed, &p);
	struct cluster *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	cluster_init(c, seed, &p, verbose);
	bool ok = cluster_run(c);
	if (!ok && !verbose) {
		printf("seed %llu: %s\n", (unsigned long long)seed, c->why);
		printf("  last trace lines:\n");
		for (uint32_t i = 0; i < CL_TRACE_RING; i++) {
			const char *line = c->ring[(c->ring_next + i) % CL_TRACE_RING];
			if (line[0])
				printf("    %s\n", line);
		}
		printf("  replay: make sim SEED=%llu  (or build/asan/sim --seed %llu --verbose)\n",
		       (unsigned long long)seed, (unsigned long long)seed);
	}
	if (verbose)
		printf("seed %llu: %s (%zu client operations, %llu elections, %llu crashes, "
		       "%llu snapshots sent, %llu membership changes)\n",
		       (unsigned long long)seed, ok ? "ok" : c->why, c->n_hist,
		       (unsigned long long)c->n_elections, (unsigned long long)c->n_crashes,
		       (unsigned long long)c->n_snapshots_sent, (unsigned long long)c->n_changes);
	t->elections += c->n_elections;
	t->crashes += c->n_crashes;
	t->snapshots += c->n_snapshots_sent;
	t->changes += c->n_changes;
	t->ops += c->n_hist;
	cluster_free(c);
	free(c);
	fflush(stdout);
	return ok;
}

/* The story: scripted faults on a 3-node cluster, every trace line shown. */
static int run_story(void)
{
	struct cl_params p;
	cluster_params(7, &p);
	p.nodes = 3;
	p.clients = 2;
	p.keys = 2;
	p.chaos_ticks = 320;
	p.net = (struct net_faults){.drop_pct = 0, .dup_pct = 0, .delay_min = 1, .delay_max = 5};
	p.crash_permille = p.pause_permille = p.partition_permille = 0;
	p.change_permille = p.transfer_permille = 0;
	p.fsync_fail_pct = 0;
	p.sync_delay_max = 3;
	p.opts.pre_vote = p.opts.check_quorum = true;
	p.opts.snapshot_entries = 40;
	p.opts.trailing_entries = 5;
	p.opts.snapshot_chunk_bytes = 64;
	struct cluster *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	printf("keel: a simulated 3-node cluster (no server yet: the Raft core, a simulated\n"
	       "network and disk, two clients). Time is ticks.steps; a tick is ~10 ms.\n\n");
	cluster_init(c, 7, &p, true);
	c->quiet = true;
	raft_id cut = 0;
	while (!c->failed && c->now < p.chaos_ticks * CL_STEPS_PER_TICK) {
		cluster_step(c);
		uint64_t tick = c->now / CL_STEPS_PER_TICK;
		if (c->now % CL_STEPS_PER_TICK)
			continue;
		if (tick == 80 && (cut = cluster_leader(c))) {
			cluster_log(c, "story: cut the leader (%llu) off from the others",
				    (unsigned long long)cut);
			cluster_partition(c, &cut, 1, false);
		}
		if (tick == 160)
			cluster_heal(c);
		if (tick == 160)
			cluster_log(c, "story: heal the partition");
		if (tick == 200 && cluster_leader(c)) {
			raft_id f = cluster_leader(c) % 3 + 1;
			cluster_log(c, "story: crash follower %llu for 100 ticks",
				    (unsigned long long)f);
			cluster_crash(c, f, 100 * CL_STEPS_PER_TICK);
		}
	}
	bool ok = cluster_finish(c);
	printf("\nstory: %s — %zu client operations checked linearizable, %llu elections, "
	       "%llu snapshots sent\n",
	       ok ? "ok" : c->why, c->n_hist, (unsigned long long)c->n_elections,
	       (unsigned long long)c->n_snapshots_sent);
	cluster_free(c);
	free(c);
	return ok ? 0 : 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: sim --seeds N [--first S] | --seed S [--verbose] | --story\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t seeds = 0, first = 1;
	bool one = false, verbose = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
			seeds = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--first") && i + 1 < argc)
			first = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			first = strtoull(argv[++i], NULL, 10), seeds = 1, one = true;
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--story"))
			return run_story();
		else
			return usage();
	}
	if (!seeds)
		return usage();
	struct totals t = {0};
	uint64_t passed = 0, failed = 0;
	time_t start = time(NULL);
	for (uint64_t s = first; s < first + seeds; s++) {
		if (run_seed(s, one && verbose, &t))
			passed++;
		else
			failed++;
	}
	printf("sim: %llu passed, %llu failed (seeds %llu..%llu, %llds; %llu client ops, "
	       "%llu elections, %llu crashes, %llu snapshots sent, %llu membership changes)\n",
	       (unsigned long long)passed, (unsigned long long)failed, (unsigned long long)first,
	       (unsigned long long)(first + seeds - 1), (long long)(time(NULL) - start),
	       (unsigned long long)t.ops, (unsigned long long)t.elections,
	       (unsigned long long)t.crashes, (unsigned long long)t.snapshots,
	       (unsigned long long)t.changes);
	return failed ? 1 : 0;
}
