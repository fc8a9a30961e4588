/* server/poison.h — the last line of defence against a poison pill: a
 * committed entry whose application fails in a way the state machine did
 * not foresee (a bug: an assertion, out of memory, a crash). Such an entry
 * fails alike on every replica, and again at every restart, since
 * recovery applies it again. What keel does (docs/operations.md, "A
 * committed entry that fails to apply"):
 *
 *   1. The node stops, and says which entry: while a command entry is
 *      applied its index is kept where the fatal paths (SIGABRT from
 *      KEEL_ASSERT and out of memory, SIGSEGV, SIGBUS, SIGFPE, SIGILL, a
 *      sanitizer's report) find it; they write the log line
 *      `applying committed entry N failed` and the failure record
 *      DIR/apply-failed (the index, fsynced) before the process dies.
 *      Nothing is skipped, nothing reordered.
 *   2. The operator starts the node with `--skip-entry N`. It is refused
 *      unless the node's failure record names N: a node applies as a no-op
 *      only an entry that failed on it. The choice is kept in
 *      DIR/skip-entry (so a restart before a snapshot covers N skips it
 *      again) and the failure record goes once N is passed.
 *   3. Skipped, the entry is applied as every request in it answered
 *      `-ERR ... skipped` and recorded as such in the session table: the
 *      same reply, the same state, on every replica that skips it (each
 *      does, once it has failed on it), so replicas never diverge.
 *
 * A node whose snapshot already covers N (it applied N, or installed a
 * snapshot of a member that did) has no failure record of N: the flag is
 * refused there, and the stale record removed at start. */
#ifndef KEEL_SERVER_POISON_H
#define KEEL_SERVER_POISON_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "raft/raft.h"
#include "resp/parse.h"

struct poison {
	raft_index failed; /* DIR/apply-failed: the entry that failed here (0: none) */
	raft_index skip;   /* DIR/skip-entry: applied as a no-op (0: none) */
	char test_key[64]; /* test builds: KEEL_TEST_POISON_KEY ("": none) */
};

struct group;

/* A record's text (what the node writes: the index in decimal, then a
 * newline) into *out: KEEL_OK only for 1 to 19 digits, with or without
 * that one newline, naming an index in 1..INT64_MAX; anything else is
 * KEEL_ECORRUPT (no sign, space, second line or NUL), and *out is 0. */
int poison_record_parse(const char *buf, size_t len, raft_index *out);
/* At start, after the snapshot is loaded and before any entry is applied:
 * reads the records, checks --skip-entry, installs the fatal paths (not
 * for an embedded server: the signal handlers and what they read are the
 * process's; the records work as always). An error (with its reason in
 * err) if the setting is refused. */
int poison_start(struct group *g, raft_index snapshot_index, struct keel_errmsg *err);
/* Around a command entry's application: its index while it runs (0 after).
 * poison_applied also retires the failure record once its entry is passed. */
void poison_applying(const struct group *g, raft_index index);
void poison_applied(struct group *g, raft_index index);
/* Whether the entry at index is the one to apply as a no-op. */
bool poison_skip(const struct group *g, raft_index index);
/* Test builds only (a sanitizer build): a command whose first argument is
 * KEEL_TEST_POISON_KEY, set in the node's environment at start, fails to
 * apply (an assertion), as a bug would. Elsewhere, and when unset, nothing. */
void poison_test_check(const struct group *g, const struct resp_arg *argv, uint32_t argc);

#endif
