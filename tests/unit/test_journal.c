/* tests/unit/test_journal.c — src/storage/journal.c and the committer's
 * use of it, over the simulated disk: passes over several storages made
 * durable by one record, checkpoints before a log is rewritten and when
 * the file is full, and crashes at every step that lose any unsynced
 * write of the logs, after which recovery must give back every entry a
 * pass made durable, and only entries that were written. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "base/prng.h"
#include "sim/simfs.h"
#include "storage/committer.h"
#include "storage/journal.h"
#include "storage/storage.h"

#define N_ST	3
#define MAX_IDX 4096
static const char *const dirs[N_ST] = {"d", "d/s1", "d/s2"};

static struct storage_options opts(void)
{
	struct storage_options o;
	storage_options_default(&o);
	o.wal.segment_bytes = 4096; /* many segments: rotations inside passes */
	return o;
}

static uint32_t payload(uint32_t st, uint64_t i, uint64_t t, uint8_t *buf)
{
	uint32_t len = (uint32_t)((i * 37 + st * 11) % 150);
	for (uint32_t k = 0; k < len; k++)
		buf[k] = (uint8_t)(i * 131 + t * 7 + k + st);
	return len;
}

/* A log as the test expects it: term[i] for i in [1, last]. */
struct model {
	uint64_t last, term[MAX_IDX], cur_term, purged;
};

struct stepper {
	struct committer *c;
	uint32_t wakes;
};

static void on_queued(void *ctx, struct committer *c)
{
	(void)ctx;
	(void)c;
}

static void on_wake(void *ctx)
{
	((struct stepper *)ctx)->wakes++;
}

static struct storage *must_open(struct simfs *fs, uint32_t k)
{
	struct storage_options o = opts();
	struct storage *st = NULL;
	struct keel_errmsg err = {{0}};
	int rc = storage_open(simfs_ops(fs), dirs[k], &o, &st, &err);
	if (rc)
		fail_msg("open %s: %s", dirs[k], err.text);
	return st;
}

/* The storage holds exactly the model's log (from wherever a purge left
 * its start), entry by entry. */
static void expect_model(struct storage *st, uint32_t k, const struct model *m)
{
	const struct storage_loaded *l = storage_loaded(st);
	if (storage_last(st) != m->last)
		fail_msg("%s: log ends at %" PRIu64 ", expected %" PRIu64, dirs[k],
			 storage_last(st), m->last);
	assert_true(storage_first(st) <= m->purged + 1 || m->last < storage_first(st));
	for (uint32_t i = 0; i < l->n_entries; i++) {
		const struct wal_entry *e = &l->entries[i];
		uint8_t buf[256];
		assert_true(e->index <= m->last);
		if (e->term != m->term[e->index])
			fail_msg("%s: entry %" PRIu64 " term %" PRIu64 ", expected %" PRIu64,
				 dirs[k], e->index, e->term, m->term[e->index]);
		uint32_t len = payload(k, e->index, e->term, buf);
		assert_int_equal(e->len, len);
		assert_memory_equal(e->data, buf, len);
	}
}

struct world {
	struct simfs *fs;
	struct storage *st[N_ST];
	struct stepper t;
	struct model dur[N_ST], work[N_ST];
	uint64_t restored, journaled, checkpoints;
};

/* A disk whose storages hold the hard state of term 1 and no entry. */
static struct world *world_new(void)
{
	struct world *w = keel_calloc(1, sizeof *w);
	w->fs = simfs_new();
	for (uint32_t k = 0; k < N_ST; k++) {
		w->dur[k].cur_term = w->work[k].cur_term = 1;
		struct storage *st = must_open(w->fs, k);
		struct storage_batch b = {.hs = true, .term = 1};
		struct keel_errmsg err = {{0}};
		assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
		storage_close(st);
	}
	return w;
}

static void start(struct world *w, uint64_t bytes)
{
	struct storage_options o = opts();
	struct journal_replayed did;
	struct keel_errmsg err = {{0}};
	if (journal_recover(simfs_ops(w->fs), "d", &o, &did, &err))
		fail_msg("recover: %s", err.text);
	w->restored += did.appended;
	for (uint32_t k = 0; k < N_ST; k++) {
		w->st[k] = must_open(w->fs, k);
		expect_model(w->st[k], k, &w->dur[k]);
		storage_loaded_release(w->st[k]);
	}
	struct journal *j;
	if (journal_create(simfs_ops(w->fs), "d", bytes, 7, &j, &err))
		fail_msg("create: %s", err.text);
	assert_int_equal(committer_start_manual(on_wake, &w->t, on_queued, &w->t, &w->t.c, &err),
			 KEEL_OK);
	committer_use_journal(w->t.c, j);
}

static void stop_stats(struct world *w)
{
	struct committer_stats cs;
	committer_stats(w->t.c, &cs);
	w->journaled += cs.journaled;
	w->checkpoints += cs.checkpoints;
}

/* Entries [from, from + n) of the current term to storage k. */
static void submit_entries(struct world *w, uint32_t k, uint64_t from, uint32_t n,
			   uint64_t truncate_from, uint64_t purge_below, bool hs)
{
	struct model *m = &w->work[k];
	struct wal_entry e[4];
	uint8_t buf[4][256];
	for (uint32_t i = 0; i < n; i++) {
		e[i] = (struct wal_entry){.term = m->cur_term, .index = from + i, .type = 1};
		e[i].len = payload(k, from + i, m->cur_term, buf[i]);
		e[i].data = buf[i];
		m->term[from + i] = m->cur_term;
	}
	if (n)
		m->last = from + n - 1;
	struct storage_batch b = {.entries = e,
				  .n_entries = n,
				  .truncate_from = truncate_from,
				  .purge_below = purge_below,
				  .hs = hs,
				  .term = m->cur_term};
	if (purge_below > m->purged)
		m->purged = purge_below - 1;
	committer_submit(w->t.c, w->st[k], &b);
}

/* One random pass: appends to some storages, now and then a truncation
 * or a new term. (A purge rewrites a log as a truncation does, by the same
 * rule; without a snapshot before it the log would not open.) */
static void random_pass(struct world *w, struct prng *p)
{
	uint32_t jobs = (uint32_t)prng_range(p, 1, 4);
	for (uint32_t q = 0; q < jobs; q++) {
		uint32_t k = (uint32_t)prng_below(p, N_ST);
		struct model *m = &w->work[k];
		if (m->last + 8 >= MAX_IDX)
			continue;
		uint32_t n = (uint32_t)prng_range(p, 1, 3);
		uint32_t what = (uint32_t)prng_below(p, 20);
		if (what == 0 && m->last > m->purged + 2) { /* a conflict: cut and go on */
			uint64_t from = prng_range(
				p, m->last > m->purged + 4 ? m->last - 3 : m->purged + 2, m->last);
			m->cur_term++;
			submit_entries(w, k, from, n, from, 0, true);
		} else if (what == 2) {
			m->cur_term++;
			submit_entries(w, k, m->last + 1, n, 0, 0, true);
		} else {
			submit_entries(w, k, m->last + 1, n, 0, 0, false);
		}
	}
}

static void world_free(struct world *w)
{
	for (uint32_t k = 0; k < N_ST; k++)
		storage_close(w->st[k]);
}

/* Random passes over three storages; after some, a crash that keeps any
 * prefix of each file's unsynced writes (or, before a step, drops what is
 * queued). Recovery gives back exactly what the passes made durable. */
static void crash_anywhere(void **state)
{
	(void)state;
	uint64_t restored = 0, journaled = 0, checkpoints = 0, crashes = 0;
	for (uint64_t seed = 1; seed <= 60; seed++) {
		struct prng p;
		prng_seed(&p, seed);
		struct world *w = world_new();
		uint64_t bytes = seed % 3 ? 4096 : 64 << 10; /* small: full often */
		start(w, bytes);
		for (uint32_t step = 0; step < 120; step++) {
			random_pass(w, &p);
			bool dropped = prng_chance(&p, 1, 15);
			if (!dropped) {
				assert_true(committer_step(w->t.c));
				int failed;
				committer_durable(w->t.c, &failed, NULL);
				assert_int_equal(failed, KEEL_OK);
				memcpy(w->dur, w->work, sizeof w->dur);
			}
			if (dropped || prng_chance(&p, 1, 10)) {
				stop_stats(w);
				committer_discard(w->t.c);
				world_free(w);
				simfs_crash(w->fs, &p);
				crashes++;
				memcpy(w->work, w->dur, sizeof w->dur);
				start(w, bytes);
			}
		}
		stop_stats(w);
		committer_stop(w->t.c); /* a clean stop: the journal left empty */
		world_free(w);
		simfs_crash_clean(w->fs);
		struct storage_options o = opts();
		struct journal_replayed did;
		struct keel_errmsg err = {{0}};
		assert_int_equal(journal_recover(simfs_ops(w->fs), "d", &o, &did, &err), KEEL_OK);
		assert_int_equal(did.appended, 0);
		assert_int_equal(did.records, 1); /* the empty record of the last checkpoint */
		for (uint32_t k = 0; k < N_ST; k++) {
			w->st[k] = must_open(w->fs, k);
			expect_model(w->st[k], k, &w->dur[k]);
		}
		world_free(w);
		restored += w->restored;
		journaled += w->journaled;
		checkpoints += w->checkpoints;
		simfs_free(w->fs);
		keel_free(w);
	}
	/* the paths were taken: entries came back from the journal alone */
	printf("journal: %" PRIu64 " crashes, %" PRIu64 " passes by the journal, %" PRIu64
	       " checkpoints, %" PRIu64 " entries restored\n",
	       crashes, journaled, checkpoints, restored);
	assert_true(restored > 100);
	assert_true(journaled > 1000);
	assert_true(checkpoints > 100);
}

/* The offset in d/s1's only segment of entry i's record. */
static uint64_t record_at(struct world *w, uint64_t i, char *seg)
{
	const struct io_fs *o = simfs_ops(w->fs);
	char **names;
	uint32_t n;
	assert_int_equal(o->list(o->ctx, "d/s1", &names, &n), KEEL_OK);
	seg[0] = 0;
	for (uint32_t k = 0; k < n; k++)
		if (!strncmp(names[k], "open-", 5))
			snprintf(seg, 64, "d/s1/%s", names[k]);
	io_names_free(names, n);
	assert_true(seg[0]);
	uint64_t off = 16; /* the segment's header */
	for (uint64_t k = 1; k < i; k++) {
		uint8_t buf[256];
		off += wal_record_bytes(payload(1, k, 1, buf));
	}
	return off;
}

/* A log damaged before its tail (a record bad, a valid one after it: an
 * unsynced write lost while a later one was kept) is repaired at start
 * only where the journal holds what the repair discards. */
static void replay_repairs_inside_the_journal(void **state)
{
	(void)state;
	for (int inside = 0; inside <= 1; inside++) {
		struct world *w = world_new();
		start(w, 64 << 10);
		submit_entries(w, 1, 1, 3, 0, 0, false); /* one storage: synced itself */
		assert_true(committer_step(w->t.c));
		submit_entries(w, 1, 4, 3, 0, 0, false); /* two: by the journal */
		submit_entries(w, 2, 1, 1, 0, 0, false);
		assert_true(committer_step(w->t.c));
		memcpy(w->dur, w->work, sizeof w->dur);
		struct committer_stats cs;
		committer_stats(w->t.c, &cs);
		assert_int_equal(cs.journaled, 1);
		committer_discard(w->t.c);
		struct keel_errmsg err = {{0}};
		assert_int_equal(storage_sync(w->st[1], &err), KEEL_OK); /* 4..6 there too */
		world_free(w);
		simfs_crash_clean(w->fs);
		/* entry 4 (journaled) or 2 (not) damaged, later ones intact */
		char seg[64];
		uint64_t off = record_at(w, inside ? 4 : 2, seg) + 24; /* its index */
		uint8_t b;
		simfs_peek(w->fs, seg, off, &b, 1);
		b ^= 0x40;
		simfs_poke(w->fs, seg, off, &b, 1);
		struct storage_options o = opts();
		struct journal_replayed did;
		memset(err.text, 0, sizeof err.text);
		int rc = journal_recover(simfs_ops(w->fs), "d", &o, &did, &err);
		if (inside) {
			if (rc)
				fail_msg("recover: %s", err.text);
			assert_int_equal(did.appended, 4); /* 4..6 of d/s1, 1 of d/s2 */
			for (uint32_t k = 0; k < N_ST; k++) {
				w->st[k] = must_open(w->fs, k);
				expect_model(w->st[k], k, &w->dur[k]);
			}
			world_free(w);
		} else {
			assert_int_equal(rc, KEEL_ECORRUPT);
			assert_non_null(strstr(err.text, "damaged at index 2, before what the "
							 "journal holds (from 4)"));
		}
		simfs_free(w->fs);
		keel_free(w);
	}
}

/* A folder name of 255 bytes (the most a record holds) is replayed. */
static void replay_long_name(void **state)
{
	(void)state;
	struct simfs *fs = simfs_new();
	static char dir[300], name[256];
	memset(name, 'n', 255);
	snprintf(dir, sizeof dir, "d/%s", name);
	struct storage_options o = opts();
	struct storage *st;
	struct keel_errmsg err = {{0}};
	assert_int_equal(storage_open(simfs_ops(fs), "d", &o, &st, &err), KEEL_OK);
	storage_close(st);
	assert_int_equal(storage_open(simfs_ops(fs), dir, &o, &st, &err), KEEL_OK);
	struct storage_batch hs = {.hs = true, .term = 1};
	assert_int_equal(storage_write(st, &hs, &err), KEEL_OK);
	storage_close(st);
	struct journal *j;
	assert_int_equal(journal_create(simfs_ops(fs), "d", 4096, 7, &j, &err), KEEL_OK);
	struct wal_entry e = {
		.term = 1, .index = 1, .type = 1, .len = 2, .data = (const uint8_t *)"ab"};
	journal_add(j, dir, &e, 1);
	assert_int_equal(journal_commit(j, &err), KEEL_OK);
	journal_close(j);
	struct journal_replayed did;
	assert_int_equal(journal_recover(simfs_ops(fs), "d", &o, &did, &err), KEEL_OK);
	assert_int_equal(did.appended, 1);
	assert_int_equal(storage_open(simfs_ops(fs), dir, &o, &st, &err), KEEL_OK);
	assert_int_equal(storage_last(st), 1);
	storage_close(st);
	simfs_free(fs);
}

/* The journal's fdatasync fails: that pass is never durable, nothing
 * later is written, and a start after the crash has what was durable. */
static void journal_sync_fails(void **state)
{
	(void)state;
	struct world *w = world_new();
	start(w, 64 << 10);
	submit_entries(w, 0, 1, 2, 0, 0, false);
	submit_entries(w, 1, 1, 2, 0, 0, false);
	assert_true(committer_step(w->t.c));
	memcpy(w->dur, w->work, sizeof w->dur);
	simfs_fail(w->fs, SIMFS_FDATASYNC, 0, KEEL_EIO, false);
	submit_entries(w, 0, 3, 1, 0, 0, false);
	submit_entries(w, 2, 1, 1, 0, 0, false);
	assert_true(committer_step(w->t.c));
	int failed;
	struct keel_errmsg err = {{0}};
	assert_int_equal(committer_durable(w->t.c, &failed, &err), 2);
	assert_int_equal(failed, KEEL_EIO);
	assert_non_null(strstr(err.text, "journal"));
	submit_entries(w, 1, 3, 1, 0, 0, false);
	assert_false(committer_step(w->t.c)); /* fail-stop */
	committer_stop(w->t.c);
	world_free(w);
	simfs_fail_clear(w->fs);
	simfs_crash_clean(w->fs);
	memcpy(w->work, w->dur, sizeof w->dur);
	start(w, 64 << 10); /* exactly the first pass */
	committer_stop(w->t.c);
	world_free(w);
	simfs_free(w->fs);
	keel_free(w);
}

/* A log's write fails in a pass the journal would make durable: the pass
 * is not durable, though the other log's write and the journal's would
 * succeed. */
static void log_write_fails(void **state)
{
	(void)state;
	struct world *w = world_new();
	start(w, 64 << 10);
	submit_entries(w, 0, 1, 2, 0, 0, false); /* the segments made */
	submit_entries(w, 1, 1, 2, 0, 0, false);
	assert_true(committer_step(w->t.c));
	submit_entries(w, 0, 3, 1, 0, 0, false);
	submit_entries(w, 1, 3, 1, 0, 0, false);
	simfs_fail(w->fs, SIMFS_WRITE, 0, KEEL_EIO, false); /* d's flush, the first */
	assert_true(committer_step(w->t.c));
	int failed;
	struct keel_errmsg err = {{0}};
	assert_int_equal(committer_durable(w->t.c, &failed, &err), 2);
	assert_int_equal(failed, KEEL_EIO);
	assert_non_null(strstr(err.text, "open-"));
	committer_stop(w->t.c);
	world_free(w);
	simfs_free(w->fs);
	keel_free(w);
}

/* A pass whose record would not fit in an empty journal is made durable
 * by a sync of each log it wrote. */
static void record_larger_than_the_file(void **state)
{
	(void)state;
	struct world *w = world_new();
	start(w, 4096);
	for (uint64_t i = 1; i <= 40; i += 4) {
		submit_entries(w, 0, i, 4, 0, 0, false);
		submit_entries(w, 1, i, 4, 0, 0, false);
	}
	assert_true(committer_step(w->t.c));
	memcpy(w->dur, w->work, sizeof w->dur);
	struct committer_stats cs;
	committer_stats(w->t.c, &cs);
	assert_int_equal(cs.journaled, 0);
	assert_int_equal(cs.syncs, 2);
	committer_discard(w->t.c);
	world_free(w);
	simfs_crash_clean(w->fs);
	start(w, 4096); /* every entry there */
	committer_stop(w->t.c);
	world_free(w);
	simfs_free(w->fs);
	keel_free(w);
}

/* A journaled entry the log holds with another term, or a journal that
 * goes on past the end of a log, is refused with the storage and index. */
static void replay_refuses_what_does_not_follow(void **state)
{
	(void)state;
	for (int gap = 0; gap <= 1; gap++) {
		struct world *w = world_new();
		struct keel_errmsg err = {{0}};
		/* the log of d/s1 holds 1..3 of term 5, durably */
		struct storage *st = must_open(w->fs, 1);
		struct wal_entry e[3];
		for (uint32_t i = 0; i < 3; i++)
			e[i] = (struct wal_entry){.term = 5, .index = i + 1, .type = 1};
		struct storage_batch b = {.entries = e, .n_entries = 3, .hs = true, .term = 5};
		assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
		assert_int_equal(storage_sync(st, &err), KEEL_OK);
		storage_close(st);
		/* the journal has 2..3 of term 4, or 5..6 of term 5 */
		struct journal *j;
		assert_int_equal(journal_create(simfs_ops(w->fs), "d", 4096, 7, &j, &err), KEEL_OK);
		for (uint32_t i = 0; i < 2; i++)
			e[i] = (struct wal_entry){
				.term = gap ? 5 : 4, .index = (gap ? 5 : 2) + i, .type = 1};
		journal_add(j, "d/s1", e, 2);
		struct wal_entry ok = {.term = 1, .index = 1, .type = 1};
		journal_add(j, "d/s2", &ok, 1); /* replayed or not, the start fails */
		assert_true(journal_fits(j));
		assert_int_equal(journal_commit(j, &err), KEEL_OK);
		journal_close(j);
		struct storage_options o = opts();
		struct journal_replayed did;
		int rc = journal_recover(simfs_ops(w->fs), "d", &o, &did, &err);
		assert_int_equal(rc, KEEL_ECORRUPT);
		assert_non_null(strstr(err.text, "d/s1"));
		assert_non_null(strstr(err.text, gap ? "ends at 3 and the journal goes on at 5"
						     : "entry 2 has term 5 in the log, 4"));
		simfs_free(w->fs);
		keel_free(w);
	}
}

/* A record as journal.c writes it, of generation gen, holding body. */
static size_t record(uint8_t *out, uint64_t gen, uint32_t sections, const uint8_t *body,
		     uint32_t len)
{
	memcpy(out, "KJR1", 4);
	bytes_put_u64(out + 8, gen);
	bytes_put_u32(out + 16, len);
	bytes_put_u32(out + 20, sections);
	memcpy(out + 24, body, len);
	bytes_put_u32(out + 4, crc32c(0, out + 8, 16 + (size_t)len));
	size_t total = 24 + (size_t)len;
	while (total % 8)
		out[total++] = 0;
	return total;
}

/* A section of one entry: name, then term 3, index 9, type, length len
 * (claimed), with `have` payload bytes present. */
static uint32_t section(uint8_t *out, const char *name, uint8_t type, uint32_t len, uint32_t have)
{
	uint16_t nl = (uint16_t)strlen(name);
	bytes_put_u16(out, nl);
	bytes_put_u32(out + 2, 1);
	memcpy(out + 6, name, nl);
	uint8_t *e = out + 6 + nl;
	bytes_put_u64(e, 3);
	bytes_put_u64(e + 8, 9);
	e[16] = type;
	bytes_put_u32(e + 17, len);
	memset(e + 21, 'v', have);
	return 6u + nl + 21u + have;
}

static int count_entries(void *ctx, const char *name, const struct wal_entry *e)
{
	(void)name;
	assert_int_equal(e->term, 3);
	assert_int_equal(e->index, 9);
	(*(uint32_t *)ctx)++;
	return KEEL_OK;
}

/* ctx: the bytes scanned, [lo, hi): every entry lies inside them. */
static int inside_file(void *ctx, const char *name, const struct wal_entry *e)
{
	const uint8_t *const *f = ctx;
	(void)name;
	assert_true(e->data >= f[0] && e->data + e->len <= f[1]);
	return KEEL_OK;
}

static int refuse(void *ctx, const char *name, const struct wal_entry *e)
{
	(void)ctx;
	(void)name;
	(void)e;
	return KEEL_EINVAL;
}

/* The scan stops at a torn or foreign record and refuses a record whose
 * checksum holds but whose sections do not add up. */
static void scan_edges(void **state)
{
	(void)state;
	struct keel_errmsg err = {{0}};
	uint8_t zero[64] = {0};
	assert_int_equal(journal_scan(zero, sizeof zero, NULL, NULL, &err), 0);
	assert_int_equal(journal_scan(zero, 0, NULL, NULL, &err), 0);
	assert_int_equal(journal_scan(zero, 23, NULL, NULL, &err), 0);

	static uint8_t f[4096], body[512];
	uint32_t n = 0;
	/* two good records of one generation: both read */
	uint32_t bl = section(body, "meta", 1, 4, 4);
	size_t off = record(f, 7, 1, body, bl);
	off += record(f + off, 7, 1, body, bl);
	assert_int_equal(journal_scan(f, off, count_entries, &n, &err), 2);
	assert_int_equal(n, 2);
	/* one byte short of the second: it is a torn tail */
	n = 0;
	assert_int_equal(journal_scan(f, off - 9, count_entries, &n, &err), 1);
	assert_int_equal(n, 1);
	/* a second record of another generation ends the data */
	size_t one = record(f, 7, 1, body, bl);
	off = one + record(f + one, 8, 1, body, bl);
	assert_int_equal(journal_scan(f, off, NULL, NULL, &err), 1);
	/* a bad checksum ends it too */
	off = one + record(f + one, 7, 1, body, bl);
	f[one + 30] ^= 1;
	assert_int_equal(journal_scan(f, off, NULL, NULL, &err), 1);
	/* the callback's refusal is the scan's */
	assert_int_equal(journal_scan(f, one, refuse, NULL, &err), -1);

	/* checksums that hold over sections that do not add up: refused */
	struct {
		uint32_t len, have, sections;
		uint8_t type;
		const char *name;
	} bad[] = {
		{5, 4, 1, 1, "meta"}, /* an entry longer than what is left */
		{4, 4, 1, 0, "meta"}, /* type 0 */
		{4, 4, 2, 1, "meta"}, /* a second section missing */
		{4, 4, 0, 1, "meta"}, /* bytes past the sections */
		{4, 4, 1, 1, ""},     /* no name */
	};
	for (uint32_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		bl = section(body, bad[i].name, bad[i].type, bad[i].len, bad[i].have);
		off = record(f, 1, bad[i].sections, body, bl);
		memset(err.text, 0, sizeof err.text);
		const uint8_t *bounds[2] = {f, f + 24 + bl}; /* the record's body */
		assert_int_equal(journal_scan(f, off, inside_file, bounds, &err), -1);
		assert_non_null(strstr(err.text, "malformed"));
	}
	/* a record ending exactly at the end of the file (body a multiple of
	 * 8, no padding) is read */
	bl = section(body, "metadata", 1, 5, 5); /* 6 + 8 + 21 + 5 = 40 */
	off = record(f, 1, 1, body, bl);
	assert_int_equal(off, 64);
	assert_int_equal(journal_scan(f, off, NULL, NULL, &err), 1);
	/* a name with a NUL in it */
	bl = section(body, "meta", 1, 4, 4);
	body[6 + 2] = 0;
	off = record(f, 1, 1, body, bl);
	assert_int_equal(journal_scan(f, off, NULL, NULL, &err), -1);
	/* an index of 0 and a header cut inside an entry's */
	bl = section(body, "meta", 1, 4, 4);
	bytes_put_u64(body + 6 + 4 + 8, 0);
	off = record(f, 1, 1, body, bl);
	assert_int_equal(journal_scan(f, off, NULL, NULL, &err), -1);
	bl = section(body, "meta", 1, 4, 4);
	off = record(f, 1, 1, body, 6 + 4 + 20);
	assert_int_equal(journal_scan(f, off, NULL, NULL, &err), -1);
	/* a name of 256 bytes */
	static char longname[257];
	memset(longname, 'n', 256);
	bl = section(body, longname, 1, 0, 0);
	off = record(f, 1, 1, body, bl);
	assert_int_equal(journal_scan(f, off, NULL, NULL, &err), -1);
}

/* A journal of no record (zeros: a crash before its first record was
 * written) replays nothing and is removed; one asked for fewer than 4096
 * bytes gets 4096. */
static void journal_empty_and_small(void **state)
{
	(void)state;
	struct simfs *fs = simfs_new();
	const struct io_fs *o = simfs_ops(fs);
	struct storage_options so = opts();
	struct keel_errmsg err = {{0}};
	struct journal_replayed did;
	assert_int_equal(o->mkdir(o->ctx, "d"), KEEL_OK);
	int fd;
	static const uint8_t zeros[512];
	assert_int_equal(o->open(o->ctx, "d/journal", IO_CREATE, &fd), KEEL_OK);
	assert_int_equal(o->pwrite(o->ctx, fd, zeros, sizeof zeros, 0), KEEL_OK);
	o->close(o->ctx, fd);
	assert_int_equal(journal_recover(o, "d", &so, &did, &err), KEEL_OK);
	assert_int_equal(did.records, 0);
	assert_false(simfs_exists(fs, "d/journal"));
	assert_int_equal(journal_recover(o, "d", &so, &did, &err), KEEL_OK); /* none: none */
	struct journal *j;
	assert_int_equal(journal_create(o, "d", 4095, 7, &j, &err), KEEL_OK);
	assert_int_equal(simfs_size(fs, "d/journal"), 4096);
	journal_close(j);
	simfs_free(fs);
}

/* An entry claiming more than WAL_PAYLOAD_MAX, in a record whose checksum
 * holds and which has the bytes, is refused. */
static void scan_oversized_entry(void **state)
{
	(void)state;
	uint32_t len = WAL_PAYLOAD_MAX + 1;
	size_t body = 6 + 4 + 21 + (size_t)len, total = 24 + ((body + 7) & ~(size_t)7);
	uint8_t *f = keel_calloc(1, total);
	memcpy(f, "KJR1", 4);
	bytes_put_u64(f + 8, 1);
	bytes_put_u32(f + 16, (uint32_t)body);
	bytes_put_u32(f + 20, 1);
	uint8_t *q = f + 24;
	bytes_put_u16(q, 4);
	bytes_put_u32(q + 2, 1);
	memcpy(q + 6, "meta", 4);
	bytes_put_u64(q + 10, 3);
	bytes_put_u64(q + 18, 9);
	q[26] = 1;
	bytes_put_u32(q + 27, len);
	bytes_put_u32(f + 4, crc32c(0, f + 8, 16 + body));
	struct keel_errmsg err = {{0}};
	assert_int_equal(journal_scan(f, total, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.text, "malformed"));
	bytes_put_u32(q + 27, len - 1); /* one byte less, the record one byte shorter */
	bytes_put_u32(f + 16, (uint32_t)body - 1);
	bytes_put_u32(f + 4, crc32c(0, f + 8, 16 + body - 1));
	assert_int_equal(journal_scan(f, total, NULL, NULL, &err), 1);
	keel_free(f);
}

/* A record whose checksum holds but that names a folder outside the
 * journal's own ("/...", or any ".." in it) is refused at recovery, and
 * no storage is opened (none made) there. */
static void replay_refuses_outside_folders(void **state)
{
	(void)state;
	static const char *const names[] = {"../d2", "/d2", "s/../../d2", ".."};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct simfs *fs = simfs_new();
		assert_int_equal(simfs_ops(fs)->mkdir(simfs_ops(fs)->ctx, "d"), KEEL_OK);
		uint8_t body[128], f[512];
		memset(f, 0, sizeof f);
		uint32_t len = section(body, names[i], 1, 2, 2);
		record(f, 5, 1, body, len);
		int fd;
		assert_int_equal(
			simfs_ops(fs)->open(simfs_ops(fs)->ctx, "d/journal", IO_CREATE, &fd),
			KEEL_OK);
		assert_int_equal(simfs_ops(fs)->pwrite(simfs_ops(fs)->ctx, fd, f, sizeof f, 0),
				 KEEL_OK);
		simfs_ops(fs)->close(simfs_ops(fs)->ctx, fd);
		struct storage_options o = opts();
		struct journal_replayed did;
		struct keel_errmsg err = {{0}};
		assert_int_equal(journal_recover(simfs_ops(fs), "d", &o, &did, &err),
				 KEEL_ECORRUPT);
		assert_non_null(strstr(err.text, "journal names a folder outside its own"));
		assert_non_null(strstr(err.text, names[i]));
		assert_int_equal(did.storages, 0);
		char **listed;
		uint32_t n;
		assert_int_equal(simfs_ops(fs)->list(simfs_ops(fs)->ctx, "d2", &listed, &n),
				 KEEL_OK);
		assert_int_equal(n, 0);
		keel_free(listed);
		/* the journal stays for the operator to look at */
		assert_int_not_equal(simfs_size(fs, "d/journal"), 0);
		simfs_free(fs);
	}
}

/* A journaled entry of a term above its storage's hard state cannot have
 * been written (the hard state is durable first): recovery refuses it and
 * leaves the log as it was. */
static void replay_refuses_a_term_above_the_hard_state(void **state)
{
	(void)state;
	struct world *w = world_new(); /* hard state term 1, no entry */
	uint8_t body[128], f[512];
	memset(f, 0, sizeof f);
	uint32_t len = section(body, ".", 1, 2, 2); /* term 3, index 9 */
	record(f, 5, 1, body, len);
	int fd;
	assert_int_equal(simfs_ops(w->fs)->open(simfs_ops(w->fs)->ctx, "d/journal", IO_CREATE, &fd),
			 KEEL_OK);
	assert_int_equal(simfs_ops(w->fs)->pwrite(simfs_ops(w->fs)->ctx, fd, f, sizeof f, 0),
			 KEEL_OK);
	simfs_ops(w->fs)->close(simfs_ops(w->fs)->ctx, fd);
	struct storage_options o = opts();
	struct journal_replayed did;
	struct keel_errmsg err = {{0}};
	assert_int_equal(journal_recover(simfs_ops(w->fs), "d", &o, &did, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, "d: entry 9 has term 3 in the journal, above the hard "
					 "state's 1"));
	struct storage *st = must_open(w->fs, 0);
	assert_int_equal(storage_last(st), 0);
	storage_close(st);
	simfs_free(w->fs);
	keel_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_anywhere),
		cmocka_unit_test(journal_sync_fails),
		cmocka_unit_test(log_write_fails),
		cmocka_unit_test(record_larger_than_the_file),
		cmocka_unit_test(replay_refuses_what_does_not_follow),
		cmocka_unit_test(replay_repairs_inside_the_journal),
		cmocka_unit_test(replay_long_name),
		cmocka_unit_test(replay_refuses_outside_folders),
		cmocka_unit_test(replay_refuses_a_term_above_the_hard_state),
		cmocka_unit_test(scan_edges),
		cmocka_unit_test(journal_empty_and_small),
		cmocka_unit_test(scan_oversized_entry),
	};
	return UNIT_RUN("journal", tests);
}
