/* core.c - the Raft core's state helpers and message dispatch. */
#include "raft/core.h"

static uint64_t prng(struct raft *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void core_reset_timer(struct raft *r)
{
    r->election_elapsed = 0;
    r->timeout = r->c.election_ms + prng(r) % r->c.election_ms;
}

struct raft_msg *core_msg_new(struct raft *r, uint8_t type, uint64_t to)
{
    struct raft_msg *m = VEC_PUSH(r->msgs);
    *VEC_PUSH(r->msg_ent) = 0;
    memset(m, 0, offsetof(struct raft_msg, conf));
    m->conf.n = 0;
    m->type = type;
    m->from = r->c.id;
    m->to = to;
    m->term = r->term;
    return m;
}

void core_set_term(struct raft *r, uint64_t term)
{
    if (term != r->term) {
        r->term = term;
        r->vote = 0;
        r->hs_dirty = true;
    }
}

void core_set_role(struct raft *r, uint8_t role)
{
    if (r->role != role) {
        r->role = role;
        r->role_changed = true;
    }
}

/* Finds the configuration in force at index (>= snapshot index). */
void core_conf_at(const struct raft *r, uint64_t index, struct raft_conf *c)
{
    /* At or after the latest configuration's entry, while that entry is
     * still in the log, it is the one in force: no walk back over a log of
     * 100,000 entries (1-2 ms at each snapshot). */
    if (index >= r->conf_index && r->conf_index <= last_index(r)) {
        *c = r->conf;
        return;
    }
    for (uint64_t i = index; i > r->log.snap_index && i >= r->log.offset; i--) {
        const struct raft_entry *e = raftlog_get(&r->log, i);
        if (e != NULL && e->type == RAFT_ENTRY_CONF &&
            raft_conf_decode(c, e->data, e->len) == 0)
            return;
    }
    *c = r->snap_conf;
}

static void progress_reset(struct raft *r, struct progress *pr, uint64_t id)
{
    uint64_t *last = pr->infl_last, *bytes = pr->infl_bytes;
    memset(pr, 0, sizeof *pr);
    pr->id = id;
    pr->next = last_index(r) + 1;
    pr->state = PR_PROBE;
    pr->infl_last = last ? last : mem_xmalloc(r->c.max_inflight_msgs * 8);
    pr->infl_bytes = bytes ? bytes : mem_xmalloc(r->c.max_inflight_msgs * 8);
}

/* Makes the leader's progress set follow the configuration. */
void core_sync_progress(struct raft *r)
{
    struct progress old[RAFT_MAX_SERVERS];
    unsigned n_old = r->n_prs;
    memcpy(old, r->prs, sizeof(struct progress) * n_old);
    r->n_prs = 0;
    for (unsigned i = 0; i < r->conf.n; i++) {
        uint64_t id = r->conf.servers[i].id;
        struct progress *pr = &r->prs[r->n_prs++];
        unsigned k;
        for (k = 0; k < n_old && old[k].id != id; k++)
            ;
        if (k < n_old) {
            *pr = old[k];
            old[k].infl_last = old[k].infl_bytes = NULL;
        } else {
            memset(pr, 0, sizeof *pr);
            progress_reset(r, pr, id);
        }
    }
    for (unsigned k = 0; k < n_old; k++) {
        free(old[k].infl_last);
        free(old[k].infl_bytes);
    }
}

void core_set_conf(struct raft *r, const struct raft_conf *c, uint64_t index)
{
    r->conf = *c;
    r->conf_index = index;
    if (r->role == RAFT_LEADER)
        core_sync_progress(r);
}

/* After entries from `from` on were dropped: fall back to the last
 * configuration still in the log. */
void core_conf_after_truncate(struct raft *r, uint64_t from)
{
    if (r->conf_index < from)
        return;
    struct raft_conf c;
    core_conf_at(r, last_index(r), &c);
    uint64_t idx = r->log.snap_index;
    for (uint64_t i = last_index(r); i > r->log.snap_index; i--) {
        const struct raft_entry *e = raftlog_get(&r->log, i);
        if (e != NULL && e->type == RAFT_ENTRY_CONF) {
            idx = i;
            break;
        }
    }
    core_set_conf(r, &c, idx);
}

/* Appends an entry (taking data) and applies a configuration at once, as
 * D§4.1 requires: a server uses the latest configuration in its log. */
void core_append(struct raft *r, uint64_t term, uint8_t type, uint8_t *data,
                 uint32_t len)
{
    raftlog_push(&r->log, term, type, data, len);
    if (type == RAFT_ENTRY_CONF) {
        struct raft_conf c;
        if (raft_conf_decode(&c, data, len) == 0)
            core_set_conf(r, &c, last_index(r));
    }
}

void core_self_ack(struct raft *r)
{
    struct raft_msg self = {.type = RAFT_MSG_APPEND_RESP,
                            .from = r->c.id,
                            .to = r->c.id,
                            .term = r->term,
                            .index = last_index(r)};
    update_reply_durable(r, &self);
}

int core_step(struct raft *r, const struct raft_msg *m)
{
    if (!election_check_term(r, m))
        return 0;
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        if (r->role == RAFT_LEADER)
            return RAFT_ECORRUPT; /* two leaders in one term: a bug */
        election_heard_from_leader(r, m);
        if (m->type == RAFT_MSG_APPEND)
            return replication_handle_append(r, m);
        if (m->type == RAFT_MSG_HEARTBEAT)
            replication_handle_heartbeat(r, m);
        else
            snapshot_handle(r, m);
        return 0;
    case RAFT_MSG_TIMEOUT_NOW:
        if (r->role == RAFT_FOLLOWER && r->leader == m->from)
            election_campaign(r, false, true);
        return 0;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        election_handle_vote(r, m);
        return 0;
    case RAFT_MSG_PREVOTE_RESP:
        if (r->role == RAFT_PRECANDIDATE)
            election_tally(r, m->from, !m->reject);
        return 0;
    case RAFT_MSG_VOTE_RESP:
        if (r->role == RAFT_CANDIDATE)
            election_tally(r, m->from, !m->reject);
        return 0;
    default:
        break;
    }
    if (r->role != RAFT_LEADER)
        return 0;
    if (m->type == RAFT_MSG_APPEND_RESP)
        replication_handle_append_resp(r, m);
    else if (m->type == RAFT_MSG_HEARTBEAT_RESP)
        replication_handle_heartbeat_resp(r, m);
    else if (m->type == RAFT_MSG_SNAPSHOT_RESP)
        snapshot_handle_resp(r, m);
    return 0;
}
