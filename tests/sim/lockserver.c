/* lockserver.c - dlockd's replicated part on each simulated node: the lock
 * state machine, cluster time, leases, the leader's EXPIRE and TICK, and
 * the proposals and waits of clients (the counterpart of
 * src/server/node.c). */
#include "lockserver.h"

#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/mem.h"
#include "lockmodel.h"
#include "server/lease.h"

#define U(x) ((unsigned long long)(x))
/* As src/server/node.c: an expiry lost with a leader change is proposed
 * again after this long. */
#define EXPIRE_RETRY_MS 1000
/* Smaller than node.c's (1024 and 8192), so that the few sessions of a
 * simulation take several batches and several steps. */
#define EXPIRE_BATCH 4
#define EXPIRE_PER_TURN 8

struct prop {
    uint64_t index;
    uint64_t term;
    lockserver_cb cb;
    void *ctx;
    uint64_t tag;
    bool gone; /* its client went away: a blocking ACQUIRE, */
    char name[FSM_NAME_MAX];
    uint32_t name_len;
    char req[FSM_REQ_MAX]; /* with these */
    uint32_t req_len;
};

/* An UNWAIT decided (its seen set then), proposed at the next step. */
struct unwait {
    struct fsm_cmd cmd;
    char name[FSM_NAME_MAX];
    char req[FSM_REQ_MAX];
};

struct wait {
    uint64_t index;
    lockserver_wait_cb cb;
    void *ctx;
    uint64_t tag;
};

/* One server. Its clock is the machine's monotonic clock: it survives
 * restarts, runs at the node's drift, and starts anywhere. */
struct snode {
    struct fsm *f;
    struct lease *lease;
    bool ready;
    uint64_t ready_term;
    uint64_t offset; /* cluster time = clock + offset */
    bool tick_pending;
    bool clock_set;
    uint64_t clock_ms;
    uint64_t clock_at;
    uint64_t clock_rem;
    struct prop *p;
    size_t n_p;
    size_t cap_p;
    struct wait *w;
    size_t n_w;
    size_t cap_w;
    struct unwait *u;
    size_t n_u;
    size_t cap_u;
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
    uint8_t *scratch;
    size_t scratch_cap;
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

static uint64_t cluster_time(struct cluster *c, struct sim_node *n,
                             struct snode *sn)
{
    return clock_now(c, n, sn) + sn->offset;
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

static void fail_all(struct cluster *c, struct snode *sn)
{
    while (sn->n_p > 0) {
        struct prop p = sn->p[--sn->n_p];
        if (p.cb != NULL && !p.gone)
            p.cb(p.ctx, p.tag, c, LOCKSERVER_LOST, p.index, NULL);
    }
    sn->n_u = 0;
    while (sn->n_w > 0) {
        struct wait w = sn->w[--sn->n_w];
        w.cb(w.ctx, w.tag, c, LOCKSERVER_LOST, NULL);
    }
    sn->tick_pending = false;
}

/* Decides now that the client of the ACQUIRE at index (0: of every wait)
 * went away, naming the last answer about it (the index applied, for
 * every wait); proposed at the next step (src/server/node_read.c:
 * node_unwait). */
static void queue_unwait(struct snode *sn, uint64_t index, uint64_t session,
                         const char *name, uint32_t name_len, const char *req,
                         uint32_t req_len)
{
    if (sn->n_u == sn->cap_u) {
        sn->cap_u = sn->cap_u ? 2 * sn->cap_u : 8;
        sn->u = mem_xrealloc(sn->u, sn->cap_u * sizeof *sn->u);
    }
    struct unwait *u = &sn->u[sn->n_u++];
    u->cmd = (struct fsm_cmd){.type = FSM_UNWAIT,
                              .index = index,
                              .session = session,
                              .seen = fsm_wait_seen(sn->f, index),
                              .name_len = name_len,
                              .req_len = req_len};
    if (name_len > 0)
        memcpy(u->name, name, name_len);
    if (req_len > 0)
        memcpy(u->req, req, req_len);
}

/* A gone client's blocking ACQUIRE applied: its wait, or a grant made at
 * once, is given up (src/server/lockcmd.c: acquire_done). */
static void gone_applied(struct snode *sn, const struct prop *p,
                         const struct fsm_result *res)
{
    if (res->status == FSM_QUEUED || (res->status == FSM_OK && res->index != 0))
        queue_unwait(sn, res->index, res->session, p->name, p->name_len, p->req,
                     p->req_len);
}

/* Proposals up to index are done: ours if the entry there is the one
 * proposed (same term), lost otherwise. */
static void complete(struct cluster *c, struct snode *sn,
                     const struct raft_entry *e, const struct fsm_result *res)
{
    for (size_t i = 0; i < sn->n_p;) {
        struct prop p = sn->p[i];
        if (p.index > e->index) {
            i++;
            continue;
        }
        sn->p[i] = sn->p[--sn->n_p];
        bool ours = p.index == e->index && p.term == e->term && res != NULL;
        if (p.gone && ours)
            gone_applied(sn, &p, res);
        else if (p.cb != NULL && !p.gone)
            p.cb(p.ctx, p.tag, c, ours ? LOCKSERVER_OK : LOCKSERVER_LOST,
                 p.index, ours ? res : NULL);
    }
}

static void fire_waits(struct cluster *c, struct snode *sn,
                       const struct fsm_event *ev, size_t n_ev)
{
    for (size_t k = 0; k < n_ev; k++) {
        if (ev[k].type == FSM_EV_LOST)
            continue;
        for (size_t i = 0; i < sn->n_w;) {
            if (sn->w[i].index != ev[k].index) {
                i++;
                continue;
            }
            struct wait w = sn->w[i];
            sn->w[i] = sn->w[--sn->n_w];
            w.cb(w.ctx, w.tag, c, LOCKSERVER_OK, &ev[k]);
        }
    }
}

static bool is_ready(struct sim_node *n, struct snode *sn)
{
    return sn->ready && n->up && raft_role(n->core) == RAFT_LEADER &&
           raft_term(n->core) == sn->ready_term;
}

static void lost_leadership(struct cluster *c, struct sim_node *n,
                            struct snode *sn)
{
    cluster_trace(c, "n%llu: lock service: no longer the ready leader",
                  U(n->id));
    sn->ready = false;
    fail_all(c, sn);
    lease_clear(sn->lease);
}

static void session_lease_cb(void *arg, uint64_t id, uint64_t ttl)
{
    void **a = arg;
    struct snode *sn = a[0];
    lease_set(sn->lease, id, ttl, *(uint64_t *)a[1]);
}

/* The leader's own no-op applied: everything committed before it has too.
 * From now on it stamps times that continue from the last time applied,
 * and gives every session a fresh lease (src/server/node.c, become_ready).
 * Time continues from the last time applied (offset arithmetic wraps)
 * whatever the new leader's clock says: the monotonic clocks of two
 * machines differ by their uptimes, and a jump forward would end every
 * lock-delay and wait at the next TICK, which check_time() refuses.
 * Durations then stretch by the election's gap: the safe side. (node.c
 * once moved its offset only when its clock was behind; seed 7871 of an
 * earlier version of this simulator showed the jump.) */
static void become_ready(struct cluster *c, struct sim_node *n,
                         struct snode *sn)
{
    uint64_t now = clock_now(c, n, sn), last = fsm_now(sn->f);
    sn->offset = last + 1 - now;
    fail_all(c, sn); /* left from an earlier term */
    sn->ready = true;
    sn->ready_term = raft_term(n->core);
    lease_clear(sn->lease);
    uint64_t t = now + sn->offset;
    void *arg[2] = {sn, &t};
    fsm_session_each(sn->f, session_lease_cb, arg);
    /* Nobody waits on this server yet: every queued wait's client went
     * away for now (src/server/node.c, become_ready). */
    struct fsm_stats st;
    fsm_stats(sn->f, &st);
    if (st.waiters > 0)
        queue_unwait(sn, 0, 0, "", 0, "", 0);
    cluster_trace(c,
                  "n%llu: lock service ready in term %llu: clock %llu + "
                  "offset %lld, machine time %llu, %zu sessions",
                  U(n->id), U(sn->ready_term), U(now), (long long)sn->offset,
                  U(last), lease_count(sn->lease));
}

/* Keeps the leases in step with the sessions the machine knows. */
static void track_lease(struct cluster *c, struct sim_node *n, struct snode *sn,
                        const struct fsm_cmd *cmd, const struct fsm_result *res,
                        uint64_t index)
{
    /* After an expiry none of its sessions is open, whatever its result
     * (as node.c). */
    if (cmd->type == FSM_EXPIRE)
        lease_remove(sn->lease, cmd->session);
    for (uint32_t i = 0; cmd->type == FSM_EXPIRE_BATCH && i < cmd->n_ids; i++)
        lease_remove(sn->lease, fsm_cmd_id(cmd, i));
    if (res->status != FSM_OK && res->status != FSM_QUEUED)
        return;
    uint64_t now = cluster_time(c, n, sn);
    switch (cmd->type) {
    case FSM_OPEN:
        if (!res->replayed)
            lease_set(sn->lease, res->session, res->ttl, now);
        break;
    case FSM_ACQUIRE:
        if (cmd->session == 0 && res->session == index)
            lease_set(sn->lease, res->session, cmd->ttl, now);
        break;
    case FSM_EXTEND:
    case FSM_SET_TTL:
        if (res->session != 0)
            lease_set(sn->lease, res->session, res->ttl, now);
        break;
    case FSM_CLOSE:
        lease_remove(sn->lease, cmd->session);
        break;
    case FSM_RELEASE:
        if (cmd->session == 0 && res->session != 0)
            lease_remove(sn->lease, res->session);
        break;
    default:
        break;
    }
}

/* ---- the hooks -------------------------------------------------------- */

static void reset_cb(void *arg, struct cluster *c, struct sim_node *n)
{
    struct lockserver *s = arg;
    struct snode *sn = &s->nodes[n->id];
    fail_all(c, sn);
    fsm_free(sn->f);
    sn->f = fsm_new();
    if (sn->lease == NULL)
        sn->lease = lease_new();
    lease_clear(sn->lease);
    sn->ready = false;
    sn->offset = 0; /* a new process */
    lockcheck_reset(s->ck, n->id);
}

static void apply_cb(void *arg, struct cluster *c, struct sim_node *n,
                     const struct raft_entry *e)
{
    struct lockserver *s = arg;
    struct snode *sn = &s->nodes[n->id];
    /* A leader that stopped leading fails what waits on it before it
     * applies what another leader committed (src/server/node.c, on_role
     * before apply_entry). */
    if (sn->ready && !is_ready(n, sn))
        lost_leadership(c, n, sn);
    if (e->type != RAFT_ENTRY_NORMAL) {
        complete(c, sn, e, NULL);
        if (e->type == RAFT_ENTRY_NOOP && !sn->ready &&
            raft_role(n->core) == RAFT_LEADER && e->term == raft_term(n->core))
            become_ready(c, n, sn);
        return;
    }
    struct fsm_result res;
    fsm_apply(sn->f, e->index, e->data, e->len, &res);
    lockcheck_apply(s->ck, c, n, e, sn->f, &res);
    struct fsm_cmd cmd;
    bool ok = fsm_cmd_decode(&cmd, e->data, e->len) == 0;
    if (ok)
        check_time(s, c, e, &cmd);
    if (ok && is_ready(n, sn))
        track_lease(c, n, sn, &cmd, &res, e->index);
    size_t n_ev;
    const struct fsm_event *ev = fsm_events(sn->f, &n_ev);
    fire_waits(c, sn, ev, n_ev);
    fsm_events_clear(sn->f);
    complete(c, sn, e, &res);
}

static uint8_t *save_cb(void *arg, struct cluster *c, struct sim_node *n,
                        size_t *len)
{
    struct lockserver *s = arg;
    struct snode *sn = &s->nodes[n->id];
    uint8_t *buf = NULL;
    fsm_snapshot(sn->f, &buf, len);
    lockcheck_saved(s->ck, c, n, sn->f, buf, *len);
    return buf;
}

static bool load_cb(void *arg, struct cluster *c, struct sim_node *n,
                    const uint8_t *data, size_t len)
{
    struct lockserver *s = arg;
    struct snode *sn = &s->nodes[n->id];
    if (fsm_restore(sn->f, data, len) != 0)
        return false;
    cluster_trace(c,
                  "n%llu: lock machine restored from the snapshot at "
                  "%llu (%zu bytes)",
                  U(n->id), U(n->sm.index), len);
    lockcheck_restored(s->ck, c, n, sn->f, data, len);
    struct raft_entry e = {.index = n->sm.index};
    complete(c, sn, &e, NULL);
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
        fsm_free(s->nodes[i].f);
        lease_free(s->nodes[i].lease);
        free(s->nodes[i].p);
        free(s->nodes[i].w);
        free(s->nodes[i].u);
    }
    free(s->scratch);
    free(s->st);
    free(s);
}

const struct cluster_app *lockserver_app(struct lockserver *s)
{
    return &s->app;
}

static void tick_done(void *ctx, uint64_t tag, struct cluster *c, int status,
                      uint64_t index, const struct fsm_result *res)
{
    struct snode *sn = ctx;
    sn->tick_pending = false;
}

/* One batch of expiries: EXPIRE_BATCH as node.c proposes it; now and then
 * a single EXPIRE instead (as an older dlockd wrote them, still in logs) or
 * with its first id again at the end (a duplicate, which changes nothing). */
static void propose_batch(struct lockserver *s, struct cluster *c,
                          struct sim_node *n, const uint64_t *ids, size_t count)
{
    uint8_t bytes[(EXPIRE_BATCH + 1) * 8];
    for (size_t i = 0; i < count; i++) {
        le_put64(bytes + 8 * i, ids[i]);
        cluster_trace(c, "n%llu: session %llu's lease ended", U(n->id),
                      U(ids[i]));
    }
    struct fsm_cmd cmd = {.type = FSM_EXPIRE_BATCH, .ids = bytes};
    cmd.n_ids = (uint32_t)count;
    if (count == 1 && rng_range(&c->rng, 0, 1) == 0)
        cmd = (struct fsm_cmd){.type = FSM_EXPIRE, .session = ids[0]};
    else if (rng_range(&c->rng, 0, 7) == 0)
        le_put64(bytes + 8 * cmd.n_ids++, ids[0]);
    lockserver_propose(s, c, n->id, &cmd, NULL, NULL, 0);
}

/* The expiries and the TICK that are due (src/server/node.c,
 * leader_timers and propose_expiries: in batches, a share per step). */
static void leader_timers(struct lockserver *s, struct cluster *c,
                          struct sim_node *n, struct snode *sn)
{
    uint64_t ids[EXPIRE_BATCH], now = cluster_time(c, n, sn);
    size_t total = 0, count;
    do {
        count = lease_due(sn->lease, now, EXPIRE_RETRY_MS, ids, EXPIRE_BATCH);
        if (count == 0 || c->failed)
            break;
        propose_batch(s, c, n, ids, count);
        total += count;
    } while (count == EXPIRE_BATCH && total < EXPIRE_PER_TURN);
    if (!sn->tick_pending && !c->failed && fsm_next_deadline(sn->f) <= now) {
        struct fsm_cmd cmd = {.type = FSM_TICK};
        if (lockserver_propose(s, c, n->id, &cmd, tick_done, sn, 0) ==
            LOCKSERVER_OK)
            sn->tick_pending = true;
    }
}

/* The UNWAITs decided since the last step (a failure: the leader is lost,
 * and the next one does it). */
static void propose_unwaits(struct lockserver *s, struct cluster *c,
                            uint64_t id, struct snode *sn)
{
    for (size_t i = 0; i < sn->n_u && !c->failed; i++) {
        struct unwait *u = &sn->u[i];
        u->cmd.name = u->name;
        u->cmd.req = u->req;
        u->cmd.wait = s->grace_ms;
        lockserver_propose(s, c, id, &u->cmd, NULL, NULL, 0);
    }
    sn->n_u = 0;
}

void lockserver_step(struct lockserver *s, struct cluster *c, bool timers)
{
    if (s->grace_ms == 0) /* one for the run */
        s->grace_ms = rng_range(&c->rng, 200, 4000);
    for (uint64_t id = 1; id < c->next_id && !c->failed; id++) {
        struct snode *sn = &s->nodes[id];
        struct sim_node *n = sn->ready ? cluster_node(c, id) : NULL;
        if (n == NULL)
            continue;
        if (!is_ready(n, sn)) {
            lost_leadership(c, n, sn);
            continue;
        }
        propose_unwaits(s, c, id, sn);
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
    if (n == NULL || !is_ready(n, sn) || c->failed)
        return LOCKSERVER_NOTLEADER;
    struct prop p = {.cb = cb, .ctx = ctx, .tag = tag};
    if (cluster_propose(c, id, data, len, &p.index, &p.term) != 0)
        return LOCKSERVER_NOTLEADER; /* a transfer is under way */
    if (sn->n_p == sn->cap_p) {
        sn->cap_p = sn->cap_p ? 2 * sn->cap_p : 16;
        sn->p = mem_xrealloc(sn->p, sn->cap_p * sizeof *sn->p);
    }
    sn->p[sn->n_p++] = p;
    return LOCKSERVER_OK;
}

int lockserver_propose(struct lockserver *s, struct cluster *c, uint64_t id,
                       struct fsm_cmd *cmd, lockserver_cb cb, void *ctx,
                       uint64_t tag)
{
    struct sim_node *n = cluster_node(c, id);
    struct snode *sn = &s->nodes[id];
    if (n == NULL || !is_ready(n, sn) || c->failed)
        return LOCKSERVER_NOTLEADER;
    cmd->now = cluster_time(c, n, sn);
    stamp_at(s, sn->ready_term, cmd->now, true)->real_ms = c->now_ms;
    size_t len = fsm_cmd_encode(cmd, NULL, 0);
    if (len == 0) {
        cluster_fail(c,
                     "the simulated client built a command that does "
                     "not encode (type %u)",
                     cmd->type);
        return LOCKSERVER_NOTLEADER;
    }
    if (len > s->scratch_cap) {
        s->scratch = mem_xrealloc(s->scratch, len);
        s->scratch_cap = len;
    }
    fsm_cmd_encode(cmd, s->scratch, len);
    if (c->cfg.trace != NULL) {
        char what[600];
        lockmodel_describe_cmd(cmd, what, sizeof what);
        cluster_trace(c, "n%llu: lock proposal %s", U(id), what);
    }
    return lockserver_propose_raw(s, c, id, s->scratch, (uint32_t)len, cb, ctx,
                                  tag);
}

void lockserver_wait(struct lockserver *s, uint64_t id, uint64_t index,
                     lockserver_wait_cb cb, void *ctx, uint64_t tag)
{
    struct snode *sn = &s->nodes[id];
    if (sn->n_w == sn->cap_w) {
        sn->cap_w = sn->cap_w ? 2 * sn->cap_w : 16;
        sn->w = mem_xrealloc(sn->w, sn->cap_w * sizeof *sn->w);
    }
    sn->w[sn->n_w++] =
        (struct wait){.index = index, .cb = cb, .ctx = ctx, .tag = tag};
}

void lockserver_wait_gone(struct lockserver *s, uint64_t id, void *ctx,
                          uint64_t tag, uint64_t session,
                          const struct fsm_cmd *acq)
{
    struct snode *sn = &s->nodes[id];
    uint64_t index = 0;
    for (size_t i = 0; i < sn->n_w && index == 0; i++) {
        if (sn->w[i].ctx != ctx || sn->w[i].tag != tag)
            continue;
        index = sn->w[i].index;
        sn->w[i] = sn->w[--sn->n_w];
    }
    for (size_t i = 0; i < sn->n_w && index != 0; i++)
        if (sn->w[i].index == index)
            return; /* another client still waits on it here */
    if (index != 0 && sn->ready)
        queue_unwait(sn, index, session, acq->name, acq->name_len, acq->req,
                     acq->req_len);
}

void lockserver_gone(struct lockserver *s, uint64_t id, void *ctx, uint64_t tag,
                     const struct fsm_cmd *acq)
{
    struct snode *sn = &s->nodes[id];
    for (size_t i = 0; i < sn->n_p; i++) {
        struct prop *p = &sn->p[i];
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
    if (n == NULL || !is_ready(n, sn))
        return LOCKSERVER_NOTLEADER;
    /* As node_keepalive: past the lease's end, renewed while its expiry
     * has not been proposed. */
    uint64_t now = cluster_time(c, n, sn);
    if (!lease_alive(sn->lease, session))
        return LOCKSERVER_NOSESSION;
    lease_set(sn->lease, session, lease_ttl(sn->lease, session), now);
    return LOCKSERVER_OK;
}

void lockserver_audit(struct lockserver *s, struct cluster *c)
{
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID && !c->failed; id++) {
        struct sim_node *n = cluster_node(c, id);
        if (n != NULL && n->up)
            lockcheck_audit(s->ck, c, n, s->nodes[id].f);
    }
}
