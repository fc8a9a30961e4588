/* server/cmd_client.c — CLIENT and its subcommands: ID, GETNAME, SETNAME,
 * SETINFO, INFO, LIST [TYPE t | ID id...], KILL (the old ip:port form and
 * the filters ID, TYPE, ADDR, LADDR, USER, SKIPME), NO-EVICT, NO-TOUCH,
 * HELP, and keel's SESSION. Replies and errors are Redis 7.0's (7.2's for
 * SETINFO and NO-TOUCH); a CLIENT LIST line has Redis 7.0's fields in its
 * order, then 7.2's lib-name and lib-ver. Fields keel has no counterpart
 * for (pub/sub, tracking, Redis's reply buffers) are 0 or -1, as Redis
 * shows them for a client that does not use them; the others are true. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "resp/encode.h"
#include "server/server.h"

static bool is(const struct resp_arg *a, const char *s)
{
	return a->len == strlen(s) && !strncasecmp((const char *)a->p, s, a->len);
}

/* An argument as a C string, as Redis's "%s" prints it: up to a NUL. */
static void arg_str(const struct resp_arg *a, char *out, size_t cap)
{
	const void *z = memchr(a->p, 0, a->len);
	size_t n = z ? (size_t)((const uint8_t *)z - a->p) : a->len;
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), (const char *)a->p);
}

/* CLIENT LIST may be split on spaces: names and SETINFO values have only
 * printable ASCII other than the space (Redis's validateClientAttr). */
static bool attr_ok(const struct resp_arg *a)
{
	for (size_t i = 0; i < a->len; i++)
		if (a->p[i] < '!' || a->p[i] > '~')
			return false;
	return true;
}

/* Redis's client types, as TYPE filters name them: normal, replica (also
 * "slave"; keel's read replicas' streams), master, pubsub. */
enum ctype { T_BAD = -1, T_NORMAL, T_REPLICA, T_MASTER, T_PUBSUB };

static enum ctype type_by_name(const struct resp_arg *a)
{
	if (is(a, "normal"))
		return T_NORMAL;
	if (is(a, "slave") || is(a, "replica"))
		return T_REPLICA;
	if (is(a, "master"))
		return T_MASTER;
	if (is(a, "pubsub"))
		return T_PUBSUB;
	return T_BAD;
}

static enum ctype type_of(const struct client *x)
{
	return x->repl ? T_REPLICA : T_NORMAL;
}

/* The local address of x's connection, "ip:port". */
static void local_addr(struct client *x, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char ip[48] = "";
	out[0] = 0;
	if (uv_tcp_getsockname(&x->tcp, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		uv_ip4_name(in, ip, sizeof ip);
		snprintf(out, cap, "%s:%d", ip, ntohs(in->sin_port));
	}
}

static void client_flags(const struct client *x, char *f)
{
	char *p = f;
	if (x->repl)
		*p++ = 'S';
	if (x->in_multi)
		*p++ = 'x';
	if (x->close_after_reply)
		*p++ = 'c';
	if (x->no_evict)
		*p++ = 'e';
	if (x->no_touch)
		*p++ = 'T';
	if (p == f)
		*p++ = 'N';
	*p = 0;
}

/* One CLIENT LIST line for x, without its newline. self_argv: the command
 * being run, when x is the client running it (argv-mem). */
static void client_line(struct client *x, const struct resp_arg *self_argv, uint32_t self_argc,
			struct rbuf *o)
{
	char laddr[64], flags[8], events[3] = "", line[1536];
	local_addr(x, laddr, sizeof laddr);
	client_flags(x, flags);
	uv_os_fd_t fd = -1;
	if (uv_fileno((const uv_handle_t *)&x->tcp, &fd) != 0)
		fd = -1;
	size_t queued = client_queued(x), argv_mem = 0;
	for (uint32_t i = 0; i < self_argc; i++)
		argv_mem += self_argv[i].len;
	char *e = events;
	if (!x->paused && !x->closing)
		*e++ = 'r';
	if (queued)
		*e++ = 'w';
	*e = 0;
	int64_t now = server_now_ms();
	size_t tot = sizeof *x + x->in.cap + x->multi.cap + queued;
	snprintf(line, sizeof line,
		 "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=%u "
		 "sub=0 psub=0 ssub=0 multi=%d qbuf=%zu qbuf-free=%zu argv-mem=%zu "
		 "multi-mem=%zu rbs=0 rbp=0 obl=0 oll=0 omem=%zu tot-mem=%zu events=%s cmd=%s "
		 "user=default redir=-1 resp=%d lib-name=%s lib-ver=%s",
		 (unsigned long long)x->id, x->addr, laddr, (int)fd, x->name,
		 (long long)((now - x->created_ms) / 1000), (long long)((now - x->last_ms) / 1000),
		 flags, x->db, x->in_multi ? (int)x->multi_n : -1, x->in.len, x->in.cap - x->in.len,
		 argv_mem, x->in_multi ? x->multi.len : 0, queued, tot, events,
		 x->last_cmd ? x->last_cmd->name : "NULL", x->proto, x->lib_name, x->lib_ver);
	rbuf_puts(o, line);
}

/* CLIENT LIST [TYPE type | ID id...] */
static void client_list(struct server *s, struct client *c, struct creq *q,
			const struct resp_arg *argv, uint32_t argc)
{
	enum ctype type = T_BAD;
	char word[160];
	if (argc == 4 && is(&argv[2], "type")) {
		type = type_by_name(&argv[3]);
		if (type == T_BAD) {
			arg_str(&argv[3], word, sizeof word);
			resp_errorf(&q->reply, "ERR Unknown client type '%s'", word);
			return;
		}
	} else if (!(argc == 2 || (argc > 3 && is(&argv[2], "id")))) {
		resp_error(&q->reply, "ERR syntax error");
		return;
	}
	bool by_id = argc > 3 && is(&argv[2], "id");
	struct rbuf o;
	rbuf_init(&o);
	for (uint32_t i = by_id ? 3 : 0; by_id && i < argc; i++) {
		int64_t id;
		if (!resp_str2ll(argv[i].p, argv[i].len, &id)) {
			resp_error(&q->reply, "ERR Invalid client ID");
			rbuf_free(&o);
			return;
		}
		for (struct client *x = s->clients; x; x = x->next) {
			if (x->id == (uint64_t)id && !x->closing) {
				client_line(x, x == c ? argv : NULL, x == c ? argc : 0, &o);
				rbuf_puts(&o, "\n");
			}
		}
	}
	for (struct client *x = by_id ? NULL : s->clients; x; x = x->next) {
		if (x->closing || (type != T_BAD && type_of(x) != type))
			continue;
		client_line(x, x == c ? argv : NULL, x == c ? argc : 0, &o);
		rbuf_puts(&o, "\n");
	}
	resp_verbatim(&q->reply, (const char *)o.p, o.len, c->proto);
	rbuf_free(&o);
}

struct kill_filter {
	const struct resp_arg *addr, *laddr;
	enum ctype type;
	uint64_t id;
	bool skipme, old_form;
};

/* The filters of CLIENT KILL's new form; false (the error replied) if bad. */
static bool kill_parse(struct creq *q, const struct resp_arg *argv, uint32_t argc,
		       struct kill_filter *f)
{
	char word[160];
	for (uint32_t i = 2; i < argc; i += 2) {
		const struct resp_arg *v = &argv[i + 1];
		int64_t id;
		if (i + 1 >= argc) {
			resp_error(&q->reply, "ERR syntax error");
			return false;
		} else if (is(&argv[i], "id")) {
			if (!resp_str2ll(v->p, v->len, &id) || id < 1) {
				resp_error(&q->reply, "ERR client-id should be greater than 0");
				return false;
			}
			f->id = (uint64_t)id;
		} else if (is(&argv[i], "type")) {
			if ((f->type = type_by_name(v)) == T_BAD) {
				arg_str(v, word, sizeof word);
				resp_errorf(&q->reply, "ERR Unknown client type '%s'", word);
				return false;
			}
		} else if (is(&argv[i], "addr")) {
			f->addr = v;
		} else if (is(&argv[i], "laddr")) {
			f->laddr = v;
		} else if (is(&argv[i], "user")) {
			if (v->len != 7 || memcmp(v->p, "default", 7)) { /* the only user */
				arg_str(v, word, sizeof word);
				resp_errorf(&q->reply, "ERR No such user '%s'", word);
				return false;
			}
		} else if (is(&argv[i], "skipme") && (is(v, "yes") || is(v, "no"))) {
			f->skipme = is(v, "yes");
		} else {
			resp_error(&q->reply, "ERR syntax error");
			return false;
		}
	}
	return true;
}

/* An address filter against a client's: compared as C strings, as Redis. */
static bool addr_is(const struct resp_arg *want, const char *have)
{
	char w[160];
	arg_str(want, w, sizeof w);
	return !strcmp(w, have);
}

/* CLIENT KILL ip:port | CLIENT KILL filter value [filter value ...] */
static void client_kill(struct server *s, struct client *c, struct creq *q,
			const struct resp_arg *argv, uint32_t argc)
{
	struct kill_filter f = {.type = T_BAD, .skipme = true, .old_form = argc == 3};
	if (f.old_form) {
		f.addr = &argv[2];
		f.skipme = false; /* the old form may kill the caller */
	} else if (!kill_parse(q, argv, argc, &f)) {
		return;
	}
	int64_t killed = 0;
	for (struct client *x = s->clients; x; x = x->next) {
		char laddr[64];
		if (x->closing)
			continue;
		if (f.addr && !addr_is(f.addr, x->addr))
			continue;
		if (f.laddr && (local_addr(x, laddr, sizeof laddr), !addr_is(f.laddr, laddr)))
			continue;
		if ((f.type != T_BAD && type_of(x) != f.type) || (f.id && x->id != f.id))
			continue;
		if (x == c && f.skipme)
			continue;
		if (x == c)
			c->close_after_reply = true; /* after this reply */
		else
			client_drop(x);
		killed++;
	}
	if (!f.old_form)
		resp_int(&q->reply, killed);
	else if (killed)
		resp_simple(&q->reply, "OK");
	else
		resp_error(&q->reply, "ERR No such client");
}

/* Sets dst (CLIENT_ATTR_MAX bytes) to v if it is a valid name or SETINFO
 * value; false, with the error appended to err, if not. what: the value's
 * name in the error. */
static bool set_attr(char *dst, const struct resp_arg *v, const char *what, struct rbuf *err)
{
	if (!attr_ok(v)) {
		resp_errorf(err, "ERR %s cannot contain spaces, newlines or special characters.",
			    what);
		return false;
	}
	if (v->len >= CLIENT_ATTR_MAX) {
		resp_errorf(err, "ERR %s: longer than keel's limit of %d bytes", what,
			    CLIENT_ATTR_MAX - 1);
		return false;
	}
	memcpy(dst, v->p, v->len);
	dst[v->len] = 0;
	return true;
}

bool client_set_name(struct client *c, const struct resp_arg *name, struct rbuf *err)
{
	return set_attr(c->name, name, "Client names", err);
}

/* CLIENT SETINFO LIB-NAME|LIB-VER value */
static void client_setinfo(struct client *c, struct creq *q, const struct resp_arg *argv)
{
	char what[160];
	arg_str(&argv[2], what, sizeof what);
	if (!is(&argv[2], "lib-name") && !is(&argv[2], "lib-ver")) {
		resp_errorf(&q->reply, "ERR Unrecognized option '%s'", what);
		return;
	}
	char *dst = is(&argv[2], "lib-name") ? c->lib_name : c->lib_ver;
	if (set_attr(dst, &argv[3], what, &q->reply))
		resp_simple(&q->reply, "OK");
}

/* CLIENT SESSION: this connection's session and next sequence number;
 * CLIENT SESSION <id> <seq> resumes a session, so that a retried write
 * (sent with the same seq) is answered, not applied again. */
static void client_session(struct client *c, struct creq *q, const struct resp_arg *argv,
			   uint32_t argc)
{
	int64_t id, seq;
	c->session_told = true; /* it numbers its writes: none is held (retry.c) */
	if (argc == 2) {
		resp_array(&q->reply, 2);
		resp_int(&q->reply, (int64_t)c->session);
		resp_int(&q->reply, (int64_t)c->next_seq);
	} else if (argc != 4 || !resp_str2ll(argv[2].p, argv[2].len, &id) ||
		   !resp_str2ll(argv[3].p, argv[3].len, &seq) || id == 0 || seq < 1) {
		resp_error(&q->reply, "ERR CLIENT SESSION <id> <seq>: a non-zero id and a "
				      "sequence number of 1 or more");
	} else {
		client_set_session(c, (uint64_t)id);
		c->next_seq = (uint64_t)seq;
		c->acked_seq = (uint64_t)seq - 1; /* its replies from seq on are kept */
		c->resumed_at = (uint64_t)seq;
		resp_simple(&q->reply, "OK");
	}
}

static void client_help(struct creq *q)
{
	static const char *const lines[] = {
		"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GETNAME",
		"    The name of this connection.",
		"ID",
		"    The id of this connection.",
		"INFO",
		"    This connection, described as CLIENT LIST describes each.",
		"KILL <ip:port>",
		"    Close the connection from <ip:port>.",
		"KILL <option> <value> [<option> <value> [...]]",
		"    Close the connections that match every option:",
		"    * ID <client-id>",
		"    * ADDR <ip:port>      the connection's remote address",
		"    * LADDR <ip:port>     the address it connected to",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"    * USER <username>",
		"    * SKIPME (YES|NO)     spare this connection (default: yes)",
		"LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB) | ID <client-id> [...]]",
		"    One line for each client connection.",
		"SETNAME <name>",
		"    Name this connection.",
		"SETINFO (LIB-NAME|LIB-VER) <value>",
		"    Record the client library's name or version.",
		"NO-EVICT (ON|OFF)",
		"    Accepted; keel never evicts a connection.",
		"NO-TOUCH (ON|OFF)",
		"    Accepted; keel keeps no access times on keys.",
		"SESSION [<id> <seq>]",
		"    This connection's exactly-once session, or resume one (keel).",
		"HELP",
		"    Prints this help.",
	};
	resp_help(&q->reply, lines, sizeof lines / sizeof lines[0]);
}

/* CLIENT NO-EVICT|NO-TOUCH ON|OFF */
static void client_switch(struct creq *q, const struct resp_arg *v, bool *flag)
{
	if (is(v, "on") || is(v, "off")) {
		*flag = is(v, "on");
		resp_simple(&q->reply, "OK");
	} else {
		resp_error(&q->reply, "ERR syntax error");
	}
}

void server_cmd_client(struct server *s, struct client *c, struct creq *q,
		       const struct resp_arg *argv, uint32_t argc)
{
	const struct resp_arg *sub = &argv[1];
	if (is(sub, "id")) {
		resp_int(&q->reply, (int64_t)c->id);
	} else if (is(sub, "getname")) {
		if (c->name[0])
			resp_bulk_str(&q->reply, c->name);
		else
			resp_null(&q->reply, c->proto);
	} else if (is(sub, "setname")) {
		if (client_set_name(c, &argv[2], &q->reply))
			resp_simple(&q->reply, "OK");
	} else if (is(sub, "setinfo")) {
		client_setinfo(c, q, argv);
	} else if (is(sub, "info")) {
		struct rbuf o;
		rbuf_init(&o);
		client_line(c, argv, argc, &o);
		rbuf_puts(&o, "\n");
		resp_verbatim(&q->reply, (const char *)o.p, o.len, c->proto);
		rbuf_free(&o);
	} else if (is(sub, "list")) {
		client_list(s, c, q, argv, argc);
	} else if (is(sub, "kill")) {
		client_kill(s, c, q, argv, argc);
	} else if (is(sub, "no-evict")) {
		client_switch(q, &argv[2], &c->no_evict);
	} else if (is(sub, "no-touch")) {
		client_switch(q, &argv[2], &c->no_touch);
	} else if (is(sub, "session")) {
		client_session(c, q, argv, argc);
	} else {
		client_help(q);
	}
}
