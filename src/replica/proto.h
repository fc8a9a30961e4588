/* replica/proto.h — the read-replica stream's wire format (SPEC.md §5).
 *
 * A replica opens a client connection to its source (a member or another
 * replica) and sends one RESP command:
 *     KEEL.REPLICATE <version> <applied-index> <empty:0|1> <zstd|none> <name>
 *                    [<group>]
 * The group is the Raft group (shard) whose committed entries it wants,
 * by its wire id (net/frame.h's GROUP frames name groups the same way);
 * without it, group 0 of a node of one group: what replicas and sources
 * that know no groups send and expect. From then on the connection
 * carries frames both ways, in net/frame.h's checksummed envelope, with
 * the kinds below. The source answers ACCEPT (or ERROR, then closes; an
 * ACCEPT to a handshake that named a group names it too, with the slots
 * the group serves, so that a replica never serves a slot from a group
 * that does not hold its keys); then either
 *   phase 1: SNAP chunks of its latest snapshot, each acknowledged (ACK
 *            with the bytes received) before the next is sent, then
 *            CAUGHT_UP with the index the snapshot covers; or directly
 *   phase 2: ENTRIES batches of committed entries, in order, as they are
 *            applied on the source, and HEARTBEAT when idle.
 * A stream that named a group is also sent TOPOLOGY when it begins and
 * whenever the group's members or leader change as the source sees them
 * (what CLUSTER SLOTS and the like answer on a replica of a sharded
 * cluster). The replica ACKs the highest index it has made durable, and
 * sends an ACK as its heartbeat too. Payloads of SNAP and ENTRIES may be compressed
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
	REPL_TOPOLOGY = 39,  /* source, to a stream that named a group: struct
				repl_topology */
};

#define REPL_GROUP_MAX	UINT32_MAX /* a group's wire id, at most */
#define REPL_TOPO_NODES 16	   /* members a TOPOLOGY names, at most */
#define REPL_HOST_MAX	64	   /* a host with its NUL (net/frame.h's FRAME_ADDR_MAX) */

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
	/* to a handshake that named a group: the group, and the slots it
	 * serves (first > last: none) */
	bool has_group;
	uint32_t group;
	uint16_t slot_first, slot_last;
};

/* A group's members as its source sees them: a u64 term, a u8 count, then
 * each member's u64 id, u16 client port, u16 peer port, u8 flags, u8 host
 * length and host. */
enum repl_topo_flag {
	REPL_TOPO_LEADER = 1, /* the group's leader */
	REPL_TOPO_UP = 2,     /* the source itself, or its peer link to it is up */
	REPL_TOPO_VOTER = 4,
};

struct repl_topo_node {
	uint64_t id;
	char host[REPL_HOST_MAX];
	uint16_t port, peer_port;
	uint8_t flags;
};

struct repl_topology {
	uint64_t term; /* the group's term on the source */
	uint32_t n;
	struct repl_topo_node nodes[REPL_TOPO_NODES];
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

/* A TOPOLOGY frame; decoding checks every field (a host of printable
 * characters, ports 1..65535 or a peer port of 0, known flags). */
void repl_topology_frame(struct rbuf *out, const struct repl_topology *t);
int repl_topology_decode(const uint8_t *p, size_t n, struct repl_topology *t);

/* Frames of one or two u64s (CAUGHT_UP, HEARTBEAT, ACK). */
void repl_u64s_frame(struct rbuf *out, uint8_t kind, uint64_t a, uint64_t b);

#endif
