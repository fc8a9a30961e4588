/* storage/storage.h — a node's durable state in one data folder: the log
 * (storage/wal.h), the hard state (storage/hardstate.h) and snapshots
 * (storage/snapfile.h). storage_open recovers it; storage_write carries
 * out the persist part of one update, in the order the embedder's contract
 * gives; storage_sync makes it durable. Knows no Raft rules: records are
 * tagged (index, term), the snapshot metadata is opaque bytes.
 *
 * Fail-stop: after any error from the disk every call returns that error;
 * the node stops and is restarted from what is durable. A failed fdatasync
 * is never retried (the kernel may have dropped the pages). */
#ifndef KEEL_STORAGE_STORAGE_H
#define KEEL_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "io/fs.h"
#include "storage/snapfile.h"
#include "storage/wal.h"

/* What recovery found. */
struct storage_loaded {
	uint64_t term, vote;
	bool has_snap;
	struct snap_meta snap;
	uint8_t *snap_data;        /* checksum verified */
	struct wal_entry *entries; /* every entry after the snapshot, in order */
	uint32_t n_entries;
	bool repaired;             /* a damaged suffix was discarded */
	struct wal_damage damage;  /* what was discarded (or refused) */
};

struct storage_options {
	struct wal_options wal;
	uint32_t snapshots_kept; /* at least 1 */
	bool repair;             /* allow discarding a damaged log suffix */
	/* Asked before a repair discards anything; KEEL_OK allows it. With
	 * NULL, or any other answer, the open fails and the disk is left as
	 * it was. *l holds what would remain. */
	int (*may_repair)(void *ctx, const struct storage_loaded *l, struct keel_errmsg *why);
	void *repair_ctx;
};

void storage_options_default(struct storage_options *o);

/* One update's persist part (see raft/raft.h's contract, step 1). */
struct storage_batch {
	bool hs;
	uint64_t term, vote;
	const struct snap_meta *chunk_meta; /* NULL: no chunk */
	uint64_t chunk_offset;
	const uint8_t *chunk_data;
	uint32_t chunk_len;
	const struct snap_meta *install;    /* NULL: none */
	uint64_t truncate_from;             /* 0: none */
	const struct wal_entry *entries;
	uint32_t n_entries;
	uint64_t purge_below;               /* 0: none */
};

struct storage;

int storage_open(const struct io_fs *fs, const char *dir, const struct storage_options *o,
		 struct storage **out, struct keel_errmsg *err);
void storage_close(struct storage *s);
/* The recovered state; valid until storage_loaded_release or close. */
const struct storage_loaded *storage_loaded(const struct storage *s);
void storage_loaded_release(struct storage *s);

/* Carries out a batch: the hard state, a snapshot install and a truncation
 * are durable when it returns; entries are buffered (storage_flush writes
 * them, storage_sync makes everything durable). */
int storage_write(struct storage *s, const struct storage_batch *b, struct keel_errmsg *err);
int storage_flush(struct storage *s, struct keel_errmsg *err);
int storage_sync(struct storage *s, struct keel_errmsg *err);
/* Saves a snapshot this node took (after syncing what came before). */
int storage_save_snapshot(struct storage *s, const struct snap_meta *m, const uint8_t *data,
			  struct keel_errmsg *err);
/* The same for a snapshot another process wrote with snap_write_tmp:
 * renamed into place (after syncing what came before). */
int storage_adopt_snapshot(struct storage *s, const struct snap_meta *m, struct keel_errmsg *err);
/* The newest snapshot, or NULL; and reads of its data (to send it). */
const struct snap_meta *storage_snapshot(const struct storage *s);
int storage_snapshot_read(struct storage *s, uint64_t off, void *buf, uint64_t len,
			  struct keel_errmsg *err);
/* Reads entries [from, to] back from disk, checksums verified (the recent
 * ones are in the Raft core's memory; this is for older ones). Free *out
 * and *mem with keel_free. */
int storage_read(struct storage *s, uint64_t from, uint64_t to, struct wal_entry **out,
		 uint8_t **mem, struct keel_errmsg *err);
/* The log's range (empty when last < first). */
uint64_t storage_first(const struct storage *s);
uint64_t storage_last(const struct storage *s);
/* The folder it was opened in, as given. */
const char *storage_dir(const struct storage *s);
/* KEEL_OK, or the error that stopped it. */
int storage_failed(const struct storage *s);

#endif
