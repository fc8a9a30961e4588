/* tests/nsim/world.h — the simulated world the whole-node simulator runs
 * keel-server in: one process, one thread, one clock, every event in one
 * queue ordered by (time, sequence number), so a seed replays byte for byte.
 *
 * The seam. keel-server talks to the outside only through libuv (the
 * subset listed in tests/nsim/uvsim.c) and the `*_posix()` getters of
 * src/io/ (files, monotonic clock, randomness) and io_wall_posix (the
 * wall clock). The simulator links its own versions of exactly those
 * (uvsim.c, world.c) in place of libuv, src/io/fs_posix.c and
 * src/io/clock_posix.c: the server's own code runs unchanged, several
 * servers in one process, each on a host of its own.
 *
 * Hosts. Each host has an IPv4 address (127.0.0.N for nodes; clients use
 * others), its own uv_loop_t, disk (a simfs), wall-clock offset and
 * state (up, paused, down). The world knows which host's code is running
 * (world_current): the getters of src/io/ answer for that host.
 *
 * The network. TCP between addresses: a listener is found by (address,
 * port); a connection delivers its bytes in order, each write after a
 * latency drawn per write (never earlier than the write before it on the
 * same connection), in one piece or, on a split connection, in several.
 * Faults: a cut between two hosts holds their bytes
 * (delivered when healed) and makes new connections between them time
 * out; a reset ends every connection between two hosts (both ends see
 * ECONNRESET); a host that crashes resets all of its connections.
 *
 * Loops. A host's loop runs an iteration whenever something is due on it
 * (a timer, bytes, a connection, a write finished, an async wake, an
 * active idle handle), at most one per microsecond of world time: due
 * timers, pending callbacks, idle handles, the I/O callbacks of that
 * moment, check handles, then close callbacks — libuv's order; uv_now is
 * the iteration's time throughout. uv_run is not used: the world iterates
 * the loops (uv_run aborts). A paused host runs nothing until it resumes
 * (its kernel still takes bytes and connections, which wait); a down host
 * has no loop. */
#ifndef KEEL_TESTS_NSIM_WORLD_H
#define KEEL_TESTS_NSIM_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/prng.h"
#include "io/fs.h"

struct world;
struct host;
struct wconn;

struct world_options {
	uint64_t seed;
	/* per segment sent (default, when max is 0: 100 us .. 2 ms) */
	uint64_t latency_min_ns, latency_max_ns;
	/* a connect not answered by then (its SYN held by a cut) fails with
	 * UV_ETIMEDOUT (default, when 0: 1 s) */
	uint64_t connect_timeout_ns;
	void (*trace)(void *ctx, const char *line); /* NULL: quiet */
	void *trace_ctx;
};

struct world *world_new(const struct world_options *o);
void world_free(struct world *w); /* every host must be down */
uint64_t world_now_ns(const struct world *w);
struct prng *world_rng(struct world *w); /* the one source of randomness */
void world_tracef(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs the next event; false if there is none. */
bool world_step(struct world *w);
/* Runs events until the clock reaches t (it is then t). */
void world_run_until(struct world *w, uint64_t t_ns);
/* Calls fn(arg) at time at (the driver's own events: workload, faults). */
void world_at(struct world *w, uint64_t at_ns, void (*fn)(void *arg), void *arg);

/* ---- hosts ---- */

/* A host at ip ("127.0.0.1"), down, with an empty disk. */
struct host *world_host(struct world *w, const char *ip);
const char *host_ip(const struct host *h);
struct simfs *host_disk(struct host *h);
void host_set_wall_offset_ms(struct host *h, int64_t ms); /* clock skew */
/* Brings the host up with a fresh loop (libuv-initialised: uv_loop_init
 * semantics) and makes it current while fn(arg) runs (the driver starts a
 * server in it). Returns the loop. */
uv_loop_t *host_up(struct host *h, void (*fn)(void *arg), void *arg);
/* Runs fn(arg) with h current (its loop, disk and clocks): for the driver's
 * calls into a server outside a loop callback. */
void host_enter(struct host *h, void (*fn)(void *arg), void *arg);
/* The host's loop while it is up, else NULL (for host_up's fn). */
uv_loop_t *host_loop(struct host *h);
/* The process dies. In order: every connection of the host is reset
 * (the far ends see ECONNRESET after a latency) and nothing it writes from
 * now on leaves it; its timers, idles, checks and asyncs never fire again;
 * halt(arg) runs with h current (the server closes every handle it has,
 * with its own close callbacks: server_halt); the pending close callbacks
 * run (writes and connects still pending get UV_ECANCELED first); the
 * loop must then hold no handle (asserted). Then the disk crashes
 * (simfs_crash: unsynced writes partly lost). The host is down; the
 * driver frees the server's memory (server_discard) after. */
void host_crash(struct host *h, void (*halt)(void *arg), void *arg);
/* host_crash with one more step: once the close callbacks ran, and before
 * the disk crashes, free_fn(arg) runs with h current (server_discard: it
 * may still close the files the process had open). */
void host_crash_free(struct host *h, void (*halt)(void *arg), void (*free_fn)(void *arg),
		     void *arg);
/* A clean stop: the loop has no open handle left (the server closed
 * everything): the host is down, its disk kept as is. */
void host_down(struct host *h);
bool host_is_up(const struct host *h);
/* The process stops running (SIGSTOP, a long GC pause) until t_ns. */
void host_pause_until(struct host *h, uint64_t t_ns);
struct host *world_current(struct world *w); /* NULL outside a host */

/* ---- network faults ---- */
void world_cut(struct world *w, struct host *a, struct host *b, bool cut); /* symmetric */
void world_reset(struct world *w, struct host *a, struct host *b);
void world_set_latency(struct world *w, uint64_t min_ns, uint64_t max_ns);
/* Of the connections made from now on, permille (drawn per connection)
 * deliver each write's bytes in pieces at boundaries drawn from the
 * world's PRNG, one-byte pieces among them, each piece a read of its own
 * (as real TCP may); 0, the default, draws nothing: one piece per write. */
void world_set_split(struct world *w, uint32_t permille);

/* ---- the driver's own connections (its clients): no libuv ---- */

enum wconn_event {
	WCONN_CONNECTED = 1, /* the connect succeeded */
	WCONN_DATA,	     /* bytes arrived: wconn_data has them */
	WCONN_CLOSED,	     /* refused, timed out, reset, or the far end closed */
};

/* Connects from host `from` (a client host: never up, no loop) to
 * ip:port; cb runs for each event with the world current on no host. */
struct wconn *wconn_open(struct world *w, struct host *from, const char *ip, int port,
			 void (*cb)(void *ctx, struct wconn *c, enum wconn_event ev), void *ctx);
void wconn_send(struct wconn *c, const void *p, size_t n);
/* The bytes received and not yet consumed. */
const uint8_t *wconn_data(const struct wconn *c, size_t *n);
void wconn_consume(struct wconn *c, size_t n);
/* Closes it (the far end sees EOF after a latency); frees it: no callback
 * runs for it again. Valid from within its callback. */
void wconn_close(struct wconn *c);

#endif
