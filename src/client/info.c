/* info.c - reading the state: LOCK.STATUS, LOCK.LIST and CLUSTER.INFO
 * (docs/protocol.md §4, §6), whose maps come as RESP2 flat arrays of
 * field, value pairs (or RESP3 maps). */
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
    if (!info_parse_status(v, st))
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

DLOCK_API int dlock_cluster_info(struct dlock_client *c, const char *addr,
                                 struct dlock_cluster_info *ci)
{
    if (c == NULL || ci == NULL)
        return DLOCK_EINVAL;
    char server[CLIENT_ADDR_MAX];
    if (addr != NULL && !client_parse_addr(addr, strlen(addr), server))
        return client_error(c, DLOCK_EINVAL, "not host:port: %s", addr);
    const char *argv[] = {"CLUSTER.INFO"};
    struct call k;
    call_init(&k, c, 1, argv, 0);
    k.addr = addr != NULL ? server : NULL;
    struct conn *conn;
    const struct resp_value *v;
    int rc = call_run(c, &k, &conn, &v);
    if (rc != 0)
        return rc;
    if (!info_parse_cluster(v, ci))
        rc = client_error(c, DLOCK_EPROTO, "CLUSTER.INFO: a malformed reply");
    call_done(c, conn);
    return rc;
}
