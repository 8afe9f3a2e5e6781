/* fuzz_resp.c - libFuzzer target for the RESP codec: any input, fed to the
 * reader whole, byte by byte and split in two at a position taken from the
 * input, in normal and in inline mode, must never crash and must give the
 * same values and the same end in every chunking; every value read must
 * re-encode in RESP3 to bytes that read back as the same value, and in RESP2
 * to bytes that re-encode identically. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits, so that the fuzzer reaches them; max_pending above any
 * input, since a value over it is refused only when it arrives in pieces
 * (by design, and not the same in every chunking). */
static const struct resp_limits fuzz_limits = {
    .max_str = 64,
    .max_elems = 16,
    .max_depth = 8,
    .max_pending = 1 << 24,
    .inline_commands = false,
    .max_inline = 128,
};

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool same(const struct resp_value *a, const struct resp_value *b)
{
    if (a->type != b->type || a->integer != b->integer || a->len != b->len ||
        a->n != b->n)
        return false;
    if (isnan(a->dbl) ? !isnan(b->dbl) : memcmp(&a->dbl, &b->dbl, 8) != 0)
        return false;
    if ((a->str == NULL) != (b->str == NULL) ||
        (a->len > 0 && memcmp(a->str, b->str, a->len) != 0))
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!same(&a->elems[i], &b->elems[i]))
            return false;
    return true;
}

/* Reads enc, which must hold exactly one value, with lim: checks that it is
 * the same as orig or, if orig is NULL, writes it in RESP2 to again. */
static void read_one(const struct resp_limits *lim, const struct buf *enc,
                     const struct resp_value *orig, struct buf *again)
{
    struct resp_reader r;
    const struct resp_value *v, *extra;
    resp_reader_init(&r, lim);
    check(resp_reader_feed(&r, enc->data, enc->len) == 0);
    check(resp_reader_next(&r, &v) == 1);
    if (orig != NULL)
        check(same(orig, v));
    else
        check(resp_write_value(again, 2, v) == 0);
    check(resp_reader_next(&r, &extra) == 0);
    resp_reader_close(&r);
}

/* Checks the re-encodings of v (see the top of the file). */
static void check_reencode(const struct resp_limits *lim,
                           const struct resp_value *v)
{
    struct resp_limits plain = *lim;
    struct buf enc, again;
    plain.inline_commands = false;
    buf_init(&enc);
    buf_init(&again);
    check(resp_write_value(&enc, 3, v) == 0);
    read_one(&plain, &enc, v, NULL);
    buf_clear(&enc);
    check(resp_write_value(&enc, 2, v) == 0);
    read_one(&plain, &enc, NULL, &again);
    check(again.len == enc.len && memcmp(again.data, enc.data, enc.len) == 0);
    buf_close(&again);
    buf_close(&enc);
}

/* Feeds data to a reader with lim in pieces ending at the cuts, n_cuts of
 * them or, if n_cuts is SIZE_MAX, at every byte; writes each value in RESP3
 * and the end ("E" and the message, or "." for a wait) to out. */
static void run(const struct resp_limits *lim, const uint8_t *data, size_t size,
                size_t cut, size_t n_cuts, bool reencode, struct buf *out)
{
    struct resp_reader r;
    const struct resp_value *v;
    size_t off = 0;
    int rc = 0;
    resp_reader_init(&r, lim);
    for (size_t i = 0;; i++) {
        size_t end = n_cuts == SIZE_MAX ? off + 1 : i < n_cuts ? cut : size;
        end = end < size ? end : size;
        check(resp_reader_feed(&r, data + off, end - off) == 0);
        off = end;
        while ((rc = resp_reader_next(&r, &v)) == 1) {
            check(resp_write_value(out, 3, v) == 0);
            if (reencode)
                check_reencode(lim, v);
        }
        if (rc != 0 || off == size)
            break;
    }
    if (rc == DLOCK_EPROTO) {
        check(resp_reader_error(&r) != NULL);
        check(buf_appendf(out, "E%s", resp_reader_error(&r)) == 0);
    } else {
        check(rc == 0 && resp_reader_error(&r) == NULL);
        check(buf_append(out, ".", 1) == 0);
    }
    resp_reader_close(&r);
}

static void check_equal(const struct buf *a, const struct buf *b)
{
    check(a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cut = size >= 2 ? (data[0] | (size_t)data[1] << 8) % (size + 1) : 0;
    for (int mode = 0; mode < 2; mode++) {
        struct resp_limits lim = fuzz_limits;
        struct buf whole, bytes, split;
        lim.inline_commands = mode == 1;
        buf_init(&whole);
        buf_init(&bytes);
        buf_init(&split);
        run(&lim, data, size, 0, 0, true, &whole);
        run(&lim, data, size, 0, SIZE_MAX, false, &bytes);
        run(&lim, data, size, cut, 1, false, &split);
        check_equal(&whole, &bytes);
        check_equal(&whole, &split);
        buf_close(&whole);
        buf_close(&bytes);
        buf_close(&split);
    }
    return 0;
}
