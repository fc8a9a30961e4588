/* server/group.c — one Raft group of a node: its core driven by the update
 * contract of raft/raft.h (persist through the node's storage thread with
 * group commit, send msgs_now at once and msgs once their persist is
 * durable, apply committed entries to the keyspace, answer reads, take
 * snapshots), its recovery from its data folder, and its tick's work (the
 * leader's expiry and session sweeps). Everything here takes the group; what
 * it shares with the node's other groups (the loop, the peers, the clients,
 * the storage thread, the configuration) it reaches through g->node. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/crc32c.h"
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

static void trace_line(void *ctx, const char *line)
{
	struct server *s = ctx;
	fprintf(stderr, "[%llu] %s\n", (unsigned long long)s->cfg.id, line);
}

/* ---- sending ------------------------------------------------------------ */

/* A node taken off a placed shard while it was down for longer than the
 * members tell a removed node (members.c) restarts with a configuration
 * that may name none of the shard's members now: the nodes it asks for
 * votes were taken off too, and say nothing. The map, committed in the
 * metadata group, does not list it: its pre-votes (which change no term
 * anywhere, thesis §9.6) go to the listed nodes too, at most once every
 * PREVOTE_LISTED_MS (a round's pre-votes go to each voter at once), and
 * a member of the shard's configuration that lacks it answers with a
 * REMOVED notice, which it believes from a node the map lists. */
#define PREVOTE_LISTED_MS 500

static void send_msg(struct group *g, const struct raft_msg *m);

static void prevote_listed(struct group *g, const struct raft_msg *m)
{
	int64_t now = server_now_ms();
	if (group_placed_on(g, g->node->cfg.id) || now < g->prevote_listed_ms)
		return; /* listed (or on every node), or sent lately */
	g->prevote_listed_ms = now + PREVOTE_LISTED_MS;
	for (uint32_t i = 0; i < g->n_placed; i++) {
		struct raft_msg c = *m;
		c.to = g->placed[i]; /* not a voter here: no copy of its own */
		if (!raft_config_find(raft_config_of(g->r), c.to))
			send_msg(g, &c);
	}
}

static void send_msg(struct group *g, const struct raft_msg *m)
{
	struct server *s = g->node;
	struct raft_msg c = *m;
	if (m->type == RAFT_MSG_SNAPSHOT) {
		if (!g->have_snap || g->snap.index != m->u.snapshot.meta.index ||
		    m->u.snapshot.offset + m->u.snapshot.len > g->snap.size)
			return; /* not the snapshot we hold: the core asks again */
		if (!snapshots_sending(g, m->to, m->u.snapshot.offset,
				       g->snap_bytes.p + m->u.snapshot.offset, m->u.snapshot.len))
			return;
		c.u.snapshot.data = g->snap_bytes.p + m->u.snapshot.offset;
	}
	size_t cap = raft_msg_size(&c);
	uint8_t *buf = keel_malloc(cap);
	size_t n = raft_msg_encode(&c, buf, cap);
	if (n)
		peers_send_group(s->peers, m->to, g->id, FRAME_RAFT, buf, n);
	keel_free(buf);
	if (m->type == RAFT_MSG_PREVOTE)
		prevote_listed(g, m);
}

/* ---- persist ------------------------------------------------------------ */

/* Queues the persist part of an update; returns its sequence number (0:
 * nothing to persist). */
static uint64_t persist(struct group *g, const struct raft_update *u)
{
	struct server *s = g->node;
	struct storage_batch b;
	struct persist_scratch sc;
	uint64_t seq = persist_batch(u, &b, &sc) ? committer_submit(s->com, g->st, &b) : 0;
	persist_scratch_free(&sc);
	return seq;
}

static void hold(struct group *g, const struct raft_update *u, uint64_t seq)
{
	if (g->n_held == g->cap_held) {
		g->cap_held = g->cap_held ? g->cap_held * 2 : 16;
		g->held = keel_realloc(g->held, g->cap_held * sizeof *g->held);
	}
	struct held *h = &g->held[g->n_held++];
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
static void release_held(struct group *g)
{
	uint32_t k = 0;
	while (k < g->n_held && g->held[k].seq <= g->durable_seq) {
		struct held *h = &g->held[k++];
		if (h->last_index && g->r)
			raft_persisted(g->r, h->last_index, h->last_term);
		for (uint32_t i = 0; i < h->n; i++) {
			send_msg(g, &h->msgs[i]);
			raft_msg_clone_free(&h->msgs[i]);
		}
		keel_free(h->msgs);
	}
	if (k) {
		memmove(g->held, g->held + k, (g->n_held - k) * sizeof *g->held);
		g->n_held -= k;
	}
}

/* ---- apply -------------------------------------------------------------- */

/* On a shard: whether every command of the request may run here now (its
 * keys' slots this shard's, a write's not frozen for a migration); else
 * false, with the request's TRYAGAIN error in out. The same on every
 * replica: the slots are replicated state (kv/slots.c). */
static bool slots_allow(struct group *g, const struct entry_req *q, struct rbuf *out)
{
	if (g->kv.shard_n < 2 || g->meta)
		return true;
	for (uint32_t k = 0; k < q->n_cmds; k++) {
		uint16_t slot;
		int st = kv_slots_check(&g->kv, q->cmds[k].argv, q->cmds[k].argc, &slot);
		if (st == KV_SLOT_OWNED)
			continue;
		resp_errorf(out,
			    st == KV_SLOT_FROZEN ? KV_REFUSED "%u" KV_REFUSED_MOVING KV_REFUSED_END
						 : KV_REFUSED "%u" KV_REFUSED_OTHER KV_REFUSED_END,
			    slot);
		return false;
	}
	return true;
}

/* A plain connection's write right after one of its session that was
 * refused for a slot (both in flight from one pipeline, say) is refused
 * too: applied, it would overtake the refused one,
 * which its node holds and sends again (server/retry.c), and the order
 * its connection sent them in would be lost. The node holds this one as
 * well and sends both again in order, each marked sent again. */
static bool behind_refusal(struct group *g, const struct entry_req *q, struct rbuf *out)
{
	if (!q->h.held || q->h.resend || !q->h.session ||
	    !kv_session_refused_last(&g->kv, q->h.session, q->h.seq))
		return false;
	resp_error(out, KV_REFUSED KV_REFUSED_BEHIND KV_REFUSED_END);
	return true;
}

/* A request's commands, in turn: the replies go to out (an array for a
 * MULTI/EXEC). */
static void run_commands(struct group *g, const struct entry_req *q, const struct entry *en,
			 struct rbuf *out)
{
	if (q->h.multi)
		resp_array(out, q->n_cmds);
	uint32_t db = q->h.db;
	for (uint32_t k = 0; k < q->n_cmds; k++) {
		poison_test_check(g, q->cmds[k].argv, q->cmds[k].argc);
		struct kv_ctx c = {.kv = &g->kv,
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
static void apply_request(struct group *g, const struct entry_req *q, const struct entry *en,
			  struct rbuf *out, raft_index skipped)
{
	const uint8_t *kept = NULL;
	size_t klen = 0;
	switch (q->h.session
			? kv_session_check(&g->kv, q->h.session, q->h.seq, q->h.ack, &kept, &klen)
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
	else if (!behind_refusal(g, q, out) && slots_allow(g, q, out))
		run_commands(g, q, en, out);
	if (q->h.session)
		kv_session_record(&g->kv, q->h.session, q->h.seq, q->h.ack, en->time_ms, out->p,
				  out->len);
}

/* The keys the next KV_PREFETCH_MAX requests of an entry look up first
 * (each request's first command's first argument, where most commands
 * have their key; any other is fetched for nothing), fetched into the
 * cache before they run (kv_prefetch). A database this keyspace does
 * not hold yet (the entry makes it) is passed over. */
static void prefetch(struct group *g, const struct entry *en, uint32_t from)
{
	struct kv_prefetch p;
	p.n = 0;
	for (uint32_t i = from; i < en->n_reqs && i - from < KV_PREFETCH_MAX; i++) {
		const struct entry_req *q = &en->reqs[i];
		if (q->cmds[0].argc > 1 && q->h.db < g->kv.n_db)
			kv_prefetch_add(&p, &g->kv.db[q->h.db], q->cmds[0].argv[1].p,
					q->cmds[0].argv[1].len);
	}
	kv_prefetch_entries(&p);
}

void group_apply(struct group *g, const struct raft_entry *e)
{
	struct server *s = g->node;
	s->stats.applied_entries++;
	if (e->type != RAFT_ENTRY_COMMAND) {
		requests_on_applied(g, e, NULL, 0);
		return;
	}
	struct entry en;
	if (entry_decode(&en, e->data, e->len) != KEEL_OK) {
		fprintf(stderr, "[%llu] entry %llu does not decode: skipped\n",
			(unsigned long long)s->cfg.id, (unsigned long long)e->index);
		s->stats.skipped_entries++;
		requests_on_applied(g, e, NULL, 0);
		return;
	}
	g->last_entry_time = en.time_ms;
	if (en.n_reqs > s->cap_replies) { /* the reply buffers are kept */
		s->replies = keel_realloc(s->replies, en.n_reqs * sizeof *s->replies);
		for (uint32_t i = s->cap_replies; i < en.n_reqs; i++)
			rbuf_init(&s->replies[i]);
		s->cap_replies = en.n_reqs;
	}
	raft_index skipped = poison_skip(g, e->index) ? e->index : 0;
	if (skipped)
		fprintf(stderr,
			"[%llu] entry %llu skipped (--skip-entry): its requests are answered "
			"with an error\n",
			(unsigned long long)s->cfg.id, (unsigned long long)e->index);
	poison_applying(g, e->index); /* the fatal paths name it (server/poison.c) */
	uint32_t shards_before = g->meta ? kv_slots_of(&g->kv)->n_shards : 0;
	for (uint32_t i = 0; i < en.n_reqs; i++) {
		if (i % KV_PREFETCH_MAX == 0)
			prefetch(g, &en, i);
		s->replies[i].len = 0;
		/* reads its connection sent before this write run first */
		if (en.reqs[i].h.session)
			requests_before_write(g, en.reqs[i].h.session, en.reqs[i].h.seq);
		apply_request(g, &en.reqs[i], &en, &s->replies[i], skipped);
	}
	poison_applied(g, e->index);
	if (g->meta && g->r)
		groups_added_at(s, e->index, shards_before);
	requests_on_applied(g, e, s->replies, en.n_reqs);
	for (uint32_t i = 0; i < en.n_reqs; i++)
		if (s->replies[i].cap > 65536) /* a big reply: its buffer goes */
			rbuf_free(&s->replies[i]);
	entry_free(&en);
}

static void carry_out(struct group *g, struct raft_update *u)
{
	if (u->snap_chunk)
		snapshots_chunk(g, u->snap_chunk);
	uint64_t seq = persist(g, u);
	for (uint32_t i = 0; i < u->n_msgs_now; i++)
		send_msg(g, &u->msgs_now[i]);
	hold(g, u, seq);
	if (u->snap_install)
		snapshots_install(g, u->snap_install);
	for (uint32_t i = 0; i < u->n_committed; i++)
		group_apply(g, &u->committed[i]);
	requests_on_reads(g, u->reads, u->n_reads);
	if (u->snapshot_wanted)
		snapshots_want(g, u->snapshot_index);
}

static void check_storage(struct group *g)
{
	int failed;
	struct keel_errmsg err = {{0}};
	g->durable_seq = committer_durable(g->node->com, &failed, &err);
	if (failed)
		group_storage_failed(g, failed, err.text);
}

void group_storage_failed(struct group *g, int rc, const char *why)
{
	struct server *s = g->node;
	/* once, stopping or not: a disk that failed during a graceful stop
	 * is told in the exit status too, on a member and on a replica */
	if (g->storage_failed)
		return;
	g->storage_failed = true;
	fprintf(stderr, "[%llu] storage failed, the node stops: %s\n",
		(unsigned long long)s->cfg.id, why);
	if (g->r)
		raft_fail(g->r, rc);
	requests_fail_all(g, "-ERR storage failed: the node has stopped (write not applied)");
	s->exit_code = 1;
	server_stop(s);
}

void group_process(struct group *g)
{
	struct server *s = g->node;
	if (g->beat_due) { /* woken as a quiet leader: its followers wake on it */
		g->beat_due = false;
		if (g->r)
			raft_heartbeat_now(g->r);
	}
	if (g->replica) {
		check_storage(g);
		replica_process(g);
	}
	for (int round = 0; round < 1000 && g->r && !raft_stopped(g->r); round++) {
		check_storage(g);
		release_held(g);
		snapshots_check(g);
		if (!raft_has_update(g->r))
			break;
		struct raft_update u;
		raft_update_get(g->r, &u);
		carry_out(g, &u);
		raft_update_done(g->r, &u);
	}
	if (g->r && s->peers) {
		members_sync(g);
		g->synced = true;
	}
}

bool group_settled(const struct group *g)
{
	return g->synced && g->r && !g->replica && !g->beat_due && !g->n_held && !g->snap_damaged &&
	       !snapshots_busy(g) && g->snapshot_exiting <= 0 && !raft_has_update(g->r);
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
static void propose_own(struct group *g, const struct resp_arg *argv, uint32_t argc, uint32_t db)
{
	struct server *s = g->node;
	struct creq *q = creq_new(s, NULL);
	entry_req_header(&q->cmd, &(struct entry_req_head){.db = db}, 1);
	entry_cmd_append(&q->cmd, argv, argc);
	q->n_cmds = 1;
	request_submit(g, q, false);
}

/* The leader's active expiry: every tenth tick it proposes the removal of
 * up to 100 keys whose time has passed (KEEL.EXPIRED), so every replica
 * removes them at the same entry. */
static void expire_sweep(struct group *g)
{
	if (++g->sweep_ticks % 10 || !g->r || raft_stopped(g->r) ||
	    raft_role_of(g->r) != RAFT_LEADER)
		return;
	struct sweep *w = keel_calloc(1, sizeof *w);
	w->argv[0] = (struct resp_arg){(const uint8_t *)"keel.expired", 12};
	uint32_t db = kv_expired_sample(&g->kv, server_now_ms(), &g->expire_db, &g->expire_cursor,
					100, sweep_key, w);
	if (w->n)
		propose_own(g, w->argv, 1 + 2 * w->n, db);
	keel_free(w);
}

/* The leader's session expiry: every 100 ticks, if its least recently
 * used session is idle past --session-timeout-ms or the table holds more
 * than --session-max-mb, it proposes KEEL.EXPIRE-SESSIONS with both
 * settings; every replica removes the same sessions at that entry, by
 * the entry's time (kv/session.c). */
static void session_sweep(struct group *g)
{
	struct server *s = g->node;
	if (g->sweep_ticks % 100 || !g->r || raft_stopped(g->r) ||
	    raft_role_of(g->r) != RAFT_LEADER)
		return;
	int64_t oldest = kv_session_oldest(&g->kv), idle;
	bool expired = s->cfg.session_timeout_ms && oldest != INT64_MAX &&
		       !__builtin_sub_overflow(server_now_ms(), oldest, &idle) &&
		       idle >= (int64_t)s->cfg.session_timeout_ms;
	if (!expired && !(s->cfg.session_max_bytes && g->kv.sess_bytes > s->cfg.session_max_bytes))
		return;
	char t[24], b[24];
	snprintf(t, sizeof t, "%llu", (unsigned long long)s->cfg.session_timeout_ms);
	snprintf(b, sizeof b, "%llu", (unsigned long long)s->cfg.session_max_bytes);
	struct resp_arg argv[3] = {{(const uint8_t *)"keel.expire-sessions", 20},
				   {(const uint8_t *)t, strlen(t)},
				   {(const uint8_t *)b, strlen(b)}};
	propose_own(g, argv, 3, 0);
}

/* mkdir -p: the data folder's parents are made as needed. */
static int make_parents(const char *dir, struct keel_errmsg *err)
{
	const struct io_fs *fs = io_fs_posix();
	char path[IO_PATH_MAX];
	snprintf(path, sizeof path, "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int rc = fs->mkdir(fs->ctx, path);
		*p = '/';
		if (rc) {
			keel_errmsg_set(err, "mkdir %.*s: %s", (int)(p - path), path,
					keel_err_str(rc));
			return rc;
		}
	}
	return KEEL_OK;
}

void group_storage_options(const struct server *s, struct storage_options *o)
{
	storage_options_default(o);
	if (s->cfg.segment_bytes)
		o->wal.segment_bytes = s->cfg.segment_bytes;
}

static int open_storage(struct group *g, struct raft_init *in, struct keel_errmsg *err)
{
	struct server *s = g->node;
	int rc = make_parents(g->dir, err);
	if (rc)
		return rc;
	struct storage_options o;
	group_storage_options(s, &o);
	rc = storage_open(io_fs_posix(), g->dir, &o, &g->st, err);
	if (rc)
		return rc;
	const struct storage_loaded *l = storage_loaded(g->st);
	in->term = l->term;
	in->vote = l->vote;
	if (l->has_snap) {
		if (persist_meta_from_snap(&l->snap, &g->snap) ||
		    kv_snapshot_read(&g->kv, l->snap_data, l->snap.size)) {
			keel_errmsg_set(err, "%s: the snapshot does not restore", g->dir);
			return KEEL_ECORRUPT;
		}
		g->snap_bytes.p = keel_memdup(l->snap_data, l->snap.size ? l->snap.size : 1);
		g->snap_bytes.len = l->snap.size;
		g->have_snap = true;
		in->snapshot = &g->snap;
	}
	return KEEL_OK;
}

/* A Raft member: the core from what storage recovered, and its peers. */
static int member_start(struct group *g, struct raft_init *in, struct keel_errmsg *err)
{
	struct server *s = g->node;
	const struct storage_loaded *l = storage_loaded(g->st);
	struct raft_entry *es = keel_calloc(l->n_entries ? l->n_entries : 1, sizeof *es);
	for (uint32_t i = 0; i < l->n_entries; i++)
		es[i] = (struct raft_entry){l->entries[i].term, l->entries[i].index,
					    l->entries[i].type, l->entries[i].len,
					    (uint8_t *)l->entries[i].data};
	in->entries = es;
	in->n_entries = l->n_entries;
	/* founders of no member: a shard added later whose first members this
	 * node cannot know (server/shards.c): its leader brings it in */
	if (g->founders)
		in->bootstrap = g->founders->n ? g->founders : NULL;
	else
		in->bootstrap = s->cfg.has_cluster ? &s->cfg.cluster : NULL;
	g->r = raft_new(in, err);
	if (g->r && raft_current_term(g->r) >= RAFT_TERM_MAX)
		fprintf(stderr,
			"[%llu] the stored term %llu is the largest a node may hold: this node "
			"follows but cannot campaign (docs/operations.md, section 13)\n",
			(unsigned long long)s->cfg.id, (unsigned long long)raft_current_term(g->r));
	keel_free(es);
	storage_loaded_release(g->st);
	if (!g->r)
		return KEEL_EINVAL;
	/* As etcd does at start: the election timer begins one tick short of
	 * the minimum timeout, so a new or restarted cluster elects a leader
	 * after [0, 1x) of the timeout rather than [1x, 2x), as randomized.
	 * A node restarted beside a live leader hears from it within a
	 * heartbeat; if it does not, its pre-vote is refused and changes no
	 * term (the others have heard from their leader). */
	for (uint32_t t = 1; t < in->options.election_ticks_min; t++)
		raft_tick(g->r);
	return KEEL_OK;
}

void group_kv_init(const struct group *g, struct kv *kv, uint64_t seed)
{
	const struct server *s = g->node;
	kv_init_dbs(kv, seed, s->cfg.databases);
	if (s->cfg.shards > 1)
		kv_shard_set(kv, s->cfg.shards, g->meta ? 0 : g->id, g->meta);
}

/* The keyspace as the group's log starts it: empty, and its slots (until
 * the log or a snapshot changes them). */
static void kv_start(struct group *g)
{
	struct server *s = g->node;
	group_kv_init(g, &g->kv, s->cfg.id * 0x9E3779B97F4A7C15ull ^ (uint64_t)s->started_ms);
}

/* Recovery: the group's keyspace, its core (or, on a read replica, its
 * stream's state) from what its storage holds. */
int group_open(struct group *g, struct keel_errmsg *err)
{
	struct server *s = g->node;
	kv_start(g);
	struct raft_init in = {.id = s->cfg.id, .seed = s->cfg.id ^ (uint64_t)s->started_ms};
	raft_options_default(&in.options);
	server_config_timing(&s->cfg, &in.options);
	if (s->cfg.snapshot_entries)
		in.options.snapshot_entries = s->cfg.snapshot_entries;
	if (s->cfg.has_trailing)
		in.options.trailing_entries = s->cfg.trailing_entries;
	if (s->cfg.verbose)
		in.options.trace = (struct trace){trace_line, s};
	int rc = open_storage(g, &in, err);
	if (!rc) /* before anything is applied: what failed here last time */
		rc = poison_start(g, g->have_snap ? g->snap.index : 0, err);
	if (rc)
		return rc;
	/* a read replica (SPEC.md §5) has no core and no peers */
	return s->cfg.replica_of[0] ? replica_start(g, err) : member_start(g, &in, err);
}

/* ---- a copy of a shard this node was taken off ---------------------------- */

struct digest {
	uint64_t sum;
	uint32_t db;
};

static void digest_each(void *ctx, struct kv_entry *e)
{
	struct digest *d = ctx;
	uint32_t c = crc32c(d->db, e->key, e->klen);
	c = crc32c(c, e->val, e->vlen);
	c = crc32c(c, &e->expire, sizeof e->expire);
	d->sum += ((uint64_t)c << 32 | e->klen) * 0x9E3779B97F4A7C15ull; /* in any order */
}

/* What a keyspace holds, whatever the order of its tables: its keys,
 * values and expiry times in every database, its sessions, and its slots. */
static uint64_t kv_digest(struct kv *kv)
{
	struct digest d = {0};
	for (d.db = 0; d.db < kv->n_db; d.db++)
		kv_dict_each(&kv->db[d.db], digest_each, &d);
	kv_dict_each(&kv->sessions, digest_each, &d);
	const struct kv_slots *sl = kv_slots_of(kv);
	if (sl)
		d.sum ^= crc32c(crc32c(0, sl->state, sizeof sl->state), &sl->epoch,
				sizeof sl->epoch);
	return d.sum;
}

bool group_wipe(struct group *g)
{
	/* the keyspace is the snapshot's state with the entries after it
	 * applied: both must stay to rebuild it */
	raft_index base = g->have_snap ? g->snap.index : 0;
	if (g->wiped || !g->r || snapshots_busy(g) ||
	    (raft_applied_index(g->r) > base && raft_first_index(g->r) > base + 1))
		return false;
	g->wiped_digest = kv_digest(&g->kv);
	kv_free(&g->kv);
	kv_start(g);
	g->wiped = true;
	return true;
}

void group_unwipe(struct group *g)
{
	struct server *s = g->node;
	if (!g->wiped)
		return;
	g->wiped = false;
	raft_index base = g->have_snap ? g->snap.index : 0, applied = raft_applied_index(g->r);
	uint64_t counted = s->stats.applied_entries; /* not applied anew: rebuilt */
	kv_free(&g->kv);
	kv_start(g);
	/* the bytes it restored from before (a start, an install, its own) */
	int rc = g->have_snap ? kv_snapshot_read(&g->kv, g->snap_bytes.p, g->snap_bytes.len)
			      : KEEL_OK;
	KEEL_ASSERT(rc == KEEL_OK);
	for (raft_index i = base + 1; i <= applied; i++) {
		const struct raft_entry *e = raft_entry_at(g->r, i);
		KEEL_ASSERT(e); /* group_wipe checked they stay */
		group_apply(g, e);
	}
	s->stats.applied_entries = counted;
	/* the same keyspace, or the node stops (a restart reads it from disk)
	 * rather than serve another */
	KEEL_ASSERT(kv_digest(&g->kv) == g->wiped_digest);
}

/* Whether shard g's member id is still one of the cluster's: the
 * metadata group's configuration (this node's copy) names it, and, if it
 * is this node, this node was not told it was removed from the cluster
 * (its copy may lack the entry that removed it). */
static bool in_cluster(const struct group *g, raft_id id)
{
	const struct group *meta = g->node->meta;
	if (!meta) /* a node of one group */
		return true;
	if (id == g->node->cfg.id && meta->removed_at)
		return false;
	return raft_config_find(raft_config_of(meta->r), id) != NULL;
}

/* The voters of g into v, sorted by id: those that are listed (of a
 * placed shard) and in the cluster, or, any, every voter but this node. */
static uint32_t voters_into(const struct group *g, bool any, raft_id *v)
{
	const struct raft_config *c = raft_config_of(g->r);
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		raft_id id = c->members[i].id;
		if (!raft_config_is_voter(c, id) ||
		    (any ? id == g->node->cfg.id : !group_placed_on(g, id) || !in_cluster(g, id)))
			continue;
		uint32_t k = n++;
		for (; k > 0 && v[k - 1] > id; k--)
			v[k] = v[k - 1];
		v[k] = id;
	}
	return n;
}

/* The voter that should lead g on a node of several groups: the
 * (g->id mod voters)-th voter by id, so that the groups' leaders are
 * spread over the nodes; 0 if there is no voter. Only the voters still in
 * the cluster and, of a placed shard, the voters it is placed on: one
 * removed or no longer listed is about to leave it (conform.c), and its
 * leader hands it on first. A node removed from the cluster whose copy of
 * the map names none (it stopped at the removal, and may predate the
 * voters added since: conform.c, ask_to_join) takes any other voter. */
raft_id group_preferred_leader(const struct group *g)
{
	raft_id v[RAFT_MEMBERS_MAX];
	uint32_t n = voters_into(g, false, v);
	if (!n && !in_cluster(g, g->node->cfg.id))
		n = voters_into(g, true, v);
	return n ? v[g->id % n] : 0;
}

bool group_caught_up(const struct group *g, raft_id id, raft_index lag)
{
	raft_index match, next;
	return peers_connected(g->node->peers, id) && raft_progress_of(g->r, id, &match, &next) &&
	       match + lag >= raft_last_index(g->r);
}

/* How far behind the leader's log a voter may be for a leader that must
 * leave its group to hand it over (the entries of a few passes in flight:
 * the transfer brings it up to date before it campaigns). */
#define LEAVE_LAG_MAX 256

/* A leader of one of several groups hands the group to its preferred
 * voter once a second while that voter is connected and has every entry
 * (so the transfer is quick and loses nothing: raft_transfer_leader, the
 * thesis's §3.10). A preferred voter that is down or behind leaves the
 * group where it is, as does, for the metadata group, one that is not yet
 * a voter of every shard. A leader that must leave the group (a placed
 * shard no longer placed on it, or a node removed from the cluster) hands
 * it over with the voter a little behind too: under a steady load a
 * follower is always the entries in flight behind, and waiting for a
 * moment with none kept such a leader in place for good (its removal
 * from the shard, and the node's from the cluster, waited on it). The
 * core refuses proposals while it catches the voter up (§3.10), for an
 * election timeout at most. */
static void spread_leader(struct group *g)
{
	struct server *s = g->node;
	if (s->n_groups < 2 || s->stopping || g->sweep_ticks % 100 != 50 || !g->r ||
	    raft_stopped(g->r) || raft_role_of(g->r) != RAFT_LEADER)
		return;
	raft_id to = group_preferred_leader(g);
	bool leaving = !group_placed_on(g, s->cfg.id) || !in_cluster(g, s->cfg.id);
	if (!to || to == s->cfg.id || !group_caught_up(g, to, leaving ? LEAVE_LAG_MAX : 0))
		return;
	/* the metadata group's leader drives the shards' membership
	 * (server/conform.c): not handed to a voter not yet in every shard */
	if (g->meta && !conform_voter_everywhere(s, to))
		return;
	/* nor, during a move, to one that does not hold its source */
	if (g->meta && !migrate_may_drive(s, to))
		return;
	if (raft_transfer_leader(g->r, to) == KEEL_OK)
		fprintf(stderr,
			"[%llu] group %u: handing leadership to %llu, its preferred leader\n",
			(unsigned long long)s->cfg.id, g->id, (unsigned long long)to);
}

/* The group's share of the node's tick (stalled: the loop stalled since
 * the last one, so a leader's followers heard nothing meanwhile). */
void group_tick(struct group *g, bool stalled)
{
	/* quiescence (server/quiet.c): a quiet group has nothing to tick for */
	if (g->quiet || quiet_leader_tick(g))
		return;
	if (g->r && !g->removed_at) { /* a stopped core's tick does nothing */
		raft_tick(g->r);
		if (stalled)
			raft_heartbeat_now(g->r);
	}
	members_tick(g);
	kv_rehash_some(&g->kv, 1000); /* finish a rehash while idle */
	requests_tick(g);
	expire_sweep(g);
	session_sweep(g);
	spread_leader(g);
}

/* A peer's Raft message for this group. */
void group_on_raft(struct group *g, uint64_t from, const uint8_t *p, size_t n)
{
	struct raft_msg m;
	if (raft_msg_decode(&m, p, n) != KEEL_OK || m.from != from) {
		fprintf(stderr, "[%llu] bad message from peer %llu: dropped\n",
			(unsigned long long)g->node->cfg.id, (unsigned long long)from);
		return;
	}
	members_on_msg(g, &m);
	/* peers run only beside a core; a quiet leader may take an answer
	 * that leaves it nothing to do and stay quiet */
	if (!raft_stopped(g->r) && !quiet_leader_step(g, &m)) {
		group_wake(g, from);
		raft_step(g->r, &m);
		members_follow_leader(g, &m);
	}
	raft_msg_decoded_free(&m);
}

/* A leader about to stop hands its leadership to the caught-up voter with
 * the longest log, if there is one: true if a transfer has begun. */
bool group_hand_over(struct group *g)
{
	group_wake(g, 0); /* a transfer needs the leader's ticks */
	if (!g->r || raft_stopped(g->r) || raft_role_of(g->r) != RAFT_LEADER)
		return false;
	const struct raft_config *c = raft_config_of(g->r);
	raft_index best = 0;
	raft_id to = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		raft_index match, next;
		raft_id id = c->members[i].id;
		if (id != g->node->cfg.id && raft_config_is_voter(c, id) &&
		    raft_progress_of(g->r, id, &match, &next) && match >= best) {
			best = match;
			to = id;
		}
	}
	if (!to || raft_transfer_leader(g->r, to) != KEEL_OK)
		return false;
	fprintf(stderr, "[%llu] shutting down: transferring leadership to %llu\n",
		(unsigned long long)g->node->cfg.id, (unsigned long long)to);
	return true;
}

/* Everything the group holds, writing nothing (its storage is closed
 * without a flush): after the node's storage thread has stopped or been
 * discarded. */
void group_free(struct group *g)
{
	storage_close(g->st);
	g->st = NULL;
	raft_free(g->r);
	g->r = NULL;
	replication_free(g);
	kv_free(&g->kv);
	for (uint32_t i = 0; i < g->n_held; i++) {
		for (uint32_t k = 0; k < g->held[i].n; k++)
			raft_msg_clone_free(&g->held[i].msgs[k]);
		keel_free(g->held[i].msgs);
	}
	keel_free(g->held);
	snapshots_free(g);
	keel_free(g->writes);
	keel_free(g->pass_writes);
	rbuf_free(&g->entry);
	keel_free(g->reads);
	keel_free(g->waiting);
	keel_free(g->forwarded);
	for (uint32_t i = 0; i < g->n_batches; i++) {
		rbuf_free(&g->batches[i].fwd);
		rbuf_free(&g->batches[i].rep);
	}
	keel_free(g);
}
