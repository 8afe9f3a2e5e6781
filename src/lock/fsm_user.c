/* fsm_user.c - the lock state machine's users: USER_SET and USER_DEL, and
 * the table the servers check clients against (fsm.h; acl.h says what a
 * definition holds). */
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/mem.h"
#include "lock/acl.h"
#include "lock/fsm_internal.h"

void fsm_user_init(struct fsm *f)
{
    map_str_init(&f->users);
    f->auth_on = false;
}

static void user_free(struct fsm *f, struct fsm_user *u)
{
    fsm_dealloc(f, u, sizeof *u + u->def_len);
}

void fsm_user_free(struct fsm *f)
{
    size_t pos = 0;
    struct fsm_user *u;
    while ((u = map_str_next(&f->users, &pos, NULL, NULL)) != NULL)
        user_free(f, u);
    map_str_close(&f->users);
}

bool fsm_auth_on(const struct fsm *f)
{
    return f->auth_on;
}

const uint8_t *fsm_user(const struct fsm *f, const char *name, uint32_t len,
                        uint32_t *def_len)
{
    const struct fsm_user *u = map_str_get(&f->users, name, len);
    if (u == NULL)
        return NULL;
    *def_len = u->def_len;
    return u->def;
}

/* Stores a user (replacing one of the same name). */
static void put(struct fsm *f, const char *name, uint32_t len,
                const uint8_t *def, uint32_t def_len)
{
    struct fsm_user *u = fsm_alloc(f, sizeof *u + def_len);
    u->def_len = def_len;
    u->name_len = (uint8_t)len;
    memcpy(u->name, name, len);
    memcpy(u->def, def, def_len);
    struct fsm_user *old = map_str_get(&f->users, name, len);
    fsm_xok(map_str_put(&f->users, u->name, len, u));
    if (old != NULL)
        user_free(f, old);
}

/* One user of a USER_SET's data at *off: its name and definition. */
struct entry {
    const char *name;
    uint32_t len;
    const uint8_t *def;
    uint32_t def_len;
    struct acl_def d;
};

static bool next_entry(const struct fsm_cmd *c, size_t *off, struct entry *e)
{
    const uint8_t *p = c->data + *off;
    size_t left = c->data_len - *off;
    if (left < 1 || left - 1 < p[0] || left - 1 - p[0] < 2)
        return false;
    e->len = p[0];
    e->name = (const char *)p + 1;
    e->def_len = le_get16(p + 1 + e->len);
    e->def = p + 3 + e->len;
    if (left - 3 - e->len < e->def_len)
        return false;
    *off += 3 + e->len + e->def_len;
    return acl_user_ok(e->name, e->len) &&
           acl_decode(&e->d, e->def, e->def_len, true) == 0;
}

/* A definition with ACL_KEEP_PASSWORD, stored with the password record of
 * the user it replaces (or none): buf holds the result. */
static uint32_t resolve_keep(const struct fsm *f, const struct entry *e,
                             uint8_t *buf)
{
    struct acl_def old;
    uint32_t old_len;
    const uint8_t *od = fsm_user(f, e->name, e->len, &old_len);
    bool pw = od != NULL && acl_decode(&old, od, old_len, false) == 0 &&
              (old.flags & ACL_PASSWORD);
    /* Format, flags, categories; then the record, then the rules. */
    memcpy(buf, e->def, 6);
    buf[1] =
        (uint8_t)((e->def[1] & ~ACL_KEEP_PASSWORD) | (pw ? ACL_PASSWORD : 0));
    uint32_t n = 6;
    if (pw) {
        memcpy(buf + n, od + 6, 4 + ACL_SALT_LEN + ACL_HASH_LEN);
        n += 4 + ACL_SALT_LEN + ACL_HASH_LEN;
    }
    memcpy(buf + n, e->def + 6, e->def_len - 6);
    return n + e->def_len - 6;
}

/* USER_SET: every entry is checked before any is stored, so that a
 * command is applied whole or not at all. A bootstrap (count 1) applies
 * only while no user was ever set (FSM_NOTHELD otherwise). */
void fsm_user_set(struct fsm *f, const struct fsm_cmd *c,
                  struct fsm_result *res)
{
    size_t off = 0, n = 0, added = 0; /* n: res->users */
    struct entry e;
    if (c->count > 1 || c->data_len == 0) {
        res->status = FSM_INVALID;
        return;
    }
    while (off < c->data_len) {
        if (!next_entry(c, &off, &e)) {
            res->status = FSM_INVALID;
            return;
        }
        n++;
        added += map_str_get(&f->users, e.name, e.len) == NULL;
    }
    if (c->count == 1 && f->auth_on) {
        res->status = FSM_NOTHELD;
        return;
    }
    if (f->users.n + added > FSM_USERS_MAX) {
        res->status = FSM_LIMIT;
        return;
    }
    uint8_t buf[ACL_DEF_MAX];
    for (off = 0; off < c->data_len;) {
        next_entry(c, &off, &e);
        if (e.d.flags & ACL_KEEP_PASSWORD)
            put(f, e.name, e.len, buf, resolve_keep(f, &e, buf));
        else
            put(f, e.name, e.len, e.def, e.def_len);
    }
    f->auth_on = true;
    res->status = FSM_OK;
    res->users = (uint32_t)n;
}

/* USER_DEL: FSM_NOTHELD if there is no such user. Sessions it opened stay
 * (and stay its: nobody else may use them; they end when their leases
 * do). */
void fsm_user_del(struct fsm *f, const struct fsm_cmd *c,
                  struct fsm_result *res)
{
    struct fsm_user *u = map_str_del(&f->users, c->name, c->name_len);
    if (u == NULL) {
        res->status = FSM_NOTHELD;
        return;
    }
    user_free(f, u);
    res->status = FSM_OK;
}

bool fsm_user_load(struct fsm *f, const char *name, uint32_t len,
                   const uint8_t *def, uint32_t def_len)
{
    struct acl_def d;
    if (!acl_user_ok(name, len) || acl_decode(&d, def, def_len, false) != 0 ||
        map_str_get(&f->users, name, len) != NULL ||
        f->users.n >= FSM_USERS_MAX)
        return false;
    put(f, name, len, def, def_len);
    return true;
}

static int by_name(const void *a, const void *b)
{
    const struct fsm_user *x = *(const struct fsm_user *const *)a;
    const struct fsm_user *y = *(const struct fsm_user *const *)b;
    return fsm_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

const struct fsm_user **fsm_user_sorted(const struct fsm *f, size_t *n)
{
    const struct fsm_user **v =
        mem_xmalloc((f->users.n > 0 ? f->users.n : 1) * sizeof *v);
    size_t pos = 0, k = 0;
    const struct fsm_user *u;
    while ((u = map_str_next(&f->users, &pos, NULL, NULL)) != NULL)
        v[k++] = u;
    qsort(v, k, sizeof *v, by_name);
    *n = k;
    return v;
}

void fsm_user_each(const struct fsm *f,
                   bool (*fn)(void *arg, const char *name, uint32_t len,
                              const uint8_t *def, uint32_t def_len),
                   void *arg)
{
    size_t n;
    const struct fsm_user **v = fsm_user_sorted(f, &n);
    for (size_t i = 0; i < n; i++)
        if (!fn(arg, v[i]->name, v[i]->name_len, v[i]->def, v[i]->def_len))
            break;
    free(v);
}
