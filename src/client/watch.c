/* watch.c - watches of a name (docs/protocol.md §4, "Watches"): a thread
 * per watch reads the RESP3 pushes of WATCH over a connection of its own,
 * from any server, and calls the watch's callback for each change, in
 * order; after a failure it goes on from another server FROM the last
 * change delivered, passing over those of that revision it delivered
 * already, so that nothing is lost or delivered twice. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client/client_internal.h"
#include "common/alloc.h"

/* A connection silent this long is asked for a PING. */
#define WATCH_PING_MS 5000

static const char *const event_names[] = {
    [DLOCK_CHANGE_GRANTED] = "granted",
    [DLOCK_CHANGE_RELEASED] = "released",
    [DLOCK_CHANGE_LOST] = "lost",
    [DLOCK_CHANGE_WITHDRAWN] = "withdrawn",
    [DLOCK_CHANGE_DOWNGRADED] = "downgraded",
    [DLOCK_CHANGE_PROCLAIMED] = "proclaimed",
    [DLOCK_CHANGE_GONE] = "gone",
};

DLOCK_API const char *dlock_change_event_name(int event)
{
    if (event < DLOCK_CHANGE_GRANTED || event > DLOCK_CHANGE_GONE)
        return "?";
    return event_names[event];
}

/* ---- positions ---------------------------------------------------------- */

uint64_t watch_pos_from(struct watch_pos *p)
{
    if (p->delivered == WATCH_POS_ALL || p->revision == 0) {
        p->skip = 0;
        return p->revision;
    }
    p->skip = p->delivered;
    return p->revision - 1;
}

bool watch_pos_accept(struct watch_pos *p, const struct dlock_change *ch)
{
    if (ch->event == DLOCK_CHANGE_GONE) {
        if (ch->revision > p->revision) {
            p->revision = ch->revision;
            p->delivered = WATCH_POS_ALL;
            p->skip = 0;
        }
        return true;
    }
    if (ch->revision < p->revision)
        return false;
    if (ch->revision > p->revision) {
        p->revision = ch->revision;
        p->delivered = 1;
        p->skip = 0;
        return true;
    }
    if (p->delivered == WATCH_POS_ALL)
        return false;
    if (p->skip > 0) {
        p->skip--;
        return false;
    }
    p->delivered++;
    return true;
}

/* ---- parsing ------------------------------------------------------------ */

static bool is_str(const struct resp_value *v)
{
    return v->type == RESP_BULK || v->type == RESP_SIMPLE;
}

static bool get_u64(const struct resp_value *v, uint64_t *out)
{
    if (v->type != RESP_INTEGER || v->integer < 0)
        return false;
    *out = (uint64_t)v->integer;
    return true;
}

static bool get_u32(const struct resp_value *v, uint32_t *out)
{
    uint64_t x;
    if (!get_u64(v, &x) || x > UINT32_MAX)
        return false;
    *out = (uint32_t)x;
    return true;
}

/* Copies a string of at most max bytes into out (max + 1 bytes). */
static bool get_str(const struct resp_value *v, char *out, size_t max,
                    size_t *len)
{
    if (v->type == RESP_NULL) {
        out[0] = '\0';
        *len = 0;
        return true;
    }
    if (!is_str(v) || v->len > max)
        return false;
    if (v->len > 0)
        memcpy(out, v->str, v->len);
    out[v->len] = '\0';
    *len = v->len;
    return true;
}

bool watch_parse_change(const struct resp_value *v, struct dlock_change *ch)
{
    memset(ch, 0, sizeof *ch);
    if ((v->type != RESP_ARRAY && v->type != RESP_PUSH) || v->n != 11)
        return false;
    const struct resp_value *e = v->elems;
    if (!is_str(&e[0]) || e[0].len != 5 || memcmp(e[0].str, "watch", 5) != 0)
        return false;
    size_t len;
    if (!get_str(&e[1], ch->name, sizeof ch->name - 1, &len) ||
        strlen(ch->name) != len || !get_u64(&e[2], &ch->revision) ||
        !is_str(&e[3]))
        return false;
    for (int i = DLOCK_CHANGE_GRANTED; i <= DLOCK_CHANGE_GONE; i++)
        if (e[3].len == strlen(event_names[i]) &&
            memcmp(e[3].str, event_names[i], e[3].len) == 0)
            ch->event = i;
    /* Only a session watch's "gone" names no lock. */
    if (len == 0 && ch->event != DLOCK_CHANGE_GONE)
        return false;
    return ch->event != 0 && get_u64(&e[4], &ch->session) &&
           get_str(&e[5], ch->owner, sizeof ch->owner - 1, &len) &&
           strlen(ch->owner) == len && get_u64(&e[6], &ch->token) &&
           get_u32(&e[7], &ch->exclusive) && get_u32(&e[8], &ch->shared) &&
           get_u32(&e[9], &ch->holders) &&
           get_str(&e[10], ch->value, DLOCK_VALUE_MAX, &ch->value_len);
}

/* ---- the thread --------------------------------------------------------- */

static bool stopping(struct dlock_watch *w)
{
    pthread_mutex_lock(&w->mu);
    bool stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return stop;
}

/* Waits ms, or until the watch is stopped. */
static void pause_ms(struct dlock_watch *w, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stop && pthread_cond_timedwait(&w->cond, &w->mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&w->mu);
}

/* A connection to the next server, with HELLO 3 and WATCH sent: 0, or
 * the server failed. */
static int open_conn(struct dlock_watch *w, struct conn **out)
{
    struct dlock_client *c = w->pc;
    char addr[CLIENT_ADDR_MAX];
    client_target(c, addr);
    struct conn *k;
    int rc = conn_start(c, addr, &k);
    if (rc != 0) {
        client_failed(c, addr);
        return rc;
    }
    rc = conn_finish(c, k, client_now_ms() + c->timeout_ms);
    if (rc != 0) {
        client_failed(c, addr);
        conn_free(k);
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    bool stop = w->stop;
    if (!stop) {
        w->fd = k->fd;
        snprintf(w->addr, sizeof w->addr, "%s", k->addr);
    }
    pthread_mutex_unlock(&w->mu);
    if (stop) {
        conn_free(k);
        return DLOCK_EIO;
    }
    char from[24];
    const char *hello[] = {"HELLO", "3"};
    const char *watch[] = {"WATCH", w->name, "FROM", from};
    if (w->pos.revision != DLOCK_WATCH_NOW)
        snprintf(from, sizeof from, "%" PRIu64, watch_pos_from(&w->pos));
    struct buf b;
    buf_init(&b);
    rc = resp_write_command(&b, 2, hello, NULL) != 0 ||
                 resp_write_command(&b,
                                    w->pos.revision == DLOCK_WATCH_NOW ? 2 : 4,
                                    watch, NULL) != 0
             ? DLOCK_ENOMEM
             : conn_send(c, k, b.data, b.len, client_now_ms() + c->timeout_ms);
    buf_close(&b);
    *out = k;
    return rc;
}

/* Ends the watch's use of k (NULL: none). */
static void close_conn(struct dlock_watch *w, struct conn *k, bool failed)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->fd = -1;
    pthread_mutex_unlock(&w->mu);
    if (failed)
        client_failed(w->pc, k->addr);
    conn_free(k);
}

/* serve's and on_push's "the server ended the watch: watch again". */
#define WATCH_AGAIN 1

/* Handles a push, the n-th of its connection (from 0): 0, DLOCK_EPROTO,
 * or WATCH_AGAIN for a "gone" after the first push: the server ended the
 * watch (its pushes were not read in time), and nothing was lost but what
 * it would have pushed next, which a new watch from w->pos reads. */
static int on_push(struct dlock_watch *w, const struct resp_value *v,
                   unsigned n)
{
    struct dlock_change ch;
    if (!watch_parse_change(v, &ch))
        return DLOCK_EPROTO;
    if (ch.event == DLOCK_CHANGE_GONE && n > 0)
        return WATCH_AGAIN;
    if (strcmp(ch.name, w->name) != 0 || !watch_pos_accept(&w->pos, &ch))
        return 0;
    atomic_store(&w->delivered, w->pos.revision);
    if (!stopping(w))
        w->cb(w->arg, &ch);
    return 0;
}

/* Sends a PING on k at *asked (now): 0, or the connection failed. */
static int send_ping(struct dlock_client *c, struct conn *k, uint64_t *asked)
{
    const char *ping[] = {"PING"};
    struct buf b;
    buf_init(&b);
    *asked = client_now_ms();
    int rc = resp_write_command(&b, 1, ping, NULL) != 0
                 ? DLOCK_ENOMEM
                 : conn_send(c, k, b.data, b.len, *asked + c->timeout_ms);
    buf_close(&b);
    return rc;
}

/* Reads one connection until it fails or the watch stops (DLOCK_EIO), or
 * the server ends the watch (WATCH_AGAIN: watch again at once, from the
 * same server). A server pushes
 * all the changes of a revision at once, and answers a request after the
 * pushes written before it: so every reply that follows a push follows
 * the rest of its revision, and a PING's answer tells a watch with a
 * settled callback that the revisions it delivered are whole. */
static int serve(struct dlock_watch *w, struct conn *k)
{
    struct dlock_client *c = w->pc;
    unsigned due = 2;     /* replies expected: HELLO's, WATCH's, PINGs' */
    unsigned replies = 0; /* had: HELLO's, WATCH's, then PINGs' */
    unsigned pushes = 0;
    uint64_t asked = client_now_ms(), heard = asked;
    for (;;) {
        uint64_t deadline =
            due > 0 ? asked + c->timeout_ms : heard + WATCH_PING_MS;
        const struct resp_value *v;
        int rc = conn_recv(c, k, deadline, &v);
        if (stopping(w))
            return DLOCK_EIO;
        if (rc == DLOCK_ETIMEDOUT && due == 0) {
            due = 1;
            if (send_ping(c, k, &asked) == 0)
                continue;
        }
        if (rc != 0)
            return DLOCK_EIO;
        heard = client_now_ms();
        if (v->type == RESP_PUSH) {
            rc = on_push(w, v, pushes++);
            if (rc != 0)
                return rc;
            if (w->settled != NULL && due == 0) {
                due = 1;
                if (send_ping(c, k, &asked) != 0)
                    return DLOCK_EIO;
            }
            continue;
        }
        if (v->type == RESP_ERROR || v->type == RESP_BLOB_ERROR || due == 0)
            return DLOCK_EIO; /* refused (a limit, an old server) */
        due--;
        bool settled = replies++ >= 2; /* a PING's answer */
        if (replies == 2 && w->pos.revision == DLOCK_WATCH_NOW) {
            /* WATCH answers the revision it starts from. */
            if (v->type != RESP_INTEGER || v->integer < 0)
                return DLOCK_EIO;
            w->pos.revision = (uint64_t)v->integer;
            w->pos.delivered = WATCH_POS_ALL;
            atomic_store(&w->delivered, w->pos.revision);
            settled = true;
        }
        client_set_answered(c, k->addr);
        if (settled && w->settled != NULL && !stopping(w))
            w->settled(w->arg, w->pos.revision);
    }
}

static void *watch_thread(void *arg)
{
    struct dlock_watch *w = arg;
    uint64_t backoff = CLIENT_BACKOFF_MIN_MS;
    pthread_mutex_lock(&w->mu);
    w->self = pthread_self();
    w->running = true;
    pthread_mutex_unlock(&w->mu);
    while (!stopping(w)) {
        struct conn *k = NULL;
        uint64_t start = client_now_ms();
        int rc = open_conn(w, &k);
        if (rc == 0)
            rc = serve(w, k);
        close_conn(w, k, rc != WATCH_AGAIN);
        if (stopping(w))
            break;
        if (rc == WATCH_AGAIN)
            continue; /* ended by the server, which is well: no pause */
        /* A connection that served a while starts the pauses anew. */
        if (client_now_ms() - start > WATCH_PING_MS)
            backoff = CLIENT_BACKOFF_MIN_MS;
        pause_ms(w, backoff);
        backoff = backoff * 2 > CLIENT_BACKOFF_MAX_MS ? CLIENT_BACKOFF_MAX_MS
                                                      : backoff * 2;
    }
    pthread_mutex_lock(&w->mu);
    bool self_free = w->self_free;
    pthread_mutex_unlock(&w->mu);
    if (self_free) {
        pthread_detach(pthread_self());
        dlock_client_free(w->pc);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cond);
        alloc_free(w->name);
        alloc_free(w);
    }
    return NULL;
}

/* ---- the API ------------------------------------------------------------ */

bool watch_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return false;
    bool ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(cond, &ca) == 0;
    pthread_condattr_destroy(&ca);
    return ok;
}

/* A private client of c's servers and options. */
static int private_client(struct dlock_client *c, struct dlock_client **out)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_servers; i++)
        n += strlen(c->servers[i]) + 1;
    char *list = alloc_malloc(n + 1);
    if (list == NULL)
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    list[0] = '\0';
    for (size_t i = 0; i < c->n_servers; i++) {
        if (i > 0)
            strcat(list, ",");
        strcat(list, c->servers[i]);
    }
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = list;
    o.timeout_ms = c->timeout_ms;
    o.name = c->name;
    int rc = dlock_client_new(&o, out);
    alloc_free(list);
    if (rc != 0)
        return client_error(c, rc, "a watch's client: %s", dlock_strerror(rc));
    atomic_store(&(*out)->reached, atomic_load(&c->reached));
    return 0;
}

/* Checks that a server answers for name (and knows watches). */
static int probe(struct dlock_client *c, const char *name)
{
    const char *argv[] = {"WATCH.NEXT", name, "0"};
    struct call k;
    call_init(&k, c, 3, argv, 0);
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_run(c, &k, &conn, &v);
    if (rc != 0)
        return rc;
    /* Null, or the changes of one revision (arrays of 11). */
    bool ok = v->type == RESP_NULL || (v->type == RESP_ARRAY && v->n > 0);
    for (size_t i = 0; ok && v->type == RESP_ARRAY && i < v->n; i++)
        ok = v->elems[i].type == RESP_ARRAY && v->elems[i].n == 11;
    if (!ok)
        rc = client_error(c, DLOCK_EPROTO, "WATCH.NEXT: an unexpected reply");
    call_done(c, conn);
    return rc;
}

int watch_start(struct dlock_client *c, const char *name,
                uint64_t from_revision, dlock_change_cb cb,
                watch_settled_cb settled, void *arg, struct dlock_watch **out)
{
    if (c == NULL || name == NULL || cb == NULL || out == NULL)
        return DLOCK_EINVAL;
    size_t len = strlen(name);
    if (len == 0 || len > LOCK_NAME_MAX)
        return client_error(c, DLOCK_EINVAL, "a name is 1 to %d bytes",
                            LOCK_NAME_MAX);
    int rc = probe(c, name);
    if (rc != 0)
        return rc;
    struct dlock_watch *w = alloc_malloc(sizeof *w);
    if (w != NULL)
        memset(w, 0, sizeof *w);
    if (w == NULL || (w->name = alloc_malloc(len + 1)) == NULL) {
        alloc_free(w);
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    }
    memcpy(w->name, name, len + 1);
    w->cb = cb;
    w->settled = settled;
    w->arg = arg;
    w->fd = -1;
    w->pos.revision = from_revision;
    w->pos.delivered = WATCH_POS_ALL;
    atomic_store(&w->delivered, from_revision);
    bool cond = watch_cond_init(&w->cond);
    bool mu = pthread_mutex_init(&w->mu, NULL) == 0;
    rc = cond && mu ? private_client(c, &w->pc) : DLOCK_ENOMEM;
    *out = w; /* before the thread starts: its callbacks may look */
    if (rc == 0 && pthread_create(&w->thread, NULL, watch_thread, w) != 0)
        rc = DLOCK_ENOMEM;
    if (rc != 0) {
        *out = NULL;
        dlock_client_free(w->pc);
        if (cond)
            pthread_cond_destroy(&w->cond);
        if (mu)
            pthread_mutex_destroy(&w->mu);
        alloc_free(w->name);
        alloc_free(w);
        return rc == DLOCK_ENOMEM ? client_error(c, rc, "out of memory") : rc;
    }
    return 0;
}

DLOCK_API int dlock_watch_start(struct dlock_client *c, const char *name,
                                uint64_t from_revision, dlock_change_cb cb,
                                void *arg, struct dlock_watch **out)
{
    return watch_start(c, name, from_revision, cb, NULL, arg, out);
}

DLOCK_API uint64_t dlock_watch_revision(const struct dlock_watch *w)
{
    return atomic_load(&((struct dlock_watch *)w)->delivered);
}

DLOCK_API void dlock_watch_stop(struct dlock_watch *w)
{
    watch_stop(w);
}

bool watch_stop(struct dlock_watch *w)
{
    if (w == NULL)
        return false;
    pthread_mutex_lock(&w->mu);
    bool own = w->running && pthread_equal(pthread_self(), w->self);
    w->stop = true;
    w->self_free = own;
    if (w->fd >= 0)
        shutdown(w->fd, SHUT_RDWR); /* ends a wait for the server */
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    if (own)
        return true; /* the thread frees w when the callback returns */
    pthread_join(w->thread, NULL);
    dlock_client_free(w->pc);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    alloc_free(w->name);
    alloc_free(w);
    return false;
}
