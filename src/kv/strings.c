/* kv/strings.c — the string commands, as Redis 7.0's t_string.c answers
 * them: GET SET (NX XX GET EX PX EXAT PXAT KEEPTTL) SETNX SETEX PSETEX
 * GETSET GETDEL GETEX MGET MSET MSETNX APPEND STRLEN GETRANGE SETRANGE
 * INCR DECR INCRBY DECRBY INCRBYFLOAT. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "kv/cmds.h"
#include "resp/encode.h"

enum {
	F_NX = 1 << 0,
	F_XX = 1 << 1,
	F_GET = 1 << 2,
	F_KEEPTTL = 1 << 3,
	F_PERSIST = 1 << 4,
	F_EX = 1 << 5,
	F_PX = 1 << 6,
	F_EXAT = 1 << 7,
	F_PXAT = 1 << 8,
};
#define F_EXPIRES (F_EX | F_PX | F_EXAT | F_PXAT)

static void reply_value(struct kv_ctx *c, const struct kv_entry *e)
{
	if (e)
		resp_bulk(c->out, e->val, e->vlen);
	else
		resp_null(c->out, c->proto);
}

void cmd_get(struct kv_ctx *c)
{
	reply_value(c, kv_find(c, &c->argv[1], false));
}

/* The expiry option argument i names, or 0. */
static int expire_flag(const struct kv_ctx *c, uint32_t i)
{
	return kv_arg_is(c, i, "ex")	 ? F_EX
	       : kv_arg_is(c, i, "px")	 ? F_PX
	       : kv_arg_is(c, i, "exat") ? F_EXAT
	       : kv_arg_is(c, i, "pxat") ? F_PXAT
					 : 0;
}

/* Redis's parseExtendedStringArgumentsOrReply: for SET (is_set) or GETEX. */
static bool parse_flags(struct kv_ctx *c, bool is_set, int *flags, uint32_t *expire_arg)
{
	*flags = 0;
	*expire_arg = 0;
	for (uint32_t j = is_set ? 3 : 2; j < c->argc; j++) {
		bool next = j + 1 < c->argc;
		int f = *flags;
		if (is_set && kv_arg_is(c, j, "nx") && !(f & F_XX)) {
			*flags |= F_NX;
		} else if (is_set && kv_arg_is(c, j, "xx") && !(f & F_NX)) {
			*flags |= F_XX;
		} else if (is_set && kv_arg_is(c, j, "get")) {
			*flags |= F_GET;
		} else if (is_set && kv_arg_is(c, j, "keepttl") && !(f & (F_PERSIST | F_EXPIRES))) {
			*flags |= F_KEEPTTL;
		} else if (!is_set && kv_arg_is(c, j, "persist") &&
			   !(f & (F_EXPIRES | F_KEEPTTL))) {
			*flags |= F_PERSIST;
		} else if (next && expire_flag(c, j) &&
			   !(f & (F_KEEPTTL | F_PERSIST | (F_EXPIRES & ~expire_flag(c, j))))) {
			/* the same option again is taken (the last one counts) */
			*flags |= expire_flag(c, j);
			*expire_arg = ++j;
		} else {
			resp_error(c->out, ERR_SYNTAX);
			return false;
		}
	}
	return true;
}

/* Redis's getExpireMillisecondsOrReply: the absolute expiry time in ms. */
static bool expire_ms(struct kv_ctx *c, uint32_t arg, int flags, const char *name, int64_t *ms)
{
	if (!kv_arg_ll(c, arg, ms))
		return false;
	bool seconds = flags & (F_EX | F_EXAT);
	if (*ms <= 0 || (seconds && *ms > INT64_MAX / 1000)) {
		kv_reply_expire_time(c, name);
		return false;
	}
	if (seconds)
		*ms *= 1000; /* at most INT64_MAX / 1000 * 1000: checked above */
	if ((flags & (F_EX | F_PX)) && (!kv_add_i64(*ms, c->now_ms, ms) || *ms <= 0)) {
		kv_reply_expire_time(c, name);
		return false;
	}
	return true;
}

/* Redis's setGenericCommand. */
static void set_generic(struct kv_ctx *c, int flags, const struct resp_arg *key,
			const struct resp_arg *val, uint32_t expire_arg, const char *name,
			const char *ok_reply, const char *abort_reply)
{
	int64_t when = 0;
	if (expire_arg && !expire_ms(c, expire_arg, flags, name, &when))
		return;
	struct kv_entry *e = kv_find(c, key, true);
	if (flags & F_GET)
		reply_value(c, e);
	if (((flags & F_NX) && e) || ((flags & F_XX) && !e)) {
		if (!(flags & F_GET)) {
			if (abort_reply)
				rbuf_puts(c->out, abort_reply);
			else
				resp_null(c->out, c->proto);
		}
		return;
	}
	if (expire_arg && when <= c->now_ms) {
		/* already expired: gone at once (Redis would remove it lazily) */
		kv_remove(c, key);
		if (!(flags & F_GET))
			rbuf_puts(c->out, ok_reply ? ok_reply : "+OK\r\n");
		return;
	}
	e = kv_store(c, key, val->p, val->len, flags & F_KEEPTTL);
	if (expire_arg)
		kv_dict_expire(kv_db(c), e, when);
	if (!(flags & F_GET))
		rbuf_puts(c->out, ok_reply ? ok_reply : "+OK\r\n");
}

void cmd_set(struct kv_ctx *c)
{
	int flags;
	uint32_t ea;
	if (parse_flags(c, true, &flags, &ea))
		set_generic(c, flags, &c->argv[1], &c->argv[2], ea, "set", NULL, NULL);
}

void cmd_setnx(struct kv_ctx *c)
{
	set_generic(c, F_NX, &c->argv[1], &c->argv[2], 0, "setnx", ":1\r\n", ":0\r\n");
}

void cmd_setex(struct kv_ctx *c)
{
	set_generic(c, F_EX, &c->argv[1], &c->argv[3], 2, "setex", NULL, NULL);
}

void cmd_psetex(struct kv_ctx *c)
{
	set_generic(c, F_PX, &c->argv[1], &c->argv[3], 2, "psetex", NULL, NULL);
}

void cmd_getset(struct kv_ctx *c)
{
	reply_value(c, kv_find(c, &c->argv[1], true));
	kv_store(c, &c->argv[1], c->argv[2].p, c->argv[2].len, false);
}

void cmd_getdel(struct kv_ctx *c)
{
	struct kv_entry *e = kv_find(c, &c->argv[1], true);
	reply_value(c, e);
	if (e)
		kv_remove(c, &c->argv[1]);
}

void cmd_getex(struct kv_ctx *c)
{
	int flags;
	uint32_t ea;
	int64_t when = 0;
	if (!parse_flags(c, false, &flags, &ea))
		return;
	/* Redis looks the key up before it checks the expiry value */
	struct kv_entry *e = kv_find(c, &c->argv[1], true);
	if (!e) {
		resp_null(c->out, c->proto);
		return;
	}
	if (ea && !expire_ms(c, ea, flags, "getex", &when))
		return;
	reply_value(c, e);
	if ((flags & (F_EXAT | F_PXAT)) && when <= c->now_ms) {
		kv_remove(c, &c->argv[1]);
	} else if (ea) {
		kv_dict_expire(kv_db(c), e, when);
	} else if ((flags & F_PERSIST) && e->expire) {
		kv_dict_expire(kv_db(c), e, 0);
	}
}

void cmd_mget(struct kv_ctx *c)
{
	resp_array(c->out, c->argc - 1);
	for (uint32_t i = 1; i < c->argc; i++)
		reply_value(c, kv_find(c, &c->argv[i], false));
}

static void mset_generic(struct kv_ctx *c, bool nx, const char *name)
{
	if (c->argc % 2 == 0) {
		kv_reply_arity(c->out, name);
		return;
	}
	if (nx) {
		for (uint32_t i = 1; i < c->argc; i += 2) {
			if (kv_find(c, &c->argv[i], true)) {
				resp_int(c->out, 0);
				return;
			}
		}
	}
	for (uint32_t i = 1; i < c->argc; i += 2)
		kv_store(c, &c->argv[i], c->argv[i + 1].p, c->argv[i + 1].len, false);
	if (nx)
		resp_int(c->out, 1);
	else
		resp_simple(c->out, "OK");
}

void cmd_mset(struct kv_ctx *c)
{
	mset_generic(c, false, "mset");
}

void cmd_msetnx(struct kv_ctx *c)
{
	mset_generic(c, true, "msetnx");
}

/* Makes e's value n bytes long (zero-filled growth), keeping its bytes. */
static void grow(struct kv_entry *e, size_t n)
{
	if (n > e->vcap) {
		size_t cap = e->vcap ? e->vcap : 16;
		while (cap < n)
			cap *= 2;
		e->val = keel_realloc(e->val, cap);
		e->vcap = cap;
	}
	if (n > e->vlen)
		memset(e->val + e->vlen, 0, n - e->vlen);
	e->vlen = n;
}

void cmd_append(struct kv_ctx *c)
{
	struct kv_entry *e = kv_find(c, &c->argv[1], true);
	const struct resp_arg *v = &c->argv[2];
	if (!e) {
		e = kv_store(c, &c->argv[1], v->p, v->len, false);
	} else {
		if (!kv_string_fits(c, (int64_t)e->vlen, v->len))
			return;
		size_t at = e->vlen;
		grow(e, at + v->len);
		if (v->len)
			memcpy(e->val + at, v->p, v->len);
	}
	resp_int(c->out, (int64_t)e->vlen);
}

void cmd_strlen(struct kv_ctx *c)
{
	struct kv_entry *e = kv_find(c, &c->argv[1], false);
	resp_int(c->out, e ? (int64_t)e->vlen : 0);
}

void cmd_getrange(struct kv_ctx *c)
{
	int64_t start, end;
	if (!kv_arg_ll(c, 2, &start) || !kv_arg_ll(c, 3, &end))
		return;
	struct kv_entry *e = kv_find(c, &c->argv[1], false);
	int64_t len = e ? (int64_t)e->vlen : 0;
	if (!e || (start < 0 && end < 0 && start > end)) {
		resp_bulk(c->out, "", 0);
		return;
	}
	if (start < 0)
		start = len + start;
	if (end < 0)
		end = len + end;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= len)
		end = len - 1;
	if (start > end || len == 0)
		resp_bulk(c->out, "", 0);
	else
		resp_bulk(c->out, e->val + start, (size_t)(end - start + 1));
}

void cmd_setrange(struct kv_ctx *c)
{
	int64_t off;
	if (!kv_arg_ll(c, 2, &off))
		return;
	if (off < 0) {
		resp_error(c->out, "ERR offset is out of range");
		return;
	}
	const struct resp_arg *v = &c->argv[3];
	struct kv_entry *e = kv_find(c, &c->argv[1], true);
	if (v->len == 0) {
		resp_int(c->out, e ? (int64_t)e->vlen : 0);
		return;
	}
	if (!kv_string_fits(c, off, v->len)) /* before anything is allocated */
		return;
	if (!e)
		e = kv_store(c, &c->argv[1], NULL, 0, false);
	if ((size_t)off + v->len > e->vlen)
		grow(e, (size_t)off + v->len);
	memcpy(e->val + off, v->p, v->len);
	resp_int(c->out, (int64_t)e->vlen);
}

/* Redis's incrDecrCommand. */
static void incr_by(struct kv_ctx *c, int64_t incr)
{
	struct kv_entry *e = kv_find(c, &c->argv[1], true);
	int64_t v = 0;
	if (e && !resp_str2ll(e->val, e->vlen, &v)) {
		resp_error(c->out, ERR_NOT_INT);
		return;
	}
	if (!kv_add_i64(v, incr, &v)) {
		resp_error(c->out, "ERR increment or decrement would overflow");
		return;
	}
	char buf[24];
	size_t n = resp_ll2str(buf, v);
	kv_store(c, &c->argv[1], (const uint8_t *)buf, n, true);
	resp_int(c->out, v);
}

void cmd_incr(struct kv_ctx *c)
{
	incr_by(c, 1);
}

void cmd_decr(struct kv_ctx *c)
{
	incr_by(c, -1);
}

void cmd_incrby(struct kv_ctx *c)
{
	int64_t by;
	if (kv_arg_ll(c, 2, &by))
		incr_by(c, by);
}

void cmd_decrby(struct kv_ctx *c)
{
	int64_t by;
	if (!kv_arg_ll(c, 2, &by))
		return;
	if (by == INT64_MIN) {
		resp_error(c->out, "ERR decrement would overflow");
		return;
	}
	incr_by(c, -by);
}

/* Redis's string2ld: strtold of the whole string (an embedded NUL makes it
 * invalid), no leading space. */
static bool str2ld(const uint8_t *p, size_t n, long double *out)
{
	char buf[5 * 1024];
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, p, n);
	buf[n] = 0;
	char *end;
	errno = 0;
	long double v = strtold(buf, &end);
	if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' || buf[0] == '\r' || buf[0] == '\v' ||
	    buf[0] == '\f' || end != buf + n ||
	    (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)) || errno == EINVAL ||
	    isnan(v))
		return false;
	*out = v;
	return true;
}

/* Redis's ld2string in its human mode: %.17Lf without trailing zeros. */
static size_t ld2str(char *buf, size_t cap, long double v)
{
	int l = snprintf(buf, cap, "%.17Lf", v);
	if (l < 0 || (size_t)l + 1 > cap)
		return 0;
	if (strchr(buf, '.')) {
		char *p = buf + l - 1;
		while (*p == '0') {
			p--;
			l--;
		}
		if (*p == '.')
			l--;
	}
	if (l == 2 && buf[0] == '-' && buf[1] == '0') {
		buf[0] = '0';
		l = 1;
	}
	return (size_t)l;
}

void cmd_incrbyfloat(struct kv_ctx *c)
{
	struct kv_entry *e = kv_find(c, &c->argv[1], true);
	long double v = 0, by;
	if ((e && !str2ld(e->val, e->vlen, &v)) || !str2ld(c->argv[2].p, c->argv[2].len, &by)) {
		resp_error(c->out, "ERR value is not a valid float");
		return;
	}
	v += by;
	if (isnan(v) || isinf(v)) {
		resp_error(c->out, "ERR increment would produce NaN or Infinity");
		return;
	}
	char buf[5 * 1024];
	size_t n = ld2str(buf, sizeof buf, v);
	kv_store(c, &c->argv[1], (const uint8_t *)buf, n, true);
	resp_bulk(c->out, buf, n);
}
