/* recovery.c - store_open: lists the data directory, loads the newest
 * snapshot and replays the log segments, cutting a torn tail and refusing
 * damage (the rules are in docs/design.md §10). */
#include "store/store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"
#include "raft/logfmt.h"
#include "store/store.h"

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
    if (fd < 0 || ftruncate(fd, (off_t)off) < 0 || store_io.fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return store_fail(s, STORE_EIO, "cut %s/%s: %s", s->dir, name,
                          strerror(e));
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
        return store_fail(s, STORE_ECORRUPT, "%s/%s: %s at offset %zu", s->dir,
                          name, logfmt_status_name(status), off);
    if (logfmt_lookahead(buf, len, off, &later) && later > batch)
        return store_fail(s, STORE_ECORRUPT,
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
        /* The end of the file, or of the records in a spare's zeros (of
         * any length: less than a header is left at a full one's end). */
        if (status != LOGFMT_OK && logfmt_all_zero(buf + off, len - off))
            break;
        if (status != LOGFMT_OK) {
            *empty = off == LOGFMT_SEG_HEADER;
            return bad_record(s, rp, name, buf, len, off, status, role, batch,
                              first_batch);
        }
        const char *what = replay_record(rp, &r);
        if (what != NULL)
            return store_fail(s, STORE_ECORRUPT, "%s/%s: %s at offset %zu",
                              s->dir, name, what, off);
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
    char name[STORE_NAME_LEN];
    uint8_t *buf;
    size_t len;
    store_seg_name(name, seq);
    *removed = false;
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || store_read_fd(fd, &buf, &len) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return store_fail(s, STORE_EIO, "read %s/%s: %s", s->dir, name,
                          strerror(e));
    }
    close(fd);

    struct logfmt_segment hdr;
    int status = logfmt_segment_decode(buf, len, &hdr);
    int rc = 0;
    bool empty = true;
    uint64_t later;
    if (status == LOGFMT_OK && hdr.seq != seq) {
        rc = store_fail(s, STORE_ECORRUPT,
                        "%s/%s: header names segment %" PRIu64, s->dir, name,
                        hdr.seq);
    } else if (status == LOGFMT_OK) {
        rp->seg_last_index = 0;
        if (hdr.first_batch > rp->max_batch)
            rp->max_batch = hdr.first_batch;
        rc = replay_records(s, rp, name, buf, len, hdr.first_batch, role,
                            &empty);
        if (rc == 0 && empty && role.first_acked)
            rc = store_fail(s, STORE_ECORRUPT,
                            "%s/%s: no record after offset %d", s->dir, name,
                            LOGFMT_SEG_HEADER);
    } else if (!last || role.first_acked) {
        rc = store_fail(s, STORE_ECORRUPT, "%s/%s: %s in the segment header",
                        s->dir, name, logfmt_status_name(status));
    } else if (logfmt_lookahead(buf, len, LOGFMT_SEG_HEADER, &later) &&
               later > rp->max_batch + 1) {
        /* Its first batch is the one after the previous segment's last. */
        rc =
            store_fail(s, STORE_ECORRUPT,
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
    return store_remove_file(s, name);
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
        return store_fail(s, STORE_ECORRUPT,
                          "%s: the log starts at index %" PRIu64
                          " but the snapshot ends at %" PRIu64,
                          s->dir, st->entries[0].index, snap);
    return 0;
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
        return store_fail(s, STORE_EIO, "list %s: %s", s->dir, strerror(errno));
    }
    bool removed = false;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        uint64_t v;
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            if (unlinkat(s->dirfd, e->d_name, 0) < 0)
                rc = store_fail(s, STORE_EIO, "unlink %s/%s: %s", s->dir,
                                e->d_name, strerror(errno));
            removed = true;
        } else if (parse_name(e->d_name, "log-", ".seg", &v)) {
            push_u64(&l->segs, &l->n_segs, v);
        } else if (parse_name(e->d_name, "snap-", ".snap", &v)) {
            push_u64(&l->snaps, &l->n_snaps, v);
        }
    }
    closedir(d);
    if (rc == 0 && removed)
        rc = store_sync_dir(s);
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
    char name[STORE_NAME_LEN];
    uint8_t *buf;
    size_t len, off;
    if (l->n_snaps == 0)
        return 0;
    uint64_t index = l->snaps[l->n_snaps - 1];
    store_snap_name(name, index);
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || store_read_fd(fd, &buf, &len) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return store_fail(s, STORE_EIO, "read %s/%s: %s", s->dir, name,
                          strerror(e));
    }
    const char *what = store_snap_parse(buf, len, &st->snapshot, &off);
    if (what == NULL && st->snapshot.index != index)
        what = "header names another index";
    if (what != NULL) {
        free(buf);
        close(fd);
        return store_fail(s, STORE_ECORRUPT, "%s/%s: %s", s->dir, name, what);
    }
    st->has_snapshot = true;
    st->snapshot_len = len - off - 4;
    memmove(buf, buf + off, st->snapshot_len);
    st->snapshot_data = buf;
    s->snap_fd = fd;
    s->snap_index = index;
    s->snap_size = len;
    for (size_t i = 0; i + 1 < l->n_snaps; i++) {
        store_snap_name(name, l->snaps[i]);
        int rc = store_remove_file(s, name);
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
            return store_fail(s, STORE_ECORRUPT,
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
        return store_fail(s, STORE_EIO, "mkdir %s: %s", s->dir,
                          strerror(errno));
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return store_fail(s, STORE_EIO, "open %s: %s", s->dir, strerror(errno));
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
