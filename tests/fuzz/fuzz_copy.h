/* fuzz_copy.h - what the fuzz targets share: a heap copy of exactly the
 * bytes of an input, so that AddressSanitizer sees any read past them. */
#ifndef DLOCK_FUZZ_COPY_H
#define DLOCK_FUZZ_COPY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of the len bytes at p (one byte allocated for none);
 * aborts if out of memory. */
static inline uint8_t *fuzz_copy(const uint8_t *p, size_t len)
{
    uint8_t *q = malloc(len ? len : 1);
    if (q == NULL)
        abort();
    if (len > 0)
        memcpy(q, p, len);
    return q;
}

#endif
