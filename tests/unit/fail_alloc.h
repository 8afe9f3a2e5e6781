/* fail_alloc.h - a failing allocator for unit tests of code that allocates
 * through alloc.h: it swaps alloc_hooks for wrappers around malloc that count
 * live blocks (so a test sees a leak without LeakSanitizer, which the
 * harness's _exit skips) and fail the allocation it is told to. */
#ifndef DLOCK_FAIL_ALLOC_H
#define DLOCK_FAIL_ALLOC_H

#include <stdbool.h>
#include <stdlib.h>

#include "common/alloc.h"

static long fa_live;    /* blocks allocated and not freed */
static long fa_calls;   /* allocations attempted since fa_install */
static long fa_fail_at; /* the attempt that fails (1 is the first); 0: none */
static bool fa_sticky;  /* every attempt after it fails too */

static inline bool fa_fails(void)
{
    fa_calls++;
    return fa_fail_at > 0 &&
           (fa_calls == fa_fail_at || (fa_sticky && fa_calls > fa_fail_at));
}

static inline void *fa_malloc(size_t n)
{
    void *p = fa_fails() ? NULL : malloc(n);
    fa_live += p != NULL;
    return p;
}

static inline void *fa_realloc(void *p, size_t n)
{
    return fa_fails() ? NULL : realloc(p, n);
}

static inline void fa_free(void *p)
{
    fa_live--;
    free(p);
}

/* Routes alloc.h through the wrappers; attempt number fail_at (and, if
 * sticky, every later one) fails. Counts attempts from 0 again. */
static inline void fa_install(long fail_at, bool sticky)
{
    fa_calls = 0;
    fa_fail_at = fail_at;
    fa_sticky = sticky;
    alloc_hooks.malloc = fa_malloc;
    alloc_hooks.realloc = fa_realloc;
    alloc_hooks.free = fa_free;
}

#endif
