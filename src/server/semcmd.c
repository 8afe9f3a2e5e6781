/* semcmd.c - the semaphore commands (docs/protocol.md §4): SEM.ACQUIRE and
 * SEM.RELEASE, proposed and answered as the lock writes are (a blocking
 * acquire waits on its waiter), and SEM.STATUS, a linearizable read. */
#include <inttypes.h>
#include <string.h>

#include "lock/fsm.h"
#include "server/command.h"
#include "server/lockcmd_internal.h"
#include "server/node.h"

/* SEM.ACQUIRE name session permits [COUNT k] [OWNER o] [WAIT ms] [DELAY ms]
 * [REQ id] */
bool semcmd_acquire(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_SEM_ACQUIRE};
    struct opts o;
    if (!lockcmd_name_session(s, a, "the semaphore's name", &cmd) ||
        !command_u64(s, &a[3], "the permits", 1, FSM_PERMITS_MAX,
                     &cmd.permits) ||
        !lockcmd_opts(s, a, n, 4, "COUNT OWNER WAIT DELAY REQ", &o))
        return true;
    cmd.count = o.have_count ? o.count : 1;
    if (cmd.count > cmd.permits) {
        command_error(
            s, "ERR COUNT %" PRIu64 " is more than the %" PRIu64 " permits",
            cmd.count, cmd.permits);
        return true;
    }
    return lockcmd_acquire_propose(c, s, &cmd, &o);
}

static void release_done(void *ctx, int status, const struct fsm_result *r)
{
    lockcmd_integer_done(ctx, status, r, r ? (int64_t)r->holds : 0);
}

/* SEM.RELEASE name session [COUNT k] [OWNER o] [REQ id] */
bool semcmd_release(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_SEM_RELEASE};
    struct opts o;
    if (!lockcmd_name_session(s, a, "the semaphore's name", &cmd) ||
        !lockcmd_opts(s, a, n, 3, "COUNT OWNER REQ", &o))
        return true;
    cmd.count = o.have_count ? o.count : 1;
    lockcmd_set_str(&cmd.owner, &cmd.owner_len, o.owner);
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, release_done);
}

static void status_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!lockcmd_read_ok(s, status))
        return;
    struct op *op = s->op;
    struct node *node = command_node(s->conn);
    struct fsm_lock_info li;
    if (!fsm_lock_info(node_fsm(node), op->name, op->name_len, &li)) {
        memset(&li, 0, sizeof li);
    } else if (li.kind != FSM_KIND_SEMAPHORE) {
        command_error(s, "KIND the name is not a semaphore");
        lockcmd_finish(s);
        return;
    }
    uint64_t now = node_now(node);
    int p = s->conn->proto;
    resp_write_map(&s->buf, p, 8);
    resp_write_bulk_str(&s->buf, "name");
    resp_write_bulk(&s->buf, op->name, op->name_len);
    resp_write_bulk_str(&s->buf, "permits");
    resp_write_integer(&s->buf, li.permits);
    resp_write_bulk_str(&s->buf, "used");
    resp_write_integer(&s->buf, li.used);
    resp_write_bulk_str(&s->buf, "expired");
    resp_write_integer(&s->buf, li.expired);
    resp_write_bulk_str(&s->buf, "available");
    resp_write_integer(&s->buf, (int64_t)li.permits - li.used - li.expired);
    resp_write_bulk_str(&s->buf, "holders");
    resp_write_integer(&s->buf, li.holders);
    resp_write_bulk_str(&s->buf, "waiters");
    resp_write_integer(&s->buf, li.waiters);
    resp_write_bulk_str(&s->buf, "delay_left_ms");
    resp_write_integer(
        &s->buf, li.available_at > now ? (int64_t)(li.available_at - now) : 0);
    lockcmd_finish(s);
}

/* SEM.STATUS name */
bool semcmd_status(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n)
{
    if (!lockcmd_arg_str(s, &a[1], "the semaphore's name", 1, FSM_NAME_MAX))
        return true;
    lockcmd_copy_name(s, &a[1]);
    return lockcmd_read_start(c, s, status_done);
}
