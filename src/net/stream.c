/* net/stream.c — stream_write of net/stream.h. */
#include "net/stream.h"

#include <string.h>

#include "base/mem.h"

struct wreq {
	uv_write_t req;
	void (*failed)(uv_stream_t *st);
	uint8_t *owned; /* stream_write_owned's buffer, freed when done */
	uint8_t data[];
};

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	if (status < 0 && w->failed)
		w->failed(req->handle);
	keel_free(w->owned);
	keel_free(w);
}

int stream_write_owned(uv_stream_t *st, uint8_t *p, size_t n, void (*failed)(uv_stream_t *st))
{
	size_t off = 0;
	if (uv_stream_get_write_queue_size(st) == 0 && n) {
		uv_buf_t buf = uv_buf_init((char *)p, (unsigned)(n < UINT32_MAX ? n : UINT32_MAX));
		int done = uv_try_write(st, &buf, 1);
		if (done < 0 && done != UV_EAGAIN) {
			keel_free(p);
			return done;
		}
		if (done > 0)
			off = (size_t)done;
	}
	if (off == n) {
		keel_free(p);
		return 0;
	}
	struct wreq *w = keel_malloc(sizeof *w);
	w->failed = failed;
	w->owned = p;
	uv_buf_t buf = uv_buf_init((char *)p + off, (unsigned)(n - off));
	int rc = uv_write(&w->req, st, &buf, 1, write_done);
	if (rc != 0) {
		keel_free(p);
		keel_free(w);
	}
	return rc;
}

int stream_write(uv_stream_t *st, const void *p, size_t n, void (*failed)(uv_stream_t *st))
{
	const uint8_t *b = p;
	if (uv_stream_get_write_queue_size(st) == 0) {
		uv_buf_t buf = uv_buf_init((char *)b, (unsigned)n);
		int done = n ? uv_try_write(st, &buf, 1) : 0;
		if (done < 0 && done != UV_EAGAIN)
			return done;
		if (done > 0) {
			b += done;
			n -= (size_t)done;
		}
	}
	if (!n)
		return 0;
	struct wreq *w = keel_malloc(sizeof *w + n);
	w->failed = failed;
	w->owned = NULL;
	memcpy(w->data, b, n);
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)n);
	int rc = uv_write(&w->req, st, &buf, 1, write_done);
	if (rc != 0)
		keel_free(w);
	return rc;
}
