/* store_internal.h - what store.c (writing) and recovery.c (store_open)
 * share: the store's state and the file helpers both use. Private to the two;
 * the interface is store.h. */
#ifndef DLOCK_STORE_INTERNAL_H
#define DLOCK_STORE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "raft/logfmt.h"
#include "raft/raft.h"
#include "store/store.h"

/* Room for a file name of the data directory, NUL included. */
#define STORE_NAME_LEN 48

struct wbuf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

/* A log segment on disk. Each begins with a hard state record (or holds no
 * records at all), so dropping the ones before it never loses the latest. */
struct seg {
    uint64_t seq;
    uint64_t last_index; /* highest entry index written in it, 0 if none */
};

/* The batch in flight. Between begin and end it and the segment's fd belong
 * to store_sync_run, so that it can run on another thread. */
struct batch {
    struct wbuf recs;
    uint8_t head[LOGFMT_SEG_HEADER + LOGFMT_HEADER];
    size_t head_len;     /* a new segment's header and hard state, or 0 */
    uint64_t seq;        /* the segment written */
    bool create;         /* create it first (header and hard state) */
    int spare_fd;        /* creating it: the spare to rename, or -1 */
    uint64_t spare_size; /* and that spare's size */
    uint64_t last_index; /* highest entry index in recs, 0 if none */
    int rc;
    char err[256];
};

struct store {
    char *dir;
    int dirfd;
    uint64_t seg_max;
    int fatal; /* the sticky STORE_EIO or STORE_ECORRUPT, or 0 */
    char errmsg[512];

    /* The log. segs[n_segs-1] is the segment being written, seg_fd. */
    struct seg *segs;
    size_t n_segs;
    int seg_fd;
    uint64_t seg_size;
    uint64_t seg_cap; /* its size in zeros when it was a spare, 0 if none */
    bool rotate;      /* the next batch starts a new segment */
    uint64_t batch_next;
    struct wbuf buf;         /* records of the next batch */
    uint64_t buf_last_index; /* highest entry index in buf */
    uint64_t last_index;     /* last entry appended */
    uint64_t term, vote;     /* the latest hard state set */
    bool in_flight;
    struct batch flight;

    /* The spare: the next segment's file, made ahead in zeros (store.c).
     * While preparing, spare_fd, spare_size and spare_err belong to
     * store_spare_run; spare_cancel may be set from the main thread. */
    enum { SPARE_NONE, SPARE_PREPARING, SPARE_READY, SPARE_FAILED } spare;
    int spare_fd;
    uint64_t spare_size;
    atomic_bool spare_cancel;
    char spare_err[256];

    /* The current snapshot. */
    int snap_fd;
    uint64_t snap_index, snap_size;

    /* A snapshot being received. */
    int recv_fd;
    uint64_t recv_index, recv_term, recv_off;
};

/* The system calls that write and sync the store's files, all made through
 * this table so that a test can make one fail (tests/unit/
 * test_store_faults.c). It holds the real calls; the server never changes
 * it. Not locked: set it only while no batch is in flight. */
struct store_io {
    ssize_t (*writev)(int fd, const struct iovec *iov, int cnt);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*renameat)(int olddirfd, const char *oldpath, int newdirfd,
                    const char *newpath);
};

extern struct store_io store_io;

/* Records the failure in s's message and returns code; STORE_EIO and
 * STORE_ECORRUPT stick (s->fatal). Once one has, it is what every failure
 * returns, and its message stays: the first fatal error is the one to
 * report. */
__attribute__((format(printf, 3, 4))) int store_fail(struct store *s, int code,
                                                     const char *fmt, ...);

/* Writes the file name of segment seq into out (STORE_NAME_LEN bytes). */
void store_seg_name(char *out, uint64_t seq);

/* Writes the file name of the snapshot of index into out (STORE_NAME_LEN
 * bytes). */
void store_snap_name(char *out, uint64_t index);

/* Reads the whole file behind fd into a malloc'd *buf; -1 with errno. */
int store_read_fd(int fd, uint8_t **buf, size_t *len);

/* Fsyncs the data directory; STORE_EIO on failure. */
int store_sync_dir(struct store *s);

/* Unlinks name (if present) and makes that durable, so that files disappear
 * in order; STORE_EIO on failure. */
int store_remove_file(struct store *s, const char *name);
/* Writes the cnt buffers of iov at fd's position in paced, fdatasynced
 * chunks so that a large file does not stall the log's syncs (store.c has
 * the why); stops with ECANCELED once *cancel is set (cancel may be NULL).
 * 0, or -1 with errno and *what naming the call that failed. */
int store_write_paced(int fd, const struct iovec *iov, int cnt,
                      atomic_bool *cancel, const char **what);
/* Reads len bytes at off from fd whole. 0 or -1 with errno. */
int store_pread_all(int fd, void *buf, size_t len, uint64_t off);
/* Deletes the log segments wholly before index, keeping the one that holds
 * the entry at index. 0 or an error (store_fail). */
int store_compact(struct store *s, uint64_t index);
/* Starts the log again after the snapshot of index just installed: the
 * next sync writes a new segment with a truncate record. */
void store_log_restart(struct store *s, uint64_t index);

/* Checks a whole snapshot file (n bytes at b); fills *meta and *data_off,
 * where the state machine's bytes start (they end 4 bytes before the end).
 * Returns NULL, or what is wrong for a message. */
const char *store_snap_parse(const uint8_t *b, size_t n,
                             struct raft_snapshot_meta *meta, size_t *data_off);

#endif
