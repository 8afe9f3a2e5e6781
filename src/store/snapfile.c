/* snapfile.c - snapshot files in a data directory: their format, writing
 * one (from the forked writer, or at once), reading it in chunks for a
 * follower, and receiving one in chunks from the leader. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/le.h"
#include "common/mem.h"
#include "store/store.h"
#include "store/store_internal.h"

#define SNAP_MAGIC 0x50414e53u /* "SNAP" */
#define SNAP_VERSION 1
/* magic, version, index, term, conf length; then the conf, the data length,
 * the data and a CRC32C of everything before it. */
#define SNAP_HEAD 28
#define SNAP_OVERHEAD (SNAP_HEAD + 8 + 4)
#define CONF_MAX 2048
#define RECV_NAME "recv.snap.tmp"

/* ---- Snapshot files ---- */

/* Encodes a snapshot file's header into out (SNAP_HEAD + CONF_MAX + 8). */
static size_t snap_head(uint8_t *out, const struct raft_snapshot_meta *meta,
                        uint64_t data_len)
{
    size_t clen = raft_conf_encode(&meta->conf, out + SNAP_HEAD, CONF_MAX);
    if (clen > CONF_MAX)
        abort(); /* RAFT_MAX_SERVERS addresses always fit */
    le_put32(out, SNAP_MAGIC);
    le_put32(out + 4, SNAP_VERSION);
    le_put64(out + 8, meta->index);
    le_put64(out + 16, meta->term);
    le_put32(out + 24, (uint32_t)clen);
    le_put64(out + SNAP_HEAD + clen, data_len);
    return SNAP_HEAD + clen + 8;
}

const char *store_snap_parse(const uint8_t *b, size_t n,
                             struct raft_snapshot_meta *meta, size_t *data_off)
{
    if (n < SNAP_OVERHEAD)
        return "file too short";
    if (crc32c(0, b, n - 4) != le_get32(b + n - 4))
        return "bad CRC";
    if (le_get32(b) != SNAP_MAGIC || le_get32(b + 4) != SNAP_VERSION)
        return "bad magic or version";
    uint32_t clen = le_get32(b + 24);
    if (clen > n - SNAP_OVERHEAD)
        return "bad configuration length";
    memset(meta, 0, sizeof *meta);
    if (raft_conf_decode(&meta->conf, b + SNAP_HEAD, clen) != 0)
        return "bad configuration";
    if (le_get64(b + SNAP_HEAD + clen) != n - SNAP_OVERHEAD - clen)
        return "bad data length";
    meta->index = le_get64(b + 8);
    meta->term = le_get64(b + 16);
    *data_off = SNAP_HEAD + clen + 8;
    return NULL;
}

/* Makes the snapshot file at fd (of index, size bytes) the current one,
 * deleting the previous snapshot's file. */
static int snap_install(struct store *s, int fd, uint64_t index, uint64_t size)
{
    char old[STORE_NAME_LEN];
    bool had = s->snap_fd >= 0;
    store_snap_name(old, s->snap_index);
    if (had)
        close(s->snap_fd);
    s->snap_fd = fd;
    s->snap_index = index;
    s->snap_size = size;
    return had ? store_remove_file(s, old) : 0;
}

/* ---- Snapshots ---- */

/* Deletes the segments before the current one whose entries all lie at or
 * before index, oldest first: the log must never have a hole. */
int store_snapshot_begin(struct store *s, const struct raft_snapshot_meta *meta,
                         const void *data, size_t len,
                         struct store_snap_job *job)
{
    if (s->fatal)
        return s->fatal;
    if (s->snap_fd >= 0 && meta->index <= s->snap_index)
        return store_fail(s, STORE_EINVAL,
                          "snapshot %" PRIu64 " is not past %" PRIu64,
                          meta->index, s->snap_index);
    _Static_assert(sizeof job->head >= SNAP_HEAD + CONF_MAX + 8, "head");
    _Static_assert(sizeof job->name >= STORE_NAME_LEN, "name");
    memset(job, 0, offsetof(struct store_snap_job, head));
    job->dirfd = s->dirfd;
    job->index = meta->index;
    job->hlen = snap_head(job->head, meta, len);
    job->data = data;
    job->len = len;
    job->size = job->hlen + len + 4;
    le_put32(job->tail, crc32c(crc32c(0, job->head, job->hlen), data, len));
    store_snap_name(job->name, meta->index);
    snprintf(job->tmp, sizeof job->tmp, "%s.tmp", job->name);
    job->fd = -1;
    job->err = 0;
    return 0;
}

void store_snapshot_run(struct store_snap_job *j)
{
    struct iovec iov[3] = {
        {j->head, j->hlen}, {(void *)j->data, j->len}, {j->tail, 4}};
    j->fd =
        openat(j->dirfd, j->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        j->what = "open";
    } else if (store_write_paced(j->fd, iov, 3, NULL, &j->what) < 0) {
        /* j->what says which call */
    } else if (store_io.fsync(j->fd) < 0) {
        j->what = "fsync";
    } else if (store_io.renameat(j->dirfd, j->tmp, j->dirfd, j->name) < 0) {
        j->what = "rename";
    } else if (store_io.fsync(j->dirfd) < 0) {
        j->what = "fsync of the directory";
    } else {
        return;
    }
    j->err = errno ? errno : EIO;
}

int store_snapshot_end(struct store *s, struct store_snap_job *j)
{
    if (j->err != 0) {
        if (j->fd >= 0)
            close(j->fd);
        unlinkat(s->dirfd, j->tmp, 0);
        return store_fail(s, STORE_EIO, "write %s/%s: %s: %s", s->dir, j->tmp,
                          j->what, strerror(j->err));
    }
    if (s->fatal) {
        close(j->fd);
        return s->fatal;
    }
    if (s->snap_fd >= 0 && j->index <= s->snap_index) {
        /* A leader's snapshot was installed meanwhile: this one is older. */
        close(j->fd);
        unlinkat(s->dirfd, j->name, 0);
        return 0;
    }
    int rc = snap_install(s, j->fd, j->index, j->size);
    return rc == 0 ? store_compact(s, j->index) : rc;
}

void store_snapshot_ran(struct store_snap_job *j, int err, const char *what,
                        uint64_t size)
{
    j->err = err;
    j->what = what;
    j->size = size;
    j->fd = -1;
    if (err == 0) {
        j->fd = openat(j->dirfd, j->name, O_RDONLY | O_CLOEXEC);
        if (j->fd < 0) {
            j->err = errno;
            j->what = "open";
        }
    }
}

int store_snapshot_write(struct store *s, const struct raft_snapshot_meta *meta,
                         const void *data, size_t len)
{
    struct store_snap_job job;
    int rc = store_snapshot_begin(s, meta, data, len, &job);
    if (rc != 0)
        return rc;
    store_snapshot_run(&job);
    return store_snapshot_end(s, &job);
}

uint64_t store_snapshot_index(const struct store *s)
{
    return s->snap_fd >= 0 ? s->snap_index : 0;
}

int store_snapshot_read(struct store *s, uint64_t index, uint64_t offset,
                        void *buf, size_t cap, size_t *n, bool *last)
{
    if (s->fatal)
        return s->fatal;
    if (s->snap_fd < 0 || index != s->snap_index)
        return store_fail(s, STORE_ENOENT, "no snapshot %" PRIu64, index);
    if (offset > s->snap_size)
        return store_fail(s, STORE_EINVAL, "offset %" PRIu64 " past the end",
                          offset);
    *n = s->snap_size - offset < cap ? (size_t)(s->snap_size - offset) : cap;
    if (store_pread_all(s->snap_fd, buf, *n, offset) < 0)
        return store_fail(s, STORE_EIO, "read snapshot %" PRIu64 ": %s", index,
                          strerror(errno));
    *last = offset + *n == s->snap_size;
    return 0;
}

/* ---- Receiving a snapshot ---- */

static void recv_drop(struct store *s)
{
    if (s->recv_fd >= 0) {
        close(s->recv_fd);
        unlinkat(s->dirfd, RECV_NAME, 0);
        s->recv_fd = -1;
    }
}

int store_recv_begin(struct store *s, uint64_t index, uint64_t term)
{
    if (s->fatal)
        return s->fatal;
    recv_drop(s);
    s->recv_fd = openat(s->dirfd, RECV_NAME,
                        O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->recv_fd < 0)
        return store_fail(s, STORE_EIO, "create %s/%s: %s", s->dir, RECV_NAME,
                          strerror(errno));
    s->recv_index = index;
    s->recv_term = term;
    s->recv_off = 0;
    return 0;
}

int store_recv_chunk(struct store *s, uint64_t offset, const void *data,
                     size_t len)
{
    if (s->fatal)
        return s->fatal;
    if (s->recv_fd < 0)
        return store_fail(s, STORE_EINVAL, "no snapshot being received");
    if (offset == 0 && s->recv_off > 0) {
        if (ftruncate(s->recv_fd, 0) < 0)
            return store_fail(s, STORE_EIO, "truncate %s/%s: %s", s->dir,
                              RECV_NAME, strerror(errno));
        s->recv_off = 0;
    }
    if (offset != s->recv_off)
        return store_fail(s, STORE_EINVAL,
                          "chunk at %" PRIu64 ", expected %" PRIu64, offset,
                          s->recv_off);
    for (size_t done = 0; done < len;) {
        ssize_t n = store_io.pwrite(s->recv_fd, (const uint8_t *)data + done,
                                    len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return store_fail(s, STORE_EIO, "write %s/%s: %s", s->dir,
                              RECV_NAME, strerror(errno));
        done += (size_t)n;
    }
    s->recv_off += len;
    return 0;
}

/* Checks the received file against meta; fills *buf and *len with it. */
static int recv_check(struct store *s, const struct raft_snapshot_meta *meta,
                      uint8_t **buf, size_t *len, size_t *off)
{
    uint8_t conf[CONF_MAX];
    struct raft_snapshot_meta got;
    if (store_io.fsync(s->recv_fd) < 0 ||
        store_read_fd(s->recv_fd, buf, len) < 0)
        return store_fail(s, STORE_EIO, "sync %s/%s: %s", s->dir, RECV_NAME,
                          strerror(errno));
    const char *what = store_snap_parse(*buf, *len, &got, off);
    size_t clen = raft_conf_encode(&meta->conf, conf, sizeof conf);
    if (what == NULL && (got.index != meta->index || got.term != meta->term ||
                         clen != le_get32(*buf + 24) ||
                         memcmp(conf, *buf + SNAP_HEAD, clen) != 0))
        what = "header does not match the snapshot's meta";
    if (what == NULL)
        return 0;
    free(*buf);
    recv_drop(s);
    return store_fail(s, STORE_EINVAL, "received snapshot %" PRIu64 ": %s",
                      meta->index, what);
}

int store_recv_finish(struct store *s, const struct raft_snapshot_meta *meta,
                      uint8_t **data, size_t *len)
{
    char name[STORE_NAME_LEN];
    uint8_t *buf;
    size_t flen, off;
    if (s->fatal)
        return s->fatal;
    if (s->recv_fd < 0 || s->in_flight || meta->index != s->recv_index ||
        meta->term != s->recv_term || meta->index <= store_snapshot_index(s))
        return store_fail(s, STORE_EINVAL,
                          "cannot install snapshot %" PRIu64 " now",
                          meta->index);
    int rc = recv_check(s, meta, &buf, &flen, &off);
    if (rc != 0)
        return rc;
    store_snap_name(name, meta->index);
    if (store_io.renameat(s->dirfd, RECV_NAME, s->dirfd, name) < 0) {
        free(buf);
        return store_fail(s, STORE_EIO, "rename %s/%s: %s", s->dir, RECV_NAME,
                          strerror(errno));
    }
    int fd = s->recv_fd;
    s->recv_fd = -1;
    rc = store_sync_dir(s);
    if (rc == 0)
        rc = snap_install(s, fd, meta->index, flen);
    else
        close(fd);
    store_log_restart(s, meta->index);
    if (rc == 0)
        rc = store_sync(s);
    if (rc == 0)
        rc = store_compact(s, UINT64_MAX);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *len = flen - off - 4;
    memmove(buf, buf + off, *len);
    *data = buf;
    return 0;
}
