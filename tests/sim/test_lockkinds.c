/* test_lockkinds.c - the simulator's checkers of semaphores, elections,
 * revoke and the kinds of names (docs/design.md §11.3) on hand-written
 * answers: the reference model (lockmodel.c) accepts the answers the rules
 * give and refuses permits granted while an expired holder's are held
 * back, a proclaim under an earlier leadership's token, a lock granted on
 * a semaphore's name and a revoke without its LOST; the history of holds
 * (lockcheck_modes.c) refuses more permits held than a semaphore has, two
 * leaders at once, a leader's token not above the leader's before it, a
 * proclaim accepted from another token and a revoked hold used after. */
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

/* SEM_ACQUIRE of count of the 2 permits of "s", with a lock-delay of 1 s. */
static struct fsm_cmd sem(uint64_t session, uint32_t count, uint64_t wait)
{
    struct fsm_cmd c = cmd(FSM_SEM_ACQUIRE, session, "s", wait);
    c.permits = 2;
    c.count = count;
    c.delay = 1000;
    return c;
}

static struct fsm_cmd campaign(uint64_t session, uint64_t wait)
{
    struct fsm_cmd c = cmd(FSM_CAMPAIGN, session, "e", wait);
    c.value = "v";
    c.value_len = 1;
    return c;
}

static struct fsm_cmd proclaim(uint64_t session, uint64_t token)
{
    struct fsm_cmd c = cmd(FSM_PROCLAIM, session, "e", 0);
    c.token = token;
    c.value = "w";
    c.value_len = 1;
    return c;
}

static struct fsm_cmd revoke(const char *name, uint64_t token)
{
    struct fsm_cmd c = cmd(FSM_REVOKE, 0, name, 0);
    c.token = token;
    c.delay = UINT64_MAX;
    return c;
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

/* Follows c answered bad (which the model must refuse), then, from the
 * state before, answered good (which it must accept). */
static void refuses_then_accepts(struct run *r, struct fsm_cmd c,
                                 struct fsm_result bad,
                                 const struct fsm_event *bad_ev, size_t bad_n,
                                 struct fsm_result good,
                                 const struct fsm_event *good_ev, size_t good_n)
{
    struct lockmodel *keep = lockmodel_copy(r->m);
    CHECK(!follow(r, c, bad, bad_ev, bad_n));
    lockmodel_free(r->m);
    r->m = keep;
    r->index--;
    r->now -= 10;
    CHECK_MSG(follow(r, c, good, good_ev, good_n), "%s", r->why);
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

static struct fsm_result status(uint8_t st, uint64_t session)
{
    return (struct fsm_result){.status = st, .session = session};
}

static struct fsm_result queued(uint64_t session, uint64_t index)
{
    return (struct fsm_result){
        .status = FSM_QUEUED, .session = session, .index = index};
}

static struct fsm_event event(uint8_t type, uint64_t session, const char *name,
                              uint64_t index, uint64_t token)
{
    return (struct fsm_event){.type = type,
                              .session = session,
                              .index = index,
                              .token = token,
                              .name = name,
                              .name_len = (uint32_t)strlen(name)};
}

/* Of a semaphore of 2, sessions 1 and 2 hold one permit each and 3 waits
 * for one; 1 expires: its permit is held back for its lock-delay (no grant
 * to 3), and comes back at the TICK that ends it (then 3 is granted). */
TEST(lockmodel, expired_permits_are_held_back)
{
    struct run r = {.m = lockmodel_new()};
    open_sessions(&r, 3);
    CHECK_MSG(follow(&r, sem(1, 1, 0), ok(1, 1, 1), NULL, 0), "%s", r.why);
    CHECK_MSG(follow(&r, sem(2, 1, 0), ok(2, 2, 1), NULL, 0), "%s", r.why);
    CHECK_MSG(follow(&r, sem(3, 1, 5000), queued(3, 6), NULL, 0), "%s", r.why);
    struct fsm_event ev[] = {event(FSM_EV_LOST, 1, "s", 0, 1),
                             event(FSM_EV_GRANTED, 3, "s", 6, 3)};
    struct fsm_result expired = {.status = FSM_OK, .expired = 1};
    refuses_then_accepts(&r, cmd(FSM_EXPIRE, 1, NULL, 0), expired, ev, 2,
                         expired, ev, 1);
    r.now += 1000;
    CHECK_MSG(follow(&r, cmd(FSM_TICK, 0, NULL, 0), ok(0, 0, 0), ev + 1, 1),
              "%s", r.why);
    lockmodel_free(r.m);
}

/* A leader that resigned and was elected again proclaims only under its
 * new token. */
TEST(lockmodel, proclaim_under_an_earlier_token_is_refused)
{
    struct run r = {.m = lockmodel_new()};
    open_sessions(&r, 1);
    CHECK_MSG(follow(&r, campaign(1, 0), ok(1, 1, 1), NULL, 0), "%s", r.why);
    CHECK_MSG(
        follow(&r, cmd(FSM_RESIGN, 1, "e", 0), status(FSM_OK, 1), NULL, 0),
        "%s", r.why);
    CHECK_MSG(follow(&r, campaign(1, 0), ok(1, 2, 1), NULL, 0), "%s", r.why);
    refuses_then_accepts(&r, proclaim(1, 1), ok(1, 2, 0), NULL, 0,
                         status(FSM_NOTHELD, 1), NULL, 0);
    CHECK_MSG(follow(&r, proclaim(1, 2), ok(1, 2, 0), NULL, 0), "%s", r.why);
    lockmodel_free(r.m);
}

/* A lock command on a semaphore's name is KIND, with what the name is. */
TEST(lockmodel, lock_on_a_semaphores_name_is_kind)
{
    struct run r = {.m = lockmodel_new()};
    open_sessions(&r, 2);
    CHECK_MSG(follow(&r, sem(1, 1, 0), ok(1, 1, 1), NULL, 0), "%s", r.why);
    struct fsm_result kind = status(FSM_KIND, 2);
    kind.kind = FSM_KIND_SEMAPHORE;
    kind.permits = 2;
    refuses_then_accepts(&r, cmd(FSM_ACQUIRE, 2, "s", 0), ok(2, 2, 1), NULL, 0,
                         kind, NULL, 0);
    struct fsm_cmd other = sem(2, 1, 0);
    other.permits = 3;
    CHECK_MSG(follow(&r, other, kind, NULL, 0), "%s", r.why);
    kind = status(FSM_KIND, 1);
    kind.kind = FSM_KIND_LOCK;
    CHECK_MSG(follow(&r, cmd(FSM_ACQUIRE, 2, "a", 0), ok(2, 2, 1), NULL, 0),
              "%s", r.why);
    CHECK_MSG(follow(&r, campaign(2, 0), ok(2, 3, 1), NULL, 0), "%s", r.why);
    struct fsm_cmd on_lock = campaign(1, 0);
    on_lock.name = "a";
    CHECK_MSG(follow(&r, on_lock, kind, NULL, 0), "%s", r.why);
    lockmodel_free(r.m);
}

/* A revoke ends the hold with LOST and the hold's lock-delay: the waiter
 * is not granted until a TICK ends it. */
TEST(lockmodel, revoke_loses_the_hold_and_keeps_its_delay)
{
    struct run r = {.m = lockmodel_new()};
    open_sessions(&r, 2);
    struct fsm_cmd a = cmd(FSM_ACQUIRE, 1, "a", 0);
    a.delay = 500;
    CHECK_MSG(follow(&r, a, ok(1, 1, 1), NULL, 0), "%s", r.why);
    CHECK_MSG(follow(&r, cmd(FSM_ACQUIRE, 2, "a", 5000), queued(2, 4), NULL, 0),
              "%s", r.why);
    struct fsm_event lost = event(FSM_EV_LOST, 1, "a", 0, 1);
    struct fsm_event grant = event(FSM_EV_GRANTED, 2, "a", 4, 2);
    refuses_then_accepts(&r, revoke("a", 1), ok(1, 1, 0), &grant, 1,
                         ok(1, 1, 0), &lost, 1);
    CHECK_MSG(follow(&r, revoke("a", 1), status(FSM_NOTHELD, 0), NULL, 0), "%s",
              r.why);
    r.now += 500;
    CHECK_MSG(follow(&r, cmd(FSM_TICK, 0, NULL, 0), ok(0, 0, 0), &grant, 1),
              "%s", r.why);
    lockmodel_free(r.m);
}

static bool hist(struct lockcheck_modes *h, uint64_t index, struct fsm_cmd c,
                 struct fsm_result res, const struct fsm_event *ev, size_t n)
{
    char why[600];
    return lockcheck_modes_apply(h, index, &c, &res, ev, n, why, sizeof why);
}

TEST(lockcheck_modes, more_permits_than_the_semaphore_has_fail)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(hist(h, 3, sem(1, 1, 0), ok(1, 1, 1), NULL, 0));
    CHECK(hist(h, 4, sem(2, 1, 1000), queued(2, 4), NULL, 0));
    CHECK(hist(h, 5, sem(1, 1, 0), ok(1, 1, 2), NULL, 0));
    struct fsm_cmd rel = cmd(FSM_SEM_RELEASE, 1, "s", 0);
    rel.count = 1;
    struct fsm_event g = event(FSM_EV_GRANTED, 2, "s", 4, 2);
    CHECK(hist(h, 6, rel, ok(1, 0, 1), &g, 1));
    CHECK(!hist(h, 7, sem(3, 1, 0), ok(3, 3, 1), NULL, 0));
    lockcheck_modes_free(h);
}

TEST(lockcheck_modes, two_leaders_fail)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(hist(h, 3, campaign(1, 0), ok(1, 1, 1), NULL, 0));
    CHECK(hist(h, 4, campaign(1, 0), ok(1, 1, 1), NULL, 0)); /* again */
    CHECK(hist(h, 5, campaign(2, 1000), queued(2, 5), NULL, 0));
    CHECK(!hist(h, 6, campaign(3, 0), ok(3, 2, 1), NULL, 0));
    lockcheck_modes_free(h);
}

TEST(lockcheck_modes, leader_token_not_above_the_last_fails)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(hist(h, 3, campaign(1, 0), ok(1, 5, 1), NULL, 0));
    CHECK(hist(h, 4, cmd(FSM_RESIGN, 1, "e", 0), ok(1, 0, 0), NULL, 0));
    CHECK(!hist(h, 5, campaign(2, 0), ok(2, 4, 1), NULL, 0));
    lockcheck_modes_free(h);
}

TEST(lockcheck_modes, proclaim_from_another_token_fails)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(hist(h, 3, campaign(1, 0), ok(1, 1, 1), NULL, 0));
    CHECK(hist(h, 4, proclaim(1, 1), ok(1, 1, 0), NULL, 0));
    CHECK(!hist(h, 5, proclaim(2, 1), ok(2, 1, 0), NULL, 0));
    CHECK(!hist(h, 6, proclaim(1, 7), ok(1, 7, 0), NULL, 0));
    lockcheck_modes_free(h);
}

TEST(lockcheck_modes, revoked_hold_used_after_fails)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(hist(h, 3, campaign(1, 0), ok(1, 1, 1), NULL, 0));
    struct fsm_event lost = event(FSM_EV_LOST, 1, "e", 0, 1);
    CHECK(!hist(h, 4, revoke("e", 1), ok(1, 1, 0), NULL, 0)); /* kept */
    CHECK(hist(h, 5, revoke("e", 1), ok(1, 1, 0), &lost, 1));
    CHECK(!hist(h, 6, proclaim(1, 1), ok(1, 1, 0), NULL, 0));
    CHECK(!hist(h, 7, cmd(FSM_RESIGN, 1, "e", 0), ok(1, 0, 0), NULL, 0));
    CHECK(hist(h, 8, campaign(1, 0), ok(1, 2, 1), NULL, 0));
    CHECK(!hist(h, 9, campaign(1, 0), ok(1, 1, 1), NULL, 0));
    lockcheck_modes_free(h);
}

TEST(lockcheck_modes, name_of_two_kinds_fails)
{
    struct lockcheck_modes *h = lockcheck_modes_new();
    CHECK(hist(h, 3, cmd(FSM_ACQUIRE_SHARED, 1, "s", 0), ok(1, 1, 1), NULL, 0));
    CHECK(!hist(h, 4, sem(2, 1, 0), ok(2, 2, 1), NULL, 0));
    lockcheck_modes_free(h);
}
