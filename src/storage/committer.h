/* storage/committer.h — group commit on one storage thread for all of a
 * node's storages (one per Raft group, each its own folder and log). The
 * event loop submits batches (each an update's persist part, copied),
 * each naming its storage, and goes on; the storage thread takes every
 * job that is queued (a pass), writes each to its storage in submit
 * order, then calls storage_sync once for each storage the pass wrote,
 * in the order first written: batches that arrive while a pass is in
 * progress are made durable together by the next one, one fdatasync per
 * storage. Only after every one of those syncs succeeded does it publish
 * the pass's last sequence number and call wake() (the loop's wake-up: a
 * uv_async_send, a condition variable). Sequence numbers are one counter
 * over all storages, so "durable >= seq" holds for a job of any of them.
 * Nothing is published before the fdatasync that covers it returns; after
 * an error of any storage nothing more is, ever, for any (fail-stop), and
 * that storage's error message is kept.
 *
 * The committer is started without a storage (a node's groups come and
 * go; none is special). A storage named in a job is the thread's alone
 * from the submit until committer_durable covers that job (or the
 * committer is stopped or discarded): it must stay open that long.
 *
 * Manual mode (committer_start_manual), for a node embedded in the
 * whole-node simulator: no thread. Each submit calls queued() instead of
 * waking one, and the embedder later calls committer_step, which runs
 * everything queued as one pass with the same code the thread runs,
 * publishes, and calls wake(); committer_discard drops what is queued
 * unwritten (the process crashed). Everything happens on the caller's
 * thread. */
#ifndef KEEL_STORAGE_COMMITTER_H
#define KEEL_STORAGE_COMMITTER_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/storage.h"

struct committer;

struct committer_stats {
	uint64_t groups;  /* passes made durable */
	uint64_t batches; /* batches made durable */
	uint64_t bytes;	  /* entry payload bytes made durable */
	uint64_t syncs;	  /* storage_sync calls and journal records of those passes */
	uint64_t journaled;   /* passes made durable by a record of the journal */
	uint64_t checkpoints; /* times the journal was emptied */
};

/* Starts the thread. wake is called on the storage thread (it must be
 * thread-safe and quick). */
int committer_start(void (*wake)(void *ctx), void *ctx, struct committer **out,
		    struct keel_errmsg *err);
/* No thread: queued(queued_ctx, c) is called at each submit (after it is
 * queued; it should only schedule a committer_step), and wake(wake_ctx) at
 * the end of each step. */
int committer_start_manual(void (*wake)(void *ctx), void *wake_ctx,
			   void (*queued)(void *ctx, struct committer *c), void *queued_ctx,
			   struct committer **out, struct keel_errmsg *err);
/* Manual mode: writes and syncs everything queued as one pass, publishes
 * the durable sequence number (or the failure), calls wake. False (and
 * nothing happens) if nothing is queued or a storage has failed. */
bool committer_step(struct committer *c);
/* Stops after the queued work is done (or failed) and joins the thread;
 * in manual mode the queue is written here, without a wake. */
void committer_stop(struct committer *c);
/* Frees it without writing what is queued (a crash): in manual mode at
 * once; with a thread, after the group it is writing, if any. */
void committer_discard(struct committer *c);

/* From now on a pass that wrote more than one storage, only appending
 * (and hard states), is made durable by one record of j (storage/
 * journal.h) instead of a sync of each; the journal is emptied before a
 * job that rewrites a log (truncation, install, purge, adopted snapshot),
 * when it is full, and at committer_stop. Before the first submit; the
 * committer owns j from then on. */
struct journal;
void committer_use_journal(struct committer *c, struct journal *j);

/* From now on a submit does not wake the thread: committer_kick does.
 * For an event loop that submits the batches of several groups during
 * one pass of its loop and kicks at the pass's end, so that they are
 * written and synced together (a follower's entries of two leaders
 * arrive in one pass as two frames). No effect in manual mode. */
void committer_defer(struct committer *c);
/* Wakes the thread if anything is queued. */
void committer_kick(struct committer *c);

/* Queues a copy of the batch for storage st; returns its sequence number
 * (1, 2, ..., one counter over all storages). */
uint64_t committer_submit(struct committer *c, struct storage *st, const struct storage_batch *b);
/* Queues adopting, in st, a snapshot another process wrote with
 * snap_write_tmp (storage_adopt_snapshot); returns its sequence number. */
uint64_t committer_adopt_snapshot(struct committer *c, struct storage *st,
				  const struct snap_meta *m);
/* The highest durable sequence number (of every storage); *failed the
 * error that stopped the committer (KEEL_OK if none), with the failing
 * storage's message in *err if not NULL. */
uint64_t committer_durable(struct committer *c, int *failed, struct keel_errmsg *err);
/* Blocks until seq is durable (KEEL_OK) or a storage has failed; in
 * manual mode it steps the queue itself (KEEL_EINVAL if seq was never
 * submitted). */
int committer_wait(struct committer *c, uint64_t seq);
void committer_stats(struct committer *c, struct committer_stats *s);

#endif
