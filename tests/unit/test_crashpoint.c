/* test_crashpoint.c - the crash-point test of the store's recovery
 * (src/store/store.c): a log of many batches is cut or damaged at many byte
 * offsets; recovery must give back exactly the records before a cut of the
 * last write, and refuse to open when acknowledged data is damaged. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/logfmt.h"
#include "store/store.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- The data directory as bytes ---- */

#define MAX_SEGS 64

struct seg_file {
    char name[64];
    uint8_t *buf;
    size_t len;
    size_t batch_start[4096]; /* offsets where a batch starts */
    size_t n_batches;
};

struct disk {
    char dir[300];
    struct seg_file segs[MAX_SEGS];
    size_t n;
};

static int cmp_seg(const void *a, const void *b)
{
    return strcmp(((const struct seg_file *)a)->name,
                  ((const struct seg_file *)b)->name);
}

static void write_file(const char *dir, const char *name, const uint8_t *buf,
                       size_t len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
    CHECK(len == 0 || write(fd, buf, len) == (ssize_t)len);
    close(fd);
}

/* Finds where the batches of a segment start: after its header and after
 * every batch end record. */
static void find_batches(struct seg_file *f)
{
    size_t off = LOGFMT_SEG_HEADER, size;
    struct logfmt_record r;
    f->n_batches = 0;
    f->batch_start[f->n_batches++] = 0;
    while (logfmt_decode(f->buf, f->len, off, &r, &size) == LOGFMT_OK) {
        off += size;
        if (r.kind == LOGFMT_BATCH_END && off < f->len) {
            CHECK(f->n_batches < 4096);
            f->batch_start[f->n_batches++] = off;
        }
    }
    CHECK_EQ(off, f->len);
}

/* Reads every segment of dir into d. */
static void disk_load(struct disk *d, const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    CHECK(dp != NULL);
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    while ((e = readdir(dp)) != NULL) {
        if (strncmp(e->d_name, "log-", 4) != 0)
            continue;
        CHECK(d->n < MAX_SEGS && strlen(e->d_name) < 64);
        memcpy(d->segs[d->n++].name, e->d_name, strlen(e->d_name) + 1);
    }
    closedir(dp);
    qsort(d->segs, d->n, sizeof d->segs[0], cmp_seg);
    for (size_t i = 0; i < d->n; i++) {
        char path[400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, d->segs[i].name);
        int fd = open(path, O_RDONLY);
        CHECK(fd >= 0 && fstat(fd, &st) == 0);
        d->segs[i].len = (size_t)st.st_size;
        d->segs[i].buf = malloc(d->segs[i].len);
        CHECK(read(fd, d->segs[i].buf, d->segs[i].len) ==
              (ssize_t)d->segs[i].len);
        close(fd);
        find_batches(&d->segs[i]);
    }
}

/* Puts segment i back as it was. */
static void disk_restore(const struct disk *d, size_t i)
{
    write_file(d->dir, d->segs[i].name, d->segs[i].buf, d->segs[i].len);
}

/* ---- The expected state: the records wholly before a cut ---- */

struct model {
    uint64_t term, vote;
    struct logfmt_record *e; /* entries, data pointing into struct disk */
    size_t n, cap;
};

/* Applies the records of buf (len bytes, a segment) wholly inside it. */
static void model_apply(struct model *m, const uint8_t *buf, size_t len)
{
    size_t off = LOGFMT_SEG_HEADER, size;
    struct logfmt_record r;
    while (len >= LOGFMT_SEG_HEADER &&
           logfmt_decode(buf, len, off, &r, &size) == LOGFMT_OK) {
        off += size;
        if (r.kind == LOGFMT_HARD_STATE) {
            m->term = r.term;
            m->vote = r.index;
        } else if (r.kind == LOGFMT_TRUNCATE) {
            while (m->n > 0 && m->e[m->n - 1].index >= r.index)
                m->n--;
        } else if (r.kind == LOGFMT_ENTRY) {
            CHECK(m->n == 0 || r.index == m->e[m->n - 1].index + 1);
            if (m->n == m->cap) {
                m->cap = m->cap ? 2 * m->cap : 256;
                m->e = realloc(m->e, m->cap * sizeof *m->e);
            }
            m->e[m->n++] = r;
        }
    }
}

/* The state of d with its last segment cut at cut bytes. */
static void model_of(struct model *m, const struct disk *d, size_t cut)
{
    m->n = 0;
    m->term = m->vote = 0;
    for (size_t i = 0; i + 1 < d->n; i++)
        model_apply(m, d->segs[i].buf, d->segs[i].len);
    model_apply(m, d->segs[d->n - 1].buf, cut);
}

static void check_model(const struct model *m, const struct store_state *st,
                        size_t cut)
{
    CHECK_MSG(st->n_entries == m->n, "cut %zu: %zu entries, want %zu", cut,
              st->n_entries, m->n);
    CHECK_U64(st->term, m->term);
    CHECK_U64(st->vote, m->vote);
    for (size_t i = 0; i < m->n; i++) {
        const struct raft_entry *e = &st->entries[i];
        CHECK_U64(e->index, m->e[i].index);
        CHECK_U64(e->term, m->e[i].term);
        CHECK_EQ(e->type, m->e[i].type);
        CHECK_EQ(e->len, m->e[i].len);
        if (e->len > 0)
            CHECK_MEM(e->data, m->e[i].data, e->len);
    }
}

/* ---- The workload ---- */

/* Writes batches of 1 to max_batch random entries of 0 to max_len bytes,
 * with hard state changes and rewinds (truncations) now and then. */
static void build_log(const char *dir, uint64_t seg_bytes, int batches,
                      int max_batch, uint32_t max_len)
{
    static uint8_t data[1 << 16];
    struct store_state st;
    struct store *s = store_new(dir, seg_bytes);
    CHECK_EQ(store_open(s, &st), 0);
    uint64_t term = 1, next = 1;
    for (int b = 0; b < batches; b++) {
        if (rnd() % 8 == 0) {
            term++;
            CHECK_EQ(store_set_hard_state(s, term, rnd() % 5), 0);
        }
        if (next > 4 && rnd() % 10 == 0)
            next -= 1 + rnd() % 3;
        int n = 1 + (int)(rnd() % (uint64_t)max_batch);
        for (int i = 0; i < n; i++, next++) {
            struct raft_entry e = {term, next, (uint8_t)(1 + rnd() % 3),
                                   (uint32_t)(rnd() % (max_len + 1)), data};
            for (uint32_t k = 0; k < e.len; k++)
                data[k] = (uint8_t)rnd();
            CHECK_EQ(store_append(s, &e, 1), 0);
        }
        CHECK_EQ(store_sync(s), 0);
    }
    store_free(s);
}

/* Opens dir, checks the result against m and closes. */
static void open_check(const char *dir, const struct model *m, size_t cut)
{
    struct store_state st;
    struct store *s = store_new(dir, 0);
    int rc = store_open(s, &st);
    CHECK_MSG(rc == 0, "cut %zu: open: %s", cut, store_errmsg(s));
    check_model(m, &st, cut);
    store_state_close(&st);
    store_free(s);
}

/* Writes the last segment cut at cut, followed by tail (n bytes). Returns
 * the length of what is left of the original: the cut, plus the bytes of
 * tail that happen to be the original ones (zeros often are). */
static size_t put_cut(const struct disk *d, size_t cut, const uint8_t *tail,
                      size_t n)
{
    static uint8_t buf[1 << 20];
    const struct seg_file *f = &d->segs[d->n - 1];
    size_t same = 0;
    CHECK(cut + n <= sizeof buf);
    memcpy(buf, f->buf, cut);
    if (n > 0)
        memcpy(buf + cut, tail, n);
    write_file(d->dir, f->name, buf, cut + n);
    while (same < n && cut + same < f->len && tail[same] == f->buf[cut + same])
        same++;
    return cut + same;
}

/* After recovery, the store writes on: an entry appended and synced is
 * there at the next open, after the recovered ones. */
static void check_continue(const struct disk *d, const struct model *m,
                           size_t cut)
{
    struct store_state st;
    struct store *s = store_new(d->dir, 0);
    CHECK_EQ(store_open(s, &st), 0);
    uint64_t next = m->n ? m->e[m->n - 1].index + 1 : 1;
    struct raft_entry e = {99, next, RAFT_ENTRY_NOOP, 0, NULL};
    CHECK_EQ(store_append(s, &e, 1), 0);
    CHECK_EQ(store_sync(s), 0);
    store_state_close(&st);
    store_free(s);
    s = store_new(d->dir, 0);
    CHECK_EQ(store_open(s, &st), 0);
    CHECK_MSG(st.n_entries == m->n + 1, "cut %zu", cut);
    CHECK_U64(st.entries[m->n].term, 99);
    store_state_close(&st);
    store_free(s);
    /* Remove what was written: the segments after the original ones. */
    for (unsigned k = 1; k <= 2; k++) {
        char name[400];
        snprintf(name, sizeof name, "%s/log-%016zx.seg", d->dir, d->n + k);
        unlink(name);
    }
}

/* Cut at every byte of the last segment from the start of the batch before
 * the last one - alone, followed by random garbage and by zeros - recovery
 * gives back exactly the records wholly before the cut (so every record
 * acknowledged before the torn batch), and the store writes on after it. */
TEST_TIMEOUT(crashpoint, last_batches_every_offset, 120)
{
    static struct disk d;
    static struct model m;
    static uint8_t tail[4096];
    const char *dir = harness_tmpdir();
    rng_state = 0x1234567;
    build_log(dir, 16384, 100, 6, 180);
    disk_load(&d, dir);
    CHECK(d.n >= 3);
    const struct seg_file *f = &d.segs[d.n - 1];
    size_t from = f->n_batches >= 2 ? f->batch_start[f->n_batches - 2] : 0;
    size_t checked = 0;
    for (size_t cut = from; cut <= f->len; cut++) {
        model_of(&m, &d, cut);
        put_cut(&d, cut, NULL, 0);
        open_check(dir, &m, cut);
        size_t n = 1 + rnd() % 300;
        for (size_t i = 0; i < n; i++)
            tail[i] = (uint8_t)rnd();
        size_t kept = put_cut(&d, cut, tail, n);
        model_of(&m, &d, kept);
        open_check(dir, &m, cut);
        memset(tail, 0, sizeof tail);
        kept = put_cut(&d, cut, tail, 1 + rnd() % sizeof tail);
        model_of(&m, &d, kept);
        open_check(dir, &m, cut);
        model_of(&m, &d, cut);
        if (cut % 61 == 0 || cut == f->len) {
            put_cut(&d, cut, NULL, 0);
            check_continue(&d, &m, cut);
        }
        checked++;
    }
    CHECK_MSG(checked > 300, "%zu offsets", checked);
    disk_restore(&d, d.n - 1);
    model_of(&m, &d, f->len);
    open_check(dir, &m, f->len);
}

/* In a large log of many segments, a cut at random offsets of the last
 * segment recovers exactly the records before the cut. */
TEST_TIMEOUT(crashpoint, large_log_random_cuts, 120)
{
    static struct disk d;
    static struct model m;
    const char *dir = harness_tmpdir();
    rng_state = 0xfeedbeef;
    build_log(dir, 128 << 10, 1200, 8, 700);
    disk_load(&d, dir);
    CHECK_MSG(d.n >= 8, "%zu segments", d.n);
    const struct seg_file *f = &d.segs[d.n - 1];
    for (int i = 0; i < 250; i++) {
        size_t cut = rnd() % (f->len + 1);
        model_of(&m, &d, cut);
        put_cut(&d, cut, NULL, 0);
        open_check(dir, &m, cut);
    }
    disk_restore(&d, d.n - 1);
}

/* Opens dir, which must fail naming segment i and the offset. */
static void open_damaged(const struct disk *d, size_t i, size_t off,
                         const char *what)
{
    struct store_state st;
    char want[100];
    struct store *s = store_new(d->dir, 0);
    int rc = store_open(s, &st);
    snprintf(want, sizeof want, "%s: ", d->segs[i].name);
    const char *msg = store_errmsg(s), *at = strstr(msg, " at offset ");
    CHECK_MSG(rc == STORE_ECORRUPT && strstr(msg, want) && at &&
                  strtoull(at + 11, NULL, 10) == off,
              "%s in %s at %zu: open gave %d \"%s\"", what, d->segs[i].name,
              off, rc, msg);
    store_free(s);
}

/* The record of segment f holding byte at: its start and end. */
static void record_at(const struct seg_file *f, size_t at, size_t *start,
                      size_t *end)
{
    size_t off = LOGFMT_SEG_HEADER, size;
    struct logfmt_record r;
    while (logfmt_decode(f->buf, f->len, off, &r, &size) == LOGFMT_OK) {
        if (at < off + size) {
            *start = off;
            *end = off + size;
            return;
        }
        off += size;
    }
    CHECK_MSG(false, "no record at %zu", at);
}

/* A cut inside a record of an earlier segment, a damaged byte in a record
 * of an earlier segment, and a damaged byte or zeroed block in a record of
 * the last segment that a later batch follows (so acknowledged data) all
 * make open fail, naming the file and the offset of the record. */
TEST_TIMEOUT(crashpoint, damage_refused, 120)
{
    static struct disk d;
    static uint8_t buf[1 << 20];
    const char *dir = harness_tmpdir();
    int tried = 0;
    rng_state = 0xabcdef01;
    build_log(dir, 64 << 10, 500, 8, 700);
    disk_load(&d, dir);
    CHECK_MSG(d.n >= 6, "%zu segments", d.n);
    for (int i = 0; i < 300; i++) {
        int how = i % 4;
        size_t segi = how < 2 ? rnd() % (d.n - 1) : d.n - 1;
        const struct seg_file *f = &d.segs[segi];
        /* In the last segment, only before its last batch. */
        size_t lim = how < 2 ? f->len : f->batch_start[f->n_batches - 1];
        if (lim <= LOGFMT_SEG_HEADER + 1)
            continue;
        size_t at = LOGFMT_SEG_HEADER + rnd() % (lim - LOGFMT_SEG_HEADER);
        size_t start, end, len = f->len;
        record_at(f, at, &start, &end);
        tried++;
        memcpy(buf, f->buf, f->len);
        if (how == 0) { /* a cut inside the record */
            len = start + 1 + rnd() % (end - start - 1);
        } else if (how == 3) { /* a lost block */
            size_t n = 512 < lim - start ? 512 : lim - start;
            memset(buf + start, 0, n);
        } else {
            buf[at] ^= (uint8_t)(1 + rnd() % 255);
        }
        write_file(d.dir, f->name, buf, len);
        open_damaged(&d, segi, start,
                     how == 0   ? "cut"
                     : how == 3 ? "zeroed block"
                                : "damaged byte");
        disk_restore(&d, segi);
    }
    CHECK(tried > 250);
}

/* A hole of zeros over one record of the last batch, with later records of
 * that batch intact (its pages reached the disk out of order), is a torn
 * write: recovery keeps the records before the hole. The same hole in the
 * batch before, which the last batch follows, is damage. */
TEST(crashpoint, hole_in_last_batches)
{
    static struct disk d;
    static struct model m;
    static uint8_t buf[1 << 20];
    const char *dir = harness_tmpdir();
    rng_state = 0x5eed;
    build_log(dir, 1 << 20, 40, 8, 300);
    disk_load(&d, dir);
    const struct seg_file *f = &d.segs[d.n - 1];
    CHECK(d.n == 1 && f->n_batches > 3);
    size_t prev = f->batch_start[f->n_batches - 2];
    size_t lastb = f->batch_start[f->n_batches - 1];
    size_t holes = 0;
    for (size_t at = prev; at < f->len;) {
        size_t start, end;
        record_at(f, at, &start, &end);
        memcpy(buf, f->buf, f->len);
        memset(buf + start, 0, end - start);
        write_file(dir, f->name, buf, f->len);
        if (start >= lastb) {
            model_of(&m, &d, start);
            open_check(dir, &m, start);
        } else {
            open_damaged(&d, 0, start, "hole");
        }
        disk_restore(&d, 0);
        at = end;
        holes++;
    }
    CHECK(holes >= 4);
}
