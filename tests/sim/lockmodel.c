/* lockmodel.c - the reference model of the lock service: sessions, locks
 * held in exclusive or shared mode, semaphores with permits held back by
 * expired holders, elections with their leader's value, revoke, one FIFO
 * of waiters per name, lock-delay and fencing tokens as docs/protocol.md,
 * fsm.h and docs/design.md §11.3 state them, checked against a state
 * machine's answers command by command. Where the rules leave an order
 * open (which of two locks a TICK frees first), the model compares events
 * as a set, and tokens only by their order in the machine's own event
 * list. */
#include "lockmodel_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "rng.h"

#define U(x) ((unsigned long long)(x))
/* Events of one command matched without a heap allocation. */
#define SMALL_EVENTS 64

/* How an event of the machine was matched: called for; or a grant that
 * joined a hold, with that hold's token (no new token). */
enum { EV_MATCHED = 1, EV_JOINED = 2 };

/* One command being followed. */
struct ctx {
    struct lockmodel *m;
    uint64_t index;
    const struct fsm_cmd *c;
    const struct lockmodel_replay *rp;
    const struct fsm_result *res;
    const struct fsm_event *ev;
    size_t n_ev;
    uint8_t *matched; /* n_ev: the event was called for (EV_*) */
    bool granted;     /* the result itself is a new grant */
    bool after;       /* made after the command's events (a SEM_ACQUIRE
                         that ended a lock-delay first) */
    size_t last;      /* the event matched last */
    char *why;
    size_t cap;
    bool bad;
};

static void fail(struct ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct ctx *x, const char *fmt, ...)
{
    if (x->bad)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->why, x->cap, fmt, ap);
    va_end(ap);
    x->bad = true;
}

/* ---- state ------------------------------------------------------------ */

struct lockmodel *lockmodel_new(void)
{
    return mem_xcalloc(1, sizeof(struct lockmodel));
}

static void lock_free(struct mlock *l)
{
    free(l->h);
    free(l->w);
    free(l);
}

void lockmodel_free(struct lockmodel *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_l; i++)
        lock_free(m->l[i]);
    free(m->l);
    free(m->s);
    free(m->c);
    free(m->grant_holds);
    free(m);
}

struct lockmodel *lockmodel_copy(const struct lockmodel *m)
{
    struct lockmodel *k = mem_xmalloc(sizeof *k);
    *k = *m;
    k->s = m->cap_s ? mem_xmalloc(m->cap_s * sizeof *k->s) : NULL;
    if (m->n_s)
        memcpy(k->s, m->s, m->n_s * sizeof *k->s);
    k->l = m->cap_l ? mem_xmalloc(m->cap_l * sizeof *k->l) : NULL;
    for (size_t i = 0; i < m->n_l; i++) {
        const struct mlock *l = m->l[i];
        struct mlock *c = mem_xmalloc(sizeof *c);
        *c = *l;
        c->w = l->cap_w ? mem_xmalloc(l->cap_w * sizeof *c->w) : NULL;
        if (l->n_w)
            memcpy(c->w, l->w, l->n_w * sizeof *c->w);
        c->h = l->cap_h ? mem_xmalloc(l->cap_h * sizeof *c->h) : NULL;
        if (l->n_h)
            memcpy(c->h, l->h, l->n_h * sizeof *c->h);
        k->l[i] = c;
    }
    k->grant_holds = NULL;
    k->cap_gh = 0;
    k->c = m->cap_c ? mem_xmalloc(m->cap_c * sizeof *k->c) : NULL;
    if (m->n_c)
        memcpy(k->c, m->c, m->n_c * sizeof *k->c);
    return k;
}

uint64_t lockmodel_applied(const struct lockmodel *m)
{
    return m->applied;
}

struct msession *lockmodel_session_get(const struct lockmodel *m, uint64_t id)
{
    size_t lo = 0, hi = m->n_s;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->s[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n_s && m->s[lo].id == id ? &m->s[lo] : NULL;
}

bool lockmodel_session(const struct lockmodel *m, uint64_t id, bool *lease)
{
    const struct msession *s = lockmodel_session_get(m, id);
    if (s != NULL && lease != NULL)
        *lease = s->lease;
    return s != NULL;
}

/* Session ids are log indexes: a new one is above every other. */
static void session_add(struct lockmodel *m, uint64_t id, uint64_t ttl,
                        bool lease)
{
    if (m->n_s == m->cap_s) {
        m->cap_s = m->cap_s ? 2 * m->cap_s : 16;
        m->s = mem_xrealloc(m->s, m->cap_s * sizeof *m->s);
    }
    m->s[m->n_s++] = (struct msession){.id = id, .ttl = ttl, .lease = lease};
}

static void session_del(struct lockmodel *m, uint64_t id)
{
    struct msession *s = lockmodel_session_get(m, id);
    if (s == NULL)
        return;
    size_t k = (size_t)(s - m->s);
    memmove(s, s + 1, (m->n_s - k - 1) * sizeof *s);
    m->n_s--;
}

/* The session id, if open and not a lease lock's: the sessions a client
 * may name. */
static struct msession *client_session(const struct lockmodel *m, uint64_t id)
{
    struct msession *s = lockmodel_session_get(m, id);
    return s != NULL && !s->lease ? s : NULL;
}

static int name_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    uint32_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

struct mlock *lockmodel_lock_get(const struct lockmodel *m, const char *name,
                                 uint32_t len)
{
    for (size_t i = 0; i < m->n_l; i++)
        if (name_cmp(m->l[i]->name, m->l[i]->name_len, name, len) == 0)
            return m->l[i];
    return NULL;
}

static struct mlock *lock_new(struct lockmodel *m, const char *name,
                              uint32_t len)
{
    struct mlock *l = mem_xcalloc(1, sizeof *l);
    memcpy(l->name, name, len);
    l->name_len = len;
    if (m->n_l == m->cap_l) {
        m->cap_l = m->cap_l ? 2 * m->cap_l : 8;
        m->l = mem_xrealloc(m->l, m->cap_l * sizeof *m->l);
    }
    size_t k = 0;
    while (k < m->n_l &&
           name_cmp(m->l[k]->name, m->l[k]->name_len, name, len) < 0)
        k++;
    memmove(m->l + k + 1, m->l + k, (m->n_l - k) * sizeof *m->l);
    m->l[k] = l;
    m->n_l++;
    return l;
}

/* Forgets the locks that have no hold, no waiter and no lock-delay: to a
 * command they are the same as locks never seen. */
static void sweep(struct lockmodel *m)
{
    size_t k = 0;
    for (size_t i = 0; i < m->n_l; i++) {
        struct mlock *l = m->l[i];
        if (l->n_h == 0 && l->n_w == 0 && l->available_at == 0)
            lock_free(l);
        else
            m->l[k++] = l;
    }
    m->n_l = k;
}

unsigned lockmodel_session_holds(const struct lockmodel *m, uint64_t id,
                                 unsigned *waits)
{
    unsigned n = 0;
    *waits = 0;
    for (size_t i = 0; i < m->n_l; i++) {
        for (size_t k = 0; k < m->l[i]->n_h; k++)
            n += m->l[i]->h[k].session == id;
        for (size_t k = 0; k < m->l[i]->n_w; k++)
            *waits += m->l[i]->w[k].session == id;
    }
    return n;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- holds ------------------------------------------------------------ */

bool lockmodel_bytes_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int lockmodel_owner_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

uint8_t lockmodel_mode(const struct mlock *l)
{
    if (l->n_h == 0)
        return FSM_MODE_NONE;
    for (size_t k = 0; k < l->n_h; k++)
        if (l->h[k].excl > 0)
            return FSM_MODE_EXCLUSIVE;
    return FSM_MODE_SHARED;
}

uint32_t lockmodel_used(const struct mlock *l)
{
    uint32_t n = 0;
    for (size_t k = 0; k < l->n_h; k++)
        n += l->h[k].shared;
    return n;
}

static uint32_t hold_count(const struct mhold *h)
{
    return h->excl + h->shared;
}

static struct mhold *hold_find(const struct mlock *l, uint64_t session,
                               const char *owner, size_t owner_len)
{
    for (size_t k = 0; k < l->n_h; k++)
        if (l->h[k].session == session &&
            lockmodel_bytes_eq(l->h[k].owner, l->h[k].owner_len, owner,
                               owner_len))
            return &l->h[k];
    return NULL;
}

/* A new hold of l, in its place by (session, owner), with no holds yet. */
static struct mhold *hold_new(struct mlock *l, uint64_t session,
                              const char *owner, uint8_t owner_len,
                              uint64_t token, uint32_t delay_ms)
{
    if (l->n_h == l->cap_h) {
        l->cap_h = l->cap_h ? 2 * l->cap_h : 4;
        l->h = mem_xrealloc(l->h, l->cap_h * sizeof *l->h);
    }
    size_t k = 0;
    while (k < l->n_h && (l->h[k].session < session ||
                          (l->h[k].session == session &&
                           lockmodel_owner_cmp(l->h[k].owner, l->h[k].owner_len,
                                               owner, owner_len) < 0)))
        k++;
    memmove(l->h + k + 1, l->h + k, (l->n_h - k) * sizeof *l->h);
    l->n_h++;
    struct mhold *h = &l->h[k];
    *h = (struct mhold){.session = session,
                        .token = token,
                        .delay_ms = delay_ms,
                        .owner_len = owner_len};
    if (owner_len > 0)
        memcpy(h->owner, owner, owner_len);
    return h;
}

static void hold_del(struct mlock *l, struct mhold *h)
{
    size_t k = (size_t)(h - l->h);
    memmove(h, h + 1, (l->n_h - k - 1) * sizeof *h);
    l->n_h--;
}

/* Whether a request of that mode fits l's holds: an exclusive one only
 * with no hold at all, a shared one with no exclusive hold; of a
 * semaphore, count permits beside those held and held back. */
static bool fits(const struct mlock *l, bool shared, uint32_t count)
{
    if (l->kind == FSM_KIND_SEMAPHORE)
        return (uint64_t)lockmodel_used(l) + l->expired + count <= l->permits;
    return shared ? lockmodel_mode(l) != FSM_MODE_EXCLUSIVE : l->n_h == 0;
}

/* ---- events ----------------------------------------------------------- */

/* Marks the machine's event that the rules call for (LOST: by session,
 * name and token; the others by session, waiter index, name and req);
 * returns its token, 0 if missing (a failure). A GRANTED that joins a
 * hold (token not 0) must carry the hold's token. */
static uint64_t expect_event(struct ctx *x, uint8_t type, uint64_t session,
                             uint64_t index, const struct mlock *l,
                             const char *req, size_t req_len, uint64_t token)
{
    for (size_t i = 0; i < x->n_ev; i++) {
        const struct fsm_event *e = &x->ev[i];
        if (x->matched[i] || e->type != type || e->session != session ||
            !lockmodel_bytes_eq(e->name, e->name_len, l->name, l->name_len))
            continue;
        if (type == FSM_EV_LOST && e->token != token)
            continue;
        if (type != FSM_EV_LOST &&
            (e->index != index ||
             !lockmodel_bytes_eq(e->req, e->req_len, req, req_len)))
            continue;
        x->matched[i] = EV_MATCHED;
        x->last = i;
        if (type == FSM_EV_GRANTED && token != 0) {
            x->matched[i] = EV_JOINED;
            if (e->token != token)
                fail(x,
                     "the grant to session %llu (wait %llu) on '%.*s' "
                     "joins its hold, whose token is %llu, with token %llu",
                     U(session), U(index), (int)l->name_len, l->name, U(token),
                     U(e->token));
        }
        return type == FSM_EV_LOST ? token : e->token;
    }
    fail(x, "missing event %s for session %llu (wait %llu) on '%.*s'",
         lockmodel_event_name(type), U(session), U(index), (int)l->name_len,
         l->name);
    return 0;
}

/* A grant to a gone client's wait is taken back at until unless learnt. */
static void claim_add(struct lockmodel *m, uint64_t until, uint64_t index,
                      const struct mlock *l, const struct mhold *h,
                      const char *req, uint8_t req_len)
{
    if (m->n_c == m->cap_c) {
        m->cap_c = m->cap_c ? 2 * m->cap_c : 8;
        m->c = mem_xrealloc(m->c, m->cap_c * sizeof *m->c);
    }
    struct mclaim *c = &m->c[m->n_c++];
    *c = (struct mclaim){.until = until,
                         .index = index,
                         .grant = h->grant,
                         .session = h->session,
                         .name_len = l->name_len,
                         .req_len = req_len};
    memcpy(c->name, l->name, l->name_len);
    if (req_len > 0)
        memcpy(c->req, req, req_len);
}

/* The first waiter of l gets its hold (even if its client is gone: until
 * its wait would have ended, a repeat may still learn it): a new hold
 * with a new token, or one more of its mode (a semaphore's: its count of
 * permits) in the hold its session and owner have already. A candidate
 * elected brings its value. */
static void grant_first(struct ctx *x, struct mlock *l)
{
    struct mwait w = l->w[0];
    memmove(l->w, l->w + 1, (l->n_w - 1) * sizeof *l->w);
    l->n_w--;
    struct mhold *h = hold_find(l, w.session, w.owner, w.owner_len);
    if (h != NULL) {
        expect_event(x, FSM_EV_GRANTED, w.session, w.index, l, w.req, w.req_len,
                     h->token);
    } else {
        uint64_t t = expect_event(x, FSM_EV_GRANTED, w.session, w.index, l,
                                  w.req, w.req_len, 0);
        if (x->bad && t == 0)
            t = x->m->last_token + 1; /* keep going with something */
        h = hold_new(l, w.session, w.owner, w.owner_len, t, w.delay_ms);
    }
    uint32_t n = l->kind == FSM_KIND_SEMAPHORE ? w.count : 1;
    if (w.shared)
        h->shared += n;
    else
        h->excl++;
    if (l->kind == FSM_KIND_ELECTION) {
        l->value_len = w.value_len;
        if (w.value_len > 0)
            memcpy(l->value, w.value, w.value_len);
    }
    if (!x->bad)
        x->m->grant_holds[x->last] = hold_count(h);
    h->grant = w.seen;
    h->grant_count = l->kind == FSM_KIND_SEMAPHORE ? n : 0;
    if (w.gone_until != 0)
        claim_add(x->m, w.gone_until, w.index, l, h, w.req, w.req_len);
}

/* Out of lock-delay, the waiters are granted from the head as far as
 * their modes fit: the first that does not fit stops the granting. A
 * lock-delay ends for the waiters with the TICK that ends it (an ACQUIRE
 * nobody waits before may find it ended by the clock, rule 3). A
 * semaphore's lock-delay holds back permits only: it grants from the head
 * while each request fits. */
static void grant_head(struct ctx *x, struct mlock *l)
{
    if (l->available_at != 0 && l->kind != FSM_KIND_SEMAPHORE)
        return;
    while (l->n_w > 0 && fits(l, l->w[0].shared, l->w[0].count))
        grant_first(x, l);
}

/* Ends the k-th wait on l with a TIMEOUT or CANCELED event. A lease lock's
 * session left with nothing by a timeout ends. With grant, the waiters
 * behind it are granted if they now fit (no grant for the waits of a
 * session that ends: those end first). */
static void unwait(struct ctx *x, struct mlock *l, size_t k, uint8_t type,
                   bool grant)
{
    struct mwait w = l->w[k];
    memmove(l->w + k, l->w + k + 1, (l->n_w - k - 1) * sizeof *l->w);
    l->n_w--;
    expect_event(x, type, w.session, w.index, l, w.req, w.req_len, 0);
    unsigned waits;
    bool lease;
    if (type == FSM_EV_TIMEOUT && lockmodel_session(x->m, w.session, &lease) &&
        lease && lockmodel_session_holds(x->m, w.session, &waits) == 0 &&
        waits == 0)
        session_del(x->m, w.session);
    if (grant)
        grant_head(x, l);
}

/* The hold h of l ends, all its holds in both modes. Expired: FSM_EV_LOST
 * and the lock-delay its grant asked for (until the latest end of the
 * lock's; a semaphore holds back the hold's permits until then); then the
 * waiters are granted as far as they fit. An election's value goes with
 * its leader. */
static void end_hold(struct ctx *x, struct mlock *l, struct mhold *h,
                     bool expired)
{
    uint32_t delay = h->delay_ms, permits = h->shared;
    if (expired)
        expect_event(x, FSM_EV_LOST, h->session, 0, l, NULL, 0, h->token);
    hold_del(l, h);
    if (l->kind == FSM_KIND_ELECTION)
        l->value_len = 0;
    if (expired && delay > 0 && l->kind == FSM_KIND_SEMAPHORE)
        l->expired += permits;
    if (expired && delay > 0) {
        uint64_t end = add_sat(x->m->now, delay);
        if (end > l->available_at)
            l->available_at = end;
    }
    grant_head(x, l);
}

/* A session ends: its waits first (so that none of its own waiters gets a
 * lock it frees; the waiters behind them are granted as far as they fit),
 * then its holds. */
static void end_session(struct ctx *x, uint64_t id, bool expired)
{
    struct lockmodel *m = x->m;
    for (size_t i = 0; i < m->n_l; i++) {
        bool any = false;
        for (size_t k = m->l[i]->n_w; k-- > 0;)
            if (m->l[i]->w[k].session == id) {
                unwait(x, m->l[i], k, FSM_EV_CANCELED, false);
                any = true;
            }
        if (any)
            grant_head(x, m->l[i]);
    }
    for (size_t i = 0; i < m->n_l; i++) {
        struct mlock *l = m->l[i];
        for (size_t k = 0; k < l->n_h;) {
            if (l->h[k].session != id) {
                k++;
                continue;
            }
            end_hold(x, l, &l->h[k], expired); /* grants may insert */
            k = 0;
        }
    }
    session_del(m, id);
}

/* ---- results ---------------------------------------------------------- */

/* The result is fresh (not a replay) with this status. */
static bool fresh(struct ctx *x, uint8_t status)
{
    const struct fsm_result *r = x->res;
    if (r->replayed)
        fail(x, "answered as a retry of a request with no remembered "
                "outcome");
    else if (r->status != status)
        fail(x, "status %s, the rules give %s",
             lockmodel_status_name(r->status), lockmodel_status_name(status));
    return !x->bad;
}

static void want(struct ctx *x, const char *field, uint64_t got, uint64_t exp)
{
    if (got != exp)
        fail(x, "result %s=%llu, the rules give %llu", field, U(got), U(exp));
}

/* If the caller says this repeats a remembered request, the result must be
 * that first outcome, replayed, with no effect; if the id names another
 * request, REQ_REUSED with no effect. Returns true then. */
static bool replayed(struct ctx *x)
{
    if (x->rp != NULL && x->rp->reused) {
        fresh(x, FSM_REQ_REUSED);
        return true;
    }
    if (x->rp == NULL || !x->rp->replay)
        return false;
    const struct fsm_result *r = x->res, *f = &x->rp->first;
    if (!r->replayed || r->status != f->status || r->session != f->session ||
        r->token != f->token || r->holds != f->holds ||
        r->holder != f->holder || r->ttl != f->ttl ||
        (f->status == FSM_QUEUED && r->index != f->index)) {
        char a[200], b[200];
        lockmodel_describe_res(r, a, sizeof a);
        lockmodel_describe_res(f, b, sizeof b);
        fail(x, "a retry answered %s%s; the first outcome is %s", a,
             r->replayed ? "" : " (not as a retry)", b);
    }
    return true;
}

static bool ttl_ok(uint64_t ttl)
{
    return ttl >= FSM_TTL_MIN && ttl <= FSM_TTL_MAX;
}

static bool name_ok(const struct fsm_cmd *c)
{
    return c->name_len >= 1 && c->name_len <= FSM_NAME_MAX;
}

/* ---- commands --------------------------------------------------------- */

static void do_open(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    if (!ttl_ok(c->ttl)) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (replayed(x))
        return;
    session_add(x->m, x->index, c->ttl, false);
    if (fresh(x, FSM_OK)) {
        want(x, "session", x->res->session, x->index);
        want(x, "ttl", x->res->ttl, c->ttl);
    }
}

static void do_close(struct ctx *x)
{
    if (client_session(x->m, x->c->session) == NULL) {
        struct lockmodel_replay rp = {0};
        if (x->rp != NULL)
            rp = (struct lockmodel_replay){.replay = x->rp->replay,
                                           .first = x->rp->first};
        const struct lockmodel_replay *keep = x->rp;
        x->rp = &rp; /* the session's requests are gone with it */
        if (!replayed(x))
            fresh(x, FSM_NOSESSION);
        x->rp = keep;
        return;
    }
    if (x->rp != NULL && x->rp->reused) {
        fresh(x, FSM_REQ_REUSED);
        return;
    }
    fresh(x, FSM_OK);
    end_session(x, x->c->session, false);
}

static void do_expire(struct ctx *x)
{
    if (lockmodel_session_get(x->m, x->c->session) == NULL) {
        fresh(x, FSM_NOSESSION);
        return;
    }
    if (fresh(x, FSM_OK))
        want(x, "expired", x->res->expired, 1);
    end_session(x, x->c->session, true);
}

/* EXPIRE_BATCH: an EXPIRE of each session named that is still open, in
 * order; OK, with how many ended. */
static void do_expire_batch(struct ctx *x)
{
    uint32_t ended = 0;
    for (uint32_t i = 0; i < x->c->n_ids; i++) {
        uint64_t id = fsm_cmd_id(x->c, i);
        if (lockmodel_session_get(x->m, id) == NULL)
            continue;
        end_session(x, id, true);
        ended++;
    }
    if (fresh(x, FSM_OK))
        want(x, "expired", x->res->expired, ended);
}

/* A name is of one kind (a semaphore with its permits): a command for
 * another is KIND, with what the name is, and changes nothing. */
static bool wrong_kind(struct ctx *x, const struct mlock *l, uint8_t kind,
                       uint32_t permits)
{
    if (l == NULL || (l->kind == kind &&
                      (kind != FSM_KIND_SEMAPHORE || l->permits == permits)))
        return false;
    if (fresh(x, FSM_KIND)) {
        want(x, "kind", x->res->kind, l->kind);
        want(x, "permits", x->res->permits, l->permits);
    }
    return true;
}

static uint8_t held_or_queued(struct ctx *x, struct mlock *l, uint64_t sid,
                              const char *owner, uint8_t owner_len,
                              uint32_t delay, bool shared);

/* ACQUIRE (shared: ACQUIRE_SHARED) for session sid once the request is
 * known to be new: reentry, UPGRADE, a grant when nobody waits and the
 * mode fits, HELD for a try, or the tail of the FIFO. Returns the status
 * the rules give. */
static uint8_t acquire(struct ctx *x, uint64_t sid, const char *owner,
                       uint8_t owner_len, uint32_t delay, bool shared)
{
    struct lockmodel *m = x->m;
    const struct fsm_cmd *c = x->c;
    const struct fsm_result *r = x->res;
    struct mlock *l = lockmodel_lock_get(m, c->name, c->name_len);
    if (wrong_kind(x, l, FSM_KIND_LOCK, 0))
        return FSM_KIND;
    struct mhold *h = l ? hold_find(l, sid, owner, owner_len) : NULL;
    if (h != NULL && !shared && h->excl == 0) {
        fresh(x, FSM_UPGRADE); /* two readers upgrading would deadlock */
        return FSM_UPGRADE;
    }
    if (h != NULL) {
        if (fresh(x, FSM_OK)) {
            want(x, "token", r->token, h->token);
            want(x, "holds", r->holds, hold_count(h) + 1);
            want(x, "index", r->index, 0);
        }
        if (shared)
            h->shared++;
        else
            h->excl++;
        return FSM_OK;
    }
    if (l == NULL ||
        (l->n_w == 0 && l->available_at <= m->now && fits(l, shared, 0))) {
        if (l == NULL)
            l = lock_new(m, c->name, c->name_len);
        fresh(x, FSM_OK);
        want(x, "holds", r->holds, 1);
        x->granted = true;
        h = hold_new(l, sid, owner, owner_len, r->token, delay);
        if (shared)
            h->shared = 1;
        else
            h->excl = 1;
        h->grant = c->wait > 0 ? x->index : 0; /* its client may go first */
        want(x, "index", r->index, h->grant);
        l->available_at = 0;
        return FSM_OK;
    }
    return held_or_queued(x, l, sid, owner, owner_len, delay, shared);
}

/* A request of c's for l that is not granted now: HELD for a try (with
 * the session of the first hold, 0 if none), else the tail of the FIFO,
 * with its mode, a SEM_ACQUIRE's count and a CAMPAIGN's value. */
static uint8_t held_or_queued(struct ctx *x, struct mlock *l, uint64_t sid,
                              const char *owner, uint8_t owner_len,
                              uint32_t delay, bool shared)
{
    struct lockmodel *m = x->m;
    const struct fsm_cmd *c = x->c;
    const struct fsm_result *r = x->res;
    if (c->wait == 0) {
        if (fresh(x, FSM_HELD))
            want(x, "holder", r->holder, l->n_h ? l->h[0].session : 0);
        return FSM_HELD;
    }
    if (fresh(x, FSM_QUEUED))
        want(x, "index", r->index, x->index);
    if (l->n_w == l->cap_w) {
        l->cap_w = l->cap_w ? 2 * l->cap_w : 4;
        l->w = mem_xrealloc(l->w, l->cap_w * sizeof *l->w);
    }
    struct mwait *w = &l->w[l->n_w++];
    *w = (struct mwait){.session = sid,
                        .index = x->index,
                        .seen = x->index,
                        .deadline = add_sat(m->now, c->wait),
                        .delay_ms = delay,
                        .shared = shared,
                        .owner_len = owner_len,
                        .req_len = (uint8_t)c->req_len};
    if (owner_len > 0)
        memcpy(w->owner, owner, owner_len);
    if (c->req_len > 0)
        memcpy(w->req, c->req, c->req_len);
    if (c->type == FSM_SEM_ACQUIRE)
        w->count = (uint32_t)c->count;
    if (c->type == FSM_CAMPAIGN && c->value_len > 0) {
        w->value_len = (uint16_t)c->value_len;
        memcpy(w->value, c->value, c->value_len);
    }
    return FSM_QUEUED;
}

/* The waiter of the ACQUIRE at index, and its lock. */
static struct mwait *find_wait(const struct lockmodel *m, uint64_t index,
                               struct mlock **lp, size_t *kp)
{
    for (size_t i = 0; i < m->n_l; i++)
        for (size_t k = 0; k < m->l[i]->n_w; k++)
            if (m->l[i]->w[k].index == index) {
                *lp = m->l[i];
                *kp = k;
                return &m->l[i]->w[k];
            }
    return NULL;
}

/* The hold of l that session has with token, or NULL. */
static struct mhold *hold_by_token(const struct mlock *l, uint64_t session,
                                   uint64_t token)
{
    for (size_t k = 0; l != NULL && k < l->n_h; k++)
        if (l->h[k].token == token &&
            (session == 0 || l->h[k].session == session))
            return &l->h[k];
    return NULL;
}

/* A repeat that learns its wait goes on has its client again; one that
 * learns its grant keeps it. */
static void rejoin(struct ctx *x)
{
    const struct fsm_result *f = &x->rp->first;
    struct mlock *l;
    size_t k;
    if (f->status == FSM_QUEUED) {
        struct mwait *w = find_wait(x->m, f->index, &l, &k);
        if (w != NULL) {
            w->seen = x->index;
            w->gone_until = 0;
        }
        return;
    }
    l = lockmodel_lock_get(x->m, x->c->name, x->c->name_len);
    struct mhold *h = hold_by_token(l, f->session, f->token);
    if (f->status == FSM_OK && f->session != 0 && h != NULL)
        h->grant = 0;
}

static bool acquire_fields_ok(const struct fsm_cmd *c)
{
    return name_ok(c) && c->owner_len <= FSM_OWNER_MAX &&
           c->wait <= FSM_WAIT_MAX &&
           (c->delay <= FSM_DELAY_MAX || c->delay == UINT64_MAX);
}

static void do_acquire(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    bool shared = c->type == FSM_ACQUIRE_SHARED;
    if (!acquire_fields_ok(c) || (shared && c->session == 0)) {
        fresh(x, FSM_INVALID); /* lease locks are exclusive */
        return;
    }
    uint32_t delay =
        c->delay == UINT64_MAX ? FSM_DEFAULT_DELAY : (uint32_t)c->delay;
    if (c->session != 0) {
        if (client_session(x->m, c->session) == NULL) {
            fresh(x, FSM_NOSESSION);
            return;
        }
        if (replayed(x)) {
            rejoin(x);
            return;
        }
        acquire(x, c->session, c->owner, (uint8_t)c->owner_len, delay, shared);
        want(x, "session", x->res->session, c->session);
        return;
    }
    /* A lease lock: a session of its own, kept only if granted or
     * queued. */
    if (c->ttl == 0 || !ttl_ok(c->ttl)) {
        fresh(x, c->ttl == 0 ? FSM_NOSESSION : FSM_INVALID);
        return;
    }
    if (replayed(x)) {
        rejoin(x);
        return;
    }
    session_add(x->m, x->index, c->ttl, true);
    uint8_t st = acquire(x, x->index, "", 0, delay, false);
    if (st != FSM_OK && st != FSM_QUEUED)
        session_del(x->m, x->index);
    want(x, "session", x->res->session,
         st == FSM_OK || st == FSM_QUEUED ? x->index : 0);
}

/* The hold of a lease lock (its session's only) with token, or NULL. */
static struct mhold *lease_hold(struct ctx *x, struct mlock *l, uint64_t token)
{
    struct mhold *h = hold_by_token(l, 0, token);
    bool lease = false;
    if (h == NULL || !lockmodel_session(x->m, h->session, &lease) || !lease)
        return NULL;
    return h;
}

/* RELEASE by a lease lock's token: its session ends. */
static void release_lease(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    if (replayed(x))
        return;
    struct mlock *l = lockmodel_lock_get(x->m, c->name, c->name_len);
    struct mhold *h = lease_hold(x, l, c->token);
    if (h == NULL) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    if (fresh(x, FSM_OK))
        want(x, "holds", x->res->holds, 0);
    end_session(x, h->session, false);
}

/* The holds in both modes of the hold with token, 0 if it is gone: what a
 * result tells, once the command's grants are made (its own waiter may
 * have joined it; a hold that went and came back is another). */
/* RELEASE drops one exclusive hold, RELEASE_SHARED one shared hold of the
 * caller's; a hold with none left goes; then the waiters are granted as
 * far as they fit (a writer that keeps shared holds lets readers in). The
 * result's holds are those the release left (§11.3), before a waiter of
 * the caller's joins; a DOWNGRADE's likewise. */
static void do_release(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    bool shared = c->type == FSM_RELEASE_SHARED;
    if (!name_ok(c)) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (c->session == 0 && !shared) {
        release_lease(x);
        return;
    }
    if (client_session(x->m, c->session) == NULL) {
        fresh(x, FSM_NOSESSION);
        return;
    }
    if (replayed(x))
        return;
    struct mlock *l = lockmodel_lock_get(x->m, c->name, c->name_len);
    if (wrong_kind(x, l, FSM_KIND_LOCK, 0))
        return;
    struct mhold *h =
        l ? hold_find(l, c->session, c->owner, c->owner_len) : NULL;
    if (h == NULL || (shared ? h->shared : h->excl) == 0) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    if (shared)
        h->shared--;
    else
        h->excl--;
    if (fresh(x, FSM_OK)) /* those the release left, before any grant */
        want(x, "holds", x->res->holds, hold_count(h));
    if (hold_count(h) == 0)
        hold_del(l, h);
    grant_head(x, l);
}

/* DOWNGRADE: the caller's exclusive holds become shared ones, in place,
 * with the same token; the readers at the head of the FIFO join. */
static void do_downgrade(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    if (!name_ok(c)) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (client_session(x->m, c->session) == NULL) {
        fresh(x, FSM_NOSESSION);
        return;
    }
    if (replayed(x))
        return;
    struct mlock *l = lockmodel_lock_get(x->m, c->name, c->name_len);
    if (wrong_kind(x, l, FSM_KIND_LOCK, 0))
        return;
    struct mhold *h =
        l ? hold_find(l, c->session, c->owner, c->owner_len) : NULL;
    if (h == NULL || h->excl == 0) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    h->shared += h->excl;
    h->excl = 0;
    uint64_t token = h->token;
    uint32_t holds = hold_count(h); /* before the waiters it lets in */
    grant_head(x, l);
    if (fresh(x, FSM_OK)) {
        want(x, "token", x->res->token, token);
        want(x, "holds", x->res->holds, holds);
    }
}

/* ---- semaphores, elections, revoke ------------------------------------ */

static void set_value(struct mlock *l, const char *value, uint32_t len)
{
    l->value_len = (uint16_t)len;
    if (len > 0)
        memcpy(l->value, value, len);
}

/* A new hold of session and owner of c's, granted now with the result's
 * token. */
static struct mhold *grant_new(struct ctx *x, struct mlock *l, uint32_t delay)
{
    const struct fsm_cmd *c = x->c;
    x->granted = true;
    return hold_new(l, c->session, c->owner, (uint8_t)c->owner_len,
                    x->res->token, delay);
}

/* SEM_ACQUIRE once the request is known to be new (§11.3): KIND for a
 * name of another kind or other permits; a lock-delay the clock has ended
 * ends first (its permits come back and the waiters that fit are granted;
 * a semaphore left with nothing is forgotten); then granted if nobody
 * waits and the count fits, joining the hold of the session and owner if
 * they have one (its token: no reentry), else HELD or the tail of the
 * FIFO. */
static void sem_acquire(struct ctx *x, uint32_t delay)
{
    struct lockmodel *m = x->m;
    const struct fsm_cmd *c = x->c;
    const struct fsm_result *r = x->res;
    uint32_t count = (uint32_t)c->count;
    struct mlock *l = lockmodel_lock_get(m, c->name, c->name_len);
    if (wrong_kind(x, l, FSM_KIND_SEMAPHORE, (uint32_t)c->permits))
        return;
    if (l != NULL && l->available_at != 0 && l->available_at <= m->now) {
        l->available_at = 0;
        l->expired = 0;
        grant_head(x, l);
        x->after = true; /* its grants come before this one */
        if (l->n_h == 0 && l->n_w == 0) {
            sweep(m);
            l = NULL;
        }
    }
    struct mhold *h =
        l ? hold_find(l, c->session, c->owner, c->owner_len) : NULL;
    if (l != NULL && (l->n_w > 0 || !fits(l, true, count))) {
        held_or_queued(x, l, c->session, c->owner, (uint8_t)c->owner_len, delay,
                       true);
        return;
    }
    if (l == NULL) {
        l = lock_new(m, c->name, c->name_len);
        l->kind = FSM_KIND_SEMAPHORE;
        l->permits = (uint32_t)c->permits;
    }
    fresh(x, FSM_OK);
    if (h == NULL)
        h = grant_new(x, l, delay);
    else
        want(x, "token", r->token, h->token);
    h->shared += count;
    h->grant = c->wait > 0 ? x->index : 0;
    h->grant_count = count;
    want(x, "holds", r->holds, h->shared);
    want(x, "index", r->index, h->grant);
}

/* CAMPAIGN once the request is known to be new: the leader campaigning
 * again is answered its token and nothing changes; else elected if the
 * election has no leader, is out of lock-delay and nobody waits (its
 * value the candidate's), else HELD or the tail of the FIFO. */
static void campaign(struct ctx *x, uint32_t delay)
{
    struct lockmodel *m = x->m;
    const struct fsm_cmd *c = x->c;
    const struct fsm_result *r = x->res;
    struct mlock *l = lockmodel_lock_get(m, c->name, c->name_len);
    if (wrong_kind(x, l, FSM_KIND_ELECTION, 0))
        return;
    struct mhold *h =
        l ? hold_find(l, c->session, c->owner, c->owner_len) : NULL;
    if (h != NULL) {
        if (fresh(x, FSM_OK)) {
            want(x, "token", r->token, h->token);
            want(x, "holds", r->holds, 1);
            want(x, "index", r->index, 0);
        }
        return;
    }
    if (l != NULL &&
        (l->n_w > 0 || l->available_at > m->now || !fits(l, false, 0))) {
        held_or_queued(x, l, c->session, c->owner, (uint8_t)c->owner_len, delay,
                       false);
        return;
    }
    if (l == NULL) {
        l = lock_new(m, c->name, c->name_len);
        l->kind = FSM_KIND_ELECTION;
    }
    fresh(x, FSM_OK);
    h = grant_new(x, l, delay);
    h->excl = 1;
    h->grant = c->wait > 0 ? x->index : 0;
    l->available_at = 0;
    set_value(l, c->value, c->value_len);
    want(x, "holds", r->holds, 1);
    want(x, "index", r->index, h->grant);
}

/* SEM_ACQUIRE, CAMPAIGN: the fields, the session, a retry's first outcome
 * (which rejoins its wait or grant), then the kind's rules. */
static void do_kind_acquire(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    bool sem = c->type == FSM_SEM_ACQUIRE;
    bool valid = sem ? c->permits >= 1 && c->permits <= FSM_PERMITS_MAX &&
                           c->count >= 1 && c->count <= c->permits
                     : c->value_len <= FSM_VALUE_MAX;
    if (!valid || !acquire_fields_ok(c)) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (client_session(x->m, c->session) == NULL) {
        fresh(x, FSM_NOSESSION);
        return;
    }
    if (replayed(x)) {
        rejoin(x);
        return;
    }
    uint32_t delay =
        c->delay == UINT64_MAX ? FSM_DEFAULT_DELAY : (uint32_t)c->delay;
    if (sem)
        sem_acquire(x, delay);
    else
        campaign(x, delay);
    want(x, "session", x->res->session, c->session);
}

/* The start of a release, a proclaim or a resign by a session: its
 * session, a retry, the kind of the name (a semaphore's of any permits).
 * *lp: the name, NULL if not known. False (with the result given) if the
 * command ends there. */
static bool kind_cmd_start(struct ctx *x, uint8_t kind, struct mlock **lp)
{
    const struct fsm_cmd *c = x->c;
    *lp = NULL;
    if (client_session(x->m, c->session) == NULL) {
        fresh(x, FSM_NOSESSION);
        return false;
    }
    if (replayed(x))
        return false;
    struct mlock *l = lockmodel_lock_get(x->m, c->name, c->name_len);
    if (wrong_kind(x, l, kind, l != NULL ? l->permits : 0))
        return false;
    *lp = l;
    return true;
}

/* SEM_RELEASE: the holder gives count of its permits back (NOTHELD if it
 * has fewer); the waiters at the head are granted while each fits. */
static void do_sem_release(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    struct mlock *l;
    if (!name_ok(c) || c->count < 1 || c->count > FSM_PERMITS_MAX) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (!kind_cmd_start(x, FSM_KIND_SEMAPHORE, &l))
        return;
    struct mhold *h =
        l ? hold_find(l, c->session, c->owner, c->owner_len) : NULL;
    if (h == NULL || h->shared < c->count) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    h->shared -= (uint32_t)c->count;
    if (fresh(x, FSM_OK))
        want(x, "holds", x->res->holds, h->shared);
    if (h->shared == 0)
        hold_del(l, h);
    grant_head(x, l);
}

/* PROCLAIM: the leader, by its session and token, sets the value;
 * NOTHELD for anyone else (a token of an earlier leadership included). */
static void do_proclaim(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    struct mlock *l;
    if (!name_ok(c) || c->value_len > FSM_VALUE_MAX) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (!kind_cmd_start(x, FSM_KIND_ELECTION, &l))
        return;
    const struct mhold *h = l && l->n_h ? &l->h[0] : NULL;
    if (h == NULL || h->session != c->session || h->token != c->token) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    set_value(l, c->value, c->value_len);
    if (fresh(x, FSM_OK))
        want(x, "token", x->res->token, h->token);
}

/* RESIGN: the leader's hold ends (the first candidate is elected at once,
 * with its value); NOTHELD from anyone else, a candidate included. */
static void do_resign(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    struct mlock *l;
    if (!name_ok(c)) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (!kind_cmd_start(x, FSM_KIND_ELECTION, &l))
        return;
    struct mhold *h =
        l ? hold_find(l, c->session, c->owner, c->owner_len) : NULL;
    if (h == NULL) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    fresh(x, FSM_OK);
    end_hold(x, l, h, false);
}

/* REVOKE: the hold of the name (any kind) with the token ends as its
 * session's expiry would end it (LOST, the lock-delay: its own, or the
 * one given), a lease lock's session with it; NOTHELD if no hold has the
 * token. Remembered in the global table. */
static void do_revoke(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    if (!name_ok(c) || (c->delay > FSM_DELAY_MAX && c->delay != UINT64_MAX)) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (replayed(x))
        return;
    struct mlock *l = lockmodel_lock_get(x->m, c->name, c->name_len);
    struct mhold *h = hold_by_token(l, 0, c->token);
    if (h == NULL) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    if (fresh(x, FSM_OK)) {
        want(x, "session", x->res->session, h->session);
        want(x, "token", x->res->token, h->token);
    }
    if (c->delay != UINT64_MAX)
        h->delay_ms = (uint32_t)c->delay;
    bool lease = false;
    lockmodel_session(x->m, h->session, &lease);
    if (lease)
        end_session(x, h->session, true);
    else
        end_hold(x, l, h, true);
}

static void do_extend(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    if (!ttl_ok(c->ttl) || !name_ok(c)) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (replayed(x))
        return;
    struct mlock *l = lockmodel_lock_get(x->m, c->name, c->name_len);
    struct mhold *h = lease_hold(x, l, c->token);
    if (h == NULL) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    lockmodel_session_get(x->m, h->session)->ttl = c->ttl;
    if (fresh(x, FSM_OK))
        want(x, "ttl", x->res->ttl, c->ttl);
}

static void do_set_ttl(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    if (!ttl_ok(c->ttl)) {
        fresh(x, FSM_INVALID);
        return;
    }
    struct msession *s = client_session(x->m, c->session);
    if (s == NULL) {
        fresh(x, FSM_NOSESSION);
        return;
    }
    if (replayed(x))
        return;
    s->ttl = c->ttl;
    if (fresh(x, FSM_OK))
        want(x, "ttl", x->res->ttl, c->ttl);
}

/* Takes back one hold of h's grant, which nobody learnt: WITHDRAWN; an
 * exclusive hold if it has one, else a shared one (a semaphore's: the
 * permits of its last grant, as far as left); at no holds left the
 * hold goes (a lease lock's session ends); then the waiters are granted as
 * far as they fit. Returns the holds the hold has left, before those
 * grants (as a release's answer: a waiter of its session and owner may
 * join it then). */
static uint32_t withdraw(struct ctx *x, struct mlock *l, struct mhold *h,
                         uint64_t index, const char *req, size_t req_len)
{
    uint64_t t = expect_event(x, FSM_EV_WITHDRAWN, h->session, index, l, req,
                              req_len, 0);
    if (t != 0 && t != h->token)
        fail(x, "WITHDRAWN token %llu, the grant's is %llu", U(t), U(h->token));
    h->grant = 0;
    bool lease = false;
    uint64_t sid = h->session;
    lockmodel_session(x->m, sid, &lease);
    uint32_t n = 1;
    if (l->kind == FSM_KIND_SEMAPHORE) {
        n = h->grant_count < h->shared ? h->grant_count : h->shared;
        n = n > 0 ? n : 1;
    }
    if (h->excl > 0)
        h->excl--;
    else
        h->shared -= n;
    uint32_t left = hold_count(h);
    if (left == 0 && lease) {
        end_session(x, sid, false);
        return 0;
    }
    if (left == 0)
        hold_del(l, h);
    grant_head(x, l); /* a writer left with shared holds lets readers in */
    return left;
}

/* When a wait ends: its deadline, or sooner if its client is gone. */
static uint64_t wait_end(const struct mwait *w)
{
    return w->gone_until != 0 && w->gone_until < w->deadline ? w->gone_until
                                                             : w->deadline;
}

/* The earliest due wait (by its end, then index), claim (by its time,
 * then index) and lock-delay end (by its time, then name). */
static void due(const struct lockmodel *m, struct mlock **wl, size_t *wk,
                size_t *ck, struct mlock **dl)
{
    *wl = *dl = NULL;
    *wk = 0;
    *ck = SIZE_MAX;
    for (size_t i = 0; i < m->n_l; i++) {
        struct mlock *l = m->l[i];
        for (size_t k = 0; k < l->n_w; k++) {
            const struct mwait *w = &l->w[k];
            const struct mwait *b = *wl ? &(*wl)->w[*wk] : NULL;
            if (wait_end(w) <= m->now &&
                (b == NULL || wait_end(w) < wait_end(b) ||
                 (wait_end(w) == wait_end(b) && w->index < b->index))) {
                *wl = l;
                *wk = k;
            }
        }
        if (l->available_at != 0 && l->available_at <= m->now &&
            (*dl == NULL || l->available_at < (*dl)->available_at))
            *dl = l;
    }
    for (size_t i = 0; i < m->n_c; i++) {
        const struct mclaim *c = &m->c[i],
                            *b = *ck < m->n_c ? &m->c[*ck] : NULL;
        if (c->until <= m->now &&
            (b == NULL || c->until < b->until ||
             (c->until == b->until && c->index < b->index)))
            *ck = i;
    }
}

/* The hold of l that session has with grant (not 0), or NULL. */
static struct mhold *hold_by_grant(const struct mlock *l, uint64_t session,
                                   uint64_t grant)
{
    for (size_t k = 0; l != NULL && grant != 0 && k < l->n_h; k++)
        if (l->h[k].session == session && l->h[k].grant == grant)
            return &l->h[k];
    return NULL;
}

/* The k-th claim is due: its grant is taken back unless it was learnt
 * (or its hold has gone on since). */
static void claim_due(struct ctx *x, size_t k)
{
    struct lockmodel *m = x->m;
    struct mclaim c = m->c[k];
    m->c[k] = m->c[--m->n_c];
    struct mlock *l = lockmodel_lock_get(m, c.name, c.name_len);
    struct mhold *h = hold_by_grant(l, c.session, c.grant);
    if (h != NULL)
        withdraw(x, l, h, c.index, c.req, c.req_len);
}

/* TICK: waits run out, grants to gone clients are taken back and
 * lock-delays end in time order (at equal times in that order), so that a
 * late TICK does what timely ones would have done. */
static void do_tick(struct ctx *x)
{
    fresh(x, FSM_OK);
    for (unsigned guard = 0; guard < 100000; guard++) {
        struct mlock *wl, *dl;
        size_t wk, ck;
        due(x->m, &wl, &wk, &ck, &dl);
        uint64_t tw = wl ? wait_end(&wl->w[wk]) : UINT64_MAX;
        uint64_t tc = ck < x->m->n_c ? x->m->c[ck].until : UINT64_MAX;
        uint64_t td = dl ? dl->available_at : UINT64_MAX;
        if (wl != NULL && tw <= tc && tw <= td) {
            unwait(x, wl, wk, FSM_EV_TIMEOUT, true);
        } else if (ck < x->m->n_c && tc <= td) {
            claim_due(x, ck);
        } else if (dl != NULL) {
            dl->available_at = 0;
            dl->expired = 0;
            grant_head(x, dl);
        } else {
            return;
        }
    }
}

/* A gone client's wait (seen by the leader at c->seen): unless repeated
 * since, it ends now without a request id or time to come back, else by
 * now + c->wait. False if repeated since. With grant, the waiters behind
 * one that ends are granted if they now fit. */
static bool unwait_one(struct ctx *x, struct mlock *l, size_t k, bool grant)
{
    struct mwait *w = &l->w[k];
    if (w->seen > x->c->seen)
        return false;
    if (w->req_len == 0 || x->c->wait == 0) {
        unwait(x, l, k, FSM_EV_TIMEOUT, grant);
        return true;
    }
    uint64_t until = add_sat(x->m->now, x->c->wait);
    if (w->gone_until == 0 || until < w->gone_until)
        w->gone_until = until;
    return true;
}

/* UNWAIT 0: every wait queued when it applies is gone (each on its own:
 * the order changes nothing), and only then are the waiters that now fit
 * granted, so that a grant made here goes to a gone client too. */
static void unwait_all(struct ctx *x)
{
    struct lockmodel *m = x->m;
    for (size_t i = 0; i < m->n_l; i++) {
        struct mlock *l = m->l[i];
        for (size_t k = l->n_w; k-- > 0;)
            unwait_one(x, l, k, false);
    }
    for (size_t i = 0; i < m->n_l; i++)
        grant_head(x, m->l[i]);
}

/* UNWAIT: the client of the blocking ACQUIRE at c->index went away: its
 * wait ends (or will), or the grant it did not learn is taken back (or
 * will be). */
static void do_unwait(struct ctx *x)
{
    const struct fsm_cmd *c = x->c;
    const struct fsm_result *r = x->res;
    if (c->wait > FSM_WAIT_MAX || (c->index != 0 && !name_ok(c))) {
        fresh(x, FSM_INVALID);
        return;
    }
    if (c->index == 0) {
        fresh(x, FSM_OK);
        unwait_all(x);
        return;
    }
    struct mlock *l;
    size_t k;
    struct mwait *w = find_wait(x->m, c->index, &l, &k);
    if (w != NULL && w->session == c->session &&
        lockmodel_bytes_eq(l->name, l->name_len, c->name, c->name_len)) {
        fresh(x, unwait_one(x, l, k, true) ? FSM_OK : FSM_NOTHELD);
        return;
    }
    l = lockmodel_lock_get(x->m, c->name, c->name_len);
    struct mhold *h = hold_by_grant(l, c->session, c->seen);
    if (h == NULL || c->index < c->session || c->index > c->seen) {
        fresh(x, FSM_NOTHELD);
        return;
    }
    if (fresh(x, FSM_OK))
        want(x, "session", r->session, c->session);
    if (c->req_len > 0 && c->wait > 0) {
        claim_add(x->m, add_sat(x->m->now, c->wait), c->index, l, h, c->req,
                  (uint8_t)c->req_len);
        want(x, "holds", r->holds, hold_count(h));
        return;
    }
    want(x, "token", r->token, h->token);
    want(x, "holds", r->holds, withdraw(x, l, h, c->index, c->req, c->req_len));
}

/* Every event matched; the new grants' tokens rise, in the machine's
 * order, above every earlier grant's (a grant that joins a hold has the
 * hold's); the result's own grant comes before the events, or after them
 * when the command granted waiters first. */
static void check_events_and_tokens(struct ctx *x)
{
    struct lockmodel *m = x->m;
    uint64_t last = m->last_token;
    if (x->granted && !x->after) {
        if (x->res->token <= last)
            fail(x, "grant with token %llu after token %llu", U(x->res->token),
                 U(last));
        last = x->res->token;
    }
    for (size_t i = 0; i < x->n_ev; i++) {
        const struct fsm_event *e = &x->ev[i];
        if (!x->matched[i]) {
            fail(x,
                 "unexpected event %s for session %llu (wait %llu) on "
                 "'%.*s', token %llu",
                 lockmodel_event_name(e->type), U(e->session), U(e->index),
                 (int)e->name_len, e->name, U(e->token));
            continue;
        }
        if (e->type != FSM_EV_GRANTED || x->matched[i] == EV_JOINED)
            continue;
        if (e->token <= last)
            fail(x,
                 "grant to session %llu of '%.*s' with token %llu after "
                 "token %llu",
                 U(e->session), (int)e->name_len, e->name, U(e->token),
                 U(last));
        last = e->token;
    }
    if (x->granted && x->after) {
        if (x->res->token <= last)
            fail(x, "grant with token %llu after token %llu", U(x->res->token),
                 U(last));
        last = x->res->token;
    }
    m->last_token = last;
}

uint32_t lockmodel_grant_holds(const struct lockmodel *m, size_t i)
{
    return i < m->cap_gh ? m->grant_holds[i] : 0;
}

bool lockmodel_follow(struct lockmodel *m, uint64_t index,
                      const struct fsm_cmd *cmd,
                      const struct lockmodel_replay *rp,
                      const struct fsm_result *res, const struct fsm_event *ev,
                      size_t n_ev, char *why, size_t cap)
{
    uint8_t small[SMALL_EVENTS] = {0};
    struct ctx ctx = {.m = m,
                      .index = index,
                      .c = cmd,
                      .rp = rp,
                      .res = res,
                      .ev = ev,
                      .n_ev = n_ev,
                      .why = why,
                      .cap = cap};
    struct ctx *x = &ctx;
    x->matched = n_ev <= SMALL_EVENTS ? small : mem_xcalloc(n_ev, 1);
    if (n_ev > m->cap_gh) {
        m->cap_gh = n_ev;
        m->grant_holds =
            mem_xrealloc(m->grant_holds, n_ev * sizeof *m->grant_holds);
    }
    if (n_ev > 0)
        memset(m->grant_holds, 0, n_ev * sizeof *m->grant_holds);
    if (index <= m->applied)
        fail(x, "index %llu follows %llu", U(index), U(m->applied));
    m->applied = index;
    if (cmd == NULL) {
        fresh(x, FSM_INVALID);
    } else {
        if (cmd->now > m->now)
            m->now = cmd->now;
        switch (cmd->type) {
        case FSM_OPEN:
            do_open(x);
            break;
        case FSM_CLOSE:
            do_close(x);
            break;
        case FSM_EXPIRE:
            do_expire(x);
            break;
        case FSM_ACQUIRE:
        case FSM_ACQUIRE_SHARED:
            do_acquire(x);
            break;
        case FSM_RELEASE:
        case FSM_RELEASE_SHARED:
            do_release(x);
            break;
        case FSM_DOWNGRADE:
            do_downgrade(x);
            break;
        case FSM_EXTEND:
            do_extend(x);
            break;
        case FSM_TICK:
            do_tick(x);
            break;
        case FSM_SET_TTL:
            do_set_ttl(x);
            break;
        case FSM_UNWAIT:
            do_unwait(x);
            break;
        case FSM_EXPIRE_BATCH:
            do_expire_batch(x);
            break;
        case FSM_SEM_ACQUIRE:
        case FSM_CAMPAIGN:
            do_kind_acquire(x);
            break;
        case FSM_SEM_RELEASE:
            do_sem_release(x);
            break;
        case FSM_PROCLAIM:
            do_proclaim(x);
            break;
        case FSM_RESIGN:
            do_resign(x);
            break;
        case FSM_REVOKE:
            do_revoke(x);
            break;
        default:
            fresh(x, FSM_INVALID);
            break;
        }
    }
    sweep(m);
    check_events_and_tokens(x);
    if (x->matched != small)
        free(x->matched);
    return !x->bad;
}
