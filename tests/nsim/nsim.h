/* tests/nsim/nsim.h — the whole-node simulator's driver: keel-server's own
 * code (src/server and everything under it) as several nodes in one
 * process, on the simulated world of world.h, with simulated clients that
 * speak RESP to any node, and the checks every history must pass:
 * linearizability per key, one connection one order, exactly-once, and
 * the nodes' agreement once the faults heal. A seed is the unit of a bug:
 * every choice comes from it, so a failing seed replays byte for byte. */
#ifndef KEEL_TESTS_NSIM_NSIM_H
#define KEEL_TESTS_NSIM_NSIM_H

#include <stdbool.h>
#include <stdint.h>

#include "nsim/world.h"
#include "server/server.h"
#include "sim/linearize.h"

#define NS_NODES_MAX	  8
#define NS_CLIENTS_MAX	  16
#define NS_KEYS		  4 /* shared registers k0..k3, one counter each too */
#define NS_GROUPS_WATCHED 4 /* a replica's groups whose applied index is watched */

struct ns_run;
struct ns_block;

enum ns_kind {
	NS_FOUNDER = 1, /* in --cluster */
	NS_SPARE,	/* not started yet: a membership change may add it */
	NS_ADDED,	/* started empty, and RAFT ADD-LEARNER sent for it */
	NS_RETIRED,	/* removed (RAFT REMOVE answered OK), then stopped for good */
	NS_REPLICA,	/* a read replica (--replica-of the founders) */
};

struct ns_node {
	uint64_t id;
	enum ns_kind kind;
	struct host *h;
	struct server *s; /* NULL while down */
	uint32_t starts, crashes;
	struct ns_run *run;
	uv_loop_t *loop;
	struct server_embed embed;
	bool disk_pending;	/* a group commit is scheduled */
	uint64_t disk_extra_ns; /* a scenario's slow disk: added to each group commit */
	bool disk_failed;	/* its disk fails (a fault): it stays down until replaced */
	/* its disk was replaced as the faults healed while it ran: a failure
	 * it had met (a sync in flight) may still stop it, and it is started
	 * again then, as an operator would */
	bool disk_late;
	bool join;		/* started with --join (the first founder's client port) */
	uint32_t session_ms;	/* its own --session-timeout-ms (0: the run's) */
	uint32_t databases;	/* its own --databases (0: the default) */
};

enum ns_op {
	NS_SET = 1, /* SET k<i> v */
	NS_GET,	    /* GET k<i> */
	NS_INCR,    /* INCR c<i> */
	NS_PIPE,    /* SET p<client> v; GET p<client>: one write */
	NS_PIPE_RW, /* GET p<client>; SET p<client> v: one write */
	NS_MULTI,   /* MULTI; INCR c<i>; SET k<j> v; EXEC */
	NS_RGET,    /* on a read replica: GET k<i> or c<i> */
	NS_RSET,    /* on a read replica: SET k<i> v, which must be refused */
};

struct ns_client {
	uint32_t no;
	bool replica; /* it reads from the read replicas */
	bool refused; /* its write to a replica was refused, as it must be */
	bool moving;  /* told no leader or removed: it goes to another node */
	bool plain;   /* sends no CLIENT SESSION: a node holds its requests refused
		       * for a slot being moved (server/retry.c); it resends nothing */
	struct ns_run *run;
	struct host *h;
	struct wconn *conn;
	uint32_t node; /* the node it is connected to */
	bool ready;    /* connected and its session known */
	uint64_t session, next_seq;
	/* the operation in flight (op 0: none) */
	enum ns_op op;
	uint32_t key, key2;
	int64_t value;
	uint32_t reply_no;    /* replies had for the operation as last sent */
	uint64_t seq;	      /* a write's sequence number in its session */
	size_t hist;	      /* its history entry (the SET's, for NS_PIPE) */
	size_t hist2;	      /* NS_MULTI: its SET's entry */
	uint64_t sent_ns;     /* when it was last sent (timeout) */
	uint32_t retries;     /* resends of an outcome not known */
	bool resuming;	      /* CLIENT SESSION sent, the retry follows */
	uint32_t awaiting;    /* replies still due for what was sent */
	bool crossed;	      /* NS_MULTI: a command was refused CROSSSLOT (moved) */
	uint64_t timer_epoch; /* its pending timer events, by generation */
	int64_t next_value;
};

struct ns_rread { /* a read served by a read replica */
	uint32_t node, key, client;
	uint64_t invoke, complete;
	bool nil;
	int64_t value;
};

struct ns_params {
	uint32_t nodes, spares, replicas, clients, replica_clients;
	uint64_t run_ns;    /* faults and workload until then */
	uint64_t settle_ns; /* then healed; all must agree by the end */
	uint64_t think_ns;  /* a client's pause between operations, at most */
	uint32_t snapshot_entries;
	uint32_t trailing_entries; /* the members' --trailing-entries (0: the default) */
	bool cascade;		   /* the last read replica follows the first one */
	uint32_t replica_max_lag;  /* every node's --replica-max-lag (0: the default) */
	uint32_t query_limit;	   /* --client-query-buffer-limit in bytes (0: the default) */
	uint32_t session_ms;	   /* --session-timeout-ms (0: the default) */
	uint32_t session_max_mb;   /* --session-max-mb (0: the default) */
	uint32_t fault_every_ms;
	uint32_t shards;	/* every member's --shards (0: the default, one group) */
	uint32_t reshards;	/* slot ranges moved while it runs (reshard.c) */
	bool pieces;		/* --reshard-piece-kb 0: a move's slots of keys one by one */
	uint32_t plain_clients; /* the first ones are plain (ns_client.plain) */
};

struct ns_run {
	uint64_t seed;
	struct world *w;
	struct ns_params p;
	struct ns_node nodes[NS_NODES_MAX];
	uint32_t n_nodes;	 /* founders, spares, replicas */
	struct ns_rread *rreads; /* what the replicas' readers read */
	/* the highest applied index seen of each replica's first groups
	 * (ns_replica_watch) */
	uint64_t replica_applied_max[NS_NODES_MAX][NS_GROUPS_WATCHED];
	size_t n_rreads, cap_rreads;
	struct host *admin_host;
	bool add_due;  /* the next membership change adds a spare */
	bool scripted; /* a scenario's run: its events only */
	struct ns_client clients[NS_CLIENTS_MAX];
	struct lin_op *hist;
	size_t n_hist, cap_hist;
	bool healing; /* the faults are over */
	bool failed;
	char why[1600];
	uint64_t trace_hash;
	bool verbose;
	uint64_t disk_max_ns;	     /* a group commit's usual latency, at most */
	uint32_t disk_slow_permille; /* how often one is slow (50-450 ms) */
	uint32_t split_permille;     /* connections whose writes arrive in pieces */
	/* figures */
	uint64_t n_ok, n_ok_healed, n_failed, n_unknown, n_crashes, n_faults, n_retries, n_settled;
	uint64_t n_plain_ok, n_plain_tryagain; /* plain clients' writes: done, refused TRYAGAIN */
	struct ns_block *blocks;	       /* what ns_alloc gave: freed with the run */
	uint32_t n_probes;		       /* a scenario's own clients (probe.c) */
	/* the trace's last lines, for a failing seed */
	char ring[64][200];
	uint32_t ring_next;
};

/* nodes.c */
void ns_node_start(struct ns_node *n);
void ns_node_crash(struct ns_node *n);
void ns_node_reap(struct ns_node *n);
/* A founder or an added node, not retired: clients may use it. */
bool ns_node_active(const struct ns_node *n);
/* An active member or a replica: faults hit it, the heal restarts it. */
bool ns_node_live(const struct ns_node *n);

/* members.c */
bool ns_membership_fault(struct ns_run *r);
void ns_membership_add(void *arg); /* a world_at event */
/* RAFT <verb> <node id> sent to node r->nodes[to] (a scenario's command). */
void ns_admin(struct ns_run *r, uint32_t to, const char *verb, uint64_t id);
/* A command of argc words sent to node r->nodes[to] by an operator; its
 * reply must come within 2 s and begin with expect (else the run fails). */
void ns_admin_expect(struct ns_run *r, uint32_t to, int argc, const char *const *argv,
		     const char *expect);
/* The same, whatever the reply (or none): the trace shows it. */
void ns_admin_send(struct ns_run *r, uint32_t to, int argc, const char *const *argv);

/* reshard.c: online slot migrations under the run's faults */
/* The shard of a slot by the newest slot map a running node applied (the
 * fixed split of --shards before any migration). */
uint32_t ns_map_owner(struct ns_run *r, uint16_t slot);
/* In a sharded seed: moves of slot ranges holding workload keys, at times
 * the seed draws. */
void ns_reshard_schedule(struct ns_run *r);
/* KEEL.RESHARD of the run of key's slot (at most width slots each side)
 * to shard `to` (UINT32_MAX: another the seed draws), sent to node `via`. */
void ns_reshard_key(struct ns_run *r, const char *key, uint32_t width, uint32_t to, uint32_t via);
/* Once healed, on members that applied the same entries: no migration
 * left under way, every slot served by exactly the shard the map names,
 * no key left in a slot its shard does not serve. */
bool ns_check_slots(struct ns_run *r, struct ns_node *const *m, uint32_t n);

/* scenarios.c */
uint32_t ns_scenario_count(void);
const char *ns_scenario_name(uint32_t i);
/* Before the nodes start: the scenario's parameters and events. */
void ns_scenario_setup(struct ns_run *r, uint32_t i);
void ns_faults_schedule(struct ns_run *r);
/* scen_requests.c: the request path's windows, set up as scenarios */
void ns_scen_write_without_leader(struct ns_run *r);
void ns_scen_node_of_no_cluster(struct ns_run *r);
void ns_scen_write_on_deposed_leader(struct ns_run *r);
void ns_scen_admin_through_follower(struct ns_run *r);
void ns_scen_cluster_aware_follower(struct ns_run *r);
void ns_scen_write_db_not_held(struct ns_run *r);
void ns_scen_disk_fails_under_requests(struct ns_run *r);
void ns_scen_forward_sent_once(struct ns_run *r);
void ns_scen_snapshot_in_chunks(struct ns_run *r);
void ns_scen_removed_under_requests(struct ns_run *r);
void ns_scen_peer_forwards_malformed(struct ns_run *r);
void ns_scen_forward_held_through_handover(struct ns_run *r);
void ns_scen_peers_crowd_one_pass(struct ns_run *r);
void ns_scen_removal_told_mid_pass(struct ns_run *r);
void ns_scen_outside_leader_sends_a_snapshot(struct ns_run *r);
void ns_scen_peer_forwards_too_large(struct ns_run *r);
void ns_scen_join_stopped_between_tries(struct ns_run *r);
void ns_scen_replica_disk_fails_while_stopping(struct ns_run *r);
void ns_scen_sharded_replicas(struct ns_run *r); /* scen_shard_replicas.c */
void ns_scen_sharded_replica_by_snapshot(struct ns_run *r);
void ns_scen_sharded_members(struct ns_run *r);	 /* scen_shard_members.c */
void ns_scen_shard_added_before_join(struct ns_run *r);
void ns_scen_shard_leader_removed(struct ns_run *r);
void ns_scen_placed_removed_while_down(struct ns_run *r);
void ns_scen_place_while_removing(struct ns_run *r);
void ns_scen_placed_elsewhere_cut_off(struct ns_run *r);
void ns_scen_placed_elsewhere_down(struct ns_run *r);
void ns_scen_learner_taken_off_down(struct ns_run *r);
void ns_scen_learner_restarts_unheard(struct ns_run *r);
void ns_scen_deposed_driver_reads_old_members(struct ns_run *r);
void ns_scen_pair_never_led(struct ns_run *r);
void ns_scen_follower_stopped_with_a_forward(struct ns_run *r);
void ns_scen_forward_ids_survive_a_restart(struct ns_run *r);
void ns_scen_lone_leader_stopped_with_a_write(struct ns_run *r);
void ns_scen_order_across_shards(struct ns_run *r);
/* scen_reshard.c: online slot migration's windows */
void ns_scen_reshard_resumes_a_piece(struct ns_run *r);
void ns_scen_reshard_resumes_after_driver_crash(struct ns_run *r);
void ns_scen_reshard_release_waits_for_the_copy(struct ns_run *r);
void ns_scen_reshard_late_flip_refused(struct ns_run *r);
void ns_scen_reshard_keeps_sessions(struct ns_run *r);
/* scen_keyspace.c */
void ns_scen_keyspace_over_shards_crash(struct ns_run *r);
void ns_scen_keyspace_flush_in_a_move(struct ns_run *r);
void ns_scen_reshard_answers_ask(struct ns_run *r);
void ns_scen_reshard_multikey_ask(struct ns_run *r);
void ns_scen_reshard_holds_plain_writes(struct ns_run *r);
void ns_scen_reshard_gives_up_held_requests(struct ns_run *r);
void ns_scen_reshard_stops_with_held_requests(struct ns_run *r);
void ns_scen_shard_added(struct ns_run *r);
void ns_scen_cluster_topology(struct ns_run *r);
void ns_scen_shard_placed(struct ns_run *r);
void ns_scen_shard_replaced(struct ns_run *r);
void ns_scen_shard_every_placed(struct ns_run *r);
void ns_scen_reshard_unreached(struct ns_run *r);
void ns_scen_shard_placed_while_down(struct ns_run *r);
void ns_scen_shard_placed_long_down(struct ns_run *r);
/* scen_quiet.c: quiescence's faults and requests */
void ns_scen_quiet_leader_crashes(struct ns_run *r);
void ns_scen_quiet_leader_partitioned(struct ns_run *r);
void ns_scen_quiet_follower_served(struct ns_run *r);
void ns_scen_quiet_follower_restarts(struct ns_run *r);
void ns_heal_all(struct ns_run *r);
/* node a (an index) cut off from every other node, or joined to them again */
void ns_isolate(struct ns_run *r, uint32_t a, bool cut);
void ns_check_agreement(struct ns_run *r);

/* clients.c */
void ns_clients_start(struct ns_run *r);
void ns_clients_stop(struct ns_run *r);
void ns_check_history(struct ns_run *r);
void ns_check_replica_reads(struct ns_run *r);

/* replicas.c: what a replica's reader checks of each reply */
void ns_replica_reply(struct ns_client *c, char type, bool nil, const uint8_t *s, size_t len);
/* A world_at event, every 5 ms while the run lasts: no replica's applied
 * index goes back. */
void ns_replica_watch(void *arg);

/* probe.c: a scenario's own client, one connection to one node. Each
 * reply must start with what was wanted for it (shown with CRLF as a
 * space: "+OK", "$2 v1", "-TRYAGAIN"; "a|b": either), else the run
 * fails. */
#define NS_PROBE_MAX  64
#define NS_PROBE_LINE 240
#define NS_PROBE_GOT  4096 /* a reply as shown: CLUSTER SHARDS of 3 shards whole */
struct ns_probe {
	struct ns_run *r;
	char name[32];
	uint32_t node;
	struct host *h; /* its own host: a scenario may reset its connection */
	struct wconn *conn;
	bool may_close; /* the node may close it: what was not answered is not due */
	uint32_t n_sent, n_replied;
	char cmd[NS_PROBE_MAX][NS_PROBE_LINE];
	char want[NS_PROBE_MAX][NS_PROBE_LINE];
	char got[NS_PROBE_MAX][NS_PROBE_GOT];
};
struct ns_probe *ns_probe_open(struct ns_run *r, const char *name, uint32_t node);
/* Sends a command (words separated by spaces) whose reply must start with
 * want ("": any reply). */
void ns_probe_send(struct ns_probe *p, const char *want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same for argv as given, each argument whole (spaces in it too). */
void ns_probe_send_argv(struct ns_probe *p, const char *want, int argc, const char *const *argv);
/* Sends SET key <bytes bytes of letters>, whose reply must start with want. */
void ns_probe_set_big(struct ns_probe *p, const char *want, const char *key, size_t bytes);
/* A peer of its own (node id `id`, on a host of its own) connects to the
 * peer port of node and forwards one request made of words (kind_byte: 0
 * a write, 1 a read, 2 a RAFT command), as a follower would. */
void ns_peer_forward(struct ns_run *r, uint32_t node, uint64_t id, uint8_t kind_byte,
		     const char *const *words, uint32_t argc);
/* The same to group `group` (0: the first; else in a GROUP frame). */
void ns_peer_forward_to(struct ns_run *r, uint32_t node, uint64_t id, uint32_t group,
			uint8_t kind_byte, const char *const *words, uint32_t argc);
/* The same for a write (kind 0) of group `group` (0: the first; else in
 * a GROUP frame, SERVER_META_GROUP the metadata group's), well formed, as
 * a member's late forward would arrive. */
void ns_peer_forward_write(struct ns_run *r, uint32_t node, uint64_t id, uint32_t group,
			   const char *const *words, uint32_t argc);
/* The i-th reply as shown, or NULL if it has not come. */
const char *ns_probe_reply(const struct ns_probe *p, uint32_t i);
/* Every reply is due by now: one missing fails the run. Closes it. */
void ns_probe_done(struct ns_probe *p);
/* A probe's key: the (skip+1)-th <prefix><n> whose slot is in [first,
 * last]. */
void ns_probe_key(const char *prefix, uint32_t skip, uint16_t first, uint16_t last, char *out,
		  size_t cap);

/* nodes.c: node n's INFO section appended to out, as an operator reads
 * it (false: n is not running); whether it holds line (a whole
 * "field:value"). */
bool ns_info(struct ns_node *n, const char *section, struct rbuf *out);
bool ns_info_says(struct ns_node *n, const char *section, const char *line);

/* main.c */
/* Memory for a scheduled event's argument, freed when the seed ends (the
 * world may still hold the event then). */
void *ns_alloc(struct ns_run *r, size_t n);
void ns_fail(struct ns_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
