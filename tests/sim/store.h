/* tests/sim/store.h — a node's simulated disk: what the Raft update contract
 * asks to persist (hard state, incoming snapshot chunks, snapshot install,
 * truncation, entries, purge), held as a durable image plus a queue of
 * unsynced batches. A batch becomes durable when synced, in order. It is
 * the model the real storage (sim/persist.h) is checked against: what it
 * holds as durable must survive any crash. */
#ifndef KEEL_TESTS_SIM_STORE_H
#define KEEL_TESTS_SIM_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/prng.h"
#include "raft/raft.h"

/* One write of the contract's step 1 (one update's worth is a batch). */
enum store_op_kind {
	STORE_HS = 1,
	STORE_CHUNK,
	STORE_INSTALL,
	STORE_TRUNCATE,
	STORE_ENTRY,
	STORE_PURGE,
	STORE_OWN_SNAPSHOT, /* a snapshot this node took of its state machine */
};

struct store_op {
	uint8_t kind;
	raft_term term;			/* HS */
	raft_id vote;			/* HS */
	raft_index index;		/* TRUNCATE from, PURGE below */
	struct raft_entry entry;	/* ENTRY (data owned) */
	struct raft_snapshot_meta meta; /* CHUNK, INSTALL, OWN_SNAPSHOT */
	uint64_t offset;		/* CHUNK */
	uint8_t *data;			/* CHUNK, OWN_SNAPSHOT (owned) */
	uint32_t len;
	uint64_t batch; /* which batch it belongs to */
};

struct store {
	/* The durable image. */
	raft_term term;
	raft_id vote;
	bool has_snap;
	struct raft_snapshot_meta snap;
	uint8_t *snap_data;
	uint8_t *incoming; /* the snapshot being received */
	uint64_t incoming_len;
	struct raft_entry *log; /* contiguous, first at log_first */
	uint32_t n_log, cap_log;
	/* Unsynced writes, oldest first. */
	struct store_op *pending;
	uint32_t n_pending, cap_pending;
	uint64_t next_batch;
	uint64_t synced_batch; /* every batch <= this is durable */
};

void store_init(struct store *s);
void store_free(struct store *s);
/* Queues the persist part of an update as one batch; returns its number. */
uint64_t store_queue_update(struct store *s, const struct raft_update *u);
/* Queues a snapshot the node took (its own batch); returns its number. */
uint64_t store_queue_snapshot(struct store *s, const struct raft_snapshot_meta *m,
			      const uint8_t *data);
/* Makes every batch <= upto durable. */
void store_sync(struct store *s, uint64_t upto);
/* A crash, as the model sees it: every unsynced write is lost (the real
 * disk may keep some; sim/persist.h reconciles the two). */
void store_drop_unsynced(struct store *s);
/* Replaces the durable image (after a recovery); deep copies. */
void store_reset(struct store *s, raft_term term, raft_id vote,
		 const struct raft_snapshot_meta *snap, const uint8_t *snap_data,
		 const struct raft_entry *entries, uint32_t n);
/* Fills *init's durable fields (term, vote, snapshot, entries) from the image;
 * the pointers stay valid until the store changes. */
void store_load(const struct store *s, struct raft_init *init);
/* The entry at index in the durable image, or NULL. */
const struct raft_entry *store_entry(const struct store *s, raft_index index);

#endif
