/* test_client_shared.c - libdlock's shared locks against one real dlockd:
 * readers that share, a writer that waits for them, downgrade, the UPGRADE
 * refusal, reentry per mode, the holders list and the loss of a shared
 * hold with its session. */
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
                   struct dlock_lock_status *st, struct dlock_lock_mode *m)
{
    CHECK_EQ(dlock_lock_status_mode(c, name, st, m), 0);
    CHECK_STR(st->name, name);
}

static struct dlock_session *open_session(struct dlock_client *c)
{
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    return s;
}

/* Two sessions hold a lock shared at once, with tokens of their own; the
 * status says shared with 2 holders, the holders list shows both with a
 * shared hold each, an exclusive try-lock is refused, and releasing each
 * shared handle (RELEASE ... SHARED) frees the lock. */
TEST(shared, two_readers_at_once)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s1 = open_session(c), *s2 = open_session(c);
    struct dlock_session *s3 = open_session(c);
    struct dlock_lock *r1, *r2, *w;
    CHECK_EQ(dlock_lock_acquire_shared(s1, "prices", NULL, &r1), 0);
    CHECK_EQ(dlock_lock_acquire_shared(s2, "prices", NULL, &r2), 0);
    CHECK(dlock_lock_is_shared(r1) && dlock_lock_is_shared(r2));
    CHECK(dlock_lock_token(r2) > dlock_lock_token(r1));
    CHECK(!dlock_lock_lost(r1));
    CHECK_U64(dlock_lock_safe_until(r1), dlock_session_safe_until(s1));
    struct dlock_lock_status st;
    struct dlock_lock_mode m;
    status(c, "prices", &st, &m);
    CHECK(st.held);
    CHECK_EQ(m.mode, DLOCK_MODE_SHARED);
    CHECK_EQ(m.holders, 2);
    CHECK_U64(st.session, dlock_session_id(s1));
    struct dlock_holder *hs;
    size_t n;
    CHECK_EQ(dlock_lock_holders(c, "prices", 100, &hs, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_U64(hs[0].session, dlock_session_id(s1));
    CHECK_U64(hs[1].session, dlock_session_id(s2));
    CHECK_U64(hs[0].token, dlock_lock_token(r1));
    CHECK_U64(hs[1].token, dlock_lock_token(r2));
    CHECK_EQ(hs[0].shared, 1);
    CHECK_EQ(hs[0].exclusive, 0);
    CHECK(hs[1].lease_left_ms > 0 && hs[1].lease_left_ms <= 10000);
    free(hs);
    CHECK_EQ(dlock_lock_acquire(s3, "prices", NULL, &w), DLOCK_EHELD);
    CHECK_EQ(dlock_lock_release(r1), 0);
    status(c, "prices", &st, &m);
    CHECK_EQ(m.holders, 1);
    CHECK_EQ(dlock_lock_release(r2), 0);
    status(c, "prices", &st, &m);
    CHECK(!st.held);
    CHECK_EQ(m.mode, DLOCK_MODE_NONE);
    CHECK_EQ(dlock_lock_holders(c, "prices", 100, &hs, &n), 0);
    CHECK_EQ(n, 0);
    CHECK(hs == NULL);
    dlock_client_free(c);
    ct_stop(&cl);
}

struct waiter {
    struct dlock_session *s;
    const char *name;
    bool shared;
    struct dlock_lock *l;
    int rc;
    atomic_bool done;
};

static void *wait_for_lock(void *p)
{
    struct waiter *w = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 10000;
    w->rc = w->shared ? dlock_lock_acquire_shared(w->s, w->name, &o, &w->l)
                      : dlock_lock_acquire(w->s, w->name, &o, &w->l);
    atomic_store(&w->done, true);
    return NULL;
}

/* Until the lock has n waiters. */
static void wait_waiters(struct dlock_client *c, const char *name, uint32_t n)
{
    struct dlock_lock_status st;
    for (int i = 0; i < 500; i++) {
        CHECK_EQ(dlock_lock_status(c, name, &st), 0);
        if (st.waiters == n)
            return;
        ct_sleep_ms(10);
    }
    CHECK_MSG(false, "%s: %u waiters, not %u", name, (unsigned)st.waiters,
              (unsigned)n);
}

/* A writer that waits is not granted while two readers hold the lock, a
 * later reader queues behind it (a queued writer holds back later
 * readers: its try-lock is refused), and the writer is granted once both
 * readers released, with a token above theirs. */
TEST(shared, writer_waits_for_readers)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s1 = open_session(c), *s2 = open_session(c);
    struct dlock_session *s3 = open_session(c), *s4 = open_session(c);
    struct dlock_lock *r1, *r2, *r4;
    CHECK_EQ(dlock_lock_acquire_shared(s1, "book", NULL, &r1), 0);
    CHECK_EQ(dlock_lock_acquire_shared(s2, "book", NULL, &r2), 0);
    uint64_t readers_token = dlock_lock_token(r2);
    struct waiter w = {.s = s3, .name = "book"};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, wait_for_lock, &w), 0);
    wait_waiters(c, "book", 1);
    CHECK_EQ(dlock_lock_acquire_shared(s4, "book", NULL, &r4), DLOCK_EHELD);
    CHECK_EQ(dlock_lock_release(r1), 0);
    ct_sleep_ms(100);
    CHECK(!atomic_load(&w.done));
    CHECK_EQ(dlock_lock_release(r2), 0);
    pthread_join(t, NULL);
    CHECK_EQ(w.rc, 0);
    CHECK(!dlock_lock_is_shared(w.l));
    CHECK(dlock_lock_token(w.l) > readers_token);
    struct dlock_lock_status st;
    struct dlock_lock_mode m;
    status(c, "book", &st, &m);
    CHECK_EQ(m.mode, DLOCK_MODE_EXCLUSIVE);
    CHECK_U64(st.session, dlock_session_id(s3));
    CHECK_EQ(dlock_lock_release(w.l), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* A downgrade keeps the writer's token, turns its handle (and another
 * handle of the same owner) shared, and lets a queued reader in at once;
 * the downgraded handle then releases a shared hold. A second downgrade
 * of a shared handle is refused by the library. */
TEST(shared, downgrade_lets_reader_in)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s1 = open_session(c), *s2 = open_session(c);
    struct dlock_lock *wl, *wl2;
    CHECK_EQ(dlock_lock_acquire(s1, "catalog", NULL, &wl), 0);
    CHECK_EQ(dlock_lock_acquire(s1, "catalog", NULL, &wl2), 0);
    uint64_t token = dlock_lock_token(wl);
    struct waiter r = {.s = s2, .name = "catalog", .shared = true};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, wait_for_lock, &r), 0);
    wait_waiters(c, "catalog", 1);
    CHECK(!atomic_load(&r.done));
    CHECK_EQ(dlock_lock_downgrade(wl), 0);
    pthread_join(t, NULL);
    CHECK_EQ(r.rc, 0);
    CHECK(dlock_lock_token(r.l) > token);
    CHECK_U64(dlock_lock_token(wl), token);
    CHECK(dlock_lock_is_shared(wl));
    CHECK(dlock_lock_is_shared(wl2));
    CHECK_EQ(dlock_lock_downgrade(wl), DLOCK_EINVAL);
    struct dlock_holder *hs;
    size_t n;
    CHECK_EQ(dlock_lock_holders(c, "catalog", 100, &hs, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_U64(hs[0].token, token);
    CHECK_EQ(hs[0].exclusive, 0);
    CHECK_EQ(hs[0].shared, 2);
    free(hs);
    CHECK_EQ(dlock_lock_release(wl), 0);
    CHECK_EQ(dlock_lock_release(wl2), 0);
    CHECK_EQ(dlock_lock_release(r.l), 0);
    struct dlock_lock_status st;
    CHECK_EQ(dlock_lock_status(c, "catalog", &st), 0);
    CHECK(!st.held);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* An exclusive acquire by an owner that holds the lock shared only is
 * refused at once with DLOCK_EUPGRADE (also with a wait), and the shared
 * hold stays; after its release the exclusive acquire is granted. */
TEST(shared, upgrade_refused)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s = open_session(c);
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.owner = "reader";
    struct dlock_lock *r, *w;
    CHECK_EQ(dlock_lock_acquire_shared(s, "ledger", &o, &r), 0);
    o.wait_ms = 5000;
    uint64_t t0 = dlock_now_ms();
    CHECK_EQ(dlock_lock_acquire(s, "ledger", &o, &w), DLOCK_EUPGRADE);
    CHECK(dlock_now_ms() - t0 < 2000);
    CHECK(strstr(dlock_errmsg(c), "UPGRADE") != NULL);
    CHECK(strncmp(dlock_strerror(DLOCK_EUPGRADE), "DLOCK_EUPGRADE:", 15) == 0);
    struct dlock_lock_mode m;
    struct dlock_lock_status st;
    status(c, "ledger", &st, &m);
    CHECK_EQ(m.mode, DLOCK_MODE_SHARED);
    CHECK_EQ(dlock_lock_release(r), 0);
    CHECK_EQ(dlock_lock_acquire(s, "ledger", &o, &w), 0);
    CHECK(!dlock_lock_is_shared(w));
    CHECK_EQ(dlock_lock_release(w), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* Shared acquires by one owner are reentrant: the same token, one holder
 * with two shared holds, each release takes one away. A writer may read
 * too: its shared acquire keeps its token, and its two handles release
 * their own modes. */
TEST(shared, reentrant_per_mode)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s = open_session(c);
    struct dlock_lock *a, *b;
    CHECK_EQ(dlock_lock_acquire_shared(s, "re", NULL, &a), 0);
    CHECK_EQ(dlock_lock_acquire_shared(s, "re", NULL, &b), 0);
    CHECK_U64(dlock_lock_token(a), dlock_lock_token(b));
    struct dlock_holder *hs;
    size_t n;
    CHECK_EQ(dlock_lock_holders(c, "re", 100, &hs, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(hs[0].shared, 2);
    free(hs);
    CHECK_EQ(dlock_lock_release(a), 0);
    struct dlock_lock_status st;
    struct dlock_lock_mode m;
    status(c, "re", &st, &m);
    CHECK(st.held);
    CHECK_EQ(m.mode, DLOCK_MODE_SHARED);
    CHECK_EQ(dlock_lock_release(b), 0);
    status(c, "re", &st, &m);
    CHECK(!st.held);
    struct dlock_lock *w, *r;
    CHECK_EQ(dlock_lock_acquire(s, "re", NULL, &w), 0);
    CHECK_EQ(dlock_lock_acquire_shared(s, "re", NULL, &r), 0);
    CHECK_U64(dlock_lock_token(r), dlock_lock_token(w));
    CHECK_EQ(dlock_lock_release(w), 0);
    status(c, "re", &st, &m);
    CHECK_EQ(m.mode, DLOCK_MODE_SHARED);
    CHECK_EQ(dlock_lock_release(r), 0);
    status(c, "re", &st, &m);
    CHECK(!st.held);
    dlock_client_free(c);
    ct_stop(&cl);
}

static atomic_int lost_calls;

static void on_lost(struct dlock_session *s, void *arg)
{
    CHECK(dlock_session_lost(s));
    atomic_fetch_add(&lost_calls, 1);
}

/* A shared hold whose session's keepalives stop is lost with it: its
 * handle reports lost with safe-until 0, the callback runs, release says
 * DLOCK_ELOST, a downgrade too; once the server expires the session the
 * lock is free for a writer (after its lock-delay). */
TEST(shared, lost_with_session)
{
    struct dlock_client *c = server_client();
    struct dlock_session *s, *t = open_session(c);
    CHECK_EQ(dlock_session_open(c, 300, DLOCK_SESSION_NO_THREAD, &s), 0);
    dlock_session_on_lost(s, on_lost, NULL);
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.delay_ms = 0;
    struct dlock_lock *r, *w;
    CHECK_EQ(dlock_lock_acquire_shared(s, "fragile", &o, &r), 0);
    CHECK(!dlock_lock_lost(r));
    ct_sleep_ms(300);
    CHECK(dlock_lock_lost(r));
    CHECK_U64(dlock_lock_safe_until(r), 0);
    CHECK_EQ(dlock_client_process(c), 0);
    CHECK_EQ(atomic_load(&lost_calls), 1);
    o.wait_ms = 5000;
    CHECK_EQ(dlock_lock_acquire(t, "fragile", &o, &w), 0);
    CHECK_EQ(dlock_lock_release(r), DLOCK_ELOST);
    CHECK_EQ(dlock_lock_release(w), 0);
    dlock_session_close(s);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* The holders of a lock shared by many sessions, some with several
 * owners, come all and in order (session, then owner), and max bounds
 * them. */
TEST(shared, holders_list_and_max)
{
    struct dlock_client *c = server_client();
    enum { SESSIONS = 12 };
    struct dlock_session *ss[SESSIONS];
    struct dlock_lock *ls[SESSIONS * 2];
    size_t nl = 0;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    for (int i = 0; i < SESSIONS; i++) {
        ss[i] = open_session(c);
        o.owner = "o-b";
        CHECK_EQ(dlock_lock_acquire_shared(ss[i], "wide", &o, &ls[nl++]), 0);
        if (i % 3 == 0) {
            o.owner = "o-a";
            CHECK_EQ(dlock_lock_acquire_shared(ss[i], "wide", &o, &ls[nl++]),
                     0);
        }
    }
    struct dlock_holder *hs;
    size_t n;
    CHECK_EQ(dlock_lock_holders(c, "wide", 1000, &hs, &n), 0);
    CHECK_EQ(n, nl);
    for (size_t i = 1; i < n; i++)
        CHECK(hs[i - 1].session < hs[i].session ||
              (hs[i - 1].session == hs[i].session &&
               strcmp(hs[i - 1].owner, hs[i].owner) < 0));
    CHECK_STR(hs[0].owner, "o-a");
    CHECK_STR(hs[1].owner, "o-b");
    free(hs);
    CHECK_EQ(dlock_lock_holders(c, "wide", 3, &hs, &n), 0);
    CHECK_EQ(n, 3);
    free(hs);
    CHECK_EQ(dlock_lock_holders(c, "", 3, &hs, &n), DLOCK_EINVAL);
    for (size_t i = 0; i < nl; i++)
        CHECK_EQ(dlock_lock_release(ls[i]), 0);
    dlock_client_free(c);
    ct_stop(&cl);
}
