/* store.c - log segments and snapshot files in a data directory. */
#include "server/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/le.h"
#include "common/mem.h"
#include "raft/logfmt.h"

#define SNAP_MAGIC 0x50414e53u /* "SNAP" */
#define SNAP_VERSION 1
/* magic, version, index, term, conf length; then the conf, the data length,
 * the data and a CRC32C of everything before it. */
#define SNAP_HEAD 28
#define SNAP_OVERHEAD (SNAP_HEAD + 8 + 4)
#define CONF_MAX 2048
#define RECV_NAME "recv.snap.tmp"
#define NAME_MAX_LEN 48

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
    bool rotate; /* the next batch starts a new segment */
    uint64_t batch_next;
    struct wbuf buf;         /* records of the next batch */
    uint64_t buf_last_index; /* highest entry index in buf */
    uint64_t last_index;     /* last entry appended */
    uint64_t term, vote;     /* the latest hard state set */
    bool in_flight;
    struct batch flight;

    /* The current snapshot. */
    int snap_fd;
    uint64_t snap_index, snap_size;

    /* A snapshot being received. */
    int recv_fd;
    uint64_t recv_index, recv_term, recv_off;
};

/* Records the failure and returns code; I/O errors and damage stick. */
__attribute__((format(printf, 3, 4))) static int fail(struct store *s, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
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

static void seg_name(char *out, uint64_t seq)
{
    snprintf(out, NAME_MAX_LEN, "log-%016" PRIx64 ".seg", seq);
}

static void snap_name(char *out, uint64_t index)
{
    snprintf(out, NAME_MAX_LEN, "snap-%016" PRIx64 ".snap", index);
}

/* Parses prefix, 16 lowercase hex digits and suffix; false if name is not
 * exactly that. */
static bool parse_name(const char *name, const char *prefix, const char *suffix,
                       uint64_t *v)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    if (strlen(name) != pl + 16 + sl || strncmp(name, prefix, pl) != 0 ||
        strcmp(name + pl + 16, suffix) != 0)
        return false;
    *v = 0;
    for (size_t i = pl; i < pl + 16; i++) {
        char c = name[i];
        if (c >= '0' && c <= '9')
            *v = *v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *v = *v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return false;
    }
    return true;
}

/* Writes all of iov, resuming after short writes; -1 with errno on error. */
static int writev_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t n = writev(fd, iov, cnt);
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

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
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

/* Reads the whole file behind fd into a malloc'd *buf; -1 with errno. */
static int read_fd(int fd, uint8_t **buf, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    *len = (size_t)st.st_size;
    *buf = mem_xmalloc(*len);
    if (pread_all(fd, *buf, *len, 0) < 0) {
        free(*buf);
        *buf = NULL;
        return -1;
    }
    return 0;
}

static int sync_dir(struct store *s)
{
    if (fsync(s->dirfd) < 0)
        return fail(s, STORE_EIO, "fsync %s: %s", s->dir, strerror(errno));
    return 0;
}

/* Unlinks name and makes that durable, so that files disappear in order. */
static int remove_file(struct store *s, const char *name)
{
    if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
        return fail(s, STORE_EIO, "unlink %s/%s: %s", s->dir, name,
                    strerror(errno));
    return sync_dir(s);
}

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

/* Checks a whole snapshot file; fills *meta and where the data lies.
 * Returns NULL or what is wrong. */
static const char *snap_parse(const uint8_t *b, size_t n,
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
    char old[NAME_MAX_LEN];
    bool had = s->snap_fd >= 0;
    snap_name(old, s->snap_index);
    if (had)
        close(s->snap_fd);
    s->snap_fd = fd;
    s->snap_index = index;
    s->snap_size = size;
    return had ? remove_file(s, old) : 0;
}

/* ---- Recovery ---- */

/* Replays records in order into the open result. */
struct replay {
    struct store_state *st;
    size_t cap;
    bool any;              /* an entry or truncate record was seen */
    uint64_t last;         /* the index the next entry must follow */
    uint64_t term_at_snap; /* term of the log's entry at the snapshot index */
    uint64_t max_batch;
    uint64_t seg_last_index;
};

static void pop_entries(struct store_state *st, uint64_t from)
{
    while (st->n_entries > 0 && st->entries[st->n_entries - 1].index >= from)
        free(st->entries[--st->n_entries].data);
}

/* Applies one record; returns NULL or what is wrong with it. */
static const char *replay_record(struct replay *rp,
                                 const struct logfmt_record *r)
{
    struct store_state *st = rp->st;
    uint64_t snap = st->has_snapshot ? st->snapshot.index : 0;
    if (r->batch > rp->max_batch)
        rp->max_batch = r->batch;
    switch (r->kind) {
    case LOGFMT_HARD_STATE:
        st->term = r->term;
        st->vote = r->index;
        return NULL;
    case LOGFMT_TRUNCATE:
        /* May point past the end: after a snapshot was installed, the log
         * continues right after it. */
        if (r->index == 0)
            return "truncate to index 0";
        pop_entries(st, r->index);
        if (r->index <= snap)
            rp->term_at_snap = 0;
        rp->last = r->index - 1;
        rp->any = true;
        return NULL;
    case LOGFMT_ENTRY:
        if (r->index == 0 || (rp->any && r->index != rp->last + 1))
            return "entry out of sequence";
        rp->last = r->index;
        rp->any = true;
        if (r->index > rp->seg_last_index)
            rp->seg_last_index = r->index;
        if (r->index == snap)
            rp->term_at_snap = r->term;
        if (r->index <= snap)
            return NULL;
        if (st->n_entries == rp->cap) {
            rp->cap = rp->cap ? rp->cap * 2 : 64;
            st->entries =
                mem_xrealloc(st->entries, rp->cap * sizeof *st->entries);
        }
        st->entries[st->n_entries++] = (struct raft_entry){
            .term = r->term,
            .index = r->index,
            .type = r->type,
            .len = r->len,
            .data = r->len ? mem_xmemdup(r->data, r->len) : NULL,
        };
        return NULL;
    }
    return NULL; /* LOGFMT_BATCH_END */
}

/* Cuts the last segment at off: its tail is the torn last write. */
static int cut_tail(struct store *s, struct replay *rp, const char *name,
                    size_t off, size_t len, int status)
{
    int fd = openat(s->dirfd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(s, STORE_EIO, "cut %s/%s: %s", s->dir, name, strerror(e));
    }
    close(fd);
    snprintf(rp->st->repaired, sizeof rp->st->repaired,
             "%s: cut %zu bytes at offset %zu (%s): a torn last write", name,
             len - off, off, logfmt_status_name(status));
    return 0;
}

/* Where a segment stands in recovery. */
struct seg_role {
    bool last;        /* the last one: its tail may be a torn write */
    bool first_acked; /* its first batch is known to be durable */
};

/* Handles the record at off that did not decode (status). Damage unless
 * the segment is the last and no valid record after off belongs to a batch
 * written after the one off is in, batch (a later batch can only have been
 * written once that one was durable and acknowledged). */
static int bad_record(struct store *s, struct replay *rp, const char *name,
                      const uint8_t *buf, size_t len, size_t off, int status,
                      struct seg_role role, uint64_t batch,
                      uint64_t first_batch)
{
    uint64_t later;
    if (!role.last || (role.first_acked && batch == first_batch))
        return fail(s, STORE_ECORRUPT, "%s/%s: %s at offset %zu", s->dir, name,
                    logfmt_status_name(status), off);
    if (logfmt_lookahead(buf, len, off, &later) && later > batch)
        return fail(s, STORE_ECORRUPT,
                    "%s/%s: %s at offset %zu, in batch %" PRIu64
                    " which batch %" PRIu64 " follows",
                    s->dir, name, logfmt_status_name(status), off, batch,
                    later);
    return cut_tail(s, rp, name, off, len, status);
}

/* Reads the records of a segment with a good header into rp. Returns 0,
 * STORE_ECORRUPT or STORE_EIO; *empty tells that no record remains. */
static int replay_records(struct store *s, struct replay *rp, const char *name,
                          const uint8_t *buf, size_t len, uint64_t first_batch,
                          struct seg_role role, bool *empty)
{
    size_t off = LOGFMT_SEG_HEADER;
    /* The batch of the record at off: the previous record's, unless that
     * one closed its batch. */
    uint64_t batch = first_batch;
    for (;;) {
        struct logfmt_record r;
        size_t size;
        int status = logfmt_decode(buf, len, off, &r, &size);
        if (status == LOGFMT_END && off >= len)
            break;
        if (status != LOGFMT_OK) {
            *empty = off == LOGFMT_SEG_HEADER;
            return bad_record(s, rp, name, buf, len, off, status, role, batch,
                              first_batch);
        }
        const char *what = replay_record(rp, &r);
        if (what != NULL)
            return fail(s, STORE_ECORRUPT, "%s/%s: %s at offset %zu", s->dir,
                        name, what, off);
        batch = r.kind == LOGFMT_BATCH_END ? r.batch + 1 : r.batch;
        off += size;
    }
    *empty = off == LOGFMT_SEG_HEADER;
    return 0;
}

/* Replays segment seq. The last one may be torn: a bad header or no
 * records at all means it was being created when the server stopped, and it
 * is removed (*removed set) - unless its first batch is known durable. */
static int replay_segment(struct store *s, struct replay *rp, uint64_t seq,
                          struct seg_role role, bool *removed)
{
    bool last = role.last;
    char name[NAME_MAX_LEN];
    uint8_t *buf;
    size_t len;
    seg_name(name, seq);
    *removed = false;
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read_fd(fd, &buf, &len) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(s, STORE_EIO, "read %s/%s: %s", s->dir, name, strerror(e));
    }
    close(fd);

    struct logfmt_segment hdr;
    int status = logfmt_segment_decode(buf, len, &hdr);
    int rc = 0;
    bool empty = true;
    uint64_t later;
    if (status == LOGFMT_OK && hdr.seq != seq) {
        rc = fail(s, STORE_ECORRUPT, "%s/%s: header names segment %" PRIu64,
                  s->dir, name, hdr.seq);
    } else if (status == LOGFMT_OK) {
        rp->seg_last_index = 0;
        if (hdr.first_batch > rp->max_batch)
            rp->max_batch = hdr.first_batch;
        rc = replay_records(s, rp, name, buf, len, hdr.first_batch, role,
                            &empty);
        if (rc == 0 && empty && role.first_acked)
            rc = fail(s, STORE_ECORRUPT, "%s/%s: no record after offset %d",
                      s->dir, name, LOGFMT_SEG_HEADER);
    } else if (!last || role.first_acked) {
        rc = fail(s, STORE_ECORRUPT, "%s/%s: %s in the segment header", s->dir,
                  name, logfmt_status_name(status));
    } else if (logfmt_lookahead(buf, len, LOGFMT_SEG_HEADER, &later) &&
               later > rp->max_batch + 1) {
        /* Its first batch is the one after the previous segment's last. */
        rc = fail(s, STORE_ECORRUPT,
                  "%s/%s: %s in the segment header, before batch %" PRIu64,
                  s->dir, name, logfmt_status_name(status), later);
    }
    free(buf);
    if (rc != 0 || !last || !empty)
        return rc;
    *removed = true;
    if (rp->st->repaired[0] == '\0')
        snprintf(rp->st->repaired, sizeof rp->st->repaired,
                 "%s: removed, it holds no complete record", name);
    return remove_file(s, name);
}

/* Drops the entries that do not continue the snapshot and checks that the
 * rest does. */
static int replay_finish(struct store *s, struct replay *rp)
{
    struct store_state *st = rp->st;
    uint64_t snap = st->has_snapshot ? st->snapshot.index : 0;
    /* A log whose entry at the snapshot index has another term is the one a
     * received snapshot replaced (the server stopped before the log was
     * reset): none of it follows the snapshot, Raft §7. */
    if (st->has_snapshot && rp->term_at_snap != 0 &&
        rp->term_at_snap != st->snapshot.term)
        pop_entries(st, 0);
    if (st->n_entries > 0 && st->entries[0].index != snap + 1)
        return fail(s, STORE_ECORRUPT,
                    "%s: the log starts at index %" PRIu64
                    " but the snapshot ends at %" PRIu64,
                    s->dir, st->entries[0].index, snap);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct listing {
    uint64_t *segs;
    size_t n_segs;
    uint64_t *snaps;
    size_t n_snaps;
};

static void push_u64(uint64_t **v, size_t *n, uint64_t x)
{
    *v = mem_xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = x;
}

/* Lists segments and snapshots (sorted), removing leftover *.tmp files. */
static int list_dir(struct store *s, struct listing *l)
{
    int fd = dup(s->dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return fail(s, STORE_EIO, "list %s: %s", s->dir, strerror(errno));
    }
    bool removed = false;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        uint64_t v;
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            if (unlinkat(s->dirfd, e->d_name, 0) < 0)
                rc = fail(s, STORE_EIO, "unlink %s/%s: %s", s->dir, e->d_name,
                          strerror(errno));
            removed = true;
        } else if (parse_name(e->d_name, "log-", ".seg", &v)) {
            push_u64(&l->segs, &l->n_segs, v);
        } else if (parse_name(e->d_name, "snap-", ".snap", &v)) {
            push_u64(&l->snaps, &l->n_snaps, v);
        }
    }
    closedir(d);
    if (rc == 0 && removed)
        rc = sync_dir(s);
    if (l->n_segs > 0)
        qsort(l->segs, l->n_segs, sizeof *l->segs, cmp_u64);
    if (l->n_snaps > 0)
        qsort(l->snaps, l->n_snaps, sizeof *l->snaps, cmp_u64);
    return rc;
}

/* Loads the newest snapshot into st and deletes the older ones. */
static int load_snapshot(struct store *s, struct store_state *st,
                         const struct listing *l)
{
    char name[NAME_MAX_LEN];
    uint8_t *buf;
    size_t len, off;
    if (l->n_snaps == 0)
        return 0;
    uint64_t index = l->snaps[l->n_snaps - 1];
    snap_name(name, index);
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read_fd(fd, &buf, &len) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(s, STORE_EIO, "read %s/%s: %s", s->dir, name, strerror(e));
    }
    const char *what = snap_parse(buf, len, &st->snapshot, &off);
    if (what == NULL && st->snapshot.index != index)
        what = "header names another index";
    if (what != NULL) {
        free(buf);
        close(fd);
        return fail(s, STORE_ECORRUPT, "%s/%s: %s", s->dir, name, what);
    }
    st->has_snapshot = true;
    st->snapshot_len = len - off - 4;
    memmove(buf, buf + off, st->snapshot_len);
    st->snapshot_data = buf;
    s->snap_fd = fd;
    s->snap_index = index;
    s->snap_size = len;
    for (size_t i = 0; i + 1 < l->n_snaps; i++) {
        snap_name(name, l->snaps[i]);
        int rc = remove_file(s, name);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Replays the segments in order; their numbers must be consecutive. */
static int load_log(struct store *s, struct store_state *st,
                    const struct listing *l)
{
    struct replay rp = {.st = st};
    for (size_t i = 0; i < l->n_segs; i++) {
        bool removed;
        /* A segment is created only after the one before it is durable,
         * and older ones are deleted only once a newer one is: the first
         * batch of a lone segment past the first was acknowledged. */
        struct seg_role role = {i + 1 == l->n_segs,
                                l->n_segs == 1 && l->segs[0] > 1};
        if (i > 0 && l->segs[i] != l->segs[i - 1] + 1)
            return fail(s, STORE_ECORRUPT,
                        "%s: log-%016" PRIx64 ".seg is missing", s->dir,
                        l->segs[i - 1] + 1);
        int rc = replay_segment(s, &rp, l->segs[i], role, &removed);
        if (rc != 0)
            return rc;
        if (!removed) {
            s->segs = mem_xrealloc(s->segs, (s->n_segs + 1) * sizeof *s->segs);
            s->segs[s->n_segs++] = (struct seg){l->segs[i], rp.seg_last_index};
        }
    }
    int rc = replay_finish(s, &rp);
    if (rc != 0)
        return rc;
    s->batch_next = rp.max_batch + 1;
    s->last_index = st->n_entries ? st->entries[st->n_entries - 1].index
                                  : (st->has_snapshot ? st->snapshot.index : 0);
    return 0;
}

int store_open(struct store *s, struct store_state *st)
{
    struct listing l = {0};
    memset(st, 0, sizeof *st);
    if (mkdir(s->dir, 0755) < 0 && errno != EEXIST)
        return fail(s, STORE_EIO, "mkdir %s: %s", s->dir, strerror(errno));
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return fail(s, STORE_EIO, "open %s: %s", s->dir, strerror(errno));
    int rc = list_dir(s, &l);
    if (rc == 0)
        rc = load_snapshot(s, st, &l);
    if (rc == 0)
        rc = load_log(s, st, &l);
    free(l.segs);
    free(l.snaps);
    if (rc != 0) {
        store_state_close(st);
        return rc;
    }
    s->term = st->term;
    s->vote = st->vote;
    /* Never append to a segment written before: its tail may be a cut
     * batch, and a new segment keeps the batch rule simple to check. */
    s->rotate = true;
    return 0;
}

void store_state_close(struct store_state *st)
{
    for (size_t i = 0; i < st->n_entries; i++)
        free(st->entries[i].data);
    free(st->entries);
    free(st->snapshot_data);
    st->entries = NULL;
    st->n_entries = 0;
    st->snapshot_data = NULL;
    st->snapshot_len = 0;
}

/* ---- Lifecycle ---- */

struct store *store_new(const char *dir, uint64_t segment_bytes)
{
    struct store *s = mem_xcalloc(1, sizeof *s);
    s->dir = mem_xstrdup(dir);
    s->dirfd = -1;
    s->seg_fd = -1;
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
    int fds[] = {s->seg_fd, s->snap_fd, s->recv_fd, s->dirfd};
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
            return fail(s, STORE_EINVAL,
                        "entry %" PRIu64 ": bad index or length",
                        entries[i].index);
    if (first == 0 || first <= s->snap_index || first > s->last_index + 1)
        return fail(s, STORE_EINVAL,
                    "entry %" PRIu64 " does not follow the log (last %" PRIu64
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
    b->create =
        s->rotate || s->n_segs == 0 || s->seg_size + s->buf.len > s->seg_max;
    b->head_len = 0;
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

static void run_fail(struct batch *b, const char *dir, const char *what)
{
    char name[NAME_MAX_LEN];
    seg_name(name, b->seq);
    b->rc = STORE_EIO;
    snprintf(b->err, sizeof b->err, "%s %s/%s: %s", what, dir, name,
             strerror(errno));
}

void store_sync_run(struct store *s)
{
    struct batch *b = &s->flight;
    struct iovec iov[2] = {{b->head, b->head_len}, {b->recs.p, b->recs.len}};
    if (b->create) {
        char name[NAME_MAX_LEN];
        seg_name(name, b->seq);
        int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                        0644);
        if (fd < 0)
            return run_fail(b, s->dir, "create");
        if (s->seg_fd >= 0)
            close(s->seg_fd);
        s->seg_fd = fd;
    }
    if (writev_all(s->seg_fd, b->create ? iov : iov + 1, b->create ? 2 : 1))
        run_fail(b, s->dir, "write");
    else if (fdatasync(s->seg_fd) < 0)
        run_fail(b, s->dir, "fdatasync");
    else if (b->create && fsync(s->dirfd) < 0)
        run_fail(b, s->dir, "fsync the directory of");
}

int store_sync_end(struct store *s)
{
    struct batch *b = &s->flight;
    if (!s->in_flight)
        return fail(s, STORE_EINVAL, "no batch in flight");
    s->in_flight = false;
    if (b->rc != 0)
        return fail(s, b->rc, "%s", b->err);
    if (b->create) {
        s->segs = mem_xrealloc(s->segs, (s->n_segs + 1) * sizeof *s->segs);
        s->segs[s->n_segs++] = (struct seg){b->seq, 0};
        s->seg_size = b->head_len;
        s->rotate = false;
    }
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
    return 0;
}

int store_sync(struct store *s)
{
    if (s->fatal)
        return s->fatal;
    if (s->in_flight)
        return fail(s, STORE_EINVAL, "a batch is in flight");
    if (!store_sync_begin(s))
        return 0;
    store_sync_run(s);
    return store_sync_end(s);
}

/* ---- Snapshots ---- */

/* Deletes the segments before the current one whose entries all lie at or
 * before index, oldest first: the log must never have a hole. */
static int compact(struct store *s, uint64_t index)
{
    size_t n = 0;
    int rc = 0;
    while (rc == 0 && n + 1 < s->n_segs && s->segs[n].last_index <= index) {
        char name[NAME_MAX_LEN];
        seg_name(name, s->segs[n].seq);
        rc = remove_file(s, name);
        if (rc == 0)
            n++;
    }
    if (n > 0) {
        memmove(s->segs, s->segs + n, (s->n_segs - n) * sizeof *s->segs);
        s->n_segs -= n;
    }
    return rc;
}

int store_snapshot_write(struct store *s, const struct raft_snapshot_meta *meta,
                         const void *data, size_t len)
{
    uint8_t head[SNAP_HEAD + CONF_MAX + 8], tail[4];
    char tmp[NAME_MAX_LEN + 4], name[NAME_MAX_LEN];
    if (s->fatal)
        return s->fatal;
    if (s->snap_fd >= 0 && meta->index <= s->snap_index)
        return fail(s, STORE_EINVAL,
                    "snapshot %" PRIu64 " is not past %" PRIu64, meta->index,
                    s->snap_index);
    size_t hlen = snap_head(head, meta, len);
    le_put32(tail, crc32c(crc32c(0, head, hlen), data, len));
    struct iovec iov[3] = {{head, hlen}, {(void *)data, len}, {tail, 4}};
    snap_name(name, meta->index);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd =
        openat(s->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || writev_all(fd, iov, 3) < 0 || fsync(fd) < 0 ||
        renameat(s->dirfd, tmp, s->dirfd, name) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        unlinkat(s->dirfd, tmp, 0);
        return fail(s, STORE_EIO, "write %s/%s: %s", s->dir, tmp, strerror(e));
    }
    int rc = sync_dir(s);
    if (rc == 0)
        rc = snap_install(s, fd, meta->index, hlen + len + sizeof tail);
    else
        close(fd);
    return rc == 0 ? compact(s, meta->index) : rc;
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
        return fail(s, STORE_ENOENT, "no snapshot %" PRIu64, index);
    if (offset > s->snap_size)
        return fail(s, STORE_EINVAL, "offset %" PRIu64 " past the end", offset);
    *n = s->snap_size - offset < cap ? (size_t)(s->snap_size - offset) : cap;
    if (pread_all(s->snap_fd, buf, *n, offset) < 0)
        return fail(s, STORE_EIO, "read snapshot %" PRIu64 ": %s", index,
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
        return fail(s, STORE_EIO, "create %s/%s: %s", s->dir, RECV_NAME,
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
        return fail(s, STORE_EINVAL, "no snapshot being received");
    if (offset == 0 && s->recv_off > 0) {
        if (ftruncate(s->recv_fd, 0) < 0)
            return fail(s, STORE_EIO, "truncate %s/%s: %s", s->dir, RECV_NAME,
                        strerror(errno));
        s->recv_off = 0;
    }
    if (offset != s->recv_off)
        return fail(s, STORE_EINVAL, "chunk at %" PRIu64 ", expected %" PRIu64,
                    offset, s->recv_off);
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(s->recv_fd, (const uint8_t *)data + done, len - done,
                           (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(s, STORE_EIO, "write %s/%s: %s", s->dir, RECV_NAME,
                        strerror(errno));
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
    if (fsync(s->recv_fd) < 0 || read_fd(s->recv_fd, buf, len) < 0)
        return fail(s, STORE_EIO, "sync %s/%s: %s", s->dir, RECV_NAME,
                    strerror(errno));
    const char *what = snap_parse(*buf, *len, &got, off);
    size_t clen = raft_conf_encode(&meta->conf, conf, sizeof conf);
    if (what == NULL && (got.index != meta->index || got.term != meta->term ||
                         clen != le_get32(*buf + 24) ||
                         memcmp(conf, *buf + SNAP_HEAD, clen) != 0))
        what = "header does not match the snapshot's meta";
    if (what == NULL)
        return 0;
    free(*buf);
    recv_drop(s);
    return fail(s, STORE_EINVAL, "received snapshot %" PRIu64 ": %s",
                meta->index, what);
}

int store_recv_finish(struct store *s, const struct raft_snapshot_meta *meta,
                      uint8_t **data, size_t *len)
{
    char name[NAME_MAX_LEN];
    uint8_t *buf;
    size_t flen, off;
    if (s->fatal)
        return s->fatal;
    if (s->recv_fd < 0 || s->in_flight || meta->index != s->recv_index ||
        meta->term != s->recv_term || meta->index <= store_snapshot_index(s))
        return fail(s, STORE_EINVAL, "cannot install snapshot %" PRIu64 " now",
                    meta->index);
    int rc = recv_check(s, meta, &buf, &flen, &off);
    if (rc != 0)
        return rc;
    snap_name(name, meta->index);
    if (renameat(s->dirfd, RECV_NAME, s->dirfd, name) < 0) {
        free(buf);
        return fail(s, STORE_EIO, "rename %s/%s: %s", s->dir, RECV_NAME,
                    strerror(errno));
    }
    int fd = s->recv_fd;
    s->recv_fd = -1;
    rc = sync_dir(s);
    if (rc == 0)
        rc = snap_install(s, fd, meta->index, flen);
    else
        close(fd);
    /* The log restarts after the snapshot, in a new segment holding the
     * hard state and a truncate record: replayed after a crash before the
     * old segments are gone, it drops them. Raft §7. */
    s->buf.len = 0;
    s->buf_last_index = 0;
    put_record(s, LOGFMT_TRUNCATE, 0, meta->index + 1, 0, NULL, 0);
    s->last_index = meta->index;
    s->rotate = true;
    if (rc == 0)
        rc = store_sync(s);
    if (rc == 0)
        rc = compact(s, UINT64_MAX);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *len = flen - off - 4;
    memmove(buf, buf + off, *len);
    *data = buf;
    return 0;
}
