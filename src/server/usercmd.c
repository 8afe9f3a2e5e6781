/* usercmd.c - USER.SET, USER.DEL, USER.GET, USER.LIST and USER.WHOAMI
 * (docs/protocol.md §6): the users, kept in the replicated state. */
#include "server/command.h"

#include <string.h>

#include "common/mem.h"
#include "lock/acl.h"
#include "server/auth.h"
#include "server/lockcmd_internal.h"
#include "server/node.h"

/* The user name a[i], or false with the error answered. */
static bool user_arg(struct slot *s, const struct resp_value *v)
{
    if (acl_user_ok(v->str, v->len))
        return true;
    command_error(s,
                  "ERR a user name is 1 to %d letters, digits and the "
                  "characters ._@-",
                  ACL_USER_MAX);
    return false;
}

bool usercmd_set(struct conn *c, struct slot *s, const struct resp_value *a,
                 size_t n)
{
    if (!user_arg(s, &a[1]))
        return true;
    if (n - 2 > ACL_TOKENS_MAX) {
        command_error(s, "ERR more than %d words", ACL_TOKENS_MAX);
        return true;
    }
    struct acl_token t[ACL_TOKENS_MAX];
    for (size_t i = 2; i < n; i++)
        t[i - 2] = (struct acl_token){a[i].str, (uint32_t)a[i].len};
    struct acl_spec sp;
    char err[256];
    if (acl_parse(&sp, t, n - 2, err, sizeof err) != 0) {
        command_error(s, "ERR %s", err);
        return true;
    }
    return auth_user_set(c, s, a[1].str, (uint32_t)a[1].len, &sp);
}

static void del_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (s->conn != NULL) {
        if (status == NODE_OK)
            resp_write_integer(&s->buf, r->status == FSM_OK);
        else if (status == NODE_SHUTDOWN)
            command_error(s, "NOLEADER the server is stopping");
        else
            command_not_leader(s);
    }
    slot_done(s);
}

bool usercmd_del(struct conn *c, struct slot *s, const struct resp_value *a,
                 size_t n)
{
    if (!user_arg(s, &a[1]))
        return true;
    struct fsm_cmd cmd = {.type = FSM_USER_DEL};
    cmd.name = a[1].str;
    cmd.name_len = (uint32_t)a[1].len;
    return lockcmd_propose(c, s, &cmd, del_done);
}

/* A rule as USER.SET takes it: "acquire jobs/" and a star for a prefix. */
static void write_rule(struct slot *s, const struct acl_rule *r)
{
    char text[16 + ACL_PATTERN_MAX + 2];
    size_t k = strlen(acl_level_name(r->level));
    memcpy(text, acl_level_name(r->level), k);
    text[k++] = ' ';
    memcpy(text + k, r->pattern, r->len);
    k += r->len;
    if (r->prefix)
        text[k++] = '*';
    resp_write_bulk(&s->buf, text, k);
}

/* USER.GET name: its fields (never the password's record). */
bool usercmd_get(struct conn *c, struct slot *s, const struct resp_value *a,
                 size_t n)
{
    if (!user_arg(s, &a[1]))
        return true;
    uint32_t dlen;
    const uint8_t *def = fsm_user(node_fsm(command_node(c)), a[1].str,
                                  (uint32_t)a[1].len, &dlen);
    struct acl_def d;
    if (def == NULL || acl_decode(&d, def, dlen, false) != 0) {
        resp_write_null(&s->buf, c->proto);
        return true;
    }
    resp_write_map(&s->buf, c->proto, 5);
    resp_write_bulk_str(&s->buf, "name");
    resp_write_bulk(&s->buf, a[1].str, a[1].len);
    resp_write_bulk_str(&s->buf, "on");
    resp_write_integer(&s->buf, (d.flags & ACL_ON) != 0);
    resp_write_bulk_str(&s->buf, "password");
    resp_write_integer(&s->buf, (d.flags & ACL_PASSWORD) != 0);
    resp_write_bulk_str(&s->buf, "categories");
    unsigned k = 0;
    for (uint32_t bit = 1; bit & ACL_CAT_ALL; bit <<= 1)
        k += (d.categories & bit) != 0;
    resp_write_array(&s->buf, k);
    for (uint32_t bit = 1; bit & ACL_CAT_ALL; bit <<= 1)
        if (d.categories & bit)
            resp_write_bulk_str(&s->buf, acl_category_name(bit));
    resp_write_bulk_str(&s->buf, "rules");
    resp_write_array(&s->buf, d.n_rules);
    for (unsigned i = 0; i < d.n_rules; i++) {
        struct acl_rule r;
        acl_rule_at(&d, i, &r);
        write_rule(s, &r);
    }
    return true;
}

static bool count_user(void *arg, const char *name, uint32_t len,
                       const uint8_t *def, uint32_t def_len)
{
    (*(size_t *)arg)++;
    return true;
}

static bool add_user(void *arg, const char *name, uint32_t len,
                     const uint8_t *def, uint32_t def_len)
{
    struct slot *s = arg;
    resp_write_bulk(&s->buf, name, len);
    return true;
}

bool usercmd_list(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n)
{
    const struct fsm *f = node_fsm(command_node(c));
    size_t count = 0;
    fsm_user_each(f, count_user, &count);
    resp_write_array(&s->buf, count);
    fsm_user_each(f, add_user, s);
    return true;
}

bool usercmd_whoami(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    if (c->authed)
        resp_write_bulk(&s->buf, c->user, c->user_len);
    else
        resp_write_null(&s->buf, c->proto);
    return true;
}
