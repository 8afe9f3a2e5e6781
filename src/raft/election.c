/* election.c - roles and votes: PreVote (§9.6), elections (§5.2), leader
 * stickiness and CheckQuorum (D§6.2), TimeoutNow (D§3.10). */
#include "raft/core.h"

static bool has_id(const uint64_t *ids, unsigned n, uint64_t id)
{
    for (unsigned i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

void election_become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    core_set_term(r, term);
    core_set_role(r, RAFT_FOLLOWER);
    r->leader = leader;
    r->transferee = 0;
    replication_drop_reads(r);
    core_reset_timer(r);
}

static void send_vote_requests(struct raft *r, bool pre, bool transfer)
{
    for (unsigned i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->role != RAFT_VOTER || s->id == r->c.id)
            continue;
        struct raft_msg *m =
            core_msg_new(r, pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, s->id);
        if (pre)
            m->term = r->term + 1; /* the term it would stand for, §9.6 */
        m->index = last_index(r);
        m->log_term = last_term(r);
        m->transfer = transfer;
    }
}

static void become_leader(struct raft *r)
{
    core_set_role(r, RAFT_LEADER);
    r->leader = r->c.id;
    r->transferee = 0;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    r->read_broadcast = false;
    for (unsigned i = 0; i < r->n_prs; i++) {
        free(r->prs[i].infl_last);
        free(r->prs[i].infl_bytes);
    }
    r->n_prs = 0;
    core_sync_progress(r);
    for (unsigned i = 0; i < r->n_prs; i++)
        r->prs[i].active = true;
    /* §8: commit an entry of the new term at once, which also commits all
     * earlier entries (§5.4.2) and lets reads be served (D§6.4). */
    core_append(r, r->term, RAFT_ENTRY_NOOP, NULL, 0);
    core_self_ack(r);
}

/* Whether this server may stand for election: below RAFT_MAX_TERM, and a
 * voter of its latest
 * configuration, or a voter of the previous one while the latest, which
 * removes it, is not known to be committed: until it is, the others may
 * still need this server (D§4.2.2). */
bool election_may_campaign(const struct raft *r)
{
    if (r->term >= RAFT_MAX_TERM || last_index(r) >= RAFT_MAX_INDEX)
        return false; /* no term to stand for, no room for its no-op */
    if (is_voter(r, r->c.id))
        return true;
    if (raft_conf_role(&r->conf, r->c.id) != 0 || !conf_pending(r))
        return false;
    struct raft_conf prev;
    core_conf_at(r, r->conf_index - 1, &prev);
    return raft_conf_role(&prev, r->c.id) == RAFT_VOTER;
}

void election_campaign(struct raft *r, bool pre, bool transfer)
{
    if (!election_may_campaign(r))
        return;
    r->n_granted = r->n_rejected = 0;
    r->term_durable = false;
    r->leader = 0;
    core_reset_timer(r);
    if (pre) {
        core_set_role(r, RAFT_PRECANDIDATE);
        send_vote_requests(r, true, false);
        election_tally(r, r->c.id, true);
        return;
    }
    core_set_term(r, r->term + 1);
    r->vote = r->c.id;
    r->hs_dirty = true;
    core_set_role(r, RAFT_CANDIDATE);
    send_vote_requests(r, false, transfer);
    /* Our own vote counts once it is durable, like anyone else's; and we
     * do not lead before it is, even if others elect us first: a crash
     * would bring us back in the previous term, free to win this term a
     * second time with a different log. */
    struct raft_msg self = {.type = RAFT_MSG_VOTE_RESP,
                            .from = r->c.id,
                            .to = r->c.id,
                            .term = r->term};
    update_reply_durable(r, &self);
}

void election_tally(struct raft *r, uint64_t from, bool granted)
{
    if (from == r->c.id && r->role == RAFT_CANDIDATE)
        r->term_durable = true;
    if (is_voter(r, from) && !has_id(r->granted, r->n_granted, from) &&
        !has_id(r->rejected, r->n_rejected, from)) {
        if (granted)
            r->granted[r->n_granted++] = from;
        else
            r->rejected[r->n_rejected++] = from;
    }
    unsigned quorum = n_voters(&r->conf) / 2 + 1;
    if (r->n_granted >= quorum &&
        (r->role == RAFT_PRECANDIDATE || r->term_durable)) {
        if (r->role == RAFT_PRECANDIDATE)
            election_campaign(r, false, false);
        else
            become_leader(r);
    } else if (r->n_rejected >= quorum) {
        election_become_follower(r, r->term, 0);
    }
}

void election_handle_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    bool can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
                    (pre && m->term > r->term);
    bool up_to_date =
        m->log_term > last_term(r) ||
        (m->log_term == last_term(r) && m->index >= last_index(r));
    struct raft_msg resp = {.type = pre ? RAFT_MSG_PREVOTE_RESP
                                        : RAFT_MSG_VOTE_RESP,
                            .from = r->c.id,
                            .to = m->from,
                            .term = r->term,
                            .reject = !(can_vote && up_to_date)};
    if (resp.reject) {
        *core_msg_new(r, resp.type, m->from) = resp;
        return;
    }
    if (pre) {
        resp.term = m->term;
        *core_msg_new(r, resp.type, m->from) = resp;
        return;
    }
    r->vote = m->from;
    r->hs_dirty = true;
    core_reset_timer(r);
    update_reply_durable(r, &resp);
}

static bool in_lease(const struct raft *r)
{
    return !r->c.no_check_quorum && r->leader != 0 &&
           r->election_elapsed < r->c.election_ms;
}

/* §5.1 term rules, with PreVote (§9.6) and leader stickiness. Returns
 * false when the message is to be dropped. */
bool election_check_term(struct raft *r, const struct raft_msg *m)
{
    bool vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
    if (m->term > r->term) {
        if (vote && !m->transfer && in_lease(r))
            return false;
        if (m->type == RAFT_MSG_PREVOTE ||
            (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject))
            return true;
        bool from_leader = m->type == RAFT_MSG_APPEND ||
                           m->type == RAFT_MSG_HEARTBEAT ||
                           m->type == RAFT_MSG_SNAPSHOT;
        uint64_t elapsed = r->election_elapsed;
        election_become_follower(r, m->term, from_leader ? m->from : 0);
        /* Only a leader's message (or a vote granted) makes a server wait
         * a whole timeout again (§5.2): a higher term in a vote request or
         * an answer does not. Otherwise a voter whose log is too far
         * behind to win, campaigning again and again (without PreVote, a
         * test-only setting), held back the election timer of the one
         * server that could win (simulator seed 816 of a client mix with
         * lease acquires on semaphores' names). */
        if (!from_leader)
            r->election_elapsed = elapsed;
        return true;
    }
    if (m->term < r->term) {
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
            m->type == RAFT_MSG_SNAPSHOT) {
            /* A stale leader: tell it the term so it steps down. */
            struct raft_msg *resp =
                core_msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
            resp->reject = true;
        } else if (m->type == RAFT_MSG_PREVOTE) {
            struct raft_msg *resp =
                core_msg_new(r, RAFT_MSG_PREVOTE_RESP, m->from);
            resp->reject = true;
        }
        return false;
    }
    return true;
}

void election_heard_from_leader(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_FOLLOWER)
        election_become_follower(r, r->term, m->from);
    r->leader = m->from;
    r->election_elapsed = 0;
}
