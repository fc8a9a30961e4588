/* storage/storage.c — recovery of a data folder and the persist step of
 * storage/storage.h.
 *
 * Recovery: leftover temporary files are removed; the hard state is read;
 * the newest snapshot whose header and data checksums hold is taken (an
 * older one only if the log still covers everything the newer one did);
 * the log is scanned (storage/wal.c); then the pieces must agree: the log
 * continues the snapshot without a gap, and no record or snapshot carries
 * a term above the hard state's (the hard state is written before the
 * records of its term, so a lower one means the file is stale and a vote
 * may have been lost). Anything else refuses the start with the file and
 * the reason.
 *
 * A batch is carried out as: hard state (durable on return), snapshot
 * chunk, truncation (before an install, so a crash can never pair a new
 * snapshot with log records that conflict with it), install (durable on
 * return), entries, purge. */
#include "storage/storage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "storage/hardstate.h"

struct storage {
	const struct io_fs *fs;
	char dir[IO_PATH_MAX];
	struct storage_options o;
	struct wal *wal;
	struct snap_incoming in;
	bool has_snap;
	struct snap_meta snap;
	struct storage_loaded loaded;
	int failed;
};

void storage_options_default(struct storage_options *o)
{
	memset(o, 0, sizeof *o);
	o->wal.segment_bytes = 64u << 20;
	o->snapshots_kept = 3;
}

static int stop(struct storage *s, int rc)
{
	if (rc && !s->failed)
		s->failed = rc;
	return rc;
}

static bool has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);
	return n >= k && strcmp(name + n - k, suffix) == 0;
}

struct snap_name_list {
	uint64_t *index, *term;
	uint32_t n;
};

/* Newest first: by index, then by term, so that two files of one index
 * (which only damage or a hand can leave) are always taken in one order,
 * whatever order the folder lists them in. */
static int by_index_desc(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	if (x[0] != y[0])
		return x[0] < y[0] ? 1 : -1;
	return x[1] < y[1] ? 1 : x[1] > y[1] ? -1 : 0;
}

/* Lists snapshot files newest first and removes temporary files. */
static int scan_folder(struct storage *s, struct snap_name_list *l, struct keel_errmsg *err)
{
	char **names;
	uint32_t n;
	int rc = s->fs->list(s->fs->ctx, s->dir, &names, &n);
	if (rc) {
		keel_errmsg_set(err, "list %s: %s", s->dir, keel_err_str(rc));
		return rc;
	}
	uint64_t *pairs = keel_calloc(n ? 2 * n : 1, sizeof *pairs);
	l->n = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t idx, term;
		char path[IO_PATH_MAX];
		if (has_suffix(names[i], ".tmp") && !io_path(path, s->dir, names[i]))
			s->fs->unlink(s->fs->ctx, path); /* never published */
		else if (snap_parse_name(names[i], &idx, &term)) {
			pairs[2 * l->n] = idx;
			pairs[2 * l->n + 1] = term;
			l->n++;
		}
	}
	io_names_free(names, n);
	qsort(pairs, l->n, 2 * sizeof *pairs, by_index_desc);
	l->index = keel_calloc(l->n ? l->n : 1, sizeof *l->index);
	l->term = keel_calloc(l->n ? l->n : 1, sizeof *l->term);
	for (uint32_t i = 0; i < l->n; i++) {
		l->index[i] = pairs[2 * i];
		l->term[i] = pairs[2 * i + 1];
	}
	keel_free(pairs);
	return KEEL_OK;
}

/* Takes the newest good snapshot. A bad newer one may be passed over only
 * if the log still holds every entry it covered. */
static int load_snapshot(struct storage *s, const struct snap_name_list *l,
			 struct keel_errmsg *err)
{
	uint64_t bad_index = 0;
	struct keel_errmsg bad_msg = {{0}};
	for (uint32_t i = 0; i < l->n; i++) {
		char name[64];
		snap_name(name, sizeof name, l->index[i], l->term[i]);
		struct snap_meta *m = &s->loaded.snap;
		int rc = snap_read_meta(s->fs, s->dir, name, m, &bad_msg);
		if (!rc)
			rc = snap_read_all(s->fs, s->dir, m, &s->loaded.snap_data, &bad_msg);
		if (rc == KEEL_ECORRUPT) {
			if (!bad_index)
				bad_index = l->index[i];
			continue;
		}
		if (rc) {
			*err = bad_msg;
			return rc;
		}
		s->loaded.has_snap = true;
		break;
	}
	if (!bad_index)
		return KEEL_OK;
	uint64_t from = s->loaded.has_snap ? s->loaded.snap.index + 1 : 1;
	if (wal_last(s->wal) >= bad_index && wal_first(s->wal) <= from)
		return KEEL_OK; /* the log still covers it: nothing is lost */
	*err = bad_msg;
	keel_errmsg_wrap(err, "the newest snapshot is damaged and the log no longer covers it");
	return KEEL_ECORRUPT;
}

/* The pieces must agree (see the top of this file). */
static int check_agree(struct storage *s, bool has_hs, struct keel_errmsg *err)
{
	struct storage_loaded *l = &s->loaded;
	uint64_t max_term = l->has_snap ? l->snap.term : 0;
	if (l->n_entries && l->entries[l->n_entries - 1].term > max_term)
		max_term = l->entries[l->n_entries - 1].term;
	if (max_term && !has_hs) {
		keel_errmsg_set(err, "%s: the log or a snapshot exists but the hard state file "
				"does not", s->dir);
		return KEEL_ECORRUPT;
	}
	if (max_term > l->term) {
		keel_errmsg_set(err, "%s/%s is stale: term %" PRIu64 " but the log has term %"
				PRIu64, s->dir, HARDSTATE_FILE, l->term, max_term);
		return KEEL_ECORRUPT;
	}
	return KEEL_OK;
}

/* Reads the entries after the snapshot into s->loaded. */
static int load_entries(struct storage *s, struct keel_errmsg *err)
{
	struct storage_loaded *l = &s->loaded;
	uint64_t from = l->has_snap ? l->snap.index + 1 : 1;
	uint64_t first = wal_first(s->wal), last = wal_last(s->wal);
	if (last < first || last < from)
		return KEEL_OK;
	if (first > from) {
		keel_errmsg_set(err, "%s: the log starts at %" PRIu64 " but the snapshot ends at %"
				PRIu64 " (entries are missing)", s->dir, first, from - 1);
		return KEEL_ECORRUPT;
	}
	/* what wal_open read and checked, without reading it again */
	int rc = wal_scanned(s->wal, from, &l->entries, &l->n_entries);
	if (rc)
		keel_errmsg_set(err, "%s: entries from %" PRIu64 " not read back", s->dir, from);
	return rc;
}

/* Damage was found and repair asked for: the policy decides. */
static int ask_repair(struct storage *s, struct keel_errmsg *err)
{
	struct keel_errmsg why = {{0}};
	const struct wal_damage *d = &s->loaded.damage;
	int rc = s->o.may_repair ? s->o.may_repair(s->o.repair_ctx, &s->loaded, &why)
				 : KEEL_EINVAL;
	if (rc) {
		keel_errmsg_set(err, "repair refused: %s (damage in %s/%s at offset %" PRIu64 ")",
				why.text[0] ? why.text : "no repair policy", s->dir, d->file,
				d->offset);
		return KEEL_ECORRUPT;
	}
	if ((rc = wal_repair(s->wal, err)))
		return rc;
	s->loaded.repaired = true;
	return KEEL_OK;
}

static int open_parts(struct storage *s, struct keel_errmsg *err)
{
	struct snap_name_list l = {0};
	bool has_hs = false;
	int rc = s->fs->mkdir(s->fs->ctx, s->dir);
	if (rc) {
		keel_errmsg_set(err, "mkdir %s: %s", s->dir, keel_err_str(rc));
		return rc;
	}
	if ((rc = scan_folder(s, &l, err)))
		goto out;
	if ((rc = hardstate_read(s->fs, s->dir, &has_hs, &s->loaded.term, &s->loaded.vote, err)))
		goto out;
	rc = wal_open(s->fs, s->dir, &s->o.wal, s->o.repair, &s->wal, &s->loaded.damage, err);
	if (rc || (rc = load_snapshot(s, &l, err)) || (rc = load_entries(s, err)) ||
	    (rc = check_agree(s, has_hs, err)))
		goto out;
	if (s->loaded.damage.found && (rc = ask_repair(s, err)))
		goto out;
	s->has_snap = s->loaded.has_snap;
	s->snap = s->loaded.snap;
	/* A log wholly covered by the snapshot (an install the crash cut
	 * short) is dropped so that appends continue after the snapshot. */
	if (s->has_snap && wal_last(s->wal) <= s->snap.index)
		rc = wal_purge(s->wal, s->snap.index + 1, err);
out:
	keel_free(l.index);
	keel_free(l.term);
	return rc;
}

int storage_open(const struct io_fs *fs, const char *dir, const struct storage_options *o,
		 struct storage **out, struct keel_errmsg *err)
{
	struct storage *s = keel_calloc(1, sizeof *s);
	s->fs = fs;
	s->o = *o;
	if (!s->o.snapshots_kept)
		s->o.snapshots_kept = 1;
	snap_incoming_init(&s->in);
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	int rc = open_parts(s, err);
	if (rc) {
		storage_close(s);
		return rc;
	}
	*out = s;
	return KEEL_OK;
}

void storage_loaded_release(struct storage *s)
{
	struct storage_loaded *l = &s->loaded;
	if (s->wal)
		wal_drop_scan(s->wal);
	keel_free(l->entries);
	keel_free(l->snap_data);
	l->entries = NULL;
	l->n_entries = 0;
	l->snap_data = NULL;
}

void storage_close(struct storage *s)
{
	if (!s)
		return;
	storage_loaded_release(s);
	snap_incoming_drop(s->fs, &s->in);
	wal_close(s->wal);
	keel_free(s);
}

const struct storage_loaded *storage_loaded(const struct storage *s)
{
	return &s->loaded;
}

/* Keeps the newest snapshots_kept files (the current one always). */
static void prune_snapshots(struct storage *s)
{
	struct snap_name_list l = {0};
	struct keel_errmsg ignore;
	if (scan_folder(s, &l, &ignore))
		return;
	for (uint32_t i = s->o.snapshots_kept; i < l.n; i++) {
		char name[64], path[IO_PATH_MAX];
		if (s->has_snap && l.index[i] == s->snap.index && l.term[i] == s->snap.term)
			continue;
		snap_name(name, sizeof name, l.index[i], l.term[i]);
		if (!io_path(path, s->dir, name))
			s->fs->unlink(s->fs->ctx, path); /* an old copy: best effort */
	}
	keel_free(l.index);
	keel_free(l.term);
}

static int install(struct storage *s, const struct snap_meta *m, struct keel_errmsg *err)
{
	int rc = snap_incoming_finish(s->fs, s->dir, &s->in, m, err);
	if (rc)
		return rc;
	s->has_snap = true;
	s->snap = *m;
	if ((rc = wal_purge(s->wal, m->index + 1, err)))
		return rc;
	prune_snapshots(s);
	return KEEL_OK;
}

int storage_write(struct storage *s, const struct storage_batch *b, struct keel_errmsg *err)
{
	int rc = s->failed;
	if (rc) {
		keel_errmsg_set(err, "storage stopped after an error: %s", keel_err_str(rc));
		return rc;
	}
	if (b->hs && (rc = hardstate_write(s->fs, s->dir, b->term, b->vote, err)))
		return stop(s, rc);
	if (b->chunk_meta &&
	    (rc = snap_incoming_write(s->fs, s->dir, &s->in, b->chunk_meta, b->chunk_offset,
				      b->chunk_data, b->chunk_len, err)))
		return stop(s, rc);
	if (b->truncate_from && (rc = wal_truncate(s->wal, b->truncate_from, err)))
		return stop(s, rc);
	if (b->install && (rc = install(s, b->install, err)))
		return stop(s, rc);
	if (b->n_entries && (rc = wal_append(s->wal, b->entries, b->n_entries, err)))
		return stop(s, rc);
	if (b->purge_below && (rc = wal_purge(s->wal, b->purge_below, err)))
		return stop(s, rc);
	return KEEL_OK;
}

int storage_flush(struct storage *s, struct keel_errmsg *err)
{
	if (s->failed)
		return s->failed;
	return stop(s, wal_flush(s->wal, err));
}

int storage_sync(struct storage *s, struct keel_errmsg *err)
{
	if (s->failed) {
		keel_errmsg_set(err, "storage stopped after an error: %s", keel_err_str(s->failed));
		return s->failed;
	}
	int rc = wal_sync(s->wal, err);
	if (!rc)
		rc = snap_incoming_sync(s->fs, &s->in, err);
	return stop(s, rc);
}

int storage_save_snapshot(struct storage *s, const struct snap_meta *m, const uint8_t *data,
			  struct keel_errmsg *err)
{
	int rc = storage_sync(s, err);
	if (rc)
		return rc;
	if (s->has_snap && m->index <= s->snap.index)
		return KEEL_OK; /* an installed snapshot overtook it */
	if ((rc = snap_write(s->fs, s->dir, m, data, err)))
		return stop(s, rc);
	s->has_snap = true;
	s->snap = *m;
	prune_snapshots(s);
	return KEEL_OK;
}

int storage_adopt_snapshot(struct storage *s, const struct snap_meta *m, struct keel_errmsg *err)
{
	int rc = storage_sync(s, err);
	if (rc)
		return rc;
	if (s->has_snap && m->index <= s->snap.index) {
		snap_tmp_remove(s->fs, s->dir, m); /* an installed snapshot overtook it */
		return KEEL_OK;
	}
	if ((rc = snap_publish_tmp(s->fs, s->dir, m, err)))
		return stop(s, rc);
	s->has_snap = true;
	s->snap = *m;
	prune_snapshots(s);
	return KEEL_OK;
}

const struct snap_meta *storage_snapshot(const struct storage *s)
{
	return s->has_snap ? &s->snap : NULL;
}

int storage_snapshot_read(struct storage *s, uint64_t off, void *buf, uint64_t len,
			  struct keel_errmsg *err)
{
	if (!s->has_snap) {
		keel_errmsg_set(err, "no snapshot");
		return KEEL_ENOENT;
	}
	return snap_read(s->fs, s->dir, &s->snap, off, buf, len, err);
}

int storage_read(struct storage *s, uint64_t from, uint64_t to, struct wal_entry **out,
		 uint8_t **mem, struct keel_errmsg *err)
{
	if (s->failed) {
		keel_errmsg_set(err, "storage stopped after an error: %s", keel_err_str(s->failed));
		return s->failed;
	}
	return wal_read(s->wal, from, to, out, mem, err);
}

uint64_t storage_first(const struct storage *s)
{
	return wal_first(s->wal);
}

uint64_t storage_last(const struct storage *s)
{
	return wal_last(s->wal);
}

int storage_failed(const struct storage *s)
{
	return s->failed;
}

const char *storage_dir(const struct storage *s)
{
	return s->dir;
}
