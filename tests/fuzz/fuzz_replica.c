/* tests/fuzz/fuzz_replica.c — the read-replica stream (src/replica/proto.c):
 * frames as a source sends them (ACCEPT, ENTRIES, SNAP, TOPOLOGY, the u64
 * frames) with raw and zstd payloads. The first input byte chooses: bit 0 sets each
 * frame's checksum right before parsing; bit 1 builds an ENTRIES and a SNAP
 * frame with the real encoder, zstd-compressed, from the input's
 * description, then flips the bytes the input names, so the zstd decoder
 * meets nearly valid frames (unflipped, they must decode to what was
 * encoded). Properties: decoded entries lie in the payload or the scratch
 * it returned, their indexes are consecutive and do not wrap, a
 * decompressed payload stays within REPL_RAW_MAX; an ACCEPT or TOPOLOGY
 * that decodes encodes again to the same bytes, its hosts printable and
 * its ports not 0. */
#include <string.h>

#include "fuzz.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "net/frame.h"
#include "replica/proto.h"

static bool inside(const uint8_t *p, size_t len, const uint8_t *base, size_t cap)
{
	return !len || (base && p >= base && p + len <= base + cap);
}

/* Decodes one ENTRIES payload; n_out and the entries for the caller's
 * comparison (NULL: none wanted). */
static int entries(const uint8_t *p, size_t n, const struct repl_entry *want, uint32_t n_want)
{
	uint64_t applied;
	struct repl_entry *es;
	uint32_t n_es;
	uint8_t *scratch;
	int rc = repl_entries_decode(p, n, &applied, &es, &n_es, &scratch);
	if (rc != KEEL_OK) {
		FUZZ_CHECK(!es && !scratch);
		return rc;
	}
	for (uint32_t i = 0; i < n_es; i++) {
		FUZZ_CHECK(es[i].index == es[0].index + i && es[i].index >= es[0].index);
		FUZZ_CHECK(es[i].index != 0);
		FUZZ_CHECK(inside(es[i].data, es[i].len, p, n) ||
			   inside(es[i].data, es[i].len, scratch, REPL_RAW_MAX));
	}
	if (want) {
		FUZZ_CHECK(n_es == n_want);
		for (uint32_t i = 0; i < n_es; i++) {
			FUZZ_CHECK(es[i].index == want[i].index && es[i].term == want[i].term);
			FUZZ_CHECK(es[i].type == want[i].type && es[i].len == want[i].len);
			FUZZ_CHECK(!es[i].len || !memcmp(es[i].data, want[i].data, es[i].len));
		}
	}
	keel_free(es);
	keel_free(scratch);
	return rc;
}

static void payload(const uint8_t *p, size_t n)
{
	const uint8_t *raw;
	size_t raw_len;
	uint8_t *scratch;
	if (repl_payload_get(p, n, &raw, &raw_len, &scratch) != KEEL_OK) {
		FUZZ_CHECK(!scratch);
		return;
	}
	FUZZ_CHECK(raw_len <= REPL_RAW_MAX);
	FUZZ_CHECK(inside(raw, raw_len, p, n) || inside(raw, raw_len, scratch, raw_len));
	keel_free(scratch);
}

/* A decoded frame encodes again to the bytes it came from. */
static void same_bytes(const struct frame *f, const struct rbuf *again)
{
	FUZZ_CHECK(again->len == FRAME_HDR + f->len);
	FUZZ_CHECK(!f->len || !memcmp(again->p + FRAME_HDR, f->payload, f->len));
}

static void topology(const struct frame *f)
{
	struct repl_topology t;
	if (repl_topology_decode(f->payload, f->len, &t) != KEEL_OK)
		return;
	FUZZ_CHECK(t.n <= REPL_TOPO_NODES);
	for (uint32_t i = 0; i < t.n; i++) {
		size_t len = strnlen(t.nodes[i].host, REPL_HOST_MAX);
		FUZZ_CHECK(len > 0 && len < REPL_HOST_MAX && t.nodes[i].port);
		for (size_t k = 0; k < len; k++)
			FUZZ_CHECK(t.nodes[i].host[k] > 0x20 && t.nodes[i].host[k] < 0x7f);
	}
	struct rbuf b;
	rbuf_init(&b);
	repl_topology_frame(&b, &t);
	same_bytes(f, &b);
	rbuf_free(&b);
}

static void frame(const struct frame *f)
{
	struct repl_accept a;
	struct rbuf b;
	switch (f->kind) {
	case REPL_ACCEPT:
		if (repl_accept_decode(f->payload, f->len, &a) == KEEL_OK) {
			FUZZ_CHECK(a.codec <= REPL_ZSTD && a.mode <= REPL_FROM_SNAPSHOT);
			rbuf_init(&b);
			repl_accept_frame(&b, &a);
			same_bytes(f, &b);
			rbuf_free(&b);
		}
		break;
	case REPL_TOPOLOGY:
		topology(f);
		break;
	case REPL_ENTRIES:
		entries(f->payload, f->len, NULL, 0);
		break;
	case REPL_SNAP:
		if (f->len >= 8)
			payload(f->payload + 8, f->len - 8);
		break;
	default:
		break;
	}
}

static void stream(uint8_t *s, size_t n, bool fix)
{
	size_t at = 0;
	while (at < n) {
		size_t len = n - at, used = 0;
		uint8_t *b = s + at;
		if (fix && len >= FRAME_HDR && bytes_get_u32(b + 4) <= len - FRAME_HDR)
			bytes_put_u32(b + 8,
				      crc32c(crc32c(0, b, 8), b + FRAME_HDR, bytes_get_u32(b + 4)));
		struct frame f;
		const char *why;
		if (frame_parse(b, len, &f, &used, &why) != FRAME_OK)
			break;
		frame(&f);
		at += used;
	}
}

/* Entries described by the input (each a run of one byte: compressible),
 * encoded with zstd, then damaged where the input says. */
static void built(struct fuzz_in *in)
{
	struct repl_entry e[16];
	uint8_t data[16][256] = {{0}};
	uint32_t n = fuzz_below(in, 17);
	uint64_t first = fuzz_u64(in) | 1;
	for (uint32_t i = 0; i < n; i++) {
		e[i].index = first + i;
		e[i].term = fuzz_u8(in);
		e[i].type = fuzz_u8(in);
		e[i].len = fuzz_u8(in);
		memset(data[i], fuzz_u8(in), e[i].len);
		e[i].data = data[i];
	}
	if (n && first + n - 1 < first)
		n = 0; /* the encoder is not asked for indexes that wrap */
	struct rbuf out;
	rbuf_init(&out);
	repl_entries_frame(&out, REPL_ZSTD, fuzz_u64(in), e, n);
	size_t entries_end = out.len;
	repl_snap_frame(&out, REPL_ZSTD, fuzz_u64(in), data[0], sizeof data[0]);
	uint32_t flips = fuzz_below(in, 4);
	for (uint32_t i = 0; i < flips; i++) {
		uint32_t at = fuzz_u16(in) % out.len;
		out.p[at] ^= fuzz_u8(in) | 1;
	}
	if (!flips) {
		struct frame f;
		size_t used;
		const char *why;
		FUZZ_CHECK(frame_parse(out.p, entries_end, &f, &used, &why) == FRAME_OK);
		FUZZ_CHECK(entries(f.payload, f.len, e, n) == KEEL_OK);
	}
	stream(out.p, out.len, flips && (flips & 1));
	rbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	if (mode & 2) {
		built(&in);
		return 0;
	}
	uint8_t *s = keel_memdup(in.p, in.n);
	stream(s, in.n, mode & 1);
	keel_free(s);
	return 0;
}
