/* bench.h - what dlock-bench (bench/dlock_bench.c) asks of a lock service:
 * a table of operations per system. One client is one connection (and one
 * session or lease where the system has them), used by one thread. */
#ifndef DLOCK_BENCH_H
#define DLOCK_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* What an acquire did. */
enum { BENCH_GRANTED = 0, BENCH_BUSY = 1, BENCH_ERROR = -1 };

struct bench_system {
    const char *name;
    /* Makes client i of the servers list (comma-separated host:port), with
     * a session or lease of ttl_ms where the system has one. 0, or -1 with
     * a message in err. */
    int (*open)(const char *servers, int i, uint64_t ttl_ms, void **out,
                char *err, size_t errlen);
    void (*close)(void *c);
    /* Acquires name, waiting up to wait_ms (0: try once): BENCH_GRANTED
     * (with the fencing token in *token, or 0 where there is none),
     * BENCH_BUSY, BENCH_ERROR (the message in err). */
    int (*acquire)(void *c, const char *name, uint64_t wait_ms, uint64_t *token,
                   char *err, size_t errlen);
    /* As acquire, a shared hold (workload D); NULL where the system has no
     * shared locks. */
    int (*acquire_shared)(void *c, const char *name, uint64_t wait_ms,
                          uint64_t *token, char *err, size_t errlen);
    /* Takes one permit of the semaphore name of permits permits (workload
     * P), as acquire; NULL where the system has no semaphores. */
    int (*acquire_sem)(void *c, const char *name, uint32_t permits,
                       uint64_t wait_ms, uint64_t *token, char *err,
                       size_t errlen);
    /* Releases name (acquired by this client): 0 or -1. */
    int (*release)(void *c, const char *name, char *err, size_t errlen);
    /* A read of name's state (workload R): 0 or -1. */
    int (*status)(void *c, const char *name, char *err, size_t errlen);
    /* Ends the client's session and opens a new one (workload S): 0, -1. */
    int (*renew)(void *c, char *err, size_t errlen);
};

extern const struct bench_system bench_dlock, bench_redis, bench_etcd, bench_zk;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

#endif
