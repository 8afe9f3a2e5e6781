/* test_fsm_unwait.c - FSM_UNWAIT, a waiting client that went away
 * (docs/design.md §11.4): its wait ends, at once without a request id or
 * after the grace with one unless the ACQUIRE is repeated; a grant it never
 * learnt is taken back and handed on; a repeat that learns it keeps it; and
 * all of it survives a snapshot. */
#include "fsm_test.h"

#include "common/le.h"

#define GRACE 5000

/* S1 holds "a"; S2 waits for it (WAIT 60 s, request id req). Returns the
 * index of S2's ACQUIRE. */
static uint64_t held_and_waited(struct m *m, uint64_t s1, uint64_t s2,
                                const char *req)
{
    CHECK_EQ(m_acq(m, s1, "a", "", 0, 0, "").status, FSM_OK);
    struct fsm_result r = m_acq(m, s2, "a", "", 60000, 0, req);
    CHECK_EQ(r.status, FSM_QUEUED);
    CHECK_U64(r.index, m->idx);
    return r.index;
}

/* A queued wait without a request id whose client went away ends at once
 * (a TIMEOUT event, which the server ignores): the released lock is
 * forgotten instead of going to the gone client's session. */
TEST(fsm_unwait, queued_wait_without_req_ends)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "");
    fsm_events_clear(m.f);
    struct fsm_result r = m_unwait(&m, i, s2, "a", "", GRACE, m.idx);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, 0);
    CHECK_EQ(m_nev(&m), 1);
    CHECK_U64(m_ev(&m, 0, FSM_EV_TIMEOUT, s2, "a").index, i);
    CHECK_EQ(m_info(&m, "a").waiters, 0);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK);
    CHECK_EQ(m_nev(&m), 0);
    CHECK(!m_known(&m, "a"));
    /* Again: nothing left to end. */
    CHECK_EQ(m_unwait(&m, i, s2, "a", "", GRACE, m.idx).status, FSM_NOTHELD);
    m_close(&m);
}

/* With a request id the wait keeps its place for the grace, then ends; a
 * repeat after that learns TIMEOUT. */
TEST(fsm_unwait, wait_with_req_ends_after_grace)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "w");
    fsm_events_clear(m.f);
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", GRACE, m.idx).status, FSM_OK);
    CHECK_EQ(m_nev(&m), 0);
    CHECK_EQ(m_info(&m, "a").waiters, 1);
    CHECK_U64(fsm_next_deadline(m.f), 1000 + GRACE);
    m_tick(&m, 1000 + GRACE - 1);
    CHECK_EQ(m_nev(&m), 0);
    m_tick(&m, 1000 + GRACE);
    CHECK_EQ(m_nev(&m), 1);
    CHECK_U64(m_ev(&m, 0, FSM_EV_TIMEOUT, s2, "a").index, i);
    struct fsm_result r = m_acq(&m, s2, "a", "", 60000, 0, "w");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_TIMEOUT);
    m_close(&m);
}

/* A repeat within the grace takes the wait back (queued at the same index,
 * its own deadline again); an UNWAIT seen before the repeat then does
 * nothing; the released lock goes to it. */
TEST(fsm_unwait, repeat_within_grace_keeps_place)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "w");
    CHECK_EQ(m_acq(&m, s3, "a", "", 60000, 0, "").status, FSM_QUEUED);
    uint64_t seen = m.idx;
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", GRACE, seen).status, FSM_OK);
    m.now += 100;
    struct fsm_result r = m_acq(&m, s2, "a", "", 60000, 0, "w");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_QUEUED);
    CHECK_U64(r.index, i);
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", GRACE, seen).status, FSM_NOTHELD);
    CHECK_U64(fsm_next_deadline(m.f), 1000 + 60000);
    m_tick(&m, 1000 + GRACE + 10);
    CHECK_EQ(m_nev(&m), 0);
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK);
    CHECK_U64(m_ev(&m, 0, FSM_EV_GRANTED, s2, "a").index, i);
    CHECK_U64(m_info(&m, "a").holder, s2);
    m_close(&m);
}

/* A grant made to a wait whose client had gone, nobody learning it: the
 * UNWAIT takes it back (WITHDRAWN) and the lock goes on to the next waiter
 * with a higher token. */
TEST(fsm_unwait, unclaimed_grant_handed_to_next)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "");
    uint64_t j = m_acq(&m, s3, "a", "", 60000, 0, "").index;
    uint64_t seen = fsm_wait_seen(m.f, i); /* the leader sees S2's go */
    CHECK_U64(seen, i);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK); /* before UNWAIT */
    uint64_t t2 = m_ev(&m, 0, FSM_EV_GRANTED, s2, "a").token;
    fsm_events_clear(m.f);
    struct fsm_result r = m_unwait(&m, i, s2, "a", "", GRACE, seen);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, t2);
    CHECK_EQ(r.holds, 0);
    CHECK_EQ(m_nev(&m), 2);
    struct fsm_event w = m_ev(&m, 0, FSM_EV_WITHDRAWN, s2, "a");
    CHECK_U64(w.token, t2);
    CHECK_U64(w.index, i);
    struct fsm_event g = m_ev(&m, 1, FSM_EV_GRANTED, s3, "a");
    CHECK_U64(g.index, j);
    CHECK(g.token > t2);
    struct fsm_lock_info li = m_info(&m, "a");
    CHECK_U64(li.holder, s3);
    CHECK_U64(li.token, g.token);
    CHECK(!fsm_lock_check(m.f, "a", 1, t2));
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s2, &si));
    CHECK_EQ(si.locks, 0);
    m_close(&m);
}

/* A repeat of the ACQUIRE that learns its grant claims it: a later UNWAIT
 * of that index leaves it held. */
TEST(fsm_unwait, claimed_grant_kept)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "w");
    uint64_t seen = fsm_wait_seen(m.f, i);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK);
    uint64_t t2 = m_ev(&m, 0, FSM_EV_GRANTED, s2, "a").token;
    struct fsm_result r = m_acq(&m, s2, "a", "", 60000, 0, "w");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, t2);
    fsm_events_clear(m.f);
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", GRACE, seen).status, FSM_NOTHELD);
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", 0, seen).status, FSM_NOTHELD);
    CHECK_EQ(m_nev(&m), 0);
    CHECK_U64(m_info(&m, "a").holder, s2);
    CHECK_U64(m_info(&m, "a").token, t2);
    m_close(&m);
}

/* A gone waiter with a request id that is granted meanwhile keeps the
 * grant only until its grace ends: then it is taken back, the next waiter
 * gets the lock, and a late repeat learns TIMEOUT. */
TEST(fsm_unwait, grant_to_gone_waiter_taken_back_after_grace)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "w");
    CHECK_EQ(m_acq(&m, s3, "a", "", 60000, 0, "").status, FSM_QUEUED);
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", GRACE, m.idx).status, FSM_OK);
    m.now += 1000;
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK);
    uint64_t t2 = m_ev(&m, 0, FSM_EV_GRANTED, s2, "a").token;
    CHECK_U64(fsm_next_deadline(m.f), 1000 + GRACE);
    fsm_events_clear(m.f);
    m_tick(&m, 1000 + GRACE);
    CHECK_EQ(m_nev(&m), 2);
    CHECK_U64(m_ev(&m, 0, FSM_EV_WITHDRAWN, s2, "a").token, t2);
    CHECK(m_ev(&m, 1, FSM_EV_GRANTED, s3, "a").token > t2);
    struct fsm_result r = m_acq(&m, s2, "a", "", 60000, 0, "w");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_TIMEOUT);
    CHECK_U64(r.token, 0);
    m_close(&m);
}

/* The same, but the client repeats within the grace: it learns its grant
 * and keeps it past the grace. */
TEST(fsm_unwait, grant_to_gone_waiter_claimed_within_grace)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "w");
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", GRACE, m.idx).status, FSM_OK);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK);
    uint64_t t2 = m_ev(&m, 0, FSM_EV_GRANTED, s2, "a").token;
    m.now += 100;
    struct fsm_result r = m_acq(&m, s2, "a", "", 60000, 0, "w");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, t2);
    fsm_events_clear(m.f);
    m_tick(&m, 1000 + GRACE + 1);
    CHECK_EQ(m_nev(&m), 0);
    CHECK_U64(m_info(&m, "a").holder, s2);
    CHECK(fsm_lock_check(m.f, "a", 1, t2));
    m_close(&m);
}

/* A blocking ACQUIRE granted at once names its index; if its client went
 * before the answer, the UNWAIT of that index takes the grant back. A
 * try-lock's grant has no index and is never taken back. */
TEST(fsm_unwait, blocking_grant_at_once_taken_back)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    struct fsm_result r = m_acq(&m, s, "a", "", 1000, 0, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.index, m.idx);
    uint64_t i = r.index;
    fsm_events_clear(m.f);
    r = m_unwait(&m, i, s, "a", "", GRACE, m.idx);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, 1);
    CHECK_U64(m_ev(&m, 0, FSM_EV_WITHDRAWN, s, "a").index, i);
    CHECK(!m_known(&m, "a"));
    r = m_acq(&m, s, "b", "", 0, 0, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.index, 0);
    CHECK_EQ(m_unwait(&m, m.idx, s, "b", "", 0, m.idx).status, FSM_NOTHELD);
    CHECK_U64(m_info(&m, "b").holder, s);
    m_close(&m);
}

/* A client that left, another that repeated the ACQUIRE after the leader
 * saw the first go: the grant that follows is the second's (it learns it
 * by its wait), and the UNWAIT for the first leaves it alone; once the
 * second goes too, the UNWAIT naming its answer takes the grant back. */
TEST(fsm_unwait, grant_after_a_later_repeat_kept)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "w");
    uint64_t seen = fsm_wait_seen(m.f, i); /* the first client goes */
    struct fsm_result r = m_acq(&m, s2, "a", "", 60000, 0, "w");
    CHECK(r.replayed && r.status == FSM_QUEUED);
    uint64_t again = m.idx;
    CHECK_U64(fsm_wait_seen(m.f, i), again);
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK);
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", 0, seen).status, FSM_NOTHELD);
    CHECK_U64(m_info(&m, "a").holder, s2);
    fsm_events_clear(m.f);
    r = m_unwait(&m, i, s2, "a", "w", 0, again);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(m_ev(&m, 0, FSM_EV_WITHDRAWN, s2, "a").index, i);
    CHECK(!m_known(&m, "a"));
    m_close(&m);
}

/* An UNWAIT that names a grant's answer but an ACQUIRE index after that
 * answer, or before the session's opening, is not of that grant: kept. */
TEST(fsm_unwait, grant_with_another_index_kept)
{
    struct m m;
    m_init(&m);
    uint64_t before = m_session(&m), s = m_session(&m);
    uint64_t i = m_acq(&m, s, "a", "", 1000, 0, "w").index;
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_unwait(&m, i + 7, s, "a", "w", 0, i).status, FSM_NOTHELD);
        CHECK_EQ(m_unwait(&m, before, s, "a", "w", 0, i).status, FSM_NOTHELD);
    });
    CHECK_EQ(m_unwait(&m, i, s, "a", "w", 0, i).status, FSM_OK);
    CHECK(!m_known(&m, "a"));
    m_close(&m);
}

/* A grant joined by a reentrant acquire loses only its own hold. */
TEST(fsm_unwait, reentered_grant_loses_one_hold)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "");
    uint64_t seen = m.idx;
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK);
    CHECK_EQ(m_acq(&m, s2, "a", "", 0, 0, "").holds, 2);
    struct fsm_result r = m_unwait(&m, i, s2, "a", "", GRACE, seen);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.holds, 1);
    CHECK_U64(m_info(&m, "a").holder, s2);
    CHECK_EQ(m_unwait(&m, i, s2, "a", "", GRACE, m.idx).status, FSM_NOTHELD);
    m_close(&m);
}

/* UNWAIT 0 (a new leader): waits without a request id end, those with one
 * get the grace; a lease lock's wait ends with its session. */
TEST(fsm_unwait, every_wait)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    uint64_t i2 = held_and_waited(&m, s1, s2, "");
    uint64_t i3 = m_acq(&m, s3, "a", "", 60000, 0, "w3").index;
    struct fsm_result r = m_lease(&m, 3000, "a", 60000, 0, "");
    CHECK_EQ(r.status, FSM_QUEUED);
    uint64_t lease = r.session;
    fsm_events_clear(m.f);
    CHECK_EQ(m_unwait(&m, 0, 0, "", "", GRACE, m.idx).status, FSM_OK);
    CHECK_EQ(m_nev(&m), 2);
    CHECK_U64(m_ev(&m, 0, FSM_EV_TIMEOUT, s2, "a").index, i2);
    CHECK_U64(m_ev(&m, 1, FSM_EV_TIMEOUT, lease, "a").index, lease);
    struct fsm_session_info si;
    CHECK(!fsm_session_info(m.f, lease, &si));
    CHECK_EQ(m_info(&m, "a").waiters, 1);
    CHECK_U64(fsm_next_deadline(m.f), 1000 + GRACE);
    fsm_events_clear(m.f);
    m_tick(&m, 1000 + GRACE);
    CHECK_U64(m_ev(&m, 0, FSM_EV_TIMEOUT, s3, "a").index, i3);
    m_close(&m);
}

/* A lease lock granted to a gone client is taken back with its session. */
TEST(fsm_unwait, lease_lock_grant_taken_back)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m);
    CHECK_EQ(m_acq(&m, s1, "a", "", 0, 0, "").status, FSM_OK);
    struct fsm_result r = m_lease(&m, 3000, "a", 60000, 0, "lw");
    CHECK_EQ(r.status, FSM_QUEUED);
    uint64_t lease = r.session;
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK);
    CHECK_U64(m_info(&m, "a").holder, lease);
    fsm_events_clear(m.f);
    r = m_unwait(&m, lease, lease, "a", "lw", 0, lease);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(m_nev(&m), 1);
    CHECK_EQ(m_ev(&m, 0, FSM_EV_WITHDRAWN, lease, "a").type, FSM_EV_WITHDRAWN);
    struct fsm_session_info si;
    CHECK(!fsm_session_info(m.f, lease, &si));
    CHECK(!m_known(&m, "a"));
    r = m_lease(&m, 3000, "a", 60000, 0, "lw");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_TIMEOUT);
    m_close(&m);
}

/* Malformed: a grace over FSM_WAIT_MAX, or a wait named without a lock. */
TEST(fsm_unwait, invalid)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "w");
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_unwait(&m, i, s2, "a", "w", FSM_WAIT_MAX + 1, m.idx).status,
                 FSM_INVALID);
        CHECK_EQ(m_unwait(&m, i, s2, "", "w", 0, m.idx).status, FSM_INVALID);
        CHECK_EQ(m_unwait(&m, i, s1, "a", "w", 0, m.idx).status, FSM_NOTHELD);
    });
    m_close(&m);
}

/* A state with a gone waiter, an unclaimed grant, a claim and a repeated
 * wait: its snapshot restores to a machine that writes the same bytes and
 * does the same: the claim takes its grant back at its time. */
TEST(fsm_unwait, snapshot_keeps_grants_and_claims)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m), s3 = m_session(&m);
    uint64_t i = held_and_waited(&m, s1, s2, "w");
    CHECK_EQ(m_acq(&m, s3, "a", "", 60000, 0, "w3").status, FSM_QUEUED);
    CHECK_EQ(m_unwait(&m, i, s2, "a", "w", GRACE, m.idx).status, FSM_OK);
    CHECK_EQ(m_acq(&m, s3, "b", "", 5000, 0, "").status, FSM_OK); /* grant */
    uint64_t ib = m.idx;
    m.now += 10;
    CHECK_EQ(m_acq(&m, s3, "a", "", 60000, 0, "w3").status, FSM_QUEUED);
    CHECK_EQ(m_rel(&m, s1, "a", "", "").status, FSM_OK); /* claim for s2 */
    size_t len, len2;
    uint8_t *snap = m_snap(&m, &len);
    struct m r;
    m_init(&r);
    CHECK_EQ(fsm_restore(r.f, snap, len), 0);
    m_ok(&r);
    r.idx = m.idx;
    r.now = m.now;
    uint8_t *again = m_snap(&r, &len2);
    CHECK(len2 == len && memcmp(again, snap, len) == 0);
    /* The grant of "b" is still known to be unclaimed. */
    CHECK_U64(m_unwait(&r, ib, s3, "b", "", 0, ib).token, 1 + 1);
    fsm_events_clear(r.f);
    m_tick(&r, 1000 + GRACE);
    CHECK_EQ(m_ev(&r, 0, FSM_EV_WITHDRAWN, s2, "a").index, i);
    CHECK_U64(m_ev(&r, 1, FSM_EV_GRANTED, s3, "a").session, s3);
    free(snap);
    free(again);
    m_close(&r);
    m_close(&m);
}

/* Little-endian writers for the version 1 snapshot below. */
static uint8_t *put(uint8_t *p, uint64_t v, int n)
{
    for (int k = 0; k < n; k++)
        p[k] = (uint8_t)(v >> (8 * k));
    return p + n;
}

static uint8_t *put_s(uint8_t *p, const char *s, int lenbytes)
{
    size_t n = strlen(s);
    p = put(p, n, lenbytes);
    memcpy(p, s, n);
    return p + n;
}

/* A version 1 snapshot (before grants, gone waiters and claims) restores:
 * nothing taken back, the waiter as fresh; written again as version 3. */
TEST(fsm_unwait, version_1_snapshot_restores)
{
    uint8_t buf[512], *p = buf;
    p = put(p, 0x4d534c44u, 4);
    p = put(p, 1, 4);    /* version 1 */
    p = put(p, 10, 8);   /* applied */
    p = put(p, 5000, 8); /* clock */
    p = put(p, 1, 8);    /* last token */
    p = put(p, 2, 4);    /* sessions: 3 and 4 */
    for (uint64_t id = 3; id <= 4; id++) {
        p = put(p, id, 8);
        p = put(p, 10000, 8);
        p = put(p, 0, 1);
        p = put_s(p, "", 1);
        p = put(p, 0, 2);
    }
    p = put(p, 1, 4); /* held: "a" by 3 */
    p = put(p, 3, 8);
    p = put_s(p, "a", 2);
    p = put_s(p, "", 1);
    p = put(p, 1, 8); /* token */
    p = put(p, 1, 4); /* holds */
    p = put(p, 0, 4); /* delay */
    p = put(p, 1, 4); /* its waiter: 4, at index 6 */
    p = put(p, 4, 8);
    p = put(p, 6, 8);
    p = put(p, 65000, 8); /* deadline */
    p = put(p, 0, 4);
    p = put_s(p, "", 1);
    p = put_s(p, "w", 1);
    p = put(p, 0, 4); /* free */
    p = put(p, 0, 4); /* global */
    p = put(p, 0, 4); /* closes */
    struct m m;
    m_init(&m);
    CHECK_EQ(fsm_restore(m.f, buf, (size_t)(p - buf)), 0);
    m_ok(&m);
    m.idx = 10;
    m.now = 5000;
    CHECK_EQ(m_unwait(&m, 6, 4, "a", "", 0, 5).status, FSM_NOTHELD);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, 3, "a", "", "").status, FSM_OK);
    CHECK_U64(m_ev(&m, 0, FSM_EV_GRANTED, 4, "a").index, 6);
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    CHECK_EQ(le_get32(snap + 4), 5);
    free(snap);
    m_close(&m);
}

/* A version 2 snapshot kept outcomes by type and id: one id of a session
 * under two types restores as one request, the later (its arguments not
 * known: any of the same type match); written again as version 3. */
TEST(fsm_unwait, version_2_snapshot_one_id_two_types)
{
    uint8_t buf[256], *p = buf;
    p = put(p, 0x4d534c44u, 4);
    p = put(p, 2, 4);    /* version 2 */
    p = put(p, 10, 8);   /* applied */
    p = put(p, 5000, 8); /* clock */
    p = put(p, 1, 8);    /* last token */
    p = put(p, 1, 4);    /* sessions: 3 */
    p = put(p, 3, 8);
    p = put(p, 10000, 8);
    p = put(p, 0, 1);
    p = put_s(p, "", 1);
    p = put(p, 2, 2);           /* outcomes: */
    p = put(p, FSM_SET_TTL, 1); /* SET_TTL x: OK */
    p = put(p, FSM_OK, 1);
    p = put(p, 0, 4);
    p = put(p, 10000, 8);
    p = put_s(p, "x", 1);
    p = put(p, FSM_RELEASE, 1); /* RELEASE x: NOTHELD */
    p = put(p, FSM_NOTHELD, 1);
    p = put(p, 0, 4);
    p = put(p, 0, 8);
    p = put_s(p, "x", 1);
    p = put(p, 0, 4); /* held */
    p = put(p, 0, 4); /* free */
    p = put(p, 0, 4); /* global */
    p = put(p, 0, 4); /* closes */
    p = put(p, 0, 4); /* claims */
    struct m m;
    m_init(&m);
    CHECK_EQ(fsm_restore(m.f, buf, (size_t)(p - buf)), 0);
    m_ok(&m);
    m.idx = 10;
    m.now = 5000;
    struct fsm_result r = m_rel(&m, 3, "b", "w", "x");
    CHECK(r.replayed);
    CHECK_EQ(r.status, FSM_NOTHELD);
    r = m_set_ttl(&m, 3, 10000, "x");
    CHECK_EQ(r.status, FSM_REQ_REUSED);
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    CHECK_EQ(le_get32(snap + 4), 5);
    struct m m2;
    m_init(&m2);
    CHECK_EQ(fsm_restore(m2.f, snap, len), 0);
    m2.idx = m.idx;
    m2.now = 5000;
    CHECK(m_rel(&m2, 3, "c", "", "x").replayed); /* still not known */
    free(snap);
    m_close(&m2);
    m_close(&m);
}

/* Version 3 keeps each outcome's type and fingerprint: after a restore an
 * id reused with other arguments is still refused, and the snapshot
 * written again is the same. */
TEST(fsm_unwait, version_3_snapshot_keeps_fingerprints)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    struct fsm_result g = m_acq(&m, s, "a", "w1", 0, 0, "x");
    m_open(&m, 5000, "o");
    size_t len, len2;
    uint8_t *snap = m_snap(&m, &len);
    CHECK_EQ(le_get32(snap + 4), 5);
    struct m m2;
    m_init(&m2);
    CHECK_EQ(fsm_restore(m2.f, snap, len), 0);
    uint8_t *snap2 = m_snap(&m2, &len2);
    CHECK(len2 == len && memcmp(snap, snap2, len) == 0);
    m2.idx = m.idx;
    m2.now = m.now;
    CHECK_EQ(m_acq(&m2, s, "b", "w1", 0, 0, "x").status, FSM_REQ_REUSED);
    CHECK_EQ(m_rel(&m2, s, "a", "w1", "x").status, FSM_REQ_REUSED);
    CHECK_EQ(m_open(&m2, 6000, "o").status, FSM_REQ_REUSED);
    struct fsm_result r = m_acq(&m2, s, "a", "w1", 0, 0, "x");
    CHECK(r.replayed);
    CHECK_U64(r.token, g.token);
    CHECK(m_open(&m2, 5000, "o").replayed);
    free(snap);
    free(snap2);
    m_close(&m2);
    m_close(&m);
}
