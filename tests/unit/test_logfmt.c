/* test_logfmt.c - the log record codec (src/raft/logfmt.c): round trips,
 * truncation at every byte, and damage reported where it lies. */
#include "harness.h"

#include "common/crc32c.h"
#include "common/le.h"
#include "raft/logfmt.h"

static uint64_t rng_state = 88172645463325252u;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A buffer of encoded records and where each starts. */
#define MAX_RECS 64
struct log {
    uint8_t *buf;
    size_t len;
    size_t n;
    size_t off[MAX_RECS + 1]; /* off[n] = len */
    struct logfmt_record rec[MAX_RECS];
    uint8_t payload[MAX_RECS][300];
};

static void log_add(struct log *l, const struct logfmt_record *r)
{
    size_t size = logfmt_size(r->len);
    l->buf = realloc(l->buf, l->len + size);
    CHECK(l->buf != NULL);
    logfmt_encode(l->buf + l->len, r);
    l->rec[l->n] = *r;
    l->off[l->n++] = l->len;
    l->len += size;
    l->off[l->n] = l->len;
}

/* n records of every kind with random payload sizes (0..299 bytes). */
static void log_make(struct log *l, size_t n)
{
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < n; i++) {
        struct logfmt_record r = {
            .batch = 1 + i / 4, .index = 10 + i, .term = 3 + i / 8};
        r.kind = i % 7 == 3   ? LOGFMT_HARD_STATE
                 : i % 7 == 5 ? LOGFMT_TRUNCATE
                 : i % 4 == 3 ? LOGFMT_BATCH_END
                              : LOGFMT_ENTRY;
        if (r.kind == LOGFMT_ENTRY) {
            r.type = (uint8_t)(1 + i % 3);
            r.len = (uint32_t)(rnd() % 300);
            for (uint32_t k = 0; k < r.len; k++)
                l->payload[i][k] = (uint8_t)rnd();
            r.data = l->payload[i];
        }
        log_add(l, &r);
    }
}

static void check_same(const struct logfmt_record *a,
                       const struct logfmt_record *b)
{
    CHECK_EQ(a->kind, b->kind);
    CHECK_EQ(a->type, b->type);
    CHECK_U64(a->batch, b->batch);
    CHECK_U64(a->index, b->index);
    CHECK_U64(a->term, b->term);
    CHECK_EQ(a->len, b->len);
    if (a->len > 0)
        CHECK_MEM(a->data, b->data, a->len);
}

/* Decodes buf (len bytes) from 0 until a stop; returns the records decoded
 * and the offset and status of the stop. */
static size_t decode_all(const uint8_t *buf, size_t len,
                         struct logfmt_record *out, size_t max, size_t *stop,
                         int *status)
{
    size_t off = 0, n = 0;
    for (;;) {
        struct logfmt_record r;
        size_t size = 0;
        *status = logfmt_decode(buf, len, off, &r, &size);
        if (*status != LOGFMT_OK)
            break;
        CHECK(size >= LOGFMT_HEADER && size % 8 == 0 && size <= len - off);
        CHECK(r.len == 0 || (r.data >= buf && r.data + r.len <= buf + len));
        if (n < max)
            out[n] = r;
        n++;
        off += size;
    }
    *stop = off;
    return n;
}

/* Every kind of record, with payloads of 0 to 300 bytes and extreme field
 * values, decodes to what was encoded, in a multiple of 8 bytes. */
TEST(logfmt, round_trip)
{
    static uint8_t data[300], buf[LOGFMT_HEADER + 304];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    uint8_t kinds[] = {LOGFMT_ENTRY, LOGFMT_HARD_STATE, LOGFMT_TRUNCATE,
                       LOGFMT_BATCH_END};
    for (size_t k = 0; k < sizeof kinds; k++) {
        for (uint32_t len = 0; len <= 300; len++) {
            struct logfmt_record in = {kinds[k],
                                       (uint8_t)(len % 4),
                                       len * 3,
                                       UINT64_MAX - len,
                                       (uint64_t)1 << 63,
                                       len,
                                       data},
                                 out;
            size_t size = 0;
            memset(buf, 0xee, sizeof buf);
            logfmt_encode(buf, &in);
            CHECK_EQ(logfmt_size(len), LOGFMT_HEADER + (len + 7) / 8 * 8);
            CHECK_EQ(logfmt_decode(buf, logfmt_size(len), 0, &out, &size),
                     LOGFMT_OK);
            CHECK_EQ(size, logfmt_size(len));
            check_same(&in, &out);
            for (size_t p = LOGFMT_HEADER + len; p < size; p++)
                CHECK_EQ(buf[p], 0);
        }
    }
}

/* A segment header decodes to what was encoded; a short, foreign or
 * damaged one is reported as such. */
TEST(logfmt, segment_header)
{
    uint8_t buf[LOGFMT_SEG_HEADER];
    struct logfmt_segment in = {0x123456789abcdefu, 77}, out;
    logfmt_segment_encode(buf, &in);
    CHECK_EQ(logfmt_segment_decode(buf, sizeof buf, &out), LOGFMT_OK);
    CHECK_U64(out.seq, in.seq);
    CHECK_U64(out.first_batch, in.first_batch);
    for (size_t n = 0; n < sizeof buf; n++)
        CHECK_EQ(logfmt_segment_decode(buf, n, &out), LOGFMT_SHORT);
    for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int st = logfmt_segment_decode(buf, sizeof buf, &out);
        CHECK(st == (bit < 64 ? LOGFMT_BADMAGIC : LOGFMT_BADCRC));
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    memset(buf, 0, sizeof buf);
    CHECK_EQ(logfmt_segment_decode(buf, sizeof buf, &out), LOGFMT_BADMAGIC);
}

/* Cut at every byte, a buffer of records decodes to exactly the records
 * wholly inside the cut, then stops cleanly at a boundary or reports a short
 * record at the start of the cut one. */
TEST(logfmt, every_truncation)
{
    static struct log l;
    struct logfmt_record got[MAX_RECS];
    log_make(&l, 40);
    for (size_t cut = 0; cut <= l.len; cut++) {
        /* An exact-size copy, so that a sanitizer sees any overread. */
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, l.buf, cut);
        size_t whole = 0, stop;
        int status;
        while (whole < l.n && l.off[whole + 1] <= cut)
            whole++;
        size_t n = decode_all(b, cut, got, MAX_RECS, &stop, &status);
        CHECK_EQ(n, whole);
        for (size_t i = 0; i < n; i++)
            check_same(&got[i], &l.rec[i]);
        CHECK_EQ(stop, l.off[whole]);
        CHECK_EQ(status, cut == l.off[whole] ? LOGFMT_END : LOGFMT_SHORT);
        free(b);
    }
    free(l.buf);
}

/* Followed by zeros (a preallocated or half-written tail), the records
 * decode and the scan ends cleanly at the first zero header. */
TEST(logfmt, zero_tail_is_clean_end)
{
    static struct log l;
    struct logfmt_record got[MAX_RECS];
    size_t stop;
    int status;
    log_make(&l, 10);
    l.buf = realloc(l.buf, l.len + 4096);
    memset(l.buf + l.len, 0, 4096);
    CHECK_EQ(decode_all(l.buf, l.len + 4096, got, MAX_RECS, &stop, &status),
             10);
    CHECK_EQ(status, LOGFMT_END);
    CHECK_EQ(stop, l.len);
    free(l.buf);
}

/* Flipping any one bit of any record stops the scan at that record's start
 * with an error, after every record before it decoded intact. */
TEST(logfmt, bit_flips_reported_at_their_record)
{
    static struct log l;
    struct logfmt_record got[MAX_RECS];
    log_make(&l, 12);
    for (size_t bit = 0; bit < l.len * 8; bit++) {
        size_t byte = bit / 8, rec = 0, stop;
        int status;
        while (l.off[rec + 1] <= byte)
            rec++;
        l.buf[byte] ^= (uint8_t)(1u << (bit % 8));
        size_t n = decode_all(l.buf, l.len, got, MAX_RECS, &stop, &status);
        CHECK_MSG(n == rec && stop == l.off[rec],
                  "bit %zu: %zu records, stop at %zu (%s), want %zu at %zu",
                  bit, n, stop, logfmt_status_name(status), rec, l.off[rec]);
        CHECK(status == LOGFMT_BADCRC || status == LOGFMT_BADLEN ||
              status == LOGFMT_SHORT);
        l.buf[byte] ^= (uint8_t)(1u << (bit % 8));
    }
    free(l.buf);
}

/* A length over the maximum is reported as a bad length, not read. */
TEST(logfmt, length_bounded)
{
    uint8_t buf[LOGFMT_HEADER + 8];
    struct logfmt_record r = {LOGFMT_ENTRY, 1, 1, 1, 1, 0, NULL}, out;
    size_t size;
    logfmt_encode(buf, &r);
    le_put32(buf + 4, LOGFMT_MAX_LEN + 1);
    CHECK_EQ(logfmt_decode(buf, sizeof buf, 0, &out, &size), LOGFMT_BADLEN);
    le_put32(buf + 4, UINT32_MAX);
    CHECK_EQ(logfmt_decode(buf, sizeof buf, 0, &out, &size), LOGFMT_BADLEN);
    le_put32(buf + 4, LOGFMT_MAX_LEN);
    CHECK_EQ(logfmt_decode(buf, sizeof buf, 0, &out, &size), LOGFMT_SHORT);
}

/* A record with a valid CRC but a kind or reserved bytes this version does
 * not write is reported as an unknown kind at its offset. */
TEST(logfmt, unknown_kind)
{
    uint8_t buf[2 * LOGFMT_HEADER];
    struct logfmt_record r = {LOGFMT_HARD_STATE, 0, 1, 2, 3, 0, NULL}, out;
    size_t size;
    logfmt_encode(buf, &r);
    logfmt_encode(buf + LOGFMT_HEADER, &r);
    for (int v = 0; v < 256; v++) {
        for (size_t field = 8; field < 16; field++) {
            if (field == 9)
                continue; /* the entry type is the core's to check */
            uint8_t *h = buf + LOGFMT_HEADER;
            uint8_t keep = h[field];
            h[field] = (uint8_t)v;
            le_put32(h, crc32c(0, h + 4, LOGFMT_HEADER - 4));
            bool known = field == 8 ? v >= 1 && v <= 4 : v == 0;
            CHECK_EQ(logfmt_decode(buf, sizeof buf, 0, &out, &size), LOGFMT_OK);
            CHECK_EQ(logfmt_decode(buf, sizeof buf, LOGFMT_HEADER, &out, &size),
                     known ? LOGFMT_OK : LOGFMT_BADKIND);
            h[field] = keep;
        }
    }
}

/* Random bytes, random lengths and random start offsets never make the
 * decoder read outside its buffer (run under ASan) nor return a record
 * that does not fit. */
TEST(logfmt, garbage_never_crashes)
{
    static struct log l;
    struct logfmt_record got[4];
    log_make(&l, 8);
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = rnd() % 600;
        uint8_t *b = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            b[i] = (uint8_t)rnd();
        if (iter % 3 == 0 && len > 0) {
            /* Valid records with garbage around and inside them. */
            size_t at = rnd() % len;
            size_t k = l.len < len - at ? l.len : len - at;
            memcpy(b + at, l.buf, k);
            b[rnd() % len] ^= (uint8_t)(1u << rnd() % 8);
        }
        if (iter % 5 == 0 && len >= 8)
            le_put32(b + 4, (uint32_t)(rnd() % 700)); /* a plausible len */
        size_t stop;
        int status;
        decode_all(b, len, got, 4, &stop, &status);
        CHECK(status != LOGFMT_OK && stop <= len);
        struct logfmt_record r;
        size_t size;
        size_t off = len ? rnd() % (len + 8) : 0;
        if (logfmt_decode(b, len, off, &r, &size) == LOGFMT_OK)
            CHECK(off + size <= len);
        uint64_t maxb;
        logfmt_lookahead(b, len, rnd() % (len + 1), &maxb);
        free(b);
    }
    free(l.buf);
}

/* The look-ahead skips damage and finds the valid records after it,
 * reporting their highest batch; in garbage or zeros it finds nothing. */
TEST(logfmt, lookahead)
{
    static struct log l;
    uint64_t maxb = 0;
    log_make(&l, 20); /* batches 1..5 */
    CHECK(logfmt_lookahead(l.buf, l.len, 0, &maxb));
    CHECK_U64(maxb, 5);
    /* Damage the first 3 records: the rest is still found. */
    memset(l.buf + 5, 0xa5, l.off[3] - 5);
    CHECK(logfmt_lookahead(l.buf, l.len, 0, &maxb));
    CHECK_U64(maxb, 5);
    /* From inside the last record: nothing. */
    CHECK(!logfmt_lookahead(l.buf, l.len, l.off[19] + 1, &maxb));
    /* Only the records before the last batch: its highest batch. */
    CHECK(logfmt_lookahead(l.buf, l.off[16], l.off[4], &maxb));
    CHECK_U64(maxb, 4);
    memset(l.buf, 0, l.len);
    CHECK(!logfmt_lookahead(l.buf, l.len, 0, &maxb));
    for (size_t i = 0; i < l.len; i++)
        l.buf[i] = (uint8_t)rnd();
    CHECK(!logfmt_lookahead(l.buf, l.len, 0, &maxb));
    free(l.buf);
}

/* A record whose padding is not all zero, under a valid CRC, is refused as
 * an unknown kind at its offset, for every payload length that needs padding
 * and every padding byte: each record has exactly one encoding (found by
 * fuzz_logfmt, which re-encodes what decodes). */
TEST(logfmt, padding_must_be_zero)
{
    static uint8_t data[16], buf[2 * (LOGFMT_HEADER + 16)];
    struct logfmt_record out;
    size_t size;
    memset(data, 0x5a, sizeof data);
    for (uint32_t len = 1; len < 16; len++) {
        struct logfmt_record r = {LOGFMT_ENTRY, 1, 2, 3, 4, len, data};
        size_t n = logfmt_size(len);
        logfmt_encode(buf, &r);
        logfmt_encode(buf + n, &r);
        for (size_t p = LOGFMT_HEADER + len; p < n; p++) {
            uint8_t *h = buf + n;
            h[p] = 0x30;
            le_put32(h, crc32c(0, h + 4, n - 4));
            CHECK_EQ(logfmt_decode(buf, 2 * n, 0, &out, &size), LOGFMT_OK);
            CHECK_EQ(logfmt_decode(buf, 2 * n, n, &out, &size), LOGFMT_BADKIND);
            h[p] = 0;
            le_put32(h, crc32c(0, h + 4, n - 4));
            CHECK_EQ(logfmt_decode(buf, 2 * n, n, &out, &size), LOGFMT_OK);
        }
    }
}
