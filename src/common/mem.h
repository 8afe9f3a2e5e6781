/* mem.h - allocation helpers that abort on out-of-memory (the "x" says so).
 * Used by the server and the Raft core, where a dead replica is safe and a
 * half-done apply is not; never by libdlock. */
#ifndef DLOCK_MEM_H
#define DLOCK_MEM_H

#include <stddef.h>

void *mem_xmalloc(size_t n);
void *mem_xcalloc(size_t count, size_t n);
void *mem_xrealloc(void *p, size_t n);
void *mem_xmemdup(const void *p, size_t n);
char *mem_xstrdup(const char *s);

#endif
