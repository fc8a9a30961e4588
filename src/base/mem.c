/* base/mem.c — allocation that never returns NULL: running out of memory
 * aborts with a message, as Redis does. */
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mem_oom(size_t n)
{
	fprintf(stderr, "keel: out of memory allocating %zu bytes\n", n);
	fflush(stderr);
	abort();
}

void *keel_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		mem_oom(n);
	return p;
}

void *keel_calloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		mem_oom(count * size);
	return p;
}

void *keel_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		mem_oom(n);
	return q;
}

void *keel_memdup(const void *p, size_t n)
{
	if (n == 0)
		return NULL;
	void *q = keel_malloc(n);
	memcpy(q, p, n);
	return q;
}

void keel_free(void *p) { free(p); }
