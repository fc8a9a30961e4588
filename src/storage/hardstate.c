/* storage/hardstate.c — the hard state file of storage/hardstate.h.
 *
 * FORMAT, 28 bytes, little-endian:
 *   0  8  magic "KEELHS1\0"
 *   8  8  term
 *   16 8  vote (0: none)
 *   24 4  crc32c of bytes 0..23 */
#include "storage/hardstate.h"

#include <string.h>

#include "base/bytes.h"
#include "base/crc32c.h"

#define HS_BYTES 28
static const uint8_t hs_magic[8] = {'K', 'E', 'E', 'L', 'H', 'S', '1', 0};

int hardstate_read(const struct io_fs *fs, const char *dir, bool *found, uint64_t *term,
		   uint64_t *vote, struct keel_errmsg *err)
{
	char path[IO_PATH_MAX];
	uint8_t b[HS_BYTES + 1];
	int fd, rc = io_path(path, dir, HARDSTATE_FILE);
	*found = false;
	*term = *vote = 0;
	if (rc)
		return rc;
	rc = fs->open(fs->ctx, path, 0, &fd);
	if (rc == KEEL_ENOENT)
		return KEEL_OK;
	if (rc) {
		keel_errmsg_set(err, "open %s: %s", path, keel_err_str(rc));
		return rc;
	}
	size_t got = 0;
	rc = fs->pread(fs->ctx, fd, b, sizeof b, 0, &got);
	fs->close(fs->ctx, fd);
	if (rc) {
		keel_errmsg_set(err, "read %s: %s", path, keel_err_str(rc));
		return rc;
	}
	if (got != HS_BYTES || memcmp(b, hs_magic, 8) != 0 ||
	    bytes_get_u32(b + 24) != crc32c(0, b, 24)) {
		keel_errmsg_set(err, "%s: bad hard state file (%zu bytes, checksum or magic wrong)",
				path, got);
		return KEEL_ECORRUPT;
	}
	*found = true;
	*term = bytes_get_u64(b + 8);
	*vote = bytes_get_u64(b + 16);
	return KEEL_OK;
}

int hardstate_write(const struct io_fs *fs, const char *dir, uint64_t term, uint64_t vote,
		    struct keel_errmsg *err)
{
	char tmp[IO_PATH_MAX], path[IO_PATH_MAX];
	uint8_t b[HS_BYTES];
	memcpy(b, hs_magic, 8);
	bytes_put_u64(b + 8, term);
	bytes_put_u64(b + 16, vote);
	bytes_put_u32(b + 24, crc32c(0, b, 24));
	int fd, rc = io_path(tmp, dir, HARDSTATE_TMP);
	if (!rc)
		rc = io_path(path, dir, HARDSTATE_FILE);
	if (rc)
		return rc;
	const char *step = "create";
	if ((rc = fs->open(fs->ctx, tmp, IO_CREATE | IO_TRUNC, &fd)))
		goto fail;
	step = "write";
	rc = fs->pwrite(fs->ctx, fd, b, sizeof b, 0);
	if (!rc) {
		step = "fdatasync";
		rc = fs->fdatasync(fs->ctx, fd);
	}
	fs->close(fs->ctx, fd);
	if (rc)
		goto fail;
	step = "rename";
	if ((rc = fs->rename(fs->ctx, tmp, path)))
		goto fail;
	step = "fsync folder of";
	if ((rc = fs->sync_dir(fs->ctx, dir)))
		goto fail;
	return KEEL_OK;
fail:
	keel_errmsg_set(err, "%s %s: %s", step, tmp, keel_err_str(rc));
	return rc;
}
