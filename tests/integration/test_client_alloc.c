/* test_client_alloc.c - libdlock with a failing allocator: every
 * constructor and every call, with its Nth allocation failing for N = 1,
 * 2, ... until it succeeds without a failure, returns DLOCK_ENOMEM or
 * succeeds, leaks nothing and crashes nothing (against a real dlockd). */
#include <poll.h>

#include "client/client_internal.h"
#include "client_test.h"

static struct ct_cluster cl;

/* What a step works on: the objects made before it, without failures. */
struct ctx {
    struct dlock_client *c;
    struct dlock_session *s;
    struct dlock_lock *l;
    struct dlock_sem *sem;
    struct dlock_leadership *lead;
    uint64_t token;
    char lease[32]; /* a lease lock's name, new for each run */
    unsigned flags;
    uint64_t ttl_ms; /* of the session */
};

typedef int (*step_fn)(struct ctx *x);

/* A flag of each_failure: sessions of a short TTL (keepalives are due
 * every 100 ms). */
#define FAST 0x100

static struct dlock_client *new_client(void)
{
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = cl.addrs;
    o.timeout_ms = 3000;
    o.name = "alloc";
    struct dlock_client *c;
    CHECK_EQ(dlock_client_new(&o, &c), 0);
    return c;
}

/* Runs step with allocation n failing, for n = 1, 2, ..., each time on
 * objects set up afresh by setup, and frees them with teardown: the step
 * returns 0 or DLOCK_ENOMEM, and afterwards no block is live. Stops when
 * the step succeeds having made fewer than n allocations. */
static void each_failure(const char *what, void (*setup)(struct ctx *),
                         step_fn step, void (*teardown)(struct ctx *),
                         unsigned flags)
{
    int nomem = 0;
    for (long n = 1;; n++) {
        CHECK_MSG(n < 2000, "%s: never succeeds", what);
        static int runs;
        struct ctx x = {.flags = flags & ~FAST, .ttl_ms = 10000};
        if (flags & FAST)
            x.ttl_ms = 300;
        snprintf(x.lease, sizeof x.lease, "lease-%d", ++runs);
        ct_fail_at(0);
        setup(&x);
        ct_fail_at(n);
        int rc = step(&x);
        long calls = atomic_load(&ct_calls);
        ct_fail_at(0);
        CHECK_MSG(rc == 0 || rc == DLOCK_ENOMEM,
                  "%s with allocation %ld failing: %s (%s)", what, n,
                  dlock_strerror(rc), dlock_errmsg(x.c));
        if (rc == DLOCK_ENOMEM) {
            nomem++;
            CHECK_MSG(dlock_errmsg(x.c)[0] != '\0' || x.c == NULL,
                      "%s: no message", what);
        }
        teardown(&x);
        CHECK_MSG(atomic_load(&ct_live) == 0, "%s, allocation %ld: %ld leaked",
                  what, n, (long)atomic_load(&ct_live));
        if (rc == 0 && calls < n)
            break;
    }
    CHECK_MSG(nomem > 0, "%s: no allocation failed", what);
}

static void set_nothing(struct ctx *x)
{
}

static void set_client(struct ctx *x)
{
    x->c = new_client();
}

/* Until the keeper thread of s has watched its holds and has nothing in
 * flight: its allocations are then over, and do not take a failure meant
 * for the step (they come again only at the next keepalive). */
static void keeper_settle(struct dlock_session *s)
{
    struct keeper *k = s->k;
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&k->mu);
        bool idle =
            !k->has_thread || ((s->watched || k->no_push) && k->n_fly == 0 &&
                               k->conn != NULL && !k->conn->connecting);
        pthread_mutex_unlock(&k->mu);
        if (idle)
            return;
        ct_sleep_ms(10);
    }
    CHECK_MSG(false, "the keeper did not settle in 5 s");
}

static void set_session(struct ctx *x)
{
    x->c = new_client();
    CHECK_EQ(dlock_session_open(x->c, x->ttl_ms, x->flags, &x->s), 0);
    keeper_settle(x->s);
}

static void set_lock(struct ctx *x)
{
    set_session(x);
    CHECK_EQ(dlock_lock_acquire(x->s, "held", NULL, &x->l), 0);
}

static void set_shared(struct ctx *x)
{
    set_session(x);
    CHECK_EQ(dlock_lock_acquire_shared(x->s, "held", NULL, &x->l), 0);
}

static void set_sem(struct ctx *x)
{
    set_session(x);
    CHECK_EQ(dlock_sem_acquire(x->s, "sem", 2, 1, NULL, &x->sem), 0);
}

static void set_leader(struct ctx *x)
{
    set_session(x);
    CHECK_EQ(dlock_campaign(x->s, "elect", "v", 1, NULL, &x->lead), 0);
}

static void set_lease(struct ctx *x)
{
    x->c = new_client();
    CHECK_EQ(dlock_lease_acquire(x->c, x->lease, 10000, 0, &x->token), 0);
}

static void free_all(struct ctx *x)
{
    if (x->l != NULL)
        dlock_lock_release(x->l);
    if (x->sem != NULL)
        dlock_sem_release(x->sem);
    if (x->lead != NULL)
        dlock_resign(x->lead);
    if (x->token != 0)
        dlock_lease_release(x->c, x->lease, x->token);
    dlock_client_free(x->c);
}

static int step_client_new(struct ctx *x)
{
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = cl.addrs;
    o.name = "alloc";
    return dlock_client_new(&o, &x->c);
}

static int step_session_open(struct ctx *x)
{
    return dlock_session_open(x->c, x->ttl_ms, x->flags, &x->s);
}

static int step_session_close(struct ctx *x)
{
    int rc = dlock_session_close(x->s);
    x->s = NULL;
    return rc;
}

static int step_acquire(struct ctx *x)
{
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 1000;
    o.delay_ms = 0;
    return dlock_lock_acquire(x->s, "lock", &o, &x->l);
}

static int step_acquire_shared(struct ctx *x)
{
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 1000;
    o.delay_ms = 0;
    return dlock_lock_acquire_shared(x->s, "lock", &o, &x->l);
}

static int step_downgrade(struct ctx *x)
{
    return dlock_lock_downgrade(x->l);
}

static int step_release(struct ctx *x)
{
    int rc = dlock_lock_release(x->l);
    x->l = NULL;
    return rc;
}

static int step_sem_acquire(struct ctx *x)
{
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 1000;
    o.delay_ms = 0;
    return dlock_sem_acquire(x->s, "sem", 2, 2, &o, &x->sem);
}

static int step_sem_release(struct ctx *x)
{
    int rc = dlock_sem_release(x->sem);
    x->sem = NULL;
    return rc;
}

static int step_campaign(struct ctx *x)
{
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.wait_ms = 1000;
    o.delay_ms = 0;
    return dlock_campaign(x->s, "elect", "value", 5, &o, &x->lead);
}

static int step_proclaim(struct ctx *x)
{
    return dlock_proclaim(x->lead, "other", 5);
}

static int step_resign(struct ctx *x)
{
    int rc = dlock_resign(x->lead);
    x->lead = NULL;
    return rc;
}

static int step_sem_status(struct ctx *x)
{
    struct dlock_sem_status st;
    return dlock_sem_status(x->c, "sem", &st);
}

static int step_leader(struct ctx *x)
{
    struct dlock_leader_info li;
    return dlock_leader(x->c, "elect", &li);
}

static void on_observe_report(void *arg, uint64_t revision,
                              const struct dlock_leader_info *li)
{
    atomic_store((atomic_bool *)arg, li->leader != 0);
}

/* An observer of the election led: started (its first report, the leader
 * read, made before the start returns) and stopped. */
static int step_observe(struct ctx *x)
{
    atomic_bool got = false;
    struct dlock_observe *o;
    int rc = dlock_observe_start(x->c, "elect", on_observe_report, &got, &o);
    if (rc != 0)
        return rc;
    dlock_observe_stop(o);
    return atomic_load(&got) ? 0 : DLOCK_EIO;
}

static int step_lease_acquire(struct ctx *x)
{
    return dlock_lease_acquire(x->c, x->lease, 10000, 100, &x->token);
}

static int step_lease_extend(struct ctx *x)
{
    return dlock_lease_extend(x->c, x->lease, x->token, 20000);
}

static int step_lease_release(struct ctx *x)
{
    int rc = dlock_lease_release(x->c, x->lease, x->token);
    if (rc == 0)
        x->token = 0;
    return rc;
}

static int step_status(struct ctx *x)
{
    struct dlock_lock_status st;
    return dlock_lock_status(x->c, "held", &st);
}

static int step_status_mode(struct ctx *x)
{
    struct dlock_lock_status st;
    struct dlock_lock_mode m;
    return dlock_lock_status_mode(x->c, "held", &st, &m);
}

static int step_holders(struct ctx *x)
{
    struct dlock_holder *h;
    size_t n;
    int rc = dlock_lock_holders(x->c, "held", 10, &h, &n);
    if (rc == 0)
        alloc_free(h);
    return rc;
}

static int step_list(struct ctx *x)
{
    struct dlock_lock_status *st;
    size_t n;
    int rc = dlock_lock_list(x->c, NULL, 10, &st, &n);
    /* Allocated through the hooks (malloc by default): counted there. */
    if (rc == 0)
        alloc_free(st);
    return rc;
}

static int step_cluster_info(struct ctx *x)
{
    struct dlock_cluster_info ci;
    return dlock_cluster_info(x->c, NULL, &ci);
}

static int step_cluster_info_at(struct ctx *x)
{
    struct dlock_cluster_info ci;
    return dlock_cluster_info(x->c, cl.s[0].addr, &ci);
}

/* Processes the keepalives of a NO_THREAD session for a while. */
static int step_process(struct ctx *x)
{
    int rc = 0;
    for (int i = 0; i < 40; i++) {
        struct pollfd p = {.fd = dlock_client_fd(x->c),
                           .events = dlock_client_events(x->c)};
        poll(&p, p.fd >= 0 ? 1 : 0, 10);
        int r = dlock_client_process(x->c);
        if (r != 0)
            rc = r;
    }
    return rc;
}

static void start(void)
{
    ct_fail_at(0); /* count from the first allocation */
    ct_cluster_start(&cl, 1);
    dlock_client_free(ct_client(&cl, 3000));
    CHECK_EQ(atomic_load(&ct_live), 0);
}

/* dlock_client_new and dlock_client_free. */
TEST(alloc, client_new)
{
    start();
    each_failure("client_new", set_nothing, step_client_new, free_all, 0);
    ct_stop(&cl);
}

/* Opening and closing sessions, with a keepalive thread and without. */
TEST(alloc, sessions)
{
    start();
    each_failure("session_open", set_client, step_session_open, free_all, 0);
    each_failure("session_open NO_THREAD", set_client, step_session_open,
                 free_all, DLOCK_SESSION_NO_THREAD);
    each_failure("session_close", set_session, step_session_close, free_all, 0);
    each_failure("process", set_session, step_process, free_all,
                 DLOCK_SESSION_NO_THREAD | FAST);
    ct_stop(&cl);
}

/* Acquiring and releasing locks of a session. */
TEST(alloc, locks)
{
    start();
    each_failure("acquire", set_session, step_acquire, free_all, 0);
    each_failure("release", set_lock, step_release, free_all, 0);
    each_failure("acquire_shared", set_session, step_acquire_shared, free_all,
                 0);
    each_failure("release shared", set_shared, step_release, free_all, 0);
    each_failure("downgrade", set_lock, step_downgrade, free_all, 0);
    ct_stop(&cl);
}

/* Semaphores and elections: acquire, release, campaign, proclaim, resign,
 * their reads, and an observer. */
TEST(alloc, sems_and_elections)
{
    start();
    each_failure("sem_acquire", set_session, step_sem_acquire, free_all, 0);
    each_failure("sem_release", set_sem, step_sem_release, free_all, 0);
    each_failure("sem_status", set_sem, step_sem_status, free_all, 0);
    each_failure("campaign", set_session, step_campaign, free_all, 0);
    each_failure("proclaim", set_leader, step_proclaim, free_all, 0);
    each_failure("resign", set_leader, step_resign, free_all, 0);
    each_failure("leader", set_leader, step_leader, free_all, 0);
    each_failure("observe", set_leader, step_observe, free_all, 0);
    ct_stop(&cl);
}

/* Lease locks. */
TEST(alloc, lease_locks)
{
    start();
    each_failure("lease_acquire", set_client, step_lease_acquire, free_all, 0);
    each_failure("lease_extend", set_lease, step_lease_extend, free_all, 0);
    each_failure("lease_release", set_lease, step_lease_release, free_all, 0);
    ct_stop(&cl);
}

static void on_watch_change(void *arg, const struct dlock_change *ch)
{
    atomic_store((atomic_bool *)arg, true);
}

/* A watch of the lock held: started, its first change delivered (an
 * allocation that fails in its thread makes it reconnect, not stop), and
 * stopped. */
static int step_watch(struct ctx *x)
{
    atomic_bool got = false;
    struct dlock_watch *w;
    int rc = dlock_watch_start(x->c, "held", 0, on_watch_change, &got, &w);
    if (rc != 0)
        return rc;
    for (int i = 0; i < 500 && !atomic_load(&got); i++)
        ct_sleep_ms(10);
    dlock_watch_stop(w);
    return atomic_load(&got) ? 0 : DLOCK_EIO;
}

/* Reads of the state. */
TEST(alloc, reads)
{
    start();
    each_failure("status", set_lock, step_status, free_all, 0);
    each_failure("list", set_lock, step_list, free_all, 0);
    each_failure("status_mode", set_shared, step_status_mode, free_all, 0);
    each_failure("holders", set_shared, step_holders, free_all, 0);
    each_failure("cluster_info", set_client, step_cluster_info, free_all, 0);
    each_failure("cluster_info at", set_client, step_cluster_info_at, free_all,
                 0);
    each_failure("watch", set_lock, step_watch, free_all, 0);
    ct_stop(&cl);
}
