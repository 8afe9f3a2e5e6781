/* resp_util.h - helpers for the RESP tests: a fixed-size text (which does
 * not allocate, so a failing allocator cannot touch it), a dump of value
 * trees into it, and reading a stream in given chunks. */
#ifndef DLOCK_RESP_UTIL_H
#define DLOCK_RESP_UTIL_H

#include <math.h>
#include <stdarg.h>

#include "common/resp.h"
#include "harness.h"

struct text {
    char s[1 << 18];
    size_t n;
};

static inline void text_put(struct text *t, const void *p, size_t n)
{
    CHECK_MSG(t->n + n < sizeof t->s, "text overflow");
    memcpy(t->s + t->n, p, n);
    t->n += n;
    t->s[t->n] = '\0';
}

__attribute__((format(printf, 2, 3))) static inline void
text_printf(struct text *t, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    CHECK(n >= 0 && (size_t)n < sizeof tmp);
    text_put(t, tmp, (size_t)n);
}

static inline const char *text_str(struct text *t)
{
    t->s[t->n] = '\0';
    return t->s;
}

/* Appends a dump of v: its type byte, then "len:bytes" for strings, the
 * number for integers, booleans and doubles ("%.17g"), "n[elements]" for
 * aggregates; ';' after each value. Checks the NUL after each string. */
static inline void dump(struct text *t, const struct resp_value *v)
{
    text_printf(t, "%c", v->type);
    switch (v->type) {
    case RESP_SIMPLE:
    case RESP_ERROR:
    case RESP_BULK:
    case RESP_BIGNUM:
    case RESP_BLOB_ERROR:
    case RESP_VERBATIM:
        CHECK(v->str != NULL);
        CHECK_EQ(v->str[v->len], '\0');
        text_printf(t, "%zu:", v->len);
        text_put(t, v->str, v->len);
        break;
    case RESP_INTEGER:
    case RESP_BOOL:
        text_printf(t, "%lld", (long long)v->integer);
        break;
    case RESP_DOUBLE:
        if (isnan(v->dbl))
            text_printf(t, "nan");
        else
            text_printf(t, "%.17g", v->dbl);
        break;
    case RESP_NULL:
        break;
    default:
        text_printf(t, "%zu[", v->n);
        CHECK(v->n == 0 || v->elems != NULL);
        for (size_t i = 0; i < v->n; i++)
            dump(t, &v->elems[i]);
        text_printf(t, "]");
    }
    text_printf(t, ";");
}

/* Takes every complete value out of r into t; on an error appends "E" and
 * the message and returns the error, else returns 0. */
static inline int drain(struct resp_reader *r, struct text *t)
{
    const struct resp_value *v;
    int rc;
    while ((rc = resp_reader_next(r, &v)) == 1)
        dump(t, v);
    if (rc < 0) {
        CHECK_EQ(rc, DLOCK_EPROTO);
        const char *msg = resp_reader_error(r);
        CHECK(msg != NULL);
        CHECK_MSG(strncmp(msg, "Protocol error: ", 16) == 0, "%s", msg);
        text_printf(t, "E%s", msg);
        /* The reader stays in error. */
        CHECK_EQ(resp_reader_next(r, &v), DLOCK_EPROTO);
        CHECK_EQ(resp_reader_feed(r, "+OK\r\n", 5), DLOCK_EPROTO);
        CHECK(resp_reader_error(r) == msg);
    }
    return rc;
}

/* Reads the n bytes at data with lim, fed in pieces ending at the ncuts
 * ascending offsets cuts (then the rest), draining after each feed, into t
 * (emptied first), which ends with "." if no error came. */
static inline void read_chunked(const struct resp_limits *lim, const char *data,
                                size_t n, const size_t *cuts, size_t ncuts,
                                struct text *t)
{
    struct resp_reader r;
    size_t off = 0;
    t->n = 0;
    resp_reader_init(&r, lim);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        CHECK_EQ(resp_reader_feed(&r, data + off, end - off), 0);
        off = end;
        if (drain(&r, t) < 0)
            break;
    }
    if (resp_reader_error(&r) == NULL)
        text_printf(t, ".");
    resp_reader_close(&r);
}

/* read_chunked fed one byte at a time. */
static inline void read_bytewise(const struct resp_limits *lim,
                                 const char *data, size_t n, struct text *t)
{
    static size_t cuts[1 << 20];
    CHECK(n < sizeof cuts / sizeof cuts[0]);
    for (size_t i = 0; i < n; i++)
        cuts[i] = i;
    read_chunked(lim, data, n, cuts, n, t);
}

#endif
