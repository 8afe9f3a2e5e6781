/* dlock_bench.c - dlock-bench: a fixed-duration run of C concurrent clients
 * (one connection and one thread each) against a lock service, the same for
 * every system (bench.h): dlock through libdlock, Redis, etcd, ZooKeeper.
 *
 *   dlock-bench --system dlock|redis|etcd|zk --servers LIST --workload W
 *               [--clients C] [--duration S] [--warmup S] [--ttl-ms T]
 *               [--pids P,P,...] [--kill PID --kill-after S] [--rate R]
 *               [--trace FILE] [--permits N]
 *
 * Workloads (one operation each):
 *   U  uncontended: each client its own lock; acquire (try), release
 *   H  one hot lock all clients want: acquire (waiting), release; each
 *      operation is one handover
 *   R  reads of the state of a held lock
 *   S  session churn: a new session, acquire, release
 *   D  one lock all clients read: acquire shared (waiting), release; with
 *      no writer, every acquire is granted at once beside the others
 *   P  one semaphore of --permits N (8) all clients want: take a permit
 *      (waiting), give it back
 *   F  U while --kill PID is killed (SIGKILL) --kill-after seconds into
 *      the run: reports the time from the kill to the next grant, and
 *      checks that every client's lock held across the kill is still held
 *      with its token (a reentrant acquire gives the same token back)
 *
 * With --rate R the clients together start R operations per second (each
 * client keeps its own schedule of R/C per second, catching up when
 * late). An operation's latency then counts from its scheduled start when
 * the client was late for it (a stall is not hidden by the operations it
 * delayed), and from when the client woke up to send it when the client
 * had slept until then: a late wake-up of the benchmark's own thread is
 * not the service's latency. acquire_sched_* also give the acquire's
 * latency from the scheduled start in every case.
 *
 * Prints one line of key=value pairs: ops, ops_per_s, the latency of the
 * acquire and of the whole operation in microseconds (p50, p99, p999, max),
 * errors, the benchmark's own CPU (its client threads, percent of one
 * core), and with --pids the servers' CPU (percent of one core, summed)
 * and the largest RSS (MiB), read from /proc over the measured part.
 *
 * --trace FILE writes every measured operation, one line each, to find
 * when a tail happened: the client, the scheduled start, the start, the
 * acquire's answer and the operation's end, in microseconds from the start
 * of the measured part. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_CLIENTS 1024
#define MAX_PIDS 16

struct samples {
    uint32_t *v; /* microseconds */
    size_t n, cap;
};

/* One operation for --trace: nanosecond clock readings. */
struct traced {
    uint64_t sched, t0, t1, t2;
};

struct client {
    int id;
    pthread_t thread;
    void *conn;
    struct samples acquire, op, sched;
    struct traced *trace; /* --trace: every measured operation */
    size_t n_trace, cap_trace;
    uint64_t *grants; /* F: invocation and answer time of each grant */
    size_t n_grants, cap_grants;
    uint64_t errors;
    uint64_t held_token; /* F: the lock held across the kill */
    bool held_kept;
    char err[256];
};

static const struct bench_system *sys;
static const char *servers;
static char workload = 'U';
static uint32_t permits = 8; /* workload P's semaphore */
static int n_clients = 16;
static double duration_s = 10, warmup_s = 2, rate;
static uint64_t ttl_ms = 10000;
static const char *trace_path;
static struct client clients[MAX_CLIENTS];
static pthread_barrier_t ready;
static atomic_int phase; /* 0 warm-up, 1 measured, 2 done */
static uint64_t measure_start, measure_end;

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "dlock-bench: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    exit(1);
}

static void push(struct samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL)
            die("out of memory", NULL);
    }
    uint64_t us = ns / 1000;
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* F: a grant invoked at t0 and answered at t1. */
static void note_grant(struct client *c, uint64_t t0, uint64_t t1)
{
    if (c->n_grants + 2 > c->cap_grants) {
        c->cap_grants = c->cap_grants ? 2 * c->cap_grants : 4096;
        c->grants = realloc(c->grants, c->cap_grants * sizeof *c->grants);
        if (c->grants == NULL)
            die("out of memory", NULL);
    }
    c->grants[c->n_grants++] = t0;
    c->grants[c->n_grants++] = t1;
}

static void note_trace(struct client *c, uint64_t sched, uint64_t t0,
                       uint64_t t1, uint64_t t2)
{
    if (trace_path == NULL)
        return;
    if (c->n_trace == c->cap_trace) {
        c->cap_trace = c->cap_trace ? 2 * c->cap_trace : 4096;
        c->trace = realloc(c->trace, c->cap_trace * sizeof *c->trace);
        if (c->trace == NULL)
            die("out of memory", NULL);
    }
    c->trace[c->n_trace++] = (struct traced){sched, t0, t1, t2};
}

static void write_trace(void)
{
    FILE *f = fopen(trace_path, "w");
    if (f == NULL)
        die("cannot write the trace", strerror(errno));
    fprintf(f, "# client sched_us start_us acquired_us end_us\n");
    for (int i = 0; i < n_clients; i++)
        for (size_t j = 0; j < clients[i].n_trace; j++) {
            const struct traced *t = &clients[i].trace[j];
            fprintf(f, "%d %.1f %.1f %.1f %.1f\n", i,
                    (double)(int64_t)(t->sched - measure_start) / 1e3,
                    (double)(int64_t)(t->t0 - measure_start) / 1e3,
                    (double)(int64_t)(t->t1 - measure_start) / 1e3,
                    (double)(int64_t)(t->t2 - measure_start) / 1e3);
        }
    if (fclose(f) != 0)
        die("cannot write the trace", strerror(errno));
}

/* One operation of the workload, counted from t0; false on an error. */
static bool one_op(struct client *c, const char *name, bool measured,
                   uint64_t t0, uint64_t sched)
{
    uint64_t token, t1;
    int rc;
    switch (workload) {
    case 'R':
        rc = sys->status(c->conn, name, c->err, sizeof c->err);
        if (rc != 0)
            return false;
        t1 = bench_now_ns();
        if (measured) {
            push(&c->acquire, t1 - t0);
            push(&c->op, t1 - t0);
            push(&c->sched, t1 - sched);
            note_trace(c, sched, t0, t1, t1);
        }
        return true;
    case 'S':
        if (sys->renew(c->conn, c->err, sizeof c->err) != 0)
            return false;
        break;
    default:
        break;
    }
    if (workload == 'D')
        rc = sys->acquire_shared(c->conn, name, 30000, &token, c->err,
                                 sizeof c->err);
    else if (workload == 'P')
        rc = sys->acquire_sem(c->conn, name, permits, 30000, &token, c->err,
                              sizeof c->err);
    else
        rc = sys->acquire(c->conn, name, workload == 'H' ? 30000 : 0, &token,
                          c->err, sizeof c->err);
    t1 = bench_now_ns();
    if (rc != BENCH_GRANTED) {
        if (rc == BENCH_BUSY)
            snprintf(c->err, sizeof c->err, "%s: busy", name);
        return false;
    }
    if (sys->release(c->conn, name, c->err, sizeof c->err) != 0)
        return false;
    uint64_t t2 = bench_now_ns();
    if (measured) {
        push(&c->acquire, t1 - t0);
        push(&c->op, t2 - t0);
        push(&c->sched, t1 - sched);
        note_trace(c, sched, t0, t1, t2);
        if (workload == 'F')
            note_grant(c, t0, t1);
    }
    return true;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    char name[64];
    if (workload == 'H')
        snprintf(name, sizeof name, "bench-hot");
    else if (workload == 'R')
        snprintf(name, sizeof name, "bench-read");
    else if (workload == 'D')
        snprintf(name, sizeof name, "bench-shared");
    else if (workload == 'P')
        snprintf(name, sizeof name, "bench-sem");
    else
        snprintf(name, sizeof name, "bench-%c-%d", workload, c->id);
    if (workload == 'F') {
        char held[64];
        snprintf(held, sizeof held, "bench-held-%d", c->id);
        if (sys->acquire(c->conn, held, 0, &c->held_token, c->err,
                         sizeof c->err) != BENCH_GRANTED)
            die("cannot take the lock held across the kill", c->err);
    }
    pthread_barrier_wait(&ready);
    int p;
    uint64_t every = rate > 0 ? (uint64_t)(1e9 * n_clients / rate) : 0;
    /* Schedules spread over one period, not all clients at once. */
    uint64_t next =
        bench_now_ns() + every * (uint64_t)c->id / (uint64_t)n_clients;
    while ((p = atomic_load(&phase)) < 2) {
        uint64_t t0 = bench_now_ns(), sched = t0;
        if (every > 0) {
            sched = next;
            if (next > t0) {
                uint64_t d = next - t0;
                struct timespec ts = {(time_t)(d / 1000000000u),
                                      (long)(d % 1000000000u)};
                nanosleep(&ts, NULL);
                t0 = bench_now_ns(); /* slept: from the wake-up */
            } else {
                t0 = next; /* late: from the schedule */
            }
            next += every;
        }
        if (!one_op(c, name, p == 1, t0, sched)) {
            if (p == 1)
                c->errors++;
            usleep(1000);
        }
    }
    if (workload == 'F') {
        char held[64];
        uint64_t again = 0;
        snprintf(held, sizeof held, "bench-held-%d", c->id);
        /* A reentrant acquire by the same owner: the same token if the
         * lock was kept all along. Tried for 5 s while no server answers
         * (with one call's own timeout at most beyond that). */
        uint64_t until = bench_now_ns() + 5000000000u;
        while (sys->acquire(c->conn, held, 0, &again, c->err, sizeof c->err) ==
                   BENCH_ERROR &&
               bench_now_ns() < until)
            usleep(100000);
        c->held_kept = again == c->held_token;
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* All clients' samples of one kind, sorted. */
static struct samples merged(size_t offset)
{
    struct samples all = {0};
    for (int i = 0; i < n_clients; i++) {
        struct samples *s = (struct samples *)((char *)&clients[i] + offset);
        for (size_t j = 0; j < s->n; j++)
            push(&all, (uint64_t)s->v[j] * 1000);
    }
    if (all.n > 0)
        qsort(all.v, all.n, sizeof *all.v, cmp_u32);
    return all;
}

static uint32_t pct(const struct samples *s, double q)
{
    if (s->n == 0)
        return 0;
    size_t i = (size_t)(q * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

static void print_latency(const char *what, const struct samples *s)
{
    printf(" %s_p50_us=%u %s_p99_us=%u %s_p999_us=%u %s_max_us=%u", what,
           pct(s, 0.5), what, pct(s, 0.99), what, pct(s, 0.999), what,
           s->n ? s->v[s->n - 1] : 0);
}

/* ---- the servers' CPU and memory, from /proc ------------------------- */

static int pids[MAX_PIDS], n_pids;

static uint64_t cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* After the name: state and 10 fields, then utime and stime. */
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                            "%*u %lu %lu",
                            &ut, &st) != 2)
        return 0;
    return ut + st;
}

static uint64_t rss_kib(int pid)
{
    char path[64], line[256];
    uint64_t kib = 0;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* This process's CPU time (all its client threads), microseconds. */
static uint64_t own_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int kill_pid; /* F: the server killed; not counted */

static uint64_t all_ticks(void)
{
    uint64_t t = 0;
    for (int i = 0; i < n_pids; i++)
        if (pids[i] != kill_pid)
            t += cpu_ticks(pids[i]);
    return t;
}

/* ---- the command line ------------------------------------------------ */

static _Noreturn void bad_arg(const char *opt, const char *v, const char *want)
{
    fprintf(stderr, "dlock-bench: %s %s: %s\n", opt, v, want);
    exit(2);
}

/* v as a number: all of it, finite, from lo to hi. */
static double number_arg(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !(d >= lo && d <= hi)) {
        char want[96];
        snprintf(want, sizeof want, "a number from %g to %g", lo, hi);
        bad_arg(opt, v, want);
    }
    return d;
}

/* v as a whole number from lo to hi. */
static long whole_arg(const char *opt, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || n < lo || n > hi) {
        char want[96];
        snprintf(want, sizeof want, "a whole number from %ld to %ld", lo, hi);
        bad_arg(opt, v, want);
    }
    return n;
}

static void parse_pids(const char *list)
{
    char buf[256], *save = NULL;
    if (strlen(list) >= sizeof buf)
        bad_arg("--pids", list, "too long");
    strcpy(buf, list);
    for (char *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (n_pids == MAX_PIDS)
            bad_arg("--pids", list, "16 pids at most");
        pids[n_pids++] = (int)whole_arg("--pids", t, 1, INT32_MAX);
    }
    if (n_pids == 0)
        bad_arg("--pids", list, "pids separated by commas");
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: dlock-bench --system dlock|redis|etcd|zk --servers LIST\n"
            "                   --workload U|H|R|S|F|D|P [--clients C] "
            "[--duration S]\n"
            "                   [--warmup S] [--ttl-ms T] [--pids P,P,...]\n"
            "                   [--kill PID --kill-after S] [--rate R]\n"
            "                   [--trace FILE] [--permits N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct bench_system *const systems[] = {
        &bench_dlock, &bench_redis, &bench_etcd, &bench_zk};
    double kill_after = 0;
    if (argc % 2 == 0)
        return usage();
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--system") == 0) {
            sys = NULL;
            for (size_t j = 0; j < sizeof systems / sizeof systems[0]; j++)
                if (strcmp(systems[j]->name, v) == 0)
                    sys = systems[j];
            if (sys == NULL)
                bad_arg(k, v, "dlock, redis, etcd or zk");
        } else if (strcmp(k, "--servers") == 0) {
            servers = v;
        } else if (strcmp(k, "--workload") == 0) {
            if (strlen(v) != 1 || strchr("UHRSFDP", v[0]) == NULL)
                bad_arg(k, v, "U, H, R, S, F, D or P");
            workload = v[0];
        } else if (strcmp(k, "--clients") == 0) {
            n_clients = (int)whole_arg(k, v, 1, MAX_CLIENTS);
        } else if (strcmp(k, "--duration") == 0) {
            duration_s = number_arg(k, v, 0.1, 86400);
        } else if (strcmp(k, "--warmup") == 0) {
            warmup_s = number_arg(k, v, 0, 3600);
        } else if (strcmp(k, "--ttl-ms") == 0) {
            ttl_ms = (uint64_t)whole_arg(k, v, 1000, 3600000);
        } else if (strcmp(k, "--pids") == 0) {
            parse_pids(v);
        } else if (strcmp(k, "--kill") == 0) {
            kill_pid = (int)whole_arg(k, v, 1, INT32_MAX);
        } else if (strcmp(k, "--kill-after") == 0) {
            kill_after = number_arg(k, v, 0.1, 86400);
        } else if (strcmp(k, "--rate") == 0) {
            rate = number_arg(k, v, 0, 1e7);
        } else if (strcmp(k, "--trace") == 0) {
            trace_path = v;
        } else if (strcmp(k, "--permits") == 0) {
            permits = (uint32_t)whole_arg(k, v, 1, 1000000);
        } else {
            return usage();
        }
    }
    if (sys == NULL || servers == NULL)
        return usage();
    if (workload == 'F' &&
        (kill_pid <= 0 || kill_after <= 0 || kill_after >= duration_s))
        bad_arg("--workload", "F",
                "needs --kill PID and --kill-after within --duration");
    if (workload == 'D' && sys->acquire_shared == NULL)
        bad_arg("--workload", "D", "this system has no shared locks here");
    if (workload == 'P' && sys->acquire_sem == NULL)
        bad_arg("--workload", "P", "this system has no semaphores here");
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < n_clients; i++) {
        clients[i].id = i;
        if (sys->open(servers, i, ttl_ms, &clients[i].conn, clients[i].err,
                      sizeof clients[i].err) != 0)
            die("cannot open a client", clients[i].err);
    }
    if (workload == 'R') {
        uint64_t token;
        if (sys->acquire(clients[0].conn, "bench-read", 0, &token,
                         clients[0].err,
                         sizeof clients[0].err) != BENCH_GRANTED)
            die("cannot take the lock to read", clients[0].err);
    }
    pthread_barrier_init(&ready, NULL, (unsigned)n_clients + 1);
    for (int i = 0; i < n_clients; i++)
        pthread_create(&clients[i].thread, NULL, client_main, &clients[i]);
    pthread_barrier_wait(&ready);
    sleep_s(warmup_s);
    uint64_t ticks0 = all_ticks(), own0 = own_cpu_us();
    measure_start = bench_now_ns();
    atomic_store(&phase, 1);
    uint64_t killed_at = 0;
    if (workload == 'F') {
        sleep_s(kill_after);
        killed_at = bench_now_ns();
        if (kill(kill_pid, SIGKILL) != 0)
            die("cannot kill the leader", strerror(errno));
        sleep_s(duration_s - kill_after);
    } else {
        sleep_s(duration_s);
    }
    atomic_store(&phase, 2);
    measure_end = bench_now_ns();
    uint64_t ticks1 = all_ticks(), own1 = own_cpu_us();
    if (ticks1 < ticks0)
        ticks1 = ticks0;
    uint64_t rss = 0;
    for (int i = 0; i < n_pids; i++)
        if (pids[i] != kill_pid && rss_kib(pids[i]) > rss)
            rss = rss_kib(pids[i]);
    for (int i = 0; i < n_clients; i++)
        pthread_join(clients[i].thread, NULL);

    if (trace_path != NULL)
        write_trace();
    struct samples acq = merged(offsetof(struct client, acquire));
    struct samples op = merged(offsetof(struct client, op));
    uint64_t errors = 0;
    const char *last_err = "";
    for (int i = 0; i < n_clients; i++) {
        errors += clients[i].errors;
        if (clients[i].errors > 0)
            last_err = clients[i].err;
    }
    double secs = (double)(measure_end - measure_start) / 1e9;
    printf("system=%s workload=%c clients=%d duration_s=%.1f ops=%zu "
           "ops_per_s=%.0f errors=%" PRIu64,
           sys->name, workload, n_clients, secs, op.n, (double)op.n / secs,
           errors);
    printf(" bench_cpu_pct=%.0f", 100.0 * (double)(own1 - own0) / 1e6 / secs);
    print_latency("acquire", &acq);
    print_latency("op", &op);
    if (rate > 0) {
        struct samples sch = merged(offsetof(struct client, sched));
        print_latency("acquire_sched", &sch);
        free(sch.v);
    }
    if (n_pids > 0)
        printf(" server_cpu_pct=%.0f server_rss_mib=%.1f",
               100.0 * (double)(ticks1 - ticks0) /
                   ((double)sysconf(_SC_CLK_TCK) * secs),
               (double)rss / 1024.0);
    if (workload == 'F') {
        uint64_t next = UINT64_MAX, gap = 0;
        int kept = 0;
        /* The first grant asked for after the kill: one answered just
         * after it may have been sent by the old leader before it died. */
        for (int i = 0; i < n_clients; i++) {
            struct client *c = &clients[i];
            for (size_t j = 0; j + 1 < c->n_grants; j += 2)
                if (c->grants[j] > killed_at && c->grants[j + 1] < next)
                    next = c->grants[j + 1];
            kept += c->held_kept;
        }
        if (next != UINT64_MAX)
            gap = next - killed_at;
        printf(" failover_ms=%.0f held_locks=%d held_locks_lost=%d",
               next == UINT64_MAX ? -1.0 : (double)gap / 1e6, n_clients,
               n_clients - kept);
    }
    printf("\n");
    if (errors > 0)
        fprintf(stderr, "dlock-bench: %" PRIu64 " errors, the last: %s\n",
                errors, last_err);
    free(acq.v);
    free(op.v);
    for (int i = 0; i < n_clients; i++) {
        struct client *c = &clients[i];
        sys->close(c->conn);
        free(c->acquire.v);
        free(c->op.v);
        free(c->sched.v);
        free(c->trace);
        free(c->grants);
    }
    return 0;
}
