/* watchcheck.h - the checker of watches on the simulated cluster: the
 * changes of holds each server's machine reports (fsm_changes), which
 * dlockd keeps in its history (src/lock/changelog.h) and pushes to
 * watchers, replayed in
 * order per name they rebuild every name's holds (per session and owner:
 * exclusive and shared counts, token), holder count and election value,
 * which must equal the machine's at each audit, and each change's holder
 * count must equal the rebuilt one; revisions rise on each server; and a
 * watcher that resumes from a revision gets from the server's history
 * exactly the changes the server applied after it, in order, or "gone"
 * with the revision from which the history is whole, and gone only when
 * some of those changes are no longer kept or came before the server's
 * history restarted (a restore from a snapshot, a restart). A violation
 * is reported with cluster_fail(). */
#ifndef DLOCK_SIM_WATCHCHECK_H
#define DLOCK_SIM_WATCHCHECK_H

#include "cluster.h"
#include "lock/changelog.h"
#include "lock/fsm.h"

struct watchcheck;

struct watchcheck *watchcheck_new(void);
void watchcheck_free(struct watchcheck *w);

/* Node id's machine is empty and its history restarts from 0. */
void watchcheck_reset(struct watchcheck *w, uint64_t id);
/* n's machine f was restored from the snapshot at n->sm.index, and its
 * history restarted from there: the holds are taken from f. */
void watchcheck_restored(struct watchcheck *w, struct cluster *c,
                         struct sim_node *n, const struct fsm *f);
/* n applied the NORMAL entry at revision to f and fed f's changes to log,
 * its history; now and then a watcher resumes from log. */
void watchcheck_apply(struct watchcheck *w, struct cluster *c,
                      struct sim_node *n, uint64_t revision,
                      const struct fsm *f, const struct changelog *log);
/* Compares the holds rebuilt from n's changes with its machine f. */
void watchcheck_audit(struct watchcheck *w, struct cluster *c,
                      struct sim_node *n, const struct fsm *f);

/* A digest of one change: lockcheck.c compares those of each revision
 * on every server that applies it. */
uint64_t watchcheck_digest(const struct fsm_change *ch);

struct watchcheck_counts {
    uint64_t changes; /* changes at each revision's first apply */
    uint64_t resumes; /* resumes checked */
    uint64_t gone;    /* of them answered "gone" */
};
void watchcheck_counts(const struct watchcheck *w, struct watchcheck_counts *n);

#endif
