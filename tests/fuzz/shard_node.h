/* tests/fuzz/shard_node.h — a node of 1 to SHARD_NODE_GROUPS groups for
 * the harnesses of a sharded node's server code (fuzz_cluster,
 * fuzz_migrate): each group's keyspace holds the shard's share of the map
 * as --shards gives it, the metadata group's (past one group) the map, and
 * every group is a replica's (no core to ask: what would go through Raft
 * is answered -READONLY). Also: a reply must be one whole RESP value. */
#ifndef KEEL_TESTS_FUZZ_SHARD_NODE_H
#define KEEL_TESTS_FUZZ_SHARD_NODE_H

#include <string.h>

#include "fuzz.h"

#include "kv/kv.h"
#include "resp/buf.h"
#include "resp/parse.h"
#include "server/server.h"

#define SHARD_NODE_GROUPS 4

struct shard_node {
	struct server s;
	struct group g[SHARD_NODE_GROUPS], *groups[SHARD_NODE_GROUPS], meta;
	struct replica_node rn;
};

/* n (zeroed here) as a node of `groups` shards, dbs databases each. */
static inline void shard_node_init(struct shard_node *n, uint32_t groups, uint32_t dbs)
{
	memset(n, 0, sizeof *n);
	n->s.cfg.id = 7;
	n->s.cfg.databases = dbs;
	for (uint32_t i = 0; i < groups; i++) {
		struct group *g = &n->g[i];
		g->node = &n->s;
		g->id = i;
		g->replica = &n->rn;
		kv_init_dbs(&g->kv, 1, dbs);
		if (groups > 1)
			kv_shard_set(&g->kv, groups, i, false);
		n->groups[i] = g;
	}
	n->s.groups = n->groups;
	n->s.n_groups = n->s.n_shards = groups;
	n->s.g = n->groups[0];
	kv_init_dbs(&n->meta.kv, 1, 1);
	if (groups > 1) { /* the map, as the metadata group holds it */
		n->meta.node = &n->s;
		n->meta.meta = true;
		n->meta.id = SERVER_META_GROUP;
		n->meta.replica = &n->rn;
		kv_shard_set(&n->meta.kv, groups, 0, true);
		n->s.meta = &n->meta;
	}
}

static inline void shard_node_free(struct shard_node *n)
{
	for (uint32_t i = 0; i < n->s.n_shards; i++)
		kv_free(&n->g[i].kv);
	kv_free(&n->meta.kv);
}

static inline void shard_node_check_reply(const struct rbuf *r)
{
	size_t frame = 0;
	FUZZ_CHECK(resp_scan_reply(r->p, r->len, &frame) == RESP_OK && frame == r->len);
}

#endif
