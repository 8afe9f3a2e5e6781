/* fsm_test.h - helpers for the lock state machine's tests: a machine with
 * its own log index and clock, one call per command (C strings for names,
 * owners and request ids; "" for none), snapshots and event checks. */
#ifndef DLOCK_FSM_TEST_H
#define DLOCK_FSM_TEST_H

#include "harness.h"

#include "lock/fsm.h"

#define DEFAULT_DELAY UINT64_MAX /* the ACQUIRE delay meaning "default" */

struct m {
    struct fsm *f;
    uint64_t idx; /* the last log index applied */
    uint64_t now; /* stamped into every command */
    bool quick;   /* skip fsm_check after each command (bulk loads) */
};

static inline void m_init(struct m *m)
{
    m->f = fsm_new();
    m->idx = 0;
    m->now = 1000;
    m->quick = false;
}

static inline void m_init_limited(struct m *m, const struct fsm_limits *lim)
{
    m->f = fsm_new_limited(lim);
    m->idx = 0;
    m->now = 1000;
    m->quick = false;
}

static inline void m_close(struct m *m)
{
    fsm_free(m->f);
    m->f = NULL;
}

/* Checks the machine's invariants. */
static inline void m_ok(struct m *m)
{
    char why[256];
    CHECK_MSG(fsm_check(m->f, why, sizeof why), "fsm_check: %s", why);
}

/* Applies c, stamped with m->now, at the next index. */
static inline struct fsm_result m_cmd(struct m *m, struct fsm_cmd c)
{
    uint8_t buf[4096];
    struct fsm_result r;
    c.now = m->now;
    size_t n = fsm_cmd_encode(&c, buf, sizeof buf);
    CHECK(n > 0 && n <= sizeof buf);
    fsm_apply(m->f, ++m->idx, buf, n, &r);
    if (!m->quick)
        m_ok(m);
    return r;
}

static inline struct fsm_cmd str_cmd(uint8_t type, const char *name,
                                     const char *owner, const char *req)
{
    struct fsm_cmd c = {.type = type};
    c.name = name;
    c.name_len = name ? (uint32_t)strlen(name) : 0;
    c.owner = owner;
    c.owner_len = owner ? (uint32_t)strlen(owner) : 0;
    c.req = req;
    c.req_len = req ? (uint32_t)strlen(req) : 0;
    return c;
}

static inline struct fsm_result m_open(struct m *m, uint64_t ttl,
                                       const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_OPEN, NULL, NULL, req);
    c.ttl = ttl;
    c.client = "test-client";
    c.client_len = 11;
    return m_cmd(m, c);
}

/* Opens a session with ttl 10 s and returns its id. */
static inline uint64_t m_session(struct m *m)
{
    struct fsm_result r = m_open(m, 10000, "");
    CHECK_EQ(r.status, FSM_OK);
    return r.session;
}

static inline struct fsm_result m_close_s(struct m *m, uint64_t s,
                                          const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_CLOSE, NULL, NULL, req);
    c.session = s;
    return m_cmd(m, c);
}

static inline struct fsm_result m_expire(struct m *m, uint64_t s)
{
    struct fsm_cmd c = {.type = FSM_EXPIRE, .session = s};
    return m_cmd(m, c);
}

/* EXPIRE_BATCH of the n (at most 64) sessions ids. */
static inline struct fsm_result m_expire_batch(struct m *m, const uint64_t *ids,
                                               uint32_t n)
{
    uint8_t b[8 * 64];
    for (uint32_t i = 0; i < n && i < 64; i++)
        for (int k = 0; k < 8; k++)
            b[8 * i + k] = (uint8_t)(ids[i] >> (8 * k));
    struct fsm_cmd c = {.type = FSM_EXPIRE_BATCH, .ids = b, .n_ids = n};
    return m_cmd(m, c);
}

static inline struct fsm_result m_acq(struct m *m, uint64_t s, const char *name,
                                      const char *owner, uint64_t wait,
                                      uint64_t delay, const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE, name, owner, req);
    c.session = s;
    c.wait = wait;
    c.delay = delay;
    return m_cmd(m, c);
}

static inline struct fsm_result m_lease(struct m *m, uint64_t ttl,
                                        const char *name, uint64_t wait,
                                        uint64_t delay, const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE, name, NULL, req);
    c.ttl = ttl;
    c.wait = wait;
    c.delay = delay;
    return m_cmd(m, c);
}

static inline struct fsm_result m_rel(struct m *m, uint64_t s, const char *name,
                                      const char *owner, const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_RELEASE, name, owner, req);
    c.session = s;
    return m_cmd(m, c);
}

static inline struct fsm_result m_rel_token(struct m *m, const char *name,
                                            uint64_t token, const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_RELEASE, name, NULL, req);
    c.token = token;
    return m_cmd(m, c);
}

static inline struct fsm_result m_extend(struct m *m, const char *name,
                                         uint64_t token, uint64_t ttl,
                                         const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_EXTEND, name, NULL, req);
    c.token = token;
    c.ttl = ttl;
    return m_cmd(m, c);
}

static inline struct fsm_result m_set_ttl(struct m *m, uint64_t s, uint64_t ttl,
                                          const char *req)
{
    struct fsm_cmd c = str_cmd(FSM_SET_TTL, NULL, NULL, req);
    c.session = s;
    c.ttl = ttl;
    return m_cmd(m, c);
}

/* UNWAIT of the ACQUIRE at index (0: every wait) of session s on name with
 * request id req, a grace of wait ms, seen at index seen. */
static inline struct fsm_result m_unwait(struct m *m, uint64_t index,
                                         uint64_t s, const char *name,
                                         const char *req, uint64_t wait,
                                         uint64_t seen)
{
    struct fsm_cmd c = str_cmd(FSM_UNWAIT, name, NULL, req);
    c.index = index;
    c.session = s;
    c.wait = wait;
    c.seen = seen;
    return m_cmd(m, c);
}

static inline struct fsm_result m_tick(struct m *m, uint64_t now)
{
    m->now = now;
    struct fsm_cmd c = {.type = FSM_TICK};
    return m_cmd(m, c);
}

/* The lock's info; fails the test if the machine does not know it. */
static inline struct fsm_lock_info m_info(struct m *m, const char *name)
{
    struct fsm_lock_info info;
    CHECK_MSG(fsm_lock_info(m->f, name, (uint32_t)strlen(name), &info),
              "lock %s unknown", name);
    return info;
}

static inline bool m_known(struct m *m, const char *name)
{
    struct fsm_lock_info info;
    return fsm_lock_info(m->f, name, (uint32_t)strlen(name), &info);
}

static inline size_t m_nev(struct m *m)
{
    size_t n;
    fsm_events(m->f, &n);
    return n;
}

/* Event i, checked to be of type for session on name (token and index
 * returned through the event). */
static inline struct fsm_event m_ev(struct m *m, size_t i, uint8_t type,
                                    uint64_t session, const char *name)
{
    size_t n;
    const struct fsm_event *ev = fsm_events(m->f, &n);
    CHECK_MSG(i < n, "event %zu of %zu", i, n);
    CHECK_EQ(ev[i].type, type);
    CHECK_U64(ev[i].session, session);
    CHECK(ev[i].name_len == strlen(name) &&
          memcmp(ev[i].name, name, ev[i].name_len) == 0);
    return ev[i];
}

static inline bool ev_req_is(const struct fsm_event *e, const char *req)
{
    return e->req_len == strlen(req) && memcmp(e->req, req, e->req_len) == 0;
}

/* The machine's snapshot (malloc'd). */
static inline uint8_t *m_snap(struct m *m, size_t *len)
{
    uint8_t *buf = NULL;
    CHECK_EQ(fsm_snapshot(m->f, &buf, len), 0);
    return buf;
}

/* Whether two snapshots describe the same state apart from the applied
 * index (bytes 8..15 of the header, docs/design.md §11.9). */
/* Runs the statements given on m and checks that the state did not change
 * (apart from the applied index). */
#define CHECK_UNCHANGED(m, ...)                                                \
    do {                                                                       \
        size_t snap_alen_, snap_blen_;                                         \
        uint8_t *snap_a_ = m_snap(m, &snap_alen_);                             \
        __VA_ARGS__;                                                           \
        uint8_t *snap_b_ = m_snap(m, &snap_blen_);                             \
        CHECK_MSG(same_state(snap_a_, snap_alen_, snap_b_, snap_blen_),        \
                  "state changed");                                            \
        free(snap_a_);                                                         \
        free(snap_b_);                                                         \
    } while (0)

static inline bool same_state(const uint8_t *a, size_t alen, const uint8_t *b,
                              size_t blen)
{
    return alen == blen && alen >= 16 && memcmp(a, b, 8) == 0 &&
           memcmp(a + 16, b + 16, alen - 16) == 0;
}

/* Two machines gave the same events, in the same order. */
static inline void same_events(const struct fsm *a, const struct fsm *b)
{
    size_t na, nb;
    const struct fsm_event *ea = fsm_events(a, &na);
    const struct fsm_event *eb = fsm_events(b, &nb);
    CHECK_EQ(na, nb);
    for (size_t i = 0; i < na && i < nb; i++) {
        CHECK_EQ(ea[i].type, eb[i].type);
        CHECK_U64(ea[i].session, eb[i].session);
        CHECK_U64(ea[i].token, eb[i].token);
        CHECK_U64(ea[i].index, eb[i].index);
        CHECK(ea[i].name_len == eb[i].name_len &&
              memcmp(ea[i].name, eb[i].name, ea[i].name_len) == 0);
        CHECK(ea[i].req_len == eb[i].req_len &&
              memcmp(ea[i].req, eb[i].req, ea[i].req_len) == 0);
    }
}

#endif
