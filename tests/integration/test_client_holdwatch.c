/* test_client_holdwatch.c - libdlock learns at once, without a call of its
 * own, that the server ended a hold while its session lives (an
 * administrator's LOCK.REVOKE of a lock, of a semaphore's permits, of an
 * election's leadership): the handle reports lost and the session's
 * hold-lost callback is called once with the hold's name, owner and token;
 * a later grant of the same name is not taken for it; and the watch goes
 * on with the keepalives on the new leader after the leader is killed. */
#include <inttypes.h>
#include <pthread.h>

#include "client/client_internal.h"
#include "client_test.h"

static struct ct_cluster cl;

/* What the hold-lost callback was told. */
struct told {
    pthread_mutex_t mu;
    int calls;
    char name[257], owner[65];
    uint64_t token;
};

static void on_hold_lost(struct dlock_session *s, const char *name,
                         const char *owner, uint64_t token, void *arg)
{
    struct told *t = arg;
    pthread_mutex_lock(&t->mu);
    t->calls++;
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->owner, sizeof t->owner, "%s", owner);
    t->token = token;
    pthread_mutex_unlock(&t->mu);
}

static int calls(struct told *t)
{
    pthread_mutex_lock(&t->mu);
    int n = t->calls;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* LOCK.REVOKE name token, through c (to the leader). */
static void revoke_hold(struct dlock_client *c, const char *name,
                        uint64_t token, uint64_t session)
{
    char tok[24];
    snprintf(tok, sizeof tok, "%" PRIu64, token);
    const char *argv[] = {"LOCK.REVOKE", name, tok};
    struct call k;
    call_init(&k, c, 3, argv, 0);
    int64_t v;
    CHECK_EQ(call_integer(c, &k, &v), 0);
    CHECK_U64((uint64_t)v, session);
}

/* Waits up to 3 s for lost() of a handle, making no call of the library
 * but the local check. */
#define WAIT_LOST(lost)                                                        \
    do {                                                                       \
        for (int i_ = 0; i_ < 300 && !(lost); i_++)                            \
            ct_sleep_ms(10);                                                   \
        CHECK_MSG((lost), "not told within 3 s: " #lost);                      \
    } while (0)

static void expect_told(struct told *t, int n, const char *name,
                        const char *owner, uint64_t token)
{
    for (int i = 0; i < 100 && calls(t) < n; i++)
        ct_sleep_ms(10);
    CHECK_EQ(calls(t), n);
    pthread_mutex_lock(&t->mu);
    CHECK_STR(t->name, name);
    CHECK_STR(t->owner, owner);
    CHECK_U64(t->token, token);
    pthread_mutex_unlock(&t->mu);
}

/* A client of a 1-server cl, a session of it told into t, and options
 * with owner. */
static struct dlock_session *told_session(struct dlock_client **c,
                                          struct told *t,
                                          struct dlock_acquire_options *o,
                                          const char *owner)
{
    ct_cluster_start(&cl, 1);
    *c = ct_client(&cl, 3000);
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(*c, 30000, 0, &s), 0);
    dlock_session_on_hold_lost(s, on_hold_lost, t);
    dlock_acquire_options_init(o);
    o->owner = owner;
    return s;
}

TEST(holdwatch, revoked_lock_told_at_once)
{
    struct dlock_client *c;
    struct told t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct dlock_acquire_options o;
    struct dlock_session *s = told_session(&c, &t, &o, "job-7");
    struct dlock_lock *a, *a2, *b;
    CHECK_EQ(dlock_lock_acquire(s, "a", &o, &a), 0);
    CHECK_EQ(dlock_lock_acquire(s, "a", &o, &a2), 0); /* a reentry */
    CHECK_EQ(dlock_lock_acquire(s, "b", &o, &b), 0);
    revoke_hold(c, "a", dlock_lock_token(a), dlock_session_id(s));
    WAIT_LOST(dlock_lock_lost(a));
    CHECK(dlock_lock_lost(a2));
    CHECK_U64(dlock_lock_safe_until(a), 0);
    expect_told(&t, 1, "a", "job-7", dlock_lock_token(a));
    CHECK(!dlock_lock_lost(b));
    CHECK(!dlock_session_lost(s));
    CHECK_EQ(dlock_lock_release(a), DLOCK_ELOST);
    CHECK_EQ(dlock_lock_release(a2), DLOCK_ELOST);
    /* The name again (after its lock-delay): a new grant, not lost by the
     * revoke's change, which a reconnect may replay. */
    struct dlock_lock *again;
    o.wait_ms = 5000;
    CHECK_EQ(dlock_lock_acquire(s, "a", &o, &again), 0);
    CHECK(dlock_lock_token(again) > dlock_lock_token(b));
    ct_sleep_ms(300);
    CHECK(!dlock_lock_lost(again));
    CHECK_EQ(calls(&t), 1);
    CHECK_EQ(dlock_lock_release(again), 0);
    CHECK_EQ(dlock_lock_release(b), 0);
    CHECK_EQ(dlock_session_close(s), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

TEST(holdwatch, revoked_permits_and_leadership_told_at_once)
{
    struct dlock_client *c;
    struct told t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct dlock_acquire_options o;
    struct dlock_session *s = told_session(&c, &t, &o, "w");
    struct dlock_sem *h;
    CHECK_EQ(dlock_sem_acquire(s, "slots", 4, 2, &o, &h), 0);
    revoke_hold(c, "slots", dlock_sem_token(h), dlock_session_id(s));
    WAIT_LOST(dlock_sem_lost(h));
    expect_told(&t, 1, "slots", "w", dlock_sem_token(h));
    struct dlock_leadership *l;
    CHECK_EQ(dlock_campaign(s, "ops", "10.0.0.1", 8, &o, &l), 0);
    revoke_hold(c, "ops", dlock_leadership_token(l), dlock_session_id(s));
    WAIT_LOST(dlock_leadership_lost(l));
    expect_told(&t, 2, "ops", "w", dlock_leadership_token(l));
    CHECK(!dlock_session_lost(s));
    CHECK_EQ(dlock_sem_release(h), DLOCK_ELOST);
    CHECK_EQ(dlock_resign(l), DLOCK_ELOST);
    CHECK_EQ(dlock_session_close(s), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* The keeper's connection goes to the new leader with the keepalives, and
 * watches the session's holds there again. */
TEST_TIMEOUT(holdwatch, told_after_the_leader_is_killed, 120)
{
    ct_cluster_start(&cl, 3);
    struct dlock_client *c = ct_client(&cl, 3000);
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 3000, 0, &s), 0);
    struct told t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    dlock_session_on_hold_lost(s, on_hold_lost, &t);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s, "kept", NULL, &l), 0);
    int old = ct_wait_leader(&cl, c);
    ct_kill(&cl, old);
    CHECK(ct_wait_leader(&cl, c) != old);
    /* A keepalive answered by the new leader: safe-until moves on. */
    uint64_t until = dlock_lock_safe_until(l);
    for (int i = 0; i < 500 && dlock_lock_safe_until(l) <= until; i++)
        ct_sleep_ms(10);
    CHECK(dlock_lock_safe_until(l) > until);
    revoke_hold(c, "kept", dlock_lock_token(l), dlock_session_id(s));
    WAIT_LOST(dlock_lock_lost(l));
    CHECK(!dlock_session_lost(s));
    char owner[65];
    pthread_mutex_lock(&t.mu);
    snprintf(owner, sizeof owner, "%s", t.owner);
    pthread_mutex_unlock(&t.mu);
    expect_told(&t, 1, "kept", owner, dlock_lock_token(l));
    CHECK_EQ(dlock_lock_release(l), DLOCK_ELOST);
    CHECK_EQ(dlock_session_close(s), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}
