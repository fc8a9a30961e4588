/* kv/slot.h — Redis Cluster's hash slots (kv/slot.c): KV_SLOTS of them; a
 * key's slot is CRC16-XMODEM of the key, or of its hash tag (the bytes
 * between the first '{' and the first '}' after it, when there are any),
 * mod KV_SLOTS. Pure functions, below the keyspace's hash table (which
 * keeps its keys listed by slot) and everything above it. */
#ifndef KEEL_KV_SLOT_H
#define KEEL_KV_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define KV_SLOTS 16384u
uint16_t kv_crc16(const uint8_t *p, size_t n);
uint16_t kv_slot(const uint8_t *key, size_t len);
/* The last slot of the i-th of n equal ranges (0 <= i < n <= KV_SLOTS;
 * kv/slots.c), as redis-cli --cluster create splits them: a node of n
 * shards starts with shard i serving range i. */
uint16_t kv_slot_range_last(uint32_t i, uint32_t n);

#endif
