/* server/commands.c — the commands a node answers itself rather than the
 * state machine: MULTI EXEC DISCARD, HELLO AUTH QUIT RESET, INFO, CONFIG
 * GET, TIME, and RAFT STATUS / TRANSFER / SNAPSHOT; CLIENT and COMMAND are
 * passed on to cmd_client.c and cmd_command.c. INFO's raft section has
 * the fields SPEC.md §4 names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/assert.h"
#include "base/mem.h"
#include "resp/encode.h"
#include "server/entry.h"
#include "server/server.h"

static bool is(const struct resp_arg *a, const char *s)
{
	return a->len == strlen(s) && !strncasecmp((const char *)a->p, s, a->len);
}

/* INFO raft's role: the first shard's, but "removed" only once the node
 * is a member of no group (then it may be stopped: members.c). The core's
 * own "removed" (its newest configuration, perhaps not committed, lacks
 * this node) is not that: after a restart a node's first group may say
 * so while the node has not yet learned its removal, nor opened a shard
 * it still holds a seat of; stopped then, that shard could lose its
 * quorum for good. It is "leaving" until the node knows. */
static const char *role_name(struct server *s)
{
	if (s->g->removed_at && !members_seated(s))
		return "removed";
	if (s->g->removed_at)
		return "leaving";
	if (!s->g->r || raft_stopped(s->g->r))
		return "stopped";
	const char *role = raft_role_name(s->g->r);
	return strcmp(role, "removed") ? role : "leaving";
}

static void info_raft(struct server *s, struct rbuf *o)
{
	char line[256];
	struct raft *r = s->g->r;
	snprintf(line, sizeof line,
		 "# Raft\r\nraft_role:%s\r\nraft_node_id:%llu\r\nraft_term:%llu\r\n"
		 "raft_leader_id:%llu\r\nraft_commit_index:%llu\r\nraft_applied_index:%llu\r\n"
		 "raft_last_index:%llu\r\n",
		 role_name(s), (unsigned long long)s->cfg.id,
		 (unsigned long long)raft_current_term(r), (unsigned long long)raft_leader_of(r),
		 (unsigned long long)raft_commit_index(r),
		 (unsigned long long)raft_applied_index(r), (unsigned long long)raft_last_index(r));
	rbuf_puts(o, line);
	snprintf(line, sizeof line,
		 "raft_election_timeout_ms:%u\r\nraft_heartbeat_ms:%u\r\n"
		 "raft_loop_stalls:%llu\r\nraft_loop_stall_max_ms:%llu\r\n",
		 s->cfg.election_timeout_ms, s->cfg.heartbeat_ms,
		 (unsigned long long)s->stats.loop_stalls,
		 (unsigned long long)s->stats.loop_stall_max_ms);
	rbuf_puts(o, line);
	const struct raft_config *c = raft_config_of(r);
	for (uint32_t i = 0; i < c->n; i++) {
		const struct raft_member *m = &c->members[i];
		raft_index match = 0, next = 0;
		bool self = m->id == s->cfg.id;
		bool known = raft_progress_of(r, m->id, &match, &next);
		if (self)
			match = raft_last_index(r);
		int64_t heard = server_last_heard(s->g, m->id);
		snprintf(line, sizeof line,
			 "raft_member_%llu:role=%s,addr=%s,match_index=%s%llu,lag=%lld,"
			 "last_contact_ms=%lld\r\n",
			 (unsigned long long)m->id, m->role == RAFT_VOTER ? "voter" : "learner",
			 m->addr, known || self ? "" : "unknown:", (unsigned long long)match,
			 known || self ? (long long)(raft_last_index(r) - match) : -1LL,
			 self	 ? 0LL
			 : heard ? (long long)(server_now_ms() - heard)
				 : -1LL);
		rbuf_puts(o, line);
	}
}

/* One group's line of INFO shards. */
static void info_group(struct server *s, const struct group *g, struct rbuf *o)
{
	char line[256];
	const struct raft *r = g->r;
	snprintf(line, sizeof line,
		 "role=%s,leader=%llu,term=%llu,commit_index=%llu,applied_index=%llu",
		 !r		   ? "replica"
		 : raft_stopped(r) ? "stopped"
		 : g->outside	   ? "outside"
				   : raft_role_name(r),
		 (unsigned long long)(g->outside ? g->lead_hint
				      : r	 ? raft_leader_of(r)
						 : 0),
		 (unsigned long long)(r ? raft_current_term(r) : 0),
		 (unsigned long long)(r ? raft_commit_index(r) : 0),
		 (unsigned long long)(r ? raft_applied_index(r) : g->replica->applied));
	rbuf_puts(o, line);
	(void)s;
	if (!r)
		return;
	/* its members by role, ids apart by spaces (a sharded cluster's
	 * membership changes reach each group in turn: server/conform.c);
	 * none on a node outside it (a copy it kept when taken off it names
	 * members of then) */
	const struct raft_config *c = raft_config_of(r);
	uint32_t n = g->outside ? 0 : c->n;
	for (int role = RAFT_VOTER; role <= RAFT_LEARNER; role++) {
		rbuf_puts(o, role == RAFT_VOTER ? ",voters=" : ",learners=");
		const char *sep = "";
		for (uint32_t i = 0; i < n; i++) {
			if (c->members[i].role != role)
				continue;
			snprintf(line, sizeof line, "%s%llu", sep,
				 (unsigned long long)c->members[i].id);
			rbuf_puts(o, line);
			sep = " ";
		}
	}
}

/* INFO shards: the node's groups, a line each, as this node sees them
 * (a read replica has no core: its one group's role is "replica"), and
 * the metadata group's: the slot map's version, a migration under way. */
static void info_shards(struct server *s, struct rbuf *o)
{
	char line[256];
	snprintf(line, sizeof line, "# Shards\r\nkeel_shards:%u\r\n", s->n_shards);
	rbuf_puts(o, line);
	for (uint32_t i = 0; i < s->n_shards; i++) {
		struct group *g = s->groups[i];
		snprintf(line, sizeof line, "shard%u:slots=", g->id);
		rbuf_puts(o, line);
		cluster_slots_text(s, g, o);
		rbuf_puts(o, ",");
		info_group(s, g, o);
		for (uint32_t k = 0; k < g->n_placed; k++) { /* on some nodes: which */
			snprintf(line, sizeof line, "%s%llu",
				 k ? " " : ",placed=", (unsigned long long)g->placed[k]);
			rbuf_puts(o, line);
		}
		snprintf(line, sizeof line, ",keys=%llu,quiet=%d\r\n",
			 (unsigned long long)kv_keys_total(&g->kv), g->quiet);
		rbuf_puts(o, line);
	}
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	if (sl) {
		rbuf_puts(o, "meta:");
		info_group(s, s->meta, o);
		snprintf(line, sizeof line, ",map_version=%llu\r\n",
			 (unsigned long long)sl->version);
		rbuf_puts(o, line);
		if (sl->moving)
			snprintf(line, sizeof line,
				 "migration:slots=%u-%u,from=%u,to=%u,phase=%s\r\n", sl->first,
				 sl->last, sl->from, sl->to, migrate_phase(s));
		else
			snprintf(line, sizeof line, "migration:none\r\n");
		rbuf_puts(o, line);
	}
	rbuf_puts(o, "\r\n");
}

/* The storage thread's passes (storage/committer.h), in INFO persistence. */
static void info_storage(struct server *s, struct rbuf *o)
{
	if (!s->com)
		return;
	char line[256];
	struct committer_stats cs;
	committer_stats(s->com, &cs);
	snprintf(line, sizeof line,
		 "keel_storage_passes:%llu\r\nkeel_storage_syncs:%llu\r\n"
		 "keel_journal_records:%llu\r\nkeel_journal_checkpoints:%llu\r\n",
		 (unsigned long long)cs.groups, (unsigned long long)cs.syncs,
		 (unsigned long long)cs.journaled, (unsigned long long)cs.checkpoints);
	rbuf_puts(o, line);
}

void server_info(struct server *s, const char *section, struct rbuf *o)
{
	bool all = !section || !strcasecmp(section, "all") || !strcasecmp(section, "everything") ||
		   !strcasecmp(section, "default");
	char line[1024];
	int64_t now = server_now_ms();
	if (all || !strcasecmp(section, "server")) {
		snprintf(
			line, sizeof line,
			"# Server\r\nredis_version:7.0.0\r\nkeel_version:0.1\r\nredis_mode:keel\r\n"
			"process_id:%d\r\ntcp_port:%d\r\nuptime_in_seconds:%lld\r\n\r\n",
			(int)uv_os_getpid(), s->cfg.port,
			(long long)((now - s->started_ms) / 1000));
		rbuf_puts(o, line);
	}
	if (all || !strcasecmp(section, "clients")) {
		snprintf(line, sizeof line, "# Clients\r\nconnected_clients:%u\r\n\r\n",
			 s->n_clients);
		rbuf_puts(o, line);
	}
	if (all || !strcasecmp(section, "memory")) {
		size_t rss = 0;
		uint64_t keys = 0;
		uv_resident_set_memory(&rss);
		for (uint32_t i = 0; i < s->n_shards; i++)
			keys += kv_keys_total(&s->groups[i]->kv);
		snprintf(line, sizeof line,
			 "# Memory\r\nused_memory_rss:%zu\r\nkeel_keys:%llu\r\n"
			 "keel_sessions:%llu\r\nkeel_session_bytes:%llu\r\n\r\n",
			 rss, (unsigned long long)keys,
			 (unsigned long long)kv_dict_size(&s->g->kv.sessions),
			 (unsigned long long)s->g->kv.sess_bytes);
		rbuf_puts(o, line);
	}
	if (all || !strcasecmp(section, "replication"))
		replication_info(s, o);
	if (all || !strcasecmp(section, "stats")) {
		snprintf(line, sizeof line,
			 "# Stats\r\ntotal_commands_processed:%llu\r\nkeel_writes:%llu\r\n"
			 "keel_reads:%llu\r\nkeel_forwarded:%llu\r\nkeel_applied_entries:%"
			 "llu\r\nkeel_skipped_entries:%llu\r\n",
			 (unsigned long long)s->stats.commands, (unsigned long long)s->stats.writes,
			 (unsigned long long)s->stats.reads, (unsigned long long)s->stats.forwarded,
			 (unsigned long long)s->stats.applied_entries,
			 (unsigned long long)s->stats.skipped_entries);
		rbuf_puts(o, line);
		snprintf(line, sizeof line,
			 "keel_moving_slot_retries:%llu\r\nkeel_moving_slot_tryagain:%llu\r\n\r\n",
			 (unsigned long long)s->stats.slot_retries,
			 (unsigned long long)s->stats.slot_gave_up);
		rbuf_puts(o, line);
	}
	if (all || !strcasecmp(section, "persistence")) {
		snprintf(line, sizeof line,
			 "# Persistence\r\nkeel_snapshot_index:%llu\r\nkeel_snapshot_bytes:%llu\r\n"
			 "keel_log_first:%llu\r\nkeel_snapshot_in_progress:%d\r\n"
			 "keel_snapshots_taken:%llu\r\nkeel_snapshot_last_fork_to_file_ms:%llu\r\n"
			 "keel_snapshot_last_total_ms:%llu\r\nkeel_snapshot_last_fork_us:%llu\r\n"
			 "keel_snapshots_installed:%llu\r\n"
			 "keel_snapshot_bytes_received:%llu\r\nkeel_snapshot_restarts:%llu\r\n",
			 (unsigned long long)(s->g->have_snap ? s->g->snap.index : 0),
			 (unsigned long long)(s->g->have_snap ? s->g->snap.size : 0),
			 (unsigned long long)(s->g->r ? raft_first_index(s->g->r)
						      : s->g->replica->win_first),
			 snapshots_busy(s->g) ? 1 : 0, (unsigned long long)s->stats.snapshots_taken,
			 (unsigned long long)s->stats.snapshot_build_ms,
			 (unsigned long long)s->stats.snapshot_total_ms,
			 (unsigned long long)s->stats.snapshot_fork_us,
			 (unsigned long long)s->stats.snapshots_installed,
			 (unsigned long long)s->stats.snapshot_bytes_received,
			 (unsigned long long)s->stats.snapshot_restarts);
		rbuf_puts(o, line);
		info_storage(s, o);
		rbuf_puts(o, "\r\n");
	}
	if (all || !strcasecmp(section, "raft")) {
		if (s->g->replica)
			replica_info_raft(s->g, o);
		else
			info_raft(s, o);
		rbuf_puts(o, "\r\n");
	}
	if (all || !strcasecmp(section, "shards"))
		info_shards(s, o);
	if (all || !strcasecmp(section, "cluster")) /* the Redis Cluster protocol: cluster.c */
		rbuf_puts(o, "# Cluster\r\ncluster_enabled:1\r\n\r\n");
	if (all || !strcasecmp(section, "keyspace")) {
		rbuf_puts(o, "# Keyspace\r\n");
		const struct kv *few[8],
			**kvs = s->n_shards <= 8 ? few : keel_malloc(s->n_shards * sizeof *kvs);
		for (uint32_t i = 0; i < s->n_shards; i++)
			kvs[i] = &s->groups[i]->kv;
		kv_info_keyspace(kvs, s->n_shards, now, o);
		if (kvs != few)
			keel_free(kvs);
	}
}

static void cmd_info(struct server *s, struct client *c, struct creq *q,
		     const struct resp_arg *argv, uint32_t argc)
{
	char sec[32] = "";
	if (argc > 1)
		snprintf(sec, sizeof sec, "%.*s", (int)argv[1].len, (const char *)argv[1].p);
	struct rbuf o;
	rbuf_init(&o);
	server_info(s, argc > 1 ? sec : NULL, &o);
	resp_verbatim(&q->reply, (const char *)o.p, o.len, c->proto);
	rbuf_free(&o);
}

static void cmd_exec(struct server *s, struct client *c, struct creq *q)
{
	if (!c->in_multi) {
		resp_error(&q->reply, "ERR EXEC without MULTI");
		creq_finish(s, q);
		return;
	}
	c->in_multi = false;
	if (c->multi_error) {
		resp_error(&q->reply,
			   "EXECABORT Transaction discarded because of previous errors.");
		creq_finish(s, q);
		return;
	}
	if (c->multi_n == 0) {
		resp_array(&q->reply, 0);
		creq_finish(s, q);
		return;
	}
	/* one request, in one log entry, applied at once on every replica; it
	 * starts in the connection's database, which follows its SELECTs.
	 * Queueing refused what an entry could not hold (clients.c). */
	KEEL_ASSERT(c->multi_n <= ENTRY_CMDS_MAX);
	/* its keys' group (clients.c: multi_queue) */
	struct group *g = c->multi_group ? c->multi_group : s->g;
	q->seq = c->next_seq++;
	struct entry_req_head h = {c->session, q->seq, client_ack(c, g, q->seq),
				   c->db,      true,   s->meta && retry_holds(c),
				   false};
	entry_req_header(&q->cmd, &h, c->multi_n);
	c->db = c->multi_db;
	rbuf_put(&q->cmd, c->multi.p, c->multi.len);
	q->n_cmds = c->multi_n;
	c->multi.len = 0;
	c->multi_n = 0;
	if (!requests_hold(g, c, q, false)) /* as any write (requests.c) */
		request_submit(g, q, false);
}

/* The answer to a core call that changes the cluster. */
static void raft_reply(struct server *s, struct creq *q, const char *what, int rc)
{
	if (rc == KEEL_OK)
		resp_simple(&q->reply, "OK");
	else if (rc == KEEL_ENOTLEADER) /* it forwards to a leader it knows */
		resp_errorf(&q->reply,
			    "TRYAGAIN %s: this node knows no leader to send it to (an election "
			    "is under way); not applied",
			    what);
	else if (rc == KEEL_EBUSY)
		resp_errorf(&q->reply,
			    "TRYAGAIN %s: another change is in progress, or the "
			    "leader has not committed an entry of its term yet",
			    what);
	else
		resp_errorf(&q->reply, "ERR %s: %s", what, keel_err_str(rc));
	server_process(s);
}

/* A membership change's answer: once proposed (rc KEEL_OK), +OK when its
 * configuration entry is applied here, so that an acknowledged change is
 * committed (requests_await_change); true then, q staying open. */
static bool change_reply(struct server *s, struct group *g, struct creq *q, const char *what,
			 int rc)
{
	if (rc != KEEL_OK) {
		raft_reply(s, q, what, rc);
		return false;
	}
	requests_await_change(g, q);
	server_process(s);
	return true;
}

/* The group a RAFT change acts on: a peer's forwarded one names its own
 * (server/conform.c sends one for a shard); an operator's, on a node of
 * several shards, the metadata group, whose members are the cluster's and
 * which every shard then takes (server/conform.c); else the node's one. */
static struct group *change_group(struct server *s, const struct creq *q)
{
	if (q->fwd_peer && q->g)
		return q->g;
	return server_cluster(s);
}

/* An operator's change the cluster's members already have, on a node of
 * several shards: answered OK, so that a change (and --join) can be asked
 * again until every shard has it. */
static bool made_already(const struct group *g, const struct resp_arg *op, raft_id id,
			 const char *addr)
{
	const struct raft_member *m = raft_config_find(raft_config_of(g->r), id);
	/* a configuration not yet committed: the change is refused as busy
	 * (-TRYAGAIN) and asked again, so OK always means committed */
	if (!g->meta || raft_role_of(g->r) != RAFT_LEADER ||
	    raft_config_index_of(g->r) > raft_commit_index(g->r))
		return false;
	if (is(op, "add-learner"))
		return m && !strcmp(m->addr, addr);
	if (is(op, "promote"))
		return m && m->role == RAFT_VOTER;
	return is(op, "remove") && !m;
}

/* A shard placed on node id that id's removal would leave with no way to
 * drop it, or UINT32_MAX; *alone says which of the two cases:
 * - id is its only voter (alone): removed, it would leave the shard no
 *   member, its keys and slots with nobody;
 * - one other voter, and this node has seen no leader of it since its
 *   list last changed: such a shard elects a leader only with id's vote,
 *   and only a leader drops id. A leader seen means id took part (it holds
 *   the shard, opens it again from its folder once removed while down,
 *   and stays until the shard drops it); none seen, id may never have
 *   opened the shard (down, or cut off from the metadata group's leader,
 *   when it was placed there), and, removed, it would learn of no more
 *   entries of the map, take the shard for none of its own and stop: the
 *   shard would have no leader for good (sharded seed 111386).
 * A shard of id alone is named first. Read in this node's map and
 * configuration of the metadata group, the leader's that proposes the
 * removal. */
static uint32_t placed_holds(const struct server *s, raft_id id, bool *alone)
{
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	const struct raft_config *c = s->meta ? raft_config_of(s->meta->r) : NULL;
	uint32_t held = UINT32_MAX;
	*alone = false;
	for (uint32_t i = 0; sl && i < sl->n_placed; i++) {
		const struct kv_shard_members *m = &sl->placed[i];
		uint32_t others = 0;
		bool listed = false;
		for (uint32_t k = 0; k < m->n; k++) {
			listed |= m->ids[k] == id;
			others += m->ids[k] != id && raft_config_is_voter(c, m->ids[k]);
		}
		if (!listed || others > 1) /* two others: a majority of three */
			continue;
		if (!others) {
			*alone = true;
			return m->shard;
		}
		const struct group *g = m->shard < s->n_shards ? s->groups[m->shard] : NULL;
		if (held == UINT32_MAX && g && !group_led_seen(g))
			held = m->shard;
	}
	return held;
}

/* RAFT TRANSFER id on a node of several shards: every group this node
 * leads is handed to id. */
static void transfer_all(struct server *s, struct creq *q, raft_id to)
{
	uint32_t led = 0;
	int rc = KEEL_OK;
	for (uint32_t i = 0; i < s->n_groups; i++) {
		struct group *g = s->groups[i];
		if (!g->r || raft_stopped(g->r) || raft_role_of(g->r) != RAFT_LEADER)
			continue;
		led++;
		group_wake(g, 0); /* a transfer needs the leader's ticks */
		int r = raft_transfer_leader(g->r, to);
		rc = rc ? rc : r;
	}
	if (!led) {
		resp_error(&q->reply, "ERR transfer: this node leads none of its groups (INFO "
				      "shards shows their leaders)");
		return;
	}
	raft_reply(s, q, "transfer", rc);
}

/* ADD-LEARNER's arguments past id and address: [AUTO] [SHARDS n] (what
 * --join sends: the joining node's --shards, which must be this
 * cluster's). False if they are not that. */
static bool learner_args(const struct resp_arg *argv, uint32_t argc, bool *auto_promote,
			 int64_t *shards)
{
	uint32_t i = 4;
	*auto_promote = i < argc && is(&argv[i], "auto");
	i += *auto_promote;
	*shards = 0;
	if (i + 2 == argc && is(&argv[i], "shards") &&
	    resp_str2ll(argv[i + 1].p, argv[i + 1].len, shards) && *shards > 0)
		i += 2;
	return i == argc;
}

static bool raft_add_learner(struct server *s, struct group *g, struct creq *q,
			     const struct resp_arg *argv, uint32_t argc, raft_id id)
{
	bool auto_promote;
	int64_t shards;
	uint32_t mine = s->cfg.shards ? s->cfg.shards : 1;
	char addr[RAFT_ADDR_MAX];
	snprintf(addr, sizeof addr, "%.*s", (int)argv[3].len, (const char *)argv[3].p);
	learner_args(argv, argc, &auto_promote, &shards);
	if (shards && shards != mine)
		resp_errorf(&q->reply,
			    "ERR add-learner: the node was started with --shards %lld and this "
			    "cluster's members with --shards %u: start it with --shards %u",
			    (long long)shards, mine, mine);
	else if (made_already(g, &argv[1], id, addr))
		resp_simple(&q->reply, "OK");
	else
		return change_reply(
			s, g, q, "add-learner",
			raft_change(g->r, RAFT_CHANGE_ADD_LEARNER, id, addr, auto_promote));
	return false;
}

/* A peer's removal of a member from a shard on every node (server/conform.c:
 * the metadata group's leader brings each shard to that group's
 * configuration) while this node's copy of that configuration (its newest,
 * as Raft uses) still has the member. A leader of the metadata group
 * deposed while paused or cut off, that does not know it yet (a quiet
 * leader does not tick), reads an older configuration: it would take a
 * member added since off the shard. Refused here, the removal is asked
 * again, by a driver whose copy is as new (this node's copy catches up).
 * Placed shards are brought by their own leaders to their lists, which
 * leave members out. */
static bool older_driver(struct server *s, const struct group *g, const struct creq *q,
			 const struct resp_arg *verb, raft_id id)
{
	const struct group *meta = s->meta;
	return q->fwd_peer && meta && g != meta && !g->n_placed && meta->r && is(verb, "remove") &&
	       raft_config_find(raft_config_of(meta->r), id) != NULL;
}

static bool raft_syntax_ok(const struct resp_arg *argv, uint32_t argc, bool has_id)
{
	bool auto_promote;
	int64_t shards;
	if (is(&argv[1], "add-learner"))
		return argc >= 4 && has_id && argv[3].len < RAFT_ADDR_MAX &&
		       memchr(argv[3].p, ':', argv[3].len) &&
		       learner_args(argv, argc, &auto_promote, &shards);
	return argc == 3 && has_id;
}

/* RAFT STATUS [LEADER] | SNAPSHOT | TRANSFER id | ADD-LEARNER id
 * host:peer-port [AUTO] [SHARDS n] | PROMOTE id | REMOVE id. STATUS is
 * this node's view; STATUS LEADER the leader's (a follower forwards it).
 * A change takes effect when appended (one server at a time, thesis
 * §4.1) and is answered OK once committed (applied here); -TRYAGAIN if
 * another entry took its place, -TIMEOUT if not committed in time.
 * SNAPSHOT answers the index the snapshot will cover; it is taken in the
 * background (INFO persistence shows when it is done). On a node of
 * several shards a change is made in the metadata group, and every shard
 * then takes it (server/conform.c); TRANSFER hands every group this node
 * leads. */
static bool cmd_raft(struct server *s, struct creq *q, const struct resp_arg *argv, uint32_t argc)
{
	int64_t id = 0;
	bool has_id = argc >= 3 && resp_str2ll(argv[2].p, argv[2].len, &id) && id > 0;
	bool change = is(&argv[1], "add-learner") || is(&argv[1], "promote") ||
		      is(&argv[1], "remove") || is(&argv[1], "transfer");
	struct group *g = change ? change_group(s, q) : s->g;
	if (change) /* a quiet group (server/quiet.c) ticks for it */
		group_wake(g, 0);
	if (change && !raft_syntax_ok(argv, argc, has_id)) {
		resp_error(&q->reply,
			   "ERR RAFT STATUS [LEADER] | SNAPSHOT | TRANSFER <id> | ADD-LEARNER <id> "
			   "<host:peer-port> [AUTO] | PROMOTE <id> | REMOVE <id>");
	} else if (is(&argv[1], "transfer") && s->n_groups > 1 && !q->fwd_peer) {
		transfer_all(s, q, (raft_id)id);
	} else if (is(&argv[1], "snapshot") && argc == 2) {
		/* Local to this node: each node snapshots its own state. */
		raft_index at = 0;
		int rc = raft_snapshot_now(s->g->r, &at);
		if (rc == KEEL_EBUSY)
			resp_error(&q->reply, "ERR a snapshot is already being taken on this node");
		else if (rc)
			resp_errorf(&q->reply, "ERR snapshot: %s", keel_err_str(rc));
		else
			resp_int(&q->reply, (int64_t)at);
		server_process(s);
	} else if (is(&argv[1], "status") &&
		   (argc == 2 || (argc == 3 && is(&argv[2], "leader") &&
				  (raft_role_of(s->g->r) == RAFT_LEADER || q->fwd_peer)))) {
		struct rbuf o;
		rbuf_init(&o);
		info_raft(s, &o);
		resp_bulk(&q->reply, o.p, o.len);
		rbuf_free(&o);
	} else if ((!is(&argv[1], "status") || argc == 3) && raft_role_of(g->r) != RAFT_LEADER &&
		   !q->fwd_peer && request_forward_admin(g, q, argv, argc)) {
		return true; /* the leader answers */
	} else if (is(&argv[1], "status") && argc == 3 && is(&argv[2], "leader")) {
		resp_error(&q->reply, "CLUSTERDOWN no leader is known to this node");
	} else if (change && older_driver(s, g, q, &argv[1], (raft_id)id)) {
		resp_error(&q->reply,
			   "TRYAGAIN this node's copy of the metadata group's configuration still "
			   "has the member (the node asking may read an older one); not applied");
	} else if (is(&argv[1], "transfer")) {
		raft_reply(s, q, "transfer", raft_transfer_leader(g->r, (raft_id)id));
	} else if (is(&argv[1], "add-learner")) {
		return raft_add_learner(s, g, q, argv, argc, (raft_id)id);
	} else if (made_already(g, &argv[1], (raft_id)id, "")) {
		resp_simple(&q->reply, "OK");
	} else if (is(&argv[1], "promote")) {
		return change_reply(
			s, g, q, "promote",
			raft_change(g->r, RAFT_CHANGE_PROMOTE, (raft_id)id, NULL, false));
	} else if (is(&argv[1], "remove")) {
		if (g->meta && raft_applied_index(g->r) < raft_last_index(g->r)) {
			/* a KEEL.PLACESHARD in the log not yet applied would be
			 * missed by placed_holds, which reads the map */
			resp_error(&q->reply,
				   "TRYAGAIN the metadata group's leader has entries not "
				   "yet applied (a change of the slot map may be among "
				   "them); not applied");
			return false;
		}
		bool alone;
		uint32_t held = placed_holds(s, (raft_id)id, &alone);
		if (held != UINT32_MAX && alone) {
			resp_errorf(
				&q->reply,
				"ERR remove: shard %u is placed on node %lld alone: place it on "
				"other nodes first (keel-cli shard place %u --nodes ...)",
				held, (long long)id, held);
			return false;
		}
		if (held != UINT32_MAX) {
			resp_errorf(&q->reply,
				    "TRYAGAIN remove: shard %u is placed on node %lld and one "
				    "other voter, and this node has seen no leader of "
				    "it: only with node %lld's vote can it elect one to drop "
				    "it (start it again if it is down); not applied",
				    held, (long long)id, (long long)id);
			return false;
		}
		return change_reply(
			s, g, q, "remove",
			raft_change(g->r, RAFT_CHANGE_REMOVE, (raft_id)id, NULL, false));
	} else {
		resp_error(&q->reply,
			   "ERR RAFT STATUS [LEADER] | SNAPSHOT | TRANSFER <id> | ADD-LEARNER <id> "
			   "<host:peer-port> [AUTO] | PROMOTE <id> | REMOVE <id>");
	}
	return false;
}

void server_raft_admin(struct server *s, struct creq *q, const struct resp_arg *argv, uint32_t argc)
{
	/* a peer's frame: the arity a client's command is checked for (the
	 * command table's), checked again */
	if (is(&argv[0], "keel.reshard")) { /* from a node outside the slots' shard */
		migrate_command(s, q, argv, argc);
	} else if (is(&argv[0], "keel.placeshard") &&
		   argc >= 3) { /* to the metadata group's leader */
		migrate_place_shard(s, q, argv, argc);
	} else if (is(&argv[0], "keel.addshard")) { /* so is this */
		migrate_add_shard(s, q, argv, argc);
	} else if (argc < 2 || !is(&argv[0], "raft")) {
		resp_error(&q->reply, "ERR the forwarded command was malformed");
		creq_finish(s, q);
	} else if (!cmd_raft(s, q, argv, argc)) {
		creq_finish(s, q);
	}
}

static void cmd_hello(struct server *s, struct client *c, struct creq *q,
		      const struct resp_arg *argv, uint32_t argc)
{
	int64_t ver = c->proto;
	if (argc > 1 && (!resp_str2ll(argv[1].p, argv[1].len, &ver))) {
		resp_error(&q->reply, "ERR Protocol version is not an integer or out of range");
		return;
	}
	if (ver < 2 || ver > 3) {
		resp_error(&q->reply, "NOPROTO unsupported protocol version");
		return;
	}
	/* [AUTH user pass] [SETNAME name]: keel's one user, "default", takes
	 * any password (Redis's default user without one) */
	for (uint32_t j = 2; j < argc; j++) {
		if (is(&argv[j], "auth") && argc - 1 - j >= 2) {
			if (argv[j + 1].len != 7 || memcmp(argv[j + 1].p, "default", 7)) {
				resp_error(&q->reply, "WRONGPASS invalid username-password pair or "
						      "user is disabled.");
				return;
			}
			j += 2;
		} else if (is(&argv[j], "setname") && argc - 1 - j >= 1) {
			if (!client_set_name(c, &argv[++j], &q->reply))
				return;
		} else {
			resp_errorf(&q->reply, "ERR Syntax error in HELLO option '%.*s'",
				    (int)argv[j].len, (const char *)argv[j].p);
			return;
		}
	}
	c->proto = (int)ver;
	resp_map(&q->reply, 7, c->proto);
	resp_bulk_str(&q->reply, "server");
	resp_bulk_str(&q->reply, "keel");
	resp_bulk_str(&q->reply, "version");
	resp_bulk_str(&q->reply, "7.0.0");
	resp_bulk_str(&q->reply, "proto");
	resp_int(&q->reply, c->proto);
	resp_bulk_str(&q->reply, "id");
	resp_int(&q->reply, (int64_t)c->id);
	/* "standalone", though INFO says cluster_enabled:1: a connection is
	 * served as a standalone server's (no redirect) until it asks for the
	 * slot map (cluster.c), and a client told "cluster" here may take it
	 * for a cluster node's connection before it has. */
	resp_bulk_str(&q->reply, "mode");
	resp_bulk_str(&q->reply, "standalone");
	resp_bulk_str(&q->reply, "role");
	resp_bulk_str(&q->reply,
		      s->g->r && raft_role_of(s->g->r) == RAFT_LEADER ? "master" : "replica");
	resp_bulk_str(&q->reply, "modules");
	resp_array(&q->reply, 0);
}

/* CONFIG GET pattern...: the settings a Redis client or tool asks about,
 * as keel has them (every write is durable: appendonly yes, always). */
static void config_get(struct server *s, struct client *c, struct creq *q,
		       const struct resp_arg *argv, uint32_t argc)
{
	char port[16], peer[16], dbs[16];
	snprintf(port, sizeof port, "%d", s->cfg.port);
	snprintf(dbs, sizeof dbs, "%u", s->cfg.databases);
	snprintf(peer, sizeof peer, "%d", s->cfg.peer_port);
	const char *t[][2] = {
		{"appendonly", "yes"}, {"appendfsync", "always"}, {"save", ""},
		{"databases", dbs},    {"maxmemory", "0"},	  {"port", port},
		{"bind", s->cfg.bind}, {"dir", s->cfg.dir},	  {"peer-port", peer}};
	size_t n = sizeof t / sizeof t[0];
	bool hit[sizeof t / sizeof t[0]] = {0};
	size_t found = 0;
	for (uint32_t k = 2; k < argc; k++)
		for (size_t i = 0; i < n; i++)
			if (!hit[i] && kv_glob(argv[k].p, argv[k].len, (const uint8_t *)t[i][0],
					       strlen(t[i][0]), true)) {
				hit[i] = true;
				found++;
			}
	resp_map(&q->reply, found, c->proto);
	for (size_t i = 0; i < n; i++) {
		if (!hit[i])
			continue;
		resp_bulk_str(&q->reply, t[i][0]);
		resp_bulk_str(&q->reply, t[i][1]);
	}
}

static void config_help(struct creq *q)
{
	static const char *const lines[] = {
		"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GET <pattern> [<pattern> ...]",
		"    The settings whose names match a glob pattern, with their values.",
		"    keel's settings are its command-line options; CONFIG SET is not supported.",
		"HELP",
		"    Prints this help.",
	};
	resp_help(&q->reply, lines, sizeof lines / sizeof lines[0]);
}

void server_command(struct server *s, struct client *c, struct creq *q, const struct resp_arg *argv,
		    uint32_t argc)
{
	const struct resp_arg *a = &argv[0];
	if (fanout_is(s, argv, argc)) {
		fanout_run(s, q, argv, argc);
		return;
	}
	if (is(a, "multi")) {
		if (c->in_multi) {
			resp_error(&q->reply, "ERR MULTI calls can not be nested");
		} else {
			c->in_multi = true;
			c->multi_error = false;
			c->multi.len = 0;
			c->multi_n = 0;
			c->multi_db = c->db;
			c->multi_group = NULL;
			resp_simple(&q->reply, "OK");
		}
	} else if (is(a, "exec")) {
		cmd_exec(s, c, q);
		return;
	} else if (is(a, "discard")) {
		if (!c->in_multi) {
			resp_error(&q->reply, "ERR DISCARD without MULTI");
		} else {
			c->in_multi = false;
			resp_simple(&q->reply, "OK");
		}
	} else if (is(a, "quit")) {
		resp_simple(&q->reply, "OK");
		c->close_after_reply = true;
	} else if (is(a, "reset")) {
		c->in_multi = false;
		c->proto = 2;
		c->name[0] = 0;
		c->db = 0;
		c->no_evict = c->no_touch = false;
		c->cluster_aware = c->asking = false;
		resp_simple(&q->reply, "RESET");
	} else if (is(a, "auth")) {
		resp_error(&q->reply, "ERR AUTH <password> called without any password configured "
				      "for the default user. Are you sure your configuration is "
				      "correct?");
	} else if (is(a, "hello")) {
		cmd_hello(s, c, q, argv, argc);
	} else if (is(a, "client")) {
		server_cmd_client(s, c, q, argv, argc);
	} else if (is(a, "command")) {
		server_cmd_command(c, q, argv, argc);
	} else if (is(a, "info")) {
		cmd_info(s, c, q, argv, argc);
	} else if (is(a, "config")) {
		if (is(&argv[1], "get"))
			config_get(s, c, q, argv, argc);
		else /* HELP: the table knows no other subcommand */
			config_help(q);
	} else if (is(a, "time")) {
		int64_t us = (int64_t)uv_hrtime() / 1000, now = server_now_ms();
		resp_array(&q->reply, 2);
		resp_bulk_int(&q->reply, now / 1000);
		resp_bulk_int(&q->reply, (now % 1000) * 1000 + us % 1000);
	} else if (is(a, "raft") && s->g->replica) {
		resp_error(&q->reply, "ERR this node is a read replica (--replica-of), not a Raft "
				      "member");
	} else if (is(a, "raft")) {
		if (cmd_raft(s, q, argv, argc))
			return; /* forwarded: answered when the leader replies */
	} else if (is(a, "keel.reshard")) {
		migrate_command(s, q, argv, argc);
		return;
	} else if (is(a, "keel.addshard")) {
		migrate_add_shard(s, q, argv, argc);
		return;
	} else if (is(a, "keel.placeshard")) {
		migrate_place_shard(s, q, argv, argc);
		return;
	} else if (is(a, "keel.replicate")) {
		replication_attach(s, c, q, argv, argc);
		return;
	} else if (!cluster_command(s, c, q, argv, argc) &&
		   !sentinel_command(s, c, q, argv, argc)) {
		kv_reply_unknown(&q->reply, argv, argc);
	}
	creq_finish(s, q);
}
