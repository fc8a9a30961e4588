/* replica/source.h — the source's end of one replica's stream (a member
 * or a replica serving another). It knows nothing of sockets or of the
 * node: the embedder gives it the bytes the replica sent, asks it to pump
 * after each applied batch and on each tick, and gives it ops to read
 * entries and the latest snapshot, and to send bytes.
 *
 * The handshake picks the start (replica/proto.h): from the log when it
 * still holds the replica's next index, else the latest snapshot in
 * acknowledged chunks (one in flight: flow control, as a full scan in
 * acknowledged batches), then CAUGHT_UP, then entries as they are applied,
 * up to REPL_WINDOW entries beyond the replica's acknowledgement, with a
 * HEARTBEAT after REPL_HEARTBEAT_MS of silence. A replica heard from for
 * REPL_DEAD_MS is dropped. */
#ifndef KEEL_REPLICA_SOURCE_H
#define KEEL_REPLICA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/fs.h"
#include "replica/proto.h"
#include "resp/parse.h"
#include "resp/buf.h"

#define REPL_WINDOW	  65536	     /* entries sent beyond the last acknowledged */
#define REPL_QUEUE_MAX	  (8u << 20) /* bytes waiting in the socket before pumping stops */
#define REPL_HEARTBEAT_MS 100
#define REPL_DEAD_MS	  10000

struct repl_snap { /* the latest snapshot, opened for reading */
	uint64_t index, term, size;
	uint32_t crc;
	int fd;		   /* a handle of fs: closed by the source */
	uint64_t data_off; /* where its data begins in the file */
	const struct io_fs *fs;
};

/* The last ENTRIES frame built, per codec: replicas streaming in step are
 * sent the same batch, encoded (and compressed) once. */
struct repl_batch_cache {
	uint64_t first;
	uint32_t n;
	struct rbuf frame;
};

struct repl_source_ops {
	void *ctx;
	struct repl_batch_cache *cache; /* [2], by codec; NULL: none */
	uint64_t (*applied)(void *ctx); /* the highest index that may be sent */
	uint64_t (*first)(void *ctx);	/* the first entry held */
	bool (*entry)(void *ctx, uint64_t index, struct repl_entry *out);
	bool (*snap_open)(void *ctx, struct repl_snap *out); /* false: none */
	void (*send)(void *ctx, const uint8_t *p, size_t n);
	size_t (*queued)(void *ctx); /* bytes sent but not yet written out */
};

struct repl_hello { /* the handshake's arguments */
	uint32_t version;
	uint64_t applied;
	bool empty;
	bool zstd;
	char name[64];
	bool has_group; /* it named a group: */
	uint32_t group;
};

/* What the source says of the group a stream follows (in its ACCEPT, when
 * the handshake named one). */
struct repl_group_info {
	uint32_t id;
	uint16_t slot_first, slot_last; /* first > last: it serves no slot */
};

enum repl_source_phase { REPL_SRC_SNAPSHOT, REPL_SRC_LIVE };

struct repl_source {
	struct repl_source_ops ops;
	struct repl_hello hello;
	uint8_t codec;
	int phase;
	struct repl_snap snap;
	uint64_t snap_sent, snap_acked;
	bool snap_open;
	uint64_t next;	/* the next entry to send */
	uint64_t acked; /* the replica's durable index */
	int64_t last_heard_ms, last_sent_ms, behind_since_ms;
	uint64_t bytes_sent;
	struct rbuf in, out;
	struct rbuf topo; /* the last TOPOLOGY frame sent */
	char error[160];  /* why the stream ended */
};

/* Parses KEEL.REPLICATE's arguments (after the command name). */
int repl_hello_parse(struct repl_hello *h, const struct resp_arg *argv, uint32_t argc, char *why,
		     size_t cap);
/* Starts a stream; false with the reason in src->error (sent as ERROR by
 * repl_source_start itself) when the handshake cannot be served. gi: the
 * group served, told in the ACCEPT when the handshake named one (NULL
 * only if it did not). */
bool repl_source_start(struct repl_source *src, const struct repl_source_ops *ops,
		       const struct repl_hello *h, const struct repl_group_info *gi,
		       uint64_t self_id, int64_t now_ms);
/* Queues the group's members as the source sees them, if the handshake
 * named a group and they differ from what was last sent (sent with the
 * next pump). */
void repl_source_topology(struct repl_source *src, const struct repl_topology *t);
/* An ERROR frame saying why, for a handshake refused before any stream
 * began (a group this node does not hold). */
void repl_refusal(struct rbuf *out, const char *why);
/* Bytes from the replica; false (src->error says why) ends the stream. */
bool repl_source_recv(struct repl_source *src, const uint8_t *p, size_t n, int64_t now_ms);
/* Sends what may be sent now; false (src->error says why) ends the stream. */
bool repl_source_pump(struct repl_source *src, int64_t now_ms);
/* The lowest index this stream still needs from the log (0: none). */
uint64_t repl_source_needs(const struct repl_source *src);
/* Ends the stream with an error frame saying why (the replica tries its
 * next source): the node can no longer serve it. */
void repl_source_end(struct repl_source *src, const char *why);
void repl_source_free(struct repl_source *src);

#endif
