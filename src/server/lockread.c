/* lockread.c - the reads of locks and sessions (docs/protocol.md §3, §4):
 * LOCK.STATUS, LOCK.CHECK, LOCK.HOLDERS, LOCK.LIST and SESSION.INFO, each
 * served after a ReadIndex round, lists in pages of bounded size. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "lock/fsm.h"
#include "server/command.h"
#include "server/lockcmd_internal.h"
#include "server/node.h"
#include "server/server.h"

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
    if (!lockcmd_read_ok(s, status))
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
    lockcmd_finish(s);
}

/* LOCK.STATUS name */
bool lockcmd_status(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    if (!lockcmd_arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX))
        return true;
    lockcmd_copy_name(s, &a[1]);
    return lockcmd_read_start(c, s, status_done);
}

static void check_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!lockcmd_read_ok(s, status))
        return;
    struct op *op = s->op;
    bool held = fsm_lock_check(node_fsm(command_node(s->conn)), op->name,
                               op->name_len, op->u);
    resp_write_integer(&s->buf, held ? 1 : 0);
    lockcmd_finish(s);
}

/* LOCK.CHECK name token */
bool lockcmd_check(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n)
{
    uint64_t token;
    if (!lockcmd_arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX) ||
        !command_u64(s, &a[2], "the token", 0, UINT64_MAX, &token))
        return true;
    lockcmd_copy_name(s, &a[1]);
    lockcmd_op(s)->u = token;
    return lockcmd_read_start(c, s, check_done);
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
    lockcmd_finish(pg->s);
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
    if (!lockcmd_read_ok(s, status))
        return;
    struct op *op = s->op;
    struct page pg;
    page_init(&pg, s, op->index);
    fsm_lock_holds(node_fsm(command_node(s->conn)), op->name, op->name_len,
                   op->u, holder_one, &pg);
    page_finish(&pg);
}

/* LOCK.HOLDERS name [COUNT n] [FROM session] */
/* The arguments of a list of one name's holders or waiters: the name,
 * [COUNT n] and [FROM x] (a session id, or a waiter's index); then the
 * read, answered by done. */
static bool one_name_list(struct conn *c, struct slot *s,
                          const struct resp_value *a, size_t n,
                          node_read_cb done)
{
    if (!lockcmd_arg_str(s, &a[1], "the name", 1, FSM_NAME_MAX))
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
    lockcmd_copy_name(s, &a[1]);
    lockcmd_op(s)->u = from;
    lockcmd_op(s)->index = count;
    uint64_t most = count * LIST_ITEM_MIN;
    slot_reserve(s, most < LIST_BYTES ? (size_t)most : LIST_BYTES);
    return lockcmd_read_start(c, s, done);
}

/* LOCK.HOLDERS name [COUNT n] [FROM session] (SEM.HOLDERS too) */
bool lockcmd_holders(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    return one_name_list(c, s, a, n, holders_done);
}

struct waiters_page {
    struct page pg;
    uint64_t from;
};

static bool waiter_one(void *arg, const struct fsm_waiter_info *w)
{
    struct waiters_page *wp = arg;
    if (w->index < wp->from)
        return true;
    if (!page_begin(&wp->pg))
        return false;
    struct slot *s = wp->pg.s;
    int p = s->conn->proto;
    resp_write_map(&s->buf, p, 6);
    resp_write_bulk_str(&s->buf, "session");
    resp_write_integer(&s->buf, (int64_t)w->session);
    resp_write_bulk_str(&s->buf, "owner");
    resp_write_bulk(&s->buf, w->owner, w->owner_len);
    resp_write_bulk_str(&s->buf, "index");
    resp_write_integer(&s->buf, (int64_t)w->index);
    resp_write_bulk_str(&s->buf, "mode");
    resp_write_bulk_str(&s->buf, w->shared ? "shared" : "exclusive");
    resp_write_bulk_str(&s->buf, "permits");
    resp_write_integer(&s->buf, w->count);
    resp_write_bulk_str(&s->buf, "value");
    resp_write_bulk(&s->buf, w->value, w->value_len);
    return page_end(&wp->pg);
}

static void waiters_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!lockcmd_read_ok(s, status))
        return;
    struct op *op = s->op;
    struct waiters_page wp = {.from = op->u};
    page_init(&wp.pg, s, op->index);
    fsm_lock_waiters(node_fsm(command_node(s->conn)), op->name, op->name_len,
                     waiter_one, &wp);
    page_finish(&wp.pg);
}

/* LOCK.WAITERS name [COUNT n] [FROM index] (SEM.WAITERS, ELECT.CANDIDATES) */
bool lockcmd_waiters(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    return one_name_list(c, s, a, n, waiters_done);
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
    if (!lockcmd_read_ok(s, status))
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
            if (!lockcmd_arg_str(s, &a[i + 1], kw, 0, FSM_NAME_MAX))
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
        if (!lockcmd_arg_str(s, &a[1], "the prefix", 0, FSM_NAME_MAX))
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
    return lockcmd_read_start(c, s, list_done);
}

static void session_info_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!lockcmd_read_ok(s, status))
        return;
    struct op *op = s->op;
    struct node *node = command_node(s->conn);
    struct fsm_session_info si;
    if (!fsm_session_info(node_fsm(node), op->u, &si)) {
        command_error(s, "NOSESSION unknown or expired session");
        lockcmd_finish(s);
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
    lockcmd_finish(s);
}

/* SESSION.INFO id */
bool lockcmd_session_info(struct conn *c, struct slot *s,
                          const struct resp_value *a, size_t n)
{
    uint64_t id;
    if (!command_u64(s, &a[1], "the session", 1, UINT64_MAX, &id))
        return true;
    lockcmd_op(s)->u = id;
    return lockcmd_read_start(c, s, session_info_done);
}
