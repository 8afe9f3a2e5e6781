/* replication.c - the log's way from leader to followers (§5.3), with
 * pipelining and flow control; commitment (§5.4.2), ReadIndex (D§6.4) and
 * learner promotion (D§4.2.1). */
#include "raft/core.h"

static bool infl_full(const struct raft *r, const struct progress *pr)
{
    return pr->infl_n == r->c.max_inflight_msgs ||
           pr->infl_total >= r->c.max_inflight_bytes;
}

static void infl_add(const struct raft *r, struct progress *pr, uint64_t last,
                     uint64_t bytes)
{
    unsigned k = (pr->infl_head + pr->infl_n) % r->c.max_inflight_msgs;
    pr->infl_last[k] = last;
    pr->infl_bytes[k] = bytes;
    pr->infl_n++;
    pr->infl_total += bytes;
}

static void infl_free_first(const struct raft *r, struct progress *pr)
{
    if (pr->infl_n == 0)
        return;
    pr->infl_total -= pr->infl_bytes[pr->infl_head];
    pr->infl_head = (pr->infl_head + 1) % r->c.max_inflight_msgs;
    pr->infl_n--;
}

static void infl_free_to(const struct raft *r, struct progress *pr,
                         uint64_t index)
{
    while (pr->infl_n > 0 && pr->infl_last[pr->infl_head] <= index)
        infl_free_first(r, pr);
}

void replication_to_probe(struct progress *pr)
{
    pr->state = PR_PROBE;
    pr->paused = false;
    pr->next = pr->match + 1;
    pr->infl_n = 0;
    pr->infl_total = 0;
}

static void send_append(struct raft *r, struct progress *pr)
{
    uint64_t prev = pr->next - 1;
    if (!raftlog_has_term(&r->log, prev)) {
        snapshot_start(r, pr);
        return;
    }
    struct raft_msg *m = core_msg_new(r, RAFT_MSG_APPEND, pr->id);
    m->index = prev;
    m->log_term = raftlog_term(&r->log, prev);
    m->commit = r->commit;
    r->msg_ent.v[r->msg_ent.n - 1] = r->arena.n;
    uint64_t bytes = 0, size = 0, last = last_index(r);
    uint32_t n = 0;
    for (uint64_t i = pr->next; i <= last; i++) {
        const struct raft_entry *e = raftlog_get(&r->log, i);
        uint64_t esize = (uint64_t)e->len + RAFT_ENTRY_OVERHEAD;
        if (n > 0 &&
            (size + esize > r->c.max_msg_bytes ||
             pr->infl_total + bytes + e->len > r->c.max_inflight_bytes))
            break;
        *VEC_PUSH(r->arena) = *e;
        bytes += e->len;
        size += esize;
        n++;
    }
    /* msg_new may have moved r->msgs; m is still the last element. */
    r->msgs.v[r->msgs.n - 1].n_entries = n;
    if (pr->state == PR_REPLICATE && n > 0) {
        pr->next += n;
        infl_add(r, pr, pr->next - 1, bytes);
    } else if (pr->state == PR_PROBE) {
        pr->paused = true;
    }
    pr->resend = false;
}

/* Sends what flow control allows to one follower. */
void replication_flush_peer(struct raft *r, struct progress *pr)
{
    uint64_t last = last_index(r);
    if (pr->id == r->c.id)
        return;
    if (pr->state == PR_PROBE) {
        if (!pr->paused && (pr->next <= last || pr->resend))
            send_append(r, pr);
    } else if (pr->state == PR_REPLICATE) {
        while (pr->state == PR_REPLICATE && pr->next <= last &&
               !infl_full(r, pr))
            send_append(r, pr);
        if (pr->resend && pr->state == PR_REPLICATE &&
            (pr->next > last || !infl_full(r, pr)))
            send_append(r, pr);
        pr->resend = false;
    }
}

bool replication_peer_wants_send(const struct raft *r,
                                 const struct progress *pr)
{
    uint64_t last = last_index(r);
    if (pr->id == r->c.id)
        return false;
    if (pr->state == PR_PROBE)
        return !pr->paused && (pr->next <= last || pr->resend);
    if (pr->state == PR_REPLICATE)
        return (pr->next <= last || pr->resend) && !infl_full(r, pr);
    return false;
}

void replication_broadcast_heartbeat(struct raft *r)
{
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->id == r->c.id)
            continue;
        struct raft_msg *m = core_msg_new(r, RAFT_MSG_HEARTBEAT, pr->id);
        m->commit = pr->match < r->commit ? pr->match : r->commit;
        m->ctx = r->read_round;
    }
    r->read_broadcast = false;
}

void replication_send_timeout_now(struct raft *r, uint64_t to)
{
    core_msg_new(r, RAFT_MSG_TIMEOUT_NOW, to);
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The value that a majority of voters have reached, given each one's. */
static uint64_t quorum_value(struct raft *r, bool reads)
{
    uint64_t v[RAFT_MAX_SERVERS];
    unsigned n = 0;
    for (unsigned i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        const struct progress *pr = find_pr(r, s->id);
        if (reads)
            v[n++] = s->id == r->c.id ? r->read_round : pr ? pr->read_ack : 0;
        else
            v[n++] = pr ? pr->match : 0;
    }
    if (n == 0)
        return 0;
    qsort(v, n, sizeof v[0], cmp_desc);
    return v[n / 2];
}

void replication_drop_reads(struct raft *r)
{
    for (size_t i = 0; i < r->reads.n; i++)
        *VEC_PUSH(r->dropped) = r->reads.v[i].ctx;
    r->reads.n = 0;
    r->read_broadcast = false;
}

static void release_reads(struct raft *r)
{
    uint64_t confirmed = quorum_value(r, true);
    size_t k = 0;
    for (size_t i = 0; i < r->reads.n; i++) {
        struct pending_read *p = &r->reads.v[i];
        if (p->round != 0 && p->round <= confirmed)
            *VEC_PUSH(r->ready_reads) =
                (struct raft_read){.ctx = p->ctx, .index = p->index};
        else
            r->reads.v[k++] = *p;
    }
    r->reads.n = k;
}

/* Gives reads waiting for the leader's first commit their read point. */
void replication_start_waiting_reads(struct raft *r)
{
    bool any = false;
    for (size_t i = 0; i < r->reads.n; i++)
        any |= r->reads.v[i].round == 0;
    if (!any)
        return;
    r->read_round++;
    for (size_t i = 0; i < r->reads.n; i++) {
        if (r->reads.v[i].round == 0) {
            r->reads.v[i].round = r->read_round;
            r->reads.v[i].index = r->commit;
        }
    }
    r->read_broadcast = true;
    release_reads(r);
}

void replication_propose_conf(struct raft *r, const struct raft_conf *c)
{
    size_t len = raft_conf_encode(c, NULL, 0);
    uint8_t *buf = mem_xmalloc(len);
    raft_conf_encode(c, buf, len);
    core_append(r, r->term, RAFT_ENTRY_CONF, buf, (uint32_t)len);
    core_self_ack(r);
}

/* D§4.2.1: a learner that has caught up with the commit index is made a
 * voter. */
static void maybe_promote(struct raft *r)
{
    if (r->role != RAFT_LEADER || conf_pending(r) || !committed_in_term(r) ||
        r->transferee != 0)
        return;
    for (unsigned i = 0; i < r->conf.n; i++) {
        struct raft_server *s = &r->conf.servers[i];
        const struct progress *pr = find_pr(r, s->id);
        if (s->role == RAFT_LEARNER && s->promote && pr != NULL &&
            pr->match >= r->commit) {
            struct raft_conf c = r->conf;
            c.servers[i].role = RAFT_VOTER;
            c.servers[i].promote = false;
            replication_propose_conf(r, &c);
            return;
        }
    }
}

/* The most up-to-date voter other than this server, or 0. */
uint64_t replication_best_voter(struct raft *r)
{
    uint64_t best = 0, best_match = 0;
    for (unsigned i = 0; i < r->n_prs; i++) {
        const struct progress *pr = &r->prs[i];
        if (pr->id != r->c.id && is_voter(r, pr->id) &&
            (best == 0 || pr->match > best_match)) {
            best = pr->id;
            best_match = pr->match;
        }
    }
    return best;
}

static void after_commit(struct raft *r)
{
    if (!committed_in_term(r))
        return;
    replication_start_waiting_reads(r);
    /* D§4.2.2: a leader removed from the configuration steps down once the
     * change commits; it hands over to the most up-to-date voter. */
    if (!conf_pending(r) && raft_conf_role(&r->conf, r->c.id) == 0) {
        uint64_t to = replication_best_voter(r);
        const struct progress *pr = to ? find_pr(r, to) : NULL;
        if (pr != NULL && pr->match == last_index(r))
            replication_send_timeout_now(r, to);
        election_become_follower(r, r->term, 0);
        return;
    }
    maybe_promote(r);
}

void replication_maybe_commit(struct raft *r)
{
    uint64_t q = quorum_value(r, false);
    /* §5.4.2: only entries of the current term commit by counting. */
    if (q > r->commit && raftlog_term(&r->log, q) == r->term) {
        r->commit = q;
        after_commit(r);
    }
}

/* etcd-style fast backtracking: the largest index <= index whose term is
 * <= term in this log (or index itself when unknown). */
static uint64_t find_conflict_by_term(const struct raft *r, uint64_t index,
                                      uint64_t term)
{
    if (index > last_index(r))
        index = last_index(r);
    while (index > 0 && raftlog_has_term(&r->log, index)) {
        if (raftlog_term(&r->log, index) <= term)
            return index;
        index--;
    }
    return index;
}

void replication_handle_append_resp(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = find_pr(r, m->from);
    if (pr == NULL)
        return;
    pr->active = true;
    if (m->reject) {
        if (pr->state == PR_SNAPSHOT)
            return;
        if (pr->state == PR_REPLICATE ? m->index <= pr->match
                                      : m->index != pr->next - 1)
            return; /* stale */
        uint64_t next = m->index;
        if (m->hint_term > 0) {
            uint64_t k = find_conflict_by_term(r, m->hint, m->hint_term);
            if (k + 1 < next)
                next = k + 1;
        } else if (m->hint + 1 < next) {
            next = m->hint + 1;
        }
        replication_to_probe(pr);
        pr->next = next > pr->match + 1 ? next : pr->match + 1;
        return;
    }
    if (m->index > pr->match)
        pr->match = m->index;
    if (pr->next <= pr->match)
        pr->next = pr->match + 1;
    if (m->from == r->c.id) {
        replication_maybe_commit(r);
        return;
    }
    if (pr->state == PR_PROBE) {
        pr->state = PR_REPLICATE;
        pr->paused = false;
        pr->next = pr->match + 1;
    } else if (pr->state == PR_SNAPSHOT && pr->match >= pr->snap_index) {
        replication_to_probe(pr);
    }
    infl_free_to(r, pr, m->index);
    replication_maybe_commit(r);
    if (r->role != RAFT_LEADER)
        return;
    if (m->from == r->transferee && pr->match == last_index(r))
        replication_send_timeout_now(r, m->from);
    maybe_promote(r);
}

void replication_handle_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = find_pr(r, m->from);
    if (pr == NULL)
        return;
    pr->active = true;
    if (m->ctx > pr->read_ack && m->ctx <= r->read_round)
        pr->read_ack = m->ctx;
    /* It lags: probe it, even with nothing new to send (a server added
     * by the last entry starts past it), or resend in case the last
     * appends were lost. */
    if (pr->match < last_index(r)) {
        if (pr->state == PR_PROBE) {
            pr->paused = false;
            pr->resend = true;
        } else if (pr->state == PR_REPLICATE) {
            if (infl_full(r, pr))
                infl_free_first(r, pr);
            pr->resend = true;
        }
    }
    if (r->reads.n > 0)
        release_reads(r);
}

void replication_commit_to(struct raft *r, uint64_t index)
{
    if (index > last_index(r))
        index = last_index(r);
    if (index > r->commit)
        r->commit = index;
}

static void reject_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg *resp = core_msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
    resp->reject = true;
    resp->index = m->index;
    uint64_t hint = m->index < last_index(r) ? m->index : last_index(r);
    hint = find_conflict_by_term(r, hint, m->log_term);
    resp->hint = hint;
    resp->hint_term = raftlog_term(&r->log, hint);
}

/* A leader's commit index as its message tells it: a heartbeat's is
 * clamped to the receiver's match, an append's is the leader's own. */
static void heard_commit(struct raft *r, const struct raft_msg *m)
{
    if (m->commit > r->leader_commit)
        r->leader_commit = m->commit;
}

int replication_handle_append(struct raft *r, const struct raft_msg *m)
{
    heard_commit(r, m);
    struct raft_msg ok = {.type = RAFT_MSG_APPEND_RESP,
                          .from = r->c.id,
                          .to = m->from,
                          .term = r->term};
    if (m->index < r->commit) {
        ok.index = r->commit;
        update_reply_durable(r, &ok);
        return 0;
    }
    if (!raftlog_has_term(&r->log, m->index) ||
        raftlog_term(&r->log, m->index) != m->log_term) {
        reject_append(r, m);
        return 0;
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index <= last_index(r)) {
            if (raftlog_term(&r->log, e->index) == e->term)
                continue;
            if (e->index <= r->commit)
                return RAFT_ECORRUPT; /* would overwrite a committed entry */
            raftlog_truncate(&r->log, e->index);
            if (r->unstable_from > e->index)
                r->unstable_from = e->index;
            core_conf_after_truncate(r, e->index);
        }
        core_append(r, e->term, e->type, mem_xmemdup(e->data, e->len), e->len);
    }
    uint64_t last_new = m->index + m->n_entries;
    replication_commit_to(r, m->commit < last_new ? m->commit : last_new);
    ok.index = last_new;
    update_reply_durable(r, &ok);
    return 0;
}

void replication_handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    heard_commit(r, m);
    replication_commit_to(r, m->commit);
    struct raft_msg *resp = core_msg_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
    resp->ctx = m->ctx;
}

void replication_tick(struct raft *r, uint64_t ms)
{
    r->heartbeat_elapsed += ms;
    if (r->heartbeat_elapsed >= r->c.heartbeat_ms) {
        r->heartbeat_elapsed = 0;
        replication_broadcast_heartbeat(r);
    }
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->state != PR_SNAPSHOT)
            continue;
        pr->snap_elapsed += ms;
        if (pr->snap_elapsed >= r->c.election_ms)
            snapshot_start(r, pr); /* lost, or the file changed: restart */
    }
    if (r->transferee != 0) {
        r->transfer_elapsed += ms;
        if (r->transfer_elapsed >= r->c.election_ms)
            r->transferee = 0;
    }
    r->election_elapsed += ms;
    if (r->election_elapsed < r->c.election_ms)
        return;
    r->election_elapsed = 0;
    /* CheckQuorum (D§6.2): step down without a majority in touch. */
    unsigned active = 0;
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (is_voter(r, pr->id) && (pr->active || pr->id == r->c.id))
            active++;
        pr->active = false;
    }
    if (!r->c.no_check_quorum && active < n_voters(&r->conf) / 2 + 1) {
        election_become_follower(r, r->term, 0);
        return;
    }
    maybe_promote(r);
}
