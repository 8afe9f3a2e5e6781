/* lockcmd.c - the session and lock commands (docs/protocol.md §3, §4):
 * arguments are checked here, writes are proposed through the node and
 * answered when they apply, blocking acquires wait on their waiter, reads
 * are served after a ReadIndex round. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "server/command.h"
#include "server/config.h"
#include "lock/fsm.h"
#include "server/node.h"
#include "server/server.h"

#define LIST_DEFAULT 1000
#define LIST_MAX 100000
/* The least one lock takes in a LOCK.LIST reply (an array of its fields,
 * each name and value). */
#define LIST_ITEM_MIN 64
/* A LOCK.LIST reply takes no lock past this many bytes, nor past a quarter
 * of --max-output, so that it is always sent whole (docs/protocol.md §4). */
#define LIST_BYTES (1u << 20)

/* What an asynchronous command keeps while it waits. */
struct op {
    char name[FSM_NAME_MAX];
    uint32_t name_len;
    uint64_t u; /* session, token or count */
    struct node *node;
    /* A blocking acquire: what an UNWAIT names if its client goes. */
    void *wait; /* the node's wait handle, while it waits */
    uint64_t index, session;
    char req[FSM_REQ_MAX];
    uint32_t req_len;
};

static struct op *op_of(struct slot *s)
{
    if (s->op == NULL)
        s->op = mem_xcalloc(1, sizeof(struct op));
    return s->op;
}

static void finish(struct slot *s)
{
    free(s->op);
    s->op = NULL;
    slot_done(s);
}

/* ---- arguments -------------------------------------------------------- */

/* A string argument within max bytes (LIMIT otherwise). */
static bool arg_str(struct slot *s, const struct resp_value *a,
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

/* Options after the fixed arguments: KEYWORD value pairs, and the flag
 * SHARED, which takes no value. */
struct opts {
    const struct resp_value *owner, *req, *name;
    uint64_t wait, delay, count;
    bool have_wait, have_delay, have_count;
    bool shared;
};

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

static bool parse_opts(struct slot *s, const struct resp_value *a, size_t n,
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
            if (!arg_str(s, v, "OWNER", 0, FSM_OWNER_MAX))
                return false;
            o->owner = v;
        } else if (!strcmp(kw, "REQ")) {
            if (!arg_str(s, v, "REQ", 1, FSM_REQ_MAX))
                return false;
            o->req = v;
        } else if (!strcmp(kw, "NAME")) {
            if (!arg_str(s, v, "NAME", 0, FSM_CLIENT_MAX))
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
            if (!command_u64(s, v, "COUNT", 1, LIST_MAX, &o->count))
                return false;
            o->have_count = true;
        }
    }
    return true;
}

static void set_str(const char **p, uint32_t *len, const struct resp_value *v)
{
    if (v != NULL) {
        *p = v->str;
        *len = (uint32_t)v->len;
    }
}

/* ---- results ---------------------------------------------------------- */

/* Writes the reply of a result that is not a success. */
static void result_error(struct slot *s, const struct fsm_result *r,
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
static bool propose(struct conn *c, struct slot *s, struct fsm_cmd *cmd,
                    node_apply_cb cb)
{
    int rc = node_propose(command_node(c), cmd, cb, s);
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
            result_error(s, r, by_token);
    }
    finish(s);
}

static void integer_done(void *ctx, int status, const struct fsm_result *r,
                         int64_t value)
{
    integer_reply(ctx, status, r, value, false);
}

/* ---- sessions --------------------------------------------------------- */

static void open_done(void *ctx, int status, const struct fsm_result *r)
{
    integer_done(ctx, status, r, r ? (int64_t)r->session : 0);
}

bool lockcmd_session_open(struct conn *c, struct slot *s,
                          const struct resp_value *a, size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_OPEN};
    struct opts o;
    if (!command_u64(s, &a[1], "the TTL (ms)", FSM_TTL_MIN, FSM_TTL_MAX,
                     &cmd.ttl) ||
        !parse_opts(s, a, n, 2, "NAME REQ", &o))
        return true;
    set_str(&cmd.client, &cmd.client_len, o.name);
    set_str(&cmd.req, &cmd.req_len, o.req);
    return propose(c, s, &cmd, open_done);
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
    finish(s);
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
            result_error(s, r, false);
    }
    finish(s);
}

bool lockcmd_session_close(struct conn *c, struct slot *s,
                           const struct resp_value *a, size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_CLOSE};
    struct opts o;
    if (!command_u64(s, &a[1], "the session", 1, UINT64_MAX, &cmd.session) ||
        !parse_opts(s, a, n, 2, "REQ", &o))
        return true;
    set_str(&cmd.req, &cmd.req_len, o.req);
    return propose(c, s, &cmd, close_done);
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
    finish(s);
}

static void acquire_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (!applied_ok(s, status)) {
        finish(s);
        return;
    }
    if (s->conn == NULL) {
        /* Gone before the answer: a wait, or a grant at once (index set),
         * that nobody will learn. */
        if (s->op != NULL &&
            (r->status == FSM_QUEUED || (r->status == FSM_OK && r->index != 0)))
            give_up(s->op, r->index, r->session);
        finish(s);
        return;
    }
    if (r->status == FSM_QUEUED) {
        struct op *op = op_of(s);
        op->index = r->index;
        op->session = r->session;
        op->wait = node_wait_attach(op->node, r->index, wait_done, s);
        s->on_close = wait_on_close;
        return;
    }
    if (r->status == FSM_OK)
        resp_write_integer(&s->buf, (int64_t)r->token);
    else
        result_error(s, r, false);
    finish(s);
}

/* A blocking acquire keeps its lock name and request id, for an UNWAIT if
 * its client goes; so does one with a request id, which may repeat a
 * blocking one and learn that it waits. */
static void keep_blocking(struct conn *c, struct slot *s,
                          const struct fsm_cmd *cmd)
{
    struct op *op = op_of(s);
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
    if (!arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX))
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
            !parse_opts(s, a, n, 4, "WAIT DELAY REQ", &o))
            return true;
    } else if (!command_u64(s, &a[2], "the session", 1, UINT64_MAX,
                            &cmd.session) ||
               !parse_opts(s, a, n, 3, "OWNER SHARED WAIT DELAY REQ", &o)) {
        return true;
    }
    if (o.shared)
        cmd.type = FSM_ACQUIRE_SHARED;
    cmd.wait = o.wait;
    cmd.delay = o.delay;
    set_str(&cmd.owner, &cmd.owner_len, o.owner);
    set_str(&cmd.req, &cmd.req_len, o.req);
    if (cmd.wait > 0 || cmd.req_len > 0)
        keep_blocking(c, s, &cmd);
    return propose(c, s, &cmd, acquire_done);
}

/* ---- release, extend -------------------------------------------------- */

static void holds_done(void *ctx, int status, const struct fsm_result *r)
{
    integer_done(ctx, status, r, r ? (int64_t)r->holds : 0);
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
    if (!arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX))
        return true;
    cmd.name = a[1].str;
    cmd.name_len = (uint32_t)a[1].len;
    if (command_is(&a[2], "TOKEN")) {
        if (n < 4) {
            command_error(s, "ERR TOKEN needs a value");
            return true;
        }
        if (!command_u64(s, &a[3], "the token", 1, UINT64_MAX, &cmd.token) ||
            !parse_opts(s, a, n, 4, "REQ", &o))
            return true;
        set_str(&cmd.req, &cmd.req_len, o.req);
        return propose(c, s, &cmd, lease_release_done);
    }
    if (!command_u64(s, &a[2], "the session", 1, UINT64_MAX, &cmd.session) ||
        !parse_opts(s, a, n, 3, "OWNER SHARED REQ", &o))
        return true;
    if (o.shared)
        cmd.type = FSM_RELEASE_SHARED;
    set_str(&cmd.owner, &cmd.owner_len, o.owner);
    set_str(&cmd.req, &cmd.req_len, o.req);
    return propose(c, s, &cmd, holds_done);
}

static void token_done(void *ctx, int status, const struct fsm_result *r)
{
    integer_done(ctx, status, r, r ? (int64_t)r->token : 0);
}

/* LOCK.DOWNGRADE name session [OWNER o] [REQ id] */
bool lockcmd_downgrade(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n)
{
    struct fsm_cmd cmd = {.type = FSM_DOWNGRADE};
    struct opts o;
    if (!arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX) ||
        !command_u64(s, &a[2], "the session", 1, UINT64_MAX, &cmd.session) ||
        !parse_opts(s, a, n, 3, "OWNER REQ", &o))
        return true;
    cmd.name = a[1].str;
    cmd.name_len = (uint32_t)a[1].len;
    set_str(&cmd.owner, &cmd.owner_len, o.owner);
    set_str(&cmd.req, &cmd.req_len, o.req);
    return propose(c, s, &cmd, token_done);
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
    if (!arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX) ||
        !command_u64(s, &a[2], "the token", 1, UINT64_MAX, &cmd.token) ||
        !command_u64(s, &a[3], "the TTL (ms)", FSM_TTL_MIN, FSM_TTL_MAX,
                     &cmd.ttl) ||
        !parse_opts(s, a, n, 4, "REQ", &o))
        return true;
    cmd.name = a[1].str;
    cmd.name_len = (uint32_t)a[1].len;
    set_str(&cmd.req, &cmd.req_len, o.req);
    return propose(c, s, &cmd, extend_done);
}

/* ---- reads ------------------------------------------------------------ */

/* Starts a linearizable read; the callback writes the reply. */
static bool read_start(struct conn *c, struct slot *s, node_read_cb cb)
{
    int rc = node_read(command_node(c), cb, s);
    if (rc == NODE_OK)
        return false;
    command_not_leader(s);
    return true;
}

/* Whether a read callback may write its reply; if not, finishes it. */
static bool read_ok(struct slot *s, int status)
{
    if (s->conn == NULL) {
        finish(s);
        return false;
    }
    if (status != NODE_OK) {
        command_not_leader(s);
        finish(s);
        return false;
    }
    return true;
}

static void copy_name(struct slot *s, const struct resp_value *a)
{
    struct op *op = op_of(s);
    memcpy(op->name, a->str, a->len);
    op->name_len = (uint32_t)a->len;
}

static void write_lock(struct slot *s, const struct fsm_lock_info *li)
{
    struct node *node = command_node(s->conn);
    int p = s->conn->proto;
    uint64_t now = node_now(node);
    static const char *const modes[] = {"none", "exclusive", "shared"};
    resp_write_map(&s->buf, p, 11);
    resp_write_bulk_str(&s->buf, "name");
    resp_write_bulk(&s->buf, li->name, li->name_len);
    resp_write_bulk_str(&s->buf, "held");
    resp_write_bool(&s->buf, p, li->holder != 0);
    resp_write_bulk_str(&s->buf, "session");
    resp_write_integer(&s->buf, (int64_t)li->holder);
    resp_write_bulk_str(&s->buf, "owner");
    resp_write_bulk(&s->buf, li->owner, li->owner_len);
    resp_write_bulk_str(&s->buf, "token");
    resp_write_integer(&s->buf, (int64_t)li->token);
    resp_write_bulk_str(&s->buf, "holds");
    resp_write_integer(&s->buf, li->holds);
    resp_write_bulk_str(&s->buf, "waiters");
    resp_write_integer(&s->buf, li->waiters);
    resp_write_bulk_str(&s->buf, "lease_left_ms");
    resp_write_integer(
        &s->buf, li->holder ? (int64_t)node_lease_left(node, li->holder) : 0);
    resp_write_bulk_str(&s->buf, "delay_left_ms");
    resp_write_integer(&s->buf, li->available_at > now
                                    ? (int64_t)(li->available_at - now)
                                    : 0);
    resp_write_bulk_str(&s->buf, "mode");
    resp_write_bulk_str(&s->buf, modes[li->mode <= 2 ? li->mode : 0]);
    resp_write_bulk_str(&s->buf, "holders");
    resp_write_integer(&s->buf, li->holders);
}

static void status_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!read_ok(s, status))
        return;
    struct op *op = s->op;
    struct fsm_lock_info li;
    if (!fsm_lock_info(node_fsm(command_node(s->conn)), op->name, op->name_len,
                       &li)) {
        memset(&li, 0, sizeof li);
        li.name = op->name;
        li.name_len = op->name_len;
        li.owner = "";
    }
    write_lock(s, &li);
    finish(s);
}

/* LOCK.STATUS name */
bool lockcmd_status(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    if (!arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX))
        return true;
    copy_name(s, &a[1]);
    return read_start(c, s, status_done);
}

static void check_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!read_ok(s, status))
        return;
    struct op *op = s->op;
    bool held = fsm_lock_check(node_fsm(command_node(s->conn)), op->name,
                               op->name_len, op->u);
    resp_write_integer(&s->buf, held ? 1 : 0);
    finish(s);
}

/* LOCK.CHECK name token */
bool lockcmd_check(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n)
{
    uint64_t token;
    if (!arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX) ||
        !command_u64(s, &a[2], "the token", 0, UINT64_MAX, &token))
        return true;
    copy_name(s, &a[1]);
    op_of(s)->u = token;
    return read_start(c, s, check_done);
}

/* The items of a list reply, at most count of them and, but for the first,
 * no more bytes than a quarter of --max-output or LIST_BYTES, whichever is
 * less: each is written into the slot by the caller between page_begin and
 * page_end, then moved aside if it fits. */
struct page {
    struct slot *s;
    struct buf items;
    struct buf keep; /* the slot's own buffer meanwhile */
    uint64_t n, count;
    size_t budget;
};

static void page_init(struct page *pg, struct slot *s, uint64_t count)
{
    uint64_t quarter = s->conn->srv->cfg->max_output / 4;
    *pg = (struct page){.s = s,
                        .count = count,
                        .budget = quarter < LIST_BYTES ? (size_t)quarter
                                                       : LIST_BYTES};
    buf_init(&pg->items);
}

/* Whether another item may come; if so, the slot's buffer takes it. */
static bool page_begin(struct page *pg)
{
    if (pg->n == pg->count)
        return false;
    pg->keep = pg->s->buf;
    buf_init(&pg->s->buf);
    return true;
}

/* Keeps the item written if it fits; false if it did not (the page is
 * full). */
static bool page_end(struct page *pg)
{
    struct buf *b = &pg->s->buf;
    bool fits = pg->n == 0 || pg->items.len + b->len <= pg->budget;
    if (fits) {
        buf_append(&pg->items, b->data, b->len);
        pg->n++;
    }
    buf_close(b);
    pg->s->buf = pg->keep;
    return fits;
}

/* Writes the array of the items kept, and finishes the slot. */
static void page_finish(struct page *pg)
{
    resp_write_array(&pg->s->buf, pg->n);
    buf_append(&pg->s->buf, pg->items.data, pg->items.len);
    buf_close(&pg->items);
    finish(pg->s);
}

static bool holder_one(void *arg, const struct fsm_hold_info *h)
{
    struct page *pg = arg;
    if (!page_begin(pg))
        return false;
    struct slot *s = pg->s;
    int p = s->conn->proto;
    resp_write_map(&s->buf, p, 6);
    resp_write_bulk_str(&s->buf, "session");
    resp_write_integer(&s->buf, (int64_t)h->session);
    resp_write_bulk_str(&s->buf, "owner");
    resp_write_bulk(&s->buf, h->owner, h->owner_len);
    resp_write_bulk_str(&s->buf, "token");
    resp_write_integer(&s->buf, (int64_t)h->token);
    resp_write_bulk_str(&s->buf, "exclusive");
    resp_write_integer(&s->buf, h->exclusive);
    resp_write_bulk_str(&s->buf, "shared");
    resp_write_integer(&s->buf, h->shared);
    resp_write_bulk_str(&s->buf, "lease_left_ms");
    resp_write_integer(
        &s->buf, (int64_t)node_lease_left(command_node(s->conn), h->session));
    return page_end(pg);
}

static void holders_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!read_ok(s, status))
        return;
    struct op *op = s->op;
    struct page pg;
    page_init(&pg, s, op->index);
    fsm_lock_holds(node_fsm(command_node(s->conn)), op->name, op->name_len,
                   op->u, holder_one, &pg);
    page_finish(&pg);
}

/* LOCK.HOLDERS name [COUNT n] [FROM session] */
bool lockcmd_holders(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    if (!arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX))
        return true;
    uint64_t count = LIST_DEFAULT, from = 0;
    for (size_t i = 2; i < n; i += 2) {
        bool is_count = command_is(&a[i], "COUNT");
        if (!is_count && !command_is(&a[i], "FROM")) {
            command_error(s, "ERR unknown option '%.*s' (allowed: COUNT FROM)",
                          (int)(a[i].len > 32 ? 32 : a[i].len), a[i].str);
            return true;
        }
        if (i + 1 == n) {
            command_error(s, "ERR option %s needs a value",
                          is_count ? "COUNT" : "FROM");
            return true;
        }
        if (is_count ? !command_u64(s, &a[i + 1], "COUNT", 1, LIST_MAX, &count)
                     : !command_u64(s, &a[i + 1], "FROM", 0, UINT64_MAX, &from))
            return true;
    }
    copy_name(s, &a[1]);
    op_of(s)->u = from;
    op_of(s)->index = count;
    uint64_t most = count * LIST_ITEM_MIN;
    slot_reserve(s, most < LIST_BYTES ? (size_t)most : LIST_BYTES);
    return read_start(c, s, holders_done);
}

/* What a LOCK.LIST keeps while its read waits. */
struct list_op {
    char prefix[FSM_NAME_MAX];
    uint32_t prefix_len;
    char after[FSM_NAME_MAX]; /* list only names that sort after this */
    uint32_t after_len;
    uint64_t count;
};

static bool list_one(void *arg, const struct fsm_lock_info *li)
{
    struct page *pg = arg;
    if (!page_begin(pg))
        return false;
    write_lock(pg->s, li);
    return page_end(pg);
}

static void list_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!read_ok(s, status))
        return;
    const struct list_op *lo = s->op;
    struct page pg;
    page_init(&pg, s, lo->count);
    fsm_lock_list(node_fsm(command_node(s->conn)), lo->prefix, lo->prefix_len,
                  lo->after_len > 0 ? lo->after : NULL, lo->after_len, list_one,
                  &pg);
    page_finish(&pg);
}

/* The options of LOCK.LIST after the prefix: COUNT n, AFTER name. */
static bool list_opts(struct slot *s, const struct resp_value *a, size_t n,
                      size_t from, struct list_op *lo)
{
    for (size_t i = from; i < n; i += 2) {
        bool count = command_is(&a[i], "COUNT");
        if (!count && !command_is(&a[i], "AFTER")) {
            command_error(s, "ERR unknown option '%.*s' (allowed: COUNT AFTER)",
                          (int)(a[i].len > 32 ? 32 : a[i].len), a[i].str);
            return false;
        }
        const char *kw = count ? "COUNT" : "AFTER";
        if (i + 1 == n) {
            command_error(s, "ERR option %s needs a value", kw);
            return false;
        }
        if (count) {
            if (!command_u64(s, &a[i + 1], kw, 1, LIST_MAX, &lo->count))
                return false;
        } else {
            if (!arg_str(s, &a[i + 1], kw, 0, FSM_NAME_MAX))
                return false;
            memcpy(lo->after, a[i + 1].str, a[i + 1].len);
            lo->after_len = (uint32_t)a[i + 1].len;
        }
    }
    return true;
}

/* LOCK.LIST [prefix] [COUNT n] [AFTER name] */
bool lockcmd_list(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n)
{
    size_t from = 1;
    if (n >= 2 && !(n % 2 == 1 && (command_is(&a[1], "COUNT") ||
                                   command_is(&a[1], "AFTER")))) {
        if (!arg_str(s, &a[1], "the prefix", 0, FSM_NAME_MAX))
            return true;
        from = 2;
    }
    struct list_op *lo = mem_xcalloc(1, sizeof *lo);
    s->op = lo;
    lo->count = LIST_DEFAULT;
    if (!list_opts(s, a, n, from, lo))
        return true;
    if (from == 2) {
        memcpy(lo->prefix, a[1].str, a[1].len);
        lo->prefix_len = (uint32_t)a[1].len;
    }
    uint64_t most = lo->count * LIST_ITEM_MIN;
    slot_reserve(s, most < LIST_BYTES ? (size_t)most : LIST_BYTES);
    return read_start(c, s, list_done);
}

static void session_info_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!read_ok(s, status))
        return;
    struct op *op = s->op;
    struct node *node = command_node(s->conn);
    struct fsm_session_info si;
    if (!fsm_session_info(node_fsm(node), op->u, &si)) {
        command_error(s, "NOSESSION unknown or expired session");
        finish(s);
        return;
    }
    int p = s->conn->proto;
    resp_write_map(&s->buf, p, 7);
    resp_write_bulk_str(&s->buf, "id");
    resp_write_integer(&s->buf, (int64_t)si.id);
    resp_write_bulk_str(&s->buf, "name");
    resp_write_bulk(&s->buf, si.client, si.client_len);
    resp_write_bulk_str(&s->buf, "ttl_ms");
    resp_write_integer(&s->buf, (int64_t)si.ttl);
    resp_write_bulk_str(&s->buf, "lease_left_ms");
    resp_write_integer(&s->buf, (int64_t)node_lease_left(node, si.id));
    resp_write_bulk_str(&s->buf, "locks");
    resp_write_integer(&s->buf, si.locks);
    resp_write_bulk_str(&s->buf, "waits");
    resp_write_integer(&s->buf, si.waits);
    resp_write_bulk_str(&s->buf, "lease_lock");
    resp_write_bool(&s->buf, p, si.lease_lock);
    finish(s);
}

/* SESSION.INFO id */
bool lockcmd_session_info(struct conn *c, struct slot *s,
                          const struct resp_value *a, size_t n)
{
    uint64_t id;
    if (!command_u64(s, &a[1], "the session", 1, UINT64_MAX, &id))
        return true;
    op_of(s)->u = id;
    return read_start(c, s, session_info_done);
}
