/* base/mem.h — allocation hooks. keel treats running out of memory as fatal
 * (as Redis does): these never return NULL; they abort with a message. */
#ifndef KEEL_BASE_MEM_H
#define KEEL_BASE_MEM_H

#include <stddef.h>

void *keel_malloc(size_t n);
void *keel_calloc(size_t count, size_t size);
void *keel_realloc(void *p, size_t n);
void *keel_memdup(const void *p, size_t n); /* n == 0 gives NULL */
void keel_free(void *p);

#endif
