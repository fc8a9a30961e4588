/* tests/sim/linearize.c — the linearizability checker of
 * tests/sim/linearize.h: per key, a depth-first search for an order of the
 * operations that respects real time and the register's semantics (Wing &
 * Gong), skipping configurations already explored (Lowe: a cache of
 * (operations linearized, register state)). */
#include "sim/linearize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

struct reg {
	bool present;
	int64_t value;
};

struct ev {	     /* an entry of the call/return list */
	uint32_t op; /* index into the key's operations */
	bool call;
	int32_t ret; /* call: index of its return entry, -1 if none (unknown) */
	int32_t prev, next;
};

struct memo {		/* the cache of visited configurations */
	uint64_t *bits; /* n_slots * words */
	struct reg *regs;
	uint64_t *hash;
	bool *used;
	size_t n_slots, n_used, words;
};

struct search {
	const struct lin_op **ops;
	uint32_t n;
	struct ev *ev; /* 2n entries, then the head sentinel */
	int32_t head;
	uint64_t *bits; /* the linearized set */
	uint64_t *zob;	/* per-op random values for the set's hash */
	uint64_t hash;
	size_t words;
	struct memo memo;
	uint32_t must; /* OK operations still to linearize */
	uint32_t best; /* most operations ever linearized at once */
	uint64_t *best_bits;
};

/* Applies op to *r; false if the op's recorded result contradicts it. */
static bool reg_step(const struct lin_op *op, struct reg *r)
{
	bool known = op->outcome == LIN_OK;
	switch (op->kind) {
	case LIN_WRITE:
		r->present = true;
		r->value = op->arg;
		return true;
	case LIN_READ:
		return !known || (op->out_nil ? !r->present : r->present && r->value == op->out);
	case LIN_INCR:
		r->value = (r->present ? r->value : 0) + op->arg;
		r->present = true;
		return !known || op->out == r->value;
	case LIN_CAS: {
		bool swap = r->present && r->value == op->arg;
		if (swap)
			r->value = op->arg2;
		return !known || op->out == (swap ? 1 : 0);
	}
	default:
		return false;
	}
}

static int ev_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct lin_op *const *ops = ctx;
	const struct ev *a = pa, *b = pb;
	uint64_t ta = a->call ? ops[a->op]->invoke : ops[a->op]->complete;
	uint64_t tb = b->call ? ops[b->op]->invoke : ops[b->op]->complete;
	if (ta != tb)
		return ta < tb ? -1 : 1;
	if (a->call != b->call)
		return a->call ? -1 : 1; /* calls first: equal times are concurrent */
	return a->op < b->op ? -1 : a->op > b->op;
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Builds the time-ordered list of calls and returns. */
static void search_build(struct search *s)
{
	uint32_t n_ev = 0;
	s->ev = keel_calloc(2 * (size_t)s->n + 1, sizeof *s->ev);
	for (uint32_t i = 0; i < s->n; i++) {
		s->ev[n_ev++] = (struct ev){.op = i, .call = true, .ret = -1};
		if (s->ops[i]->outcome == LIN_OK)
			s->ev[n_ev++] = (struct ev){.op = i, .call = false, .ret = -1};
	}
	qsort_r(s->ev, n_ev, sizeof *s->ev, ev_cmp, (void *)s->ops);
	int32_t *ret_of = keel_malloc((s->n ? s->n : 1) * sizeof *ret_of);
	for (uint32_t k = 0; k < n_ev; k++)
		if (!s->ev[k].call)
			ret_of[s->ev[k].op] = (int32_t)k;
	for (uint32_t k = 0; k < n_ev; k++) {
		if (s->ev[k].call && s->ops[s->ev[k].op]->outcome == LIN_OK)
			s->ev[k].ret = ret_of[s->ev[k].op];
		s->ev[k].prev = k ? (int32_t)k - 1 : (int32_t)n_ev;
		s->ev[k].next = k + 1 < n_ev ? (int32_t)k + 1 : -1;
	}
	keel_free(ret_of);
	s->head = (int32_t)n_ev; /* the sentinel */
	s->ev[n_ev] = (struct ev){.prev = -1, .next = n_ev ? 0 : -1};
}

static void ev_unlink(struct search *s, int32_t k)
{
	struct ev *e = &s->ev[k];
	s->ev[e->prev].next = e->next;
	if (e->next >= 0)
		s->ev[e->next].prev = e->prev;
}

static void ev_relink(struct search *s, int32_t k)
{
	struct ev *e = &s->ev[k];
	s->ev[e->prev].next = k;
	if (e->next >= 0)
		s->ev[e->next].prev = k;
}

/* Adds (set, state) to the cache; false if it was there already. */
static bool memo_add(struct search *s, const struct reg *r)
{
	struct memo *m = &s->memo;
	if (m->n_used * 2 >= m->n_slots) {
		struct memo old = *m;
		m->n_slots = old.n_slots ? old.n_slots * 2 : 1024;
		m->bits = keel_malloc(m->n_slots * m->words * sizeof *m->bits);
		m->regs = keel_malloc(m->n_slots * sizeof *m->regs);
		m->hash = keel_malloc(m->n_slots * sizeof *m->hash);
		m->used = keel_calloc(m->n_slots, sizeof *m->used);
		m->n_used = 0;
		for (size_t i = 0; i < old.n_slots; i++) {
			if (!old.used[i])
				continue;
			size_t j = (old.hash[i] ^ (uint64_t)old.regs[i].value) & (m->n_slots - 1);
			while (m->used[j])
				j = (j + 1) & (m->n_slots - 1);
			m->used[j] = true;
			m->hash[j] = old.hash[i];
			m->regs[j] = old.regs[i];
			memcpy(m->bits + j * m->words, old.bits + i * m->words,
			       m->words * sizeof *m->bits);
			m->n_used++;
		}
		keel_free(old.bits);
		keel_free(old.regs);
		keel_free(old.hash);
		keel_free(old.used);
	}
	size_t j = (s->hash ^ (uint64_t)r->value) & (m->n_slots - 1);
	for (; m->used[j]; j = (j + 1) & (m->n_slots - 1)) {
		if (m->hash[j] == s->hash && m->regs[j].present == r->present &&
		    m->regs[j].value == r->value &&
		    !memcmp(m->bits + j * m->words, s->bits, m->words * sizeof *s->bits))
			return false;
	}
	m->used[j] = true;
	m->hash[j] = s->hash;
	m->regs[j] = *r;
	memcpy(m->bits + j * m->words, s->bits, m->words * sizeof *s->bits);
	m->n_used++;
	return true;
}

static void bit_flip(struct search *s, uint32_t op)
{
	s->bits[op / 64] ^= 1ull << (op % 64);
	s->hash ^= s->zob[op];
}

struct frame {
	int32_t ev;
	struct reg r;
};

/* The search proper. Returns 1 linearizable, 0 not, -1 out of budget. */
static int search_run(struct search *s, uint64_t budget)
{
	struct frame *stack = keel_malloc(((size_t)s->n + 1) * sizeof *stack);
	uint32_t depth = 0;
	struct reg r = {0};
	int32_t k = s->ev[s->head].next;
	int result = 1;
	uint64_t steps = 0;
	while (s->must > 0) {
		if (++steps > budget) {
			result = -1;
			break;
		}
		if (k >= 0 && s->ev[k].call) {
			const struct lin_op *op = s->ops[s->ev[k].op];
			struct reg next = r;
			bool ok = reg_step(op, &next);
			if (ok) {
				bit_flip(s, s->ev[k].op);
				ok = memo_add(s, &next);
				if (!ok)
					bit_flip(s, s->ev[k].op);
			}
			if (ok) {
				stack[depth++] = (struct frame){k, r};
				r = next;
				ev_unlink(s, k);
				if (s->ev[k].ret >= 0) {
					ev_unlink(s, s->ev[k].ret);
					s->must--;
				}
				if (depth > s->best) {
					s->best = depth;
					memcpy(s->best_bits, s->bits, s->words * sizeof *s->bits);
				}
				k = s->ev[s->head].next;
			} else {
				k = s->ev[k].next;
			}
			continue;
		}
		/* A return (or the end) reached: backtrack. */
		if (depth == 0) {
			result = 0;
			break;
		}
		struct frame f = stack[--depth];
		if (s->ev[f.ev].ret >= 0) {
			ev_relink(s, s->ev[f.ev].ret);
			s->must++;
		}
		ev_relink(s, f.ev);
		bit_flip(s, s->ev[f.ev].op);
		r = f.r;
		k = s->ev[f.ev].next;
	}
	keel_free(stack);
	return result;
}

static void describe_op(const struct lin_op *op, char *buf, size_t len)
{
	static const char *const kind[] = {"?", "WRITE", "READ", "INCR", "CAS"};
	const char *k = op->kind <= LIN_CAS ? kind[op->kind] : "?";
	if (op->kind == LIN_READ)
		snprintf(buf, len, "c%u#%llu READ -> %s%lld [%llu,%llu]", op->client,
			 (unsigned long long)op->id, op->out_nil ? "nil" : "",
			 op->out_nil ? 0LL : (long long)op->out, (unsigned long long)op->invoke,
			 (unsigned long long)op->complete);
	else
		snprintf(buf, len, "c%u#%llu %s %lld%s -> %lld [%llu,%s]", op->client,
			 (unsigned long long)op->id, k, (long long)op->arg,
			 op->kind == LIN_CAS ? "->new" : "", (long long)op->out,
			 (unsigned long long)op->invoke, op->outcome == LIN_UNKNOWN ? "?" : "done");
}

static void explain(const struct search *s, uint64_t key, struct lin_result *res)
{
	int k = snprintf(res->explain, sizeof res->explain,
			 "key %llu: no linearization of %u operations (at most %u placed); "
			 "first not placed:",
			 (unsigned long long)key, s->n, s->best);
	uint32_t shown = 0;
	for (uint32_t i = 0; i < s->n && shown < 6 && k < (int)sizeof res->explain; i++) {
		const struct lin_op *op = s->ops[i];
		if (op->outcome != LIN_OK || (s->best_bits[i / 64] >> (i % 64)) & 1)
			continue;
		char d[160];
		describe_op(op, d, sizeof d);
		k += snprintf(res->explain + k, sizeof res->explain - (size_t)k, " %s;", d);
		shown++;
	}
}

static int op_by_invoke(const void *a, const void *b)
{
	const struct lin_op *x = *(const struct lin_op *const *)a;
	const struct lin_op *y = *(const struct lin_op *const *)b;
	if (x->invoke != y->invoke)
		return x->invoke < y->invoke ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Checks one key's operations. */
static int check_key(const struct lin_op **ops, uint32_t n, uint64_t key, uint64_t budget,
		     struct lin_result *res)
{
	qsort(ops, n, sizeof *ops, op_by_invoke);
	struct search s = {.ops = ops, .n = n};
	s.words = (n + 63) / 64 + 1;
	s.bits = keel_calloc(s.words, sizeof *s.bits);
	s.best_bits = keel_calloc(s.words, sizeof *s.best_bits);
	s.zob = keel_malloc(((size_t)n + 1) * sizeof *s.zob);
	uint64_t x = key * 0x2545F4914F6CDD1Dull;
	for (uint32_t i = 0; i < n; i++) {
		s.zob[i] = splitmix(&x);
		if (ops[i]->outcome == LIN_OK)
			s.must++;
	}
	s.memo.words = s.words;
	search_build(&s);
	int rc = search_run(&s, budget);
	if (rc == 0)
		explain(&s, key, res);
	keel_free(s.ev);
	keel_free(s.bits);
	keel_free(s.best_bits);
	keel_free(s.zob);
	keel_free(s.memo.bits);
	keel_free(s.memo.regs);
	keel_free(s.memo.hash);
	keel_free(s.memo.used);
	return rc;
}

static int op_by_key(const void *a, const void *b)
{
	const struct lin_op *x = *(const struct lin_op *const *)a;
	const struct lin_op *y = *(const struct lin_op *const *)b;
	return x->key < y->key ? -1 : x->key > y->key;
}

void lin_check(const struct lin_op *ops, size_t n, uint64_t budget, struct lin_result *res)
{
	memset(res, 0, sizeof *res);
	res->ok = true;
	/* Failed operations never took effect; a read with no answer neither. */
	const struct lin_op **v = keel_malloc((n ? n : 1) * sizeof *v);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (ops[i].outcome == LIN_FAILED)
			continue;
		if (ops[i].outcome == LIN_UNKNOWN && ops[i].kind == LIN_READ)
			continue;
		v[m++] = &ops[i];
	}
	qsort(v, m, sizeof *v, op_by_key);
	for (size_t lo = 0; lo < m && res->ok;) {
		size_t hi = lo;
		while (hi < m && v[hi]->key == v[lo]->key)
			hi++;
		int rc = check_key(v + lo, (uint32_t)(hi - lo), v[lo]->key, budget, res);
		if (rc < 0)
			res->timed_out = true;
		if (rc == 0) {
			res->ok = false;
			res->bad_key = v[lo]->key;
		}
		res->n_checked_ops += hi - lo;
		lo = hi;
	}
	keel_free(v);
}
