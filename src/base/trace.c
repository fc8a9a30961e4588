/* base/trace.c — formats one trace line and hands it to the sink. */
#include "base/trace.h"

#include <stdarg.h>
#include <stdio.h>

void trace_printf(const struct trace *t, const char *fmt, ...)
{
	if (!trace_on(t))
		return;
	char line[TRACE_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	t->cb(t->ctx, line);
}
