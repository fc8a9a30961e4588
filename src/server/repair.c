/* server/repair.c — the repair rule of server/repair.h. */
#include "server/repair.h"

#include <inttypes.h>

/* The newest configuration that survives: the last configuration entry,
 * else the snapshot's. */
static bool last_config(const struct storage_loaded *l, struct raft_config *c)
{
	for (uint32_t i = l->n_entries; i-- > 0;) {
		const struct wal_entry *e = &l->entries[i];
		if (e->type == RAFT_ENTRY_CONFIG)
			return raft_config_decode(c, e->data, e->len) == KEEL_OK;
	}
	return l->has_snap && raft_config_decode(c, l->snap.meta, l->snap.meta_len) == KEEL_OK;
}

int repair_allowed(raft_id self, const struct storage_loaded *l, struct keel_errmsg *why)
{
	struct raft_config c;
	if (!last_config(l, &c)) {
		keel_errmsg_set(why,
				"no configuration survives on disk, so it is unknown who "
				"else holds the entries from %" PRIu64,
				l->damage.first_bad);
		return KEEL_EINVAL;
	}
	if (raft_config_voters(&c) == 1) {
		keel_errmsg_set(why,
				"the cluster has a single voter: the entries from %" PRIu64
				" may exist nowhere else",
				l->damage.first_bad);
		return KEEL_EINVAL;
	}
	if (l->vote == self && raft_config_is_voter(&c, self)) {
		keel_errmsg_set(why,
				"node %" PRIu64 " voted for itself in term %" PRIu64
				": it may have led that term, and its own copy may be part "
				"of a commit",
				self, l->term);
		return KEEL_EINVAL;
	}
	return KEEL_OK;
}

int repair_policy(void *ctx, const struct storage_loaded *l, struct keel_errmsg *why)
{
	return repair_allowed(*(const raft_id *)ctx, l, why);
}
