/* cluster.c - the simulated cluster: nodes running the core through the edge
 * contract of raft.h (disks in disk.c, network and events in net.c), and
 * the calls scripted tests and the simulator make on it. */
#include "cluster.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/mem.h"
#include "disk.h"
#include "net.h"

#define U(x) ((unsigned long long)(x))

/* A run that needs more events than this is stuck in a message storm. */
#define MAX_EVENTS 20000000u
#define MAX_PENDING_EVENTS 2000000u
/* Updates handed out in a row by one core before it is called looping. */
#define MAX_UPDATES_IN_A_ROW 10000u

/* ---- reporting ---- */

void cluster_trace(struct cluster *c, const char *fmt, ...)
{
    if (c->cfg.trace == NULL)
        return;
    va_list ap;
    fprintf(c->cfg.trace, "%7llu ms ", U(c->now_ms));
    va_start(ap, fmt);
    vfprintf(c->cfg.trace, fmt, ap);
    va_end(ap);
    fputc('\n', c->cfg.trace);
}

void cluster_fail(struct cluster *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->failure, sizeof c->failure, fmt, ap);
    va_end(ap);
    c->failed = true;
    c->fail_ms = c->now_ms;
    cluster_trace(c, "VIOLATION: %s", c->failure);
}

/* ---- the edge ---- */

static void conf_applied(struct cluster *c, const struct raft_entry *e)
{
    struct raft_conf conf;
    if (e->index <= c->conf_index)
        return;
    if (raft_conf_decode(&conf, e->data, e->len) != 0) {
        cluster_fail(c, "committed CONF entry %llu does not decode",
                     U(e->index));
        return;
    }
    c->conf = conf;
    c->conf_index = e->index;
    for (unsigned k = 0; k < conf.n; k++)
        if (conf.servers[k].id <= CLUSTER_MAX_ID)
            c->nodes[conf.servers[k].id].member = true;
    if (c->cfg.trace == NULL)
        return;
    char buf[256] = "";
    size_t off = 0;
    for (unsigned k = 0; k < conf.n && off < sizeof buf - 16; k++)
        off += (size_t)snprintf(
            buf + off, sizeof buf - off, " n%llu%s", U(conf.servers[k].id),
            conf.servers[k].role == RAFT_VOTER ? "" : "(l)");
    cluster_trace(c, "configuration at %llu committed:%s", U(e->index), buf);
}

static void apply_entries(struct cluster *c, struct sim_node *n,
                          const struct raft_update *u)
{
    for (size_t k = 0; k < u->n_committed && !c->failed; k++) {
        const struct raft_entry *e = &u->committed[k];
        if (e->index != n->sm.index + 1) {
            cluster_fail(c, "n%llu applies %llu after %llu%s", U(n->id),
                         U(e->index), U(n->sm.index),
                         n->view.installing ? " (a snapshot install is "
                                              "pending)"
                                            : "");
            return;
        }
        sm_apply(&n->sm, e);
        check_apply(c, n, e);
        if (e->type == RAFT_ENTRY_CONF && !c->failed)
            conf_applied(c, e);
        if (c->cfg.app != NULL && !c->failed)
            c->cfg.app->apply(c->cfg.app->arg, c, n, e);
    }
}

static void trace_update(struct cluster *c, struct sim_node *n,
                         const struct raft_update *u)
{
    if (c->cfg.trace == NULL || u->persist.seq == 0)
        return;
    char hs[48] = "", ch[96] = "", es[64] = "";
    if (u->persist.hs_changed)
        snprintf(hs, sizeof hs, " hs=(t%llu, vote n%llu)", U(u->persist.term),
                 U(u->persist.vote));
    if (u->persist.chunk)
        snprintf(ch, sizeof ch, " chunk=(%llu,%llu) off=%llu len=%u%s",
                 U(u->persist.chunk_index), U(u->persist.chunk_term),
                 U(u->persist.chunk_offset), u->persist.chunk_len,
                 u->persist.chunk_last ? " last" : "");
    if (u->persist.n_entries)
        snprintf(es, sizeof es, " entries=%llu..%llu (t%llu..t%llu)",
                 U(u->persist.entries[0].index),
                 U(u->persist.entries[u->persist.n_entries - 1].index),
                 U(u->persist.entries[0].term),
                 U(u->persist.entries[u->persist.n_entries - 1].term));
    cluster_trace(c, "n%llu persist seq %llu:%s%s%s", U(n->id),
                  U(u->persist.seq), hs, ch, es);
}

static void handle_update(struct cluster *c, struct sim_node *n,
                          const struct raft_update *u)
{
    trace_update(c, n, u);
    check_update(c, n, u);
    if (c->failed)
        return;
    if (u->persist.seq != 0 && ((c->cfg.manual && !n->hold) || n->sync)) {
        struct raft_persist w;
        raft_persist_copy(&w, &u->persist);
        disk_write(c, n, &w, true);
        raft_persist_free(&w);
    } else if (u->persist.seq != 0) {
        disk_queue(c, n, u);
    }
    check_state(c, n, u);
    if (u->role != n->role || u->leader != n->leader)
        cluster_trace(c, "n%llu is %s in term %llu, leader n%llu, commit %llu",
                      U(n->id), raft_role_name(u->role), U(raft_term(n->core)),
                      U(u->leader), U(u->commit));
    n->role = u->role;
    n->leader = u->leader;
    for (size_t k = 0; k < u->n_msgs && !c->failed; k++)
        net_send(c, n, &u->msgs[k]);
    if (!c->failed)
        apply_entries(c, n, u);
}

/* Drops a few more entries of the log before the node's last snapshot, if
 * some are left, as dlockd does on each pass over its updates (an install
 * from a leader moved past it: done). */
static void compact_step(struct cluster *c, struct sim_node *n)
{
    if (n->compacting == 0 || !n->up)
        return;
    if (n->compacting < raft_snapshot_index(n->core)) {
        n->compacting = 0;
        return;
    }
    int rv = raft_compact_some(n->core, n->compacting, n->compact_trailing,
                               rng_range(&c->rng, 1, 64));
    if (rv < 0)
        cluster_fail(c, "n%llu: raft_compact_some(%llu) = %d", U(n->id),
                     U(n->compacting), rv);
    if (rv != 1)
        n->compacting = 0;
}

void cluster_drain(struct cluster *c, struct sim_node *n)
{
    unsigned guard = 0;
    compact_step(c, n);
    while (!c->failed && n->up && raft_has_update(n->core)) {
        if (++guard > MAX_UPDATES_IN_A_ROW) {
            cluster_fail(c, "n%llu: the core never stops handing out updates",
                         U(n->id));
            return;
        }
        struct raft_update u;
        raft_update(n->core, &u);
        handle_update(c, n, &u);
        if (((c->cfg.manual && !n->hold) || n->sync) && u.persist.seq != 0 &&
            !c->failed)
            raft_persisted(n->core, u.persist.seq);
    }
}

/* ---- nodes ---- */

static void node_config(struct cluster *c, struct sim_node *n,
                        struct raft_config *rc)
{
    const struct cluster_config *cc = &c->cfg;
    raft_config_default(rc, n->id);
    rc->election_ms = cc->election_ms;
    rc->heartbeat_ms = cc->heartbeat_ms;
    rc->max_msg_bytes = cc->max_msg_bytes;
    rc->max_inflight_msgs = cc->max_inflight_msgs;
    rc->max_inflight_bytes = cc->max_inflight_bytes;
    rc->chunk_bytes = cc->chunk_bytes;
    rc->seed = rng_next(&c->rng);
    rc->no_pre_vote = cc->no_pre_vote;
    rc->no_check_quorum = cc->no_check_quorum;
}

static bool node_core(struct cluster *c, struct sim_node *n)
{
    n->compacting = 0; /* a new core: what it drops starts again */
    struct raft_config rc;
    node_config(c, n, &rc);
    n->core = raft_new(&rc);
    if (n->core == NULL) {
        cluster_fail(c, "raft_new refuses the configuration of n%llu",
                     U(n->id));
        return false;
    }
    n->up = true;
    n->tick_ms = c->now_ms;
    n->clock_pct = 100;
    n->clock_rem = 0;
    if (c->cfg.drift_pct != 0)
        n->clock_pct = (unsigned)rng_range(&c->rng, 100 - c->cfg.drift_pct,
                                           100 + c->cfg.drift_pct);
    n->role = raft_role(n->core);
    n->leader = 0;
    n->sm = (struct sim_sm){0};
    if (c->cfg.app != NULL)
        c->cfg.app->reset(c->cfg.app->arg, c, n);
    return true;
}

/* Starts a server with an empty disk; bootstraps it with conf if given. */
static void node_start(struct cluster *c, uint64_t id,
                       const struct raft_conf *conf)
{
    struct sim_node *n = &c->nodes[id];
    n->id = id;
    n->used = true;
    disk_init(&n->disk);
    if (!node_core(c, n))
        return;
    check_restart(c, n);
    cluster_trace(c, "n%llu starts%s", U(id), conf ? " (bootstrap)" : "");
    if (conf != NULL) {
        /* Bootstrapping writes the initial state durably before the server
         * starts serving. */
        int rv = raft_bootstrap(n->core, conf);
        if (rv != 0)
            cluster_fail(c, "n%llu: raft_bootstrap = %d", U(id), rv);
        n->sync = true;
        cluster_drain(c, n);
        n->sync = false;
    }
    net_schedule_tick(c, n);
    cluster_drain(c, n);
}

void cluster_restart(struct cluster *c, uint64_t id)
{
    struct sim_node *n = cluster_node(c, id);
    if (n == NULL || n->up || n->gone || c->failed)
        return;
    if (!node_core(c, n))
        return;
    struct sim_disk *d = &n->disk;
    disk_recover(d);
    const struct raft_entry *es;
    size_t n_es = cluster_disk_entries(d, &es);
    int rv = raft_restore(n->core, d->term, d->vote,
                          d->snap.present ? &d->snap.meta : NULL, es, n_es);
    cluster_trace(c,
                  "n%llu restarts: term %llu vote n%llu snapshot %llu "
                  "last %llu",
                  U(id), U(d->term), U(d->vote), U(disk_snap_index(d)),
                  U(cluster_disk_last(d)));
    if (rv != 0) {
        cluster_fail(c, "n%llu: raft_restore = %d", U(id), rv);
        return;
    }
    disk_restore_sm(c, n);
    check_restart(c, n);
    net_schedule_tick(c, n);
    cluster_drain(c, n);
}

void cluster_crash(struct cluster *c, uint64_t id, bool keep_some)
{
    struct sim_node *n = cluster_node(c, id);
    if (n == NULL || !n->up)
        return;
    disk_crash(c, n, keep_some);
    raft_free(n->core);
    n->core = NULL;
    n->up = false;
    n->life++;
    n->role = RAFT_FOLLOWER;
    n->leader = 0;
    n->sm = (struct sim_sm){0};
    n->view.installing = false;
    if (c->cfg.app != NULL)
        c->cfg.app->reset(c->cfg.app->arg, c, n);
}

void cluster_retire(struct cluster *c, uint64_t id)
{
    struct sim_node *n = cluster_node(c, id);
    if (n == NULL || n->gone)
        return;
    cluster_trace(c, "n%llu is removed and shut down", U(id));
    cluster_crash(c, id, false);
    n->gone = true;
}

void cluster_set_slow_disk(struct cluster *c, uint64_t id, bool slow)
{
    struct sim_node *n = cluster_node(c, id);
    if (n != NULL)
        n->slow_disk = slow;
}

/* ---- the cluster ---- */

void cluster_config_default(struct cluster_config *cc, uint64_t seed,
                            unsigned n_voters)
{
    *cc = (struct cluster_config){.seed = seed,
                                  .n_voters = n_voters,
                                  .election_ms = 120,
                                  .heartbeat_ms = 25,
                                  .max_msg_bytes = 512,
                                  .max_inflight_msgs = 4,
                                  .max_inflight_bytes = 4096,
                                  .chunk_bytes = 128};
}

struct cluster *cluster_new(const struct cluster_config *cc)
{
    struct cluster *c = mem_xcalloc(1, sizeof *c);
    c->cfg = *cc;
    rng_seed(&c->rng, cc->seed);
    c->net = (struct cluster_net){
        .delay_min_ms = 1, .delay_max_ms = 5, .slow_max_ms = 50};
    c->check = check_new();
    c->next_id = cc->n_voters + 1;
    struct raft_conf conf = {.n = cc->n_voters};
    for (unsigned k = 0; k < cc->n_voters; k++) {
        struct raft_server *s = &conf.servers[k];
        s->id = k + 1;
        s->role = RAFT_VOTER;
        snprintf(s->addr, sizeof s->addr, "n%u", k + 1);
    }
    for (unsigned k = 0; k < cc->n_voters && !c->failed; k++)
        node_start(c, k + 1, &conf);
    return c;
}

void cluster_free(struct cluster *c)
{
    if (c == NULL)
        return;
    net_free(c);
    for (unsigned id = 1; id <= CLUSTER_MAX_ID; id++) {
        struct sim_node *n = &c->nodes[id];
        disk_free(n);
        raft_free(n->core);
        free(n->view.terms);
    }
    check_free(c->check);
    free(c);
}

static void process(struct cluster *c, struct sim_event *e)
{
    struct sim_node *n = &c->nodes[e->node];
    bool live = n->up && n->life == e->life;
    switch (e->type) {
    case EV_TICK:
        if (!live)
            return;
        n->clock_rem += (c->now_ms - n->tick_ms) * n->clock_pct;
        n->tick_ms = c->now_ms;
        raft_tick(n->core, n->clock_rem / 100);
        n->clock_rem %= 100;
        cluster_drain(c, n);
        if (n->up && n->life == e->life)
            net_schedule_tick(c, n);
        break;
    case EV_MSG:
        if (!c->blocked[e->from][e->node])
            net_deliver(c, e->node, e->frame, e->len, CLUSTER_ALL);
        free(e->frame);
        break;
    case EV_DISK:
        if (live)
            disk_done(c, n);
        break;
    case EV_ACK:
        if (!live)
            return;
        cluster_trace(c, "n%llu: persisted %llu", U(n->id), U(e->arg));
        raft_persisted(n->core, e->arg);
        cluster_drain(c, n);
        break;
    }
}

void cluster_run_until(struct cluster *c, uint64_t t_ms)
{
    while (!c->failed && c->n_ev > 0 && c->ev[0].at_ms <= t_ms) {
        struct sim_event e = net_pop(c);
        c->now_ms = e.at_ms;
        process(c, &e);
        if (++c->n_events > MAX_EVENTS || c->n_ev > MAX_PENDING_EVENTS)
            cluster_fail(c,
                         "message storm: %llu events processed, %zu "
                         "pending",
                         U(c->n_events), c->n_ev);
    }
    if (!c->failed && t_ms > c->now_ms)
        c->now_ms = t_ms;
}

struct sim_node *cluster_node(struct cluster *c, uint64_t id)
{
    if (id == 0 || id > CLUSTER_MAX_ID || !c->nodes[id].used)
        return NULL;
    return &c->nodes[id];
}

uint64_t cluster_leader(const struct cluster *c)
{
    uint64_t best = 0, best_term = 0;
    for (unsigned id = 1; id <= CLUSTER_MAX_ID; id++) {
        const struct sim_node *n = &c->nodes[id];
        if (!n->up || n->role != RAFT_LEADER)
            continue;
        uint64_t t = raft_term(n->core);
        if (t > best_term) {
            best = id;
            best_term = t;
        }
    }
    return best;
}

bool cluster_is_member(const struct cluster *c, uint64_t id)
{
    if (id == 0 || id > CLUSTER_MAX_ID || c->nodes[id].gone)
        return false;
    return raft_conf_role(&c->conf, id) != 0;
}

/* The running node id, or NULL (a scripted test asking for a dead node gets
 * RAFT_EINVAL from the calls below). */
static struct sim_node *live_node(struct cluster *c, uint64_t id)
{
    struct sim_node *n = cluster_node(c, id);
    return n != NULL && n->up && !c->failed ? n : NULL;
}

int cluster_propose(struct cluster *c, uint64_t id, const void *data,
                    uint32_t len, uint64_t *index, uint64_t *term)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    uint64_t i = 0, t = 0;
    int rv = raft_propose(n->core, data, len, &i, &t);
    if (rv == 0)
        cluster_trace(c, "n%llu: proposal at (%llu, %llu)", U(id), U(i), U(t));
    if (index)
        *index = i;
    if (term)
        *term = t;
    cluster_drain(c, n);
    return rv;
}

int cluster_read(struct cluster *c, uint64_t id)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    uint64_t ctx = ++c->next_ctx;
    int rv = raft_read_index(n->core, ctx);
    if (rv == 0) {
        cluster_trace(c, "n%llu: read %llu asked", U(id), U(ctx));
        check_read_asked(c, n, ctx);
    }
    cluster_drain(c, n);
    return rv;
}

int cluster_read_outcome(const struct cluster *c, uint64_t ctx)
{
    return check_read_outcome(c->check, ctx);
}

int cluster_add(struct cluster *c, uint64_t id, bool promote, uint64_t *new_id)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL || c->next_id > CLUSTER_MAX_ID)
        return RAFT_EINVAL;
    uint64_t nid = c->next_id;
    char addr[RAFT_ADDR_MAX];
    snprintf(addr, sizeof addr, "n%llu", U(nid));
    int rv = raft_add(n->core, nid, addr, promote);
    cluster_trace(c, "n%llu: add n%llu%s = %d", U(id), U(nid),
                  promote ? " (promote)" : "", rv);
    if (rv == 0) {
        c->next_id++;
        node_start(c, nid, NULL);
        if (new_id)
            *new_id = nid;
    }
    cluster_drain(c, n);
    return rv;
}

int cluster_remove(struct cluster *c, uint64_t id, uint64_t victim)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    int rv = raft_remove(n->core, victim);
    cluster_trace(c, "n%llu: remove n%llu = %d", U(id), U(victim), rv);
    cluster_drain(c, n);
    return rv;
}

int cluster_transfer(struct cluster *c, uint64_t id, uint64_t to)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    int rv = raft_transfer(n->core, to);
    cluster_trace(c, "n%llu: transfer to n%llu = %d", U(id), U(to), rv);
    cluster_drain(c, n);
    return rv;
}

int cluster_snapshot(struct cluster *c, uint64_t id, uint64_t trailing)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    struct sim_disk *d = &n->disk;
    uint64_t s = n->sm.index;
    if (s == 0 || s <= disk_snap_index(d) || n->view.installing)
        return 0;
    if (raft_applied_index(n->core) != s) {
        cluster_fail(c, "n%llu: applied index %llu, state machine at %llu",
                     U(id), U(raft_applied_index(n->core)), U(s));
        return RAFT_EINVAL;
    }
    struct raft_snapshot_meta meta;
    int rv = raft_snapshot_meta(n->core, s, &meta);
    if (rv != 0) {
        cluster_trace(c, "n%llu: raft_snapshot_meta(%llu) = %d", U(id), U(s),
                      rv);
        return rv;
    }
    check_local_snapshot(c, n, &meta);
    size_t len;
    uint8_t *data;
    if (c->cfg.app != NULL) {
        size_t plen;
        uint8_t *p = c->cfg.app->save(c->cfg.app->arg, c, n, &plen);
        data = sm_save(&n->sm, p, plen, &len);
        free(p);
    } else {
        data = sm_save(&n->sm, NULL, rng_range(&c->rng, 100, 900), &len);
    }
    disk_store_snapshot(d, &meta, data, len);
    /* Half the time at once, half in steps over the node's next updates. */
    if (rng_range(&c->rng, 0, 1) == 0) {
        rv = raft_compact(n->core, s, trailing);
    } else {
        n->compacting = s;
        n->compact_trailing = trailing;
        rv = raft_compact_some(n->core, s, trailing, rng_range(&c->rng, 1, 64));
        if (rv == 0)
            n->compacting = 0;
        rv = rv > 0 ? 0 : rv;
    }
    cluster_trace(c,
                  "n%llu: snapshot at (%llu, %llu), %zu bytes, compact "
                  "keeping %llu = %d",
                  U(id), U(s), U(meta.term), len, U(trailing), rv);
    if (rv != 0)
        cluster_fail(c, "n%llu: raft_compact(%llu) = %d", U(id), U(s), rv);
    n->view.snap_index = s;
    n->view.snap_term = meta.term;
    cluster_drain(c, n);
    return rv;
}

/* ---- manual mode ---- */

void cluster_tick(struct cluster *c, uint64_t id, uint64_t ms)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return;
    raft_tick(n->core, ms);
    cluster_drain(c, n);
}

void cluster_hold_disk(struct cluster *c, uint64_t id, bool on)
{
    struct sim_node *n = cluster_node(c, id);
    if (n != NULL)
        n->hold = on;
}

void cluster_flush_disk(struct cluster *c, uint64_t id)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL || n->q_n == 0)
        return;
    disk_flush(c, n);
    cluster_trace(c, "n%llu: persisted %llu", U(id), U(n->write_seq));
    raft_persisted(n->core, n->write_seq);
    cluster_drain(c, n);
}

void cluster_settle(struct cluster *c, uint64_t total_ms, uint64_t step_ms)
{
    for (uint64_t t = 0; t < total_ms && !c->failed; t += step_ms) {
        c->now_ms += step_ms;
        for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++)
            cluster_tick(c, id, step_ms);
        cluster_pump(c, 100);
    }
}
