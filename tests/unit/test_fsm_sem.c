/* test_fsm_sem.c - semaphores (docs/design.md §11.3): N permits set by
 * the first caller, strict FIFO so that a large request is not passed by
 * small ones, permits bound to the session and held back for the
 * lock-delay of one that expired, names of one kind only, grants taken
 * back, retries and snapshots. */
#include "fsm_test.h"

static struct fsm_result m_sem(struct m *m, uint64_t s, const char *name,
                               uint64_t permits, uint64_t count, uint64_t wait,
                               const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_SEM_ACQUIRE, name, "", req);
    c.session = s;
    c.permits = permits;
    c.count = count;
    c.wait = wait;
    c.delay = 500;
    return m_cmd(m, c);
}

static struct fsm_result m_sem_rel(struct m *m, uint64_t s, const char *name,
                                   uint64_t count, const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_SEM_RELEASE, name, "", req);
    c.session = s;
    c.count = count;
    return m_cmd(m, c);
}

/* Permits go to whoever asks while they last; a try beyond is HELD, a wait
 * is granted as permits come back; every grant has a new token. */
TEST(fsm_sem, permits_while_they_last)
{
    struct m m;
    m_init(&m);
    uint64_t s[5];
    for (int i = 0; i < 5; i++)
        s[i] = m_session(&m);
    uint64_t last = 0;
    for (int i = 0; i < 3; i++) {
        struct fsm_result r = m_sem(&m, s[i], "pool", 3, 1, 0, "");
        CHECK_EQ(r.status, FSM_OK);
        CHECK(r.token > last);
        last = r.token;
    }
    struct fsm_lock_info li = m_info(&m, "pool");
    CHECK_EQ(li.permits, 3);
    CHECK_EQ(li.used, 3);
    CHECK_EQ(li.holders, 3);
    CHECK_EQ(li.mode, FSM_MODE_SHARED);
    CHECK_EQ(m_sem(&m, s[3], "pool", 3, 1, 0, "").status, FSM_HELD);
    CHECK_EQ(m_sem(&m, s[3], "pool", 3, 1, 5000, "").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    struct fsm_result r = m_sem_rel(&m, s[1], "pool", 1, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.holds, 0);
    struct fsm_event g = m_ev(&m, 0, FSM_EV_GRANTED, s[3], "pool");
    CHECK(g.token > last);
    CHECK_EQ(m_info(&m, "pool").used, 3);
    m_close(&m);
}

/* Strict FIFO: a request for two waits at the head, and a request for one
 * behind it waits too although one permit is free; the two come when they
 * fit, then the one. */
TEST(fsm_sem, large_request_not_passed)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m), c = m_session(&m);
    CHECK_EQ(m_sem(&m, a, "p", 3, 2, 0, "").status, FSM_OK);
    CHECK_EQ(m_sem(&m, b, "p", 3, 2, 9000, "").status, FSM_QUEUED);
    CHECK_EQ(m_sem(&m, c, "p", 3, 1, 0, "").status, FSM_HELD);
    CHECK_EQ(m_sem(&m, c, "p", 3, 1, 9000, "").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    CHECK_EQ(m_sem_rel(&m, a, "p", 1, "").holds, 1);
    CHECK_EQ(m_nev(&m), 1);
    m_ev(&m, 0, FSM_EV_GRANTED, b, "p"); /* 1 + 2 = 3 */
    fsm_events_clear(m.f);
    CHECK_EQ(m_sem_rel(&m, a, "p", 1, "").holds, 0);
    m_ev(&m, 0, FSM_EV_GRANTED, c, "p");
    CHECK_EQ(m_info(&m, "p").used, 3);
    m_close(&m);
}

/* A name is a lock or a semaphore of N permits: asking it as another kind,
 * or with other permits, is KIND and changes nothing. A semaphore nobody
 * holds, waits for or holds back is forgotten, and may come back with
 * other permits. */
TEST(fsm_sem, one_kind_per_name)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    CHECK_EQ(m_sem(&m, s, "n", 3, 1, 0, "").status, FSM_OK);
    CHECK_UNCHANGED(&m, {
        struct fsm_result r = m_sem(&m, s, "n", 4, 1, 0, "k-1");
        CHECK_EQ(r.status, FSM_KIND);
        CHECK_U64(r.permits, 3);
        CHECK_EQ(m_acq(&m, s, "n", "", 0, DEFAULT_DELAY, "").status, FSM_KIND);
        CHECK_EQ(m_rel(&m, s, "n", "", "").status, FSM_KIND);
    });
    CHECK_EQ(m_acq(&m, s, "l", "", 0, DEFAULT_DELAY, "").status, FSM_OK);
    CHECK_UNCHANGED(&m, {
        struct fsm_result r = m_sem(&m, s, "l", 3, 1, 0, "");
        CHECK_EQ(r.status, FSM_KIND);
        CHECK_U64(r.permits, 0);
        CHECK_EQ(m_sem_rel(&m, s, "l", 1, "").status, FSM_KIND);
    });
    CHECK_EQ(m_sem_rel(&m, s, "n", 1, "").status, FSM_OK);
    CHECK(!m_known(&m, "n"));
    CHECK_EQ(m_sem(&m, s, "n", 5, 5, 0, "").status, FSM_OK);
    CHECK_EQ(m_info(&m, "n").permits, 5);
    /* Out of range: 0 permits, a count of 0 or above the permits. */
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_sem(&m, s, "x", 0, 1, 0, "").status, FSM_INVALID);
        CHECK_EQ(m_sem(&m, s, "x", 3, 0, 0, "").status, FSM_INVALID);
        CHECK_EQ(m_sem(&m, s, "x", 3, 4, 0, "").status, FSM_INVALID);
        CHECK_EQ(m_sem(&m, s, "x", FSM_PERMITS_MAX + 1, 1, 0, "").status,
                 FSM_INVALID);
    });
    m_close(&m);
}

/* A holder whose session expires loses its permits into the lock-delay:
 * they stay held back until it ends, while the other permits are granted
 * as usual; then they come back. A closed session's come back at once. */
TEST(fsm_sem, expired_permits_held_back)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m), c = m_session(&m);
    CHECK_EQ(m_sem(&m, a, "e", 3, 2, 0, "").status, FSM_OK);
    fsm_events_clear(m.f);
    CHECK_EQ(m_expire(&m, a).status, FSM_OK);
    m_ev(&m, 0, FSM_EV_LOST, a, "e");
    struct fsm_lock_info li = m_info(&m, "e");
    CHECK_EQ(li.used, 0);
    CHECK_EQ(li.expired, 2);
    CHECK_U64(li.available_at, m.now + 500);
    CHECK_EQ(m_sem(&m, b, "e", 3, 1, 0, "").status, FSM_OK);
    CHECK_EQ(m_sem(&m, c, "e", 3, 1, 0, "").status, FSM_HELD);
    CHECK_EQ(m_sem(&m, c, "e", 3, 2, 9000, "").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    m_tick(&m, m.now + 499);
    CHECK_EQ(m_nev(&m), 0);
    m_tick(&m, m.now + 1);
    m_ev(&m, 0, FSM_EV_GRANTED, c, "e");
    li = m_info(&m, "e");
    CHECK_EQ(li.used, 3);
    CHECK_EQ(li.expired, 0);
    /* Closed: back at once. */
    fsm_events_clear(m.f);
    CHECK_EQ(m_close_s(&m, b, "").status, FSM_OK);
    CHECK_EQ(m_info(&m, "e").used, 2);
    CHECK_EQ(m_info(&m, "e").expired, 0);
    m_close(&m);
}

/* A holder that asks again joins its hold (same token), in its turn; a
 * release of more than it holds is NOTHELD; retries answer the first
 * outcome. */
TEST(fsm_sem, more_permits_and_partial_release)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m);
    struct fsm_result r1 = m_sem(&m, a, "j", 4, 1, 0, "j-1");
    struct fsm_result r2 = m_sem(&m, a, "j", 4, 2, 0, "j-2");
    CHECK_EQ(r2.status, FSM_OK);
    CHECK_U64(r2.token, r1.token);
    CHECK_EQ(r2.holds, 3);
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_sem_rel(&m, a, "j", 4, "").status, FSM_NOTHELD);
        struct fsm_result again = m_sem(&m, a, "j", 4, 2, 0, "j-2");
        CHECK(again.replayed);
        CHECK_U64(again.token, r1.token);
        CHECK_EQ(m_sem(&m, a, "j", 4, 1, 0, "j-2").status, FSM_REQ_REUSED);
    });
    CHECK_EQ(m_sem_rel(&m, a, "j", 2, "r-1").holds, 1);
    CHECK_UNCHANGED(&m, CHECK(m_sem_rel(&m, a, "j", 2, "r-1").replayed));
    CHECK_EQ(m_info(&m, "j").used, 1);
    m_close(&m);
}

/* A grant of permits to a client that went away is taken back: its
 * permits go to the next waiter. */
TEST(fsm_sem, grant_taken_back)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m), c = m_session(&m);
    CHECK_EQ(m_sem(&m, a, "u", 2, 2, 0, "").status, FSM_OK);
    struct fsm_result q = m_sem(&m, b, "u", 2, 2, 9000, "");
    CHECK_EQ(q.status, FSM_QUEUED);
    CHECK_EQ(m_sem(&m, c, "u", 2, 1, 9000, "").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    CHECK_EQ(m_sem_rel(&m, a, "u", 2, "").status, FSM_OK);
    m_ev(&m, 0, FSM_EV_GRANTED, b, "u");
    fsm_events_clear(m.f);
    struct fsm_result u = m_unwait(&m, q.index, b, "u", "", 0, q.index);
    CHECK_EQ(u.status, FSM_OK);
    CHECK_EQ(u.holds, 0);
    m_ev(&m, 0, FSM_EV_WITHDRAWN, b, "u");
    m_ev(&m, 1, FSM_EV_GRANTED, c, "u");
    CHECK_EQ(m_info(&m, "u").used, 1);
    m_close(&m);
}

/* Snapshots keep permits, holds, counts of waiters and permits held back;
 * a restored machine goes on alike and writes the same bytes. */
TEST(fsm_sem, snapshot_round_trip)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m), c = m_session(&m);
    CHECK_EQ(m_sem(&m, a, "s", 3, 1, 0, "").status, FSM_OK);
    CHECK_EQ(m_sem(&m, b, "s", 3, 1, 0, "").status, FSM_OK);
    CHECK_EQ(m_sem(&m, c, "s", 3, 2, 9000, "").status, FSM_QUEUED);
    CHECK_EQ(m_expire(&m, a).status, FSM_OK);
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    struct m n;
    m_init(&n);
    CHECK_EQ(fsm_restore(n.f, snap, len), 0);
    m_ok(&n);
    n.idx = m.idx;
    n.now = m.now;
    size_t len2;
    uint8_t *snap2 = m_snap(&n, &len2);
    CHECK(len2 == len && memcmp(snap, snap2, len) == 0);
    struct fsm_lock_info li = m_info(&n, "s");
    CHECK(li.permits == 3 && li.used == 1 && li.expired == 1);
    struct m *both[2] = {&m, &n};
    for (int i = 0; i < 2; i++) {
        fsm_events_clear(both[i]->f);
        m_tick(both[i], both[i]->now + 500);
        m_ev(both[i], 0, FSM_EV_GRANTED, c, "s");
    }
    same_events(m.f, n.f);
    free(snap);
    free(snap2);
    m_close(&m);
    m_close(&n);
}
