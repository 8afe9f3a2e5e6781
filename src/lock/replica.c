/* replica.c - the lock service's replicated part on one server (replica.h):
 * the state machine with the leader's readiness, cluster time, leases,
 * expiries, TICKs and UNWAITs, and the proposals and waits of clients. */
#include "lock/replica.h"

#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/mem.h"
#include "lock/lease.h"

#define WAIT_BUCKETS 1024

struct prop {
    uint64_t index;
    uint64_t term;
    void *ctx;
    uint64_t tag;
};

struct wait {
    struct wait *next;
    uint64_t index;
    void *ctx;
    uint64_t tag;
};

/* An UNWAIT decided, with its strings. */
struct unwait {
    struct fsm_cmd cmd;
    char name[FSM_NAME_MAX];
    char req[FSM_REQ_MAX];
};

struct replica {
    struct replica_config cfg;
    struct fsm *f;
    struct lease *lease;
    bool ready;          /* the leader of ready_term, its no-op applied */
    uint64_t ready_term; /* and the term it became ready in */
    uint64_t offset;     /* cluster time = clock + offset */
    bool tick_pending;
    struct {
        struct prop *v;
        size_t head, n, cap;
    } props; /* in index order */
    struct wait *waits[WAIT_BUCKETS];
    struct {
        struct unwait *v;
        size_t n, cap, next;
    } unwaits;
    struct {
        struct replica_out *v;
        size_t n, cap;
    } outs;
    struct fsm_result res;    /* of the last entry applied */
    bool have_res;            /* it was a command */
    uint64_t restored;        /* the index of the last snapshot restored */
    struct unwait out_unwait; /* the one replica_next_unwait handed out */
    uint8_t *scratch;         /* replica_encode's */
    size_t scratch_cap;
    uint64_t *ids; /* replica_next_expiry's */
    uint8_t *id_bytes;
};

struct replica *replica_new(const struct replica_config *cfg)
{
    struct replica *r = mem_xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    if (r->cfg.expire_batch == 0)
        r->cfg.expire_batch = 1;
    r->f = fsm_new();
    r->lease = lease_new();
    r->ids = mem_xmalloc(r->cfg.expire_batch * sizeof *r->ids);
    r->id_bytes = mem_xmalloc(r->cfg.expire_batch * 8);
    return r;
}

static void free_waits(struct replica *r)
{
    for (size_t b = 0; b < WAIT_BUCKETS; b++) {
        while (r->waits[b] != NULL) {
            struct wait *w = r->waits[b];
            r->waits[b] = w->next;
            free(w);
        }
    }
}

void replica_free(struct replica *r)
{
    if (r == NULL)
        return;
    free_waits(r);
    fsm_free(r->f);
    lease_free(r->lease);
    free(r->props.v);
    free(r->unwaits.v);
    free(r->outs.v);
    free(r->scratch);
    free(r->ids);
    free(r->id_bytes);
    free(r);
}

struct fsm *replica_fsm(struct replica *r)
{
    return r->f;
}

const struct fsm *replica_fsm_const(const struct replica *r)
{
    return r->f;
}

uint64_t replica_now(const struct replica *r, uint64_t clock_ms)
{
    return clock_ms + r->offset; /* wraps as needed (become_ready) */
}

bool replica_ready(const struct replica *r, uint8_t role, uint64_t term)
{
    return r->ready && role == RAFT_LEADER && term == r->ready_term;
}

/* ---- outputs ---------------------------------------------------------- */

static void out(struct replica *r, const struct replica_out *o)
{
    if (r->outs.n == r->outs.cap) {
        r->outs.cap = r->outs.cap ? 2 * r->outs.cap : 16;
        r->outs.v = mem_xrealloc(r->outs.v, r->outs.cap * sizeof *r->outs.v);
    }
    r->outs.v[r->outs.n++] = *o;
}

const struct replica_out *replica_outs(const struct replica *r, size_t *n)
{
    *n = r->outs.n;
    return r->outs.v;
}

void replica_outs_clear(struct replica *r)
{
    r->outs.n = 0;
}

/* ---- proposals -------------------------------------------------------- */

void replica_proposed(struct replica *r, uint64_t index, uint64_t term,
                      void *ctx, uint64_t tag)
{
    if (r->props.n == r->props.cap) {
        size_t cap = r->props.cap ? r->props.cap * 2 : 64;
        struct prop *v = mem_xmalloc(cap * sizeof *v);
        for (size_t i = 0; i < r->props.n; i++)
            v[i] = r->props.v[(r->props.head + i) % r->props.cap];
        free(r->props.v);
        r->props.v = v;
        r->props.cap = cap;
        r->props.head = 0;
    }
    r->props.v[(r->props.head + r->props.n) % r->props.cap] =
        (struct prop){index, term, ctx, tag};
    r->props.n++;
    if (ctx == NULL && tag == REPLICA_TAG_TICK)
        r->tick_pending = true;
}

size_t replica_pending(const struct replica *r)
{
    return r->props.n;
}

/* The oldest proposal is done with status (res for REPLICA_OK). */
static void prop_done(struct replica *r, int status,
                      const struct fsm_result *res)
{
    struct prop p = r->props.v[r->props.head];
    r->props.head = (r->props.head + 1) % r->props.cap;
    r->props.n--;
    if (p.ctx == NULL) {
        if (p.tag == REPLICA_TAG_TICK)
            r->tick_pending = false;
        return;
    }
    out(r, &(struct replica_out){.kind = REPLICA_DONE,
                                 .status = status,
                                 .ctx = p.ctx,
                                 .tag = p.tag,
                                 .index = p.index,
                                 .res = status == REPLICA_OK ? res : NULL});
}

/* Proposals up to e's index are done: ours if the entry there is the one
 * proposed (same term), lost otherwise. */
static void complete(struct replica *r, uint64_t index, uint64_t term,
                     const struct fsm_result *res)
{
    while (r->props.n > 0) {
        const struct prop *p = &r->props.v[r->props.head];
        if (p->index > index)
            return;
        bool ours = p->index == index && p->term == term;
        prop_done(r, ours ? REPLICA_OK : REPLICA_LOST, res);
    }
}

/* ---- waits ------------------------------------------------------------ */

void *replica_wait_attach(struct replica *r, uint64_t index, void *ctx,
                          uint64_t tag)
{
    struct wait *w = mem_xmalloc(sizeof *w);
    size_t b = index % WAIT_BUCKETS;
    *w = (struct wait){r->waits[b], index, ctx, tag};
    r->waits[b] = w;
    return w;
}

uint64_t replica_wait_index(const void *handle)
{
    return ((const struct wait *)handle)->index;
}

bool replica_wait_detach(struct replica *r, void *handle)
{
    struct wait *w = handle;
    uint64_t index = w->index;
    bool alone = true; /* no other wait on it here */
    for (struct wait **p = &r->waits[index % WAIT_BUCKETS]; *p != NULL;) {
        struct wait *o = *p;
        if (o == w) {
            *p = o->next;
            free(o);
            continue;
        }
        alone = alone && o->index != index;
        p = &o->next;
    }
    return alone;
}

/* Every wait on the waiter that ev ended is done. */
static void fire(struct replica *r, const struct fsm_event *ev)
{
    struct wait **p = &r->waits[ev->index % WAIT_BUCKETS];
    while (*p != NULL) {
        struct wait *w = *p;
        if (w->index != ev->index) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        out(r, &(struct replica_out){.kind = REPLICA_WAIT_END,
                                     .status = REPLICA_OK,
                                     .ctx = w->ctx,
                                     .tag = w->tag,
                                     .index = w->index,
                                     .ev = ev});
        free(w);
    }
}

static void fire_events(struct replica *r)
{
    size_t n;
    const struct fsm_event *ev = fsm_events(r->f, &n);
    for (size_t i = 0; i < n; i++)
        if (ev[i].type == FSM_EV_GRANTED || ev[i].type == FSM_EV_TIMEOUT ||
            ev[i].type == FSM_EV_CANCELED)
            fire(r, &ev[i]);
}

/* ---- leadership ------------------------------------------------------- */

void replica_lose(struct replica *r, int status)
{
    r->ready = false;
    r->tick_pending = false;
    while (r->props.n > 0)
        prop_done(r, status, NULL);
    for (size_t b = 0; b < WAIT_BUCKETS; b++) {
        while (r->waits[b] != NULL) {
            struct wait *w = r->waits[b];
            r->waits[b] = w->next;
            out(r, &(struct replica_out){.kind = REPLICA_WAIT_END,
                                         .status = status,
                                         .ctx = w->ctx,
                                         .tag = w->tag,
                                         .index = w->index});
            free(w);
        }
    }
    r->unwaits.n = r->unwaits.next = 0; /* the next leader gives up every
                                           wait */
    lease_clear(r->lease);
}

void replica_role(struct replica *r, uint8_t role, uint64_t term, int status)
{
    if (r->ready && !replica_ready(r, role, term))
        replica_lose(r, status);
}

static void session_lease_cb(void *arg, uint64_t id, uint64_t ttl)
{
    void **a = arg;
    struct replica *r = a[0];
    lease_set(r->lease, id, ttl, *(const uint64_t *)a[1]);
}

/* The leader's own no-op has applied: everything committed before it has
 * too. It may now stamp times and run leases (docs/design.md §12). Cluster
 * time goes on from the last time applied, whatever this machine's clock
 * says: moving it forward by a difference of clocks (uptimes) would end
 * lock-delays and waits early. Unsigned arithmetic wraps as needed.
 * Durations across the change can only stretch. */
static void become_ready(struct replica *r, uint64_t term, uint64_t clock_ms)
{
    /* Nothing can be left from an earlier term (replica_lose), but what
     * would be could only be lost. */
    while (r->props.n > 0)
        prop_done(r, REPLICA_LOST, NULL);
    r->offset = fsm_now(r->f) + 1 - clock_ms;
    r->ready = true;
    r->ready_term = term;
    r->tick_pending = false;
    /* A fresh lease for every session, from now: never shorter than what
     * an earlier leader could have granted. */
    lease_clear(r->lease);
    uint64_t now = replica_now(r, clock_ms);
    void *arg[2] = {r, &now};
    fsm_session_each(r->f, session_lease_cb, arg);
    /* Nobody waits on this server yet: a queued wait's client was attached
     * to an earlier leader, which failed it. Waits without a REQ end now,
     * the others keep their place for the grace, for their clients to
     * repeat them here (docs/protocol.md §4). */
    struct fsm_stats st;
    fsm_stats(r->f, &st);
    if (st.waiters > 0) {
        struct fsm_cmd every = {.type = FSM_UNWAIT};
        replica_unwait(r, &every);
    }
}

/* ---- apply ------------------------------------------------------------ */

/* Keeps the leases in step with the sessions the machine knows. */
static void track_leases(struct replica *r, uint64_t clock_ms)
{
    size_t n;
    const struct fsm_session_change *sc = fsm_session_changes(r->f, &n);
    uint64_t now = replica_now(r, clock_ms);
    for (size_t i = 0; i < n; i++) {
        if (sc[i].ttl != 0)
            lease_set(r->lease, sc[i].id, sc[i].ttl, now);
        else
            lease_remove(r->lease, sc[i].id);
    }
}

void replica_apply(struct replica *r, const struct raft_entry *e, uint8_t role,
                   uint64_t term, uint64_t clock_ms)
{
    fsm_events_clear(r->f); /* the last apply's, which outputs named */
    replica_role(r, role, term, REPLICA_NOTLEADER);
    const struct fsm_result *res = NULL;
    r->have_res = e->type == RAFT_ENTRY_NORMAL;
    if (e->type == RAFT_ENTRY_NORMAL) {
        fsm_apply(r->f, e->index, e->data, e->len, &r->res);
        res = &r->res;
        if (r->ready)
            track_leases(r, clock_ms);
        fire_events(r);
    }
    complete(r, e->index, e->term, res);
    if (e->type == RAFT_ENTRY_NOOP && !r->ready && role == RAFT_LEADER &&
        e->term == term)
        become_ready(r, term, clock_ms);
}

const struct fsm_result *replica_result(const struct replica *r)
{
    return r->have_res ? &r->res : NULL;
}

int replica_restore(struct replica *r, const uint8_t *data, size_t len,
                    uint64_t index)
{
    if (fsm_restore(r->f, data, len) != 0)
        return -1;
    r->have_res = false;
    r->restored = index;
    complete(r, index, 0, NULL);
    return 0;
}

uint64_t replica_restored(const struct replica *r)
{
    return r->restored;
}

/* ---- proposing -------------------------------------------------------- */

int replica_encode(struct replica *r, struct fsm_cmd *cmd, uint64_t clock_ms,
                   const uint8_t **data, size_t *len)
{
    if (!r->ready)
        return REPLICA_NOTLEADER;
    cmd->now = replica_now(r, clock_ms);
    size_t n = fsm_cmd_encode(cmd, NULL, 0);
    if (n == 0)
        return REPLICA_INVALID; /* the machine would refuse it */
    if (n > r->scratch_cap) {
        r->scratch = mem_xrealloc(r->scratch, n);
        r->scratch_cap = n;
    }
    fsm_cmd_encode(cmd, r->scratch, n);
    *data = r->scratch;
    *len = n;
    return REPLICA_OK;
}

void replica_unwait(struct replica *r, const struct fsm_cmd *cmd)
{
    if (!r->ready)
        return;
    if (r->unwaits.n == r->unwaits.cap) {
        r->unwaits.cap = r->unwaits.cap ? 2 * r->unwaits.cap : 8;
        r->unwaits.v =
            mem_xrealloc(r->unwaits.v, r->unwaits.cap * sizeof *r->unwaits.v);
    }
    struct unwait *u = &r->unwaits.v[r->unwaits.n++];
    u->cmd = *cmd;
    u->cmd.type = FSM_UNWAIT;
    u->cmd.wait = r->cfg.wait_grace_ms;
    /* The last answer about the wait this leader knows of: one applied
     * after it told another client, and the UNWAIT leaves that alone. */
    u->cmd.seen = fsm_wait_seen(r->f, cmd->index);
    u->cmd.name_len = cmd->name_len <= FSM_NAME_MAX ? cmd->name_len : 0;
    u->cmd.req_len = cmd->req_len <= FSM_REQ_MAX ? cmd->req_len : 0;
    if (u->cmd.name_len > 0)
        memcpy(u->name, cmd->name, u->cmd.name_len);
    if (u->cmd.req_len > 0)
        memcpy(u->req, cmd->req, u->cmd.req_len);
}

bool replica_next_unwait(struct replica *r, struct fsm_cmd *cmd)
{
    if (r->unwaits.next == r->unwaits.n) {
        r->unwaits.n = r->unwaits.next = 0;
        return false;
    }
    r->out_unwait = r->unwaits.v[r->unwaits.next++];
    *cmd = r->out_unwait.cmd;
    cmd->name = r->out_unwait.name;
    cmd->req = r->out_unwait.req;
    return true;
}

uint64_t replica_next_due(struct replica *r)
{
    return lease_next_due(r->lease);
}

bool replica_next_expiry(struct replica *r, uint64_t at, struct fsm_cmd *cmd)
{
    if (!r->ready)
        return false;
    size_t n = lease_due(r->lease, at, r->cfg.expire_retry_ms, r->ids,
                         r->cfg.expire_batch);
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        le_put64(r->id_bytes + 8 * i, r->ids[i]);
    *cmd = (struct fsm_cmd){
        .type = FSM_EXPIRE_BATCH, .ids = r->id_bytes, .n_ids = (uint32_t)n};
    return true;
}

bool replica_next_tick(struct replica *r, uint64_t clock_ms,
                       struct fsm_cmd *cmd)
{
    if (!r->ready || r->tick_pending ||
        fsm_next_deadline(r->f) > replica_now(r, clock_ms))
        return false;
    *cmd = (struct fsm_cmd){.type = FSM_TICK};
    return true;
}

/* ---- keepalives ------------------------------------------------------- */

int replica_keepalive_begin(struct replica *r, uint64_t session,
                            uint64_t clock_ms, uint64_t *at)
{
    if (!r->ready)
        return REPLICA_NOTLEADER;
    /* A keepalive read after the lease's end still renews it while its
     * expiry has not been proposed: it may have waited in a socket while
     * the loop was busy. Until it ends, the expiry waits. */
    if (!lease_alive(r->lease, session))
        return REPLICA_NOSESSION;
    lease_hold(r->lease, session);
    *at = replica_now(r, clock_ms);
    return REPLICA_OK;
}

uint64_t replica_keepalive_end(struct replica *r, uint64_t session, uint64_t at,
                               bool ok)
{
    lease_unhold(r->lease, session);
    uint64_t ttl = lease_ttl(r->lease, session);
    /* Leadership was confirmed for a moment after the keepalive came: the
     * lease may run ttl from then, unless the session went in between
     * (closed, or its expiry proposed). */
    if (!ok || ttl == 0 || !lease_alive(r->lease, session))
        return 0;
    lease_set(r->lease, session, ttl, at);
    return ttl;
}

size_t replica_leases_nearest(const struct replica *r, uint64_t *ids,
                              size_t max)
{
    return lease_nearest(r->lease, ids, max);
}

uint64_t replica_lease_left(const struct replica *r, uint64_t session,
                            uint64_t clock_ms)
{
    return lease_left(r->lease, session, replica_now(r, clock_ms));
}

size_t replica_leases(const struct replica *r)
{
    return lease_count(r->lease);
}
