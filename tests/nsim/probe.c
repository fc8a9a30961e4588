/* tests/nsim/probe.c — a scripted scenario's own client: one connection to
 * one node, commands sent at the moments the scenario chooses, and each
 * reply checked, as it arrives, against what the rules promise for it (a
 * prefix of the reply, shown with each CRLF as a space: "+OK",
 * "$2 v1", "-TRYAGAIN", alternatives: "+OK|-ERR", or "~text" for a reply
 * that holds text). A reply that
 * breaks its promise fails the run; so does one that never comes
 * (ns_probe_done, at the time the scenario says every reply is due),
 * unless the probe may see its connection closed (a node that stops). Its keys are its own (the
 * workload's clients never touch them), so the history's checks are unaffected by it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "net/frame.h"
#include "server/entry.h"
#include "nsim/nsim.h"
#include "resp/parse.h"

static void shown(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
			out[k++] = ' ';
			i++;
		} else {
			out[k++] = p[i] >= 32 && p[i] < 127 ? (char)p[i] : '?';
		}
	}
	out[k] = 0;
}

/* Whether got starts with one of want's alternatives ("a|b"), or holds
 * one that starts with '~' ("~keel_forwarded:2 "). */
static bool wanted(const char *got, const char *want)
{
	for (;;) {
		const char *bar = strchr(want, '|');
		size_t n = bar ? (size_t)(bar - want) : strlen(want);
		if (want[0] != '~' && !strncmp(got, want, n))
			return true;
		for (const char *g = got; want[0] == '~' && *g; g++)
			if (!strncmp(g, want + 1, n - 1))
				return true;
		if (!bar)
			return false;
		want = bar + 1;
	}
}

static void on_probe(void *ctx, struct wconn *c, enum wconn_event ev)
{
	struct ns_probe *p = ctx;
	struct ns_run *r = p->r;
	if (ev == WCONN_CLOSED) {
		world_tracef(r->w, "probe %s: connection closed", p->name);
		p->conn = NULL;
		return;
	}
	size_t n, frame;
	const uint8_t *d = wconn_data(c, &n);
	while (ev == WCONN_DATA && n && resp_scan_reply(d, n, &frame) == RESP_OK) {
		char got[NS_PROBE_GOT];
		shown(d, frame, got, sizeof got);
		uint32_t i = p->n_replied++;
		if (i >= p->n_sent) /* a request answered twice, or never sent */
			ns_fail(r,
				"probe %s: a reply with no command waiting for it from node %u: %s",
				p->name, p->node + 1, got);
		else if (i < NS_PROBE_MAX) {
			memcpy(p->got[i], got, sizeof got);
			const char *want = p->want[i];
			world_tracef(r->w, "probe %s: %s -> %s", p->name, p->cmd[i], got);
			r->n_ok_healed += r->healing && strchr("+$:*", got[0]);
			if (!wanted(got, want))
				ns_fail(r,
					"probe %s: `%s` sent to node %u answered `%s`, not `%s...`",
					p->name, p->cmd[i], p->node + 1, got, want);
		}
		wconn_consume(c, frame);
		d = wconn_data(c, &n);
	}
}

struct ns_probe *ns_probe_open(struct ns_run *r, const char *name, uint32_t node)
{
	struct ns_probe *p = ns_alloc(r, sizeof *p);
	memset(p, 0, sizeof *p);
	p->r = r;
	p->node = node;
	snprintf(p->name, sizeof p->name, "%s", name);
	char ip[32];
	snprintf(ip, sizeof ip, "127.0.3.%u", ++r->n_probes);
	p->h = world_host(r->w, ip);
	world_tracef(r->w, "probe %s: connects to node %u", name, node + 1);
	p->conn = wconn_open(r->w, p->h, host_ip(r->nodes[node].h), 6379, on_probe, p);
	return p;
}

/* Sends words as a RESP array; shown is how the trace and a failure show
 * the command. */
static void send_words(struct ns_probe *p, const char *want, const char *shown, int argc,
		       const char *const *words)
{
	struct ns_run *r = p->r;
	if (p->n_sent == NS_PROBE_MAX) {
		ns_fail(r, "probe %s: more than %d commands", p->name, NS_PROBE_MAX);
		return;
	}
	uint32_t i = p->n_sent++;
	snprintf(p->cmd[i], sizeof p->cmd[i], "%s", shown);
	snprintf(p->want[i], sizeof p->want[i], "%s", want);
	char buf[4 * NS_PROBE_LINE];
	int n = snprintf(buf, sizeof buf, "*%d\r\n", argc);
	for (int k = 0; k < argc; k++)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "$%zu\r\n%s\r\n", strlen(words[k]),
			      words[k]);
	world_tracef(r->w, "probe %s: sends %s", p->name, p->cmd[i]);
	if (p->conn)
		wconn_send(p->conn, buf, (size_t)n);
	else if (!p->may_close)
		ns_fail(r, "probe %s: `%s` not sent: its connection was lost", p->name, p->cmd[i]);
}

void ns_probe_send(struct ns_probe *p, const char *want, const char *fmt, ...)
{
	char line[NS_PROBE_LINE], shown[NS_PROBE_LINE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	snprintf(shown, sizeof shown, "%s", line);
	const char *words[16];
	int argc = 0;
	for (char *t = line; *t && argc < 16;) {
		words[argc++] = t;
		char *sp = strchr(t, ' ');
		if (!sp)
			break;
		*sp = 0;
		t = sp + 1;
	}
	send_words(p, want, shown, argc, words);
}

void ns_probe_send_argv(struct ns_probe *p, const char *want, int argc, const char *const *argv)
{
	char shown[NS_PROBE_LINE];
	size_t n = 0;
	shown[0] = 0;
	for (int k = 0; k < argc && n < sizeof shown; k++)
		n += (size_t)snprintf(shown + n, sizeof shown - n, "%s'%s'", k ? " " : "", argv[k]);
	send_words(p, want, shown, argc, argv);
}

void ns_probe_set_big(struct ns_probe *p, const char *want, const char *key, size_t bytes)
{
	char head[128];
	int n = snprintf(head, sizeof head, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n",
			 strlen(key), key, bytes);
	char *buf = keel_malloc((size_t)n + bytes + 2);
	memcpy(buf, head, (size_t)n);
	for (size_t i = 0; i < bytes; i++) /* varied, so nothing compresses it away */
		buf[n + i] = (char)('a' + (i * 7919 + i / 13) % 26);
	memcpy(buf + n + bytes, "\r\n", 2);
	uint32_t i = p->n_sent;
	if (i < NS_PROBE_MAX && p->conn) {
		p->n_sent++;
		snprintf(p->cmd[i], sizeof p->cmd[i], "SET %s <%zu bytes>", key, bytes);
		snprintf(p->want[i], sizeof p->want[i], "%s", want);
		world_tracef(p->r->w, "probe %s: sends %s", p->name, p->cmd[i]);
		wconn_send(p->conn, buf, (size_t)n + bytes + 2);
	}
	keel_free(buf);
}

const char *ns_probe_reply(const struct ns_probe *p, uint32_t i)
{
	return i < p->n_replied && i < NS_PROBE_MAX ? p->got[i] : NULL;
}

void ns_probe_done(struct ns_probe *p)
{
	if (p->n_replied < p->n_sent && !(p->may_close && !p->conn))
		ns_fail(p->r, "probe %s: `%s` sent to node %u had no reply", p->name,
			p->cmd[p->n_replied], p->node + 1);
	if (p->conn)
		wconn_close(p->conn);
	p->conn = NULL;
}

static void on_rogue(void *ctx, struct wconn *c, enum wconn_event ev)
{
	(void)ctx;
	if (ev == WCONN_CLOSED)
		return;
	size_t n;
	wconn_data(c, &n);
	wconn_consume(c, n); /* a node sends nothing back on a connection it accepted */
}

static void put_frame(struct wconn *c, uint8_t kind, const void *p, uint32_t len)
{
	uint8_t hdr[FRAME_HDR];
	frame_header(hdr, kind, p, len);
	wconn_send(c, hdr, sizeof hdr);
	wconn_send(c, p, len);
}

/* A peer of its own (id, on a host of its own) connects to node's peer
 * port and forwards one request of words, of kind kind_byte, for group
 * (0: outside a GROUP frame); a write (want_head) with its request header. */
static void rogue_forward(struct ns_run *r, uint32_t node, uint64_t id, uint32_t group,
			  uint8_t kind_byte, bool want_head, const char *const *words,
			  uint32_t argc)
{
	char ip[32];
	snprintf(ip, sizeof ip, "127.0.3.%u", ++r->n_probes);
	struct host *h = world_host(r->w, ip);
	struct wconn *c = wconn_open(r->w, h, host_ip(r->nodes[node].h), 7379, on_rogue, NULL);
	struct frame_hello hello = {.id = id};
	snprintf(hello.peer_addr, sizeof hello.peer_addr, "%s:7379", ip);
	uint8_t hb[FRAME_HELLO_MAX];
	put_frame(c, FRAME_HELLO, hb, (uint32_t)frame_hello_encode(&hello, hb));
	struct resp_arg argv[8];
	for (uint32_t i = 0; i < argc && i < 8; i++)
		argv[i] = (struct resp_arg){(const uint8_t *)words[i], strlen(words[i])};
	struct rbuf cmd, f;
	rbuf_init(&cmd);
	rbuf_init(&f);
	if (want_head)
		entry_req_header(&cmd, &(struct entry_req_head){0}, 1);
	entry_cmd_append(&cmd, argv, argc < 8 ? argc : 8);
	if (group) {
		uint8_t gh[FRAME_GROUP_HDR];
		frame_group_header(gh, group, FRAME_FORWARD);
		rbuf_put(&f, gh, sizeof gh);
	}
	rbuf_put_u64(&f, 1); /* its id for the reply */
	rbuf_put(&f, &kind_byte, 1);
	rbuf_put_u32(&f, 1);
	rbuf_put_u32(&f, (uint32_t)cmd.len);
	rbuf_put(&f, cmd.p, cmd.len);
	world_tracef(r->w, "peer %llu: forwards a %u-word %s to group %u of node %u",
		     (unsigned long long)id, argc, kind_byte == 2 ? "command" : "request", group,
		     node + 1);
	put_frame(c, group ? FRAME_GROUP : FRAME_FORWARD, f.p, (uint32_t)f.len);
	rbuf_free(&cmd);
	rbuf_free(&f);
}

void ns_peer_forward(struct ns_run *r, uint32_t node, uint64_t id, uint8_t kind_byte,
		     const char *const *words, uint32_t argc)
{
	rogue_forward(r, node, id, 0, kind_byte, false, words, argc);
}

void ns_peer_forward_to(struct ns_run *r, uint32_t node, uint64_t id, uint32_t group,
			uint8_t kind_byte, const char *const *words, uint32_t argc)
{
	rogue_forward(r, node, id, group, kind_byte, false, words, argc);
}

void ns_peer_forward_write(struct ns_run *r, uint32_t node, uint64_t id, uint32_t group,
			   const char *const *words, uint32_t argc)
{
	rogue_forward(r, node, id, group, 0, true, words, argc);
}

void ns_probe_key(const char *prefix, uint32_t skip, uint16_t first, uint16_t last, char *out,
		  size_t cap)
{
	for (uint32_t n = 0;; n++) {
		snprintf(out, cap, "%s%u", prefix, n);
		uint16_t slot = kv_slot((const uint8_t *)out, strlen(out));
		if (slot >= first && slot <= last && !skip--)
			return;
	}
}
