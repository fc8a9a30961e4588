/* tests/sim/store.c — the simulated disk of tests/sim/store.h. */
#include "sim/store.h"

#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

void store_init(struct store *s)
{
	memset(s, 0, sizeof *s);
}

static void op_free(struct store_op *op)
{
	keel_free(op->entry.data);
	keel_free(op->data);
}

void store_free(struct store *s)
{
	for (uint32_t i = 0; i < s->n_log; i++)
		keel_free(s->log[i].data);
	for (uint32_t i = 0; i < s->n_pending; i++)
		op_free(&s->pending[i]);
	keel_free(s->log);
	keel_free(s->pending);
	keel_free(s->snap_data);
	keel_free(s->incoming);
	memset(s, 0, sizeof *s);
}

static struct store_op *op_push(struct store *s, uint8_t kind, uint64_t batch)
{
	if (s->n_pending == s->cap_pending) {
		s->cap_pending = s->cap_pending ? s->cap_pending * 2 : 16;
		s->pending = keel_realloc(s->pending, s->cap_pending * sizeof *s->pending);
	}
	struct store_op *op = &s->pending[s->n_pending++];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	op->batch = batch;
	return op;
}

uint64_t store_queue_update(struct store *s, const struct raft_update *u)
{
	uint64_t b = ++s->next_batch;
	if (u->hs_changed) {
		struct store_op *op = op_push(s, STORE_HS, b);
		op->term = u->term;
		op->vote = u->vote;
	}
	if (u->snap_chunk) {
		struct store_op *op = op_push(s, STORE_CHUNK, b);
		op->meta = u->snap_chunk->meta;
		op->offset = u->snap_chunk->offset;
		op->len = u->snap_chunk->len;
		op->data = keel_memdup(u->snap_chunk->data, u->snap_chunk->len);
	}
	if (u->snap_install)
		op_push(s, STORE_INSTALL, b)->meta = *u->snap_install;
	if (u->truncate_from)
		op_push(s, STORE_TRUNCATE, b)->index = u->truncate_from;
	for (uint32_t i = 0; i < u->n_entries; i++) {
		struct store_op *op = op_push(s, STORE_ENTRY, b);
		op->entry = u->entries[i];
		op->entry.data = keel_memdup(u->entries[i].data, u->entries[i].len);
	}
	if (u->purge_below)
		op_push(s, STORE_PURGE, b)->index = u->purge_below;
	return b;
}

uint64_t store_queue_snapshot(struct store *s, const struct raft_snapshot_meta *m,
			      const uint8_t *data)
{
	uint64_t b = ++s->next_batch;
	struct store_op *op = op_push(s, STORE_OWN_SNAPSHOT, b);
	op->meta = *m;
	op->len = (uint32_t)m->size;
	op->data = keel_memdup(data, m->size);
	return b;
}

static raft_index log_first(const struct store *s)
{
	return s->n_log ? s->log[0].index : 0;
}

const struct raft_entry *store_entry(const struct store *s, raft_index index)
{
	raft_index first = log_first(s);
	if (!s->n_log || index < first || index >= first + s->n_log)
		return NULL;
	return &s->log[index - first];
}

/* Drops entries with index >= from. */
static void log_truncate(struct store *s, raft_index from)
{
	while (s->n_log && s->log[s->n_log - 1].index >= from)
		keel_free(s->log[--s->n_log].data);
}

/* Drops entries with index < below. */
static void log_purge(struct store *s, raft_index below)
{
	uint32_t k = 0;
	while (k < s->n_log && s->log[k].index < below)
		keel_free(s->log[k++].data);
	if (k)
		memmove(s->log, s->log + k, (s->n_log - k) * sizeof *s->log);
	s->n_log -= k;
}

static void log_append(struct store *s, struct raft_entry *e)
{
	/* The contract: entries are contiguous after any truncation. A gap is
	 * allowed only when the log is empty (after a snapshot install). */
	if (s->n_log)
		KEEL_ASSERT(e->index == s->log[s->n_log - 1].index + 1);
	if (s->n_log == s->cap_log) {
		s->cap_log = s->cap_log ? s->cap_log * 2 : 64;
		s->log = keel_realloc(s->log, s->cap_log * sizeof *s->log);
	}
	s->log[s->n_log++] = *e;
	e->data = NULL;
}

static void snap_replace(struct store *s, const struct raft_snapshot_meta *m, uint8_t *data)
{
	keel_free(s->snap_data);
	s->snap = *m;
	s->snap_data = data;
	s->has_snap = true;
}

static void op_chunk(struct store *s, struct store_op *op)
{
	if (op->offset == 0) {
		keel_free(s->incoming);
		s->incoming = keel_malloc(op->meta.size ? op->meta.size : 1);
		s->incoming_len = 0;
	}
	KEEL_ASSERT(s->incoming && op->offset == s->incoming_len);
	KEEL_ASSERT(op->offset + op->len <= op->meta.size);
	memcpy(s->incoming + op->offset, op->data, op->len);
	s->incoming_len += op->len;
}

/* Carries one write out on the durable image. */
static void op_apply(struct store *s, struct store_op *op)
{
	switch (op->kind) {
	case STORE_HS:
		s->term = op->term;
		s->vote = op->vote;
		break;
	case STORE_CHUNK:
		op_chunk(s, op);
		break;
	case STORE_INSTALL:
		KEEL_ASSERT(s->incoming && s->incoming_len == op->meta.size);
		snap_replace(s, &op->meta, s->incoming);
		s->incoming = NULL;
		s->incoming_len = 0;
		log_purge(s, op->meta.index + 1);
		break;
	case STORE_TRUNCATE:
		log_truncate(s, op->index);
		break;
	case STORE_ENTRY:
		log_append(s, &op->entry);
		break;
	case STORE_PURGE:
		log_purge(s, op->index);
		break;
	case STORE_OWN_SNAPSHOT:
		if (!s->has_snap || op->meta.index > s->snap.index) {
			snap_replace(s, &op->meta, op->data);
			op->data = NULL;
		}
		break;
	default:
		KEEL_UNREACHABLE();
	}
	op_free(op);
}

void store_sync(struct store *s, uint64_t upto)
{
	uint32_t k = 0;
	while (k < s->n_pending && s->pending[k].batch <= upto)
		op_apply(s, &s->pending[k++]);
	if (k)
		memmove(s->pending, s->pending + k, (s->n_pending - k) * sizeof *s->pending);
	s->n_pending -= k;
	if (upto > s->synced_batch)
		s->synced_batch = upto;
}

void store_drop_unsynced(struct store *s)
{
	for (uint32_t i = 0; i < s->n_pending; i++)
		op_free(&s->pending[i]);
	s->n_pending = 0;
	s->synced_batch = s->next_batch;
	/* An incoming snapshot not yet installed is scratch space: dropped. */
	keel_free(s->incoming);
	s->incoming = NULL;
	s->incoming_len = 0;
}

void store_reset(struct store *s, raft_term term, raft_id vote,
		 const struct raft_snapshot_meta *snap, const uint8_t *snap_data,
		 const struct raft_entry *entries, uint32_t n)
{
	store_drop_unsynced(s);
	log_truncate(s, 0);
	s->term = term;
	s->vote = vote;
	s->has_snap = snap != NULL;
	keel_free(s->snap_data);
	s->snap_data = NULL;
	if (snap) {
		s->snap = *snap;
		s->snap_data = keel_memdup(snap_data, snap->size);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct raft_entry e = entries[i];
		e.data = keel_memdup(e.data, e.len);
		log_append(s, &e);
	}
}

void store_load(const struct store *s, struct raft_init *init)
{
	init->term = s->term;
	init->vote = s->vote;
	init->snapshot = s->has_snap ? &s->snap : NULL;
	init->entries = s->log;
	init->n_entries = s->n_log;
}
