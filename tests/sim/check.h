/* check.h - the simulator's safety checker: global records of what every
 * node handed out, persisted, committed and applied, and the hooks through
 * which cluster.c reports each of them as it happens. A violation is
 * reported with cluster_fail(). */
#ifndef DLOCK_SIM_CHECK_H
#define DLOCK_SIM_CHECK_H

#include "cluster.h"

struct check *check_new(void);
void check_free(struct check *ck);

/* Highest index any node has reported committed. */
uint64_t check_commit_max(const struct check *ck);
/* The state hash after index was applied; false if never applied. */
bool check_applied(const struct check *ck, uint64_t index, uint64_t *term,
                   uint64_t *hash);

/* A new lifetime of node n: its view is rebuilt from its disk. */
void check_restart(struct cluster *c, struct sim_node *n);

/* One update handed out by n's core, before the edge acts on it. */
void check_update(struct cluster *c, struct sim_node *n,
                  const struct raft_update *u);
/* After the update's role and commit are known, before its messages go. */
void check_state(struct cluster *c, struct sim_node *n,
                 const struct raft_update *u);
/* A message n is about to send (after the edge filled a snapshot chunk). */
void check_msg_out(struct cluster *c, struct sim_node *n,
                   const struct raft_msg *m);
/* n applied e; its state machine is now sm. */
void check_apply(struct cluster *c, struct sim_node *n,
                 const struct raft_entry *e);
/* n's state machine was restored from a snapshot. */
void check_sm_restored(struct cluster *c, struct sim_node *n);
/* n's disk is about to make a hard state durable. */
void check_durable_hs(struct cluster *c, struct sim_node *n, uint64_t term,
                      uint64_t vote);
/* n took a local snapshot described by meta. */
void check_local_snapshot(struct cluster *c, struct sim_node *n,
                          const struct raft_snapshot_meta *meta);

/* CLUSTER_READ_PENDING, _SERVED or _DROPPED. */
int check_read_outcome(const struct check *ck, uint64_t ctx);
/* A read-index request ctx was accepted by n. */
void check_read_asked(struct cluster *c, struct sim_node *n, uint64_t ctx);

#endif
