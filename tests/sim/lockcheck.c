/* lockcheck.c - the lock service's safety checker: a model per node, the
 * outcome applied at each index, snapshot digests, the first outcome of
 * every request id (the "ledger"), and the model kept with every snapshot
 * so that a restored machine can be followed on. */
#include "lockcheck.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "lockcheck_modes.h"
#include "lockmodel.h"
#include "watchcheck.h"

#define U(x) ((unsigned long long)(x))
/* Indexes at which every node's snapshot bytes are compared and its
 * machine audited in full. */
#define SAMPLE_EVERY 25

/* What was applied at one index, by the first node to apply it. */
struct irec {
    bool applied;
    bool snap_set;
    uint64_t node;
    uint64_t digest; /* of the outcome and events */
    uint64_t cmd;    /* lockcheck_cmd_digest of the entry */
    struct fsm_result res;
    uint64_t snap; /* digest of the machine's snapshot bytes here */
    uint64_t snap_node;
};

/* The first remembered outcome of one request id, and how its wait ended
 * (a queued ACQUIRE). An id names one request of its table: the type and
 * a digest of the arguments of the first tell a reuse. */
struct lreq {
    bool closes; /* in the table of CLOSEs */
    uint8_t type;
    uint8_t req_len;
    uint64_t scope; /* the session of a per-session request, else 0 */
    uint64_t args;  /* args_digest of the first */
    char req[FSM_REQ_MAX];
    uint64_t first_index; /* 0: a free slot */
    struct fsm_result first;
    uint64_t final_index;
    struct fsm_result final;
};

struct saved_model {
    uint64_t index;
    struct lockmodel *m;
};

struct lockcheck {
    struct lockmodel *model[CLUSTER_MAX_ID + 1];
    uint64_t last_now[CLUSTER_MAX_ID + 1]; /* cluster time applied last */
    struct irec *rec;
    size_t cap_rec;
    struct lreq *lr; /* open addressing */
    size_t cap_lr;
    size_t n_lr;
    struct saved_model *sm;
    size_t n_sm;
    size_t cap_sm;
    struct grantrec *g; /* by (token, index): TOK_LEARNT, TOK_WITHDRAWN */
    size_t cap_g;
    size_t n_g;
    struct lockcheck_modes *modes; /* holds by mode, at first applies */
    struct watchcheck *watch;      /* the changes told to watchers */
    struct lockcheck_stats st;
};

enum { TOK_LEARNT = 1, TOK_WITHDRAWN = 2 };

/* One grant: a token and the index of the ACQUIRE it went to (a waiter
 * that joins its session and owner's hold shares its token with the
 * grants before it, and only its own can be taken back). */
struct grantrec {
    uint64_t token; /* 0: a free slot */
    uint64_t index;
    uint8_t flags;
};

struct lockcheck *lockcheck_new(void)
{
    struct lockcheck *ck = mem_xcalloc(1, sizeof(struct lockcheck));
    ck->modes = lockcheck_modes_new();
    ck->watch = watchcheck_new();
    return ck;
}

void lockcheck_free(struct lockcheck *ck)
{
    if (ck == NULL)
        return;
    for (unsigned i = 0; i <= CLUSTER_MAX_ID; i++)
        lockmodel_free(ck->model[i]);
    for (size_t i = 0; i < ck->n_sm; i++)
        lockmodel_free(ck->sm[i].m);
    free(ck->sm);
    free(ck->g);
    lockcheck_modes_free(ck->modes);
    watchcheck_free(ck->watch);
    free(ck->rec);
    free(ck->lr);
    free(ck);
}

void lockcheck_stats(const struct lockcheck *ck, struct lockcheck_stats *st)
{
    *st = ck->st;
    struct lockcheck_modes_counts n;
    lockcheck_modes_counts(ck->modes, &n);
    st->shared = n.shared;
    st->permits = n.permits;
    st->leaders = n.leaders;
    st->proclaims = n.proclaims;
    st->revokes = n.revokes;
    st->kinds = n.kinds;
    struct watchcheck_counts w;
    watchcheck_counts(ck->watch, &w);
    st->changes = w.changes;
    st->resumes = w.resumes;
    st->gone = w.gone;
}

void lockcheck_reset(struct lockcheck *ck, uint64_t id)
{
    lockmodel_free(ck->model[id]);
    ck->model[id] = lockmodel_new();
    ck->last_now[id] = 0;
    watchcheck_reset(ck->watch, id);
}

static struct irec *rec_at(struct lockcheck *ck, uint64_t i)
{
    if (i >= ck->cap_rec) {
        size_t cap = ck->cap_rec ? ck->cap_rec : 1024;
        while (cap <= i)
            cap *= 2;
        ck->rec = mem_xrealloc(ck->rec, cap * sizeof *ck->rec);
        memset(ck->rec + ck->cap_rec, 0, (cap - ck->cap_rec) * sizeof *ck->rec);
        ck->cap_rec = cap;
    }
    return &ck->rec[i];
}

uint64_t lockcheck_cmd_digest(const uint8_t *data, size_t len)
{
    if (len < 9)
        return rng_hash(1, data, len);
    return rng_hash(rng_hash(2, data, 1), data + 9, len - 9);
}

bool lockcheck_applied_cmd(const struct lockcheck *ck, uint64_t index,
                           uint64_t *digest)
{
    if (index >= ck->cap_rec || !ck->rec[index].applied)
        return false;
    *digest = ck->rec[index].cmd;
    return true;
}

/* ---- the ledger of request ids ---------------------------------------- */

/* Requests kept per session, by (session, req); the others, in the
 * cluster-wide table, by req; CLOSEs in their own, by (session, req). */
static uint64_t scope_of(const struct fsm_cmd *c)
{
    switch (c->type) {
    case FSM_CLOSE:
    case FSM_SET_TTL:
        return c->session;
    case FSM_ACQUIRE:
    case FSM_RELEASE:
    case FSM_ACQUIRE_SHARED:
    case FSM_RELEASE_SHARED:
    case FSM_DOWNGRADE:
    case FSM_SEM_ACQUIRE:
    case FSM_SEM_RELEASE:
    case FSM_CAMPAIGN:
    case FSM_PROCLAIM:
    case FSM_RESIGN:
        return c->session;
    default:
        return 0;
    }
}

/* What makes a request of a command, besides its type: all it carries but
 * its wait (a repeat may wait again, with another), time and id. */
static uint64_t args_digest(const struct fsm_cmd *c)
{
    uint64_t v[8] = {c->session,
                     c->ttl,
                     c->delay,
                     c->token,
                     ((uint64_t)c->name_len << 32) | c->owner_len,
                     c->permits,
                     c->count,
                     c->value_len};
    uint64_t h = rng_hash(0x9e3779b97f4a7c15ull, v, sizeof v);
    h = rng_hash(h, c->name, c->name_len);
    h = rng_hash(h, c->owner, c->owner_len);
    h = rng_hash(h, c->value, c->value_len);
    h = rng_hash(h, &c->client_len, sizeof c->client_len);
    return rng_hash(h, c->client, c->client_len);
}

static uint64_t lreq_hash(bool closes, uint64_t scope, const char *req,
                          size_t len)
{
    return rng_hash(rng_mix(scope * 31 + closes), req, len);
}

static struct lreq *lreq_find(struct lockcheck *ck, bool closes, uint64_t scope,
                              const char *req, size_t len, bool create)
{
    if (create && (ck->n_lr + 1) * 2 > ck->cap_lr) {
        struct lreq *old = ck->lr;
        size_t old_cap = ck->cap_lr;
        ck->cap_lr = old_cap ? 2 * old_cap : 256;
        ck->lr = mem_xcalloc(ck->cap_lr, sizeof *ck->lr);
        ck->n_lr = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].first_index != 0)
                *lreq_find(ck, old[i].closes, old[i].scope, old[i].req,
                           old[i].req_len, true) = old[i];
        free(old);
    }
    if (ck->cap_lr == 0)
        return NULL;
    size_t mask = ck->cap_lr - 1;
    for (size_t i = lreq_hash(closes, scope, req, len) & mask;;
         i = (i + 1) & mask) {
        struct lreq *r = &ck->lr[i];
        if (r->first_index == 0) {
            if (!create)
                return NULL;
            *r = (struct lreq){
                .closes = closes, .scope = scope, .req_len = (uint8_t)len};
            memcpy(r->req, req, len);
            ck->n_lr++;
            return r;
        }
        if (r->closes == closes && r->scope == scope && r->req_len == len &&
            memcmp(r->req, req, len) == 0)
            return r;
    }
}

static bool remembered(uint8_t status)
{
    return status == FSM_OK || status == FSM_QUEUED || status == FSM_HELD ||
           status == FSM_NOTHELD;
}

/* Whether the command at index repeats a remembered request, and its first
 * outcome as it stands there; or reuses the id of another request of its
 * table (a CLOSE: of its session's, which count while it is open). */
static void replay_of(struct lockcheck *ck, const struct fsm_cmd *c,
                      uint64_t index, struct lockmodel_replay *rp)
{
    memset(rp, 0, sizeof *rp);
    if (c == NULL || c->req_len == 0 || c->type == FSM_EXPIRE ||
        c->type == FSM_TICK || c->type == FSM_UNWAIT)
        return; /* UNWAIT's req is that of the ACQUIRE it names */
    bool closes = c->type == FSM_CLOSE;
    const struct lreq *r =
        lreq_find(ck, false, scope_of(c), c->req, c->req_len, false);
    if (r != NULL && r->first_index < index &&
        (closes || r->type != c->type || r->args != args_digest(c)))
        rp->reused = true;
    if (closes)
        r = lreq_find(ck, true, scope_of(c), c->req, c->req_len, false);
    else if (rp->reused)
        return;
    if (r == NULL || r->first_index >= index)
        return;
    rp->replay = true;
    rp->first =
        r->final_index != 0 && r->final_index < index ? r->final : r->first;
}

/* A grant of a blocking ACQUIRE taken back (WITHDRAWN): a retry learns
 * TIMEOUT from then on. */
static void ledger_withdrawn(struct lreq *r, uint64_t index,
                             const struct fsm_event *e)
{
    const struct fsm_result *got = r->final_index != 0 ? &r->final : &r->first;
    if (got->status != FSM_OK || got->token != e->token)
        return;
    r->final_index = index;
    r->final = (struct fsm_result){
        .status = FSM_TIMEOUT, .replayed = true, .session = r->first.session};
}

/* The first remembered outcome of a request is kept; a queued ACQUIRE's
 * wait ending (an event) gives its final outcome (a grant's holds as the
 * model m counts them: more than 1 for a waiter that joined its hold), and a
 * grant taken back another. */
static void ledger_update(struct lockcheck *ck, const struct lockmodel *m,
                          const struct fsm_cmd *c, uint64_t index,
                          const struct fsm_result *res,
                          const struct fsm_event *ev, size_t n_ev)
{
    if (c != NULL && c->req_len > 0 && !res->replayed &&
        c->type != FSM_UNWAIT && remembered(res->status)) {
        struct lreq *r = lreq_find(ck, c->type == FSM_CLOSE, scope_of(c),
                                   c->req, c->req_len, true);
        if (r->first_index == 0) {
            r->first_index = index;
            r->first = *res;
            r->type = c->type;
            r->args = args_digest(c);
        }
    }
    for (size_t i = 0; i < n_ev; i++) {
        const struct fsm_event *e = &ev[i];
        if (e->type == FSM_EV_LOST || e->req_len == 0)
            continue;
        struct lreq *r =
            lreq_find(ck, false, e->session, e->req, e->req_len, false);
        if (r == NULL || r->first_index != e->index)
            r = lreq_find(ck, false, 0, e->req, e->req_len, false);
        if (r != NULL && r->type != FSM_ACQUIRE &&
            r->type != FSM_ACQUIRE_SHARED && r->type != FSM_SEM_ACQUIRE &&
            r->type != FSM_CAMPAIGN)
            r = NULL;
        if (r != NULL && r->first_index == e->index &&
            e->type == FSM_EV_WITHDRAWN) {
            ledger_withdrawn(r, index, e);
            continue;
        }
        if (r == NULL || r->first_index != e->index ||
            r->first.status != FSM_QUEUED || r->final_index != 0)
            continue;
        r->final_index = index;
        r->final = (struct fsm_result){
            .status = e->type == FSM_EV_GRANTED   ? FSM_OK
                      : e->type == FSM_EV_TIMEOUT ? FSM_TIMEOUT
                                                  : FSM_CANCELED,
            .replayed = true,
            .session = r->first.session,
            .token = e->type == FSM_EV_GRANTED ? e->token : 0,
            .holds = lockmodel_grant_holds(m, i)};
    }
}

/* ---- grants learnt and taken back ------------------------------------- */

static struct grantrec *grant_at(struct lockcheck *ck, uint64_t token,
                                 uint64_t index)
{
    if ((ck->n_g + 1) * 2 > ck->cap_g) {
        struct grantrec *old = ck->g;
        size_t old_cap = ck->cap_g;
        ck->cap_g = old_cap ? 2 * old_cap : 1024;
        ck->g = mem_xcalloc(ck->cap_g, sizeof *ck->g);
        ck->n_g = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].token != 0)
                *grant_at(ck, old[i].token, old[i].index) = old[i];
        free(old);
    }
    size_t mask = ck->cap_g - 1;
    for (size_t i = rng_mix(token * 0x9e3779b97f4a7c15ull ^ index) & mask;;
         i = (i + 1) & mask) {
        struct grantrec *r = &ck->g[i];
        if (r->token == token && r->index == index)
            return r;
        if (r->token != 0)
            continue;
        *r = (struct grantrec){.token = token, .index = index};
        ck->n_g++;
        return r;
    }
}

/* Marks the grant of token to the ACQUIRE at index with flag; fails the
 * run if it then is both learnt by a client and taken back. */
static void token_mark(struct lockcheck *ck, struct cluster *c, uint64_t token,
                       uint64_t index, uint8_t flag)
{
    struct grantrec *r = grant_at(ck, token, index);
    if (flag == TOK_WITHDRAWN && !(r->flags & TOK_WITHDRAWN))
        ck->st.withdrawn++;
    r->flags |= flag;
    if (r->flags == (TOK_LEARNT | TOK_WITHDRAWN))
        cluster_fail(c,
                     "the grant of token %llu to the ACQUIRE at %llu was "
                     "taken back (WITHDRAWN), but a client had learnt it",
                     U(token), U(index));
}

void lockcheck_learnt(struct lockcheck *ck, struct cluster *c, uint64_t token,
                      uint64_t index)
{
    token_mark(ck, c, token, index, TOK_LEARNT);
}

uint64_t lockcheck_first_index(struct lockcheck *ck, const struct fsm_cmd *acq)
{
    if (acq->req_len == 0)
        return 0;
    const struct lreq *r =
        lreq_find(ck, false, scope_of(acq), acq->req, acq->req_len, false);
    return r != NULL ? r->first_index : 0;
}

/* ---- applies ---------------------------------------------------------- */

/* A digest of what an apply did: its result, events and changes. */
static uint64_t outcome_digest(const struct fsm *f, const struct fsm_result *r,
                               const struct fsm_event *ev, size_t n_ev)
{
    uint64_t v[8] = {r->status, r->replayed, r->session, r->token,
                     r->holds,  r->holder,   r->ttl,     r->index};
    uint64_t h = rng_hash(0xcbf29ce484222325ull, v, sizeof v);
    for (size_t i = 0; i < n_ev; i++) {
        uint64_t w[4] = {ev[i].type, ev[i].session, ev[i].token, ev[i].index};
        h = rng_hash(h, w, sizeof w);
        h = rng_hash(h, ev[i].name, ev[i].name_len);
        h = rng_hash(h, ev[i].req, ev[i].req_len);
    }
    size_t n_ch;
    const struct fsm_change *ch = fsm_changes(f, &n_ch);
    h = rng_hash(h, &n_ch, sizeof n_ch);
    for (size_t i = 0; i < n_ch; i++)
        h = rng_hash(h, &(uint64_t){watchcheck_digest(&ch[i])}, 8);
    return h;
}

static void describe_events(const struct fsm_event *ev, size_t n_ev, char *buf,
                            size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n_ev && off + 80 < cap; i++)
        off += (size_t)snprintf(
            buf + off, cap - off, " [%s s%llu '%.*s' token %llu wait %llu]",
            lockmodel_event_name(ev[i].type), U(ev[i].session),
            (int)ev[i].name_len, ev[i].name, U(ev[i].token), U(ev[i].index));
}

/* Every node applies the same outcome at index: the lock layer's state
 * machine safety (all agree on the token granted there, and on the changes
 * of holds that watchers are told). The first
 * application of each index goes into the history of holds by mode. */
static void check_outcome(struct lockcheck *ck, struct cluster *c,
                          struct sim_node *n, const struct fsm *f,
                          uint64_t index, const struct fsm_cmd *cmd,
                          const struct fsm_result *res,
                          const struct fsm_event *ev, size_t n_ev)
{
    struct irec *r = rec_at(ck, index);
    uint64_t d = outcome_digest(f, res, ev, n_ev);
    char rs[200], es[400], what[600];
    if (!r->applied) {
        r->applied = true;
        r->node = n->id;
        r->digest = d;
        r->res = *res;
        if (!lockcheck_modes_apply(ck->modes, index, cmd, res, ev, n_ev, what,
                                   sizeof what))
            cluster_fail(c, "lock modes: %s", what);
        ck->st.grants += res->status == FSM_OK && res->token != 0 &&
                         !res->replayed && res->holds == 1;
        for (size_t i = 0; i < n_ev; i++)
            ck->st.grants += ev[i].type == FSM_EV_GRANTED;
        ck->st.retries += res->replayed;
        if (c->cfg.trace == NULL)
            return;
        lockmodel_describe_cmd(cmd, what, sizeof what);
        lockmodel_describe_res(res, rs, sizeof rs);
        describe_events(ev, n_ev, es, sizeof es);
        cluster_trace(c, "lock apply %llu (n%llu first): %s -> %s%s", U(index),
                      U(n->id), what, rs, es);
        return;
    }
    if (r->digest == d)
        return;
    char fs[200];
    lockmodel_describe_cmd(cmd, what, sizeof what);
    lockmodel_describe_res(res, rs, sizeof rs);
    lockmodel_describe_res(&r->res, fs, sizeof fs);
    describe_events(ev, n_ev, es, sizeof es);
    cluster_fail(c,
                 "lock state machine safety: n%llu applies %llu (%s) -> "
                 "%s%s; n%llu applied -> %s (or other events or "
                 "changes)",
                 U(n->id), U(index), what, rs, es, U(r->node), fs);
}

/* The machine's snapshot bytes at index equal those of every node that
 * was there before. */
static void check_snap_digest(struct lockcheck *ck, struct cluster *c,
                              struct sim_node *n, uint64_t index,
                              const uint8_t *data, size_t len, const char *when)
{
    struct irec *r = rec_at(ck, index);
    uint64_t d = rng_hash(0x84222325cbf29ce4ull, data, len);
    if (!r->snap_set) {
        r->snap_set = true;
        r->snap = d;
        r->snap_node = n->id;
        return;
    }
    if (r->snap != d)
        cluster_fail(c,
                     "lock state differs: n%llu's machine at %llu (%s) "
                     "gives snapshot bytes (%zu) that differ from n%llu's "
                     "there",
                     U(n->id), U(index), when, len, U(r->snap_node));
}

/* A full audit of n's machine: its invariants, the model, the bytes. */
static void audit(struct lockcheck *ck, struct cluster *c, struct sim_node *n,
                  const struct fsm *f, const char *when)
{
    char why[600];
    if (!fsm_check(f, why, sizeof why)) {
        cluster_fail(c, "n%llu: fsm_check at %llu (%s): %s", U(n->id),
                     U(n->sm.index), when, why);
        return;
    }
    if (!lockmodel_agrees(ck->model[n->id], f, NULL, 0, true, why,
                          sizeof why)) {
        cluster_fail(c, "lock state: n%llu at %llu (%s): %s", U(n->id),
                     U(n->sm.index), when, why);
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    fsm_snapshot(f, &buf, &len);
    check_snap_digest(ck, c, n, n->sm.index, buf, len, when);
    free(buf);
}

void lockcheck_apply(struct lockcheck *ck, struct cluster *c,
                     struct sim_node *n, const struct raft_entry *e,
                     const struct fsm *f, const struct fsm_result *res,
                     const struct changelog *log)
{
    struct fsm_cmd cmd;
    bool ok = fsm_cmd_decode(&cmd, e->data, e->len) == 0;
    struct lockmodel_replay rp;
    replay_of(ck, ok ? &cmd : NULL, e->index, &rp);
    size_t n_ev;
    const struct fsm_event *ev = fsm_events(f, &n_ev);
    const struct fsm_cmd *cp = ok ? &cmd : NULL;
    char what[600], why[600];
    ck->st.applies++;
    if (ok && cmd.now < ck->last_now[n->id]) {
        lockmodel_describe_cmd(cp, what, sizeof what);
        cluster_fail(c,
                     "cluster time goes back: n%llu applies %llu (%s) "
                     "after time %llu",
                     U(n->id), U(e->index), what, U(ck->last_now[n->id]));
    }
    if (ok && cmd.now > ck->last_now[n->id])
        ck->last_now[n->id] = cmd.now;
    if (!lockmodel_follow(ck->model[n->id], e->index, cp, &rp, res, ev, n_ev,
                          why, sizeof why)) {
        char rs[200], es[400];
        lockmodel_describe_cmd(cp, what, sizeof what);
        lockmodel_describe_res(res, rs, sizeof rs);
        describe_events(ev, n_ev, es, sizeof es);
        cluster_fail(c, "lock rules: n%llu applies %llu (%s) -> %s%s: %s",
                     U(n->id), U(e->index), what, rs, es, why);
        return;
    }
    bool full = e->index % SAMPLE_EVERY == 0;
    if (!lockmodel_agrees(ck->model[n->id], f, ok ? cmd.name : NULL,
                          ok ? cmd.name_len : 0, false, why, sizeof why)) {
        lockmodel_describe_cmd(cp, what, sizeof what);
        cluster_fail(c, "lock state: n%llu after %llu (%s): %s", U(n->id),
                     U(e->index), what, why);
        return;
    }
    check_outcome(ck, c, n, f, e->index, cp, res, ev, n_ev);
    for (size_t i = 0; i < n_ev; i++)
        if (ev[i].type == FSM_EV_WITHDRAWN)
            token_mark(ck, c, ev[i].token, ev[i].index, TOK_WITHDRAWN);
    rec_at(ck, e->index)->cmd = lockcheck_cmd_digest(e->data, e->len);
    ledger_update(ck, ck->model[n->id], cp, e->index, res, ev, n_ev);
    if (!c->failed)
        watchcheck_apply(ck->watch, c, n, e->index, f, log);
    if (full && !c->failed)
        audit(ck, c, n, f, "sampled");
}

void lockcheck_audit(struct lockcheck *ck, struct cluster *c,
                     struct sim_node *n, const struct fsm *f)
{
    audit(ck, c, n, f, "final");
    if (!c->failed)
        watchcheck_audit(ck->watch, c, n, f);
}

/* ---- snapshots -------------------------------------------------------- */

static struct saved_model *saved_at(struct lockcheck *ck, uint64_t index)
{
    for (size_t i = ck->n_sm; i-- > 0;)
        if (ck->sm[i].index == index)
            return &ck->sm[i];
    return NULL;
}

void lockcheck_saved(struct lockcheck *ck, struct cluster *c,
                     struct sim_node *n, const struct fsm *f,
                     const uint8_t *data, size_t len)
{
    char why[600];
    uint64_t i = n->sm.index;
    check_snap_digest(ck, c, n, i, data, len, "snapshot");
    if (!lockmodel_agrees(ck->model[n->id], f, NULL, 0, true, why, sizeof why))
        cluster_fail(c, "lock state: n%llu snapshots at %llu: %s", U(n->id),
                     U(i), why);
    struct saved_model *s = saved_at(ck, i);
    if (s != NULL) {
        if (lockmodel_digest(s->m) != lockmodel_digest(ck->model[n->id]))
            cluster_fail(c,
                         "lock state: n%llu's apply stream up to %llu "
                         "differs from that of a node that snapshotted "
                         "there before",
                         U(n->id), U(i));
        return;
    }
    if (ck->n_sm == ck->cap_sm) {
        ck->cap_sm = ck->cap_sm ? 2 * ck->cap_sm : 64;
        ck->sm = mem_xrealloc(ck->sm, ck->cap_sm * sizeof *ck->sm);
    }
    ck->sm[ck->n_sm++] =
        (struct saved_model){.index = i, .m = lockmodel_copy(ck->model[n->id])};
}

void lockcheck_restored(struct lockcheck *ck, struct cluster *c,
                        struct sim_node *n, const struct fsm *f,
                        const uint8_t *data, size_t len)
{
    uint64_t i = n->sm.index;
    struct irec *r = rec_at(ck, i);
    struct saved_model *s = saved_at(ck, i);
    ck->st.restores++;
    if (!r->snap_set || s == NULL) {
        cluster_fail(c,
                     "n%llu restores a snapshot at %llu that no node "
                     "took",
                     U(n->id), U(i));
        return;
    }
    check_snap_digest(ck, c, n, i, data, len, "restored from");
    uint8_t *buf = NULL;
    size_t blen = 0;
    fsm_snapshot(f, &buf, &blen);
    if (blen != len || memcmp(buf, data, len) != 0)
        cluster_fail(c,
                     "n%llu: the machine restored from the snapshot at "
                     "%llu (%zu bytes) writes %zu different bytes",
                     U(n->id), U(i), len, blen);
    free(buf);
    lockmodel_free(ck->model[n->id]);
    ck->model[n->id] = lockmodel_copy(s->m);
    ck->last_now[n->id] = fsm_now(f);
    watchcheck_restored(ck->watch, c, n, f);
    if (!c->failed)
        audit(ck, c, n, f, "restored");
}
