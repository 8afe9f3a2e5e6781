/* conn.c - one TCP connection to a server: a non-blocking socket with
 * TCP_NODELAY, waited on with poll() where a call blocks, and the shared
 * RESP reader for its replies. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "common/alloc.h"

/* Resolves addr, preferring a numeric address (which never blocks). */
static int resolve(struct dlock_client *c, const char *addr,
                   struct addrinfo **res)
{
    char host[CLIENT_ADDR_MAX], port[8];
    client_split_addr(addr, host, sizeof host, port, sizeof port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, port, &hints, res);
    }
    if (rc == EAI_MEMORY)
        return client_error(c, DLOCK_ENOMEM, "resolving %s: out of memory",
                            addr);
    if (rc != 0)
        return client_error(c, DLOCK_EIO, "cannot resolve %s: %s", addr,
                            gai_strerror(rc));
    return 0;
}

int conn_start(struct dlock_client *c, const char *addr, struct conn **out)
{
    struct addrinfo *res;
    int rc = resolve(c, addr, &res);
    if (rc != 0)
        return rc;
    int fd = socket(res->ai_family,
                    res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return client_error(c, DLOCK_EIO, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    int err = errno;
    freeaddrinfo(res);
    if (rc != 0 && err != EINPROGRESS) {
        close(fd);
        return client_error(c, DLOCK_EIO, "connecting to %s: %s", addr,
                            strerror(err));
    }
    struct conn *k = alloc_malloc(sizeof *k);
    if (k == NULL) {
        close(fd);
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    }
    k->fd = fd;
    k->connecting = rc != 0;
    snprintf(k->addr, sizeof k->addr, "%s", addr);
    resp_reader_init(&k->rd, &resp_limits_client);
    *out = k;
    return 0;
}

void conn_free(struct conn *k)
{
    if (k == NULL)
        return;
    close(k->fd);
    resp_reader_close(&k->rd);
    alloc_free(k);
}

/* Waits for events on k's socket until deadline_ms: 1 ready, 0 timed out. */
static int wait_fd(struct conn *k, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = client_now_ms();
        if (now >= deadline_ms)
            return 0;
        uint64_t left = deadline_ms - now;
        struct pollfd p = {.fd = k->fd, .events = events};
        int rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return 1; /* let the next system call report it */
    }
}

int conn_check(struct dlock_client *c, struct conn *k)
{
    if (!k->connecting)
        return 0;
    struct pollfd p = {.fd = k->fd, .events = POLLOUT};
    if (poll(&p, 1, 0) == 0)
        return 1;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0)
        return client_error(c, DLOCK_EIO, "connecting to %s: %s", k->addr,
                            strerror(err));
    k->connecting = false;
    return 0;
}

int conn_finish(struct dlock_client *c, struct conn *k, uint64_t deadline_ms)
{
    while (k->connecting) {
        if (!wait_fd(k, POLLOUT, deadline_ms))
            return client_error(c, DLOCK_ETIMEDOUT,
                                "connecting to %s: timed out", k->addr);
        int rc = conn_check(c, k);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One send(): bytes sent, 0 if it would block, or DLOCK_EIO. */
static ssize_t send_once(struct dlock_client *c, struct conn *k, const char *p,
                         size_t len)
{
    ssize_t n = send(k->fd, p, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return client_error(c, DLOCK_EIO, "sending to %s: %s", k->addr,
                        strerror(errno));
}

int conn_send(struct dlock_client *c, struct conn *k, const char *p, size_t len,
              uint64_t deadline_ms)
{
    while (len > 0) {
        ssize_t n = send_once(c, k, p, len);
        if (n < 0)
            return (int)n;
        p += n;
        len -= (size_t)n;
        if (len > 0 && !wait_fd(k, POLLOUT, deadline_ms))
            return client_error(c, DLOCK_ETIMEDOUT, "sending to %s: timed out",
                                k->addr);
    }
    return 0;
}

int conn_send_some(struct dlock_client *c, struct conn *k, struct buf *b)
{
    while (b->len > 0) {
        ssize_t n = send_once(c, k, b->data, b->len);
        if (n <= 0)
            return (int)n;
        buf_consume(b, (size_t)n);
    }
    return 0;
}

/* Reads once into the reader: 1 bytes read, 0 nothing yet, or an error. */
static int read_once(struct dlock_client *c, struct conn *k)
{
    char chunk[16384];
    ssize_t n = recv(k->fd, chunk, sizeof chunk, 0);
    if (n == 0)
        return client_error(c, DLOCK_EIO, "%s closed the connection", k->addr);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return client_error(c, DLOCK_EIO, "reading from %s: %s", k->addr,
                            strerror(errno));
    }
    int rc = resp_reader_feed(&k->rd, chunk, (size_t)n);
    if (rc == DLOCK_ENOMEM)
        return client_error(c, rc, "out of memory");
    if (rc != 0)
        return client_error(c, DLOCK_EPROTO, "%s: %s", k->addr,
                            resp_reader_error(&k->rd));
    return 1;
}

int conn_read_some(struct dlock_client *c, struct conn *k)
{
    int rc;
    while ((rc = read_once(c, k)) == 1)
        ;
    return rc;
}

int conn_recv(struct dlock_client *c, struct conn *k, uint64_t deadline_ms,
              const struct resp_value **v)
{
    for (;;) {
        int rc = resp_reader_next(&k->rd, v);
        if (rc == 1)
            return 0;
        if (rc == DLOCK_ENOMEM)
            return client_error(c, rc, "out of memory");
        if (rc < 0)
            return client_error(c, DLOCK_EPROTO, "%s: %s", k->addr,
                                resp_reader_error(&k->rd));
        if (!wait_fd(k, POLLIN, deadline_ms))
            return client_error(c, DLOCK_ETIMEDOUT, "no answer from %s in time",
                                k->addr);
        rc = read_once(c, k);
        if (rc < 0)
            return rc;
    }
}
