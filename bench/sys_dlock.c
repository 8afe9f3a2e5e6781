/* sys_dlock.c - dlock-bench's dlock: one libdlock client and one session
 * per benchmark client, kept alive by the library's thread. A lock is
 * held by the calling thread (the default owner), so acquiring a lock the
 * client holds again is reentrant and gives the same token. */
#include <dlock.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define HELD_MAX 4

struct dl {
    struct dlock_client *c;
    struct dlock_session *s;
    uint64_t ttl_ms;
    struct dlock_lock *held[HELD_MAX];
    struct dlock_sem *sem; /* a permit held (workload P) */
};

static int fail(struct dl *d, char *err, size_t n, int rc)
{
    snprintf(err, n, "%s: %s", dlock_strerror(rc), dlock_errmsg(d->c));
    return -1;
}

static int dl_open(const char *servers, int i, uint64_t ttl_ms, void **out,
                   char *err, size_t n)
{
    struct dl *d = calloc(1, sizeof *d);
    struct dlock_options o;
    char name[32];
    if (d == NULL) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    snprintf(name, sizeof name, "bench-%d", i);
    dlock_options_init(&o);
    o.servers = servers;
    o.name = name;
    /* A call given up after 10 s, or the session's TTL if shorter: past
     * it the session's locks may be gone anyway. */
    o.timeout_ms = ttl_ms < 10000 ? ttl_ms : 10000;
    d->ttl_ms = ttl_ms;
    int rc = dlock_client_new(&o, &d->c);
    if (rc == 0)
        rc = dlock_session_open(d->c, ttl_ms, 0, &d->s);
    if (rc != 0) {
        snprintf(err, n, "%s", dlock_strerror(rc));
        dlock_client_free(d->c);
        free(d);
        return -1;
    }
    *out = d;
    return 0;
}

static void dl_close(void *p)
{
    struct dl *d = p;
    dlock_client_free(d->c); /* closes the session, frees the handles */
    free(d);
}

static int acquire_as(void *p, const char *name, uint64_t wait_ms, bool shared,
                      uint64_t *token, char *err, size_t n)
{
    struct dl *d = p;
    struct dlock_acquire_options o;
    struct dlock_lock *l;
    int slot = -1;
    for (int i = 0; i < HELD_MAX && slot < 0; i++)
        if (d->held[i] == NULL)
            slot = i;
    if (slot < 0) {
        snprintf(err, n, "more than %d holds", HELD_MAX);
        return BENCH_ERROR;
    }
    dlock_acquire_options_init(&o);
    o.wait_ms = wait_ms;
    int rc = shared ? dlock_lock_acquire_shared(d->s, name, &o, &l)
                    : dlock_lock_acquire(d->s, name, &o, &l);
    if (rc == DLOCK_EHELD || rc == DLOCK_EWAIT)
        return BENCH_BUSY;
    if (rc != 0)
        return fail(d, err, n, rc);
    /* A reentrant hold is released at once: the benchmark wants its token. */
    for (int i = 0; i < HELD_MAX; i++)
        if (d->held[i] != NULL &&
            strcmp(dlock_lock_name(d->held[i]), name) == 0) {
            *token = dlock_lock_token(l);
            dlock_lock_release(l);
            return BENCH_GRANTED;
        }
    d->held[slot] = l;
    *token = dlock_lock_token(l);
    return BENCH_GRANTED;
}

static int dl_acquire(void *p, const char *name, uint64_t wait_ms,
                      uint64_t *token, char *err, size_t n)
{
    return acquire_as(p, name, wait_ms, false, token, err, n);
}

static int dl_acquire_shared(void *p, const char *name, uint64_t wait_ms,
                             uint64_t *token, char *err, size_t n)
{
    return acquire_as(p, name, wait_ms, true, token, err, n);
}

static int dl_acquire_sem(void *p, const char *name, uint32_t permits,
                          uint64_t wait_ms, uint64_t *token, char *err,
                          size_t n)
{
    struct dl *d = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = wait_ms;
    int rc = dlock_sem_acquire(d->s, name, permits, 1, &o, &d->sem);
    if (rc == DLOCK_EHELD || rc == DLOCK_EWAIT)
        return BENCH_BUSY;
    if (rc != 0)
        return fail(d, err, n, rc);
    *token = dlock_sem_token(d->sem);
    return BENCH_GRANTED;
}

static int dl_release(void *p, const char *name, char *err, size_t n)
{
    struct dl *d = p;
    if (d->sem != NULL) {
        int rc = dlock_sem_release(d->sem);
        d->sem = NULL;
        return rc == 0 ? 0 : fail(d, err, n, rc);
    }
    for (int i = 0; i < HELD_MAX; i++)
        if (d->held[i] != NULL &&
            strcmp(dlock_lock_name(d->held[i]), name) == 0) {
            int rc = dlock_lock_release(d->held[i]);
            d->held[i] = NULL;
            return rc == 0 ? 0 : fail(d, err, n, rc);
        }
    snprintf(err, n, "%s is not held", name);
    return -1;
}

static int dl_status(void *p, const char *name, char *err, size_t n)
{
    struct dl *d = p;
    struct dlock_lock_status st;
    int rc = dlock_lock_status(d->c, name, &st);
    return rc == 0 ? 0 : fail(d, err, n, rc);
}

static int dl_renew(void *p, char *err, size_t n)
{
    struct dl *d = p;
    for (int i = 0; i < HELD_MAX; i++)
        if (d->held[i] != NULL) {
            dlock_lock_release(d->held[i]);
            d->held[i] = NULL;
        }
    int rc = dlock_session_close(d->s);
    d->s = NULL;
    if (rc == 0)
        rc = dlock_session_open(d->c, d->ttl_ms, 0, &d->s);
    return rc == 0 ? 0 : fail(d, err, n, rc);
}

const struct bench_system bench_dlock = {
    .name = "dlock",
    .open = dl_open,
    .close = dl_close,
    .acquire = dl_acquire,
    .acquire_shared = dl_acquire_shared,
    .acquire_sem = dl_acquire_sem,
    .release = dl_release,
    .status = dl_status,
    .renew = dl_renew,
};
