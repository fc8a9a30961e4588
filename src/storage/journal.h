/* storage/journal.h — one file of a node that makes several storages'
 * appends durable with one fdatasync. The storage thread (committer.h)
 * writes a pass's entries to each storage's log without syncing them and
 * the same entries, as one record, here; one fdatasync of this file then
 * makes the whole pass durable. The logs are synced later, all at once
 * (a checkpoint: before any change to a log other than an append, when
 * the file is full, at a clean stop), and the file then starts again
 * empty. Until then this file is the durable copy of every journaled
 * append since the last checkpoint, in the order they were made.
 *
 * Recovery (journal_recover) opens each storage a record names, appends the
 * entries its log lacks (a log a crash cut short, or left with a damaged
 * unsynced tail that the journal covers), syncs it and closes it, before
 * any group opens its storage. A journaled entry already in the log must
 * carry the same term there, and the entries must follow the log without
 * a gap: anything else is refused with the storage and the index.
 *
 * FORMAT: records from offset 0, each 8-byte aligned, little-endian:
 *   0  4 magic "KJR1"
 *   4  4 crc32c of bytes 8 .. 24+len
 *   8  8 generation (the file's first record sets it; a record of
 *        another generation, a bad checksum or a zero magic ends the data;
 *        a start's first is random: journal_create)
 *   16 4 len, of the sections that follow
 *   20 4 number of sections
 *   24 sections: u16 name length, the storage's folder (relative to the
 *      journal's folder, "." for the folder itself), u32 n, then n
 *      entries: u64 term, u64 index, u8 type, u32 length, payload.
 * A checkpoint writes a record of no section of the next generation at
 * offset 0. Each start writes the file afresh (zeros past that record),
 * so no record of an older run is ever read as current. */
#ifndef KEEL_STORAGE_JOURNAL_H
#define KEEL_STORAGE_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "io/fs.h"
#include "storage/storage.h"
#include "storage/wal.h"

#define JOURNAL_FILE	      "journal"
#define JOURNAL_BYTES_DEFAULT (16u << 20)

struct journal;

/* What recovery did. */
struct journal_replayed {
	uint32_t records;  /* records read */
	uint32_t storages; /* storages opened */
	uint64_t appended; /* entries their logs lacked */
};

/* Replays dir/journal, if there is one, into the storages it names, each
 * opened with o (a repair allowed only inside what the journal holds),
 * then removes it: before any of those storages is opened. */
int journal_recover(const struct io_fs *fs, const char *dir, const struct storage_options *o,
		    struct journal_replayed *did, struct keel_errmsg *err);
/* Creates dir/journal afresh, bytes long, empty (dir must exist); its
 * generations count up from gen + 1. A server draws gen at random: the
 * bytes past the last record of a generation are an older one's, a
 * client's values among them, and a record the scan would take must
 * carry the current generation, which a value cannot foresee. */
int journal_create(const struct io_fs *fs, const char *dir, uint64_t bytes, uint64_t gen,
		   struct journal **out, struct keel_errmsg *err);
void journal_close(struct journal *j);

/* Adds a storage's entries to the record being built. */
void journal_add(struct journal *j, const char *storage_dir, const struct wal_entry *e, uint32_t n);
/* Whether the record built fits in what is left of the file, and whether
 * it would fit in an empty one. */
bool journal_fits(const struct journal *j);
bool journal_fits_empty(const struct journal *j);
/* Writes the record built and syncs the file (the record is then
 * durable). */
int journal_commit(struct journal *j, struct keel_errmsg *err);
/* Drops the record built without writing it. */
void journal_discard(struct journal *j);
/* A checkpoint: every storage journaled since the last one is synced;
 * the file starts a new generation, empty. */
int journal_reset(struct journal *j, struct keel_errmsg *err);

/* The scan of recovery over a file's bytes, for tests and fuzzing: calls
 * each(ctx, name, entry) for every journaled entry in order; returns the
 * records read, or -1 with *err if a record whose checksum holds is
 * malformed (KEEL_ECORRUPT). */
int64_t journal_scan(const uint8_t *p, uint64_t len,
		     int (*each)(void *ctx, const char *name, const struct wal_entry *e), void *ctx,
		     struct keel_errmsg *err);

#endif
