/* server/server.h — one keel node: its configuration, and the state the
 * server's files share (the event loop, the Raft core and its storage, the
 * keyspace, clients, requests in flight). One event-loop thread runs
 * everything here; the storage thread (storage/committer.h) only writes
 * and syncs, and wakes the loop through an async handle. */
#ifndef KEEL_SERVER_SERVER_H
#define KEEL_SERVER_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "io/fs.h"
#include "kv/kv.h"
#include "kv/snapshot.h"
#include "net/peer.h"
#include "raft/raft.h"
#include "replica/follow.h"
#include "replica/source.h"
#include "resp/buf.h"
#include "resp/parse.h"
#include "server/poison.h"
#include "storage/committer.h"
#include "storage/storage.h"

struct server_config {
	uint64_t id;
	char bind[64];
	char client_bind[4][64]; /* --client-bind: where the client port listens */
	uint32_t n_client_bind;	 /* 0: on bind */
	int port, peer_port;
	char dir[512];
	bool has_cluster; /* --cluster: the founding voters */
	struct raft_config cluster;
	uint32_t tick_ms;	      /* one Raft tick */
	uint32_t election_timeout_ms; /* a follower campaigns after [1x, 2x) this */
	uint32_t heartbeat_ms;	      /* the leader's heartbeat interval */
	uint32_t request_timeout_ms;  /* wait for a leader / a commit */
	uint64_t segment_bytes;
	uint64_t client_output_max; /* unread reply bytes before a client is closed */
	uint64_t client_query_max;  /* unexecuted input bytes before it is (Redis's
				     * client-query-buffer-limit) */
	uint64_t snapshot_entries;
	uint64_t trailing_entries; /* kept below a snapshot for slow followers */
	bool has_trailing;
	bool verbose;		  /* Raft trace lines on stderr */
	char join[128];		  /* --join host:port: ask that node to add this one */
	char replica_of[1024];	  /* --replica-of host:port[,...]: a read replica */
	bool replica_zstd;	  /* --replica-compress yes|no (offer zstd) */
	uint64_t replica_max_lag; /* entries of log kept for a replica this far behind */
	uint32_t databases;	  /* --databases: SELECT 0 .. databases-1 (kv/kv.h) */
	uint32_t shards;	  /* --shards: Raft groups, each a range of slots (cluster.c) */
	uint64_t piece_bytes;	  /* --reshard-piece-kb: a move's piece (migrate.c) */
	char sentinel_master[64]; /* --sentinel-master-name: the name clients ask for */
	int sentinel_port;	  /* --sentinel-port: another client listener (0: none) */
	char client_announce[64]; /* --client-announce host:port ("": derived) */
	uint64_t skip_entry;	  /* --skip-entry: the entry that failed (server/poison.h) */

	/* exactly-once sessions: idle this long, one expires (0: never); the
	 * table's bound in bytes (0: none) */
	uint64_t session_timeout_ms, session_max_bytes;
};

int server_config_parse(struct server_config *c, int argc, char **argv, struct keel_errmsg *err);
/* The election timing's bounds and defaults (as etcd's), in ms. */
#define SERVER_SHARDS_MAX	    1024 /* shards a node holds */
#define SERVER_META_GROUP	    1024 /* the metadata group's id on the wire */
#define SERVER_PIECE_KB_DEFAULT	    4096 /* a move copies at most this much a piece */
#define SERVER_PIECE_KB_MAX	    1048576
#define SERVER_ELECTION_MS_DEFAULT  1000
#define SERVER_HEARTBEAT_MS_DEFAULT 100
#define SERVER_ELECTION_MS_MAX	    60000
#define SERVER_TICK_MS_MAX	    1000
/* heartbeat_ms <= election_timeout_ms / this (etcd asks the same) */
#define SERVER_ELECTION_HEARTBEATS_MIN 5
/* The core's timing in ticks of tick_ms, from the checked settings. */
void server_config_timing(const struct server_config *c, struct raft_options *o);

struct server;
struct entry; /* server/entry.h */

/* A request from a client (or forwarded by a follower): its reply slot. */
struct creq {
	struct creq *next;     /* the client's reply order */
	struct client *client; /* NULL once the client has gone */
	struct group *g;       /* the group it is for (a key's slot's; else the first) */
	uint64_t fwd_peer;     /* forwarded: the follower to answer */
	uint64_t fwd_to;       /* follower side: the leader it was sent to */
	int64_t fwd_at;	       /* follower side: when */
	uint64_t fwd_id;
	uint64_t onward_id; /* forwarded, and sent on by this node: its copy's id */
	struct rbuf reply;
	bool done;
	int64_t deadline_ms;
	/* what it waits for */
	uint32_t n_cmds; /* > 1: MULTI/EXEC */
	struct rbuf cmd; /* entry_req_header and entry_cmd_append's bytes */
	bool is_read;
	uint32_t db;	/* a read: the database it runs in (a write's is in cmd) */
	bool admin;	/* a RAFT membership command, forwarded to the leader */
	bool here_only; /* a write this node checked as leader: proposed by it, or refused */
	uint32_t sends; /* a write: times proposed or forwarded (settle()) */
	/* one connection, one order (requests.c) */
	uint64_t seq;	       /* a write: its sequence number in the session */
	raft_index applied_at; /* a write: the entry it was applied at (0: none) */
	raft_index read_index; /* a read: its confirmed read index ... */
	bool index_known;      /* ... once known */
	bool deferred;	       /* a server command waiting for the ones before it */
	bool ordered;	       /* counted in its client's n_ordered */
	bool oversize;	       /* a write too large for a log entry: not copied */
	bool held;	       /* held behind what came before it (requests_hold) */
	bool crossing;	       /* ... as it is for another group than those before */
	uint8_t proto;	       /* the connection's protocol when it was sent */
	bool submitted;	       /* given to a group (request_submit) */
	bool slot_one;	       /* routed by a sharded node: every key in slot */
	uint16_t slot;
	/* refused for a slot being moved, held to be sent again (retry.c) */
	bool retrying, no_retry;
	uint32_t retries;
	int64_t retry_until, retry_next;
	struct fanout *fan; /* a keyspace command over the shards (fanout.c) */
	/* a node's own request (no client): called with the reply, then freed */
	void (*on_done)(struct server *s, struct creq *q);
	struct creq *answers; /* ... a client's request it answers (freed with it
			       * if discarded: requests_discard) */
};

#define CLIENT_ATTR_MAX 256 /* CLIENT SETNAME / SETINFO values, with their NUL */

struct client {
	uv_tcp_t tcp;
	struct server *s;
	uint64_t id;
	char name[CLIENT_ATTR_MAX];				  /* CLIENT SETNAME; "" for none */
	char lib_name[CLIENT_ATTR_MAX], lib_ver[CLIENT_ATTR_MAX]; /* CLIENT SETINFO */
	char addr[64];
	int proto;
	uint32_t db;		       /* SELECT: the database its commands run in */
	const struct kv_cmd *last_cmd; /* CLIENT LIST's cmd: NULL if unknown */
	int64_t last_ms;	       /* when its last command arrived */
	bool no_evict, no_touch;       /* CLIENT NO-EVICT / NO-TOUCH: shown only */
	uint64_t session, next_seq;    /* exactly-once: this connection's session */
	uint64_t acked_seq;	       /* every write up to it has been answered */
	uint64_t resumed_at;	       /* CLIENT SESSION <id> <seq>: clients.c */
	/* bit i: a write of it has gone to a leader of group i */
	uint64_t sent_write[SERVER_SHARDS_MAX / 64];
	struct client *next_in_session; /* the server's session map */
	/* one connection, one order (requests.c): reads wait for the writes
	 * answered before them to be applied here (those of need_group) */
	raft_index need_index;
	struct group *need_group;
	struct group *last_group; /* of its last request (sharded: requests_hold) */
	uint32_t n_crossing;	  /* requests held until those before are answered */
	uint32_t n_fanout;	  /* keyspace commands over the shards unanswered */
	uint32_t n_ordered;	  /* reads and deferred commands not yet run */
	bool in_order_list;
	struct rbuf in;
	size_t need;
	struct resp_req req;
	struct creq *head, *tail; /* replies in request order */
	uint32_t n_pending;
	bool closing, close_after_reply;
	bool dirty; /* on the server's list of clients to flush */
	struct client *next_dirty;
	bool paused; /* reading stopped: too many requests in flight */
	/* bounded work (clients.c): requests dispatched in this loop pass, and
	 * replies finished but not yet written; a client past its share, or
	 * with too much output unread, is held (reading stopped) */
	uint64_t pass_no;
	uint32_t pass_reqs;
	uint64_t out_bytes;
	uint64_t reply_est; /* the size its replies have had (0: none yet) */
	bool held;
	struct client *next_held;
	/* MULTI */
	bool in_multi, multi_error;
	struct rbuf multi; /* queued commands, as entry_cmd_append lays them out */
	uint32_t multi_n;
	uint32_t multi_db;	   /* the database after the queued SELECTs (db at EXEC) */
	struct group *multi_group; /* the queued commands' keys' group (NULL: none yet) */
	struct client *next;
	int64_t created_ms;
	struct repl_source *repl;   /* a replica's stream (KEEL.REPLICATE) */
	struct group *repl_group;   /* ... of this group's entries */
	struct client *next_stream; /* the server's list of them */
	uint32_t sentinel_subs;	    /* Sentinel event channels subscribed to */
	bool cluster_aware;	    /* redirected with -MOVED (cluster.c) */
	bool asking;		    /* sent ASKING: its next command may go to -ASK's shard */
	bool session_told;	    /* sent CLIENT SESSION: its numbers are its own */
	uint32_t n_retrying;	    /* requests held for a slot being moved (retry.c) */
	uint64_t renumber_below;    /* a held write numbered below it is numbered again */
};

struct pending {	  /* a proposed write, or a read waiting for its index */
	struct creq *req; /* a read's index, once known, is in the slot */
	raft_index index; /* writes: its entry */
	raft_term term;
	uint32_t cmd_first; /* writes: its commands' place in the entry */
	bool change;	    /* a membership change's configuration entry */
	uint64_t read_id;   /* reads */
	int64_t asked_ms;   /* reads: when the read index was asked for */
};

struct peer_batch { /* what goes to one peer at the end of a loop pass */
	uint64_t id;
	struct rbuf fwd; /* forwarded requests (FRAME_FORWARD) */
	struct rbuf rep; /* replies to its forwarded requests (FRAME_REPLY) */
};

struct held { /* an update's messages, sent once its persist is durable */
	uint64_t seq;
	raft_index last_index;
	raft_term last_term;
	struct raft_msg *msgs; /* deep copies */
	uint32_t n;
};

struct snap_bytes { /* a snapshot's bytes: mapped from a file, or on the heap */
	uint8_t *p;
	uint64_t len;
	bool mapped;	  /* by io_fs_posix()->map: the file's first map_off + len bytes */
	uint64_t map_off; /* ... p is that far into the mapping */
};

#define REPL_GONE_MAX 16
#define REPL_GONE_MS  60000 /* a departed replica's claim on the log */

/* A read replica's own state (server/replication.c): no Raft core; the
 * entries its source streams are applied, kept for replicas of its own,
 * and made durable in its storage. */
struct replica_node {
	struct repl_follow follow;
	uint64_t applied;      /* the last index applied: durable, what reads see */
	bool empty;	       /* nothing applied or installed yet */
	uint64_t term;	       /* the highest term stored (the hard state's) */
	uint64_t durable;      /* the last index applied and durable */
	uint64_t received;     /* the last index received (and handed to storage) */
	struct kv staged;      /* a snapshot's keyspace, in place once durable */
	uint64_t staged_index; /* ... its index (0: none) */
	struct {
		uint64_t seq, index;
	} * acks; /* storage batches not yet durable */
	uint32_t n_acks, cap_acks;
	struct repl_entry *win; /* entries held since the snapshot (data owned) */
	uint64_t win_first;
	uint32_t n_win, cap_win;
	struct repl_accept incoming; /* a snapshot being received */
	struct kv_restore restore;   /* ... restored as it arrives */
	bool restoring;
	uint32_t snap_crc; /* ... of its bytes so far */
	int64_t snap_begun_ms;
	uint64_t since_snap; /* entries applied since the last snapshot */
	uint64_t keep_from;  /* replicas of this one still need entries from here */
	/* a replica of a sharded cluster: the group's members, as its source
	 * last told them (TOPOLOGY; what CLUSTER SLOTS answers here) */
	struct repl_topology topo;
	bool has_topo;
};

/* An embedder's hooks: several servers in one process, on its thread
 * (the whole-node simulator, tests/nsim/world.h). Set server.embed before
 * server_start; NULL in keel-server. An embedded server runs the same code
 * but: the storage thread is replaced by the committer's manual mode
 * (storage/committer.h: queued() is called at each submit and the
 * embedder calls committer_step later, with the server's host current);
 * snapshots are written in-process instead of in a forked child
 * (server/snapshots.c); no signal handler is installed for the fatal path
 * (server/poison.c). Files, clocks and randomness go through the io/
 * getters, as always. */
struct server_embed {
	void (*queued)(void *ctx, struct committer *c);
	void *queued_ctx;
};

/* A Raft group: one replicated keyspace, with its core, its log and
 * snapshots in storage, its requests in flight and its replica sources. A
 * node (struct server) holds its groups and everything they share: the
 * loop, the client and peer connections, the configuration, the storage
 * thread. Today a node holds one group (docs/architecture.md). */
struct group {
	struct server *node;
	uint32_t id;	       /* 0 .. shards - 1; SERVER_META_GROUP: the metadata group */
	char dir[IO_PATH_MAX]; /* its storage: --dir, --dir/shard-<id> past group 0, --dir/meta */
	bool meta;	       /* the metadata group: its keyspace holds the slot map */
	/* a shard added to a running cluster: its first members (else --cluster) */
	const struct raft_config *founders;
	/* a shard placed on some nodes (KEEL.ADDSHARD id...): their ids (none:
	 * on every node); outside: this node is not one of them, and holds the
	 * shard empty, never a member: its requests go to them (requests.c) */
	raft_id placed[KV_SHARD_MEMBERS_MAX];
	uint32_t n_placed;
	bool outside;
	uint32_t outside_at;	      /* ... the member they go to (placed[outside_at]) */
	raft_id lead_hint;	      /* ... its leader, as its LEADS frames say (0: none) */
	raft_term lead_term;	      /* ... in this term (the highest heard) */
	bool led_seen; /* a leader of it seen since its list last changed (groups_place) */
	bool wiped; /* taken off it: its keyspace freed (group_wipe), rebuilt if listed again */
	uint64_t wiped_digest;	      /* ... what it held (the rebuild must hold the same) */
	struct replica_node *replica; /* NULL: a Raft member */
	struct client *streams;	      /* clients that are replicas' streams */
	uint32_t n_streams;
	struct repl_batch_cache repl_cache[2]; /* replicas' batches, by codec */
	int64_t repl_topo_ms;		       /* its members last told to them */
	struct repl_gone {		       /* streams that ended lately */
		char name[64];
		uint64_t need; /* the entry they would resume from */
		int64_t until_ms;
	} repl_gone[REPL_GONE_MAX];
	uint32_t n_repl_gone;
	struct storage *st;
	struct raft *r;
	struct kv kv;
	struct raft_config peer_config; /* the members peers are kept to */
	struct gone {			/* members a configuration dropped */
		uint64_t id;
		raft_index config_index;
		int64_t until_ms, next_notice_ms;
	} gone[RAFT_MEMBERS_MAX];
	uint32_t n_gone;
	bool was_member;
	/* the metadata group's leader bringing it to the cluster's members
	 * (server/conform.c): a change sent to its leader, and when to look again */
	bool conform_busy;
	int64_t conform_retry_ms;
	raft_index removed_at;	 /* the configuration that removed this node */
	/* ... of a placed shard that lists it again: waits for a newer one (its
	 * leader's, adding it) as outside, and believes no notice till then */
	raft_index relisted_past;
	int64_t prevote_listed_ms; /* pre-votes sent to a placed shard's listed nodes until */
	int64_t last_entry_time; /* of the last applied command entry */
	struct poison poison;	 /* an entry that failed to apply (server/poison.h) */
	uint64_t expire_cursor;	 /* active expiry's place in the keyspace: */
	uint32_t expire_db;	 /* ... a database, and a cursor in it */
	uint64_t sweep_ticks;
	/* persistence */
	uint64_t durable_seq;
	bool storage_failed; /* seen and handled (group_storage_failed) */
	struct held *held;
	uint32_t n_held, cap_held;
	/* snapshots (server/snapshots.c): the latest one's bytes, to send */
	struct raft_snapshot_meta snap;
	struct snap_bytes snap_bytes;
	bool have_snap;
	raft_id snap_track_to; /* the follower whose chunks are checked as sent */
	raft_index snap_track_index;
	uint64_t snap_track_off; /* ... up to here */
	uint32_t snap_track_crc;
	bool snap_damaged; /* its file is damaged: the node stops */
	uint8_t *incoming; /* one being received */
	uint64_t incoming_size;
	raft_index incoming_index; /* ... its index and term */
	raft_term incoming_term;
	struct raft_snapshot_meta taking; /* one being taken */
	struct snap_bytes taking_bytes;
	pid_t snapshot_child;	  /* 0: none */
	pid_t snapshot_exiting;	  /* a child that reported, not reaped yet (0: none) */
	uv_pipe_t *snapshot_pipe; /* from the child; freed once closed */
	bool snapshot_saving;
	uint8_t snapshot_res[12];
	size_t snapshot_res_got;
	uint64_t snapshot_seq;
	int64_t snapshot_started_ms;
	bool snapshot_raised;  /* the child's priority was raised (raise_child) */
	bool snapshot_written; /* embedded: written in-process, not yet reported */
	/* requests */
	struct pending *writes, *reads;
	uint32_t n_writes, cap_writes, n_reads, cap_reads;
	uint64_t next_read_id;
	struct creq **pass_writes; /* the writes of this loop pass: one entry */
	uint32_t n_pass_writes, cap_pass_writes;
	size_t pass_bytes;
	uint64_t read_batch_id; /* the reads of this loop pass */
	bool read_batch_open;
	struct creq **waiting; /* no leader yet */
	uint32_t n_waiting, cap_waiting;
	struct creq **forwarded; /* follower: sent to the leader */
	uint32_t n_forwarded, cap_forwarded;
	uint64_t next_fwd_id;
	struct peer_batch batches[RAFT_MEMBERS_MAX]; /* this pass's frames, a peer each */
	uint32_t n_batches;
	struct rbuf entry; /* the entry of the pass's writes, being built */
	/* quiescence (server/quiet.c) */
	bool quiet;	       /* not ticked: idle, its leader's node live */
	uint64_t quiet_leader; /* a quiet follower: the leader that quieted it */
	uint32_t idle_ticks;   /* a leader: ticks in a row with nothing to do */
	raft_index idle_index; /* ... and its last index then */
	bool beat_due;	       /* woken as leader: a heartbeat now (group_process) */
	bool synced;	       /* members_sync has run (group_process) */
};

struct server { /* a node */
	struct server_config cfg;
	const struct server_embed *embed; /* NULL: a process of its own */
	uv_loop_t *loop;
	uv_tcp_t listeners[8]; /* the client port, then the Sentinel port, on each address */
	uint32_t n_listeners;
	uv_timer_t tick;
	uv_idle_t tick_idle; /* a tick is due: poll without blocking, then run it */
	bool tick_due;
	bool tick_stalled;     /* ... after a gap of more than a heartbeat */
	uint64_t tick_last_ns; /* when the tick timer last fired (monotonic) */
	uv_async_t wake;
	uv_signal_t sigterm, sigint;
	struct committer *com;
	/* a node of several groups: the storage journal (storage/journal.h),
	 * opened by groups_open and the committer's once server_start has
	 * started it */
	struct journal *journal;
	struct peers *peers;
	struct heard {
		uint64_t id;
		int64_t ms;
		uint64_t incarnation; /* its last LIVE frame's (0: none yet) */
	} heard[PEERS_MAX];	      /* when each peer was last heard from */
	uint32_t n_heard;
	struct { /* --join: asking a member to add this node */
		uv_tcp_t tcp;
		uv_connect_t req;
		uv_timer_t retry;
		struct rbuf in;
		uv_write_t write;
		char cmd[300]; /* what write sends: kept until it is done */
		int tries;
		bool active, tcp_open;
	} join;
	uv_check_t check; /* the end of each loop pass */
	/* clients */
	struct client *clients;
	struct client *dirty;	     /* with replies to write at the end of the pass */
	struct client *held_clients; /* with input left for a later pass (clients.c) */
	uint64_t pass_no;	     /* loop passes, counted by clients_resume */
	struct creq *creq_pool;	     /* finished requests, kept for the next ones */
	struct creq **retrying;	     /* held for a slot being moved (retry.c) */
	uint32_t n_retrying, cap_retrying;
	uint32_t n_creq_pool;
	struct rbuf out;       /* a client's replies, gathered for one write */
	struct resp_arg *argv; /* a read's arguments, decoded */
	uint32_t cap_argv;
	struct rbuf *replies; /* an applied entry's replies, a request each */
	uint32_t cap_replies;
	uint64_t next_client_id;
	uint32_t n_clients;
	struct client **order_clients; /* with reads or deferred commands to run */
	uint32_t n_order_clients, cap_order_clients;
	bool answering;		  /* requests_answer_reads is running */
	struct client **sessions; /* session id -> client, chained */
	uint32_t sessions_cap;
	/* state */
	bool stopping, closed;
	bool loop_handles; /* tick, wake, check, signals, join: initialised */
	bool handing_over; /* stopping: leadership is being transferred (a member: g->r) */
	int64_t stop_deadline;
	int exit_code;
	struct {
		uint64_t commands, writes, reads, forwarded, applied_entries;
		uint64_t skipped_entries;	     /* command entries that did not decode */
		uint64_t slot_retries, slot_gave_up; /* server/retry.c */
		uint64_t snapshots_started, snapshots_taken, snapshots_installed;
		uint64_t snapshot_build_ms, snapshot_total_ms, snapshot_bytes_received;
		uint64_t snapshot_fork_us;  /* the loop's pause for the last fork() */
		uint64_t snapshot_restarts; /* a transfer of one snapshot begun again */
		uint64_t loop_stall_max_ms; /* the longest gap between two ticks */
		uint64_t loop_stalls;	    /* gaps of more than a heartbeat */
	} stats;
	int64_t started_ms;
	/* its groups (server_start to server_free): --shards of them, group i
	 * serving the i-th of equal ranges of slots (cluster.c) */
	struct group **groups;
	uint32_t n_groups;	 /* every group: the shards, then the metadata group */
	uint32_t n_shards;	 /* groups[0 .. n_shards - 1]: shard i is groups[i] */
	struct group *g;	 /* groups[0]: what node-wide answers show (RAFT, INFO raft) */
	struct group *meta;	 /* the metadata group (NULL on a node of one shard) */
	struct migrate *migrate; /* driving a migration (server/migrate.c); NULL: not */
	uint64_t migrate_epoch;	 /* the last epoch it drove one at */
	int64_t migrate_hand_ms; /* when it may next hand the metadata group on */
	struct rbuf leads;	 /* the LEADS frame it sends (requests_leads) */
	uint32_t n_quiet;	 /* groups not ticked (server/quiet.c) */
	uint64_t *quiet_bits;	 /* bit i: groups[i] is quiet (NULL: none has been) */
	uint32_t live_ticks;	 /* ticks since this node's last LIVE frames */

	/* the metadata group's entries that added the shards not yet opened
	 * (server/shards.c: their first members are the configuration then) */
	raft_index grow_at[8];
	/* ... and the nodes each was placed on then (n 0: every node): the
	 * map's list may have changed by the time the shard is opened */
	struct kv_shard_members grow_placed[8];
	uint32_t n_grow_at;
	/* removed from the cluster, it holds folders of shards past its map
	 * (groups_left): groups_open_left is to open them */
	bool left;
};

/* The group whose members are the cluster's: the metadata group on a node
 * of several shards (every shard's members are among its, and a node just
 * added is in it before any shard's leader has added it), else the node's
 * one group. */
static inline struct group *server_cluster(const struct server *s)
{
	return s->meta ? s->meta : s->g;
}

/* server/node.c: a node's life (start, the loop's callbacks, shutdown). */
int server_start(struct server *s, struct keel_errmsg *err);
void server_process(struct server *s); /* carries out every pending update */
void server_stop(struct server *s);
void server_free(struct server *s); /* after uv_run has returned */
/* A crash's last moment, for an embedder: closes every libuv handle the
 * server holds with their usual close callbacks, and sends, replies and
 * writes nothing. Once the loop has run those callbacks, nothing is open. */
void server_halt(struct server *s);
/* After server_halt's close callbacks have run: frees all of the server's
 * memory, writing nothing to disk (what is queued for storage is dropped). */
void server_discard(struct server *s);
int64_t server_now_ms(void);

/* server/shards.c: a node's groups (--shards), each recovered from its
 * folder; refused if the data was made with another count. */
int groups_open(struct server *s, struct keel_errmsg *err);
/* Opens the shards the metadata group's map counts past those the node
 * holds (KEEL.SLOTS ADD applied); a failure is the node's end. */
int groups_grow(struct server *s, struct keel_errmsg *err);
/* Whether --dir holds the folder of shard s->n_shards: one past the map
 * this node holds. */
bool groups_left(const struct server *s);
/* A node removed from the cluster: the shards whose folders it holds past
 * its map's count (added by entries of the metadata
 * group it applied before it last stopped, past its snapshot of the map:
 * removed, it learns no commit index again, so it never applies them
 * again), are opened from their own logs, founding nothing, so that it
 * takes part in them until each drops it (a shard of two voters, this
 * node one, has no quorum without it); a failure is the node's end. */
int groups_open_left(struct server *s, struct keel_errmsg *err);
/* Each placed shard's nodes made the map's (KEEL.PLACESHARD), every tick:
 * a node newly listed takes part in the shard (its leader adds it); one
 * no longer listed stays a member until the shard's configuration drops
 * it, then sends the shard's requests to the listed nodes (outside). */
void groups_place(struct server *s);
/* After the metadata group applied entry `at` (its map counting `before`
 * shards before it): notes the shards it added. */
void groups_added_at(struct server *s, raft_index at, uint32_t before);
/* Whether shard g is placed on node id (a shard on every node: true). */
bool group_placed_on(const struct group *g, raft_id id);
/* Whether this node has seen a leader of placed shard g since its list
 * last changed (its own copy's, or one a LEADS frame named). */
bool group_led_seen(const struct group *g);
/* Whether this node, listed again on placed shard g after it was removed
 * from it, still waits for its leader to add it: it holds no
 * configuration past the one that removed it. Never removed
 * (relisted_past 0), true only for a group with no configuration yet,
 * which holds no seat either: it believes no REMOVED notice (members.c;
 * a node outside a placed shard, never its member, was told it was
 * removed and failed its forwarded requests in flight). */
bool group_waits_added(const struct group *g);
/* The group of wire id `id` (net/frame.h), or NULL if this node holds none. */
struct group *groups_find(struct server *s, uint32_t id);
/* The slots group g starts with (a replica's handshake checks them): shard
 * i of --shards N its i-th range; the metadata group, a shard added later
 * and a node of one shard, every slot. */
void group_first_slots(const struct server *s, const struct group *g, uint16_t *first,
		       uint16_t *last);
/* server/group.c: one Raft group, driven by the update contract. */
int group_open(struct group *g, struct keel_errmsg *err); /* recovery from its storage */
/* The options every group's storage is opened with. */
void group_storage_options(const struct server *s, struct storage_options *o);
void group_process(struct group *g);			  /* carries out its pending updates */
/* Nothing for group_process to do: no update, nothing held or durable to
 * see, no snapshot at work, its peers in step with its configuration
 * (they change only with an update). */
bool group_settled(const struct group *g);
/* A copy of a shard this node was taken off (its removal committed, the
 * shard placed on other nodes): its keyspace freed, the log and snapshot
 * kept; false (nothing done) if what it applied could not be rebuilt from
 * them (a snapshot being taken, entries no longer in memory). */
bool group_wipe(struct group *g);
/* Listed again: the keyspace rebuilt as it was, from the snapshot's bytes
 * and the entries applied after it, before anything new is applied. */
void group_unwipe(struct group *g);
/* An empty keyspace as g's log starts one (its databases, and its shard:
 * the slots it checks), seeded by seed: g's own at its start, and one a
 * read replica restores a snapshot into before it takes g's place. */
void group_kv_init(const struct group *g, struct kv *kv, uint64_t seed);
/* Applies a committed entry to the keyspace (members and replicas alike). */
void group_apply(struct group *g, const struct raft_entry *e);
void group_tick(struct group *g, bool stalled);
void group_on_raft(struct group *g, uint64_t from, const uint8_t *p, size_t n);
/* The voter that should lead g on a node of several groups (0: none). */
raft_id group_preferred_leader(const struct group *g);
/* On g's leader: whether member id is connected and holds every entry of
 * its log but the last `lag` (with 0, a leadership transfer to it is
 * quick and loses nothing). */
bool group_caught_up(const struct group *g, raft_id id, raft_index lag);
bool group_hand_over(struct group *g); /* stopping: a transfer of leadership begun */
void group_free(struct group *g);
/* A storage failure (rc, and what failed): the core stops, the requests in
 * flight are answered "not applied", the node shuts down and exits 1.
 * Once: a second failure changes nothing. */
void group_storage_failed(struct group *g, int rc, const char *why);

/* server/quiet.c: quiescence on a node of several groups (docs/shards.md):
 * a leader whose group has had nothing to do for a few heartbeats tells
 * its followers and stops ticking it; a follower so told stops too while
 * the leader's node is heard from (LIVE frames, one a node pair each
 * heartbeat interval); anything for the group wakes it. A node of one
 * group never quiets it and sends no LIVE frame. */
/* The node's tick, before its groups' (LIVE frames, liveness checks). */
void quiet_tick(struct server *s);
/* A leader's tick, or that of a shard held empty outside its placement:
 * true if the group is now quiet (it is not ticked). */
bool quiet_leader_tick(struct group *g);
/* The first group at or past index i that is not quiet (n_groups: none):
 * the loops that run every pass visit only these. A quiet group has no
 * update, request, read or forward, nothing held and no snapshot at work:
 * whatever would give it one wakes it first. */
uint32_t server_next_awake(const struct server *s, uint32_t i);
#define SERVER_FOR_AWAKE(s, i)                                        \
	for (uint32_t i = server_next_awake(s, 0); i < (s)->n_groups; \
	     i = server_next_awake(s, i + 1))
/* Wakes g if it is quiet (by: the peer whose frame woke it, 0: this node). */
void group_wake(struct group *g, uint64_t by);
void quiet_on_frame(struct group *g, uint64_t from, const uint8_t *p, size_t n);
void quiet_on_live(struct server *s, uint64_t from, const uint8_t *p, size_t n);
/* A peer's Raft message for a quiet leader's group: true if it was taken
 * and left the group with nothing to do (it stays quiet). */
bool quiet_leader_step(struct group *g, const struct raft_msg *m);

/* server/members.c: peers kept to the configuration; removal. */
void members_sync(struct group *g);
void members_tick(struct group *g);
/* Before a peer's frame is handled: false to drop it. */
bool members_on_frame(struct group *g, uint64_t from, uint8_t kind, const uint8_t *p, size_t n);
void members_on_msg(struct group *g, const struct raft_msg *m);
/* Whether g, a shard this node was removed from, was taken off this node
 * with the node still in the cluster (placed on other nodes, or the map
 * placing it is still to be applied here) rather than the node removed
 * from the cluster (the metadata group's removal, or a one-group node's). */
bool members_taken_off(const struct group *g);
/* Whether a group of the node still has it as a member (a node removed
 * from the cluster is out of it, and may be stopped, once none has). */
bool members_seated(const struct server *s);
/* After the core took m: a connection back to a leader it follows that is
 * not in its configuration. */
void members_follow_leader(struct group *g, const struct raft_msg *m);
int64_t server_last_heard(const struct group *g, uint64_t id); /* 0: never */
/* A member's frame for no group (LIVE): heard from, as a group's frames. */
struct heard *members_heard(struct server *s, uint64_t from); /* NULL: not a member */

/* server/snapshots.c: snapshots taken in a child process, sent, received. */
void snapshots_want(struct group *g, raft_index index); /* the core asked */
void snapshots_check(struct group *g);			/* saved yet? */
bool snapshots_busy(const struct group *g);
void snapshots_chunk(struct group *g, const struct raft_snapshot_chunk *c);
void snapshots_install(struct group *g, const struct raft_snapshot_meta *m);
/* A chunk of the snapshot (p, len at offset) is about to be sent to a
 * follower: false if it must not be (its file is damaged). */
bool snapshots_sending(struct group *g, raft_id to, uint64_t offset, const uint8_t *p,
		       uint32_t len);
/* Kills a child still at work; its file is removed unless crash (the
 * embedder's server_halt: nothing is written, recovery removes it). */
void snapshots_stop(struct group *g, bool crash);
void snapshots_free(struct group *g);

/* server/requests.c: the write and read paths, forwarding, timeouts. */
void request_submit(struct group *g, struct creq *q, bool is_read);
/* Shard g placed on other nodes (g->outside): the member this node sends
 * its requests to, a connected one, its leader if known (RAFT_ID_NONE:
 * none is connected). */
raft_id requests_outside_member(struct group *g);
/* A peer's LEADS frame: the placed shards it leads, learned by the shards
 * this node is outside of (a malformed one is ignored). */
void requests_on_leads(struct server *s, uint64_t from, const uint8_t *p, size_t n);
/* The LEADS frame this node sends its peers beside LIVE (quiet.c): the
 * placed shards it leads, into *out (left empty: the map places none). */
void requests_leads(struct server *s, struct rbuf *out);
void requests_on_applied(struct group *g, const struct raft_entry *e, struct rbuf *replies,
			 uint32_t n_replies);
/* A membership change this leader has just proposed (its configuration
 * entry the last of the log): q is answered +OK once that entry is applied
 * here, -TRYAGAIN (not applied) if another entry takes its index, and
 * -TIMEOUT (it may yet take effect) at the request timeout. */
void requests_await_change(struct group *g, struct creq *q);
/* A write of (session, seq) is about to be applied: the reads its
 * connection sent before it run now, if they have not yet. */
void requests_before_write(struct group *g, uint64_t session, uint64_t seq);
/* After a snapshot is installed: the reads sent before a write it holds
 * that did not run are refused. */
void requests_after_install(struct group *g);
/* A server command to run once the requests sent before it are answered:
 * false if it may run at once. */
bool requests_defer(struct group *g, struct client *c, struct creq *q, const struct resp_arg *argv,
		    uint32_t argc);
/* A write of a connection that resumed its session (CLIENT SESSION id seq)
 * and has requests before it not yet answered: held until they are, then
 * submitted (true), so that an entry of the session applied meanwhile is
 * known to be an earlier connection's (requests_before_write); false if
 * it may go at once. */
bool requests_hold(struct group *g, struct client *c, struct creq *q, bool is_read);
void requests_on_reads(struct group *g, const struct raft_read *rd, uint32_t n);
void requests_answer_reads(struct server *s); /* every group's, in each connection's order */
void requests_flush_reads(struct group *g);   /* asks for the pass's read index */
void requests_flush_writes(struct group *g);  /* proposes the pass's writes */
void requests_flush_peers(struct group *g);   /* sends the pass's forwards and replies */
/* The batch of what goes to peer id at the end of this pass. */
struct peer_batch *peer_batch_of(struct group *g, uint64_t id);
void requests_tick(struct group *g);
void requests_on_frame(struct group *g, uint64_t from, uint8_t kind, const uint8_t *p, size_t n);
void requests_fail_all(struct group *g, const char *err);
/* A request for a placed shard this node was just removed from: the next
 * one goes to the shard's nodes (groups_place). */
#define ERR_TAKEN_OFF                                                                 \
	"-TRYAGAIN this node no longer holds the shard (placed on other nodes); the " \
	"request was not applied"

/* A crash (server_discard): the requests in flight are freed, unanswered. */
void requests_discard(struct group *g);

/* server/replication.c: read replicas (SPEC.md §5), both ends. */
/* KEEL.REPLICATE: the connection becomes a replica's stream of the group
 * it names (group 0 if none). */
void replication_attach(struct server *s, struct client *c, struct creq *q,
			const struct resp_arg *argv, uint32_t argc);
void replication_recv(struct client *c, const uint8_t *p, size_t n);
void replication_detach(struct client *c);		 /* its connection closed */
void replication_pump(struct group *g);			 /* sends what the streams may send */
void replication_info(struct server *s, struct rbuf *o); /* INFO replication */
/* A replica node: recovery from storage (opened), then its stream. */
int replica_start(struct group *g, struct keel_errmsg *err);
void replica_process(struct group *g); /* durable acks, snapshots */
/* snapshots.c: one it took is adopted and durable; false if overtaken. */
bool replica_snapshot_taken(struct group *g);
uint64_t replica_term_at(const struct group *g, uint64_t index); /* 0: unknown */
void replica_stop(struct group *g);
void replica_info_raft(struct group *g, struct rbuf *o);
void replication_free(struct group *g);

/* server/clients.c: client connections. */
int clients_listen(struct server *s, struct keel_errmsg *err);
void client_send(struct client *c, const uint8_t *p, size_t n); /* raw bytes */
size_t client_queued(const struct client *c);			/* bytes not yet written */
void client_drop(struct client *c);
/* A request's slot, owned by the client c (NULL: by the server). */
struct creq *creq_new(struct server *s, struct client *c);
void creq_finish(struct server *s, struct creq *q); /* q->reply is ready */
void creq_free(struct server *s, struct creq *q);
void clients_free(struct server *s);  /* the kept slots and reply buffer */
void clients_flush(struct server *s); /* writes the replies this pass finished */
/* The start of a loop pass's end: clients held back go on with their input. */
void clients_resume(struct server *s);
/* True (and the client is being closed, as Redis closes one past its
 * client-output-buffer-limit) if c's unwritten replies are past the
 * limit: checked before a reply is built. */
bool client_output_full(struct client *c);
void clients_close_all(struct server *s);
void client_set_session(struct client *c, uint64_t id);
/* The ack a write (seq) of c to group g carries (clients.c). */
uint64_t client_ack(const struct client *c, const struct group *g, uint64_t seq);
void client_sent_write(struct client *c, const struct group *g); /* one went to g's leader */
struct client *client_by_session(struct server *s, uint64_t id); /* NULL: none here */

/* server/addrs.c: where the members serve clients, and their node ids. */
struct node_addr {
	uint64_t id;
	char host[FRAME_ADDR_MAX];
	int port;	   /* its client port */
	int sentinel_port; /* 0: none */
	int peer_port;	   /* its Raft peer port (0: not known) */
	bool up;	   /* this node itself, or its peer connection is up */
	bool voter;
};
/* Where this node serves clients: --client-announce, else its first
 * client address that is not 0.0.0.0, else --bind. */
void addr_self(const struct server *s, struct node_addr *a);
/* Member id's client address: false if it is not a member, or has not
 * told this node (it has not connected yet, or does not tell). */
bool addr_member(struct server *s, uint64_t id, struct node_addr *a);
/* The leader of group g (true), or this node (false: no leader is known
 * here, or not where it serves clients, or this node's peer link to it is
 * down). The members are every group's (addr_member: the first group's
 * configuration, which every group of a sharded node shares). */
bool addr_leader(struct server *s, struct group *g, struct node_addr *a);
/* The members but `but` whose client address is known, into out (room for
 * RAFT_MEMBERS_MAX); their number. */
uint32_t addr_others(struct server *s, uint64_t but, struct node_addr *out);
/* A node's 40-character id (SENTINEL MYID, CLUSTER MYID): its Raft id in
 * hex, zero-padded. */
void addr_node_id(uint64_t id, char out[41]);

/* server/cluster_replica.c: the Redis Cluster protocol on a read replica
 * of a sharded cluster. */
/* CLUSTER MYID's id: a member's Raft id, or a replica's --id, zero-padded
 * (addr_node_id); a replica without --id, one made from its address. */
void cluster_my_id(const struct server *s, char out[41]);
/* CLUSTER SLOTS, SHARDS, NODES or INFO (sub, lower case) on a sharded
 * replica, into o. */
void cluster_replica_topology(struct server *s, struct client *c, struct rbuf *o, const char *sub);

/* server/cluster.c: the Redis Cluster protocol over the node's groups. */
/* The shard serving a hash slot, by the slot map as this node's
 * metadata group has applied it. */
struct group *cluster_slot_group(struct server *s, uint16_t slot);
/* The slot map's runs: calls fn for each range of consecutive slots of
 * one shard, in slot order. */
void cluster_runs(struct server *s,
		  void (*fn)(void *ctx, uint16_t first, uint16_t last, struct group *g), void *ctx);
/* g's slots as INFO shards shows them: "0-5460 6000" ("none": none). */
void cluster_slots_text(struct server *s, struct group *g, struct rbuf *out);
/* ... as CLUSTER NODES shows them: " 0-5460 6000" ("": none). */
void cluster_ranges_text(struct server *s, struct group *g, struct rbuf *out);
/* g's runs of slots: each one's first and last appended to ints as RESP
 * integers (NULL: counted only); their number. */
uint32_t cluster_shard_runs(struct server *s, struct group *g, struct rbuf *ints);
/* The group a data command's keys are in (the first group on a node of
 * one); NULL, with q answered (-CROSSSLOT, or no key on a node of several
 * groups), if there is none. */
struct group *cluster_route(struct server *s, struct creq *q, const struct kv_cmd *cmd,
			    const struct resp_arg *argv, uint32_t argc);
/* A data command queued in MULTI: true if its keys are in the group of
 * those queued before it (the transaction's, then); else false, with the
 * error in q's reply. */
bool cluster_multi_route(struct server *s, struct client *c, struct creq *q,
			 const struct kv_cmd *cmd, const struct resp_arg *argv, uint32_t argc);
/* The group of a data command's keys in *g: 1; 0 if it has none (*g the
 * first group); -1 if they are in several groups. A command whose
 * arguments do not fit its key specs is the first group's (it fails
 * there with its own error). */
int cluster_keys_group(struct server *s, const struct kv_cmd *cmd, const struct resp_arg *argv,
		       uint32_t argc, struct group **g);
/* server/fanout.c: DBSIZE KEYS RANDOMKEY FLUSHDB FLUSHALL over every
 * shard, SCAN over the one its cursor names, on a node of several. */
struct fanout;
enum fanout_kind { FANOUT_DBSIZE, FANOUT_KEYS, FANOUT_RANDOMKEY, FANOUT_FLUSH, FANOUT_SCAN };
/* What a part's reply (a shard's RESP2 answer to the part's command of
 * that kind) holds: false if it is not such a reply, whole (from peers,
 * its bytes are checked like any input). */
struct fanout_part {
	bool error;	 /* an error line */
	int64_t n;	 /* DBSIZE: the count; KEYS: its keys */
	size_t at;	 /* KEYS: where its keys start; SCAN: where its array of keys does */
	bool key;	 /* RANDOMKEY: a key, not nil */
	uint64_t cursor; /* SCAN: the shard's next cursor */
};
bool fanout_part_read(int kind, const uint8_t *p, size_t n, struct fanout_part *out);
/* SCAN's cursor p..n (as Redis reads it: "" is 0, "-1" wraps; no space,
 * nothing after) as a shard below shards and that shard's own cursor. */
bool fanout_cursor_read(const uint8_t *p, size_t n, uint32_t shards, uint32_t *shard,
			uint64_t *inner);
/* The cursor of this node that follows a shard's next cursor inner (0:
 * the shard's scan is done); false past what a cursor can name. */
bool fanout_cursor_next(uint32_t shard, uint64_t inner, uint32_t shards, uint64_t *cursor);
bool fanout_is(const struct server *s, const struct resp_arg *argv, uint32_t argc);
/* Runs one: q is a client's request, every one before it answered; the
 * ones after it are held until it is (client.n_fanout, counted when it
 * came). */
void fanout_run(struct server *s, struct creq *q, const struct resp_arg *argv, uint32_t argc);
void fanout_free(struct fanout *f);
/* Notes a command that makes c a cluster-aware connection (CLUSTER SLOTS,
 * SHARDS, NODES; READONLY, READWRITE, ASKING), as it arrives. */
void cluster_note(struct client *c, const struct kv_cmd *cmd);
/* A command sent after ASKING: the shard of this node whose copy holds
 * the slot of its keys, if the map's shard g does not (a move accepted at
 * the target, not yet flipped in the map); else g. */
struct group *cluster_asking(struct server *s, struct group *g, const struct kv_cmd *cmd,
			     const struct resp_arg *argv, uint32_t argc);
/* Called by creq_finish: a cluster-aware connection's request refused
 * "-TRYAGAIN slot S is served by another shard" is answered -ASK S with
 * the leader of the shard whose copy here holds S, if there is one. */
void cluster_ask(struct server *s, struct creq *q);
/* A write from a cluster-aware connection on a node that does not lead
 * its slot's group: answers q with -MOVED and returns true (nothing is
 * applied); false if the write is to be served as today. */
bool cluster_redirect(struct server *s, struct client *c, struct creq *q, struct group *g,
		      const struct kv_cmd *cmd, const struct resp_arg *argv, uint32_t argc);
/* CLUSTER and its subcommands, READONLY, READWRITE, ASKING; false if argv
 * is none of them. The reply goes to q. */
bool cluster_command(struct server *s, struct client *c, struct creq *q,
		     const struct resp_arg *argv, uint32_t argc);

/* server/retry.c: a plain connection's request refused -TRYAGAIN for a
 * slot being moved (or a map that lags) is held and sent again. */
/* Called by creq_finish: true if q is held (not finished) to go again. */
bool retry_take(struct server *s, struct creq *q);
/* Whether c's requests refused so are held: it is plain (not cluster-aware,
 * not numbering its writes itself); on a sharded node its writes say so
 * (entry_req_head.held). */
bool retry_holds(const struct client *c);
/* Sends again, or gives up on, the requests held (each tick). */
void retry_tick(struct server *s);
/* Every request held gets its -TRYAGAIN (the node stops). */
void retry_give_up_all(struct server *s);
/* q, held, leaves the list (its client has gone). */
void retry_forget(struct server *s, struct creq *q);
/* A held write of c numbered below c->renumber_below takes a new number
 * before it is submitted. */
void retry_renumber(struct client *c, struct creq *q, struct group *g);

/* server/migrate.c: online slot migration, driven by the metadata
 * group's leader. */
void migrate_tick(struct server *s);
/* At the end of each loop pass while no step of the driver is in flight:
 * its next step at once when the last was answered in it (or what it
 * waits for came), not at the next tick. */
void migrate_pass(struct server *s);
const char *migrate_phase(struct server *s); /* INFO shards' phase */
/* Whether node id may lead the metadata group as the migration under way
 * (as this node's map has it) needs: its driver reads the source's keys
 * from its own copy, so it must be a node the source is placed on. */
bool migrate_may_drive(struct server *s, raft_id id);
/* KEEL.RESHARD first last shard: a migration registered in the metadata
 * group; answers q (true) once it is, or at once with an error. */
void migrate_command(struct server *s, struct creq *q, const struct resp_arg *argv, uint32_t argc);
void migrate_free(struct server *s);
/* KEEL.ADDSHARD [id...]: one shard more in the map, on every node, or
 * placed on the nodes listed (voters, each once, at most
 * KV_SHARD_MEMBERS_MAX); answers q with its number once the metadata
 * group has it. */
void migrate_add_shard(struct server *s, struct creq *q, const struct resp_arg *argv,
		       uint32_t argc);
/* KEEL.PLACESHARD shard id...: the nodes a shard (placed on some, or on
 * every node; not shard 0) is on from now on (voters, each once, at most
 * KV_SHARD_MEMBERS_MAX), in the map; answers q +OK once the metadata
 * group has it. The shard's leader then brings its members to them
 * (conform.c), and each node takes or leaves its copy (shards.c,
 * groups_place). */
void migrate_place_shard(struct server *s, struct creq *q, const struct resp_arg *argv,
			 uint32_t argc);
/* KEEL.ADDSHARD's ids (argv[1..]): 1 if none, or exactly c's voters each
 * once (a shard on every node); 2 if fewer of c's voters, each once, at
 * most KV_SHARD_MEMBERS_MAX (a shard placed on them); 0 otherwise. */
int migrate_members_listed(const struct raft_config *c, const struct resp_arg *argv, uint32_t argc);

/* server/conform.c: on the metadata group's leader, each shard's members
 * made the metadata group's (a sharded cluster's membership changes). */
void conform_tick(struct server *s);
/* Whether id is a voter of every shard, as this node's copies have them. */
bool conform_voter_everywhere(const struct server *s, raft_id id);

/* server/sentinel.c: Sentinel-compatible discovery. */
/* Tells peers where this node serves clients (after peers_start). */
void sentinel_start(struct server *s);
/* SENTINEL, ROLE, and SUBSCRIBE and the like for Sentinel's event
 * channels; false if argv is none of them. The reply goes to q. */
bool sentinel_command(struct server *s, struct client *c, struct creq *q,
		      const struct resp_arg *argv, uint32_t argc);

/* server/cmd_client.c: CLIENT and its subcommands. */
void server_cmd_client(struct server *s, struct client *c, struct creq *q,
		       const struct resp_arg *argv, uint32_t argc);
/* CLIENT SETNAME's (and HELLO SETNAME's) check and change: false, with
 * Redis's error appended to err, if the name is refused. */
bool client_set_name(struct client *c, const struct resp_arg *name, struct rbuf *err);
/* server/cmd_command.c: COMMAND and its subcommands. */
void server_cmd_command(struct client *c, struct creq *q, const struct resp_arg *argv,
			uint32_t argc);

/* server/commands.c: the commands the server answers itself. */
void server_command(struct server *s, struct client *c, struct creq *q, const struct resp_arg *argv,
		    uint32_t argc);
void server_info(struct server *s, const char *section, struct rbuf *out);
/* A RAFT command on the leader (forwarded ones too), or a KEEL.RESHARD a
 * node outside the slots' shard sent on; the reply goes to q. */
void server_raft_admin(struct server *s, struct creq *q, const struct resp_arg *argv,
		       uint32_t argc);
/* q's bytes decoded as the one request of an entry, into *e (false if
 * they are not one): b is made to hold them, and e's arguments point into
 * it; the caller frees both (entry_free is safe on a failed decode). */
bool request_decode(const struct creq *q, bool is_read, struct rbuf *b, struct entry *e);
/* Sends a RAFT command to g's leader (a follower's), or KEEL.RESHARD to
 * a member of g (a node outside it), once; false if none is known. */
bool request_forward_admin(struct group *g, struct creq *q, const struct resp_arg *argv,
			   uint32_t argc);

#endif
