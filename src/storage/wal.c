/* storage/wal.c — the segmented write-ahead log of storage/wal.h.
 *
 * FORMAT (all integers little-endian; docs/storage-format.md says the same)
 *
 * Segment files, in the data folder:
 *   open-<seq>          the segment being appended to; <seq> is decimal and
 *                       grows by one per segment ever created
 *   <first>-<last>      a closed segment holding indexes first..last, each a
 *                       20-digit zero-padded decimal
 * A segment is preallocated ahead of its data, a step (prealloc_bytes) at
 * a time up to segment_bytes (what is preallocated reads as zeros): a log that holds
 * little (an idle shard's) takes a step of disk, not a whole segment.
 *
 * Segment header, 16 bytes at offset 0:
 *   0  8  magic "KEELWAL\0"
 *   8  4  version (1)
 *   12 4  crc32c of bytes 0..11
 *
 * Records follow the header back to back, each padded to 8 bytes:
 *   0  4  crc32c of bytes 4 .. 32+len-1 (the rest of the header and payload)
 *   4  4  len, payload bytes (at most WAL_PAYLOAD_MAX)
 *   8  1  type, 1..255 (0 never: a zero header marks the end of the data)
 *   9  7  reserved, zero
 *   16 8  term
 *   24 8  index (each record's is one more than the one before)
 *   32 len payload, then zeros up to a multiple of 8
 *
 * RECOVERY reads the segments in order (closed ones by first index, then
 * open ones by seq) and checks header, checksum and index sequence.
 *   - In the last segment holding data, the data ends at the first zero
 *     header, bad record or end of file. If no valid record lies beyond it,
 *     the rest is a torn tail (a crash during a write that was never
 *     reported durable) and is cut away. If a valid record lies beyond it,
 *     or a later segment holds any valid record (a segment is created only
 *     after the one before it was synced whole), the log is damaged before
 *     its tail: the open fails naming file, offset and the highest index
 *     seen past it (repair discards from there).
 *   - A closed segment must hold exactly its named range (records past it
 *     are left by an interrupted truncation and ignored).
 *   - An open segment that is not the last (its rename was lost) is closed.
 *
 * TRUNCATION of a suffix removes the segments after the one holding the
 * cut (newest first), renames that one if closed (the name is shortened
 * first: a crash leaves records past the name, which are ignored), cuts
 * the file at the record, and syncs file and folder before returning.
 * PURGE removes whole closed segments, oldest first; the log stays a
 * contiguous range whatever point a crash interrupts it at. */
#include "storage/wal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"

#define SEG_HDR 16
#define PREALLOC_STEP (1u << 20) /* prealloc_bytes 0 */
#define REC_HDR 32
#define WAL_VERSION 1
static const uint8_t seg_magic[8] = {'K', 'E', 'E', 'L', 'W', 'A', 'L', 0};

/* Where the data ends, as recovery found it. */
struct data_end {
	uint32_t seg;  /* n_segs: it runs to the end of the last segment */
	uint64_t off;  /* offset in that segment */
	bool dirty;    /* bytes past off that are not zero (to be cut) */
};

struct seg {
	char name[48];
	bool open;
	uint64_t seq;      /* open segments */
	uint64_t first;    /* index of offs[0] */
	uint64_t *offs;    /* offs[i]: offset of record first + i */
	uint32_t n, cap;
	uint64_t end;      /* bytes in use: header and records */
	const uint8_t *scan; /* the file as recovery mapped it, until wal_drop_scan */
	uint64_t scan_len;
};

struct wal {
	const struct io_fs *fs;
	char dir[IO_PATH_MAX];
	struct wal_options o;
	struct seg *segs;
	uint32_t n_segs, cap_segs;
	int fd;            /* the last segment, when it is open; -1 otherwise */
	uint64_t next_seq;
	uint64_t first, last;
	uint8_t *buf;      /* encoded records not yet written, at buf_off */
	size_t buf_len, buf_cap;
	uint64_t buf_off;
	uint64_t alloc; /* the open segment's bytes preallocated (0: not known) */
	bool need_fsync, need_dirsync;
	bool repair_pending; /* damage found; the disk is untouched until wal_repair */
	struct data_end end;
};

uint64_t wal_record_bytes(uint32_t len)
{
	return (REC_HDR + (uint64_t)len + 7) & ~(uint64_t)7;
}

/* ---- segments ------------------------------------------------------------ */

/* How far a segment whose data reaches `end` is preallocated: to the
 * next step, never past segment_bytes unless its data is (a record larger
 * than a segment). */
static uint64_t prealloc_to(const struct wal *w, uint64_t end)
{
	uint64_t step = w->o.prealloc_bytes ? w->o.prealloc_bytes : PREALLOC_STEP;
	uint64_t to = end / step * step + step;
	if (to > w->o.segment_bytes)
		to = w->o.segment_bytes;
	return to > end ? to : end; /* a record larger than a segment: as it is */
}

static void seg_unmap(struct wal *w, struct seg *s)
{
	if (s->scan)
		w->fs->unmap(w->fs->ctx, s->scan, s->scan_len);
	s->scan = NULL;
}

static void seg_free(struct wal *w, struct seg *s)
{
	seg_unmap(w, s);
	keel_free(s->offs);
	memset(s, 0, sizeof *s);
}

static uint64_t seg_last(const struct seg *s)
{
	return s->first + s->n - 1; /* only when n > 0 */
}

static void seg_push_off(struct seg *s, uint64_t off)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->offs = keel_realloc(s->offs, s->cap * sizeof *s->offs);
	}
	s->offs[s->n++] = off;
}

static struct seg *segs_push(struct wal *w)
{
	if (w->n_segs == w->cap_segs) {
		w->cap_segs = w->cap_segs ? w->cap_segs * 2 : 16;
		w->segs = keel_realloc(w->segs, w->cap_segs * sizeof *w->segs);
	}
	struct seg *s = &w->segs[w->n_segs++];
	memset(s, 0, sizeof *s);
	return s;
}

static void segs_remove(struct wal *w, uint32_t i)
{
	seg_free(w, &w->segs[i]);
	memmove(&w->segs[i], &w->segs[i + 1], (w->n_segs - i - 1) * sizeof *w->segs);
	w->n_segs--;
}

static int io_fail(struct keel_errmsg *err, int rc, const char *what, const char *file)
{
	keel_errmsg_set(err, "%s %s: %s", what, file, keel_err_str(rc));
	return rc;
}

static int seg_path(const struct wal *w, const char *name, char *path, struct keel_errmsg *err)
{
	int rc = io_path(path, w->dir, name);
	if (rc)
		keel_errmsg_set(err, "path too long: %s/%s", w->dir, name);
	return rc;
}

static void closed_name(char *out, uint64_t first, uint64_t last)
{
	snprintf(out, 48, "%020" PRIu64 "-%020" PRIu64, first, last);
}

static bool parse_closed(const char *name, uint64_t *first, uint64_t *last)
{
	if (strlen(name) != 41 || name[20] != '-')
		return false;
	for (int i = 0; i < 41; i++)
		if (i != 20 && (name[i] < '0' || name[i] > '9'))
			return false;
	*first = strtoull(name, NULL, 10);
	*last = strtoull(name + 21, NULL, 10);
	return *first >= 1 && *last >= *first;
}

static bool parse_open(const char *name, uint64_t *seq)
{
	if (strncmp(name, "open-", 5) != 0 || !name[5] || strlen(name) > 25)
		return false;
	for (const char *p = name + 5; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	*seq = strtoull(name + 5, NULL, 10);
	return true;
}

/* ---- record codec -------------------------------------------------------- */

static void rec_encode(uint8_t *p, const struct wal_entry *e)
{
	uint64_t size = wal_record_bytes(e->len);
	memset(p, 0, size);
	bytes_put_u32(p + 4, e->len);
	p[8] = e->type;
	bytes_put_u64(p + 16, e->term);
	bytes_put_u64(p + 24, e->index);
	if (e->len)
		memcpy(p + REC_HDR, e->data, e->len);
	bytes_put_u32(p, crc32c(0, p + 4, REC_HDR - 4 + e->len));
}

/* The record at off, whose bytes were checked when the log was opened. */
static bool rec_parse(const uint8_t *buf, uint64_t off, struct wal_entry *e)
{
	const uint8_t *p = buf + off;
	e->len = bytes_get_u32(p + 4);
	e->type = p[8];
	e->term = bytes_get_u64(p + 16);
	e->index = bytes_get_u64(p + 24);
	e->data = p + REC_HDR;
	return true;
}

/* A record at off in buf[0..size) that passes every check; fills *e. */
static bool rec_valid(const uint8_t *buf, uint64_t size, uint64_t off, struct wal_entry *e)
{
	if (off + REC_HDR > size)
		return false;
	const uint8_t *p = buf + off;
	if (p[8] == 0)
		return false;
	for (int i = 9; i < 16; i++)
		if (p[i])
			return false;
	uint32_t len = bytes_get_u32(p + 4);
	if (len > WAL_PAYLOAD_MAX || off + wal_record_bytes(len) > size)
		return false;
	if (bytes_get_u32(p) != crc32c(0, p + 4, REC_HDR - 4 + len))
		return false;
	e->len = len;
	e->type = p[8];
	e->term = bytes_get_u64(p + 16);
	e->index = bytes_get_u64(p + 24);
	e->data = p + REC_HDR;
	return e->index != 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void seg_header(uint8_t *h)
{
	memcpy(h, seg_magic, 8);
	bytes_put_u32(h + 8, WAL_VERSION);
	bytes_put_u32(h + 12, crc32c(0, h, 12));
}

static bool seg_header_ok(const uint8_t *h, uint64_t size)
{
	uint8_t want[SEG_HDR];
	seg_header(want);
	return size >= SEG_HDR && memcmp(h, want, SEG_HDR) == 0;
}

/* ---- recovery ------------------------------------------------------------ */

struct scan { /* one segment as found on disk */
	const uint8_t *data;
	uint64_t size;
	uint64_t stop;     /* where valid data ended */
	bool bad_header;
	bool tail_valid;   /* a valid record lies past stop */
	uint64_t tail_last; /* the highest index of a valid record past stop */
	bool stale;        /* stop is at a valid record out of sequence */
};

/* Maps the whole file (nothing for an empty one). */
static int read_file(struct wal *w, const char *name, struct scan *sc, struct keel_errmsg *err)
{
	char path[IO_PATH_MAX];
	int fd, rc = seg_path(w, name, path, err);
	if (rc)
		return rc;
	if ((rc = w->fs->open(w->fs->ctx, path, 0, &fd)))
		return io_fail(err, rc, "open", path);
	rc = w->fs->size(w->fs->ctx, fd, &sc->size);
	if (!rc && sc->size)
		rc = w->fs->map(w->fs->ctx, fd, sc->size, IO_MAP_POPULATE, &sc->data);
	w->fs->close(w->fs->ctx, fd);
	return rc ? io_fail(err, rc, "read", path) : KEEL_OK;
}

/* Parses records from the header on; *expect is the index the next record
 * must carry (0: any), and is advanced. A closed segment stops at its
 * named last index. */
static void scan_records(struct seg *s, struct scan *sc, uint64_t *expect, uint64_t name_last)
{
	uint64_t off = SEG_HDR;
	struct wal_entry e;
	if (!seg_header_ok(sc->data, sc->size)) {
		uint64_t h = sc->size < SEG_HDR ? sc->size : SEG_HDR;
		sc->bad_header = !all_zero(sc->data, h);
		off = 0;
	}
	while (off && !(name_last && s->n && seg_last(s) == name_last) &&
	       rec_valid(sc->data, sc->size, off, &e)) {
		if (*expect && e.index != *expect) {
			sc->stale = true;
			break;
		}
		if (!s->n)
			s->first = e.index;
		seg_push_off(s, off);
		*expect = e.index + 1;
		off += wal_record_bytes(e.len);
	}
	sc->stop = off;
	if (name_last && s->n && seg_last(s) == name_last)
		return; /* complete; anything after is ignored */
	for (uint64_t o = off ? off + 8 : SEG_HDR; o + REC_HDR <= sc->size;) {
		if (!rec_valid(sc->data, sc->size, o, &e)) {
			o += 8;
			continue;
		}
		sc->tail_valid = true;
		if (e.index > sc->tail_last)
			sc->tail_last = e.index;
		o += wal_record_bytes(e.len);
	}
}

static int cmp_segs(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	if (x->open != y->open)
		return x->open ? 1 : -1;
	uint64_t kx = x->open ? x->seq : x->first, ky = y->open ? y->seq : y->first;
	return kx < ky ? -1 : kx > ky;
}

/* Lists the segment files, sorted: closed by first index, then open. */
static int list_segments(struct wal *w, struct keel_errmsg *err)
{
	char **names;
	uint32_t n;
	int rc = w->fs->list(w->fs->ctx, w->dir, &names, &n);
	if (rc)
		return io_fail(err, rc, "list", w->dir);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a, b;
		struct seg *s;
		if (parse_closed(names[i], &a, &b)) {
			s = segs_push(w);
			s->first = a;
			s->seq = b; /* the named last, until scanned */
		} else if (parse_open(names[i], &a)) {
			s = segs_push(w);
			s->open = true;
			s->seq = a;
			if (a >= w->next_seq)
				w->next_seq = a + 1;
		} else {
			continue;
		}
		snprintf(s->name, sizeof s->name, "%s", names[i]);
	}
	io_names_free(names, n);
	if (w->n_segs)
		qsort(w->segs, w->n_segs, sizeof *w->segs, cmp_segs);
	return KEEL_OK;
}

static void damage_at(struct wal_damage *d, const struct seg *s, uint64_t off, uint64_t first_bad)
{
	d->found = true;
	snprintf(d->file, sizeof d->file, "%s", s->name);
	d->offset = off;
	d->first_bad = first_bad ? first_bad : 1;
	d->last_seen = d->first_bad - 1;
}

/* Scans every segment, filling the segment table and *end; fills *d if the
 * end is damage rather than a torn tail. */
static int scan_all(struct wal *w, struct wal_damage *d, struct data_end *end,
		    struct keel_errmsg *err)
{
	uint64_t expect = 0;
	end->seg = w->n_segs;
	for (uint32_t i = 0; i < w->n_segs; i++) {
		struct seg *s = &w->segs[i];
		struct scan sc = {0};
		uint64_t name_first = s->open ? 0 : s->first, name_last = s->open ? 0 : s->seq;
		int rc = read_file(w, s->name, &sc, err);
		s->scan = sc.data; /* kept: recovery loads entries from it */
		s->scan_len = sc.size;
		if (rc)
			return rc;
		s->first = 0;
		uint64_t want = expect ? expect : name_first;
		/* past the end of the data any record counts, whatever its index:
		 * a segment is created only after the one before it is synced
		 * whole, so a record there means the end was damage, not a torn
		 * tail (an interrupted truncation leaves nothing past its cut) */
		uint64_t next = end->seg < w->n_segs ? 0 : want;
		scan_records(s, &sc, &next, name_last);
		s->end = sc.stop;
		uint64_t seen = s->n ? seg_last(s) : 0;
		if (sc.tail_last > seen)
			seen = sc.tail_last;
		bool zero_tail =
			sc.stop >= sc.size || all_zero(sc.data + sc.stop, sc.size - sc.stop);
		if (end->seg < w->n_segs) {
			if (seen && !d->found)
				damage_at(d, &w->segs[end->seg], end->off, expect);
			if (seen > d->last_seen)
				d->last_seen = seen;
			continue;
		}
		bool gap = (want && s->n && s->first != want) ||
			   (!s->open && expect && name_first != expect);
		bool short_closed = !s->open && (!s->n || seg_last(s) != name_last);
		if (gap) {
			s->n = 0;
			s->end = SEG_HDR;
		}
		if (gap || short_closed || sc.stale || sc.tail_valid) {
			damage_at(d, s, s->end, s->n ? seg_last(s) + 1 : want);
			if (seen > d->last_seen)
				d->last_seen = seen;
			*end = (struct data_end){i, s->end, true};
			continue;
		}
		if (s->n)
			expect = seg_last(s) + 1;
		if (s->open && (sc.stop < sc.size || sc.bad_header))
			*end = (struct data_end){i, sc.stop, !zero_tail};
	}
	for (uint32_t i = end->seg + 1; i < w->n_segs; i++)
		w->segs[i].n = 0; /* past the end: not part of the log */
	for (uint32_t i = 0; i < w->n_segs; i++)
		if (!w->segs[i].n)
			seg_unmap(w, &w->segs[i]);
	return KEEL_OK;
}

static int dir_sync(struct wal *w, struct keel_errmsg *err)
{
	int rc = w->fs->sync_dir(w->fs->ctx, w->dir);
	if (rc)
		return io_fail(err, rc, "fsync folder", w->dir);
	w->need_dirsync = false;
	return KEEL_OK;
}

static int seg_unlink(struct wal *w, uint32_t i, struct keel_errmsg *err)
{
	char path[IO_PATH_MAX];
	int rc = seg_path(w, w->segs[i].name, path, err);
	if (!rc && (rc = w->fs->unlink(w->fs->ctx, path)))
		return io_fail(err, rc, "unlink", path);
	if (!rc) {
		segs_remove(w, i);
		w->need_dirsync = true;
	}
	return rc;
}

/* Cuts segment i at off (its records from n on are gone), keeping the
 * preallocation of an open segment; syncs the file. */
static int seg_cut(struct wal *w, uint32_t i, uint32_t n, uint64_t off, struct keel_errmsg *err)
{
	struct seg *s = &w->segs[i];
	char path[IO_PATH_MAX];
	int fd, rc = seg_path(w, s->name, path, err);
	if (rc)
		return rc;
	if ((rc = w->fs->open(w->fs->ctx, path, 0, &fd)))
		return io_fail(err, rc, "open", path);
	rc = w->fs->ftruncate(w->fs->ctx, fd, off);
	if (!rc && s->open && off < w->o.segment_bytes)
		rc = w->fs->fallocate(w->fs->ctx, fd, prealloc_to(w, off));
	w->alloc = 0; /* the open segment's, if this is it: the next flush sees */
	if (!rc)
		rc = w->fs->fdatasync(w->fs->ctx, fd);
	w->fs->close(w->fs->ctx, fd);
	if (rc)
		return io_fail(err, rc, "cut", path);
	s->n = n;
	s->end = off;
	return KEEL_OK;
}

/* Gives segment i the closed name of its range (always another name: an
 * open segment, or a closed one whose range was shortened). */
static int seg_rename_closed(struct wal *w, uint32_t i, struct keel_errmsg *err)
{
	struct seg *s = &w->segs[i];
	char name[48], from[IO_PATH_MAX], to[IO_PATH_MAX];
	closed_name(name, s->first, seg_last(s));
	int rc = seg_path(w, s->name, from, err);
	if (!rc)
		rc = seg_path(w, name, to, err);
	if (rc)
		return rc;
	if ((rc = w->fs->rename(w->fs->ctx, from, to)))
		return io_fail(err, rc, "rename", from);
	snprintf(s->name, sizeof s->name, "%s", name);
	s->open = false;
	w->need_dirsync = true;
	return KEEL_OK;
}

/* Makes the disk match what recovery kept: segments past the end of the
 * data go (newest first), the segment where it ends is cut there if
 * anything but zeros follows, empty segments go, and open segments that
 * are not the last get their closed names. */
static int settle(struct wal *w, const struct data_end *end, struct keel_errmsg *err)
{
	int rc = KEEL_OK;
	for (uint32_t i = w->n_segs; !rc && end->seg < w->n_segs && i-- > end->seg + 1;)
		rc = seg_unlink(w, i, err);
	if (!rc && end->seg < w->n_segs && end->dirty && w->segs[end->seg].n) {
		if (!w->segs[end->seg].open)
			rc = seg_rename_closed(w, end->seg, err);
		if (!rc && !w->segs[end->seg].open)
			rc = dir_sync(w, err);
		if (!rc)
			rc = seg_cut(w, end->seg, w->segs[end->seg].n, end->off, err);
	}
	for (uint32_t i = w->n_segs; !rc && i-- > 0;)
		if (!w->segs[i].n)
			rc = seg_unlink(w, i, err);
	for (uint32_t i = 0; !rc && i + 1 < w->n_segs; i++)
		if (w->segs[i].open)
			rc = seg_rename_closed(w, i, err);
	if (!rc && w->need_dirsync)
		rc = dir_sync(w, err);
	return rc;
}

static int open_active(struct wal *w, struct keel_errmsg *err)
{
	w->fd = -1;
	if (!w->n_segs || !w->segs[w->n_segs - 1].open)
		return KEEL_OK;
	struct seg *s = &w->segs[w->n_segs - 1];
	char path[IO_PATH_MAX];
	int rc = seg_path(w, s->name, path, err);
	if (!rc && (rc = w->fs->open(w->fs->ctx, path, 0, &w->fd)))
		return io_fail(err, rc, "open", path);
	w->buf_off = s->end;
	w->alloc = 0;
	return rc;
}

static void wal_bounds(struct wal *w)
{
	for (uint32_t i = 0; i < w->n_segs; i++) {
		if (!w->segs[i].n)
			continue;
		if (w->last < w->first)
			w->first = w->segs[i].first;
		w->last = seg_last(&w->segs[i]);
	}
}

int wal_open(const struct io_fs *fs, const char *dir, const struct wal_options *o, bool repair,
	     struct wal **out, struct wal_damage *dmg, struct keel_errmsg *err)
{
	struct wal *w = keel_calloc(1, sizeof *w);
	w->fs = fs;
	w->o = *o;
	w->fd = -1;
	w->next_seq = 1;
	w->first = 1;
	w->last = 0;
	memset(dmg, 0, sizeof *dmg);
	snprintf(w->dir, sizeof w->dir, "%s", dir);
	int rc = fs->mkdir(fs->ctx, dir);
	if (rc) {
		io_fail(err, rc, "mkdir", dir);
		goto fail;
	}
	if ((rc = list_segments(w, err)) || (rc = scan_all(w, dmg, &w->end, err)))
		goto fail;
	if (dmg->found && !repair) {
		keel_errmsg_set(err,
				"log damaged before its tail: %s/%s at offset %" PRIu64
				" (index %" PRIu64 "; entries up to %" PRIu64
				" were seen after it); repair discards them",
				dir, dmg->file, dmg->offset, dmg->first_bad, dmg->last_seen);
		rc = KEEL_ECORRUPT;
		goto fail;
	}
	wal_bounds(w);
	if (dmg->found) {
		w->repair_pending = true; /* nothing changes on disk until wal_repair */
	} else if ((rc = settle(w, &w->end, err)) || (rc = open_active(w, err))) {
		goto fail;
	}
	*out = w;
	return KEEL_OK;
fail:
	wal_close(w);
	return rc;
}

int wal_repair(struct wal *w, struct keel_errmsg *err)
{
	if (!w->repair_pending)
		return KEEL_OK;
	int rc = settle(w, &w->end, err);
	if (!rc)
		rc = open_active(w, err);
	if (!rc)
		w->repair_pending = false;
	return rc;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		w->fs->close(w->fs->ctx, w->fd);
	for (uint32_t i = 0; i < w->n_segs; i++)
		seg_free(w, &w->segs[i]);
	keel_free(w->segs);
	keel_free(w->buf);
	keel_free(w);
}

uint64_t wal_first(const struct wal *w)
{
	return w->first;
}

uint64_t wal_last(const struct wal *w)
{
	return w->last;
}

/* The segment holding index, or -1. */
static int32_t seg_of(const struct wal *w, uint64_t index)
{
	for (uint32_t i = w->n_segs; i-- > 0;) {
		const struct seg *s = &w->segs[i];
		if (s->n && index >= s->first && index <= seg_last(s))
			return (int32_t)i;
	}
	return -1;
}

/* ---- appending ----------------------------------------------------------- */

/* Creates open-<seq>, preallocated, with its header written. */
static int seg_create(struct wal *w, struct keel_errmsg *err)
{
	struct seg *s = segs_push(w);
	s->open = true;
	s->seq = w->next_seq++;
	snprintf(s->name, sizeof s->name, "open-%" PRIu64, s->seq);
	char path[IO_PATH_MAX];
	uint8_t h[SEG_HDR];
	seg_header(h);
	int rc = seg_path(w, s->name, path, err);
	if (rc)
		goto fail;
	if ((rc = w->fs->open(w->fs->ctx, path, IO_CREATE | IO_TRUNC, &w->fd))) {
		io_fail(err, rc, "create", path);
		goto fail;
	}
	w->need_dirsync = true;
	w->alloc = prealloc_to(w, SEG_HDR);
	if ((rc = w->fs->fallocate(w->fs->ctx, w->fd, w->alloc)) ||
	    (rc = w->fs->pwrite(w->fs->ctx, w->fd, h, SEG_HDR, 0))) {
		io_fail(err, rc, "preallocate", path);
		w->fs->close(w->fs->ctx, w->fd);
		w->fd = -1;
		w->fs->unlink(w->fs->ctx, path); /* best effort: it holds nothing */
		goto fail;
	}
	s->end = SEG_HDR;
	w->buf_off = SEG_HDR;
	w->need_fsync = true;
	return KEEL_OK;
fail:
	segs_remove(w, w->n_segs - 1);
	return rc;
}

int wal_flush(struct wal *w, struct keel_errmsg *err)
{
	if (!w->buf_len)
		return KEEL_OK;
	KEEL_ASSERT(w->fd >= 0);
	uint64_t end = w->buf_off + w->buf_len;
	int rc;
	if (end > w->alloc) {
		uint64_t to = prealloc_to(w, end);
		if ((rc = w->fs->fallocate(w->fs->ctx, w->fd, to)))
			return io_fail(err, rc, "preallocate", w->segs[w->n_segs - 1].name);
		w->alloc = to;
	}
	rc = w->fs->pwrite(w->fs->ctx, w->fd, w->buf, w->buf_len, w->buf_off);
	if (rc)
		return io_fail(err, rc, "write", w->segs[w->n_segs - 1].name);
	w->buf_off += w->buf_len;
	w->buf_len = 0;
	w->need_fsync = true;
	return KEEL_OK;
}

/* Finishes the open segment: data durable, then the closed name. */
static int seg_finish(struct wal *w, struct keel_errmsg *err)
{
	struct seg *s = &w->segs[w->n_segs - 1];
	int rc = wal_flush(w, err);
	if (rc)
		return rc;
	if ((rc = w->fs->ftruncate(w->fs->ctx, w->fd, s->end)) ||
	    (rc = w->fs->fdatasync(w->fs->ctx, w->fd)))
		return io_fail(err, rc, "sync", s->name);
	w->fs->close(w->fs->ctx, w->fd);
	w->fd = -1;
	w->need_fsync = false;
	return seg_rename_closed(w, w->n_segs - 1, err);
}

static void buf_reserve(struct wal *w, size_t more)
{
	if (w->buf_len + more <= w->buf_cap)
		return;
	size_t cap = w->buf_cap ? w->buf_cap : 4096;
	while (cap < w->buf_len + more)
		cap *= 2;
	w->buf = keel_realloc(w->buf, cap);
	w->buf_cap = cap;
}

int wal_append(struct wal *w, const struct wal_entry *e, uint32_t n, struct keel_errmsg *err)
{
	if (w->repair_pending) {
		keel_errmsg_set(err, "log awaits repair");
		return KEEL_EINVAL;
	}
	for (uint32_t i = 0; i < n; i++) {
		bool empty = w->last < w->first;
		if (!empty && e[i].index != w->last + 1) {
			keel_errmsg_set(err, "append of index %" PRIu64 " after %" PRIu64,
					e[i].index, w->last);
			return KEEL_EINVAL;
		}
		if (e[i].len > WAL_PAYLOAD_MAX || e[i].type == 0 || e[i].index == 0) {
			keel_errmsg_set(err, "entry %" PRIu64 " cannot be stored", e[i].index);
			return KEEL_ETOOBIG;
		}
		uint64_t size = wal_record_bytes(e[i].len);
		struct seg *s = w->fd >= 0 ? &w->segs[w->n_segs - 1] : NULL;
		int rc;
		if (s && s->n && s->end + size > w->o.segment_bytes && (rc = seg_finish(w, err)))
			return rc;
		if (w->fd < 0 && (rc = seg_create(w, err)))
			return rc;
		s = &w->segs[w->n_segs - 1];
		buf_reserve(w, size);
		rec_encode(w->buf + w->buf_len, &e[i]);
		w->buf_len += size;
		if (!s->n)
			s->first = e[i].index;
		seg_push_off(s, s->end);
		s->end += size;
		if (empty)
			w->first = e[i].index;
		w->last = e[i].index;
	}
	return KEEL_OK;
}

int wal_sync(struct wal *w, struct keel_errmsg *err)
{
	int rc = wal_flush(w, err);
	if (rc)
		return rc;
	if (w->need_fsync && w->fd >= 0) {
		if ((rc = w->fs->fdatasync(w->fs->ctx, w->fd)))
			return io_fail(err, rc, "fdatasync", w->segs[w->n_segs - 1].name);
	}
	w->need_fsync = false;
	return w->need_dirsync ? dir_sync(w, err) : KEEL_OK;
}

/* ---- truncation and purge ------------------------------------------------ */

int wal_truncate(struct wal *w, uint64_t from, struct keel_errmsg *err)
{
	if (w->last < w->first || from > w->last)
		return KEEL_OK;
	int rc = wal_flush(w, err);
	if (rc)
		return rc;
	if (from <= w->first)
		from = w->first;
	int32_t k = seg_of(w, from);
	KEEL_ASSERT(k >= 0);
	if (w->fd >= 0 && (uint32_t)k != w->n_segs - 1) {
		w->fs->close(w->fs->ctx, w->fd);
		w->fd = -1;
	}
	for (uint32_t i = w->n_segs; i-- > (uint32_t)k + 1;)
		if ((rc = seg_unlink(w, i, err)))
			return rc;
	struct seg *s = &w->segs[k];
	if (from == s->first) {
		if (w->fd >= 0) {
			w->fs->close(w->fs->ctx, w->fd);
			w->fd = -1;
		}
		if ((rc = seg_unlink(w, (uint32_t)k, err)))
			return rc;
	} else {
		uint32_t n = (uint32_t)(from - s->first);
		uint64_t off = s->offs[n];
		s->n = n;
		if (!s->open && (rc = seg_rename_closed(w, (uint32_t)k, err)))
			return rc;
		if (!s->open && (rc = dir_sync(w, err)))
			return rc;
		if ((rc = seg_cut(w, (uint32_t)k, n, off, err)))
			return rc;
		if (s->open)
			w->buf_off = off;
	}
	if ((rc = dir_sync(w, err)))
		return rc;
	w->last = from - 1;
	if (w->last < w->first)
		w->first = from;
	return KEEL_OK;
}

int wal_purge(struct wal *w, uint64_t below, struct keel_errmsg *err)
{
	int rc;
	if (below > w->last) {
		/* Nothing left to keep: every segment goes, the open one too. */
		w->buf_len = 0;
		if (w->fd >= 0) {
			w->fs->close(w->fs->ctx, w->fd);
			w->fd = -1;
		}
		while (w->n_segs)
			if ((rc = seg_unlink(w, 0, err)))
				return rc;
		w->first = below;
		w->last = below - 1;
		return KEEL_OK;
	}
	while (w->n_segs > 1 && !w->segs[0].open && w->segs[0].n &&
	       seg_last(&w->segs[0]) < below)
		if ((rc = seg_unlink(w, 0, err)))
			return rc;
	if (w->n_segs && w->segs[0].n)
		w->first = w->segs[0].first;
	return KEEL_OK;
}

/* ---- reading ------------------------------------------------------------- */

int wal_scanned(struct wal *w, uint64_t from, struct wal_entry **out, uint32_t *n)
{
	*out = NULL;
	*n = 0;
	if (w->last < w->first || from > w->last)
		return KEEL_OK;
	if (from < w->first)
		return KEEL_ENOENT;
	uint64_t count = w->last - from + 1;
	struct wal_entry *v = keel_calloc(count, sizeof *v);
	for (uint64_t i = from; i <= w->last;) {
		struct seg *s = &w->segs[seg_of(w, i)];
		if (!s->scan) {
			keel_free(v);
			return KEEL_ENOENT; /* written since the open */
		}
		for (; i <= seg_last(s); i++)
			rec_parse(s->scan, s->offs[i - s->first], &v[i - from]);
	}
	*out = v;
	*n = (uint32_t)count;
	return KEEL_OK;
}

void wal_drop_scan(struct wal *w)
{
	for (uint32_t i = 0; i < w->n_segs; i++)
		seg_unmap(w, &w->segs[i]);
}

int wal_read(struct wal *w, uint64_t from, uint64_t to, struct wal_entry **out, uint8_t **mem,
	     struct keel_errmsg *err)
{
	*out = NULL;
	*mem = NULL;
	if (from > to)
		return KEEL_OK;
	if (from < w->first || to > w->last) {
		keel_errmsg_set(err, "read of %" PRIu64 "..%" PRIu64 " outside %" PRIu64
				"..%" PRIu64, from, to, w->first, w->last);
		return KEEL_ENOENT;
	}
	int rc = wal_flush(w, err);
	if (rc)
		return rc;
	/* the byte range of [from, to] in each segment, summed: one buffer */
	uint64_t n = to - from + 1, total = 0;
	for (uint64_t i = from; i <= to;) {
		const struct seg *s = &w->segs[seg_of(w, i)];
		uint64_t hi = seg_last(s) < to ? seg_last(s) : to;
		uint64_t b = hi == seg_last(s) ? s->end : s->offs[hi + 1 - s->first];
		total += b - s->offs[i - s->first];
		i = hi + 1;
	}
	struct wal_entry *v = keel_calloc(n, sizeof *v);
	uint8_t *m = keel_malloc(total ? total : 1);
	uint64_t at = 0, i = from;
	while (i <= to && !rc) {
		struct seg *s = &w->segs[seg_of(w, i)];
		uint64_t hi = seg_last(s) < to ? seg_last(s) : to;
		uint64_t a = s->offs[i - s->first];
		uint64_t b = hi == seg_last(s) ? s->end : s->offs[hi + 1 - s->first];
		char path[IO_PATH_MAX];
		int fd;
		if ((rc = seg_path(w, s->name, path, err)))
			break;
		if ((rc = w->fs->open(w->fs->ctx, path, 0, &fd))) {
			io_fail(err, rc, "open", path);
			break;
		}
		rc = io_read_exact(w->fs, fd, m + at, b - a, a);
		w->fs->close(w->fs->ctx, fd);
		if (rc) {
			io_fail(err, rc, "read", path);
			break;
		}
		for (uint64_t off = 0; i <= hi; i++) {
			struct wal_entry *e = &v[i - from];
			if (!rec_valid(m + at, b - a, off, e) || e->index != i) {
				keel_errmsg_set(err, "%s: bad record at offset %" PRIu64, s->name,
						a + off);
				rc = KEEL_ECORRUPT;
				break;
			}
			off += wal_record_bytes(e->len);
		}
		at += b - a;
	}
	if (rc) {
		keel_free(v);
		keel_free(m);
		return rc;
	}
	*out = v;
	*mem = m;
	return KEEL_OK;
}
