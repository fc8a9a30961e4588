/* replica/follow.h — the replica's end of the stream: one connection to a
 * source at a time (the addresses of --replica-of, tried in turn), the
 * handshake, frames checked and handed to the embedder, acknowledgements
 * of what the embedder has made durable, and reconnection with exponential
 * backoff and jitter after any failure: a lost connection, a source that
 * fell silent, a gap in the indices, a bad frame. The backoff doubles once
 * a round of every source has failed, not at each source: one that
 * refuses (a node not holding the group, which may be every source but
 * one) costs the next one little. Each new connection resumes from the
 * embedder's last applied index.
 *
 * A follower of one group of a sharded source names the group (by its
 * wire id) in its handshake, and drops a source whose ACCEPT does not
 * name that group with the slots it expects (so a replica never serves a
 * slot from a group that does not hold its keys); it hands the group's
 * members, as the source sees them, to the embedder (TOPOLOGY). One
 * without a group is as a replica always was: group 0 of a one-group
 * source. */
#ifndef KEEL_REPLICA_FOLLOW_H
#define KEEL_REPLICA_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/prng.h"
#include "replica/proto.h"
#include "resp/buf.h"

#define REPL_SOURCES_MAX    8
#define REPL_SILENT_MS	    3000 /* no frame for this long: the source is given up */
#define REPL_BACKOFF_MAX_MS 5000

struct repl_follow_ops {
	void *ctx;
	uint64_t (*applied)(void *ctx); /* the last index applied (0: none) */
	bool (*empty)(void *ctx);	/* nothing applied or installed yet */
	uint64_t (*durable)(void *ctx); /* the last index applied and durable */
	/* Entries that follow applied, to apply and make durable. */
	void (*entries)(void *ctx, const struct repl_entry *e, uint32_t n);
	/* A snapshot: its terms, its bytes in order, then its end (install it;
	 * false if it does not check or restore: the stream starts over). */
	void (*snap_begin)(void *ctx, const struct repl_accept *a);
	void (*snap_chunk)(void *ctx, uint64_t off, const uint8_t *p, size_t n);
	bool (*snap_done)(void *ctx);
	void (*log)(void *ctx, const char *line);
	/* The group's members, as the source sees them (named groups only). */
	void (*topology)(void *ctx, const struct repl_topology *t);
};

/* The group a follower names, and the slots it expects it to serve. */
struct repl_follow_group {
	uint32_t id;
	uint16_t slot_first, slot_last;
};

enum repl_follow_state {
	REPL_IDLE,	 /* waiting to connect again */
	REPL_CONNECTING, /* TCP, then the handshake */
	REPL_CATCHUP,	 /* receiving a snapshot */
	REPL_STREAMING,	 /* receiving entries */
};

struct repl_follow {
	uv_loop_t *loop;
	struct repl_follow_ops ops;
	char sources[REPL_SOURCES_MAX][128];
	uint32_t n_sources, cur;
	char bind[64];
	char name[64];
	bool zstd;
	bool has_group; /* false: none named (group 0 of a one-group source) */
	struct repl_follow_group group;
	int state;
	uv_tcp_t *tcp; /* the connection; freed once closed */
	uv_timer_t timer;
	struct prng rng;
	uint32_t backoff_ms;
	uint32_t round_failed; /* sources failed since the backoff last grew */
	int64_t retry_at_ms, last_heard_ms, last_ack_ms;
	uint64_t acked; /* the last durable index sent in an ACK */
	struct rbuf in;
	struct repl_accept accept;
	uint64_t snap_got;
	uint64_t source_applied; /* as the source last said */
	int64_t behind_since_ms; /* 0: caught up with what the source said */
	bool stopped;
	char last_error[200];
	struct {
		uint64_t connects, gaps, bytes_in, entries, snapshots;
	} stats;
};

/* group: NULL for none named. */
int repl_follow_start(struct repl_follow *f, uv_loop_t *loop, const struct repl_follow_ops *ops,
		      const char *sources, const char *bind, const char *name, bool zstd,
		      const struct repl_follow_group *group, struct keel_errmsg *err);
/* host:port of an IPv4 address; false if it is not one. */
bool repl_parse_addr(const char *s, struct sockaddr_in *out);
/* Sends an ACK now if the durable index moved (the embedder calls it when
 * a write became durable). */
void repl_follow_poke(struct repl_follow *f);
/* Lag behind the source: entries, and ms since it was last caught up. */
uint64_t repl_follow_lag(const struct repl_follow *f, int64_t *lag_ms);
void repl_follow_stop(struct repl_follow *f);

#endif
