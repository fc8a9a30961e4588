/* tests/unit/test_config.c — keel-server's numeric settings
 * (src/server/config.c): each taken at its edges (its least and greatest
 * value, and the value it is multiplied into), and refused past them,
 * negative, past 2^63, empty or with anything after the digits, with a
 * message naming the setting and its range. The election timing has its
 * own suite (test_timing.c). */
#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "server/server.h"

/* Parses "--id 1" and `name value` (sessions that never expire, which a
 * request timeout may not outlast); the error text in err. */
static int parse(struct server_config *c, struct keel_errmsg *err, const char *name,
		 const char *value)
{
	char opt[64];
	snprintf(opt, sizeof opt, "--%s", name);
	char *argv[] = {"keel-server", "--id", "1", "--session-timeout-ms", "0",
			opt,	       (char *)value};
	memset(err, 0, sizeof *err);
	return server_config_parse(c, 7, argv, err);
}

struct setting {
	const char *name;
	const char *least, *greatest, *past; /* taken, taken, refused */
	uint64_t least_is, greatest_is;	     /* what the config then holds */
};

static uint64_t held(const struct server_config *c, const char *name)
{
	if (!strcmp(name, "request-timeout-ms"))
		return c->request_timeout_ms;
	if (!strcmp(name, "snapshot-entries"))
		return c->snapshot_entries;
	if (!strcmp(name, "trailing-entries"))
		return c->trailing_entries;
	if (!strcmp(name, "client-output-mb"))
		return c->client_output_max;
	if (!strcmp(name, "segment-mb"))
		return c->segment_bytes;
	if (!strcmp(name, "replica-max-lag"))
		return c->replica_max_lag;
	if (!strcmp(name, "skip-entry"))
		return c->skip_entry;
	fail_msg("no setting %s", name);
	return 0;
}

static void numbers(void **state)
{
	(void)state;
	static const struct setting settings[] = {
		{"request-timeout-ms", "1", "86400000", "86400001", 1, 86400000},
		{"snapshot-entries", "0", "1000000000000", "1000000000001", 0, 1000000000000ull},
		{"trailing-entries", "0", "1000000000000", "1000000000001", 0, 1000000000000ull},
		{"client-output-mb", "1", "1048576", "1048577", 1u << 20, 1ull << 40},
		{"segment-mb", "1", "4096", "4097", 1u << 20, 4096ull << 20},
		{"replica-max-lag", "0", "1000000000000", "1000000000001", 0, 1000000000000ull},
		{"skip-entry", "1", "9223372036854775807", "9223372036854775808", 1,
		 9223372036854775807ull},
	};
	/* refused by every one of them */
	static const char *const bad[] = {"-1", "18446744073709551615", "99999999999999999999",
					  "",	"12abc",		"abc",
					  " 5", "0x10",			"-9223372036854775808"};
	struct server_config c;
	struct keel_errmsg err;
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
		const struct setting *t = &settings[i];
		if (parse(&c, &err, t->name, t->least) != KEEL_OK)
			fail_msg("--%s %s: %s", t->name, t->least, err.text);
		assert_true(held(&c, t->name) == t->least_is);
		if (parse(&c, &err, t->name, t->greatest) != KEEL_OK)
			fail_msg("--%s %s: %s", t->name, t->greatest, err.text);
		assert_true(held(&c, t->name) == t->greatest_is);
		assert_int_equal(parse(&c, &err, t->name, t->past), KEEL_EINVAL);
		assert_non_null(strstr(err.text, t->name));
		assert_non_null(strstr(err.text, t->greatest));
		for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
			if (parse(&c, &err, t->name, bad[k]) != KEEL_EINVAL)
				fail_msg("--%s '%s' was taken", t->name, bad[k]);
			assert_non_null(strstr(err.text, "a whole number"));
		}
		if (strcmp(t->least, "0")) /* one below the least */
			assert_int_equal(parse(&c, &err, t->name, "0"), KEEL_EINVAL);
	}
}

/* A node's id and the ids of --cluster: 1 to 2^63-1, digits only. */
static void ids(void **state)
{
	(void)state;
	struct server_config c;
	struct keel_errmsg err;
	char *ok[] = {"keel-server", "--id", "9223372036854775807", "--cluster",
		      "9223372036854775807@127.0.0.1:7001,1@127.0.0.2:7002"};
	memset(&err, 0, sizeof err);
	assert_int_equal(server_config_parse(&c, 5, ok, &err), KEEL_OK);
	assert_true(c.id == 9223372036854775807ull);
	assert_int_equal(c.cluster.n, 2);
	static const char *const bad_ids[] = {"0", "-1", "9223372036854775808", "1x", "", "x"};
	for (size_t k = 0; k < sizeof bad_ids / sizeof bad_ids[0]; k++) {
		char *argv[] = {"keel-server", "--id", (char *)bad_ids[k]};
		memset(&err, 0, sizeof err);
		assert_int_equal(server_config_parse(&c, 3, argv, &err), KEEL_EINVAL);
		char member[64];
		snprintf(member, sizeof member, "%s@127.0.0.1:7001", bad_ids[k]);
		char *cl[] = {"keel-server", "--id", "1", "--cluster", member};
		memset(&err, 0, sizeof err);
		assert_int_equal(server_config_parse(&c, 5, cl, &err), KEEL_EINVAL);
		assert_non_null(strstr(err.text, "--cluster"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(numbers),
		cmocka_unit_test(ids),
	};
	return UNIT_RUN("config", tests);
}
