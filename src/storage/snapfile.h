/* storage/snapfile.h — snapshot files: a checksummed header (index, term,
 * the embedder's opaque metadata, size and checksum of the data) then the
 * data. Written whole or in chunks (a snapshot received from a peer) under
 * a temporary name, fsynced, renamed, folder fsynced; read whole or in
 * chunks (to send to a peer); the newest few kept. Format in snapfile.c. */
#ifndef KEEL_STORAGE_SNAPFILE_H
#define KEEL_STORAGE_SNAPFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "io/fs.h"

#define SNAP_META_MAX 4000
#define SNAP_INCOMING "snap-incoming.tmp"

struct snap_meta {
	uint64_t index;
	uint64_t term;
	uint64_t size;  /* data bytes */
	uint32_t crc;   /* crc32c of the data */
	uint32_t meta_len;
	uint8_t meta[SNAP_META_MAX]; /* the embedder's (the configuration) */
};

/* The file name of a snapshot (snap-<index>-<term>). */
void snap_name(char *out, size_t cap, uint64_t index, uint64_t term);
bool snap_parse_name(const char *name, uint64_t *index, uint64_t *term);

/* Writes a whole snapshot durably under its final name. */
int snap_write(const struct io_fs *fs, const char *dir, const struct snap_meta *m,
	       const uint8_t *data, struct keel_errmsg *err);
/* The same in two steps, so that another process can write the file:
 * write and fdatasync it under <name>.tmp (its data at SNAP_DATA_OFF);
 * then rename it into place and fsync the folder. */
#define SNAP_DATA_OFF 4096
int snap_write_tmp(const struct io_fs *fs, const char *dir, const struct snap_meta *m,
		   const uint8_t *data, struct keel_errmsg *err);
int snap_publish_tmp(const struct io_fs *fs, const char *dir, const struct snap_meta *m,
		     struct keel_errmsg *err);
/* Removes <name>.tmp, if there is one. */
void snap_tmp_remove(const struct io_fs *fs, const char *dir, const struct snap_meta *m);
/* The path of <name>.tmp. */
int snap_tmp_path(char *out, const char *dir, const struct snap_meta *m);

/* A snapshot arriving in chunks, in SNAP_INCOMING until finished. */
struct snap_incoming {
	int fd; /* -1: none */
	struct snap_meta m;
	uint64_t received;
	bool dirty;
};
void snap_incoming_init(struct snap_incoming *in);
/* offset 0 starts over; chunks must be contiguous. */
int snap_incoming_write(const struct io_fs *fs, const char *dir, struct snap_incoming *in,
			const struct snap_meta *m, uint64_t offset, const uint8_t *data,
			uint32_t len, struct keel_errmsg *err);
int snap_incoming_sync(const struct io_fs *fs, struct snap_incoming *in, struct keel_errmsg *err);
/* Makes the complete incoming snapshot durable under its final name. */
int snap_incoming_finish(const struct io_fs *fs, const char *dir, struct snap_incoming *in,
			 const struct snap_meta *m, struct keel_errmsg *err);
void snap_incoming_drop(const struct io_fs *fs, struct snap_incoming *in);

/* Reads and checks a snapshot's header. */
int snap_read_meta(const struct io_fs *fs, const char *dir, const char *name,
		   struct snap_meta *m, struct keel_errmsg *err);
/* Reads data bytes [off, off+len) of a snapshot. */
int snap_read(const struct io_fs *fs, const char *dir, const struct snap_meta *m, uint64_t off,
	      void *buf, uint64_t len, struct keel_errmsg *err);
/* Reads all the data and checks its checksum; *data is the caller's. */
int snap_read_all(const struct io_fs *fs, const char *dir, const struct snap_meta *m,
		  uint8_t **data, struct keel_errmsg *err);

#endif
