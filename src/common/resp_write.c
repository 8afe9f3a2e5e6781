/* resp_write.c - the RESP writers (see resp.h): each appends one encoding to
 * a struct buf, reserving its whole size first so that a failure leaves the
 * buffer as it was. */
#include "resp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "resp_internal.h"

/* Room for a type byte, a 64-bit number with its sign, and CRLF. */
#define HEADER_MAX 24

/* Writes v in decimal at out; returns the number of bytes. */
static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Appends "<t><v>\r\n"; the caller has reserved HEADER_MAX bytes. */
static void put_header(struct buf *b, char t, bool neg, uint64_t v)
{
    char *p = b->data + b->len;
    size_t n = 0;
    p[n++] = t;
    if (neg)
        p[n++] = '-';
    n += fmt_u64(p + n, v);
    p[n++] = '\r';
    p[n++] = '\n';
    b->len += n;
    b->data[b->len] = '\0';
}

static int header(struct buf *b, char t, size_t n)
{
    if (buf_reserve(b, HEADER_MAX) != 0)
        return DLOCK_ENOMEM;
    put_header(b, t, false, n);
    return 0;
}

/* Appends the len bytes at p and CRLF; the caller has reserved them. */
static void put_body(struct buf *b, const void *p, size_t len)
{
    if (len > 0)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
    b->data[b->len] = '\0';
}

/* The size of the encoding of a blob of len bytes, or 0 on overflow. */
static size_t blob_size(size_t len)
{
    return len > SIZE_MAX - HEADER_MAX - 2 ? 0 : HEADER_MAX + len + 2;
}

/* Appends "<t><len>\r\n", the len bytes at p and CRLF. */
static int blob(struct buf *b, char t, const void *p, size_t len)
{
    size_t size = blob_size(len);
    if (size == 0 || buf_reserve(b, size) != 0)
        return DLOCK_ENOMEM;
    put_header(b, t, false, len);
    put_body(b, p, len);
    return 0;
}

/* Appends "<t>" and the len bytes at s as a line, CR and LF becoming spaces
 * since a line cannot hold them. */
static int line(struct buf *b, char t, const char *s, size_t len)
{
    size_t size = blob_size(len);
    if (size == 0 || buf_reserve(b, size) != 0)
        return DLOCK_ENOMEM;
    char *p = b->data + b->len;
    *p++ = t;
    for (size_t i = 0; i < len; i++)
        p[i] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
    b->len += 1 + len;
    put_body(b, NULL, 0);
    return 0;
}

int resp_write_simple(struct buf *b, const char *s)
{
    return line(b, '+', s, strlen(s));
}

int resp_write_error(struct buf *b, const char *msg)
{
    return line(b, '-', msg, strlen(msg));
}

int resp_write_integer(struct buf *b, int64_t v)
{
    if (buf_reserve(b, HEADER_MAX) != 0)
        return DLOCK_ENOMEM;
    put_header(b, ':', v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    return 0;
}

int resp_write_bulk(struct buf *b, const void *p, size_t len)
{
    return blob(b, '$', p, len);
}

int resp_write_bulk_str(struct buf *b, const char *s)
{
    return blob(b, '$', s, strlen(s));
}

int resp_write_null(struct buf *b, int proto)
{
    return proto >= 3 ? buf_append(b, "_\r\n", 3) : buf_append(b, "$-1\r\n", 5);
}

int resp_write_array(struct buf *b, size_t n)
{
    return header(b, '*', n);
}

int resp_write_map(struct buf *b, int proto, size_t pairs)
{
    if (proto >= 3)
        return header(b, '%', pairs);
    if (pairs > SIZE_MAX / 2)
        return DLOCK_ENOMEM;
    return header(b, '*', 2 * pairs);
}

int resp_write_set(struct buf *b, int proto, size_t n)
{
    return header(b, proto >= 3 ? '~' : '*', n);
}

int resp_write_push(struct buf *b, int proto, size_t n)
{
    return header(b, proto >= 3 ? '>' : '*', n);
}

int resp_write_bool(struct buf *b, int proto, bool v)
{
    if (proto >= 3)
        return buf_append(b, v ? "#t\r\n" : "#f\r\n", 4);
    return buf_append(b, v ? ":1\r\n" : ":0\r\n", 4);
}

/* Writes the shortest text that reads back as d into out (64 bytes), in the
 * C locale whatever the program's ("1.5", never "1,5"); returns its
 * length. */
static size_t fmt_double(char *out, double d)
{
    if (isnan(d))
        return (size_t)snprintf(out, 64, "nan");
    if (isinf(d))
        return (size_t)snprintf(out, 64, d > 0 ? "inf" : "-inf");
    locale_t old = uselocale(resp_c_locale());
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 64, "%.*g", prec, d);
        if (prec == 17 || strtod(out, NULL) == d)
            break;
    }
    uselocale(old);
    return strlen(out);
}

int resp_write_double(struct buf *b, int proto, double d)
{
    char text[64];
    size_t n = fmt_double(text, d);
    if (proto >= 3)
        return line(b, ',', text, n);
    return blob(b, '$', text, n);
}

int resp_write_bignum(struct buf *b, int proto, const char *digits, size_t len)
{
    if (proto >= 3)
        return line(b, '(', digits, len);
    return blob(b, '$', digits, len);
}

int resp_write_blob_error(struct buf *b, int proto, const void *msg, size_t len)
{
    if (proto >= 3)
        return blob(b, '!', msg, len);
    return line(b, '-', msg, len);
}

int resp_write_verbatim(struct buf *b, int proto, const char *fmt,
                        const void *text, size_t len)
{
    if (proto < 3)
        return blob(b, '$', text, len);
    size_t size = blob_size(len);
    if (size == 0 || size > SIZE_MAX - 4 || buf_reserve(b, size + 4) != 0)
        return DLOCK_ENOMEM;
    put_header(b, '=', false, len + 4);
    memcpy(b->data + b->len, fmt, 3);
    b->data[b->len + 3] = ':';
    b->len += 4;
    put_body(b, text, len);
    return 0;
}

static int write_tree(struct buf *b, int proto, const struct resp_value *v)
{
    int rc;
    switch (v->type) {
    case RESP_SIMPLE:
    case RESP_ERROR:
        return line(b, (char)v->type, v->str, v->len);
    case RESP_INTEGER:
        return resp_write_integer(b, v->integer);
    case RESP_BULK:
        return blob(b, '$', v->str, v->len);
    case RESP_NULL:
        return resp_write_null(b, proto);
    case RESP_DOUBLE:
        return resp_write_double(b, proto, v->dbl);
    case RESP_BOOL:
        return resp_write_bool(b, proto, v->integer != 0);
    case RESP_BIGNUM:
        return resp_write_bignum(b, proto, v->str, v->len);
    case RESP_BLOB_ERROR:
        return resp_write_blob_error(b, proto, v->str, v->len);
    case RESP_VERBATIM:
        if (v->len < 4 || v->str[3] != ':')
            return DLOCK_EINVAL;
        return resp_write_verbatim(b, proto, v->str, v->str + 4, v->len - 4);
    case RESP_ARRAY:
        rc = resp_write_array(b, v->n);
        break;
    case RESP_MAP:
        if (v->n % 2 != 0)
            return DLOCK_EINVAL;
        rc = resp_write_map(b, proto, v->n / 2);
        break;
    case RESP_SET:
        rc = resp_write_set(b, proto, v->n);
        break;
    case RESP_PUSH:
        rc = resp_write_push(b, proto, v->n);
        break;
    default:
        return DLOCK_EINVAL;
    }
    for (size_t i = 0; i < v->n && rc == 0; i++)
        rc = write_tree(b, proto, &v->elems[i]);
    return rc;
}

int resp_write_value(struct buf *b, int proto, const struct resp_value *v)
{
    size_t mark = b->len;
    int rc = write_tree(b, proto, v);
    if (rc != 0 && b->data != NULL) {
        b->len = mark;
        b->data[mark] = '\0';
    }
    return rc;
}

int resp_write_command(struct buf *b, size_t argc, const char *const *argv,
                       const size_t *argvlen)
{
    size_t size = HEADER_MAX;
    for (size_t i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        size_t one = blob_size(len);
        if (one == 0 || size > SIZE_MAX - one)
            return DLOCK_ENOMEM;
        size += one;
    }
    if (buf_reserve(b, size) != 0)
        return DLOCK_ENOMEM;
    put_header(b, '*', false, argc);
    for (size_t i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        put_header(b, '$', false, len);
        put_body(b, argv[i], len);
    }
    return 0;
}
