/* lockcheck.h - the lock service's safety checker on the simulated cluster.
 * Each node's apply stream is followed by a reference model (lockmodel.c)
 * and the machine is compared with it after every apply: one holder per
 * lock, tokens rising, the FIFO served, lock-delay kept, semaphores'
 * permits and elections' leaders and values. Global records
 * hold what was applied at each index (the outcome and events, the state's
 * snapshot bytes at sampled indexes and at every snapshot) and the first
 * outcome of every request id, so that every node applies the same
 * outcome at each index across crashes, snapshots and leader changes, and a
 * retry answers what the first attempt did; no grant a client learnt is
 * ever taken back (FSM_EV_WITHDRAWN); and the history of holds by mode
 * that the servers tell clients never has a writer with anyone else, more
 * permits held than a semaphore has, two leaders, a proclaim from another
 * token or a revoked hold used (lockcheck_modes.h); and the changes of holds
 * that watchers are told are the same on every server, complete and in
 * order, and resumed from a server's history as it applied them
 * (watchcheck.h). A violation is reported with cluster_fail(). */
#ifndef DLOCK_SIM_LOCKCHECK_H
#define DLOCK_SIM_LOCKCHECK_H

#include "cluster.h"
#include "lock/changelog.h"
#include "lock/fsm.h"

struct lockcheck;

struct lockcheck *lockcheck_new(void);
void lockcheck_free(struct lockcheck *ck);

/* Node id's state machine is empty (a start or a crash), and its history
 * of changes restarts from 0. */
void lockcheck_reset(struct lockcheck *ck, uint64_t id);
/* n applied the NORMAL entry e to f, which answered res and the events and
 * changes it holds; log is n's history of changes, fed with them. */
void lockcheck_apply(struct lockcheck *ck, struct cluster *c,
                     struct sim_node *n, const struct raft_entry *e,
                     const struct fsm *f, const struct fsm_result *res,
                     const struct changelog *log);
/* n took a snapshot of f at n->sm.index: data[0..len). */
void lockcheck_saved(struct lockcheck *ck, struct cluster *c,
                     struct sim_node *n, const struct fsm *f,
                     const uint8_t *data, size_t len);
/* n's machine f was restored from data[0..len), a snapshot at
 * n->sm.index, and its history of changes restarted from there. */
void lockcheck_restored(struct lockcheck *ck, struct cluster *c,
                        struct sim_node *n, const struct fsm *f,
                        const uint8_t *data, size_t len);
/* Compares n's machine f in full with its model and with the holds its
 * changes give, and its snapshot bytes with those of every node at the
 * same index. */
void lockcheck_audit(struct lockcheck *ck, struct cluster *c,
                     struct sim_node *n, const struct fsm *f);

/* A digest of an encoded command without its time (the leader's stamp),
 * and of the command first applied at index (false if none was). A client
 * checks with them that an outcome it is told is that of its own
 * request. */
uint64_t lockcheck_cmd_digest(const uint8_t *data, size_t len);
bool lockcheck_applied_cmd(const struct lockcheck *ck, uint64_t index,
                           uint64_t *digest);

/* A client learnt that the ACQUIRE at index was granted token (an answer,
 * its wait's event, a retry): that grant must never be taken back. */
void lockcheck_learnt(struct lockcheck *ck, struct cluster *c, uint64_t token,
                      uint64_t index);
/* The index at which the request acq (by its session and request id) was
 * first applied, 0 if none with an id was: what a retry that learns a
 * grant learns it of. */
uint64_t lockcheck_first_index(struct lockcheck *ck, const struct fsm_cmd *acq);

/* Counts for the run's summary. */
struct lockcheck_stats {
    uint64_t applies;   /* commands applied, on all nodes */
    uint64_t grants;    /* new grants (results and events), each once */
    uint64_t retries;   /* commands answered as retries, each once */
    uint64_t restores;  /* machines restored from snapshots */
    uint64_t withdrawn; /* grants taken back (UNWAIT), each once */
    uint64_t shared;    /* shared holds granted, each once */
    uint64_t permits;   /* semaphore grants, each once */
    uint64_t leaders;   /* leaders elected, each once */
    uint64_t proclaims; /* proclaims accepted */
    uint64_t revokes;   /* holds revoked */
    uint64_t kinds;     /* KIND answers */
    uint64_t changes;   /* changes of holds, each revision's once */
    uint64_t resumes;   /* watchers resumed from a server's history */
    uint64_t gone;      /* of them, told "gone" */
};
void lockcheck_stats(const struct lockcheck *ck, struct lockcheck_stats *st);

#endif
