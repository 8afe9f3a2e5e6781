/* lockcmd.c - the session and lock writes (docs/protocol.md §3, §4):
 * arguments are checked here, writes are proposed through the node and
 * answered when they apply, blocking acquires wait on their waiter; and
 * the helpers the reads (lockread.c) and semaphores (semcmd.c) share. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "server/command.h"
#include "server/lockcmd_internal.h"

#include "server/auth.h"
#include "server/config.h"
#include "lock/fsm.h"
#include "server/node.h"
#include "server/server.h"

struct op *lockcmd_op(struct slot *s)
{
    if (s->op == NULL)
        s->op = mem_xcalloc(1, sizeof(struct op));
    return s->op;
}

void lockcmd_finish(struct slot *s)
{
    free(s->op);
    s->op = NULL;
    slot_done(s);
}

/* ---- arguments -------------------------------------------------------- */

/* A string argument within max bytes (LIMIT otherwise). */
bool lockcmd_arg_str(struct slot *s, const struct resp_value *a,
                     const char *what, size_t min, size_t max)
{
    if (a->len < min) {
        command_error(s, "ERR %s must not be empty", what);
        return false;
    }
    if (a->len > max) {
        command_error(s, "LIMIT %s is longer than %zu bytes", what, max);
        return false;
    }
    return true;
}

/* Whether the len bytes at kw are one of the space-separated words of
 * allowed: a part of a word ("AIT") or of two ("WAIT DELAY") is not. */
static bool allowed_word(const char *allowed, const char *kw, size_t len)
{
    for (const char *p = allowed; *p != '\0';) {
        size_t w = strcspn(p, " ");
        if (w == len && memcmp(p, kw, len) == 0)
            return true;
        p += w;
        if (*p == ' ')
            p++;
    }
    return false;
}

bool lockcmd_opts(struct slot *s, const struct resp_value *a, size_t n,
                  size_t from, const char *allowed, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->delay = UINT64_MAX;
    for (size_t i = from; i < n; i += 2) {
        const struct resp_value *k = &a[i];
        char kw[16];
        if (command_is(k, "SHARED") && allowed_word(allowed, "SHARED", 6)) {
            o->shared = true;
            i--; /* a flag: no value follows */
            continue;
        }
        size_t len = k->len < sizeof kw - 1 ? k->len : sizeof kw - 1;
        for (size_t j = 0; j < len; j++)
            kw[j] = (char)(k->str[j] >= 'a' && k->str[j] <= 'z' ? k->str[j] - 32
                                                                : k->str[j]);
        kw[len] = '\0';
        bool known = len > 0 && len == k->len && allowed_word(allowed, kw, len);
        if (!known) {
            command_error(s, "ERR unknown option '%.*s' (allowed: %s)",
                          (int)(k->len > 32 ? 32 : k->len), k->str, allowed);
            return false;
        }
        if (i + 1 == n) {
            command_error(s, "ERR option %s needs a value", kw);
            return false;
        }
        const struct resp_value *v = &a[i + 1];
        if (!strcmp(kw, "OWNER")) {
            if (!lockcmd_arg_str(s, v, "OWNER", 0, FSM_OWNER_MAX))
                return false;
            o->owner = v;
        } else if (!strcmp(kw, "REQ")) {
            if (!lockcmd_arg_str(s, v, "REQ", 1, FSM_REQ_MAX))
                return false;
            o->req = v;
        } else if (!strcmp(kw, "NAME")) {
            if (!lockcmd_arg_str(s, v, "NAME", 0, FSM_CLIENT_MAX))
                return false;
            o->name = v;
        } else if (!strcmp(kw, "WAIT")) {
            if (!command_u64(s, v, "WAIT", 0, FSM_WAIT_MAX, &o->wait))
                return false;
            o->have_wait = true;
        } else if (!strcmp(kw, "DELAY")) {
            if (!command_u64(s, v, "DELAY", 0, FSM_DELAY_MAX, &o->delay))
                return false;
            o->have_delay = true;
        } else if (!strcmp(kw, "COUNT")) {
            if (!command_u64(s, v, "COUNT", 1, FSM_PERMITS_MAX, &o->count))
                return false;
            o->have_count = true;
        }
    }
    return true;
}

bool lockcmd_name_session(struct slot *s, const struct resp_value *a,
                          const char *what, struct fsm_cmd *cmd)
{
    if (!lockcmd_arg_str(s, &a[1], what, 1, FSM_NAME_MAX) ||
        !command_u64(s, &a[2], "the session", 1, UINT64_MAX, &cmd->session))
        return false;
    cmd->name = a[1].str;
    cmd->name_len = (uint32_t)a[1].len;
    return true;
}

void lockcmd_set_str(const char **p, uint32_t *len, const struct resp_value *v)
{
    if (v != NULL) {
        *p = v->str;
        *len = (uint32_t)v->len;
    }
}

/* ---- results ---------------------------------------------------------- */

/* Writes the reply of a result that is not a success. */
void lockcmd_result_error(struct slot *s, const struct fsm_result *r,
                          bool by_token)
{
    switch (r->status) {
    case FSM_HELD:
        if (r->holder != 0)
            command_error(s, "HELD by session %" PRIu64, r->holder);
        else
            command_error(s, "HELD in lock-delay: its last holder's session "
                             "expired");
        break;
    case FSM_NOTHELD:
        command_error(s, "NOTHELD the lock is not held by that %s",
                      by_token ? "token" : "session and owner");
        break;
    case FSM_NOSESSION:
        command_error(s, "NOSESSION unknown or expired session");
        break;
    case FSM_LIMIT:
        command_error(s, "LIMIT too many sessions, locks of the session, or "
                         "waiters of the lock (see docs/protocol.md)");
        break;
    case FSM_TIMEOUT:
        command_error(s, "TIMEOUT the wait ran out before the lock was free");
        break;
    case FSM_CANCELED:
        command_error(s, "NOSESSION the session ended while waiting");
        break;
    case FSM_REQ_REUSED:
        command_error(s, "ERR REQ id was used for another request (another "
                         "command or other arguments): use a fresh id");
        break;
    case FSM_KIND:
        if (r->kind == FSM_KIND_SEMAPHORE)
            command_error(s,
                          "KIND the name is a semaphore of %" PRIu64
                          " permits (SEM.* commands)",
                          r->permits);
        else if (r->kind == FSM_KIND_ELECTION)
            command_error(s, "KIND the name is an election (ELECT.* "
                             "commands)");
        else
            command_error(s, "KIND the name is a lock (LOCK.* commands)");
        break;
    case FSM_NOPERM:
        command_error(s, by_token ? "NOPERM the lock is another user's"
                                  : "NOPERM the session is another user's");
        break;
    case FSM_UPGRADE:
        command_error(s, "UPGRADE this session and owner hold the lock "
                         "shared: release it and acquire it exclusive (an "
                         "upgrade in place could deadlock)");
        break;
    default:
        command_error(s, "ERR invalid arguments");
        break;
    }
}

/* The common start of every write: the proposal or an error reply. */
bool lockcmd_propose(struct conn *c, struct slot *s, struct fsm_cmd *cmd,
                     node_apply_cb cb)
{
    auth_stamp(c, cmd);
    struct node_trace_in in = {s->woke_ns, s->recv_ns};
    int rc = node_propose_traced(command_node(c), cmd, cb, s, &in);
    if (rc == NODE_OK)
        return false;
    if (rc == NODE_SHUTDOWN)
        command_error(s, "NOLEADER the server is stopping");
    else if (rc == NODE_INVALID)
        command_error(s, "LIMIT an argument is over its limit");
    else
        command_not_leader(s);
    return true;
}

/* A write whose outcome could not be learnt here. */
static bool applied_ok(struct slot *s, int status)
{
    if (status == NODE_OK)
        return true;
    if (s->conn != NULL) {
        if (status == NODE_SHUTDOWN)
            command_error(s, "NOLEADER the server is stopping; retry with the "
                             "same REQ");
        else
            command_not_leader(s);
    }
    return false;
}

static void integer_reply(void *ctx, int status, const struct fsm_result *r,
                          int64_t value, bool by_token)
{
    struct slot *s = ctx;
    if (applied_ok(s, status) && s->conn != NULL) {
        if (r->status == FSM_OK)
            resp_write_integer(&s->buf, value);
        else
            lockcmd_result_error(s, r, by_token);
    }
    lockcmd_finish(s);
}

void lockcmd_integer_done(void *ctx, int status, const struct fsm_result *r,
                          int64_t value)
{
    integer_reply(ctx, status, r, value, false);
}

/* ---- sessions --------------------------------------------------------- */

static void open_done(void *ctx, int status, const struct fsm_result *r)
{
    lockcmd_integer_done(ctx, status, r, r ? (int64_t)r->session : 0);
}

bool lockcmd_session_open(struct conn *c, struct slot *s,
                          const struct resp_value *a, size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_OPEN};
    struct opts o;
    if (!command_u64(s, &a[1], "the TTL (ms)", FSM_TTL_MIN, FSM_TTL_MAX,
                     &cmd.ttl) ||
        !lockcmd_opts(s, a, n, 2, "NAME REQ", &o))
        return true;
    lockcmd_set_str(&cmd.client, &cmd.client_len, o.name);
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, open_done);
}

static void keepalive_done(void *ctx, int status, uint64_t ttl)
{
    struct slot *s = ctx;
    if (s->conn != NULL) {
        if (status == NODE_OK)
            resp_write_integer(&s->buf, (int64_t)ttl);
        else if (status == NODE_NOSESSION)
            command_error(s, "NOSESSION unknown or expired session");
        else
            command_not_leader(s);
    }
    lockcmd_finish(s);
}

bool lockcmd_session_keepalive(struct conn *c, struct slot *s,
                               const struct resp_value *a, size_t n)
{
    uint64_t id;
    if (!command_u64(s, &a[1], "the session", 1, UINT64_MAX, &id))
        return true;
    int rc = node_keepalive(command_node(c), id, keepalive_done, s);
    if (rc == NODE_OK)
        return false;
    if (rc == NODE_NOSESSION)
        command_error(s, "NOSESSION unknown or expired session");
    else
        command_not_leader(s);
    return true;
}

static void close_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (applied_ok(s, status) && s->conn != NULL) {
        if (r->status == FSM_OK)
            resp_write_simple(&s->buf, "OK");
        else
            lockcmd_result_error(s, r, false);
    }
    lockcmd_finish(s);
}

bool lockcmd_session_close(struct conn *c, struct slot *s,
                           const struct resp_value *a, size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_CLOSE};
    struct opts o;
    if (!command_u64(s, &a[1], "the session", 1, UINT64_MAX, &cmd.session) ||
        !lockcmd_opts(s, a, n, 2, "REQ", &o))
        return true;
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, close_done);
}

/* ---- acquire ---------------------------------------------------------- */

/* The client of the blocking acquire op went away without learning its
 * outcome (the wait of the ACQUIRE at index, of session, or a grant made
 * to it): it can end (docs/protocol.md §4). */
static void give_up(const struct op *op, uint64_t index, uint64_t session)
{
    struct fsm_cmd cmd = {.type = FSM_UNWAIT,
                          .index = index,
                          .session = session,
                          .name = op->name,
                          .name_len = op->name_len,
                          .req = op->req,
                          .req_len = op->req_len};
    node_unwait(op->node, &cmd);
}

static void wait_on_close(struct slot *s)
{
    struct op *op = s->op;
    if (node_wait_detach(op->node, op->wait))
        give_up(op, op->index, op->session);
    slot_free(s);
}

static void wait_done(void *ctx, const struct fsm_event *ev, int status)
{
    struct slot *s = ctx;
    if (s->conn != NULL) {
        if (status != NODE_OK)
            command_not_leader(s);
        else if (ev->type == FSM_EV_GRANTED)
            resp_write_integer(&s->buf, (int64_t)ev->token);
        else if (ev->type == FSM_EV_TIMEOUT)
            command_error(s, "TIMEOUT the wait ran out before the lock was "
                             "free");
        else
            command_error(s, "NOSESSION the session ended while waiting");
    }
    s->on_close = NULL;
    lockcmd_finish(s);
}

void lockcmd_acquire_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (!applied_ok(s, status)) {
        lockcmd_finish(s);
        return;
    }
    if (s->conn == NULL) {
        /* Gone before the answer: a wait, or a grant at once (index set),
         * that nobody will learn. */
        if (s->op != NULL &&
            (r->status == FSM_QUEUED || (r->status == FSM_OK && r->index != 0)))
            give_up(s->op, r->index, r->session);
        lockcmd_finish(s);
        return;
    }
    if (r->status == FSM_QUEUED) {
        struct op *op = lockcmd_op(s);
        op->index = r->index;
        op->session = r->session;
        op->wait = node_wait_attach(op->node, r->index, wait_done, s);
        s->on_close = wait_on_close;
        return;
    }
    if (r->status == FSM_OK)
        resp_write_integer(&s->buf, (int64_t)r->token);
    else
        lockcmd_result_error(s, r, false);
    lockcmd_finish(s);
}

/* A blocking acquire keeps its lock name and request id, for an UNWAIT if
 * its client goes; so does one with a request id, which may repeat a
 * blocking one and learn that it waits. */
void lockcmd_keep_blocking(struct conn *c, struct slot *s,
                           const struct fsm_cmd *cmd)
{
    struct op *op = lockcmd_op(s);
    op->node = command_node(c);
    memcpy(op->name, cmd->name, cmd->name_len);
    op->name_len = cmd->name_len;
    if (cmd->req_len > 0)
        memcpy(op->req, cmd->req, cmd->req_len);
    op->req_len = cmd->req_len;
}

/* LOCK.ACQUIRE name session [OWNER o] [SHARED] [WAIT ms] [DELAY ms] [REQ id]
 * LOCK.ACQUIRE name TTL ms [WAIT ms] [DELAY ms] [REQ id] */
bool lockcmd_acquire(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_ACQUIRE};
    struct opts o;
    if (!lockcmd_arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX))
        return true;
    cmd.name = a[1].str;
    cmd.name_len = (uint32_t)a[1].len;
    if (command_is(&a[2], "TTL")) {
        if (n < 4) {
            command_error(s, "ERR TTL needs a value");
            return true;
        }
        if (!command_u64(s, &a[3], "the TTL (ms)", FSM_TTL_MIN, FSM_TTL_MAX,
                         &cmd.ttl) ||
            !lockcmd_opts(s, a, n, 4, "OWNER WAIT DELAY REQ", &o))
            return true;
    } else if (!command_u64(s, &a[2], "the session", 1, UINT64_MAX,
                            &cmd.session) ||
               !lockcmd_opts(s, a, n, 3, "OWNER SHARED WAIT DELAY REQ", &o)) {
        return true;
    }
    if (o.shared)
        cmd.type = FSM_ACQUIRE_SHARED;
    return lockcmd_acquire_propose(c, s, &cmd, &o);
}

bool lockcmd_acquire_propose(struct conn *c, struct slot *s,
                             struct fsm_cmd *cmd, const struct opts *o)
{
    cmd->wait = o->wait;
    cmd->delay = o->delay;
    lockcmd_set_str(&cmd->owner, &cmd->owner_len, o->owner);
    lockcmd_set_str(&cmd->req, &cmd->req_len, o->req);
    if (cmd->wait > 0 || cmd->req_len > 0)
        lockcmd_keep_blocking(c, s, cmd);
    return lockcmd_propose(c, s, cmd, lockcmd_acquire_done);
}

/* ---- release, extend -------------------------------------------------- */

static void holds_done(void *ctx, int status, const struct fsm_result *r)
{
    lockcmd_integer_done(ctx, status, r, r ? (int64_t)r->holds : 0);
}

static void lease_release_done(void *ctx, int status,
                               const struct fsm_result *r)
{
    integer_reply(ctx, status, r, r ? (int64_t)r->holds : 0, true);
}

/* LOCK.RELEASE name session [OWNER o] [SHARED] [REQ id]
 * LOCK.RELEASE name TOKEN token [REQ id] */
bool lockcmd_release(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_RELEASE};
    struct opts o;
    if (!lockcmd_arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX))
        return true;
    cmd.name = a[1].str;
    cmd.name_len = (uint32_t)a[1].len;
    if (command_is(&a[2], "TOKEN")) {
        if (n < 4) {
            command_error(s, "ERR TOKEN needs a value");
            return true;
        }
        if (!command_u64(s, &a[3], "the token", 1, UINT64_MAX, &cmd.token) ||
            !lockcmd_opts(s, a, n, 4, "REQ", &o))
            return true;
        lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
        return lockcmd_propose(c, s, &cmd, lease_release_done);
    }
    if (!command_u64(s, &a[2], "the session", 1, UINT64_MAX, &cmd.session) ||
        !lockcmd_opts(s, a, n, 3, "OWNER SHARED REQ", &o))
        return true;
    if (o.shared)
        cmd.type = FSM_RELEASE_SHARED;
    lockcmd_set_str(&cmd.owner, &cmd.owner_len, o.owner);
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, holds_done);
}

static void token_done(void *ctx, int status, const struct fsm_result *r)
{
    lockcmd_integer_done(ctx, status, r, r ? (int64_t)r->token : 0);
}

/* LOCK.DOWNGRADE name session [OWNER o] [REQ id] */
bool lockcmd_downgrade(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_DOWNGRADE};
    struct opts o;
    if (!lockcmd_name_session(s, a, "the lock name", &cmd) ||
        !lockcmd_opts(s, a, n, 3, "OWNER REQ", &o))
        return true;
    lockcmd_set_str(&cmd.owner, &cmd.owner_len, o.owner);
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, token_done);
}

static void revoke_done(void *ctx, int status, const struct fsm_result *r)
{
    lockcmd_integer_done(ctx, status, r, r ? (int64_t)r->session : 0);
}

/* LOCK.REVOKE name token [DELAY ms] [REQ id] */
bool lockcmd_revoke(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_REVOKE};
    struct opts o;
    if (!lockcmd_arg_str(s, &a[1], "the name", 1, FSM_NAME_MAX) ||
        !command_u64(s, &a[2], "the token", 1, UINT64_MAX, &cmd.token) ||
        !lockcmd_opts(s, a, n, 3, "DELAY REQ", &o))
        return true;
    cmd.name = a[1].str;
    cmd.name_len = (uint32_t)a[1].len;
    cmd.delay = o.delay;
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, revoke_done);
}

static void extend_done(void *ctx, int status, const struct fsm_result *r)
{
    integer_reply(ctx, status, r, r ? (int64_t)r->ttl : 0, true);
}

/* LOCK.EXTEND name token ttl [REQ id] */
bool lockcmd_extend(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_EXTEND};
    struct opts o;
    if (!lockcmd_arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX) ||
        !command_u64(s, &a[2], "the token", 1, UINT64_MAX, &cmd.token) ||
        !command_u64(s, &a[3], "the TTL (ms)", FSM_TTL_MIN, FSM_TTL_MAX,
                     &cmd.ttl) ||
        !lockcmd_opts(s, a, n, 4, "REQ", &o))
        return true;
    cmd.name = a[1].str;
    cmd.name_len = (uint32_t)a[1].len;
    lockcmd_set_str(&cmd.req, &cmd.req_len, o.req);
    return lockcmd_propose(c, s, &cmd, extend_done);
}

/* Starts a linearizable read; the callback writes the reply. */
bool lockcmd_read_start(struct conn *c, struct slot *s, node_read_cb cb)
{
    int rc = node_read(command_node(c), cb, s);
    if (rc == NODE_OK)
        return false;
    command_not_leader(s);
    return true;
}

/* Whether a read callback may write its reply; if not, finishes it. */
bool lockcmd_read_ok(struct slot *s, int status)
{
    if (s->conn == NULL) {
        lockcmd_finish(s);
        return false;
    }
    if (status != NODE_OK) {
        command_not_leader(s);
        lockcmd_finish(s);
        return false;
    }
    return true;
}

void lockcmd_copy_name(struct slot *s, const struct resp_value *a)
{
    struct op *op = lockcmd_op(s);
    memcpy(op->name, a->str, a->len);
    op->name_len = (uint32_t)a->len;
}
