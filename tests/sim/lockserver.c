/* lockserver.c - dlockd's replicated part on each simulated node: a thin
 * driver of the replica module (src/lock/replica.c) that dlockd runs too,
 * with the simulation's clocks, the checks of cluster time and of every
 * apply (lockcheck.c), and the simulated clients' proposals and waits. */
#include "lockserver.h"

#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/map.h"
#include "common/mem.h"
#include "lock/changelog.h"
#include "lock/replica.h"
#include "lockmodel.h"

#define U(x) ((unsigned long long)(x))
/* As src/server/node.c: an expiry lost with a leader change is proposed
 * again after this long. */
#define EXPIRE_RETRY_MS 1000
/* Smaller than node.c's (1024 and 8192), so that the few sessions of a
 * simulation take several batches and several steps. */
#define EXPIRE_BATCH 4
#define EXPIRE_PER_TURN 8
/* Changes a server's history keeps (dlockd's --watch-history): small, so
 * that resumes find changes dropped (a seed applies some tens). */
#define HISTORY 16

/* A client's proposal, the replica's ctx for it. */
struct sprop {
    lockserver_cb cb;
    void *ctx;
    uint64_t tag;
    bool gone; /* its client went away: a blocking ACQUIRE, */
    char name[FSM_NAME_MAX];
    uint32_t name_len;
    char req[FSM_REQ_MAX]; /* with these */
    uint32_t req_len;
};

/* A client's wait, the replica's ctx for it. */
struct swait {
    lockserver_wait_cb cb;
    void *ctx;
    uint64_t tag;
    void *handle; /* the replica's */
};

/* One server. Its clock is the machine's monotonic clock: it survives
 * restarts, runs at the node's drift, and starts anywhere. */
struct snode {
    struct replica *rep;
    struct changelog log; /* its history of changes, as dlockd's watch.c */
    bool clock_set;
    uint64_t clock_ms;
    uint64_t clock_at;
    uint64_t clock_rem;
    struct sprop **p; /* proposals under way */
    size_t n_p, cap_p;
    struct swait **w; /* waits attached */
    size_t n_w, cap_w;
};

/* When a leader stamped a time into a command of its term. */
struct stamp {
    uint64_t term; /* 0: a free slot */
    uint64_t now;
    uint64_t real_ms;
};

struct lockserver {
    struct lockcheck *ck;
    struct cluster_app app;
    struct snode nodes[CLUSTER_MAX_ID + 1];
    struct stamp *st; /* open addressing by (term, now) */
    size_t cap_st;
    size_t n_st;
    uint64_t seen;         /* the highest index applied anywhere */
    uint64_t last_index;   /* the command applied last there, */
    uint64_t last_now;     /* its time */
    uint64_t last_real_ms; /* and when it was stamped */
    uint64_t grace_ms; /* a gone client's time to come back: --wait-grace-ms */
};

/* ---- time ------------------------------------------------------------- */

static uint64_t clock_now(struct cluster *c, struct sim_node *n,
                          struct snode *sn)
{
    if (!sn->clock_set) {
        sn->clock_set = true;
        sn->clock_ms = rng_chance(&c->rng, 500)
                           ? rng_below(&c->rng, 1000)
                           : rng_range(&c->rng, 1000, 100000000);
        sn->clock_at = c->now_ms;
    }
    sn->clock_rem += (c->now_ms - sn->clock_at) * n->clock_pct;
    sn->clock_at = c->now_ms;
    sn->clock_ms += sn->clock_rem / 100;
    sn->clock_rem %= 100;
    return sn->clock_ms;
}

/* ---- stamps ----------------------------------------------------------- */

static struct stamp *stamp_at(struct lockserver *s, uint64_t term, uint64_t now,
                              bool create)
{
    if (create && (s->n_st + 1) * 2 > s->cap_st) {
        struct stamp *old = s->st;
        size_t old_cap = s->cap_st;
        s->cap_st = old_cap ? 2 * old_cap : 256;
        s->st = mem_xcalloc(s->cap_st, sizeof *s->st);
        s->n_st = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].term != 0)
                *stamp_at(s, old[i].term, old[i].now, true) = old[i];
        free(old);
    }
    if (s->cap_st == 0)
        return NULL;
    size_t mask = s->cap_st - 1;
    for (size_t i = rng_mix(term * 0x9e3779b97f4a7c15ull ^ now) & mask;;
         i = (i + 1) & mask) {
        struct stamp *x = &s->st[i];
        if (x->term == term && x->now == now)
            return x;
        if (x->term != 0)
            continue;
        if (!create)
            return NULL;
        *x = (struct stamp){.term = term, .now = now};
        s->n_st++;
        return x;
    }
}

/* Cluster time may not run faster than real time, beyond the clocks'
 * drift, so that lock-delays and waits last at least what they say.
 * Checked at the first apply of each command, against the command before
 * it in the log, with the real times at which leaders stamped them. */
static void check_time(struct lockserver *s, struct cluster *c,
                       const struct raft_entry *e, const struct fsm_cmd *cmd)
{
    if (e->index <= s->seen)
        return;
    s->seen = e->index;
    const struct stamp *x = stamp_at(s, e->term, cmd->now, false);
    if (x == NULL) {
        cluster_fail(c,
                     "entry %llu (term %llu) carries time %llu that no "
                     "leader stamped",
                     U(e->index), U(e->term), U(cmd->now));
        return;
    }
    uint64_t dc = cmd->now - s->last_now, dr = x->real_ms - s->last_real_ms;
    if (s->last_index != 0 && cmd->now >= s->last_now &&
        x->real_ms >= s->last_real_ms &&
        100 * dc > dr * (100 + c->cfg.drift_pct) + 100)
        cluster_fail(c,
                     "cluster time runs ahead of real time: entry %llu "
                     "is stamped %llu ms after entry %llu, %llu ms later",
                     U(e->index), U(dc), U(s->last_index), U(dr));
    s->last_index = e->index;
    s->last_now = cmd->now;
    s->last_real_ms = x->real_ms;
}

/* ---- proposals and waits ---------------------------------------------- */

static void *vec_push(void *v, size_t *n, size_t *cap, size_t size,
                      const void *item)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        v = mem_xrealloc(v, *cap * size);
    }
    memcpy((char *)v + *n * size, item, size);
    (*n)++;
    return v;
}

/* Takes x out of the vector v of n pointers. */
static void vec_drop(void **v, size_t *n, const void *x)
{
    for (size_t i = 0; i < *n; i++) {
        if (v[i] == x) {
            v[i] = v[--*n];
            return;
        }
    }
}

/* A gone client's blocking ACQUIRE applied: its wait, or a grant made at
 * once, is given up (src/server/lockcmd.c: acquire_done). */
static void gone_applied(struct snode *sn, const struct sprop *p,
                         const struct fsm_result *res)
{
    if (res->status != FSM_QUEUED && (res->status != FSM_OK || res->index == 0))
        return;
    struct fsm_cmd u = {.type = FSM_UNWAIT,
                        .index = res->index,
                        .session = res->session,
                        .name = p->name,
                        .name_len = p->name_len,
                        .req = p->req,
                        .req_len = p->req_len};
    replica_unwait(sn->rep, &u);
}

/* Calls back what the replica completed: the clients' proposals (OK with
 * the result of their own entry, LOST otherwise) and waits. */
static void deliver(struct cluster *c, struct snode *sn)
{
    size_t count;
    for (size_t i = 0; replica_outs(sn->rep, &count), i < count; i++) {
        const struct replica_out o = replica_outs(sn->rep, &count)[i];
        bool ok = o.status == REPLICA_OK;
        if (o.kind == REPLICA_WAIT_END) {
            struct swait *w = o.ctx;
            vec_drop((void **)sn->w, &sn->n_w, w);
            w->cb(w->ctx, w->tag, c, ok ? LOCKSERVER_OK : LOCKSERVER_LOST,
                  ok ? o.ev : NULL);
            free(w);
            continue;
        }
        struct sprop *p = o.ctx;
        vec_drop((void **)sn->p, &sn->n_p, p);
        ok = ok && o.res != NULL;
        if (p->gone && ok)
            gone_applied(sn, p, o.res);
        else if (p->cb != NULL && !p->gone)
            p->cb(p->ctx, p->tag, c, ok ? LOCKSERVER_OK : LOCKSERVER_LOST,
                  o.index, ok ? o.res : NULL);
        free(p);
    }
    replica_outs_clear(sn->rep);
}

/* The node's role, for the replica: a node that is down leads nothing. */
static uint8_t role_of(const struct sim_node *n)
{
    return n != NULL && n->up && n->core != NULL ? raft_role(n->core)
                                                 : RAFT_FOLLOWER;
}

static uint64_t term_of(const struct sim_node *n)
{
    return n != NULL && n->up && n->core != NULL ? raft_term(n->core) : 0;
}

static bool is_ready(struct sim_node *n, struct snode *sn)
{
    return n != NULL && sn->rep != NULL &&
           replica_ready(sn->rep, role_of(n), term_of(n));
}

/* ---- the hooks -------------------------------------------------------- */

static struct replica *new_replica(struct lockserver *s, struct cluster *c)
{
    if (s->grace_ms == 0) /* one for the run */
        s->grace_ms = rng_range(&c->rng, 200, 4000);
    struct replica_config cfg = {.wait_grace_ms = s->grace_ms,
                                 .expire_retry_ms = EXPIRE_RETRY_MS,
                                 .expire_batch = EXPIRE_BATCH};
    /* Each server's maps hash under a key of their own, as each dlockd's
     * do under its secret one: their order of iteration differs, and the
     * checks that every server agrees show that nothing depends on it. */
    uint8_t key[16];
    uint64_t k0 = rng_next(&c->rng), k1 = rng_next(&c->rng);
    memcpy(key, &k0, 8);
    memcpy(key + 8, &k1, 8);
    map_hash_set_key(key);
    return replica_new(&cfg);
}

static void reset_cb(void *arg, struct cluster *c, struct sim_node *n)
{
    struct lockserver *s = arg;
    struct snode *sn = &s->nodes[n->id];
    if (sn->rep != NULL) {
        replica_lose(sn->rep, REPLICA_LOST);
        deliver(c, sn);
    }
    replica_free(sn->rep);
    sn->rep = new_replica(s, c); /* a new process */
    if (sn->log.ring == NULL)
        changelog_init(&sn->log, HISTORY);
    changelog_restart(&sn->log, 0); /* the history is in memory */
    lockcheck_reset(s->ck, n->id);
}

static void apply_cb(void *arg, struct cluster *c, struct sim_node *n,
                     const struct raft_entry *e)
{
    struct lockserver *s = arg;
    struct snode *sn = &s->nodes[n->id];
    bool was = is_ready(n, sn);
    replica_apply(sn->rep, e, role_of(n), term_of(n), clock_now(c, n, sn));
    const struct fsm_result *res = replica_result(sn->rep);
    if (res != NULL) {
        struct fsm *f = replica_fsm(sn->rep);
        size_t count;
        const struct fsm_change *ch = fsm_changes(f, &count);
        changelog_add(&sn->log, e->index, ch, count);
        lockcheck_apply(s->ck, c, n, e, f, res, &sn->log);
        struct fsm_cmd cmd;
        if (fsm_cmd_decode(&cmd, e->data, e->len) == 0)
            check_time(s, c, e, &cmd);
    }
    deliver(c, sn);
    if (!was && is_ready(n, sn))
        cluster_trace(c,
                      "n%llu: lock service ready in term %llu: cluster time "
                      "%llu, %zu sessions",
                      U(n->id), U(term_of(n)),
                      U(replica_now(sn->rep, clock_now(c, n, sn))),
                      replica_leases(sn->rep));
}

static uint8_t *save_cb(void *arg, struct cluster *c, struct sim_node *n,
                        size_t *len)
{
    struct lockserver *s = arg;
    struct snode *sn = &s->nodes[n->id];
    uint8_t *buf = NULL;
    fsm_snapshot(replica_fsm(sn->rep), &buf, len);
    lockcheck_saved(s->ck, c, n, replica_fsm(sn->rep), buf, *len);
    return buf;
}

static bool load_cb(void *arg, struct cluster *c, struct sim_node *n,
                    const uint8_t *data, size_t len)
{
    struct lockserver *s = arg;
    struct snode *sn = &s->nodes[n->id];
    if (replica_restore(sn->rep, data, len, n->sm.index) != 0)
        return false;
    cluster_trace(c,
                  "n%llu: lock machine restored from the snapshot at "
                  "%llu (%zu bytes)",
                  U(n->id), U(n->sm.index), len);
    changelog_restart(&sn->log, n->sm.index);
    lockcheck_restored(s->ck, c, n, replica_fsm(sn->rep), data, len);
    deliver(c, sn);
    return true;
}

/* ---- the server's calls ----------------------------------------------- */

struct lockserver *lockserver_new(struct lockcheck *ck)
{
    struct lockserver *s = mem_xcalloc(1, sizeof *s);
    s->ck = ck;
    s->app = (struct cluster_app){.arg = s,
                                  .reset = reset_cb,
                                  .apply = apply_cb,
                                  .save = save_cb,
                                  .load = load_cb};
    return s;
}

void lockserver_free(struct lockserver *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i <= CLUSTER_MAX_ID; i++) {
        struct snode *sn = &s->nodes[i];
        replica_free(sn->rep);
        changelog_close(&sn->log);
        for (size_t k = 0; k < sn->n_p; k++)
            free(sn->p[k]);
        for (size_t k = 0; k < sn->n_w; k++)
            free(sn->w[k]);
        free(sn->p);
        free(sn->w);
    }
    free(s->st);
    free(s);
}

const struct cluster_app *lockserver_app(struct lockserver *s)
{
    return &s->app;
}

/* Proposes data on node id for the replica's (ctx, tag). */
static int propose_data(struct lockserver *s, struct cluster *c, uint64_t id,
                        const uint8_t *data, size_t len, void *ctx,
                        uint64_t tag)
{
    struct snode *sn = &s->nodes[id];
    uint64_t index, term;
    if (cluster_propose(c, id, data, (uint32_t)len, &index, &term) != 0)
        return LOCKSERVER_NOTLEADER; /* a transfer is under way */
    replica_proposed(sn->rep, index, term, ctx, tag);
    return LOCKSERVER_OK;
}

/* A client's proposal, as the replica's ctx: NULL without a callback. */
static struct sprop *new_prop(struct snode *sn, lockserver_cb cb, void *ctx,
                              uint64_t tag)
{
    if (cb == NULL)
        return NULL;
    struct sprop *p = mem_xcalloc(1, sizeof *p);
    *p = (struct sprop){.cb = cb, .ctx = ctx, .tag = tag};
    sn->p = vec_push(sn->p, &sn->n_p, &sn->cap_p, sizeof p, &p);
    return p;
}

static void drop_prop(struct snode *sn, struct sprop *p)
{
    if (p == NULL)
        return;
    vec_drop((void **)sn->p, &sn->n_p, p);
    free(p);
}

/* Proposes cmd on node id, stamped with its cluster time, as (ctx, tag) of
 * the replica. */
static int propose_as(struct lockserver *s, struct cluster *c, uint64_t id,
                      struct fsm_cmd *cmd, void *ctx, uint64_t tag)
{
    struct sim_node *n = cluster_node(c, id);
    struct snode *sn = &s->nodes[id];
    if (!is_ready(n, sn) || c->failed)
        return LOCKSERVER_NOTLEADER;
    const uint8_t *data;
    size_t len;
    int rc = replica_encode(sn->rep, cmd, clock_now(c, n, sn), &data, &len);
    if (rc == REPLICA_INVALID) {
        cluster_fail(c,
                     "the simulated client built a command that does "
                     "not encode (type %u)",
                     cmd->type);
        return LOCKSERVER_NOTLEADER;
    }
    if (rc != REPLICA_OK)
        return LOCKSERVER_NOTLEADER;
    stamp_at(s, term_of(n), cmd->now, true)->real_ms = c->now_ms;
    if (c->cfg.trace != NULL) {
        char what[600];
        lockmodel_describe_cmd(cmd, what, sizeof what);
        cluster_trace(c, "n%llu: lock proposal %s", U(id), what);
    }
    return propose_data(s, c, id, data, len, ctx, tag);
}

/* One batch of expiries as the replica gives it; now and then a single
 * EXPIRE instead (as an older dlockd wrote them, still in logs) or with its
 * first id again at the end (a duplicate, which changes nothing). */
static void propose_batch(struct lockserver *s, struct cluster *c,
                          struct sim_node *n, struct fsm_cmd *cmd)
{
    uint8_t bytes[(EXPIRE_BATCH + 1) * 8];
    memcpy(bytes, cmd->ids, (size_t)cmd->n_ids * 8);
    cmd->ids = bytes;
    for (uint32_t i = 0; i < cmd->n_ids; i++)
        cluster_trace(c, "n%llu: session %llu's lease ended", U(n->id),
                      U(fsm_cmd_id(cmd, i)));
    if (cmd->n_ids == 1 && rng_range(&c->rng, 0, 1) == 0)
        *cmd =
            (struct fsm_cmd){.type = FSM_EXPIRE, .session = fsm_cmd_id(cmd, 0)};
    else if (rng_range(&c->rng, 0, 7) == 0)
        memcpy(bytes + 8 * cmd->n_ids++, bytes, 8);
    propose_as(s, c, n->id, cmd, NULL, 0);
}

/* The expiries and the TICK that are due (as src/server/node.c: batches of
 * the replica, a share per step). */
static void leader_timers(struct lockserver *s, struct cluster *c,
                          struct sim_node *n, struct snode *sn)
{
    uint64_t clock = clock_now(c, n, sn), at = replica_now(sn->rep, clock);
    size_t total = 0;
    struct fsm_cmd cmd;
    while (total < EXPIRE_PER_TURN && !c->failed &&
           replica_next_expiry(sn->rep, at, &cmd)) {
        total += cmd.n_ids;
        propose_batch(s, c, n, &cmd);
    }
    if (!c->failed && replica_next_tick(sn->rep, clock, &cmd))
        propose_as(s, c, n->id, &cmd, NULL, REPLICA_TAG_TICK);
}

void lockserver_step(struct lockserver *s, struct cluster *c, bool timers)
{
    for (uint64_t id = 1; id < c->next_id && !c->failed; id++) {
        struct snode *sn = &s->nodes[id];
        if (sn->rep == NULL)
            continue;
        struct sim_node *n = cluster_node(c, id);
        replica_role(sn->rep, role_of(n), term_of(n), REPLICA_LOST);
        deliver(c, sn);
        if (!is_ready(n, sn))
            continue;
        struct fsm_cmd cmd; /* the UNWAITs decided since the last step */
        while (!c->failed && replica_next_unwait(sn->rep, &cmd))
            propose_as(s, c, id, &cmd, NULL, 0);
        if (timers)
            leader_timers(s, c, n, sn);
    }
}

int lockserver_propose_raw(struct lockserver *s, struct cluster *c, uint64_t id,
                           const uint8_t *data, uint32_t len, lockserver_cb cb,
                           void *ctx, uint64_t tag)
{
    struct sim_node *n = cluster_node(c, id);
    struct snode *sn = &s->nodes[id];
    if (!is_ready(n, sn) || c->failed)
        return LOCKSERVER_NOTLEADER;
    struct sprop *p = new_prop(sn, cb, ctx, tag);
    int rc = propose_data(s, c, id, data, len, p, 0);
    if (rc != LOCKSERVER_OK)
        drop_prop(sn, p);
    return rc;
}

int lockserver_propose(struct lockserver *s, struct cluster *c, uint64_t id,
                       struct fsm_cmd *cmd, lockserver_cb cb, void *ctx,
                       uint64_t tag)
{
    struct snode *sn = &s->nodes[id];
    if (sn->rep == NULL)
        return LOCKSERVER_NOTLEADER;
    struct sprop *p = new_prop(sn, cb, ctx, tag);
    int rc = propose_as(s, c, id, cmd, p, 0);
    if (rc != LOCKSERVER_OK)
        drop_prop(sn, p);
    return rc;
}

void lockserver_wait(struct lockserver *s, uint64_t id, uint64_t index,
                     lockserver_wait_cb cb, void *ctx, uint64_t tag)
{
    struct snode *sn = &s->nodes[id];
    struct swait *w = mem_xcalloc(1, sizeof *w);
    *w = (struct swait){.cb = cb, .ctx = ctx, .tag = tag};
    w->handle = replica_wait_attach(sn->rep, index, w, 0);
    sn->w = vec_push(sn->w, &sn->n_w, &sn->cap_w, sizeof w, &w);
}

void lockserver_wait_gone(struct lockserver *s, uint64_t id, void *ctx,
                          uint64_t tag, uint64_t session,
                          const struct fsm_cmd *acq)
{
    struct snode *sn = &s->nodes[id];
    for (size_t i = 0; i < sn->n_w; i++) {
        struct swait *w = sn->w[i];
        if (w->ctx != ctx || w->tag != tag)
            continue;
        /* Given up with an UNWAIT of the index it waited on, if no one
         * else waits on it here. */
        struct fsm_cmd u = {.type = FSM_UNWAIT,
                            .index = replica_wait_index(w->handle),
                            .session = session,
                            .name = acq->name,
                            .name_len = acq->name_len,
                            .req = acq->req,
                            .req_len = acq->req_len};
        bool alone = replica_wait_detach(sn->rep, w->handle);
        vec_drop((void **)sn->w, &sn->n_w, w);
        free(w);
        if (alone)
            replica_unwait(sn->rep, &u);
        return;
    }
}

void lockserver_gone(struct lockserver *s, uint64_t id, void *ctx, uint64_t tag,
                     const struct fsm_cmd *acq)
{
    struct snode *sn = &s->nodes[id];
    for (size_t i = 0; i < sn->n_p; i++) {
        struct sprop *p = sn->p[i];
        if (p->ctx != ctx || p->tag != tag || p->gone)
            continue;
        p->gone = true;
        p->name_len = acq->name_len;
        p->req_len = acq->req_len;
        if (p->name_len > 0)
            memcpy(p->name, acq->name, p->name_len);
        if (p->req_len > 0)
            memcpy(p->req, acq->req, p->req_len);
    }
}

int lockserver_keepalive(struct lockserver *s, struct cluster *c, uint64_t id,
                         uint64_t session)
{
    struct sim_node *n = cluster_node(c, id);
    struct snode *sn = &s->nodes[id];
    if (!is_ready(n, sn))
        return LOCKSERVER_NOTLEADER;
    /* As node_keepalive, its ReadIndex round done at once. */
    uint64_t at;
    int rc =
        replica_keepalive_begin(sn->rep, session, clock_now(c, n, sn), &at);
    if (rc != REPLICA_OK)
        return rc == REPLICA_NOSESSION ? LOCKSERVER_NOSESSION
                                       : LOCKSERVER_NOTLEADER;
    return replica_keepalive_end(sn->rep, session, at, true) != 0
               ? LOCKSERVER_OK
               : LOCKSERVER_NOSESSION;
}

void lockserver_audit(struct lockserver *s, struct cluster *c)
{
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID && !c->failed; id++) {
        struct sim_node *n = cluster_node(c, id);
        if (n != NULL && n->up && s->nodes[id].rep != NULL)
            lockcheck_audit(s->ck, c, n, replica_fsm(s->nodes[id].rep));
    }
}
