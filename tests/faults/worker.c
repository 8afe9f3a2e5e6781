/* worker.c - the workload of the fault campaign (tests/faults/campaign.py):
 * W threads (ids from --first-id on), each with its own client and a short
 * session, take one of L locks, write to that lock's fenced register (a
 * fenced-store process on a Unix socket) with the grant's token, hold a little,
 * write again and release. The campaign runs two drivers, so that one paused
 * outlives its leases while the other takes the locks over. Every operation is
 * written to a history file as two lines, its invocation and its completion
 * (ok, fail, unknown, or skip for a first write not sent because the grant's
 * safe-until had passed), with CLOCK_MONOTONIC nanoseconds:
 *
 *   T_NS WORKER invoke|ok|fail|unknown|skip OP LOCK TOKEN SERVER SAFE DETAIL
 *
 * OP is session, acquire, share (a shared acquire: a reader, which writes
 * nothing), permit (one of the FAULTS_PERMITS permits of the semaphore
 * l<L>, L the number of locks), lead (leadership of the election l<L+1>),
 * write or release (of any of them); TOKEN is 0 when none is known
 * (the session id for a session); SERVER is the server that answered the
 * worker's latest call ("-" if none); SAFE is the grant's safe-until
 * deadline in CLOCK_MONOTONIC milliseconds (0 when none); DETAIL is the
 * register's socket for a write, else the error name or "-". SIGTERM or
 * SIGINT ends the run: each thread finishes its operation and releases.
 *
 * The lock service is reached through a table of operations (struct
 * lock_ops): libdlock here, others (--backend) in their own files.
 *
 *   faults-worker --servers LIST --stores DIR --history FILE
 *                 [--workers W] [--first-id N] [--locks L] [--ttl-ms T]
 *                 [--backend NAME] */
#include <dlock.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

#define MAX_WORKERS 32
#define IO_TIMEOUT_S 2
#define LOCK_DELAY_MS 300

struct config cfg = {NULL, NULL, 4, 3, 1500};
static FILE *history;
static pthread_mutex_t history_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stopping;
static const struct lock_ops *ops;
static const char *outcomes[] = {"ok", "fail", "unknown"};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One history line, flushed at once so that a SIGKILL loses nothing. */
static void record(struct worker *w, const char *what, const char *op, int lock,
                   uint64_t token, uint64_t safe, const char *detail)
{
    char server[128];
    ops->server(w, server, sizeof server);
    pthread_mutex_lock(&history_mu);
    fprintf(history, "%" PRIu64 " %d %s %s l%d %" PRIu64 " %s %" PRIu64 " %s\n",
            now_ns(), w->id, what, op, lock, token, server[0] ? server : "-",
            safe, detail);
    fflush(history);
    pthread_mutex_unlock(&history_mu);
}

static const char *err_word(int rc)
{
    static const char *names[] = {
        "-",     "ENOMEM",    "EPROTO",  "EINVAL",   "ELIMIT",
        "EIO",   "ETIMEDOUT", "EHELD",   "ENOTHELD", "ENOSESSION",
        "EWAIT", "ELOST",     "EREFUSED"};
    return rc <= 0 && rc >= -12 ? names[-rc] : "E?";
}

static int store_connect(int lock)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/l%d.sock", cfg.stores, lock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends "WRITE token key value" and reads the answer line: "ok" for OK,
 * "fail" for STALE (refused), "unknown" when the register did not answer. */
static const char *store_write(struct worker *w, int lock, uint64_t token,
                               uint64_t seq, char *answer, size_t n)
{
    char line[128];
    size_t len = 0;
    snprintf(answer, n, "no-answer");
    if (w->store_fd[lock] < 0)
        w->store_fd[lock] = store_connect(lock);
    int fd = w->store_fd[lock];
    int ll =
        snprintf(line, sizeof line, "WRITE %" PRIu64 " l%d w%d-%" PRIu64 "\n",
                 token, lock, w->id, seq);
    if (fd < 0)
        return "fail"; /* not connected: nothing was sent */
    if (write(fd, line, (size_t)ll) != ll)
        goto broken;
    while (len < n - 1) {
        ssize_t r = read(fd, answer + len, n - 1 - len);
        if (r <= 0)
            goto broken;
        len += (size_t)r;
        answer[len] = '\0';
        char *nl = strchr(answer, '\n');
        if (nl != NULL) {
            *nl = '\0';
            return strcmp(answer, "OK") == 0      ? "ok"
                   : strcmp(answer, "STALE") == 0 ? "fail"
                                                  : "unknown";
        }
    }
broken:
    close(fd);
    w->store_fd[lock] = -1;
    snprintf(answer, n, "no-answer");
    return "unknown";
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- dlock through libdlock ---------------------------------------- */

struct dlock_impl {
    struct dlock_client *c;
    struct dlock_session *s;
    struct dlock_lock *held;       /* a lock held, or */
    struct dlock_sem *sem;         /* a permit, or */
    struct dlock_leadership *lead; /* leadership */
};

static int dl_out(struct worker *w, int rc)
{
    snprintf(w->err, sizeof w->err, "%s", err_word(rc));
    if (rc == 0)
        return OUT_OK;
    return rc == DLOCK_ETIMEDOUT || rc == DLOCK_EIO ? OUT_UNKNOWN : OUT_FAIL;
}

static int dl_start(struct worker *w)
{
    struct dlock_impl *d = calloc(1, sizeof *d);
    struct dlock_options opt;
    char cname[32];
    snprintf(cname, sizeof cname, "faults-w%d", w->id);
    dlock_options_init(&opt);
    opt.servers = cfg.servers;
    opt.timeout_ms = 3000;
    opt.name = cname;
    if (d == NULL || dlock_client_new(&opt, &d->c) != 0) {
        free(d);
        return -1;
    }
    w->impl = d;
    return 0;
}

static void dl_stop(struct worker *w)
{
    struct dlock_impl *d = w->impl;
    dlock_client_free(d->c);
    free(d);
}

static int dl_open(struct worker *w, uint64_t *id)
{
    struct dlock_impl *d = w->impl;
    int rc = dlock_session_open(d->c, cfg.ttl_ms, 0, &d->s);
    *id = rc == 0 ? dlock_session_id(d->s) : 0;
    return dl_out(w, rc);
}

static void dl_close(struct worker *w)
{
    struct dlock_impl *d = w->impl;
    dlock_session_close(d->s);
    d->s = NULL;
}

static bool dl_usable(struct worker *w)
{
    struct dlock_impl *d = w->impl;
    return !dlock_session_lost(d->s);
}

static int acquire_as(struct worker *w, const char *name, const char *owner,
                      uint64_t wait_ms, bool shared, uint64_t *token)
{
    struct dlock_impl *d = w->impl;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = wait_ms;
    o.owner = owner;
    o.delay_ms = LOCK_DELAY_MS;
    int rc = shared ? dlock_lock_acquire_shared(d->s, name, &o, &d->held)
                    : dlock_lock_acquire(d->s, name, &o, &d->held);
    *token = rc == 0 ? dlock_lock_token(d->held) : 0;
    if (rc == DLOCK_ENOSESSION)
        w->renew = true;
    return dl_out(w, rc);
}

static int dl_acquire(struct worker *w, const char *name, const char *owner,
                      uint64_t wait_ms, uint64_t *token)
{
    return acquire_as(w, name, owner, wait_ms, false, token);
}

static int dl_acquire_shared(struct worker *w, const char *name,
                             const char *owner, uint64_t wait_ms,
                             uint64_t *token)
{
    return acquire_as(w, name, owner, wait_ms, true, token);
}

static int dl_acquire_permit(struct worker *w, const char *name,
                             const char *owner, uint64_t wait_ms,
                             uint64_t *token)
{
    struct dlock_impl *d = w->impl;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = wait_ms;
    o.owner = owner;
    o.delay_ms = LOCK_DELAY_MS;
    int rc = dlock_sem_acquire(d->s, name, FAULTS_PERMITS, 1, &o, &d->sem);
    *token = rc == 0 ? dlock_sem_token(d->sem) : 0;
    if (rc == DLOCK_ENOSESSION)
        w->renew = true;
    return dl_out(w, rc);
}

static int dl_campaign(struct worker *w, const char *name, const char *owner,
                       uint64_t wait_ms, uint64_t *token)
{
    struct dlock_impl *d = w->impl;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = wait_ms;
    o.owner = owner;
    o.delay_ms = LOCK_DELAY_MS;
    int rc = dlock_campaign(d->s, name, owner, strlen(owner), &o, &d->lead);
    *token = rc == 0 ? dlock_leadership_token(d->lead) : 0;
    if (rc == DLOCK_ENOSESSION)
        w->renew = true;
    return dl_out(w, rc);
}

static uint64_t dl_safe_until(struct worker *w)
{
    struct dlock_impl *d = w->impl;
    return d->sem != NULL    ? dlock_sem_safe_until(d->sem)
           : d->lead != NULL ? dlock_leadership_safe_until(d->lead)
                             : dlock_lock_safe_until(d->held);
}

static int dl_release(struct worker *w)
{
    struct dlock_impl *d = w->impl;
    int rc = d->sem != NULL    ? dlock_sem_release(d->sem)
             : d->lead != NULL ? dlock_resign(d->lead)
                               : dlock_lock_release(d->held);
    d->held = NULL;
    d->sem = NULL;
    d->lead = NULL;
    if (rc != 0)
        w->renew = true;
    return dl_out(w, rc);
}

static void dl_server(struct worker *w, char *out, size_t n)
{
    struct dlock_impl *d = w->impl;
    dlock_client_server(d->c, out, n);
}

static const struct lock_ops dlock_ops = {
    .name = "dlock",
    .start = dl_start,
    .stop = dl_stop,
    .open = dl_open,
    .close = dl_close,
    .usable = dl_usable,
    .acquire = dl_acquire,
    .acquire_shared = dl_acquire_shared,
    .acquire_permit = dl_acquire_permit,
    .campaign = dl_campaign,
    .safe_until = dl_safe_until,
    .release = dl_release,
    .server = dl_server,
};

static const struct lock_ops *const backends[] = {&dlock_ops, &redis_ops,
                                                  &redlock_ops};

/* ---- the workload ---------------------------------------------------- */

/* How long a hold lasts: mostly 5-45 ms; one in five 300-1300 ms, within
 * the TTL, long enough for a crash and restart of a server to fall inside
 * it (which a service that forgets its locks on restart then shows). */
static uint64_t hold_ms(struct worker *w)
{
    if (rand_r(&w->seed) % 5 == 0)
        return 300 + rand_r(&w->seed) % 1000;
    return 5 + rand_r(&w->seed) % 40;
}

/* One round: acquire, write, hold, write, release. Where the backend has
 * them, a sixth of the rounds take a permit of the semaphore, a sixth
 * leadership of the election, and a third of the rest are a reader's
 * (acquire shared): those hold and release, and write nothing. Returns
 * false when the
 * session must be replaced. The first write is sent only while the grant's
 * safe-until deadline has not passed (as a careful holder does); the second,
 * at the end of the hold, is sent regardless, as by a holder that relies on
 * the fence alone: after a pause it is the stale write the register must
 * refuse. */
static bool round_once(struct worker *w, uint64_t seq)
{
    int lock = (int)(rand_r(&w->seed) % (unsigned)cfg.locks);
    char name[32], owner[64], answer[128], store[600];
    /* An owner of its own per acquisition: a release whose outcome was
     * unknown can never turn the next acquire into a reentrant hold. */
    snprintf(name, sizeof name, "l%d", lock);
    snprintf(owner, sizeof owner, "w%d-%" PRIu64, w->id, seq);
    uint64_t token = 0;
    w->renew = false;
    /* Long enough to wait behind every other worker's longest hold: a
     * wait that runs out on a healthy cluster is a violation (check.py,
     * tail-unserved). */
    uint64_t wait_ms = 6000 + rand_r(&w->seed) % 2000;
    unsigned kind = rand_r(&w->seed) % 6;
    bool permit = kind == 0 && ops->acquire_permit != NULL;
    bool lead = kind == 1 && ops->campaign != NULL;
    bool shared = !permit && !lead && ops->acquire_shared != NULL &&
                  rand_r(&w->seed) % 3 == 0;
    const char *op = permit   ? "permit"
                     : lead   ? "lead"
                     : shared ? "share"
                              : "acquire";
    if (permit || lead) {
        lock = cfg.locks + (lead ? 1 : 0);
        snprintf(name, sizeof name, "l%d", lock);
    }
    record(w, "invoke", op, lock, 0, 0, "-");
    int out = permit   ? ops->acquire_permit(w, name, owner, wait_ms, &token)
              : lead   ? ops->campaign(w, name, owner, wait_ms, &token)
              : shared ? ops->acquire_shared(w, name, owner, wait_ms, &token)
                       : ops->acquire(w, name, owner, wait_ms, &token);
    record(w, outcomes[out], op, lock, token,
           out == OUT_OK ? ops->safe_until(w) : 0, w->err);
    if (out != OUT_OK)
        return !w->renew && ops->usable(w);
    if (shared || permit || lead) {
        sleep_ms(hold_ms(w));
        record(w, "invoke", "release", lock, token, 0, "-");
        out = ops->release(w);
        record(w, outcomes[out], "release", lock, token, 0, w->err);
        return out == OUT_OK && !w->renew && ops->usable(w);
    }
    snprintf(store, sizeof store, "%s/l%d.sock", cfg.stores, lock);
    for (int i = 0; i < 2; i++) {
        if (i == 1)
            sleep_ms(hold_ms(w));
        uint64_t safe = ops->safe_until(w);
        record(w, "invoke", "write", lock, token, safe, store);
        if (i == 0 && dlock_now_ms() >= safe) {
            record(w, "skip", "write", lock, token, safe, "expired");
            continue;
        }
        const char *res =
            store_write(w, lock, token, seq, answer, sizeof answer);
        record(w, res, "write", lock, token, safe, store);
    }
    record(w, "invoke", "release", lock, token, 0, "-");
    out = ops->release(w);
    record(w, outcomes[out], "release", lock, token, 0, w->err);
    return out == OUT_OK && !w->renew && ops->usable(w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t seq = 0;
    if (ops->start(w) != 0) {
        fprintf(stderr, "faults-worker: worker %d: cannot start\n", w->id);
        return NULL;
    }
    while (!atomic_load(&stopping)) {
        uint64_t id = 0;
        record(w, "invoke", "session", -1, 0, 0, "-");
        int out = ops->open(w, &id);
        record(w, outcomes[out], "session", -1, id, 0, w->err);
        if (out != OUT_OK) {
            sleep_ms(100);
            continue;
        }
        while (!atomic_load(&stopping) && round_once(w, ++seq))
            ;
        ops->close(w);
    }
    ops->stop(w);
    for (int i = 0; i < cfg.locks; i++)
        if (w->store_fd[i] >= 0)
            close(w->store_fd[i]);
    return NULL;
}

static void on_stop(int sig)
{
    (void)sig;
    atomic_store(&stopping, true);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: faults-worker --servers LIST --stores DIR --history FILE\n"
            "                     [--workers W] [--first-id N] [--locks L] "
            "[--ttl-ms T]\n"
            "                     [--backend dlock|redis|redlock]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static struct worker workers[MAX_WORKERS];
    const char *history_path = NULL;
    const char *backend = "dlock";
    int first_id = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--servers") == 0)
            cfg.servers = v;
        else if (strcmp(k, "--stores") == 0)
            cfg.stores = v;
        else if (strcmp(k, "--history") == 0)
            history_path = v;
        else if (strcmp(k, "--workers") == 0)
            cfg.workers = atoi(v);
        else if (strcmp(k, "--first-id") == 0)
            first_id = atoi(v);
        else if (strcmp(k, "--locks") == 0)
            cfg.locks = atoi(v);
        else if (strcmp(k, "--ttl-ms") == 0)
            cfg.ttl_ms = strtoull(v, NULL, 10);
        else if (strcmp(k, "--backend") == 0)
            backend = v;
        else
            return usage();
    }
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, backend) == 0)
            ops = backends[i];
    if (argc % 2 == 0 || ops == NULL || cfg.servers == NULL ||
        cfg.stores == NULL || history_path == NULL || cfg.workers < 1 ||
        cfg.workers > MAX_WORKERS || cfg.locks < 1 || cfg.locks > MAX_LOCKS)
        return usage();
    history = fopen(history_path, "a");
    if (history == NULL) {
        fprintf(stderr, "faults-worker: %s: %s\n", history_path,
                strerror(errno));
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < cfg.workers; i++) {
        workers[i].id = first_id + i;
        workers[i].seed = (unsigned)(now_ns() ^ (uint64_t)(i * 7919));
        for (int j = 0; j < MAX_LOCKS; j++)
            workers[i].store_fd[j] = -1;
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    }
    for (int i = 0; i < cfg.workers; i++)
        pthread_join(workers[i].thread, NULL);
    fclose(history);
    return 0;
}
