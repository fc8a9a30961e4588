/* tests/unit/test_timing.c — the election timing of keel-server
 * (src/server/config.c): --election-timeout-ms, --heartbeat-ms and
 * --tick-ms from the command line and the config file, their defaults
 * (etcd's: heartbeat 100 ms, election 1000 ms), the checks made at start
 * (each refused setting with its message), and the core's ticks they
 * become. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

#include "server/server.h"

#define ARGS_MAX 16

/* Parses "--id 1" plus the given settings; the error text in err. */
static int parse(struct server_config *c, struct keel_errmsg *err, const char *const *args)
{
	char *argv[ARGS_MAX] = {"keel-server", "--id", "1"};
	int argc = 3;
	for (int i = 0; args[i]; i++) {
		assert_true(argc < ARGS_MAX);
		argv[argc++] = (char *)args[i];
	}
	memset(err, 0, sizeof *err);
	return server_config_parse(c, argc, argv, err);
}

static void defaults(void **state)
{
	(void)state;
	struct server_config c;
	struct keel_errmsg err;
	assert_int_equal(parse(&c, &err, (const char *const[]){NULL}), KEEL_OK);
	assert_int_equal(c.election_timeout_ms, 1000);
	assert_int_equal(c.heartbeat_ms, 100);
	assert_int_equal(c.tick_ms, 10);
	struct raft_options o;
	raft_options_default(&o);
	server_config_timing(&c, &o);
	/* 10 ms ticks: a heartbeat every 10, a timeout drawn from [100, 200) */
	assert_int_equal(o.heartbeat_ticks, 10);
	assert_int_equal(o.election_ticks_min, 100);
	assert_int_equal(o.election_ticks_max, 200);
}

static void chosen(void **state)
{
	(void)state;
	struct server_config c;
	struct keel_errmsg err;
	assert_int_equal(
		parse(&c, &err,
		      (const char *const[]){"--election-timeout-ms", "300", "--heartbeat-ms", "50",
					    "--tick-ms", "5", NULL}),
		KEEL_OK);
	struct raft_options o;
	raft_options_default(&o);
	server_config_timing(&c, &o);
	assert_int_equal(o.heartbeat_ticks, 10);
	assert_int_equal(o.election_ticks_min, 60);
	assert_int_equal(o.election_ticks_max, 120);
	/* The tightest allowed: heartbeat a fifth of the timeout, one tick. */
	assert_int_equal(parse(&c, &err,
			       (const char *const[]){"--election-timeout-ms", "50",
						     "--heartbeat-ms", "10", NULL}),
			 KEEL_OK);
	server_config_timing(&c, &o);
	assert_int_equal(o.heartbeat_ticks, 1);
	assert_int_equal(o.election_ticks_min, 5);
}

struct refused {
	const char *args[5];
	const char *why;
};

static const struct refused refused[] = {
	{{"--heartbeat-ms", "300", NULL}, "at most a fifth of --election-timeout-ms (1000)"},
	{{"--election-timeout-ms", "400", NULL}, "--heartbeat-ms (100) must be at most a fifth"},
	{{"--election-timeout-ms", "60001", NULL},
	 "--election-timeout-ms: milliseconds, 1 to 60000"},
	{{"--election-timeout-ms", "0", NULL}, "milliseconds, 1 to 60000"},
	{{"--election-timeout-ms", "-1000", NULL}, "milliseconds, 1 to 60000"},
	{{"--election-timeout-ms", "1s", NULL}, "milliseconds, 1 to 60000, got '1s'"},
	{{"--election-timeout-ms", "4294968296", NULL}, "milliseconds, 1 to 60000"},
	{{"--heartbeat-ms", "", NULL}, "--heartbeat-ms: milliseconds"},
	{{"--heartbeat-ms", "5", NULL},
	 "--tick-ms (10) must not be longer than --heartbeat-ms (5)"},
	{{"--tick-ms", "0", NULL}, "--tick-ms: milliseconds, 1 to 60000"},
	{{"--tick-ms", "2000", "--heartbeat-ms", "3000", NULL}, "--tick-ms: at most 1000"},
};

static void checks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		struct server_config c;
		struct keel_errmsg err;
		int rc = parse(&c, &err, refused[i].args);
		if (rc != KEEL_EINVAL || !strstr(err.text, refused[i].why))
			fail_msg("%s %s: rc %d, '%s' (wanted '%s')", refused[i].args[0],
				 refused[i].args[1], rc, err.text, refused[i].why);
	}
}

static void config_file(void **state)
{
	(void)state;
	char path[] = "/tmp/keel-timing-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "# timing\nelection-timeout-ms 2500\nheartbeat-ms 250\n";
	assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(fd);
	struct server_config c;
	struct keel_errmsg err;
	int rc = parse(&c, &err, (const char *const[]){"--config", path, NULL});
	assert_int_equal(rc, KEEL_OK);
	assert_int_equal(c.election_timeout_ms, 2500);
	assert_int_equal(c.heartbeat_ms, 250);
	/* a flag after --config overrides the file, and is checked with it */
	rc = parse(&c, &err,
		   (const char *const[]){"--config", path, "--heartbeat-ms", "600", NULL});
	assert_int_equal(rc, KEEL_EINVAL);
	assert_non_null(strstr(err.text, "--heartbeat-ms (600) must be at most a fifth"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(chosen),
		cmocka_unit_test(checks),
		cmocka_unit_test(config_file),
	};
	return UNIT_RUN("timing", tests);
}
