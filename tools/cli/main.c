/* tools/cli/main.c — keel-cli: the operator's tool. `status` prints the
 * cluster at a glance (the leader's view: id, address, role, match index,
 * lag, last contact); `shard status` the node's shards (slots, leader,
 * role, term, applied index, keys) and the slot map's version; `shard
 * add` adds a shard; `shard place` puts a shard (any but shard 0) on the
 * nodes listed and waits for it; `reshard` moves a range of slots to another shard and
 * waits for it; `add`, `promote`, `remove`, `transfer` (each sent again
 * while answered -TRYAGAIN, up to 10 s), `snapshot` change it; any other
 * words are sent as a command, and with none it runs an interactive
 * prompt for data commands, as redis-cli does, with history and hints. It
 * speaks RESP2 over one blocking TCP connection.
 *
 *   keel-cli [-h host] [-p port] [--raw] [status | shard status |
 *            shard add [--nodes 1,2,3] | shard place ID --nodes 1,2,3 |
 *            reshard --slots A-B --to G |
 *            add ID HOST:PEER-PORT
 *            [--auto] | promote ID | remove ID | transfer ID | snapshot |
 *            COMMAND ARG...]
 * Exit status: 0, or 1 for an error reply or a failed connection. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lineedit.h"
#include "resp/parse.h"

/* ---- the connection ----------------------------------------------------- */

struct conn {
	const char *host;
	int port;
	int fd;
	char *in;
	size_t len, cap;
};

static int conn_open(struct conn *c)
{
	char port[16];
	snprintf(port, sizeof port, "%d", c->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(c->host, port, &hints, &res);
	if (rc) {
		fprintf(stderr, "keel-cli: %s: %s\n", c->host, gai_strerror(rc));
		return -1;
	}
	c->fd = -1;
	for (struct addrinfo *a = res; a && c->fd < 0; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = {30, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			c->fd = fd;
		else
			close(fd);
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		fprintf(stderr, "keel-cli: cannot connect to %s:%d: %s\n", c->host, c->port,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Sends argv as a RESP array and reads one whole reply into c->in[0..*n). */
static int conn_call(struct conn *c, int argc, char **argv, size_t *n)
{
	size_t need = 32;
	for (int i = 0; i < argc; i++)
		need += strlen(argv[i]) + 32;
	char *b = malloc(need);
	if (!b)
		return -1;
	size_t k = (size_t)snprintf(b, need, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);
		k += (size_t)snprintf(b + k, need - k, "$%zu\r\n", l);
		memcpy(b + k, argv[i], l);
		k += l;
		memcpy(b + k, "\r\n", 2);
		k += 2;
	}
	for (size_t off = 0; off < k;) {
		ssize_t w = write(c->fd, b + off, k - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			free(b);
			fprintf(stderr, "keel-cli: write: %s\n", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	free(b);
	c->len = 0;
	for (;;) {
		int st = c->len ? resp_scan_reply((uint8_t *)c->in, c->len, n) : RESP_MORE;
		if (st == RESP_OK)
			return 0;
		if (st == RESP_ERR) {
			fprintf(stderr, "keel-cli: the server's reply is not RESP\n");
			return -1;
		}
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *p = realloc(c->in, cap);
			if (!p)
				return -1;
			c->in = p;
			c->cap = cap;
		}
		ssize_t r = read(c->fd, c->in + c->len, c->cap - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "keel-cli: %s:%d: %s\n", c->host, c->port,
				r == 0 ? "connection closed" : strerror(errno));
			return -1;
		}
		c->len += (size_t)r;
	}
}

/* ---- printing replies, as redis-cli does -------------------------------- */

static const char *line_end(const char *p, const char *end)
{
	const char *e = memchr(p, '\r', (size_t)(end - p));
	return e ? e : end;
}

static void print_quoted(const char *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			printf("\\n");
		else if (ch == '\r')
			printf("\\r");
		else if (ch == '\t')
			printf("\\t");
		else if (isprint(ch))
			putchar(ch);
		else
			printf("\\x%02x", ch);
	}
	putchar('"');
}

/* Prints the reply at p; returns what follows it. */
static const char *print_reply(const char *p, const char *end, bool raw, int indent)
{
	const char *e = line_end(p + 1, end);
	long long v = strtoll(p + 1, NULL, 10);
	const char *next = e + 2 <= end ? e + 2 : end;
	switch (p[0]) {
	case '+':
		printf("%.*s\n", (int)(e - p - 1), p + 1);
		return next;
	case '-':
		printf(raw ? "%.*s\n" : "(error) %.*s\n", (int)(e - p - 1), p + 1);
		return next;
	case ':':
		printf(raw ? "%lld\n" : "(integer) %lld\n", v);
		return next;
	case '$':
		if (v < 0) {
			printf(raw ? "\n" : "(nil)\n");
			return next;
		}
		if (raw)
			printf("%.*s\n", (int)v, next);
		else {
			print_quoted(next, (size_t)v);
			putchar('\n');
		}
		return next + v + 2;
	case '*':
		if (v < 0) {
			printf(raw ? "\n" : "(nil)\n");
			return next;
		}
		if (v == 0 && !raw)
			printf("(empty array)\n");
		for (long long i = 0; i < v; i++) {
			if (!raw) {
				if (i)
					printf("%*s", indent, "");
				int w = printf("%lld) ", i + 1);
				next = print_reply(next, end, raw, indent + w);
			} else {
				next = print_reply(next, end, raw, 0);
			}
		}
		return next;
	default:
		printf("%.*s\n", (int)(e - p), p);
		return next;
	}
}

/* Sends one command and prints its reply; 1 if it was an error. */
static int run(struct conn *c, int argc, char **argv, bool raw)
{
	size_t n;
	if (c->fd < 0 && conn_open(c))
		return 1;
	if (conn_call(c, argc, argv, &n)) {
		close(c->fd); /* reconnected at the next command */
		c->fd = -1;
		return 1;
	}
	print_reply(c->in, c->in + n, raw, 0);
	return c->in[0] == '-';
}

/* conn_call, asked again every 200 ms for up to 10 s while the reply is
 * -TRYAGAIN (nothing was applied: no leader known during an election,
 * another change not yet committed; for KEEL.ADDSHARD and
 * KEEL.PLACESHARD, no leader of the metadata group known to the node
 * asked). */
static int call_again(struct conn *c, int argc, char **argv, size_t *n)
{
	for (int tries = 0;; tries++) {
		if (conn_call(c, argc, argv, n))
			return 1;
		if (tries >= 50 || *n <= 9 || strncmp(c->in, "-TRYAGAIN", 9))
			return 0;
		usleep(200 * 1000);
	}
}

/* run for a membership change (call_again); the last reply is printed. */
static int run_change(struct conn *c, int argc, char **argv, bool raw)
{
	size_t n;
	if (c->fd < 0 && conn_open(c))
		return 1;
	if (call_again(c, argc, argv, &n)) {
		close(c->fd);
		c->fd = -1;
		return 1;
	}
	print_reply(c->in, c->in + n, raw, 0);
	return c->in[0] == '-';
}

/* ---- status ------------------------------------------------------------- */

/* The value of "field:" in an INFO text, copied into out. */
static bool info_field(const char *text, const char *field, char *out, size_t cap)
{
	size_t fl = strlen(field);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, field, fl) && p[fl] == ':') {
			size_t n = strcspn(p + fl + 1, "\r\n");
			snprintf(out, cap, "%.*s", (int)n, p + fl + 1);
			return true;
		}
	}
	return false;
}

static void kv_field(const char *list, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	snprintf(out, cap, "-");
	for (const char *p = list; p && *p;) {
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			snprintf(out, cap, "%.*s", (int)strcspn(p + kl + 1, ",\r\n"), p + kl + 1);
			return;
		}
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
}

/* A bulk reply's text, NUL-terminated (in c->in), or NULL. */
static char *bulk_text(struct conn *c, size_t n)
{
	if (c->in[0] != '$')
		return NULL;
	char *body = strstr(c->in, "\r\n");
	if (!body)
		return NULL;
	c->in[n - 2] = 0;
	return body + 2;
}

static int cmd_status(struct conn *c)
{
	char *leader_args[] = {"RAFT", "STATUS", "LEADER"};
	char *local_args[] = {"RAFT", "STATUS"};
	size_t n;
	if (conn_call(c, 3, leader_args, &n))
		return 1;
	bool from_leader = c->in[0] == '$';
	if (!from_leader) {
		printf("no leader: %.*s", (int)n - 1, c->in + 1);
		printf("this node's own view follows\n");
		if (conn_call(c, 2, local_args, &n))
			return 1;
	}
	char *text = bulk_text(c, n);
	if (!text) {
		printf("%.*s", (int)n, c->in);
		return 1;
	}
	char leader[32] = "-", term[32] = "-", commit[32] = "-", last[32] = "-", role[32] = "-";
	info_field(text, "raft_leader_id", leader, sizeof leader);
	info_field(text, "raft_term", term, sizeof term);
	info_field(text, "raft_commit_index", commit, sizeof commit);
	info_field(text, "raft_last_index", last, sizeof last);
	info_field(text, "raft_role", role, sizeof role);
	printf("leader %s, term %s, commit index %s, last index %s (%s view; asked %s:%d)\n\n",
	       strcmp(leader, "0") ? leader : "none", term, commit, last,
	       from_leader ? "the leader's" : role, c->host, c->port);
	printf("%-4s %-22s %-8s %12s %8s  %s\n", "ID", "ADDRESS", "ROLE", "MATCH", "LAG",
	       "LAST CONTACT");
	for (const char *p = text; (p = strstr(p, "raft_member_"));) {
		const char *colon = strchr(p, ':');
		if (!colon)
			break;
		char id[24], line[512], r[16], addr[64], match[32], lag[32], contact[32];
		snprintf(id, sizeof id, "%.*s", (int)(colon - p - 12), p + 12);
		snprintf(line, sizeof line, "%.*s", (int)strcspn(colon + 1, "\r\n"), colon + 1);
		kv_field(line, "role", r, sizeof r);
		kv_field(line, "addr", addr, sizeof addr);
		kv_field(line, "match_index", match, sizeof match);
		kv_field(line, "lag", lag, sizeof lag);
		kv_field(line, "last_contact_ms", contact, sizeof contact);
		if (!strcmp(id, leader))
			snprintf(r, sizeof r, "leader");
		char when[48];
		if (!strcmp(id, leader) && from_leader)
			snprintf(when, sizeof when, "-");
		else if (!strcmp(contact, "-1") || !strcmp(contact, "-"))
			snprintf(when, sizeof when, "never");
		else
			snprintf(when, sizeof when, "%s ms ago", contact);
		printf("%-4s %-22s %-8s %12s %8s  %s\n", id, addr, r, match,
		       strcmp(lag, "-1") ? lag : "?", when);
		p = colon;
	}
	return from_leader ? 0 : 1;
}

/* keel-cli shard status: the node's shards (INFO shards), a line each:
 * its slots, its leader, this node's role in it, term, applied index and
 * keys (as applied on the node asked), then the members every shard has. */
static int cmd_shard_status(struct conn *c)
{
	char *info_args[] = {"INFO", "SHARDS"}, *raft_args[] = {"RAFT", "STATUS"};
	size_t n;
	if (conn_call(c, 2, info_args, &n))
		return 1;
	char *text = bulk_text(c, n);
	char count[16] = "";
	if (!text || !info_field(text, "keel_shards", count, sizeof count)) {
		printf("%.*s", (int)n, c->in);
		return 1;
	}
	printf("%s shard%s (as %s:%d sees them)\n\n", count, strcmp(count, "1") ? "s" : "", c->host,
	       c->port);
	printf("%-6s %-16s %-7s %-10s %8s %12s %10s\n", "SHARD", "SLOTS", "LEADER", "HERE", "TERM",
	       "APPLIED", "KEYS");
	int rc = 0;
	char placed_text[2048] = "";
	for (const char *p = text; (p = strstr(p, "\nshard"));) {
		p++;
		const char *colon = strchr(p, ':');
		if (!colon)
			break;
		char id[16], line[2048], slots[1024], leader[24], role[16], term[24], applied[24],
			keys[24];
		snprintf(id, sizeof id, "%.*s", (int)(colon - p - 5), p + 5);
		snprintf(line, sizeof line, "%.*s", (int)strcspn(colon + 1, "\r\n"), colon + 1);
		kv_field(line, "slots", slots, sizeof slots);
		for (char *sp = strchr(slots, ' '); sp; sp = strchr(sp, ' '))
			*sp = ','; /* one column: "0-999,5461-10922" */
		kv_field(line, "leader", leader, sizeof leader);
		kv_field(line, "role", role, sizeof role);
		kv_field(line, "term", term, sizeof term);
		kv_field(line, "applied_index", applied, sizeof applied);
		kv_field(line, "keys", keys, sizeof keys);
		char on[128];
		kv_field(line, "placed", on, sizeof on);
		if (strcmp(on, "-") && strlen(placed_text) + strlen(on) + 40 < sizeof placed_text)
			snprintf(placed_text + strlen(placed_text),
				 sizeof placed_text - strlen(placed_text),
				 "shard %s is placed on nodes %s\n", id, on);
		bool outside = !strcmp(role, "outside"); /* placed on other nodes */
		if (!strcmp(leader, "0") && !outside)
			rc = 1; /* a shard without a known leader */
		printf("%-6s %-16s %-7s %-10s %8s %12s %10s\n", id, slots,
		       outside		     ? "-"
		       : strcmp(leader, "0") ? leader
					     : "none",
		       role, term, applied, keys);
		p = colon;
	}
	char meta[512], map[32], moving[160];
	if (info_field(text, "meta", meta, sizeof meta) &&
	    info_field(text, "migration", moving, sizeof moving)) {
		kv_field(meta, "map_version", map, sizeof map);
		printf("\nslot map version %s; migration: %s\n", map, moving);
	}
	if (conn_call(c, 2, raft_args, &n) || !(text = bulk_text(c, n)))
		return 1;
	printf("\n%smembers of every %sshard:", placed_text, placed_text[0] ? "other " : "");
	for (const char *p = text; (p = strstr(p, "raft_member_"));) {
		const char *colon = strchr(p, ':');
		if (!colon)
			break;
		printf(" %.*s", (int)(colon - p - 12), p + 12);
		p = colon;
	}
	printf("\n");
	return rc;
}

/* keel-cli reshard --slots A-B --to G: KEEL.RESHARD, then INFO shards
 * every 100 ms until no migration is under way (at most 10 minutes). */
static int cmd_reshard(struct conn *c, char *range, char *to)
{
	char first[16], last[16];
	size_t dash = strcspn(range, "-"), n;
	snprintf(first, sizeof first, "%.*s", (int)dash, range);
	snprintf(last, sizeof last, "%s", range[dash] ? range + dash + 1 : range);
	char *args[] = {"KEEL.RESHARD", first, last, to}, *info[] = {"INFO", "SHARDS"};
	if (conn_call(c, 4, args, &n))
		return 1;
	if (c->in[0] != '+') {
		printf("%.*s", (int)n - 1, c->in + 1);
		return 1;
	}
	printf("moving slots %s-%s to shard %s\n", first, last, to);
	struct timeval t0, t;
	gettimeofday(&t0, NULL);
	char was[160] = "";
	for (int i = 0; i < 6000; i++) {
		char moving[160] = "";
		if (conn_call(c, 2, info, &n))
			return 1;
		char *text = bulk_text(c, n);
		if (!text || !info_field(text, "migration", moving, sizeof moving))
			return 1;
		gettimeofday(&t, NULL);
		double s = (double)(t.tv_sec - t0.tv_sec) + (t.tv_usec - t0.tv_usec) / 1e6;
		if (!strcmp(moving, "none")) {
			printf("done in %.1f s\n", s);
			return 0;
		}
		if (strcmp(moving, was))
			printf("%6.1f s  %s\n", s, moving);
		snprintf(was, sizeof was, "%s", moving);
		usleep(100000);
	}
	printf("still under way after 10 minutes: keel-cli shard status shows it\n");
	return 1;
}

#define NODES_MAX 16 /* ids shard add takes */

/* The ids of "1,2,3" (copied into list, cap bytes) appended to args from
 * args[argc] on, at most NODES_MAX of them; returns the new count. */
static int split_ids(const char *nodes, char *list, size_t cap, char **args, int argc)
{
	int last = argc + NODES_MAX;
	snprintf(list, cap, "%s", nodes ? nodes : "");
	for (char *p = list; *p && argc < last;) { /* split at commas */
		args[argc++] = p;
		p += strcspn(p, ",");
		if (*p)
			*p++ = 0;
	}
	return argc;
}

/* keel-cli shard add [--nodes 1,2,3]: KEEL.ADDSHARD (call_again), then INFO shards
 * every 100 ms until the new shard has a leader here (at most a minute). */
static int cmd_shard_add(struct conn *c, const char *nodes)
{
	char *args[NODES_MAX + 1] = {"KEEL.ADDSHARD"}, list[256], *info[] = {"INFO", "SHARDS"};
	int argc = split_ids(nodes, list, sizeof list, args, 1);
	size_t n;
	if (call_again(c, argc, args, &n))
		return 1;
	if (c->in[0] != ':') {
		printf("%.*s", (int)n - 1, c->in + 1);
		return 1;
	}
	char id[24], field[32];
	snprintf(id, sizeof id, "%.*s", (int)strcspn(c->in + 1, "\r"), c->in + 1);
	printf("shard %s added; it serves no slot until keel-cli reshard moves some to it\n", id);
	snprintf(field, sizeof field, "shard%s", id);
	for (int i = 0; i < 600; i++) {
		if (conn_call(c, 2, info, &n))
			return 1;
		char *text = bulk_text(c, n), line[512], leader[24], role[24], placed[128];
		if (text && info_field(text, field, line, sizeof line)) {
			kv_field(line, "leader", leader, sizeof leader);
			kv_field(line, "role", role, sizeof role);
			kv_field(line, "placed", placed, sizeof placed);
			if (!strcmp(role, "outside")) { /* this node sends its requests on */
				printf("shard %s placed on nodes %s; this node is not one of "
				       "them\n",
				       id, placed);
				return 0;
			}
			if (strcmp(leader, "0") && strcmp(leader, "-")) {
				printf("shard %s led by node %s\n", id, leader);
				return 0;
			}
		}
		usleep(100000);
	}
	printf("shard %s has no leader here after a minute: keel-cli shard status shows it\n", id);
	return 1;
}

/* The next number of a list ("1,2,3" or "1 2 3") from *p on, into *id;
 * false past the last. */
static bool next_id(const char **p, unsigned long long *id)
{
	for (char *end; **p; (*p)++) {
		*id = strtoull(*p, &end, 10);
		if (end != *p) {
			*p = end;
			return true;
		}
	}
	return false;
}

/* The ids of a list as a bit set of ids below 64 (an id past it: all
 * bits, which no list of INFO matches). */
static uint64_t id_set(const char *list)
{
	uint64_t set = 0;
	unsigned long long id;
	for (const char *p = list; next_id(&p, &id);)
		set |= id < 64 ? 1ull << id : ~0ull;
	return set;
}

/* Whether id is one of the numbers of list. */
static bool id_listed(const char *list, unsigned long long id)
{
	unsigned long long v;
	for (const char *p = list; next_id(&p, &v);)
		if (v == id)
			return true;
	return false;
}

/* keel-cli shard place ID --nodes 1,2,3: KEEL.PLACESHARD (call_again), then INFO
 * shards every 100 ms until the node asked has the shard's new nodes and,
 * if it is one of them, the shard's voters are those nodes (at most two
 * minutes: the new ones take a copy of the shard first); if it is not,
 * once it is outside the shard. */
static int cmd_shard_place(struct conn *c, char *id, const char *nodes)
{
	char *args[NODES_MAX + 2] = {"KEEL.PLACESHARD", id}, list[256],
			       *info[] = {"INFO", "SHARDS"}, *raft[] = {"INFO", "RAFT"}, self[32];
	int argc = split_ids(nodes, list, sizeof list, args, 2);
	size_t n;
	if (conn_call(c, 2, raft, &n))
		return 1;
	char *text = bulk_text(c, n);
	if (!text || !info_field(text, "raft_node_id", self, sizeof self)) {
		printf("the node asked does not say its id (INFO raft)\n");
		return 1;
	}
	bool listed = id_listed(nodes, strtoull(self, NULL, 10));
	if (call_again(c, argc, args, &n))
		return 1;
	if (c->in[0] != '+') {
		printf("%.*s", (int)n - 1, c->in + 1);
		return 1;
	}
	uint64_t want = id_set(nodes);
	char field[32];
	printf("shard %s placed on nodes %s; its leader moves it there\n", id, nodes);
	snprintf(field, sizeof field, "shard%s", id);
	for (int i = 0; i < 1200; i++) {
		if (conn_call(c, 2, info, &n))
			return 1;
		char *text = bulk_text(c, n), line[512], role[24], placed[128], voters[128],
		     learners[128];
		if (text && info_field(text, field, line, sizeof line)) {
			kv_field(line, "role", role, sizeof role);
			kv_field(line, "placed", placed, sizeof placed);
			kv_field(line, "voters", voters, sizeof voters);
			kv_field(line, "learners", learners, sizeof learners);
			if (id_set(placed) == want && !listed && !strcmp(role, "outside")) {
				printf("this node is not one of them: keel-cli shard status on one "
				       "of them shows its members\n");
				return 0;
			}
			if (id_set(placed) == want && id_set(voters) == want && !learners[0]) {
				printf("shard %s's voters are nodes %s\n", id, voters);
				return 0;
			}
		}
		usleep(100000);
	}
	printf("shard %s's members are not yet its nodes after two minutes: keel-cli shard "
	       "status shows where it stands\n",
	       id);
	return 1;
}

/* ---- interactive mode --------------------------------------------------- */

static const struct hint {
	const char *name, *args;
} hints[] = {
	{"append", "key value"},
	{"client", "SETNAME name | GETNAME | ID | LIST | SESSION id"},
	{"config", "GET parameter"},
	{"dbsize", ""},
	{"decr", "key"},
	{"decrby", "key decrement"},
	{"del", "key [key ...]"},
	{"discard", ""},
	{"echo", "message"},
	{"exec", ""},
	{"exists", "key [key ...]"},
	{"expire", "key seconds [NX|XX|GT|LT]"},
	{"expireat", "key unix-time-seconds [NX|XX|GT|LT]"},
	{"flushall", "[ASYNC|SYNC]"},
	{"flushdb", "[ASYNC|SYNC]"},
	{"get", "key"},
	{"getdel", "key"},
	{"getex", "key [EX seconds|PX ms|EXAT unix-time|PXAT unix-time-ms|PERSIST]"},
	{"getrange", "key start end"},
	{"getset", "key value"},
	{"hello", "[protover]"},
	{"incr", "key"},
	{"incrby", "key increment"},
	{"incrbyfloat", "key increment"},
	{"info", "[section]"},
	{"keys", "pattern"},
	{"mget", "key [key ...]"},
	{"mset", "key value [key value ...]"},
	{"msetnx", "key value [key value ...]"},
	{"multi", ""},
	{"persist", "key"},
	{"pexpire", "key milliseconds [NX|XX|GT|LT]"},
	{"pexpireat", "key unix-time-milliseconds [NX|XX|GT|LT]"},
	{"ping", "[message]"},
	{"psetex", "key milliseconds value"},
	{"pttl", "key"},
	{"raft", "STATUS [LEADER] | SNAPSHOT | TRANSFER id | ADD-LEARNER id host:peer-port "
		 "[AUTO] | PROMOTE id | REMOVE id"},
	{"randomkey", ""},
	{"rename", "key newkey"},
	{"renamenx", "key newkey"},
	{"scan", "cursor [MATCH pattern] [COUNT count]"},
	{"set", "key value [NX|XX] [GET] [EX seconds|PX ms|EXAT unix-time|PXAT "
		"unix-time-ms|KEEPTTL]"},
	{"setex", "key seconds value"},
	{"setnx", "key value"},
	{"setrange", "key offset value"},
	{"strlen", "key"},
	{"time", ""},
	{"ttl", "key"},
	{"type", "key"},
	{"unlink", "key [key ...]"},
};
#define N_HINTS (sizeof hints / sizeof hints[0])

/* The arguments still to type, after the first word and a space. */
static const char *hint_for(void *ctx, const char *line)
{
	(void)ctx;
	static char out[256];
	size_t w = strcspn(line, " ");
	if (!line[w] || line[w + 1])
		return NULL; /* only right after "NAME " */
	for (size_t i = 0; i < N_HINTS; i++) {
		if (strlen(hints[i].name) == w && !strncasecmp(hints[i].name, line, w)) {
			snprintf(out, sizeof out, "%s", hints[i].args);
			return out;
		}
	}
	return NULL;
}

static const char *complete_for(void *ctx, const char *prefix, int n)
{
	(void)ctx;
	static char out[64];
	size_t pl = strlen(prefix);
	bool upper = pl && isupper((unsigned char)prefix[0]);
	for (size_t i = 0; i < N_HINTS; i++) {
		if (!strncasecmp(hints[i].name, prefix, pl) && n-- == 0) {
			size_t k = 0;
			for (; hints[i].name[k] && k + 1 < sizeof out; k++)
				out[k] = upper ? (char)toupper((unsigned char)hints[i].name[k])
					       : hints[i].name[k];
			out[k] = 0;
			return out;
		}
	}
	return NULL;
}

/* One character after a backslash inside "...": *p is past the
 * backslash; moves it past the escape. */
static char unescape(char **p)
{
	char ch = *(*p)++;
	if (ch == 'n')
		return '\n';
	if (ch == 'r')
		return '\r';
	if (ch == 't')
		return '\t';
	if (ch == 'x' && isxdigit((unsigned char)(*p)[0]) && isxdigit((unsigned char)(*p)[1])) {
		char hex[3] = {(*p)[0], (*p)[1], 0};
		*p += 2;
		return (char)strtol(hex, NULL, 16);
	}
	return ch;
}

/* Splits a line into words: spaces separate, "..." (with \n \r \t \" \\
 * \xHH) and '...' quote. Returns the count, or -1 for unbalanced quotes. */
static int split(char *line, char **argv, int max)
{
	int argc = 0;
	char *p = line, *o;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return argc;
		if (argc == max)
			return -1;
		argv[argc++] = o = p;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p != '"' && *p != '\'') {
				*o++ = *p++;
				continue;
			}
			char q = *p++;
			while (*p && *p != q) {
				if (q == '"' && *p == '\\' && p[1]) {
					p++;
					*o++ = unescape(&p);
				} else {
					*o++ = *p++;
				}
			}
			if (*p != q)
				return -1;
			p++;
		}
		if (*p)
			p++;
		*o = 0;
	}
}

static int interactive(struct conn *c, bool raw)
{
	char path[4096] = "";
	const char *home = getenv("HOME");
	if (home)
		snprintf(path, sizeof path, "%s/.keelcli_history", home);
	struct lineedit_cb cb = {NULL, hint_for, complete_for};
	struct lineedit *le = lineedit_new(&cb, path[0] ? path : NULL);
	char prompt[128];
	snprintf(prompt, sizeof prompt, "%s:%d> ", c->host, c->port);
	char *line;
	while ((line = lineedit_read(le, prompt))) {
		char *argv[256];
		char *copy = strdup(line);
		int argc = split(copy, argv, 256);
		if (argc < 0)
			printf("Invalid argument(s)\n");
		else if (argc > 0) {
			lineedit_history_add(le, line);
			if (!strcasecmp(argv[0], "quit") || !strcasecmp(argv[0], "exit")) {
				free(copy);
				free(line);
				break;
			}
			run(c, argc, argv, raw);
		}
		free(copy);
		free(line);
		fflush(stdout);
	}
	lineedit_free(le);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: keel-cli [-h host] [-p port] [--raw] [command]\n"
		"  status                          the cluster at a glance (the leader's view)\n"
		"  shard status                    the shards: slots, leaders, keys\n"
		"  shard add [--nodes 1,2,3]       add a shard (on those voters; none: every "
		"node)\n"
		"  shard place ID --nodes 1,2,3    put a shard (not 0) on those voters only\n"
		"  reshard --slots A-B --to G      move slots A..B (all of one shard) to shard G,\n"
		"                                  online; waits until it is done\n"
		"  add ID HOST:PEER-PORT [--auto]  add a learner (--auto: promote it once caught "
		"up)\n"
		"  promote ID                      make a learner a voter\n"
		"  remove ID                       take a member out of the cluster\n"
		"  transfer ID                     hand leadership to a voter\n"
		"  snapshot                        take a snapshot on the node addressed\n"
		"  COMMAND ARG...                  any other command, as redis-cli sends it\n"
		"  (nothing)                       an interactive prompt\n");
}

int main(int argc, char **argv)
{
	struct conn c = {.host = "127.0.0.1", .port = 7001, .fd = -1};
	bool raw = !isatty(STDOUT_FILENO);
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") && i + 1 < argc)
			c.host = argv[++i];
		else if (!strcmp(argv[i], "-p") && i + 1 < argc)
			c.port = (int)strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--raw"))
			raw = true;
		else if (!strcmp(argv[i], "--no-raw"))
			raw = false;
		else {
			usage();
			return 2;
		}
	}
	if (c.port <= 0 || c.port > 65535) {
		usage();
		return 2;
	}
	int rest = argc - i;
	char **words = argv + i;
	if (conn_open(&c))
		return 1;
	int rc;
	if (rest == 0) {
		rc = interactive(&c, raw);
	} else if (!strcmp(words[0], "status") && rest == 1) {
		rc = cmd_status(&c);
	} else if (!strcmp(words[0], "shard") && rest == 2 && !strcmp(words[1], "status")) {
		rc = cmd_shard_status(&c);
	} else if (!strcmp(words[0], "shard") && !strcmp(words[1], "add") &&
		   (rest == 2 || (rest == 4 && !strcmp(words[2], "--nodes")))) {
		rc = cmd_shard_add(&c, rest == 4 ? words[3] : NULL);
	} else if (!strcmp(words[0], "shard") && rest == 5 && !strcmp(words[1], "place") &&
		   !strcmp(words[3], "--nodes")) {
		rc = cmd_shard_place(&c, words[2], words[4]);
	} else if (!strcmp(words[0], "reshard") && rest == 5 && !strcmp(words[1], "--slots") &&
		   !strcmp(words[3], "--to")) {
		rc = cmd_reshard(&c, words[2], words[4]);
	} else if (!strcmp(words[0], "add") &&
		   (rest == 3 || (rest == 4 && !strcmp(words[3], "--auto")))) {
		char *a[] = {"RAFT", "ADD-LEARNER", words[1], words[2], "AUTO"};
		rc = run_change(&c, rest == 4 ? 5 : 4, a, raw);
	} else if ((!strcmp(words[0], "promote") || !strcmp(words[0], "remove") ||
		    !strcmp(words[0], "transfer")) &&
		   rest == 2) {
		char *a[] = {"RAFT", words[0], words[1]};
		rc = run_change(&c, 3, a, raw);
	} else if (!strcmp(words[0], "snapshot") && rest == 1) {
		char *a[] = {"RAFT", "SNAPSHOT"};
		rc = run(&c, 2, a, raw);
	} else if (!strcmp(words[0], "help") || !strcmp(words[0], "--help")) {
		usage();
		rc = 0;
	} else {
		rc = run(&c, rest, words, raw);
	}
	if (c.fd >= 0)
		close(c.fd);
	free(c.in);
	return rc ? 1 : 0;
}
