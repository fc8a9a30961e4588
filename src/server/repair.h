/* server/repair.h — the rule for repairing a damaged log: may a node
 * discard the suffix of its log from the first damaged record, and fetch
 * it again from the leader, without risking an acknowledged entry? */
#ifndef KEEL_SERVER_REPAIR_H
#define KEEL_SERVER_REPAIR_H

#include "base/err.h"
#include "raft/raft.h"
#include "storage/storage.h"

/* KEEL_OK if node `self` may discard the damaged suffix of what l holds;
 * otherwise KEEL_EINVAL with the reason in *why. Refused when:
 *   - no configuration survives on disk (who else holds the entries is
 *     unknown);
 *   - the configuration has a single voter: its log is the only copy;
 *   - the node voted for itself in its current term: it may have led that
 *     term, and a leader's own copy counts towards every commit of it.
 * Usable as storage_options.may_repair with ctx pointing to the raft_id. */
int repair_allowed(raft_id self, const struct storage_loaded *l, struct keel_errmsg *why);
int repair_policy(void *ctx, const struct storage_loaded *l, struct keel_errmsg *why);

#endif
