/* kv/exec.c — running a command against the keyspace (its lookup and
 * arity check in kv/table.c, over the table generated from the spec files
 * in src/kv/commands/), and the helpers the commands share (kv/cmds.h).
 * Commands flagged KV_SERVER are in the table (for COMMAND and the arity
 * check) but carried out by the server. */
#include "kv/kv.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/assert.h"
#include "base/bytes.h"
#include "base/mem.h"
#include "kv/cmds.h"
#include "resp/encode.h"

void kv_init(struct kv *kv, uint64_t seed)
{
	kv_init_dbs(kv, seed, KV_DBS_DEFAULT);
}

void kv_init_dbs(struct kv *kv, uint64_t seed, uint32_t n_db)
{
	memset(kv, 0, sizeof *kv);
	kv->seed = seed;
	kv_reserve_dbs(kv, n_db);
	kv_dict_init(&kv->sessions, seed ^ 0x5E55);
	kv_dict_remember(&kv->sessions); /* a pipeline's requests look one session up in a row */
	kv->rand_state = seed ^ 0x9E3779B97F4A7C15ull;
}

void kv_free(struct kv *kv)
{
	for (uint32_t i = 0; i < kv->n_db; i++)
		kv_dict_free(&kv->db[i]);
	keel_free(kv->db);
	kv->db = NULL;
	kv->n_db = 0;
	kv_dict_free(&kv->sessions);
	kv->sess_head = kv->sess_tail = kv->sess_bytes = 0;
	kv->sess_tail_used = 0;
	rbuf_free(&kv->scratch);
	kv_slots_free(kv->slots);
	kv->slots = NULL;
}

void kv_reserve_dbs(struct kv *kv, uint32_t n_db)
{
	KEEL_ASSERT(n_db >= 1);
	KEEL_ASSERT(n_db <= KV_DBS_MAX);
	if (n_db <= kv->n_db)
		return;
	kv->db = keel_realloc(kv->db, n_db * sizeof *kv->db);
	for (uint32_t i = kv->n_db; i < n_db; i++) {
		kv_dict_init(&kv->db[i], kv->seed + i); /* database 0's seed is the keyspace's */
		kv_dict_by_slot(&kv->db[i]);
		kv_dict_hold(&kv->db[i], kv->hold);
	}
	kv->n_db = n_db;
}

uint64_t kv_keys_total(const struct kv *kv)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < kv->n_db; i++)
		n += kv_dict_size(&kv->db[i]);
	return n;
}

void kv_hold(struct kv *kv, bool hold)
{
	kv->hold = hold;
	for (uint32_t i = 0; i < kv->n_db; i++)
		kv_dict_hold(&kv->db[i], hold);
	kv_dict_hold(&kv->sessions, hold);
}

void kv_rehash_some(struct kv *kv, uint32_t n)
{
	for (uint32_t i = 0; i < kv->n_db; i++)
		kv_dict_rehash_some(&kv->db[i], n);
	kv_dict_rehash_some(&kv->sessions, n);
}

void kv_info_keyspace(const struct kv *const *kvs, uint32_t n, int64_t now_ms, struct rbuf *out)
{
	for (uint32_t i = 0; i < kvs[0]->n_db; i++) {
		uint64_t keys = 0, expires = 0;
		unsigned __int128 sum = 0;
		for (uint32_t k = 0; k < n; k++) {
			if (i >= kvs[k]->n_db)
				continue;
			const struct kv_dict *d = &kvs[k]->db[i];
			keys += kv_dict_size(d);
			expires += d->expires;
			sum += d->expire_sum;
		}
		if (!keys)
			continue;
		/* the mean time left of the keys with an expiry (0 if none, or if
		 * they are all due) */
		int64_t avg = 0;
		if (expires) {
			unsigned __int128 mean = sum / expires;
			avg = mean > (unsigned __int128)now_ms ? (int64_t)(mean - (uint64_t)now_ms)
							       : 0;
		}
		char line[128];
		snprintf(line, sizeof line, "db%u:keys=%llu,expires=%llu,avg_ttl=%lld\r\n", i,
			 (unsigned long long)keys, (unsigned long long)expires, (long long)avg);
		rbuf_puts(out, line);
	}
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
	if (!c->dbs)
		c->dbs = c->kv->n_db;
	KEEL_ASSERT(c->dbs <= KV_DBS_MAX);
	if (c->db >= c->dbs) { /* written through a node with more databases than the leader */
		resp_error(c->out, ERR_DB_RANGE);
		return NULL;
	}
	kv_reserve_dbs(c->kv, c->dbs); /* a count the leader stamped: every replica grows alike */
	cmd->fn(c);
	return cmd;
}

/* ---- helpers ----------------------------------------------------------- */

struct kv_entry *kv_find(struct kv_ctx *c, const struct resp_arg *key, bool writing)
{
	struct kv_entry *e = kv_dict_find(kv_db(c), key->p, key->len);
	if (e && e->expire && e->expire <= c->now_ms) {
		if (writing) {
			kv_dict_delete(kv_db(c), key->p, key->len);
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

bool kv_string_fits(struct kv_ctx *c, int64_t offset, uint64_t append)
{
	KEEL_ASSERT(offset >= 0);
	if (append > (uint64_t)KV_STRING_MAX || offset > KV_STRING_MAX - (int64_t)append) {
		resp_error(c->out, ERR_TOO_BIG);
		return false;
	}
	return true;
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
		e = kv_dict_add(kv_db(c), key->p, key->len);
	else if (!keep_ttl)
		kv_dict_expire(kv_db(c), e, 0);
	kv_entry_set(e, v, n);
	return e;
}

bool kv_remove(struct kv_ctx *c, const struct resp_arg *key)
{
	if (!kv_find(c, key, true))
		return false;
	kv_dict_delete(kv_db(c), key->p, key->len);
	return true;
}
