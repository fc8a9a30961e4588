/* tests/nsim/reshard.c — online slot migration under the simulator: in a
 * sharded seed, an operator moves a range of slots holding one of the
 * workload's keys to another shard (KEEL.RESHARD, sent to any node, as
 * keel-cli reshard sends it) at times the seed draws, while the clients
 * write and read those keys and the faults crash, pause and cut the
 * nodes (the metadata group's leader, which drives the migration, among
 * them). The history's checks (linearizability per key, one connection
 * one order, exactly-once) span the moves; once healed, every migration
 * must have finished and every slot be served by exactly one shard, the
 * one the map names, holding all of its keys (ns_check_slots). */
#include <stdio.h>
#include <string.h>

#include "kv/kv.h"
#include "nsim/nsim.h"

/* The running member whose metadata group applied the most. */
static struct server *map_holder(struct ns_run *r)
{
	struct server *best = NULL;
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		struct server *s = r->nodes[i].s;
		if (s && s->meta && s->meta->r &&
		    (!best || raft_applied_index(s->meta->r) > raft_applied_index(best->meta->r)))
			best = s;
	}
	return best;
}

uint32_t ns_map_owner(struct ns_run *r, uint16_t slot)
{
	struct server *s = map_holder(r);
	if (s)
		return kv_slots_of(&s->meta->kv)->owner[slot];
	uint32_t n = r->p.shards ? r->p.shards : 1, i = 0;
	while (slot > kv_slot_range_last(i, n))
		i++;
	return i;
}

void ns_reshard_key(struct ns_run *r, const char *key, uint32_t width, uint32_t to, uint32_t via)
{
	struct prng *g = world_rng(r->w);
	uint16_t slot = kv_slot((const uint8_t *)key, strlen(key));
	uint32_t owner = ns_map_owner(r, slot), first = slot, last = slot;
	while (first > 0 && slot - first < width && ns_map_owner(r, (uint16_t)(first - 1)) == owner)
		first--;
	while (last + 1 < KV_SLOTS && last - slot < width &&
	       ns_map_owner(r, (uint16_t)(last + 1)) == owner)
		last++;
	struct server *s = map_holder(r);
	uint32_t n = s ? kv_slots_of(&s->meta->kv)->n_shards : r->p.shards;
	if (to == UINT32_MAX)
		to = (owner + 1 + (uint32_t)prng_below(g, n - 1)) % n;
	char a[3][16];
	snprintf(a[0], sizeof a[0], "%u", first);
	snprintf(a[1], sizeof a[1], "%u", last);
	snprintf(a[2], sizeof a[2], "%u", to);
	world_tracef(r->w, "reshard: slots %u-%u (%s's) from shard %u to shard %u", first, last,
		     key, owner, to);
	const char *argv[] = {"KEEL.RESHARD", a[0], a[1], a[2]};
	ns_admin_send(r, via, 4, argv);
}

static uint32_t voters_of(const struct raft_config *c)
{
	uint32_t voters = 0;
	for (uint32_t i = 0; i < c->n; i++)
		voters += c->members[i].role == RAFT_VOTER;
	return voters;
}

/* want (0: none) of c's voters, each as likely (selection sampling),
 * into argv[0..] (their text in ids); returns how many. */
static int some_voters(struct prng *g, const struct raft_config *c, uint32_t want, char (*ids)[24],
		       const char **argv)
{
	uint32_t voters = voters_of(c);
	int n = 0;
	for (uint32_t i = 0, seen = 0; i < c->n && (uint32_t)n < want; i++) {
		if (c->members[i].role != RAFT_VOTER)
			continue;
		if (prng_below(g, voters - seen++) < want - (uint32_t)n) {
			snprintf(ids[n], sizeof ids[0], "%llu",
				 (unsigned long long)c->members[i].id);
			argv[n] = ids[n];
			n++;
		}
	}
	return n;
}

static void reshard_event(void *arg)
{
	struct ns_run *r = arg;
	struct prng *g = world_rng(r->w);
	uint32_t active[NS_NODES_MAX], n = 0;
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (ns_node_active(&r->nodes[i]))
			active[n++] = i;
	if (r->healing || !n)
		return;
	struct server *s = map_holder(r);
	const struct kv_slots *sl = s ? kv_slots_of(&s->meta->kv) : NULL;
	char ids[RAFT_MEMBERS_MAX][24];
	if (sl && sl->n_shards < 4 && !prng_below(g, 5)) {
		/* a shard more (keel-cli shard add); moves may then target it.
		 * Half of them placed on some of the voters (docs/shards.md): a
		 * read replica follows it from one of them */
		const struct raft_config *c = raft_config_of(s->meta->r);
		const char *argv[1 + RAFT_MEMBERS_MAX] = {"KEEL.ADDSHARD"};
		uint32_t voters = voters_of(c);
		uint32_t want = voters > 1 && prng_below(g, 2)
					? 1 + (uint32_t)prng_below(g, voters - 1)
					: 0;
		int argc = 1 + some_voters(g, c, want, ids, argv + 1);
		world_tracef(r->w, "reshard: a shard added%s",
			     argc > 1 ? ", placed on some voters" : "");
		ns_admin_send(r, active[prng_below(g, n)], argc, argv);
		return;
	}
	if (sl && sl->n_shards > 1 && voters_of(raft_config_of(s->meta->r)) && !prng_below(g, 4)) {
		/* a shard but shard 0 (placed, or on every node) placed on some
		 * voters (keel-cli shard place); not while the map's holder knows
		 * no voter (every node restarted, none has applied an entry, and
		 * the first is a node with an empty log) */
		const struct raft_config *c = raft_config_of(s->meta->r);
		uint32_t which = 1 + (uint32_t)prng_below(g, sl->n_shards - 1);
		char shard[16];
		const char *argv[2 + RAFT_MEMBERS_MAX] = {"KEEL.PLACESHARD", shard};
		uint32_t voters = voters_of(c);
		snprintf(shard, sizeof shard, "%u", which);
		uint32_t want = 1 + (uint32_t)prng_below(g, voters < 7 ? voters : 7);
		int argc = 2 + some_voters(g, c, want, ids, argv + 2);
		world_tracef(r->w, "reshard: shard %u placed on %u voters", which, want);
		ns_admin_send(r, active[prng_below(g, n)], argc, argv);
		return;
	}
	char key[16];
	uint32_t k = (uint32_t)prng_below(g, 2 * NS_KEYS + r->p.clients);
	if (k < NS_KEYS)
		snprintf(key, sizeof key, "k%u", k);
	else if (k < 2 * NS_KEYS)
		snprintf(key, sizeof key, "c%u", k - NS_KEYS);
	else
		snprintf(key, sizeof key, "p%u", k - 2 * NS_KEYS);
	uint32_t width = prng_below(g, 4) ? (uint32_t)prng_below(g, 3000) : 0;
	ns_reshard_key(r, key, width, UINT32_MAX, active[prng_below(g, n)]);
}

void ns_reshard_schedule(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->p.reshards; i++)
		world_at(r->w, 300000000 + prng_below(world_rng(r->w), r->p.run_ns - 300000000),
			 reshard_event, r);
}

/* ---- once healed ---- */

struct stray {
	const struct kv_slots *sl;
	uint32_t n;
	char key[32];
};

static void stray_key(void *ctx, struct kv_entry *e)
{
	struct stray *x = ctx;
	if (x->sl->state[kv_slot(e->key, e->klen)] != KV_SLOT_GONE)
		return;
	if (!x->n++)
		snprintf(x->key, sizeof x->key, "%.*s", (int)(e->klen < 24 ? e->klen : 24),
			 (const char *)e->key);
}

/* No shard of s holds a key of a slot it does not serve (but a copy of a
 * shard this node was taken off, which it keeps as it was, unserved: it
 * may have been taken off in the middle of a copy into the shard). */
static bool no_strays(struct ns_run *r, const struct ns_node *m, struct server *s)
{
	for (uint32_t k = 0; k < s->n_shards; k++) {
		struct kv *kv = &s->groups[k]->kv;
		if (s->groups[k]->outside)
			continue;
		struct stray x = {.sl = kv_slots_of(kv)};
		for (uint32_t db = 0; db < kv->n_db; db++)
			kv_dict_each(&kv->db[db], stray_key, &x);
		if (x.n) {
			ns_fail(r,
				"after healing, node %llu: shard %u holds %u keys of slots it does "
				"not serve (%s)",
				(unsigned long long)m->id, k, x.n, x.key);
			return false;
		}
	}
	return true;
}

bool ns_check_slots(struct ns_run *r, struct ns_node *const *m, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct server *s = m[i]->s;
		const struct kv_slots *map = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
		if (!map)
			continue;
		if (map->moving) {
			ns_fail(r,
				"after healing, node %llu: the migration of slots %u-%u from shard "
				"%u "
				"to shard %u never finished (phase %s)",
				(unsigned long long)m[i]->id, map->first, map->last, map->from,
				map->to, migrate_phase(s));
			return false;
		}
		for (uint32_t slot = 0; slot < KV_SLOTS; slot++) {
			uint32_t serving = 0, in_owner = 0;
			for (uint32_t k = 0; k < s->n_shards; k++) {
				if (s->groups[k]->outside) /* never serves: a member does */
					continue;
				int st = kv_slots_of(&s->groups[k]->kv)->state[slot];
				serving += st != KV_SLOT_GONE;
				in_owner += st == KV_SLOT_OWNED && k == map->owner[slot];
			}
			/* a shard placed on other nodes: none of this node's serves it */
			bool away = map->owner[slot] < s->n_shards &&
				    s->groups[map->owner[slot]]->outside;
			if (away ? serving != 0 : serving != 1 || in_owner != 1) {
				ns_fail(r,
					"after healing, node %llu: slot %u is served by %u shards; "
					"the map (version %llu) gives it to shard %u, %s",
					(unsigned long long)m[i]->id, slot, serving,
					(unsigned long long)map->version, map->owner[slot],
					in_owner ? "which serves it" : "which does not serve it");
				return false;
			}
		}
		if (!no_strays(r, m[i], s))
			return false;
	}
	return true;
}
