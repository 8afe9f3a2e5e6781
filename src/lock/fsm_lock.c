/* fsm_lock.c - locks of the state machine: grants and fencing tokens,
 * releases, FIFO waiters, lock-delay, grants taken back from clients that
 * went away, and the three timer heaps (waits by their end, claims by
 * theirs, lock-delays by theirs) that FSM_TICK drains (docs/design.md
 * §11). */
#include "lock/fsm_internal.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* ---- timer heaps ------------------------------------------------------ */

void fsm_heap_init(struct fsm_heap *h, size_t pos_off,
                   bool (*before)(const void *a, const void *b))
{
    memset(h, 0, sizeof *h);
    h->pos_off = pos_off;
    h->before = before;
}

void fsm_heap_close(struct fsm_heap *h)
{
    free(h->v);
    fsm_heap_init(h, h->pos_off, h->before);
}

static uint32_t *pos_of(const struct fsm_heap *h, void *item)
{
    return (uint32_t *)((char *)item + h->pos_off);
}

static void place(struct fsm_heap *h, size_t i, void *item)
{
    h->v[i] = item;
    *pos_of(h, item) = (uint32_t)i;
}

static void sift_up(struct fsm_heap *h, size_t i)
{
    void *item = h->v[i];
    while (i > 0 && h->before(item, h->v[(i - 1) / 2])) {
        place(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    place(h, i, item);
}

static void sift_down(struct fsm_heap *h, size_t i)
{
    void *item = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->before(h->v[c + 1], h->v[c]))
            c++;
        if (!h->before(h->v[c], item))
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, item);
}

void fsm_heap_push(struct fsm_heap *h, void *item)
{
    assert(h->n < FSM_NOPOS);
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->v = mem_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    place(h, h->n++, item);
    sift_up(h, h->n - 1);
}

void fsm_heap_remove(struct fsm_heap *h, void *item)
{
    size_t i = *pos_of(h, item);
    assert(i < h->n && h->v[i] == item);
    *pos_of(h, item) = FSM_NOPOS;
    void *last = h->v[--h->n];
    if (i < h->n) {
        place(h, i, last);
        if (i > 0 && h->before(last, h->v[(i - 1) / 2]))
            sift_up(h, i);
        else
            sift_down(h, i);
    }
    if (h->cap > 64 && h->n < h->cap / 8) {
        h->cap /= 2;
        h->v = mem_xrealloc(h->v, h->cap * sizeof *h->v);
    }
}

uint64_t fsm_lock_wait_end(const struct fsm_waiter *w)
{
    return w->gone_until != 0 && w->gone_until < w->deadline ? w->gone_until
                                                             : w->deadline;
}

/* Equal ends are ordered by index (unique), equal lock-delay ends by name
 * (unique), claims by all they hold (two the same are alike in every
 * way): the order of a TICK's work is a function of the state. */
bool fsm_lock_waiter_before(const void *a, const void *b)
{
    const struct fsm_waiter *x = a, *y = b;
    uint64_t ex = fsm_lock_wait_end(x), ey = fsm_lock_wait_end(y);
    if (ex != ey)
        return ex < ey;
    return x->index < y->index;
}

static int u64_cmp(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

int fsm_lock_claim_cmp(const struct fsm_claim *a, const struct fsm_claim *b)
{
    int c = u64_cmp(a->until, b->until);
    c = c != 0 ? c : u64_cmp(a->index, b->index);
    c = c != 0 ? c : u64_cmp(a->grant, b->grant);
    c = c != 0 ? c : u64_cmp(a->session, b->session);
    c = c != 0 ? c : fsm_name_cmp(a->data, a->name_len, b->data, b->name_len);
    return c != 0 ? c
                  : fsm_name_cmp(a->data + a->name_len, a->req_len,
                                 b->data + b->name_len, b->req_len);
}

bool fsm_lock_claim_before(const void *a, const void *b)
{
    return fsm_lock_claim_cmp(a, b) < 0;
}

bool fsm_lock_delay_before(const void *a, const void *b)
{
    const struct fsm_lock *x = a, *y = b;
    if (x->available_at != y->available_at)
        return x->available_at < y->available_at;
    return fsm_name_cmp(x->name, x->name_len, y->name, y->name_len) < 0;
}

/* ---- locks ------------------------------------------------------------ */

#define LOCK_OF(x) ((const struct fsm_lock *)(const void *)(x))
#define HOLD_OF(x)                                                             \
    ((struct fsm_hold *)(void *)((char *)(x)-offsetof(struct fsm_hold,         \
                                                      by_holder)))

struct fsm_lock *fsm_lock_get(const struct fsm *f, const char *name,
                              uint32_t len)
{
    return map_str_get(&f->locks, name, len);
}

struct fsm_lock *fsm_lock_new(struct fsm *f, const char *name, uint32_t len)
{
    struct fsm_lock *l = fsm_alloc(f, sizeof *l + len);
    memset(l, 0, sizeof *l);
    avl_init(&l->holds);
    l->heap_pos = FSM_NOPOS;
    l->name_len = (uint16_t)len;
    memcpy(l->name, name, len);
    fsm_xok(map_str_put(&f->locks, l->name, len, l));
    avl_insert(&f->order, &l->by_name, fsm_lock_order);
    return l;
}

void fsm_lock_set_value(struct fsm *f, struct fsm_lock *l, const char *value,
                        uint16_t len)
{
    fsm_dealloc(f, l->value, l->value_len);
    l->value = NULL;
    l->value_len = len;
    if (len > 0) {
        l->value = fsm_alloc(f, len);
        memcpy(l->value, value, len);
    }
}

/* A lock free, without waiters and out of lock-delay is forgotten. */
static void forget(struct fsm *f, struct fsm_lock *l)
{
    assert(l->holds.n == 0 && l->waiters == NULL && l->heap_pos == FSM_NOPOS);
    fsm_lock_set_value(f, l, NULL, 0);
    map_str_del(&f->locks, l->name, l->name_len);
    avl_remove(&f->order, &l->by_name);
    fsm_dealloc(f, l, sizeof *l + l->name_len);
}

static int u64_order(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

int fsm_lock_hold_order(const struct avl_node *a, const struct avl_node *b)
{
    const struct fsm_hold *x = HOLD_OF(a), *y = HOLD_OF(b);
    int c = u64_order(x->session->id, y->session->id);
    return c != 0
               ? c
               : fsm_name_cmp(x->owner, x->owner_len, y->owner, y->owner_len);
}

struct hold_key {
    uint64_t session;
    const char *owner;
    uint32_t owner_len;
};

static int hold_key_order(const void *key, const struct avl_node *b)
{
    const struct hold_key *k = key;
    const struct fsm_hold *y = HOLD_OF(b);
    int c = u64_order(k->session, y->session->id);
    return c != 0
               ? c
               : fsm_name_cmp(k->owner, k->owner_len, y->owner, y->owner_len);
}

struct fsm_hold *fsm_lock_find(const struct fsm_lock *l,
                               const struct fsm_session *s, const char *owner,
                               uint32_t owner_len)
{
    struct hold_key k = {s->id, owner, owner_len};
    struct avl_node *x = avl_seek(&l->holds, &k, hold_key_order, 0);
    return x != NULL && hold_key_order(&k, x) == 0 ? HOLD_OF(x) : NULL;
}

struct fsm_hold *fsm_lock_first(const struct fsm_lock *l)
{
    struct avl_node *x = avl_first(&l->holds);
    return x != NULL ? HOLD_OF(x) : NULL;
}

/* An exclusive hold is the lock's only one. */
static bool held_exclusive(const struct fsm_lock *l)
{
    return l->holds.n == 1 && HOLD_OF(l->holds.root)->exclusive > 0;
}

bool fsm_lock_fits(const struct fsm_lock *l, bool shared, uint32_t count)
{
    if (l->permits > 0)
        return (uint64_t)l->used + l->expired + count <= l->permits;
    return shared ? !held_exclusive(l) : l->holds.n == 0;
}

bool fsm_lock_open(const struct fsm *f, const struct fsm_lock *l)
{
    return l->waiters == NULL && l->available_at <= f->now;
}

struct fsm_hold *fsm_lock_hold(struct fsm *f, struct fsm_lock *l,
                               struct fsm_session *s, const char *owner,
                               uint8_t owner_len, uint64_t token,
                               uint32_t exclusive, uint32_t shared,
                               uint32_t delay_ms)
{
    assert(exclusive + (uint64_t)shared > 0);
    struct fsm_hold *h = fsm_alloc(f, sizeof *h + owner_len);
    memset(h, 0, sizeof *h);
    h->lock = l;
    h->session = s;
    h->token = token;
    h->exclusive = exclusive;
    h->shared = shared;
    h->delay_ms = delay_ms;
    h->since = f->now;
    h->owner_len = owner_len;
    if (owner_len > 0)
        memcpy(h->owner, owner, owner_len);
    avl_insert(&l->holds, &h->by_holder, fsm_lock_hold_order);
    FSM_RING_APPEND(&s->holds, h, prev, next);
    if (l->permits > 0)
        l->used += shared;
    s->n_holds++;
    f->n_held++;
    return h;
}

struct fsm_hold *fsm_lock_grant(struct fsm *f, struct fsm_lock *l,
                                struct fsm_session *s, const char *owner,
                                uint8_t owner_len, uint32_t exclusive,
                                uint32_t shared, uint32_t delay_ms)
{
    /* A lock's lock-delay over but not yet ended by a TICK ends now (a
     * semaphore's goes on: it holds back only some permits). */
    if (l->permits == 0 && l->heap_pos != FSM_NOPOS) {
        assert(l->available_at <= f->now);
        fsm_heap_remove(&f->delays, l);
    }
    if (l->permits == 0)
        l->available_at = 0;
    /* One counter for all locks: every grant's token is above every
     * earlier grant's, of any lock, so a writer's is above every earlier
     * reader's. */
    struct fsm_hold *h =
        fsm_lock_hold(f, l, s, owner, owner_len, ++f->last_token, exclusive,
                      shared, delay_ms);
    fsm_lock_changed(f, h, FSM_CH_GRANTED);
    return h;
}

void fsm_lock_changed(struct fsm *f, const struct fsm_hold *h, uint8_t type)
{
    fsm_changed(f, h->lock, type, h->session->id, h->owner, h->owner_len,
                h->token, h->exclusive, h->shared);
}

void fsm_lock_add(struct fsm_lock *l, struct fsm_hold *h, uint32_t n)
{
    h->shared += n;
    if (l->permits > 0)
        l->used += n;
}

void fsm_lock_delay(struct fsm *f, struct fsm_lock *l, uint64_t at)
{
    assert(at > 0);
    if (l->heap_pos != FSM_NOPOS) {
        if (at <= l->available_at)
            return;
        fsm_heap_remove(&f->delays, l);
    }
    l->available_at = at;
    fsm_heap_push(&f->delays, l);
}

/* ---- waiters ---------------------------------------------------------- */

static const char *waiter_owner(const struct fsm_waiter *w)
{
    return w->data;
}

static const char *waiter_req(const struct fsm_waiter *w)
{
    return w->data + w->owner_len;
}

static const char *waiter_value(const struct fsm_waiter *w)
{
    return w->data + w->owner_len + w->req_len;
}

size_t fsm_lock_waiter_size(const struct fsm_waiter *w)
{
    return sizeof *w + w->owner_len + w->req_len + w->value_len;
}

struct fsm_waiter *fsm_lock_enqueue(struct fsm *f, struct fsm_lock *l,
                                    struct fsm_session *s, uint64_t index,
                                    uint64_t deadline, uint32_t delay_ms,
                                    bool shared, uint32_t count,
                                    const char *owner, uint8_t owner_len,
                                    const char *req, uint8_t req_len,
                                    const char *value, uint16_t value_len)
{
    struct fsm_waiter *w =
        fsm_alloc(f, sizeof *w + owner_len + req_len + value_len);
    memset(w, 0, sizeof *w);
    w->lock = l;
    w->session = s;
    w->index = index;
    w->seen = index;
    w->since = f->now;
    w->deadline = deadline;
    w->delay_ms = delay_ms;
    w->shared = shared;
    w->count = count;
    w->owner_len = owner_len;
    w->req_len = req_len;
    if (owner_len > 0)
        memcpy(w->data, owner, owner_len);
    if (req_len > 0)
        memcpy(w->data + owner_len, req, req_len);
    w->value_len = value_len;
    if (value_len > 0)
        memcpy(w->data + owner_len + req_len, value, value_len);
    FSM_RING_APPEND(&l->waiters, w, prev, next);
    FSM_RING_APPEND(&s->waits, w, sprev, snext);
    l->n_waiters++;
    s->n_waits++;
    f->n_waiters++;
    fsm_heap_push(&f->waits, w);
    fsm_xok(map_u64_put(&f->waiting, index, w));
    return w;
}

void fsm_lock_set_gone(struct fsm *f, struct fsm_waiter *w, uint64_t until)
{
    fsm_heap_remove(&f->waits, w);
    w->gone_until = until;
    fsm_heap_push(&f->waits, w);
}

/* Takes w out of its lock's FIFO, its session's waits and the heap, and
 * frees it. */
static void drop_waiter(struct fsm *f, struct fsm_waiter *w)
{
    struct fsm_lock *l = w->lock;
    struct fsm_session *s = w->session;
    FSM_RING_REMOVE(&l->waiters, w, prev, next);
    FSM_RING_REMOVE(&s->waits, w, sprev, snext);
    l->n_waiters--;
    s->n_waits--;
    f->n_waiters--;
    fsm_heap_remove(&f->waits, w);
    map_u64_del(&f->waiting, w->index);
    fsm_dealloc(f, w, fsm_lock_waiter_size(w));
}

static bool is_acquire(uint8_t type)
{
    return type == FSM_ACQUIRE || type == FSM_ACQUIRE_SHARED ||
           type == FSM_SEM_ACQUIRE || type == FSM_CAMPAIGN;
}

/* The remembered outcome of s's ACQUIRE (of either mode) with request id
 * req, if it is (status, value): it becomes (to, value, holds), so that a
 * retry learns it. It may have left its table's FIFO; then nothing. */
static void resolve(struct fsm *f, struct fsm_session *s, const char *req,
                    uint8_t req_len, uint8_t status, uint64_t value, uint8_t to,
                    uint64_t to_value, uint32_t holds)
{
    if (req_len == 0)
        return;
    struct fsm_otable *t = s->lease_lock ? &f->opens : &s->outcomes;
    char key[FSM_KEY_MAX];
    uint8_t n = fsm_session_key(key, NULL, 0, req, req_len);
    struct fsm_outcome *o = fsm_session_otable_find(t, key, n);
    if (o == NULL || !is_acquire(o->type) || o->status != status ||
        o->value != value)
        return;
    o->status = to;
    o->value = to_value;
    o->holds = holds;
}

static uint32_t total(const struct fsm_hold *h)
{
    uint64_t n = (uint64_t)h->exclusive + h->shared;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* The first waiter of l, whose mode fits, gets it: FSM_EV_GRANTED. It
 * joins the hold its session and owner have, if they have one (a second
 * blocking request queued before the first was granted), or takes a new
 * one. A waiter whose client is gone gets it too (a repeat of its ACQUIRE
 * may still learn it), but only until its wait would have ended. */
static void grant_first(struct fsm *f, struct fsm_lock *l)
{
    struct fsm_waiter *w = l->waiters;
    struct fsm_session *s = w->session;
    struct fsm_hold *h = fsm_lock_find(l, s, waiter_owner(w), w->owner_len);
    uint32_t n = l->permits > 0 ? w->count : 1;
    if (h != NULL && total(h) > UINT32_MAX - n) {
        fsm_lock_unwait(f, w, FSM_EV_TIMEOUT); /* 2^32 holds: never */
        return;
    }
    if (l->kind == FSM_KIND_ELECTION)
        fsm_lock_set_value(f, l, waiter_value(w), w->value_len);
    if (h == NULL) {
        h = fsm_lock_grant(f, l, s, waiter_owner(w), w->owner_len,
                           w->shared ? 0 : 1, w->shared ? n : 0, w->delay_ms);
    } else {
        if (w->shared)
            fsm_lock_add(l, h, n);
        else
            h->exclusive++;
        fsm_lock_changed(f, h, FSM_CH_GRANTED); /* joined its hold */
    }
    fsm_change_waited(f, w->since);
    h->grant = w->seen;
    h->grant_count = l->permits > 0 ? n : 0;
    fsm_emit(f, FSM_EV_GRANTED, s->id, h->token, w->index, l->name, l->name_len,
             waiter_req(w), w->req_len);
    resolve(f, s, waiter_req(w), w->req_len, FSM_QUEUED, w->index, FSM_OK,
            h->token, total(h));
    if (w->gone_until != 0)
        fsm_lock_claim(f, h, w->index, w->gone_until, waiter_req(w),
                       w->req_len);
    drop_waiter(f, w);
}

/* After a change to l: its first waiters get it as far as their modes fit,
 * unless it is in lock-delay (a delay over ends at its TICK, so that a late
 * TICK does what timely ones would have); a lock left with nothing is
 * forgotten. */
static void settle(struct fsm *f, struct fsm_lock *l)
{
    if (f->deferring) {
        if (!l->deferred) {
            if (f->n_deferred == f->cap_deferred) {
                f->cap_deferred = f->cap_deferred ? 2 * f->cap_deferred : 16;
                f->deferred = mem_xrealloc(
                    f->deferred, f->cap_deferred * sizeof *f->deferred);
            }
            f->deferred[f->n_deferred++] = l;
            l->deferred = true;
        }
        return;
    }
    while (l->waiters != NULL && (l->permits > 0 || l->heap_pos == FSM_NOPOS) &&
           fsm_lock_fits(l, l->waiters->shared, l->waiters->count))
        grant_first(f, l);
    if (l->holds.n == 0 && l->waiters == NULL && l->heap_pos == FSM_NOPOS)
        forget(f, l);
}

void fsm_lock_unwait(struct fsm *f, struct fsm_waiter *w, uint8_t ev_type)
{
    struct fsm_session *s = w->session;
    struct fsm_lock *l = w->lock;
    bool first = l->waiters == w;
    fsm_emit(f, ev_type, s->id, 0, w->index, l->name, l->name_len,
             waiter_req(w), w->req_len);
    resolve(f, s, waiter_req(w), w->req_len, FSM_QUEUED, w->index,
            ev_type == FSM_EV_TIMEOUT ? FSM_TIMEOUT : FSM_CANCELED, 0, 0);
    drop_waiter(f, w);
    /* The waiters behind a first that could not be granted may fit now (a
     * reader behind a writer that held them back). A lock that has
     * waiters is held or in lock-delay, so it is not forgotten here. */
    if (first)
        settle(f, l);
    assert(l->holds.n > 0 || l->heap_pos != FSM_NOPOS);
    /* A lease-lock session exists for its one lock; with the wait over it
     * has none. */
    if (ev_type == FSM_EV_TIMEOUT && s->lease_lock && s->n_holds == 0 &&
        s->n_waits == 0)
        fsm_session_delete(f, s);
}

/* fsm_lock_drop, recorded as a change of the type given. */
static void drop_as(struct fsm *f, struct fsm_hold *h, bool expired,
                    uint8_t type)
{
    struct fsm_lock *l = h->lock;
    struct fsm_session *s = h->session;
    FSM_RING_REMOVE(&s->holds, h, prev, next);
    s->n_holds--;
    f->n_held--;
    avl_remove(&l->holds, &h->by_holder);
    if (l->kind == FSM_KIND_ELECTION)
        fsm_lock_set_value(f, l, NULL, 0); /* no leader, no value */
    fsm_changed(f, l, type, s->id, h->owner, h->owner_len, h->token, 0, 0);
    fsm_change_held(f, h->since);
    if (expired)
        fsm_emit(f, FSM_EV_LOST, s->id, h->token, 0, l->name, l->name_len, NULL,
                 0);
    uint32_t delay_ms = h->delay_ms, permits = h->shared;
    fsm_dealloc(f, h, sizeof *h + h->owner_len);
    if (l->permits > 0)
        l->used -= permits;
    if (expired && delay_ms > 0 && (l->permits == 0 || permits > 0)) {
        /* A semaphore holds back the expired holder's permits. */
        l->expired += l->permits > 0 ? permits : 0;
        fsm_lock_delay(f, l, fsm_add_sat(f->now, delay_ms));
    }
    settle(f, l);
}

void fsm_lock_drop(struct fsm *f, struct fsm_hold *h, bool expired)
{
    drop_as(f, h, expired, expired ? FSM_CH_LOST : FSM_CH_RELEASED);
}

/* fsm_lock_put, recorded as a change of the type given. */
static uint32_t put_as(struct fsm *f, struct fsm_hold *h, bool shared,
                       uint32_t n, uint8_t type)
{
    struct fsm_lock *l = h->lock;
    if (shared)
        h->shared -= n;
    else
        h->exclusive -= n;
    if (shared && l->permits > 0)
        l->used -= n;
    uint32_t left = total(h);
    if (left == 0) {
        drop_as(f, h, false, type);
        return 0;
    }
    fsm_lock_changed(f, h, type);
    if (l->permits > 0 || (!shared && h->exclusive == 0))
        settle(f, l); /* permits came back, or only shared holds are left:
                         readers fit */
    return left;
}

uint32_t fsm_lock_put(struct fsm *f, struct fsm_hold *h, bool shared,
                      uint32_t n)
{
    return put_as(f, h, shared, n, FSM_CH_RELEASED);
}

void fsm_lock_downgrade(struct fsm *f, struct fsm_hold *h)
{
    h->shared = total(h);
    h->exclusive = 0;
    fsm_lock_changed(f, h, FSM_CH_DOWNGRADED);
    settle(f, h->lock);
}

void fsm_lock_defer(struct fsm *f)
{
    assert(!f->deferring && f->n_deferred == 0);
    f->deferring = true;
}

void fsm_lock_undefer(struct fsm *f)
{
    f->deferring = false;
    /* A settle may defer nothing more now, but it may end waits whose
     * locks then settle at once: the list is read to its end. */
    for (size_t i = 0; i < f->n_deferred; i++) {
        struct fsm_lock *l = f->deferred[i];
        l->deferred = false;
        settle(f, l);
    }
    f->n_deferred = 0;
}

/* The lock-delay of l is over: its first waiters get it as far as they
 * fit, or it is forgotten. */
static void delay_over(struct fsm *f, struct fsm_lock *l)
{
    fsm_heap_remove(&f->delays, l);
    l->available_at = 0;
    l->expired = 0;
    settle(f, l);
}

bool fsm_lock_delay_check(struct fsm *f, struct fsm_lock *l)
{
    if (l->permits == 0 || l->heap_pos == FSM_NOPOS || l->available_at > f->now)
        return true;
    bool gone = l->holds.n == 0 && l->waiters == NULL;
    delay_over(f, l);
    return !gone;
}

/* ---- grants taken back ------------------------------------------------ */

uint32_t fsm_lock_withdraw(struct fsm *f, struct fsm_hold *h, uint64_t index,
                           const char *req, uint8_t req_len)
{
    struct fsm_session *s = h->session;
    struct fsm_lock *l = h->lock;
    fsm_emit(f, FSM_EV_WITHDRAWN, s->id, h->token, index, l->name, l->name_len,
             req, req_len);
    resolve(f, s, req, req_len, FSM_OK, h->token, FSM_TIMEOUT, 0, 0);
    h->grant = 0;
    bool shared = h->exclusive == 0;
    uint32_t n = 1;
    if (l->permits > 0) /* the grant's permits, as far as they are left */
        n = h->grant_count < h->shared ? h->grant_count : h->shared;
    n = n > 0 ? n : 1;
    uint32_t left = total(h) - n;
    if (left == 0 && s->lease_lock && s->n_holds == 1)
        fsm_session_end(f, s, false);
    else
        put_as(f, h, shared, n, FSM_CH_WITHDRAWN);
    return left;
}

struct fsm_claim *fsm_lock_claim_add(struct fsm *f, uint64_t until,
                                     uint64_t index, uint64_t grant,
                                     uint64_t session, const char *name,
                                     uint16_t name_len, const char *req,
                                     uint8_t req_len)
{
    struct fsm_claim *c = fsm_alloc(f, sizeof *c + name_len + req_len);
    memset(c, 0, sizeof *c);
    c->until = until;
    c->index = index;
    c->grant = grant;
    c->session = session;
    c->name_len = name_len;
    c->req_len = req_len;
    memcpy(c->data, name, name_len);
    if (req_len > 0)
        memcpy(c->data + name_len, req, req_len);
    fsm_heap_push(&f->claims, c);
    return c;
}

void fsm_lock_claim(struct fsm *f, const struct fsm_hold *h, uint64_t index,
                    uint64_t until, const char *req, uint8_t req_len)
{
    fsm_lock_claim_add(f, until, index, h->grant, h->session->id, h->lock->name,
                       h->lock->name_len, req, req_len);
}

void fsm_lock_claim_free(struct fsm *f, struct fsm_claim *c)
{
    fsm_dealloc(f, c, sizeof *c + c->name_len + c->req_len);
}

bool fsm_lock_grant_ok(const struct fsm *f, const struct fsm_session *s,
                       uint64_t grant)
{
    return grant == 0 ||
           ((grant > s->id || (s->lease_lock && grant == s->id)) &&
            grant <= f->applied);
}

bool fsm_lock_claim_ok(const struct fsm *f, const struct fsm_claim *c)
{
    return c->index != 0 && c->grant >= c->index && c->grant <= f->applied &&
           c->session != 0 && c->session <= c->index && c->name_len != 0 &&
           c->req_len != 0;
}

struct fsm_hold *fsm_lock_granted_to(const struct fsm_lock *l, uint64_t session,
                                     uint64_t grant)
{
    struct hold_key k = {session, NULL, 0};
    for (struct avl_node *x = avl_seek(&l->holds, &k, hold_key_order, 0);
         x != NULL && HOLD_OF(x)->session->id == session; x = avl_next(x))
        if (HOLD_OF(x)->grant == grant)
            return HOLD_OF(x);
    return NULL;
}

/* The claim c is due: its grant is taken back if nobody learnt it (the
 * lock still held by its session under that grant). */
static void claim_due(struct fsm *f, struct fsm_claim *c)
{
    fsm_heap_remove(&f->claims, c);
    struct fsm_lock *l = fsm_lock_get(f, c->data, c->name_len);
    struct fsm_hold *h =
        l != NULL ? fsm_lock_granted_to(l, c->session, c->grant) : NULL;
    if (h != NULL)
        fsm_lock_withdraw(f, h, c->index, c->data + c->name_len, c->req_len);
    fsm_lock_claim_free(f, c);
}

/* In time order; at equal times a wait ends first, then a claim, then a
 * lock-delay: a late TICK does what timely ones would have done. */
void fsm_lock_tick(struct fsm *f)
{
    for (;;) {
        struct fsm_waiter *w = f->waits.n > 0 ? f->waits.v[0] : NULL;
        struct fsm_claim *c = f->claims.n > 0 ? f->claims.v[0] : NULL;
        struct fsm_lock *l = f->delays.n > 0 ? f->delays.v[0] : NULL;
        uint64_t tw = w != NULL ? fsm_lock_wait_end(w) : UINT64_MAX;
        uint64_t tc = c != NULL ? c->until : UINT64_MAX;
        uint64_t tl = l != NULL ? l->available_at : UINT64_MAX;
        if (w != NULL && tw <= f->now && tw <= tc && tw <= tl)
            fsm_lock_unwait(f, w, FSM_EV_TIMEOUT);
        else if (c != NULL && tc <= f->now && tc <= tl)
            claim_due(f, c);
        else if (l != NULL && tl <= f->now)
            delay_over(f, l);
        else
            break;
    }
}

/* ---- reads ------------------------------------------------------------ */

static void fill_info(const struct fsm_lock *l, struct fsm_lock_info *info)
{
    const struct fsm_hold *h = fsm_lock_first(l);
    *info = (struct fsm_lock_info){
        .name = l->name,
        .name_len = l->name_len,
        .holder = h != NULL ? h->session->id : 0,
        .owner = h != NULL ? h->owner : "",
        .owner_len = h != NULL ? h->owner_len : 0,
        .token = h != NULL ? h->token : 0,
        .holds = h != NULL ? total(h) : 0,
        .waiters = l->n_waiters,
        .available_at = l->heap_pos != FSM_NOPOS ? l->available_at : 0,
        .mode = h == NULL           ? FSM_MODE_NONE
                : held_exclusive(l) ? FSM_MODE_EXCLUSIVE
                                    : FSM_MODE_SHARED,
        .holders = (uint32_t)l->holds.n,
        .permits = l->permits,
        .used = l->used,
        .expired = l->expired,
        .kind = l->kind,
        .value = l->value != NULL ? l->value : "",
        .value_len = l->value_len,
        .held_since = h != NULL ? h->since : 0,
        .waiting_since = l->waiters != NULL ? l->waiters->since : 0,
    };
}

bool fsm_lock_info(const struct fsm *f, const char *name, uint32_t len,
                   struct fsm_lock_info *info)
{
    const struct fsm_lock *l = fsm_lock_get(f, name, len);
    if (l == NULL)
        return false;
    fill_info(l, info);
    return true;
}

struct fsm_hold *fsm_lock_with_token(const struct fsm_lock *l, uint64_t token)
{
    for (struct avl_node *x = avl_first(&l->holds); x != NULL; x = avl_next(x))
        if (HOLD_OF(x)->token == token)
            return HOLD_OF(x);
    return NULL;
}

struct fsm_hold *fsm_lock_lease_of(const struct fsm_lock *l,
                                   const struct fsm_cmd *c)
{
    if (c->owner_len == 0)
        return NULL;
    for (struct avl_node *x = avl_first(&l->holds); x != NULL;
         x = avl_next(x)) {
        struct fsm_hold *h = HOLD_OF(x);
        const struct fsm_session *s = h->session;
        if (s->lease_lock &&
            fsm_bytes_eq(h->owner, h->owner_len, c->owner, c->owner_len) &&
            fsm_bytes_eq(FSM_SESSION_USER(s), s->user_len, c->user,
                         c->user_len))
            return h;
    }
    return NULL;
}

bool fsm_lock_check(const struct fsm *f, const char *name, uint32_t len,
                    uint64_t token)
{
    const struct fsm_lock *l = fsm_lock_get(f, name, len);
    return l != NULL && fsm_lock_with_token(l, token) != NULL;
}

void fsm_lock_holds(const struct fsm *f, const char *name, uint32_t len,
                    uint64_t from,
                    bool (*fn)(void *arg, const struct fsm_hold_info *h),
                    void *arg)
{
    const struct fsm_lock *l = fsm_lock_get(f, name, len);
    if (l == NULL)
        return;
    struct hold_key k = {from, NULL, 0};
    for (struct avl_node *x = avl_seek(&l->holds, &k, hold_key_order, 0);
         x != NULL; x = avl_next(x)) {
        const struct fsm_hold *h = HOLD_OF(x);
        struct fsm_hold_info hi = {.session = h->session->id,
                                   .owner = h->owner,
                                   .owner_len = h->owner_len,
                                   .token = h->token,
                                   .exclusive = h->exclusive,
                                   .shared = h->shared,
                                   .since = h->since};
        if (!fn(arg, &hi))
            return;
    }
}

void fsm_lock_waiters(const struct fsm *f, const char *name, uint32_t len,
                      bool (*fn)(void *arg, const struct fsm_waiter_info *w),
                      void *arg)
{
    const struct fsm_lock *l = fsm_lock_get(f, name, len);
    if (l == NULL)
        return;
    const struct fsm_waiter *w = l->waiters;
    for (uint32_t i = 0; i < l->n_waiters; i++, w = w->next) {
        struct fsm_waiter_info wi = {.session = w->session->id,
                                     .owner = waiter_owner(w),
                                     .owner_len = w->owner_len,
                                     .index = w->index,
                                     .shared = w->shared,
                                     .count = w->count,
                                     .value = waiter_value(w),
                                     .value_len = w->value_len,
                                     .since = w->since};
        if (!fn(arg, &wi))
            return;
    }
}

int fsm_lock_order(const struct avl_node *a, const struct avl_node *b)
{
    const struct fsm_lock *x = LOCK_OF(a), *y = LOCK_OF(b);
    return fsm_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

struct name_key {
    const char *name;
    uint32_t len;
};

static int key_order(const void *key, const struct avl_node *b)
{
    const struct name_key *k = key;
    return fsm_name_cmp(k->name, k->len, LOCK_OF(b)->name,
                        LOCK_OF(b)->name_len);
}

/* A seek in the name index, then a walk: O(log n + what fn is given), so a
 * read never costs what the whole table would (issue 14's stall). */
void fsm_lock_list(const struct fsm *f, const char *prefix, uint32_t len,
                   const char *after, uint32_t after_len,
                   bool (*fn)(void *arg, const struct fsm_lock_info *info),
                   void *arg)
{
    struct name_key from = {prefix, len};
    int strict = 0;
    if (after != NULL && fsm_name_cmp(after, after_len, prefix, len) >= 0) {
        from = (struct name_key){after, after_len};
        strict = 1;
    }
    const struct avl_node *x = avl_seek(&f->order, &from, key_order, strict);
    for (; x != NULL; x = avl_next(x)) {
        const struct fsm_lock *l = LOCK_OF(x);
        if (l->name_len < len || (len > 0 && memcmp(l->name, prefix, len)))
            return; /* past the names that start with prefix */
        struct fsm_lock_info info;
        fill_info(l, &info);
        if (!fn(arg, &info))
            return;
    }
}
