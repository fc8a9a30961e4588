/* tests/unit/test_storage.c — src/storage over the simulated disk
 * (tests/sim/simfs.h): round trips, truncation and purge, snapshots, and
 * the crash cases: the log cut at every byte of its last records, zero and
 * garbage tails, every bit of a record flipped in closed and open
 * segments, lost renames, stale and missing hard state, random crashes
 * against a model of what was reported durable, failing calls and a full
 * disk; and the group commit, also over several storages at once (a
 * node's groups). Each case ends in a correct recovery or a clear
 * refusal. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "base/prng.h"
#include "sim/simfs.h"
#include "storage/committer.h"
#include "storage/hardstate.h"
#include "storage/storage.h"

#define DIR "d"
#define SEG 4096 /* small segments: many of them */

static uint64_t prealloc_step; /* 0: the default (past SEG: a segment at once) */

static struct storage_options opts(void)
{
	struct storage_options o;
	storage_options_default(&o);
	o.wal.segment_bytes = SEG;
	o.wal.prealloc_bytes = prealloc_step;
	return o;
}

/* The payload of entry i in term t: its length varies with i. */
static uint32_t payload(uint64_t i, uint64_t t, uint8_t *buf)
{
	uint32_t len = (uint32_t)((i * 37) % 200);
	for (uint32_t k = 0; k < len; k++)
		buf[k] = (uint8_t)(i * 131 + t * 7 + k);
	return len;
}

static int open_st(struct simfs *fs, struct storage **st, struct keel_errmsg *err)
{
	struct storage_options o = opts();
	return storage_open(simfs_ops(fs), DIR, &o, st, err);
}

static struct storage *must_open(struct simfs *fs)
{
	struct storage *st = NULL;
	struct keel_errmsg err = {{0}};
	int rc = open_st(fs, &st, &err);
	if (rc)
		fail_msg("open: %s (%s)", err.text, keel_err_name(rc));
	return st;
}

static void append(struct storage *st, uint64_t from, uint64_t to, uint64_t term)
{
	uint8_t buf[256];
	for (uint64_t i = from; i <= to; i++) {
		struct wal_entry e = {.term = term, .index = i, .type = 2};
		e.len = payload(i, term, buf);
		e.data = buf;
		struct storage_batch b = {.entries = &e, .n_entries = 1};
		struct keel_errmsg err;
		assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
	}
}

static void write_hs(struct storage *st, uint64_t term, uint64_t vote)
{
	struct storage_batch b = {.hs = true, .term = term, .vote = vote};
	struct keel_errmsg err;
	assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
}

static void sync_ok(struct storage *st)
{
	struct keel_errmsg err;
	assert_int_equal(storage_sync(st, &err), KEEL_OK);
}

/* The loaded entries are from..to, of term `term` from term_from on (and
 * term 1 before), with their payloads. */
static void expect_entries(const struct storage_loaded *l, uint64_t from, uint64_t to,
			   uint64_t term_from, uint64_t term)
{
	uint8_t buf[256];
	assert_int_equal(l->n_entries, to >= from ? to - from + 1 : 0);
	for (uint32_t k = 0; k < l->n_entries; k++) {
		const struct wal_entry *e = &l->entries[k];
		uint64_t i = from + k, t = i >= term_from ? term : 1;
		assert_int_equal(e->index, i);
		assert_int_equal(e->term, t);
		uint32_t len = payload(i, t, buf);
		assert_int_equal(e->len, len);
		assert_memory_equal(e->data, buf, len);
	}
}

/* Appends from..to in `term`, syncs and closes; then a restart must find
 * want_from..to (of `term` from term_from on, term 1 before). */
static void append_restart(struct simfs *fs, struct storage *st, uint64_t from, uint64_t to,
			   uint64_t term, uint64_t want_from, uint64_t term_from)
{
	append(st, from, to, term);
	sync_ok(st);
	storage_close(st);
	st = must_open(fs);
	expect_entries(storage_loaded(st), want_from, to, term_from, term);
	storage_close(st);
}

/* A disk with hard state (1, 1) and entries 1..n of term 1, synced. */
static struct simfs *disk_with(uint64_t n)
{
	struct simfs *fs = simfs_new();
	struct storage *st = must_open(fs);
	write_hs(st, 1, 1);
	append(st, 1, n, 1);
	sync_ok(st);
	storage_close(st);
	return fs;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The path of the k-th closed segment (from 0), in index order. */
static void closed_segment(struct simfs *fs, uint32_t k, char *path)
{
	char **names;
	uint32_t n, found = 0;
	assert_int_equal(simfs_ops(fs)->list(fs, DIR, &names, &n), KEEL_OK);
	qsort(names, n, sizeof *names, cmp_str);
	path[0] = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (names[i][0] >= '0' && names[i][0] <= '9' && found++ == k) {
			snprintf(path, 64, DIR "/%s", names[i]);
			break;
		}
	}
	io_names_free(names, n);
	assert_true(path[0] != 0);
}

#define OPEN_SEG DIR "/open-"

static void round_trip(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(500);
	struct storage *st = must_open(fs);
	const struct storage_loaded *l = storage_loaded(st);
	assert_int_equal(l->term, 1);
	assert_int_equal(l->vote, 1);
	expect_entries(l, 1, 500, 1, 1);
	/* appends continue after a restart, into the same open segment */
	append(st, 501, 520, 1);
	sync_ok(st);
	storage_close(st);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 520, 1, 1);
	/* a range read back from disk, across segments, some just written */
	append(st, 521, 530, 1);
	struct storage_loaded r = {0};
	uint8_t *mem;
	struct keel_errmsg err;
	assert_int_equal(storage_read(st, 17, 530, &r.entries, &mem, &err), KEEL_OK);
	r.n_entries = 530 - 17 + 1;
	expect_entries(&r, 17, 530, 1, 1);
	keel_free(r.entries);
	keel_free(mem);
	assert_int_equal(storage_read(st, 17, 531, &r.entries, &mem, &err), KEEL_ENOENT);
	storage_close(st);
	/* a record damaged after the open is caught on the read */
	st = must_open(fs);
	char seg[64];
	closed_segment(fs, 0, seg);
	uint8_t x = 0x77;
	simfs_poke(fs, seg, 16 + 35, &x, 1);
	assert_int_equal(storage_read(st, 1, 5, &r.entries, &mem, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, "bad record at offset 16"));
	storage_close(st);
	assert_true(simfs_exists(fs, DIR "/00000000000000000001-00000000000000000030"));
	simfs_free(fs);
}

static void fill_snap(struct snap_meta *m, uint8_t *data, uint64_t index, uint64_t term,
		      uint64_t size)
{
	memset(m, 0, sizeof *m);
	for (uint64_t k = 0; k < size; k++)
		data[k] = (uint8_t)(k * 13 + index);
	m->index = index;
	m->term = term;
	m->size = size;
	m->crc = crc32c(0, data, size);
	m->meta_len = 5;
	memcpy(m->meta, "conf!", 5);
}

static void truncate_and_purge(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(400);
	struct storage *st = must_open(fs);
	struct keel_errmsg err;
	write_hs(st, 2, 0);
	/* a conflict inside a closed segment, then new entries of term 2 */
	struct storage_batch b = {.truncate_from = 150};
	assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
	append(st, 150, 260, 2);
	static uint8_t sd[64];
	struct snap_meta sm;
	fill_snap(&sm, sd, 120, 1, sizeof sd);
	assert_int_equal(storage_save_snapshot(st, &sm, sd, &err), KEEL_OK);
	struct storage_batch p = {.purge_below = 100};
	assert_int_equal(storage_write(st, &p, &err), KEEL_OK);
	sync_ok(st);
	uint64_t first = storage_first(st);
	assert_true(first > 1 && first <= 100);
	storage_close(st);
	st = must_open(fs);
	const struct storage_loaded *l = storage_loaded(st);
	expect_entries(l, 121, 260, 150, 2); /* after the snapshot */
	/* truncation at the first entry of the open segment, and of all */
	b.truncate_from = 260;
	assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
	storage_close(st);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 121, 259, 150, 2);
	assert_int_equal(storage_first(st), first);
	b.truncate_from = 121;
	assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
	append_restart(fs, st, 121, 124, 2, 121, 0);
	simfs_free(fs);
}

static void snapshots(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(300);
	struct storage *st = must_open(fs);
	struct keel_errmsg err;
	static uint8_t data[20000];
	struct snap_meta m;
	for (uint64_t s = 1; s <= 5; s++) { /* keeps the newest 3 */
		fill_snap(&m, data, 50 * s, 1, 1000 * s + 7);
		assert_int_equal(storage_save_snapshot(st, &m, data, &err), KEEL_OK);
	}
	assert_false(simfs_exists(fs, DIR "/snap-00000000000000000100-00000000000000000001"));
	assert_true(simfs_exists(fs, DIR "/snap-00000000000000000150-00000000000000000001"));
	uint8_t chunk[100];
	assert_int_equal(storage_snapshot_read(st, 4000, chunk, sizeof chunk, &err), KEEL_OK);
	assert_memory_equal(chunk, data + 4000, sizeof chunk);
	storage_close(st);
	st = must_open(fs);
	const struct storage_loaded *l = storage_loaded(st);
	assert_true(l->has_snap);
	assert_int_equal(l->snap.index, 250);
	assert_int_equal(l->snap.meta_len, 5);
	assert_memory_equal(l->snap_data, data, l->snap.size);
	expect_entries(l, 251, 300, 1, 1);
	/* a snapshot received in chunks, beyond the log: the log empties */
	write_hs(st, 3, 0);
	fill_snap(&m, data, 900, 3, 12345);
	for (uint64_t off = 0; off < m.size; off += 1000) {
		uint32_t len = (uint32_t)(m.size - off < 1000 ? m.size - off : 1000);
		struct storage_batch b = {.chunk_meta = &m,
					  .chunk_offset = off,
					  .chunk_data = data + off,
					  .chunk_len = len};
		if (off + len == m.size) {
			b.install = &m;
			b.truncate_from = 901;
		}
		assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
	}
	append(st, 901, 905, 3);
	sync_ok(st);
	storage_close(st);
	st = must_open(fs);
	l = storage_loaded(st);
	assert_int_equal(l->snap.index, 900);
	assert_memory_equal(l->snap_data, data, m.size);
	expect_entries(l, 901, 905, 0, 3);
	storage_close(st);
	/* damage the newest snapshot: the log no longer covers it */
	char name[64] = DIR "/";
	snap_name(name + 2, sizeof name - 2, 900, 3);
	uint8_t x;
	simfs_peek(fs, name, 5000, &x, 1);
	x ^= 1;
	simfs_poke(fs, name, 5000, &x, 1);
	assert_int_equal(open_st(fs, &st, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, "snap-00000000000000000900"));
	simfs_free(fs);
}

static void damaged_snapshot_covered_by_log(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(300);
	struct storage *st = must_open(fs);
	struct keel_errmsg err;
	static uint8_t data[5000];
	struct snap_meta m;
	fill_snap(&m, data, 100, 1, 3000);
	assert_int_equal(storage_save_snapshot(st, &m, data, &err), KEEL_OK);
	fill_snap(&m, data, 200, 1, 4000);
	assert_int_equal(storage_save_snapshot(st, &m, data, &err), KEEL_OK);
	storage_close(st);
	uint8_t x = 0xFF;
	simfs_poke(fs, DIR "/snap-00000000000000000200-00000000000000000001", 4200, &x, 1);
	st = must_open(fs); /* the log still holds 101..300: the older one will do */
	const struct storage_loaded *l = storage_loaded(st);
	assert_int_equal(l->snap.index, 100);
	expect_entries(l, 101, 300, 1, 1);
	storage_close(st);
	simfs_free(fs);
}

/* Found by tests/fuzz/fuzz_wal.c: with two snapshot files of one index
 * (which only damage or a hand can leave), which one recovery took
 * depended on the order the folder listed them in, so one folder could
 * recover two ways. The one of the higher term is taken, in either order. */
static void two_snapshots_of_one_index(void **state)
{
	(void)state;
	static uint8_t data[2000];
	for (int order = 0; order < 2; order++) {
		struct simfs *fs = disk_with(300);
		struct storage *st = must_open(fs);
		write_hs(st, 2, 0);
		storage_close(st);
		struct keel_errmsg err;
		for (uint64_t k = 0; k < 2; k++) {
			uint64_t term = order ? 2 - k : 1 + k;
			struct snap_meta m;
			fill_snap(&m, data, 200, term, 1000 + term);
			assert_int_equal(snap_write(simfs_ops(fs), DIR, &m, data, &err), KEEL_OK);
		}
		st = must_open(fs);
		const struct storage_loaded *l = storage_loaded(st);
		assert_true(l->has_snap);
		assert_int_equal(l->snap.index, 200);
		assert_int_equal(l->snap.term, 2);
		assert_int_equal(l->snap.size, 1002);
		storage_close(st);
		simfs_free(fs);
	}
}

/* A snapshot written by another process under its temporary name, then
 * adopted: in place after adoption, gone after a crash before it, and
 * dropped when an installed snapshot overtook it meanwhile. */
static void adopted_snapshot(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(300);
	struct storage *st = must_open(fs);
	struct keel_errmsg err;
	static uint8_t data[9000];
	struct snap_meta m;
	fill_snap(&m, data, 200, 1, sizeof data);
	const struct io_fs *ops = simfs_ops(fs);
	assert_int_equal(snap_write_tmp(ops, DIR, &m, data, &err), KEEL_OK);
	assert_true(simfs_exists(fs, DIR "/snap-00000000000000000200-00000000000000000001.tmp"));
	/* a crash before adoption: the temporary file goes, nothing else */
	struct simfs *crashed = simfs_clone(fs);
	simfs_crash_clean(crashed);
	struct storage *st2 = must_open(crashed);
	assert_false(storage_loaded(st2)->has_snap);
	assert_false(
		simfs_exists(crashed, DIR "/snap-00000000000000000200-00000000000000000001.tmp"));
	storage_close(st2);
	simfs_free(crashed);
	/* adopted: renamed into place, and loaded after a crash */
	assert_int_equal(storage_adopt_snapshot(st, &m, &err), KEEL_OK);
	assert_int_equal(storage_snapshot(st)->index, 200);
	crashed = simfs_clone(fs);
	simfs_crash_clean(crashed);
	st2 = must_open(crashed);
	const struct storage_loaded *l = storage_loaded(st2);
	assert_true(l->has_snap);
	assert_int_equal(l->snap.index, 200);
	assert_memory_equal(l->snap_data, data, sizeof data);
	storage_close(st2);
	simfs_free(crashed);
	/* overtaken: a newer snapshot is in place, the older one is dropped */
	fill_snap(&m, data, 250, 1, 100);
	assert_int_equal(storage_save_snapshot(st, &m, data, &err), KEEL_OK);
	fill_snap(&m, data, 240, 1, 100);
	assert_int_equal(snap_write_tmp(ops, DIR, &m, data, &err), KEEL_OK);
	assert_int_equal(storage_adopt_snapshot(st, &m, &err), KEEL_OK);
	assert_int_equal(storage_snapshot(st)->index, 250);
	assert_false(simfs_exists(fs, DIR "/snap-00000000000000000240-00000000000000000001.tmp"));
	assert_false(simfs_exists(fs, DIR "/snap-00000000000000000240-00000000000000000001"));
	storage_close(st);
	simfs_free(fs);
}

/* ---- exhaustive crash cases ------------------------------------------------ */

/* The open segment's path. */
static void open_segment(struct simfs *fs, char *path)
{
	for (int seq = 1; seq < 1000; seq++) {
		snprintf(path, 64, OPEN_SEG "%d", seq);
		if (simfs_exists(fs, path))
			return;
	}
	fail_msg("no open segment");
}

/* Offsets of the records of the open segment (parsed the simple way). */
static uint32_t record_offsets(struct simfs *fs, const char *path, uint64_t *offs, uint64_t *idx,
			       uint64_t *checked)
{
	uint64_t off = 16, size = simfs_size(fs, path);
	uint32_t n = 0;
	while (off + 32 <= size) {
		uint8_t h[32];
		simfs_peek(fs, path, off, h, 32);
		if (h[8] == 0)
			break;
		offs[n] = off;
		idx[n] = bytes_get_u64(h + 24);
		if (checked) /* the bytes the checksum covers end here */
			checked[n] = off + 32 + bytes_get_u32(h + 4);
		n++;
		off += wal_record_bytes(bytes_get_u32(h + 4));
	}
	offs[n] = off;
	return n;
}

enum tail_kind { TAIL_CUT, TAIL_ZERO, TAIL_GARBAGE };

static void tails(void **state)
{
	(void)state;
	struct simfs *base = disk_with(130);
	char path[64];
	open_segment(base, path);
	uint64_t offs[200], idx[200], checked[200];
	uint32_t n = record_offsets(base, path, offs, idx, checked);
	assert_true(n >= 4);
	uint64_t size = simfs_size(base, path);
	uint64_t from = offs[n - 3]; /* every byte of the last three records */
	struct prng p;
	prng_seed(&p, 7);
	uint32_t cases = 0;
	for (int kind = TAIL_CUT; kind <= TAIL_GARBAGE; kind++) {
		for (uint64_t at = from; at <= offs[n]; at++) {
			struct simfs *fs = simfs_clone(base);
			if (kind == TAIL_CUT) {
				simfs_resize(fs, path, at);
			} else {
				uint8_t buf[SEG];
				for (uint64_t k = 0; k < size - at; k++)
					buf[k] = kind == TAIL_ZERO ? 0 : (uint8_t)prng_next(&p);
				simfs_poke(fs, path, at, buf, size - at);
			}
			/* the records wholly before `at` survive, no others (a
			 * record's zero padding is not checksummed) */
			uint32_t whole = 0;
			const uint64_t *ends = kind == TAIL_CUT ? offs + 1 : checked;
			while (whole < n && ends[whole] <= at)
				whole++;
			struct storage *st = must_open(fs);
			const struct storage_loaded *l = storage_loaded(st);
			assert_int_equal(l->n_entries, idx[0] - 1 + whole);
			expect_entries(l, 1, idx[0] - 1 + whole, 1, 1);
			/* and the log goes on from there */
			append_restart(fs, st, idx[0] + whole, idx[0] + whole + 2, 1, 1, 1);
			simfs_free(fs);
			cases++;
		}
	}
	assert_true(cases > 3 * 100);
	simfs_free(base);
}

/* Flips every bit of one record. In a closed segment, or followed by valid
 * records, the open must refuse naming file and offset; the last record of
 * the open segment reads as a torn write and is cut. */
static void flip_record_bits(struct simfs *base, const char *path, uint64_t off, uint64_t len,
			     bool last, uint64_t n_total, uint64_t rec_index)
{
	for (uint64_t byte = off; byte < off + len; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			struct simfs *fs = simfs_clone(base);
			uint8_t x;
			simfs_peek(fs, path, byte, &x, 1);
			x ^= (uint8_t)(1u << bit);
			simfs_poke(fs, path, byte, &x, 1);
			struct storage *st = NULL;
			struct keel_errmsg err = {{0}};
			int rc = open_st(fs, &st, &err);
			if (last) {
				/* indistinguishable from a torn write: cut (the
				 * padding alone is not checksummed) */
				assert_int_equal(rc, KEEL_OK);
				uint64_t n = storage_loaded(st)->n_entries;
				assert_true(n == n_total - 1 || (n == n_total && byte >= off + 32));
				expect_entries(storage_loaded(st), 1, n, 1, 1);
				storage_close(st);
			} else if (rc == KEEL_OK) {
				/* only the padding is not checksummed: nothing lost */
				assert_true(byte >= off + 32);
				expect_entries(storage_loaded(st), 1, n_total, 1, 1);
				storage_close(st);
			} else {
				assert_int_equal(rc, KEEL_ECORRUPT);
				char want[96];
				snprintf(want, sizeof want, "at offset %" PRIu64, off);
				assert_non_null(strstr(err.text, strrchr(path, '/') + 1));
				assert_non_null(strstr(err.text, want));
				char idx[48];
				snprintf(idx, sizeof idx, "index %" PRIu64, rec_index);
				assert_non_null(strstr(err.text, idx));
			}
			simfs_free(fs);
		}
	}
}

static void bit_flips(void **state)
{
	(void)state;
	struct simfs *base = disk_with(130);
	char path[64];
	uint64_t offs[200], idx[200];
	/* the open segment: a middle record, then the last one */
	open_segment(base, path);
	uint32_t n = record_offsets(base, path, offs, idx, NULL);
	flip_record_bits(base, path, offs[n - 2], offs[n - 1] - offs[n - 2], false, 130,
			 idx[n - 2]);
	flip_record_bits(base, path, offs[n - 1], offs[n] - offs[n - 1], true, 130, idx[n - 1]);
	/* a closed segment's last record, and its first */
	char closed[64];
	closed_segment(base, 1, closed);
	n = record_offsets(base, closed, offs, idx, NULL);
	assert_true(n > 10);
	flip_record_bits(base, closed, offs[n - 1], offs[n] - offs[n - 1], false, 130, idx[n - 1]);
	flip_record_bits(base, closed, offs[0], offs[1] - offs[0], false, 130, idx[0]);
	uint64_t first_of_closed = idx[0];
	/* a closed segment cut short, or gone: refused */
	struct simfs *fs = simfs_clone(base);
	simfs_resize(fs, closed, offs[5]);
	struct storage *st;
	struct keel_errmsg err;
	assert_int_equal(open_st(fs, &st, &err), KEEL_ECORRUPT);
	simfs_free(fs);
	fs = simfs_clone(base);
	assert_int_equal(simfs_ops(fs)->unlink(fs, closed), KEEL_OK);
	assert_int_equal(open_st(fs, &st, &err), KEEL_ECORRUPT);
	char want[32];
	snprintf(want, sizeof want, "index %" PRIu64, first_of_closed);
	assert_non_null(strstr(err.text, want));
	simfs_free(fs);
	simfs_free(base);
}

/* A crash after a segment's data was synced but before its rename was:
 * two open segments. Recovery closes the first. */
static void lost_rename(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(130);
	const struct io_fs *ops = simfs_ops(fs);
	char closed[64];
	closed_segment(fs, 3, closed);
	/* rename the newest closed one back, with a seq below the open one */
	char path[64];
	open_segment(fs, path);
	int seq = (int)strtol(path + strlen(OPEN_SEG), NULL, 10);
	char back[64];
	snprintf(back, sizeof back, OPEN_SEG "%d", seq - 1);
	assert_int_equal(ops->rename(fs, closed, back), KEEL_OK);
	assert_int_equal(ops->sync_dir(fs, DIR), KEEL_OK);
	struct storage *st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 130, 1, 1);
	storage_close(st);
	assert_true(simfs_exists(fs, closed));
	assert_false(simfs_exists(fs, back));
	/* leftovers of writes never published are removed */
	int fd;
	assert_int_equal(ops->open(fs, DIR "/snap-x.tmp", IO_CREATE, &fd), KEEL_OK);
	ops->close(fs, fd);
	st = must_open(fs);
	assert_false(simfs_exists(fs, DIR "/snap-x.tmp"));
	storage_close(st);
	simfs_free(fs);
}

static void hard_state_cases(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(10);
	struct storage *st = must_open(fs);
	write_hs(st, 5, 2);
	append(st, 11, 20, 5);
	sync_ok(st);
	storage_close(st);
	st = must_open(fs);
	assert_int_equal(storage_loaded(st)->term, 5);
	assert_int_equal(storage_loaded(st)->vote, 2);
	storage_close(st);
	/* a stale file: term 3 while the log holds term 5 */
	struct simfs *stale = simfs_clone(fs);
	struct keel_errmsg err;
	assert_int_equal(hardstate_write(simfs_ops(stale), DIR, 3, 1, &err), KEEL_OK);
	assert_int_equal(open_st(stale, &st, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, "stale"));
	simfs_free(stale);
	/* a missing file with a log */
	struct simfs *gone = simfs_clone(fs);
	simfs_ops(gone)->unlink(gone, DIR "/" HARDSTATE_FILE);
	assert_int_equal(open_st(gone, &st, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, "hard state"));
	simfs_free(gone);
	/* every bit of the file */
	for (int byte = 0; byte < 28; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			struct simfs *c = simfs_clone(fs);
			uint8_t x;
			simfs_peek(c, DIR "/" HARDSTATE_FILE, (uint64_t)byte, &x, 1);
			x ^= (uint8_t)(1u << bit);
			simfs_poke(c, DIR "/" HARDSTATE_FILE, (uint64_t)byte, &x, 1);
			assert_int_equal(open_st(c, &st, &err), KEEL_ECORRUPT);
			assert_non_null(strstr(err.text, HARDSTATE_FILE));
			simfs_free(c);
		}
	}
	/* a crash at every point of a hard state write keeps old or new */
	for (int failing = SIMFS_WRITE; failing <= SIMFS_SYNC_DIR; failing++) {
		struct simfs *c = simfs_clone(fs);
		simfs_fail(c, (enum simfs_op)failing, 0, KEEL_EIO, false);
		int rc = hardstate_write(simfs_ops(c), DIR, 6, 3, &err);
		assert_int_equal(rc, KEEL_EIO);
		struct prng p;
		prng_seed(&p, (uint64_t)failing);
		simfs_crash(c, &p);
		bool found;
		uint64_t t, v;
		assert_int_equal(hardstate_read(simfs_ops(c), DIR, &found, &t, &v, &err), KEEL_OK);
		assert_true(found);
		assert_true((t == 5 && v == 2) || (t == 6 && v == 3));
		simfs_free(c);
	}
	simfs_free(fs);
}

/* ---- repair ------------------------------------------------------------------ */

struct policy {
	int answer;
	int asked;
	uint64_t first_bad;
	uint64_t kept;
};

static int policy(void *ctx, const struct storage_loaded *l, struct keel_errmsg *why)
{
	struct policy *p = ctx;
	p->asked++;
	p->first_bad = l->damage.first_bad;
	p->kept = l->n_entries;
	if (p->answer)
		keel_errmsg_set(why, "a test said no");
	return p->answer;
}

static void repair(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(130);
	char closed[64];
	closed_segment(fs, 2, closed); /* holds 59.. */
	uint8_t x = 0x5A;
	simfs_poke(fs, closed, 16 + 40, &x, 1); /* inside its first record */
	struct storage_options o = opts();
	struct storage *st;
	struct keel_errmsg err;
	assert_int_equal(storage_open(simfs_ops(fs), DIR, &o, &st, &err), KEEL_ECORRUPT);
	/* refused by the policy: nothing changes on disk */
	struct policy pol = {.answer = KEEL_EINVAL};
	o.repair = true;
	o.may_repair = policy;
	o.repair_ctx = &pol;
	assert_int_equal(storage_open(simfs_ops(fs), DIR, &o, &st, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, "a test said no"));
	assert_int_equal(pol.asked, 1);
	assert_int_equal(pol.first_bad, 59);
	assert_int_equal(pol.kept, 58);
	assert_true(simfs_exists(fs, closed));
	/* allowed: the log ends at 60 and goes on */
	pol.answer = KEEL_OK;
	assert_int_equal(storage_open(simfs_ops(fs), DIR, &o, &st, &err), KEEL_OK);
	assert_true(storage_loaded(st)->repaired);
	expect_entries(storage_loaded(st), 1, 58, 1, 1);
	append_restart(fs, st, 59, 70, 1, 1, 1);
	simfs_free(fs);
}

/* ---- faults ----------------------------------------------------------------- */

static void fail_stop(void **state)
{
	(void)state;
	for (int op = SIMFS_WRITE; op < SIMFS_OP_MAX; op++) {
		struct simfs *fs = disk_with(50);
		struct storage *st = must_open(fs);
		struct keel_errmsg err;
		append(st, 51, 60, 1);
		sync_ok(st);
		simfs_fail(fs, (enum simfs_op)op, 0, KEEL_EIO, true);
		uint64_t durable = 60;
		int rc = KEEL_OK;
		for (uint64_t i = 61; i <= 200 && !rc; i++) {
			uint8_t buf[256];
			struct wal_entry e = {.term = 1, .index = i, .type = 2};
			e.len = payload(i, 1, buf);
			e.data = buf;
			struct storage_batch b = {.entries = &e, .n_entries = 1};
			if (i == 120)
				b.purge_below = 40;
			rc = storage_write(st, &b, &err);
			if (!rc)
				rc = storage_sync(st, &err);
			if (!rc)
				durable = i;
		}
		assert_int_not_equal(rc, KEEL_OK); /* each call is met on the way */
		{
			assert_int_equal(rc, KEEL_EIO);
			assert_int_equal(storage_failed(st), KEEL_EIO);
			/* stopped: nothing more is taken, nothing more is durable */
			struct storage_batch b = {.hs = true, .term = 9};
			assert_int_equal(storage_write(st, &b, &err), KEEL_EIO);
			assert_int_equal(storage_sync(st, &err), KEEL_EIO);
		}
		storage_close(st);
		simfs_fail_clear(fs);
		struct prng p;
		prng_seed(&p, (uint64_t)op);
		simfs_crash(fs, &p);
		st = must_open(fs);
		const struct storage_loaded *l = storage_loaded(st);
		uint64_t first = l->entries[0].index;
		assert_true(l->n_entries >= durable - first + 1);
		expect_entries(l, first, first + l->n_entries - 1, 1, 1);
		assert_int_equal(l->term, 1);
		storage_close(st);
		simfs_free(fs);
	}
}

/* Fills the disk; returns the error's text. */
static void fill_disk(char *text, size_t len)
{
	struct simfs *fs = disk_with(50);
	simfs_set_capacity(fs, 6 * SEG);
	struct storage *st = must_open(fs);
	struct keel_errmsg err = {{0}};
	int rc = KEEL_OK;
	uint64_t durable = 50, i;
	for (i = 51; i < 10000 && !rc; i++) {
		uint8_t buf[256];
		struct wal_entry e = {.term = 1, .index = i, .type = 2};
		e.len = payload(i, 1, buf);
		e.data = buf;
		struct storage_batch b = {.entries = &e, .n_entries = 1};
		rc = storage_write(st, &b, &err);
		if (!rc)
			rc = storage_sync(st, &err);
		if (!rc)
			durable = i;
	}
	assert_int_equal(rc, KEEL_ENOSPC);
	assert_non_null(strstr(err.text, "no space"));
	snprintf(text, len, "%s", err.text);
	storage_close(st);
	simfs_crash_clean(fs);
	/* restarted with the disk still full: everything durable is there */
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, durable, 1, 1);
	storage_close(st);
	/* space freed: it goes on */
	simfs_set_capacity(fs, 0);
	st = must_open(fs);
	append_restart(fs, st, durable + 1, durable + 100, 1, 1, 1);
	simfs_free(fs);
}

static void disk_full(void **state)
{
	(void)state;
	char text[256];
	fill_disk(text, sizeof text);
}

/* ---- random crashes against a model -------------------------------------------- */

/* Random appends, conflicts (truncations with a new term), purges,
 * snapshots and crashes at random points. The model holds the log as
 * written; `durable` how far a sync covered. After each crash, recovery
 * must hold every durable entry (above the snapshot), each as written. */
static void crash_runs(void)
{
	static uint8_t snapdata[3000];
	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct prng p;
		prng_seed(&p, seed);
		struct simfs *fs = simfs_new();
		struct storage *st = must_open(fs);
		uint64_t terms[2000] = {0}; /* the model: term of each index */
		uint64_t last = 0, durable = 0, term = 1, snap = 0;
		write_hs(st, term, 0);
		for (int step = 0; step < 120; step++) {
			uint64_t r = prng_below(&p, 100);
			struct keel_errmsg err;
			if (r < 50 && last < 1900) {
				uint64_t k = 1 + prng_below(&p, 8);
				append(st, last + 1, last + k, term);
				for (uint64_t i = last + 1; i <= last + k; i++)
					terms[i] = term;
				last += k;
				if (prng_below(&p, 2))
					assert_int_equal(storage_flush(st, &err), KEEL_OK);
			} else if (r < 75) {
				sync_ok(st);
				durable = last;
			} else if (r < 80 && last > snap + 1) {
				uint64_t from = snap + 1 + prng_below(&p, last - snap);
				write_hs(st, ++term, 0);
				struct storage_batch b = {.truncate_from = from};
				assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
				last = from - 1;
				if (durable > last)
					durable = last;
			} else if (r < 85 && durable > snap + 10) {
				struct snap_meta m;
				uint64_t at = durable - prng_below(&p, 5);
				fill_snap(&m, snapdata, at, terms[at], 100 + at);
				assert_int_equal(storage_save_snapshot(st, &m, snapdata, &err),
						 KEEL_OK);
				durable = last; /* a snapshot save syncs the log first */
				snap = at;
				struct storage_batch b = {.purge_below = at - 3};
				assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
			} else if (r < 95) {
				storage_close(st);
				simfs_crash(fs, &p);
				st = must_open(fs);
				const struct storage_loaded *l = storage_loaded(st);
				assert_true(l->snap.index >= snap || !snap);
				snap = l->has_snap ? l->snap.index : 0;
				uint64_t got_last = snap + l->n_entries;
				assert_true(got_last >= durable);
				for (uint32_t k = 0; k < l->n_entries; k++) {
					const struct wal_entry *e = &l->entries[k];
					assert_int_equal(e->index, snap + 1 + k);
					if (e->index <= last)
						assert_int_equal(e->term, terms[e->index]);
				}
				assert_true(got_last <= last);
				last = got_last;
				durable = last; /* what survived is on disk now */
				term = l->term;
				storage_loaded_release(st);
			}
		}
		storage_close(st);
		simfs_free(fs);
	}
}

static void random_crashes(void **state)
{
	(void)state;
	crash_runs();
}

/* An open segment is preallocated a step ahead of its data, not whole: a
 * log holding little takes little disk. Its tail past the data reads as
 * zeros, so recovery ends the data there, after any crash. */
static void preallocated_in_steps(void **state)
{
	(void)state;
	prealloc_step = 200; /* not a multiple of a record's 8 bytes */
	struct simfs *fs = simfs_new();
	struct storage *st = must_open(fs);
	write_hs(st, 1, 0);
	struct keel_errmsg err;
	uint64_t sizes[40], n = 0, last = 0;
	do { /* until the segment is full and closed */
		append(st, last + 1, last + 1, 1);
		last++;
		assert_int_equal(storage_flush(st, &err), KEEL_OK);
		sizes[n++] = simfs_exists(fs, DIR "/open-1") ? simfs_size(fs, DIR "/open-1") : 0;
	} while (sizes[n - 1] && n < 40);
	assert_true(n > 10 && n < 40);
	assert_true(simfs_exists(fs, DIR "/open-2"));
	/* the model: a step past the data once the data passes what was
	 * preallocated (the header's step at first), never past the segment */
	uint64_t end = 16, alloc = 200;
	for (uint64_t i = 0; i + 1 < n; i++) { /* the last append went to open-2 */
		uint8_t buf[256];
		end += wal_record_bytes(payload(i + 1, 1, buf));
		if (end > alloc)
			alloc = end / 200 * 200 + 200 < SEG ? end / 200 * 200 + 200 : SEG;
		assert_int_equal(sizes[i], alloc);
	}
	assert_int_equal(sizes[n - 2], SEG); /* the last step stops at the segment's size */
	storage_close(st);
	simfs_free(fs);
	crash_runs(); /* appends, truncations, purges and crashes, in steps */
	/* the disk fills as a step is preallocated: the segment is named */
	char text[256];
	fill_disk(text, sizeof text);
	assert_non_null(strstr(text, "preallocate open-"));
	prealloc_step = 0;
}

/* ---- group commit ------------------------------------------------------------ */

struct appender {
	struct committer *c;
	struct storage *st;
	pthread_mutex_t *mu;
	uint64_t *next;
	uint64_t term; /* of its entries */
	uint32_t n;
	int rc;
};

/* Appends n entries, one at a time, each waited for (a client). */
static void *appender_main(void *arg)
{
	struct appender *a = arg;
	for (uint32_t k = 0; k < a->n && !a->rc; k++) {
		uint8_t buf[256];
		pthread_mutex_lock(a->mu);
		uint64_t i = (*a->next)++;
		struct wal_entry e = {.term = a->term, .index = i, .type = 2};
		e.len = payload(i, a->term, buf);
		e.data = buf;
		struct storage_batch b = {.entries = &e, .n_entries = 1};
		uint64_t seq = committer_submit(a->c, a->st, &b);
		pthread_mutex_unlock(a->mu);
		a->rc = committer_wait(a->c, seq);
	}
	return NULL;
}

static void group_commit(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(10);
	struct storage *st = must_open(fs);
	struct committer *c;
	struct keel_errmsg err;
	assert_int_equal(committer_start(NULL, NULL, &c, &err), KEEL_OK);
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	uint64_t next = 11;
	struct appender a[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		a[i] = (struct appender){c, st, &mu, &next, 1, 100, KEEL_OK};
		assert_int_equal(pthread_create(&t[i], NULL, appender_main, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].rc, KEEL_OK);
	}
	struct committer_stats cs;
	committer_stats(c, &cs);
	assert_int_equal(cs.batches, 800);
	assert_true(cs.groups >= 1 && cs.groups <= 800);
	int failed;
	uint64_t durable = committer_durable(c, &failed, NULL);
	assert_int_equal(durable, 800);
	assert_int_equal(failed, KEEL_OK);

	/* the next fdatasync fails: that group and everything after it is
	 * never reported durable, and the thread stops */
	simfs_fail(fs, SIMFS_FDATASYNC, 0, KEEL_EIO, false);
	a[0] = (struct appender){c, st, &mu, &next, 1, 5, KEEL_OK};
	appender_main(&a[0]);
	assert_int_equal(a[0].rc, KEEL_EIO);
	durable = committer_durable(c, &failed, &err);
	assert_int_equal(durable, 800);
	assert_int_equal(failed, KEEL_EIO);
	assert_non_null(strstr(err.text, "fdatasync"));
	struct storage_batch hs = {.hs = true, .term = 2};
	uint64_t seq = committer_submit(c, st, &hs); /* the failure was one-shot: no retry */
	assert_int_equal(committer_wait(c, seq), KEEL_EIO);
	assert_int_equal(committer_durable(c, &failed, NULL), 800);
	committer_stop(c);
	storage_close(st);
	simfs_crash_clean(fs);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 810, 1, 1);
	assert_int_equal(storage_loaded(st)->term, 1);
	storage_close(st);
	simfs_free(fs);
}

/* ---- manual mode: no thread, stepped by an embedder --------------------------- */

struct stepper {
	struct committer *c;
	uint32_t queued, wakes;
};

static void on_queued(void *ctx, struct committer *c)
{
	struct stepper *t = ctx;
	assert_ptr_equal(c, t->c);
	t->queued++;
}

static void on_wake(void *ctx)
{
	((struct stepper *)ctx)->wakes++;
}

/* Queues entry i of term t for st. */
static uint64_t submit_term(struct committer *c, struct storage *st, uint64_t i, uint64_t t)
{
	uint8_t buf[256];
	struct wal_entry e = {.term = t, .index = i, .type = 2};
	e.len = payload(i, t, buf);
	e.data = buf;
	struct storage_batch b = {.entries = &e, .n_entries = 1};
	return committer_submit(c, st, &b); /* copied: buf may go */
}

static uint64_t submit_entry(struct committer *c, struct storage *st, uint64_t i)
{
	return submit_term(c, st, i, 1);
}

static void manual_committer(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(10);
	struct storage *st = must_open(fs);
	struct stepper t = {0};
	struct keel_errmsg err;
	int failed;
	assert_int_equal(committer_start_manual(NULL, NULL, NULL, NULL, &t.c, &err), KEEL_EINVAL);
	assert_int_equal(committer_start_manual(on_wake, &t, on_queued, &t, &t.c, &err), KEEL_OK);
	assert_false(committer_step(t.c)); /* nothing queued: no wake */
	assert_int_equal(t.wakes, 0);

	/* three batches queued: nothing is written or durable until a step,
	 * which makes them durable as one group and wakes once */
	for (uint64_t i = 11; i <= 13; i++)
		assert_int_equal(submit_entry(t.c, st, i), i - 10);
	assert_int_equal(t.queued, 3);
	assert_int_equal(committer_durable(t.c, &failed, NULL), 0);
	committer_discard(t.c);
	storage_close(st);
	simfs_crash_clean(fs); /* nothing of them reached the disk */
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 10, 1, 1);
	memset(&t, 0, sizeof t);
	assert_int_equal(committer_start_manual(on_wake, &t, on_queued, &t, &t.c, &err), KEEL_OK);
	for (uint64_t i = 11; i <= 13; i++)
		submit_entry(t.c, st, i);
	assert_int_equal(t.wakes, 0);
	assert_true(committer_step(t.c));
	assert_int_equal(t.wakes, 1);
	assert_int_equal(committer_durable(t.c, &failed, NULL), 3);
	assert_int_equal(failed, KEEL_OK);
	struct committer_stats cs;
	committer_stats(t.c, &cs);
	assert_int_equal(cs.groups, 1);
	assert_int_equal(cs.batches, 3);
	assert_false(committer_step(t.c));

	/* committer_wait steps the queue itself; a number never submitted
	 * never becomes durable */
	assert_int_equal(committer_wait(t.c, submit_entry(t.c, st, 14)), KEEL_OK);
	assert_int_equal(t.wakes, 2);
	assert_int_equal(committer_wait(t.c, 99), KEEL_EINVAL);

	/* a crash: what is queued is dropped unwritten, and closing the
	 * storage writes nothing either */
	submit_entry(t.c, st, 15);
	submit_entry(t.c, st, 16);
	committer_discard(t.c);
	storage_close(st);
	simfs_crash_clean(fs);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 14, 1, 1);

	/* a failed sync: that group is never durable, and no later step
	 * writes anything (fail-stop) */
	memset(&t, 0, sizeof t);
	assert_int_equal(committer_start_manual(on_wake, &t, on_queued, &t, &t.c, &err), KEEL_OK);
	simfs_fail(fs, SIMFS_FDATASYNC, 0, KEEL_EIO, false);
	submit_entry(t.c, st, 15);
	assert_true(committer_step(t.c));
	assert_int_equal(t.wakes, 1);
	assert_int_equal(committer_durable(t.c, &failed, &err), 0);
	assert_int_equal(failed, KEEL_EIO);
	submit_entry(t.c, st, 16);
	assert_false(committer_step(t.c));
	assert_int_equal(t.wakes, 1);
	committer_stop(t.c); /* what the failure left is not written */
	storage_close(st);
	simfs_crash_clean(fs);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 14, 1, 1);

	/* committer_stop in manual mode writes what is queued, without a wake */
	memset(&t, 0, sizeof t);
	assert_int_equal(committer_start_manual(on_wake, &t, on_queued, &t, &t.c, &err), KEEL_OK);
	submit_entry(t.c, st, 15);
	committer_stop(t.c);
	assert_int_equal(t.wakes, 0);
	storage_close(st);
	simfs_crash_clean(fs);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 15, 1, 1);
	storage_close(st);
	simfs_free(fs);
}

/* ---- edges: one call failing at a time, files that are not quite right --------- */

/* A disk over the simulated one that fails one chosen call (those simfs
 * cannot fail by itself: open, pread, size, list, mkdir, ftruncate; and
 * fdatasync of one path) on a path containing `match`, after `after`
 * matching calls succeed, once; counts the files open, so that a test can
 * see none is left open; and notes the paths fdatasync'ed, in order. */
enum flaky_op {
	FL_NONE,
	FL_OPEN,
	FL_PREAD,
	FL_SIZE,
	FL_LIST,
	FL_MKDIR,
	FL_FTRUNCATE,
	FL_FDATASYNC
};

#define FL_FDS	 64
#define FL_SYNCS 8
struct flaky {
	struct io_fs ops;
	const struct io_fs *base;
	enum flaky_op op;
	const char *match;
	uint32_t after;
	int err;
	int open;
	char path[FL_FDS][96];	   /* of each open fd */
	char synced[FL_SYNCS][96]; /* the first FL_SYNCS fdatasync'ed */
	uint32_t n_synced;
};

static int fl_hit(struct flaky *f, enum flaky_op op, const char *path)
{
	if (f->op != op || (f->match && !strstr(path, f->match)))
		return KEEL_OK;
	if (f->after) {
		f->after--;
		return KEEL_OK;
	}
	f->op = FL_NONE;
	return f->err;
}

static const char *fl_path(struct flaky *f, int fd)
{
	return fd >= 0 && fd < FL_FDS ? f->path[fd] : "";
}

static int fl_open(void *ctx, const char *path, int flags, int *fd)
{
	struct flaky *f = ctx;
	int rc = fl_hit(f, FL_OPEN, path);
	if (!rc)
		rc = f->base->open(f->base->ctx, path, flags, fd);
	if (!rc) {
		assert_true(*fd >= 0 && *fd < FL_FDS);
		snprintf(f->path[*fd], sizeof f->path[0], "%s", path);
		f->open++;
	}
	return rc;
}

static int fl_close(void *ctx, int fd)
{
	struct flaky *f = ctx;
	f->open--;
	return f->base->close(f->base->ctx, fd);
}

static int fl_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	struct flaky *f = ctx;
	int rc = fl_hit(f, FL_PREAD, fl_path(f, fd));
	return rc ? rc : f->base->pread(f->base->ctx, fd, buf, len, off, got);
}

static int fl_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	struct flaky *f = ctx;
	return f->base->pwrite(f->base->ctx, fd, buf, len, off);
}

static int fl_fdatasync(void *ctx, int fd)
{
	struct flaky *f = ctx;
	if (f->n_synced < FL_SYNCS)
		snprintf(f->synced[f->n_synced], sizeof f->synced[0], "%s", fl_path(f, fd));
	f->n_synced++;
	int rc = fl_hit(f, FL_FDATASYNC, fl_path(f, fd));
	return rc ? rc : f->base->fdatasync(f->base->ctx, fd);
}

static int fl_ftruncate(void *ctx, int fd, uint64_t len)
{
	struct flaky *f = ctx;
	int rc = fl_hit(f, FL_FTRUNCATE, fl_path(f, fd));
	return rc ? rc : f->base->ftruncate(f->base->ctx, fd, len);
}

static int fl_fallocate(void *ctx, int fd, uint64_t len)
{
	struct flaky *f = ctx;
	return f->base->fallocate(f->base->ctx, fd, len);
}

static int fl_size(void *ctx, int fd, uint64_t *size)
{
	struct flaky *f = ctx;
	int rc = fl_hit(f, FL_SIZE, fl_path(f, fd));
	return rc ? rc : f->base->size(f->base->ctx, fd, size);
}

static int fl_rename(void *ctx, const char *from, const char *to)
{
	struct flaky *f = ctx;
	return f->base->rename(f->base->ctx, from, to);
}

static int fl_unlink(void *ctx, const char *path)
{
	struct flaky *f = ctx;
	return f->base->unlink(f->base->ctx, path);
}

static int fl_sync_dir(void *ctx, const char *dir)
{
	struct flaky *f = ctx;
	return f->base->sync_dir(f->base->ctx, dir);
}

static int fl_mkdir(void *ctx, const char *dir)
{
	struct flaky *f = ctx;
	int rc = fl_hit(f, FL_MKDIR, dir);
	return rc ? rc : f->base->mkdir(f->base->ctx, dir);
}

static int fl_list(void *ctx, const char *dir, char ***names, uint32_t *n)
{
	struct flaky *f = ctx;
	int rc = fl_hit(f, FL_LIST, dir);
	return rc ? rc : f->base->list(f->base->ctx, dir, names, n);
}

static int fl_map(void *ctx, int fd, uint64_t len, unsigned flags, const uint8_t **p)
{
	struct flaky *f = ctx;
	return f->base->map(f->base->ctx, fd, len, flags, p);
}

static void fl_unmap(void *ctx, const uint8_t *p, uint64_t len)
{
	struct flaky *f = ctx;
	f->base->unmap(f->base->ctx, p, len);
}

static void flaky_init(struct flaky *f, struct simfs *sim)
{
	memset(f, 0, sizeof *f);
	f->base = simfs_ops(sim);
	f->ops = (struct io_fs){f,	   fl_open,	 fl_close,     fl_pread,
				fl_pwrite, fl_fdatasync, fl_ftruncate, fl_fallocate,
				fl_size,   fl_rename,	 fl_unlink,    fl_sync_dir,
				fl_mkdir,  fl_list,	 fl_map,       fl_unmap};
}

static void flaky_fail(struct flaky *f, enum flaky_op op, const char *match, uint32_t after)
{
	f->op = op;
	f->match = match;
	f->after = after;
	f->err = KEEL_EIO;
}

static int flaky_open_st(struct flaky *f, struct storage **st, struct keel_errmsg *err)
{
	struct storage_options o = opts();
	return storage_open(&f->ops, DIR, &o, st, err);
}

/* Writes a whole file durably. */
static void put_file(struct simfs *fs, const char *path, const void *data, uint64_t len)
{
	const struct io_fs *ops = simfs_ops(fs);
	int fd;
	assert_int_equal(ops->open(fs, path, IO_CREATE | IO_TRUNC, &fd), KEEL_OK);
	if (len)
		assert_int_equal(ops->pwrite(fs, fd, data, len, 0), KEEL_OK);
	assert_int_equal(ops->fdatasync(fs, fd), KEEL_OK);
	ops->close(fs, fd);
	assert_int_equal(ops->sync_dir(fs, DIR), KEEL_OK);
}

/* The hard state file: exactly 28 bytes, its magic and its checksum; a
 * folder name too long for it; a failing open or read is told as such,
 * not as damage. */
static void hard_state_file_edges(void **state)
{
	(void)state;
	struct simfs *fs = disk_with(10);
	struct storage *st;
	struct keel_errmsg err;
	uint8_t hs[28];
	simfs_peek(fs, DIR "/" HARDSTATE_FILE, 0, hs, sizeof hs);
	/* one byte more (zero), or one less: not a hard state file */
	for (uint64_t size = 27; size <= 29; size += 2) {
		struct simfs *c = simfs_clone(fs);
		simfs_resize(c, DIR "/" HARDSTATE_FILE, size);
		assert_int_equal(open_st(c, &st, &err), KEEL_ECORRUPT);
		char want[64];
		snprintf(want, sizeof want, "(%" PRIu64 " bytes", size);
		assert_non_null(strstr(err.text, want));
		simfs_free(c);
	}
	/* another magic under a checksum that matches it */
	struct simfs *c = simfs_clone(fs);
	hs[6] = '2';
	bytes_put_u32(hs + 24, crc32c(0, hs, 24));
	simfs_poke(c, DIR "/" HARDSTATE_FILE, 0, hs, sizeof hs);
	assert_int_equal(open_st(c, &st, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, "bad hard state file"));
	simfs_free(c);
	/* a folder whose path leaves no room for the file name */
	char dir[IO_PATH_MAX];
	memset(dir, 'x', sizeof dir - 8);
	dir[sizeof dir - 8] = 0;
	bool found = true;
	uint64_t t = 7, v = 7;
	assert_int_equal(hardstate_write(simfs_ops(fs), dir, 1, 1, &err), KEEL_ETOOBIG);
	assert_int_equal(hardstate_read(simfs_ops(fs), dir, &found, &t, &v, &err), KEEL_ETOOBIG);
	assert_false(found);
	/* the file cannot be opened, or read: that error, not damage */
	for (int op = FL_OPEN; op <= FL_PREAD; op++) {
		struct flaky f;
		flaky_init(&f, fs);
		flaky_fail(&f, (enum flaky_op)op, HARDSTATE_FILE, 0);
		assert_int_equal(flaky_open_st(&f, &st, &err), KEEL_EIO);
		assert_non_null(strstr(err.text, op == FL_OPEN ? "open " : "read "));
		assert_non_null(strstr(err.text, HARDSTATE_FILE));
		assert_int_equal(f.open, 0);
	}
	simfs_free(fs);
}

/* Names: only snap-<20 digits>-<20 digits> is a snapshot. */
static void snapshot_names(void **state)
{
	(void)state;
	uint64_t i = 0, t = 0;
	assert_true(snap_parse_name("snap-00000000000000000100-00000000000000000003", &i, &t));
	assert_int_equal(i, 100);
	assert_int_equal(t, 3);
	assert_false(snap_parse_name("note-00000000000000000100-00000000000000000003", &i, &t));
	assert_false(snap_parse_name("snap-0000000000000000010.-00000000000000000003", &i, &t));
	assert_false(snap_parse_name("snap-00000000000000000100-0000000000000000000/", &i, &t));
	assert_false(snap_parse_name("snap-00000000000000000100-0000000000000000003:", &i, &t));
	assert_false(snap_parse_name("snap-00000000000000000100x00000000000000000003", &i, &t));
	assert_false(snap_parse_name("snap-00000000000000000100-00000000000000000003.tmp", &i, &t));
	/* such files in the data folder are left alone and do not stop a start */
	struct simfs *fs = disk_with(20);
	static const char *const stray[] = {
		DIR "/note-00000000000000000100-00000000000000000003",
		DIR "/snap-0000000000000000010.-00000000000000000003",
		DIR "/00000000000000000005-00000000000000000001",
		DIR "/0000000000000000001x-00000000000000000005",
		DIR "/open-12a",
	};
	for (size_t k = 0; k < sizeof stray / sizeof *stray; k++)
		put_file(fs, stray[k], "x", 1);
	struct storage *st = must_open(fs);
	assert_false(storage_loaded(st)->has_snap);
	expect_entries(storage_loaded(st), 1, 20, 1, 1);
	append_restart(fs, st, 21, 25, 1, 1, 1);
	for (size_t k = 0; k < sizeof stray / sizeof *stray; k++)
		assert_true(simfs_exists(fs, stray[k]));
	simfs_free(fs);
}

/* A snapshot file's header must agree with its name and its size; a
 * failing write or read is reported, never a half-written file. */
static void snapshot_file_edges(void **state)
{
	(void)state;
	struct simfs *fs = simfs_new();
	const struct io_fs *ops = simfs_ops(fs);
	struct keel_errmsg err;
	static uint8_t data[3000];
	struct snap_meta m, got;
	fill_snap(&m, data, 200, 3, sizeof data);
	assert_int_equal(snap_write(ops, DIR, &m, data, &err), KEEL_OK);
	char name[64], path[96], other[96];
	snap_name(name, sizeof name, 200, 3);
	snprintf(path, sizeof path, DIR "/%s", name);
	assert_int_equal(snap_read_meta(ops, DIR, name, &got, &err), KEEL_OK);
	assert_int_equal(got.index, 200);
	assert_int_equal(got.meta_len, 5);
	assert_memory_equal(got.meta, "conf!", 5);
	/* a byte of the metadata, a byte too many, a name of another index
	 * or term, metadata longer than SNAP_META_MAX (under a checksum that
	 * matches it): a bad header */
	for (int k = 0; k < 5; k++) {
		struct simfs *c = simfs_clone(fs);
		char cname[64];
		snprintf(cname, sizeof cname, "%s", name);
		if (k == 0) {
			uint8_t x = 'C';
			simfs_poke(c, path, 48, &x, 1);
		} else if (k == 1) {
			simfs_resize(c, path, simfs_size(c, path) + 1);
		} else if (k == 4) {
			static uint8_t h[SNAP_DATA_OFF];
			simfs_peek(c, path, 0, h, sizeof h);
			bytes_put_u32(h + 12, SNAP_META_MAX + 1);
			bytes_put_u32(h + 44, crc32c(crc32c(0, h, 44), h + 48, SNAP_META_MAX + 1));
			simfs_poke(c, path, 0, h, sizeof h);
		} else {
			snap_name(cname, sizeof cname, k == 2 ? 201 : 200, k == 2 ? 3 : 4);
			snprintf(other, sizeof other, DIR "/%s", cname);
			assert_int_equal(simfs_ops(c)->rename(c, path, other), KEEL_OK);
		}
		assert_int_equal(snap_read_meta(simfs_ops(c), DIR, cname, &got, &err),
				 KEEL_ECORRUPT);
		assert_non_null(strstr(err.text, "bad snapshot header at offset 0"));
		assert_non_null(strstr(err.text, cname));
		simfs_free(c);
	}
	/* reads: past the end refused; of a file gone, the open fails */
	uint8_t buf[32];
	assert_int_equal(snap_read(ops, DIR, &m, sizeof data - 10, buf, 20, &err), KEEL_EINVAL);
	assert_non_null(strstr(err.text, "past the end"));
	assert_int_equal(snap_read(ops, DIR, &m, sizeof data - 20, buf, 20, &err), KEEL_OK);
	assert_memory_equal(buf, data + sizeof data - 20, 20);
	struct simfs *c = simfs_clone(fs);
	assert_int_equal(simfs_ops(c)->unlink(c, path), KEEL_OK);
	assert_int_equal(snap_read(simfs_ops(c), DIR, &m, 0, buf, 20, &err), KEEL_ENOENT);
	assert_non_null(strstr(err.text, "open "));
	simfs_free(c);
	/* the header's write fails: the snapshot is not written */
	fill_snap(&m, data, 300, 3, sizeof data);
	simfs_fail(fs, SIMFS_WRITE, 0, KEEL_EIO, false);
	assert_int_equal(snap_write(ops, DIR, &m, data, &err), KEEL_EIO);
	assert_false(simfs_exists(fs, DIR "/snap-00000000000000000300-00000000000000000003"));
	simfs_free(fs);
}

/* Chunks of a snapshot being received must follow each other, belong to
 * one snapshot and stay within its size; it is finished only whole. */
static void snapshot_chunk_edges(void **state)
{
	(void)state;
	struct simfs *fs = simfs_new();
	const struct io_fs *ops = simfs_ops(fs);
	struct keel_errmsg err;
	static uint8_t data[3000];
	struct snap_meta m, other;
	fill_snap(&m, data, 100, 2, sizeof data);
	struct snap_incoming in;
	snap_incoming_init(&in);
	assert_int_equal(snap_incoming_write(ops, DIR, &in, &m, 0, data, 1000, &err), KEEL_OK);
	for (int k = 0; k < 4; k++) {
		other = m;
		uint64_t off = 1000;
		uint32_t len = 1000;
		if (k == 0)
			other.index = 101;
		else if (k == 1)
			other.term = 3;
		else if (k == 2)
			len = 2001; /* past its size */
		else
			off = 1500; /* not where the last one ended */
		assert_int_equal(
			snap_incoming_write(ops, DIR, &in, &other, off, data + 1000, len, &err),
			KEEL_EINVAL);
		assert_non_null(strstr(err.text, "does not follow"));
	}
	assert_int_equal(snap_incoming_write(ops, DIR, &in, &m, 1000, data + 1000, 1500, &err),
			 KEEL_OK);
	/* not whole yet; then whole, but finished as another snapshot */
	assert_int_equal(snap_incoming_finish(ops, DIR, &in, &m, &err), KEEL_EINVAL);
	assert_non_null(strstr(err.text, "incomplete"));
	assert_int_equal(snap_incoming_write(ops, DIR, &in, &m, 2500, data + 2500, 500, &err),
			 KEEL_OK);
	for (int k = 0; k < 2; k++) {
		other = m;
		if (k == 0)
			other.index = 101;
		else
			other.term = 3;
		assert_int_equal(snap_incoming_finish(ops, DIR, &in, &other, &err), KEEL_EINVAL);
	}
	assert_int_equal(snap_incoming_finish(ops, DIR, &in, &m, &err), KEEL_OK);
	uint8_t *back;
	assert_int_equal(snap_read_meta(ops, DIR, "snap-00000000000000000100-00000000000000000002",
					&other, &err),
			 KEEL_OK);
	assert_int_equal(snap_read_all(ops, DIR, &other, &back, &err), KEEL_OK);
	assert_memory_equal(back, data, sizeof data);
	keel_free(back);
	snap_incoming_drop(ops, &in);
	simfs_free(fs);
}

/* Receives snapshot `index` of `term` in chunks of 2000 bytes through
 * storage_write; the last one installs it and truncates after it. With
 * fail_last (a simfs_op), the last batch's first call of that kind fails. */
static int receive_snapshot(struct storage *st, struct simfs *fs, uint64_t index, uint64_t term,
			    int fail_last, struct keel_errmsg *err)
{
	static uint8_t data[5000];
	static struct snap_meta m;
	fill_snap(&m, data, index, term, sizeof data);
	for (uint64_t off = 0; off < m.size; off += 2000) {
		uint32_t len = (uint32_t)(m.size - off < 2000 ? m.size - off : 2000);
		struct storage_batch b = {.chunk_meta = &m,
					  .chunk_offset = off,
					  .chunk_data = data + off,
					  .chunk_len = len};
		if (off + len == m.size) {
			b.install = &m;
			b.truncate_from = index + 1;
			if (fail_last)
				simfs_fail(fs, (enum simfs_op)fail_last, 0, KEEL_EIO, false);
		}
		int rc = storage_write(st, &b, err);
		if (rc)
			return rc;
	}
	return KEEL_OK;
}

/* A second snapshot received after the first emptied the log (no segment
 * open: the incoming file gets the lowest handle): every step works, its
 * chunks' fdatasync failing is reported, and nothing is left open. */
static void snapshot_received_twice(void **state)
{
	(void)state;
	for (int k = 0; k < 4; k++) {
		struct simfs *fs = disk_with(300);
		struct flaky f;
		flaky_init(&f, fs);
		struct storage *st;
		struct keel_errmsg err;
		assert_int_equal(flaky_open_st(&f, &st, &err), KEEL_OK);
		write_hs(st, 3, 0);
		assert_int_equal(receive_snapshot(st, fs, 900, 3, 0, &err), KEEL_OK);
		assert_int_equal(f.open, 0); /* the log is empty: nothing open */
		static uint8_t data[5000];
		struct snap_meta m;
		fill_snap(&m, data, 1000, 3, sizeof data);
		struct storage_batch b = {.chunk_meta = &m, .chunk_data = data, .chunk_len = 2000};
		assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
		assert_int_equal(f.open, 1);
		assert_non_null(strstr(f.path[0], SNAP_INCOMING));
		if (k == 1) { /* a crash: closed, nothing left open */
			storage_close(st);
			assert_int_equal(f.open, 0);
			simfs_free(fs);
			continue;
		}
		if (k == 2) { /* the chunk's fdatasync fails */
			simfs_fail(fs, SIMFS_FDATASYNC, 0, KEEL_EIO, false);
			assert_int_equal(storage_sync(st, &err), KEEL_EIO);
			assert_non_null(strstr(err.text, SNAP_INCOMING));
			assert_int_equal(storage_failed(st), KEEL_EIO);
			storage_close(st);
			assert_int_equal(f.open, 0);
			simfs_free(fs);
			continue;
		}
		sync_ok(st);
		if (k == 3) { /* the install's fdatasync fails: not installed */
			simfs_fail(fs, SIMFS_FDATASYNC, 0, KEEL_EIO, false);
			b = (struct storage_batch){.chunk_meta = &m,
						   .chunk_offset = 2000,
						   .chunk_data = data + 2000,
						   .chunk_len = 3000,
						   .install = &m};
			assert_int_equal(storage_write(st, &b, &err), KEEL_EIO);
			assert_non_null(strstr(err.text, "fdatasync"));
			assert_int_equal(storage_failed(st), KEEL_EIO);
			storage_close(st);
			assert_int_equal(f.open, 0);
			simfs_crash_clean(fs);
			st = must_open(fs);
			assert_int_equal(storage_loaded(st)->snap.index, 900);
			storage_close(st);
			simfs_free(fs);
			continue;
		}
		for (uint64_t off = 2000; off < m.size; off += 2000) {
			uint32_t len = (uint32_t)(m.size - off < 2000 ? m.size - off : 2000);
			b = (struct storage_batch){.chunk_meta = &m,
						   .chunk_offset = off,
						   .chunk_data = data + off,
						   .chunk_len = len};
			if (off + len == m.size)
				b.install = &m;
			assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
		}
		append(st, 1001, 1003, 3);
		sync_ok(st);
		storage_close(st);
		assert_int_equal(f.open, 0);
		st = must_open(fs);
		const struct storage_loaded *l = storage_loaded(st);
		assert_int_equal(l->snap.index, 1000);
		assert_memory_equal(l->snap_data, data, sizeof data);
		expect_entries(l, 1001, 1003, 0, 3);
		storage_close(st);
		simfs_free(fs);
	}
}

/* Recovery's edges in storage.c: leftovers named *.tmp go, whatever the
 * rest of their name; a failing list or mkdir is told; a log of one entry;
 * a log ending exactly at the snapshot is dropped; a log starting right
 * after an older snapshot still covers a damaged newer one. */
static void recovery_edges(void **state)
{
	(void)state;
	struct keel_errmsg err;
	struct storage *st;
	struct simfs *fs = disk_with(5);
	put_file(fs, DIR "/.tmp", "x", 1);
	st = must_open(fs);
	assert_false(simfs_exists(fs, DIR "/.tmp"));
	expect_entries(storage_loaded(st), 1, 5, 1, 1);
	storage_close(st);
	for (int op = FL_LIST; op <= FL_MKDIR; op++) { /* once: a retry would work */
		struct flaky f;
		flaky_init(&f, fs);
		flaky_fail(&f, (enum flaky_op)op, NULL, 0);
		assert_int_equal(flaky_open_st(&f, &st, &err), KEEL_EIO);
		assert_non_null(strstr(err.text, op == FL_LIST ? "list " DIR : "mkdir " DIR));
		assert_int_equal(f.open, 0);
	}
	simfs_free(fs);

	/* one entry, then truncated to none */
	fs = simfs_new();
	st = must_open(fs);
	write_hs(st, 1, 0);
	append_restart(fs, st, 1, 1, 1, 1, 1);
	st = must_open(fs);
	struct storage_batch b = {.truncate_from = 1};
	assert_int_equal(storage_write(st, &b, &err), KEEL_OK);
	storage_close(st);
	st = must_open(fs);
	assert_int_equal(storage_loaded(st)->n_entries, 0);
	append_restart(fs, st, 1, 3, 1, 1, 1);
	simfs_free(fs);

	/* the log ends at the snapshot: dropped, the log starts after it */
	static uint8_t sd[64];
	struct snap_meta sm;
	fs = disk_with(300);
	st = must_open(fs);
	fill_snap(&sm, sd, 300, 1, sizeof sd);
	assert_int_equal(storage_save_snapshot(st, &sm, sd, &err), KEEL_OK);
	storage_close(st);
	st = must_open(fs);
	assert_int_equal(storage_loaded(st)->n_entries, 0);
	assert_int_equal(storage_first(st), 301);
	assert_int_equal(storage_last(st), 300);
	append_restart(fs, st, 301, 305, 1, 301, 0);
	simfs_free(fs);

	/* the log starts right after snapshot 100 and holds everything that
	 * the damaged snapshot 200 covered: 100 and the log are taken */
	fs = simfs_new();
	st = must_open(fs);
	write_hs(st, 1, 0);
	assert_int_equal(receive_snapshot(st, fs, 100, 1, 0, &err), KEEL_OK);
	append(st, 101, 300, 1);
	fill_snap(&sm, sd, 200, 1, sizeof sd);
	assert_int_equal(storage_save_snapshot(st, &sm, sd, &err), KEEL_OK);
	assert_int_equal(storage_first(st), 101);
	storage_close(st);
	/* reading the newer snapshot's data fails: that error, not damage
	 * (which would pass it over) */
	struct flaky f;
	flaky_init(&f, fs);
	flaky_fail(&f, FL_PREAD, "snap-00000000000000000200", 1);
	assert_int_equal(flaky_open_st(&f, &st, &err), KEEL_EIO);
	assert_non_null(strstr(err.text, "read " DIR "/snap-00000000000000000200"));
	assert_int_equal(f.open, 0);
	uint8_t x = 0xEE;
	simfs_poke(fs, DIR "/snap-00000000000000000200-00000000000000000001", SNAP_DATA_OFF + 10,
		   &x, 1);
	st = must_open(fs);
	assert_int_equal(storage_loaded(st)->snap.index, 100);
	expect_entries(storage_loaded(st), 101, 300, 1, 1);
	storage_close(st);
	simfs_free(fs);
}

/* Opening a folder that a clean stop left writes nothing: with every
 * kind of write failing, the start still succeeds with everything. */
static void clean_open_writes_nothing(void **state)
{
	(void)state;
	struct simfs *base = disk_with(130);
	for (int op = SIMFS_WRITE; op < SIMFS_OP_MAX; op++) {
		struct simfs *fs = simfs_clone(base);
		simfs_fail(fs, (enum simfs_op)op, 0, KEEL_EIO, true);
		struct storage *st = must_open(fs);
		expect_entries(storage_loaded(st), 1, 130, 1, 1);
		assert_int_equal(storage_loaded(st)->term, 1);
		storage_close(st);
		simfs_free(fs);
	}
	simfs_free(base);
}

/* Each step that can fail is told, and stops the storage: after it every
 * call returns the error and nothing more reaches the disk. */
static void failing_steps(void **state)
{
	(void)state;
	struct keel_errmsg err;
	static uint8_t sd[64];
	struct snap_meta sm;
	/* a failed sync: then flush, read, save and adopt all refuse */
	struct simfs *fs = disk_with(50);
	struct storage *st = must_open(fs);
	append(st, 51, 52, 1);
	simfs_fail(fs, SIMFS_FDATASYNC, 0, KEEL_EIO, false);
	assert_int_equal(storage_sync(st, &err), KEEL_EIO);
	assert_int_equal(storage_flush(st, &err), KEEL_EIO);
	struct wal_entry *e;
	uint8_t *mem;
	assert_int_equal(storage_read(st, 1, 5, &e, &mem, &err), KEEL_EIO);
	fill_snap(&sm, sd, 40, 1, sizeof sd);
	assert_int_equal(storage_save_snapshot(st, &sm, sd, &err), KEEL_EIO);
	assert_int_equal(snap_write_tmp(simfs_ops(fs), DIR, &sm, sd, &err), KEEL_OK);
	assert_int_equal(storage_adopt_snapshot(st, &sm, &err), KEEL_EIO);
	assert_null(storage_snapshot(st));
	storage_close(st);
	simfs_crash_clean(fs);
	st = must_open(fs);
	assert_false(storage_loaded(st)->has_snap);
	assert_true(storage_loaded(st)->n_entries >= 50);
	expect_entries(storage_loaded(st), 1, storage_loaded(st)->n_entries, 1, 1);
	storage_close(st);
	simfs_free(fs);

	/* an entry that does not follow the log: refused, and stopped */
	fs = disk_with(5);
	st = must_open(fs);
	uint8_t buf[8] = {0};
	struct wal_entry bad = {.term = 1, .index = 9, .type = 2, .len = 8, .data = buf};
	struct storage_batch b = {.entries = &bad, .n_entries = 1};
	assert_int_equal(storage_write(st, &b, &err), KEEL_EINVAL);
	assert_non_null(strstr(err.text, "append of index 9 after 5"));
	assert_int_equal(storage_failed(st), KEEL_EINVAL);
	storage_close(st);

	/* adopting a snapshot whose rename fails */
	st = must_open(fs);
	fill_snap(&sm, sd, 4, 1, sizeof sd);
	assert_int_equal(snap_write_tmp(simfs_ops(fs), DIR, &sm, sd, &err), KEEL_OK);
	simfs_fail(fs, SIMFS_RENAME, 0, KEEL_EIO, false);
	assert_int_equal(storage_adopt_snapshot(st, &sm, &err), KEEL_EIO);
	assert_non_null(strstr(err.text, "rename"));
	assert_int_equal(storage_failed(st), KEEL_EIO);
	assert_null(storage_snapshot(st));
	storage_close(st);
	simfs_free(fs);

	/* a truncation whose closing folder fsync fails */
	fs = disk_with(130);
	st = must_open(fs);
	simfs_fail(fs, SIMFS_SYNC_DIR, 0, KEEL_EIO, false);
	b = (struct storage_batch){.truncate_from = 129};
	assert_int_equal(storage_write(st, &b, &err), KEEL_EIO);
	assert_non_null(strstr(err.text, "fsync folder"));
	assert_int_equal(storage_failed(st), KEEL_EIO);
	storage_close(st);
	simfs_free(fs);

	/* an install whose purge cannot remove the old log */
	fs = disk_with(300);
	st = must_open(fs);
	write_hs(st, 3, 0);
	assert_int_equal(receive_snapshot(st, fs, 900, 3, SIMFS_UNLINK, &err), KEEL_EIO);
	assert_non_null(strstr(err.text, "unlink"));
	assert_int_equal(storage_failed(st), KEEL_EIO);
	storage_close(st);
	simfs_free(fs);

	/* a repair that cannot remove the damaged suffix: the open fails,
	 * nothing changed; once the disk works the repair goes through */
	fs = disk_with(130);
	char closed[64];
	closed_segment(fs, 2, closed);
	uint8_t x = 0x5A;
	simfs_poke(fs, closed, 16 + 40, &x, 1);
	struct storage_options o = opts();
	struct policy pol = {.answer = KEEL_OK};
	o.repair = true;
	o.may_repair = policy;
	o.repair_ctx = &pol;
	simfs_fail(fs, SIMFS_UNLINK, 0, KEEL_EIO, false);
	assert_int_equal(storage_open(simfs_ops(fs), DIR, &o, &st, &err), KEEL_EIO);
	assert_non_null(strstr(err.text, "unlink"));
	assert_true(simfs_exists(fs, closed));
	assert_int_equal(storage_open(simfs_ops(fs), DIR, &o, &st, &err), KEEL_OK);
	expect_entries(storage_loaded(st), 1, 58, 1, 1);
	storage_close(st);
	simfs_free(fs);
}

/* Encodes one record the way wal.c's format says (for files made by hand). */
static uint64_t rec_make(uint8_t *p, uint64_t index, uint64_t term, uint32_t len,
			 const uint8_t *data)
{
	uint64_t size = wal_record_bytes(len);
	memset(p, 0, size);
	bytes_put_u32(p + 4, len);
	p[8] = 2;
	bytes_put_u64(p + 16, term);
	bytes_put_u64(p + 24, index);
	if (len)
		memcpy(p + 32, data, len);
	bytes_put_u32(p, crc32c(0, p + 4, 28 + len));
	return size;
}

/* The log's own rules: an empty log takes any index, each next one must
 * follow, type 0 and oversized payloads are refused; a segment filled to
 * its last byte, records with no payload ending a segment; a truncation
 * of an empty log changes nothing. */
static void wal_edges(void **state)
{
	(void)state;
	struct simfs *fs = simfs_new();
	struct wal_options o = {.segment_bytes = SEG};
	struct wal *w;
	struct wal_damage d;
	struct keel_errmsg err;
	assert_int_equal(wal_open(simfs_ops(fs), DIR, &o, false, &w, &d, &err), KEEL_OK);
	uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct wal_entry e = {.term = 1, .index = 7, .type = 2, .len = 8, .data = buf};
	assert_int_equal(wal_append(w, &e, 1, &err), KEEL_OK);
	assert_int_equal(wal_first(w), 7);
	e.index = 9;
	assert_int_equal(wal_append(w, &e, 1, &err), KEEL_EINVAL);
	assert_non_null(strstr(err.text, "append of index 9 after 7"));
	e.index = 8;
	e.type = 0;
	assert_int_equal(wal_append(w, &e, 1, &err), KEEL_ETOOBIG);
	e.type = 2;
	e.len = WAL_PAYLOAD_MAX + 1; /* never read: refused first */
	assert_int_equal(wal_append(w, &e, 1, &err), KEEL_ETOOBIG);
	assert_non_null(strstr(err.text, "entry 8 cannot be stored"));
	assert_int_equal(wal_last(w), 7);
	wal_close(w);
	simfs_free(fs);

	/* 102 records of 8 bytes fill a segment exactly (16 + 102 * 40);
	 * then 127 with no payload (16 + 127 * 32 = 4080, the 128th would
	 * not fit) */
	fs = simfs_new();
	assert_int_equal(wal_open(simfs_ops(fs), DIR, &o, false, &w, &d, &err), KEEL_OK);
	for (uint64_t i = 1; i <= 230; i++) {
		e = (struct wal_entry){
			.term = 1, .index = i, .type = 2, .len = i <= 102 ? 8 : 0, .data = buf};
		assert_int_equal(wal_append(w, &e, 1, &err), KEEL_OK);
	}
	assert_int_equal(wal_sync(w, &err), KEEL_OK);
	wal_close(w);
	assert_true(simfs_exists(fs, DIR "/00000000000000000001-00000000000000000102"));
	assert_int_equal(simfs_size(fs, DIR "/00000000000000000001-00000000000000000102"), SEG);
	/* a closed segment keeps only its records: the preallocation goes */
	assert_int_equal(simfs_size(fs, DIR "/00000000000000000103-00000000000000000229"),
			 16 + 127 * 32);
	assert_int_equal(wal_open(simfs_ops(fs), DIR, &o, false, &w, &d, &err), KEEL_OK);
	assert_int_equal(wal_first(w), 1);
	assert_int_equal(wal_last(w), 230);
	struct wal_entry *v;
	uint8_t *mem;
	assert_int_equal(wal_read(w, 1, 230, &v, &mem, &err), KEEL_OK);
	for (uint64_t i = 1; i <= 230; i++) {
		assert_int_equal(v[i - 1].index, i);
		assert_int_equal(v[i - 1].len, i <= 102 ? 8 : 0);
		if (i <= 102)
			assert_memory_equal(v[i - 1].data, buf, 8);
	}
	keel_free(v);
	keel_free(mem);
	/* all purged: empty from 231; a truncation below that changes nothing */
	assert_int_equal(wal_purge(w, 231, &err), KEEL_OK);
	assert_int_equal(wal_truncate(w, 100, &err), KEEL_OK);
	uint32_t sn = 7;
	assert_int_equal(wal_scanned(w, 1, &v, &sn), KEEL_OK);
	assert_int_equal(sn, 0);
	assert_null(v);
	assert_int_equal(wal_first(w), 231);
	assert_int_equal(wal_last(w), 230);
	e = (struct wal_entry){.term = 2, .index = 231, .type = 2, .len = 8, .data = buf};
	assert_int_equal(wal_append(w, &e, 1, &err), KEEL_OK);
	assert_int_equal(wal_sync(w, &err), KEEL_OK);
	wal_close(w);
	assert_int_equal(wal_open(simfs_ops(fs), DIR, &o, false, &w, &d, &err), KEEL_OK);
	assert_int_equal(wal_first(w), 231);
	assert_int_equal(wal_last(w), 231);
	wal_close(w);
	simfs_free(fs);
}

/* A record whose checksum holds but whose payload is above WAL_PAYLOAD_MAX
 * (which no append writes) reads as damage: at the end of the log, a torn
 * tail that is cut. */
static void oversized_record(void **state)
{
	(void)state;
	struct simfs *fs = simfs_new();
	struct wal_options o = {.segment_bytes = SEG};
	struct wal *w;
	struct wal_damage d;
	struct keel_errmsg err;
	assert_int_equal(wal_open(simfs_ops(fs), DIR, &o, false, &w, &d, &err), KEEL_OK);
	uint8_t buf[8] = {0};
	for (uint64_t i = 1; i <= 3; i++) {
		struct wal_entry e = {.term = 1, .index = i, .type = 2, .len = 8, .data = buf};
		assert_int_equal(wal_append(w, &e, 1, &err), KEEL_OK);
	}
	assert_int_equal(wal_sync(w, &err), KEEL_OK);
	wal_close(w);
	char path[64];
	open_segment(fs, path);
	uint64_t off = 16 + 3 * wal_record_bytes(8);
	uint32_t len = WAL_PAYLOAD_MAX + 1;
	simfs_resize(fs, path, off + wal_record_bytes(len)); /* the payload: zeros */
	uint8_t h[32] = {0};
	bytes_put_u32(h + 4, len);
	h[8] = 2;
	bytes_put_u64(h + 16, 1);
	bytes_put_u64(h + 24, 4);
	static const uint8_t zeros[1 << 16];
	uint32_t crc = crc32c(0, h + 4, 28);
	for (uint32_t done = 0; done < len;) {
		uint32_t k = len - done < sizeof zeros ? len - done : (uint32_t)sizeof zeros;
		crc = crc32c(crc, zeros, k);
		done += k;
	}
	bytes_put_u32(h, crc);
	simfs_poke(fs, path, off, h, sizeof h);
	assert_int_equal(wal_open(simfs_ops(fs), DIR, &o, false, &w, &d, &err), KEEL_OK);
	assert_false(d.found);
	assert_int_equal(wal_last(w), 3);
	wal_close(w);
	assert_int_equal(simfs_size(fs, path), SEG);
	simfs_free(fs);
}

/* Segments that are not what their names say, or newer than the data. */
static void segment_edges(void **state)
{
	(void)state;
	struct simfs *base = disk_with(130);
	char open_path[64], next[64], closed[64];
	open_segment(base, open_path);
	int seq = (int)strtol(open_path + strlen(OPEN_SEG), NULL, 10);
	snprintf(next, sizeof next, OPEN_SEG "%d", seq + 1);
	uint8_t hdr[16];
	simfs_peek(base, open_path, 0, hdr, sizeof hdr);
	struct storage *st;
	struct keel_errmsg err;
	/* a newer segment torn within its header, or holding only it: it
	 * holds nothing and goes */
	for (uint64_t k = 0; k <= 16; k++) {
		struct simfs *fs = simfs_clone(base);
		put_file(fs, next, hdr, k);
		st = must_open(fs);
		expect_entries(storage_loaded(st), 1, 130, 1, 1);
		assert_false(simfs_exists(fs, next));
		append_restart(fs, st, 131, 132, 1, 1, 1);
		simfs_free(fs);
	}
	/* a newer segment without its header, a record where the header
	 * should be: nothing in it is read */
	static uint8_t page[SEG];
	struct simfs *fs = simfs_clone(base);
	memset(page, 0, sizeof page);
	rec_make(page, 131, 1, 8, hdr);
	put_file(fs, next, page, sizeof page);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 130, 1, 1);
	storage_close(st);
	assert_false(simfs_exists(fs, next));
	simfs_free(fs);
	/* a closed segment renamed to claim one index more than it holds */
	closed_segment(base, 1, closed);
	uint64_t first = strtoull(closed + strlen(DIR "/"), NULL, 10);
	uint64_t last = strtoull(closed + strlen(DIR "/") + 21, NULL, 10);
	char renamed[96];
	snprintf(renamed, sizeof renamed, DIR "/%020" PRIu64 "-%020" PRIu64, first + 1, last);
	fs = simfs_clone(base);
	assert_int_equal(simfs_ops(fs)->rename(fs, closed, renamed), KEEL_OK);
	assert_int_equal(open_st(fs, &st, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, renamed + strlen(DIR "/")));
	simfs_free(fs);
	/* damage in a closed segment, and after everything a segment with
	 * nothing in it: the refusal says up to which index entries were seen */
	fs = simfs_clone(base);
	closed_segment(fs, 2, closed);
	uint8_t x = 0x5A;
	simfs_poke(fs, closed, 16 + 40, &x, 1);
	put_file(fs, next, hdr, sizeof hdr);
	assert_int_equal(open_st(fs, &st, &err), KEEL_ECORRUPT);
	assert_non_null(strstr(err.text, "(index 59; entries up to 130 were seen after it)"));
	simfs_free(fs);
	/* a segment whose rename was lost with its last record damaged, then
	 * the newer segment (as it is, and holding a single record): damage,
	 * not a torn tail (a segment is created only after the one before it
	 * was synced whole) */
	uint64_t ooffs[200], oidx[200];
	record_offsets(base, open_path, ooffs, oidx, NULL);
	for (int k = 0; k < 2; k++) {
		uint64_t last = k ? oidx[0] : 130;
		fs = k ? disk_with(last) : simfs_clone(base);
		closed_segment(fs, 3, closed);
		uint64_t roffs[200], ridx[200];
		uint32_t rn = record_offsets(fs, closed, roffs, ridx, NULL);
		char back[64];
		snprintf(back, sizeof back, OPEN_SEG "%d", seq - 1);
		assert_int_equal(simfs_ops(fs)->rename(fs, closed, back), KEEL_OK);
		assert_int_equal(simfs_ops(fs)->sync_dir(fs, DIR), KEEL_OK);
		simfs_poke(fs, back, roffs[rn - 1] + 20, &x, 1); /* its term */
		assert_int_equal(open_st(fs, &st, &err), KEEL_ECORRUPT);
		char want[160];
		snprintf(want, sizeof want,
			 "%s at offset %" PRIu64 " (index %" PRIu64 "; entries up to %" PRIu64
			 " were seen after it)",
			 back + strlen(DIR "/"), roffs[rn - 1], ridx[rn - 1], last);
		assert_non_null(strstr(err.text, want));
		simfs_free(fs);
	}
	/* the newest segment closed and the open one never made: damage in
	 * its middle is told with the entries seen past it in it */
	fs = simfs_clone(base);
	assert_int_equal(simfs_ops(fs)->unlink(fs, open_path), KEEL_OK);
	closed_segment(fs, 3, closed);
	uint64_t coffs[200], cidx[200];
	uint32_t cn = record_offsets(fs, closed, coffs, cidx, NULL);
	simfs_poke(fs, closed, coffs[4] + 20, &x, 1);
	assert_int_equal(open_st(fs, &st, &err), KEEL_ECORRUPT);
	char seen[96];
	snprintf(seen, sizeof seen, "(index %" PRIu64 "; entries up to %" PRIu64 " were seen",
		 cidx[4], cidx[cn - 1]);
	assert_non_null(strstr(err.text, seen));
	simfs_free(fs);
	/* repair of damage in the middle of a closed segment keeps what comes
	 * before it, and the log goes on across restarts */
	fs = simfs_clone(base);
	closed_segment(fs, 2, closed);
	uint64_t offs[200], idx[200];
	uint32_t n = record_offsets(fs, closed, offs, idx, NULL);
	assert_true(n > 6);
	simfs_poke(fs, closed, offs[4] + 40, &x, 1);
	struct storage_options o = opts();
	struct policy pol = {.answer = KEEL_OK};
	o.repair = true;
	o.may_repair = policy;
	o.repair_ctx = &pol;
	assert_int_equal(storage_open(simfs_ops(fs), DIR, &o, &st, &err), KEEL_OK);
	assert_int_equal(pol.first_bad, idx[4]);
	expect_entries(storage_loaded(st), 1, idx[4] - 1, 1, 1);
	append_restart(fs, st, idx[4], 140, 1, 1, 1);
	simfs_free(fs);
	simfs_free(base);
}

/* The committer's edges: stopping or discarding none; the bytes counted;
 * a group whose first batch fails tells that batch's error; a storage
 * thread that cannot be started fails the start. */
static void committer_edges(void **state)
{
	(void)state;
	committer_stop(NULL);
	committer_discard(NULL);
	struct simfs *fs = disk_with(10);
	struct storage *st = must_open(fs);
	struct stepper t = {0};
	struct keel_errmsg err;
	int failed;
	assert_int_equal(committer_start_manual(on_wake, &t, on_queued, &t, &t.c, &err), KEEL_OK);
	uint64_t bytes = 0;
	uint8_t buf[256];
	for (uint64_t i = 11; i <= 14; i++) {
		submit_entry(t.c, st, i);
		bytes += payload(i, 1, buf);
	}
	assert_true(committer_step(t.c));
	struct committer_stats cs;
	committer_stats(t.c, &cs);
	assert_int_equal(cs.groups, 1);
	assert_int_equal(cs.batches, 4);
	assert_int_equal(cs.bytes, bytes);
	simfs_fail(fs, SIMFS_WRITE, 0, KEEL_EIO, false);
	struct storage_batch hs = {.hs = true, .term = 2};
	committer_submit(t.c, st, &hs);
	submit_entry(t.c, st, 15);
	assert_true(committer_step(t.c));
	assert_int_equal(committer_durable(t.c, &failed, &err), 4);
	assert_int_equal(failed, KEEL_EIO);
	assert_non_null(strstr(err.text, HARDSTATE_TMP));
	committer_stop(t.c);
	storage_close(st);
	simfs_crash_clean(fs);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 14, 1, 1);
	assert_int_equal(storage_loaded(st)->term, 1);

	/* no thread can be started (a process limit of 0, as another user) */
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {0, 0};
		if ((getuid() == 0 && setuid(65534) != 0) || setrlimit(RLIMIT_NPROC, &rl) != 0)
			_exit(2);
		struct committer *c = NULL;
		int rc = committer_start(NULL, NULL, &c, &err);
		_exit(rc == KEEL_ENOMEM && strstr(err.text, "storage thread") ? 0 : 1);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* the thread stopped while idle ends; stopped with work queued, it
	 * writes the queue first */
	struct committer *c;
	assert_int_equal(committer_start(NULL, NULL, &c, &err), KEEL_OK);
	assert_int_equal(committer_wait(c, submit_entry(c, st, 15)), KEEL_OK);
	committer_stop(c);
	assert_int_equal(committer_start(NULL, NULL, &c, &err), KEEL_OK);
	for (uint64_t i = 16; i <= 20; i++)
		submit_entry(c, st, i);
	committer_stop(c);
	storage_close(st);
	simfs_crash_clean(fs);
	st = must_open(fs);
	expect_entries(storage_loaded(st), 1, 20, 1, 1);
	storage_close(st);
	simfs_free(fs);
}

/* ---- one committer, several storages (a node's groups) ------------------------ */

#define N_GROUPS 3
static const char *const group_dir[N_GROUPS] = {"g1", "g2", "g3"};
/* Storage k starts with hard state (k + 2, 1) and entries 1..base of term
 * 1 (g2 with more: its open segment has another name than the others');
 * what a test adds to storage k is of term k + 2, so that an entry of one
 * storage found in another's log would show. */
static const uint64_t group_base[N_GROUPS] = {10, 150, 10};

static struct storage *open_group(const struct io_fs *ops, int k)
{
	struct storage_options o = opts();
	struct storage *st = NULL;
	struct keel_errmsg err = {{0}};
	int rc = storage_open(ops, group_dir[k], &o, &st, &err);
	if (rc)
		fail_msg("open %s: %s (%s)", group_dir[k], err.text, keel_err_name(rc));
	return st;
}

/* A disk with the groups' storages, opened through f over it. */
static struct simfs *groups_open(struct flaky *f, struct storage **st)
{
	struct simfs *fs = simfs_new();
	for (int k = 0; k < N_GROUPS; k++) {
		struct storage *s = open_group(simfs_ops(fs), k);
		write_hs(s, (uint64_t)k + 2, 1);
		append(s, 1, group_base[k], 1);
		sync_ok(s);
		storage_close(s);
	}
	flaky_init(f, fs);
	for (int k = 0; k < N_GROUPS; k++)
		st[k] = open_group(&f->ops, k);
	return fs;
}

/* Closes the storages, crashes the disk (what was not synced is lost) and
 * reopens each: storage k must hold its snapshot at snap[k] (0: none) and
 * the entries after it up to last[k], nothing else. */
static void groups_crash(struct simfs *fs, struct storage **st, const uint64_t *last,
			 const uint64_t *snap)
{
	for (int k = 0; k < N_GROUPS; k++)
		storage_close(st[k]);
	simfs_crash_clean(fs);
	for (int k = 0; k < N_GROUPS; k++) {
		struct storage *s = open_group(simfs_ops(fs), k);
		const struct storage_loaded *l = storage_loaded(s);
		assert_int_equal(l->has_snap, snap[k] != 0);
		if (snap[k])
			assert_int_equal(l->snap.index, snap[k]);
		expect_entries(l, snap[k] + 1, last[k], group_base[k] + 1, (uint64_t)k + 2);
		storage_close(s);
	}
}

/* The path of the back-th fdatasync from the last (0: the last). */
static const char *synced_back(const struct flaky *f, uint32_t back)
{
	assert_true(back < FL_SYNCS && back < f->n_synced);
	return f->synced[(f->n_synced - 1 - back) % FL_SYNCS];
}

/* The name of dir's open segment, with the ':' an error message puts
 * after it. */
static void open_name(struct simfs *fs, const char *dir, char *name)
{
	for (int seq = 1; seq < 1000; seq++) {
		char path[64];
		snprintf(path, sizeof path, "%s/open-%d", dir, seq);
		if (simfs_exists(fs, path)) {
			snprintf(name, 32, "open-%d:", seq);
			return;
		}
	}
	fail_msg("no open segment in %s", dir);
}

static void expect_stats(struct committer *c, uint64_t groups, uint64_t batches, uint64_t syncs)
{
	struct committer_stats cs;
	committer_stats(c, &cs);
	assert_int_equal(cs.groups, groups);
	assert_int_equal(cs.batches, batches);
	assert_int_equal(cs.syncs, syncs);
}

/* Three storages in one committer, stepped: batches interleaved across
 * them each go to their own storage; a pass syncs each storage it wrote
 * once, in the order first written; the sequence numbers are one counter;
 * an empty pass does nothing; a snapshot adopted in one storage beside
 * appends in another. */
static void committer_many_storages(void **state)
{
	(void)state;
	struct flaky f;
	struct storage *st[N_GROUPS];
	struct simfs *fs = groups_open(&f, st);
	struct stepper t = {0};
	struct keel_errmsg err;
	int failed;
	assert_int_equal(committer_start_manual(on_wake, &t, on_queued, &t, &t.c, &err), KEEL_OK);

	assert_int_equal(submit_term(t.c, st[0], 11, 2), 1);
	assert_int_equal(submit_term(t.c, st[1], 151, 3), 2);
	assert_int_equal(submit_term(t.c, st[0], 12, 2), 3);
	assert_int_equal(submit_term(t.c, st[2], 11, 4), 4);
	assert_int_equal(submit_term(t.c, st[1], 152, 3), 5);
	assert_int_equal(committer_durable(t.c, &failed, NULL), 0);
	assert_true(committer_step(t.c));
	assert_int_equal(t.wakes, 1);
	assert_int_equal(committer_durable(t.c, &failed, NULL), 5);
	assert_int_equal(failed, KEEL_OK);
	expect_stats(t.c, 1, 5, 3);
	assert_non_null(strstr(synced_back(&f, 2), "g1/"));
	assert_non_null(strstr(synced_back(&f, 1), "g2/"));
	assert_non_null(strstr(synced_back(&f, 0), "g3/"));

	/* a pass touching one of the three syncs that one alone */
	uint32_t before = f.n_synced;
	assert_int_equal(submit_term(t.c, st[1], 153, 3), 6);
	assert_int_equal(submit_term(t.c, st[1], 154, 3), 7);
	assert_true(committer_step(t.c));
	assert_int_equal(committer_durable(t.c, &failed, NULL), 7);
	expect_stats(t.c, 2, 7, 4);
	assert_int_equal(f.n_synced, before + 1);
	assert_non_null(strstr(synced_back(&f, 0), "g2/"));

	/* an empty pass: nothing runs, nothing is counted, nobody is woken */
	before = f.n_synced;
	assert_false(committer_step(t.c));
	assert_int_equal(t.wakes, 2);
	expect_stats(t.c, 2, 7, 4);
	assert_int_equal(f.n_synced, before);

	/* a snapshot adopted in g1 (and an entry after it) beside appends in
	 * g3: g3 was written first, so it is synced first */
	static uint8_t data[3000];
	struct snap_meta m;
	fill_snap(&m, data, 12, 2, sizeof data);
	assert_int_equal(snap_write_tmp(&f.ops, "g1", &m, data, &err), KEEL_OK);
	assert_int_equal(submit_term(t.c, st[2], 12, 4), 8);
	assert_int_equal(committer_adopt_snapshot(t.c, st[0], &m), 9);
	assert_int_equal(submit_term(t.c, st[0], 13, 2), 10);
	assert_int_equal(submit_term(t.c, st[2], 13, 4), 11);
	assert_true(committer_step(t.c));
	assert_int_equal(committer_durable(t.c, &failed, NULL), 11);
	expect_stats(t.c, 3, 11, 6);
	assert_non_null(strstr(synced_back(&f, 1), "g3/"));
	assert_non_null(strstr(synced_back(&f, 0), "g1/"));
	assert_int_equal(storage_snapshot(st[0])->index, 12);
	assert_null(storage_snapshot(st[1]));
	assert_null(storage_snapshot(st[2]));
	committer_stop(t.c);
	groups_crash(fs, st, (uint64_t[]){13, 154, 13}, (uint64_t[]){12, 0, 0});
	simfs_free(fs);
}

/* A failing fdatasync of one storage in a pass over three: nothing of the
 * pass is published, nor ever anything after it, for any storage; the
 * error is that storage's; the syncs after it do not run. */
static void committer_many_storages_fail(void **state)
{
	(void)state;
	struct flaky f;
	struct storage *st[N_GROUPS];
	struct simfs *fs = groups_open(&f, st);
	struct stepper t = {0};
	struct keel_errmsg err;
	int failed;
	assert_int_equal(committer_start_manual(on_wake, &t, on_queued, &t, &t.c, &err), KEEL_OK);
	submit_term(t.c, st[0], 11, 2);
	submit_term(t.c, st[1], 151, 3);
	submit_term(t.c, st[2], 11, 4);
	assert_true(committer_step(t.c));
	assert_int_equal(committer_durable(t.c, &failed, NULL), 3);

	flaky_fail(&f, FL_FDATASYNC, "g2/", 0);
	assert_int_equal(submit_term(t.c, st[0], 12, 2), 4);
	assert_int_equal(submit_term(t.c, st[1], 152, 3), 5);
	assert_int_equal(submit_term(t.c, st[2], 12, 4), 6);
	assert_true(committer_step(t.c));
	assert_int_equal(t.wakes, 2);
	assert_int_equal(committer_durable(t.c, &failed, &err), 3);
	assert_int_equal(failed, KEEL_EIO);
	char names[N_GROUPS][32];
	for (int k = 0; k < N_GROUPS; k++)
		open_name(fs, group_dir[k], names[k]);
	assert_string_not_equal(names[0], names[1]);
	assert_string_not_equal(names[2], names[1]);
	assert_non_null(strstr(err.text, names[1]));
	assert_int_equal(storage_failed(st[0]), KEEL_OK);
	assert_int_equal(storage_failed(st[1]), KEEL_EIO);
	assert_int_equal(storage_failed(st[2]), KEEL_OK);
	expect_stats(t.c, 1, 3, 3); /* the failed pass is not counted */

	/* fail-stop: the other storages are healthy, but nothing more runs */
	assert_int_equal(submit_term(t.c, st[0], 13, 2), 7);
	assert_false(committer_step(t.c));
	assert_int_equal(committer_wait(t.c, 7), KEEL_EIO);
	assert_int_equal(committer_durable(t.c, &failed, NULL), 3);
	assert_int_equal(t.wakes, 2);
	committer_stop(t.c);
	/* g1's sync ran before g2's failed (durable, never reported), g3's
	 * never ran */
	groups_crash(fs, st, (uint64_t[]){12, 151, 11}, (uint64_t[]){0, 0, 0});
	simfs_free(fs);
}

/* The same on the storage thread: a client per storage, each appending
 * and waiting; then one storage's fdatasync fails. */
static void committer_many_storages_threaded(void **state)
{
	(void)state;
	struct flaky f;
	struct storage *st[N_GROUPS];
	struct simfs *fs = groups_open(&f, st);
	struct committer *c;
	struct keel_errmsg err;
	int failed;
	assert_int_equal(committer_start(NULL, NULL, &c, &err), KEEL_OK);
	pthread_mutex_t mu[N_GROUPS];
	uint64_t next[N_GROUPS];
	struct appender a[N_GROUPS];
	pthread_t th[N_GROUPS];
	for (int k = 0; k < N_GROUPS; k++) {
		pthread_mutex_init(&mu[k], NULL);
		next[k] = group_base[k] + 1;
		a[k] = (struct appender){c, st[k], &mu[k], &next[k], (uint64_t)k + 2, 60, KEEL_OK};
		assert_int_equal(pthread_create(&th[k], NULL, appender_main, &a[k]), 0);
	}
	for (int k = 0; k < N_GROUPS; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(a[k].rc, KEEL_OK);
	}
	struct committer_stats cs;
	committer_stats(c, &cs);
	assert_int_equal(cs.batches, 180);
	assert_true(cs.groups >= 1 && cs.syncs >= cs.groups && cs.syncs <= 3 * cs.groups);
	assert_int_equal(committer_durable(c, &failed, NULL), 180);

	flaky_fail(&f, FL_FDATASYNC, "g2/", 0);
	uint64_t s1 = submit_term(c, st[0], next[0], 2);
	uint64_t s2 = submit_term(c, st[1], next[1], 3);
	uint64_t s3 = submit_term(c, st[2], next[2], 4);
	assert_true(s1 > 180 && s2 > s1 && s3 > s2);
	assert_int_equal(committer_wait(c, s3), KEEL_EIO);
	uint64_t durable = committer_durable(c, &failed, &err);
	assert_true(durable >= 180 && durable < s2); /* g1's may have passed alone */
	assert_int_equal(failed, KEEL_EIO);
	char name[32];
	open_name(fs, group_dir[1], name);
	assert_non_null(strstr(err.text, name));
	uint64_t s4 = submit_term(c, st[0], next[0] + 1, 2);
	assert_true(s4 > s3);
	assert_int_equal(committer_wait(c, s4), KEEL_EIO);
	assert_int_equal(committer_durable(c, &failed, NULL), durable);
	committer_stop(c);
	for (int k = 0; k < N_GROUPS; k++)
		pthread_mutex_destroy(&mu[k]);
	groups_crash(fs, st, (uint64_t[]){71, 210, 70}, (uint64_t[]){0, 0, 0});
	simfs_free(fs);
}

/* Deferred: submits of three storages wait for committer_kick, which
 * sends them to the thread as one pass (a sync each); committer_wait
 * kicks what it waits for itself. The sleeps let the thread reach its
 * wait (a broken kick or deferral then shows), never make this pass. */
struct woken {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t n;
};

static void on_woken(void *ctx)
{
	struct woken *w = ctx;
	pthread_mutex_lock(&w->mu);
	w->n++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void committer_deferred(void **state)
{
	(void)state;
	struct flaky f;
	struct storage *st[N_GROUPS];
	struct simfs *fs = groups_open(&f, st);
	struct woken w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	struct committer *c;
	struct keel_errmsg err;
	int failed;
	assert_int_equal(committer_start(on_woken, &w, &c, &err), KEEL_OK);
	uint64_t seq = submit_term(c, st[0], group_base[0] + 1, 2);
	assert_int_equal(committer_wait(c, seq), KEEL_OK); /* the thread runs */
	committer_defer(c);
	committer_kick(c); /* nothing queued: no pass */
	usleep(50 * 1000);
	struct committer_stats before, after;
	committer_stats(c, &before);
	for (int k = 0; k < N_GROUPS; k++) {
		seq = submit_term(c, st[k], group_base[k] + 1 + (k == 0), (uint64_t)k + 2);
		usleep(20 * 1000);
	}
	assert_int_equal(committer_durable(c, &failed, NULL), seq - 3); /* none woke it */
	committer_kick(c);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 30; /* a lost wake-up fails here, not by hanging */
	pthread_mutex_lock(&w.mu);
	while (committer_durable(c, &failed, NULL) < seq &&
	       pthread_cond_timedwait(&w.cv, &w.mu, &deadline) == 0)
		;
	pthread_mutex_unlock(&w.mu);
	assert_int_equal(committer_durable(c, &failed, NULL), seq);
	assert_int_equal(failed, KEEL_OK);
	committer_stats(c, &after);
	assert_int_equal(after.groups - before.groups, 1); /* the three together */
	assert_int_equal(after.batches - before.batches, 3);
	assert_int_equal(after.syncs - before.syncs, 3);

	seq = submit_term(c, st[1], group_base[1] + 2, 3); /* no kick */
	assert_int_equal(committer_wait(c, seq), KEEL_OK);
	committer_stop(c);
	groups_crash(fs, st, (uint64_t[]){group_base[0] + 2, group_base[1] + 2, group_base[2] + 1},
		     (uint64_t[]){0, 0, 0});
	simfs_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(truncate_and_purge),
		cmocka_unit_test(snapshots),
		cmocka_unit_test(damaged_snapshot_covered_by_log),
		cmocka_unit_test(two_snapshots_of_one_index),
		cmocka_unit_test(adopted_snapshot),
		cmocka_unit_test(tails),
		cmocka_unit_test(bit_flips),
		cmocka_unit_test(lost_rename),
		cmocka_unit_test(hard_state_cases),
		cmocka_unit_test(repair),
		cmocka_unit_test(fail_stop),
		cmocka_unit_test(disk_full),
		cmocka_unit_test(random_crashes),
		cmocka_unit_test(preallocated_in_steps),
		cmocka_unit_test(group_commit),
		cmocka_unit_test(manual_committer),
		cmocka_unit_test(hard_state_file_edges),
		cmocka_unit_test(snapshot_names),
		cmocka_unit_test(snapshot_file_edges),
		cmocka_unit_test(snapshot_chunk_edges),
		cmocka_unit_test(snapshot_received_twice),
		cmocka_unit_test(recovery_edges),
		cmocka_unit_test(failing_steps),
		cmocka_unit_test(clean_open_writes_nothing),
		cmocka_unit_test(wal_edges),
		cmocka_unit_test(segment_edges),
		cmocka_unit_test(oversized_record),
		cmocka_unit_test(committer_edges),
		cmocka_unit_test(committer_many_storages),
		cmocka_unit_test(committer_many_storages_fail),
		cmocka_unit_test(committer_many_storages_threaded),
		cmocka_unit_test(committer_deferred),
	};
	return UNIT_RUN("storage", tests);
}
