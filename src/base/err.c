/* base/err.c — the strings table for enum keel_err, and the error message
 * buffer that gains context as an error travels up the stack. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	const char *str;
} err_table[KEEL_ERR_COUNT] = {
	[KEEL_OK] = {"KEEL_OK", "ok"},
	[KEEL_ENOMEM] = {"KEEL_ENOMEM", "out of memory"},
	[KEEL_EINVAL] = {"KEEL_EINVAL", "invalid argument"},
	[KEEL_EIO] = {"KEEL_EIO", "i/o error"},
	[KEEL_ENOSPC] = {"KEEL_ENOSPC", "no space left on device"},
	[KEEL_ECORRUPT] = {"KEEL_ECORRUPT", "data corrupt"},
	[KEEL_ENOENT] = {"KEEL_ENOENT", "not found"},
	[KEEL_ENOTLEADER] = {"KEEL_ENOTLEADER", "not the leader"},
	[KEEL_ENOLEADER] = {"KEEL_ENOLEADER", "no leader known"},
	[KEEL_EBUSY] = {"KEEL_EBUSY", "busy"},
	[KEEL_ETOOBIG] = {"KEEL_ETOOBIG", "too big"},
	[KEEL_EPROTO] = {"KEEL_EPROTO", "protocol error"},
	[KEEL_ESTOPPED] = {"KEEL_ESTOPPED", "node stopped after a fatal error"},
	[KEEL_ETIMEDOUT] = {"KEEL_ETIMEDOUT", "timed out"},
	[KEEL_ESHUTDOWN] = {"KEEL_ESHUTDOWN", "shutting down"},
};

const char *keel_err_str(int err)
{
	if (err < 0 || err >= KEEL_ERR_COUNT || !err_table[err].str)
		return "unknown error";
	return err_table[err].str;
}

const char *keel_err_name(int err)
{
	if (err < 0 || err >= KEEL_ERR_COUNT || !err_table[err].name)
		return "KEEL_E?";
	return err_table[err].name;
}

void keel_errmsg_set(struct keel_errmsg *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof m->text, fmt, ap);
	va_end(ap);
}

void keel_errmsg_wrap(struct keel_errmsg *m, const char *fmt, ...)
{
	char out[KEEL_ERRMSG_MAX];
	char old[KEEL_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, sizeof out, fmt, ap);
	va_end(ap);
	memcpy(old, m->text, sizeof old);
	old[sizeof old - 1] = '\0';
	size_t n = strlen(out);
	/* "<context>: <old>", truncated to fit (snprintf would warn). */
	if (old[0] && n + 2 < sizeof out) {
		memcpy(out + n, ": ", 2);
		n += 2;
		size_t k = strlen(old);
		if (k > sizeof out - 1 - n)
			k = sizeof out - 1 - n;
		memcpy(out + n, old, k);
		out[n + k] = '\0';
	}
	memcpy(m->text, out, sizeof out);
}
