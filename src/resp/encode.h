/* resp/encode.h — writing replies in RESP2 or RESP3 (the protocol a
 * connection chose with HELLO), into a growable buffer. */
#ifndef KEEL_RESP_ENCODE_H
#define KEEL_RESP_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "resp/buf.h"

void resp_simple(struct rbuf *b, const char *s); /* +s */
/* A HELP subcommand's reply: an array of its lines, each a simple string. */
void resp_help(struct rbuf *b, const char *const *lines, size_t n);
void resp_error(struct rbuf *b, const char *s);	 /* -s: s starts with its code, "ERR ..." */
void resp_errorf(struct rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void resp_int(struct rbuf *b, int64_t v); /* :v */
void resp_bulk(struct rbuf *b, const void *p, size_t n);
void resp_bulk_str(struct rbuf *b, const char *s);
void resp_bulk_int(struct rbuf *b, int64_t v);	    /* an integer as a bulk string */
void resp_null(struct rbuf *b, int proto);	    /* $-1, or _ in RESP3 */
void resp_null_array(struct rbuf *b, int proto);    /* *-1, or _ in RESP3 */
void resp_array(struct rbuf *b, size_t n);	    /* *n, then n values */
void resp_map(struct rbuf *b, size_t n, int proto); /* %n, or *2n in RESP2 */
void resp_set(struct rbuf *b, size_t n, int proto); /* ~n, or *n in RESP2 */
void resp_verbatim(struct rbuf *b, const char *text, size_t n, int proto); /* =txt: or bulk */

/* Decimal digits of v into buf (at least 21 bytes); returns the length. */
size_t resp_ll2str(char *buf, int64_t v);

#endif
