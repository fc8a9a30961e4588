/* raft/raft.h — Raft consensus as a deterministic state machine: events in,
 * an update ("persist these, send these, apply these") out. No I/O, no clock,
 * no threads, no global state; randomness only from the seed given at init.
 *
 * Events: raft_tick (one unit of logical time), raft_heartbeat_now (the
 * embedder's clock stalled), raft_step (a message from a peer),
 * raft_propose, raft_read_index, raft_change, raft_transfer_leader,
 * raft_persisted (the embedder's log is durable up to an index),
 * raft_snapshot_done / raft_snapshot_failed, raft_fail (a storage error).
 *
 * THE UPDATE CONTRACT (what the embedder must do with a struct raft_update).
 * After any event, while raft_has_update() is true, the embedder calls
 * raft_update_get(), carries the update out as below, then raft_update_done().
 * Updates are carried out in the order they were got.
 *
 *   1. Persist, in this order:
 *      a. hard state (term, vote), replaced atomically, if hs_changed;
 *      b. snap_chunk: write these bytes at that offset of the incoming
 *         snapshot (offset 0 starts a new incoming snapshot);
 *      c. snap_install: the incoming snapshot is complete and its checksum
 *         verified by the core; make it the node's snapshot, restore the state
 *         machine from it, and drop every log entry with index <= its index;
 *      d. truncate_from: remove every log entry with index >= truncate_from;
 *      e. entries: append them (contiguous, after d);
 *      f. purge_below: entries with index < purge_below may be deleted
 *         whenever convenient (compaction; no ordering requirement).
 *      The persisted part may complete asynchronously (a storage thread), but
 *      in order. When the log is durable through index i (term t), call
 *      raft_persisted(r, i, t): this is how the leader counts itself towards
 *      a quorum (Raft thesis §10.2.1: the leader writes its log in parallel
 *      with sending it to followers).
 *
 *   2. Messages.
 *      msgs_now may be sent at once, before step 1 completes (they are the
 *      leader's AppendEntries and snapshot chunks: thesis §10.2.1).
 *      msgs may be sent only after step 1 of this update, and of every earlier
 *      update, is durable: a vote, a term, an acknowledged entry or snapshot
 *      chunk must be on disk before a peer can act on it (Raft §5, Figure 2:
 *      "update on stable storage before responding to RPCs").
 *      MSG_SNAPSHOT messages carry offset and length but no bytes: before
 *      sending, the embedder fills in data from the snapshot named by
 *      (meta.index, meta.term), which is always its latest snapshot.
 *
 *   3. Apply: committed entries, in index order, exactly once each. They are
 *      committed, hence durable on a majority; a follower may apply them
 *      before its own copy is durable. A snap_install in the same update
 *      comes first.
 *
 *   4. Reads: each struct raft_read with status KEEL_OK may be answered once
 *      the state machine has applied index `index`; other statuses fail the
 *      read (it may be retried).
 *
 *   5. snapshot_wanted: take a snapshot of the state machine as it stands
 *      after applying this update's committed entries (it then covers exactly
 *      snapshot_index), without stopping the node; once it is durable call
 *      raft_snapshot_done() (the core may then purge the log below it), or
 *      raft_snapshot_failed(). The core never asks for two at once. A
 *      snapshot is never empty (size > 0: the embedder's format has a
 *      header); a peer's 0-byte snapshot is refused.
 *
 * Pointers in an update (entries, messages, data) are owned by the core and
 * valid until raft_update_done(). Pointers passed into the core (messages,
 * proposal data) are owned by the caller and copied by the core as needed.
 *
 * A storage error is reported with raft_fail(): the node stops (fail-stop)
 * and every later call is refused with KEEL_ESTOPPED; the embedder restarts
 * it from disk. */
#ifndef KEEL_RAFT_RAFT_H
#define KEEL_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/trace.h"

typedef uint64_t raft_term;
typedef uint64_t raft_index;
typedef uint64_t raft_id;

#define RAFT_ID_NONE 0
/* The largest term a node takes: one below UINT64_MAX, so that any term it
 * holds can be incremented by an election. A message carrying a larger
 * term (in its header or any field) is corrupt (raft/codec.c); a node
 * whose stored term is already at or past it (a data folder from before
 * this check) starts and follows, but never campaigns (raft/election.c). */
#define RAFT_TERM_MAX	 (UINT64_MAX - 1)
#define RAFT_MEMBERS_MAX 16
#define RAFT_ADDR_MAX 64
/* A proposal's payload; larger commands are refused with KEEL_ETOOBIG. */
#define RAFT_ENTRY_BYTES_MAX (64u << 20)

enum raft_role {
	RAFT_FOLLOWER = 1,
	RAFT_PRECANDIDATE = 2,
	RAFT_CANDIDATE = 3,
	RAFT_LEADER = 4,
};

/* ---- Membership -------------------------------------------------------- */

enum raft_member_role {
	RAFT_VOTER = 1,
	RAFT_LEARNER = 2,
};

struct raft_member {
	raft_id id;
	uint8_t role;         /* enum raft_member_role */
	bool auto_promote;    /* a learner the leader promotes once caught up */
	char addr[RAFT_ADDR_MAX]; /* opaque to the core, NUL-terminated */
};

struct raft_config {
	uint32_t n;
	struct raft_member members[RAFT_MEMBERS_MAX];
};

enum raft_change_op {
	RAFT_CHANGE_ADD_LEARNER = 1, /* add as learner (auto_promote as asked) */
	RAFT_CHANGE_PROMOTE = 2,     /* learner -> voter */
	RAFT_CHANGE_REMOVE = 3,      /* remove a voter or learner */
};

/* ---- Log entries ------------------------------------------------------- */

enum raft_entry_type {
	RAFT_ENTRY_NOOP = 1,    /* appended by every new leader (§5.4.2, §8) */
	RAFT_ENTRY_COMMAND = 2, /* opaque to the core: the state machine's */
	RAFT_ENTRY_CONFIG = 3,  /* data is raft_config_encode()'s output */
};

struct raft_entry {
	raft_term term;
	raft_index index;
	uint8_t type; /* enum raft_entry_type */
	uint32_t len;
	uint8_t *data;
};

/* ---- Snapshots --------------------------------------------------------- */

struct raft_snapshot_meta {
	raft_index index;          /* last entry the snapshot covers */
	raft_term term;            /* its term */
	struct raft_config config; /* the configuration as of index */
	uint64_t size;             /* bytes of the snapshot data */
	uint32_t crc;              /* crc32c of the snapshot data */
};

struct raft_snapshot_chunk {
	struct raft_snapshot_meta meta;
	uint64_t offset;
	uint32_t len;
	const uint8_t *data;
};

/* ---- Messages ---------------------------------------------------------- */

enum raft_msg_type {
	RAFT_MSG_PREVOTE = 1,
	RAFT_MSG_PREVOTE_RESP = 2,
	RAFT_MSG_VOTE = 3,
	RAFT_MSG_VOTE_RESP = 4,
	RAFT_MSG_APPEND = 5, /* AppendEntries; no entries is a heartbeat */
	RAFT_MSG_APPEND_RESP = 6,
	RAFT_MSG_SNAPSHOT = 7, /* one chunk of InstallSnapshot */
	RAFT_MSG_SNAPSHOT_RESP = 8,
	RAFT_MSG_TIMEOUT_NOW = 9, /* leadership transfer (thesis §3.10) */
	RAFT_MSG_READ_INDEX = 10, /* follower asks the leader (thesis §6.4) */
	RAFT_MSG_READ_INDEX_RESP = 11,
};
#define RAFT_MSG_TYPE_MAX 11

struct raft_msg_vote {      /* PREVOTE and VOTE */
	raft_index last_index;
	raft_term last_term;
	bool transfer;           /* sent on TIMEOUT_NOW: ignore leader stickiness */
};

struct raft_msg_vote_resp { /* PREVOTE_RESP and VOTE_RESP */
	bool granted;
};

struct raft_msg_append {
	raft_index prev_index;
	raft_term prev_term;
	raft_index commit;
	uint64_t read_seq;       /* leadership-confirmation round (ReadIndex) */
	uint32_t n_entries;
	struct raft_entry *entries;
};

struct raft_msg_append_resp {
	bool success;
	raft_index match_index;  /* success: the follower's log matches up to here */
	raft_index reject_index; /* failure: the prev_index that was refused */
	raft_term conflict_term; /* failure: term at reject_index, 0 if missing */
	raft_index conflict_index; /* failure: first index of conflict_term, or
				      the follower's last index + 1 */
	uint64_t read_seq;       /* echoed */
};

struct raft_msg_snapshot {
	struct raft_snapshot_meta meta;
	uint64_t offset;
	uint32_t len;
	const uint8_t *data;     /* outgoing: NULL, filled in by the embedder */
};

struct raft_msg_snapshot_resp {
	uint64_t next_offset;    /* the offset wanted next */
	bool done;               /* installed (or already covered): index below */
	raft_index index;
};

struct raft_msg_read_index {
	uint64_t req_id;
};

struct raft_msg_read_index_resp {
	uint64_t req_id;
	raft_index index;
	bool ok;
};

struct raft_msg {
	uint8_t type; /* enum raft_msg_type */
	raft_id from;
	raft_id to;
	raft_term term;
	union {
		struct raft_msg_vote vote;
		struct raft_msg_vote_resp vote_resp;
		struct raft_msg_append append;
		struct raft_msg_append_resp append_resp;
		struct raft_msg_snapshot snapshot;
		struct raft_msg_snapshot_resp snapshot_resp;
		struct raft_msg_read_index read_index;
		struct raft_msg_read_index_resp read_index_resp;
	} u;
};

/* ---- Options and initial state ------------------------------------------ */

struct raft_options {
	uint32_t election_ticks_min;   /* timeout drawn from [min, max) */
	uint32_t election_ticks_max;
	uint32_t heartbeat_ticks;
	bool pre_vote;                 /* §9.6 of the thesis */
	bool check_quorum;             /* leader steps down without a quorum */
	uint32_t inflight_msgs_max;    /* appends in flight per follower */
	uint64_t inflight_bytes_max;   /* bytes in flight per follower */
	uint32_t msg_entries_max;      /* entries per append */
	uint64_t msg_bytes_max;        /* payload bytes per append */
	uint32_t apply_entries_max;    /* committed entries per update */
	uint64_t snapshot_entries;     /* snapshot once this many applied since */
	uint64_t snapshot_bytes;       /* ... or this many payload bytes */
	uint64_t trailing_entries;     /* kept below a snapshot for laggards */
	uint32_t snapshot_chunk_bytes; /* InstallSnapshot chunk size */
	uint64_t promote_distance;     /* auto-promote when this close */
	struct trace trace;            /* where trace lines go (may be empty) */
};

/* Sensible defaults for all options (ticks of ~10 ms in the server). */
void raft_options_default(struct raft_options *o);

struct raft_init {
	raft_id id;
	uint64_t seed;                 /* for election timeouts */
	struct raft_options options;
	/* Durable state as loaded by the embedder. */
	raft_term term;
	raft_id vote;
	const struct raft_snapshot_meta *snapshot; /* NULL: none */
	const struct raft_entry *entries; /* contiguous, after any snapshot or purge */
	uint32_t n_entries;
	/* A brand-new node of a new cluster: when there is no snapshot and no
	 * entry, the core writes this configuration as entry 1 of term 1, the
	 * same on every founding node (a term already on disk is kept). Give
	 * it on every start of a founding node, as etcd's initial cluster is:
	 * it is ignored once the log is on disk. NULL for a node that joins
	 * later. */
	const struct raft_config *bootstrap;
};

/* ---- The update --------------------------------------------------------- */

struct raft_read {
	uint64_t req_id;
	raft_index index; /* answer once applied >= index */
	int status;       /* KEEL_OK, or why the read failed (KEEL_ENOTLEADER...) */
};

struct raft_update {
	/* 1. persist (see the contract above) */
	bool hs_changed;
	raft_term term;
	raft_id vote;
	const struct raft_snapshot_chunk *snap_chunk; /* NULL: none */
	const struct raft_snapshot_meta *snap_install; /* NULL: none */
	raft_index truncate_from; /* 0: none */
	const struct raft_entry *entries;
	uint32_t n_entries;
	raft_index purge_below; /* 0: none */
	/* 2. messages */
	struct raft_msg *msgs_now;
	uint32_t n_msgs_now;
	struct raft_msg *msgs;
	uint32_t n_msgs;
	/* 3. apply */
	const struct raft_entry *committed;
	uint32_t n_committed;
	/* 4. reads */
	const struct raft_read *reads;
	uint32_t n_reads;
	/* 5. snapshot */
	bool snapshot_wanted;
	raft_index snapshot_index;
};

/* ---- Events ------------------------------------------------------------- */

struct raft;

/* Creates a node from its durable state. Returns NULL on invalid input
 * (with the reason in *err, may be NULL). Owned by the caller: raft_free. */
struct raft *raft_new(const struct raft_init *init, struct keel_errmsg *err);
void raft_free(struct raft *r);

void raft_tick(struct raft *r);
int raft_step(struct raft *r, const struct raft_msg *m);

/* Leader only: appends a command; *index and *term say where it will be
 * applied if it commits. KEEL_ENOTLEADER, KEEL_EBUSY (transferring),
 * KEEL_ETOOBIG. */
int raft_propose(struct raft *r, const void *data, uint32_t len,
		 raft_index *index, raft_term *term);

/* Asks for a linearizable read (thesis §6.4). The answer arrives in a later
 * update's reads. On a follower it is forwarded to the leader. */
int raft_read_index(struct raft *r, uint64_t req_id);

/* Leader only: one membership change at a time (thesis §4.1), and only once
 * the leader has committed an entry of its own term. KEEL_EBUSY otherwise. */
int raft_change(struct raft *r, enum raft_change_op op, raft_id id,
		const char *addr, bool auto_promote);

/* Leader only: hands leadership to a voter (thesis §3.10). */
int raft_transfer_leader(struct raft *r, raft_id to);

/* Asks for a snapshot now, on any node (an operator's RAFT SNAPSHOT):
 * it will cover *index, the applied index (or the latest snapshot's, when
 * nothing was applied since, and nothing is asked). KEEL_EBUSY while one
 * is being taken. */
int raft_snapshot_now(struct raft *r, raft_index *index);

/* Starts an election now (tests, and a follower told to campaign). */
int raft_campaign(struct raft *r);

/* The embedder's loop stalled for longer than a heartbeat (ticks are not
 * made up after a stall): a leader sends its heartbeat now rather than at
 * its next heartbeat tick, so its followers' silence ends with the stall.
 * Nothing on other nodes. */
void raft_heartbeat_now(struct raft *r);

/* Purges of the log after a snapshot keep every entry from index on
 * (0: no such limit), for readers of the log other than followers (the
 * server's read replicas). */
void raft_keep_log_from(struct raft *r, raft_index index);

void raft_persisted(struct raft *r, raft_index index, raft_term term);
void raft_snapshot_done(struct raft *r, raft_index index, uint64_t size,
			uint32_t crc);
void raft_snapshot_failed(struct raft *r);
void raft_fail(struct raft *r, int err);

bool raft_has_update(const struct raft *r);
void raft_update_get(struct raft *r, struct raft_update *u);
void raft_update_done(struct raft *r, struct raft_update *u);

/* ---- Introspection ------------------------------------------------------ */

raft_id raft_id_of(const struct raft *r);
enum raft_role raft_role_of(const struct raft *r);
/* "leader", "candidate", "precandidate", "follower", "learner" (also a
 * node not yet in its own configuration that a leader is catching up),
 * "joining" (no configuration, no leader yet), "removed", "stopped". */
const char *raft_role_name(const struct raft *r);
raft_term raft_current_term(const struct raft *r);
raft_id raft_voted_for(const struct raft *r);
raft_id raft_leader_of(const struct raft *r);
raft_index raft_commit_index(const struct raft *r);
raft_index raft_applied_index(const struct raft *r);
raft_index raft_last_index(const struct raft *r);
raft_index raft_first_index(const struct raft *r); /* first entry in memory */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index i);
raft_term raft_term_at(const struct raft *r, raft_index i); /* 0: unknown */
const struct raft_config *raft_config_of(const struct raft *r);
/* The index of the entry that set it (0: none). */
raft_index raft_config_index_of(const struct raft *r);
const struct raft_snapshot_meta *raft_snapshot_of(const struct raft *r);
bool raft_stopped(const struct raft *r);
/* Leader's view of a member's replication; false if unknown. */
bool raft_progress_of(const struct raft *r, raft_id id, raft_index *match,
		      raft_index *next);
/* Asserts every internal invariant (the simulator runs it after each step). */
void raft_check_invariants(const struct raft *r);

/* ---- Configurations ----------------------------------------------------- */

const struct raft_member *raft_config_find(const struct raft_config *c,
					   raft_id id);
bool raft_config_is_voter(const struct raft_config *c, raft_id id);
uint32_t raft_config_voters(const struct raft_config *c);
/* Encodes into buf (RAFT_CONFIG_BYTES_MAX); returns bytes written. */
#define RAFT_CONFIG_BYTES_MAX (4 + RAFT_MEMBERS_MAX * (8 + 1 + 1 + 1 + RAFT_ADDR_MAX))
uint32_t raft_config_encode(const struct raft_config *c, uint8_t *buf);
int raft_config_decode(struct raft_config *c, const uint8_t *buf, uint32_t len);

#endif
