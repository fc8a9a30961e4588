/* base/bytes.c — the bounded writer and reader of base/bytes.h. */
#include "base/bytes.h"

void bytes_writer_init(struct bytes_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->off = 0;
	w->err = false;
}

void bytes_write_raw(struct bytes_writer *w, const void *p, size_t n)
{
	if (w->err || n > w->cap - w->off) {
		w->err = true;
		return;
	}
	if (n)
		memcpy(w->buf + w->off, p, n);
	w->off += n;
}

void bytes_write_u8(struct bytes_writer *w, uint8_t v) { bytes_write_raw(w, &v, 1); }

void bytes_write_u32(struct bytes_writer *w, uint32_t v)
{
	uint8_t b[4];
	bytes_put_u32(b, v);
	bytes_write_raw(w, b, sizeof b);
}

void bytes_write_u64(struct bytes_writer *w, uint64_t v)
{
	uint8_t b[8];
	bytes_put_u64(b, v);
	bytes_write_raw(w, b, sizeof b);
}

void bytes_reader_init(struct bytes_reader *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->off = 0;
	r->err = false;
}

const uint8_t *bytes_read_raw(struct bytes_reader *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = true;
		return NULL;
	}
	const uint8_t *p = r->buf + r->off;
	r->off += n;
	return p;
}

uint8_t bytes_read_u8(struct bytes_reader *r)
{
	const uint8_t *p = bytes_read_raw(r, 1);
	return p ? p[0] : 0;
}

uint32_t bytes_read_u32(struct bytes_reader *r)
{
	const uint8_t *p = bytes_read_raw(r, 4);
	return p ? bytes_get_u32(p) : 0;
}

uint64_t bytes_read_u64(struct bytes_reader *r)
{
	const uint8_t *p = bytes_read_raw(r, 8);
	return p ? bytes_get_u64(p) : 0;
}

size_t bytes_reader_left(const struct bytes_reader *r)
{
	return r->err ? 0 : r->len - r->off;
}
