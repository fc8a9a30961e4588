/* tests/unit/test_linearize.c — the simulator's linearizability checker
 * must accept every linearizable history and reject the classic stale,
 * lost and invented results, with indeterminate operations allowed. */
#include <string.h>

#include "unit.h"

#include "base/prng.h"
#include "sim/linearize.h"

#define W(key, v, t0, t1)                                            \
	{                                                            \
		key, LIN_WRITE, LIN_OK, t0, t1, v, 0, 0, false, 1, 0 \
	}
#define WU(key, v, t0)                                                   \
	{                                                                \
		key, LIN_WRITE, LIN_UNKNOWN, t0, 0, v, 0, 0, false, 1, 0 \
	}
#define WF(key, v, t0, t1)                                               \
	{                                                                \
		key, LIN_WRITE, LIN_FAILED, t0, t1, v, 0, 0, false, 1, 0 \
	}
#define R(key, v, t0, t1)                                           \
	{                                                           \
		key, LIN_READ, LIN_OK, t0, t1, 0, 0, v, false, 2, 0 \
	}
#define RNIL(key, t0, t1)                                          \
	{                                                          \
		key, LIN_READ, LIN_OK, t0, t1, 0, 0, 0, true, 2, 0 \
	}
#define INC(key, d, out, t0, t1)                                      \
	{                                                             \
		key, LIN_INCR, LIN_OK, t0, t1, d, 0, out, false, 3, 0 \
	}
#define CAS(key, e, n, out, t0, t1)                                  \
	{                                                            \
		key, LIN_CAS, LIN_OK, t0, t1, e, n, out, false, 4, 0 \
	}

static bool lin_ok(const struct lin_op *ops, size_t n, uint64_t *bad)
{
	struct lin_result r;
	lin_check(ops, n, 1000000, &r);
	assert_false(r.timed_out);
	if (bad)
		*bad = r.bad_key;
	if (!r.ok)
		assert_true(strlen(r.explain) > 0);
	return r.ok;
}

static void registers(void **state)
{
	(void)state;
	assert_true(lin_ok(NULL, 0, NULL));
	struct lin_op seq[] = {W(1, 5, 0, 10), R(1, 5, 20, 30)};
	assert_true(lin_ok(seq, 2, NULL));
	struct lin_op stale[] = {W(1, 5, 0, 10), W(1, 6, 20, 30), R(1, 5, 40, 50)};
	uint64_t bad = 0;
	assert_false(lin_ok(stale, 3, &bad));
	assert_int_equal(bad, 1);
	struct lin_op conc_old[] = {W(1, 5, 0, 10), W(1, 6, 20, 50), R(1, 5, 30, 40)};
	struct lin_op conc_new[] = {W(1, 5, 0, 10), W(1, 6, 20, 50), R(1, 6, 30, 40)};
	assert_true(lin_ok(conc_old, 3, NULL));
	assert_true(lin_ok(conc_new, 3, NULL));
	struct lin_op invented[] = {W(1, 5, 0, 10), R(1, 7, 20, 30)};
	assert_false(lin_ok(invented, 2, NULL));
	struct lin_op nil_after[] = {W(1, 5, 0, 10), RNIL(1, 20, 30)};
	assert_false(lin_ok(nil_after, 2, NULL));
	struct lin_op nil_before[] = {RNIL(1, 0, 5), W(1, 5, 10, 20)};
	assert_true(lin_ok(nil_before, 2, NULL));
	/* Back to back at the same instant counts as concurrent. */
	struct lin_op touch[] = {W(1, 5, 0, 10), R(1, 5, 10, 20), W(1, 6, 10, 10)};
	assert_true(lin_ok(touch, 3, NULL));
}

static void indeterminate(void **state)
{
	(void)state;
	struct lin_op seen[] = {WU(1, 9, 0), R(1, 9, 100, 110)};
	assert_true(lin_ok(seen, 2, NULL));
	struct lin_op unseen[] = {W(1, 1, 0, 5), WU(1, 9, 10), R(1, 1, 100, 110)};
	assert_true(lin_ok(unseen, 3, NULL));
	/* Once seen it cannot vanish again. */
	struct lin_op flicker[] = {W(1, 1, 0, 5), WU(1, 9, 10), R(1, 9, 20, 30), R(1, 1, 40, 50)};
	assert_false(lin_ok(flicker, 4, NULL));
	/* It cannot take effect before it was sent. */
	struct lin_op early[] = {R(1, 9, 0, 5), WU(1, 9, 10)};
	assert_false(lin_ok(early, 2, NULL));
	struct lin_op failed[] = {W(1, 1, 0, 5), WF(1, 9, 10, 20), R(1, 9, 30, 40)};
	assert_false(lin_ok(failed, 3, NULL));
}

static void counters_and_cas(void **state)
{
	(void)state;
	struct lin_op twice[] = {INC(2, 1, 1, 0, 10), INC(2, 1, 1, 0, 10)};
	assert_false(lin_ok(twice, 2, NULL));
	struct lin_op both[] = {INC(2, 1, 2, 0, 10), INC(2, 1, 1, 0, 10)};
	assert_true(lin_ok(both, 2, NULL));
	struct lin_op cas[] = {W(3, 4, 0, 5), CAS(3, 4, 8, 1, 10, 20), CAS(3, 4, 9, 0, 30, 40),
			       R(3, 8, 50, 60)};
	assert_true(lin_ok(cas, 4, NULL));
	struct lin_op cas_lie[] = {W(3, 4, 0, 5), CAS(3, 4, 8, 0, 10, 20)};
	assert_false(lin_ok(cas_lie, 2, NULL));
	struct lin_op cas_absent[] = {CAS(3, 0, 8, 1, 10, 20)};
	assert_false(lin_ok(cas_absent, 1, NULL));
	/* Keys are independent: only key 5 is wrong. */
	struct lin_op mixed[] = {W(4, 1, 0, 5), R(4, 1, 6, 7), W(5, 1, 0, 5), R(5, 2, 6, 7)};
	uint64_t bad = 0;
	assert_false(lin_ok(mixed, 4, &bad));
	assert_int_equal(bad, 5);
}

/* A random history produced by a real register, with each operation taking
 * effect at a random instant inside its interval, must pass; changing one
 * read to a value never written must fail. */
static void random_histories(void **state)
{
	(void)state;
	struct prng p;
	prng_seed(&p, 7);
	for (int round = 0; round < 20; round++) {
		enum { N = 200, C = 5 };
		struct lin_op ops[N];
		uint64_t point[N];
		uint64_t busy[C] = {0};
		for (int i = 0; i < N; i++) {
			uint32_t c = (uint32_t)prng_below(&p, C);
			uint64_t t0 = busy[c] + prng_below(&p, 20);
			uint64_t t1 = t0 + 1 + prng_below(&p, 40);
			busy[c] = t1 + 1;
			point[i] = (t0 + prng_below(&p, t1 - t0 + 1)) * 1000 + (uint64_t)i;
			ops[i] = (struct lin_op){.key = 1,
						 .kind = prng_chance(&p, 1, 2) ? LIN_WRITE
									       : LIN_READ,
						 .outcome = LIN_OK,
						 .invoke = t0 * 1000,
						 .complete = t1 * 1000 + 999,
						 .arg = i + 1,
						 .client = c,
						 .id = (uint64_t)i};
		}
		/* Apply in linearization-point order. */
		int order[N];
		for (int i = 0; i < N; i++)
			order[i] = i;
		for (int i = 1; i < N; i++)
			for (int j = i; j > 0 && point[order[j]] < point[order[j - 1]]; j--) {
				int t = order[j];
				order[j] = order[j - 1];
				order[j - 1] = t;
			}
		bool present = false;
		int64_t value = 0;
		for (int k = 0; k < N; k++) {
			struct lin_op *op = &ops[order[k]];
			if (op->kind == LIN_WRITE) {
				present = true;
				value = op->arg;
			} else {
				op->out_nil = !present;
				op->out = value;
			}
		}
		assert_true(lin_ok(ops, N, NULL));
		for (int i = 0; i < N; i++)
			if (ops[i].kind == LIN_READ) {
				ops[i].out_nil = false;
				ops[i].out = 100000;
				break;
			}
		assert_false(lin_ok(ops, N, NULL));
	}
}

static void budget(void **state)
{
	(void)state;
	struct lin_op ops[] = {W(1, 1, 0, 100), W(1, 2, 0, 100), W(1, 3, 0, 100), R(1, 7, 0, 100)};
	struct lin_result r;
	lin_check(ops, 4, 3, &r);
	assert_true(r.timed_out);
	lin_check(ops, 4, 100000, &r);
	assert_false(r.timed_out);
	assert_false(r.ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registers),	    cmocka_unit_test(indeterminate),
		cmocka_unit_test(counters_and_cas), cmocka_unit_test(random_histories),
		cmocka_unit_test(budget),
	};
	return UNIT_RUN("linearize", tests);
}
