/* fsm_session.c - sessions of the lock state machine and the tables of
 * remembered request outcomes that make retries safe (docs/design.md §11). */
#include "lock/fsm_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* ---- outcome tables --------------------------------------------------- */

void fsm_session_otable_init(struct fsm_otable *t, size_t max, bool indexed)
{
    memset(t, 0, sizeof *t);
    t->max = (uint32_t)max;
    if (indexed) {
        t->index = mem_xmalloc(sizeof *t->index);
        map_str_init(t->index);
    }
}

static size_t outcome_size(const struct fsm_outcome *o)
{
    return sizeof *o + o->key_len;
}

static struct fsm_outcome *ring_at(const struct fsm_otable *t, uint32_t i)
{
    return t->ring[(t->head + i) & (t->cap - 1)];
}

void fsm_session_otable_close(struct fsm *f, struct fsm_otable *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        fsm_dealloc(f, ring_at(t, i), outcome_size(ring_at(t, i)));
    fsm_dealloc(f, t->ring, t->cap * sizeof *t->ring);
    fsm_dealloc(f, t->hashes, t->cap * sizeof *t->hashes);
    fsm_dealloc(f, t->slots, t->n_slots * sizeof *t->slots);
    if (t->index != NULL)
        map_str_close(t->index);
    free(t->index);
    memset(t, 0, sizeof *t);
}

uint8_t fsm_session_key(char *buf, const void *prefix, size_t plen,
                        const char *req, uint32_t req_len)
{
    assert(plen <= 8 && req_len <= FSM_REQ_MAX);
    if (plen > 0)
        memcpy(buf, prefix, plen);
    if (req_len > 0)
        memcpy(buf + plen, req, req_len);
    return (uint8_t)(plen + req_len);
}

/* The hash of an outcome's key in a session's table: under a fixed key,
 * since it holds at most FSM_OUTCOMES_PER_SESSION outcomes, whose probes
 * stay within that bound even if every key collides. The global tables
 * index theirs in a map, under the map's key. */
static uint32_t otable_hash(const char *key, uint8_t len)
{
    return (uint32_t)map_siphash(0, 0, key, len);
}

struct fsm_outcome *fsm_session_otable_find(const struct fsm_otable *t,
                                            const char *key, uint8_t len)
{
    if (t->index != NULL)
        return map_str_get(t->index, key, len);
    uint32_t hash = otable_hash(key, len);
    if (t->slots != NULL) {
        uint32_t mask = t->n_slots - 1;
        for (uint32_t i = hash & mask; t->slots[i] != 0; i = (i + 1) & mask) {
            uint32_t k = t->slots[i] - 1u;
            struct fsm_outcome *o = t->ring[k];
            if (t->hashes[k] == hash &&
                fsm_bytes_eq(o->key, o->key_len, key, len))
                return o;
        }
        return NULL;
    }
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t k = (t->head + i) & (t->cap - 1);
        if (t->hashes[k] != hash)
            continue;
        struct fsm_outcome *o = t->ring[k];
        if (fsm_bytes_eq(o->key, o->key_len, key, len))
            return o;
    }
    return NULL;
}

/* ---- the index of a session's table: ring positions by key hash ------ */

static void slot_put(struct fsm_otable *t, uint32_t k)
{
    uint32_t mask = t->n_slots - 1, i = t->hashes[k] & mask;
    while (t->slots[i] != 0)
        i = (i + 1) & mask;
    t->slots[i] = k + 1;
}

/* Removes ring position k, moving later entries of its probe run back so
 * that no search stops early (deletion without tombstones). */
static void slot_del(struct fsm_otable *t, uint32_t k)
{
    uint32_t mask = t->n_slots - 1, i = t->hashes[k] & mask;
    while (t->slots[i] != k + 1)
        i = (i + 1) & mask;
    for (uint32_t j = (i + 1) & mask; t->slots[j] != 0; j = (j + 1) & mask) {
        uint32_t home = t->hashes[t->slots[j] - 1u] & mask;
        /* The entry at j may move to the hole at i unless its home lies
         * cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = 0;
}

/* Makes the index anew for the ring as it is (after a grow). */
static void slots_build(struct fsm *f, struct fsm_otable *t)
{
    fsm_dealloc(f, t->slots, t->n_slots * sizeof *t->slots);
    t->n_slots = 2 * t->cap;
    t->slots = fsm_alloc(f, t->n_slots * sizeof *t->slots);
    memset(t->slots, 0, t->n_slots * sizeof *t->slots);
    for (uint32_t i = 0; i < t->n; i++)
        slot_put(t, (t->head + i) & (t->cap - 1));
}

/* Doubles the ring (a power of two), unrolling it to start at slot 0. */
static void ring_grow(struct fsm *f, struct fsm_otable *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 4;
    struct fsm_outcome **ring = fsm_alloc(f, cap * sizeof *ring);
    uint32_t *hashes = fsm_alloc(f, cap * sizeof *hashes);
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t k = (t->head + i) & (t->cap - 1);
        ring[i] = t->ring[k];
        hashes[i] = t->hashes[k];
    }
    fsm_dealloc(f, t->ring, t->cap * sizeof *t->ring);
    fsm_dealloc(f, t->hashes, t->cap * sizeof *t->hashes);
    t->ring = ring;
    t->hashes = hashes;
    t->cap = cap;
    t->head = 0;
}

/* Drops the oldest outcome: the table is a FIFO. */
static void drop_oldest(struct fsm *f, struct fsm_otable *t)
{
    struct fsm_outcome *o = t->ring[t->head];
    if (t->index != NULL)
        map_str_del(t->index, o->key, o->key_len);
    if (t->slots != NULL)
        slot_del(t, t->head);
    fsm_dealloc(f, o, outcome_size(o));
    t->head = (t->head + 1) & (t->cap - 1);
    t->n--;
}

struct fsm_outcome *fsm_session_otable_add(struct fsm *f, struct fsm_otable *t,
                                           const char *key, uint8_t len,
                                           const struct fsm_outcome *o)
{
    if (t->n == t->max)
        drop_oldest(f, t);
    bool grew = t->n == t->cap;
    if (grew)
        ring_grow(f, t);
    struct fsm_outcome *copy = fsm_alloc(f, sizeof *copy + len);
    *copy = *o;
    copy->key_len = len;
    memcpy(copy->key, key, len);
    uint32_t k = (t->head + t->n) & (t->cap - 1);
    t->ring[k] = copy;
    t->hashes[k] = otable_hash(key, len);
    t->n++;
    if (t->index != NULL)
        fsm_xok(map_str_put(t->index, copy->key, len, copy));
    else if (t->slots != NULL && !grew)
        slot_put(t, k);
    else if (t->n > FSM_OTABLE_SCAN_MAX)
        slots_build(f, t);
    return copy;
}

/* ---- sessions --------------------------------------------------------- */

struct fsm_session *fsm_session_get(const struct fsm *f, uint64_t id)
{
    return map_u64_get(&f->sessions, id);
}

struct fsm_session *fsm_session_new(struct fsm *f, uint64_t id, uint64_t ttl,
                                    const char *client, uint8_t client_len,
                                    const char *user, uint8_t user_len,
                                    bool lease_lock)
{
    struct fsm_session *s =
        fsm_alloc(f, sizeof *s + (size_t)client_len + user_len);
    memset(s, 0, sizeof *s);
    s->id = id;
    s->ttl = ttl;
    s->lease_lock = lease_lock;
    s->client_len = client_len;
    s->user_len = user_len;
    if (client_len > 0)
        memcpy(s->client, client, client_len);
    if (user_len > 0)
        memcpy(s->client + client_len, user, user_len);
    fsm_session_otable_init(&s->outcomes, f->lim.session_outcomes, false);
    fsm_xok(map_u64_put(&f->sessions, id, s));
    fsm_session_changed(f, id, ttl);
    f->counts.sessions_opened++;
    /* Ids are log indexes, so a new session has the highest: the list stays
     * in id order by appending. */
    assert(f->first == NULL || id > f->first->prev->id);
    FSM_RING_APPEND(&f->first, s, prev, next);
    return s;
}

void fsm_session_delete(struct fsm *f, struct fsm_session *s)
{
    assert(s->holds == NULL && s->waits == NULL);
    fsm_session_changed(f, s->id, 0);
    map_u64_del(&f->sessions, s->id);
    FSM_RING_REMOVE(&f->first, s, prev, next);
    fsm_session_otable_close(f, &s->outcomes);
    fsm_dealloc(f, s, sizeof *s + (size_t)s->client_len + s->user_len);
}

/* Waits first, so that a lock freed below never goes to this session's own
 * waiter; then locks in the order acquired: the order of events is defined
 * by the state alone. */
void fsm_session_end(struct fsm *f, struct fsm_session *s, bool expired)
{
    /* Its waits end first, granting nothing: none of its own later waiters
     * may be granted a lock it frees. */
    bool outer = !f->deferring;
    if (outer)
        fsm_lock_defer(f);
    while (s->waits != NULL)
        fsm_lock_unwait(f, s->waits, FSM_EV_CANCELED);
    if (outer)
        fsm_lock_undefer(f);
    while (s->holds != NULL)
        fsm_lock_drop(f, s->holds, expired);
    fsm_session_delete(f, s);
    if (expired)
        f->counts.sessions_expired++;
}

bool fsm_session_info(const struct fsm *f, uint64_t id,
                      struct fsm_session_info *info)
{
    const struct fsm_session *s = fsm_session_get(f, id);
    if (s == NULL)
        return false;
    *info = (struct fsm_session_info){
        .id = s->id,
        .ttl = s->ttl,
        .client = s->client,
        .client_len = s->client_len,
        .locks = s->n_holds,
        .waits = s->n_waits,
        .lease_lock = s->lease_lock,
        .user = FSM_SESSION_USER(s),
        .user_len = s->user_len,
    };
    return true;
}

void fsm_session_each(const struct fsm *f,
                      void (*fn)(void *arg, uint64_t id, uint64_t ttl),
                      void *arg)
{
    const struct fsm_session *s = f->first;
    if (s == NULL)
        return;
    do {
        fn(arg, s->id, s->ttl);
        s = s->next;
    } while (s != f->first);
}
