/* resp/buf.c — the growable byte buffer of resp/buf.h. */
#include "resp/buf.h"

#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"

void rbuf_init(struct rbuf *b)
{
	memset(b, 0, sizeof *b);
}

void rbuf_free(struct rbuf *b)
{
	keel_free(b->p);
	memset(b, 0, sizeof *b);
}

uint8_t *rbuf_reserve(struct rbuf *b, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->p = keel_realloc(b->p, cap);
		b->cap = cap;
	}
	return b->p + b->len;
}

uint8_t *rbuf_reserve_exact(struct rbuf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->p = keel_realloc(b->p, b->len + n);
		b->cap = b->len + n;
	}
	return b->p + b->len;
}

void rbuf_shrink(struct rbuf *b, size_t cap)
{
	if (b->cap <= cap || b->len > cap || cap == 0)
		return;
	b->p = keel_realloc(b->p, cap);
	b->cap = cap;
}

void rbuf_put(struct rbuf *b, const void *p, size_t n)
{
	if (!n)
		return;
	memcpy(rbuf_reserve(b, n), p, n);
	b->len += n;
}

void rbuf_puts(struct rbuf *b, const char *s)
{
	rbuf_put(b, s, strlen(s));
}

void rbuf_put_u32(struct rbuf *b, uint32_t v)
{
	bytes_put_u32(rbuf_reserve(b, 4), v);
	b->len += 4;
}

void rbuf_put_u64(struct rbuf *b, uint64_t v)
{
	bytes_put_u64(rbuf_reserve(b, 8), v);
	b->len += 8;
}

void rbuf_consume(struct rbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}
