/* tests/unit/unit.h — the common frame of a unit suite: cmocka runs the
 * tests, and each suite prints one line `<suite>: N passed, M failed` that
 * tools/run-tests.sh adds up into the summary of `make test`. */
#ifndef KEEL_TESTS_UNIT_H
#define KEEL_TESTS_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

/* Runs the group and prints the suite line; the return value is the exit
 * status of the suite's main (non-zero when a test failed). */
#define UNIT_RUN(suite, tests)                                                 \
	({                                                                     \
		size_t unit_n_ = sizeof(tests) / sizeof((tests)[0]);           \
		int unit_failed_ = cmocka_run_group_tests_name(suite, tests,   \
							       NULL, NULL);    \
		printf("%s: %zu passed, %d failed\n", suite,                   \
		       unit_n_ - (size_t)unit_failed_, unit_failed_);          \
		unit_failed_ ? 1 : 0;                                          \
	})

#endif
