/* tests/unit/test_table.c — the command table generated from the spec
 * files (src/kv/commands/, tools/gen_commands.py) and kv/table.c over it:
 * lookup by name in any case, subcommands and full names, the arity and
 * unknown-subcommand errors, keel's flags as the spec files derive them,
 * the legacy key positions against the key specs, and the key finding of
 * COMMAND GETKEYS for each kind of key spec (index, keyword, range,
 * keynum). What COMMAND replies is compared with redis-server by
 * tests/cluster/connection_test.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "kv/kv.h"
#include "resp/encode.h"

static const struct kv_cmd *find(const char *name)
{
	return kv_lookup((const uint8_t *)name, strlen(name));
}

static const struct kv_cmd *find_full(const char *name)
{
	return kv_lookup_full((const uint8_t *)name, strlen(name));
}

/* Splits line on spaces into argv (at most 16); returns argc. */
static uint32_t split(char *line, struct resp_arg *argv)
{
	uint32_t argc = 0;
	for (char *p = line; *p && argc < 16;) {
		char *e = strchr(p, ' ');
		if (e)
			*e = 0;
		argv[argc++] = (struct resp_arg){(const uint8_t *)p, strlen(p)};
		if (!e)
			break;
		p = e + 1;
	}
	return argc;
}

static void lookup(void **state)
{
	(void)state;
	uint32_t n;
	const struct kv_cmd *t = kv_commands(&n);
	assert_true(n > 50);
	for (uint32_t i = 0; i < n; i++) {
		char upper[64];
		size_t len = strlen(t[i].name);
		for (size_t k = 0; k <= len; k++)
			upper[k] = (char)(t[i].name[k] >= 'a' && t[i].name[k] <= 'z'
						  ? t[i].name[k] - 32
						  : t[i].name[k]);
		assert_ptr_equal(find(t[i].name), &t[i]);
		assert_ptr_equal(find(upper), &t[i]);
		assert_null(t[i].parent);
		if (i)
			assert_true(strcmp(t[i - 1].name, t[i].name) < 0); /* sorted */
		for (uint32_t k = 0; k < t[i].n_subs; k++)
			assert_ptr_equal(t[i].subs[k].parent, &t[i]);
	}
	assert_null(find("nosuch"));
	assert_null(find(""));
	assert_null(find("client|kill")); /* a full name is not a command name */
	assert_ptr_equal(kv_lookup((const uint8_t *)"getx", 3), find("get")); /* by length */
	char big[200];
	memset(big, 'a', sizeof big);
	assert_null(kv_lookup((const uint8_t *)big, sizeof big));
	const struct kv_cmd *client = find("CLIENT");
	assert_non_null(client);
	assert_true(client->n_subs >= 10);
	const struct kv_cmd *kill = kv_lookup_sub(client, (const uint8_t *)"KiLl", 4);
	assert_non_null(kill);
	assert_string_equal(kill->name, "client|kill");
	assert_ptr_equal(find_full("client|kill"), kill);
	assert_ptr_equal(find_full("CLIENT|KILL"), kill);
	assert_ptr_equal(find_full("client"), client);
	assert_null(find_full("client|nosuch"));
	assert_null(find_full("get|x"));
	assert_null(find_full("client|kill|x"));
	assert_null(find_full("|kill"));
}

/* keel's flags as the spec files derive them from Redis's. */
static void flags(void **state)
{
	(void)state;
	assert_int_equal(find("get")->flags, KV_READ | KV_MULTI_OK);
	assert_int_equal(find("set")->flags, KV_WRITE | KV_MULTI_OK);
	assert_int_equal(find("keel.expired")->flags, KV_WRITE | KV_MULTI_OK);
	assert_int_equal(find("ping")->flags, KV_MULTI_OK);
	assert_int_equal(find("multi")->flags, KV_SERVER | KV_CONNECTION);
	assert_int_equal(find("client")->flags, KV_SERVER | KV_CONNECTION);
	assert_int_equal(find("info")->flags, KV_SERVER); /* runs in turn */
	assert_int_equal(find_full("client|setinfo")->flags, KV_SERVER);
	uint32_t n;
	const struct kv_cmd *t = kv_commands(&n);
	for (uint32_t i = 0; i < n; i++) {
		/* the state machine runs exactly the commands it has a function for */
		assert_true(!(t[i].flags & KV_SERVER) == (t[i].fn != NULL));
		assert_false((t[i].flags & KV_READ) && (t[i].flags & KV_WRITE));
	}
	/* the legacy positions COMMAND shows, from the key specs */
	const struct kv_cmd *mset = find("mset"), *rename = find("rename");
	assert_int_equal(mset->first_key, 1);
	assert_int_equal(mset->last_key, -1);
	assert_int_equal(mset->key_step, 2);
	assert_int_equal(rename->first_key, 1);
	assert_int_equal(rename->last_key, 2);
	assert_int_equal(rename->key_step, 1);
	assert_int_equal(find("ping")->first_key, 0);
}

static const char *resolve(const char *line, struct rbuf *out)
{
	char buf[256];
	struct resp_arg argv[16];
	snprintf(buf, sizeof buf, "%s", line);
	uint32_t argc = split(buf, argv);
	out->len = 0;
	const struct kv_cmd *c = kv_resolve(argv, argc, out);
	if (c)
		return c->name;
	rbuf_put(out, "", 1);
	return (const char *)out->p;
}

static void resolving(void **state)
{
	(void)state;
	struct rbuf out;
	rbuf_init(&out);
	assert_string_equal(resolve("GET k", &out), "get");
	assert_string_equal(resolve("client kill 1.2.3.4:5", &out), "client|kill");
	assert_string_equal(resolve("CLIENT", &out),
			    "-ERR wrong number of arguments for 'client' command\r\n");
	assert_string_equal(resolve("client kill", &out),
			    "-ERR wrong number of arguments for 'client|kill' command\r\n");
	assert_string_equal(resolve("client id x", &out),
			    "-ERR wrong number of arguments for 'client|id' command\r\n");
	assert_string_equal(resolve("client nosuch a", &out),
			    "-ERR unknown subcommand 'nosuch'. Try CLIENT HELP.\r\n");
	assert_string_equal(resolve("Config x", &out),
			    "-ERR unknown subcommand 'x'. Try CONFIG HELP.\r\n");
	assert_string_equal(resolve("nosuch a", &out),
			    "-ERR unknown command 'nosuch', with args beginning with: 'a' \r\n");
	/* a command without subcommands takes any second word */
	assert_string_equal(resolve("ping hello", &out), "ping");
	rbuf_free(&out);
}

static char *keys_of(const struct kv_cmd *cmd, const char *line, char *got, size_t cap)
{
	char buf[256];
	struct resp_arg argv[16];
	uint32_t pos[32];
	const struct kv_key_spec *spec[32];
	snprintf(buf, sizeof buf, "%s", line);
	uint32_t argc = split(buf, argv);
	int n = kv_command_keys(cmd, argv, argc, pos, spec, 32);
	if (n < 0) {
		snprintf(got, cap, "invalid");
		return got;
	}
	size_t at = 0;
	got[0] = 0;
	for (int i = 0; i < n && at < cap; i++)
		at += (size_t)snprintf(got + at, cap - at, "%s%.*s(%s)", i ? " " : "",
				       (int)argv[pos[i]].len, (const char *)argv[pos[i]].p,
				       spec[i]->flags);
	return got;
}

/* COMMAND GETKEYS' key finding, for keel's commands and for key specs of
 * the kinds keel's commands do not use yet (as XREAD and EVAL have). */
static void getkeys(void **state)
{
	(void)state;
	char got[256];
	assert_string_equal(keys_of(find("get"), "get a", got, sizeof got), "a(RO access)");
	assert_string_equal(keys_of(find("mset"), "mset a 1 b 2", got, sizeof got),
			    "a(OW update) b(OW update)");
	assert_string_equal(keys_of(find("del"), "del a b c", got, sizeof got),
			    "a(RM delete) b(RM delete) c(RM delete)");
	assert_string_equal(keys_of(find("rename"), "rename a b", got, sizeof got),
			    "a(RW access delete) b(OW update)");
	assert_string_equal(keys_of(find("keel.expired"), "keel.expired a 1 b 2", got, sizeof got),
			    "a(RM delete) b(RM delete)");
	static const struct kv_key_spec streams[] = {{.flags = "RO access",
						      .begin = KV_BS_KEYWORD,
						      .keyword = "STREAMS",
						      .startfrom = 1,
						      .find = KV_FK_RANGE,
						      .lastkey = -1,
						      .keystep = 1,
						      .limit = 2}};
	struct kv_cmd xread = {
		.name = "xread", .arity = -4, .key_specs = streams, .n_key_specs = 1};
	assert_string_equal(keys_of(&xread, "xread count 2 streams a b 0 0", got, sizeof got),
			    "a(RO access) b(RO access)");
	assert_string_equal(keys_of(&xread, "xread count 2 block 0", got, sizeof got), "");
	static const struct kv_key_spec numkeys[] = {{.flags = "RW",
						      .begin = KV_BS_INDEX,
						      .index = 2,
						      .find = KV_FK_KEYNUM,
						      .keynumidx = 0,
						      .firstkey = 1,
						      .keystep = 1}};
	struct kv_cmd eval = {.name = "eval", .arity = -3, .key_specs = numkeys, .n_key_specs = 1};
	assert_string_equal(keys_of(&eval, "eval s 2 a b x", got, sizeof got), "a(RW) b(RW)");
	assert_string_equal(keys_of(&eval, "eval s 0", got, sizeof got), "invalid");
	assert_string_equal(keys_of(&eval, "eval s 3 a b", got, sizeof got), "invalid");
	assert_string_equal(keys_of(&eval, "eval s x a", got, sizeof got), "invalid");
	assert_string_equal(keys_of(&eval, "eval s -1 a", got, sizeof got), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookup),
		cmocka_unit_test(flags),
		cmocka_unit_test(resolving),
		cmocka_unit_test(getkeys),
	};
	return UNIT_RUN("table", tests);
}
