/* fuzz_logfmt.c - libFuzzer target for the log record codec: any input, read
 * as a segment file (header, then records) as it is and again with every CRC
 * made valid, must never crash or read outside it. Every record that decodes
 * must lie inside the buffer and re-encode to exactly its bytes, and the
 * look-ahead must find what a plain scan of every aligned offset finds.
 * Only the first 64 KiB are looked at: the look-ahead may take time
 * quadratic in the size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/le.h"
#include "raft/logfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (64u << 10)

/* Checks the record decoded at off, size bytes: inside the buffer, well
 * formed, and encoded exactly as logfmt_encode would. */
static void check_record(const uint8_t *buf, size_t len, size_t off,
                         const struct logfmt_record *r, size_t size)
{
    if (r->len > LOGFMT_MAX_LEN || size != logfmt_size(r->len) ||
        size > len - off || r->kind < LOGFMT_ENTRY ||
        r->kind > LOGFMT_BATCH_END || r->data != buf + off + LOGFMT_HEADER)
        abort();
    uint8_t *out = malloc(size);
    if (out == NULL)
        abort();
    logfmt_encode(out, r);
    if (memcmp(out, buf + off, size) != 0)
        abort();
    free(out);
}

/* Decodes records from off until one does not decode; returns where. */
static size_t scan(const uint8_t *buf, size_t len, size_t off)
{
    for (;;) {
        struct logfmt_record r;
        size_t size = 0;
        int status = logfmt_decode(buf, len, off, &r, &size);
        if (status != LOGFMT_OK) {
            if (status < LOGFMT_END || status > LOGFMT_BADKIND)
                abort();
            return off;
        }
        check_record(buf, len, off, &r, size);
        off += size;
    }
}

/* The look-ahead as its contract states it: every 8-byte aligned offset
 * from off on, skipping over the records found, without the shortcut. */
static bool plain_lookahead(const uint8_t *buf, size_t len, size_t off,
                            uint64_t *max_batch)
{
    bool found = false;
    for (off = (off + 7) / 8 * 8; off < len;) {
        struct logfmt_record r;
        size_t size;
        if (logfmt_decode(buf, len, off, &r, &size) != LOGFMT_OK) {
            off += 8;
            continue;
        }
        if (!found || r.batch > *max_batch)
            *max_batch = r.batch;
        found = true;
        off += size;
    }
    return found;
}

static void check_lookahead(const uint8_t *buf, size_t len, size_t off)
{
    uint64_t got = 0, want = 0;
    bool found = logfmt_lookahead(buf, len, off, &got);
    if (found != plain_lookahead(buf, len, off, &want) ||
        (found && got != want))
        abort();
}

static void check_segment_header(const uint8_t *buf, size_t len)
{
    struct logfmt_segment seg;
    uint8_t out[LOGFMT_SEG_HEADER];
    int status = logfmt_segment_decode(buf, len, &seg);
    if (status == LOGFMT_OK) {
        logfmt_segment_encode(out, &seg);
        if (memcmp(out, buf, sizeof out) != 0)
            abort();
    } else if (status != LOGFMT_SHORT && status != LOGFMT_BADMAGIC &&
               status != LOGFMT_BADCRC) {
        abort();
    }
}

/* What recovery does with a segment: the header, the records after it, and
 * from where they stop the look-ahead; also the buffer read as records
 * from its start, and decodes at and past its end. */
static void check_buffer(const uint8_t *buf, size_t len)
{
    struct logfmt_record r;
    size_t size;
    check_segment_header(buf, len);
    size_t stop = scan(buf, len, LOGFMT_SEG_HEADER);
    check_lookahead(buf, len, stop);
    if (stop != LOGFMT_SEG_HEADER)
        check_lookahead(buf, len, LOGFMT_SEG_HEADER);
    scan(buf, len, 0);
    if (logfmt_decode(buf, len, len, &r, &size) != LOGFMT_END ||
        logfmt_decode(buf, len, len + 1, &r, &size) != LOGFMT_END)
        abort();
}

/* Gives the segment header and the chain of records after it valid CRCs,
 * so that the fuzzer gets past them to the rest of the decoder. */
static void fix_crcs(uint8_t *buf, size_t len)
{
    if (len < LOGFMT_SEG_HEADER)
        return;
    le_put32(buf + 28, crc32c(0, buf, 28));
    for (size_t off = LOGFMT_SEG_HEADER; len - off >= LOGFMT_HEADER;) {
        uint32_t plen = le_get32(buf + off + 4);
        if (plen > LOGFMT_MAX_LEN || logfmt_size(plen) > len - off)
            return;
        size_t n = logfmt_size(plen);
        le_put32(buf + off, crc32c(0, buf + off + 4, n - 4));
        off += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = size < MAX_INPUT ? size : MAX_INPUT;
    /* A copy of exactly len bytes, so that AddressSanitizer sees any read
     * past them. */
    uint8_t *buf = calloc(len ? len : 1, 1);
    if (buf == NULL)
        abort();
    if (len > 0)
        memcpy(buf, data, len);
    check_buffer(buf, len);
    fix_crcs(buf, len);
    check_buffer(buf, len);
    free(buf);
    return 0;
}
