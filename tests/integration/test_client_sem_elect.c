/* test_client_sem_elect.c - libdlock's semaphores and elections against one
 * real dlockd: permits never above N across sessions, a waiter granted when
 * permits come back, the strict FIFO of a large request, loss with the
 * session; one leader, the next candidate elected after a resign, proclaim,
 * the leader read, and leadership lost with its session or to a revoke. */
#include <pthread.h>

#include "client/client_internal.h"
#include "client_test.h"

static struct ct_cluster cl;

static struct dlock_client *server_client(void)
{
    ct_cluster_start(&cl, 1);
    return ct_client(&cl, 3000);
}

static struct dlock_session *open_session(struct dlock_client *c)
{
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    return s;
}

static void sem_status(struct dlock_client *c, const char *name,
                       struct dlock_sem_status *st)
{
    CHECK_EQ(dlock_sem_status(c, name, st), 0);
    CHECK_STR(st->name, name);
}

/* Until the semaphore has n waiters. */
static void wait_sem_waiters(struct dlock_client *c, const char *name,
                             uint32_t n)
{
    struct dlock_sem_status st;
    for (int i = 0; i < 500; i++) {
        sem_status(c, name, &st);
        if (st.waiters == n)
            return;
        ct_sleep_ms(10);
    }
    CHECK_MSG(false, "%s: %u waiters, not %u", name, (unsigned)st.waiters,
              (unsigned)n);
}

/* A thread that waits for permits (count) or for leadership (value set). */
struct waiter {
    struct dlock_session *s;
    const char *name;
    uint32_t count;
    const char *value;
    struct dlock_sem *h;
    struct dlock_leadership *l;
    int rc;
    atomic_bool done;
};

static void *wait_cb(void *p)
{
    struct waiter *w = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 10000;
    if (w->value != NULL)
        w->rc = dlock_campaign(w->s, w->name, w->value, strlen(w->value), &o,
                               &w->l);
    else
        w->rc = dlock_sem_acquire(w->s, w->name, 3, w->count, &o, &w->h);
    atomic_store(&w->done, true);
    return NULL;
}

/* ---- semaphores ------------------------------------------------------- */

/* Three sessions take the 3 permits of a semaphore one each (tokens grow);
 * a fourth is refused (DLOCK_EHELD) and the status says 3 used, 0
 * available, 3 holders; the wrong N and a count above N are DLOCK_EINVAL
 * (the server's KIND, and the library's check); a lock call on the name is
 * DLOCK_EINVAL; releasing gives the permit back. */
TEST(sem, never_more_than_n)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s[4];
    struct dlock_sem *h[4];
    for (int i = 0; i < 4; i++)
        s[i] = open_session(c);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(dlock_sem_acquire(s[i], "slots", 3, 1, NULL, &h[i]), 0);
        CHECK(!dlock_sem_lost(h[i]));
        CHECK_U64(dlock_sem_safe_until(h[i]), dlock_session_safe_until(s[i]));
        if (i > 0)
            CHECK(dlock_sem_token(h[i]) > dlock_sem_token(h[i - 1]));
    }
    CHECK_EQ(dlock_sem_acquire(s[3], "slots", 3, 1, NULL, &h[3]), DLOCK_EHELD);
    CHECK_EQ(dlock_sem_acquire(s[3], "slots", 4, 1, NULL, &h[3]), DLOCK_EINVAL);
    CHECK_EQ(dlock_sem_acquire(s[3], "slots", 3, 4, NULL, &h[3]), DLOCK_EINVAL);
    CHECK_EQ(dlock_sem_acquire(s[3], "slots", 3, 0, NULL, &h[3]), DLOCK_EINVAL);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s[3], "slots", NULL, &l), DLOCK_EINVAL);
    struct dlock_sem_status st;
    sem_status(c, "slots", &st);
    CHECK_EQ(st.permits, 3);
    CHECK_EQ(st.used, 3);
    CHECK_EQ(st.available, 0);
    CHECK_EQ(st.holders, 3);
    CHECK_EQ(st.waiters, 0);
    CHECK_EQ(dlock_sem_release(h[1]), 0);
    CHECK_EQ(dlock_sem_acquire(s[3], "slots", 3, 1, NULL, &h[3]), 0);
    CHECK(dlock_sem_token(h[3]) > dlock_sem_token(h[2]));
    CHECK_EQ(dlock_sem_release(h[0]), 0);
    CHECK_EQ(dlock_sem_release(h[2]), 0);
    CHECK_EQ(dlock_sem_release(h[3]), 0);
    sem_status(c, "slots", &st);
    CHECK_EQ(st.permits, 0); /* forgotten, as a free lock is */
    CHECK_EQ(dlock_lock_status(c, "slots", &(struct dlock_lock_status){0}), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* Two handles of one session and owner share the hold and its token; each
 * release gives back the permits its handle took, and a status in between
 * shows what is left. */
TEST(sem, handles_give_back_their_own)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s = open_session(c);
    struct dlock_sem *a, *b;
    CHECK_EQ(dlock_sem_acquire(s, "pool", 3, 1, NULL, &a), 0);
    CHECK_EQ(dlock_sem_acquire(s, "pool", 3, 2, NULL, &b), 0);
    CHECK_U64(dlock_sem_token(a), dlock_sem_token(b));
    struct dlock_sem_status st;
    sem_status(c, "pool", &st);
    CHECK_EQ(st.used, 3);
    CHECK_EQ(st.holders, 1);
    CHECK_EQ(dlock_sem_release(b), 0);
    sem_status(c, "pool", &st);
    CHECK_EQ(st.used, 1);
    CHECK_EQ(dlock_sem_release(a), 0);
    sem_status(c, "pool", &st);
    CHECK_EQ(st.used, 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* A waiter for 2 permits of 3, while 2 are held, is granted when one comes
 * back; a later waiter for 1 is not granted before it (strict FIFO: the 1
 * free permit stays free while the large request is at the head). */
TEST(sem, fifo_of_a_large_request)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s1 = open_session(c), *s2 = open_session(c);
    struct dlock_session *s3 = open_session(c), *s4 = open_session(c);
    struct dlock_sem *h1, *h2, *h4;
    CHECK_EQ(dlock_sem_acquire(s1, "gpus", 3, 1, NULL, &h1), 0);
    CHECK_EQ(dlock_sem_acquire(s2, "gpus", 3, 1, NULL, &h2), 0);
    struct waiter big = {.s = s3, .name = "gpus", .count = 2};
    struct waiter small = {.s = s4, .name = "gpus", .count = 1};
    pthread_t tb, ts;
    CHECK_EQ(pthread_create(&tb, NULL, wait_cb, &big), 0);
    wait_sem_waiters(c, "gpus", 1);
    CHECK_EQ(pthread_create(&ts, NULL, wait_cb, &small), 0);
    wait_sem_waiters(c, "gpus", 2);
    /* A try for the free permit is refused while others wait. */
    CHECK_EQ(dlock_sem_acquire(s4, "gpus", 3, 1, NULL, &h4), DLOCK_EHELD);
    ct_sleep_ms(100);
    CHECK(!atomic_load(&big.done) && !atomic_load(&small.done));
    CHECK_EQ(dlock_sem_release(h1), 0);
    pthread_join(tb, NULL);
    CHECK_EQ(big.rc, 0);
    CHECK(dlock_sem_token(big.h) > dlock_sem_token(h2));
    ct_sleep_ms(100);
    CHECK(!atomic_load(&small.done)); /* 3 of 3 held */
    CHECK_EQ(dlock_sem_release(h2), 0);
    pthread_join(ts, NULL);
    CHECK_EQ(small.rc, 0);
    CHECK(dlock_sem_token(small.h) > dlock_sem_token(big.h));
    CHECK_EQ(dlock_sem_release(big.h), 0);
    CHECK_EQ(dlock_sem_release(small.h), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

static atomic_int lost_calls;

static void on_lost(struct dlock_session *s, void *arg)
{
    (void)arg;
    CHECK(dlock_session_lost(s));
    atomic_fetch_add(&lost_calls, 1);
}

/* Permits whose session's keepalives stop are lost with it: the handle
 * reports lost with safe-until 0, the session's callback runs, and once the
 * server expires the session (lock-delay 0) the permit is granted to
 * another; releasing the lost handle says DLOCK_ELOST. */
TEST(sem, lost_with_session)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s, *t = open_session(c);
    CHECK_EQ(dlock_session_open(c, 300, DLOCK_SESSION_NO_THREAD, &s), 0);
    dlock_session_on_lost(s, on_lost, NULL);
    atomic_store(&lost_calls, 0);
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.delay_ms = 0;
    struct dlock_sem *h, *g;
    CHECK_EQ(dlock_sem_acquire(s, "one-slot", 1, 1, &o, &h), 0);
    CHECK(!dlock_sem_lost(h));
    ct_sleep_ms(300);
    CHECK(dlock_sem_lost(h));
    CHECK_U64(dlock_sem_safe_until(h), 0);
    CHECK_EQ(dlock_client_process(c), 0);
    CHECK_EQ(atomic_load(&lost_calls), 1);
    o.wait_ms = 5000;
    CHECK_EQ(dlock_sem_acquire(t, "one-slot", 1, 1, &o, &g), 0);
    CHECK_EQ(dlock_sem_release(h), DLOCK_ELOST);
    CHECK_EQ(dlock_sem_release(g), 0);
    dlock_session_close(s);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* ---- elections -------------------------------------------------------- */

static void leader(struct dlock_client *c, const char *name,
                   struct dlock_leader_info *li)
{
    CHECK_EQ(dlock_leader(c, name, li), 0);
    CHECK_STR(li->name, name);
}

/* The first campaign leads (the read shows its session, token and value),
 * a second is refused with DLOCK_EHELD, a waiting one queues (1
 * candidate) and leads with its own value, and a greater token, once the
 * first resigns; a proclaim changes the value; a name not known has no
 * leader; a lock or semaphore call on the name is DLOCK_EINVAL. */
TEST(elect, one_leader_then_the_next)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s1 = open_session(c), *s2 = open_session(c);
    struct dlock_leadership *l1, *l2;
    struct dlock_leader_info li;
    leader(c, "db", &li);
    CHECK_U64(li.leader, 0);
    CHECK_EQ(li.value_len, 0);
    CHECK_EQ(dlock_campaign(s1, "db", "10.0.0.1", 8, NULL, &l1), 0);
    CHECK(!dlock_leadership_lost(l1));
    leader(c, "db", &li);
    CHECK_U64(li.leader, dlock_session_id(s1));
    CHECK_U64(li.token, dlock_leadership_token(l1));
    CHECK_STR(li.value, "10.0.0.1");
    CHECK(li.lease_left_ms > 0);
    CHECK_EQ(dlock_campaign(s2, "db", "10.0.0.2", 8, NULL, &l2), DLOCK_EHELD);
    struct dlock_sem *h;
    CHECK_EQ(dlock_sem_acquire(s2, "db", 2, 1, NULL, &h), DLOCK_EINVAL);
    struct waiter w = {.s = s2, .name = "db", .value = "10.0.0.2"};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, wait_cb, &w), 0);
    for (int i = 0; i < 500 && li.candidates != 1; i++) {
        ct_sleep_ms(10);
        leader(c, "db", &li);
    }
    CHECK_EQ(li.candidates, 1);
    /* A value with a NUL byte in it is kept whole. */
    CHECK_EQ(dlock_proclaim(l1, "a\0b", 3), 0);
    leader(c, "db", &li);
    CHECK_EQ(li.value_len, 3);
    CHECK(memcmp(li.value, "a\0b", 3) == 0);
    CHECK(!atomic_load(&w.done));
    CHECK_EQ(dlock_resign(l1), 0);
    pthread_join(t, NULL);
    CHECK_EQ(w.rc, 0);
    CHECK(dlock_leadership_token(w.l) > li.token);
    leader(c, "db", &li);
    CHECK_U64(li.leader, dlock_session_id(s2));
    CHECK_STR(li.value, "10.0.0.2");
    CHECK_EQ(dlock_proclaim(w.l, "10.0.0.9", 8), 0);
    leader(c, "db", &li);
    CHECK_STR(li.value, "10.0.0.9");
    char big[DLOCK_VALUE_MAX + 1] = {0};
    CHECK_EQ(dlock_proclaim(w.l, big, sizeof big), DLOCK_ELIMIT);
    CHECK_EQ(dlock_resign(w.l), 0);
    leader(c, "db", &li);
    CHECK_U64(li.leader, 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* A leader whose session's keepalives stop loses leadership at once for
 * the library (lost, safe-until 0, the session's callback), its proclaim
 * says DLOCK_ELOST, and once the server expires the session a waiting
 * candidate leads (lock-delay 0). */
TEST(elect, lost_with_session)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s, *t = open_session(c);
    CHECK_EQ(dlock_session_open(c, 300, DLOCK_SESSION_NO_THREAD, &s), 0);
    dlock_session_on_lost(s, on_lost, NULL);
    atomic_store(&lost_calls, 0);
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.delay_ms = 0;
    struct dlock_leadership *l, *m;
    CHECK_EQ(dlock_campaign(s, "primary", "me", 2, &o, &l), 0);
    ct_sleep_ms(300);
    CHECK(dlock_leadership_lost(l));
    CHECK_U64(dlock_leadership_safe_until(l), 0);
    CHECK_EQ(dlock_client_process(c), 0);
    CHECK_EQ(atomic_load(&lost_calls), 1);
    CHECK_EQ(dlock_proclaim(l, "x", 1), DLOCK_ELOST);
    o.wait_ms = 5000;
    CHECK_EQ(dlock_campaign(t, "primary", "you", 3, &o, &m), 0);
    CHECK(dlock_leadership_token(m) > dlock_leadership_token(l));
    CHECK_EQ(dlock_resign(l), DLOCK_ELOST);
    CHECK_EQ(dlock_resign(m), 0);
    dlock_session_close(s);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* Leadership revoked by an administrator (LOCK.REVOKE with its token): a
 * proclaim gets DLOCK_ENOTHELD (if the server's push did not tell the
 * library first: test_client_holdwatch), and the handle reports lost
 * from then on though its session lives. */
TEST(elect, revoked_leadership_is_lost)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s = open_session(c);
    struct dlock_leadership *l;
    CHECK_EQ(dlock_campaign(s, "ops", "", 0, NULL, &l), 0);
    char tok[24];
    snprintf(tok, sizeof tok, "%" PRIu64, dlock_leadership_token(l));
    const char *argv[] = {"LOCK.REVOKE", "ops", tok};
    struct call k;
    call_init(&k, c, 3, argv, 0);
    int64_t v;
    CHECK_EQ(call_integer(c, &k, &v), 0);
    CHECK_U64((uint64_t)v, dlock_session_id(s));
    int rc = dlock_proclaim(l, "x", 1);
    CHECK(rc == DLOCK_ENOTHELD || rc == DLOCK_ELOST);
    CHECK(dlock_leadership_lost(l));
    CHECK(!dlock_session_lost(s));
    CHECK_EQ(dlock_resign(l), DLOCK_ELOST);
    dlock_client_free(c);
    ct_stop(&cl);
}
