/* test_client_observe.c - libdlock's observers of an election against real
 * dlockd: the first report is the leader read at the start, then one report
 * per revision that changes the leader or its value (a proclaim, a resign,
 * a handover as one report, a session's expiry and the next leader after
 * its lock-delay), in order of revision; an observer stopped from its
 * callback; one that goes on from another server of a 3-server cluster
 * after a kill -9 of the one it reads from, missing nothing; and one that
 * finds its history gone after a restart and reads the leader again. */
#include <inttypes.h>
#include <pthread.h>

#include "client/client_internal.h"
#include "client_test.h"

static struct ct_cluster cl;

/* One report. */
struct report {
    uint64_t revision;
    struct dlock_leader_info li;
};

/* The reports an observer made. */
struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct report *a;
    size_t n, cap;
    struct dlock_observe *o; /* to stop from the callback at stop_at */
    size_t stop_at;
    size_t block_at; /* the report that waits until open (0: none) */
    bool open;
};

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
}

static void seen_close(struct seen *s)
{
    free(s->a);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
}

static void on_leader(void *arg, uint64_t revision,
                      const struct dlock_leader_info *li)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->a = realloc(s->a, s->cap * sizeof *s->a);
    }
    s->a[s->n].revision = revision;
    s->a[s->n++].li = *li;
    bool stop = s->stop_at > 0 && s->n == s->stop_at;
    while (s->block_at > 0 && s->n == s->block_at && !s->open)
        pthread_cond_wait(&s->cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (stop)
        dlock_observe_stop(s->o);
}

static size_t seen_n(struct seen *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Waits up to 15 s for n reports. */
static void seen_wait(struct seen *s, size_t n)
{
    for (int i = 0; i < 1500 && seen_n(s) < n; i++)
        ct_sleep_ms(10);
    CHECK_MSG(seen_n(s) >= n, "%zu reports, not %zu", seen_n(s), n);
}

/* Report i: leader session (0: none), token and value; its revision after
 * the one before. */
static void check_report(struct seen *s, size_t i, uint64_t session,
                         uint64_t token, const char *value)
{
    pthread_mutex_lock(&s->mu);
    const struct report r = s->a[i];
    uint64_t before = i > 0 ? s->a[i - 1].revision : 0;
    pthread_mutex_unlock(&s->mu);
    fprintf(stderr,
            "report %zu: revision %" PRIu64 " leader %" PRIu64 " token %" PRIu64
            " value '%s'\n",
            i, r.revision, r.li.leader, r.li.token, r.li.value);
    CHECK_U64(r.li.leader, session);
    CHECK_U64(r.li.token, token);
    CHECK_STR(r.li.value, value);
    CHECK_EQ(r.li.value_len, strlen(value));
    CHECK_STR(r.li.name, "ops");
    if (session == 0)
        CHECK_STR(r.li.owner, "");
    if (i > 0)
        CHECK_MSG(r.revision > before, "revision %" PRIu64 " after %" PRIu64,
                  r.revision, before);
}

struct candidate {
    struct dlock_session *s;
    const char *value;
    int rc;
    struct dlock_leadership *l;
};

static void *campaign_run(void *p)
{
    struct candidate *k = p;
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 20000;
    k->rc = dlock_campaign(k->s, "ops", k->value, strlen(k->value), &o, &k->l);
    return NULL;
}

/* Until the election ops has a candidate waiting. */
static void wait_candidate(struct dlock_client *c)
{
    struct dlock_leader_info li;
    for (int i = 0; i < 500; i++) {
        CHECK_EQ(dlock_leader(c, "ops", &li), 0);
        if (li.candidates > 0)
            return;
        ct_sleep_ms(10);
    }
    CHECK_MSG(false, "no candidate");
}

/* An election nobody leads is first reported as none; then a leader, its
 * proclaim (one of the same value is not reported), a handover to the
 * waiting candidate as one report of the new leader, no leader when that
 * one resigns, and a leader whose session expires: no leader during its
 * lock-delay, then the candidate that waited. Each with its session,
 * token and value, in order of revision, and nothing else. A name that is
 * a lock's, or empty, is refused. */
TEST(observe, leaders_in_order)
{
    ct_cluster_start(&cl, 1);
    struct dlock_client *c = ct_client(&cl, 3000);
    struct seen seen;
    seen_init(&seen);
    struct dlock_observe *o;
    struct dlock_session *s1, *s2, *s3, *s4;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s1), 0);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s2), 0);
    CHECK_EQ(dlock_session_open(c, 300, DLOCK_SESSION_NO_THREAD, &s3), 0);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s4), 0);
    struct dlock_lock *lk;
    CHECK_EQ(dlock_lock_acquire(s1, "lk", NULL, &lk), 0);
    CHECK_EQ(dlock_observe_start(c, "", on_leader, &seen, &o), DLOCK_EINVAL);
    CHECK_EQ(dlock_observe_start(c, "lk", on_leader, &seen, &o), DLOCK_EINVAL);
    CHECK_EQ(seen_n(&seen), 0);
    CHECK_EQ(dlock_observe_start(c, "ops", on_leader, &seen, &o), 0);
    CHECK_EQ(seen_n(&seen), 1); /* made before the start returned */
    check_report(&seen, 0, 0, 0, "");

    struct dlock_leadership *a;
    CHECK_EQ(dlock_campaign(s1, "ops", "a", 1, NULL, &a), 0);
    seen_wait(&seen, 2);
    check_report(&seen, 1, dlock_session_id(s1), dlock_leadership_token(a),
                 "a");
    CHECK_EQ(dlock_proclaim(a, "a2", 2), 0);
    CHECK_EQ(dlock_proclaim(a, "a2", 2), 0);
    seen_wait(&seen, 3);
    check_report(&seen, 2, dlock_session_id(s1), dlock_leadership_token(a),
                 "a2");

    struct candidate b = {.s = s2, .value = "b"};
    pthread_t th;
    pthread_create(&th, NULL, campaign_run, &b);
    wait_candidate(c);
    CHECK_EQ(dlock_resign(a), 0);
    pthread_join(th, NULL);
    CHECK_EQ(b.rc, 0);
    seen_wait(&seen, 4);
    check_report(&seen, 3, dlock_session_id(s2), dlock_leadership_token(b.l),
                 "b");
    CHECK_EQ(dlock_resign(b.l), 0);
    seen_wait(&seen, 5);
    check_report(&seen, 4, 0, 0, "");

    /* s3 is kept alive by nobody: it expires 300 ms on. */
    struct dlock_acquire_options ao;
    dlock_acquire_options_init(&ao);
    ao.delay_ms = 500;
    struct dlock_leadership *e;
    CHECK_EQ(dlock_campaign(s3, "ops", "c", 1, &ao, &e), 0);
    struct candidate d = {.s = s4, .value = "d"};
    pthread_create(&th, NULL, campaign_run, &d);
    seen_wait(&seen, 6);
    check_report(&seen, 5, dlock_session_id(s3), dlock_leadership_token(e),
                 "c");
    pthread_join(th, NULL);
    CHECK_EQ(d.rc, 0);
    seen_wait(&seen, 8);
    check_report(&seen, 6, 0, 0, "");
    check_report(&seen, 7, dlock_session_id(s4), dlock_leadership_token(d.l),
                 "d");
    CHECK(dlock_leadership_token(d.l) > dlock_leadership_token(e));
    ct_sleep_ms(300);
    CHECK_EQ(seen_n(&seen), 8);
    dlock_observe_stop(o);
    dlock_observe_stop(NULL);
    CHECK_EQ(dlock_resign(d.l), 0);
    int rc = dlock_resign(e);
    CHECK_MSG(rc == DLOCK_ELOST || rc == DLOCK_ENOTHELD, "resign: %s",
              dlock_strerror(rc));
    CHECK_EQ(dlock_lock_release(lk), 0);
    seen_close(&seen);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* An observer stopped from its own callback reports nothing after it, and
 * one stopped from another thread returns at once. */
TEST(observe, stop_from_callback)
{
    ct_cluster_start(&cl, 1);
    struct dlock_client *c = ct_client(&cl, 3000);
    struct seen seen;
    seen_init(&seen);
    seen.stop_at = 2;
    CHECK_EQ(dlock_observe_start(c, "ops", on_leader, &seen, &seen.o), 0);
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s), 0);
    for (int i = 0; i < 3; i++) {
        struct dlock_leadership *l;
        CHECK_EQ(dlock_campaign(s, "ops", "v", 1, NULL, &l), 0);
        CHECK_EQ(dlock_resign(l), 0);
    }
    seen_wait(&seen, 2);
    ct_sleep_ms(300);
    CHECK_EQ(seen_n(&seen), 2);

    struct seen other;
    seen_init(&other);
    struct dlock_observe *o;
    CHECK_EQ(dlock_observe_start(c, "ops", on_leader, &other, &o), 0);
    uint64_t t0 = dlock_now_ms();
    dlock_observe_stop(o);
    CHECK_MSG(dlock_now_ms() - t0 < 1000, "stop took %" PRIu64 " ms",
              dlock_now_ms() - t0);
    CHECK_EQ(seen_n(&other), 1);
    seen_close(&other);
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
        struct dlock_leadership *l;
        char v[24];
        snprintf(v, sizeof v, "v%zu", wr->n);
        wr->rc = dlock_campaign(wr->s, "ops", v, strlen(v), NULL, &l);
        if (wr->rc != 0)
            return NULL;
        wr->tokens[wr->n++] = dlock_leadership_token(l);
        wr->rc = dlock_resign(l);
        if (wr->rc != 0)
            return NULL;
        ct_sleep_ms(5);
    }
    return NULL;
}

/* The server an observer reads from is killed (-9) while a writer is
 * elected and resigns again and again: the observer goes on from another
 * server, and over the whole run it reported each leader and each "no
 * leader" after it once, in order of revision, with its token and value:
 * nothing missed, nothing twice. */
TEST_TIMEOUT(observe, survives_kill_of_its_server, 120)
{
    ct_cluster_start(&cl, 3);
    struct dlock_client *c = ct_client(&cl, 10000);
    struct seen seen;
    seen_init(&seen);
    struct dlock_observe *o;
    CHECK_EQ(dlock_observe_start(c, "ops", on_leader, &seen, &o), 0);
    struct writer *wr = calloc(1, sizeof *wr);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &wr->s), 0);
    pthread_t th;
    pthread_create(&th, NULL, write_run, wr);
    seen_wait(&seen, 41);
    char addr[CLIENT_ADDR_MAX];
    pthread_mutex_lock(&o->w->mu);
    snprintf(addr, sizeof addr, "%s", o->w->addr);
    pthread_mutex_unlock(&o->w->mu);
    int victim = ct_server_at(&cl, addr);
    size_t before = seen_n(&seen);
    ct_kill(&cl, victim);
    seen_wait(&seen, before + 40);
    atomic_store(&wr->stop, true);
    pthread_join(th, NULL);
    CHECK_EQ(wr->rc, 0);
    seen_wait(&seen, 1 + 2 * wr->n);
    ct_sleep_ms(200);
    dlock_observe_stop(o);
    fprintf(stderr, "read from %s, killed; %zu reports, %zu terms\n", addr,
            seen.n, wr->n);
    CHECK_EQ(seen.n, 1 + 2 * wr->n);
    CHECK_U64(seen.a[0].li.leader, 0);
    for (size_t i = 0; i < wr->n; i++) {
        const struct report *l = &seen.a[1 + 2 * i], *n = &seen.a[2 + 2 * i];
        char v[24];
        snprintf(v, sizeof v, "v%zu", i);
        CHECK_U64(l->li.leader, dlock_session_id(wr->s));
        CHECK_U64(l->li.token, wr->tokens[i]);
        CHECK_STR(l->li.value, v);
        CHECK_U64(n->li.leader, 0);
        CHECK(seen.a[2 * i].revision < l->revision);
        CHECK(l->revision < n->revision);
    }
    CHECK_EQ(dlock_session_close(wr->s), 0);
    free(wr);
    seen_close(&seen);
    dlock_client_free(c);
    ct_stop(&cl);
}

/* An observer held up in its callback while its server restarts (keeping
 * 16 changes for watches) and the election changes, followed by more
 * changes than that: its watch goes on after a gone change, and the
 * observer reads the leader, reporting the new one (a later revision),
 * not the changes it missed. */
TEST_TIMEOUT(observe, gone_reads_the_leader, 60)
{
    const char *args[] = {"--watch-history", "16", NULL};
    ct_cluster_start_args(&cl, 1, args);
    struct dlock_client *c = ct_client(&cl, 3000);
    struct dlock_session *s1, *s2;
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s1), 0);
    CHECK_EQ(dlock_session_open(c, 10000, 0, &s2), 0);
    struct dlock_leadership *a, *b;
    CHECK_EQ(dlock_campaign(s1, "ops", "a", 1, NULL, &a), 0);
    struct seen seen;
    seen_init(&seen);
    seen.block_at = 2;
    struct dlock_observe *o;
    CHECK_EQ(dlock_observe_start(c, "ops", on_leader, &seen, &o), 0);
    check_report(&seen, 0, dlock_session_id(s1), dlock_leadership_token(a),
                 "a");
    CHECK_EQ(dlock_proclaim(a, "x", 1), 0);
    seen_wait(&seen, 2); /* and held there */
    check_report(&seen, 1, dlock_session_id(s1), dlock_leadership_token(a),
                 "x");
    ct_kill(&cl, 0);
    ct_start(&cl, 0);
    dlock_client_free(ct_client(&cl, 3000));
    CHECK_EQ(dlock_resign(a), 0);
    CHECK_EQ(dlock_campaign(s2, "ops", "b", 1, NULL, &b), 0);
    for (int i = 0; i < 12; i++) {
        struct dlock_lock *l;
        CHECK_EQ(dlock_lock_acquire(s1, "other", NULL, &l), 0);
        CHECK_EQ(dlock_lock_release(l), 0);
    }
    pthread_mutex_lock(&seen.mu);
    seen.open = true;
    pthread_cond_broadcast(&seen.cond);
    pthread_mutex_unlock(&seen.mu);
    seen_wait(&seen, 3);
    check_report(&seen, 2, dlock_session_id(s2), dlock_leadership_token(b),
                 "b");
    ct_sleep_ms(300);
    CHECK_EQ(seen_n(&seen), 3);
    dlock_observe_stop(o);
    CHECK_EQ(dlock_resign(b), 0);
    seen_close(&seen);
    dlock_client_free(c);
    ct_stop(&cl);
}
