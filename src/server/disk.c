/* disk.c - a server's persistence on the loop (disk.h): updates go into
 * the store's buffer, one batch at a time is written and fsynced (group
 * commit: every update buffered meanwhile rides the next batch; on the loop
 * when the disk is fast, on a libuv worker thread when it is slow; the
 * leader gathers a batch briefly, docs/design.md §3), snapshots received
 * from a leader are installed, and the state is snapshotted every
 * cfg.snapshot_entries entries by a forked child. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/hist.h"
#include "common/mem.h"
#include "raft/logfmt.h"
#include "server/disk.h"
#include "server/logger.h"

#define SNAPSHOT_TRAILING 5000
/* The log before a snapshot is dropped COMPACT_STEP entries at a time, at
 * most one step every COMPACT_GAP_NS: freeing 100,000 entries at once held
 * the loop for 5-8 ms, and in steps on every pass over Raft's updates
 * still took 6 ms of the 20 ms after a snapshot. 2048 take about 0.2 ms. */
#define COMPACT_STEP 2048
#define COMPACT_GAP_NS 1000000
#define GATHER_MAX_NS 200000 /* 0.2 ms */
#define GATHER_SCORE_MAX 1024
#define GATHER_PROBE 32
#define INLINE_SYNC_MAX_NS 1000000 /* 1 ms */
#define SLOW_SYNC_NS 5000000       /* logged from 5 ms */

struct disk {
    uv_loop_t *loop;
    struct disk_config cfg;
    char *data;
    struct raft *raft;
    struct replica *rep;
    struct store *store;
    struct disk_cbs cbs;
    void *arg;
    bool stopping; /* no segment is made ahead any more */
    bool closed;   /* nothing starts any more */

    /* The batch in flight, and what is buffered for the next. */
    uv_work_t work;
    bool syncing;
    uint64_t buffered_seq;  /* highest update seq handed to the store */
    uint64_t reported_seq;  /* highest seq reported persisted */
    uint64_t batch_seq;     /* highest seq in the batch in flight */
    uint64_t batch_entries; /* entries in the batch in flight */
    bool batch_untimed;     /* its time is not the disk's (after_work_cb) */
    uint64_t buffered_entries;
    uint64_t buffered_first, buffered_last; /* their indexes, 0: none */
    /* The last batches, a ring, for traces (disk_batch_of). */
    struct {
        uint64_t first, last; /* the entries' indexes */
        uint64_t write_ns, synced_ns;
        uint32_t entries;
    } batches[DISK_BATCHES_KEPT];
    unsigned n_batches;   /* ever started */
    uint64_t sync_ns;     /* how long the last batch took to write */
    uint64_t sync_avg_ns; /* a moving average of it */
    uint64_t syncs;       /* batches synced, for INFO */
    uint64_t entries_synced;
    struct hist sync_us; /* each batch's write and fsync, timed or not */
    struct hist batch_entries_hist; /* entries in each batch */
    uint64_t bytes_appended;        /* log records handed to the store */
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    struct raft_persist *deferred; /* an update's persistence, copied
                                      because it waits for the batch in
                                      flight (a snapshot install needs the
                                      store idle; what follows waits behind
                                      it, in order) */
    size_t n_deferred, cap_deferred;

    /* Gathering the next batch (gathering()): client proposals answered
     * since the batch in flight started, proposals made since then, how
     * many to wait for (0: not waiting) and since when. */
    uint32_t answered;
    uint32_t proposed;
    uint32_t gather_target;
    uint32_t gather_score;   /* how often they came back (gathering()) */
    uint32_t gather_skipped; /* batches not gathered since the last */
    uint64_t gather_since;
    int gather_fd;         /* a timerfd: libuv's timers count whole ms */
    bool gather_armed;     /* it is set to wake the loop */
    bool gathering;        /* the next batch waits, and so do its entries */
    uv_poll_t gather_poll; /* its readability wakes the loop */
    void (*close_done)(void *arg);
    void *close_arg;

    /* The next log segment, made ahead on a worker. */
    bool sparing;
    uint64_t spare_started;
    uv_work_t spare_work;

    /* Snapshots: taken by a child process, sent in chunks. */
    uint64_t last_snapshot;
    uint64_t compacting;   /* the snapshot whose log is being dropped, 0:
                              none (compact_some) */
    uint64_t compacted_ns; /* when the last step of it was */
    bool snapshotting;     /* a child process is writing a snapshot */
    pid_t snap_pid;
    int snap_fd;         /* the read end of its pipe */
    uv_poll_t snap_poll; /* on it */
    char snap_what[48];
    struct store_snap_job snap_job;
    struct raft_snapshot_meta snap_meta;
    uint64_t snap_started;
    uint64_t snap_taken_ns; /* the loop held for the fork */
    uint8_t *chunk_buf;
    size_t chunk_cap;
};

/* A fatal storage error: a dead replica is safe, one that carries on after
 * a failed fsync is not. */
static void fatal(struct disk *d, const char *what)
{
    log_error("%s: %s; stopping", what, store_errmsg(d->store));
    exit(2);
}

static void install(struct disk *d, const struct raft_snapshot_meta *meta)
{
    uint8_t *data;
    size_t len;
    if (store_recv_finish(d->store, meta, &data, &len) != 0)
        fatal(d, "installing a received snapshot");
    if (replica_restore(d->rep, data, len, meta->index) != 0) {
        log_error("the snapshot received at %" PRIu64 " does not restore",
                  meta->index);
        exit(2);
    }
    free(data);
    d->last_snapshot = meta->index;
    d->snapshots_installed++;
    log_info("installed the leader's snapshot at %" PRIu64, meta->index);
}

static void apply_one(struct disk *d, const struct raft_persist *p)
{
    if (p->hs_changed && store_set_hard_state(d->store, p->term, p->vote) != 0)
        fatal(d, "storing term and vote");
    if (p->chunk) {
        if (p->chunk_offset == 0 &&
            store_recv_begin(d->store, p->chunk_index, p->chunk_term) != 0)
            fatal(d, "receiving a snapshot");
        if (store_recv_chunk(d->store, p->chunk_offset, p->chunk_data,
                             p->chunk_len) != 0)
            fatal(d, "receiving a snapshot");
        if (p->chunk_last)
            install(d, &p->chunk_meta);
    }
    if (p->n_entries > 0 &&
        store_append(d->store, p->entries, p->n_entries) != 0)
        fatal(d, "appending to the log");
    for (size_t i = 0; i < p->n_entries; i++)
        d->bytes_appended += logfmt_size(p->entries[i].len);
    if (p->n_entries > 0) {
        if (d->buffered_first == 0)
            d->buffered_first = p->entries[0].index;
        d->buffered_last = p->entries[p->n_entries - 1].index;
    }
    d->buffered_entries += p->n_entries;
    d->buffered_seq = p->seq;
}

/* Holds a copy of p until the store is idle (raft_persist_copy). */
static void defer(struct disk *d, const struct raft_persist *p)
{
    if (d->n_deferred == d->cap_deferred) {
        d->cap_deferred = d->cap_deferred ? 2 * d->cap_deferred : 8;
        d->deferred =
            mem_xrealloc(d->deferred, d->cap_deferred * sizeof *d->deferred);
    }
    raft_persist_copy(&d->deferred[d->n_deferred++], p);
}

void disk_persist(struct disk *d, const struct raft_update *u)
{
    const struct raft_persist *p = &u->persist;
    if (p->seq == 0)
        return;
    /* An install needs the store idle, and nothing may overtake it. */
    if (d->n_deferred > 0 || (p->chunk && p->chunk_last && d->syncing)) {
        defer(d, p);
        return;
    }
    apply_one(d, p);
}

static void free_deferred(struct disk *d)
{
    for (size_t i = 0; i < d->n_deferred; i++)
        raft_persist_free(&d->deferred[i]);
    free(d->deferred);
    d->deferred = NULL;
    d->n_deferred = d->cap_deferred = 0;
}

static void run_deferred(struct disk *d)
{
    for (size_t i = 0; i < d->n_deferred; i++) {
        apply_one(d, &d->deferred[i]);
        raft_persist_free(&d->deferred[i]);
    }
    d->n_deferred = 0;
}

/* Writes and fsyncs the batch, timing it (on whichever thread runs it). */
static void sync_run(struct disk *d)
{
    uint64_t t0 = uv_hrtime();
    store_sync_run(d->store);
    d->sync_ns = uv_hrtime() - t0;
}

static void work_cb(uv_work_t *req)
{
    sync_run(req->data);
}

static void after_work_cb(uv_work_t *req, int status)
{
    struct disk *d = req->data;
    /* A moving average of the batches' write and fsync time, weight 1/8,
     * that a slow batch raises at once: one stall is enough to move the
     * next batches off the loop, and a few fast ones bring them back. A
     * batch that starts a segment (a rename and a sync of the directory
     * besides its own), or that was synced while the next segment was
     * being written ahead (chunks of it queued on the disk), measures this
     * server's own extra work, not the disk: it is not counted. */
    if (d->batch_untimed)
        ;
    else if (d->sync_ns >= INLINE_SYNC_MAX_NS)
        d->sync_avg_ns = d->sync_ns;
    else
        d->sync_avg_ns = d->sync_avg_ns - d->sync_avg_ns / 8 + d->sync_ns / 8;
    d->syncing = false;
    d->batches[(d->n_batches - 1) % DISK_BATCHES_KEPT].synced_ns = uv_hrtime();
    if (d->sync_ns >= SLOW_SYNC_NS)
        log_info("slow log sync: %" PRIu64 " ms for %" PRIu64 " entries",
                 d->sync_ns / 1000000, d->batch_entries);
    if (store_sync_end(d->store) != 0)
        fatal(d, "writing the log");
    d->reported_seq = d->batch_seq;
    d->syncs++;
    d->entries_synced += d->batch_entries;
    hist_observe(&d->sync_us, d->sync_ns / 1000);
    if (d->batch_entries > 0) /* not a sync of the term and vote alone */
        hist_observe(&d->batch_entries_hist, d->batch_entries);
    raft_persisted(d->raft, d->batch_seq);
    run_deferred(d);
    d->cbs.kick(d->arg);
}

static void on_gather(uv_poll_t *h, int status, int events)
{
    struct disk *d = h->data;
    uint64_t expirations;
    (void)status, (void)events;
    if (read(d->gather_fd, &expirations, sizeof expirations) < 0 &&
        errno != EAGAIN)
        log_warn("timerfd: %s", strerror(errno));
    d->gather_armed = false;
    d->cbs.kick(d->arg);
}

static void gather_wake_in(struct disk *d, uint64_t ns)
{
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(ns / 1000000000u),
                                          .tv_nsec = (long)(ns % 1000000000u)}};
    timerfd_settime(d->gather_fd, 0, &its, NULL);
}

void disk_watch(struct disk *d)
{
    /* Watched all the time: a disarmed timerfd never becomes readable. */
    uv_poll_start(&d->gather_poll, UV_READABLE, on_gather);
}

/* How long a batch may wait to gather: at most GATHER_MAX_NS, and never
 * longer than a sync takes (the moving average). A client answered by a
 * batch that comes too late for the next one waits for that one to end, a
 * whole sync: gathering longer than that saves nothing. */
static uint64_t gather_most(const struct disk *d)
{
    return d->sync_avg_ns < GATHER_MAX_NS ? d->sync_avg_ns : GATHER_MAX_NS;
}

/* Group commit, gathering: the batch that just ended answered clients that
 * mostly send again within a round trip. Started at once, the next batch
 * would take only the proposals that came during the last fsync and the
 * first few of those clients; the rest would wait a whole fsync for the
 * batch after, and the clients would settle into two cohorts that each wait
 * two fsyncs. So the next batch waits until the proposals made since the
 * last one started reach those then pending plus three quarters of the
 * clients answered, for at most gather_most (a timerfd wakes the loop
 * then: libuv's timers count whole milliseconds). With one client at a time
 * nothing waits. Clients that do not send again at once (a paced load,
 * each at its own time) make the gatherings run out instead: while fewer
 * than half of the recent ones ended with their clients back
 * (gather_score, a moving average out of GATHER_SCORE_MAX), one batch in
 * GATHER_PROBE gathers, to find out whether they have changed. */
static bool gathering(struct disk *d)
{
    uint64_t most = gather_most(d);
    if (d->gather_target == 0) {
        if (d->answered < 2 || most == 0)
            return false;
        if (d->gather_score < GATHER_SCORE_MAX / 2 &&
            ++d->gather_skipped < GATHER_PROBE)
            return false;
        d->gather_skipped = 0;
        d->gather_target = d->proposed + d->answered * 3 / 4;
        d->gather_since = uv_hrtime();
    }
    if (d->proposed >= d->gather_target) { /* they came back */
        d->gather_score += (GATHER_SCORE_MAX - d->gather_score) / 4;
        return false;
    }
    uint64_t waited = uv_hrtime() - d->gather_since;
    if (waited >= most) { /* they did not */
        d->gather_score -= d->gather_score / 4;
        return false;
    }
    if (!d->gather_armed) {
        gather_wake_in(d, most - waited);
        d->gather_armed = true;
    }
    return true;
}

static void spare_work_cb(uv_work_t *req)
{
    struct disk *d = req->data;
    store_spare_run(d->store);
}

static void spare_after_cb(uv_work_t *req, int status)
{
    struct disk *d = req->data;
    (void)status;
    d->sparing = false;
    const char *err = store_spare_end(d->store);
    if (err != NULL && !d->stopping)
        log_warn("making the next log segment ahead: %s; the log goes on in "
                 "a segment that grows",
                 err);
    else if (err == NULL)
        log_info("made the next log segment ahead in %" PRIu64 " ms",
                 (uv_hrtime() - d->spare_started) / 1000000);
    d->cbs.idle(d->arg);
}

/* Makes the next log segment ahead when the store wants one (store.h),
 * once the segment being written is filled to this server's share
 * (disk_spare_after): the servers of a cluster fill their segments at the
 * same log positions, and made at once, their spares (64 MiB of zeros
 * each) met on a shared disk and made every server's log syncs slow at
 * the same time. */
static void spare_start(struct disk *d)
{
    if (d->sparing || d->stopping || d->closed ||
        !store_spare_due(d->store, disk_spare_after(d->cfg.id)) ||
        !store_spare_begin(d->store))
        return;
    d->sparing = true;
    d->spare_started = uv_hrtime();
    d->spare_work.data = d;
    if (uv_queue_work(d->loop, &d->spare_work, spare_work_cb, spare_after_cb) !=
        0) {
        log_error("cannot queue the making of a log segment");
        exit(2);
    }
}

void disk_cancel_spare(struct disk *d)
{
    d->stopping = true;
    if (d->sparing)
        store_spare_cancel(d->store);
}

static bool sync_inline(const struct disk *d)
{
    return d->sync_avg_ns < INLINE_SYNC_MAX_NS;
}

void disk_start(struct disk *d)
{
    spare_start(d);
    d->gathering = false;
    if (d->syncing || d->buffered_seq <= d->reported_seq || d->closed)
        return;
    if (raft_role(d->raft) == RAFT_LEADER && gathering(d)) {
        d->gathering = true;
        return;
    }
    /* The followers get the batch before the leader syncs it. */
    d->cbs.before_write(d->arg);
    d->answered = d->proposed = d->gather_target = 0;
    if (!store_sync_begin(d->store)) {
        /* Nothing to write (an install made it durable already). */
        d->buffered_entries = 0;
        d->buffered_first = d->buffered_last = 0;
        d->reported_seq = d->buffered_seq;
        raft_persisted(d->raft, d->buffered_seq);
        return;
    }
    d->batch_seq = d->buffered_seq;
    d->batch_untimed = d->sparing || store_sync_creates(d->store);
    d->batch_entries = d->buffered_entries;
    unsigned slot = d->n_batches++ % DISK_BATCHES_KEPT;
    d->batches[slot].first = d->buffered_first;
    d->batches[slot].last = d->buffered_last;
    d->batches[slot].write_ns = uv_hrtime();
    d->batches[slot].synced_ns = 0;
    d->batches[slot].entries = (uint32_t)d->buffered_entries;
    d->buffered_entries = 0;
    d->buffered_first = d->buffered_last = 0;
    d->syncing = true;
    d->work.data = d;
    /* A fast disk is synced on the loop: two thread hand-offs cost more
     * than the fsync itself, and while the loop waits, the requests that
     * arrive queue up for the next batch. A slow one on a worker thread,
     * so that heartbeats and answers go on meanwhile. */
    if (sync_inline(d)) {
        sync_run(d);
        after_work_cb(&d->work, 0);
        return;
    }
    if (uv_queue_work(d->loop, &d->work, work_cb, after_work_cb) != 0) {
        log_error("cannot queue the log write");
        exit(2);
    }
}

bool disk_batch_of(const struct disk *d, uint64_t index, uint64_t *write_ns,
                   uint64_t *synced_ns, uint32_t *entries)
{
    unsigned kept =
        d->n_batches < DISK_BATCHES_KEPT ? d->n_batches : DISK_BATCHES_KEPT;
    for (unsigned k = 1; k <= kept; k++) { /* newest first */
        unsigned i = (d->n_batches - k) % DISK_BATCHES_KEPT;
        if (d->batches[i].first == 0 || d->batches[i].first > index ||
            d->batches[i].last < index)
            continue;
        if (d->batches[i].synced_ns == 0)
            return false;
        *write_ns = d->batches[i].write_ns;
        *synced_ns = d->batches[i].synced_ns;
        *entries = d->batches[i].entries;
        return true;
    }
    return false;
}

bool disk_fill_chunk(struct disk *d, struct raft_msg *m)
{
    size_t got;
    bool last;
    if (m->len > d->chunk_cap) {
        d->chunk_buf = mem_xrealloc(d->chunk_buf, m->len);
        d->chunk_cap = m->len;
    }
    if (store_snapshot_read(d->store, m->index, m->offset, d->chunk_buf, m->len,
                            &got, &last) != 0)
        return false; /* not that snapshot any more: the leader restarts */
    m->data = d->chunk_buf;
    m->len = (uint32_t)got;
    m->last = last;
    return true;
}

/* Drops COMPACT_STEP more entries of the log before the last snapshot
 * taken here, if some are left and the last step was COMPACT_GAP_NS ago (an
 * install from a leader ends it: the log then restarted). */
static void compact_some(struct disk *d)
{
    if (d->compacting == 0)
        return;
    if (d->compacting < raft_snapshot_index(d->raft)) {
        d->compacting = 0;
        return;
    }
    uint64_t now = uv_hrtime();
    if (now - d->compacted_ns < COMPACT_GAP_NS)
        return;
    d->compacted_ns = now;
    int rc = raft_compact_some(d->raft, d->compacting, SNAPSHOT_TRAILING,
                               COMPACT_STEP);
    if (rc != 1)
        d->compacting = 0;
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
static void snap_child(struct disk *d, int wfd, pid_t parent)
{
    struct snap_report rep = {0};
    struct store_snap_job job;
    uint8_t *buf = NULL;
    size_t len = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* The servers first: a child that took a core from them stalled the
     * loop of its parent, and of the other servers on a small machine. */
    setpriority(PRIO_PROCESS, 0, 19); /* failing, it runs as the server */
    keep_fds(wfd, d->cfg.keep_fd >= 0 ? d->cfg.keep_fd : wfd);
    uint64_t t0 = uv_hrtime();
    int dirfd = open(d->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        rep.err = errno;
        snprintf(rep.what, sizeof rep.what, "open the directory");
    } else if (fsm_snapshot(replica_fsm(d->rep), &buf, &len) != 0) {
        rep.err = ENOMEM;
        snprintf(rep.what, sizeof rep.what, "serialise the state");
    } else if (store_snapshot_begin(d->store, &d->snap_meta, buf, len, &job) !=
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
    struct disk *d = h->data;
    close(d->snap_fd);
    d->snap_fd = -1;
    d->snapshotting = false;
    d->cbs.idle(d->arg);
    d->cbs.kick(d->arg);
}

/* The child's report (or its end): the snapshot is installed as the
 * current one and the log compacted, as for one written on a thread. */
static void on_snap_child(uv_poll_t *h, int status, int events)
{
    struct disk *d = h->data;
    struct snap_report rep = {0};
    (void)status, (void)events;
    ssize_t r = read(d->snap_fd, &rep, sizeof rep);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    uv_poll_stop(h);
    int wstatus = 0;
    while (waitpid(d->snap_pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    d->snap_pid = 0;
    uv_close((uv_handle_t *)h, snap_closed);
    if (r != (ssize_t)sizeof rep) {
        /* Killed (out of memory, say): no disk error. The next one may
         * do better; the log is kept until then. */
        log_error("the snapshot at %" PRIu64 " was not written: its process "
                  "ended (status %d)",
                  d->snap_meta.index, wstatus);
        return;
    }
    snprintf(d->snap_what, sizeof d->snap_what, "%s", rep.what);
    store_snapshot_ran(&d->snap_job, rep.err, d->snap_what, rep.size);
    if (store_snapshot_end(d->store, &d->snap_job) != 0)
        fatal(d, "writing a snapshot");
    uint64_t index = d->snap_meta.index;
    /* An install from a leader may have moved past it meanwhile. */
    if (index > raft_snapshot_index(d->raft)) {
        d->compacting = index;
        d->compacted_ns = 0; /* the first step at once: it moves Raft's
                                snapshot to the store's new one */
        compact_some(d);
    }
    d->snapshots_taken++;
    log_info("snapshot at %" PRIu64 ": %" PRIu64 " bytes in %" PRIu64
             " ms (the loop held for %" PRIu64 " ms, serialised in %" PRIu64
             " ms)",
             index, rep.len, (uv_hrtime() - d->snap_started) / 1000000,
             d->snap_taken_ns / 1000000, rep.taken_ns / 1000000);
}

/* Which of five places server id takes when servers keep apart (its
 * snapshots, its spares): ids 1 to 5 take 0 to 4, and wrap. */
static uint64_t place_of(uint64_t id)
{
    return id == 0 ? 0 : (id - 1) % 5;
}

unsigned disk_spare_after(uint64_t id)
{
    return (unsigned)(place_of(id) * 100);
}

uint64_t disk_snapshot_due(uint64_t last, uint64_t entries, uint64_t id)
{
    if (entries == 0)
        entries = 1;
    uint64_t phase = place_of(id) * (entries / 5);
    uint64_t base = last + entries / 2 + 1;
    return base + (phase + entries - base % entries) % entries;
}

/* About every cfg.snapshot_entries entries (disk_snapshot_due) the state
 * is snapshotted without
 * holding up the loop: a child process forked here holds a copy-on-write
 * image of it, consistent at the applied index, and serialises and writes
 * it (as Redis does); the loop stops only for the fork. Once the file is
 * durable the log is compacted. */
void disk_snapshot(struct disk *d)
{
    compact_some(d);
    uint64_t applied = raft_applied_index(d->raft);
    /* Not while a follower is being sent the current snapshot: a new one
     * would restart its transfer, and with frequent snapshots it could
     * never finish. */
    if (applied < disk_snapshot_due(d->last_snapshot, d->cfg.snapshot_entries,
                                    d->cfg.id) ||
        d->n_deferred > 0 || d->snapshotting || d->closed ||
        raft_sending_snapshot(d->raft))
        return;
    if (raft_snapshot_meta(d->raft, applied, &d->snap_meta) != 0)
        return;
    /* The names and checks here; the child fills in the data. */
    if (store_snapshot_begin(d->store, &d->snap_meta, NULL, 0, &d->snap_job) !=
        0) {
        d->last_snapshot = applied; /* not past the current one: skip it */
        return;
    }
    d->last_snapshot = applied;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("cannot snapshot: pipe: %s", strerror(errno));
        return;
    }
    d->snap_started = uv_hrtime();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        snap_child(d, p[1], parent);
    d->snap_taken_ns = uv_hrtime() - d->snap_started;
    close(p[1]);
    if (pid < 0) {
        log_error("cannot snapshot: fork: %s", strerror(errno));
        close(p[0]);
        return;
    }
    d->snap_pid = pid;
    d->snap_fd = p[0];
    d->snapshotting = true;
    uv_poll_init(d->loop, &d->snap_poll, p[0]);
    d->snap_poll.data = d;
    uv_poll_start(&d->snap_poll, UV_READABLE, on_snap_child);
}

/* ---- the owner's side ------------------------------------------------- */

struct disk *disk_new(uv_loop_t *loop, const struct disk_config *cfg,
                      struct raft *raft, struct replica *rep,
                      const struct disk_cbs *cbs, void *arg, char *err,
                      size_t errlen)
{
    /* The timer first, so that a failure leaves nothing to close. */
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot make the group commit's timer: %s",
                 strerror(errno));
        return NULL;
    }
    struct disk *d = mem_xcalloc(1, sizeof *d);
    hist_init(&d->sync_us, hist_latency_us, HIST_LATENCY_US_N);
    hist_init(&d->batch_entries_hist, hist_count, HIST_COUNT_N);
    int rc = uv_poll_init(loop, &d->gather_poll, fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot make the group commit's timer: %s",
                 uv_strerror(rc));
        close(fd);
        free(d);
        return NULL;
    }
    d->gather_poll.data = d;
    d->gather_fd = fd;
    d->gather_score = GATHER_SCORE_MAX;
    d->snap_fd = -1;
    d->loop = loop;
    d->cfg = *cfg;
    d->data = mem_xstrdup(cfg->data);
    d->cfg.data = d->data;
    d->raft = raft;
    d->rep = rep;
    d->cbs = *cbs;
    d->arg = arg;
    d->store = store_new(cfg->data, 0);
    return d;
}

int disk_open(struct disk *d, struct store_state *st, char *err, size_t errlen)
{
    if (store_open(d->store, st) != 0) {
        snprintf(err, errlen, "%s", store_errmsg(d->store));
        return -1;
    }
    d->last_snapshot = st->has_snapshot ? st->snapshot.index : 0;
    return 0;
}

bool disk_gathering(const struct disk *d)
{
    return d->gathering;
}

void disk_proposed(struct disk *d)
{
    d->proposed++;
}

void disk_answered(struct disk *d)
{
    d->answered++;
}

void disk_stats(const struct disk *d, struct disk_stats *st)
{
    st->sync_avg_ns = d->sync_avg_ns;
    st->sync_inline = sync_inline(d);
    st->syncs = d->syncs;
    st->entries_synced = d->entries_synced;
    st->sync_us = &d->sync_us;
    st->batch_entries = &d->batch_entries_hist;
    st->bytes_appended = d->bytes_appended;
    st->snapshots_taken = d->snapshots_taken;
    st->snapshots_installed = d->snapshots_installed;
}

bool disk_busy(const struct disk *d)
{
    return d->syncing || d->snapshotting || d->sparing;
}

static void gather_closed(uv_handle_t *h)
{
    struct disk *d = h->data;
    close(d->gather_fd);
    d->gather_fd = -1;
    d->close_done(d->close_arg);
}

void disk_close(struct disk *d, void (*done)(void *arg), void *arg)
{
    d->closed = true;
    d->gathering = false;
    store_sync(d->store); /* whatever is buffered; nothing waits on it */
    d->close_done = done;
    d->close_arg = arg;
    uv_close((uv_handle_t *)&d->gather_poll, gather_closed);
}

void disk_free(struct disk *d)
{
    if (d == NULL)
        return;
    if (d->gather_fd >= 0)
        close(d->gather_fd);
    store_free(d->store);
    free_deferred(d);
    free(d->chunk_buf);
    free(d->data);
    free(d);
}
