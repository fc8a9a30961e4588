/* storage/snapfile.c — the snapshot files of storage/snapfile.h.
 *
 * FORMAT (little-endian). Name: snap-<index>-<term>, each a 20-digit
 * zero-padded decimal. The data starts at byte 4096:
 *   0    8  magic "KEELSNP\0"
 *   8    4  version (1)
 *   12   4  meta_len (at most 4000)
 *   16   8  index
 *   24   8  term
 *   32   8  size, data bytes
 *   40   4  crc32c of the data
 *   44   4  crc32c of bytes 0..43 and of the meta bytes
 *   48   meta_len bytes of metadata (the embedder's: the configuration)
 *   ...  zeros
 *   4096 size bytes of data */
#include "storage/snapfile.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"

#define SNAP_HDR 48
static const uint8_t snap_magic[8] = {'K', 'E', 'E', 'L', 'S', 'N', 'P', 0};

void snap_name(char *out, size_t cap, uint64_t index, uint64_t term)
{
	snprintf(out, cap, "snap-%020" PRIu64 "-%020" PRIu64, index, term);
}

bool snap_parse_name(const char *name, uint64_t *index, uint64_t *term)
{
	if (strlen(name) != 46 || strncmp(name, "snap-", 5) != 0 || name[25] != '-')
		return false;
	for (int i = 5; i < 46; i++)
		if (i != 25 && (name[i] < '0' || name[i] > '9'))
			return false;
	*index = strtoull(name + 5, NULL, 10);
	*term = strtoull(name + 26, NULL, 10);
	return true;
}

static void header_encode(uint8_t *h, const struct snap_meta *m)
{
	memset(h, 0, SNAP_DATA_OFF);
	memcpy(h, snap_magic, 8);
	bytes_put_u32(h + 8, 1);
	bytes_put_u32(h + 12, m->meta_len);
	bytes_put_u64(h + 16, m->index);
	bytes_put_u64(h + 24, m->term);
	bytes_put_u64(h + 32, m->size);
	bytes_put_u32(h + 40, m->crc);
	memcpy(h + SNAP_HDR, m->meta, m->meta_len);
	bytes_put_u32(h + 44, crc32c(crc32c(0, h, 44), m->meta, m->meta_len));
}

static int fail(struct keel_errmsg *err, int rc, const char *what, const char *path)
{
	keel_errmsg_set(err, "%s %s: %s", what, path, keel_err_str(rc));
	return rc;
}

int snap_tmp_path(char *tmp, const char *dir, const struct snap_meta *m)
{
	char name[64];
	snap_name(name, sizeof name, m->index, m->term);
	size_t nl = strlen(name);
	memcpy(name + nl, ".tmp", 5);
	return io_path(tmp, dir, name);
}

/* rename tmp to the final name, fsync dir. */
static int rename_into_place(const struct io_fs *fs, const char *dir, const char *tmp,
			     const struct snap_meta *m, struct keel_errmsg *err)
{
	char name[64], path[IO_PATH_MAX];
	snap_name(name, sizeof name, m->index, m->term);
	int rc = io_path(path, dir, name);
	if (rc)
		return rc;
	if ((rc = fs->rename(fs->ctx, tmp, path)))
		return fail(err, rc, "rename", tmp);
	if ((rc = fs->sync_dir(fs->ctx, dir)))
		return fail(err, rc, "fsync folder", dir);
	return KEEL_OK;
}

/* fsync the file at fd, close it, rename tmp to the final name, fsync dir. */
static int publish(const struct io_fs *fs, const char *dir, int fd, const char *tmp,
		   const struct snap_meta *m, struct keel_errmsg *err)
{
	int rc = fs->fdatasync(fs->ctx, fd);
	fs->close(fs->ctx, fd);
	if (rc)
		return fail(err, rc, "fdatasync", tmp);
	return rename_into_place(fs, dir, tmp, m, err);
}

int snap_write_tmp(const struct io_fs *fs, const char *dir, const struct snap_meta *m,
		   const uint8_t *data, struct keel_errmsg *err)
{
	char tmp[IO_PATH_MAX];
	int fd, rc = snap_tmp_path(tmp, dir, m);
	if (rc)
		return rc;
	if ((rc = fs->open(fs->ctx, tmp, IO_CREATE | IO_TRUNC, &fd)))
		return fail(err, rc, "create", tmp);
	uint8_t *h = keel_malloc(SNAP_DATA_OFF);
	header_encode(h, m);
	rc = fs->pwrite(fs->ctx, fd, h, SNAP_DATA_OFF, 0);
	keel_free(h);
	if (!rc && m->size)
		rc = fs->pwrite(fs->ctx, fd, data, m->size, SNAP_DATA_OFF);
	if (!rc)
		rc = fs->fdatasync(fs->ctx, fd);
	fs->close(fs->ctx, fd);
	return rc ? fail(err, rc, "write", tmp) : KEEL_OK;
}

int snap_publish_tmp(const struct io_fs *fs, const char *dir, const struct snap_meta *m,
		     struct keel_errmsg *err)
{
	char tmp[IO_PATH_MAX];
	int rc = snap_tmp_path(tmp, dir, m);
	return rc ? rc : rename_into_place(fs, dir, tmp, m, err);
}

void snap_tmp_remove(const struct io_fs *fs, const char *dir, const struct snap_meta *m)
{
	char tmp[IO_PATH_MAX];
	if (!snap_tmp_path(tmp, dir, m))
		fs->unlink(fs->ctx, tmp);
}

int snap_write(const struct io_fs *fs, const char *dir, const struct snap_meta *m,
	       const uint8_t *data, struct keel_errmsg *err)
{
	int rc = snap_write_tmp(fs, dir, m, data, err);
	return rc ? rc : snap_publish_tmp(fs, dir, m, err);
}

void snap_incoming_init(struct snap_incoming *in)
{
	memset(in, 0, sizeof *in);
	in->fd = -1;
}

void snap_incoming_drop(const struct io_fs *fs, struct snap_incoming *in)
{
	if (in->fd >= 0)
		fs->close(fs->ctx, in->fd);
	snap_incoming_init(in);
}

int snap_incoming_write(const struct io_fs *fs, const char *dir, struct snap_incoming *in,
			const struct snap_meta *m, uint64_t offset, const uint8_t *data,
			uint32_t len, struct keel_errmsg *err)
{
	char tmp[IO_PATH_MAX];
	int rc = io_path(tmp, dir, SNAP_INCOMING);
	if (rc)
		return rc;
	if (offset == 0) {
		snap_incoming_drop(fs, in);
		if ((rc = fs->open(fs->ctx, tmp, IO_CREATE | IO_TRUNC, &in->fd)))
			return fail(err, rc, "create", tmp);
		in->m = *m;
	}
	if (in->fd < 0 || offset != in->received || in->m.index != m->index ||
	    in->m.term != m->term || offset + len > m->size) {
		keel_errmsg_set(err, "snapshot chunk at %" PRIu64 " does not follow %" PRIu64,
				offset, in->received);
		return KEEL_EINVAL;
	}
	if (len && (rc = fs->pwrite(fs->ctx, in->fd, data, len, SNAP_DATA_OFF + offset)))
		return fail(err, rc, "write", tmp);
	in->received += len;
	in->dirty = true;
	return KEEL_OK;
}

int snap_incoming_sync(const struct io_fs *fs, struct snap_incoming *in, struct keel_errmsg *err)
{
	if (in->fd < 0 || !in->dirty)
		return KEEL_OK;
	int rc = fs->fdatasync(fs->ctx, in->fd);
	if (rc)
		return fail(err, rc, "fdatasync", SNAP_INCOMING);
	in->dirty = false;
	return KEEL_OK;
}

int snap_incoming_finish(const struct io_fs *fs, const char *dir, struct snap_incoming *in,
			 const struct snap_meta *m, struct keel_errmsg *err)
{
	char tmp[IO_PATH_MAX];
	int rc = io_path(tmp, dir, SNAP_INCOMING);
	if (rc)
		return rc;
	if (in->fd < 0 || in->received != m->size || in->m.index != m->index ||
	    in->m.term != m->term) {
		keel_errmsg_set(err, "snapshot %" PRIu64 " is incomplete (%" PRIu64 " of %" PRIu64
				" bytes)", m->index, in->received, m->size);
		return KEEL_EINVAL;
	}
	uint8_t *h = keel_malloc(SNAP_DATA_OFF);
	header_encode(h, m);
	rc = fs->pwrite(fs->ctx, in->fd, h, SNAP_DATA_OFF, 0);
	keel_free(h);
	int fd = in->fd;
	in->fd = -1;
	snap_incoming_init(in);
	if (rc) {
		fs->close(fs->ctx, fd);
		return fail(err, rc, "write", tmp);
	}
	return publish(fs, dir, fd, tmp, m, err);
}

static int open_snap(const struct io_fs *fs, const char *dir, const char *name, char *path,
		     int *fd, struct keel_errmsg *err)
{
	int rc = io_path(path, dir, name);
	if (!rc && (rc = fs->open(fs->ctx, path, 0, fd)))
		fail(err, rc, "open", path);
	return rc;
}

int snap_read_meta(const struct io_fs *fs, const char *dir, const char *name,
		   struct snap_meta *m, struct keel_errmsg *err)
{
	char path[IO_PATH_MAX];
	int fd, rc = open_snap(fs, dir, name, path, &fd, err);
	if (rc)
		return rc;
	uint8_t *h = keel_malloc(SNAP_DATA_OFF);
	uint64_t size = 0;
	rc = fs->size(fs->ctx, fd, &size);
	if (!rc)
		rc = io_read_exact(fs, fd, h, SNAP_DATA_OFF, 0);
	fs->close(fs->ctx, fd);
	uint64_t want_i = 0, want_t = 0;
	snap_parse_name(name, &want_i, &want_t);
	if (!rc) {
		memset(m, 0, sizeof *m);
		m->meta_len = bytes_get_u32(h + 12);
		m->index = bytes_get_u64(h + 16);
		m->term = bytes_get_u64(h + 24);
		m->size = bytes_get_u64(h + 32);
		m->crc = bytes_get_u32(h + 40);
		if (memcmp(h, snap_magic, 8) != 0 || bytes_get_u32(h + 8) != 1 ||
		    m->meta_len > SNAP_META_MAX ||
		    bytes_get_u32(h + 44) != crc32c(crc32c(0, h, 44), h + SNAP_HDR, m->meta_len) ||
		    m->index != want_i || m->term != want_t || size != SNAP_DATA_OFF + m->size)
			rc = KEEL_ECORRUPT;
		else
			memcpy(m->meta, h + SNAP_HDR, m->meta_len);
	}
	keel_free(h);
	if (rc == KEEL_ECORRUPT)
		keel_errmsg_set(err, "%s: bad snapshot header at offset 0", path);
	else if (rc)
		fail(err, rc, "read", path);
	return rc;
}

int snap_read(const struct io_fs *fs, const char *dir, const struct snap_meta *m, uint64_t off,
	      void *buf, uint64_t len, struct keel_errmsg *err)
{
	char name[64], path[IO_PATH_MAX];
	snap_name(name, sizeof name, m->index, m->term);
	if (off + len > m->size) {
		keel_errmsg_set(err, "%s: read past the end", name);
		return KEEL_EINVAL;
	}
	int fd, rc = open_snap(fs, dir, name, path, &fd, err);
	if (rc)
		return rc;
	rc = io_read_exact(fs, fd, buf, len, SNAP_DATA_OFF + off);
	fs->close(fs->ctx, fd);
	if (rc)
		fail(err, rc, "read", path);
	return rc;
}

int snap_read_all(const struct io_fs *fs, const char *dir, const struct snap_meta *m,
		  uint8_t **data, struct keel_errmsg *err)
{
	uint8_t *d = keel_malloc(m->size ? m->size : 1);
	int rc = snap_read(fs, dir, m, 0, d, m->size, err);
	if (!rc && crc32c(0, d, m->size) != m->crc) {
		char name[64];
		snap_name(name, sizeof name, m->index, m->term);
		keel_errmsg_set(err, "%s/%s: data checksum mismatch (data at offset %d)", dir,
				name, SNAP_DATA_OFF);
		rc = KEEL_ECORRUPT;
	}
	if (rc) {
		keel_free(d);
		return rc;
	}
	*data = d;
	return KEEL_OK;
}
