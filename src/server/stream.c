/* stream.c - a write to a libuv stream that tries the socket first. */
#include "server/stream.h"

#include <limits.h>

int stream_send_now(uv_stream_t *s, const void *p, size_t len)
{
    uv_buf_t b =
        uv_buf_init((char *)p, len > INT_MAX ? INT_MAX : (unsigned)len);
    int n = uv_try_write(s, &b, 1);
    return n == UV_EAGAIN ? 0 : n;
}
