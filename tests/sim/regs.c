/* tests/sim/regs.c — the simulator's state machine (tests/sim/regs.h). */
#include "sim/regs.h"

#include <string.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "raft/raft.h"

void regs_init(struct regs *kv)
{
	memset(kv, 0, sizeof *kv);
}

uint32_t regs_cmd_encode(const struct regs_cmd *c, uint8_t *buf)
{
	struct bytes_writer w;
	bytes_writer_init(&w, buf, REGS_CMD_BYTES);
	bytes_write_u8(&w, c->op);
	bytes_write_u32(&w, c->key);
	bytes_write_u64(&w, (uint64_t)c->arg);
	bytes_write_u64(&w, (uint64_t)c->arg2);
	bytes_write_u64(&w, c->op_id);
	return (uint32_t)w.off;
}

bool regs_cmd_decode(struct regs_cmd *c, const uint8_t *buf, uint32_t len)
{
	struct bytes_reader r;
	bytes_reader_init(&r, buf, len);
	c->op = bytes_read_u8(&r);
	c->key = bytes_read_u32(&r);
	c->arg = (int64_t)bytes_read_u64(&r);
	c->arg2 = (int64_t)bytes_read_u64(&r);
	c->op_id = bytes_read_u64(&r);
	return !r.err && bytes_reader_left(&r) == 0 && c->key < REGS_KEYS;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

void regs_apply(struct regs *kv, uint64_t index, uint64_t term, uint8_t type, const uint8_t *data,
	      uint32_t len, int64_t *out)
{
	*out = 0;
	kv->applied = index;
	kv->hash = mix(mix(mix(kv->hash, index), term), crc32c(type, data, len));
	struct regs_cmd c;
	if (type != RAFT_ENTRY_COMMAND || !regs_cmd_decode(&c, data, len))
		return;
	int64_t *v = &kv->value[c.key];
	bool *p = &kv->present[c.key];
	switch (c.op) {
	case REGS_WRITE:
		*v = c.arg;
		*p = true;
		break;
	case REGS_INCR:
		*v = (*p ? *v : 0) + c.arg;
		*p = true;
		*out = *v;
		break;
	case REGS_CAS:
		if (*p && *v == c.arg) {
			*v = c.arg2;
			*out = 1;
		}
		break;
	default:
		break;
	}
}

/* Encoding: applied u64, hash u64, then per key: present u8, value u64;
 * then a crc32c of all that. */
size_t regs_snapshot_size(const struct regs *kv)
{
	(void)kv;
	return 8 + 8 + REGS_KEYS * 9 + 4;
}

void regs_snapshot(const struct regs *kv, uint8_t *buf)
{
	struct bytes_writer w;
	size_t n = regs_snapshot_size(kv);
	bytes_writer_init(&w, buf, n);
	bytes_write_u64(&w, kv->applied);
	bytes_write_u64(&w, kv->hash);
	for (int k = 0; k < REGS_KEYS; k++) {
		bytes_write_u8(&w, kv->present[k]);
		bytes_write_u64(&w, (uint64_t)kv->value[k]);
	}
	bytes_write_u32(&w, crc32c(0, buf, w.off));
}

bool regs_restore(struct regs *kv, const uint8_t *buf, size_t len)
{
	if (len != regs_snapshot_size(kv) ||
	    crc32c(0, buf, len - 4) != bytes_get_u32(buf + len - 4))
		return false;
	struct bytes_reader r;
	bytes_reader_init(&r, buf, len - 4);
	kv->applied = bytes_read_u64(&r);
	kv->hash = bytes_read_u64(&r);
	for (int k = 0; k < REGS_KEYS; k++) {
		kv->present[k] = bytes_read_u8(&r) != 0;
		kv->value[k] = (int64_t)bytes_read_u64(&r);
	}
	return !r.err;
}
