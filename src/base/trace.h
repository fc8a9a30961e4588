/* base/trace.h — trace lines: one readable line per notable event, sent to a
 * sink the embedder chooses (a test's expected-trace buffer, a log file). */
#ifndef KEEL_BASE_TRACE_H
#define KEEL_BASE_TRACE_H

#include <stdbool.h>

#define TRACE_LINE_MAX 512

typedef void (*trace_cb)(void *ctx, const char *line);

struct trace {
	trace_cb cb; /* NULL: tracing off */
	void *ctx;
};

static inline bool trace_on(const struct trace *t) { return t && t->cb; }

/* Formats one line (no newline; truncated to TRACE_LINE_MAX) and hands it
 * to the sink. Does nothing when tracing is off. */
void trace_printf(const struct trace *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
