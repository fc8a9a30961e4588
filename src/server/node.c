/* server/node.c — a node's life: start-up (its groups recovered, then the
 * storage thread, the peers, the client listeners and the loop's handles),
 * the loop's tick, end-of-pass and wake-up callbacks that drive every
 * group, peer frames handed to their group, --join, and shutdown (leadership
 * handed over, requests in flight answered, every handle closed). */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "io/clock.h"
#include "io/fs.h"
#include "kv/snapshot.h"
#include "net/frame.h"
#include "raft/codec.h"
#include "resp/encode.h"
#include "server/entry.h"
#include "server/persist.h"
#include "server/server.h"
#include "storage/journal.h"

int64_t server_now_ms(void)
{
	const struct io_wall *w = io_wall_posix();
	return w->now_ms(w->ctx);
}

/* Carries out every group's pending updates: a group with nothing to do
 * is passed over (group_settled), unless storage failed (each group then
 * learns it in group_process), so a pass costs little per idle group. */
void server_process(struct server *s)
{
	int failed = 0;
	if (s->com)
		committer_durable(s->com, &failed, NULL);
	if (failed) {
		for (uint32_t i = 0; i < s->n_groups; i++)
			group_process(s->groups[i]);
	} else {
		SERVER_FOR_AWAKE (s, i)
			if (!group_settled(s->groups[i]))
				group_process(s->groups[i]);
	}
	requests_answer_reads(s);
	if (s->meta && kv_slots_of(&s->meta->kv)->n_shards > s->n_shards && !s->stopping) {
		struct keel_errmsg err = {0};
		if (groups_grow(s, &err)) { /* a shard it cannot hold: it stops */
			fprintf(stderr, "[%llu] a shard added cannot be opened: %s; stopping\n",
				(unsigned long long)s->cfg.id, err.text);
			s->exit_code = 1;
			server_stop(s);
		}
	}
	if (s->left && !s->stopping) {
		struct keel_errmsg err = {0};
		s->left = false;
		if (groups_open_left(s, &err)) {
			fprintf(stderr, "[%llu] a shard's folder cannot be opened: %s; stopping\n",
				(unsigned long long)s->cfg.id, err.text);
			s->exit_code = 1;
			server_stop(s);
		} else if (!members_seated(s)) { /* none of them has it: no notice will come */
			fprintf(stderr,
				"[%llu] removed from the cluster, and a member of none of the "
				"shards "
				"opened from its folders; this node takes no further part: stop "
				"it\n",
				(unsigned long long)s->cfg.id);
		}
	}
}

/* Closes every libuv handle the server holds, each with its usual close
 * callback: the end of a shutdown (shutdown_step, after the requests in
 * flight are answered) and a crash's last moment (server_halt). Nothing is
 * sent or written here. */
static void close_handles(struct server *s, bool crash)
{
	s->closed = true;
	s->join.active = false;
	clients_close_all(s);
	if (s->peers)
		peers_stop(s->peers);
	for (uint32_t i = 0; i < s->n_groups; i++) {
		replica_stop(s->groups[i]);
		snapshots_stop(s->groups[i], crash);
	}
	for (uint32_t i = 0; i < s->n_listeners; i++)
		uv_close((uv_handle_t *)&s->listeners[i], NULL);
	if (!s->loop_handles)
		return; /* a start that failed before them */
	uv_close((uv_handle_t *)&s->tick, NULL);
	uv_close((uv_handle_t *)&s->tick_idle, NULL);
	uv_close((uv_handle_t *)&s->wake, NULL);
	uv_close((uv_handle_t *)&s->check, NULL);
	uv_close((uv_handle_t *)&s->join.retry, NULL);
	if (s->join.tcp_open && !uv_is_closing((uv_handle_t *)&s->join.tcp))
		uv_close((uv_handle_t *)&s->join.tcp, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
}

/* Once stopping, and in-flight writes are done (or a second has passed),
 * everything on the loop is closed and uv_run returns. */
static void shutdown_step(struct server *s)
{
	if (!s->stopping || s->closed)
		return;
	bool busy = false;
	for (uint32_t i = 0; i < s->n_groups; i++) {
		struct group *g = s->groups[i];
		busy = busy || g->n_writes || g->n_forwarded ||
		       (s->handing_over && raft_role_of(g->r) == RAFT_LEADER &&
			!raft_stopped(g->r));
	}
	if (busy && server_now_ms() < s->stop_deadline)
		return;
	s->closed = true;
	retry_give_up_all(s);
	for (uint32_t i = 0; i < s->n_groups; i++)
		requests_fail_all(s->groups[i],
				  "-ERR the node is shutting down; the request was not applied");
	close_handles(s, false);
}

/* Notes a stall of the loop: the timer fires once however many periods
 * it missed, so a stall counts as one tick. The core counts time in ticks,
 * so a stall never makes a timeout run out sooner; it is reported (INFO
 * raft, and a line once it nears an election timeout) because a leader
 * that stalls for an election timeout loses its followers. */
static void note_stall(struct server *s)
{
	uint64_t now = uv_hrtime();
	uint64_t gap_ms = s->tick_last_ns ? (now - s->tick_last_ns) / 1000000 : 0;
	s->tick_last_ns = now;
	if (gap_ms <= s->cfg.tick_ms + s->cfg.heartbeat_ms)
		return;
	s->tick_stalled = true;
	s->stats.loop_stalls++;
	if (gap_ms > s->stats.loop_stall_max_ms)
		s->stats.loop_stall_max_ms = gap_ms;
	if (gap_ms >= s->cfg.election_timeout_ms / 2)
		fprintf(stderr,
			"[%llu] the event loop stalled for %llu ms (election timeout %u ms): "
			"the machine is overloaded, or a fork or a disk is slow\n",
			(unsigned long long)s->cfg.id, (unsigned long long)gap_ms,
			s->cfg.election_timeout_ms);
}

static void on_tick_idle(uv_idle_t *h)
{
	(void)h; /* only there so that the loop polls without blocking */
}

/* The timer only marks a tick due; it runs at the end of the loop pass
 * (run_tick), after the pass has read what arrived. After a stall, the
 * timer fires before the pass reads its sockets: a follower would count a
 * tick of silence while the leader's heartbeats sit unread, and a leader
 * could end a check-quorum round before reading its followers' answers. */
static void on_tick(uv_timer_t *t)
{
	struct server *s = t->data;
	note_stall(s);
	s->tick_due = true;
	uv_idle_start(&s->tick_idle, on_tick_idle);
}

static void run_tick(struct server *s)
{
	s->tick_due = false;
	uv_idle_stop(&s->tick_idle);
	quiet_tick(s);
	SERVER_FOR_AWAKE (s, i)
		group_tick(s->groups[i], s->tick_stalled);
	s->tick_stalled = false;
	migrate_tick(s);
	retry_tick(s);
	groups_place(s);
	conform_tick(s);
	server_process(s);
	shutdown_step(s);
}

/* The end of a loop pass: what clients asked for in it goes to the core
 * together — the writes as one update (one append to the followers, one
 * group for the disk), the reads under one read index — and the replies
 * it finished go out, one write per client and one per peer. */
static void on_check(uv_check_t *h)
{
	struct server *s = h->data;
	if (s->tick_due && !s->closed)
		run_tick(s);
	if (s->closed)
		return; /* shutdown_step closed everything */
	clients_resume(s);
	migrate_pass(s);
	SERVER_FOR_AWAKE (s, i) {
		requests_flush_writes(s->groups[i]);
		requests_flush_reads(s->groups[i]);
	}
	server_process(s);
	committer_kick(s->com); /* what every group of this pass queued, together */
	SERVER_FOR_AWAKE (s, i)
		requests_flush_peers(s->groups[i]);
	if (!s->closed) {
		/* what this pass applied, to replicas; every group, each pass, busy
		 * or not: a replica's stream wants its heartbeats (100 ms) */
		for (uint32_t i = 0; i < s->n_groups; i++)
			replication_pump(s->groups[i]);
		if (s->peers)
			peers_flush(s->peers); /* this pass's frames, one write a peer */
	}
	clients_flush(s);
}

static void on_wake(uv_async_t *a)
{
	server_process(a->data);
}

static void wake_loop(void *ctx)
{
	uv_async_send(ctx);
}

static void on_peer_frame(void *ctx, uint64_t from, uint8_t kind, const uint8_t *p, size_t n)
{
	struct server *s = ctx;
	struct group *g = s->g;
	if (kind == FRAME_LIVE) { /* the node's, not a group's */
		quiet_on_live(s, from, p, n);
		return;
	}
	if (kind == FRAME_LEADS) { /* the node's too: the placed shards it leads */
		requests_on_leads(s, from, p, n);
		return;
	}
	if (kind == FRAME_GROUP) {
		uint32_t id;
		if (!frame_group_open(p, n, &id, &kind, &p, &n) ||
		    (id >= s->n_shards && (id != SERVER_META_GROUP || !s->meta)))
			return; /* not a group this node holds (its --shards differ) */
		g = id == SERVER_META_GROUP ? s->meta : s->groups[id];
	}
	if (!members_on_frame(g, from, kind, p, n))
		return;
	if (kind == FRAME_RAFT) {
		group_on_raft(g, from, p, n); /* it wakes the group, or not */
	} else if (kind == FRAME_QUIET) {
		quiet_on_frame(g, from, p, n);
	} else {
		group_wake(g, from);
		requests_on_frame(g, from, kind, p, n);
	}
	/* only this group's work, now; every group's at the pass's end */
	group_process(g);
	requests_answer_reads(s);
}

static void on_peer_log(void *ctx, const char *line)
{
	struct server *s = ctx;
	if (s->cfg.verbose)
		fprintf(stderr, "[%llu] %s\n", (unsigned long long)s->cfg.id, line);
}

static void on_signal(uv_signal_t *h, int sig)
{
	struct server *s = h->data;
	fprintf(stderr, "[%llu] signal %d: shutting down\n", (unsigned long long)s->cfg.id, sig);
	server_stop(s);
}

/* ---- --join ----------------------------------------------------------------- */

static void join_try(struct server *s);

static void join_retry(uv_timer_t *t)
{
	join_try(t->data);
}

static void join_closed(uv_handle_t *h)
{
	struct server *s = h->data;
	s->join.tcp_open = false;
	if (s->join.active && !s->stopping)
		uv_timer_start(&s->join.retry, join_retry, 1000, 0);
}

static void join_done(struct server *s, const char *how)
{
	fprintf(stderr, "[%llu] --join %s: %s\n", (unsigned long long)s->cfg.id, s->cfg.join, how);
	if (!uv_is_closing((uv_handle_t *)&s->join.tcp))
		uv_close((uv_handle_t *)&s->join.tcp, join_closed);
}

static void join_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct server *s = h->data;
	(void)hint;
	*buf = uv_buf_init((char *)rbuf_reserve(&s->join.in, 4096), 4096);
}

static void join_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct server *s = st->data;
	(void)buf;
	size_t frame;
	if (n > 0)
		s->join.in.len += (size_t)n;
	if (n < 0) {
		join_done(s, "the connection closed; trying again");
		return;
	}
	if (resp_scan_reply(s->join.in.p, s->join.in.len, &frame) != RESP_OK)
		return;
	if (s->join.in.p[0] == '+') {
		s->join.active = false; /* added: the leader will reach us */
		join_done(s, "added as a learner; it is promoted once caught up");
	} else {
		char why[200];
		/* the error's text: without its '-' and its CRLF */
		snprintf(why, sizeof why, "refused (%.*s); trying again", (int)(frame - 3),
			 (const char *)s->join.in.p + 1);
		join_done(s, why);
	}
}

static void join_connected(uv_connect_t *req, int status)
{
	struct server *s = req->data;
	if (status < 0) {
		join_done(s, "cannot connect; trying again");
		return;
	}
	char peer[96], id[24], shards[16];
	char *cmd = s->join.cmd; /* the write's bytes and request are the server's */
	snprintf(peer, sizeof peer, "%s:%d", s->cfg.bind, s->cfg.peer_port);
	snprintf(id, sizeof id, "%llu", (unsigned long long)s->cfg.id);
	snprintf(shards, sizeof shards, "%u", s->cfg.shards ? s->cfg.shards : 1);
	int n = snprintf(cmd, sizeof s->join.cmd,
			 "*7\r\n$4\r\nRAFT\r\n$11\r\nADD-LEARNER\r\n$%zu\r\n%s\r\n"
			 "$%zu\r\n%s\r\n$4\r\nAUTO\r\n$6\r\nSHARDS\r\n$%zu\r\n%s\r\n",
			 strlen(id), id, strlen(peer), peer, strlen(shards), shards);
	uv_buf_t b = uv_buf_init(cmd, (unsigned)n);
	s->join.in.len = 0;
	if (uv_write(&s->join.write, (uv_stream_t *)&s->join.tcp, &b, 1, NULL) != 0 ||
	    uv_read_start((uv_stream_t *)&s->join.tcp, join_alloc, join_read) != 0)
		join_done(s, "cannot send; trying again");
}

/* Asks the --join member to add this node (RAFT ADD-LEARNER id addr AUTO
 * SHARDS n, n its --shards, which must be the cluster's): a follower
 * forwards it to the leader (of the metadata group, on a node of several
 * shards: each shard then takes the node, server/conform.c). Tried every
 * second until added. */
static void join_try(struct server *s)
{
	if (!s->join.active || s->stopping || s->join.tcp_open)
		return;
	/* a leader has reached this node (an answer lost, or a change that
	 * committed after its -TIMEOUT): it is a member */
	if (raft_last_index(server_cluster(s)->r) > 0) {
		s->join.active = false;
		fprintf(stderr, "[%llu] --join %s: a leader has reached this node; joined\n",
			(unsigned long long)s->cfg.id, s->cfg.join);
		return;
	}
	if (++s->join.tries > 120) {
		fprintf(stderr, "[%llu] --join %s: giving up\n", (unsigned long long)s->cfg.id,
			s->cfg.join);
		s->join.active = false;
		return;
	}
	struct sockaddr_in a;
	repl_parse_addr(s->cfg.join, &a); /* checked when the command line was read */
	uv_tcp_init(s->loop, &s->join.tcp);
	s->join.tcp.data = s;
	s->join.tcp_open = true;
	s->join.req.data = s;
	if (uv_tcp_connect(&s->join.req, &s->join.tcp, (const struct sockaddr *)&a,
			   join_connected) != 0)
		join_done(s, "cannot connect; trying again");
}

static void join_start(struct server *s)
{
	uv_timer_init(s->loop, &s->join.retry);
	s->join.retry.data = s;
	rbuf_init(&s->join.in);
	/* the last index counts a snapshot's (the log starts after it) */
	/* (the metadata group's, on a node of several shards: it has the node
	 * first) */
	if (!s->cfg.join[0] || raft_last_index(server_cluster(s)->r) > 0)
		return; /* nothing to join, or already a member: the log says so */
	s->join.active = true;
	join_try(s);
}

/* ---- start and stop ------------------------------------------------------- */

int server_start(struct server *s, struct keel_errmsg *err)
{
	s->started_ms = server_now_ms();
	int rc = groups_open(s, err);
	if (rc)
		return rc;
	rc = s->embed ? committer_start_manual(wake_loop, &s->wake, s->embed->queued,
					       s->embed->queued_ctx, &s->com, err)
		      : committer_start(wake_loop, &s->wake, &s->com, err);
	if (rc)
		return rc;
	committer_defer(s->com); /* on_check kicks it: one pass, every group */
	if (s->journal) {
		committer_use_journal(s->com, s->journal);
		s->journal = NULL;
	}
	struct peers_cb pcb = {s, on_peer_frame, on_peer_log};
	if (s->g->r && (rc = peers_start(s->loop, s->cfg.id, s->cfg.bind, s->cfg.peer_port, &pcb,
					 &s->peers, err)))
		return rc;
	if (s->g->r) {
		sentinel_start(s);
		members_sync(s->g);
	}
	if ((rc = clients_listen(s, err)))
		return rc;
	uv_check_init(s->loop, &s->check);
	s->check.data = s;
	uv_check_start(&s->check, on_check);
	uv_async_init(s->loop, &s->wake, on_wake);
	s->wake.data = s;
	uv_timer_init(s->loop, &s->tick);
	s->tick.data = s;
	uv_idle_init(s->loop, &s->tick_idle);
	s->tick_idle.data = s;
	uv_timer_start(&s->tick, on_tick, s->cfg.tick_ms, s->cfg.tick_ms);
	uv_signal_init(s->loop, &s->sigterm);
	uv_signal_init(s->loop, &s->sigint);
	s->sigterm.data = s->sigint.data = s;
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	join_start(s);
	s->loop_handles = true;
	server_process(s);
	return KEEL_OK;
}

void server_stop(struct server *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	/* Hand each group's leadership to a caught-up voter first, if there
	 * is one. */
	for (uint32_t i = 0; i < s->n_groups; i++)
		if (group_hand_over(s->groups[i]))
			s->handing_over = true;
	if (s->handing_over)
		server_process(s);
	s->stop_deadline = server_now_ms() + 1000; /* no new clients: on_connection (clients.c) */
}

/* Everything but the committer: after it has stopped or been discarded. */
static void free_memory(struct server *s)
{
	migrate_free(s);
	journal_close(s->journal); /* never handed to a committer */
	s->journal = NULL;
	for (uint32_t i = 0; i < s->n_groups; i++)
		group_free(s->groups[i]);
	keel_free(s->groups);
	s->groups = NULL;
	keel_free(s->quiet_bits);
	s->quiet_bits = NULL;
	s->n_quiet = 0;
	s->n_groups = s->n_shards = 0;
	s->g = s->meta = NULL;
	keel_free(s->argv);
	for (uint32_t i = 0; i < s->cap_replies; i++)
		rbuf_free(&s->replies[i]);
	keel_free(s->replies);
	clients_free(s);
	rbuf_free(&s->join.in);
	rbuf_free(&s->leads);
}

void server_free(struct server *s)
{
	if (s->com)
		committer_stop(s->com); /* drains what was queued */
	s->com = NULL;
	free_memory(s);
}

void server_halt(struct server *s)
{
	if (s->closed)
		return;	    /* a shutdown closed everything already */
	s->stopping = true; /* no close callback starts anything again */
	close_handles(s, true);
}

void server_discard(struct server *s)
{
	for (uint32_t i = 0; i < s->n_groups; i++)
		requests_discard(s->groups[i]);
	committer_discard(s->com); /* what is queued is never written */
	s->com = NULL;
	free_memory(s);
}
