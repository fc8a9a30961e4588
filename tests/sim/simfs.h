/* tests/sim/simfs.h — the simulator's disk: an in-memory file system that
 * implements io/fs.h with the semantics a crash exposes. File contents
 * written since the file's last fdatasync, and names created, renamed or
 * removed since the folder's last fsync, are not durable: a crash keeps a
 * random prefix of each file's unsynced writes (the last kept one possibly
 * torn at any byte) and a random prefix of the unsynced name changes.
 * Faults: a chosen call fails after a countdown (EIO, ENOSPC), a capacity
 * limit (ENOSPC), and direct access for tests that damage bytes on disk. */
#ifndef KEEL_TESTS_SIM_SIMFS_H
#define KEEL_TESTS_SIM_SIMFS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/prng.h"
#include "io/fs.h"

enum simfs_op {
	SIMFS_WRITE = 1,
	SIMFS_FDATASYNC,
	SIMFS_RENAME,
	SIMFS_SYNC_DIR,
	SIMFS_FALLOCATE,
	SIMFS_UNLINK,
	SIMFS_OP_MAX,
};

struct simfs;

struct simfs *simfs_new(void);
void simfs_free(struct simfs *fs);
const struct io_fs *simfs_ops(struct simfs *fs);

/* The process dies: unsynced state is partly lost (see above); open
 * handles are gone. */
void simfs_crash(struct simfs *fs, struct prng *p);
/* A crash that loses every unsynced change. */
void simfs_crash_clean(struct simfs *fs);
/* The next call of kind op, after `after` more successful ones, fails with
 * err (KEEL_EIO, KEEL_ENOSPC); every later one too when sticky. */
void simfs_fail(struct simfs *fs, enum simfs_op op, uint32_t after, int err, bool sticky);
void simfs_fail_clear(struct simfs *fs);
/* Total bytes of file contents allowed (0: no limit). */
void simfs_set_capacity(struct simfs *fs, uint64_t bytes);

/* Direct access for tests that damage a disk. poke and resize change a
 * file's contents durably (the file must have no unsynced writes). */
bool simfs_exists(struct simfs *fs, const char *path);
uint64_t simfs_size(struct simfs *fs, const char *path);
void simfs_peek(struct simfs *fs, const char *path, uint64_t off, void *buf, uint64_t len);
void simfs_poke(struct simfs *fs, const char *path, uint64_t off, const void *buf, uint64_t len);
void simfs_resize(struct simfs *fs, const char *path, uint64_t size);
/* Damaged reads: the byte at off of every live map of the file (what a
 * process reads through it) flips; the file itself stays as it is. A
 * page read back wrong once, or, with a poke of the same byte, bit rot
 * that a mapping reads lazily. Returns the number of maps changed. */
uint32_t simfs_damage_maps(struct simfs *fs, const char *path, uint64_t off);
/* A folder mkdir was asked for that holds no file now, or NULL: a node
 * makes only the folders it keeps files in (and their parents). */
const char *simfs_stray_dir(const struct simfs *fs);
/* A copy of the disk as it is now, every change durable in it. */
struct simfs *simfs_clone(const struct simfs *fs);

#endif
