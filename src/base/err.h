/* base/err.h — the project-wide error codes, their strings, and a message
 * buffer that gains context on its way up ("open segment: write: EIO"). */
#ifndef KEEL_BASE_ERR_H
#define KEEL_BASE_ERR_H

#include <stddef.h>

enum keel_err {
	KEEL_OK = 0,
	KEEL_ENOMEM,     /* out of memory */
	KEEL_EINVAL,     /* invalid argument */
	KEEL_EIO,        /* an I/O call failed */
	KEEL_ENOSPC,     /* no space left on the device */
	KEEL_ECORRUPT,   /* data failed its checksum or format check */
	KEEL_ENOENT,     /* no such file or item */
	KEEL_ENOTLEADER, /* this node is not the leader */
	KEEL_ENOLEADER,  /* no leader is known */
	KEEL_EBUSY,      /* another operation of this kind is in progress */
	KEEL_ETOOBIG,    /* over a named limit */
	KEEL_EPROTO,     /* a peer or client broke the protocol */
	KEEL_ESTOPPED,   /* the node stopped after a fatal error */
	KEEL_ETIMEDOUT,  /* no answer in time */
	KEEL_ESHUTDOWN,  /* the node is shutting down */
	KEEL_ERR_COUNT
};

/* A short lowercase description; never NULL ("unknown error" if out of range). */
const char *keel_err_str(int err);
/* The symbolic name, e.g. "KEEL_EIO". */
const char *keel_err_name(int err);

#define KEEL_ERRMSG_MAX 256

struct keel_errmsg {
	char text[KEEL_ERRMSG_MAX];
};

/* Replaces the message (printf-style, truncated to fit). */
void keel_errmsg_set(struct keel_errmsg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prefixes context: "<context>: <old message>". */
void keel_errmsg_wrap(struct keel_errmsg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
