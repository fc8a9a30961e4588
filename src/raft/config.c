/* raft/config.c — membership configurations: look-ups, quorum sizes, and the
 * byte format of a RAFT_ENTRY_CONFIG entry.
 *
 * Format (little-endian):
 *   u32 n                       number of members (<= RAFT_MEMBERS_MAX)
 *   n times:
 *     u64 id                    non-zero, unique
 *     u8  role                  1 voter, 2 learner
 *     u8  auto_promote          0 or 1
 *     u8  addr_len              < RAFT_ADDR_MAX
 *     addr_len bytes            the member's address, opaque to the core,
 *                               no NUL byte */
#include <string.h>

#include "base/bytes.h"
#include "raft/raft.h"

const struct raft_member *raft_config_find(const struct raft_config *c, raft_id id)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->members[i].id == id)
			return &c->members[i];
	return NULL;
}

bool raft_config_is_voter(const struct raft_config *c, raft_id id)
{
	const struct raft_member *m = raft_config_find(c, id);
	return m && m->role == RAFT_VOTER;
}

uint32_t raft_config_voters(const struct raft_config *c)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->n; i++)
		n += c->members[i].role == RAFT_VOTER;
	return n;
}

uint32_t raft_config_encode(const struct raft_config *c, uint8_t *buf)
{
	struct bytes_writer w;
	bytes_writer_init(&w, buf, RAFT_CONFIG_BYTES_MAX);
	bytes_write_u32(&w, c->n);
	for (uint32_t i = 0; i < c->n; i++) {
		const struct raft_member *m = &c->members[i];
		size_t alen = strnlen(m->addr, RAFT_ADDR_MAX - 1);
		bytes_write_u64(&w, m->id);
		bytes_write_u8(&w, m->role);
		bytes_write_u8(&w, m->auto_promote ? 1 : 0);
		bytes_write_u8(&w, (uint8_t)alen);
		bytes_write_raw(&w, m->addr, alen);
	}
	return w.err ? 0 : (uint32_t)w.off;
}

static int config_decode_member(struct bytes_reader *rd, struct raft_member *m)
{
	memset(m, 0, sizeof(*m));
	m->id = bytes_read_u64(rd);
	m->role = bytes_read_u8(rd);
	uint8_t promote = bytes_read_u8(rd);
	uint8_t alen = bytes_read_u8(rd);
	if (rd->err || m->id == RAFT_ID_NONE || promote > 1 || alen >= RAFT_ADDR_MAX)
		return KEEL_ECORRUPT;
	if (m->role != RAFT_VOTER && m->role != RAFT_LEARNER)
		return KEEL_ECORRUPT;
	m->auto_promote = promote;
	const uint8_t *addr = bytes_read_raw(rd, alen);
	if (!addr || memchr(addr, 0, alen))
		return KEEL_ECORRUPT; /* a NUL would cut the address short */
	memcpy(m->addr, addr, alen);
	return KEEL_OK;
}

int raft_config_decode(struct raft_config *c, const uint8_t *buf, uint32_t len)
{
	struct bytes_reader rd;
	bytes_reader_init(&rd, buf, len);
	memset(c, 0, sizeof(*c));
	uint32_t n = bytes_read_u32(&rd);
	if (rd.err || n > RAFT_MEMBERS_MAX)
		return KEEL_ECORRUPT;
	for (uint32_t i = 0; i < n; i++) {
		if (config_decode_member(&rd, &c->members[i]) != KEEL_OK)
			return KEEL_ECORRUPT;
		if (raft_config_find(c, c->members[i].id))
			return KEEL_ECORRUPT; /* duplicate id */
		c->n = i + 1;
	}
	if (bytes_reader_left(&rd) != 0)
		return KEEL_ECORRUPT;
	return KEEL_OK;
}
