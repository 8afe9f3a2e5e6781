/* test_client_watch.c - libdlock's watches against real dlockd: a grant, a
 * handover as released and granted at one revision, an election losing
 * its leader and the next, in order; a stop that does not wait for the
 * server; and a watch that goes on from another server of a 3-server
 * cluster after a kill -9 of the one it reads from, losing and repeating
 * nothing. */
#include <inttypes.h>
#include <pthread.h>

#include "client/client_internal.h"
#include "client_test.h"

static struct ct_cluster cl;

/* The changes a watch delivered. */
struct seen {
    pthread_mutex_t mu;
    struct dlock_change *a;
    size_t n, cap;
    struct dlock_watch *w; /* to stop from the callback at stop_at */
    size_t stop_at;
};

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
}

static void seen_close(struct seen *s)
{
    free(s->a);
    pthread_mutex_destroy(&s->mu);
}

static void on_change(void *arg, const struct dlock_change *ch)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->a = realloc(s->a, s->cap * sizeof *s->a);
    }
    s->a[s->n++] = *ch;
    bool stop = s->stop_at > 0 && s->n == s->stop_at;
    pthread_mutex_unlock(&s->mu);
    if (stop)
        dlock_watch_stop(s->w);
}

static size_t seen_n(struct seen *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Waits up to 15 s for n changes. */
static void seen_wait(struct seen *s, size_t n)
{
    for (int i = 0; i < 1500 && seen_n(s) < n; i++)
        ct_sleep_ms(10);
    CHECK_MSG(seen_n(s) >= n, "%zu changes, not %zu", seen_n(s), n);
}

static void check_change(const struct dlock_change *ch, int event,
                         uint64_t session, uint32_t holders)
{
    CHECK_STR(dlock_change_event_name(ch->event),
              dlock_change_event_name(event));
    CHECK_U64(ch->session, session);
    CHECK_EQ(ch->holders, holders);
}

struct waiter {
    struct dlock_session *s;
    const char *name;
    bool elect;
    int rc;
    struct dlock_lock *l;
    struct dlock_leadership *e;
};

static void *wait_run(void *p)
{
    struct waiter *w = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 20000;
    w->rc = w->elect ? dlock_campaign(w->s, w->name, "b", 1, &o, &w->e)
                     : dlock_lock_acquire(w->s, w->name, &o, &w->l);
    return NULL;
}

/* Until the lock name has a waiter. */
static void wait_waiter(struct dlock_client *c, const char *name)
{
    struct dlock_lock_status st;
    for (int i = 0; i < 500; i++) {
        if (dlock_lock_status(c, name, &st) == 0 && st.waiters > 0)
            return;
        ct_sleep_ms(10);
    }
    CHECK_MSG(false, "no waiter on %s", name);
}

/* A grant, then a handover to a waiter: released and granted at one
 * revision, in that order, after the grant's. */
TEST(watch, grant_and_handover)
{
    ct_cluster_start(&cl, 1);
    struct dlock_client *c = ct_client(&cl, 3000);
    struct seen seen;
    seen_init(&seen);
    struct dlock_watch *w;
    CHECK_EQ(dlock_watch_start(c, "", 0, on_change, &seen, &w), DLOCK_EINVAL);
    CHECK_EQ(dlock_watch_start(c, "w", 0, on_change, &seen, &w), 0);
    struct dlock_session *s1, *s2;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s1), 0);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s2), 0);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s1, "w", NULL, &l), 0);
    struct waiter wt = {.s = s2, .name = "w"};
    pthread_t th;
    pthread_create(&th, NULL, wait_run, &wt);
    wait_waiter(c, "w");
    CHECK_EQ(dlock_lock_release(l), 0);
    pthread_join(th, NULL);
    CHECK_EQ(wt.rc, 0);
    seen_wait(&seen, 3);
    dlock_watch_stop(w);
    CHECK_EQ(seen.n, 3);
    check_change(&seen.a[0], DLOCK_CHANGE_GRANTED, dlock_session_id(s1), 1);
    CHECK(seen.a[0].token < dlock_lock_token(wt.l));
    check_change(&seen.a[1], DLOCK_CHANGE_RELEASED, dlock_session_id(s1), 0);
    check_change(&seen.a[2], DLOCK_CHANGE_GRANTED, dlock_session_id(s2), 1);
    CHECK_U64(seen.a[2].token, dlock_lock_token(wt.l));
    CHECK(seen.a[0].revision < seen.a[1].revision);
    CHECK_U64(seen.a[1].revision, seen.a[2].revision);
    CHECK_STR(seen.a[0].name, "w");
    CHECK_EQ(dlock_lock_release(wt.l), 0);
    seen_close(&seen);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* An election: a leader, its proclaim, a handover to the next candidate
 * when it resigns, and no leader (holders 0) when that one resigns too; a
 * watch from now sees only what comes after it started. */
TEST(watch, election_leaders_in_order)
{
    ct_cluster_start(&cl, 1);
    struct dlock_client *c = ct_client(&cl, 3000);
    struct seen seen, later;
    seen_init(&seen);
    seen_init(&later);
    struct dlock_watch *w, *w2;
    CHECK_EQ(dlock_watch_start(c, "ops", 0, on_change, &seen, &w), 0);
    struct dlock_session *s1, *s2;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s1), 0);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s2), 0);
    struct dlock_leadership *a;
    CHECK_EQ(dlock_campaign(s1, "ops", "a", 1, NULL, &a), 0);
    CHECK_EQ(dlock_proclaim(a, "a2", 2), 0);
    seen_wait(&seen, 2);
    CHECK_EQ(
        dlock_watch_start(c, "ops", DLOCK_WATCH_NOW, on_change, &later, &w2),
        0);
    for (int i = 0; i < 500 && dlock_watch_revision(w2) == DLOCK_WATCH_NOW; i++)
        ct_sleep_ms(10);
    CHECK(dlock_watch_revision(w2) >= seen.a[1].revision);
    struct waiter wt = {.s = s2, .name = "ops", .elect = true};
    pthread_t th;
    pthread_create(&th, NULL, wait_run, &wt);
    struct dlock_leader_info li;
    for (int i = 0; i < 500; i++) {
        CHECK_EQ(dlock_leader(c, "ops", &li), 0);
        if (li.candidates > 0)
            break;
        ct_sleep_ms(10);
    }
    CHECK_EQ(dlock_resign(a), 0);
    pthread_join(th, NULL);
    CHECK_EQ(wt.rc, 0);
    CHECK_EQ(dlock_resign(wt.e), 0);
    seen_wait(&seen, 5);
    seen_wait(&later, 3);
    dlock_watch_stop(w);
    dlock_watch_stop(w2);
    CHECK_EQ(seen.n, 5);
    check_change(&seen.a[0], DLOCK_CHANGE_GRANTED, dlock_session_id(s1), 1);
    CHECK_STR(seen.a[0].value, "a");
    check_change(&seen.a[1], DLOCK_CHANGE_PROCLAIMED, dlock_session_id(s1), 1);
    CHECK_STR(seen.a[1].value, "a2");
    check_change(&seen.a[2], DLOCK_CHANGE_RELEASED, dlock_session_id(s1), 0);
    check_change(&seen.a[3], DLOCK_CHANGE_GRANTED, dlock_session_id(s2), 1);
    CHECK_STR(seen.a[3].value, "b");
    CHECK_U64(seen.a[2].revision, seen.a[3].revision);
    check_change(&seen.a[4], DLOCK_CHANGE_RELEASED, dlock_session_id(s2), 0);
    CHECK(seen.a[4].revision > seen.a[3].revision);
    CHECK_EQ(later.n, 3);
    for (size_t i = 0; i < 3; i++) {
        CHECK_U64(later.a[i].revision, seen.a[i + 2].revision);
        CHECK_EQ(later.a[i].event, seen.a[i + 2].event);
    }
    seen_close(&seen);
    seen_close(&later);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* A stop returns without waiting for the server (its wait is cut); a
 * watch stopped from its own callback gets no change after it. */
TEST(watch, stop_is_prompt)
{
    ct_cluster_start(&cl, 1);
    struct dlock_client *c = ct_client(&cl, 3000);
    struct seen seen;
    seen_init(&seen);
    struct dlock_watch *w;
    CHECK_EQ(dlock_watch_start(c, "quiet", 0, on_change, &seen, &w), 0);
    ct_sleep_ms(300);
    uint64_t t0 = dlock_now_ms();
    dlock_watch_stop(w);
    uint64_t took = dlock_now_ms() - t0;
    fprintf(stderr, "stop took %" PRIu64 " ms\n", took);
    CHECK_MSG(took < 1000, "stop took %" PRIu64 " ms", took);
    dlock_watch_stop(NULL);

    seen.stop_at = 1;
    CHECK_EQ(dlock_watch_start(c, "busy", 0, on_change, &seen, &seen.w), 0);
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    for (int i = 0; i < 3; i++) {
        struct dlock_lock *l;
        CHECK_EQ(dlock_lock_acquire(s, "busy", NULL, &l), 0);
        CHECK_EQ(dlock_lock_release(l), 0);
    }
    seen_wait(&seen, 1);
    ct_sleep_ms(300);
    CHECK_EQ(seen_n(&seen), 1);
    seen_close(&seen);
    dlock_client_free(c);
    ct_stop(&cl);
}

struct writer {
    struct dlock_session *s;
    atomic_bool stop;
    uint64_t tokens[4096];
    size_t n;
    int rc;
};

static void *write_run(void *p)
{
    struct writer *wr = p;
    while (!atomic_load(&wr->stop) && wr->n < 4096) {
        struct dlock_lock *l;
        wr->rc = dlock_lock_acquire(wr->s, "k", NULL, &l);
        if (wr->rc != 0)
            return NULL;
        wr->tokens[wr->n++] = dlock_lock_token(l);
        wr->rc = dlock_lock_release(l);
        if (wr->rc != 0)
            return NULL;
        ct_sleep_ms(5);
    }
    return NULL;
}

/* The server a watch reads from is killed (-9) while a writer takes and
 * gives back a lock: the watch goes on from another server, and over the
 * whole run it delivered each grant and release once, in order of
 * revision, with no gap (every token the writer got, granted then
 * released). */
TEST_TIMEOUT(watch, survives_kill_of_its_server, 120)
{
    ct_cluster_start(&cl, 3);
    struct dlock_client *c = ct_client(&cl, 10000);
    struct seen seen;
    seen_init(&seen);
    struct dlock_watch *w;
    CHECK_EQ(dlock_watch_start(c, "k", 0, on_change, &seen, &w), 0);
    struct writer *wr = calloc(1, sizeof *wr);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &wr->s), 0);
    pthread_t th;
    pthread_create(&th, NULL, write_run, wr);
    seen_wait(&seen, 40);
    char addr[CLIENT_ADDR_MAX];
    pthread_mutex_lock(&w->mu);
    snprintf(addr, sizeof addr, "%s", w->addr);
    pthread_mutex_unlock(&w->mu);
    int victim = ct_server_at(&cl, addr);
    size_t before = seen_n(&seen);
    ct_kill(&cl, victim);
    seen_wait(&seen, before + 40);
    atomic_store(&wr->stop, true);
    pthread_join(th, NULL);
    CHECK_EQ(wr->rc, 0);
    seen_wait(&seen, 2 * wr->n);
    ct_sleep_ms(200);
    dlock_watch_stop(w);
    fprintf(stderr, "read from %s, killed; %zu changes, %zu cycles\n", addr,
            seen.n, wr->n);
    CHECK_EQ(seen.n, 2 * wr->n);
    for (size_t i = 0; i < wr->n; i++) {
        const struct dlock_change *g = &seen.a[2 * i], *r = &seen.a[2 * i + 1];
        CHECK_EQ(g->event, DLOCK_CHANGE_GRANTED);
        CHECK_EQ(r->event, DLOCK_CHANGE_RELEASED);
        CHECK_U64(g->token, wr->tokens[i]);
        CHECK_U64(r->token, wr->tokens[i]);
        CHECK(g->revision < r->revision);
        if (i > 0)
            CHECK(seen.a[2 * i - 1].revision < g->revision);
    }
    CHECK_EQ(dlock_session_close(wr->s), 0);
    free(wr);
    seen_close(&seen);
    dlock_client_free(c);
    ct_stop(&cl);
}
