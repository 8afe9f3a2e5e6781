/* call.c - a request and its answer: connections from the client's pool,
 * LEADER redirects, retries on NOLEADER and broken connections with a
 * growing pause, and the mapping of server errors to DLOCK_E* codes
 * (docs/protocol.md §2). */
#include <stdio.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/alloc.h"

/* Redirects followed at once; after these, each waits a pause. */
#define FREE_REDIRECTS 3
/* The least time given to one server's answer. */
#define ATTEMPT_MIN_MS 1000

static bool word_is(const char *msg, size_t len, const char *w)
{
    size_t n = strlen(w);
    return len >= n && memcmp(msg, w, n) == 0 && (len == n || msg[n] == ' ');
}

int call_error_code(const char *msg, size_t len)
{
    static const struct {
        const char *word;
        int code;
    } map[] = {
        {"HELD", DLOCK_EHELD},
        {"NOTHELD", DLOCK_ENOTHELD},
        {"NOSESSION", DLOCK_ENOSESSION},
        {"TIMEOUT", DLOCK_EWAIT},
        {"LIMIT", DLOCK_ELIMIT},
        {"ERR", DLOCK_EINVAL},
        {"UPGRADE", DLOCK_EUPGRADE},
        {"KIND", DLOCK_EINVAL}, /* a lock call on a semaphore's name, ... */
        {"NOPERM", DLOCK_EPERM},
        {"NOAUTH", DLOCK_EAUTH},
        {"WRONGPASS", DLOCK_EAUTH},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (word_is(msg, len, map[i].word))
            return map[i].code;
    return DLOCK_EPROTO;
}

void call_init(struct call *k, struct dlock_client *c, size_t argc,
               const char *const *argv, uint64_t extra_ms)
{
    uint64_t now = client_now_ms();
    memset(k, 0, sizeof *k);
    k->argc = argc;
    k->argv = argv;
    k->deadline_ms = now + c->timeout_ms + extra_ms;
    k->attempt_ms = c->timeout_ms / 3;
    if (k->attempt_ms < ATTEMPT_MIN_MS)
        k->attempt_ms = ATTEMPT_MIN_MS;
    k->attempt_ms += extra_ms;
}

void call_write(struct call *k, char *req, size_t req_arg)
{
    k->req = req;
    k->req_arg = req_arg;
}

uint64_t call_key(size_t argc, const char *const *argv, const size_t *argvlen,
                  size_t skip)
{
    /* FNV-1a over each argument and a NUL, and the length of each argument
     * given by length (which may hold NUL bytes). */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < argc; i++) {
        if (i == skip)
            continue;
        const unsigned char *p = (const unsigned char *)argv[i];
        size_t n = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        for (size_t j = 0; j <= n; j++) {
            h ^= j < n ? p[j] : 0;
            h *= 0x100000001b3ULL;
        }
        for (size_t j = 0; argvlen != NULL && j < sizeof n; j++) {
            h ^= (n >> (8 * j)) & 0xff;
            h *= 0x100000001b3ULL;
        }
    }
    return h ? h : 1;
}

/* Fills k's request id: the one of an identical write that timed out (a
 * retry by the caller, which must not have a second effect), else new. */
static uint64_t fill_req(struct dlock_client *c, const struct call *k)
{
    uint64_t key = call_key(k->argc, k->argv, k->argvlen, k->req_arg);
    bool found = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < CLIENT_UNSETTLED && !found; i++) {
        if (c->unsettled[i].key == key) {
            memcpy(k->req, c->unsettled[i].req, CLIENT_REQ_MAX);
            found = true;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (!found)
        client_req_id(c, k->req);
    return key;
}

/* Remembers the write's id if its outcome is unknown (no answer, or no
 * memory to read it), else forgets it. */
static void settle_req(struct dlock_client *c, const struct call *k,
                       uint64_t key, int rc)
{
    bool unknown = rc == DLOCK_ETIMEDOUT || rc == DLOCK_ENOMEM;
    pthread_mutex_lock(&c->mu);
    size_t i;
    for (i = 0; i < CLIENT_UNSETTLED; i++)
        if (c->unsettled[i].key == key)
            break;
    if (unknown && i == CLIENT_UNSETTLED) {
        i = c->next_unsettled++ % CLIENT_UNSETTLED;
        c->unsettled[i].key = key;
        memcpy(c->unsettled[i].req, k->req, CLIENT_REQ_MAX);
    } else if (!unknown && i < CLIENT_UNSETTLED) {
        c->unsettled[i].key = 0;
    }
    pthread_mutex_unlock(&c->mu);
}

/* A pooled connection to addr, or NULL. When the leader is asked for and
 * none is to addr, the leader has moved: the others are closed. */
static struct conn *pool_take(struct dlock_client *c, const char *addr,
                              bool leader)
{
    struct conn *k = NULL, *stale[CLIENT_POOL_MAX];
    size_t n_stale = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = c->n_pool; i-- > 0 && k == NULL;) {
        if (strcmp(c->pool[i]->addr, addr) == 0) {
            k = c->pool[i];
            c->pool[i] = c->pool[--c->n_pool];
        }
    }
    if (k == NULL && leader) {
        memcpy(stale, c->pool, c->n_pool * sizeof *stale);
        n_stale = c->n_pool;
        c->n_pool = 0;
    }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n_stale; i++)
        conn_free(stale[i]);
    return k;
}

void call_done(struct dlock_client *c, struct conn *conn)
{
    pthread_mutex_lock(&c->mu);
    if (c->n_pool < CLIENT_POOL_MAX) {
        c->pool[c->n_pool++] = conn;
        conn = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    conn_free(conn);
}

/* What one attempt came to. */
enum outcome { DONE, RETRY_NOW, RETRY_LATER };

struct attempt {
    const struct call *k;
    const struct buf *req;
    struct conn *conn;
    bool sent;     /* the request reached some server's socket */
    int redirects; /* followed so far */
    /* While every connection of the call was refused: how many, and by
     * whom ("a:1, b:2"), for the message. */
    bool only_refused;
    size_t refused;
    char refused_by[160];
};

/* A connection to the server the request goes to now (named in addr). */
static int get_conn(struct dlock_client *c, struct attempt *a,
                    char addr[CLIENT_ADDR_MAX], bool *pooled)
{
    if (a->k->addr != NULL)
        snprintf(addr, CLIENT_ADDR_MAX, "%s", a->k->addr);
    else
        client_target(c, addr);
    *pooled = false;
    a->conn = pool_take(c, addr, a->k->addr == NULL);
    if (a->conn != NULL) {
        *pooled = true;
        return 0;
    }
    int rc = conn_start(c, addr, &a->conn);
    if (rc != 0)
        return rc;
    uint64_t end = client_now_ms() + a->k->attempt_ms;
    rc = conn_finish(c, a->conn,
                     end < a->k->deadline_ms ? end : a->k->deadline_ms);
    if (rc != 0) {
        conn_free(a->conn);
        a->conn = NULL;
    }
    return rc;
}

/* Drops the connection, noting a failure of its server if failed. */
static enum outcome drop(struct dlock_client *c, struct attempt *a, bool failed)
{
    if (failed && a->k->addr == NULL)
        client_failed(c, a->conn->addr);
    conn_free(a->conn);
    a->conn = NULL;
    return RETRY_LATER;
}

/* A server refused the connection. When every server of the list has
 * refused, each on its first try, on a client that has never reached one,
 * nothing listens there: the call ends with DLOCK_EREFUSED
 * (include/dlock.h). Otherwise the server may be restarting, or a leader
 * changing: the next server is tried, the next round after a pause. */
static enum outcome refused(struct dlock_client *c, struct attempt *a,
                            const char *addr, int *rc)
{
    if (!a->only_refused || atomic_load(&c->reached))
        return RETRY_LATER;
    size_t len = strlen(a->refused_by);
    snprintf(a->refused_by + len, sizeof a->refused_by - len, "%s%s",
             len > 0 ? ", " : "", addr);
    if (++a->refused < (a->k->addr != NULL ? 1 : c->n_servers))
        return RETRY_NOW;
    *rc = client_error(c, DLOCK_EREFUSED,
                       "%s refused the connection: no server is listening "
                       "there",
                       a->refused_by);
    return DONE;
}

/* Handles an error reply: a redirect, NOLEADER, or the call's answer. */
static enum outcome error_reply(struct dlock_client *c, struct attempt *a,
                                const struct resp_value *v, int *rc)
{
    if (word_is(v->str, v->len, "LEADER") && a->k->addr == NULL) {
        char addr[CLIENT_ADDR_MAX];
        if (!client_parse_addr(v->str + 7, v->len - 7, addr)) {
            *rc = client_error(c, DLOCK_EPROTO, "%s: a malformed redirect: %s",
                               a->conn->addr, v->str);
            drop(c, a, false);
            return DONE;
        }
        client_set_leader(c, addr);
        client_error(c, DLOCK_ETIMEDOUT, "%s", v->str);
        drop(c, a, false);
        return ++a->redirects <= FREE_REDIRECTS ? RETRY_NOW : RETRY_LATER;
    }
    if (word_is(v->str, v->len, "NOLEADER")) {
        client_error(c, DLOCK_ETIMEDOUT, "%s: %s", a->conn->addr, v->str);
        return drop(c, a, true);
    }
    *rc = client_error(c, call_error_code(v->str, v->len), "%s", v->str);
    if (*rc == DLOCK_EPROTO)
        drop(c, a, false);
    else
        client_set_answered(c, a->conn->addr);
    return DONE;
}

/* One attempt: connect if needed, send, wait for the answer. */
static enum outcome attempt_once(struct dlock_client *c, struct attempt *a,
                                 const struct resp_value **v, int *rc)
{
    bool pooled;
    char addr[CLIENT_ADDR_MAX];
    int err = get_conn(c, a, addr, &pooled);
    if (err == DLOCK_ENOMEM || err == DLOCK_ETLS || err == DLOCK_EAUTH) {
        *rc = err;
        return DONE;
    }
    if (err != 0) {
        if (a->k->addr == NULL)
            client_failed(c, addr);
        if (err == DLOCK_EREFUSED)
            return refused(c, a, addr, rc);
        a->only_refused = false;
        return RETRY_LATER;
    }
    a->only_refused = false;
    uint64_t end = client_now_ms() + a->k->attempt_ms;
    if (end > a->k->deadline_ms)
        end = a->k->deadline_ms;
    err = conn_send(c, a->conn, a->req->data, a->req->len, end);
    if (err == 0) {
        a->sent = true;
        err = conn_recv(c, a->conn, end, v);
    }
    /* A certificate or a password refused stays refused: said at once. */
    if (err == DLOCK_EPROTO || err == DLOCK_ENOMEM || err == DLOCK_ETLS ||
        err == DLOCK_EAUTH) {
        drop(c, a, false);
        *rc = err;
        return DONE;
    }
    /* A pooled connection may have been closed while idle: that is no
     * failure of its server (and a repeated request is harmless). */
    if (err == DLOCK_EIO && pooled) {
        drop(c, a, false);
        return RETRY_NOW;
    }
    if (err != 0)
        return drop(c, a, true);
    if ((*v)->type == RESP_ERROR || (*v)->type == RESP_BLOB_ERROR)
        return error_reply(c, a, *v, rc);
    client_set_answered(c, a->conn->addr);
    *rc = 0;
    return DONE;
}

static int run(struct dlock_client *c, const struct call *k, struct conn **conn,
               const struct resp_value **v)
{
    /* The request id's length, when lengths are given, is that of the id
     * call_run filled in. */
    size_t lens[CALL_ARGS_MAX];
    const size_t *argvlen = k->argvlen;
    if (argvlen != NULL && k->req != NULL) {
        if (k->argc > CALL_ARGS_MAX)
            return client_error(c, DLOCK_EINVAL, "more than %d arguments",
                                CALL_ARGS_MAX);
        memcpy(lens, argvlen, k->argc * sizeof *lens);
        lens[k->req_arg] = strlen(k->req);
        argvlen = lens;
    }
    struct buf req;
    buf_init(&req);
    if (resp_write_command(&req, k->argc, k->argv, argvlen) != 0)
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    struct attempt a = {.k = k, .req = &req, .only_refused = true};
    uint64_t backoff = CLIENT_BACKOFF_MIN_MS;
    int rc = 0;
    for (;;) {
        enum outcome o = attempt_once(c, &a, v, &rc);
        if (o == DONE)
            break;
        if (client_now_ms() >= k->deadline_ms) {
            char last[200];
            snprintf(last, sizeof last, "%s", dlock_errmsg(c));
            rc = a.sent ? DLOCK_ETIMEDOUT : DLOCK_EIO;
            client_error(c, rc, "%s (last: %s)",
                         a.sent ? "no answer in time"
                                : "no server could be reached",
                         last);
            break;
        }
        if (o == RETRY_LATER) {
            client_sleep_until(backoff, k->deadline_ms);
            backoff = backoff * 2 > CLIENT_BACKOFF_MAX_MS
                          ? CLIENT_BACKOFF_MAX_MS
                          : backoff * 2;
        }
    }
    buf_close(&req);
    if (rc != 0 && a.conn != NULL) {
        /* An error reply leaves the connection in step: keep it. */
        call_done(c, a.conn);
        a.conn = NULL;
    }
    *conn = a.conn;
    return rc;
}

int call_run(struct dlock_client *c, const struct call *k, struct conn **conn,
             const struct resp_value **v)
{
    if (k->req == NULL)
        return run(c, k, conn, v);
    uint64_t key = fill_req(c, k);
    int rc = run(c, k, conn, v);
    settle_req(c, k, key, rc);
    return rc;
}

int call_integer(struct dlock_client *c, const struct call *k, int64_t *out)
{
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_run(c, k, &conn, &v);
    if (rc != 0)
        return rc;
    if (v->type != RESP_INTEGER)
        rc = client_error(c, DLOCK_EPROTO, "%s: an unexpected reply (type %c)",
                          conn->addr, v->type);
    else
        *out = v->integer;
    call_done(c, conn);
    return rc;
}
