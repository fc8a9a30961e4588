/* server/entry.h — what a command log entry holds: the leader's time, the
 * client session and sequence number (0: none), and one or more commands
 * (several for MULTI/EXEC, applied together). Format in entry.c. */
#ifndef KEEL_SERVER_ENTRY_H
#define KEEL_SERVER_ENTRY_H

#include <stdint.h>

#include "base/err.h"
#include "resp/buf.h"
#include "resp/parse.h"

#define ENTRY_CMDS_MAX 100000

struct entry_cmd {
	struct resp_arg *argv;
	uint32_t argc;
};

struct entry {
	int64_t time_ms;
	uint64_t session, seq;
	struct entry_cmd *cmds;
	uint32_t n_cmds;
};

/* The parts of an encoding: the header, then n_cmds commands. */
void entry_header(struct rbuf *out, int64_t time_ms, uint64_t session, uint64_t seq,
		  uint32_t n_cmds);
void entry_cmd_append(struct rbuf *out, const struct resp_arg *argv, uint32_t argc);
/* Appends the encoding of n commands to out. */
void entry_encode(struct rbuf *out, int64_t time_ms, uint64_t session, uint64_t seq,
		  const struct entry_cmd *cmds, uint32_t n);
/* Decodes; arguments point into p. KEEL_ECORRUPT if malformed. Free with
 * entry_free. */
int entry_decode(struct entry *e, const uint8_t *p, size_t n);
void entry_free(struct entry *e);

#endif
