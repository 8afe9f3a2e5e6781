/* fsm_snapshot.c - the lock state machine's state as bytes, and back.
 *
 * The layout is in docs/design.md §11.9. A snapshot is canonical: machines
 * in the same state write the same bytes (sessions by id, held locks by
 * holder in the order acquired, free locks by name, FIFOs in order), and
 * fsm_restore accepts only valid, canonical bytes, so that writing a
 * restored state gives back its input. Restore builds a new state aside and
 * swaps it in only when every check has passed. */
#include "lock/fsm_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/mem.h"

#define MAGIC 0x4d534c44u /* "DLSM" */
/* Version 2 added a held lock's grant, a waiter's gone_until and seen, and
 * the claims; a version 1 snapshot restores with none of them. Version 3
 * added an outcome's fingerprint; an older snapshot's outcomes restore
 * with none (0: any arguments match), one per request id of a table.
 * Version 4 lists the locks and semaphores, then the holds (shared and
 * exclusive, any number to a lock), and a waiter's mode and count; an
 * older snapshot's held locks restore as exclusive holds, its waiters as
 * exclusive. Version 5 added a session's user, the users and whether
 * authentication is on; an older snapshot's sessions have no user, and it
 * has no users. */
#define VERSION 5
/* A last token no machine reaches (2^62 grants), so that ++ never wraps. */
#define TOKEN_LIMIT (UINT64_C(1) << 62)

/* ---- writing ---------------------------------------------------------- */

struct wr {
    uint8_t *p;
    size_t len, cap;
};

static uint8_t *room(struct wr *w, size_t n)
{
    if (w->cap - w->len < n) {
        while (w->cap - w->len < n)
            w->cap = w->cap ? w->cap * 2 : 4096;
        w->p = mem_xrealloc(w->p, w->cap);
    }
    uint8_t *p = w->p + w->len;
    w->len += n;
    return p;
}

static void put8(struct wr *w, uint8_t v)
{
    *room(w, 1) = v;
}

static void put16(struct wr *w, uint16_t v)
{
    le_put16(room(w, 2), v);
}

static void put32(struct wr *w, uint32_t v)
{
    le_put32(room(w, 4), v);
}

static void put64(struct wr *w, uint64_t v)
{
    le_put64(room(w, 8), v);
}

/* A string with a length of lenbytes (1 or 2) bytes. */
static void put_str(struct wr *w, int lenbytes, const char *s, uint32_t n)
{
    if (lenbytes == 1)
        put8(w, (uint8_t)n);
    else
        put16(w, (uint16_t)n);
    if (n > 0)
        memcpy(room(w, n), s, n);
}

static void put_waiters(struct wr *w, const struct fsm_lock *l)
{
    put32(w, l->n_waiters);
    const struct fsm_waiter *x = l->waiters;
    for (uint32_t i = 0; i < l->n_waiters; i++, x = x->next) {
        put64(w, x->session->id);
        put64(w, x->index);
        put64(w, x->deadline);
        put64(w, x->gone_until);
        put64(w, x->seen);
        put32(w, x->delay_ms);
        put8(w, x->shared);
        put32(w, x->count);
        put_str(w, 1, x->data, x->owner_len);
        put_str(w, 1, x->data + x->owner_len, x->req_len);
        put_str(w, 2, x->data + x->owner_len + x->req_len, x->value_len);
    }
}

/* An outcome of a session's table: its session is implied. The key is the
 * req. */
static void put_session_outcome(struct wr *w, const struct fsm_outcome *o)
{
    put8(w, o->type);
    put8(w, o->status);
    put32(w, o->holds);
    put64(w, o->value);
    put64(w, o->fp);
    put_str(w, 1, o->key, o->key_len);
}

static void put_sessions(struct wr *w, const struct fsm *f)
{
    put32(w, (uint32_t)f->sessions.n);
    const struct fsm_session *s = f->first;
    for (size_t i = 0; i < f->sessions.n; i++, s = s->next) {
        put64(w, s->id);
        put64(w, s->ttl);
        put8(w, s->lease_lock);
        put_str(w, 1, s->client, s->client_len);
        put_str(w, 1, FSM_SESSION_USER(s), s->user_len);
        const struct fsm_otable *t = &s->outcomes;
        put16(w, (uint16_t)t->n);
        for (uint32_t k = 0; k < t->n; k++)
            put_session_outcome(w, t->ring[(t->head + k) & (t->cap - 1)]);
    }
}

/* Whether l is listed in the locks: the semaphores, and the locks in
 * lock-delay or with waiters (the others are held, and their holds bring
 * them back). */
static bool listed(const struct fsm_lock *l)
{
    return l->kind != FSM_KIND_LOCK || l->heap_pos != FSM_NOPOS ||
           l->waiters != NULL;
}

/* The locks listed, by name: the lock-delay's end (0: none), the permits
 * (0: a lock) and those held back, and the waiters. */
static void put_locks(struct wr *w, const struct fsm *f)
{
    uint32_t n = 0;
    for (const struct avl_node *x = avl_first(&f->order); x != NULL;
         x = avl_next(x))
        n += listed((const void *)x);
    put32(w, n);
    for (const struct avl_node *x = avl_first(&f->order); x != NULL;
         x = avl_next(x)) {
        const struct fsm_lock *l = (const void *)x;
        if (!listed(l))
            continue;
        put_str(w, 2, l->name, l->name_len);
        put64(w, l->heap_pos != FSM_NOPOS ? l->available_at : 0);
        put32(w, l->permits);
        put32(w, l->expired);
        put8(w, l->kind);
        put_str(w, 2, l->value, l->value_len);
        put_waiters(w, l);
    }
}

/* The holds, by session id, each session's in the order it acquired. */
static void put_holds(struct wr *w, const struct fsm *f)
{
    put32(w, (uint32_t)f->n_held);
    const struct fsm_session *s = f->first;
    for (size_t i = 0; i < f->sessions.n; i++, s = s->next) {
        const struct fsm_hold *h = s->holds;
        for (uint32_t k = 0; k < s->n_holds; k++, h = h->next) {
            put64(w, s->id);
            put_str(w, 2, h->lock->name, h->lock->name_len);
            put_str(w, 1, h->owner, h->owner_len);
            put64(w, h->token);
            put32(w, h->exclusive);
            put32(w, h->shared);
            put32(w, h->delay_ms);
            put64(w, h->grant);
            put32(w, h->grant_count);
        }
    }
}

/* The global tables, oldest first. */
static void put_globals(struct wr *w, const struct fsm *f)
{
    const struct fsm_otable *t = &f->opens;
    put32(w, t->n);
    for (uint32_t k = 0; k < t->n; k++) {
        const struct fsm_outcome *o = t->ring[(t->head + k) & (t->cap - 1)];
        put8(w, o->type);
        put8(w, o->status);
        put32(w, o->holds);
        put64(w, o->session);
        put64(w, o->value);
        put64(w, o->fp);
        put_str(w, 1, o->key, o->key_len);
    }
    t = &f->closes;
    put32(w, t->n);
    for (uint32_t k = 0; k < t->n; k++) {
        const struct fsm_outcome *o = t->ring[(t->head + k) & (t->cap - 1)];
        put64(w, o->session);
        put_str(w, 1, o->key + 8, o->key_len - 8u);
    }
}

static int by_claim(const void *a, const void *b)
{
    return fsm_lock_claim_cmp(*(const struct fsm_claim *const *)a,
                              *(const struct fsm_claim *const *)b);
}

static void put_claims(struct wr *w, const struct fsm *f)
{
    size_t n = f->claims.n;
    const struct fsm_claim **v = mem_xmalloc((n ? n : 1) * sizeof *v);
    if (n > 0)
        memcpy(v, f->claims.v, n * sizeof *v);
    qsort(v, n, sizeof *v, by_claim);
    put32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put64(w, v[i]->until);
        put64(w, v[i]->index);
        put64(w, v[i]->grant);
        put64(w, v[i]->session);
        put_str(w, 2, v[i]->data, v[i]->name_len);
        put_str(w, 1, v[i]->data + v[i]->name_len, v[i]->req_len);
    }
    free(v);
}

/* The users by name (canonical), after whether authentication is on. */
static void put_users(struct wr *w, const struct fsm *f)
{
    size_t n;
    const struct fsm_user **v = fsm_user_sorted(f, &n);
    put8(w, f->auth_on);
    put32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put_str(w, 1, v[i]->name, v[i]->name_len);
        put_str(w, 2, (const char *)v[i]->def, v[i]->def_len);
    }
    free(v);
}

int fsm_snapshot(const struct fsm *f, uint8_t **buf, size_t *len)
{
    struct wr w = {0};
    put32(&w, MAGIC);
    put32(&w, VERSION);
    put64(&w, f->applied);
    put64(&w, f->now);
    put64(&w, f->last_token);
    put_sessions(&w, f);
    put_locks(&w, f);
    put_holds(&w, f);
    put_globals(&w, f);
    put_claims(&w, f);
    put_users(&w, f);
    *buf = w.p;
    *len = w.len;
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

/* Reads fail softly: past the end, or on a check that fails, bad is set and
 * every later read yields zeros, so that loaders check once per record. */
struct rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
    uint32_t version;
};

static bool fail(struct rd *r)
{
    r->bad = true;
    return false;
}

static const uint8_t *take(struct rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        fail(r);
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint8_t get8(struct rd *r)
{
    const uint8_t *p = take(r, 1);
    return p != NULL ? p[0] : 0;
}

static uint16_t get16(struct rd *r)
{
    const uint8_t *p = take(r, 2);
    return p != NULL ? le_get16(p) : 0;
}

static uint32_t get32(struct rd *r)
{
    const uint8_t *p = take(r, 4);
    return p != NULL ? le_get32(p) : 0;
}

static uint64_t get64(struct rd *r)
{
    const uint8_t *p = take(r, 8);
    return p != NULL ? le_get64(p) : 0;
}

/* A string of at most max bytes, its length in lenbytes (1 or 2) bytes. */
static const char *get_str(struct rd *r, int lenbytes, uint32_t max,
                           uint32_t *len)
{
    uint32_t n = lenbytes == 1 ? get8(r) : get16(r);
    const uint8_t *p = n <= max ? take(r, n) : NULL;
    if (p == NULL) {
        fail(r);
        *len = 0;
        return "";
    }
    *len = n;
    return (const char *)p;
}

static bool ttl_ok(uint64_t ttl)
{
    return ttl >= FSM_TTL_MIN && ttl <= FSM_TTL_MAX;
}

/* The statuses a remembered outcome of each type can have. */
static unsigned statuses(uint8_t type, bool global)
{
    switch (type) {
    case FSM_OPEN:
        return global ? 1u << FSM_OK : 0;
    case FSM_ACQUIRE:
        return 1u << FSM_OK | 1u << FSM_HELD | 1u << FSM_QUEUED |
               1u << FSM_TIMEOUT | (global ? 1u << FSM_CANCELED : 0);
    case FSM_ACQUIRE_SHARED: /* never a lease lock's: a session's only */
        return global ? 0
                      : 1u << FSM_OK | 1u << FSM_HELD | 1u << FSM_QUEUED |
                            1u << FSM_TIMEOUT;
    case FSM_RELEASE:
        return 1u << FSM_OK | 1u << FSM_NOTHELD;
    case FSM_RELEASE_SHARED:
    case FSM_DOWNGRADE:
    case FSM_SEM_RELEASE:
        return global ? 0 : 1u << FSM_OK | 1u << FSM_NOTHELD;
    case FSM_SEM_ACQUIRE:
    case FSM_CAMPAIGN:
        return global ? 0
                      : 1u << FSM_OK | 1u << FSM_HELD | 1u << FSM_QUEUED |
                            1u << FSM_TIMEOUT;
    case FSM_PROCLAIM:
    case FSM_RESIGN:
        return global ? 0 : 1u << FSM_OK | 1u << FSM_NOTHELD;
    case FSM_REVOKE:
        return global ? 1u << FSM_OK | 1u << FSM_NOTHELD : 0;
    case FSM_SEM_LEASE: /* a try: never queued */
        return global ? 1u << FSM_OK | 1u << FSM_HELD : 0;
    case FSM_EXTEND:
        return global ? 1u << FSM_OK | 1u << FSM_NOTHELD : 0;
    case FSM_SET_TTL:
        return global ? 0 : 1u << FSM_OK;
    default:
        return 0;
    }
}

static bool outcome_ok(const struct fsm *t, uint8_t type,
                       const struct fsm_outcome *o, bool global)
{
    if (o->status > 31 || !(statuses(type, global) >> o->status & 1))
        return false;
    if (o->status == FSM_OK &&
        (type == FSM_ACQUIRE || type == FSM_ACQUIRE_SHARED ||
         type == FSM_DOWNGRADE || type == FSM_SEM_ACQUIRE ||
         type == FSM_SEM_LEASE || type == FSM_CAMPAIGN ||
         type == FSM_PROCLAIM || type == FSM_REVOKE))
        return o->value >= 1 && o->value <= t->last_token &&
               (o->holds >= 1 || type == FSM_PROCLAIM || type == FSM_REVOKE);
    if (o->status == FSM_OK && type != FSM_RELEASE &&
        type != FSM_RELEASE_SHARED && type != FSM_SEM_RELEASE &&
        type != FSM_RESIGN)
        return ttl_ok(o->value);
    if (o->status == FSM_QUEUED)
        return o->value >= 1 && o->value <= t->applied;
    return true;
}

/* One outcome into t (of a session s, or global), refusing a repeated
 * key. Before version 3 the key was the type and the req: an id there
 * under two types keeps the later outcome, in the earlier one's place. */
static void load_outcome(struct rd *r, struct fsm *f, struct fsm_otable *t,
                         const struct fsm_session *s)
{
    struct fsm_outcome o = {0};
    uint8_t type = get8(r);
    o.type = type;
    o.status = get8(r);
    o.holds = get32(r);
    o.session = s != NULL ? s->id : get64(r);
    o.value = get64(r);
    o.fp = r->version >= 3 ? get64(r) : 0;
    uint32_t len;
    const char *req = get_str(r, 1, FSM_REQ_MAX, &len);
    if (r->bad || len == 0 || !outcome_ok(f, type, &o, s == NULL) ||
        (type == FSM_OPEN && (o.session == 0 || o.session > f->applied))) {
        fail(r);
        return;
    }
    char key[FSM_KEY_MAX];
    uint8_t n = fsm_session_key(key, NULL, 0, req, len);
    struct fsm_outcome *old = fsm_session_otable_find(t, key, n);
    if (old != NULL && r->version >= 3) {
        fail(r);
        return;
    }
    if (old != NULL) {
        old->session = o.session;
        old->value = o.value;
        old->holds = o.holds;
        old->status = o.status;
        old->type = o.type;
        return;
    }
    fsm_session_otable_add(f, t, key, n, &o);
}

/* Room in map for n records of at least size bytes each, if the rest of
 * the input can hold them (a count is not trusted further). */
static void presize(const struct rd *r, uint32_t n, size_t size,
                    struct map_str *ms, struct map_u64 *mu)
{
    if (r->bad || n > (r->len - r->off) / size)
        return;
    if (ms != NULL)
        fsm_xok(map_str_reserve(ms, n));
    if (mu != NULL)
        fsm_xok(map_u64_reserve(mu, n));
}

static void load_sessions(struct rd *r, struct fsm *f)
{
    uint32_t n = get32(r);
    uint64_t prev = 0;
    if (n > f->lim.sessions)
        fail(r);
    presize(r, n, 20, NULL, &f->sessions);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t id = get64(r), ttl = get64(r);
        uint8_t lease = get8(r);
        uint32_t clen;
        const char *client = get_str(r, 1, FSM_CLIENT_MAX, &clen);
        uint32_t ulen = 0;
        const char *user =
            r->version >= 5 ? get_str(r, 1, FSM_USER_MAX, &ulen) : NULL;
        uint16_t n_out = get16(r);
        if (r->bad || id <= prev || id > f->applied || !ttl_ok(ttl) ||
            lease > 1 || (lease && (clen > 0 || n_out > 0)) ||
            n_out > f->lim.session_outcomes) {
            fail(r);
            return;
        }
        prev = id;
        struct fsm_session *s = fsm_session_new(
            f, id, ttl, client, (uint8_t)clen, user, (uint8_t)ulen, lease);
        for (uint16_t k = 0; k < n_out && !r->bad; k++)
            load_outcome(r, f, &s->outcomes, s);
    }
}

static void load_waiters(struct rd *r, struct fsm *f, struct fsm_lock *l)
{
    uint32_t n = get32(r);
    if (n > f->lim.waiters_per_lock)
        fail(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        struct fsm_session *s = fsm_session_get(f, get64(r));
        uint64_t index = get64(r), deadline = get64(r);
        uint64_t gone = r->version >= 2 ? get64(r) : 0;
        uint64_t seen = r->version >= 2 ? get64(r) : index;
        uint32_t delay = get32(r), olen, rlen;
        uint8_t shared = r->version >= 4 ? get8(r) : 0;
        uint32_t count = r->version >= 4 ? get32(r) : 0, vlen = 0;
        const char *owner = get_str(r, 1, FSM_OWNER_MAX, &olen);
        const char *req = get_str(r, 1, FSM_REQ_MAX, &rlen);
        const char *value =
            r->version >= 4 ? get_str(r, 2, FSM_VALUE_MAX, &vlen) : NULL;
        if (r->bad || s == NULL || index == 0 || index > f->applied ||
            seen < index || seen > f->applied || (gone != 0 && rlen == 0) ||
            delay > FSM_DELAY_MAX || shared > 1 ||
            (l->permits > 0 ? !shared || count < 1 || count > l->permits
                            : count != 0) ||
            (vlen > 0 && l->kind != FSM_KIND_ELECTION) ||
            (shared && l->kind == FSM_KIND_ELECTION) ||
            (s->lease_lock && (index != s->id || shared))) {
            fail(r);
            return;
        }
        struct fsm_waiter *w = fsm_lock_enqueue(
            f, l, s, index, deadline, delay, shared, count, owner,
            (uint8_t)olen, req, (uint8_t)rlen, value, (uint16_t)vlen);
        w->seen = seen;
        if (gone != 0)
            fsm_lock_set_gone(f, w, gone);
    }
}

/* A lock's name, new to f. */
static struct fsm_lock *load_name(struct rd *r, struct fsm *f)
{
    uint32_t len;
    const char *name = get_str(r, 2, FSM_NAME_MAX, &len);
    if (r->bad || len == 0 || fsm_lock_get(f, name, len) != NULL) {
        fail(r);
        return NULL;
    }
    return fsm_lock_new(f, name, len);
}

/* Before version 4: the held locks, each with its one (exclusive) hold
 * and its waiters. */
static void load_held(struct rd *r, struct fsm *f)
{
    uint32_t n = get32(r);
    uint64_t prev = 0;
    presize(r, n, 32, &f->locks, NULL);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t id = get64(r);
        struct fsm_session *s = fsm_session_get(f, id);
        struct fsm_lock *l = load_name(r, f);
        uint32_t olen;
        const char *owner = get_str(r, 1, FSM_OWNER_MAX, &olen);
        uint64_t token = get64(r);
        uint32_t holds = get32(r), delay = get32(r);
        uint64_t grant = r->version >= 2 ? get64(r) : 0;
        if (r->bad || s == NULL || id < prev || token == 0 ||
            token > f->last_token || holds == 0 || delay > FSM_DELAY_MAX ||
            !fsm_lock_grant_ok(f, s, grant) ||
            (s->lease_lock && (olen > 0 || holds != 1))) {
            fail(r);
            return;
        }
        prev = id;
        struct fsm_hold *h = fsm_lock_hold(f, l, s, owner, (uint8_t)olen, token,
                                           holds, 0, delay);
        h->grant = grant;
        load_waiters(r, f, l);
    }
}

/* Before version 4: the free locks, in lock-delay, with their waiters. */
static void load_free(struct rd *r, struct fsm *f)
{
    uint32_t n = get32(r);
    const struct fsm_lock *prev = NULL;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        struct fsm_lock *l = load_name(r, f);
        uint64_t at = get64(r);
        if (r->bad || at == 0 ||
            (prev != NULL && fsm_name_cmp(prev->name, prev->name_len, l->name,
                                          l->name_len) >= 0)) {
            fail(r);
            return;
        }
        prev = l;
        fsm_lock_delay(f, l, at);
        load_waiters(r, f, l);
    }
}

/* Version 4: the locks in lock-delay or with waiters, by name. */
static void load_locks(struct rd *r, struct fsm *f)
{
    uint32_t n = get32(r);
    const struct fsm_lock *prev = NULL;
    presize(r, n, 11, &f->locks, NULL);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        struct fsm_lock *l = load_name(r, f);
        uint64_t at = get64(r);
        if (r->bad ||
            (prev != NULL && fsm_name_cmp(prev->name, prev->name_len, l->name,
                                          l->name_len) >= 0)) {
            fail(r);
            return;
        }
        prev = l;
        uint32_t permits = get32(r), expired = get32(r), vlen;
        uint8_t kind = get8(r);
        const char *value = get_str(r, 2, FSM_VALUE_MAX, &vlen);
        if (r->bad || permits > FSM_PERMITS_MAX || kind > FSM_KIND_ELECTION ||
            (kind == FSM_KIND_SEMAPHORE) != (permits > 0) ||
            (vlen > 0 && kind != FSM_KIND_ELECTION) ||
            (permits > 0 ? (expired > 0) != (at != 0) || expired > permits
                         : expired != 0)) {
            fail(r);
            return;
        }
        l->permits = permits;
        l->expired = expired;
        l->kind = kind;
        fsm_lock_set_value(f, l, value, (uint16_t)vlen);
        if (at != 0)
            fsm_lock_delay(f, l, at);
        load_waiters(r, f, l);
        if (!r->bad && !listed(l)) {
            fail(r);
            return;
        }
    }
}

/* Version 4: the holds, by session id, each session's in the order it
 * acquired (a lock not listed is made by its first hold); a (session,
 * owner) holds a lock once. */
static void load_holds(struct rd *r, struct fsm *f)
{
    uint32_t n = get32(r);
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t id = get64(r);
        struct fsm_session *s = fsm_session_get(f, id);
        uint32_t nlen, olen;
        const char *name = get_str(r, 2, FSM_NAME_MAX, &nlen);
        const char *owner = get_str(r, 1, FSM_OWNER_MAX, &olen);
        uint64_t token = get64(r);
        uint32_t exclusive = get32(r), shared = get32(r), delay = get32(r);
        uint64_t grant = get64(r);
        uint32_t grant_count = get32(r);
        struct fsm_lock *l = r->bad || nlen == 0 ? NULL
                             : fsm_lock_get(f, name, nlen) != NULL
                                 ? fsm_lock_get(f, name, nlen)
                                 : fsm_lock_new(f, name, nlen);
        if (r->bad || s == NULL || l == NULL || id < prev || token == 0 ||
            token > f->last_token || exclusive + (uint64_t)shared == 0 ||
            delay > FSM_DELAY_MAX || !fsm_lock_grant_ok(f, s, grant) ||
            (s->lease_lock &&
             !fsm_lease_hold_ok(l->permits, exclusive, shared)) ||
            (l->kind == FSM_KIND_ELECTION &&
             (exclusive != 1 || shared != 0 || l->holds.n > 0)) ||
            (l->permits > 0 ? exclusive != 0 || grant_count > l->permits ||
                                  (uint64_t)l->used + shared > l->permits
                            : grant_count != 0) ||
            fsm_lock_find(l, s, owner, olen) != NULL) {
            fail(r);
            return;
        }
        prev = id;
        struct fsm_hold *h = fsm_lock_hold(f, l, s, owner, (uint8_t)olen, token,
                                           exclusive, shared, delay);
        h->grant = grant;
        h->grant_count = grant_count;
    }
}

static void load_globals(struct rd *r, struct fsm *f)
{
    uint32_t n = get32(r);
    if (n > f->lim.global_outcomes)
        fail(r);
    for (uint32_t i = 0; i < n && !r->bad; i++)
        load_outcome(r, f, &f->opens, NULL);
    n = get32(r);
    if (n > f->lim.global_outcomes)
        fail(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint8_t id[8];
        le_put64(id, get64(r));
        uint32_t len;
        const char *req = get_str(r, 1, FSM_REQ_MAX, &len);
        uint64_t sid = le_get64(id);
        char key[FSM_KEY_MAX];
        uint8_t klen = fsm_session_key(key, id, 8, req, len);
        if (r->bad || len == 0 || sid == 0 || sid > f->applied ||
            fsm_session_get(f, sid) != NULL ||
            fsm_session_otable_find(&f->closes, key, klen) != NULL) {
            fail(r);
            return;
        }
        struct fsm_outcome o = {
            .session = sid, .status = FSM_OK, .type = FSM_CLOSE};
        fsm_session_otable_add(f, &f->closes, key, klen, &o);
    }
}

/* The claims, in canonical order; a repeated one is allowed (two
 * UNWAITs of one grant at one time), and is alike in every way. */
static void load_claims(struct rd *r, struct fsm *f)
{
    uint32_t n = r->version >= 2 ? get32(r) : 0;
    struct fsm_claim *prev = NULL;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t until = get64(r), index = get64(r), grant = get64(r);
        uint64_t session = get64(r);
        uint32_t nlen, rlen;
        const char *name = get_str(r, 2, FSM_NAME_MAX, &nlen);
        const char *req = get_str(r, 1, FSM_REQ_MAX, &rlen);
        struct fsm_claim head = {.index = index,
                                 .grant = grant,
                                 .session = session,
                                 .name_len = (uint16_t)nlen,
                                 .req_len = (uint8_t)rlen};
        if (r->bad || !fsm_lock_claim_ok(f, &head)) {
            fail(r);
            return;
        }
        struct fsm_claim *c =
            fsm_lock_claim_add(f, until, index, grant, session, name,
                               (uint16_t)nlen, req, (uint8_t)rlen);
        if (prev != NULL && fsm_lock_claim_cmp(prev, c) > 0) {
            fail(r);
            return;
        }
        prev = c;
    }
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int by_index(const void *a, const void *b)
{
    const struct fsm_waiter *x = *(struct fsm_waiter *const *)a;
    const struct fsm_waiter *y = *(struct fsm_waiter *const *)b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The tokens of holds are distinct. */
static bool tokens_distinct(const struct fsm *f)
{
    uint64_t *v = mem_xmalloc((f->n_held ? f->n_held : 1) * sizeof *v);
    size_t n = 0;
    const struct fsm_session *s = f->first;
    for (size_t i = 0; i < f->sessions.n; i++, s = s->next) {
        const struct fsm_hold *h = s->holds;
        for (uint32_t k = 0; k < s->n_holds; k++, h = h->next)
            v[n++] = h->token;
    }
    qsort(v, n, sizeof *v, by_u64);
    bool ok = true;
    for (size_t i = 1; i < n && ok; i++)
        ok = v[i] != v[i - 1];
    free(v);
    return ok;
}

/* Waiter indexes are distinct; each session's waits are relinked in index
 * order, the order they were queued in. */
static bool relink_waits(struct fsm *f)
{
    size_t n = f->waits.n;
    struct fsm_waiter **v = mem_xmalloc(n * sizeof *v);
    if (n > 0)
        memcpy(v, f->waits.v, n * sizeof *v);
    qsort(v, n, sizeof *v, by_index);
    bool ok = true;
    for (size_t i = 1; i < n && ok; i++)
        ok = v[i]->index != v[i - 1]->index;
    for (size_t i = 0; i < n; i++)
        v[i]->session->waits = NULL;
    for (size_t i = 0; i < n; i++) {
        struct fsm_waiter *w = v[i];
        struct fsm_session *s = w->session;
        FSM_RING_APPEND(&s->waits, w, sprev, snext);
    }
    free(v);
    return ok;
}

/* Every lock is held or in lock-delay; an exclusive hold is alone; the
 * first waiter of a lock out of lock-delay does not fit (it would have
 * been granted). */
static bool locks_ok(const struct fsm *f)
{
    for (const struct avl_node *x = avl_first(&f->order); x != NULL;
         x = avl_next(x)) {
        const struct fsm_lock *l = (const void *)x;
        const struct fsm_hold *h = fsm_lock_first(l);
        if (h == NULL ? l->heap_pos == FSM_NOPOS
                      : h->exclusive > 0 && l->holds.n > 1)
            return false;
        if (l->waiters != NULL &&
            (l->permits > 0 || l->heap_pos == FSM_NOPOS) &&
            fsm_lock_fits(l, l->waiters->shared, l->waiters->count))
            return false;
        if (l->permits > 0 && (uint64_t)l->used + l->expired > l->permits)
            return false;
        if (l->value_len > 0 && h == NULL)
            return false; /* an election's value is its leader's */
    }
    return true;
}

/* The checks that need the whole state. */
static bool whole_ok(struct fsm *f)
{
    if (!relink_waits(f) || !tokens_distinct(f) || !locks_ok(f))
        return false;
    const struct fsm_session *s = f->first;
    for (size_t i = 0; i < f->sessions.n; i++, s = s->next) {
        uint64_t n = (uint64_t)s->n_holds + s->n_waits;
        if (n > f->lim.locks_per_session ||
            (s->lease_lock && !fsm_lease_counts_ok(s->n_holds, s->n_waits)))
            return false;
    }
    return true;
}

/* The users, in name order, none twice. */
static void load_users(struct rd *r, struct fsm *f)
{
    if (r->version < 5)
        return;
    uint8_t on = get8(r);
    uint32_t n = get32(r);
    if (on > 1 || n > FSM_USERS_MAX || (n > 0 && !on)) {
        fail(r);
        return;
    }
    f->auth_on = on;
    const char *prev = NULL;
    uint32_t prev_len = 0;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint32_t len, dlen;
        const char *name = get_str(r, 1, FSM_USER_MAX, &len);
        const char *def = get_str(r, 2, FSM_DATA_MAX, &dlen);
        if (r->bad ||
            (prev != NULL && fsm_name_cmp(prev, prev_len, name, len) >= 0) ||
            !fsm_user_load(f, name, len, (const uint8_t *)def, dlen)) {
            fail(r);
            return;
        }
        prev = name;
        prev_len = len;
    }
}

static bool load(struct rd *r, struct fsm *f)
{
    if (get32(r) != MAGIC)
        return false;
    r->version = get32(r);
    if (r->version < 1 || r->version > VERSION)
        return false;
    f->applied = get64(r);
    f->now = get64(r);
    f->last_token = get64(r);
    if (f->last_token >= TOKEN_LIMIT)
        return false;
    load_sessions(r, f);
    if (r->version >= 4) {
        load_locks(r, f);
        load_holds(r, f);
    } else {
        load_held(r, f);
        load_free(r, f);
    }
    load_globals(r, f);
    load_claims(r, f);
    load_users(r, f);
    return !r->bad && r->off == r->len && whole_ok(f);
}

int fsm_restore(struct fsm *f, const uint8_t *buf, size_t len)
{
    struct fsm *t = fsm_new_limited(&f->lim);
    struct rd r = {buf, len, 0, false, 0};
    if (!load(&r, t)) {
        fsm_free(t);
        return -1;
    }
    /* Swap the states; the event list and the session changes stay with
     * f. */
    struct fsm old = *f;
    *f = *t;
    f->ev = old.ev;
    f->n_ev = old.n_ev;
    f->cap_ev = old.cap_ev;
    f->arena = old.arena;
    f->sc = old.sc;
    f->n_sc = old.n_sc;
    f->cap_sc = old.cap_sc;
    f->ch = old.ch;
    f->n_ch = old.n_ch;
    f->cap_ch = old.cap_ch;
    f->counts = old.counts; /* what this machine did, not state */
    old.ev = NULL;
    old.n_ev = old.cap_ev = 0;
    old.arena = NULL;
    old.sc = t->sc; /* the restored sessions' own: freed with t */
    old.n_sc = t->n_sc;
    old.cap_sc = t->cap_sc;
    old.ch = t->ch; /* none: a restore records no change */
    old.n_ch = t->n_ch;
    old.cap_ch = t->cap_ch;
    *t = old;
    fsm_free(t);
    return 0;
}
