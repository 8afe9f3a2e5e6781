/* worker.h - what the fault campaign's workload (worker.c) asks of a lock
 * service: a table of operations per backend. Each runs on the worker's
 * own thread, with the worker's own state (w->impl). */
#ifndef DLOCK_FAULTS_WORKER_H
#define DLOCK_FAULTS_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_LOCKS 16
#define FAULTS_PERMITS 2 /* of the semaphore (check.py knows it too) */

struct config {
    const char *servers; /* the backend's addresses, comma-separated */
    const char *stores;  /* the registers' directory */
    int workers;
    int locks;
    uint64_t ttl_ms; /* the lease of a session (or of a lock) */
};

extern struct config cfg;

struct worker {
    int id;
    pthread_t thread;
    unsigned seed;
    int store_fd[MAX_LOCKS]; /* a connection to each register, or -1 */
    void *impl;              /* the backend's state */
    char err[32];            /* the last operation's error word, or "-" */
    bool renew;              /* the session must be replaced */
};

/* What an operation did: its outcome is known, or it may have happened. */
enum { OUT_OK, OUT_FAIL, OUT_UNKNOWN };

/* Every call but start/stop returns OUT_* and sets w->err; a failure that
 * ends the session sets w->renew. */
struct lock_ops {
    const char *name;
    int (*start)(struct worker *w); /* 0, or -1: the worker gives up */
    void (*stop)(struct worker *w);
    int (*open)(struct worker *w, uint64_t *id); /* a session */
    void (*close)(struct worker *w);
    bool (*usable)(struct worker *w); /* the session still holds */
    /* Acquires name, waiting up to wait_ms; *token: the fencing token. */
    int (*acquire)(struct worker *w, const char *name, const char *owner,
                   uint64_t wait_ms, uint64_t *token);
    /* As acquire, a shared hold; NULL where the backend has none. */
    int (*acquire_shared)(struct worker *w, const char *name, const char *owner,
                          uint64_t wait_ms, uint64_t *token);
    /* As acquire, one permit of the semaphore name of FAULTS_PERMITS;
     * NULL where the backend has no semaphores. */
    int (*acquire_permit)(struct worker *w, const char *name, const char *owner,
                          uint64_t wait_ms, uint64_t *token);
    /* As acquire, leadership of the election name, with owner as its
     * value; NULL where the backend has no elections. */
    int (*campaign)(struct worker *w, const char *name, const char *owner,
                    uint64_t wait_ms, uint64_t *token);
    /* The held lock's deadline (CLOCK_MONOTONIC ms), 0 once lost. */
    uint64_t (*safe_until)(struct worker *w);
    int (*release)(struct worker *w); /* the lock acquired last */
    /* The server that answered last, "" if none. */
    void (*server)(struct worker *w, char *out, size_t n);
};

/* Redis (redis_ops.c): one instance, and Redlock over three. */
extern const struct lock_ops redis_ops, redlock_ops;

#endif
