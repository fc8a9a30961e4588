/* storage/journal.c — the node's journal of storage/journal.h: a record a
 * pass, one fdatasync each; checkpoints; recovery into the storages. */
#include "storage/journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/mem.h"

#define REC_HDR	  24
#define SEC_HDR	  6  /* u16 name length, u32 n */
#define ENT_HDR	  21 /* u64 term, u64 index, u8 type, u32 length */
#define NAME_MAX_ 255

static const uint8_t magic[4] = {'K', 'J', 'R', '1'};

struct journal {
	const struct io_fs *fs;
	char dir[IO_PATH_MAX];
	char path[IO_PATH_MAX];
	int fd;
	uint64_t bytes; /* the file's size */
	uint64_t gen;
	uint64_t off; /* where the next record goes */
	/* the record being built: its header's room first */
	uint8_t *rec;
	size_t len, cap;
	uint32_t sections;
};

static uint64_t pad8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

static void reserve(struct journal *j, size_t more)
{
	if (j->len + more <= j->cap)
		return;
	size_t cap = j->cap ? j->cap : 4096;
	while (cap < j->len + more)
		cap *= 2;
	j->rec = keel_realloc(j->rec, cap);
	j->cap = cap;
}

static int io_fail(struct keel_errmsg *err, int rc, const char *what, const char *path)
{
	keel_errmsg_set(err, "%s %s: %s", what, path, keel_err_str(rc));
	return rc;
}

/* ---- scanning -------------------------------------------------------------- */

int64_t journal_scan(const uint8_t *p, uint64_t len,
		     int (*each)(void *ctx, const char *name, const struct wal_entry *e), void *ctx,
		     struct keel_errmsg *err)
{
	uint64_t off = 0, gen = 0;
	int64_t records = 0;
	while (len - off >= REC_HDR) {
		const uint8_t *h = p + off;
		if (memcmp(h, magic, 4) != 0)
			break;
		uint64_t g = bytes_get_u64(h + 8);
		uint32_t body = bytes_get_u32(h + 16);
		if ((records && g != gen) || body > len - off - REC_HDR ||
		    crc32c(0, h + 8, (size_t)REC_HDR - 8 + body) != bytes_get_u32(h + 4))
			break;
		gen = g;
		/* a record whose checksum holds was written whole by this code:
		 * anything malformed in it is damage, not a torn tail */
		uint32_t sections = bytes_get_u32(h + 20);
		const uint8_t *q = h + REC_HDR, *end = q + body;
		for (uint32_t s = 0; s < sections; s++) {
			char name[NAME_MAX_ + 1];
			if (end - q < SEC_HDR)
				goto bad;
			uint16_t nl = bytes_get_u16(q);
			uint32_t n = bytes_get_u32(q + 2);
			q += SEC_HDR;
			if (nl == 0 || nl > NAME_MAX_ || end - q < nl || memchr(q, 0, nl))
				goto bad;
			memcpy(name, q, nl);
			name[nl] = 0;
			q += nl;
			for (uint32_t i = 0; i < n; i++) {
				if (end - q < ENT_HDR)
					goto bad;
				struct wal_entry e = {
					.term = bytes_get_u64(q),
					.index = bytes_get_u64(q + 8),
					.type = q[16],
					.len = bytes_get_u32(q + 17),
				};
				q += ENT_HDR;
				if ((uint64_t)(end - q) < e.len || !e.type || !e.index ||
				    e.len > WAL_PAYLOAD_MAX)
					goto bad;
				e.data = q;
				q += e.len;
				int rc = each ? each(ctx, name, &e) : KEEL_OK;
				if (rc)
					return -1; /* each said why */
			}
		}
		if (q != end)
			goto bad;
		records++;
		off += pad8((uint64_t)REC_HDR + body);
		if (off > len)
			break;
		continue;
	bad:
		keel_errmsg_set(err, "journal record at offset %" PRIu64 " is malformed", off);
		return -1;
	}
	return records;
}

/* ---- recovery ------------------------------------------------------------- */

struct jentry {
	uint32_t name; /* into names */
	struct wal_entry e;
};

struct replay {
	char (*names)[NAME_MAX_ + 1];
	uint32_t n_names;
	struct jentry *es;
	uint64_t n, cap;
	struct keel_errmsg *err;
};

static int collect(void *ctx, const char *name, const struct wal_entry *e)
{
	struct replay *r = ctx;
	uint32_t k = 0;
	while (k < r->n_names && strcmp(r->names[k], name) != 0)
		k++;
	if (k == r->n_names) {
		if (name[0] == '/' || strstr(name, "..")) {
			keel_errmsg_set(r->err, "journal names a folder outside its own: %s", name);
			return KEEL_ECORRUPT;
		}
		r->names = keel_realloc(r->names, (r->n_names + 1) * sizeof *r->names);
		snprintf(r->names[r->n_names++], NAME_MAX_ + 1, "%s", name);
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->es = keel_realloc(r->es, r->cap * sizeof *r->es);
	}
	r->es[r->n++] = (struct jentry){k, *e};
	return KEEL_OK;
}

/* A storage's repair is allowed only where the journal holds what it
 * discards: from its first journaled index on. */
struct repair_ctx {
	uint64_t first; /* the lowest index journaled for the storage */
};

static int repair_inside(void *ctx, const struct storage_loaded *l, struct keel_errmsg *why)
{
	const struct repair_ctx *rc = ctx;
	if (l->damage.first_bad >= rc->first)
		return KEEL_OK;
	keel_errmsg_set(why,
			"the log is damaged at index %" PRIu64
			", before what the journal holds (from %" PRIu64 ")",
			l->damage.first_bad, rc->first);
	return KEEL_EINVAL;
}

/* The storage's term at index, from what its open loaded; 0 if it holds
 * none there (below its snapshot, or past its end). */
static uint64_t loaded_term(const struct storage_loaded *l, uint64_t index)
{
	if (!l->n_entries || index < l->entries[0].index)
		return 0;
	uint64_t k = index - l->entries[0].index;
	return k < l->n_entries ? l->entries[k].term : 0;
}

static int replay_one(const struct io_fs *fs, const char *dir, const struct storage_options *base,
		      struct replay *r, uint32_t name, struct journal_replayed *did,
		      struct keel_errmsg *err)
{
	char path[IO_PATH_MAX];
	int rc = KEEL_OK;
	if (strcmp(r->names[name], ".") == 0)
		snprintf(path, sizeof path, "%s", dir);
	else if ((rc = io_path(path, dir, r->names[name])))
		return rc;
	struct repair_ctx rctx = {UINT64_MAX};
	for (uint64_t i = 0; i < r->n; i++)
		if (r->es[i].name == name && r->es[i].e.index < rctx.first)
			rctx.first = r->es[i].e.index;
	struct storage_options o = *base;
	o.repair = true;
	o.may_repair = repair_inside;
	o.repair_ctx = &rctx;
	struct storage *st;
	if ((rc = storage_open(fs, path, &o, &st, err)))
		return rc;
	did->storages++;
	const struct storage_loaded *l = storage_loaded(st);
	uint64_t snap = l->has_snap ? l->snap.index : 0;
	uint64_t held = storage_last(st), last = held;
	struct wal_entry *add = NULL;
	uint32_t n_add = 0;
	size_t cap_add = 0;
	for (uint64_t i = 0; i < r->n && !rc; i++) {
		const struct wal_entry *e = &r->es[i].e;
		if (r->es[i].name != name || e->index <= snap)
			continue;
		/* the hard state is durable before any entry of its term is
		 * written (storage.c): a journaled entry of a later term is
		 * damage, refused before the log is touched */
		if (e->term > l->term) {
			keel_errmsg_set(err,
					"%s: entry %" PRIu64 " has term %" PRIu64
					" in the journal, above the hard state's %" PRIu64,
					path, e->index, e->term, l->term);
			rc = KEEL_ECORRUPT;
			break;
		}
		if (e->index <= last) { /* held already: the same entry, or damage */
			uint64_t t = e->index <= held ? loaded_term(l, e->index)
						      : add[e->index - held - 1].term;
			if (t != e->term) {
				keel_errmsg_set(err,
						"%s: entry %" PRIu64 " has term %" PRIu64
						" in the log, %" PRIu64 " in the journal",
						path, e->index, t, e->term);
				rc = KEEL_ECORRUPT;
			}
			continue;
		}
		if (e->index != last + 1) {
			keel_errmsg_set(err,
					"%s: the log ends at %" PRIu64
					" and the journal goes on at %" PRIu64,
					path, last, e->index);
			rc = KEEL_ECORRUPT;
			break;
		}
		if (n_add == cap_add) {
			cap_add = cap_add ? 2 * cap_add : 64;
			add = keel_realloc(add, cap_add * sizeof *add);
		}
		add[n_add++] = *e;
		last = e->index;
	}
	if (!rc && n_add) {
		struct storage_batch b = {.entries = add, .n_entries = n_add};
		if (!(rc = storage_write(st, &b, err)))
			rc = storage_sync(st, err);
		did->appended += n_add;
	}
	keel_free(add);
	storage_close(st);
	return rc;
}

static int read_whole(const struct io_fs *fs, const char *path, uint8_t **out, uint64_t *len,
		      bool *found, struct keel_errmsg *err)
{
	int fd, rc = fs->open(fs->ctx, path, 0, &fd);
	*found = rc != KEEL_ENOENT;
	*out = NULL;
	*len = 0;
	if (rc == KEEL_ENOENT)
		return KEEL_OK;
	if (rc)
		return io_fail(err, rc, "open", path);
	uint64_t size = 0;
	if ((rc = fs->size(fs->ctx, fd, &size))) {
		fs->close(fs->ctx, fd);
		return io_fail(err, rc, "size", path);
	}
	*out = keel_malloc(size ? size : 1);
	if (size && (rc = io_read_exact(fs, fd, *out, size, 0))) {
		fs->close(fs->ctx, fd);
		keel_free(*out);
		*out = NULL;
		return io_fail(err, rc, "read", path);
	}
	fs->close(fs->ctx, fd);
	*len = size;
	return KEEL_OK;
}

static int replay(const struct io_fs *fs, const char *dir, const char *path,
		  const struct storage_options *o, bool *found, struct journal_replayed *did,
		  struct keel_errmsg *err)
{
	uint8_t *p;
	uint64_t len;
	int rc = read_whole(fs, path, &p, &len, found, err);
	if (rc || !*found)
		return rc;
	struct replay r = {.err = err};
	int64_t records = journal_scan(p, len, collect, &r, err);
	if (records < 0) {
		rc = KEEL_ECORRUPT;
	} else {
		did->records = (uint32_t)records;
		for (uint32_t k = 0; k < r.n_names && !rc; k++)
			rc = replay_one(fs, dir, o, &r, k, did, err);
	}
	keel_free(r.names);
	keel_free(r.es);
	keel_free(p);
	return rc;
}

/* ---- writing -------------------------------------------------------------- */

static void begin(struct journal *j)
{
	j->len = 0;
	j->sections = 0;
	reserve(j, REC_HDR);
	j->len = REC_HDR;
}

/* Fills the header of the record built, pads it; returns its size. */
static size_t seal(struct journal *j)
{
	size_t body = j->len - REC_HDR;
	size_t total = pad8(j->len);
	reserve(j, total - j->len);
	memset(j->rec + j->len, 0, total - j->len);
	memcpy(j->rec, magic, 4);
	bytes_put_u64(j->rec + 8, j->gen);
	bytes_put_u32(j->rec + 16, (uint32_t)body);
	bytes_put_u32(j->rec + 20, j->sections);
	bytes_put_u32(j->rec + 4, crc32c(0, j->rec + 8, REC_HDR - 8 + body));
	return total;
}

static int write_sync(struct journal *j, size_t total, struct keel_errmsg *err)
{
	int rc = j->fs->pwrite(j->fs->ctx, j->fd, j->rec, total, j->off);
	if (rc)
		return io_fail(err, rc, "write", j->path);
	if ((rc = j->fs->fdatasync(j->fs->ctx, j->fd)))
		return io_fail(err, rc, "fdatasync", j->path);
	j->off += total;
	return KEEL_OK;
}

void journal_add(struct journal *j, const char *storage_dir, const struct wal_entry *e, uint32_t n)
{
	size_t dl = strlen(j->dir);
	const char *name = storage_dir;
	if (strcmp(storage_dir, j->dir) == 0)
		name = ".";
	else if (strncmp(storage_dir, j->dir, dl) == 0 && storage_dir[dl] == '/')
		name = storage_dir + dl + 1;
	size_t nl = strlen(name);
	KEEL_ASSERT(nl > 0 && nl <= NAME_MAX_ && name[0] != '/');
	uint64_t size = SEC_HDR + nl;
	for (uint32_t i = 0; i < n; i++)
		size += ENT_HDR + (uint64_t)e[i].len;
	reserve(j, size);
	uint8_t *q = j->rec + j->len;
	bytes_put_u16(q, (uint16_t)nl);
	bytes_put_u32(q + 2, n);
	memcpy(q + SEC_HDR, name, nl);
	q += SEC_HDR + nl;
	for (uint32_t i = 0; i < n; i++) {
		bytes_put_u64(q, e[i].term);
		bytes_put_u64(q + 8, e[i].index);
		q[16] = e[i].type;
		bytes_put_u32(q + 17, e[i].len);
		if (e[i].len)
			memcpy(q + ENT_HDR, e[i].data, e[i].len);
		q += ENT_HDR + e[i].len;
	}
	j->len += size;
	j->sections++;
}

bool journal_fits(const struct journal *j)
{
	return j->len - REC_HDR <= UINT32_MAX && j->off + pad8(j->len) <= j->bytes;
}

bool journal_fits_empty(const struct journal *j)
{
	/* after the checkpoint record of no section */
	return j->len - REC_HDR <= UINT32_MAX && REC_HDR + pad8(j->len) <= j->bytes;
}

int journal_commit(struct journal *j, struct keel_errmsg *err)
{
	KEEL_ASSERT(journal_fits(j));
	int rc = write_sync(j, seal(j), err);
	begin(j);
	return rc;
}

void journal_discard(struct journal *j)
{
	begin(j);
}

/* Writes a record of no section of the next generation at offset 0 and
 * syncs it. The record being built, if any, is kept. */
static int restart(struct journal *j, struct keel_errmsg *err)
{
	uint8_t h[REC_HDR];
	j->gen++;
	memcpy(h, magic, 4);
	bytes_put_u64(h + 8, j->gen);
	bytes_put_u32(h + 16, 0);
	bytes_put_u32(h + 20, 0);
	bytes_put_u32(h + 4, crc32c(0, h + 8, REC_HDR - 8));
	int rc = j->fs->pwrite(j->fs->ctx, j->fd, h, REC_HDR, 0);
	if (rc)
		return io_fail(err, rc, "write", j->path);
	if ((rc = j->fs->fdatasync(j->fs->ctx, j->fd)))
		return io_fail(err, rc, "fdatasync", j->path);
	j->off = REC_HDR;
	return KEEL_OK;
}

int journal_reset(struct journal *j, struct keel_errmsg *err)
{
	return restart(j, err);
}

int journal_recover(const struct io_fs *fs, const char *dir, const struct storage_options *o,
		    struct journal_replayed *did, struct keel_errmsg *err)
{
	char path[IO_PATH_MAX];
	int rc = io_path(path, dir, JOURNAL_FILE);
	if (rc) {
		keel_errmsg_set(err, "%s: too long for the journal's path", dir);
		return rc;
	}
	*did = (struct journal_replayed){0};
	bool found;
	if ((rc = replay(fs, dir, path, o, &found, did, err)) || !found)
		return rc;
	if ((rc = fs->unlink(fs->ctx, path)) || (rc = fs->sync_dir(fs->ctx, dir)))
		return io_fail(err, rc, "remove", path);
	return KEEL_OK;
}

int journal_create(const struct io_fs *fs, const char *dir, uint64_t bytes, uint64_t gen,
		   struct journal **out, struct keel_errmsg *err)
{
	struct journal *j = keel_calloc(1, sizeof *j);
	j->fs = fs;
	j->fd = -1;
	snprintf(j->dir, sizeof j->dir, "%s", dir);
	int rc = io_path(j->path, dir, JOURNAL_FILE);
	if (rc) {
		keel_errmsg_set(err, "%s: too long for the journal's path", dir);
		journal_close(j);
		return rc;
	}
	j->bytes = bytes < 4096 ? 4096 : bytes;
	j->gen = gen;
	/* zeros past its first record: nothing older reads as a record */
	if ((rc = fs->open(fs->ctx, j->path, IO_CREATE | IO_TRUNC, &j->fd))) {
		io_fail(err, rc, "create", j->path);
		journal_close(j);
		return rc;
	}
	begin(j);
	if ((rc = fs->fallocate(fs->ctx, j->fd, j->bytes))) {
		io_fail(err, rc, "preallocate", j->path);
	} else if (!(rc = restart(j, err)) && (rc = fs->sync_dir(fs->ctx, dir))) {
		io_fail(err, rc, "sync the folder of", j->path);
	}
	if (rc) {
		journal_close(j);
		return rc;
	}
	*out = j;
	return KEEL_OK;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		j->fs->close(j->fs->ctx, j->fd);
	keel_free(j->rec);
	keel_free(j);
}
