/* watchcmd.c - the watch commands (docs/protocol.md §4, "Watches"): WATCH
 * and UNWATCH (RESP3 pushes) and WATCH.NEXT (a blocking read of the next
 * change, on either protocol). Served by any server, from what it has
 * applied (watch.h). */
#include "lock/fsm.h"
#include "server/command.h"
#include "server/conn.h"
#include "server/lockcmd_internal.h"
#include "server/server.h"
#include "server/watch.h"

/* WATCH name [FROM revision] */
bool watchcmd_watch(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    struct watch_hub *h = c->srv->watch;
    uint64_t from = watch_revision(h);
    if (!lockcmd_arg_str(s, &a[1], "the name", 1, FSM_NAME_MAX))
        return true;
    if (n == 4 && command_is(&a[2], "FROM")) {
        if (!command_u64(s, &a[3], "FROM", 0, UINT64_MAX, &from))
            return true;
    } else if (n != 2) {
        command_error(s, "ERR usage: WATCH name [FROM revision]");
        return true;
    }
    if (c->proto != 3) {
        command_error(s, "ERR WATCH sends RESP3 pushes: HELLO 3 first, or "
                         "use WATCH.NEXT");
        return true;
    }
    if (!watch_can_add(h, c, a[1].str, (uint32_t)a[1].len)) {
        command_error(s, "LIMIT this connection watches %d names already",
                      WATCH_PER_CONN);
        return true;
    }
    /* The answer first (unless earlier answers are pending), then the
     * history's changes, then the live ones. */
    resp_write_integer(&s->buf, (int64_t)from);
    slot_done(s);
    watch_add(h, c, a[1].str, (uint32_t)a[1].len, from);
    return false;
}

/* UNWATCH name */
bool watchcmd_unwatch(struct conn *c, struct slot *s,
                      const struct resp_value *a, size_t n)
{
    if (!lockcmd_arg_str(s, &a[1], "the name", 1, FSM_NAME_MAX))
        return true;
    bool was = watch_remove(c->srv->watch, c, a[1].str, (uint32_t)a[1].len);
    resp_write_integer(&s->buf, was ? 1 : 0);
    return true;
}

/* WATCH.NEXT name revision [WAIT ms] */
bool watchcmd_next(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n)
{
    uint64_t after, wait_ms = 0;
    if (!lockcmd_arg_str(s, &a[1], "the name", 1, FSM_NAME_MAX) ||
        !command_u64(s, &a[2], "the revision", 0, UINT64_MAX, &after))
        return true;
    if (n == 5 && command_is(&a[3], "WAIT")) {
        if (!command_u64(s, &a[4], "WAIT", 0, FSM_WAIT_MAX, &wait_ms))
            return true;
    } else if (n != 3) {
        command_error(s, "ERR usage: WATCH.NEXT name revision [WAIT ms]");
        return true;
    }
    watch_next(c->srv->watch, s, a[1].str, (uint32_t)a[1].len, after, wait_ms);
    return false; /* answered by watch_next, now or later */
}

/* SESSION.WATCH id [FROM revision] [LOST] */
bool watchcmd_session_watch(struct conn *c, struct slot *s,
                            const struct resp_value *a, size_t n)
{
    struct watch_hub *h = c->srv->watch;
    uint64_t id, from = watch_revision(h);
    if (!command_u64(s, &a[1], "the session", 1, UINT64_MAX, &id))
        return true;
    bool only_lost = n > 2 && command_is(&a[n - 1], "LOST");
    size_t m = only_lost ? n - 1 : n;
    if (m == 4 && command_is(&a[2], "FROM")) {
        if (!command_u64(s, &a[3], "FROM", 0, UINT64_MAX, &from))
            return true;
    } else if (m != 2) {
        command_error(s, "ERR usage: SESSION.WATCH id [FROM revision] [LOST]");
        return true;
    }
    if (c->proto != 3) {
        command_error(s, "ERR SESSION.WATCH sends RESP3 pushes: HELLO 3 "
                         "first");
        return true;
    }
    if (!watch_can_add_session(h, c, id, only_lost)) {
        command_error(s, "LIMIT this connection watches %d names already",
                      WATCH_PER_CONN);
        return true;
    }
    resp_write_integer(&s->buf, (int64_t)from);
    slot_done(s);
    watch_add_session(h, c, id, from, only_lost);
    return false;
}

/* SESSION.UNWATCH id */
bool watchcmd_session_unwatch(struct conn *c, struct slot *s,
                              const struct resp_value *a, size_t n)
{
    uint64_t id;
    if (!command_u64(s, &a[1], "the session", 1, UINT64_MAX, &id))
        return true;
    resp_write_integer(&s->buf,
                       watch_remove_session(c->srv->watch, c, id) ? 1 : 0);
    return true;
}
