/* tests/fuzz/fuzz_wal.c — recovery of a data folder (src/storage:
 * storage_open over the WAL segments, the hard state and the snapshot
 * files) whose files come from the input, on the simulator's in-memory
 * disk (tests/sim/simfs.c). The input is a list of files, each described
 * by a kind byte: a WAL segment (closed "<first>-<last>" or "open-<seq>",
 * its header and records built with right checksums unless the input asks
 * for a wrong one, its index sequence, terms, types, lengths and tail
 * chosen by the input), the hard state (built or raw), a snapshot (written
 * by snap_write, then bytes flipped) or a file of any name and bytes.
 * Recovery runs with repair off or on. Properties: it ends in a state or a
 * refusal with a reason, never a crash; a recovered log is consecutive
 * and starts right after the snapshot it kept; after one more entry is
 * appended and synced the folder opens again, without repair, to the
 * same state plus that entry. */
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"
#include "resp/buf.h"
#include "sim/simfs.h"
#include "storage/hardstate.h"
#include "storage/storage.h"

#define DIR	  "d"
#define SEG	  4096
#define FILES_MAX 12

static void put_file(struct simfs *fs, const char *name, const uint8_t *p, size_t n)
{
	const struct io_fs *o = simfs_ops(fs);
	char path[IO_PATH_MAX];
	int fd;
	FUZZ_CHECK(io_path(path, DIR, name) == KEEL_OK);
	FUZZ_CHECK(o->open(o->ctx, path, IO_CREATE | IO_TRUNC, &fd) == KEEL_OK);
	if (n)
		FUZZ_CHECK(o->pwrite(o->ctx, fd, p, n, 0) == KEEL_OK);
	FUZZ_CHECK(o->fdatasync(o->ctx, fd) == KEEL_OK);
	o->close(o->ctx, fd);
	FUZZ_CHECK(o->sync_dir(o->ctx, DIR) == KEEL_OK);
}

/* One record: its index follows *next unless the input says otherwise. */
static void record(struct fuzz_in *in, struct rbuf *b, uint64_t *next)
{
	uint8_t flags = fuzz_u8(in);
	uint8_t *h = rbuf_reserve(b, 32 + 64 + 8);
	memset(h, 0, 32 + 64 + 8);
	uint32_t len = fuzz_u8(in) % 64;
	bytes_put_u32(h + 4, flags & 8 ? fuzz_u32(in) : len);
	h[8] = flags & 16 ? 0 : fuzz_u8(in) | 1;
	if (flags & 2)
		h[9] = 1;
	bytes_put_u64(h + 16, fuzz_u8(in));
	uint64_t index = flags & 4 ? fuzz_u8(in) : *next;
	bytes_put_u64(h + 24, index);
	*next = index + 1;
	size_t got;
	const uint8_t *payload = fuzz_bytes(in, len, &got);
	memcpy(h + 32, payload, got);
	bytes_put_u32(h, crc32c(0, h + 4, 28 + len) ^ (flags & 1 ? 0x5a5a : 0));
	b->len += 32 + ((len + 7) & ~7u);
}

static void segment(struct fuzz_in *in, struct simfs *fs)
{
	uint8_t kind = fuzz_u8(in);
	uint64_t first = fuzz_u8(in), next = first;
	char name[64];
	if (kind & 1)
		snprintf(name, sizeof name, "open-%u", kind >> 4);
	else
		snprintf(name, sizeof name, "%020" PRIu64 "-%020" PRIu64, first,
			 first + fuzz_u8(in) % 16);
	struct rbuf b;
	rbuf_init(&b);
	uint8_t *h = rbuf_reserve(&b, 16);
	memcpy(h, "KEELWAL", 8);
	bytes_put_u32(h + 8, kind & 2 ? 2 : 1);
	bytes_put_u32(h + 12, crc32c(0, h, 12) ^ (kind & 4 ? 1 : 0));
	b.len = 16;
	uint32_t n = fuzz_u8(in) % 12;
	for (uint32_t i = 0; i < n; i++)
		record(in, &b, &next);
	size_t tail;
	const uint8_t *t = fuzz_bytes(in, kind & 8 ? fuzz_u8(in) % 48 : 0, &tail);
	rbuf_put(&b, t, tail);
	if (kind & 1 && b.len < SEG) { /* an open segment is preallocated */
		memset(rbuf_reserve(&b, SEG - b.len), 0, SEG - b.len);
		b.len = SEG;
	}
	put_file(fs, name, b.p, b.len);
	rbuf_free(&b);
}

static void hardstate(struct fuzz_in *in, struct simfs *fs)
{
	uint8_t b[28];
	memcpy(b, "KEELHS1", 8);
	bytes_put_u64(b + 8, fuzz_u8(in));
	bytes_put_u64(b + 16, fuzz_u8(in) % 4);
	bytes_put_u32(b + 24, crc32c(0, b, 24));
	size_t n = sizeof b;
	if (fuzz_u8(in) & 1)
		b[fuzz_below(in, sizeof b)] ^= 0x10;
	put_file(fs, HARDSTATE_FILE, b, n);
}

static void snapshot(struct fuzz_in *in, struct simfs *fs)
{
	static struct snap_meta m;
	memset(&m, 0, sizeof m);
	m.index = fuzz_u8(in);
	m.term = fuzz_u8(in);
	size_t n;
	const uint8_t *d = fuzz_bytes(in, fuzz_u8(in) % 64, &n);
	m.size = n;
	m.crc = crc32c(0, d, n);
	m.meta_len = fuzz_u8(in) % 16;
	struct keel_errmsg err;
	FUZZ_CHECK(snap_write(simfs_ops(fs), DIR, &m, d, &err) == KEEL_OK);
	uint8_t flip = fuzz_u8(in);
	if (flip & 1) {
		char name[64], path[IO_PATH_MAX];
		snap_name(name, sizeof name, m.index, m.term);
		FUZZ_CHECK(io_path(path, DIR, name) == KEEL_OK);
		uint64_t at = fuzz_u16(in) % simfs_size(fs, path);
		uint8_t x;
		simfs_peek(fs, path, at, &x, 1);
		x ^= flip;
		simfs_poke(fs, path, at, &x, 1);
	}
}

static void any_file(struct fuzz_in *in, struct simfs *fs)
{
	size_t nlen, n;
	const uint8_t *nm = fuzz_bytes(in, fuzz_u8(in) % 48, &nlen);
	char name[64];
	size_t k = 0;
	for (size_t i = 0; i < nlen; i++)
		if (nm[i] > ' ' && nm[i] <= '~' && nm[i] != '/')
			name[k++] = (char)nm[i];
	name[k] = 0;
	if (!k || !strcmp(name, ".") || !strcmp(name, ".."))
		return;
	const uint8_t *p = fuzz_bytes(in, fuzz_u8(in), &n);
	put_file(fs, name, p, n);
}

static int allow(void *ctx, const struct storage_loaded *l, struct keel_errmsg *why)
{
	(void)ctx;
	(void)l;
	(void)why;
	return KEEL_OK;
}

static int open_dir(struct simfs *fs, bool repair, struct storage **st, struct keel_errmsg *err)
{
	struct storage_options o;
	storage_options_default(&o);
	o.wal.segment_bytes = SEG;
	o.repair = repair;
	o.may_repair = repair ? allow : NULL;
	memset(err, 0, sizeof *err);
	int rc = storage_open(simfs_ops(fs), DIR, &o, st, err);
	FUZZ_CHECK(rc == KEEL_OK || err->text[0] != 0);
	return rc;
}

static void check_loaded(const struct storage_loaded *l)
{
	for (uint32_t i = 1; i < l->n_entries; i++)
		FUZZ_CHECK(l->entries[i].index == l->entries[i - 1].index + 1);
	if (l->has_snap && l->n_entries)
		FUZZ_CHECK(l->entries[0].index == l->snap.index + 1);
	for (uint32_t i = 0; i < l->n_entries; i++)
		FUZZ_CHECK(l->entries[i].type != 0 && l->entries[i].index != 0);
}

/* The recovered state as bytes, to compare two recoveries. */
static void digest(const struct storage_loaded *l, struct rbuf *out)
{
	rbuf_put_u64(out, l->term);
	rbuf_put_u64(out, l->vote);
	rbuf_put_u64(out, l->has_snap ? l->snap.index : 0);
	rbuf_put_u64(out, l->has_snap ? l->snap.term : 0);
	for (uint32_t i = 0; i < l->n_entries; i++) {
		const struct wal_entry *e = &l->entries[i];
		rbuf_put_u64(out, e->index);
		rbuf_put_u64(out, e->term);
		rbuf_put(out, &e->type, 1);
		rbuf_put_u32(out, e->len);
		rbuf_put(out, e->data, e->len);
	}
}

/* Appends one entry after what was recovered, syncs, reopens. */
static void append_reopen(struct simfs *fs, struct storage *st)
{
	const struct storage_loaded *l = storage_loaded(st);
	struct rbuf before, after;
	rbuf_init(&before);
	rbuf_init(&after);
	digest(l, &before);
	uint64_t last = l->n_entries  ? l->entries[l->n_entries - 1].index
			: l->has_snap ? l->snap.index
				      : 0;
	uint64_t had_term = l->term, term = had_term ? had_term : 1;
	struct wal_entry e = {.term = term,
			      .index = last + 1,
			      .type = 2,
			      .len = 3,
			      .data = (const uint8_t *)"new"};
	struct storage_batch b = {
		.hs = true, .term = term, .vote = l->vote, .entries = &e, .n_entries = 1};
	struct keel_errmsg err;
	FUZZ_CHECK(storage_write(st, &b, &err) == KEEL_OK);
	FUZZ_CHECK(storage_sync(st, &err) == KEEL_OK);
	storage_close(st);
	struct storage *again = NULL;
	if (open_dir(fs, false, &again, &err) != KEEL_OK) {
		fprintf(stderr, "reopen after an append: %s\n", err.text);
		FUZZ_CHECK(!"a recovered folder opens again");
	}
	const struct storage_loaded *l2 = storage_loaded(again);
	FUZZ_CHECK(l2->n_entries >= 1);
	struct storage_loaded head = *l2;
	head.n_entries--;
	head.term = l2->term == term && !had_term ? 0 : l2->term;
	digest(&head, &after);
	FUZZ_CHECK(after.len == before.len && !memcmp(after.p, before.p, before.len));
	FUZZ_CHECK(l2->entries[l2->n_entries - 1].index == last + 1);
	storage_close(again);
	rbuf_free(&before);
	rbuf_free(&after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	bool repair = fuzz_u8(&in) & 1;
	struct simfs *fs = simfs_new();
	FUZZ_CHECK(simfs_ops(fs)->mkdir(simfs_ops(fs)->ctx, DIR) == KEEL_OK);
	for (int i = 0; i < FILES_MAX && fuzz_left(&in); i++) {
		switch (fuzz_u8(&in) % 4) {
		case 0:
			segment(&in, fs);
			break;
		case 1:
			hardstate(&in, fs);
			break;
		case 2:
			snapshot(&in, fs);
			break;
		default:
			any_file(&in, fs);
		}
	}
	struct storage *st = NULL;
	struct keel_errmsg err;
	if (open_dir(fs, repair, &st, &err) == KEEL_OK) {
		check_loaded(storage_loaded(st));
		append_reopen(fs, st);
	}
	simfs_free(fs);
	return 0;
}
