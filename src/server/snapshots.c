/* server/snapshots.c — the node's snapshots of its keyspace: taken in a
 * forked child so the node goes on serving, saved by the storage thread,
 * held in memory (mapped) to stream to followers, received in chunks and
 * installed.
 *
 * Taking one (raft.h, snapshot_wanted). fork() gives the child a
 * copy-on-write image of the keyspace exactly as applied at the requested
 * index, as Redis's BGSAVE does; the child serializes it (kv/snapshot.h)
 * into <dir>/kv-build.tmp and writes {size, crc32c} into a pipe. The loop
 * maps the file, unlinks it (the mapping stays), and hands the bytes to the
 * storage thread, which saves them as a snapshot file and fsyncs it; once
 * that is durable the core is told (raft_snapshot_done) and the mapping
 * becomes the snapshot that followers are sent. A child that fails or dies
 * is reported as raft_snapshot_failed; the core asks again later. The child
 * dies with its parent (PR_SET_PDEATHSIG), and a leftover .tmp file is
 * removed by recovery. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "kv/snapshot.h"
#include "server/persist.h"
#include "server/server.h"

#define BUILD_NAME "kv-build.tmp"

void snap_bytes_release(struct snap_bytes *b)
{
	if (b->mapped)
		munmap(b->p, b->len);
	else
		keel_free(b->p);
	memset(b, 0, sizeof *b);
}

static void build_path(const struct server *s, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", s->cfg.dir, BUILD_NAME);
}

/* ---- the child ---------------------------------------------------------- */

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Runs in the child: never returns. */
static void child_main(struct server *s, int out)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(2); /* the parent is already gone */
	struct rbuf b;
	rbuf_init(&b);
	kv_snapshot_write(&s->kv, s->last_entry_time, &b);
	uint8_t res[12];
	bytes_put_u64(res, b.len);
	bytes_put_u32(res + 8, crc32c(0, b.p, b.len));
	char path[4200];
	build_path(s, path, sizeof path);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	bool ok = fd >= 0 && write_all(fd, b.p, b.len) && close(fd) == 0;
	if (!ok || !write_all(out, res, sizeof res))
		_exit(1);
	_exit(0);
}

/* ---- the loop's side ---------------------------------------------------- */

static void child_reap(struct server *s)
{
	if (s->snapshot_child > 0) {
		int st;
		while (waitpid(s->snapshot_child, &st, 0) < 0 && errno == EINTR) {
		}
		s->snapshot_child = 0;
	}
}

static void pipe_closed(uv_handle_t *h)
{
	struct server *s = h->data;
	s->snapshot_pipe_open = false;
}

/* The child is done (res: its 12 bytes) or failed (res NULL). */
static void child_done(struct server *s, const uint8_t *res)
{
	uv_close((uv_handle_t *)&s->snapshot_pipe, pipe_closed);
	child_reap(s);
	char path[4200];
	build_path(s, path, sizeof path);
	struct snap_bytes sb = {0};
	int fd = res ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		sb.len = bytes_get_u64(res);
		sb.p = mmap(NULL, sb.len, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (sb.p == MAP_FAILED)
			sb.p = NULL;
		sb.mapped = sb.p != NULL;
	}
	unlink(path);
	if (!sb.p) {
		fprintf(stderr, "[%llu] snapshot at %llu failed (%s); will try again\n",
			(unsigned long long)s->cfg.id, (unsigned long long)s->taking.index,
			res ? "cannot map its file" : "the child did not finish");
		raft_snapshot_failed(s->r);
		server_process(s);
		return;
	}
	s->taking.size = sb.len;
	s->taking.crc = bytes_get_u32(res + 8);
	s->taking_bytes = sb;
	struct snap_meta m;
	persist_meta_to_snap(&s->taking, &m);
	s->snapshot_seq = committer_submit_snapshot(s->com, &m, sb.p);
	s->snapshot_saving = true;
	s->stats.snapshot_build_ms = (uint64_t)(server_now_ms() - s->snapshot_started_ms);
	server_process(s);
}

static void on_pipe_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
	struct server *s = h->data;
	(void)want;
	buf->base = (char *)s->snapshot_res + s->snapshot_res_got;
	buf->len = sizeof s->snapshot_res - s->snapshot_res_got;
}

static void on_pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct server *s = st->data;
	(void)buf;
	if (n > 0)
		s->snapshot_res_got += (size_t)n;
	if (s->snapshot_res_got == sizeof s->snapshot_res)
		child_done(s, s->snapshot_res);
	else if (n < 0)
		child_done(s, NULL);
}

static void snapshot_start(struct server *s, raft_index index)
{
	memset(&s->taking, 0, sizeof s->taking);
	s->taking.index = index;
	s->taking.term = raft_term_at(s->r, index);
	s->taking.config = *raft_config_of(s->r);
	s->snapshot_started_ms = server_now_ms();
	s->snapshot_res_got = 0;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		fprintf(stderr, "[%llu] snapshot: pipe: %s\n", (unsigned long long)s->cfg.id,
			strerror(errno));
		raft_snapshot_failed(s->r);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_main(s, fds[1]);
	}
	close(fds[1]);
	if (pid < 0) {
		fprintf(stderr, "[%llu] snapshot: fork: %s\n", (unsigned long long)s->cfg.id,
			strerror(errno));
		close(fds[0]);
		raft_snapshot_failed(s->r);
		return;
	}
	s->snapshot_child = pid;
	uv_pipe_init(s->loop, &s->snapshot_pipe, 0);
	s->snapshot_pipe.data = s;
	uv_pipe_open(&s->snapshot_pipe, fds[0]);
	s->snapshot_pipe_open = true;
	uv_read_start((uv_stream_t *)&s->snapshot_pipe, on_pipe_alloc, on_pipe_read);
}

void snapshots_want(struct server *s, raft_index index)
{
	if (s->stopping) {
		raft_snapshot_failed(s->r);
		return;
	}
	s->stats.snapshots_started++;
	snapshot_start(s, index);
}

void snapshots_check(struct server *s)
{
	if (!s->snapshot_saving || s->durable_seq < s->snapshot_seq)
		return;
	s->snapshot_saving = false;
	s->stats.snapshots_taken++;
	s->stats.snapshot_total_ms = (uint64_t)(server_now_ms() - s->snapshot_started_ms);
	raft_snapshot_done(s->r, s->taking.index, s->taking.size, s->taking.crc);
	const struct raft_snapshot_meta *m = raft_snapshot_of(s->r);
	if (m && m->index == s->taking.index && m->crc == s->taking.crc) {
		snap_bytes_release(&s->snap_bytes);
		s->snap = *m;
		s->snap_bytes = s->taking_bytes;
		s->have_snap = true;
		memset(&s->taking_bytes, 0, sizeof s->taking_bytes);
	} else {
		snap_bytes_release(&s->taking_bytes);
	}
}

bool snapshots_busy(const struct server *s)
{
	return s->snapshot_child > 0 || s->snapshot_saving;
}

/* ---- receiving ---------------------------------------------------------- */

void snapshots_chunk(struct server *s, const struct raft_snapshot_chunk *c)
{
	if (c->offset == 0) {
		keel_free(s->incoming);
		s->incoming = keel_malloc(c->meta.size ? c->meta.size : 1);
		s->incoming_size = c->meta.size;
	}
	if (s->incoming && c->offset + c->len <= s->incoming_size) {
		memcpy(s->incoming + c->offset, c->data, c->len);
		s->stats.snapshot_bytes_received += c->len;
	}
}

void snapshots_install(struct server *s, const struct raft_snapshot_meta *m)
{
	if (!s->incoming || kv_snapshot_read(&s->kv, s->incoming, m->size) != KEEL_OK) {
		fprintf(stderr, "[%llu] installed snapshot %llu does not restore: stopping\n",
			(unsigned long long)s->cfg.id, (unsigned long long)m->index);
		raft_fail(s->r, KEEL_ECORRUPT);
		return;
	}
	snap_bytes_release(&s->snap_bytes);
	s->snap = *m;
	s->snap_bytes.p = s->incoming;
	s->snap_bytes.len = s->incoming_size;
	s->have_snap = true;
	s->incoming = NULL;
	s->stats.snapshots_installed++;
	fprintf(stderr, "[%llu] installed a snapshot at index %llu (%llu bytes)\n",
		(unsigned long long)s->cfg.id, (unsigned long long)m->index,
		(unsigned long long)m->size);
}

/* ---- stopping ----------------------------------------------------------- */

void snapshots_stop(struct server *s)
{
	if (s->snapshot_child > 0) {
		kill(s->snapshot_child, SIGKILL);
		child_reap(s);
		char path[4200];
		build_path(s, path, sizeof path);
		unlink(path);
	}
	if (s->snapshot_pipe_open && !uv_is_closing((uv_handle_t *)&s->snapshot_pipe))
		uv_close((uv_handle_t *)&s->snapshot_pipe, pipe_closed);
}

void snapshots_free(struct server *s)
{
	snap_bytes_release(&s->snap_bytes);
	snap_bytes_release(&s->taking_bytes);
	keel_free(s->incoming);
	s->incoming = NULL;
}
