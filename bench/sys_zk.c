/* sys_zk.c - dlock-bench's ZooKeeper 3.8: the standard lock recipe with
 * the multithreaded C client, one session per client. A lock NAME is the
 * directory /dlock-bench/NAME; an acquire creates an ephemeral sequential
 * node in it, and the node with the lowest sequence number holds the lock;
 * any other watches the node just below its own and waits for it to go
 * (no herd). The fencing token is the node's sequence number plus one,
 * which grows with every acquire of the lock; acquiring a lock the client
 * holds is reentrant (the same token, if the node is still there). The
 * session's timeout is the TTL (the server bounds it to 4..40 s with
 * tickTime 2000).
 *
 * status is a plain read, served by whichever server the session is on: not
 * linearizable, unlike dlock's and etcd's reads (a zoo_sync before it would
 * make it so, at the price of a round through the leader). */
#define THREADED /* the multithreaded API, libzookeeper_mt */
#include <zookeeper/zookeeper.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define ROOT "/dlock-bench"
#define CONNECT_MS 10000
#define MAX_WAIT_MS 86400000u /* a day: longer waits are as good as forever */
#define NAME_MAX_LEN 200

/* A lock name this client has used: whether its directory is known to
 * exist, and its own node while it holds the lock. */
struct zlock {
    char *name;
    bool dir_made;
    bool dirty; /* a node of ours may be left in the directory */
    char *node; /* full path; NULL when not held */
    uint64_t token;
};

struct zk {
    zhandle_t *zh;
    char *hosts;
    int timeout_ms;
    pthread_mutex_t mu;   /* guards state and events */
    pthread_cond_t cv;    /* on CLOCK_MONOTONIC */
    int state;            /* the session's last state */
    unsigned long events; /* node events seen (a watched node went) */
    struct zlock *locks;
    size_t n_locks;
};

/* The one watcher, for the session and for the watched nodes; it runs in
 * the library's completion thread. */
static void watcher_cb(zhandle_t *zh, int type, int state, const char *path,
                       void *arg)
{
    struct zk *c = arg;
    (void)zh;
    (void)path;
    pthread_mutex_lock(&c->mu);
    if (type == ZOO_SESSION_EVENT)
        c->state = state;
    else
        c->events++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* A time on CLOCK_MONOTONIC (bench_now_ns) for pthread_cond_timedwait. */
static struct timespec timespec_of(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    return ts;
}

/* Opens a session and waits until it is connected: 0, or -1 with err. */
static int session_open(struct zk *c, char *err, size_t n)
{
    pthread_mutex_lock(&c->mu);
    c->state = 0;
    pthread_mutex_unlock(&c->mu);
    c->zh = zookeeper_init(c->hosts, watcher_cb, c->timeout_ms, NULL, c, 0);
    if (c->zh == NULL) {
        snprintf(err, n, "zookeeper_init %s: %s", c->hosts, strerror(errno));
        return -1;
    }
    struct timespec dl = timespec_of(bench_now_ns() + CONNECT_MS * 1000000u);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (c->state != ZOO_CONNECTED_STATE &&
           c->state != ZOO_EXPIRED_SESSION_STATE &&
           c->state != ZOO_AUTH_FAILED_STATE && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &dl);
    int state = c->state;
    pthread_mutex_unlock(&c->mu);
    if (state == ZOO_CONNECTED_STATE)
        return 0;
    snprintf(err, n, "zookeeper %s: %s", c->hosts,
             rc == ETIMEDOUT ? "not connected within 10 s" : "session refused");
    zookeeper_close(c->zh);
    c->zh = NULL;
    return -1;
}

/* Ends the session: its ephemeral nodes, the locks it held, go with it. */
static void session_close(struct zk *c)
{
    if (c->zh != NULL)
        zookeeper_close(c->zh); /* joins the library's threads */
    c->zh = NULL;
    for (size_t i = 0; i < c->n_locks; i++) {
        free(c->locks[i].node);
        c->locks[i].node = NULL;
        c->locks[i].dirty = false;
    }
}

static void zk_close(void *p)
{
    struct zk *c = p;
    if (c == NULL)
        return;
    session_close(c);
    for (size_t i = 0; i < c->n_locks; i++)
        free(c->locks[i].name);
    free(c->locks);
    free(c->hosts);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int zk_open(const char *servers, int i, uint64_t ttl_ms, void **out,
                   char *err, size_t n)
{
    pthread_condattr_t attr;
    (void)i; /* the C client picks a server of the list at random */
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    struct zk *c = calloc(1, sizeof *c);
    if (c == NULL || (c->hosts = strdup(servers)) == NULL) {
        free(c);
        snprintf(err, n, "out of memory");
        return -1;
    }
    c->timeout_ms = ttl_ms > INT_MAX ? INT_MAX : (int)ttl_ms;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (session_open(c, err, n) != 0) {
        zk_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

static int zk_renew(void *p, char *err, size_t n)
{
    struct zk *c = p;
    session_close(c);
    return session_open(c, err, n);
}

/* A session that expired (its locks are gone) is an error, reported once:
 * the client opens a new one for the next call. */
static int session_check(struct zk *c, char *err, size_t n)
{
    pthread_mutex_lock(&c->mu);
    bool expired = c->zh == NULL || c->state == ZOO_EXPIRED_SESSION_STATE;
    pthread_mutex_unlock(&c->mu);
    if (!expired)
        return 0;
    session_close(c);
    if (session_open(c, err, n) == 0)
        snprintf(err, n, "zookeeper session expired; opened a new one");
    return -1;
}

/* The entry of name, added if it is new; NULL when out of memory. */
static struct zlock *lock_entry(struct zk *c, const char *name)
{
    for (size_t i = 0; i < c->n_locks; i++)
        if (strcmp(c->locks[i].name, name) == 0)
            return &c->locks[i];
    struct zlock *l = realloc(c->locks, (c->n_locks + 1) * sizeof *c->locks);
    if (l == NULL)
        return NULL;
    c->locks = l;
    l = &c->locks[c->n_locks];
    memset(l, 0, sizeof *l);
    if ((l->name = strdup(name)) == NULL)
        return NULL;
    c->n_locks++;
    return l;
}

static int zk_fail(char *err, size_t n, const char *what, const char *path,
                   int rc)
{
    snprintf(err, n, "zookeeper %s %s: %s", what, path, zerror(rc));
    return -1;
}

/* Creates the lock's directory and its parent, once per client. */
static int make_dir(struct zk *c, struct zlock *l, const char *dir, char *err,
                    size_t n)
{
    const char *paths[] = {ROOT, dir};
    if (l->dir_made)
        return 0;
    for (int k = 0; k < 2; k++) {
        int rc = zoo_create(c->zh, paths[k], NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
                            ZOO_PERSISTENT, NULL, 0);
        if (rc != ZOK && rc != ZNODEEXISTS)
            return zk_fail(err, n, "create", paths[k], rc);
    }
    l->dir_made = true;
    return 0;
}

/* The sequence number at the end of a node's name ("lock-<session>-0042"),
 * plus one: a token is never 0. */
static bool node_seq(const char *node, uint64_t *seq)
{
    const char *dash = strrchr(node, '-');
    char *end;
    if (dash == NULL || dash[1] == '\0')
        return false;
    *seq = strtoull(dash + 1, &end, 10) + 1;
    return *end == '\0';
}

/* Finds, among dir's children, the node just below ours (seq mine) into
 * pred ("" if ours is the lowest): 0, or -1 with err if ours is gone. */
static int predecessor(struct zk *c, const char *dir, uint64_t mine, char *pred,
                       size_t pred_len, char *err, size_t n)
{
    struct String_vector ch = {0, NULL};
    int rc = zoo_get_children(c->zh, dir, 0, &ch);
    if (rc != ZOK)
        return zk_fail(err, n, "get children of", dir, rc);
    bool found = false;
    uint64_t best = 0, seq;
    pred[0] = '\0';
    for (int k = 0; k < ch.count; k++) {
        if (!node_seq(ch.data[k], &seq))
            continue;
        found |= seq == mine;
        if (seq < mine && (pred[0] == '\0' || seq > best)) {
            best = seq;
            snprintf(pred, pred_len, "%s/%s", dir, ch.data[k]);
        }
    }
    deallocate_String_vector(&ch);
    if (!found) {
        snprintf(err, n, "zookeeper: our node in %s is gone", dir);
        return -1;
    }
    return 0;
}

/* Waits until a watched node goes or the deadline passes: false then. */
static bool wait_event(struct zk *c, unsigned long seen,
                       const struct timespec *dl)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (c->events == seen && rc != ETIMEDOUT &&
           c->state == ZOO_CONNECTED_STATE)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, dl);
    bool ok = c->events != seen;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Deletes our node (given up or released); if the delete may not have
 * happened, remembers to clear the directory before the next acquire. */
static int delete_node(struct zk *c, struct zlock *l)
{
    int rc = zoo_delete(c->zh, l->node, -1);
    if (rc != ZOK && rc != ZNONODE)
        l->dirty = true;
    free(l->node);
    l->node = NULL;
    return rc;
}

/* Gives up the node of an acquire that was not granted. */
static int give_up(struct zk *c, struct zlock *l, int result)
{
    delete_node(c, l);
    return result;
}

/* The prefix of the names of this session's nodes. */
static void session_mark(struct zk *c, char *mark, size_t n)
{
    const clientid_t *id = zoo_client_id(c->zh);
    snprintf(mark, n, "lock-%llx-",
             (unsigned long long)(id ? id->client_id : 0));
}

/* After a create or delete that failed on the connection, a node of ours
 * may be left in dir, and would block the lock until the session ends:
 * deletes every node in dir with this session's mark. */
static int clear_dir(struct zk *c, struct zlock *l, const char *dir, char *err,
                     size_t n)
{
    struct String_vector ch = {0, NULL};
    char mark[64], path[512];
    session_mark(c, mark, sizeof mark);
    int rc = zoo_get_children(c->zh, dir, 0, &ch);
    if (rc != ZOK)
        return zk_fail(err, n, "get children of", dir, rc);
    for (int k = 0; rc == ZOK && k < ch.count; k++) {
        if (strncmp(ch.data[k], mark, strlen(mark)) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, ch.data[k]);
        rc = zoo_delete(c->zh, path, -1);
        if (rc == ZNONODE)
            rc = ZOK;
    }
    deallocate_String_vector(&ch);
    if (rc != ZOK)
        return zk_fail(err, n, "clear our nodes in", dir, rc);
    l->dirty = false;
    return 0;
}

/* Creates our node in dir: 0, or -1 with err. */
static int create_node(struct zk *c, struct zlock *l, const char *dir,
                       char *err, size_t n)
{
    char mark[64], prefix[512], path[512];
    if (l->dirty && clear_dir(c, l, dir, err, n) != 0)
        return -1;
    session_mark(c, mark, sizeof mark);
    snprintf(prefix, sizeof prefix, "%s/%s", dir, mark);
    int rc = zoo_create(c->zh, prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_EPHEMERAL_SEQUENTIAL, path, sizeof path);
    if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT)
        l->dirty = true;
    if (rc != ZOK)
        return zk_fail(err, n, "create", prefix, rc);
    if (!node_seq(path, &l->token) || (l->node = strdup(path)) == NULL) {
        zoo_delete(c->zh, path, -1);
        snprintf(err, n, "zookeeper create %s: unusable reply", path);
        return -1;
    }
    return 0;
}

/* A lock the client holds already: granted again with the same token if
 * our node is still there. */
static int reacquire(struct zk *c, struct zlock *l, uint64_t *token, char *err,
                     size_t n)
{
    struct Stat st;
    int rc = zoo_exists(c->zh, l->node, 0, &st);
    if (rc == ZOK) {
        *token = l->token;
        return BENCH_GRANTED;
    }
    if (rc != ZNONODE) {
        zk_fail(err, n, "exists", l->node, rc);
        return BENCH_ERROR;
    }
    free(l->node); /* lost: acquire it anew */
    l->node = NULL;
    return BENCH_BUSY;
}

static int zk_acquire(void *p, const char *name, uint64_t wait_ms,
                      uint64_t *token, char *err, size_t n)
{
    struct zk *c = p;
    char dir[300], pred[512];
    if (wait_ms > MAX_WAIT_MS)
        wait_ms = MAX_WAIT_MS;
    uint64_t deadline_ns = bench_now_ns() + wait_ms * 1000000u;
    struct timespec dl = timespec_of(deadline_ns);
    if (strlen(name) > NAME_MAX_LEN) {
        snprintf(err, n, "lock name too long");
        return BENCH_ERROR;
    }
    if (session_check(c, err, n) != 0)
        return BENCH_ERROR;
    struct zlock *l = lock_entry(c, name);
    if (l == NULL) {
        snprintf(err, n, "out of memory");
        return BENCH_ERROR;
    }
    if (l->node != NULL) {
        int rc = reacquire(c, l, token, err, n);
        if (rc != BENCH_BUSY)
            return rc;
    }
    snprintf(dir, sizeof dir, ROOT "/%s", name);
    if (make_dir(c, l, dir, err, n) != 0 || create_node(c, l, dir, err, n))
        return BENCH_ERROR;
    for (;;) {
        if (predecessor(c, dir, l->token, pred, sizeof pred, err, n) != 0)
            return give_up(c, l, BENCH_ERROR);
        if (pred[0] == '\0')
            break;
        if (wait_ms == 0 || bench_now_ns() >= deadline_ns)
            return give_up(c, l, BENCH_BUSY);
        pthread_mutex_lock(&c->mu);
        unsigned long seen = c->events;
        pthread_mutex_unlock(&c->mu);
        struct Stat st;
        int rc = zoo_wexists(c->zh, pred, watcher_cb, c, &st);
        if (rc == ZNONODE)
            continue; /* gone already: look again */
        if (rc != ZOK) {
            zk_fail(err, n, "exists", pred, rc);
            return give_up(c, l, BENCH_ERROR);
        }
        wait_event(c, seen, &dl);
    }
    *token = l->token;
    return BENCH_GRANTED;
}

static int zk_release(void *p, const char *name, char *err, size_t n)
{
    struct zk *c = p;
    for (size_t i = 0; i < c->n_locks; i++) {
        struct zlock *l = &c->locks[i];
        if (strcmp(l->name, name) != 0 || l->node == NULL)
            continue;
        char node[512];
        snprintf(node, sizeof node, "%s", l->node);
        int rc = delete_node(c, l);
        return rc == ZOK ? 0 : zk_fail(err, n, "delete", node, rc);
    }
    snprintf(err, n, "zookeeper release: %s is not held", name);
    return -1;
}

/* Reads who holds and who waits for name (see the top of the file). */
static int zk_status(void *p, const char *name, char *err, size_t n)
{
    struct zk *c = p;
    char dir[300];
    struct String_vector ch = {0, NULL};
    if (strlen(name) > NAME_MAX_LEN) {
        snprintf(err, n, "lock name too long");
        return -1;
    }
    if (session_check(c, err, n) != 0)
        return -1;
    snprintf(dir, sizeof dir, ROOT "/%s", name);
    int rc = zoo_get_children(c->zh, dir, 0, &ch);
    if (rc == ZOK)
        deallocate_String_vector(&ch);
    if (rc != ZOK && rc != ZNONODE)
        return zk_fail(err, n, "get children of", dir, rc);
    return 0;
}

const struct bench_system bench_zk = {
    .name = "zk",
    .open = zk_open,
    .close = zk_close,
    .acquire = zk_acquire,
    .release = zk_release,
    .status = zk_status,
    .renew = zk_renew,
};
