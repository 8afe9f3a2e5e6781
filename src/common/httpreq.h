/* httpreq.h - the head of an HTTP/1.x request, read from bytes as they
 * come, with no I/O: what dlockd's HTTP port (http.c) serves needs no
 * more. Requests have no body (GET and HEAD; any other method is read
 * and answered 405), heads are at most HTTPREQ_HEAD_MAX bytes, and
 * requests may follow each other on one connection. */
#ifndef DLOCK_HTTPREQ_H
#define DLOCK_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#define HTTPREQ_HEAD_MAX 8192

enum {
    HTTPREQ_MORE = 0, /* the head is not complete yet */
    HTTPREQ_DONE = 1, /* a request: its fields are set */
    /* Otherwise the HTTP status the request gets before the connection
     * closes: 400 (malformed), 413 (a body), 431 (the head too long),
     * 505 (not HTTP/1.0 or 1.1). */
};

struct httpreq {
    char head[HTTPREQ_HEAD_MAX + 1]; /* the head so far, NUL-terminated */
    size_t len;
    /* Once DONE: NUL-terminated strings in head. */
    const char *method;
    const char *path;          /* the target up to '?' */
    const char *query;         /* after '?', or "" */
    const char *authorization; /* the Authorization header's value, or "" */
    const char *host;          /* the Host header's value, or "" */
    bool keep_alive; /* HTTP/1.1 without Connection: close, or 1.0 with
                        Connection: keep-alive */
    bool head_only;  /* HEAD: the answer has no body */
};

void httpreq_init(struct httpreq *r);
/* Reads from data (n bytes) into the request's head: returns HTTPREQ_MORE
 * (all n used), HTTPREQ_DONE (with *used the bytes of this request: the
 * rest belongs to the next, read after httpreq_init), or an error status.
 * After DONE or an error, call httpreq_init before feeding again. */
int httpreq_feed(struct httpreq *r, const char *data, size_t n, size_t *used);

#endif
