/* lockclient.h - simulated clients of the lock service: a few processes
 * that open sessions with random TTLs and keep them alive (or stop, so
 * they expire), acquire a few contended locks (try, wait, owners,
 * reentrant, lease locks; exclusive or shared), release, downgrade, try
 * an upgrade (refused), extend and close, with random request
 * ids, and repeat requests whose outcome they did not learn (or learnt) with
 * the same id; now and then one gives up on a blocking acquire (its
 * connection closes) and may repeat it later. A retry that answers differently
 * from the outcome the client learnt first fails the run. After healing, a
 * probe demands that a free lock is granted and that a waiter behind a released
 * lock gets it. */
#ifndef DLOCK_SIM_LOCKCLIENT_H
#define DLOCK_SIM_LOCKCLIENT_H

#include "lockserver.h"

struct lockclient;

/* Clients of the servers s on cluster c, checked by ck; their number and
 * the locks are drawn from c's generator. */
struct lockclient *lockclient_new(struct lockserver *s, struct lockcheck *ck,
                                  struct cluster *c);
void lockclient_free(struct lockclient *lc);

/* One step: keepalives and retries; with active, new requests too. */
void lockclient_step(struct lockclient *lc, struct cluster *c, bool active);

/* The liveness probe, one step of it: true once done. */
bool lockclient_probe(struct lockclient *lc, struct cluster *c);
/* What the probe is waiting for, for a failure message. */
const char *lockclient_probe_state(const struct lockclient *lc);

struct lockclient_stats {
    uint64_t requests; /* distinct requests made */
    uint64_t acked;    /* outcomes learnt from the leader */
    uint64_t retried;  /* outcomes learnt by a retry of a learnt request */
    uint64_t lost;     /* proposals whose outcome was lost */
    uint64_t gone;     /* blocking acquires given up */
};
void lockclient_stats(const struct lockclient *lc, struct lockclient_stats *st);

#endif
