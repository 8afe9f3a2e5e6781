/* test_fsm_snapshot.c - the lock state machine's snapshots: a restored
 * state writes back the same bytes and keeps its rules, and fsm_restore
 * refuses every damaged snapshot without touching the state (or accepts a
 * damaged one only if it is a valid, canonical snapshot in its own right). */
#include "fsm_gen.h"
#include "fsm_test.h"

/* A machine in a varied state: seed's random commands. */
static struct fsm *random_machine(uint64_t seed, uint64_t steps)
{
    uint8_t buf[1024];
    struct gen g;
    gen_init(&g, seed);
    g.modes = seed % 2 == 1;
    struct fsm *f = fsm_new();
    for (uint64_t idx = 1; idx <= steps; idx++) {
        struct fsm_cmd c;
        struct fsm_result res;
        gen_next(&g, f, &c);
        size_t n = fsm_cmd_encode(&c, buf, sizeof buf);
        CHECK(n > 0 && n <= sizeof buf);
        fsm_apply(f, idx, buf, n, &res);
        size_t n_ev;
        const struct fsm_event *ev = fsm_events(f, &n_ev);
        gen_feed(&g, &c, &res, ev, n_ev);
        fsm_events_clear(f);
    }
    return f;
}

static uint8_t *snap_of(const struct fsm *f, size_t *len)
{
    uint8_t *buf;
    CHECK_EQ(fsm_snapshot(f, &buf, len), 0);
    return buf;
}

/* A heap copy of exactly len bytes, so that the sanitizers see any read
 * past it. */
static uint8_t *copy_of(const uint8_t *p, size_t len)
{
    uint8_t *q = malloc(len ? len : 1);
    CHECK(q != NULL);
    if (len > 0)
        memcpy(q, p, len);
    return q;
}

/* Restoring a snapshot gives a machine that passes fsm_check, reports the
 * same reads and stats, and writes the same bytes. */
TEST(fsm_snapshot, round_trip)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct fsm *a = random_machine(seed, 400 * seed);
        size_t la, lb;
        uint8_t *sa = snap_of(a, &la);
        struct fsm *b = fsm_new();
        CHECK_EQ(fsm_restore(b, sa, la), 0);
        uint8_t *sb = snap_of(b, &lb);
        CHECK(la == lb && memcmp(sa, sb, la) == 0);
        char why[256];
        CHECK_MSG(fsm_check(b, why, sizeof why), "%s", why);
        struct fsm_stats st_a, st_b;
        fsm_stats(a, &st_a);
        fsm_stats(b, &st_b);
        CHECK_U64(st_a.sessions, st_b.sessions);
        CHECK_U64(st_a.locks, st_b.locks);
        CHECK_U64(st_a.held, st_b.held);
        CHECK_U64(st_a.waiters, st_b.waiters);
        CHECK_U64(fsm_now(a), fsm_now(b));
        CHECK_U64(fsm_applied_index(a), fsm_applied_index(b));
        CHECK_U64(fsm_last_token(a), fsm_last_token(b));
        CHECK_U64(fsm_next_deadline(a), fsm_next_deadline(b));
        free(sa);
        free(sb);
        fsm_free(a);
        fsm_free(b);
    }
}

/* An empty machine round-trips, and restoring it into a busy machine
 * empties that one. */
TEST(fsm_snapshot, empty_replaces_everything)
{
    struct fsm *e = fsm_new(), *busy = random_machine(3, 2000);
    size_t le, lb;
    uint8_t *se = snap_of(e, &le);
    CHECK_EQ(fsm_restore(busy, se, le), 0);
    uint8_t *sb = snap_of(busy, &lb);
    CHECK(le == lb && memcmp(se, sb, le) == 0);
    struct fsm_stats st;
    fsm_stats(busy, &st);
    CHECK_U64(st.sessions + st.locks + st.waiters, 0);
    free(se);
    free(sb);
    fsm_free(e);
    fsm_free(busy);
}

/* Tokens keep increasing across a snapshot: the first grant after a
 * restore is above every token granted before it. */
TEST(fsm_snapshot, tokens_continue)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof name, "l%d", i);
        m_acq(&m, s, name, "", 0, 0, "");
    }
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    struct fsm *b = fsm_new();
    CHECK_EQ(fsm_restore(b, snap, len), 0);
    fsm_free(m.f);
    m.f = b;
    CHECK_U64(m_acq(&m, s, "new", "", 0, 0, "").token, 6);
    free(snap);
    m_close(&m);
}

/* fsm_restore leaves the event list alone: events not yet cleared stay. */
TEST(fsm_snapshot, restore_keeps_events)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    m_acq(&m, s1, "a", "", 0, 0, "");
    m_acq(&m, s2, "a", "", 10, 0, "r");
    m_tick(&m, 2000);
    struct fsm *e = fsm_new();
    size_t le;
    uint8_t *se = snap_of(e, &le);
    CHECK_EQ(fsm_restore(m.f, se, le), 0);
    CHECK_EQ(m_nev(&m), 1);
    struct fsm_event ev = m_ev(&m, 0, FSM_EV_TIMEOUT, s2, "a");
    CHECK(ev_req_is(&ev, "r"));
    free(se);
    fsm_free(e);
    m_close(&m);
}

/* Every proper prefix of a snapshot is refused, and the refused restore
 * leaves the target as it was. */
TEST_TIMEOUT(fsm_snapshot, truncations_refused, 120)
{
    struct fsm *a = random_machine(11, 1500);
    struct fsm *t = random_machine(12, 300);
    size_t la, lt0, lt1;
    uint8_t *sa = snap_of(a, &la);
    uint8_t *st0 = snap_of(t, &lt0);
    for (size_t n = 0; n < la; n++) {
        uint8_t *p = copy_of(sa, n);
        CHECK_MSG(fsm_restore(t, p, n) == -1, "prefix of %zu accepted", n);
        free(p);
    }
    uint8_t *st1 = snap_of(t, &lt1);
    CHECK(lt0 == lt1 && memcmp(st0, st1, lt0) == 0);
    CHECK_EQ(fsm_restore(t, sa, la), 0);
    free(sa);
    free(st0);
    free(st1);
    fsm_free(a);
    fsm_free(t);
}

/* A snapshot with any one byte changed is refused with the target
 * untouched, or, when the change still makes a valid snapshot, restored to
 * a state that passes fsm_check and writes exactly those bytes. */
TEST_TIMEOUT(fsm_snapshot, byte_flips, 300)
{
    static const uint8_t flips[] = {0x01, 0x02, 0x80, 0xff};
    struct fsm *a = random_machine(21, 1200);
    struct fsm *t = fsm_new();
    size_t la, lt0;
    uint8_t *sa = snap_of(a, &la);
    uint8_t *st0 = snap_of(t, &lt0);
    unsigned accepted = 0, refused = 0;
    for (size_t i = 0; i < la; i++) {
        for (size_t k = 0; k < sizeof flips; k++) {
            uint8_t *p = copy_of(sa, la);
            p[i] ^= flips[k];
            if (fsm_restore(t, p, la) != 0) {
                refused++;
                free(p);
                continue;
            }
            accepted++;
            char why[256];
            CHECK_MSG(fsm_check(t, why, sizeof why), "byte %zu: %s", i, why);
            size_t lb;
            uint8_t *sb = snap_of(t, &lb);
            CHECK_MSG(lb == la && memcmp(sb, p, la) == 0,
                      "byte %zu ^ %02x: restored state writes other bytes", i,
                      flips[k]);
            free(sb);
            free(p);
            CHECK_EQ(fsm_restore(t, st0, lt0), 0); /* back to empty */
        }
    }
    /* Many flips break a rule; many others (in a time, a token, a ttl) give
     * another valid state. Both kinds were met. */
    CHECK_MSG(refused > 1000 && accepted > 1000, "%u refused, %u accepted",
              refused, accepted);
    free(sa);
    free(st0);
    fsm_free(a);
    fsm_free(t);
}

/* Snapshots whose every field is in range but whose records are not
 * canonical are refused: sessions out of id order, one session twice, a
 * byte after the end. Built by editing a real snapshot's records. */
TEST(fsm_snapshot, non_canonical_refused)
{
    struct m m;
    m_init(&m);
    uint64_t s1 = m_session(&m), s2 = m_session(&m);
    (void)s1;
    (void)s2;
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    /* Header 32 bytes, u32 count, then two sessions of 8+8+1+1+11+1+2 =
     * 32 bytes each (client "test-client", no user, no outcomes), then the
     * empty held, free, global, closes and claims, and no users (1 + 4).
     * Swap the sessions. */
    CHECK_U64(len, 32 + 4 + 2 * 32 + 4 + 4 + 4 + 4 + 4 + 5);
    uint8_t *bad = copy_of(snap, len);
    memcpy(bad + 36, snap + 36 + 32, 32);
    memcpy(bad + 36 + 32, snap + 36, 32);
    struct fsm *t = fsm_new();
    CHECK_EQ(fsm_restore(t, bad, len), -1);
    CHECK_EQ(fsm_restore(t, snap, len), 0);
    /* The same session twice. */
    memcpy(bad + 36, snap + 36, 32);
    memcpy(bad + 36 + 32, snap + 36, 32);
    CHECK_EQ(fsm_restore(t, bad, len), -1);
    /* A trailing byte. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, snap, len);
    longer[len] = 0;
    CHECK_EQ(fsm_restore(t, longer, len + 1), -1);
    free(longer);
    free(bad);
    free(snap);
    fsm_free(t);
    m_close(&m);
}
