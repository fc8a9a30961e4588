/* io/fs_posix.c — io/fs.h over the POSIX calls. EINTR is retried; nothing
 * else is (a failed fdatasync is not retried: the kernel may already have
 * dropped the dirty pages, so the caller must stop). */
#include "io/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"

static int from_errno(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return KEEL_ENOSPC;
	case ENOENT:
		return KEEL_ENOENT;
	case ENOMEM:
		return KEEL_ENOMEM;
	case EINVAL:
		return KEEL_EINVAL;
	default:
		return KEEL_EIO;
	}
}

static int px_open(void *ctx, const char *path, int flags, int *fd)
{
	(void)ctx;
	int f = O_RDWR | O_CLOEXEC;
	if (flags & IO_CREATE)
		f |= O_CREAT;
	if (flags & IO_TRUNC)
		f |= O_TRUNC;
	int r;
	do
		r = open(path, f, 0644);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return from_errno(errno);
	*fd = r;
	return KEEL_OK;
}

static int px_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd) == 0 || errno == EINTR ? KEEL_OK : from_errno(errno);
}

static int px_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	(void)ctx;
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return from_errno(errno);
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return KEEL_OK;
}

static int px_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	size_t done = 0;
	while (done < len) {
		ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return from_errno(errno);
		if (r == 0)
			return KEEL_EIO;
		done += (size_t)r;
	}
	return KEEL_OK;
}

static int px_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd) == 0 ? KEEL_OK : from_errno(errno);
}

static int px_ftruncate(void *ctx, int fd, uint64_t len)
{
	(void)ctx;
	return ftruncate(fd, (off_t)len) == 0 ? KEEL_OK : from_errno(errno);
}

static int px_fallocate(void *ctx, int fd, uint64_t len)
{
	(void)ctx;
	int e = posix_fallocate(fd, 0, (off_t)len);
	if (e == EOPNOTSUPP || e == EINVAL) /* a file system without it */
		return ftruncate(fd, (off_t)len) == 0 ? KEEL_OK : from_errno(errno);
	return e == 0 ? KEEL_OK : from_errno(e);
}

static int px_size(void *ctx, int fd, uint64_t *size)
{
	(void)ctx;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return from_errno(errno);
	*size = (uint64_t)st.st_size;
	return KEEL_OK;
}

static int px_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to) == 0 ? KEEL_OK : from_errno(errno);
}

static int px_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path) == 0 ? KEEL_OK : from_errno(errno);
}

static int px_sync_dir(void *ctx, const char *dir)
{
	(void)ctx;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return from_errno(errno);
	int rc = fsync(fd) == 0 ? KEEL_OK : from_errno(errno);
	close(fd);
	return rc;
}

static int px_mkdir(void *ctx, const char *dir)
{
	(void)ctx;
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return KEEL_OK;
	return from_errno(errno);
}

static int px_list(void *ctx, const char *dir, char ***names, uint32_t *n)
{
	(void)ctx;
	DIR *d = opendir(dir);
	if (!d)
		return from_errno(errno);
	char **v = NULL;
	uint32_t cnt = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			v = keel_realloc(v, cap * sizeof *v);
		}
		v[cnt++] = keel_memdup(de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	*names = v;
	*n = cnt;
	return KEEL_OK;
}

static int px_map(void *ctx, int fd, uint64_t len, unsigned flags, const uint8_t **p)
{
	(void)ctx;
	void *m = mmap(NULL, len, PROT_READ,
		       MAP_PRIVATE | (flags & IO_MAP_POPULATE ? MAP_POPULATE : 0), fd, 0);
	if (m == MAP_FAILED)
		return from_errno(errno);
	*p = m;
	return KEEL_OK;
}

static void px_unmap(void *ctx, const uint8_t *p, uint64_t len)
{
	(void)ctx;
	munmap((void *)(uintptr_t)p, len);
}

static const struct io_fs posix_fs = {
	.open = px_open,
	.close = px_close,
	.pread = px_pread,
	.pwrite = px_pwrite,
	.fdatasync = px_fdatasync,
	.ftruncate = px_ftruncate,
	.fallocate = px_fallocate,
	.size = px_size,
	.rename = px_rename,
	.unlink = px_unlink,
	.sync_dir = px_sync_dir,
	.mkdir = px_mkdir,
	.list = px_list,
	.map = px_map,
	.unmap = px_unmap,
};

const struct io_fs *io_fs_posix(void)
{
	return &posix_fs;
}
