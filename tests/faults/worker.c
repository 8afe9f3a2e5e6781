/* worker.c - the workload of the fault campaign (tests/faults/campaign.py):
 * W threads (ids from --first-id on), each with its own client and a short
 * session, take one of L locks, write to that lock's fenced register (a
 * fenced-store process on a Unix socket) with the grant's token, hold a little,
 * write again and release. The campaign runs two drivers, so that one paused
 * outlives its leases while the other takes the locks over. Every operation is
 * written to a history file as two lines, its invocation and its completion
 * (ok, fail or unknown), with CLOCK_MONOTONIC nanoseconds:
 *
 *   T_NS WORKER invoke|ok|fail|unknown OP LOCK TOKEN DETAIL
 *
 * OP is acquire, write or release; TOKEN is 0 when none is known; DETAIL is
 * the register's socket for a write, else the error name or "-". SIGTERM
 * or SIGINT ends the run: each thread finishes its operation and releases.
 *
 *   faults-worker --servers LIST --stores DIR --history FILE
 *                 [--workers W] [--first-id N] [--locks L] [--ttl-ms T] */
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

#define MAX_WORKERS 32
#define MAX_LOCKS 16
#define IO_TIMEOUT_S 2

struct config {
    const char *servers;
    const char *stores;
    int workers;
    int locks;
    uint64_t ttl_ms;
};

struct worker {
    int id;
    pthread_t thread;
    unsigned seed;
    int store_fd[MAX_LOCKS]; /* a connection to each register, or -1 */
};

static struct config cfg = {NULL, NULL, 4, 3, 1500};
static FILE *history;
static pthread_mutex_t history_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stopping;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One history line, flushed at once so that a SIGKILL loses nothing. */
static void record(int worker, const char *what, const char *op, int lock,
                   uint64_t token, const char *detail)
{
    pthread_mutex_lock(&history_mu);
    fprintf(history, "%" PRIu64 " %d %s %s l%d %" PRIu64 " %s\n", now_ns(),
            worker, what, op, lock, token, detail);
    fflush(history);
    pthread_mutex_unlock(&history_mu);
}

/* The error codes whose outcome the caller cannot know. */
static const char *outcome_of(int rc)
{
    if (rc == 0)
        return "ok";
    return rc == DLOCK_ETIMEDOUT || rc == DLOCK_EIO ? "unknown" : "fail";
}

static const char *err_word(int rc)
{
    static const char *names[] = {
        "-",         "ENOMEM", "EPROTO",   "EINVAL",     "ELIMIT", "EIO",
        "ETIMEDOUT", "EHELD",  "ENOTHELD", "ENOSESSION", "EWAIT",  "ELOST"};
    return rc <= 0 && rc >= -11 ? names[-rc] : "E?";
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

/* One round: acquire, write, hold, release. Returns false when the
 * session must be replaced. */
static bool round_once(struct worker *w, struct dlock_session *s, uint64_t seq)
{
    int lock = (int)(rand_r(&w->seed) % (unsigned)cfg.locks);
    char name[32], owner[64], answer[128], store[600];
    struct dlock_acquire_options o;
    struct dlock_lock *l = NULL;
    snprintf(name, sizeof name, "l%d", lock);
    /* An owner of its own per acquisition: a release whose outcome was
     * unknown can never turn the next acquire into a reentrant hold. */
    snprintf(owner, sizeof owner, "w%d-%" PRIu64, w->id, seq);
    dlock_acquire_options_init(&o);
    o.wait_ms = 1000 + rand_r(&w->seed) % 2000;
    o.owner = owner;
    o.delay_ms = 300;
    record(w->id, "invoke", "acquire", lock, 0, "-");
    int rc = dlock_lock_acquire(s, name, &o, &l);
    record(w->id, outcome_of(rc), "acquire", lock,
           rc == 0 ? dlock_lock_token(l) : 0, err_word(rc));
    if (rc != 0)
        return rc != DLOCK_ENOSESSION && !dlock_session_lost(s);
    uint64_t token = dlock_lock_token(l);
    snprintf(store, sizeof store, "%s/l%d.sock", cfg.stores, lock);
    record(w->id, "invoke", "write", lock, token, store);
    const char *res = store_write(w, lock, token, seq, answer, sizeof answer);
    record(w->id, res, "write", lock, token, store);
    sleep_ms(5 + rand_r(&w->seed) % 40);
    /* A second write at the end of the hold: the one a pause of this
     * process makes late, and the register must refuse. */
    record(w->id, "invoke", "write", lock, token, store);
    res = store_write(w, lock, token, seq, answer, sizeof answer);
    record(w->id, res, "write", lock, token, store);
    record(w->id, "invoke", "release", lock, token, "-");
    rc = dlock_lock_release(l);
    record(w->id, outcome_of(rc), "release", lock, token, err_word(rc));
    return rc == 0 && !dlock_session_lost(s);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct dlock_options opt;
    struct dlock_client *c = NULL;
    char cname[32];
    uint64_t seq = 0;
    snprintf(cname, sizeof cname, "faults-w%d", w->id);
    dlock_options_init(&opt);
    opt.servers = cfg.servers;
    opt.timeout_ms = 3000;
    opt.name = cname;
    if (dlock_client_new(&opt, &c) != 0) {
        fprintf(stderr, "faults-worker: client %d: cannot make it\n", w->id);
        return NULL;
    }
    while (!atomic_load(&stopping)) {
        struct dlock_session *s = NULL;
        record(w->id, "invoke", "session", -1, 0, "-");
        int rc = dlock_session_open(c, cfg.ttl_ms, 0, &s);
        record(w->id, outcome_of(rc), "session", -1,
               rc == 0 ? dlock_session_id(s) : 0, err_word(rc));
        if (rc != 0) {
            sleep_ms(100);
            continue;
        }
        while (!atomic_load(&stopping) && round_once(w, s, ++seq))
            ;
        dlock_session_close(s);
    }
    dlock_client_free(c);
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
            "[--ttl-ms T]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static struct worker workers[MAX_WORKERS];
    const char *history_path = NULL;
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
        else
            return usage();
    }
    if (argc % 2 == 0 || cfg.servers == NULL || cfg.stores == NULL ||
        history_path == NULL || cfg.workers < 1 || cfg.workers > MAX_WORKERS ||
        cfg.locks < 1 || cfg.locks > MAX_LOCKS)
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
