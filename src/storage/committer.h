/* storage/committer.h — group commit on a storage thread. The event loop
 * submits batches (each an update's persist part, copied) and goes on; the
 * storage thread writes every batch that is queued, then one storage_sync
 * covers them all, so batches that arrive while a write+fdatasync is in
 * progress are made durable together by the next one. After each group it
 * publishes the highest durable sequence number and calls wake() (the
 * loop's wake-up: a uv_async_send, a condition variable). Nothing is
 * published before the fdatasync that covers it returns; after a storage
 * error nothing more is, ever (fail-stop).
 *
 * Manual mode (committer_start_manual), for a node embedded in the
 * whole-node simulator: no thread. Each submit calls queued() instead of
 * waking one, and the embedder later calls committer_step, which runs
 * everything queued as one group with the same code the thread runs,
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
	uint64_t groups;  /* syncs */
	uint64_t batches; /* batches made durable */
	uint64_t bytes;	  /* entry payload bytes made durable */
};

/* Starts the thread; the storage is its alone until committer_stop. wake
 * is called on the storage thread (it must be thread-safe and quick). */
int committer_start(struct storage *st, void (*wake)(void *ctx), void *ctx, struct committer **out,
		    struct keel_errmsg *err);
/* No thread: queued(queued_ctx, c) is called at each submit (after it is
 * queued; it should only schedule a committer_step), and wake(wake_ctx) at
 * the end of each step. */
int committer_start_manual(struct storage *st, void (*wake)(void *ctx), void *wake_ctx,
			   void (*queued)(void *ctx, struct committer *c), void *queued_ctx,
			   struct committer **out, struct keel_errmsg *err);
/* Manual mode: writes and syncs everything queued as one group, publishes
 * the durable sequence number (or the failure), calls wake. False (and
 * nothing happens) if nothing is queued or the storage has failed. */
bool committer_step(struct committer *c);
/* Stops after the queued work is done (or failed) and joins the thread;
 * in manual mode the queue is written here, without a wake. */
void committer_stop(struct committer *c);
/* Frees it without writing what is queued (a crash): in manual mode at
 * once; with a thread, after the group it is writing, if any. */
void committer_discard(struct committer *c);

/* Queues a copy of the batch; returns its sequence number (1, 2, ...). */
uint64_t committer_submit(struct committer *c, const struct storage_batch *b);
/* Queues adopting a snapshot another process wrote with snap_write_tmp
 * (storage_adopt_snapshot); returns its sequence number. */
uint64_t committer_adopt_snapshot(struct committer *c, const struct snap_meta *m);
/* The highest durable sequence number; *failed the error that stopped the
 * storage (KEEL_OK if none), with its message in *err if not NULL. */
uint64_t committer_durable(struct committer *c, int *failed, struct keel_errmsg *err);
/* Blocks until seq is durable (KEEL_OK) or the storage has failed; in
 * manual mode it steps the queue itself (KEEL_EINVAL if seq was never
 * submitted). */
int committer_wait(struct committer *c, uint64_t seq);
void committer_stats(struct committer *c, struct committer_stats *s);

#endif
