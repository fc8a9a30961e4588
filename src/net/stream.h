/* net/stream.h — one way to write bytes to a libuv stream, for client and
 * peer connections alike: what the socket takes at once is written with
 * uv_try_write (no write request, no copy); the rest is copied into a
 * write request and queued behind what is already queued, so the order
 * holds. The bytes not yet written are uv_stream_get_write_queue_size's. */
#ifndef KEEL_NET_STREAM_H
#define KEEL_NET_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Writes n bytes to st. Returns 0, or a libuv error (the caller closes the
 * stream). A queued write that fails later calls failed(st). */
int stream_write(uv_stream_t *st, const void *p, size_t n, void (*failed)(uv_stream_t *st));
/* The same for a buffer the caller gives away (allocated with keel_malloc
 * or keel_realloc): what the socket does not take at once is queued from
 * the buffer itself, not copied; it is freed once written (or at once). */
int stream_write_owned(uv_stream_t *st, uint8_t *p, size_t n, void (*failed)(uv_stream_t *st));

#endif
