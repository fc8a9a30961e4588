/* tests/nsim/selftest.c — the self-test of the simulated world and libuv
 * (world.c, uvsim.c): a small echo server and clients written against the
 * libuv API, run on simulated hosts, checking what keel relies on: bytes
 * in order after a latency, the send buffer's UV_EAGAIN and queued writes
 * completing later, timers in due order, uv_now fixed within an
 * iteration, idle, check after I/O, async wakes, close after
 * UV_ECANCELED write callbacks, refused and timed-out connects, cuts that
 * hold bytes until healed, resets, crashes (handles closed, disk crashed),
 * pauses, the driver's connections, and one seed giving one trace. Prints
 * `nsim-selftest: N passed, M failed`; exits non-zero on a failure. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base/mem.h"
#include "nsim/uvsim.h"
#include "nsim/world.h"
#include "sim/simfs.h"

#define MS   1000000ull
#define PORT 7001

static int case_failed;

#define CHECK(c)                                                            \
	do {                                                                \
		if (!(c)) {                                                 \
			printf("FAIL %s:%d: %s\n", __func__, __LINE__, #c); \
			case_failed = 1;                                    \
		}                                                           \
	} while (0)

/* ---------------------------------------------------------------- the trace */

struct trace {
	uint64_t hash, lines;
	bool print;
};

static void trace_line(void *ctx, const char *line)
{
	struct trace *t = ctx;
	for (const char *p = line; *p; p++)
		t->hash = (t->hash ^ (uint8_t)*p) * 0x100000001b3ull;
	t->hash = (t->hash ^ '\n') * 0x100000001b3ull;
	t->lines++;
	if (t->print)
		printf("  %s\n", line);
}

static struct trace the_trace;

static uint32_t split_permille; /* of the next world (world_set_split) */

static struct world *mk_world(uint64_t seed)
{
	the_trace = (struct trace){.hash = 0xcbf29ce484222325ull, .print = getenv("NSIM_TRACE")};
	struct world_options o = {.seed = seed, .trace = trace_line, .trace_ctx = &the_trace};
	struct world *w = world_new(&o);
	world_set_split(w, split_permille);
	return w;
}

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

static void close_if_open(uv_handle_t *h, uv_close_cb cb)
{
	if (h->u.reserved[0] && !uv_is_closing(h))
		uv_close(h, cb);
}

/* ---------------------------------------------------------------- the server */

enum srv_mode { M_ECHO = 1, M_SINK }; /* M_SINK: accepts and does not read */

struct sconn {
	uv_tcp_t tcp;
	struct srv *srv;
	struct sconn *next;
	char buf[4096];
};

struct srv {
	uv_tcp_t lis;
	enum srv_mode mode;
	struct sconn *conns;
	size_t got, accepted;
	int last_err; /* the last read error (UV_EOF, UV_ECONNRESET) */
	uint64_t first_read_ns;
	size_t reads, one_byte_reads; /* read callbacks with bytes */
	int closes;
};

static void s_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct sconn *c = h->data;
	*buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void s_write_done(uv_write_t *req, int status)
{
	(void)status;
	keel_free(req);
}

static void s_conn_closed(uv_handle_t *h)
{
	struct sconn *c = h->data;
	c->srv->closes++;
	for (struct sconn **pp = &c->srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	keel_free(c);
}

static void s_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct sconn *c = st->data;
	struct srv *s = c->srv;
	if (n < 0) {
		s->last_err = (int)n;
		uv_close((uv_handle_t *)st, s_conn_closed);
		return;
	}
	if (!s->got && n > 0)
		s->first_read_ns = uv_hrtime();
	s->reads += n > 0;
	s->one_byte_reads += n == 1;
	s->got += (size_t)n;
	if (s->mode != M_ECHO || n == 0)
		return;
	uv_write_t *req = keel_malloc(sizeof *req + (size_t)n);
	memcpy(req + 1, buf->base, (size_t)n);
	uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)n);
	if (uv_write(req, st, &b, 1, s_write_done) != 0)
		keel_free(req);
}

static void s_start_reading(struct sconn *c)
{
	uv_read_start((uv_stream_t *)&c->tcp, s_alloc, s_read);
}

static void s_connection(uv_stream_t *l, int status)
{
	struct srv *s = l->data;
	if (status != 0)
		return;
	struct sconn *c = keel_calloc(1, sizeof *c);
	c->srv = s;
	uv_tcp_init(l->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, s_conn_closed);
		return;
	}
	s->accepted++;
	c->next = s->conns;
	s->conns = c;
	if (s->mode == M_ECHO)
		s_start_reading(c);
}

static int srv_start(struct srv *s, uv_loop_t *loop, const char *ip, int port)
{
	struct sockaddr_in a;
	uv_tcp_init(loop, &s->lis);
	s->lis.data = s;
	uv_ip4_addr(ip, port, &a);
	int rc = uv_tcp_bind(&s->lis, (const struct sockaddr *)&a, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&s->lis, 128, s_connection);
	return rc;
}

static void srv_halt(void *arg)
{
	struct srv *s = arg;
	close_if_open((uv_handle_t *)&s->lis, NULL);
	for (struct sconn *c = s->conns; c; c = c->next)
		close_if_open((uv_handle_t *)&c->tcp, s_conn_closed);
}

/* ---------------------------------------------------------------- the client */

struct cli {
	uv_tcp_t tcp;
	uv_connect_t creq;
	int cstatus; /* 1 until the connect callback */
	uint64_t connected_ns, first_read_ns;
	size_t sent, got;
	int writes, writes_ok, read_err;
	bool order_ok;
	char buf[65536];
	void (*on_connect)(struct cli *c);
	bool closed;
};

static void c_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct cli *c = h->data;
	*buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void c_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct cli *c = st->data;
	if (n < 0) {
		c->read_err = (int)n;
		return;
	}
	if (!c->got && n > 0)
		c->first_read_ns = uv_hrtime();
	for (ssize_t i = 0; i < n; i++)
		if ((uint8_t)buf->base[i] != pat(c->got + (size_t)i))
			c->order_ok = false;
	c->got += (size_t)n;
}

static void c_write_done(uv_write_t *req, int status)
{
	struct cli *c = req->handle->data;
	c->writes_ok += status == 0;
	keel_free(req);
}

static void c_send(struct cli *c, size_t n)
{
	uv_write_t *req = keel_malloc(sizeof *req + n);
	uint8_t *p = (uint8_t *)(req + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = pat(c->sent + i);
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, c_write_done) != 0) {
		keel_free(req);
		return;
	}
	c->sent += n;
	c->writes++;
}

static void c_connected(uv_connect_t *req, int status)
{
	struct cli *c = req->data;
	c->cstatus = status;
	c->connected_ns = uv_hrtime();
	if (status != 0)
		return;
	uv_read_start((uv_stream_t *)&c->tcp, c_alloc, c_read);
	if (c->on_connect)
		c->on_connect(c);
}

static void cli_start(struct cli *c, uv_loop_t *loop, const char *ip, int port)
{
	struct sockaddr_in a;
	c->cstatus = 1;
	c->order_ok = true;
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c;
	c->creq.data = c;
	uv_ip4_addr(ip, port, &a);
	uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&a, c_connected);
}

static void cli_closed(uv_handle_t *h)
{
	((struct cli *)h->data)->closed = true;
}

static void cli_halt(void *arg)
{
	struct cli *c = arg;
	close_if_open((uv_handle_t *)&c->tcp, cli_closed);
}

/* A server on A and a client on B, connected. */
struct pair {
	struct world *w;
	struct host *a, *b;
	struct srv srv;
	struct cli cli;
};

static void pair_srv_up(void *arg)
{
	struct pair *p = arg;
	srv_start(&p->srv, host_loop(p->a), "127.0.0.1", PORT);
}

static void pair_cli_up(void *arg)
{
	struct pair *p = arg;
	cli_start(&p->cli, host_loop(p->b), "127.0.0.1", PORT);
}

static void pair_up(struct pair *p, uint64_t seed, enum srv_mode mode,
		    void (*on_connect)(struct cli *))
{
	memset(p, 0, sizeof *p);
	p->w = mk_world(seed);
	p->a = world_host(p->w, "127.0.0.1");
	p->b = world_host(p->w, "127.0.0.2");
	p->srv.mode = mode;
	p->cli.on_connect = on_connect;
	host_up(p->a, pair_srv_up, p);
	host_up(p->b, pair_cli_up, p);
}

static void pair_down(struct pair *p)
{
	if (host_is_up(p->a))
		host_crash(p->a, srv_halt, &p->srv);
	if (host_is_up(p->b))
		host_crash(p->b, cli_halt, &p->cli);
	world_free(p->w);
}

/* ---------------------------------------------------------------- cases */

static void send_many(struct cli *c)
{
	struct prng r;
	prng_seed(&r, 7);
	for (int i = 0; i < 300; i++)
		c_send(c, (size_t)prng_range(&r, 1, 5000));
}

static void t_echo(void)
{
	struct pair p;
	pair_up(&p, 1, M_ECHO, send_many);
	world_run_until(p.w, 10000 * MS);
	CHECK(p.cli.cstatus == 0);
	CHECK(p.cli.sent > NSIM_SNDBUF);
	CHECK(p.cli.writes == 300);
	CHECK(p.cli.writes_ok == 300);
	CHECK(p.cli.got == p.cli.sent);
	CHECK(p.cli.order_ok);
	CHECK(p.srv.got == p.cli.sent);
	/* the bytes went there and back: two latencies at least */
	CHECK(p.cli.first_read_ns >= p.cli.connected_ns + 2 * 100000u);
	CHECK(p.srv.first_read_ns > p.cli.connected_ns);
	pair_down(&p);
}

/* The same on a split connection: each write arrives in several reads,
 * one-byte ones among them, every byte once and in order. */
static void t_split(void)
{
	struct pair p;
	split_permille = 1000;
	pair_up(&p, 1, M_ECHO, send_many);
	split_permille = 0;
	world_run_until(p.w, 10000 * MS);
	CHECK(p.cli.writes_ok == 300);
	CHECK(p.cli.got == p.cli.sent);
	CHECK(p.cli.order_ok);
	CHECK(p.srv.got == p.cli.sent);
	CHECK(p.srv.reads > 300); /* more reads than writes, though reads coalesce */
	CHECK(p.srv.one_byte_reads > 0);
	pair_down(&p);
}

static size_t tw_accepted;
static int tw_again, tw_queue_after;

static void try_until_full(struct cli *c)
{
	static char chunk[16384];
	uv_buf_t b = uv_buf_init(chunk, sizeof chunk);
	for (int i = 0; i < 64; i++) { /* 1 MiB: well past the send buffer */
		int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (n < 0) {
			tw_again = n;
			break;
		}
		tw_accepted += (size_t)n;
	}
	c_send(c, 100 * 1024);
	tw_queue_after = (int)uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static void start_sink_reading(void *arg)
{
	struct pair *p = arg;
	for (struct sconn *c = p->srv.conns; c; c = c->next)
		s_start_reading(c);
}

static void t_try_write(void)
{
	struct pair p;
	tw_accepted = 0;
	tw_again = 0;
	pair_up(&p, 2, M_SINK, try_until_full);
	world_run_until(p.w, 1000 * MS);
	CHECK(tw_again == UV_EAGAIN);
	CHECK(tw_accepted == NSIM_SNDBUF);
	CHECK(tw_queue_after == 100 * 1024);
	CHECK(p.cli.writes == 1);
	CHECK(p.cli.writes_ok == 0); /* the far end reads nothing: it waits */
	CHECK(uv_stream_get_write_queue_size((uv_stream_t *)&p.cli.tcp) == 100 * 1024);
	CHECK(uv_try_write((uv_stream_t *)&p.cli.tcp, &(uv_buf_t){.base = "x", .len = 1}, 1) ==
	      UV_EAGAIN);
	host_enter(p.a, start_sink_reading, &p);
	world_run_until(p.w, 2000 * MS);
	CHECK(p.cli.writes_ok == 1);
	CHECK(uv_stream_get_write_queue_size((uv_stream_t *)&p.cli.tcp) == 0);
	CHECK(p.srv.got == NSIM_SNDBUF + 100 * 1024);
	pair_down(&p);
}

/* ---- timers */

struct tlog {
	char names[32];
	uint64_t now[32], at[32];
	int n, rep_fires;
	uint64_t check_now[64], check_at[64];
	int checks;
};

static struct tlog tl;
static uv_timer_t tm[5];
static uv_check_t tm_check;

static void tm_fire(uv_timer_t *t)
{
	int i = (int)(t - tm);
	if (tl.n < 32) {
		tl.names[tl.n] = (char)('0' + i);
		tl.now[tl.n] = uv_now(t->loop);
		tl.at[tl.n] = uv_hrtime();
		tl.n++;
	}
	if (i == 0 && ++tl.rep_fires == 4)
		uv_timer_stop(t);
}

static void tm_check_cb(uv_check_t *c)
{
	if (tl.checks < 64) {
		tl.check_now[tl.checks] = uv_now(c->loop);
		tl.check_at[tl.checks] = uv_hrtime();
		tl.checks++;
	}
}

static uint64_t tm_n0;

static void tm_start(void *arg)
{
	uv_loop_t *loop = host_loop(arg);
	static const uint64_t after[5] = {0, 30, 10, 20, 10};
	tm_n0 = uv_now(loop);
	for (int i = 1; i <= 4; i++) {
		uv_timer_init(loop, &tm[i]);
		uv_timer_start(&tm[i], tm_fire, after[i], 0);
	}
	uv_timer_init(loop, &tm[0]);
	uv_timer_start(&tm[0], tm_fire, 5, 5);
	tm_check.data = NULL;
	uv_check_init(loop, &tm_check);
	uv_check_start(&tm_check, tm_check_cb);
}

static void tm_halt(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++)
		uv_close((uv_handle_t *)&tm[i], NULL);
	uv_close((uv_handle_t *)&tm_check, NULL);
}

static void t_timers(void)
{
	memset(&tl, 0, sizeof tl);
	struct world *w = mk_world(3);
	struct host *a = world_host(w, "127.0.0.1");
	world_run_until(w, 3 * MS + 400000u);
	host_up(a, tm_start, a);
	world_run_until(w, 100 * MS);
	/* by due time, then start order; '0' repeats every 5 ms (4 times) */
	static const uint64_t due[] = {5, 10, 10, 10, 15, 20, 20, 30};
	CHECK(tl.n == 8);
	CHECK(memcmp(tl.names, "02400301", 8) == 0);
	for (int i = 0; i < tl.n && i < 8; i++) {
		CHECK(tl.now[i] == tm_n0 + due[i]);
		CHECK(tl.at[i] >= (tm_n0 + due[i]) * MS);
		CHECK(tl.at[i] < (tm_n0 + due[i]) * MS + MS);
	}
	/* the three timers due at 10 ms ran in one iteration: one time, one
	 * uv_now, and the check handle of that iteration saw the same */
	CHECK(tl.at[1] == tl.at[2] && tl.at[2] == tl.at[3]);
	int seen = 0;
	for (int i = 0; i < tl.checks; i++)
		if (tl.check_at[i] == tl.at[1]) {
			seen++;
			CHECK(tl.check_now[i] == tl.now[1]);
		}
	CHECK(seen == 1);
	CHECK(tl.checks == 5); /* one per iteration: at 5, 10, 15, 20 and 30 ms */
	host_crash(a, tm_halt, NULL);
	world_free(w);
}

/* ---- idle */

static uv_idle_t idle;
static uv_check_t idle_check;
static int idle_calls, idle_checks;

static void idle_cb(uv_idle_t *h)
{
	(void)h;
	idle_calls++;
}

static void idle_check_cb(uv_check_t *h)
{
	(void)h;
	idle_checks++;
}

static void idle_up(void *arg)
{
	uv_loop_t *loop = host_loop(arg);
	uv_idle_init(loop, &idle);
	uv_check_init(loop, &idle_check);
	uv_check_start(&idle_check, idle_check_cb);
}

static void idle_go(void *arg)
{
	(void)arg;
	uv_idle_start(&idle, idle_cb);
}

static void idle_halt(void *arg)
{
	(void)arg;
	uv_idle_stop(&idle);
	uv_close((uv_handle_t *)&idle, NULL);
	uv_close((uv_handle_t *)&idle_check, NULL);
}

static void t_idle(void)
{
	idle_calls = idle_checks = 0;
	struct world *w = mk_world(4);
	struct host *a = world_host(w, "127.0.0.1");
	host_up(a, idle_up, a);
	world_run_until(w, 10 * MS);
	int checks0 = idle_checks;
	CHECK(idle_calls == 0);
	CHECK(checks0 <= 1); /* nothing to do: the loop sleeps */
	host_enter(a, idle_go, NULL);
	world_run_until(w, 11 * MS);
	CHECK(idle_calls >= 500);  /* an idle handle keeps it iterating */
	CHECK(idle_calls <= 1001); /* one iteration per microsecond at most */
	CHECK(idle_checks - checks0 == idle_calls);
	host_enter(a, idle_halt, NULL);
	int calls = idle_calls;
	world_run_until(w, 50 * MS);
	CHECK(idle_calls == calls);
	host_down(a);
	world_free(w);
}

/* ---- check after I/O */

static uv_check_t io_check;
static uint64_t io_read_at;
static bool io_read_since_check;
static int io_checks_after_read, io_mismatch;

static void io_check_cb(uv_check_t *h)
{
	(void)h;
	if (!io_read_since_check)
		return;
	io_read_since_check = false;
	if (io_read_at == uv_hrtime())
		io_checks_after_read++;
	else
		io_mismatch++;
}

static void io_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	c_read(st, n, buf);
	if (n > 0) {
		io_read_at = uv_hrtime();
		io_read_since_check = true;
	}
}

static void io_connect(struct cli *c)
{
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_read_start((uv_stream_t *)&c->tcp, c_alloc, io_read);
	uv_check_init(c->tcp.loop, &io_check);
	uv_check_start(&io_check, io_check_cb);
	for (int i = 0; i < 20; i++)
		c_send(c, 1000);
}

static void io_halt(void *arg)
{
	cli_halt(arg);
	uv_close((uv_handle_t *)&io_check, NULL);
}

static void t_check_after_io(void)
{
	struct pair p;
	io_checks_after_read = io_mismatch = 0;
	io_read_since_check = false;
	pair_up(&p, 5, M_ECHO, io_connect);
	world_run_until(p.w, 1000 * MS);
	CHECK(p.cli.got == 20000);
	CHECK(io_checks_after_read >= 1);
	CHECK(io_mismatch == 0);
	host_crash(p.b, io_halt, &p.cli);
	pair_down(&p);
}

/* ---- async */

static uv_async_t as;
static int as_calls;
static uint64_t as_at[4];

static void as_cb(uv_async_t *h)
{
	(void)h;
	if (as_calls < 4)
		as_at[as_calls] = uv_hrtime();
	as_calls++;
}

static void as_up(void *arg)
{
	uv_async_init(host_loop(arg), &as, as_cb);
}

static void as_send_twice(void *arg)
{
	(void)arg;
	uv_async_send(&as);
	uv_async_send(&as);
}

static void as_halt(void *arg)
{
	(void)arg;
	uv_close((uv_handle_t *)&as, NULL);
}

static void t_async(void)
{
	as_calls = 0;
	struct world *w = mk_world(6);
	struct host *a = world_host(w, "127.0.0.1");
	host_up(a, as_up, a);
	world_at(w, 5 * MS, as_send_twice, NULL);
	world_at(w, 7 * MS, as_send_twice, NULL);
	world_run_until(w, 4 * MS);
	CHECK(as_calls == 0);
	world_run_until(w, 20 * MS);
	CHECK(as_calls == 2); /* two sends before an iteration: one callback */
	CHECK(as_at[0] == 5 * MS);
	CHECK(as_at[1] == 7 * MS);
	host_crash(a, as_halt, NULL);
	world_free(w);
}

/* ---- close after the write callbacks */

static char cl_log[256];

static void cl_write_done(uv_write_t *req, int status)
{
	size_t n = strlen(cl_log);
	snprintf(cl_log + n, sizeof cl_log - n, "w%d=%d ", (int)(intptr_t)req->data, status);
	keel_free(req);
}

static void cl_closed(uv_handle_t *h)
{
	size_t n = strlen(cl_log);
	snprintf(cl_log + n, sizeof cl_log - n, "close");
	cli_closed(h);
}

static void cl_write_and_close(struct cli *c)
{
	static char big[100 * 1024];
	for (int i = 1; i <= 4; i++) {
		uv_write_t *req = keel_malloc(sizeof *req);
		req->data = (void *)(intptr_t)i;
		uv_buf_t b = uv_buf_init(big, sizeof big);
		uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, cl_write_done);
	}
	uv_close((uv_handle_t *)&c->tcp, cl_closed);
}

static void t_close_cancels(void)
{
	struct pair p;
	cl_log[0] = 0;
	pair_up(&p, 7, M_SINK, cl_write_and_close);
	world_run_until(p.w, 1000 * MS);
	/* 1 and 2 fit the send buffer (done, not yet called back), 3 and 4
	 * were still queued */
	CHECK(strcmp(cl_log, "w1=0 w2=0 w3=-125 w4=-125 close") == 0);
	if (strcmp(cl_log, "w1=0 w2=0 w3=-125 w4=-125 close") != 0)
		printf("  log: %s\n", cl_log);
	CHECK(p.cli.closed);
	pair_down(&p);
}

/* ---- connects: refused, timed out across a cut, bytes held by a cut */

static void t_refused(void)
{
	struct pair p;
	pair_up(&p, 8, M_ECHO, NULL);
	world_run_until(p.w, 100 * MS);
	CHECK(p.cli.cstatus == 0);
	host_crash(p.b, cli_halt, &p.cli);
	memset(&p.cli, 0, sizeof p.cli);
	host_up(p.b, NULL, NULL);
	uv_loop_t *loop = host_loop(p.b);
	uint64_t t0 = world_now_ns(p.w);
	cli_start(&p.cli, loop, "127.0.0.1", 9999);
	world_run_until(p.w, 200 * MS);
	CHECK(p.cli.cstatus == UV_ECONNREFUSED);
	CHECK(p.cli.connected_ns >= t0 + 2 * 100000u); /* a round trip */
	CHECK(p.cli.connected_ns <= t0 + 2 * 2000000u + 2 * MS);
	pair_down(&p);
}

static void t_timed_out(void)
{
	struct pair p;
	memset(&p, 0, sizeof p);
	p.w = mk_world(9);
	p.a = world_host(p.w, "127.0.0.1");
	p.b = world_host(p.w, "127.0.0.2");
	p.srv.mode = M_ECHO;
	host_up(p.a, pair_srv_up, &p);
	world_cut(p.w, p.a, p.b, true);
	host_up(p.b, pair_cli_up, &p);
	world_run_until(p.w, 900 * MS);
	CHECK(p.cli.cstatus == 1); /* still connecting */
	world_run_until(p.w, 1100 * MS);
	CHECK(p.cli.cstatus == UV_ETIMEDOUT);
	CHECK(p.cli.connected_ns == 1000 * MS);
	CHECK(p.srv.accepted == 0);
	pair_down(&p);
}

static void send_1000(void *arg)
{
	c_send(arg, 1000);
}

static void t_cut_heal(void)
{
	struct pair p;
	pair_up(&p, 10, M_ECHO, NULL);
	world_run_until(p.w, 100 * MS);
	CHECK(p.cli.cstatus == 0);
	world_cut(p.w, p.a, p.b, true);
	host_enter(p.b, send_1000, &p.cli);
	world_run_until(p.w, 600 * MS);
	CHECK(p.srv.got == 0);
	world_cut(p.w, p.a, p.b, false);
	world_run_until(p.w, 700 * MS);
	CHECK(p.srv.got == 1000);
	CHECK(p.cli.got == 1000);
	CHECK(p.cli.order_ok);
	pair_down(&p);
}

/* ---- reset */

static int rs_write_rc;

static void rs_write(void *arg)
{
	struct cli *c = arg;
	static uv_write_t req;
	uv_buf_t b = uv_buf_init("x", 1);
	rs_write_rc = uv_write(&req, (uv_stream_t *)&c->tcp, &b, 1, NULL);
}

static void t_reset(void)
{
	struct pair p;
	pair_up(&p, 11, M_ECHO, NULL);
	world_run_until(p.w, 100 * MS);
	CHECK(p.cli.cstatus == 0);
	CHECK(p.srv.accepted == 1);
	world_reset(p.w, p.a, p.b);
	world_run_until(p.w, 200 * MS);
	CHECK(p.cli.read_err == UV_ECONNRESET);
	CHECK(p.srv.last_err == UV_ECONNRESET);
	host_enter(p.b, rs_write, &p.cli);
	CHECK(rs_write_rc == UV_EPIPE);
	pair_down(&p);
}

/* ---- crash */

static uv_timer_t cr_timer;
static uv_idle_t cr_idle;
static int cr_closes, cr_fires;

static void cr_tick(uv_timer_t *t)
{
	(void)t;
	cr_fires++;
}

static void cr_idle_cb(uv_idle_t *h)
{
	(void)h;
	cr_fires++;
}

static void cr_closed(uv_handle_t *h)
{
	(void)h;
	cr_closes++;
}

static void cr_write_file(struct host *h, const char *name, bool synced)
{
	const struct io_fs *fs = simfs_ops(host_disk(h));
	int fd;
	CHECK(fs->open(fs->ctx, name, IO_CREATE, &fd) == 0);
	char blk[100];
	for (int i = 0; i < 20; i++) {
		memset(blk, 'a' + i, sizeof blk);
		fs->pwrite(fs->ctx, fd, blk, sizeof blk, (uint64_t)i * sizeof blk);
	}
	if (synced) {
		fs->fdatasync(fs->ctx, fd);
		fs->sync_dir(fs->ctx, "");
	}
	fs->close(fs->ctx, fd);
}

static void cr_up(void *arg)
{
	struct pair *p = arg;
	pair_srv_up(p);
	uv_timer_init(host_loop(p->a), &cr_timer);
	uv_timer_start(&cr_timer, cr_tick, 1, 1);
	uv_idle_init(host_loop(p->a), &cr_idle);
	uv_idle_start(&cr_idle, cr_idle_cb);
}

static void cr_halt(void *arg)
{
	struct pair *p = arg;
	uv_close((uv_handle_t *)&cr_timer, cr_closed);
	uv_close((uv_handle_t *)&cr_idle, cr_closed);
	uv_close((uv_handle_t *)&p->srv.lis, cr_closed);
	for (struct sconn *c = p->srv.conns; c; c = c->next)
		uv_close((uv_handle_t *)&c->tcp, s_conn_closed);
	cr_fires = -1000000; /* a timer or idle firing from now on shows */
}

static void t_crash(void)
{
	struct pair p;
	cr_closes = cr_fires = 0;
	memset(&p, 0, sizeof p);
	p.w = mk_world(12);
	p.a = world_host(p.w, "127.0.0.1");
	p.b = world_host(p.w, "127.0.0.2");
	p.srv.mode = M_ECHO;
	host_up(p.a, cr_up, &p);
	host_up(p.b, pair_cli_up, &p);
	cr_write_file(p.a, "synced", true);
	world_run_until(p.w, 50 * MS);
	CHECK(p.cli.cstatus == 0);
	CHECK(cr_fires > 0);
	int lost = 0;
	for (int round = 0; round < 10; round++) {
		char name[16];
		snprintf(name, sizeof name, "unsynced%d", round);
		if (!host_is_up(p.a)) {
			host_up(p.a, cr_up, &p);
			world_run_until(p.w, world_now_ns(p.w) + 5 * MS);
		}
		cr_write_file(p.a, name, false);
		cr_closes = 0;
		host_crash(p.a, cr_halt, &p);
		CHECK(!host_is_up(p.a));
		CHECK(cr_closes == 3);
		CHECK(p.srv.conns == NULL);
		bool whole = simfs_exists(host_disk(p.a), name) &&
			     simfs_size(host_disk(p.a), name) == 2000;
		lost += !whole;
		CHECK(simfs_size(host_disk(p.a), "synced") == 2000);
		world_run_until(p.w, world_now_ns(p.w) + 50 * MS);
		CHECK(cr_fires == -1000000);
		if (round == 0)
			CHECK(p.cli.read_err == UV_ECONNRESET);
		cr_fires = 0;
	}
	CHECK(lost >= 1); /* the disk crashed with its host */
	pair_down(&p);
}

static void leak_up(void *arg)
{
	static uv_timer_t t;
	uv_timer_init(host_loop(arg), &t);
}

/* A crash whose halt leaves a handle open is caught (in a child). */
static void t_crash_asserts(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		struct world *w = mk_world(13);
		struct host *a = world_host(w, "127.0.0.1");
		host_up(a, leak_up, a);
		host_crash(a, NULL, NULL);
		_exit(0);
	}
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

/* ---- pause */

static uv_timer_t pz_timer;
static int pz_fires;

static void pz_tick(uv_timer_t *t)
{
	(void)t;
	pz_fires++;
}

static void pz_up(void *arg)
{
	struct pair *p = arg;
	pair_srv_up(p);
	uv_timer_init(host_loop(p->a), &pz_timer);
	uv_timer_start(&pz_timer, pz_tick, 10, 10);
}

static void pz_halt(void *arg)
{
	srv_halt(arg);
	uv_close((uv_handle_t *)&pz_timer, NULL);
}

static void t_pause(void)
{
	struct pair p;
	pz_fires = 0;
	memset(&p, 0, sizeof p);
	p.w = mk_world(14);
	p.a = world_host(p.w, "127.0.0.1");
	p.b = world_host(p.w, "127.0.0.2");
	p.srv.mode = M_ECHO;
	host_up(p.a, pz_up, &p);
	host_up(p.b, pair_cli_up, &p);
	world_run_until(p.w, 100 * MS);
	CHECK(p.cli.cstatus == 0);
	int fires = pz_fires;
	CHECK(fires >= 9);
	host_pause_until(p.a, 300 * MS);
	host_enter(p.b, send_1000, &p.cli);
	world_run_until(p.w, 299 * MS);
	CHECK(pz_fires == fires);
	CHECK(p.srv.got == 0);
	world_run_until(p.w, 300 * MS + 500000u);
	CHECK(pz_fires == fires + 1); /* late, once: a repeat restarts from now */
	CHECK(p.srv.got == 1000);
	world_run_until(p.w, 400 * MS);
	CHECK(p.cli.got == 1000);
	host_crash(p.a, pz_halt, &p.srv);
	pair_down(&p);
}

/* ---- bind and listen */

static int bl_rc_listen, bl_rc_bind;

static void bl_up(void *arg)
{
	struct pair *p = arg;
	static struct srv second;
	uv_loop_t *loop = host_loop(p->a);
	memset(&second, 0, sizeof second);
	bl_rc_listen = srv_start(&second, loop, "127.0.0.1", PORT);
	uv_close((uv_handle_t *)&second.lis, NULL);
	static uv_tcp_t t;
	struct sockaddr_in a;
	uv_tcp_init(loop, &t);
	uv_ip4_addr("127.0.0.9", PORT + 1, &a);
	bl_rc_bind = uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
	uv_close((uv_handle_t *)&t, NULL);
}

static void t_bind(void)
{
	struct pair p;
	pair_up(&p, 15, M_ECHO, NULL);
	host_enter(p.a, bl_up, &p);
	CHECK(bl_rc_listen == UV_EADDRINUSE);
	CHECK(bl_rc_bind == UV_EADDRNOTAVAIL);
	world_run_until(p.w, 100 * MS);
	CHECK(p.cli.cstatus == 0); /* the first listener is intact */
	pair_down(&p);
}

/* ---- the driver's connections */

struct wc_state {
	int connected, data, closed;
	char got[16];
};

static void wc_cb(void *ctx, struct wconn *c, enum wconn_event ev)
{
	struct wc_state *s = ctx;
	if (ev == WCONN_CONNECTED) {
		s->connected++;
		wconn_send(c, "hello", 5);
	} else if (ev == WCONN_DATA) {
		size_t n;
		const uint8_t *d = wconn_data(c, &n);
		if (n >= 5) {
			memcpy(s->got, d, 5);
			wconn_consume(c, 5);
			s->data++;
			wconn_close(c);
		}
	} else {
		s->closed++;
	}
}

static void t_wconn(void)
{
	struct pair p;
	struct wc_state s = {0};
	pair_up(&p, 16, M_ECHO, NULL);
	struct host *c = world_host(p.w, "127.0.0.3");
	wconn_open(p.w, c, "127.0.0.1", PORT, wc_cb, &s);
	world_run_until(p.w, 100 * MS);
	CHECK(s.connected == 1);
	CHECK(s.data == 1);
	CHECK(memcmp(s.got, "hello", 5) == 0);
	CHECK(s.closed == 0);
	CHECK(p.srv.last_err == UV_EOF); /* the driver closed: the server read EOF */
	struct wc_state r = {0};
	wconn_open(p.w, c, "127.0.0.1", 9999, wc_cb, &r);
	world_run_until(p.w, 200 * MS);
	CHECK(r.connected == 0);
	CHECK(r.closed == 1);
	pair_down(&p);
}

/* ---- determinism */

static void dt_faults(void *arg)
{
	struct pair *p = arg;
	struct prng *r = world_rng(p->w);
	uint64_t t = world_now_ns(p->w);
	switch (prng_below(r, 4)) {
	case 0:
		world_cut(p->w, p->a, p->b, true);
		break;
	case 1:
		world_cut(p->w, p->a, p->b, false);
		break;
	case 2:
		world_set_latency(p->w, prng_below(r, 1000000), 1000000 + prng_below(r, 5000000));
		break;
	default:
		world_reset(p->w, p->a, p->b);
		break;
	}
	if (t < 3000 * MS)
		world_at(p->w, t + prng_range(r, 10 * MS, 300 * MS), dt_faults, p);
}

static uint64_t dt_run(uint64_t seed, uint64_t *lines)
{
	struct pair p;
	pair_up(&p, seed, M_ECHO, send_many);
	world_at(p.w, 20 * MS, dt_faults, &p);
	world_run_until(p.w, 4000 * MS);
	world_cut(p.w, p.a, p.b, false);
	world_run_until(p.w, 6000 * MS);
	uint64_t h = the_trace.hash;
	*lines = the_trace.lines;
	pair_down(&p);
	return h;
}

static void t_determinism(void)
{
	uint64_t l1, l2, l3;
	uint64_t h1 = dt_run(42, &l1), h2 = dt_run(42, &l2), h3 = dt_run(43, &l3);
	CHECK(l1 > 100);
	CHECK(l1 == l2);
	CHECK(h1 == h2);
	CHECK(h1 != h3);
}

/* ---------------------------------------------------------------- main */

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{"echo", t_echo},
	{"try_write", t_try_write},
	{"timers", t_timers},
	{"idle", t_idle},
	{"check_after_io", t_check_after_io},
	{"async", t_async},
	{"close_cancels", t_close_cancels},
	{"refused", t_refused},
	{"timed_out", t_timed_out},
	{"cut_heal", t_cut_heal},
	{"reset", t_reset},
	{"crash", t_crash},
	{"crash_asserts", t_crash_asserts},
	{"pause", t_pause},
	{"bind", t_bind},
	{"wconn", t_wconn},
	{"determinism", t_determinism},
	{"split", t_split},
};

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		case_failed = 0;
		cases[i].fn();
		printf("%s %s\n", case_failed ? "FAIL" : "ok  ", cases[i].name);
		if (case_failed)
			failed++;
		else
			passed++;
	}
	printf("nsim-selftest: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
