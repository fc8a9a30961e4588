/* raft/log.c — the in-memory Raft log (see log.h). */
#include "raft/log.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

void raft_log_init(struct raft_log *l, raft_index start, raft_term prev_term, bool prev_known)
{
	KEEL_ASSERT(start >= 1);
	memset(l, 0, sizeof(*l));
	l->start = start;
	l->prev_term = prev_term;
	l->prev_known = prev_known;
}

static void log_free_range(struct raft_log *l, uint64_t from, uint64_t to)
{
	for (uint64_t k = from; k < to; k++) {
		l->bytes -= l->e[k].len;
		keel_free(l->e[k].data);
		l->e[k].data = NULL;
	}
}

void raft_log_free(struct raft_log *l)
{
	log_free_range(l, 0, l->n);
	keel_free(l->e);
	memset(l, 0, sizeof(*l));
}

raft_index raft_log_last(const struct raft_log *l)
{
	return l->start + l->n - 1;
}

const struct raft_entry *raft_log_get(const struct raft_log *l, raft_index i)
{
	if (i < l->start || i > raft_log_last(l))
		return NULL;
	return &l->e[i - l->start];
}

bool raft_log_term(const struct raft_log *l, raft_index i, raft_term *t)
{
	const struct raft_entry *e = raft_log_get(l, i);
	if (e) {
		*t = e->term;
		return true;
	}
	if (i + 1 == l->start && l->prev_known) {
		*t = l->prev_term;
		return true;
	}
	return false;
}

void raft_log_append(struct raft_log *l, raft_term term, uint8_t type, const void *data,
		     uint32_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = keel_realloc(l->e, l->cap * sizeof(*l->e));
	}
	struct raft_entry *e = &l->e[l->n];
	KEEL_ASSERT(l->n == 0 || term >= l->e[l->n - 1].term);
	e->term = term;
	e->index = l->start + l->n;
	e->type = type;
	e->len = len;
	e->data = keel_memdup(data, len);
	l->bytes += len;
	l->n++;
}

void raft_log_truncate(struct raft_log *l, raft_index from)
{
	KEEL_ASSERT(from >= l->start);
	if (from > raft_log_last(l))
		return;
	uint64_t k = from - l->start;
	log_free_range(l, k, l->n);
	l->n = k;
}

void raft_log_purge(struct raft_log *l, raft_index below)
{
	KEEL_ASSERT(below <= raft_log_last(l) + 1);
	if (below <= l->start)
		return;
	uint64_t k = below - l->start;
	l->prev_term = l->e[k - 1].term;
	l->prev_known = true;
	log_free_range(l, 0, k);
	memmove(l->e, l->e + k, (l->n - k) * sizeof(*l->e));
	l->n -= k;
	l->start = below;
}

void raft_log_reset(struct raft_log *l, raft_index prev, raft_term prev_term)
{
	log_free_range(l, 0, l->n);
	l->n = 0;
	l->start = prev + 1;
	l->prev_term = prev_term;
	l->prev_known = true;
}
