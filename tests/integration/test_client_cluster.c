/* test_client_cluster.c - libdlock against a 3-server dlockd cluster whose
 * leader is killed: sessions, held locks (exclusive and shared), permits,
 * leadership and waits survive, and the client follows the new leader. */
#include <pthread.h>

#include "client_test.h"

static struct ct_cluster cl;
static atomic_int lost_calls;

static void on_lost(struct dlock_session *s, void *arg)
{
    atomic_fetch_add(&lost_calls, 1);
}

/* Kills the leader and waits until another server leads. */
static int kill_leader(struct dlock_client *c)
{
    int old = ct_wait_leader(&cl, c);
    ct_kill(&cl, old);
    int now = ct_wait_leader(&cl, c);
    CHECK(now != old);
    return old;
}

/* With the leader killed while a lock is held: the session survives (its
 * keepalives reach the new leader) past several TTLs, the lock stays held
 * with its token, and a new acquire works. */
TEST_TIMEOUT(cluster, leader_killed_lock_held, 120)
{
    ct_cluster_start(&cl, 3);
    struct dlock_client *c = ct_client(&cl, 5000);
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 3000, 0, &s), 0);
    dlock_session_on_lost(s, on_lost, NULL);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s, "precious", NULL, &l), 0);
    struct dlock_client *probe = ct_client(&cl, 300);
    kill_leader(probe);
    ct_sleep_ms(6000); /* twice the TTL */
    CHECK(!dlock_session_lost(s));
    CHECK(!dlock_lock_lost(l));
    CHECK(dlock_lock_safe_until(l) > dlock_now_ms());
    CHECK_EQ(atomic_load(&lost_calls), 0);
    struct dlock_lock_status st;
    CHECK_EQ(dlock_lock_status(c, "precious", &st), 0);
    CHECK(st.held);
    CHECK_U64(st.session, dlock_session_id(s));
    CHECK_U64(st.token, dlock_lock_token(l));
    struct dlock_lock *m;
    CHECK_EQ(dlock_lock_acquire(s, "after", NULL, &m), 0);
    CHECK(dlock_lock_token(m) > dlock_lock_token(l));
    CHECK_EQ(dlock_lock_release(m), 0);
    CHECK_EQ(dlock_lock_release(l), 0);
    CHECK_EQ(dlock_session_close(s), 0);
    dlock_client_free(probe);
    dlock_client_free(c);
    ct_stop(&cl);
}

struct waiter {
    struct dlock_session *s;
    struct dlock_lock *l;
    int rc;
};

static void *wait_for_lock(void *p)
{
    struct waiter *w = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 20000;
    w->rc = dlock_lock_acquire(w->s, "queued", &o, &w->l);
    return NULL;
}

/* A blocking acquire waiting when the leader is killed keeps its place:
 * it is repeated at the new leader and granted when the holder releases
 * there. */
TEST_TIMEOUT(cluster, wait_across_leader_change, 120)
{
    ct_cluster_start(&cl, 3);
    struct dlock_client *c = ct_client(&cl, 5000);
    struct dlock_session *a, *b;
    CHECK_EQ(dlock_session_open(c, 3000, 0, &a), 0);
    CHECK_EQ(dlock_session_open(c, 3000, 0, &b), 0);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(a, "queued", NULL, &l), 0);
    struct waiter w = {.s = b, .rc = 1};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, wait_for_lock, &w), 0);
    struct dlock_lock_status st;
    for (int i = 0; i < 200; i++) {
        CHECK_EQ(dlock_lock_status(c, "queued", &st), 0);
        if (st.waiters == 1)
            break;
        ct_sleep_ms(10);
    }
    CHECK_EQ(st.waiters, 1);
    struct dlock_client *probe = ct_client(&cl, 300);
    kill_leader(probe);
    ct_sleep_ms(500);
    CHECK_EQ(w.rc, 1); /* still waiting */
    CHECK_EQ(dlock_lock_release(l), 0);
    pthread_join(t, NULL);
    CHECK_EQ(w.rc, 0);
    CHECK_EQ(dlock_lock_status(c, "queued", &st), 0);
    CHECK_U64(st.session, dlock_session_id(b));
    CHECK_EQ(st.waiters, 0);
    CHECK_EQ(dlock_lock_release(w.l), 0);
    dlock_client_free(probe);
    dlock_client_free(c);
    ct_stop(&cl);
}

static void *wait_exclusive(void *p)
{
    struct waiter *w = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 20000;
    w->rc = dlock_lock_acquire(w->s, "shared", &o, &w->l);
    return NULL;
}

/* Shared holds and a writer waiting behind them survive a leader change:
 * the readers' handles stay held, their shared releases reach the new
 * leader, where the writer, repeated there with its request id, is
 * granted; its downgrade there lets a reader in beside it. */
TEST_TIMEOUT(cluster, shared_across_leader_change, 120)
{
    ct_cluster_start(&cl, 3);
    struct dlock_client *c = ct_client(&cl, 5000);
    struct dlock_session *a, *b, *wr;
    CHECK_EQ(dlock_session_open(c, 3000, 0, &a), 0);
    CHECK_EQ(dlock_session_open(c, 3000, 0, &b), 0);
    CHECK_EQ(dlock_session_open(c, 3000, 0, &wr), 0);
    struct dlock_lock *ra, *rb, *ra2;
    CHECK_EQ(dlock_lock_acquire_shared(a, "shared", NULL, &ra), 0);
    CHECK_EQ(dlock_lock_acquire_shared(b, "shared", NULL, &rb), 0);
    struct waiter w = {.s = wr, .rc = 1};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, wait_exclusive, &w), 0);
    struct dlock_lock_status st;
    for (int i = 0; i < 200; i++) {
        CHECK_EQ(dlock_lock_status(c, "shared", &st), 0);
        if (st.waiters == 1)
            break;
        ct_sleep_ms(10);
    }
    CHECK_EQ(st.waiters, 1);
    struct dlock_client *probe = ct_client(&cl, 300);
    kill_leader(probe);
    ct_sleep_ms(500);
    CHECK_EQ(w.rc, 1); /* still waiting */
    CHECK(!dlock_lock_lost(ra) && !dlock_lock_lost(rb));
    CHECK_EQ(dlock_lock_release(ra), 0);
    CHECK_EQ(dlock_lock_release(rb), 0);
    pthread_join(t, NULL);
    CHECK_EQ(w.rc, 0);
    struct dlock_lock_mode m;
    CHECK_EQ(dlock_lock_status_mode(c, "shared", &st, &m), 0);
    CHECK_EQ(m.mode, DLOCK_MODE_EXCLUSIVE);
    CHECK_U64(st.session, dlock_session_id(wr));
    CHECK_EQ(dlock_lock_downgrade(w.l), 0);
    CHECK_EQ(dlock_lock_acquire_shared(a, "shared", NULL, &ra2), 0);
    CHECK_EQ(dlock_lock_status_mode(c, "shared", &st, &m), 0);
    CHECK_EQ(m.mode, DLOCK_MODE_SHARED);
    CHECK_EQ(m.holders, 2);
    CHECK_EQ(dlock_lock_release(ra2), 0);
    CHECK_EQ(dlock_lock_release(w.l), 0);
    dlock_client_free(probe);
    dlock_client_free(c);
    ct_stop(&cl);
}

struct sem_elect_waiter {
    struct dlock_session *s;
    struct dlock_sem *h;
    struct dlock_leadership *l;
    atomic_int sem_rc, elect_rc;
};

static void *wait_sem(void *p)
{
    struct sem_elect_waiter *w = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 20000;
    atomic_store(&w->sem_rc, dlock_sem_acquire(w->s, "sem", 2, 2, &o, &w->h));
    return NULL;
}

static void *wait_elect(void *p)
{
    struct sem_elect_waiter *w = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 20000;
    atomic_store(&w->elect_rc,
                 dlock_campaign(w->s, "elect", "b", 1, &o, &w->l));
    return NULL;
}

/* Permits and leadership, and a semaphore waiter and a candidate behind
 * them, survive a leader change: the holders' handles stay held, the
 * leader proclaims at the new leader, and the release and resign there
 * grant the waiter (its request repeated with its request id) and elect
 * the candidate. */
TEST_TIMEOUT(cluster, sem_and_election_across_leader_change, 120)
{
    ct_cluster_start(&cl, 3);
    struct dlock_client *c = ct_client(&cl, 5000);
    struct dlock_session *a, *b;
    CHECK_EQ(dlock_session_open(c, 3000, 0, &a), 0);
    CHECK_EQ(dlock_session_open(c, 3000, 0, &b), 0);
    struct dlock_sem *h;
    struct dlock_leadership *l;
    CHECK_EQ(dlock_sem_acquire(a, "sem", 2, 1, NULL, &h), 0);
    CHECK_EQ(dlock_campaign(a, "elect", "a", 1, NULL, &l), 0);
    struct sem_elect_waiter w = {.s = b};
    atomic_init(&w.sem_rc, 1);
    atomic_init(&w.elect_rc, 1);
    pthread_t ts, te;
    CHECK_EQ(pthread_create(&ts, NULL, wait_sem, &w), 0);
    CHECK_EQ(pthread_create(&te, NULL, wait_elect, &w), 0);
    struct dlock_sem_status st;
    struct dlock_leader_info li;
    for (int i = 0; i < 200; i++) {
        CHECK_EQ(dlock_sem_status(c, "sem", &st), 0);
        CHECK_EQ(dlock_leader(c, "elect", &li), 0);
        if (st.waiters == 1 && li.candidates == 1)
            break;
        ct_sleep_ms(10);
    }
    CHECK_EQ(st.waiters, 1);
    CHECK_EQ(li.candidates, 1);
    struct dlock_client *probe = ct_client(&cl, 300);
    kill_leader(probe);
    ct_sleep_ms(500);
    CHECK_EQ(atomic_load(&w.sem_rc), 1); /* still waiting */
    CHECK_EQ(atomic_load(&w.elect_rc), 1);
    CHECK(!dlock_sem_lost(h) && !dlock_leadership_lost(l));
    CHECK_EQ(dlock_proclaim(l, "a2", 2), 0);
    CHECK_EQ(dlock_leader(c, "elect", &li), 0);
    CHECK_STR(li.value, "a2");
    CHECK_EQ(dlock_sem_release(h), 0);
    CHECK_EQ(dlock_resign(l), 0);
    pthread_join(ts, NULL);
    pthread_join(te, NULL);
    CHECK_EQ(atomic_load(&w.sem_rc), 0);
    CHECK_EQ(atomic_load(&w.elect_rc), 0);
    CHECK_EQ(dlock_leader(c, "elect", &li), 0);
    CHECK_U64(li.leader, dlock_session_id(b));
    CHECK_STR(li.value, "b");
    CHECK_EQ(dlock_sem_status(c, "sem", &st), 0);
    CHECK_EQ(st.used, 2);
    CHECK_EQ(dlock_sem_release(w.h), 0);
    CHECK_EQ(dlock_resign(w.l), 0);
    dlock_client_free(probe);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* A client whose list names only followers finds the leader by their
 * redirects. */
TEST_TIMEOUT(cluster, redirect_from_followers, 60)
{
    ct_cluster_start(&cl, 3);
    struct dlock_client *probe = ct_client(&cl, 300);
    int leader = ct_wait_leader(&cl, probe);
    char list[256] = "";
    for (int i = 0; i < 3; i++)
        if (i != leader)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     list[0] ? "," : "", cl.s[i].addr);
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = list;
    o.timeout_ms = 5000;
    struct dlock_client *c;
    CHECK_EQ(dlock_client_new(&o, &c), 0);
    char answered[64] = "x";
    dlock_client_server(c, answered, sizeof answered);
    CHECK_STR(answered, "");
    uint64_t tok;
    CHECK_EQ(dlock_lease_acquire(c, "via-follower", 10000, 0, &tok), 0);
    /* The answer came from the leader, which the list does not name. */
    dlock_client_server(c, answered, sizeof answered);
    CHECK_STR(answered, cl.s[leader].addr);
    CHECK_EQ(dlock_lease_release(c, "via-follower", tok), 0);
    dlock_client_free(c);
    dlock_client_free(probe);
    ct_stop(&cl);
}
