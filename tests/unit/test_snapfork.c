/* tests/unit/test_snapfork.c — a node's snapshots taken as keel-server
 * takes them: in a forked child (server/snapshots.c), which the whole-node
 * simulator never runs (it writes them in-process). One node, a cluster of
 * its own, in this process on a real loop with its storage thread, in a
 * temporary folder, taking a snapshot every few entries while writes flow.
 * Checked as an operator would: snapshots are taken and named in its
 * folder, no .tmp file is left, every child is reaped (none is left a
 * zombie), the node's own priority is never touched, a child killed before
 * it reports is a failed snapshot that a later one replaces, and after a
 * restart from the folder every acknowledged write is there. Real loopback
 * sockets; every wait has a deadline. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#include "base/crc32c.h"
#include "base/prng.h"
#include "resp/parse.h"
#include "server/server.h"
#include "storage/snapfile.h"

#define DEADLINE_S 15
#define ROUND	   10

static struct server srv;
static uv_loop_t loop;
static char root[64], dir[128], ip[32];
static int port;
static int fd = -1;	  /* the test's client connection */
static uint32_t next_key; /* keys k0000.. written so far */

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void pump(void)
{
	uv_run(&loop, UV_RUN_NOWAIT);
	nanosleep(&(struct timespec){0, 200000}, NULL);
}

static void node_start(void)
{
	char p[16], peer[16], cluster[64];
	snprintf(p, sizeof p, "%d", port);
	snprintf(peer, sizeof peer, "%d", port + 1);
	snprintf(cluster, sizeof cluster, "1@%s:%d", ip, port + 1);
	char *argv[] = {"snapfork", "--id",
			"1",	    "--bind",
			ip,	    "--port",
			p,	    "--peer-port",
			peer,	    "--dir",
			dir,	    "--cluster",
			cluster,    "--election-timeout-ms",
			"300",	    "--heartbeat-ms",
			"50",	    "--snapshot-entries",
			"8",	    "--trailing-entries",
			"4"};
	memset(&srv, 0, sizeof srv);
	struct keel_errmsg err = {{0}};
	if (server_config_parse(&srv.cfg, (int)(sizeof argv / sizeof argv[0]), argv, &err))
		fail_msg("config: %s", err.text);
	assert_int_equal(uv_loop_init(&loop), 0);
	srv.loop = &loop;
	if (server_start(&srv, &err))
		fail_msg("start: %s", err.text);
	double end = now_s() + DEADLINE_S;
	while (!(srv.g->r && raft_role_of(srv.g->r) == RAFT_LEADER) && now_s() < end)
		pump();
	assert_true(srv.g->r && raft_role_of(srv.g->r) == RAFT_LEADER);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, ip, &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
}

/* A clean stop: the requests answered, every handle closed, the storage
 * thread drained. */
static void node_stop(void)
{
	close(fd);
	fd = -1;
	server_stop(&srv);
	double end = now_s() + DEADLINE_S;
	while (uv_loop_alive(&loop) && now_s() < end)
		pump();
	assert_false(uv_loop_alive(&loop));
	server_free(&srv);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void send_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Sends the request and pumps the node until `want` bytes of replies have
 * come; they are returned in buf. */
static void roundtrip(const char *req, size_t len, char *buf, size_t cap, size_t want)
{
	send_all(req, len);
	size_t got = 0;
	double end = now_s() + DEADLINE_S;
	while (got < want && now_s() < end) {
		ssize_t r = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else if (!(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
			fail_msg("the connection ended (recv %zd: %s) after %zu of %zu bytes: "
				 "%.*s (node: %u clients, snapshot child %d, started %llu, "
				 "taken %llu)",
				 r, r ? strerror(errno) : "EOF", got, want, (int)got, buf,
				 srv.n_clients, (int)srv.g->snapshot_child,
				 (unsigned long long)srv.stats.snapshots_started,
				 (unsigned long long)srv.stats.snapshots_taken);
		pump();
	}
	buf[got] = 0;
	assert_int_equal(got, want);
}

/* ROUND SETs pipelined, each answered +OK: k<n> = v<n>. */
static void write_round(void)
{
	char req[ROUND * 64], rep[ROUND * 5 + 1];
	size_t len = 0;
	for (int k = 0; k < ROUND; k++, next_key++)
		len += (size_t)snprintf(req + len, sizeof req - len,
					"*3\r\n$3\r\nSET\r\n$8\r\nk%07u\r\n$8\r\nv%07u\r\n",
					next_key, next_key);
	roundtrip(req, len, rep, sizeof rep, ROUND * 5);
	for (int k = 0; k < ROUND; k++)
		assert_memory_equal(rep + 5 * k, "+OK\r\n", 5);
}

/* Writes until the node has taken `n` snapshots in all. */
static void write_until_taken(uint64_t n)
{
	double end = now_s() + DEADLINE_S;
	while (srv.stats.snapshots_taken < n && now_s() < end)
		write_round();
	assert_true(srv.stats.snapshots_taken >= n);
}

/* No snapshot in progress, and its child reaped. */
static void wait_idle(void)
{
	double end = now_s() + DEADLINE_S;
	while ((snapshots_busy(srv.g) || srv.g->snapshot_exiting) && now_s() < end)
		pump();
	assert_false(snapshots_busy(srv.g));
	assert_int_equal(srv.g->snapshot_exiting, 0);
}

/* This process has no child left, running or a zombie. */
static void assert_no_child(void)
{
	int st;
	errno = 0;
	assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* Whether a .tmp file (a snapshot being written, or one whose child
 * failed) of at least `min` bytes is in the folder. */
static bool tmp_file(off_t min)
{
	bool found = false;
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t n = strlen(e->d_name);
		char path[512];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		found |= n > 4 && !strcmp(e->d_name + n - 4, ".tmp") && !stat(path, &st) &&
			 st.st_size >= min;
	}
	closedir(d);
	return found;
}

/* The latest snapshot is in the folder under its name, whole (its data
 * the size and checksum the node holds, not empty: the keyspace is not),
 * and no .tmp file is left. */
static void assert_files(void)
{
	char name[64], path[256];
	struct stat st;
	assert_true(srv.g->have_snap);
	snap_name(name, sizeof name, srv.g->snap.index, srv.g->snap.term);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	assert_true(srv.g->snap.size > 0);
	assert_int_equal(st.st_size, SNAP_DATA_OFF + srv.g->snap.size);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *data = malloc(srv.g->snap.size);
	assert_int_equal(fseek(f, SNAP_DATA_OFF, SEEK_SET), 0);
	assert_int_equal(fread(data, 1, srv.g->snap.size, f), srv.g->snap.size);
	fclose(f);
	assert_int_equal(crc32c(0, data, srv.g->snap.size), srv.g->snap.crc);
	free(data);
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t n = strlen(e->d_name);
		if (n > 4 && !strcmp(e->d_name + n - 4, ".tmp"))
			fail_msg("%s left in the folder", e->d_name);
	}
	closedir(d);
}

static void expect_get(uint32_t k)
{
	char req[64], rep[64], want[32];
	size_t len = (size_t)snprintf(req, sizeof req, "*2\r\n$3\r\nGET\r\n$8\r\nk%07u\r\n", k);
	snprintf(want, sizeof want, "$8\r\nv%07u\r\n", k);
	roundtrip(req, len, rep, sizeof rep, strlen(want));
	assert_string_equal(rep, want);
}

static void snapshots_in_a_child(void **state)
{
	(void)state;
	errno = 0;
	int nice0 = getpriority(PRIO_PROCESS, 0);
	assert_int_equal(errno, 0);
	node_start();

	/* snapshots every few entries while the writes flow */
	write_until_taken(3);
	wait_idle();
	assert_no_child();
	assert_files();
	assert_true(srv.g->snap.index > 8);
	assert_true(raft_first_index(srv.g->r) > 1); /* the log below it purged */
	assert_int_equal(getpriority(PRIO_PROCESS, 0), nice0);

	/* long after the last snapshot began, with no child: nothing is
	 * raised, and the node's own priority is left alone */
	srv.g->snapshot_started_ms -= 60000;
	for (int i = 0; i < 20; i++)
		pump();
	write_round();
	assert_false(srv.g->snapshot_raised);
	errno = 0;
	assert_int_equal(getpriority(PRIO_PROCESS, 0), nice0);
	assert_int_equal(errno, 0);

	/* a child killed before it reports, once its .tmp file has data:
	 * that snapshot fails, nothing of it is adopted, its .tmp file goes,
	 * and a later one is taken. (A child that reported just before the
	 * kill landed is an ordinary snapshot: another one is killed.) */
	double end = now_s() + DEADLINE_S;
	bool failed = false;
	raft_index failed_at = 0;
	uint64_t taken = 0;
	while (!failed && now_s() < end) {
		write_round();
		while (srv.g->snapshot_child > 0 && srv.g->snapshot_res_got == 0 &&
		       !tmp_file(SNAP_DATA_OFF + 1) && now_s() < end)
			nanosleep(&(struct timespec){0, 100000}, NULL); /* the loop waits */
		if (srv.g->snapshot_child <= 0 || srv.g->snapshot_res_got != 0)
			continue;
		pid_t killed = srv.g->snapshot_child;
		assert_int_equal(kill(killed, SIGKILL), 0);
		failed_at = srv.g->taking.index;
		taken = srv.stats.snapshots_taken;
		while (srv.g->snapshot_child == killed && now_s() < end)
			pump();
		assert_int_not_equal(srv.g->snapshot_child, killed); /* its end was seen */
		failed = srv.g->snapshot_res_got < sizeof srv.g->snapshot_res;
		wait_idle();
		assert_files();
	}
	assert_true(failed);
	write_until_taken(taken + 1);
	wait_idle();
	assert_true(srv.g->snap.index >= failed_at);
	assert_no_child();
	assert_files();

	/* every acknowledged write is there after a restart from the folder */
	uint32_t written = next_key;
	node_stop();
	assert_no_child();
	node_start();
	for (uint32_t k = 0; k < written; k += 7)
		expect_get(k);
	expect_get(written - 1);
	node_stop();
}

int main(void)
{
	/* an address and ports of this run's own */
	struct prng p;
	prng_seed(&p, (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)time(NULL));
	snprintf(ip, sizeof ip, "127.%d.%d.1", 100 + (int)prng_below(&p, 100),
		 (int)prng_below(&p, 250));
	port = 26000 + 2 * (int)prng_below(&p, 490);
	snprintf(root, sizeof root, "/tmp/keel-snapfork-XXXXXX");
	if (!mkdtemp(root))
		return 1;
	snprintf(dir, sizeof dir, "%s/n1", root);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(snapshots_in_a_child),
	};
	int rc = UNIT_RUN("snapfork", tests);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
