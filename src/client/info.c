/* info.c - reading the state: LOCK.STATUS, LOCK.LIST, LOCK.HOLDERS,
 * SEM.STATUS, ELECT.LEADER and CLUSTER.INFO (docs/protocol.md §4, §6), whose
 * maps come as RESP2 flat arrays of field, value pairs (or RESP3 maps). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/alloc.h"

#define LIST_MAX 100000

const struct resp_value *info_field(const struct resp_value *map,
                                    const char *key)
{
    if ((map->type != RESP_ARRAY && map->type != RESP_MAP) || map->n % 2 != 0)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct resp_value *k = &map->elems[i];
        if ((k->type == RESP_BULK || k->type == RESP_SIMPLE) && k->len == len &&
            memcmp(k->str, key, len) == 0)
            return &map->elems[i + 1];
    }
    return NULL;
}

/* A field that must be a non-negative integer (or a RESP3 boolean). */
static bool field_u64(const struct resp_value *map, const char *key,
                      uint64_t *out)
{
    const struct resp_value *v = info_field(map, key);
    if (v == NULL || (v->type != RESP_INTEGER && v->type != RESP_BOOL) ||
        v->integer < 0)
        return false;
    *out = (uint64_t)v->integer;
    return true;
}

/* A string field copied into out (size n), "" for a null; false if it is
 * missing, not a string, or does not fit. */
static bool field_str(const struct resp_value *map, const char *key, char *out,
                      size_t n)
{
    const struct resp_value *v = info_field(map, key);
    if (v != NULL && v->type == RESP_NULL) {
        out[0] = '\0';
        return true;
    }
    if (v == NULL || (v->type != RESP_BULK && v->type != RESP_SIMPLE) ||
        v->len >= n)
        return false;
    memcpy(out, v->str, v->len);
    out[v->len] = '\0';
    return true;
}

bool info_parse_status(const struct resp_value *map,
                       struct dlock_lock_status *st)
{
    uint64_t held, holds, waiters;
    memset(st, 0, sizeof *st);
    if (!field_str(map, "name", st->name, sizeof st->name) ||
        !field_u64(map, "held", &held) ||
        !field_u64(map, "session", &st->session) ||
        !field_str(map, "owner", st->owner, sizeof st->owner) ||
        !field_u64(map, "token", &st->token) ||
        !field_u64(map, "holds", &holds) ||
        !field_u64(map, "waiters", &waiters) ||
        !field_u64(map, "lease_left_ms", &st->lease_left_ms) ||
        !field_u64(map, "delay_left_ms", &st->delay_left_ms))
        return false;
    st->held = held != 0;
    st->holds = holds > UINT32_MAX ? UINT32_MAX : (uint32_t)holds;
    st->waiters = waiters > UINT32_MAX ? UINT32_MAX : (uint32_t)waiters;
    return true;
}

bool info_parse_mode(const struct resp_value *map,
                     const struct dlock_lock_status *st,
                     struct dlock_lock_mode *m)
{
    char mode[16];
    uint64_t holders;
    if (info_field(map, "mode") == NULL) { /* a server before shared locks */
        m->mode = st->held ? DLOCK_MODE_EXCLUSIVE : DLOCK_MODE_NONE;
        m->holders = st->held ? 1 : 0;
        return true;
    }
    if (!field_str(map, "mode", mode, sizeof mode) ||
        !field_u64(map, "holders", &holders))
        return false;
    if (strcmp(mode, "none") == 0)
        m->mode = DLOCK_MODE_NONE;
    else if (strcmp(mode, "exclusive") == 0)
        m->mode = DLOCK_MODE_EXCLUSIVE;
    else if (strcmp(mode, "shared") == 0)
        m->mode = DLOCK_MODE_SHARED;
    else
        return false;
    m->holders = holders > UINT32_MAX ? UINT32_MAX : (uint32_t)holders;
    return true;
}

static uint32_t clamp32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

bool info_parse_holder(const struct resp_value *map, struct dlock_holder *h)
{
    uint64_t exclusive, shared;
    memset(h, 0, sizeof *h);
    if (!field_u64(map, "session", &h->session) ||
        !field_str(map, "owner", h->owner, sizeof h->owner) ||
        !field_u64(map, "token", &h->token) ||
        !field_u64(map, "exclusive", &exclusive) ||
        !field_u64(map, "shared", &shared) ||
        !field_u64(map, "lease_left_ms", &h->lease_left_ms) || h->session == 0)
        return false;
    h->exclusive = clamp32(exclusive);
    h->shared = clamp32(shared);
    return true;
}

/* The order of holders in LOCK.HOLDERS: by session, then owner (bytes). */
static int holder_cmp(const struct dlock_holder *a,
                      const struct dlock_holder *b)
{
    if (a->session != b->session)
        return a->session < b->session ? -1 : 1;
    return strcmp(a->owner, b->owner);
}

/* How many of the last entries of hs share the session of its last. */
static size_t last_session_run(const struct info_holders *hs)
{
    size_t k = 0;
    while (k < hs->n &&
           hs->a[hs->n - 1 - k].session == hs->a[hs->n - 1].session)
        k++;
    return k;
}

uint64_t info_holders_count(const struct info_holders *hs, size_t max)
{
    uint64_t want = (uint64_t)(max - hs->n) + last_session_run(hs);
    return want < INFO_HOLDERS_MAX ? want : INFO_HOLDERS_MAX;
}

bool info_holders_merge(struct info_holders *hs, const struct dlock_holder *p,
                        size_t k, size_t max)
{
    size_t before = hs->n;
    for (size_t i = 0; i < k && hs->n < max; i++)
        if (hs->n == 0 || holder_cmp(&p[i], &hs->a[hs->n - 1]) > 0)
            hs->a[hs->n++] = p[i];
    if (k == 0 || hs->n == max)
        return false;
    if (hs->n > before) {
        /* On from the last session: it may have more owners. */
        hs->from = hs->a[hs->n - 1].session;
        return true;
    }
    /* Nothing new: the page repeated what was read of the last session,
     * all of it, or as many of its owners as a reply holds (a FROM cannot
     * start inside a session): read on after it, once. */
    if (hs->from > hs->a[hs->n - 1].session)
        return false;
    hs->from = hs->a[hs->n - 1].session + 1;
    return true;
}

bool info_parse_sem_status(const struct resp_value *map,
                           struct dlock_sem_status *st)
{
    uint64_t v[7];
    static const char *const keys[] = {"permits",   "used",    "expired",
                                       "available", "holders", "waiters"};
    memset(st, 0, sizeof *st);
    if (!field_str(map, "name", st->name, sizeof st->name) ||
        !field_u64(map, "delay_left_ms", &st->delay_left_ms))
        return false;
    for (size_t i = 0; i < 6; i++)
        if (!field_u64(map, keys[i], &v[i]))
            return false;
    st->permits = clamp32(v[0]);
    st->used = clamp32(v[1]);
    st->expired = clamp32(v[2]);
    st->available = clamp32(v[3]);
    st->holders = clamp32(v[4]);
    st->waiters = clamp32(v[5]);
    return true;
}

bool info_parse_leader(const struct resp_value *map,
                       struct dlock_leader_info *li)
{
    uint64_t candidates;
    memset(li, 0, sizeof *li);
    if (!field_str(map, "name", li->name, sizeof li->name) ||
        !field_u64(map, "leader", &li->leader) ||
        !field_str(map, "owner", li->owner, sizeof li->owner) ||
        !field_u64(map, "token", &li->token) ||
        !field_u64(map, "candidates", &candidates) ||
        !field_u64(map, "lease_left_ms", &li->lease_left_ms))
        return false;
    /* The value is bytes: it may hold NULs, so its length is kept. */
    const struct resp_value *v = info_field(map, "value");
    if (v == NULL || (v->type != RESP_BULK && v->type != RESP_SIMPLE &&
                      v->type != RESP_NULL))
        return false;
    size_t n = v->type == RESP_NULL ? 0 : v->len;
    if (n > DLOCK_VALUE_MAX)
        return false;
    if (n > 0)
        memcpy(li->value, v->str, n);
    li->value[n] = '\0';
    li->value_len = n;
    li->candidates = clamp32(candidates);
    return true;
}

static bool parse_member(const struct resp_value *map, struct dlock_member *m)
{
    char role[16];
    memset(m, 0, sizeof *m);
    if (!field_u64(map, "id", &m->id) ||
        !field_str(map, "role", role, sizeof role) ||
        !field_str(map, "raft_addr", m->raft_addr, sizeof m->raft_addr) ||
        !field_str(map, "client_addr", m->client_addr, sizeof m->client_addr) ||
        !field_u64(map, "match_index", &m->match_index))
        return false;
    m->voter = strcmp(role, "voter") == 0;
    return true;
}

bool info_parse_cluster(const struct resp_value *map,
                        struct dlock_cluster_info *ci)
{
    memset(ci, 0, sizeof *ci);
    const struct resp_value *ms = info_field(map, "members");
    if (!field_u64(map, "id", &ci->id) ||
        !field_str(map, "role", ci->role, sizeof ci->role) ||
        !field_u64(map, "leader", &ci->leader) ||
        !field_str(map, "leader_addr", ci->leader_addr,
                   sizeof ci->leader_addr) ||
        !field_u64(map, "term", &ci->term) ||
        !field_u64(map, "commit_index", &ci->commit_index) ||
        !field_u64(map, "applied_index", &ci->applied_index) ||
        !field_u64(map, "last_index", &ci->last_index) ||
        !field_u64(map, "snapshot_index", &ci->snapshot_index) || ms == NULL ||
        (ms->type != RESP_ARRAY && ms->type != RESP_SET))
        return false;
    size_t max = sizeof ci->members / sizeof ci->members[0];
    for (size_t i = 0; i < ms->n && i < max; i++)
        if (!parse_member(&ms->elems[i], &ci->members[i]))
            return false;
    ci->n_members = (unsigned)(ms->n < max ? ms->n : max);
    return true;
}

DLOCK_API int dlock_lock_status(struct dlock_client *c, const char *name,
                                struct dlock_lock_status *st)
{
    return dlock_lock_status_mode(c, name, st, NULL);
}

DLOCK_API int dlock_lock_status_mode(struct dlock_client *c, const char *name,
                                     struct dlock_lock_status *st,
                                     struct dlock_lock_mode *m)
{
    if (c == NULL || st == NULL)
        return DLOCK_EINVAL;
    if (name == NULL || name[0] == '\0' || strlen(name) > 256)
        return client_error(c, DLOCK_EINVAL, "a lock name is 1 to 256 bytes");
    const char *argv[] = {"LOCK.STATUS", name};
    struct call k;
    call_init(&k, c, 2, argv, 0);
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_run(c, &k, &conn, &v);
    if (rc != 0)
        return rc;
    if (!info_parse_status(v, st) || (m != NULL && !info_parse_mode(v, st, m)))
        rc = client_error(c, DLOCK_EPROTO, "LOCK.STATUS: a malformed reply");
    call_done(c, conn);
    return rc;
}

/* Appends the statuses of a LOCK.LIST reply to the array at *a of *cap
 * entries, *n used, allocated with alloc_realloc (malloc by default: the
 * caller frees it with free()). */
static int parse_list(struct dlock_client *c, const struct resp_value *v,
                      struct dlock_lock_status **a, size_t *cap, size_t *n)
{
    if (v->type != RESP_ARRAY)
        return client_error(c, DLOCK_EPROTO, "LOCK.LIST: not an array");
    if (alloc_grow((void **)a, cap, *n + v->n, sizeof **a) != 0)
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    for (size_t i = 0; i < v->n; i++)
        if (!info_parse_status(&v->elems[i], &(*a)[*n + i]))
            return client_error(c, DLOCK_EPROTO,
                                "LOCK.LIST: a malformed entry");
    *n += v->n;
    return 0;
}

/* One page of LOCK.LIST: the locks after the name after, at most want. */
static int list_page(struct dlock_client *c, const char *prefix,
                     const char *after, size_t want,
                     struct dlock_lock_status **a, size_t *cap, size_t *n)
{
    char count[24];
    snprintf(count, sizeof count, "%zu", want > LIST_MAX ? LIST_MAX : want);
    const char *argv[] = {"LOCK.LIST", prefix != NULL ? prefix : "",
                          "COUNT",     count,
                          "AFTER",     after};
    struct call k;
    call_init(&k, c, 6, argv, 0);
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_run(c, &k, &conn, &v);
    if (rc != 0)
        return rc;
    rc = parse_list(c, v, a, cap, n);
    call_done(c, conn);
    return rc;
}

/* A server ends a page early at a byte bound, so the list goes on, AFTER
 * the last name, until max locks or an empty page (docs/protocol.md §4). */
DLOCK_API int dlock_lock_list(struct dlock_client *c, const char *prefix,
                              size_t max, struct dlock_lock_status **out,
                              size_t *n)
{
    if (c == NULL || out == NULL || n == NULL)
        return DLOCK_EINVAL;
    *out = NULL;
    *n = 0;
    if (prefix != NULL && strlen(prefix) > 256)
        return client_error(c, DLOCK_EINVAL, "a prefix is at most 256 bytes");
    struct dlock_lock_status *a = NULL;
    size_t cap = 0, got = 0;
    int rc = 0;
    while (got < max) {
        size_t before = got;
        rc = list_page(c, prefix, got > 0 ? a[got - 1].name : "", max - got, &a,
                       &cap, &got);
        /* No progress: the end, or a name a C string cannot carry (with a
         * NUL byte), which the next page would repeat. */
        if (rc != 0 || got == before ||
            (before > 0 && strcmp(a[got - 1].name, a[before - 1].name) <= 0))
            break;
    }
    if (rc != 0) {
        alloc_free(a);
        return rc;
    }
    *out = a;
    *n = got;
    return 0;
}

/* One page of LOCK.HOLDERS name COUNT count FROM from, parsed into the
 * array at *p (of *cap entries; *k used). */
static int holders_page(struct dlock_client *c, const char *name,
                        uint64_t count, uint64_t from, struct dlock_holder **p,
                        size_t *cap, size_t *k)
{
    char cnt[24], frm[24];
    snprintf(cnt, sizeof cnt, "%" PRIu64, count);
    snprintf(frm, sizeof frm, "%" PRIu64, from);
    const char *argv[] = {"LOCK.HOLDERS", name, "COUNT", cnt, "FROM", frm};
    struct call k0;
    call_init(&k0, c, 6, argv, 0);
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_run(c, &k0, &conn, &v);
    if (rc != 0)
        return rc;
    *k = 0;
    if (v->type != RESP_ARRAY)
        rc = client_error(c, DLOCK_EPROTO, "LOCK.HOLDERS: not an array");
    else if (alloc_grow((void **)p, cap, v->n, sizeof **p) != 0)
        rc = client_error(c, DLOCK_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < v->n; i++)
        if (!info_parse_holder(&v->elems[i], &(*p)[i]))
            rc = client_error(c, DLOCK_EPROTO,
                              "LOCK.HOLDERS: a malformed entry");
    if (rc == 0)
        *k = v->n;
    call_done(c, conn);
    return rc;
}

/* Pages FROM a session id, which a page may end in the middle of: each
 * page after the first reads that session again, and the holders already
 * read are passed over (info_holders_merge). */
DLOCK_API int dlock_lock_holders(struct dlock_client *c, const char *name,
                                 size_t max, struct dlock_holder **out,
                                 size_t *n)
{
    if (c == NULL || out == NULL || n == NULL)
        return DLOCK_EINVAL;
    *out = NULL;
    *n = 0;
    if (name == NULL || name[0] == '\0' || strlen(name) > 256)
        return client_error(c, DLOCK_EINVAL, "a lock name is 1 to 256 bytes");
    struct info_holders hs = {0};
    struct dlock_holder *page = NULL;
    size_t cap = 0, hcap = 0, k = 0;
    int rc = 0;
    bool more = max > 0;
    while (rc == 0 && more) {
        rc = holders_page(c, name, info_holders_count(&hs, max), hs.from, &page,
                          &cap, &k);
        if (rc == 0 &&
            alloc_grow((void **)&hs.a, &hcap, hs.n + k, sizeof *hs.a) != 0)
            rc = client_error(c, DLOCK_ENOMEM, "out of memory");
        if (rc == 0)
            more = info_holders_merge(&hs, page, k, max);
    }
    alloc_free(page);
    if (rc != 0) {
        alloc_free(hs.a);
        return rc;
    }
    *out = hs.a;
    *n = hs.n;
    return 0;
}

/* A read of one name (SEM.STATUS, ELECT.LEADER): 0 and *conn, *v. */
static int read_name(struct dlock_client *c, const char *cmd, const char *name,
                     struct conn **conn, const struct resp_value **v)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > 256)
        return client_error(c, DLOCK_EINVAL, "a name is 1 to 256 bytes");
    const char *argv[] = {cmd, name};
    struct call k;
    call_init(&k, c, 2, argv, 0);
    return call_run(c, &k, conn, v);
}

DLOCK_API int dlock_sem_status(struct dlock_client *c, const char *name,
                               struct dlock_sem_status *st)
{
    if (c == NULL || st == NULL)
        return DLOCK_EINVAL;
    struct conn *conn;
    const struct resp_value *v;
    int rc = read_name(c, "SEM.STATUS", name, &conn, &v);
    if (rc != 0)
        return rc;
    if (!info_parse_sem_status(v, st))
        rc = client_error(c, DLOCK_EPROTO, "SEM.STATUS: a malformed reply");
    call_done(c, conn);
    return rc;
}

DLOCK_API int dlock_leader(struct dlock_client *c, const char *name,
                           struct dlock_leader_info *out)
{
    if (c == NULL || out == NULL)
        return DLOCK_EINVAL;
    struct conn *conn;
    const struct resp_value *v;
    int rc = read_name(c, "ELECT.LEADER", name, &conn, &v);
    if (rc != 0)
        return rc;
    if (!info_parse_leader(v, out))
        rc = client_error(c, DLOCK_EPROTO, "ELECT.LEADER: a malformed reply");
    call_done(c, conn);
    return rc;
}

/* Runs the one-word command cmd at the server at addr (NULL: any
 * reachable one): 0 with its reply in *v and its connection in *conn (for
 * call_done), or an error. */
static int call_server(struct dlock_client *c, const char *addr,
                       const char *cmd, struct conn **conn,
                       const struct resp_value **v)
{
    char server[CLIENT_ADDR_MAX];
    if (addr != NULL && !client_parse_addr(addr, strlen(addr), server))
        return client_error(c, DLOCK_EINVAL, "not host:port: %s", addr);
    const char *argv[] = {cmd};
    struct call k;
    call_init(&k, c, 1, argv, 0);
    k.addr = addr != NULL ? server : NULL;
    return call_run(c, &k, conn, v);
}

DLOCK_API int dlock_cluster_info(struct dlock_client *c, const char *addr,
                                 struct dlock_cluster_info *ci)
{
    if (c == NULL || ci == NULL)
        return DLOCK_EINVAL;
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_server(c, addr, "CLUSTER.INFO", &conn, &v);
    if (rc != 0)
        return rc;
    if (!info_parse_cluster(v, ci))
        rc = client_error(c, DLOCK_EPROTO, "CLUSTER.INFO: a malformed reply");
    call_done(c, conn);
    return rc;
}

DLOCK_API int dlock_server_status(struct dlock_client *c, const char *addr,
                                  char **json, size_t *len)
{
    if (c == NULL || json == NULL)
        return DLOCK_EINVAL;
    *json = NULL;
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_server(c, addr, "SERVER.STATUS", &conn, &v);
    if (rc != 0)
        return rc;
    if (v->type != RESP_BULK) {
        rc = client_error(c, DLOCK_EPROTO, "SERVER.STATUS: not a string");
    } else if ((*json = alloc_malloc(v->len + 1)) == NULL) {
        rc = client_error(c, DLOCK_ENOMEM, "SERVER.STATUS: out of memory");
    } else {
        memcpy(*json, v->str, v->len);
        (*json)[v->len] = '\0';
        if (len != NULL)
            *len = v->len;
    }
    call_done(c, conn);
    return rc;
}
