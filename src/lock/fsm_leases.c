/* fsm_leases.c - LEASES: lease locks on several names at once, all or
 * none, known by their owner (fsm.h). It is what a Redis multi-key lock
 * script does in one step (node-redlock's acquire, extend and release:
 * docs/redis-compat.md). A lease-lock session it makes holds every name it
 * took; it ends with its last hold. */
#include <string.h>

#include "common/le.h"
#include "lock/fsm_internal.h"

bool fsm_leases_add(uint8_t *buf, size_t cap, size_t *len, const char *name,
                    uint32_t name_len)
{
    if (name_len < 1 || name_len > FSM_NAME_MAX || *len > cap ||
        cap - *len < 2 + (size_t)name_len)
        return false;
    le_put16(buf + *len, (uint16_t)name_len);
    memcpy(buf + *len + 2, name, name_len);
    *len += 2 + (size_t)name_len;
    return true;
}

bool fsm_lease_counts_ok(uint32_t holds, uint32_t waits)
{
    return (waits == 1 && holds == 0) || (waits == 0 && holds >= 1);
}

bool fsm_lease_hold_ok(uint32_t permits, uint32_t exclusive, uint32_t shared)
{
    return permits > 0 ? exclusive == 0 && shared >= 1
                       : exclusive == 1 && shared == 0;
}

/* The names of a LEASES command, parsed. */
struct names {
    const char *name[FSM_LEASES_MAX];
    uint32_t len[FSM_LEASES_MAX];
    uint32_t n;
};

static bool parse(const struct fsm_cmd *c, struct names *ns)
{
    size_t off = 0;
    ns->n = 0;
    while (off < c->data_len) {
        if (ns->n == FSM_LEASES_MAX || c->data_len - off < 2)
            return false;
        uint32_t n = le_get16(c->data + off);
        off += 2;
        if (n < 1 || n > FSM_NAME_MAX || c->data_len - off < n)
            return false;
        ns->name[ns->n] = (const char *)c->data + off;
        ns->len[ns->n++] = n;
        off += n;
    }
    return ns->n > 0;
}

/* The hold of name if it is the owner's (fsm_lock_lease_of), or NULL;
 * with lock_only, a lock's only (TAKE takes locks: a semaphore's permits
 * held by the owner are not the lock it asks for). */
static struct fsm_hold *owners(const struct fsm *f, const char *name,
                               uint32_t len, const struct fsm_cmd *c,
                               bool lock_only)
{
    const struct fsm_lock *l = fsm_lock_get(f, name, len);
    if (l == NULL || (lock_only && l->kind != FSM_KIND_LOCK))
        return NULL;
    return fsm_lock_lease_of(l, c);
}

/* Whether l may be taken now: unknown, or a lock with no holder, no waiter
 * and no lock-delay. */
static bool is_free(const struct fsm *f, const struct fsm_lock *l)
{
    return l == NULL ||
           (l->kind == FSM_KIND_LOCK && l->holds.n == 0 && fsm_lock_open(f, l));
}

static void set_ttl(struct fsm *f, struct fsm_session *s, uint64_t ttl)
{
    s->ttl = ttl;
    /* Reported even when the same: the leader's lease starts again. */
    fsm_session_changed(f, s->id, ttl);
}

static void take(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                 const struct names *ns, struct fsm_result *res)
{
    uint32_t free_n = 0;
    for (uint32_t i = 0; i < ns->n; i++) {
        if (owners(f, ns->name[i], ns->len[i], c, true) != NULL)
            continue;
        const struct fsm_lock *l = fsm_lock_get(f, ns->name[i], ns->len[i]);
        if (!is_free(f, l)) {
            const struct fsm_hold *h = fsm_lock_first(l);
            res->status = FSM_HELD;
            res->holder = h != NULL ? h->session->id : 0;
            return;
        }
        free_n++;
    }
    if (free_n > 0 && (f->sessions.n >= f->lim.sessions ||
                       free_n > f->lim.locks_per_session)) {
        res->status = FSM_LIMIT;
        return;
    }
    struct fsm_session *s = NULL;
    for (uint32_t i = 0; i < ns->n; i++) {
        struct fsm_hold *h = owners(f, ns->name[i], ns->len[i], c, true);
        if (h != NULL) {
            /* Taken before (a retry), or earlier in this list. */
            if (h->session != s)
                set_ttl(f, h->session, c->ttl);
            continue;
        }
        if (s == NULL) {
            s = fsm_session_new(f, index, c->ttl, NULL, 0, c->user,
                                (uint8_t)c->user_len, true);
            res->session = s->id;
        }
        struct fsm_lock *l = fsm_lock_get(f, ns->name[i], ns->len[i]);
        if (l == NULL)
            l = fsm_lock_new(f, ns->name[i], ns->len[i]);
        h = fsm_lock_grant(f, l, s, c->owner, (uint8_t)c->owner_len, 1, 0, 0);
        if (res->token == 0)
            res->token = h->token;
    }
    res->status = FSM_OK;
    res->holds = ns->n;
}

static void extend(struct fsm *f, const struct fsm_cmd *c,
                   const struct names *ns, struct fsm_result *res)
{
    for (uint32_t i = 0; i < ns->n; i++) {
        if (owners(f, ns->name[i], ns->len[i], c, false) == NULL) {
            res->status = FSM_NOTHELD;
            return;
        }
    }
    for (uint32_t i = 0; i < ns->n; i++)
        set_ttl(f, owners(f, ns->name[i], ns->len[i], c, false)->session,
                c->ttl);
    res->status = FSM_OK;
    res->holds = ns->n;
    res->ttl = c->ttl;
}

static void release(struct fsm *f, const struct fsm_cmd *c,
                    const struct names *ns, struct fsm_result *res)
{
    res->status = FSM_OK;
    for (uint32_t i = 0; i < ns->n; i++) {
        struct fsm_hold *h = owners(f, ns->name[i], ns->len[i], c, false);
        if (h == NULL)
            continue;
        res->holds++;
        struct fsm_session *s = h->session;
        if (s->n_holds == 1)
            fsm_session_end(f, s, false);
        else
            fsm_lock_drop(f, h, false);
    }
}

void fsm_leases_apply(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                      struct fsm_result *res)
{
    struct names ns;
    bool ttl_needed = c->count != FSM_LEASES_RELEASE;
    if (!parse(c, &ns) || c->owner_len == 0 || c->count < FSM_LEASES_TAKE ||
        c->count > FSM_LEASES_RELEASE ||
        (ttl_needed && (c->ttl < FSM_TTL_MIN || c->ttl > FSM_TTL_MAX))) {
        res->status = FSM_INVALID;
        return;
    }
    if (c->count == FSM_LEASES_TAKE)
        take(f, index, c, &ns, res);
    else if (c->count == FSM_LEASES_EXTEND)
        extend(f, c, &ns, res);
    else
        release(f, c, &ns, res);
}
