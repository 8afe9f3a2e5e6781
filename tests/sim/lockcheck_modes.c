/* lockcheck_modes.c - the history of holds by mode and the read-write
 * rules checked on it (lockcheck_modes.h). Holds are found by (lock,
 * session, owner) or by token; a waiter's owner and mode come from its
 * ACQUIRE, remembered when it queued. */
#include "lockcheck_modes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define U(x) ((unsigned long long)(x))

struct hhold {
    uint64_t session;
    uint64_t owner; /* a digest of the owner's bytes */
    uint64_t token;
    uint32_t excl;
    uint32_t shared;
};

struct hlock {
    char name[FSM_NAME_MAX];
    uint32_t name_len;
    struct hhold *h;
    size_t n_h;
    size_t cap_h;
    uint64_t reader_max; /* the largest token of a reader granted */
};

/* A queued ACQUIRE: what its GRANTED event does not say. */
struct hwait {
    uint64_t index;
    uint64_t owner;
    bool shared;
};

struct lockcheck_modes {
    struct hlock *l;
    size_t n_l;
    size_t cap_l;
    struct hwait *w; /* by index */
    size_t n_w;
    size_t cap_w;
    uint64_t shared_grants;
    char *why;
    size_t cap;
    bool bad;
    uint64_t index;
};

struct lockcheck_modes *lockcheck_modes_new(void)
{
    return mem_xcalloc(1, sizeof(struct lockcheck_modes));
}

void lockcheck_modes_free(struct lockcheck_modes *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n_l; i++)
        free(h->l[i].h);
    free(h->l);
    free(h->w);
    free(h);
}

uint64_t lockcheck_modes_shared_grants(const struct lockcheck_modes *h)
{
    return h->shared_grants;
}

static void fail(struct lockcheck_modes *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct lockcheck_modes *h, const char *fmt, ...)
{
    if (h->bad)
        return;
    int n = snprintf(h->why, h->cap, "at %llu: ", U(h->index));
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < h->cap)
        vsnprintf(h->why + n, h->cap - (size_t)n, fmt, ap);
    va_end(ap);
    h->bad = true;
}

static uint64_t owner_digest(const char *p, size_t n)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return x ^ n;
}

static struct hlock *lock_of(struct lockcheck_modes *h, const char *name,
                             uint32_t len)
{
    for (size_t i = 0; i < h->n_l; i++)
        if (h->l[i].name_len == len && memcmp(h->l[i].name, name, len) == 0)
            return &h->l[i];
    if (h->n_l == h->cap_l) {
        h->cap_l = h->cap_l ? 2 * h->cap_l : 8;
        h->l = mem_xrealloc(h->l, h->cap_l * sizeof *h->l);
    }
    struct hlock *l = &h->l[h->n_l++];
    memset(l, 0, sizeof *l);
    memcpy(l->name, name, len);
    l->name_len = len;
    return l;
}

static struct hhold *find(struct hlock *l, uint64_t session, uint64_t owner)
{
    for (size_t k = 0; k < l->n_h; k++)
        if (l->h[k].session == session && l->h[k].owner == owner)
            return &l->h[k];
    return NULL;
}

static struct hhold *find_token(struct hlock *l, uint64_t token)
{
    for (size_t k = 0; k < l->n_h; k++)
        if (l->h[k].token == token)
            return &l->h[k];
    return NULL;
}

static void drop(struct hlock *l, struct hhold *o)
{
    *o = l->h[--l->n_h];
}

/* Never a writer with anyone else. */
static void check_lock(struct lockcheck_modes *h, const struct hlock *l)
{
    if (l->n_h < 2)
        return;
    for (size_t k = 0; k < l->n_h; k++)
        if (l->h[k].excl > 0)
            fail(h,
                 "lock '%.*s' is held exclusively by session %llu (token "
                 "%llu) and by %zu other holds (one: session %llu, token "
                 "%llu)",
                 (int)l->name_len, l->name, U(l->h[k].session),
                 U(l->h[k].token), l->n_h - 1, U(l->h[k == 0].session),
                 U(l->h[k == 0].token));
}

/* A grant of one hold in a mode to (session, owner) with token: a new
 * hold, or one more of an existing hold, which keeps its token. */
static void grant(struct lockcheck_modes *h, struct hlock *l, uint64_t session,
                  uint64_t owner, uint64_t token, bool shared)
{
    struct hhold *o = find(l, session, owner);
    if (o != NULL && o->token != token)
        fail(h,
             "session %llu holds '%.*s' with token %llu and is granted "
             "it again with token %llu",
             U(session), (int)l->name_len, l->name, U(o->token), U(token));
    if (o == NULL) {
        if (!shared && token <= l->reader_max)
            fail(h,
                 "a writer (session %llu) is granted '%.*s' with token "
                 "%llu, not above the token %llu of a reader before it",
                 U(session), (int)l->name_len, l->name, U(token),
                 U(l->reader_max));
        if (l->n_h == l->cap_h) {
            l->cap_h = l->cap_h ? 2 * l->cap_h : 4;
            l->h = mem_xrealloc(l->h, l->cap_h * sizeof *l->h);
        }
        o = &l->h[l->n_h++];
        *o = (struct hhold){.session = session, .owner = owner, .token = token};
    }
    if (shared) {
        o->shared++;
        h->shared_grants++;
        if (o->token > l->reader_max)
            l->reader_max = o->token;
    } else {
        o->excl++;
    }
    check_lock(h, l);
}

/* One hold of (session, owner) in a mode ends; res_holds: those left, as
 * the answer says. */
static void release(struct lockcheck_modes *h, struct hlock *l,
                    uint64_t session, uint64_t owner, bool shared,
                    uint32_t res_holds)
{
    struct hhold *o = find(l, session, owner);
    if (o == NULL || (shared ? o->shared : o->excl) == 0) {
        fail(h,
             "session %llu releases a %s hold of '%.*s' that the history "
             "does not give it",
             U(session), shared ? "shared" : "exclusive", (int)l->name_len,
             l->name);
        return;
    }
    if (shared)
        o->shared--;
    else
        o->excl--;
    if (o->excl + o->shared != res_holds)
        fail(h,
             "session %llu's release of '%.*s' leaves %u holds; the "
             "history gives %u",
             U(session), (int)l->name_len, l->name, res_holds,
             o->excl + o->shared);
    if (o->excl + o->shared == 0)
        drop(l, o);
}

static void queued(struct lockcheck_modes *h, uint64_t index,
                   const struct fsm_cmd *c)
{
    if (h->n_w == h->cap_w) {
        h->cap_w = h->cap_w ? 2 * h->cap_w : 64;
        h->w = mem_xrealloc(h->w, h->cap_w * sizeof *h->w);
    }
    h->w[h->n_w++] =
        (struct hwait){.index = index,
                       .owner = owner_digest(c->owner, c->owner_len),
                       .shared = c->type == FSM_ACQUIRE_SHARED};
}

static const struct hwait *waiter(const struct lockcheck_modes *h,
                                  uint64_t index)
{
    size_t lo = 0, hi = h->n_w;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->w[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->n_w && h->w[lo].index == index ? &h->w[lo] : NULL;
}

/* What the answer to the command itself tells. */
static void result(struct lockcheck_modes *h, uint64_t index,
                   const struct fsm_cmd *c, const struct fsm_result *r)
{
    if (c == NULL || r->replayed)
        return;
    bool shared =
        c->type == FSM_ACQUIRE_SHARED || c->type == FSM_RELEASE_SHARED;
    struct hlock *l = NULL;
    struct hhold *o;
    switch (c->type) {
    case FSM_ACQUIRE:
    case FSM_ACQUIRE_SHARED:
        if (r->status == FSM_QUEUED)
            queued(h, index, c);
        if (r->status != FSM_OK)
            break;
        l = lock_of(h, c->name, c->name_len);
        grant(h, l, c->session ? c->session : r->session,
              owner_digest(c->owner, c->owner_len), r->token, shared);
        break;
    case FSM_RELEASE:
    case FSM_RELEASE_SHARED:
        if (r->status != FSM_OK)
            break;
        l = lock_of(h, c->name, c->name_len);
        if (c->session != 0) {
            release(h, l, c->session, owner_digest(c->owner, c->owner_len),
                    shared, r->holds);
            break;
        }
        o = find_token(l, c->token); /* a lease lock: all its holds */
        if (o == NULL)
            fail(h,
                 "a lease lock of '%.*s' with token %llu is released, "
                 "which the history does not hold",
                 (int)l->name_len, l->name, U(c->token));
        else
            drop(l, o);
        break;
    case FSM_DOWNGRADE:
        if (r->status != FSM_OK)
            break;
        l = lock_of(h, c->name, c->name_len);
        o = find(l, c->session, owner_digest(c->owner, c->owner_len));
        if (o == NULL || o->excl == 0 || o->token != r->token) {
            fail(h,
                 "session %llu downgrades '%.*s' (token %llu), which the "
                 "history does not give it exclusively",
                 U(c->session), (int)l->name_len, l->name, U(r->token));
            break;
        }
        o->shared += o->excl;
        o->excl = 0;
        if (o->token > l->reader_max)
            l->reader_max = o->token;
        break;
    case FSM_CLOSE:
        if (r->status != FSM_OK)
            break;
        for (size_t i = 0; i < h->n_l; i++)
            for (size_t k = h->l[i].n_h; k-- > 0;)
                if (h->l[i].h[k].session == c->session)
                    drop(&h->l[i], &h->l[i].h[k]);
        break;
    default:
        break;
    }
}

/* What the events tell, in their order. */
static void event(struct lockcheck_modes *h, const struct fsm_event *e)
{
    struct hlock *l = lock_of(h, e->name, e->name_len);
    struct hhold *o;
    const struct hwait *w;
    switch (e->type) {
    case FSM_EV_GRANTED:
        w = waiter(h, e->index);
        if (w == NULL) {
            fail(h, "a grant of '%.*s' to the wait %llu, which never queued",
                 (int)l->name_len, l->name, U(e->index));
            break;
        }
        grant(h, l, e->session, w->owner, e->token, w->shared);
        break;
    case FSM_EV_LOST:
        o = find_token(l, e->token);
        if (o == NULL || o->session != e->session)
            fail(h,
                 "session %llu loses '%.*s' with token %llu, which the "
                 "history does not give it",
                 U(e->session), (int)l->name_len, l->name, U(e->token));
        else
            drop(l, o);
        break;
    case FSM_EV_WITHDRAWN:
        o = find_token(l, e->token);
        if (o == NULL || o->session != e->session) {
            fail(h,
                 "the grant of '%.*s' with token %llu to session %llu is "
                 "taken back, which the history does not give it",
                 (int)l->name_len, l->name, U(e->token), U(e->session));
            break;
        }
        if (o->excl > 0)
            o->excl--;
        else
            o->shared--;
        if (o->excl + o->shared == 0)
            drop(l, o);
        break;
    default:
        break;
    }
}

bool lockcheck_modes_apply(struct lockcheck_modes *h, uint64_t index,
                           const struct fsm_cmd *cmd,
                           const struct fsm_result *res,
                           const struct fsm_event *ev, size_t n_ev, char *why,
                           size_t cap)
{
    h->why = why;
    h->cap = cap;
    h->bad = false;
    h->index = index;
    result(h, index, cmd, res);
    for (size_t i = 0; i < n_ev && !h->bad; i++)
        event(h, &ev[i]);
    return !h->bad;
}
