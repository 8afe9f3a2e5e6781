/* fuzz_wire.c - libFuzzer target for the peer protocol codec: any input, read
 * as a stream of frames, a single frame or a conf payload, must never crash,
 * and whatever decodes must re-encode to exactly the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes m and aborts unless that gives exactly the len bytes at want. */
static void expect_encoding(const struct raft_msg *m, const uint8_t *want,
                            size_t len)
{
    uint8_t *buf = malloc(len + 1);
    if (buf == NULL)
        abort();
    if (wire_msg_size(m) != len || wire_msg_encode(m, buf, len + 1) != len ||
        memcmp(buf, want, len) != 0)
        abort();
    free(buf);
}

/* Decodes the len bytes at frame from a heap copy of exactly that size (so
 * that AddressSanitizer sees any read past it) and checks the round trip,
 * also through a clone. */
static void check_frame(const uint8_t *frame, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    struct raft_msg m;
    if (copy == NULL)
        abort();
    if (len > 0)
        memcpy(copy, frame, len);
    if (wire_msg_decode(&m, copy, len) == 0) {
        expect_encoding(&m, copy, len);
        struct raft_msg *c = wire_msg_clone(&m);
        wire_msg_close(&m);
        expect_encoding(c, frame, len);
        wire_msg_free(c);
    } else if (m.entries != NULL || m.n_entries != 0) {
        abort();
    }
    free(copy);
}

static void check_conf(const uint8_t *data, size_t size)
{
    struct raft_conf c;
    if (raft_conf_decode(&c, data, size) != 0)
        return;
    uint8_t *buf = malloc(size);
    if (buf == NULL)
        abort();
    if (raft_conf_check(&c) != 0 || raft_conf_encode(&c, buf, size) != size ||
        memcmp(buf, data, size) != 0)
        abort();
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0, flen = 0;
    while (wire_frame_len(data + pos, size - pos, &flen) == 1) {
        if (flen < WIRE_HEADER_SIZE || flen > size - pos)
            abort();
        check_frame(data + pos, flen);
        pos += flen;
    }
    check_frame(data, size);
    check_conf(data, size);
    return 0;
}
