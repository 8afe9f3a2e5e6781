/* fsm.c - the lock state machine: apply and its ten commands, the event
 * list, and the reads. The rules are docs/design.md §11; each command's
 * function below restates the part it implements. */
#include "lock/fsm_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static const struct fsm_limits default_limits = {
    .sessions = FSM_SESSIONS_MAX,
    .locks_per_session = FSM_LOCKS_PER_SESSION_MAX,
    .waiters_per_lock = FSM_WAITERS_PER_LOCK_MAX,
    .session_outcomes = FSM_OUTCOMES_PER_SESSION,
    .global_outcomes = FSM_OPEN_OUTCOMES,
};

#define ARENA_BLOCK 16384

/* ---- helpers shared by the module ------------------------------------- */

/* What an allocation of n bytes costs with a malloc that rounds chunks to 16
 * bytes with an 8-byte header (glibc's): what fsm_stats.bytes counts. */
static size_t cost(size_t n)
{
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

void *fsm_alloc(struct fsm *f, size_t n)
{
    f->bytes += cost(n);
    return mem_xmalloc(n);
}

void fsm_dealloc(struct fsm *f, void *p, size_t n)
{
    if (p == NULL)
        return;
    f->bytes -= cost(n);
    free(p);
}

void fsm_xok(int rc)
{
    if (rc != 0) {
        fprintf(stderr, "fsm: out of memory\n");
        abort();
    }
}

uint64_t fsm_add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

bool fsm_bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Byte order, a prefix first: the order of fsm_lock_list and snapshots. */
int fsm_name_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    uint32_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* ---- lifecycle -------------------------------------------------------- */

static void init_state(struct fsm *f)
{
    map_str_init(&f->locks);
    avl_init(&f->order);
    map_u64_init(&f->sessions);
    fsm_heap_init(&f->waits, offsetof(struct fsm_waiter, heap_pos),
                  fsm_lock_waiter_before);
    fsm_heap_init(&f->delays, offsetof(struct fsm_lock, heap_pos),
                  fsm_lock_delay_before);
    fsm_heap_init(&f->claims, offsetof(struct fsm_claim, heap_pos),
                  fsm_lock_claim_before);
    map_u64_init(&f->waiting);
    fsm_session_otable_init(&f->opens, f->lim.global_outcomes, true);
    fsm_session_otable_init(&f->closes, f->lim.global_outcomes, true);
    fsm_user_init(f);
}

struct fsm *fsm_new(void)
{
    return fsm_new_limited(&default_limits);
}

struct fsm *fsm_new_limited(const struct fsm_limits *lim)
{
    assert(lim->sessions > 0 && lim->locks_per_session > 0 &&
           lim->waiters_per_lock > 0 && lim->session_outcomes > 0 &&
           lim->global_outcomes > 0 && lim->session_outcomes <= INT32_MAX &&
           lim->global_outcomes <= INT32_MAX);
    struct fsm *f = mem_xcalloc(1, sizeof *f);
    f->lim = *lim;
    init_state(f);
    return f;
}

/* Frees every session, waiter, lock and outcome, and the tables. */
static void free_state(struct fsm *f)
{
    while (f->first != NULL) {
        struct fsm_session *s = f->first;
        while (s->waits != NULL) {
            struct fsm_waiter *w = s->waits;
            FSM_RING_REMOVE(&s->waits, w, sprev, snext);
            fsm_dealloc(f, w, fsm_lock_waiter_size(w));
        }
        while (s->holds != NULL) {
            struct fsm_hold *h = s->holds;
            FSM_RING_REMOVE(&s->holds, h, prev, next);
            fsm_dealloc(f, h, sizeof *h + h->owner_len);
        }
        s->n_holds = s->n_waits = 0;
        fsm_session_delete(f, s);
    }
    size_t pos = 0;
    struct fsm_lock *l;
    while ((l = map_str_next(&f->locks, &pos, NULL, NULL)) != NULL) {
        fsm_dealloc(f, l->value, l->value_len);
        fsm_dealloc(f, l, sizeof *l + l->name_len);
    }
    for (size_t i = 0; i < f->claims.n; i++)
        fsm_lock_claim_free(f, f->claims.v[i]);
    fsm_session_otable_close(f, &f->opens);
    fsm_session_otable_close(f, &f->closes);
    fsm_user_free(f);
    free(f->deferred);
    f->deferred = NULL;
    f->n_deferred = f->cap_deferred = 0;
    map_str_close(&f->locks);
    map_u64_close(&f->sessions);
    map_u64_close(&f->waiting);
    fsm_heap_close(&f->waits);
    fsm_heap_close(&f->delays);
    fsm_heap_close(&f->claims);
}

void fsm_free(struct fsm *f)
{
    if (f == NULL)
        return;
    free_state(f);
    fsm_events_clear(f);
    free(f->arena);
    free(f->ev);
    free(f->sc);
    free(f->ch);
    free(f);
}

/* ---- events ----------------------------------------------------------- */

/* A copy of n bytes at s that lives until fsm_events_clear(). */
static const char *arena_copy(struct fsm *f, const char *s, size_t n)
{
    if (n == 0)
        return "";
    struct fsm_arena *a = f->arena;
    if (a == NULL || a->cap - a->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        a = mem_xmalloc(sizeof *a + cap);
        a->next = f->arena;
        a->used = 0;
        a->cap = cap;
        f->arena = a;
    }
    char *p = a->data + a->used;
    memcpy(p, s, n);
    a->used += n;
    return p;
}

void fsm_emit(struct fsm *f, uint8_t type, uint64_t session, uint64_t token,
              uint64_t index, const char *name, uint32_t name_len,
              const char *req, uint32_t req_len)
{
    if (f->n_ev == f->cap_ev) {
        f->cap_ev = f->cap_ev ? f->cap_ev * 2 : 16;
        f->ev = mem_xrealloc(f->ev, f->cap_ev * sizeof *f->ev);
    }
    f->ev[f->n_ev++] = (struct fsm_event){
        .type = type,
        .session = session,
        .token = token,
        .index = index,
        .name = arena_copy(f, name, name_len),
        .name_len = name_len,
        .req = arena_copy(f, req, req_len),
        .req_len = req_len,
    };
}

void fsm_changed(struct fsm *f, const struct fsm_lock *l, uint8_t type,
                 uint64_t session, const char *owner, uint32_t owner_len,
                 uint64_t token, uint32_t exclusive, uint32_t shared)
{
    if (f->n_ch == f->cap_ch) {
        f->cap_ch = f->cap_ch ? f->cap_ch * 2 : 16;
        f->ch = mem_xrealloc(f->ch, f->cap_ch * sizeof *f->ch);
    }
    f->ch[f->n_ch++] = (struct fsm_change){
        .type = type,
        .kind = l->kind,
        .name = arena_copy(f, l->name, l->name_len),
        .name_len = l->name_len,
        .session = session,
        .owner = arena_copy(f, owner, owner_len),
        .owner_len = owner_len,
        .token = token,
        .exclusive = exclusive,
        .shared = shared,
        .holders = (uint32_t)l->holds.n,
        .value = arena_copy(f, l->value, l->value_len),
        .value_len = l->value_len,
    };
}

void fsm_change_waited(struct fsm *f, uint64_t since)
{
    struct fsm_change *c = &f->ch[f->n_ch - 1];
    c->queued = true;
    c->age_ms = f->now > since ? f->now - since : 0;
}

void fsm_change_held(struct fsm *f, uint64_t since)
{
    f->ch[f->n_ch - 1].age_ms = f->now > since ? f->now - since : 0;
}

const struct fsm_change *fsm_changes(const struct fsm *f, size_t *n)
{
    *n = f->n_ch;
    return f->ch;
}

const struct fsm_event *fsm_events(const struct fsm *f, size_t *n)
{
    *n = f->n_ev;
    return f->ev;
}

void fsm_session_changed(struct fsm *f, uint64_t id, uint64_t ttl)
{
    if (f->n_sc == f->cap_sc) {
        f->cap_sc = f->cap_sc ? f->cap_sc * 2 : 16;
        f->sc = mem_xrealloc(f->sc, f->cap_sc * sizeof *f->sc);
    }
    f->sc[f->n_sc++] = (struct fsm_session_change){id, ttl};
}

const struct fsm_session_change *fsm_session_changes(const struct fsm *f,
                                                     size_t *n)
{
    *n = f->n_sc;
    return f->sc;
}

void fsm_events_clear(struct fsm *f)
{
    f->n_sc = 0;
    f->n_ev = 0;
    f->n_ch = 0;
    if (f->arena == NULL)
        return;
    /* Keep the newest block for the next events; free the others. */
    struct fsm_arena *a = f->arena->next;
    while (a != NULL) {
        struct fsm_arena *next = a->next;
        free(a);
        a = next;
    }
    f->arena->next = NULL;
    f->arena->used = 0;
}

/* ---- remembered outcomes ---------------------------------------------- */

static bool worth_remembering(uint8_t status)
{
    /* INVALID, LIMIT and NOSESSION changed nothing: a retry decides anew. */
    return status == FSM_OK || status == FSM_QUEUED || status == FSM_HELD ||
           status == FSM_NOTHELD;
}

/* The field of res that an outcome's one value stands for (see struct
 * fsm_outcome), or NULL when the outcome of this status has none. */
static uint64_t *value_field(uint8_t type, struct fsm_result *res)
{
    if (res->status == FSM_OK)
        return type == FSM_ACQUIRE || type == FSM_ACQUIRE_SHARED ||
                       type == FSM_DOWNGRADE || type == FSM_SEM_ACQUIRE ||
                       type == FSM_SEM_LEASE || type == FSM_CAMPAIGN ||
                       type == FSM_PROCLAIM || type == FSM_REVOKE
                   ? &res->token
                   : &res->ttl;
    if (res->status == FSM_HELD)
        return &res->holder;
    if (res->status == FSM_QUEUED)
        return &res->index; /* still waiting: where, to re-attach */
    return NULL;
}

static void outcome_of(uint8_t type, uint64_t index,
                       const struct fsm_result *res, struct fsm_outcome *o)
{
    struct fsm_result r = *res;
    r.index = index; /* a waiter's index is the command's own */
    const uint64_t *v = value_field(type, &r);
    memset(o, 0, sizeof *o);
    o->status = res->status;
    o->session = res->session;
    o->holds = res->holds;
    o->value = v != NULL ? *v : 0;
}

static void result_of(uint8_t type, const struct fsm_outcome *o,
                      struct fsm_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = o->status;
    res->replayed = true;
    res->session = o->session;
    res->holds = o->holds;
    uint64_t *v = value_field(type, res);
    if (v != NULL)
        *v = o->value;
}

/* If req (non-empty) is remembered in t under prefix, fills *res and
 * returns true: with its outcome if it is of this request (the same type
 * and fingerprint), else FSM_REQ_REUSED, which changes nothing. */
static bool replay(const struct fsm_otable *t, uint8_t type, const void *prefix,
                   size_t plen, const struct fsm_cmd *c, struct fsm_result *res)
{
    if (c->req_len == 0)
        return false;
    char key[FSM_KEY_MAX];
    uint8_t n = fsm_session_key(key, prefix, plen, c->req, c->req_len);
    const struct fsm_outcome *o = fsm_session_otable_find(t, key, n);
    if (o == NULL)
        return false;
    if (o->type != type || (o->fp != 0 && o->fp != fsm_cmd_fingerprint(c))) {
        memset(res, 0, sizeof *res);
        res->status = FSM_REQ_REUSED;
        return true;
    }
    result_of(type, o, res);
    return true;
}

/* Remembers res as the outcome of c (its type, its fingerprint unless
 * plen: a CLOSE's key is all that defines it). */
static void remember(struct fsm *f, struct fsm_otable *t, uint8_t type,
                     const void *prefix, size_t plen, const struct fsm_cmd *c,
                     uint64_t index, const struct fsm_result *res)
{
    if (c->req_len == 0 || !worth_remembering(res->status))
        return;
    char key[FSM_KEY_MAX];
    struct fsm_outcome o;
    uint8_t n = fsm_session_key(key, prefix, plen, c->req, c->req_len);
    outcome_of(type, index, res, &o);
    o.type = type;
    o.fp = plen == 0 ? fsm_cmd_fingerprint(c) : 0;
    fsm_session_otable_add(f, t, key, n, &o);
}

/* ---- the commands ----------------------------------------------------- */

static bool ttl_ok(uint64_t ttl)
{
    return ttl >= FSM_TTL_MIN && ttl <= FSM_TTL_MAX;
}

static bool name_ok(const struct fsm_cmd *c)
{
    return c->name_len >= 1 && c->name_len <= FSM_NAME_MAX;
}

/* Whether the command c is of the user that opened s. */
static bool owns(const struct fsm_session *s, const struct fsm_cmd *c)
{
    return fsm_bytes_eq(FSM_SESSION_USER(s), s->user_len, c->user, c->user_len);
}

/* A session a client may name: lease-lock sessions are reached only
 * through their lock's token (and EXPIRE). */
static struct fsm_session *client_session(const struct fsm *f, uint64_t id)
{
    struct fsm_session *s = fsm_session_get(f, id);
    return s != NULL && !s->lease_lock ? s : NULL;
}

/* The client session c names, or NULL with res filled in: NOSESSION, or
 * the remembered outcome of a retry of type (replay). */
static struct fsm_session *session_of(struct fsm *f, uint8_t type,
                                      const struct fsm_cmd *c,
                                      struct fsm_result *res)
{
    struct fsm_session *s = client_session(f, c->session);
    if (s == NULL) {
        res->status = FSM_NOSESSION;
        return NULL;
    }
    if (!owns(s, c)) {
        res->status = FSM_NOPERM;
        return NULL;
    }
    return replay(&s->outcomes, type, NULL, 0, c, res) ? NULL : s;
}

/* The checks before a command of type (OPEN, or a lease lock's ACQUIRE)
 * opens a session: its TTL, a retry of a request remembered in the global
 * table (answered with its first outcome), the session limit. False when
 * res already holds the answer. */
static bool may_open(struct fsm *f, uint8_t type, const struct fsm_cmd *c,
                     struct fsm_result *res)
{
    if (!ttl_ok(c->ttl)) {
        res->status = FSM_INVALID;
        return false;
    }
    if (replay(&f->opens, type, NULL, 0, c, res))
        return false;
    if (f->sessions.n >= f->lim.sessions) {
        res->status = FSM_LIMIT;
        return false;
    }
    return true;
}

/* OPEN: a session whose id is this entry's index. A remembered req returns
 * the first outcome, even if that session has ended since. */
static void apply_open(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                       struct fsm_result *res)
{
    if (!may_open(f, FSM_OPEN, c, res))
        return;
    struct fsm_session *s =
        fsm_session_new(f, index, c->ttl, c->client, (uint8_t)c->client_len,
                        c->user, (uint8_t)c->user_len, false);
    res->status = FSM_OK;
    res->session = s->id;
    res->ttl = s->ttl;
    remember(f, &f->opens, FSM_OPEN, NULL, 0, c, index, res);
}

/* CLOSE: the session ends; its locks go at once to their first waiters. A
 * retried CLOSE of a session that this req closed is answered OK again. */
static void apply_close(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                        struct fsm_result *res)
{
    uint8_t id[8];
    for (int i = 0; i < 8; i++)
        id[i] = (uint8_t)(c->session >> (8 * i));
    struct fsm_session *s = client_session(f, c->session);
    if (s == NULL) {
        if (!replay(&f->closes, FSM_CLOSE, id, 8, c, res))
            res->status = FSM_NOSESSION;
        return;
    }
    if (!owns(s, c)) {
        res->status = FSM_NOPERM;
        return;
    }
    /* A CLOSE is never in a session's table: an id found there is one
     * of the session's other requests. */
    if (replay(&s->outcomes, FSM_CLOSE, NULL, 0, c, res))
        return;
    fsm_session_end(f, s, false);
    res->status = FSM_OK;
    res->session = c->session;
    remember(f, &f->closes, FSM_CLOSE, id, 8, c, index, res);
}

/* EXPIRE: the leader ended the session's lease. Its locks enter the
 * lock-delay their acquires asked for (FSM_EV_LOST each). */
static void apply_expire(struct fsm *f, const struct fsm_cmd *c,
                         struct fsm_result *res)
{
    struct fsm_session *s = fsm_session_get(f, c->session);
    if (s == NULL) {
        res->status = FSM_NOSESSION;
        return;
    }
    fsm_session_end(f, s, true);
    res->status = FSM_OK;
    res->session = c->session;
    res->expired = 1;
}

/* EXPIRE_BATCH: an EXPIRE of each session named, in order, within one
 * entry (docs/design.md §11.2). A session that is gone (closed, expired,
 * or named twice) is skipped, as its own EXPIRE would change nothing. OK,
 * with the number of sessions ended. */
static void apply_expire_batch(struct fsm *f, const struct fsm_cmd *c,
                               struct fsm_result *res)
{
    res->status = FSM_OK;
    for (uint32_t i = 0; i < c->n_ids; i++) {
        struct fsm_session *s = fsm_session_get(f, fsm_cmd_id(c, i));
        if (s == NULL)
            continue;
        fsm_session_end(f, s, true);
        res->expired++;
    }
}

/* A repeat of an ACQUIRE, answered with its remembered outcome res, tells
 * that a client knows of it (docs/design.md §11.6): a wait it learns it is
 * in has its client again (it ends no sooner than its deadline, and an
 * UNWAIT that saw the client go before this index does nothing); a grant
 * it learns is the client's (an UNWAIT no longer takes it back). */
static void rejoin(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                   const struct fsm_result *res)
{
    if (res->status == FSM_QUEUED) {
        struct fsm_waiter *w = map_u64_get(&f->waiting, res->index);
        if (w == NULL)
            return;
        w->seen = index;
        if (w->gone_until != 0)
            fsm_lock_set_gone(f, w, 0);
        return;
    }
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    struct fsm_session *s = fsm_session_get(f, res->session);
    struct fsm_hold *h = l != NULL && s != NULL
                             ? fsm_lock_find(l, s, c->owner, c->owner_len)
                             : NULL;
    if (res->status == FSM_OK && h != NULL && h->token == res->token)
        h->grant = 0;
}

/* Whether l (if known) is not of the kind asked for (for a semaphore, with
 * other permits): then res is KIND, with what l is. */
static bool wrong_kind(const struct fsm_lock *l, uint8_t kind, uint64_t permits,
                       struct fsm_result *res)
{
    if (l == NULL || (l->kind == kind &&
                      (kind != FSM_KIND_SEMAPHORE || l->permits == permits)))
        return false;
    res->status = FSM_KIND;
    res->kind = l->kind;
    res->permits = l->permits;
    return true;
}

/* A request for l that is not granted now: HELD for a try (with the
 * session of the first hold, 0 if none), or the tail of l's FIFO (LIMIT
 * past its waiters' bound). */
static void held_or_queued(struct fsm *f, uint64_t index, struct fsm_lock *l,
                           struct fsm_session *s, const struct fsm_cmd *c,
                           uint8_t owner_len, uint32_t delay_ms, bool shared,
                           uint32_t count, struct fsm_result *res)
{
    if (c->wait == 0) {
        const struct fsm_hold *first = fsm_lock_first(l);
        res->status = FSM_HELD;
        res->holder = first != NULL ? first->session->id : 0;
        return;
    }
    if (l->n_waiters >= f->lim.waiters_per_lock) {
        res->status = FSM_LIMIT;
        return;
    }
    bool election = l->kind == FSM_KIND_ELECTION; /* a candidate's value */
    fsm_lock_enqueue(f, l, s, index, fsm_add_sat(f->now, c->wait), delay_ms,
                     shared, count, c->owner, owner_len, c->req,
                     (uint8_t)c->req_len, election ? c->value : NULL,
                     election ? (uint16_t)c->value_len : 0);
    res->status = FSM_QUEUED;
    res->index = index; /* what the waiter's events will carry */
}

/* The rules of ACQUIRE (of either mode) once the session is known and the
 * request new (docs/design.md §11.3): reentry by the same session and
 * owner (UPGRADE for an exclusive request on a shared hold); else a grant
 * if the lock is out of lock-delay, nobody waits and the mode fits; else
 * HELD for a try, or the tail of the FIFO. A session's holds and waits
 * count against its limit. */
static void acquire(struct fsm *f, uint64_t index, struct fsm_session *s,
                    const struct fsm_cmd *c, uint8_t owner_len,
                    uint32_t delay_ms, struct fsm_result *res)
{
    bool shared = c->type == FSM_ACQUIRE_SHARED;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    res->session = s->id;
    if (wrong_kind(l, FSM_KIND_LOCK, 0, res))
        return;
    struct fsm_hold *h =
        l != NULL ? fsm_lock_find(l, s, c->owner, owner_len) : NULL;
    if (h != NULL) {
        uint32_t *n = shared ? &h->shared : &h->exclusive;
        if (!shared && h->exclusive == 0) {
            res->status = FSM_UPGRADE;
            return;
        }
        if (*n == UINT32_MAX ||
            h->exclusive + (uint64_t)h->shared == UINT32_MAX) {
            res->status = FSM_LIMIT;
            return;
        }
        ++*n;
        fsm_lock_changed(f, h, FSM_CH_GRANTED);
        res->status = FSM_OK;
        res->token = h->token;
        res->holds = h->exclusive + h->shared;
        return;
    }
    if ((uint64_t)s->n_holds + s->n_waits >= f->lim.locks_per_session) {
        res->status = FSM_LIMIT;
        return;
    }
    if (l == NULL || (fsm_lock_open(f, l) && fsm_lock_fits(l, shared, 0))) {
        if (l == NULL)
            l = fsm_lock_new(f, c->name, c->name_len);
        h = fsm_lock_grant(f, l, s, c->owner, owner_len, shared ? 0 : 1,
                           shared ? 1 : 0, delay_ms);
        res->status = FSM_OK;
        res->token = h->token;
        res->holds = 1;
        /* A blocking ACQUIRE's client may be gone before it learns this
         * grant: an UNWAIT naming this index may take it back. */
        h->grant = c->wait > 0 ? index : 0;
        res->index = h->grant;
        return;
    }
    held_or_queued(f, index, l, s, c, owner_len, delay_ms, shared, 0, res);
}

/* The rules of SEM_ACQUIRE once the session is known and the request new
 * (docs/design.md §11.3): the semaphore's permits are its first caller's
 * while it is known (KIND otherwise, as for a lock's name); granted if
 * nobody waits and the count fits beside the permits used and held back
 * (joining the hold the session and owner have, if any); else HELD for a
 * try, or the tail of the FIFO. */
static void sem_acquire(struct fsm *f, uint64_t index, struct fsm_session *s,
                        const struct fsm_cmd *c, uint32_t delay_ms,
                        struct fsm_result *res)
{
    uint32_t count = (uint32_t)c->count;
    uint8_t owner_len = (uint8_t)c->owner_len;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    res->session = s->id;
    if (wrong_kind(l, FSM_KIND_SEMAPHORE, c->permits, res))
        return;
    if (l != NULL && !fsm_lock_delay_check(f, l))
        l = NULL; /* its lock-delay ended, and it was forgotten */
    struct fsm_hold *h =
        l != NULL ? fsm_lock_find(l, s, c->owner, owner_len) : NULL;
    if (h == NULL &&
        (uint64_t)s->n_holds + s->n_waits >= f->lim.locks_per_session) {
        res->status = FSM_LIMIT;
        return;
    }
    if (l == NULL || (l->waiters == NULL && fsm_lock_fits(l, true, count))) {
        if (l == NULL) {
            l = fsm_lock_new(f, c->name, c->name_len);
            l->kind = FSM_KIND_SEMAPHORE;
            l->permits = (uint32_t)c->permits;
        }
        if (h == NULL) {
            h = fsm_lock_grant(f, l, s, c->owner, owner_len, 0, count,
                               delay_ms);
        } else {
            fsm_lock_add(l, h, count);
            fsm_lock_changed(f, h, FSM_CH_GRANTED);
        }
        res->status = FSM_OK;
        res->token = h->token;
        res->holds = h->shared;
        h->grant = c->wait > 0 ? index : 0;
        h->grant_count = count;
        res->index = h->grant;
        return;
    }
    held_or_queued(f, index, l, s, c, owner_len, delay_ms, true, count, res);
}

typedef void (*acquire_fn)(struct fsm *f, uint64_t index, struct fsm_session *s,
                           const struct fsm_cmd *c, uint32_t delay_ms,
                           struct fsm_result *res);

/* Lease lock, or lease semaphore (fn: how it acquires): a session of its
 * own (id = index, no client), which acquires with the command's owner
 * (empty before LOCK.ACQUIRE ... TTL took one, and the value of a Redis
 * client's SET NX: docs/redis-compat.md). Unless that grants or queues,
 * the session is removed again. A name the owner holds already as a lease
 * (a retry whose answer was lost) is OK with its token, and its lease
 * starts again with the command's TTL. The req is remembered in the global
 * table. */
static void acquire_lease(struct fsm *f, uint64_t index,
                          const struct fsm_cmd *c, uint32_t delay_ms,
                          acquire_fn fn, struct fsm_result *res)
{
    if (c->ttl == 0) {
        res->status = FSM_NOSESSION;
        return;
    }
    if (!may_open(f, c->type, c, res)) {
        if (res->replayed)
            rejoin(f, index, c, res);
        return;
    }
    const struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    struct fsm_hold *h = l != NULL ? fsm_lock_lease_of(l, c) : NULL;
    if (h != NULL) {
        h->session->ttl = c->ttl;
        fsm_session_changed(f, h->session->id, c->ttl);
        res->status = FSM_OK;
        res->session = h->session->id;
        res->token = h->token;
        res->holds = h->exclusive + h->shared;
    } else {
        struct fsm_session *s = fsm_session_new(
            f, index, c->ttl, NULL, 0, c->user, (uint8_t)c->user_len, true);
        fn(f, index, s, c, delay_ms, res);
        if (res->status != FSM_OK && res->status != FSM_QUEUED) {
            fsm_session_delete(f, s);
            res->session = 0;
        }
    }
    remember(f, &f->opens, c->type, NULL, 0, c, index, res);
}

/* The hold of a lease lock or lease semaphore on name with token, or
 * NULL. */
static struct fsm_hold *lease_hold(const struct fsm *f, const char *name,
                                   uint32_t len, uint64_t token)
{
    const struct fsm_lock *l = fsm_lock_get(f, name, len);
    struct fsm_hold *h = l != NULL ? fsm_lock_with_token(l, token) : NULL;
    return h != NULL && h->session->lease_lock ? h : NULL;
}

/* The checks every acquire passes: name, owner, wait and delay. */
static bool acquire_ok(const struct fsm_cmd *c)
{
    return name_ok(c) && c->owner_len <= FSM_OWNER_MAX &&
           c->wait <= FSM_WAIT_MAX &&
           (c->delay <= FSM_DELAY_MAX || c->delay == UINT64_MAX);
}

/* An acquire's lock-delay in ms. */
static uint32_t delay_of(const struct fsm_cmd *c)
{
    return c->delay == UINT64_MAX ? FSM_DEFAULT_DELAY : (uint32_t)c->delay;
}

/* An acquire by a client's session, of any kind (fn): the common checks
 * (name, owner, wait, delay; valid: those of the kind), the session, the
 * remembered outcome of a retry (which rejoins its wait or grant), then fn
 * and the outcome remembered. */
static void session_acquire(struct fsm *f, uint64_t index,
                            const struct fsm_cmd *c, bool valid, acquire_fn fn,
                            struct fsm_result *res)
{
    if (!valid || !acquire_ok(c)) {
        res->status = FSM_INVALID;
        return;
    }
    uint32_t delay_ms = delay_of(c);
    struct fsm_session *s = session_of(f, c->type, c, res);
    if (s == NULL) {
        if (res->replayed)
            rejoin(f, index, c, res);
        return;
    }
    fn(f, index, s, c, delay_ms, res);
    remember(f, &s->outcomes, c->type, NULL, 0, c, index, res);
}

static void lock_acquire(struct fsm *f, uint64_t index, struct fsm_session *s,
                         const struct fsm_cmd *c, uint32_t delay_ms,
                         struct fsm_result *res)
{
    acquire(f, index, s, c, (uint8_t)c->owner_len, delay_ms, res);
}

/* ACQUIRE, ACQUIRE_SHARED: a lease lock (session 0, exclusive only), or a
 * session's. */
static void apply_acquire(struct fsm *f, uint64_t index,
                          const struct fsm_cmd *c, struct fsm_result *res)
{
    if (c->session == 0 && c->type == FSM_ACQUIRE && acquire_ok(c)) {
        acquire_lease(f, index, c, delay_of(c), lock_acquire, res);
        return;
    }
    session_acquire(f, index, c, c->session != 0, lock_acquire, res);
}

/* Ends the hold h of a lease-lock session: the session ends with its last
 * hold (expired: as its lease's end would), else only h goes (a LEASES
 * session holds several names). */
static void end_lease_hold(struct fsm *f, struct fsm_hold *h, bool expired)
{
    if (h->session->n_holds == 1)
        fsm_session_end(f, h->session, expired);
    else
        fsm_lock_drop(f, h, expired);
}

/* RELEASE by token (session 0): the lease lock's hold ends, and its
 * session with its last hold; the lock goes at once to its first
 * waiter. */
static void release_lease(struct fsm *f, uint64_t index,
                          const struct fsm_cmd *c, struct fsm_result *res)
{
    if (replay(&f->opens, FSM_RELEASE, NULL, 0, c, res))
        return;
    struct fsm_hold *h = lease_hold(f, c->name, c->name_len, c->token);
    if (h == NULL) {
        res->status = FSM_NOTHELD;
    } else if (!owns(h->session, c)) {
        res->status = FSM_NOPERM;
    } else {
        res->status = FSM_OK;
        res->session = h->session->id;
        end_lease_hold(f, h, false);
    }
    remember(f, &f->opens, FSM_RELEASE, NULL, 0, c, index, res);
}

/* RELEASE, RELEASE_SHARED: the holder (same session and owner) drops one
 * hold of the mode; at none left in either mode the hold goes, and the
 * lock's first waiters get it as far as they fit (no lock-delay: a release
 * is explicit). */
static void apply_release(struct fsm *f, uint64_t index,
                          const struct fsm_cmd *c, struct fsm_result *res)
{
    if (!name_ok(c)) {
        res->status = FSM_INVALID;
        return;
    }
    bool shared = c->type == FSM_RELEASE_SHARED;
    if (c->session == 0 && shared) {
        res->status = FSM_INVALID; /* lease locks are exclusive */
        return;
    }
    if (c->session == 0) {
        release_lease(f, index, c, res);
        return;
    }
    struct fsm_session *s = session_of(f, c->type, c, res);
    if (s == NULL)
        return;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    struct fsm_hold *h =
        l != NULL ? fsm_lock_find(l, s, c->owner, c->owner_len) : NULL;
    res->session = s->id;
    if (wrong_kind(l, FSM_KIND_LOCK, 0, res))
        return;
    if (h == NULL || (shared ? h->shared : h->exclusive) == 0) {
        res->status = FSM_NOTHELD;
    } else {
        res->status = FSM_OK;
        res->holds = fsm_lock_put(f, h, shared, 1);
    }
    remember(f, &s->outcomes, c->type, NULL, 0, c, index, res);
}

/* DOWNGRADE: the holder's exclusive holds become shared, in place, with
 * its token; the lock's first waiters get it as far as they fit. */
static void apply_downgrade(struct fsm *f, uint64_t index,
                            const struct fsm_cmd *c, struct fsm_result *res)
{
    if (!name_ok(c)) {
        res->status = FSM_INVALID;
        return;
    }
    struct fsm_session *s = session_of(f, FSM_DOWNGRADE, c, res);
    if (s == NULL)
        return;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    struct fsm_hold *h =
        l != NULL ? fsm_lock_find(l, s, c->owner, c->owner_len) : NULL;
    res->session = s->id;
    if (wrong_kind(l, FSM_KIND_LOCK, 0, res))
        return;
    if (h == NULL || h->exclusive == 0) {
        res->status = FSM_NOTHELD;
    } else {
        res->status = FSM_OK;
        res->token = h->token;
        /* Its holds when its own change is done, before those it lets in
         * (a waiter of its own may join), as a release's. */
        res->holds = h->exclusive + h->shared;
        fsm_lock_downgrade(f, h);
    }
    remember(f, &s->outcomes, FSM_DOWNGRADE, NULL, 0, c, index, res);
}

/* Whether the permits and count of a SEM_ACQUIRE or SEM_LEASE are in
 * range. */
static bool sem_ok(const struct fsm_cmd *c)
{
    return c->permits >= 1 && c->permits <= FSM_PERMITS_MAX && c->count >= 1 &&
           c->count <= c->permits;
}

/* SEM_ACQUIRE: the permits and count in range, then as any acquire. */
static void apply_sem_acquire(struct fsm *f, uint64_t index,
                              const struct fsm_cmd *c, struct fsm_result *res)
{
    session_acquire(f, index, c, sem_ok(c), sem_acquire, res);
}

/* SEM_LEASE: permits held by a session of their own, as a lease lock. */
static void apply_sem_lease(struct fsm *f, uint64_t index,
                            const struct fsm_cmd *c, struct fsm_result *res)
{
    if (!sem_ok(c) || !acquire_ok(c)) {
        res->status = FSM_INVALID;
        return;
    }
    acquire_lease(f, index, c, delay_of(c), sem_acquire, res);
}

/* SEM_RELEASE: the holder gives count of its permits back; the first
 * waiters get them as far as they fit. */
static void apply_sem_release(struct fsm *f, uint64_t index,
                              const struct fsm_cmd *c, struct fsm_result *res)
{
    if (!name_ok(c) || c->count < 1 || c->count > FSM_PERMITS_MAX) {
        res->status = FSM_INVALID;
        return;
    }
    struct fsm_session *s = session_of(f, FSM_SEM_RELEASE, c, res);
    if (s == NULL)
        return;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    res->session = s->id;
    if (l != NULL && wrong_kind(l, FSM_KIND_SEMAPHORE, l->permits, res))
        return;
    struct fsm_hold *h =
        l != NULL ? fsm_lock_find(l, s, c->owner, c->owner_len) : NULL;
    if (h == NULL || h->shared < c->count) {
        res->status = FSM_NOTHELD;
    } else {
        res->status = FSM_OK;
        res->holds = fsm_lock_put(f, h, true, (uint32_t)c->count);
    }
    remember(f, &s->outcomes, FSM_SEM_RELEASE, NULL, 0, c, index, res);
}

/* CAMPAIGN: the session and owner stand for leader of the election name:
 * elected at once if it has no leader, is out of lock-delay and nobody
 * waits (its value the candidate's), else HELD for a try or a place in
 * the FIFO of candidates. The leader campaigning again is answered its
 * token, and nothing changes. */
static void campaign(struct fsm *f, uint64_t index, struct fsm_session *s,
                     const struct fsm_cmd *c, uint32_t delay_ms,
                     struct fsm_result *res)
{
    uint8_t owner_len = (uint8_t)c->owner_len;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    res->session = s->id;
    if (wrong_kind(l, FSM_KIND_ELECTION, 0, res))
        return;
    struct fsm_hold *h =
        l != NULL ? fsm_lock_find(l, s, c->owner, owner_len) : NULL;
    if (h != NULL) {
        res->status = FSM_OK;
        res->token = h->token;
        res->holds = 1;
        return;
    }
    if ((uint64_t)s->n_holds + s->n_waits >= f->lim.locks_per_session) {
        res->status = FSM_LIMIT;
        return;
    }
    if (l == NULL || (fsm_lock_open(f, l) && fsm_lock_fits(l, false, 0))) {
        if (l == NULL) {
            l = fsm_lock_new(f, c->name, c->name_len);
            l->kind = FSM_KIND_ELECTION;
        }
        fsm_lock_set_value(f, l, c->value, (uint16_t)c->value_len);
        h = fsm_lock_grant(f, l, s, c->owner, owner_len, 1, 0, delay_ms);
        res->status = FSM_OK;
        res->token = h->token;
        res->holds = 1;
        h->grant = c->wait > 0 ? index : 0;
        res->index = h->grant;
        return;
    }
    held_or_queued(f, index, l, s, c, owner_len, delay_ms, false, 0, res);
}

static void apply_campaign(struct fsm *f, uint64_t index,
                           const struct fsm_cmd *c, struct fsm_result *res)
{
    session_acquire(f, index, c, c->value_len <= FSM_VALUE_MAX, campaign, res);
}

/* PROCLAIM: the leader, named by its session and token (its fence: a
 * leader that lost and was elected again has another), sets the value. */
static void apply_proclaim(struct fsm *f, uint64_t index,
                           const struct fsm_cmd *c, struct fsm_result *res)
{
    if (!name_ok(c) || c->value_len > FSM_VALUE_MAX) {
        res->status = FSM_INVALID;
        return;
    }
    struct fsm_session *s = session_of(f, FSM_PROCLAIM, c, res);
    if (s == NULL)
        return;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    res->session = s->id;
    if (wrong_kind(l, FSM_KIND_ELECTION, 0, res))
        return;
    const struct fsm_hold *h = l != NULL ? fsm_lock_first(l) : NULL;
    if (h == NULL || h->session != s || h->token != c->token) {
        res->status = FSM_NOTHELD;
    } else {
        fsm_lock_set_value(f, l, c->value, (uint16_t)c->value_len);
        fsm_lock_changed(f, h, FSM_CH_PROCLAIMED);
        res->status = FSM_OK;
        res->token = h->token;
    }
    remember(f, &s->outcomes, FSM_PROCLAIM, NULL, 0, c, index, res);
}

/* RESIGN: the leader steps down (the next candidate is elected at once,
 * with its value); NOTHELD from anyone else (a candidate ends its wait by
 * giving it up, as a waiter). */
static void apply_resign(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                         struct fsm_result *res)
{
    if (!name_ok(c)) {
        res->status = FSM_INVALID;
        return;
    }
    struct fsm_session *s = session_of(f, FSM_RESIGN, c, res);
    if (s == NULL)
        return;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    res->session = s->id;
    if (wrong_kind(l, FSM_KIND_ELECTION, 0, res))
        return;
    struct fsm_hold *h =
        l != NULL ? fsm_lock_find(l, s, c->owner, c->owner_len) : NULL;
    if (h == NULL) {
        res->status = FSM_NOTHELD;
    } else {
        res->status = FSM_OK;
        fsm_lock_drop(f, h, false);
    }
    remember(f, &s->outcomes, FSM_RESIGN, NULL, 0, c, index, res);
}

/* REVOKE: an administrator ends the hold of name with token, of any kind,
 * as its session's expiry would: FSM_EV_LOST to its session, and the
 * lock-delay (the hold's own, or the one given) before anyone else gets
 * it; a lease lock's session ends with it. A fenced store sees the next
 * holder's greater token. Remembered in the global table, as the request
 * of no session. */
static void apply_revoke(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                         struct fsm_result *res)
{
    if (!name_ok(c) || (c->delay > FSM_DELAY_MAX && c->delay != UINT64_MAX)) {
        res->status = FSM_INVALID;
        return;
    }
    if (replay(&f->opens, FSM_REVOKE, NULL, 0, c, res))
        return;
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    struct fsm_hold *h = l != NULL ? fsm_lock_with_token(l, c->token) : NULL;
    if (h == NULL) {
        res->status = FSM_NOTHELD;
    } else {
        struct fsm_session *s = h->session;
        res->status = FSM_OK;
        res->session = s->id;
        res->token = h->token;
        if (c->delay != UINT64_MAX)
            h->delay_ms = (uint32_t)c->delay;
        if (s->lease_lock)
            end_lease_hold(f, h, true);
        else
            fsm_lock_drop(f, h, true);
    }
    remember(f, &f->opens, FSM_REVOKE, NULL, 0, c, index, res);
}

/* EXTEND: a new TTL for the session of the lease lock that holds name with
 * token. */
static void apply_extend(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                         struct fsm_result *res)
{
    if (!ttl_ok(c->ttl) || !name_ok(c)) {
        res->status = FSM_INVALID;
        return;
    }
    if (replay(&f->opens, FSM_EXTEND, NULL, 0, c, res))
        return;
    const struct fsm_hold *h = lease_hold(f, c->name, c->name_len, c->token);
    if (h == NULL) {
        res->status = FSM_NOTHELD;
    } else if (!owns(h->session, c)) {
        res->status = FSM_NOPERM;
    } else {
        h->session->ttl = c->ttl;
        fsm_session_changed(f, h->session->id, c->ttl);
        res->status = FSM_OK;
        res->session = h->session->id;
        res->ttl = c->ttl;
    }
    remember(f, &f->opens, FSM_EXTEND, NULL, 0, c, index, res);
}

/* SET_TTL: a new TTL for a client's session. */
static void apply_set_ttl(struct fsm *f, uint64_t index,
                          const struct fsm_cmd *c, struct fsm_result *res)
{
    if (!ttl_ok(c->ttl)) {
        res->status = FSM_INVALID;
        return;
    }
    struct fsm_session *s = session_of(f, FSM_SET_TTL, c, res);
    if (s == NULL)
        return;
    s->ttl = c->ttl;
    fsm_session_changed(f, s->id, c->ttl);
    res->status = FSM_OK;
    res->session = s->id;
    res->ttl = c->ttl;
    remember(f, &s->outcomes, FSM_SET_TTL, NULL, 0, c, index, res);
}

/* The wait w's client went away (as the leader saw it at c->seen): unless
 * a repeat of the ACQUIRE has attached a client since, a wait without a
 * request id, or with no time given to come back, ends now
 * (FSM_EV_TIMEOUT); one with ends by now + c->wait unless repeated. False
 * if it was repeated since. */
static bool unwait_one(struct fsm *f, struct fsm_waiter *w,
                       const struct fsm_cmd *c)
{
    if (w->seen > c->seen)
        return false;
    if (w->req_len == 0 || c->wait == 0) {
        fsm_lock_unwait(f, w, FSM_EV_TIMEOUT);
        return true;
    }
    uint64_t until = fsm_add_sat(f->now, c->wait);
    if (w->gone_until == 0 || until < w->gone_until)
        fsm_lock_set_gone(f, w, until);
    return true;
}

/* UNWAIT 0: every queued wait, by session id and then in the order
 * queued. Only the session being visited can end (a lease lock's). */
static void unwait_all(struct fsm *f, const struct fsm_cmd *c)
{
    fsm_lock_defer(f); /* every wait is gone before any is granted */
    struct fsm_session *s = f->first;
    size_t n = f->sessions.n;
    for (size_t i = 0; i < n; i++) {
        struct fsm_session *next = s->next;
        struct fsm_waiter *w = s->waits;
        uint32_t k = s->n_waits;
        while (k-- > 0) {
            struct fsm_waiter *wn = w->snext;
            unwait_one(f, w, c);
            w = wn;
        }
        s = next;
    }
    fsm_lock_undefer(f);
}

/* UNWAIT: the client of the blocking ACQUIRE at c->index went away. Its
 * wait, if still queued, ends (unwait_one); if it was granted since, with
 * no later answer having told a client of it (the grant is c->seen's) and
 * no repeat having learnt it, the grant is taken back, at once without a
 * request id (or time to come back), else at now + c->wait unless learnt
 * first. */
static void apply_unwait(struct fsm *f, const struct fsm_cmd *c,
                         struct fsm_result *res)
{
    if (c->wait > FSM_WAIT_MAX || (c->index != 0 && !name_ok(c))) {
        res->status = FSM_INVALID;
        return;
    }
    res->status = FSM_OK;
    res->index = c->index;
    if (c->index == 0) {
        unwait_all(f, c);
        return;
    }
    res->session = c->session;
    struct fsm_waiter *w = map_u64_get(&f->waiting, c->index);
    if (w != NULL && w->session->id == c->session &&
        fsm_bytes_eq(w->lock->name, w->lock->name_len, c->name, c->name_len)) {
        if (!unwait_one(f, w, c))
            res->status = FSM_NOTHELD;
        return;
    }
    /* The grant names its answer (seen); index is the ACQUIRE's, which
     * came after its session's opening and no later than the answer. */
    struct fsm_lock *l = fsm_lock_get(f, c->name, c->name_len);
    struct fsm_hold *h = l != NULL && c->seen != 0
                             ? fsm_lock_granted_to(l, c->session, c->seen)
                             : NULL;
    if (h == NULL || c->index < c->session || c->index > c->seen) {
        res->status = FSM_NOTHELD;
        return;
    }
    if (c->req_len > 0 && c->wait > 0) {
        fsm_lock_claim(f, h, c->index, fsm_add_sat(f->now, c->wait), c->req,
                       (uint8_t)c->req_len);
        res->holds = h->exclusive + h->shared;
        return;
    }
    res->token = h->token;
    res->holds = fsm_lock_withdraw(f, h, c->index, c->req, (uint8_t)c->req_len);
}

void fsm_apply(struct fsm *f, uint64_t index, const uint8_t *buf, size_t len,
               struct fsm_result *res)
{
    struct fsm_cmd c;
    assert(index > f->applied);
    f->applied = index;
    memset(res, 0, sizeof *res);
    if (fsm_cmd_decode(&c, buf, len) != 0) {
        res->status = FSM_INVALID;
        return;
    }
    /* The clock moves with every well-formed command, whatever its fate:
     * the leader's stamp is a fact about time, not an effect. */
    if (c.now > f->now)
        f->now = c.now;
    switch (c.type) {
    case FSM_OPEN:
        apply_open(f, index, &c, res);
        break;
    case FSM_CLOSE:
        apply_close(f, index, &c, res);
        break;
    case FSM_EXPIRE:
        apply_expire(f, &c, res);
        break;
    case FSM_ACQUIRE:
    case FSM_ACQUIRE_SHARED:
        apply_acquire(f, index, &c, res);
        break;
    case FSM_RELEASE:
    case FSM_RELEASE_SHARED:
        apply_release(f, index, &c, res);
        break;
    case FSM_DOWNGRADE:
        apply_downgrade(f, index, &c, res);
        break;
    case FSM_SEM_ACQUIRE:
        apply_sem_acquire(f, index, &c, res);
        break;
    case FSM_SEM_RELEASE:
        apply_sem_release(f, index, &c, res);
        break;
    case FSM_CAMPAIGN:
        apply_campaign(f, index, &c, res);
        break;
    case FSM_PROCLAIM:
        apply_proclaim(f, index, &c, res);
        break;
    case FSM_RESIGN:
        apply_resign(f, index, &c, res);
        break;
    case FSM_REVOKE:
        apply_revoke(f, index, &c, res);
        break;
    case FSM_EXTEND:
        apply_extend(f, index, &c, res);
        break;
    case FSM_TICK:
        fsm_lock_tick(f);
        res->status = FSM_OK;
        break;
    case FSM_SET_TTL:
        apply_set_ttl(f, index, &c, res);
        break;
    case FSM_UNWAIT:
        apply_unwait(f, &c, res);
        break;
    case FSM_EXPIRE_BATCH:
        apply_expire_batch(f, &c, res);
        break;
    case FSM_USER_SET:
        fsm_user_set(f, &c, res);
        break;
    case FSM_USER_DEL:
        fsm_user_del(f, &c, res);
        break;
    case FSM_LEASES:
        fsm_leases_apply(f, index, &c, res);
        break;
    case FSM_SEM_LEASE:
        apply_sem_lease(f, index, &c, res);
        break;
    default:
        res->status = FSM_INVALID; /* fsm_cmd_decode refuses these */
        break;
    }
}

/* ---- reads ------------------------------------------------------------ */

uint64_t fsm_next_deadline(const struct fsm *f)
{
    uint64_t t = UINT64_MAX;
    if (f->waits.n > 0)
        t = fsm_lock_wait_end(f->waits.v[0]);
    if (f->claims.n > 0) {
        const struct fsm_claim *c = f->claims.v[0];
        if (c->until < t)
            t = c->until;
    }
    if (f->delays.n > 0) {
        const struct fsm_lock *l = f->delays.v[0];
        if (l->available_at < t)
            t = l->available_at;
    }
    return t;
}

uint64_t fsm_wait_seen(const struct fsm *f, uint64_t index)
{
    if (index == 0)
        return f->applied;
    const struct fsm_waiter *w = map_u64_get(&f->waiting, index);
    return w != NULL ? w->seen : index;
}

uint64_t fsm_now(const struct fsm *f)
{
    return f->now;
}

uint64_t fsm_applied_index(const struct fsm *f)
{
    return f->applied;
}

uint64_t fsm_last_token(const struct fsm *f)
{
    return f->last_token;
}

void fsm_stats(const struct fsm *f, struct fsm_stats *st)
{
    st->counts = f->counts;
    st->sessions = f->sessions.n;
    st->locks = f->locks.n;
    st->held = f->n_held;
    st->waiters = f->n_waiters;
    st->bytes = sizeof *f + f->bytes + map_str_bytes(&f->locks) +
                map_u64_bytes(&f->sessions) + map_str_bytes(f->opens.index) +
                map_str_bytes(f->closes.index) + map_u64_bytes(&f->waiting) +
                (f->waits.cap + f->delays.cap + f->claims.cap) * sizeof(void *);
}
