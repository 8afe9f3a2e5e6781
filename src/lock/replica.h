/* replica.h - the lock service's replicated part on one server: the lock
 * state machine, and what a leader adds to it (docs/design.md §11, §12):
 * readiness once its own no-op applies, cluster time, the sessions' leases,
 * the expiries and TICKs it proposes, the UNWAITs of clients gone, and the
 * proposals and waits of clients, completed as entries apply.
 *
 * Pure: it does no I/O and reads no clock. dlockd (src/server/node.c) and
 * the simulator (tests/sim/lockserver.c) drive this same code: they hand it
 * the Raft core's committed entries and snapshots, its role, and their
 * clock (clock_ms: the server's monotonic clock, in ms) as arguments, and
 * take out what it decided as data: commands to propose (replica_next_*),
 * and outputs (replica_outs): proposals done, waits ended.
 *
 * Proposals and waits are named by the driver with (ctx, tag), opaque here.
 * A proposal with ctx NULL has no output (the leader's own expiries and
 * UNWAITs); tag REPLICA_TAG_TICK with ctx NULL marks the leader's TICK. */
#ifndef DLOCK_LOCK_REPLICA_H
#define DLOCK_LOCK_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "lock/fsm.h"

enum {
    REPLICA_OK = 0,
    REPLICA_NOTLEADER = -1, /* not the ready leader: nothing was done */
    REPLICA_LOST = -2,      /* another entry took the proposal's place: it
                               may or may not apply later (retry with its
                               request id) */
    REPLICA_NOSESSION = -4, /* keepalive: no lease, or its expiry proposed */
    REPLICA_INVALID = -6,   /* a command that does not encode */
};

#define REPLICA_TAG_TICK UINT64_MAX

struct replica_config {
    uint64_t wait_grace_ms;   /* an UNWAIT's grace (--wait-grace-ms) */
    uint64_t expire_retry_ms; /* an expiry proposed again after this */
    uint32_t expire_batch;    /* sessions in one EXPIRE_BATCH entry */
};

enum { REPLICA_DONE = 1, REPLICA_WAIT_END = 2 };

/* What the replica decided, for the driver to deliver. */
struct replica_out {
    uint8_t kind; /* REPLICA_DONE (a proposal), REPLICA_WAIT_END */
    int status;   /* REPLICA_OK, REPLICA_LOST, or the status given to
                     replica_lose */
    void *ctx;
    uint64_t tag;
    uint64_t index; /* DONE: the proposal's index */
    /* DONE with REPLICA_OK: the result of the command, or NULL for an entry
     * that is not a command (a membership change). WAIT_END with
     * REPLICA_OK: the event that ended the wait (GRANTED, TIMEOUT,
     * CANCELED). Both live until the next replica_apply, replica_restore
     * or replica_outs_clear. */
    const struct fsm_result *res;
    const struct fsm_event *ev;
};

struct replica; /* opaque */

/* A replica with an empty state machine. Aborts on out-of-memory. */
struct replica *replica_new(const struct replica_config *cfg);
void replica_free(struct replica *r);

/* The state machine (for reads, snapshots and recovery). */
struct fsm *replica_fsm(struct replica *r);
const struct fsm *replica_fsm_const(const struct replica *r);

/* Cluster time at clock_ms: the clock plus the offset fixed when this
 * server last became ready, so that time goes on from the last time
 * applied, across leaders. */
uint64_t replica_now(const struct replica *r, uint64_t clock_ms);
/* Whether this server is the ready leader (its no-op applied) of term. */
bool replica_ready(const struct replica *r, uint8_t role, uint64_t term);

/* Applies a committed entry. role and term are the Raft core's now: a
 * leader of term whose own no-op applies becomes ready (a fresh lease for
 * every session, an UNWAIT of every queued wait). A ready leader keeps the
 * leases by the sessions' changes (fsm_session_changes). The proposals up
 * to the entry's index are done: REPLICA_OK for the one proposed there in
 * its term, REPLICA_LOST for others; waits end with the events. Outputs
 * of the call before must have been taken (replica_outs_clear). */
void replica_apply(struct replica *r, const struct raft_entry *e, uint8_t role,
                   uint64_t term, uint64_t clock_ms);
/* The state machine of the snapshot at index (for a server that lags):
 * proposals up to index are LOST. 0, or -1 if data is not a snapshot (the
 * state is unchanged). */
int replica_restore(struct replica *r, const uint8_t *data, size_t len,
                    uint64_t index);
/* The index of the snapshot the machine was last restored from, 0 if
 * none: what happened up to it was never applied here. */
uint64_t replica_restored(const struct replica *r);
/* This server no longer leads (or is stopping): it is no longer ready,
 * forgets its leases and UNWAITs, and every proposal and wait is done with
 * status. Nothing if it was not ready and has none. */
void replica_lose(struct replica *r, int status);
/* Called with the Raft core's role and term after each of its updates:
 * a ready leader that is no longer the leader of its term loses
 * (replica_lose with status). */
void replica_role(struct replica *r, uint8_t role, uint64_t term, int status);

/* The result of the last entry replica_apply applied, if it was a command
 * (else NULL); with fsm_events and fsm_session_changes of the machine, what
 * it did, until the next apply. */
const struct fsm_result *replica_result(const struct replica *r);

/* The outputs since the last clear, in order. */
const struct replica_out *replica_outs(const struct replica *r, size_t *n);
void replica_outs_clear(struct replica *r);

/* Stamps cmd with the cluster time and encodes it, into memory that lives
 * until the next call; then propose it and call replica_proposed.
 * REPLICA_NOTLEADER unless ready, REPLICA_INVALID if it does not encode. */
int replica_encode(struct replica *r, struct fsm_cmd *cmd, uint64_t clock_ms,
                   const uint8_t **data, size_t *len);
/* The entry just proposed at (index, term), for (ctx, tag). */
void replica_proposed(struct replica *r, uint64_t index, uint64_t term,
                      void *ctx, uint64_t tag);
/* Proposals not yet done. */
size_t replica_pending(const struct replica *r);

/* Waits on the waiter created by the ACQUIRE at index: a WAIT_END output
 * with its event, or with the status of replica_lose. Returns a handle for
 * replica_wait_detach. */
void *replica_wait_attach(struct replica *r, uint64_t index, void *ctx,
                          uint64_t tag);
/* The index of the ACQUIRE a wait is attached to. */
uint64_t replica_wait_index(const void *handle);
/* Detaches a wait (its client went away): no output for it. True if no
 * other wait is attached to that waiter here: the driver then gives it up
 * (replica_unwait). */
bool replica_wait_detach(struct replica *r, void *handle);

/* The client of the blocking ACQUIRE named by cmd (its index, session,
 * name, req; index 0: every queued wait) went away: a ready leader queues
 * an UNWAIT with the grace and the last answer it knows of
 * (docs/protocol.md §4), for replica_next_unwait. */
void replica_unwait(struct replica *r, const struct fsm_cmd *cmd);
/* The next UNWAIT to propose, into *cmd (its strings live until the next
 * call); false when none is left. Each is handed out once: one whose
 * proposal fails is left to the next leader. */
bool replica_next_unwait(struct replica *r, struct fsm_cmd *cmd);

/* The first lease that may be over, in cluster time (UINT64_MAX if none). */
uint64_t replica_next_due(struct replica *r);
/* An EXPIRE_BATCH of up to expire_batch sessions whose lease had ended at
 * the cluster time at (not renewed, no keepalive under way), into *cmd
 * (its ids live until the next call); false if none. Each is handed out
 * again after expire_retry_ms until its expiry applies. */
bool replica_next_expiry(struct replica *r, uint64_t at, struct fsm_cmd *cmd);
/* A TICK, if a deadline of the machine has passed at clock_ms and no TICK
 * is under way. Propose it with (NULL, REPLICA_TAG_TICK). */
bool replica_next_tick(struct replica *r, uint64_t clock_ms,
                       struct fsm_cmd *cmd);

/* A keepalive for session at clock_ms begins: REPLICA_OK (its expiry now
 * waits for replica_keepalive_end), REPLICA_NOTLEADER, or REPLICA_NOSESSION
 * when the session has no lease or its expiry was proposed. *at is the
 * cluster time to renew from. */
int replica_keepalive_begin(struct replica *r, uint64_t session,
                            uint64_t clock_ms, uint64_t *at);
/* The keepalive begun at at is confirmed (ok) or failed: if confirmed and
 * the session has not gone meanwhile, its lease runs its TTL from at;
 * returns that TTL, or 0 (NOSESSION). */
uint64_t replica_keepalive_end(struct replica *r, uint64_t session, uint64_t at,
                               bool ok);
/* Milliseconds of the session's lease left at clock_ms (0 if unknown), and
 * how many sessions have a lease. */
/* The sessions whose leases end soonest (lease_nearest). */
size_t replica_leases_nearest(const struct replica *r, uint64_t *ids,
                              size_t max);
uint64_t replica_lease_left(const struct replica *r, uint64_t session,
                            uint64_t clock_ms);
size_t replica_leases(const struct replica *r);

#endif
