/* test_raftlog.c - unit tests of the in-memory Raft log. */
#include "common/mem.h"
#include "harness.h"
#include "raft/raftlog.h"

static void push(struct raftlog *l, uint64_t term, const char *s)
{
    uint32_t len = (uint32_t)strlen(s);
    raftlog_push(l, term, RAFT_ENTRY_NORMAL, mem_xmemdup(s, len), len);
}

/* An empty log knows only the term of index 0. */
TEST(raftlog, empty)
{
    struct raftlog l;
    raftlog_init(&l);
    CHECK_U64(raftlog_last(&l), 0);
    CHECK(raftlog_has_term(&l, 0));
    CHECK_U64(raftlog_term(&l, 0), 0);
    CHECK(!raftlog_has_term(&l, 1));
    CHECK(raftlog_get(&l, 1) == NULL);
    raftlog_close(&l);
}

/* Entries keep their index, term and data across ring growth and
 * wrap-around, and the byte count follows. */
TEST(raftlog, push_wrap_and_grow)
{
    struct raftlog l;
    raftlog_init(&l);
    char buf[32];
    for (uint64_t i = 1; i <= 1000; i++) {
        snprintf(buf, sizeof buf, "e%llu", (unsigned long long)i);
        push(&l, 1 + i / 100, buf);
        if (i % 7 == 0)
            raftlog_compact(&l, i - 3, 0); /* keep the ring wrapping */
    }
    CHECK_U64(raftlog_last(&l), 1000);
    CHECK_U64(l.snap_index, 991); /* the last compaction: i = 994 */
    CHECK_U64(l.offset, 992);
    for (uint64_t i = 992; i <= 1000; i++) {
        struct raft_entry *e = raftlog_get(&l, i);
        snprintf(buf, sizeof buf, "e%llu", (unsigned long long)i);
        CHECK(e != NULL);
        CHECK_U64(e->index, i);
        CHECK_U64(e->term, 1 + i / 100);
        CHECK_EQ(e->len, strlen(buf));
        CHECK_MEM(e->data, buf, e->len);
    }
    CHECK_U64(raftlog_term(&l, 991), 1 + 991 / 100);
    CHECK(!raftlog_has_term(&l, 990));
    CHECK_U64(l.bytes, 8 * 4 + 5);
    raftlog_close(&l);
}

/* Truncation drops the suffix; compaction with trailing keeps entries
 * before the snapshot index; reset restarts after a snapshot. */
TEST(raftlog, truncate_compact_reset)
{
    struct raftlog l;
    raftlog_init(&l);
    for (int i = 0; i < 10; i++)
        push(&l, 1, "x");
    raftlog_truncate(&l, 8);
    CHECK_U64(raftlog_last(&l), 7);
    CHECK(raftlog_get(&l, 8) == NULL);
    raftlog_compact(&l, 6, 2);
    CHECK_U64(l.snap_index, 6);
    CHECK_U64(l.snap_term, 1);
    CHECK_U64(l.offset, 5);
    CHECK(raftlog_has_term(&l, 4));
    CHECK(!raftlog_has_term(&l, 3));
    raftlog_compact(&l, 5, 0); /* not past the snapshot: no-op */
    CHECK_U64(l.snap_index, 6);
    raftlog_reset(&l, 50, 3);
    CHECK_U64(raftlog_last(&l), 50);
    CHECK_U64(raftlog_term(&l, 50), 3);
    CHECK_U64(l.snap_index, 50);
    CHECK_U64(l.bytes, 0);
    push(&l, 4, "y");
    CHECK_U64(raftlog_get(&l, 51)->term, 4);
    raftlog_close(&l);
    raftlog_close(&l); /* idempotent */
}

/* Dropping in steps: at most max entries a call, the oldest first, true
 * while some up to the bound are left; never past the bound. */
TEST(raftlog, drop_in_steps)
{
    struct raftlog l;
    raftlog_init(&l);
    for (int i = 0; i < 20; i++)
        push(&l, 1, "x");
    raftlog_compact(&l, 15, UINT64_MAX); /* the point alone */
    CHECK_U64(l.snap_index, 15);
    CHECK_U64(l.offset, 1);
    CHECK(raftlog_drop(&l, 12, 5));
    CHECK_U64(l.offset, 6);
    CHECK(raftlog_drop(&l, 12, 5));
    CHECK_U64(l.offset, 11);
    CHECK(!raftlog_drop(&l, 12, 5));
    CHECK_U64(l.offset, 13);
    CHECK(raftlog_has_term(&l, 12));
    CHECK(!raftlog_drop(&l, 12, 5)); /* nothing left: no-op */
    CHECK_U64(l.offset, 13);
    CHECK(!raftlog_drop(&l, 13, 0)); /* max 0 is 1 */
    CHECK_U64(l.offset, 14);
    CHECK_U64(raftlog_last(&l), 20);
    raftlog_close(&l);
}
