/* tests/unit/test_base.c — src/base: error strings, error messages,
 * crc32c (both paths), byte encoding, the PRNG and trace lines. */
#include <string.h>

#include "unit.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/prng.h"
#include "base/trace.h"

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

static void err_strings(void **state)
{
	(void)state;
	for (int e = 0; e < KEEL_ERR_COUNT; e++) {
		assert_non_null(keel_err_str(e));
		assert_true(strncmp(keel_err_name(e), "KEEL_", 5) == 0);
		for (int f = 0; f < e; f++) {
			assert_string_not_equal(keel_err_str(e), keel_err_str(f));
			assert_string_not_equal(keel_err_name(e), keel_err_name(f));
		}
	}
	assert_string_equal(keel_err_str(-1), "unknown error");
	assert_string_equal(keel_err_str(KEEL_ERR_COUNT), "unknown error");
	assert_string_equal(keel_err_name(KEEL_EIO), "KEEL_EIO");
}

static void errmsg_wrap(void **state)
{
	(void)state;
	struct keel_errmsg m;
	keel_errmsg_set(&m, "write: %s", keel_err_name(KEEL_EIO));
	keel_errmsg_wrap(&m, "open segment %d", 7);
	assert_string_equal(m.text, "open segment 7: write: KEEL_EIO");
	char big[400];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	keel_errmsg_set(&m, "%s", big);
	assert_int_equal(strlen(m.text), KEEL_ERRMSG_MAX - 1);
	keel_errmsg_wrap(&m, "ctx");
	assert_int_equal(strlen(m.text), KEEL_ERRMSG_MAX - 1);
	assert_true(strncmp(m.text, "ctx: xxx", 8) == 0);
}

static void crc_values(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c(0, "", 0), 0);
	uint8_t buf[301];
	struct prng p;
	prng_seed(&p, 42);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)prng_next(&p);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; off + len <= 300; len += 7) {
			uint32_t whole = crc32c(0, buf + off, len);
			assert_int_equal(whole, crc32c_sw(0, buf + off, len));
			size_t cut = len / 3;
			assert_int_equal(whole, crc32c(crc32c(0, buf + off, cut), buf + off + cut,
						       len - cut));
		}
}

static void bytes_codec(void **state)
{
	(void)state;
	uint8_t b[8];
	bytes_put_u32(b, 0x01020304u);
	assert_int_equal(b[0], 4);
	assert_int_equal(b[3], 1);
	assert_int_equal(bytes_get_u32(b), 0x01020304u);
	bytes_put_u64(b, 0x1122334455667788ull);
	assert_int_equal(b[0], 0x88);
	assert_true(bytes_get_u64(b) == 0x1122334455667788ull);
	bytes_put_u16(b, 0xBEEF);
	assert_int_equal(bytes_get_u16(b), 0xBEEF);

	uint8_t buf[12];
	struct bytes_writer w;
	bytes_writer_init(&w, buf, sizeof buf);
	bytes_write_u64(&w, 7);
	bytes_write_u8(&w, 9);
	assert_false(w.err);
	bytes_write_u32(&w, 1); /* 13 > 12: refused whole */
	assert_true(w.err);
	assert_int_equal(w.off, 9);
	bytes_write_u8(&w, 1); /* sticky */
	assert_int_equal(w.off, 9);

	struct bytes_reader r;
	bytes_reader_init(&r, buf, 9);
	assert_true(bytes_read_u64(&r) == 7);
	assert_int_equal(bytes_reader_left(&r), 1);
	assert_int_equal(bytes_read_u8(&r), 9);
	assert_int_equal(bytes_read_u32(&r), 0);
	assert_true(r.err);
	assert_null(bytes_read_raw(&r, 0));
	assert_int_equal(bytes_reader_left(&r), 0);
}

static void prng_behaviour(void **state)
{
	(void)state;
	struct prng a, b, c;
	prng_seed(&a, 1);
	prng_seed(&b, 1);
	prng_seed(&c, 2);
	int same = 0;
	for (int i = 0; i < 100; i++) {
		uint64_t x = prng_next(&a);
		assert_true(x == prng_next(&b));
		same += x == prng_next(&c);
	}
	assert_int_equal(same, 0);
	uint32_t hist[10] = {0};
	for (int i = 0; i < 100000; i++)
		hist[prng_below(&a, 10)]++;
	for (int k = 0; k < 10; k++) /* expected 10000 each; seeded, so exact */
		assert_true(hist[k] > 9500 && hist[k] < 10500);
	for (int i = 0; i < 1000; i++) {
		uint64_t v = prng_range(&a, 5, 8);
		assert_true(v >= 5 && v < 8);
		assert_false(prng_chance(&a, 0, 3));
		assert_true(prng_chance(&a, 3, 3));
	}
}

struct sink {
	char last[TRACE_LINE_MAX + 8];
	int calls;
};

static void sink_cb(void *ctx, const char *line)
{
	struct sink *s = ctx;
	snprintf(s->last, sizeof s->last, "%s", line);
	s->calls++;
}

static void trace_lines(void **state)
{
	(void)state;
	struct sink s = {.calls = 0};
	trace_printf(NULL, "nothing %d", 1);
	struct trace off = {0};
	trace_printf(&off, "nothing %d", 2);
	struct trace on = {sink_cb, &s};
	trace_printf(&on, "node %d: leader term=%d", 1, 3);
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.last, "node 1: leader term=3");
	char big[TRACE_LINE_MAX * 2];
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	trace_printf(&on, "%s", big);
	assert_int_equal(strlen(s.last), TRACE_LINE_MAX - 1);
	assert_null(keel_memdup("x", 0));
	char *d = keel_memdup("abc", 4);
	assert_string_equal(d, "abc");
	keel_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(err_strings),	  cmocka_unit_test(errmsg_wrap),
		cmocka_unit_test(crc_values),	  cmocka_unit_test(bytes_codec),
		cmocka_unit_test(prng_behaviour), cmocka_unit_test(trace_lines),
	};
	return UNIT_RUN("base", tests);
}
