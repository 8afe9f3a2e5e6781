/* lockclient_gen.c - the simulated clients' random requests: sessions with
 * random TTLs, try and waiting acquires with owners and lock-delays (a
 * quarter of them shared), reentry in either mode, lease locks, releases
 * (mostly of what the client holds, in the mode it holds it), downgrades,
 * upgrades tried (which must be refused), semaphore acquires and releases,
 * campaigns, proclaims and resignations (on their own names mostly, now
 * and then on another kind's, which must be KIND), revokes, extends,
 * closes, malformed commands, and repeats of earlier requests or of their
 * ids. */
#include "lockclient_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- new requests ----------------------------------------------------- */

static struct csession *pick_session(struct client *cl, struct cluster *c)
{
    return cl->n_s ? &cl->s[rng_below(&c->rng, cl->n_s)] : NULL;
}

/* A session to name: mostly a live one of the client's, sometimes one it
 * closed or lost. */
static uint64_t session_for(struct client *cl, struct cluster *c)
{
    struct csession *s = pick_session(cl, c);
    if (s == NULL || rng_chance(&c->rng, 30))
        return cl->closed ? cl->closed : 1;
    return s->id;
}

static void set_name(struct client *cl, struct cluster *c, struct creq *q,
                     unsigned k)
{
    lockclient_set_str(q->name, sizeof q->name, lockclient_names[k],
                       &q->cmd.name, &q->cmd.name_len);
}

static void random_name(struct client *cl, struct cluster *c, struct creq *q)
{
    set_name(cl, c, q, (unsigned)rng_below(&c->rng, cl->lc->n_locks));
}

static void set_owner(struct creq *q, unsigned k)
{
    lockclient_set_str(q->owner, sizeof q->owner, lockclient_owners[k],
                       &q->cmd.owner, &q->cmd.owner_len);
}

static uint64_t random_ttl(struct cluster *c)
{
    unsigned r = (unsigned)rng_below(&c->rng, 100);
    if (r < 70)
        return rng_range(&c->rng, FSM_TTL_MIN, 1500);
    if (r < 97)
        return rng_range(&c->rng, 1500, 6000);
    return rng_chance(&c->rng, 500) ? 50 : FSM_TTL_MAX + 1; /* INVALID */
}

static void acquire_fields(struct cluster *c, struct creq *q)
{
    unsigned r = (unsigned)rng_below(&c->rng, 100);
    q->cmd.wait = r < 50   ? 0
                  : r < 92 ? rng_range(&c->rng, 1, 400)
                           : rng_range(&c->rng, 400, 3000);
    r = (unsigned)rng_below(&c->rng, 100);
    q->cmd.delay = r < 40   ? UINT64_MAX
                   : r < 55 ? 0
                            : rng_range(&c->rng, 1, 1500);
}

static void new_open(struct client *cl, struct cluster *c, struct creq *q)
{
    char name[8];
    snprintf(name, sizeof name, "c%u", cl->no);
    q->cmd.type = FSM_OPEN;
    q->cmd.ttl = random_ttl(c);
    q->cmd.client = "";
    if (rng_chance(&c->rng, 700)) {
        memcpy(q->owner, name, sizeof name);
        q->cmd.client = q->owner;
        q->cmd.client_len = (uint32_t)strlen(name);
    }
}

/* An ACQUIRE, a quarter of them ACQUIRE_SHARED: mostly of a random lock
 * by a random owner, sometimes again by a holder (in the mode it holds
 * it, or the other: an exclusive one by a reader is an upgrade, which
 * must be refused). */
static void new_acquire(struct client *cl, struct cluster *c, struct creq *q)
{
    q->cmd.type = rng_chance(&c->rng, 250) ? FSM_ACQUIRE_SHARED : FSM_ACQUIRE;
    struct chold *h = cl->n_h ? &cl->h[rng_below(&c->rng, cl->n_h)] : NULL;
    if (h != NULL && h->session != 0 && rng_chance(&c->rng, 200)) {
        /* reentry, or an upgrade tried */
        q->cmd.type = h->shared == rng_chance(&c->rng, 700) ? FSM_ACQUIRE_SHARED
                                                            : FSM_ACQUIRE;
        q->cmd.session = h->session;
        set_name(cl, c, q, h->name);
        set_owner(q, h->owner);
    } else {
        q->cmd.session = session_for(cl, c);
        random_name(cl, c, q);
        set_owner(q, (unsigned)rng_below(&c->rng, 3));
    }
    acquire_fields(c, q);
    if (rng_chance(&c->rng, 10))
        q->cmd.name_len = 0; /* INVALID */
}

/* A SEM_ACQUIRE or a CAMPAIGN: mostly of a name of its kind with its
 * permits, now and then of a lock's name or with other permits (KIND);
 * sometimes again by a holder (a semaphore's permits join its hold, a
 * leader campaigning again is answered its token). */
static void new_kind_acquire(struct client *cl, struct cluster *c,
                             struct creq *q)
{
    bool sem = rng_chance(&c->rng, 500);
    q->cmd.type = sem ? FSM_SEM_ACQUIRE : FSM_CAMPAIGN;
    unsigned first = sem ? LOCKCLIENT_SEMS : LOCKCLIENT_ELECTS;
    unsigned k = first + (unsigned)rng_below(&c->rng, 2);
    struct chold *h = cl->n_h ? &cl->h[rng_below(&c->rng, cl->n_h)] : NULL;
    if (h != NULL && h->session != 0 && h->kind != FSM_KIND_LOCK &&
        rng_chance(&c->rng, 300)) {
        q->cmd.type =
            h->kind == FSM_KIND_SEMAPHORE ? FSM_SEM_ACQUIRE : FSM_CAMPAIGN;
        sem = h->kind == FSM_KIND_SEMAPHORE;
        k = h->name;
        q->cmd.session = h->session;
        set_owner(q, h->owner);
    } else {
        q->cmd.session = session_for(cl, c);
        if (rng_chance(&c->rng, 80))
            k = (unsigned)rng_below(&c->rng, LOCKCLIENT_NAMES);
        set_owner(q, (unsigned)rng_below(&c->rng, 3));
    }
    set_name(cl, c, q, k);
    if (sem) {
        q->cmd.permits = k >= LOCKCLIENT_SEMS && k < LOCKCLIENT_ELECTS
                             ? lockclient_permits(k)
                             : 2;
        if (rng_chance(&c->rng, 40))
            q->cmd.permits = rng_range(&c->rng, 1, 4);
        q->cmd.count = rng_chance(&c->rng, 700) ? 1 : 2;
        if (rng_chance(&c->rng, 20))
            q->cmd.count = q->cmd.permits + 1; /* INVALID */
    } else {
        char v[16];
        snprintf(v, sizeof v, "v%u.%llu", cl->no,
                 (unsigned long long)rng_below(&c->rng, 1000));
        lockclient_set_str(q->value, sizeof q->value, v, &q->cmd.value,
                           &q->cmd.value_len);
    }
    acquire_fields(c, q);
}

static void new_lease_acquire(struct client *cl, struct cluster *c,
                              struct creq *q)
{
    q->cmd.type = FSM_ACQUIRE;
    q->cmd.ttl = rng_chance(&c->rng, 20) ? 0 : rng_range(&c->rng, 100, 1500);
    random_name(cl, c, q);
    if (rng_chance(&c->rng, 30)) /* a semaphore's or an election's: KIND */
        set_name(cl, c, q,
                 LOCKCLIENT_SEMS +
                     (unsigned)rng_below(&c->rng,
                                         LOCKCLIENT_NAMES - LOCKCLIENT_SEMS));
    acquire_fields(c, q);
}

/* One of the locks the client holds, through a session (lease: through
 * a lease lock's token), or NULL. */
static struct chold *pick_hold(struct client *cl, struct cluster *c, bool lease)
{
    struct chold *v[HOLDS_MAX];
    unsigned n = 0;
    for (unsigned k = 0; k < cl->n_h; k++)
        if ((cl->h[k].session == 0) == lease)
            v[n++] = &cl->h[k];
    return n ? v[rng_below(&c->rng, n)] : NULL;
}

/* RELEASE or RELEASE_SHARED: mostly of a hold of the client's in the mode
 * it believes it holds it. */
static void new_release(struct client *cl, struct cluster *c, struct creq *q)
{
    q->cmd.type = FSM_RELEASE;
    struct chold *h = pick_hold(cl, c, false);
    if (h != NULL && rng_chance(&c->rng, 900)) {
        q->cmd.type = h->shared != rng_chance(&c->rng, 50) ? FSM_RELEASE_SHARED
                                                           : FSM_RELEASE;
        q->cmd.session = h->session;
        set_name(cl, c, q, h->name);
        set_owner(q, h->owner);
        return;
    }
    if (rng_chance(&c->rng, 250))
        q->cmd.type = FSM_RELEASE_SHARED;
    q->cmd.session = session_for(cl, c);
    random_name(cl, c, q);
    set_owner(q, (unsigned)rng_below(&c->rng, 3));
}

/* EXTEND or RELEASE by token of a lease lock: mostly one the client
 * holds. */
static void new_lease_op(struct client *cl, struct cluster *c, struct creq *q,
                         uint8_t type)
{
    q->cmd.type = type;
    struct chold *h = pick_hold(cl, c, true);
    if (h != NULL && rng_chance(&c->rng, 900)) {
        set_name(cl, c, q, h->name);
        q->cmd.token = h->token;
    } else {
        random_name(cl, c, q);
        q->cmd.token = rng_range(&c->rng, 1, 30);
    }
    if (type == FSM_EXTEND)
        q->cmd.ttl = random_ttl(c);
}

/* DOWNGRADE: mostly of a hold of the client's it believes exclusive. */
static void new_downgrade(struct client *cl, struct cluster *c, struct creq *q)
{
    q->cmd.type = FSM_DOWNGRADE;
    struct chold *h = pick_hold(cl, c, false);
    if (h != NULL && (!h->shared || rng_chance(&c->rng, 200))) {
        q->cmd.session = h->session;
        set_name(cl, c, q, h->name);
        set_owner(q, h->owner);
        return;
    }
    q->cmd.session = session_for(cl, c);
    random_name(cl, c, q);
    set_owner(q, (unsigned)rng_below(&c->rng, 3));
}

/* A semaphore's hold gives permits back (now and then more than it
 * has); a leader proclaims (now and then with another token) or
 * resigns. */
static void kind_let_go(struct client *cl, struct cluster *c, struct creq *q,
                        const struct chold *h)
{
    q->cmd.session = h->session;
    set_name(cl, c, q, h->name);
    set_owner(q, h->owner);
    if (h->kind == FSM_KIND_SEMAPHORE) {
        q->cmd.type = FSM_SEM_RELEASE;
        q->cmd.count = h->count > 1 && rng_chance(&c->rng, 500) ? 1 : h->count;
        if (q->cmd.count == 0 || rng_chance(&c->rng, 50))
            q->cmd.count++;
        return;
    }
    if (rng_chance(&c->rng, 400)) {
        q->cmd.type = FSM_RESIGN;
        return;
    }
    char v[16];
    q->cmd.type = FSM_PROCLAIM;
    q->cmd.token = h->token;
    if (rng_chance(&c->rng, 100))
        q->cmd.token = rng_chance(&c->rng, 500) ? h->token - 1 : h->token + 1;
    snprintf(v, sizeof v, "p%u.%llu", cl->no,
             (unsigned long long)rng_below(&c->rng, 1000));
    lockclient_set_str(q->value, sizeof q->value, v, &q->cmd.value,
                       &q->cmd.value_len);
}

/* REVOKE: mostly of a hold the client has (of any kind), with its own
 * lock-delay or another; else of a random token. */
static void new_revoke(struct client *cl, struct cluster *c, struct creq *q)
{
    q->cmd.type = FSM_REVOKE;
    const struct chold *h =
        cl->n_h ? &cl->h[rng_below(&c->rng, cl->n_h)] : NULL;
    if (h != NULL && rng_chance(&c->rng, 700)) {
        set_name(cl, c, q, h->name);
        q->cmd.token = h->token;
    } else {
        set_name(cl, c, q, (unsigned)rng_below(&c->rng, LOCKCLIENT_NAMES));
        q->cmd.token = rng_range(&c->rng, 1, 60);
    }
    q->cmd.delay =
        rng_chance(&c->rng, 500) ? UINT64_MAX : rng_range(&c->rng, 0, 1500);
}

/* Releases (now and then downgrades) one of the locks the client
 * holds, or gives back a semaphore's permits or a leadership. */
static void let_go(struct client *cl, struct cluster *c, struct creq *q)
{
    const struct chold *k = pick_hold(cl, c, false);
    if (k != NULL && k->kind != FSM_KIND_LOCK && rng_chance(&c->rng, 900))
        kind_let_go(cl, c, q, k);
    else if (rng_chance(&c->rng, 100) && pick_hold(cl, c, false) != NULL)
        new_downgrade(cl, c, q);
    else if (rng_chance(&c->rng, 700) && pick_hold(cl, c, false) != NULL)
        new_release(cl, c, q);
    else if (pick_hold(cl, c, true) != NULL)
        new_lease_op(cl, c, q, FSM_RELEASE);
    else
        new_release(cl, c, q);
}

/* Bytes that do not decode (a command's fields out of range are made by
 * the other requests). Only a leader writes entries, so none that decodes
 * can carry a time of its own. */
static void new_invalid(struct client *cl, struct cluster *c, struct creq *q)
{
    struct fsm_cmd cmd;
    q->raw = true;
    q->raw_len = (uint32_t)rng_below(&c->rng, sizeof q->raw_data);
    for (uint32_t k = 0; k < q->raw_len; k++)
        q->raw_data[k] = (uint8_t)rng_next(&c->rng);
    if (q->raw_len > 0 && rng_chance(&c->rng, 500))
        q->raw_data[0] = (uint8_t)rng_range(&c->rng, 1, FSM_CMD_MAX);
    if (fsm_cmd_decode(&cmd, q->raw_data, q->raw_len) == 0)
        q->raw_data[0] = 0;
}

/* Repeats a request whose outcome was learnt (or given up on), with its
 * request id. */
static void retry_done(struct client *cl, struct cluster *c)
{
    struct creq *q = &cl->r[rng_below(&c->rng, HISTORY)];
    if (q->state != R_DONE || q->cmd.req_len == 0 || q->raw)
        return;
    q->state = R_UNSENT;
    q->attempts = 0;
    lockclient_send(cl, c, q);
}

/* A new request that reuses an earlier request's id in its table: an
 * OPEN's for a lease acquire and the reverse; a session's ACQUIRE's or
 * RELEASE's for that session's CLOSE, or for its ACQUIRE of the same lock
 * by another owner. The machine answers REQ_REUSED, with no effect, if the
 * first request's outcome is remembered. */
static bool reuse_id(struct client *cl, struct cluster *c, struct creq *q)
{
    struct creq *old = &cl->r[rng_below(&c->rng, HISTORY)];
    if (old == q || old->state == R_FREE || old->cmd.req_len == 0 || old->raw)
        return false;
    lockclient_set_str(q->req, sizeof q->req, old->req, &q->cmd.req,
                       &q->cmd.req_len);
    const struct fsm_cmd *o = &old->cmd;
    if (o->type == FSM_OPEN) {
        new_lease_acquire(cl, c, q);
    } else if ((o->type == FSM_ACQUIRE || o->type == FSM_RELEASE ||
                o->type == FSM_ACQUIRE_SHARED ||
                o->type == FSM_RELEASE_SHARED || o->type == FSM_DOWNGRADE ||
                o->type == FSM_SEM_ACQUIRE || o->type == FSM_CAMPAIGN) &&
               o->session != 0 && rng_chance(&c->rng, 600)) {
        if (rng_chance(&c->rng, 300)) {
            q->cmd.type = FSM_CLOSE;
        } else {
            new_acquire(cl, c, q);
            lockclient_set_str(q->name, sizeof q->name, old->name, &q->cmd.name,
                               &q->cmd.name_len);
            unsigned k = 0;
            while (k < 2 && strlen(lockclient_owners[k]) == o->owner_len &&
                   memcmp(lockclient_owners[k], o->owner, o->owner_len) == 0)
                k++;
            set_owner(q, k);
        }
        q->cmd.session = o->session;
    } else {
        new_open(cl, c, q);
    }
    return true;
}

/* Whether an OPEN of the client's awaits its outcome. */
static bool opening(const struct client *cl)
{
    for (unsigned k = 0; k < HISTORY; k++)
        if (cl->r[k].cmd.type == FSM_OPEN && cl->r[k].state != R_DONE &&
            cl->r[k].state != R_FREE)
            return true;
    return false;
}

/* A new request, chosen at random. */
void lockclient_gen_act(struct client *cl, struct cluster *c)
{
    unsigned r = (unsigned)rng_below(&c->rng, 1000);
    if (r >= 930) {
        retry_done(cl, c);
        return;
    }
    struct creq *q = lockclient_new_req(cl);
    if (q == NULL)
        return;
    bool id_set = false;
    if ((cl->n_s == 0 && !opening(cl)) || r < 40)
        new_open(cl, c, q);
    else if (cl->n_s == 0 && r < 400)
        new_lease_acquire(cl, c, q);
    else if (cl->n_h > 0 && rng_chance(&c->rng, 350))
        let_go(cl, c, q); /* holders let go soon */
    else if (r < 500 && rng_chance(&c->rng, 250))
        new_kind_acquire(cl, c, q);
    else if (r < 500)
        new_acquire(cl, c, q);
    else if (r < 560 && rng_chance(&c->rng, 150))
        new_revoke(cl, c, q);
    else if (r < 560)
        new_release(cl, c, q);
    else if (r < 660)
        new_lease_acquire(cl, c, q);
    else if (r < 730)
        new_lease_op(cl, c, q, FSM_EXTEND);
    else if (r < 780)
        new_lease_op(cl, c, q, FSM_RELEASE);
    else if (r < 815) {
        q->cmd.type = FSM_CLOSE;
        q->cmd.session = session_for(cl, c);
    } else if (r < 830) {
        q->cmd.type = FSM_SET_TTL;
        q->cmd.session = session_for(cl, c);
        q->cmd.ttl = random_ttl(c);
    } else if (r < 845) {
        new_invalid(cl, c, q);
    } else {
        id_set = reuse_id(cl, c, q);
        if (!id_set)
            new_open(cl, c, q);
    }
    if (!id_set && !q->raw)
        lockclient_fresh_req(cl, c, q);
    lockclient_send(cl, c, q);
}
