/* keeper.c - the keepalive engine: one non-blocking connection of its own
 * on which the keepalives of its sessions are pipelined, the renewal of
 * their safe-until deadlines (design.md §12), lost sessions and their
 * callbacks. A thread of the library drives it (keeper_start) or the
 * program does (noloop.c). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "common/alloc.h"

/* Redirects followed at once; after these, each waits a pause. */
#define FREE_REDIRECTS 3
/* The shortest wait for a keepalive's answer. */
#define REPLY_MIN_MS 100

int keeper_new(struct dlock_client *c, struct keeper **out)
{
    struct keeper *k = alloc_malloc(sizeof *k);
    if (k == NULL)
        return DLOCK_ENOMEM;
    memset(k, 0, sizeof *k);
    k->c = c;
    k->wake_fd = -1;
    buf_init(&k->out);
    if (pthread_mutex_init(&k->mu, NULL) != 0) {
        alloc_free(k);
        return DLOCK_ENOMEM;
    }
    if (pthread_cond_init(&k->cond, NULL) != 0) {
        pthread_mutex_destroy(&k->mu);
        alloc_free(k);
        return DLOCK_ENOMEM;
    }
    *out = k;
    return 0;
}

void keeper_free(struct keeper *k)
{
    if (k == NULL)
        return;
    if (k->has_thread) {
        pthread_mutex_lock(&k->mu);
        k->stop = true;
        pthread_mutex_unlock(&k->mu);
        keeper_wake(k);
        pthread_join(k->thread, NULL);
    }
    if (k->wake_fd >= 0)
        close(k->wake_fd);
    conn_free(k->conn);
    buf_close(&k->out);
    alloc_free(k->ss);
    alloc_free(k->fly);
    alloc_free(k->lost);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mu);
    alloc_free(k);
}

int keeper_add(struct keeper *k, struct dlock_session *s)
{
    int rc = 0;
    pthread_mutex_lock(&k->mu);
    if (alloc_grow((void **)&k->ss, &k->cap_ss, k->n_ss + 1, sizeof s) != 0)
        rc = DLOCK_ENOMEM;
    else
        k->ss[k->n_ss++] = s;
    pthread_mutex_unlock(&k->mu);
    return rc;
}

void keeper_remove(struct keeper *k, struct dlock_session *s)
{
    pthread_mutex_lock(&k->mu);
    holdwatch_remove(k, s, client_now_ms());
    client_untrack((void **)k->ss, &k->n_ss, s);
    for (size_t i = 0; i < k->n_fly; i++)
        if (k->fly[i].s == s)
            k->fly[i].s = NULL;
    while (k->delivering == s)
        pthread_cond_wait(&k->cond, &k->mu);
    pthread_mutex_unlock(&k->mu);
}

void keeper_wake(struct keeper *k)
{
    uint64_t one = 1;
    if (k->wake_fd >= 0 && write(k->wake_fd, &one, sizeof one) < 0) {
        /* Full (it never is: the thread drains it): it wakes anyway. */
    }
}

/* ---- the connection --------------------------------------------------- */

/* Drops the connection; its keepalives are sent again on the next one,
 * at once after a redirect, else after a pause that grows. */
static void fail(struct keeper *k, uint64_t now, bool pause)
{
    if (k->conn != NULL) {
        if (pause)
            client_failed(k->c, k->conn->addr);
        conn_free(k->conn);
        k->conn = NULL;
    }
    buf_clear(&k->out);
    for (size_t i = 0; i < k->n_fly; i++)
        if (k->fly[i].s != NULL)
            k->fly[i].s->in_flight = false;
    k->n_fly = 0;
    holdwatch_reset(k);
    if (!pause && ++k->redirects > FREE_REDIRECTS)
        pause = true;
    if (pause) {
        k->backoff_ms = k->backoff_ms == 0 ? CLIENT_BACKOFF_MIN_MS
                        : k->backoff_ms * 2 > CLIENT_BACKOFF_MAX_MS
                            ? CLIENT_BACKOFF_MAX_MS
                            : k->backoff_ms * 2;
        k->retry_at = now + k->backoff_ms;
    } else {
        k->retry_at = now;
    }
}

static uint64_t connect_timeout(const struct keeper *k)
{
    return k->c->timeout_ms / 3 > 1000 ? k->c->timeout_ms / 3 : 1000;
}

static int connect_start(struct keeper *k, uint64_t now)
{
    char addr[CLIENT_ADDR_MAX];
    client_target(k->c, addr);
    int rc = conn_start(k->c, addr, &k->conn);
    if (rc == DLOCK_ENOMEM)
        return rc;
    if (rc != 0) {
        client_failed(k->c, addr);
        fail(k, now, true);
        return 0;
    }
    k->reply_deadline = now + connect_timeout(k);
    return 0;
}

/* ---- answers ---------------------------------------------------------- */

/* The session's keepalive sent at sent_ms was answered positively. */
static void renewed(struct dlock_session *s, uint64_t sent_ms, uint64_t now)
{
    s->due_ms = sent_ms + session_interval(s->ttl_ms);
    /* Past its safe-until the lease may have ended in between: lost, even
     * if a server still knows it. */
    if (session_is_lost(s, now)) {
        atomic_store(&s->lost, true);
        return;
    }
    uint64_t until = session_safe_until(sent_ms, s->ttl_ms);
    if (until > atomic_load(&s->safe_until))
        atomic_store(&s->safe_until, until);
}

/* Handles one answer, to the oldest keepalive in flight. False if the
 * connection was dropped. */
static bool answer(struct keeper *k, const struct resp_value *v, uint64_t now)
{
    struct keeper_fly f = k->fly[0];
    memmove(k->fly, k->fly + 1, --k->n_fly * sizeof *k->fly);
    if (f.req != KEEPER_KEEPALIVE) {
        holdwatch_answer(k, &f, v);
        return true;
    }
    if (f.s != NULL)
        f.s->in_flight = false;
    bool err = v->type == RESP_ERROR;
    if (v->type == RESP_INTEGER) {
        k->backoff_ms = 0;
        k->redirects = 0;
        if (f.s != NULL)
            renewed(f.s, f.sent_ms, now);
        return true;
    }
    if (err && call_error_code(v->str, v->len) == DLOCK_ENOSESSION) {
        if (f.s != NULL)
            atomic_store(&f.s->lost, true);
        return true;
    }
    char addr[CLIENT_ADDR_MAX];
    if (err && v->len > 7 && memcmp(v->str, "LEADER ", 7) == 0 &&
        client_parse_addr(v->str + 7, v->len - 7, addr)) {
        client_set_leader(k->c, addr);
        fail(k, now, false);
        return false;
    }
    /* NOLEADER, or an answer that makes no sense: another server. */
    fail(k, now, true);
    return false;
}

/* Reads what arrived and handles the answers and pushes in it. */
static int read_answers(struct keeper *k, uint64_t now)
{
    int rc = conn_read_some(k->c, k->conn);
    if (rc == DLOCK_ENOMEM)
        return rc;
    /* Answers that arrived before an error still count. */
    for (;;) {
        const struct resp_value *v;
        int got = conn_next(k->c, k->conn, &v);
        if (got == DLOCK_ENOMEM)
            return got;
        if (got < 0 || (got > 0 && v->type != RESP_PUSH && k->n_fly == 0)) {
            fail(k, now, true); /* broken, or an answer to nothing */
            return 0;
        }
        if (got == 0)
            break;
        if (v->type == RESP_PUSH)
            holdwatch_push(k, v);
        else if (!answer(k, v, now))
            return 0;
    }
    if (rc < 0) {
        fail(k, now, true);
        return 0;
    }
    k->reply_deadline = UINT64_MAX;
    for (size_t i = 0; i < k->n_fly; i++)
        if (k->fly[i].deadline_ms < k->reply_deadline)
            k->reply_deadline = k->fly[i].deadline_ms;
    return 0;
}

/* ---- sending ---------------------------------------------------------- */

static bool due(const struct dlock_session *s, uint64_t now)
{
    return s->active && !s->in_flight && !atomic_load(&s->lost) &&
           s->due_ms <= now;
}

int keeper_queue(struct keeper *k, struct dlock_session *s, enum keeper_req req,
                 size_t argc, const char **argv, uint64_t now, uint64_t wait_ms)
{
    if (alloc_grow((void **)&k->fly, &k->cap_fly, k->n_fly + 1,
                   sizeof *k->fly) != 0 ||
        resp_write_command(&k->out, argc, argv, NULL) != 0)
        return DLOCK_ENOMEM;
    k->fly[k->n_fly++] = (struct keeper_fly){s, now, now + wait_ms, req};
    if (now + wait_ms < k->reply_deadline || k->n_fly == 1)
        k->reply_deadline = now + wait_ms;
    return 0;
}

/* Queues the keepalive of s on the connection. */
static int queue_keepalive(struct keeper *k, struct dlock_session *s,
                           uint64_t now)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, s->id);
    const char *argv[] = {"SESSION.KEEPALIVE", id};
    uint64_t wait = s->ttl_ms / 4 > REPLY_MIN_MS ? s->ttl_ms / 4 : REPLY_MIN_MS;
    if (keeper_queue(k, s, KEEPER_KEEPALIVE, 2, argv, now, wait) != 0)
        return DLOCK_ENOMEM;
    s->in_flight = true;
    return 0;
}

static int send_due(struct keeper *k, uint64_t now)
{
    bool any = false;
    for (size_t i = 0; i < k->n_ss && !any; i++)
        any = due(k->ss[i], now) || holdwatch_wanted(k, k->ss[i]);
    if (!any)
        return 0;
    if (k->conn == NULL && now >= k->retry_at) {
        int rc = connect_start(k, now);
        if (rc != 0)
            return rc;
    }
    if (k->conn == NULL || k->conn->connecting)
        return 0;
    int rc = holdwatch_queue(k, now);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < k->n_ss; i++) {
        if (!due(k->ss[i], now))
            continue;
        rc = queue_keepalive(k, k->ss[i], now);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- a step ----------------------------------------------------------- */

static int step(struct keeper *k, uint64_t now)
{
    int rc = 0;
    if (k->conn != NULL && k->conn->connecting) {
        int c = conn_check(k->c, k->conn);
        if (c < 0)
            fail(k, now, true);
        else if (c == 1 && now >= k->reply_deadline)
            fail(k, now, true);
    }
    if (k->conn != NULL && !k->conn->connecting)
        rc = read_answers(k, now);
    if (rc == 0 && k->conn != NULL && k->n_fly > 0 && now >= k->reply_deadline)
        fail(k, now, true);
    for (size_t i = 0; i < k->n_ss; i++) {
        struct dlock_session *s = k->ss[i];
        if (s->active && now >= atomic_load(&s->safe_until))
            atomic_store(&s->lost, true);
    }
    if (rc == 0)
        rc = send_due(k, now);
    if (k->conn != NULL && !k->conn->connecting &&
        (k->out.len > 0 || conn_wants_write(k->conn)) &&
        conn_send_some(k->c, k->conn, &k->out) != 0)
        fail(k, now, true);
    return rc;
}

/* Calls the callbacks of sessions lost and not yet told, one at a time,
 * without the lock (a callback may use the library for other sessions). */
static void deliver(struct keeper *k)
{
    for (;;) {
        struct dlock_session *s = NULL;
        pthread_mutex_lock(&k->mu);
        for (size_t i = 0; i < k->n_ss && s == NULL; i++) {
            struct dlock_session *t = k->ss[i];
            if (t->active && atomic_load(&t->lost) && !t->notified &&
                t->cb != NULL)
                s = t;
        }
        if (s == NULL) {
            pthread_mutex_unlock(&k->mu);
            return;
        }
        s->notified = true;
        dlock_lost_cb cb = s->cb;
        void *arg = s->cb_arg;
        k->delivering = s;
        pthread_mutex_unlock(&k->mu);
        cb(s, arg);
        pthread_mutex_lock(&k->mu);
        k->delivering = NULL;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->mu);
    }
}

int keeper_process(struct keeper *k)
{
    pthread_mutex_lock(&k->mu);
    int rc = step(k, client_now_ms());
    pthread_mutex_unlock(&k->mu);
    deliver(k);
    holdwatch_deliver(k);
    return rc;
}

int keeper_fd(struct keeper *k)
{
    pthread_mutex_lock(&k->mu);
    int fd = k->conn != NULL ? k->conn->fd : -1;
    pthread_mutex_unlock(&k->mu);
    return fd;
}

short keeper_events(struct keeper *k)
{
    short ev = 0;
    pthread_mutex_lock(&k->mu);
    if (k->conn != NULL && k->conn->connecting)
        ev = POLLOUT;
    else if (k->conn != NULL)
        ev = (short)(POLLIN |
                     (k->out.len > 0 || conn_wants_write(k->conn) ? POLLOUT
                                                                  : 0));
    pthread_mutex_unlock(&k->mu);
    return ev;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* When a session of k next needs a step, with k locked. */
static uint64_t session_deadline(const struct keeper *k,
                                 const struct dlock_session *s)
{
    if (!s->active)
        return UINT64_MAX;
    if (atomic_load(&s->lost))
        return s->notified || s->cb == NULL ? UINT64_MAX : 0;
    uint64_t dl = atomic_load(&s->safe_until);
    /* A session whose holds are not watched yet wants the connection now. */
    uint64_t next = holdwatch_wanted(k, s) ? 0 : s->due_ms;
    if (s->in_flight && next != 0)
        return dl;
    /* A keepalive that is due waits for the connection, or the pause. */
    if (k->conn == NULL)
        return min_u64(dl, next > k->retry_at ? next : k->retry_at);
    if (k->conn->connecting)
        return dl;
    return min_u64(dl, next);
}

uint64_t keeper_deadline(struct keeper *k)
{
    pthread_mutex_lock(&k->mu);
    uint64_t dl = UINT64_MAX;
    for (size_t i = 0; i < k->n_ss; i++)
        dl = min_u64(dl, session_deadline(k, k->ss[i]));
    if (k->conn != NULL && (k->conn->connecting || k->n_fly > 0))
        dl = min_u64(dl, k->reply_deadline);
    pthread_mutex_unlock(&k->mu);
    return dl;
}

/* ---- the thread ------------------------------------------------------- */

static void *run(void *arg)
{
    struct keeper *k = arg;
    for (;;) {
        pthread_mutex_lock(&k->mu);
        bool stop = k->stop;
        pthread_mutex_unlock(&k->mu);
        if (stop)
            return NULL;
        struct pollfd p[2] = {{.fd = k->wake_fd, .events = POLLIN},
                              {.fd = keeper_fd(k), .events = 0}};
        p[1].events = keeper_events(k);
        uint64_t dl = keeper_deadline(k), now = client_now_ms();
        int ms = dl == UINT64_MAX   ? -1
                 : dl <= now        ? 0
                 : dl - now > 60000 ? 60000
                                    : (int)(dl - now);
        poll(p, p[1].fd >= 0 ? 2 : 1, ms);
        uint64_t drain;
        if (p[0].revents & POLLIN) {
            if (read(k->wake_fd, &drain, sizeof drain) < 0) {
                /* EAGAIN: another wake-up was read first. */
            }
        }
        if (keeper_process(k) == DLOCK_ENOMEM)
            client_sleep_until(10, UINT64_MAX);
    }
}

int keeper_start(struct keeper *k)
{
    k->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (k->wake_fd < 0)
        return DLOCK_ENOMEM;
    if (pthread_create(&k->thread, NULL, run, k) != 0) {
        close(k->wake_fd);
        k->wake_fd = -1;
        return DLOCK_ENOMEM;
    }
    k->has_thread = true;
    return 0;
}
