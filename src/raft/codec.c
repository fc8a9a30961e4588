/* raft/codec.c — Raft messages as bytes, for the wire between peers
 * (raft/codec.h). Decoding checks every length against the input and
 * every field against its range; it never trusts a peer. No term it
 * returns is past RAFT_TERM_MAX (raft.h): a larger one is a corrupt message.
 *
 * FORMAT (little-endian), version 1:
 *   u8 version, u8 type, u64 from, u64 to, u64 term, then by type:
 *   PREVOTE, VOTE:        u64 last_index, u64 last_term, u8 transfer
 *   PREVOTE_RESP, VOTE_RESP: u8 granted
 *   APPEND:               u64 prev_index, u64 prev_term, u64 commit,
 *                         u64 read_seq, u32 n, n x (u64 term, u64 index,
 *                         u8 type, u32 len, len bytes)
 *   APPEND_RESP:          u8 success, u64 match_index, u64 reject_index,
 *                         u64 conflict_term, u64 conflict_index, u64 read_seq
 *   SNAPSHOT:             u64 index, u64 term, u32 config_len, config
 *                         (raft_config_encode), u64 size, u32 crc,
 *                         u64 offset, u32 len, len bytes
 *   SNAPSHOT_RESP:        u64 next_offset, u8 done, u64 index
 *   TIMEOUT_NOW:          nothing
 *   READ_INDEX:           u64 req_id
 *   READ_INDEX_RESP:      u64 req_id, u64 index, u8 ok */
#include "raft/codec.h"

#include <string.h>

#include "base/bytes.h"
#include "base/mem.h"

#define CODEC_VERSION 1

size_t raft_msg_size(const struct raft_msg *m)
{
	size_t n = 2 + 24;
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		return n + 17;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		return n + 1;
	case RAFT_MSG_APPEND:
		n += 36;
		for (uint32_t i = 0; i < m->u.append.n_entries; i++)
			n += 21 + m->u.append.entries[i].len;
		return n;
	case RAFT_MSG_APPEND_RESP:
		return n + 41;
	case RAFT_MSG_SNAPSHOT:
		return n + 16 + 4 + RAFT_CONFIG_BYTES_MAX + 12 + 12 + m->u.snapshot.len;
	case RAFT_MSG_SNAPSHOT_RESP:
		return n + 17;
	case RAFT_MSG_READ_INDEX:
		return n + 8;
	case RAFT_MSG_READ_INDEX_RESP:
		return n + 17;
	default:
		return n;
	}
}

size_t raft_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap)
{
	struct bytes_writer w;
	bytes_writer_init(&w, buf, cap);
	bytes_write_u8(&w, CODEC_VERSION);
	bytes_write_u8(&w, m->type);
	bytes_write_u64(&w, m->from);
	bytes_write_u64(&w, m->to);
	bytes_write_u64(&w, m->term);
	const struct raft_msg_append *a = &m->u.append;
	const struct raft_msg_snapshot *s = &m->u.snapshot;
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		bytes_write_u64(&w, m->u.vote.last_index);
		bytes_write_u64(&w, m->u.vote.last_term);
		bytes_write_u8(&w, m->u.vote.transfer);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		bytes_write_u8(&w, m->u.vote_resp.granted);
		break;
	case RAFT_MSG_APPEND:
		bytes_write_u64(&w, a->prev_index);
		bytes_write_u64(&w, a->prev_term);
		bytes_write_u64(&w, a->commit);
		bytes_write_u64(&w, a->read_seq);
		bytes_write_u32(&w, a->n_entries);
		for (uint32_t i = 0; i < a->n_entries; i++) {
			const struct raft_entry *e = &a->entries[i];
			bytes_write_u64(&w, e->term);
			bytes_write_u64(&w, e->index);
			bytes_write_u8(&w, e->type);
			bytes_write_u32(&w, e->len);
			bytes_write_raw(&w, e->data, e->len);
		}
		break;
	case RAFT_MSG_APPEND_RESP: {
		const struct raft_msg_append_resp *r = &m->u.append_resp;
		bytes_write_u8(&w, r->success);
		bytes_write_u64(&w, r->match_index);
		bytes_write_u64(&w, r->reject_index);
		bytes_write_u64(&w, r->conflict_term);
		bytes_write_u64(&w, r->conflict_index);
		bytes_write_u64(&w, r->read_seq);
		break;
	}
	case RAFT_MSG_SNAPSHOT: {
		uint8_t conf[RAFT_CONFIG_BYTES_MAX];
		uint32_t clen = raft_config_encode(&s->meta.config, conf);
		bytes_write_u64(&w, s->meta.index);
		bytes_write_u64(&w, s->meta.term);
		bytes_write_u32(&w, clen);
		bytes_write_raw(&w, conf, clen);
		bytes_write_u64(&w, s->meta.size);
		bytes_write_u32(&w, s->meta.crc);
		bytes_write_u64(&w, s->offset);
		bytes_write_u32(&w, s->len);
		bytes_write_raw(&w, s->data, s->len);
		break;
	}
	case RAFT_MSG_SNAPSHOT_RESP:
		bytes_write_u64(&w, m->u.snapshot_resp.next_offset);
		bytes_write_u8(&w, m->u.snapshot_resp.done);
		bytes_write_u64(&w, m->u.snapshot_resp.index);
		break;
	case RAFT_MSG_READ_INDEX:
		bytes_write_u64(&w, m->u.read_index.req_id);
		break;
	case RAFT_MSG_READ_INDEX_RESP:
		bytes_write_u64(&w, m->u.read_index_resp.req_id);
		bytes_write_u64(&w, m->u.read_index_resp.index);
		bytes_write_u8(&w, m->u.read_index_resp.ok);
		break;
	default:
		break;
	}
	return w.err ? 0 : w.off;
}

static bool read_bool(struct bytes_reader *r)
{
	uint8_t v = bytes_read_u8(r);
	if (v > 1)
		r->err = true;
	return v == 1;
}

static int decode_append(struct bytes_reader *r, struct raft_msg_append *a)
{
	a->prev_index = bytes_read_u64(r);
	a->prev_term = bytes_read_u64(r);
	a->commit = bytes_read_u64(r);
	a->read_seq = bytes_read_u64(r);
	a->n_entries = bytes_read_u32(r);
	a->entries = NULL;
	/* each entry takes at least 21 bytes: a count beyond that is a lie */
	if (r->err || a->n_entries > bytes_reader_left(r) / 21)
		return KEEL_EPROTO;
	if (a->n_entries)
		a->entries = keel_calloc(a->n_entries, sizeof *a->entries);
	for (uint32_t i = 0; i < a->n_entries && !r->err; i++) {
		struct raft_entry *e = &a->entries[i];
		e->term = bytes_read_u64(r);
		e->index = bytes_read_u64(r);
		e->type = bytes_read_u8(r);
		e->len = bytes_read_u32(r);
		e->data = (uint8_t *)(uintptr_t)bytes_read_raw(r, e->len);
		if (e->type < RAFT_ENTRY_NOOP || e->type > RAFT_ENTRY_CONFIG ||
		    e->term > RAFT_TERM_MAX || e->len > RAFT_ENTRY_BYTES_MAX ||
		    e->index != a->prev_index + 1 + i)
			r->err = true;
	}
	return r->err ? KEEL_EPROTO : KEEL_OK;
}

static int decode_snapshot(struct bytes_reader *r, struct raft_msg_snapshot *s)
{
	s->meta.index = bytes_read_u64(r);
	s->meta.term = bytes_read_u64(r);
	uint32_t clen = bytes_read_u32(r);
	const uint8_t *conf = bytes_read_raw(r, clen);
	if (r->err || raft_config_decode(&s->meta.config, conf, clen) != KEEL_OK)
		return KEEL_EPROTO;
	s->meta.size = bytes_read_u64(r);
	s->meta.crc = bytes_read_u32(r);
	s->offset = bytes_read_u64(r);
	s->len = bytes_read_u32(r);
	s->data = bytes_read_raw(r, s->len);
	if (r->err || s->offset > s->meta.size || s->len > s->meta.size - s->offset ||
	    s->meta.term > RAFT_TERM_MAX)
		return KEEL_EPROTO;
	return KEEL_OK;
}

/* Every term a message carries is one a node may adopt or compare with
 * its own: none may be past RAFT_TERM_MAX (an honest node never holds one). */
static bool terms_in_range(const struct raft_msg *m)
{
	if (m->term > RAFT_TERM_MAX)
		return false;
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		return m->u.vote.last_term <= RAFT_TERM_MAX;
	case RAFT_MSG_APPEND:
		return m->u.append.prev_term <= RAFT_TERM_MAX;
	case RAFT_MSG_APPEND_RESP:
		return m->u.append_resp.conflict_term <= RAFT_TERM_MAX;
	default:
		return true;
	}
}

int raft_msg_decode(struct raft_msg *m, const uint8_t *buf, size_t len)
{
	struct bytes_reader r;
	bytes_reader_init(&r, buf, len);
	memset(m, 0, sizeof *m);
	if (bytes_read_u8(&r) != CODEC_VERSION)
		return KEEL_EPROTO;
	m->type = bytes_read_u8(&r);
	m->from = bytes_read_u64(&r);
	m->to = bytes_read_u64(&r);
	m->term = bytes_read_u64(&r);
	int rc = KEEL_OK;
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		m->u.vote.last_index = bytes_read_u64(&r);
		m->u.vote.last_term = bytes_read_u64(&r);
		m->u.vote.transfer = read_bool(&r);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		m->u.vote_resp.granted = read_bool(&r);
		break;
	case RAFT_MSG_APPEND:
		rc = decode_append(&r, &m->u.append);
		break;
	case RAFT_MSG_APPEND_RESP:
		m->u.append_resp.success = read_bool(&r);
		m->u.append_resp.match_index = bytes_read_u64(&r);
		m->u.append_resp.reject_index = bytes_read_u64(&r);
		m->u.append_resp.conflict_term = bytes_read_u64(&r);
		m->u.append_resp.conflict_index = bytes_read_u64(&r);
		m->u.append_resp.read_seq = bytes_read_u64(&r);
		break;
	case RAFT_MSG_SNAPSHOT:
		rc = decode_snapshot(&r, &m->u.snapshot);
		break;
	case RAFT_MSG_SNAPSHOT_RESP:
		m->u.snapshot_resp.next_offset = bytes_read_u64(&r);
		m->u.snapshot_resp.done = read_bool(&r);
		m->u.snapshot_resp.index = bytes_read_u64(&r);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		break;
	case RAFT_MSG_READ_INDEX:
		m->u.read_index.req_id = bytes_read_u64(&r);
		break;
	case RAFT_MSG_READ_INDEX_RESP:
		m->u.read_index_resp.req_id = bytes_read_u64(&r);
		m->u.read_index_resp.index = bytes_read_u64(&r);
		m->u.read_index_resp.ok = read_bool(&r);
		break;
	default:
		rc = KEEL_EPROTO;
	}
	if (rc == KEEL_OK && (r.err || bytes_reader_left(&r) != 0 || m->from == RAFT_ID_NONE))
		rc = KEEL_EPROTO;
	if (rc == KEEL_OK && !terms_in_range(m))
		rc = KEEL_EPROTO; /* a term no election could ever go past */
	if (rc != KEEL_OK)
		raft_msg_decoded_free(m);
	return rc;
}

void raft_msg_decoded_free(struct raft_msg *m)
{
	if (m->type == RAFT_MSG_APPEND) {
		keel_free(m->u.append.entries);
		m->u.append.entries = NULL;
		m->u.append.n_entries = 0;
	}
}

void raft_msg_clone(struct raft_msg *dst, const struct raft_msg *src)
{
	*dst = *src;
	if (src->type == RAFT_MSG_APPEND) {
		uint32_t k = src->u.append.n_entries;
		dst->u.append.entries = k ? keel_malloc(k * sizeof *dst->u.append.entries) : NULL;
		for (uint32_t i = 0; i < k; i++) {
			dst->u.append.entries[i] = src->u.append.entries[i];
			dst->u.append.entries[i].data = keel_memdup(src->u.append.entries[i].data,
								    src->u.append.entries[i].len);
		}
	} else if (src->type == RAFT_MSG_SNAPSHOT && src->u.snapshot.data) {
		dst->u.snapshot.data = keel_memdup(src->u.snapshot.data, src->u.snapshot.len);
	}
}

void raft_msg_clone_free(struct raft_msg *m)
{
	if (m->type == RAFT_MSG_APPEND) {
		for (uint32_t i = 0; i < m->u.append.n_entries; i++)
			keel_free(m->u.append.entries[i].data);
		keel_free(m->u.append.entries);
		m->u.append.entries = NULL;
		m->u.append.n_entries = 0;
	} else if (m->type == RAFT_MSG_SNAPSHOT) {
		keel_free((void *)(uintptr_t)m->u.snapshot.data);
		m->u.snapshot.data = NULL;
	}
}
