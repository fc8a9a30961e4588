/* server/node.c — the node's Raft core driven by the update contract of
 * raft/raft.h: persist through the storage thread (group commit), send
 * msgs_now at once and msgs once their persist is durable, apply committed
 * entries to the keyspace, answer reads, take snapshots. Also start-up
 * (recovery from the data folder) and the tick. */
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

int64_t server_now_ms(void)
{
	const struct io_wall *w = io_wall_posix();
	return w->now_ms(w->ctx);
}

static void trace_line(void *ctx, const char *line)
{
	struct server *s = ctx;
	fprintf(stderr, "[%llu] %s\n", (unsigned long long)s->cfg.id, line);
}

/* ---- sending ------------------------------------------------------------ */

static void send_msg(struct server *s, const struct raft_msg *m)
{
	struct raft_msg c = *m;
	if (m->type == RAFT_MSG_SNAPSHOT) {
		if (!s->have_snap || s->snap.index != m->u.snapshot.meta.index ||
		    m->u.snapshot.offset + m->u.snapshot.len > s->snap.size)
			return; /* not the snapshot we hold: the core asks again */
		if (!snapshots_sending(s, m->to, m->u.snapshot.offset,
				       s->snap_bytes.p + m->u.snapshot.offset, m->u.snapshot.len))
			return;
		c.u.snapshot.data = s->snap_bytes.p + m->u.snapshot.offset;
	}
	size_t cap = raft_msg_size(&c);
	uint8_t *buf = keel_malloc(cap);
	size_t n = raft_msg_encode(&c, buf, cap);
	if (n)
		peers_send(s->peers, m->to, FRAME_RAFT, buf, n);
	keel_free(buf);
}

/* ---- persist ------------------------------------------------------------ */

/* Queues the persist part of an update; returns its sequence number (0:
 * nothing to persist). */
static uint64_t persist(struct server *s, const struct raft_update *u)
{
	struct storage_batch b;
	struct persist_scratch sc;
	uint64_t seq = persist_batch(u, &b, &sc) ? committer_submit(s->com, &b) : 0;
	persist_scratch_free(&sc);
	return seq;
}

static void hold(struct server *s, const struct raft_update *u, uint64_t seq)
{
	if (s->n_held == s->cap_held) {
		s->cap_held = s->cap_held ? s->cap_held * 2 : 16;
		s->held = keel_realloc(s->held, s->cap_held * sizeof *s->held);
	}
	struct held *h = &s->held[s->n_held++];
	memset(h, 0, sizeof *h);
	h->seq = seq;
	if (u->n_entries) {
		h->last_index = u->entries[u->n_entries - 1].index;
		h->last_term = u->entries[u->n_entries - 1].term;
	}
	if (u->n_msgs) {
		h->msgs = keel_malloc(u->n_msgs * sizeof *h->msgs);
		for (uint32_t i = 0; i < u->n_msgs; i++)
			raft_msg_clone(&h->msgs[i], &u->msgs[i]);
		h->n = u->n_msgs;
	}
}

/* Releases what the durable sequence number now covers, in order. */
static void release_held(struct server *s)
{
	uint32_t k = 0;
	while (k < s->n_held && s->held[k].seq <= s->durable_seq) {
		struct held *h = &s->held[k++];
		if (h->last_index && s->r)
			raft_persisted(s->r, h->last_index, h->last_term);
		for (uint32_t i = 0; i < h->n; i++) {
			send_msg(s, &h->msgs[i]);
			raft_msg_clone_free(&h->msgs[i]);
		}
		keel_free(h->msgs);
	}
	if (k) {
		memmove(s->held, s->held + k, (s->n_held - k) * sizeof *s->held);
		s->n_held -= k;
	}
}

/* ---- apply -------------------------------------------------------------- */

/* A request's commands, in turn: the replies go to out (an array for a
 * MULTI/EXEC). */
static void run_commands(struct server *s, const struct entry_req *q, const struct entry *en,
			 struct rbuf *out)
{
	if (q->h.multi)
		resp_array(out, q->n_cmds);
	uint32_t db = q->h.db;
	for (uint32_t k = 0; k < q->n_cmds; k++) {
		poison_test_check(s, q->cmds[k].argv, q->cmds[k].argc);
		struct kv_ctx c = {.kv = &s->kv,
				   .argv = q->cmds[k].argv,
				   .argc = q->cmds[k].argc,
				   .out = out,
				   .proto = 2,
				   .now_ms = en->time_ms,
				   .db = db,
				   .dbs = en->dbs,
				   .session = q->h.session};
		kv_exec(&c);
		db = c.db;
	}
}

/* Runs one request of an entry: its reply goes to out. A request its
 * session has seen is not run again (exactly-once, thesis §6.3): it gets
 * the reply it had, or an error that says whether it was applied. Its
 * commands run in its database, checked against the entry's count of
 * databases (the leader's); a SELECT among them moves the ones after it.
 * In an entry skipped by --skip-entry (skipped: its index), a new request
 * is not run: it is answered with an error, recorded in its session as
 * any reply, the same on every replica (server/poison.h). */
static void apply_request(struct server *s, const struct entry_req *q, const struct entry *en,
			  struct rbuf *out, raft_index skipped)
{
	const uint8_t *kept = NULL;
	size_t klen = 0;
	switch (q->h.session
			? kv_session_check(&s->kv, q->h.session, q->h.seq, q->h.ack, &kept, &klen)
			: KV_SESSION_NEW) {
	case KV_SESSION_REPLY:
		rbuf_put(out, kept, klen);
		return;
	case KV_SESSION_APPLIED:
		resp_error(out, "ERR this write was applied, but its reply is no longer kept "
				"(over the session's limit for kept replies)");
		return;
	case KV_SESSION_ANSWERED:
		resp_error(out, "ERR this request was answered before on its connection; its "
				"reply is no longer kept");
		return;
	case KV_SESSION_PASSED:
		resp_error(out, "ERR this write was not applied: a later write of its "
				"connection was applied first");
		return;
	case KV_SESSION_EXPIRED:
		resp_error(out, "ERR session expired (idle past the session timeout): this write "
				"was not applied; whether an earlier copy of it was is no longer "
				"known");
		return;
	default:
		break;
	}
	if (skipped)
		resp_errorf(out,
			    "ERR not applied: its log entry (%llu) failed to apply and was skipped "
			    "by the operator (--skip-entry)",
			    (unsigned long long)skipped);
	else
		run_commands(s, q, en, out);
	if (q->h.session)
		kv_session_record(&s->kv, q->h.session, q->h.seq, q->h.ack, en->time_ms, out->p,
				  out->len);
}

void server_apply(struct server *s, const struct raft_entry *e)
{
	s->stats.applied_entries++;
	if (e->type != RAFT_ENTRY_COMMAND) {
		requests_on_applied(s, e, NULL, 0);
		return;
	}
	struct entry en;
	if (entry_decode(&en, e->data, e->len) != KEEL_OK) {
		fprintf(stderr, "[%llu] entry %llu does not decode: skipped\n",
			(unsigned long long)s->cfg.id, (unsigned long long)e->index);
		s->stats.skipped_entries++;
		requests_on_applied(s, e, NULL, 0);
		return;
	}
	s->last_entry_time = en.time_ms;
	if (en.n_reqs > s->cap_replies) { /* the reply buffers are kept */
		s->replies = keel_realloc(s->replies, en.n_reqs * sizeof *s->replies);
		for (uint32_t i = s->cap_replies; i < en.n_reqs; i++)
			rbuf_init(&s->replies[i]);
		s->cap_replies = en.n_reqs;
	}
	raft_index skipped = poison_skip(s, e->index) ? e->index : 0;
	if (skipped)
		fprintf(stderr,
			"[%llu] entry %llu skipped (--skip-entry): its requests are answered "
			"with an error\n",
			(unsigned long long)s->cfg.id, (unsigned long long)e->index);
	poison_applying(s, e->index); /* the fatal paths name it (server/poison.c) */
	for (uint32_t i = 0; i < en.n_reqs; i++) {
		s->replies[i].len = 0;
		/* reads its connection sent before this write run first */
		if (en.reqs[i].h.session)
			requests_before_write(s, en.reqs[i].h.session, en.reqs[i].h.seq);
		apply_request(s, &en.reqs[i], &en, &s->replies[i], skipped);
	}
	poison_applied(s, e->index);
	requests_on_applied(s, e, s->replies, en.n_reqs);
	for (uint32_t i = 0; i < en.n_reqs; i++)
		if (s->replies[i].cap > 65536) /* a big reply: its buffer goes */
			rbuf_free(&s->replies[i]);
	entry_free(&en);
}

static void carry_out(struct server *s, struct raft_update *u)
{
	if (u->snap_chunk)
		snapshots_chunk(s, u->snap_chunk);
	uint64_t seq = persist(s, u);
	for (uint32_t i = 0; i < u->n_msgs_now; i++)
		send_msg(s, &u->msgs_now[i]);
	hold(s, u, seq);
	if (u->snap_install)
		snapshots_install(s, u->snap_install);
	for (uint32_t i = 0; i < u->n_committed; i++)
		server_apply(s, &u->committed[i]);
	requests_on_reads(s, u->reads, u->n_reads);
	if (u->snapshot_wanted)
		snapshots_want(s, u->snapshot_index);
}

static void check_storage(struct server *s)
{
	int failed;
	struct keel_errmsg err = {{0}};
	s->durable_seq = committer_durable(s->com, &failed, &err);
	if (failed)
		server_storage_failed(s, failed, err.text);
}

void server_storage_failed(struct server *s, int rc, const char *why)
{
	/* once, stopping or not: a disk that failed during a graceful stop
	 * is told in the exit status too, on a member and on a replica */
	if (s->storage_failed)
		return;
	s->storage_failed = true;
	fprintf(stderr, "[%llu] storage failed, the node stops: %s\n",
		(unsigned long long)s->cfg.id, why);
	if (s->r)
		raft_fail(s->r, rc);
	requests_fail_all(s, "-ERR storage failed: the node has stopped (write not applied)");
	s->exit_code = 1;
	server_stop(s);
}

void server_process(struct server *s)
{
	if (s->replica) {
		check_storage(s);
		replica_process(s);
	}
	for (int round = 0; round < 1000 && s->r && !raft_stopped(s->r); round++) {
		check_storage(s);
		release_held(s);
		snapshots_check(s);
		if (!raft_has_update(s->r))
			break;
		struct raft_update u;
		raft_update_get(s->r, &u);
		carry_out(s, &u);
		raft_update_done(s->r, &u);
	}
	if (s->r && s->peers)
		members_sync(s);
	requests_answer_reads(s);
}

/* ---- loop callbacks ----------------------------------------------------- */

struct sweep {
	struct rbuf args; /* the command, as entry_cmd_append lays it out */
	uint32_t n;
	struct resp_arg argv[1 + 2 * 100];
	char times[100][24];
};

static void sweep_key(void *ctx, const struct kv_entry *e)
{
	struct sweep *w = ctx;
	uint32_t k = w->n++;
	snprintf(w->times[k], sizeof w->times[k], "%lld", (long long)e->expire);
	w->argv[1 + 2 * k] = (struct resp_arg){e->key, e->klen};
	w->argv[2 + 2 * k] = (struct resp_arg){(const uint8_t *)w->times[k], strlen(w->times[k])};
}

/* A command of the leader's own (no session) proposed in database db: a
 * request with no client, freed when it is done. */
static void propose_own(struct server *s, const struct resp_arg *argv, uint32_t argc, uint32_t db)
{
	struct creq *q = creq_new(s, NULL);
	entry_req_header(&q->cmd, &(struct entry_req_head){.db = db}, 1);
	entry_cmd_append(&q->cmd, argv, argc);
	q->n_cmds = 1;
	request_submit(s, q, false);
}

/* The leader's active expiry: every tenth tick it proposes the removal of
 * up to 100 keys whose time has passed (KEEL.EXPIRED), so every replica
 * removes them at the same entry. */
static void expire_sweep(struct server *s)
{
	if (++s->sweep_ticks % 10 || !s->r || raft_stopped(s->r) ||
	    raft_role_of(s->r) != RAFT_LEADER)
		return;
	struct sweep *w = keel_calloc(1, sizeof *w);
	w->argv[0] = (struct resp_arg){(const uint8_t *)"keel.expired", 12};
	uint32_t db = kv_expired_sample(&s->kv, server_now_ms(), &s->expire_db, &s->expire_cursor,
					100, sweep_key, w);
	if (w->n)
		propose_own(s, w->argv, 1 + 2 * w->n, db);
	keel_free(w);
}

/* The leader's session expiry: every 100 ticks, if its least recently
 * used session is idle past --session-timeout-ms or the table holds more
 * than --session-max-mb, it proposes KEEL.EXPIRE-SESSIONS with both
 * settings; every replica removes the same sessions at that entry, by
 * the entry's time (kv/session.c). */
static void session_sweep(struct server *s)
{
	if (s->sweep_ticks % 100 || !s->r || raft_stopped(s->r) ||
	    raft_role_of(s->r) != RAFT_LEADER)
		return;
	int64_t oldest = kv_session_oldest(&s->kv), idle;
	bool expired = s->cfg.session_timeout_ms && oldest != INT64_MAX &&
		       !__builtin_sub_overflow(server_now_ms(), oldest, &idle) &&
		       idle >= (int64_t)s->cfg.session_timeout_ms;
	if (!expired && !(s->cfg.session_max_bytes && s->kv.sess_bytes > s->cfg.session_max_bytes))
		return;
	char t[24], b[24];
	snprintf(t, sizeof t, "%llu", (unsigned long long)s->cfg.session_timeout_ms);
	snprintf(b, sizeof b, "%llu", (unsigned long long)s->cfg.session_max_bytes);
	struct resp_arg argv[3] = {{(const uint8_t *)"keel.expire-sessions", 20},
				   {(const uint8_t *)t, strlen(t)},
				   {(const uint8_t *)b, strlen(b)}};
	propose_own(s, argv, 3, 0);
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
	replica_stop(s);
	snapshots_stop(s, crash);
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
	bool busy = s->n_writes || s->n_forwarded ||
		    (s->handing_over && s->r && raft_role_of(s->r) == RAFT_LEADER &&
		     !raft_stopped(s->r));
	if (busy && server_now_ms() < s->stop_deadline)
		return;
	s->closed = true;
	requests_fail_all(s, "-ERR the node is shutting down; the request was not applied");
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
	if (s->r && !raft_stopped(s->r) && !s->removed_at) {
		raft_tick(s->r);
		if (s->tick_stalled) /* a leader's followers heard nothing meanwhile */
			raft_heartbeat_now(s->r);
	}
	s->tick_stalled = false;
	members_tick(s);
	kv_rehash_some(&s->kv, 1000); /* finish a rehash while idle */
	requests_tick(s);
	expire_sweep(s);
	session_sweep(s);
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
	requests_flush_writes(s);
	requests_flush_reads(s);
	server_process(s);
	requests_flush_peers(s);
	if (!s->closed) {
		replication_pump(s); /* what this pass applied, to the replicas */
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
	if (!members_on_frame(s, from, kind, p, n))
		return;
	if (kind == FRAME_RAFT) {
		struct raft_msg m;
		if (raft_msg_decode(&m, p, n) != KEEL_OK || m.from != from) {
			fprintf(stderr, "[%llu] bad message from peer %llu: dropped\n",
				(unsigned long long)s->cfg.id, (unsigned long long)from);
			return;
		}
		members_on_msg(s, &m);
		if (s->r && !raft_stopped(s->r)) {
			raft_step(s->r, &m);
			members_follow_leader(s, &m);
		}
		raft_msg_decoded_free(&m);
	} else {
		requests_on_frame(s, from, kind, p, n);
	}
	server_process(s);
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
		snprintf(why, sizeof why, "refused (%.*s); trying again", (int)(frame - 2),
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
	char peer[96], id[24];
	char *cmd = s->join.cmd; /* the write's bytes and request are the server's */
	snprintf(peer, sizeof peer, "%s:%d", s->cfg.bind, s->cfg.peer_port);
	snprintf(id, sizeof id, "%llu", (unsigned long long)s->cfg.id);
	int n = snprintf(cmd, sizeof s->join.cmd,
			 "*5\r\n$4\r\nRAFT\r\n$11\r\nADD-LEARNER\r\n$%zu\r\n%s\r\n"
			 "$%zu\r\n%s\r\n$4\r\nAUTO\r\n",
			 strlen(id), id, strlen(peer), peer);
	uv_buf_t b = uv_buf_init(cmd, (unsigned)n);
	s->join.in.len = 0;
	if (uv_write(&s->join.write, (uv_stream_t *)&s->join.tcp, &b, 1, NULL) != 0 ||
	    uv_read_start((uv_stream_t *)&s->join.tcp, join_alloc, join_read) != 0)
		join_done(s, "cannot send; trying again");
}

/* Asks the --join member to add this node (RAFT ADD-LEARNER id addr AUTO):
 * a follower forwards it to the leader. Tried every second until added. */
static void join_try(struct server *s)
{
	if (!s->join.active || s->stopping || s->join.tcp_open)
		return;
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
	if (!s->cfg.join[0] || raft_last_index(s->r) > 0 || s->have_snap)
		return; /* nothing to join, or already a member: the log says so */
	s->join.active = true;
	join_try(s);
}

/* ---- start and stop ------------------------------------------------------- */

/* mkdir -p: the data folder's parents are made as needed. */
static int make_parents(const char *dir, struct keel_errmsg *err)
{
	char path[IO_PATH_MAX];
	snprintf(path, sizeof path, "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int rc = io_fs_posix()->mkdir(NULL, path);
		*p = '/';
		if (rc) {
			keel_errmsg_set(err, "mkdir %.*s: %s", (int)(p - path), path,
					keel_err_str(rc));
			return rc;
		}
	}
	return KEEL_OK;
}

static int open_storage(struct server *s, struct raft_init *in, struct keel_errmsg *err)
{
	int rc = make_parents(s->cfg.dir, err);
	if (rc)
		return rc;
	struct storage_options o;
	storage_options_default(&o);
	if (s->cfg.segment_bytes)
		o.wal.segment_bytes = s->cfg.segment_bytes;
	rc = storage_open(io_fs_posix(), s->cfg.dir, &o, &s->st, err);
	if (rc)
		return rc;
	const struct storage_loaded *l = storage_loaded(s->st);
	in->term = l->term;
	in->vote = l->vote;
	if (l->has_snap) {
		if (persist_meta_from_snap(&l->snap, &s->snap) ||
		    kv_snapshot_read(&s->kv, l->snap_data, l->snap.size)) {
			keel_errmsg_set(err, "%s: the snapshot does not restore", s->cfg.dir);
			return KEEL_ECORRUPT;
		}
		s->snap_bytes.p = keel_memdup(l->snap_data, l->snap.size ? l->snap.size : 1);
		s->snap_bytes.len = l->snap.size;
		s->have_snap = true;
		in->snapshot = &s->snap;
	}
	return KEEL_OK;
}

/* A Raft member: the core from what storage recovered, and its peers. */
static int member_start(struct server *s, struct raft_init *in, struct keel_errmsg *err)
{
	const struct storage_loaded *l = storage_loaded(s->st);
	struct raft_entry *es = keel_calloc(l->n_entries ? l->n_entries : 1, sizeof *es);
	for (uint32_t i = 0; i < l->n_entries; i++)
		es[i] = (struct raft_entry){l->entries[i].term, l->entries[i].index,
					    l->entries[i].type, l->entries[i].len,
					    (uint8_t *)l->entries[i].data};
	in->entries = es;
	in->n_entries = l->n_entries;
	in->bootstrap = s->cfg.has_cluster ? &s->cfg.cluster : NULL;
	s->r = raft_new(in, err);
	if (s->r && raft_current_term(s->r) >= RAFT_TERM_MAX)
		fprintf(stderr,
			"[%llu] the stored term %llu is the largest a node may hold: this node "
			"follows but cannot campaign (docs/operations.md, section 13)\n",
			(unsigned long long)s->cfg.id, (unsigned long long)raft_current_term(s->r));
	keel_free(es);
	storage_loaded_release(s->st);
	if (!s->r)
		return KEEL_EINVAL;
	/* As etcd does at start: the election timer begins one tick short of
	 * the minimum timeout, so a new or restarted cluster elects a leader
	 * after [0, 1x) of the timeout rather than [1x, 2x), as randomized.
	 * A node restarted beside a live leader hears from it within a
	 * heartbeat; if it does not, its pre-vote is refused and changes no
	 * term (the others have heard from their leader). */
	for (uint32_t t = 1; t < in->options.election_ticks_min; t++)
		raft_tick(s->r);
	return KEEL_OK;
}

int server_start(struct server *s, struct keel_errmsg *err)
{
	s->started_ms = server_now_ms();
	kv_init_dbs(&s->kv, s->cfg.id * 0x9E3779B97F4A7C15ull ^ (uint64_t)s->started_ms,
		    s->cfg.databases);
	struct raft_init in = {.id = s->cfg.id, .seed = s->cfg.id ^ (uint64_t)s->started_ms};
	raft_options_default(&in.options);
	server_config_timing(&s->cfg, &in.options);
	if (s->cfg.snapshot_entries)
		in.options.snapshot_entries = s->cfg.snapshot_entries;
	if (s->cfg.has_trailing)
		in.options.trailing_entries = s->cfg.trailing_entries;
	if (s->cfg.verbose)
		in.options.trace = (struct trace){trace_line, s};
	int rc = open_storage(s, &in, err);
	if (!rc) /* before anything is applied: what failed here last time */
		rc = poison_start(s, s->have_snap ? s->snap.index : 0, err);
	if (rc)
		return rc;
	/* a read replica (SPEC.md §5) has no core and no peers */
	if ((rc = s->cfg.replica_of[0] ? replica_start(s, err) : member_start(s, &in, err)))
		return rc;
	rc = s->embed ? committer_start_manual(s->st, wake_loop, &s->wake, s->embed->queued,
					       s->embed->queued_ctx, &s->com, err)
		      : committer_start(s->st, wake_loop, &s->wake, &s->com, err);
	if (rc)
		return rc;
	struct peers_cb pcb = {s, on_peer_frame, on_peer_log};
	if (s->r && (rc = peers_start(s->loop, s->cfg.id, s->cfg.bind, s->cfg.peer_port, &pcb,
				      &s->peers, err)))
		return rc;
	if (s->r) {
		sentinel_start(s);
		members_sync(s);
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
	/* Hand leadership to a caught-up voter first, if there is one. */
	if (s->r && !raft_stopped(s->r) && raft_role_of(s->r) == RAFT_LEADER) {
		const struct raft_config *c = raft_config_of(s->r);
		raft_index best = 0;
		raft_id to = 0;
		for (uint32_t i = 0; i < c->n; i++) {
			raft_index match, next;
			raft_id id = c->members[i].id;
			if (id != s->cfg.id && raft_config_is_voter(c, id) &&
			    raft_progress_of(s->r, id, &match, &next) && match >= best) {
				best = match;
				to = id;
			}
		}
		if (to && raft_transfer_leader(s->r, to) == KEEL_OK) {
			fprintf(stderr, "[%llu] shutting down: transferring leadership to %llu\n",
				(unsigned long long)s->cfg.id, (unsigned long long)to);
			s->handing_over = true;
		}
		server_process(s);
	}
	s->stop_deadline = server_now_ms() + 1000; /* no new clients: on_connection (clients.c) */
}

/* Everything but the committer: after it has stopped or been discarded. */
static void free_memory(struct server *s)
{
	storage_close(s->st); /* writes nothing: what it buffered is dropped */
	s->st = NULL;
	raft_free(s->r);
	s->r = NULL;
	replication_free(s);
	kv_free(&s->kv);
	for (uint32_t i = 0; i < s->n_held; i++) {
		for (uint32_t k = 0; k < s->held[i].n; k++)
			raft_msg_clone_free(&s->held[i].msgs[k]);
		keel_free(s->held[i].msgs);
	}
	keel_free(s->held);
	snapshots_free(s);
	keel_free(s->writes);
	keel_free(s->pass_writes);
	rbuf_free(&s->entry);
	keel_free(s->argv);
	for (uint32_t i = 0; i < s->cap_replies; i++)
		rbuf_free(&s->replies[i]);
	keel_free(s->replies);
	clients_free(s);
	rbuf_free(&s->join.in);
	for (uint32_t i = 0; i < s->n_batches; i++) {
		rbuf_free(&s->batches[i].fwd);
		rbuf_free(&s->batches[i].rep);
	}
	keel_free(s->reads);
	keel_free(s->waiting);
	keel_free(s->forwarded);
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
		return; /* a shutdown closed everything already */
	s->stopping = true; /* no close callback starts anything again */
	close_handles(s, true);
}

void server_discard(struct server *s)
{
	requests_discard(s);
	committer_discard(s->com); /* what is queued is never written */
	s->com = NULL;
	free_memory(s);
}
