/* mem.c - allocation helpers that abort on out-of-memory. */
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "out of memory allocating %zu bytes\n", n);
    abort();
}

void *mem_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *mem_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        oom(count * n);
    return p;
}

void *mem_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

void *mem_xmemdup(const void *p, size_t n)
{
    void *q = mem_xmalloc(n);
    if (n > 0)
        memcpy(q, p, n);
    return q;
}

char *mem_xstrdup(const char *s)
{
    return mem_xmemdup(s, strlen(s) + 1);
}
