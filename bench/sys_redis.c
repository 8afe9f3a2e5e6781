/* sys_redis.c - dlock-bench's Redis: the standard single-instance lock, one
 * connection per client: acquire is SET name value NX PX ttl with a value
 * of the client's own, release the compare-and-delete script. Redis cannot
 * queue a waiter, so a waiting acquire polls, every 1-5 ms (random), until
 * the wait runs out: that is what Redis lock clients do, at the faster end.
 * There are no sessions (renew does nothing) and no fencing tokens (0). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "common/buf.h"
#include "common/resp.h"

static const char unlock_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) else return 0 end";

struct rd {
    int fd;
    char value[32];
    char px[24];
    unsigned seed;
    struct buf out;
    struct resp_reader in;
};

static int rd_connect(const char *servers, char *err, size_t n)
{
    char host[256];
    const char *colon = strchr(servers, ':');
    const char *end = strchr(servers, ',');
    if (colon == NULL || (end != NULL && colon > end) ||
        (size_t)(colon - servers) >= sizeof host) {
        snprintf(err, n, "bad server address '%s'", servers);
        return -1;
    }
    memcpy(host, servers, (size_t)(colon - servers));
    host[colon - servers] = '\0';
    char port[16];
    snprintf(port, sizeof port, "%.*s",
             (int)(end ? (size_t)(end - colon - 1) : strlen(colon + 1)),
             colon + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, n, "%s: %s", servers, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, n, "connect %s: %s", servers, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Sends a command and reads its reply (valid until the next call). */
static int call(struct rd *r, const struct resp_value **v, char *err, size_t n,
                size_t argc, const char *const *argv)
{
    size_t lens[8];
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    r->out.len = 0;
    if (resp_write_command(&r->out, argc, argv, lens) != 0) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    size_t off = 0;
    while (off < r->out.len) {
        ssize_t w = write(r->fd, r->out.data + off, r->out.len - off);
        if (w <= 0) {
            snprintf(err, n, "write: %s", strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    for (;;) {
        int rc = resp_reader_next(&r->in, v);
        if (rc == 1)
            break;
        if (rc < 0) {
            snprintf(err, n, "bad reply: %s",
                     resp_reader_error(&r->in) ? resp_reader_error(&r->in)
                                               : "no memory");
            return -1;
        }
        char chunk[4096];
        ssize_t got = read(r->fd, chunk, sizeof chunk);
        if (got <= 0) {
            snprintf(err, n, "read: %s", got == 0 ? "closed" : strerror(errno));
            return -1;
        }
        if (resp_reader_feed(&r->in, chunk, (size_t)got) != 0) {
            snprintf(err, n, "out of memory");
            return -1;
        }
    }
    if ((*v)->type == RESP_ERROR) {
        snprintf(err, n, "%s", (*v)->str);
        return -1;
    }
    return 0;
}

static int rd_open(const char *servers, int i, uint64_t ttl_ms, void **out,
                   char *err, size_t n)
{
    struct rd *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    r->fd = rd_connect(servers, err, n);
    if (r->fd < 0) {
        free(r);
        return -1;
    }
    r->seed = (unsigned)(bench_now_ns() ^ (uint64_t)i * 2654435761u);
    snprintf(r->value, sizeof r->value, "%d-%08x", i,
             (unsigned)rand_r(&r->seed));
    snprintf(r->px, sizeof r->px, "%llu", (unsigned long long)ttl_ms);
    buf_init(&r->out);
    resp_reader_init(&r->in, &resp_limits_client);
    *out = r;
    return 0;
}

static void rd_close(void *p)
{
    struct rd *r = p;
    close(r->fd);
    buf_close(&r->out);
    resp_reader_close(&r->in);
    free(r);
}

static int rd_acquire(void *p, const char *name, uint64_t wait_ms,
                      uint64_t *token, char *err, size_t n)
{
    struct rd *r = p;
    const char *argv[] = {"SET", name, r->value, "NX", "PX", r->px};
    uint64_t deadline = bench_now_ns() + wait_ms * 1000000u;
    *token = 0;
    for (;;) {
        const struct resp_value *v;
        if (call(r, &v, err, n, 6, argv) != 0)
            return BENCH_ERROR;
        if (v->type == RESP_SIMPLE)
            return BENCH_GRANTED;
        if (v->type != RESP_NULL) {
            snprintf(err, n, "SET NX: unexpected reply type '%c'", v->type);
            return BENCH_ERROR;
        }
        if (bench_now_ns() >= deadline)
            return BENCH_BUSY;
        usleep(1000 + (useconds_t)(rand_r(&r->seed) % 4000));
    }
}

static int rd_release(void *p, const char *name, char *err, size_t n)
{
    struct rd *r = p;
    const char *argv[] = {"EVAL", unlock_script, "1", name, r->value};
    const struct resp_value *v;
    if (call(r, &v, err, n, 5, argv) != 0)
        return -1;
    if (v->type != RESP_INTEGER || v->integer != 1) {
        snprintf(err, n, "%s was not held", name);
        return -1;
    }
    return 0;
}

static int rd_status(void *p, const char *name, char *err, size_t n)
{
    struct rd *r = p;
    const char *argv[] = {"PTTL", name};
    const struct resp_value *v;
    return call(r, &v, err, n, 2, argv);
}

static int rd_renew(void *p, char *err, size_t n)
{
    (void)p, (void)err, (void)n;
    return 0;
}

const struct bench_system bench_redis = {
    .name = "redis",
    .open = rd_open,
    .close = rd_close,
    .acquire = rd_acquire,
    .release = rd_release,
    .status = rd_status,
    .renew = rd_renew,
};
