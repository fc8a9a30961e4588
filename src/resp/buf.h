/* resp/buf.h — a growable byte buffer: replies are encoded into one, and a
 * connection's input is gathered in one. */
#ifndef KEEL_RESP_BUF_H
#define KEEL_RESP_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rbuf {
	uint8_t *p;
	size_t len, cap;
};

void rbuf_init(struct rbuf *b);
void rbuf_free(struct rbuf *b);
/* Makes room for n more bytes; returns where they go (len unchanged). */
uint8_t *rbuf_reserve(struct rbuf *b, size_t n);
/* The same, growing the buffer to exactly len + n bytes when it must
 * grow (a request whose size is known: no doubling past it). */
uint8_t *rbuf_reserve_exact(struct rbuf *b, size_t n);
void rbuf_put(struct rbuf *b, const void *p, size_t n);
void rbuf_puts(struct rbuf *b, const char *s);
/* Little-endian integers (base/bytes.h's encoding). */
void rbuf_put_u32(struct rbuf *b, uint32_t v);
void rbuf_put_u64(struct rbuf *b, uint64_t v);
/* Gives back memory: the buffer's capacity becomes cap, if it holds no
 * more than cap bytes and has more. */
void rbuf_shrink(struct rbuf *b, size_t cap);
/* Drops the first n bytes. */
void rbuf_consume(struct rbuf *b, size_t n);

#endif
