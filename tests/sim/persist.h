/* tests/sim/persist.h — a simulated node's real storage: src/storage over
 * the node's simulated disk (sim/simfs.h), run beside the model of
 * sim/store.h. Each update's persist part goes to both; a sync of the real
 * log makes the model's batch durable. After a crash the real storage
 * recovers from the disk, and what it recovered is checked against the
 * model: every entry, vote and snapshot the model holds as durable must be
 * there (entries a truncation or install on the way to disk was removing
 * excepted). The model is then replaced by what was recovered, so the Raft
 * core restarts from what the real code read back. */
#ifndef KEEL_TESTS_SIM_PERSIST_H
#define KEEL_TESTS_SIM_PERSIST_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "raft/raft.h"
#include "sim/simfs.h"
#include "sim/store.h"
#include "storage/storage.h"

struct persist {
	struct simfs *disk;
	struct storage *st;       /* NULL while the node is down */
	raft_index exempt_from;   /* entries >= this may be gone after a crash */
	struct keel_errmsg err;   /* the last storage error */
};

void persist_init(struct persist *p);
void persist_free(struct persist *p);
/* Opens the real storage, checks what it recovered against the model's
 * durable image and replaces the image with it. KEEL_ECORRUPT (message in
 * p->err) if recovery lost something the model holds as durable. */
int persist_open(struct persist *p, struct store *model);
/* Writes an update's persist part (not yet durable). */
int persist_write(struct persist *p, const struct raft_update *u);
int persist_sync(struct persist *p);
int persist_save_snapshot(struct persist *p, const struct raft_snapshot_meta *m,
			  const uint8_t *data);
/* Reads bytes of the current snapshot (to send it). */
int persist_snapshot_read(struct persist *p, uint64_t off, void *buf, uint32_t len);
/* The process dies: the disk loses part of what was not synced (all of it
 * with lose_all); the model loses all of it, remembering which durable
 * entries a pending truncation may have removed. */
void persist_crash(struct persist *p, struct store *model, struct prng *prng, bool lose_all);

#endif
