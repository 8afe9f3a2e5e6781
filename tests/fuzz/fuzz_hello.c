/* fuzz_hello.c - libFuzzer target for the opening of a peer connection
 * (src/raft/hello.c): any input read as a hello or a refusal must never
 * crash or read past its end, and a hello that decodes re-encodes to exactly
 * the bytes it took. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A heap copy of exactly size bytes, so that AddressSanitizer sees any
     * read past it. */
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    if (size > 0)
        memcpy(copy, data, size);
    struct hello h;
    long used = hello_decode(&h, copy, size);
    if (used > (long)size)
        abort();
    if (used > 0) {
        uint8_t out[HELLO_MAX_SIZE];
        if (hello_encode(&h, out, sizeof out) != (size_t)used ||
            memcmp(out, copy, (size_t)used) != 0)
            abort();
    }
    char why[HELLO_REFUSAL_MAX + 1];
    long n = hello_refusal_decode(copy, size, why);
    if (n > (long)size || (n > 0 && strlen(why) > HELLO_REFUSAL_MAX))
        abort();
    free(copy);
    return 0;
}
