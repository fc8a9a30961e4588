/* server/entry.h — what a command log entry holds: the leader's time and
 * its count of databases, and one or more requests, each with its client
 * session and sequence number (0: none), the lowest sequence number of the
 * session whose reply its connection had not yet been given when it was
 * sent (the ack of thesis §6.3: replies below it need not be kept), the
 * database it runs in, whether it is a MULTI/EXEC, and its commands
 * (several for MULTI/EXEC, applied together). Format in entry.c. */
#ifndef KEEL_SERVER_ENTRY_H
#define KEEL_SERVER_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "resp/buf.h"
#include "resp/parse.h"

#define ENTRY_CMDS_MAX 100000

struct entry_cmd {
	struct resp_arg *argv;
	uint32_t argc;
};

struct entry_req_head {
	uint64_t session, seq, ack;
	uint32_t db; /* the database its first command runs in (SELECT moves the rest) */
	bool multi;  /* a MULTI/EXEC: its replies are an array */
	/* a plain connection's write, whose refusal for a slot being moved
	 * its node holds and sends again (server/retry.c): refused as well
	 * when the write of its session before it was (group.c) ... */
	bool held;
	bool resend; /* ... unless it is such a write sent again */
};
/* Marks the request whose encoding starts at req as sent again. */
void entry_req_mark_resend(uint8_t *req);

struct entry_req {
	struct entry_req_head h;
	struct entry_cmd *cmds;
	uint32_t n_cmds;
};

struct entry {
	int64_t time_ms;
	uint32_t dbs; /* the leader's `databases`: 1 .. KV_DBS_MAX */
	struct entry_req *reqs;
	uint32_t n_reqs;
	struct entry_cmd *cmd_store; /* every request's commands */
	struct resp_arg *arg_store;  /* every command's arguments */
};

/* An encoding is built from parts: the entry header, then per request
 * its header and its commands. */
void entry_header(struct rbuf *out, int64_t time_ms, uint32_t dbs, uint32_t n_reqs);
void entry_req_header(struct rbuf *out, const struct entry_req_head *h, uint32_t n_cmds);
void entry_cmd_append(struct rbuf *out, const struct resp_arg *argv, uint32_t argc);
/* Decodes; arguments point into p. KEEL_ECORRUPT if malformed. Free with
 * entry_free. */
int entry_decode(struct entry *e, const uint8_t *p, size_t n);
void entry_free(struct entry *e);
/* Argument k of an encoded command (entry_cmd_append's), without decoding
 * the rest; false if it has no such argument or is malformed. */
bool entry_cmd_arg(const uint8_t *p, size_t n, uint32_t k, struct resp_arg *arg);
/* Decodes one command (entry_cmd_append's bytes) into *argv, an array of
 * *cap arguments the caller keeps (and frees), grown when too small. */
int entry_cmd_decode(const uint8_t *p, size_t n, struct resp_arg **argv, uint32_t *cap,
		     uint32_t *argc);

#endif
