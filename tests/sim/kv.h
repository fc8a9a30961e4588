/* tests/sim/kv.h — the simulator's small state machine: a few integer
 * registers with WRITE, INCR and CAS commands, a running hash of everything
 * applied (so two replicas can be compared by digest), and a snapshot
 * encoding with a checksum. Deterministic: same commands, same state. */
#ifndef KEEL_TESTS_SIM_KV_H
#define KEEL_TESTS_SIM_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_KEYS 16

enum kv_op { KV_WRITE = 1, KV_INCR = 3, KV_CAS = 4 }; /* as enum lin_kind */

struct kv_cmd {
	uint8_t op;
	uint32_t key;
	int64_t arg;
	int64_t arg2;
	uint64_t op_id; /* the client operation it carries (unique per run) */
};

#define KV_CMD_BYTES (1 + 4 + 8 + 8 + 8)

struct kv {
	bool present[KV_KEYS];
	int64_t value[KV_KEYS];
	uint64_t applied; /* index of the last entry applied */
	uint64_t hash;	  /* running hash of every applied entry */
};

void kv_init(struct kv *kv);
uint32_t kv_cmd_encode(const struct kv_cmd *c, uint8_t *buf);
bool kv_cmd_decode(struct kv_cmd *c, const uint8_t *buf, uint32_t len);
/* Applies the entry at index (a command, or any other entry by its type);
 * *out is the command's result (INCR: new value; CAS: 1 or 0). */
void kv_apply(struct kv *kv, uint64_t index, uint64_t term, uint8_t type, const uint8_t *data,
	      uint32_t len, int64_t *out);
/* Snapshot: size of the encoding, then the encoding itself. */
size_t kv_snapshot_size(const struct kv *kv);
void kv_snapshot(const struct kv *kv, uint8_t *buf);
bool kv_restore(struct kv *kv, const uint8_t *buf, size_t len);

#endif
