/* tests/sim/node.h — one simulated node: the real Raft core, embedded the
 * way a server embeds it, over the real storage on a simulated disk
 * (sim/persist.h, checked against the model of sim/store.h) and the small
 * state machine (sim/regs.h). It carries out each update by the
 * contract in raft/raft.h: persist asynchronously (a sync completes after a
 * delay, or fails), send msgs_now at once and msgs only once durable, apply
 * committed entries, answer reads once applied, take snapshots in the
 * background. The owner (the cluster, or the scenario runner) sees what
 * happens through the callbacks of struct node_env. */
#ifndef KEEL_TESTS_SIM_NODE_H
#define KEEL_TESTS_SIM_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/prng.h"
#include "raft/raft.h"
#include "sim/regs.h"
#include "sim/persist.h"
#include "sim/store.h"

struct node;

struct node_env {
	void *ctx;
	/* A message leaves the node (snapshot data filled in). */
	void (*send)(void *ctx, struct node *n, const struct raft_msg *m);
	/* Called with every update before it is carried out (checks). */
	void (*update)(void *ctx, struct node *n, const struct raft_update *u);
	/* An entry was applied; out is the state machine's result. */
	void (*applied)(void *ctx, struct node *n, const struct raft_entry *e, int64_t out);
	/* A read may be answered now (status KEEL_OK: from n->kv) or failed. */
	void (*read)(void *ctx, struct node *n, uint64_t req_id, int status);
	/* The node stopped itself (a storage error). */
	void (*stopped)(void *ctx, struct node *n);
};

struct node_sync { /* an update's persist part, waiting for its sync */
	uint64_t batch;
	uint64_t due;
	raft_index last_index; /* of its entries, 0 if none */
	raft_term last_term;
	struct raft_msg *msgs; /* held until durable (deep copies) */
	uint32_t n_msgs;
};

struct node_read {
	uint64_t req_id;
	raft_index index;
};

struct node {
	raft_id id;
	struct raft *r; /* NULL while down */
	struct store store;     /* the model of what is durable */
	struct persist persist; /* the real storage on the simulated disk */
	struct regs kv;
	struct node_env env;
	struct raft_options opts;
	uint64_t seed;
	struct prng prng;
	/* I/O timing, in simulator steps. sync_delay_max 0: synchronous. */
	uint64_t sync_delay_max;
	uint32_t fsync_fail_pct; /* per sync, in percent */
	uint64_t snapshot_delay_max;
	/* In-flight work. */
	struct node_sync *syncs;
	uint32_t n_syncs, cap_syncs;
	struct node_read *reads;
	uint32_t n_reads, cap_reads;
	bool snapping;
	uint64_t snap_due;
	struct raft_snapshot_meta snap_meta;
	uint8_t *snap_data;
	uint8_t *incoming; /* the snapshot being received, as chunks arrive */
	uint64_t incoming_size;
	uint64_t now;
	uint32_t restarts;
};

/* Sets the node up (down, empty disk); node_start brings it up. */
void node_init(struct node *n, raft_id id, const struct raft_options *o, uint64_t seed,
	       const struct node_env *env);
void node_free(struct node *n);
/* Starts the core from the disk (bootstrap: the founding configuration, for
 * a founding node; NULL for one that joins or restarts). */
int node_start(struct node *n, const struct raft_config *bootstrap);
/* Crash: the process dies; unsynced writes are partly lost (all of them
 * with lose_all). */
void node_crash(struct node *n, bool lose_all);
/* Carries out every update the core has. */
void node_process(struct node *n);
/* Advances the node's clock: completes due syncs and snapshots. */
void node_advance(struct node *n, uint64_t now);
/* True when the node has I/O in flight. */
bool node_busy(const struct node *n);
static inline bool node_up(const struct node *n)
{
	return n->r != NULL;
}

#endif
