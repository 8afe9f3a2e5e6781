/* test_replica.c - the lock service's replicated part (src/lock/replica.c),
 * driven by hand as dlockd and the simulator drive it: readiness on the
 * leader's own no-op, cluster time across leaders, proposals completed by
 * index and term, waits ended by events, leases kept by the sessions'
 * changes, expiries in batches, the TICK, UNWAITs and keepalives. */
#include "harness.h"

#include "common/le.h"
#include "lock/replica.h"

#define TERM 3

struct drv {
    struct replica *r;
    uint64_t index; /* the last entry applied */
    uint64_t clock; /* the server's clock */
};

static void drv_init(struct drv *d, uint32_t batch)
{
    struct replica_config cfg = {
        .wait_grace_ms = 500, .expire_retry_ms = 1000, .expire_batch = batch};
    d->r = replica_new(&cfg);
    d->index = 0;
    d->clock = 50000;
}

static void apply_raw(struct drv *d, uint8_t type, uint64_t term,
                      const uint8_t *data, size_t len)
{
    struct raft_entry e = {.index = ++d->index,
                           .term = term,
                           .type = type,
                           .data = (uint8_t *)data,
                           .len = (uint32_t)len};
    replica_apply(d->r, &e, RAFT_LEADER, TERM, d->clock);
}

/* The leader's own no-op of TERM: it becomes ready. */
static void ready(struct drv *d)
{
    apply_raw(d, RAFT_ENTRY_NOOP, TERM, NULL, 0);
    CHECK(replica_ready(d->r, RAFT_LEADER, TERM));
}

/* Proposes cmd as (ctx, tag) and applies it at once; returns its index. */
static uint64_t commit(struct drv *d, struct fsm_cmd *cmd, void *ctx,
                       uint64_t tag)
{
    const uint8_t *data;
    size_t len;
    CHECK_EQ(replica_encode(d->r, cmd, d->clock, &data, &len), REPLICA_OK);
    uint8_t copy[4096];
    memcpy(copy, data, len);
    replica_proposed(d->r, d->index + 1, TERM, ctx, tag);
    apply_raw(d, RAFT_ENTRY_NORMAL, TERM, copy, len);
    return d->index;
}

/* The only output, of kind, for ctx. */
static const struct replica_out *one_out(struct drv *d, uint8_t kind, void *ctx)
{
    size_t n;
    const struct replica_out *o = replica_outs(d->r, &n);
    CHECK_EQ(n, 1);
    CHECK_EQ(o[0].kind, kind);
    CHECK(o[0].ctx == ctx);
    return o;
}

static uint64_t open_session(struct drv *d, uint64_t ttl)
{
    int me;
    struct fsm_cmd c = {.type = FSM_OPEN, .ttl = ttl};
    commit(d, &c, &me, 1);
    const struct replica_out *o = one_out(d, REPLICA_DONE, &me);
    CHECK_EQ(o->status, REPLICA_OK);
    CHECK(o->res != NULL && o->res->status == FSM_OK);
    uint64_t id = o->res->session;
    replica_outs_clear(d->r);
    return id;
}

static void acquire(struct drv *d, uint64_t s, const char *name, uint64_t wait,
                    struct fsm_result *res)
{
    int me;
    struct fsm_cmd c = {.type = FSM_ACQUIRE,
                        .session = s,
                        .name = name,
                        .name_len = (uint32_t)strlen(name),
                        .wait = wait};
    commit(d, &c, &me, 7);
    const struct replica_out *o = one_out(d, REPLICA_DONE, &me);
    CHECK_EQ(o->status, REPLICA_OK);
    CHECK_EQ(o->tag, 7);
    *res = *o->res;
    replica_outs_clear(d->r);
}

/* Nothing is proposed before the no-op; the no-op makes the leader ready
 * with cluster time just past the last time applied, whatever its clock;
 * a later leader goes on from there. */
TEST(replica, ready_on_own_noop_and_time_goes_on)
{
    struct drv d;
    drv_init(&d, 8);
    struct fsm_cmd c = {.type = FSM_OPEN, .ttl = 1000};
    const uint8_t *data;
    size_t len;
    CHECK_EQ(replica_encode(d.r, &c, d.clock, &data, &len), REPLICA_NOTLEADER);
    apply_raw(&d, RAFT_ENTRY_NOOP, TERM - 1, NULL, 0); /* an earlier term's */
    CHECK(!replica_ready(d.r, RAFT_LEADER, TERM));
    ready(&d);
    CHECK_U64(replica_now(d.r, d.clock), 1);
    d.clock += 250;
    open_session(&d, 1000);
    CHECK_U64(fsm_now(replica_fsm(d.r)), 251);
    /* Leadership lost and won again with a clock far behind. */
    replica_role(d.r, RAFT_FOLLOWER, TERM, REPLICA_NOTLEADER);
    CHECK(!replica_ready(d.r, RAFT_LEADER, TERM));
    d.clock = 10;
    ready(&d);
    CHECK_U64(replica_now(d.r, d.clock), 252);
    replica_free(d.r);
}

/* A proposal is OK with its result when its own entry applies there; LOST
 * when another entry (another term's) takes its index; a proposal with no
 * ctx has no output. */
TEST(replica, proposals_done_by_index_and_term)
{
    struct drv d;
    drv_init(&d, 8);
    ready(&d);
    int a, b;
    struct fsm_cmd c = {.type = FSM_OPEN, .ttl = 1000};
    const uint8_t *data;
    size_t len;
    CHECK_EQ(replica_encode(d.r, &c, d.clock, &data, &len), REPLICA_OK);
    uint8_t copy[256];
    memcpy(copy, data, len);
    replica_proposed(d.r, d.index + 1, TERM, &a, 1);
    replica_proposed(d.r, d.index + 2, TERM, &b, 2);
    replica_proposed(d.r, d.index + 3, TERM, NULL, 0);
    CHECK_EQ(replica_pending(d.r), 3);
    apply_raw(&d, RAFT_ENTRY_NORMAL, TERM, copy, len);
    const struct replica_out *o = one_out(&d, REPLICA_DONE, &a);
    CHECK_EQ(o->status, REPLICA_OK);
    CHECK_EQ(o->res->status, FSM_OK);
    replica_outs_clear(d.r);
    /* Another term's entry at b's index. */
    apply_raw(&d, RAFT_ENTRY_NORMAL, TERM + 1, copy, len);
    o = one_out(&d, REPLICA_DONE, &b);
    CHECK_EQ(o->status, REPLICA_LOST);
    CHECK(o->res == NULL);
    replica_outs_clear(d.r);
    apply_raw(&d, RAFT_ENTRY_NORMAL, TERM, copy, len);
    size_t n;
    replica_outs(d.r, &n);
    CHECK_EQ(n, 0);
    CHECK_EQ(replica_pending(d.r), 0);
    replica_free(d.r);
}

/* A wait ends with the event that ends its waiter; losing leadership ends
 * waits and proposals with the status given, and forgets the UNWAITs. */
TEST(replica, waits_and_losing_leadership)
{
    struct drv d;
    drv_init(&d, 8);
    ready(&d);
    uint64_t s1 = open_session(&d, 5000), s2 = open_session(&d, 5000);
    struct fsm_result r;
    acquire(&d, s1, "x", 0, &r);
    CHECK_EQ(r.status, FSM_OK);
    acquire(&d, s2, "x", 10000, &r);
    CHECK_EQ(r.status, FSM_QUEUED);
    int w1, w2;
    void *h1 = replica_wait_attach(d.r, r.index, &w1, 1);
    void *h2 = replica_wait_attach(d.r, r.index, &w2, 2);
    CHECK_U64(replica_wait_index(h1), r.index);
    CHECK(!replica_wait_detach(d.r, h2)); /* w1 still waits */
    int me;
    struct fsm_cmd rel = {
        .type = FSM_RELEASE, .session = s1, .name = "x", .name_len = 1};
    commit(&d, &rel, &me, 3);
    size_t n;
    const struct replica_out *o = replica_outs(d.r, &n);
    CHECK_EQ(n, 2); /* the wait, then the release */
    CHECK_EQ(o[0].kind, REPLICA_WAIT_END);
    CHECK(o[0].ctx == &w1);
    CHECK_EQ(o[0].ev->type, FSM_EV_GRANTED);
    CHECK_U64(o[0].ev->session, s2);
    CHECK_EQ(o[1].kind, REPLICA_DONE);
    replica_outs_clear(d.r);
    /* A wait and a proposal under way when leadership goes. */
    acquire(&d, s1, "x", 10000, &r);
    replica_wait_attach(d.r, r.index, &w1, 1);
    replica_proposed(d.r, d.index + 1, TERM, &me, 4);
    struct fsm_cmd gone = {.type = FSM_UNWAIT, .index = r.index};
    replica_unwait(d.r, &gone);
    replica_role(d.r, RAFT_LEADER, TERM + 1, REPLICA_NOTLEADER);
    o = replica_outs(d.r, &n);
    CHECK_EQ(n, 2);
    CHECK(o[0].status == REPLICA_NOTLEADER && o[1].status == REPLICA_NOTLEADER);
    replica_outs_clear(d.r);
    struct fsm_cmd u;
    CHECK(!replica_next_unwait(d.r, &u));
    replica_free(d.r);
}

/* Leases follow the sessions: an ended lease is handed out for expiry in
 * batches of expire_batch, once, then again after the retry; a keepalive
 * under way holds it back and renews it; once its expiry is proposed a
 * keepalive is NOSESSION; the expiry's apply forgets the lease. */
TEST(replica, leases_expiries_and_keepalives)
{
    struct drv d;
    drv_init(&d, 2);
    ready(&d);
    uint64_t s[5];
    for (int i = 0; i < 5; i++)
        s[i] = open_session(&d, 1000);
    CHECK_EQ(replica_leases(d.r), 5);
    uint64_t at;
    d.clock += 900;
    CHECK_EQ(replica_keepalive_begin(d.r, s[0], d.clock, &at), REPLICA_OK);
    d.clock += 600;
    uint64_t now = replica_now(d.r, d.clock);
    CHECK(replica_next_due(d.r) <= now);
    struct fsm_cmd cmd;
    uint64_t seen[5];
    int n = 0;
    while (replica_next_expiry(d.r, now, &cmd)) {
        CHECK_EQ(cmd.type, FSM_EXPIRE_BATCH);
        CHECK(cmd.n_ids >= 1 && cmd.n_ids <= 2);
        for (uint32_t i = 0; i < cmd.n_ids; i++)
            seen[n++] = fsm_cmd_id(&cmd, i);
    }
    CHECK_EQ(n, 4); /* not s[0]: its keepalive is under way */
    for (int i = 0; i < 4; i++)
        CHECK(seen[i] != s[0]);
    uint64_t at2;
    CHECK_EQ(replica_keepalive_begin(d.r, s[1], d.clock, &at2),
             REPLICA_NOSESSION);
    /* s[0]'s keepalive renews it from when it came: over at at + 1000,
     * after now. */
    CHECK_U64(replica_keepalive_end(d.r, s[0], at, true), 1000);
    CHECK(!replica_next_expiry(d.r, now, &cmd));
    /* The others come again after the retry, until their expiry applies. */
    CHECK(replica_next_expiry(d.r, now + 1000, &cmd));
    int me;
    uint8_t ids[16];
    le_put64(ids, s[1]);
    le_put64(ids + 8, s[2]);
    struct fsm_cmd ex = {.type = FSM_EXPIRE_BATCH, .ids = ids, .n_ids = 2};
    commit(&d, &ex, &me, 5);
    one_out(&d, REPLICA_DONE, &me);
    replica_outs_clear(d.r);
    CHECK_EQ(replica_leases(d.r), 3);
    CHECK_U64(replica_lease_left(d.r, s[1], d.clock), 0);
    replica_free(d.r);
}

/* A TICK is handed out once a deadline has passed and not again while it
 * is under way; UNWAITs are handed out once each, with the grace. */
TEST(replica, tick_and_unwaits)
{
    struct drv d;
    drv_init(&d, 8);
    ready(&d);
    uint64_t s1 = open_session(&d, 5000), s2 = open_session(&d, 5000);
    struct fsm_result r;
    acquire(&d, s1, "y", 0, &r);
    acquire(&d, s2, "y", 300, &r);
    CHECK_EQ(r.status, FSM_QUEUED);
    struct fsm_cmd cmd;
    CHECK(!replica_next_tick(d.r, d.clock, &cmd));
    d.clock += 400;
    CHECK(replica_next_tick(d.r, d.clock, &cmd));
    CHECK_EQ(cmd.type, FSM_TICK);
    commit(&d, &cmd, NULL, REPLICA_TAG_TICK);
    replica_outs_clear(d.r);
    CHECK(!replica_next_tick(d.r, d.clock, &cmd)); /* nothing due now */
    acquire(&d, s2, "y", 10000, &r);
    struct fsm_cmd gone = {.type = FSM_UNWAIT,
                           .index = r.index,
                           .session = s2,
                           .name = "y",
                           .name_len = 1};
    replica_unwait(d.r, &gone);
    CHECK(replica_next_unwait(d.r, &cmd));
    CHECK_EQ(cmd.type, FSM_UNWAIT);
    CHECK_U64(cmd.index, r.index);
    CHECK_U64(cmd.wait, 500);
    CHECK(cmd.name_len == 1 && cmd.name[0] == 'y');
    CHECK(!replica_next_unwait(d.r, &cmd));
    replica_free(d.r);
}
