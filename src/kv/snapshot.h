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
/* Replaces kv's keyspace with the stream's (kv keeps at least the
 * databases it had). KEEL_ECORRUPT if the stream fails its checksum or
 * its framing; kv is then left empty. */
int kv_snapshot_read(struct kv *kv, const uint8_t *p, size_t n);

/* The same, as the stream arrives in pieces of any size (a replica
 * restores while it receives): records go into a keyspace of its own;
 * kv_restore_finish checks the checksum and that the stream ended there,
 * then replaces kv's keyspace with it (KEEL_ECORRUPT: kv is untouched, r
 * freed). A stream whose framing fails is refused as soon as it does. */
struct kv_restore {
	struct kv kv;	   /* being built */
	struct rbuf carry; /* a record that began in an earlier piece */
	uint32_t crc;	   /* of the records taken */
	int stage;
	uint64_t left;	   /* records left in the section */
	uint32_t dbs_left; /* databases still to come */
	uint32_t db;	   /* the database being read */
	bool any_db;	   /* one has been read (db is its index) */
	bool v4;	   /* a version 4 stream: the slots follow the sessions */
	bool v5;	   /* ... version 5: and the placed shards after them */
	bool bad;
};
void kv_restore_init(struct kv_restore *r, uint64_t seed);
int kv_restore_feed(struct kv_restore *r, const uint8_t *p, size_t n);
int kv_restore_finish(struct kv_restore *r, struct kv *kv);
void kv_restore_free(struct kv_restore *r);

#endif
