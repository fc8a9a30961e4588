/* resp/parse.h — parsing what clients send (RESP multibulk requests and
 * inline commands, as redis-cli and telnet send them) and scanning what
 * servers answer (one RESP2/RESP3 reply, to relay or check it), with
 * Redis's limits and Redis's protocol error messages. Bytes in, values
 * out: no I/O, no allocation beyond the request's own argument table. */
#ifndef KEEL_RESP_PARSE_H
#define KEEL_RESP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_INLINE_MAX (64u * 1024)   /* an inline request, or a count line */
#define RESP_BULK_MAX	(512ull << 20) /* one argument (proto-max-bulk-len) */
#define RESP_ARGS_MAX	2147483647u    /* arguments in one request (INT_MAX) */

enum resp_status {
	RESP_OK = 0,   /* a whole request (or reply) was parsed */
	RESP_MORE = 1, /* incomplete: call again with more bytes */
	RESP_ERR = 2,  /* a protocol error: reply it and close the connection */
};

struct resp_arg {
	const uint8_t *p;
	size_t len;
};

/* One request's arguments. They point into the input buffer, or into
 * scratch for inline arguments that had escapes; valid until the next
 * parse or until the input buffer changes. */
struct resp_req {
	struct resp_arg *argv;
	uint32_t argc, cap;
	uint8_t *scratch;
	size_t scratch_cap;
	char err[64]; /* a protocol error message built for this request */
};

void resp_req_init(struct resp_req *r);
void resp_req_free(struct resp_req *r);

/* Parses one request from buf[0..len). RESP_OK: *used bytes consumed, the
 * request in r (argc may be 0: an empty line or count, to be skipped).
 * RESP_MORE: nothing consumed; wait until at least *need bytes are
 * buffered. RESP_ERR: *err is Redis's message ("Protocol error: ..."). */
int resp_parse_request(struct resp_req *r, const uint8_t *buf, size_t len, size_t *used,
		       size_t *need, const char **err);

/* Scans one complete reply value (any RESP2/RESP3 type, nested) at the
 * start of buf: RESP_OK with its length in *frame, RESP_MORE, or RESP_ERR
 * for bytes that are not RESP. */
int resp_scan_reply(const uint8_t *buf, size_t len, size_t *frame);

/* Redis's string2ll: an optional '-', no leading zeros, no '+', no spaces,
 * within int64. */
bool resp_str2ll(const uint8_t *p, size_t len, int64_t *out);

#endif
