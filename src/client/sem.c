/* sem.c - permits of a semaphore held under a session (SEM.ACQUIRE and
 * SEM.RELEASE with a session, an owner and a count), docs/protocol.md §4,
 * "Semaphores". A handle is a lock handle of its own kind, so that its loss
 * is its session's, as a lock's is. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client/client_internal.h"

#define PERMITS_MAX 1000000u

DLOCK_API int dlock_sem_acquire(struct dlock_session *s, const char *name,
                                uint32_t permits, uint32_t count,
                                const struct dlock_acquire_options *o,
                                struct dlock_sem **out)
{
    if (s == NULL || out == NULL)
        return DLOCK_EINVAL;
    if (permits < 1 || permits > PERMITS_MAX)
        return client_error(s->c, DLOCK_EINVAL,
                            "a semaphore has 1 to %u permits", PERMITS_MAX);
    if (count < 1 || count > permits)
        return client_error(s->c, DLOCK_EINVAL,
                            "an acquire takes 1 to %" PRIu32 " permits",
                            permits);
    struct lock_acquire a;
    int rc = lock_acquire_begin(s, "SEM.ACQUIRE", name, o, &a);
    if (rc != 0)
        return rc;
    char p[16], k[16];
    snprintf(p, sizeof p, "%" PRIu32, permits);
    snprintf(k, sizeof k, "%" PRIu32, count);
    lock_acquire_arg(&a, p, strlen(p));
    lock_acquire_arg(&a, "COUNT", 5);
    lock_acquire_arg(&a, k, strlen(k));
    struct dlock_lock *l;
    rc = lock_acquire_run(s, &a, LOCK_KIND_SEM, sizeof **out, &l);
    if (rc != 0)
        return rc;
    *out = (struct dlock_sem *)l;
    (*out)->count = count;
    return 0;
}

DLOCK_API int dlock_sem_release(struct dlock_sem *h)
{
    if (h == NULL)
        return DLOCK_EINVAL;
    char sid[24], k[16], req[CLIENT_REQ_MAX];
    snprintf(sid, sizeof sid, "%" PRIu64, h->h.sid);
    snprintf(k, sizeof k, "%" PRIu32, h->count);
    const char *argv[] = {"SEM.RELEASE", h->h.name,  sid,   "COUNT", k,
                          "OWNER",       h->h.owner, "REQ", req};
    return lock_handle_end(&h->h, argv, sizeof argv / sizeof argv[0], req);
}

DLOCK_API uint64_t dlock_sem_token(const struct dlock_sem *h)
{
    return h->h.token;
}

DLOCK_API uint64_t dlock_sem_safe_until(const struct dlock_sem *h)
{
    uint64_t until = 0;
    return lock_handle_alive(&h->h, &until) ? until : 0;
}

DLOCK_API bool dlock_sem_lost(const struct dlock_sem *h)
{
    return !lock_handle_alive(&h->h, NULL);
}
