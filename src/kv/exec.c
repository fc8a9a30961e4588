/* kv/exec.c — running a command against the keyspace (its lookup and
 * arity check in kv/table.c, over the table generated from the spec files
 * in src/kv/commands/), and the helpers the commands share (kv/cmds.h).
 * Commands flagged KV_SERVER are in the table (for COMMAND and the arity
 * check) but carried out by the server. */
#include "kv/kv.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "kv/cmds.h"
#include "resp/encode.h"

void kv_init(struct kv *kv, uint64_t seed)
{
	memset(kv, 0, sizeof *kv);
	kv_dict_init(&kv->dict, seed);
	kv_dict_init(&kv->sessions, seed ^ 0x5E55);
	kv->rand_state = seed ^ 0x9E3779B97F4A7C15ull;
}

void kv_free(struct kv *kv)
{
	kv_dict_free(&kv->dict);
	kv_dict_free(&kv->sessions);
}

bool kv_session_get(struct kv *kv, uint64_t id, uint64_t *seq, const uint8_t **reply, size_t *len)
{
	uint8_t key[8];
	bytes_put_u64(key, id);
	struct kv_entry *e = kv_dict_find(&kv->sessions, key, sizeof key);
	if (!e || e->vlen < 8)
		return false;
	*seq = bytes_get_u64(e->val);
	*reply = e->val + 8;
	*len = e->vlen - 8;
	return true;
}

void kv_session_put(struct kv *kv, uint64_t id, uint64_t seq, const uint8_t *reply, size_t len)
{
	uint8_t key[8];
	bytes_put_u64(key, id);
	struct kv_entry *e = kv_dict_find(&kv->sessions, key, sizeof key);
	if (!e)
		e = kv_dict_add(&kv->sessions, key, sizeof key);
	uint8_t *v = keel_malloc(8 + len);
	bytes_put_u64(v, seq);
	if (len)
		memcpy(v + 8, reply, len);
	kv_entry_set(e, v, 8 + len);
	keel_free(v);
}

/* "%.*s" of an argument as Redis prints it: up to a NUL byte. */
static int c_len(const struct resp_arg *a, size_t max)
{
	const void *z = memchr(a->p, 0, a->len);
	size_t n = z ? (size_t)((const uint8_t *)z - a->p) : a->len;
	return (int)(n < max ? n : max);
}

void kv_reply_unknown(struct rbuf *out, const struct resp_arg *argv, uint32_t argc)
{
	char args[160] = "", msg[400];
	size_t n = 0;
	for (uint32_t i = 1; i < argc && n < 128; i++) {
		int w = snprintf(args + n, sizeof args - n, "'%.*s' ", c_len(&argv[i], 128 - n),
				 (const char *)argv[i].p);
		if (w > 0)
			n += (size_t)w < sizeof args - n ? (size_t)w : sizeof args - n - 1;
	}
	snprintf(msg, sizeof msg, "ERR unknown command '%.*s', with args beginning with: %s",
		 c_len(&argv[0], 128), (const char *)argv[0].p, args);
	resp_error(out, msg);
}

void kv_reply_arity(struct rbuf *out, const char *name)
{
	resp_errorf(out, "ERR wrong number of arguments for '%s' command", name);
}

const struct kv_cmd *kv_exec(struct kv_ctx *c)
{
	if (!c->argc) {
		resp_error(c->out, "ERR unknown command '', with args beginning with: ");
		return NULL;
	}
	const struct kv_cmd *cmd = kv_resolve(c->argv, c->argc, c->out);
	if (!cmd)
		return NULL;
	if (!cmd->fn) {
		resp_errorf(c->out, "ERR '%s' is handled by the server", cmd->name);
		return NULL;
	}
	cmd->fn(c);
	return cmd;
}

/* ---- helpers ----------------------------------------------------------- */

struct kv_entry *kv_find(struct kv_ctx *c, const struct resp_arg *key, bool writing)
{
	struct kv_entry *e = kv_dict_find(&c->kv->dict, key->p, key->len);
	if (e && e->expire && e->expire <= c->now_ms) {
		if (writing) {
			kv_dict_delete(&c->kv->dict, key->p, key->len);
		}
		return NULL;
	}
	return e;
}

bool kv_arg_ll(struct kv_ctx *c, uint32_t i, int64_t *v)
{
	if (resp_str2ll(c->argv[i].p, c->argv[i].len, v))
		return true;
	resp_error(c->out, ERR_NOT_INT);
	return false;
}

bool kv_arg_is(const struct kv_ctx *c, uint32_t i, const char *s)
{
	size_t n = strlen(s);
	return c->argv[i].len == n && !strncasecmp((const char *)c->argv[i].p, s, n);
}

void kv_reply_expire_time(struct kv_ctx *c, const char *name)
{
	resp_errorf(c->out, "ERR invalid expire time in '%s' command", name);
}

struct kv_entry *kv_store(struct kv_ctx *c, const struct resp_arg *key, const uint8_t *v, size_t n,
			  bool keep_ttl)
{
	struct kv_entry *e = kv_find(c, key, true);
	if (!e)
		e = kv_dict_add(&c->kv->dict, key->p, key->len);
	else if (!keep_ttl)
		e->expire = 0;
	kv_entry_set(e, v, n);
	return e;
}

bool kv_remove(struct kv_ctx *c, const struct resp_arg *key)
{
	if (!kv_find(c, key, true))
		return false;
	kv_dict_delete(&c->kv->dict, key->p, key->len);
	return true;
}
