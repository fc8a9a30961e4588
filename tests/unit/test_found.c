/* tests/unit/test_found.c — what the fuzzers (tests/fuzz/) found in code
 * that has no unit suite of its own, kept fixed: the configuration's
 * ports and --join's address (server/config.c). Each case is the input the fuzzer reported,
 * or the smallest form of it. */
#include <string.h>

#include "unit.h"

#include "server/server.h"

static int parse(int argc, char **argv, struct keel_errmsg *err)
{
	static struct server_config c;
	memset(err, 0, sizeof *err);
	return server_config_parse(&c, argc, argv, err);
}

/* fuzz_config: `peer-port 18446744073709551615` was taken as port -1,
 * and (minimised) `port 67847` was taken with a peer port of 77847: any
 * number was taken and failed only at bind, and a port near INT_MAX made
 * the derived peer port (port + 10000) overflow an int. */
static void config_ports(void **state)
{
	(void)state;
	static const char *const bad[] = {"0", "65536", "2147483647", "-1", "7001x", "", "+7001"};
	struct keel_errmsg err;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *argv[] = {"keel-server", "--id", "1", "--port", (char *)bad[i]};
		assert_int_equal(parse(5, argv, &err), KEEL_EINVAL);
		assert_non_null(strstr(err.text, "--port: a port, 1 to 65535"));
		char *peer[] = {"keel-server", "--id", "1", "--peer-port", (char *)bad[i]};
		assert_int_equal(parse(5, peer, &err), KEEL_EINVAL);
		assert_non_null(strstr(err.text, "--peer-port: a port, 1 to 65535"));
	}
	char *high[] = {"keel-server", "--id", "1", "--port", "60000"};
	assert_int_equal(parse(5, high, &err), KEEL_EINVAL);
	assert_non_null(strstr(err.text, "give --peer-port"));
	char *both[] = {"keel-server", "--id", "1", "--port", "60000", "--peer-port", "17001"};
	assert_int_equal(parse(7, both, &err), KEEL_OK);
	char *plain[] = {"keel-server", "--id", "1", "--port", "7001"};
	assert_int_equal(parse(5, plain, &err), KEEL_OK);
}

/* --join names a member's IPv4 host:port: anything else is refused at
 * start (it used to start, log "not host:port" and never join). */
static void config_join(void **state)
{
	(void)state;
	static const char *const bad[] = {"127.0.0.1", "localhost:7001", "127.0.0.1:0",
					  "127.0.0.1:65536", "127.0.0.1:", ":7001", "127.0.0.1:7x"};
	struct keel_errmsg err;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *argv[] = {"keel-server", "--id", "1", "--join", (char *)bad[i]};
		assert_int_equal(parse(5, argv, &err), KEEL_EINVAL);
		assert_non_null(strstr(err.text, "--join: expected a member's IPv4 host:port"));
	}
	char *good[] = {"keel-server", "--id", "1", "--join", "127.0.0.1:7001"};
	assert_int_equal(parse(5, good, &err), KEEL_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_ports),
		cmocka_unit_test(config_join),
	};
	return UNIT_RUN("found", tests);
}
