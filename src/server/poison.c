/* server/poison.c — the last line of defence against a poison pill
 * (server/poison.h): the failure record written on the way down, the
 * --skip-entry check at start, and the test-only trigger.
 *
 * FILES in the data folder, each one decimal index and a newline, written
 * to a temporary name, fsynced, renamed, the folder fsynced:
 *   apply-failed  the command entry this node was applying when it died
 *                 (written from the fatal path: only async-signal-safe
 *                 calls there: open, write, fsync, close)
 *   skip-entry    the entry the operator asked to apply as a no-op
 * Both are removed once this node's snapshot covers their entry. They are
 * read, written and removed through io_fs_posix(), as every file of the
 * node, except by the fatal path: it runs in a signal handler (or a
 * sanitizer's death callback) and uses raw system calls on paths kept in
 * the statics below. */
#include "server/poison.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "server/server.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define POISON_TEST_BUILD 1
#else
#define POISON_TEST_BUILD 0
#endif

#define ALT_STACK_BYTES (64u << 10) /* for a handler after a stack overflow */

/* What the fatal path reads: set at start, then only the index changes.
 * Per process, as signal handlers are: a process runs one keel-server, and
 * an embedded server (server.embed: several in one process) installs no
 * fatal path and never touches these. */
static _Atomic uint64_t applying;
static char failed_path[IO_PATH_MAX + 32], failed_tmp[IO_PATH_MAX + 32], dir_path[IO_PATH_MAX];
static char node_tag[32];

static size_t u64_dec(uint64_t v, char *out)
{
	char tmp[24];
	size_t n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static void say(const char *s)
{
	ssize_t rc = write(2, s, strlen(s));
	(void)rc;
}

/* index + "\n" into path, durably (tmp, fsync, rename, fsync the folder).
 * Async-signal-safe. */
static bool write_index(const char *path, const char *tmp, raft_index index)
{
	char num[24];
	size_t n = u64_dec(index, num);
	num[n++] = '\n';
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	bool ok = write(fd, num, n) == (ssize_t)n && fsync(fd) == 0;
	ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
	int d = open(dir_path, O_RDONLY | O_CLOEXEC);
	if (d >= 0) {
		ok = fsync(d) == 0 && ok;
		close(d);
	}
	return ok;
}

/* The fatal path: at most once, and only while an entry is applied. */
static void record_failure(void)
{
	uint64_t at = atomic_exchange(&applying, 0);
	if (!at)
		return;
	char num[24];
	num[u64_dec(at, num)] = 0;
	bool ok = write_index(failed_path, failed_tmp, at);
	say("keel: ");
	say(node_tag);
	say("applying committed entry ");
	say(num);
	say(" failed: the node stops. Every member applies the same entry and fails alike. ");
	say(ok ? "Recorded in " : "COULD NOT record it in ");
	say(failed_path);
	say(". Restart with a fixed keel-server, or start each member with --skip-entry ");
	say(num);
	say(" (docs/operations.md: a committed entry that fails to apply)\n");
}

static void on_fatal_signal(int sig)
{
	record_failure();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Sets what the fatal path reads for an entry of g: its folder's paths.
 * Only while nothing is being applied (applying is 0). */
static void set_fatal_paths(const struct group *g)
{
	static const struct group *paths_of;
	if (paths_of == g)
		return;
	paths_of = g;
	snprintf(dir_path, sizeof dir_path, "%s", g->dir);
	snprintf(failed_path, sizeof failed_path, "%s/apply-failed", g->dir);
	snprintf(failed_tmp, sizeof failed_tmp, "%s/apply-failed.tmp", g->dir);
	snprintf(node_tag, sizeof node_tag, "[%llu] ", (unsigned long long)g->node->cfg.id);
}

/* Installs the fatal path (once a process). */
static void install_fatal_paths(const struct group *g)
{
	set_fatal_paths(g);
	static bool done;
	if (done)
		return;
	done = true;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal_signal;
	sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, NULL); /* KEEL_ASSERT, out of memory */
#if POISON_TEST_BUILD
	/* the sanitizers handle SIGSEGV and friends, report, and die through
	 * their own exit, which calls this */
	__sanitizer_set_death_callback(record_failure);
#else
	static char alt_stack[ALT_STACK_BYTES];
	stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack};
	sigaltstack(&ss, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
#endif
}

/* DIR/name into out. */
static void record_path(const struct group *g, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", g->dir, name);
}

int poison_record_parse(const char *buf, size_t len, raft_index *out)
{
	*out = 0;
	if (len && buf[len - 1] == '\n')
		len--;
	if (len == 0 || len > 19)
		return KEEL_ECORRUPT;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return KEEL_ECORRUPT;
		v = v * 10 + (uint64_t)(buf[i] - '0'); /* 19 digits fit in 64 bits */
	}
	if (v == 0 || v > INT64_MAX)
		return KEEL_ECORRUPT;
	*out = (raft_index)v;
	return KEEL_OK;
}

/* A record's index into *out, 0 if there is none (io_fs_posix(), as every
 * file the node reads but the fatal path's). */
static int load(const char *path, raft_index *out, struct keel_errmsg *err)
{
	const struct io_fs *fs = io_fs_posix();
	char line[32] = "";
	uint64_t size = 0;
	int fd, rc = fs->open(fs->ctx, path, 0, &fd);
	*out = 0;
	if (rc == KEEL_ENOENT)
		return KEEL_OK;
	if (!rc) {
		rc = fs->size(fs->ctx, fd, &size);
		if (!rc && size < sizeof line)
			rc = io_read_exact(fs, fd, line, (size_t)size, 0);
		fs->close(fs->ctx, fd);
	}
	if (rc) {
		keel_errmsg_set(err, "%s: cannot be read: %s", path, keel_err_str(rc));
		return rc;
	}
	if (size >= sizeof line || poison_record_parse(line, (size_t)size, out)) {
		keel_errmsg_set(err, "%s: not an entry index; it holds one decimal index", path);
		return KEEL_ECORRUPT;
	}
	return KEEL_OK;
}

/* index + "\n" into DIR/name, durably (DIR/name.tmp, fdatasync, rename,
 * sync the folder), through io_fs_posix(). */
static bool save(const struct group *g, const char *name, raft_index index)
{
	const struct io_fs *fs = io_fs_posix();
	char path[IO_PATH_MAX + 32], tmp[IO_PATH_MAX + 40], num[24];
	record_path(g, name, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int n = snprintf(num, sizeof num, "%llu\n", (unsigned long long)index);
	int fd;
	if (fs->open(fs->ctx, tmp, IO_CREATE | IO_TRUNC, &fd))
		return false;
	bool ok = !fs->pwrite(fs->ctx, fd, num, (size_t)n, 0) && !fs->fdatasync(fs->ctx, fd);
	ok = !fs->close(fs->ctx, fd) && ok && !fs->rename(fs->ctx, tmp, path);
	return !fs->sync_dir(fs->ctx, g->dir) && ok;
}

static void retire(const struct group *g, const char *name)
{
	char path[IO_PATH_MAX + 32];
	record_path(g, name, path, sizeof path);
	io_fs_posix()->unlink(io_fs_posix()->ctx, path);
}

/* The records at start: those a snapshot has passed are retired. */
static int load_records(struct group *g, raft_index snap, struct keel_errmsg *err)
{
	struct server *s = g->node;
	struct poison *p = &g->poison;
	char failed[IO_PATH_MAX + 32], skip[IO_PATH_MAX + 32];
	record_path(g, "apply-failed", failed, sizeof failed);
	record_path(g, "skip-entry", skip, sizeof skip);
	int rc = load(failed, &p->failed, err);
	if (!rc)
		rc = load(skip, &p->skip, err);
	if (rc)
		return rc;
	if (p->failed && p->failed <= snap) {
		fprintf(stderr,
			"[%llu] %s: entry %llu is in this node's snapshot (at %llu) now: "
			"record removed\n",
			(unsigned long long)s->cfg.id, failed, (unsigned long long)p->failed,
			(unsigned long long)snap);
		retire(g, "apply-failed");
		p->failed = 0;
	}
	if (p->skip && p->skip <= snap) {
		retire(g, "skip-entry");
		p->skip = 0;
	}
	return KEEL_OK;
}

/* --skip-entry N: only the entry that failed here (or the one already
 * being skipped), recorded before anything is applied. */
static int accept_skip(struct group *g, raft_index n, struct keel_errmsg *err)
{
	struct server *s = g->node;
	struct poison *p = &g->poison;
	char failed[IO_PATH_MAX + 32], path[IO_PATH_MAX + 32];
	record_path(g, "apply-failed", failed, sizeof failed);
	record_path(g, "skip-entry", path, sizeof path);
	if (n == p->skip)
		return KEEL_OK;
	if (n != p->failed) {
		if (p->failed)
			keel_errmsg_set(err,
					"--skip-entry %llu: the entry that failed to apply on this "
					"node is %llu (%s); only that one may be skipped",
					(unsigned long long)n, (unsigned long long)p->failed,
					failed);
		else
			keel_errmsg_set(err,
					"--skip-entry %llu: no entry failed to apply on this node "
					"(%s is absent); an entry is skipped only where it failed, "
					"so that every replica skips the same one",
					(unsigned long long)n, failed);
		return KEEL_EINVAL;
	}
	if (!save(g, "skip-entry", n)) {
		keel_errmsg_set(err, "--skip-entry: cannot write %s", path);
		return KEEL_EIO;
	}
	p->skip = n;
	fprintf(stderr,
		"[%llu] --skip-entry %llu: the entry that failed here is applied as a "
		"no-op, its requests answered with an error (kept in %s)\n",
		(unsigned long long)s->cfg.id, (unsigned long long)n, path);
	return KEEL_OK;
}

int poison_start(struct group *g, raft_index snapshot_index, struct keel_errmsg *err)
{
	struct server *s = g->node;
	int rc = load_records(g, snapshot_index, err);
	/* with shards, --skip-entry N is for the groups where N failed (the
	 * node refuses it if none did: group_open's caller) */
	raft_index n = s->cfg.skip_entry;
	if (!rc && n && (s->cfg.shards == 1 || n == g->poison.failed || n == g->poison.skip))
		rc = accept_skip(g, n, err);
	if (rc)
		return rc;
	char failed[IO_PATH_MAX + 32];
	record_path(g, "apply-failed", failed, sizeof failed);
	if (g->poison.failed && g->poison.failed != g->poison.skip)
		fprintf(stderr,
			"[%llu] entry %llu failed to apply when this node last ran (%s): "
			"it is applied again\n",
			(unsigned long long)s->cfg.id, (unsigned long long)g->poison.failed,
			failed);
	const char *key = POISON_TEST_BUILD ? getenv("KEEL_TEST_POISON_KEY") : NULL;
	if (key && *key)
		snprintf(g->poison.test_key, sizeof g->poison.test_key, "%s", key);
	if (!s->embed) /* the handlers and their statics are the process's */
		install_fatal_paths(g);
	return KEEL_OK;
}

void poison_applying(const struct group *g, raft_index index)
{
	const struct server *s = g->node;
	if (!s->embed) {
		set_fatal_paths(g); /* the group's folder, when it is another's */
		atomic_store(&applying, index);
	}
}

void poison_applied(struct group *g, raft_index index)
{
	struct server *s = g->node;
	if (!s->embed)
		atomic_store(&applying, 0);
	if (g->poison.failed && index >= g->poison.failed) {
		retire(g, "apply-failed");
		g->poison.failed = 0;
	}
}

bool poison_skip(const struct group *g, raft_index index)
{
	return g->poison.skip && index == g->poison.skip;
}

void poison_test_check(const struct group *g, const struct resp_arg *argv, uint32_t argc)
{
	const char *key = g->poison.test_key;
	size_t n = strlen(key);
	if (POISON_TEST_BUILD && n && argc > 1 && argv[1].len == n && !memcmp(argv[1].p, key, n))
		keel_assert_fail("a write of KEEL_TEST_POISON_KEY (a test build's poison pill)",
				 __FILE__, __LINE__);
}
