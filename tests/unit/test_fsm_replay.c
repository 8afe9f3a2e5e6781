/* test_fsm_replay.c - the lock state machine's retry-safe requests (each
 * kind answers a retry with its first outcome and no second effect), lease
 * locks, and the limits, which change nothing (docs/design.md §11). */
#include "fsm_test.h"

static const struct fsm_limits small = {
    .sessions = 3,
    .locks_per_session = 2,
    .waiters_per_lock = 2,
    .session_outcomes = 2,
    .global_outcomes = 2,
};

/* ---- retries ---------------------------------------------------------- */

/* A retried OPEN returns the first session, even after it closed, and opens
 * nothing. */
TEST(fsm_replay, open)
{
    struct m m;
    m_init(&m);
    struct fsm_result r1 = m_open(&m, 5000, "open-1");
    struct fsm_result r2 = m_open(&m, 5000, "open-1");
    CHECK_EQ(r2.status, FSM_OK);
    CHECK(r2.replayed);
    CHECK_U64(r2.session, r1.session);
    CHECK_U64(r2.ttl, 5000);
    struct fsm_stats st;
    fsm_stats(m.f, &st);
    CHECK_U64(st.sessions, 1);
    m_close_s(&m, r1.session, "");
    r2 = m_open(&m, 5000, "open-1");
    CHECK(r2.replayed);
    CHECK_U64(r2.session, r1.session);
    fsm_stats(m.f, &st);
    CHECK_U64(st.sessions, 0);
    m_close(&m);
}

/* The global table is a FIFO: beyond its size the oldest request is
 * forgotten, and its retry opens a new session. */
TEST(fsm_replay, open_fifo)
{
    struct m m;
    m_init_limited(&m, &small);
    uint64_t a = m_open(&m, 5000, "a").session;
    m_open(&m, 5000, "b");
    m_open(&m, 5000, "c"); /* drops "a" */
    struct fsm_result r = m_open(&m, 5000, "b");
    CHECK(r.replayed);
    r = m_open(&m, 5000, "a");
    CHECK_EQ(r.status, FSM_LIMIT); /* a new session, past the limit of 3 */
    m_close_s(&m, a, "");
    r = m_open(&m, 5000, "a");
    CHECK(!r.replayed);
    CHECK(r.session != a);
    m_close(&m);
}

/* A retried CLOSE of a session that req closed is OK again; another req,
 * or a session that expired, is NOSESSION. */
TEST(fsm_replay, close)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    CHECK_EQ(m_close_s(&m, s1, "bye").status, FSM_OK);
    struct fsm_result r = m_close_s(&m, s1, "bye");
    CHECK_EQ(r.status, FSM_OK);
    CHECK(r.replayed);
    CHECK_U64(r.session, s1);
    CHECK_EQ(m_close_s(&m, s1, "other").status, FSM_NOSESSION);
    CHECK_EQ(m_close_s(&m, s2, "bye").status, FSM_OK); /* per session */
    uint64_t s3 = m_session(&m);
    m_expire(&m, s3);
    CHECK_EQ(m_close_s(&m, s3, "bye").status, FSM_NOSESSION);
    m_close(&m);
}

/* A retried granted ACQUIRE returns the first token and holds, and adds no
 * hold, even after the lock changed hands. */
TEST(fsm_replay, acquire_ok)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    struct fsm_result r1 = m_acq(&m, s1, "a", "w", 0, 0, "acq-1");
    struct fsm_result r2 = m_acq(&m, s1, "a", "w", 0, 0, "acq-1");
    CHECK_EQ(r2.status, FSM_OK);
    CHECK(r2.replayed);
    CHECK_U64(r2.token, r1.token);
    CHECK_EQ(r2.holds, 1);
    CHECK_U64(r2.session, s1);
    CHECK_EQ(m_info(&m, "a").holds, 1);
    m_rel(&m, s1, "a", "w", "");
    m_acq(&m, s2, "a", "", 0, 0, "");
    r2 = m_acq(&m, s1, "a", "w", 0, 0, "acq-1");
    CHECK(r2.replayed);
    CHECK_U64(r2.token, r1.token);
    CHECK_U64(m_info(&m, "a").holder, s2);
    m_close(&m);
}

/* A retried try that found the lock held answers HELD again, even once the
 * lock is free: the retry is not a new attempt. */
TEST(fsm_replay, acquire_held)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 0, "");
    m_acq(&m, s2, "a", "", 0, 0, "try");
    m_rel(&m, s1, "a", "", "");
    struct fsm_result r = m_acq(&m, s2, "a", "", 0, 0, "try");
    CHECK_EQ(r.status, FSM_HELD);
    CHECK(r.replayed);
    CHECK_U64(r.holder, s1);
    CHECK(!m_known(&m, "a"));
    m_close(&m);
}

/* A retried queued ACQUIRE answers QUEUED while it waits (no second
 * waiter), then OK with the token it was granted. */
TEST(fsm_replay, acquire_queued_then_granted)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 0, "");
    CHECK_EQ(m_acq(&m, s2, "a", "", 9000, 0, "wait").status, FSM_QUEUED);
    struct fsm_result r = m_acq(&m, s2, "a", "", 9000, 0, "wait");
    CHECK_EQ(r.status, FSM_QUEUED);
    CHECK(r.replayed);
    CHECK_EQ(m_info(&m, "a").waiters, 1);
    m_rel(&m, s1, "a", "", "");
    uint64_t t = m_info(&m, "a").token;
    r = m_acq(&m, s2, "a", "", 9000, 0, "wait");
    CHECK_EQ(r.status, FSM_OK);
    CHECK(r.replayed);
    CHECK_U64(r.token, t);
    CHECK_EQ(r.holds, 1);
    CHECK_EQ(m_info(&m, "a").holds, 1);
    m_close(&m);
}

/* A retried ACQUIRE whose wait ran out answers FSM_TIMEOUT and does not
 * queue again. */
TEST(fsm_replay, acquire_timed_out)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 0, "");
    m_acq(&m, s2, "a", "", 100, 0, "wait");
    m_tick(&m, 1100);
    struct fsm_result r = m_acq(&m, s2, "a", "", 100, 0, "wait");
    CHECK_EQ(r.status, FSM_TIMEOUT);
    CHECK(r.replayed);
    CHECK_EQ(m_info(&m, "a").waiters, 0);
    m_close(&m);
}

/* A retried RELEASE does not release a later grant to the same session. */
TEST(fsm_replay, release_not_twice)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    m_acq(&m, s, "a", "", 0, 0, "");
    CHECK_EQ(m_rel(&m, s, "a", "", "rel-1").holds, 0);
    uint64_t t2 = m_acq(&m, s, "a", "", 0, 0, "").token;
    struct fsm_result r = m_rel(&m, s, "a", "", "rel-1");
    CHECK_EQ(r.status, FSM_OK);
    CHECK(r.replayed);
    CHECK_EQ(r.holds, 0);
    struct fsm_lock_info li = m_info(&m, "a");
    CHECK_U64(li.token, t2);
    CHECK_EQ(li.holds, 1);
    /* NOTHELD is remembered too. */
    CHECK_EQ(m_rel(&m, s, "b", "", "rel-2").status, FSM_NOTHELD);
    m_acq(&m, s, "b", "", 0, 0, "");
    CHECK_EQ(m_rel(&m, s, "b", "", "rel-2").status, FSM_NOTHELD);
    CHECK_EQ(m_info(&m, "b").holds, 1);
    m_close(&m);
}

/* A retried SET_TTL returns its first ttl and does not undo a later one. */
TEST(fsm_replay, set_ttl)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    m_set_ttl(&m, s, 500, "t1");
    m_set_ttl(&m, s, 900, "t2");
    struct fsm_result r = m_set_ttl(&m, s, 500, "t1");
    CHECK(r.replayed);
    CHECK_U64(r.ttl, 500);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s, &si));
    CHECK_U64(si.ttl, 900);
    m_close(&m);
}

/* A request id is scoped by session: the same id in another session is a
 * new request; on another kind of request in the same session it is
 * REQ_REUSED (below). */
TEST(fsm_replay, req_scope)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    CHECK_EQ(m_acq(&m, s1, "a", "", 0, 0, "x").status, FSM_OK);
    struct fsm_result r = m_rel(&m, s1, "a", "", "y");
    CHECK(!r.replayed);
    CHECK_EQ(r.holds, 0);
    r = m_acq(&m, s2, "a", "", 0, 0, "x");
    CHECK(!r.replayed);
    CHECK_U64(m_info(&m, "a").holder, s2);
    m_close(&m);
}

/* A session remembers its last session_outcomes requests, the oldest
 * dropped first; the real table holds FSM_OUTCOMES_PER_SESSION. */
TEST(fsm_replay, session_outcomes_fifo)
{
    struct m m;
    m_init_limited(&m, &small);
    uint64_t s = m_session(&m);
    m_acq(&m, s, "a", "", 0, 0, "r1");
    m_rel(&m, s, "a", "", "r2");
    m_acq(&m, s, "a", "", 0, 0, "r3"); /* drops r1 */
    CHECK(m_rel(&m, s, "a", "", "r2").replayed);
    struct fsm_result r = m_acq(&m, s, "a", "", 0, 0, "r1");
    CHECK(!r.replayed);
    CHECK_EQ(r.holds, 2); /* a second effect: r1 was forgotten */
    m_close(&m);

    m_init(&m);
    m.quick = true;
    s = m_session(&m);
    for (int i = 0; i <= FSM_OUTCOMES_PER_SESSION; i++) {
        char req[16];
        snprintf(req, sizeof req, "q%d", i);
        m_acq(&m, s, "b", "", 0, 0, req);
    }
    CHECK_EQ(m_info(&m, "b").holds, FSM_OUTCOMES_PER_SESSION + 1);
    CHECK(m_acq(&m, s, "b", "", 0, 0, "q1").replayed);
    CHECK(!m_acq(&m, s, "b", "", 0, 0, "q0").replayed);
    m_ok(&m);
    m_close(&m);
}

/* A session's table indexed by hash once it outgrows a scan: through many
 * adds and drops (backward-shift deletions, ring growth), every remembered
 * request is found and every dropped one is not. */
TEST(fsm_replay, session_outcomes_indexed)
{
    static const struct fsm_limits lim = {
        .sessions = 10,
        .locks_per_session = 10,
        .waiters_per_lock = 10,
        .session_outcomes = 40,
        .global_outcomes = 10,
    };
    struct m m;
    m_init_limited(&m, &lim);
    uint64_t s = m_session(&m);
    char req[16];
    for (int i = 0; i < 300; i++) {
        snprintf(req, sizeof req, "x%d", i);
        m_acq(&m, s, "c", "", 0, 0, req);
        /* Replays change nothing: the newest 40 (those still held). */
        for (int j = i - 5 < 0 ? 0 : i - 5; j <= i; j++) {
            snprintf(req, sizeof req, "x%d", j);
            CHECK(m_acq(&m, s, "c", "", 0, 0, req).replayed);
        }
        m_ok(&m);
    }
    for (int j = 260; j < 300; j++) {
        snprintf(req, sizeof req, "x%d", j);
        CHECK(m_acq(&m, s, "c", "", 0, 0, req).replayed);
    }
    CHECK_EQ(m_info(&m, "c").holds, 300);
    snprintf(req, sizeof req, "x%d", 259);
    CHECK(!m_acq(&m, s, "c", "", 0, 0, req).replayed);
    m_close(&m);
}

/* The real global table holds FSM_OPEN_OUTCOMES requests. */
TEST_TIMEOUT(fsm_replay, global_outcomes_size, 120)
{
    struct m m;
    m_init(&m);
    m.quick = true;
    for (int i = 0; i <= FSM_OPEN_OUTCOMES; i++) {
        char req[16];
        snprintf(req, sizeof req, "o%d", i);
        CHECK_EQ(m_open(&m, 5000, req).status, FSM_OK);
    }
    CHECK(m_open(&m, 5000, "o1").replayed);
    CHECK(!m_open(&m, 5000, "o0").replayed);
    m_ok(&m);
    m_close(&m);
}

/* ---- lease locks ------------------------------------------------------ */

/* A lease lock opens a session of its own (id = the entry's index), which
 * holds the lock with an empty owner; releasing by token closes it. */
TEST(fsm_lease, acquire_release)
{
    struct m m;
    m_init(&m);
    struct fsm_result r = m_lease(&m, 3000, "job", 0, 0, "l1");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.session, m.idx);
    uint64_t ls = r.session, t = r.token;
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, ls, &si));
    CHECK(si.lease_lock);
    CHECK_U64(si.ttl, 3000);
    CHECK_EQ(si.locks, 1);
    CHECK_EQ(si.client_len, 0);
    struct fsm_lock_info li = m_info(&m, "job");
    CHECK_U64(li.holder, ls);
    CHECK_EQ(li.owner_len, 0);
    CHECK_EQ(m_rel_token(&m, "job", t + 1, "").status, FSM_NOTHELD);
    CHECK_EQ(m_rel_token(&m, "nope", t, "").status, FSM_NOTHELD);
    r = m_rel_token(&m, "job", t, "u1");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.session, ls);
    CHECK(!fsm_session_info(m.f, ls, &si));
    CHECK(!m_known(&m, "job"));
    /* Retries. */
    r = m_rel_token(&m, "job", t, "u1");
    CHECK_EQ(r.status, FSM_OK);
    CHECK(r.replayed);
    r = m_lease(&m, 3000, "job", 0, 0, "l1");
    CHECK(r.replayed);
    CHECK_U64(r.token, t);
    CHECK_U64(r.session, ls);
    CHECK(!m_known(&m, "job"));
    m_close(&m);
}

/* A lease lock that finds the lock held leaves no session behind; its
 * outcome is remembered globally. */
TEST(fsm_lease, held_leaves_nothing)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    m_acq(&m, s, "job", "", 0, 0, "");
    CHECK_UNCHANGED(&m, {
        struct fsm_result r = m_lease(&m, 3000, "job", 0, 0, "");
        CHECK_EQ(r.status, FSM_HELD);
        CHECK_U64(r.holder, s);
        CHECK_U64(r.session, 0);
    });
    struct fsm_result r = m_lease(&m, 3000, "job", 0, 0, "held");
    struct fsm_session_info si;
    CHECK(!fsm_session_info(m.f, m.idx, &si));
    m_rel(&m, s, "job", "", "");
    r = m_lease(&m, 3000, "job", 0, 0, "held");
    CHECK_EQ(r.status, FSM_HELD);
    CHECK(r.replayed);
    CHECK(!m_known(&m, "job"));
    m_close(&m);
}

/* EXTEND sets the ttl of the lease lock's session, by token; a wrong token
 * or a client session's lock is NOTHELD; retries answer the first outcome. */
TEST(fsm_lease, extend)
{
    struct m m;
    m_init(&m);
    struct fsm_result r = m_lease(&m, 3000, "job", 0, 0, "");
    uint64_t ls = r.session, t = r.token;
    r = m_extend(&m, "job", t, 8000, "e1");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.ttl, 8000);
    CHECK_U64(r.session, ls);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, ls, &si));
    CHECK_U64(si.ttl, 8000);
    CHECK_EQ(m_extend(&m, "job", t, 50, "").status, FSM_INVALID);
    CHECK_EQ(m_extend(&m, "job", t + 1, 9000, "").status, FSM_NOTHELD);
    uint64_t s = m_session(&m);
    uint64_t ct = m_acq(&m, s, "mine", "", 0, 0, "").token;
    CHECK_EQ(m_extend(&m, "mine", ct, 9000, "").status, FSM_NOTHELD);
    m_extend(&m, "job", t, 9000, "e2");
    r = m_extend(&m, "job", t, 8000, "e1");
    CHECK(r.replayed);
    CHECK_U64(r.ttl, 8000);
    CHECK(fsm_session_info(m.f, ls, &si));
    CHECK_U64(si.ttl, 9000);
    m_close(&m);
}

/* A queued lease lock is granted on release (GRANTED names its session),
 * and a retry learns the token. */
TEST(fsm_lease, queued_then_granted)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    m_acq(&m, s, "job", "", 0, 0, "");
    struct fsm_result r = m_lease(&m, 3000, "job", 5000, 0, "lw");
    CHECK_EQ(r.status, FSM_QUEUED);
    uint64_t ls = r.session;
    CHECK_U64(ls, m.idx);
    fsm_events_clear(m.f);
    m_rel(&m, s, "job", "", "");
    struct fsm_event e = m_ev(&m, 0, FSM_EV_GRANTED, ls, "job");
    CHECK_U64(e.index, ls);
    r = m_lease(&m, 3000, "job", 5000, 0, "lw");
    CHECK_EQ(r.status, FSM_OK);
    CHECK(r.replayed);
    CHECK_U64(r.token, e.token);
    CHECK_U64(r.session, ls);
    m_close(&m);
}

/* A queued lease lock whose wait runs out vanishes with its session; a
 * retry answers FSM_TIMEOUT. One whose session expires answers
 * FSM_CANCELED. */
TEST(fsm_lease, queued_then_timeout_or_expired)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    m_acq(&m, s, "job", "", 0, 0, "");
    uint64_t l1 = m_lease(&m, 3000, "job", 100, 0, "lw1").session;
    uint64_t l2 = m_lease(&m, 3000, "job", 5000, 0, "lw2").session;
    fsm_events_clear(m.f);
    m_tick(&m, 1100);
    m_ev(&m, 0, FSM_EV_TIMEOUT, l1, "job");
    struct fsm_session_info si;
    CHECK(!fsm_session_info(m.f, l1, &si));
    CHECK_EQ(m_lease(&m, 3000, "job", 100, 0, "lw1").status, FSM_TIMEOUT);
    fsm_events_clear(m.f);
    m_expire(&m, l2);
    m_ev(&m, 0, FSM_EV_CANCELED, l2, "job");
    CHECK(!fsm_session_info(m.f, l2, &si));
    CHECK_EQ(m_lease(&m, 3000, "job", 5000, 0, "lw2").status, FSM_CANCELED);
    CHECK_EQ(m_info(&m, "job").waiters, 0);
    m_close(&m);
}

/* A lease lock whose session expires is lost with lock-delay like any
 * other; released by token, it goes to the next waiter at once. */
TEST(fsm_lease, expire_and_handover)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    struct fsm_result r = m_lease(&m, 3000, "a", 0, 400, "");
    fsm_events_clear(m.f);
    m_expire(&m, r.session);
    m_ev(&m, 0, FSM_EV_LOST, r.session, "a");
    CHECK_U64(m_info(&m, "a").available_at, 1400);
    r = m_lease(&m, 3000, "b", 0, 400, "");
    m_acq(&m, s, "b", "", 5000, 0, "");
    fsm_events_clear(m.f);
    m_rel_token(&m, "b", r.token, "");
    m_ev(&m, 0, FSM_EV_GRANTED, s, "b");
    m_close(&m);
}

/* A lease lock's session is not a client's: ACQUIRE, RELEASE, CLOSE and
 * SET_TTL naming it get NOSESSION. A lease ACQUIRE without ttl has no
 * session; one with a ttl out of bounds is INVALID. */
TEST(fsm_lease, session_not_addressable)
{
    struct m m;
    m_init(&m);
    uint64_t ls = m_lease(&m, 3000, "a", 0, 0, "").session;
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_acq(&m, ls, "b", "", 0, 0, "").status, FSM_NOSESSION);
        CHECK_EQ(m_rel(&m, ls, "a", "", "").status, FSM_NOSESSION);
        CHECK_EQ(m_close_s(&m, ls, "").status, FSM_NOSESSION);
        CHECK_EQ(m_set_ttl(&m, ls, 500, "").status, FSM_NOSESSION);
        CHECK_EQ(m_lease(&m, 0, "b", 0, 0, "").status, FSM_NOSESSION);
        CHECK_EQ(m_lease(&m, 99, "b", 0, 0, "").status, FSM_INVALID);
        CHECK_EQ(m_lease(&m, FSM_TTL_MAX + 1, "b", 0, 0, "").status,
                 FSM_INVALID);
    });
    m_close(&m);
}

/* ---- limits ----------------------------------------------------------- */

/* Past the session limit OPEN and lease ACQUIRE get LIMIT and change
 * nothing. */
TEST(fsm_limit, sessions)
{
    struct m m;
    m_init_limited(&m, &small);
    for (int i = 0; i < 3; i++)
        m_session(&m);
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_open(&m, 5000, "x").status, FSM_LIMIT);
        CHECK_EQ(m_lease(&m, 5000, "a", 0, 0, "y").status, FSM_LIMIT);
    });
    CHECK(!m_open(&m, 5000, "x").replayed); /* LIMIT was not remembered */
    m_close(&m);
}

/* A session's held and queued locks count against its limit: a new lock
 * (try or wait) gets LIMIT and changes nothing; reentry is still fine. */
TEST(fsm_limit, locks_per_session)
{
    struct m m;
    m_init_limited(&m, &small);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s2, "b", "", 0, 0, "");
    m_acq(&m, s1, "a", "", 0, 0, "");
    m_acq(&m, s1, "b", "", 5000, 0, "");
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_acq(&m, s1, "c", "", 0, 0, "r").status, FSM_LIMIT);
        CHECK_EQ(m_acq(&m, s1, "c", "", 10, 0, "").status, FSM_LIMIT);
        CHECK_EQ(m_acq(&m, s1, "b", "", 10, 0, "").status, FSM_LIMIT);
    });
    CHECK_EQ(m_acq(&m, s1, "a", "", 0, 0, "").holds, 2);
    m_close(&m);
}

/* The real limit: FSM_LOCKS_PER_SESSION_MAX locks for one session. */
TEST_TIMEOUT(fsm_limit, locks_per_session_real, 300)
{
    struct m m;
    m_init(&m);
    m.quick = true;
    uint64_t s = m_session(&m);
    char name[32];
    for (int i = 0; i < FSM_LOCKS_PER_SESSION_MAX; i++) {
        snprintf(name, sizeof name, "l%d", i);
        CHECK_EQ(m_acq(&m, s, name, "", 0, 0, "").status, FSM_OK);
    }
    CHECK_EQ(m_acq(&m, s, "one-more", "", 0, 0, "").status, FSM_LIMIT);
    CHECK(!m_known(&m, "one-more"));
    m_close(&m);
}

/* Past the waiters limit of a lock a wait gets LIMIT and changes nothing;
 * a try still gets HELD. */
TEST(fsm_limit, waiters_per_lock)
{
    struct m m;
    m_init_limited(&m, &small);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 0, "");
    m_acq(&m, s2, "a", "", 5000, 0, "");
    m_acq(&m, s2, "a", "x", 5000, 0, "");
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_acq(&m, s3, "a", "", 5000, 0, "").status, FSM_LIMIT);
        CHECK_EQ(m_acq(&m, s3, "a", "", 0, 0, "").status, FSM_HELD);
    });
    m_close(&m);
}

/* The real limit: FSM_WAITERS_PER_LOCK_MAX waiters on one lock. */
TEST_TIMEOUT(fsm_limit, waiters_per_lock_real, 300)
{
    struct m m;
    m_init(&m);
    m.quick = true;
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 0, "");
    for (int i = 0; i < FSM_WAITERS_PER_LOCK_MAX; i++)
        CHECK_EQ(m_acq(&m, s2, "a", "", 5000, 0, "").status, FSM_QUEUED);
    CHECK_EQ(m_acq(&m, s2, "a", "", 5000, 0, "").status, FSM_LIMIT);
    CHECK_EQ(m_info(&m, "a").waiters, FSM_WAITERS_PER_LOCK_MAX);
    m_close(&m);
}

/* Malformed commands of every type are INVALID and change nothing. */
TEST(fsm_limit, invalid_changes_nothing)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    uint64_t t = m_lease(&m, 3000, "lease", 0, 0, "").token;
    m_acq(&m, s, "a", "", 0, 0, "");
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_open(&m, 1, "r").status, FSM_INVALID);
        CHECK_EQ(m_acq(&m, s, "", "", 0, 0, "r").status, FSM_INVALID);
        CHECK_EQ(m_acq(&m, s, "b", "", FSM_WAIT_MAX + 1, 0, "r").status,
                 FSM_INVALID);
        CHECK_EQ(m_acq(&m, s, "b", "", 0, FSM_DELAY_MAX + 1, "r").status,
                 FSM_INVALID);
        CHECK_EQ(m_rel(&m, s, "", "", "r").status, FSM_INVALID);
        CHECK_EQ(m_extend(&m, "lease", t, FSM_TTL_MAX + 1, "r").status,
                 FSM_INVALID);
        CHECK_EQ(m_extend(&m, "", t, 5000, "r").status, FSM_INVALID);
        CHECK_EQ(m_set_ttl(&m, s, 0, "r").status, FSM_INVALID);
    });
    /* None of them was remembered under "r". */
    CHECK(!m_open(&m, 5000, "r").replayed);
    m_close(&m);
}

/* ---- one request id names one request (docs/design.md §11.6) ---------- */

static void check_reused(struct fsm_result r)
{
    CHECK_EQ(r.status, FSM_REQ_REUSED);
    CHECK(!r.replayed);
    CHECK_U64(r.token, 0);
    CHECK_U64(r.session, 0);
}

/* The same id on an ACQUIRE of another lock, or by another owner, is not
 * the first ACQUIRE's retry: nothing is granted, no token is returned. */
TEST(fsm_reqid, acquire_other_lock_or_owner)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    struct fsm_result first = m_acq(&m, s, "a", "w1", 0, 0, "x");
    CHECK_EQ(first.status, FSM_OK);
    CHECK_UNCHANGED(&m, check_reused(m_acq(&m, s, "b", "w1", 0, 0, "x")));
    CHECK(!m_known(&m, "b"));
    CHECK_UNCHANGED(&m, check_reused(m_acq(&m, s, "a", "w2", 0, 0, "x")));
    CHECK_UNCHANGED(&m, check_reused(m_acq(&m, s, "a", "w1", 0, 700, "x")));
    struct fsm_result r = m_acq(&m, s, "a", "w1", 0, 0, "x");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, first.token);
    CHECK_EQ(m_info(&m, "a").holds, 1);
    m_ok(&m);
    m_close(&m);
}

/* An ACQUIRE's id on RELEASE or SESSION.CLOSE is refused: the lock stays
 * held, the session open. */
TEST(fsm_reqid, acquire_id_on_release_and_close)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    CHECK_EQ(m_acq(&m, s, "a", "", 0, 0, "x").status, FSM_OK);
    CHECK_UNCHANGED(&m, check_reused(m_rel(&m, s, "a", "", "x")));
    CHECK_UNCHANGED(&m, check_reused(m_close_s(&m, s, "x")));
    CHECK_U64(m_info(&m, "a").holder, s);
    CHECK_EQ(m_rel(&m, s, "a", "", "y").status, FSM_OK);
    /* A RELEASE's id on an ACQUIRE, likewise. */
    CHECK_UNCHANGED(&m, check_reused(m_acq(&m, s, "a", "", 0, 0, "y")));
    CHECK_EQ(m_close_s(&m, s, "z").status, FSM_OK);
    CHECK(m_close_s(&m, s, "z").replayed);
    m_ok(&m);
    m_close(&m);
}

/* SESSION.OPEN's id with another TTL or client name opens nothing. */
TEST(fsm_reqid, open_other_ttl)
{
    struct m m;
    m_init(&m);
    struct fsm_result first = m_open(&m, 5000, "o");
    CHECK_UNCHANGED(&m, check_reused(m_open(&m, 7000, "o")));
    struct fsm_cmd c = str_cmd(FSM_OPEN, NULL, NULL, "o");
    c.ttl = 5000;
    CHECK_UNCHANGED(&m, check_reused(m_cmd(&m, c)));
    struct fsm_result r = m_open(&m, 5000, "o");
    CHECK(r.replayed);
    CHECK_U64(r.session, first.session);
    struct fsm_stats st;
    fsm_stats(m.f, &st);
    CHECK_U64(st.sessions, 1);
    m_close(&m);
}

/* Lease locks share the global table with SESSION.OPEN: an OPEN's id on a
 * lease ACQUIRE, a lease ACQUIRE's on another lock, RELEASE or EXTEND, are
 * refused. */
TEST(fsm_reqid, lease_lock_ids)
{
    struct m m;
    m_init(&m);
    m_open(&m, 5000, "o");
    CHECK_UNCHANGED(&m, check_reused(m_lease(&m, 5000, "a", 0, 0, "o")));
    CHECK(!m_known(&m, "a"));
    struct fsm_result g = m_lease(&m, 5000, "a", 0, 0, "l");
    CHECK_EQ(g.status, FSM_OK);
    CHECK_UNCHANGED(&m, check_reused(m_lease(&m, 5000, "b", 0, 0, "l")));
    CHECK_UNCHANGED(&m, check_reused(m_lease(&m, 6000, "a", 0, 0, "l")));
    CHECK_UNCHANGED(&m, check_reused(m_rel_token(&m, "a", g.token, "l")));
    CHECK_UNCHANGED(&m, check_reused(m_extend(&m, "a", g.token, 9000, "l")));
    CHECK_UNCHANGED(&m, check_reused(m_open(&m, 5000, "l")));
    struct fsm_result r = m_lease(&m, 5000, "a", 0, 0, "l");
    CHECK(r.replayed);
    CHECK_U64(r.token, g.token);
    CHECK_EQ(m_rel_token(&m, "a", g.token, "r").status, FSM_OK);
    CHECK_UNCHANGED(&m, check_reused(m_rel_token(&m, "a", g.token + 1, "r")));
    m_ok(&m);
    m_close(&m);
}

/* A blocking ACQUIRE repeated without WAIT (or with another) is its retry:
 * WAIT is not part of a request. */
TEST(fsm_reqid, blocking_acquire_repeated_without_wait)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    CHECK_EQ(m_acq(&m, s1, "a", "", 0, 0, "").status, FSM_OK);
    struct fsm_result q = m_acq(&m, s2, "a", "", 5000, 0, "w");
    CHECK_EQ(q.status, FSM_QUEUED);
    struct fsm_result r = m_acq(&m, s2, "a", "", 0, 0, "w");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_QUEUED);
    CHECK_U64(r.index, q.index);
    r = m_acq(&m, s2, "a", "", 9000, 0, "w");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_QUEUED);
    CHECK_EQ(m_info(&m, "a").waiters, 1);
    m_ok(&m);
    m_close(&m);
}
