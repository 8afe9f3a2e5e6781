/* test_snapdue.c - when each server of a cluster takes its snapshots and
 * makes its next log segment ahead (disk_snapshot_due, disk_spare_after,
 * src/server/disk.h). */
#include "harness.h"
#include "server/disk.h"

/* Each server snapshots once per period, on its own grid: ids 1 to 5 at
 * five different indexes of each period, the first snapshot after half a
 * period at the earliest and a period and a half at the latest. */
TEST(snapdue, one_grid_per_server)
{
    const uint64_t entries = 100000;
    uint64_t first[6];
    for (uint64_t id = 1; id <= 5; id++) {
        uint64_t due = disk_snapshot_due(0, entries, id);
        CHECK(due > entries / 2 && due <= entries / 2 + entries);
        CHECK_U64(due % entries, (id - 1) * (entries / 5));
        first[id] = due;
        /* Taken a little late (a batch applied past due), the next is a
         * period after due, on the same grid. */
        uint64_t next = disk_snapshot_due(due + 37, entries, id);
        CHECK_U64(next, due + entries);
        CHECK_U64(disk_snapshot_due(next, entries, id), next + entries);
    }
    for (uint64_t a = 1; a <= 5; a++)
        for (uint64_t b = a + 1; b <= 5; b++)
            CHECK(first[a] % entries != first[b] % entries);
    /* Ids wrap every five; id 0 (none) is on id 1's grid. */
    CHECK_U64(disk_snapshot_due(0, entries, 6), first[1]);
    CHECK_U64(disk_snapshot_due(0, entries, 0), first[1]);
}

/* A snapshot restored from anywhere (a leader's install) brings the
 * server back to its grid within a period and a half; small periods work
 * (the tests run with 100). */
TEST(snapdue, back_on_grid_and_small)
{
    for (uint64_t last = 0; last < 1000; last += 7) {
        uint64_t due = disk_snapshot_due(last, 100, 3);
        CHECK_U64(due % 100, 40);
        CHECK(due > last + 50 && due <= last + 150);
    }
    CHECK(disk_snapshot_due(5, 1, 2) > 5);
    CHECK(disk_snapshot_due(5, 0, 2) > 5);
}

/* Spares: ids 1 to 5 wait for five different fills of the segment, all
 * early enough (under half) for the spare to be ready long before the
 * segment is full; ids wrap every five. */
TEST(snapdue, spares_apart)
{
    for (uint64_t a = 1; a <= 5; a++) {
        CHECK(disk_spare_after(a) < 500);
        for (uint64_t b = a + 1; b <= 5; b++)
            CHECK(disk_spare_after(a) != disk_spare_after(b));
    }
    CHECK_EQ(disk_spare_after(1), 0);
    CHECK_EQ(disk_spare_after(6), disk_spare_after(1));
    CHECK_EQ(disk_spare_after(0), 0);
}
