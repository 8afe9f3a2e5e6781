/* lockclient.c - simulated clients of the lock service and the liveness
 * probe. Clients act between simulator steps; the callbacks, which run
 * inside an apply, only record what was learnt. */
#include "lockclient_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "check.h"
#include "lockmodel.h"

#define U(x) ((unsigned long long)(x))

const char *const lockclient_names[LOCKCLIENT_NAMES] = {
    "a", "b", "c", "job/1", "job/2", "sem/1", "sem/2", "leader/1", "leader/2"};

uint64_t lockclient_permits(unsigned k)
{
    return k == LOCKCLIENT_SEMS ? 3 : 2;
}
const char *const lockclient_owners[LOCKCLIENT_OWNERS] = {"", "w1", "w2"};

static void on_result(void *ctx, uint64_t tag, struct cluster *c, int status,
                      uint64_t index, const struct fsm_result *res);
static void on_wait(void *ctx, uint64_t tag, struct cluster *c, int status,
                    const struct fsm_event *ev);

/* ---- requests --------------------------------------------------------- */

static uint64_t tag_of(struct client *cl, struct creq *q, uint64_t node)
{
    return q->gen << 16 | node << 8 | (uint64_t)(q - cl->r);
}

static struct creq *slot_of(struct client *cl, uint64_t tag)
{
    struct creq *q = &cl->r[tag & 0xff];
    return (tag & 0xff) < HISTORY && q->gen == tag >> 16 ? q : NULL;
}

/* A slot for a new request: free, or done (the oldest first). */
struct creq *lockclient_new_req(struct client *cl)
{
    for (unsigned k = 0; k < HISTORY; k++) {
        struct creq *q = &cl->r[(cl->next + k) % HISTORY];
        if (q->state != R_FREE && q->state != R_DONE)
            continue;
        cl->next = (unsigned)((q - cl->r) + 1) % HISTORY;
        uint64_t gen = q->gen + 1;
        memset(q, 0, sizeof *q);
        q->gen = gen;
        q->state = R_UNSENT;
        cl->lc->st.requests++;
        return q;
    }
    return NULL;
}

void lockclient_set_str(char *buf, size_t cap, const char *s, const char **p,
                        uint32_t *len)
{
    snprintf(buf, cap, "%s", s);
    *p = buf;
    *len = (uint32_t)strlen(buf);
}

/* A fresh random request id, or none. */
void lockclient_fresh_req(struct client *cl, struct cluster *c, struct creq *q)
{
    if (rng_chance(&c->rng, 150))
        return;
    char id[40];
    int n = snprintf(id, sizeof id, "c%u.%llx.", cl->no, U(++cl->counter));
    unsigned tail = (unsigned)rng_below(&c->rng, 9);
    for (unsigned k = 0; k < tail && n + 1 < (int)sizeof id; k++)
        id[n++] = (char)('a' + rng_below(&c->rng, 26));
    id[n] = '\0';
    lockclient_set_str(q->req, sizeof q->req, id, &q->cmd.req, &q->cmd.req_len);
}

static bool session_scoped(const struct fsm_cmd *c)
{
    return c->session != 0 &&
           (c->type == FSM_ACQUIRE || c->type == FSM_RELEASE ||
            c->type == FSM_CLOSE || c->type == FSM_SET_TTL ||
            c->type == FSM_ACQUIRE_SHARED || c->type == FSM_RELEASE_SHARED ||
            c->type == FSM_DOWNGRADE || c->type == FSM_SEM_ACQUIRE ||
            c->type == FSM_SEM_RELEASE || c->type == FSM_CAMPAIGN ||
            c->type == FSM_PROCLAIM || c->type == FSM_RESIGN);
}

static bool is_acquire(const struct fsm_cmd *c)
{
    return c->type == FSM_ACQUIRE || c->type == FSM_ACQUIRE_SHARED ||
           c->type == FSM_SEM_ACQUIRE || c->type == FSM_CAMPAIGN;
}

static uint8_t kind_of(uint8_t type)
{
    return type == FSM_SEM_ACQUIRE ? FSM_KIND_SEMAPHORE
           : type == FSM_CAMPAIGN  ? FSM_KIND_ELECTION
                                   : FSM_KIND_LOCK;
}

void lockclient_send(struct client *cl, struct cluster *c, struct creq *q)
{
    struct lockclient *lc = cl->lc;
    uint64_t to = lc->leader;
    if (rng_chance(&c->rng, 50))
        to = rng_range(&c->rng, 1, c->next_id - 1);
    int rv = LOCKSERVER_NOTLEADER;
    struct csession *s = lockclient_session_find(cl, q->cmd.session);
    if (q->attempts++ == 0 && s != NULL && !q->raw && q->cmd.req_len > 0 &&
        session_scoped(&q->cmd))
        s->reqs++; /* its budget of request ids */
    if (to != 0 && q->raw)
        rv = lockserver_propose_raw(lc->srv, c, to, q->raw_data, q->raw_len,
                                    on_result, cl, tag_of(cl, q, to));
    else if (to != 0)
        rv = lockserver_propose(lc->srv, c, to, &q->cmd, on_result, cl,
                                tag_of(cl, q, to));
    if (rv == LOCKSERVER_OK) {
        q->state = R_SENT;
        q->sent_at = c->now_ms;
        q->node = to;
    } else if (q->attempts >= MAX_ATTEMPTS && cl->no != 0) {
        q->state = R_DONE; /* the client (not the probe) gives up */
    }
}

/* ---- what clients learn ----------------------------------------------- */

static bool remembered(uint8_t status)
{
    return status == FSM_OK || status == FSM_QUEUED || status == FSM_HELD ||
           status == FSM_NOTHELD || status == FSM_TIMEOUT ||
           status == FSM_CANCELED || status == FSM_REQ_REUSED;
}

static bool same_outcome(const struct fsm_result *a, const struct fsm_result *b)
{
    return a->status == b->status && a->session == b->session &&
           a->token == b->token && a->holds == b->holds &&
           a->holder == b->holder && a->ttl == b->ttl &&
           (a->status != FSM_QUEUED || a->index == b->index);
}

/* A repeated request answers the outcome its client learnt first: the
 * same, replayed; for a queued ACQUIRE, queued again at the same index or
 * the end of its wait; NOSESSION once a per-session request's session has
 * ended. */
static void check_retry(struct client *cl, struct cluster *c, struct creq *q,
                        const struct fsm_result *r)
{
    const struct fsm_result *l = &q->out;
    cl->lc->st.retried++;
    if (!remembered(l->status)) {
        q->out = *r;
        return;
    }
    if (r->status == FSM_NOSESSION && session_scoped(&q->cmd))
        return;
    bool ok;
    if (l->status == FSM_REQ_REUSED) /* the id names another request */
        ok = r->status == FSM_REQ_REUSED && !r->replayed;
    else if (l->status == FSM_QUEUED && r->status != FSM_QUEUED)
        ok = r->replayed && (r->status == FSM_OK || r->status == FSM_TIMEOUT ||
                             r->status == FSM_CANCELED);
    else if (q->holds_unknown) /* a waiter that joined its hold has more */
        ok = r->replayed && r->holds >= 1 &&
             same_outcome(l, &(struct fsm_result){.status = r->status,
                                                  .session = r->session,
                                                  .token = r->token,
                                                  .holds = l->holds,
                                                  .holder = r->holder,
                                                  .ttl = r->ttl,
                                                  .index = r->index});
    else
        ok = r->replayed && same_outcome(l, r);
    if (ok) {
        q->out = *r;
        q->holds_unknown = false;
        return;
    }
    char what[600], a[200], b[200];
    lockmodel_describe_cmd(&q->cmd, what, sizeof what);
    lockmodel_describe_res(r, a, sizeof a);
    lockmodel_describe_res(l, b, sizeof b);
    cluster_fail(c,
                 "client %u: a retry of %s answered %s; the client had "
                 "learnt %s",
                 cl->no, what, a, b);
}

struct csession *lockclient_session_find(struct client *cl, uint64_t id)
{
    for (unsigned k = 0; k < cl->n_s; k++)
        if (cl->s[k].id == id)
            return &cl->s[k];
    return NULL;
}

/* Forgets session id and the locks held through it. */
static void forget_session(struct client *cl, uint64_t id)
{
    struct csession *s = lockclient_session_find(cl, id);
    if (s != NULL)
        *s = cl->s[--cl->n_s];
    for (unsigned k = 0; k < cl->n_h;)
        if (cl->h[k].session == id)
            cl->h[k] = cl->h[--cl->n_h];
        else
            k++;
    cl->closed = id;
}

static bool str_is(const char *s, const char *p, uint32_t len)
{
    return strlen(s) == len && (len == 0 || memcmp(s, p, len) == 0);
}

static unsigned name_no(const char *name, uint32_t len)
{
    for (unsigned k = 0; k < LOCKCLIENT_NAMES; k++)
        if (str_is(lockclient_names[k], name, len))
            return k;
    return 0;
}

static unsigned owner_no(const char *owner, uint32_t len)
{
    for (unsigned k = 0; k < 3; k++)
        if (str_is(lockclient_owners[k], owner, len))
            return k;
    return 0;
}

static void add_hold(struct client *cl, uint64_t session,
                     const struct fsm_cmd *cmd, uint64_t token)
{
    bool shared = cmd->type == FSM_ACQUIRE_SHARED;
    uint32_t count = cmd->type == FSM_SEM_ACQUIRE ? (uint32_t)cmd->count : 0;
    for (unsigned k = 0; k < cl->n_h; k++)
        if (cl->h[k].token == token) {
            cl->h[k].shared = shared;
            cl->h[k].count += count;
            return;
        }
    if (cl->n_h < HOLDS_MAX)
        cl->h[cl->n_h++] =
            (struct chold){.session = session,
                           .name = name_no(cmd->name, cmd->name_len),
                           .owner = owner_no(cmd->owner, cmd->owner_len),
                           .token = token,
                           .shared = shared,
                           .kind = kind_of(cmd->type),
                           .count = count};
}

static void drop_hold(struct client *cl, uint64_t token)
{
    for (unsigned k = 0; k < cl->n_h; k++)
        if (cl->h[k].token == token) {
            cl->h[k] = cl->h[--cl->n_h];
            return;
        }
}

static struct chold *hold_of(struct client *cl, const struct fsm_cmd *cmd)
{
    for (unsigned k = 0; k < cl->n_h; k++) {
        struct chold *h = &cl->h[k];
        if (h->session == cmd->session &&
            h->name == name_no(cmd->name, cmd->name_len) &&
            (cmd->session == 0
                 ? h->token == cmd->token
                 : h->owner == owner_no(cmd->owner, cmd->owner_len)))
            return h;
    }
    return NULL;
}

/* What the client does with an outcome: sessions, holds, waits. */
static void take_outcome(struct client *cl, struct cluster *c, struct creq *q,
                         uint64_t node, uint64_t at, const struct fsm_result *r)
{
    const struct fsm_cmd *cmd = &q->cmd;
    struct chold *h;
    q->state = R_DONE;
    if (q->raw)
        return;
    if (r->status == FSM_NOSESSION && cmd->session != 0)
        forget_session(cl, cmd->session);
    switch (cmd->type) {
    case FSM_OPEN:
        if (r->status == FSM_OK &&
            lockclient_session_find(cl, r->session) == NULL &&
            cl->n_s < SESSIONS_MAX && r->session != cl->closed)
            cl->s[cl->n_s++] =
                (struct csession){.id = r->session, .ttl = cmd->ttl};
        break;
    case FSM_ACQUIRE:
    case FSM_ACQUIRE_SHARED:
    case FSM_SEM_ACQUIRE:
    case FSM_CAMPAIGN:
        if (r->status == FSM_OK && r->replayed) /* the grant it waited for */
            lockcheck_learnt(cl->lc->ck, c, r->token,
                             lockcheck_first_index(cl->lc->ck, cmd));
        else if (r->status == FSM_OK &&
                 (r->holds == 1 || cmd->type == FSM_SEM_ACQUIRE))
            lockcheck_learnt(cl->lc->ck, c, r->token, at); /* at once */
        if (r->status == FSM_OK)
            add_hold(cl, cmd->session, cmd, r->token);
        if (r->status == FSM_QUEUED) {
            q->state = R_WAITING;
            q->node = node;
            lockserver_wait(cl->lc->srv, node, r->index, on_wait, cl,
                            tag_of(cl, q, node));
        }
        break;
    case FSM_RELEASE:
    case FSM_RELEASE_SHARED:
        h = hold_of(cl, cmd);
        if (h == NULL)
            break;
        if ((r->status == FSM_OK && r->holds == 0) ||
            (r->status == FSM_NOTHELD && h->refused))
            drop_hold(cl, h->token);
        else if (r->status == FSM_NOTHELD)
            *h = (struct chold){.session = h->session,
                                .name = h->name,
                                .owner = h->owner,
                                .token = h->token,
                                .shared = cmd->type == FSM_RELEASE,
                                .refused = true};
        break;
    case FSM_DOWNGRADE:
        h = hold_of(cl, cmd);
        if (h != NULL && r->status == FSM_OK)
            h->shared = true;
        break;
    case FSM_SEM_RELEASE:
        h = hold_of(cl, cmd);
        if (h != NULL && r->status == FSM_OK)
            h->count = r->holds;
        if (h != NULL && (r->status != FSM_OK || r->holds == 0))
            drop_hold(cl, h->token);
        break;
    case FSM_RESIGN:
        h = hold_of(cl, cmd);
        if (h != NULL)
            drop_hold(cl, h->token);
        break;
    case FSM_PROCLAIM:
    case FSM_REVOKE:
        if (r->status != FSM_OK || cmd->type == FSM_REVOKE)
            drop_hold(cl, cmd->token); /* no longer the leader; revoked */
        break;
    case FSM_EXTEND:
        if (r->status == FSM_NOTHELD)
            drop_hold(cl, cmd->token);
        break;
    case FSM_CLOSE:
        forget_session(cl, cmd->session);
        break;
    default:
        break;
    }
}

/* An outcome the client is told is that of the entry applied at index,
 * which must be its request (stamped with any time). */
static bool own_outcome(struct client *cl, struct cluster *c, struct creq *q,
                        uint64_t index)
{
    uint8_t buf[600];
    size_t len = q->raw_len;
    if (q->raw)
        memcpy(buf, q->raw_data, len);
    else
        len = fsm_cmd_encode(&q->cmd, buf, sizeof buf);
    uint64_t d;
    if (len <= sizeof buf && lockcheck_applied_cmd(cl->lc->ck, index, &d) &&
        d == lockcheck_cmd_digest(buf, len))
        return true;
    char what[600];
    lockmodel_describe_cmd(q->raw ? NULL : &q->cmd, what, sizeof what);
    cluster_fail(c,
                 "client %u is told the outcome of %s applied at %llu, "
                 "where another command was applied",
                 cl->no, what, U(index));
    return false;
}

static void on_result(void *ctx, uint64_t tag, struct cluster *c, int status,
                      uint64_t index, const struct fsm_result *res)
{
    struct client *cl = ctx;
    struct creq *q = slot_of(cl, tag);
    if (q == NULL || q->state == R_DONE || q->state == R_FREE)
        return;
    if (status != LOCKSERVER_OK) {
        cl->lc->st.lost++;
        if (q->state == R_SENT)
            q->state = R_UNKNOWN;
        return;
    }
    cl->lc->st.acked++;
    if (!own_outcome(cl, c, q, index))
        return;
    if (q->learnt) {
        check_retry(cl, c, q, res);
    } else {
        q->learnt = true;
        q->out = *res;
    }
    if (q->state != R_WAITING || res->status != FSM_QUEUED)
        take_outcome(cl, c, q, (tag >> 8) & 0xff, index, res);
}

static void on_wait(void *ctx, uint64_t tag, struct cluster *c, int status,
                    const struct fsm_event *ev)
{
    struct client *cl = ctx;
    struct creq *q = slot_of(cl, tag);
    if (q == NULL || q->state != R_WAITING)
        return;
    if (status != LOCKSERVER_OK) {
        q->state = R_UNKNOWN; /* repeat it to wait again, or to learn */
        return;
    }
    q->out.status = ev->type == FSM_EV_GRANTED   ? FSM_OK
                    : ev->type == FSM_EV_TIMEOUT ? FSM_TIMEOUT
                                                 : FSM_CANCELED;
    q->out.replayed = true;
    q->out.token = ev->type == FSM_EV_GRANTED ? ev->token : 0;
    q->out.holds = ev->type == FSM_EV_GRANTED ? 1 : 0;
    q->holds_unknown = ev->type == FSM_EV_GRANTED;
    q->out.index = 0;
    q->state = R_DONE;
    if (ev->type == FSM_EV_GRANTED) {
        lockcheck_learnt(cl->lc->ck, c, ev->token, ev->index);
        add_hold(cl, q->cmd.session, &q->cmd, ev->token);
    }
}

/* ---- the steps -------------------------------------------------------- */

static void keepalives(struct client *cl, struct cluster *c)
{
    for (unsigned k = 0; k < cl->n_s && !cl->paused; k++) {
        struct csession *s = &cl->s[k];
        if (s->next_ka > c->now_ms)
            continue;
        int rv = lockserver_keepalive(cl->lc->srv, c, cl->lc->leader, s->id);
        if (rv == LOCKSERVER_NOSESSION) {
            forget_session(cl, s->id);
            return;
        }
        s->next_ka = c->now_ms + (rv == LOCKSERVER_OK ? s->ttl / 3 : 10);
    }
}

/* Sessions near their budget of request ids are closed. */
static void retire_sessions(struct client *cl, struct cluster *c)
{
    for (unsigned k = 0; k < cl->n_s; k++) {
        if (cl->s[k].reqs < REQS_PER_SESSION)
            continue;
        struct creq *q = lockclient_new_req(cl);
        if (q == NULL)
            return;
        q->cmd.type = FSM_CLOSE;
        q->cmd.session = cl->s[k].id;
        lockclient_fresh_req(cl, c, q);
        forget_session(cl, cl->s[k].id);
        lockclient_send(cl, c, q);
        return;
    }
}

/* Now and then, requests not proposed are sent again; those whose outcome
 * was lost are repeated with their id (without one, the client cannot
 * know: it gives up); those unanswered for long are taken as lost. */
static void resend(struct client *cl, struct cluster *c)
{
    if (!rng_chance(&c->rng, 300))
        return;
    for (unsigned k = 0; k < HISTORY && !c->failed; k++) {
        struct creq *q = &cl->r[k];
        if (q->state == R_SENT && c->now_ms - q->sent_at > SENT_TIMEOUT_MS)
            q->state = R_UNKNOWN;
        if (q->state == R_UNKNOWN && (q->cmd.req_len == 0 || q->raw))
            q->state = R_DONE;
        if (q->state == R_UNSENT || q->state == R_UNKNOWN)
            lockclient_send(cl, c, q);
    }
}

/* Now and then a client gives up on a blocking acquire, waiting or not
 * yet answered (its connection closes): it learns nothing more of it, and
 * repeats it later if it has a request id. */
static void give_up(struct client *cl, struct cluster *c)
{
    if (!rng_chance(&c->rng, 50))
        return;
    struct creq *q = &cl->r[rng_below(&c->rng, HISTORY)];
    if (q->raw || !is_acquire(&q->cmd) || q->cmd.wait == 0 ||
        (q->state != R_SENT && q->state != R_WAITING))
        return;
    struct lockserver *srv = cl->lc->srv;
    uint64_t tag = tag_of(cl, q, q->node);
    if (q->state == R_WAITING)
        lockserver_wait_gone(srv, q->node, cl, tag, q->out.session, &q->cmd);
    else
        lockserver_gone(srv, q->node, cl, tag, &q->cmd);
    q->state = q->cmd.req_len > 0 ? R_UNKNOWN : R_DONE;
    cl->lc->st.gone++;
}

void lockclient_step(struct lockclient *lc, struct cluster *c, bool active)
{
    lc->leader = cluster_leader(c);
    for (unsigned i = 0; i < lc->n_cl && !c->failed; i++) {
        struct client *cl = &lc->cl[i];
        if (!active)
            continue;
        if (rng_chance(&c->rng, cl->paused ? 20 : 1))
            cl->paused = !cl->paused;
        keepalives(cl, c);
        retire_sessions(cl, c);
        give_up(cl, c);
        resend(cl, c);
        if (rng_chance(&c->rng, 150) && !c->failed)
            lockclient_gen_act(cl, c);
    }
}

/* ---- the probe -------------------------------------------------------- */

/* Puts a request of the probe in slot k (0: A's and the openings, one
 * after the other; 1: B's ACQUIRE, repeated until its grant is learnt). */
static void probe_request(struct probe *p, unsigned k, uint8_t type,
                          uint64_t session, const char *req)
{
    struct creq *q = &p->cl.r[k];
    uint64_t gen = q->gen + 1;
    memset(q, 0, sizeof *q);
    q->gen = gen;
    q->state = R_UNSENT;
    q->cmd.type = type;
    q->cmd.session = session;
    q->cmd.owner = "";
    lockclient_set_str(q->req, sizeof q->req, req, &q->cmd.req,
                       &q->cmd.req_len);
    if (type == FSM_OPEN) {
        q->cmd.ttl = 60000;
        return;
    }
    lockclient_set_str(q->name, sizeof q->name, "probe", &q->cmd.name,
                       &q->cmd.name_len);
    if (type == FSM_ACQUIRE)
        q->cmd.wait = session == p->b ? 60000 : 0;
}

/* The stage's request learnt its outcome: the next stage, or a failure if
 * the service answered what a healthy one cannot. */
static void probe_next(struct probe *p, struct cluster *c, struct creq *q)
{
    const struct fsm_result *r = &q->out;
    bool ok = false;
    switch (p->stage) {
    case P_OPEN_A:
        ok = r->status == FSM_OK;
        p->a = r->session;
        probe_request(p, 0, FSM_OPEN, 0, "probe.open.b");
        break;
    case P_OPEN_B:
        ok = r->status == FSM_OK;
        p->b = r->session;
        probe_request(p, 0, FSM_ACQUIRE, p->a, "probe.acquire.a");
        break;
    case P_ACQUIRE_A: /* the lock is free: granted at once */
        ok = r->status == FSM_OK;
        p->token_a = r->token;
        probe_request(p, 1, FSM_ACQUIRE, p->b, "probe.acquire.b");
        break;
    case P_ACQUIRE_B: /* held by A: B waits */
        ok = r->status == FSM_QUEUED;
        probe_request(p, 0, FSM_RELEASE, p->a, "probe.release.a");
        break;
    case P_RELEASE_A:
        ok = r->status == FSM_OK && r->holds == 0;
        break;
    case P_GRANT_B: /* the first waiter gets the released lock */
        ok = r->status == FSM_OK && r->token > p->token_a;
        p->grant_index = check_commit_max(c->check);
        break;
    }
    if (!ok) {
        char rs[200];
        lockmodel_describe_res(r, rs, sizeof rs);
        cluster_fail(c, "liveness: the probe's '%s' (%s) answered %s", q->req,
                     lockclient_probe_state(p->cl.lc), rs);
        return;
    }
    p->stage++;
}

bool lockclient_probe(struct lockclient *lc, struct cluster *c)
{
    struct probe *p = &lc->probe;
    if (p->stage == P_APPLIED) {
        for (unsigned k = 0; k < c->conf.n; k++) {
            struct sim_node *n = cluster_node(c, c->conf.servers[k].id);
            if (n == NULL || !n->up || n->sm.index < p->grant_index)
                return false;
        }
        p->stage = P_DONE;
    }
    if (p->stage == P_DONE)
        return true;
    lc->leader = cluster_leader(c);
    for (unsigned k = 0; k < 2 && !c->failed; k++) {
        struct creq *q = &p->cl.r[k];
        if (q->state == R_UNSENT || q->state == R_UNKNOWN)
            lockclient_send(&p->cl, c, q);
    }
    unsigned k = p->stage == P_ACQUIRE_B || p->stage == P_GRANT_B;
    struct creq *q = &p->cl.r[k];
    bool learnt =
        q->learnt && (q->state == R_DONE ||
                      (p->stage == P_ACQUIRE_B && q->state == R_WAITING));
    if (learnt && !c->failed)
        probe_next(p, c, q);
    return false;
}

const char *lockclient_probe_state(const struct lockclient *lc)
{
    static const char *names[] = {"opening A",       "opening B",
                                  "A acquiring",     "B queueing",
                                  "A releasing",     "B waiting for its grant",
                                  "all applying it", "done"};
    return names[lc->probe.stage];
}

/* ---- setup ------------------------------------------------------------ */

struct lockclient *lockclient_new(struct lockserver *s, struct lockcheck *ck,
                                  struct cluster *c)
{
    struct lockclient *lc = mem_xcalloc(1, sizeof *lc);
    lc->srv = s;
    lc->ck = ck;
    lc->n_cl = (unsigned)rng_range(&c->rng, 2, CLIENTS_MAX);
    lc->n_locks = (unsigned)rng_range(&c->rng, 2, 5);
    for (unsigned i = 0; i < lc->n_cl; i++) {
        lc->cl[i].lc = lc;
        lc->cl[i].no = i + 1;
    }
    lc->probe.cl.lc = lc;
    probe_request(&lc->probe, 0, FSM_OPEN, 0, "probe.open.a");
    return lc;
}

void lockclient_free(struct lockclient *lc)
{
    free(lc);
}

void lockclient_stats(const struct lockclient *lc, struct lockclient_stats *st)
{
    *st = lc->st;
}
