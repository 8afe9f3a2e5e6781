/* test_fsm_random.c - the lock state machine under long seeded random
 * command sequences (fsm_gen.h): a snapshot restored into a second machine
 * at random points behaves identically ever after; and a model built from
 * results and events alone (who holds what, the tokens, the first outcome
 * of every request id) agrees with the machine after every step. */
#include "fsm_gen.h"
#include "fsm_test.h"

#define SEEDS 100
#define STEPS 3000

static size_t encode(const struct fsm_cmd *c, uint8_t *buf, size_t cap)
{
    size_t n = fsm_cmd_encode(c, buf, cap);
    CHECK(n > 0 && n <= cap);
    return n;
}

static void same_result(const struct fsm_result *a, const struct fsm_result *b)
{
    CHECK_EQ(a->status, b->status);
    CHECK_EQ(a->replayed, b->replayed);
    CHECK_U64(a->session, b->session);
    CHECK_U64(a->token, b->token);
    CHECK_EQ(a->holds, b->holds);
    CHECK_U64(a->holder, b->holder);
    CHECK_U64(a->ttl, b->ttl);
}

static void same_snapshots(const struct fsm *a, const struct fsm *b)
{
    uint8_t *sa, *sb;
    size_t la, lb;
    CHECK_EQ(fsm_snapshot(a, &sa, &la), 0);
    CHECK_EQ(fsm_snapshot(b, &sb, &lb), 0);
    CHECK(la == lb && memcmp(sa, sb, la) == 0);
    free(sa);
    free(sb);
}

/* Machine B, restored from A's snapshot at random points, returns the same
 * results and events as A for every later command, and writes the same
 * snapshots. */
TEST_TIMEOUT(fsm_random, restore_then_replay_identically, 600)
{
    uint8_t buf[1024];
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct gen g;
        gen_init(&g, seed);
        g.modes = seed % 2 == 0; /* shared locks in half the runs */
        struct fsm *a = fsm_new(), *b = fsm_new();
        bool b_live = false;
        for (uint64_t idx = 1; idx <= STEPS; idx++) {
            if (gen_pick(&g, 150) == 0) {
                uint8_t *snap;
                size_t len;
                fsm_snapshot(a, &snap, &len);
                CHECK_EQ(fsm_restore(b, snap, len), 0);
                free(snap);
                same_snapshots(a, b);
                b_live = true;
            }
            struct fsm_cmd c;
            struct fsm_result ra, rb;
            gen_next(&g, a, &c);
            size_t n = encode(&c, buf, sizeof buf);
            fsm_apply(a, idx, buf, n, &ra);
            if (b_live) {
                fsm_apply(b, idx, buf, n, &rb);
                same_result(&ra, &rb);
                same_events(a, b);
                if (idx % 97 == 0)
                    same_snapshots(a, b);
            }
            size_t n_ev;
            const struct fsm_event *ev = fsm_events(a, &n_ev);
            gen_feed(&g, &c, &ra, ev, n_ev);
            fsm_events_clear(a);
            fsm_events_clear(b);
            char why[256];
            CHECK_MSG(!g.modes || fsm_check(a, why, sizeof why),
                      "seed %llu step %llu: %s", (unsigned long long)seed,
                      (unsigned long long)idx, why);
        }
        if (b_live)
            same_snapshots(a, b);
        char why[256];
        CHECK_MSG(fsm_check(a, why, sizeof why), "seed %llu: %s",
                  (unsigned long long)seed, why);
        fsm_free(a);
        fsm_free(b);
    }
}

/* ---- the model -------------------------------------------------------- */

struct mlock {
    bool held;
    uint64_t session, token;
    uint32_t holds;
    unsigned owner; /* in gen_owners */
};

/* The owner each queued ACQUIRE waits with, by index. */
struct mwait {
    uint64_t index;
    unsigned owner;
};

/* The first outcome of a request id, as a retry must see it; the id names
 * that request (its type and arguments) in its table. */
struct mreq {
    uint8_t type;
    bool closes;    /* in the table of CLOSEs, by (session, req) */
    uint64_t scope; /* the session whose table holds it; 0: global */
    uint64_t args;  /* args_of the request */
    char req[16];
    struct fsm_result first;
    uint64_t wait_index; /* a blocking ACQUIRE queued or granted: its index */
};

struct model {
    struct mlock locks[GEN_NAMES];
    uint64_t max_token;
    struct mreq reqs[2048];
    size_t n_reqs;
    struct mwait waits[STEPS];
    size_t n_waits;
};

static struct mlock *mlock_of(struct model *md, const char *name, uint32_t len)
{
    for (int i = 0; i < GEN_NAMES; i++)
        if (strlen(gen_names[i]) == len && memcmp(gen_names[i], name, len) == 0)
            return &md->locks[i];
    return NULL;
}

static void model_grant(struct model *md, struct mlock *l, uint64_t session,
                        uint64_t token, unsigned owner)
{
    CHECK_MSG(!l->held, "a second holder");
    CHECK_MSG(token > md->max_token, "token %llu not above %llu",
              (unsigned long long)token, (unsigned long long)md->max_token);
    md->max_token = token;
    *l = (struct mlock){true, session, token, 1, owner};
}

static void model_free_session(struct model *md, uint64_t session)
{
    for (int i = 0; i < GEN_NAMES; i++)
        if (md->locks[i].held && md->locks[i].session == session)
            md->locks[i].held = false;
}

/* The table a request id of c is remembered in (0: global; a CLOSE's
 * is that of CLOSEs, by session). */
static uint64_t scope_of(const struct fsm_cmd *c)
{
    switch (c->type) {
    case FSM_OPEN:
    case FSM_EXTEND:
        return 0;
    default:
        return c->session;
    }
}

/* The arguments that make the request, as one number: all but its wait,
 * time and id (a small sum is enough for the few values generated). */
static uint64_t args_of(const struct fsm_cmd *c)
{
    uint64_t h = c->session * 1000003 ^ c->ttl * 7919 ^ c->delay * 104729 ^
                 c->token * 15485863;
    const char *s[3] = {c->name, c->owner, c->client};
    uint32_t n[3] = {c->name_len, c->owner_len, c->client_len};
    for (int k = 0; k < 3; k++) {
        h = h * 31 + n[k] + 1;
        for (uint32_t i = 0; i < n[k]; i++)
            h = h * 131 + (uint8_t)s[k][i];
    }
    return h;
}

static struct mreq *find_req(struct model *md, bool closes, uint64_t scope,
                             const struct fsm_cmd *c)
{
    for (size_t i = 0; i < md->n_reqs; i++) {
        struct mreq *r = &md->reqs[i];
        if (r->closes == closes && r->scope == scope &&
            strlen(r->req) == c->req_len &&
            memcmp(r->req, c->req, c->req_len) == 0)
            return r;
    }
    return NULL;
}

/* A retry answers the first outcome (or, for a wait, its final one); a
 * request id that is remembered and not retried is a bug. An id of another
 * request of the table (another type or other arguments; for a CLOSE, of
 * its open session's) is REQ_REUSED, and changes nothing. */
static void check_retry(struct model *md, const struct fsm *f,
                        const struct fsm_cmd *c, const struct fsm_result *res,
                        uint64_t idx)
{
    if (c->req_len == 0 || c->type == FSM_TICK || c->type == FSM_EXPIRE ||
        c->type == FSM_UNWAIT)
        return; /* not remembered (UNWAIT's req names an ACQUIRE's) */
    bool closes = c->type == FSM_CLOSE;
    struct mreq *r = find_req(md, false, scope_of(c), c);
    struct fsm_session_info si;
    bool alive = scope_of(c) == 0 || fsm_session_info(f, scope_of(c), &si);
    if (r != NULL && res->status != FSM_INVALID &&
        res->status != FSM_NOSESSION && alive &&
        (closes || r->type != c->type || r->args != args_of(c))) {
        CHECK_MSG(res->status == FSM_REQ_REUSED && !res->replayed,
                  "request %s of type %d reused by type %d: status %d", r->req,
                  r->type, c->type, res->status);
        return;
    }
    CHECK(res->status != FSM_REQ_REUSED);
    if (closes) {
        r = find_req(md, true, c->session, c);
        alive = true;
    }
    if (r != NULL && res->status != FSM_INVALID &&
        res->status != FSM_NOSESSION && alive) {
        CHECK_MSG(res->replayed, "request %s of type %d not replayed", r->req,
                  c->type);
        same_result(res, &r->first);
        return;
    }
    CHECK(!res->replayed);
    bool kept = res->status == FSM_OK || res->status == FSM_QUEUED ||
                res->status == FSM_HELD || res->status == FSM_NOTHELD;
    if (!kept || r != NULL)
        return;
    CHECK(md->n_reqs < 2048);
    r = &md->reqs[md->n_reqs++];
    r->type = c->type;
    r->closes = closes;
    r->scope = scope_of(c);
    r->args = args_of(c);
    snprintf(r->req, sizeof r->req, "%.*s", (int)c->req_len, c->req);
    r->first = *res;
    r->first.replayed = true;
    r->first.index = res->status == FSM_QUEUED ? res->index : 0;
    r->wait_index = res->status == FSM_QUEUED ? idx : res->index;
}

/* A wait's end, or its grant taken back, updates what a retry of its
 * ACQUIRE answers. */
static void resolve_wait(struct model *md, const struct fsm_event *e)
{
    for (size_t i = 0; i < md->n_reqs; i++) {
        struct mreq *r = &md->reqs[i];
        if (r->wait_index != e->index)
            continue;
        if (e->type == FSM_EV_WITHDRAWN && r->first.status == FSM_OK &&
            r->first.token == e->token) {
            r->first.status = FSM_TIMEOUT;
            r->first.token = 0;
            r->first.holds = 0;
        }
        if (r->first.status != FSM_QUEUED)
            continue;
        r->first.status = e->type == FSM_EV_GRANTED   ? FSM_OK
                          : e->type == FSM_EV_TIMEOUT ? FSM_TIMEOUT
                                                      : FSM_CANCELED;
        r->first.token = e->type == FSM_EV_GRANTED ? e->token : 0;
        r->first.holds = e->type == FSM_EV_GRANTED ? 1 : 0;
    }
}

/* The owner an ACQUIRE holds or waits with: a lease lock's too (its
 * owner is what a Redis client's SET NX set). */
static unsigned owner_of(const struct fsm_cmd *c)
{
    return gen_find(gen_owners, GEN_OWNERS, c->owner, c->owner_len);
}

static void model_result(struct model *md, const struct fsm_cmd *c,
                         const struct fsm_result *res, uint64_t idx)
{
    if (c->type == FSM_ACQUIRE && res->status == FSM_QUEUED && !res->replayed)
        md->waits[md->n_waits++] = (struct mwait){idx, owner_of(c)};
    if (res->replayed || res->status != FSM_OK)
        return;
    struct mlock *l = mlock_of(md, c->name, c->name_len);
    if (c->type == FSM_ACQUIRE && res->holds == 1 &&
        res->token > md->max_token) {
        model_grant(md, l, res->session, res->token, owner_of(c));
    } else if (c->type == FSM_ACQUIRE) {
        CHECK(l->held && l->session == res->session && l->token == res->token &&
              l->holds + 1 == res->holds && l->owner == owner_of(c));
        l->holds++;
    } else if (c->type == FSM_RELEASE && c->session != 0) {
        CHECK(l->held && l->session == c->session &&
              l->holds - 1 == res->holds && l->owner == owner_of(c));
        l->holds--;
        l->held = l->holds > 0;
    } else if (c->type == FSM_RELEASE || c->type == FSM_CLOSE) {
        CHECK(c->type == FSM_CLOSE || (l->held && l->token == c->token));
        model_free_session(md, res->session);
    }
}

static void model_events(struct model *md, const struct fsm *f)
{
    size_t n;
    const struct fsm_event *ev = fsm_events(f, &n);
    for (size_t i = 0; i < n; i++) {
        struct mlock *l = mlock_of(md, ev[i].name, ev[i].name_len);
        if (ev[i].type == FSM_EV_GRANTED) {
            size_t k = 0;
            while (k < md->n_waits && md->waits[k].index != ev[i].index)
                k++;
            CHECK_MSG(k < md->n_waits, "grant to an unknown wait");
            model_grant(md, l, ev[i].session, ev[i].token, md->waits[k].owner);
        }
        if (ev[i].type == FSM_EV_LOST) {
            CHECK(l->held && l->session == ev[i].session &&
                  l->token == ev[i].token);
            l->held = false;
        }
        if (ev[i].type == FSM_EV_WITHDRAWN) {
            CHECK(l->held && l->session == ev[i].session &&
                  l->token == ev[i].token);
            l->held = --l->holds > 0;
        }
        if (ev[i].type != FSM_EV_LOST)
            resolve_wait(md, &ev[i]);
    }
}

struct waits_sum {
    const struct fsm *f;
    uint64_t waits;
};

static void add_waits(void *arg, uint64_t id, uint64_t ttl)
{
    struct waits_sum *sum = arg;
    struct fsm_session_info si;
    CHECK(fsm_session_info(sum->f, id, &si));
    sum->waits += si.waits;
}

/* The machine shows exactly the model's holders, and every waiter belongs
 * to a live session. */
static void model_agrees(struct model *md, const struct fsm *f)
{
    uint64_t held = 0, waits = 0, waiters = 0;
    for (int i = 0; i < GEN_NAMES; i++) {
        struct fsm_lock_info li;
        const char *name = gen_names[i];
        bool known = fsm_lock_info(f, name, (uint32_t)strlen(name), &li);
        struct mlock *l = &md->locks[i];
        if (!l->held) {
            CHECK(!known || li.holder == 0);
        } else {
            held++;
            const char *owner = gen_owners[l->owner];
            CHECK(known && li.holder == l->session && li.token == l->token &&
                  li.holds == l->holds && li.owner_len == strlen(owner) &&
                  memcmp(li.owner, owner, li.owner_len) == 0);
        }
        waiters += known ? li.waiters : 0;
    }
    struct fsm_stats st;
    fsm_stats(f, &st);
    CHECK_U64(st.held, held);
    CHECK_U64(fsm_last_token(f), md->max_token);
    CHECK_U64(st.waiters, waiters);
    struct waits_sum sum = {f, 0};
    fsm_session_each(f, add_waits, &sum);
    waits = sum.waits;
    CHECK_U64(waits, waiters);
}

/* Along random sequences: at most one holder per lock, every grant's token
 * above every earlier one, holds counted right, waiters only of live
 * sessions, and every retry answered with its first (or final) outcome. */
TEST_TIMEOUT(fsm_random, model_agrees, 600)
{
    uint8_t buf[1024];
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct gen g;
        gen_init(&g, seed * 7919);
        struct fsm *f = fsm_new();
        struct model *md = calloc(1, sizeof *md);
        CHECK(md != NULL);
        for (uint64_t idx = 1; idx <= STEPS; idx++) {
            struct fsm_cmd c;
            struct fsm_result res;
            gen_next(&g, f, &c);
            size_t len = encode(&c, buf, sizeof buf);
            fsm_apply(f, idx, buf, len, &res);
            struct fsm_cmd d; /* as the machine has it */
            CHECK(fsm_cmd_decode(&d, buf, len) == 0);
            check_retry(md, f, &d, &res, idx);
            model_result(md, &c, &res, idx);
            model_events(md, f);
            model_agrees(md, f);
            char why[256];
            CHECK_MSG(fsm_check(f, why, sizeof why), "seed %llu step %llu: %s",
                      (unsigned long long)seed, (unsigned long long)idx, why);
            size_t n_ev;
            const struct fsm_event *ev = fsm_events(f, &n_ev);
            gen_feed(&g, &c, &res, ev, n_ev);
            fsm_events_clear(f);
        }
        free(md);
        fsm_free(f);
    }
}
