/* net.c - the simulated network and the event queue: messages copied
 * through the wire codec, delayed, lost, duplicated or blocked by
 * partitions (automatic mode), or held until a scripted test delivers them
 * (manual mode). */
#include "net.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/mem.h"
#include "raft/wire.h"

#define U(x) ((unsigned long long)(x))

static const char *msg_name(uint8_t type)
{
    static const char *names[] = {"?",
                                  "APPEND",
                                  "APPEND_RESP",
                                  "VOTE",
                                  "VOTE_RESP",
                                  "PREVOTE",
                                  "PREVOTE_RESP",
                                  "HEARTBEAT",
                                  "HEARTBEAT_RESP",
                                  "SNAPSHOT",
                                  "SNAPSHOT_RESP",
                                  "TIMEOUT_NOW"};
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
    cluster_trace(c, "%s n%llu->n%llu %s t%llu%s", what, U(m->from), U(m->to),
                  msg_name(m->type), U(m->term), more);
}

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

struct sim_event net_pop(struct cluster *c)
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

void net_schedule(struct cluster *c, uint8_t type, struct sim_node *n,
                  uint64_t at_ms, uint64_t arg)
{
    ev_push(c, (struct sim_event){.at_ms = at_ms,
                                  .type = type,
                                  .node = n->id,
                                  .life = n->life,
                                  .arg = arg});
}

void net_schedule_tick(struct cluster *c, struct sim_node *n)
{
    if (!c->cfg.manual)
        net_schedule(c, EV_TICK, n, c->now_ms + rng_range(&c->rng, 1, 10), 0);
}

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
        cluster_fail(c,
                     "n%llu sends snapshot (%llu, %llu) but holds term "
                     "%llu",
                     U(n->id), U(m->index), U(m->log_term), U(s->meta.term));
        return false;
    }
    size_t left = s->len - m->offset;
    uint32_t len = m->len < left ? m->len : (uint32_t)left;
    m->data = s->data + m->offset;
    m->len = len;
    m->last = m->offset + len == s->len;
    return true;
}

static void route(struct cluster *c, uint64_t from, uint64_t to, uint8_t *frame,
                  size_t len)
{
    const struct cluster_net *net = &c->net;
    if (c->blocked[from][to] || rng_chance(&c->rng, net->drop_pm)) {
        cluster_trace(c, "lost n%llu->n%llu", U(from), U(to));
        free(frame);
        return;
    }
    int copies = rng_chance(&c->rng, net->dup_pm) ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        uint64_t delay =
            rng_chance(&c->rng, net->slow_pm)
                ? rng_range(&c->rng, net->delay_min_ms, net->slow_max_ms)
                : rng_range(&c->rng, net->delay_min_ms, net->delay_max_ms);
        uint8_t *f = k == 0 ? frame : mem_xmemdup(frame, len);
        ev_push(c, (struct sim_event){.at_ms = c->now_ms + delay,
                                      .type = EV_MSG,
                                      .node = to,
                                      .from = from,
                                      .frame = f,
                                      .len = len});
    }
}

static void hold(struct cluster *c, const struct raft_msg *m, uint8_t *frame,
                 size_t len)
{
    if (c->n_held == c->cap_held) {
        c->cap_held = c->cap_held ? c->cap_held * 2 : 64;
        c->held = mem_xrealloc(c->held, c->cap_held * sizeof *c->held);
    }
    c->held[c->n_held++] =
        (struct sim_held){m->from, m->to, m->type, frame, len};
}

void net_send(struct cluster *c, struct sim_node *n, const struct raft_msg *src)
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
        cluster_fail(c, "n%llu: %s of %zu bytes is too big to send", U(n->id),
                     msg_name(m.type), len);
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
void net_deliver(struct cluster *c, uint64_t to, const uint8_t *frame,
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
    /* The simulated servers are of one cluster; an id the cluster never
     * made is an outsider's (the peer hello's cluster id, as dlockd does
     * it). */
    m.same_cluster = m.from < c->next_id;
    int rv = raft_step(n->core, &m);
    wire_msg_close(&m);
    if (rv != 0)
        cluster_trace(c, "n%llu: raft_step = %d", U(n->id), rv);
    cluster_drain(c, n);
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
            net_deliver(c, out[i].to, out[i].frame, out[i].len, max_entries);
        free(out[i].frame);
    }
    free(out);
    return m;
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

size_t cluster_drop(struct cluster *c, uint64_t from, uint64_t to, uint8_t type)
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

void net_free(struct cluster *c)
{
    for (size_t k = 0; k < c->n_ev; k++)
        free(c->ev[k].frame);
    free(c->ev);
    for (size_t k = 0; k < c->n_held; k++)
        free(c->held[k].frame);
    free(c->held);
    free(c->scratch);
}
