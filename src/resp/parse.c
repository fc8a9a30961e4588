/* resp/parse.c — request parsing and reply scanning (resp/parse.h). The
 * rules follow Redis 7.0's networking.c (processMultibulkBuffer,
 * processInlineBuffer) and sds.c (sdssplitargs): a count or length must be
 * a strict integer (string2ll), the CRLF after a bulk is skipped unread,
 * a count <= 0 is an empty request, an inline line is split like a shell
 * line with "double" (escapes \n \r \t \b \a \xHH) and 'single' quotes. */
#include "resp/parse.h"

#include <string.h>

#include "base/mem.h"

void resp_req_init(struct resp_req *r)
{
	memset(r, 0, sizeof *r);
}

void resp_req_free(struct resp_req *r)
{
	keel_free(r->argv);
	keel_free(r->scratch);
	memset(r, 0, sizeof *r);
}

bool resp_str2ll(const uint8_t *p, size_t len, int64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	if (len == 1 && p[0] == '0') {
		*out = 0;
		return true;
	}
	bool neg = p[0] == '-';
	size_t i = neg ? 1 : 0;
	if (i == len || p[i] < '1' || p[i] > '9')
		return false;
	uint64_t v = 0;
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		uint64_t d = (uint64_t)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = (int64_t)(0 - v);
	} else {
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

static void push_arg(struct resp_req *r, const uint8_t *p, size_t len)
{
	if (r->argc == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->argv = keel_realloc(r->argv, r->cap * sizeof *r->argv);
	}
	r->argv[r->argc++] = (struct resp_arg){p, len};
}

/* The offset of the first '\r' (multibulk) or '\n' (inline) from `from`. */
static const uint8_t *find(const uint8_t *buf, size_t len, size_t from, uint8_t c)
{
	return from < len ? memchr(buf + from, c, len - from) : NULL;
}

/* Finds the byte c that ends a line, from `from`: RESP_OK with *nl, or
 * RESP_MORE, or RESP_ERR with too_big once more than RESP_INLINE_MAX
 * bytes since `start` wait for it. */
static int find_line(const uint8_t *buf, size_t len, size_t start, size_t from, uint8_t c,
		     const char *too_big, const uint8_t **nl, size_t *need, const char **err)
{
	*nl = find(buf, len, from, c);
	if (*nl)
		return RESP_OK;
	*need = len + 1;
	if (len - start > RESP_INLINE_MAX) {
		*err = too_big;
		return RESP_ERR;
	}
	return RESP_MORE;
}

/* ---- multibulk ----------------------------------------------------------- */

static int parse_multibulk(struct resp_req *r, const uint8_t *buf, size_t len, size_t *used,
			   size_t *need, const char **err)
{
	const uint8_t *nl;
	int rc = find_line(buf, len, 0, 1, '\r', "Protocol error: too big mbulk count string", &nl,
			   need, err);
	if (rc != RESP_OK)
		return rc;
	size_t pos = (size_t)(nl - buf);
	int64_t count;
	if (!resp_str2ll(buf + 1, pos - 1, &count) || count > (int64_t)RESP_ARGS_MAX) {
		*err = "Protocol error: invalid multibulk length";
		return RESP_ERR;
	}
	pos += 2; /* the "\r\n" (Redis skips the '\n' unread) */
	if (count <= 0) {
		if (pos > len) {
			*need = pos;
			return RESP_MORE;
		}
		*used = pos;
		return RESP_OK;
	}
	for (int64_t i = 0; i < count; i++) {
		if (pos >= len) {
			*need = pos + 1;
			return RESP_MORE;
		}
		if (buf[pos] != '$') {
			memcpy(r->err, "Protocol error: expected '$', got ' '", 38);
			r->err[35] = (char)buf[pos];
			*err = r->err;
			return RESP_ERR;
		}
		rc = find_line(buf, len, pos, pos + 1, '\r',
			       "Protocol error: too big bulk count string", &nl, need, err);
		if (rc != RESP_OK)
			return rc;
		int64_t blen;
		size_t lstart = pos + 1, lend = (size_t)(nl - buf);
		if (!resp_str2ll(buf + lstart, lend - lstart, &blen) || blen < 0 ||
		    (uint64_t)blen > RESP_BULK_MAX) {
			*err = "Protocol error: invalid bulk length";
			return RESP_ERR;
		}
		pos = lend + 2;
		if (pos + (size_t)blen + 2 > len) {
			*need = pos + (size_t)blen + 2;
			return RESP_MORE;
		}
		push_arg(r, buf + pos, (size_t)blen);
		pos += (size_t)blen + 2;
	}
	*used = pos;
	return RESP_OK;
}

/* ---- inline -------------------------------------------------------------- */

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int hex_val(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static uint8_t unescape(uint8_t c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'b':
		return '\b';
	case 'a':
		return '\a';
	default:
		return c;
	}
}

/* One token of sdssplitargs at line[*i] into out (at *o); false when the
 * quotes do not balance. end is the line's length (a NUL also ends it). */
static bool split_token(const uint8_t *line, size_t end, size_t *i, uint8_t *out, size_t *o)
{
	bool inq = false, insq = false;
	size_t p = *i;
	for (;;) {
		uint8_t c = p < end ? line[p] : 0;
		uint8_t c1 = p + 1 < end ? line[p + 1] : 0;
		if (inq) {
			int hi = p + 3 < end ? hex_val(line[p + 2]) : -1;
			int lo = p + 3 < end ? hex_val(line[p + 3]) : -1;
			if (c == '\\' && c1 == 'x' && hi >= 0 && lo >= 0) {
				out[(*o)++] = (uint8_t)(hi * 16 + lo);
				p += 3;
			} else if (c == '\\' && c1) {
				out[(*o)++] = unescape(c1);
				p++;
			} else if (c == '"') {
				if (c1 && !is_space(c1))
					return false; /* the closing quote must end the token */
				p++;
				break;
			} else if (!c) {
				return false;
			} else {
				out[(*o)++] = c;
			}
		} else if (insq) {
			if (c == '\\' && c1 == '\'') {
				out[(*o)++] = '\'';
				p++;
			} else if (c == '\'') {
				if (c1 && !is_space(c1))
					return false;
				p++;
				break;
			} else if (!c) {
				return false;
			} else {
				out[(*o)++] = c;
			}
		} else if (!c || is_space(c)) {
			break;
		} else if (c == '"') {
			inq = true;
		} else if (c == '\'') {
			insq = true;
		} else {
			out[(*o)++] = c;
		}
		p++;
	}
	*i = p;
	return true;
}

static int parse_inline(struct resp_req *r, const uint8_t *buf, size_t len, size_t *used,
			size_t *need, const char **err)
{
	const uint8_t *nl;
	int rc = find_line(buf, len, 0, 0, '\n', "Protocol error: too big inline request", &nl,
			   need, err);
	if (rc != RESP_OK)
		return rc;
	size_t end = (size_t)(nl - buf);
	if (end && buf[end - 1] == '\r')
		end--;
	if (r->scratch_cap < end + 1) {
		r->scratch_cap = end + 1;
		r->scratch = keel_realloc(r->scratch, r->scratch_cap);
	}
	/* tokens are unescaped into scratch; offsets first, pointers after */
	size_t i = 0, o = 0;
	for (;;) {
		while (i < end && buf[i] && is_space(buf[i]))
			i++;
		if (i >= end || !buf[i])
			break;
		size_t start = o;
		if (!split_token(buf, end, &i, r->scratch, &o)) {
			r->argc = 0;
			*err = "Protocol error: unbalanced quotes in request";
			return RESP_ERR;
		}
		push_arg(r, (const uint8_t *)(uintptr_t)start, o - start);
	}
	for (uint32_t k = 0; k < r->argc; k++)
		r->argv[k].p = r->scratch + (uintptr_t)r->argv[k].p;
	*used = (size_t)(nl - buf) + 1;
	return RESP_OK;
}

int resp_parse_request(struct resp_req *r, const uint8_t *buf, size_t len, size_t *used,
		       size_t *need, const char **err)
{
	r->argc = 0;
	*used = 0;
	*need = 0;
	*err = NULL;
	if (len == 0) {
		*need = 1;
		return RESP_MORE;
	}
	int rc = buf[0] == '*' ? parse_multibulk(r, buf, len, used, need, err)
			       : parse_inline(r, buf, len, used, need, err);
	if (rc != RESP_OK)
		r->argc = 0;
	return rc;
}

/* ---- replies --------------------------------------------------------------- */

/* The line at buf[pos..'\r'), its integer value when want_int. */
static int scan_line(const uint8_t *buf, size_t len, size_t pos, size_t *next, bool want_int,
		     int64_t *v)
{
	const uint8_t *nl = find(buf, len, pos, '\r');
	if (!nl)
		return RESP_MORE;
	size_t e = (size_t)(nl - buf);
	if (e + 1 >= len)
		return RESP_MORE;
	if (buf[e + 1] != '\n')
		return RESP_ERR;
	if (want_int && !resp_str2ll(buf + pos, e - pos, v))
		return RESP_ERR;
	*next = e + 2;
	return RESP_OK;
}

int resp_scan_reply(const uint8_t *buf, size_t len, size_t *frame)
{
	uint64_t pending = 1; /* values still to scan */
	size_t pos = 0;
	while (pending) {
		if (pos >= len)
			return RESP_MORE;
		uint8_t t = buf[pos];
		int64_t n = 0;
		size_t next;
		bool counted = strchr("$*%~>|=!", t) != NULL;
		if (!strchr("+-:_,#(", t) && !counted)
			return RESP_ERR;
		int rc = scan_line(buf, len, pos + 1, &next, counted, &n);
		if (rc != RESP_OK)
			return rc;
		pending--;
		pos = next;
		uint64_t more = 0; /* values this one holds */
		if ((t == '$' || t == '=' || t == '!') && n >= 0) {
			if (pos + (size_t)n + 2 > len)
				return RESP_MORE;
			pos += (size_t)n + 2;
		} else if ((t == '*' || t == '~' || t == '>') && n > 0) {
			more = (uint64_t)n;
		} else if (t == '%' && n > 0) {
			more = 2 * (uint64_t)n;
		} else if (t == '|' && n >= 0) {
			more = 2 * (uint64_t)n + 1; /* attributes, then the value */
		}
		/* counts that overflow the tally would wrap it to a false end */
		if (__builtin_add_overflow(pending, more, &pending))
			return RESP_ERR;
	}
	*frame = pos;
	return RESP_OK;
}
