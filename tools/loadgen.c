/* tools/loadgen.c — the load generator `make bench` uses where
 * redis-benchmark cannot be: SET followed by WAIT 1 0 (Redis's nearest to
 * majority durability), etcd's v3 put through its HTTP gateway, and SET k
 * v / GET k pairs on one connection (redis-benchmark runs one command per
 * test). Keeps N connections busy, each with `pipeline` operations in
 * flight, over a poll loop; prints operations per second and latency
 * percentiles:
 *   loadgen MODE HOST PORT CLIENTS OPS PIPELINE SIZE KEYSPACE
 * MODE: set | set-wait | etcd-put | set-get. Output: `ops/s=... p50_ms=...
 * p99_ms=...`. In set-get mode an operation is one command (a SET, or the
 * GET of the key just set, sent right after it): each client has keys of
 * its own and each value starts with a number of its own, so a GET that
 * does not return the value of the SET sent before it on its connection
 * is counted, and printed as ` stale_gets=N` (0 where commands on a
 * connection take effect in order). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "resp/buf.h"
#include "resp/parse.h"

enum mode { SET, SET_WAIT, ETCD_PUT, SET_GET };

struct conn {
	int fd;
	struct rbuf out, in;
	uint32_t inflight;     /* operations sent, not yet answered */
	uint32_t replies_due;  /* replies (or HTTP responses) still to come */
	double sent_at[1024];  /* per operation in flight */
	uint64_t expect[1024]; /* set-get: the tag a GET in flight must read, or 0 */
	uint32_t head;
	uint32_t id;	   /* set-get: its keys are those equal to id modulo clients */
	uint64_t last_tag; /* set-get: the tag of the last SET sent, or 0 */
	char last_key[32]; /* set-get: its key */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static enum mode mode;
static uint32_t size_, keyspace, clients;
static uint64_t tags, stale;
static char host_[64];
static int port_;
static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* set-get: a SET of a key of this client's to a value starting with a new
 * tag, or, after a SET, the GET of its key (which must read that tag). */
static int set_get_req(struct conn *c, char *req, size_t cap, const char *val)
{
	uint32_t slot = (c->head + c->inflight) % 1024;
	if (c->last_tag) {
		c->expect[slot] = c->last_tag;
		c->last_tag = 0;
		return snprintf(req, cap, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(c->last_key),
				c->last_key);
	}
	uint64_t n = rnd() % keyspace;
	n = n - n % clients + c->id;
	snprintf(c->last_key, sizeof c->last_key, "key:%012llu", (unsigned long long)n);
	c->last_tag = ++tags;
	c->expect[slot] = 0;
	char tag[24];
	snprintf(tag, sizeof tag, "%020llu", (unsigned long long)c->last_tag);
	return snprintf(req, cap, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%u\r\n%s%s\r\n",
			strlen(c->last_key), c->last_key, size_, tag, val + 20);
}

/* set-get: whether reply r (f bytes) to the operation at head is right:
 * a SET's +OK, or a GET's value with the tag of the SET before it. */
static bool set_get_ok(const struct conn *c, const uint8_t *r, size_t f)
{
	uint64_t want = c->expect[c->head];
	if (!want)
		return f == 5 && !memcmp(r, "+OK\r\n", 5);
	char head[48];
	int hl = snprintf(head, sizeof head, "$%u\r\n%020llu", size_, (unsigned long long)want);
	return f >= (size_t)hl && !memcmp(r, head, (size_t)hl);
}

/* Appends one operation's request(s). */
static void add_op(struct conn *c)
{
	char key[32], val[8192], req[9000];
	snprintf(key, sizeof key, "key:%012llu", (unsigned long long)(rnd() % keyspace));
	memset(val, 'x', size_);
	val[size_] = 0;
	int n;
	if (mode == ETCD_PUT) {
		/* base64 of the key and value: the value is all 'x' (eHh4...) */
		char kb[64], vb[12000];
		static const char *b64 =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		size_t kl = strlen(key), o = 0;
		for (size_t i = 0; i < kl; i += 3) {
			uint32_t v = (uint32_t)(unsigned char)key[i] << 16;
			if (i + 1 < kl)
				v |= (uint32_t)(unsigned char)key[i + 1] << 8;
			if (i + 2 < kl)
				v |= (unsigned char)key[i + 2];
			kb[o++] = b64[v >> 18];
			kb[o++] = b64[(v >> 12) & 63];
			kb[o++] = i + 1 < kl ? b64[(v >> 6) & 63] : '=';
			kb[o++] = i + 2 < kl ? b64[v & 63] : '=';
		}
		kb[o] = 0;
		o = 0;
		for (uint32_t i = 0; i < size_; i += 3) {
			vb[o++] = 'e';
			vb[o++] = 'H';
			vb[o++] = i + 1 < size_ ? 'h' : '=';
			vb[o++] = i + 2 < size_ ? '4' : '=';
		}
		vb[o] = 0;
		char body[12200];
		int bl = snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
		n = snprintf(req, sizeof req,
			     "POST /v3/kv/put HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
			     "application/json\r\nContent-Length: %d\r\n\r\n%s",
			     host_, port_, bl, body);
		c->replies_due += 1;
	} else if (mode == SET_GET) {
		n = set_get_req(c, req, sizeof req, val);
		c->replies_due += 1;
	} else {
		n = snprintf(req, sizeof req, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%u\r\n%s\r\n",
			     strlen(key), key, size_, val);
		c->replies_due += 1;
		if (mode == SET_WAIT) {
			n += snprintf(req + n, sizeof req - (size_t)n,
				      "*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n");
			c->replies_due += 1;
		}
	}
	rbuf_put(&c->out, req, (size_t)n);
	c->sent_at[(c->head + c->inflight) % 1024] = now_s();
	c->inflight++;
}

/* One complete reply at the start of in: its length, or 0. */
static size_t one_reply(struct conn *c)
{
	size_t frame = 0;
	if (mode != ETCD_PUT)
		return resp_scan_reply(c->in.p, c->in.len, &frame) == RESP_OK ? frame : 0;
	const char *p = (const char *)c->in.p;
	const char *end = memmem(p, c->in.len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	const char *cl = memmem(p, (size_t)(end - p), "Content-Length:", 15);
	size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
	size_t total = (size_t)(end - p) + 4 + body;
	return total <= c->in.len ? total : 0;
}

static int connect_to(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_)};
	inet_pton(AF_INET, host_, &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("loadgen: connect");
		exit(1);
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 9) {
		fprintf(stderr, "usage: loadgen set|set-wait|etcd-put|set-get HOST PORT CLIENTS "
				"OPS PIPELINE SIZE KEYSPACE\n");
		return 2;
	}
	mode = !strcmp(argv[1], "set-wait")   ? SET_WAIT
	       : !strcmp(argv[1], "etcd-put") ? ETCD_PUT
	       : !strcmp(argv[1], "set-get")  ? SET_GET
					      : SET;
	snprintf(host_, sizeof host_, "%s", argv[2]);
	port_ = (int)strtol(argv[3], NULL, 10);
	uint32_t nc = (uint32_t)strtoul(argv[4], NULL, 10);
	uint64_t ops = strtoull(argv[5], NULL, 10);
	uint32_t pipe = (uint32_t)strtoul(argv[6], NULL, 10);
	size_ = (uint32_t)strtoul(argv[7], NULL, 10);
	keyspace = (uint32_t)strtoul(argv[8], NULL, 10);
	if (!nc || !pipe || pipe > 1000 || size_ > 4096 || !keyspace ||
	    (mode == SET_GET && (size_ < 20 || keyspace < nc)))
		return 2;
	clients = nc;
	struct conn *cs = keel_calloc(nc, sizeof *cs);
	struct pollfd *pf = keel_calloc(nc, sizeof *pf);
	double *lat = keel_calloc(ops + nc * pipe, sizeof *lat);
	uint64_t sent = 0, done = 0;
	for (uint32_t i = 0; i < nc; i++) {
		cs[i].fd = connect_to();
		cs[i].id = i;
		rbuf_init(&cs[i].out);
		rbuf_init(&cs[i].in);
	}
	double t0 = now_s();
	while (done < ops) {
		for (uint32_t i = 0; i < nc; i++) {
			struct conn *c = &cs[i];
			while (c->inflight < pipe && sent < ops) {
				add_op(c);
				sent++;
			}
			pf[i] = (struct pollfd){c->fd, (short)(POLLIN | (c->out.len ? POLLOUT : 0)),
						0};
		}
		if (poll(pf, nc, 5000) <= 0) {
			fprintf(stderr, "loadgen: no progress for 5 s\n");
			return 1;
		}
		for (uint32_t i = 0; i < nc; i++) {
			struct conn *c = &cs[i];
			if ((pf[i].revents & POLLOUT) && c->out.len) {
				ssize_t w = write(c->fd, c->out.p, c->out.len);
				if (w > 0)
					rbuf_consume(&c->out, (size_t)w);
			}
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(c->fd, rbuf_reserve(&c->in, 65536), 65536);
			if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
				fprintf(stderr, "loadgen: the server closed a connection\n");
				return 1;
			}
			if (r > 0)
				c->in.len += (size_t)r;
			size_t f;
			while ((f = one_reply(c)) > 0) {
				if (c->in.p[0] == '-' && mode != ETCD_PUT) {
					fprintf(stderr, "loadgen: error reply %.*s\n", (int)f,
						c->in.p);
					return 1;
				}
				if (mode == SET_GET && !set_get_ok(c, c->in.p, f))
					stale++;
				rbuf_consume(&c->in, f);
				c->replies_due--;
				bool op_done = mode == SET_WAIT ? c->replies_due % 2 == 0 : true;
				if (op_done) {
					lat[done++] = now_s() - c->sent_at[c->head];
					c->head = (c->head + 1) % 1024;
					c->inflight--;
				}
			}
		}
	}
	double el = now_s() - t0;
	qsort(lat, done, sizeof *lat, cmp_d);
	printf("ops/s=%.0f p50_ms=%.3f p99_ms=%.3f", (double)done / el, lat[done / 2] * 1e3,
	       lat[(size_t)((double)done * 0.99)] * 1e3);
	if (mode == SET_GET)
		printf(" stale_gets=%llu", (unsigned long long)stale);
	printf("\n");
	return 0;
}
