/* server/shards.c — a node's groups (--shards N): N shards, shard i
 * starting with the i-th of N ranges of the 16384 slots
 * (kv_slot_range_last), and, past one shard, the metadata group that
 * holds the slot map (kv/slots.c); each keeps its log and snapshots in its
 * own folder, --dir for shard 0, --dir/shard-i past it, --dir/meta for
 * the metadata group, each recovered as a one-group node's folder is.
 * Shards added later (keel-cli shard add: the map's count of shards grows
 * in the metadata group's log) are opened as the node applies that entry,
 * and at each start past --shards as the map's snapshot counts them
 * (groups_grow): empty, serving no slot, their first members the metadata
 * group's configuration at the entry that added them (founders_at), so
 * that every node starts the shard's log alike; a shard placed on some
 * nodes (KEEL.ADDSHARD id...) has those of them as founders, and the
 * other nodes open it empty with none (g->outside: never its members,
 * they send its requests to them, requests.c).
 *
 * What it guarantees: a node never serves a slot from a group that does
 * not hold its keys. Every shard's slots and the map start from N (they
 * change later only through the logs: keel-cli reshard), so N is kept in
 * --dir/shards (one decimal number and a newline,
 * written durably when a node of several groups first starts; absent, it
 * is 1, so a one-group node's folder is as it always was), and a start
 * whose --shards differs from it is refused, as is a first start of
 * several groups over a folder whose group 0 already holds data. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "io/clock.h"
#include "io/fs.h"
#include "resp/parse.h"
#include "server/server.h"
#include "storage/journal.h"

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
				  strncmp(names[i], "shard-", 6) && strcmp(names[i], "meta") &&
				  strcmp(names[i], JOURNAL_FILE));
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
				"the count of shards cannot change (keel-cli reshard moves slots "
				"between them): start it with --shards %u, or start from an empty "
				"--dir",
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

/* Opens group `id` (SERVER_META_GROUP: the metadata group) from --dir/sub
 * (NULL: --dir itself) into s->groups[at]. */
static int open_one(struct server *s, uint32_t at, uint32_t id, const char *sub, bool write,
		    const struct raft_config *founders, struct keel_errmsg *err)
{
	struct group *g = keel_calloc(1, sizeof *g);
	s->groups[at] = g;
	g->node = s;
	g->id = id;
	g->meta = id == SERVER_META_GROUP;
	/* the ids of the requests it forwards start past those of this node's
	 * last run: a leader's reply to a request of that run (still in the
	 * leader's log) must not answer one of this run that drew its number.
	 * The wall clock's milliseconds, 2^20 ids each (about 2^61 now). */
	int64_t now = server_now_ms();
	g->next_fwd_id = now > 0 ? (uint64_t)now << 20 : 0;
	int len = sub ? snprintf(g->dir, sizeof g->dir, "%s/%s", s->cfg.dir, sub)
		      : snprintf(g->dir, sizeof g->dir, "%s", s->cfg.dir);
	if (len < 0 || (size_t)len >= sizeof g->dir) {
		keel_errmsg_set(err, "--dir %s: too long for its shards' folders", s->cfg.dir);
		return KEEL_EINVAL;
	}
	if (id == 0)
		s->g = g; /* the node's first group, even if its start fails */
	else if (g->meta)
		s->meta = g;
	g->founders = founders; /* a shard added later: NULL for --cluster */
	int rc = group_open(g, err);
	g->founders = NULL;	     /* the core took a copy */
	if (!rc && id == 0 && write) /* group 0 made the folder */
		rc = write_count(s->cfg.dir, s->cfg.shards, err);
	return rc;
}

static bool same_members(const struct raft_config *a, const struct raft_config *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct raft_member *m = raft_config_find(b, a->members[i].id);
		if (!m || m->role != a->members[i].role || strcmp(m->addr, a->members[i].addr))
			return false;
	}
	return true;
}

/* The first members of a shard added by the metadata group's entry `at`
 * (0: not known), into *out: the metadata group's configuration at that
 * entry, the same on every node that has the entry, whatever changed
 * since (each node opens the shard as it applies the entry, or later).
 * Not known (a start, a snapshot past the entry): the members the node was
 * started with while they are still the metadata group's; else none
 * (out->n == 0), and the shard's leader gives this node the shard as it
 * does any new member's (server/conform.c). */
static void founders_at(struct server *s, raft_index at, struct raft_config *out)
{
	const struct raft *r = s->meta->r;
	out->n = 0;
	if (!r)
		return;
	if (at && raft_config_index_of(r) <= at) {
		*out = *raft_config_of(r);
		return;
	}
	for (raft_index i = at; at && i >= raft_first_index(r) && i > 0; i--) {
		const struct raft_entry *e = raft_entry_at(r, i);
		if (e && e->type == RAFT_ENTRY_CONFIG) {
			if (raft_config_decode(out, e->data, e->len) != KEEL_OK)
				out->n = 0;
			return;
		}
	}
	if (s->cfg.has_cluster && same_members(raft_config_of(r), &s->cfg.cluster))
		*out = *raft_config_of(r);
}

/* The founders of a shard placed on some nodes: those of them that are
 * in *c (a node not among them holds the shard empty: groups_grow). */
static void place(struct raft_config *c, const struct kv_shard_members *placed)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->n; i++)
		for (uint32_t j = 0; j < placed->n; j++)
			if (c->members[i].id == placed->ids[j])
				c->members[k++] = c->members[i];
	c->n = k;
}

bool group_placed_on(const struct group *g, raft_id id)
{
	for (uint32_t i = 0; i < g->n_placed; i++)
		if (g->placed[i] == id)
			return true;
	return !g->n_placed;
}

KEEL_STATIC_ASSERT(sizeof(raft_id) == sizeof(uint64_t), "a placed list is copied whole");

/* Whether this node is outside placed shard g: its copy of the shard's
 * configuration does not name it (a node listed, until its leader has
 * added it), or it was told it was removed. A voter keeps its part until
 * the configuration drops it (the shard's quorum may need it); a learner
 * the map no longer lists has none to keep, and leaves at once: taken
 * off while down and not told (a learner never campaigns, so no member
 * answers it with a notice), it would wait for a leader that no longer
 * sends to it, and time its clients' requests out. */
static bool outside_of(const struct server *s, const struct group *g)
{
	const struct raft_member *m =
		g->r ? raft_config_find(raft_config_of(g->r), s->cfg.id) : NULL;
	return !m || g->removed_at || group_waits_added(g) ||
	       (m->role == RAFT_LEARNER && !group_placed_on(g, s->cfg.id));
}

bool group_led_seen(const struct group *g)
{
	return g->led_seen ||
	       (g->outside ? g->lead_hint != 0 : g->r && raft_leader_of(g->r) != RAFT_ID_NONE);
}

bool group_waits_added(const struct group *g)
{
	return raft_config_index_of(g->r) <= g->relisted_past;
}

void groups_place(struct server *s)
{
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	for (uint32_t i = 0; sl && i < sl->n_placed; i++) { /* each shard placed on some */
		const struct kv_shard_members *m = &sl->placed[i];
		struct group *g = m->shard < s->n_shards ? s->groups[m->shard] : NULL;
		if (!g || !g->r)
			continue;
		if (m->n != g->n_placed || memcmp(g->placed, m->ids, m->n * sizeof *m->ids)) {
			char list[KV_SHARD_MEMBERS_MAX * 21 + 1];
			size_t len = 0;
			memcpy(g->placed, m->ids, m->n * sizeof *m->ids);
			g->n_placed = m->n;
			g->outside_at = 0;
			g->led_seen = false;
			for (uint32_t k = 0; k < m->n; k++)
				len += (size_t)snprintf(list + len, sizeof list - len, " %llu",
							(unsigned long long)m->ids[k]);
			fprintf(stderr, "[%llu] shard %u placed on nodes%s\n",
				(unsigned long long)s->cfg.id, g->id, list);
		}
		g->led_seen = group_led_seen(g); /* each tick: a group quiet or not */
		bool listed = group_placed_on(g, s->cfg.id);
		if (listed && g->removed_at && !s->meta->removed_at) {
			/* removed, and listed again since (perhaps before this node
			 * flipped outside): a new member, which its leader adds (a
			 * copy it kept catches up; one freed is rebuilt first, as
			 * no frame of the group reached it while removed). Outside
			 * until it holds a configuration past the one that removed
			 * it: the copy it kept may name it, and a member of that
			 * old configuration would campaign, and be told again */
			group_unwipe(g);
			g->relisted_past = g->removed_at;
			g->removed_at = 0;
			g->was_member = false;
			group_wake(g, 0);
			fprintf(stderr, "[%llu] shard %u: placed on this node again\n",
				(unsigned long long)s->cfg.id, g->id);
		}
		bool outside = outside_of(s, g);
		/* taken off, known committed (so outside): what it kept leaves
		 * memory */
		uint64_t keys = g->removed_at && !listed ? kv_keys_total(&g->kv) : 0;
		if (keys && group_wipe(g))
			fprintf(stderr,
				"[%llu] shard %u: the copy this node kept (%llu keys) is freed; "
				"its log and snapshot stay on disk\n",
				(unsigned long long)s->cfg.id, g->id, (unsigned long long)keys);
		if (outside == g->outside)
			continue;
		g->outside = outside;
		g->lead_hint = 0;
		g->lead_term = 0;
		if (!outside)
			group_wake(g, 0);
		else
			replication_pump(g); /* its replicas' streams end: they go elsewhere */
		fprintf(stderr, "[%llu] shard %u: %s\n", (unsigned long long)s->cfg.id, g->id,
			outside ? "this node is no longer one of its members; it sends the shard's "
				  "requests to them (the copy it holds is not served)"
				: "this node is one of its members");
	}
}

void groups_added_at(struct server *s, raft_index at, uint32_t before)
{
	const struct kv_slots *sl = kv_slots_of(&s->meta->kv);
	uint32_t max = sizeof s->grow_at / sizeof *s->grow_at;
	uint32_t pending = sl && sl->n_shards > s->n_shards ? sl->n_shards - s->n_shards : 0;
	uint32_t earlier = before > s->n_shards ? before - s->n_shards : 0;
	while (s->n_grow_at < earlier && s->n_grow_at < max) { /* not by an entry: unknown */
		s->grow_placed[s->n_grow_at] = (struct kv_shard_members){0};
		s->grow_at[s->n_grow_at++] = 0;
	}
	while (s->n_grow_at < pending && s->n_grow_at < max) { /* one entry may add several */
		const struct kv_shard_members *m = kv_shard_placed(sl, s->n_shards + s->n_grow_at);
		s->grow_placed[s->n_grow_at] = m ? *m : (struct kv_shard_members){0};
		s->grow_at[s->n_grow_at++] = at;
	}
}

/* Opens shard s->n_shards (the next), founded by *founders (n == 0: by
 * none), placed as *placed (NULL: on every node). */
static int grow_one(struct server *s, const struct raft_config *founders,
		    const struct kv_shard_members *placed, struct keel_errmsg *err)
{
	uint32_t id = s->n_shards;
	char sub[32];
	snprintf(sub, sizeof sub, "shard-%u", id);
	if (s->meta->quiet) /* its quiet bit is its place's, which moves */
		group_wake(s->meta, 0);
	size_t words = (s->n_groups + 63) / 64, more = (s->n_groups + 64) / 64;
	if (s->quiet_bits && more > words) {
		s->quiet_bits = keel_realloc(s->quiet_bits, more * sizeof *s->quiet_bits);
		s->quiet_bits[words] = 0;
	}
	s->groups = keel_realloc(s->groups, (s->n_groups + 1) * sizeof *s->groups);
	/* the metadata group stays last */
	s->groups[s->n_groups] = s->groups[s->n_groups - 1];
	s->n_groups++;
	s->n_shards++;
	int rc = open_one(s, id, id, sub, false, founders, err);
	struct group *g = s->groups[id];
	if (placed) { /* kept so by groups_place */
		memcpy(g->placed, placed->ids, placed->n * sizeof *placed->ids);
		g->n_placed = placed->n;
		g->outside = outside_of(s, g);
	}
	if (!rc)
		fprintf(stderr, "[%llu] shard %u added (%s)%s\n", (unsigned long long)s->cfg.id, id,
			sub,
			!g->outside			? ""
			: group_placed_on(g, s->cfg.id) ? ": placed on this node, which sends "
							  "its requests to its members "
							  "until its leader adds it"
							: ": placed on other nodes, this one sends "
							  "its requests to them");
	return rc;
}

int groups_grow(struct server *s, struct keel_errmsg *err)
{
	const struct kv_slots *sl = s->meta ? kv_slots_of(&s->meta->kv) : NULL;
	int rc = KEEL_OK;
	for (uint32_t k = 0;
	     !rc && sl && sl->n_shards > s->n_shards && s->n_shards < SERVER_SHARDS_MAX; k++) {
		uint32_t id = s->n_shards;
		struct raft_config founders;
		raft_index at = k < s->n_grow_at ? s->grow_at[k] : 0;
		founders_at(s, at, &founders);
		const struct kv_shard_members *placed = kv_shard_placed(sl, id);
		/* on some nodes: the others hold it empty, never members. The
		 * founders are those it was placed on by the entry that added it;
		 * not known (a start past that entry), none: the map's list may
		 * have changed since (KEEL.PLACESHARD), and a node listed later
		 * that founded its own group would serve the shard beside the
		 * real one. Its leader adds this node if it is to be a member. */
		if (placed && at)
			place(&founders, &s->grow_placed[k]);
		else if (placed)
			founders.n = 0;
		/* a node not among the founders (placed on other nodes, or
		 * joined after the entry) opens it empty too: founded by the
		 * others, it would hold a first configuration that leaves it
		 * out, as a node removed by it does, and believe a member that
		 * tells it so (members.c) */
		if (!raft_config_find(&founders, s->cfg.id))
			founders.n = 0;
		rc = grow_one(s, &founders, placed, err);
	}
	s->n_grow_at = 0;
	return rc;
}

bool groups_left(const struct server *s)
{
	const struct io_fs *fs = io_fs_posix();
	char **names, want[32];
	uint32_t n;
	snprintf(want, sizeof want, "shard-%u", s->n_shards);
	if (fs->list(fs->ctx, s->cfg.dir, &names, &n))
		return false;
	bool found = false;
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(names[i], want))
			found = true;
	io_names_free(names, n);
	return found;
}

int groups_open_left(struct server *s, struct keel_errmsg *err)
{
	struct raft_config none = {0};
	int rc = KEEL_OK;
	while (!rc && s->n_shards < SERVER_SHARDS_MAX && groups_left(s)) {
		fprintf(stderr,
			"[%llu] shard %u: its folder is here, past the map this node holds: "
			"opened from its own log, founding nothing, until its members drop "
			"this node\n",
			(unsigned long long)s->cfg.id, s->n_shards);
		rc = grow_one(s, &none, NULL, err);
	}
	return rc;
}

int groups_open(struct server *s, struct keel_errmsg *err)
{
	uint32_t n = s->cfg.shards ? s->cfg.shards : 1;
	bool write;
	int rc = check_count(s, &write, err);
	if (rc)
		return rc;
	/* what the journal holds goes into the groups' logs before they are
	 * read; a node of several groups keeps one (one sync a pass) */
	struct storage_options o;
	struct journal_replayed did;
	group_storage_options(s, &o);
	rc = journal_recover(io_fs_posix(), s->cfg.dir, &o, &did, err);
	if (rc)
		return rc;
	if (did.appended)
		fprintf(stderr,
			"[%llu] journal: %llu entries its groups' logs lacked, from %u records\n",
			(unsigned long long)s->cfg.id, (unsigned long long)did.appended,
			did.records);
	s->groups = keel_calloc(n + 1, sizeof *s->groups);
	for (uint32_t i = 0; i < n && !rc; i++) {
		char sub[32];
		snprintf(sub, sizeof sub, "shard-%u", i);
		s->n_groups = s->n_shards = i + 1;
		rc = open_one(s, i, i, i ? sub : NULL, write, NULL, err);
	}
	if (!rc && n > 1) {
		s->n_groups++;
		rc = open_one(s, n, SERVER_META_GROUP, "meta", false, NULL, err);
	}
	if (!rc) /* the shards added since the first start, as the map's snapshot has them */
		rc = groups_grow(s, err);
	if (!rc && n > 1)
		rc = journal_create(io_fs_posix(), s->cfg.dir, JOURNAL_BYTES_DEFAULT,
				    io_random_posix()->u64(io_random_posix()->ctx), &s->journal,
				    err);
	return rc ? rc : check_skip(s, err);
}

struct group *groups_find(struct server *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->n_groups; i++)
		if (s->groups[i]->id == id)
			return s->groups[i];
	return NULL;
}

void group_first_slots(const struct server *s, const struct group *g, uint16_t *first,
		       uint16_t *last)
{
	uint32_t n = s->cfg.shards ? s->cfg.shards : 1;
	if (n == 1) {
		*first = 0;
		*last = KV_SLOTS - 1;
	} else if (g->meta || g->id >= n) { /* none: first > last */
		*first = 1;
		*last = 0;
	} else {
		*first = g->id ? (uint16_t)(kv_slot_range_last(g->id - 1, n) + 1) : 0;
		*last = kv_slot_range_last(g->id, n);
	}
}
