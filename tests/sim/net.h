/* tests/sim/net.h — the simulated network between nodes: every message is
 * deep-copied and delivered after a random delay (which reorders them), or
 * dropped, or duplicated; links can be cut one way or both ways. A message
 * on a cut link at its delivery time is lost. */
#ifndef KEEL_TESTS_SIM_NET_H
#define KEEL_TESTS_SIM_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "base/prng.h"
#include "raft/raft.h"

#define NET_IDS_MAX 64 /* node ids are 1 .. NET_IDS_MAX - 1 */

struct net_msg {
	struct raft_msg m; /* entries and snapshot data owned by the network */
	uint64_t deliver_at;
	uint64_t seq; /* send order, for a stable delivery order */
};

struct net_faults {
	uint32_t drop_pct; /* per message, in percent */
	uint32_t dup_pct;
	uint64_t delay_min; /* in simulator steps */
	uint64_t delay_max; /* > delay_min */
};

struct net {
	struct prng *prng;
	struct net_faults f;
	bool cut[NET_IDS_MAX][NET_IDS_MAX]; /* cut[from][to] */
	struct net_msg *q;
	uint32_t n, cap;
	uint64_t seq;
	uint64_t sent, dropped, delivered;
};

void net_init(struct net *n, struct prng *p, const struct net_faults *f);
void net_free(struct net *n);
/* Copies m into the network at time now (subject to the faults). */
void net_send(struct net *n, const struct raft_msg *m, uint64_t now);
/* Removes and returns the next message due at or before now into *out
 * (caller frees with net_msg_free); false when none. Messages on cut links
 * are dropped on the way. */
bool net_pop_due(struct net *n, uint64_t now, struct net_msg *out);
/* Takes the i-th queued message (in send order) out of the network. */
void net_take(struct net *n, uint32_t i, struct net_msg *out);
void net_msg_free(struct net_msg *m);
/* Drops every message to or from id (a crashed node's sockets). */
void net_drop_node(struct net *n, raft_id id);
void net_heal(struct net *n);

#endif
