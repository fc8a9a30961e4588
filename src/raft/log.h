/* raft/log.h — the in-memory Raft log: every entry since the purge point,
 * contiguous, with copies of their payloads. The durable copy is the
 * embedder's (storage/); this one serves appends, term look-ups and apply.
 *
 * Entries live at e[0..n) with indexes start..start+n-1. The term of entry
 * start-1 is kept in prev_term when known (after a purge or a snapshot), so
 * the log-matching check works at the boundary. */
#ifndef KEEL_RAFT_LOG_H
#define KEEL_RAFT_LOG_H

#include "raft/raft.h"

struct raft_log {
	struct raft_entry *e;
	uint64_t n;
	uint64_t cap;
	raft_index start;
	raft_term prev_term;
	bool prev_known;
	uint64_t bytes; /* payload bytes held */
};

void raft_log_init(struct raft_log *l, raft_index start, raft_term prev_term, bool prev_known);
void raft_log_free(struct raft_log *l);
raft_index raft_log_last(const struct raft_log *l);
/* The entry at i, or NULL if it is not held. Valid until the log changes. */
const struct raft_entry *raft_log_get(const struct raft_log *l, raft_index i);
/* Term of entry i if known (held, or the one just before start). */
bool raft_log_term(const struct raft_log *l, raft_index i, raft_term *t);
/* Appends a copy at index last+1. */
void raft_log_append(struct raft_log *l, raft_term term, uint8_t type, const void *data,
		     uint32_t len);
/* Removes entries >= from. */
void raft_log_truncate(struct raft_log *l, raft_index from);
/* Removes entries < below (below <= last+1), remembering the term of below-1. */
void raft_log_purge(struct raft_log *l, raft_index below);
/* Drops everything: the log restarts after index `prev` of term `prev_term`. */
void raft_log_reset(struct raft_log *l, raft_index prev, raft_term prev_term);

#endif
