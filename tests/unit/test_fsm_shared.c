/* test_fsm_shared.c - shared and exclusive modes on one lock
 * (docs/design.md §11.3): readers together, a queued writer holding back
 * later readers, reentry per mode, UPGRADE refused, DOWNGRADE in place,
 * lock-delay, grants taken back, retries and snapshots of all of it. */
#include "fsm_test.h"

#include "common/le.h"

static struct fsm_result m_acq_sh(struct m *m, uint64_t s, const char *name,
                                  const char *owner, uint64_t wait,
                                  const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE_SHARED, name, owner, req);
    c.session = s;
    c.wait = wait;
    c.delay = DEFAULT_DELAY;
    return m_cmd(m, c);
}

static struct fsm_result m_rel_sh(struct m *m, uint64_t s, const char *name,
                                  const char *owner, const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_RELEASE_SHARED, name, owner, req);
    c.session = s;
    return m_cmd(m, c);
}

static struct fsm_result m_down(struct m *m, uint64_t s, const char *name,
                                const char *owner, const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_DOWNGRADE, name, owner, req);
    c.session = s;
    return m_cmd(m, c);
}

/* The holds of name, by (session, owner), as "session:excl+shared/token"
 * joined by spaces. */
struct holds_text {
    char s[512];
    size_t len;
};

static bool add_hold(void *arg, const struct fsm_hold_info *h)
{
    struct holds_text *t = arg;
    t->len += (size_t)snprintf(
        t->s + t->len, sizeof t->s - t->len, "%s%llu%s%.*s:%u+%u/%llu",
        t->len ? " " : "", (unsigned long long)h->session,
        h->owner_len ? "." : "", (int)h->owner_len, h->owner, h->exclusive,
        h->shared, (unsigned long long)h->token);
    return true;
}

static const char *holds_of(struct m *m, const char *name)
{
    static struct holds_text t;
    t.len = 0;
    t.s[0] = '\0';
    fsm_lock_holds(m->f, name, (uint32_t)strlen(name), 0, add_hold, &t);
    return t.s;
}

static bool add_waiter(void *arg, const struct fsm_waiter_info *w)
{
    struct holds_text *t = arg;
    t->len += (size_t)snprintf(
        t->s + t->len, sizeof t->s - t->len, "%s%llu%c", t->len ? " " : "",
        (unsigned long long)w->session, w->shared ? 'r' : 'w');
    return true;
}

static const char *waiters_of(struct m *m, const char *name)
{
    static struct holds_text t;
    t.len = 0;
    t.s[0] = '\0';
    fsm_lock_waiters(m->f, name, (uint32_t)strlen(name), add_waiter, &t);
    return t.s;
}

#define CHECK_TEXT(got, want)                                                  \
    CHECK_MSG(strcmp((got), (want)) == 0, "got '%s', want '%s'", (got), (want))

/* Readers share; a writer's try is HELD; a queued writer holds back the
 * readers that come after it; the readers' releases grant the writer, and
 * its release the readers behind it, together. Every token is new and
 * above the ones before. */
TEST(fsm_shared, readers_share_a_writer_waits_in_order)
{
    struct m m;
    m_init(&m);
    uint64_t r1 = m_session(&m), r2 = m_session(&m), w = m_session(&m),
             r3 = m_session(&m), r4 = m_session(&m);
    struct fsm_result a = m_acq_sh(&m, r1, "db", "", 0, "");
    struct fsm_result b = m_acq_sh(&m, r2, "db", "", 0, "");
    CHECK_EQ(a.status, FSM_OK);
    CHECK_EQ(b.status, FSM_OK);
    CHECK(b.token > a.token);
    struct fsm_lock_info li = m_info(&m, "db");
    CHECK_EQ(li.mode, FSM_MODE_SHARED);
    CHECK_EQ(li.holders, 2);
    CHECK_U64(li.holder, r1);
    struct fsm_result t = m_acq(&m, w, "db", "", 0, DEFAULT_DELAY, "");
    CHECK_EQ(t.status, FSM_HELD);
    CHECK_U64(t.holder, r1);
    CHECK_EQ(m_acq(&m, w, "db", "", 5000, DEFAULT_DELAY, "").status,
             FSM_QUEUED);
    /* A reader after the queued writer waits; a try is HELD. */
    CHECK_EQ(m_acq_sh(&m, r3, "db", "", 0, "").status, FSM_HELD);
    CHECK_EQ(m_acq_sh(&m, r3, "db", "", 5000, "").status, FSM_QUEUED);
    CHECK_EQ(m_acq_sh(&m, r4, "db", "", 5000, "").status, FSM_QUEUED);
    CHECK_TEXT(waiters_of(&m, "db"), "3w 4r 5r");
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel_sh(&m, r1, "db", "", "").holds, 0);
    CHECK_EQ(m_nev(&m), 0);
    CHECK_EQ(m_rel_sh(&m, r2, "db", "", "").holds, 0);
    struct fsm_event g = m_ev(&m, 0, FSM_EV_GRANTED, w, "db");
    CHECK(g.token > b.token); /* a writer's token is above every reader's */
    CHECK_EQ(m_nev(&m), 1);
    CHECK_EQ(m_info(&m, "db").mode, FSM_MODE_EXCLUSIVE);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, w, "db", "", "").holds, 0);
    struct fsm_event g3 = m_ev(&m, 0, FSM_EV_GRANTED, r3, "db");
    struct fsm_event g4 = m_ev(&m, 1, FSM_EV_GRANTED, r4, "db");
    CHECK(g3.token > g.token && g4.token > g3.token);
    CHECK_TEXT(holds_of(&m, "db"), "4:0+1/4 5:0+1/5");
    CHECK(fsm_lock_check(m.f, "db", 2, g3.token));
    CHECK(fsm_lock_check(m.f, "db", 2, g4.token));
    CHECK(!fsm_lock_check(m.f, "db", 2, g.token));
    m_close(&m);
}

/* Readers at the head are granted together, up to the first writer. */
TEST(fsm_shared, head_readers_granted_up_to_a_writer)
{
    struct m m;
    m_init(&m);
    uint64_t w = m_session(&m), a = m_session(&m), b = m_session(&m),
             w2 = m_session(&m), c = m_session(&m);
    CHECK_EQ(m_acq(&m, w, "x", "", 0, DEFAULT_DELAY, "").status, FSM_OK);
    CHECK_EQ(m_acq_sh(&m, a, "x", "", 9000, "").status, FSM_QUEUED);
    CHECK_EQ(m_acq_sh(&m, b, "x", "", 9000, "").status, FSM_QUEUED);
    CHECK_EQ(m_acq(&m, w2, "x", "", 9000, DEFAULT_DELAY, "").status,
             FSM_QUEUED);
    CHECK_EQ(m_acq_sh(&m, c, "x", "", 9000, "").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, w, "x", "", "").status, FSM_OK);
    CHECK_EQ(m_nev(&m), 2);
    m_ev(&m, 0, FSM_EV_GRANTED, a, "x");
    m_ev(&m, 1, FSM_EV_GRANTED, b, "x");
    CHECK_TEXT(waiters_of(&m, "x"), "4w 5r");
    m_close(&m);
}

/* Reentry counts each mode apart and keeps the token; an exclusive request
 * on a shared hold is UPGRADE and changes nothing; a writer may read. */
TEST(fsm_shared, reentry_per_mode_and_no_upgrade)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m), t = m_session(&m);
    struct fsm_result a = m_acq_sh(&m, s, "f", "o", 0, "");
    struct fsm_result b = m_acq_sh(&m, s, "f", "o", 0, "");
    CHECK_EQ(b.status, FSM_OK);
    CHECK_U64(b.token, a.token);
    CHECK_EQ(b.holds, 2);
    CHECK_UNCHANGED(&m, {
        struct fsm_result u = m_acq(&m, s, "f", "o", 0, DEFAULT_DELAY, "up-1");
        CHECK_EQ(u.status, FSM_UPGRADE);
        u = m_acq(&m, s, "f", "o", 5000, DEFAULT_DELAY, "up-2");
        CHECK_EQ(u.status, FSM_UPGRADE); /* never a wait */
    });
    /* Another owner of the same session is another hold. */
    CHECK_EQ(m_acq_sh(&m, s, "f", "p", 0, "").status, FSM_OK);
    CHECK_TEXT(holds_of(&m, "f"), "1.o:0+2/1 1.p:0+1/2");
    CHECK_EQ(m_rel(&m, s, "f", "o", "").status, FSM_NOTHELD);
    CHECK_EQ(m_rel_sh(&m, s, "f", "o", "").holds, 1);
    CHECK_EQ(m_rel_sh(&m, s, "f", "o", "").holds, 0);
    CHECK_EQ(m_rel_sh(&m, s, "f", "o", "").status, FSM_NOTHELD);
    CHECK_EQ(m_rel_sh(&m, s, "f", "p", "").holds, 0);
    CHECK(!m_known(&m, "f"));
    /* A writer reads: a shared hold joins its exclusive one. Releasing the
     * exclusive hold leaves it shared, and a reader waiting gets in. */
    struct fsm_result w = m_acq(&m, s, "g", "", 0, DEFAULT_DELAY, "");
    CHECK_EQ(m_acq_sh(&m, t, "g", "", 9000, "").status, FSM_QUEUED);
    struct fsm_result r = m_acq_sh(&m, s, "g", "", 0, "");
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.token, w.token);
    CHECK_EQ(r.holds, 2);
    CHECK_EQ(m_info(&m, "g").mode, FSM_MODE_EXCLUSIVE);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, s, "g", "", "").holds, 1);
    m_ev(&m, 0, FSM_EV_GRANTED, t, "g");
    CHECK_EQ(m_info(&m, "g").mode, FSM_MODE_SHARED);
    CHECK_EQ(m_info(&m, "g").holders, 2);
    m_close(&m);
}

/* DOWNGRADE turns the exclusive holds into shared ones in place, with the
 * same token, and the readers at the head come in with it; the writer
 * queued behind them stays. */
TEST(fsm_shared, downgrade_in_place)
{
    struct m m;
    m_init(&m);
    uint64_t w = m_session(&m), a = m_session(&m), w2 = m_session(&m),
             b = m_session(&m);
    struct fsm_result g = m_acq(&m, w, "d", "", 0, DEFAULT_DELAY, "");
    CHECK_EQ(m_acq(&m, w, "d", "", 0, DEFAULT_DELAY, "").holds, 2);
    CHECK_EQ(m_acq_sh(&m, a, "d", "", 9000, "").status, FSM_QUEUED);
    CHECK_EQ(m_acq(&m, w2, "d", "", 9000, DEFAULT_DELAY, "").status,
             FSM_QUEUED);
    CHECK_EQ(m_acq_sh(&m, b, "d", "", 9000, "").status, FSM_QUEUED);
    CHECK_EQ(m_down(&m, a, "d", "", "").status, FSM_NOTHELD);
    fsm_events_clear(m.f);
    struct fsm_result d = m_down(&m, w, "d", "", "dn-1");
    CHECK_EQ(d.status, FSM_OK);
    CHECK_U64(d.token, g.token);
    CHECK_EQ(d.holds, 2);
    CHECK_EQ(m_nev(&m), 1);
    m_ev(&m, 0, FSM_EV_GRANTED, a, "d");
    CHECK_TEXT(holds_of(&m, "d"), "1:0+2/1 2:0+1/2");
    CHECK_TEXT(waiters_of(&m, "d"), "3w 4r");
    /* A retry answers the same, and does nothing more. */
    CHECK_UNCHANGED(&m, {
        struct fsm_result again = m_down(&m, w, "d", "", "dn-1");
        CHECK(again.replayed);
        CHECK_EQ(again.status, FSM_OK);
        CHECK_U64(again.token, g.token);
    });
    /* Nothing exclusive is left to downgrade. */
    CHECK_EQ(m_down(&m, w, "d", "", "").status, FSM_NOTHELD);
    m_close(&m);
}

/* A reader whose session expires takes the lock into its lock-delay: the
 * other readers keep it, nothing new is granted in either mode until the
 * delay ends, and then the head of the queue is. */
TEST(fsm_shared, expired_reader_delays_both_modes)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m), c = m_session(&m),
             w = m_session(&m);
    CHECK_EQ(m_acq_sh(&m, a, "e", "", 0, "").status, FSM_OK);
    CHECK_EQ(m_acq_sh(&m, b, "e", "", 0, "").status, FSM_OK);
    fsm_events_clear(m.f);
    CHECK_EQ(m_expire(&m, a).status, FSM_OK);
    m_ev(&m, 0, FSM_EV_LOST, a, "e");
    struct fsm_lock_info li = m_info(&m, "e");
    CHECK_EQ(li.holders, 1);
    CHECK_U64(li.available_at, m.now + 1000);
    CHECK_EQ(m_acq_sh(&m, c, "e", "", 0, "").status, FSM_HELD);
    CHECK_EQ(m_acq_sh(&m, c, "e", "", 9000, "").status, FSM_QUEUED);
    CHECK_EQ(m_acq(&m, w, "e", "", 9000, DEFAULT_DELAY, "").status, FSM_QUEUED);
    /* b's release leaves the lock free in its delay, with waiters. */
    CHECK_EQ(m_rel_sh(&m, b, "e", "", "").holds, 0);
    CHECK_EQ(m_info(&m, "e").mode, FSM_MODE_NONE);
    fsm_events_clear(m.f);
    m_tick(&m, m.now + 999);
    CHECK_EQ(m_nev(&m), 0);
    m_tick(&m, m.now + 1);
    CHECK_EQ(m_nev(&m), 1);
    m_ev(&m, 0, FSM_EV_GRANTED, c, "e");
    CHECK_TEXT(waiters_of(&m, "e"), "4w");
    m_close(&m);
}

/* A writer at the head whose wait ends lets the readers behind it in. */
TEST(fsm_shared, writer_timeout_lets_readers_in)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), w = m_session(&m), b = m_session(&m);
    CHECK_EQ(m_acq_sh(&m, a, "t", "", 0, "").status, FSM_OK);
    CHECK_EQ(m_acq(&m, w, "t", "", 100, DEFAULT_DELAY, "").status, FSM_QUEUED);
    CHECK_EQ(m_acq_sh(&m, b, "t", "", 9000, "").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    m_tick(&m, m.now + 100);
    m_ev(&m, 0, FSM_EV_TIMEOUT, w, "t");
    m_ev(&m, 1, FSM_EV_GRANTED, b, "t");
    CHECK_EQ(m_info(&m, "t").holders, 2);
    m_close(&m);
}

/* A shared grant to a client that went away is taken back (the reader's
 * hold goes, and the writer behind it gets the lock). */
TEST(fsm_shared, shared_grant_taken_back)
{
    struct m m;
    m_init(&m);
    uint64_t w = m_session(&m), r = m_session(&m), w2 = m_session(&m);
    CHECK_EQ(m_acq(&m, w, "u", "", 0, DEFAULT_DELAY, "").status, FSM_OK);
    struct fsm_result q = m_acq_sh(&m, r, "u", "", 9000, "");
    CHECK_EQ(q.status, FSM_QUEUED);
    CHECK_EQ(m_acq(&m, w2, "u", "", 9000, DEFAULT_DELAY, "").status,
             FSM_QUEUED);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, w, "u", "", "").status, FSM_OK);
    struct fsm_event g = m_ev(&m, 0, FSM_EV_GRANTED, r, "u");
    fsm_events_clear(m.f);
    /* The reader's client went before it learnt the grant. */
    struct fsm_result u = m_unwait(&m, q.index, r, "u", "", 0, q.index);
    CHECK_EQ(u.status, FSM_OK);
    CHECK_U64(u.token, g.token);
    m_ev(&m, 0, FSM_EV_WITHDRAWN, r, "u");
    m_ev(&m, 1, FSM_EV_GRANTED, w2, "u");
    CHECK_EQ(m_info(&m, "u").mode, FSM_MODE_EXCLUSIVE);
    m_close(&m);
}

/* Retries answer the first outcome per type; an id used for the other mode
 * is REQ_REUSED; a lease lock is exclusive only. */
TEST(fsm_shared, retries_and_lease_locks)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    struct fsm_result a = m_acq_sh(&m, s, "q", "", 0, "r-1");
    CHECK_UNCHANGED(&m, {
        struct fsm_result b = m_acq_sh(&m, s, "q", "", 0, "r-1");
        CHECK(b.replayed);
        CHECK_U64(b.token, a.token);
        CHECK_EQ(m_acq(&m, s, "q", "", 0, DEFAULT_DELAY, "r-1").status,
                 FSM_REQ_REUSED);
    });
    CHECK_EQ(m_rel_sh(&m, s, "q", "", "r-2").holds, 0);
    CHECK_UNCHANGED(&m, {
        CHECK(m_rel_sh(&m, s, "q", "", "r-2").replayed);
        CHECK_EQ(m_rel(&m, s, "q", "", "r-2").status, FSM_REQ_REUSED);
    });
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE_SHARED, "lease", NULL, "");
    c.ttl = 1000;
    c.delay = DEFAULT_DELAY;
    CHECK_UNCHANGED(&m, CHECK_EQ(m_cmd(&m, c).status, FSM_INVALID));
    c = str_cmd(FSM_RELEASE_SHARED, "lease", NULL, "");
    c.token = 1;
    CHECK_UNCHANGED(&m, CHECK_EQ(m_cmd(&m, c).status, FSM_INVALID));
    m_close(&m);
}

/* A second blocking request of a session and owner, queued before its
 * first was granted, joins that hold when its turn comes. */
TEST(fsm_shared, second_queued_request_joins_the_hold)
{
    struct m m;
    m_init(&m);
    uint64_t w = m_session(&m), r = m_session(&m);
    CHECK_EQ(m_acq(&m, w, "j", "", 0, DEFAULT_DELAY, "").status, FSM_OK);
    CHECK_EQ(m_acq_sh(&m, r, "j", "", 9000, "j-1").status, FSM_QUEUED);
    CHECK_EQ(m_acq_sh(&m, r, "j", "", 9000, "j-2").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    CHECK_EQ(m_rel(&m, w, "j", "", "").status, FSM_OK);
    struct fsm_event a = m_ev(&m, 0, FSM_EV_GRANTED, r, "j");
    struct fsm_event b = m_ev(&m, 1, FSM_EV_GRANTED, r, "j");
    CHECK_U64(a.token, b.token);
    CHECK_TEXT(holds_of(&m, "j"), "2:0+2/2");
    /* Both retries learn it, with the holds of both. */
    struct fsm_result x = m_acq_sh(&m, r, "j", "", 9000, "j-2");
    CHECK_EQ(x.status, FSM_OK);
    CHECK_EQ(x.holds, 2);
    m_close(&m);
}

/* Snapshots keep modes, holds, waiters' modes and a lock-delay over held
 * locks; a restored machine goes on alike, and writes the same bytes. */
TEST(fsm_shared, snapshot_round_trip)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m), w = m_session(&m),
             c = m_session(&m);
    CHECK_EQ(m_acq_sh(&m, a, "s", "x", 0, "").status, FSM_OK);
    CHECK_EQ(m_acq_sh(&m, b, "s", "", 0, "").status, FSM_OK);
    CHECK_EQ(m_acq_sh(&m, a, "s", "x", 0, "").status, FSM_OK);
    CHECK_EQ(m_acq(&m, w, "s", "", 9000, DEFAULT_DELAY, "k").status,
             FSM_QUEUED);
    CHECK_EQ(m_acq_sh(&m, c, "s", "", 9000, "").status, FSM_QUEUED);
    CHECK_EQ(m_acq(&m, c, "plain", "", 0, DEFAULT_DELAY, "").status, FSM_OK);
    CHECK_EQ(m_expire(&m, b).status, FSM_OK); /* s in lock-delay, held */
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
    CHECK_TEXT(holds_of(&n, "s"), "1.x:0+2/1");
    CHECK_TEXT(waiters_of(&n, "s"), "3w 4r");
    /* Both go on alike: the reader leaves, the delay ends, the writer. */
    struct m *both[2] = {&m, &n};
    for (int i = 0; i < 2; i++) {
        fsm_events_clear(both[i]->f);
        CHECK_EQ(m_rel_sh(both[i], a, "s", "x", "").holds, 1);
        CHECK_EQ(m_rel_sh(both[i], a, "s", "x", "").holds, 0);
        m_tick(both[i], both[i]->now + 1000);
        m_ev(both[i], 0, FSM_EV_GRANTED, w, "s");
    }
    same_events(m.f, n.f);
    free(snap);
    free(snap2);
    m_close(&m);
    m_close(&n);
}

/* A snapshot that breaks a rule of modes is refused: two holds of one lock
 * where one is exclusive. */
TEST(fsm_shared, restore_refuses_an_exclusive_hold_with_company)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m);
    CHECK_EQ(m_acq_sh(&m, a, "z", "", 0, "").status, FSM_OK);
    CHECK_EQ(m_acq_sh(&m, b, "z", "", 0, "").status, FSM_OK);
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    /* The first hold's counts, "exclusive 0, shared 1", become "1, 0":
     * find them after the first hold's token (1). */
    size_t at = 0;
    for (size_t i = 0; i + 16 <= len; i++) {
        if (le_get64(snap + i) == 1 && le_get32(snap + i + 8) == 0 &&
            le_get32(snap + i + 12) == 1) {
            at = i + 8;
            break;
        }
    }
    CHECK(at != 0);
    le_put32(snap + at, 1);
    le_put32(snap + at + 4, 0);
    struct fsm *f = fsm_new();
    CHECK_EQ(fsm_restore(f, snap, len), -1);
    fsm_free(f);
    free(snap);
    m_close(&m);
}
