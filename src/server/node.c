/* node.c - one dlock server's replicated state, driven by the libuv loop:
 * the Raft core, its disk (disk.h: the log, group commit), the lock state
 * machine, the leader's leases, and the callbacks of the command layer. */
#include "server/node.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/mem.h"
#include "lock/replica.h"
#include "server/logger.h"
#include "server/node_internal.h"
#include "server/peer.h"

#define TICK_MS 10
#define EXPIRE_EXAMPLES 3     /* locks (or sessions) named in the log line */
#define SLOW_FLUSH_NS 5000000 /* a turn of the loop logged from 5 ms */

static void flush(struct node *n);
static void leader_timers(struct node *n);
static void leader_expiries(struct node *n);
static int propose_as(struct node *n, struct fsm_cmd *cmd, void *ctx,
                      uint64_t tag);

/* The replica's statuses are the node's (replica.h, node.h). */
_Static_assert((int)REPLICA_OK == (int)NODE_OK &&
                   (int)REPLICA_NOTLEADER == (int)NODE_NOTLEADER &&
                   (int)REPLICA_LOST == (int)NODE_LOST &&
                   (int)REPLICA_NOSESSION == (int)NODE_NOSESSION &&
                   (int)REPLICA_INVALID == (int)NODE_INVALID,
               "replica and node statuses differ");

/* ---- time ------------------------------------------------------------- */

/* Cluster time: this server's monotonic clock, shifted when it becomes
 * leader so that it continues past every time already in the log
 * (replica_now). */
uint64_t node_cluster_now(const struct node *n)
{
    return replica_now(n->rep, uv_now(n->loop));
}

/* ---- what the replica decided ----------------------------------------- */

struct node_cb *node_new_cb(void *ctx)
{
    struct node_cb *k = mem_xcalloc(1, sizeof *k);
    k->ctx = ctx;
    return k;
}

/* A proposal's status for the command layer: a command's entry that
 * applied with a result is NODE_OK, one whose place another entry took is
 * NODE_LOST, and the leader's loss is its status. */
static int done_status(const struct replica_out *o)
{
    if (o->status != REPLICA_OK)
        return o->status;
    return o->res != NULL ? NODE_OK : NODE_LOST;
}

const char *const node_trace_names[NODE_TRACE_STAMPS] = {
    "woke",  "read",      "proposed", "write",  "synced",
    "acked", "committed", "applied",  "replied"};
const char *const node_ftrace_names[NODE_FTRACE_STAMPS] = {
    "woke", "received", "write", "synced", "acked"};

/* Adds the trace of a client's write, applied at applied_ns, whose reply
 * has just gone to its connection. */
static void trace_write(struct node *n, const struct node_cb *k,
                        uint64_t applied_ns)
{
    struct trace_rec r = {.index = k->index, .what = k->what};
    r.at[NODE_TRACE_WOKE] = k->woke_ns;
    r.at[NODE_TRACE_READ] = k->recv_ns;
    r.at[NODE_TRACE_PROPOSED] = k->proposed_ns;
    disk_batch_of(n->disk, k->index, &r.at[NODE_TRACE_WRITE],
                  &r.at[NODE_TRACE_SYNCED], &r.batch);
    r.at[NODE_TRACE_ACKED] = node_acked_at(n, k->index, k->proposed_ns);
    r.at[NODE_TRACE_COMMITTED] = n->commit_ns;
    r.at[NODE_TRACE_APPLIED] = applied_ns;
    r.at[NODE_TRACE_REPLIED] = uv_hrtime();
    if (n->turn != NULL)
        r.turn_us = turn_longest_since(n->turn, k->woke_ns);
    tracer_add(&n->trace, &r);
}

/* Calls back what the replica completed. A callback may propose, attach a
 * wait or start a read: none of that adds outputs, but the count is read
 * afresh all the same. */
void node_deliver(struct node *n)
{
    size_t count;
    for (size_t i = 0; replica_outs(n->rep, &count), i < count; i++) {
        const struct replica_out o = replica_outs(n->rep, &count)[i];
        struct node_cb *k = o.ctx;
        if (o.kind == REPLICA_WAIT_END) {
            k->wait_cb(k->ctx, o.status == REPLICA_OK ? o.ev : NULL, o.status);
        } else if (k->cb != NULL) {
            if (o.status == REPLICA_OK)
                disk_answered(n->disk);
            int status = done_status(&o);
            uint64_t applied = uv_hrtime();
            if (status == NODE_OK) {
                n->metrics.committed++;
                hist_observe(&n->metrics.commit_us,
                             (applied - k->proposed_ns) / 1000);
            } else {
                n->metrics.failed++;
            }
            k->cb(k->ctx, status, status == NODE_OK ? o.res : NULL);
            if (status == NODE_OK && k->traced)
                trace_write(n, k, applied);
        } else if (k->change_cb != NULL) {
            k->change_cb(k->ctx, o.status);
        }
        free(k);
    }
    replica_outs_clear(n->rep);
}

/* Everything waiting on this server as leader fails: the outcome, if any,
 * comes from the next leader (clients retry with their request ids). */
void node_lost_leadership(struct node *n, int status)
{
    replica_lose(n->rep, status);
    node_deliver(n);
    node_read_fail_all(n, status);
}

/* ---- apply ------------------------------------------------------------ */

static void log_events(struct node *n)
{
    size_t count;
    const struct fsm_event *ev = fsm_events(replica_fsm(n->rep), &count);
    for (size_t i = 0; i < count; i++)
        if (ev[i].type == FSM_EV_WITHDRAWN)
            log_info("lock '%.*s': the grant of token %" PRIu64
                     " to session %" PRIu64 " taken back: its client went "
                     "away before it learnt it",
                     (int)ev[i].name_len, ev[i].name, ev[i].token,
                     ev[i].session);
}

/* One line per applied expiry entry, on every server (docs/operations.md):
 * how many sessions ended and how many locks they lost, naming a few. */
static void log_expiry(struct node *n, const struct fsm_result *res)
{
    if (res == NULL || res->status != FSM_OK || res->expired == 0)
        return;
    const struct fsm *f = replica_fsm(n->rep);
    size_t count, lost = 0, off = 0, n_sc;
    char eg[EXPIRE_EXAMPLES * 128] = ""; /* each example fits in 128 */
    const struct fsm_event *ev = fsm_events(f, &count);
    for (size_t i = 0; i < count; i++) {
        if (ev[i].type != FSM_EV_LOST || lost++ >= EXPIRE_EXAMPLES)
            continue;
        int len = ev[i].name_len > 64 ? 64 : (int)ev[i].name_len;
        off += (size_t)snprintf(
            eg + off, sizeof eg - off, "%s session %" PRIu64 " '%.*s'%s",
            off == 0 ? "; e.g." : ",", ev[i].session, len, ev[i].name,
            len < (int)ev[i].name_len ? "..." : "");
    }
    /* Without a lock lost, the sessions that ended. */
    const struct fsm_session_change *sc = fsm_session_changes(f, &n_sc);
    size_t named = 0;
    for (size_t i = 0; lost == 0 && i < n_sc; i++) {
        if (sc[i].ttl != 0 || named++ >= EXPIRE_EXAMPLES)
            continue;
        off += (size_t)snprintf(eg + off, sizeof eg - off, "%s %" PRIu64,
                                named == 1 ? "; sessions" : ",", sc[i].id);
    }
    bool more =
        lost > EXPIRE_EXAMPLES || (lost == 0 && named > EXPIRE_EXAMPLES);
    log_info("expired %" PRIu32 " session%s, %zu lock%s lost%s%s", res->expired,
             res->expired == 1 ? "" : "s", lost, lost == 1 ? "" : "s", eg,
             more ? ", ..." : "");
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
    uint8_t role = raft_role(n->raft);
    uint64_t term = raft_term(n->raft);
    bool was_ready = replica_ready(n->rep, role, term);
    replica_apply(n->rep, e, role, term, uv_now(n->loop));
    if (e->type == RAFT_ENTRY_NORMAL) {
        n->applied_ms = uv_now(n->loop);
        log_events(n);
        log_expiry(n, replica_result(n->rep));
        size_t count;
        const struct fsm_change *ch = fsm_changes(replica_fsm(n->rep), &count);
        if (n->on_changes != NULL) {
            n->told_restored = replica_restored(n->rep);
            n->on_changes(n->changes_arg, n->told_restored, e->index, ch,
                          count);
        }
    } else if (e->type == RAFT_ENTRY_CONF) {
        apply_conf(n, e);
    }
    node_deliver(n);
    if (!was_ready && replica_ready(n->rep, role, term)) {
        struct fsm_stats st;
        fsm_stats(replica_fsm(n->rep), &st);
        n->settling = false;
        log_info("leader of term %" PRIu64 ", serving (%zu sessions, %" PRIu64
                 " waits)",
                 term, replica_leases(n->rep), st.waiters);
    }
}

/* ---- the loop's work -------------------------------------------------- */

static void on_role(struct node *n, const struct raft_update *u)
{
    /* A ready leader no longer the leader of its term fails what waits on
     * it, even one elected again in a later term. */
    replica_role(n->rep, u->role, u->persist.term, NODE_NOTLEADER);
    node_deliver(n);
    uint64_t leader = raft_leader(n->raft);
    if (leader != 0 && leader != n->last_leader)
        n->metrics.leader_changes++;
    if (leader != 0)
        n->last_leader = leader;
    if (u->role == n->last_role)
        return;
    uint8_t old = n->last_role;
    n->last_role = u->role;
    if (u->role == RAFT_CANDIDATE)
        n->metrics.elections++;
    log_info("%s in term %" PRIu64 " (was %s)", raft_role_name(u->role),
             u->persist.term, raft_role_name(old));
    if (old == RAFT_LEADER)
        node_lost_leadership(n, NODE_NOTLEADER);
}

/* Keeps when the oldest commit index heard and not yet applied was heard:
 * what commits in a turn applies in it, so a server is behind only while
 * such an index stays unapplied (node_metrics: behind_ms). */
static void note_behind(struct node *n)
{
    uint64_t applied = raft_applied_index(n->raft);
    uint64_t heard = raft_leader_commit(n->raft);
    if (n->behind_target != 0 && applied >= n->behind_target)
        n->behind_target = 0;
    if (n->behind_target == 0 && applied < heard) {
        n->behind_target = heard;
        n->behind_since = uv_now(n->loop);
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
            if (u.n_committed > 0)
                n->commit_ns = uv_hrtime();
            disk_persist(n->disk, &u);
            node_send_msgs(n, &u);
            on_role(n, &u);
            for (size_t i = 0; i < u.n_committed; i++)
                apply_entry(n, &u.committed[i]);
            node_read_update(n, &u);
        }
        node_unwait_flush(n); /* decided while the entries applied */
        disk_start(n->disk);  /* an inline sync makes a new update */
    } while (raft_has_update(n->raft));
    disk_snapshot(n->disk);
    note_behind(n);
    /* Only a leader that is not closed gathers (disk_start). */
    peers_cork(n->peers, disk_gathering(n->disk));
    n->flushing = false;
    uint64_t took = uv_hrtime() - t0;
    if (took >= SLOW_FLUSH_NS)
        log_info("slow turn of the loop: %" PRIu64 " ms", took / 1000000);
}

/* Tells the watches of a snapshot restored (at the start, or installed
 * from the leader) before an entry after it applies: their history
 * restarts there at once. */
static void tell_restored(struct node *n)
{
    uint64_t since = replica_restored(n->rep);
    if (n->on_changes != NULL && since != n->told_restored) {
        n->told_restored = since;
        n->on_changes(n->changes_arg, since, since, NULL, 0);
    }
}

void node_kick(struct node *n)
{
    flush(n);
}

void node_on_check(uv_check_t *h)
{
    struct node *n = h->data;
    tell_restored(n); /* each turn of the loop: an install may have come */
    if (node_is_leader(n) && !n->stopping)
        leader_expiries(n);
    flush(n);
}

void node_on_tick(uv_timer_t *h)
{
    struct node *n = h->data;
    uint64_t now = uv_now(n->loop);
    raft_tick(n->raft, now - n->last_tick);
    n->last_tick = now;
    if (node_is_leader(n) && !n->stopping)
        leader_timers(n);
    node_stop_progress(n);
    flush(n);
}

void node_set_turn(struct node *n, struct turn *t)
{
    n->turn = t;
}

void node_set_peer_tls(struct node *n, struct tls_ctx *accept,
                       struct tls_ctx *connect)
{
    peers_set_tls(n->peers, accept, connect);
}

void node_set_changes(struct node *n,
                      void (*fn)(void *arg, uint64_t since, uint64_t revision,
                                 const struct fsm_change *ch, size_t count),
                      void *arg)
{
    n->on_changes = fn;
    n->changes_arg = arg;
    tell_restored(n);
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
    struct fsm_cmd cmd;
    size_t total = 0;
    bool full = false;
    while (total < EXPIRE_PER_TURN && replica_next_expiry(n->rep, now, &cmd)) {
        if (node_propose(n, &cmd, NULL, NULL) != NODE_OK)
            return; /* reported again after the retry */
        total += cmd.n_ids;
        full = cmd.n_ids == EXPIRE_BATCH;
    }
    if (full && total >= EXPIRE_PER_TURN)
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
        if (replica_next_due(n->rep) > now)
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
    struct fsm_cmd cmd;
    if (replica_next_tick(n->rep, uv_now(n->loop), &cmd))
        propose_as(n, &cmd, NULL, REPLICA_TAG_TICK);
}

/* ---- proposals -------------------------------------------------------- */

/* Proposes cmd for (ctx, tag) of the replica. */
static int propose_as(struct node *n, struct fsm_cmd *cmd, void *ctx,
                      uint64_t tag)
{
    if (n->stopping)
        return NODE_SHUTDOWN;
    if (raft_role(n->raft) != RAFT_LEADER)
        return NODE_NOTLEADER;
    const uint8_t *data;
    size_t len;
    int rc = replica_encode(n->rep, cmd, uv_now(n->loop), &data, &len);
    if (rc != REPLICA_OK)
        return rc;
    uint64_t index, term;
    if (raft_propose(n->raft, data, (uint32_t)len, &index, &term) != 0)
        return NODE_NOTLEADER; /* a transfer is under way */
    replica_proposed(n->rep, index, term, ctx, tag);
    if (ctx != NULL && tag == 0)
        ((struct node_cb *)ctx)->index = index;
    disk_proposed(n->disk);
    return NODE_OK;
}

int node_propose_traced(struct node *n, struct fsm_cmd *cmd, node_apply_cb cb,
                        void *ctx, const struct node_trace_in *in)
{
    struct node_cb *k = cb != NULL ? node_new_cb(ctx) : NULL;
    if (k != NULL) {
        k->cb = cb;
        k->proposed_ns = uv_hrtime();
        if (in != NULL) {
            k->traced = true;
            k->what = cmd->type;
            k->woke_ns = in->woke_ns;
            k->recv_ns = in->recv_ns;
        }
    }
    int rc = propose_as(n, cmd, k, 0);
    if (rc != NODE_OK)
        free(k);
    else if (k != NULL)
        n->metrics.proposed++;
    return rc;
}

int node_propose(struct node *n, struct fsm_cmd *cmd, node_apply_cb cb,
                 void *ctx)
{
    return node_propose_traced(n, cmd, cb, ctx, NULL);
}

const struct tracer *node_traces(const struct node *n, bool follower)
{
    return follower ? &n->ftrace : &n->trace;
}

void node_traces_reset(struct node *n)
{
    tracer_reset(&n->trace);
    tracer_reset(&n->ftrace);
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
    struct node_cb *k = node_new_cb(ctx);
    k->change_cb = cb;
    replica_proposed(n->rep, raft_last_index(n->raft), raft_term(n->raft), k,
                     0);
    disk_proposed(n->disk);
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
    return replica_fsm_const(n->rep);
}

uint64_t node_now(const struct node *n)
{
    return node_cluster_now(n);
}

uint64_t node_view_now(const struct node *n)
{
    if (node_is_leader(n))
        return node_cluster_now(n);
    uint64_t t = fsm_now(replica_fsm_const(n->rep));
    return n->applied_ms != 0 ? t + (uv_now(n->loop) - n->applied_ms) : t;
}

size_t node_leases_nearest(const struct node *n, uint64_t *ids, size_t max)
{
    return replica_leases_nearest(n->rep, ids, max);
}

uint64_t node_lease_left(const struct node *n, uint64_t session)
{
    return replica_lease_left(n->rep, session, uv_now(n->loop));
}

bool node_is_leader(const struct node *n)
{
    return replica_ready(n->rep, raft_role(n->raft), raft_term(n->raft));
}

const char *node_leader_addr(const struct node *n)
{
    uint64_t leader = raft_leader(n->raft);
    if (leader == 0)
        return NULL;
    if (leader == n->cfg->id)
        return node_is_leader(n) ? n->cfg->advertise : NULL;
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
    struct disk_stats ds;
    disk_stats(n->disk, &ds);
    info->sync_avg_us = ds.sync_avg_ns / 1000;
    info->sync_inline = ds.sync_inline;
    info->syncs = ds.syncs;
    info->entries_synced = ds.entries_synced;
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
        m->heard_ms_ago = UINT64_MAX;
        bool leading = info->role == RAFT_LEADER;
        if (m->id == n->cfg->id || (!leading && m->id != info->leader))
            continue;
        uint64_t heard = n->started_ms;
        for (unsigned k = 0; k < n->n_addrs; k++)
            if (n->addrs[k].id == m->id && n->addrs[k].heard_ms != 0)
                heard = n->addrs[k].heard_ms;
        m->heard_ms_ago = uv_now(n->loop) - heard;
    }
}

const struct node_metrics *node_metrics(struct node *n)
{
    disk_stats(n->disk, &n->metrics.disk);
    n->metrics.leader_commit = raft_leader_commit(n->raft);
    note_behind(n);
    n->metrics.behind_ms =
        n->behind_target != 0 ? uv_now(n->loop) - n->behind_since : 0;
    return &n->metrics;
}
