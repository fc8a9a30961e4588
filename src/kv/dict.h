/* kv/dict.h — the keyspace's hash table: binary-safe keys, each with a
 * string value and an expiry time; chained buckets in a power-of-two
 * table that grows by rehashing incrementally (a step per operation), so
 * no single operation pays for a whole rehash; a reverse-binary cursor
 * for SCAN that sees every key present for the whole scan even across a
 * resize. A keyspace's table also lists its entries by hash slot
 * (kv_dict_by_slot), so that a slot's keys are found, counted or deleted
 * in time of their number, not the table's size. */
#ifndef KEEL_KV_DICT_H
#define KEEL_KV_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/slot.h"

struct kv_entry {
	struct kv_entry *next;
	/* the entry's slot's list (kv_dict_by_slot): the next entry, and the
	 * link that points at this one */
	struct kv_entry *snext, **sprev;
	uint64_t hash;
	int64_t expire; /* ms since the epoch; 0: none (set by kv_dict_expire) */
	uint8_t *val;
	size_t vlen, vcap;
	uint32_t klen;
	uint8_t key[];
};

struct kv_table {
	struct kv_entry **b;
	uint64_t size; /* 0 or a power of two */
	uint64_t used;
};

struct kv_dict {
	struct kv_table t[2]; /* t[1] is the target while rehashing */
	int64_t rehash;	      /* next bucket of t[0] to move; -1: not rehashing */
	uint64_t seed;
	bool hold; /* kv_dict_hold */
	/* the entries with an expiry, and the sum of their expiry times (for
	 * INFO keyspace's expires and avg_ttl without a walk): kept by
	 * kv_dict_expire, kv_dict_delete and kv_dict_free */
	uint64_t expires;
	unsigned __int128 expire_sum;
	/* kv_dict_by_slot: each slot's first entry (KV_SLOTS of them, made
	 * with the first entry) */
	bool by_slot;
	struct kv_entry **slot;
	/* kv_dict_remember: the entry last found or added, found again
	 * without a hash or a walk (NULL once it is deleted or freed) */
	bool remember;
	struct kv_entry *last;
};

void kv_dict_init(struct kv_dict *d, uint64_t seed);
/* From now on, d lists its entries by slot (d is empty): a keyspace's
 * table, whose entries are keys (not sessions). */
void kv_dict_by_slot(struct kv_dict *d);
/* From now on, d keeps the entry kv_dict_find or kv_dict_add last
 * returned, and a find of that same key returns it without hashing: for
 * a table looked up again and again for one key in a row (a session's,
 * each request of a pipeline checking and recording it). What a find
 * returns, and the table's rehash steps, are the same as without. */
void kv_dict_remember(struct kv_dict *d);
/* Frees every entry (and the slot lists); d stays usable, empty. */
void kv_dict_free(struct kv_dict *d);
uint64_t kv_dict_size(const struct kv_dict *d);
struct kv_entry *kv_dict_find(struct kv_dict *d, const uint8_t *key, size_t klen);
/* A batch of lookups' memory fetched ahead, so that their cache misses
 * overlap instead of coming one after another: each key's bucket as it
 * is added, then (kv_prefetch_entries, once the buckets are in the
 * cache) each bucket's first entry. Nothing in the tables changes. */
#define KV_PREFETCH_MAX 32
struct kv_prefetch {
	const struct kv_dict *d[KV_PREFETCH_MAX];
	uint64_t h[KV_PREFETCH_MAX];
	uint32_t n;
};
/* Adds key of d; p holds fewer than KV_PREFETCH_MAX. */
void kv_prefetch_add(struct kv_prefetch *p, const struct kv_dict *d, const uint8_t *key,
		     size_t klen);
void kv_prefetch_entries(const struct kv_prefetch *p);
/* Adds a key that is not present (with an empty value, no expiry). */
struct kv_entry *kv_dict_add(struct kv_dict *d, const uint8_t *key, size_t klen);
/* Removes and frees; false if absent. */
bool kv_dict_delete(struct kv_dict *d, const uint8_t *key, size_t klen);
/* A uniformly chosen bucket's first... an entry, or NULL if empty; r is
 * the caller's random number. */
struct kv_entry *kv_dict_random(struct kv_dict *d, uint64_t r);
/* Calls fn for the entries of the cursor's buckets; returns the next
 * cursor (0: done). */
uint64_t kv_dict_scan(struct kv_dict *d, uint64_t cursor, void (*fn)(void *ctx, struct kv_entry *e),
		      void *ctx);
/* The first entry of slot's list, or NULL (none, or d is not listed by
 * slot); the list goes on by each entry's snext. */
struct kv_entry *kv_dict_slot_first(const struct kv_dict *d, uint16_t slot);
/* Every entry, in table order (no change to the table meanwhile). */
void kv_dict_each(struct kv_dict *d, void (*fn)(void *ctx, struct kv_entry *e), void *ctx);
/* While a forked child holds a copy-on-write image of the table (a
 * snapshot), moving entries would copy their pages: held, the table does
 * not rehash, and grows only past 5 entries a bucket (as Redis does while
 * a child saves). */
void kv_dict_hold(struct kv_dict *d, bool hold);
/* Moves up to n buckets of a rehash in progress (the server's idle time,
 * as Redis's active rehashing), unless held. */
void kv_dict_rehash_some(struct kv_dict *d, uint32_t n);
/* Sets e's expiry time (ms since the epoch, 0: none; never negative),
 * keeping d's count and sum of expiry times. The only way an entry's
 * expiry changes. */
void kv_dict_expire(struct kv_dict *d, struct kv_entry *e, int64_t when);
/* Sets the value (copied). */
void kv_entry_set(struct kv_entry *e, const uint8_t *v, size_t n);
/* Room for n bytes of value, what is there kept (the length unchanged):
 * the value's buffer, to be written in place. */
uint8_t *kv_entry_reserve(struct kv_entry *e, size_t n);

#endif
