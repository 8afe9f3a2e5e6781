/* stream.h - a write to a libuv stream that tries the socket first. */
#ifndef DLOCK_SERVER_STREAM_H
#define DLOCK_SERVER_STREAM_H

#include <stddef.h>
#include <uv.h>

/* Sends what s takes of p[0..len) at once, without a write request:
 * bytes sent (0 when the socket is full or a write is queued), or a
 * negative libuv error. What it sends costs one system call; a uv_write
 * that completes costs two, as libuv then rearms the socket in its epoll
 * set. The caller hands what is left to uv_write. */
int stream_send_now(uv_stream_t *s, const void *p, size_t len);

/* Writes a copy of the len bytes at p to s, after what was written to it
 * before; the copy is freed when the write ends (or fails, or s closes).
 * For small writes off the main path: TLS handshake messages. */
void stream_write_copy(uv_stream_t *s, const void *p, size_t len);

/* Writes what the TLS engine t has for the network (handshake messages,
 * alerts) to s, as stream_write_copy does. */
struct tls;
void stream_write_tls(uv_stream_t *s, struct tls *t);

#endif
