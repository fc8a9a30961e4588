/* io/fs.h — the file operations storage needs, behind a small ops struct:
 * the POSIX implementation (io/fs_posix.c) for the server and tools, and
 * the simulator's disk (tests/sim/simfs.c) with its crashes and faults, so
 * the same storage code runs on both. Every call returns a keel_err code
 * (KEEL_EIO, KEEL_ENOSPC, KEEL_ENOENT, ...); none retries anything. */
#ifndef KEEL_IO_FS_H
#define KEEL_IO_FS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define IO_PATH_MAX 512

enum io_open_flags {
	IO_CREATE = 1, /* create if missing */
	IO_TRUNC = 2,  /* truncate to 0 */
};

struct io_fs {
	void *ctx;
	/* Opens path for reading and writing; *fd is the handle. */
	int (*open)(void *ctx, const char *path, int flags, int *fd);
	int (*close)(void *ctx, int fd);
	/* Reads up to len bytes at off; *got < len only at end of file. */
	int (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *got);
	/* Writes all of buf at off (a short write is an error). */
	int (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
	/* Makes the file's data (and its size) durable. */
	int (*fdatasync)(void *ctx, int fd);
	int (*ftruncate)(void *ctx, int fd, uint64_t len);
	/* Reserves [0, len): the file reads as zeros up to len afterwards. */
	int (*fallocate)(void *ctx, int fd, uint64_t len);
	int (*size)(void *ctx, int fd, uint64_t *size);
	/* Namespace changes are durable only after sync_dir of their folder. */
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *path);
	int (*sync_dir)(void *ctx, const char *dir);
	int (*mkdir)(void *ctx, const char *dir); /* KEEL_OK if it exists */
	/* The names in dir (no "." or ".."), unsorted; free with io_names_free. */
	int (*list)(void *ctx, const char *dir, char ***names, uint32_t *n);
	/* The first len bytes of the file, read-only, without copying them
	 * where the system allows (len > 0, at most the file's size); valid
	 * until unmap, whatever happens to the file past len. flags:
	 * IO_MAP_POPULATE reads it all in now (recovery reads every byte);
	 * without it pages are read as they are touched (a snapshot being
	 * sent: the event loop must not wait for the whole file). */
	int (*map)(void *ctx, int fd, uint64_t len, unsigned flags, const uint8_t **p);
	void (*unmap)(void *ctx, const uint8_t *p, uint64_t len);
};

#define IO_MAP_POPULATE 1u

void io_names_free(char **names, uint32_t n);

/* The real file system. */
const struct io_fs *io_fs_posix(void);

/* Joins dir and name into out (IO_PATH_MAX); KEEL_ETOOBIG if too long. */
int io_path(char *out, const char *dir, const char *name);

/* Reads exactly len bytes at off, or KEEL_ECORRUPT if the file is shorter. */
int io_read_exact(const struct io_fs *fs, int fd, void *buf, size_t len, uint64_t off);

#endif
