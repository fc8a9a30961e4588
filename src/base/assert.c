/* base/assert.c — the failure path of KEEL_ASSERT: say where, then abort
 * (so a core dump or the sanitizer shows the stack). */
#include "base/assert.h"

#include <stdio.h>
#include <stdlib.h>

void keel_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "keel: assertion failed: %s (%s:%d)\n", expr, file, line);
	fflush(stderr);
	abort();
}
