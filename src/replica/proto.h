/* replica/proto.h — the read-replica stream's wire format (SPEC.md §5).
 *
 * A replica opens a client connection to its source (a member or another
 * replica) and sends one RESP command:
 *     KEEL.REPLICATE <version> <applied-index> <empty:0|1> <zstd|none> <name>
 * From then on the connection carries frames both ways, in net/frame.h's
 * checksummed envelope, with the kinds below. The source answers ACCEPT
 * (or ERROR, then closes); then either
 *   phase 1: SNAP chunks of its latest snapshot, each acknowledged (ACK
 *            with the bytes received) before the next is sent, then
 *            CAUGHT_UP with the index the snapshot covers; or directly
 *   phase 2: ENTRIES batches of committed entries, in order, as they are
 *            applied on the source, and HEARTBEAT when idle.
 * The replica ACKs the highest index it has made durable, and sends an ACK
 * as its heartbeat too. Payloads of SNAP and ENTRIES may be compressed
 * with zstd when both sides offered it, per batch (a batch that does not
 * shrink goes raw). Integers are little-endian. */
#ifndef KEEL_REPLICA_PROTO_H
#define KEEL_REPLICA_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "resp/buf.h"

#define REPL_VERSION	 1
#define REPL_BATCH_BYTES (1u << 20)  /* entries per ENTRIES frame, before compression */
#define REPL_SNAP_CHUNK	 (4u << 20)  /* snapshot bytes per SNAP frame */
#define REPL_RAW_MAX	 (64u << 20) /* a decompressed payload's limit */

enum repl_kind {
	REPL_ACCEPT = 32,    /* source: the stream's terms (struct repl_accept) */
	REPL_ERROR = 33,     /* source: why it refused; the connection closes */
	REPL_SNAP = 34,	     /* source: u64 offset, payload (snapshot bytes) */
	REPL_CAUGHT_UP = 35, /* source: u64 index, u64 term: the snapshot is whole */
	REPL_ENTRIES = 36,   /* source: u64 first index, u64 source applied, u32 n,
				payload (n x {u64 term, u8 type, u32 len, bytes}) */
	REPL_HEARTBEAT = 37, /* source: u64 source applied index */
	REPL_ACK = 38,	     /* replica: u64 durable index, u64 snapshot bytes received */
};

enum repl_codec { REPL_RAW = 0, REPL_ZSTD = 1 };
enum repl_mode { REPL_FROM_LOG = 0, REPL_FROM_SNAPSHOT = 1 };

struct repl_accept {
	uint32_t version;
	uint8_t codec; /* enum repl_codec: what the source will send */
	uint8_t mode;  /* enum repl_mode */
	uint64_t source_id;
	uint64_t next;	     /* FROM_LOG: the first index it will send */
	uint64_t snap_index; /* FROM_SNAPSHOT: the snapshot's index, term, size, crc */
	uint64_t snap_term;
	uint64_t snap_size;
	uint32_t snap_crc;
};

struct repl_entry {
	uint64_t index, term;
	uint8_t type;
	uint32_t len;
	const uint8_t *data;
};

/* Appends one whole frame (header and payload) to out. */
void repl_frame(struct rbuf *out, uint8_t kind, const void *payload, size_t len);

void repl_accept_frame(struct rbuf *out, const struct repl_accept *a);
int repl_accept_decode(const uint8_t *p, size_t n, struct repl_accept *a);

/* A payload that may be compressed: u8 codec, u32 raw length, bytes. */
void repl_payload_put(struct rbuf *out, uint8_t codec, const uint8_t *raw, size_t len);
/* Gives the raw bytes: *raw points into p, or into *scratch (the caller's
 * to free with keel_free). KEEL_ECORRUPT on anything malformed. */
int repl_payload_get(const uint8_t *p, size_t n, const uint8_t **raw, size_t *raw_len,
		     uint8_t **scratch);

/* An ENTRIES frame: the entries must be consecutive. */
void repl_entries_frame(struct rbuf *out, uint8_t codec, uint64_t source_applied,
			const struct repl_entry *e, uint32_t n);
/* Decodes an ENTRIES frame. *es (keel_free) points into p or *scratch. */
int repl_entries_decode(const uint8_t *p, size_t n, uint64_t *source_applied,
			struct repl_entry **es, uint32_t *n_es, uint8_t **scratch);

/* A SNAP frame: bytes at offset of the snapshot. */
void repl_snap_frame(struct rbuf *out, uint8_t codec, uint64_t offset, const uint8_t *data,
		     size_t len);

/* Frames of one or two u64s (CAUGHT_UP, HEARTBEAT, ACK). */
void repl_u64s_frame(struct rbuf *out, uint8_t kind, uint64_t a, uint64_t b);

#endif
