/* storage/committer.h — group commit on a storage thread. The event loop
 * submits batches (each an update's persist part, copied) and goes on; the
 * storage thread writes every batch that is queued, then one storage_sync
 * covers them all, so batches that arrive while a write+fdatasync is in
 * progress are made durable together by the next one. After each group it
 * publishes the highest durable sequence number and calls wake() (the
 * loop's wake-up: a uv_async_send, a condition variable). Nothing is
 * published before the fdatasync that covers it returns; after a storage
 * error nothing more is, ever (fail-stop). */
#ifndef KEEL_STORAGE_COMMITTER_H
#define KEEL_STORAGE_COMMITTER_H

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
/* Stops after the queued work is done (or failed) and joins the thread. */
void committer_stop(struct committer *c);

/* Queues a copy of the batch; returns its sequence number (1, 2, ...). */
uint64_t committer_submit(struct committer *c, const struct storage_batch *b);
/* Queues adopting a snapshot another process wrote with snap_write_tmp
 * (storage_adopt_snapshot); returns its sequence number. */
uint64_t committer_adopt_snapshot(struct committer *c, const struct snap_meta *m);
/* The highest durable sequence number; *failed the error that stopped the
 * storage (KEEL_OK if none), with its message in *err if not NULL. */
uint64_t committer_durable(struct committer *c, int *failed, struct keel_errmsg *err);
/* Blocks until seq is durable (KEEL_OK) or the storage has failed. */
int committer_wait(struct committer *c, uint64_t seq);
void committer_stats(struct committer *c, struct committer_stats *s);

#endif
