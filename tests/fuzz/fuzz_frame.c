/* tests/fuzz/fuzz_frame.c — peer frames (src/net/frame.c) as a peer's
 * connection delivers them: the envelope, then each payload by its kind
 * (HELLO's address format, a Raft message, REMOVED's index, QUIET's op,
 * term and index, LIVE's incarnation, LEADS's shards and terms, a GROUP
 * frame's group and inner
 * frame, whose payload is decoded by its kind). The first
 * input byte's low bit asks the harness to set each header's checksum
 * right before parsing, so mutations reach the payload decoders instead
 * of dying on the checksum. Properties: a frame consumes its header and
 * payload and no more; a HELLO that decodes encodes back to the same
 * bytes; a Raft message that decodes encodes back within its size bound;
 * a QUIET, LIVE or LEADS payload that decodes encodes back to the same
 * bytes; a
 * GROUP frame that opens names a group in 1..FRAME_GROUP_MAX and one of
 * the five group kinds, its inner payload within that kind's bound, and
 * its header written again is the same bytes. */
#include <string.h>

#include "fuzz.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "net/frame.h"
#include "raft/codec.h"

static void hello(const struct frame *f)
{
	struct frame_hello h;
	if (!frame_hello_decode(f->payload, f->len, &h))
		return;
	FUZZ_CHECK(h.id != 0);
	FUZZ_CHECK(strlen(h.peer_addr) > 0 && strlen(h.peer_addr) < FRAME_ADDR_MAX);
	uint8_t buf[FRAME_HELLO_MAX];
	size_t n = frame_hello_encode(&h, buf);
	FUZZ_CHECK(n == f->len && !memcmp(buf, f->payload, n));
}

static void raft(const struct frame *f)
{
	struct raft_msg m;
	if (raft_msg_decode(&m, f->payload, f->len) != KEEL_OK)
		return;
	size_t cap = raft_msg_size(&m);
	uint8_t *buf = keel_malloc(cap);
	size_t n = raft_msg_encode(&m, buf, cap);
	FUZZ_CHECK(n > 0 && n <= cap);
	keel_free(buf);
	raft_msg_decoded_free(&m);
}

/* A QUIET payload that decodes is one of its two ops, a term, no index
 * in a WAKE, and encodes back to the same bytes. */
static void quiet(const struct frame *f)
{
	struct frame_quiet q;
	uint8_t buf[FRAME_QUIET_LEN];
	if (!frame_quiet_decode(f->payload, f->len, &q))
		return;
	FUZZ_CHECK(f->len == FRAME_QUIET_LEN && q.term != 0);
	FUZZ_CHECK(q.op == FRAME_QUIET_SLEEP || (q.op == FRAME_QUIET_WAKE && q.index == 0));
	frame_quiet_encode(&q, buf);
	FUZZ_CHECK(!memcmp(buf, f->payload, sizeof buf));
}

/* A LIVE payload that decodes is 8 bytes of a non-zero incarnation. */
static void live(const struct frame *f)
{
	uint64_t inc;
	if (!frame_live_decode(f->payload, f->len, &inc))
		return;
	FUZZ_CHECK(f->len == FRAME_LIVE_LEN && inc != 0 && inc == bytes_get_u64(f->payload));
}

/* A LEADS payload that decodes names increasing shards below
 * FRAME_GROUP_MAX, each with a term, and encodes back to the same bytes. */
static void leads(const struct frame *f)
{
	static struct frame_lead l[FRAME_LEADS_MAX];
	static uint8_t buf[FRAME_LEADS_LEN(FRAME_LEADS_MAX)];
	uint32_t n;
	if (!frame_leads_decode(f->payload, f->len, l, &n))
		return;
	FUZZ_CHECK(n <= FRAME_LEADS_MAX && f->len == FRAME_LEADS_LEN(n));
	for (uint32_t i = 0; i < n; i++)
		FUZZ_CHECK(l[i].shard < FRAME_GROUP_MAX && l[i].term &&
			   (!i || l[i].shard > l[i - 1].shard));
	frame_leads_encode(l, n, buf);
	FUZZ_CHECK(!memcmp(buf, f->payload, f->len));
}

static void group(const struct frame *f)
{
	uint32_t id;
	uint8_t kind, hdr[FRAME_GROUP_HDR];
	const uint8_t *inner;
	size_t n;
	if (!frame_group_open(f->payload, f->len, &id, &kind, &inner, &n))
		return;
	FUZZ_CHECK(id >= 1 && id <= FRAME_GROUP_MAX);
	FUZZ_CHECK(kind == FRAME_RAFT || kind == FRAME_FORWARD || kind == FRAME_REPLY ||
		   kind == FRAME_REMOVED || kind == FRAME_QUIET);
	FUZZ_CHECK(n <= frame_kind_max(kind) && inner + n == f->payload + f->len);
	frame_group_header(hdr, id, kind);
	FUZZ_CHECK(!memcmp(hdr, f->payload, sizeof hdr));
	if (kind == FRAME_RAFT)
		raft(&(struct frame){kind, inner, (uint32_t)n});
	else if (kind == FRAME_QUIET)
		quiet(&(struct frame){kind, inner, (uint32_t)n});
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool fix = data[0] & 1;
	size_t n = size - 1;
	uint8_t *s = keel_memdup(data + 1, n);
	size_t at = 0;
	while (at < n) {
		size_t len = n - at, used = 0;
		uint8_t *b = s + at;
		if (fix && len >= FRAME_HDR && bytes_get_u32(b + 4) <= len - FRAME_HDR)
			bytes_put_u32(b + 8,
				      crc32c(crc32c(0, b, 8), b + FRAME_HDR, bytes_get_u32(b + 4)));
		struct frame f;
		const char *why = NULL;
		int rc = frame_parse(b, len, &f, &used, &why);
		if (rc == FRAME_BAD)
			FUZZ_CHECK(why != NULL);
		if (rc != FRAME_OK)
			break;
		FUZZ_CHECK(used == FRAME_HDR + (size_t)f.len && used <= len);
		FUZZ_CHECK(f.payload == b + FRAME_HDR);
		FUZZ_CHECK(f.kind >= FRAME_HELLO && f.kind <= FRAME_KIND_MAX);
		if (f.kind == FRAME_HELLO)
			hello(&f);
		else if (f.kind == FRAME_RAFT)
			raft(&f);
		else if (f.kind == FRAME_GROUP)
			group(&f);
		else if (f.kind == FRAME_QUIET)
			quiet(&f);
		else if (f.kind == FRAME_LIVE)
			live(&f);
		else if (f.kind == FRAME_LEADS)
			leads(&f);
		at += used;
	}
	keel_free(s);
	return 0;
}
