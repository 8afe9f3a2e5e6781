/* lockmodel_agree.c - the reference model against a lock state machine:
 * the same holds (each, with its mode's counts), queues (each waiter, with
 * its mode), lock-delays, sessions and clock; a digest of
 * the model's state; one-line descriptions of commands and results. */
#include "lockmodel_internal.h"

#include <stdio.h>
#include <string.h>

#include "rng.h"

#define U(x) ((unsigned long long)(x))

/* ---- descriptions ----------------------------------------------------- */

const char *lockmodel_status_name(uint8_t status)
{
    static const char *names[] = {
        "OK",      "QUEUED",  "HELD",     "NOTHELD",    "NOSESSION", "LIMIT",
        "INVALID", "TIMEOUT", "CANCELED", "REQ_REUSED", "UPGRADE",   "KIND"};
    return status < sizeof names / sizeof names[0] ? names[status] : "?";
}

const char *lockmodel_event_name(uint8_t type)
{
    static const char *names[] = {"?",        "GRANTED", "TIMEOUT",
                                  "CANCELED", "LOST",    "WITHDRAWN"};
    return type < 6 ? names[type] : "?";
}

void lockmodel_describe_cmd(const struct fsm_cmd *c, char *buf, size_t cap)
{
    static const char *names[] = {"?",
                                  "OPEN",
                                  "CLOSE",
                                  "EXPIRE",
                                  "ACQUIRE",
                                  "RELEASE",
                                  "EXTEND",
                                  "TICK",
                                  "SET_TTL",
                                  "UNWAIT",
                                  "EXPIRE_BATCH",
                                  "ACQUIRE_SHARED",
                                  "RELEASE_SHARED",
                                  "DOWNGRADE",
                                  "SEM_ACQUIRE",
                                  "SEM_RELEASE",
                                  "CAMPAIGN",
                                  "PROCLAIM",
                                  "RESIGN",
                                  "REVOKE"};
    if (c == NULL) {
        snprintf(buf, cap, "(undecodable)");
        return;
    }
    snprintf(buf, cap,
             "%s now=%llu session=%llu ttl=%llu wait=%llu delay=%lld "
             "token=%llu index=%llu seen=%llu name='%.*s' owner='%.*s' "
             "req='%.*s' ids=%u permits=%llu count=%llu value='%.*s'",
             c->type < sizeof names / sizeof names[0] ? names[c->type] : "?",
             U(c->now), U(c->session), U(c->ttl), U(c->wait),
             c->delay == UINT64_MAX ? -1LL : (long long)c->delay, U(c->token),
             U(c->index), U(c->seen), (int)c->name_len, c->name,
             (int)c->owner_len, c->owner, (int)c->req_len, c->req,
             (unsigned)c->n_ids, U(c->permits), U(c->count),
             c->value_len > 40 ? 40 : (int)c->value_len,
             c->value_len ? c->value : "");
}

void lockmodel_describe_res(const struct fsm_result *r, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "%s%s session=%llu token=%llu holds=%u holder=%llu ttl=%llu "
             "index=%llu kind=%u permits=%llu",
             lockmodel_status_name(r->status), r->replayed ? " (replayed)" : "",
             U(r->session), U(r->token), r->holds, U(r->holder), U(r->ttl),
             U(r->index), r->kind, U(r->permits));
}

/* ---- agreement -------------------------------------------------------- */

/* The earliest time a TICK would change something, and what (for a
 * failure message) in what[0..cap). */
static uint64_t next_deadline(const struct lockmodel *m, char *what, size_t cap)
{
    uint64_t t = UINT64_MAX;
    snprintf(what, cap, "nothing");
    for (size_t i = 0; i < m->n_l; i++) {
        const struct mlock *l = m->l[i];
        for (size_t k = 0; k < l->n_w; k++) {
            const struct mwait *w = &l->w[k];
            uint64_t end = w->gone_until != 0 && w->gone_until < w->deadline
                               ? w->gone_until
                               : w->deadline;
            if (end < t) {
                t = end;
                snprintf(what, cap, "the end of wait %llu on '%.*s'",
                         U(w->index), (int)l->name_len, l->name);
            }
        }
        if (l->available_at != 0 && l->available_at < t) {
            t = l->available_at;
            snprintf(what, cap, "the lock-delay of '%.*s' (%zu holds)",
                     (int)l->name_len, l->name, l->n_h);
        }
    }
    for (size_t i = 0; i < m->n_c; i++)
        if (m->c[i].until < t) {
            t = m->c[i].until;
            snprintf(what, cap, "taking back the grant to wait %llu on '%.*s'",
                     U(m->c[i].index), (int)m->c[i].name_len, m->c[i].name);
        }
    return t;
}

/* A time at or before now, as a deadline or a lock-delay's end: due (a
 * lock-delay ended whose TICK has not come yet is no delay any more). */
static uint64_t due_at(uint64_t t, uint64_t now)
{
    return t != 0 && t <= now ? now : t;
}

/* Walks the machine's holds of a lock against the model's, in order. */
struct holds_arg {
    const struct mlock *l;
    size_t k;
    bool bad;
    struct fsm_hold_info got;
};

static bool holds_cb(void *arg, const struct fsm_hold_info *h)
{
    struct holds_arg *a = arg;
    const struct mhold *o = a->k < a->l->n_h ? &a->l->h[a->k] : NULL;
    a->k++;
    if (o != NULL && o->session == h->session && o->token == h->token &&
        o->excl == h->exclusive && o->shared == h->shared &&
        lockmodel_bytes_eq(o->owner, o->owner_len, h->owner, h->owner_len))
        return true;
    a->bad = true;
    a->got = *h;
    return false;
}

/* Walks the machine's waiters of a lock against the model's, in order. */
struct waiters_arg {
    const struct mlock *l;
    size_t k;
    bool bad;
    struct fsm_waiter_info got;
};

static bool waiters_cb(void *arg, const struct fsm_waiter_info *w)
{
    struct waiters_arg *a = arg;
    const struct mwait *o = a->k < a->l->n_w ? &a->l->w[a->k] : NULL;
    a->k++;
    if (o != NULL && o->session == w->session && o->index == w->index &&
        o->shared == w->shared &&
        (a->l->kind != FSM_KIND_SEMAPHORE || o->count == w->count) &&
        lockmodel_bytes_eq(o->owner, o->owner_len, w->owner, w->owner_len) &&
        (a->l->kind != FSM_KIND_ELECTION ||
         lockmodel_bytes_eq(o->value, o->value_len, w->value, w->value_len)))
        return true;
    a->bad = true;
    a->got = *w;
    return false;
}

static bool holds_agree(const struct mlock *l, const struct fsm *f, char *why,
                        size_t cap)
{
    struct holds_arg ha = {.l = l};
    fsm_lock_holds(f, l->name, l->name_len, 0, holds_cb, &ha);
    if (ha.bad || ha.k != l->n_h) {
        const struct mhold *o =
            ha.k > 0 && ha.k <= l->n_h ? &l->h[ha.k - 1] : NULL;
        snprintf(why, cap,
                 "lock '%.*s', hold %zu of %zu: the machine shows session "
                 "%llu owner '%.*s' token %llu holds %u exclusive %u "
                 "shared; the apply stream gives session %llu owner "
                 "'%.*s' token %llu holds %u exclusive %u shared",
                 (int)l->name_len, l->name, ha.k, l->n_h,
                 U(ha.bad ? ha.got.session : 0),
                 ha.bad ? (int)ha.got.owner_len : 0, ha.bad ? ha.got.owner : "",
                 U(ha.bad ? ha.got.token : 0), ha.bad ? ha.got.exclusive : 0,
                 ha.bad ? ha.got.shared : 0, U(o ? o->session : 0),
                 o ? (int)o->owner_len : 0, o ? o->owner : "",
                 U(o ? o->token : 0), o ? o->excl : 0, o ? o->shared : 0);
        return false;
    }
    struct waiters_arg wa = {.l = l};
    fsm_lock_waiters(f, l->name, l->name_len, waiters_cb, &wa);
    if (wa.bad || wa.k != l->n_w) {
        const struct mwait *o =
            wa.k > 0 && wa.k <= l->n_w ? &l->w[wa.k - 1] : NULL;
        snprintf(
            why, cap,
            "lock '%.*s', waiter %zu of %zu: the machine shows session "
            "%llu owner '%.*s' index %llu %s; the apply stream gives "
            "session %llu owner '%.*s' index %llu %s",
            (int)l->name_len, l->name, wa.k, l->n_w,
            U(wa.bad ? wa.got.session : 0), wa.bad ? (int)wa.got.owner_len : 0,
            wa.bad ? wa.got.owner : "", U(wa.bad ? wa.got.index : 0),
            wa.bad && wa.got.shared ? "shared" : "exclusive",
            U(o ? o->session : 0), o ? (int)o->owner_len : 0, o ? o->owner : "",
            U(o ? o->index : 0), o && o->shared ? "shared" : "exclusive");
        return false;
    }
    return true;
}

static bool lock_agrees(const struct lockmodel *m, const struct mlock *l,
                        const struct fsm *f, char *why, size_t cap)
{
    struct fsm_lock_info in;
    const struct mhold *first = l->n_h ? &l->h[0] : NULL;
    if (!fsm_lock_info(f, l->name, l->name_len, &in)) {
        snprintf(why, cap,
                 "the machine does not know lock '%.*s' (%zu holds, %zu "
                 "waiters, available at %llu)",
                 (int)l->name_len, l->name, l->n_h, l->n_w, U(l->available_at));
        return false;
    }
    bool same =
        in.holder == (first ? first->session : 0) && in.waiters == l->n_w &&
        in.mode == lockmodel_mode(l) && in.holders == l->n_h &&
        due_at(in.available_at, m->now) == due_at(l->available_at, m->now) &&
        (first == NULL ||
         (in.token == first->token && in.holds == first->excl + first->shared &&
          lockmodel_bytes_eq(in.owner, in.owner_len, first->owner,
                             first->owner_len)));
    if (!same) {
        snprintf(why, cap,
                 "lock '%.*s': the machine shows mode %u holders %u, the "
                 "first: session %llu owner '%.*s' token %llu holds %u; "
                 "waiters %u available at %llu; the apply stream gives "
                 "mode %u holders %zu, the first: session %llu owner "
                 "'%.*s' token %llu holds %u; waiters %zu available at "
                 "%llu",
                 (int)l->name_len, l->name, in.mode, in.holders, U(in.holder),
                 (int)in.owner_len, in.owner, U(in.token), in.holds, in.waiters,
                 U(in.available_at), lockmodel_mode(l), l->n_h,
                 U(first ? first->session : 0),
                 first ? (int)first->owner_len : 0, first ? first->owner : "",
                 U(first ? first->token : 0),
                 first ? first->excl + first->shared : 0, l->n_w,
                 U(l->available_at));
        return false;
    }
    if (in.kind != l->kind || in.permits != l->permits ||
        in.used != (l->kind == FSM_KIND_SEMAPHORE ? lockmodel_used(l) : 0) ||
        in.expired != l->expired ||
        !lockmodel_bytes_eq(in.value, in.value_len, l->value, l->value_len)) {
        snprintf(
            why, cap,
            "'%.*s': the machine shows kind %u permits %u used %u held "
            "back %u value '%.*s'; the apply stream gives kind %u "
            "permits %u used %u held back %u value '%.*s'",
            (int)l->name_len, l->name, in.kind, in.permits, in.used, in.expired,
            in.value_len > 40 ? 40 : (int)in.value_len, in.value, l->kind,
            l->permits, l->kind == FSM_KIND_SEMAPHORE ? lockmodel_used(l) : 0,
            l->expired, l->value_len > 40 ? 40 : (int)l->value_len, l->value);
        return false;
    }
    return holds_agree(l, f, why, cap);
}

struct list_arg {
    const struct lockmodel *m;
    size_t n;
    bool stray;
    char name[FSM_NAME_MAX];
    uint32_t name_len;
};

static bool list_cb(void *arg, const struct fsm_lock_info *info)
{
    struct list_arg *a = arg;
    a->n++;
    if (lockmodel_lock_get(a->m, info->name, info->name_len) != NULL)
        return true;
    a->stray = true;
    memcpy(a->name, info->name, info->name_len);
    a->name_len = info->name_len;
    return false;
}

struct sess_arg {
    const struct lockmodel *m;
    size_t n;
    uint64_t bad_id;
    uint64_t bad_ttl;
};

static void sess_cb(void *arg, uint64_t id, uint64_t ttl)
{
    struct sess_arg *a = arg;
    const struct msession *s = lockmodel_session_get(a->m, id);
    a->n++;
    if ((s == NULL || s->ttl != ttl) && a->bad_id == 0) {
        a->bad_id = id;
        a->bad_ttl = ttl;
    }
}

static bool sessions_agree(const struct lockmodel *m, const struct fsm *f,
                           char *why, size_t cap)
{
    struct sess_arg sa = {.m = m};
    fsm_session_each(f, sess_cb, &sa);
    if (sa.bad_id != 0) {
        snprintf(why, cap,
                 "the machine has session %llu (ttl %llu) the "
                 "apply stream does not",
                 U(sa.bad_id), U(sa.bad_ttl));
        return false;
    }
    for (size_t i = 0; i < m->n_s; i++) {
        const struct msession *s = &m->s[i];
        struct fsm_session_info in;
        unsigned waits, locks = lockmodel_session_holds(m, s->id, &waits);
        if (!fsm_session_info(f, s->id, &in) || in.lease_lock != s->lease ||
            in.locks != locks || in.waits != waits) {
            snprintf(why, cap,
                     "session %llu (lease %d, %u locks, %u waits) "
                     "is missing or differs in the machine",
                     U(s->id), s->lease, locks, waits);
            return false;
        }
    }
    if (sa.n != m->n_s) {
        snprintf(why, cap,
                 "the machine has %zu sessions, the apply stream "
                 "%zu",
                 sa.n, m->n_s);
        return false;
    }
    return true;
}

bool lockmodel_agrees(const struct lockmodel *m, const struct fsm *f,
                      const char *name, uint32_t len, bool full, char *why,
                      size_t cap)
{
    for (size_t i = 0; i < m->n_l; i++)
        if (!lock_agrees(m, m->l[i], f, why, cap))
            return false;
    struct fsm_lock_info in;
    if (len > 0 && lockmodel_lock_get(m, name, len) == NULL &&
        fsm_lock_info(f, name, len, &in)) {
        snprintf(why, cap,
                 "the machine keeps lock '%.*s' (holder %llu, %u "
                 "waiters, available at %llu), without holds or waiters by "
                 "the apply stream",
                 (int)len, name, U(in.holder), in.waiters, U(in.available_at));
        return false;
    }
    char what[FSM_NAME_MAX + 80];
    uint64_t next = next_deadline(m, what, sizeof what);
    if (fsm_now(f) != m->now || fsm_last_token(f) != m->last_token ||
        fsm_applied_index(f) != m->applied ||
        due_at(fsm_next_deadline(f), m->now) != due_at(next, m->now)) {
        snprintf(why, cap,
                 "the machine's now %llu, last token %llu, applied "
                 "%llu, next deadline %llu; the apply stream gives %llu, "
                 "%llu, %llu, %llu (%s)",
                 U(fsm_now(f)), U(fsm_last_token(f)), U(fsm_applied_index(f)),
                 U(fsm_next_deadline(f)), U(m->now), U(m->last_token),
                 U(m->applied), U(next), what);
        return false;
    }
    if (!full)
        return true;
    struct list_arg la = {.m = m};
    fsm_lock_list(f, "", 0, NULL, 0, list_cb, &la);
    if (la.stray || la.n != m->n_l) {
        snprintf(why, cap,
                 "the machine lists %zu locks (one is '%.*s'), "
                 "the apply stream %zu",
                 la.n, (int)la.name_len, la.name, m->n_l);
        return false;
    }
    return sessions_agree(m, f, why, cap);
}

/* ---- digest ----------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    return rng_mix(h ^ v) + 0x9e3779b97f4a7c15ull;
}

static uint64_t mix_bytes(uint64_t h, const char *p, size_t n)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return mix(h, x ^ n);
}

uint64_t lockmodel_digest(const struct lockmodel *m)
{
    uint64_t h = mix(mix(mix(0, m->now), m->last_token), m->applied);
    for (size_t i = 0; i < m->n_s; i++)
        h = mix(mix(mix(h, m->s[i].id), m->s[i].ttl), m->s[i].lease);
    for (size_t i = 0; i < m->n_l; i++) {
        const struct mlock *l = m->l[i];
        h = mix(mix_bytes(h, l->name, l->name_len), l->available_at);
        h = mix(mix(mix(h, l->kind), l->permits), l->expired);
        h = mix_bytes(h, l->value, l->value_len);
        for (size_t k = 0; k < l->n_h; k++) {
            const struct mhold *o = &l->h[k];
            h = mix(mix(mix(mix(h, o->session), o->token), o->excl), o->shared);
            h = mix_bytes(
                mix(mix(mix(h, o->grant), o->delay_ms), o->grant_count),
                o->owner, o->owner_len);
        }
        for (size_t k = 0; k < l->n_w; k++) {
            const struct mwait *w = &l->w[k];
            h = mix(mix(mix(mix(h, w->session), w->index), w->deadline),
                    w->delay_ms);
            h = mix(mix(mix(mix(h, w->gone_until), w->seen), w->shared),
                    w->count);
            h = mix_bytes(h, w->value, w->value_len);
            h = mix_bytes(mix_bytes(h, w->owner, w->owner_len), w->req,
                          w->req_len);
        }
    }
    /* Claims in no order: summed. */
    uint64_t sum = 0;
    for (size_t i = 0; i < m->n_c; i++) {
        const struct mclaim *c = &m->c[i];
        uint64_t x =
            mix(mix(mix(mix(0, c->until), c->index), c->grant), c->session);
        x = mix_bytes(mix_bytes(x, c->name, c->name_len), c->req, c->req_len);
        sum += x;
    }
    return mix(h, sum);
}
