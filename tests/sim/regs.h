/* tests/sim/regs.h — the simulator's small state machine: a few integer
 * registers with WRITE, INCR and CAS commands, a running hash of everything
 * applied (so two replicas can be compared by digest), and a snapshot
 * encoding with a checksum. Deterministic: same commands, same state. */
#ifndef KEEL_TESTS_SIM_REGS_H
#define KEEL_TESTS_SIM_REGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGS_KEYS 16

enum regs_op { REGS_WRITE = 1, REGS_INCR = 3, REGS_CAS = 4 }; /* as enum lin_kind */

struct regs_cmd {
	uint8_t op;
	uint32_t key;
	int64_t arg;
	int64_t arg2;
	uint64_t op_id; /* the client operation it carries (unique per run) */
};

#define REGS_CMD_BYTES (1 + 4 + 8 + 8 + 8)

struct regs {
	bool present[REGS_KEYS];
	int64_t value[REGS_KEYS];
	uint64_t applied; /* index of the last entry applied */
	uint64_t hash;	  /* running hash of every applied entry */
};

void regs_init(struct regs *kv);
uint32_t regs_cmd_encode(const struct regs_cmd *c, uint8_t *buf);
bool regs_cmd_decode(struct regs_cmd *c, const uint8_t *buf, uint32_t len);
/* Applies the entry at index (a command, or any other entry by its type);
 * *out is the command's result (INCR: new value; CAS: 1 or 0). */
void regs_apply(struct regs *kv, uint64_t index, uint64_t term, uint8_t type, const uint8_t *data,
	      uint32_t len, int64_t *out);
/* Snapshot: size of the encoding, then the encoding itself. */
size_t regs_snapshot_size(const struct regs *kv);
void regs_snapshot(const struct regs *kv, uint8_t *buf);
bool regs_restore(struct regs *kv, const uint8_t *buf, size_t len);

#endif
