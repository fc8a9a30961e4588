/* storage/hardstate.h — the hard state file: (term, vote), replaced
 * atomically (written to a temporary name, fsynced, renamed, folder
 * fsynced) and checksummed. Format in hardstate.c. */
#ifndef KEEL_STORAGE_HARDSTATE_H
#define KEEL_STORAGE_HARDSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "io/fs.h"

#define HARDSTATE_FILE "hardstate"
#define HARDSTATE_TMP "hardstate.tmp"

/* Reads dir/hardstate: *found false if there is none. A file that fails its
 * checks is KEEL_ECORRUPT. */
int hardstate_read(const struct io_fs *fs, const char *dir, bool *found, uint64_t *term,
		   uint64_t *vote, struct keel_errmsg *err);
/* Replaces it durably: when this returns KEEL_OK, a crash keeps the new
 * value; before, a crash keeps the old one or the new one. */
int hardstate_write(const struct io_fs *fs, const char *dir, uint64_t term, uint64_t vote,
		    struct keel_errmsg *err);

#endif
