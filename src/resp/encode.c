/* resp/encode.c — the reply encoder of resp/encode.h. */
#include "resp/encode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

size_t resp_ll2str(char *buf, int64_t v)
{
	char tmp[24];
	size_t n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	size_t k = 0;
	if (v < 0)
		buf[k++] = '-';
	while (n)
		buf[k++] = tmp[--n];
	return k;
}

/* <type><v>\r\n */
static void line_int(struct rbuf *b, char type, int64_t v)
{
	char *p = (char *)rbuf_reserve(b, 24);
	p[0] = type;
	size_t n = 1 + resp_ll2str(p + 1, v);
	p[n++] = '\r';
	p[n++] = '\n';
	b->len += n;
}

static void line_str(struct rbuf *b, char type, const char *s, size_t n)
{
	uint8_t *p = rbuf_reserve(b, n + 3);
	p[0] = (uint8_t)type;
	memcpy(p + 1, s, n);
	p[n + 1] = '\r';
	p[n + 2] = '\n';
	b->len += n + 3;
}

void resp_simple(struct rbuf *b, const char *s)
{
	line_str(b, '+', s, strlen(s));
}

void resp_help(struct rbuf *b, const char *const *lines, size_t n)
{
	resp_array(b, n);
	for (size_t i = 0; i < n; i++)
		resp_simple(b, lines[i]);
}

/* Newlines would break the framing: Redis replaces them with spaces. */
void resp_error(struct rbuf *b, const char *s)
{
	size_t n = strlen(s), at = b->len;
	line_str(b, '-', s, n);
	for (size_t i = at + 1; i < at + 1 + n; i++)
		if (b->p[i] == '\r' || b->p[i] == '\n')
			b->p[i] = ' ';
}

void resp_errorf(struct rbuf *b, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	resp_error(b, msg);
}

void resp_int(struct rbuf *b, int64_t v)
{
	line_int(b, ':', v);
}

void resp_bulk(struct rbuf *b, const void *p, size_t n)
{
	line_int(b, '$', (int64_t)n);
	uint8_t *d = rbuf_reserve(b, n + 2);
	if (n)
		memcpy(d, p, n);
	d[n] = '\r';
	d[n + 1] = '\n';
	b->len += n + 2;
}

void resp_bulk_str(struct rbuf *b, const char *s)
{
	resp_bulk(b, s, strlen(s));
}

void resp_bulk_int(struct rbuf *b, int64_t v)
{
	char tmp[24];
	resp_bulk(b, tmp, resp_ll2str(tmp, v));
}

void resp_null(struct rbuf *b, int proto)
{
	rbuf_puts(b, proto >= 3 ? "_\r\n" : "$-1\r\n");
}

void resp_null_array(struct rbuf *b, int proto)
{
	rbuf_puts(b, proto >= 3 ? "_\r\n" : "*-1\r\n");
}

void resp_array(struct rbuf *b, size_t n)
{
	line_int(b, '*', (int64_t)n);
}

void resp_map(struct rbuf *b, size_t n, int proto)
{
	if (proto >= 3)
		line_int(b, '%', (int64_t)n);
	else
		line_int(b, '*', (int64_t)(2 * n));
}

void resp_set(struct rbuf *b, size_t n, int proto)
{
	line_int(b, proto >= 3 ? '~' : '*', (int64_t)n);
}

void resp_verbatim(struct rbuf *b, const char *text, size_t n, int proto)
{
	if (proto < 3) {
		resp_bulk(b, text, n);
		return;
	}
	line_int(b, '=', (int64_t)n + 4);
	rbuf_put(b, "txt:", 4);
	rbuf_put(b, text, n);
	rbuf_put(b, "\r\n", 2);
}
