/* tests/clients/hiredis_cases.c - hiredis (the C client) used as its users
 * use it, one case per run, started by tests/clients/run.py:
 *
 *   hiredis_cases CASE PREFIX LEADER FOLLOWER HOST:PORT...
 *
 * LEADER and FOLLOWER are indexes into the HOST:PORT list. Cases: the
 * string part of hiredis's example (redisCommand), pipelines that read
 * their own writes (redisAppendCommand, then redisGetReply), MULTI/EXEC,
 * SELECT 1, and a node restarted under a context (redisReconnect). Every reply is written as one
 * short text (+OK, $value, :5, nil, -ERR ..., *N[...]) and compared with what Redis answers. The
 * last line is `RESULT ok MSG` or `RESULT fail MSG`; an alarm ends a case
 * that is still waiting after 40 s with `RESULT fail`. */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NODES_MAX    8
#define TEXT_MAX     512
#define PAIRS_BATCH  50
#define PAIRS_ROUNDS 10
#define CASE_TIME_S  40

struct node {
	char host[64];
	int port;
};

static struct node nodes[NODES_MAX];
static int node_count;
static const char *prefix;
static char failure[TEXT_MAX];
static int failures;

static void fail(const char *fmt, ...)
{
	failures++;
	if (failure[0]) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(failure, sizeof(failure), fmt, ap);
	va_end(ap);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "RESULT fail timed out waiting for a reply\n";
	ssize_t n = write(1, msg, sizeof(msg) - 1);
	(void)n;
	_exit(1);
}

/* One reply as text: +status, $string, :integer, nil, -error, *N[a,b]. */
static void describe(const redisReply *r, char *out, size_t n)
{
	if (!r) {
		snprintf(out, n, "(no reply)");
		return;
	}
	switch (r->type) {
	case REDIS_REPLY_STATUS:
		snprintf(out, n, "+%s", r->str);
		return;
	case REDIS_REPLY_STRING:
		snprintf(out, n, "$%.*s", (int)r->len, r->str);
		return;
	case REDIS_REPLY_INTEGER:
		snprintf(out, n, ":%lld", r->integer);
		return;
	case REDIS_REPLY_NIL:
		snprintf(out, n, "nil");
		return;
	case REDIS_REPLY_ERROR:
		snprintf(out, n, "-%s", r->str);
		return;
	case REDIS_REPLY_ARRAY:
		break;
	default:
		snprintf(out, n, "?type %d", r->type);
		return;
	}
	size_t used = (size_t)snprintf(out, n, "*%zu[", r->elements);
	for (size_t i = 0; i < r->elements && used + 1 < n; i++) {
		describe(r->element[i], out + used, n - used);
		used += strlen(out + used);
		if (i + 1 < r->elements && used + 1 < n) {
			out[used++] = ',';
			out[used] = '\0';
		}
	}
	if (used + 1 < n) {
		out[used++] = ']';
		out[used] = '\0';
	}
}

/* Compares a reply with its expected text, records a failure naming
 * `what` when they differ, and frees the reply. Returns 1 when equal. */
static int expect(redisReply *r, const char *want, const char *what)
{
	char got[TEXT_MAX];
	describe(r, got, sizeof(got));
	freeReplyObject(r);
	if (strcmp(got, want) != 0) {
		fail("%s: got %s, want %s", what, got, want);
		return 0;
	}
	return 1;
}

/* A context connected to node i, with 5 s connect and reply timeouts;
 * exits the case on a connection error. */
static redisContext *connect_node(int i)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout(nodes[i].host, nodes[i].port, tv);
	if (!c || c->err) {
		printf("RESULT fail connecting to %s:%d: %s\n", nodes[i].host, nodes[i].port,
		       c ? c->errstr : "cannot allocate a context");
		exit(1);
	}
	redisSetTimeout(c, tv);
	return c;
}

/* The string commands of hiredis's example.c on every node: PING, SET,
 * a binary-safe SET %b, GET, INCR twice. */
static void case_getting_started(void)
{
	for (int i = 0; i < node_count; i++) {
		redisContext *c = connect_node(i);
		char foo[128], counter[128], bin[128], want[160];
		snprintf(foo, sizeof(foo), "%sfoo", prefix);
		snprintf(counter, sizeof(counter), "%scounter:%d", prefix, i);
		snprintf(bin, sizeof(bin), "%sbar", prefix);
		expect(redisCommand(c, "PING"), "+PONG", "PING");
		snprintf(want, sizeof(want), "hello world %d", i);
		expect(redisCommand(c, "SET %s %s", foo, want), "+OK", "SET foo");
		expect(redisCommand(c, "SET %b %b", bin, strlen(bin), "hello", (size_t)5), "+OK",
		       "SET %b");
		char wantr[180];
		snprintf(wantr, sizeof(wantr), "$%s", want);
		expect(redisCommand(c, "GET %s", foo), wantr, "GET foo");
		expect(redisCommand(c, "GET %s", bin), "$hello", "GET bar");
		expect(redisCommand(c, "INCR %s", counter), ":1", "INCR counter");
		expect(redisCommand(c, "INCR %s", counter), ":2", "INCR counter again");
		redisFree(c);
	}
}

/* One MSET of the round's keys to "old". */
static void set_old(redisContext *c, const char *role, int round)
{
	static char keys[PAIRS_BATCH][128];
	const char *argv[1 + 2 * PAIRS_BATCH];
	argv[0] = "MSET";
	for (int k = 0; k < PAIRS_BATCH; k++) {
		snprintf(keys[k], sizeof(keys[k]), "%s%s:p%d:%d", prefix, role, round, k);
		argv[1 + 2 * k] = keys[k];
		argv[2 + 2 * k] = "old";
	}
	expect(redisCommandArgv(c, 1 + 2 * PAIRS_BATCH, argv, NULL), "+OK", "MSET old");
}

/* 500 SET k new / GET k pairs appended 50 pairs at a time after k was
 * set to old (one MSET a round), then 20 INCR n; GET n; INCR n; GET n, each read back with
 * redisGetReply in order. Returns the number of replies that differ. */
static int pipeline_on(int node, const char *role)
{
	redisContext *c = connect_node(node);
	int bad = failures;
	char key[128], what[160];
	for (int round = 0; round < PAIRS_ROUNDS; round++) {
		set_old(c, role, round);
		for (int k = 0; k < PAIRS_BATCH; k++) {
			snprintf(key, sizeof(key), "%s%s:p%d:%d", prefix, role, round, k);
			redisAppendCommand(c, "SET %s new", key);
			redisAppendCommand(c, "GET %s", key);
		}
		for (int k = 0; k < PAIRS_BATCH; k++) {
			void *r = NULL;
			snprintf(what, sizeof(what), "%s: pipelined SET", role);
			redisGetReply(c, &r);
			expect(r, "+OK", what);
			snprintf(what, sizeof(what), "%s: pipelined GET after SET", role);
			r = NULL;
			redisGetReply(c, &r);
			expect(r, "$new", what);
		}
	}
	static const char *const incr_want[] = {":1", "$1", ":2", "$2"};
	for (int k = 0; k < 20; k++) {
		snprintf(key, sizeof(key), "%s%s:n%d", prefix, role, k);
		for (int j = 0; j < 4; j++) {
			redisAppendCommand(c, j % 2 ? "GET %s" : "INCR %s", key);
		}
		for (int j = 0; j < 4; j++) {
			void *r = NULL;
			snprintf(what, sizeof(what), "%s: INCR/GET pipeline reply %d", role, j + 1);
			redisGetReply(c, &r);
			expect(r, incr_want[j], what);
		}
	}
	redisFree(c);
	return failures - bad;
}

static void case_pipeline(int leader, int follower)
{
	int bad_leader = pipeline_on(leader, "leader");
	int bad_follower = pipeline_on(follower, "follower");
	if (bad_leader || bad_follower) {
		char first[TEXT_MAX];
		snprintf(first, sizeof(first), "%s", failure);
		failure[0] = '\0';
		fail("%d of 1080 replies wrong on the leader, %d on the follower; first: %s",
		     bad_leader, bad_follower, first);
	}
}

/* MULTI; SET; INCR; GET; EXEC with redisCommand on the leader and on a
 * follower, the effects read on the other; and the same transaction
 * appended as one pipeline. */
static void case_multi_exec(int leader, int follower)
{
	int pair[2][2] = {{leader, follower}, {follower, leader}};
	for (int p = 0; p < 2; p++) {
		redisContext *c = connect_node(pair[p][0]);
		char k[128], n[128];
		snprintf(k, sizeof(k), "%s%d:m", prefix, p);
		snprintf(n, sizeof(n), "%s%d:c", prefix, p);
		expect(redisCommand(c, "MULTI"), "+OK", "MULTI");
		expect(redisCommand(c, "SET %s v1", k), "+QUEUED", "SET in MULTI");
		expect(redisCommand(c, "INCR %s", n), "+QUEUED", "INCR in MULTI");
		expect(redisCommand(c, "GET %s", k), "+QUEUED", "GET in MULTI");
		expect(redisCommand(c, "EXEC"), "*3[+OK,:1,$v1]", "EXEC");
		redisContext *o = connect_node(pair[p][1]);
		expect(redisCommand(o, "GET %s", k), "$v1", "GET on another node");
		expect(redisCommand(o, "GET %s", n), "$1", "GET counter on another node");
		redisFree(o);
		static const char *const want[] = {"+OK", "+QUEUED", "+QUEUED", "+QUEUED",
						   "*3[+OK,:2,$v2]"};
		redisAppendCommand(c, "MULTI");
		redisAppendCommand(c, "SET %s v2", k);
		redisAppendCommand(c, "INCR %s", n);
		redisAppendCommand(c, "GET %s", k);
		redisAppendCommand(c, "EXEC");
		for (int j = 0; j < 5; j++) {
			void *r = NULL;
			redisGetReply(c, &r);
			expect(r, want[j], "pipelined MULTI/EXEC");
		}
		redisFree(c);
	}
}

/* SELECT 1 on a follower, SET and GET there; SELECT 0 on the same
 * connection and a fresh connection to the leader do not see the key. */
static void case_select_db1(int leader, int follower)
{
	redisContext *c = connect_node(follower);
	char k[128];
	snprintf(k, sizeof(k), "%sdb1key", prefix);
	expect(redisCommand(c, "SELECT 1"), "+OK", "SELECT 1");
	expect(redisCommand(c, "SET %s in-db1", k), "+OK", "SET in db 1");
	expect(redisCommand(c, "GET %s", k), "$in-db1", "GET in db 1");
	expect(redisCommand(c, "SELECT 0"), "+OK", "SELECT 0");
	expect(redisCommand(c, "GET %s", k), "nil", "GET in db 0 after SELECT 0");
	redisFree(c);
	redisContext *o = connect_node(leader);
	expect(redisCommand(o, "EXISTS %s", k), ":0", "EXISTS in db 0 on the leader");
	expect(redisCommand(o, "SELECT 1"), "+OK", "SELECT 1 on the leader");
	expect(redisCommand(o, "GET %s", k), "$in-db1", "GET in db 1 on the leader");
	redisFree(o);
}

/* A command that, on a connection error, is sent again once on a new
 * connection (redisReconnect), as a hiredis user writes it: hiredis
 * itself does not reconnect. */
static redisReply *command_reconnecting(redisContext *c, const char *cmd, const char *key)
{
	redisReply *r = redisCommand(c, cmd, key);
	if (r || !c->err) {
		return r;
	}
	if (redisReconnect(c) != REDIS_OK) {
		fail("redisReconnect: %s", c->errstr);
		return NULL;
	}
	redisSetTimeout(c, (struct timeval){5, 0});
	return redisCommand(c, cmd, key);
}

/* SET on the leader; the driver restarts that node (kill -9, start)
 * when told `ready` and answers a line; the same context, reconnected,
 * reads the value and writes again. */
static void case_reconnect(int leader)
{
	redisContext *c = connect_node(leader);
	char k[128], line[64];
	snprintf(k, sizeof(k), "%srestart", prefix);
	expect(redisCommand(c, "SET %s before", k), "+OK", "SET before the restart");
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) {
		fail("no answer from the driver");
		return;
	}
	expect(command_reconnecting(c, "GET %s", k), "$before", "GET after the restart");
	expect(redisCommand(c, "SET %s after", k), "+OK", "SET after the restart");
	expect(redisCommand(c, "GET %s", k), "$after", "GET after the second SET");
	redisFree(c);
}

static int parse_node(const char *s, struct node *n)
{
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(n->host)) {
		return -1;
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535) {
		return -1;
	}
	memcpy(n->host, s, (size_t)(colon - s));
	n->host[colon - s] = '\0';
	n->port = (int)port;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 6 || argc - 5 > NODES_MAX) {
		fprintf(stderr, "usage: %s CASE PREFIX LEADER FOLLOWER HOST:PORT...\n", argv[0]);
		return 2;
	}
	signal(SIGALRM, on_alarm);
	alarm(CASE_TIME_S);
	prefix = argv[2];
	long leader = strtol(argv[3], NULL, 10);
	long follower = strtol(argv[4], NULL, 10);
	node_count = argc - 5;
	for (int i = 0; i < node_count; i++) {
		if (parse_node(argv[5 + i], &nodes[i]) != 0) {
			fprintf(stderr, "bad address %s\n", argv[5 + i]);
			return 2;
		}
	}
	if (leader < 0 || leader >= node_count || follower < 0 || follower >= node_count) {
		fprintf(stderr, "LEADER and FOLLOWER must index the addresses\n");
		return 2;
	}
	const char *name = argv[1];
	if (strcmp(name, "getting_started") == 0) {
		case_getting_started();
	} else if (strcmp(name, "pipeline") == 0) {
		case_pipeline((int)leader, (int)follower);
	} else if (strcmp(name, "multi_exec") == 0) {
		case_multi_exec((int)leader, (int)follower);
	} else if (strcmp(name, "select_db1") == 0) {
		case_select_db1((int)leader, (int)follower);
	} else if (strcmp(name, "reconnect") == 0) {
		case_reconnect((int)leader);
	} else {
		printf("RESULT fail no case %s\n", name);
		return 1;
	}
	if (failures) {
		printf("RESULT fail %d wrong replies; %s\n", failures, failure);
		return 1;
	}
	printf("RESULT ok\n");
	return 0;
}
