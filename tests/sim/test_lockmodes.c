/* test_lockmodes.c - the simulator's checkers of shared and exclusive
 * modes (docs/design.md §11.3) on hand-written answers: the reference model
 * (lockmodel.c) accepts the answers the rules give and refuses a writer
 * granted beside a reader, a reader granted past a queued writer, and an
 * upgrade carried out; the history of holds by mode (lockcheck_modes.c)
 * refuses a writer with anyone else and a writer's token not above an
 * earlier reader's. */
#include "harness.h"
#include "sim/lockcheck_modes.h"
#include "sim/lockmodel.h"

struct run {
    struct lockmodel *m;
    uint64_t index;
    uint64_t now;
    char why[600];
};

static struct fsm_cmd cmd(uint8_t type, uint64_t session, const char *name,
                          uint64_t wait)
{
    return (struct fsm_cmd){.type = type,
                            .session = session,
                            .name = name,
                            .name_len = name ? (uint32_t)strlen(name) : 0,
                            .owner = "",
                            .wait = wait,
                            .delay = 0,
                            .ttl = type == FSM_OPEN ? 10000 : 0};
}

/* Follows c at the next index with the answer res and events ev[0..n). */
static bool follow(struct run *r, struct fsm_cmd c, struct fsm_result res,
                   const struct fsm_event *ev, size_t n)
{
    struct lockmodel_replay rp = {0};
    c.now = r->now += 10;
    r->why[0] = '\0';
    return lockmodel_follow(r->m, ++r->index, &c, &rp, &res, ev, n, r->why,
                            sizeof r->why);
}

/* Sessions 1 to n opened at indexes 1 to n. */
static void open_sessions(struct run *r, unsigned n)
{
    for (unsigned k = 1; k <= n; k++)
        CHECK_MSG(follow(r, cmd(FSM_OPEN, 0, NULL, 0),
                         (struct fsm_result){
                             .status = FSM_OK, .session = k, .ttl = 10000},
                         NULL, 0),
                  "%s", r->why);
}

static struct fsm_result ok(uint64_t session, uint64_t token, uint32_t holds)
{
    return (struct fsm_result){
        .status = FSM_OK, .session = session, .token = token, .holds = holds};
}

static struct fsm_result queued(uint64_t session, uint64_t index)
{
    return (struct fsm_result){
        .status = FSM_QUEUED, .session = session, .index = index};
}

static struct fsm_event granted(uint64_t session, uint64_t index,
                                uint64_t token)
{
    return (struct fsm_event){.type = FSM_EV_GRANTED,
                              .session = session,
                              .index = index,
                              .token = token,
                              .name = "a",
                              .name_len = 1};
}

TEST(lockmodel, writer_beside_a_reader_is_refused)
{
    struct run r = {.m = lockmodel_new()};
    open_sessions(&r, 2);
    CHECK(follow(&r, cmd(FSM_ACQUIRE_SHARED, 1, "a", 0), ok(1, 1, 1), NULL, 0));
    struct lockmodel *keep = lockmodel_copy(r.m);
    CHECK(!follow(&r, cmd(FSM_ACQUIRE, 2, "a", 0), ok(2, 2, 1), NULL, 0));
    lockmodel_free(r.m);
    r.m = keep;
    r.index--;
    CHECK_MSG(follow(&r, cmd(FSM_ACQUIRE, 2, "a", 0),
                     (struct fsm_result){
                         .status = FSM_HELD, .session = 2, .holder = 1},
                     NULL, 0),
              "%s", r.why);
    lockmodel_free(r.m);
}

/* Held exclusive by 1; queued: 2 and 3 shared, 4 exclusive, 5 shared. The
 * release grants 2 and 3 only. */
TEST(lockmodel, readers_at_the_head_are_granted_up_to_a_writer)
{
    struct run r = {.m = lockmodel_new()};
    open_sessions(&r, 5);
    CHECK(follow(&r, cmd(FSM_ACQUIRE, 1, "a", 0), ok(1, 1, 1), NULL, 0));
    uint8_t type[] = {FSM_ACQUIRE_SHARED, FSM_ACQUIRE_SHARED, FSM_ACQUIRE,
                      FSM_ACQUIRE_SHARED};
    for (unsigned k = 0; k < 4; k++)
        CHECK_MSG(follow(&r, cmd(type[k], k + 2, "a", 1000),
                         queued(k + 2, r.index + 1), NULL, 0),
                  "%s", r.why);
    /* the waits are at indexes 7 to 10 */
    struct lockmodel *keep = lockmodel_copy(r.m);
    struct fsm_event three[] = {granted(2, 7, 2), granted(3, 8, 3),
                                granted(5, 10, 4)};
    CHECK(!follow(&r, cmd(FSM_RELEASE, 1, "a", 0), ok(1, 0, 0), three, 3));
    lockmodel_free(r.m);
    r.m = keep;
    r.index--;
    r.now -= 10;
    keep = lockmodel_copy(r.m);
    CHECK_MSG(follow(&r, cmd(FSM_RELEASE, 1, "a", 0), ok(1, 0, 0), three, 2),
              "%s", r.why);
    lockmodel_free(keep);
    lockmodel_free(r.m);
}

TEST(lockmodel, upgrade_is_refused_and_changes_nothing)
{
    struct run r = {.m = lockmodel_new()};
    open_sessions(&r, 1);
    CHECK(follow(&r, cmd(FSM_ACQUIRE_SHARED, 1, "a", 0), ok(1, 1, 1), NULL, 0));
    struct lockmodel *keep = lockmodel_copy(r.m);
    CHECK(!follow(&r, cmd(FSM_ACQUIRE, 1, "a", 1000), ok(1, 1, 2), NULL, 0));
    lockmodel_free(r.m);
    r.m = keep;
    r.index--;
    r.now -= 10;
    CHECK_MSG(follow(&r, cmd(FSM_ACQUIRE, 1, "a", 1000),
                     (struct fsm_result){.status = FSM_UPGRADE, .session = 1},
                     NULL, 0),
              "%s", r.why);
    CHECK_MSG(follow(&r, cmd(FSM_DOWNGRADE, 1, "a", 0),
                     (struct fsm_result){.status = FSM_NOTHELD, .session = 1},
                     NULL, 0),
              "%s", r.why);
    lockmodel_free(r.m);
}

static bool modes(struct lockcheck_modes *h, uint64_t index, struct fsm_cmd c,
                  struct fsm_result res, const struct fsm_event *ev, size_t n)
{
    char why[600];
    return lockcheck_modes_apply(h, index, &c, &res, ev, n, why, sizeof why);
}

TEST(lockcheck_modes, writer_with_a_reader_fails)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(
        modes(h, 3, cmd(FSM_ACQUIRE_SHARED, 1, "a", 0), ok(1, 1, 1), NULL, 0));
    CHECK(!modes(h, 4, cmd(FSM_ACQUIRE, 2, "a", 0), ok(2, 2, 1), NULL, 0));
    lockcheck_modes_free(h);
}

TEST(lockcheck_modes, readers_then_a_writer_pass)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(
        modes(h, 3, cmd(FSM_ACQUIRE_SHARED, 1, "a", 0), ok(1, 1, 1), NULL, 0));
    CHECK(
        modes(h, 4, cmd(FSM_ACQUIRE_SHARED, 2, "a", 0), ok(2, 2, 1), NULL, 0));
    CHECK(modes(h, 5, cmd(FSM_ACQUIRE, 3, "a", 1000), queued(3, 5), NULL, 0));
    CHECK(
        modes(h, 6, cmd(FSM_RELEASE_SHARED, 1, "a", 0), ok(1, 0, 0), NULL, 0));
    struct fsm_event g = granted(3, 5, 3);
    CHECK(!modes(h, 7, cmd(FSM_RELEASE, 2, "a", 0), ok(2, 0, 0), NULL, 0));
    CHECK(modes(h, 8, cmd(FSM_RELEASE_SHARED, 2, "a", 0), ok(2, 0, 0), &g, 1));
    /* the writer downgrades: a reader may join */
    CHECK(modes(h, 9, cmd(FSM_ACQUIRE_SHARED, 1, "a", 1000), queued(1, 9), NULL,
                0));
    g = granted(1, 9, 4);
    CHECK(modes(h, 10, cmd(FSM_DOWNGRADE, 3, "a", 0), ok(3, 3, 1), &g, 1));
    lockcheck_modes_free(h);
}

TEST(lockcheck_modes, writer_token_below_a_readers_fails)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(
        modes(h, 3, cmd(FSM_ACQUIRE_SHARED, 1, "a", 0), ok(1, 5, 1), NULL, 0));
    CHECK(
        modes(h, 4, cmd(FSM_RELEASE_SHARED, 1, "a", 0), ok(1, 0, 0), NULL, 0));
    CHECK(!modes(h, 5, cmd(FSM_ACQUIRE, 2, "a", 0), ok(2, 4, 1), NULL, 0));
    lockcheck_modes_free(h);
}
