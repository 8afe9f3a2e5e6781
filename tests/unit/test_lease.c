/* test_lease.c - unit tests of the leader's lease table. */
#include "harness.h"
#include "lock/lease.h"

/* A lease ends ttl after it was set; renewing moves the end; a session is
 * due only once its end has passed. */
TEST(lease, set_renew_due)
{
    struct lease *l = lease_new();
    uint64_t ids[8];
    lease_set(l, 7, 1000, 0);
    CHECK_U64(lease_left(l, 7, 400), 600);
    CHECK_U64(lease_ttl(l, 7), 1000);
    CHECK_EQ(lease_due(l, 999, 100, ids, 8), 0);
    lease_set(l, 7, 1000, 900); /* a keepalive */
    CHECK_EQ(lease_due(l, 1500, 100, ids, 8), 0);
    CHECK_EQ(lease_due(l, 1900, 100, ids, 8), 1);
    CHECK_U64(ids[0], 7);
    CHECK_U64(lease_left(l, 7, 1900), 0);
    lease_free(l);
}

/* A due session is reported again every retry_ms until it is removed, so
 * an expiry lost in a leader change is proposed again; others due at the
 * same time are not starved. */
TEST(lease, due_repeats_until_removed)
{
    struct lease *l = lease_new();
    uint64_t ids[8];
    lease_set(l, 1, 100, 0);
    lease_set(l, 2, 100, 0);
    lease_set(l, 3, 500, 0);
    CHECK_EQ(lease_due(l, 100, 50, ids, 1), 1);
    CHECK_EQ(lease_due(l, 100, 50, ids + 1, 8), 1);
    CHECK(ids[0] != ids[1]);
    CHECK_EQ(lease_due(l, 120, 50, ids, 8), 0);
    CHECK_EQ(lease_due(l, 150, 50, ids, 8), 2);
    lease_remove(l, 1);
    CHECK_EQ(lease_due(l, 200, 50, ids, 8), 1);
    CHECK_U64(ids[0], 2);
    CHECK_U64(lease_count(l), 2);
    lease_free(l);
}

/* Many sessions renewed many times: the table and the heap stay
 * consistent (each session due exactly when its last renewal says). */
TEST(lease, many_sessions)
{
    struct lease *l = lease_new();
    uint64_t ids[64];
    for (uint64_t round = 0; round < 20; round++)
        for (uint64_t id = 1; id <= 5000; id++)
            lease_set(l, id, 1000 + id % 7, round * 10);
    for (uint64_t id = 1; id <= 5000; id += 2)
        lease_remove(l, id);
    CHECK_U64(lease_count(l), 2500);
    CHECK_EQ(lease_due(l, 1189, 1000, ids, 64), 0);
    size_t total = 0, n;
    while ((n = lease_due(l, 1200, 100000, ids, 64)) > 0) {
        for (size_t i = 0; i < n; i++)
            CHECK(ids[i] % 2 == 0);
        total += n;
    }
    CHECK_EQ(total, 2500);
    lease_clear(l);
    CHECK_U64(lease_count(l), 0);
    lease_free(l);
}

/* A keepalive under way holds the expiry back: a held session past its end
 * is not reported, and stays alive for the keepalive to renew; once
 * reported over, a session is no longer alive until a new lease. */
TEST(lease, hold_keeps_expiry_back)
{
    struct lease *l = lease_new();
    uint64_t ids[8];
    lease_set(l, 1, 100, 0);
    lease_set(l, 2, 100, 0);
    CHECK_U64(lease_next_due(l), 100);
    lease_hold(l, 1);
    lease_hold(l, 1);
    CHECK_EQ(lease_due(l, 150, 1000, ids, 8), 1); /* 2 only */
    CHECK_U64(ids[0], 2);
    CHECK(lease_alive(l, 1));
    CHECK(!lease_alive(l, 2));
    CHECK_EQ(lease_due(l, 151, 1000, ids, 8), 0);
    lease_unhold(l, 1);
    CHECK_EQ(lease_due(l, 152, 1000, ids, 8), 0); /* still one hold */
    /* The keepalive renews from when it came. */
    lease_set(l, 1, 100, 120);
    lease_unhold(l, 1);
    CHECK(lease_alive(l, 1));
    CHECK_EQ(lease_due(l, 219, 1000, ids, 8), 0);
    CHECK_U64(lease_next_due(l), 220);
    /* Without a renewal, an unheld session past its end is reported. */
    lease_hold(l, 1);
    CHECK_EQ(lease_due(l, 300, 1000, ids, 8), 0);
    lease_unhold(l, 1);
    CHECK_EQ(lease_due(l, 302, 1000, ids, 8), 1);
    CHECK_U64(ids[0], 1);
    CHECK(!lease_alive(l, 1));
    lease_hold(l, 9); /* unknown: ignored */
    CHECK(!lease_alive(l, 9));
    lease_remove(l, 1);
    lease_remove(l, 2);
    CHECK_U64(lease_next_due(l), UINT64_MAX);
    lease_free(l);
}

/* The sessions whose leases end soonest, soonest first: renewals and
 * removals leave stale heap entries that are skipped; max bounds the
 * answer. */
TEST(lease, nearest)
{
    struct lease *l = lease_new();
    uint64_t ids[8];
    CHECK_U64(lease_nearest(l, ids, 8), 0);
    for (uint64_t id = 1; id <= 100; id++)
        lease_set(l, id, 1000 + id * 10, 0); /* ends at 1000 + 10 id */
    CHECK_U64(lease_nearest(l, ids, 3), 3);
    CHECK_U64(ids[0], 1);
    CHECK_U64(ids[1], 2);
    CHECK_U64(ids[2], 3);
    lease_set(l, 1, 5000, 100); /* renewed: ends at 5100 */
    lease_set(l, 2, 5000, 100);
    lease_remove(l, 3);
    CHECK_U64(lease_nearest(l, ids, 3), 3);
    CHECK_U64(ids[0], 4);
    CHECK_U64(ids[1], 5);
    CHECK_U64(ids[2], 6);
    /* Everything, in order of their ends. */
    uint64_t all[200];
    CHECK_U64(lease_nearest(l, all, 200), 99);
    for (size_t i = 1; i < 99; i++)
        CHECK(lease_left(l, all[i - 1], 0) <= lease_left(l, all[i], 0));
    CHECK_U64(all[97], 1);
    CHECK_U64(all[98], 2);
    lease_free(l);
}

/* Many renewals of one session (each leaves a stale entry) do not hide the
 * others: the walk is bounded, and finds them past the stale ones. */
TEST(lease, nearest_past_stale_entries)
{
    struct lease *l = lease_new();
    lease_set(l, 7, 100000, 0);
    lease_set(l, 8, 200000, 0);
    for (uint64_t t = 1; t <= 800; t++)
        lease_set(l, 9, 10, t); /* ends at t + 10, renewed each ms */
    uint64_t ids[3];
    CHECK_U64(lease_nearest(l, ids, 3), 3);
    CHECK_U64(ids[0], 9);
    CHECK_U64(ids[1], 7);
    CHECK_U64(ids[2], 8);
    lease_free(l);
}

/* A lease reported over (lease_due) is found by its retry, past its end,
 * yet comes first: the soonest end. */
TEST(lease, nearest_counts_reported_by_their_ends)
{
    struct lease *l = lease_new();
    lease_set(l, 1, 100, 0); /* ends at 100 */
    lease_set(l, 2, 300, 0); /* ends at 300 */
    lease_set(l, 3, 400, 0);
    uint64_t ids[3];
    CHECK_U64(lease_due(l, 150, 1000, ids, 3),
              1); /* 1 reported, retry at 1150 */
    CHECK_U64(lease_nearest(l, ids, 2), 2);
    CHECK_U64(ids[0], 1);
    CHECK_U64(ids[1], 2);
    lease_free(l);
}
