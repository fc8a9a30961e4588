/* net/peer.h — connections between nodes on the event loop (libuv). Each
 * node listens on its peer port and keeps one outgoing connection to every
 * peer it knows, made from its own bind address (so nodes on 127.0.0.1,
 * 127.0.0.2, ... are told apart, and cut apart, by address), reconnected
 * with exponential backoff and jitter. A connection opens with a HELLO
 * frame naming the sender, where it listens (a node that was just added
 * learns its peers that way) and where it serves clients (for Sentinel
 * discovery); then frames flow one way, from the
 * connecting node. Messages to a peer that is not connected, or whose queue is full,
 * are dropped (Raft retransmits). A bad frame closes the connection, as
 * does a first frame that is not a HELLO. */
#ifndef KEEL_NET_PEER_H
#define KEEL_NET_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "net/frame.h"

#define PEERS_MAX      64
#define PEER_QUEUE_MAX (64u << 20) /* bytes queued to one peer */
/* An incoming connection must open with a HELLO (of at most
 * FRAME_HELLO_MAX bytes: nothing more is read before it), within
 * PEER_HELLO_MS; at most PEER_UNNAMED_MAX connections may wait for theirs,
 * and at most PEERS_MAX incoming connections may have said one (one per
 * sender: a new one from the same id replaces the old). */
#define PEER_HELLO_MS	 5000
#define PEER_UNNAMED_MAX 16

struct peers;

struct peers_cb {
	void *ctx;
	/* A frame from peer `from` (payload valid during the call). */
	void (*recv)(void *ctx, uint64_t from, uint8_t kind, const uint8_t *p, size_t n);
	/* A line for the log (connection events, protocol errors). */
	void (*log)(void *ctx, const char *line);
};

int peers_start(uv_loop_t *loop, uint64_t self, const char *bind_ip, int port,
		const struct peers_cb *cb, struct peers **out, struct keel_errmsg *err);
/* What this node tells its peers in its HELLO besides its peer address:
 * where it serves clients (and its Sentinel port, 0 for none). Call before
 * the first peers_set; a port out of range tells nothing. */
void peers_announce(struct peers *ps, const char *client_host, int client_port, int sentinel_port);
/* Whether a HELLO from a node this one does not know makes it connect
 * back (on by default): a node that was just added learns its peers that
 * way. The server turns it off once it has a configuration, so that
 * made-up ids in HELLOs cannot take the peer slots. */
void peers_learn(struct peers *ps, bool on);
/* What peer id last told in its HELLO (valid until the next loop pass);
 * NULL if it has not connected to this node yet. */
const struct frame_hello *peers_told(const struct peers *ps, uint64_t id);
/* Adds or updates a peer's address ("host:port"); connects in the background. */
void peers_set(struct peers *ps, uint64_t id, const char *addr);
void peers_remove(struct peers *ps, uint64_t id);
/* Queues a frame to a peer; false if it was dropped. The frames queued to
 * a peer go out together, in one write, at peers_flush. */
bool peers_send(struct peers *ps, uint64_t id, uint8_t kind, const void *payload, size_t n);
/* The same for a group's frame (net/frame.h: group 0's as itself, another
 * group's inside a GROUP frame). */
bool peers_send_group(struct peers *ps, uint64_t id, uint32_t group, uint8_t kind,
		      const void *payload, size_t n);
/* Writes what was queued: called at the end of each loop pass. */
void peers_flush(struct peers *ps);
bool peers_connected(const struct peers *ps, uint64_t id);
/* Closes everything; frees ps once the loop has run the closes. */
void peers_stop(struct peers *ps);

#endif
