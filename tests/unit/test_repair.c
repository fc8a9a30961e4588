/* tests/unit/test_repair.c — src/server/repair.c: when a damaged log
 * suffix may be discarded, table-driven. */
#include <string.h>

#include "unit.h"

#include "server/repair.h"

static uint32_t encode(uint32_t voters, uint32_t learners, uint8_t *buf)
{
	struct raft_config c = {0};
	for (uint32_t i = 0; i < voters + learners; i++) {
		c.members[c.n].id = i + 1;
		c.members[c.n].role = i < voters ? RAFT_VOTER : RAFT_LEARNER;
		c.n++;
	}
	return raft_config_encode(&c, buf);
}

struct repair_case {
	const char *name;
	int snap_voters;  /* 0: no snapshot */
	int entry_voters; /* 0: no configuration entry */
	uint64_t vote;
	bool allowed;
	const char *why;
};

static const struct repair_case cases[] = {
	{"nothing to go by", 0, 0, 0, false, "no configuration"},
	{"three voters in the log", 0, 3, 0, true, NULL},
	{"three voters in the snapshot", 3, 0, 2, true, NULL},
	{"one voter", 0, 1, 0, false, "single voter"},
	{"one voter in the snapshot", 1, 0, 0, false, "single voter"},
	{"the log's newer configuration wins", 3, 1, 0, false, "single voter"},
	{"voted for itself", 0, 3, 1, false, "voted for itself"},
	{"voted for another", 0, 3, 3, true, NULL},
};

static void table(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct repair_case *t = &cases[k];
		struct storage_loaded l;
		memset(&l, 0, sizeof l);
		uint8_t buf[RAFT_CONFIG_BYTES_MAX];
		struct wal_entry e[2] = {{.term = 2, .index = 10, .type = RAFT_ENTRY_COMMAND}};
		l.entries = e;
		l.n_entries = 1;
		l.term = 4;
		l.vote = t->vote;
		l.damage.found = true;
		l.damage.first_bad = 12;
		if (t->snap_voters) {
			l.has_snap = true;
			l.snap.meta_len = encode((uint32_t)t->snap_voters, 1, l.snap.meta);
		}
		if (t->entry_voters) {
			uint32_t len = encode((uint32_t)t->entry_voters, 0, buf);
			e[1] = (struct wal_entry){3, 11, RAFT_ENTRY_CONFIG, len, buf};
			l.n_entries = 2;
		}
		struct keel_errmsg why = {{0}};
		raft_id self = 1;
		int rc = repair_policy(&self, &l, &why);
		if (t->allowed != (rc == KEEL_OK))
			fail_msg("%s: rc %d (%s)", t->name, rc, why.text);
		if (t->why && !strstr(why.text, t->why))
			fail_msg("%s: reason '%s' lacks '%s'", t->name, why.text, t->why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table),
	};
	return UNIT_RUN("repair", tests);
}
