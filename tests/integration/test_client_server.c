/* test_client_server.c - libdlock against one real dlockd: sessions, locks,
 * waits, lease locks, reads, keepalives (by the library's thread and by a
 * program's poll loop) and lost sessions. */
#include <poll.h>
#include <pthread.h>

#include "client/client_internal.h"
#include "client_test.h"

static struct ct_cluster cl;

static struct dlock_client *server_client(void)
{
    ct_cluster_start(&cl, 1);
    return ct_client(&cl, 3000);
}

static void status(struct dlock_client *c, const char *name,
                   struct dlock_lock_status *st)
{
    CHECK_EQ(dlock_lock_status(c, name, st), 0);
    CHECK_STR(st->name, name);
}

/* A session's lock is granted with a token, shows in LOCK.STATUS with the
 * session and the calling thread as owner, and is free after release. */
TEST(server, acquire_release)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s;
    uint64_t t0 = dlock_now_ms();
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    CHECK(dlock_session_id(s) > 0);
    CHECK(dlock_session_safe_until(s) >= t0 + 10000 - 60);
    CHECK(dlock_session_safe_until(s) <= dlock_now_ms() + 10000 - 60);
    CHECK(!dlock_session_lost(s));
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s, "alpha", NULL, &l), 0);
    CHECK(dlock_lock_token(l) > 0);
    CHECK_STR(dlock_lock_name(l), "alpha");
    CHECK(!dlock_lock_lost(l));
    CHECK_U64(dlock_lock_safe_until(l), dlock_session_safe_until(s));
    struct dlock_lock_status st;
    status(c, "alpha", &st);
    CHECK(st.held);
    CHECK_U64(st.session, dlock_session_id(s));
    CHECK_U64(st.token, dlock_lock_token(l));
    char owner[32];
    snprintf(owner, sizeof owner, "t%d", (int)gettid());
    CHECK_STR(st.owner, owner);
    CHECK_EQ(st.holds, 1);
    CHECK_EQ(dlock_lock_release(l), 0);
    status(c, "alpha", &st);
    CHECK(!st.held);
    CHECK_EQ(dlock_session_close(s), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* Acquiring a lock the same owner holds adds a hold with the same token;
 * each release takes one away. */
TEST(server, reentrant)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    struct dlock_lock *a, *b;
    CHECK_EQ(dlock_lock_acquire(s, "re", NULL, &a), 0);
    CHECK_EQ(dlock_lock_acquire(s, "re", NULL, &b), 0);
    CHECK(a != b);
    CHECK_U64(dlock_lock_token(a), dlock_lock_token(b));
    struct dlock_lock_status st;
    status(c, "re", &st);
    CHECK_EQ(st.holds, 2);
    CHECK_EQ(dlock_lock_release(a), 0);
    status(c, "re", &st);
    CHECK(st.held);
    CHECK_EQ(st.holds, 1);
    CHECK_EQ(dlock_lock_release(b), 0);
    status(c, "re", &st);
    CHECK(!st.held);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* A try-lock of a lock another session (or another owner) holds fails
 * with DLOCK_EHELD and the server's message; a wait that runs out fails
 * with DLOCK_EWAIT after the wait. */
TEST(server, held_and_wait_timeout)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s1, *s2;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s1), 0);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s2), 0);
    struct dlock_lock *l, *m;
    CHECK_EQ(dlock_lock_acquire(s1, "busy", NULL, &l), 0);
    CHECK_EQ(dlock_lock_acquire(s2, "busy", NULL, &m), DLOCK_EHELD);
    CHECK(strstr(dlock_errmsg(c), "HELD by session") != NULL);
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    CHECK_U64(o.delay_ms, UINT64_MAX);
    o.owner = "someone-else";
    CHECK_EQ(dlock_lock_acquire(s1, "busy", &o, &m), DLOCK_EHELD);
    o.wait_ms = 300;
    uint64_t t0 = dlock_now_ms();
    CHECK_EQ(dlock_lock_acquire(s2, "busy", &o, &m), DLOCK_EWAIT);
    CHECK(dlock_now_ms() - t0 >= 300);
    CHECK_EQ(dlock_lock_release(l), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

struct waiter {
    struct dlock_session *s;
    struct dlock_lock *l;
    int rc;
    uint64_t got_at;
};

static void *wait_for_lock(void *p)
{
    struct waiter *w = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 10000;
    w->rc = dlock_lock_acquire(w->s, "queue", &o, &w->l);
    w->got_at = dlock_now_ms();
    return NULL;
}

/* A blocking acquire is granted when the holder releases, with a greater
 * token, while other calls of the client (on other threads) go on. */
TEST(server, wait_granted)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s1, *s2;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s1), 0);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s2), 0);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s1, "queue", NULL, &l), 0);
    struct waiter w = {.s = s2};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, wait_for_lock, &w), 0);
    struct dlock_lock_status st;
    for (int i = 0; i < 100; i++) {
        status(c, "queue", &st);
        if (st.waiters == 1)
            break;
        ct_sleep_ms(10);
    }
    CHECK_EQ(st.waiters, 1);
    ct_sleep_ms(200);
    uint64_t first = dlock_lock_token(l);
    uint64_t released = dlock_now_ms();
    CHECK_EQ(dlock_lock_release(l), 0);
    pthread_join(t, NULL);
    CHECK_EQ(w.rc, 0);
    CHECK(w.got_at >= released);
    CHECK(dlock_lock_token(w.l) > first);
    status(c, "queue", &st);
    CHECK_U64(st.session, dlock_session_id(s2));
    CHECK_EQ(dlock_lock_release(w.l), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* Lease locks: granted with a token, refused to another while held,
 * extended and released by that token only. */
TEST(server, lease_locks)
{
    struct dlock_client *c = server_client();
    uint64_t tok, other;
    CHECK_EQ(dlock_lease_acquire(c, "cron", 60000, 0, &tok), 0);
    CHECK(tok > 0);
    CHECK_EQ(dlock_lease_acquire(c, "cron", 60000, 0, &other), DLOCK_EHELD);
    CHECK_EQ(dlock_lease_acquire(c, "cron", 60000, 200, &other), DLOCK_EWAIT);
    CHECK_EQ(dlock_lease_extend(c, "cron", tok + 1, 1000), DLOCK_ENOTHELD);
    CHECK_EQ(dlock_lease_extend(c, "cron", tok, 120000), 0);
    struct dlock_lock_status st;
    status(c, "cron", &st);
    CHECK(st.held);
    CHECK_U64(st.token, tok);
    CHECK(st.lease_left_ms > 60000);
    CHECK_EQ(dlock_lease_release(c, "cron", tok), 0);
    CHECK_EQ(dlock_lease_release(c, "cron", tok), DLOCK_ENOTHELD);
    CHECK_EQ(dlock_lease_acquire(c, "cron", 50, 0, &other), DLOCK_EINVAL);
    CHECK_EQ(dlock_lease_acquire(c, "cron", 1000, 0, &other), 0);
    CHECK(other > tok);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* LOCK.LIST returns the held locks under a prefix in name order, at most
 * max; CLUSTER.INFO describes the one server, from it or from any. */
TEST(server, list_and_cluster_info)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    const char *names[] = {"job/b", "job/a", "other", "job/c"};
    struct dlock_lock *l[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(dlock_lock_acquire(s, names[i], NULL, &l[i]), 0);
    struct dlock_lock_status *st;
    size_t n;
    CHECK_EQ(dlock_lock_list(c, "job/", 100, &st, &n), 0);
    CHECK_EQ(n, 3);
    CHECK_STR(st[0].name, "job/a");
    CHECK_STR(st[2].name, "job/c");
    CHECK(st[1].held);
    CHECK_U64(st[1].session, dlock_session_id(s));
    free(st);
    CHECK_EQ(dlock_lock_list(c, NULL, 2, &st, &n), 0);
    CHECK_EQ(n, 2);
    free(st);
    CHECK_EQ(dlock_lock_list(c, "none", 10, &st, &n), 0);
    CHECK_EQ(n, 0);
    free(st);
    struct dlock_cluster_info ci;
    CHECK_EQ(dlock_cluster_info(c, NULL, &ci), 0);
    CHECK_STR(ci.role, "leader");
    CHECK_U64(ci.id, 1);
    CHECK_STR(ci.leader_addr, cl.s[0].addr);
    CHECK_EQ(ci.n_members, 1);
    CHECK(ci.members[0].voter);
    CHECK(ci.commit_index >= 2);
    CHECK_EQ(dlock_cluster_info(c, cl.s[0].addr, &ci), 0);
    CHECK_U64(ci.leader, 1);
    CHECK_EQ(dlock_cluster_info(c, "nohost", &ci), DLOCK_EINVAL);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* Bad arguments are refused before anything is sent. */
TEST(server, bad_arguments)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 99, 0, &s), DLOCK_EINVAL);
    CHECK_EQ(dlock_session_open(c, 3600001, 0, &s), DLOCK_EINVAL);
    CHECK_EQ(dlock_session_open(c, 1000, 4, &s), DLOCK_EINVAL);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s, big, NULL, &l), DLOCK_ELIMIT);
    CHECK_EQ(dlock_lock_acquire(s, "", NULL, &l), DLOCK_EINVAL);
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.owner = big;
    CHECK_EQ(dlock_lock_acquire(s, "x", &o, &l), DLOCK_ELIMIT);
    o.owner = NULL;
    o.wait_ms = 86400001;
    CHECK_EQ(dlock_lock_acquire(s, "x", &o, &l), DLOCK_EINVAL);
    dlock_client_free(c);
    ct_stop(&cl);
}

static atomic_int lost_calls;

static void on_lost(struct dlock_session *s, void *arg)
{
    CHECK(arg == &lost_calls);
    CHECK(dlock_session_lost(s));
    atomic_fetch_add(&lost_calls, 1);
}

/* A session whose keepalives stop (a NO_THREAD session never processed) is
 * lost once its safe-until passes: its locks report lost with safe-until
 * 0, the callback runs once, release says DLOCK_ELOST, acquire
 * DLOCK_ENOSESSION. */
TEST(server, lost_without_keepalives)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 300, DLOCK_SESSION_NO_THREAD, &s), 0);
    dlock_session_on_lost(s, on_lost, &lost_calls);
    struct dlock_lock *l, *m;
    CHECK_EQ(dlock_lock_acquire(s, "fragile", NULL, &l), 0);
    CHECK(!dlock_lock_lost(l));
    CHECK(dlock_lock_safe_until(l) > dlock_now_ms());
    ct_sleep_ms(300);
    CHECK(dlock_session_lost(s));
    CHECK(dlock_lock_lost(l));
    CHECK_U64(dlock_lock_safe_until(l), 0);
    CHECK_EQ(atomic_load(&lost_calls), 0);
    CHECK_EQ(dlock_client_process(c), 0);
    CHECK_EQ(atomic_load(&lost_calls), 1);
    CHECK_EQ(dlock_client_process(c), 0);
    CHECK_EQ(atomic_load(&lost_calls), 1);
    CHECK_U64(dlock_session_safe_until(s), 0);
    CHECK_EQ(dlock_lock_acquire(s, "other", NULL, &m), DLOCK_ENOSESSION);
    CHECK_EQ(dlock_lock_release(l), DLOCK_ELOST);
    CHECK_EQ(atomic_load(&lost_calls), 1);
    dlock_session_close(s);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* The keepalive thread keeps a session alive well beyond its TTL: it is
 * not lost, its lock is still held, and safe-until moves on. */
TEST(server, keepalive_thread)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 600, 0, &s), 0);
    dlock_session_on_lost(s, on_lost, &lost_calls);
    uint64_t first = dlock_session_safe_until(s);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s, "kept", NULL, &l), 0);
    ct_sleep_ms(2500);
    CHECK(!dlock_session_lost(s));
    CHECK(!dlock_lock_lost(l));
    CHECK(dlock_session_safe_until(s) > first + 2000);
    CHECK(dlock_session_safe_until(s) > dlock_now_ms());
    struct dlock_lock_status st;
    status(c, "kept", &st);
    CHECK(st.held);
    CHECK_U64(st.session, dlock_session_id(s));
    CHECK_EQ(dlock_lock_release(l), 0);
    CHECK_EQ(atomic_load(&lost_calls), 0);
    CHECK_EQ(dlock_session_close(s), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* Runs a program's poll loop over the client for ms. */
static void poll_loop(struct dlock_client *c, uint64_t ms)
{
    uint64_t end = dlock_now_ms() + ms;
    for (uint64_t now; (now = dlock_now_ms()) < end;) {
        uint64_t dl = dlock_client_deadline(c);
        int fd = dlock_client_fd(c);
        struct pollfd p = {.fd = fd, .events = dlock_client_events(c)};
        uint64_t until = dl < end ? dl : end;
        int wait = until > now ? (int)(until - now) : 0;
        poll(&p, fd >= 0 ? 1 : 0, wait);
        CHECK_EQ(dlock_client_process(c), 0);
    }
}

/* A NO_THREAD session kept alive by a poll() loop over dlock_client_fd,
 * _events and _deadline outlives its TTL many times over. */
TEST(server, noloop_poll_loop)
{
    struct dlock_client *c = server_client();
    CHECK_EQ(dlock_client_fd(c), -1);
    CHECK_U64(dlock_client_deadline(c), UINT64_MAX);
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 600, DLOCK_SESSION_NO_THREAD, &s), 0);
    dlock_session_on_lost(s, on_lost, &lost_calls);
    CHECK(dlock_client_deadline(c) <= dlock_now_ms() + 200);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s, "looped", NULL, &l), 0);
    poll_loop(c, 2500);
    CHECK(dlock_client_fd(c) >= 0);
    CHECK(!dlock_session_lost(s));
    CHECK(dlock_session_safe_until(s) > dlock_now_ms());
    struct dlock_lock_status st;
    status(c, "looped", &st);
    CHECK(st.held);
    CHECK_EQ(atomic_load(&lost_calls), 0);
    CHECK_EQ(dlock_lock_release(l), 0);
    CHECK_EQ(dlock_session_close(s), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* A session the server ends (closed behind the client's back) is lost at
 * its next keepalive (NOSESSION), long before its safe-until, and its
 * callback runs once. */
TEST(server, nosession_from_server)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 3000, DLOCK_SESSION_NO_THREAD, &s), 0);
    dlock_session_on_lost(s, on_lost, &lost_calls);
    char sid[24];
    snprintf(sid, sizeof sid, "%llu", (unsigned long long)dlock_session_id(s));
    const char *argv[] = {"SESSION.CLOSE", sid};
    struct call k;
    call_init(&k, c, 2, argv, 0);
    struct conn *conn;
    const struct resp_value *v;
    CHECK_EQ(call_run(c, &k, &conn, &v), 0);
    call_done(c, conn);
    poll_loop(c, 1500);
    CHECK(dlock_session_lost(s));
    CHECK_EQ(atomic_load(&lost_calls), 1);
    CHECK_EQ(dlock_session_close(s), DLOCK_ENOSESSION);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* Closing a session releases its locks at the server; their handles stay
 * valid, report lost, and release with DLOCK_ELOST. Freeing the client
 * closes the sessions left open. */
TEST(server, close_releases)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s, *t;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &t), 0);
    struct dlock_lock *l, *m;
    CHECK_EQ(dlock_lock_acquire(s, "closing", NULL, &l), 0);
    CHECK_EQ(dlock_lock_acquire(t, "left-open", NULL, &m), 0);
    CHECK_EQ(dlock_session_close(s), 0);
    CHECK(dlock_lock_lost(l));
    CHECK_U64(dlock_lock_safe_until(l), 0);
    struct dlock_lock_status st;
    status(c, "closing", &st);
    CHECK(!st.held);
    CHECK_EQ(dlock_lock_release(l), DLOCK_ELOST);
    dlock_client_free(c);
    c = ct_client(&cl, 3000);
    status(c, "left-open", &st);
    CHECK(!st.held);
    dlock_client_free(c);
    ct_stop(&cl);
}

#define N_THREADS 16
#define ROUNDS 25

struct worker {
    struct dlock_session *s;
    int index;
    int errors;
};

static atomic_int inside;     /* threads inside the shared lock now */
static atomic_int violations; /* times one found another inside */
static int counter;           /* guarded by the shared lock only */

static void *work(void *p)
{
    struct worker *w = p;
    char mine[32];
    snprintf(mine, sizeof mine, "own-%d", w->index);
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 30000;
    for (int i = 0; i < ROUNDS; i++) {
        struct dlock_lock *l, *m;
        if (dlock_lock_acquire(w->s, mine, NULL, &m) != 0 ||
            dlock_lock_acquire(w->s, "shared", &o, &l) != 0) {
            w->errors++;
            return NULL;
        }
        if (atomic_fetch_add(&inside, 1) != 0)
            atomic_fetch_add(&violations, 1);
        int seen = counter;
        ct_sleep_ms(1);
        counter = seen + 1;
        atomic_fetch_sub(&inside, 1);
        w->errors += dlock_lock_release(l) != 0;
        w->errors += dlock_lock_release(m) != 0;
    }
    return NULL;
}

/* Sixteen threads of one client, on two sessions, acquire and release
 * their own locks and one shared lock concurrently: every call succeeds,
 * no two are ever inside the shared lock, and no increment is lost. */
TEST_TIMEOUT(server, many_threads, 120)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s[2];
    CHECK_EQ(dlock_session_open(c, 5000, 0, &s[0]), 0);
    CHECK_EQ(dlock_session_open(c, 5000, 0, &s[1]), 0);
    struct worker w[N_THREADS];
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){.s = s[i % 2], .index = i};
        CHECK_EQ(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(w[i].errors, 0);
    }
    CHECK_EQ(atomic_load(&violations), 0);
    CHECK_EQ(counter, N_THREADS * ROUNDS);
    struct dlock_lock_status *st;
    size_t n;
    CHECK_EQ(dlock_lock_list(c, NULL, 100, &st, &n), 0);
    for (size_t i = 0; i < n; i++)
        CHECK(!st[i].held);
    free(st);
    dlock_client_free(c);
    ct_stop(&cl);
}
