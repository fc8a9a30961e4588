/* server/snapshots.c — the node's snapshots of its keyspace: taken in a
 * forked child so the node goes on serving, held in memory (mapped) to
 * stream to followers, received in chunks and installed.
 *
 * Taking one (raft.h, snapshot_wanted). fork() gives the child a
 * copy-on-write image of the keyspace exactly as applied at the requested
 * index, as Redis's BGSAVE does. The child, at idle priority (raised to
 * nice 10 if it has not finished within 10 s: raise_child), serializes
 * it (kv/snapshot.h) and writes and fdatasyncs the snapshot file under its
 * temporary name (storage/snapfile.h), then writes {size, crc32c} into a
 * pipe and exits. The loop maps the file's data and asks the storage
 * thread to adopt it: after the log before it is synced, the file is
 * renamed into place (storage_adopt_snapshot). Once that is durable the
 * core is told (raft_snapshot_done), and the mapping becomes the snapshot
 * that followers are sent. So neither the loop nor the storage thread
 * copies or writes the keyspace. A child that fails or dies is reported as
 * raft_snapshot_failed; the core asks again later. The child dies with its
 * parent (PR_SET_PDEATHSIG), and a leftover .tmp file is removed by
 * recovery. A read replica (no core) takes its snapshots the same way,
 * asked by server/replication.c, and is told of them there.
 *
 * Embedded (server.embed, several servers in one process): no fork. The
 * same bytes are written the same way (snapshot_write) in-process, and the
 * next snapshots_check reports them through the path a child's report
 * takes (snapshot_report): mapped, adopted by the committer, then the core
 * told once durable. */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "io/clock.h"
#include "io/fs.h"
#include "kv/snapshot.h"
#include "server/persist.h"
#include "server/server.h"

#define SNAPSHOT_IDLE_MS 10000 /* a child's time at idle priority before it is raised */

static void snap_bytes_release(struct snap_bytes *b)
{
	const struct io_fs *fs = io_fs_posix();
	if (b->mapped)
		fs->unmap(fs->ctx, b->p - b->map_off, b->map_off + b->len);
	else
		keel_free(b->p);
	memset(b, 0, sizeof *b);
}

static void stop_damaged(struct group *g);

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

/* Serializes the keyspace as applied at s->taking.index and writes it,
 * fdatasynced, under the snapshot's temporary name; res gets what the
 * child reports: {size, crc32c}. In the child, or in-process when
 * embedded: the same bytes, written the same way. */
static bool snapshot_write(struct group *g, uint8_t res[12])
{
	struct server *s = g->node;
	struct rbuf b;
	rbuf_init(&b);
	kv_snapshot_write(&g->kv, g->last_entry_time, &b);
	g->taking.size = b.len;
	g->taking.crc = crc32c(0, b.p, b.len);
	struct snap_meta m;
	struct keel_errmsg err = {{0}};
	persist_meta_to_snap(&g->taking, &m);
	int rc = snap_write_tmp(io_fs_posix(), g->dir, &m, b.p, &err);
	if (rc)
		fprintf(stderr, "[%llu] snapshot: %s\n", (unsigned long long)s->cfg.id, err.text);
	bytes_put_u64(res, b.len);
	bytes_put_u32(res + 8, g->taking.crc);
	rbuf_free(&b);
	return rc == KEEL_OK;
}

/* Runs in the child: never returns. */
static void child_main(struct group *g, int out)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(2); /* the parent is already gone */
	/* Nothing of the parent's but the pipe and stderr: a child that
	 * outlives its parent for a moment must not hold its listening ports,
	 * nor keep its connections open. */
	if (out > 3)
		close_range(3, (unsigned)out - 1, 0);
	close_range((unsigned)out + 1, ~0u, 0);
	/* The node's own threads come first: the child runs when a core is
	 * otherwise idle (SCHED_IDLE), or at least at a lower priority. */
	struct sched_param sp = {0};
	if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
		setpriority(PRIO_PROCESS, 0, 19);
	uint8_t res[12];
	_exit(snapshot_write(g, res) && write_all(out, res, sizeof res) ? 0 : 1);
}

/* ---- the loop's side ---------------------------------------------------- */

/* While a child holds a copy-on-write image: no page moves (kv/dict.h). */
static void hold_tables(struct group *g, bool hold)
{
	kv_hold(&g->kv, hold);
}

/* Reaps a child that has exited; with wait, waits for it. True once it
 * is reaped (or was not ours to reap). */
static bool child_wait(pid_t pid, bool wait)
{
	int st;
	pid_t got;
	while ((got = waitpid(pid, &st, wait ? 0 : WNOHANG)) < 0 && errno == EINTR) {
	}
	return got != 0;
}

/* The child has reported (or failed). It is reaped without waiting: a
 * child tearing down a large copy-on-write image takes a while to exit,
 * and at idle priority on a busy machine it gets no time to (measured
 * under ASan with a core kept busy: the loop blocked in waitpid for up to
 * 2 s, longer than an election timeout). So it is raised to an ordinary
 * priority (nice 10) and reaped by a later pass (snapshots_check). */
static void child_reap(struct group *g)
{
	hold_tables(g, false);
	pid_t pid = g->snapshot_child;
	g->snapshot_child = 0;
	if (pid <= 0 || child_wait(pid, false))
		return;
	struct sched_param sp = {0};
	if (sched_setscheduler(pid, SCHED_OTHER, &sp) == 0)
		setpriority(PRIO_PROCESS, (id_t)pid, 10);
	if (g->snapshot_exiting > 0)
		child_wait(g->snapshot_exiting, true); /* two at once: rare */
	g->snapshot_exiting = pid;
}

static void exiting_reap(struct group *g, bool wait)
{
	if (g->snapshot_exiting > 0 && child_wait(g->snapshot_exiting, wait))
		g->snapshot_exiting = 0;
}

/* Each child's pipe is a handle of its own, freed when its close is done:
 * a new snapshot may start before the last one's close has run. */
static void pipe_closed(uv_handle_t *h)
{
	keel_free(h);
}

static void pipe_close(struct group *g)
{
	if (g->snapshot_pipe)
		uv_close((uv_handle_t *)g->snapshot_pipe, pipe_closed);
	g->snapshot_pipe = NULL;
}

/* The core asks again later; a replica when more entries arrive. */
static void snapshot_failed(struct group *g)
{
	if (g->r)
		raft_snapshot_failed(g->r);
}

/* Maps the data of the snapshot file at path (io/fs.h: the file is mapped
 * from its start, its data begins at SNAP_DATA_OFF). */
static bool map_data(const char *path, const struct snap_meta *m, struct snap_bytes *sb)
{
	const struct io_fs *fs = io_fs_posix();
	int fd;
	if (fs->open(fs->ctx, path, 0, &fd))
		return false;
	uint64_t size = 0;
	const uint8_t *p = NULL;
	bool ok = !fs->size(fs->ctx, fd, &size) && size >= SNAP_DATA_OFF + m->size &&
		  !fs->map(fs->ctx, fd, SNAP_DATA_OFF + m->size, 0, &p);
	fs->close(fs->ctx, fd);
	if (!ok)
		return false;
	sb->p = (uint8_t *)(uintptr_t)p + SNAP_DATA_OFF;
	sb->len = m->size;
	sb->mapped = true;
	sb->map_off = SNAP_DATA_OFF;
	return true;
}

/* ... of the one the child wrote, under its temporary name. */
static bool map_tmp(struct group *g, const struct snap_meta *m, struct snap_bytes *sb)
{
	char path[IO_PATH_MAX];
	return !snap_tmp_path(path, g->dir, m) && map_data(path, m, sb);
}

/* The snapshot file is written (res: the 12 bytes the child reports) or
 * it failed (res NULL): its data is mapped and the storage thread asked
 * to adopt it, or the core is told it failed. The one path for a child's
 * report and for a snapshot written in-process. */
static void snapshot_report(struct group *g, const uint8_t *res)
{
	struct server *s = g->node;
	child_reap(g);
	struct snap_bytes sb = {0};
	struct snap_meta m;
	if (res) {
		g->taking.size = bytes_get_u64(res);
		g->taking.crc = bytes_get_u32(res + 8);
	}
	persist_meta_to_snap(&g->taking, &m);
	if (!res || !map_tmp(g, &m, &sb)) {
		fprintf(stderr, "[%llu] snapshot at %llu failed (%s); will try again\n",
			(unsigned long long)s->cfg.id, (unsigned long long)g->taking.index,
			res ? "cannot map its file" : "the child did not finish");
		snap_tmp_remove(io_fs_posix(), g->dir, &m);
		snapshot_failed(g);
		return;
	}
	g->taking_bytes = sb;
	g->snapshot_seq = committer_adopt_snapshot(s->com, g->st, &m);
	g->snapshot_saving = true;
	s->stats.snapshot_build_ms = (uint64_t)(server_now_ms() - g->snapshot_started_ms);
}

/* The child is done (res: its 12 bytes) or failed (res NULL). */
static void child_done(struct group *g, const uint8_t *res)
{
	struct server *s = g->node;
	pipe_close(g);
	snapshot_report(g, res);
	server_process(s);
}

static void on_pipe_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
	struct group *g = h->data;
	(void)want;
	buf->base = (char *)g->snapshot_res + g->snapshot_res_got;
	buf->len = sizeof g->snapshot_res - g->snapshot_res_got;
}

static void on_pipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct group *g = st->data;
	(void)buf;
	if (n > 0)
		g->snapshot_res_got += (size_t)n;
	if (g->snapshot_res_got == sizeof g->snapshot_res)
		child_done(g, g->snapshot_res);
	else if (n < 0)
		child_done(g, NULL);
}

/* Embedded (server.embed): no fork. The snapshot is written here, as the
 * child would write it, and reported by the next snapshots_check, as a
 * child's report arrives in a later callback: the core asked for it in
 * the middle of an update. */
static void snapshot_in_process(struct group *g)
{
	g->snapshot_res_got = snapshot_write(g, g->snapshot_res) ? sizeof g->snapshot_res : 0;
	g->snapshot_written = true;
}

static void snapshot_start(struct group *g, raft_index index)
{
	struct server *s = g->node;
	memset(&g->taking, 0, sizeof g->taking);
	g->taking.index = index;
	if (g->r) {
		g->taking.term = raft_term_at(g->r, index);
		g->taking.config = *raft_config_of(g->r);
	} else {
		g->taking.term = replica_term_at(g, index);
	}
	g->snapshot_started_ms = server_now_ms();
	g->snapshot_raised = false;
	g->snapshot_res_got = 0;
	if (s->embed) {
		snapshot_in_process(g);
		return;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		fprintf(stderr, "[%llu] snapshot: pipe: %s\n", (unsigned long long)s->cfg.id,
			strerror(errno));
		snapshot_failed(g);
		return;
	}
	const struct io_clock *clock = io_clock_posix();
	uint64_t t0 = clock->now_ns(clock->ctx);
	hold_tables(g, true);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_main(g, fds[1]);
	}
	close(fds[1]);
	s->stats.snapshot_fork_us = (clock->now_ns(clock->ctx) - t0) / 1000;
	if (pid < 0) {
		hold_tables(g, false);
		fprintf(stderr, "[%llu] snapshot: fork: %s\n", (unsigned long long)s->cfg.id,
			strerror(errno));
		close(fds[0]);
		snapshot_failed(g);
		return;
	}
	g->snapshot_child = pid;
	g->snapshot_pipe = keel_malloc(sizeof *g->snapshot_pipe);
	uv_pipe_init(s->loop, g->snapshot_pipe, 0);
	g->snapshot_pipe->data = g;
	uv_pipe_open(g->snapshot_pipe, fds[0]);
	uv_read_start((uv_stream_t *)g->snapshot_pipe, on_pipe_alloc, on_pipe_read);
}

void snapshots_want(struct group *g, raft_index index)
{
	struct server *s = g->node;
	if (s->stopping) {
		snapshot_failed(g);
		return;
	}
	s->stats.snapshots_started++;
	snapshot_start(g, index);
}

/* A child at idle priority gets no time while other processes keep the
 * cores busy, and the log would grow without bound meanwhile: after
 * SNAPSHOT_IDLE_MS it is raised to an ordinary priority, still below the
 * node's (nice 10). */
static void raise_child(struct group *g)
{
	struct server *s = g->node;
	if (g->snapshot_child <= 0 || g->snapshot_raised ||
	    server_now_ms() - g->snapshot_started_ms < SNAPSHOT_IDLE_MS)
		return;
	g->snapshot_raised = true; /* the child is not reaped yet: the pid is its own */
	struct sched_param sp = {0};
	if (sched_setscheduler(g->snapshot_child, SCHED_OTHER, &sp) == 0)
		setpriority(PRIO_PROCESS, (id_t)g->snapshot_child, 10);
	fprintf(stderr,
		"[%llu] the snapshot has run %d s at idle priority (the cores are busy): "
		"raised to nice 10 so that it finishes\n",
		(unsigned long long)s->cfg.id, SNAPSHOT_IDLE_MS / 1000);
}

void snapshots_check(struct group *g)
{
	struct server *s = g->node;
	if (g->snap_damaged && g->r && !raft_stopped(g->r))
		stop_damaged(g);
	if (g->snapshot_written) {
		g->snapshot_written = false;
		bool whole = g->snapshot_res_got == sizeof g->snapshot_res;
		snapshot_report(g, whole ? g->snapshot_res : NULL);
	}
	raise_child(g);
	exiting_reap(g, false);
	if (!g->snapshot_saving || g->durable_seq < g->snapshot_seq)
		return;
	g->snapshot_saving = false;
	s->stats.snapshots_taken++;
	s->stats.snapshot_total_ms = (uint64_t)(server_now_ms() - g->snapshot_started_ms);
	bool taken;
	struct raft_snapshot_meta meta = g->taking;
	if (g->r) {
		raft_snapshot_done(g->r, g->taking.index, g->taking.size, g->taking.crc);
		const struct raft_snapshot_meta *m = raft_snapshot_of(g->r);
		taken = m && m->index == g->taking.index && m->crc == g->taking.crc;
		if (taken)
			meta = *m; /* with the configuration at its index */
	} else {
		taken = replica_snapshot_taken(g);
	}
	if (taken) {
		snap_bytes_release(&g->snap_bytes);
		g->snap = meta;
		g->snap_bytes = g->taking_bytes;
		g->have_snap = true;
		memset(&g->taking_bytes, 0, sizeof g->taking_bytes);
	} else {
		snap_bytes_release(&g->taking_bytes);
	}
}

/* ---- sending ------------------------------------------------------------ */

/* The node stops: its snapshot's file is damaged (snapshots_sending). */
static void stop_damaged(struct group *g)
{
	char why[96];
	g->snap_damaged = false;
	snprintf(why, sizeof why,
		 "the snapshot at %llu is damaged on disk (its checksum does not match)",
		 (unsigned long long)g->snap.index);
	group_storage_failed(g, KEEL_ECORRUPT, why);
}

/* Maps the data of the snapshot file named for g->snap again (its own
 * pages, read from the disk anew), if it checks. */
static bool remap_sound(struct group *g)
{
	struct snap_meta m;
	struct snap_bytes sb = {0};
	char name[64], path[IO_PATH_MAX];
	persist_meta_to_snap(&g->snap, &m);
	snap_name(name, sizeof name, m.index, m.term);
	if (io_path(path, g->dir, name) || !map_data(path, &m, &sb))
		return false;
	if (crc32c(0, sb.p, sb.len) != m.crc) {
		snap_bytes_release(&sb);
		return false;
	}
	snap_bytes_release(&g->snap_bytes);
	g->snap_bytes = sb;
	return true;
}

/* The bytes sent are what the mapping of the snapshot's file reads, and a
 * page can read back damaged, or the file rot on the disk. The chunks sent
 * to one follower from offset 0 on, in order, are checked as they go (a
 * running CRC-32C: what the frames cost anyway; a follower sent chunks out
 * of order, a resend from an acknowledged offset, is not tracked). Once
 * the last one is sent, a checksum that does not match means the copy is
 * damaged: the follower will fail it and ask for it again, so it is read
 * again from the file first. A file that is damaged too is no snapshot to
 * send (sent again, it would fail again, forever): no more chunks are sent
 * and the node stops, as on a storage failure; another member, with a
 * sound snapshot, leads. */
bool snapshots_sending(struct group *g, raft_id to, uint64_t offset, const uint8_t *p, uint32_t len)
{
	if (g->snap_damaged)
		return false;
	if (offset == 0) {
		g->snap_track_to = to;
		g->snap_track_index = g->snap.index;
		g->snap_track_crc = 0;
		g->snap_track_off = 0;
	}
	if (to != g->snap_track_to)
		return true;
	if (offset != g->snap_track_off || g->snap_track_index != g->snap.index) {
		g->snap_track_to = 0;
		return true;
	}
	g->snap_track_crc = crc32c(g->snap_track_crc, p, len);
	g->snap_track_off += len;
	if (g->snap_track_off < g->snap.size)
		return true;
	g->snap_track_to = 0;
	if (g->snap_track_crc == g->snap.crc)
		return true;
	if (remap_sound(g)) {
		fprintf(stderr,
			"[%llu] the snapshot at %llu read back damaged; read again from its file, "
			"it checks\n",
			(unsigned long long)g->node->cfg.id, (unsigned long long)g->snap.index);
		return true;
	}
	g->snap_damaged = true; /* stopped by the next snapshots_check */
	return true;
}

bool snapshots_busy(const struct group *g)
{
	return g->snapshot_child > 0 || g->snapshot_written || g->snapshot_saving;
}

/* ---- receiving ---------------------------------------------------------- */

void snapshots_chunk(struct group *g, const struct raft_snapshot_chunk *c)
{
	struct server *s = g->node;
	if (c->offset == 0) {
		if (g->incoming && g->incoming_index == c->meta.index &&
		    g->incoming_term == c->meta.term)
			s->stats.snapshot_restarts++; /* the same snapshot, from the start */
		g->incoming_index = c->meta.index;
		g->incoming_term = c->meta.term;
		keel_free(g->incoming);
		g->incoming = keel_malloc(c->meta.size ? c->meta.size : 1);
		g->incoming_size = c->meta.size;
	}
	if (g->incoming && c->offset + c->len <= g->incoming_size) {
		memcpy(g->incoming + c->offset, c->data, c->len);
		s->stats.snapshot_bytes_received += c->len;
	}
}

void snapshots_install(struct group *g, const struct raft_snapshot_meta *m)
{
	struct server *s = g->node;
	if (!g->incoming || kv_snapshot_read(&g->kv, g->incoming, m->size) != KEEL_OK) {
		fprintf(stderr, "[%llu] installed snapshot %llu does not restore: stopping\n",
			(unsigned long long)s->cfg.id, (unsigned long long)m->index);
		raft_fail(g->r, KEEL_ECORRUPT);
		return;
	}
	snap_bytes_release(&g->snap_bytes);
	g->snap = *m;
	g->snap_bytes.p = g->incoming;
	g->snap_bytes.len = g->incoming_size;
	g->have_snap = true;
	g->incoming = NULL;
	s->stats.snapshots_installed++;
	requests_after_install(g);
	fprintf(stderr, "[%llu] installed a snapshot at index %llu (%llu bytes)\n",
		(unsigned long long)s->cfg.id, (unsigned long long)m->index,
		(unsigned long long)m->size);
}

/* ---- stopping ----------------------------------------------------------- */

void snapshots_stop(struct group *g, bool crash)
{
	struct snap_meta m;
	persist_meta_to_snap(&g->taking, &m);
	if (g->snapshot_child > 0) {
		kill(g->snapshot_child, SIGKILL);
		child_reap(g);
		if (!crash) /* after a crash, recovery removes it */
			snap_tmp_remove(io_fs_posix(), g->dir, &m);
	}
	if (g->snapshot_written && !crash) /* written in-process, never reported */
		snap_tmp_remove(io_fs_posix(), g->dir, &m);
	g->snapshot_written = false;
	exiting_reap(g, true);
	pipe_close(g);
}

void snapshots_free(struct group *g)
{
	snap_bytes_release(&g->snap_bytes);
	snap_bytes_release(&g->taking_bytes);
	keel_free(g->incoming);
	g->incoming = NULL;
}
