/* test_changelog.c - the history of changes (src/lock/changelog.c): it
 * keeps the last changes with their own copies of the strings, drops the
 * oldest when full, says from which revision it is whole (a partly
 * dropped revision counts as gone, as does all before a restart), finds
 * the first change after a revision across the ring's wrap, and agrees
 * with a plain array over a long random run. */
#include "harness.h"

#include "lock/changelog.h"

/* A change of name "n<k>" by owner "o<k>", with value "v<k>" and token k. */
static struct fsm_change change(char *buf, uint32_t k)
{
    int len = snprintf(buf, 48, "n%uo%uv%u", k % 7, k, k);
    uint32_t nl = (uint32_t)snprintf(NULL, 0, "n%u", k % 7);
    uint32_t ol = (uint32_t)snprintf(NULL, 0, "o%u", k);
    return (struct fsm_change){.type = FSM_CH_GRANTED,
                               .name = buf,
                               .name_len = nl,
                               .session = k,
                               .owner = buf + nl,
                               .owner_len = ol,
                               .token = k,
                               .exclusive = 1,
                               .holders = 1,
                               .value = buf + nl + ol,
                               .value_len = (uint32_t)len - nl - ol};
}

/* Whether the entry kept is change k at revision. */
static bool is(const struct changelog_entry *e, uint64_t revision, uint32_t k)
{
    char buf[48];
    struct fsm_change c = change(buf, k);
    return e->revision == revision && e->ch.token == k &&
           e->ch.name_len == c.name_len &&
           memcmp(e->ch.name, c.name, c.name_len) == 0 &&
           e->ch.owner_len == c.owner_len &&
           memcmp(e->ch.owner, c.owner, c.owner_len) == 0 &&
           e->ch.value_len == c.value_len &&
           memcmp(e->ch.value, c.value, c.value_len) == 0;
}

/* Adds change k at revision, from a buffer overwritten at once after. */
static void add_one(struct changelog *cl, uint64_t revision, uint32_t k)
{
    char buf[48];
    struct fsm_change c = change(buf, k);
    changelog_add(cl, revision, &c, 1);
    memset(buf, 'x', sizeof buf);
}

/* Changes are kept in order, with strings of their own; the log is whole
 * from 0 until one is dropped. */
TEST(changelog, keeps_copies_in_order)
{
    struct changelog cl;
    changelog_init(&cl, 8);
    CHECK_U64(changelog_revision(&cl), 0);
    CHECK_EQ(changelog_count(&cl), 0);
    CHECK_EQ(changelog_first_after(&cl, 0), 0);
    for (uint32_t k = 1; k <= 5; k++)
        add_one(&cl, 10 * k, k);
    CHECK_EQ(changelog_count(&cl), 5);
    CHECK_U64(changelog_revision(&cl), 50);
    CHECK_U64(changelog_whole_from(&cl), 0);
    for (uint32_t k = 1; k <= 5; k++)
        CHECK(is(changelog_at(&cl, k - 1), 10 * k, k));
    /* An entry without changes moves the revision only. */
    changelog_add(&cl, 51, NULL, 0);
    CHECK_U64(changelog_revision(&cl), 51);
    CHECK_EQ(changelog_count(&cl), 5);
    changelog_close(&cl);
    changelog_close(&cl); /* idempotent */
}

/* A full log drops its oldest change, and is whole from that change's
 * revision; first_after finds positions across the ring's wrap. */
TEST(changelog, drops_the_oldest_and_wraps)
{
    struct changelog cl;
    changelog_init(&cl, 4);
    for (uint32_t k = 1; k <= 10; k++)
        add_one(&cl, k, k);
    CHECK_EQ(changelog_count(&cl), 4);
    CHECK_U64(changelog_whole_from(&cl), 6);
    for (size_t i = 0; i < 4; i++)
        CHECK(is(changelog_at(&cl, i), 7 + i, 7 + (uint32_t)i));
    CHECK_EQ(changelog_first_after(&cl, 0), 0);
    CHECK_EQ(changelog_first_after(&cl, 6), 0);
    CHECK_EQ(changelog_first_after(&cl, 7), 1);
    CHECK_EQ(changelog_first_after(&cl, 9), 3);
    CHECK_EQ(changelog_first_after(&cl, 10), 4);
    CHECK_EQ(changelog_first_after(&cl, 99), 4);
    changelog_close(&cl);
}

/* A revision of which some changes were dropped counts as gone: the log is
 * whole only from it, and first_after it skips its kept changes. */
TEST(changelog, a_partly_dropped_revision_is_gone)
{
    struct changelog cl;
    changelog_init(&cl, 4);
    char b[3][48];
    struct fsm_change three[3] = {change(b[0], 1), change(b[1], 2),
                                  change(b[2], 3)};
    changelog_add(&cl, 5, three, 3);
    add_one(&cl, 6, 4);
    CHECK_U64(changelog_whole_from(&cl), 0);
    add_one(&cl, 7, 5); /* drops the first change of revision 5 */
    CHECK_EQ(changelog_count(&cl), 4);
    CHECK_U64(changelog_whole_from(&cl), 5);
    CHECK(is(changelog_at(&cl, 0), 5, 2));
    CHECK_EQ(changelog_first_after(&cl, 4), 0);
    CHECK_EQ(changelog_first_after(&cl, 5), 2);
    CHECK(is(changelog_at(&cl, 2), 6, 4));
    changelog_close(&cl);
}

/* A restart forgets every change and is whole only from the revision it
 * restarts from, which is its last. */
TEST(changelog, restart_forgets_and_is_whole_from_there)
{
    struct changelog cl;
    changelog_init(&cl, 4);
    for (uint32_t k = 1; k <= 6; k++)
        add_one(&cl, k, k);
    changelog_restart(&cl, 40);
    CHECK_EQ(changelog_count(&cl), 0);
    CHECK_U64(changelog_revision(&cl), 40);
    CHECK_U64(changelog_whole_from(&cl), 40);
    add_one(&cl, 41, 41);
    CHECK_EQ(changelog_count(&cl), 1);
    CHECK(is(changelog_at(&cl, 0), 41, 41));
    CHECK_U64(changelog_whole_from(&cl), 40);
    CHECK_EQ(changelog_first_after(&cl, 39), 0);
    changelog_close(&cl);
}

/* Over a long random run of revisions with 0 to 3 changes each, the log
 * holds exactly the last cap changes added, is whole from the revision of
 * the last one dropped, and first_after agrees with a linear search. */
TEST(changelog, random_run_agrees_with_an_array)
{
    enum { CAP = 13, TOTAL = 20000 };
    static uint64_t rev[TOTAL];
    static uint32_t key[TOTAL];
    uint64_t x = 88172645463325252ull;
    struct changelog cl;
    changelog_init(&cl, CAP);
    size_t total = 0;
    uint64_t revision = 0;
    while (total + 3 < TOTAL) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        revision += 1 + x % 3;
        size_t n = (x >> 8) % 4;
        char b[3][48];
        struct fsm_change ch[3];
        for (size_t i = 0; i < n; i++) {
            rev[total] = revision;
            key[total] = (uint32_t)total;
            ch[i] = change(b[i], (uint32_t)total++);
        }
        changelog_add(&cl, revision, ch, n);
        size_t kept = total < CAP ? total : CAP, base = total - kept;
        CHECK_EQ(changelog_count(&cl), kept);
        CHECK_U64(changelog_whole_from(&cl), base ? rev[base - 1] : 0);
        for (size_t i = 0; i < kept; i++)
            CHECK(is(changelog_at(&cl, i), rev[base + i], key[base + i]));
        uint64_t after = revision - x % 50 % (revision + 1);
        size_t want = 0;
        while (want < kept && rev[base + want] <= after)
            want++;
        CHECK_EQ(changelog_first_after(&cl, after), want);
    }
    changelog_close(&cl);
}
