/* watch.c - watches of names (watch.h): the history of the changes
 * applied (a changelog), the connections that watch each name, and the
 * WATCH.NEXT requests that wait for a change (timed out by a 50 ms
 * timer). */
#include "server/watch.h"

#include <stdlib.h>
#include <string.h>

#include "common/map.h"
#include "common/mem.h"
#include "common/resp.h"
#include "lock/changelog.h"
#include "server/conn.h"

#define WAIT_TICK_MS 50

struct wait;

/* A name that is watched or waited for; or, with session set, a session
 * whose holds are watched (SESSION.WATCH: no name, no waits; only_lost:
 * only its "lost" changes, SESSION.WATCH ... LOST). */
struct wname {
    uint64_t session;
    bool only_lost;
    unsigned pinned; /* pushes under way walk it: it stays */
    char *name;
    uint32_t len;
    struct conn **conns; /* its watchers */
    size_t n, cap;
    struct wait *waits; /* WATCH.NEXT requests (circular), or NULL */
};

/* A WATCH.NEXT waiting for a change of wn after `after`. */
struct wait {
    struct watch_hub *hub;
    struct slot *s;
    struct wname *wn;
    char *name; /* wn's, kept: wn may go before the answer */
    uint32_t len;
    uint64_t after;
    uint64_t deadline; /* uv_now */
    struct wait *prev, *next;
};

/* What one connection watches (conn.watches). */
struct conn_watches {
    struct wname **v;
    size_t n, cap;
};

struct watch_hub {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct map_str names;       /* name -> struct wname */
    struct map_u64 sessions[2]; /* session id -> struct wname: [1] LOST */
    struct changelog log;       /* the history */
    struct changelog lost;      /* its "lost" changes alone (LOST watches) */
    uint64_t since;             /* the snapshot it restarted from */
    size_t n_waits;
    size_t n_watches;    /* connections' watches of names and sessions */
    uint64_t ended_slow; /* watches ended for an unread backlog */
    void (*closed)(void *arg);
    void *closed_arg;
};

static const char *const events[] = {
    [FSM_CH_GRANTED] = "granted",
    [FSM_CH_RELEASED] = "released",
    [FSM_CH_LOST] = "lost",
    [FSM_CH_WITHDRAWN] = "withdrawn",
    [FSM_CH_DOWNGRADED] = "downgraded",
    [FSM_CH_PROCLAIMED] = "proclaimed",
};

/* ---- encoding ----------------------------------------------------------- */

/* A change as the 11 elements of a push (RESP3) or an array: "watch",
 * name, revision, event, session, owner, token, exclusive, shared,
 * holders, value. A "gone" change carries the revision from which the
 * history is whole, and nothing else. */
static void put_change(struct buf *b, int proto, bool push, const char *name,
                       uint32_t len, uint64_t revision,
                       const struct fsm_change *c)
{
    if (push)
        resp_write_push(b, proto, 11);
    else
        resp_write_array(b, 11);
    resp_write_bulk_str(b, "watch");
    resp_write_bulk(b, name, len);
    resp_write_integer(b, (int64_t)revision);
    resp_write_bulk_str(b, c != NULL && c->type < sizeof events / sizeof *events
                               ? events[c->type]
                               : "gone");
    resp_write_integer(b, c != NULL ? (int64_t)c->session : 0);
    resp_write_bulk(b, c != NULL ? c->owner : "", c != NULL ? c->owner_len : 0);
    resp_write_integer(b, c != NULL ? (int64_t)c->token : 0);
    resp_write_integer(b, c != NULL ? c->exclusive : 0);
    resp_write_integer(b, c != NULL ? c->shared : 0);
    resp_write_integer(b, c != NULL ? c->holders : 0);
    resp_write_bulk(b, c != NULL ? c->value : "", c != NULL ? c->value_len : 0);
}

/* ---- names -------------------------------------------------------------- */

static struct wname *wname_get(struct watch_hub *h, const char *name,
                               uint32_t len, bool make)
{
    struct wname *wn = map_str_get(&h->names, name, len);
    if (wn != NULL || !make)
        return wn;
    wn = mem_xcalloc(1, sizeof *wn);
    wn->name = mem_xmemdup(name, len);
    wn->len = len;
    if (map_str_put(&h->names, wn->name, len, wn) != 0) {
        abort(); /* the server aborts on out-of-memory (mem.h) */
    }
    return wn;
}

static struct wname *wsession_get(struct watch_hub *h, uint64_t id,
                                  bool only_lost, bool make)
{
    struct wname *wn = map_u64_get(&h->sessions[only_lost], id);
    if (wn != NULL || !make)
        return wn;
    wn = mem_xcalloc(1, sizeof *wn);
    wn->session = id;
    wn->only_lost = only_lost;
    wn->name = mem_xmalloc(1);
    if (map_u64_put(&h->sessions[only_lost], id, wn) != 0)
        abort(); /* the server aborts on out-of-memory (mem.h) */
    return wn;
}

/* Forgets wn once nobody watches or waits for it. */
static void wname_trim(struct watch_hub *h, struct wname *wn)
{
    if (wn->n > 0 || wn->waits != NULL || wn->pinned > 0)
        return;
    if (wn->session != 0)
        map_u64_del(&h->sessions[wn->only_lost], wn->session);
    else
        map_str_del(&h->names, wn->name, wn->len);
    free(wn->conns);
    free(wn->name);
    free(wn);
}

/* ---- watchers ----------------------------------------------------------- */

static struct conn_watches *cw_of(struct conn *c)
{
    if (c->watches == NULL)
        c->watches = mem_xcalloc(1, sizeof(struct conn_watches));
    return c->watches;
}

static void unlink_conn(struct watch_hub *h, struct wname *wn, struct conn *c)
{
    for (size_t i = 0; i < wn->n; i++)
        if (wn->conns[i] == c) {
            memmove(&wn->conns[i], &wn->conns[i + 1],
                    (wn->n - i - 1) * sizeof *wn->conns);
            wn->n--;
            break;
        }
    struct conn_watches *cw = c->watches;
    for (size_t i = 0; cw != NULL && i < cw->n; i++)
        if (cw->v[i] == wn) {
            cw->v[i] = cw->v[--cw->n];
            h->n_watches--;
            break;
        }
    wname_trim(h, wn);
}

/* Pushes a change to c; a backlog past the bound ends the watch with a
 * "gone" push (which may exceed it: one small push). False if the watch
 * ended, by that or by c's close (writing may close it): wn may then be
 * freed. */
static bool push(struct watch_hub *h, struct conn *c, struct wname *wn,
                 uint64_t revision, const struct fsm_change *ch)
{
    struct buf b;
    buf_init(&b);
    /* A session's watch names the lock of each change. */
    const char *name = wn->session != 0 && ch != NULL ? ch->name : wn->name;
    uint32_t len = wn->session != 0 && ch != NULL ? ch->name_len : wn->len;
    put_change(&b, c->proto, true, name, len, revision, ch);
    bool ok = c->out.len + b.len <= WATCH_BACKLOG_MAX;
    if (!ok) {
        buf_clear(&b);
        put_change(&b, c->proto, true, wn->name, wn->len, revision - 1, NULL);
    }
    conn_push(c, b.data, b.len);
    buf_close(&b);
    if (c->closing)
        return false; /* its watches ended with it */
    if (!ok) {
        h->ended_slow++;
        unlink_conn(h, wn, c);
    }
    return ok;
}

/* Whether the change e is one that wn watches. */
static bool matches(const struct wname *wn, const struct fsm_change *ch)
{
    if (wn->session != 0)
        return ch->session == wn->session &&
               (!wn->only_lost || ch->type == FSM_CH_LOST);
    return ch->name_len == wn->len && memcmp(ch->name, wn->name, wn->len) == 0;
}

static int add(struct watch_hub *h, struct conn *c, struct wname *wn,
               uint64_t from)
{
    if (c->closing) {
        wname_trim(h, wn); /* an answer written before closed it */
        return 0;
    }
    struct conn_watches *cw = cw_of(c);
    bool watching = false;
    for (size_t i = 0; i < wn->n && !watching; i++)
        watching = wn->conns[i] == c;
    if (!watching) {
        if (cw->n == WATCH_PER_CONN) {
            wname_trim(h, wn);
            return -1;
        }
        if (wn->n == wn->cap) {
            wn->cap = wn->cap ? 2 * wn->cap : 4;
            wn->conns = mem_xrealloc(wn->conns, wn->cap * sizeof *wn->conns);
        }
        wn->conns[wn->n++] = c;
        if (cw->n == cw->cap) {
            cw->cap = cw->cap ? 2 * cw->cap : 4;
            cw->v = mem_xrealloc(cw->v, cw->cap * sizeof *cw->v);
        }
        cw->v[cw->n++] = wn;
        h->n_watches++;
    }
    /* The history after from: whole, or gone from where it is whole. A
     * watch of a session's losses replays from the losses alone: they are
     * few, so its replay is short and reaches far back. */
    const struct changelog *log = wn->only_lost ? &h->lost : &h->log;
    if (from < changelog_revision(log)) {
        uint64_t whole = changelog_whole_from(log);
        if (from < whole) {
            struct buf b;
            buf_init(&b);
            put_change(&b, c->proto, true, wn->name, wn->len, whole, NULL);
            conn_push(c, b.data, b.len);
            buf_close(&b);
            if (c->closing)
                return 0;
        }
        wn->pinned++;
        size_t n = changelog_count(log);
        for (size_t i = changelog_first_after(log, from); i < n; i++) {
            const struct changelog_entry *e = changelog_at(log, i);
            if (matches(wn, &e->ch) && !push(h, c, wn, e->revision, &e->ch))
                break; /* the watch ended */
        }
        wn->pinned--;
        wname_trim(h, wn);
    }
    return 0;
}

int watch_add(struct watch_hub *h, struct conn *c, const char *name,
              uint32_t len, uint64_t from)
{
    return add(h, c, wname_get(h, name, len, true), from);
}

int watch_add_session(struct watch_hub *h, struct conn *c, uint64_t id,
                      uint64_t from, bool only_lost)
{
    return add(h, c, wsession_get(h, id, only_lost, true), from);
}

/* c no longer watches wn (may be NULL); false if it did not. */
static bool remove_conn(struct watch_hub *h, struct wname *wn, struct conn *c)
{
    for (size_t i = 0; wn != NULL && i < wn->n; i++)
        if (wn->conns[i] == c) {
            unlink_conn(h, wn, c);
            return true;
        }
    return false;
}

bool watch_remove_session(struct watch_hub *h, struct conn *c, uint64_t id)
{
    bool all = remove_conn(h, wsession_get(h, id, false, false), c);
    bool lost = remove_conn(h, wsession_get(h, id, true, false), c);
    return all || lost;
}

bool watch_can_add(struct watch_hub *h, struct conn *c, const char *name,
                   uint32_t len)
{
    const struct conn_watches *cw = c->watches;
    if (cw == NULL || cw->n < WATCH_PER_CONN)
        return true;
    const struct wname *wn = wname_get(h, name, len, false);
    for (size_t i = 0; wn != NULL && i < wn->n; i++)
        if (wn->conns[i] == c)
            return true;
    return false;
}

bool watch_can_add_session(struct watch_hub *h, struct conn *c, uint64_t id,
                           bool only_lost)
{
    const struct conn_watches *cw = c->watches;
    if (cw == NULL || cw->n < WATCH_PER_CONN)
        return true;
    const struct wname *wn = wsession_get(h, id, only_lost, false);
    for (size_t i = 0; wn != NULL && i < wn->n; i++)
        if (wn->conns[i] == c)
            return true;
    return false;
}

bool watch_remove(struct watch_hub *h, struct conn *c, const char *name,
                  uint32_t len)
{
    return remove_conn(h, wname_get(h, name, len, false), c);
}

/* ---- WATCH.NEXT --------------------------------------------------------- */

static void wait_unlink(struct watch_hub *h, struct wait *w)
{
    struct wname *wn = w->wn;
    if (w->next == w)
        wn->waits = NULL;
    else if (wn->waits == w)
        wn->waits = w->next;
    w->prev->next = w->next;
    w->next->prev = w->prev;
    h->n_waits--;
    wname_trim(h, wn);
}

/* The client of a waiting WATCH.NEXT went away. */
static void wait_on_close(struct slot *s)
{
    struct wait *w = s->op;
    s->op = NULL;
    wait_unlink(w->hub, w);
    free(w->name);
    free(w);
    slot_free(s);
}

/* Ends the WATCH.NEXT of s, if the history answers it: with the changes
 * of name at the first revision after `after` that has any (an array of
 * them: a handover is a "released" and a "granted" at one revision), or
 * with one "gone" change if the history no longer reaches back there.
 * False if nothing of name came after `after` yet. */
static bool try_answer(const struct watch_hub *h, struct slot *s,
                       const char *name, uint32_t len, uint64_t after)
{
    struct wname key = {.name = (char *)name, .len = len};
    const struct changelog *log = &h->log;
    uint64_t whole = changelog_whole_from(log);
    size_t n = changelog_count(log), first = n, count = 0;
    if (after >= whole) {
        uint64_t revision = 0;
        for (size_t i = changelog_first_after(log, after); i < n; i++) {
            const struct changelog_entry *e = changelog_at(log, i);
            if (count > 0 && e->revision != revision)
                break;
            if (matches(&key, &e->ch) && count++ == 0) {
                first = i;
                revision = e->revision;
            }
        }
        if (count == 0)
            return false;
    }
    s->on_close = NULL;
    if (s->conn == NULL) { /* the client went away: nothing to write */
        slot_done(s);
        return true;
    }
    int proto = s->conn->proto;
    if (count == 0) { /* gone */
        resp_write_array(&s->buf, 1);
        put_change(&s->buf, proto, false, name, len, whole, NULL);
    } else {
        resp_write_array(&s->buf, count);
        uint64_t revision = changelog_at(log, first)->revision;
        for (size_t i = first; i < n; i++) {
            const struct changelog_entry *e = changelog_at(log, i);
            if (e->revision != revision)
                break;
            if (matches(&key, &e->ch))
                put_change(&s->buf, proto, false, name, len, revision, &e->ch);
        }
    }
    slot_done(s);
    return true;
}

/* Ends the WATCH.NEXT of s with a null reply (nothing came). */
static void answer_null(struct slot *s)
{
    s->on_close = NULL;
    if (s->conn != NULL)
        resp_write_null(&s->buf, s->conn->proto);
    slot_done(s);
}

void watch_next(struct watch_hub *h, struct slot *s, const char *name,
                uint32_t len, uint64_t after, uint64_t wait_ms)
{
    if (try_answer(h, s, name, len, after))
        return;
    if (wait_ms == 0) {
        answer_null(s);
        return;
    }
    struct wait *w = mem_xcalloc(1, sizeof *w);
    w->hub = h;
    w->s = s;
    w->wn = wname_get(h, name, len, true);
    w->name = mem_xmemdup(name, len);
    w->len = len;
    w->after = after;
    w->deadline = uv_now(h->loop) + wait_ms;
    if (w->wn->waits == NULL) {
        w->prev = w->next = w;
        w->wn->waits = w;
    } else {
        w->prev = w->wn->waits->prev;
        w->next = w->wn->waits;
        w->prev->next = w;
        w->wn->waits->prev = w;
    }
    h->n_waits++;
    s->op = w;
    s->on_close = wait_on_close;
}

/* Takes the waits in v[0..n) out of their names first, then answers them:
 * from the history if a change came (came), else null. An answer may close
 * its client, which ends that client's other waits, and a name goes with
 * its last wait. */
static void end_waits(struct watch_hub *h, struct wait **v, size_t n, bool came)
{
    for (size_t i = 0; i < n; i++) {
        v[i]->s->op = NULL;
        v[i]->s->on_close = NULL; /* a close leaves the slot to us */
        wait_unlink(h, v[i]);
    }
    for (size_t i = 0; i < n; i++) {
        struct wait *w = v[i];
        if (!came || !try_answer(h, w->s, w->name, w->len, w->after))
            answer_null(w->s);
        free(w->name);
        free(w);
    }
}

/* Answers every wait of wn: a change of its name applied. */
static void wake(struct watch_hub *h, struct wname *wn)
{
    size_t n = 0;
    struct wait *w = wn->waits;
    do {
        n++;
        w = w->next;
    } while (w != wn->waits);
    struct wait **v = mem_xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++, w = w->next)
        v[i] = w;
    end_waits(h, v, n, true);
    free(v);
}

/* Waits past their deadline get a null reply. */
static void on_tick(uv_timer_t *t)
{
    struct watch_hub *h = t->data;
    if (h->n_waits == 0)
        return;
    uint64_t now = uv_now(h->loop);
    size_t pos = 0;
    struct wname *wn;
    /* Collect first: ending a wait may forget its name (the map changes). */
    struct wait **due = NULL;
    size_t n = 0, cap = 0;
    while ((wn = map_str_next(&h->names, &pos, NULL, NULL)) != NULL) {
        struct wait *w = wn->waits;
        if (w == NULL)
            continue;
        do {
            if (w->deadline <= now) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 16;
                    due = mem_xrealloc(due, cap * sizeof *due);
                }
                due[n++] = w;
            }
            w = w->next;
        } while (w != wn->waits);
    }
    end_waits(h, due, n, false);
    free(due);
}

/* ---- feeding ------------------------------------------------------------ */

/* Pushes a change to every watcher of wn (may be NULL). A push may end
 * its own watch (its backlog) or close its connection: wn stays while it
 * is walked, and each connection of the copy is pushed to once (one
 * closed meanwhile takes nothing). */
static void push_all(struct watch_hub *h, struct wname *wn, uint64_t revision,
                     const struct fsm_change *ch)
{
    if (wn == NULL || wn->n == 0 || !matches(wn, ch))
        return;
    size_t k = wn->n;
    struct conn **v = mem_xmalloc(k * sizeof *v);
    memcpy(v, wn->conns, k * sizeof *v);
    wn->pinned++;
    for (size_t j = 0; j < k; j++)
        push(h, v[j], wn, revision, ch);
    wn->pinned--;
    free(v);
    wname_trim(h, wn);
}

void watch_feed(struct watch_hub *h, uint64_t since, uint64_t revision,
                const struct fsm_change *ch, size_t n)
{
    if (since != h->since) {
        h->since = since;
        changelog_restart(&h->log, since);
        changelog_restart(&h->lost, since);
    }
    changelog_add(&h->log, revision, ch, n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += ch[i].type == FSM_CH_LOST;
    struct fsm_change *lost = m ? mem_xmalloc(m * sizeof *lost) : NULL;
    for (size_t i = 0, j = 0; i < n; i++)
        if (ch[i].type == FSM_CH_LOST)
            lost[j++] = ch[i];
    changelog_add(&h->lost, revision, lost, m); /* m = 0: its revision */
    free(lost);
    for (size_t i = 0; i < n; i++) {
        push_all(h, wsession_get(h, ch[i].session, false, false), revision,
                 &ch[i]);
        push_all(h, wsession_get(h, ch[i].session, true, false), revision,
                 &ch[i]);
        push_all(h, wname_get(h, ch[i].name, ch[i].name_len, false), revision,
                 &ch[i]);
    }
    /* WATCH.NEXT answers every change of its name at this revision: once
     * they are all kept. */
    for (size_t i = 0; i < n && h->n_waits > 0; i++) {
        struct wname *wn = wname_get(h, ch[i].name, ch[i].name_len, false);
        if (wn != NULL && wn->waits != NULL)
            wake(h, wn);
    }
}

void watch_stats(const struct watch_hub *h, struct watch_stats *st)
{
    st->watches = h->n_watches;
    st->waits = h->n_waits;
    st->kept = changelog_count(&h->log);
    st->whole_from = changelog_whole_from(&h->log);
    st->ended_slow = h->ended_slow;
}

uint64_t watch_revision(const struct watch_hub *h)
{
    return changelog_revision(&h->log);
}

void watch_conn_closed(struct watch_hub *h, struct conn *c)
{
    struct conn_watches *cw = c->watches;
    if (cw == NULL)
        return;
    while (cw->n > 0)
        unlink_conn(h, cw->v[cw->n - 1], c);
    free(cw->v);
    free(cw);
    c->watches = NULL;
}

/* ---- the hub ------------------------------------------------------------ */

size_t watch_lost_history(size_t history)
{
    size_t n = (history ? history : WATCH_HISTORY) / 16;
    return n < 16 ? 16 : n;
}

struct watch_hub *watch_hub_new(uv_loop_t *loop, size_t history)
{
    struct watch_hub *h = mem_xcalloc(1, sizeof *h);
    h->loop = loop;
    changelog_init(&h->log, history ? history : WATCH_HISTORY);
    changelog_init(&h->lost, watch_lost_history(history));
    map_str_init(&h->names);
    map_u64_init(&h->sessions[0]);
    map_u64_init(&h->sessions[1]);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    uv_timer_start(&h->timer, on_tick, WAIT_TICK_MS, WAIT_TICK_MS);
    uv_unref((uv_handle_t *)&h->timer);
    return h;
}

static void timer_closed(uv_handle_t *t)
{
    struct watch_hub *h = t->data;
    if (h->closed != NULL)
        h->closed(h->closed_arg);
}

void watch_hub_close(struct watch_hub *h, void (*done)(void *arg), void *arg)
{
    h->closed = done;
    h->closed_arg = arg;
    uv_close((uv_handle_t *)&h->timer, timer_closed);
}

void watch_hub_free(struct watch_hub *h)
{
    if (h == NULL)
        return;
    changelog_close(&h->log);
    changelog_close(&h->lost);
    size_t pos = 0;
    struct wname *wn;
    while ((wn = map_str_next(&h->names, &pos, NULL, NULL)) != NULL) {
        free(wn->conns);
        free(wn->name);
        free(wn);
    }
    map_str_close(&h->names);
    for (int lost = 0; lost < 2; lost++) {
        pos = 0;
        while ((wn = map_u64_next(&h->sessions[lost], &pos, NULL)) != NULL) {
            free(wn->conns);
            free(wn->name);
            free(wn);
        }
        map_u64_close(&h->sessions[lost]);
    }
    free(h);
}
