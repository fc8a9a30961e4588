/* server/requests.c — the request path. A write becomes a log entry on the
 * leader and is answered once applied; a read waits for a read index
 * (thesis §6.4: the leader confirms its leadership once for every read
 * that arrived before the confirmation) and for the keyspace to apply up
 * to it, then runs on this node. A follower forwards writes to the leader
 * and relays the reply. With no leader, a request waits up to the request
 * timeout. Errors say truthfully whether a write may have been applied
 * (SPEC.md §4): -CLUSTERDOWN and -TRYAGAIN mean it was not; -TIMEOUT means
 * it entered the log and its outcome is not known.
 *
 * One connection, one order: every command on a connection takes effect
 * after the ones sent before it and before the ones sent after it, as in
 * Redis, while a pipeline's writes still go out as one entry and its reads
 * under one read index. A read runs once every request before it on its
 * connection is answered, its read index is confirmed, and this node has
 * applied both that index and the entries of the writes answered before
 * it (a follower learns a forwarded write's entry from the leader's
 * reply). A read sent before a write of its connection runs at the latest
 * just before that write is applied (requests_before_write): any entry
 * made after the read arrived lies above every entry committed before it
 * arrived (Leader Completeness and Log Matching), so the state just before
 * such an entry is a linearizable point for the read, with no need to wait
 * for its confirmation. A server command waits until the requests before
 * it are answered.
 *
 * A shard placed on other nodes (g->outside: this node holds it empty,
 * never a member) is served by its members: every request for it, reads
 * too, goes to one of them (member_for), one at a time on its connection
 * (requests_hold), so a read leaves only once the writes before it were
 * applied at the leader. That member answers a read itself (its read
 * index) and sends a write on to its leader (relayed: only a request of a
 * node outside the group is, so no request makes more than two hops). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "net/frame.h"
#include "resp/encode.h"
#include "server/entry.h"
#include "server/server.h"

#define ERR_NO_LEADER "-CLUSTERDOWN no leader was elected in time; the request was not applied"
#define ERR_NO_CLUSTER                                                                   \
	"-CLUSTERDOWN this node is not a member of a cluster yet (started with neither " \
	"--cluster nor --join, or not yet added); the request was not applied"
#define ERR_LOST_LEADER                                                        \
	"-TRYAGAIN leadership changed before the write was committed; it was " \
	"not applied"
#define ERR_TIMEOUT "-TIMEOUT the write was not confirmed in time; it may have been applied"
#define ERR_READ_PASSED                                                                  \
	"-TRYAGAIN this node caught up by a snapshot that holds a write sent after the " \
	"read; the read was not run"
#define ERR_SENT_TIMEOUT                                                              \
	"-TIMEOUT the write was sent to a leader before it failed here; it may have " \
	"been applied"
#define ERR_CHANGE_LOST                                                                    \
	"-TRYAGAIN leadership changed before the membership change was committed; it was " \
	"not applied"
#define ERR_CHANGE_TIMEOUT                                                           \
	"-TIMEOUT the membership change was not committed in time; it may yet take " \
	"effect (RAFT STATUS shows the configuration)"
#define ERR_READ_TIMEOUT  "-TIMEOUT the read could not be confirmed in time"
#define ERR_STOPPED	  "-ERR the node has stopped"
#define ERR_STOPPED_WRITE "-ERR the node has stopped; the write was not applied"
#define READ_RETRY_MS	  250  /* a read index not answered by then is asked again */
#define FORWARD_RETRY_MS  1000 /* a forwarded write not answered by then is sent again */

static bool starts(const struct rbuf *r, const char *prefix)
{
	size_t n = strlen(prefix);
	return r->len >= n && !memcmp(r->p, prefix, n);
}

/* An error that says a write was not applied is true of one copy of it.
 * A write sent more than once (forwarded again, proposed again by a
 * follower that became leader), or sent once and then failed for another
 * reason (no leader in time, shutdown, removal, storage), may have been
 * applied by a copy already sent: its client is told so (SPEC.md §4). */
static void settle(struct creq *q)
{
	static const char *const not_applied[] = {"-CLUSTERDOWN", "-TRYAGAIN", "-REMOVED",
						  "-ERR the node", "-ERR storage failed"};
	if (q->is_read || q->admin || q->sends == 0)
		return;
	bool definite = false;
	for (size_t i = 0; i < sizeof not_applied / sizeof *not_applied; i++)
		definite = definite || starts(&q->reply, not_applied[i]);
	if (!definite || (q->sends == 1 && starts(&q->reply, "-TRYAGAIN leadership changed")))
		return;
	q->reply.len = 0;
	rbuf_puts(&q->reply, ERR_SENT_TIMEOUT "\r\n");
}

static void finish_with(struct group *g, struct creq *q, const char *line)
{
	struct server *s = g->node;
	if (q->done) /* a read run before a write, still on a list until the pass ends */
		return;
	q->reply.len = 0;
	rbuf_puts(&q->reply, line);
	rbuf_puts(&q->reply, "\r\n");
	settle(q);
	creq_finish(s, q);
}

static void push(struct creq ***v, uint32_t *n, uint32_t *cap, struct creq *q)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = keel_realloc(*v, *cap * sizeof **v);
	}
	(*v)[(*n)++] = q;
}

static struct pending *pending_push(struct pending **v, uint32_t *n, uint32_t *cap)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = keel_realloc(*v, *cap * sizeof **v);
	}
	struct pending *p = &(*v)[(*n)++];
	memset(p, 0, sizeof *p);
	return p;
}

/* ---- the leader's side ----------------------------------------------------- */

#define PASS_BYTES_MAX (4u << 20) /* an entry's commands, before it is cut */

/* The writes of one loop pass become one log entry (requests_flush_writes):
 * one record on disk, one append to each follower for all of them. */
static bool propose(struct group *g, struct creq *q)
{
	struct server *s = g->node;
	if (g->n_pass_writes && g->pass_bytes + q->cmd.len > PASS_BYTES_MAX)
		requests_flush_writes(g); /* an entry never outgrows its limit */
	push(&g->pass_writes, &g->n_pass_writes, &g->cap_pass_writes, q);
	g->pass_bytes += q->cmd.len;
	s->stats.writes++;
	return true;
}

void requests_flush_writes(struct group *g)
{
	struct server *s = g->node;
	uint32_t n = g->n_pass_writes;
	if (!n)
		return;
	struct creq **v = g->pass_writes;
	g->n_pass_writes = 0;
	g->pass_bytes = 0;
	struct rbuf *e = &g->entry;
	e->len = 0;
	/* the leader stamps its time: every replica applies with it; each
	 * request's bytes already carry its session, sequence and commands */
	entry_header(e, server_now_ms(), s->cfg.databases, n);
	for (uint32_t i = 0; i < n; i++)
		rbuf_put(e, v[i]->cmd.p, v[i]->cmd.len);
	raft_index index = 0;
	raft_term term = 0;
	int rc = g->r && !raft_stopped(g->r)
			 ? raft_propose(g->r, e->p, (uint32_t)e->len, &index, &term)
			 : KEEL_ESTOPPED;
	if (e->cap > (8u << 20))
		rbuf_free(e);
	for (uint32_t i = 0; i < n; i++) {
		if (rc != KEEL_OK) { /* no longer the leader: they wait for one */
			if (v[i]->here_only) /* checked against this log only */
				finish_with(g, v[i],
					    "-TRYAGAIN this node stopped leading (or is handing "
					    "over) before the change was in its log; not applied");
			else
				push(&g->waiting, &g->n_waiting, &g->cap_waiting, v[i]);
			continue;
		}
		v[i]->sends++;
		if (v[i]->client)
			client_sent_write(v[i]->client, g);
		struct pending *p = pending_push(&g->writes, &g->n_writes, &g->cap_writes);
		p->req = v[i];
		p->index = index;
		p->term = term;
		p->cmd_first = i; /* its request's place in the entry */
	}
}

/* Reads that arrive in one pass of the event loop share one read index:
 * the batch is asked for when the pass ends (requests_flush_reads), so
 * every read in it arrived before its leadership confirmation began. */
static bool start_read(struct group *g, struct creq *q)
{
	struct server *s = g->node;
	if (!g->read_batch_open) {
		g->read_batch_id = ++g->next_read_id;
		g->read_batch_open = true;
	}
	struct pending *p = pending_push(&g->reads, &g->n_reads, &g->cap_reads);
	p->req = q;
	q->index_known = false;
	p->read_id = g->read_batch_id;
	p->asked_ms = server_now_ms();
	s->stats.reads++;
	return true;
}

void requests_flush_reads(struct group *g)
{
	if (!g->read_batch_open)
		return;
	g->read_batch_open = false;
	if (g->r && !raft_stopped(g->r) && raft_read_index(g->r, g->read_batch_id) == KEEL_OK)
		return;
	/* no leader to ask: the batch waits and asks again later */
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_reads; i++) {
		if (g->reads[i].read_id == g->read_batch_id)
			push(&g->waiting, &g->n_waiting, &g->cap_waiting, g->reads[i].req);
		else
			g->reads[k++] = g->reads[i];
	}
	g->n_reads = k;
}

/* Runs a confirmed read on this node's keyspace, with this node's clock. */
static void run_read(struct group *g, struct creq *q)
{
	struct server *s = g->node;
	uint32_t argc;
	q->reply.len = 0;
	if (q->client && client_output_full(q->client)) {
		creq_finish(s, q); /* the client is closed: no reply is built */
		return;
	}
	if (entry_cmd_decode(q->cmd.p, q->cmd.len, &s->argv, &s->cap_argv, &argc) != KEEL_OK) {
		resp_error(&q->reply, "ERR internal: a read could not be decoded");
		creq_finish(s, q);
		return;
	}
	struct kv_ctx c = {.kv = &g->kv,
			   .argv = s->argv,
			   .argc = argc,
			   .out = &q->reply,
			   .proto = q->client || q->fwd_peer ? q->proto : 2,
			   .now_ms = server_now_ms(),
			   .db = q->db,
			   .dbs = s->cfg.databases};
	/* the slot its keys were routed by (dispatch), or found again */
	uint16_t slot = q->slot;
	if (g->kv.shard_n > 1 &&
	    (q->slot_one ? kv_slots_check_slot(&g->kv, slot, true)
			 : kv_slots_check(&g->kv, s->argv, argc, &slot)) != KV_SLOT_OWNED)
		resp_errorf(&q->reply, KV_REFUSED "%u" KV_REFUSED_OTHER, slot);
	else /* this shard's slot as of an index at or past the read's */
		kv_exec(&c);
	creq_finish(s, q);
}

/* ---- one connection, one order ------------------------------------------- */

/* q (a read or a deferred command) is run by client_step, in order. */
static void order_track(struct server *s, struct creq *q)
{
	struct client *c = q->client;
	q->ordered = true;
	c->n_ordered++;
	if (c->in_order_list)
		return;
	if (s->n_order_clients == s->cap_order_clients) {
		s->cap_order_clients = s->cap_order_clients ? s->cap_order_clients * 2 : 16;
		s->order_clients = keel_realloc(s->order_clients,
						s->cap_order_clients * sizeof *s->order_clients);
	}
	s->order_clients[s->n_order_clients++] = c;
	c->in_order_list = true;
}

/* A server command runs with the protocol its connection had when it was
 * sent, on arguments of its own (a read run meanwhile reuses s->argv). A
 * held request is submitted to its group. */
static void run_deferred(struct server *s, struct client *c, struct creq *q)
{
	struct resp_arg *argv = NULL;
	uint32_t cap = 0, argc;
	q->deferred = false;
	if (q->held) { /* everything before it is answered: it goes now */
		q->held = false;
		if (q->crossing) {
			q->crossing = false;
			c->n_crossing--;
		}
		if (q->ordered) { /* a read is tracked again by request_submit */
			q->ordered = false;
			c->n_ordered--;
		}
		if (!q->is_read && q->seq && q->seq < c->renumber_below)
			retry_renumber(c, q, q->g); /* behind a write sent again (retry.c) */
		request_submit(q->g, q, q->is_read);
		return;
	}
	if (entry_cmd_decode(q->cmd.p, q->cmd.len, &argv, &cap, &argc) != KEEL_OK) {
		resp_error(&q->reply, "ERR internal: a command could not be decoded");
		creq_finish(s, q);
	} else {
		int proto = c->proto;
		c->proto = q->proto;
		q->cmd.len = 0;
		server_command(s, c, q, argv, argc);
		c->proto = proto;
	}
	keel_free(argv);
}

/* A request of c sent before q is not answered yet. */
static bool waits_behind(const struct client *c, const struct creq *q)
{
	const struct creq *p = c->head;
	while (p != q && p->done)
		p = p->next;
	return p != q;
}

bool requests_defer(struct group *g, struct client *c, struct creq *q, const struct resp_arg *argv,
		    uint32_t argc)
{
	if (g->replica || !waits_behind(c, q))
		return false;
	entry_cmd_append(&q->cmd, argv, argc);
	q->deferred = true;
	order_track(g->node, q);
	return true;
}

/* A connection that resumed its session may send a read, then resend a
 * write whose outcome its earlier connection never learned. That write's
 * first copy may be applied while the read waits, and it was sent before
 * the read: running the read just before it (requests_before_write) would
 * miss writes acknowledged before the read was sent. So until the resumed
 * session's first write is answered here, a write waits for the requests
 * before it (as a server command does), and an entry of the session
 * applied while it waits is an earlier connection's. */
bool requests_hold(struct group *g, struct client *c, struct creq *q, bool is_read)
{
	/* another group's requests before it may be answered in any order
	 * relative to its own: it waits for all of them (docs/shards.md) */
	bool crossing = c->n_crossing || (c->last_group && c->last_group != g);
	/* behind a request held to go again (retry.c) it waits too, as do the
	 * ones after it */
	crossing = crossing || c->n_retrying;
	/* behind a keyspace command over the shards (fanout.c) too */
	crossing = crossing || c->n_fanout;
	/* a shard placed on other nodes answers through one of them, which
	 * may be another than the last: one request at a time */
	crossing = crossing || g->outside;
	c->last_group = g;
	if (g->replica || !(crossing || (c->resumed_at && !is_read)) || !waits_behind(c, q))
		return false;
	q->g = g;
	q->is_read = is_read;
	q->deferred = q->held = true;
	if (crossing) {
		q->crossing = true;
		c->n_crossing++;
	}
	order_track(g->node, q);
	return true;
}

/* ---- forwarding (follower to leader) ---------------------------------------- */

/* The batch of this pass's frames to peer id. A batch with nothing in it
 * (each is emptied as the pass ends) serves another peer, so a node that
 * has had more peers over its life than RAFT_MEMBERS_MAX (members
 * replaced) still reaches every one; NULL only if that many peers each
 * have frames in one pass. */
struct peer_batch *peer_batch_of(struct group *g, uint64_t id)
{
	struct peer_batch *idle = NULL;
	for (uint32_t i = 0; i < g->n_batches; i++)
		if (g->batches[i].id == id)
			return &g->batches[i];
		else if (!idle && !g->batches[i].fwd.len && !g->batches[i].rep.len)
			idle = &g->batches[i];
	if (!idle && g->n_batches < RAFT_MEMBERS_MAX) {
		idle = &g->batches[g->n_batches++];
		rbuf_init(&idle->fwd);
		rbuf_init(&idle->rep);
	}
	if (idle)
		idle->id = id;
	return idle;
}

/* A request for the leader (or, from a node outside a placed shard, for a
 * member of it) joins this pass's FORWARD frame to it. Record: u64 id, u8
 * kind (0 a write, 1 a read answered in RESP2, 3 one in RESP3, 2 a RAFT
 * command), u32 n_cmds (a read: the database it runs in), u32 length, the
 * request's bytes. */
static bool forward(struct group *g, struct creq *q, raft_id leader)
{
	struct server *s = g->node;
	struct peer_batch *b = peer_batch_of(g, leader);
	if (!b || !peers_connected(s->peers, leader))
		return false;
	/* kept when sent again: a reply to either copy answers it; a peer's
	 * request sent on (relayed) has an id of this node's for its copy */
	uint64_t *id = q->fwd_peer ? &q->onward_id : &q->fwd_id;
	if (!*id)
		*id = ++g->next_fwd_id;
	rbuf_put_u64(&b->fwd, *id);
	uint8_t kind = q->admin ? 2 : q->is_read ? (q->proto == 3 ? 3 : 1) : 0;
	rbuf_put(&b->fwd, &kind, 1);
	rbuf_put_u32(&b->fwd, q->is_read ? q->db : q->n_cmds);
	rbuf_put_u32(&b->fwd, (uint32_t)q->cmd.len);
	rbuf_put(&b->fwd, q->cmd.p, q->cmd.len);
	q->fwd_to = leader;
	q->fwd_at = server_now_ms();
	q->sends++;
	if (q->client)
		client_sent_write(q->client, g);
	push(&g->forwarded, &g->n_forwarded, &g->cap_forwarded, q);
	s->stats.forwarded++;
	return true;
}

void requests_flush_peers(struct group *g)
{
	struct server *s = g->node;
	for (uint32_t i = 0; i < g->n_batches; i++) {
		struct peer_batch *b = &g->batches[i];
		/* a frame that cannot go is lost: the requests are sent again */
		if (b->fwd.len)
			peers_send_group(s->peers, b->id, g->id, FRAME_FORWARD, b->fwd.p,
					 b->fwd.len);
		if (b->rep.len)
			peers_send_group(s->peers, b->id, g->id, FRAME_REPLY, b->rep.p, b->rep.len);
		b->fwd.len = b->rep.len = 0;
	}
}

/* The member of shard g (placed on other nodes) a request of this node
 * goes to: its leader if known and connected, else a connected one, from
 * the last chosen on; other than `avoid` (the one a request went to
 * unanswered: outside_tick forgets the leader known first if it is that
 * one) unless it is the only one; RAFT_ID_NONE if none is connected. */
static raft_id member_for(struct group *g, raft_id avoid)
{
	struct server *s = g->node;
	if (g->lead_hint && peers_connected(s->peers, g->lead_hint)) /* never `avoid` */
		return g->lead_hint;
	for (uint32_t k = 0; k < g->n_placed; k++) {
		raft_id id = g->placed[(g->outside_at + k) % g->n_placed];
		if (id != s->cfg.id && id != avoid && peers_connected(s->peers, id)) {
			g->outside_at = (g->outside_at + k) % g->n_placed;
			return id;
		}
	}
	return peers_connected(s->peers, avoid) ? avoid : RAFT_ID_NONE; /* none: false */
}

raft_id requests_outside_member(struct group *g)
{
	return member_for(g, RAFT_ID_NONE);
}

void requests_on_leads(struct server *s, uint64_t from, const uint8_t *p, size_t n)
{
	static struct frame_lead l[FRAME_LEADS_MAX]; /* one loop thread at a time */
	uint32_t count;
	if (!frame_leads_decode(p, n, l, &count))
		return;
	/* what it no longer lists it no longer leads; what it lists in a term
	 * at least as new as any heard, it leads */
	for (uint32_t i = 0; i < s->n_shards; i++)
		if (s->groups[i]->lead_hint == from)
			s->groups[i]->lead_hint = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct group *g = l[i].shard < s->n_shards ? s->groups[l[i].shard] : NULL;
		if (g && g->outside && group_placed_on(g, from) && l[i].term >= g->lead_term) {
			g->lead_hint = from;
			g->lead_term = l[i].term;
		}
	}
}

void requests_leads(struct server *s, struct rbuf *out)
{
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	out->len = 0;
	if (!sl || !sl->n_placed)
		return;
	uint32_t n = 0;
	rbuf_put_u32(out, 0);
	for (uint32_t i = 0; i < s->n_shards && n < FRAME_LEADS_MAX; i++) {
		struct group *g = s->groups[i];
		if (g->n_placed && !g->outside && g->r && !raft_stopped(g->r) &&
		    raft_role_of(g->r) == RAFT_LEADER) {
			rbuf_put_u32(out, i);
			rbuf_put_u64(out, raft_current_term(g->r));
			n++;
		}
	}
	bytes_put_u32(out->p, n); /* frame_leads_decode's layout */
}

/* Whether a peer's request q may be sent on to g's leader: only one from
 * a node outside g (no member's request is relayed twice). */
static bool relayed(const struct group *g, const struct creq *q)
{
	return q->fwd_peer && !raft_config_find(raft_config_of(g->r), q->fwd_peer);
}

/* Tries to move a request on; false if it must wait (no leader). */
static bool advance(struct group *g, struct creq *q)
{
	struct server *s = g->node;
	if (!g->r || raft_stopped(g->r)) {
		finish_with(g, q, q->is_read ? ERR_STOPPED : ERR_STOPPED_WRITE);
		return true;
	}
	if (g->outside) { /* a member serves it: reads too */
		/* one at a time, as requests_hold keeps them: one that waited
		 * here from before this node left the group (for a leader, say)
		 * goes only once those before it on its connection are answered,
		 * or a member could apply it before serving a read sent first */
		if (q->client && waits_behind(q->client, q))
			return false;
		raft_id to = member_for(g, RAFT_ID_NONE);
		return to != RAFT_ID_NONE && forward(g, q, to);
	}
	if (q->is_read)
		return start_read(g, q);
	raft_id leader = raft_leader_of(g->r);
	if (leader == s->cfg.id)
		return propose(g, q);
	if (leader != RAFT_ID_NONE && (!q->fwd_peer || relayed(g, q)))
		return forward(g, q, leader);
	return false;
}

void request_submit(struct group *g, struct creq *q, bool is_read)
{
	struct server *s = g->node;
	group_wake(g, 0); /* a quiet group (server/quiet.c) ticks again */
	/* checked here, on the node the client talks to: 64 bytes for the
	 * entry's own header */
	if (!is_read && (q->oversize || q->cmd.len + 64 > RAFT_ENTRY_BYTES_MAX)) {
		finish_with(g, q,
			    "-ERR the request is larger than a log entry may be (64 MiB); "
			    "not applied");
		return;
	}
	if (g->replica) { /* a read replica: its own keyspace, stale by its lag */
		q->is_read = is_read;
		s->stats.reads += is_read;
		if (is_read)
			run_read(g, q);
		else
			finish_with(g, q, "-READONLY You can't write against a read only replica.");
		return;
	}
	if (g->removed_at && !g->outside) {
		finish_with(g, q,
			    members_taken_off(g)
				    ? ERR_TAKEN_OFF
				    : "-REMOVED this node was removed from the cluster; the "
				      "request was not applied");
		return;
	}
	/* a node that knows no member of any cluster (not even itself) has no
	 * leader to wait for: told at once, not after the request timeout (a
	 * member's groups all have cores: a read replica's returned above) */
	if (!raft_config_of(server_cluster(s)->r)->n) {
		finish_with(g, q, ERR_NO_CLUSTER);
		return;
	}
	q->is_read = is_read;
	q->deadline_ms = server_now_ms() + s->cfg.request_timeout_ms;
	q->g = g;
	q->submitted = true;
	if (is_read && q->client)
		order_track(s, q);
	if (!advance(g, q))
		push(&g->waiting, &g->n_waiting, &g->cap_waiting, q);
}

/* ---- outcomes ---------------------------------------------------------------- */

void requests_on_applied(struct group *g, const struct raft_entry *e, struct rbuf *replies,
			 uint32_t n_replies)
{
	struct server *s = g->node;
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_writes; i++) {
		struct pending *p = &g->writes[i];
		if (p->index != e->index) {
			g->writes[k++] = *p;
			continue;
		}
		struct creq *q = p->req;
		if (p->change) { /* its configuration entry, or another in its place */
			bool made = p->term == e->term && e->type == RAFT_ENTRY_CONFIG;
			finish_with(g, q, made ? "+OK" : ERR_CHANGE_LOST);
			continue;
		}
		if (p->term != e->term || !replies || p->cmd_first >= n_replies) {
			finish_with(g, q, ERR_LOST_LEADER); /* another entry took its place */
			continue;
		}
		q->reply.len = 0;
		rbuf_put(&q->reply, replies[p->cmd_first].p, replies[p->cmd_first].len);
		q->applied_at = e->index;
		creq_finish(s, q);
	}
	g->n_writes = k;
}

void requests_await_change(struct group *g, struct creq *q)
{
	struct server *s = g->node;
	struct pending *p = pending_push(&g->writes, &g->n_writes, &g->cap_writes);
	p->req = q;
	p->index = raft_last_index(g->r);
	p->term = raft_current_term(g->r);
	p->change = true;
	q->g = g;
	q->deadline_ms = server_now_ms() + s->cfg.request_timeout_ms;
}

void requests_on_reads(struct group *g, const struct raft_read *rd, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = 0;
		for (uint32_t j = 0; j < g->n_reads; j++) {
			struct pending *p = &g->reads[j];
			if (p->read_id != rd[i].req_id) {
				g->reads[k++] = *p;
			} else if (rd[i].status == KEEL_OK) {
				p->req->read_index = rd[i].index;
				p->req->index_known = true;
				g->reads[k++] = *p;
			} else { /* not confirmed: wait for a leader and ask again */
				push(&g->waiting, &g->n_waiting, &g->cap_waiting, p->req);
			}
		}
		g->n_reads = k;
	}
}

static raft_index applied_of(const struct group *g)
{
	return g->r ? raft_applied_index(g->r) : 0;
}

/* The keys the reads from q on that may run now look up first (their
 * first arguments, where most reads have their key), up to
 * READ_PREFETCH of them, fetched into the cache before they run
 * (kv_prefetch, as group.c does for an entry's writes). */
#define READ_PREFETCH 16
static void prefetch_reads(struct creq *q)
{
	struct kv_prefetch p;
	p.n = 0;
	for (; q && p.n < READ_PREFETCH; q = q->next) {
		struct resp_arg key;
		if (q->done)
			continue;
		if (!q->is_read || !q->index_known || q->retrying || q->deferred)
			break; /* client_step stops here or before */
		if (q->db < q->g->kv.n_db && entry_cmd_arg(q->cmd.p, q->cmd.len, 1, &key))
			kv_prefetch_add(&p, &q->g->kv.db[q->db], key.p, key.len);
	}
	kv_prefetch_entries(&p);
}

/* Runs what its connection's order now allows: from the oldest request
 * not yet answered, each read whose index is confirmed and applied in its
 * group, and which the writes of that group answered before it need no
 * further apply for, each deferred server command, and each held request
 * (submitted); stops at the first that must wait. */
static void client_step(struct server *s, struct client *c)
{
	bool fetched = false;
	for (struct creq *q = c->head; q; q = q->next) {
		if (q->done)
			continue;
		if (q->retrying) /* held to go again (retry.c): the rest wait */
			return;
		if (q->deferred) {
			run_deferred(s, c, q);
			if (!q->done)
				return;
			continue;
		}
		if (!q->is_read || !q->index_known)
			return;
		raft_index need = q->read_index;
		if (c->need_group == q->g && c->need_index > need)
			need = c->need_index;
		if (applied_of(q->g) < need)
			return;
		if (!fetched)
			prefetch_reads(q);
		fetched = true;
		run_read(q->g, q);
		if (!q->done) /* held to go again (retry.c) */
			return;
	}
}

/* Drops the answered requests from a list of them. */
static void drop_done(struct creq **v, uint32_t *n)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < *n; i++)
		if (!v[i]->done)
			v[k++] = v[i];
	*n = k;
}

/* The reads of g whose connection has gone: no order to keep. */
static void run_orphans(struct group *g)
{
	if (!g->n_reads)
		return;
	raft_index applied = applied_of(g);
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_reads; i++) {
		struct creq *q = g->reads[i].req;
		if (!q->client && !q->done && q->index_known && applied >= q->read_index)
			run_read(g, q);
		else if (!q->done)
			g->reads[k++] = g->reads[i];
	}
	g->n_reads = k;
}

/* What ran, here or before a write (requests_before_write), leaves the
 * lists before its slot can be freed. */
static void drop_answered(struct group *g)
{
	if (!g->n_reads && !g->n_waiting)
		return;
	uint32_t k = 0;
	for (uint32_t i = 0; i < g->n_reads; i++)
		if (!g->reads[i].req->done)
			g->reads[k++] = g->reads[i];
	g->n_reads = k;
	drop_done(g->waiting, &g->n_waiting);
}

void requests_answer_reads(struct server *s)
{
	if (s->answering) /* a server command run by client_step got here */
		return;
	s->answering = true;
	SERVER_FOR_AWAKE (s, i) /* a quiet group has no read */
		run_orphans(s->groups[i]);
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->n_order_clients; i++) {
		struct client *c = s->order_clients[i];
		client_step(s, c);
		if (c->n_ordered)
			s->order_clients[k++] = c;
		else
			c->in_order_list = false;
	}
	s->n_order_clients = k;
	SERVER_FOR_AWAKE (s, i)
		drop_answered(s->groups[i]);
	s->answering = false;
}

/* A read of c's that has not run and is not held: one that runs before a
 * write sent after it (requests_before_write), or is refused when it no
 * longer can (requests_after_install). */
static bool read_pending(const struct creq *q)
{
	return q->is_read && !q->done && !q->retrying && !q->deferred;
}

void requests_before_write(struct group *g, uint64_t session, uint64_t seq)
{
	struct server *s = g->node;
	if (!s->n_order_clients)
		return;
	struct client *c = client_by_session(s, session);
	if (!c || !c->n_ordered)
		return;
	struct creq *w = c->head;
	while (w && (w->is_read || w->deferred || w->seq < seq))
		w = w->next;
	if (!w || w->seq != seq)
		return; /* not a write this connection is waiting for */
	for (struct creq *q = c->head; q != w; q = q->next)
		if (read_pending(q))
			run_read(g, q);
}

/* A snapshot this node installed (a follower far behind) may hold writes
 * of its connections that it never applied one by one, so a read sent
 * before such a write could not run just before it (above), and the state
 * now is past it. Such a read is refused, not run: it saw nothing. Reads
 * before writes the snapshot does not hold wait as before. */
void requests_after_install(struct group *g)
{
	struct server *s = g->node;
	for (uint32_t i = 0; i < s->n_order_clients; i++) {
		struct client *c = s->order_clients[i];
		/* the last write of c the snapshot holds (answered already, or
		 * not: its session's record in the snapshot says) */
		struct creq *held = NULL;
		for (struct creq *w = c->head; w; w = w->next) {
			const uint8_t *reply;
			size_t len;
			int seen = w->seq && w->g == g /* a write of g (a read has no number) */
					   ? kv_session_check(&g->kv, c->session, w->seq, 0, &reply,
							      &len)
					   : KV_SESSION_NEW;
			if (seen == KV_SESSION_REPLY || seen == KV_SESSION_APPLIED ||
			    seen == KV_SESSION_ANSWERED)
				held = w;
		}
		for (struct creq *q = c->head; held && q != held; q = q->next)
			if (read_pending(q))
				finish_with(g, q, ERR_READ_PASSED);
	}
}

bool request_decode(const struct creq *q, bool is_read, struct rbuf *b, struct entry *e)
{
	rbuf_init(b);
	entry_header(b, 0, 1, 1);
	if (is_read) /* a read's bytes are its command alone */
		entry_req_header(b, &(struct entry_req_head){0}, 1);
	rbuf_put(b, q->cmd.p, q->cmd.len);
	return entry_decode(e, b->p, b->len) == KEEL_OK && e->n_reqs == 1;
}

/* A forwarded write must decode as one request of an entry, of the
 * commands its record counts. */
static bool forwarded_ok(const struct creq *q)
{
	struct rbuf b;
	struct entry e;
	bool ok = request_decode(q, false, &b, &e) && e.reqs[0].n_cmds == q->n_cmds;
	entry_free(&e); /* decoded with another count too: nothing kept */
	rbuf_free(&b);
	return ok;
}

/* A frame from a peer: a forwarded request (we are the leader) or the
 * leader's reply to one we forwarded. */
static void on_reply(struct group *g, uint64_t id, raft_index index, const uint8_t *p, size_t n)
{
	struct server *s = g->node;
	for (uint32_t i = 0; i < g->n_forwarded; i++) {
		struct creq *q = g->forwarded[i];
		if ((q->fwd_peer ? q->onward_id : q->fwd_id) != id)
			continue;
		/* kept in order: sent again, they go in the order sent */
		memmove(&g->forwarded[i], &g->forwarded[i + 1],
			(--g->n_forwarded - i) * sizeof *g->forwarded);
		q->applied_at = index;
		q->reply.len = 0;
		rbuf_put(&q->reply, p, n);
		if (q->sends > 1) /* sent once: the reply is that copy's outcome */
			settle(q);
		creq_finish(s, q);
		return;
	}
}

/* A RAFT command a follower forwarded: run here if we lead. */
static void on_forward_admin(struct group *g, struct creq *q)
{
	struct server *s = g->node;
	struct resp_arg *argv = NULL;
	uint32_t cap = 0, argc;
	if (entry_cmd_decode(q->cmd.p, q->cmd.len, &argv, &cap, &argc) != KEEL_OK) { /* argc >= 1 */
		keel_free(argv);
		finish_with(g, q, "-ERR the forwarded command was malformed");
		return;
	}
	server_raft_admin(s, q, argv, argc);
	keel_free(argv);
}

bool request_forward_admin(struct group *g, struct creq *q, const struct resp_arg *argv,
			   uint32_t argc)
{
	struct server *s = g->node;
	/* outside g: one of its members (KEEL.RESHARD, which reads the
	 * source's keys) */
	raft_id to = g->outside ? member_for(g, RAFT_ID_NONE)
		     : g->r	? raft_leader_of(g->r)
				: RAFT_ID_NONE;
	group_wake(g, 0); /* its forward's timeout needs the group's ticks */
	if (to == RAFT_ID_NONE || to == s->cfg.id)
		return false;
	entry_cmd_append(&q->cmd, argv, argc);
	q->admin = true;
	q->deadline_ms = server_now_ms() + s->cfg.request_timeout_ms;
	return forward(g, q, to);
}

/* A read a node outside g sent: its command alone, one of a command
 * table's arity or more. */
static bool forwarded_read_ok(const struct creq *q)
{
	struct rbuf b;
	struct entry e;
	bool ok = request_decode(q, true, &b, &e) && e.reqs[0].n_cmds == 1;
	entry_free(&e);
	rbuf_free(&b);
	return ok;
}

static void on_forward(struct group *g, uint64_t from, uint64_t id, uint8_t kind, uint32_t n_cmds,
		       const uint8_t *p, size_t n)
{
	struct server *s = g->node;
	struct creq *q = creq_new(s, NULL);
	bool is_read = kind != 0;
	q->g = g;
	q->fwd_peer = from;
	q->fwd_id = id;
	q->n_cmds = is_read ? 1 : n_cmds;
	q->db = is_read ? n_cmds : 0;
	q->proto = kind == 3 ? 3 : 2;
	rbuf_put(&q->cmd, p, n);
	/* a peer's bytes are checked like any input. Only a node outside g
	 * sends reads (a member reads through its own core), but this node's
	 * configuration may already name it (a node just added to a placed
	 * shard, not yet told) or still do (one just taken off): served
	 * alike, through this node's read index */
	if (kind > 3 || (is_read && (q->db >= s->cfg.databases || !forwarded_read_ok(q))) ||
	    (!is_read && !forwarded_ok(q))) {
		finish_with(g, q, "-ERR the forwarded request was malformed; not applied");
		return;
	}
	/* a node outside g has nothing to serve it from, and sending it on
	 * could send it round: two nodes listed, neither added yet, each
	 * another's member to send to (member_for) */
	if (g->outside) {
		finish_with(g, q,
			    "-TRYAGAIN this node is not one of the shard's members (not yet "
			    "added, or taken off); the request was not applied");
		return;
	}
	/* peer frames reach only a member: its core exists while its peer
	 * port is open. A member's write goes to the leader it was sent to;
	 * an outside node's may come to any member, which sends it on. */
	if (!is_read && raft_leader_of(g->r) != s->cfg.id && !relayed(g, q)) {
		finish_with(g, q, "-TRYAGAIN this node is no longer the leader; not applied");
		return;
	}
	request_submit(g, q, is_read);
}

/* A frame from a peer: the requests a follower forwards to us (the
 * leader), or the leader's replies to those we forwarded. */
void requests_on_frame(struct group *g, uint64_t from, uint8_t kind, const uint8_t *p, size_t n)
{
	struct server *s = g->node;
	struct bytes_reader r;
	bytes_reader_init(&r, p, n);
	while (bytes_reader_left(&r)) { /* 0 once a read went past the end */
		uint64_t id = bytes_read_u64(&r);
		if (kind == FRAME_REPLY) {
			uint64_t index = bytes_read_u64(&r);
			uint32_t len = bytes_read_u32(&r);
			const uint8_t *b = bytes_read_raw(&r, len);
			if (!r.err)
				on_reply(g, id, index, b, len);
		} else if (kind == FRAME_FORWARD) {
			uint8_t kind_byte = bytes_read_u8(&r);
			uint32_t n_cmds = bytes_read_u32(&r);
			uint32_t len = bytes_read_u32(&r);
			const uint8_t *b = bytes_read_raw(&r, len);
			if (r.err)
				break;
			if (kind_byte == 2) {
				struct creq *q = creq_new(s, NULL);
				q->g = g;
				q->fwd_peer = from;
				q->fwd_id = id;
				rbuf_put(&q->cmd, b, len);
				on_forward_admin(g, q);
			} else {
				on_forward(g, from, id, kind_byte, n_cmds, b, len);
			}
		} else {
			return;
		}
	}
}

/* requests_tick's forwarded requests of a node outside shard g: those
 * past their deadline get their error, those unanswered for a while go
 * to another member (a write carries its session and sequence number, so
 * a copy already applied is answered, not applied again; the leader known
 * is not sent to again until its LEADS names it again), and the rest
 * wait. */
static void outside_tick(struct group *g, int64_t now)
{
	uint32_t n = g->n_forwarded;
	struct creq **v = g->forwarded;
	g->forwarded = NULL;
	g->n_forwarded = g->cap_forwarded = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct creq *q = v[i];
		raft_id to;
		if (now >= q->deadline_ms) {
			finish_with(g, q, q->is_read ? ERR_READ_TIMEOUT : ERR_TIMEOUT);
			continue;
		}
		bool late = now - q->fwd_at >= FORWARD_RETRY_MS && !q->admin;
		if (late && q->fwd_to == g->lead_hint) /* not answering: until it says again */
			g->lead_hint = 0;
		if (!late || (to = member_for(g, q->fwd_to)) == RAFT_ID_NONE || !forward(g, q, to))
			push(&g->forwarded, &g->n_forwarded, &g->cap_forwarded, q);
	}
	keel_free(v);
}

/* The periodic pass: waiting requests move on once there is a leader;
 * requests past their deadline get their error. */
void requests_tick(struct group *g)
{
	struct server *s = g->node;
	int64_t now = server_now_ms();
	uint32_t n = g->n_waiting;
	struct creq **v = g->waiting;
	g->waiting = NULL;
	g->n_waiting = g->cap_waiting = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct creq *q = v[i];
		if (now >= q->deadline_ms)
			finish_with(g, q, ERR_NO_LEADER);
		else if (!advance(g, q))
			push(&g->waiting, &g->n_waiting, &g->cap_waiting, q);
	}
	keel_free(v);
	/* Forwarded writes whose leader has changed go to the new one, and
	 * those unanswered for a while go again: they carry their session and
	 * sequence number, so a write already applied is answered, not applied
	 * again. */
	raft_id leader = g->r && !raft_stopped(g->r) ? raft_leader_of(g->r) : RAFT_ID_NONE;
	n = g->n_forwarded;
	if (g->outside) { /* unanswered for a while: to the next member */
		outside_tick(g, now);
		return;
	}
	v = g->forwarded;
	g->forwarded = NULL;
	g->n_forwarded = g->cap_forwarded = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct creq *q = v[i];
		if (now >= q->deadline_ms)
			finish_with(g, q, q->is_read ? ERR_READ_TIMEOUT : ERR_TIMEOUT);
		else if (q->admin) /* sent once: the operator retries */
			push(&g->forwarded, &g->n_forwarded, &g->cap_forwarded, q);
		else if (leader != RAFT_ID_NONE && leader != s->cfg.id &&
			 (leader != q->fwd_to || now - q->fwd_at >= FORWARD_RETRY_MS) &&
			 forward(g, q, leader))
			continue; /* a new leader, or no answer yet: sent again */
		else if (leader == s->cfg.id && !q->is_read) /* we lead now: propose it */
			propose(g, q);
		else
			push(&g->forwarded, &g->n_forwarded, &g->cap_forwarded, q);
	}
	keel_free(v);
	uint32_t k = 0;
	k = 0;
	for (uint32_t i = 0; i < g->n_writes; i++) {
		struct pending *p = &g->writes[i];
		if (now >= p->req->deadline_ms)
			finish_with(g, p->req, p->change ? ERR_CHANGE_TIMEOUT : ERR_TIMEOUT);
		else
			g->writes[k++] = *p;
	}
	g->n_writes = k;
	k = 0;
	for (uint32_t i = 0; i < g->n_reads; i++) {
		struct pending *p = &g->reads[i];
		if (now >= p->req->deadline_ms)
			finish_with(g, p->req, ERR_READ_TIMEOUT);
		else if (!p->req->index_known && now - p->asked_ms >= READ_RETRY_MS)
			/* the question or its answer was lost (a peer connection
			 * not up yet): ask again in a new batch */
			push(&g->waiting, &g->n_waiting, &g->cap_waiting, p->req);
		else
			g->reads[k++] = *p;
	}
	g->n_reads = k;
}

void requests_fail_all(struct group *g, const char *err)
{
	for (uint32_t i = 0; i < g->n_pass_writes; i++)
		finish_with(g, g->pass_writes[i], err);
	g->n_pass_writes = 0;
	for (uint32_t i = 0; i < g->n_waiting; i++)
		finish_with(g, g->waiting[i], err);
	for (uint32_t i = 0; i < g->n_forwarded; i++)
		finish_with(g, g->forwarded[i], ERR_TIMEOUT);
	for (uint32_t i = 0; i < g->n_writes; i++)
		finish_with(g, g->writes[i].req,
			    g->writes[i].change ? ERR_CHANGE_TIMEOUT : ERR_TIMEOUT);
	for (uint32_t i = 0; i < g->n_reads; i++)
		finish_with(g, g->reads[i].req, err);
	g->n_waiting = g->n_forwarded = g->n_writes = g->n_reads = 0;
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (struct creq *const *)a;
	uintptr_t y = (uintptr_t) * (struct creq *const *)b;
	return x < y ? -1 : x > y;
}

void requests_discard(struct group *g)
{
	struct server *s = g->node;
	struct creq **v = NULL;
	uint32_t n = 0, cap = 0;
	for (uint32_t i = 0; i < g->n_pass_writes; i++)
		push(&v, &n, &cap, g->pass_writes[i]);
	for (uint32_t i = 0; i < g->n_waiting; i++)
		push(&v, &n, &cap, g->waiting[i]);
	for (uint32_t i = 0; i < g->n_forwarded; i++)
		push(&v, &n, &cap, g->forwarded[i]);
	for (uint32_t i = 0; i < g->n_writes; i++)
		push(&v, &n, &cap, g->writes[i].req);
	for (uint32_t i = 0; i < g->n_reads; i++)
		push(&v, &n, &cap, g->reads[i].req);
	g->n_pass_writes = g->n_waiting = g->n_forwarded = g->n_writes = g->n_reads = 0;
	for (uint32_t i = 0, k = n; i < k; i++) /* a client's request a node's own one answers */
		if (v[i]->answers)
			push(&v, &n, &cap, v[i]->answers);
	if (!n)
		return;
	/* each once; one already back in the pool (a finished read of a closed
	 * client, still listed) is freed with the pool */
	struct creq **pool = NULL;
	uint32_t n_pool = 0, cap_pool = 0;
	for (struct creq *q = s->creq_pool; q; q = q->next)
		push(&pool, &n_pool, &cap_pool, q);
	qsort(v, n, sizeof *v, ptr_cmp);
	if (n_pool)
		qsort(pool, n_pool, sizeof *pool, ptr_cmp);
	for (uint32_t i = 0; i < n; i++)
		if ((i == 0 || v[i] != v[i - 1]) && /* every list holds requests, none NULL */
		    !(n_pool && bsearch(&v[i], pool, n_pool, sizeof *pool, ptr_cmp)))
			creq_free(s, v[i]);
	keel_free(pool);
	keel_free(v);
}
