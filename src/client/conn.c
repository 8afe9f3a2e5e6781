/* conn.c - one TCP connection to a server: a socket with TCP_NODELAY,
 * connected without blocking, then blocking for a call's answer (one recv()
 * waits for it, bounded by SO_RCVTIMEO) and not for anything else
 * (MSG_DONTWAIT), and the shared RESP reader for its replies. */
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
#include "tls/tls.h"

/* The longest that one recv() waits before the deadline is looked at. */
#define RECV_SLICE_MS 1000

/* A connected socket blocks in recv() unless told otherwise. */
static void connected(struct dlock_client *c, struct conn *k)
{
    atomic_store(&c->reached, true);
    k->connecting = false;
    if (fcntl(k->fd, F_SETFL, 0) != 0)
        k->nonblocking = true; /* waits with poll() then */
}

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

/* A connect to addr failed with errno err: refused (nothing listens
 * there) is told apart, since a client may give up on it at once. */
static int connect_failed(struct dlock_client *c, const char *addr, int err)
{
    return client_error(c, err == ECONNREFUSED ? DLOCK_EREFUSED : DLOCK_EIO,
                        "connecting to %s: %s", addr, strerror(err));
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
        return connect_failed(c, addr, err);
    }
    struct conn *k = alloc_malloc(sizeof *k);
    if (k == NULL) {
        close(fd);
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    }
    k->fd = fd;
    k->connecting = true;
    k->nonblocking = false;
    k->rcvtimeo_ms = 0;
    k->tls = NULL;
    buf_init(&k->wire);
    buf_init(&k->pre);
    k->auth_wait = false;
    if (c->password != NULL) {
        /* Sent with the first request: the server serves nothing else
         * until it has checked it. */
        const char *argv[] = {"AUTH", c->user != NULL ? c->user : "default",
                              c->password};
        if (resp_write_command(&k->pre, 3, argv, NULL) != 0) {
            conn_free(k);
            return client_error(c, DLOCK_ENOMEM, "out of memory");
        }
        k->auth_wait = true;
    }
    snprintf(k->addr, sizeof k->addr, "%s", addr);
    resp_reader_init(&k->rd, &resp_limits_client);
    if (c->tls != NULL) {
        /* The server's certificate must name the host it is dialled by. */
        char host[CLIENT_ADDR_MAX], port[8];
        client_split_addr(addr, host, sizeof host, port, sizeof port);
        k->tls = tls_new(c->tls, host);
        if (k->tls == NULL || tls_error(k->tls)[0] != '\0') {
            rc = k->tls == NULL ? client_error(c, DLOCK_ENOMEM, "out of memory")
                                : client_error(c, DLOCK_ETLS, "%s: %s", addr,
                                               tls_error(k->tls));
            conn_free(k);
            return rc;
        }
    }
    if (rc == 0)
        connected(c, k);
    *out = k;
    return 0;
}

void conn_free(struct conn *k)
{
    if (k == NULL)
        return;
    close(k->fd);
    resp_reader_close(&k->rd);
    tls_free(k->tls);
    buf_close(&k->wire);
    alloc_wipe(k->pre.data, k->pre.cap);
    buf_close(&k->pre);
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
        return connect_failed(c, k->addr, err);
    connected(c, k);
    return 0;
}

int conn_finish(struct dlock_client *c, struct conn *k, uint64_t deadline_ms)
{
    /* Looked at before any wait: a refusal is known at once, also when the
     * deadline has passed meanwhile, and says more than "timed out". */
    int rc;
    while ((rc = conn_check(c, k)) == 1) {
        if (!wait_fd(k, POLLOUT, deadline_ms))
            return client_error(c, DLOCK_ETIMEDOUT,
                                "connecting to %s: timed out", k->addr);
    }
    return rc;
}

/* One send(): bytes sent, 0 if it would block, or DLOCK_EIO. */
static ssize_t send_once(struct dlock_client *c, struct conn *k, const char *p,
                         size_t len)
{
    ssize_t n = send(k->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return client_error(c, DLOCK_EIO, "sending to %s: %s", k->addr,
                        strerror(errno));
}

/* Sends what b holds until the socket takes no more: 0 or DLOCK_EIO. */
static int send_buf(struct dlock_client *c, struct conn *k, struct buf *b)
{
    while (b->len > 0) {
        ssize_t n = send_once(c, k, b->data, b->len);
        if (n <= 0)
            return (int)n;
        buf_consume(b, (size_t)n);
    }
    return 0;
}

static int tls_failed(struct dlock_client *c, struct conn *k)
{
    return client_error(c, DLOCK_ETLS, "%s: %s", k->addr, tls_error(k->tls));
}

/* With TLS: the n bytes at p into the engine (they wait there until the
 * handshake is done), what it has for the network into k->wire, and as
 * much of that as the socket takes now. */
static int tls_push(struct dlock_client *c, struct conn *k, const char *p,
                    size_t n)
{
    if (n > 0 && tls_send(k->tls, p, n) != 0)
        return tls_failed(c, k);
    if (tls_take(k->tls, &k->wire) != 0)
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    return send_buf(c, k, &k->wire);
}

bool conn_wants_write(const struct conn *k)
{
    return k->wire.len > 0;
}

/* The AUTH of a new connection goes before the first bytes it sends: p and
 * len then name the two together. 0 or DLOCK_ENOMEM. */
static int with_pre(struct dlock_client *c, struct conn *k, const char **p,
                    size_t *len)
{
    if (k->pre.len == 0)
        return 0;
    if (*len > 0 && buf_append(&k->pre, *p, *len) != 0)
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    *p = k->pre.data;
    *len = k->pre.len;
    return 0;
}

static void pre_sent(struct conn *k)
{
    if (k->pre.len > 0) {
        alloc_wipe(k->pre.data, k->pre.len);
        buf_clear(&k->pre);
    }
}

int conn_send(struct dlock_client *c, struct conn *k, const char *p, size_t len,
              uint64_t deadline_ms)
{
    int pr = with_pre(c, k, &p, &len);
    if (pr != 0)
        return pr;
    if (k->tls != NULL) {
        /* Sealed into k->wire; sent from there. */
        int rc = tls_push(c, k, p, len);
        if (rc != 0)
            return rc;
        p = k->wire.data;
        len = k->wire.len;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = send_once(c, k, p + done, len - done);
        if (n < 0)
            return (int)n;
        done += (size_t)n;
        if (done < len && !wait_fd(k, POLLOUT, deadline_ms))
            return client_error(c, DLOCK_ETIMEDOUT, "sending to %s: timed out",
                                k->addr);
    }
    if (k->tls != NULL)
        buf_clear(&k->wire);
    pre_sent(k);
    return 0;
}

int conn_send_some(struct dlock_client *c, struct conn *k, struct buf *b)
{
    if (k->pre.len > 0) {
        /* The AUTH first: b holds both from now on. */
        if (buf_append(&k->pre, b->data, b->len) != 0)
            return client_error(c, DLOCK_ENOMEM, "out of memory");
        buf_clear(b);
        if (buf_append(b, k->pre.data, k->pre.len) != 0)
            return client_error(c, DLOCK_ENOMEM, "out of memory");
        pre_sent(k);
    }
    if (k->tls == NULL)
        return send_buf(c, k, b);
    int rc = tls_push(c, k, b->data, b->len);
    buf_clear(b);
    return rc;
}

/* Reads once into the reader: 1 bytes read, 0 nothing yet (or the wait
 * timed out), or an error. flags: MSG_DONTWAIT, or 0 to wait. With TLS the
 * bytes go through the engine, and what it answers (the handshake's next
 * messages, and the requests that waited for it) is sent. */
static int read_once(struct dlock_client *c, struct conn *k, int flags)
{
    char chunk[16384];
    ssize_t n = recv(k->fd, chunk, sizeof chunk, flags);
    if (n == 0)
        return client_error(c, DLOCK_EIO, "%s closed the connection", k->addr);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return client_error(c, DLOCK_EIO, "reading from %s: %s", k->addr,
                            strerror(errno));
    }
    const char *data = chunk;
    struct buf plain;
    buf_init(&plain);
    if (k->tls != NULL) {
        int t = tls_recv(k->tls, chunk, (size_t)n, &plain);
        if (t == TLS_CLOSED)
            t = client_error(c, DLOCK_EIO, "%s closed the connection", k->addr);
        else if (t != TLS_OK)
            t = tls_failed(c, k);
        else
            t = tls_push(c, k, NULL, 0);
        if (t != 0) {
            buf_close(&plain);
            return t;
        }
        data = plain.data;
        n = (ssize_t)plain.len;
    }
    int rc = n > 0 ? resp_reader_feed(&k->rd, data, (size_t)n) : 0;
    buf_close(&plain);
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
    while ((rc = read_once(c, k, MSG_DONTWAIT)) == 1)
        ;
    return rc;
}

/* Waits for bytes and reads them, until deadline_ms: 1 read, 0 timed out, or
 * an error. One recv() waits, bounded by SO_RCVTIMEO: poll() and then recv()
 * would make two system calls of every answer. The timeout is changed only
 * when it would overrun the deadline or is under half of what is left (up
 * to a slice), so that a client's calls rarely change it. */
static int recv_wait(struct dlock_client *c, struct conn *k,
                     uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = client_now_ms();
        if (now >= deadline_ms)
            return 0;
        uint64_t left = deadline_ms - now;
        uint64_t slice = left < RECV_SLICE_MS ? left : RECV_SLICE_MS;
        if (conn_wants_write(k)) {
            /* TLS records the socket has not taken (a request that waited
             * for the handshake): sent as it takes them, while reading. */
            if (!wait_fd(k, POLLIN | POLLOUT, deadline_ms))
                return 0;
            int rc = send_buf(c, k, &k->wire);
            if (rc == 0)
                rc = read_once(c, k, MSG_DONTWAIT);
            if (rc != 0)
                return rc;
            continue;
        }
        if (k->nonblocking) {
            if (!wait_fd(k, POLLIN, deadline_ms))
                return 0;
        } else if (k->rcvtimeo_ms == 0 || k->rcvtimeo_ms > left ||
                   2 * k->rcvtimeo_ms < slice) {
            uint64_t t = slice * 3 / 4 > 0 ? slice * 3 / 4 : 1;
            struct timeval tv = {.tv_sec = (time_t)(t / 1000),
                                 .tv_usec = (suseconds_t)(t % 1000 * 1000)};
            if (setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0)
                k->rcvtimeo_ms = t;
            else
                k->nonblocking = true;
            continue;
        }
        int rc = read_once(c, k, 0);
        if (rc != 0)
            return rc;
    }
}

int conn_next(struct dlock_client *c, struct conn *k,
              const struct resp_value **v)
{
    for (;;) {
        int rc = resp_reader_next(&k->rd, v);
        if (rc == DLOCK_ENOMEM)
            return client_error(c, rc, "out of memory");
        if (rc < 0)
            return client_error(c, DLOCK_EPROTO, "%s: %s", k->addr,
                                resp_reader_error(&k->rd));
        if (rc == 0 || !k->auth_wait)
            return rc;
        k->auth_wait = false;
        const struct resp_value *a = *v;
        if (a->type == RESP_ERROR || a->type == RESP_BLOB_ERROR)
            return client_error(c, DLOCK_EAUTH, "%s: AUTH as %s: %.*s", k->addr,
                                c->user != NULL ? c->user : "default",
                                (int)(a->len > 200 ? 200 : a->len), a->str);
    }
}

int conn_recv(struct dlock_client *c, struct conn *k, uint64_t deadline_ms,
              const struct resp_value **v)
{
    for (;;) {
        int rc = conn_next(c, k, v);
        if (rc == 1)
            return 0;
        if (rc < 0)
            return rc;
        rc = recv_wait(c, k, deadline_ms);
        if (rc == 0)
            return client_error(c, DLOCK_ETIMEDOUT, "no answer from %s in time",
                                k->addr);
        if (rc < 0)
            return rc;
    }
}
