/* tests/faults/shim.c — an LD_PRELOAD library that makes one kind of file
 * call fail on the real binary paths, as a failing disk would:
 *   KEEL_FAULT_OP     fdatasync | pwrite | rename | fallocate
 *   KEEL_FAULT_ERRNO  EIO | ENOSPC
 *   KEEL_FAULT_AFTER  how many calls succeed first (default 0)
 *   KEEL_FAULT_STICKY 1: every later call fails too (default: only one)
 * Every other call goes to the C library unchanged. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long calls;
static int fired;

/* True when this call of op should fail (and sets errno). */
static int should_fail(const char *op)
{
	const char *want = getenv("KEEL_FAULT_OP");
	if (!want || strcmp(want, op) != 0)
		return 0;
	const char *after = getenv("KEEL_FAULT_AFTER");
	const char *sticky = getenv("KEEL_FAULT_STICKY");
	const char *e = getenv("KEEL_FAULT_ERRNO");
	long n = after ? strtol(after, NULL, 10) : 0;
	int fail = 0;
	pthread_mutex_lock(&mu);
	long k = calls++;
	if (k >= n && (!fired || (sticky && sticky[0] == '1'))) {
		fired = 1;
		fail = 1;
	}
	pthread_mutex_unlock(&mu);
	if (fail) {
		errno = e && !strcmp(e, "ENOSPC") ? ENOSPC : EIO;
		char msg[96];
		int len = snprintf(msg, sizeof msg, "shim: %s call %ld fails with %s\n", op, k + 1,
				   errno == ENOSPC ? "ENOSPC" : "EIO");
		if (write(2, msg, (size_t)len) < 0)
			return fail;
	}
	return fail;
}

#define REAL(type, name, args) ((type(*) args)dlsym(RTLD_NEXT, name))

int fdatasync(int fd)
{
	if (should_fail("fdatasync"))
		return -1;
	return REAL(int, "fdatasync", (int))(fd);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (should_fail("pwrite"))
		return -1;
	return REAL(ssize_t, "pwrite", (int, const void *, size_t, off_t))(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	if (should_fail("pwrite"))
		return -1;
	return REAL(ssize_t, "pwrite64", (int, const void *, size_t, off_t))(fd, buf, n, off);
}

int rename(const char *from, const char *to)
{
	if (should_fail("rename"))
		return -1;
	return REAL(int, "rename", (const char *, const char *))(from, to);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
	if (should_fail("fallocate"))
		return errno;
	return REAL(int, "posix_fallocate", (int, off_t, off_t))(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
	if (should_fail("fallocate"))
		return errno;
	return REAL(int, "posix_fallocate64", (int, off_t, off_t))(fd, off, len);
}
