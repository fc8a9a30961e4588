/* tests/fuzz/fuzz_journal.c — the storage journal's records
 * (src/storage/journal.c), on the simulator's in-memory disk. Mode byte
 * even: the rest of the input is a journal file, scanned as recovery
 * scans it. Odd: records are built from the input (sections of three
 * storage names, entries of any term, index, type and payload), written
 * through the journal's own API, then the file is damaged as the input
 * says (a byte changed, or cut short) and scanned. Properties: a scan
 * never reads outside the file and ends in entries or a refusal; the
 * entries of a file written whole are exactly those written, in order;
 * of a damaged one, a prefix of them (or a refusal).
 *
 * Mode 2 is recovery (journal_recover) into two storages whose logs hold
 * a prefix of one history each: either the journal holds a stretch of
 * that history from at most one past the log's end, perhaps with one
 * term changed where it overlaps the log, an entry dropped past the
 * log's end, or a byte of the file changed; or the input is the file
 * itself, each record's checksum and generation made to hold so that
 * its sections (names, counts, entries) are the input's. Properties:
 * recovery never crashes and never reads outside what it was given; it
 * refuses a changed term and a gap with the storage and the index; a log
 * after recovery is always a prefix of its history at least as long as
 * before; a journal undamaged and consistent is replayed whole and
 * removed. */
#include <string.h>

#include "fuzz.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "sim/simfs.h"
#include "storage/journal.h"
#include "storage/storage.h"

#define MAX_ENTRIES 64

static const char *const names[] = {".", "shard-1", "meta"};

struct seen {
	const uint8_t *lo, *hi; /* the file's bytes */
	uint32_t n;
	char name[MAX_ENTRIES][16];
	struct wal_entry e[MAX_ENTRIES];
	bool over;
};

static int each(void *ctx, const char *name, const struct wal_entry *e)
{
	struct seen *s = ctx;
	FUZZ_CHECK(e->data >= s->lo && e->data + e->len <= s->hi);
	FUZZ_CHECK(e->type && e->index && strlen(name) > 0);
	if (s->n == MAX_ENTRIES) {
		s->over = true;
		return KEEL_OK;
	}
	snprintf(s->name[s->n], sizeof s->name[s->n], "%s", name);
	s->e[s->n++] = *e;
	return KEEL_OK;
}

static void scan_raw(const uint8_t *p, size_t n)
{
	uint8_t *copy = keel_malloc(n ? n : 1); /* exactly n: reads past it are caught */
	memcpy(copy, p, n);
	struct seen s = {.lo = copy, .hi = copy + n};
	struct keel_errmsg err = {{0}};
	int64_t records = journal_scan(copy, n, each, &s, &err);
	FUZZ_CHECK(records >= 0 || err.text[0]);
	keel_free(copy);
}

static void built(struct fuzz_in *in)
{
	struct simfs *fs = simfs_new();
	struct journal *j;
	struct keel_errmsg err = {{0}};
	FUZZ_CHECK(simfs_ops(fs)->mkdir(simfs_ops(fs)->ctx, "d") == KEEL_OK);
	FUZZ_CHECK(journal_create(simfs_ops(fs), "d", 64 << 10, 7, &j, &err) == KEEL_OK);
	static uint8_t payloads[MAX_ENTRIES][64];
	char want_name[MAX_ENTRIES][16];
	struct wal_entry want[MAX_ENTRIES];
	uint32_t n_want = 0;
	uint32_t records = fuzz_below(in, 5);
	for (uint32_t r = 0; r < records; r++) {
		uint32_t sections = fuzz_below(in, 4);
		for (uint32_t s = 0; s < sections; s++) {
			const char *name = names[fuzz_below(in, 3)];
			char dir[32];
			snprintf(dir, sizeof dir, strcmp(name, ".") ? "d/%s" : "d", name);
			uint32_t n = fuzz_below(in, 5);
			struct wal_entry e[4];
			uint32_t k = 0;
			for (uint32_t i = 0; i < n && n_want < MAX_ENTRIES; i++, n_want++, k++) {
				size_t len;
				const uint8_t *p = fuzz_bytes(in, fuzz_below(in, 65), &len);
				memcpy(payloads[n_want], p, len);
				e[i] = (struct wal_entry){.term = fuzz_u64(in),
							  .index = fuzz_u64(in) | 1,
							  .type = (uint8_t)(fuzz_u8(in) | 1),
							  .len = (uint32_t)len,
							  .data = payloads[n_want]};
				want[n_want] = e[i];
				snprintf(want_name[n_want], sizeof want_name[n_want], "%s", name);
			}
			journal_add(j, dir, e, k);
		}
		FUZZ_CHECK(journal_fits(j));
		FUZZ_CHECK(journal_commit(j, &err) == KEEL_OK);
	}
	journal_close(j);
	uint64_t size = simfs_size(fs, "d/journal");
	uint8_t *file = keel_malloc(size);
	simfs_peek(fs, "d/journal", 0, file, size);
	uint8_t damage = fuzz_u8(in) % 3;
	uint64_t at = fuzz_u32(in) % (size < 4096 ? size : 4096);
	if (damage == 1)
		file[at] ^= (uint8_t)(fuzz_u8(in) | 1);
	uint64_t len = damage == 2 ? at : size;
	struct seen s = {.lo = file, .hi = file + len};
	int64_t got = journal_scan(file, len, each, &s, &err);
	if (!damage) {
		FUZZ_CHECK(got == (int64_t)records + 1); /* and the empty first */
		FUZZ_CHECK(s.n == n_want);
	}
	FUZZ_CHECK(got >= 0 || damage == 1);
	FUZZ_CHECK(s.n <= n_want);
	for (uint32_t i = 0; i < s.n; i++) {
		FUZZ_CHECK(!strcmp(s.name[i], want_name[i]));
		FUZZ_CHECK(s.e[i].term == want[i].term && s.e[i].index == want[i].index);
		FUZZ_CHECK(s.e[i].type == want[i].type && s.e[i].len == want[i].len);
		FUZZ_CHECK(!memcmp(s.e[i].data, want[i].data, want[i].len));
	}
	keel_free(file);
	simfs_free(fs);
}

/* ---- recovery ------------------------------------------------------------ */

#define N_ST	2
#define MAX_IDX 24
static const char *const st_dirs[N_ST] = {"d", "d/s1"};

struct history {
	uint64_t term[MAX_IDX + 1]; /* term[i] of entry i, nondecreasing */
	uint64_t logged;	    /* the log holds 1..logged */
	uint64_t from, to;	    /* the journal holds from..to (to < from: none) */
};

static uint32_t payload(uint32_t k, uint64_t i, uint64_t t, uint8_t *buf)
{
	uint32_t len = (uint32_t)((i * 37 + k * 11 + t) % 90);
	for (uint32_t b = 0; b < len; b++)
		buf[b] = (uint8_t)(i * 131 + t * 7 + b + k);
	return len;
}

static struct wal_entry entry_of(uint32_t k, uint64_t i, uint64_t t, uint8_t *buf)
{
	return (struct wal_entry){
		.term = t, .index = i, .type = 1, .len = payload(k, i, t, buf), .data = buf};
}

static struct storage *open_st(struct simfs *fs, uint32_t k)
{
	struct storage_options o;
	storage_options_default(&o);
	o.wal.segment_bytes = 4096;
	struct storage *st = NULL;
	struct keel_errmsg err = {{0}};
	FUZZ_CHECK(storage_open(simfs_ops(fs), st_dirs[k], &o, &st, &err) == KEEL_OK);
	return st;
}

/* Storage k's log as recovery left it: a prefix of its history, from its
 * first entry, at least as long as it was; returns its last index. */
static uint64_t check_log(struct simfs *fs, uint32_t k, const struct history *h)
{
	struct storage *st = open_st(fs, k);
	const struct storage_loaded *l = storage_loaded(st);
	uint64_t last = storage_last(st);
	FUZZ_CHECK(last >= h->logged && last <= MAX_IDX && l->n_entries == last);
	for (uint32_t i = 0; i < l->n_entries; i++) {
		const struct wal_entry *e = &l->entries[i];
		uint8_t buf[128];
		FUZZ_CHECK(e->index == i + 1u && e->term == h->term[e->index]);
		struct wal_entry want = entry_of(k, e->index, e->term, buf);
		FUZZ_CHECK(e->type == want.type && e->len == want.len);
		FUZZ_CHECK(!memcmp(e->data, want.data, want.len));
	}
	storage_close(st);
	return last;
}

/* Two storages, each with its hard state and the first `logged` entries
 * of its history, synced. */
static void lay_logs(struct fuzz_in *in, struct simfs *fs, struct history *h)
{
	for (uint32_t k = 0; k < N_ST; k++) {
		uint64_t t = 1 + fuzz_below(in, 3);
		for (uint32_t i = 1; i <= MAX_IDX; i++)
			h[k].term[i] = t += fuzz_below(in, 4) == 0;
		h[k].logged = fuzz_below(in, 9);
		struct storage *st = open_st(fs, k);
		static uint8_t bufs[MAX_IDX][128];
		struct wal_entry e[MAX_IDX];
		for (uint32_t i = 1; i <= h[k].logged; i++)
			e[i - 1] = entry_of(k, i, h[k].term[i], bufs[i - 1]);
		struct storage_batch b = {.hs = true,
					  .term = h[k].term[MAX_IDX],
					  .entries = e,
					  .n_entries = (uint32_t)h[k].logged};
		struct keel_errmsg err = {{0}};
		FUZZ_CHECK(storage_write(st, &b, &err) == KEEL_OK);
		FUZZ_CHECK(storage_sync(st, &err) == KEEL_OK);
		storage_close(st);
	}
}

static int recover(struct simfs *fs, struct journal_replayed *did, struct keel_errmsg *err)
{
	struct storage_options o;
	storage_options_default(&o);
	o.wal.segment_bytes = 4096;
	return journal_recover(simfs_ops(fs), "d", &o, did, err);
}

/* The input is the journal file: every record the scan would reach gets
 * the first one's generation and a checksum that holds, its length cut to
 * the file; what its sections say is the input's. */
static void replay_raw(struct fuzz_in *in, struct simfs *fs, const struct history *h)
{
	size_t n = in->n;
	uint8_t *f = keel_malloc(n ? n : 1);
	memcpy(f, in->p, n);
	uint64_t gen = n >= 16 ? bytes_get_u64(f + 8) : 0;
	for (size_t off = 0; off <= n && n - off >= 24;) {
		uint8_t *r = f + off;
		memcpy(r, "KJR1", 4);
		if (bytes_get_u32(r + 16) > n - off - 24)
			bytes_put_u32(r + 16, (uint32_t)(n - off - 24));
		uint32_t body = bytes_get_u32(r + 16);
		bytes_put_u64(r + 8, gen);
		bytes_put_u32(r + 4, crc32c(0, r + 8, (size_t)16 + body));
		off += ((size_t)24 + body + 7) & ~(size_t)7;
	}
	int fd;
	FUZZ_CHECK(simfs_ops(fs)->open(simfs_ops(fs)->ctx, "d/journal", IO_CREATE, &fd) == KEEL_OK);
	FUZZ_CHECK(simfs_ops(fs)->pwrite(simfs_ops(fs)->ctx, fd, f, n, 0) == KEEL_OK);
	simfs_ops(fs)->close(simfs_ops(fs)->ctx, fd);
	keel_free(f);
	struct journal_replayed did;
	struct keel_errmsg err = {{0}};
	int rc = recover(fs, &did, &err);
	FUZZ_CHECK(rc == KEEL_OK || err.text[0]);
	/* whatever the sections said, the two storages' logs hold only their
	 * own entries where the record's terms agreed: no entry below the
	 * log's end was replaced */
	for (uint32_t k = 0; k < N_ST; k++) {
		struct storage *st = open_st(fs, k);
		const struct storage_loaded *l = storage_loaded(st);
		FUZZ_CHECK(storage_last(st) >= h[k].logged);
		for (uint32_t i = 0; i < h[k].logged; i++)
			FUZZ_CHECK(l->entries[i].index == i + 1u &&
				   l->entries[i].term == h[k].term[i + 1]);
		storage_close(st);
	}
}

/* A journal of a stretch of each history, written through the journal's
 * API in records of sections of both storages, changed as the input
 * says. */
static void replay_built(struct fuzz_in *in, struct simfs *fs, struct history *h)
{
	uint8_t change = fuzz_u8(in) % 4; /* none, a term, a gap, a byte */
	bool refuse = false, gap[N_ST] = {false};
	uint64_t bad_term[N_ST] = {0}, drop[N_ST] = {0};
	for (uint32_t k = 0; k < N_ST; k++) {
		h[k].from = 1 + fuzz_below(in, (uint32_t)h[k].logged + 2); /* up to logged + 2 */
		h[k].to = h[k].from - 1 + fuzz_below(in, 8);
		if (h[k].to > MAX_IDX)
			h[k].to = MAX_IDX;
		if (h[k].from <= h[k].to && h[k].from > h[k].logged + 1)
			gap[k] = true; /* starts past the log's end */
		if (change == 1 && h[k].from <= h[k].logged && h[k].from <= h[k].to) {
			uint64_t to = h[k].to < h[k].logged ? h[k].to : h[k].logged;
			bad_term[k] = h[k].from + fuzz_below(in, (uint32_t)(to - h[k].from + 1));
			refuse = true;
		}
		uint64_t past = h[k].logged + 1 > h[k].from ? h[k].logged + 1 : h[k].from;
		if (change == 2 && past < h[k].to) { /* an entry past the log's end, not the last */
			drop[k] = past + fuzz_below(in, (uint32_t)(h[k].to - past));
			gap[k] = true;
		}
		refuse |= gap[k];
	}
	struct journal *j;
	struct keel_errmsg err = {{0}};
	FUZZ_CHECK(journal_create(simfs_ops(fs), "d", 64 << 10, fuzz_u64(in), &j, &err) == KEEL_OK);
	uint64_t next[N_ST] = {h[0].from, h[1].from};
	while (next[0] <= h[0].to || next[1] <= h[1].to) {
		uint32_t sections = 1 + fuzz_below(in, 3);
		for (uint32_t s = 0; s < sections; s++) {
			uint32_t k = fuzz_below(in, N_ST);
			if (next[k] > h[k].to)
				k = 1 - k;
			static uint8_t bufs[4][128];
			struct wal_entry e[4];
			uint32_t m = 0, want = 1 + fuzz_below(in, 4);
			for (; m < want && next[k] <= h[k].to; next[k]++) {
				if (next[k] == drop[k])
					continue;
				uint64_t t = h[k].term[next[k]] + (next[k] == bad_term[k]);
				e[m] = entry_of(k, next[k], t, bufs[m]);
				m++;
			}
			if (m)
				journal_add(j, st_dirs[k], e, m);
		}
		FUZZ_CHECK(journal_fits(j));
		FUZZ_CHECK(journal_commit(j, &err) == KEEL_OK);
	}
	journal_close(j);
	if (change == 3) {
		uint64_t size = simfs_size(fs, "d/journal");
		uint8_t b;
		uint64_t at = fuzz_u32(in) % (size < 2048 ? size : 2048);
		simfs_peek(fs, "d/journal", at, &b, 1);
		b ^= (uint8_t)(fuzz_u8(in) | 1);
		simfs_poke(fs, "d/journal", at, &b, 1);
	}
	struct journal_replayed did;
	int rc = recover(fs, &did, &err);
	/* a damaged file reads as a prefix of its records: a gap may be cut
	 * off with them */
	if (refuse && (change != 3 || rc)) {
		FUZZ_CHECK(rc == KEEL_ECORRUPT && err.text[0] == 'd');
		FUZZ_CHECK(strstr(err.text, "has term") || strstr(err.text, "goes on at"));
	} else {
		FUZZ_CHECK(rc == KEEL_OK);
		int fd;
		FUZZ_CHECK(simfs_ops(fs)->open(simfs_ops(fs)->ctx, "d/journal", 0, &fd) ==
			   KEEL_ENOENT);
		refuse = false;
	}
	uint64_t appended = 0;
	for (uint32_t k = 0; k < N_ST; k++) {
		uint64_t last = check_log(fs, k, h + k);
		uint64_t whole =
			h[k].from <= h[k].to && h[k].to > h[k].logged ? h[k].to : h[k].logged;
		FUZZ_CHECK(last <= whole);
		if (!refuse && change != 3)
			FUZZ_CHECK(last == whole);
		appended += last - h[k].logged;
	}
	if (!refuse)
		FUZZ_CHECK(did.appended == appended);
}

static void replay_mode(struct fuzz_in *in)
{
	struct simfs *fs = simfs_new();
	struct history h[N_ST];
	memset(h, 0, sizeof h);
	lay_logs(in, fs, h);
	if (fuzz_u8(in) & 1)
		replay_raw(in, fs, h);
	else
		replay_built(in, fs, h);
	simfs_free(fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in) % 3;
	if (mode == 1)
		built(&in);
	else if (mode == 2)
		replay_mode(&in);
	else
		scan_raw(in.p, in.n);
	return 0;
}
