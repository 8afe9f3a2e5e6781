/* disk.h - the simulated disk of a node: what survives a crash (struct
 * sim_disk, in cluster.h) and the writes still on their way to it. */
#ifndef DLOCK_SIM_DISK_H
#define DLOCK_SIM_DISK_H

#include "cluster.h"

/* An empty disk. */
void disk_init(struct sim_disk *d);
/* Frees n's disk and its pending writes. */
void disk_free(struct sim_node *n);

uint64_t disk_snap_index(const struct sim_disk *d);
/* True if the stored log continues the snapshot (holds its last entry). The
 * core may apply entries committed elsewhere before the write that put them
 * in this node's log is durable, and a local snapshot of them is then newer
 * than the stored log. */
bool disk_continues(const struct sim_disk *d);
/* What a restart does first: drops a stored log that does not continue the
 * snapshot. */
void disk_recover(struct sim_disk *d);
/* Stores a local snapshot (taking data, malloc'd) durably at once. */
void disk_store_snapshot(struct sim_disk *d,
                         const struct raft_snapshot_meta *meta, uint8_t *data,
                         size_t len);

/* Makes w durable, in the order of raft.h: hard state, chunk, entries. live
 * when the node is running: an installed snapshot then also restores its
 * state machine (not for writes that reach the disk as the node crashes). */
void disk_write(struct cluster *c, struct sim_node *n,
                const struct raft_persist *w, bool live);
/* Restores a running node's state machine from its durable snapshot. */
void disk_restore_sm(struct cluster *c, struct sim_node *n);

/* Automatic mode: queues u's write; the disk completes it after a random
 * delay (EV_DISK), and the persisted ack follows a little later (EV_ACK),
 * so a crash may fall between. */
void disk_queue(struct cluster *c, struct sim_node *n,
                const struct raft_update *u);
/* The write in progress is durable. */
void disk_done(struct cluster *c, struct sim_node *n);
/* n crashes: with keep_some, a random prefix of its pending writes reaches
 * the disk (the next one maybe in part); the rest is lost. */
void disk_crash(struct cluster *c, struct sim_node *n, bool keep_some);
/* Manual mode: makes every pending write durable (the caller acks). */
void disk_flush(struct cluster *c, struct sim_node *n);

#endif
