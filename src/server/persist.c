/* server/persist.c — update-to-batch conversion of server/persist.h. */
#include "server/persist.h"

#include <string.h>

#include "base/mem.h"

void persist_meta_to_snap(const struct raft_snapshot_meta *m, struct snap_meta *s)
{
	memset(s, 0, sizeof *s);
	s->index = m->index;
	s->term = m->term;
	s->size = m->size;
	s->crc = m->crc;
	s->meta_len = raft_config_encode(&m->config, s->meta);
}

int persist_meta_from_snap(const struct snap_meta *s, struct raft_snapshot_meta *m)
{
	memset(m, 0, sizeof *m);
	m->index = s->index;
	m->term = s->term;
	m->size = s->size;
	m->crc = s->crc;
	return raft_config_decode(&m->config, s->meta, s->meta_len);
}

bool persist_batch(const struct raft_update *u, struct storage_batch *b, struct persist_scratch *sc)
{
	memset(b, 0, sizeof *b);
	sc->entries = NULL;
	b->hs = u->hs_changed;
	b->term = u->term;
	b->vote = u->vote;
	if (u->snap_chunk) {
		persist_meta_to_snap(&u->snap_chunk->meta, &sc->chunk);
		b->chunk_meta = &sc->chunk;
		b->chunk_offset = u->snap_chunk->offset;
		b->chunk_data = u->snap_chunk->data;
		b->chunk_len = u->snap_chunk->len;
	}
	if (u->snap_install) {
		persist_meta_to_snap(u->snap_install, &sc->install);
		b->install = &sc->install;
	}
	b->truncate_from = u->truncate_from;
	b->purge_below = u->purge_below;
	if (u->n_entries) {
		sc->entries = keel_calloc(u->n_entries, sizeof *sc->entries);
		for (uint32_t i = 0; i < u->n_entries; i++)
			sc->entries[i] = (struct wal_entry){u->entries[i].term, u->entries[i].index,
							    u->entries[i].type, u->entries[i].len,
							    u->entries[i].data};
	}
	b->entries = sc->entries;
	b->n_entries = u->n_entries;
	return b->hs || b->chunk_meta || b->install || b->truncate_from || b->n_entries ||
	       b->purge_below;
}

void persist_scratch_free(struct persist_scratch *sc)
{
	keel_free(sc->entries);
	sc->entries = NULL;
}
