/* disk.h - a server's persistence, on the libuv loop: what Raft asks to
 * persist goes into the store's buffer, and one batch at a time is written
 * and fsynced (group commit: everything buffered meanwhile rides the next
 * batch); snapshots a leader sends are installed; the state is snapshotted
 * every so many entries by a forked child; the log's next segment is made
 * ahead on a worker thread. docs/design.md §3.
 *
 * The contract with its owner (node.c):
 * - Every update's persistence goes through disk_persist, in Raft's order;
 *   nothing overtakes a snapshot install, which waits for the store to be
 *   idle.
 * - disk_start, at the end of each pass over Raft's updates, starts the next
 *   batch if none is in flight. When a batch is durable the disk calls
 *   raft_persisted with the highest update seq it held, then cbs.kick: the
 *   owner then takes Raft's new updates (an inline sync calls back from
 *   within disk_start).
 * - A leader's batch may wait to gather more proposals (at most 0.2 ms
 *   and at most a sync's time, and rarely while its clients do not come
 *   back within that);
 *   disk_gathering says so, and meanwhile the owner holds the followers'
 *   messages back. cbs.before_write is called as a batch starts, so that the
 *   followers get its entries before the leader syncs them.
 * - A failure to write, fsync, install or snapshot-and-compact stops the
 *   process (exit 2): a dead replica is safe, one that carries on after a
 *   failed fsync is not. Nothing else here exits.
 * - disk_busy is true while a batch, a snapshot or a segment made ahead is
 *   under way; a batch's end calls cbs.kick, the others' cbs.idle. The
 *   owner closes the disk only when it is not busy. */
#ifndef DLOCK_DISK_H
#define DLOCK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lock/replica.h"
#include "raft/raft.h"
#include "store/store.h"

struct disk_config {
    const char *data;          /* the data directory (copied) */
    uint64_t snapshot_entries; /* applied entries between snapshots */
    uint64_t id;               /* this server's, for disk_snapshot_due */
    int keep_fd; /* a descriptor the snapshot's child keeps open (the data
                    directory's lock, so that no other server takes the
                    directory while the child writes there), or -1 */
};

struct disk_cbs {
    /* A batch is durable (raft_persisted was called) or a snapshot ended:
     * the owner goes through Raft's updates again. */
    void (*kick)(void *arg);
    /* A batch is about to be written: send what was held back. */
    void (*before_write)(void *arg);
    /* A snapshot or a segment made ahead ended (disk_busy may now be
     * false; a batch's end calls kick). */
    void (*idle)(void *arg);
};

struct disk_stats {
    uint64_t sync_avg_ns;    /* the batches' write and fsync time, averaged */
    bool sync_inline;        /* batches are synced on the loop */
    uint64_t syncs;          /* batches synced */
    uint64_t entries_synced; /* entries in them */
    const struct hist *sync_us;       /* each batch's write and fsync, us */
    const struct hist *batch_entries; /* entries in each batch */
    uint64_t bytes_appended;      /* the log records' bytes, headers included */
    uint64_t snapshots_taken;     /* written by this server */
    uint64_t snapshots_installed; /* received from a leader */
};

struct hist;
struct disk; /* opaque */

/* Allocates the disk for raft and rep (borrowed for its life) and the store
 * in cfg->data; no I/O but the group commit's timer (a timerfd: libuv's
 * timers count whole milliseconds) and its poll handle, which disk_close
 * closes. Returns NULL with a message in err if that cannot be made. */
struct disk *disk_new(uv_loop_t *loop, const struct disk_config *cfg,
                      struct raft *raft, struct replica *rep,
                      const struct disk_cbs *cbs, void *arg, char *err,
                      size_t errlen);
/* Opens the store and reads what it holds into st (store_open); the owner
 * restores from it and closes it. 0, or -1 with a message in err. */
int disk_open(struct disk *d, struct store_state *st, char *err, size_t errlen);
/* Starts watching the group commit's timer. */
void disk_watch(struct disk *d);

void disk_persist(struct disk *d, const struct raft_update *u);
/* Starts the next batch if there is one and none is in flight (a leader's
 * may gather first). */
void disk_start(struct disk *d);
/* The leader's next batch waits to gather more proposals. */
bool disk_gathering(const struct disk *d);
/* Counts a proposal made, and a client's proposal answered, for the
 * gathering of the next batch. */
void disk_proposed(struct disk *d);
void disk_answered(struct disk *d);

/* Snapshots the state if it is due (disk_snapshot_due) and nothing stands
 * in the way. */
void disk_snapshot(struct disk *d);
/* The index at which the server id, whose last snapshot is at last, takes
 * its next one: about every entries entries, on a grid of its own, so that
 * the servers of a cluster snapshot at different indexes (each fork stalls
 * its server for a few ms, and their writes would meet on a shared disk:
 * a stalled follower is then one of two, and the commit goes on with the
 * other): the first index past last + entries / 2 that is, modulo entries,
 * (id - 1) mod 5 fifths of entries. Pure. */
uint64_t disk_snapshot_due(uint64_t last, uint64_t entries, uint64_t id);
/* How full (in thousandths) the segment being written must be before the
 * server id makes the next one ahead: 0, 100, ... 400 for ids 1 to 5, so
 * that servers do not write their spares at once (disk.c). Pure. */
unsigned disk_spare_after(uint64_t id);
/* Fills m's data with the bytes of the snapshot chunk it asks for (valid
 * until the next call); false if the snapshot is no longer there. */
bool disk_fill_chunk(struct disk *d, struct raft_msg *m);

void disk_stats(const struct disk *d, struct disk_stats *st);
/* For traces: when the log write that carried the entry at index started
 * and ended (uv_hrtime), and its entries, if it is among the last
 * DISK_BATCHES_KEPT writes and has ended; false otherwise. */
#define DISK_BATCHES_KEPT 256
bool disk_batch_of(const struct disk *d, uint64_t index, uint64_t *write_ns,
                   uint64_t *synced_ns, uint32_t *entries);
bool disk_busy(const struct disk *d);
/* Stops making the next segment ahead, soon (the owner is stopping). */
void disk_cancel_spare(struct disk *d);
/* Syncs whatever is buffered (nothing waits on it any more), starts
 * nothing more and closes the timer's handle; done(arg) once closed. Only
 * when the disk is not busy. */
void disk_close(struct disk *d, void (*done)(void *arg), void *arg);
/* Frees the disk and its store, after disk_close's done (or at a start-up
 * that failed, when the process ends). Accepts NULL. */
void disk_free(struct disk *d);

#endif
