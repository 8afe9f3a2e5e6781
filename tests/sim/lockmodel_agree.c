/* lockmodel_agree.c - the reference model against a lock state machine:
 * the same holders, queues, lock-delays, sessions and clock; a digest of
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
        "OK",    "QUEUED",  "HELD",    "NOTHELD",  "NOSESSION",
        "LIMIT", "INVALID", "TIMEOUT", "CANCELED", "REQ_REUSED"};
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
    static const char *names[] = {"?",       "OPEN",    "CLOSE",       "EXPIRE",
                                  "ACQUIRE", "RELEASE", "EXTEND",      "TICK",
                                  "SET_TTL", "UNWAIT",  "EXPIRE_BATCH"};
    if (c == NULL) {
        snprintf(buf, cap, "(undecodable)");
        return;
    }
    snprintf(buf, cap,
             "%s now=%llu session=%llu ttl=%llu wait=%llu delay=%lld "
             "token=%llu index=%llu seen=%llu name='%.*s' owner='%.*s' "
             "req='%.*s' ids=%u",
             c->type <= FSM_CMD_MAX ? names[c->type] : "?", U(c->now),
             U(c->session), U(c->ttl), U(c->wait),
             c->delay == UINT64_MAX ? -1LL : (long long)c->delay, U(c->token),
             U(c->index), U(c->seen), (int)c->name_len, c->name,
             (int)c->owner_len, c->owner, (int)c->req_len, c->req,
             (unsigned)c->n_ids);
}

void lockmodel_describe_res(const struct fsm_result *r, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "%s%s session=%llu token=%llu holds=%u holder=%llu ttl=%llu "
             "index=%llu",
             lockmodel_status_name(r->status), r->replayed ? " (replayed)" : "",
             U(r->session), U(r->token), r->holds, U(r->holder), U(r->ttl),
             U(r->index));
}

/* ---- agreement -------------------------------------------------------- */

static uint64_t next_deadline(const struct lockmodel *m)
{
    uint64_t t = UINT64_MAX;
    for (size_t i = 0; i < m->n_l; i++) {
        const struct mlock *l = m->l[i];
        for (size_t k = 0; k < l->n_w; k++) {
            const struct mwait *w = &l->w[k];
            uint64_t end = w->gone_until != 0 && w->gone_until < w->deadline
                               ? w->gone_until
                               : w->deadline;
            if (end < t)
                t = end;
        }
        if (l->holder == 0 && l->available_at != 0 && l->available_at < t)
            t = l->available_at;
    }
    for (size_t i = 0; i < m->n_c; i++)
        if (m->c[i].until < t)
            t = m->c[i].until;
    return t;
}

static bool lock_agrees(const struct mlock *l, const struct fsm *f, char *why,
                        size_t cap)
{
    struct fsm_lock_info in;
    if (!fsm_lock_info(f, l->name, l->name_len, &in)) {
        snprintf(why, cap,
                 "the machine does not know lock '%.*s' (holder "
                 "%llu, %zu waiters, available at %llu)",
                 (int)l->name_len, l->name, U(l->holder), l->n_w,
                 U(l->available_at));
        return false;
    }
    bool same =
        in.holder == l->holder && in.waiters == l->n_w &&
        (l->holder == 0 ? in.available_at == l->available_at
                        : in.token == l->token && in.holds == l->holds &&
                              lockmodel_bytes_eq(in.owner, in.owner_len,
                                                 l->owner, l->owner_len));
    if (!same)
        snprintf(why, cap,
                 "lock '%.*s': the machine shows holder %llu owner '%.*s' "
                 "token %llu holds %u waiters %u available at %llu; the "
                 "apply stream gives holder %llu owner '%.*s' token %llu "
                 "holds %u waiters %zu available at %llu",
                 (int)l->name_len, l->name, U(in.holder), (int)in.owner_len,
                 in.owner, U(in.token), in.holds, in.waiters,
                 U(in.available_at), U(l->holder), (int)l->owner_len, l->owner,
                 U(l->token), l->holds, l->n_w, U(l->available_at));
    return same;
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
        if (!lock_agrees(m->l[i], f, why, cap))
            return false;
    struct fsm_lock_info in;
    if (len > 0 && lockmodel_lock_get(m, name, len) == NULL &&
        fsm_lock_info(f, name, len, &in)) {
        snprintf(why, cap,
                 "the machine keeps lock '%.*s' (holder %llu, %u "
                 "waiters, available at %llu), free and unwaited by the "
                 "apply stream",
                 (int)len, name, U(in.holder), in.waiters, U(in.available_at));
        return false;
    }
    if (fsm_now(f) != m->now || fsm_last_token(f) != m->last_token ||
        fsm_applied_index(f) != m->applied ||
        fsm_next_deadline(f) != next_deadline(m)) {
        snprintf(why, cap,
                 "the machine's now %llu, last token %llu, applied "
                 "%llu, next deadline %llu; the apply stream gives %llu, "
                 "%llu, %llu, %llu",
                 U(fsm_now(f)), U(fsm_last_token(f)), U(fsm_applied_index(f)),
                 U(fsm_next_deadline(f)), U(m->now), U(m->last_token),
                 U(m->applied), U(next_deadline(m)));
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
        h = mix_bytes(h, l->name, l->name_len);
        h = mix(mix(mix(mix(h, l->holder), l->token), l->holds), l->delay_ms);
        h = mix_bytes(mix(mix(h, l->available_at), l->grant), l->owner,
                      l->owner_len);
        for (size_t k = 0; k < l->n_w; k++) {
            const struct mwait *w = &l->w[k];
            h = mix(mix(mix(mix(h, w->session), w->index), w->deadline),
                    w->delay_ms);
            h = mix(mix(h, w->gone_until), w->seen);
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
