/* replica/proto.c — encoding and checked decoding of replica/proto.h. */
#include "replica/proto.h"

#include <string.h>
#include <zstd.h>

#include "base/bytes.h"
#include "base/mem.h"
#include "net/frame.h"

#define ACCEPT_BYTES (4 + 1 + 1 + 8 * 5 + 4)
#define ACCEPT_GROUP (4 + 2 + 2) /* to a handshake that named a group */
#define TOPO_NODE    (8 + 2 + 2 + 1 + 1)
#define ENTRY_HDR    (8 + 1 + 4)

void repl_frame(struct rbuf *out, uint8_t kind, const void *payload, size_t len)
{
	uint8_t hdr[FRAME_HDR];
	frame_header(hdr, kind, payload, (uint32_t)len);
	rbuf_put(out, hdr, sizeof hdr);
	rbuf_put(out, payload, len);
}

void repl_accept_frame(struct rbuf *out, const struct repl_accept *a)
{
	uint8_t b[ACCEPT_BYTES + ACCEPT_GROUP];
	struct bytes_writer w;
	bytes_writer_init(&w, b, sizeof b);
	bytes_write_u32(&w, a->version);
	bytes_write_u8(&w, a->codec);
	bytes_write_u8(&w, a->mode);
	bytes_write_u64(&w, a->source_id);
	bytes_write_u64(&w, a->next);
	bytes_write_u64(&w, a->snap_index);
	bytes_write_u64(&w, a->snap_term);
	bytes_write_u64(&w, a->snap_size);
	bytes_write_u32(&w, a->snap_crc);
	if (a->has_group) {
		uint8_t s[4];
		bytes_put_u16(s, a->slot_first);
		bytes_put_u16(s + 2, a->slot_last);
		bytes_write_u32(&w, a->group);
		bytes_write_raw(&w, s, sizeof s);
	}
	repl_frame(out, REPL_ACCEPT, b, w.off);
}

int repl_accept_decode(const uint8_t *p, size_t n, struct repl_accept *a)
{
	struct bytes_reader r;
	bytes_reader_init(&r, p, n);
	a->version = bytes_read_u32(&r);
	a->codec = bytes_read_u8(&r);
	a->mode = bytes_read_u8(&r);
	a->source_id = bytes_read_u64(&r);
	a->next = bytes_read_u64(&r);
	a->snap_index = bytes_read_u64(&r);
	a->snap_term = bytes_read_u64(&r);
	a->snap_size = bytes_read_u64(&r);
	a->snap_crc = bytes_read_u32(&r);
	a->has_group = false;
	a->group = 0;
	a->slot_first = a->slot_last = 0;
	if (!r.err && bytes_reader_left(&r) == ACCEPT_GROUP) {
		a->has_group = true;
		a->group = bytes_read_u32(&r);
		const uint8_t *s = bytes_read_raw(&r, 4);
		if (s) {
			a->slot_first = bytes_get_u16(s);
			a->slot_last = bytes_get_u16(s + 2);
		}
	}
	if (r.err || bytes_reader_left(&r) || a->codec > REPL_ZSTD || a->mode > REPL_FROM_SNAPSHOT)
		return KEEL_ECORRUPT;
	return KEEL_OK;
}

void repl_payload_put(struct rbuf *out, uint8_t codec, const uint8_t *raw, size_t len)
{
	uint8_t h[5];
	if (codec == REPL_ZSTD && len > 64) {
		size_t cap = ZSTD_compressBound(len);
		uint8_t *dst = rbuf_reserve(out, 5 + cap) + 5;
		size_t z = ZSTD_compress(dst, cap, raw, len, 1);
		if (!ZSTD_isError(z) && z < len) {
			bytes_put_u8(out->p + out->len, REPL_ZSTD);
			bytes_put_u32(out->p + out->len + 1, (uint32_t)len);
			out->len += 5 + z;
			return;
		}
	}
	bytes_put_u8(h, REPL_RAW);
	bytes_put_u32(h + 1, (uint32_t)len);
	rbuf_put(out, h, sizeof h);
	rbuf_put(out, raw, len);
}

int repl_payload_get(const uint8_t *p, size_t n, const uint8_t **raw, size_t *raw_len,
		     uint8_t **scratch)
{
	*scratch = NULL;
	if (n < 5)
		return KEEL_ECORRUPT;
	uint8_t codec = p[0];
	uint32_t len = bytes_get_u32(p + 1);
	p += 5;
	n -= 5;
	if (codec == REPL_RAW) {
		if (n != len)
			return KEEL_ECORRUPT;
		*raw = p;
		*raw_len = n;
		return KEEL_OK;
	}
	if (codec != REPL_ZSTD || len > REPL_RAW_MAX)
		return KEEL_ECORRUPT;
	unsigned long long want = ZSTD_getFrameContentSize(p, n);
	if (want != len)
		return KEEL_ECORRUPT;
	uint8_t *out = keel_malloc(len ? len : 1);
	size_t got = ZSTD_decompress(out, len, p, n);
	if (ZSTD_isError(got) || got != len) {
		keel_free(out);
		return KEEL_ECORRUPT;
	}
	*scratch = out;
	*raw = out;
	*raw_len = len;
	return KEEL_OK;
}

void repl_entries_frame(struct rbuf *out, uint8_t codec, uint64_t source_applied,
			const struct repl_entry *e, uint32_t n)
{
	struct rbuf raw, pl;
	rbuf_init(&raw);
	rbuf_init(&pl);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *h = rbuf_reserve(&raw, ENTRY_HDR);
		bytes_put_u64(h, e[i].term);
		bytes_put_u8(h + 8, e[i].type);
		bytes_put_u32(h + 9, e[i].len);
		raw.len += ENTRY_HDR;
		rbuf_put(&raw, e[i].data, e[i].len);
	}
	rbuf_put_u64(&pl, n ? e[0].index : 0);
	rbuf_put_u64(&pl, source_applied);
	rbuf_put_u32(&pl, n);
	repl_payload_put(&pl, codec, raw.p, raw.len);
	repl_frame(out, REPL_ENTRIES, pl.p, pl.len);
	rbuf_free(&raw);
	rbuf_free(&pl);
}

int repl_entries_decode(const uint8_t *p, size_t n, uint64_t *source_applied,
			struct repl_entry **es, uint32_t *n_es, uint8_t **scratch)
{
	*es = NULL;
	*n_es = 0;
	*scratch = NULL;
	if (n < 20)
		return KEEL_ECORRUPT;
	uint64_t first = bytes_get_u64(p);
	*source_applied = bytes_get_u64(p + 8);
	uint32_t count = bytes_get_u32(p + 16);
	const uint8_t *raw = NULL;
	size_t raw_len = 0;
	int rc = repl_payload_get(p + 20, n - 20, &raw, &raw_len, scratch);
	if (rc)
		return rc;
	/* indexes first .. first + count - 1: never 0, never wrapping */
	if (count > raw_len / ENTRY_HDR ||
	    (count && (first == 0 || first > UINT64_MAX - (count - 1)))) {
		keel_free(*scratch);
		*scratch = NULL;
		return KEEL_ECORRUPT;
	}
	struct repl_entry *v = keel_calloc(count ? count : 1, sizeof *v);
	struct bytes_reader r;
	bytes_reader_init(&r, raw, raw_len);
	for (uint32_t i = 0; i < count; i++) {
		v[i].index = first + i;
		v[i].term = bytes_read_u64(&r);
		v[i].type = bytes_read_u8(&r);
		v[i].len = bytes_read_u32(&r);
		v[i].data = bytes_read_raw(&r, v[i].len);
	}
	if (r.err || bytes_reader_left(&r)) {
		keel_free(v);
		keel_free(*scratch);
		*scratch = NULL;
		return KEEL_ECORRUPT;
	}
	*es = v;
	*n_es = count;
	return KEEL_OK;
}

void repl_snap_frame(struct rbuf *out, uint8_t codec, uint64_t offset, const uint8_t *data,
		     size_t len)
{
	struct rbuf pl;
	rbuf_init(&pl);
	rbuf_put_u64(&pl, offset);
	repl_payload_put(&pl, codec, data, len);
	repl_frame(out, REPL_SNAP, pl.p, pl.len);
	rbuf_free(&pl);
}

void repl_topology_frame(struct rbuf *out, const struct repl_topology *t)
{
	struct rbuf pl;
	rbuf_init(&pl);
	rbuf_put_u64(&pl, t->term);
	uint8_t n = (uint8_t)(t->n < REPL_TOPO_NODES ? t->n : REPL_TOPO_NODES);
	rbuf_put(&pl, &n, 1);
	for (uint32_t i = 0; i < n; i++) {
		const struct repl_topo_node *m = &t->nodes[i];
		size_t len = strnlen(m->host, REPL_HOST_MAX - 1);
		uint8_t *h = rbuf_reserve(&pl, TOPO_NODE);
		bytes_put_u64(h, m->id);
		bytes_put_u16(h + 8, m->port);
		bytes_put_u16(h + 10, m->peer_port);
		bytes_put_u8(h + 12, m->flags);
		bytes_put_u8(h + 13, (uint8_t)len);
		pl.len += TOPO_NODE;
		rbuf_put(&pl, m->host, len);
	}
	repl_frame(out, REPL_TOPOLOGY, pl.p, pl.len);
	rbuf_free(&pl);
}

static bool host_ok(const uint8_t *h, size_t len)
{
	if (!h || !len || len >= REPL_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (h[i] < 0x21 || h[i] > 0x7e)
			return false;
	return true;
}

int repl_topology_decode(const uint8_t *p, size_t n, struct repl_topology *t)
{
	const uint8_t all = REPL_TOPO_LEADER | REPL_TOPO_UP | REPL_TOPO_VOTER;
	memset(t, 0, sizeof *t);
	if (n < 9 || p[8] > REPL_TOPO_NODES)
		return KEEL_ECORRUPT;
	t->term = bytes_get_u64(p);
	t->n = p[8];
	struct bytes_reader r;
	bytes_reader_init(&r, p + 9, n - 9);
	for (uint32_t i = 0; i < t->n; i++) {
		struct repl_topo_node *m = &t->nodes[i];
		const uint8_t *h = bytes_read_raw(&r, TOPO_NODE);
		if (!h)
			return KEEL_ECORRUPT;
		m->id = bytes_get_u64(h);
		m->port = bytes_get_u16(h + 8);
		m->peer_port = bytes_get_u16(h + 10);
		m->flags = h[12];
		const uint8_t *host = bytes_read_raw(&r, h[13]);
		if (!m->port || (m->flags & ~all) || !host_ok(host, h[13]))
			return KEEL_ECORRUPT;
		memcpy(m->host, host, h[13]);
	}
	return r.err || bytes_reader_left(&r) ? KEEL_ECORRUPT : KEEL_OK;
}

void repl_u64s_frame(struct rbuf *out, uint8_t kind, uint64_t a, uint64_t b)
{
	uint8_t p[16];
	bytes_put_u64(p, a);
	bytes_put_u64(p + 8, b);
	repl_frame(out, kind, p, sizeof p);
}
