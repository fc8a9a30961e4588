/* kv/cmds.h — what the command files share inside src/kv: the command
 * functions the table in exec.c names, and small helpers with Redis's
 * exact error replies. Not for use outside src/kv. */
#ifndef KEEL_KV_CMDS_H
#define KEEL_KV_CMDS_H

#include <stdbool.h>
#include <stdint.h>

#include "kv/kv.h"

#define KV_STRING_MAX (512ll << 20) /* proto-max-bulk-len */

/* Redis's shared error replies. */
#define ERR_NOT_INT "ERR value is not an integer or out of range"
#define ERR_SYNTAX  "ERR syntax error"
#define ERR_NO_KEY  "ERR no such key"
#define ERR_TOO_BIG "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

#define ERR_DB_RANGE "ERR DB index is out of range"

/* Checked arithmetic (STYLE.md 14): every number a command takes is added
 * or multiplied through these, never with a bare operator that could
 * overflow (a committed entry runs on every node: an overflow there would
 * be undefined behaviour everywhere). False if the result does not fit. */
static inline bool kv_add_i64(int64_t a, int64_t b, int64_t *sum)
{
	return !__builtin_add_overflow(a, b, sum);
}

static inline bool kv_sub_i64(int64_t a, int64_t b, int64_t *diff)
{
	return !__builtin_sub_overflow(a, b, diff);
}

static inline bool kv_mul_i64(int64_t a, int64_t b, int64_t *prod)
{
	return !__builtin_mul_overflow(a, b, prod);
}

/* Redis's checkStringLength: a string of len bytes that grows to hold
 * append bytes at offset (append at the end: offset = len) stays within
 * KV_STRING_MAX. Replies ERR_TOO_BIG if not. offset >= 0. */
bool kv_string_fits(struct kv_ctx *c, int64_t offset, uint64_t append);

/* The database the command runs in (kv_exec has checked c->db). */
static inline struct kv_dict *kv_db(const struct kv_ctx *c)
{
	return &c->kv->db[c->db];
}

/* An argument as an int64 (Redis's string2ll); replies ERR_NOT_INT if not. */
bool kv_arg_ll(struct kv_ctx *c, uint32_t i, int64_t *v);
/* Case-insensitive comparison of argument i with s. */
bool kv_arg_is(const struct kv_ctx *c, uint32_t i, const char *s);
/* "ERR invalid expire time in '<name>' command". */
void kv_reply_expire_time(struct kv_ctx *c, const char *name);
/* Stores value under key (creating it), clearing its expiry unless keep. */
struct kv_entry *kv_store(struct kv_ctx *c, const struct resp_arg *key, const uint8_t *v, size_t n,
			  bool keep_ttl);
/* Deletes key if live; true if it was. */
bool kv_remove(struct kv_ctx *c, const struct resp_arg *key);

/* strings.c */
void cmd_get(struct kv_ctx *c);
void cmd_set(struct kv_ctx *c);
void cmd_setnx(struct kv_ctx *c);
void cmd_setex(struct kv_ctx *c);
void cmd_psetex(struct kv_ctx *c);
void cmd_getset(struct kv_ctx *c);
void cmd_getdel(struct kv_ctx *c);
void cmd_getex(struct kv_ctx *c);
void cmd_mget(struct kv_ctx *c);
void cmd_mset(struct kv_ctx *c);
void cmd_msetnx(struct kv_ctx *c);
void cmd_append(struct kv_ctx *c);
void cmd_strlen(struct kv_ctx *c);
void cmd_getrange(struct kv_ctx *c);
void cmd_setrange(struct kv_ctx *c);
void cmd_incr(struct kv_ctx *c);
void cmd_decr(struct kv_ctx *c);
void cmd_incrby(struct kv_ctx *c);
void cmd_decrby(struct kv_ctx *c);
void cmd_incrbyfloat(struct kv_ctx *c);

/* keys.c */
void cmd_del(struct kv_ctx *c);
void cmd_exists(struct kv_ctx *c);
void cmd_type(struct kv_ctx *c);
void cmd_keys(struct kv_ctx *c);
void cmd_scan(struct kv_ctx *c);
void cmd_dbsize(struct kv_ctx *c);
void cmd_rename(struct kv_ctx *c);
void cmd_renamenx(struct kv_ctx *c);
void cmd_randomkey(struct kv_ctx *c);
void cmd_flushdb(struct kv_ctx *c);
void cmd_flushall(struct kv_ctx *c);
void cmd_move(struct kv_ctx *c);
void cmd_swapdb(struct kv_ctx *c);
void cmd_expire(struct kv_ctx *c);
void cmd_pexpire(struct kv_ctx *c);
void cmd_expireat(struct kv_ctx *c);
void cmd_pexpireat(struct kv_ctx *c);
void cmd_ttl(struct kv_ctx *c);
void cmd_pttl(struct kv_ctx *c);
void cmd_persist(struct kv_ctx *c);
void cmd_expired(struct kv_ctx *c);
void cmd_keel_slots(struct kv_ctx *c);
void cmd_expire_sessions(struct kv_ctx *c); /* kv/session.c */
void cmd_ping(struct kv_ctx *c);
void cmd_echo(struct kv_ctx *c);
void cmd_select(struct kv_ctx *c);

#endif
