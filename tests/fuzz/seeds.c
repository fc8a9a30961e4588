/* tests/fuzz/seeds.c — writes the fuzzers' seed corpus (`make fuzz-seeds`,
 * into tests/fuzz/corpus/<fuzzer>/): small valid inputs made by the real
 * encoders (peer frames, Raft messages, replica frames with zstd payloads,
 * keyspace snapshots, log entries) or spelled out (RESP streams, config
 * files, data folders and command sequences in their harness's input
 * format), so each fuzzer starts from inputs that reach deep. The files
 * are named seed-<n>; running it again rewrites the same bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "kv/kv.h"
#include "kv/snapshot.h"
#include "net/frame.h"
#include "raft/codec.h"
#include "replica/proto.h"
#include "resp/buf.h"
#include "server/entry.h"
#include "sim/simfs.h"
#include "storage/journal.h"

static const char *root;

static void put(const char *fuzzer, int n, const void *p, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, fuzzer);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/seed-%d", root, fuzzer, n);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* A mode byte, then bytes. */
static void put_mode(const char *fuzzer, int n, uint8_t mode, const void *p, size_t len)
{
	struct rbuf b;
	rbuf_init(&b);
	rbuf_put(&b, &mode, 1);
	rbuf_put(&b, p, len);
	put(fuzzer, n, b.p, b.len);
	rbuf_free(&b);
}

static void resp_seeds(void)
{
	static const char *const s[] = {
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"SET k \"a\\x00b\\n\" 'it\\'s'\r\nPING\n\r\n",
		"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n",
		"*2\r\n$3\r\nGET\r\n$536870913\r\n",
		"+OK\r\n-ERR x\r\n:1\r\n$-1\r\n*2\r\n$1\r\na\r\n*-1\r\n",
		("%1\r\n+a\r\n_\r\n|1\r\n+k\r\n+v\r\n,1.5\r\n#t\r\n(12\r\n"
		 "=5\r\ntxt:a\r\n~1\r\n>0\r\n"),
		"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n",
	};
	static const uint8_t modes[] = {0, 7, 200, 0, 1, 130, 255};
	for (int i = 0; i < (int)(sizeof s / sizeof *s); i++)
		put_mode("resp", i, modes[i], s[i], strlen(s[i]));
}

static void append_frame(struct rbuf *b, uint8_t kind, const uint8_t *p, size_t n)
{
	uint8_t h[FRAME_HDR];
	frame_header(h, kind, p, (uint32_t)n);
	rbuf_put(b, h, sizeof h);
	rbuf_put(b, p, n);
}

static struct raft_config conf(void)
{
	struct raft_config c = {.n = 2};
	c.members[0] = (struct raft_member){.id = 1, .role = RAFT_VOTER};
	snprintf(c.members[0].addr, RAFT_ADDR_MAX, "127.0.0.1:17001");
	c.members[1] = (struct raft_member){.id = 2, .role = RAFT_LEARNER, .auto_promote = true};
	snprintf(c.members[1].addr, RAFT_ADDR_MAX, "127.0.0.2:17002");
	return c;
}

/* One message of each type, encoded. */
static size_t raft_msgs(uint8_t out[][512])
{
	static uint8_t cbuf[RAFT_CONFIG_BYTES_MAX];
	struct raft_config c = conf();
	uint32_t clen = raft_config_encode(&c, cbuf);
	struct raft_entry es[2] = {
		{.term = 2,
		 .index = 8,
		 .type = RAFT_ENTRY_COMMAND,
		 .len = 3,
		 .data = (uint8_t *)"abc"},
		{.term = 2, .index = 9, .type = RAFT_ENTRY_CONFIG, .len = clen, .data = cbuf}};
	struct raft_msg m[RAFT_MSG_TYPE_MAX];
	memset(m, 0, sizeof m);
	for (int t = 0; t < RAFT_MSG_TYPE_MAX; t++)
		m[t] = (struct raft_msg){.type = (uint8_t)(t + 1), .from = 1, .to = 2, .term = 3};
	m[0].u.vote = (struct raft_msg_vote){7, 2, false};
	m[2].u.vote = (struct raft_msg_vote){7, 2, true};
	m[3].u.vote_resp.granted = true;
	m[4].u.append = (struct raft_msg_append){7, 2, 6, 4, 2, es};
	m[5].u.append_resp = (struct raft_msg_append_resp){false, 0, 7, 1, 5, 4};
	m[6].u.snapshot.meta.index = 9;
	m[6].u.snapshot.meta.term = 2;
	m[6].u.snapshot.meta.config = c;
	m[6].u.snapshot.meta.size = 10;
	m[6].u.snapshot.offset = 4;
	m[6].u.snapshot.len = 3;
	m[6].u.snapshot.data = (const uint8_t *)"xyz";
	m[7].u.snapshot_resp = (struct raft_msg_snapshot_resp){7, true, 9};
	m[9].u.read_index.req_id = 5;
	m[10].u.read_index_resp = (struct raft_msg_read_index_resp){5, 9, true};
	for (int t = 0; t < RAFT_MSG_TYPE_MAX; t++)
		out[t][0] = (uint8_t)raft_msg_encode(&m[t], out[t] + 1, 511);
	return RAFT_MSG_TYPE_MAX;
}

static void raft_and_frame_seeds(void)
{
	static uint8_t msgs[RAFT_MSG_TYPE_MAX][512];
	size_t n = raft_msgs(msgs);
	struct frame_hello h = {.id = 2, .client_port = 7002, .sentinel_port = 26379};
	snprintf(h.peer_addr, sizeof h.peer_addr, "127.0.0.2:17002");
	snprintf(h.client_host, sizeof h.client_host, "127.0.0.2");
	uint8_t hb[FRAME_HELLO_MAX];
	size_t hn = frame_hello_encode(&h, hb);
	struct rbuf b;
	rbuf_init(&b);
	append_frame(&b, FRAME_HELLO, hb, hn);
	for (size_t i = 0; i < n; i++) {
		put("raft", (int)i, msgs[i] + 1, msgs[i][0]);
		append_frame(&b, FRAME_RAFT, msgs[i] + 1, msgs[i][0]);
	}
	uint8_t idx[8];
	bytes_put_u64(idx, 12);
	append_frame(&b, FRAME_REMOVED, idx, sizeof idx);
	put_mode("frame", 0, 0, b.p, b.len);
	put_mode("frame", 1, 1, b.p, 12 + hn + 12 + msgs[4][0]);
	h.client_port = 0;
	hn = frame_hello_encode(&h, hb);
	b.len = 0;
	append_frame(&b, FRAME_HELLO, hb, hn);
	put_mode("frame", 2, 1, b.p, b.len);
	b.len = 0; /* group frames: a Raft message of group 2, a REMOVED of group 1 */
	struct rbuf g;
	rbuf_init(&g);
	uint8_t gh[FRAME_GROUP_HDR];
	frame_group_header(gh, 2, FRAME_RAFT);
	rbuf_put(&g, gh, sizeof gh);
	rbuf_put(&g, msgs[1] + 1, msgs[1][0]);
	append_frame(&b, FRAME_GROUP, g.p, g.len);
	g.len = 0;
	frame_group_header(gh, 1, FRAME_REMOVED);
	rbuf_put(&g, gh, sizeof gh);
	rbuf_put(&g, idx, sizeof idx);
	append_frame(&b, FRAME_GROUP, g.p, g.len);
	put_mode("frame", 3, 1, b.p, b.len);
	b.len = g.len = 0; /* quiescence: group 0's SLEEP, group 3's WAKE, a LIVE */
	uint8_t qb[FRAME_QUIET_LEN], live[FRAME_LIVE_LEN];
	frame_quiet_encode(&(struct frame_quiet){FRAME_QUIET_SLEEP, 4, 17}, qb);
	append_frame(&b, FRAME_QUIET, qb, sizeof qb);
	frame_quiet_encode(&(struct frame_quiet){FRAME_QUIET_WAKE, 4, 0}, qb);
	frame_group_header(gh, 3, FRAME_QUIET);
	rbuf_put(&g, gh, sizeof gh);
	rbuf_put(&g, qb, sizeof qb);
	append_frame(&b, FRAME_GROUP, g.p, g.len);
	bytes_put_u64(live, 1764892800123ull);
	append_frame(&b, FRAME_LIVE, live, sizeof live);
	put_mode("frame", 4, 1, b.p, b.len);
	b.len = 0; /* LEADS: the placed shards a node leads, none, then two */
	uint8_t lb[FRAME_LEADS_LEN(2)];
	frame_leads_encode(NULL, 0, lb);
	append_frame(&b, FRAME_LEADS, lb, FRAME_LEADS_LEN(0));
	frame_leads_encode((const struct frame_lead[]){{2, 5}, {7, 9}}, 2, lb);
	append_frame(&b, FRAME_LEADS, lb, sizeof lb);
	put_mode("frame", 5, 1, b.p, b.len);
	rbuf_free(&g);
	rbuf_free(&b);
}

static void replica_seeds(void)
{
	struct rbuf b;
	rbuf_init(&b);
	struct repl_accept a = {
		REPL_VERSION, REPL_ZSTD, REPL_FROM_LOG, 1, 8, 0, 0, 0, 0, false, 0, 0, 0};
	repl_accept_frame(&b, &a);
	static uint8_t big[300];
	memset(big, 'x', sizeof big);
	struct repl_entry e[3] = {{8, 2, 2, 3, (const uint8_t *)"abc"},
				  {9, 2, 2, sizeof big, big},
				  {10, 3, 1, 0, NULL}};
	repl_entries_frame(&b, REPL_ZSTD, 10, e, 3);
	repl_entries_frame(&b, REPL_RAW, 10, e, 3);
	repl_u64s_frame(&b, REPL_HEARTBEAT, 10, 0);
	put_mode("replica", 0, 0, b.p, b.len);
	b.len = 0;
	a.mode = REPL_FROM_SNAPSHOT;
	a.snap_index = 9;
	a.snap_size = sizeof big;
	repl_accept_frame(&b, &a);
	repl_snap_frame(&b, REPL_ZSTD, 0, big, sizeof big);
	repl_u64s_frame(&b, REPL_CAUGHT_UP, 9, 2);
	put_mode("replica", 1, 1, b.p, b.len);
	/* the built mode: 3 entries from 5, runs of bytes, no flips; then one */
	static const uint8_t built[] = {2, 3, 5, 0,   0, 0, 0,	 0, 0, 0, 1, 2, 200, 'a',
					1, 2, 7, 'b', 2, 1, 255, 0, 9, 0, 0, 0, 0,   0,
					0, 0, 0, 0,   0, 0, 0,	 0, 0, 0, 0, 0, 0};
	put("replica", 2, built, sizeof built);
	uint8_t flipped[sizeof built + 3];
	memcpy(flipped, built, sizeof built);
	flipped[sizeof built - 1] = 1; /* one flip */
	memcpy(flipped + sizeof built, (uint8_t[]){40, 0, 4}, 3);
	put("replica", 3, flipped, sizeof flipped);
	/* a stream of one group: an ACCEPT naming it and its slots, TOPOLOGY */
	b.len = 0;
	a = (struct repl_accept){.version = REPL_VERSION,
				 .next = 8,
				 .has_group = true,
				 .group = 2,
				 .slot_first = 10923,
				 .slot_last = 16383};
	repl_accept_frame(&b, &a);
	struct repl_topology t = {.term = 5, .n = 2};
	t.nodes[0] = (struct repl_topo_node){3, "127.0.0.3", 7003, 17003,
					     REPL_TOPO_LEADER | REPL_TOPO_UP | REPL_TOPO_VOTER};
	t.nodes[1] = (struct repl_topo_node){1, "127.0.0.1", 7001, 17001, REPL_TOPO_VOTER};
	repl_topology_frame(&b, &t);
	put_mode("replica", 4, 0, b.p, b.len);
	rbuf_free(&b);
}

static void kv_put(struct kv *kv, uint32_t db, const char *k, const char *v, int64_t exp)
{
	struct kv_entry *e = kv_dict_add(&kv->db[db], (const uint8_t *)k, strlen(k));
	kv_entry_set(e, (const uint8_t *)v, strlen(v));
	kv_dict_expire(&kv->db[db], e, exp);
}

static void snapshot_seeds(void)
{
	struct kv kv;
	kv_init(&kv, 1);
	kv_put(&kv, 0, "k", "v", 0);
	kv_put(&kv, 0, "counter", "12", 0);
	kv_put(&kv, 3, "t", "soon", 1700000000000);
	kv_session_record(&kv, 7, 1, 0, 1000, (const uint8_t *)"+OK\r\n", 5);
	struct rbuf w;
	rbuf_init(&w);
	kv_snapshot_write(&kv, 0, &w);
	put_mode("snapshot", 0, 0, w.p, w.len);
	put_mode("snapshot", 1, 65, w.p, w.len);
	put_mode("snapshot", 2, 200, w.p, w.len);
	/* version 2: one database, then the sessions, then the checksum */
	w.len = 0;
	rbuf_put(&w, "KEELKV2", 8);
	rbuf_put_u64(&w, 1);
	rbuf_put_u32(&w, 1);
	rbuf_put(&w, "a", 1);
	rbuf_put_u64(&w, 2);
	rbuf_put(&w, "bc", 2);
	rbuf_put_u64(&w, 0);
	rbuf_put_u64(&w, 0);
	rbuf_put_u32(&w, crc32c(0, w.p, w.len));
	put_mode("snapshot", 3, 2, w.p, w.len);
	/* version 5: a metadata group's keyspace, its map with a shard placed
	 * on nodes 1 and 3 */
	struct kv meta;
	kv_init(&meta, 1);
	kv_shard_set(&meta, 2, 0, true);
	struct kv_slots *sl = kv_slots_of(&meta);
	sl->placed = keel_calloc(1, sizeof *sl->placed);
	sl->placed[0] = (struct kv_shard_members){.shard = 2, .n = 2, .ids = {1, 3}};
	sl->n_placed = 1;
	sl->n_shards = 3;
	w.len = 0;
	kv_snapshot_write(&meta, 0, &w);
	put_mode("snapshot", 4, 1, w.p, w.len);
	kv_free(&meta);
	rbuf_free(&w);
	kv_free(&kv);
}

static void entry_seeds(void)
{
	struct resp_arg set[3] = {
		{(const uint8_t *)"SET", 3}, {(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}};
	struct resp_arg incr[2] = {{(const uint8_t *)"INCR", 4}, {(const uint8_t *)"n", 1}};
	struct rbuf b;
	rbuf_init(&b);
	entry_header(&b, 1700000000000, 16, 1);
	entry_req_header(&b, &(struct entry_req_head){0, 0, 0, 0, false, false, false}, 1);
	entry_cmd_append(&b, set, 3);
	put("entry", 0, b.p, b.len);
	b.len = 0;
	entry_header(&b, 1700000000001, 16, 2);
	entry_req_header(&b, &(struct entry_req_head){5, 2, 1, 3, true, false, false}, 2);
	entry_cmd_append(&b, set, 3);
	entry_cmd_append(&b, incr, 2);
	entry_req_header(&b, &(struct entry_req_head){6, 1, 0, 0, false, true, true}, 1);
	entry_cmd_append(&b, incr, 2);
	put("entry", 1, b.p, b.len);
	b.len = 0;
	entry_cmd_append(&b, set, 3);
	put("entry", 2, b.p, b.len);
	/* version 2: no dbs, ack, db or flags */
	b.len = 0;
	rbuf_put(&b, &(uint8_t){2}, 1);
	rbuf_put_u64(&b, 1600000000000);
	rbuf_put_u32(&b, 1);
	rbuf_put_u64(&b, 0);
	rbuf_put_u64(&b, 0);
	rbuf_put_u32(&b, 2);
	entry_cmd_append(&b, set, 3);
	entry_cmd_append(&b, incr, 2);
	put("entry", 3, b.p, b.len);
	rbuf_free(&b);
}

static void config_seeds(void)
{
	static const char file[] =
		"# a node of three\nid 2\nbind 127.0.0.2\nport 7002\npeer-port 17002\n"
		"dir data/2\ncluster 1@127.0.0.1:17001,2@127.0.0.2:17002,3@127.0.0.3:17003\n"
		"databases 16\nsentinel-master-name keel\nsentinel-port 26379\n"
		"client-announce 127.0.0.2:7002\nreplica-compress yes\nsnapshot-entries 1000\n";
	put_mode("config", 0, 0, file, sizeof file - 1);
	static const char replica[] = "replica-of 127.0.0.1:7001,127.0.0.2:7002\n"
				      "client-bind 127.0.0.5,127.0.0.6\nsegment-mb 64\n"
				      "shards 3\nreshard-piece-kb 0\nreshard-piece-kb 1048576\n";
	put_mode("config", 1, 0, replica, sizeof replica - 1);
	static const char line[] = "--id\0001\0--port\0007001\0--cluster\0001@127.0.0.1:17001\0"
				   "--tick-ms\00010\0--client-output-mb\000256\0--verbose";
	put_mode("config", 2, 1, line, sizeof line - 1);
}

/* The poison pill's records as the node writes them, and at their limits. */
static void poison_seeds(void)
{
	static const char *const recs[] = {
		"1\n", "42\n", "9223372036854775807\n", "9223372036854775808\n", "0\n", "7"};
	for (int i = 0; i < 6; i++)
		put("poison", i, recs[i], strlen(recs[i]));
}

/* fuzz_migrate's input: a byte for the groups (1 + b % 4), then steps: an
 * odd byte KEEL.RESHARD (a count of arguments less one, each a word of
 * fuzz_migrate.c's list as "1, index", then a byte: odd, straight to
 * migrate_command), an even one KEEL.ADDSHARD (members: a count less one,
 * each an id's index and a role byte, odd a voter; then the arguments).
 * Words: 0 "0", 1 "1", 2 "-1", 4 "3", 5 "16383", 6 "16384", 7 "5460",
 * 12 INT64_MIN, 13 INT64_MAX, 14 2^64, 15 past 64 bits, 18 "1e3", 21
 * "slot". */
static void migrate_seeds(void)
{
#define W(i) 1, i
	static const uint8_t taken[] = {2, 1, 3, W(0), W(7), W(1), 0, 1, 3, W(5), W(5), W(3), 1};
	static const uint8_t slots[] = {2, 1, 3, W(0), W(6), W(1), 0, 1, 3, W(2), W(0), W(1), 1,
					1, 3, W(5), W(0), W(1), 0};
	static const uint8_t huge[] = {3, 1, 3, W(12), W(13), W(1), 0, 1, 3, W(14), W(15), W(1), 1,
				       1, 3, W(0), W(0), W(13), 0, 1, 3, W(0), W(0), W(12), 1};
	static const uint8_t words[] = {2, 1, 3, W(21), W(0), W(1), 0, 1, 3, W(18), W(5), W(1), 1,
					1, 3, W(0), W(5), W(4), 0, 1, 3, W(0), W(0), W(6), 1};
	static const uint8_t arity[] = {2, 1, 0, 0, 1, 1, W(0), 1, 1, 4, W(0), W(1), W(1), W(1), 0,
					1, 5, W(0), W(1), W(1), W(1), W(1), 1};
	static const uint8_t one_shard[] = {0, 1, 3, W(0), W(7), W(1), 0,
					    1, 3, W(0), W(6), W(1), 1};
	/* members 1, 2, 3 voters (indexes 0-2), 4 a learner (3) */
	static const uint8_t members[] = {
		2, 0, 3, 0, 1, 1, 1, 2, 1, 3, 0, 3, W(1), W(3), W(4),	/* 1 2 3: taken */
		0, 3, 0, 1, 1, 1, 2, 1, 3, 0, 3, W(1), W(1), W(4),	/* an id twice */
		0, 3, 0, 1, 1, 1, 2, 1, 3, 0, 2, W(1), W(2),		/* -1 */
		0, 3, 0, 1, 1, 1, 2, 1, 3, 0, 3, W(0), W(13), W(15),	/* 0, huge */
		0, 0, 0, 1, 0,						/* none: any */
	};
#undef W
	put("migrate", 0, taken, sizeof taken);
	put("migrate", 1, slots, sizeof slots);
	put("migrate", 2, huge, sizeof huge);
	put("migrate", 3, words, sizeof words);
	put("migrate", 4, arity, sizeof arity);
	put("migrate", 5, one_shard, sizeof one_shard);
	put("migrate", 6, members, sizeof members);
}

/* A data folder in fuzz_wal's input format: a repair byte, then files. */
static void wal_seeds(void)
{
	static const uint8_t plain[] = {
		0, 1, 2, 1, 0,			     /* hard state: term 2, vote 1 */
		0, 0, 1, 2, 3,			     /* closed segment 1-3, three records: */
		0, 5, 2, 1, 'h', 'e', 'l', 'l', 'o', /* flags, len, type, term, bytes */
		0, 1, 2, 1, 'a', 0,   0,   2,	2,   1, 4, 2, /* open-0 from 4, two records */
		0, 3, 2, 2, 'x', 'y', 'z', 0,	0,   2, 2,
	};
	put("wal", 0, plain, sizeof plain);
	static const uint8_t snap[] = {
		1,   1,	  3,   0, 0,			      /* hard state: term 3 */
		2,   5,	  2,   4, 's', 'n', 'a', 'p', 3,   0, /* snapshot 5/2, 4 bytes, meta 3 */
		0,   0,	  6,   1, 2,   0,   1,	 2,   3,   'q', 0,  0, 2, 3,	  /* closed 6-7 */
		0,   33,  8,   2, 0,   2,   2,	 3,   'r', 's', 12, 1, 2, 3, 't', /* open-2 8.., a
										     tail */
		9,   9,	  9,   9, 9,   9,   9,	 9,   9,   9,	9,  9, 3, 8, 'x', '.',
		't', 'm', 'p', 0, 0,   0,   2,	 'z', 'z', /* x.tmp */
	};
	put("wal", 1, snap, sizeof snap);
}

/* fuzz_journal's inputs: a file the journal wrote (mode 0), and records
 * to build (mode 1): 2 records, sections of 1 and 2 entries, then a
 * damage byte. */
static void journal_seeds(void)
{
	struct simfs *fs = simfs_new();
	struct journal *j;
	struct keel_errmsg err = {{0}};
	simfs_ops(fs)->mkdir(simfs_ops(fs)->ctx, "d");
	if (journal_create(simfs_ops(fs), "d", 4096, 7, &j, &err)) {
		fprintf(stderr, "journal seeds: %s\n", err.text);
		exit(1);
	}
	static const uint8_t abc[] = {'a', 'b', 'c'};
	struct wal_entry e[2] = {{.term = 2, .index = 7, .type = 1, .len = 3, .data = abc},
				 {.term = 2, .index = 8, .type = 9}};
	journal_add(j, "d", e, 2);
	journal_add(j, "d/meta", e + 1, 1);
	journal_commit(j, &err);
	journal_add(j, "d/shard-1", e, 1);
	journal_commit(j, &err);
	journal_close(j);
	uint8_t file[512];
	simfs_peek(fs, "d/journal", 0, file, sizeof file);
	put_mode("journal", 0, 0, file, sizeof file);
	simfs_free(fs);
	/* mode 1: two records built from the bytes that follow (fuzz_journal's
	 * built(): sections, names, entries with a 3-byte payload), then a
	 * damage byte */
	static const uint8_t build[] = {1, 2, 2, 1, 1, 3, 'x', 'y', 'z', 5, 0, 0, 0, 0, 0,
					0, 0, 9, 0, 0, 0, 0,   0,   0,	 0, 1, 2, 1, 0, 1,
					0, 0, 0, 0, 0, 0, 0,   0,   0,	 3, 0, 0, 0, 0, 0,
					0, 0, 4, 1, 1, 0, 0,   1,   30,	 0, 0, 0, 2};
	put("journal", 1, build, sizeof build);
	/* mode 2, recovery: two logs (a first term, 24 term steps, how many
	 * entries each holds: 5 and 3), then the journal's stretch of each
	 * (4..9 and 3..7) unchanged, with a term changed, with an entry
	 * dropped; then a file given whole (the one above) */
	uint8_t logs[52] = {0}; /* a step byte of 0: a new term */
	for (int i = 1; i < 24; i += 3)
		logs[1 + i] = logs[27 + i] = 1;
	logs[25] = 5;
	logs[51] = 3;
	static const uint8_t stretch[][8] = {
		{0, 0, 3, 6, 2, 5},	  /* no change */
		{0, 1, 3, 6, 1, 2, 5, 0}, /* a term changed: of the first log's 5, the second's 3 */
		{0, 2, 3, 6, 2, 2, 5, 1}, /* an entry past each log's end dropped */
	};
	static const size_t stretch_len[] = {6, 8, 8};
	for (int i = 0; i < 3; i++) {
		uint8_t in[52 + 8 + 8 + 16];
		memset(in, 0, sizeof in);
		memcpy(in, logs, sizeof logs);
		memcpy(in + 52, stretch[i], stretch_len[i]);
		put_mode("journal", 2 + i, 2, in, sizeof in);
	}
	uint8_t whole[52 + 1 + sizeof file];
	memcpy(whole, logs, sizeof logs);
	whole[52] = 1;
	memcpy(whole + 53, file, sizeof file);
	put_mode("journal", 5, 2, whole, sizeof whole);
}

/* Command sequences in fuzz_kv's input format: a step byte, then for a
 * request the command's index in the table, how its arity is chosen, its
 * arguments (a kind byte, then what the kind needs), the session byte. */
static uint8_t cmd_index(const char *name)
{
	uint32_t n;
	const struct kv_cmd *c = kv_commands(&n);
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return (uint8_t)i;
	fprintf(stderr, "no command %s\n", name);
	exit(1);
}

#define KEY(i)	0, i
#define EDGE(i) 3, i
#define RAW1(c) 11, 1, c

static void kv_seeds(void)
{
	uint8_t a[] = {0,
		       cmd_index("set"),
		       0,
		       KEY(0),
		       RAW1('v'),
		       0,
		       0,
		       cmd_index("incrby"),
		       0,
		       KEY(1),
		       EDGE(5),
		       0,
		       0,
		       cmd_index("incrby"),
		       0,
		       KEY(1),
		       EDGE(2),
		       0,
		       0,
		       cmd_index("setrange"),
		       0,
		       KEY(0),
		       EDGE(16),
		       RAW1('x'),
		       0,
		       0,
		       cmd_index("getrange"),
		       0,
		       KEY(0),
		       EDGE(6),
		       EDGE(5),
		       0,
		       0,
		       cmd_index("append"),
		       0,
		       KEY(4),
		       RAW1(0),
		       1,
		       0,
		       cmd_index("append"),
		       0,
		       KEY(4),
		       RAW1(0),
		       65,
		       0,
		       cmd_index("scan"),
		       1,
		       EDGE(0),
		       7,
		       0,
		       EDGE(5),
		       0};
	put("kv", 0, a, sizeof a);
	uint8_t b[] = {6,
		       2,
		       cmd_index("set"),
		       0,
		       KEY(2),
		       RAW1('1'),
		       cmd_index("incrbyfloat"),
		       0,
		       KEY(2),
		       8,
		       0,
		       cmd_index("expire"),
		       0,
		       KEY(2),
		       EDGE(1),
		       2,
		       8,
		       5,
		       0,
		       cmd_index("get"),
		       0,
		       KEY(2),
		       0,
		       9,
		       3,
		       1,
		       0,
		       cmd_index("set"),
		       0,
		       KEY(3),
		       RAW1('z'),
		       0,
		       0,
		       cmd_index("swapdb"),
		       0,
		       EDGE(0),
		       EDGE(1),
		       0,
		       0,
		       cmd_index("keys"),
		       0,
		       10,
		       0,
		       0};
	put("kv", 1, b, sizeof b);
}

/* fuzz_fanout's input: a byte (kind = b % 5: DBSIZE, KEYS, RANDOMKEY,
 * FLUSH, SCAN; mode = b / 5 % 3: raw bytes, a reply made, a cursor), then
 * the mode's bytes. */
static void fanout_seeds(void)
{
	static const struct {
		uint8_t kind;
		const char *text;
	} raw[] = {
		{0, ":12\r\n"},
		{1, "*2\r\n$1\r\na\r\n$0\r\n\r\n"},
		{2, "$3\r\nkey\r\n"},
		{3, "+OK\r\n"},
		{4, "*2\r\n$5\r\n16385\r\n*1\r\n$1\r\nk\r\n"},
		{0, "-ERR x\r\n"},
		{1, "*1\r\n$9\r\nab\r\n"}, /* a key claiming more than there is */
		{4, "*2\r\n$1\r\n0\r\n*1\r\n$-1\r\n"},
		{1, "*-1\r\n"}, /* a nil array */
	};
	for (int i = 0; i < (int)(sizeof raw / sizeof *raw); i++)
		put_mode("fanout", i, raw[i].kind, raw[i].text, strlen(raw[i].text));
	static const uint8_t made[] = {3, 1, 2, 0, 5, 'a', 'b', 0, 1, 9, 9};
	static const uint8_t cursor[] = {0xff, 0x3f, 2,	   0,	 1,    0xff, 0xff,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	put_mode("fanout", 9, 5 + 4, made, sizeof made);   /* a SCAN reply made */
	put_mode("fanout", 10, 10, cursor, sizeof cursor); /* a cursor at its edge */
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seeds <corpus folder>\n");
		return 2;
	}
	root = argv[1];
	mkdir(root, 0755);
	resp_seeds();
	fanout_seeds();
	raft_and_frame_seeds();
	replica_seeds();
	snapshot_seeds();
	entry_seeds();
	config_seeds();
	wal_seeds();
	journal_seeds();
	kv_seeds();
	poison_seeds();
	migrate_seeds();
	return 0;
}
