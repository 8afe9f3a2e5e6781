/* lockcheck_modes.h - the history of every name's holds by mode, as the
 * servers tell it to clients: grants (answers to acquires of locks,
 * semaphores and elections, and the events that end waits), releases in
 * either mode and of permits, downgrades, resignations, revokes, losses
 * (LOST), closes and grants taken back (WITHDRAWN), followed in log order
 * at each index's first application and independently of the reference
 * model. It checks the rules of docs/design.md §11.3 at every point of
 * that history: never a writer with anyone else (an exclusive hold
 * coexists with no other hold of its lock), and a writer's token is
 * greater than the token of every reader granted the lock before it;
 * never more permits held than a semaphore has; at most one leader of an
 * election, each with a token greater than the leader's before it; a
 * proclaim accepted only from the leader under its token; a name held as
 * one kind at a time; every new hold's token above every earlier one; and
 * a revoked hold ended (LOST) and its token never in an answer after. */
#ifndef DLOCK_SIM_LOCKCHECK_MODES_H
#define DLOCK_SIM_LOCKCHECK_MODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock/fsm.h"

struct lockcheck_modes;

struct lockcheck_modes *lockcheck_modes_new(void);
void lockcheck_modes_free(struct lockcheck_modes *h);

/* The entry at index (above every one given before) was first applied:
 * cmd is its command (NULL if it did not decode), res and ev[0..n_ev)
 * what it answered. False, with the first violation in why, if the
 * history breaks a rule or does not add up (a release of a hold it does
 * not have). */
bool lockcheck_modes_apply(struct lockcheck_modes *h, uint64_t index,
                           const struct fsm_cmd *cmd,
                           const struct fsm_result *res,
                           const struct fsm_event *ev, size_t n_ev, char *why,
                           size_t cap);

/* What the history holds so far (each grant once): for the run's
 * summary. */
struct lockcheck_modes_counts {
    uint64_t shared;    /* shared holds of locks granted */
    uint64_t permits;   /* grants of a semaphore's permits */
    uint64_t leaders;   /* leaders elected */
    uint64_t proclaims; /* proclaims accepted */
    uint64_t revokes;   /* holds revoked */
    uint64_t kinds;     /* commands refused as of another kind (KIND) */
};
void lockcheck_modes_counts(const struct lockcheck_modes *h,
                            struct lockcheck_modes_counts *n);

#endif
