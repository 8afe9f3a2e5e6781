/* redis_ops.c - the fault campaign's workload against Redis
 * (tests/faults/redis_campaign.py): two backends of struct lock_ops.
 *
 *   redis    one instance. Acquire is SET key value NX PX ttl with a random
 *            value, polled every 10-50 ms (with jitter) until the wait runs
 *            out, as Redis lock clients do; release is the compare-and-delete
 *            script. safe-until = the start of the SET that succeeded
 *            + ttl * 0.999 - 50 ms (the margin libdlock uses).
 *   redlock  N instances (3): the Redlock algorithm as published
 *            (redis.io, "Distributed Locks with Redis"): SET NX PX on each
 *            instance in turn with a short timeout; the lock is held when a
 *            majority granted it and validity = ttl - elapsed - drift
 *            (drift = ttl * 0.01 + 2 ms) is still positive; otherwise it is
 *            released on every instance and tried again after a random
 *            delay until the wait runs out. safe-until = the round's start
 *            + validity.
 *
 * Redis has no fencing tokens. The token handed to the registers (and
 * written to the history) is the CLOCK_MONOTONIC time in nanoseconds at the
 * moment the acquire succeeded, made strictly increasing within the process
 * (bumped by 1 when equal); both driver processes read the same clock. The
 * tokens thus order grants by time, and a register refuses the write of a
 * holder after a later grant's holder wrote: it counts "two holders at once"
 * where dlock's tokens would have fenced the late holder off.
 *
 * Redis has no sessions: open and close do nothing, and a session is always
 * usable. Every command has a deadline (poll); a connection that broke or
 * timed out is closed and opened again for the next command. Outcomes: ok;
 * fail for a definite no (EWAIT: held until the wait ran out; ENOTHELD: a
 * release found the key gone or another's); unknown when an instance was
 * not reached (EIO), did not answer in time (ETIMEDOUT) or answered what a
 * lock client cannot read (EPROTO). */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/resp.h"
#include "worker.h"

#define MAX_INSTANCES 5
#define REDIS_TIMEOUT_MS 500   /* one command on the single instance */
#define REDLOCK_TIMEOUT_MS 150 /* one command on one Redlock instance */
#define POLL_MIN_MS 10         /* redis: the poll interval, 10-50 ms */
#define POLL_JITTER_MS 40
#define RETRY_MIN_MS 20 /* redlock: the delay before another round */
#define RETRY_JITTER_MS 80
#define SAFETY_MS 50 /* libdlock's margin below the lease */

static const char unlock_script[] =
    "if redis.call('get',KEYS[1]) == ARGV[1] then "
    "return redis.call('del',KEYS[1]) else return 0 end";

struct inst {
    char addr[64]; /* "host:port", as given */
    char host[64];
    char port[8];
    int fd; /* -1: not connected */
    struct resp_reader rd;
};

struct redis_impl {
    int n; /* instances */
    uint64_t timeout_ms;
    struct inst inst[MAX_INSTANCES];
    char key[32];
    char value[40];   /* the holder's random value, hex */
    uint64_t safe_ms; /* the held lock's safe-until, 0 if none */
    const char *last; /* the address that answered last, or NULL */
    struct buf cmd;   /* the command being sent */
};

/* What a command on one instance came to. */
enum answer {
    A_YES,     /* granted, or deleted */
    A_NO,      /* held by another, or not ours to delete */
    A_DOWN,    /* no connection: nothing was sent */
    A_TIMEOUT, /* sent, no answer before the deadline */
    A_BROKEN,  /* sent, the connection broke */
    A_BAD,     /* an answer a lock client cannot read */
};

static _Atomic uint64_t last_token;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
    return now_ns() / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The token of a grant: the time it succeeded, strictly increasing. */
static uint64_t next_token(void)
{
    uint64_t t = now_ns();
    uint64_t prev = atomic_load(&last_token);
    do {
        if (t <= prev)
            t = prev + 1;
    } while (!atomic_compare_exchange_weak(&last_token, &prev, t));
    return t;
}

static const char *answer_err(enum answer a)
{
    switch (a) {
    case A_TIMEOUT:
        return "ETIMEDOUT";
    case A_BAD:
        return "EPROTO";
    default:
        return "EIO";
    }
}

static int out(struct worker *w, int outcome, const char *err)
{
    snprintf(w->err, sizeof w->err, "%s", err);
    return outcome;
}

/* ---- one instance: a connection with deadlines ------------------------ */

static void inst_reset(struct inst *in)
{
    if (in->fd >= 0)
        close(in->fd);
    in->fd = -1;
    resp_reader_close(&in->rd);
    resp_reader_init(&in->rd, &resp_limits_client);
}

/* 1 when fd is ready for events, 0 at the deadline, -1 on error. */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline_ms)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)(deadline_ms - now));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static int inst_connect(struct inst *in, uint64_t deadline_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;
    if (getaddrinfo(in->host, in->port, &hints, &res) != 0)
        return -1;
    int fd =
        socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -1 : connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && fd >= 0 && errno == EINPROGRESS &&
        wait_fd(fd, POLLOUT, deadline_ms) > 0) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            rc = 0;
    }
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    in->fd = fd;
    return 0;
}

static enum answer inst_send(struct inst *in, const struct buf *cmd,
                             uint64_t deadline_ms)
{
    size_t off = 0;
    while (off < cmd->len) {
        ssize_t n = send(in->fd, cmd->data + off, cmd->len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            int rc = wait_fd(in->fd, POLLOUT, deadline_ms);
            if (rc > 0)
                continue;
            return rc == 0 ? A_TIMEOUT : A_BROKEN;
        }
        return A_BROKEN;
    }
    return A_YES;
}

/* Sends cmd to in and reads one reply into *reply (valid until the next
 * call on in). A_YES when a reply came, else what went wrong; the
 * connection is closed on any failure, so no late reply is ever read as
 * the answer to a later command. */
static enum answer inst_call(struct inst *in, const struct buf *cmd,
                             uint64_t timeout_ms,
                             const struct resp_value **reply)
{
    uint64_t deadline = now_ms() + timeout_ms;
    if (in->fd < 0 && inst_connect(in, deadline) != 0)
        return A_DOWN;
    enum answer a = inst_send(in, cmd, deadline);
    while (a == A_YES) {
        int rc = resp_reader_next(&in->rd, reply);
        if (rc == 1)
            return A_YES;
        if (rc < 0) {
            a = A_BAD;
            break;
        }
        rc = wait_fd(in->fd, POLLIN, deadline);
        if (rc <= 0) {
            a = rc == 0 ? A_TIMEOUT : A_BROKEN;
            break;
        }
        char chunk[4096];
        ssize_t n = recv(in->fd, chunk, sizeof chunk, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            a = A_BROKEN;
        else if (resp_reader_feed(&in->rd, chunk, (size_t)n) != 0)
            a = A_BAD;
    }
    inst_reset(in);
    return a;
}

/* ---- the two commands of a Redis lock --------------------------------- */

/* Runs a command on instance i and reads the lock's answer from the reply:
 * want is the reply type of a yes; a null (SET) or the integer 0 (the
 * script) is a no; anything else is a bad answer. */
static enum answer command(struct redis_impl *r, int i, size_t argc,
                           const char *const *argv)
{
    const struct resp_value *v;
    struct inst *in = &r->inst[i];
    buf_clear(&r->cmd);
    if (resp_write_command(&r->cmd, argc, argv, NULL) != 0)
        return A_DOWN; /* out of memory: nothing was sent */
    enum answer a = inst_call(in, &r->cmd, r->timeout_ms, &v);
    if (a != A_YES)
        return a;
    r->last = in->addr;
    if (v->type == RESP_SIMPLE && strcmp(v->str, "OK") == 0)
        return A_YES;
    if (v->type == RESP_NULL)
        return A_NO;
    if (v->type == RESP_INTEGER && (v->integer == 0 || v->integer == 1))
        return v->integer == 1 ? A_YES : A_NO;
    return A_BAD;
}

static enum answer set_nx(struct redis_impl *r, int i)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRIu64, cfg.ttl_ms);
    const char *argv[] = {"SET", r->key, r->value, "NX", "PX", ttl};
    return command(r, i, 6, argv);
}

static enum answer unlock(struct redis_impl *r, int i)
{
    const char *argv[] = {"EVAL", unlock_script, "1", r->key, r->value};
    return command(r, i, 5, argv);
}

/* A fresh random value for the next acquisition of name. */
static void new_value(struct redis_impl *r, struct worker *w, const char *name)
{
    unsigned char rnd[16];
    snprintf(r->key, sizeof r->key, "%s", name);
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        uint64_t t = now_ns();
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(rand_r(&w->seed) ^ (t >> (i % 8 * 8)));
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(r->value + 2 * i, 3, "%02x", rnd[i]);
}

/* ---- the operations, common to both ----------------------------------- */

static void stop(struct worker *w);

static int start(struct worker *w, int min, int max, uint64_t timeout_ms)
{
    struct redis_impl *r = calloc(1, sizeof *r);
    const char *p = cfg.servers;
    if (r == NULL)
        return -1;
    r->timeout_ms = timeout_ms;
    buf_init(&r->cmd);
    while (*p != '\0' && r->n < max) {
        struct inst *in = &r->inst[r->n];
        size_t len = strcspn(p, ",");
        const char *colon = memrchr(p, ':', len);
        if (colon == NULL || len >= sizeof in->addr)
            break;
        snprintf(in->addr, sizeof in->addr, "%.*s", (int)len, p);
        snprintf(in->host, sizeof in->host, "%.*s", (int)(colon - p), p);
        snprintf(in->port, sizeof in->port, "%.*s",
                 (int)(len - (size_t)(colon + 1 - p)), colon + 1);
        in->fd = -1;
        resp_reader_init(&in->rd, &resp_limits_client);
        r->n++;
        p += len + (p[len] == ',');
    }
    w->impl = r;
    if (*p == '\0' && r->n >= min && r->n <= max)
        return 0;
    fprintf(stderr, "faults-worker: want %d to %d host:port, got \"%s\"\n", min,
            max, cfg.servers);
    stop(w);
    return -1;
}

static void stop(struct worker *w)
{
    struct redis_impl *r = w->impl;
    for (int i = 0; i < r->n; i++) {
        inst_reset(&r->inst[i]);
        resp_reader_close(&r->inst[i].rd);
    }
    buf_close(&r->cmd);
    free(r);
    w->impl = NULL;
}

static int open_session(struct worker *w, uint64_t *id)
{
    *id = 0;
    return out(w, OUT_OK, "-");
}

static void close_session(struct worker *w)
{
    (void)w;
}

static bool usable(struct worker *w)
{
    (void)w;
    return true;
}

static uint64_t safe_until(struct worker *w)
{
    struct redis_impl *r = w->impl;
    return r->safe_ms;
}

static void server(struct worker *w, char *buf, size_t n)
{
    struct redis_impl *r = w->impl;
    snprintf(buf, n, "%s", r != NULL && r->last != NULL ? r->last : "");
}

/* ---- redis: one instance ---------------------------------------------- */

static int redis_start(struct worker *w)
{
    return start(w, 1, 1, REDIS_TIMEOUT_MS);
}

static int redis_acquire(struct worker *w, const char *name, const char *owner,
                         uint64_t wait_ms, uint64_t *token)
{
    struct redis_impl *r = w->impl;
    uint64_t deadline = now_ms() + wait_ms;
    uint64_t margin = cfg.ttl_ms / 1000 + SAFETY_MS;
    (void)owner; /* the random value is the owner */
    new_value(r, w, name);
    for (;;) {
        uint64_t begun = now_ms();
        enum answer a = set_nx(r, 0);
        if (a == A_YES) {
            *token = next_token();
            r->safe_ms =
                begun + (cfg.ttl_ms > margin ? cfg.ttl_ms - margin : 0);
            return out(w, OUT_OK, "-");
        }
        /* An answer lost after the SET was sent: it may have been set. */
        if (a != A_NO && a != A_DOWN)
            return out(w, OUT_UNKNOWN, answer_err(a));
        uint64_t delay = POLL_MIN_MS + rand_r(&w->seed) % POLL_JITTER_MS;
        if (now_ms() + delay >= deadline)
            return a == A_NO ? out(w, OUT_FAIL, "EWAIT")
                             : out(w, OUT_UNKNOWN, answer_err(a));
        sleep_ms(delay);
    }
}

static int redis_release(struct worker *w)
{
    struct redis_impl *r = w->impl;
    enum answer a = unlock(r, 0);
    r->safe_ms = 0;
    if (a == A_YES)
        return out(w, OUT_OK, "-");
    if (a == A_NO)
        return out(w, OUT_FAIL, "ENOTHELD");
    return out(w, OUT_UNKNOWN, answer_err(a));
}

const struct lock_ops redis_ops = {
    .name = "redis",
    .start = redis_start,
    .stop = stop,
    .open = open_session,
    .close = close_session,
    .usable = usable,
    .acquire = redis_acquire,
    .safe_until = safe_until,
    .release = redis_release,
    .server = server,
};

/* ---- redlock: a majority of independent instances --------------------- */

static int redlock_start(struct worker *w)
{
    return start(w, 3, MAX_INSTANCES, REDLOCK_TIMEOUT_MS);
}

/* Redlock's release: the script on every instance, whatever they said. */
static void unlock_all(struct redis_impl *r)
{
    for (int i = 0; i < r->n; i++)
        unlock(r, i);
}

static int redlock_acquire(struct worker *w, const char *name,
                           const char *owner, uint64_t wait_ms, uint64_t *token)
{
    struct redis_impl *r = w->impl;
    uint64_t deadline = now_ms() + wait_ms;
    int64_t drift = (int64_t)cfg.ttl_ms / 100 + 2;
    int quorum = r->n / 2 + 1;
    (void)owner; /* the random value is the owner */
    new_value(r, w, name);
    for (;;) {
        uint64_t begun = now_ms();
        int yes = 0, unknown = 0;
        const char *err = "-";
        for (int i = 0; i < r->n; i++) {
            enum answer a = set_nx(r, i);
            yes += a == A_YES;
            if (a != A_YES && a != A_NO) {
                unknown++;
                err = answer_err(a);
            }
        }
        int64_t elapsed = (int64_t)(now_ms() - begun);
        int64_t validity = (int64_t)cfg.ttl_ms - elapsed - drift;
        if (yes >= quorum && validity > 0) {
            *token = next_token();
            r->safe_ms = begun + (uint64_t)validity;
            return out(w, OUT_OK, "-");
        }
        unlock_all(r);
        uint64_t delay = RETRY_MIN_MS + rand_r(&w->seed) % RETRY_JITTER_MS;
        if (now_ms() + delay < deadline) {
            sleep_ms(delay);
            continue;
        }
        /* A majority may have granted it, unseen: the outcome is open. */
        if (unknown > 0 && yes + unknown >= quorum)
            return out(w, OUT_UNKNOWN, err);
        return out(w, OUT_FAIL, "EWAIT");
    }
}

static int redlock_release(struct worker *w)
{
    struct redis_impl *r = w->impl;
    int yes = 0, unknown = 0, quorum = r->n / 2 + 1;
    const char *err = "-";
    for (int i = 0; i < r->n; i++) {
        enum answer a = unlock(r, i);
        yes += a == A_YES;
        if (a != A_YES && a != A_NO) {
            unknown++;
            err = answer_err(a);
        }
    }
    r->safe_ms = 0;
    if (yes >= quorum)
        return out(w, OUT_OK, "-");
    if (yes + unknown >= quorum)
        return out(w, OUT_UNKNOWN, err);
    return out(w, OUT_FAIL, "ENOTHELD");
}

const struct lock_ops redlock_ops = {
    .name = "redlock",
    .start = redlock_start,
    .stop = stop,
    .open = open_session,
    .close = close_session,
    .usable = usable,
    .acquire = redlock_acquire,
    .safe_until = safe_until,
    .release = redlock_release,
    .server = server,
};
