/* tests/unit/test_codec.c — src/raft/codec.c and the configuration format
 * of src/raft/config.c: every message type survives a round trip; every
 * truncation and every flipped byte of the header is refused or decodes to
 * a checked message; random bytes never crash; each field's range
 * (version, sender, flags, entry types and sizes, snapshot chunks within
 * their snapshot) is checked; a clone copies the payloads (and only them);
 * the fuzzer's findings (tests/fuzz/fuzz_raft.c) stay fixed; a
 * configuration with any field out of range is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "base/prng.h"
#include "raft/codec.h"

static void random_msg(struct prng *p, struct raft_msg *m, uint8_t type, struct raft_entry *ents,
		       uint8_t *data)
{
	memset(m, 0, sizeof *m);
	m->type = type;
	m->from = 1 + prng_below(p, 9);
	m->to = 1 + prng_below(p, 9);
	m->term = prng_next(p);
	switch (type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		m->u.vote.last_index = prng_next(p);
		m->u.vote.last_term = prng_next(p);
		m->u.vote.transfer = prng_below(p, 2);
		break;
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_VOTE_RESP:
		m->u.vote_resp.granted = prng_below(p, 2);
		break;
	case RAFT_MSG_APPEND:
		m->u.append.prev_index = prng_below(p, 1000);
		m->u.append.prev_term = prng_next(p);
		m->u.append.commit = prng_next(p);
		m->u.append.read_seq = prng_next(p);
		m->u.append.n_entries = (uint32_t)prng_below(p, 5);
		m->u.append.entries = ents;
		for (uint32_t i = 0; i < m->u.append.n_entries; i++)
			ents[i] = (struct raft_entry){prng_next(p), m->u.append.prev_index + 1 + i,
						      (uint8_t)(1 + prng_below(p, 2)),
						      (uint32_t)prng_below(p, 50), data};
		break;
	case RAFT_MSG_APPEND_RESP:
		m->u.append_resp.success = prng_below(p, 2);
		m->u.append_resp.match_index = prng_next(p);
		m->u.append_resp.reject_index = prng_next(p);
		m->u.append_resp.conflict_term = prng_next(p);
		m->u.append_resp.conflict_index = prng_next(p);
		m->u.append_resp.read_seq = prng_next(p);
		break;
	case RAFT_MSG_SNAPSHOT:
		m->u.snapshot.meta.index = prng_next(p);
		m->u.snapshot.meta.term = prng_next(p);
		m->u.snapshot.meta.config.n = 2;
		m->u.snapshot.meta.config.members[0] =
			(struct raft_member){1, RAFT_VOTER, false, "a"};
		m->u.snapshot.meta.config.members[1] =
			(struct raft_member){2, RAFT_LEARNER, true, "b"};
		m->u.snapshot.meta.size = 100;
		m->u.snapshot.meta.crc = (uint32_t)prng_next(p);
		m->u.snapshot.offset = prng_below(p, 50);
		m->u.snapshot.len = (uint32_t)prng_below(p, 50);
		m->u.snapshot.data = data;
		break;
	case RAFT_MSG_SNAPSHOT_RESP:
		m->u.snapshot_resp.next_offset = prng_next(p);
		m->u.snapshot_resp.done = prng_below(p, 2);
		m->u.snapshot_resp.index = prng_next(p);
		break;
	case RAFT_MSG_READ_INDEX:
		m->u.read_index.req_id = prng_next(p);
		break;
	case RAFT_MSG_READ_INDEX_RESP:
		m->u.read_index_resp.req_id = prng_next(p);
		m->u.read_index_resp.index = prng_next(p);
		m->u.read_index_resp.ok = prng_below(p, 2);
		break;
	default:
		break;
	}
}

/* The encodings of two messages are equal iff the messages are: compare
 * by re-encoding the decoded one. */
static void round_trip(void **state)
{
	(void)state;
	struct prng p;
	prng_seed(&p, 5);
	uint8_t data[64], a[4096], b[4096];
	for (int i = 0; i < 64; i++)
		data[i] = (uint8_t)(i * 7);
	struct raft_entry ents[8];
	for (int round = 0; round < 2000; round++) {
		uint8_t type = (uint8_t)(1 + prng_below(&p, RAFT_MSG_TYPE_MAX));
		struct raft_msg m, d;
		random_msg(&p, &m, type, ents, data);
		size_t n = raft_msg_encode(&m, a, sizeof a);
		assert_true(n > 0 && n <= raft_msg_size(&m));
		assert_int_equal(raft_msg_decode(&d, a, n), KEEL_OK);
		assert_int_equal(d.type, type);
		/* the size is exact but for a snapshot's (its configuration's
		 * largest size is counted) */
		if (type != RAFT_MSG_SNAPSHOT)
			assert_int_equal(raft_msg_size(&d), n);
		size_t n2 = raft_msg_encode(&d, b, sizeof b);
		assert_int_equal(n, n2);
		assert_memory_equal(a, b, n);
		raft_msg_decoded_free(&d);
		/* every truncation is refused */
		for (size_t k = 0; k < n; k++) {
			assert_int_equal(raft_msg_decode(&d, a, k), KEEL_EPROTO);
		}
		/* a trailing byte is refused */
		a[n] = 0;
		assert_int_equal(raft_msg_decode(&d, a, n + 1), KEEL_EPROTO);
	}
}

static void garbage(void **state)
{
	(void)state;
	struct prng p;
	prng_seed(&p, 9);
	uint8_t buf[256];
	for (int round = 0; round < 50000; round++) {
		size_t n = (size_t)prng_below(&p, sizeof buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)prng_next(&p);
		if (n > 1) {
			buf[0] = 1; /* the right version: deeper paths */
			buf[1] = (uint8_t)(1 + prng_below(&p, RAFT_MSG_TYPE_MAX + 1));
		}
		struct raft_msg d;
		if (raft_msg_decode(&d, buf, n) == KEEL_OK)
			raft_msg_decoded_free(&d);
	}
	uint8_t bad = 2;
	struct raft_msg d;
	assert_int_equal(raft_msg_decode(&d, &bad, 1), KEEL_EPROTO);
}

/* Found by tests/fuzz/fuzz_raft.c: a configuration whose address held a
 * NUL byte decoded (to an address cut at the NUL), so two different
 * entries meant one configuration and the bytes did not encode back. */
static void config_address_with_nul(void **state)
{
	(void)state;
	struct raft_config c = {.n = 1};
	c.members[0] = (struct raft_member){.id = 2, .role = RAFT_VOTER};
	snprintf(c.members[0].addr, RAFT_ADDR_MAX, "127.0.0.2:17002");
	uint8_t buf[RAFT_CONFIG_BYTES_MAX];
	uint32_t n = raft_config_encode(&c, buf);
	struct raft_config d;
	assert_int_equal(raft_config_decode(&d, buf, n), KEEL_OK);
	assert_string_equal(d.members[0].addr, "127.0.0.2:17002");
	buf[4 + 8 + 3 + 4] = 0; /* "127.\0.0.2:17002" */
	assert_int_equal(raft_config_decode(&d, buf, n), KEEL_ECORRUPT);
	/* and so is a snapshot message carrying it */
	struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 3};
	m.u.snapshot.meta.index = 9;
	m.u.snapshot.meta.config = c;
	uint8_t wire[512];
	size_t w = raft_msg_encode(&m, wire, sizeof wire);
	assert_true(w > 0);
	struct raft_msg got;
	assert_int_equal(raft_msg_decode(&got, wire, w), KEEL_OK);
	uint8_t *at = memmem(wire, w, "127.0.0.2", 9);
	assert_non_null(at);
	at[4] = 0;
	assert_int_equal(raft_msg_decode(&got, wire, w), KEEL_EPROTO);
}

/* A configuration's bytes, member by member, for the decoder's checks. */
struct cfg_bytes {
	uint8_t b[RAFT_CONFIG_BYTES_MAX + 128];
	uint32_t len;
};

static void cfg_u8(struct cfg_bytes *c, uint8_t v)
{
	c->b[c->len++] = v;
}

static void cfg_uint(struct cfg_bytes *c, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		cfg_u8(c, (uint8_t)(v >> (8 * i)));
}

static void cfg_member(struct cfg_bytes *c, uint64_t id, uint8_t role, uint8_t promote,
		       uint8_t alen, char fill)
{
	cfg_uint(c, id, 8);
	cfg_u8(c, role);
	cfg_u8(c, promote);
	cfg_u8(c, alen);
	for (uint8_t i = 0; i < alen; i++)
		cfg_u8(c, (uint8_t)fill);
}

/* Decodes the configuration those bytes hold. */
static int cfg_decode(const struct cfg_bytes *c, struct raft_config *out)
{
	return raft_config_decode(out, c->b, c->len);
}

/* A configuration entry comes from the log or a peer's snapshot: every
 * field is checked (a zero or repeated id, an unknown role, an
 * auto-promote flag other than 0/1, an address of RAFT_ADDR_MAX bytes or
 * cut short, more than RAFT_MEMBERS_MAX members, a short count, trailing
 * bytes), and every valid one decodes to what was encoded. */
static void config_decode_checks(void **state)
{
	(void)state;
	struct raft_config d;
	/* valid: both roles, both promote flags, the longest address */
	struct cfg_bytes ok = {0};
	cfg_uint(&ok, 3, 4);
	cfg_member(&ok, 1, RAFT_VOTER, 0, 0, 'a');
	cfg_member(&ok, 2, RAFT_LEARNER, 1, RAFT_ADDR_MAX - 1, 'b');
	cfg_member(&ok, 9, RAFT_LEARNER, 0, 3, 'c');
	assert_int_equal(cfg_decode(&ok, &d), KEEL_OK);
	assert_int_equal(d.n, 3);
	assert_int_equal(raft_config_voters(&d), 1);
	assert_true(raft_config_is_voter(&d, 1));
	assert_false(raft_config_is_voter(&d, 2));
	assert_false(raft_config_is_voter(&d, 5));
	assert_null(raft_config_find(&d, 5));
	assert_int_equal(d.members[1].auto_promote, 1);
	assert_int_equal(strlen(d.members[1].addr), RAFT_ADDR_MAX - 1);
	assert_string_equal(d.members[2].addr, "ccc");
	uint8_t again[RAFT_CONFIG_BYTES_MAX];
	assert_int_equal(raft_config_encode(&d, again), ok.len);
	assert_memory_equal(again, ok.b, ok.len);
	/* the empty configuration is four zero bytes; fewer is corrupt */
	struct cfg_bytes empty = {0};
	cfg_uint(&empty, 0, 4);
	assert_int_equal(cfg_decode(&empty, &d), KEEL_OK);
	assert_int_equal(d.n, 0);
	for (uint32_t len = 0; len < 4; len++)
		assert_int_equal(raft_config_decode(&d, empty.b, len), KEEL_ECORRUPT);
	/* each member's field out of range */
	struct {
		uint64_t id;
		uint8_t role, promote, alen;
	} bad[] = {
		{0, RAFT_VOTER, 0, 1},
		{4, 0, 0, 1},
		{4, 3, 0, 1},
		{4, RAFT_VOTER, 2, 1},
		{4, RAFT_LEARNER, 255, 1},
		{4, RAFT_VOTER, 0, RAFT_ADDR_MAX},
		{4, RAFT_VOTER, 0, RAFT_ADDR_MAX + 1},
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		struct cfg_bytes c = {0};
		cfg_uint(&c, 2, 4);
		cfg_member(&c, 1, RAFT_VOTER, 0, 2, 'x');
		cfg_member(&c, bad[k].id, bad[k].role, bad[k].promote, bad[k].alen, 'y');
		assert_int_equal(cfg_decode(&c, &d), KEEL_ECORRUPT);
	}
	/* a repeated id, first or last */
	struct cfg_bytes dup = {0};
	cfg_uint(&dup, 3, 4);
	cfg_member(&dup, 7, RAFT_VOTER, 0, 0, 'x');
	cfg_member(&dup, 8, RAFT_VOTER, 0, 0, 'x');
	cfg_member(&dup, 7, RAFT_LEARNER, 0, 0, 'x');
	assert_int_equal(cfg_decode(&dup, &d), KEEL_ECORRUPT);
	/* every cut of a valid configuration, and a byte too many */
	for (uint32_t len = 0; len < ok.len; len++)
		assert_int_equal(raft_config_decode(&d, ok.b, len), KEEL_ECORRUPT);
	struct cfg_bytes longer = ok;
	cfg_u8(&longer, 0);
	assert_int_equal(cfg_decode(&longer, &d), KEEL_ECORRUPT);
	/* RAFT_MEMBERS_MAX members decode; one more does not */
	struct cfg_bytes most = {0};
	cfg_uint(&most, RAFT_MEMBERS_MAX + 1, 4);
	for (uint64_t id = 1; id <= RAFT_MEMBERS_MAX + 1; id++)
		cfg_member(&most, id, RAFT_VOTER, 0, 1, 'z');
	assert_int_equal(cfg_decode(&most, &d), KEEL_ECORRUPT);
	most.b[0] = RAFT_MEMBERS_MAX;
	most.len -= 8 + 3 + 1;
	assert_int_equal(cfg_decode(&most, &d), KEEL_OK);
	assert_int_equal(d.n, RAFT_MEMBERS_MAX);
	assert_int_equal(raft_config_voters(&d), RAFT_MEMBERS_MAX);
}

/* Encodes a message of this type with term t in one field (0: the header,
 * 1: the type's term field, 2: an APPEND's entry) and decodes it. Sets
 * *has to whether the type has that field. */
static int decode_with_term(struct prng *p, uint8_t type, int field, raft_term t, bool *has)
{
	uint8_t data[64] = {0}, a[4096];
	struct raft_entry ents[8];
	struct raft_msg m, d;
	random_msg(p, &m, type, ents, data);
	m.term = field == 0 ? t : 7;
	raft_term f1 = field == 1 ? t : 3;
	*has = field == 0;
	if (type == RAFT_MSG_PREVOTE || type == RAFT_MSG_VOTE) {
		m.u.vote.last_term = f1;
		*has = *has || field == 1;
	} else if (type == RAFT_MSG_APPEND) {
		m.u.append.prev_term = f1;
		m.u.append.n_entries = 1;
		ents[0].term = field == 2 ? t : 3;
		*has = true;
	} else if (type == RAFT_MSG_APPEND_RESP) {
		m.u.append_resp.conflict_term = f1;
		*has = *has || field == 1;
	} else if (type == RAFT_MSG_SNAPSHOT) {
		m.u.snapshot.meta.term = f1;
		*has = *has || field == 1;
	}
	size_t n = raft_msg_encode(&m, a, sizeof a);
	assert_true(n > 0);
	int rc = raft_msg_decode(&d, a, n);
	if (rc == KEEL_OK)
		raft_msg_decoded_free(&d);
	return rc;
}

/* No field may carry a term past RAFT_TERM_MAX: an election could not go
 * past it (term + 1 would wrap), so a message with one is corrupt, in its
 * header or in any term field; RAFT_TERM_MAX itself decodes. */
static void terms_past_max(void **state)
{
	(void)state;
	struct prng p;
	prng_seed(&p, 11);
	for (uint8_t type = 1; type <= RAFT_MSG_TYPE_MAX; type++) {
		for (int field = 0; field < 3; field++) {
			bool has;
			assert_int_equal(decode_with_term(&p, type, field, RAFT_TERM_MAX, &has),
					 KEEL_OK);
			int rc = decode_with_term(&p, type, field, UINT64_MAX, &has);
			assert_int_equal(rc, has ? KEEL_EPROTO : KEEL_OK);
		}
	}
}

/* Encodes m, lets edit change the bytes, decodes: the status. */
static int decode_edited(const struct raft_msg *m, size_t at, uint8_t byte)
{
	static uint8_t a[4096];
	size_t n = raft_msg_encode(m, a, sizeof a);
	assert_true(n > at);
	a[at] = byte;
	struct raft_msg d;
	int rc = raft_msg_decode(&d, a, n);
	if (rc == KEEL_OK)
		raft_msg_decoded_free(&d);
	return rc;
}

/* The header: version 1 only, a sender always; a flag byte is 0 or 1. */
static void header_and_flags(void **state)
{
	(void)state;
	struct raft_msg m = {.type = RAFT_MSG_VOTE_RESP, .from = 2, .to = 1, .term = 4};
	m.u.vote_resp.granted = true;
	assert_int_equal(decode_edited(&m, 0, 1), KEEL_OK);
	assert_int_equal(decode_edited(&m, 0, 2), KEEL_EPROTO);
	assert_int_equal(decode_edited(&m, 0, 0), KEEL_EPROTO);
	assert_int_equal(decode_edited(&m, 2, 0), KEEL_EPROTO); /* from = 0 */
	assert_int_equal(decode_edited(&m, 26, 0), KEEL_OK);
	assert_int_equal(decode_edited(&m, 26, 2), KEEL_EPROTO);
	assert_int_equal(decode_edited(&m, 26, 255), KEEL_EPROTO);
}

/* An entry's type is NOOP, COMMAND or CONFIG; its length at most
 * RAFT_ENTRY_BYTES_MAX (a longer one is refused even when every byte of
 * it arrived). */
static void entry_fields(void **state)
{
	(void)state;
	uint8_t data[4] = {1, 2, 3, 4};
	struct raft_entry e = {
		.term = 2, .index = 8, .type = RAFT_ENTRY_COMMAND, .len = 4, .data = data};
	struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 2};
	m.u.append.prev_index = 7;
	m.u.append.prev_term = 2;
	m.u.append.n_entries = 1;
	m.u.append.entries = &e;
	size_t at = 2 + 24 + 36 + 16; /* the entry's type byte */
	for (uint8_t t = 0; t < 6; t++) {
		int want = t >= RAFT_ENTRY_NOOP && t <= RAFT_ENTRY_CONFIG ? KEEL_OK : KEEL_EPROTO;
		assert_int_equal(decode_edited(&m, at, t), want);
	}
	size_t big = (size_t)RAFT_ENTRY_BYTES_MAX + 1;
	uint8_t *payload = calloc(1, big), *wire = malloc(big + 128);
	assert_true(payload && wire);
	e.data = payload;
	struct raft_msg d;
	for (size_t len = big - 1; len <= big; len++) {
		e.len = (uint32_t)len;
		size_t n = raft_msg_encode(&m, wire, big + 128);
		assert_int_equal(n, raft_msg_size(&m));
		int rc = raft_msg_decode(&d, wire, n);
		assert_int_equal(rc, len < big ? KEEL_OK : KEEL_EPROTO);
		if (rc == KEEL_OK)
			raft_msg_decoded_free(&d);
	}
	free(payload);
	free(wire);
}

/* A snapshot chunk lies within the snapshot: offset <= size and
 * offset + len <= size (an empty snapshot is one empty chunk at 0). */
static void snapshot_chunk_bounds(void **state)
{
	(void)state;
	static const struct {
		uint64_t size, offset;
		uint32_t len;
		int rc;
	} cases[] = {
		{0, 0, 0, KEEL_OK},	  {10, 10, 0, KEEL_OK},	   {10, 4, 6, KEEL_OK},
		{10, 11, 0, KEEL_EPROTO}, {10, 4, 7, KEEL_EPROTO}, {0, 0, 1, KEEL_EPROTO},
	};
	uint8_t data[16] = {0}, a[1024];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 3};
		m.u.snapshot.meta.index = 5;
		m.u.snapshot.meta.term = 2;
		m.u.snapshot.meta.config.n = 1;
		m.u.snapshot.meta.config.members[0] =
			(struct raft_member){1, RAFT_VOTER, false, "a"};
		m.u.snapshot.meta.size = cases[i].size;
		m.u.snapshot.offset = cases[i].offset;
		m.u.snapshot.len = cases[i].len;
		m.u.snapshot.data = data;
		size_t n = raft_msg_encode(&m, a, sizeof a);
		assert_true(n > 0);
		struct raft_msg d;
		assert_int_equal(raft_msg_decode(&d, a, n), cases[i].rc);
	}
}

/* raft_msg_clone copies an append's entries and a chunk's data, and
 * nothing else: the union bytes a type does not use are never read as a
 * pointer (here they hold garbage). */
static void clone_copies_payloads(void **state)
{
	(void)state;
	struct raft_msg m, c;
	memset(&m, 0x5a, sizeof m);
	m.type = RAFT_MSG_READ_INDEX_RESP;
	m.from = 2, m.to = 1, m.term = 3;
	m.u.read_index_resp.req_id = 7;
	raft_msg_clone(&c, &m);
	assert_int_equal(c.u.read_index_resp.req_id, 7);
	raft_msg_clone_free(&c);

	uint8_t d1[3] = {1, 2, 3}, d2[2] = {4, 5};
	struct raft_entry e[2] = {
		{.term = 3, .index = 5, .type = RAFT_ENTRY_COMMAND, .len = 3, .data = d1},
		{.term = 3, .index = 6, .type = RAFT_ENTRY_COMMAND, .len = 2, .data = d2}};
	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_APPEND, m.from = 1, m.to = 2, m.term = 3;
	m.u.append.prev_index = 4, m.u.append.prev_term = 3;
	m.u.append.n_entries = 2, m.u.append.entries = e;
	raft_msg_clone(&c, &m);
	d1[0] = 9, d2[1] = 9; /* the clone has copies */
	assert_int_equal(c.u.append.n_entries, 2);
	assert_true(c.u.append.entries != e);
	assert_int_equal(c.u.append.entries[0].data[0], 1);
	assert_int_equal(c.u.append.entries[1].data[1], 5);
	assert_int_equal(c.u.append.entries[1].index, 6);
	raft_msg_clone_free(&c);
	assert_null(c.u.append.entries);

	memset(&m, 0, sizeof m);
	m.type = RAFT_MSG_SNAPSHOT, m.from = 1, m.to = 2, m.term = 3;
	m.u.snapshot.meta.size = 3, m.u.snapshot.len = 3, m.u.snapshot.data = d1;
	raft_msg_clone(&c, &m);
	d1[1] = 9;
	assert_true(c.u.snapshot.data != d1);
	assert_int_equal(c.u.snapshot.data[1], 2);
	raft_msg_clone_free(&c);
	assert_null(c.u.snapshot.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(garbage),
		cmocka_unit_test(config_address_with_nul),
		cmocka_unit_test(terms_past_max),
		cmocka_unit_test(config_decode_checks),
		cmocka_unit_test(header_and_flags),
		cmocka_unit_test(entry_fields),
		cmocka_unit_test(snapshot_chunk_bounds),
		cmocka_unit_test(clone_copies_payloads),
	};
	return UNIT_RUN("codec", tests);
}
