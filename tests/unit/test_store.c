/* test_store.c - the log and snapshot files (src/store/store.c, snapfile.c):
 * what is synced survives a reopen, truncation, rotation, compaction, snapshots
 * and the split sync, and damage is refused by name. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/le.h"
#include "raft/logfmt.h"
#include "store/store.h"
#include "store_test.h"

/* Checks that st->entries[at..] hold entries [from, to] of term. */
static void check_entries(const struct store_state *st, size_t at,
                          uint64_t from, uint64_t to, uint64_t term)
{
    CHECK(st->n_entries >= at + (to - from + 1));
    for (uint64_t i = from; i <= to; i++) {
        const struct raft_entry *e = &st->entries[at + i - from];
        CHECK_U64(e->index, i);
        CHECK_U64(e->term, term);
        CHECK_EQ(e->type, RAFT_ENTRY_NORMAL);
        CHECK_EQ(e->len, entry_len(i));
        for (uint32_t k = 0; k < e->len; k++)
            CHECK_EQ(e->data[k], entry_byte(i, term, k));
    }
}

/* A path in the test's directory; the last four stay valid. */
static const char *data_dir(const char *name)
{
    static char paths[4][512];
    static unsigned next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", harness_tmpdir(), name);
    return path;
}

/* Opens dir, which must fail with STORE_ECORRUPT and a message holding
 * want; returns nothing. */
static void open_corrupt(const char *dir, const char *want)
{
    struct store_state st;
    struct store *s = store_new(dir, 0);
    int rc = store_open(s, &st);
    CHECK_MSG(rc == STORE_ECORRUPT && strstr(store_errmsg(s), want),
              "open: %d \"%s\", want \"%s\"", rc, store_errmsg(s), want);
    store_free(s);
}

/* Runs a shell command, which must succeed. */
__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
    char cmd[2000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
}

static void test_conf(struct raft_conf *c)
{
    memset(c, 0, sizeof *c);
    c->n = 3;
    for (unsigned i = 0; i < 3; i++) {
        c->servers[i].id = i + 1;
        c->servers[i].role = i == 2 ? RAFT_LEARNER : RAFT_VOTER;
        snprintf(c->servers[i].addr, RAFT_ADDR_MAX, "127.0.0.1:%u", 7000 + i);
    }
}

/* The hard state synced survives a reopen; one set but not synced does
 * not, and an empty directory opens as an empty store. */
TEST(store, hard_state_survives_reopen)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct store *s = open_ok(dir, 0, &st);
    CHECK_U64(st.term, 0);
    CHECK_EQ(st.n_entries, 0);
    CHECK(!st.has_snapshot);
    CHECK_EQ(store_set_hard_state(s, 5, 2), 0);
    CHECK_EQ(store_sync(s), 0);
    CHECK_EQ(store_set_hard_state(s, 6, 0), 0);
    store_free(s);
    s = open_ok(dir, 0, &st);
    CHECK_U64(st.term, 5);
    CHECK_U64(st.vote, 2);
    CHECK_STR(st.repaired, "");
    CHECK_EQ(store_set_hard_state(s, 7, 3), 0);
    CHECK_EQ(store_sync(s), 0);
    store_free(s);
    s = open_ok(dir, 0, &st);
    CHECK_U64(st.term, 7);
    CHECK_U64(st.vote, 3);
    store_free(s);
}

/* Entries synced in many batches come back in order with their payloads
 * after a reopen, and appending goes on after them. */
TEST(store, entries_survive_reopen)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct store *s = open_ok(dir, 0, &st);
    for (uint64_t i = 1; i <= 300; i += 10) {
        append(s, i, i + 9, 1);
        CHECK_EQ(store_sync(s), 0);
    }
    store_free(s);
    s = open_ok(dir, 0, &st);
    CHECK_EQ(st.n_entries, 300);
    check_entries(&st, 0, 1, 300, 1);
    CHECK_U64(store_last_index(s), 300);
    append(s, 301, 310, 2);
    CHECK_EQ(store_sync(s), 0);
    store_state_close(&st);
    store_free(s);
    s = open_ok(dir, 0, &st);
    CHECK_EQ(st.n_entries, 310);
    check_entries(&st, 300, 301, 310, 2);
    store_state_close(&st);
    store_free(s);
}

/* Appending at or before the last index writes a truncate record: the
 * replaced entries are gone after a reopen, in the same batch, across
 * batches and across a reopen. Gaps and bad sequences are refused. */
TEST(store, truncate_across_reopen)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 10, 1);
    append(s, 8, 9, 2); /* same batch */
    CHECK_EQ(store_sync(s), 0);
    store_free(s);
    s = open_ok(dir, 0, &st);
    CHECK_EQ(st.n_entries, 9);
    check_entries(&st, 0, 1, 7, 1);
    check_entries(&st, 7, 8, 9, 2);
    store_state_close(&st);
    append(s, 4, 6, 3); /* after a reopen */
    CHECK_EQ(store_sync(s), 0);
    append(s, 7, 12, 3);
    CHECK_EQ(store_sync(s), 0);
    append(s, 12, 12, 4); /* the last one only */
    CHECK_EQ(store_sync(s), 0);
    store_free(s);
    s = open_ok(dir, 0, &st);
    CHECK_EQ(st.n_entries, 12);
    check_entries(&st, 0, 1, 3, 1);
    check_entries(&st, 3, 4, 11, 3);
    check_entries(&st, 11, 12, 12, 4);
    store_state_close(&st);

    struct raft_entry e[2] = {{5, 14, 1, 0, NULL}, {5, 15, 1, 0, NULL}};
    CHECK_EQ(store_append(s, e, 1), STORE_EINVAL); /* gap: 13 missing */
    e[0].index = 13;
    CHECK_EQ(store_append(s, e, 2), STORE_EINVAL); /* 13 then 15 */
    e[0].index = 0;
    CHECK_EQ(store_append(s, e, 1), STORE_EINVAL);
    e[0].index = 13;
    e[0].len = LOGFMT_MAX_LEN + 1;
    CHECK_EQ(store_append(s, e, 1), STORE_EINVAL);
    store_free(s);
}

/* With small segments, batches rotate into new segment files, each under
 * the limit (a batch never spans two), and everything comes back. */
TEST(store, segment_rotation)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct store *s = open_ok(dir, 4096, &st);
    CHECK_EQ(store_set_hard_state(s, 3, 1), 0);
    for (uint64_t i = 1; i <= 400; i += 4) {
        append(s, i, i + 3, 3);
        CHECK_EQ(store_sync(s), 0);
    }
    store_free(s);
    int segs = count_files(dir, ".seg");
    CHECK_MSG(segs >= 10, "%d segments", segs);
    sh("test -z \"$(find '%s' -name '*.seg' -size +4096c)\"", dir);
    s = open_ok(dir, 4096, &st);
    CHECK_EQ(st.n_entries, 400);
    check_entries(&st, 0, 1, 400, 3);
    CHECK_U64(st.term, 3);
    CHECK_U64(st.vote, 1);
    store_state_close(&st);
    store_free(s);
}

/* A snapshot deletes the segments wholly before it (never the current one,
 * nor the one holding its own index) and the older snapshot; the hard state,
 * set only at the start, and the entries after the snapshot survive a reopen.
 */
TEST(store, compaction_keeps_hard_state)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct raft_snapshot_meta meta = {.index = 150, .term = 2};
    test_conf(&meta.conf);
    struct store *s = open_ok(dir, 4096, &st);
    CHECK_EQ(store_set_hard_state(s, 2, 3), 0);
    for (uint64_t i = 1; i <= 200; i += 5) {
        append(s, i, i + 4, 2);
        CHECK_EQ(store_sync(s), 0);
    }
    int before = count_files(dir, ".seg");
    CHECK_EQ(store_snapshot_write(s, &meta, "state-150", 9), 0);
    int after = count_files(dir, ".seg");
    /* Kept: the current segment, and the one whose last entry is 150 (the
     * snapshot's own entry, which recovery checks the log against). */
    CHECK_MSG(before >= 6 && after <= 3, "%d segments before, %d after", before,
              after);
    meta.index = 100;
    CHECK_EQ(store_snapshot_write(s, &meta, "old", 3), STORE_EINVAL);
    meta.index = 200;
    CHECK_EQ(store_snapshot_write(s, &meta, "state-200", 9), 0);
    CHECK_EQ(count_files(dir, ".snap"), 1);
    CHECK_EQ(count_files(dir, ".seg"), 1); /* the current one */
    store_free(s);

    s = open_ok(dir, 4096, &st);
    CHECK_U64(st.term, 2);
    CHECK_U64(st.vote, 3);
    CHECK(st.has_snapshot);
    CHECK_U64(st.snapshot.index, 200);
    CHECK_U64(st.snapshot.term, 2);
    CHECK_EQ(st.snapshot.conf.n, 3);
    CHECK_STR(st.snapshot.conf.servers[2].addr, "127.0.0.1:7002");
    CHECK_EQ(st.snapshot.conf.servers[2].role, RAFT_LEARNER);
    CHECK_EQ(st.snapshot_len, 9);
    CHECK_MEM(st.snapshot_data, "state-200", 9);
    CHECK_EQ(st.n_entries, 0);
    CHECK_U64(store_last_index(s), 200);
    append(s, 201, 230, 4);
    CHECK_EQ(store_sync(s), 0);
    store_state_close(&st);
    store_free(s);
    s = open_ok(dir, 4096, &st);
    CHECK_EQ(st.n_entries, 30);
    check_entries(&st, 0, 201, 230, 4);
    store_state_close(&st);
    store_free(s);
}

/* A snapshot read in chunks by a leader and received in chunks by a
 * follower is installed whole: same bytes, the follower's log replaced by
 * one after the snapshot, all of it surviving a reopen. Out-of-order chunks,
 * a wrong meta and damaged bytes are refused. */
TEST(store, snapshot_transfer)
{
    const char *la = data_dir("leader"), *fo = data_dir("follower");
    struct store_state st;
    struct raft_snapshot_meta meta = {.index = 40, .term = 3};
    static uint8_t app[100000], file[200000], *got;
    size_t flen = 0, n, glen;
    bool last = false;
    test_conf(&meta.conf);
    for (size_t i = 0; i < sizeof app; i++)
        app[i] = (uint8_t)(i * 13 + i / 1000);
    struct store *l = open_ok(la, 0, &st);
    append(l, 1, 50, 3);
    CHECK_EQ(store_sync(l), 0);
    CHECK_EQ(store_snapshot_write(l, &meta, app, sizeof app), 0);
    CHECK_EQ(store_snapshot_read(l, 39, 0, file, 10, &n, &last), STORE_ENOENT);
    while (!last) {
        CHECK_EQ(store_snapshot_read(l, 40, flen, file + flen, 7777, &n, &last),
                 0);
        flen += n;
    }
    CHECK_EQ(store_snapshot_read(l, 40, flen + 1, file, 10, &n, &last),
             STORE_EINVAL);

    struct store *f = open_ok(fo, 0, &st);
    CHECK_EQ(store_set_hard_state(f, 3, 1), 0);
    append(f, 1, 45, 2); /* a divergent log, replaced by the snapshot */
    CHECK_EQ(store_sync(f), 0);
    append(f, 46, 47, 2); /* buffered, dropped by the install */
    CHECK_EQ(store_recv_chunk(f, 0, file, 10), STORE_EINVAL); /* no begin */
    CHECK_EQ(store_recv_begin(f, 40, 3), 0);
    CHECK_EQ(store_recv_chunk(f, 0, file, 1000), 0);
    CHECK_EQ(store_recv_chunk(f, 2000, file + 2000, 10), STORE_EINVAL);
    CHECK_EQ(store_recv_chunk(f, 0, file, 500), 0); /* restart */
    for (size_t off = 500; off < flen; off += 4096) {
        size_t k = flen - off < 4096 ? flen - off : 4096;
        CHECK_EQ(store_recv_chunk(f, off, file + off, k), 0);
    }
    meta.term = 4;
    CHECK_EQ(store_recv_finish(f, &meta, &got, &glen), STORE_EINVAL);
    meta.term = 3;
    CHECK_EQ(store_recv_finish(f, &meta, &got, &glen), 0);
    CHECK_EQ(glen, sizeof app);
    CHECK_MEM(got, app, sizeof app);
    free(got);
    CHECK_U64(store_last_index(f), 40);
    CHECK_U64(store_snapshot_index(f), 40);
    CHECK_EQ(count_files(fo, ".seg"), 1);
    append(f, 41, 44, 4);
    CHECK_EQ(store_sync(f), 0);
    /* The follower now serves the same bytes. */
    static uint8_t again[200000];
    CHECK_EQ(store_snapshot_read(f, 40, 0, again, sizeof again, &n, &last), 0);
    CHECK(last && n == flen);
    CHECK_MEM(again, file, flen);
    store_free(f);

    f = open_ok(fo, 0, &st);
    CHECK_U64(st.term, 3);
    CHECK_U64(st.vote, 1);
    CHECK(st.has_snapshot);
    CHECK_U64(st.snapshot.index, 40);
    CHECK_EQ(st.snapshot.conf.n, 3);
    CHECK_EQ(st.snapshot_len, sizeof app);
    CHECK_MEM(st.snapshot_data, app, sizeof app);
    CHECK_EQ(st.n_entries, 4);
    check_entries(&st, 0, 41, 44, 4);
    store_state_close(&st);

    /* A damaged transfer is refused and the current snapshot stays. */
    meta.index = 60;
    CHECK_EQ(store_recv_begin(f, 60, 3), 0);
    file[flen / 2] ^= 1;
    CHECK_EQ(store_recv_chunk(f, 0, file, flen), 0);
    CHECK_EQ(store_recv_finish(f, &meta, &got, &glen), STORE_EINVAL);
    CHECK_U64(store_snapshot_index(f), 40);
    store_free(f);
    store_free(l);
}

struct runner {
    struct store *s;
};

static void *run_cb(void *arg)
{
    store_sync_run(((struct runner *)arg)->s);
    return NULL;
}

/* In the split sync, run on a worker thread, what is appended between
 * begin and end is not in the batch in flight but lands in the next one;
 * begin has nothing to do on an empty buffer. */
TEST(store, split_sync)
{
    const char *dir = data_dir("d"), *copy = data_dir("copy");
    struct store_state st;
    struct store *s = open_ok(dir, 0, &st);
    CHECK(!store_sync_begin(s));
    append(s, 1, 5, 1);
    CHECK(store_sync_begin(s));
    CHECK(!store_sync_begin(s)); /* one batch at a time */
    struct runner r = {s};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, run_cb, &r), 0);
    append(s, 6, 8, 1);
    append(s, 8, 9, 2); /* truncates a buffered entry */
    CHECK_EQ(store_set_hard_state(s, 2, 0), 0);
    pthread_join(t, NULL);
    CHECK_EQ(store_sync_end(s), 0);
    sh("cp -a '%s' '%s'", dir, copy);
    struct store *c = open_ok(copy, 0, &st);
    CHECK_EQ(st.n_entries, 5);
    CHECK_U64(st.term, 0);
    store_state_close(&st);
    store_free(c);

    CHECK(store_sync_begin(s));
    store_sync_run(s);
    CHECK_EQ(store_sync_end(s), 0);
    CHECK(!store_sync_begin(s));
    store_free(s);
    s = open_ok(dir, 0, &st);
    CHECK_EQ(st.n_entries, 9);
    check_entries(&st, 0, 1, 7, 1);
    check_entries(&st, 7, 8, 9, 2);
    CHECK_U64(st.term, 2);
    store_state_close(&st);
    store_free(s);
}

/* Leftover temporary files are removed at open. */
TEST(store, removes_tmp_files)
{
    const char *dir = data_dir("d");
    struct store_state st;
    store_free(open_ok(dir, 0, &st));
    sh("echo junk > '%s/snap-0000000000000009.snap.tmp'; echo x > "
       "'%s/recv.snap.tmp'",
       dir, dir);
    store_free(open_ok(dir, 0, &st));
    CHECK_EQ(count_files(dir, ".tmp"), 0);
}

/* A snapshot file with a bad CRC is damage: open fails naming it. */
TEST(store, bad_snapshot_refused)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct raft_snapshot_meta meta = {.index = 5, .term = 1};
    test_conf(&meta.conf);
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 5, 1);
    CHECK_EQ(store_sync(s), 0);
    CHECK_EQ(store_snapshot_write(s, &meta, "abcdef", 6), 0);
    store_free(s);
    sh("printf 'Z' | dd of='%s/snap-0000000000000005.snap' bs=1 seek=60 "
       "conv=notrunc status=none",
       dir);
    open_corrupt(dir, "snap-0000000000000005.snap: bad CRC");
}

/* A missing segment number and a bad header in a segment other than the
 * last are damage; a bad header in the last one is a segment whose creation
 * was interrupted: it is removed and the rest recovered. */
TEST(store, segment_damage)
{
    const char *dir = data_dir("d"), *copy = data_dir("copy");
    struct store_state st;
    struct store *s = open_ok(dir, 2048, &st);
    for (uint64_t i = 1; i <= 100; i += 5) {
        append(s, i, i + 4, 1);
        CHECK_EQ(store_sync(s), 0);
    }
    store_free(s);
    CHECK(count_files(dir, ".seg") >= 4);
    const char *seg2 = "log-0000000000000002.seg";

    sh("rm -rf '%s' && cp -a '%s' '%s' && rm '%s/%s'", copy, dir, copy, copy,
       seg2);
    open_corrupt(copy, "log-0000000000000002.seg is missing");

    sh("rm -rf '%s' && cp -a '%s' '%s' && printf 'X' | dd of='%s/%s' bs=1 "
       "seek=3 conv=notrunc status=none",
       copy, dir, copy, copy, seg2);
    open_corrupt(copy, "log-0000000000000002.seg: bad magic or version in "
                       "the segment header");

    sh("rm -rf '%s' && cp -a '%s' '%s' && printf 'X' | dd of='%s/%s' bs=1 "
       "seek=100 conv=notrunc status=none",
       copy, dir, copy, copy, seg2);
    open_corrupt(copy, "log-0000000000000002.seg: bad CRC at offset 72");

    /* The last segment with a zeroed header: removed, the rest is there. */
    int last = count_files(dir, ".seg");
    char name[64];
    snprintf(name, sizeof name, "log-%016x.seg", last);
    s = open_ok(dir, 2048, &st);
    uint64_t n = st.n_entries;
    store_state_close(&st);
    append(s, n + 1, n + 1, 1);
    CHECK_EQ(store_sync(s), 0); /* goes into a new segment */
    store_free(s);
    snprintf(name, sizeof name, "log-%016x.seg", last + 1);
    sh("dd if=/dev/zero of='%s/%s' bs=1 count=32 conv=notrunc status=none", dir,
       name);
    s = open_ok(dir, 2048, &st);
    CHECK_EQ(st.n_entries, n);
    check_entries(&st, 0, 1, n, 1);
    CHECK_MSG(strstr(st.repaired, name) != NULL, "repaired: %s", st.repaired);
    CHECK_EQ(count_files(dir, ".seg"), last);
    store_state_close(&st);
    store_free(s);
}

/* A torn tail of the last segment is cut at the last whole record and
 * reported; writing goes on and survives another reopen. */
TEST(store, torn_tail_cut_and_continue)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 10, 1);
    CHECK_EQ(store_sync(s), 0);
    append(s, 11, 11, 1);
    CHECK_EQ(store_sync(s), 0);
    store_free(s);
    /* Entry 11 (len 11*37%200 = 7: 48 bytes) and the batch end (40). */
    sh("truncate -s -60 '%s/log-0000000000000001.seg'", dir);
    s = open_ok(dir, 0, &st);
    CHECK_EQ(st.n_entries, 10);
    CHECK_MSG(strstr(st.repaired, "log-0000000000000001.seg: cut 28 bytes"),
              "repaired: %s", st.repaired);
    store_state_close(&st);
    append(s, 11, 12, 2);
    CHECK_EQ(store_sync(s), 0);
    store_free(s);
    s = open_ok(dir, 0, &st);
    CHECK_STR(st.repaired, "");
    CHECK_EQ(st.n_entries, 12);
    check_entries(&st, 0, 1, 10, 1);
    check_entries(&st, 10, 11, 12, 2);
    store_state_close(&st);
    store_free(s);
}

/* A log left behind by an interrupted snapshot install (its entry at the
 * snapshot index has another term) is dropped at open; one whose entry
 * there has the snapshot's term is kept after it (Raft §7). */
TEST(store, replaced_log_dropped)
{
    const char *a = data_dir("a"), *b = data_dir("b");
    struct store_state st;
    struct raft_snapshot_meta meta = {.index = 10, .term = 2};
    test_conf(&meta.conf);
    for (int same = 0; same <= 1; same++) {
        sh("rm -rf '%s' '%s'", a, b);
        struct store *s = open_ok(a, 0, &st);
        append(s, 1, 20, same ? 2 : 1);
        CHECK_EQ(store_sync(s), 0);
        store_free(s);
        s = open_ok(b, 0, &st);
        CHECK_EQ(store_snapshot_write(s, &meta, "x", 1), 0);
        store_free(s);
        sh("cp '%s'/*.snap '%s'", b, a);
        s = open_ok(a, 0, &st);
        CHECK_EQ(st.n_entries, same ? 10 : 0);
        if (same)
            check_entries(&st, 0, 11, 20, 2);
        CHECK_U64(store_last_index(s), same ? 20 : 10);
        store_state_close(&st);
        store_free(s);
    }
}

/* A lone segment past the first (the older ones were deleted after it was
 * durable) holds an acknowledged first batch: damage there fails the open
 * instead of being cut as a torn write, which would lose the hard state. */
TEST(store, lone_segment_first_batch_is_acknowledged)
{
    const char *la = data_dir("leader"), *fo = data_dir("follower");
    struct store_state st;
    struct raft_snapshot_meta meta = {.index = 10, .term = 1};
    static uint8_t file[4096], *got;
    size_t n, glen;
    bool last;
    test_conf(&meta.conf);
    struct store *l = open_ok(la, 0, &st);
    append(l, 1, 10, 1);
    CHECK_EQ(store_sync(l), 0);
    CHECK_EQ(store_snapshot_write(l, &meta, "s", 1), 0);
    CHECK_EQ(store_snapshot_read(l, 10, 0, file, sizeof file, &n, &last), 0);
    store_free(l);

    struct store *f = open_ok(fo, 0, &st);
    CHECK_EQ(store_set_hard_state(f, 9, 2), 0);
    append(f, 1, 3, 1);
    CHECK_EQ(store_sync(f), 0);
    CHECK_EQ(store_recv_begin(f, 10, 1), 0);
    CHECK_EQ(store_recv_chunk(f, 0, file, n), 0);
    CHECK_EQ(store_recv_finish(f, &meta, &got, &glen), 0);
    free(got);
    store_free(f);
    CHECK_EQ(count_files(fo, ".seg"), 1);
    /* Damage the hard state record, right after the segment header. */
    sh("printf 'X' | dd of='%s/log-0000000000000002.seg' bs=1 seek=50 "
       "conv=notrunc status=none",
       fo);
    open_corrupt(fo, "log-0000000000000002.seg: bad CRC at offset 32");
}

/* A server may snapshot state it applied before its own copy of those
 * entries was durable: its stored log can then hold, after the snapshot's
 * index, a tail of an earlier term. Recovery drops that tail, even when the
 * snapshot's own entry ends a segment (which compaction therefore keeps). */
TEST(store, stale_tail_after_local_snapshot_is_dropped)
{
    const char *dir = data_dir("stale");
    struct store_state st;
    struct store *s = open_ok(dir, 4096, &st);
    CHECK_EQ(store_set_hard_state(s, 1, 1), 0);
    for (uint64_t i = 1; i <= 60; i += 10) {
        append(s, i, i + 9, 1); /* 10-entry batches: 40 ends a batch */
        CHECK_EQ(store_sync(s), 0);
    }
    /* Entries 31.. of term 2 replaced them in memory and were applied, but
     * only the snapshot at 40 (term 2) reached the disk. */
    struct raft_snapshot_meta meta = {.index = 40, .term = 2};
    test_conf(&meta.conf);
    CHECK_EQ(store_snapshot_write(s, &meta, "state-40", 8), 0);
    store_free(s);
    s = open_ok(dir, 4096, &st);
    CHECK(st.has_snapshot);
    CHECK_U64(st.snapshot.index, 40);
    CHECK_EQ(st.n_entries, 0); /* 41..60 of term 1 do not follow (40, 2) */
    store_state_close(&st);
    store_free(s);
}

/* Makes the spare segment ahead on this thread; it must succeed. */
static void make_spare(struct store *s)
{
    CHECK(store_spare_begin(s));
    CHECK(!store_spare_begin(s)); /* one at a time */
    store_spare_run(s);
    const char *err = store_spare_end(s);
    CHECK_MSG(err == NULL, "spare: %s", err);
}

/* The size of dir/name in bytes, or -1. */
static long file_size(const char *dir, const char *name)
{
    char path[700];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Segments made ahead in zeros: the log leaves a segment that grows as soon
 * as a spare is ready; each spare is twice the segment before it, up to the
 * segment size; batches fill a spare without growing it, the next spare
 * takes over when it is full, and a reopen reads every segment's zero tail
 * as its end (nothing cut), then goes on in a new one. */
TEST(store, spare_segments)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct store *s = open_ok(dir, 16384, &st);
    CHECK_EQ(store_set_hard_state(s, 3, 1), 0);
    append(s, 1, 4, 3);
    CHECK_EQ(store_sync(s), 0); /* no spare yet: segment 1 grows */
    long grown = file_size(dir, "log-0000000000000001.seg");
    CHECK_MSG(grown > 0 && grown < 2048, "segment 1: %ld bytes", grown);
    CHECK(store_spare_due(s, 900)); /* a segment that grows: always */
    make_spare(s);                  /* the first: min(1 MiB, 16 KiB) */
    CHECK(!store_spare_begin(s));   /* one is ready */
    append(s, 5, 8, 3);
    CHECK_EQ(store_sync(s), 0); /* into the spare: segment 2 */
    /* Segment 2 holds 4 small entries of its 16 KiB: due for an owner that
     * waits for nothing, not for one that waits for 10 % of it. */
    CHECK(store_spare_due(s, 0));
    CHECK(!store_spare_due(s, 100));
    CHECK_EQ(file_size(dir, "log-0000000000000001.seg"), grown);
    CHECK_EQ(file_size(dir, "log-0000000000000002.seg"), 16384);
    make_spare(s); /* the next, wanted at once: min(32 KiB, 16 KiB) */
    uint64_t i = 9;
    for (; count_files(dir, ".seg") == 2; i += 4) {
        CHECK(!store_spare_begin(s));
        append(s, i, i + 3, 3);
        CHECK_EQ(store_sync(s), 0);
        CHECK(i < 2000);
    }
    /* Segment 2 was full and 3 is the next spare: never grown. */
    CHECK_EQ(file_size(dir, "log-0000000000000002.seg"), 16384);
    CHECK_EQ(file_size(dir, "log-0000000000000003.seg"), 16384);
    uint64_t last = i - 1;
    store_free(s);

    s = open_ok(dir, 16384, &st);
    CHECK_STR(st.repaired, "");
    CHECK_U64(st.n_entries, last);
    check_entries(&st, 0, 1, last, 3);
    CHECK_U64(st.term, 3);
    store_state_close(&st);
    CHECK_EQ(file_size(dir, "log-0000000000000003.seg"), 16384);
    append(s, last + 1, last + 1, 4);
    CHECK_EQ(store_sync(s), 0); /* a new segment after a reopen */
    CHECK(file_size(dir, "log-0000000000000004.seg") > 0);
    store_free(s);
    s = open_ok(dir, 16384, &st);
    CHECK_STR(st.repaired, "");
    CHECK_U64(st.n_entries, last + 1);
    check_entries(&st, last, last + 1, last + 1, 4);
    store_state_close(&st);
    store_free(s);
}

/* A spare renamed into place but not yet written when the server stopped
 * is a segment of zeros: removed at open as one that holds nothing. */
TEST(store, spare_renamed_unwritten_is_removed)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 10, 1);
    CHECK_EQ(store_sync(s), 0);
    store_free(s);
    sh("truncate -s 1048576 '%s/log-0000000000000002.seg'", dir);
    s = open_ok(dir, 0, &st);
    CHECK_U64(st.n_entries, 10);
    check_entries(&st, 0, 1, 10, 1);
    CHECK_MSG(strstr(st.repaired, "log-0000000000000002.seg: removed"),
              "repaired: %s", st.repaired);
    CHECK_EQ(file_size(dir, "log-0000000000000002.seg"), -1);
    store_state_close(&st);
    store_free(s);
}

/* In a spare, zeros are the end only when nothing but zeros follows: a
 * batch whose first header never reached the disk while the rest of it did
 * is a torn write, cut, not an end with records after it. */
TEST(store, spare_zero_header_before_data_is_torn)
{
    const char *dir = data_dir("d");
    struct store_state st;
    struct store *s = open_ok(dir, 0, &st);
    append(s, 1, 2, 1);
    CHECK_EQ(store_sync(s), 0);
    make_spare(s);
    append(s, 3, 5, 1);
    CHECK_EQ(store_sync(s), 0); /* segment 2: hard state, 3-5, batch end */
    long off = file_size(dir, "log-0000000000000002.seg");
    CHECK_EQ(off, 1 << 20);
    append(s, 6, 8, 1);
    CHECK_EQ(store_sync(s), 0);
    store_free(s);
    /* Zero the header of entry 6: segment header 32, hard state 40, then
     * entries 3, 4, 5 (payloads 111, 148, 185: 152, 192, 232 bytes) and
     * the batch end (40). */
    long at = 32 + 40 + 152 + 192 + 232 + 40;
    sh("dd if=/dev/zero of='%s/log-0000000000000002.seg' bs=1 seek=%ld "
       "count=40 conv=notrunc status=none",
       dir, at);
    s = open_ok(dir, 0, &st);
    CHECK_U64(st.n_entries, 5);
    check_entries(&st, 0, 1, 5, 1);
    CHECK_MSG(strstr(st.repaired, "log-0000000000000002.seg: cut"),
              "repaired: %s", st.repaired);
    store_state_close(&st);
    store_free(s);
}
