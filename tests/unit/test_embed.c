/* tests/unit/test_embed.c — keel's server embedded (server.embed, as the
 * whole-node simulator runs it): three nodes in this one process, on its
 * one thread, each on a loop of its own, with no storage thread (the test
 * steps each committer when it says work is queued) and no fork (snapshots
 * are written in-process). The leader crashes in the middle of a stream of
 * writes (server_halt, its close callbacks, server_discard): its loop must
 * hold no handle after, nothing it held may leak (LeakSanitizer checks at
 * exit), and once restarted from its data folder the cluster must still
 * have every write acknowledged before the crash. Real loopback sockets
 * and files in a temporary folder; every wait has a deadline. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#include "base/prng.h"
#include "resp/parse.h"
#include "server/server.h"

#define N	   3
#define WRITES	   400
#define ROUND	   10
#define DEADLINE_S 30

struct node {
	struct server s;
	struct server_embed embed;
	uv_loop_t loop;
	bool up, step_due;
	uint32_t steps;
};

static struct node nodes[N];
static char root[64];
static char ip[N][32];
static int port0;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void on_queued(void *ctx, struct committer *c)
{
	struct node *n = ctx;
	assert_ptr_equal(c, n->s.com);
	n->step_due = true;
}

static void node_start(int i)
{
	struct node *n = &nodes[i];
	char id[16], port[16], peer[16], dir[128], cluster[256];
	snprintf(id, sizeof id, "%d", i + 1);
	snprintf(port, sizeof port, "%d", port0 + i);
	snprintf(peer, sizeof peer, "%d", port0 + 100 + i);
	snprintf(dir, sizeof dir, "%s/n%d", root, i + 1);
	snprintf(cluster, sizeof cluster, "1@%s:%d,2@%s:%d,3@%s:%d", ip[0], port0 + 100, ip[1],
		 port0 + 101, ip[2], port0 + 102);
	char *argv[] = {"embed", "--id",
			id,	 "--bind",
			ip[i],	 "--port",
			port,	 "--peer-port",
			peer,	 "--dir",
			dir,	 "--cluster",
			cluster, "--election-timeout-ms",
			"500",	 "--heartbeat-ms",
			"50",	 "--snapshot-entries",
			"8"};
	memset(&n->s, 0, sizeof n->s);
	struct keel_errmsg err = {{0}};
	if (server_config_parse(&n->s.cfg, (int)(sizeof argv / sizeof argv[0]), argv, &err))
		fail_msg("config: %s", err.text);
	assert_int_equal(uv_loop_init(&n->loop), 0);
	n->s.loop = &n->loop;
	n->embed = (struct server_embed){on_queued, n};
	n->s.embed = &n->embed;
	n->step_due = false;
	if (server_start(&n->s, &err))
		fail_msg("node %d: %s", i + 1, err.text);
	n->up = true;
}

/* One round: each node's loop once, without blocking, then the storage
 * work each has queued. */
static void pump(void)
{
	for (int i = 0; i < N; i++) {
		struct node *n = &nodes[i];
		if (!n->up)
			continue;
		uv_run(&n->loop, UV_RUN_NOWAIT);
		if (n->step_due) {
			n->step_due = false;
			n->steps += committer_step(n->s.com);
		}
	}
	nanosleep(&(struct timespec){0, 200000}, NULL);
}

static int leader(void)
{
	for (int i = 0; i < N; i++)
		if (nodes[i].up && nodes[i].s.g->r && raft_role_of(nodes[i].s.g->r) == RAFT_LEADER)
			return i;
	return -1;
}

static int wait_leader(void)
{
	double end = now_s() + DEADLINE_S;
	while (leader() < 0 && now_s() < end)
		pump();
	assert_true(leader() >= 0);
	return leader();
}

static int connect_to(int i)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(port0 + i))};
	inet_pton(AF_INET, ip[i], &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a),
			 0); /* the backlog takes it */
	return fd;
}

/* Reads what has arrived into buf (n bytes so far); false at EOF. */
static bool drain(int fd, char *buf, size_t cap, size_t *n)
{
	ssize_t r = recv(fd, buf + *n, cap - 1 - *n, MSG_DONTWAIT);
	if (r > 0)
		*n += (size_t)r;
	buf[*n] = 0;
	return r != 0 && !(r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Crashes node i: its handles closed, their callbacks run, its memory
 * freed, nothing written. */
static void crash(int i)
{
	struct node *n = &nodes[i];
	server_halt(&n->s);
	for (int k = 0; k < 100 && uv_loop_alive(&n->loop); k++)
		uv_run(&n->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&n->loop), 0); /* no handle left open */
	server_discard(&n->s);
	n->up = false;
}

/* GET key on node i: the bulk string, or NULL for a nil. */
static void expect_get(int i, const char *key, const char *want)
{
	int fd = connect_to(i);
	char cmd[128], buf[256];
	int len = snprintf(cmd, sizeof cmd, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
	send_all(fd, cmd, (size_t)len);
	size_t n = 0, frame;
	double end = now_s() + DEADLINE_S;
	while (resp_scan_reply((const uint8_t *)buf, n, &frame) != RESP_OK && now_s() < end) {
		assert_true(drain(fd, buf, sizeof buf, &n));
		pump();
	}
	close(fd);
	char exp[128];
	snprintf(exp, sizeof exp, "$%zu\r\n%s\r\n", strlen(want), want);
	assert_string_equal(buf, exp);
}

static void leader_crash_mid_writes(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++)
		node_start(i);
	int l = wait_leader();

	/* SETs to the leader in rounds of ROUND pipelined ones (an entry or a
	 * few a round), each round answered before the next is sent, until
	 * half of WRITES are; then the rest is sent and the leader crashes
	 * while it is in flight */
	int fd = connect_to(l);
	static char out[WRITES * 64], in[WRITES * 8];
	size_t got = 0;
	double end = now_s() + DEADLINE_S;
	for (int r = 0; r < WRITES / ROUND && got < 5 * WRITES / 2 + 5 * 2 * ROUND; r++) {
		size_t len = 0;
		for (int k = r * ROUND; k < (r + 1) * ROUND; k++)
			len += (size_t)snprintf(out + len, sizeof out - len,
						"*3\r\n$3\r\nSET\r\n$4\r\nk%03d\r\n$4\r\nv%03d\r\n",
						k, k);
		send_all(fd, out, len);
		if (got >= 5 * WRITES / 2)
			continue; /* in flight at the crash */
		while (got < 5 * (size_t)(r + 1) * ROUND && now_s() < end) {
			assert_true(drain(fd, in, sizeof in, &got));
			pump();
		}
	}
	assert_true(got >= 5 * WRITES / 2);
	/* the leader reads them and proposes them: writes in flight */
	struct node *ln = &nodes[l];
	while (!ln->s.g->n_writes && now_s() < end)
		uv_run(&ln->loop, UV_RUN_NOWAIT);
	assert_true(ln->s.g->n_writes > 0);
	ln->step_due = false; /* their entry is never written */
	uint64_t snapshots = 0;
	for (int i = 0; i < N; i++)
		snapshots += nodes[i].s.stats.snapshots_taken;
	assert_true(snapshots > 0); /* in-process, every few entries */
	crash(l);
	while (drain(fd, in, sizeof in, &got)) /* reset or closed */
		;
	close(fd);
	uint32_t acked = 0;
	for (const char *p = in; (p = strstr(p, "+OK\r\n")) != NULL; p += 5)
		acked++;
	assert_int_equal(acked * 5, got); /* nothing but +OK came back */
	assert_true(acked >= WRITES / 2);

	/* the others elect a leader; the crashed node comes back from its
	 * folder; every acknowledged write is there */
	wait_leader();
	node_start(l);
	for (uint32_t k = 0; k < acked; k += 37) {
		char key[16], val[16];
		snprintf(key, sizeof key, "k%03u", k);
		snprintf(val, sizeof val, "v%03u", k);
		expect_get(wait_leader(), key, val);
	}
	for (int i = 0; i < N; i++)
		assert_true(nodes[i].steps > 0);

	/* a clean stop of each: every handle closed, the queue written */
	for (int i = 0; i < N; i++)
		server_stop(&nodes[i].s);
	end = now_s() + DEADLINE_S;
	bool alive = true;
	while (alive && now_s() < end) {
		pump();
		alive = false;
		for (int i = 0; i < N; i++)
			alive |= uv_loop_alive(&nodes[i].loop) != 0;
	}
	assert_false(alive);
	for (int i = 0; i < N; i++) {
		server_free(&nodes[i].s);
		assert_int_equal(uv_loop_close(&nodes[i].loop), 0);
		nodes[i].up = false;
	}
}

int main(void)
{
	/* addresses and ports of this run's own: 127.x.y.1-3 */
	struct prng p;
	prng_seed(&p, (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)time(NULL));
	int x = 100 + (int)prng_below(&p, 100), y = (int)prng_below(&p, 250);
	for (int i = 0; i < N; i++)
		snprintf(ip[i], sizeof ip[i], "127.%d.%d.%d", x, y, i + 1);
	port0 = 30000 + (int)prng_below(&p, 1800);
	snprintf(root, sizeof root, "/tmp/keel-embed-XXXXXX");
	if (!mkdtemp(root))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(leader_crash_mid_writes),
	};
	int rc = UNIT_RUN("embed", tests);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
