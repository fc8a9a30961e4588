/* kv/dict.c — the hash table of kv/dict.h. The rehash and the scan cursor
 * follow Redis's dict.c: while growing, each operation moves one bucket
 * (visiting at most ten empty ones) from t[0] to t[1]; lookups look in
 * both; the scan cursor counts in reverse binary so that buckets already
 * visited are never revisited after the table grows. The slot lists are
 * doubly linked through the entries (each entry holds the link that
 * points at it), so adding or deleting an entry changes its list in
 * constant time, and an entry is in its slot's list exactly while it is
 * in the table. */
#include "kv/dict.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/assert.h"
#include "base/mem.h"

void kv_dict_init(struct kv_dict *d, uint64_t seed)
{
	memset(d, 0, sizeof *d);
	d->rehash = -1;
	d->seed = seed;
}

static void entry_free(struct kv_entry *e)
{
	keel_free(e->val);
	keel_free(e);
}

static void table_free(struct kv_table *t)
{
	for (uint64_t i = 0; i < t->size; i++) {
		struct kv_entry *e = t->b[i];
		while (e) {
			struct kv_entry *n = e->next;
			entry_free(e);
			e = n;
		}
	}
	keel_free(t->b);
	memset(t, 0, sizeof *t);
}

void kv_dict_by_slot(struct kv_dict *d)
{
	KEEL_ASSERT(kv_dict_size(d) == 0 && !d->slot);
	d->by_slot = true;
}

void kv_dict_remember(struct kv_dict *d)
{
	d->remember = true;
}

void kv_dict_free(struct kv_dict *d)
{
	d->last = NULL;
	table_free(&d->t[0]);
	table_free(&d->t[1]);
	keel_free(d->slot);
	d->slot = NULL;
	d->rehash = -1;
	d->expires = 0;
	d->expire_sum = 0;
}

uint64_t kv_dict_size(const struct kv_dict *d)
{
	return d->t[0].used + d->t[1].used;
}

static uint64_t hash_of(const struct kv_dict *d, const uint8_t *key, size_t klen)
{
	return XXH3_64bits_withSeed(key, klen, d->seed);
}

void kv_dict_hold(struct kv_dict *d, bool hold)
{
	d->hold = hold;
}

/* Moves one bucket of t[0] (skipping at most ten empty ones); nothing while
 * held. */
static void rehash_step(struct kv_dict *d)
{
	if (d->rehash < 0 || d->hold)
		return;
	struct kv_table *from = &d->t[0], *to = &d->t[1];
	int empty = 10;
	while ((uint64_t)d->rehash < from->size && !from->b[d->rehash]) {
		d->rehash++;
		if (--empty == 0)
			return;
	}
	if ((uint64_t)d->rehash < from->size) {
		struct kv_entry *e = from->b[d->rehash];
		while (e) {
			struct kv_entry *n = e->next;
			uint64_t i = e->hash & (to->size - 1);
			e->next = to->b[i];
			to->b[i] = e;
			from->used--;
			to->used++;
			e = n;
		}
		from->b[d->rehash++] = NULL;
	}
	if ((uint64_t)d->rehash >= from->size) { /* done: t[1] becomes t[0] */
		keel_free(from->b);
		*from = *to;
		memset(to, 0, sizeof *to);
		d->rehash = -1;
	}
}

void kv_dict_rehash_some(struct kv_dict *d, uint32_t n)
{
	while (n-- && d->rehash >= 0 && !d->hold) /* rehash_step would do nothing */
		rehash_step(d);
}

static void maybe_grow(struct kv_dict *d)
{
	if (d->rehash >= 0)
		return;
	struct kv_table *t = &d->t[0];
	if (t->size == 0) {
		t->size = 4;
		t->b = keel_calloc(t->size, sizeof *t->b);
		return;
	}
	if (t->used < (d->hold ? 5 * t->size : t->size))
		return;
	d->t[1].size = t->size * 2;
	d->t[1].b = keel_calloc(d->t[1].size, sizeof *d->t[1].b);
	d->t[1].used = 0;
	d->rehash = 0;
}

void kv_prefetch_add(struct kv_prefetch *p, const struct kv_dict *d, const uint8_t *key,
		     size_t klen)
{
	KEEL_ASSERT(p->n < KV_PREFETCH_MAX);
	uint64_t h = hash_of(d, key, klen);
	for (int k = 0; k < 2; k++)
		if (d->t[k].size)
			__builtin_prefetch(&d->t[k].b[h & (d->t[k].size - 1)]);
	p->d[p->n] = d;
	p->h[p->n++] = h;
}

void kv_prefetch_entries(const struct kv_prefetch *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		for (int k = 0; k < 2; k++) {
			const struct kv_table *t = &p->d[i]->t[k];
			const struct kv_entry *e = t->size ? t->b[p->h[i] & (t->size - 1)] : NULL;
			if (e)
				__builtin_prefetch(e);
		}
}

/* The link that points at key's entry (in t[*k]), or NULL. */
static struct kv_entry **link_of(struct kv_dict *d, const uint8_t *key, size_t klen, int *k)
{
	uint64_t h = hash_of(d, key, klen);
	for (*k = 0; *k < 2; (*k)++) {
		struct kv_table *t = &d->t[*k];
		if (!t->size)
			continue;
		for (struct kv_entry **p = &t->b[h & (t->size - 1)]; *p; p = &(*p)->next) {
			struct kv_entry *e = *p;
			if (e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
				return p;
		}
		if (d->rehash < 0)
			break;
	}
	return NULL;
}

struct kv_entry *kv_dict_find(struct kv_dict *d, const uint8_t *key, size_t klen)
{
	if (kv_dict_size(d) == 0)
		return NULL;
	rehash_step(d);
	struct kv_entry *e = d->last;
	if (e && e->klen == klen && (!klen || !memcmp(e->key, key, klen)))
		return e;
	int k;
	struct kv_entry **p = link_of(d, key, klen, &k);
	e = p ? *p : NULL;
	if (e && d->remember)
		d->last = e;
	return e;
}

struct kv_entry *kv_dict_add(struct kv_dict *d, const uint8_t *key, size_t klen)
{
	struct kv_entry **head = NULL;
	if (d->by_slot) {
		if (!d->slot)
			d->slot = keel_calloc(KV_SLOTS, sizeof *d->slot);
		head = &d->slot[kv_slot(key, klen)];
		__builtin_prefetch(head, 1); /* read and written below: fetched meanwhile */
	}
	rehash_step(d);
	maybe_grow(d);
	struct kv_entry *e = keel_calloc(1, sizeof *e + (klen ? klen : 1));
	e->hash = hash_of(d, key, klen);
	e->klen = (uint32_t)klen;
	if (klen)
		memcpy(e->key, key, klen);
	if (head && *head) /* its link is written below too */
		__builtin_prefetch(*head, 1);
	struct kv_table *t = d->rehash >= 0 ? &d->t[1] : &d->t[0];
	uint64_t i = e->hash & (t->size - 1);
	e->next = t->b[i];
	t->b[i] = e;
	t->used++;
	if (head) {
		e->snext = *head;
		if (e->snext)
			e->snext->sprev = &e->snext;
		e->sprev = head;
		*head = e;
	}
	if (d->remember)
		d->last = e;
	return e;
}

bool kv_dict_delete(struct kv_dict *d, const uint8_t *key, size_t klen)
{
	if (kv_dict_size(d) == 0)
		return false;
	rehash_step(d);
	int k;
	struct kv_entry **p = link_of(d, key, klen, &k);
	if (!p)
		return false;
	struct kv_entry *e = *p;
	if (e == d->last)
		d->last = NULL;
	if (e->sprev) { /* the slot list's neighbours, written below: fetched meanwhile */
		__builtin_prefetch(e->sprev, 1);
		if (e->snext)
			__builtin_prefetch(e->snext, 1);
	}
	*p = e->next;
	kv_dict_expire(d, e, 0);
	keel_free(e->val);
	d->t[k].used--;
	if (e->sprev) {
		KEEL_ASSERT(*e->sprev == e); /* the slot's list links to it */
		*e->sprev = e->snext;
		if (e->snext)
			e->snext->sprev = e->sprev;
	}
	keel_free(e);
	return true;
}

struct kv_entry *kv_dict_random(struct kv_dict *d, uint64_t r)
{
	if (kv_dict_size(d) == 0)
		return NULL;
	/* a random non-empty bucket, then a random entry of its chain */
	for (uint64_t tries = 0;; tries++) {
		uint64_t x = r + tries * 0x9E3779B97F4A7C15ull;
		x ^= x >> 31;
		struct kv_table *t = &d->t[0];
		uint64_t total = d->t[0].size + d->t[1].size;
		uint64_t i = x % total;
		if (i >= t->size) {
			i -= t->size;
			t = &d->t[1];
		}
		struct kv_entry *e = t->b[i];
		if (!e)
			continue;
		uint64_t n = 0;
		for (struct kv_entry *c = e; c; c = c->next)
			n++;
		for (uint64_t k = (x >> 7) % n; k; k--)
			e = e->next;
		return e;
	}
}

static uint64_t rev(uint64_t v)
{
	uint64_t r = 0;
	for (int i = 0; i < 64; i++) {
		r = (r << 1) | (v & 1);
		v >>= 1;
	}
	return r;
}

static void bucket_each(struct kv_entry *e, void (*fn)(void *, struct kv_entry *), void *ctx)
{
	while (e) {
		struct kv_entry *n = e->next;
		fn(ctx, e);
		e = n;
	}
}

uint64_t kv_dict_scan(struct kv_dict *d, uint64_t v, void (*fn)(void *ctx, struct kv_entry *e),
		      void *ctx)
{
	if (kv_dict_size(d) == 0)
		return 0;
	struct kv_table *small = &d->t[0], *large = &d->t[1];
	if (d->rehash < 0) {
		uint64_t m = small->size - 1;
		bucket_each(small->b[v & m], fn, ctx);
		v |= ~m;
		return rev(rev(v) + 1);
	}
	if (small->size > large->size) {
		struct kv_table *tmp = small;
		small = large;
		large = tmp;
	}
	uint64_t m0 = small->size - 1, m1 = large->size - 1;
	bucket_each(small->b[v & m0], fn, ctx);
	do { /* the buckets of the larger table that expand this one */
		bucket_each(large->b[v & m1], fn, ctx);
		v |= ~m1;
		v = rev(rev(v) + 1);
	} while (v & (m0 ^ m1));
	return v;
}

struct kv_entry *kv_dict_slot_first(const struct kv_dict *d, uint16_t slot)
{
	KEEL_ASSERT(slot < KV_SLOTS);
	return d->slot ? d->slot[slot] : NULL;
}

void kv_dict_each(struct kv_dict *d, void (*fn)(void *ctx, struct kv_entry *e), void *ctx)
{
	for (int k = 0; k < 2; k++)
		for (uint64_t i = 0; i < d->t[k].size; i++)
			bucket_each(d->t[k].b[i], fn, ctx);
}

void kv_entry_set(struct kv_entry *e, const uint8_t *v, size_t n)
{
	if (n > e->vcap || n * 4 < e->vcap) {
		keel_free(e->val);
		e->vcap = n ? n : 0;
		e->val = n ? keel_malloc(n) : NULL;
	}
	if (n)
		memcpy(e->val, v, n);
	e->vlen = n;
}

uint8_t *kv_entry_reserve(struct kv_entry *e, size_t n)
{
	if (n > e->vcap) {
		size_t cap = e->vcap * 2 > n ? e->vcap * 2 : n;
		e->val = keel_realloc(e->val, cap);
		e->vcap = cap;
	}
	return e->val;
}

void kv_dict_expire(struct kv_dict *d, struct kv_entry *e, int64_t when)
{
	KEEL_ASSERT(when >= 0);
	if (e->expire) {
		KEEL_ASSERT(d->expires > 0);
		d->expires--;
		d->expire_sum -= (uint64_t)e->expire;
	}
	e->expire = when;
	if (when) {
		d->expires++;
		d->expire_sum += (uint64_t)when;
	}
}
