/* server/cluster.c — the Redis Cluster protocol, node side. Cluster-aware
 * clients (redis-cli -c, redis-benchmark --cluster, redis-py RedisCluster,
 * ioredis Cluster) find every slot's node and are redirected here:
 *
 *   CLUSTER SLOTS | SHARDS | NODES | INFO | MYID | KEYSLOT <key>
 *           | COUNTKEYSINSLOT <slot> | GETKEYSINSLOT <slot> <count> | HELP
 *   READONLY, READWRITE, ASKING (+OK; they make the connection cluster-aware)
 *   -MOVED <slot> <host>:<port> for a cluster-aware connection's write on a
 *   node that does not lead the slot's group
 *   -ASK <slot> <host>:<port> for a cluster-aware connection's request that
 *   the slot's group refused because its slot has moved on (released at
 *   the source) while the map has not flipped yet, when this node's copy
 *   of another shard already holds it (accepted): that shard's leader; a
 *   command after ASKING goes to that shard
 *
 * with Redis 7.0's reply shapes and errors. Slots map to groups through
 * one function, cluster_slot_group; today every slot is the node's one
 * group's, so every answer shows one shard holding 0-16383: the Raft
 * leader its master, the other members whose client address this node
 * knows its replicas. Node ids are those of SENTINEL MYID (addrs.c).
 *
 * What it guarantees: a cluster-aware connection's write is answered
 * -MOVED only when this node knows the leader, its client address and has
 * its peer link up, and then nothing of it is applied; -ASK only for a
 * request its shard refused (nothing of it applied) and only naming the
 * leader of a shard whose copy here holds the slot; a redirect never
 * decides where a request applies: the shard that runs it checks its own
 * hold on the slot first (kv/slots.c); every other request
 * (reads on any node: keel's follower reads are linearizable; writes of
 * plain connections, forwarded; commands without keys; MULTI/EXEC) is
 * served as without this file. A connection becomes cluster-aware when it
 * sends CLUSTER SLOTS, SHARDS or NODES, READONLY, READWRITE or ASKING (what
 * cluster clients send and plain clients do not), and stays so until
 * RESET. COUNTKEYSINSLOT and GETKEYSINSLOT read this node's keyspace as
 * applied here (Redis answers them from its own keys too), by the
 * keyspace's list of the slot's keys: in time of the slot's keys (those
 * logically expired but not yet deleted are walked over, not counted). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "kv/dict.h"
#include "kv/kv.h"
#include "resp/encode.h"
#include "server/server.h"

static bool is(const struct resp_arg *a, const char *s)
{
	return a->len == strlen(s) && !strncasecmp((const char *)a->p, s, a->len);
}

struct group *cluster_slot_group(struct server *s, uint16_t slot)
{
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	return sl && sl->owner[slot] < s->n_shards ? s->groups[sl->owner[slot]] : s->groups[0];
}

void cluster_runs(struct server *s,
		  void (*fn)(void *ctx, uint16_t first, uint16_t last, struct group *g), void *ctx)
{
	uint32_t first = 0;
	for (uint32_t slot = 1; slot <= KV_SLOTS; slot++) {
		struct group *g = cluster_slot_group(s, (uint16_t)first);
		if (slot < KV_SLOTS && cluster_slot_group(s, (uint16_t)slot) == g)
			continue;
		fn(ctx, (uint16_t)first, (uint16_t)(slot - 1), g);
		first = slot;
	}
}

/* cluster_keys_group's work; also, in *one (if not NULL), the slot of
 * every key when they are all in one, else -1. */
static int keys_group(struct server *s, const struct kv_cmd *cmd, const struct resp_arg *argv,
		      uint32_t argc, struct group **g, int32_t *one)
{
	*g = s->g;
	if (one)
		*one = -1;
	if (!s->meta)
		return 1;
	uint32_t few[16], *pos = argc <= 16 ? few : keel_malloc(argc * sizeof *pos);
	int n = kv_command_keys(cmd, argv, argc, pos, NULL, argc), rc = n ? 1 : 0;
	int32_t first = -1;
	if (n > 0) {
		first = kv_slot(argv[pos[0]].p, argv[pos[0]].len);
		*g = cluster_slot_group(s, (uint16_t)first);
	}
	for (int i = 1; rc > 0 && i < n; i++) {
		uint16_t slot = kv_slot(argv[pos[i]].p, argv[pos[i]].len);
		if (cluster_slot_group(s, slot) != *g)
			rc = -1;
		if (slot != first)
			first = -1;
	}
	if (pos != few)
		keel_free(pos);
	if (one) /* -1 or a slot: cluster_route reads it only with a group */
		*one = first;
	return rc;
}

int cluster_keys_group(struct server *s, const struct kv_cmd *cmd, const struct resp_arg *argv,
		       uint32_t argc, struct group **g)
{
	return keys_group(s, cmd, argv, argc, g, NULL);
}

/* The error for a command cluster_keys_group found no one group for. */
static void route_error(struct rbuf *o, const struct kv_cmd *cmd, int rc)
{
	if (rc < 0)
		resp_error(o, "CROSSSLOT Keys in request don't hash to the same slot");
	else if (cmd->flags & KV_WRITE && !strcmp(cmd->name, "swapdb"))
		resp_errorf(o,
			    "ERR '%s' writes every shard: not supported on a node of several "
			    "shards (docs/shards.md)",
			    cmd->name);
	else /* DBSIZE, KEYS, ... queued in MULTI (fanout.c runs them outside) */
		resp_errorf(o,
			    "ERR '%s' reads or writes every shard: not in a transaction on a "
			    "node of several shards (docs/shards.md)",
			    cmd->name);
}

struct group *cluster_route(struct server *s, struct creq *q, const struct kv_cmd *cmd,
			    const struct resp_arg *argv, uint32_t argc)
{
	struct group *g;
	int32_t one;
	int rc = keys_group(s, cmd, argv, argc, &g, &one);
	if (rc > 0) {
		q->slot_one = one >= 0;
		q->slot = q->slot_one ? (uint16_t)one : 0;
		return g;
	}
	route_error(&q->reply, cmd, rc);
	creq_finish(s, q);
	return NULL;
}

bool cluster_multi_route(struct server *s, struct client *c, struct creq *q,
			 const struct kv_cmd *cmd, const struct resp_arg *argv, uint32_t argc)
{
	struct group *g;
	int rc = cluster_keys_group(s, cmd, argv, argc, &g);
	if (rc > 0 && c->multi_group && g != c->multi_group)
		rc = -1;
	if (rc > 0) {
		c->multi_group = g;
		return true;
	}
	route_error(&q->reply, cmd, rc);
	return false;
}

void cluster_note(struct client *c, const struct kv_cmd *cmd)
{
	static const char *const marks[] = {"cluster|slots", "cluster|shards", "cluster|nodes",
					    "readonly",	     "readwrite",      "asking"};
	for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
		if (!strcmp(cmd->name, marks[i]))
			c->cluster_aware = true;
}

/* The leader of g, if this node can name it to a client: true with its
 * address in *a (this node's own when it leads). */
static bool group_leader(struct server *s, struct group *g, struct node_addr *a)
{
	if (g->outside) { /* a shard placed on other nodes: the member it goes to */
		raft_id id = requests_outside_member(g);
		if (id != RAFT_ID_NONE && addr_member(s, id, a) && a->up)
			return true;
		addr_self(s, a);
		return false;
	}
	return !g->replica && addr_leader(s, g, a);
}

bool cluster_redirect(struct server *s, struct client *c, struct creq *q, struct group *g,
		      const struct kv_cmd *cmd, const struct resp_arg *argv, uint32_t argc)
{
	if (!c->cluster_aware || !(cmd->flags & KV_WRITE) || g->replica)
		return false;
	uint32_t pos;
	if (kv_command_keys(cmd, argv, argc, &pos, NULL, 1) < 1)
		return false; /* no key: forwarded as today */
	uint16_t slot = kv_slot(argv[pos].p, argv[pos].len);
	struct node_addr l;
	if (!group_leader(s, g, &l) || l.id == s->cfg.id)
		return false;
	resp_errorf(&q->reply, "MOVED %u %s:%d", (unsigned)slot, l.host, l.port);
	creq_finish(s, q);
	return true;
}

/* The shard of this node other than g whose copy holds slot (its leader
 * has accepted a move of it that the map has not flipped yet), or NULL. A
 * copy kept (or freed) by a node taken off a shard says nothing of now. */
static struct group *holder_of(struct server *s, struct group *g, uint16_t slot)
{
	for (uint32_t i = 0; i < s->n_shards; i++) {
		struct group *h = s->groups[i];
		const struct kv_slots *sl =
			h != g && !h->outside && h->kv.shard_n > 1 ? kv_slots_of(&h->kv) : NULL;
		if (sl && sl->state[slot] == KV_SLOT_OWNED)
			return h;
	}
	return NULL;
}

struct group *cluster_asking(struct server *s, struct group *g, const struct kv_cmd *cmd,
			     const struct resp_arg *argv, uint32_t argc)
{
	uint32_t pos;
	if (!s->meta || kv_command_keys(cmd, argv, argc, &pos, NULL, 1) < 1)
		return g;
	uint16_t slot = kv_slot(argv[pos].p, argv[pos].len);
	const struct kv_slots *sl = kv_slots_of(&g->kv);
	struct group *h = sl && sl->state[slot] != KV_SLOT_OWNED ? holder_of(s, g, slot) : NULL;
	return h ? h : g;
}

void cluster_ask(struct server *s, struct creq *q)
{
	static const char refused[] = "-" KV_REFUSED;
	const size_t n = sizeof refused - 1;
	struct client *c = q->client;
	if (!c || q->fwd_peer || !c->cluster_aware || q->n_cmds > 1 || !s->meta || !q->g ||
	    q->reply.len <= n || memcmp(q->reply.p, refused, n) != 0)
		return;
	uint32_t slot = 0;
	size_t i = n;
	while (i < q->reply.len && i < n + 5 && q->reply.p[i] >= '0' && q->reply.p[i] <= '9')
		slot = slot * 10 + (uint32_t)(q->reply.p[i++] - '0');
	static const char gone[] = KV_REFUSED_OTHER;
	if (i == n || slot >= KV_SLOTS || q->reply.len - i < sizeof gone - 1 ||
	    memcmp(q->reply.p + i, gone, sizeof gone - 1) != 0)
		return;
	struct group *h = holder_of(s, q->g, (uint16_t)slot);
	struct node_addr l;
	if (!h || !group_leader(s, h, &l))
		return;
	q->reply.len = 0;
	resp_errorf(&q->reply, "ASK %u %s:%d", (unsigned)slot, l.host, l.port);
}

/* ---- each group a shard ----------------------------------------------------- */

struct view {
	bool led; /* a leader is known: nodes[0] */
	struct node_addr nodes[RAFT_MEMBERS_MAX + 1];
	uint32_t n;
};

/* A group's members: the leader first (if known), then the others with a
 * known client address; `up_only` leaves out those whose peer link is
 * down. */
static void view_of(struct server *s, struct group *g, struct view *v, bool up_only)
{
	struct node_addr rest[RAFT_MEMBERS_MAX];
	v->led = group_leader(s, g, &v->nodes[0]);
	v->n = 0;
	uint64_t but = v->led ? v->nodes[0].id : 0;
	if (v->led)
		v->n = 1;
	uint32_t n = g->replica ? 0 : addr_others(s, but, rest);
	for (uint32_t i = 0; i < n; i++)
		if ((!up_only || rest[i].up) && group_placed_on(g, rest[i].id))
			v->nodes[v->n++] = rest[i];
}

/* A member's replication offset as this node knows it: its own applied
 * index; on the leader, what each follower holds; on a follower, the
 * leader's as at least this node's commit index, the others' 0
 * (unknown). */
static int64_t offset_of(struct server *s, struct group *g, const struct node_addr *a)
{
	raft_index match = 0, next = 0;
	if (a->id == s->cfg.id)
		return (int64_t)raft_applied_index(g->r);
	if (raft_role_of(g->r) != RAFT_LEADER)
		return a->id == raft_leader_of(g->r) ? (int64_t)raft_commit_index(g->r) : 0;
	raft_progress_of(g->r, a->id, &match, &next);
	return (int64_t)match;
}

/* [host, port, id, {}]: a node in CLUSTER SLOTS, as Redis 7.0. */
static void slots_node(struct rbuf *o, const struct node_addr *a, int proto)
{
	char id[41];
	addr_node_id(a->id, id);
	resp_array(o, 4);
	resp_bulk_str(o, a->host);
	resp_int(o, a->port);
	resp_bulk_str(o, id);
	resp_map(o, 0, proto);
}

struct slots_reply {
	struct server *s;
	struct rbuf *o;
	int proto;
	uint32_t n; /* runs whose shard has a known leader */
};

static void slots_count(void *ctx, uint16_t first, uint16_t last, struct group *g)
{
	struct slots_reply *r = ctx;
	struct node_addr a;
	(void)first, (void)last;
	r->n += group_leader(r->s, g, &a);
}

static void slots_run(void *ctx, uint16_t first, uint16_t last, struct group *g)
{
	struct slots_reply *r = ctx;
	struct view v;
	view_of(r->s, g, &v, true);
	if (!v.led)
		return;
	resp_array(r->o, 2 + v.n);
	resp_int(r->o, first);
	resp_int(r->o, last);
	for (uint32_t i = 0; i < v.n; i++)
		slots_node(r->o, &v.nodes[i], r->proto);
}

/* A range of the slot map a shard with a known leader, as Redis 7.0. */
static void reply_slots(struct server *s, struct rbuf *o, int proto)
{
	struct slots_reply r = {s, o, proto, 0};
	cluster_runs(s, slots_count, &r);
	resp_array(o, r.n);
	cluster_runs(s, slots_run, &r);
}

/* The shards with a known leader: the shards a reply shows. */
static uint32_t led_groups(struct server *s)
{
	uint32_t n = 0;
	struct node_addr a;
	for (uint32_t i = 0; i < s->n_shards; i++)
		n += group_leader(s, s->groups[i], &a);
	return n;
}

struct group_runs {
	struct group *g;
	struct rbuf *o;	   /* each run's first and last slot, as integers, or */
	struct rbuf *text; /* " first-last" (" first" for one slot) each; */
	uint32_t n;	   /* neither: counted only */
};

static void runs_of_each(void *ctx, uint16_t first, uint16_t last, struct group *g)
{
	struct group_runs *r = ctx;
	if (g != r->g)
		return;
	r->n++;
	if (r->o) {
		resp_int(r->o, first);
		resp_int(r->o, last);
	} else if (r->text) {
		char t[16];
		if (first == last)
			snprintf(t, sizeof t, " %u", first);
		else
			snprintf(t, sizeof t, " %u-%u", first, last);
		rbuf_puts(r->text, t);
	}
}

static void shards_node(struct server *s, struct group *g, struct rbuf *o,
			const struct node_addr *a, bool master, int proto)
{
	char id[41];
	addr_node_id(a->id, id);
	resp_map(o, 7, proto);
	resp_bulk_str(o, "id");
	resp_bulk_str(o, id);
	resp_bulk_str(o, "port");
	resp_int(o, a->port);
	resp_bulk_str(o, "ip");
	resp_bulk_str(o, a->host);
	resp_bulk_str(o, "endpoint");
	resp_bulk_str(o, a->host);
	resp_bulk_str(o, "role");
	resp_bulk_str(o, master ? "master" : "replica");
	resp_bulk_str(o, "replication-offset");
	resp_int(o, offset_of(s, g, a));
	resp_bulk_str(o, "health");
	resp_bulk_str(o, a->up ? "online" : "fail");
}

static void reply_shards(struct server *s, struct rbuf *o, int proto)
{
	resp_array(o, led_groups(s));
	for (uint32_t k = 0; k < s->n_shards; k++) {
		struct group *g = s->groups[k];
		struct view v;
		view_of(s, g, &v, false);
		if (!v.led)
			continue;
		resp_map(o, 2, proto);
		resp_bulk_str(o, "slots");
		resp_array(o, 2 * (size_t)cluster_shard_runs(s, g, NULL));
		cluster_shard_runs(s, g, o);
		resp_bulk_str(o, "nodes");
		resp_array(o, v.n);
		for (uint32_t i = 0; i < v.n; i++)
			shards_node(s, g, o, &v.nodes[i], i == 0, proto);
	}
}

/* One line of CLUSTER NODES. A member that leads a group is a master of
 * its slots; one that leads none, a slave of the first group's leader;
 * with no leader known there, a master of none. */
static void nodes_line(struct server *s, struct rbuf *t, const struct node_addr *a,
		       const struct view *first)
{
	char id[41], master_id[41] = "-", line[512];
	struct rbuf slots;
	rbuf_init(&slots);
	for (uint32_t k = 0; k < s->n_shards; k++) {
		struct node_addr l;
		if (group_leader(s, s->groups[k], &l) && l.id == a->id)
			cluster_ranges_text(s, s->groups[k], &slots);
	}
	bool master = slots.len || !first->led;
	addr_node_id(a->id, id);
	if (!master)
		addr_node_id(first->nodes[0].id, master_id);
	snprintf(line, sizeof line, "%s %s:%d@%d %s%s%s %s 0 0 %llu %s", id, a->host, a->port,
		 a->peer_port, a->id == s->cfg.id ? "myself," : "", master ? "master" : "slave",
		 a->up ? "" : ",fail?", master_id, (unsigned long long)raft_current_term(s->g->r),
		 a->up ? "connected" : "disconnected");
	rbuf_puts(t, line);
	rbuf_put(t, slots.p, slots.len);
	rbuf_puts(t, "\n");
	rbuf_free(&slots);
}

static void reply_nodes(struct server *s, struct rbuf *o, int proto)
{
	struct view v;
	view_of(s, s->g, &v, false);
	struct node_addr all[RAFT_MEMBERS_MAX + 1];
	uint32_t n = 0;
	if (v.led) { /* the first group's leader first, then the others */
		for (uint32_t i = 0; i < v.n; i++)
			all[n++] = v.nodes[i];
	} else { /* this node first, then the others: none leads */
		addr_self(s, &all[n++]);
		n += addr_others(s, s->cfg.id, all + 1);
	}
	struct rbuf t;
	rbuf_init(&t);
	for (uint32_t i = 0; i < n; i++)
		nodes_line(s, &t, &all[i], &v);
	resp_verbatim(o, (const char *)t.p, t.len, proto);
	rbuf_free(&t);
}

static void reply_info(struct server *s, struct rbuf *o, int proto)
{
	struct view v;
	view_of(s, s->g, &v, false);
	unsigned long long term = raft_current_term(s->g->r), epoch = term;
	uint32_t ok = 0, masters = 0;
	uint64_t seen[RAFT_MEMBERS_MAX + 1];
	bool *led = keel_calloc(s->n_shards, sizeof *led);
	for (uint32_t k = 0; k < s->n_shards; k++) {
		struct group *g = s->groups[k];
		struct node_addr l;
		if (raft_current_term(g->r) > epoch)
			epoch = raft_current_term(g->r);
		if (!(led[k] = group_leader(s, g, &l)))
			continue;
		uint32_t j = 0;
		while (j < masters && seen[j] != l.id)
			j++;
		if (j == masters && masters < RAFT_MEMBERS_MAX + 1)
			seen[masters++] = l.id;
	}
	for (uint32_t slot = 0; slot < KV_SLOTS; slot++)
		ok += led[cluster_slot_group(s, (uint16_t)slot)->id];
	keel_free(led);
	char text[768];
	snprintf(text, sizeof text,
		 "cluster_state:%s\r\ncluster_slots_assigned:%u\r\ncluster_slots_ok:%u\r\n"
		 "cluster_slots_pfail:0\r\ncluster_slots_fail:%u\r\ncluster_known_nodes:%u\r\n"
		 "cluster_size:%u\r\ncluster_current_epoch:%llu\r\ncluster_my_epoch:%llu\r\n"
		 "cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
		 "total_cluster_links_buffer_limit_exceeded:0\r\n",
		 ok == KV_SLOTS ? "ok" : "fail", ok ? KV_SLOTS : 0, ok, ok ? KV_SLOTS - ok : 0, v.n,
		 masters, epoch, term);
	resp_verbatim(o, text, strlen(text), proto);
}

void cluster_slots_text(struct server *s, struct group *g, struct rbuf *out)
{
	size_t at = out->len;
	cluster_ranges_text(s, g, out);
	if (out->len == at)
		rbuf_puts(out, "none");
	else /* each run after a space: the first one's is dropped */
		memmove(out->p + at, out->p + at + 1, --out->len - at);
}

void cluster_ranges_text(struct server *s, struct group *g, struct rbuf *out)
{
	struct group_runs r = {.g = g, .text = out};
	cluster_runs(s, runs_of_each, &r);
}

uint32_t cluster_shard_runs(struct server *s, struct group *g, struct rbuf *ints)
{
	struct group_runs r = {.g = g, .o = ints};
	cluster_runs(s, runs_of_each, &r);
	return r.n;
}

/* ---- keys in a slot ----------------------------------------------------- */

/* The keys of the connection's database in the slot, live now, in this
 * node's copy of its shard (kv_slot_keys). */
static uint64_t keys_in_slot(struct server *s, struct client *c, uint16_t slot, struct rbuf *keys,
			     uint64_t max)
{
	struct group *g = cluster_slot_group(s, slot);
	return kv_slot_keys(&g->kv, c->db, slot, server_now_ms(), keys, max);
}

/* A slot argument, as Redis reads it: an integer first, then its range. */
static bool arg_ll(struct rbuf *o, const struct resp_arg *a, int64_t *v)
{
	if (resp_str2ll(a->p, a->len, v))
		return true;
	resp_error(o, "ERR value is not an integer or out of range");
	return false;
}

static void cmd_countkeys(struct server *s, struct client *c, struct rbuf *o,
			  const struct resp_arg *argv)
{
	int64_t slot;
	if (!arg_ll(o, &argv[2], &slot))
		return;
	if (slot < 0 || slot >= (int64_t)KV_SLOTS) {
		resp_error(o, "ERR Invalid slot");
		return;
	}
	resp_int(o, (int64_t)keys_in_slot(s, c, (uint16_t)slot, NULL, 0));
}

static void cmd_getkeys(struct server *s, struct client *c, struct rbuf *o,
			const struct resp_arg *argv)
{
	int64_t slot, max;
	if (!arg_ll(o, &argv[2], &slot) || !arg_ll(o, &argv[3], &max))
		return;
	if (slot < 0 || slot >= (int64_t)KV_SLOTS || max < 0) {
		resp_error(o, "ERR Invalid slot or number of keys");
		return;
	}
	struct rbuf keys;
	rbuf_init(&keys);
	uint64_t n = keys_in_slot(s, c, (uint16_t)slot, &keys, (uint64_t)max);
	resp_array(o, n);
	rbuf_put(o, keys.p, keys.len);
	rbuf_free(&keys);
}

/* CLUSTER HELP: Redis's lines for the subcommands keel has, each a usage
 * line and the lines under it (indented), in Redis's order. */
static void reply_help(struct rbuf *o)
{
	static const struct {
		const char *usage, *what[2];
	} subs[] = {
		{"COUNTKEYSINSLOT <slot>", {"Return the number of keys in <slot>."}},
		{"GETKEYSINSLOT <slot> <count>",
		 {"Return key names stored by current node in a slot."}},
		{"INFO", {"Return information about the cluster."}},
		{"KEYSLOT <key>", {"Return the hash slot for <key>."}},
		{"MYID", {"Return the node id."}},
		{"NODES",
		 {"Return cluster configuration seen by node. Output format:",
		  "<id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ..."}},
		{"SLOTS",
		 {"Return information about slots range mappings. Each range is made of:",
		  "start, end, master and replicas IP addresses, ports and ids"}},
		{"SHARDS",
		 {"Return information about slot range mappings and the nodes associated with "
		  "them."}},
		{"HELP", {"Prints this help."}},
	};
	size_t n = 1, k = sizeof subs / sizeof subs[0];
	for (size_t i = 0; i < k; i++)
		n += 2 + (subs[i].what[1] != NULL);
	resp_array(o, n);
	resp_simple(o, "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
	for (size_t i = 0; i < k; i++) {
		resp_simple(o, subs[i].usage);
		for (size_t j = 0; j < 2 && subs[i].what[j]; j++) {
			char line[128];
			snprintf(line, sizeof line, "    %s", subs[i].what[j]);
			resp_simple(o, line);
		}
	}
}

/* CLUSTER <subcommand>: kv_resolve has checked the subcommand and its
 * arity against the table. */
static void cmd_cluster(struct server *s, struct client *c, struct rbuf *o,
			const struct resp_arg *argv)
{
	const struct resp_arg *sub = &argv[1];
	bool topology =
		is(sub, "slots") || is(sub, "shards") || is(sub, "nodes") || is(sub, "info");
	if (topology && s->g->replica && s->g->replica->follow.has_group) {
		char name[8]; /* slots, shards, nodes or info */
		snprintf(name, sizeof name, "%.*s", (int)sub->len, (const char *)sub->p);
		for (char *p = name; *p; p++)
			*p = (char)(*p | 0x20);
		cluster_replica_topology(s, c, o, name);
	} else if (topology && s->g->replica) {
		resp_error(o, "ERR this node is a read replica (--replica-of), not a Raft member: "
			      "ask the members");
	} else if (is(sub, "slots")) {
		reply_slots(s, o, c->proto);
	} else if (is(sub, "shards")) {
		reply_shards(s, o, c->proto);
	} else if (is(sub, "nodes")) {
		reply_nodes(s, o, c->proto);
	} else if (is(sub, "info")) {
		reply_info(s, o, c->proto);
	} else if (is(sub, "myid")) {
		char id[41];
		cluster_my_id(s, id);
		resp_bulk_str(o, id);
	} else if (is(sub, "keyslot")) {
		resp_int(o, kv_slot(argv[2].p, argv[2].len));
	} else if (is(sub, "countkeysinslot")) {
		cmd_countkeys(s, c, o, argv);
	} else if (is(sub, "getkeysinslot")) {
		cmd_getkeys(s, c, o, argv);
	} else {
		reply_help(o);
	}
}

bool cluster_command(struct server *s, struct client *c, struct creq *q,
		     const struct resp_arg *argv, uint32_t argc)
{
	(void)argc;
	const struct resp_arg *a = &argv[0];
	if (is(a, "cluster"))
		cmd_cluster(s, c, &q->reply, argv);
	else if (is(a, "readonly") || is(a, "readwrite") || is(a, "asking"))
		resp_simple(&q->reply, "OK");
	else
		return false;
	return true;
}
