/* server/shards.c — a node's groups (--shards N): group i serves the i-th
 * of N ranges of the 16384 slots (cluster_range_last) and keeps its log
 * and snapshots in its own folder, --dir for group 0 and --dir/shard-i
 * past it, each recovered as a one-group node's folder is.
 *
 * What it guarantees: a node never serves a slot from a group that does
 * not hold its keys. The slot map is fixed by N (there is no migration
 * yet), so N is kept in --dir/shards (one decimal number and a newline,
 * written durably when a node of several groups first starts; absent, it
 * is 1, so a one-group node's folder is as it always was), and a start
 * whose --shards differs from it is refused, as is a first start of
 * several groups over a folder whose group 0 already holds data. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "io/fs.h"
#include "resp/parse.h"
#include "server/server.h"

#define COUNT_FILE "shards"

/* The count in --dir/shards into *n (0: no such file). */
static int read_count(const char *dir, uint32_t *n, struct keel_errmsg *err)
{
	const struct io_fs *fs = io_fs_posix();
	char path[IO_PATH_MAX], text[16];
	uint64_t size = 0;
	int fd, rc = io_path(path, dir, COUNT_FILE);
	*n = 0;
	if (!rc && (rc = fs->open(fs->ctx, path, 0, &fd)) == KEEL_ENOENT)
		return KEEL_OK;
	if (!rc) {
		rc = fs->size(fs->ctx, fd, &size);
		if (!rc && size < sizeof text)
			rc = io_read_exact(fs, fd, text, (size_t)size, 0);
		fs->close(fs->ctx, fd);
	}
	int64_t v = 0;
	if (!rc && (size < 2 || size >= sizeof text || text[size - 1] != '\n' ||
		    !resp_str2ll((const uint8_t *)text, (size_t)size - 1, &v) || v < 1 ||
		    v > SERVER_SHARDS_MAX))
		rc = KEEL_ECORRUPT;
	if (rc) {
		keel_errmsg_set(err, "%s/%s: %s (it holds the node's --shards)", dir, COUNT_FILE,
				rc == KEEL_ECORRUPT ? "not a shard count" : keel_err_str(rc));
		return rc;
	}
	*n = (uint32_t)v;
	return KEEL_OK;
}

/* n into --dir/shards, durably (a temporary name, fdatasync, rename,
 * the folder synced). */
static int write_count(const char *dir, uint32_t n, struct keel_errmsg *err)
{
	const struct io_fs *fs = io_fs_posix();
	char path[IO_PATH_MAX], tmp[IO_PATH_MAX], text[16];
	int len = snprintf(text, sizeof text, "%u\n", n), fd = -1;
	int rc = io_path(path, dir, COUNT_FILE);
	if (!rc)
		rc = io_path(tmp, dir, COUNT_FILE ".tmp");
	if (!rc)
		rc = fs->open(fs->ctx, tmp, IO_CREATE | IO_TRUNC, &fd);
	if (!rc) {
		rc = fs->pwrite(fs->ctx, fd, text, (size_t)len, 0);
		if (!rc)
			rc = fs->fdatasync(fs->ctx, fd);
		int c = fs->close(fs->ctx, fd);
		rc = rc ? rc : c;
	}
	if (!rc)
		rc = fs->rename(fs->ctx, tmp, path);
	if (!rc)
		rc = fs->sync_dir(fs->ctx, dir);
	if (rc)
		keel_errmsg_set(err, "%s/%s: cannot be written: %s", dir, COUNT_FILE,
				keel_err_str(rc));
	return rc;
}

/* Whether --dir holds anything of a node already (a missing folder holds
 * nothing; its shard folders and count file are not data of group 0). */
static bool holds_data(const char *dir)
{
	const struct io_fs *fs = io_fs_posix();
	char **names;
	uint32_t n;
	if (fs->list(fs->ctx, dir, &names, &n))
		return false;
	bool found = false;
	for (uint32_t i = 0; i < n; i++)
		found = found || (strncmp(names[i], COUNT_FILE, strlen(COUNT_FILE)) &&
				  strncmp(names[i], "shard-", 6));
	io_names_free(names, n);
	return found;
}

/* The count the folder was made with against --shards, before any group
 * is opened: *write if it is to be kept once group 0's folder exists. */
static int check_count(struct server *s, bool *write, struct keel_errmsg *err)
{
	uint32_t kept, want = s->cfg.shards ? s->cfg.shards : 1;
	int rc = read_count(s->cfg.dir, &kept, err);
	*write = false;
	if (rc)
		return rc;
	if (kept ? kept != want : want > 1 && holds_data(s->cfg.dir)) {
		keel_errmsg_set(err,
				"--shards %u: the data in %s was made by a node of %u shard%s, and "
				"the slots cannot move between shards (no migration yet): start "
				"it with --shards %u, or start from an empty --dir",
				want, s->cfg.dir, kept ? kept : 1, kept > 1 ? "s" : "",
				kept ? kept : 1);
		return KEEL_EINVAL;
	}
	*write = !kept && want > 1;
	return KEEL_OK;
}

/* --skip-entry on a node of several groups: for the groups where that
 * entry failed (server/poison.c); refused if it failed in none. */
static int check_skip(struct server *s, struct keel_errmsg *err)
{
	if (s->n_groups < 2 || !s->cfg.skip_entry)
		return KEEL_OK;
	for (uint32_t i = 0; i < s->n_groups; i++)
		if (s->groups[i]->poison.skip == s->cfg.skip_entry)
			return KEEL_OK;
	keel_errmsg_set(err,
			"--skip-entry %llu: no shard of this node failed to apply that entry (no "
			"shard's apply-failed names it)",
			(unsigned long long)s->cfg.skip_entry);
	return KEEL_EINVAL;
}

int groups_open(struct server *s, struct keel_errmsg *err)
{
	uint32_t n = s->cfg.shards ? s->cfg.shards : 1;
	bool write;
	int rc = check_count(s, &write, err);
	if (rc)
		return rc;
	s->groups = keel_calloc(n, sizeof *s->groups);
	for (uint32_t i = 0; i < n; i++) {
		struct group *g = keel_calloc(1, sizeof *g);
		s->groups[s->n_groups++] = g;
		g->node = s;
		g->id = i;
		g->slot_first = i ? (uint16_t)(s->groups[i - 1]->slot_last + 1) : 0;
		g->slot_last = cluster_range_last(i, n);
		int len = i ? snprintf(g->dir, sizeof g->dir, "%s/shard-%u", s->cfg.dir, i)
			    : snprintf(g->dir, sizeof g->dir, "%s", s->cfg.dir);
		if (len < 0 || (size_t)len >= sizeof g->dir) {
			keel_errmsg_set(err, "--dir %s: too long for its shards' folders",
					s->cfg.dir);
			return KEEL_EINVAL;
		}
		if (i == 0)
			s->g = g; /* the node's first group, even if its start fails */
		rc = group_open(g, err);
		if (!rc && i == 0 && write) /* group 0 made the folder */
			rc = write_count(s->cfg.dir, n, err);
		if (rc)
			return rc;
	}
	return check_skip(s, err);
}

struct group *groups_find(struct server *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->n_groups; i++)
		if (s->groups[i]->id == id)
			return s->groups[i];
	return NULL;
}
