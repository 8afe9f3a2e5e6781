/* alloc.c - the allocator of code that must not abort (see alloc.h). */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct alloc_hooks alloc_hooks = {malloc, realloc, free};

void *alloc_malloc(size_t n)
{
    return alloc_hooks.malloc(n ? n : 1);
}

void *alloc_realloc(void *p, size_t n)
{
    if (p == NULL)
        return alloc_hooks.malloc(n ? n : 1);
    return alloc_hooks.realloc(p, n ? n : 1);
}

void alloc_free(void *p)
{
    if (p != NULL)
        alloc_hooks.free(p);
}

void alloc_wipe(void *p, size_t n)
{
    if (n > 0)
        explicit_bzero(p, n);
}

int alloc_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap < 8 ? 8 : *cap;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    if (n > SIZE_MAX / size)
        return DLOCK_ENOMEM;
    void *q = alloc_realloc(*p, n * size);
    if (q == NULL)
        return DLOCK_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}
