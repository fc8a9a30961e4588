/* server/addrs.c — where the members serve clients, as this node knows it:
 * its own client address, each member's (told in the peer HELLO frame,
 * net/frame.h), the leader's, and the 40-character node ids that Sentinel
 * and Redis Cluster replies name members by. Sentinel discovery
 * (sentinel.c) and the Redis Cluster protocol (cluster.c) both answer
 * from here, so they always name the same leader at the same address.
 *
 * What it guarantees: a member's address is given only once it has told
 * it, and `up` is true only for this node itself or a member whose peer
 * connection from this node is up. The leader is named only when Raft
 * names one here (the leader itself, or a follower that hears it and has
 * not started an election), this node is not removed, its address is
 * known and its peer link is up (a killed leader is seen that way at
 * once, before the election timeout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

void addr_self(const struct server *s, struct node_addr *a)
{
	memset(a, 0, sizeof *a);
	a->id = s->cfg.id;
	a->up = true;
	a->sentinel_port = s->cfg.sentinel_port;
	a->peer_port = s->cfg.peer_port;
	const char *colon = strrchr(s->cfg.client_announce, ':');
	if (colon) { /* checked by config.c: host:port, port 1..65535 */
		snprintf(a->host, sizeof a->host, "%.*s", (int)(colon - s->cfg.client_announce),
			 s->cfg.client_announce);
		a->port = (int)strtol(colon + 1, NULL, 10);
		return;
	}
	const char *host = s->cfg.bind;
	if (s->cfg.n_client_bind && strcmp(s->cfg.client_bind[0], "0.0.0.0"))
		host = s->cfg.client_bind[0];
	snprintf(a->host, sizeof a->host, "%s", host);
	a->port = s->cfg.port;
}

/* The port of a member's peer address "host:port" (0 if it has none). */
static int peer_port_of(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	long p = colon ? strtol(colon + 1, NULL, 10) : 0;
	return p > 0 && p <= 65535 ? (int)p : 0;
}

bool addr_member(struct server *s, uint64_t id, struct node_addr *a)
{
	const struct raft_member *m = raft_config_find(raft_config_of(s->g->r), id);
	if (!m)
		return false;
	if (id == s->cfg.id) {
		addr_self(s, a);
	} else {
		const struct frame_hello *h = peers_told(s->peers, id);
		if (!h || !h->client_port)
			return false;
		memset(a, 0, sizeof *a);
		a->id = id;
		snprintf(a->host, sizeof a->host, "%s", h->client_host);
		a->port = h->client_port;
		a->sentinel_port = h->sentinel_port;
		a->peer_port = peer_port_of(m->addr);
		a->up = peers_connected(s->peers, id);
	}
	a->voter = m->role == RAFT_VOTER;
	return true;
}

bool addr_leader(struct server *s, struct group *g, struct node_addr *a)
{
	raft_id l = g->removed_at || raft_stopped(g->r) ? 0 : raft_leader_of(g->r);
	if (l && addr_member(s, l, a) && a->up)
		return true;
	addr_self(s, a);
	return false;
}

uint32_t addr_others(struct server *s, uint64_t but, struct node_addr *out)
{
	const struct raft_config *c = raft_config_of(s->g->r);
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->n; i++)
		if (c->members[i].id != but && addr_member(s, c->members[i].id, &out[n]))
			n++;
	return n;
}

void addr_node_id(uint64_t id, char out[41])
{
	snprintf(out, 41, "%040llx", (unsigned long long)id);
}
