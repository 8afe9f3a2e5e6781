/* electcmd.c - the election commands (docs/protocol.md §4): ELECT.CAMPAIGN
 * (a blocking acquire of leadership, with the value to lead with),
 * ELECT.PROCLAIM, ELECT.RESIGN, and ELECT.LEADER, a linearizable read. */
#include <string.h>

#include "lock/fsm.h"
#include "server/command.h"
#include "server/lockcmd_internal.h"
#include "server/node.h"

/* ELECT.CAMPAIGN name session value [OWNER o] [WAIT ms] [DELAY ms] [REQ id] */
bool electcmd_campaign(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_CAMPAIGN};
    struct opts o;
    if (!lockcmd_name_session(s, a, "the election's name", &cmd) ||
        !lockcmd_arg_str(s, &a[3], "the value", 0, FSM_VALUE_MAX) ||
        !lockcmd_opts(s, a, n, 4, "OWNER WAIT DELAY REQ", &o))
        return true;
    cmd.value = a[3].str;
    cmd.value_len = (uint32_t)a[3].len;
    return lockcmd_acquire_propose(c, s, &cmd, &o);
}

static void ok_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (status == NODE_OK && s->conn != NULL && r->status == FSM_OK) {
        resp_write_simple(&s->buf, "OK");
        lockcmd_finish(s);
        return;
    }
    lockcmd_integer_done(ctx, status, r, 0); /* the error, if any */
}

/* ELECT.PROCLAIM name session token value [REQ id] */
bool electcmd_proclaim(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_PROCLAIM};
    struct opts o;
    if (!lockcmd_name_session(s, a, "the election's name", &cmd) ||
        !command_u64(s, &a[3], "the token", 1, UINT64_MAX, &cmd.token) ||
        !lockcmd_arg_str(s, &a[4], "the value", 0, FSM_VALUE_MAX) ||
        !lockcmd_opts(s, a, n, 5, "REQ", &o))
        return true;
    cmd.value = a[4].str;
    cmd.value_len = (uint32_t)a[4].len;
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, ok_done);
}

/* ELECT.RESIGN name session [OWNER o] [REQ id] */
bool electcmd_resign(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_RESIGN};
    struct opts o;
    if (!lockcmd_name_session(s, a, "the election's name", &cmd) ||
        !lockcmd_opts(s, a, n, 3, "OWNER REQ", &o))
        return true;
    lockcmd_set_str(&cmd.owner, &cmd.owner_len, o.owner);
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, ok_done);
}

static void leader_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!lockcmd_read_ok(s, status))
        return;
    struct op *op = s->op;
    struct node *node = command_node(s->conn);
    struct fsm_lock_info li;
    if (!fsm_lock_info(node_fsm(node), op->name, op->name_len, &li)) {
        memset(&li, 0, sizeof li);
        li.owner = li.value = "";
    } else if (li.kind != FSM_KIND_ELECTION) {
        command_error(s, "KIND the name is not an election");
        lockcmd_finish(s);
        return;
    }
    int p = s->conn->proto;
    resp_write_map(&s->buf, p, 7);
    resp_write_bulk_str(&s->buf, "name");
    resp_write_bulk(&s->buf, op->name, op->name_len);
    resp_write_bulk_str(&s->buf, "leader");
    resp_write_integer(&s->buf, (int64_t)li.holder);
    resp_write_bulk_str(&s->buf, "owner");
    resp_write_bulk(&s->buf, li.owner, li.owner_len);
    resp_write_bulk_str(&s->buf, "token");
    resp_write_integer(&s->buf, (int64_t)li.token);
    resp_write_bulk_str(&s->buf, "value");
    resp_write_bulk(&s->buf, li.value, li.value_len);
    resp_write_bulk_str(&s->buf, "candidates");
    resp_write_integer(&s->buf, li.waiters);
    resp_write_bulk_str(&s->buf, "lease_left_ms");
    resp_write_integer(
        &s->buf, li.holder ? (int64_t)node_lease_left(node, li.holder) : 0);
    lockcmd_finish(s);
}

/* ELECT.LEADER name */
bool electcmd_leader(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    if (!lockcmd_arg_str(s, &a[1], "the election's name", 1, FSM_NAME_MAX))
        return true;
    lockcmd_copy_name(s, &a[1]);
    return lockcmd_read_start(c, s, leader_done);
}
