/* base/bytes.h — little-endian byte encoding, and a bounded reader that
 * never reads past its end (a short input sets a sticky error flag). */
#ifndef KEEL_BASE_BYTES_H
#define KEEL_BASE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void bytes_put_u8(uint8_t *p, uint8_t v) { p[0] = v; }
static inline void bytes_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void bytes_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void bytes_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t bytes_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t bytes_get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t bytes_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* A writer into a fixed buffer; overflow sets err and writes nothing more. */
struct bytes_writer {
	uint8_t *buf;
	size_t cap;
	size_t off;
	bool err;
};

/* A reader over a buffer it does not own; past the end sets err and
 * returns zeros. */
struct bytes_reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
	bool err;
};

void bytes_writer_init(struct bytes_writer *w, uint8_t *buf, size_t cap);
void bytes_write_u8(struct bytes_writer *w, uint8_t v);
void bytes_write_u32(struct bytes_writer *w, uint32_t v);
void bytes_write_u64(struct bytes_writer *w, uint64_t v);
void bytes_write_raw(struct bytes_writer *w, const void *p, size_t n);

void bytes_reader_init(struct bytes_reader *r, const void *buf, size_t len);
uint8_t bytes_read_u8(struct bytes_reader *r);
uint32_t bytes_read_u32(struct bytes_reader *r);
uint64_t bytes_read_u64(struct bytes_reader *r);
/* Returns a pointer to the next n bytes inside the buffer, or NULL (err). */
const uint8_t *bytes_read_raw(struct bytes_reader *r, size_t n);
size_t bytes_reader_left(const struct bytes_reader *r);

#endif
