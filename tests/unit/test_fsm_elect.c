/* test_fsm_elect.c - elections (docs/design.md §11.3): one leader with
 * the value it proclaims, candidates elected in FIFO order, leadership
 * ended by resigning or by the session's end (after its lock-delay when
 * it expired), the leader's token as its fence, names of one kind only,
 * retries and snapshots. */
#include "fsm_test.h"

static struct fsm_result m_campaign(struct m *m, uint64_t s, const char *name,
                                    const char *value, uint64_t wait,
                                    const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_CAMPAIGN, name, "", req);
    c.session = s;
    c.value = value;
    c.value_len = (uint32_t)strlen(value);
    c.wait = wait;
    c.delay = 500;
    return m_cmd(m, c);
}

static struct fsm_result m_proclaim(struct m *m, uint64_t s, const char *name,
                                    uint64_t token, const char *value,
                                    const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_PROCLAIM, name, NULL, req);
    c.session = s;
    c.token = token;
    c.value = value;
    c.value_len = (uint32_t)strlen(value);
    return m_cmd(m, c);
}

static struct fsm_result m_resign(struct m *m, uint64_t s, const char *name,
                                  const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_RESIGN, name, "", req);
    c.session = s;
    return m_cmd(m, c);
}

/* The election's leader and value, as "session=value" ("0=" without). */
static const char *leader_of(struct m *m, const char *name)
{
    static char out[2048];
    struct fsm_lock_info li;
    if (!fsm_lock_info(m->f, name, (uint32_t)strlen(name), &li))
        return "unknown";
    snprintf(out, sizeof out, "%llu=%.*s", (unsigned long long)li.holder,
             (int)li.value_len, li.value);
    return out;
}

#define CHECK_LEADER(m, name, want)                                            \
    CHECK_MSG(strcmp(leader_of(m, name), want) == 0, "leader %s, want %s",     \
              leader_of(m, name), want)

/* The first candidate leads with its value; the others wait in order; the
 * leader proclaims with its token (not with another); resigning hands
 * leadership to the next candidate, with that one's value. */
TEST(fsm_elect, campaign_proclaim_resign)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m), c = m_session(&m);
    struct fsm_result ra = m_campaign(&m, a, "db-primary", "10.0.0.1", 0, "");
    CHECK_EQ(ra.status, FSM_OK);
    CHECK_LEADER(&m, "db-primary", "1=10.0.0.1");
    CHECK_EQ(m_info(&m, "db-primary").kind, FSM_KIND_ELECTION);
    CHECK_EQ(m_campaign(&m, b, "db-primary", "10.0.0.2", 0, "").status,
             FSM_HELD);
    CHECK_EQ(m_campaign(&m, b, "db-primary", "10.0.0.2", 9000, "").status,
             FSM_QUEUED);
    CHECK_EQ(m_campaign(&m, c, "db-primary", "10.0.0.3", 9000, "").status,
             FSM_QUEUED);
    /* Campaigning again while leading changes nothing. */
    CHECK_UNCHANGED(&m, {
        struct fsm_result again =
            m_campaign(&m, a, "db-primary", "other", 0, "");
        CHECK_EQ(again.status, FSM_OK);
        CHECK_U64(again.token, ra.token);
        CHECK_EQ(m_proclaim(&m, a, "db-primary", ra.token + 7, "x", "").status,
                 FSM_NOTHELD);
        CHECK_EQ(m_proclaim(&m, b, "db-primary", ra.token, "x", "").status,
                 FSM_NOTHELD);
    });
    struct fsm_result p =
        m_proclaim(&m, a, "db-primary", ra.token, "10.0.0.1:5433", "p-1");
    CHECK_EQ(p.status, FSM_OK);
    CHECK_LEADER(&m, "db-primary", "1=10.0.0.1:5433");
    CHECK_UNCHANGED(&m, CHECK(m_proclaim(&m, a, "db-primary", ra.token,
                                         "10.0.0.1:5433", "p-1")
                                  .replayed));
    fsm_events_clear(m.f);
    CHECK_EQ(m_resign(&m, a, "db-primary", "").status, FSM_OK);
    struct fsm_event g = m_ev(&m, 0, FSM_EV_GRANTED, b, "db-primary");
    CHECK(g.token > ra.token);
    CHECK_LEADER(&m, "db-primary", "2=10.0.0.2");
    CHECK_EQ(m_resign(&m, a, "db-primary", "").status, FSM_NOTHELD);
    m_close(&m);
}

/* A leader whose session expires loses leadership (LOST), the election has
 * no leader and no value for the lock-delay, and then the next candidate
 * leads. */
TEST(fsm_elect, leader_expires)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m);
    CHECK_EQ(m_campaign(&m, a, "e", "a", 0, "").status, FSM_OK);
    CHECK_EQ(m_campaign(&m, b, "e", "b", 9000, "").status, FSM_QUEUED);
    fsm_events_clear(m.f);
    CHECK_EQ(m_expire(&m, a).status, FSM_OK);
    m_ev(&m, 0, FSM_EV_LOST, a, "e");
    CHECK_LEADER(&m, "e", "0=");
    fsm_events_clear(m.f);
    m_tick(&m, m.now + 500);
    m_ev(&m, 0, FSM_EV_GRANTED, b, "e");
    CHECK_LEADER(&m, "e", "2=b");
    m_close(&m);
}

/* An election's name is no lock's or semaphore's; a value over its limit
 * is invalid; an election nobody leads or waits for is forgotten. */
TEST(fsm_elect, one_kind_and_limits)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_session(&m);
    CHECK_EQ(m_campaign(&m, s, "k", "v", 0, "").status, FSM_OK);
    CHECK_UNCHANGED(&m, {
        struct fsm_result r = m_acq(&m, s, "k", "", 0, DEFAULT_DELAY, "");
        CHECK_EQ(r.status, FSM_KIND);
        CHECK_EQ(r.kind, FSM_KIND_ELECTION);
        CHECK_EQ(m_rel(&m, s, "k", "", "").status, FSM_KIND);
    });
    CHECK_EQ(m_acq(&m, s, "lock", "", 0, DEFAULT_DELAY, "").status, FSM_OK);
    CHECK_UNCHANGED(&m, {
        struct fsm_result r = m_campaign(&m, s, "lock", "v", 0, "");
        CHECK_EQ(r.status, FSM_KIND);
        CHECK_EQ(r.kind, FSM_KIND_LOCK);
    });
    static char big[FSM_VALUE_MAX + 2];
    memset(big, 'x', FSM_VALUE_MAX);
    CHECK_EQ(m_campaign(&m, s, "big", big, 0, "").status, FSM_OK);
    CHECK_EQ(m_info(&m, "big").value_len, FSM_VALUE_MAX);
    CHECK_EQ(m_resign(&m, s, "k", "").status, FSM_OK);
    CHECK(!m_known(&m, "k"));
    m_close(&m);
}

/* Snapshots keep the leader, its value and the candidates' values. */
TEST(fsm_elect, snapshot_round_trip)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m);
    CHECK_EQ(m_campaign(&m, a, "s", "first", 0, "").status, FSM_OK);
    CHECK_EQ(m_campaign(&m, b, "s", "second", 9000, "c-1").status, FSM_QUEUED);
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
    CHECK_LEADER(&n, "s", "1=first");
    struct m *both[2] = {&m, &n};
    for (int i = 0; i < 2; i++) {
        fsm_events_clear(both[i]->f);
        CHECK_EQ(m_resign(both[i], a, "s", "").status, FSM_OK);
        m_ev(both[i], 0, FSM_EV_GRANTED, b, "s");
        CHECK_LEADER(both[i], "s", "2=second");
    }
    same_events(m.f, n.f);
    free(snap);
    free(snap2);
    m_close(&m);
    m_close(&n);
}

/* A remembered PROCLAIM survives a snapshot (its outcome has no holds). */
TEST(fsm_elect, proclaim_outcome_in_a_snapshot)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m);
    struct fsm_result r = m_campaign(&m, a, "p", "v1", 0, "");
    CHECK_EQ(m_proclaim(&m, a, "p", r.token, "v2", "pr-1").status, FSM_OK);
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    struct fsm *f = fsm_new();
    CHECK_EQ(fsm_restore(f, snap, len), 0);
    fsm_free(f);
    free(snap);
    m_close(&m);
}
