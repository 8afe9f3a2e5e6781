/* fsm_check.c - the lock state machine's invariant checker: every link,
 * count, heap and table agrees with every other (fsm.h: fsm_check). */
#include "lock/acl.h"
#include "lock/fsm_internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct ck {
    char *msg;
    size_t cap;
    bool bad;
};

static bool bad(struct ck *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records the first violation; returns false so callers can return it. */
static bool bad(struct ck *c, const char *fmt, ...)
{
    if (!c->bad && c->msg != NULL && c->cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, c->cap, fmt, ap);
        va_end(ap);
    }
    c->bad = true;
    return false;
}

static bool check_heap(struct ck *c, const struct fsm_heap *h, const char *what)
{
    for (size_t i = 0; i < h->n; i++) {
        uint32_t pos = *(const uint32_t *)((const char *)h->v[i] + h->pos_off);
        if (pos != i)
            return bad(c, "%s heap: item %zu records place %u", what, i, pos);
        if (i > 0 && h->before(h->v[i], h->v[(i - 1) / 2]))
            return bad(c, "%s heap: item %zu before its parent", what, i);
    }
    return true;
}

static bool check_waiters(struct ck *c, const struct fsm *f,
                          const struct fsm_lock *l)
{
    const struct fsm_waiter *w = l->waiters;
    for (uint32_t i = 0; i < l->n_waiters; i++, w = w->next) {
        if (w == NULL || w->lock != l || w->next->prev != w)
            return bad(c, "lock %.*s: broken FIFO at %u", (int)l->name_len,
                       l->name, i);
        if (fsm_session_get(f, w->session->id) != w->session)
            return bad(c, "lock %.*s: waiter of unknown session %llu",
                       (int)l->name_len, l->name,
                       (unsigned long long)w->session->id);
        if (w->heap_pos >= f->waits.n || f->waits.v[w->heap_pos] != w ||
            map_u64_get(&f->waiting, w->index) != w)
            return bad(c, "lock %.*s: waiter %llu not in the heap or table",
                       (int)l->name_len, l->name, (unsigned long long)w->index);
        if ((l->permits > 0
                 ? !w->shared || w->count < 1 || w->count > l->permits
                 : w->count != 0) ||
            (l->kind == FSM_KIND_ELECTION ? w->shared : w->value_len != 0))
            return bad(c, "lock %.*s: waiter %llu for %u permits of %u",
                       (int)l->name_len, l->name, (unsigned long long)w->index,
                       w->count, l->permits);
        if (w->seen < w->index || w->seen > f->applied ||
            (w->gone_until != 0 && w->req_len == 0))
            return bad(
                c, "lock %.*s: waiter %llu seen at %llu, gone until %llu",
                (int)l->name_len, l->name, (unsigned long long)w->index,
                (unsigned long long)w->seen, (unsigned long long)w->gone_until);
    }
    if (w != l->waiters)
        return bad(c, "lock %.*s: %u waiters counted, more linked",
                   (int)l->name_len, l->name, l->n_waiters);
    return true;
}

#define HOLD_AT(x)                                                             \
    ((const struct fsm_hold *)(const void *)((const char *)(x)-offsetof(       \
        struct fsm_hold, by_holder)))

/* The holds of l: indexed in order, each of a known session with a token
 * and at least one hold; an exclusive one alone. */
static bool check_holds(struct ck *c, const struct fsm *f,
                        const struct fsm_lock *l, uint64_t *held)
{
    if (avl_check(&l->holds, fsm_lock_hold_order) != 0)
        return bad(c, "lock %.*s: the index of its holds is broken",
                   (int)l->name_len, l->name);
    bool exclusive = false;
    uint64_t used = 0;
    for (const struct avl_node *x = avl_first(&l->holds); x != NULL;
         x = avl_next(x)) {
        const struct fsm_hold *h = HOLD_AT(x);
        (*held)++;
        if (h->lock != l || fsm_session_get(f, h->session->id) != h->session)
            return bad(c,
                       "lock %.*s: a hold of another lock or an unknown "
                       "session",
                       (int)l->name_len, l->name);
        if (h->token == 0 || h->token > f->last_token ||
            h->exclusive + (uint64_t)h->shared == 0 ||
            !fsm_lock_grant_ok(f, h->session, h->grant))
            return bad(c,
                       "lock %.*s: held with token %llu, %u+%u holds, grant "
                       "%llu",
                       (int)l->name_len, l->name, (unsigned long long)h->token,
                       h->exclusive, h->shared, (unsigned long long)h->grant);
        if (l->permits > 0 ? h->grant_count > l->permits : h->grant_count != 0)
            return bad(c, "lock %.*s: a hold's grant of %u permits",
                       (int)l->name_len, l->name, h->grant_count);
        if (h->session->lease_lock &&
            !fsm_lease_hold_ok(l->permits, h->exclusive, h->shared))
            return bad(c,
                       "lock %.*s: a lease lock's hold that is not one "
                       "exclusive hold (or a lease semaphore's permits)",
                       (int)l->name_len, l->name);
        exclusive = exclusive || h->exclusive > 0;
        used += h->shared;
    }
    if (exclusive && l->holds.n != 1)
        return bad(c, "lock %.*s: an exclusive hold beside %zu others",
                   (int)l->name_len, l->name, l->holds.n - 1);
    if (l->permits > 0 && (exclusive || used != l->used ||
                           (uint64_t)l->used + l->expired > l->permits ||
                           l->permits > FSM_PERMITS_MAX ||
                           (l->expired > 0) != (l->heap_pos != FSM_NOPOS)))
        return bad(c,
                   "semaphore %.*s: %u permits, %u used (holds: %llu), %u "
                   "held back",
                   (int)l->name_len, l->name, l->permits, l->used,
                   (unsigned long long)used, l->expired);
    if (l->permits == 0 && (l->used != 0 || l->expired != 0))
        return bad(c, "lock %.*s: permits counted", (int)l->name_len, l->name);
    if ((l->kind == FSM_KIND_SEMAPHORE) != (l->permits > 0) ||
        l->kind > FSM_KIND_ELECTION ||
        (l->kind == FSM_KIND_ELECTION
             ? l->holds.n > 1 || (l->holds.n == 1 && !exclusive) ||
                   (l->value_len > 0) != (l->value != NULL) ||
                   (l->value != NULL && l->holds.n == 0) ||
                   l->value_len > FSM_VALUE_MAX
             : l->value != NULL || l->value_len != 0))
        return bad(c, "lock %.*s: of kind %u with %zu holds, a value of %u",
                   (int)l->name_len, l->name, l->kind, l->holds.n,
                   l->value_len);
    return true;
}

static bool check_lock(struct ck *c, const struct fsm *f,
                       const struct fsm_lock *l, uint64_t *held)
{
    if (fsm_lock_get(f, l->name, l->name_len) != l)
        return bad(c, "lock %.*s: not under its name", (int)l->name_len,
                   l->name);
    if (!check_holds(c, f, l, held))
        return false;
    if (l->heap_pos != FSM_NOPOS
            ? l->heap_pos >= f->delays.n || f->delays.v[l->heap_pos] != l ||
                  l->available_at == 0
            : l->available_at != 0)
        return bad(c, "lock %.*s: lock-delay until %llu, heap place %u",
                   (int)l->name_len, l->name,
                   (unsigned long long)l->available_at, l->heap_pos);
    if (l->holds.n == 0 && l->heap_pos == FSM_NOPOS)
        return bad(c, "lock %.*s: free but not in lock-delay", (int)l->name_len,
                   l->name);
    if (l->waiters != NULL && (l->permits > 0 || l->heap_pos == FSM_NOPOS) &&
        fsm_lock_fits(l, l->waiters->shared, l->waiters->count))
        return bad(c, "lock %.*s: its first waiter fits but waits",
                   (int)l->name_len, l->name);
    return check_waiters(c, f, l);
}

/* Every outcome of t is found by its key, and is of a type the table
 * keeps (types: a mask of 1 << type); only a CLOSE's key is all that
 * defines its request (no fingerprint). */
static bool check_otable(struct ck *c, const struct fsm_otable *t,
                         unsigned types, const char *what)
{
    if (t->n > t->max || (t->index != NULL && t->index->n != t->n))
        return bad(c, "%s: %u outcomes, %zu indexed", what, t->n,
                   t->index != NULL ? t->index->n : 0);
    for (uint32_t i = 0; i < t->n; i++) {
        const struct fsm_outcome *o = t->ring[(t->head + i) & (t->cap - 1)];
        if (fsm_session_otable_find(t, o->key, o->key_len) != o)
            return bad(c, "%s: outcome %u not found by its key", what, i);
        if (o->type > FSM_CMD_MAX || !(types >> o->type & 1) ||
            (o->type == FSM_CLOSE && o->fp != 0))
            return bad(c, "%s: outcome %u of type %u, fingerprint %llx", what,
                       i, o->type, (unsigned long long)o->fp);
    }
    return true;
}

static bool check_session(struct ck *c, const struct fsm_session *s)
{
    const struct fsm_hold *h = s->holds;
    for (uint32_t i = 0; i < s->n_holds; i++, h = h->next)
        if (h == NULL || h->session != s || h->next->prev != h ||
            fsm_lock_find(h->lock, s, h->owner, h->owner_len) != h)
            return bad(c, "session %llu: broken list of holds",
                       (unsigned long long)s->id);
    if (h != s->holds)
        return bad(c, "session %llu: %u holds counted, more linked",
                   (unsigned long long)s->id, s->n_holds);
    const struct fsm_waiter *w = s->waits;
    for (uint32_t i = 0; i < s->n_waits; i++, w = w->snext) {
        if (w == NULL || w->session != s || w->snext->sprev != w)
            return bad(c, "session %llu: broken list of waits",
                       (unsigned long long)s->id);
        if (i > 0 && w->sprev->index >= w->index)
            return bad(c, "session %llu: waits out of order",
                       (unsigned long long)s->id);
    }
    if (w != s->waits)
        return bad(c, "session %llu: %u waits counted, more linked",
                   (unsigned long long)s->id, s->n_waits);
    /* A lease-lock session waits for its one lock, or holds its locks
     * (one, or a LEASES command's several). */
    if (s->lease_lock && !fsm_lease_counts_ok(s->n_holds, s->n_waits))
        return bad(c, "lease session %llu: %u holds, %u waits",
                   (unsigned long long)s->id, s->n_holds, s->n_waits);
    if (s->lease_lock && s->outcomes.n > 0)
        return bad(c, "lease session %llu: remembers outcomes",
                   (unsigned long long)s->id);
    return check_otable(c, &s->outcomes,
                        1u << FSM_ACQUIRE | 1u << FSM_RELEASE |
                            1u << FSM_SET_TTL | 1u << FSM_ACQUIRE_SHARED |
                            1u << FSM_RELEASE_SHARED | 1u << FSM_DOWNGRADE |
                            1u << FSM_SEM_ACQUIRE | 1u << FSM_SEM_RELEASE |
                            1u << FSM_CAMPAIGN | 1u << FSM_PROCLAIM |
                            1u << FSM_RESIGN,
                        "a session's outcomes");
}

static bool check_sessions(struct ck *c, const struct fsm *f)
{
    const struct fsm_session *s = f->first;
    uint64_t waits = 0, held = 0;
    for (size_t i = 0; i < f->sessions.n; i++, s = s->next) {
        if (s == NULL || fsm_session_get(f, s->id) != s || s->next->prev != s ||
            (i > 0 && s->prev->id >= s->id))
            return bad(c, "session list broken at %zu", i);
        if (!check_session(c, s))
            return false;
        waits += s->n_waits;
        held += s->n_holds;
    }
    if (s != f->first)
        return bad(c, "%zu sessions in the map, more listed", f->sessions.n);
    if (waits != f->n_waiters || held != f->n_held)
        return bad(c,
                   "sessions count %llu waits, %llu held; the machine "
                   "%llu, %llu",
                   (unsigned long long)waits, (unsigned long long)held,
                   (unsigned long long)f->n_waiters,
                   (unsigned long long)f->n_held);
    return true;
}

/* The tokens of holds are distinct. */
static bool check_tokens(struct ck *c, const struct fsm *f)
{
    struct map_u64 m;
    map_u64_init(&m);
    bool ok = true;
    const struct fsm_session *s = f->first;
    for (size_t i = 0; i < f->sessions.n && ok; i++, s = s->next) {
        const struct fsm_hold *h = s->holds;
        for (uint32_t k = 0; k < s->n_holds && ok; k++, h = h->next) {
            ok = map_u64_get(&m, h->token) == NULL;
            fsm_xok(map_u64_put(&m, h->token, (void *)h));
        }
    }
    map_u64_close(&m);
    return ok || bad(c, "two holds share a token");
}

/* The name index holds exactly the locks of the table, in order. */
static bool check_order(struct ck *c, const struct fsm *f)
{
    if (avl_check(&f->order, fsm_lock_order) != 0)
        return bad(c, "the name index is broken");
    if (f->order.n != f->locks.n)
        return bad(c, "%zu locks in the name index, %zu in the table",
                   f->order.n, f->locks.n);
    for (const struct avl_node *x = avl_first(&f->order); x != NULL;
         x = avl_next(x)) {
        const struct fsm_lock *l = (const void *)x;
        if (map_str_get(&f->locks, l->name, l->name_len) != l)
            return bad(c, "lock '%.*s' in the name index, not in the table",
                       (int)l->name_len, l->name);
    }
    return true;
}

/* Claims name a grant of a real ACQUIRE, with its request id. */
static bool check_claims(struct ck *c, const struct fsm *f)
{
    for (size_t i = 0; i < f->claims.n; i++) {
        const struct fsm_claim *x = f->claims.v[i];
        if (!fsm_lock_claim_ok(f, x))
            return bad(c, "claim %zu: index %llu, session %llu", i,
                       (unsigned long long)x->index,
                       (unsigned long long)x->session);
    }
    return true;
}

/* Every user has a valid name and definition, under its name; users mean
 * authentication is on. */
static bool check_users(struct ck *c, const struct fsm *f)
{
    if (f->users.n > 0 && !f->auth_on)
        return bad(c, "%zu users, authentication off", f->users.n);
    if (f->users.n > FSM_USERS_MAX)
        return bad(c, "%zu users", f->users.n);
    size_t pos = 0;
    const char *key;
    uint32_t klen;
    const struct fsm_user *u;
    while ((u = map_str_next(&f->users, &pos, &key, &klen)) != NULL) {
        struct acl_def d;
        if (key != u->name || klen != u->name_len ||
            !acl_user_ok(u->name, u->name_len) ||
            acl_decode(&d, u->def, u->def_len, false) != 0)
            return bad(c, "user %.*s: a bad name or definition",
                       (int)u->name_len, u->name);
    }
    return true;
}

bool fsm_check(const struct fsm *f, char *msg, size_t cap)
{
    struct ck c = {msg, cap, false};
    if (msg != NULL && cap > 0)
        msg[0] = '\0';
    if (!check_heap(&c, &f->waits, "waits") ||
        !check_heap(&c, &f->delays, "delays") ||
        !check_heap(&c, &f->claims, "claims") || !check_claims(&c, f) ||
        !check_sessions(&c, f) || !check_users(&c, f))
        return false;
    uint64_t held = 0;
    size_t pos = 0;
    const struct fsm_lock *l;
    while ((l = map_str_next(&f->locks, &pos, NULL, NULL)) != NULL)
        if (!check_lock(&c, f, l, &held))
            return false;
    if (held != f->n_held)
        return bad(&c, "%llu holds, %llu counted", (unsigned long long)held,
                   (unsigned long long)f->n_held);
    if (f->waits.n != f->n_waiters || f->waiting.n != f->n_waiters)
        return bad(&c,
                   "%zu waiters in the heap, %zu in the table, %llu counted",
                   f->waits.n, f->waiting.n, (unsigned long long)f->n_waiters);
    if (f->last_token >= (UINT64_C(1) << 62))
        return bad(&c, "last token %llu", (unsigned long long)f->last_token);
    return check_otable(&c, &f->opens,
                        1u << FSM_OPEN | 1u << FSM_ACQUIRE | 1u << FSM_RELEASE |
                            1u << FSM_EXTEND | 1u << FSM_REVOKE |
                            1u << FSM_SEM_LEASE,
                        "global outcomes") &&
           check_otable(&c, &f->closes, 1u << FSM_CLOSE, "closes") &&
           check_tokens(&c, f) && check_order(&c, f);
}
