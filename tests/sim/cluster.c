/* cluster.c - the simulated cluster: nodes running the core through the edge
 * contract of raft.h, their disks, the event queue and the network. */
#include "cluster.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/mem.h"
#include "raft/wire.h"

#define U(x) ((unsigned long long)(x))

/* A run that needs more events than this is stuck in a message storm. */
#define MAX_EVENTS 20000000u
#define MAX_PENDING_EVENTS 2000000u
/* Updates handed out in a row by one core before it is called looping. */
#define MAX_UPDATES_IN_A_ROW 10000u

enum { EV_TICK = 1, EV_MSG, EV_DISK, EV_ACK };

struct sim_event {
    uint64_t at_ms;
    uint64_t seq;
    uint64_t node;
    uint64_t from;
    uint64_t arg;
    uint8_t *frame;
    size_t len;
    unsigned life;
    uint8_t type;
};

static void drain(struct cluster *c, struct sim_node *n);

/* ---- reporting ---- */

void cluster_trace(struct cluster *c, const char *fmt, ...)
{
    if (c->cfg.trace == NULL)
        return;
    va_list ap;
    fprintf(c->cfg.trace, "%7llu ms ", U(c->now_ms));
    va_start(ap, fmt);
    vfprintf(c->cfg.trace, fmt, ap);
    va_end(ap);
    fputc('\n', c->cfg.trace);
}

void cluster_fail(struct cluster *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->failure, sizeof c->failure, fmt, ap);
    va_end(ap);
    c->failed = true;
    c->fail_ms = c->now_ms;
    cluster_trace(c, "VIOLATION: %s", c->failure);
}

static const char *msg_name(uint8_t type)
{
    static const char *names[] = {
        "?",        "APPEND",         "APPEND_RESP", "VOTE",
        "VOTE_RESP", "PREVOTE",       "PREVOTE_RESP", "HEARTBEAT",
        "HEARTBEAT_RESP", "SNAPSHOT", "SNAPSHOT_RESP", "TIMEOUT_NOW"};
    return type <= RAFT_MSG_TYPE_MAX ? names[type] : "?";
}

static void trace_msg(struct cluster *c, const char *what,
                      const struct raft_msg *m)
{
    if (c->cfg.trace == NULL)
        return;
    char more[160] = "";
    switch (m->type) {
    case RAFT_MSG_APPEND:
        snprintf(more, sizeof more, " prev=(%llu,%llu) n=%u commit=%llu",
                 U(m->index), U(m->log_term), m->n_entries, U(m->commit));
        break;
    case RAFT_MSG_APPEND_RESP:
        snprintf(more, sizeof more, " %s index=%llu hint=(%llu,%llu)",
                 m->reject ? "reject" : "ok", U(m->index), U(m->hint),
                 U(m->hint_term));
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        snprintf(more, sizeof more, " last=(%llu,%llu)%s", U(m->index),
                 U(m->log_term), m->transfer ? " transfer" : "");
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        snprintf(more, sizeof more, " %s", m->reject ? "reject" : "grant");
        break;
    case RAFT_MSG_HEARTBEAT:
        snprintf(more, sizeof more, " commit=%llu ctx=%llu", U(m->commit),
                 U(m->ctx));
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        snprintf(more, sizeof more, " ctx=%llu", U(m->ctx));
        break;
    case RAFT_MSG_SNAPSHOT:
    case RAFT_MSG_SNAPSHOT_RESP:
        snprintf(more, sizeof more, " snap=(%llu,%llu) off=%llu len=%u%s%s",
                 U(m->index), U(m->log_term), U(m->offset), m->len,
                 m->last ? " last" : "", m->reject ? " reject" : "");
        break;
    default:
        break;
    }
    cluster_trace(c, "%s n%llu->n%llu %s t%llu%s", what, U(m->from),
                  U(m->to), msg_name(m->type), U(m->term), more);
}

/* ---- events ---- */

static bool ev_less(const struct sim_event *a, const struct sim_event *b)
{
    return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static void ev_push(struct cluster *c, struct sim_event e)
{
    if (c->n_ev == c->cap_ev) {
        c->cap_ev = c->cap_ev ? c->cap_ev * 2 : 256;
        c->ev = mem_xrealloc(c->ev, c->cap_ev * sizeof *c->ev);
    }
    e.seq = c->ev_seq++;
    size_t i = c->n_ev++;
    while (i > 0 && ev_less(&e, &c->ev[(i - 1) / 2])) {
        c->ev[i] = c->ev[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->ev[i] = e;
}

static struct sim_event ev_pop(struct cluster *c)
{
    struct sim_event top = c->ev[0];
    struct sim_event last = c->ev[--c->n_ev];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= c->n_ev)
            break;
        if (k + 1 < c->n_ev && ev_less(&c->ev[k + 1], &c->ev[k]))
            k++;
        if (!ev_less(&c->ev[k], &last))
            break;
        c->ev[i] = c->ev[k];
        i = k;
    }
    if (c->n_ev > 0)
        c->ev[i] = last;
    return top;
}

static void schedule(struct cluster *c, uint8_t type, struct sim_node *n,
                     uint64_t at_ms, uint64_t arg)
{
    ev_push(c, (struct sim_event){.at_ms = at_ms, .type = type,
                                  .node = n->id, .life = n->life,
                                  .arg = arg});
}

static void schedule_tick(struct cluster *c, struct sim_node *n)
{
    if (!c->cfg.manual)
        schedule(c, EV_TICK, n, c->now_ms + rng_range(&c->rng, 1, 10), 0);
}

/* ---- logs and disks ---- */

static void entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
    *dst = *src;
    dst->data = src->len ? mem_xmemdup(src->data, src->len) : NULL;
}

static void log_truncate(struct sim_log *l, uint64_t from)
{
    while (l->n > 0 && l->first + l->n - 1 >= from)
        free(l->e[--l->n].data);
}

/* Empties the log; it restarts after entry first-1 of term prev_term. */
static void log_clear(struct sim_log *l, uint64_t first, uint64_t prev_term)
{
    log_truncate(l, 0);
    l->first = first;
    l->prev_term = prev_term;
}

/* Drops the entries up to and including index (which it holds). */
static void log_drop_upto(struct sim_log *l, uint64_t index)
{
    size_t k = 0;
    while (k < l->n && l->first + k <= index) {
        l->prev_term = l->e[k].term;
        free(l->e[k++].data);
    }
    memmove(l->e, l->e + k, (l->n - k) * sizeof *l->e);
    l->n -= k;
    l->first += k;
}

static void log_push(struct sim_log *l, const struct raft_entry *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->e = mem_xrealloc(l->e, l->cap * sizeof *l->e);
    }
    entry_copy(&l->e[l->n++], e);
}

static uint64_t log_last(const struct sim_log *l)
{
    return l->first + l->n - 1;
}

/* Term of entry i in the log (first-1 included); false if not held. */
static bool log_term(const struct sim_log *l, uint64_t i, uint64_t *term)
{
    if (i + 1 == l->first) {
        *term = l->prev_term;
        return true;
    }
    if (i < l->first || i > log_last(l))
        return false;
    *term = l->e[i - l->first].term;
    return true;
}

static uint64_t disk_snap_index(const struct sim_disk *d)
{
    return d->snap.present ? d->snap.meta.index : 0;
}

/* The stored log continues the snapshot when it holds the snapshot's last
 * entry. It may not: the core may apply entries (committed elsewhere) before
 * the write that put them in this log is durable, and a local snapshot of
 * them is then newer than the stored log. */
static bool disk_continues(const struct sim_disk *d)
{
    uint64_t t;
    return !d->snap.present ||
           (log_term(&d->log, d->snap.meta.index, &t) &&
            t == d->snap.meta.term);
}

size_t cluster_disk_entries(const struct sim_disk *d,
                            const struct raft_entry **es)
{
    uint64_t s = disk_snap_index(d);
    *es = NULL;
    if (!disk_continues(d) || log_last(&d->log) <= s)
        return 0;
    *es = &d->log.e[s + 1 - d->log.first];
    return (size_t)(log_last(&d->log) - s);
}

uint64_t cluster_disk_last(const struct sim_disk *d)
{
    const struct raft_entry *es;
    return disk_snap_index(d) + cluster_disk_entries(d, &es);
}

bool cluster_disk_term(const struct sim_disk *d, uint64_t i, uint64_t *term)
{
    const struct raft_entry *es;
    uint64_t s = disk_snap_index(d);
    size_t n = cluster_disk_entries(d, &es);
    *term = 0;
    if (i == s) {
        *term = d->snap.present ? d->snap.meta.term : 0;
        return true;
    }
    if (i < s || i > s + n)
        return false;
    *term = es[i - s - 1].term;
    return true;
}

/* Persists entries as a log-structured store does: the stored log is cut at
 * es[0].index - 1 and the entries are appended. Entries below the stored
 * log's start were compacted into a snapshot (they are committed). */
static void disk_append(struct cluster *c, struct sim_node *n,
                        const struct raft_entry *es, size_t k)
{
    struct sim_log *l = &n->disk.log;
    uint64_t e0 = es[0].index;
    if (e0 > log_last(l) + 1) {
        cluster_fail(c, "n%llu: entries from %llu leave a gap after %llu on "
                     "disk", U(n->id), U(e0), U(log_last(l)));
        return;
    }
    size_t skip = 0;
    while (skip < k && es[skip].index < l->first)
        skip++;
    if (skip == k)
        return;
    log_truncate(l, es[skip].index);
    for (size_t j = skip; j < k; j++)
        log_push(l, &es[j]);
}

static void snap_set(struct sim_snap *s, const struct raft_snapshot_meta *m,
                     uint8_t *data, size_t len)
{
    free(s->data);
    s->present = true;
    s->meta = *m;
    s->data = data;
    s->len = len;
}

/* Restores a running node's state machine from its durable snapshot. */
static void sm_restore(struct cluster *c, struct sim_node *n)
{
    struct sim_sm sm = {0};
    const struct sim_snap *s = &n->disk.snap;
    if (s->present && !sm_load(&sm, s->data, s->len)) {
        cluster_fail(c, "n%llu: snapshot %llu on disk is corrupt", U(n->id),
                     U(s->meta.index));
        return;
    }
    if (s->present && sm.index != s->meta.index) {
        cluster_fail(c, "n%llu: snapshot %llu holds the state at %llu",
                     U(n->id), U(s->meta.index), U(sm.index));
        return;
    }
    if (sm.index < n->sm.index) {
        cluster_fail(c, "n%llu: installing snapshot %llu takes its state "
                     "machine back from %llu", U(n->id), U(sm.index),
                     U(n->sm.index));
        return;
    }
    n->sm = sm;
    check_sm_restored(c, n);
}

static void disk_chunk(struct cluster *c, struct sim_node *n,
                       const struct sim_write *w, bool live)
{
    struct sim_disk *d = &n->disk;
    if (w->chunk_offset == 0) {
        d->in_index = w->chunk_index;
        d->in_term = w->chunk_term;
        d->in_len = 0;
    } else if (d->in_index != w->chunk_index || d->in_term != w->chunk_term ||
               w->chunk_offset > d->in_len) {
        cluster_fail(c, "n%llu: chunk at %llu does not continue the snapshot "
                     "on disk", U(n->id), U(w->chunk_offset));
        return;
    }
    size_t end = w->chunk_offset + w->chunk_len;
    if (end > d->in_cap) {
        d->in_cap = end * 2;
        d->in_data = mem_xrealloc(d->in_data, d->in_cap);
    }
    if (w->chunk_len)
        memcpy(d->in_data + w->chunk_offset, w->chunk_data, w->chunk_len);
    if (end > d->in_len)
        d->in_len = end;
    if (!w->chunk_last)
        return;
    snap_set(&d->snap, &w->chunk_meta, mem_xmemdup(d->in_data, d->in_len),
             d->in_len);
    log_clear(&d->log, w->chunk_meta.index + 1, w->chunk_meta.term);
    d->in_len = 0;
    cluster_trace(c, "n%llu installed snapshot (%llu, %llu) of %zu bytes",
                  U(n->id), U(w->chunk_meta.index), U(w->chunk_meta.term),
                  d->snap.len);
    if (!live)
        return;
    sm_restore(c, n);
    n->view.installing = false;
}

/* Makes one write durable; live when the node is running (not a write that
 * reaches the disk as the node crashes). */
static void disk_write(struct cluster *c, struct sim_node *n,
                       const struct sim_write *w, bool live)
{
    struct sim_disk *d = &n->disk;
    if (w->hs) {
        check_durable_hs(c, n, w->term, w->vote);
        d->term = w->term;
        d->vote = w->vote;
    }
    if (w->chunk && !c->failed)
        disk_chunk(c, n, w, live);
    if (w->n_entries && !c->failed)
        disk_append(c, n, w->entries, w->n_entries);
}

static void write_free(struct sim_write *w)
{
    for (size_t k = 0; k < w->n_entries; k++)
        free(w->entries[k].data);
    free(w->entries);
    free(w->chunk_data);
}

static void write_from_update(struct sim_write *w, const struct raft_update *u)
{
    *w = (struct sim_write){.seq = u->seq, .hs = u->hs_changed,
                            .term = u->term, .vote = u->vote,
                            .chunk = u->chunk, .chunk_last = u->chunk_last,
                            .chunk_index = u->chunk_index,
                            .chunk_term = u->chunk_term,
                            .chunk_offset = u->chunk_offset,
                            .chunk_len = u->chunk_len,
                            .chunk_meta = u->chunk_meta,
                            .n_entries = u->n_entries};
    if (u->chunk && u->chunk_len)
        w->chunk_data = mem_xmemdup(u->chunk_data, u->chunk_len);
    if (u->n_entries) {
        w->entries = mem_xmalloc(u->n_entries * sizeof *w->entries);
        for (size_t k = 0; k < u->n_entries; k++)
            entry_copy(&w->entries[k], &u->entries[k]);
    }
}

static void disk_kick(struct cluster *c, struct sim_node *n)
{
    if (n->writing || n->q_n == 0 || c->cfg.manual)
        return;
    n->writing = true;
    n->write_seq = n->q[n->q_head + n->q_n - 1].seq;
    uint64_t delay = n->slow_disk ? rng_range(&c->rng, 20, 400)
                                  : rng_range(&c->rng, 0, 5);
    schedule(c, EV_DISK, n, c->now_ms + delay, 0);
}

static void queue_write(struct cluster *c, struct sim_node *n,
                        const struct raft_update *u)
{
    if (n->q_head + n->q_n == n->q_cap) {
        if (n->q_head > 0) {
            memmove(n->q, n->q + n->q_head, n->q_n * sizeof *n->q);
            n->q_head = 0;
        } else {
            n->q_cap = n->q_cap ? n->q_cap * 2 : 16;
            n->q = mem_xrealloc(n->q, n->q_cap * sizeof *n->q);
        }
    }
    write_from_update(&n->q[n->q_head + n->q_n++], u);
    disk_kick(c, n);
}

/* The disk finished the write in progress: it is durable now, and the
 * persisted ack reaches the core a little later (a crash may fall between). */
static void disk_done(struct cluster *c, struct sim_node *n)
{
    n->writing = false;
    while (n->q_n > 0 && n->q[n->q_head].seq <= n->write_seq && !c->failed) {
        disk_write(c, n, &n->q[n->q_head], true);
        write_free(&n->q[n->q_head]);
        n->q_head++;
        n->q_n--;
    }
    if (n->q_n == 0)
        n->q_head = 0;
    cluster_trace(c, "n%llu disk: durable up to seq %llu", U(n->id),
                  U(n->write_seq));
    uint64_t at = c->now_ms + rng_range(&c->rng, 0, 3);
    if (at < n->ack_ms)
        at = n->ack_ms;
    n->ack_ms = at;
    if (!c->cfg.manual)
        schedule(c, EV_ACK, n, at, n->write_seq);
    disk_kick(c, n);
}

/* ---- the network ---- */

static bool fill_chunk(struct cluster *c, struct sim_node *n,
                       struct raft_msg *m)
{
    const struct sim_snap *s = &n->disk.snap;
    if (!s->present || s->meta.index != m->index || m->offset > s->len) {
        cluster_trace(c, "n%llu has no snapshot %llu (offset %llu): dropped",
                      U(n->id), U(m->index), U(m->offset));
        return false;
    }
    if (s->meta.term != m->log_term) {
        cluster_fail(c, "n%llu sends snapshot (%llu, %llu) but holds term "
                     "%llu", U(n->id), U(m->index), U(m->log_term),
                     U(s->meta.term));
        return false;
    }
    size_t left = s->len - m->offset;
    uint32_t len = m->len < left ? m->len : (uint32_t)left;
    m->data = s->data + m->offset;
    m->len = len;
    m->last = m->offset + len == s->len;
    return true;
}

static void route(struct cluster *c, uint64_t from, uint64_t to,
                  uint8_t *frame, size_t len)
{
    const struct cluster_net *net = &c->net;
    if (c->blocked[from][to] || rng_chance(&c->rng, net->drop_pm)) {
        cluster_trace(c, "lost n%llu->n%llu", U(from), U(to));
        free(frame);
        return;
    }
    int copies = rng_chance(&c->rng, net->dup_pm) ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        uint64_t delay = rng_chance(&c->rng, net->slow_pm)
                             ? rng_range(&c->rng, net->delay_min_ms,
                                         net->slow_max_ms)
                             : rng_range(&c->rng, net->delay_min_ms,
                                         net->delay_max_ms);
        uint8_t *f = k == 0 ? frame : mem_xmemdup(frame, len);
        ev_push(c, (struct sim_event){.at_ms = c->now_ms + delay,
                                      .type = EV_MSG, .node = to,
                                      .from = from, .frame = f, .len = len});
    }
}

static void hold(struct cluster *c, const struct raft_msg *m, uint8_t *frame,
                 size_t len)
{
    if (c->n_held == c->cap_held) {
        c->cap_held = c->cap_held ? c->cap_held * 2 : 64;
        c->held = mem_xrealloc(c->held, c->cap_held * sizeof *c->held);
    }
    c->held[c->n_held++] = (struct sim_held){m->from, m->to, m->type, frame,
                                             len};
}

static void send_msg(struct cluster *c, struct sim_node *n,
                     const struct raft_msg *src)
{
    struct raft_msg m = *src;
    if (m.type == RAFT_MSG_SNAPSHOT && !fill_chunk(c, n, &m))
        return;
    trace_msg(c, "send", &m);
    c->n_sent[m.type <= RAFT_MSG_TYPE_MAX ? m.type : 0]++;
    check_msg_out(c, n, &m);
    if (c->failed)
        return;
    size_t len = wire_msg_size(&m);
    if (len > WIRE_MAX_FRAME) {
        cluster_fail(c, "n%llu: %s of %zu bytes is too big to send",
                     U(n->id), msg_name(m.type), len);
        return;
    }
    uint8_t *frame = mem_xmalloc(len);
    if (wire_msg_encode(&m, frame, len) != len) {
        free(frame);
        cluster_fail(c, "codec: encoding a %s failed", msg_name(m.type));
        return;
    }
    if (c->cfg.manual)
        hold(c, &m, frame, len);
    else
        route(c, m.from, m.to, frame, len);
}

/* Decodes a frame, checks the codec is canonical on it, and steps it into
 * node `to`. The frame stays the caller's. */
static void deliver(struct cluster *c, uint64_t to, const uint8_t *frame,
                    size_t len, uint32_t max_entries)
{
    struct sim_node *n = to <= CLUSTER_MAX_ID ? &c->nodes[to] : NULL;
    if (n == NULL || !n->up)
        return;
    size_t fl = 0;
    struct raft_msg m;
    if (wire_frame_len(frame, len, &fl) != 1 || fl != len ||
        wire_msg_decode(&m, frame, len) != 0) {
        cluster_fail(c, "codec: a frame of %zu bytes does not decode", len);
        return;
    }
    if (c->scratch_cap < len) {
        c->scratch_cap = len * 2;
        c->scratch = mem_xrealloc(c->scratch, c->scratch_cap);
    }
    if (wire_msg_encode(&m, c->scratch, c->scratch_cap) != len ||
        memcmp(c->scratch, frame, len) != 0) {
        wire_msg_close(&m);
        cluster_fail(c, "codec: a %s does not re-encode to its frame",
                     msg_name(m.type));
        return;
    }
    if (m.n_entries > max_entries)
        m.n_entries = max_entries;
    trace_msg(c, "recv", &m);
    int rv = raft_step(n->core, &m);
    wire_msg_close(&m);
    if (rv != 0)
        cluster_trace(c, "n%llu: raft_step = %d", U(n->id), rv);
    drain(c, n);
}

/* ---- the edge ---- */

static void conf_applied(struct cluster *c, const struct raft_entry *e)
{
    struct raft_conf conf;
    if (e->index <= c->conf_index)
        return;
    if (raft_conf_decode(&conf, e->data, e->len) != 0) {
        cluster_fail(c, "committed CONF entry %llu does not decode",
                     U(e->index));
        return;
    }
    c->conf = conf;
    c->conf_index = e->index;
    for (unsigned k = 0; k < conf.n; k++)
        if (conf.servers[k].id <= CLUSTER_MAX_ID)
            c->nodes[conf.servers[k].id].member = true;
    if (c->cfg.trace == NULL)
        return;
    char buf[256] = "";
    size_t off = 0;
    for (unsigned k = 0; k < conf.n && off < sizeof buf - 16; k++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, " n%llu%s",
                                U(conf.servers[k].id),
                                conf.servers[k].role == RAFT_VOTER ? ""
                                                                   : "(l)");
    cluster_trace(c, "configuration at %llu committed:%s", U(e->index), buf);
}

static void apply_entries(struct cluster *c, struct sim_node *n,
                          const struct raft_update *u)
{
    for (size_t k = 0; k < u->n_committed && !c->failed; k++) {
        const struct raft_entry *e = &u->committed[k];
        if (e->index != n->sm.index + 1) {
            cluster_fail(c, "n%llu applies %llu after %llu%s", U(n->id),
                         U(e->index), U(n->sm.index),
                         n->view.installing ? " (a snapshot install is "
                                              "pending)"
                                            : "");
            return;
        }
        sm_apply(&n->sm, e);
        check_apply(c, n, e);
        if (e->type == RAFT_ENTRY_CONF && !c->failed)
            conf_applied(c, e);
    }
}

static void trace_update(struct cluster *c, struct sim_node *n,
                         const struct raft_update *u)
{
    if (c->cfg.trace == NULL || u->seq == 0)
        return;
    char hs[48] = "", ch[96] = "", es[64] = "";
    if (u->hs_changed)
        snprintf(hs, sizeof hs, " hs=(t%llu, vote n%llu)", U(u->term),
                 U(u->vote));
    if (u->chunk)
        snprintf(ch, sizeof ch, " chunk=(%llu,%llu) off=%llu len=%u%s",
                 U(u->chunk_index), U(u->chunk_term), U(u->chunk_offset),
                 u->chunk_len, u->chunk_last ? " last" : "");
    if (u->n_entries)
        snprintf(es, sizeof es, " entries=%llu..%llu (t%llu..t%llu)",
                 U(u->entries[0].index),
                 U(u->entries[u->n_entries - 1].index),
                 U(u->entries[0].term), U(u->entries[u->n_entries - 1].term));
    cluster_trace(c, "n%llu persist seq %llu:%s%s%s", U(n->id), U(u->seq), hs,
                  ch, es);
}

static void handle_update(struct cluster *c, struct sim_node *n,
                          const struct raft_update *u)
{
    trace_update(c, n, u);
    check_update(c, n, u);
    if (c->failed)
        return;
    if (u->seq != 0 && ((c->cfg.manual && !n->hold) || n->sync)) {
        struct sim_write w;
        write_from_update(&w, u);
        disk_write(c, n, &w, true);
        write_free(&w);
    } else if (u->seq != 0) {
        queue_write(c, n, u);
    }
    check_state(c, n, u);
    if (u->role != n->role || u->leader != n->leader)
        cluster_trace(c, "n%llu is %s in term %llu, leader n%llu, commit %llu",
                      U(n->id), raft_role_name(u->role),
                      U(raft_term(n->core)), U(u->leader), U(u->commit));
    n->role = u->role;
    n->leader = u->leader;
    for (size_t k = 0; k < u->n_msgs && !c->failed; k++)
        send_msg(c, n, &u->msgs[k]);
    if (!c->failed)
        apply_entries(c, n, u);
}

static void drain(struct cluster *c, struct sim_node *n)
{
    unsigned guard = 0;
    while (!c->failed && n->up && raft_has_update(n->core)) {
        if (++guard > MAX_UPDATES_IN_A_ROW) {
            cluster_fail(c, "n%llu: the core never stops handing out updates",
                         U(n->id));
            return;
        }
        struct raft_update u;
        raft_update(n->core, &u);
        handle_update(c, n, &u);
        if (((c->cfg.manual && !n->hold) || n->sync) && u.seq != 0 &&
            !c->failed)
            raft_persisted(n->core, u.seq);
    }
}

/* ---- nodes ---- */

static void node_config(struct cluster *c, struct sim_node *n,
                        struct raft_config *rc)
{
    const struct cluster_config *cc = &c->cfg;
    raft_config_default(rc, n->id);
    rc->election_ms = cc->election_ms;
    rc->heartbeat_ms = cc->heartbeat_ms;
    rc->max_msg_bytes = cc->max_msg_bytes;
    rc->max_inflight_msgs = cc->max_inflight_msgs;
    rc->max_inflight_bytes = cc->max_inflight_bytes;
    rc->chunk_bytes = cc->chunk_bytes;
    rc->seed = rng_next(&c->rng);
    rc->no_pre_vote = cc->no_pre_vote;
    rc->no_check_quorum = cc->no_check_quorum;
}

static bool node_core(struct cluster *c, struct sim_node *n)
{
    struct raft_config rc;
    node_config(c, n, &rc);
    n->core = raft_new(&rc);
    if (n->core == NULL) {
        cluster_fail(c, "raft_new refuses the configuration of n%llu",
                     U(n->id));
        return false;
    }
    n->up = true;
    n->tick_ms = c->now_ms;
    n->role = raft_role(n->core);
    n->leader = 0;
    n->sm = (struct sim_sm){0};
    return true;
}

/* Starts a server with an empty disk; bootstraps it with conf if given. */
static void node_start(struct cluster *c, uint64_t id,
                       const struct raft_conf *conf)
{
    struct sim_node *n = &c->nodes[id];
    n->id = id;
    n->used = true;
    log_clear(&n->disk.log, 1, 0);
    if (!node_core(c, n))
        return;
    check_restart(c, n);
    cluster_trace(c, "n%llu starts%s", U(id), conf ? " (bootstrap)" : "");
    if (conf != NULL) {
        /* Bootstrapping writes the initial state durably before the server
         * starts serving. */
        int rv = raft_bootstrap(n->core, conf);
        if (rv != 0)
            cluster_fail(c, "n%llu: raft_bootstrap = %d", U(id), rv);
        n->sync = true;
        drain(c, n);
        n->sync = false;
    }
    schedule_tick(c, n);
    drain(c, n);
}

void cluster_restart(struct cluster *c, uint64_t id)
{
    struct sim_node *n = cluster_node(c, id);
    if (n == NULL || n->up || n->gone || c->failed)
        return;
    if (!node_core(c, n))
        return;
    struct sim_disk *d = &n->disk;
    /* Recovery drops a stored log that does not continue the snapshot. */
    if (!disk_continues(d))
        log_clear(&d->log, d->snap.meta.index + 1, d->snap.meta.term);
    const struct raft_entry *es;
    size_t n_es = cluster_disk_entries(d, &es);
    int rv = raft_restore(n->core, d->term, d->vote,
                          d->snap.present ? &d->snap.meta : NULL, es, n_es);
    cluster_trace(c, "n%llu restarts: term %llu vote n%llu snapshot %llu "
                  "last %llu", U(id), U(d->term), U(d->vote),
                  U(disk_snap_index(d)), U(cluster_disk_last(d)));
    if (rv != 0) {
        cluster_fail(c, "n%llu: raft_restore = %d", U(id), rv);
        return;
    }
    sm_restore(c, n);
    check_restart(c, n);
    schedule_tick(c, n);
    drain(c, n);
}

/* A crash in the middle of a write: its hard state, snapshot chunk and a
 * prefix of its entries reach the disk, in that order. */
static void partial_write(struct cluster *c, struct sim_node *n,
                          const struct sim_write *w)
{
    struct sim_write p = *w;
    unsigned stage = (unsigned)rng_below(&c->rng, 3);
    if (stage < 1)
        p.chunk = false;
    p.n_entries = stage < 2 ? 0 : rng_below(&c->rng, w->n_entries + 1);
    disk_write(c, n, &p, false);
}

void cluster_crash(struct cluster *c, uint64_t id, bool keep_some)
{
    struct sim_node *n = cluster_node(c, id);
    if (n == NULL || !n->up)
        return;
    size_t keep = keep_some ? rng_below(&c->rng, n->q_n + 1) : 0;
    cluster_trace(c, "n%llu crashes; %zu of %zu pending writes reach the "
                  "disk", U(id), keep, n->q_n);
    for (size_t k = 0; k < n->q_n; k++) {
        struct sim_write *w = &n->q[n->q_head + k];
        if (k < keep && !c->failed)
            disk_write(c, n, w, false);
        else if (k == keep && keep_some && rng_chance(&c->rng, 500))
            partial_write(c, n, w);
        write_free(w);
    }
    n->q_head = n->q_n = 0;
    n->writing = false;
    raft_free(n->core);
    n->core = NULL;
    n->up = false;
    n->life++;
    n->role = RAFT_FOLLOWER;
    n->leader = 0;
    n->sm = (struct sim_sm){0};
    n->view.installing = false;
}

void cluster_retire(struct cluster *c, uint64_t id)
{
    struct sim_node *n = cluster_node(c, id);
    if (n == NULL || n->gone)
        return;
    cluster_trace(c, "n%llu is removed and shut down", U(id));
    cluster_crash(c, id, false);
    n->gone = true;
}

void cluster_set_slow_disk(struct cluster *c, uint64_t id, bool slow)
{
    struct sim_node *n = cluster_node(c, id);
    if (n != NULL)
        n->slow_disk = slow;
}

/* ---- the cluster ---- */

void cluster_config_default(struct cluster_config *cc, uint64_t seed,
                            unsigned n_voters)
{
    *cc = (struct cluster_config){.seed = seed,
                                  .n_voters = n_voters,
                                  .election_ms = 120,
                                  .heartbeat_ms = 25,
                                  .max_msg_bytes = 512,
                                  .max_inflight_msgs = 4,
                                  .max_inflight_bytes = 4096,
                                  .chunk_bytes = 128};
}

struct cluster *cluster_new(const struct cluster_config *cc)
{
    struct cluster *c = mem_xcalloc(1, sizeof *c);
    c->cfg = *cc;
    rng_seed(&c->rng, cc->seed);
    c->net = (struct cluster_net){.delay_min_ms = 1, .delay_max_ms = 5,
                                  .slow_max_ms = 50};
    c->check = check_new();
    c->next_id = cc->n_voters + 1;
    struct raft_conf conf = {.n = cc->n_voters};
    for (unsigned k = 0; k < cc->n_voters; k++) {
        struct raft_server *s = &conf.servers[k];
        s->id = k + 1;
        s->role = RAFT_VOTER;
        snprintf(s->addr, sizeof s->addr, "n%u", k + 1);
    }
    for (unsigned k = 0; k < cc->n_voters && !c->failed; k++)
        node_start(c, k + 1, &conf);
    return c;
}

void cluster_free(struct cluster *c)
{
    if (c == NULL)
        return;
    for (size_t k = 0; k < c->n_ev; k++)
        free(c->ev[k].frame);
    free(c->ev);
    for (size_t k = 0; k < c->n_held; k++)
        free(c->held[k].frame);
    free(c->held);
    for (unsigned id = 1; id <= CLUSTER_MAX_ID; id++) {
        struct sim_node *n = &c->nodes[id];
        for (size_t k = 0; k < n->q_n; k++)
            write_free(&n->q[n->q_head + k]);
        free(n->q);
        raft_free(n->core);
        log_clear(&n->disk.log, 0, 0);
        free(n->disk.log.e);
        free(n->disk.snap.data);
        free(n->disk.in_data);
        free(n->view.terms);
    }
    free(c->scratch);
    check_free(c->check);
    free(c);
}

static void process(struct cluster *c, struct sim_event *e)
{
    struct sim_node *n = &c->nodes[e->node];
    bool live = n->up && n->life == e->life;
    switch (e->type) {
    case EV_TICK:
        if (!live)
            return;
        raft_tick(n->core, c->now_ms - n->tick_ms);
        n->tick_ms = c->now_ms;
        drain(c, n);
        if (n->up && n->life == e->life)
            schedule_tick(c, n);
        break;
    case EV_MSG:
        if (!c->blocked[e->from][e->node])
            deliver(c, e->node, e->frame, e->len, CLUSTER_ALL);
        free(e->frame);
        break;
    case EV_DISK:
        if (live)
            disk_done(c, n);
        break;
    case EV_ACK:
        if (!live)
            return;
        cluster_trace(c, "n%llu: persisted %llu", U(n->id), U(e->arg));
        raft_persisted(n->core, e->arg);
        drain(c, n);
        break;
    }
}

void cluster_run_until(struct cluster *c, uint64_t t_ms)
{
    while (!c->failed && c->n_ev > 0 && c->ev[0].at_ms <= t_ms) {
        struct sim_event e = ev_pop(c);
        c->now_ms = e.at_ms;
        process(c, &e);
        if (++c->n_events > MAX_EVENTS || c->n_ev > MAX_PENDING_EVENTS)
            cluster_fail(c, "message storm: %llu events processed, %zu "
                         "pending", U(c->n_events), c->n_ev);
    }
    if (!c->failed && t_ms > c->now_ms)
        c->now_ms = t_ms;
}

struct sim_node *cluster_node(struct cluster *c, uint64_t id)
{
    if (id == 0 || id > CLUSTER_MAX_ID || !c->nodes[id].used)
        return NULL;
    return &c->nodes[id];
}

uint64_t cluster_leader(const struct cluster *c)
{
    uint64_t best = 0, best_term = 0;
    for (unsigned id = 1; id <= CLUSTER_MAX_ID; id++) {
        const struct sim_node *n = &c->nodes[id];
        if (!n->up || n->role != RAFT_LEADER)
            continue;
        uint64_t t = raft_term(n->core);
        if (t > best_term) {
            best = id;
            best_term = t;
        }
    }
    return best;
}

bool cluster_is_member(const struct cluster *c, uint64_t id)
{
    if (id == 0 || id > CLUSTER_MAX_ID || c->nodes[id].gone)
        return false;
    return raft_conf_role(&c->conf, id) != 0;
}

/* The running node id, or NULL (a scripted test asking for a dead node gets
 * RAFT_EINVAL from the calls below). */
static struct sim_node *live_node(struct cluster *c, uint64_t id)
{
    struct sim_node *n = cluster_node(c, id);
    return n != NULL && n->up && !c->failed ? n : NULL;
}

int cluster_propose(struct cluster *c, uint64_t id, const void *data,
                    uint32_t len, uint64_t *index, uint64_t *term)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    uint64_t i = 0, t = 0;
    int rv = raft_propose(n->core, data, len, &i, &t);
    if (rv == 0)
        cluster_trace(c, "n%llu: proposal at (%llu, %llu)", U(id), U(i),
                      U(t));
    if (index)
        *index = i;
    if (term)
        *term = t;
    drain(c, n);
    return rv;
}

int cluster_read(struct cluster *c, uint64_t id)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    uint64_t ctx = ++c->next_ctx;
    int rv = raft_read_index(n->core, ctx);
    if (rv == 0) {
        cluster_trace(c, "n%llu: read %llu asked", U(id), U(ctx));
        check_read_asked(c, n, ctx);
    }
    drain(c, n);
    return rv;
}

int cluster_read_outcome(const struct cluster *c, uint64_t ctx)
{
    return check_read_outcome(c->check, ctx);
}

int cluster_add(struct cluster *c, uint64_t id, bool promote,
                uint64_t *new_id)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL || c->next_id > CLUSTER_MAX_ID)
        return RAFT_EINVAL;
    uint64_t nid = c->next_id;
    char addr[RAFT_ADDR_MAX];
    snprintf(addr, sizeof addr, "n%llu", U(nid));
    int rv = raft_add(n->core, nid, addr, promote);
    cluster_trace(c, "n%llu: add n%llu%s = %d", U(id), U(nid),
                  promote ? " (promote)" : "", rv);
    if (rv == 0) {
        c->next_id++;
        node_start(c, nid, NULL);
        if (new_id)
            *new_id = nid;
    }
    drain(c, n);
    return rv;
}

int cluster_remove(struct cluster *c, uint64_t id, uint64_t victim)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    int rv = raft_remove(n->core, victim);
    cluster_trace(c, "n%llu: remove n%llu = %d", U(id), U(victim), rv);
    drain(c, n);
    return rv;
}

int cluster_transfer(struct cluster *c, uint64_t id, uint64_t to)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    int rv = raft_transfer(n->core, to);
    cluster_trace(c, "n%llu: transfer to n%llu = %d", U(id), U(to), rv);
    drain(c, n);
    return rv;
}

int cluster_snapshot(struct cluster *c, uint64_t id, uint64_t trailing)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return RAFT_EINVAL;
    struct sim_disk *d = &n->disk;
    uint64_t s = n->sm.index;
    if (s == 0 || s <= disk_snap_index(d) || n->view.installing)
        return 0;
    if (raft_applied_index(n->core) != s) {
        cluster_fail(c, "n%llu: applied index %llu, state machine at %llu",
                     U(id), U(raft_applied_index(n->core)), U(s));
        return RAFT_EINVAL;
    }
    struct raft_snapshot_meta meta;
    int rv = raft_snapshot_meta(n->core, s, &meta);
    if (rv != 0) {
        cluster_trace(c, "n%llu: raft_snapshot_meta(%llu) = %d", U(id), U(s),
                      rv);
        return rv;
    }
    check_local_snapshot(c, n, &meta);
    size_t len;
    uint8_t *data = sm_save(&n->sm, rng_range(&c->rng, 100, 900), &len);
    snap_set(&d->snap, &meta, data, len);
    /* Trim the stored log only where it continues the snapshot; otherwise
     * a pending write will cut it, or a restart ignores it. */
    if (disk_continues(d))
        log_drop_upto(&d->log, s);
    rv = raft_compact(n->core, s, trailing);
    cluster_trace(c, "n%llu: snapshot at (%llu, %llu), %zu bytes, compact "
                  "keeping %llu = %d", U(id), U(s), U(meta.term), len,
                  U(trailing), rv);
    if (rv != 0)
        cluster_fail(c, "n%llu: raft_compact(%llu) = %d", U(id), U(s), rv);
    n->view.snap_index = s;
    n->view.snap_term = meta.term;
    drain(c, n);
    return rv;
}

void cluster_block(struct cluster *c, uint64_t from, uint64_t to, bool on)
{
    if (from <= CLUSTER_MAX_ID && to <= CLUSTER_MAX_ID)
        c->blocked[from][to] = on;
}

void cluster_isolate(struct cluster *c, uint64_t id)
{
    for (unsigned k = 1; k <= CLUSTER_MAX_ID; k++) {
        cluster_block(c, id, k, true);
        cluster_block(c, k, id, true);
    }
}

void cluster_heal(struct cluster *c)
{
    memset(c->blocked, 0, sizeof c->blocked);
}

/* ---- manual mode ---- */

void cluster_tick(struct cluster *c, uint64_t id, uint64_t ms)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL)
        return;
    raft_tick(n->core, ms);
    drain(c, n);
}

static bool held_match(const struct sim_held *h, uint64_t from, uint64_t to,
                       uint8_t type)
{
    return (from == 0 || h->from == from) && (to == 0 || h->to == to) &&
           (type == 0 || h->type == type);
}

/* Moves the matching held messages out, in order, into *out. */
static size_t take_held(struct cluster *c, uint64_t from, uint64_t to,
                        uint8_t type, struct sim_held **out)
{
    size_t k = 0, m = 0;
    *out = mem_xmalloc((c->n_held + 1) * sizeof **out);
    for (size_t i = 0; i < c->n_held; i++) {
        if (held_match(&c->held[i], from, to, type))
            (*out)[m++] = c->held[i];
        else
            c->held[k++] = c->held[i];
    }
    c->n_held = k;
    return m;
}

size_t cluster_deliver(struct cluster *c, uint64_t from, uint64_t to,
                       uint8_t type, uint32_t max_entries)
{
    struct sim_held *out;
    size_t m = take_held(c, from, to, type, &out);
    for (size_t i = 0; i < m; i++) {
        if (!c->failed)
            deliver(c, out[i].to, out[i].frame, out[i].len, max_entries);
        free(out[i].frame);
    }
    free(out);
    return m;
}

void cluster_hold_disk(struct cluster *c, uint64_t id, bool on)
{
    struct sim_node *n = cluster_node(c, id);
    if (n != NULL)
        n->hold = on;
}

void cluster_flush_disk(struct cluster *c, uint64_t id)
{
    struct sim_node *n = live_node(c, id);
    if (n == NULL || n->q_n == 0)
        return;
    n->write_seq = n->q[n->q_head + n->q_n - 1].seq;
    disk_done(c, n);
    n->writing = false;
    cluster_trace(c, "n%llu: persisted %llu", U(id), U(n->write_seq));
    raft_persisted(n->core, n->write_seq);
    drain(c, n);
}

size_t cluster_pump(struct cluster *c, unsigned rounds)
{
    size_t total = 0, n = 1;
    for (unsigned k = 0; k < rounds && n > 0 && !c->failed; k++) {
        n = cluster_deliver(c, 0, 0, 0, CLUSTER_ALL);
        total += n;
    }
    return total;
}

void cluster_settle(struct cluster *c, uint64_t total_ms, uint64_t step_ms)
{
    for (uint64_t t = 0; t < total_ms && !c->failed; t += step_ms) {
        c->now_ms += step_ms;
        for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++)
            cluster_tick(c, id, step_ms);
        cluster_pump(c, 100);
    }
}

size_t cluster_drop(struct cluster *c, uint64_t from, uint64_t to,
                    uint8_t type)
{
    struct sim_held *out;
    size_t m = take_held(c, from, to, type, &out);
    for (size_t i = 0; i < m; i++)
        free(out[i].frame);
    free(out);
    return m;
}

size_t cluster_n_held(const struct cluster *c, uint64_t from, uint64_t to,
                      uint8_t type)
{
    size_t m = 0;
    for (size_t i = 0; i < c->n_held; i++)
        m += held_match(&c->held[i], from, to, type);
    return m;
}
