/* noloop.c - the API for programs with their own event loop: the keeper of
 * the client's DLOCK_SESSION_NO_THREAD sessions, driven by the program
 * (include/dlock.h, "Without threads"). */
#include <poll.h>

#include "client/client_internal.h"

static struct keeper *noloop(struct dlock_client *c)
{
    pthread_mutex_lock(&c->mu);
    struct keeper *k = c->noloop;
    pthread_mutex_unlock(&c->mu);
    return k;
}

DLOCK_API int dlock_client_fd(struct dlock_client *c)
{
    struct keeper *k = noloop(c);
    return k != NULL ? keeper_fd(k) : -1;
}

DLOCK_API short dlock_client_events(struct dlock_client *c)
{
    struct keeper *k = noloop(c);
    return k != NULL ? keeper_events(k) : 0;
}

DLOCK_API uint64_t dlock_client_deadline(struct dlock_client *c)
{
    struct keeper *k = noloop(c);
    return k != NULL ? keeper_deadline(k) : UINT64_MAX;
}

DLOCK_API int dlock_client_process(struct dlock_client *c)
{
    struct keeper *k = noloop(c);
    if (k == NULL)
        return 0;
    int rc = keeper_process(k);
    if (rc != 0)
        return client_error(c, rc, "out of memory (keepalives)");
    return 0;
}
