/* tests/sim/persist.c — the real storage of a simulated node
 * (tests/sim/persist.h). */
#include "sim/persist.h"

#include <inttypes.h>
#include <string.h>

#include "base/mem.h"
#include "server/persist.h"

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
	if (l->has_snap && (rc = persist_meta_from_snap(&l->snap, &snap))) {
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
	struct storage_batch b;
	struct persist_scratch sc;
	persist_batch(u, &b, &sc);
	int rc = storage_write(p->st, &b, &p->err);
	if (!rc)
		rc = storage_flush(p->st, &p->err); /* on the disk, not yet durable */
	persist_scratch_free(&sc);
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
	persist_meta_to_snap(m, &s);
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
