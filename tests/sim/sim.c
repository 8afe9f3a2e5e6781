/* sim.c - the seeded simulator: runs 3- and 5-node clusters through random
 * faults (network, crashes, slow disks, membership changes, leadership
 * transfers), then heals everything and demands progress.
 *
 *   build/sim --seeds N --seed0 S [--nodes 3|5] [--ms K] [--fsm] [--verbose]
 *
 * With --fsm every node runs the lock state machine (lockserver.c) for
 * simulated clients (lockclient.c), and the lock service's safety is
 * checked on every apply (lockcheck.c) besides Raft's; after healing, a
 * free lock must be granted and a waiter get a released lock.
 *
 * Each seed replays exactly; a failing one prints the command that replays
 * it with a trace. The last line is "N passed, M failed". */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cluster.h"
#include "lockcheck.h"
#include "lockclient.h"
#include "lockserver.h"
#include "net.h"
#include "raft/wire.h"

#define U(x) ((unsigned long long)(x))
/* Lines of trace printed with a failure. */
#define TAIL_LINES 40

struct opts {
    uint64_t seeds;
    uint64_t seed0;
    unsigned nodes; /* 0: 3 or 5, chosen by the seed */
    uint64_t ms;    /* length of the fault phase, 0: chosen by the seed */
    bool fsm;       /* run the lock service */
    bool verbose;
};

/* One run's fault schedule and client state. */
struct run {
    struct cluster *c;
    struct rng *g;
    uint64_t restart_at[CLUSTER_MAX_ID + 1]; /* 0: not scheduled */
    uint64_t retire_at[CLUSTER_MAX_ID + 1];  /* 0: not scheduled */
    uint64_t snap_every;  /* applied entries between local snapshots */
    uint64_t snap_gap_ms; /* and time, with the lock service */
    uint64_t snap_at[CLUSTER_MAX_ID + 1];
    unsigned fault_pm; /* how eventful this seed is */
    uint64_t payloads;
    /* The final phase's probe proposal. */
    uint64_t probe_index;
    uint64_t probe_term;
    uint64_t probe_at;
    /* The lock service (--fsm), else NULL. */
    struct lockcheck *lck;
    struct lockserver *srv;
    struct lockclient *lcl;
};

/* Totals of the lock service's runs, for the summary. */
static struct lockcheck_stats lock_totals;
static struct lockclient_stats client_totals;

static void propose_random(struct run *r, uint64_t id)
{
    uint8_t buf[600];
    uint32_t len = rng_chance(r->g, 50) ? (uint32_t)rng_range(r->g, 100, 600)
                                        : (uint32_t)rng_range(r->g, 1, 48);
    uint64_t tag = ++r->payloads;
    for (uint32_t k = 0; k < len; k++)
        buf[k] = (uint8_t)rng_mix(tag * 1000 + k);
    cluster_propose(r->c, id, buf, len, NULL, NULL);
}

static uint64_t random_up_node(struct run *r)
{
    uint64_t ids[CLUSTER_MAX_ID];
    unsigned n = 0;
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++) {
        struct sim_node *nd = cluster_node(r->c, id);
        if (nd != NULL && nd->up)
            ids[n++] = id;
    }
    return n ? ids[rng_below(r->g, n)] : 0;
}

static void clients(struct run *r)
{
    uint64_t leader = cluster_leader(r->c);
    if (r->srv != NULL) {
        lockserver_step(r->srv, r->c, true);
        lockclient_step(r->lcl, r->c, true);
    } else if (rng_chance(r->g, 250)) {
        unsigned burst = rng_chance(r->g, 100) ? 5 : 1;
        uint64_t to = rng_chance(r->g, 100) ? random_up_node(r) : leader;
        for (unsigned k = 0; k < burst && to != 0; k++)
            propose_random(r, to);
    }
    if (rng_chance(r->g, 80) && leader != 0)
        cluster_read(r->c, rng_chance(r->g, 100) ? random_up_node(r) : leader);
}

static void snapshots(struct run *r)
{
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++) {
        struct sim_node *n = cluster_node(r->c, id);
        if (n == NULL || !n->up || !rng_chance(r->g, 300))
            continue;
        uint64_t s = n->disk.snap.present ? n->disk.snap.meta.index : 0;
        if (n->sm.index < s + r->snap_every ||
            (r->snap_gap_ms && r->c->now_ms < r->snap_at[id] + r->snap_gap_ms))
            continue;
        cluster_snapshot(r->c, id, rng_below(r->g, 21));
        r->snap_at[id] = r->c->now_ms;
    }
}

static void crash(struct run *r, uint64_t id)
{
    struct sim_node *n = cluster_node(r->c, id);
    if (n == NULL || !n->up)
        return;
    cluster_crash(r->c, id, rng_chance(r->g, 500));
    uint64_t down = rng_chance(r->g, 200) ? rng_range(r->g, 500, 3000)
                                          : rng_range(r->g, 20, 600);
    r->restart_at[id] = r->c->now_ms + down;
}

static void crashes(struct run *r)
{
    if (!rng_chance(r->g, r->fault_pm / 2))
        return;
    unsigned kind = (unsigned)rng_below(r->g, 10);
    if (kind < 6) {
        crash(r, random_up_node(r));
    } else if (kind < 9) {
        crash(r, cluster_leader(r->c));
    } else { /* a majority, or everyone */
        for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++)
            if (rng_chance(r->g, 700))
                crash(r, id);
    }
}

static void restarts(struct run *r)
{
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++) {
        if (r->restart_at[id] == 0 || r->restart_at[id] > r->c->now_ms)
            continue;
        r->restart_at[id] = 0;
        cluster_restart(r->c, id);
    }
}

/* Shuts down, some time after, the nodes a committed configuration
 * removed: until then they run on without knowing (dissertation §4.2.3). */
static void retire_removed(struct run *r)
{
    struct cluster *c = r->c;
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++) {
        struct sim_node *n = cluster_node(c, id);
        if (n == NULL || !n->member || n->gone ||
            raft_conf_role(&c->conf, id) != 0)
            continue;
        if (r->retire_at[id] == 0)
            r->retire_at[id] =
                c->now_ms + 1 + rng_below(r->g, 3 * c->cfg.election_ms);
        if (r->retire_at[id] <= c->now_ms) {
            cluster_retire(c, id);
            r->restart_at[id] = 0;
        }
    }
}

static void partition(struct run *r)
{
    struct cluster *c = r->c;
    unsigned kind = (unsigned)rng_below(r->g, 7);
    uint64_t a = random_up_node(r), b = random_up_node(r);
    cluster_heal(c);
    if (a == 0)
        kind = 0;
    else if (kind == 3 && a == b)
        kind = 1;
    switch (kind) {
    case 0: /* healed */
        cluster_trace(c, "network healed");
        break;
    case 1:
        cluster_trace(c, "partition: n%llu isolated", U(a));
        cluster_isolate(c, a);
        break;
    case 2:
        a = cluster_leader(c);
        if (a == 0)
            break;
        cluster_trace(c, "partition: leader n%llu isolated", U(a));
        cluster_isolate(c, a);
        break;
    case 3:
        cluster_trace(c, "partition: n%llu cannot reach n%llu", U(a), U(b));
        cluster_block(c, a, b, true);
        break;
    case 4: { /* a node that can send but not receive, or the reverse */
        bool out = rng_chance(r->g, 500);
        cluster_trace(c, "partition: n%llu can only %s", U(a),
                      out ? "receive" : "send");
        for (uint64_t k = 1; k <= CLUSTER_MAX_ID; k++)
            cluster_block(c, out ? a : k, out ? k : a, true);
        break;
    }
    default: { /* a random split into two sides */
        bool side[CLUSTER_MAX_ID + 1];
        for (uint64_t k = 1; k <= CLUSTER_MAX_ID; k++)
            side[k] = rng_chance(r->g, 500);
        for (uint64_t x = 1; x <= CLUSTER_MAX_ID; x++)
            for (uint64_t y = 1; y <= CLUSTER_MAX_ID; y++)
                if (side[x] != side[y])
                    cluster_block(c, x, y, true);
        cluster_trace(c, "partition: split");
        break;
    }
    }
}

static void network(struct run *r)
{
    struct cluster_net *net = &r->c->net;
    if (rng_chance(r->g, 300)) {
        *net = (struct cluster_net){
            .delay_min_ms = 1, .delay_max_ms = 5, .slow_max_ms = 50};
    } else {
        net->drop_pm = (unsigned)rng_below(r->g, 200);
        net->dup_pm = (unsigned)rng_below(r->g, 100);
        net->delay_min_ms = rng_range(r->g, 0, 3);
        net->delay_max_ms = net->delay_min_ms + rng_range(r->g, 1, 30);
        net->slow_pm = (unsigned)rng_below(r->g, 50);
        net->slow_max_ms = net->delay_max_ms + rng_range(r->g, 10, 400);
    }
    cluster_trace(r->c, "network: drop %u dup %u delay %llu-%llu ms",
                  net->drop_pm, net->dup_pm, U(net->delay_min_ms),
                  U(net->delay_max_ms));
}

/* Servers of conf with role `role` (learners: only those to be promoted). */
static unsigned count_role(const struct raft_conf *conf, uint8_t role)
{
    unsigned n = 0;
    for (unsigned k = 0; k < conf->n; k++)
        n += conf->servers[k].role == role &&
             (role == RAFT_VOTER || conf->servers[k].promote);
    return n;
}

/* Adds or removes a server through the leader, keeping 3 to 5 voters (and
 * at most 5 once the learners being caught up are promoted). */
static void membership(struct run *r)
{
    uint64_t l = cluster_leader(r->c);
    if (l == 0)
        return;
    const struct raft_conf *conf = raft_conf(cluster_node(r->c, l)->core);
    unsigned voters = count_role(conf, RAFT_VOTER);
    unsigned future = voters + count_role(conf, RAFT_LEARNER);
    bool add = future < 5 && (voters <= 3 || rng_chance(r->g, 500));
    if (add && conf->n < 7) {
        cluster_add(r->c, l, !rng_chance(r->g, 100), NULL);
        return;
    }
    if (conf->n == 0)
        return;
    uint64_t victim = conf->servers[rng_below(r->g, conf->n)].id;
    if (rng_chance(r->g, 200))
        victim = l;
    if (raft_conf_role(conf, victim) != RAFT_VOTER || voters > 3)
        cluster_remove(r->c, l, victim);
}

static void transfer(struct run *r)
{
    uint64_t l = cluster_leader(r->c);
    if (l == 0)
        return;
    const struct raft_conf *conf = raft_conf(cluster_node(r->c, l)->core);
    uint64_t to = 0;
    if (conf->n > 0 && rng_chance(r->g, 500))
        to = conf->servers[rng_below(r->g, conf->n)].id;
    cluster_transfer(r->c, l, to);
}

/* A message from a server outside the cluster, with a term no member
 * reaches, which must be ignored (raft.h, raft_step): of any type to a
 * voter of its own configuration; to a server that does not campaign
 * (joining, a learner, removed), of any type but a leader's (those it takes
 * from anyone, as it must to be brought in: the peer hello's cluster id,
 * which the simulator does not model, keeps outsiders from it). */
static void outsider(struct run *r)
{
    static const uint8_t not_leaders[] = {
        RAFT_MSG_APPEND_RESP,   RAFT_MSG_VOTE,         RAFT_MSG_VOTE_RESP,
        RAFT_MSG_PREVOTE,       RAFT_MSG_PREVOTE_RESP, RAFT_MSG_HEARTBEAT_RESP,
        RAFT_MSG_SNAPSHOT_RESP, RAFT_MSG_TIMEOUT_NOW};
    uint64_t to = random_up_node(r);
    struct sim_node *n = cluster_node(r->c, to);
    if (n == NULL)
        return;
    uint8_t type = (uint8_t)rng_range(r->g, 1, RAFT_MSG_TYPE_MAX);
    if (raft_conf_role(raft_conf(n->core), to) != RAFT_VOTER)
        type = not_leaders[rng_below(r->g, sizeof not_leaders)];
    struct raft_msg m = {.type = type,
                         .from = CLUSTER_MAX_ID + 1 + rng_below(r->g, 1000),
                         .to = to,
                         .term = rng_chance(r->g, 300)
                                     ? UINT64_MAX - rng_below(r->g, 4)
                                     : CLUSTER_OUTSIDER_TERM +
                                           rng_below(r->g, 1000),
                         .index = rng_below(r->g, 100),
                         .log_term = rng_below(r->g, 10),
                         .commit = rng_below(r->g, 100),
                         .reject = rng_chance(r->g, 500)};
    uint8_t frame[256];
    size_t len = wire_msg_encode(&m, frame, sizeof frame);
    cluster_trace(r->c, "outsider n%llu -> n%llu: type %u term %llu", U(m.from),
                  U(to), m.type, U(m.term));
    if (len > 0 && len <= sizeof frame)
        net_deliver(r->c, to, frame, len, CLUSTER_ALL);
}

static void faults(struct run *r)
{
    unsigned f = r->fault_pm;
    crashes(r);
    if (rng_chance(r->g, f))
        partition(r);
    if (rng_chance(r->g, f))
        network(r);
    if (rng_chance(r->g, f)) {
        uint64_t id = random_up_node(r);
        struct sim_node *n = cluster_node(r->c, id);
        if (n != NULL)
            cluster_set_slow_disk(r->c, id, !n->slow_disk);
    }
    if (rng_chance(r->g, f / 2))
        membership(r);
    if (rng_chance(r->g, f / 2))
        transfer(r);
    if (rng_chance(r->g, f / 4))
        outsider(r);
}

static void heal_all(struct run *r)
{
    struct cluster *c = r->c;
    cluster_heal(c);
    c->net = (struct cluster_net){
        .delay_min_ms = 1, .delay_max_ms = 5, .slow_max_ms = 50};
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++) {
        struct sim_node *n = cluster_node(c, id);
        if (n == NULL)
            continue;
        n->slow_disk = false;
        r->restart_at[id] = 0;
        cluster_restart(c, id);
    }
    cluster_trace(c, "all faults healed");
}

/* True once the probe is applied by every member of the latest committed
 * configuration; proposes a new probe when none is pending. */
static bool probe_done(struct run *r)
{
    struct cluster *c = r->c;
    uint64_t term;
    if (r->probe_index != 0 &&
        check_applied(c->check, r->probe_index, &term, NULL)) {
        if (term != r->probe_term) {
            r->probe_index = 0; /* lost with its term: try again */
        } else {
            for (unsigned k = 0; k < c->conf.n; k++) {
                struct sim_node *n = cluster_node(c, c->conf.servers[k].id);
                if (n == NULL || !n->up || n->sm.index < r->probe_index)
                    return false;
            }
            return true;
        }
    }
    if (r->probe_index != 0 && c->now_ms < r->probe_at + 3 * c->cfg.election_ms)
        return false;
    uint64_t l = cluster_leader(c);
    static const char probe[] = "probe";
    if (l != 0 && cluster_propose(c, l, probe, sizeof probe, &r->probe_index,
                                  &r->probe_term) == 0)
        r->probe_at = c->now_ms;
    else
        r->probe_index = 0;
    return false;
}

static void liveness_failure(struct run *r)
{
    struct cluster *c = r->c;
    char buf[512];
    size_t off = 0;
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID && off < sizeof buf - 80; id++) {
        struct sim_node *n = cluster_node(c, id);
        if (n == NULL || !n->up)
            continue;
        off += (size_t)snprintf(buf + off, sizeof buf - off,
                                " n%llu:%s/t%llu/c%llu/a%llu", U(id),
                                raft_role_name(n->role), U(raft_term(n->core)),
                                U(raft_commit_index(n->core)), U(n->sm.index));
    }
    if (r->lcl != NULL)
        cluster_fail(c,
                     "liveness: the lock probe is still at '%s' %llu ms "
                     "after healing;%s",
                     lockclient_probe_state(r->lcl), U(40 * c->cfg.election_ms),
                     buf);
    else
        cluster_fail(c,
                     "liveness: no proposal committed and applied by all "
                     "members within %llu ms of healing (probe %llu);%s",
                     U(40 * c->cfg.election_ms), U(r->probe_index), buf);
}

/* After the probe, with no client writes: every member of the latest
 * committed configuration has applied all the leader committed, and no
 * learner still waits to be promoted. */
static void check_converged(struct run *r)
{
    struct cluster *c = r->c;
    uint64_t l = cluster_leader(c);
    if (l == 0) {
        cluster_fail(c, "liveness: no leader after a quiet period");
        return;
    }
    struct raft *lc = cluster_node(c, l)->core;
    const struct raft_conf *conf = raft_conf(lc);
    for (unsigned k = 0; k < conf->n; k++) {
        const struct raft_server *s = &conf->servers[k];
        struct sim_node *n = cluster_node(c, s->id);
        if (s->promote)
            cluster_fail(c,
                         "liveness: learner n%llu not promoted after a "
                         "quiet period",
                         U(s->id));
        else if (n == NULL || !n->up || n->sm.index < raft_commit_index(lc))
            cluster_fail(c,
                         "liveness: n%llu applied %llu of the %llu the "
                         "leader n%llu committed, after a quiet period",
                         U(s->id), U(n && n->up ? n->sm.index : 0),
                         U(raft_commit_index(lc)), U(l));
    }
}

static void configure(struct run *r, struct cluster_config *cc, uint64_t seed,
                      const struct opts *o, struct rng *g)
{
    unsigned n = o->nodes ? o->nodes : (rng_chance(g, 500) ? 3 : 5);
    cluster_config_default(cc, seed, n);
    static const uint32_t msg_bytes[] = {1, 64, 256, 1024, 65536};
    cc->election_ms = rng_range(g, 100, 150);
    cc->heartbeat_ms = rng_range(g, 20, 30);
    cc->max_msg_bytes = msg_bytes[rng_below(g, 5)];
    cc->max_inflight_msgs = (uint32_t)rng_range(g, 1, 8);
    cc->max_inflight_bytes = rng_range(g, 64, 8192);
    cc->chunk_bytes = (uint32_t)rng_range(g, 64, 256);
    cc->no_pre_vote = rng_chance(g, 100);
    cc->no_check_quorum = rng_chance(g, 100);
    cc->drift_pct = rng_chance(g, 500) ? (unsigned)rng_range(g, 1, 20) : 0;
    r->snap_every = rng_range(g, 5, 60);
    /* Most seeds see a fault every 0.2 to 3 s; one in ten is a storm. */
    r->fault_pm = rng_chance(g, 100) ? (unsigned)rng_range(g, 30, 120)
                                     : (unsigned)rng_range(g, 2, 30);
    if (!o->fsm)
        return;
    /* The lock machine's snapshots run to kilobytes. A leader that
     * snapshots again restarts the transfer of the older one, so snapshots
     * taken faster than one can be sent would starve a follower. */
    cc->chunk_bytes = (uint32_t)rng_range(g, 64, 1024);
    r->snap_gap_ms = rng_range(g, 1500, 3000);
}

/* Phase 1: clients, snapshots and faults until fault_ms. */
static void run_faults(struct run *r, uint64_t fault_ms)
{
    struct cluster *c = r->c;
    while (!c->failed && c->now_ms < fault_ms) {
        cluster_run_until(c, c->now_ms + rng_range(r->g, 1, 10));
        restarts(r);
        retire_removed(r);
        clients(r);
        snapshots(r);
        faults(r);
    }
}

/* The healed phase's probe: a proposal (or, with the lock service, the
 * lock probe) committed and applied everywhere. */
static bool healed_probe(struct run *r)
{
    if (r->srv == NULL)
        return probe_done(r);
    lockserver_step(r->srv, r->c, true);
    lockclient_step(r->lcl, r->c, false);
    return lockclient_probe(r->lcl, r->c);
}

/* Phase 2: everything healed, a probe must commit everywhere within 40
 * election timeouts; then, quiet for 10 more, the cluster must converge.
 * The lock service's leaders keep proposing expiries and ticks for the
 * first 6 of them, then leave the last 4 to settle. */
static void run_healed(struct run *r)
{
    struct cluster *c = r->c;
    uint64_t deadline = c->now_ms + 40 * c->cfg.election_ms;
    heal_all(r);
    while (!c->failed && !healed_probe(r)) {
        cluster_run_until(c, c->now_ms + 5);
        retire_removed(r);
        snapshots(r);
        if (c->now_ms > deadline)
            liveness_failure(r);
    }
    uint64_t quiet = c->now_ms + 10 * c->cfg.election_ms;
    uint64_t settle = quiet - 4 * c->cfg.election_ms;
    while (!c->failed && c->now_ms < quiet) {
        cluster_run_until(c, c->now_ms + 5);
        retire_removed(r);
        if (r->srv != NULL)
            lockserver_step(r->srv, c, c->now_ms < settle);
    }
    if (!c->failed)
        check_converged(r);
    if (!c->failed && r->srv != NULL)
        lockserver_audit(r->srv, c);
}

static void add_totals(const struct run *r)
{
    struct lockcheck_stats a;
    struct lockclient_stats b;
    lockcheck_stats(r->lck, &a);
    lockclient_stats(r->lcl, &b);
    lock_totals.applies += a.applies;
    lock_totals.grants += a.grants;
    lock_totals.retries += a.retries;
    lock_totals.restores += a.restores;
    lock_totals.withdrawn += a.withdrawn;
    lock_totals.shared += a.shared;
    lock_totals.permits += a.permits;
    lock_totals.leaders += a.leaders;
    lock_totals.proclaims += a.proclaims;
    lock_totals.revokes += a.revokes;
    lock_totals.kinds += a.kinds;
    lock_totals.changes += a.changes;
    lock_totals.resumes += a.resumes;
    lock_totals.gone += a.gone;
    client_totals.requests += b.requests;
    client_totals.acked += b.acked;
    client_totals.retried += b.retried;
    client_totals.lost += b.lost;
    client_totals.gone += b.gone;
}

/* Runs one seed; returns true if it passed. */
static bool run_seed(uint64_t seed, const struct opts *o, FILE *trace,
                     char *why, size_t why_len, uint64_t *fail_ms)
{
    struct run r = {0};
    struct cluster_config cc;
    struct rng g;
    rng_seed(&g, seed ^ 0x5eed5eed5eedull);
    configure(&r, &cc, seed, o, &g);
    cc.trace = trace;
    uint64_t fault_ms = o->ms ? o->ms : rng_range(&g, 2000, 6000);
    if (o->fsm) {
        r.lck = lockcheck_new();
        r.srv = lockserver_new(r.lck);
        cc.app = lockserver_app(r.srv);
    }
    r.c = cluster_new(&cc);
    r.g = &r.c->rng;
    if (o->fsm)
        r.lcl = lockclient_new(r.srv, r.lck, r.c);
    cluster_trace(r.c,
                  "seed %llu: %u nodes, election %llu ms, heartbeat "
                  "%llu ms, msg %u B, inflight %u/%llu B, chunk %u B, "
                  "drift %u%%, faults %u/1000 per step%s%s",
                  U(seed), cc.n_voters, U(cc.election_ms), U(cc.heartbeat_ms),
                  cc.max_msg_bytes, cc.max_inflight_msgs,
                  U(cc.max_inflight_bytes), cc.chunk_bytes, cc.drift_pct,
                  r.fault_pm, cc.no_pre_vote ? ", no prevote" : "",
                  cc.no_check_quorum ? ", no checkquorum" : "");
    run_faults(&r, fault_ms);
    if (!r.c->failed)
        run_healed(&r);
    bool ok = !r.c->failed;
    if (!ok) {
        snprintf(why, why_len, "%s", r.c->failure);
        *fail_ms = r.c->fail_ms;
    }
    if (o->fsm && trace == NULL)
        add_totals(&r);
    lockclient_free(r.lcl);
    cluster_free(r.c);
    lockserver_free(r.srv);
    lockcheck_free(r.lck);
    return ok;
}

/* Replays a failed seed with a trace and prints its last lines. */
static void print_tail(uint64_t seed, const struct opts *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char why[768];
    uint64_t at;
    if (f == NULL)
        return;
    run_seed(seed, o, f, why, sizeof why, &at);
    fclose(f);
    size_t start = len, lines = 0;
    while (start > 0 && lines <= TAIL_LINES)
        if (buf[--start] == '\n')
            lines++;
    if (lines > TAIL_LINES)
        start++;
    printf("  trace (last %d lines):\n", TAIL_LINES);
    for (char *p = buf + start, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        printf("  | %.*s\n", (int)(nl - p), p);
    }
    free(buf);
}

/* A seed running longer than this has a core stuck in a loop of its own. */
#ifndef WATCHDOG_S
#define WATCHDOG_S 60
#endif

static volatile uint64_t wd_seed, wd_passed, wd_failed;
static volatile bool wd_fsm;

/* Appends the decimal digits of x to *p (async-signal-safe). */
static void put_u64(char **p, uint64_t x)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x != 0);
    while (n > 0)
        *(*p)++ = tmp[--n];
}

static void put_str(char **p, const char *s)
{
    while (*s)
        *(*p)++ = *s++;
}

static void watchdog_cb(int sig)
{
    char buf[256], *p = buf;
    (void)sig;
    put_str(&p, "seed ");
    put_u64(&p, wd_seed);
    put_str(&p, ": FAIL: still running after ");
    put_u64(&p, WATCHDOG_S);
    put_str(&p, " s (the core loops?)\n  replay: build/sim --seeds 1 "
                "--seed0 ");
    put_u64(&p, wd_seed);
    put_str(&p, wd_fsm ? " --fsm --verbose\n" : " --verbose\n");
    put_u64(&p, wd_passed);
    put_str(&p, " passed, ");
    put_u64(&p, wd_failed + 1);
    put_str(&p, " failed\n");
    if (write(STDOUT_FILENO, buf, (size_t)(p - buf)) < 0)
        _exit(2);
    _exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: sim [--seeds N] [--seed0 S] [--nodes 3|5] "
                    "[--ms K] [--fsm] [--verbose]\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.seeds = 100, .seed0 = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            o->verbose = true;
            continue;
        }
        if (strcmp(a, "--fsm") == 0) {
            o->fsm = true;
            continue;
        }
        if (v == NULL)
            usage();
        uint64_t x = strtoull(v, NULL, 10);
        if (strcmp(a, "--seeds") == 0)
            o->seeds = x;
        else if (strcmp(a, "--seed0") == 0)
            o->seed0 = x;
        else if (strcmp(a, "--nodes") == 0 && (x == 3 || x == 5))
            o->nodes = (unsigned)x;
        else if (strcmp(a, "--ms") == 0 || strcmp(a, "--steps") == 0)
            o->ms = x;
        else
            usage();
        i++;
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    parse(argc, argv, &o);
    uint64_t passed = 0, failed = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    signal(SIGALRM, watchdog_cb);
    wd_fsm = o.fsm;
    for (uint64_t s = o.seed0; s < o.seed0 + o.seeds; s++) {
        char why[768];
        uint64_t at = 0;
        fflush(stdout);
        wd_seed = s;
        wd_passed = passed;
        wd_failed = failed;
        alarm(WATCHDOG_S);
        if (run_seed(s, &o, o.verbose ? stdout : NULL, why, sizeof why, &at)) {
            passed++;
            continue;
        }
        failed++;
        printf("seed %llu: FAIL at t=%llums: %s\n", U(s), U(at), why);
        if (!o.verbose)
            print_tail(s, &o);
        printf("  replay: build/sim --seeds 1 --seed0 %llu", U(s));
        if (o.nodes)
            printf(" --nodes %u", o.nodes);
        if (o.ms)
            printf(" --ms %llu", U(o.ms));
        printf("%s --verbose\n", o.fsm ? " --fsm" : "");
        fflush(stdout);
    }
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ran %llu seeds%s in %.2f s (%.2f ms per seed)\n", U(o.seeds),
           o.fsm ? " of the lock service" : "", secs,
           o.seeds ? secs * 1e3 / (double)o.seeds : 0.0);
    if (o.fsm)
        printf("lock service: %llu commands applied on all nodes, %llu "
               "grants (%llu taken back from clients gone; %llu shared "
               "holds granted), %llu retries "
               "answered, %llu machines restored; clients: %llu requests, "
               "%llu outcomes learnt (%llu by retry), %llu lost, %llu "
               "blocking acquires given up; %llu semaphore grants, %llu "
               "leaders elected, %llu proclaims, %llu holds revoked, %llu "
               "commands of another kind refused; watches: %llu changes, "
               "%llu resumes (%llu gone)\n",
               U(lock_totals.applies), U(lock_totals.grants),
               U(lock_totals.withdrawn), U(lock_totals.shared),
               U(lock_totals.retries), U(lock_totals.restores),
               U(client_totals.requests), U(client_totals.acked),
               U(client_totals.retried), U(client_totals.lost),
               U(client_totals.gone), U(lock_totals.permits),
               U(lock_totals.leaders), U(lock_totals.proclaims),
               U(lock_totals.revokes), U(lock_totals.kinds),
               U(lock_totals.changes), U(lock_totals.resumes),
               U(lock_totals.gone));
    printf("%llu passed, %llu failed\n", U(passed), U(failed));
    return failed == 0 ? 0 : 1;
}
