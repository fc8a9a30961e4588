/* tests/nsim/replicas.c — what the whole-node simulator checks of the read
 * replicas (docs/replicas.md, "What a replica promises"): a write sent to
 * one is refused with Redis's -READONLY; a read shows only writes the
 * cluster applied (never one whose client was told it was not applied);
 * a replica's counters never go back, across its restarts too (a read
 * invoked after another read of the same replica completed sees at least
 * as much); a replica's applied index never goes back, in any group,
 * across its restarts too (ns_replica_watch, in the scripted runs); and once every fault heals,
 * each replica has applied what the members applied and holds the same
 * values (nodes.c). Replica reads are not linearizable, so they stay out of
 * the linearizability check. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "nsim/nsim.h"
#include "resp/parse.h"

static void add(struct ns_run *r, const struct ns_rread *rr)
{
	if (r->n_rreads == r->cap_rreads) {
		r->cap_rreads = r->cap_rreads ? r->cap_rreads * 2 : 256;
		r->rreads = keel_realloc(r->rreads, r->cap_rreads * sizeof *r->rreads);
	}
	r->rreads[r->n_rreads++] = *rr;
}

/* A counter read on a replica: never less than what a read of the same
 * replica that completed before this one was sent returned. */
static void check_monotonic(struct ns_run *r, const struct ns_rread *rr)
{
	for (size_t i = 0; i < r->n_rreads; i++) {
		const struct ns_rread *o = &r->rreads[i];
		if (o->node != rr->node || o->key != rr->key || o->complete >= rr->invoke)
			continue;
		int64_t before = o->nil ? 0 : o->value, now = rr->nil ? 0 : rr->value;
		if (now < before)
			ns_fail(r,
				"replica %s went back: c%u read %lld, after a read completed "
				"earlier read %lld",
				host_ip(r->nodes[rr->node].h), rr->key - NS_KEYS, (long long)now,
				(long long)before);
	}
}

void ns_replica_reply(struct ns_client *c, char type, bool nil, const uint8_t *s, size_t len)
{
	struct ns_run *r = c->run;
	const char *ip = host_ip(r->nodes[c->node].h);
	if (c->op == NS_RSET) {
		if (type != '-' || len < 8 || memcmp(s, "READONLY", 8))
			ns_fail(r, "replica %s answered a SET with %c%.*s, not -READONLY", ip, type,
				(int)len, (const char *)s);
		c->refused = true;
		return;
	}
	if (type == '-')
		return; /* refused: it showed nothing */
	struct ns_rread rr = {.node = c->node,
			      .key = c->key,
			      .client = c->no,
			      .invoke = c->sent_ns,
			      .complete = world_now_ns(r->w),
			      .nil = nil};
	if (type != '$' || (!nil && !resp_str2ll(s, len, &rr.value))) {
		ns_fail(r, "replica %s answered a GET with %c%.*s", ip, type, (int)len,
			(const char *)s);
		return;
	}
	if (rr.key >= NS_KEYS)
		check_monotonic(r, &rr);
	add(r, &rr);
}

/* Every value a replica showed was written by an operation not known to
 * have failed; a counter never past what the members hold at the end. */
void ns_check_replica_reads(struct ns_run *r)
{
	for (size_t i = 0; i < r->n_rreads && !r->failed; i++) {
		const struct ns_rread *rr = &r->rreads[i];
		if (rr->nil)
			continue;
		bool found = false;
		int64_t most = 0;
		for (size_t k = 0; k < r->n_hist && !found; k++) {
			const struct lin_op *h = &r->hist[k];
			if (h->outcome == LIN_FAILED || h->key != rr->key)
				continue;
			if (h->kind == LIN_WRITE && h->arg == rr->value)
				found = true;
			if (h->kind == LIN_INCR)
				most++;
		}
		if (rr->key >= NS_KEYS)
			found = rr->value >= 1 && rr->value <= most;
		if (!found)
			ns_fail(r,
				"replica %s showed %s%u = %lld, which no write that may have been "
				"applied wrote",
				host_ip(r->nodes[rr->node].h), rr->key >= NS_KEYS ? "c" : "k",
				rr->key % NS_KEYS, (long long)rr->value);
	}
}

void ns_replica_watch(void *arg)
{
	struct ns_run *r = arg;
	for (uint32_t i = 0; i < r->n_nodes && !r->failed; i++) {
		const struct ns_node *n = &r->nodes[i];
		if (n->kind != NS_REPLICA || !n->s || !n->s->g->replica)
			continue;
		for (uint32_t gi = 0; gi < n->s->n_groups && gi < NS_GROUPS_WATCHED; gi++) {
			uint64_t applied = n->s->groups[gi]->replica->applied;
			uint64_t *max = &r->replica_applied_max[i][gi];
			if (applied < *max)
				ns_fail(r,
					"replica %s went back from applied index %llu to %llu "
					"(group %u)",
					host_ip(n->h), (unsigned long long)*max,
					(unsigned long long)applied, gi);
			*max = applied;
		}
	}
	if (world_now_ns(r->w) < r->p.run_ns + r->p.settle_ns)
		world_at(r->w, world_now_ns(r->w) + 5000000, ns_replica_watch, r);
}
