/* test_fsm_leases.c - LEASES (fsm.h): lease locks on several names at once,
 * all or none, known by their owner, as a Redis multi-key lock script
 * takes, extends and releases them (docs/redis-compat.md). */
#include "fsm_test.h"

/* LEASES of op over the names (a NULL-ended list) for owner. */
static struct fsm_result m_leases(struct m *m, uint64_t op, const char *owner,
                                  uint64_t ttl, const char *const *names)
{
    uint8_t data[2048];
    size_t len = 0;
    for (; *names != NULL; names++)
        CHECK(fsm_leases_add(data, sizeof data, &len, *names,
                             (uint32_t)strlen(*names)));
    struct fsm_cmd c = str_cmd(FSM_LEASES, NULL, owner, NULL);
    c.count = op;
    c.ttl = ttl;
    c.data = data;
    c.data_len = (uint32_t)len;
    return m_cmd(m, c);
}

static const char *const abc[] = {"a", "b", "c", NULL};

/* A machine restored from m's snapshot, checked. */
static struct fsm *restored(struct m *m)
{
    size_t len;
    uint8_t *snap = m_snap(m, &len);
    struct fsm *g = fsm_new();
    CHECK_EQ(fsm_restore(g, snap, len), 0);
    free(snap);
    char why[256];
    CHECK_MSG(fsm_check(g, why, sizeof why), "%s", why);
    return g;
}

/* Three names taken by one lease-lock session, each with its own token and
 * the owner; they expire together with it. */
TEST(fsm_leases, take_all)
{
    struct m m;
    m_init(&m);
    struct fsm_result r = m_leases(&m, FSM_LEASES_TAKE, "v1", 5000, abc);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.holds, 3);
    uint64_t s = r.session, last = 0;
    CHECK_U64(s, m.idx);
    for (int i = 0; abc[i] != NULL; i++) {
        struct fsm_lock_info in = m_info(&m, abc[i]);
        CHECK_U64(in.holder, s);
        CHECK(in.owner_len == 2 && memcmp(in.owner, "v1", 2) == 0);
        CHECK(in.token > last);
        last = in.token;
    }
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s, &si) && si.lease_lock);
    CHECK_U64(si.ttl, 5000);
    fsm_events_clear(m.f);
    CHECK_EQ(m_expire(&m, s).status, FSM_OK);
    for (int i = 0; abc[i] != NULL; i++)
        CHECK(!m_known(&m, abc[i])); /* free at once: no lock-delay */
    m_close(&m);
}

/* One name held by another owner: nothing is taken, and the answer names
 * its holder's session. */
TEST(fsm_leases, all_or_none)
{
    struct m m;
    m_init(&m);
    static const char *const b[] = {"b", NULL};
    uint64_t other = m_leases(&m, FSM_LEASES_TAKE, "v2", 5000, b).session;
    CHECK_UNCHANGED(&m, {
        struct fsm_result r = m_leases(&m, FSM_LEASES_TAKE, "v1", 5000, abc);
        CHECK_EQ(r.status, FSM_HELD);
        CHECK_U64(r.holder, other);
    });
    /* A session's hold, a waiter or a lock-delay keeps a name too. */
    uint64_t s = m_session(&m);
    CHECK_EQ(m_acq(&m, s, "c", "v1", 0, 3000, "").status, FSM_OK);
    CHECK_UNCHANGED(&m, CHECK_EQ(m_leases(&m, FSM_LEASES_TAKE, "v1", 5000,
                                          (const char *const[]){"c", NULL})
                                     .status,
                                 FSM_HELD));
    CHECK_EQ(m_expire(&m, s).status, FSM_OK); /* "c" in its lock-delay */
    CHECK_UNCHANGED(&m, CHECK_EQ(m_leases(&m, FSM_LEASES_TAKE, "v1", 5000,
                                          (const char *const[]){"c", NULL})
                                     .status,
                                 FSM_HELD));
    m.now += 3000;
    CHECK_EQ(m_leases(&m, FSM_LEASES_TAKE, "v1", 5000,
                      (const char *const[]){"c", NULL})
                 .status,
             FSM_OK);
    m_close(&m);
}

/* A retry (the names held by the owner already) is OK and starts each
 * lease again; names of the owner and free ones mix; a name listed twice
 * is taken once. */
TEST(fsm_leases, retry_and_mix)
{
    struct m m;
    m_init(&m);
    static const char *const a[] = {"a", NULL};
    uint64_t s1 = m_leases(&m, FSM_LEASES_TAKE, "v1", 5000, a).session;
    uint64_t t1 = m_info(&m, "a").token;
    fsm_events_clear(m.f);
    static const char *const aab[] = {"a", "a", "b", "b", NULL};
    struct fsm_result r = m_leases(&m, FSM_LEASES_TAKE, "v1", 9000, aab);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.holds, 4);
    CHECK_U64(m_info(&m, "a").token, t1);
    CHECK_U64(m_info(&m, "b").holder, r.session);
    size_t n;
    const struct fsm_session_change *ch = fsm_session_changes(m.f, &n);
    CHECK(n >= 2);
    CHECK_U64(ch[0].id, s1); /* a's lease again, with the new TTL */
    CHECK_U64(ch[0].ttl, 9000);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, r.session, &si) && si.locks == 1);
    /* Everything the owner holds already: no new session. */
    r = m_leases(&m, FSM_LEASES_TAKE, "v1", 9000, aab);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_U64(r.session, 0);
    m_close(&m);
}

/* EXTEND: all the owner's, or nothing changes. */
TEST(fsm_leases, extend)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_leases(&m, FSM_LEASES_TAKE, "v1", 5000, abc).session;
    static const char *const abd[] = {"a", "b", "d", NULL};
    CHECK_UNCHANGED(
        &m, CHECK_EQ(m_leases(&m, FSM_LEASES_EXTEND, "v1", 8000, abd).status,
                     FSM_NOTHELD));
    CHECK_UNCHANGED(
        &m, CHECK_EQ(m_leases(&m, FSM_LEASES_EXTEND, "v2", 8000, abc).status,
                     FSM_NOTHELD));
    struct fsm_result r = m_leases(&m, FSM_LEASES_EXTEND, "v1", 8000, abc);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.holds, 3);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s, &si));
    CHECK_U64(si.ttl, 8000);
    m_close(&m);
}

/* RELEASE: the owner's names go, one by one; the session ends with its
 * last, and a waiter gets its name at once. */
TEST(fsm_leases, release)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_leases(&m, FSM_LEASES_TAKE, "v1", 5000, abc).session;
    uint64_t w = m_session(&m);
    CHECK_EQ(m_acq(&m, w, "b", "", 9000, 0, "").status, FSM_QUEUED);
    static const char *const bd[] = {"b", "d", NULL};
    CHECK_UNCHANGED(
        &m, CHECK_EQ(m_leases(&m, FSM_LEASES_RELEASE, "v2", 0, bd).holds, 0));
    fsm_events_clear(m.f);
    struct fsm_result r = m_leases(&m, FSM_LEASES_RELEASE, "v1", 0, bd);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.holds, 1);
    m_ev(&m, 0, FSM_EV_GRANTED, w, "b");
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s, &si) && si.locks == 2);
    /* One of the others by its token, then the last by LEASES. */
    CHECK_EQ(m_rel_token(&m, "a", m_info(&m, "a").token, "").status, FSM_OK);
    CHECK(fsm_session_info(m.f, s, &si));
    r = m_leases(&m, FSM_LEASES_RELEASE, "v1", 0, abc);
    CHECK_EQ(r.holds, 1);
    CHECK(!fsm_session_info(m.f, s, &si));
    m_close(&m);
}

/* A REVOKE of one name, or a take-back of one grant, leaves the session's
 * other names held; a snapshot of a session with several names restores. */
TEST(fsm_leases, revoke_one_and_snapshot)
{
    struct m m;
    m_init(&m);
    uint64_t s = m_leases(&m, FSM_LEASES_TAKE, "v1", 5000, abc).session;
    struct fsm_cmd c = str_cmd(FSM_REVOKE, "b", NULL, NULL);
    c.token = m_info(&m, "b").token;
    c.delay = 0;
    CHECK_EQ(m_cmd(&m, c).status, FSM_OK);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s, &si) && si.locks == 2);
    struct fsm *g = restored(&m);
    CHECK(fsm_session_info(g, s, &si) && si.locks == 2);
    fsm_free(g);
    m_close(&m);
}

/* Bad commands change nothing: no names, an empty name, a bad op or TTL,
 * more than FSM_LEASES_MAX names, trailing bytes. */
TEST(fsm_leases, invalid)
{
    struct m m;
    m_init(&m);
    static const char *const none[] = {NULL};
    m_tick(&m, m.now); /* the clock set: it is part of the state */
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(m_leases(&m, FSM_LEASES_TAKE, "v", 5000, none).status,
                 FSM_INVALID);
        CHECK_EQ(m_leases(&m, 9, "v", 5000, abc).status, FSM_INVALID);
        CHECK_EQ(m_leases(&m, FSM_LEASES_TAKE, "v", 1, abc).status,
                 FSM_INVALID);
        CHECK_EQ(m_leases(&m, FSM_LEASES_EXTEND, "v", 0, abc).status,
                 FSM_INVALID);
    });
    uint8_t data[4096];
    size_t len = 0;
    for (int i = 0; i <= FSM_LEASES_MAX; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i);
        CHECK(fsm_leases_add(data, sizeof data, &len, name,
                             (uint32_t)strlen(name)));
    }
    CHECK(!fsm_leases_add(data, 4, &len, "x", 1));
    CHECK(!fsm_leases_add(data, sizeof data, &len, "", 0));
    struct fsm_cmd c = str_cmd(FSM_LEASES, NULL, "v", NULL);
    c.count = FSM_LEASES_TAKE;
    c.ttl = 5000;
    c.data = data;
    c.data_len = (uint32_t)len;
    CHECK_UNCHANGED(&m, CHECK_EQ(m_cmd(&m, c).status, FSM_INVALID));
    static const uint8_t zero[] = {0, 0};
    static const uint8_t cut[] = {5, 0, 'a'};
    c.data = zero;
    c.data_len = 2;
    CHECK_UNCHANGED(&m, CHECK_EQ(m_cmd(&m, c).status, FSM_INVALID));
    c.data = cut;
    c.data_len = 3;
    CHECK_UNCHANGED(&m, CHECK_EQ(m_cmd(&m, c).status, FSM_INVALID));
    m_close(&m);
}

/* Another user's lease locks with the same owner are not the owner's. */
TEST(fsm_leases, users_apart)
{
    struct m m;
    m_init(&m);
    static const char *const a[] = {"a", NULL};
    CHECK_EQ(m_leases(&m, FSM_LEASES_TAKE, "v1", 5000, a).status, FSM_OK);
    uint8_t data[16];
    size_t len = 0;
    CHECK(fsm_leases_add(data, sizeof data, &len, "a", 1));
    struct fsm_cmd c = str_cmd(FSM_LEASES, NULL, "v1", NULL);
    c.count = FSM_LEASES_RELEASE;
    c.data = data;
    c.data_len = (uint32_t)len;
    c.user = "mallory";
    c.user_len = 7;
    CHECK_UNCHANGED(&m, CHECK_EQ(m_cmd(&m, c).holds, 0));
    c.count = FSM_LEASES_TAKE;
    c.ttl = 5000;
    CHECK_UNCHANGED(&m, CHECK_EQ(m_cmd(&m, c).status, FSM_HELD));
    m_close(&m);
}

/* A lease semaphore's acquire: SEM_ACQUIRE with session 0 and a TTL. */
static struct fsm_result m_lease_sem(struct m *m, const char *name,
                                     const char *owner, uint64_t permits,
                                     uint64_t ttl)
{
    struct fsm_cmd c = str_cmd(FSM_SEM_LEASE, name, owner, NULL);
    c.ttl = ttl;
    c.permits = permits;
    c.count = 1;
    c.delay = 0;
    return m_cmd(m, c);
}

/* Lease semaphores (redis-semaphore's Semaphore): each owner's permit is a
 * session of its own with its TTL; a retry by an owner that holds one takes
 * no second; a permit comes back on its release, extend keeps it, expiry
 * gives it back; snapshots keep them. */
TEST(fsm_leases, lease_semaphore)
{
    struct m m;
    m_init(&m);
    struct fsm_result a = m_lease_sem(&m, "pool", "id-a", 2, 5000);
    CHECK_EQ(a.status, FSM_OK);
    CHECK_EQ(m_lease_sem(&m, "pool", "id-b", 2, 5000).status, FSM_OK);
    CHECK_UNCHANGED(
        &m,
        CHECK_EQ(m_lease_sem(&m, "pool", "id-c", 2, 5000).status, FSM_HELD));
    struct fsm_result again = m_lease_sem(&m, "pool", "id-a", 2, 8000);
    CHECK_EQ(again.status, FSM_OK);
    CHECK_U64(again.token, a.token);
    CHECK_U64(again.session, a.session);
    struct fsm_lock_info in = m_info(&m, "pool");
    CHECK_EQ(in.used, 2);
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, a.session, &si) && si.lease_lock);
    CHECK_U64(si.ttl, 8000);
    /* Another kind or permits: KIND, nothing taken. */
    CHECK_EQ(m_lease_sem(&m, "pool", "id-c", 3, 5000).status, FSM_KIND);
    CHECK_EQ(m_lease(&m, 5000, "pool", 0, 0, "").status, FSM_KIND);
    /* Bad permits or counts, an empty name. */
    struct fsm_cmd w = str_cmd(FSM_SEM_LEASE, "pool", "id-c", NULL);
    w.ttl = 5000;
    w.permits = 2;
    w.count = 3;
    CHECK_EQ(m_cmd(&m, w).status, FSM_INVALID);
    w.count = 1;
    w.ttl = 0;
    CHECK_EQ(m_cmd(&m, w).status, FSM_NOSESSION);
    /* Released by owner (LEASES, as ZREM), extended by owner. */
    static const char *const pool[] = {"pool", NULL};
    CHECK_EQ(m_leases(&m, FSM_LEASES_EXTEND, "id-b", 9000, pool).status,
             FSM_OK);
    CHECK_EQ(m_leases(&m, FSM_LEASES_RELEASE, "id-a", 0, pool).holds, 1);
    CHECK(!fsm_session_info(m.f, a.session, &si));
    struct fsm_result c3 = m_lease_sem(&m, "pool", "id-c", 2, 5000);
    CHECK_EQ(c3.status, FSM_OK);
    fsm_free(restored(&m));
    /* The expiry of id-c's session gives its permit back. */
    struct fsm_lock_info before = m_info(&m, "pool");
    CHECK_EQ(before.used, 2);
    CHECK_EQ(m_expire(&m, c3.session).status, FSM_OK);
    CHECK_EQ(m_info(&m, "pool").used, 1);
    m_close(&m);
}

/* A lease lock acquired again by the owner that holds it (a retry of a
 * SET NX whose answer was lost) is OK with its token, and its lease starts
 * again; an empty owner never is. */
TEST(fsm_leases, lease_lock_retry_by_owner)
{
    struct m m;
    m_init(&m);
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE, "x", "v1", NULL);
    c.ttl = 5000;
    c.delay = 0;
    struct fsm_result r = m_cmd(&m, c);
    CHECK_EQ(r.status, FSM_OK);
    fsm_events_clear(m.f);
    c.ttl = 7000;
    struct fsm_result again = m_cmd(&m, c);
    CHECK_EQ(again.status, FSM_OK);
    CHECK_U64(again.token, r.token);
    size_t n;
    const struct fsm_session_change *ch = fsm_session_changes(m.f, &n);
    CHECK(n == 1 && ch[0].id == r.session && ch[0].ttl == 7000);
    c.owner = "v2";
    CHECK_EQ(m_cmd(&m, c).status, FSM_HELD);
    struct fsm_cmd e = str_cmd(FSM_ACQUIRE, "y", "", NULL);
    e.ttl = 5000;
    CHECK_EQ(m_cmd(&m, e).status, FSM_OK);
    CHECK_EQ(m_cmd(&m, e).status, FSM_HELD);
    m_close(&m);
}

/* TAKE takes locks: permits of a semaphore that the owner holds as a
 * lease are not the lock it asks for (HELD, nothing taken). */
TEST(fsm_leases, take_is_for_locks)
{
    struct m m;
    m_init(&m);
    CHECK_EQ(m_lease_sem(&m, "pool", "v1", 2, 5000).status, FSM_OK);
    static const char *const pool[] = {"pool", NULL};
    CHECK_UNCHANGED(
        &m, CHECK_EQ(m_leases(&m, FSM_LEASES_TAKE, "v1", 5000, pool).status,
                     FSM_HELD));
    m_close(&m);
}
