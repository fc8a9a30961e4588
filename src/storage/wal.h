/* storage/wal.h — the write-ahead log: records tagged (index, term) in
 * segment files, appended in order, made durable by wal_sync (one
 * fdatasync covers every record written since the last), truncated at the
 * end (a conflict) and purged at the front (after a snapshot) without
 * rewriting live data, and scanned on open (recovery). The byte format is
 * at the top of wal.c and in docs/storage-format.md. Knows no Raft rules. */
#ifndef KEEL_STORAGE_WAL_H
#define KEEL_STORAGE_WAL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "io/fs.h"

/* Payloads above this are refused (KEEL_ETOOBIG) and read back as corrupt. */
#define WAL_PAYLOAD_MAX (64u << 20)

struct wal_entry {
	uint64_t term;
	uint64_t index;
	uint8_t type; /* 1..255, the embedder's; 0 is never written */
	uint32_t len;
	const uint8_t *data;
};

struct wal_options {
	uint64_t segment_bytes;	 /* size of a segment, preallocated as it fills */
	uint64_t prealloc_bytes; /* the step it is preallocated by (0: 1 MiB) */
};

/* Where recovery found the log damaged before its tail. */
struct wal_damage {
	bool found;
	char file[64];
	uint64_t offset;      /* of the first bad record in file */
	uint64_t first_bad;   /* first index that cannot be trusted */
	uint64_t last_seen;   /* the highest index recovery saw (>= first_bad - 1) */
};

struct wal;

/* Opens (creating dir if needed) and recovers the log: a torn or garbage
 * tail of the last segment is cut away. Damage before the tail (a bad
 * record in a closed segment, or one followed by valid records) fails with
 * KEEL_ECORRUPT naming file and offset, and fills *dmg. With repair, the
 * open succeeds with *dmg filled and the log ending before the damage, but
 * nothing changes on disk (and nothing may be appended) until wal_repair
 * discards the damaged suffix: the caller decides in between. */
int wal_open(const struct io_fs *fs, const char *dir, const struct wal_options *o, bool repair,
	     struct wal **out, struct wal_damage *dmg, struct keel_errmsg *err);
int wal_repair(struct wal *w, struct keel_errmsg *err);
void wal_close(struct wal *w);

/* The range held: empty when last < first (first is then the next index). */
uint64_t wal_first(const struct wal *w);
uint64_t wal_last(const struct wal *w);

/* Appends (buffered; wal_flush writes, wal_sync makes durable). Each index
 * must follow the last; an empty log takes any index. */
int wal_append(struct wal *w, const struct wal_entry *e, uint32_t n, struct keel_errmsg *err);
/* Writes what is buffered to the segment files (not yet durable). */
int wal_flush(struct wal *w, struct keel_errmsg *err);
/* Makes everything appended durable: flush, fdatasync, and the folder's
 * fsync when segments were created, renamed or removed. */
int wal_sync(struct wal *w, struct keel_errmsg *err);
/* Removes every entry with index >= from, durably, before returning (so
 * that later appends can never be followed by stale records on disk). */
int wal_truncate(struct wal *w, uint64_t from, struct keel_errmsg *err);
/* Entries below `below` may go: whole closed segments are removed. If
 * below > last the log becomes empty, with next index below. */
int wal_purge(struct wal *w, uint64_t below, struct keel_errmsg *err);

/* Reads entries [from, to] from disk, checksums verified. *mem holds the
 * payloads (free both *out and *mem with keel_free). */
int wal_read(struct wal *w, uint64_t from, uint64_t to, struct wal_entry **out, uint8_t **mem,
	     struct keel_errmsg *err);

/* The entries from `from` on, as recovery read and checked them, without
 * reading the disk again: pointers into the files' contents kept since the
 * open, valid until wal_drop_scan (free *out with keel_free). */
int wal_scanned(struct wal *w, uint64_t from, struct wal_entry **out, uint32_t *n);
void wal_drop_scan(struct wal *w);

/* Bytes of a record with this payload, on disk. */
uint64_t wal_record_bytes(uint32_t len);

#endif
