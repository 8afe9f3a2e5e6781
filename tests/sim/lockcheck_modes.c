/* lockcheck_modes.c - the history of holds by mode and the rules checked
 * on it (lockcheck_modes.h): read-write locks, semaphores, elections and
 * revoke. Holds are found by (lock, session, owner) or by token; a
 * waiter's owner, mode, kind and count come from its acquire, remembered
 * when it queued. */
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
    uint32_t shared;     /* a semaphore's: permits */
    uint32_t last_count; /* a semaphore's: the permits of its last grant */
};

struct hlock {
    char name[FSM_NAME_MAX];
    uint32_t name_len;
    struct hhold *h;
    size_t n_h;
    size_t cap_h;
    uint64_t reader_max; /* the largest token of a reader granted */
    uint8_t kind;        /* of its holds, while it has any */
    uint64_t permits;    /* a semaphore's N, as its grants tell */
    uint64_t leader_max; /* an election's: the latest leader's token */
};

/* A queued ACQUIRE: what its GRANTED event does not say. */
struct hwait {
    uint64_t index;
    uint64_t owner;
    bool shared;
    uint8_t kind;
    uint32_t count;   /* a SEM_ACQUIRE's */
    uint64_t permits; /* a SEM_ACQUIRE's */
};

struct lockcheck_modes {
    struct hlock *l;
    size_t n_l;
    size_t cap_l;
    struct hwait *w; /* by index */
    size_t n_w;
    size_t cap_w;
    struct lockcheck_modes_counts n;
    uint64_t token_max; /* of every hold granted */
    uint64_t *revoked;  /* tokens of holds revoked */
    size_t n_rv;
    size_t cap_rv;
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
    free(h->revoked);
    free(h);
}

void lockcheck_modes_counts(const struct lockcheck_modes *h,
                            struct lockcheck_modes_counts *n)
{
    *n = h->n;
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

static const char *kind_name(uint8_t kind)
{
    return kind == FSM_KIND_SEMAPHORE  ? "semaphore"
           : kind == FSM_KIND_ELECTION ? "election"
                                       : "lock";
}

static bool is_revoked(const struct lockcheck_modes *h, uint64_t token)
{
    for (size_t i = 0; i < h->n_rv; i++)
        if (h->revoked[i] == token)
            return true;
    return false;
}

/* A hold revoked is never used after: no answer carries its token. */
static void not_revoked(struct lockcheck_modes *h, const char *what,
                        uint64_t token)
{
    if (token != 0 && is_revoked(h, token))
        fail(h, "%s with token %llu, whose hold was revoked", what, U(token));
}

/* Never a writer with anyone else; never two leaders; never more permits
 * held than a semaphore has. */
static void check_lock(struct lockcheck_modes *h, const struct hlock *l)
{
    if (l->kind == FSM_KIND_SEMAPHORE) {
        uint64_t used = 0;
        for (size_t k = 0; k < l->n_h; k++)
            used += l->h[k].shared;
        if (used > l->permits)
            fail(h, "semaphore '%.*s' of %llu permits has %llu held",
                 (int)l->name_len, l->name, U(l->permits), U(used));
        return;
    }
    if (l->n_h < 2)
        return;
    if (l->kind == FSM_KIND_ELECTION)
        fail(h,
             "election '%.*s' has %zu leaders (one: session %llu, token "
             "%llu; another: session %llu, token %llu)",
             (int)l->name_len, l->name, l->n_h, U(l->h[0].session),
             U(l->h[0].token), U(l->h[1].session), U(l->h[1].token));
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

/* What a grant is: its kind, mode and count (a semaphore's permits). */
struct hgrant {
    uint8_t kind;
    bool shared;
    uint32_t count;
    uint64_t permits;
};

/* A new hold of l: its token above every earlier hold's (a writer's above
 * every earlier reader's of its lock, a leader's above the leader's
 * before it), and of the kind of the holds l has. */
static struct hhold *new_hold(struct lockcheck_modes *h, struct hlock *l,
                              uint64_t session, uint64_t owner, uint64_t token,
                              const struct hgrant *g)
{
    if (l->n_h > 0 && l->kind != g->kind)
        fail(h, "'%.*s' is held as a %s and granted as a %s (token %llu)",
             (int)l->name_len, l->name, kind_name(l->kind), kind_name(g->kind),
             U(token));
    if (l->n_h > 0 && g->kind == FSM_KIND_SEMAPHORE && l->permits != g->permits)
        fail(h,
             "semaphore '%.*s' of %llu permits is granted to an acquire "
             "of %llu permits",
             (int)l->name_len, l->name, U(l->permits), U(g->permits));
    if (l->n_h == 0) {
        l->kind = g->kind;
        l->permits = g->permits;
    }
    if (g->kind == FSM_KIND_LOCK && !g->shared && token <= l->reader_max)
        fail(h,
             "a writer (session %llu) is granted '%.*s' with token "
             "%llu, not above the token %llu of a reader before it",
             U(session), (int)l->name_len, l->name, U(token), U(l->reader_max));
    if (g->kind == FSM_KIND_ELECTION && token <= l->leader_max)
        fail(h,
             "session %llu leads '%.*s' with token %llu, not above the "
             "token %llu of the leader before it",
             U(session), (int)l->name_len, l->name, U(token), U(l->leader_max));
    if (token <= h->token_max)
        fail(h, "a new hold of '%.*s' has token %llu, not above %llu",
             (int)l->name_len, l->name, U(token), U(h->token_max));
    if (g->kind == FSM_KIND_ELECTION && token > l->leader_max)
        l->leader_max = token;
    if (token > h->token_max)
        h->token_max = token;
    if (l->n_h == l->cap_h) {
        l->cap_h = l->cap_h ? 2 * l->cap_h : 4;
        l->h = mem_xrealloc(l->h, l->cap_h * sizeof *l->h);
    }
    struct hhold *o = &l->h[l->n_h++];
    *o = (struct hhold){.session = session, .owner = owner, .token = token};
    return o;
}

/* A grant g to (session, owner) with token: a new hold, or one more of an
 * existing hold (a semaphore's: count permits more), which keeps its
 * token. */
static void grant(struct lockcheck_modes *h, struct hlock *l, uint64_t session,
                  uint64_t owner, uint64_t token, const struct hgrant *g)
{
    not_revoked(h, "a grant", token);
    struct hhold *o = find(l, session, owner);
    if (o != NULL && o->token != token)
        fail(h,
             "session %llu holds '%.*s' with token %llu and is granted "
             "it again with token %llu",
             U(session), (int)l->name_len, l->name, U(o->token), U(token));
    if (o != NULL && l->kind != g->kind)
        fail(h, "'%.*s' is held as a %s and granted again as a %s",
             (int)l->name_len, l->name, kind_name(l->kind), kind_name(g->kind));
    if (o == NULL)
        o = new_hold(h, l, session, owner, token, g);
    h->n.permits += g->kind == FSM_KIND_SEMAPHORE;
    h->n.leaders += g->kind == FSM_KIND_ELECTION;
    if (g->kind == FSM_KIND_SEMAPHORE) {
        o->shared += g->count;
        o->last_count = g->count;
    } else if (g->shared) {
        o->shared++;
        h->n.shared++;
        if (o->token > l->reader_max)
            l->reader_max = o->token;
    } else {
        o->excl++;
    }
    check_lock(h, l);
}

/* n holds of (session, owner) in a mode end (a semaphore's: n permits);
 * res_holds: those left, as the answer says. */
static void release(struct lockcheck_modes *h, struct hlock *l,
                    uint64_t session, uint64_t owner, bool shared, uint32_t n,
                    uint32_t res_holds)
{
    struct hhold *o = find(l, session, owner);
    if (o == NULL || (shared ? o->shared : o->excl) < n) {
        fail(h,
             "session %llu releases %u %s holds of '%.*s' that the history "
             "does not give it",
             U(session), n, shared ? "shared" : "exclusive", (int)l->name_len,
             l->name);
        return;
    }
    if (shared)
        o->shared -= n;
    else
        o->excl -= n;
    if (o->excl + o->shared != res_holds)
        fail(h,
             "session %llu's release of '%.*s' leaves %u holds; the "
             "history gives %u",
             U(session), (int)l->name_len, l->name, res_holds,
             o->excl + o->shared);
    if (o->excl + o->shared == 0)
        drop(l, o);
}

static uint8_t kind_of(uint8_t type)
{
    return type == FSM_SEM_ACQUIRE ? FSM_KIND_SEMAPHORE
           : type == FSM_CAMPAIGN  ? FSM_KIND_ELECTION
                                   : FSM_KIND_LOCK;
}

static struct hgrant grant_of(const struct fsm_cmd *c)
{
    return (struct hgrant){.kind = kind_of(c->type),
                           .shared = c->type == FSM_ACQUIRE_SHARED ||
                                     c->type == FSM_SEM_ACQUIRE,
                           .count = (uint32_t)c->count,
                           .permits = c->permits};
}

static void queued(struct lockcheck_modes *h, uint64_t index,
                   const struct fsm_cmd *c)
{
    if (h->n_w == h->cap_w) {
        h->cap_w = h->cap_w ? 2 * h->cap_w : 64;
        h->w = mem_xrealloc(h->w, h->cap_w * sizeof *h->w);
    }
    struct hgrant g = grant_of(c);
    h->w[h->n_w++] =
        (struct hwait){.index = index,
                       .owner = owner_digest(c->owner, c->owner_len),
                       .shared = g.shared,
                       .kind = g.kind,
                       .count = g.count,
                       .permits = g.permits};
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

/* An acquire of any kind answered: queued, or granted (the leader
 * campaigning again changes nothing). */
static void acquired(struct lockcheck_modes *h, uint64_t index,
                     const struct fsm_cmd *c, const struct fsm_result *r)
{
    if (r->status == FSM_QUEUED)
        queued(h, index, c);
    if (r->status != FSM_OK)
        return;
    struct hlock *l = lock_of(h, c->name, c->name_len);
    uint64_t session = c->session ? c->session : r->session;
    uint64_t owner = owner_digest(c->owner, c->owner_len);
    struct hhold *o = find(l, session, owner);
    struct hgrant g = grant_of(c);
    if (c->type == FSM_CAMPAIGN && o != NULL && o->token == r->token) {
        not_revoked(h, "a leader campaigns again", r->token);
        return;
    }
    grant(h, l, session, owner, r->token, &g);
    o = find(l, session, owner);
    if (c->type == FSM_SEM_ACQUIRE && o != NULL && o->shared != r->holds)
        fail(h,
             "session %llu holds %u permits of '%.*s' by its acquire's "
             "answer; the history gives %u",
             U(session), r->holds, (int)l->name_len, l->name, o->shared);
}

/* A proclaim is accepted only from the leader, under its token. */
static void proclaimed(struct lockcheck_modes *h, const struct fsm_cmd *c)
{
    struct hlock *l = lock_of(h, c->name, c->name_len);
    const struct hhold *o = l->n_h == 1 ? &l->h[0] : NULL;
    not_revoked(h, "a proclaim accepted", c->token);
    if (o == NULL || l->kind != FSM_KIND_ELECTION || o->session != c->session ||
        o->token != c->token)
        fail(h,
             "a proclaim on '%.*s' by session %llu with token %llu is "
             "accepted; the history's leader is session %llu with token "
             "%llu",
             (int)l->name_len, l->name, U(c->session), U(c->token),
             U(o ? o->session : 0), U(o ? o->token : 0));
}

/* A revoke names a hold the history has; its token is never used after
 * (its end comes as LOST, among the command's events). */
static void revoked(struct lockcheck_modes *h, const struct fsm_cmd *c,
                    const struct fsm_result *r)
{
    struct hlock *l = lock_of(h, c->name, c->name_len);
    const struct hhold *o = find_token(l, r->token);
    if (o == NULL || o->session != r->session || r->token != c->token)
        fail(h,
             "a revoke of '%.*s' ends the hold of session %llu with token "
             "%llu, which the history does not give it",
             (int)l->name_len, l->name, U(r->session), U(r->token));
    if (h->n_rv == h->cap_rv) {
        h->cap_rv = h->cap_rv ? 2 * h->cap_rv : 16;
        h->revoked = mem_xrealloc(h->revoked, h->cap_rv * sizeof *h->revoked);
    }
    h->revoked[h->n_rv++] = r->token;
}

/* What the answer to the command itself tells. */
static void result(struct lockcheck_modes *h, uint64_t index,
                   const struct fsm_cmd *c, const struct fsm_result *r)
{
    if (c == NULL || r->replayed)
        return;
    h->n.kinds += r->status == FSM_KIND;
    h->n.proclaims += c->type == FSM_PROCLAIM && r->status == FSM_OK;
    h->n.revokes += c->type == FSM_REVOKE && r->status == FSM_OK;
    bool shared =
        c->type == FSM_ACQUIRE_SHARED || c->type == FSM_RELEASE_SHARED;
    struct hlock *l = NULL;
    struct hhold *o;
    if (r->status == FSM_OK && c->type != FSM_REVOKE) {
        not_revoked(h, "an answer", r->token);
        if (c->type == FSM_EXTEND || c->type == FSM_RELEASE)
            not_revoked(h, "a lease lock's extend or release", c->token);
    }
    switch (c->type) {
    case FSM_ACQUIRE:
    case FSM_ACQUIRE_SHARED:
    case FSM_SEM_ACQUIRE:
    case FSM_CAMPAIGN:
        acquired(h, index, c, r);
        break;
    case FSM_RELEASE:
    case FSM_RELEASE_SHARED:
    case FSM_SEM_RELEASE:
        if (r->status != FSM_OK)
            break;
        l = lock_of(h, c->name, c->name_len);
        if (c->session != 0) {
            release(h, l, c->session, owner_digest(c->owner, c->owner_len),
                    shared || c->type == FSM_SEM_RELEASE,
                    c->type == FSM_SEM_RELEASE ? (uint32_t)c->count : 1,
                    r->holds);
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
    case FSM_RESIGN:
        if (r->status != FSM_OK)
            break;
        l = lock_of(h, c->name, c->name_len);
        o = find(l, c->session, owner_digest(c->owner, c->owner_len));
        if (o == NULL || l->kind != FSM_KIND_ELECTION)
            fail(h,
                 "session %llu resigns '%.*s', which the history does not "
                 "give it to lead",
                 U(c->session), (int)l->name_len, l->name);
        else
            drop(l, o);
        break;
    case FSM_PROCLAIM:
        if (r->status == FSM_OK)
            proclaimed(h, c);
        break;
    case FSM_REVOKE:
        if (r->status == FSM_OK)
            revoked(h, c, r);
        break;
    case FSM_DOWNGRADE:
        if (r->status != FSM_OK)
            break;
        l = lock_of(h, c->name, c->name_len);
        o = find(l, c->session, owner_digest(c->owner, c->owner_len));
        if (o == NULL || o->excl == 0 || o->token != r->token ||
            l->kind != FSM_KIND_LOCK) {
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

/* A grant nobody learnt is taken back: one exclusive hold if the hold has
 * one, else one shared hold, or a semaphore's permits of its last grant
 * (as far as left). */
static void withdrawn(struct lockcheck_modes *h, struct hlock *l,
                      const struct fsm_event *e)
{
    struct hhold *o = find_token(l, e->token);
    if (o == NULL || o->session != e->session) {
        fail(h,
             "the grant of '%.*s' with token %llu to session %llu is "
             "taken back, which the history does not give it",
             (int)l->name_len, l->name, U(e->token), U(e->session));
        return;
    }
    uint32_t n = 1;
    if (l->kind == FSM_KIND_SEMAPHORE) {
        n = o->last_count < o->shared ? o->last_count : o->shared;
        n = n > 0 ? n : 1;
    }
    if (o->excl > 0)
        o->excl--;
    else
        o->shared -= n < o->shared ? n : o->shared;
    if (o->excl + o->shared == 0)
        drop(l, o);
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
        grant(h, l, e->session, w->owner, e->token,
              &(struct hgrant){.kind = w->kind,
                               .shared = w->shared,
                               .count = w->count,
                               .permits = w->permits});
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
        withdrawn(h, l, e);
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
    /* A SEM_ACQUIRE's events come first: the waiters it grants as it ends
     * a lock-delay the clock has ended, before its own grant. */
    bool first = cmd == NULL || cmd->type != FSM_SEM_ACQUIRE;
    if (first)
        result(h, index, cmd, res);
    for (size_t i = 0; i < n_ev && !h->bad; i++)
        event(h, &ev[i]);
    if (!first)
        result(h, index, cmd, res);
    if (cmd != NULL && cmd->type == FSM_REVOKE && res->status == FSM_OK &&
        !res->replayed) {
        struct hlock *l = lock_of(h, cmd->name, cmd->name_len);
        if (find_token(l, res->token) != NULL)
            fail(h, "the hold of '%.*s' with token %llu is revoked and kept",
                 (int)l->name_len, l->name, U(res->token));
    }
    return !h->bad;
}
