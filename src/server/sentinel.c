/* server/sentinel.c — Sentinel-compatible discovery. Redis client
 * libraries find a standalone master by asking a list of Sentinels where
 * it is; every member of a keel cluster answers those questions itself,
 * on its client port and on --sentinel-port if given:
 *
 *   SENTINEL MASTERS | MASTER <name> | GET-MASTER-ADDR-BY-NAME <name>
 *            | REPLICAS <name> | SLAVES <name> | SENTINELS <name> | MYID | HELP
 *   ROLE
 *   SUBSCRIBE / PSUBSCRIBE to Sentinel's event channels (UNSUBSCRIBE ...)
 *
 * with Redis Sentinel's reply shapes. There is one master, named by
 * --sentinel-master-name ("keel" by default): the Raft leader, given as
 * its client address. Members tell each other where they serve clients in
 * the peer HELLO frame (net/frame.h); this node's own address is
 * --client-announce, or its first client address that is not 0.0.0.0, or
 * --bind (addrs.c, which the Redis Cluster protocol shares).
 *
 * What it guarantees: the address named as the master is that of the node
 * this node believes leads (Raft's leader id: the leader itself, or a
 * follower that hears it and has not started an election) and is
 * connected to. While this node knows no such leader, or not the
 * leader's client address, the master is this node flagged s_down,o_down,
 * and GET-MASTER-ADDR-BY-NAME answers nil: every client library takes
 * either as "ask another Sentinel". Any node takes any command, so a
 * client that reaches an old leader is still served (forwarded), or
 * refused with an error that makes it ask again.
 *
 * ROLE and INFO's role agree: the leader is a master (its replicas are the
 * other members it is connected to), a follower is a slave of the leader,
 * a read replica a slave of its source. So a client that checks the role
 * of the master it was given (ioredis reads INFO's role) passes on the
 * leader, and asks again elsewhere.
 *
 * keel has no pub/sub: SUBSCRIBE and PSUBSCRIBE are confirmed for
 * Sentinel's event channels only (node-redis subscribes to them before it
 * uses a Sentinel) and nothing is ever published on them. Clients learn of
 * a new leader by asking again when their connection fails or they get an
 * error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv/kv.h"
#include "resp/encode.h"
#include "server/server.h"

/* Reported as down-after-milliseconds: a member whose peer connection
 * from this node is down is flagged s_down at once. */
#define SENTINEL_DOWN_MS 1000

static bool is(const struct resp_arg *a, const char *s)
{
	return a->len == strlen(s) && !strncasecmp((const char *)a->p, s, a->len);
}

void sentinel_start(struct server *s)
{
	struct node_addr a;
	addr_self(s, &a);
	peers_announce(s->peers, a.host, a.port, a.sentinel_port);
}

/* ---- replies ------------------------------------------------------------ */

/* An instance's fields, counted as they are added: a map in RESP3, a flat
 * array of name, value, ... in RESP2 (as Sentinel answers). */
struct fields {
	struct rbuf b;
	size_t n;
};

static void field_str(struct fields *f, const char *k, const char *v)
{
	resp_bulk_str(&f->b, k);
	resp_bulk_str(&f->b, v);
	f->n++;
}

static void field_int(struct fields *f, const char *k, int64_t v)
{
	resp_bulk_str(&f->b, k);
	resp_bulk_int(&f->b, v);
	f->n++;
}

static void fields_put(struct fields *f, struct rbuf *out, int proto)
{
	resp_map(out, f->n, proto);
	rbuf_put(out, f->b.p, f->b.len);
	rbuf_free(&f->b);
}

/* The fields every instance has, as Sentinel orders them. */
static void instance_head(struct server *s, struct fields *f, const char *name,
			  const struct node_addr *a, int port, const char *role, bool down)
{
	char runid[41], flags[64];
	addr_node_id(a->id, runid);
	snprintf(flags, sizeof flags, "%s%s%s", down ? "s_down," : "",
		 down && !strcmp(role, "master") ? "o_down," : "", role);
	if (!a->up)
		snprintf(flags + strlen(flags), sizeof flags - strlen(flags), ",disconnected");
	int64_t heard = a->id == s->cfg.id ? server_now_ms() : server_last_heard(s->g, a->id);
	int64_t since = heard ? server_now_ms() - heard : server_now_ms() - s->started_ms;
	rbuf_init(&f->b);
	f->n = 0;
	field_str(f, "name", name);
	field_str(f, "ip", a->host);
	field_int(f, "port", port);
	field_str(f, "runid", runid);
	field_str(f, "flags", flags);
	field_int(f, "link-pending-commands", 0);
	field_int(f, "link-refcount", 1);
	field_int(f, "last-ping-sent", 0);
	field_int(f, "last-ok-ping-reply", a->up ? 0 : since);
	field_int(f, "last-ping-reply", a->up ? 0 : since);
	if (down)
		field_int(f, "s-down-time", since);
	if (down && !strcmp(role, "master"))
		field_int(f, "o-down-time", since);
	field_int(f, "down-after-milliseconds", SENTINEL_DOWN_MS);
}

static void reply_master(struct server *s, struct rbuf *o, int proto)
{
	struct node_addr m, rest[RAFT_MEMBERS_MAX];
	bool led = addr_leader(s, s->g, &m);
	struct fields f;
	instance_head(s, &f, s->cfg.sentinel_master, &m, m.port, "master", !led);
	field_int(&f, "info-refresh", 0);
	field_str(&f, "role-reported", "master");
	field_int(&f, "role-reported-time", 0);
	field_int(&f, "config-epoch", (int64_t)raft_current_term(s->g->r));
	field_int(&f, "num-slaves", addr_others(s, m.id, rest));
	field_int(&f, "num-other-sentinels", addr_others(s, s->cfg.id, rest));
	field_int(&f, "quorum", raft_config_voters(raft_config_of(s->g->r)) / 2 + 1);
	field_int(&f, "failover-timeout", s->cfg.request_timeout_ms);
	field_int(&f, "parallel-syncs", 1);
	fields_put(&f, o, proto);
}

static void reply_replicas(struct server *s, struct rbuf *o, int proto)
{
	struct node_addr m, rest[RAFT_MEMBERS_MAX];
	bool led = addr_leader(s, s->g, &m);
	uint32_t n = addr_others(s, m.id, rest);
	resp_array(o, n);
	for (uint32_t i = 0; i < n; i++) {
		struct node_addr *a = &rest[i];
		char name[FRAME_ADDR_MAX + 8];
		snprintf(name, sizeof name, "%s:%d", a->host, a->port);
		raft_index match = 0, next = 0;
		if (a->id == s->cfg.id)
			match = raft_applied_index(s->g->r);
		else
			raft_progress_of(s->g->r, a->id, &match, &next);
		struct fields f;
		instance_head(s, &f, name, a, a->port, "slave", !a->up);
		field_int(&f, "info-refresh", 0);
		field_str(&f, "role-reported", "slave");
		field_int(&f, "role-reported-time", 0);
		field_int(&f, "master-link-down-time", 0);
		field_str(&f, "master-link-status", led ? "ok" : "err");
		field_str(&f, "master-host", led ? m.host : "?");
		field_int(&f, "master-port", led ? m.port : 0);
		field_int(&f, "slave-priority", a->voter ? 100 : 0); /* 0: never promoted */
		field_int(&f, "slave-repl-offset", (int64_t)match);
		field_int(&f, "replica-announced", 1);
		fields_put(&f, o, proto);
	}
}

static void reply_sentinels(struct server *s, struct rbuf *o, int proto)
{
	struct node_addr rest[RAFT_MEMBERS_MAX];
	uint32_t n = addr_others(s, s->cfg.id, rest);
	resp_array(o, n);
	for (uint32_t i = 0; i < n; i++) {
		struct node_addr *a = &rest[i];
		char runid[41];
		addr_node_id(a->id, runid);
		struct fields f;
		instance_head(s, &f, runid, a, a->sentinel_port ? a->sentinel_port : a->port,
			      "sentinel", !a->up);
		field_int(&f, "last-hello-message", 0);
		field_str(&f, "voted-leader", "?");
		field_int(&f, "voted-leader-epoch", 0);
		fields_put(&f, o, proto);
	}
}

static void reply_help(struct rbuf *o)
{
	static const char *help[] = {
		"SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GET-MASTER-ADDR-BY-NAME <master-name>",
		"    Return the client address of the Raft leader, nil while none is known.",
		"MASTER <master-name>",
		"    Show the state of the master (the Raft leader).",
		"MASTERS",
		"    Show the one master this cluster has.",
		"MYID",
		"    Return the ID of this node as a Sentinel.",
		"REPLICAS <master-name>",
		"    Show the other members (they serve reads and take writes too).",
		"SENTINELS <master-name>",
		"    Show the other members, each of which answers as a Sentinel.",
		"HELP",
		"    Print this help.",
	};
	size_t n = sizeof help / sizeof help[0];
	resp_array(o, n);
	for (size_t i = 0; i < n; i++)
		resp_simple(o, help[i]);
}

/* SENTINEL <subcommand> ...: Sentinel's replies and errors. */
static void cmd_sentinel(struct server *s, struct client *c, struct rbuf *o,
			 const struct resp_arg *argv, uint32_t argc)
{
	const struct resp_arg *sub = &argv[1];
	bool named = argc == 3 && argv[2].len == strlen(s->cfg.sentinel_master) &&
		     !memcmp(argv[2].p, s->cfg.sentinel_master, argv[2].len);
	static const char *one_arg[] = {"master", "get-master-addr-by-name", "replicas", "slaves",
					"sentinels"};
	bool takes_name = false;
	for (size_t i = 0; i < sizeof one_arg / sizeof one_arg[0]; i++)
		takes_name |= is(sub, one_arg[i]);
	if (s->g->replica) {
		resp_error(o, "ERR this node is a read replica (--replica-of), not a Raft member: "
			      "give the members' addresses as Sentinels");
	} else if (is(sub, "help") && argc == 2) {
		reply_help(o);
	} else if (is(sub, "myid") && argc == 2) {
		char runid[41];
		addr_node_id(s->cfg.id, runid);
		resp_bulk_str(o, runid);
	} else if (is(sub, "masters") && argc == 2) {
		resp_array(o, 1);
		reply_master(s, o, c->proto);
	} else if ((takes_name && argc != 3) || (is(sub, "masters") && argc != 2)) {
		char name[32]; /* one of the names above, as Redis writes it */
		snprintf(name, sizeof name, "%.*s", (int)sub->len, (const char *)sub->p);
		for (char *k = name; *k; k++)
			*k = (char)(*k >= 'A' && *k <= 'Z' ? *k - 'A' + 'a' : *k);
		resp_errorf(o, "ERR wrong number of arguments for 'sentinel|%s' command", name);
	} else if (is(sub, "get-master-addr-by-name")) {
		struct node_addr m;
		if (!named || !addr_leader(s, s->g, &m)) {
			resp_null_array(o, c->proto);
		} else {
			resp_array(o, 2);
			resp_bulk_str(o, m.host);
			resp_bulk_int(o, m.port);
		}
	} else if (takes_name && !named) {
		resp_error(o, "ERR No such master with that name");
	} else if (is(sub, "master")) {
		reply_master(s, o, c->proto);
	} else if (is(sub, "replicas") || is(sub, "slaves")) {
		reply_replicas(s, o, c->proto);
	} else if (is(sub, "sentinels")) {
		reply_sentinels(s, o, c->proto);
	} else {
		resp_errorf(o, "ERR unknown subcommand '%.*s'. Try SENTINEL HELP.",
			    (int)(sub->len > 128 ? 128 : sub->len), (const char *)sub->p);
	}
}

/* ROLE, as Redis answers it; see the top of the file. */
static void cmd_role(struct server *s, struct rbuf *o)
{
	if (s->g->replica) {
		const struct repl_follow *f = &s->g->replica->follow;
		const char *src = f->sources[f->cur], *colon = strrchr(src, ':');
		bool up = f->state == REPL_STREAMING;
		resp_array(o, 5);
		resp_bulk_str(o, "slave");
		resp_bulk(o, src, colon ? (size_t)(colon - src) : strlen(src));
		resp_int(o, colon ? strtol(colon + 1, NULL, 10) : 0);
		resp_bulk_str(o, up ? "connected" : f->state == REPL_CATCHUP ? "sync" : "connect");
		resp_int(o, up ? (int64_t)s->g->replica->applied : -1);
		return;
	}
	struct node_addr m, rest[RAFT_MEMBERS_MAX];
	bool led = addr_leader(s, s->g, &m);
	if (led && m.id == s->cfg.id) {
		uint32_t n = addr_others(s, s->cfg.id, rest), up = 0;
		for (uint32_t i = 0; i < n; i++)
			up += rest[i].up;
		resp_array(o, 3);
		resp_bulk_str(o, "master");
		resp_int(o, (int64_t)raft_commit_index(s->g->r));
		resp_array(o, up);
		for (uint32_t i = 0; i < n; i++) {
			raft_index match = 0, next = 0;
			if (!rest[i].up)
				continue;
			raft_progress_of(s->g->r, rest[i].id, &match, &next);
			resp_array(o, 3);
			resp_bulk_str(o, rest[i].host);
			resp_bulk_int(o, rest[i].port);
			resp_bulk_int(o, (int64_t)match);
		}
		return;
	}
	resp_array(o, 5);
	resp_bulk_str(o, "slave");
	resp_bulk_str(o, led ? m.host : "?");
	resp_int(o, led ? m.port : 0);
	resp_bulk_str(o, led ? "connected" : s->g->removed_at ? "none" : "connect");
	resp_int(o, led ? (int64_t)raft_applied_index(s->g->r) : -1);
}

/* ---- Sentinel's event channels ------------------------------------------ */

/* What a Sentinel publishes on, "switch-master" (node-redis's pattern
 * for it) and "+replica-reconf-done" (go-redis subscribes to it with
 * "+switch-master"): the only channels SUBSCRIBE and PSUBSCRIBE take. */
static const char *const events[] = {
	"+switch-master",
	"switch-master",
	"+replica-reconf-done",
	"+failover-detected",
	"+sdown",
	"-sdown",
	"+odown",
	"-odown",
	"+slave",
	"+sentinel",
	"+slave-reconf-done",
	"+slave-reconf-sent",
	"+slave-reconf-inprog",
	"+reset-master",
	"+new-epoch",
	"+try-failover",
	"+elected-leader",
	"+failover-end",
	"+tilt",
	"-tilt",
	"+convert-to-slave",
	"+config-update-from",
	"__sentinel__:hello",
};

static bool event_channel(const struct resp_arg *a, bool pattern)
{
	for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
		const uint8_t *e = (const uint8_t *)events[i];
		size_t n = strlen(events[i]);
		if (pattern ? kv_glob(a->p, a->len, e, n, false)
			    : a->len == n && !memcmp(a->p, e, n))
			return true;
	}
	return false;
}

/* One confirmation: [kind, channel (or nil), count], a push in RESP3. */
static void confirm(struct rbuf *o, int proto, const char *kind, const struct resp_arg *ch,
		    uint32_t count)
{
	rbuf_puts(o, proto == 3 ? ">3\r\n" : "*3\r\n");
	resp_bulk_str(o, kind);
	if (ch)
		resp_bulk(o, ch->p, ch->len);
	else
		resp_null(o, proto);
	resp_int(o, count);
}

/* SUBSCRIBE / PSUBSCRIBE: all of the channels must be Sentinel's, or
 * none is taken. UNSUBSCRIBE / PUNSUBSCRIBE with no channel drops them
 * all, with one confirmation. The count is the connection's, both kinds
 * together, as Redis counts. */
static void cmd_subscribe(struct client *c, struct rbuf *o, const struct resp_arg *argv,
			  uint32_t argc)
{
	char kind[16];
	snprintf(kind, sizeof kind, "%.*s", (int)argv[0].len, (const char *)argv[0].p);
	for (char *k = kind; *k; k++)
		*k = (char)(*k >= 'A' && *k <= 'Z' ? *k - 'A' + 'a' : *k);
	bool pattern = kind[0] == 'p';
	if (strstr(kind, "unsubscribe")) {
		if (argc == 1) {
			c->sentinel_subs = 0;
			confirm(o, c->proto, kind, NULL, 0);
		}
		for (uint32_t i = 1; i < argc; i++) {
			if (c->sentinel_subs && event_channel(&argv[i], pattern))
				c->sentinel_subs--;
			confirm(o, c->proto, kind, &argv[i], c->sentinel_subs);
		}
		return;
	}
	for (uint32_t i = 1; i < argc; i++) {
		if (!event_channel(&argv[i], pattern)) {
			resp_errorf(o,
				    "ERR keel has no pub/sub: %s takes only Sentinel's event "
				    "channels (such as +switch-master), and nothing is published "
				    "on them",
				    pattern ? "PSUBSCRIBE" : "SUBSCRIBE");
			return;
		}
	}
	for (uint32_t i = 1; i < argc; i++)
		confirm(o, c->proto, kind, &argv[i], ++c->sentinel_subs);
}

bool sentinel_command(struct server *s, struct client *c, struct creq *q,
		      const struct resp_arg *argv, uint32_t argc)
{
	const struct resp_arg *a = &argv[0];
	if (is(a, "sentinel"))
		cmd_sentinel(s, c, &q->reply, argv, argc);
	else if (is(a, "role"))
		cmd_role(s, &q->reply);
	else if (is(a, "subscribe") || is(a, "psubscribe") || is(a, "unsubscribe") ||
		 is(a, "punsubscribe"))
		cmd_subscribe(c, &q->reply, argv, argc);
	else
		return false;
	return true;
}
