/* server/persist.h — the persist part of a Raft update as a storage batch
 * (raft/raft.h's contract, step 1, in storage/storage.h's terms), and
 * snapshot metadata between the two: what every embedder of the core and
 * the storage (the server, the simulator) does the same way. */
#ifndef KEEL_SERVER_PERSIST_H
#define KEEL_SERVER_PERSIST_H

#include "raft/raft.h"
#include "storage/storage.h"

/* Room for the batch's pointers: valid as long as the update and this. */
struct persist_scratch {
	struct snap_meta chunk, install;
	struct wal_entry *entries; /* free with persist_scratch_free */
};

/* Fills *b from u; false if the update has nothing to persist. */
bool persist_batch(const struct raft_update *u, struct storage_batch *b,
		   struct persist_scratch *sc);
void persist_scratch_free(struct persist_scratch *sc);
void persist_meta_to_snap(const struct raft_snapshot_meta *m, struct snap_meta *s);
int persist_meta_from_snap(const struct snap_meta *s, struct raft_snapshot_meta *m);

#endif
