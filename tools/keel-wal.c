/* tools/keel-wal.c — look at and repair a node's data folder, offline:
 *   keel-wal check DIR          recover it as a start would (a torn tail is
 *                               cut) and print what it holds, or why the
 *                               node cannot start
 *   keel-wal dump DIR [FROM [TO]]   list the entries (index, term, type, len)
 *   keel-wal repair DIR ID      discard a damaged log suffix so that node ID
 *                               fetches it again from the leader; refused
 *                               when that could lose an acknowledged entry
 *                               (server/repair.h)
 * Exit status: 0 done, 1 refused or damaged, 2 usage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "raft/raft.h"
#include "server/repair.h"
#include "storage/storage.h"

static const char *type_name(uint8_t t)
{
	switch (t) {
	case RAFT_ENTRY_NOOP:
		return "noop";
	case RAFT_ENTRY_COMMAND:
		return "command";
	case RAFT_ENTRY_CONFIG:
		return "config";
	default:
		return "?";
	}
}

static void summary(const struct storage_loaded *l)
{
	printf("hard state: term %" PRIu64 ", vote %" PRIu64 "\n", l->term, l->vote);
	if (l->has_snap)
		printf("snapshot: index %" PRIu64 ", term %" PRIu64 ", %" PRIu64 " bytes\n",
		       l->snap.index, l->snap.term, l->snap.size);
	else
		printf("snapshot: none\n");
	if (l->n_entries)
		printf("log: %" PRIu64 "..%" PRIu64 " (%u entries after the snapshot)\n",
		       l->entries[0].index, l->entries[l->n_entries - 1].index, l->n_entries);
	else
		printf("log: empty after the snapshot\n");
}

static int open_dir(const char *dir, bool repair, raft_id *self, struct storage **st)
{
	struct storage_options o;
	storage_options_default(&o);
	o.repair = repair;
	o.may_repair = repair_policy;
	o.repair_ctx = self;
	struct keel_errmsg err;
	int rc = storage_open(io_fs_posix(), dir, &o, st, &err);
	if (rc)
		fprintf(stderr, "keel-wal: %s: %s\n", dir, err.text);
	return rc;
}

static int dump(struct storage *st, int argc, char **argv)
{
	const struct storage_loaded *l = storage_loaded(st);
	uint64_t from = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
	uint64_t to = argc > 4 ? strtoull(argv[4], NULL, 10) : UINT64_MAX;
	for (uint32_t i = 0; i < l->n_entries; i++) {
		const struct wal_entry *e = &l->entries[i];
		if (e->index >= from && e->index <= to)
			printf("%" PRIu64 " term=%" PRIu64 " %s len=%u\n", e->index, e->term,
			       type_name(e->type), e->len);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "check") && strcmp(argv[1], "dump") &&
			 strcmp(argv[1], "repair")) ||
	    (!strcmp(argv[1], "repair") && argc != 4)) {
		fprintf(stderr, "usage: keel-wal check DIR | dump DIR [FROM [TO]] | "
				"repair DIR ID\n");
		return 2;
	}
	bool repair = !strcmp(argv[1], "repair");
	raft_id self = repair ? strtoull(argv[3], NULL, 10) : 0;
	struct storage *st;
	if (open_dir(argv[2], repair, &self, &st))
		return 1;
	const struct storage_loaded *l = storage_loaded(st);
	int rc = 0;
	if (!strcmp(argv[1], "dump")) {
		rc = dump(st, argc, argv);
	} else {
		if (l->repaired)
			printf("repaired: discarded from index %" PRIu64 " (%s at offset %" PRIu64
			       "; entries up to %" PRIu64 " were seen); the leader sends them "
			       "again\n",
			       l->damage.first_bad, l->damage.file, l->damage.offset,
			       l->damage.last_seen);
		summary(l);
	}
	storage_close(st);
	return rc;
}
