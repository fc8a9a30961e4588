/* tests/fuzz/same.h — whether two keyspaces hold the same data, whatever
 * their hash seeds and table layouts: the same live keys (at a time) in
 * every database, with the same values and expiry times, and the same
 * session table. For harnesses that compare a keyspace with one restored
 * from its snapshot. */
#ifndef KEEL_TESTS_FUZZ_SAME_H
#define KEEL_TESTS_FUZZ_SAME_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "kv/kv.h"

struct same_walk {
	struct kv_dict *other;
	int64_t now_ms; /* INT64_MIN: every key counts as live */
	uint64_t live;
	bool ok;
};

static inline bool same_live(const struct kv_entry *e, int64_t now_ms)
{
	return !e->expire || e->expire > now_ms;
}

static inline void same_entry(void *ctx, struct kv_entry *e)
{
	struct same_walk *w = ctx;
	if (!same_live(e, w->now_ms))
		return;
	w->live++;
	struct kv_entry *o = kv_dict_find(w->other, e->key, e->klen);
	if (!o || !same_live(o, w->now_ms) || o->expire != e->expire || o->vlen != e->vlen ||
	    (e->vlen && memcmp(o->val, e->val, e->vlen)))
		w->ok = false;
}

/* The entries of a live at now_ms are in b, and b has as many live ones. */
static inline bool same_dict(struct kv_dict *a, struct kv_dict *b, int64_t now_ms)
{
	struct same_walk wa = {b, now_ms, 0, true}, wb = {a, now_ms, 0, true};
	kv_dict_each(a, same_entry, &wa);
	kv_dict_each(b, same_entry, &wb);
	return wa.ok && wb.ok && wa.live == wb.live;
}

static inline bool same_kv(struct kv *a, struct kv *b, int64_t now_ms)
{
	uint32_t n = a->n_db > b->n_db ? a->n_db : b->n_db;
	struct kv_dict empty;
	kv_dict_init(&empty, 0);
	bool ok = same_dict(&a->sessions, &b->sessions, INT64_MIN);
	for (uint32_t i = 0; i < n && ok; i++)
		ok = same_dict(i < a->n_db ? &a->db[i] : &empty, i < b->n_db ? &b->db[i] : &empty,
			       now_ms);
	kv_dict_free(&empty);
	const struct kv_slots *x = kv_slots_of(a), *y = kv_slots_of(b);
	return ok && !x == !y &&
	       (!x ||
		(!memcmp(x, y, offsetof(struct kv_slots, placed)) && x->n_placed == y->n_placed &&
		 (!x->n_placed || !memcmp(x->placed, y->placed, x->n_placed * sizeof *x->placed))));
}

#endif
