/* store.h - the durable storage of the Raft core: log segments and snapshot
 * files in one data directory, with plain POSIX I/O. The on-disk format and
 * the recovery rules are in docs/design.md §10.
 *
 * Writes are group-committed. set_hard_state and append only encode records
 * into a memory buffer; a sync writes everything buffered as one batch with
 * one write and one fdatasync. The sync comes in three parts so that the slow
 * one can run on a worker thread while the main thread keeps appending:
 *     main: store_sync_begin()   takes the buffer as the batch in flight
 *   worker: store_sync_run()     writes and fdatasyncs it
 *     main: store_sync_end()     bookkeeping, returns the result
 * Every other function is for the main thread. Between begin and end the main
 * thread may call anything but store_sync_begin, store_recv_finish and
 * store_free; what it appends lands in the next batch.
 *
 * Errors: STORE_EIO and STORE_ECORRUPT are fatal (never retry an fsync:
 * stop the server); after one, every call fails with it again. The detail is
 * in store_errmsg(). */
#ifndef DLOCK_STORE_H
#define DLOCK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

enum {
    STORE_EIO = -1,      /* a system call failed: fatal */
    STORE_ECORRUPT = -2, /* damaged files: fatal, needs an operator */
    STORE_EINVAL = -3,   /* bad argument or call out of order */
    STORE_ENOENT = -4,   /* no snapshot of that index (any more) */
};

/* 64 MiB: a log segment is closed at the first batch that would cross it. */
#define STORE_SEGMENT_BYTES (64u << 20)

/* What store_open found on disk. */
struct store_state {
    uint64_t term; /* current term and vote (0 if none) */
    uint64_t vote;
    bool has_snapshot;
    struct raft_snapshot_meta snapshot;
    uint8_t *snapshot_data; /* the state machine's bytes, malloc'd */
    size_t snapshot_len;
    /* The entries after the snapshot, consecutive from snapshot.index + 1
     * (or 1); each data malloc'd, NULL when len is 0. */
    struct raft_entry *entries;
    size_t n_entries;
    /* Non-empty when recovery cut a torn tail (the last, unacknowledged
     * write) or dropped a half-created segment: what it did, for the log. */
    char repaired[256];
};

/* Frees what store_open put into st. Accepts a zeroed st; idempotent. */
void store_state_close(struct store_state *st);

struct store; /* opaque */

/* Allocates a store for directory dir (copied); no I/O. segment_bytes is the
 * size at which a segment is closed, 0 for STORE_SEGMENT_BYTES. Aborts on
 * out-of-memory. */
struct store *store_new(const char *dir, uint64_t segment_bytes);

/* Closes the files and frees s. Anything buffered and not synced is lost.
 * Precondition: no batch in flight. Accepts NULL. */
void store_free(struct store *s);

/* A message saying what the last failure was ("" if none). */
const char *store_errmsg(const struct store *s);

/* Creates the directory if missing (not its parents), removes leftover *.tmp
 * files, recovers the log and the latest snapshot, and fills *st (zeroed
 * first; release it with store_state_close). A torn tail of the last segment
 * is cut off and reported in st->repaired. Returns STORE_ECORRUPT, naming the
 * file and byte offset, for damage that would lose acknowledged data: a bad
 * record in any segment but the last, a bad record in the last one followed
 * by a later batch, a gap in the segment numbers, a bad snapshot file.
 * STORE_EIO for a failed system call. Call once, before anything else. */
int store_open(struct store *s, struct store_state *st);

/* Buffers the hard state (term, vote), to be written by the next sync as one
 * record so that both change together. */
int store_set_hard_state(struct store *s, uint64_t term, uint64_t vote);

/* Buffers n entries (copied now), to be written by the next sync. When
 * entries[0].index is not past the last entry appended (buffered or
 * durable), a truncate record first drops the stored entries from that index
 * on. STORE_EINVAL if the entries are not consecutive, would leave a gap, go
 * back into the snapshot or have a payload over LOGFMT_MAX_LEN. */
int store_append(struct store *s, const struct raft_entry *entries, size_t n);

/* Index of the last entry appended, buffered or durable (the snapshot's
 * index after store_recv_finish, 0 when the log is empty). */
uint64_t store_last_index(const struct store *s);

/* Starts a batch: takes everything buffered as the batch in flight and
 * starts a new buffer. Returns false if nothing is buffered (or after a fatal
 * error: store_sync_end is then not called). */
bool store_sync_begin(struct store *s);

/* Whether the batch in flight starts a new segment (a rename or a create,
 * and a sync of the directory besides the batch's own). */
bool store_sync_creates(const struct store *s);

/* Writes the batch in flight with one writev and makes it durable with one
 * fdatasync, first creating a new segment when the current one is full. For
 * a worker thread: it touches nothing the other functions use. */
void store_sync_run(struct store *s);

/* Ends the batch in flight: 0 when it is durable, STORE_EIO otherwise. */
int store_sync_end(struct store *s);

/* Begin, run and end on the calling thread; 0 if there was nothing to do. */
int store_sync(struct store *s);

/* The spare: the next segment's file, written ahead in zeros so that the
 * batches' fdatasyncs write data and no metadata (store.c). In three parts
 * like a sync, and beside it:
 *     main: store_spare_begin()   true if a spare is wanted now
 *   worker: store_spare_run()     writes and fdatasyncs the zeros
 *     main: store_spare_end()     NULL, or why it failed
 * A failure is not fatal (no data is in the spare): the log goes on in a
 * segment that grows, and the next spare is tried at the next segment.
 * store_spare_cancel (any thread) makes a run under way stop soon and fail;
 * store_free needs no run under way. */
bool store_spare_begin(struct store *s);
/* Whether the segment being written holds at least per_mille thousandths
 * of the size it was made with (always, for a segment that grows): an
 * owner may wait for that before it begins the next spare. */
bool store_spare_due(const struct store *s, unsigned per_mille);
void store_spare_run(struct store *s);
const char *store_spare_end(struct store *s);
void store_spare_cancel(struct store *s);

/* Writes a snapshot of the state machine at meta (taken from
 * raft_snapshot_meta) holding len bytes of data: a temporary file, fsync,
 * rename, fsync of the directory. Then deletes the older snapshots and the
 * log segments (never the current one) whose entries all lie before
 * meta->index (the entry at meta->index stays, for recovery to check the log
 * against). STORE_EINVAL unless meta->index is past the current
 * snapshot. */
int store_snapshot_write(struct store *s, const struct raft_snapshot_meta *meta,
                         const void *data, size_t len);

/* The same in three parts, so that the slow one can run on a worker thread
 * (as for a sync): begin (main thread) checks meta and prepares the job,
 * run (worker) writes the file, fsyncs, renames it and fsyncs the
 * directory, end (main thread) makes it the current snapshot and deletes
 * the files it covers. data must stay valid until end. Meanwhile the main
 * thread may call anything but store_free; if a snapshot received from a
 * leader was installed in between, end discards this older one and returns
 * 0. begin returns STORE_EINVAL unless meta->index is past the current
 * snapshot; end returns STORE_EIO if the write failed (fatal, like a failed
 * sync). */
struct store_snap_job {
    int dirfd;
    uint64_t index;
    uint8_t head[2048 + 64];
    size_t hlen;
    const void *data;
    size_t len;
    uint8_t tail[4];
    char tmp[56];
    char name[52];
    uint64_t size; /* of the whole file */
    int fd;
    int err; /* errno of the failure, 0 if none */
    const char *what;
};
int store_snapshot_begin(struct store *s, const struct raft_snapshot_meta *meta,
                         const void *data, size_t len,
                         struct store_snap_job *job);
void store_snapshot_run(struct store_snap_job *job);
int store_snapshot_end(struct store *s, struct store_snap_job *job);

/* For a job whose run was made by another process (a child forked to write
 * the snapshot, which ran begin and run on its copy of the store): j was
 * filled by begin here (data may be NULL), err, what and size are what the
 * run reported (what must stay valid until end). Opens the file written so
 * that end can install it; then call store_snapshot_end as usual. */
void store_snapshot_ran(struct store_snap_job *j, int err, const char *what,
                        uint64_t size);

/* Index of the current snapshot, 0 if none. */
uint64_t store_snapshot_index(const struct store *s);

/* Reads up to cap bytes at offset of the current snapshot's file (what a
 * leader sends in chunks): *n bytes read, *last set when they reach the end.
 * STORE_ENOENT if the current snapshot is not that index (drop the message),
 * STORE_EINVAL if offset is past the end. */
int store_snapshot_read(struct store *s, uint64_t index, uint64_t offset,
                        void *buf, size_t cap, size_t *n, bool *last);

/* Starts receiving the file of snapshot (index, term) from the leader,
 * dropping any partly received one. */
int store_recv_begin(struct store *s, uint64_t index, uint64_t term);

/* Writes one received chunk. Chunks must come in order: offset equal to the
 * bytes received so far, or 0 to start over. STORE_EINVAL otherwise or
 * without store_recv_begin. */
int store_recv_chunk(struct store *s, uint64_t offset, const void *data,
                     size_t len);

/* Installs the received snapshot: checks the file (CRC, and that its header
 * matches meta), makes it durable and current, replaces the log by an empty
 * one that starts after meta->index (dropping the entries buffered so far,
 * keeping the hard state) and deletes the older files. Then hands the state
 * machine's bytes to the caller: *data (malloc'd, the caller frees it) and
 * *len. STORE_EINVAL if the file does not check out (it is dropped: start
 * over with store_recv_begin), without a matching store_recv_begin,
 * for a snapshot not past the current one, or with a batch in flight. */
int store_recv_finish(struct store *s, const struct raft_snapshot_meta *meta,
                      uint8_t **data, size_t *len);

#endif
