/* io/fs.c — helpers over any io/fs.h implementation: paths, exact reads,
 * name lists. */
#include "io/fs.h"

#include <stdio.h>

#include "base/mem.h"

void io_names_free(char **names, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		keel_free(names[i]);
	keel_free(names);
}

int io_path(char *out, const char *dir, const char *name)
{
	int w = snprintf(out, IO_PATH_MAX, "%s/%s", dir, name);
	return w < 0 || w >= IO_PATH_MAX ? KEEL_ETOOBIG : KEEL_OK;
}

int io_read_exact(const struct io_fs *fs, int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	int rc = fs->pread(fs->ctx, fd, buf, len, off, &got);
	if (rc)
		return rc;
	return got == len ? KEEL_OK : KEEL_ECORRUPT;
}
