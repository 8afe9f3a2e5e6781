/* logfmt.c - encoding and decoding of log records and segment headers. */
#include "raft/logfmt.h"

#include <assert.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/le.h"

#define SEG_MAGIC 0x474f4c44u /* "DLOG" */
#define SEG_VERSION 1

size_t logfmt_size(uint32_t len)
{
    return LOGFMT_HEADER + (((size_t)len + 7) & ~(size_t)7);
}

void logfmt_encode(uint8_t *out, const struct logfmt_record *rec)
{
    assert(rec->len <= LOGFMT_MAX_LEN);
    size_t size = logfmt_size(rec->len);
    memset(out, 0, LOGFMT_HEADER);
    le_put32(out + 4, rec->len);
    out[8] = rec->kind;
    out[9] = rec->type;
    le_put64(out + 16, rec->batch);
    le_put64(out + 24, rec->index);
    le_put64(out + 32, rec->term);
    if (rec->len > 0)
        memcpy(out + LOGFMT_HEADER, rec->data, rec->len);
    memset(out + LOGFMT_HEADER + rec->len, 0, size - LOGFMT_HEADER - rec->len);
    le_put32(out, crc32c(0, out + 4, size - 4));
}

bool logfmt_all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* True if the kind and the reserved bytes of header h are ones we write. */
static bool header_known(const uint8_t *h)
{
    return h[8] >= LOGFMT_ENTRY && h[8] <= LOGFMT_BATCH_END &&
           logfmt_all_zero(h + 10, 6);
}

int logfmt_decode(const uint8_t *buf, size_t len, size_t off,
                  struct logfmt_record *rec, size_t *size)
{
    if (off >= len)
        return LOGFMT_END;
    const uint8_t *h = buf + off;
    size_t avail = len - off;
    if (avail < LOGFMT_HEADER)
        return LOGFMT_SHORT;
    if (logfmt_all_zero(h, LOGFMT_HEADER))
        return LOGFMT_END;
    uint32_t plen = le_get32(h + 4);
    if (plen > LOGFMT_MAX_LEN)
        return LOGFMT_BADLEN;
    size_t n = logfmt_size(plen);
    if (n > avail)
        return LOGFMT_SHORT;
    if (crc32c(0, h + 4, n - 4) != le_get32(h))
        return LOGFMT_BADCRC;
    /* Checked under a valid CRC, so that this means "written by a newer
     * version" rather than noise. Non-zero padding is refused too: each
     * record has exactly one encoding. */
    if (!header_known(h) ||
        !logfmt_all_zero(h + LOGFMT_HEADER + plen, n - LOGFMT_HEADER - plen))
        return LOGFMT_BADKIND;
    rec->kind = h[8];
    rec->type = h[9];
    rec->batch = le_get64(h + 16);
    rec->index = le_get64(h + 24);
    rec->term = le_get64(h + 32);
    rec->len = plen;
    rec->data = h + LOGFMT_HEADER;
    *size = n;
    return LOGFMT_OK;
}

bool logfmt_lookahead(const uint8_t *buf, size_t len, size_t off,
                      uint64_t *max_batch)
{
    bool found = false;
    if (off > len)
        return false;
    off += (8 - off % 8) % 8;
    while (off < len && len - off >= LOGFMT_HEADER) {
        struct logfmt_record rec;
        size_t size;
        /* The cheap header test first: most garbage fails it, and the CRC
         * of a long record is then never computed. */
        if (!header_known(buf + off) ||
            logfmt_decode(buf, len, off, &rec, &size) != LOGFMT_OK) {
            off += 8;
            continue;
        }
        if (!found || rec.batch > *max_batch)
            *max_batch = rec.batch;
        found = true;
        off += size;
    }
    return found;
}

void logfmt_segment_encode(uint8_t *out, const struct logfmt_segment *seg)
{
    memset(out, 0, LOGFMT_SEG_HEADER);
    le_put32(out, SEG_MAGIC);
    le_put32(out + 4, SEG_VERSION);
    le_put64(out + 8, seg->seq);
    le_put64(out + 16, seg->first_batch);
    le_put32(out + 28, crc32c(0, out, 28));
}

int logfmt_segment_decode(const uint8_t *buf, size_t len,
                          struct logfmt_segment *seg)
{
    if (len < LOGFMT_SEG_HEADER)
        return LOGFMT_SHORT;
    if (le_get32(buf) != SEG_MAGIC || le_get32(buf + 4) != SEG_VERSION)
        return LOGFMT_BADMAGIC;
    if (crc32c(0, buf, 28) != le_get32(buf + 28) || le_get32(buf + 24) != 0)
        return LOGFMT_BADCRC;
    seg->seq = le_get64(buf + 8);
    seg->first_batch = le_get64(buf + 16);
    return LOGFMT_OK;
}

const char *logfmt_status_name(int status)
{
    switch (status) {
    case LOGFMT_OK:
        return "ok";
    case LOGFMT_END:
        return "end (all-zero header)";
    case LOGFMT_SHORT:
        return "short record";
    case LOGFMT_BADCRC:
        return "bad CRC";
    case LOGFMT_BADLEN:
        return "bad length";
    case LOGFMT_BADKIND:
        return "unknown record kind";
    case LOGFMT_BADMAGIC:
        return "bad magic or version";
    }
    return "unknown status";
}
