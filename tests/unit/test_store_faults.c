/* test_store_faults.c - the store's error path (src/store/store.c): system
 * calls made to fail through store_io. A failed write or sync is fatal and
 * sticky, and nothing acknowledged before it is lost on reopen. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "raft/logfmt.h"
#include "store/store.h"
#include "store_test.h"
#include "store/store_internal.h"

/* ---- Faults ---- */

/* One system call to fail: after skip more calls succeed, the next fails
 * with errno err (0: disarmed). */
struct fault {
    int skip;
    int err;
};

static struct fault f_writev, f_pwrite, f_fdatasync, f_fsync, f_renameat;
/* A failing writev first writes this many bytes of its data for real and
 * returns that count; the call after it fails. 0: it fails at once. */
static size_t short_bytes;

static void arm(struct fault *f, int skip, int err)
{
    f->skip = skip;
    f->err = err;
}

/* True if this call is the one to fail (errno set); disarms the fault. */
static bool hit(struct fault *f)
{
    if (f->err == 0 || f->skip-- > 0)
        return false;
    errno = f->err;
    f->err = 0;
    return true;
}

static ssize_t fake_writev(int fd, const struct iovec *iov, int cnt)
{
    struct iovec part[4];
    size_t want = short_bytes;
    int k = 0;
    if (!hit(&f_writev))
        return writev(fd, iov, cnt);
    if (want == 0)
        return -1;
    for (; k < cnt && k < 4 && want > 0; k++) {
        part[k] = iov[k];
        if (part[k].iov_len > want)
            part[k].iov_len = want;
        want -= part[k].iov_len;
    }
    CHECK_MSG(want == 0, "short write of %zu bytes: too few", short_bytes);
    short_bytes = 0;
    arm(&f_writev, 0, ENOSPC);
    return writev(fd, part, k);
}

static ssize_t fake_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return hit(&f_pwrite) ? -1 : pwrite(fd, buf, n, off);
}

static int n_fdatasync; /* calls made, failed ones too */

static int fake_fdatasync(int fd)
{
    n_fdatasync++;
    return hit(&f_fdatasync) ? -1 : fdatasync(fd);
}

static int fake_fsync(int fd)
{
    return hit(&f_fsync) ? -1 : fsync(fd);
}

static int fake_renameat(int olddirfd, const char *oldpath, int newdirfd,
                         const char *newpath)
{
    return hit(&f_renameat) ? -1
                            : renameat(olddirfd, oldpath, newdirfd, newpath);
}

/* Routes the store's calls through the fakes (each test runs in its own
 * process, so they need no undoing). */
static void use_fakes(void)
{
    store_io = (struct store_io){fake_writev, fake_pwrite, fake_fdatasync,
                                 fake_fsync, fake_renameat};
}

/* ---- Helpers ---- */

/* Checks that st holds exactly entries [from, to] of term. */
static void check_entries(const struct store_state *st, uint64_t from,
                          uint64_t to, uint64_t term)
{
    CHECK_MSG(st->n_entries == to - from + 1, "%zu entries, want %" PRIu64,
              st->n_entries, to - from + 1);
    for (uint64_t i = from; i <= to; i++) {
        const struct raft_entry *e = &st->entries[i - from];
        CHECK_U64(e->index, i);
        CHECK_U64(e->term, term);
        CHECK_EQ(e->len, entry_len(i));
        for (uint32_t k = 0; k < e->len; k++)
            CHECK_EQ(e->data[k], entry_byte(i, term, k));
    }
}

/* A fresh path in the test's directory; the last four stay valid. */
static const char *data_dir(const char *name)
{
    static char paths[4][512];
    static unsigned next;
    char *path = paths[next % 4];
    snprintf(path, sizeof paths[0], "%s/%s-%u", harness_tmpdir(), name, next);
    next++;
    return path;
}

static void test_conf(struct raft_conf *c)
{
    memset(c, 0, sizeof *c);
    c->n = 1;
    c->servers[0].id = 1;
    c->servers[0].role = RAFT_VOTER;
    snprintf(c->servers[0].addr, RAFT_ADDR_MAX, "127.0.0.1:7000");
}

/* Checks that the message of s holds each of the strings given. */
static void check_msg(const struct store *s, const char *a, const char *b,
                      const char *c)
{
    const char *m = store_errmsg(s);
    CHECK_MSG(strstr(m, a) && strstr(m, b) && strstr(m, c),
              "message \"%s\", want \"%s\", \"%s\", \"%s\"", m, a, b, c);
}

/* Checks that every call that can fail now fails with rc, leaving the
 * message msg as it is. */
static void check_sticky(struct store *s, int rc, const char *msg)
{
    struct raft_snapshot_meta meta = {.index = 1000, .term = 1};
    struct raft_entry e = {1, store_last_index(s) + 1, RAFT_ENTRY_NORMAL, 0,
                           NULL};
    uint8_t buf[16], *got = NULL;
    size_t n, glen;
    bool last;
    test_conf(&meta.conf);
    CHECK_EQ(store_set_hard_state(s, 9, 9), rc);
    CHECK_EQ(store_append(s, &e, 1), rc);
    CHECK(!store_sync_begin(s));
    CHECK_EQ(store_sync_end(s), rc);
    CHECK_EQ(store_sync(s), rc);
    CHECK_EQ(store_snapshot_write(s, &meta, "x", 1), rc);
    CHECK_EQ(store_snapshot_read(s, 1, 0, buf, sizeof buf, &n, &last), rc);
    CHECK_EQ(store_recv_begin(s, 1000, 1), rc);
    CHECK_EQ(store_recv_chunk(s, 0, "x", 1), rc);
    CHECK_EQ(store_recv_finish(s, &meta, &got, &glen), rc);
    CHECK(got == NULL);
    CHECK_STR(store_errmsg(s), msg);
}

/* ---- Tests ---- */

/* A failed fdatasync makes store_sync_end return STORE_EIO with a message
 * naming the call, the segment and the error; every later call fails with
 * STORE_EIO and the message stays. On reopen every batch acknowledged before
 * it is there, and the failed one is there whole or not at all. */
TEST(store_faults, fdatasync_failure_is_sticky)
{
    const char *dir = data_dir("d");
    char msg[512];
    struct store_state st;
    use_fakes();
    struct store *s = open_ok(dir, 0, &st);
    CHECK_EQ(store_set_hard_state(s, 1, 1), 0);
    append(s, 1, 5, 1);
    CHECK_EQ(store_sync(s), 0);
    append(s, 6, 10, 1);
    CHECK_EQ(store_sync(s), 0);

    append(s, 11, 20, 1);
    arm(&f_fdatasync, 0, EIO);
    CHECK(store_sync_begin(s));
    store_sync_run(s);
    CHECK_EQ(store_sync_end(s), STORE_EIO);
    check_msg(s, "fdatasync", "log-0000000000000001.seg", strerror(EIO));
    CHECK(strstr(store_errmsg(s), dir) != NULL);
    snprintf(msg, sizeof msg, "%s", store_errmsg(s));
    check_sticky(s, STORE_EIO, msg);
    store_free(s);

    s = open_ok(dir, 0, &st);
    CHECK_U64(st.term, 1);
    CHECK_U64(st.vote, 1);
    CHECK_MSG(st.n_entries == 10 || st.n_entries == 20, "%zu entries",
              st.n_entries);
    check_entries(&st, 1, st.n_entries, 1);
    store_state_close(&st);
    store_free(s);
}

/* A fatal error of the main thread while a batch is in flight (here a
 * failed snapshot write) also fails the end of that batch, with the first
 * error's message; the batch itself was durable and is there on reopen. */
TEST(store_faults, fatal_error_during_flight)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct raft_snapshot_meta meta = {.index = 5, .term = 1};
    char msg[512];
    test_conf(&meta.conf);
    use_fakes();
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 5, 1);
    CHECK_EQ(store_sync(s), 0);
    append(s, 6, 8, 1);
    CHECK(store_sync_begin(s));
    arm(&f_fsync, 0, EIO);
    CHECK_EQ(store_snapshot_write(s, &meta, "snap", 4), STORE_EIO);
    check_msg(s, "snap-0000000000000005.snap.tmp", strerror(EIO), "write");
    snprintf(msg, sizeof msg, "%s", store_errmsg(s));
    store_sync_run(s);
    CHECK_EQ(store_sync_end(s), STORE_EIO);
    CHECK_STR(store_errmsg(s), msg);
    check_sticky(s, STORE_EIO, msg);
    store_free(s);

    s = open_ok(dir, 0, &st);
    CHECK(!st.has_snapshot);
    check_entries(&st, 1, 8, 1);
    store_state_close(&st);
    store_free(s);
}

/* A snapshot write that fails at any step before the new file is in place
 * (its write, short or not, its fsync, its rename) returns STORE_EIO, sticks,
 * and leaves the previous snapshot and the whole log as they were: on
 * reopen they are there and no temporary file is left. When only the fsync
 * of the directory after the rename fails, reopen finds the new snapshot
 * or the old one, whole, and the log after it. */
TEST(store_faults, snapshot_write_failure_keeps_previous)
{
    struct {
        struct fault *f;
        int skip;
        size_t short_bytes;
        const char *what;
    } cases[] = {
        {&f_writev, 0, 0, "write"},     {&f_writev, 0, 100, "short write"},
        {&f_fsync, 0, 0, "file fsync"}, {&f_renameat, 0, 0, "rename"},
        {&f_fsync, 1, 0, "dir fsync"},
    };
    static uint8_t data[3000];
    struct raft_snapshot_meta meta = {.term = 1};
    test_conf(&meta.conf);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    use_fakes();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *dir = data_dir("d");
        struct store_state st;
        struct store *s = open_ok(dir, 1024, &st);
        CHECK_EQ(store_set_hard_state(s, 1, 1), 0);
        for (uint64_t i = 1; i <= 40; i += 5) {
            append(s, i, i + 4, 1);
            CHECK_EQ(store_sync(s), 0);
            if (i == 26) {
                meta.index = 10;
                CHECK_EQ(store_snapshot_write(s, &meta, "snap-10", 7), 0);
            }
        }
        int segs = count_files(dir, ".seg");
        meta.index = 30;
        short_bytes = cases[c].short_bytes;
        arm(cases[c].f, cases[c].skip, EIO);
        int rc = store_snapshot_write(s, &meta, data, sizeof data);
        CHECK_MSG(rc == STORE_EIO, "%s: %d", cases[c].what, rc);
        CHECK_MSG(strstr(store_errmsg(s),
                         strerror(cases[c].short_bytes ? ENOSPC : EIO)),
                  "%s: %s", cases[c].what, store_errmsg(s));
        CHECK_EQ(store_sync(s), STORE_EIO);
        CHECK_EQ(count_files(dir, ".seg"), segs); /* none deleted */
        store_free(s);

        s = open_ok(dir, 1024, &st);
        bool dir_fsync = cases[c].f == &f_fsync && cases[c].skip == 1;
        CHECK(st.has_snapshot);
        CHECK_EQ(count_files(dir, ".snap"), 1);
        CHECK_EQ(count_files(dir, ".tmp"), 0);
        CHECK_U64(st.term, 1);
        if (st.snapshot.index == 10) {
            CHECK_EQ(st.snapshot_len, 7);
            CHECK_MEM(st.snapshot_data, "snap-10", 7);
            check_entries(&st, 11, 40, 1);
        } else {
            CHECK_MSG(dir_fsync && st.snapshot.index == 30,
                      "%s: snapshot %" PRIu64, cases[c].what,
                      st.snapshot.index);
            CHECK_EQ(st.snapshot_len, sizeof data);
            CHECK_MEM(st.snapshot_data, data, sizeof data);
            check_entries(&st, 31, 40, 1);
        }
        store_state_close(&st);
        store_free(s);
    }
}

/* The records of the batch made of a hard state (2, 2) and entries 11..15
 * of term 2, in the order a sync writes them, and their sizes. */
static const size_t batch_sizes[] = {
    LOGFMT_HEADER, 48, 88, 128, 160, 200, LOGFMT_HEADER,
};

/* A write that fails part way through a batch - a short write then
 * ENOSPC, at offsets all through the batch, into the current segment or
 * into a new one whose header it carries - makes the sync return STORE_EIO.
 * On reopen, the acknowledged batches are there, followed by exactly the
 * failed batch's records that were wholly written before the tear (never a
 * torn one or one after it), and the store writes on. */
TEST(store_faults, short_write_mid_batch)
{
    size_t total = 0;
    for (size_t i = 0; i < sizeof batch_sizes / sizeof batch_sizes[0]; i++)
        total += batch_sizes[i];
    for (uint64_t k = 11; k <= 15; k++)
        CHECK_EQ(logfmt_size(entry_len(k)), batch_sizes[k - 10]);
    use_fakes();
    for (int fresh = 0; fresh <= 1; fresh++) {
        size_t head = fresh ? LOGFMT_SEG_HEADER + LOGFMT_HEADER : 0;
        for (size_t cut = 0; cut < head + total; cut += 7) {
            const char *dir = data_dir("d");
            struct store_state st;
            struct store *s = open_ok(dir, 0, &st);
            CHECK_EQ(store_set_hard_state(s, 1, 1), 0);
            append(s, 1, 10, 1);
            CHECK_EQ(store_sync(s), 0);
            if (fresh) { /* the next batch starts a new segment */
                store_free(s);
                s = open_ok(dir, 0, &st);
                store_state_close(&st);
            }
            CHECK_EQ(store_set_hard_state(s, 2, 2), 0);
            append(s, 11, 15, 2);
            short_bytes = cut;
            arm(&f_writev, 0, ENOSPC);
            CHECK_EQ(store_sync(s), STORE_EIO);
            check_msg(s, "write",
                      fresh ? "log-0000000000000002.seg"
                            : "log-0000000000000001.seg",
                      strerror(ENOSPC));
            store_free(s);

            /* The records of the batch wholly before the cut. */
            size_t whole = 0, end = head + batch_sizes[0];
            while (whole < 7 && end <= cut)
                end += batch_sizes[++whole];
            bool hs = cut >= (head ? head : batch_sizes[0]);
            uint64_t last = 10 + (whole > 5 ? 5 : whole > 0 ? whole - 1 : 0);
            s = open_ok(dir, 0, &st);
            CHECK_U64(st.term, hs ? 2 : 1);
            CHECK_U64(st.vote, hs ? 2 : 1);
            CHECK_MSG(st.n_entries == last,
                      "cut %zu of %s segment: %zu entries, want %" PRIu64, cut,
                      fresh ? "a new" : "the current", st.n_entries, last);
            struct store_state acked = st;
            acked.n_entries = 10;
            check_entries(&acked, 1, 10, 1);
            for (uint64_t i = 11; i <= last; i++)
                CHECK_U64(st.entries[i - 1].term, 2);
            store_state_close(&st);
            append(s, last + 1, last + 1, 3);
            CHECK_EQ(store_sync(s), 0);
            store_free(s);
        }
    }
}

/* A failed write of a received snapshot chunk is fatal too; the log stays
 * and the partial file is gone on reopen. */
TEST(store_faults, recv_chunk_failure_is_sticky)
{
    const char *dir = data_dir("d");
    struct store_state st;
    char msg[512];
    use_fakes();
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 5, 1);
    CHECK_EQ(store_sync(s), 0);
    CHECK_EQ(store_recv_begin(s, 50, 2), 0);
    CHECK_EQ(store_recv_chunk(s, 0, "abcd", 4), 0);
    arm(&f_pwrite, 0, EIO);
    CHECK_EQ(store_recv_chunk(s, 4, "efgh", 4), STORE_EIO);
    check_msg(s, "write", "recv.snap.tmp", strerror(EIO));
    snprintf(msg, sizeof msg, "%s", store_errmsg(s));
    check_sticky(s, STORE_EIO, msg);
    store_free(s);
    s = open_ok(dir, 0, &st);
    check_entries(&st, 1, 5, 1);
    CHECK_EQ(count_files(dir, ".tmp"), 0);
    store_state_close(&st);
    store_free(s);
}

/* A spare that cannot be made (here the disk is full) is no error of the
 * store: its file is removed, the log goes on in the segment that grows,
 * and the next spare is tried only once a new segment has begun. A spare
 * cancelled part way fails the same way. */
TEST(store_faults, spare_failure_is_not_fatal)
{
    const char *dir = data_dir("d");
    struct store_state st;
    use_fakes();
    struct store *s = open_ok(dir, 8192, &st);
    append(s, 1, 4, 1);
    CHECK_EQ(store_sync(s), 0);

    CHECK(store_spare_begin(s));
    arm(&f_writev, 0, ENOSPC);
    store_spare_run(s);
    const char *err = store_spare_end(s);
    CHECK_MSG(err && strstr(err, "write") && strstr(err, "log-spare.seg.tmp") &&
                  strstr(err, strerror(ENOSPC)),
              "spare error: %s", err ? err : "none");
    CHECK_EQ(count_files(dir, ".tmp"), 0);
    CHECK(!store_spare_begin(s)); /* not before the next segment */
    uint64_t i = 5;
    for (; count_files(dir, ".seg") == 1; i += 4) {
        append(s, i, i + 3, 1);
        CHECK_EQ(store_sync(s), 0);
    }
    CHECK(store_spare_begin(s)); /* the new segment: tried again */
    store_spare_cancel(s);
    store_spare_run(s);
    err = store_spare_end(s);
    CHECK_MSG(err && strstr(err, strerror(ECANCELED)), "spare error: %s",
              err ? err : "none");
    CHECK_EQ(count_files(dir, ".tmp"), 0);
    append(s, i, i + 3, 1);
    CHECK_EQ(store_sync(s), 0);
    store_free(s);

    s = open_ok(dir, 8192, &st);
    CHECK_STR(st.repaired, "");
    check_entries(&st, 1, i + 3, 1);
    store_state_close(&st);
    store_free(s);
}

/* Renaming a ready spare into place is part of the batch that needs it: a
 * failure there is fatal like a failed write, and loses nothing synced. */
TEST(store_faults, spare_rename_failure_is_fatal)
{
    const char *dir = data_dir("d");
    struct store_state st;
    use_fakes();
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 4, 1);
    CHECK_EQ(store_sync(s), 0);
    CHECK(store_spare_begin(s));
    store_spare_run(s);
    CHECK(store_spare_end(s) == NULL);
    append(s, 5, 8, 1);
    arm(&f_renameat, 0, EIO);
    CHECK_EQ(store_sync(s), STORE_EIO);
    check_msg(s, "rename the spare to", "log-0000000000000002.seg",
              strerror(EIO));
    store_free(s);

    s = open_ok(dir, 0, &st);
    check_entries(&st, 1, 4, 1);
    CHECK_EQ(count_files(dir, ".tmp"), 0); /* the spare, removed at open */
    store_state_close(&st);
    store_free(s);
}

/* Big files are written in synced chunks of 256 KiB, so that they never
 * queue more than that ahead of the log's own syncs: a 1 MiB spare takes
 * four fdatasyncs, a snapshot of 600 KiB three. */
TEST(store_faults, big_writes_synced_in_chunks)
{
    const char *dir = data_dir("d");
    struct store_state st;
    static uint8_t data[600 << 10];
    struct raft_snapshot_meta meta = {.index = 4, .term = 1};
    use_fakes();
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 4, 1);
    CHECK_EQ(store_sync(s), 0);
    CHECK(store_spare_begin(s));
    n_fdatasync = 0;
    store_spare_run(s);
    CHECK(store_spare_end(s) == NULL);
    CHECK_EQ(n_fdatasync, 4);
    test_conf(&meta.conf);
    n_fdatasync = 0;
    CHECK_EQ(store_snapshot_write(s, &meta, data, sizeof data), 0);
    CHECK_EQ(n_fdatasync, 3);
    store_free(s);
}
