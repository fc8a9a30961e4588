/* server/cluster_replica.c — the Redis Cluster protocol on a read replica
 * of a sharded cluster (--replica-of with --shards N): CLUSTER SLOTS,
 * SHARDS, NODES and INFO answered as a Redis Cluster replica answers them,
 * from what each group's source last told this replica of the group's
 * members and leader (TOPOLOGY frames, server/replication.c).
 *
 * The replica is a replica of every shard it follows: CLUSTER SLOTS lists
 * it after each range's leader and the members its source could reach (so
 * a cluster client with READONLY, or told to read from replicas, may read
 * there); CLUSTER SHARDS lists it as a `replica` of each shard, with its
 * applied index of that group as its offset; CLUSTER NODES gives it one
 * line, `myself,slave` of the first group's leader (a CLUSTER NODES line
 * names one master). A node id is the member's Raft id, zero-padded, as on
 * the members; a replica's is its --id's, or one made from its client
 * address when it has none (never a member's: its first digits are not
 * zeros).
 *
 * What it guarantees: a range is shown only while its group's source
 * names a leader (as on a member, where a range is shown only while its
 * leader is known), and the replica says nothing it was not told; these
 * answers can be as old as the replica's last word from each source. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "resp/encode.h"
#include "server/server.h"

void cluster_my_id(const struct server *s, char out[41])
{
	if (s->cfg.id || !s->g || !s->g->replica) {
		addr_node_id(s->cfg.id, out);
		return;
	}
	struct node_addr self;
	char name[96];
	addr_self(s, &self);
	snprintf(name, sizeof name, "%s:%d", self.host, self.port);
	uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
	for (const char *p = name; *p; p++) { /* FNV-1a, twice over */
		h1 = (h1 ^ (uint8_t)*p) * 0x100000001b3ull;
		h2 = (h2 ^ (uint8_t)*p) * 0x100000001b3ull;
	}
	snprintf(out, 41, "6b65656c%016" PRIx64 "%016" PRIx64, h1, h2);
}

/* A group's members as its source told them: the leader first. */
struct rview {
	bool led;
	uint64_t term;
	struct repl_topo_node nodes[REPL_TOPO_NODES];
	uint32_t n;
};

static void rview_of(const struct group *g, struct rview *v)
{
	const struct replica_node *r = g->replica;
	memset(v, 0, sizeof *v);
	if (!r->has_topo)
		return;
	v->term = r->topo.term;
	for (uint32_t i = 0; i < r->topo.n; i++)
		if (r->topo.nodes[i].flags & REPL_TOPO_LEADER && !v->led) {
			v->nodes[v->n++] = r->topo.nodes[i];
			v->led = true;
		}
	for (uint32_t i = 0; i < r->topo.n; i++)
		if (!(r->topo.nodes[i].flags & REPL_TOPO_LEADER) ||
		    v->nodes[0].id != r->topo.nodes[i].id)
			v->nodes[v->n++] = r->topo.nodes[i];
}

static uint32_t led_groups(struct server *s)
{
	uint32_t n = 0;
	struct rview v;
	for (uint32_t k = 0; k < s->n_shards; k++) {
		rview_of(s->groups[k], &v);
		n += v.led;
	}
	return n;
}

/* [host, port, id, {}]: a node in CLUSTER SLOTS, as Redis 7.0. */
static void slots_node(struct rbuf *o, const char *host, int port, const char *id, int proto)
{
	resp_array(o, 4);
	resp_bulk_str(o, host);
	resp_int(o, port);
	resp_bulk_str(o, id);
	resp_map(o, 0, proto);
}

struct slots_reply {
	struct server *s;
	struct rbuf *o;
	int proto;
	uint32_t n; /* runs whose shard has a known leader */
	struct node_addr self;
	char me[41];
};

static void slots_count(void *ctx, uint16_t first, uint16_t last, struct group *g)
{
	struct slots_reply *r = ctx;
	struct rview v;
	(void)first, (void)last;
	rview_of(g, &v);
	r->n += v.led;
}

/* A run of the map: its shard's leader, its members up, then this replica. */
static void slots_run(void *ctx, uint16_t first, uint16_t last, struct group *g)
{
	struct slots_reply *r = ctx;
	struct rview v;
	char id[41];
	rview_of(g, &v);
	if (!v.led)
		return;
	uint32_t up = 0;
	for (uint32_t i = 0; i < v.n; i++)
		up += i == 0 || (v.nodes[i].flags & REPL_TOPO_UP);
	resp_array(r->o, 2 + up + 1);
	resp_int(r->o, first);
	resp_int(r->o, last);
	for (uint32_t i = 0; i < v.n; i++) {
		if (i && !(v.nodes[i].flags & REPL_TOPO_UP))
			continue;
		addr_node_id(v.nodes[i].id, id);
		slots_node(r->o, v.nodes[i].host, v.nodes[i].port, id, r->proto);
	}
	slots_node(r->o, r->self.host, r->self.port, r->me, r->proto);
}

static void reply_slots(struct server *s, struct rbuf *o, int proto)
{
	struct slots_reply r = {.s = s, .o = o, .proto = proto};
	addr_self(s, &r.self);
	cluster_my_id(s, r.me);
	cluster_runs(s, slots_count, &r);
	resp_array(o, r.n);
	cluster_runs(s, slots_run, &r);
}

static void shards_node(struct rbuf *o, const char *id, const char *host, int port,
			const char *role, int64_t offset, const char *health, int proto)
{
	resp_map(o, 7, proto);
	resp_bulk_str(o, "id");
	resp_bulk_str(o, id);
	resp_bulk_str(o, "port");
	resp_int(o, port);
	resp_bulk_str(o, "ip");
	resp_bulk_str(o, host);
	resp_bulk_str(o, "endpoint");
	resp_bulk_str(o, host);
	resp_bulk_str(o, "role");
	resp_bulk_str(o, role);
	resp_bulk_str(o, "replication-offset");
	resp_int(o, offset);
	resp_bulk_str(o, "health");
	resp_bulk_str(o, health);
}

static void reply_shards(struct server *s, struct rbuf *o, int proto)
{
	struct node_addr self;
	char me[41], id[41];
	addr_self(s, &self);
	cluster_my_id(s, me);
	resp_array(o, led_groups(s));
	for (uint32_t k = 0; k < s->n_shards; k++) {
		struct group *g = s->groups[k];
		struct rview v;
		rview_of(g, &v);
		if (!v.led)
			continue;
		resp_map(o, 2, proto);
		resp_bulk_str(o, "slots");
		resp_array(o, 2 * (size_t)cluster_shard_runs(s, g, NULL));
		cluster_shard_runs(s, g, o);
		resp_bulk_str(o, "nodes");
		resp_array(o, v.n + 1);
		for (uint32_t i = 0; i < v.n; i++) {
			addr_node_id(v.nodes[i].id, id);
			shards_node(o, id, v.nodes[i].host, v.nodes[i].port,
				    i ? "replica" : "master", 0,
				    v.nodes[i].flags & REPL_TOPO_UP ? "online" : "fail", proto);
		}
		bool streaming = g->replica->follow.state == REPL_STREAMING;
		shards_node(o, me, self.host, self.port, "replica", (int64_t)g->replica->applied,
			    streaming ? "online" : "loading", proto);
	}
}

/* Every member any group's source named, once (the first group's leader
 * first); its number. */
static uint32_t members_of(struct server *s, struct repl_topo_node *out)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < s->n_shards; k++) {
		struct rview v;
		rview_of(s->groups[k], &v);
		for (uint32_t i = 0; i < v.n; i++) {
			uint32_t j = 0;
			while (j < n && out[j].id != v.nodes[i].id)
				j++;
			if (j == n && n < REPL_TOPO_NODES)
				out[n++] = v.nodes[i];
		}
	}
	return n;
}

/* The ranges member id leads, " A-B" each, into slots. */
static void led_ranges(struct server *s, uint64_t id, struct rbuf *slots)
{
	for (uint32_t k = 0; k < s->n_shards; k++) {
		struct rview v;
		rview_of(s->groups[k], &v);
		if (v.led && v.nodes[0].id == id)
			cluster_ranges_text(s, s->groups[k], slots);
	}
}

static void reply_nodes(struct server *s, struct rbuf *o, int proto)
{
	struct repl_topo_node all[REPL_TOPO_NODES];
	struct rview first;
	struct node_addr self;
	char id[41], master[41] = "-", line[512];
	uint32_t n = members_of(s, all);
	rview_of(s->g, &first);
	if (first.led)
		addr_node_id(first.nodes[0].id, master);
	struct rbuf t, slots;
	rbuf_init(&t);
	rbuf_init(&slots);
	for (uint32_t i = 0; i < n; i++) {
		slots.len = 0;
		led_ranges(s, all[i].id, &slots);
		bool is_master = slots.len || !first.led;
		bool up = all[i].flags & REPL_TOPO_UP;
		addr_node_id(all[i].id, id);
		snprintf(line, sizeof line, "%s %s:%u@%u %s%s %s 0 0 %" PRIu64 " %s", id,
			 all[i].host, all[i].port, all[i].peer_port, is_master ? "master" : "slave",
			 up ? "" : ",fail?", is_master ? "-" : master, first.term,
			 up ? "connected" : "disconnected");
		rbuf_puts(&t, line);
		rbuf_put(&t, slots.p, slots.len);
		rbuf_puts(&t, "\n");
	}
	addr_self(s, &self);
	cluster_my_id(s, id);
	/* a replica has no cluster bus, nor a Raft peer port to show as one */
	snprintf(line, sizeof line, "%s %s:%d@0 myself,slave %s 0 0 %" PRIu64 " connected\n", id,
		 self.host, self.port, master, first.term);
	rbuf_puts(&t, line);
	resp_verbatim(o, (const char *)t.p, t.len, proto);
	rbuf_free(&t);
	rbuf_free(&slots);
}

static void reply_info(struct server *s, struct rbuf *o, int proto)
{
	struct repl_topo_node all[REPL_TOPO_NODES];
	uint64_t leaders[REPL_TOPO_NODES], epoch = 0, my_epoch = 0;
	uint32_t ok = 0, masters = 0, known = members_of(s, all) + 1;
	bool *led = keel_calloc(s->n_shards, sizeof *led);
	for (uint32_t k = 0; k < s->n_shards; k++) {
		struct group *g = s->groups[k];
		struct rview v;
		rview_of(g, &v);
		epoch = v.term > epoch ? v.term : epoch;
		if (k == 0)
			my_epoch = v.term;
		if (!(led[k] = v.led))
			continue;
		uint32_t j = 0;
		while (j < masters && leaders[j] != v.nodes[0].id)
			j++;
		if (j == masters && masters < REPL_TOPO_NODES)
			leaders[masters++] = v.nodes[0].id;
	}
	for (uint32_t slot = 0; slot < KV_SLOTS; slot++)
		ok += led[cluster_slot_group(s, (uint16_t)slot)->id];
	keel_free(led);
	char text[768];
	snprintf(text, sizeof text,
		 "cluster_state:%s\r\ncluster_slots_assigned:%u\r\ncluster_slots_ok:%u\r\n"
		 "cluster_slots_pfail:0\r\ncluster_slots_fail:%u\r\ncluster_known_nodes:%u\r\n"
		 "cluster_size:%u\r\ncluster_current_epoch:%" PRIu64 "\r\ncluster_my_epoch:%" PRIu64
		 "\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
		 "total_cluster_links_buffer_limit_exceeded:0\r\n",
		 ok == KV_SLOTS ? "ok" : "fail", ok ? KV_SLOTS : 0, ok, ok ? KV_SLOTS - ok : 0,
		 known, masters, epoch, my_epoch);
	resp_verbatim(o, text, strlen(text), proto);
}

void cluster_replica_topology(struct server *s, struct client *c, struct rbuf *o, const char *sub)
{
	if (!strcmp(sub, "slots"))
		reply_slots(s, o, c->proto);
	else if (!strcmp(sub, "shards"))
		reply_shards(s, o, c->proto);
	else if (!strcmp(sub, "nodes"))
		reply_nodes(s, o, c->proto);
	else
		reply_info(s, o, c->proto);
}
