/* kv/kv.h — the key-value state machine: a keyspace of binary-safe string
 * keys and values with expiry times, and the Redis commands of SPEC.md §3
 * that read or change it, with Redis 7.0's replies and error messages.
 *
 * Determinism: a command runs against a time given with it — for a write,
 * the time the leader stamped on its log entry; for a read, the serving
 * node's clock — never the clock of the replica applying it. A key whose
 * expiry is at or before that time does not exist for the command; a write
 * that meets one deletes it, at the same entry on every replica.
 *
 * Databases: the keyspace holds numbered databases, as Redis does (SELECT,
 * MOVE, SWAPDB). A command runs in the database its context names
 * (kv_ctx.db) and checks the indexes it is given against a count given
 * with it (kv_ctx.dbs): for a write, the count the leader stamped on its
 * entry; for a read, the serving node's setting. The keyspace's array of
 * databases grows to any count a command brings and never shrinks; a
 * database that exists on one replica and not on another is empty, so
 * replies and snapshots do not depend on it. */
#ifndef KEEL_KV_KV_H
#define KEEL_KV_KV_H

#include <stdbool.h>
#include <stdint.h>

#include "kv/dict.h"
#include "kv/slot.h"
#include "resp/buf.h"
#include "resp/parse.h"

/* Command flags: derived from each command's spec file (src/kv/commands/,
 * tools/gen_commands.py). */
enum {
	KV_WRITE = 1 << 0,	/* changes the keyspace: goes through the log (WRITE) */
	KV_READ = 1 << 1,	/* reads the keyspace: after a read index (READONLY) */
	KV_SERVER = 1 << 2,	/* handled by the server ("keel_flags": ["SERVER"]) */
	KV_MULTI_OK = 1 << 3,	/* may be queued inside MULTI (not SERVER, not NO_MULTI) */
	KV_CONNECTION = 1 << 4, /* a server command on the connection's own state:
				 * it runs when it arrives, not in turn
				 * ("keel_flags": ["CONNECTION"]) */
	KV_INTERNAL = 1 << 5,	/* proposed by nodes only: a client is told it
				 * does not exist ("keel_flags": ["INTERNAL"]) */
};

#define KV_DBS_DEFAULT 16    /* Redis's `databases` */
#define KV_DBS_MAX     65536 /* the largest `databases` setting keel takes */

struct kv {
	struct kv_dict *db;	 /* n_db databases; db[i] is database i */
	uint32_t n_db;		 /* 1 .. KV_DBS_MAX */
	bool hold;		 /* kv_hold: new databases are held too */
	uint64_t seed;		 /* of the hash tables */
	struct kv_dict sessions; /* exactly-once: session id -> last seq, reply */
	uint64_t rand_state;	 /* RANDOMKEY, SCAN of a random start: reads only */
	struct rbuf scratch;	 /* a session's value, being rebuilt */

	/* the sessions in order of last use (kv/session.c) */
	uint64_t sess_head, sess_tail;
	int64_t sess_tail_used; /* the newest stamp (0: no session) */
	uint64_t sess_bytes;	/* the values of the sessions, in bytes */
	/* a shard's hold on the slots, or the slot map (kv/slots.c): NULL
	 * until first used; shard_n 0 on a node of one group */
	struct kv_slots *slots;
	uint32_t shard_n, shard_i; /* kept across snapshots (kv_restore_finish) */
	bool shard_meta;	   /* the metadata group's keyspace: holds the map */
};

struct kv_ctx;
typedef void (*kv_fn)(struct kv_ctx *c);

/* Where a command's keys are, as a Redis 7 key spec says: the search
 * begins at an index or after a keyword, then finds a range of keys or a
 * count of them. Used by COMMAND GETKEYS. */
enum { KV_BS_UNKNOWN, KV_BS_INDEX, KV_BS_KEYWORD };
enum { KV_FK_UNKNOWN, KV_FK_RANGE, KV_FK_KEYNUM };
struct kv_key_spec {
	const char *flags; /* as COMMAND shows them, space-separated: "RW access update" */
	bool not_key, incomplete;
	int begin;		     /* KV_BS_* */
	int index;		     /* KV_BS_INDEX: the first key's argument */
	const char *keyword;	     /* KV_BS_KEYWORD: keys follow this argument, */
	int startfrom;		     /* searched from here (< 0: from the end, backwards) */
	int find;		     /* KV_FK_* */
	int lastkey, keystep, limit; /* KV_FK_RANGE (keystep for KEYNUM too) */
	int keynumidx, firstkey;     /* KV_FK_KEYNUM */
};

/* Bytes that are a complete RESP value (or several). */
struct kv_blob {
	const char *p;
	uint32_t len;
};

/* One command or subcommand, generated from its spec file. Every pointer
 * points into the generated table: valid for the life of the process. */
struct kv_cmd {
	const char *name; /* lowercase; a subcommand's is "container|sub" */
	int arity;	  /* n: exactly n arguments with the name; -n: at least n */
	uint32_t flags;	  /* KV_* */
	int first_key, last_key, key_step; /* as COMMAND reports them */
	kv_fn fn;			   /* NULL: the server runs it (KV_SERVER) */
	uint32_t acl;			   /* ACL categories: bit i is kv_acl_names[i] */
	bool no_mandatory_keys;
	const struct kv_key_spec *key_specs;
	uint32_t n_key_specs;
	const struct kv_cmd *subs; /* a container's subcommands, sorted by name */
	uint32_t n_subs;
	const struct kv_cmd *parent; /* a subcommand's container */
	/* [0]: RESP2, [1]: RESP3. info: its COMMAND INFO entry; docs: its
	 * name and COMMAND DOCS map, a pair of a map's entries. */
	struct kv_blob info[2], docs[2];
};

/* The ACL category names, in Redis's order, NULL-terminated. */
extern const char *const kv_acl_names[];

/* One command's execution. */
struct kv_ctx {
	struct kv *kv;
	const struct resp_arg *argv;
	uint32_t argc;
	struct rbuf *out; /* the reply is appended here */
	int proto;	  /* 2 or 3 */
	int64_t now_ms;	  /* see the top of this file */
	uint32_t db;	  /* in and out: the database it runs in (SELECT changes it) */
	uint32_t dbs;	  /* the databases it may name, 1 .. KV_DBS_MAX; 0: kv->n_db */
	uint64_t session; /* the request's session (0: none, the leader's own) */
};

/* A keyspace of KV_DBS_DEFAULT databases (kv_init) or n_db (kv_init_dbs,
 * 1 .. KV_DBS_MAX). */
void kv_init(struct kv *kv, uint64_t seed);
void kv_init_dbs(struct kv *kv, uint64_t seed, uint32_t n_db);
void kv_free(struct kv *kv);
/* Grows the keyspace to n_db databases (1 .. KV_DBS_MAX); never shrinks. */
void kv_reserve_dbs(struct kv *kv, uint32_t n_db);
/* Keys in all databases. */
uint64_t kv_keys_total(const struct kv *kv);
/* kv_dict_hold and kv_dict_rehash_some (kv/dict.h) over every table. */
void kv_hold(struct kv *kv, bool hold);
void kv_rehash_some(struct kv *kv, uint32_t n);
/* INFO keyspace: a line `dbN:keys=..,expires=..,avg_ttl=..` for each
 * database that holds keys in any of the n keyspaces (a node's shards:
 * their sums; avg_ttl in ms at now_ms, as Redis reports it). */
void kv_info_keyspace(const struct kv *const *kvs, uint32_t n, int64_t now_ms, struct rbuf *out);

/* The top-level command by name (any case), or NULL. */
const struct kv_cmd *kv_lookup(const uint8_t *name, size_t len);
/* A container's subcommand by name (any case), or NULL. */
const struct kv_cmd *kv_lookup_sub(const struct kv_cmd *container, const uint8_t *name, size_t len);
/* By full name, as COMMAND INFO takes it: "get", "client|kill"; NULL if
 * there is no such command (a container's name alone is the container). */
const struct kv_cmd *kv_lookup_full(const uint8_t *name, size_t len);
/* The top-level commands, for COMMAND; *n their number. */
const struct kv_cmd *kv_commands(uint32_t *n);
/* The command argv names, its subcommand for a container: NULL, with
 * Redis's error appended to err, if there is none or the arity is wrong. */
const struct kv_cmd *kv_resolve(const struct resp_arg *argv, uint32_t argc, struct rbuf *err);
/* The positions in argv (argv[0] the command's name) of its keys, by its key
 * specs, as Redis's getKeysUsingKeySpecs: their number (up to max, each
 * with its spec in spec[i] if spec is not NULL), or -1 if the arguments do
 * not fit the specs. */
int kv_command_keys(const struct kv_cmd *cmd, const struct resp_arg *argv, uint32_t argc,
		    uint32_t *pos, const struct kv_key_spec **spec, uint32_t max);

/* Checks name and arity, then runs the command; the reply (or Redis's
 * error: unknown command, wrong number of arguments) goes to c->out.
 * Returns the command run, or NULL if it was refused. */
const struct kv_cmd *kv_exec(struct kv_ctx *c);

/* Redis's replies for a refused command, shared with the server. */
void kv_reply_unknown(struct rbuf *out, const struct resp_arg *argv, uint32_t argc);
void kv_reply_arity(struct rbuf *out, const char *name);

/* The live entry for key at c->now_ms, or NULL (an expired one is removed
 * only by a write: `writing`). */
struct kv_entry *kv_find(struct kv_ctx *c, const struct resp_arg *key, bool writing);

/* Exactly-once writes (Raft thesis §6.3, kv/session.c): the session
 * table, replicated with the keyspace and kept in snapshots. Per session,
 * the highest sequence number applied and the replies of the requests its
 * connection has not yet been given (at or above the highest ack its
 * requests carried), plus the newest, within KV_SESSION_KEEP_BYTES of
 * replies (older ones past it are remembered as applied, reply dropped),
 * and the time of the entry that last used it. */
#define KV_SESSION_KEEP_BYTES (1u << 20)
#define KV_SESSION_KEEP_MAX   100000 /* requests remembered per session */

enum kv_session_seen {
	KV_SESSION_NEW,	     /* not applied yet: apply it, then record it */
	KV_SESSION_REPLY,    /* applied: *reply (into the table until it changes) */
	KV_SESSION_APPLIED,  /* applied; its reply was not kept (the bound) */
	KV_SESSION_ANSWERED, /* below the session's ack: its reply was given */
	KV_SESSION_PASSED,   /* never applied, and never will be: a later
			      * request of the session was applied first */
	KV_SESSION_EXPIRED,  /* no such session, and the request is not the
			      * first its connection has no answer for (ack
			      * below seq): the session expired; not applied */
};
int kv_session_check(struct kv *kv, uint64_t id, uint64_t seq, uint64_t ack, const uint8_t **reply,
		     size_t *len);
/* What a shard answers a request it refuses for a slot (server/group.c):
 *   -TRYAGAIN slot S is being moved to another shard; not applied
 *   -TRYAGAIN slot S is served by another shard; not applied
 *   -TRYAGAIN slot refused to a write sent before this one on its
 *    connection; not applied
 * A write's answer is recorded in its session, and every member reads it
 * back (kv_session_refused_last): the words are replicated state, the
 * same in every version. The node reads them too (server/retry.c holds
 * such a request, server/cluster.c answers -ASK for the second). */
#define KV_REFUSED	  "TRYAGAIN slot "
#define KV_REFUSED_MOVING " is being moved to another shard"
#define KV_REFUSED_OTHER  " is served by another shard"
#define KV_REFUSED_BEHIND "refused to a write sent before this one on its connection"
#define KV_REFUSED_END	  "; not applied"
/* Whether request seq of session id comes right after one the session
 * recorded refused for a slot (KV_REFUSED ... KV_REFUSED_END: a write to
 * a slot being moved, or one this shard does not serve). O(1)
 * unless the session's newest reply ends as a refusal does. */
bool kv_session_refused_last(struct kv *kv, uint64_t id, uint64_t seq);
/* Records an applied request, at the entry's time now_ms. */
void kv_session_record(struct kv *kv, uint64_t id, uint64_t seq, uint64_t ack, int64_t now_ms,
		       const uint8_t *reply, size_t len);
uint64_t kv_session_kept(struct kv *kv, uint64_t id); /* requests remembered */
/* Takes the requests of a session's value from another shard's table (a
 * slot move, kv/slots.c) into this one, at the entry's time now_ms: each
 * recorded as if applied here, with the value's ack; false (nothing
 * changed) if the value is malformed. kv_session_value_ok checks it
 * alone. */
bool kv_session_merge(struct kv *kv, uint64_t id, const uint8_t *val, size_t len, int64_t now_ms);
bool kv_session_value_ok(const uint8_t *val, size_t len);
/* Removes the sessions last used at or before now_ms - idle_ms (idle_ms
 * 0: none for idleness), then, while the table's values hold more than
 * max_bytes (0: no bound), the least recently used, a whole group of
 * equal stamps at a time; returns how many went. What KEEL.EXPIRE-SESSIONS
 * does. */
uint64_t kv_session_expire(struct kv *kv, int64_t now_ms, int64_t idle_ms, uint64_t max_bytes);
/* The stamp of the least recently used session (INT64_MAX: none). */
int64_t kv_session_oldest(struct kv *kv);
/* Snapshots: the sessions in order of last use; a session read from a
 * snapshot (any layout; false: malformed) is put at the end of the list,
 * and kv_session_relink, once all are read, puts the list in order of
 * stamp where it is not. */
void kv_session_each(struct kv *kv, void (*fn)(void *ctx, struct kv_entry *e), void *ctx);
bool kv_session_adopt(struct kv *kv, struct kv_entry *e);
void kv_session_relink(struct kv *kv);

/* Active expiry: calls fn for up to max keys of one database whose expiry
 * is at or before now_ms, scanning on from database *db at *cursor (0, 0
 * start over); returns that database. Databases with no key that has an
 * expiry are passed over, and none is scanned when no database has one
 * (a sweep then costs nothing); when a database's cursor wraps to 0, *db
 * moves on to the next (and from the last to 0). The leader turns the
 * keys into a KEEL.EXPIRED request in that database. */
uint32_t kv_expired_sample(struct kv *kv, int64_t now_ms, uint32_t *db, uint64_t *cursor,
			   uint32_t max, void (*fn)(void *ctx, const struct kv_entry *e),
			   void *ctx);

/* Glob-style matching as Redis's KEYS and SCAN MATCH do it (kv/glob.c). */
bool kv_glob(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen, bool nocase);

/* Shards and their slots (kv/slots.c). A node of several shards keeps, in
 * each shard's keyspace, the shard's hold on every slot; and in its
 * metadata group's keyspace, the slot map: each slot's shard, the map's
 * version, the migration under way. Both are replicated state: they
 * change only by KEEL.SLOTS commands in the log and are kept in
 * snapshots. */
enum { KV_SLOT_GONE, KV_SLOT_OWNED, KV_SLOT_FROZEN };
#define KV_SHARDS_MAX 1024
/* A shard placed on some of the cluster's nodes (KEEL.SLOTS ADD id...):
 * the ids of its members. A shard with none listed is on every node. */
#define KV_SHARD_MEMBERS_MAX 7
struct kv_shard_members {
	uint32_t shard;
	uint32_t n; /* 1 .. KV_SHARD_MEMBERS_MAX */
	uint64_t ids[KV_SHARD_MEMBERS_MAX];
};
struct kv_slots {
	uint8_t state[KV_SLOTS];  /* a shard: KV_SLOT_* */
	uint64_t epoch;		  /* a shard: the newest migration epoch it took */
	uint64_t import_seq;	  /* ... the last IMPORT batch of that epoch (0: none) */
	uint16_t owner[KV_SLOTS]; /* the map: each slot's shard */
	uint64_t version;	  /* the map's version: 1, then one more a change */
	uint32_t n_shards;
	bool moving; /* a migration: slots first..last from shard from to to */
	uint16_t first, last;
	uint32_t from, to;
	/* the map: the shards placed on some nodes, by increasing shard */
	struct kv_shard_members *placed;
	uint32_t n_placed;
};
/* The members shard i is placed on; NULL: every node of the cluster. */
const struct kv_shard_members *kv_shard_placed(const struct kv_slots *sl, uint32_t shard);
/* Frees sl (and what it holds). */
void kv_slots_free(struct kv_slots *sl);
/* Marks kv as shard i of n (n >= 2), or as the metadata group of n shards
 * (meta): what its slots are until a KEEL.SLOTS command changes them. */
void kv_shard_set(struct kv *kv, uint32_t n, uint32_t i, bool meta);
/* kv's slots (made from kv_shard_set's defaults when first needed); NULL
 * on a keyspace that is no shard. */
struct kv_slots *kv_slots_of(struct kv *kv);
/* Whether a request's command may run on this shard now: KV_SLOT_OWNED if
 * it may (a keyspace of no shard, a command with no key), else the state
 * of a slot of its keys that refuses it (a write needs every key's slot
 * owned; a read is served while the slot is frozen), in *slot. */
int kv_slots_check(struct kv *kv, const struct resp_arg *argv, uint32_t argc, uint16_t *slot);
/* The same for a command whose keys are all in slot (a read: read). */
int kv_slots_check_slot(struct kv *kv, uint16_t slot, bool read);
/* An export call's most scan steps (kv_dict_scan calls: a bucket each,
 * with its chain): a copy batch of a range with few keys in a large
 * keyspace holds the event loop a few ms, not for the whole table. */
#define KV_EXPORT_STEPS (1u << 16)
/* Appends the keys of slots first..last (all databases, live at now_ms) as
 * KEEL.SLOTS IMPORT records (db, key, expiry, value), from a scan cursor
 * of database *db: stops past max_bytes or KV_EXPORT_STEPS (then maybe
 * with no record); returns the next cursor (0 and *db past the last:
 * done). n_records counts them. A first call (*db 0, cursor 0) whose
 * range's records all fit in max_bytes appends them all, from the slots'
 * lists, and is done. */
uint64_t kv_slots_export(struct kv *kv, uint16_t first, uint16_t last, int64_t now_ms, uint32_t *db,
			 uint64_t cursor, size_t max_bytes, struct rbuf *args, uint32_t *n_records);
/* The keys of database db in slot, live at now_ms: counted, or the first
 * max of them appended to keys as bulk strings (keys NULL: all counted).
 * By the slot's list (kv/dict.h): in time of the slot's keys. */
uint64_t kv_slot_keys(struct kv *kv, uint32_t db, uint16_t slot, int64_t now_ms, struct rbuf *keys,
		      uint64_t max);
/* SCAN's cursor p..n as Redis reads it (parseScanCursorOrReply: strtoul
 * of the whole argument, "" is 0, "-1" wraps; no leading space, nothing
 * after); false if it is none. */
bool kv_scan_cursor(const uint8_t *p, size_t n, uint64_t *cur);
/* A shard of several's keys of database db in slots it does not serve
 * (copied into them by a move it has not accepted yet), expired or not;
 * 0 on a keyspace of one shard. By the slots' lists. */
uint64_t kv_slots_unserved_keys(struct kv *kv, uint32_t db);
/* Whether a shard of several is in a move: a slot of its frozen (being
 * copied out), or keys copied into a slot it does not serve yet. */
bool kv_slots_moving(struct kv *kv);
/* The size (key and value) of a key of slots first..last, in any
 * database, of more than limit bytes; 0 if there is none. */
uint64_t kv_slots_oversized(struct kv *kv, uint16_t first, uint16_t last, uint64_t limit);
/* The end of a piece of slots first..last moved on its own: the last slot
 * p such that the keys of first..p, in every database, take at most
 * budget bytes (key, value and KV_PIECE_RECORD each), or first whatever
 * its keys take. Walks at most the keys that fit and one more. */
#define KV_PIECE_RECORD 32
/* The last slot p of first..last (first <= last) such that slots
 * first..p are all in the state first is in. */
uint16_t kv_slots_run(const struct kv_slots *sl, uint16_t first, uint16_t last);
uint16_t kv_slots_piece(struct kv *kv, uint16_t first, uint16_t last, uint64_t budget);
/* The exactly-once sessions, as KEEL.SLOTS SESSIONS records (id, value),
 * from a scan cursor: stops past max_bytes or KV_EXPORT_STEPS; returns
 * the next cursor, *done
 * once the table was scanned through. */
uint64_t kv_sessions_export(struct kv *kv, uint64_t cursor, size_t max_bytes, struct rbuf *args,
			    uint32_t *n_records, bool *done);
/* Snapshot section of the slots (kv/snapshot.c): its size without the
 * placed shards, then (with_placed: version 5) a count of them and a
 * record each; writing it, and reading it back (false: malformed). */
#define KV_SLOTS_BYTES	(KV_SLOTS + 16 + 2 * KV_SLOTS + 8 + 4 + 1 + 2 + 2 + 4 + 4)
#define KV_PLACED_BYTES (4 + 1 + 8 * KV_SHARD_MEMBERS_MAX)
void kv_slots_write(const struct kv_slots *sl, bool with_placed, struct rbuf *out);
bool kv_slots_read(struct kv_slots *sl, const uint8_t *p, size_t n, bool with_placed);

#endif
