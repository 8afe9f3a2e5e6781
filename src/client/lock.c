/* lock.c - locks held under a session (LOCK.ACQUIRE/RELEASE with a session
 * and an owner, exclusive or SHARED, and LOCK.DOWNGRADE) and lease locks
 * (with a TTL and a token), docs/protocol.md §4 and §5. Every write carries a
 * request id, so the retries of call.c never have a second effect. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "common/alloc.h"

#define WAIT_MAX_MS 86400000ULL
#define DELAY_MAX_MS 600000ULL

DLOCK_API void dlock_acquire_options_init(struct dlock_acquire_options *o)
{
    memset(o, 0, sizeof *o);
    o->delay_ms = UINT64_MAX;
}

static int check_name(struct dlock_client *c, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return client_error(c, DLOCK_EINVAL, "a lock name must not be empty");
    if (strlen(name) > LOCK_NAME_MAX)
        return client_error(c, DLOCK_ELIMIT, "a lock name is at most %d bytes",
                            LOCK_NAME_MAX);
    return 0;
}

static char *copy_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = alloc_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* A handle of size bytes for name held by s, tracked by the client. */
static int new_handle(struct dlock_session *s, const char *name,
                      const char *owner, enum lock_kind kind, size_t size,
                      struct dlock_lock **out)
{
    struct dlock_client *c = s->c;
    struct dlock_lock *l = alloc_malloc(size);
    if (l == NULL)
        return DLOCK_ENOMEM;
    memset(l, 0, size);
    l->c = c;
    l->s = s;
    l->kind = kind;
    l->sid = s->id;
    l->name = copy_str(name);
    l->owner = copy_str(owner);
    atomic_init(&l->shared, false);
    atomic_init(&l->gone, false);
    if (l->name == NULL || l->owner == NULL ||
        client_track(c, (void ***)&c->locks, &c->n_locks, &c->cap_locks, l) !=
            0) {
        alloc_free(l->name);
        alloc_free(l->owner);
        alloc_free(l);
        return DLOCK_ENOMEM;
    }
    *out = l;
    return 0;
}

static void free_handle(struct dlock_lock *l)
{
    struct dlock_client *c = l->c;
    pthread_mutex_lock(&c->mu);
    client_untrack((void **)c->locks, &c->n_locks, l);
    pthread_mutex_unlock(&c->mu);
    alloc_free(l->name);
    alloc_free(l->owner);
    alloc_free(l);
}

void lock_acquire_arg(struct lock_acquire *a, const char *p, size_t len)
{
    a->argv[a->argc] = p;
    a->argvlen[a->argc++] = len;
}

static void arg_str(struct lock_acquire *a, const char *p)
{
    lock_acquire_arg(a, p, strlen(p));
}

int lock_acquire_begin(struct dlock_session *s, const char *cmd,
                       const char *name, const struct dlock_acquire_options *o,
                       struct lock_acquire *a)
{
    struct dlock_client *c = s->c;
    if (o == NULL) {
        dlock_acquire_options_init(&a->def);
        o = &a->def;
    }
    int rc = check_name(c, name);
    if (rc != 0)
        return rc;
    if (o->owner != NULL && strlen(o->owner) > LOCK_OWNER_MAX)
        return client_error(c, DLOCK_ELIMIT, "an owner is at most %d bytes",
                            LOCK_OWNER_MAX);
    if (o->wait_ms > WAIT_MAX_MS ||
        (o->delay_ms != UINT64_MAX && o->delay_ms > DELAY_MAX_MS))
        return client_error(c, DLOCK_EINVAL,
                            "a wait is at most a day, a delay 10 minutes");
    a->o = o;
    if (o->owner != NULL)
        snprintf(a->owner, sizeof a->owner, "%s", o->owner);
    else
        snprintf(a->owner, sizeof a->owner, "t%ld", (long)syscall(SYS_gettid));
    snprintf(a->sid, sizeof a->sid, "%" PRIu64, s->id);
    a->argc = 0;
    arg_str(a, cmd);
    arg_str(a, name);
    arg_str(a, a->sid);
    return 0;
}

int lock_acquire_run(struct dlock_session *s, struct lock_acquire *a,
                     enum lock_kind kind, size_t size, struct dlock_lock **out)
{
    struct dlock_client *c = s->c;
    const struct dlock_acquire_options *o = a->o;
    arg_str(a, "OWNER");
    arg_str(a, a->owner);
    if (o->wait_ms > 0) {
        snprintf(a->wait, sizeof a->wait, "%" PRIu64, o->wait_ms);
        arg_str(a, "WAIT");
        arg_str(a, a->wait);
    }
    if (o->delay_ms != UINT64_MAX) {
        snprintf(a->delay, sizeof a->delay, "%" PRIu64, o->delay_ms);
        arg_str(a, "DELAY");
        arg_str(a, a->delay);
    }
    arg_str(a, "REQ");
    a->req_arg = a->argc;
    lock_acquire_arg(a, a->req, 0); /* call_run fills it, and its length */
    if (session_is_lost(s, client_now_ms()))
        return client_error(c, DLOCK_ENOSESSION, "the session is lost");
    /* The handle first: after a grant nothing may fail. */
    struct dlock_lock *l;
    if (new_handle(s, a->argv[1], a->owner, kind, size, &l) != 0)
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    /* A blocking acquire waits its own time on top of the timeout; the
     * same request (same REQ) is repeated at a new leader, where it keeps
     * its place in the queue (docs/protocol.md §4). */
    struct call k;
    call_init(&k, c, a->argc, a->argv, o->wait_ms);
    call_write(&k, a->req, a->req_arg);
    k.argvlen = a->argvlen;
    int64_t token;
    int rc = call_integer(c, &k, &token);
    if (rc == DLOCK_ENOSESSION)
        session_mark_lost(s);
    if (rc == 0 && token <= 0)
        rc = client_error(c, DLOCK_EPROTO, "%s: token %" PRId64, a->argv[0],
                          token);
    if (rc != 0) {
        free_handle(l);
        return rc;
    }
    l->token = (uint64_t)token;
    *out = l;
    return 0;
}

/* Acquires name in either mode: dlock_lock_acquire and _shared. */
static int acquire(struct dlock_session *s, const char *name,
                   const struct dlock_acquire_options *o, bool shared,
                   struct dlock_lock **out)
{
    if (s == NULL || out == NULL)
        return DLOCK_EINVAL;
    struct lock_acquire a;
    int rc = lock_acquire_begin(s, "LOCK.ACQUIRE", name, o, &a);
    if (rc != 0)
        return rc;
    if (shared)
        arg_str(&a, "SHARED");
    rc = lock_acquire_run(s, &a, LOCK_KIND_LOCK, sizeof **out, out);
    if (rc == 0)
        atomic_store(&(*out)->shared, shared);
    return rc;
}

DLOCK_API int dlock_lock_acquire(struct dlock_session *s, const char *name,
                                 const struct dlock_acquire_options *o,
                                 struct dlock_lock **out)
{
    return acquire(s, name, o, false, out);
}

DLOCK_API int dlock_lock_acquire_shared(struct dlock_session *s,
                                        const char *name,
                                        const struct dlock_acquire_options *o,
                                        struct dlock_lock **out)
{
    return acquire(s, name, o, true, out);
}

int lock_handle_end(struct dlock_lock *l, const char **argv, size_t argc,
                    char *req)
{
    struct dlock_client *c = l->c;
    pthread_mutex_lock(&c->mu);
    struct dlock_session *s = l->s;
    bool lost = s == NULL || session_is_lost(s, client_now_ms()) ||
                atomic_load(&l->gone);
    pthread_mutex_unlock(&c->mu);
    int rc;
    if (s == NULL) {
        rc = client_error(c, DLOCK_ELOST, "the session of the hold is closed");
    } else {
        /* Sent also when lost: the server may still hold it for the
         * session, and should not keep it until the lease ends. */
        struct call k;
        call_init(&k, c, argc, argv, 0);
        call_write(&k, req, argc - 1);
        struct conn *conn;
        const struct resp_value *v;
        rc = call_run(c, &k, &conn, &v);
        if (rc == 0) {
            if (v->type != RESP_INTEGER && v->type != RESP_SIMPLE)
                rc = client_error(c, DLOCK_EPROTO, "%s: an unexpected reply",
                                  argv[0]);
            call_done(c, conn);
        }
        /* Under the client's lock: a session closed meanwhile by another
         * thread is gone (it detached l first). */
        pthread_mutex_lock(&c->mu);
        if (rc == DLOCK_ENOSESSION && l->s == s)
            session_mark_lost(s);
        pthread_mutex_unlock(&c->mu);
        if (lost || rc == DLOCK_ENOSESSION)
            rc = client_error(c, DLOCK_ELOST, "the hold was lost (%s)",
                              rc == 0 ? "its lease could not be proven"
                                      : dlock_strerror(rc));
    }
    free_handle(l);
    return rc;
}

DLOCK_API int dlock_lock_release(struct dlock_lock *l)
{
    if (l == NULL)
        return DLOCK_EINVAL;
    char sid[24], req[CLIENT_REQ_MAX];
    snprintf(sid, sizeof sid, "%" PRIu64, l->sid);
    const char *argv[8] = {"LOCK.RELEASE", l->name, sid, "OWNER", l->owner};
    size_t n = 5;
    if (atomic_load(&l->shared))
        argv[n++] = "SHARED";
    argv[n++] = "REQ", argv[n++] = req;
    return lock_handle_end(l, argv, n, req);
}

/* Marks shared every handle of s, name and owner: the server downgraded
 * all their exclusive holds. */
static void mark_shared(struct dlock_client *c, const struct dlock_session *s,
                        const char *name, const char *owner)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_locks; i++) {
        struct dlock_lock *h = c->locks[i];
        if (h->s == s && h->kind == LOCK_KIND_LOCK &&
            strcmp(h->name, name) == 0 && strcmp(h->owner, owner) == 0)
            atomic_store(&h->shared, true);
    }
    pthread_mutex_unlock(&c->mu);
}

DLOCK_API int dlock_lock_downgrade(struct dlock_lock *l)
{
    if (l == NULL)
        return DLOCK_EINVAL;
    struct dlock_client *c = l->c;
    if (atomic_load(&l->shared))
        return client_error(c, DLOCK_EINVAL, "the handle is shared already");
    pthread_mutex_lock(&c->mu);
    struct dlock_session *s = l->s;
    uint64_t sid = s != NULL ? s->id : 0;
    bool lost = s == NULL || session_is_lost(s, client_now_ms());
    pthread_mutex_unlock(&c->mu);
    if (lost)
        return client_error(c, DLOCK_ELOST, "the lock was lost");
    char sidbuf[24], req[CLIENT_REQ_MAX];
    snprintf(sidbuf, sizeof sidbuf, "%" PRIu64, sid);
    const char *argv[] = {"LOCK.DOWNGRADE", l->name, sidbuf, "OWNER",
                          l->owner,         "REQ",   req};
    struct call k;
    call_init(&k, c, 7, argv, 0);
    call_write(&k, req, 6);
    int64_t token;
    int rc = call_integer(c, &k, &token);
    if (rc == DLOCK_ENOSESSION) {
        pthread_mutex_lock(&c->mu);
        if (l->s == s)
            session_mark_lost(s);
        pthread_mutex_unlock(&c->mu);
        return client_error(c, DLOCK_ELOST, "the lock was lost (%s)",
                            dlock_strerror(rc));
    }
    if (rc == 0 && (uint64_t)token != l->token)
        rc = client_error(c, DLOCK_EPROTO,
                          "LOCK.DOWNGRADE: token %" PRId64 ", not %" PRIu64,
                          token, l->token);
    if (rc == 0)
        mark_shared(c, s, l->name, l->owner);
    return rc;
}

DLOCK_API bool dlock_lock_is_shared(const struct dlock_lock *l)
{
    return atomic_load(&l->shared);
}

DLOCK_API uint64_t dlock_lock_token(const struct dlock_lock *l)
{
    return l->token;
}

DLOCK_API const char *dlock_lock_name(const struct dlock_lock *l)
{
    return l->name;
}

bool lock_handle_alive(const struct dlock_lock *l, uint64_t *safe_until)
{
    pthread_mutex_lock(&l->c->mu);
    bool alive = l->s != NULL && !session_is_lost(l->s, client_now_ms()) &&
                 !atomic_load(&l->gone);
    if (alive && safe_until != NULL)
        *safe_until = atomic_load(&l->s->safe_until);
    pthread_mutex_unlock(&l->c->mu);
    return alive;
}

DLOCK_API uint64_t dlock_lock_safe_until(const struct dlock_lock *l)
{
    uint64_t until = 0;
    return lock_handle_alive(l, &until) ? until : 0;
}

DLOCK_API bool dlock_lock_lost(const struct dlock_lock *l)
{
    return !lock_handle_alive(l, NULL);
}

/* ---- lease locks ------------------------------------------------------ */

static int check_ttl(struct dlock_client *c, uint64_t ttl_ms)
{
    if (ttl_ms < CLIENT_TTL_MIN || ttl_ms > CLIENT_TTL_MAX)
        return client_error(c, DLOCK_EINVAL,
                            "the TTL must be 100 .. 3600000 ms");
    return 0;
}

DLOCK_API int dlock_lease_acquire(struct dlock_client *c, const char *name,
                                  uint64_t ttl_ms, uint64_t wait_ms,
                                  uint64_t *token)
{
    if (c == NULL || token == NULL)
        return DLOCK_EINVAL;
    int rc = check_name(c, name);
    if (rc == 0)
        rc = check_ttl(c, ttl_ms);
    if (rc == 0 && wait_ms > WAIT_MAX_MS)
        rc = client_error(c, DLOCK_EINVAL, "a wait is at most a day");
    if (rc != 0)
        return rc;
    char ttl[24], wait[24], req[CLIENT_REQ_MAX];
    snprintf(ttl, sizeof ttl, "%" PRIu64, ttl_ms);
    snprintf(wait, sizeof wait, "%" PRIu64, wait_ms);
    const char *argv[] = {"LOCK.ACQUIRE", name, "TTL",  ttl,
                          "REQ",          req,  "WAIT", wait};
    struct call k;
    call_init(&k, c, wait_ms > 0 ? 8 : 6, argv, wait_ms);
    call_write(&k, req, 5);
    int64_t v;
    rc = call_integer(c, &k, &v);
    if (rc == 0 && v <= 0)
        rc = client_error(c, DLOCK_EPROTO, "LOCK.ACQUIRE: token %" PRId64, v);
    if (rc == 0)
        *token = (uint64_t)v;
    return rc;
}

DLOCK_API int dlock_lease_extend(struct dlock_client *c, const char *name,
                                 uint64_t token, uint64_t ttl_ms)
{
    if (c == NULL)
        return DLOCK_EINVAL;
    int rc = check_name(c, name);
    if (rc == 0)
        rc = check_ttl(c, ttl_ms);
    if (rc != 0)
        return rc;
    char tok[24], ttl[24], req[CLIENT_REQ_MAX];
    snprintf(tok, sizeof tok, "%" PRIu64, token);
    snprintf(ttl, sizeof ttl, "%" PRIu64, ttl_ms);
    const char *argv[] = {"LOCK.EXTEND", name, tok, ttl, "REQ", req};
    struct call k;
    call_init(&k, c, 6, argv, 0);
    call_write(&k, req, 5);
    int64_t v;
    return call_integer(c, &k, &v);
}

DLOCK_API int dlock_lease_release(struct dlock_client *c, const char *name,
                                  uint64_t token)
{
    if (c == NULL)
        return DLOCK_EINVAL;
    int rc = check_name(c, name);
    if (rc != 0)
        return rc;
    char tok[24], req[CLIENT_REQ_MAX];
    snprintf(tok, sizeof tok, "%" PRIu64, token);
    const char *argv[] = {"LOCK.RELEASE", name, "TOKEN", tok, "REQ", req};
    struct call k;
    call_init(&k, c, 6, argv, 0);
    call_write(&k, req, 5);
    int64_t v;
    return call_integer(c, &k, &v);
}
