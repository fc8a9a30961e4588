/* tests/sim/node.c — one simulated node carrying out the update contract
 * (tests/sim/node.h). */
#include "sim/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "raft/codec.h"
#include "sim/net.h"

void node_init(struct node *n, raft_id id, const struct raft_options *o, uint64_t seed,
	       const struct node_env *env)
{
	memset(n, 0, sizeof *n);
	n->id = id;
	n->opts = *o;
	n->seed = seed;
	n->env = *env;
	prng_seed(&n->prng, seed ^ (id * 0xD1B54A32D192ED03ull));
	store_init(&n->store);
	persist_init(&n->persist);
	regs_init(&n->kv);
}

static void node_drop_inflight(struct node *n)
{
	for (uint32_t i = 0; i < n->n_syncs; i++) {
		for (uint32_t k = 0; k < n->syncs[i].n_msgs; k++)
			raft_msg_clone_free(&n->syncs[i].msgs[k]);
		keel_free(n->syncs[i].msgs);
	}
	n->n_syncs = 0;
	n->n_reads = 0;
	n->snapping = false;
	keel_free(n->snap_data);
	n->snap_data = NULL;
	keel_free(n->incoming);
	n->incoming = NULL;
}

void node_free(struct node *n)
{
	node_drop_inflight(n);
	raft_free(n->r);
	store_free(&n->store);
	persist_free(&n->persist);
	keel_free(n->syncs);
	keel_free(n->reads);
	memset(n, 0, sizeof *n);
}

int node_start(struct node *n, const struct raft_config *bootstrap)
{
	KEEL_ASSERT(!n->r);
	struct raft_init in = {.id = n->id, .seed = n->seed + n->restarts, .options = n->opts};
	int rc = persist_open(&n->persist, &n->store);
	if (rc) {
		fprintf(stderr, "node %llu: storage: %s\n", (unsigned long long)n->id,
			n->persist.err.text);
		return rc;
	}
	store_load(&n->store, &in);
	in.bootstrap = bootstrap;
	regs_init(&n->kv);
	if (n->store.has_snap && !regs_restore(&n->kv, n->store.snap_data, n->store.snap.size)) {
		fprintf(stderr, "node %llu: snapshot on disk does not restore\n",
			(unsigned long long)n->id);
		return KEEL_ECORRUPT;
	}
	struct keel_errmsg err;
	n->r = raft_new(&in, &err);
	if (!n->r) {
		fprintf(stderr, "node %llu: %s\n", (unsigned long long)n->id, err.text);
		return KEEL_ECORRUPT;
	}
	n->restarts++;
	return KEEL_OK;
}

void node_crash(struct node *n, bool lose_all)
{
	raft_free(n->r);
	n->r = NULL;
	node_drop_inflight(n);
	persist_crash(&n->persist, &n->store, &n->prng, lose_all);
}

/* A storage call failed: the node stops (fail-stop, raft/raft.h). */
static void node_storage_failed(struct node *n, int rc)
{
	raft_fail(n->r, rc);
	if (n->env.stopped)
		n->env.stopped(n->env.ctx, n);
}

/* Fills an outgoing snapshot chunk from the node's latest durable snapshot. */
static void node_send(struct node *n, const struct raft_msg *m)
{
	struct raft_msg c = *m;
	uint8_t *buf = NULL;
	if (m->type == RAFT_MSG_SNAPSHOT) {
		const struct snap_meta *s = storage_snapshot(n->persist.st);
		const struct raft_snapshot_meta *want = &m->u.snapshot.meta;
		if (!s || s->index != want->index || s->term != want->term ||
		    m->u.snapshot.offset + m->u.snapshot.len > s->size) {
			fprintf(stderr,
				"node %llu: asked to send snapshot %llu/%llu it does not have\n",
				(unsigned long long)n->id, (unsigned long long)want->index,
				(unsigned long long)want->term);
			abort();
		}
		buf = keel_malloc(m->u.snapshot.len ? m->u.snapshot.len : 1);
		int rc = persist_snapshot_read(&n->persist, m->u.snapshot.offset, buf,
					       m->u.snapshot.len);
		if (rc) {
			fprintf(stderr, "node %llu: snapshot read: %s\n", (unsigned long long)n->id,
				n->persist.err.text);
			abort();
		}
		c.u.snapshot.data = buf;
	}
	n->env.send(n->env.ctx, n, &c);
	keel_free(buf);
}

static void node_hold(struct node *n, const struct raft_update *u, uint64_t batch)
{
	if (n->n_syncs == n->cap_syncs) {
		n->cap_syncs = n->cap_syncs ? n->cap_syncs * 2 : 16;
		n->syncs = keel_realloc(n->syncs, n->cap_syncs * sizeof *n->syncs);
	}
	struct node_sync *s = &n->syncs[n->n_syncs++];
	memset(s, 0, sizeof *s);
	s->batch = batch;
	uint64_t delay = n->sync_delay_max ? prng_below(&n->prng, n->sync_delay_max + 1) : 0;
	s->due = n->now + delay;
	if (n->n_syncs > 1 && s->due < n->syncs[n->n_syncs - 2].due)
		s->due = n->syncs[n->n_syncs - 2].due; /* syncs complete in order */
	if (u->n_entries) {
		s->last_index = u->entries[u->n_entries - 1].index;
		s->last_term = u->entries[u->n_entries - 1].term;
	}
	if (u->n_msgs) {
		s->msgs = keel_malloc(u->n_msgs * sizeof *s->msgs);
		for (uint32_t i = 0; i < u->n_msgs; i++)
			raft_msg_clone(&s->msgs[i], &u->msgs[i]);
		s->n_msgs = u->n_msgs;
	}
}

static void node_take_chunk(struct node *n, const struct raft_snapshot_chunk *c)
{
	if (c->offset == 0) {
		keel_free(n->incoming);
		n->incoming = keel_malloc(c->meta.size ? c->meta.size : 1);
		n->incoming_size = c->meta.size;
	}
	KEEL_ASSERT(n->incoming && c->offset + c->len <= n->incoming_size);
	memcpy(n->incoming + c->offset, c->data, c->len);
}

static void node_answer_reads(struct node *n)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n->n_reads; i++) {
		if (n->kv.applied >= n->reads[i].index)
			n->env.read(n->env.ctx, n, n->reads[i].req_id, KEEL_OK);
		else
			n->reads[k++] = n->reads[i];
	}
	n->n_reads = k;
}

static void node_take_reads(struct node *n, const struct raft_update *u)
{
	for (uint32_t i = 0; i < u->n_reads; i++) {
		const struct raft_read *rd = &u->reads[i];
		if (rd->status != KEEL_OK) {
			n->env.read(n->env.ctx, n, rd->req_id, rd->status);
			continue;
		}
		if (n->n_reads == n->cap_reads) {
			n->cap_reads = n->cap_reads ? n->cap_reads * 2 : 16;
			n->reads = keel_realloc(n->reads, n->cap_reads * sizeof *n->reads);
		}
		n->reads[n->n_reads++] = (struct node_read){rd->req_id, rd->index};
	}
}

static void node_apply(struct node *n, const struct raft_update *u)
{
	if (u->snap_install) {
		KEEL_ASSERT(n->incoming && n->incoming_size == u->snap_install->size);
		if (!regs_restore(&n->kv, n->incoming, n->incoming_size)) {
			fprintf(stderr, "node %llu: installed snapshot does not restore\n",
				(unsigned long long)n->id);
			abort();
		}
		KEEL_ASSERT(n->kv.applied == u->snap_install->index);
		keel_free(n->incoming);
		n->incoming = NULL;
	}
	for (uint32_t i = 0; i < u->n_committed; i++) {
		const struct raft_entry *e = &u->committed[i];
		int64_t out;
		KEEL_ASSERT(e->index == n->kv.applied + 1);
		regs_apply(&n->kv, e->index, e->term, e->type, e->data, e->len, &out);
		n->env.applied(n->env.ctx, n, e, out);
	}
}

static void node_want_snapshot(struct node *n, const struct raft_update *u)
{
	KEEL_ASSERT(!n->snapping);
	KEEL_ASSERT(n->kv.applied == u->snapshot_index);
	n->snapping = true;
	uint64_t d = n->snapshot_delay_max ? prng_below(&n->prng, n->snapshot_delay_max + 1) : 0;
	n->snap_due = n->now + d;
	size_t size = regs_snapshot_size(&n->kv);
	n->snap_data = keel_malloc(size);
	regs_snapshot(&n->kv, n->snap_data);
	memset(&n->snap_meta, 0, sizeof n->snap_meta);
	n->snap_meta.index = u->snapshot_index;
	n->snap_meta.term = raft_term_at(n->r, u->snapshot_index);
	n->snap_meta.size = size;
	n->snap_meta.crc = crc32c(0, n->snap_data, size);
}

/* Carries out one update. */
static void node_carry_out(struct node *n, struct raft_update *u)
{
	if (n->env.update)
		n->env.update(n->env.ctx, n, u);
	if (u->snap_chunk)
		node_take_chunk(n, u->snap_chunk);
	uint64_t batch = store_queue_update(&n->store, u);
	int rc = persist_write(&n->persist, u);
	if (rc) {
		node_storage_failed(n, rc);
		return;
	}
	for (uint32_t i = 0; i < u->n_msgs_now; i++)
		node_send(n, &u->msgs_now[i]);
	node_hold(n, u, batch);
	node_apply(n, u);
	node_take_reads(n, u);
	node_answer_reads(n);
	if (u->snapshot_wanted)
		node_want_snapshot(n, u);
}

/* A sync completes (or fails): the batch is durable; held messages leave. */
static bool node_sync_one(struct node *n)
{
	struct node_sync s = n->syncs[0];
	memmove(n->syncs, n->syncs + 1, (n->n_syncs - 1) * sizeof *n->syncs);
	n->n_syncs--;
	if (n->fsync_fail_pct && prng_below(&n->prng, 100) < n->fsync_fail_pct)
		simfs_fail(n->persist.disk, SIMFS_FDATASYNC, 0, KEEL_EIO, false);
	int rc = persist_sync(&n->persist);
	simfs_fail_clear(n->persist.disk); /* armed for this sync only */
	if (rc) {
		for (uint32_t k = 0; k < s.n_msgs; k++)
			raft_msg_clone_free(&s.msgs[k]);
		keel_free(s.msgs);
		node_storage_failed(n, rc);
		return false;
	}
	store_sync(&n->store, s.batch);
	if (s.last_index)
		raft_persisted(n->r, s.last_index, s.last_term);
	for (uint32_t k = 0; k < s.n_msgs; k++) {
		node_send(n, &s.msgs[k]);
		raft_msg_clone_free(&s.msgs[k]);
	}
	keel_free(s.msgs);
	return true;
}

static void node_snapshot_done(struct node *n)
{
	n->snapping = false;
	raft_snapshot_done(n->r, n->snap_meta.index, n->snap_meta.size, n->snap_meta.crc);
	/* The core fills in the configuration as of the snapshot's index; it
	 * ignores a snapshot an installed one overtook. The file is written
	 * and synced on its own (so the batches before it are durable too). */
	const struct raft_snapshot_meta *m = raft_snapshot_of(n->r);
	int rc = KEEL_OK;
	if (m && m->index == n->snap_meta.index && m->crc == n->snap_meta.crc) {
		rc = persist_save_snapshot(&n->persist, m, n->snap_data);
		if (!rc)
			store_sync(&n->store, store_queue_snapshot(&n->store, m, n->snap_data));
	}
	keel_free(n->snap_data);
	n->snap_data = NULL;
	if (rc)
		node_storage_failed(n, rc);
}

/* Completes the syncs and the snapshot that are due. */
static void node_complete_io(struct node *n)
{
	while (n->r && !raft_stopped(n->r) && n->n_syncs && n->syncs[0].due <= n->now) {
		if (!node_sync_one(n))
			return;
	}
	/* As in keel-server, a snapshot being written completes even after the
	 * core stopped on a storage error (the core then ignores it). */
	if (n->r && n->snapping && n->snap_due <= n->now)
		node_snapshot_done(n);
}

void node_process(struct node *n)
{
	uint32_t rounds = 0;
	while (n->r && !raft_stopped(n->r) && raft_has_update(n->r)) {
		if (++rounds > 100000) {
			fprintf(stderr, "node %llu: the core keeps producing updates (a loop)\n",
				(unsigned long long)n->id);
			abort();
		}
		struct raft_update u;
		raft_update_get(n->r, &u);
		node_carry_out(n, &u);
		raft_update_done(n->r, &u);
		/* Synchronous storage: the sync completes before the next update. */
		if (!n->sync_delay_max)
			node_complete_io(n);
	}
}

void node_advance(struct node *n, uint64_t now)
{
	n->now = now;
	node_complete_io(n);
	node_process(n);
}

bool node_busy(const struct node *n)
{
	return n->n_syncs || n->snapping;
}
