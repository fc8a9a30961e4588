/* kv/slot.c — a key's hash slot, as Redis Cluster computes it (the cluster
 * specification, "Keys distribution model"): CRC16-XMODEM (polynomial
 * 0x1021, initial value 0, no reflection) of the key, modulo 16384. When the
 * key has a '{' followed later by a '}' with at least one byte between the
 * first '{' and the first '}' after it, only those bytes are hashed (the hash
 * tag), so keys sharing a tag share a slot. Pure: the same key gives the
 * same slot on every node and every version. */
#include "kv/kv.h"

static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

uint16_t kv_crc16(const uint8_t *p, size_t n)
{
	return crc16(p, n);
}

uint16_t kv_slot(const uint8_t *key, size_t len)
{
	size_t open = 0;
	while (open < len && key[open] != '{')
		open++;
	if (open < len) {
		size_t close = open + 1;
		while (close < len && key[close] != '}')
			close++;
		if (close < len && close > open + 1)
			return crc16(key + open + 1, close - open - 1) & (KV_SLOTS - 1);
	}
	return crc16(key, len) & (KV_SLOTS - 1);
}
