/* raft/core.h — the Raft node's internal state, shared by the files of the
 * core (one concern each: election, replication, snapshot, read, membership).
 * Nothing outside src/raft/ includes this; the public API is raft/raft.h.
 *
 * Roles (Raft §5.2, thesis §9.6 for pre-vote):
 *
 *   FOLLOWER --timeout--> PRECANDIDATE --quorum of pre-votes--> CANDIDATE
 *      ^  ^                     |                                  |
 *      |  +---higher term / ----+          quorum of votes         v
 *      |      leader heard                                      LEADER
 *      +---------- higher term, lost quorum (check-quorum), removed ---+
 *
 *   raft_become_follower, raft_become_precandidate, raft_become_candidate
 *   and raft_become_leader (raft.c, election.c) make each transition.
 *   Learners and removed nodes stay followers: they never campaign. */
#ifndef KEEL_RAFT_CORE_H
#define KEEL_RAFT_CORE_H

#include "base/prng.h"
#include "raft/log.h"
#include "raft/raft.h"

/* Follower progress, as the leader sees it (etcd's Progress):
 *   PROBE      one append outstanding at a time, to find where logs match;
 *   REPLICATE  appends pipelined, bounded by the in-flight window;
 *   SNAPSHOT   the follower needs compacted entries: chunks are streamed. */
enum raft_pr_state {
	RAFT_PR_PROBE = 1,
	RAFT_PR_REPLICATE = 2,
	RAFT_PR_SNAPSHOT = 3,
};

#define RAFT_INFLIGHT_MAX 256

struct raft_inflight {
	raft_index last;
	uint64_t bytes;
};

struct raft_progress {
	raft_id id;
	raft_index match;
	raft_index next;
	uint8_t state;
	bool probe_sent;       /* PROBE: wait for a reply or the next heartbeat */
	bool recent_active;    /* heard from during this check-quorum round */
	uint64_t read_acked;   /* highest read_seq acknowledged in this term */
	struct raft_inflight infl[RAFT_INFLIGHT_MAX];
	uint32_t infl_head;
	uint32_t infl_n;
	uint64_t infl_bytes;
	/* SNAPSHOT: which snapshot, acknowledged and sent offsets */
	raft_index snap_index;
	raft_term snap_term;
	uint64_t snap_acked;
	uint64_t snap_sent;
	bool snap_moved;       /* an ack arrived since the last heartbeat */
	uint32_t snap_quiet;   /* ticks without an ack, counted at heartbeats */
	bool snap_rewind;      /* the receiver asked for an earlier offset ... */
	uint64_t snap_rewind_to; /* ... this one (acted on at the heartbeat) */
};

/* A read waiting for leadership confirmation (leader) or for the leader's
 * answer (follower). */
struct raft_pending_read {
	uint64_t req_id;
	raft_id from;          /* RAFT_ID_NONE: asked on this node */
	raft_index index;
	uint64_t seq;          /* confirmation round that must reach a quorum */
};

/* Growable arrays for the update's outputs. */
struct raft_msgs {
	struct raft_msg *v;
	uint32_t n;
	uint32_t cap;
};

struct raft_reads {
	struct raft_read *v;
	uint32_t n;
	uint32_t cap;
};

struct raft_pending_reads {
	struct raft_pending_read *v;
	uint32_t n;
	uint32_t cap;
};

/* What the next update will carry (raft.h, the update contract). */
struct raft_out {
	bool hs_changed;
	raft_index truncate_from;
	raft_index append_from;   /* first entry not yet handed out to persist */
	raft_index purge_below;
	bool has_chunk;
	struct raft_snapshot_chunk chunk;
	uint8_t *chunk_data;
	bool has_install;
	struct raft_snapshot_meta install;
	struct raft_msgs msgs_now;
	struct raft_msgs msgs;
	struct raft_reads reads;
	bool snapshot_wanted;
	raft_index snapshot_index;
	raft_index committed_to;  /* last index handed out to apply in this update */
};

struct raft {
	raft_id id;
	struct raft_options o;
	struct prng rng;
	struct trace trace;

	/* durable (as last handed out to persist) */
	raft_term term;
	raft_id vote;
	struct raft_log log;
	bool has_snap;
	struct raft_snapshot_meta snap;

	/* membership: the latest configuration in the log or snapshot is in
	 * force, committed or not (thesis §4.1) */
	struct raft_config config;
	raft_index config_index;

	/* volatile */
	uint8_t role;
	raft_id leader;
	raft_index commit;
	raft_index applied;        /* handed out to apply */
	raft_index persisted;      /* embedder's log durable through here */
	uint32_t elapsed;          /* ticks since the last reset of the timer */
	uint32_t timeout;          /* randomized election timeout */
	uint32_t leader_quiet;     /* ticks since a leader was last heard */
	raft_id votes_granted[RAFT_MEMBERS_MAX];
	uint32_t n_granted;
	raft_id votes_refused[RAFT_MEMBERS_MAX];
	uint32_t n_refused;
	bool campaign_transfer;    /* this campaign follows a TIMEOUT_NOW */

	/* leader */
	struct raft_progress prs[RAFT_MEMBERS_MAX];
	uint32_t n_prs;
	raft_index term_start;     /* index of this leader's no-op */
	uint32_t hb_elapsed;
	uint32_t cq_elapsed;
	uint64_t read_seq;
	raft_id transfer_to;
	uint32_t transfer_elapsed;
	bool broadcast_pending;    /* new entries to send at the next update */
	bool commit_pending;	   /* the commit index moved: followers are told at once */

	struct raft_pending_reads reads;

	/* snapshots and compaction */
	bool snapshotting;
	raft_index purged;         /* purge point: never moves back */
	raft_index keep_from;      /* the embedder's: purge nothing from here (0: none) */
	uint64_t bytes_since_snap;
	/* incoming snapshot */
	bool rx_active;
	struct raft_snapshot_meta rx_meta;
	uint64_t rx_offset;
	uint32_t rx_crc;

	struct raft_out out;
	bool in_update;
	bool stopped;
};

/* raft.c */
void raft_become_follower(struct raft *r, raft_term term, raft_id leader);
void raft_reset_timeout(struct raft *r);
void raft_set_term(struct raft *r, raft_term term);
void raft_set_vote(struct raft *r, raft_id vote);
void raft_send(struct raft *r, struct raft_msg *m);
bool raft_leader_sticky_vote(const struct raft *r, const struct raft_msg *m);
bool raft_term_at_known(const struct raft *r, raft_index i, raft_term *t);
bool raft_is_voter(const struct raft *r);
uint32_t raft_quorum(const struct raft *r);
void raft_trace(const struct raft *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* election.c */
void raft_election_start(struct raft *r, bool transfer);
void raft_become_leader(struct raft *r);
void raft_recv_vote(struct raft *r, const struct raft_msg *m);
void raft_recv_vote_resp(struct raft *r, const struct raft_msg *m);

/* replication.c */
void raft_recv_append(struct raft *r, const struct raft_msg *m);
void raft_recv_append_resp(struct raft *r, const struct raft_msg *m);
void raft_send_append(struct raft *r, struct raft_progress *pr, bool heartbeat);
void raft_broadcast(struct raft *r, bool heartbeat);
void raft_broadcast_commit(struct raft *r); /* the commit index moved */
void raft_maybe_commit(struct raft *r);
void raft_append_local(struct raft *r, uint8_t type, const void *data, uint32_t len);
void raft_truncate(struct raft *r, raft_index from);
struct raft_progress *raft_progress_find(struct raft *r, raft_id id);
void raft_progress_reset(struct raft *r);
void raft_progress_become_probe(struct raft_progress *pr);
void raft_progress_become_replicate(struct raft_progress *pr);

/* snapshot.c */
void raft_send_snapshot(struct raft *r, struct raft_progress *pr);
void raft_recv_snapshot(struct raft *r, const struct raft_msg *m);
void raft_recv_snapshot_resp(struct raft *r, const struct raft_msg *m);
void raft_snapshot_tick(struct raft *r, struct raft_progress *pr);
void raft_maybe_want_snapshot(struct raft *r);

/* read.c */
void raft_read_on_ack(struct raft *r);
/* A heartbeat is about to go out: it carries the round reads wait for. */
void raft_read_on_heartbeat(struct raft *r);
void raft_read_fail_all(struct raft *r, int status);
void raft_read_on_commit(struct raft *r);
void raft_recv_read_index(struct raft *r, const struct raft_msg *m);
void raft_recv_read_index_resp(struct raft *r, const struct raft_msg *m);
void raft_reads_push(struct raft_reads *v, uint64_t req_id, raft_index index, int status);

/* membership.c */
void raft_config_rebuild(struct raft *r);
void raft_config_apply_entry(struct raft *r, const struct raft_entry *e);
void raft_membership_on_commit(struct raft *r, raft_index old_commit);
void raft_maybe_promote(struct raft *r, struct raft_progress *pr);
void raft_transfer_tick(struct raft *r);
void raft_transfer_check(struct raft *r, struct raft_progress *pr);
void raft_recv_timeout_now(struct raft *r, const struct raft_msg *m);

#endif
