/* kv/snapshot.h — the keyspace as a checksummed stream, for Raft snapshots
 * and backups. Format in snapshot.c. */
#ifndef KEEL_KV_SNAPSHOT_H
#define KEEL_KV_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "kv/kv.h"
#include "resp/buf.h"

/* Appends the keys live at now_ms (expired ones are left out). */
void kv_snapshot_write(struct kv *kv, int64_t now_ms, struct rbuf *out);
/* Replaces kv's keyspace with the stream's. KEEL_ECORRUPT if the stream
 * fails its checksum or its framing; kv is then left empty. */
int kv_snapshot_read(struct kv *kv, const uint8_t *p, size_t n);

#endif
