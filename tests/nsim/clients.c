/* tests/nsim/clients.c — the whole-node simulator's clients: each speaks
 * RESP over a simulated connection to one node (any node: followers
 * forward), one operation at a time or a SET+GET pipeline, and records
 * every operation in the history the checks read. A write whose outcome a
 * reply leaves open (-TIMEOUT, a connection lost, no reply in time) is sent
 * again in the same session (CLIENT SESSION id seq, thesis §6.3) from a new
 * connection, to any node, until a reply settles it or the tries run out.
 *
 * What a reply promises (SPEC.md §4), as the history records it: a value
 * means applied; an error that says "not applied" on the first copy means
 * not applied; -TIMEOUT, or an error that says applied without the reply,
 * means either. Any other error of a write breaks that promise, and fails
 * the seed.
 *
 * Plain clients (the first p.plain_clients) send no CLIENT SESSION, as
 * redis-cli or a plain redis-py does: a write of theirs refused for a slot
 * being moved is held by the node and sent again (server/retry.c), so its
 * reply is its outcome after the move; one left open is recorded as
 * unknown, never resent. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "nsim/nsim.h"
#include "kv/kv.h"
#include "resp/parse.h"
#include "server/server.h"

#define CLIENT_TIMEOUT_NS (8000ull * 1000000) /* past the node's 5 s request timeout */
#define RETRIES_MAX	  6

struct reply {
	char type; /* + - : $ * */
	bool nil;
	int64_t i;
	const uint8_t *s;
	size_t len;
	int64_t arr[4]; /* an array's leading integers */
	uint32_t n_arr;
	bool arr_ok_second; /* an array whose second element is +OK */
};

static bool parse_int(const uint8_t *p, size_t n, int64_t *out)
{
	return resp_str2ll(p, n, out);
}

/* One whole reply at p (resp_scan_reply found its end). */
static void decode(const uint8_t *p, size_t n, struct reply *r)
{
	memset(r, 0, sizeof *r);
	r->type = (char)p[0];
	const uint8_t *eol = memchr(p, '\r', n);
	size_t head = eol ? (size_t)(eol - p) : n;
	switch (r->type) {
	case '+':
	case '-':
		r->s = p + 1;
		r->len = head - 1;
		break;
	case ':':
		parse_int(p + 1, head - 1, &r->i);
		break;
	case '$':
		parse_int(p + 1, head - 1, &r->i);
		r->nil = r->i < 0;
		if (!r->nil) {
			r->s = p + head + 2;
			r->len = (size_t)r->i;
		}
		break;
	case '*': {
		int64_t k = 0;
		parse_int(p + 1, head - 1, &k);
		const uint8_t *q = p + head + 2, *end = p + n;
		r->i = k;
		for (int64_t j = 0; j < k && r->n_arr < 4 && q < end && *q == ':'; j++) {
			const uint8_t *e = memchr(q, '\r', (size_t)(end - q));
			if (!e)
				break;
			parse_int(q + 1, (size_t)(e - q - 1), &r->arr[r->n_arr++]);
			q = e + 2;
		}
		r->arr_ok_second =
			k == 2 && r->n_arr == 1 && end - q >= 5 && !memcmp(q, "+OK\r\n", 5);
		break;
	}
	default:
		break;
	}
}

static bool has(const struct reply *r, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i + n <= r->len; i++)
		if (!memcmp(r->s + i, s, n))
			return true;
	return false;
}

static bool starts(const struct reply *r, const char *s)
{
	size_t n = strlen(s);
	return r->len >= n && !memcmp(r->s, s, n);
}

/* ---- sending ---- */

static void send_cmd(struct ns_client *c, int argc, ...)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "*%d\r\n", argc);
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++) {
		const char *a = va_arg(ap, const char *);
		n += snprintf(buf + n, sizeof buf - (size_t)n, "$%zu\r\n%s\r\n", strlen(a), a);
	}
	va_end(ap);
	wconn_send(c->conn, buf, (size_t)n);
	c->awaiting++;
}

static size_t hist_add(struct ns_run *r, const struct lin_op *op)
{
	if (r->n_hist == r->cap_hist) {
		r->cap_hist = r->cap_hist ? r->cap_hist * 2 : 1024;
		r->hist = keel_realloc(r->hist, r->cap_hist * sizeof *r->hist);
	}
	r->hist[r->n_hist] = *op;
	r->hist[r->n_hist].id = r->n_hist;
	return r->n_hist++;
}

static uint64_t now(const struct ns_client *c)
{
	return world_now_ns(c->run->w);
}

static void key_name(const struct ns_client *c, char *out, size_t cap)
{
	if (c->op == NS_PIPE || c->op == NS_PIPE_RW)
		snprintf(out, cap, "p%u", c->no);
	else if (c->op == NS_INCR || c->op == NS_MULTI || (c->op == NS_RGET && c->key >= NS_KEYS))
		snprintf(out, cap, "c%u", c->key % NS_KEYS);
	else
		snprintf(out, cap, "k%u", c->key);
}

static uint64_t key_id(const struct ns_client *c)
{
	if (c->op == NS_PIPE || c->op == NS_PIPE_RW)
		return 2 * NS_KEYS + c->no;
	return c->op == NS_INCR || c->op == NS_MULTI ? NS_KEYS + c->key : c->key;
}

/* Sends the operation in flight (again, on a retry). */
static void send_op(struct ns_client *c)
{
	char key[16], val[24];
	key_name(c, key, sizeof key);
	snprintf(val, sizeof val, "%lld", (long long)c->value);
	c->sent_ns = now(c);
	switch (c->op) {
	case NS_SET:
		send_cmd(c, 3, "SET", key, val);
		break;
	case NS_GET:
		send_cmd(c, 2, "GET", key);
		break;
	case NS_INCR:
		send_cmd(c, 2, "INCR", key);
		break;
	case NS_PIPE:
		send_cmd(c, 3, "SET", key, val);
		if (!c->retries)
			send_cmd(c, 2, "GET", key);
		break;
	case NS_PIPE_RW:
		if (!c->retries)
			send_cmd(c, 2, "GET", key);
		send_cmd(c, 3, "SET", key, val);
		break;
	case NS_RGET:
		send_cmd(c, 2, "GET", key);
		break;
	case NS_RSET:
		send_cmd(c, 3, "SET", key, val);
		break;
	case NS_MULTI: { /* INCR c<key>; SET k<key2> v: both or neither */
		char k2[16];
		snprintf(k2, sizeof k2, "k%u", c->key2);
		send_cmd(c, 1, "MULTI");
		send_cmd(c, 2, "INCR", key);
		send_cmd(c, 3, "SET", k2, val);
		send_cmd(c, 1, "EXEC");
		break;
	}
	}
	c->reply_no = 0;
	c->crossed = false;
}

/* The group of a key, by the slot map as the nodes have it. */
static uint32_t group_of(struct ns_run *r, const char *key)
{
	return ns_map_owner(r, kv_slot((const uint8_t *)key, strlen(key)));
}

/* A MULTI's two keys, c<key> and k<key2>, in one group: key2 moved to
 * the first k<n> from it that is (false if none is). */
static bool same_group(struct ns_run *r, struct ns_client *c)
{
	char a[16], b[16];
	snprintf(a, sizeof a, "c%u", c->key % NS_KEYS);
	for (uint32_t k = 0; k < NS_KEYS; k++) {
		uint32_t k2 = (c->key2 + k) % NS_KEYS;
		snprintf(b, sizeof b, "k%u", k2);
		if (group_of(r, a) == group_of(r, b)) {
			c->key2 = k2;
			return true;
		}
	}
	return false;
}

static void client_connect(struct ns_client *c);
static void schedule(struct ns_client *c, uint64_t delay_ns, void (*fn)(void *));

static bool is_write(const struct ns_client *c)
{
	return c->op != NS_GET && c->op != NS_RGET && c->op != NS_RSET;
}

/* The operation is over, settled or not. */
static void op_done(struct ns_client *c, uint8_t outcome)
{
	struct ns_run *r = c->run;
	struct lin_op *h = &r->hist[c->hist];
	h->outcome = outcome;
	if (outcome != LIN_UNKNOWN)
		h->complete = now(c);
	if (c->op == NS_MULTI) { /* its SET: the same outcome, at the same time */
		r->hist[c->hist2].outcome = outcome;
		r->hist[c->hist2].complete = h->complete;
	}
	if (outcome == LIN_OK) {
		r->n_ok++;
		r->n_ok_healed += r->healing;
	} else if (outcome == LIN_FAILED)
		r->n_failed++;
	else
		r->n_unknown++;
	if (c->retries && outcome != LIN_UNKNOWN)
		r->n_settled++;
	c->op = 0;
	c->retries = 0;
}

static void next_op(void *arg);

static void drop_conn(struct ns_client *c)
{
	if (c->conn)
		wconn_close(c->conn);
	c->conn = NULL;
	c->ready = false;
	c->awaiting = 0;
	c->resuming = false;
	c->moving = false;
	c->timer_epoch++;
}

static void reconnect_later(void *arg)
{
	struct ns_client *c = arg;
	struct ns_run *r = c->run;
	/* the last second is quiet (no write resent): every member learns the
	 * last commit before the agreement check; what is open stays open */
	if (world_now_ns(r->w) + 1000000000ull >= r->p.run_ns + r->p.settle_ns)
		return;
	if (!c->conn)
		client_connect(c);
}

/* The connection is gone, or the reply did not come in time. */
static void lost(struct ns_client *c, const char *why)
{
	world_tracef(c->run->w, "client %u: %s", c->no, why);
	drop_conn(c);
	if (c->replica) {
		c->op = 0; /* a replica's read: nothing to settle */
	} else if (c->op && !is_write(c)) {
		op_done(c, LIN_FAILED); /* a read that was not answered took no effect */
	} else if (c->op && (c->retries >= RETRIES_MAX || c->plain)) {
		op_done(c, LIN_UNKNOWN);
	} else if (c->op) {
		c->retries++;
		c->run->n_retries++;
	}
	uint64_t d = 20000000 + prng_below(world_rng(c->run->w), 300000000);
	schedule(c, d, reconnect_later);
}

/* ---- replies ---- */

/* Whether the GET's value is that of an earlier write of this client to
 * its own key whose outcome it never learned: a plain client's left open
 * (a connection lost with it, never sent again) may still take effect
 * after a later SET, its copy forwarded late, say; the history's check
 * places it. */
static bool open_write_read(struct ns_client *c, const struct reply *g)
{
	struct ns_run *r = c->run;
	int64_t v;
	if (g->nil || !parse_int(g->s, g->len, &v))
		return false;
	for (size_t i = 0; i < r->n_hist; i++) {
		const struct lin_op *h = &r->hist[i];
		if (i != c->hist && h->key == 2 * NS_KEYS + c->no && h->kind == LIN_WRITE &&
		    h->outcome == LIN_UNKNOWN && h->arg == v)
			return true;
	}
	return false;
}

static void check_pipe_get(struct ns_client *c, const struct reply *g)
{
	struct ns_run *r = c->run;
	char want[24];
	snprintf(want, sizeof want, "%lld", (long long)c->value);
	bool ok_set = r->hist[c->hist].outcome == LIN_OK;
	if (g->type == '-')
		return; /* the read was refused: it saw nothing */
	bool same = !g->nil && g->len == strlen(want) && !memcmp(g->s, want, g->len);
	if (c->op == NS_PIPE_RW && same)
		ns_fail(r,
			"client %u: GET p%u then SET p%u %s pipelined on one connection to node "
			"%u: the GET read the value of the SET sent after it (one connection, one "
			"order)",
			c->no, c->no, c->no, want, c->node + 1);
	else if (c->op == NS_PIPE && ok_set && !same && !open_write_read(c, g))
		ns_fail(r,
			"client %u: SET p%u %s then GET p%u pipelined on one connection to node "
			"%u: the SET was answered OK, the GET read %s%.*s (one connection, one "
			"order)",
			c->no, c->no, want, c->no, c->node + 1, g->nil ? "nil" : "",
			(int)(g->nil ? 0 : g->len), g->nil ? "" : (const char *)g->s);
	/* else: the key is this client's own; a GET after a failed SET reads
	 * the value before it */
	struct lin_op op = {.key = 2 * NS_KEYS + c->no,
			    .kind = LIN_READ,
			    .outcome = LIN_OK,
			    .invoke = c->sent_ns,
			    .complete = now(c),
			    .client = c->no,
			    .out_nil = g->nil};
	if (!g->nil && !parse_int(g->s, g->len, &op.out))
		ns_fail(r, "client %u: GET p%u read a value it never wrote", c->no, c->no);
	hist_add(r, &op);
}

/* A write's reply: what it says of the write's outcome. */
static uint8_t write_outcome(struct ns_client *c, const struct reply *rep)
{
	if (rep->type != '-')
		return LIN_OK;
	if (starts(rep, "TIMEOUT") || has(rep, "applied, but its reply is no longer kept") ||
	    has(rep, "is no longer known") || has(rep, "answered before on its connection"))
		return LIN_UNKNOWN;
	if (has(rep, "a later write of its connection was applied first"))
		return LIN_FAILED; /* the session refuses every copy from now on */
	if (has(rep, "not applied"))
		/* true of the copy it answers; an earlier copy (a retry's) may
		 * still be in flight elsewhere */
		return c->retries ? LIN_UNKNOWN : LIN_FAILED;
	ns_fail(c->run, "client %u: a write's error does not say whether it was applied: %.*s",
		c->no, (int)rep->len, (const char *)rep->s);
	return LIN_UNKNOWN;
}

static void after(struct ns_client *c)
{
	if (c->moving) { /* the node said it cannot serve: another one, as a
			  * client rediscovering its servers does */
		drop_conn(c);
		schedule(c, 50000000 + prng_below(world_rng(c->run->w), 200000000),
			 reconnect_later);
		return;
	}
	schedule(c, prng_below(world_rng(c->run->w), c->run->p.think_ns + 1), next_op);
}

/* A write's reply settles it, or sends it again from a new connection. */
static void on_write_reply(struct ns_client *c, const struct reply *rep, bool more)
{
	struct ns_run *r = c->run;
	struct lin_op *h = &r->hist[c->hist];
	uint8_t o = write_outcome(c, rep);
	if (o == LIN_OK && c->op == NS_INCR) {
		if (rep->type != ':')
			ns_fail(r, "client %u: INCR answered with a non-integer", c->no);
		h->out = rep->i;
	}
	if (o == LIN_OK && c->op == NS_MULTI) {
		if (rep->type != '*' || rep->i != 2 || rep->n_arr != 1 || !rep->arr_ok_second)
			ns_fail(r, "client %u: EXEC of INCR and SET answered %c%.*s", c->no,
				rep->type, (int)rep->len, (const char *)rep->s);
		h->out = rep->arr[0];
	}
	if (c->plain && is_write(c) && rep->type == '-' && starts(rep, "TRYAGAIN slot")) {
		r->n_plain_tryagain++;
		const char *what = c->op == NS_MULTI ? "EXEC" : "write";
		world_tracef(r->w, "client %u: a plain %s answered %.*s after %llu ms", c->no, what,
			     (int)rep->len, (const char *)rep->s,
			     (unsigned long long)((now(c) - c->sent_ns) / 1000000));
	} else if (c->plain && o == LIN_OK) {
		r->n_plain_ok++;
	}
	if (o == LIN_UNKNOWN && c->retries < RETRIES_MAX && !c->plain) {
		c->retries++; /* settle it: the same write again, same session */
		r->n_retries++;
		drop_conn(c);
		schedule(c, 10000000 + prng_below(world_rng(r->w), 200000000), reconnect_later);
		return;
	}
	if (more) {
		h->outcome = o; /* the pipeline's GET follows */
		return;
	}
	op_done(c, o);
	after(c);
}

static void on_op_reply(struct ns_client *c, const struct reply *rep)
{
	if (rep->type == '-' && (starts(rep, "CLUSTERDOWN") || starts(rep, "REMOVED")))
		c->moving = true;
	struct ns_run *r = c->run;
	struct lin_op *h = &r->hist[c->hist];
	uint32_t no = ++c->reply_no;
	if (c->replica) {
		ns_replica_reply(c, rep->type, rep->nil, rep->s, rep->len);
		c->op = 0;
		after(c);
		return;
	}
	switch (c->op) {
	case NS_GET:
		if (rep->type == '-') {
			op_done(c, LIN_FAILED);
		} else {
			h->out_nil = rep->nil;
			if (!rep->nil && !parse_int(rep->s, rep->len, &h->out))
				ns_fail(r, "client %u: GET read a value nobody wrote", c->no);
			op_done(c, LIN_OK);
		}
		after(c);
		break;
	case NS_SET:
	case NS_INCR:
		on_write_reply(c, rep, false);
		break;
	case NS_PIPE:
		if (no == 1) {
			on_write_reply(c, rep, !c->retries);
		} else {
			check_pipe_get(c, rep); /* may move the history */
			op_done(c, r->hist[c->hist].outcome);
			after(c);
		}
		break;
	case NS_PIPE_RW:
		if (no == 1 && !c->retries)
			check_pipe_get(c, rep); /* may move the history */
		else
			on_write_reply(c, rep, false);
		break;
	case NS_MULTI:
		if (no < 4) { /* MULTI's +OK, the commands' +QUEUED */
			if (rep->type == '-' && r->p.reshards && starts(rep, "CROSSSLOT"))
				c->crossed = true; /* a slot moved since the keys were chosen */
			else if (rep->type == '-')
				ns_fail(r, "client %u: in MULTI, reply %u was %.*s", c->no, no,
					(int)rep->len, (const char *)rep->s);
			break;
		}
		if (c->crossed) { /* the transaction was discarded whole */
			c->crossed = false;
			if (rep->type != '-' || !starts(rep, "EXECABORT"))
				ns_fail(r, "client %u: EXEC after a CROSSSLOT answered %c%.*s",
					c->no, rep->type, (int)rep->len, (const char *)rep->s);
			op_done(c, c->retries ? LIN_UNKNOWN : LIN_FAILED);
			/* the node numbered nothing for it (EXECABORT takes no
			 * sequence number) and this client did: a new connection, a
			 * new session, numbered as the node numbers it */
			c->moving = true;
			after(c);
			break;
		}
		on_write_reply(c, rep, false);
		break;
	case NS_RGET:
	case NS_RSET:
		break; /* a replica's reader's: above */
	}
}

static void on_reply(struct ns_client *c, const struct reply *rep)
{
	struct ns_run *r = c->run;
	c->awaiting--;
	if (!c->ready) { /* CLIENT SESSION: [id, next seq] */
		if (rep->type != '*' || rep->n_arr != 2) {
			ns_fail(r, "client %u: CLIENT SESSION answered %c%.*s", c->no, rep->type,
				(int)rep->len, (const char *)rep->s);
			return;
		}
		c->session = (uint64_t)rep->arr[0];
		c->next_seq = (uint64_t)rep->arr[1];
		c->ready = true;
		schedule(c, prng_below(world_rng(r->w), r->p.think_ns + 1), next_op);
		return;
	}
	if (c->resuming) { /* CLIENT SESSION id seq: +OK, then the retry's replies */
		c->resuming = false;
		if (rep->type != '+')
			ns_fail(r, "client %u: resuming session %llu answered %.*s", c->no,
				(unsigned long long)c->session, (int)rep->len,
				(const char *)rep->s);
		return;
	}
	if (c->op)
		on_op_reply(c, rep);
}

static void on_conn(void *ctx, struct wconn *wc, enum wconn_event ev)
{
	struct ns_client *c = ctx;
	(void)wc;
	if (ev == WCONN_CLOSED) {
		lost(c, "connection closed"); /* frees it */
		return;
	}
	if (ev == WCONN_CONNECTED) {
		if (c->op && c->retries) { /* resume the session, send it again */
			char id[24], seq[24];
			snprintf(id, sizeof id, "%llu", (unsigned long long)c->session);
			snprintf(seq, sizeof seq, "%llu", (unsigned long long)c->seq);
			send_cmd(c, 4, "CLIENT", "SESSION", id, seq);
			c->resuming = true;
			c->ready = true;
			c->next_seq = c->seq + 1;
			send_op(c);
		} else if (c->plain) { /* nothing to learn first */
			c->ready = true;
			schedule(c, prng_below(world_rng(c->run->w), c->run->p.think_ns + 1),
				 next_op);
		} else {
			send_cmd(c, 2, "CLIENT", "SESSION");
		}
		return;
	}
	size_t n;
	const uint8_t *p = wconn_data(c->conn, &n);
	size_t frame;
	while (c->conn && n && resp_scan_reply(p, n, &frame) == RESP_OK) {
		struct reply rep;
		decode(p, frame, &rep);
		struct wconn *keep = c->conn;
		on_reply(c, &rep);
		if (c->conn != keep)
			return; /* dropped (and freed) meanwhile */
		wconn_consume(c->conn, frame);
		p = wconn_data(c->conn, &n);
	}
}

/* ---- the workload ---- */

struct tick {
	struct ns_client *c;
	uint64_t epoch;
	void (*fn)(void *);
};

static void tick_fire(void *arg)
{
	struct tick *t = arg;
	struct ns_client *c = t->c;
	bool live = t->epoch == c->timer_epoch;
	void (*fn)(void *) = t->fn;
	if (live)
		fn(c);
}

static void schedule(struct ns_client *c, uint64_t delay_ns, void (*fn)(void *))
{
	struct tick *t = ns_alloc(c->run, sizeof *t);
	*t = (struct tick){c, c->timer_epoch, fn};
	world_at(c->run->w, now(c) + delay_ns, tick_fire, t);
}

static void timeout_check(void *arg)
{
	struct ns_client *c = arg;
	if (!c->conn || (!c->op && c->ready))
		return;
	if (now(c) - c->sent_ns >= CLIENT_TIMEOUT_NS)
		lost(c, "no reply in time");
	else
		schedule(c, CLIENT_TIMEOUT_NS, timeout_check);
}

static void client_connect(struct ns_client *c)
{
	struct ns_run *r = c->run;
	uint32_t act[NS_NODES_MAX], n_act = 0;
	for (uint32_t i = 0; i < r->n_nodes; i++)
		if (c->replica ? r->nodes[i].kind == NS_REPLICA : ns_node_active(&r->nodes[i]))
			act[n_act++] = i;
	c->node = act[prng_below(world_rng(r->w), n_act)];
	c->timer_epoch++;
	c->conn = wconn_open(r->w, c->h, host_ip(r->nodes[c->node].h), 6379, on_conn, c);
	c->awaiting = 0;
	c->sent_ns = now(c);
	schedule(c, CLIENT_TIMEOUT_NS, timeout_check);
}

static void next_op(void *arg)
{
	struct ns_client *c = arg;
	struct ns_run *r = c->run;
	if (c->op || !c->conn || !c->ready)
		return;
	if (world_now_ns(r->w) >= r->p.run_ns + r->p.settle_ns / 2)
		return; /* the end: the last operations have settled */
	struct prng *g = world_rng(r->w);
	if (c->replica) { /* one write, which must be refused; then reads */
		c->op = c->refused ? NS_RGET : NS_RSET;
		c->key = (uint32_t)prng_below(g, 2 * NS_KEYS); /* k<i>, then c<i> */
		c->value = ++c->next_value + (int64_t)c->no * 1000000000;
		c->retries = 0;
		c->sent_ns = now(c);
		send_op(c);
		schedule(c, CLIENT_TIMEOUT_NS, timeout_check);
		return;
	}
	uint32_t roll = (uint32_t)prng_below(g, 100);
	c->op = roll < 25   ? NS_SET
		: roll < 50 ? NS_GET
		: roll < 65 ? NS_INCR
		: roll < 78 ? NS_PIPE
		: roll < 90 ? NS_PIPE_RW
			    : NS_MULTI;
	c->key = (uint32_t)prng_below(g, NS_KEYS);
	c->key2 = (uint32_t)prng_below(g, NS_KEYS);
	if (c->op == NS_MULTI && !same_group(r, c))
		c->op = NS_INCR; /* no k<n> shares c<key>'s group: -CROSSSLOT otherwise */
	c->value = ++c->next_value + (int64_t)c->no * 1000000000;
	c->retries = 0;
	if (is_write(c))
		c->seq = c->next_seq++;
	struct lin_op op = {.key = key_id(c),
			    .kind = c->op == NS_GET			    ? LIN_READ
				    : c->op == NS_INCR || c->op == NS_MULTI ? LIN_INCR
									    : LIN_WRITE,
			    .invoke = now(c),
			    .arg = c->op == NS_INCR || c->op == NS_MULTI ? 1 : c->value,
			    .client = c->no};
	c->hist = hist_add(r, &op);
	if (c->op == NS_MULTI) {
		struct lin_op set = {.key = c->key2,
				     .kind = LIN_WRITE,
				     .invoke = op.invoke,
				     .arg = c->value,
				     .client = c->no};
		c->hist2 = hist_add(r, &set);
	}
	send_op(c);
	schedule(c, CLIENT_TIMEOUT_NS, timeout_check);
}

void ns_clients_start(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->p.clients + r->p.replica_clients; i++) {
		struct ns_client *c = &r->clients[i];
		memset(c, 0, sizeof *c);
		c->no = i;
		c->run = r;
		c->replica = i >= r->p.clients;
		c->plain = i < r->p.plain_clients && !c->replica;
		char ip[32];
		snprintf(ip, sizeof ip, "127.0.1.%u", i + 1);
		c->h = world_host(r->w, ip);
		client_connect(c);
	}
}

void ns_clients_stop(struct ns_run *r)
{
	for (uint32_t i = 0; i < r->p.clients + r->p.replica_clients; i++) {
		struct ns_client *c = &r->clients[i];
		if (c->op && !c->replica) /* still open at the end */
			op_done(c, is_write(c) ? LIN_UNKNOWN : LIN_FAILED);
		drop_conn(c);
	}
}

/* ---- the history's checks ---- */

void ns_check_history(struct ns_run *r)
{
	struct lin_result res;
	lin_check(r->hist, r->n_hist, 2000000, &res);
	if (res.timed_out)
		ns_fail(r, "the linearizability search ran out of budget (key %llu)",
			(unsigned long long)res.bad_key);
	else if (!res.ok)
		ns_fail(r, "not linearizable: %s", res.explain);
}
