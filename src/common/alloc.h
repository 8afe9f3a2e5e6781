/* alloc.h - the allocator of code that must not abort on out-of-memory: the
 * common code shared with libdlock (buf, resp) and libdlock itself. Every
 * allocation goes through alloc_hooks, plain data that a test swaps to make
 * an allocation fail, and that a libdlock user may point at their own
 * allocator. Callers of these functions handle NULL by returning
 * DLOCK_ENOMEM; the server's abort-on-failure helpers are in mem.h. */
#ifndef DLOCK_ALLOC_H
#define DLOCK_ALLOC_H

#include <stddef.h>

/* The three functions behind alloc_malloc, alloc_realloc and alloc_free;
 * malloc and realloc by default. They are never called with a size of 0,
 * and free is never called with NULL. Swap them only while nothing
 * allocated through the old ones is still live, unless the new ones accept
 * the old pointers (a test's wrappers around malloc do). */
struct alloc_hooks {
    void *(*malloc)(size_t n);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);
};

extern struct alloc_hooks alloc_hooks;

/* Allocates n bytes (at least 1); NULL on failure. */
void *alloc_malloc(size_t n);

/* Resizes p (NULL allocates) to n bytes (at least 1); NULL on failure, in
 * which case p is untouched and still owned by the caller. */
void *alloc_realloc(void *p, size_t n);

/* Frees p; NULL is accepted. */
void alloc_free(void *p);

/* Overwrites n bytes at p (a password) with zeros in a way the compiler
 * keeps; p may be NULL when n is 0. */
void alloc_wipe(void *p, size_t n);

/* Resizes the array at *p of *cap elements of size bytes so that it holds
 * at least need elements, growing geometrically; 0, or DLOCK_ENOMEM
 * (also when the size overflows) with *p and *cap untouched. */
int alloc_grow(void **p, size_t *cap, size_t need, size_t size);

#endif
