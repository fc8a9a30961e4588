/* tests/sim/persist.c — the real storage of a simulated node
 * (tests/sim/persist.h). */
#include "sim/persist.h"

#include <inttypes.h>
#include <string.h>

#include "base/mem.h"

#define DATA_DIR "data"

void persist_init(struct persist *p)
{
	memset(p, 0, sizeof *p);
	p->disk = simfs_new();
	p->exempt_from = UINT64_MAX;
}

void persist_free(struct persist *p)
{
	storage_close(p->st);
	simfs_free(p->disk);
	memset(p, 0, sizeof *p);
}

static void to_snap(const struct raft_snapshot_meta *m, struct snap_meta *s)
{
	memset(s, 0, sizeof *s);
	s->index = m->index;
	s->term = m->term;
	s->size = m->size;
	s->crc = m->crc;
	s->meta_len = raft_config_encode(&m->config, s->meta);
}

static int from_snap(const struct snap_meta *s, struct raft_snapshot_meta *m)
{
	memset(m, 0, sizeof *m);
	m->index = s->index;
	m->term = s->term;
	m->size = s->size;
	m->crc = s->crc;
	return raft_config_decode(&m->config, s->meta, s->meta_len);
}

/* Every entry the model holds as durable is in what was recovered. */
static int check_recovered(struct persist *p, const struct store *m,
			   const struct storage_loaded *l)
{
	struct keel_errmsg *e = &p->err;
	if (l->term < m->term || (l->term == m->term && m->vote && l->vote != m->vote)) {
		keel_errmsg_set(e, "recovered term %" PRIu64 " vote %" PRIu64 ", durable were %"
				PRIu64 " and %" PRIu64, l->term, l->vote, m->term, m->vote);
		return KEEL_ECORRUPT;
	}
	if (m->has_snap && (!l->has_snap || l->snap.index < m->snap.index)) {
		keel_errmsg_set(e, "recovered snapshot %" PRIu64 " older than durable %" PRIu64,
				l->has_snap ? l->snap.index : 0, m->snap.index);
		return KEEL_ECORRUPT;
	}
	uint64_t base = l->has_snap ? l->snap.index : 0;
	for (uint32_t i = 0; i < m->n_log; i++) {
		const struct raft_entry *d = &m->log[i];
		if (d->index <= base || d->index >= p->exempt_from)
			continue;
		uint64_t k = d->index - base - 1;
		const struct wal_entry *r = k < l->n_entries ? &l->entries[k] : NULL;
		if (!r || r->term != d->term || r->len != d->len || r->type != d->type ||
		    (d->len && memcmp(r->data, d->data, d->len))) {
			keel_errmsg_set(e, "durable entry %" PRIu64 " (term %" PRIu64
					") %s after recovery", d->index, d->term,
					r ? "changed" : "lost");
			return KEEL_ECORRUPT;
		}
	}
	return KEEL_OK;
}

int persist_open(struct persist *p, struct store *model)
{
	struct storage_options o;
	storage_options_default(&o);
	o.wal.segment_bytes = 4096; /* small: segments roll over often */
	o.snapshots_kept = 2;
	int rc = storage_open(simfs_ops(p->disk), DATA_DIR, &o, &p->st, &p->err);
	if (rc)
		return rc;
	const struct storage_loaded *l = storage_loaded(p->st);
	if ((rc = check_recovered(p, model, l)))
		goto fail;
	struct raft_snapshot_meta snap;
	if (l->has_snap && (rc = from_snap(&l->snap, &snap))) {
		keel_errmsg_set(&p->err, "recovered snapshot metadata does not decode");
		goto fail;
	}
	struct raft_entry *es = keel_calloc(l->n_entries ? l->n_entries : 1, sizeof *es);
	for (uint32_t i = 0; i < l->n_entries; i++)
		es[i] = (struct raft_entry){l->entries[i].term, l->entries[i].index,
					    l->entries[i].type, l->entries[i].len,
					    (uint8_t *)l->entries[i].data};
	store_reset(model, l->term, l->vote, l->has_snap ? &snap : NULL, l->snap_data, es,
		    l->n_entries);
	keel_free(es);
	storage_loaded_release(p->st);
	p->exempt_from = UINT64_MAX;
	return KEEL_OK;
fail:
	storage_close(p->st);
	p->st = NULL;
	return rc;
}

int persist_write(struct persist *p, const struct raft_update *u)
{
	struct storage_batch b = {.hs = u->hs_changed, .term = u->term, .vote = u->vote};
	struct snap_meta chunk, inst;
	if (u->snap_chunk) {
		to_snap(&u->snap_chunk->meta, &chunk);
		b.chunk_meta = &chunk;
		b.chunk_offset = u->snap_chunk->offset;
		b.chunk_data = u->snap_chunk->data;
		b.chunk_len = u->snap_chunk->len;
	}
	if (u->snap_install) {
		to_snap(u->snap_install, &inst);
		b.install = &inst;
	}
	b.truncate_from = u->truncate_from;
	b.purge_below = u->purge_below;
	struct wal_entry *es = keel_calloc(u->n_entries ? u->n_entries : 1, sizeof *es);
	for (uint32_t i = 0; i < u->n_entries; i++)
		es[i] = (struct wal_entry){u->entries[i].term, u->entries[i].index,
					   u->entries[i].type, u->entries[i].len,
					   u->entries[i].data};
	b.entries = es;
	b.n_entries = u->n_entries;
	int rc = storage_write(p->st, &b, &p->err);
	if (!rc)
		rc = storage_flush(p->st, &p->err); /* on the disk, not yet durable */
	keel_free(es);
	return rc;
}

int persist_sync(struct persist *p)
{
	return storage_sync(p->st, &p->err);
}

int persist_save_snapshot(struct persist *p, const struct raft_snapshot_meta *m,
			  const uint8_t *data)
{
	struct snap_meta s;
	to_snap(m, &s);
	return storage_save_snapshot(p->st, &s, data, &p->err);
}

int persist_snapshot_read(struct persist *p, uint64_t off, void *buf, uint32_t len)
{
	return storage_snapshot_read(p->st, off, buf, len, &p->err);
}

void persist_crash(struct persist *p, struct store *model, struct prng *prng, bool lose_all)
{
	for (uint32_t i = 0; i < model->n_pending; i++) {
		const struct store_op *op = &model->pending[i];
		if (op->kind == STORE_TRUNCATE && op->index < p->exempt_from)
			p->exempt_from = op->index;
	}
	store_drop_unsynced(model);
	storage_close(p->st);
	p->st = NULL;
	if (lose_all)
		simfs_crash_clean(p->disk);
	else
		simfs_crash(p->disk, prng);
}
