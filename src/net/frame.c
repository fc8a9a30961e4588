/* net/frame.c — the peer frame envelope of net/frame.h. */
#include "net/frame.h"

#include "base/bytes.h"
#include "base/crc32c.h"

void frame_header(uint8_t hdr[FRAME_HDR], uint8_t kind, const void *payload, uint32_t len)
{
	hdr[0] = 'K';
	hdr[1] = 'F';
	hdr[2] = FRAME_VERSION;
	hdr[3] = kind;
	bytes_put_u32(hdr + 4, len);
	bytes_put_u32(hdr + 8, crc32c(crc32c(0, hdr, 8), payload, len));
}

int frame_parse(const uint8_t *buf, size_t len, struct frame *f, size_t *used, const char **why)
{
	if (len < FRAME_HDR)
		return FRAME_MORE;
	if (buf[0] != 'K' || buf[1] != 'F') {
		*why = "not a keel peer frame";
		return FRAME_BAD;
	}
	if (buf[2] != FRAME_VERSION) {
		*why = "unsupported frame version";
		return FRAME_BAD;
	}
	uint32_t n = bytes_get_u32(buf + 4);
	if (n > FRAME_MAX || buf[3] < FRAME_HELLO || buf[3] > FRAME_KIND_MAX) {
		*why = "frame kind or length out of range";
		return FRAME_BAD;
	}
	if (len < FRAME_HDR + (size_t)n)
		return FRAME_MORE;
	if (bytes_get_u32(buf + 8) != crc32c(crc32c(0, buf, 8), buf + FRAME_HDR, n)) {
		*why = "frame checksum mismatch";
		return FRAME_BAD;
	}
	f->kind = buf[3];
	f->payload = buf + FRAME_HDR;
	f->len = n;
	*used = FRAME_HDR + n;
	return FRAME_OK;
}
