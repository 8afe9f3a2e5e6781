/* test_fsm_revoke.c - an administrator's REVOKE (docs/design.md §11.3):
 * the hold with a token ends as its session's expiry would end it, for
 * every kind of name, and the next holder's token is greater. */
#include "fsm_test.h"

static struct fsm_result m_revoke(struct m *m, const char *name, uint64_t token,
                                  uint64_t delay, const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_REVOKE, name, NULL, req);
    c.token = token;
    c.delay = delay;
    return m_cmd(m, c);
}

/* The holder loses the lock (LOST), the lock stays in its lock-delay, then
 * the first waiter gets it with a greater token; the old token no longer
 * checks. A retry with the request id answers the same and does nothing. */
TEST(fsm_revoke, exclusive_holder)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m);
    struct fsm_result g = m_acq(&m, a, "x", "", 0, 2000, "");
    CHECK_EQ(m_acq(&m, b, "x", "", 9000, DEFAULT_DELAY, "").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    struct fsm_result r = m_revoke(&m, "x", g.token, UINT64_MAX, "rv-1");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.session, a);
    m_ev(&m, 0, FSM_EV_LOST, a, "x");
    CHECK(!fsm_lock_check(m.f, "x", 1, g.token));
    CHECK_U64(m_info(&m, "x").available_at, m.now + 2000);
    CHECK_UNCHANGED(
        &m, CHECK(m_revoke(&m, "x", g.token, UINT64_MAX, "rv-1").replayed));
    fsm_events_clear(m.f);
    m_tick(&m, m.now + 2000);
    struct fsm_event e = m_ev(&m, 0, FSM_EV_GRANTED, b, "x");
    CHECK(e.token > g.token);
    CHECK_EQ(m_revoke(&m, "x", g.token, UINT64_MAX, "").status, FSM_NOTHELD);
    /* The session lives on, without the lock. */
    CHECK_EQ(m_rel(&m, a, "x", "", "").status, FSM_NOTHELD);
    m_close(&m);
}

/* DELAY 0 hands the lock over at once; a reader's revoke leaves the other
 * readers; a semaphore holder's permits are held back; an election's
 * leader is gone; a lease lock's session ends. */
TEST(fsm_revoke, every_kind)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m);
    struct fsm_result g = m_acq(&m, a, "now", "", 0, DEFAULT_DELAY, "");
    CHECK_EQ(m_acq(&m, b, "now", "", 9000, DEFAULT_DELAY, "").status,
             FSM_QUEUED);
    fsm_events_clear(m.f);
    CHECK_EQ(m_revoke(&m, "now", g.token, 0, "").status, FSM_OK);
    m_ev(&m, 1, FSM_EV_GRANTED, b, "now");

    struct fsm_cmd sh = str_cmd(FSM_ACQUIRE_SHARED, "rw", "", "");
    sh.session = a;
    sh.delay = DEFAULT_DELAY;
    struct fsm_result ra = m_cmd(&m, sh);
    sh.session = b;
    CHECK_EQ(m_cmd(&m, sh).status, FSM_OK);
    CHECK_EQ(m_revoke(&m, "rw", ra.token, UINT64_MAX, "").status, FSM_OK);
    CHECK_EQ(m_info(&m, "rw").holders, 1);

    struct fsm_cmd sem = str_cmd(FSM_SEM_ACQUIRE, "pool", "", "");
    sem.session = a;
    sem.permits = 3;
    sem.count = 2;
    sem.delay = 500;
    struct fsm_result rs = m_cmd(&m, sem);
    CHECK_EQ(m_revoke(&m, "pool", rs.token, UINT64_MAX, "").status, FSM_OK);
    CHECK_EQ(m_info(&m, "pool").expired, 2);

    struct fsm_cmd el = str_cmd(FSM_CAMPAIGN, "leader", "", "");
    el.session = a;
    el.value = "me";
    el.value_len = 2;
    el.delay = DEFAULT_DELAY;
    struct fsm_result re = m_cmd(&m, el);
    CHECK_EQ(m_revoke(&m, "leader", re.token, UINT64_MAX, "").status, FSM_OK);
    CHECK_U64(m_info(&m, "leader").holder, 0);
    CHECK_EQ(m_info(&m, "leader").value_len, 0);

    struct fsm_result rl = m_lease(&m, 5000, "cron", 0, DEFAULT_DELAY, "");
    CHECK_EQ(rl.status, FSM_OK);
    CHECK_EQ(m_revoke(&m, "cron", rl.token, UINT64_MAX, "").status, FSM_OK);
    struct fsm_session_info si;
    CHECK(!fsm_session_info(m.f, rl.session, &si));
    m_close(&m);
}
