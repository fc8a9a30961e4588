/* net/frame.h — peer frames: a versioned, checksummed envelope around an
 * opaque payload. Header (12 bytes, little-endian): magic "KF", version
 * (1), kind, u32 payload length, u32 crc32c of header bytes 0..7 and the
 * payload. A frame that fails any check is a protocol error: the
 * connection is dropped. */
#ifndef KEEL_NET_FRAME_H
#define KEEL_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR     12
#define FRAME_VERSION 1
#define FRAME_MAX     (256u << 20) /* payload bytes */

enum frame_kind {
	FRAME_HELLO = 1,   /* u64 the sender's id, then where it listens (host:port):
			    * first on a connection */
	FRAME_RAFT = 2,	   /* a Raft message (raft/codec.h) */
	FRAME_FORWARD = 3, /* a request forwarded to the leader (the server's) */
	FRAME_REPLY = 4,   /* the leader's reply to a forwarded request */
	FRAME_REMOVED = 5, /* u64: the index of a committed configuration that
			    * the receiver is not a member of */
	/* 32..63: the read-replica stream's (replica/proto.h) */
	FRAME_KIND_MAX = 63,
};

struct frame {
	uint8_t kind;
	const uint8_t *payload; /* points into the input */
	uint32_t len;
};

/* Writes the header for payload into hdr. */
void frame_header(uint8_t hdr[FRAME_HDR], uint8_t kind, const void *payload, uint32_t len);

enum { FRAME_OK = 0, FRAME_MORE = 1, FRAME_BAD = 2 };
/* Parses one frame at the start of buf: FRAME_OK with *used bytes,
 * FRAME_MORE, or FRAME_BAD (*why says what). */
int frame_parse(const uint8_t *buf, size_t len, struct frame *f, size_t *used, const char **why);

#endif
