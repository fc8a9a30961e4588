/* tests/sim/cluster.h — a whole simulated cluster in one process, driven by
 * one 64-bit seed: nodes (sim/node.h) on a simulated network (sim/net.h),
 * a clock in steps (a Raft tick every CL_STEPS_PER_TICK steps), faults
 * (crashes and restarts, pauses, partitions, failing syncs), membership
 * changes, leadership transfers, clients (sim/client.c) and the checkers
 * (sim/check.c) that run after every step. */
#ifndef KEEL_TESTS_SIM_CLUSTER_H
#define KEEL_TESTS_SIM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/prng.h"
#include "raft/raft.h"
#include "sim/linearize.h"
#include "sim/net.h"
#include "sim/node.h"

#define CL_STEPS_PER_TICK 10
#define CL_NODES_MAX	  32 /* node ids 1 .. CL_NODES_MAX - 1, never reused */
#define CL_CLIENTS_MAX	  8
#define CL_TRACE_RING	  64

/* What a seed's run looks like: drawn from the seed (cluster_params). */
struct cl_params {
	uint32_t nodes; /* founding voters: 1, 3 or 5 */
	uint32_t clients;
	uint32_t keys;
	uint64_t chaos_ticks; /* faults happen during this many ticks */
	struct net_faults net;
	uint32_t crash_permille; /* per tick, chance of some node crashing */
	uint32_t pause_permille;
	uint32_t partition_permille;
	uint32_t change_permille; /* membership changes */
	uint32_t transfer_permille;
	uint32_t fsync_fail_pct;
	uint64_t sync_delay_max; /* steps */
	uint64_t snapshot_delay_max;
	struct raft_options opts;
};

struct cl_client {
	uint32_t id;
	bool waiting;
	uint64_t next_at; /* when it sends its next operation */
	raft_id node;	  /* where the pending op went */
	raft_id hint;	  /* who it believes leads */
	size_t op;	  /* its pending op in the history */
	raft_index index; /* pending write: where it was proposed */
	raft_term term;
	uint64_t req_id; /* pending read */
	uint32_t ok_after_heal;
};

/* Per node, what the checkers remember. */
struct cl_watch {
	uint32_t life;	   /* restarts seen */
	raft_index commit; /* last commit index seen in this life */
	raft_index applied;
	raft_term leader_checked; /* leader completeness checked for this term */
	raft_term vote_term;	  /* the latest term it granted a vote in ... */
	raft_id vote_for;	  /* ... and to whom (across restarts) */
	struct raft_config cfg;	  /* the latest configuration in its log */
};

struct cl_committed { /* what the cluster knows was committed at an index */
	raft_term term;
	uint32_t crc;
	bool known;
};

struct cluster {
	uint64_t seed;
	struct prng prng;
	struct cl_params p;
	uint64_t now; /* steps */
	struct net net;
	struct node nodes[CL_NODES_MAX];
	bool exists[CL_NODES_MAX];	    /* ever created, not yet retired */
	bool retired[CL_NODES_MAX];	    /* removed from the cluster and shut down */
	bool joined[CL_NODES_MAX];	    /* in a committed configuration once */
	uint64_t retire_at[CL_NODES_MAX];   /* removed: shut down at (0: no) */
	uint64_t pause_until[CL_NODES_MAX]; /* paused until (0: running) */
	uint64_t down_until[CL_NODES_MAX];  /* crashed: restart at (0: up) */
	struct net_msg *held;		    /* messages waiting for a paused node */
	uint32_t n_held, cap_held;
	raft_id next_id;
	struct raft_config boot;    /* the founding configuration */
	struct raft_config members; /* the latest committed configuration */
	raft_index members_index;
	bool healed;
	bool clients_stopped;
	bool partitioned;
	uint64_t healed_at;
	uint64_t leader_seen_at;
	/* clients and their history */
	struct cl_client clients[CL_CLIENTS_MAX];
	struct lin_op *hist;
	size_t n_hist, cap_hist;
	uint64_t next_op_id;
	int64_t last_value[REGS_KEYS]; /* per key, the latest value seen (CAS guesses) */
	/* checkers */
	struct cl_watch watch[CL_NODES_MAX];
	raft_id *leader_of_term;
	size_t n_terms;
	struct cl_committed *committed;
	size_t n_committed;
	raft_index max_commit;
	/* outcome */
	bool failed;
	char why[512];
	bool verbose;
	bool quiet;   /* verbose, but without per-entry commit lines */
	char ring[CL_TRACE_RING][TRACE_LINE_MAX];
	uint32_t ring_next;
	/* figures */
	uint64_t n_elections, n_crashes, n_snapshots_sent, n_changes;
};

void cluster_params(uint64_t seed, struct cl_params *p);
void cluster_init(struct cluster *c, uint64_t seed, const struct cl_params *p, bool verbose);
void cluster_free(struct cluster *c);
/* Runs the whole seed: chaos, heal, liveness, final checks. True if no
 * violation was found (else c->why says what). */
bool cluster_run(struct cluster *c);
/* The end of a run: heal every fault, then check liveness (a leader within
 * 10 election timeouts, every client answered), convergence and the
 * linearizability of the history. */
bool cluster_finish(struct cluster *c);

/* Pieces used by the run and by the story. */
void cluster_step(struct cluster *c);
void cluster_crash(struct cluster *c, raft_id id, uint64_t down_steps);
void cluster_restart(struct cluster *c, raft_id id);
void cluster_partition(struct cluster *c, const raft_id *side, uint32_t n, bool one_way);
void cluster_heal(struct cluster *c);
/* Creates and starts a node with an empty disk (to be added). */
void cluster_add_node(struct cluster *c, raft_id id);
bool cluster_live(const struct cluster *c, raft_id id); /* up, not removed */
raft_id cluster_leader(const struct cluster *c);
void cluster_log(struct cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cluster_fail(struct cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sim/client.c */
void client_init(struct cluster *c);
void client_step(struct cluster *c);
void client_on_applied(struct cluster *c, struct node *n, const struct raft_entry *e, int64_t out);
void client_on_read(struct cluster *c, struct node *n, uint64_t req_id, int status);
void client_on_crash(struct cluster *c, raft_id id);
bool client_all_done(struct cluster *c);
bool client_check_history(struct cluster *c);

/* sim/fault.c */
void fault_tick(struct cluster *c);

/* sim/check.c */
void check_update(struct cluster *c, struct node *n, const struct raft_update *u);
void check_send(struct cluster *c, struct node *n, const struct raft_msg *m);
void check_started(struct cluster *c, struct node *n);
void check_applied(struct cluster *c, struct node *n, const struct raft_entry *e);
void check_step(struct cluster *c, bool deep);
void check_converged(struct cluster *c);
void check_free(struct cluster *c);

#endif
