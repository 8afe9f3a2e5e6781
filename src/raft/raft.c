/* raft.c - the Raft core's interface: lifecycle, inputs and views.
 *
 * Nothing in the core does I/O or reads a clock. Rules cite the paper
 * (Ongaro & Ousterhout 2014, "§") or the dissertation (Ongaro 2014, "D§");
 * docs/design.md explains the choices. */
#include "raft/core.h"

void raft_config_default(struct raft_config *c, uint64_t id)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->election_ms = 1000;
    c->heartbeat_ms = 100;
    c->max_msg_bytes = 1u << 20;
    c->max_inflight_msgs = 256;
    c->max_inflight_bytes = 8u << 20;
    c->chunk_bytes = 1u << 20;
    c->seed = id;
}

struct raft *raft_new(const struct raft_config *c)
{
    if (c->id == 0 || c->election_ms == 0 || c->heartbeat_ms == 0 ||
        c->heartbeat_ms >= c->election_ms || c->max_msg_bytes == 0 ||
        c->max_inflight_msgs == 0 || c->max_inflight_bytes == 0 ||
        c->chunk_bytes == 0)
        return NULL;
    struct raft *r = mem_xcalloc(1, sizeof *r);
    r->c = *c;
    r->rng = c->seed ^ (c->id * 0x2545f4914f6cdd1dull);
    raftlog_init(&r->log);
    r->unstable_from = 1;
    r->role = RAFT_FOLLOWER;
    core_reset_timer(r);
    return r;
}

void raft_free(struct raft *r)
{
    if (r == NULL)
        return;
    raftlog_close(&r->log);
    for (unsigned i = 0; i < r->n_prs; i++) {
        free(r->prs[i].infl_last);
        free(r->prs[i].infl_bytes);
    }
    free(r->reads.v);
    free(r->held.v);
    free(r->chunk_buf);
    free(r->out_chunk_buf);
    free(r->msgs.v);
    free(r->msg_ent.v);
    free(r->arena.v);
    free(r->ready_reads.v);
    free(r->dropped.v);
    free(r->out_msgs.v);
    free(r->out_arena.v);
    free(r->out_entries.v);
    free(r->out_committed.v);
    free(r->out_reads.v);
    free(r->out_dropped.v);
    free(r);
}

int raft_restore(struct raft *r, uint64_t term, uint64_t vote,
                 const struct raft_snapshot_meta *snap,
                 const struct raft_entry *entries, size_t n)
{
    if (r->started || last_index(r) != 0 || r->term != 0)
        return RAFT_EINVAL;
    if (term > RAFT_MAX_TERM)
        return RAFT_ECORRUPT;
    if (snap != NULL &&
        (snap->index == 0 || snap->term == 0 || snap->term > RAFT_MAX_TERM ||
         snap->index > RAFT_MAX_INDEX || raft_conf_check(&snap->conf) != 0))
        return RAFT_ECORRUPT;
    uint64_t base = snap ? snap->index : 0, base_term = snap ? snap->term : 0;
    for (size_t i = 0; i < n; i++) {
        const struct raft_entry *e = &entries[i];
        uint64_t prev = i ? entries[i - 1].term : base_term;
        if (e->index != base + 1 + i || e->index > RAFT_MAX_INDEX ||
            e->term < prev || e->term > term || e->type < RAFT_ENTRY_NORMAL ||
            e->type > RAFT_ENTRY_CONF)
            return RAFT_ECORRUPT;
    }
    r->term = term;
    r->vote = vote;
    if (snap != NULL) {
        raftlog_reset(&r->log, snap->index, snap->term);
        r->snap_conf = snap->conf;
        r->conf = snap->conf;
        r->conf_index = snap->index;
        r->commit = r->applied = snap->index;
    }
    for (size_t i = 0; i < n; i++)
        core_append(r, entries[i].term, entries[i].type,
                    mem_xmemdup(entries[i].data, entries[i].len),
                    entries[i].len);
    r->unstable_from = last_index(r) + 1;
    r->started = true;
    return 0;
}

int raft_bootstrap(struct raft *r, const struct raft_conf *conf)
{
    if (last_index(r) != 0 || r->term != 0 || r->log.snap_index != 0)
        return RAFT_EINVAL;
    if (raft_conf_check(conf) != 0 || n_voters(conf) == 0)
        return RAFT_EINVAL;
    size_t len = raft_conf_encode(conf, NULL, 0);
    uint8_t *buf = mem_xmalloc(len);
    raft_conf_encode(conf, buf, len);
    core_set_term(r, 1);
    core_append(r, 1, RAFT_ENTRY_CONF, buf, (uint32_t)len);
    /* Every initial server holds this entry from the start: committed. */
    r->commit = 1;
    r->started = true;
    return 0;
}

static int check_entries(const struct raft_msg *m)
{
    if (m->n_entries > 0 && m->entries == NULL)
        return RAFT_EINVAL;
    uint64_t prev_term = m->log_term;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        struct raft_conf c;
        if (e->index != m->index + 1 + i || e->index > RAFT_MAX_INDEX ||
            e->term < prev_term || e->term > m->term ||
            e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF ||
            e->len > MAX_ENTRY_BYTES || (e->len > 0 && e->data == NULL))
            return RAFT_ECORRUPT;
        if (e->type == RAFT_ENTRY_CONF &&
            raft_conf_decode(&c, e->data, e->len) != 0)
            return RAFT_ECORRUPT;
        prev_term = e->term;
    }
    return 0;
}

/* Whether a term or index of m is past what the core ever reaches. */
static bool out_of_bounds(const struct raft_msg *m)
{
    return m->term > RAFT_MAX_TERM || m->log_term > RAFT_MAX_TERM ||
           m->hint_term > RAFT_MAX_TERM || m->index > RAFT_MAX_INDEX ||
           m->commit > RAFT_MAX_INDEX || m->hint > RAFT_MAX_INDEX;
}

/* Whether m may raise this server's term (raft.h, raft_step). A voter of
 * the configuration may. Anyone else only if the edge vouches that it is
 * of this cluster (same_cluster), and only with a leader's message (a
 * server that lags may list none of the servers that lead now, all added
 * since, and is brought up to date only so) or with an answer of a member
 * (a learner that took itself for a voter and campaigned answers a leader
 * with its higher term: the leader must step down for it to hear a leader
 * again). A vote of a server that is not a voter never raises a term, and
 * nothing from outside the cluster does, so that an outsider cannot push
 * a term up to where no one campaigns. */
static bool may_raise_term(const struct raft *r, const struct raft_msg *m)
{
    if (m->term <= r->term || is_voter(r, m->from))
        return true;
    if (!m->same_cluster)
        return false;
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        return true;
    case RAFT_MSG_APPEND_RESP:
    case RAFT_MSG_HEARTBEAT_RESP:
    case RAFT_MSG_SNAPSHOT_RESP:
        return raft_conf_role(&r->conf, m->from) != 0;
    default:
        return false;
    }
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    if (m->to != r->c.id || m->from == 0 || m->from == r->c.id || m->type < 1 ||
        m->type > RAFT_MSG_TYPE_MAX || m->term == 0)
        return RAFT_EINVAL;
    if (out_of_bounds(m))
        return RAFT_ECORRUPT;
    if (!may_raise_term(r, m))
        return RAFT_EINVAL;
    if (m->type == RAFT_MSG_APPEND) {
        int rv = check_entries(m);
        if (rv != 0)
            return rv;
    }
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (m->index == 0 || m->log_term == 0 || m->log_term > m->term ||
         (m->len > 0 && m->data == NULL) ||
         (m->last && raft_conf_check(&m->conf) != 0)))
        return RAFT_ECORRUPT;
    return core_step(r, m);
}

void raft_tick(struct raft *r, uint64_t ms)
{
    if (r->role == RAFT_LEADER) {
        replication_tick(r, ms);
        return;
    }
    r->election_elapsed += ms;
    /* A lone voter need not wait for anyone. A server that its latest
     * configuration removes (it may campaign until that is committed,
     * D§4.2.2) always asks first, PreVote or not: it wins only with
     * servers that do not know of its removal, and its real votes would
     * take theirs from the candidates that can win (simulator seeds
     * 267089 and 277966, without PreVote, kept a cluster without a leader
     * for seconds). */
    bool voter = is_voter(r, r->c.id);
    bool alone = voter && n_voters(&r->conf) == 1;
    if (r->election_elapsed >= r->timeout ||
        (alone && r->role == RAFT_FOLLOWER && r->started))
        election_campaign(r, (!r->c.no_pre_vote || !voter) && !alone, false);
}

int raft_propose(struct raft *r, const void *data, uint32_t len,
                 uint64_t *index, uint64_t *term)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    if (r->transferee != 0)
        return RAFT_EBUSY;
    if (len > MAX_ENTRY_BYTES || (len > 0 && data == NULL) ||
        last_index(r) >= RAFT_MAX_INDEX)
        return RAFT_EINVAL;
    core_append(r, r->term, RAFT_ENTRY_NORMAL,
                len ? mem_xmemdup(data, len) : NULL, len);
    core_self_ack(r);
    if (index != NULL)
        *index = last_index(r);
    if (term != NULL)
        *term = r->term;
    return 0;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    struct pending_read *p = VEC_PUSH(r->reads);
    p->ctx = ctx;
    p->round = 0;
    p->index = 0;
    if (committed_in_term(r))
        replication_start_waiting_reads(r);
    return 0;
}

static int check_change(const struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    /* One change at a time, and only once this leader has committed an
     * entry of its term (the fix to D§4.1's single-server changes). */
    if (conf_pending(r) || !committed_in_term(r) || r->transferee != 0)
        return RAFT_EBUSY;
    if (last_index(r) >= RAFT_MAX_INDEX)
        return RAFT_EINVAL;
    return 0;
}

int raft_add(struct raft *r, uint64_t id, const char *addr, bool promote)
{
    int rv = check_change(r);
    if (rv != 0)
        return rv;
    if (id == 0 || raft_conf_role(&r->conf, id) != 0 ||
        r->conf.n == RAFT_MAX_SERVERS || addr == NULL ||
        strlen(addr) >= RAFT_ADDR_MAX)
        return RAFT_EINVAL;
    struct raft_conf c = r->conf;
    struct raft_server *s = &c.servers[c.n++];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->role = RAFT_LEARNER;
    s->promote = promote;
    strcpy(s->addr, addr);
    replication_propose_conf(r, &c);
    return 0;
}

int raft_remove(struct raft *r, uint64_t id)
{
    int rv = check_change(r);
    if (rv != 0)
        return rv;
    uint8_t role = raft_conf_role(&r->conf, id);
    if (role == 0 || (role == RAFT_VOTER && n_voters(&r->conf) == 1))
        return RAFT_EINVAL;
    struct raft_conf c = {0};
    for (unsigned i = 0; i < r->conf.n; i++)
        if (r->conf.servers[i].id != id)
            c.servers[c.n++] = r->conf.servers[i];
    replication_propose_conf(r, &c);
    return 0;
}

int raft_transfer(struct raft *r, uint64_t id)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    if (r->transferee != 0)
        return RAFT_EBUSY;
    if (id == 0)
        id = replication_best_voter(r);
    if (id == 0 || id == r->c.id || !is_voter(r, id))
        return RAFT_EINVAL;
    struct progress *pr = find_pr(r, id);
    if (pr == NULL)
        return RAFT_EINVAL;
    r->transferee = id;
    r->transfer_elapsed = 0;
    if (pr->match == last_index(r))
        replication_send_timeout_now(r, id);
    return 0;
}

int raft_snapshot_meta(const struct raft *r, uint64_t index,
                       struct raft_snapshot_meta *meta)
{
    if (index > r->applied || index < r->log.snap_index || index == 0 ||
        !raftlog_has_term(&r->log, index))
        return RAFT_EINVAL;
    meta->index = index;
    meta->term = raftlog_term(&r->log, index);
    core_conf_at(r, index, &meta->conf);
    return 0;
}

int raft_compact(struct raft *r, uint64_t index, uint64_t trailing)
{
    int rv = raft_compact_some(r, index, trailing, UINT64_MAX);
    return rv > 0 ? 0 : rv;
}

int raft_compact_some(struct raft *r, uint64_t index, uint64_t trailing,
                      uint64_t max)
{
    if (index != r->log.snap_index) {
        struct raft_snapshot_meta meta;
        int rv = raft_snapshot_meta(r, index, &meta);
        if (rv != 0)
            return rv;
        r->snap_conf = meta.conf;
        raftlog_compact(&r->log, index, UINT64_MAX); /* the point alone */
    }
    /* Entries not yet handed out to persist stay: the store gets them. */
    if (trailing < index && index - trailing >= r->unstable_from)
        trailing = index - r->unstable_from + 1;
    if (index <= trailing)
        return 0;
    return raftlog_drop(&r->log, index - trailing, max) ? 1 : 0;
}

uint64_t raft_id(const struct raft *r)
{
    return r->c.id;
}

uint8_t raft_role(const struct raft *r)
{
    return r->role;
}

uint64_t raft_leader(const struct raft *r)
{
    return r->leader;
}

uint64_t raft_term(const struct raft *r)
{
    return r->term;
}

uint64_t raft_vote(const struct raft *r)
{
    return r->vote;
}

uint64_t raft_commit_index(const struct raft *r)
{
    return r->commit;
}

uint64_t raft_leader_commit(const struct raft *r)
{
    if (r->role == RAFT_LEADER || r->leader_commit < r->commit)
        return r->commit;
    return r->leader_commit;
}

uint64_t raft_applied_index(const struct raft *r)
{
    return r->applied;
}

uint64_t raft_last_index(const struct raft *r)
{
    return last_index(r);
}

uint64_t raft_first_index(const struct raft *r)
{
    return r->log.offset;
}

uint64_t raft_snapshot_index(const struct raft *r)
{
    return r->log.snap_index;
}

uint64_t raft_term_at(const struct raft *r, uint64_t index)
{
    return raftlog_term(&r->log, index);
}

const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index)
{
    return raftlog_get(&r->log, index);
}

const struct raft_conf *raft_conf(const struct raft *r)
{
    return &r->conf;
}

bool raft_sending_snapshot(const struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return false;
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].state == PR_SNAPSHOT)
            return true;
    return false;
}

uint64_t raft_match_index(const struct raft *r, uint64_t id)
{
    if (r->role != RAFT_LEADER)
        return 0;
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return r->prs[i].match;
    return 0;
}

const char *raft_role_name(uint8_t role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRECANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    default:
        return "unknown";
    }
}
