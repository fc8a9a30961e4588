/* base/assert.h — assertions that stay on in every build. Invariants are
 * asserted; conditions that come from a disk, a peer or a client are not
 * (they return an error from base/err.h instead). */
#ifndef KEEL_BASE_ASSERT_H
#define KEEL_BASE_ASSERT_H

#include <assert.h>

void keel_assert_fail(const char *expr, const char *file, int line)
	__attribute__((noreturn));

#define KEEL_ASSERT(cond) \
	((cond) ? (void)0 : keel_assert_fail(#cond, __FILE__, __LINE__))
#define KEEL_UNREACHABLE() keel_assert_fail("unreachable", __FILE__, __LINE__)
#define KEEL_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

#endif
