/* test_fsm_user.c - users in the lock state machine (src/lock/fsm_user.c):
 * USER_SET and USER_DEL, the bootstrap that applies once, a password kept
 * across a change, snapshots; and sessions that belong to the user that
 * opened them (FSM_NOPERM for anyone else, nothing changed). */
#include "acl_test.h"
#include "common/le.h"
#include "fsm_test.h"

/* The data of a USER_SET of users (name, text) pairs, NULL-terminated. */
static size_t user_data(uint8_t *out, const char *const *pairs)
{
    size_t n = 0;
    for (size_t i = 0; pairs[i] != NULL; i += 2) {
        uint8_t def[ACL_DEF_MAX];
        size_t dl = acl_test_def(pairs[i + 1], def);
        size_t len = strlen(pairs[i]);
        out[n] = (uint8_t)len;
        memcpy(out + n + 1, pairs[i], len);
        le_put16(out + n + 1 + len, (uint16_t)dl);
        memcpy(out + n + 3 + len, def, dl);
        n += 3 + len + dl;
    }
    return n;
}

static struct fsm_result m_users(struct m *m, bool bootstrap,
                                 const char *const *pairs)
{
    static uint8_t data[FSM_DATA_MAX];
    struct fsm_cmd c = {.type = FSM_USER_SET, .count = bootstrap};
    c.data = data;
    c.data_len = (uint32_t)user_data(data, pairs);
    return m_cmd(m, c);
}

static struct fsm_result m_user_del(struct m *m, const char *name)
{
    return m_cmd(m, str_cmd(FSM_USER_DEL, name, NULL, NULL));
}

static struct acl_def user_def(struct m *m, const char *name)
{
    uint32_t len;
    const uint8_t *def = fsm_user(m->f, name, (uint32_t)strlen(name), &len);
    struct acl_def d;
    CHECK(def != NULL);
    CHECK_EQ(acl_decode(&d, def, len, false), 0);
    return d;
}

/* A command c as user. */
static struct fsm_result as(struct m *m, struct fsm_cmd c, const char *user)
{
    c.user = user;
    c.user_len = (uint32_t)strlen(user);
    return m_cmd(m, c);
}

static uint64_t open_as(struct m *m, const char *user)
{
    struct fsm_cmd c = str_cmd(FSM_OPEN, NULL, NULL, NULL);
    c.ttl = 10000;
    struct fsm_result r = as(m, c, user);
    CHECK_EQ(r.status, FSM_OK);
    return r.session;
}

static struct fsm_cmd acq(uint64_t s, const char *name)
{
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE, name, "", "");
    c.session = s;
    c.delay = DEFAULT_DELAY;
    return c;
}

TEST(fsm_user, set_get_delete)
{
    struct m m;
    m_init(&m);
    CHECK(!fsm_auth_on(m.f));
    const char *const a[] = {"alice", "PASSWORD a ALLOW locks ACQUIRE jobs/*",
                             "bob", "NOPASSWORD ALLOW reads READ *", NULL};
    struct fsm_result r = m_users(&m, false, a);
    CHECK_EQ(r.status, FSM_OK);
    CHECK_EQ(r.users, 2);
    CHECK(fsm_auth_on(m.f));
    struct acl_def d = user_def(&m, "alice");
    CHECK_EQ(d.flags, ACL_ON | ACL_PASSWORD);
    CHECK(d.hash[0] == 'a');
    CHECK(!(user_def(&m, "bob").flags & ACL_PASSWORD));
    /* Changed without a password word: the record stays. */
    const char *const a2[] = {"alice", "OFF ALLOW all", NULL};
    CHECK_EQ(m_users(&m, false, a2).status, FSM_OK);
    d = user_def(&m, "alice");
    CHECK_EQ(d.flags, ACL_PASSWORD);
    CHECK(d.hash[0] == 'a' && d.categories == ACL_CAT_ALL);
    /* A new user without one has none. */
    const char *const c[] = {"carol", "ALLOW all", NULL};
    CHECK_EQ(m_users(&m, false, c).status, FSM_OK);
    CHECK_EQ(user_def(&m, "carol").flags, ACL_ON);
    CHECK_EQ(m_user_del(&m, "bob").status, FSM_OK);
    CHECK_EQ(m_user_del(&m, "bob").status, FSM_NOTHELD);
    uint32_t len;
    CHECK(fsm_user(m.f, "bob", 3, &len) == NULL);
    /* Authentication stays on with no users left. */
    m_user_del(&m, "alice");
    m_user_del(&m, "carol");
    CHECK(fsm_auth_on(m.f));
    m_close(&m);
}

TEST(fsm_user, bootstrap_applies_once)
{
    struct m m;
    m_init(&m);
    const char *const boot[] = {"admin", "PASSWORD x ALLOW all ADMIN *", NULL};
    CHECK_EQ(m_users(&m, true, boot).status, FSM_OK);
    /* A second server's bootstrap, after: nothing. */
    const char *const boot2[] = {"admin", "PASSWORD y ALLOW all", NULL};
    CHECK_UNCHANGED(&m, CHECK_EQ(m_users(&m, true, boot2).status, FSM_NOTHELD));
    CHECK(user_def(&m, "admin").hash[0] == 'x');
    /* Deleting every user does not open the way to another. */
    m_user_del(&m, "admin");
    CHECK_EQ(m_users(&m, true, boot2).status, FSM_NOTHELD);
    m_close(&m);
}

/* Malformed data is refused whole: nothing is set. */
TEST(fsm_user, malformed_refused_whole)
{
    struct m m;
    m_init(&m);
    uint8_t data[1024];
    const char *const good[] = {"alice", "ALLOW all", "bad name", "ALLOW all",
                                NULL};
    struct fsm_cmd c = {.type = FSM_USER_SET, .data = data};
    c.data_len = (uint32_t)user_data(data, good);
    m_tick(&m, m.now); /* the clock set: it does not move below */
    CHECK_UNCHANGED(&m, CHECK_EQ(m_cmd(&m, c).status, FSM_INVALID));
    CHECK(!fsm_auth_on(m.f));
    const char *const one[] = {"alice", "ALLOW all", NULL};
    c.data_len = (uint32_t)user_data(data, one);
    for (uint32_t k = 0; k < c.data_len; k++) {
        struct fsm_cmd t = c;
        t.data_len = k;
        CHECK_UNCHANGED(&m, CHECK_MSG(m_cmd(&m, t).status == FSM_INVALID,
                                      "%u of %u bytes", k, c.data_len));
    }
    c.count = 2;
    CHECK_EQ(m_cmd(&m, c).status, FSM_INVALID);
    m_close(&m);
}

TEST(fsm_user, user_limit)
{
    struct m m;
    m_init(&m);
    m.quick = true;
    char name[16];
    const char *pairs[3] = {name, "ALLOW all", NULL};
    for (int i = 0; i < FSM_USERS_MAX; i++) {
        snprintf(name, sizeof name, "u%d", i);
        CHECK_EQ(m_users(&m, false, pairs).status, FSM_OK);
    }
    snprintf(name, sizeof name, "one-more");
    CHECK_EQ(m_users(&m, false, pairs).status, FSM_LIMIT);
    snprintf(name, sizeof name, "u7"); /* a change still fits */
    CHECK_EQ(m_users(&m, false, pairs).status, FSM_OK);
    m_ok(&m);
    m_close(&m);
}

/* Another user cannot close, acquire under, release under, change the TTL
 * of, or resign from a session; nor release or extend a lease lock by its
 * token. Nothing changes, and nothing is remembered. */
TEST(fsm_user, sessions_belong_to_their_user)
{
    struct m m;
    m_init(&m);
    uint64_t s = open_as(&m, "alice");
    struct fsm_session_info si;
    CHECK(fsm_session_info(m.f, s, &si));
    CHECK(si.user_len == 5 && memcmp(si.user, "alice", 5) == 0);
    CHECK_EQ(as(&m, acq(s, "a"), "alice").status, FSM_OK);
    CHECK_UNCHANGED(&m, {
        CHECK_EQ(as(&m, acq(s, "b"), "mallory").status, FSM_NOPERM);
        CHECK_EQ(m_cmd(&m, acq(s, "b")).status, FSM_NOPERM); /* no user */
        struct fsm_cmd rel = str_cmd(FSM_RELEASE, "a", "", "r1");
        rel.session = s;
        CHECK_EQ(as(&m, rel, "mallory").status, FSM_NOPERM);
        struct fsm_cmd close = str_cmd(FSM_CLOSE, NULL, NULL, "c1");
        close.session = s;
        CHECK_EQ(as(&m, close, "mallory").status, FSM_NOPERM);
        struct fsm_cmd ttl = str_cmd(FSM_SET_TTL, NULL, NULL, NULL);
        ttl.session = s;
        ttl.ttl = 20000;
        CHECK_EQ(as(&m, ttl, "mallory").status, FSM_NOPERM);
        struct fsm_cmd sem = str_cmd(FSM_SEM_ACQUIRE, "s", "", "");
        sem.session = s;
        sem.permits = 2;
        sem.count = 1;
        sem.delay = DEFAULT_DELAY;
        CHECK_EQ(as(&m, sem, "mallory").status, FSM_NOPERM);
    });
    /* The owner's request ids are its own: the same id from another user
     * is another request. */
    struct fsm_cmd rel = str_cmd(FSM_RELEASE, "a", "", "r1");
    rel.session = s;
    CHECK_EQ(as(&m, rel, "alice").status, FSM_OK);
    struct fsm_cmd close = str_cmd(FSM_CLOSE, NULL, NULL, "c1");
    close.session = s;
    CHECK_EQ(as(&m, close, "alice").status, FSM_OK);
    m_close(&m);
}

TEST(fsm_user, lease_locks_belong_to_their_user)
{
    struct m m;
    m_init(&m);
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE, "nightly", "", "");
    c.ttl = 10000;
    c.delay = DEFAULT_DELAY;
    struct fsm_result g = as(&m, c, "cron");
    CHECK_EQ(g.status, FSM_OK);
    CHECK_UNCHANGED(&m, {
        struct fsm_cmd rel = str_cmd(FSM_RELEASE, "nightly", NULL, NULL);
        rel.token = g.token;
        CHECK_EQ(as(&m, rel, "mallory").status, FSM_NOPERM);
        struct fsm_cmd ext = str_cmd(FSM_EXTEND, "nightly", NULL, NULL);
        ext.token = g.token;
        ext.ttl = 60000;
        CHECK_EQ(as(&m, ext, "mallory").status, FSM_NOPERM);
    });
    struct fsm_cmd rel = str_cmd(FSM_RELEASE, "nightly", NULL, NULL);
    rel.token = g.token;
    CHECK_EQ(as(&m, rel, "cron").status, FSM_OK);
    m_close(&m);
}

/* Users and sessions' users survive a snapshot, which stays canonical
 * (the same bytes written again), whatever order users were set in. */
TEST(fsm_user, snapshot_round_trip)
{
    struct m m, m2, m3;
    m_init(&m);
    m_init(&m3);
    const char *const ab[] = {"bob", "ALLOW reads READ *", "alice",
                              "PASSWORD a ALLOW all ADMIN *", NULL};
    const char *const ba[] = {"alice", "PASSWORD a ALLOW all ADMIN *", "bob",
                              "ALLOW reads READ *", NULL};
    m_users(&m, false, ab);
    m_users(&m3, false, ba);
    uint64_t s = open_as(&m, "alice");
    open_as(&m3, "alice");
    size_t len, len2, len3;
    uint8_t *snap = m_snap(&m, &len);
    uint8_t *snap3 = m_snap(&m3, &len3);
    CHECK(same_state(snap, len, snap3, len3));
    m_init(&m2);
    CHECK_EQ(fsm_restore(m2.f, snap, len), 0);
    m_ok(&m2);
    uint8_t *snap2 = m_snap(&m2, &len2);
    CHECK(len2 == len && memcmp(snap, snap2, len) == 0);
    CHECK(fsm_auth_on(m2.f));
    CHECK(user_def(&m2, "alice").hash[0] == 'a');
    m2.idx = m.idx;
    CHECK_EQ(as(&m2, acq(s, "x"), "bob").status, FSM_NOPERM);
    CHECK_EQ(as(&m2, acq(s, "x"), "alice").status, FSM_OK);
    free(snap);
    free(snap2);
    free(snap3);
    m_close(&m);
    m_close(&m2);
    m_close(&m3);
}
