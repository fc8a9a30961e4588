/* tests/sim/net.c — the simulated network of tests/sim/net.h. */
#include "sim/net.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "raft/codec.h"

void net_init(struct net *n, struct prng *p, const struct net_faults *f)
{
	memset(n, 0, sizeof *n);
	n->prng = p;
	n->f = *f;
	KEEL_ASSERT(f->delay_max > f->delay_min);
}

void net_msg_free(struct net_msg *nm)
{
	raft_msg_clone_free(&nm->m);
}

void net_free(struct net *n)
{
	for (uint32_t i = 0; i < n->n; i++)
		net_msg_free(&n->q[i]);
	keel_free(n->q);
	memset(n, 0, sizeof *n);
}

static void net_enqueue(struct net *n, const struct raft_msg *m, uint64_t at)
{
	if (n->n == n->cap) {
		n->cap = n->cap ? n->cap * 2 : 64;
		n->q = keel_realloc(n->q, n->cap * sizeof *n->q);
	}
	struct net_msg *nm = &n->q[n->n++];
	raft_msg_clone(&nm->m, m);
	nm->deliver_at = at;
	nm->seq = ++n->seq;
}

void net_send(struct net *n, const struct raft_msg *m, uint64_t now)
{
	KEEL_ASSERT(m->from < NET_IDS_MAX && m->to < NET_IDS_MAX);
	n->sent++;
	if (n->f.drop_pct && prng_below(n->prng, 100) < n->f.drop_pct) {
		n->dropped++;
		return;
	}
	int copies = (n->f.dup_pct && prng_below(n->prng, 100) < n->f.dup_pct) ? 2 : 1;
	for (int c = 0; c < copies; c++)
		net_enqueue(n, m, now + prng_range(n->prng, n->f.delay_min, n->f.delay_max));
}

void net_take(struct net *n, uint32_t i, struct net_msg *out)
{
	KEEL_ASSERT(i < n->n);
	*out = n->q[i];
	memmove(n->q + i, n->q + i + 1, (n->n - i - 1) * sizeof *n->q);
	n->n--;
}

bool net_pop_due(struct net *n, uint64_t now, struct net_msg *out)
{
	for (;;) {
		int32_t best = -1;
		for (uint32_t i = 0; i < n->n; i++) {
			struct net_msg *q = &n->q[i];
			if (q->deliver_at > now)
				continue;
			if (best < 0 || q->deliver_at < n->q[best].deliver_at)
				best = (int32_t)i;
		}
		if (best < 0)
			return false;
		net_take(n, (uint32_t)best, out);
		if (!n->cut[out->m.from][out->m.to]) {
			n->delivered++;
			return true;
		}
		n->dropped++;
		net_msg_free(out);
	}
}

void net_drop_node(struct net *n, raft_id id)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n->n; i++) {
		if (n->q[i].m.from == id || n->q[i].m.to == id) {
			net_msg_free(&n->q[i]);
			n->dropped++;
		} else {
			n->q[k++] = n->q[i];
		}
	}
	n->n = k;
}

void net_heal(struct net *n)
{
	memset(n->cut, 0, sizeof n->cut);
}
