/* session.c - sessions: opening and closing them, their safe-until
 * deadline (design.md §12), and when they count as lost. The keepalives
 * themselves are keeper.c's. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/alloc.h"

uint64_t session_safe_until(uint64_t sent_ms, uint64_t ttl_ms)
{
    /* The drift margin is rounded up: never trust a millisecond more. */
    uint64_t drift = (ttl_ms * DLOCK_DRIFT_PPM + 999999) / 1000000;
    uint64_t margin = drift + DLOCK_SAFETY_MS;
    return ttl_ms > margin ? sent_ms + ttl_ms - margin : sent_ms;
}

uint64_t session_interval(uint64_t ttl_ms)
{
    return ttl_ms / 3;
}

bool session_is_lost(const struct dlock_session *s, uint64_t now_ms)
{
    return atomic_load(&s->lost) || now_ms >= atomic_load(&s->safe_until);
}

void session_mark_lost(struct dlock_session *s)
{
    if (!atomic_exchange(&s->lost, true) && s->k != NULL)
        keeper_wake(s->k);
}

/* The keeper of sessions opened with flags, made (and its thread started)
 * on first use. */
static int keeper_for(struct dlock_client *c, unsigned flags,
                      struct keeper **out)
{
    bool threaded = !(flags & DLOCK_SESSION_NO_THREAD);
    pthread_mutex_lock(&c->mu);
    struct keeper *k = threaded ? c->threaded : c->noloop;
    pthread_mutex_unlock(&c->mu);
    if (k == NULL) {
        int rc = keeper_new(c, &k);
        if (rc == 0 && threaded)
            rc = keeper_start(k);
        if (rc != 0) {
            keeper_free(k);
            return client_error(c, rc, "out of memory (keepalive)");
        }
        pthread_mutex_lock(&c->mu);
        struct keeper **slot = threaded ? &c->threaded : &c->noloop;
        if (*slot == NULL) {
            *slot = k;
            k = NULL;
        }
        struct keeper *won = *slot;
        pthread_mutex_unlock(&c->mu);
        keeper_free(k); /* another thread made one first */
        k = won;
    }
    *out = k;
    return 0;
}

/* SESSION.OPEN: 0 and the session id, sent no earlier than *sent_ms. */
static int open_request(struct dlock_client *c, uint64_t ttl_ms, uint64_t *id,
                        uint64_t *sent_ms)
{
    char ttl[24], req[CLIENT_REQ_MAX];
    snprintf(ttl, sizeof ttl, "%" PRIu64, ttl_ms);
    /* A fresh id even when the caller retries an open that timed out:
     * two threads retrying at once must not get the same session. (The
     * session of a lost answer ends with its lease.) */
    client_req_id(c, req);
    const char *argv[] = {"SESSION.OPEN", ttl, "NAME", c->name, "REQ", req};
    struct call k;
    call_init(&k, c, 6, argv, 0);
    /* The lease starts when the leader applies the open, which is after
     * any attempt was sent: the call's start is a safe send time. */
    *sent_ms = client_now_ms();
    int64_t v;
    int rc = call_integer(c, &k, &v);
    if (rc == 0 && v <= 0)
        rc = client_error(c, DLOCK_EPROTO, "SESSION.OPEN: session %" PRId64, v);
    if (rc == 0)
        *id = (uint64_t)v;
    return rc;
}

/* SESSION.CLOSE with a request id: the server's answer. */
static int close_request(struct dlock_client *c, uint64_t id)
{
    char sid[24], req[CLIENT_REQ_MAX];
    snprintf(sid, sizeof sid, "%" PRIu64, id);
    const char *argv[] = {"SESSION.CLOSE", sid, "REQ", req};
    struct call k;
    call_init(&k, c, 4, argv, 0);
    call_write(&k, req, 3);
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_run(c, &k, &conn, &v);
    if (rc != 0)
        return rc;
    if (v->type != RESP_SIMPLE)
        rc = client_error(c, DLOCK_EPROTO, "SESSION.CLOSE: unexpected reply");
    call_done(c, conn);
    return rc;
}

/* A session not yet open, with room for it in the client's array and in
 * its keeper's (so that nothing fails once it is open). */
static int session_new(struct dlock_client *c, struct keeper *k,
                       uint64_t ttl_ms, unsigned flags,
                       struct dlock_session **out)
{
    struct dlock_session *s = alloc_malloc(sizeof *s);
    if (s == NULL)
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    memset(s, 0, sizeof *s);
    s->c = c;
    s->k = k;
    s->ttl_ms = ttl_ms;
    s->flags = flags;
    if (client_track(c, (void ***)&c->sessions, &c->n_sessions,
                     &c->cap_sessions, s) != 0) {
        alloc_free(s);
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    }
    if (keeper_add(k, s) != 0) { /* inactive until it is open */
        pthread_mutex_lock(&c->mu);
        client_untrack((void **)c->sessions, &c->n_sessions, s);
        pthread_mutex_unlock(&c->mu);
        alloc_free(s);
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

DLOCK_API int dlock_session_open(struct dlock_client *c, uint64_t ttl_ms,
                                 unsigned flags, struct dlock_session **out)
{
    if (c == NULL || out == NULL)
        return DLOCK_EINVAL;
    if (ttl_ms < CLIENT_TTL_MIN || ttl_ms > CLIENT_TTL_MAX ||
        (flags & ~(unsigned)DLOCK_SESSION_NO_THREAD) != 0)
        return client_error(c, DLOCK_EINVAL,
                            "the TTL must be 100 .. 3600000 ms, flags 0 or "
                            "DLOCK_SESSION_NO_THREAD");
    struct keeper *k = NULL;
    struct dlock_session *s;
    int rc = keeper_for(c, flags, &k);
    if (rc == 0)
        rc = session_new(c, k, ttl_ms, flags, &s);
    if (rc != 0)
        return rc;
    uint64_t sent;
    rc = open_request(c, ttl_ms, &s->id, &sent);
    if (rc != 0) {
        keeper_remove(k, s);
        pthread_mutex_lock(&c->mu);
        client_untrack((void **)c->sessions, &c->n_sessions, s);
        pthread_mutex_unlock(&c->mu);
        alloc_free(s);
        return rc;
    }
    pthread_mutex_lock(&k->mu);
    atomic_store(&s->safe_until, session_safe_until(sent, ttl_ms));
    s->due_ms = sent + session_interval(ttl_ms);
    s->active = true;
    pthread_mutex_unlock(&k->mu);
    keeper_wake(k);
    *out = s;
    return 0;
}

int session_close(struct dlock_session *s)
{
    struct dlock_client *c = s->c;
    keeper_remove(s->k, s);
    pthread_mutex_lock(&c->mu);
    client_untrack((void **)c->sessions, &c->n_sessions, s);
    /* Handles of its locks stay valid, reporting lost. */
    for (size_t i = 0; i < c->n_locks; i++)
        if (c->locks[i]->s == s)
            c->locks[i]->s = NULL;
    pthread_mutex_unlock(&c->mu);
    int rc = close_request(c, s->id);
    alloc_free(s);
    return rc;
}

DLOCK_API int dlock_session_close(struct dlock_session *s)
{
    return s == NULL ? 0 : session_close(s);
}

DLOCK_API uint64_t dlock_session_id(const struct dlock_session *s)
{
    return s->id;
}

DLOCK_API uint64_t dlock_session_safe_until(const struct dlock_session *s)
{
    return atomic_load(&s->lost) ? 0 : atomic_load(&s->safe_until);
}

DLOCK_API bool dlock_session_lost(const struct dlock_session *s)
{
    return session_is_lost(s, client_now_ms());
}

DLOCK_API void dlock_session_on_lost(struct dlock_session *s, dlock_lost_cb cb,
                                     void *arg)
{
    pthread_mutex_lock(&s->k->mu);
    s->cb = cb;
    s->cb_arg = arg;
    pthread_mutex_unlock(&s->k->mu);
    /* A session lost already gets its callback on the keeper's next step. */
    keeper_wake(s->k);
}
