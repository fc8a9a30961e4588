/* net/frame.c — the peer frame envelope of net/frame.h. */
#include "net/frame.h"

#include <assert.h>
#include <string.h>

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

uint32_t frame_kind_max(uint8_t kind)
{
	switch (kind) {
	case FRAME_HELLO:
		return FRAME_HELLO_MAX;
	case FRAME_REMOVED:
		return 8;
	case FRAME_QUIET:
		return FRAME_QUIET_LEN;
	case FRAME_LIVE:
		return FRAME_LIVE_LEN;
	case FRAME_LEADS:
		return FRAME_LEADS_LEN(FRAME_LEADS_MAX);
	case FRAME_RAFT:
	case FRAME_FORWARD:
	case FRAME_REPLY:
		return FRAME_MAX;
	case FRAME_GROUP:
		return FRAME_MAX + FRAME_GROUP_HDR;
	default:
		return kind >= 32 && kind <= FRAME_KIND_MAX ? FRAME_MAX : FRAME_UNKNOWN_MAX;
	}
}

void frame_group_header(uint8_t hdr[FRAME_GROUP_HDR], uint32_t group, uint8_t kind)
{
	bytes_put_u32(hdr, group);
	hdr[4] = kind;
}

bool frame_group_open(const uint8_t *p, size_t n, uint32_t *group, uint8_t *kind,
		      const uint8_t **inner, size_t *inner_n)
{
	if (n < FRAME_GROUP_HDR)
		return false;
	*group = bytes_get_u32(p);
	*kind = p[4];
	*inner = p + FRAME_GROUP_HDR;
	*inner_n = n - FRAME_GROUP_HDR;
	bool group_kind = *kind == FRAME_RAFT || *kind == FRAME_FORWARD || *kind == FRAME_REPLY ||
			  *kind == FRAME_REMOVED || *kind == FRAME_QUIET;
	return *group >= 1 && *group <= FRAME_GROUP_MAX && group_kind &&
	       *inner_n <= frame_kind_max(*kind);
}

void frame_quiet_encode(const struct frame_quiet *q, uint8_t buf[FRAME_QUIET_LEN])
{
	buf[0] = q->op;
	bytes_put_u64(buf + 1, q->term);
	bytes_put_u64(buf + 9, q->index);
}

bool frame_quiet_decode(const uint8_t *p, size_t n, struct frame_quiet *q)
{
	if (n != FRAME_QUIET_LEN)
		return false;
	q->op = p[0];
	q->term = bytes_get_u64(p + 1);
	q->index = bytes_get_u64(p + 9);
	return q->term &&
	       (q->op == FRAME_QUIET_SLEEP || (q->op == FRAME_QUIET_WAKE && q->index == 0));
}

bool frame_live_decode(const uint8_t *p, size_t n, uint64_t *inc)
{
	if (n != FRAME_LIVE_LEN)
		return false;
	*inc = bytes_get_u64(p);
	return *inc != 0;
}

void frame_leads_encode(const struct frame_lead *l, uint32_t n, uint8_t *buf)
{
	bytes_put_u32(buf, n);
	for (uint32_t i = 0; i < n; i++) {
		bytes_put_u32(buf + 4 + 12 * (size_t)i, l[i].shard);
		bytes_put_u64(buf + 8 + 12 * (size_t)i, l[i].term);
	}
}

bool frame_leads_decode(const uint8_t *p, size_t len, struct frame_lead *out, uint32_t *n)
{
	if (len < 4)
		return false;
	uint32_t count = bytes_get_u32(p);
	if (count > FRAME_LEADS_MAX || len != FRAME_LEADS_LEN(count))
		return false;
	for (uint32_t i = 0; i < count; i++) {
		out[i].shard = bytes_get_u32(p + 4 + 12 * (size_t)i);
		out[i].term = bytes_get_u64(p + 8 + 12 * (size_t)i);
		if (out[i].shard >= FRAME_GROUP_MAX || !out[i].term ||
		    (i && out[i].shard <= out[i - 1].shard))
			return false;
	}
	*n = count;
	return true;
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
	if (buf[3] < FRAME_HELLO || buf[3] > FRAME_KIND_MAX || n > frame_kind_max(buf[3])) {
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

/* u64 id, "255.255.255.255:65535", NUL, two u16, u8, "255.255.255.255" */
static_assert(8 + 21 + 1 + 5 + 15 <= FRAME_HELLO_OLD_MAX,
	      "an IPv4 HELLO fits what a node before the client address takes");

static bool addr_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n >= FRAME_ADDR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] > '~')
			return false;
	return true;
}

size_t frame_hello_encode(const struct frame_hello *h, uint8_t *buf)
{
	size_t alen = strnlen(h->peer_addr, FRAME_ADDR_MAX);
	size_t hlen = strnlen(h->client_host, FRAME_ADDR_MAX);
	if (!h->id || !addr_ok((const uint8_t *)h->peer_addr, alen))
		return 0;
	bytes_put_u64(buf, h->id);
	memcpy(buf + 8, h->peer_addr, alen);
	size_t n = 8 + alen;
	if (!h->client_port)
		return n;
	if (!addr_ok((const uint8_t *)h->client_host, hlen))
		return 0;
	buf[n] = 0;
	bytes_put_u16(buf + n + 1, h->client_port);
	bytes_put_u16(buf + n + 3, h->sentinel_port);
	buf[n + 5] = (uint8_t)hlen;
	memcpy(buf + n + 6, h->client_host, hlen);
	return n + 6 + hlen;
}

bool frame_hello_decode(const uint8_t *p, size_t n, struct frame_hello *h)
{
	memset(h, 0, sizeof *h);
	if (n < FRAME_HELLO_MIN || n > FRAME_HELLO_MAX)
		return false;
	const uint8_t *nul = memchr(p + 8, 0, n - 8);
	size_t alen = nul ? (size_t)(nul - (p + 8)) : n - 8;
	if (!addr_ok(p + 8, alen))
		return false;
	h->id = bytes_get_u64(p);
	if (!h->id)
		return false;
	memcpy(h->peer_addr, p + 8, alen);
	if (!nul)
		return true;
	size_t at = 8 + alen + 1; /* the tail: ports, host length, host */
	size_t hlen = n >= at + 5 ? p[at + 4] : 0;
	uint16_t port = hlen ? bytes_get_u16(p + at) : 0;
	if (!port || n != at + 5 + hlen || !addr_ok(p + at + 5, hlen)) {
		memset(h, 0, sizeof *h); /* a tail that does not check out */
		return false;
	}
	h->client_port = port;
	h->sentinel_port = bytes_get_u16(p + at + 2);
	memcpy(h->client_host, p + at + 5, hlen);
	return true;
}
