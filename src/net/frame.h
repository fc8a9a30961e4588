/* net/frame.h — peer frames: a versioned, checksummed envelope around an
 * opaque payload. Header (12 bytes, little-endian): magic "KF", version
 * (1), kind, u32 payload length, u32 crc32c of header bytes 0..7 and the
 * payload. A frame that fails any check is a protocol error: the
 * connection is dropped. */
#ifndef KEEL_NET_FRAME_H
#define KEEL_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR     12
#define FRAME_VERSION 1
#define FRAME_MAX     (256u << 20) /* payload bytes */

enum frame_kind {
	FRAME_HELLO = 1,   /* struct frame_hello, below: first on a connection */
	FRAME_RAFT = 2,	   /* a Raft message (raft/codec.h) */
	FRAME_FORWARD = 3, /* a request forwarded to the leader (the server's) */
	FRAME_REPLY = 4,   /* the leader's reply to a forwarded request */
	FRAME_REMOVED = 5, /* u64: the index of a committed configuration that
			    * the receiver is not a member of */
	FRAME_GROUP = 6,   /* one of the four above, or QUIET, for a group
			    * other than 0: frame_group_open, below */
	FRAME_QUIET = 7,   /* a group's leader stops ticking it, or a member
			    * asks it to tick again: struct frame_quiet */
	FRAME_LIVE = 8,	   /* a node's heartbeat to a peer node, one for all
			    * its groups: struct frame_live */
	FRAME_LEADS = 9,   /* the shards placed on some nodes that the sender
			    * leads: struct frame_lead, below */
	/* 32..63: the read-replica stream's (replica/proto.h) */
	FRAME_KIND_MAX = 63,
};

struct frame {
	uint8_t kind;
	const uint8_t *payload; /* points into the input */
	uint32_t len;
};

/* The HELLO frame that opens a peer connection: who the sender is and
 * where it listens. Payload (little-endian):
 *   u64 id                     the sender's node id, non-zero
 *   1..63 bytes                its peer address, "host:port", no NUL
 *   then, optionally (a node that serves clients tells where):
 *   u8  0                      separator
 *   u16 client port            1..65535
 *   u16 sentinel port          0 (none) or 1..65535 (--sentinel-port)
 *   u8  host length            1..63, the rest of the payload
 *   that many bytes            its client host
 * Every address byte is printable ASCII other than space. A node that
 * knows only the first part reads the address up to the NUL and ignores
 * the rest (it takes payloads of up to 72 bytes: an IPv4 pair fits). */
#define FRAME_ADDR_MAX	    64 /* an address with its NUL */
#define FRAME_HELLO_MIN	    9
#define FRAME_HELLO_MAX	    (8 + (FRAME_ADDR_MAX - 1) + 1 + 2 + 2 + 1 + (FRAME_ADDR_MAX - 1))
#define FRAME_HELLO_OLD_MAX 72 /* what a node before the client address took */

struct frame_hello {
	uint64_t id;
	char peer_addr[FRAME_ADDR_MAX];
	char client_host[FRAME_ADDR_MAX]; /* "": not told */
	uint16_t client_port;		  /* 0: not told */
	uint16_t sentinel_port;		  /* 0: none */
};

/* Encodes h into buf (FRAME_HELLO_MAX bytes); returns the payload length,
 * 0 if h does not fit the format. */
size_t frame_hello_encode(const struct frame_hello *h, uint8_t *buf);
/* Decodes a HELLO payload; false (nothing usable) if any check fails. */
bool frame_hello_decode(const uint8_t *p, size_t n, struct frame_hello *h);

/* Writes the header for payload into hdr. */
void frame_header(uint8_t hdr[FRAME_HDR], uint8_t kind, const void *payload, uint32_t len);

/* The largest payload a frame of this kind may carry: a HELLO's, a
 * REMOVED's, a QUIET's and a LIVE's are small and fixed by their
 * formats, Raft messages, forwarded requests, their replies and the
 * replica stream's frames take up to FRAME_MAX, a kind this version does
 * not know up to FRAME_UNKNOWN_MAX. Checked on the header, before the
 * payload is waited for. */
#define FRAME_UNKNOWN_MAX (64u << 10)
uint32_t frame_kind_max(uint8_t kind);

/* A node holds several Raft groups (shards); RAFT, FORWARD, REPLY,
 * REMOVED and QUIET frames are a group's. Group 0's go as themselves, so
 * a node of one group speaks as before; another group's go inside a GROUP
 * frame:
 *   u32 group                  1 .. FRAME_GROUP_MAX
 *   u8  kind                   RAFT, FORWARD, REPLY, REMOVED or QUIET
 *   the rest                   that frame's payload, within its kind's
 *                              frame_kind_max */
#define FRAME_GROUP_HDR 5
#define FRAME_GROUP_MAX 1024 /* the shards 1 .. 1023, then the metadata group */
void frame_group_header(uint8_t hdr[FRAME_GROUP_HDR], uint32_t group, uint8_t kind);
/* Opens a GROUP payload: false if any check above fails. */
bool frame_group_open(const uint8_t *p, size_t n, uint32_t *group, uint8_t *kind,
		      const uint8_t **inner, size_t *inner_n);

/* Quiescence (docs/shards.md): only nodes of several groups send these.
 * QUIET's payload, 17 bytes (little-endian):
 *   u8  op                     FRAME_QUIET_SLEEP: the leader of term
 *                              `term` stops ticking the group, every entry
 *                              up to `index` committed; FRAME_QUIET_WAKE:
 *                              the sender asks the group's leader to tick
 *                              it again (index 0)
 *   u64 term                   1 ..
 *   u64 index
 * LIVE's payload, 8 bytes: u64 the sender's incarnation (non-zero, new at
 * each start of the node). */
#define FRAME_QUIET_LEN	  17
#define FRAME_LIVE_LEN	  8
#define FRAME_QUIET_SLEEP 1
#define FRAME_QUIET_WAKE  2
struct frame_quiet {
	uint8_t op;
	uint64_t term, index;
};
void frame_quiet_encode(const struct frame_quiet *q, uint8_t buf[FRAME_QUIET_LEN]);
/* false if the payload is not a QUIET frame's: its length, an op other
 * than the two, term 0, or a WAKE naming an index */
bool frame_quiet_decode(const uint8_t *p, size_t n, struct frame_quiet *q);
/* A LIVE payload's incarnation into *inc: false if n is not 8 or it is 0. */
bool frame_live_decode(const uint8_t *p, size_t n, uint64_t *inc);

/* LEADS's payload (sent beside LIVE by a node of a cluster with shards
 * placed on some of the nodes, so that the nodes outside such a shard
 * know its leader): u32 count (at most FRAME_LEADS_MAX), then count times
 *   u32 shard                  below FRAME_GROUP_MAX, increasing
 *   u64 term                   1 .. : the term the sender leads it in */
#define FRAME_LEADS_MAX	   1024
#define FRAME_LEADS_LEN(n) (4 + 12 * (size_t)(n))
struct frame_lead {
	uint32_t shard;
	uint64_t term;
};
/* Encodes n leads (increasing shards) into buf, FRAME_LEADS_LEN(n) bytes. */
void frame_leads_encode(const struct frame_lead *l, uint32_t n, uint8_t *buf);
/* Decodes a LEADS payload into out (FRAME_LEADS_MAX of them) and *n:
 * false if its length, a shard or a term is out of range, or the shards
 * do not increase. */
bool frame_leads_decode(const uint8_t *p, size_t len, struct frame_lead *out, uint32_t *n);

enum { FRAME_OK = 0, FRAME_MORE = 1, FRAME_BAD = 2 };
/* Parses one frame at the start of buf: FRAME_OK with *used bytes,
 * FRAME_MORE, or FRAME_BAD (*why says what). A header whose kind or length
 * is out of range is FRAME_BAD as soon as its 12 bytes are there. */
int frame_parse(const uint8_t *buf, size_t len, struct frame *f, size_t *used, const char **why);

#endif
