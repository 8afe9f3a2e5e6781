/* node.c - one dlock server's replicated state, driven by the libuv loop:
 * the Raft core, its store (node_disk.c: group commit), the lock state
 * machine, the leader's leases, and the callbacks of the command layer. */
#include "server/node.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/mem.h"
#include "server/lease.h"
#include "server/logger.h"
#include "server/node_internal.h"
#include "server/peer.h"
#include "server/store.h"

#define TICK_MS 10
#define EXPIRE_RETRY_MS 1000
#define EXPIRE_BATCH 1024     /* sessions in one EXPIRE_BATCH entry */
#define EXPIRE_PER_TURN 8192  /* sessions proposed in one turn of the loop */
#define EXPIRE_EXAMPLES 3     /* locks (or sessions) named in the log line */
#define SLOW_FLUSH_NS 5000000 /* a turn of the loop logged from 5 ms */

static void flush(struct node *n);
static void leader_timers(struct node *n);
static void leader_expiries(struct node *n);
static void tick_done(void *ctx, int status, const struct fsm_result *res);

/* ---- time ------------------------------------------------------------- */

/* Cluster time: this server's monotonic clock, shifted when it becomes
 * leader so that it continues past every time already in the log. */
uint64_t node_cluster_now(const struct node *n)
{
    return uv_now(n->loop) + n->time_offset;
}

/* ---- completing what the command layer waits for ---------------------- */

static void fail_proposals(struct node *n, int status)
{
    while (n->props.n > 0) {
        struct proposal p = n->props.v[n->props.head];
        n->props.head = (n->props.head + 1) % n->props.cap;
        n->props.n--;
        if (p.cb != NULL)
            p.cb(p.ctx, status, NULL);
        else if (p.change_cb != NULL)
            p.change_cb(p.ctx, status);
    }
}

/* Everything waiting on this server as leader fails: the outcome, if any,
 * comes from the next leader (clients retry with their request ids). */
void node_lost_leadership(struct node *n, int status)
{
    n->ready = false;
    fail_proposals(n, status);
    node_read_fail_all(n, status);
    node_wait_fail_all(n, status);
    n->unwaits.n = 0; /* the next leader gives up every wait */
    lease_clear(n->lease);
}

/* ---- apply ------------------------------------------------------------ */

static void session_each_cb(void *arg, uint64_t id, uint64_t ttl)
{
    struct node *n = arg;
    lease_set(n->lease, id, ttl, node_cluster_now(n));
}

/* The leader's own no-op has applied: everything committed before it has
 * too. It may now stamp times and run leases (docs/design.md §11). */
static void become_ready(struct node *n)
{
    /* Cluster time goes on from the last time applied, whatever this
     * machine's clock says: moving it forward by a difference of clocks
     * (uptimes) would end lock-delays and waits early. Unsigned arithmetic
     * wraps as needed. Durations across the change can only stretch. */
    uint64_t now = uv_now(n->loop), last = fsm_now(n->fsm);
    n->time_offset = last + 1 - now;
    n->ready = true;
    /* A fresh lease for every session, from now: never shorter than what
     * an earlier leader could have granted. */
    lease_clear(n->lease);
    n->settling = false;
    fsm_session_each(n->fsm, session_each_cb, n);
    /* Nobody waits on this server yet: a queued wait's client was
     * attached to an earlier leader, which failed it. Waits without a
     * REQ end now, the others keep their place for the grace, for their
     * clients to repeat them here (docs/protocol.md §4). */
    struct fsm_stats st;
    fsm_stats(n->fsm, &st);
    if (st.waiters > 0) {
        struct fsm_cmd every = {.type = FSM_UNWAIT};
        node_unwait(n, &every);
    }
    log_info("leader of term %" PRIu64 ", serving (%zu sessions, %" PRIu64
             " waits)",
             raft_term(n->raft), lease_count(n->lease), st.waiters);
}

/* Keeps the leases in step with the sessions the machine knows. */
static void track_lease(struct node *n, const struct fsm_cmd *cmd,
                        const struct fsm_result *res, uint64_t index)
{
    /* After an expiry none of its sessions is open, whatever its result
     * (one that ended otherwise, e.g. a lease lock's after its wait ran
     * out, would otherwise be proposed again every second). */
    if (cmd->type == FSM_EXPIRE)
        lease_remove(n->lease, cmd->session);
    for (uint32_t i = 0; cmd->type == FSM_EXPIRE_BATCH && i < cmd->n_ids; i++)
        lease_remove(n->lease, fsm_cmd_id(cmd, i));
    if (res->status != FSM_OK && res->status != FSM_QUEUED)
        return;
    uint64_t now = node_cluster_now(n);
    switch (cmd->type) {
    case FSM_OPEN:
        if (!res->replayed)
            lease_set(n->lease, res->session, res->ttl, now);
        break;
    case FSM_ACQUIRE:
        if (cmd->session == 0 && res->session == index)
            lease_set(n->lease, res->session, cmd->ttl, now);
        break;
    case FSM_EXTEND:
    case FSM_SET_TTL:
        if (res->session != 0)
            lease_set(n->lease, res->session, res->ttl, now);
        break;
    case FSM_CLOSE:
        lease_remove(n->lease, cmd->session);
        break;
    case FSM_RELEASE:
        if (cmd->session == 0 && res->session != 0)
            lease_remove(n->lease, res->session);
        break;
    default:
        break;
    }
}

static void deliver_events(struct node *n)
{
    size_t count;
    const struct fsm_event *ev = fsm_events(n->fsm, &count);
    for (size_t i = 0; i < count; i++) {
        if (ev[i].type == FSM_EV_LOST)
            continue; /* summed up by log_expiry */
        if (ev[i].type == FSM_EV_WITHDRAWN) {
            log_info("lock '%.*s': the grant of token %" PRIu64
                     " to session %" PRIu64 " taken back: its client went "
                     "away before it learnt it",
                     (int)ev[i].name_len, ev[i].name, ev[i].token,
                     ev[i].session);
            continue;
        }
        if (ev[i].type == FSM_EV_GRANTED || ev[i].type == FSM_EV_TIMEOUT ||
            ev[i].type == FSM_EV_CANCELED)
            node_wait_fire(n, &ev[i]);
    }
    fsm_events_clear(n->fsm);
}

/* One line per applied expiry entry, on every server (docs/operations.md):
 * how many sessions ended and how many locks they lost, naming a few. */
static void log_expiry(struct node *n, const struct fsm_cmd *cmd,
                       const struct fsm_result *res)
{
    if (res->status != FSM_OK || res->expired == 0)
        return;
    size_t count, lost = 0, off = 0;
    char eg[EXPIRE_EXAMPLES * 128] = ""; /* each example fits in 128 */
    const struct fsm_event *ev = fsm_events(n->fsm, &count);
    for (size_t i = 0; i < count; i++) {
        if (ev[i].type != FSM_EV_LOST || lost++ >= EXPIRE_EXAMPLES)
            continue;
        int len = ev[i].name_len > 64 ? 64 : (int)ev[i].name_len;
        off += (size_t)snprintf(
            eg + off, sizeof eg - off, "%s session %" PRIu64 " '%.*s'%s",
            off == 0 ? "; e.g." : ",", ev[i].session, len, ev[i].name,
            len < (int)ev[i].name_len ? "..." : "");
    }
    bool batch = cmd->type == FSM_EXPIRE_BATCH;
    uint32_t named = batch ? cmd->n_ids : 1;
    for (uint32_t i = 0; lost == 0 && i < named && i < EXPIRE_EXAMPLES; i++)
        off += (size_t)snprintf(eg + off, sizeof eg - off, "%s %" PRIu64,
                                i == 0 ? "; sessions" : ",",
                                batch ? fsm_cmd_id(cmd, i) : cmd->session);
    bool more =
        lost > EXPIRE_EXAMPLES || (lost == 0 && named > EXPIRE_EXAMPLES);
    log_info("expired %" PRIu32 " session%s, %zu lock%s lost%s%s", res->expired,
             res->expired == 1 ? "" : "s", lost, lost == 1 ? "" : "s", eg,
             more ? ", ..." : "");
}

static void complete_proposal(struct node *n, const struct raft_entry *e,
                              const struct fsm_result *res)
{
    while (n->props.n > 0) {
        struct proposal *p = &n->props.v[n->props.head];
        if (p->index > e->index)
            return;
        struct proposal done = *p;
        n->props.head = (n->props.head + 1) % n->props.cap;
        n->props.n--;
        bool ours = done.index == e->index && done.term == e->term;
        if (done.cb != NULL && ours)
            n->answered++;
        if (done.cb != NULL)
            done.cb(done.ctx, ours && res != NULL ? NODE_OK : NODE_LOST,
                    ours ? res : NULL);
        else if (done.change_cb != NULL)
            done.change_cb(done.ctx, ours ? NODE_OK : NODE_LOST);
    }
}

static void apply_conf(struct node *n, const struct raft_entry *e)
{
    struct raft_conf c;
    if (raft_conf_decode(&c, e->data, e->len) != 0)
        return;
    char line[512];
    size_t off = 0;
    for (unsigned i = 0; i < c.n && off < sizeof line; i++)
        off += (size_t)snprintf(
            line + off, sizeof line - off, " %" PRIu64 "%s", c.servers[i].id,
            c.servers[i].role == RAFT_LEARNER ? "(learner)" : "");
    log_info("configuration at %" PRIu64 ":%s", e->index, line);
    node_conf_changed(n, e->index);
}

static void apply_entry(struct node *n, const struct raft_entry *e)
{
    struct fsm_result res = {0};
    struct fsm_cmd cmd;
    bool have = false;
    switch (e->type) {
    case RAFT_ENTRY_NORMAL:
        fsm_apply(n->fsm, e->index, e->data, e->len, &res);
        have = true;
        if (fsm_cmd_decode(&cmd, e->data, e->len) == 0) {
            track_lease(n, &cmd, &res, e->index);
            if (cmd.type == FSM_EXPIRE || cmd.type == FSM_EXPIRE_BATCH)
                log_expiry(n, &cmd, &res);
        }
        deliver_events(n);
        break;
    case RAFT_ENTRY_CONF:
        apply_conf(n, e);
        break;
    default:
        break;
    }
    complete_proposal(n, e, have ? &res : NULL);
    if (e->type == RAFT_ENTRY_NOOP && raft_role(n->raft) == RAFT_LEADER &&
        e->term == raft_term(n->raft) && !n->ready)
        become_ready(n);
}

/* ---- the loop's work -------------------------------------------------- */

static void on_role(struct node *n, const struct raft_update *u)
{
    if (u->role == n->last_role)
        return;
    uint8_t old = n->last_role;
    n->last_role = u->role;
    log_info("%s in term %" PRIu64 " (was %s)", raft_role_name(u->role),
             u->term, raft_role_name(old));
    if (old == RAFT_LEADER)
        node_lost_leadership(n, NODE_NOTLEADER);
}

static void send_msgs(struct node *n, const struct raft_update *u)
{
    for (size_t i = 0; i < u->n_msgs; i++) {
        struct raft_msg m = u->msgs[i];
        const char *addr = node_member_addr(n, m.to);
        if (addr == NULL)
            continue;
        if (m.type == RAFT_MSG_SNAPSHOT && m.data == NULL) {
            if (!node_disk_fill_chunk(n, &m))
                continue;
        }
        peers_send(n->peers, &m, addr);
    }
}

static void flush(struct node *n)
{
    if (n->flushing)
        return; /* a callback called back in: the loop below continues */
    n->flushing = true;
    uint64_t t0 = uv_hrtime();
    /* The leader's messages of this turn go out together at its end, or
     * when the batch they belong to starts (docs/design.md §3). */
    if (raft_role(n->raft) == RAFT_LEADER && !n->closed)
        peers_cork(n->peers, true);
    do {
        while (raft_has_update(n->raft)) {
            struct raft_update u;
            raft_update(n->raft, &u);
            node_disk_persist(n, &u);
            send_msgs(n, &u);
            on_role(n, &u);
            for (size_t i = 0; i < u.n_committed; i++)
                apply_entry(n, &u.committed[i]);
            node_read_update(n, &u);
        }
        node_unwait_flush(n); /* decided while the entries applied */
        node_disk_start(n);   /* a sync done inline makes a new update */
    } while (raft_has_update(n->raft));
    node_disk_snapshot(n);
    /* Only a leader that is not closed gathers (node_disk_start). */
    peers_cork(n->peers, n->gathering);
    n->flushing = false;
    uint64_t took = uv_hrtime() - t0;
    if (took >= SLOW_FLUSH_NS)
        log_info("slow turn of the loop: %" PRIu64 " ms", took / 1000000);
}

void node_kick(struct node *n)
{
    flush(n);
}

void node_on_check(uv_check_t *h)
{
    struct node *n = h->data;
    if (raft_role(n->raft) == RAFT_LEADER && n->ready && !n->stopping)
        leader_expiries(n);
    flush(n);
}

void node_on_tick(uv_timer_t *h)
{
    struct node *n = h->data;
    uint64_t now = uv_now(n->loop);
    raft_tick(n->raft, now - n->last_tick);
    n->last_tick = now;
    if (raft_role(n->raft) == RAFT_LEADER && n->ready && !n->stopping)
        leader_timers(n);
    node_stop_progress(n);
    flush(n);
}

void node_set_turn(struct node *n, struct turn *t)
{
    n->turn = t;
}

void node_set_input_guard(struct node *n,
                          bool (*settled)(void *arg, uint64_t round), void *arg)
{
    n->input_settled = settled;
    n->input_arg = arg;
}

/* Proposes EXPIRE_BATCH entries for the sessions whose lease had ended at
 * now, up to EXPIRE_PER_TURN of them; if that many were due, the idle
 * handle keeps the loop from waiting in its poll, so that the next check
 * phase, right after the next turn's I/O, proposes the rest (a wave of
 * expiries neither waits a tick per share nor stalls the loop). */
static void propose_expiries(struct node *n, uint64_t now)
{
    uint64_t ids[EXPIRE_BATCH];
    uint8_t bytes[EXPIRE_BATCH * 8];
    size_t total = 0, count;
    do {
        count = lease_due(n->lease, now, EXPIRE_RETRY_MS, ids, EXPIRE_BATCH);
        if (count == 0)
            break;
        for (size_t i = 0; i < count; i++)
            le_put64(bytes + 8 * i, ids[i]);
        struct fsm_cmd cmd = {
            .type = FSM_EXPIRE_BATCH, .ids = bytes, .n_ids = (uint32_t)count};
        if (node_propose(n, &cmd, NULL, NULL) != NODE_OK)
            return; /* reported again after EXPIRE_RETRY_MS */
        total += count;
    } while (count == EXPIRE_BATCH && total < EXPIRE_PER_TURN);
    if (count == EXPIRE_BATCH)
        uv_idle_start(&n->expire_idle, node_on_expire_idle);
}

void node_on_expire_idle(uv_idle_t *h)
{
    uv_idle_stop(h); /* the check phase that follows does the work */
}

/* Expiries, from the loop's check phase: after a poll, so whatever reached
 * the sockets before the leases were found over has been read. A round
 * starts when some lease is over at settle_at; its expiries are proposed
 * once the guard says that the input which had come by then is served
 * (node_set_input_guard), and the leases that a keepalive renewed meanwhile
 * are no longer due. */
static void leader_expiries(struct node *n)
{
    uint64_t now = node_cluster_now(n);
    if (!n->settling) {
        if (lease_next_due(n->lease) > now)
            return;
        n->settling = true;
        n->settle_at = now;
        n->settle_round++;
    }
    if (n->input_settled != NULL &&
        !n->input_settled(n->input_arg, n->settle_round))
        return;
    n->settling = false;
    propose_expiries(n, n->settle_at);
}

/* Ticks of the state machine that are due. */
static void leader_timers(struct node *n)
{
    uint64_t now = node_cluster_now(n);
    if (!n->tick_pending && fsm_next_deadline(n->fsm) <= now) {
        struct fsm_cmd cmd = {.type = FSM_TICK};
        if (node_propose(n, &cmd, tick_done, n) == NODE_OK)
            n->tick_pending = true;
    }
}

static void tick_done(void *ctx, int status, const struct fsm_result *res)
{
    struct node *n = ctx;
    n->tick_pending = false;
}

/* ---- proposals -------------------------------------------------------- */

static void push_proposal(struct node *n, const struct proposal *p)
{
    if (n->props.n == n->props.cap) {
        size_t cap = n->props.cap ? n->props.cap * 2 : 256;
        struct proposal *v = mem_xmalloc(cap * sizeof *v);
        for (size_t i = 0; i < n->props.n; i++)
            v[i] = n->props.v[(n->props.head + i) % n->props.cap];
        free(n->props.v);
        n->props.v = v;
        n->props.cap = cap;
        n->props.head = 0;
    }
    n->props.v[(n->props.head + n->props.n) % n->props.cap] = *p;
    n->props.n++;
}

int node_propose(struct node *n, struct fsm_cmd *cmd, node_apply_cb cb,
                 void *ctx)
{
    if (n->stopping)
        return NODE_SHUTDOWN;
    if (raft_role(n->raft) != RAFT_LEADER || !n->ready)
        return NODE_NOTLEADER;
    cmd->now = node_cluster_now(n);
    size_t len = fsm_cmd_encode(cmd, NULL, 0);
    if (len == 0)
        return NODE_INVALID; /* the machine would refuse it: not proposed */
    if (len > n->scratch_cap) {
        n->scratch = mem_xrealloc(n->scratch, len);
        n->scratch_cap = len;
    }
    fsm_cmd_encode(cmd, n->scratch, len);
    struct proposal p = {.cb = cb, .ctx = ctx};
    if (raft_propose(n->raft, n->scratch, (uint32_t)len, &p.index, &p.term) !=
        0)
        return NODE_NOTLEADER; /* a transfer is under way */
    push_proposal(n, &p);
    n->proposed++;
    return NODE_OK;
}

/* Registers the configuration entry a change just appended. */
static int change_started(struct node *n, int rc, node_read_cb cb, void *ctx)
{
    if (rc == RAFT_ENOTLEADER)
        return NODE_NOTLEADER;
    if (rc == RAFT_EBUSY)
        return NODE_BUSY;
    if (rc != 0)
        return NODE_INVALID;
    struct proposal p = {.index = raft_last_index(n->raft),
                         .term = raft_term(n->raft),
                         .change_cb = cb,
                         .ctx = ctx};
    push_proposal(n, &p);
    n->proposed++;
    return NODE_OK;
}

int node_add(struct node *n, uint64_t id, const char *raft_addr,
             node_read_cb cb, void *ctx)
{
    if (n->stopping)
        return NODE_SHUTDOWN;
    if (!node_is_leader(n))
        return NODE_NOTLEADER;
    log_info("adding server %" PRIu64 " at %s", id, raft_addr);
    return change_started(n, raft_add(n->raft, id, raft_addr, true), cb, ctx);
}

int node_remove(struct node *n, uint64_t id, node_read_cb cb, void *ctx)
{
    if (n->stopping)
        return NODE_SHUTDOWN;
    if (!node_is_leader(n))
        return NODE_NOTLEADER;
    log_info("removing server %" PRIu64, id);
    return change_started(n, raft_remove(n->raft, id), cb, ctx);
}

/* ---- views ------------------------------------------------------------ */

const struct fsm *node_fsm(const struct node *n)
{
    return n->fsm;
}

uint64_t node_now(const struct node *n)
{
    return node_cluster_now(n);
}

uint64_t node_lease_left(const struct node *n, uint64_t session)
{
    return lease_left(n->lease, session, node_cluster_now(n));
}

bool node_is_leader(const struct node *n)
{
    return raft_role(n->raft) == RAFT_LEADER && n->ready;
}

const char *node_leader_addr(const struct node *n)
{
    uint64_t leader = raft_leader(n->raft);
    if (leader == 0)
        return NULL;
    if (leader == n->cfg->id)
        return n->ready ? n->cfg->advertise : NULL;
    const char *addr = node_client_addr_of(n, leader);
    return addr != NULL && addr[0] != '\0' ? addr : NULL;
}

void node_info(const struct node *n, struct node_info *info)
{
    memset(info, 0, sizeof *info);
    info->id = n->cfg->id;
    info->role = raft_role(n->raft);
    info->term = raft_term(n->raft);
    info->leader = raft_leader(n->raft);
    info->commit = raft_commit_index(n->raft);
    info->applied = raft_applied_index(n->raft);
    info->last_index = raft_last_index(n->raft);
    info->snapshot_index = raft_snapshot_index(n->raft);
    info->sync_avg_us = n->sync_avg_ns / 1000;
    info->sync_inline = node_disk_inline(n);
    info->syncs = n->syncs;
    info->entries_synced = n->entries_synced;
    const struct raft_conf *c = raft_conf(n->raft);
    for (unsigned i = 0; i < c->n; i++) {
        struct node_member *m = &info->members[info->n_members++];
        m->id = c->servers[i].id;
        m->role = c->servers[i].role;
        m->raft_addr = c->servers[i].addr;
        if (m->id == n->cfg->id)
            m->client_addr = n->cfg->advertise;
        else {
            const char *a = node_client_addr_of(n, m->id);
            m->client_addr = a ? a : "";
        }
        m->match = raft_match_index(n->raft, m->id);
    }
}
