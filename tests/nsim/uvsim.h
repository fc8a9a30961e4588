/* tests/nsim/uvsim.h — the private seam between world.c (time, hosts, the
 * network) and uvsim.c (the simulated libuv the server is linked with):
 * not for drivers, which use world.h.
 *
 * The network is the kernel's side of TCP: endpoints (struct ep) that
 * send and receive bytes in order, a send buffer of NSIM_SNDBUF bytes not
 * yet read by the far end, listeners found by (address, port). uvsim.c
 * is libuv's side: handles, requests, the loop's phases; it owns an
 * endpoint through a notify function that world.c calls whenever
 * something arrives for it or its send buffer frees up. Addresses and
 * ports are in host byte order here. */
#ifndef KEEL_TESTS_NSIM_UVSIM_H
#define KEEL_TESTS_NSIM_UVSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "nsim/world.h"

#define NSIM_SNDBUF   (256u * 1024) /* bytes sent and not yet read by the far end */
#define NSIM_READ_MAX (64u * 1024)  /* bytes a read returns at most */

struct naddr {
	uint32_t ip;
	uint16_t port;
};

struct ep;
struct nlisten;
typedef void (*ep_notify_fn)(void *owner);

/* ---- world.c, for uvsim.c ---- */

uint64_t nsim_now_ns(void);
/* Something about h's loop changed: when its next iteration is due is
 * computed again before the world's next event. */
void host_dirty(struct host *h);
uint32_t host_addr(const struct host *h);
int host_number(const struct host *h);
struct host *nsim_current(void);

/* Listens on a (its ip one of h's); UV_EADDRINUSE if something does. */
int net_listen(struct host *h, struct naddr a, ep_notify_fn fn, void *owner, struct nlisten **out);
/* Stops listening; connections not accepted yet are reset. */
void net_unlisten(struct nlisten *l);
/* The oldest connection established on l and not yet accepted, or NULL. */
struct ep *net_accept(struct nlisten *l);
bool net_acceptable(const struct nlisten *l);
bool net_port_listened(uint32_t ip, uint16_t port);
/* Starts a connect from src (port 0: an ephemeral one) to dst; the result
 * is ep_connect_status's after a round trip (or the connect timeout). */
struct ep *net_connect(struct host *from, struct naddr src, struct naddr dst, ep_notify_fn fn,
		       void *owner);
void ep_own(struct ep *e, ep_notify_fn fn, void *owner);
/* 0 while connecting, 1 connected, else UV_ECONNREFUSED or UV_ETIMEDOUT. */
int ep_connect_status(const struct ep *e);
/* Takes up to n bytes into the send buffer: the count, UV_EAGAIN if it is
 * full, or an error (UV_ECONNRESET once after a reset, then UV_EPIPE). */
int ep_send(struct ep *e, const void *p, size_t n);
/* Up to n bytes received: the count, 0 at the end of the stream,
 * UV_EAGAIN if nothing is there yet, or an error (UV_ECONNRESET). */
int ep_recv(struct ep *e, void *p, size_t n);
bool ep_recv_ready(const struct ep *e); /* ep_recv would not say UV_EAGAIN */
bool ep_send_ready(const struct ep *e); /* ep_send would not say UV_EAGAIN */
/* The socket is closed: FIN, or RST if received bytes were left unread;
 * the owner is never notified again. */
void ep_close(struct ep *e);
struct naddr ep_local(const struct ep *e);
struct naddr ep_peer(const struct ep *e);

/* ---- uvsim.c, for world.c ---- */

/* Initialises loop (zeroed memory) as uv_loop_init would, for host h. */
void uvsim_loop_init(uv_loop_t *loop, struct host *h);
/* One iteration at the world's current time: timers, pending, idle,
 * poll (I/O and asyncs), pending again, check, closing. */
void uvsim_loop_iterate(uv_loop_t *loop);
/* The world time the next iteration is due at: now if something is ready,
 * the earliest timer's time, or UINT64_MAX. */
uint64_t uvsim_loop_due(uv_loop_t *loop);
/* Runs the close callbacks of closed handles until none is left to run
 * (a crash or a stop: nothing else of the loop runs). */
void uvsim_loop_finish_closing(uv_loop_t *loop);
/* Handles initialised and not yet fully closed. */
size_t uvsim_loop_handles(uv_loop_t *loop);
void uvsim_loop_free(uv_loop_t *loop);

#endif
