/* lockserver.h - dlockd's replicated part on the simulated cluster: each
 * node runs the replica module that dlockd runs (src/lock/replica.h: the
 * lock state machine, readiness, cluster time, leases, expiries, TICKs,
 * UNWAITs, proposals and waits), driven as src/server/node.c drives it,
 * with the node's simulated clock. This file adds only what a simulation
 * needs: the clients' callbacks, a client that goes away (its blocking
 * acquire is given up, as src/server/lockcmd.c does), expiry batches now
 * and then in the forms older servers wrote, and the checks of cluster
 * time and of every apply (lockcheck.c). */
#ifndef DLOCK_SIM_LOCKSERVER_H
#define DLOCK_SIM_LOCKSERVER_H

#include "cluster.h"
#include "lockcheck.h"
#include "lock/fsm.h"

enum {
    LOCKSERVER_OK = 0,
    LOCKSERVER_NOTLEADER, /* not the ready leader: nothing was proposed */
    LOCKSERVER_LOST,      /* the outcome is unknown: retry with the REQ */
    LOCKSERVER_NOSESSION, /* keepalive: the lease has ended */
};

/* A proposal's outcome: status LOCKSERVER_OK with the result of its apply
 * (at index) on the node it was proposed to, or LOCKSERVER_LOST. */
typedef void (*lockserver_cb)(void *ctx, uint64_t tag, struct cluster *c,
                              int status, uint64_t index,
                              const struct fsm_result *res);
/* A wait's end: LOCKSERVER_OK with the event (GRANTED, TIMEOUT, CANCELED),
 * or LOCKSERVER_LOST when the node stops leading. */
typedef void (*lockserver_wait_cb)(void *ctx, uint64_t tag, struct cluster *c,
                                   int status, const struct fsm_event *ev);

struct lockserver;

struct lockserver *lockserver_new(struct lockcheck *ck);
void lockserver_free(struct lockserver *s);
/* The hooks through which the cluster runs the servers
 * (cluster_config.app). */
const struct cluster_app *lockserver_app(struct lockserver *s);

/* Notices leaders that stopped leading (their proposals and waits are
 * lost); with timers, each ready leader proposes the expiries and the TICK
 * that are due. */
void lockserver_step(struct lockserver *s, struct cluster *c, bool timers);

/* Proposes cmd on node id, stamped with its cluster time; cb(ctx, tag)
 * tells the outcome later (never from within this call). */
int lockserver_propose(struct lockserver *s, struct cluster *c, uint64_t id,
                       struct fsm_cmd *cmd, lockserver_cb cb, void *ctx,
                       uint64_t tag);
/* Proposes bytes as they are (a malformed command). */
int lockserver_propose_raw(struct lockserver *s, struct cluster *c, uint64_t id,
                           const uint8_t *data, uint32_t len, lockserver_cb cb,
                           void *ctx, uint64_t tag);
/* Waits on node id for the end of the queued ACQUIRE at index. */
void lockserver_wait(struct lockserver *s, uint64_t id, uint64_t index,
                     lockserver_wait_cb cb, void *ctx, uint64_t tag);
/* The client (ctx, tag) went away from its wait on node id for acq, a
 * blocking ACQUIRE whose wait is of session (the lease lock's own, for
 * one): its callback is not called, and if nobody else waits on it there,
 * node id proposes UNWAIT at its next step. */
void lockserver_wait_gone(struct lockserver *s, uint64_t id, void *ctx,
                          uint64_t tag, uint64_t session,
                          const struct fsm_cmd *acq);
/* The client (ctx, tag) went away before the answer to its proposal acq,
 * a blocking ACQUIRE, on node id: its callback is not called, and if the
 * ACQUIRE queues or is granted at once, node id proposes UNWAIT. */
void lockserver_gone(struct lockserver *s, uint64_t id, void *ctx, uint64_t tag,
                     const struct fsm_cmd *acq);
/* SESSION.KEEPALIVE on node id: OK, NOTLEADER or NOSESSION. */
int lockserver_keepalive(struct lockserver *s, struct cluster *c, uint64_t id,
                         uint64_t session);
/* Audits every running node's machine (lockcheck_audit). */
void lockserver_audit(struct lockserver *s, struct cluster *c);

#endif
