/* server/replication.c — read replicas (SPEC.md §5) in the node, both
 * ends; the stream itself is src/replica/.
 *
 * The source (any node, member or replica): a client connection that
 * sends KEEL.REPLICATE becomes a replica's stream (replica/source.h) of
 * the group it names (group 0 if it names none; a node whose group 0 does
 * not serve every slot refuses a handshake that names none, and any node a
 * group it does not hold, so a replica never serves a slot from a group
 * without its keys). It is
 * served entries this node has applied (so only committed ones: a replica
 * never sees a write that may be rolled back) from the log the node holds
 * in memory, or, when that no longer reaches back far enough, the node's
 * latest snapshot file. The log is kept (raft_keep_log_from) for every
 * replica within --replica-max-lag entries; one further behind is caught
 * up by a snapshot instead.
 *
 * The replica (--replica-of): no Raft core. Each batch of entries from the
 * source is applied to the keyspace exactly as a member applies it
 * (group_apply), kept in memory for replicas of its own (cascading), and
 * written to its own log by the storage thread; the source is told the
 * highest index that is durable. A snapshot from the source replaces the
 * keyspace once its checksum holds, and is installed in storage. The
 * replica takes snapshots of its own like a member (server/snapshots.c)
 * and purges its log below them. At a restart it recovers from its
 * storage and resumes from the last durable index.
 *
 * A replica of a sharded cluster (--replica-of with --shards N, the
 * members' N) holds N groups as a member does (server/shards.c), each
 * following its source group over a stream of its own that names it, and
 * each told the group's members and leader by its source (TOPOLOGY), which
 * is what the Redis Cluster commands answer on it (server/cluster.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/mem.h"
#include "kv/snapshot.h"
#include "resp/encode.h"
#include "server/persist.h"
#include "server/server.h"

_Static_assert(REPL_TOPO_NODES >= RAFT_MEMBERS_MAX, "a TOPOLOGY names every member");
_Static_assert(REPL_HOST_MAX == FRAME_ADDR_MAX, "a member's host fits a TOPOLOGY");

#define TOPO_EVERY_MS 100 /* a group's members, checked for a change this often */

/* " (group I)" on a node of several groups, for its log lines; else "". */
static const char *group_tag(const struct group *g, char *buf, size_t cap)
{
	buf[0] = 0;
	if (g->node->n_groups > 1)
		snprintf(buf, cap, " (group %u)", g->id);
	return buf;
}

/* ---- the source's side --------------------------------------------------- */

static uint64_t src_applied(void *ctx)
{
	struct group *g = ((struct client *)ctx)->repl_group;
	return g->replica ? g->replica->applied : raft_applied_index(g->r);
}

static uint64_t src_first(void *ctx)
{
	struct group *g = ((struct client *)ctx)->repl_group;
	return g->replica ? g->replica->win_first : raft_first_index(g->r);
}

static bool src_entry(void *ctx, uint64_t i, struct repl_entry *out)
{
	struct group *g = ((struct client *)ctx)->repl_group;
	if (g->replica) {
		struct replica_node *r = g->replica;
		if (i < r->win_first || i - r->win_first >= r->n_win)
			return false;
		*out = r->win[i - r->win_first];
		return true;
	}
	const struct raft_entry *e = raft_entry_at(g->r, i);
	if (!e)
		return false;
	*out = (struct repl_entry){i, e->term, e->type, e->len, e->data};
	return true;
}

static bool src_snap_open(void *ctx, struct repl_snap *out)
{
	struct group *g = ((struct client *)ctx)->repl_group;
	if (!g->have_snap)
		return false;
	char name[64], path[IO_PATH_MAX];
	snap_name(name, sizeof name, g->snap.index, g->snap.term);
	if (io_path(path, g->dir, name))
		return false;
	const struct io_fs *fs = io_fs_posix();
	int fd;
	if (fs->open(fs->ctx, path, 0, &fd))
		return false; /* not durable under its name yet */
	*out = (struct repl_snap){
		g->snap.index, g->snap.term, g->snap.size, g->snap.crc, fd, SNAP_DATA_OFF, fs};
	return true;
}

static void src_send(void *ctx, const uint8_t *p, size_t n)
{
	client_send(ctx, p, n);
}

static size_t src_queued(void *ctx)
{
	return client_queued(ctx);
}

static const struct repl_source_ops source_ops = {
	NULL, NULL, src_applied, src_first, src_entry, src_snap_open, src_send, src_queued,
};

static void source_end(struct group *g, struct client *c)
{
	struct server *s = g->node;
	char tag[32];
	fprintf(stderr, "[%llu] replica %s (%s)%s dropped: %s\n", (unsigned long long)s->cfg.id,
		c->repl->hello.name, c->addr, group_tag(g, tag, sizeof tag), c->repl->error);
	client_drop(c);
}

/* The group's members as this node sees them (a replica: as its own
 * source told it), for a stream's TOPOLOGY. */
static void topology_of(struct group *g, struct repl_topology *t)
{
	struct server *s = g->node;
	memset(t, 0, sizeof *t);
	if (g->replica) {
		if (g->replica->has_topo)
			*t = g->replica->topo;
		return;
	}
	struct node_addr l, all[RAFT_MEMBERS_MAX];
	bool led = addr_leader(s, g, &l);
	uint32_t n = addr_others(s, 0, all); /* 0 is no member's id: every one */
	t->term = raft_current_term(g->r);
	for (uint32_t i = 0; i < n && t->n < REPL_TOPO_NODES; i++) {
		struct repl_topo_node *m = &t->nodes[t->n++];
		m->id = all[i].id;
		snprintf(m->host, sizeof m->host, "%s", all[i].host);
		m->port = (uint16_t)all[i].port;
		m->peer_port = (uint16_t)all[i].peer_port;
		m->flags = (uint8_t)((all[i].up ? REPL_TOPO_UP : 0) |
				     (all[i].voter ? REPL_TOPO_VOTER : 0) |
				     (led && all[i].id == l.id ? REPL_TOPO_LEADER : 0));
	}
}

/* Tells each stream that named the group its members, when they changed
 * (at once to a new stream, then checked every TOPO_EVERY_MS). */
static void send_topology(struct group *g, struct client *only, int64_t now)
{
	if (!only && now - g->repl_topo_ms < TOPO_EVERY_MS)
		return;
	if (!only)
		g->repl_topo_ms = now;
	struct repl_topology t;
	topology_of(g, &t);
	for (struct client *c = only ? only : g->streams; c; c = only ? NULL : c->next_stream)
		if (!c->closing && c->repl->hello.has_group)
			repl_source_topology(c->repl, &t);
}

/* A replica whose stream ended keeps its claim on the log for a while, so
 * that one reconnecting after a pause or a lost connection resumes from the
 * log rather than by a snapshot. */
void replication_detach(struct client *c)
{
	struct group *g = c->repl_group;
	struct repl_source *r = c->repl;
	uint64_t need = repl_source_needs(r);
	for (struct client **pp = &g->streams; *pp; pp = &(*pp)->next_stream) {
		if (*pp == c) {
			*pp = c->next_stream;
			g->n_streams--;
			break;
		}
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_repl_gone; i++)
		if (strcmp(g->repl_gone[i].name, r->hello.name) != 0)
			g->repl_gone[k++] = g->repl_gone[i];
	g->n_repl_gone = k;
	if (need && k < REPL_GONE_MAX) {
		struct repl_gone *rg = &g->repl_gone[g->n_repl_gone++];
		snprintf(rg->name, sizeof rg->name, "%s", r->hello.name);
		rg->need = need;
		rg->until_ms = server_now_ms() + REPL_GONE_MS;
	}
	repl_source_free(r);
	keel_free(r);
	c->repl = NULL;
	c->repl_group = NULL;
}

/* The lowest index a replica within the lag still needs, or keep. A need
 * the log no longer reaches is no claim: that replica gets a snapshot. */
static uint64_t lowest(const struct group *g, uint64_t keep, uint64_t need, uint64_t applied,
		       uint64_t first)
{
	const struct server *s = g->node;
	if (need && need >= first &&
	    applied - (need < applied ? need : applied) <= s->cfg.replica_max_lag &&
	    (!keep || need < keep))
		return need;
	return keep;
}

/* The group a handshake asks for, or NULL with why it is refused in
 * why: one this node does not hold (or holds empty, outside the nodes it
 * is placed on), or none named while group 0 does not serve every slot (a
 * replica that names none serves every slot from it). */
static struct group *asked_group(struct server *s, const struct repl_hello *h, char *why,
				 size_t cap)
{
	struct group *g = h->has_group ? groups_find(s, h->group) : s->g;
	uint32_t shards = s->cfg.shards ? s->cfg.shards : 1;
	bool whole = !s->meta; /* one shard: group 0 serves every slot */
	if (!g)
		snprintf(why, cap, "this node holds no group %u (it holds %u shards, 0 to %u%s)",
			 h->group, s->n_shards, s->n_shards - 1,
			 s->meta ? ", and the metadata group 1024" : "");
	else if (!h->has_group && !whole)
		snprintf(why, cap,
			 "this node holds %u shards (--shards %u): a replica of it names the "
			 "group it follows (start it with --shards %u)",
			 shards, shards, shards);
	else if (g->outside) /* placed on other nodes: it holds nothing of it */
		snprintf(why, cap,
			 "shard %u is placed on other nodes than this one: a replica follows it "
			 "from one of them",
			 g->id);
	return g && (h->has_group || whole) && !g->outside ? g : NULL;
}

/* A handshake refused before any stream began: an ERROR frame, logged. */
static void refuse(struct server *s, struct client *c, struct creq *q, const char *name,
		   const char *why)
{
	struct rbuf f;
	rbuf_init(&f);
	repl_refusal(&f, why);
	client_send(c, f.p, f.len);
	rbuf_free(&f);
	creq_finish(s, q); /* no RESP reply: the frame is the answer */
	fprintf(stderr, "[%llu] refused a replica %s (%s): %s\n", (unsigned long long)s->cfg.id,
		name, c->addr, why);
	client_drop(c);
}

static void log_attached(struct group *g, struct client *c)
{
	struct server *s = g->node;
	const struct repl_source *r = c->repl;
	char tag[32];
	group_tag(g, tag, sizeof tag);
	if (r->phase == REPL_SRC_SNAPSHOT)
		fprintf(stderr,
			"[%llu] replica %s (%s)%s attached: catching up by the snapshot at %llu "
			"(%llu bytes)\n",
			(unsigned long long)s->cfg.id, r->hello.name, c->addr, tag,
			(unsigned long long)r->snap.index, (unsigned long long)r->snap.size);
	else
		fprintf(stderr, "[%llu] replica %s (%s)%s attached: from the log at %llu\n",
			(unsigned long long)s->cfg.id, r->hello.name, c->addr, tag,
			(unsigned long long)r->next);
}

void replication_attach(struct server *s, struct client *c, struct creq *q,
			const struct resp_arg *argv, uint32_t argc)
{
	struct repl_hello h;
	char why[200];
	if (c->repl || repl_hello_parse(&h, argv + 1, argc - 1, why, sizeof why) != KEEL_OK) {
		resp_errorf(&q->reply, "ERR %s", c->repl ? "already a replica stream" : why);
		creq_finish(s, q);
		return;
	}
	struct group *g = asked_group(s, &h, why, sizeof why);
	if (!g) {
		refuse(s, c, q, h.name, why);
		return;
	}
	struct repl_source_ops ops = source_ops;
	ops.ctx = c;
	ops.cache = g->repl_cache;
	struct repl_group_info gi = {.id = g->id};
	group_first_slots(s, g, &gi.slot_first, &gi.slot_last);
	c->repl = keel_calloc(1, sizeof *c->repl);
	c->repl_group = g;
	bool ok = repl_source_start(c->repl, &ops, &h, &gi, s->cfg.id, server_now_ms());
	creq_finish(s, q); /* no RESP reply: the frames have begun */
	if (!ok) {
		fprintf(stderr, "[%llu] refused a replica %s (%s): %s\n",
			(unsigned long long)s->cfg.id, h.name, c->addr, c->repl->error);
		repl_source_free(c->repl); /* never a stream: no claim on the log */
		keel_free(c->repl);
		c->repl = NULL;
		c->repl_group = NULL;
		client_drop(c);
		return;
	}
	c->next_stream = g->streams;
	g->streams = c;
	g->n_streams++;
	log_attached(g, c);
	send_topology(g, c, server_now_ms());
	replication_pump(g);
}

void replication_recv(struct client *c, const uint8_t *p, size_t n)
{
	if (c->closing)
		return;
	if (!repl_source_recv(c->repl, p, n, server_now_ms()))
		source_end(c->repl_group, c);
}

void replication_pump(struct group *g)
{
	if (!g->streams && !g->n_repl_gone) { /* no claim on the log: cheap for idle groups */
		if (g->r)
			raft_keep_log_from(g->r, 0);
		else if (g->replica)
			g->replica->keep_from = 0;
		return;
	}
	uint64_t keep = 0;
	int64_t now = server_now_ms();
	if (g->streams)
		send_topology(g, NULL, now);
	for (struct client *c = g->streams; c; c = c->next_stream) {
		if (c->closing)
			continue;
		/* it applies nothing more: the replica moves on */
		if (g->removed_at || g->outside) {
			repl_source_end(c->repl,
					g->n_placed ? "this node no longer holds the shard (placed "
						      "on other nodes)"
						    : "this node was removed from the cluster");
			source_end(g, c);
			continue;
		}
		if (!repl_source_pump(c->repl, now)) {
			source_end(g, c);
			continue;
		}
		keep = lowest(g, keep, repl_source_needs(c->repl), src_applied(c), src_first(c));
	}
	uint64_t applied = g->replica ? g->replica->applied : g->r ? raft_applied_index(g->r) : 0;
	uint64_t first = g->replica ? g->replica->win_first : g->r ? raft_first_index(g->r) : 0;
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_repl_gone; i++) {
		if (now >= g->repl_gone[i].until_ms)
			continue;
		keep = lowest(g, keep, g->repl_gone[i].need, applied, first);
		g->repl_gone[k++] = g->repl_gone[i];
	}
	g->n_repl_gone = k;
	if (g->r)
		raft_keep_log_from(g->r, keep);
	else if (g->replica)
		g->replica->keep_from = keep;
}

static const char *source_state(const struct repl_source *r)
{
	return r->phase == REPL_SRC_SNAPSHOT ? "catchup" : "streaming";
}

/* A line a stream, numbered across the groups; on a node of several
 * groups each says its group. */
static void info_streams(struct server *s, struct rbuf *o)
{
	char line[512], group[24] = "";
	uint32_t i = 0;
	int64_t now = server_now_ms();
	for (uint32_t k = 0; k < s->n_groups; k++) {
		struct group *g = s->groups[k];
		if (s->n_groups > 1)
			snprintf(group, sizeof group, ",group=%u", g->id);
		for (struct client *c = g->streams; c; c = c->next_stream) {
			if (c->closing)
				continue;
			struct repl_source *r = c->repl;
			uint64_t applied = src_applied(c);
			snprintf(line, sizeof line,
				 "keel_replica%u:name=%s,addr=%s,state=%s,acked_index=%" PRIu64
				 ",lag=%" PRIu64
				 ",lag_ms=%lld,last_contact_ms=%lld,snapshot_sent=%" PRIu64
				 ",bytes_sent=%" PRIu64 "%s\r\n",
				 i++, r->hello.name, c->addr, source_state(r), r->acked,
				 applied > r->acked ? applied - r->acked : 0,
				 r->behind_since_ms ? (long long)(now - r->behind_since_ms) : 0LL,
				 (long long)(now - r->last_heard_ms), r->snap_acked, r->bytes_sent,
				 group);
			rbuf_puts(o, line);
		}
	}
}

static uint32_t n_streams(const struct server *s)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < s->n_groups; k++)
		n += s->groups[k]->n_streams;
	return n;
}

static const char *follow_state(const struct repl_follow *f)
{
	static const char *const names[] = {"connecting", "connecting", "catchup", "streaming"};
	return f->state == REPL_IDLE ? "down" : names[f->state];
}

/* A sharded replica: a line a group (its own stream's state and lag). */
static void info_groups(struct server *s, struct rbuf *o)
{
	char line[512];
	snprintf(line, sizeof line, "keel_replica_groups:%u\r\n", s->n_groups);
	rbuf_puts(o, line);
	for (uint32_t k = 0; k < s->n_groups; k++) {
		struct group *g = s->groups[k];
		struct replica_node *r = g->replica;
		struct repl_follow *f = &r->follow;
		int64_t lag_ms;
		uint64_t lag = repl_follow_lag(f, &lag_ms);
		snprintf(line, sizeof line, "keel_replica_group%u:slots=", g->id);
		rbuf_puts(o, line);
		if (g->meta)
			rbuf_puts(o, "map");
		else
			cluster_slots_text(s, g, o);
		snprintf(line, sizeof line,
			 ",source=%s,state=%s,applied_index=%" PRIu64 ",durable_index=%" PRIu64
			 ",source_index=%" PRIu64 ",lag=%" PRIu64 ",lag_ms=%lld,connects=%" PRIu64
			 ",gaps=%" PRIu64 ",snapshots_received=%" PRIu64 "\r\n",
			 f->sources[f->cur], follow_state(f), r->applied, r->durable,
			 f->source_applied, lag, (long long)lag_ms, f->stats.connects,
			 f->stats.gaps, f->stats.snapshots);
		rbuf_puts(o, line);
	}
}

/* master_link_status: up while every group's stream is. */
static bool all_streaming(const struct server *s)
{
	for (uint32_t k = 0; k < s->n_groups; k++)
		if (s->groups[k]->replica->follow.state != REPL_STREAMING)
			return false;
	return true;
}

void replication_info(struct server *s, struct rbuf *o)
{
	struct group *g = s->g;
	char line[1536];
	uint32_t n = n_streams(s);
	if (!g->replica) {
		bool leader = g->r && raft_role_of(g->r) == RAFT_LEADER;
		snprintf(line, sizeof line,
			 "# Replication\r\nrole:%s\r\nconnected_slaves:0\r\n"
			 "keel_read_replicas:%u\r\nkeel_replica_max_lag:%" PRIu64 "\r\n",
			 leader ? "master" : "slave", n, s->cfg.replica_max_lag);
		rbuf_puts(o, line);
		info_streams(s, o);
		rbuf_puts(o, "\r\n");
		return;
	}
	struct replica_node *r = g->replica;
	struct repl_follow *f = &r->follow;
	int64_t lag_ms;
	uint64_t lag = repl_follow_lag(f, &lag_ms);
	const char *src = f->sources[f->cur];
	const char *colon = strrchr(src, ':');
	snprintf(line, sizeof line,
		 "# Replication\r\nrole:slave\r\nkeel_role:replica\r\nmaster_host:%.*s\r\n"
		 "master_port:%s\r\nmaster_link_status:%s\r\nslave_read_only:1\r\n"
		 "keel_replica_source:%s\r\nkeel_replica_state:%s\r\n"
		 "keel_replica_applied_index:%" PRIu64 "\r\nkeel_replica_durable_index:%" PRIu64
		 "\r\nkeel_replica_source_index:%" PRIu64 "\r\nkeel_replica_lag:%" PRIu64
		 "\r\nkeel_replica_lag_ms:%lld\r\nkeel_replica_compression:%s\r\n"
		 "keel_replica_connects:%" PRIu64 "\r\nkeel_replica_gaps:%" PRIu64
		 "\r\nkeel_replica_snapshots_received:%" PRIu64 "\r\nkeel_replica_entries:%" PRIu64
		 "\r\nkeel_replica_bytes_received:%" PRIu64 "\r\nkeel_replica_last_error:%s\r\n"
		 "keel_read_replicas:%u\r\n",
		 colon ? (int)(colon - src) : 0, src, colon ? colon + 1 : "",
		 all_streaming(s) ? "up" : "down", src, follow_state(f), r->applied, r->durable,
		 f->source_applied, lag, (long long)lag_ms,
		 f->accept.codec == REPL_ZSTD && f->state >= REPL_CATCHUP ? "zstd" : "none",
		 f->stats.connects, f->stats.gaps, f->stats.snapshots, f->stats.entries,
		 f->stats.bytes_in, f->last_error, n);
	rbuf_puts(o, line);
	if (s->n_groups > 1)
		info_groups(s, o);
	info_streams(s, o);
	rbuf_puts(o, "\r\n");
}

/* ---- the replica's side -------------------------------------------------- */

static void win_push(struct replica_node *r, const struct repl_entry *e)
{
	if (r->n_win == r->cap_win) {
		r->cap_win = r->cap_win ? r->cap_win * 2 : 1024;
		r->win = keel_realloc(r->win, r->cap_win * sizeof *r->win);
	}
	struct repl_entry *w = &r->win[r->n_win++];
	*w = *e;
	w->data = e->len ? keel_memdup(e->data, e->len) : NULL;
}

/* Drops the held entries below index. */
static void win_trim(struct replica_node *r, uint64_t below)
{
	uint32_t k = 0;
	while (k < r->n_win && r->win_first + k < below)
		keel_free((void *)r->win[k++].data);
	if (k) {
		memmove(r->win, r->win + k, (r->n_win - k) * sizeof *r->win);
		r->n_win -= k;
	}
	r->win_first += k;
	if (!r->n_win)
		r->win_first = below > r->received + 1 ? r->received + 1 : below;
}

static void ack_when_durable(struct replica_node *r, uint64_t seq, uint64_t index)
{
	if (r->n_acks == r->cap_acks) {
		r->cap_acks = r->cap_acks ? r->cap_acks * 2 : 64;
		r->acks = keel_realloc(r->acks, r->cap_acks * sizeof *r->acks);
	}
	r->acks[r->n_acks].seq = seq;
	r->acks[r->n_acks++].index = index;
}

static void apply_one(struct group *g, const struct repl_entry *e)
{
	struct raft_entry re = {e->term, e->index, e->type, e->len, (uint8_t *)e->data};
	group_apply(g, &re);
	g->replica->applied = e->index;
	g->replica->empty = false;
}

static uint64_t rep_received(void *ctx)
{
	return ((struct group *)ctx)->replica->received;
}

static bool rep_empty(void *ctx)
{
	return ((struct group *)ctx)->replica->empty;
}

static uint64_t rep_durable(void *ctx)
{
	return ((struct group *)ctx)->replica->durable;
}

/* Entries received are written to storage at once (the storage thread's
 * group commit gathers them) and applied to the keyspace only once they are
 * durable (replica_process): what a replica has shown, it still has after a
 * crash, so its reads never go back in time, even across restarts. */
static void rep_entries(void *ctx, const struct repl_entry *e, uint32_t n)
{
	struct group *g = ctx;
	struct server *s = g->node;
	struct replica_node *r = g->replica;
	struct wal_entry *we = keel_calloc(n, sizeof *we);
	struct storage_batch b = {0};
	for (uint32_t i = 0; i < n; i++) {
		win_push(r, &e[i]);
		we[i] = (struct wal_entry){e[i].term, e[i].index, e[i].type, e[i].len, e[i].data};
		if (e[i].term > r->term) { /* recovery wants no record above the hard state */
			r->term = e[i].term;
			b.hs = true;
		}
	}
	b.term = r->term;
	b.entries = we;
	b.n_entries = n;
	r->received = e[n - 1].index;
	r->empty = false;
	ack_when_durable(r, committer_submit(s->com, g->st, &b), r->received);
	keel_free(we);
}

/* Applies what is durable; a snapshot installed takes the keyspace's place
 * once its install is durable. */
static void apply_durable(struct group *g)
{
	struct server *s = g->node;
	struct replica_node *r = g->replica;
	if (r->staged_index && r->durable >= r->staged_index) {
		kv_free(&g->kv);
		g->kv = r->staged;
		r->applied = r->staged_index;
		r->staged_index = 0;
		g->last_entry_time = 0;
	}
	if (r->staged_index)
		return;
	uint64_t n = 0;
	while (r->applied < r->durable && r->applied + 1 >= r->win_first &&
	       r->applied + 1 - r->win_first < r->n_win) {
		apply_one(g, &r->win[r->applied + 1 - r->win_first]);
		n++;
	}
	r->since_snap += n;
	uint64_t every = s->cfg.snapshot_entries ? s->cfg.snapshot_entries : 100000;
	if (r->since_snap >= every && !snapshots_busy(g) && !s->stopping) {
		r->since_snap = 0;
		snapshots_want(g, r->applied);
	}
}

static void meta_of(const struct repl_accept *a, struct raft_snapshot_meta *m)
{
	memset(m, 0, sizeof *m);
	m->index = a->snap_index;
	m->term = a->snap_term;
	m->size = a->snap_size;
	m->crc = a->snap_crc;
}

/* A snapshot from the source is restored into a keyspace of its own as its
 * chunks arrive (kv/snapshot.h), and written to storage; the keyspace
 * replaces the one reads see once the whole snapshot has checked. */
static void rep_snap_begin(void *ctx, const struct repl_accept *a)
{
	struct group *g = ctx;
	struct replica_node *r = g->replica;
	if (r->restoring)
		kv_restore_free(&r->restore); /* an earlier catch-up, cut */
	kv_restore_init(&r->restore, g->kv.rand_state ^ a->snap_index);
	r->restoring = true;
	r->incoming = *a;
	r->snap_crc = 0;
	r->snap_begun_ms = server_now_ms();
}

static void rep_snap_chunk(void *ctx, uint64_t off, const uint8_t *p, size_t n)
{
	struct group *g = ctx;
	struct server *s = g->node;
	struct replica_node *r = g->replica;
	struct raft_snapshot_meta rm;
	struct snap_meta m;
	meta_of(&r->incoming, &rm);
	persist_meta_to_snap(&rm, &m);
	r->snap_crc = crc32c(r->snap_crc, p, n);
	kv_restore_feed(&r->restore, p, n); /* a bad stream shows at the end */
	s->stats.snapshot_bytes_received += n;
	struct storage_batch b = {
		.chunk_meta = &m, .chunk_offset = off, .chunk_data = p, .chunk_len = (uint32_t)n};
	committer_submit(s->com, g->st, &b);
}

static bool rep_snap_done(void *ctx)
{
	struct group *g = ctx;
	struct server *s = g->node;
	struct replica_node *r = g->replica;
	const struct repl_accept *a = &r->incoming;
	int64_t t0 = server_now_ms();
	r->restoring = false;
	if (r->staged_index) { /* an earlier snapshot not yet in place: this one replaces it */
		kv_free(&r->staged);
		r->staged_index = 0;
	}
	/* with the group's shard (kv_restore_finish keeps the target's): a
	 * keyspace of none would check no slot, serving reads of slots the
	 * group let go and applying writes its members refused */
	group_kv_init(g, &r->staged, g->kv.rand_state ^ a->snap_index);
	if (r->snap_crc != a->snap_crc || kv_restore_finish(&r->restore, &r->staged) != KEEL_OK) {
		kv_free(&r->staged);
		if (r->snap_crc == a->snap_crc) {
			fprintf(stderr,
				"[%llu] the snapshot at %llu checks but does not restore: "
				"stopping\n",
				(unsigned long long)s->cfg.id, (unsigned long long)a->snap_index);
			s->exit_code = 1;
			server_stop(s);
		} else {
			kv_restore_free(&r->restore);
		}
		return false;
	}
	struct raft_snapshot_meta rm;
	struct snap_meta m;
	meta_of(a, &rm);
	persist_meta_to_snap(&rm, &m);
	struct storage_batch b = {.install = &m};
	if (r->received > a->snap_index)
		b.truncate_from = a->snap_index + 1;
	if (a->snap_term > r->term) {
		r->term = a->snap_term;
		b.hs = true;
	}
	b.term = r->term;
	ack_when_durable(r, committer_submit(s->com, g->st, &b), a->snap_index);
	g->snap = rm;
	g->have_snap = true;
	r->staged_index = a->snap_index; /* in place once durable (apply_durable) */
	r->received = a->snap_index;
	r->empty = false;
	r->since_snap = 0;
	win_trim(r, UINT64_MAX);
	r->win_first = a->snap_index + 1;
	s->stats.snapshots_installed++;
	fprintf(stderr,
		"[%llu] snapshot at %llu (%llu bytes) received and restored in %lld ms, "
		"checked %lld ms later\n",
		(unsigned long long)s->cfg.id, (unsigned long long)a->snap_index,
		(unsigned long long)a->snap_size, (long long)(t0 - r->snap_begun_ms),
		(long long)(server_now_ms() - t0));
	return true;
}

static void rep_log(void *ctx, const char *line)
{
	struct group *g = ctx;
	struct server *s = g->node;
	if (s->n_groups > 1)
		fprintf(stderr, "[%llu] group %u: %s\n", (unsigned long long)s->cfg.id, g->id,
			line);
	else
		fprintf(stderr, "[%llu] %s\n", (unsigned long long)s->cfg.id, line);
}

static void rep_topology(void *ctx, const struct repl_topology *t)
{
	struct group *g = ctx;
	g->replica->topo = *t;
	g->replica->has_topo = true;
}

static const struct repl_follow_ops follow_ops = {
	NULL,		rep_received,	rep_empty,     rep_durable, rep_entries,
	rep_snap_begin, rep_snap_chunk, rep_snap_done, rep_log,	    rep_topology,
};

int replica_start(struct group *g, struct keel_errmsg *err)
{
	struct server *s = g->node;
	struct replica_node *r = keel_calloc(1, sizeof *r);
	g->replica = r;
	const struct storage_loaded *l = storage_loaded(g->st);
	r->term = l->term;
	r->empty = !l->has_snap && !l->n_entries;
	r->applied = g->have_snap ? g->snap.index : 0;
	r->win_first = r->applied + 1;
	for (uint32_t i = 0; i < l->n_entries; i++) {
		const struct wal_entry *w = &l->entries[i];
		struct repl_entry e = {w->index, w->term, w->type, w->len, w->data};
		win_push(r, &e);
		apply_one(g, &e);
	}
	r->durable = r->received = r->applied;
	/* what its log holds above its snapshot counts toward the next one */
	r->since_snap = r->applied - (g->have_snap ? g->snap.index : 0);
	storage_loaded_release(g->st);
	/* what its source calls it (INFO replication, the log it keeps for
	 * it): its client address, after its id if it was given one */
	char name[128];
	if (s->cfg.id)
		snprintf(name, sizeof name, "%llu@%s:%d", (unsigned long long)s->cfg.id,
			 s->cfg.bind, s->cfg.port);
	else
		snprintf(name, sizeof name, "%s:%d", s->cfg.bind, s->cfg.port);
	char tag[32] = "";
	if (s->cfg.shards > 1)
		snprintf(tag, sizeof tag, " (group %u)", g->id);
	fprintf(stderr, "[%llu] read replica of %s%s: recovered to index %llu\n",
		(unsigned long long)s->cfg.id, s->cfg.replica_of, tag,
		(unsigned long long)r->applied);
	struct repl_follow_ops ops = follow_ops;
	ops.ctx = g;
	/* a replica of a sharded cluster names its group, and expects its
	 * slots; one of a single group names none, as replicas always did */
	struct repl_follow_group fg = {.id = g->id};
	group_first_slots(s, g, &fg.slot_first, &fg.slot_last);
	bool named = s->cfg.shards > 1 || g->id != 0;
	return repl_follow_start(&r->follow, s->loop, &ops, s->cfg.replica_of, s->cfg.bind, name,
				 s->cfg.replica_zstd, named ? &fg : NULL, err);
}

void replica_process(struct group *g)
{
	struct replica_node *r = g->replica;
	uint32_t k = 0;
	while (k < r->n_acks && r->acks[k].seq <= g->durable_seq)
		r->durable = r->acks[k++].index;
	if (k) {
		memmove(r->acks, r->acks + k, (r->n_acks - k) * sizeof *r->acks);
		r->n_acks -= k;
	}
	apply_durable(g);
	snapshots_check(g);
	repl_follow_poke(&r->follow);
}

bool replica_snapshot_taken(struct group *g)
{
	struct server *s = g->node;
	struct replica_node *r = g->replica;
	if (g->have_snap && g->taking.index <= g->snap.index)
		return false; /* a snapshot from the source overtook it */
	/* entries kept below the snapshot, as members keep them for followers */
	uint64_t trailing = s->cfg.has_trailing ? s->cfg.trailing_entries : 5000;
	uint64_t below = g->taking.index + 1 > trailing ? g->taking.index + 1 - trailing : 1;
	if (r->keep_from && below > r->keep_from)
		below = r->keep_from;
	if (below > r->win_first) {
		win_trim(r, below);
		struct storage_batch b = {.purge_below = below};
		committer_submit(s->com, g->st, &b);
	}
	return true;
}

uint64_t replica_term_at(const struct group *g, uint64_t index)
{
	const struct replica_node *r = g->replica;
	if (index >= r->win_first && index - r->win_first < r->n_win)
		return r->win[index - r->win_first].term;
	return g->have_snap && g->snap.index == index ? g->snap.term : 0;
}

void replica_info_raft(struct group *g, struct rbuf *o)
{
	struct server *s = g->node;
	char line[256];
	snprintf(line, sizeof line,
		 "# Raft\r\nraft_role:replica\r\nraft_node_id:%llu\r\nraft_applied_index:%llu\r\n",
		 (unsigned long long)s->cfg.id, (unsigned long long)g->replica->applied);
	rbuf_puts(o, line);
}

void replica_stop(struct group *g)
{
	if (!g->replica)
		return;
	repl_follow_stop(&g->replica->follow);
}

static void replica_free(struct group *g)
{
	struct replica_node *r = g->replica;
	if (!r)
		return;
	win_trim(r, UINT64_MAX);
	if (r->restoring)
		kv_restore_free(&r->restore);
	if (r->staged_index)
		kv_free(&r->staged);
	keel_free(r->win);
	keel_free(r->acks);
	keel_free(r);
	g->replica = NULL;
}

void replication_free(struct group *g)
{
	for (int i = 0; i < 2; i++)
		rbuf_free(&g->repl_cache[i].frame);
	replica_free(g);
}
