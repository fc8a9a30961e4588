/* server/config.c — the command line and the config file of keel-server
 * (SPEC.md §4). A config file holds the same settings as the flags, one
 * "name value" per line ('#' starts a comment); flags after --config
 * override it. */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "server/server.h"

static int set_cluster(struct server_config *c, const char *v, struct keel_errmsg *err)
{
	/* id@host:port,id@host:port,... */
	char buf[2048];
	snprintf(buf, sizeof buf, "%s", v);
	memset(&c->cluster, 0, sizeof c->cluster);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *at = strchr(tok, '@');
		if (!at || c->cluster.n == RAFT_MEMBERS_MAX) {
			keel_errmsg_set(err, "--cluster: expected id@host:port, got '%s'", tok);
			return KEEL_EINVAL;
		}
		*at = 0;
		struct raft_member *m = &c->cluster.members[c->cluster.n++];
		int64_t id;
		m->id = resp_str2ll((const uint8_t *)tok, strlen(tok), &id) && id > 0 ? (raft_id)id
										      : 0;
		m->role = RAFT_VOTER;
		snprintf(m->addr, sizeof m->addr, "%s", at + 1);
		if (!m->id || !strchr(m->addr, ':')) {
			keel_errmsg_set(err, "--cluster: bad member '%s@%s'", tok, at + 1);
			return KEEL_EINVAL;
		}
	}
	c->has_cluster = c->cluster.n > 0;
	return KEEL_OK;
}

/* host:port[,host:port...], IPv4 addresses: the sources, tried in turn. */
static int set_replica_of(struct server_config *c, const char *v, struct keel_errmsg *err)
{
	char buf[sizeof c->replica_of];
	uint32_t n = 0;
	bool ok = strlen(v) < sizeof buf;
	snprintf(buf, sizeof buf, "%s", v);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); ok && tok;
	     tok = strtok_r(NULL, ",", &save), n++) {
		struct sockaddr_in a;
		ok = n < REPL_SOURCES_MAX && repl_parse_addr(tok, &a);
	}
	if (!ok || !n) {
		keel_errmsg_set(err,
				"--replica-of: expected up to %d IPv4 host:port addresses, "
				"comma-separated; got '%s'",
				REPL_SOURCES_MAX, v);
		return KEEL_EINVAL;
	}
	snprintf(c->replica_of, sizeof c->replica_of, "%s", v);
	return KEEL_OK;
}

/* --join host:port: a member's IPv4 address and client port. */
static int set_join(struct server_config *c, const char *v, struct keel_errmsg *err)
{
	struct sockaddr_in a;
	if (strlen(v) >= sizeof c->join || !repl_parse_addr(v, &a)) {
		keel_errmsg_set(err, "--join: expected a member's IPv4 host:port, got '%s'", v);
		return KEEL_EINVAL;
	}
	snprintf(c->join, sizeof c->join, "%s", v);
	return KEEL_OK;
}

/* databases N: 1 .. KV_DBS_MAX, as a plain decimal number. */
static int set_databases(struct server_config *c, const char *v, struct keel_errmsg *err)
{
	int64_t n;
	if (!resp_str2ll((const uint8_t *)v, strlen(v), &n) || n < 1 || n > KV_DBS_MAX) {
		keel_errmsg_set(err, "--databases: a number from 1 to %d, got '%s'", KV_DBS_MAX, v);
		return KEEL_EINVAL;
	}
	c->databases = (uint32_t)n;
	return KEEL_OK;
}

/* reshard-piece-kb N: 0 .. SERVER_PIECE_KB_MAX KiB of keys a piece of a
 * move copies (server/migrate.c), as a plain decimal number. */
static int set_piece(struct server_config *c, const char *v, struct keel_errmsg *err)
{
	int64_t n;
	if (!resp_str2ll((const uint8_t *)v, strlen(v), &n) || n < 0 || n > SERVER_PIECE_KB_MAX) {
		keel_errmsg_set(err, "--reshard-piece-kb: a number from 0 to %d, got '%s'",
				SERVER_PIECE_KB_MAX, v);
		return KEEL_EINVAL;
	}
	c->piece_bytes = (uint64_t)n << 10;
	return KEEL_OK;
}

/* shards N: 1 .. SERVER_SHARDS_MAX Raft groups, as a plain decimal number. */
static int set_shards(struct server_config *c, const char *v, struct keel_errmsg *err)
{
	int64_t n;
	if (!resp_str2ll((const uint8_t *)v, strlen(v), &n) || n < 1 || n > SERVER_SHARDS_MAX) {
		keel_errmsg_set(err, "--shards: a number from 1 to %d, got '%s'", SERVER_SHARDS_MAX,
				v);
		return KEEL_EINVAL;
	}
	c->shards = (uint32_t)n;
	return KEEL_OK;
}

/* session-timeout-ms N (0: never; else longer than the request timeout,
 * checked once all settings are read) and session-max-mb N (0: no bound),
 * plain decimal numbers. */
static int set_sessions(struct server_config *c, const char *name, const char *v,
			struct keel_errmsg *err)
{
	int64_t n;
	bool ms = !strcmp(name, "session-timeout-ms");
	int64_t max = ms ? 100ll * 365 * 24 * 3600 * 1000 : 1ll << 30; /* a century; 1 PiB */
	if (!resp_str2ll((const uint8_t *)v, strlen(v), &n) || n < 0 || n > max) {
		keel_errmsg_set(err, "--%s: a number from 0 to %lld, got '%s'", name,
				(long long)max, v);
		return KEEL_EINVAL;
	}
	if (ms)
		c->session_timeout_ms = (uint64_t)n;
	else
		c->session_max_bytes = (uint64_t)n << 20;
	return KEEL_OK;
}

/* A token of printable characters, shorter than max: a name or a host. */
static bool token_ok(const char *v, size_t max)
{
	size_t n = strlen(v);
	for (size_t i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] > '~')
			return false;
	return n > 0 && n < max;
}

/* The Sentinel settings (server/sentinel.c). */
static int set_sentinel(struct server_config *c, const char *name, const char *v,
			struct keel_errmsg *err)
{
	char *end = NULL;
	if (!strcmp(name, "sentinel-master-name")) {
		if (!token_ok(v, sizeof c->sentinel_master)) {
			keel_errmsg_set(err, "--sentinel-master-name: 1 to 63 printable "
					     "characters, no spaces");
			return KEEL_EINVAL;
		}
		snprintf(c->sentinel_master, sizeof c->sentinel_master, "%s", v);
		return KEEL_OK;
	}
	if (!strcmp(name, "sentinel-port")) {
		long p = strtol(v, &end, 10);
		if (*end || end == v || p < 0 || p > 65535) {
			keel_errmsg_set(err, "--sentinel-port: a port, 1 to 65535 (0: none)");
			return KEEL_EINVAL;
		}
		c->sentinel_port = (int)p;
		return KEEL_OK;
	}
	const char *colon = strrchr(v, ':');
	long p = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || colon == v || *end || end == colon + 1 || p < 1 || p > 65535 ||
	    !token_ok(v, sizeof c->client_announce)) {
		keel_errmsg_set(err, "--client-announce: host:port, the port 1 to 65535");
		return KEEL_EINVAL;
	}
	snprintf(c->client_announce, sizeof c->client_announce, "%s", v);
	return KEEL_OK;
}

#define SETTING_MS_MAX	    86400000u	     /* a day */
#define SETTING_ENTRIES_MAX 1000000000000ull /* entries of a log */

/* A setting's number: a plain decimal from min to max (none past 2^63-1),
 * times 2^shift (max << shift fits). */
static int set_num(uint64_t *to, const char *name, const char *v, uint64_t min, uint64_t max,
		   unsigned shift, struct keel_errmsg *err)
{
	int64_t n;
	if (!resp_str2ll((const uint8_t *)v, strlen(v), &n) || n < 0 || (uint64_t)n < min ||
	    (uint64_t)n > max) {
		keel_errmsg_set(err, "--%s: a whole number, %llu to %llu, got '%s'", name,
				(unsigned long long)min, (unsigned long long)max, v);
		return KEEL_EINVAL;
	}
	*to = (uint64_t)n << shift;
	return KEEL_OK;
}

/* A port: 1 .. 65535, as a plain decimal number. */
static int set_port(int *port, const char *name, const char *v, struct keel_errmsg *err)
{
	int64_t p;
	if (!resp_str2ll((const uint8_t *)v, strlen(v), &p) || p < 1 || p > 65535) {
		keel_errmsg_set(err, "--%s: a port, 1 to 65535, got '%s'", name, v);
		return KEEL_EINVAL;
	}
	*port = (int)p;
	return KEEL_OK;
}

/* Redis's memory units: a count of bytes, or with k/m/g (1000s) or
 * kb/mb/gb (1024s), case-insensitive; false past 2^63 or if malformed. */
static bool mem_bytes(const char *v, uint64_t *out)
{
	char *end = NULL;
	if (*v < '0' || *v > '9')
		return false;
	unsigned long long n = strtoull(v, &end, 10);
	static const struct {
		const char *unit;
		uint64_t mul;
	} units[] = {{"", 1},		{"b", 1},	 {"k", 1000},
		     {"kb", 1024},	{"m", 1000000},	 {"mb", 1024 * 1024},
		     {"g", 1000000000}, {"gb", 1u << 30}};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcasecmp(end, units[i].unit))
			continue;
		if (n > (uint64_t)INT64_MAX / units[i].mul)
			return false;
		*out = n * units[i].mul;
		return true;
	}
	return false;
}

/* client-query-buffer-limit: what one client's unexecuted input may hold
 * (the request being received, whole, and the commands queued in MULTI);
 * at least 1 MiB, as Redis requires. */
static int set_query_limit(struct server_config *c, const char *v, struct keel_errmsg *err)
{
	uint64_t n;
	if (!mem_bytes(v, &n) || n < (1u << 20)) {
		keel_errmsg_set(err, "--client-query-buffer-limit: bytes (units k, kb, m, mb, g, "
				     "gb), at least 1mb");
		return KEEL_EINVAL;
	}
	c->client_query_max = n;
	return KEEL_OK;
}

/* tick-ms, heartbeat-ms, election-timeout-ms: a plain decimal number of
 * milliseconds, 1 to SERVER_ELECTION_MS_MAX; how they relate is checked
 * once every setting is read (check_timing). */
static int set_ms(uint32_t *to, const char *name, const char *v, struct keel_errmsg *err)
{
	int64_t n;
	if (!resp_str2ll((const uint8_t *)v, strlen(v), &n) || n < 1 ||
	    n > SERVER_ELECTION_MS_MAX) {
		keel_errmsg_set(err, "--%s: milliseconds, 1 to %d, got '%s'", name,
				SERVER_ELECTION_MS_MAX, v);
		return KEEL_EINVAL;
	}
	*to = (uint32_t)n;
	return KEEL_OK;
}

/* As etcd checks its own: the heartbeat at most a fifth of the election
 * timeout (a follower must hear several before it gives up on a leader),
 * the tick no longer than the heartbeat. */
static int check_timing(const struct server_config *c, struct keel_errmsg *err)
{
	if (c->tick_ms > SERVER_TICK_MS_MAX) {
		keel_errmsg_set(err, "--tick-ms: at most %d", SERVER_TICK_MS_MAX);
		return KEEL_EINVAL;
	}
	if ((uint64_t)c->heartbeat_ms * SERVER_ELECTION_HEARTBEATS_MIN > c->election_timeout_ms) {
		keel_errmsg_set(err,
				"--heartbeat-ms (%u) must be at most a fifth of "
				"--election-timeout-ms (%u)",
				c->heartbeat_ms, c->election_timeout_ms);
		return KEEL_EINVAL;
	}
	if (c->tick_ms > c->heartbeat_ms) {
		keel_errmsg_set(err, "--tick-ms (%u) must not be longer than --heartbeat-ms (%u)",
				c->tick_ms, c->heartbeat_ms);
		return KEEL_EINVAL;
	}
	return KEEL_OK;
}

void server_config_timing(const struct server_config *c, struct raft_options *o)
{
	/* check_timing made tick <= heartbeat <= election / 5, so these are
	 * at least 1 and 5 heartbeats apart, as the core wants. */
	o->heartbeat_ticks = c->heartbeat_ms / c->tick_ms;
	o->election_ticks_min = c->election_timeout_ms / c->tick_ms;
	o->election_ticks_max = 2 * o->election_ticks_min; /* drawn from [1x, 2x) */
}

static int set(struct server_config *c, const char *name, const char *v, struct keel_errmsg *err)
{
	if (!strcmp(name, "sentinel-master-name") || !strcmp(name, "sentinel-port") ||
	    !strcmp(name, "client-announce"))
		return set_sentinel(c, name, v, err);
	uint64_t n;
	int rc;
	if (!strcmp(name, "id"))
		return set_num(&c->id, name, v, 1, INT64_MAX, 0, err);
	else if (!strcmp(name, "bind"))
		snprintf(c->bind, sizeof c->bind, "%s", v);
	else if (!strcmp(name, "client-bind")) {
		char buf[512];
		snprintf(buf, sizeof buf, "%s", v);
		c->n_client_bind = 0;
		for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			if (c->n_client_bind == 4) {
				keel_errmsg_set(err, "--client-bind: at most 4 addresses");
				return KEEL_EINVAL;
			}
			snprintf(c->client_bind[c->n_client_bind++], sizeof c->client_bind[0], "%s",
				 tok);
		}
	} else if (!strcmp(name, "port"))
		return set_port(&c->port, name, v, err);
	else if (!strcmp(name, "peer-port"))
		return set_port(&c->peer_port, name, v, err);
	else if (!strcmp(name, "dir"))
		snprintf(c->dir, sizeof c->dir, "%s", v);
	else if (!strcmp(name, "cluster"))
		return set_cluster(c, v, err);
	else if (!strcmp(name, "tick-ms"))
		return set_ms(&c->tick_ms, name, v, err);
	else if (!strcmp(name, "heartbeat-ms"))
		return set_ms(&c->heartbeat_ms, name, v, err);
	else if (!strcmp(name, "election-timeout-ms"))
		return set_ms(&c->election_timeout_ms, name, v, err);
	else if (!strcmp(name, "request-timeout-ms")) {
		if ((rc = set_num(&n, name, v, 1, SETTING_MS_MAX, 0, err)))
			return rc;
		c->request_timeout_ms = (uint32_t)n;
	} else if (!strcmp(name, "snapshot-entries"))
		return set_num(&c->snapshot_entries, name, v, 0, SETTING_ENTRIES_MAX, 0, err);
	else if (!strcmp(name, "trailing-entries")) {
		c->has_trailing = true;
		return set_num(&c->trailing_entries, name, v, 0, SETTING_ENTRIES_MAX, 0, err);
	} else if (!strcmp(name, "client-query-buffer-limit")) {
		return set_query_limit(c, v, err);
	} else if (!strcmp(name, "client-output-mb")) {
		return set_num(&c->client_output_max, name, v, 1, 1u << 20, 20, err);
	} else if (!strcmp(name, "segment-mb"))
		return set_num(&c->segment_bytes, name, v, 1, 4096, 20, err);
	else if (!strcmp(name, "join"))
		return set_join(c, v, err);
	else if (!strcmp(name, "replica-of"))
		return set_replica_of(c, v, err);
	else if (!strcmp(name, "replica-compress")) {
		if (strcmp(v, "yes") && strcmp(v, "no")) {
			keel_errmsg_set(err, "--replica-compress: yes or no");
			return KEEL_EINVAL;
		}
		c->replica_zstd = !strcmp(v, "yes");
	} else if (!strcmp(name, "replica-max-lag")) {
		return set_num(&c->replica_max_lag, name, v, 0, SETTING_ENTRIES_MAX, 0, err);
	} else if (!strcmp(name, "databases")) {
		return set_databases(c, v, err);
	} else if (!strcmp(name, "shards")) {
		return set_shards(c, v, err);
	} else if (!strcmp(name, "reshard-piece-kb")) {
		return set_piece(c, v, err);
	} else if (!strcmp(name, "skip-entry")) {
		/* checked at start: server/poison.c */
		return set_num(&c->skip_entry, name, v, 1, INT64_MAX, 0, err);
	} else if (!strcmp(name, "session-timeout-ms") || !strcmp(name, "session-max-mb")) {
		return set_sessions(c, name, v, err);
	} else {
		keel_errmsg_set(err, "unknown setting '%s'", name);
		return KEEL_EINVAL;
	}
	return KEEL_OK;
}

static int load_file(struct server_config *c, const char *path, struct keel_errmsg *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		keel_errmsg_set(err, "cannot read config file %s", path);
		return KEEL_ENOENT;
	}
	char line[2048];
	int rc = KEEL_OK, n = 0;
	while (!rc && fgets(line, sizeof line, f)) {
		n++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char name[64], value[1900];
		if (sscanf(line, " %63s %1899s", name, value) == 2)
			rc = set(c, name, value, err);
		else if (sscanf(line, " %63s", name) == 1)
			rc = (keel_errmsg_set(err, "setting '%s' has no value", name), KEEL_EINVAL);
		if (rc)
			keel_errmsg_wrap(err, "%s:%d", path, n);
	}
	fclose(f);
	return rc;
}

int server_config_parse(struct server_config *c, int argc, char **argv, struct keel_errmsg *err)
{
	memset(c, 0, sizeof *c);
	snprintf(c->bind, sizeof c->bind, "127.0.0.1");
	c->port = 7001;
	c->tick_ms = 10;
	c->election_timeout_ms = SERVER_ELECTION_MS_DEFAULT;
	c->heartbeat_ms = SERVER_HEARTBEAT_MS_DEFAULT;
	c->request_timeout_ms = 5000;
	c->client_output_max = 256ull << 20;
	c->client_query_max = 1ull << 30;
	c->replica_zstd = true;
	c->replica_max_lag = 100000;
	c->databases = KV_DBS_DEFAULT;
	c->shards = 1;
	c->piece_bytes = (uint64_t)SERVER_PIECE_KB_DEFAULT << 10;
	c->session_timeout_ms = 3600 * 1000; /* an hour */
	c->session_max_bytes = 1ull << 30;
	snprintf(c->sentinel_master, sizeof c->sentinel_master, "keel");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--verbose")) {
			c->verbose = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
			keel_errmsg_set(err, "expected --name value, got '%s'", a);
			return KEEL_EINVAL;
		}
		int rc = !strcmp(a, "--config") ? load_file(c, argv[i + 1], err)
						: set(c, a + 2, argv[i + 1], err);
		if (rc)
			return rc;
		i++;
	}
	/* a read replica is not a member: it needs no id (its source knows
	 * it by its client address, server/replication.c) */
	if (!c->id && !c->replica_of[0]) {
		keel_errmsg_set(err, "--id is required (a node id, 1 or more; a read replica, "
				     "--replica-of, needs none)");
		return KEEL_EINVAL;
	}
	if (!c->peer_port && c->port > 65535 - 10000) {
		keel_errmsg_set(err, "--port %d: port + 10000 is past 65535; give --peer-port",
				c->port);
		return KEEL_EINVAL;
	}
	int rc = check_timing(c, err);
	if (rc)
		return rc;
	if (!c->peer_port)
		c->peer_port = c->port + 10000;
	if (!c->dir[0] && c->id)
		snprintf(c->dir, sizeof c->dir, "data/%llu", (unsigned long long)c->id);
	else if (!c->dir[0])
		snprintf(c->dir, sizeof c->dir, "data/replica-%d", c->port);
	if (c->replica_of[0] && (c->has_cluster || c->join[0])) {
		keel_errmsg_set(err, "--replica-of: a read replica is not a Raft member; it "
				     "takes neither --cluster nor --join");
		return KEEL_EINVAL;
	}
	if (c->session_timeout_ms && c->session_timeout_ms <= c->request_timeout_ms) {
		keel_errmsg_set(err,
				"--session-timeout-ms %llu: longer than --request-timeout-ms (%u) "
				"or 0 (never): a write may be sent again until it times out, and "
				"its session must outlive that",
				(unsigned long long)c->session_timeout_ms, c->request_timeout_ms);
		return KEEL_EINVAL;
	}
	if (c->sentinel_port && c->sentinel_port == c->port) {
		keel_errmsg_set(err, "--sentinel-port: the client port already answers the "
				     "Sentinel commands; give another port or none");
		return KEEL_EINVAL;
	}
	if (c->has_cluster && !raft_config_find(&c->cluster, c->id)) {
		keel_errmsg_set(err, "--cluster does not name this node (--id %llu)",
				(unsigned long long)c->id);
		return KEEL_EINVAL;
	}
	return KEEL_OK;
}
