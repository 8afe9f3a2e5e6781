/* fsm_gen.h - a seeded generator of lock state machine commands for random
 * tests and the fuzz corpus: few lock names, owners and request ids, so that
 * contention, reentry, retries, lease locks, expiries, lock-delays, ticks
 * and clients going away from their waits (UNWAIT) all happen often; with
 * modes set, shared acquires and releases, downgrades and semaphores (on
 * the same names as locks now and then) too. It learns
 * session ids and tokens from results and events (gen_feed). No harness:
 * tests/fuzz/gen_fsm_corpus.c uses it too. */
#ifndef DLOCK_FSM_GEN_H
#define DLOCK_FSM_GEN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lock/fsm.h"

#define GEN_SESSIONS 24
#define GEN_TOKENS 24
#define GEN_RECENT 16
#define GEN_WAITS 8
#define GEN_PAST 8

struct gen {
    bool modes; /* send ACQUIRE_SHARED, RELEASE_SHARED and DOWNGRADE too */
    uint64_t rng;
    uint64_t now;
    uint64_t sessions[GEN_SESSIONS]; /* client sessions, most alive */
    unsigned n_sessions;
    uint64_t leases[8]; /* sessions of lease locks, for EXPIRE */
    struct {
        unsigned name;
        uint64_t token;
    } tokens[GEN_TOKENS];
    unsigned n_tokens;
    struct {
        uint64_t session;
        unsigned name, owner;
    } recent[GEN_RECENT]; /* ACQUIREs that were granted or queued */
    unsigned n_recent;
    struct {
        uint64_t index, session;
        unsigned name;
        char req[16];
    } waits[GEN_WAITS]; /* blocking ACQUIREs queued or granted */
    unsigned n_waits;
    char req[16];
    uint8_t ids[8 * 8]; /* of the last EXPIRE_BATCH */
    uint8_t names[64];  /* of the last LEASES */
    struct {
        struct fsm_cmd c; /* its strings are these: */
        char name[16], owner[16], client[16], req[16];
    } past[GEN_PAST]; /* commands sent with a request id */
    unsigned n_past;
};

static const char *const gen_names[] = {"a", "b", "c", "d", "job/1", "job/2"};
#define GEN_NAMES 6
static const char *const gen_owners[] = {"", "w1", "w2"};
#define GEN_OWNERS 3

static inline void gen_init(struct gen *g, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    g->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    g->now = 1000;
}

static inline uint64_t gen_rand(struct gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

static inline uint64_t gen_pick(struct gen *g, uint64_t n)
{
    return gen_rand(g) % n;
}

static inline void gen_str(const char *s, const char **p, uint32_t *len)
{
    *p = s;
    *len = (uint32_t)strlen(s);
}

/* Half the requests carry an id from a small pool, so retries are common
 * (a larger one for OPEN, whose ids are global). */
static inline void gen_req(struct gen *g, struct fsm_cmd *c)
{
    if (gen_pick(g, 2) == 0) {
        c->req = "";
        c->req_len = 0;
        return;
    }
    unsigned pool = c->type == FSM_OPEN ? 60 : 12;
    snprintf(g->req, sizeof g->req, "r%u", (unsigned)gen_pick(g, pool));
    gen_str(g->req, &c->req, &c->req_len);
}

static inline uint64_t gen_session(struct gen *g)
{
    uint64_t r = gen_pick(g, 40);
    if (g->n_sessions == 0 || r == 0)
        return gen_pick(g, 4); /* 0 or (most likely) unknown */
    if (r == 1)
        return g->leases[gen_pick(g, 8)];
    return g->sessions[gen_pick(g, g->n_sessions)];
}

static inline uint64_t gen_ttl(struct gen *g)
{
    if (gen_pick(g, 30) == 0)
        return gen_pick(g, 2) ? FSM_TTL_MIN - 1 : FSM_TTL_MAX + 1;
    return FSM_TTL_MIN + gen_pick(g, 5000);
}

static inline void gen_lock(struct gen *g, struct fsm_cmd *c)
{
    unsigned n = (unsigned)gen_pick(g, GEN_NAMES);
    gen_str(gen_names[n], &c->name, &c->name_len);
    gen_str(gen_owners[gen_pick(g, GEN_OWNERS)], &c->owner, &c->owner_len);
}

/* A token some lease lock had (name and token). */
static inline void gen_token(struct gen *g, struct fsm_cmd *c)
{
    if (g->n_tokens == 0 || gen_pick(g, 10) == 0) {
        gen_lock(g, c);
        c->token = gen_pick(g, 50);
        return;
    }
    unsigned k = (unsigned)gen_pick(g, g->n_tokens);
    gen_str(gen_names[g->tokens[k].name], &c->name, &c->name_len);
    c->token = g->tokens[k].token;
}

/* Mostly what a recent ACQUIRE took or waits for, so releases often hit;
 * with modes, a third of them shared, and a few downgrades. */
static inline void gen_release(struct gen *g, struct fsm_cmd *c)
{
    c->type = FSM_RELEASE;
    uint64_t mode = g->modes ? gen_pick(g, 9) : 0;
    if (mode == 0 && gen_pick(g, 5) == 0) {
        gen_token(g, c);
    } else if (g->n_recent > 0 && gen_pick(g, 4) != 0) {
        unsigned k = (unsigned)gen_pick(g, g->n_recent);
        c->session = g->recent[k].session;
        gen_str(gen_names[g->recent[k].name], &c->name, &c->name_len);
        gen_str(gen_owners[g->recent[k].owner], &c->owner, &c->owner_len);
    } else {
        c->session = gen_session(g);
        gen_lock(g, c);
    }
    if (mode >= 1 && mode <= 3)
        c->type = FSM_RELEASE_SHARED;
    else if (mode == 4)
        c->type = FSM_DOWNGRADE;
}

/* EXPIRE_BATCH of 1 to 8 sessions: mostly open ones (client sessions and
 * lease locks' sessions), some gone or never opened, some named twice. */
static inline void gen_expire_batch(struct gen *g, struct fsm_cmd *c)
{
    c->type = FSM_EXPIRE_BATCH;
    c->n_ids = 1 + (uint32_t)gen_pick(g, 8);
    c->ids = g->ids;
    for (uint32_t i = 0; i < c->n_ids; i++) {
        uint64_t id, r = gen_pick(g, 8);
        if (r < 4)
            id = gen_session(g);
        else if (r < 6)
            id = g->leases[gen_pick(g, 8)];
        else if (r < 7 && i > 0)
            id = fsm_cmd_id(c, (uint32_t)gen_pick(g, i));
        else
            id = gen_pick(g, 1000);
        for (int b = 0; b < 8; b++)
            g->ids[8 * i + b] = (uint8_t)(id >> (8 * b));
    }
}

static inline void gen_acquire(struct gen *g, struct fsm_cmd *c)
{
    static const uint64_t delays[] = {0, 0, 150, 1500, UINT64_MAX};
    c->type = FSM_ACQUIRE;
    if (gen_pick(g, 6) == 0) {
        c->ttl = gen_ttl(g); /* a lease lock */
    } else {
        c->session = gen_session(g);
    }
    gen_lock(g, c);
    if (c->ttl != 0)
        c->owner_len = 0;
    else if (g->modes && gen_pick(g, 3) == 0)
        c->type = FSM_ACQUIRE_SHARED;
    c->wait = gen_pick(g, 3) == 0 ? 0 : 1 + gen_pick(g, 3000);
    c->delay = delays[gen_pick(g, 5)];
    if (gen_pick(g, 100) == 0)
        c->name_len = 0; /* invalid */
}

/* A semaphore's acquire or release: mostly 3 permits, now and then 2 (KIND
 * where it is known with 3), on the names of locks too (KIND there). */
static inline void gen_sem(struct gen *g, struct fsm_cmd *c, bool acquire)
{
    c->session = gen_session(g);
    gen_lock(g, c);
    c->count = 1 + gen_pick(g, 2);
    if (!acquire) {
        c->type = FSM_SEM_RELEASE;
        return;
    }
    c->type = FSM_SEM_ACQUIRE;
    c->permits = gen_pick(g, 10) == 0 ? 2 : 3;
    if (gen_pick(g, 4) == 0) { /* a lease semaphore: a session of its own */
        c->type = FSM_SEM_LEASE;
        c->session = 0;
        c->ttl = gen_ttl(g);
        c->delay = gen_pick(g, 2) ? 0 : 500;
        return;
    }
    c->wait = gen_pick(g, 3) == 0 ? 0 : 1 + gen_pick(g, 3000);
    c->delay = gen_pick(g, 2) ? 0 : 500;
}

/* An election's command: a campaign with a value, a proclaim with a token
 * some grant had, or a resign; on the names of locks too (KIND there). */
static inline void gen_elect(struct gen *g, struct fsm_cmd *c)
{
    static const char *const values[] = {"", "10.0.0.1", "10.0.0.2:5432"};
    c->session = gen_session(g);
    gen_lock(g, c);
    uint64_t r = gen_pick(g, 5);
    if (r == 0) {
        c->type = FSM_RESIGN;
        return;
    }
    if (r == 4 && g->n_tokens > 0) { /* an administrator's revoke */
        c->type = FSM_REVOKE;
        c->session = 0;
        c->owner_len = 0;
        c->token = g->tokens[gen_pick(g, g->n_tokens)].token;
        c->delay = gen_pick(g, 2) ? UINT64_MAX : 0;
        return;
    }
    gen_str(values[gen_pick(g, 3)], &c->value, &c->value_len);
    if (r == 1 && g->n_tokens > 0) {
        c->type = FSM_PROCLAIM;
        c->token = g->tokens[gen_pick(g, g->n_tokens)].token;
        c->owner_len = 0;
        return;
    }
    c->type = FSM_CAMPAIGN;
    c->wait = gen_pick(g, 3) == 0 ? 0 : 1 + gen_pick(g, 3000);
    c->delay = gen_pick(g, 2) ? 0 : 400;
}

/* LEASES over 1 to 4 names (now and then one twice, or an empty list):
 * taken, extended or released by an owner. */
static inline void gen_leases(struct gen *g, struct fsm_cmd *c)
{
    c->type = FSM_LEASES;
    c->count = 1 + gen_pick(g, 3);
    c->ttl = c->count == FSM_LEASES_RELEASE && gen_pick(g, 2) ? 0 : gen_ttl(g);
    gen_str(gen_owners[1 + gen_pick(g, GEN_OWNERS - 1)], &c->owner,
            &c->owner_len);
    size_t len = 0;
    for (uint64_t i = 0, n = gen_pick(g, 30) == 0 ? 0 : 1 + gen_pick(g, 4);
         i < n; i++) {
        const char *name = gen_names[gen_pick(g, GEN_NAMES)];
        fsm_leases_add(g->names, sizeof g->names, &len, name,
                       (uint32_t)strlen(name));
    }
    c->data = g->names;
    c->data_len = (uint32_t)len;
}

/* UNWAIT, mostly of a blocking ACQUIRE seen queued or granted, naming the
 * last answer about it as a leader would (or an earlier one); now and
 * then of every wait, or of an index that never waited. */
static inline void gen_unwait(struct gen *g, const struct fsm *f,
                              struct fsm_cmd *c)
{
    c->type = FSM_UNWAIT;
    uint64_t applied = fsm_applied_index(f), r = gen_pick(g, 20);
    c->seen =
        applied - (gen_pick(g, 3) == 0 ? gen_pick(g, applied / 8 + 1) : 0);
    c->wait = gen_pick(g, 4) == 0 ? 0 : 1 + gen_pick(g, 3000);
    if (r == 0 || g->n_waits == 0)
        return; /* every wait */
    if (r == 1) {
        c->index = 1 + gen_pick(g, applied + 1);
        c->session = gen_session(g);
        gen_lock(g, c);
        return;
    }
    unsigned k = (unsigned)gen_pick(g, g->n_waits);
    c->index = g->waits[k].index;
    if (gen_pick(g, 4) != 0)
        c->seen = fsm_wait_seen(f, c->index);
    c->session = g->waits[k].session;
    gen_str(gen_names[g->waits[k].name], &c->name, &c->name_len);
    gen_str(g->waits[k].req, &c->req, &c->req_len);
}

/* Keeps c (with a request id) to be sent again. */
static inline void gen_save(struct gen *g, const struct fsm_cmd *c)
{
    unsigned k =
        g->n_past < GEN_PAST ? g->n_past++ : (unsigned)gen_pick(g, GEN_PAST);
    g->past[k].c = *c;
    snprintf(g->past[k].name, 16, "%.*s", (int)c->name_len, c->name);
    snprintf(g->past[k].owner, 16, "%.*s", (int)c->owner_len, c->owner);
    snprintf(g->past[k].client, 16, "%.*s", (int)c->client_len, c->client);
    snprintf(g->past[k].req, 16, "%.*s", (int)c->req_len, c->req);
}

/* A command sent before, with its request id: mostly as it was (a retry,
 * which may wait for another time), now and then with another argument or
 * type (the id reused for another request). */
static inline void gen_repeat(struct gen *g, struct fsm_cmd *c)
{
    unsigned k = (unsigned)gen_pick(g, g->n_past);
    *c = g->past[k].c;
    gen_str(g->past[k].name, &c->name, &c->name_len);
    gen_str(g->past[k].owner, &c->owner, &c->owner_len);
    gen_str(g->past[k].client, &c->client, &c->client_len);
    gen_str(g->past[k].req, &c->req, &c->req_len);
    if ((c->type == FSM_ACQUIRE || c->type == FSM_ACQUIRE_SHARED) &&
        gen_pick(g, 3) == 0)
        c->wait = gen_pick(g, 2) ? 0 : gen_pick(g, 3000);
    if (gen_pick(g, 4) != 0)
        return;
    uint64_t r = gen_pick(g, 4);
    if (r == 0)
        c->ttl = gen_ttl(g);
    else if (r == 1)
        gen_lock(g, c);
    else if (r == 2 && c->type == FSM_ACQUIRE)
        c->type = FSM_RELEASE;
    else if (r == 2 && c->type == FSM_RELEASE)
        c->type = FSM_ACQUIRE;
    else if (r == 2 && c->type == FSM_ACQUIRE_SHARED)
        c->type = FSM_ACQUIRE; /* the other mode: another request */
    else if (c->session != 0)
        c->type = FSM_CLOSE;
    else
        c->type = FSM_OPEN;
}

/* Fills *c with the next command; f is the machine it goes to (for the time
 * of its next deadline). */
static inline void gen_next(struct gen *g, const struct fsm *f,
                            struct fsm_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->name = c->owner = c->req = c->client = "";
    uint64_t r = gen_pick(g, 100);
    if (gen_pick(g, 40) == 0 && g->now > 500)
        g->now -= gen_pick(g, 500); /* a stamp older than the clock */
    else
        g->now += gen_pick(g, 200);
    if (g->n_past > 0 && gen_pick(g, 10) == 0) {
        gen_repeat(g, c);
        c->now = g->now;
        return;
    }
    if (r < 8) {
        c->type = FSM_OPEN;
        c->ttl = gen_ttl(g);
        gen_str(gen_pick(g, 2) ? "client" : "", &c->client, &c->client_len);
    } else if (r < 11) {
        c->type = FSM_CLOSE;
        c->session = gen_session(g);
    } else if (r < 14) {
        c->type = FSM_EXPIRE;
        c->session =
            gen_pick(g, 3) ? gen_session(g) : g->leases[gen_pick(g, 8)];
    } else if (r < 16) {
        gen_expire_batch(g, c);
    } else if (r < 48 && g->modes && gen_pick(g, 8) == 0) {
        gen_elect(g, c);
    } else if (r < 48 && g->modes && gen_pick(g, 5) == 0) {
        gen_sem(g, c, true);
    } else if (r < 48 && g->modes && gen_pick(g, 6) == 0) {
        gen_leases(g, c);
    } else if (r < 48) {
        gen_acquire(g, c);
    } else if (r < 52) {
        gen_unwait(g, f, c);
    } else if (r < 75 && g->modes && gen_pick(g, 5) == 0) {
        gen_sem(g, c, false);
    } else if (r < 75) {
        gen_release(g, c);
    } else if (r < 80) {
        c->type = FSM_EXTEND;
        gen_token(g, c);
        c->ttl = gen_ttl(g);
    } else if (r < 95) {
        c->type = FSM_TICK;
        uint64_t d = fsm_next_deadline(f);
        if (gen_pick(g, 2) == 0 && d != UINT64_MAX && d > g->now)
            g->now = d + gen_pick(g, 3);
    } else {
        c->type = FSM_SET_TTL;
        c->session = gen_session(g);
        c->ttl = gen_ttl(g);
    }
    if (c->type != FSM_EXPIRE && c->type != FSM_TICK && c->type != FSM_UNWAIT &&
        c->type != FSM_EXPIRE_BATCH && c->type != FSM_LEASES)
        gen_req(g, c);
    if (c->req_len > 0 && c->type != FSM_UNWAIT)
        gen_save(g, c);
    c->now = g->now;
}

static inline void gen_add_session(struct gen *g, uint64_t id)
{
    if (g->n_sessions < GEN_SESSIONS)
        g->sessions[g->n_sessions++] = id;
    else
        g->sessions[gen_pick(g, GEN_SESSIONS)] = id;
}

/* The index of the string s (len bytes) in v (n strings), or n. */
static inline unsigned gen_find(const char *const *v, unsigned n, const char *s,
                                uint32_t len)
{
    unsigned i = 0;
    while (i < n && (strlen(v[i]) != len || memcmp(v[i], s, len) != 0))
        i++;
    return i;
}

static inline void gen_forget_session(struct gen *g, uint64_t id)
{
    for (unsigned i = 0; i < g->n_sessions; i++)
        if (g->sessions[i] == id)
            g->sessions[i--] = g->sessions[--g->n_sessions];
}

/* A recent ACQUIRE released (or found not held) is no longer worth
 * releasing. */
static inline void gen_forget_recent(struct gen *g, const struct fsm_cmd *c)
{
    unsigned n = gen_find(gen_names, GEN_NAMES, c->name, c->name_len);
    unsigned o = gen_find(gen_owners, GEN_OWNERS, c->owner, c->owner_len);
    for (unsigned i = 0; i < g->n_recent; i++)
        if (g->recent[i].session == c->session && g->recent[i].name == n &&
            g->recent[i].owner == o)
            g->recent[i--] = g->recent[--g->n_recent];
}

static inline void gen_add_recent(struct gen *g, const struct fsm_cmd *c,
                                  uint64_t session)
{
    unsigned n = gen_find(gen_names, GEN_NAMES, c->name, c->name_len);
    unsigned o = gen_find(gen_owners, GEN_OWNERS, c->owner, c->owner_len);
    if (n == GEN_NAMES || o == GEN_OWNERS)
        return;
    unsigned k = g->n_recent < GEN_RECENT ? g->n_recent++
                                          : (unsigned)gen_pick(g, GEN_RECENT);
    g->recent[k].session = session;
    g->recent[k].name = n;
    g->recent[k].owner = o;
}

static inline void gen_add_token(struct gen *g, const char *name, uint32_t len,
                                 uint64_t token)
{
    unsigned n = gen_find(gen_names, GEN_NAMES, name, len);
    if (n == GEN_NAMES)
        return;
    unsigned k = g->n_tokens < GEN_TOKENS ? g->n_tokens++
                                          : (unsigned)gen_pick(g, GEN_TOKENS);
    g->tokens[k].name = n;
    g->tokens[k].token = token;
}

/* A blocking ACQUIRE that queued or was granted: one to name in an
 * UNWAIT. */
static inline void gen_add_wait(struct gen *g, const struct fsm_cmd *c,
                                const struct fsm_result *res)
{
    unsigned n = gen_find(gen_names, GEN_NAMES, c->name, c->name_len);
    if (n == GEN_NAMES || res->index == 0 || c->req_len >= sizeof g->req)
        return;
    unsigned k = g->n_waits < GEN_WAITS ? g->n_waits++
                                        : (unsigned)gen_pick(g, GEN_WAITS);
    g->waits[k].index = res->index;
    g->waits[k].session = res->session;
    g->waits[k].name = n;
    memcpy(g->waits[k].req, c->req, c->req_len);
    g->waits[k].req[c->req_len] = '\0';
}

/* Learns session ids and tokens from what applying c did. */
static inline void gen_feed(struct gen *g, const struct fsm_cmd *c,
                            const struct fsm_result *res,
                            const struct fsm_event *ev, size_t n_ev)
{
    if (res->session != 0 && !res->replayed && c->type == FSM_OPEN)
        gen_add_session(g, res->session);
    if (res->session != 0 && !res->replayed &&
        ((c->type == FSM_ACQUIRE && c->session == 0) || c->type == FSM_LEASES))
        g->leases[gen_pick(g, 8)] = res->session;
    if (c->type == FSM_LEASES && res->token != 0)
        gen_add_token(g, (const char *)c->data + 2, /* its first name's */
                      (uint32_t)c->data[0] | (uint32_t)c->data[1] << 8,
                      res->token);
    bool acquire = c->type == FSM_ACQUIRE || c->type == FSM_ACQUIRE_SHARED ||
                   c->type == FSM_SEM_ACQUIRE || c->type == FSM_CAMPAIGN ||
                   c->type == FSM_SEM_LEASE;
    if (acquire && res->status == FSM_OK)
        gen_add_token(g, c->name, c->name_len, res->token);
    if (acquire && c->session != 0 &&
        (res->status == FSM_OK || res->status == FSM_QUEUED))
        gen_add_recent(g, c, c->session);
    if (acquire && (res->status == FSM_OK || res->status == FSM_QUEUED))
        gen_add_wait(g, c, res);
    if ((c->type == FSM_RELEASE || c->type == FSM_RELEASE_SHARED) &&
        c->session != 0 &&
        (res->status == FSM_NOTHELD ||
         (res->status == FSM_OK && res->holds == 0)))
        gen_forget_recent(g, c);
    /* A closed session stays known now and then, for retried CLOSEs. */
    if ((c->type == FSM_CLOSE || c->type == FSM_EXPIRE) &&
        res->status == FSM_OK && (c->type == FSM_EXPIRE || gen_pick(g, 4)))
        gen_forget_session(g, c->session);
    for (uint32_t i = 0; c->type == FSM_EXPIRE_BATCH && i < c->n_ids; i++)
        gen_forget_session(g, fsm_cmd_id(c, i));
    for (size_t i = 0; i < n_ev; i++)
        if (ev[i].type == FSM_EV_GRANTED)
            gen_add_token(g, ev[i].name, ev[i].name_len, ev[i].token);
}

#endif
