/* tests/unit/test_raft.c — the Raft core's own edges, one node at a time
 * (src/raft/raft.c, election.c, log.c, update.c, invariants.c): the
 * in-memory log's contract; the options raft_new accepts and the ones it
 * refuses with their message; durable state that cannot have been
 * written by the core (a log starting at 0, a term-0 entry, a gap, terms
 * going back) refused as corrupt, and a founding node's bootstrap ignored
 * once its log is on disk; a candidate of 16 voters asking each other
 * voter once; malformed messages refused; the entry size limit; the purge
 * after a snapshot handed out at once; a stopped node that neither
 * campaigns nor changes its term; and raft_check_invariants, the
 * simulator's oracle, catching each kind of broken state it is there for. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "base/mem.h"
#include "raft/core.h"

static struct raft_config one_voter(raft_id id)
{
	struct raft_config c = {.n = 1};
	c.members[0].id = id;
	c.members[0].role = RAFT_VOTER;
	return c;
}

/* A fresh founding node with these options; NULL and the reason in err if
 * raft_new refuses them. */
static struct raft *new_with(const struct raft_options *o, struct keel_errmsg *err)
{
	static struct raft_config boot;
	boot = one_voter(1);
	struct raft_init in = {.id = 1, .seed = 7, .options = *o, .bootstrap = &boot};
	memset(err, 0, sizeof *err);
	return raft_new(&in, err);
}

static void expect_refused(const struct raft_options *o, const char *text)
{
	struct keel_errmsg err;
	struct raft *r = new_with(o, &err);
	assert_null(r);
	assert_non_null(strstr(err.text, text));
}

static void expect_accepted(const struct raft_options *o)
{
	struct keel_errmsg err;
	struct raft *r = new_with(o, &err);
	assert_non_null(r);
	raft_free(r);
}

/* Election ticks: 2 <= min < max; heartbeat in [1, min). */
static void options_timing(void **state)
{
	(void)state;
	struct raft_options o;
	raft_options_default(&o);
	expect_accepted(&o);
	o.election_ticks_min = 2, o.election_ticks_max = 3, o.heartbeat_ticks = 1;
	expect_accepted(&o);
	o.election_ticks_min = 1, o.election_ticks_max = 3;
	expect_refused(&o, "election ticks must satisfy");
	o.election_ticks_min = 5, o.election_ticks_max = 5, o.heartbeat_ticks = 1;
	expect_refused(&o, "election ticks must satisfy");
	o.election_ticks_max = 4;
	expect_refused(&o, "election ticks must satisfy");
	o.election_ticks_max = 10, o.heartbeat_ticks = 0;
	expect_refused(&o, "heartbeat ticks must be in");
	o.heartbeat_ticks = 5;
	expect_refused(&o, "heartbeat ticks must be in");
	o.heartbeat_ticks = 4;
	expect_accepted(&o);
}

/* Windows, batches and chunks must be positive; the in-flight window at
 * most RAFT_INFLIGHT_MAX messages. */
static void options_sizes(void **state)
{
	(void)state;
	const char *text = "window, batch and chunk sizes must be positive";
	struct raft_options d, o;
	raft_options_default(&d);
	o = d, o.inflight_msgs_max = RAFT_INFLIGHT_MAX;
	expect_accepted(&o);
	o.inflight_msgs_max = RAFT_INFLIGHT_MAX + 1;
	expect_refused(&o, text);
	o.inflight_msgs_max = 0;
	expect_refused(&o, text);
	o = d, o.inflight_msgs_max = 1, o.msg_entries_max = 1, o.apply_entries_max = 1;
	o.snapshot_chunk_bytes = 1, o.inflight_bytes_max = 1;
	expect_accepted(&o);
	o = d, o.msg_entries_max = 0;
	expect_refused(&o, text);
	o = d, o.apply_entries_max = 0;
	expect_refused(&o, text);
	o = d, o.snapshot_chunk_bytes = 0;
	expect_refused(&o, text);
	o = d, o.inflight_bytes_max = 0;
	expect_refused(&o, text);
	struct raft_init in = {.id = RAFT_ID_NONE};
	raft_options_default(&in.options);
	struct keel_errmsg err;
	assert_null(raft_new(&in, &err));
	assert_string_equal(err.text, "node id must be non-zero");
}

/* raft_new from durable state: term 3, the entries given. */
static struct raft *load(const struct raft_entry *e, uint32_t n, const struct raft_config *boot,
			 struct keel_errmsg *err)
{
	struct raft_init in = {.id = 1, .seed = 7, .term = 3, .entries = e, .n_entries = n};
	in.bootstrap = boot;
	raft_options_default(&in.options);
	memset(err, 0, sizeof *err);
	return raft_new(&in, err);
}

/* The log the core wrote is contiguous, from 1 (or after a snapshot), of
 * non-zero terms that never decrease nor pass the node's term: anything
 * else on disk is corruption, refused with its reason. */
static void durable_log_checked(void **state)
{
	(void)state;
	struct keel_errmsg err;
	struct raft_entry e[3] = {{.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP},
				  {.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP},
				  {.term = 2, .index = 3, .type = RAFT_ENTRY_NOOP}};
	struct raft *r = load(e, 3, NULL, &err);
	assert_non_null(r);
	assert_int_equal(raft_last_index(r), 3);
	assert_int_equal(raft_term_at(r, 2), 2);
	raft_free(r);

	struct raft_entry z[1] = {{.term = 1, .index = 0, .type = RAFT_ENTRY_NOOP}};
	assert_null(load(z, 1, NULL, &err));
	assert_string_equal(err.text, "log starts at 0, after the snapshot at 0");
	struct raft_entry late[1] = {{.term = 1, .index = 2, .type = RAFT_ENTRY_NOOP}};
	assert_null(load(late, 1, NULL, &err));
	assert_string_equal(err.text, "log starts at 2, after the snapshot at 0");

	struct raft_entry bad[3];
	memcpy(bad, e, sizeof bad);
	bad[0].term = 0; /* no entry has term 0 */
	assert_null(load(bad, 3, NULL, &err));
	assert_string_equal(err.text, "log entry 1 out of order");
	memcpy(bad, e, sizeof bad);
	bad[2].index = 4; /* a gap */
	assert_null(load(bad, 3, NULL, &err));
	assert_string_equal(err.text, "log entry 4 out of order");
	memcpy(bad, e, sizeof bad);
	bad[2].term = 1; /* terms go back */
	assert_null(load(bad, 3, NULL, &err));
	assert_string_equal(err.text, "log entry 3 out of order");
	memcpy(bad, e, sizeof bad);
	bad[2].term = 4; /* past the node's term */
	assert_null(load(bad, 3, NULL, &err));
	assert_string_equal(err.text, "log entry 3 out of order");
}

/* The bootstrap configuration is given on every start of a founding node
 * and written only when its log is empty: a restart keeps the log as it
 * was on disk, and its commit index as the core must learn it again. */
static void bootstrap_only_once(void **state)
{
	(void)state;
	struct keel_errmsg err;
	struct raft_config boot = one_voter(1);
	struct raft *r = load(NULL, 0, &boot, &err);
	assert_non_null(r);
	assert_int_equal(raft_last_index(r), 1);
	assert_int_equal(raft_commit_index(r), 1);
	assert_int_equal(raft_entry_at(r, 1)->type, RAFT_ENTRY_CONFIG);
	assert_int_equal(raft_current_term(r), 3); /* a later term on disk is kept */
	raft_free(r);

	struct raft_entry e[2] = {{.term = 2, .index = 1, .type = RAFT_ENTRY_NOOP},
				  {.term = 3, .index = 2, .type = RAFT_ENTRY_NOOP}};
	r = load(e, 2, &boot, &err);
	assert_non_null(r);
	assert_int_equal(raft_last_index(r), 2);
	assert_int_equal(raft_term_at(r, 2), 3);
	assert_int_equal(raft_commit_index(r), 0);
	raft_free(r);
}

/* A log kept on disk below its snapshot (trailing entries) is loaded as it
 * is: the snapshot's entry agrees with it, and the term of the entry
 * before the log is unknown (0), never made up from the snapshot's. */
static void log_below_snapshot(void **state)
{
	(void)state;
	struct raft_snapshot_meta snap = {.index = 5, .term = 2, .config = one_voter(1)};
	struct raft_entry e[6];
	for (uint32_t k = 0; k < 6; k++)
		e[k] = (struct raft_entry){.term = 2, .index = 2 + k, .type = RAFT_ENTRY_NOOP};
	struct raft_init in = {.id = 1, .seed = 7, .term = 3, .snapshot = &snap};
	in.entries = e, in.n_entries = 6;
	raft_options_default(&in.options);
	struct keel_errmsg err;
	struct raft *r = raft_new(&in, &err);
	assert_non_null(r);
	assert_int_equal(raft_first_index(r), 2);
	assert_int_equal(raft_last_index(r), 7);
	assert_int_equal(raft_term_at(r, 5), 2);
	assert_int_equal(raft_term_at(r, 1), 0);
	assert_int_equal(raft_commit_index(r), 5);
	raft_free(r);
	/* a log that disagrees with the snapshot gives way to it */
	e[3].term = 3, e[4].term = 3, e[5].term = 3; /* 5/3, not 5/2 */
	r = raft_new(&in, &err);
	assert_non_null(r);
	assert_int_equal(raft_first_index(r), 6);
	assert_int_equal(raft_last_index(r), 5);
	assert_int_equal(raft_term_at(r, 5), 2);
	raft_free(r);
}

/* The in-memory log (raft/log.h): entries start..last with the term of
 * start-1 when known; truncate removes entries >= from, purge entries
 * < below (remembering the term of below-1), reset restarts it after an
 * index; bytes counts the payloads held. Removing nothing changes
 * nothing. */
static void log_contract(void **state)
{
	(void)state;
	struct raft_log l;
	raft_log_init(&l, 1, 0, true);
	assert_int_equal(raft_log_last(&l), 0);
	assert_null(raft_log_get(&l, 1));
	uint8_t data[8] = {0};
	for (raft_index i = 1; i <= 6; i++) /* terms 1 1 2 2 3 3 */
		raft_log_append(&l, (i + 1) / 2, RAFT_ENTRY_COMMAND, data, (uint32_t)i);
	assert_int_equal(raft_log_last(&l), 6);
	assert_int_equal(l.bytes, 21);
	raft_term t = 9;
	assert_true(raft_log_term(&l, 0, &t) && t == 0);
	assert_true(raft_log_term(&l, 4, &t) && t == 2);
	assert_false(raft_log_term(&l, 7, &t));
	assert_int_equal(raft_log_get(&l, 6)->len, 6);

	raft_log_truncate(&l, 7); /* nothing at 7 */
	assert_int_equal(raft_log_last(&l), 6);
	raft_log_truncate(&l, 6); /* the last entry alone */
	assert_int_equal(raft_log_last(&l), 5);
	assert_null(raft_log_get(&l, 6));
	assert_int_equal(l.bytes, 15);

	raft_log_purge(&l, 1); /* nothing below 1 */
	assert_int_equal(l.start, 1);
	raft_log_purge(&l, 4);
	assert_int_equal(l.start, 4);
	assert_int_equal(l.bytes, 9);
	assert_null(raft_log_get(&l, 3));
	assert_int_equal(raft_log_get(&l, 4)->term, 2);
	assert_true(raft_log_term(&l, 3, &t) && t == 2); /* entry 3's, not 4's */
	assert_false(raft_log_term(&l, 2, &t));
	raft_log_purge(&l, 4); /* nothing more below 4 */
	raft_log_purge(&l, 3);
	assert_int_equal(l.start, 4);
	assert_int_equal(raft_log_last(&l), 5);
	assert_true(raft_log_term(&l, 3, &t) && t == 2);

	raft_log_reset(&l, 9, 4);
	assert_int_equal(l.start, 10);
	assert_int_equal(raft_log_last(&l), 9);
	assert_int_equal(l.bytes, 0);
	assert_true(raft_log_term(&l, 9, &t) && t == 4);
	assert_false(raft_log_term(&l, 10, &t));
	raft_log_append(&l, 4, RAFT_ENTRY_NOOP, NULL, 0);
	assert_int_equal(raft_log_get(&l, 10)->index, 10);
	raft_log_free(&l);

	/* a log whose previous term is unknown does not make one up */
	raft_log_init(&l, 5, 3, false);
	raft_log_append(&l, 3, RAFT_ENTRY_NOOP, NULL, 0);
	assert_false(raft_log_term(&l, 4, &t));
	assert_true(raft_log_term(&l, 5, &t) && t == 3);
	raft_log_free(&l);
}

/* Carries out every update of a single-voter node (persisted at once). */
static void drive(struct raft *r)
{
	while (raft_has_update(r)) {
		struct raft_update u;
		raft_update_get(r, &u);
		raft_update_done(r, &u);
		raft_persisted(r, raft_last_index(r), raft_term_at(r, raft_last_index(r)));
	}
}

static struct raft *single_leader(void)
{
	struct keel_errmsg err;
	struct raft_options o;
	raft_options_default(&o);
	struct raft *r = new_with(&o, &err);
	assert_non_null(r);
	drive(r);
	assert_int_equal(raft_campaign(r), KEEL_OK);
	drive(r);
	assert_int_equal(raft_role_of(r), RAFT_LEADER);
	return r;
}

/* Raft §5.2: a node of the largest configuration (RAFT_MEMBERS_MAX
 * voters) that times out asks each other voter for its pre-vote, once. */
static void campaign_asks_every_voter(void **state)
{
	(void)state;
	struct raft_config c = {.n = RAFT_MEMBERS_MAX};
	for (uint32_t k = 0; k < RAFT_MEMBERS_MAX; k++) {
		c.members[k].id = k + 1;
		c.members[k].role = RAFT_VOTER;
	}
	struct raft_init in = {.id = 1, .seed = 7, .bootstrap = &c};
	raft_options_default(&in.options);
	struct keel_errmsg err;
	struct raft *r = raft_new(&in, &err);
	assert_non_null(r);
	drive(r);
	assert_int_equal(raft_campaign(r), KEEL_OK);
	struct raft_update u;
	raft_update_get(r, &u);
	bool asked[RAFT_MEMBERS_MAX + 1] = {false};
	uint32_t n = 0;
	for (uint32_t k = 0; k < u.n_msgs; k++) {
		assert_int_equal(u.msgs[k].type, RAFT_MSG_PREVOTE);
		assert_true(u.msgs[k].to >= 2 && u.msgs[k].to <= RAFT_MEMBERS_MAX);
		assert_false(asked[u.msgs[k].to]);
		asked[u.msgs[k].to] = true;
		n++;
	}
	assert_int_equal(n, RAFT_MEMBERS_MAX - 1);
	assert_int_equal(u.n_msgs_now, 0);
	raft_update_done(r, &u);
	raft_free(r);
}

/* raft_step refuses what no peer may send: type 0 or past the last type, no
 * sender, a message from itself or for another node. */
static void step_refuses_malformed(void **state)
{
	(void)state;
	struct raft *r = single_leader();
	raft_term term = raft_current_term(r);
	struct raft_msg m = {.type = 0, .from = 2, .to = 1, .term = term + 5};
	assert_int_equal(raft_step(r, &m), KEEL_EINVAL);
	m.type = RAFT_MSG_TYPE_MAX + 1;
	assert_int_equal(raft_step(r, &m), KEEL_EINVAL);
	m.type = RAFT_MSG_TIMEOUT_NOW, m.from = RAFT_ID_NONE;
	assert_int_equal(raft_step(r, &m), KEEL_EINVAL);
	m.from = 1;
	assert_int_equal(raft_step(r, &m), KEEL_EINVAL);
	m.from = 2, m.to = 3;
	assert_int_equal(raft_step(r, &m), KEEL_EINVAL);
	/* none of them moved the term or the role */
	assert_int_equal(raft_current_term(r), term);
	assert_int_equal(raft_role_of(r), RAFT_LEADER);
	raft_free(r);
}

/* An entry of RAFT_ENTRY_BYTES_MAX bytes is accepted, one byte more is not;
 * campaigning when already leader changes nothing. */
static void propose_limits(void **state)
{
	(void)state;
	struct raft *r = single_leader();
	raft_term term = raft_current_term(r);
	assert_int_equal(raft_campaign(r), KEEL_OK);
	assert_int_equal(raft_role_of(r), RAFT_LEADER);
	assert_int_equal(raft_current_term(r), term);
	uint8_t *big = keel_calloc(1, (size_t)RAFT_ENTRY_BYTES_MAX + 1);
	raft_index last = raft_last_index(r), at = 0;
	assert_int_equal(raft_propose(r, big, RAFT_ENTRY_BYTES_MAX + 1, &at, NULL), KEEL_ETOOBIG);
	assert_int_equal(raft_last_index(r), last);
	assert_int_equal(raft_propose(r, big, RAFT_ENTRY_BYTES_MAX, &at, NULL), KEEL_OK);
	assert_int_equal(at, last + 1);
	keel_free(big);
	drive(r);
	assert_int_equal(raft_commit_index(r), last + 1);
	raft_free(r);
}

/* Raft §7: once the embedder has written a snapshot (raft_snapshot_done),
 * the log below it may be purged; the purge is handed out at once, in the
 * next update (with trailing_entries 0: everything up to the snapshot). */
static void purge_after_snapshot(void **state)
{
	(void)state;
	struct raft *r = single_leader();
	r->o.trailing_entries = 0;
	uint8_t v[4] = {1, 2, 3, 4};
	for (int i = 0; i < 3; i++)
		assert_int_equal(raft_propose(r, v, sizeof v, NULL, NULL), KEEL_OK);
	drive(r);
	raft_index at = 0;
	assert_int_equal(raft_snapshot_now(r, &at), KEEL_OK);
	assert_int_equal(at, raft_last_index(r));
	struct raft_update u;
	raft_update_get(r, &u);
	assert_true(u.snapshot_wanted);
	raft_update_done(r, &u);
	assert_false(raft_has_update(r));
	raft_snapshot_done(r, at, 100, 0);
	assert_true(raft_has_update(r));
	raft_update_get(r, &u);
	assert_int_equal(u.purge_below, at + 1);
	raft_update_done(r, &u);
	assert_int_equal(raft_first_index(r), at + 1);
	raft_free(r);
}

/* A node stopped by a storage error (fail-stop) takes no part any more:
 * its timeouts never start an election, it refuses to campaign, and it
 * hands out no update. */
static void stopped_stays_still(void **state)
{
	(void)state;
	struct keel_errmsg err;
	struct raft_options o;
	raft_options_default(&o);
	struct raft *r = new_with(&o, &err);
	drive(r);
	raft_term term = raft_current_term(r);
	raft_fail(r, KEEL_EIO);
	for (int i = 0; i < 100; i++)
		raft_tick(r);
	assert_int_equal(raft_campaign(r), KEEL_ESTOPPED);
	assert_int_equal(raft_current_term(r), term);
	assert_int_equal(raft_role_of(r), RAFT_FOLLOWER);
	assert_string_equal(raft_role_name(r), "stopped");
	assert_false(raft_has_update(r));
	raft_free(r);
}

/* Runs raft_check_invariants in a child; true if it aborted there. */
static bool invariants_abort(const struct raft *r)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the expected assertion message is not noise in the output */
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		raft_check_invariants(r);
		_exit(0);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

/* The checker the simulator runs after every step catches what it is
 * for: a log whose terms go back or pass the node's, a misnumbered entry,
 * a leader whose first entry of its term (term_start) is of another term. */
static void invariants_catch(void **state)
{
	(void)state;
	struct raft *r = single_leader();
	raft_term term = raft_current_term(r);
	assert_int_equal(raft_last_index(r), 2); /* 1: the configuration, 2: the no-op */
	assert_int_equal(r->term_start, 2);
	assert_false(invariants_abort(r));

	struct raft_entry *e = &r->log.e[0];
	raft_term t = e->term;
	e->term = term + 1; /* from the future, and entry 2 goes back from it */
	assert_true(invariants_abort(r));
	e->term = t;
	e->index = 5;
	assert_true(invariants_abort(r));
	e->index = 1;
	assert_false(invariants_abort(r));

	/* entry 1, the first of the log, is of term 1: not this leader's */
	assert_true(raft_term_at(r, 1) != term);
	r->term_start = 1;
	assert_true(invariants_abort(r));
	r->term_start = 2;
	assert_false(invariants_abort(r));
	raft_free(r);
}

/* The leader's view of a follower: match never past its own log. */
static void invariants_catch_progress(void **state)
{
	(void)state;
	struct raft *r = single_leader();
	assert_false(invariants_abort(r));
	r->n_prs = 1; /* a follower the configuration does not have */
	memset(&r->prs[0], 0, sizeof r->prs[0]);
	r->prs[0].id = 9;
	r->prs[0].state = RAFT_PR_PROBE;
	r->prs[0].next = 1;
	assert_true(invariants_abort(r));
	r->n_prs = 0;
	assert_false(invariants_abort(r));
	raft_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(options_timing),
		cmocka_unit_test(options_sizes),
		cmocka_unit_test(durable_log_checked),
		cmocka_unit_test(bootstrap_only_once),
		cmocka_unit_test(log_below_snapshot),
		cmocka_unit_test(log_contract),
		cmocka_unit_test(campaign_asks_every_voter),
		cmocka_unit_test(step_refuses_malformed),
		cmocka_unit_test(propose_limits),
		cmocka_unit_test(purge_after_snapshot),
		cmocka_unit_test(stopped_stays_still),
		cmocka_unit_test(invariants_catch),
		cmocka_unit_test(invariants_catch_progress),
	};
	return UNIT_RUN("raft", tests);
}
