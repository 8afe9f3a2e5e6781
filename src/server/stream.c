/* stream.c - a write to a libuv stream that tries the socket first. */
#include "server/stream.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "tls/tls.h"

int stream_send_now(uv_stream_t *s, const void *p, size_t len)
{
    uv_buf_t b =
        uv_buf_init((char *)p, len > INT_MAX ? INT_MAX : (unsigned)len);
    int n = uv_try_write(s, &b, 1);
    return n == UV_EAGAIN ? 0 : n;
}

struct copy_write {
    uv_write_t req;
    char data[];
};

static void copy_written(uv_write_t *req, int status)
{
    free(req);
}

void stream_write_copy(uv_stream_t *s, const void *p, size_t len)
{
    if (len == 0)
        return;
    struct copy_write *w = mem_xmalloc(sizeof *w + len);
    memcpy(w->data, p, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, s, &b, 1, copy_written) != 0)
        free(w);
}

void stream_write_tls(uv_stream_t *s, struct tls *t)
{
    struct buf b = {0};
    if (tls_pending(t) > 0 && tls_take(t, &b) == 0)
        stream_write_copy(s, b.data, b.len);
    buf_close(&b);
}
