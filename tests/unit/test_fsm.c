/* test_fsm.c - the lock state machine (src/lock/fsm*.c): sessions, grants,
 * reentrancy, FIFO waits, tokens, releases, expiry and lock-delay, ticks,
 * events and the clock, with explicit times (docs/design.md §11). Retries,
 * lease locks and limits are in test_fsm_replay.c; snapshots and random
 * sequences in test_fsm_random.c. */
#include "fsm_test.h"

/* ---- sessions --------------------------------------------------------- */

/* OPEN gives the session the id of its log index and the ttl asked for. */
TEST(fsm, open_id_is_index)
{
    struct m m;
    m_init(&m);
    m.idx = 41;
    struct fsm_result r = m_open(&m, 5000, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.session, 42);
    CHECK_U64(r.ttl, 5000);
    CHECK(!r.replayed);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, 42, &si));
    CHECK_U64(si.ttl, 5000);
    CHECK(si.client_len == 11 && memcmp(si.client, "test-client", 11) == 0);
    CHECK(!si.lease_lock);
    CHECK(!fsm_session_info(m.f, 41, &si));
    m_close(&m);
}

/* OPEN refuses a ttl outside [FSM_TTL_MIN, FSM_TTL_MAX] and opens nothing. */
TEST(fsm, open_ttl_bounds)
{
    struct m m;
    m_init(&m);
    CHECK_EQ(m_open(&m, FSM_TTL_MIN - 1, "").status, FSM_INVALID);
    CHECK_EQ(m_open(&m, FSM_TTL_MAX + 1, "").status, FSM_INVALID);
    CHECK_EQ(m_open(&m, 0, "").status, FSM_INVALID);
    struct fsm_stats st;
    fsm_stats(m.f, &st);
    CHECK_U64(st.sessions, 0);
    CHECK_EQ(m_open(&m, FSM_TTL_MIN, "").status, FSM_OK);
    CHECK_EQ(m_open(&m, FSM_TTL_MAX, "").status, FSM_OK);
    m_close(&m);
}

/* fsm_session_each visits every session in id order with its ttl. */
static void each_cb(void *arg, uint64_t id, uint64_t ttl)
{
    uint64_t *v = arg;
    v[v[0] * 2 + 1] = id;
    v[v[0] * 2 + 2] = ttl;
    v[0]++;
}

TEST(fsm, session_each_in_id_order)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_open(&m, 1000, "").session;
    uint64_t b = m_open(&m, 2000, "").session;
    uint64_t c = m_open(&m, 3000, "").session;
    m_close_s(&m, b, "");
    uint64_t v[16] = {0};
    fsm_session_each(m.f, each_cb, v);
    CHECK_U64(v[0], 2);
    CHECK_U64(v[1], a);
    CHECK_U64(v[2], 1000);
    CHECK_U64(v[3], c);
    CHECK_U64(v[4], 3000);
    m_close(&m);
}

/* SET_TTL changes a session's ttl, validated; unknown sessions get
 * NOSESSION. */
TEST(fsm, set_ttl)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    struct fsm_result r = m_set_ttl(&m, s, 777, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.ttl, 777);
    CHECK_U64(r.session, s);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s, &si));
    CHECK_U64(si.ttl, 777);
    CHECK_EQ(m_set_ttl(&m, s, 99, "").status, FSM_INVALID);
    CHECK_EQ(m_set_ttl(&m, s + 100, 500, "").status, FSM_NOSESSION);
    CHECK(fsm_session_info(m.f, s, &si));
    CHECK_U64(si.ttl, 777);
    m_close(&m);
}

/* ---- acquire and release ---------------------------------------------- */

/* A free lock is granted with token last_token + 1 and one hold; the reads
 * show holder, owner, token and holds. */
TEST(fsm, grant_free_lock)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    struct fsm_result r = m_acq(&m, s, "a", "w1", 0, DEFAULT_DELAY, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, 1);
    CHECK_EQ(r.holds, 1);
    CHECK_U64(r.session, s);
    CHECK_U64(fsm_last_token(m.f), 1);
    struct fsm_lock_info li = m_info(&m, "a");
    CHECK_U64(li.holder, s);
    CHECK(li.owner_len == 2 && memcmp(li.owner, "w1", 2) == 0);
    CHECK_U64(li.token, 1);
    CHECK_EQ(li.holds, 1);
    CHECK_EQ(li.waiters, 0);
    CHECK_U64(li.available_at, 0);
    CHECK(fsm_lock_check(m.f, "a", 1, 1));
    CHECK(!fsm_lock_check(m.f, "a", 1, 2));
    CHECK(!fsm_lock_check(m.f, "b", 1, 1));
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s, &si));
    CHECK_EQ(si.locks, 1);
    m_close(&m);
}

/* The same session and owner re-enter: holds count up, the token stays, and
 * the lock is free only after as many releases. */
TEST(fsm, reentrant)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    uint64_t t = m_acq(&m, s, "a", "w", 0, DEFAULT_DELAY, "").token;
    struct fsm_result r = m_acq(&m, s, "a", "w", 0, DEFAULT_DELAY, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, t);
    CHECK_EQ(r.holds, 2);
    r = m_acq(&m, s, "a", "w", 5000, DEFAULT_DELAY, "");
    CHECK_EQ(r.holds, 3);
    CHECK_U64(fsm_last_token(m.f), t);
    CHECK_EQ(m_rel(&m, s, "a", "w", "").holds, 2);
    CHECK_EQ(m_rel(&m, s, "a", "w", "").holds, 1);
    CHECK_EQ(m_info(&m, "a").holds, 1);
    r = m_rel(&m, s, "a", "w", "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.holds, 0);
    CHECK(!m_known(&m, "a"));
    CHECK_EQ(m_rel(&m, s, "a", "w", "").status, FSM_NOTHELD);
    m_close(&m);
}

/* Reentry needs the same owner: another owner of the same session is
 * refused (try) like any other contender, with the session as holder. */
TEST(fsm, other_owner_same_session_is_held)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    m_acq(&m, s, "a", "w1", 0, DEFAULT_DELAY, "");
    struct fsm_result r = m_acq(&m, s, "a", "w2", 0, DEFAULT_DELAY, "");
    CHECK_EQ(r.status, FSM_HELD);
    CHECK_U64(r.holder, s);
    CHECK_EQ(m_rel(&m, s, "a", "w2", "").status, FSM_NOTHELD);
    CHECK_EQ(m_info(&m, "a").holds, 1);
    m_close(&m);
}

/* A try of a held lock gets HELD with the holder's session and changes
 * nothing. */
TEST(fsm, try_held)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, DEFAULT_DELAY, "");
    struct fsm_result r = m_acq(&m, s2, "a", "", 0, DEFAULT_DELAY, "");
    CHECK_EQ(r.status, FSM_HELD);
    CHECK_U64(r.holder, s1);
    CHECK_U64(r.token, 0);
    CHECK_EQ(m_info(&m, "a").waiters, 0);
    CHECK_U64(fsm_last_token(m.f), 1);
    m_close(&m);
}

/* RELEASE by anyone but the holder (other session, other owner, unknown
 * lock) is NOTHELD and changes nothing. */
TEST(fsm, release_not_holder)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "w", 0, DEFAULT_DELAY, "");
    CHECK_EQ(m_rel(&m, s2, "a", "w", "").status, FSM_NOTHELD);
    CHECK_EQ(m_rel(&m, s1, "a", "x", "").status, FSM_NOTHELD);
    CHECK_EQ(m_rel(&m, s1, "b", "w", "").status, FSM_NOTHELD);
    CHECK_EQ(m_rel(&m, s1 + 99, "a", "w", "").status, FSM_NOSESSION);
    CHECK_U64(m_info(&m, "a").holder, s1);
    m_close(&m);
}

/* ACQUIRE refuses an empty name, an owner or wait or delay over its limit,
 * and an unknown session, changing nothing. */
TEST(fsm, acquire_validation)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    char owner[FSM_OWNER_MAX + 2];
    memset(owner, 'o', sizeof owner - 1);
    owner[sizeof owner - 1] = '\0';
    CHECK_EQ(m_acq(&m, s, "", "", 0, 0, "").status, FSM_INVALID);
    CHECK_EQ(m_acq(&m, s, "a", "", FSM_WAIT_MAX + 1, 0, "").status,
             FSM_INVALID);
    CHECK_EQ(m_acq(&m, s, "a", "", 0, FSM_DELAY_MAX + 1, "").status,
             FSM_INVALID);
    CHECK_EQ(m_acq(&m, s + 1, "a", "", 0, 0, "").status, FSM_NOSESSION);
    CHECK_EQ(m_acq(&m, 0, "a", "", 0, 0, "").status, FSM_NOSESSION);
    /* An owner over the limit cannot even be encoded. */
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE, "a", owner, "");
    c.session = s;
    uint8_t buf[512];
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 0);
    CHECK(!m_known(&m, "a"));
    CHECK_EQ(m_acq(&m, s, "a", "", FSM_WAIT_MAX, FSM_DELAY_MAX, "").status,
             FSM_OK);
    m_close(&m);
}

/* One token counter for all locks: every grant, of any lock, by acquire or
 * by a release that hands over, gets a token above all earlier ones. */
TEST(fsm, tokens_increase_across_locks)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    uint64_t last = 0, t;
    t = m_acq(&m, s1, "a", "", 0, 0, "").token;
    CHECK(t > last);
    last = t;
    t = m_acq(&m, s1, "b", "", 0, 0, "").token;
    CHECK(t > last);
    last = t;
    CHECK_EQ(m_acq(&m, s2, "a", "", 1000, 0, "").status, FSM_QUEUED);
    m_rel(&m, s1, "a", "", "");
    t = m_ev(&m, 0, FSM_EV_GRANTED, s2, "a").token;
    CHECK(t > last);
    last = t;
    m_rel(&m, s1, "b", "", "");
    t = m_acq(&m, s1, "b", "", 0, 0, "").token;
    CHECK(t > last);
    CHECK_U64(fsm_last_token(m.f), t);
    m_close(&m);
}

/* Waiters are granted in the order they queued, each on the release of the
 * one before, with an event carrying session, token, index, name and req. */
TEST(fsm, fifo_grants)
{
    struct m m;
    m_init(&m);
    uint64_t s0 = m_session(&m), s[3], idx[3];
    for (int i = 0; i < 3; i++)
        s[i] = m_session(&m);
    m_acq(&m, s0, "L", "", 0, 0, "");
    const char *reqs[3] = {"r0", "r1", "r2"};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(m_acq(&m, s[i], "L", "", 60000, 0, reqs[i]).status,
                 FSM_QUEUED);
        idx[i] = m.idx;
    }
    CHECK_EQ(m_info(&m, "L").waiters, 3);
    uint64_t holder = s0;
    for (int i = 0; i < 3; i++) {
        fsm_events_clear(m.f);
        CHECK_EQ(m_rel(&m, holder, "L", "", "").status, FSM_OK);
        CHECK_EQ(m_nev(&m), 1);
        struct fsm_event e = m_ev(&m, 0, FSM_EV_GRANTED, s[i], "L");
        CHECK_U64(e.index, idx[i]);
        CHECK(ev_req_is(&e, reqs[i]));
        CHECK_U64(e.token, fsm_last_token(m.f));
        struct fsm_lock_info li = m_info(&m, "L");
        CHECK_U64(li.holder, s[i]);
        CHECK_U64(li.token, e.token);
        CHECK_EQ(li.waiters, 2 - i);
        holder = s[i];
    }
    m_close(&m);
}

/* A lock whose holder is gone and nobody waits for is forgotten, and the
 * machine's bytes go back to what they were (but for the smallest table the
 * lock map shrinks to). */
TEST(fsm, free_lock_forgotten)
{
    struct m m;
    m_init(&m);
    struct fsm_stats st0, st;
    uint64_t s = m_session(&m);
    fsm_stats(m.f, &st0);
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "lock-%d", i);
        m_acq(&m, s, name, "owner", 0, 0, "");
    }
    fsm_stats(m.f, &st);
    CHECK_U64(st.locks, 1000);
    CHECK_U64(st.held, 1000);
    CHECK(st.bytes > st0.bytes + 1000 * 64);
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "lock-%d", i);
        m_rel(&m, s, name, "owner", "");
    }
    fsm_stats(m.f, &st);
    CHECK_U64(st.locks, 0);
    CHECK_U64(st.held, 0);
    CHECK(st.bytes >= st0.bytes && st.bytes <= st0.bytes + 1024);
    CHECK(!m_known(&m, "lock-5"));
    m_close(&m);
}

/* ---- waits and ticks -------------------------------------------------- */

/* A wait runs out at now + wait: a TICK before changes nothing, the TICK at
 * the deadline removes the waiter with FSM_EV_TIMEOUT. */
TEST(fsm, wait_times_out_on_tick)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 0, "");
    m.now = 2000;
    CHECK_EQ(m_acq(&m, s2, "a", "", 500, 0, "q").status, FSM_QUEUED);
    uint64_t qidx = m.idx;
    CHECK_U64(fsm_next_deadline(m.f), 2500);
    m_tick(&m, 2499);
    CHECK_EQ(m_nev(&m), 0);
    CHECK_EQ(m_info(&m, "a").waiters, 1);
    m_tick(&m, 2500);
    CHECK_EQ(m_nev(&m), 1);
    struct fsm_event e = m_ev(&m, 0, FSM_EV_TIMEOUT, s2, "a");
    CHECK_U64(e.index, qidx);
    CHECK(ev_req_is(&e, "q"));
    CHECK_EQ(m_info(&m, "a").waiters, 0);
    CHECK_U64(fsm_next_deadline(m.f), UINT64_MAX);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s2, &si));
    CHECK_EQ(si.waits, 0);
    m_close(&m);
}

/* fsm_next_deadline is the earliest wait deadline or lock-delay end. */
TEST(fsm, next_deadline)
{
    struct m m;
    m_init(&m);
    CHECK_U64(fsm_next_deadline(m.f), UINT64_MAX);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 300, "");
    m_acq(&m, s2, "a", "", 5000, 0, "");
    CHECK_U64(fsm_next_deadline(m.f), 6000);
    m_expire(&m, s1); /* lock-delay until 1300 */
    CHECK_U64(fsm_next_deadline(m.f), 1300);
    m_acq(&m, s3, "a", "", 100, 0, "");
    CHECK_U64(fsm_next_deadline(m.f), 1100);
    m_tick(&m, 1100);
    CHECK_U64(fsm_next_deadline(m.f), 1300);
    m_tick(&m, 1300);
    CHECK_U64(m_info(&m, "a").holder, s2);
    CHECK_U64(fsm_next_deadline(m.f), UINT64_MAX);
    m_close(&m);
}

/* A late TICK does the work in time order: a lock-delay that ended before a
 * waiter's deadline grants the lock to that waiter instead of timing it out;
 * at equal times the wait runs out first. */
TEST(fsm, late_tick_in_time_order)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 100, ""); /* delay 100 */
    m_acq(&m, s2, "a", "", 200, 0, ""); /* deadline 1200 */
    m_expire(&m, s1);                   /* available at 1100 */
    fsm_events_clear(m.f);
    m_tick(&m, 5000);
    CHECK_EQ(m_nev(&m), 1);
    m_ev(&m, 0, FSM_EV_GRANTED, s2, "a");
    CHECK_U64(m_info(&m, "a").holder, s2);

    /* Equal times: the deadline comes first. */
    uint64_t s3 = m_session(&m), s4 = m_session(&m);
    m_acq(&m, s3, "b", "", 0, 100, ""); /* delay 100 */
    m_acq(&m, s4, "b", "", 100, 0, ""); /* deadline 5100 */
    m_expire(&m, s3);                   /* available at 5100 */
    fsm_events_clear(m.f);
    m_tick(&m, 5100);
    CHECK_EQ(m_nev(&m), 1);
    m_ev(&m, 0, FSM_EV_TIMEOUT, s4, "b");
    CHECK(!m_known(&m, "b"));
    m_close(&m);
}

/* ---- close and expire ------------------------------------------------- */

/* CLOSE frees the session's locks at once (no lock-delay), each to its first
 * waiter, in the order the session acquired them; its own waits end with
 * FSM_EV_CANCELED first, in the order queued. */
TEST(fsm, close_releases_in_acquisition_order)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    m_acq(&m, s1, "zeta", "", 0, 5000, "");
    m_acq(&m, s1, "alpha", "", 0, 5000, "");
    m_acq(&m, s3, "mid", "", 0, 0, "");
    m_acq(&m, s1, "mid", "", 9000, 0, "w1"); /* s1 waits on mid */
    m_acq(&m, s2, "alpha", "", 9000, 0, "");
    m_acq(&m, s2, "zeta", "", 9000, 0, "");
    fsm_events_clear(m.f);
    struct fsm_result r = m_close_s(&m, s1, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(m_nev(&m), 3);
    struct fsm_event e = m_ev(&m, 0, FSM_EV_CANCELED, s1, "mid");
    CHECK(ev_req_is(&e, "w1"));
    uint64_t tz = m_ev(&m, 1, FSM_EV_GRANTED, s2, "zeta").token;
    uint64_t ta = m_ev(&m, 2, FSM_EV_GRANTED, s2, "alpha").token;
    CHECK(ta > tz);
    CHECK_U64(m_info(&m, "zeta").available_at, 0);
    CHECK_EQ(m_info(&m, "mid").waiters, 0);
    struct fsm_session_info si;
    CHECK(!fsm_session_info(m.f, s1, &si));
    CHECK_EQ(m_close_s(&m, s1, "").status, FSM_NOSESSION);
    m_close(&m);
}

/* EXPIRE: FSM_EV_LOST per lock, and each lock stays ungrantable for the
 * delay its acquire gave: a try gets HELD with holder 0, the waiter gets it
 * from the TICK at the end, not before. */
TEST(fsm, expire_lock_delay)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    uint64_t t1 = m_acq(&m, s1, "a", "", 0, 500, "").token;
    m_acq(&m, s2, "a", "", 60000, 0, "w");
    m.now = 3000;
    fsm_events_clear(m.f);
    CHECK_EQ(m_expire(&m, s1).status, FSM_OK);
    CHECK_EQ(m_nev(&m), 1);
    CHECK_U64(m_ev(&m, 0, FSM_EV_LOST, s1, "a").token, t1);
    struct fsm_lock_info li = m_info(&m, "a");
    CHECK_U64(li.holder, 0);
    CHECK_U64(li.available_at, 3500);
    CHECK_EQ(li.waiters, 1);
    struct fsm_result r = m_acq(&m, s3, "a", "", 0, 0, "");
    CHECK_EQ(r.status, FSM_HELD);
    CHECK_U64(r.holder, 0);
    fsm_events_clear(m.f);
    m_tick(&m, 3499);
    CHECK_EQ(m_nev(&m), 0);
    m_tick(&m, 3500);
    CHECK_EQ(m_nev(&m), 1);
    CHECK(m_ev(&m, 0, FSM_EV_GRANTED, s2, "a").token > t1);
    CHECK_U64(m_info(&m, "a").available_at, 0);
    m_close(&m);
}

/* The lock-delay of an ACQUIRE without one is FSM_DEFAULT_DELAY; a delay of
 * 0 hands the lock over at the EXPIRE itself. */
TEST(fsm, expire_default_and_zero_delay)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, DEFAULT_DELAY, "");
    m_acq(&m, s1, "b", "", 0, 0, "");
    m_acq(&m, s2, "b", "", 60000, 0, "");
    fsm_events_clear(m.f);
    m_expire(&m, s1);
    CHECK_U64(m_info(&m, "a").available_at, 1000 + FSM_DEFAULT_DELAY);
    CHECK_EQ(m_nev(&m), 3);
    m_ev(&m, 0, FSM_EV_LOST, s1, "a");
    m_ev(&m, 1, FSM_EV_LOST, s1, "b");
    m_ev(&m, 2, FSM_EV_GRANTED, s2, "b");
    CHECK_U64(m_info(&m, "b").holder, s2);
    m_close(&m);
}

/* A lock in lock-delay that nobody waits for is forgotten by the TICK at its
 * end; once the clock has passed the end, an ACQUIRE gets it even before
 * that TICK. */
TEST(fsm, lock_delay_ends)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 200, "");
    m_acq(&m, s1, "b", "", 0, 200, "");
    m_expire(&m, s1);
    m.now = 1199;
    CHECK_EQ(m_acq(&m, s2, "b", "", 0, 0, "").status, FSM_HELD);
    m.now = 1200;
    CHECK_EQ(m_acq(&m, s2, "b", "", 0, 0, "").status, FSM_OK);
    m_tick(&m, 1200);
    CHECK(!m_known(&m, "a"));
    CHECK_U64(m_info(&m, "b").holder, s2);
    CHECK_U64(fsm_next_deadline(m.f), UINT64_MAX);
    m_close(&m);
}

/* Only EXPIRE causes lock-delay: RELEASE and CLOSE hand the lock to the next
 * waiter at once. */
TEST(fsm, no_lock_delay_after_release_or_close)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 60000, "");
    m_acq(&m, s2, "a", "", 0, 0, "");
    m_rel(&m, s1, "a", "", "");
    CHECK(!m_known(&m, "a"));
    CHECK_EQ(m_acq(&m, s2, "a", "", 0, 60000, "").status, FSM_OK);
    m_close_s(&m, s2, "");
    CHECK(!m_known(&m, "a"));
    CHECK_EQ(m_acq(&m, s3, "a", "", 0, 0, "").status, FSM_OK);
    CHECK_U64(fsm_next_deadline(m.f), UINT64_MAX);
    m_close(&m);
}

/* EXPIRE of an unknown session is NOSESSION and changes nothing but the
 * applied index. */
TEST(fsm, expire_unknown)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    m_acq(&m, s, "a", "", 0, 0, "");
    size_t la, lb;
    uint8_t *a = m_snap(&m, &la);
    CHECK_EQ(m_expire(&m, s + 1).status, FSM_NOSESSION);
    CHECK_EQ(m_expire(&m, 0).status, FSM_NOSESSION);
    uint8_t *b = m_snap(&m, &lb);
    CHECK(same_state(a, la, b, lb));
    free(a);
    free(b);
    m_close(&m);
}

/* The same sessions in two machines: s1 holds a (delay 500) and b, s2
 * waits on a; s3 holds c (no delay), s4 waits on c and holds d; s5 is
 * closed; a lease lock's session holds e. Returns the lease lock's. */
static uint64_t batch_setup(struct m *m, uint64_t s[6])
{
    for (int i = 1; i <= 5; i++)
        s[i] = m_session(m);
    m_acq(m, s[1], "a", "", 0, 500, "");
    m_acq(m, s[1], "b", "", 0, 0, "");
    m_acq(m, s[2], "a", "", 60000, 0, "w2");
    m_acq(m, s[3], "c", "o", 0, 0, "");
    m_acq(m, s[4], "d", "", 0, 0, "");
    m_acq(m, s[4], "c", "", 60000, 0, "w4");
    m_close_s(m, s[5], "");
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE, "e", "", "");
    c.ttl = 5000;
    c.delay = 300;
    struct fsm_result r = m_cmd(m, c);
    CHECK_EQ(r.status, FSM_OK);
    m->now = 2000;
    fsm_events_clear(m->f);
    return r.session;
}

/* EXPIRE_BATCH ends each of its sessions exactly as an EXPIRE of each, in
 * its order, would: the same events in the same order and the same state
 * after. A session closed already, one never opened, and one named twice
 * are skipped (their EXPIRE would be NOSESSION); OK counts those ended. */
TEST(fsm, expire_batch_as_single_expires)
{
    struct m a, b;
    uint64_t s[6], t[6];
    m_init(&a);
    m_init(&b);
    uint64_t lease = batch_setup(&a, s);
    CHECK_U64(batch_setup(&b, t), lease);
    uint64_t ids[] = {s[3], 999999, s[1], s[5], lease, s[3], s[1]};
    struct fsm_result r = m_expire_batch(&a, ids, 7);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.expired, 3);
    for (int i = 0; i < 7; i++) {
        struct fsm_result one = m_expire(&b, ids[i]);
        bool live = i == 0 || i == 2 || i == 4;
        CHECK_EQ(one.status, live ? FSM_OK : FSM_NOSESSION);
        CHECK_EQ(one.expired, live ? 1 : 0);
    }
    size_t na;
    fsm_events(a.f, &na);
    CHECK_EQ(na, 5); /* c lost and granted to s4, a and b lost, e lost */
    same_events(a.f, b.f);
    m_ev(&a, 0, FSM_EV_LOST, s[3], "c");
    m_ev(&a, 1, FSM_EV_GRANTED, s[4], "c");
    m_ev(&a, 2, FSM_EV_LOST, s[1], "a");
    m_ev(&a, 3, FSM_EV_LOST, s[1], "b");
    m_ev(&a, 4, FSM_EV_LOST, lease, "e");
    CHECK_U64(m_info(&a, "a").available_at, 2500);
    CHECK_U64(m_info(&a, "e").available_at, 2300);
    size_t la, lb;
    uint8_t *sa = m_snap(&a, &la), *sb = m_snap(&b, &lb);
    CHECK(same_state(sa, la, sb, lb));
    free(sa);
    free(sb);
    m_close(&a);
    m_close(&b);
}

/* An EXPIRE_BATCH naming only sessions that are gone is OK, ends none and
 * changes nothing but the applied index; bytes that do not decode (no id,
 * a count past FSM_EXPIRE_BATCH_MAX) are INVALID. */
TEST(fsm, expire_batch_of_gone_sessions)
{
    struct m m;
    uint64_t s[6];
    m_init(&m);
    batch_setup(&m, s);
    m.now = fsm_now(m.f); /* the clock stays */
    size_t la, lb;
    uint8_t *a = m_snap(&m, &la);
    uint64_t ids[] = {s[5], 0, 777777, s[5]};
    struct fsm_result r = m_expire_batch(&m, ids, 4);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.expired, 0);
    CHECK_EQ(m_nev(&m), 0);
    uint8_t bad[13] = {
        FSM_EXPIRE_BATCH, 0xd0, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    fsm_apply(m.f, ++m.idx, bad, sizeof bad, &r);
    CHECK_EQ(r.status, FSM_INVALID);
    uint8_t *b = m_snap(&m, &lb);
    CHECK(same_state(a, la, b, lb));
    free(a);
    free(b);
    m_close(&m);
}

/* A machine restored from a snapshot taken before an EXPIRE_BATCH applies
 * it with the same result, events and state after. */
TEST(fsm, expire_batch_after_restore)
{
    struct m a;
    uint64_t s[6];
    m_init(&a);
    uint64_t lease = batch_setup(&a, s);
    size_t len;
    uint8_t *snap = m_snap(&a, &len);
    struct fsm *copy = fsm_new();
    CHECK_EQ(fsm_restore(copy, snap, len), 0);
    uint64_t ids[] = {lease, s[4], s[1], s[4]};
    uint8_t buf[64];
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 8; k++)
            buf[13 + 8 * i + k] = (uint8_t)(ids[i] >> (8 * k));
    struct fsm_cmd c = {.type = FSM_EXPIRE_BATCH, .now = a.now, .n_ids = 4};
    c.ids = buf + 13;
    uint8_t enc[64];
    size_t n = fsm_cmd_encode(&c, enc, sizeof enc);
    CHECK_EQ(n, fsm_cmd_batch_size(4));
    struct fsm_result ra, rb;
    fsm_apply(a.f, ++a.idx, enc, n, &ra);
    fsm_apply(copy, a.idx, enc, n, &rb);
    CHECK(memcmp(&ra, &rb, sizeof ra) == 0);
    CHECK_EQ(ra.expired, 3);
    size_t na, nb;
    const struct fsm_event *ea = fsm_events(a.f, &na),
                           *eb = fsm_events(copy, &nb);
    CHECK_EQ(na, nb);
    for (size_t i = 0; i < na && i < nb; i++)
        CHECK(ea[i].type == eb[i].type && ea[i].session == eb[i].session &&
              ea[i].token == eb[i].token);
    uint8_t *x, *y;
    size_t lx, ly;
    fsm_snapshot(a.f, &x, &lx);
    fsm_snapshot(copy, &y, &ly);
    CHECK(lx == ly && memcmp(x, y, lx) == 0);
    CHECK(fsm_check(copy, NULL, 0));
    free(x);
    free(y);
    free(snap);
    fsm_free(copy);
    m_close(&a);
}

/* ---- events and the clock --------------------------------------------- */

/* Events stay, with their names and reqs readable, until fsm_events_clear,
 * across later commands and after their lock was forgotten. */
TEST(fsm, events_outlive_locks)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    char name[FSM_NAME_MAX + 1];
    memset(name, 'n', FSM_NAME_MAX);
    name[FSM_NAME_MAX] = '\0';
    m_acq(&m, s1, name, "", 0, 0, "");
    m_acq(&m, s2, name, "", 100, 0, "req-of-the-waiter");
    m_tick(&m, 1100);
    m_rel(&m, s1, name, "", "");
    CHECK(!m_known(&m, name));
    for (int i = 0; i < 2000; i++) { /* fill more than one arena block */
        char nm[64], req[64];
        snprintf(nm, sizeof nm, "other-%d", i);
        snprintf(req, sizeof req, "req-%d-rrrrrrrrrrrrrrrrrrrrrrrrrrrr", i);
        m_acq(&m, s1, nm, "", 0, 0, "");
        CHECK_EQ(m_acq(&m, s2, nm, "", 1, 0, req).status, FSM_QUEUED);
    }
    m_tick(&m, 1200);
    CHECK_EQ(m_nev(&m), 2001);
    struct fsm_event e = m_ev(&m, 0, FSM_EV_TIMEOUT, s2, name);
    CHECK(ev_req_is(&e, "req-of-the-waiter"));
    m_ev(&m, 2000, FSM_EV_TIMEOUT, s2, "other-1999");
    fsm_events_clear(m.f);
    CHECK_EQ(m_nev(&m), 0);
    m_close(&m);
}

/* The clock is the largest `now` applied: an older stamp does not move it
 * back, and waits are measured from the clock. */
TEST(fsm, clock_is_max_now)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m.now = 5000;
    m_acq(&m, s1, "a", "", 0, 0, "");
    CHECK_U64(fsm_now(m.f), 5000);
    m.now = 4000;
    m_acq(&m, s2, "a", "", 100, 0, "");
    CHECK_U64(fsm_now(m.f), 5000);
    CHECK_U64(fsm_next_deadline(m.f), 5100);
    CHECK_U64(fsm_applied_index(m.f), m.idx);
    m_close(&m);
}

/* Bytes that do not decode are FSM_INVALID: only the applied index moves. */
TEST(fsm, garbage_is_invalid)
{
    struct m m;
    m_init(&m);
    m_session(&m);
    size_t la, lb;
    uint8_t *a = m_snap(&m, &la);
    uint8_t junk[] = {9, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct fsm_result r;
    fsm_apply(m.f, ++m.idx, junk, sizeof junk, &r);
    CHECK_EQ(r.status, FSM_INVALID);
    fsm_apply(m.f, ++m.idx, junk, 0, &r);
    CHECK_EQ(r.status, FSM_INVALID);
    CHECK_U64(fsm_applied_index(m.f), m.idx);
    uint8_t *b = m_snap(&m, &lb);
    CHECK(same_state(a, la, b, lb));
    free(a);
    free(b);
    m_close(&m);
}

/* fsm_lock_list lists known locks with a prefix in name order, and stops
 * when the callback says so. */
struct listed {
    char names[16][16];
    int n, stop_at;
};

static bool list_cb(void *arg, const struct fsm_lock_info *info)
{
    struct listed *l = arg;
    snprintf(l->names[l->n], 16, "%.*s", (int)info->name_len, info->name);
    return ++l->n != l->stop_at;
}

TEST(fsm, lock_list_in_name_order)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    const char *names[] = {"job/3", "job/10", "x", "job/1", "jo", "job/2"};
    for (int i = 0; i < 6; i++)
        m_acq(&m, s, names[i], "", 0, 0, "");
    struct listed l = {.stop_at = -1};
    fsm_lock_list(m.f, "job/", 4, NULL, 0, list_cb, &l);
    CHECK_EQ(l.n, 4);
    CHECK_STR(l.names[0], "job/1");
    CHECK_STR(l.names[1], "job/10");
    CHECK_STR(l.names[2], "job/2");
    CHECK_STR(l.names[3], "job/3");
    struct listed all = {.stop_at = 2};
    fsm_lock_list(m.f, NULL, 0, NULL, 0, list_cb, &all);
    CHECK_EQ(all.n, 2);
    CHECK_STR(all.names[0], "jo");
    CHECK_STR(all.names[1], "job/1");
    m_close(&m);
}

static void list_after(struct m *m, const char *prefix, const char *after,
                       struct listed *l)
{
    *l = (struct listed){.stop_at = -1};
    fsm_lock_list(m->f, prefix, (uint32_t)strlen(prefix), after,
                  after ? (uint32_t)strlen(after) : 0, list_cb, l);
}

/* A cursor resumes strictly after its name, whether or not that lock still
 * exists, and a cursor before the prefix starts at the prefix; locks freed
 * and acquired between pages are seen in their place. */
TEST(fsm, lock_list_after_a_cursor)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    const char *names[] = {"a", "job/1", "job/10", "job/2", "job/3", "k"};
    for (int i = 0; i < 6; i++)
        m_acq(&m, s, names[i], "", 0, 0, "");
    struct listed l;
    list_after(&m, "job/", "job/10", &l);
    CHECK_EQ(l.n, 2);
    CHECK_STR(l.names[0], "job/2");
    CHECK_STR(l.names[1], "job/3");
    list_after(&m, "job/", "job/15", &l); /* no such lock */
    CHECK_EQ(l.n, 2);
    CHECK_STR(l.names[0], "job/2");
    list_after(&m, "job/", "a", &l); /* before the prefix */
    CHECK_EQ(l.n, 4);
    CHECK_STR(l.names[0], "job/1");
    list_after(&m, "job/", "job/3", &l); /* the last */
    CHECK_EQ(l.n, 0);
    list_after(&m, "job/", "z", &l); /* past the prefix */
    CHECK_EQ(l.n, 0);
    list_after(&m, "", "job/3", &l);
    CHECK_EQ(l.n, 1);
    CHECK_STR(l.names[0], "k");
    m_rel(&m, s, "job/2", "", "");
    m_acq(&m, s, "job/20", "", 0, 0, "");
    list_after(&m, "job/", "job/10", &l);
    CHECK_EQ(l.n, 2);
    CHECK_STR(l.names[0], "job/20");
    CHECK_STR(l.names[1], "job/3");
    CHECK(fsm_check(m.f, NULL, 0));
    m_close(&m);
}

/* The changes since the last clear, as "id:ttl" words. */
static void changes(struct m *m, char *out, size_t cap)
{
    size_t n, off = 0;
    const struct fsm_session_change *sc = fsm_session_changes(m->f, &n);
    out[0] = '\0';
    for (size_t i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%llu:%llu",
                                i ? " " : "", (unsigned long long)sc[i].id,
                                (unsigned long long)sc[i].ttl);
    fsm_events_clear(m->f);
}

/* Sessions report how they begin, change their TTL and end: OPEN (not a
 * replay), a lease lock's session, EXTEND, SET_TTL, CLOSE, EXPIRE, and a
 * lease lock's session that goes with its lock or with a refused acquire;
 * a restored snapshot reports nothing. */
TEST(fsm, session_changes)
{
    struct m m;
    m_init(&m);
    char got[256], want[64];
    uint64_t s = m_open(&m, 5000, "o1").session;
    changes(&m, got, sizeof got);
    snprintf(want, sizeof want, "%llu:5000", (unsigned long long)s);
    CHECK_STR(got, want);
    m_open(&m, 5000, "o1"); /* a replay */
    changes(&m, got, sizeof got);
    CHECK_STR(got, "");
    m_set_ttl(&m, s, 7000, "");
    changes(&m, got, sizeof got);
    snprintf(want, sizeof want, "%llu:7000", (unsigned long long)s);
    CHECK_STR(got, want);
    struct fsm_result lease = m_lease(&m, 3000, "L", 0, 0, "");
    CHECK_EQ(lease.status, FSM_OK);
    m_extend(&m, "L", lease.token, 4000, "");
    changes(&m, got, sizeof got);
    snprintf(want, sizeof want, "%llu:3000 %llu:4000",
             (unsigned long long)lease.session,
             (unsigned long long)lease.session);
    CHECK_STR(got, want);
    /* A lease lock that cannot be had: its session comes and goes. */
    struct fsm_result held = m_lease(&m, 3000, "L", 0, 0, "");
    CHECK_EQ(held.status, FSM_HELD);
    changes(&m, got, sizeof got);
    snprintf(want, sizeof want, "%llu:3000 %llu:0", (unsigned long long)m.idx,
             (unsigned long long)m.idx);
    CHECK_STR(got, want);
    uint8_t *snap;
    size_t len;
    fsm_snapshot(m.f, &snap, &len);
    CHECK_EQ(fsm_restore(m.f, snap, len), 0);
    free(snap);
    changes(&m, got, sizeof got);
    CHECK_STR(got, "");
    m_rel_token(&m, "L", lease.token, "");
    m_close_s(&m, s, "");
    changes(&m, got, sizeof got);
    snprintf(want, sizeof want, "%llu:0 %llu:0",
             (unsigned long long)lease.session, (unsigned long long)s);
    CHECK_STR(got, want);
    uint64_t t = m_session(&m);
    m_expire(&m, t);
    changes(&m, got, sizeof got);
    snprintf(want, sizeof want, "%llu:10000 %llu:0", (unsigned long long)t,
             (unsigned long long)t);
    CHECK_STR(got, want);
    m_close(&m);
}
