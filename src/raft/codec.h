/* raft/codec.h — Raft messages to and from bytes, for the peer wire
 * (format at the top of codec.c), and deep copies of messages for an
 * embedder that keeps them past raft_update_done. */
#ifndef KEEL_RAFT_CODEC_H
#define KEEL_RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* An upper bound of the encoded size. */
size_t raft_msg_size(const struct raft_msg *m);
/* Encodes into buf; returns the bytes written (0 if cap is too small). */
size_t raft_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap);
/* Decodes and checks one message; entry and snapshot data point into buf.
 * KEEL_EPROTO for anything malformed. Free with raft_msg_decoded_free. */
int raft_msg_decode(struct raft_msg *m, const uint8_t *buf, size_t len);
void raft_msg_decoded_free(struct raft_msg *m);

/* A copy that owns its entries' data and its snapshot data. */
void raft_msg_clone(struct raft_msg *dst, const struct raft_msg *src);
void raft_msg_clone_free(struct raft_msg *m);

#endif
