/* fuzz_hello.c - libFuzzer target for the opening of a peer connection
 * (src/raft/hello.c): any input read as a hello or a refusal must never
 * crash or read past its end, and a hello that decodes re-encodes to exactly
 * the bytes it took. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_copy.h"
#include "raft/hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = fuzz_copy(data, size);
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
