/* tests/unit/test_resp.c — src/resp: requests (multibulk and inline) as
 * Redis 7.0 parses them, with its limits and error messages (the cases
 * were checked against redis-server 7.0.15), the same answers whatever
 * the split of the input, reply scanning, and the encoder. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "base/prng.h"
#include "resp/encode.h"
#include "resp/parse.h"

struct req_case {
	const char *in;
	size_t in_len; /* 0: strlen(in) */
	int status;
	const char *args; /* the arguments joined with '|', or the error */
	size_t used;      /* 0: all of in */
};

static const struct req_case cases[] = {
	{"*1\r\n$4\r\nPING\r\n", 0, RESP_OK, "PING", 0},
	{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", 0, RESP_OK, "SET|k|", 0},
	{"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", 0, RESP_OK, "PING", 14},
	{"*-1\r\nPING\r\n", 0, RESP_OK, "", 5},
	{"*0\r\n", 0, RESP_OK, "", 0},
	{"*2000000\r\n", 0, RESP_MORE, "", 0},
	{"*1\r\n$4\r\nPIN", 0, RESP_MORE, "", 0},
	{"*1\r\nx", 0, RESP_ERR, "Protocol error: expected '$', got 'x'", 0},
	{"*3000000000\r\n", 0, RESP_ERR, "Protocol error: invalid multibulk length", 0},
	{"*abc\r\n", 0, RESP_ERR, "Protocol error: invalid multibulk length", 0},
	{"*01\r\n", 0, RESP_ERR, "Protocol error: invalid multibulk length", 0},
	{"*1\r\n$600000000\r\n", 0, RESP_ERR, "Protocol error: invalid bulk length", 0},
	{"*1\r\n$-1\r\n", 0, RESP_ERR, "Protocol error: invalid bulk length", 0},
	{"*1\r\n$+4\r\nPING\r\n", 0, RESP_ERR, "Protocol error: invalid bulk length", 0},
	{"*1\r\n$04\r\nPING\r\n", 0, RESP_ERR, "Protocol error: invalid bulk length", 0},
	{"*1\r\n$ 4\r\nPING\r\n", 0, RESP_ERR, "Protocol error: invalid bulk length", 0},
	{"PING\r\n", 0, RESP_OK, "PING", 0},
	{"PING\n", 0, RESP_OK, "PING", 0},
	{"\r\n", 0, RESP_OK, "", 0},
	{"  set  a   b \r\n", 0, RESP_OK, "set|a|b", 0},
	{"set \"a\\x41b\" c\r\n", 0, RESP_OK, "set|aAb|c", 0},
	{"\"echo\" \"x\\ty\"\r\n", 0, RESP_OK, "echo|x\ty", 0},
	{"echo \"\\xZZ\"\r\n", 0, RESP_OK, "echo|xZZ", 0},
	{"get 'a\\'b'\r\n", 0, RESP_OK, "get|a'b", 0},
	{"echo a\\x41\r\n", 0, RESP_OK, "echo|a\\x41", 0},
	{"echo a\"b c\"d\r\n", 0, RESP_ERR, "Protocol error: unbalanced quotes in request", 0},
	{"echo a\"b c\"\r\n", 0, RESP_OK, "echo|ab c", 0},
	{"PING \"a\r\n", 0, RESP_ERR, "Protocol error: unbalanced quotes in request", 0},
	{"echo \"a\"b\r\n", 0, RESP_ERR, "Protocol error: unbalanced quotes in request", 0},
	{"echo 'ab\r\n", 0, RESP_ERR, "Protocol error: unbalanced quotes in request", 0},
	{"echo a\0b\r\n", 10, RESP_OK, "echo|a", 0},
	{"PING", 0, RESP_MORE, "", 0},
};

static void join(const struct resp_req *r, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = 0;
	for (uint32_t i = 0; i < r->argc; i++) {
		if (i && n + 1 < cap)
			out[n++] = '|';
		size_t k = r->argv[i].len < cap - n - 1 ? r->argv[i].len : cap - n - 1;
		memcpy(out + n, r->argv[i].p, k);
		n += k;
		out[n] = 0;
	}
}

static void requests(void **state)
{
	(void)state;
	struct resp_req r;
	resp_req_init(&r);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct req_case *c = &cases[k];
		size_t len = c->in_len ? c->in_len : strlen(c->in), used, need;
		const char *err;
		int rc = resp_parse_request(&r, (const uint8_t *)c->in, len, &used, &need, &err);
		char got[256];
		join(&r, got, sizeof got);
		if (rc != c->status)
			fail_msg("case %zu (%s): status %d, want %d", k, c->in, rc, c->status);
		if (rc == RESP_OK && strcmp(got, c->args))
			fail_msg("case %zu: args '%s', want '%s'", k, got, c->args);
		if (rc == RESP_OK && used != (c->used ? c->used : len))
			fail_msg("case %zu: used %zu", k, used);
		if (rc == RESP_ERR && strcmp(err, c->args))
			fail_msg("case %zu: error '%s', want '%s'", k, err, c->args);
		if (rc == RESP_MORE)
			assert_true(need > len);
	}
	resp_req_free(&r);
}

static void limits(void **state)
{
	(void)state;
	struct resp_req r;
	resp_req_init(&r);
	size_t big = RESP_INLINE_MAX + 10, used, need;
	char *buf = calloc(1, big);
	const char *err;
	memset(buf, 'a', big);
	assert_int_equal(resp_parse_request(&r, (uint8_t *)buf, big, &used, &need, &err),
			 RESP_ERR);
	assert_string_equal(err, "Protocol error: too big inline request");
	buf[0] = '*';
	assert_int_equal(resp_parse_request(&r, (uint8_t *)buf, big, &used, &need, &err),
			 RESP_ERR);
	assert_string_equal(err, "Protocol error: too big mbulk count string");
	memcpy(buf, "*1\r\n$", 5);
	assert_int_equal(resp_parse_request(&r, (uint8_t *)buf, big, &used, &need, &err),
			 RESP_ERR);
	assert_string_equal(err, "Protocol error: too big bulk count string");
	/* a large bulk: told how much to wait for, not re-parsed byte by byte */
	const char *hdr = "*2\r\n$3\r\nSET\r\n$100000\r\n";
	assert_int_equal(resp_parse_request(&r, (const uint8_t *)hdr, strlen(hdr), &used, &need,
					    &err),
			 RESP_MORE);
	assert_int_equal(need, strlen(hdr) + 100000 + 2);
	free(buf);
	resp_req_free(&r);
}

/* A pipeline parsed from pieces split at random gives what it gives whole. */
static void any_split(void **state)
{
	(void)state;
	const char *pipe = "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nPING\r\n*0\r\nset 'a b' \"c\\n\"\r\n"
			   "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\n";
	const char *want[] = {"ECHO|hello", "PING", "", "set|a b|c\n", "SET|k|0123456789"};
	size_t total = strlen(pipe);
	struct prng p;
	prng_seed(&p, 3);
	struct resp_req r;
	resp_req_init(&r);
	for (int round = 0; round < 500; round++) {
		uint8_t buf[256];
		size_t have = 0, fed = 0, at = 0;
		int got = 0;
		while (got < 5) {
			if (fed < total) { /* feed a random piece */
				size_t k = 1 + (size_t)prng_below(&p, 8);
				if (fed + k > total)
					k = total - fed;
				memcpy(buf + have, pipe + fed, k);
				have += k;
				fed += k;
			}
			size_t used, need;
			const char *err;
			int rc;
			while ((rc = resp_parse_request(&r, buf + at, have - at, &used, &need,
							&err)) == RESP_OK) {
				char s[128];
				join(&r, s, sizeof s);
				assert_string_equal(s, want[got]);
				got++;
				at += used;
			}
			assert_int_equal(rc, RESP_MORE);
		}
		assert_int_equal(at, total);
	}
	resp_req_free(&r);
}

/* Random bytes never crash the parser and never read past the end. */
static void garbage(void **state)
{
	(void)state;
	struct prng p;
	prng_seed(&p, 11);
	struct resp_req r;
	resp_req_init(&r);
	const char alphabet[] = "*$\r\n0123456789-+ \"'\\xab";
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)prng_below(&p, 40);
		uint8_t *buf = malloc(len ? len : 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)alphabet[prng_below(&p, sizeof alphabet - 1)];
		size_t used, need, frame;
		const char *err;
		int rc = resp_parse_request(&r, buf, len, &used, &need, &err);
		assert_true(rc == RESP_OK || rc == RESP_MORE || rc == RESP_ERR);
		if (rc == RESP_OK)
			assert_true(used <= len);
		if (rc == RESP_ERR)
			assert_non_null(strstr(err, "Protocol error"));
		rc = resp_scan_reply(buf, len, &frame);
		if (rc == RESP_OK)
			assert_true(frame <= len);
		free(buf);
	}
	resp_req_free(&r);
}

static void replies(void **state)
{
	(void)state;
	struct {
		const char *in;
		int status;
		size_t frame;
	} t[] = {
		{"+OK\r\n", RESP_OK, 5},
		{"-ERR no\r\n+OK\r\n", RESP_OK, 9},
		{":-12\r\n", RESP_OK, 6},
		{"$3\r\nabc\r\n", RESP_OK, 9},
		{"$-1\r\n", RESP_OK, 5},
		{"*-1\r\n", RESP_OK, 5},
		{"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", RESP_OK, 19},
		{"%1\r\n+k\r\n,1.5\r\n", RESP_OK, 14},
		{"|1\r\n+a\r\n+b\r\n:3\r\n", RESP_OK, 16},
		{"=8\r\ntxt:abcd\r\n", RESP_OK, 14},
		{"_\r\n", RESP_OK, 3},
		{"*2\r\n$1\r\na\r\n", RESP_MORE, 0},
		{"$3\r\nab", RESP_MORE, 0},
		{"?x\r\n", RESP_ERR, 0},
		{"*x\r\n", RESP_ERR, 0},
		/* counts whose sum overflows: once wrapped to a false end */
		{"*2\r\n|9223372036854775807\r\n", RESP_ERR, 0},
		{"*3\r\n%9223372036854775807\r\n", RESP_ERR, 0},
		{"%4611686018427387904\r\n", RESP_MORE, 0},
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		size_t frame = 0;
		int rc = resp_scan_reply((const uint8_t *)t[k].in, strlen(t[k].in), &frame);
		if (rc != t[k].status || (rc == RESP_OK && frame != t[k].frame))
			fail_msg("reply %zu (%s): %d/%zu", k, t[k].in, rc, frame);
	}
}

static void encoder(void **state)
{
	(void)state;
	struct rbuf b;
	rbuf_init(&b);
	resp_simple(&b, "OK");
	resp_error(&b, "ERR bad\r\nthing");
	resp_int(&b, INT64_MIN);
	resp_bulk(&b, "a\0b", 3);
	resp_bulk_int(&b, 42);
	resp_null(&b, 2);
	resp_null(&b, 3);
	resp_null_array(&b, 2);
	resp_map(&b, 1, 2);
	resp_map(&b, 1, 3);
	resp_set(&b, 2, 3);
	resp_verbatim(&b, "hi", 2, 3);
	resp_verbatim(&b, "hi", 2, 2);
	const char want[] = "+OK\r\n-ERR bad  thing\r\n:-9223372036854775808\r\n$3\r\na\0b\r\n"
			    "$2\r\n42\r\n$-1\r\n_\r\n*-1\r\n*2\r\n%1\r\n~2\r\n=6\r\ntxt:hi\r\n"
			    "$2\r\nhi\r\n";
	assert_int_equal(b.len, sizeof want - 1);
	assert_memory_equal(b.p, want, b.len);
	rbuf_consume(&b, 5);
	assert_memory_equal(b.p, "-ERR", 4);
	rbuf_free(&b);
	int64_t v;
	assert_true(resp_str2ll((const uint8_t *)"-9223372036854775808", 20, &v));
	assert_true(v == INT64_MIN);
	assert_false(resp_str2ll((const uint8_t *)"9223372036854775808", 19, &v));
	assert_false(resp_str2ll((const uint8_t *)"-0", 2, &v));
	assert_false(resp_str2ll((const uint8_t *)"", 0, &v));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests),
		cmocka_unit_test(limits),
		cmocka_unit_test(any_split),
		cmocka_unit_test(garbage),
		cmocka_unit_test(replies),
		cmocka_unit_test(encoder),
	};
	return UNIT_RUN("resp", tests);
}
