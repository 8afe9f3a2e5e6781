/* node_disk.c - the node's persistence: updates go into the store's buffer,
 * one batch at a time is written and fsynced (group commit: every update
 * buffered meanwhile rides the next batch; on the loop when the disk is
 * fast, on a libuv worker thread when it is slow; the leader gathers a
 * batch briefly, docs/design.md §3), snapshots received from a leader are
 * installed, and the node snapshots its own state every
 * cfg->snapshot_entries entries. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mem.h"
#include "server/logger.h"
#include "server/node_internal.h"
#include "server/peer.h"
#include "store/store.h"

#define SNAPSHOT_TRAILING 5000
#define GATHER_MAX_NS 200000       /* 0.2 ms */
#define INLINE_SYNC_MAX_NS 1000000 /* 1 ms */
#define SLOW_SYNC_NS 5000000       /* logged from 5 ms */

/* A fatal storage error: a dead replica is safe, one that carries on after
 * a failed fsync is not. */
static void fatal(struct node *n, const char *what)
{
    log_error("%s: %s; stopping", what, store_errmsg(n->store));
    exit(2);
}

static void install(struct node *n, const struct raft_snapshot_meta *meta)
{
    uint8_t *data;
    size_t len;
    if (store_recv_finish(n->store, meta, &data, &len) != 0)
        fatal(n, "installing a received snapshot");
    if (replica_restore(n->rep, data, len, meta->index) != 0) {
        log_error("the snapshot received at %" PRIu64 " does not restore",
                  meta->index);
        exit(2);
    }
    free(data);
    n->last_snapshot = meta->index;
    log_info("installed the leader's snapshot at %" PRIu64, meta->index);
}

static void apply_one(struct node *n, const struct raft_persist *d)
{
    if (d->hs_changed && store_set_hard_state(n->store, d->term, d->vote) != 0)
        fatal(n, "storing term and vote");
    if (d->chunk) {
        if (d->chunk_offset == 0 &&
            store_recv_begin(n->store, d->chunk_index, d->chunk_term) != 0)
            fatal(n, "receiving a snapshot");
        if (store_recv_chunk(n->store, d->chunk_offset, d->chunk_data,
                             d->chunk_len) != 0)
            fatal(n, "receiving a snapshot");
        if (d->chunk_last)
            install(n, &d->chunk_meta);
    }
    if (d->n_entries > 0 &&
        store_append(n->store, d->entries, d->n_entries) != 0)
        fatal(n, "appending to the log");
    n->buffered_entries += d->n_entries;
    n->buffered_seq = d->seq;
}

/* Holds a copy of p until the store is idle (raft_persist_copy). */
static void defer(struct node *n, const struct raft_persist *p)
{
    if (n->n_deferred == n->cap_deferred) {
        n->cap_deferred = n->cap_deferred ? 2 * n->cap_deferred : 8;
        n->deferred =
            mem_xrealloc(n->deferred, n->cap_deferred * sizeof *n->deferred);
    }
    raft_persist_copy(&n->deferred[n->n_deferred++], p);
}

void node_disk_persist(struct node *n, const struct raft_update *u)
{
    const struct raft_persist *p = &u->persist;
    if (p->seq == 0)
        return;
    /* An install needs the store idle, and nothing may overtake it. */
    if (n->n_deferred > 0 || (p->chunk && p->chunk_last && n->syncing)) {
        defer(n, p);
        return;
    }
    apply_one(n, p);
}

void node_disk_free_deferred(struct node *n)
{
    for (size_t i = 0; i < n->n_deferred; i++)
        raft_persist_free(&n->deferred[i]);
    free(n->deferred);
    n->deferred = NULL;
    n->n_deferred = n->cap_deferred = 0;
}

static void run_deferred(struct node *n)
{
    for (size_t i = 0; i < n->n_deferred; i++) {
        apply_one(n, &n->deferred[i]);
        raft_persist_free(&n->deferred[i]);
    }
    n->n_deferred = 0;
}

/* Writes and fsyncs the batch, timing it (on whichever thread runs it). */
static void sync_run(struct node *n)
{
    uint64_t t0 = uv_hrtime();
    store_sync_run(n->store);
    n->sync_ns = uv_hrtime() - t0;
}

static void work_cb(uv_work_t *req)
{
    sync_run(req->data);
}

static void after_work_cb(uv_work_t *req, int status)
{
    struct node *n = req->data;
    /* A moving average of the batches' write and fsync time, weight 1/8,
     * that a slow batch raises at once: one stall is enough to move the
     * next batches off the loop, and a few fast ones bring them back. A
     * batch that starts a segment (a rename and a sync of the directory
     * besides its own), or that was synced while the next segment was
     * being written ahead (chunks of it queued on the disk), measures this
     * server's own extra work, not the disk: it is not counted. */
    if (n->batch_untimed)
        ;
    else if (n->sync_ns >= INLINE_SYNC_MAX_NS)
        n->sync_avg_ns = n->sync_ns;
    else
        n->sync_avg_ns = n->sync_avg_ns - n->sync_avg_ns / 8 + n->sync_ns / 8;
    n->syncing = false;
    n->open_handles--;
    if (n->sync_ns >= SLOW_SYNC_NS)
        log_info("slow log sync: %" PRIu64 " ms for %" PRIu64 " entries",
                 n->sync_ns / 1000000, n->batch_entries);
    if (store_sync_end(n->store) != 0)
        fatal(n, "writing the log");
    n->reported_seq = n->batch_seq;
    n->syncs++;
    n->entries_synced += n->batch_entries;
    raft_persisted(n->raft, n->batch_seq);
    run_deferred(n);
    node_kick(n);
}

static void on_gather(uv_poll_t *h, int status, int events)
{
    struct node *n = h->data;
    uint64_t expirations;
    (void)status, (void)events;
    if (read(n->gather_fd, &expirations, sizeof expirations) < 0 &&
        errno != EAGAIN)
        log_warn("timerfd: %s", strerror(errno));
    n->gather_armed = false;
    node_kick(n);
}

static void gather_wake_in(struct node *n, uint64_t ns)
{
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(ns / 1000000000u),
                                          .tv_nsec = (long)(ns % 1000000000u)}};
    timerfd_settime(n->gather_fd, 0, &its, NULL);
}

void node_disk_init_gather(struct node *n)
{
    /* Watched all the time: a disarmed timerfd never becomes readable. */
    uv_poll_start(&n->gather_poll, UV_READABLE, on_gather);
}

/* Group commit, gathering: the batch that just ended answered clients that
 * mostly send again within a round trip. Started at once, the next batch
 * would take only the proposals that came during the last fsync and the
 * first few of those clients; the rest would wait a whole fsync for the
 * batch after, and the clients would settle into two cohorts that each wait
 * two fsyncs. So the next batch waits until the proposals made since the
 * last one started reach those then pending plus three quarters of the
 * clients answered, for at most GATHER_MAX_NS (a timerfd wakes the loop
 * then: libuv's timers count whole milliseconds). With one client at a time
 * nothing waits. */
static bool gathering(struct node *n)
{
    if (n->gather_target == 0) {
        if (n->answered < 2)
            return false;
        n->gather_target = n->proposed + n->answered * 3 / 4;
        n->gather_since = uv_hrtime();
    }
    uint64_t waited = uv_hrtime() - n->gather_since;
    if (n->proposed >= n->gather_target || waited >= GATHER_MAX_NS)
        return false;
    if (!n->gather_armed) {
        gather_wake_in(n, GATHER_MAX_NS - waited);
        n->gather_armed = true;
    }
    return true;
}

static void spare_work_cb(uv_work_t *req)
{
    struct node *n = req->data;
    store_spare_run(n->store);
}

static void spare_after_cb(uv_work_t *req, int status)
{
    struct node *n = req->data;
    (void)status;
    n->sparing = false;
    n->open_handles--;
    const char *err = store_spare_end(n->store);
    if (err != NULL && !n->stopping)
        log_warn("making the next log segment ahead: %s; the log goes on in "
                 "a segment that grows",
                 err);
    node_stop_progress(n);
}

/* Makes the next log segment ahead when the store wants one (store.h). */
static void spare_start(struct node *n)
{
    if (n->sparing || n->stopping || !store_spare_begin(n->store))
        return;
    n->sparing = true;
    n->open_handles++;
    n->spare_work.data = n;
    if (uv_queue_work(n->loop, &n->spare_work, spare_work_cb, spare_after_cb) !=
        0) {
        log_error("cannot queue the making of a log segment");
        exit(2);
    }
}

void node_disk_cancel_spare(struct node *n)
{
    if (n->sparing)
        store_spare_cancel(n->store);
}

bool node_disk_inline(const struct node *n)
{
    return n->sync_avg_ns < INLINE_SYNC_MAX_NS;
}

void node_disk_start(struct node *n)
{
    spare_start(n);
    n->gathering = false;
    if (n->syncing || n->buffered_seq <= n->reported_seq || n->closed)
        return;
    if (raft_role(n->raft) == RAFT_LEADER && gathering(n)) {
        n->gathering = true;
        return;
    }
    /* The followers get the batch before the leader syncs it. */
    peers_cork(n->peers, false);
    n->answered = n->proposed = n->gather_target = 0;
    if (!store_sync_begin(n->store)) {
        /* Nothing to write (an install made it durable already). */
        n->buffered_entries = 0;
        n->reported_seq = n->buffered_seq;
        raft_persisted(n->raft, n->buffered_seq);
        return;
    }
    n->batch_seq = n->buffered_seq;
    n->batch_untimed = n->sparing || store_sync_creates(n->store);
    n->batch_entries = n->buffered_entries;
    n->buffered_entries = 0;
    n->syncing = true;
    n->open_handles++;
    n->work.data = n;
    /* A fast disk is synced on the loop: two thread hand-offs cost more
     * than the fsync itself, and while the loop waits, the requests that
     * arrive queue up for the next batch. A slow one on a worker thread,
     * so that heartbeats and answers go on meanwhile. */
    if (node_disk_inline(n)) {
        sync_run(n);
        after_work_cb(&n->work, 0);
        return;
    }
    if (uv_queue_work(n->loop, &n->work, work_cb, after_work_cb) != 0) {
        log_error("cannot queue the log write");
        exit(2);
    }
}

bool node_disk_fill_chunk(struct node *n, struct raft_msg *m)
{
    size_t got;
    bool last;
    if (m->len > n->chunk_cap) {
        n->chunk_buf = mem_xrealloc(n->chunk_buf, m->len);
        n->chunk_cap = m->len;
    }
    if (store_snapshot_read(n->store, m->index, m->offset, n->chunk_buf, m->len,
                            &got, &last) != 0)
        return false; /* not that snapshot any more: the leader restarts */
    m->data = n->chunk_buf;
    m->len = (uint32_t)got;
    m->last = last;
    return true;
}

/* What the snapshot's child process reports on its pipe. */
struct snap_report {
    int err; /* errno of the failure, 0 if written */
    char what[48];
    uint64_t size; /* of the file */
    uint64_t len;  /* of the state machine's bytes */
    uint64_t taken_ns;
};

/* Closes every descriptor from 3 up but a and b. */
static void keep_fds(int a, int b)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;
    if (lo > 3)
        close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1)
        close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0u, 0);
}

/* The child: a copy-on-write image of the server at the snapshot's index.
 * It keeps only its pipe and the data directory's lock (every other
 * descriptor is closed, so that a socket the server closes is not held open
 * here; the lock stays held until the last of the two processes ends, so
 * that no other server can start on the directory while this one still
 * writes into it), dies with the server,
 * serialises the state machine, writes the file as a worker thread would
 * and reports. It calls nothing of libuv's and logs nothing. */
static void snap_child(struct node *n, int wfd, pid_t parent)
{
    struct snap_report rep = {0};
    struct store_snap_job job;
    uint8_t *buf = NULL;
    size_t len = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    keep_fds(wfd, n->datadir.held ? n->datadir.lock_fd : wfd);
    uint64_t t0 = uv_hrtime();
    int dirfd = open(n->cfg->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        rep.err = errno;
        snprintf(rep.what, sizeof rep.what, "open the directory");
    } else if (fsm_snapshot(replica_fsm(n->rep), &buf, &len) != 0) {
        rep.err = ENOMEM;
        snprintf(rep.what, sizeof rep.what, "serialise the state");
    } else if (store_snapshot_begin(n->store, &n->snap_meta, buf, len, &job) !=
               0) {
        rep.err = EINVAL;
        snprintf(rep.what, sizeof rep.what, "begin");
    } else {
        rep.taken_ns = uv_hrtime() - t0;
        job.dirfd = dirfd;
        store_snapshot_run(&job);
        rep.err = job.err;
        snprintf(rep.what, sizeof rep.what, "%s", job.err ? job.what : "");
        rep.size = job.size;
        rep.len = len;
    }
    ssize_t w = write(wfd, &rep, sizeof rep);
    _exit(w == (ssize_t)sizeof rep ? 0 : 1);
}

static void snap_closed(uv_handle_t *h)
{
    struct node *n = h->data;
    close(n->snap_fd);
    n->snap_fd = -1;
    n->snapshotting = false;
    n->open_handles--;
    node_stop_progress(n);
    node_kick(n);
}

/* The child's report (or its end): the snapshot is installed as the
 * current one and the log compacted, as for one written on a thread. */
static void on_snap_child(uv_poll_t *h, int status, int events)
{
    struct node *n = h->data;
    struct snap_report rep = {0};
    (void)status, (void)events;
    ssize_t r = read(n->snap_fd, &rep, sizeof rep);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    uv_poll_stop(h);
    int wstatus = 0;
    while (waitpid(n->snap_pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    n->snap_pid = 0;
    uv_close((uv_handle_t *)h, snap_closed);
    if (r != (ssize_t)sizeof rep) {
        /* Killed (out of memory, say): no disk error. The next one may
         * do better; the log is kept until then. */
        log_error("the snapshot at %" PRIu64 " was not written: its process "
                  "ended (status %d)",
                  n->snap_meta.index, wstatus);
        return;
    }
    snprintf(n->snap_what, sizeof n->snap_what, "%s", rep.what);
    store_snapshot_ran(&n->snap_job, rep.err, n->snap_what, rep.size);
    if (store_snapshot_end(n->store, &n->snap_job) != 0)
        fatal(n, "writing a snapshot");
    uint64_t index = n->snap_meta.index;
    /* An install from a leader may have moved past it meanwhile. */
    if (index > raft_snapshot_index(n->raft))
        raft_compact(n->raft, index, SNAPSHOT_TRAILING);
    log_info("snapshot at %" PRIu64 ": %" PRIu64 " bytes in %" PRIu64
             " ms (the loop held for %" PRIu64 " ms, serialised in %" PRIu64
             " ms)",
             index, rep.len, (uv_hrtime() - n->snap_started) / 1000000,
             n->snap_taken_ns / 1000000, rep.taken_ns / 1000000);
}

/* Every cfg->snapshot_entries entries the state is snapshotted without
 * holding up the loop: a child process forked here holds a copy-on-write
 * image of it, consistent at the applied index, and serialises and writes
 * it (as Redis does); the loop stops only for the fork. Once the file is
 * durable the log is compacted. */
void node_disk_snapshot(struct node *n)
{
    uint64_t applied = raft_applied_index(n->raft);
    /* Not while a follower is being sent the current snapshot: a new one
     * would restart its transfer, and with frequent snapshots it could
     * never finish. */
    if (applied < n->last_snapshot + n->cfg->snapshot_entries ||
        n->n_deferred > 0 || n->snapshotting || n->closed ||
        raft_sending_snapshot(n->raft))
        return;
    if (raft_snapshot_meta(n->raft, applied, &n->snap_meta) != 0)
        return;
    /* The names and checks here; the child fills in the data. */
    if (store_snapshot_begin(n->store, &n->snap_meta, NULL, 0, &n->snap_job) !=
        0) {
        n->last_snapshot = applied; /* not past the current one: skip it */
        return;
    }
    n->last_snapshot = applied;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("cannot snapshot: pipe: %s", strerror(errno));
        return;
    }
    n->snap_started = uv_hrtime();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        snap_child(n, p[1], parent);
    n->snap_taken_ns = uv_hrtime() - n->snap_started;
    close(p[1]);
    if (pid < 0) {
        log_error("cannot snapshot: fork: %s", strerror(errno));
        close(p[0]);
        return;
    }
    n->snap_pid = pid;
    n->snap_fd = p[0];
    n->snapshotting = true;
    n->open_handles++;
    uv_poll_init(n->loop, &n->snap_poll, p[0]);
    n->snap_poll.data = n;
    uv_poll_start(&n->snap_poll, UV_READABLE, on_snap_child);
}
