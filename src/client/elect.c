/* elect.c - leadership of an election held under a session
 * (ELECT.CAMPAIGN, ELECT.PROCLAIM and ELECT.RESIGN), docs/protocol.md §4,
 * "Elections". A handle is a lock handle of its own kind: leadership is
 * lost with its session (whose lost callback tells it at once), or when a
 * proclaim finds that the session no longer leads under its token. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client/client_internal.h"

DLOCK_API int dlock_campaign(struct dlock_session *s, const char *name,
                             const char *value, size_t value_len,
                             const struct dlock_acquire_options *o,
                             struct dlock_leadership **out)
{
    if (s == NULL || out == NULL || (value == NULL && value_len > 0))
        return DLOCK_EINVAL;
    if (value_len > DLOCK_VALUE_MAX)
        return client_error(s->c, DLOCK_ELIMIT, "a value is at most %d bytes",
                            DLOCK_VALUE_MAX);
    struct lock_acquire a;
    int rc = lock_acquire_begin(s, "ELECT.CAMPAIGN", name, o, &a);
    if (rc != 0)
        return rc;
    lock_acquire_arg(&a, value != NULL ? value : "", value_len);
    struct dlock_lock *l;
    rc = lock_acquire_run(s, &a, LOCK_KIND_ELECT, sizeof **out, &l);
    if (rc == 0)
        *out = (struct dlock_leadership *)l;
    return rc;
}

DLOCK_API int dlock_proclaim(struct dlock_leadership *l, const char *value,
                             size_t value_len)
{
    if (l == NULL || (value == NULL && value_len > 0))
        return DLOCK_EINVAL;
    struct dlock_client *c = l->h.c;
    if (value_len > DLOCK_VALUE_MAX)
        return client_error(c, DLOCK_ELIMIT, "a value is at most %d bytes",
                            DLOCK_VALUE_MAX);
    if (!lock_handle_alive(&l->h, NULL))
        return client_error(c, DLOCK_ELOST, "the leadership was lost");
    char sid[24], tok[24], req[CLIENT_REQ_MAX];
    snprintf(sid, sizeof sid, "%" PRIu64, l->h.sid);
    snprintf(tok, sizeof tok, "%" PRIu64, l->h.token);
    const char *argv[] = {"ELECT.PROCLAIM",           l->h.name, sid, tok,
                          value != NULL ? value : "", "REQ",     req};
    size_t lens[] = {
        14, strlen(l->h.name), strlen(sid), strlen(tok), value_len, 3, 0};
    struct call k;
    call_init(&k, c, 7, argv, 0);
    call_write(&k, req, 6);
    k.argvlen = lens;
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_run(c, &k, &conn, &v);
    if (rc == 0) {
        if (v->type != RESP_SIMPLE)
            rc = client_error(c, DLOCK_EPROTO,
                              "ELECT.PROCLAIM: an unexpected reply");
        call_done(c, conn);
    }
    if (rc == DLOCK_ENOTHELD) /* not the leader under this token */
        atomic_store(&l->h.gone, true);
    if (rc == DLOCK_ENOSESSION) {
        pthread_mutex_lock(&c->mu);
        if (l->h.s != NULL)
            session_mark_lost(l->h.s);
        pthread_mutex_unlock(&c->mu);
        return client_error(c, DLOCK_ELOST, "the leadership was lost (%s)",
                            dlock_strerror(rc));
    }
    return rc;
}

DLOCK_API int dlock_resign(struct dlock_leadership *l)
{
    if (l == NULL)
        return DLOCK_EINVAL;
    char sid[24], req[CLIENT_REQ_MAX];
    snprintf(sid, sizeof sid, "%" PRIu64, l->h.sid);
    const char *argv[] = {"ELECT.RESIGN", l->h.name, sid, "OWNER",
                          l->h.owner,     "REQ",     req};
    return lock_handle_end(&l->h, argv, sizeof argv / sizeof argv[0], req);
}

DLOCK_API uint64_t dlock_leadership_token(const struct dlock_leadership *l)
{
    return l->h.token;
}

DLOCK_API uint64_t dlock_leadership_safe_until(const struct dlock_leadership *l)
{
    uint64_t until = 0;
    return lock_handle_alive(&l->h, &until) ? until : 0;
}

DLOCK_API bool dlock_leadership_lost(const struct dlock_leadership *l)
{
    return !lock_handle_alive(&l->h, NULL);
}
