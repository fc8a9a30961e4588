/* storage/committer.c — the group commit of storage/committer.h, on its
 * thread or stepped by an embedder (manual mode): both run the queue
 * through run_queued. One mutex guards the queue and the published state;
 * it is held only to take the whole queue and to publish, never across
 * I/O. Each job names its storage; a pass writes the jobs in order and
 * then syncs each storage it wrote once (run_group). */
#include "storage/committer.h"

#include <pthread.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "storage/journal.h"

struct job {
	struct job *next;
	uint64_t seq;
	struct storage *st;	/* where it is written */
	bool is_snap;		/* adopting a snapshot another process wrote */
	struct storage_batch b; /* pointers below are owned copies */
	struct wal_entry *entries;
	struct snap_meta *chunk_meta, *install, *snap;
	uint8_t *data;	   /* chunk data (owned) */
	uint8_t *payloads; /* entries' data, back to back */
};

struct committer {
	void (*wake)(void *ctx);
	void *ctx;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work; /* the queue gained a job, or stop */
	pthread_cond_t done; /* durable or failed moved */
	struct job *head, *tail;
	uint64_t next_seq;
	uint64_t durable;
	int failed;
	struct keel_errmsg err;
	bool stopping;
	bool manual; /* no thread: committer_step runs the queue */
	bool deferred; /* a submit does not wake the thread: committer_kick does */
	void (*queued)(void *ctx, struct committer *c);
	void *queued_ctx;
	struct committer_stats stats;
	/* the thread's alone once set (committer_use_journal) */
	struct journal *journal;
	bool journaled;		/* it holds a record since its last reset */
	struct storage **dirty; /* storages journaled and not synced since */
	uint32_t n_dirty, cap_dirty;
};

static void job_free(struct job *j)
{
	keel_free(j->entries);
	keel_free(j->chunk_meta);
	keel_free(j->install);
	keel_free(j->snap);
	keel_free(j->data);
	keel_free(j->payloads);
	keel_free(j);
}

static struct snap_meta *meta_dup(const struct snap_meta *m)
{
	return m ? keel_memdup(m, sizeof *m) : NULL;
}

/* Copies what the batch points to: the caller's memory is free to go. */
static struct job *job_from_batch(struct storage *st, const struct storage_batch *b)
{
	struct job *j = keel_calloc(1, sizeof *j);
	j->st = st;
	j->b = *b;
	j->chunk_meta = meta_dup(b->chunk_meta);
	j->install = meta_dup(b->install);
	j->b.chunk_meta = j->chunk_meta;
	j->b.install = j->install;
	if (b->chunk_meta && b->chunk_len) {
		j->data = keel_memdup(b->chunk_data, b->chunk_len);
		j->b.chunk_data = j->data;
	}
	uint64_t total = 0;
	for (uint32_t i = 0; i < b->n_entries; i++)
		total += b->entries[i].len;
	if (b->n_entries) {
		j->entries = keel_memdup(b->entries, b->n_entries * sizeof *b->entries);
		j->payloads = keel_malloc(total ? total : 1);
		uint64_t off = 0;
		for (uint32_t i = 0; i < b->n_entries; i++) {
			if (b->entries[i].len)
				memcpy(j->payloads + off, b->entries[i].data, b->entries[i].len);
			j->entries[i].data = j->payloads + off;
			off += b->entries[i].len;
		}
		j->b.entries = j->entries;
	}
	return j;
}

static uint64_t enqueue(struct committer *c, struct job *j)
{
	KEEL_ASSERT(j->st);
	pthread_mutex_lock(&c->mu);
	j->seq = ++c->next_seq;
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	if (!c->deferred)
		pthread_cond_signal(&c->work);
	uint64_t seq = j->seq;
	pthread_mutex_unlock(&c->mu);
	if (c->manual)
		c->queued(c->queued_ctx, c);
	return seq;
}

uint64_t committer_submit(struct committer *c, struct storage *st, const struct storage_batch *b)
{
	return enqueue(c, job_from_batch(st, b));
}

uint64_t committer_adopt_snapshot(struct committer *c, struct storage *st,
				  const struct snap_meta *m)
{
	struct job *j = keel_calloc(1, sizeof *j);
	j->st = st;
	j->is_snap = true;
	j->snap = meta_dup(m);
	return enqueue(c, j);
}

/* A set of storages, each once, in the order added. */
struct written {
	struct storage **st;
	uint32_t n, cap;
};

static void written_add(struct written *w, struct storage *st)
{
	for (uint32_t i = 0; i < w->n; i++)
		if (w->st[i] == st)
			return;
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 4;
		w->st = keel_realloc(w->st, w->cap * sizeof *w->st);
	}
	w->st[w->n++] = st;
}

/* A job that changes its log other than by appending: the journal's
 * records of that log would no longer follow it. */
static bool rewrites(const struct job *j)
{
	return j->is_snap || j->b.install || j->b.truncate_from || j->b.purge_below;
}

/* A job whose writes the journal can stand for: appends and a hard state
 * (durable as storage_write returns). A snapshot chunk is synced by
 * storage_sync. */
static bool journalable(const struct job *j)
{
	return !rewrites(j) && !j->b.chunk_meta;
}

static void dirty_add(struct committer *c, struct storage *st)
{
	struct written w = {c->dirty, c->n_dirty, c->cap_dirty};
	written_add(&w, st);
	c->dirty = w.st;
	c->n_dirty = w.n;
	c->cap_dirty = w.cap;
}

static void dirty_remove(struct committer *c, struct storage *st)
{
	for (uint32_t i = 0; i < c->n_dirty; i++)
		if (c->dirty[i] == st) {
			c->dirty[i] = c->dirty[--c->n_dirty];
			return;
		}
}

/* Syncs every storage journaled since the last checkpoint, then empties
 * the journal. */
static int checkpoint(struct committer *c, struct keel_errmsg *err, struct committer_stats *cs)
{
	int rc = KEEL_OK;
	for (uint32_t i = 0; i < c->n_dirty && !rc; i++) {
		rc = storage_sync(c->dirty[i], err);
		cs->syncs++;
	}
	if (!rc)
		rc = journal_reset(c->journal, err);
	if (!rc) {
		c->n_dirty = 0;
		c->journaled = false;
		cs->checkpoints++;
	}
	return rc;
}

/* Makes the pass's appends durable with one record of the journal:
 * written to the logs, not synced. False if the record cannot be had
 * (the caller syncs each storage instead). */
static bool by_journal(struct committer *c, struct job *list, struct written *w,
		       struct keel_errmsg *err, int *rc, struct committer_stats *cs)
{
	for (uint32_t i = 0; i < w->n && !*rc; i++)
		*rc = storage_flush(w->st[i], err);
	for (struct job *j = list; j && !*rc; j = j->next)
		if (j->b.n_entries)
			journal_add(c->journal, storage_dir(j->st), j->b.entries, j->b.n_entries);
	if (!*rc && !journal_fits(c->journal) && journal_fits_empty(c->journal))
		*rc = checkpoint(c, err, cs);
	if (*rc || !journal_fits(c->journal)) {
		journal_discard(c->journal);
		return false;
	}
	if ((*rc = journal_commit(c->journal, err)))
		return true;
	cs->syncs++;
	cs->journaled++;
	c->journaled = true;
	for (uint32_t i = 0; i < w->n; i++)
		dirty_add(c, w->st[i]);
	return true;
}

/* Writes a group, each job to its storage in order, then makes it
 * durable: with one record of the journal when it has one, the pass
 * wrote more than one storage and only appends; else with one sync of
 * each storage written. Before a job that rewrites a log the journal is
 * emptied (a checkpoint). Returns its last seq, or 0 on the first error
 * (nothing after it is written or synced; *err is that storage's). */
static uint64_t run_group(struct committer *c, struct job *list, struct keel_errmsg *err, int *rc,
			  struct committer_stats *cs)
{
	struct written w = {0};
	uint64_t last = 0;
	bool journal = c->journal != NULL, rewrite = false;
	for (struct job *j = list; j; j = j->next) {
		written_add(&w, j->st);
		journal = journal && journalable(j);
		rewrite = rewrite || rewrites(j);
	}
	journal = journal && w.n > 1;
	*rc = KEEL_OK;
	if (rewrite && c->journaled)
		*rc = checkpoint(c, err, cs);
	for (struct job *j = list; j && !*rc; j = j->next) {
		if (j->is_snap)
			*rc = storage_adopt_snapshot(j->st, j->snap, err);
		else
			*rc = storage_write(j->st, &j->b, err);
		last = j->seq;
		cs->batches++;
		for (uint32_t i = 0; i < j->b.n_entries; i++)
			cs->bytes += j->b.entries[i].len;
	}
	if (!*rc && !(journal && by_journal(c, list, &w, err, rc, cs)))
		for (uint32_t i = 0; i < w.n && !*rc; i++) {
			*rc = storage_sync(w.st[i], err);
			cs->syncs++;
			if (!*rc && c->journal)
				dirty_remove(c, w.st[i]); /* its log holds it all */
		}
	keel_free(w.st);
	cs->groups++;
	return *rc ? 0 : last;
}

static void jobs_free(struct job *list)
{
	while (list) {
		struct job *next = list->next;
		job_free(list);
		list = next;
	}
}

/* Takes the whole queue, writes it as one group, publishes the outcome
 * and wakes the loop: the thread's pass and committer_step alike. Called
 * with mu held and a job queued; returns with it held. False after a
 * storage error (fail-stop: nothing more is written or published). */
static bool run_queued(struct committer *c)
{
	struct job *list = c->head;
	c->head = c->tail = NULL;
	pthread_mutex_unlock(&c->mu);

	struct keel_errmsg err = {{0}};
	struct committer_stats st = {0};
	int rc;
	uint64_t last = run_group(c, list, &err, &rc, &st);
	jobs_free(list);

	pthread_mutex_lock(&c->mu);
	if (rc) {
		c->failed = rc;
		c->err = err;
	} else {
		c->durable = last;
		c->stats.groups += st.groups;
		c->stats.batches += st.batches;
		c->stats.bytes += st.bytes;
		c->stats.syncs += st.syncs;
		c->stats.journaled += st.journaled;
		c->stats.checkpoints += st.checkpoints;
	}
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->mu);
	if (c->wake)
		c->wake(c->ctx);
	pthread_mutex_lock(&c->mu);
	return !rc;
}

static void *thread_main(void *arg)
{
	struct committer *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->head && !c->stopping)
			pthread_cond_wait(&c->work, &c->mu);
		if (!c->head || !run_queued(c))
			break;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static struct committer *committer_new(void (*wake)(void *ctx), void *ctx)
{
	struct committer *c = keel_calloc(1, sizeof *c);
	c->wake = wake;
	c->ctx = ctx;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->done, NULL);
	return c;
}

/* Frees it with whatever is still queued, unwritten. */
static void committer_free(struct committer *c)
{
	jobs_free(c->head);
	journal_close(c->journal);
	keel_free(c->dirty);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->done);
	keel_free(c);
}

int committer_start(void (*wake)(void *ctx), void *ctx, struct committer **out,
		    struct keel_errmsg *err)
{
	struct committer *c = committer_new(wake, ctx);
	if (pthread_create(&c->thread, NULL, thread_main, c) != 0) {
		keel_errmsg_set(err, "cannot start the storage thread");
		committer_free(c);
		return KEEL_ENOMEM;
	}
	*out = c;
	return KEEL_OK;
}

int committer_start_manual(void (*wake)(void *ctx), void *wake_ctx,
			   void (*queued)(void *ctx, struct committer *c), void *queued_ctx,
			   struct committer **out, struct keel_errmsg *err)
{
	if (!queued) {
		keel_errmsg_set(err, "a manual committer needs its queued callback");
		return KEEL_EINVAL;
	}
	struct committer *c = committer_new(wake, wake_ctx);
	c->manual = true;
	c->queued = queued;
	c->queued_ctx = queued_ctx;
	*out = c;
	return KEEL_OK;
}

bool committer_step(struct committer *c)
{
	KEEL_ASSERT(c->manual);
	pthread_mutex_lock(&c->mu);
	bool ran = c->head && !c->failed;
	if (ran)
		run_queued(c);
	pthread_mutex_unlock(&c->mu);
	return ran;
}

void committer_stop(struct committer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	if (c->manual) { /* the queue is written here, and nobody is woken */
		c->wake = NULL;
		while (c->head && !c->failed)
			run_queued(c);
	}
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->mu);
	if (!c->manual)
		pthread_join(c->thread, NULL);
	if (c->journaled && !c->failed) { /* a clean stop leaves it empty */
		struct keel_errmsg err;
		struct committer_stats st = {0};
		checkpoint(c, &err, &st); /* on failure the next start replays it */
	}
	committer_free(c); /* what a failure left is never written */
}

void committer_discard(struct committer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	jobs_free(c->head); /* never written */
	c->head = c->tail = NULL;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->mu);
	if (!c->manual)
		pthread_join(c->thread, NULL); /* after the group it is writing, if any */
	committer_free(c);
}

void committer_use_journal(struct committer *c, struct journal *j)
{
	pthread_mutex_lock(&c->mu);
	KEEL_ASSERT(!c->journal && !c->next_seq);
	c->journal = j;
	pthread_mutex_unlock(&c->mu);
}

uint64_t committer_durable(struct committer *c, int *failed, struct keel_errmsg *err)
{
	pthread_mutex_lock(&c->mu);
	uint64_t d = c->durable;
	*failed = c->failed;
	if (err && c->failed)
		*err = c->err;
	pthread_mutex_unlock(&c->mu);
	return d;
}

void committer_defer(struct committer *c)
{
	pthread_mutex_lock(&c->mu);
	c->deferred = !c->manual;
	pthread_mutex_unlock(&c->mu);
}

void committer_kick(struct committer *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->head)
		pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->mu);
}

int committer_wait(struct committer *c, uint64_t seq)
{
	pthread_mutex_lock(&c->mu);
	if (c->head)
		pthread_cond_signal(&c->work); /* what it waits for may be held back */
	while (c->durable < seq && !c->failed) {
		if (!c->manual)
			pthread_cond_wait(&c->done, &c->mu);
		else if (!c->head || !run_queued(c))
			break; /* not submitted yet: it never becomes durable here */
	}
	int rc = c->durable >= seq ? KEEL_OK : c->failed ? c->failed : KEEL_EINVAL;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void committer_stats(struct committer *c, struct committer_stats *s)
{
	pthread_mutex_lock(&c->mu);
	*s = c->stats;
	pthread_mutex_unlock(&c->mu);
}
