/* tests/nsim/uvsim.c — the subset of libuv 1.44 that src/ uses, over the
 * simulated world (world.c), linked in place of libuv: the types are the
 * real <uv.h>'s, the behaviour libuv's documented one as src/unix/ of
 * libuv 1.44 implements it.
 *
 * The subset: loops (iterated by the world, never by uv_run, which
 * aborts: the world runs every host's loop through world_step); handles
 * (uv_close, uv_is_closing, uv_fileno); timers; idle and check handles;
 * async handles; TCP (init, bind, listen, accept, connect, nodelay,
 * getsockname, getpeername); streams (read start and stop, write,
 * try_write, the write queue's size); signals (accepted, never fire); pipes
 * (uv_pipe_open fails with UV_ENOTSUP: the simulated server has no
 * snapshot child); uv_now, uv_hrtime (the world's time), uv_os_getpid
 * (the host's number), uv_resident_set_memory (a fixed 64 MiB), address
 * and error helpers.
 *
 * What keel sees, as in libuv 1.44 (each mirrors a function of libuv's
 * src/unix/core.c, stream.c or src/timer.c):
 * - an iteration runs due timers (by due time, then start order; a repeat
 *   timer is started again before its callback), pending callbacks, idle
 *   handles (the last started first), the poll phase (asyncs and streams,
 *   in the order their handles were initialised), pending callbacks again
 *   (up to 8 rounds), check handles, then close callbacks (the last closed
 *   first); uv_now is the iteration's time, in ms, throughout;
 * - uv_write writes at once if the queue was empty and calls back later
 *   (never from within uv_write); its callback comes when its bytes are in
 *   the socket's send buffer; uv_try_write says UV_EAGAIN while connecting,
 *   while anything is queued or when the send buffer is full;
 *   uv_stream_get_write_queue_size counts the bytes libuv still holds;
 * - reads go through alloc_cb (suggested 64 KiB) and read_cb, at most 64
 *   KiB and the buffer given per call, up to 32 reads per poll; nread is
 *   UV_EOF at the end (reading stops), an error (UV_ECONNRESET: reading
 *   stops and the stream is neither readable nor writable), 0 when a read
 *   found nothing after a full buffer, UV_ENOBUFS for an empty buffer;
 * - uv_close: the socket closes at once; the close callback runs in the
 *   closing phase, after the connect callback (UV_ECANCELED) and every
 *   write callback (UV_ECANCELED for writes still queued);
 * - a connection callback per established connection, in order; one not
 *   accepted in the callback holds the rest until uv_accept;
 * - uv_tcp_bind on an address in use succeeds and uv_listen reports
 *   UV_EADDRINUSE (libuv's delayed error); binding an address that is not
 *   the host's fails with UV_EADDRNOTAVAIL. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/mem.h"
#include "nsim/uvsim.h"

enum { /* uv_handle_t.flags: what uv_is_closing reads, valid after the close */
       HF_CLOSING = 1,
       HF_CLOSED = 2,
};

enum { /* struct sh.f */
       F_ACTIVE = 1,
       F_READING = 2,
       F_READABLE = 4,
       F_WRITABLE = 8,
       F_PENDING = 16,
       F_BOUND = 32,
};

#define EV_IN	      1
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EV_OUT	      2

struct sloop;

struct sh { /* a handle's state, behind handle->u.reserved[0] */
	uv_handle_t *h;
	struct sloop *L;
	struct sh *prev, *next; /* every handle of the loop, in init order */
	unsigned f;
	struct sh *next_closing, *next_pending;
	struct sh *qprev, *qnext; /* the loop's timers, idles or checks */
	uint64_t due, repeat, start_id, gen;
	uv_timer_cb timer_cb;
	uv_idle_cb idle_cb;
	uv_check_cb check_cb;
	uv_async_cb async_cb;
	bool async_pending;
	/* TCP */
	struct ep *ep;	    /* the socket, once connecting or accepted */
	struct ep *offered; /* accepted by the kernel, offered to uv_accept */
	struct nlisten *lis;
	struct naddr bound;
	int delayed_error, fd;
	uv_write_t *wq, *wq_tail, *done, *done_tail; /* linked by req->queue[0] */
};

struct sloop {
	uv_loop_t *loop;
	struct host *h;
	struct sh *first, *last;
	size_t n;
	struct sh *timers; /* by (due, start_id) */
	struct sh *idles, *checks;
	struct sh *closing;
	struct sh *pending, *pending_tail;
	uint64_t timer_counter, gen;
	int next_fd;
	struct sh **scratch;
	size_t scratch_cap;
};

static struct sh *SH(const void *handle)
{
	struct sh *s = ((const uv_handle_t *)handle)->u.reserved[0];
	if (!s) {
		fprintf(stderr, "uvsim: a handle used before init or after its close\n");
		abort();
	}
	return s;
}

static struct sloop *SL(const uv_loop_t *loop)
{
	return loop->internal_fields;
}

static void wake(struct sh *s)
{
	host_dirty(s->L->h);
}

/* ---------------------------------------------------------------- loops */

void uvsim_loop_init(uv_loop_t *loop, struct host *h)
{
	struct sloop *L = keel_calloc(1, sizeof *L);
	L->loop = loop;
	L->h = h;
	L->next_fd = 10;
	loop->internal_fields = L;
	loop->time = nsim_now_ns() / 1000000u;
}

void uvsim_loop_free(uv_loop_t *loop)
{
	struct sloop *L = SL(loop);
	keel_free(L->scratch);
	keel_free(L);
	loop->internal_fields = NULL;
}

size_t uvsim_loop_handles(uv_loop_t *loop)
{
	return SL(loop)->n;
}

int uv_run(uv_loop_t *loop, uv_run_mode mode)
{
	(void)loop;
	(void)mode;
	fprintf(stderr, "uvsim: uv_run is not supported: the world iterates every loop "
			"(world_step)\n");
	abort();
}

uint64_t uv_now(const uv_loop_t *loop)
{
	return loop->time;
}

uint64_t uv_hrtime(void)
{
	return nsim_now_ns();
}

static struct sh *sh_new(uv_loop_t *loop, void *handle, uv_handle_type type)
{
	struct sloop *L = SL(loop);
	uv_handle_t *h = handle;
	struct sh *s = keel_calloc(1, sizeof *s);
	s->h = h;
	s->L = L;
	s->fd = -1;
	h->loop = loop;
	h->type = type;
	h->close_cb = NULL;
	h->flags = 0;
	h->next_closing = NULL;
	h->u.reserved[0] = s;
	s->prev = L->last;
	if (L->last)
		L->last->next = s;
	else
		L->first = s;
	L->last = s;
	L->n++;
	return s;
}

static void sh_unlink(struct sh *s)
{
	struct sloop *L = s->L;
	if (s->prev)
		s->prev->next = s->next;
	else
		L->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		L->last = s->prev;
	L->n--;
}

static struct sh **scratch(struct sloop *L, size_t n)
{
	if (n > L->scratch_cap) {
		L->scratch_cap = n * 2;
		L->scratch = keel_realloc(L->scratch, L->scratch_cap * sizeof *L->scratch);
	}
	return L->scratch;
}

/* ---------------------------------------------------------------- timers */

static void timer_unlink(struct sh *s)
{
	struct sh **pp = &s->L->timers;
	while (*pp && *pp != s)
		pp = &(*pp)->qnext;
	if (*pp)
		*pp = s->qnext;
	s->qnext = NULL;
	s->f &= ~(unsigned)F_ACTIVE;
}

int uv_timer_init(uv_loop_t *loop, uv_timer_t *handle)
{
	sh_new(loop, handle, UV_TIMER);
	return 0;
}

int uv_timer_start(uv_timer_t *handle, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
	struct sh *s = SH(handle);
	if ((handle->flags & HF_CLOSING) || !cb)
		return UV_EINVAL;
	if (s->f & F_ACTIVE)
		timer_unlink(s);
	uint64_t due = handle->loop->time + timeout;
	if (due < timeout)
		due = UINT64_MAX;
	s->timer_cb = cb;
	s->due = due;
	s->repeat = repeat;
	s->start_id = s->L->timer_counter++;
	struct sh **pp = &s->L->timers;
	while (*pp && ((*pp)->due < due || ((*pp)->due == due && (*pp)->start_id < s->start_id)))
		pp = &(*pp)->qnext;
	s->qnext = *pp;
	*pp = s;
	s->f |= F_ACTIVE;
	wake(s);
	return 0;
}

int uv_timer_stop(uv_timer_t *handle)
{
	struct sh *s = SH(handle);
	if (s->f & F_ACTIVE)
		timer_unlink(s);
	return 0;
}

static void run_timers(struct sloop *L)
{
	for (;;) {
		struct sh *s = L->timers;
		if (!s || s->due > L->loop->time)
			break;
		timer_unlink(s);
		if (s->repeat)
			uv_timer_start((uv_timer_t *)s->h, s->timer_cb, s->repeat, s->repeat);
		s->timer_cb((uv_timer_t *)s->h);
	}
}

/* ---------------------------------------------------------------- idle and check */

static void q_insert_head(struct sh **list, struct sh *s)
{
	s->qprev = NULL;
	s->qnext = *list;
	if (*list)
		(*list)->qprev = s;
	*list = s;
}

static void q_remove(struct sh **list, struct sh *s)
{
	if (s->qprev)
		s->qprev->qnext = s->qnext;
	else
		*list = s->qnext;
	if (s->qnext)
		s->qnext->qprev = s->qprev;
	s->qprev = s->qnext = NULL;
}

static void q_start(struct sh **list, struct sh *s)
{
	if (s->f & F_ACTIVE)
		return;
	q_insert_head(list, s);
	s->f |= F_ACTIVE;
	s->gen = ++s->L->gen;
	wake(s);
}

static void q_stop(struct sh **list, struct sh *s)
{
	if (!(s->f & F_ACTIVE))
		return;
	q_remove(list, s);
	s->f &= ~(unsigned)F_ACTIVE;
}

/* Runs the callbacks of the handles active when the phase began (one
 * stopped meanwhile, or stopped and started again, waits). */
static void run_queue(struct sloop *L, struct sh *list, bool idle)
{
	size_t n = 0;
	for (struct sh *s = list; s; s = s->qnext)
		n++;
	struct sh **v = scratch(L, n);
	n = 0;
	for (struct sh *s = list; s; s = s->qnext)
		v[n++] = s;
	uint64_t gen0 = L->gen;
	for (size_t i = 0; i < n; i++) {
		struct sh *s = v[i];
		if (!(s->f & F_ACTIVE) || s->gen > gen0)
			continue;
		if (idle)
			s->idle_cb((uv_idle_t *)s->h);
		else
			s->check_cb((uv_check_t *)s->h);
	}
}

int uv_idle_init(uv_loop_t *loop, uv_idle_t *idle)
{
	sh_new(loop, idle, UV_IDLE);
	return 0;
}

int uv_idle_start(uv_idle_t *idle, uv_idle_cb cb)
{
	struct sh *s = SH(idle);
	if (s->f & F_ACTIVE)
		return 0;
	if (!cb)
		return UV_EINVAL;
	s->idle_cb = cb;
	q_start(&s->L->idles, s);
	return 0;
}

int uv_idle_stop(uv_idle_t *idle)
{
	struct sh *s = SH(idle);
	q_stop(&s->L->idles, s);
	return 0;
}

int uv_check_init(uv_loop_t *loop, uv_check_t *check)
{
	sh_new(loop, check, UV_CHECK);
	return 0;
}

int uv_check_start(uv_check_t *check, uv_check_cb cb)
{
	struct sh *s = SH(check);
	if (s->f & F_ACTIVE)
		return 0;
	if (!cb)
		return UV_EINVAL;
	s->check_cb = cb;
	q_start(&s->L->checks, s);
	return 0;
}

int uv_check_stop(uv_check_t *check)
{
	struct sh *s = SH(check);
	q_stop(&s->L->checks, s);
	return 0;
}

/* ---------------------------------------------------------------- async and signals */

int uv_async_init(uv_loop_t *loop, uv_async_t *async, uv_async_cb async_cb)
{
	struct sh *s = sh_new(loop, async, UV_ASYNC);
	s->async_cb = async_cb;
	s->f |= F_ACTIVE;
	return 0;
}

int uv_async_send(uv_async_t *async)
{
	struct sh *s = SH(async);
	if (async->flags & HF_CLOSING)
		return 0;
	s->async_pending = true;
	wake(s);
	return 0;
}

int uv_signal_init(uv_loop_t *loop, uv_signal_t *handle)
{
	sh_new(loop, handle, UV_SIGNAL);
	return 0;
}

int uv_signal_start(uv_signal_t *handle, uv_signal_cb signal_cb, int signum)
{
	struct sh *s = SH(handle);
	if ((handle->flags & HF_CLOSING) || !signal_cb || signum <= 0)
		return UV_EINVAL;
	handle->signal_cb = signal_cb;
	handle->signum = signum;
	s->f |= F_ACTIVE;
	return 0;
}

int uv_pipe_init(uv_loop_t *loop, uv_pipe_t *handle, int ipc)
{
	sh_new(loop, handle, UV_NAMED_PIPE);
	handle->ipc = ipc;
	handle->write_queue_size = 0;
	handle->connect_req = NULL;
	return 0;
}

int uv_pipe_open(uv_pipe_t *handle, uv_file file)
{
	(void)handle;
	(void)file;
	return UV_ENOTSUP;
}

/* ---------------------------------------------------------------- streams: writing */

static void feed(struct sh *s)
{
	struct sloop *L = s->L;
	if (s->f & F_PENDING)
		return;
	s->f |= F_PENDING;
	s->next_pending = NULL;
	if (L->pending_tail)
		L->pending_tail->next_pending = s;
	else
		L->pending = s;
	L->pending_tail = s;
	wake(s);
}

static void unfeed(struct sh *s)
{
	struct sloop *L = s->L;
	if (!(s->f & F_PENDING))
		return;
	struct sh *prev = NULL;
	for (struct sh *p = L->pending; p; prev = p, p = p->next_pending)
		if (p == s) {
			if (prev)
				prev->next_pending = s->next_pending;
			else
				L->pending = s->next_pending;
			if (L->pending_tail == s)
				L->pending_tail = prev;
			break;
		}
	s->f &= ~(unsigned)F_PENDING;
}

#define REQ_NEXT(r) (*(uv_write_t **)&(r)->queue[0])

static void done_append(struct sh *s, uv_write_t *req)
{
	REQ_NEXT(req) = NULL;
	if (s->done_tail)
		REQ_NEXT(s->done_tail) = req;
	else
		s->done = req;
	s->done_tail = req;
}

/* The head of the write queue is done (libuv's uv__write_req_finish). */
static void write_finish(struct sh *s)
{
	uv_write_t *req = s->wq;
	s->wq = REQ_NEXT(req);
	if (!s->wq)
		s->wq_tail = NULL;
	if (req->error == 0) {
		if (req->bufs != req->bufsml)
			keel_free(req->bufs);
		req->bufs = NULL;
	}
	done_append(s, req);
	feed(s);
}

/* Writes the head request as far as the send buffer takes it (uv__write). */
static void do_write(struct sh *s)
{
	uv_write_t *req = s->wq;
	uv_stream_t *st = (uv_stream_t *)s->h;
	if (!req)
		return;
	for (;;) {
		while (req->write_index < req->nbufs && req->bufs[req->write_index].len == 0)
			req->write_index++;
		if (req->write_index == req->nbufs) {
			write_finish(s);
			return;
		}
		uv_buf_t *b = &req->bufs[req->write_index];
		int n = ep_send(s->ep, b->base, b->len);
		if (n == UV_EAGAIN)
			return;
		if (n < 0) {
			req->error = n;
			write_finish(s);
			return;
		}
		b->base += n;
		b->len -= (size_t)n;
		st->write_queue_size -= (size_t)n;
		if (b->len)
			return; /* the send buffer is full: wait until it is not */
	}
}

static size_t req_left(const uv_write_t *req)
{
	size_t n = 0;
	for (unsigned i = req->write_index; i < req->nbufs; i++)
		n += req->bufs[i].len;
	return n;
}

static void write_callbacks(struct sh *s)
{
	uv_stream_t *st = (uv_stream_t *)s->h;
	uv_write_t *req = s->done;
	s->done = s->done_tail = NULL;
	while (req) {
		uv_write_t *next = REQ_NEXT(req);
		s->h->loop->active_reqs.count--;
		if (req->bufs) {
			st->write_queue_size -= req_left(req);
			if (req->bufs != req->bufsml)
				keel_free(req->bufs);
			req->bufs = NULL;
		}
		if (req->cb)
			req->cb(req, req->error);
		req = next;
	}
}

static void flush_write_queue(struct sh *s, int error)
{
	while (s->wq) {
		uv_write_t *req = s->wq;
		s->wq = REQ_NEXT(req);
		req->error = error;
		done_append(s, req);
	}
	s->wq_tail = NULL;
}

int uv_write(uv_write_t *req, uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs,
	     uv_write_cb cb)
{
	struct sh *s = SH(handle);
	if (!s->ep)
		return UV_EBADF;
	if (!(s->f & F_WRITABLE))
		return UV_EPIPE;
	bool empty_queue = handle->write_queue_size == 0;
	req->type = UV_WRITE;
	req->cb = cb;
	req->handle = handle;
	req->error = 0;
	req->send_handle = NULL;
	req->bufs = nbufs <= ARRAY_SIZE(req->bufsml) ? req->bufsml
						     : keel_malloc(nbufs * sizeof bufs[0]);
	memcpy(req->bufs, bufs, nbufs * sizeof bufs[0]);
	req->nbufs = nbufs;
	req->write_index = 0;
	for (unsigned i = 0; i < nbufs; i++)
		handle->write_queue_size += bufs[i].len;
	handle->loop->active_reqs.count++;
	REQ_NEXT(req) = NULL;
	if (s->wq_tail)
		REQ_NEXT(s->wq_tail) = req;
	else
		s->wq = req;
	s->wq_tail = req;
	if (handle->connect_req)
		return 0;
	if (empty_queue)
		do_write(s);
	else
		wake(s);
	return 0;
}

int uv_try_write(uv_stream_t *handle, const uv_buf_t bufs[], unsigned int nbufs)
{
	struct sh *s = SH(handle);
	if (handle->connect_req || handle->write_queue_size)
		return UV_EAGAIN;
	if (!s->ep)
		return UV_EBADF;
	if (!(s->f & F_WRITABLE))
		return UV_EPIPE;
	int total = 0;
	for (unsigned i = 0; i < nbufs; i++) {
		if (!bufs[i].len)
			continue;
		int n = ep_send(s->ep, bufs[i].base, bufs[i].len);
		if (n < 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < bufs[i].len)
			break;
	}
	return total;
}

size_t uv_stream_get_write_queue_size(const uv_stream_t *stream)
{
	return stream->write_queue_size;
}

/* ---------------------------------------------------------------- streams: reading */

int uv_read_start(uv_stream_t *stream, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
{
	if (!stream || !alloc_cb || !read_cb)
		return UV_EINVAL;
	struct sh *s = SH(stream);
	if (stream->flags & HF_CLOSING)
		return UV_EINVAL;
	if (s->f & F_READING)
		return UV_EALREADY;
	if (!(s->f & F_READABLE))
		return UV_ENOTCONN;
	s->f |= F_READING;
	stream->read_cb = read_cb;
	stream->alloc_cb = alloc_cb;
	wake(s);
	return 0;
}

int uv_read_stop(uv_stream_t *stream)
{
	struct sh *s = SH(stream);
	if (!(s->f & F_READING))
		return 0;
	s->f &= ~(unsigned)F_READING;
	stream->read_cb = NULL;
	stream->alloc_cb = NULL;
	return 0;
}

/* uv__read: up to 32 reads while the user keeps reading. */
static void do_read(struct sh *s)
{
	uv_stream_t *st = (uv_stream_t *)s->h;
	for (int count = 32; st->read_cb && (s->f & F_READING) && count > 0; count--) {
		uv_buf_t buf = uv_buf_init(NULL, 0);
		st->alloc_cb(s->h, NSIM_READ_MAX, &buf);
		if (!buf.base || !buf.len) {
			st->read_cb(st, UV_ENOBUFS, &buf);
			return;
		}
		size_t want = buf.len < NSIM_READ_MAX ? buf.len : NSIM_READ_MAX;
		int n = ep_recv(s->ep, buf.base, want);
		if (n == UV_EAGAIN) {
			st->read_cb(st, 0, &buf);
			return;
		}
		if (n < 0) {
			s->f &= ~(unsigned)(F_READABLE | F_WRITABLE);
			st->read_cb(st, n, &buf);
			s->f &= ~(unsigned)F_READING;
			return;
		}
		if (n == 0) { /* uv__stream_eof: reading stops, read_cb stays set */
			s->f &= ~(unsigned)F_READING;
			st->read_cb(st, UV_EOF, &buf);
			return;
		}
		st->read_cb(st, n, &buf);
		if ((size_t)n < want)
			return;
	}
}

/* ---------------------------------------------------------------- TCP */

static void on_ep(void *owner)
{
	wake(owner);
}

int uv_tcp_init(uv_loop_t *loop, uv_tcp_t *handle)
{
	sh_new(loop, handle, UV_TCP);
	handle->read_cb = NULL;
	handle->alloc_cb = NULL;
	handle->connection_cb = NULL;
	handle->connect_req = NULL;
	handle->shutdown_req = NULL;
	handle->accepted_fd = -1;
	handle->delayed_error = 0;
	handle->write_queue_size = 0;
	return 0;
}

int uv_tcp_nodelay(uv_tcp_t *handle, int enable)
{
	(void)handle;
	(void)enable;
	return 0;
}

static void sin_from(struct sockaddr_in *sin, struct naddr a)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(a.port);
	sin->sin_addr.s_addr = htonl(a.ip);
}

static int sin_to(const struct sockaddr *addr, struct naddr *a)
{
	if (!addr || addr->sa_family != AF_INET)
		return UV_EINVAL;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
	a->ip = ntohl(sin->sin_addr.s_addr);
	a->port = ntohs(sin->sin_port);
	return 0;
}

int uv_tcp_bind(uv_tcp_t *handle, const struct sockaddr *addr, unsigned int flags)
{
	struct sh *s = SH(handle);
	struct naddr a;
	(void)flags;
	if (sin_to(addr, &a) != 0 || (s->f & F_BOUND) || s->ep)
		return UV_EINVAL;
	uint32_t self = host_addr(s->L->h);
	if (a.ip == INADDR_ANY)
		a.ip = self;
	if (a.ip != self)
		return UV_EADDRNOTAVAIL;
	if (a.port && net_port_listened(a.ip, a.port))
		s->delayed_error = UV_EADDRINUSE; /* libuv reports it at uv_listen */
	s->bound = a;
	s->f |= F_BOUND;
	s->fd = s->L->next_fd++;
	return 0;
}

int uv_listen(uv_stream_t *stream, int backlog, uv_connection_cb cb)
{
	struct sh *s = SH(stream);
	(void)backlog;
	if ((stream->flags & HF_CLOSING) || stream->type != UV_TCP || !cb)
		return UV_EINVAL;
	if (s->delayed_error)
		return s->delayed_error;
	if (!(s->f & F_BOUND) || s->ep)
		return UV_EINVAL;
	if (s->lis)
		return 0;
	int rc = net_listen(s->L->h, s->bound, on_ep, s, &s->lis);
	if (rc)
		return rc;
	stream->connection_cb = cb;
	s->f |= F_ACTIVE;
	wake(s);
	return 0;
}

int uv_accept(uv_stream_t *server, uv_stream_t *client)
{
	struct sh *ss = SH(server), *cs = SH(client);
	if (!ss->offered)
		return UV_EAGAIN;
	if (client->type != UV_TCP || cs->ep || (client->flags & HF_CLOSING))
		return UV_EINVAL;
	struct ep *e = ss->offered;
	ss->offered = NULL;
	server->accepted_fd = -1;
	ep_own(e, on_ep, cs);
	cs->ep = e;
	cs->fd = cs->L->next_fd++;
	cs->f |= F_READABLE | F_WRITABLE | F_BOUND;
	wake(ss);
	wake(cs);
	return 0;
}

int uv_tcp_connect(uv_connect_t *req, uv_tcp_t *handle, const struct sockaddr *addr,
		   uv_connect_cb cb)
{
	struct sh *s = SH(handle);
	struct naddr dst, src = {host_addr(s->L->h), 0};
	if ((handle->flags & HF_CLOSING) || sin_to(addr, &dst) != 0 || s->lis)
		return UV_EINVAL;
	if (handle->connect_req)
		return UV_EALREADY;
	if (s->ep)
		return UV_EISCONN;
	if (s->f & F_BOUND)
		src = s->bound;
	s->ep = net_connect(s->L->h, src, dst, on_ep, s);
	if (s->fd < 0)
		s->fd = s->L->next_fd++;
	s->f |= F_READABLE | F_WRITABLE | F_BOUND;
	req->type = UV_CONNECT;
	req->cb = cb;
	req->handle = (uv_stream_t *)handle;
	handle->connect_req = req;
	handle->loop->active_reqs.count++;
	return 0;
}

static int name_out(struct naddr a, struct sockaddr *name, int *namelen)
{
	if (*namelen < (int)sizeof(struct sockaddr_in))
		return UV_EINVAL;
	sin_from((struct sockaddr_in *)name, a);
	*namelen = (int)sizeof(struct sockaddr_in);
	return 0;
}

int uv_tcp_getsockname(const uv_tcp_t *handle, struct sockaddr *name, int *namelen)
{
	struct sh *s = SH(handle);
	if (s->ep)
		return name_out(ep_local(s->ep), name, namelen);
	if (s->f & F_BOUND)
		return name_out(s->bound, name, namelen);
	return UV_EBADF;
}

int uv_tcp_getpeername(const uv_tcp_t *handle, struct sockaddr *name, int *namelen)
{
	struct sh *s = SH(handle);
	if (!s->ep)
		return s->fd < 0 ? UV_EBADF : UV_ENOTCONN;
	if (ep_connect_status(s->ep) != 1)
		return UV_ENOTCONN;
	return name_out(ep_peer(s->ep), name, namelen);
}

int uv_fileno(const uv_handle_t *handle, uv_os_fd_t *fd)
{
	if (handle->type != UV_TCP && handle->type != UV_NAMED_PIPE)
		return UV_EINVAL;
	if (handle->flags & HF_CLOSING)
		return UV_EBADF;
	struct sh *s = SH(handle);
	if (s->fd < 0)
		return UV_EBADF;
	*fd = s->fd;
	return 0;
}

/* ---------------------------------------------------------------- the poll phase */

static void stream_connect(struct sh *s)
{
	uv_stream_t *st = (uv_stream_t *)s->h;
	int status = ep_connect_status(s->ep);
	if (status == 0)
		return;
	uv_connect_t *req = st->connect_req;
	st->connect_req = NULL;
	st->loop->active_reqs.count--;
	if (status < 0)
		s->f &= ~(unsigned)(F_READABLE | F_WRITABLE);
	if (req->cb)
		req->cb(req, status < 0 ? status : 0);
	if (st->flags & HF_CLOSING)
		return;
	if (status < 0) {
		flush_write_queue(s, UV_ECANCELED);
		write_callbacks(s);
	} else if (s->wq) {
		wake(s);
	}
}

/* uv__stream_io for the events given. */
static void stream_io(struct sh *s, int events)
{
	uv_stream_t *st = (uv_stream_t *)s->h;
	if (st->connect_req) {
		stream_connect(s);
		return;
	}
	if (events & EV_IN)
		do_read(s);
	if (st->flags & HF_CLOSING)
		return;
	if (events & EV_OUT) {
		do_write(s);
		write_callbacks(s);
	}
}

/* uv__server_io: a connection callback per connection, while accepted. */
static void server_io(struct sh *s)
{
	uv_stream_t *st = (uv_stream_t *)s->h;
	while (s->lis && !(st->flags & HF_CLOSING) && !s->offered) {
		struct ep *e = net_accept(s->lis);
		if (!e)
			return;
		s->offered = e;
		st->accepted_fd = s->L->next_fd;
		st->connection_cb(st, 0);
	}
}

static int stream_events(const struct sh *s)
{
	const uv_stream_t *st = (const uv_stream_t *)s->h;
	if (!s->ep || (st->flags & HF_CLOSING))
		return 0;
	if (st->connect_req)
		return ep_connect_status(s->ep) ? EV_IN | EV_OUT : 0;
	int ev = 0;
	if ((s->f & F_READING) && ep_recv_ready(s->ep))
		ev |= EV_IN;
	if (s->wq && ep_send_ready(s->ep))
		ev |= EV_OUT;
	return ev;
}

static bool handle_ready(const struct sh *s)
{
	if (s->h->flags & HF_CLOSING)
		return false;
	if (s->h->type == UV_ASYNC)
		return s->async_pending;
	if (s->h->type != UV_TCP)
		return false;
	if (s->lis)
		return !s->offered && net_acceptable(s->lis);
	return stream_events(s) != 0;
}

static void poll_io(struct sloop *L)
{
	struct sh *last = L->last;
	for (struct sh *s = L->first; s; s = s->next) {
		if (handle_ready(s)) {
			if (s->h->type == UV_ASYNC) {
				s->async_pending = false;
				if (s->async_cb)
					s->async_cb((uv_async_t *)s->h);
			} else if (s->lis) {
				server_io(s);
			} else {
				stream_io(s, stream_events(s));
			}
		}
		if (s == last)
			break;
	}
}

static bool run_pending(struct sloop *L)
{
	struct sh *s = L->pending;
	if (!s)
		return false;
	L->pending = L->pending_tail = NULL;
	while (s) {
		struct sh *next = s->next_pending;
		s->f &= ~(unsigned)F_PENDING;
		if (!(s->h->flags & HF_CLOSING))
			stream_io(s, EV_OUT);
		s = next;
	}
	return true;
}

/* ---------------------------------------------------------------- closing */

void uv_close(uv_handle_t *handle, uv_close_cb close_cb)
{
	struct sh *s = SH(handle);
	if (handle->flags & (HF_CLOSING | HF_CLOSED)) {
		fprintf(stderr, "uvsim: uv_close of a handle already closing\n");
		abort();
	}
	handle->flags |= HF_CLOSING;
	handle->close_cb = close_cb;
	switch (handle->type) {
	case UV_TIMER:
		if (s->f & F_ACTIVE)
			timer_unlink(s);
		break;
	case UV_IDLE:
		q_stop(&s->L->idles, s);
		break;
	case UV_CHECK:
		q_stop(&s->L->checks, s);
		break;
	case UV_TCP:
	case UV_NAMED_PIPE:
		uv_read_stop((uv_stream_t *)handle);
		unfeed(s);
		if (s->ep)
			ep_close(s->ep);
		s->ep = NULL;
		if (s->offered)
			ep_close(s->offered);
		s->offered = NULL;
		if (s->lis)
			net_unlisten(s->lis);
		s->lis = NULL;
		s->fd = -1;
		break;
	default:
		break;
	}
	s->f &= ~(unsigned)(F_ACTIVE | F_READABLE | F_WRITABLE);
	s->async_pending = false;
	s->next_closing = s->L->closing;
	s->L->closing = s;
	wake(s);
}

int uv_is_closing(const uv_handle_t *handle)
{
	return (handle->flags & (HF_CLOSING | HF_CLOSED)) != 0;
}

static void finish_close(struct sh *s)
{
	uv_handle_t *h = s->h;
	h->flags |= HF_CLOSED;
	if (h->type == UV_TCP || h->type == UV_NAMED_PIPE) {
		uv_stream_t *st = (uv_stream_t *)h;
		if (st->connect_req) {
			uv_connect_t *req = st->connect_req;
			st->connect_req = NULL;
			h->loop->active_reqs.count--;
			req->cb(req, UV_ECANCELED);
		}
		flush_write_queue(s, UV_ECANCELED);
		write_callbacks(s);
		if (st->write_queue_size != 0) {
			fprintf(stderr, "uvsim: write queue size %zu after the close\n",
				st->write_queue_size);
			abort();
		}
	}
	sh_unlink(s);
	h->u.reserved[0] = NULL;
	keel_free(s);
	if (h->close_cb)
		h->close_cb(h);
}

static void run_closing(struct sloop *L)
{
	struct sh *s = L->closing;
	L->closing = NULL;
	while (s) {
		struct sh *next = s->next_closing;
		finish_close(s);
		s = next;
	}
}

void uvsim_loop_finish_closing(uv_loop_t *loop)
{
	struct sloop *L = SL(loop);
	L->pending = L->pending_tail = NULL;
	for (struct sh *s = L->first; s; s = s->next)
		s->f &= ~(unsigned)F_PENDING;
	while (L->closing)
		run_closing(L);
}

/* ---------------------------------------------------------------- iterations */

void uvsim_loop_iterate(uv_loop_t *loop)
{
	struct sloop *L = SL(loop);
	loop->time = nsim_now_ns() / 1000000u;
	run_timers(L);
	run_pending(L);
	run_queue(L, L->idles, true);
	poll_io(L);
	for (int i = 0; i < 8 && run_pending(L); i++)
		;
	run_queue(L, L->checks, false);
	run_closing(L);
}

uint64_t uvsim_loop_due(uv_loop_t *loop)
{
	struct sloop *L = SL(loop);
	uint64_t now = nsim_now_ns();
	if (L->pending || L->closing || L->idles)
		return now;
	for (struct sh *s = L->first; s; s = s->next)
		if (handle_ready(s))
			return now;
	if (!L->timers)
		return UINT64_MAX;
	if (L->timers->due > UINT64_MAX / 1000000u)
		return UINT64_MAX;
	uint64_t t = L->timers->due * 1000000u;
	return t < now ? now : t;
}

/* ---------------------------------------------------------------- the rest */

uv_buf_t uv_buf_init(char *base, unsigned int len)
{
	uv_buf_t b;
	b.base = base;
	b.len = len;
	return b;
}

int uv_ip4_addr(const char *ip, int port, struct sockaddr_in *addr)
{
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &addr->sin_addr) == 1 ? 0 : UV_EINVAL;
}

int uv_ip4_name(const struct sockaddr_in *src, char *dst, size_t size)
{
	return inet_ntop(AF_INET, &src->sin_addr, dst, (socklen_t)size) ? 0 : UV_ENOSPC;
}

uv_pid_t uv_os_getpid(void)
{
	struct host *h = nsim_current();
	return h ? (uv_pid_t)host_number(h) : 0;
}

int uv_resident_set_memory(size_t *rss)
{
	*rss = 64u << 20;
	return 0;
}

const char *uv_strerror(int err)
{
	switch (err) {
	case UV_EOF:
		return "end of file";
	case UV_ECONNRESET:
		return "connection reset by peer";
	case UV_ECONNREFUSED:
		return "connection refused";
	case UV_ETIMEDOUT:
		return "connection timed out";
	case UV_ECANCELED:
		return "operation canceled";
	case UV_EAGAIN:
		return "resource temporarily unavailable";
	case UV_EADDRINUSE:
		return "address already in use";
	case UV_EADDRNOTAVAIL:
		return "address not available";
	case UV_EINVAL:
		return "invalid argument";
	case UV_ENOTSUP:
		return "operation not supported on socket";
	case UV_EPIPE:
		return "broken pipe";
	case UV_EBADF:
		return "bad file descriptor";
	case UV_ENOTCONN:
		return "socket is not connected";
	case UV_ENOBUFS:
		return "no buffer space available";
	case UV_EALREADY:
		return "connection already in progress";
	case UV_EISCONN:
		return "socket is already connected";
	case UV_ENOSPC:
		return "no space left on device";
	default:
		return "unknown error";
	}
}
