/* server/migrate.c — online slot migration (keel-cli reshard), driven by
 * the node that leads the metadata group; and KEEL.ADDSHARD (keel-cli
 * shard add), a shard more in the map, which every node then opens
 * (shards.c, groups_grow).
 *
 * KEEL.RESHARD first last shard registers a migration in the metadata
 * group's log (KEEL.SLOTS BEGIN: the slots, all of one shard, and their
 * target). Its leader then drives it, one step after another, each a
 * request of its own through the request path (forwarded to the shard's
 * leader like a client's write), each waiting for the one before to be
 * applied, and sent at the end of the loop pass that one's answer came in
 * (migrate_pass), not at the next tick:
 *
 *   1. FREEZE at the source: its writes to the slots are refused
 *      (TRYAGAIN) from that entry on; reads are still served there.
 *   2. COPY: once this node's copy of the source has applied the freeze,
 *      its keys of the slots (frozen: they no longer change) go to the
 *      target in IMPORT batches (batch_bytes: a whole piece), numbered,
 *      each applied before the next is sent; the target does not serve
 *      the slots yet.
 *      Then the source's exactly-once sessions, in SESSIONS batches the
 *      target merges into its own: a write applied at the source before
 *      the freeze and sent again in its session after the move is answered
 *      at the target with its reply, not applied twice.
 *   3. RELEASE at the source: it deletes its keys of the slots and stops
 *      serving them (reads too) from that entry on.
 *   4. ACCEPT at the target: it serves the slots from that entry on.
 *   5. FLIP in the metadata group: the map gives the slots to the target
 *      (one more version); nodes route to it as they apply the entry.
 *
 * A range goes in pieces, each through the five steps at an epoch of its
 * own (piece_of): as many slots as hold --reshard-piece-kb of keys, so a
 * slot is frozen only while its piece is copied and a release deletes
 * one piece's keys; FLIP version upto gives the map's target the piece
 * and leaves the rest of the range moving.
 *
 * What it guarantees (kv/slots.c checks every step at its shard, in its
 * log): an acknowledged write is never lost (the source deletes only
 * after every batch of the copy is applied at the target: a committed
 * entry is durable on a majority of it); no slot is served by two shards
 * (the target serves only after the source stopped, at its RELEASE) and
 * reads stay linearizable (a shard answers a read only if the slot is
 * still its own at an index at or past the read's); and a migration a
 * crash interrupts resumes: the metadata group keeps it until FLIP, and
 * whichever node leads it next starts the steps again at a newer epoch
 * (past any before it: begin_attempt): FREEZE answers +GONE if the
 * source had released, and the steps of an older attempt are refused where they
 * arrive late. Between RELEASE and ACCEPT the slots are served by no shard
 * (TRYAGAIN), for the time of one write.
 *
 * The driver reads the copy from its own copy of the source, so it must
 * be a node the source is placed on (a shard on some of the nodes): a
 * leader of the metadata group outside the source hands the metadata
 * group to one that is (hand_to_source), and leadership is not spread
 * back to a node outside it while the move lasts (group.c). */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "resp/encode.h"
#include "server/entry.h"
#include "server/server.h"

#define BATCH_MIN (256u << 10)
#define BATCH_MAX (16u << 20)
#define RETRY_MS  200

enum phase { P_FREEZE, P_WAIT, P_COPY, P_SESSIONS, P_RELEASE, P_ACCEPT, P_FLIP, P_DONE };
static const char *const phase_names[] = {"freeze",  "wait",   "copy", "sessions",
					  "release", "accept", "flip", "done"};

struct migrate {
	/* the migration, as the map holds it: slots first..end */
	uint16_t first, end;
	uint32_t from, to;
	uint64_t version;
	/* this attempt: a piece of it, slots first..last */
	uint16_t last;
	uint64_t epoch;
	enum phase phase;
	bool busy;  /* a step's request is in flight */
	bool stale; /* the node stopped leading: freed once busy clears */
	int64_t retry_at;
	raft_index frozen_at; /* where the source applied the freeze */
	uint32_t db;	      /* the copy's place in the source's keyspace */
	uint64_t cursor, seq;
	bool copied;	   /* the last batch is sent */
	uint64_t installs; /* snapshots installed when the copy began */
	uint64_t keys, bytes;
	int64_t began_ms;
};

const char *migrate_phase(struct server *s)
{
	return s->migrate ? phase_names[s->migrate->phase] : "driven-by-the-metadata-leader";
}

static bool leads(struct group *g)
{
	return g && g->r && !raft_stopped(g->r) && raft_role_of(g->r) == RAFT_LEADER;
}

static void fail(struct migrate *m, const struct rbuf *reply)
{
	size_t n =
		reply->len >= 2 && reply->p[reply->len - 2] == '\r' ? reply->len - 2 : reply->len;
	fprintf(stderr, "migration of slots %u-%u to shard %u: %s: %.*s; trying again\n", m->first,
		m->last, m->to, phase_names[m->phase], (int)(n > 200 ? 200 : n),
		(const char *)reply->p);
	m->phase = P_FREEZE; /* a new attempt, at a newer epoch */
	m->epoch = 0;
	m->retry_at = server_now_ms() + RETRY_MS;
}

static bool reply_is(const struct creq *q, const char *s)
{
	size_t n = strlen(s);
	return q->reply.len == n + 3 && q->reply.p[0] == '+' && !memcmp(q->reply.p + 1, s, n);
}

/* Submits KEEL.SLOTS args... and the record_args arguments in records to
 * g; done runs with the reply. */
static void step(struct server *s, struct group *g, const char *const *args, uint32_t n,
		 const struct rbuf *records, uint32_t record_args,
		 void (*done)(struct server *, struct creq *))
{
	struct migrate *m = s->migrate;
	struct creq *q = creq_new(s, NULL);
	entry_req_header(&q->cmd, &(struct entry_req_head){0}, 1);
	rbuf_put_u32(&q->cmd, 1 + n + record_args);
	rbuf_put_u32(&q->cmd, 10);
	rbuf_puts(&q->cmd, "keel.slots");
	for (uint32_t i = 0; i < n; i++) {
		rbuf_put_u32(&q->cmd, (uint32_t)strlen(args[i]));
		rbuf_puts(&q->cmd, args[i]);
	}
	if (records)
		rbuf_put(&q->cmd, records->p, records->len);
	q->n_cmds = 1;
	q->on_done = done;
	m->busy = true;
	request_submit(g, q, false);
}

/* The range and the epoch as arguments. */
struct nums {
	char first[8], last[8], epoch[24], extra[24];
};

static void nums_of(const struct migrate *m, struct nums *n, uint64_t extra)
{
	snprintf(n->first, sizeof n->first, "%u", m->first);
	snprintf(n->last, sizeof n->last, "%u", m->last);
	snprintf(n->epoch, sizeof n->epoch, "%llu", (unsigned long long)m->epoch);
	snprintf(n->extra, sizeof n->extra, "%llu", (unsigned long long)extra);
}

/* The driver's state once a step's reply is in; NULL if it was let go. */
static struct migrate *settled(struct server *s)
{
	struct migrate *m = s->migrate;
	if (!m) /* the node stopped */
		return NULL;
	m->busy = false;
	if (m->stale) {
		keel_free(m);
		s->migrate = NULL;
		return NULL;
	}
	return m;
}

static void on_freeze(struct server *s, struct creq *q)
{
	struct migrate *m = settled(s);
	if (!m)
		return;
	if (reply_is(q, "FROZEN")) {
		m->frozen_at = q->applied_at;
		m->phase = P_WAIT;
	} else if (reply_is(q, "GONE")) {
		m->phase = P_ACCEPT; /* an earlier attempt released: its copy is whole */
	} else {
		fail(m, &q->reply);
	}
}

static void on_import(struct server *s, struct creq *q)
{
	struct migrate *m = settled(s);
	if (!m)
		return;
	if (!reply_is(q, "OK")) {
		fail(m, &q->reply);
		return;
	}
	m->seq++;
	if (m->copied && m->phase == P_COPY) { /* the keys are in: the sessions next */
		m->phase = P_SESSIONS;
		m->cursor = 0;
		m->copied = false;
	} else if (m->copied) {
		m->phase = P_RELEASE;
	}
}

/* A step answered +OK moves the driver on to `next`; else a new attempt. */
static void step_ok(struct server *s, struct creq *q, enum phase next)
{
	struct migrate *m = settled(s);
	if (m && reply_is(q, "OK"))
		m->phase = next;
	else if (m)
		fail(m, &q->reply);
}

static void on_release(struct server *s, struct creq *q)
{
	step_ok(s, q, P_ACCEPT);
}

static void on_accept(struct server *s, struct creq *q)
{
	step_ok(s, q, P_FLIP);
}

static void on_flip(struct server *s, struct creq *q)
{
	struct migrate *m = settled(s);
	if (!m)
		return;
	int64_t ms = server_now_ms() - m->began_ms;
	if (reply_is(q, "OK"))
		fprintf(stderr,
			"[%llu] slots %u-%u moved from shard %u to shard %u: %llu keys, %llu "
			"bytes in %lld ms\n",
			(unsigned long long)s->cfg.id, m->first, m->last, m->from, m->to,
			(unsigned long long)m->keys, (unsigned long long)m->bytes, (long long)ms);
	m->phase = P_DONE; /* the map says what is next */
}

/* How many bytes of records a batch of the copy holds: a whole piece
 * (--reshard-piece-kb; a piece counts KV_PIECE_RECORD bytes a key beside
 * its key and value, about what its record adds), so that a piece is
 * exported from its slots' lists in one call, with no scan of the
 * source's keyspace (kv_slots_export); at least BATCH_MIN (a piece of one
 * slot, --reshard-piece-kb 0), at most BATCH_MAX (a batch is one log
 * entry, applied in one pass of each target member's loop). A piece whose
 * records do not fit (a slot of more keys than that, say) goes in several
 * batches, found by a scan. */
static size_t batch_bytes(const struct server *s)
{
	uint64_t b = s->cfg.piece_bytes;
	return b < BATCH_MIN ? BATCH_MIN : b > BATCH_MAX ? BATCH_MAX : (size_t)b;
}

/* The next batch of the copy from this node's copy of the source. */
static void send_batch(struct server *s, struct migrate *m)
{
	struct group *from = s->groups[m->from];
	if (m->seq == 1)
		m->installs = s->stats.snapshots_installed;
	else if (s->stats.snapshots_installed != m->installs) {
		/* the source's keyspace was replaced under the scan: begin again */
		struct rbuf why = {.p = (uint8_t *)"a snapshot was installed", .len = 24};
		{
			fail(m, &why);
			return;
		}
	}
	struct rbuf rec;
	rbuf_init(&rec);
	uint32_t n = 0;
	if (m->phase == P_SESSIONS) {
		m->cursor = kv_sessions_export(&from->kv, m->cursor, batch_bytes(s), &rec, &n,
					       &m->copied);
	} else {
		m->cursor = kv_slots_export(&from->kv, m->first, m->last, server_now_ms(), &m->db,
					    m->cursor, batch_bytes(s), &rec, &n);
		m->copied = m->db >= from->kv.n_db;
		m->keys += n;
	}
	m->bytes += rec.len;
	struct nums a;
	nums_of(m, &a, m->seq);
	const char *args[] = {m->phase == P_SESSIONS ? "sessions" : "import", a.first, a.last,
			      a.epoch, a.extra};
	step(s, s->groups[m->to], args, 5, &rec, (m->phase == P_SESSIONS ? 2 : 4) * n, on_import);
	rbuf_free(&rec);
}

/* The piece of the migration an attempt moves, first..last: the slots an
 * earlier attempt froze or released at the source, as this node's copy
 * of it has them (that piece, resumed), else as many slots from first as
 * hold at most --reshard-piece-kb of keys (one at least). A copy that
 * lags shows an earlier attempt's released slots as still the source's:
 * a freeze of a piece that spans released and unreleased slots is
 * refused, and the attempt after it, picked again, resumes them. */
static uint16_t piece_of(struct server *s, const struct migrate *m)
{
	struct kv *kv = &s->groups[m->from]->kv;
	const struct kv_slots *sl = kv_slots_of(kv);
	if (sl->state[m->first] == KV_SLOT_OWNED)
		return kv_slots_piece(kv, m->first, m->end, s->cfg.piece_bytes);
	return kv_slots_run(sl, m->first, m->end);
}

/* A new attempt: a newer epoch than any this node used, and than any
 * an earlier leader of the metadata group used (its term, shifted, is
 * past theirs; a term past 2^42, some trillions of elections, would no
 * longer order them). */
static void begin_attempt(struct server *s, struct migrate *m)
{
	uint64_t term = raft_current_term(s->meta->r);
	uint64_t floor = (term < (1ull << 42) ? term : 1ull << 42) << 20;
	m->epoch = s->migrate_epoch >= floor ? s->migrate_epoch + 1 : floor;
	s->migrate_epoch = m->epoch;
	m->seq = 1;
	m->db = 0;
	m->cursor = 0;
	m->copied = false;
	m->last = piece_of(s, m);
	if (!m->began_ms)
		m->began_ms = server_now_ms();
}

static void drive(struct server *s, struct migrate *m)
{
	struct nums a;
	struct group *from = s->groups[m->from], *to = s->groups[m->to];
	if (from->outside) { /* the copy is read here: never from a shard it lacks */
		m->retry_at = server_now_ms() + RETRY_MS;
		return;
	}
	if (m->phase == P_FREEZE && !m->epoch)
		begin_attempt(s, m);
	nums_of(m, &a, m->version);
	const char *args[] = {phase_names[m->phase], a.first, a.last, a.epoch};
	if (m->phase == P_FREEZE)
		step(s, from, args, 4, NULL, 0, on_freeze);
	else if (m->phase == P_WAIT && from->r && raft_applied_index(from->r) >= m->frozen_at)
		m->phase = P_COPY; /* this node's copy of the source has applied the freeze */
	else if (m->phase == P_COPY || m->phase == P_SESSIONS)
		send_batch(s, m);
	else if (m->phase == P_RELEASE)
		step(s, from, args, 4, NULL, 0, on_release);
	else if (m->phase == P_ACCEPT)
		step(s, to, args, 4, NULL, 0, on_accept);
	else if (m->phase == P_FLIP) /* the piece's slots (all that is left: no upto) */
		step(s, s->meta, (const char *const[]){"flip", a.extra, a.last},
		     m->last < m->end ? 3 : 2, NULL, 0, on_flip);
}

bool migrate_may_drive(struct server *s, raft_id id)
{
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	return !sl || !sl->moving || sl->from >= s->n_shards ||
	       group_placed_on(s->groups[sl->from], id);
}

/* This node leads the metadata group, but the source of the migration
 * under way is placed on other nodes: once a second, it hands the
 * metadata group to one of them that has every entry (and is a voter of
 * every shard on every node, as conform.c needs), which drives it. */
static void hand_to_source(struct server *s)
{
	struct group *meta = s->meta;
	int64_t now = server_now_ms();
	if (now < s->migrate_hand_ms)
		return;
	s->migrate_hand_ms = now + 1000;
	const struct raft_config *c = raft_config_of(meta->r);
	for (uint32_t i = 0; i < c->n; i++) {
		raft_id id = c->members[i].id;
		if (id == s->cfg.id || c->members[i].role != RAFT_VOTER ||
		    !migrate_may_drive(s, id) || !conform_voter_everywhere(s, id) ||
		    !group_caught_up(meta, id, 0))
			continue;
		group_wake(meta, 0); /* a transfer needs the leader's ticks */
		if (raft_transfer_leader(meta->r, id) == KEEL_OK)
			fprintf(stderr,
				"[%llu] the slots being moved are in a shard placed on other "
				"nodes: "
				"handing the metadata group to %llu, which drives the move\n",
				(unsigned long long)s->cfg.id, (unsigned long long)id);
		return;
	}
}

void migrate_tick(struct server *s)
{
	struct migrate *m = s->migrate;
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	bool same = m && sl && sl->moving && m->first == sl->first && m->end == sl->last &&
		    m->from == sl->from && m->to == sl->to && m->version == sl->version;
	if (m && (!same || !leads(s->meta) || s->stopping)) {
		if (m->busy) {
			m->stale = true; /* freed when its request is answered */
			return;
		}
		keel_free(m);
		s->migrate = m = NULL;
	}
	if (!sl || !sl->moving || !leads(s->meta) || s->stopping || sl->to >= s->n_shards ||
	    sl->from >= s->n_shards)
		return;
	if (s->groups[sl->from]->outside) {
		hand_to_source(s);
		return;
	}
	if (!m) {
		m = s->migrate = keel_calloc(1, sizeof *m);
		*m = (struct migrate){.first = sl->first,
				      .end = sl->last,
				      .last = sl->last,
				      .from = sl->from,
				      .to = sl->to,
				      .version = sl->version};
	}
	if (!m->busy && server_now_ms() >= m->retry_at)
		drive(s, m);
}

void migrate_pass(struct server *s)
{
	if (s->migrate && !s->migrate->busy) /* its step answered, or waiting */
		migrate_tick(s);
}

void migrate_free(struct server *s)
{
	keel_free(s->migrate); /* a request still in flight was freed with its group */
	s->migrate = NULL;
}

/* ---- KEEL.RESHARD ------------------------------------------------------------ */

static void on_begin(struct server *s, struct creq *q)
{
	struct creq *asked = q->answers;
	asked->reply.len = 0;
	rbuf_put(&asked->reply, q->reply.p, q->reply.len);
	creq_finish(s, asked);
}

/* A change of the map, KEEL.SLOTS op rest..., proposed to the metadata
 * group; q is answered with its reply once it is applied (or with its
 * error). One checked on the group's leader
 * (on_meta_leader) is in its log before this returns, or refused: never
 * sent to another leader, whose log the check did not see. */
static void propose_map(struct server *s, struct creq *q, const char *op,
			const struct resp_arg *rest, uint32_t n_rest, bool checked)
{
	struct creq *b = creq_new(s, NULL);
	struct resp_arg args[2 + KV_SHARD_MEMBERS_MAX + 1] = {{(const uint8_t *)"keel.slots", 10},
							      {(const uint8_t *)op, strlen(op)}};
	KEEL_ASSERT(n_rest <= KV_SHARD_MEMBERS_MAX + 1);
	memcpy(args + 2, rest, n_rest * sizeof *rest);
	entry_req_header(&b->cmd, &(struct entry_req_head){0}, 1);
	entry_cmd_append(&b->cmd, args, 2 + n_rest);
	b->n_cmds = 1;
	b->on_done = on_begin;
	b->answers = q;
	b->here_only = checked;
	request_submit(s->meta, b, false);
	if (checked)
		requests_flush_writes(s->meta);
}

static bool arg_num(const struct resp_arg *a, int64_t max, int64_t *v)
{
	return resp_str2ll(a->p, a->len, v) && *v >= 0 && *v <= max;
}

void migrate_command(struct server *s, struct creq *q, const struct resp_arg *argv, uint32_t argc)
{
	int64_t first, last, to;
	uint64_t big = 0;
	struct group *src = NULL;
	if (!s->meta) {
		resp_error(&q->reply, "ERR this node has one shard (--shards): there is "
				      "nowhere to move slots to");
	} else if (argc != 4 || !arg_num(&argv[1], KV_SLOTS - 1, &first) ||
		   !arg_num(&argv[2], KV_SLOTS - 1, &last) || first > last) {
		resp_error(&q->reply, "ERR Invalid or out of range slot");
	} else if (!arg_num(&argv[3], (int64_t)s->n_shards - 1, &to)) {
		resp_errorf(&q->reply, "ERR no such shard: shards are 0 to %u", s->n_shards - 1);
	} else if ((src = cluster_slot_group(s, (uint16_t)first))->outside) {
		/* the keys' sizes are read where they are: at one of the shard's
		 * members, which registers the move (sent on once only) */
		if (!q->fwd_peer && request_forward_admin(src, q, argv, argc))
			return;
		resp_errorf(&q->reply,
			    "TRYAGAIN shard %u is placed on other nodes, and none of them took the "
			    "request; not registered",
			    src->id);
	} else if ((big = kv_slots_oversized(&src->kv, (uint16_t)first, (uint16_t)last,
					     RAFT_ENTRY_BYTES_MAX / 2))) {
		/* a key too large for a copy batch (half a log entry), in this
		 * node's copy of the shard */
		resp_errorf(&q->reply,
			    "ERR a key of these slots holds %llu bytes, more than a move copies in "
			    "one batch (%u MiB): the slots cannot be moved",
			    (unsigned long long)big, RAFT_ENTRY_BYTES_MAX / 2 >> 20);
	} else {
		propose_map(s, q, "begin", argv + 1, 3, false);
		return;
	}
	creq_finish(s, q);
}

/* ---- KEEL.ADDSHARD ------------------------------------------------------------ */

/* KEEL.ADDSHARD and KEEL.PLACESHARD are checked against the metadata
 * group's configuration and put in its log by its leader, in one step
 * (the check, then the entry appended before the call returns): a
 * removal already in the log has taken its node out of the configuration
 * checked (the newest in the log, committed or not), and a removal asked
 * later finds the entry in the log and waits until it is applied before
 * it reads the map (commands.c, RAFT REMOVE). So a shard is never placed
 * on a node alone as that node is removed. Checked where the command was
 * asked, against that node's copy of the configuration, a removal not
 * yet there let both be made. True on the leader; else the command is
 * sent to it (once: the operator asks again, as for RAFT commands), or
 * answered -TRYAGAIN with no leader known, and false. */
static bool on_meta_leader(struct server *s, struct creq *q, const struct resp_arg *argv,
			   uint32_t argc)
{
	if (raft_role_of(s->meta->r) == RAFT_LEADER)
		return true;
	if (q->fwd_peer || !request_forward_admin(s->meta, q, argv, argc)) {
		resp_error(&q->reply, "TRYAGAIN no leader of the metadata group is known to this "
				      "node; not applied");
		creq_finish(s, q);
	}
	return false;
}

int migrate_members_listed(const struct raft_config *c, const struct resp_arg *argv, uint32_t argc)
{
	uint32_t voters = 0;
	for (uint32_t i = 0; i < c->n; i++)
		voters += raft_config_is_voter(c, c->members[i].id);
	if (argc == 1)
		return 1;
	if (argc - 1 > voters || argc - 1 > KV_SHARD_MEMBERS_MAX)
		return 0;
	for (uint32_t i = 1; i < argc; i++) {
		int64_t id;
		if (!resp_str2ll(argv[i].p, argv[i].len, &id) || id <= 0 ||
		    !raft_config_is_voter(c, (raft_id)id))
			return 0;
		for (uint32_t k = 1; k < i; k++)
			if (argv[k].len == argv[i].len &&
			    !memcmp(argv[k].p, argv[i].p, argv[i].len))
				return 0;
	}
	return argc - 1 == voters ? 1 : 2;
}

void migrate_add_shard(struct server *s, struct creq *q, const struct resp_arg *argv, uint32_t argc)
{
	int placed = 0;
	if (!s->meta || !s->meta->r) {
		resp_error(&q->reply, "ERR this node has one shard (--shards): a cluster started "
				      "with one cannot hold more");
	} else if (!on_meta_leader(s, q, argv, argc)) {
		return; /* sent to it, or answered */
	} else if (!(placed = migrate_members_listed(raft_config_of(s->meta->r), argv, argc))) {
		resp_errorf(
			&q->reply,
			"ERR a shard's members are voters of the cluster, each once, at most %u "
			"of them (or every voter)",
			KV_SHARD_MEMBERS_MAX);
	} else { /* a subset is listed; every voter is no list */
		propose_map(s, q, "add", argv + 1, placed == 2 ? argc - 1 : 0, true);
		return;
	}
	creq_finish(s, q);
}

/* ---- KEEL.PLACESHARD ---------------------------------------------------------- */

void migrate_place_shard(struct server *s, struct creq *q, const struct resp_arg *argv,
			 uint32_t argc)
{
	int64_t shard = -1;
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	if (!sl || !s->meta->r) {
		resp_error(&q->reply,
			   "ERR this node has one shard (--shards): it is on every node");
	} else if (!arg_num(&argv[1], (int64_t)sl->n_shards - 1, &shard)) {
		resp_error(&q->reply, "ERR no such shard"); /* an id follows: arity -3 */
	} else if (!shard) {
		resp_error(&q->reply, "ERR shard 0 stays on every node (its configuration is the "
				      "cluster's list of nodes): place another shard");
	} else if (!on_meta_leader(s, q, argv, argc)) {
		return; /* sent to it, or answered */
	} else if (!migrate_members_listed(raft_config_of(s->meta->r), argv + 1, argc - 1)) {
		resp_errorf(
			&q->reply,
			"ERR a shard's members are voters of the cluster, each once, at most %u "
			"of them",
			KV_SHARD_MEMBERS_MAX);
	} else { /* the shard and its ids */
		propose_map(s, q, "place", argv + 1, argc - 1, true);
		return;
	}
	creq_finish(s, q);
}
