/* buf.h - a growable byte buffer: what the RESP writer appends to, and an
 * output buffer that a connection drains from the front. It never aborts:
 * functions that can fail return 0 or DLOCK_ENOMEM and leave the buffer as it
 * was. Memory comes from alloc.h. */
#ifndef DLOCK_BUF_H
#define DLOCK_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* data holds len bytes in an allocation of cap bytes; when data is not NULL,
 * data[len] is a NUL byte (not counted in len), so text appended can be read
 * as a C string. A zeroed struct is an empty buffer. */
struct buf {
    char *data;
    size_t len, cap;
};

/* Makes b an empty buffer that owns no memory. Cannot fail. */
void buf_init(struct buf *b);

/* Frees b's memory and leaves it empty, as buf_init does. Accepts NULL, a
 * zeroed buffer, and a buffer already closed. */
void buf_close(struct buf *b);

/* Makes room for n more bytes (and the NUL after them) without moving
 * len. 0 or DLOCK_ENOMEM (also when the size would overflow). */
int buf_reserve(struct buf *b, size_t n);

/* Appends the n bytes at p (p may be NULL when n is 0). 0 or DLOCK_ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends the C string s without its NUL. 0 or DLOCK_ENOMEM. */
int buf_append_str(struct buf *b, const char *s);

/* Appends printf-style formatted text. 0, DLOCK_ENOMEM, or DLOCK_EINVAL if
 * the format cannot be converted (vsnprintf failed); b is unchanged on
 * failure. */
int buf_appendf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* buf_appendf with a va_list, which it does not consume (it copies it). */
int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Drops the first n bytes (all of them if n >= len), moving the rest to the
 * front: for an output buffer of which n bytes were written. Keeps the
 * memory. */
void buf_consume(struct buf *b, size_t n);

/* Gives back the memory b holds beyond its bytes (the allocation becomes
 * len + 1 bytes; an empty buffer owns none). If that fails, b keeps its
 * larger allocation. Cannot fail. */
void buf_shrink(struct buf *b);

/* Empties b, keeping its memory. */
void buf_clear(struct buf *b);

#endif
