/* store.c - log segments in a data directory: appending, group-committed
 * syncs, the spare segment, compaction, and the file helpers the store's
 * files share. Snapshot files are snapfile.c's; recovery (store_open) is in
 * recovery.c. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/le.h"
#include "common/mem.h"
#include "raft/logfmt.h"
#include "store/store_internal.h"

#define PACE_CHUNK (256u << 10)
#define PACE_PAUSE_NS 1000000 /* 1 ms between chunks */
#define SPARE_NAME "log-spare.seg.tmp"
/* The first spare after a start; each next one is twice the segment it
 * follows, up to seg_max, so that the zeros written track the log. */
#define SPARE_FIRST (1u << 20)

struct store_io store_io = {
    .writev = writev,
    .pwrite = pwrite,
    .fdatasync = fdatasync,
    .fsync = fsync,
    .renameat = renameat,
};

int store_fail(struct store *s, int code, const char *fmt, ...)
{
    va_list ap;
    if (s->fatal)
        return s->fatal;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    if (code == STORE_EIO || code == STORE_ECORRUPT)
        s->fatal = code;
    return code;
}

static uint8_t *wbuf_grow(struct wbuf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        b->p = mem_xrealloc(b->p, cap);
        b->cap = cap;
    }
    uint8_t *p = b->p + b->len;
    b->len += n;
    return p;
}

void store_seg_name(char *out, uint64_t seq)
{
    snprintf(out, STORE_NAME_LEN, "log-%016" PRIx64 ".seg", seq);
}

void store_snap_name(char *out, uint64_t index)
{
    snprintf(out, STORE_NAME_LEN, "snap-%016" PRIx64 ".snap", index);
}

/* Writes all of iov, resuming after short writes; -1 with errno on error. */
static int writev_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t n = store_io.writev(fd, iov, cnt);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Writes the cnt buffers of iov at fd's position in chunks of PACE_CHUNK
 * bytes, each fdatasynced, with a pause after each but the last: a big
 * file (a spare's zeros, a snapshot) written at once would queue ahead of
 * the log's syncs on the same disk and stall them by tens of milliseconds,
 * while a chunk takes about 0.7 ms here. Stops with ECANCELED once *cancel
 * is set (cancel may be NULL). Returns 0, or -1 with errno and *what
 * naming the call that failed. */
int store_write_paced(int fd, const struct iovec *iov, int cnt,
                      atomic_bool *cancel, const char **what)
{
    int i = 0;
    size_t off = 0; /* into iov[i] */
    for (;;) {
        struct iovec part[8];
        int k = 0;
        size_t room = PACE_CHUNK;
        while (i < cnt && k < 8 && room > 0) {
            size_t left = iov[i].iov_len - off;
            size_t take = left < room ? left : room;
            if (take > 0)
                part[k++] =
                    (struct iovec){(uint8_t *)iov[i].iov_base + off, take};
            room -= take;
            off += take;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        if (k == 0)
            return 0;
        *what = "write";
        if (cancel != NULL && atomic_load(cancel)) {
            errno = ECANCELED;
            return -1;
        }
        if (writev_all(fd, part, k) < 0)
            return -1;
        *what = "fdatasync";
        if (store_io.fdatasync(fd) < 0)
            return -1;
        if (i < cnt)
            nanosleep(&(struct timespec){0, PACE_PAUSE_NS}, NULL);
    }
}

int store_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* the file shrank under us */
            return -1;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int store_read_fd(int fd, uint8_t **buf, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    *len = (size_t)st.st_size;
    *buf = mem_xmalloc(*len);
    if (store_pread_all(fd, *buf, *len, 0) < 0) {
        free(*buf);
        *buf = NULL;
        return -1;
    }
    return 0;
}

int store_sync_dir(struct store *s)
{
    if (store_io.fsync(s->dirfd) < 0)
        return store_fail(s, STORE_EIO, "fsync %s: %s", s->dir,
                          strerror(errno));
    return 0;
}

int store_remove_file(struct store *s, const char *name)
{
    if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
        return store_fail(s, STORE_EIO, "unlink %s/%s: %s", s->dir, name,
                          strerror(errno));
    return store_sync_dir(s);
}

/* ---- Lifecycle ---- */

struct store *store_new(const char *dir, uint64_t segment_bytes)
{
    struct store *s = mem_xcalloc(1, sizeof *s);
    s->dir = mem_xstrdup(dir);
    s->dirfd = -1;
    s->seg_fd = -1;
    s->spare_fd = -1;
    s->flight.spare_fd = -1;
    s->snap_fd = -1;
    s->recv_fd = -1;
    s->seg_max = segment_bytes ? segment_bytes : STORE_SEGMENT_BYTES;
    s->batch_next = 1;
    return s;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    int fds[] = {s->seg_fd,  s->spare_fd, s->flight.spare_fd,
                 s->snap_fd, s->recv_fd,  s->dirfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(s->buf.p);
    free(s->flight.recs.p);
    free(s->segs);
    free(s->dir);
    free(s);
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg;
}

/* ---- Appending ---- */

static void put_record(struct store *s, uint8_t kind, uint8_t type,
                       uint64_t index, uint64_t term, const uint8_t *data,
                       uint32_t len)
{
    struct logfmt_record r = {.kind = kind,
                              .type = type,
                              .batch = s->batch_next,
                              .index = index,
                              .term = term,
                              .len = len,
                              .data = data};
    logfmt_encode(wbuf_grow(&s->buf, logfmt_size(len)), &r);
}

/* The log restarts after the snapshot, in a new segment holding the hard
 * state and a truncate record: replayed after a crash before the old
 * segments are gone, it drops them. Raft §7. */
void store_log_restart(struct store *s, uint64_t index)
{
    s->buf.len = 0;
    s->buf_last_index = 0;
    put_record(s, LOGFMT_TRUNCATE, 0, index + 1, 0, NULL, 0);
    s->last_index = index;
    s->rotate = true;
}

int store_set_hard_state(struct store *s, uint64_t term, uint64_t vote)
{
    if (s->fatal)
        return s->fatal;
    put_record(s, LOGFMT_HARD_STATE, 0, vote, term, NULL, 0);
    s->term = term;
    s->vote = vote;
    return 0;
}

int store_append(struct store *s, const struct raft_entry *entries, size_t n)
{
    if (s->fatal)
        return s->fatal;
    if (n == 0)
        return 0;
    uint64_t first = entries[0].index;
    for (size_t i = 0; i < n; i++)
        if (entries[i].index != first + i || entries[i].len > LOGFMT_MAX_LEN)
            return store_fail(s, STORE_EINVAL,
                              "entry %" PRIu64 ": bad index or length",
                              entries[i].index);
    if (first == 0 || first <= s->snap_index || first > s->last_index + 1)
        return store_fail(s, STORE_EINVAL,
                          "entry %" PRIu64
                          " does not follow the log (last %" PRIu64
                          ", snapshot %" PRIu64 ")",
                          first, s->last_index, s->snap_index);
    if (first <= s->last_index)
        put_record(s, LOGFMT_TRUNCATE, 0, first, 0, NULL, 0);
    for (size_t i = 0; i < n; i++)
        put_record(s, LOGFMT_ENTRY, entries[i].type, entries[i].index,
                   entries[i].term, entries[i].data, entries[i].len);
    s->last_index = first + n - 1;
    if (s->last_index > s->buf_last_index)
        s->buf_last_index = s->last_index;
    return 0;
}

uint64_t store_last_index(const struct store *s)
{
    return s->last_index;
}

/* ---- Syncing ---- */

bool store_sync_begin(struct store *s)
{
    if (s->fatal || s->in_flight || s->buf.len == 0)
        return false;
    struct batch *b = &s->flight;
    uint64_t batch = s->batch_next;
    put_record(s, LOGFMT_BATCH_END, 0, 0, 0, NULL, 0);
    b->seq = s->n_segs ? s->segs[s->n_segs - 1].seq : 0;
    uint64_t cap = s->seg_cap ? s->seg_cap : s->seg_max;
    /* A segment that grows is left as soon as a spare is ready. */
    b->create = s->rotate || s->n_segs == 0 || s->seg_size + s->buf.len > cap ||
                (s->seg_cap == 0 && s->spare == SPARE_READY);
    b->head_len = 0;
    b->spare_size = 0;
    if (b->create && s->spare == SPARE_READY) {
        b->spare_fd = s->spare_fd;
        b->spare_size = s->spare_size;
        s->spare_fd = -1;
        s->spare = SPARE_NONE;
    }
    if (b->create) {
        /* A new segment starts with the current hard state, so that
         * deleting the segments before it never loses it. */
        struct logfmt_segment hdr = {++b->seq, batch};
        struct logfmt_record hs = {.kind = LOGFMT_HARD_STATE,
                                   .batch = batch,
                                   .index = s->vote,
                                   .term = s->term};
        logfmt_segment_encode(b->head, &hdr);
        logfmt_encode(b->head + LOGFMT_SEG_HEADER, &hs);
        b->head_len = LOGFMT_SEG_HEADER + LOGFMT_HEADER;
    }
    struct wbuf spare = b->recs;
    b->recs = s->buf;
    s->buf = spare;
    s->buf.len = 0;
    b->last_index = s->buf_last_index;
    s->buf_last_index = 0;
    b->rc = 0;
    b->err[0] = '\0';
    s->batch_next++;
    s->in_flight = true;
    return true;
}

bool store_sync_creates(const struct store *s)
{
    return s->in_flight && s->flight.create;
}

static void run_fail(struct batch *b, const char *dir, const char *what)
{
    char name[STORE_NAME_LEN];
    store_seg_name(name, b->seq);
    b->rc = STORE_EIO;
    snprintf(b->err, sizeof b->err, "%s %s/%s: %s", what, dir, name,
             strerror(errno));
}

void store_sync_run(struct store *s)
{
    struct batch *b = &s->flight;
    struct iovec iov[2] = {{b->head, b->head_len}, {b->recs.p, b->recs.len}};
    if (b->create) {
        char name[STORE_NAME_LEN];
        store_seg_name(name, b->seq);
        int fd = b->spare_fd;
        if (fd >= 0) {
            /* Renamed first: a crash before the write leaves a segment of
             * zeros, which recovery removes as one that holds nothing. */
            if (store_io.renameat(s->dirfd, SPARE_NAME, s->dirfd, name) < 0)
                return run_fail(b, s->dir, "rename the spare to");
            b->spare_fd = -1;
        } else {
            fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                        0644);
            if (fd < 0)
                return run_fail(b, s->dir, "create");
        }
        if (s->seg_fd >= 0)
            close(s->seg_fd);
        s->seg_fd = fd;
    }
    if (writev_all(s->seg_fd, b->create ? iov : iov + 1, b->create ? 2 : 1))
        run_fail(b, s->dir, "write");
    else if (store_io.fdatasync(s->seg_fd) < 0)
        run_fail(b, s->dir, "fdatasync");
    else if (b->create && store_io.fsync(s->dirfd) < 0)
        run_fail(b, s->dir, "fsync the directory of");
}

int store_sync_end(struct store *s)
{
    struct batch *b = &s->flight;
    if (!s->in_flight)
        return store_fail(s, STORE_EINVAL, "no batch in flight");
    s->in_flight = false;
    if (b->spare_fd >= 0) {
        close(b->spare_fd); /* not renamed: the batch failed */
        b->spare_fd = -1;
    }
    if (b->rc != 0)
        return store_fail(s, b->rc, "%s", b->err);
    if (b->create) {
        s->segs = mem_xrealloc(s->segs, (s->n_segs + 1) * sizeof *s->segs);
        s->segs[s->n_segs++] = (struct seg){b->seq, 0};
        s->seg_size = b->head_len;
        s->seg_cap = b->spare_size;
        s->rotate = false;
        if (s->spare == SPARE_FAILED)
            s->spare = SPARE_NONE; /* try again for the next one */
    }
    b->spare_size = 0;
    struct seg *cur = &s->segs[s->n_segs - 1];
    if (b->last_index > cur->last_index)
        cur->last_index = b->last_index;
    s->seg_size += b->recs.len;
    b->recs.len = 0;
    if (b->recs.cap > (4u << 20)) {
        /* Do not keep a huge buffer for a rare huge batch. */
        free(b->recs.p);
        b->recs = (struct wbuf){0};
    }
    /* The batch is durable, but a call of the main thread failed fatally
     * while it was in flight: that error sticks. */
    return s->fatal;
}

int store_sync(struct store *s)
{
    if (s->fatal)
        return s->fatal;
    if (s->in_flight)
        return store_fail(s, STORE_EINVAL, "a batch is in flight");
    if (!store_sync_begin(s))
        return 0;
    store_sync_run(s);
    return store_sync_end(s);
}

/* ---- The spare segment ----
 *
 * A batch appended to a file that grows changes its size, so its fdatasync
 * commits the file system's journal as well as the data. The next segment is
 * therefore made ahead, on a worker thread: a file of zeros, written and
 * synced, renamed into place when the current segment is full. Batches
 * written over its zeros change no metadata that fdatasync must write, and
 * on ext4 here each sync takes about two thirds of the time and the CPU
 * (docs/design.md §10). Recovery reads an all-zero tail as the end of a
 * segment. Without a spare (the first batches after a start, a failed one)
 * a segment grows as before, and is left as soon as a spare is ready. */

bool store_spare_begin(struct store *s)
{
    if (s->fatal || s->dirfd < 0 || s->spare != SPARE_NONE ||
        (s->in_flight && s->flight.spare_size > 0))
        return false; /* the last spare's rename is still under way */
    uint64_t size = s->seg_cap ? 2 * s->seg_cap : SPARE_FIRST;
    s->spare_size = size < s->seg_max ? size : s->seg_max;
    s->spare_err[0] = '\0';
    atomic_store(&s->spare_cancel, false);
    s->spare = SPARE_PREPARING;
    return true;
}

bool store_spare_due(const struct store *s, unsigned per_mille)
{
    if (s->seg_cap == 0)
        return true;
    return s->seg_size >= s->seg_cap / 1000 * per_mille;
}

void store_spare_run(struct store *s)
{
    static const uint8_t zeros[PACE_CHUNK];
    const char *what = "create";
    struct iovec *iov = NULL;
    int fd = openat(s->dirfd, SPARE_NAME,
                    O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    size_t n = (size_t)((s->spare_size + PACE_CHUNK - 1) / PACE_CHUNK);
    iov = mem_xmalloc((n ? n : 1) * sizeof *iov);
    for (size_t i = 0; i < n; i++) {
        uint64_t left = s->spare_size - (uint64_t)i * PACE_CHUNK;
        iov[i] = (struct iovec){(void *)zeros,
                                left < PACE_CHUNK ? (size_t)left : PACE_CHUNK};
    }
    if (store_write_paced(fd, iov, (int)n, &s->spare_cancel, &what) < 0)
        goto fail;
    what = "seek";
    if (lseek(fd, 0, SEEK_SET) != 0) /* batches write from the start */
        goto fail;
    free(iov);
    s->spare_fd = fd;
    return;
fail:
    free(iov);
    snprintf(s->spare_err, sizeof s->spare_err, "%s %s/%s: %s", what, s->dir,
             SPARE_NAME, strerror(errno));
    if (fd >= 0) {
        close(fd);
        unlinkat(s->dirfd, SPARE_NAME, 0);
    }
}

const char *store_spare_end(struct store *s)
{
    if (s->spare != SPARE_PREPARING)
        return NULL;
    if (s->spare_fd >= 0) {
        s->spare = SPARE_READY;
        return NULL;
    }
    s->spare = SPARE_FAILED;
    return s->spare_err;
}

void store_spare_cancel(struct store *s)
{
    atomic_store(&s->spare_cancel, true);
}

/* ---- Compaction ---- */

int store_compact(struct store *s, uint64_t index)
{
    size_t n = 0;
    int rc = 0;
    /* Keep the segment holding the snapshot's own entry: recovery checks
     * that the entries after the snapshot continue it (same index and
     * term), which it cannot once that entry is gone (Raft §7). */
    while (rc == 0 && n + 1 < s->n_segs && s->segs[n].last_index < index) {
        char name[STORE_NAME_LEN];
        store_seg_name(name, s->segs[n].seq);
        rc = store_remove_file(s, name);
        if (rc == 0)
            n++;
    }
    if (n > 0) {
        memmove(s->segs, s->segs + n, (s->n_segs - n) * sizeof *s->segs);
        s->n_segs -= n;
    }
    return rc;
}
