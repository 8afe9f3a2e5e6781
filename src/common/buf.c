/* buf.c - a growable byte buffer (see buf.h). */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_close(struct buf *b)
{
    if (b == NULL)
        return;
    alloc_free(b->data);
    buf_init(b);
}

int buf_reserve(struct buf *b, size_t n)
{
    if (n > SIZE_MAX - 1 - b->len)
        return DLOCK_ENOMEM;
    size_t need = b->len + n + 1; /* the NUL after the data */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = alloc_realloc(b->data, cap);
    if (p == NULL)
        return DLOCK_ENOMEM;
    if (b->data == NULL)
        p[0] = '\0';
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return DLOCK_ENOMEM;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
    char small[1];
    va_list aq;
    va_copy(aq, ap);
    /* Format into the spare room if there is some, else only measure. */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n =
        vsnprintf(room ? b->data + b->len : small, room ? room : 1, fmt, aq);
    va_end(aq);
    if (n < 0) {
        if (b->data != NULL)
            b->data[b->len] = '\0';
        return DLOCK_EINVAL;
    }
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    if (buf_reserve(b, (size_t)n) != 0) {
        if (b->data != NULL)
            b->data[b->len] = '\0';
        return DLOCK_ENOMEM;
    }
    va_copy(aq, ap);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, aq);
    va_end(aq);
    b->len += (size_t)n;
    return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_clear(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n + 1);
    b->len -= n;
}

void buf_clear(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void buf_shrink(struct buf *b)
{
    if (b->data == NULL || b->len + 1 >= b->cap)
        return;
    if (b->len == 0) {
        buf_close(b);
        return;
    }
    char *p = alloc_realloc(b->data, b->len + 1);
    if (p == NULL)
        return;
    b->data = p;
    b->cap = b->len + 1;
}
