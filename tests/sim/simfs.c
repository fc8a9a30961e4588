/* tests/sim/simfs.c — the simulator's disk of tests/sim/simfs.h. Paths are
 * plain strings; a folder is the prefix before the last '/'. Each file
 * (inode) keeps its durable contents and the writes made since its last
 * fdatasync; the namespace keeps its durable state and the changes made
 * since the last folder fsync. */
#include "sim/simfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"

struct wr { /* an unsynced change to a file */
	uint64_t off, len; /* a write: len bytes at off */
	uint8_t *data;     /* NULL: a size change to `off` */
};

struct inode {
	uint8_t *cur, *dur;
	uint64_t size, dur_size, cap, dur_cap;
	struct wr *pend;
	uint32_t n_pend, cap_pend;
};

struct dent {
	char *path;
	uint32_t ino;
};

struct ns {
	struct dent *d;
	uint32_t n, cap;
};

enum { NS_LINK = 1, NS_UNLINK, NS_RENAME };
struct nsop {
	int kind;
	char *a, *b;
	uint32_t ino;
};

struct fault {
	bool armed, sticky;
	uint32_t after;
	int err;
};

struct smap { /* a live map: a copy of the file's first len bytes */
	uint32_t ino;
	uint8_t *p;
	uint64_t len;
};

struct simfs {
	struct io_fs ops;
	struct inode *ino;
	uint32_t n_ino, cap_ino;
	struct ns cur, dur;
	struct nsop *pend;
	uint32_t n_pend, cap_pend;
	int32_t *fds; /* fd -> inode, -1 closed */
	uint32_t n_fds;
	struct fault fault[SIMFS_OP_MAX];
	uint64_t capacity;
	struct smap *maps;
	uint32_t n_maps, cap_maps;
	char **made; /* the folders mkdir was asked for, each once */
	uint32_t n_made, cap_made;
};

#define GROW(arr, n, cap, init)                                                 \
	do {                                                                   \
		if ((n) == (cap)) {                                            \
			(cap) = (cap) ? (cap) * 2 : (init);                    \
			(arr) = keel_realloc((arr), (cap) * sizeof *(arr));     \
		}                                                              \
	} while (0)

/* ---- buffers and namespaces --------------------------------------------- */

static void buf_resize(uint8_t **b, uint64_t *size, uint64_t *cap, uint64_t n)
{
	if (n > *cap) {
		uint64_t c = *cap ? *cap : 256;
		while (c < n)
			c *= 2;
		*b = keel_realloc(*b, c);
		*cap = c;
	}
	if (n > *size)
		memset(*b + *size, 0, n - *size);
	*size = n;
}

static void buf_write(uint8_t **b, uint64_t *size, uint64_t *cap, uint64_t off,
		      const uint8_t *p, uint64_t len)
{
	if (off + len > *size)
		buf_resize(b, size, cap, off + len);
	if (len)
		memcpy(*b + off, p, len);
}

static int32_t ns_find(const struct ns *ns, const char *path)
{
	for (uint32_t i = 0; i < ns->n; i++)
		if (!strcmp(ns->d[i].path, path))
			return (int32_t)i;
	return -1;
}

static void ns_remove(struct ns *ns, const char *path)
{
	int32_t i = ns_find(ns, path);
	if (i < 0)
		return;
	keel_free(ns->d[i].path);
	ns->d[i] = ns->d[--ns->n];
}

static void ns_link(struct ns *ns, const char *path, uint32_t ino)
{
	ns_remove(ns, path);
	GROW(ns->d, ns->n, ns->cap, 16);
	ns->d[ns->n++] = (struct dent){keel_memdup(path, strlen(path) + 1), ino};
}

static void ns_apply(struct ns *ns, const struct nsop *op)
{
	int32_t i;
	switch (op->kind) {
	case NS_LINK:
		ns_link(ns, op->a, op->ino);
		break;
	case NS_UNLINK:
		ns_remove(ns, op->a);
		break;
	case NS_RENAME:
		if ((i = ns_find(ns, op->a)) >= 0) {
			uint32_t ino = ns->d[i].ino;
			ns_remove(ns, op->a);
			ns_link(ns, op->b, ino);
		}
		break;
	default:
		KEEL_UNREACHABLE();
	}
}

static void ns_clear(struct ns *ns)
{
	for (uint32_t i = 0; i < ns->n; i++)
		keel_free(ns->d[i].path);
	ns->n = 0;
}

static void ns_copy(struct ns *to, const struct ns *from)
{
	ns_clear(to);
	for (uint32_t i = 0; i < from->n; i++)
		ns_link(to, from->d[i].path, from->d[i].ino);
}

static void nsop_push(struct simfs *fs, int kind, const char *a, const char *b, uint32_t ino)
{
	GROW(fs->pend, fs->n_pend, fs->cap_pend, 16);
	fs->pend[fs->n_pend++] = (struct nsop){
		kind, keel_memdup(a, strlen(a) + 1), b ? keel_memdup(b, strlen(b) + 1) : NULL, ino};
}

static void nsops_clear(struct simfs *fs)
{
	for (uint32_t i = 0; i < fs->n_pend; i++) {
		keel_free(fs->pend[i].a);
		keel_free(fs->pend[i].b);
	}
	fs->n_pend = 0;
}

/* ---- faults and accounting ------------------------------------------------ */

static int fault_check(struct simfs *fs, enum simfs_op op)
{
	struct fault *f = &fs->fault[op];
	if (!f->armed)
		return KEEL_OK;
	if (f->after) {
		f->after--;
		return KEEL_OK;
	}
	if (!f->sticky)
		f->armed = false;
	return f->err;
}

static uint64_t used_bytes(const struct simfs *fs)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < fs->n_ino; i++)
		n += fs->ino[i].size;
	return n;
}

static bool over_capacity(const struct simfs *fs, const struct inode *in, uint64_t new_size)
{
	if (!fs->capacity || new_size <= in->size)
		return false;
	return used_bytes(fs) + (new_size - in->size) > fs->capacity;
}

static struct inode *fd_inode(struct simfs *fs, int fd)
{
	KEEL_ASSERT(fd >= 0 && (uint32_t)fd < fs->n_fds && fs->fds[fd] >= 0);
	return &fs->ino[fs->fds[fd]];
}

static void pend_push(struct inode *in, uint64_t off, const uint8_t *p, uint64_t len)
{
	GROW(in->pend, in->n_pend, in->cap_pend, 8);
	in->pend[in->n_pend++] = (struct wr){off, len, p ? keel_memdup(p, len ? len : 1) : NULL};
}

static void wr_apply(struct inode *in, const struct wr *w, uint64_t len)
{
	if (!w->data)
		buf_resize(&in->dur, &in->dur_size, &in->dur_cap, w->off);
	else
		buf_write(&in->dur, &in->dur_size, &in->dur_cap, w->off, w->data, len);
}

static void inode_sync(struct inode *in)
{
	for (uint32_t i = 0; i < in->n_pend; i++) {
		wr_apply(in, &in->pend[i], in->pend[i].len);
		keel_free(in->pend[i].data);
	}
	in->n_pend = 0;
}

/* ---- the ops -------------------------------------------------------------- */

static int s_open(void *ctx, const char *path, int flags, int *fd)
{
	struct simfs *fs = ctx;
	int32_t i = ns_find(&fs->cur, path);
	uint32_t ino;
	if (i < 0) {
		if (!(flags & IO_CREATE))
			return KEEL_ENOENT;
		GROW(fs->ino, fs->n_ino, fs->cap_ino, 16);
		ino = fs->n_ino++;
		memset(&fs->ino[ino], 0, sizeof fs->ino[ino]);
		ns_link(&fs->cur, path, ino);
		nsop_push(fs, NS_LINK, path, NULL, ino);
	} else {
		ino = fs->cur.d[i].ino;
	}
	struct inode *in = &fs->ino[ino];
	if ((flags & IO_TRUNC) && in->size) {
		in->size = 0;
		pend_push(in, 0, NULL, 0);
	}
	uint32_t f = 0;
	while (f < fs->n_fds && fs->fds[f] >= 0)
		f++;
	if (f == fs->n_fds) {
		fs->fds = keel_realloc(fs->fds, ++fs->n_fds * sizeof *fs->fds);
	}
	fs->fds[f] = (int32_t)ino;
	*fd = (int)f;
	return KEEL_OK;
}

static int s_close(void *ctx, int fd)
{
	struct simfs *fs = ctx;
	fd_inode(fs, fd);
	fs->fds[fd] = -1;
	return KEEL_OK;
}

static int s_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	struct inode *in = fd_inode(ctx, fd);
	*got = 0;
	if (off < in->size) {
		*got = in->size - off < len ? in->size - off : len;
		memcpy(buf, in->cur + off, *got);
	}
	return KEEL_OK;
}

static int s_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	struct simfs *fs = ctx;
	struct inode *in = fd_inode(fs, fd);
	int rc = fault_check(fs, SIMFS_WRITE);
	if (!rc && over_capacity(fs, in, off + len))
		rc = KEEL_ENOSPC;
	if (rc)
		return rc;
	buf_write(&in->cur, &in->size, &in->cap, off, buf, len);
	pend_push(in, off, buf, len);
	return KEEL_OK;
}

static int s_fdatasync(void *ctx, int fd)
{
	struct simfs *fs = ctx;
	struct inode *in = fd_inode(fs, fd);
	int rc = fault_check(fs, SIMFS_FDATASYNC);
	if (rc)
		return rc; /* the unsynced writes stay unsynced: a crash decides */
	inode_sync(in);
	return KEEL_OK;
}

static int s_ftruncate(void *ctx, int fd, uint64_t len)
{
	struct simfs *fs = ctx;
	struct inode *in = fd_inode(fs, fd);
	if (over_capacity(fs, in, len))
		return KEEL_ENOSPC;
	buf_resize(&in->cur, &in->size, &in->cap, len);
	pend_push(in, len, NULL, 0);
	return KEEL_OK;
}

static int s_fallocate(void *ctx, int fd, uint64_t len)
{
	struct simfs *fs = ctx;
	struct inode *in = fd_inode(fs, fd);
	int rc = fault_check(fs, SIMFS_FALLOCATE);
	if (!rc && over_capacity(fs, in, len))
		rc = KEEL_ENOSPC;
	if (rc)
		return rc;
	if (len > in->size) {
		buf_resize(&in->cur, &in->size, &in->cap, len);
		pend_push(in, len, NULL, 0);
	}
	return KEEL_OK;
}

static int s_size(void *ctx, int fd, uint64_t *size)
{
	*size = fd_inode(ctx, fd)->size;
	return KEEL_OK;
}

static int s_rename(void *ctx, const char *from, const char *to)
{
	struct simfs *fs = ctx;
	int rc = fault_check(fs, SIMFS_RENAME);
	if (rc)
		return rc;
	int32_t i = ns_find(&fs->cur, from);
	if (i < 0)
		return KEEL_ENOENT;
	uint32_t ino = fs->cur.d[i].ino;
	ns_remove(&fs->cur, from);
	ns_link(&fs->cur, to, ino);
	nsop_push(fs, NS_RENAME, from, to, 0);
	return KEEL_OK;
}

static int s_unlink(void *ctx, const char *path)
{
	struct simfs *fs = ctx;
	int rc = fault_check(fs, SIMFS_UNLINK);
	if (rc)
		return rc;
	if (ns_find(&fs->cur, path) < 0)
		return KEEL_ENOENT;
	ns_remove(&fs->cur, path);
	nsop_push(fs, NS_UNLINK, path, NULL, 0);
	return KEEL_OK;
}

static int s_sync_dir(void *ctx, const char *dir)
{
	struct simfs *fs = ctx;
	(void)dir; /* one folder per simulated disk */
	int rc = fault_check(fs, SIMFS_SYNC_DIR);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < fs->n_pend; i++)
		ns_apply(&fs->dur, &fs->pend[i]);
	nsops_clear(fs);
	return KEEL_OK;
}

/* Folders are implicit (a file's path names them): a folder made is only
 * recorded, for simfs_stray_dir. */
static int s_mkdir(void *ctx, const char *dir)
{
	struct simfs *fs = ctx;
	for (uint32_t i = 0; i < fs->n_made; i++)
		if (!strcmp(fs->made[i], dir))
			return KEEL_OK;
	GROW(fs->made, fs->n_made, fs->cap_made, 8);
	fs->made[fs->n_made++] = keel_memdup(dir, strlen(dir) + 1);
	return KEEL_OK;
}

static int s_list(void *ctx, const char *dir, char ***names, uint32_t *n)
{
	struct simfs *fs = ctx;
	size_t dl = strlen(dir);
	char **v = keel_calloc(fs->cur.n + fs->n_made + 1, sizeof *v);
	uint32_t k = 0;
	for (uint32_t i = 0; i < fs->cur.n; i++) {
		const char *p = fs->cur.d[i].path;
		if (strncmp(p, dir, dl) == 0 && p[dl] == '/' && !strchr(p + dl + 1, '/'))
			v[k++] = keel_memdup(p + dl + 1, strlen(p + dl + 1) + 1);
	}
	for (uint32_t i = 0; i < fs->n_made; i++) { /* its folders, as readdir lists them */
		const char *p = fs->made[i];
		bool in = strncmp(p, dir, dl) == 0 && p[dl] == '/' && p[dl + 1];
		if (in && !strchr(p + dl + 1, '/'))
			v[k++] = keel_memdup(p + dl + 1, strlen(p + dl + 1) + 1);
	}
	*names = v;
	*n = k;
	return KEEL_OK;
}

/* A copy: the simulated file may be cut or grown while the map lives.
 * Recorded, so that damaged reads reach it (simfs_damage_maps). */
static int s_map(void *ctx, int fd, uint64_t len, unsigned flags, const uint8_t **p)
{
	(void)flags;
	struct simfs *fs = ctx;
	struct inode *in = fd_inode(fs, fd);
	KEEL_ASSERT(len && len <= in->size);
	uint8_t *m = keel_memdup(in->cur, len);
	GROW(fs->maps, fs->n_maps, fs->cap_maps, 4);
	fs->maps[fs->n_maps++] = (struct smap){(uint32_t)fs->fds[fd], m, len};
	*p = m;
	return KEEL_OK;
}

static void s_unmap(void *ctx, const uint8_t *p, uint64_t len)
{
	struct simfs *fs = ctx;
	(void)len;
	for (uint32_t i = 0; i < fs->n_maps; i++)
		if (fs->maps[i].p == p) {
			fs->maps[i] = fs->maps[--fs->n_maps];
			break;
		}
	keel_free((void *)(uintptr_t)p);
}

struct simfs *simfs_new(void)
{
	struct simfs *fs = keel_calloc(1, sizeof *fs);
	fs->ops = (struct io_fs){
		.ctx = fs,
		.open = s_open,
		.close = s_close,
		.pread = s_pread,
		.pwrite = s_pwrite,
		.fdatasync = s_fdatasync,
		.ftruncate = s_ftruncate,
		.fallocate = s_fallocate,
		.size = s_size,
		.rename = s_rename,
		.unlink = s_unlink,
		.sync_dir = s_sync_dir,
		.mkdir = s_mkdir,
		.list = s_list,
		.map = s_map,
		.unmap = s_unmap,
	};
	return fs;
}

const struct io_fs *simfs_ops(struct simfs *fs)
{
	return &fs->ops;
}

static void inode_free(struct inode *in)
{
	for (uint32_t i = 0; i < in->n_pend; i++)
		keel_free(in->pend[i].data);
	keel_free(in->pend);
	keel_free(in->cur);
	keel_free(in->dur);
	memset(in, 0, sizeof *in);
}

void simfs_free(struct simfs *fs)
{
	if (!fs)
		return;
	for (uint32_t i = 0; i < fs->n_ino; i++)
		inode_free(&fs->ino[i]);
	keel_free(fs->ino);
	ns_clear(&fs->cur);
	ns_clear(&fs->dur);
	keel_free(fs->cur.d);
	keel_free(fs->dur.d);
	nsops_clear(fs);
	for (uint32_t i = 0; i < fs->n_made; i++)
		keel_free(fs->made[i]);
	keel_free(fs->made);
	keel_free(fs->pend);
	keel_free(fs->fds);
	keel_free(fs->maps);
	keel_free(fs);
}

/* ---- crashes -------------------------------------------------------------- */

/* After a crash: the current state is the durable one; files no name
 * reaches are dropped. */
static void settle_after_crash(struct simfs *fs)
{
	ns_copy(&fs->cur, &fs->dur);
	nsops_clear(fs);
	for (uint32_t i = 0; i < fs->n_fds; i++)
		fs->fds[i] = -1;
	fs->n_maps = 0; /* the process that held them is gone */
	for (uint32_t i = 0; i < fs->n_ino; i++) {
		struct inode *in = &fs->ino[i];
		bool named = false;
		for (uint32_t k = 0; k < fs->cur.n && !named; k++)
			named = fs->cur.d[k].ino == i;
		if (!named) {
			inode_free(in);
			continue;
		}
		buf_resize(&in->cur, &in->size, &in->cap, 0);
		buf_write(&in->cur, &in->size, &in->cap, 0, in->dur, in->dur_size);
	}
}

void simfs_crash(struct simfs *fs, struct prng *p)
{
	for (uint32_t i = 0; i < fs->n_ino; i++) {
		struct inode *in = &fs->ino[i];
		uint32_t keep = (uint32_t)prng_below(p, in->n_pend + 1);
		for (uint32_t k = 0; k < keep; k++)
			wr_apply(in, &in->pend[k], in->pend[k].len);
		if (keep < in->n_pend && in->pend[keep].data && prng_below(p, 2))
			wr_apply(in, &in->pend[keep], prng_below(p, in->pend[keep].len + 1));
		for (uint32_t k = 0; k < in->n_pend; k++)
			keel_free(in->pend[k].data);
		in->n_pend = 0;
	}
	uint32_t keep = (uint32_t)prng_below(p, fs->n_pend + 1);
	for (uint32_t i = 0; i < keep; i++)
		ns_apply(&fs->dur, &fs->pend[i]);
	settle_after_crash(fs);
}

void simfs_crash_clean(struct simfs *fs)
{
	for (uint32_t i = 0; i < fs->n_ino; i++) {
		struct inode *in = &fs->ino[i];
		for (uint32_t k = 0; k < in->n_pend; k++)
			keel_free(in->pend[k].data);
		in->n_pend = 0;
	}
	settle_after_crash(fs);
}

void simfs_fail(struct simfs *fs, enum simfs_op op, uint32_t after, int err, bool sticky)
{
	fs->fault[op] = (struct fault){true, sticky, after, err};
}

void simfs_fail_clear(struct simfs *fs)
{
	memset(fs->fault, 0, sizeof fs->fault);
}

void simfs_set_capacity(struct simfs *fs, uint64_t bytes)
{
	fs->capacity = bytes;
}

/* ---- direct access -------------------------------------------------------- */

static struct inode *path_inode(struct simfs *fs, const char *path)
{
	int32_t i = ns_find(&fs->cur, path);
	return i < 0 ? NULL : &fs->ino[fs->cur.d[i].ino];
}

bool simfs_exists(struct simfs *fs, const char *path)
{
	return path_inode(fs, path) != NULL;
}

uint64_t simfs_size(struct simfs *fs, const char *path)
{
	struct inode *in = path_inode(fs, path);
	return in ? in->size : 0;
}

void simfs_peek(struct simfs *fs, const char *path, uint64_t off, void *buf, uint64_t len)
{
	struct inode *in = path_inode(fs, path);
	KEEL_ASSERT(in && off + len <= in->size);
	memcpy(buf, in->cur + off, len);
}

void simfs_poke(struct simfs *fs, const char *path, uint64_t off, const void *buf, uint64_t len)
{
	struct inode *in = path_inode(fs, path);
	KEEL_ASSERT(in && !in->n_pend);
	buf_write(&in->cur, &in->size, &in->cap, off, buf, len);
	buf_write(&in->dur, &in->dur_size, &in->dur_cap, off, buf, len);
}

uint32_t simfs_damage_maps(struct simfs *fs, const char *path, uint64_t off)
{
	int32_t d = ns_find(&fs->cur, path);
	uint32_t n = 0;
	for (uint32_t i = 0; d >= 0 && i < fs->n_maps; i++)
		if (fs->maps[i].ino == fs->cur.d[d].ino && off < fs->maps[i].len) {
			fs->maps[i].p[off] ^= 0x10;
			n++;
		}
	return n;
}

void simfs_resize(struct simfs *fs, const char *path, uint64_t size)
{
	struct inode *in = path_inode(fs, path);
	KEEL_ASSERT(in && !in->n_pend);
	buf_resize(&in->cur, &in->size, &in->cap, size);
	buf_resize(&in->dur, &in->dur_size, &in->dur_cap, size);
}

struct simfs *simfs_clone(const struct simfs *from)
{
	struct simfs *fs = simfs_new();
	for (uint32_t i = 0; i < from->cur.n; i++) {
		const struct inode *src = &from->ino[from->cur.d[i].ino];
		GROW(fs->ino, fs->n_ino, fs->cap_ino, 16);
		struct inode *in = &fs->ino[fs->n_ino++];
		memset(in, 0, sizeof *in);
		buf_write(&in->cur, &in->size, &in->cap, 0, src->cur, src->size);
		buf_write(&in->dur, &in->dur_size, &in->dur_cap, 0, src->cur, src->size);
		ns_link(&fs->cur, from->cur.d[i].path, fs->n_ino - 1);
		ns_link(&fs->dur, from->cur.d[i].path, fs->n_ino - 1);
	}
	return fs;
}

const char *simfs_stray_dir(const struct simfs *fs)
{
	for (uint32_t i = 0; i < fs->n_made; i++) {
		const char *d = fs->made[i];
		size_t dl = strlen(d);
		bool holds = false;
		for (uint32_t k = 0; k < fs->cur.n && !holds; k++)
			holds = !strncmp(fs->cur.d[k].path, d, dl) && fs->cur.d[k].path[dl] == '/';
		if (!holds)
			return d;
	}
	return NULL;
}
