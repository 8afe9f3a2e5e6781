/* test_peerids.c - one process and one data directory per server id on the
 * peer port (src/server/peerids.c): restarts are taken, a second process
 * under an id is found and the newer one banned, a replaced data directory
 * is refused. */
#include "harness.h"

#include "server/peerids.h"

#define DIR_A 0xa1
#define DIR_B 0xb2

static enum peerids_verdict hello(struct peerids *t, uint64_t id, uint64_t dir,
                                  uint64_t nonce, uint64_t *other)
{
    char why[512];
    return peerids_hello(t, id, dir, nonce, other, why, sizeof why);
}

/* The first hello binds the id; the same process reconnecting is accepted,
 * and each restart (a new nonce, the same directory) too, as a restart. */
TEST(peerids, restarts_are_accepted)
{
    struct peerids t;
    uint64_t other = 0;
    peerids_init(&t);
    CHECK_EQ(hello(&t, 2, DIR_A, 100, &other), PEERIDS_ACCEPT);
    CHECK_EQ(hello(&t, 2, DIR_A, 100, &other), PEERIDS_ACCEPT);
    for (uint64_t n = 101; n < 110; n++) {
        CHECK_EQ(hello(&t, 2, DIR_A, n, &other), PEERIDS_RESTART);
        CHECK_EQ(hello(&t, 2, DIR_A, n, &other), PEERIDS_ACCEPT);
    }
    CHECK_EQ(hello(&t, 3, DIR_B, 100, &other), PEERIDS_ACCEPT);
}

/* A past process that says hello again runs beside the newer one: the
 * first seen keeps the id, the newer is banned and its hellos refused. */
TEST(peerids, second_process_found_and_newer_banned)
{
    struct peerids t;
    uint64_t other = 0;
    char why[512];
    peerids_init(&t);
    CHECK_EQ(hello(&t, 3, DIR_A, 1, &other), PEERIDS_ACCEPT);
    CHECK_EQ(hello(&t, 3, DIR_A, 2, &other), PEERIDS_RESTART);
    CHECK_EQ(peerids_hello(&t, 3, DIR_A, 1, &other, why, sizeof why),
             PEERIDS_DUPLICATE);
    CHECK_U64(other, 2);
    CHECK_MSG(strstr(why, "two servers run with id 3") &&
                  strstr(why, "0000000000000001 and 0000000000000002"),
              "%s", why);
    CHECK_EQ(peerids_hello(&t, 3, DIR_A, 2, &other, why, sizeof why),
             PEERIDS_REFUSE);
    CHECK_MSG(strstr(why, "another server already runs with id 3"), "%s", why);
    CHECK_EQ(hello(&t, 3, DIR_A, 1, &other), PEERIDS_ACCEPT);
    /* The one kept may still restart; the banned one stays banned. */
    CHECK_EQ(hello(&t, 3, DIR_A, 4, &other), PEERIDS_RESTART);
    CHECK_EQ(hello(&t, 3, DIR_A, 2, &other), PEERIDS_REFUSE);
}

/* An id whose data directory changed (wiped, or another server's copy) is
 * refused, whatever its nonce; the id keeps its first directory. */
TEST(peerids, replaced_directory_refused)
{
    struct peerids t;
    uint64_t other = 0;
    char why[512];
    peerids_init(&t);
    CHECK_EQ(hello(&t, 2, DIR_A, 1, &other), PEERIDS_ACCEPT);
    CHECK_EQ(peerids_hello(&t, 2, DIR_B, 2, &other, why, sizeof why),
             PEERIDS_REFUSE);
    CHECK_MSG(
        strstr(why, "server 2 now runs on data directory 00000000000000b2"),
        "%s", why);
    CHECK_EQ(hello(&t, 2, DIR_B, 1, &other), PEERIDS_REFUSE);
    CHECK_EQ(hello(&t, 2, DIR_A, 3, &other), PEERIDS_RESTART);
}

/* The table stays bounded, and keeps PEERIDS_PAST past nonces per id: a
 * process older than those is taken as a restart, not a duplicate. */
TEST(peerids, bounded)
{
    struct peerids t;
    uint64_t other = 0;
    peerids_init(&t);
    for (uint64_t id = 1; id <= 3 * PEERIDS_MAX; id++)
        CHECK_EQ(hello(&t, id, DIR_A, id, &other), PEERIDS_ACCEPT);
    CHECK(t.n <= PEERIDS_MAX);
    CHECK_EQ(hello(&t, 1000, DIR_A, 1, &other), PEERIDS_ACCEPT);
    for (uint64_t n = 2; n <= 2 + PEERIDS_PAST; n++)
        CHECK_EQ(hello(&t, 1000, DIR_A, n, &other), PEERIDS_RESTART);
    CHECK_EQ(hello(&t, 1000, DIR_A, 1, &other), PEERIDS_RESTART);
    CHECK_EQ(hello(&t, 1000, DIR_A, 3 + PEERIDS_PAST - 1, &other),
             PEERIDS_DUPLICATE);
}
