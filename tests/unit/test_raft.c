/* test_raft.c - unit tests of the Raft core's rules, one core at a time,
 * driven by hand-made messages and explicit time. */
#include "harness.h"
#include "raft_test.h"
#include "raft/raft.h"

#define MAXOUT 256

/* What one core emitted, gathered across updates. */
struct out {
    struct raft_msg msgs[MAXOUT];
    unsigned n_msgs;
    uint64_t applied[MAXOUT];
    unsigned n_applied;
    struct raft_read reads[16];
    unsigned n_reads;
    uint64_t last_seq;
    unsigned n_persist_entries;
    bool chunk_last;
};

/* Takes every update; persists at once when auto_persist. */
static void drain(struct raft *r, struct out *o, bool auto_persist)
{
    for (int guard = 0; raft_has_update(r) && guard < 100; guard++) {
        struct raft_update u;
        raft_update(r, &u);
        for (size_t i = 0; i < u.n_msgs && o->n_msgs < MAXOUT; i++) {
            o->msgs[o->n_msgs] = u.msgs[i];
            o->msgs[o->n_msgs].entries = NULL; /* not kept */
            o->n_msgs++;
        }
        for (size_t i = 0; i < u.n_committed && o->n_applied < MAXOUT; i++)
            o->applied[o->n_applied++] = u.committed[i].index;
        for (size_t i = 0; i < u.n_reads && o->n_reads < 16; i++)
            o->reads[o->n_reads++] = u.reads[i];
        o->n_persist_entries += (unsigned)u.persist.n_entries;
        o->chunk_last |= u.persist.chunk && u.persist.chunk_last;
        if (u.persist.seq != 0) {
            o->last_seq = u.persist.seq;
            if (auto_persist)
                raft_persisted(r, u.persist.seq);
        }
    }
}

static void reset(struct out *o)
{
    memset(o, 0, sizeof *o);
}

/* The first message of type to `to`, or NULL. */
static const struct raft_msg *find(const struct out *o, uint8_t type,
                                   uint64_t to)
{
    for (unsigned i = 0; i < o->n_msgs; i++)
        if (o->msgs[i].type == type && (to == 0 || o->msgs[i].to == to))
            return &o->msgs[i];
    return NULL;
}

/* The configuration the tests use: short timers. */
static void test_config(struct raft_config *c, uint64_t id, bool prevote,
                        bool check_quorum)
{
    raft_config_default(c, id);
    c->election_ms = 100;
    c->heartbeat_ms = 10;
    c->no_pre_vote = !prevote;
    c->no_check_quorum = !check_quorum;
    c->chunk_bytes = 16;
}

/* A server of a new cluster of n with configuration c. */
static struct raft *node_with(const struct raft_config *c, unsigned n)
{
    struct raft *r = raft_new(c);
    CHECK(r != NULL);
    struct raft_conf conf;
    conf_of(&conf, n);
    CHECK_EQ(raft_bootstrap(r, &conf), 0);
    return r;
}

static struct raft *node_cq(uint64_t id, unsigned n, bool prevote,
                            bool check_quorum)
{
    struct raft_config c;
    test_config(&c, id, prevote, check_quorum);
    return node_with(&c, n);
}

static struct raft *node(uint64_t id, unsigned n, bool prevote)
{
    return node_cq(id, n, prevote, true);
}

static void ack(struct raft *r, uint64_t peer, uint64_t index);

/* Makes r (node 1, no PreVote) leader with node 2's vote. */
static void elect(struct raft *r, struct out *o)
{
    drain(r, o, true);
    raft_tick(r, 250);
    drain(r, o, true);
    CHECK_EQ(raft_role(r), RAFT_CANDIDATE);
    struct raft_msg v = msg(RAFT_MSG_VOTE_RESP, 2, 1, raft_term(r));
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r, o, true);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
}

/* Makes node 1 of a 3-node cluster leader in term 2 with both peers'
 * votes, and drains its output. */
static struct raft *leader3(struct out *o)
{
    struct raft *r = node(1, 3, false);
    elect(r, o);
    return r;
}

/* Leader of 3 with configuration c, node 2 up to date. */
static struct raft *leader3_with(const struct raft_config *c, struct out *o)
{
    struct raft *r = node_with(c, 3);
    elect(r, o);
    ack(r, 2, raft_last_index(r));
    drain(r, o, true);
    reset(o);
    return r;
}

/* Acknowledges everything up to the leader's last index from peer. */
static void ack(struct raft *r, uint64_t peer, uint64_t index)
{
    struct raft_msg a = msg(RAFT_MSG_APPEND_RESP, peer, 1, raft_term(r));
    a.index = index;
    CHECK_EQ(raft_step(r, &a), 0);
}

/* A lone voter elects itself on its first tick and commits what it
 * proposes only after the entry is persisted. */
TEST(raft, single_node_commits_after_persist)
{
    struct out o = {0};
    struct raft *r = node(1, 1, true);
    raft_tick(r, 1);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    CHECK_U64(raft_term(r), 2);
    uint64_t idx, term;
    CHECK_EQ(raft_propose(r, "hello", 5, &idx, &term), 0);
    reset(&o);
    drain(r, &o, false); /* handed out, not yet durable */
    CHECK(raft_commit_index(r) < idx);
    raft_persisted(r, o.last_seq);
    drain(r, &o, false);
    CHECK_U64(raft_commit_index(r), idx);
    CHECK_U64(o.applied[o.n_applied - 1], idx);
    raft_free(r);
}

/* A granted vote is not sent until the vote is durable (§5.1, Figure 2). */
TEST(raft, vote_held_until_durable)
{
    struct out o = {0};
    struct raft *r = node(2, 3, false);
    drain(r, &o, true);
    reset(&o);
    struct raft_msg v = msg(RAFT_MSG_VOTE, 1, 2, 5);
    v.index = 1;
    v.log_term = 1;
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r, &o, false);
    CHECK(find(&o, RAFT_MSG_VOTE_RESP, 1) == NULL);
    CHECK_U64(raft_vote(r), 1);
    raft_persisted(r, o.last_seq);
    drain(r, &o, false);
    const struct raft_msg *resp = find(&o, RAFT_MSG_VOTE_RESP, 1);
    CHECK(resp != NULL);
    CHECK(!resp->reject);
    CHECK_U64(resp->term, 5);
    raft_free(r);
}

/* A candidate whose log is behind is refused (§5.4.1), and a server votes
 * once per term. */
TEST(raft, vote_refused_for_stale_log_and_second_candidate)
{
    struct out o = {0};
    struct raft *r = node_cq(2, 3, false, false);
    drain(r, &o, true);
    struct raft_msg a = msg(RAFT_MSG_APPEND, 1, 2, 2);
    struct raft_entry e = {.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP};
    a.index = 1;
    a.log_term = 1;
    a.entries = &e;
    a.n_entries = 1;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r, &o, true);
    reset(&o);
    struct raft_msg v = msg(RAFT_MSG_VOTE, 3, 2, 3);
    v.index = 1;
    v.log_term = 1; /* behind: our last entry is (2, term 2) */
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r, &o, true);
    const struct raft_msg *resp = find(&o, RAFT_MSG_VOTE_RESP, 3);
    CHECK(resp != NULL && resp->reject);
    reset(&o);
    struct raft_msg v1 = msg(RAFT_MSG_VOTE, 1, 2, 3);
    v1.index = 2;
    v1.log_term = 2;
    CHECK_EQ(raft_step(r, &v1), 0);
    struct raft_msg v3 = msg(RAFT_MSG_VOTE, 3, 2, 3);
    v3.index = 2;
    v3.log_term = 2;
    CHECK_EQ(raft_step(r, &v3), 0);
    drain(r, &o, true);
    CHECK(find(&o, RAFT_MSG_VOTE_RESP, 1) != NULL);
    CHECK(!find(&o, RAFT_MSG_VOTE_RESP, 1)->reject);
    CHECK(find(&o, RAFT_MSG_VOTE_RESP, 3)->reject);
    raft_free(r);
}

/* A higher term from a candidate whose log is behind does not make a
 * server wait a whole timeout again: only a leader's message or a vote
 * granted does (§5.2). Before, each such candidacy reset the timer, and a
 * voter too far behind to win, campaigning again and again without
 * PreVote, kept the one server that could win from ever campaigning. */
TEST(raft, rejected_candidate_does_not_reset_the_timer)
{
    struct out o = {0};
    struct raft *r = node_cq(2, 3, false, false);
    drain(r, &o, true);
    struct raft_msg a = msg(RAFT_MSG_APPEND, 1, 2, 2);
    struct raft_entry e = {.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP};
    a.index = 1;
    a.log_term = 1;
    a.entries = &e;
    a.n_entries = 1;
    CHECK_EQ(raft_step(r, &a), 0); /* our log: up to (2, term 2) */
    drain(r, &o, true);
    raft_tick(r, 99); /* below any timeout (100 to 200 ms) */
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    struct raft_msg v = msg(RAFT_MSG_VOTE, 3, 2, 9);
    v.index = 1;
    v.log_term = 1; /* behind */
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r, &o, true);
    CHECK_U64(raft_term(r), 9);
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    raft_tick(r, 101); /* 200 ms since the leader was last heard */
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_CANDIDATE);
    raft_free(r);
}

/* A follower acknowledges appended entries only once they are durable. */
TEST(raft, append_ack_held_until_durable)
{
    struct out o = {0};
    struct raft *r = node(2, 3, false);
    drain(r, &o, true);
    reset(&o);
    struct raft_msg a = msg(RAFT_MSG_APPEND, 1, 2, 2);
    struct raft_entry e[2] = {{.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP},
                              {.term = 2,
                               .index = 3,
                               .type = RAFT_ENTRY_NORMAL,
                               .len = 1,
                               .data = (uint8_t *)"x"}};
    a.index = 1;
    a.log_term = 1;
    a.entries = e;
    a.n_entries = 2;
    a.commit = 3;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r, &o, false);
    CHECK_EQ(o.n_persist_entries, 2);
    CHECK(find(&o, RAFT_MSG_APPEND_RESP, 1) == NULL);
    raft_persisted(r, o.last_seq);
    drain(r, &o, false);
    const struct raft_msg *resp = find(&o, RAFT_MSG_APPEND_RESP, 1);
    CHECK(resp != NULL && !resp->reject);
    CHECK_U64(resp->index, 3);
    CHECK_U64(raft_commit_index(r), 3);
    raft_free(r);
}

/* An append whose previous entry does not match is refused with a hint,
 * and a conflicting suffix is replaced (§5.3). */
TEST(raft, append_mismatch_and_conflict)
{
    struct out o = {0};
    struct raft *r = node(2, 3, false);
    drain(r, &o, true);
    struct raft_entry e2 = {.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP};
    struct raft_msg a = msg(RAFT_MSG_APPEND, 1, 2, 2);
    a.index = 1;
    a.log_term = 1;
    a.entries = &e2;
    a.n_entries = 1;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r, &o, true);
    reset(&o);
    struct raft_msg b = msg(RAFT_MSG_APPEND, 3, 2, 3);
    b.index = 5;
    b.log_term = 3;
    CHECK_EQ(raft_step(r, &b), 0);
    drain(r, &o, true);
    const struct raft_msg *resp = find(&o, RAFT_MSG_APPEND_RESP, 3);
    CHECK(resp != NULL && resp->reject);
    CHECK_U64(resp->index, 5);
    CHECK(resp->hint <= 2);
    /* Entry 2 of term 2 conflicts with the new leader's entry 2 of term 3. */
    struct raft_entry e3 = {.term = 3, .index = 2, .type = RAFT_ENTRY_NOOP};
    struct raft_msg c = msg(RAFT_MSG_APPEND, 3, 2, 3);
    c.index = 1;
    c.log_term = 1;
    c.entries = &e3;
    c.n_entries = 1;
    CHECK_EQ(raft_step(r, &c), 0);
    drain(r, &o, true);
    CHECK_U64(raft_term_at(r, 2), 3);
    CHECK_U64(raft_last_index(r), 2);
    raft_free(r);
}

/* A leader does not commit an entry of an earlier term by counting
 * replicas; it commits it with an entry of its own term (§5.4.2). */
TEST(raft, no_commit_of_earlier_term_by_counting)
{
    struct out o = {0};
    struct raft *r = node(1, 3, false);
    drain(r, &o, true);
    CHECK_U64(raft_commit_index(r), 1);
    /* An entry of term 2 from an earlier leader sits at index 2. */
    struct raft_entry e2 = {.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP};
    struct raft_msg a = msg(RAFT_MSG_APPEND, 2, 1, 2);
    a.index = 1;
    a.log_term = 1;
    a.entries = &e2;
    a.n_entries = 1;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r, &o, true);
    raft_tick(r, 1000);
    drain(r, &o, true);
    struct raft_msg v = msg(RAFT_MSG_VOTE_RESP, 3, 1, raft_term(r));
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    CHECK_U64(raft_term(r), 3);
    CHECK_U64(raft_last_index(r), 3); /* its no-op */
    ack(r, 3, 2);                     /* a majority holds index 2 (term 2) */
    drain(r, &o, true);
    CHECK_U64(raft_commit_index(r), 1);
    ack(r, 3, 3); /* and now the no-op of term 3 */
    drain(r, &o, true);
    CHECK_U64(raft_commit_index(r), 3);
    raft_free(r);
}

/* PreVote: a server that cannot win does not raise its term (§9.6). */
TEST(raft, prevote_does_not_raise_term)
{
    struct out o = {0};
    struct raft *r = node(1, 3, true);
    drain(r, &o, true);
    uint64_t term = raft_term(r);
    for (int i = 0; i < 10; i++) {
        raft_tick(r, 250);
        drain(r, &o, true);
    }
    CHECK_U64(raft_term(r), term);
    CHECK_EQ(raft_role(r), RAFT_PRECANDIDATE);
    CHECK(find(&o, RAFT_MSG_PREVOTE, 2) != NULL);
    CHECK(find(&o, RAFT_MSG_VOTE, 0) == NULL);
    struct raft_msg g = msg(RAFT_MSG_PREVOTE_RESP, 2, 1, term + 1);
    CHECK_EQ(raft_step(r, &g), 0);
    CHECK_EQ(raft_role(r), RAFT_CANDIDATE);
    CHECK_U64(raft_term(r), term + 1);
    raft_free(r);
}

/* A follower in touch with a leader ignores vote requests (leader
 * stickiness) unless the election was ordered by a transfer. */
TEST(raft, lease_ignores_votes_but_not_transfers)
{
    struct out o = {0};
    struct raft *r = node(2, 3, true);
    drain(r, &o, true);
    struct raft_msg h = msg(RAFT_MSG_HEARTBEAT, 1, 2, 2);
    CHECK_EQ(raft_step(r, &h), 0);
    drain(r, &o, true);
    reset(&o);
    struct raft_msg v = msg(RAFT_MSG_VOTE, 3, 2, 3);
    v.index = 5;
    v.log_term = 3;
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r, &o, true);
    CHECK_U64(raft_term(r), 2);
    CHECK(find(&o, RAFT_MSG_VOTE_RESP, 3) == NULL);
    v.transfer = true;
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r, &o, true);
    CHECK_U64(raft_term(r), 3);
    CHECK(find(&o, RAFT_MSG_VOTE_RESP, 3) != NULL);
    CHECK(!find(&o, RAFT_MSG_VOTE_RESP, 3)->reject);
    raft_free(r);
}

/* CheckQuorum: a leader that hears from no majority for an election
 * timeout steps down. */
TEST(raft, check_quorum_steps_down)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    for (int i = 0; i < 25 && raft_role(r) == RAFT_LEADER; i++) {
        raft_tick(r, 10);
        drain(r, &o, true);
    }
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    raft_free(r);

    /* With one follower answering, it stays. */
    reset(&o);
    r = leader3(&o);
    for (int i = 0; i < 50; i++) {
        raft_tick(r, 10);
        drain(r, &o, true);
        struct raft_msg hr = msg(RAFT_MSG_HEARTBEAT_RESP, 2, 1, raft_term(r));
        CHECK_EQ(raft_step(r, &hr), 0);
    }
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    raft_free(r);
}

/* A proposal on a follower is refused with the leader's id. */
TEST(raft, propose_on_follower)
{
    struct out o = {0};
    struct raft *r = node(2, 3, true);
    drain(r, &o, true);
    struct raft_msg h = msg(RAFT_MSG_HEARTBEAT, 3, 2, 2);
    CHECK_EQ(raft_step(r, &h), 0);
    CHECK_EQ(raft_propose(r, "x", 1, NULL, NULL), RAFT_ENOTLEADER);
    CHECK_U64(raft_leader(r), 3);
    CHECK_EQ(raft_read_index(r, 7), RAFT_ENOTLEADER);
    raft_free(r);
}

/* The leader pipelines several appends to a follower without waiting
 * for answers, and batches proposals made between updates. */
TEST(raft, pipelining_and_batching)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    reset(&o);
    for (int batch = 0; batch < 4; batch++) {
        for (int i = 0; i < 10; i++)
            CHECK_EQ(raft_propose(r, "abc", 3, NULL, NULL), 0);
        drain(r, &o, true);
    }
    /* Four appends to node 2 in flight, ten entries each. */
    unsigned to2 = 0;
    for (unsigned i = 0; i < o.n_msgs; i++)
        if (o.msgs[i].type == RAFT_MSG_APPEND && o.msgs[i].to == 2) {
            CHECK_EQ(o.msgs[i].n_entries, 10);
            to2++;
        }
    CHECK_EQ(to2, 4);
    raft_free(r);
}

/* Flow control: no more than max_inflight_msgs appends are in flight to
 * one follower. */
TEST(raft, inflight_cap)
{
    struct out o = {0};
    struct raft_config c;
    test_config(&c, 1, false, true);
    c.max_inflight_msgs = 3;
    struct raft *r = leader3_with(&c, &o);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(raft_propose(r, "abc", 3, NULL, NULL), 0);
        drain(r, &o, true);
    }
    unsigned to2 = 0;
    for (unsigned i = 0; i < o.n_msgs; i++)
        to2 += o.msgs[i].type == RAFT_MSG_APPEND && o.msgs[i].to == 2;
    CHECK_EQ(to2, 3);
    raft_free(r);
}

/* ReadIndex: a read is released only after a majority answered a
 * heartbeat sent after it was asked (D§6.4). */
TEST(raft, read_index_needs_quorum)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    CHECK(raft_commit_index(r) == raft_last_index(r));
    reset(&o);
    CHECK_EQ(raft_read_index(r, 42), 0);
    drain(r, &o, true);
    CHECK_EQ(o.n_reads, 0);
    const struct raft_msg *hb = find(&o, RAFT_MSG_HEARTBEAT, 3);
    CHECK(hb != NULL && hb->ctx > 0);
    struct raft_msg stale = msg(RAFT_MSG_HEARTBEAT_RESP, 3, 1, raft_term(r));
    stale.ctx = hb->ctx - 1;
    raft_step(r, &stale);
    drain(r, &o, true);
    CHECK_EQ(o.n_reads, 0);
    struct raft_msg hr = msg(RAFT_MSG_HEARTBEAT_RESP, 3, 1, raft_term(r));
    hr.ctx = hb->ctx;
    raft_step(r, &hr);
    drain(r, &o, true);
    CHECK_EQ(o.n_reads, 1);
    CHECK_U64(o.reads[0].ctx, 42);
    CHECK_U64(o.reads[0].index, raft_commit_index(r));
    raft_free(r);
}

/* Leadership transfer: TimeoutNow goes to the target once it is up to
 * date, and proposals are refused meanwhile (D§3.10). */
TEST(raft, transfer_sends_timeout_now)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    reset(&o);
    CHECK_EQ(raft_transfer(r, 3), 0);
    CHECK_EQ(raft_propose(r, "x", 1, NULL, NULL), RAFT_EBUSY);
    drain(r, &o, true);
    CHECK(find(&o, RAFT_MSG_TIMEOUT_NOW, 3) == NULL);
    ack(r, 3, raft_last_index(r));
    drain(r, &o, true);
    CHECK(find(&o, RAFT_MSG_TIMEOUT_NOW, 3) != NULL);
    raft_free(r);

    /* The target campaigns at once, past the others' lease. */
    reset(&o);
    r = node(3, 3, true);
    drain(r, &o, true);
    struct raft_msg h = msg(RAFT_MSG_HEARTBEAT, 1, 3, 2);
    raft_step(r, &h);
    struct raft_msg t = msg(RAFT_MSG_TIMEOUT_NOW, 1, 3, 2);
    raft_step(r, &t);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_CANDIDATE);
    const struct raft_msg *v = find(&o, RAFT_MSG_VOTE, 2);
    CHECK(v != NULL && v->transfer);
    raft_free(r);
}

/* Membership: a learner is added, promoted once caught up, and only one
 * change is in progress at a time (D§4.1). */
TEST(raft, add_learner_then_promote)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    CHECK_EQ(raft_add(r, 4, "127.0.0.1:9003", true), RAFT_EBUSY);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    CHECK_EQ(raft_add(r, 4, "127.0.0.1:9003", true), 0);
    CHECK_EQ(raft_conf_role(raft_conf(r), 4), RAFT_LEARNER);
    CHECK_EQ(raft_remove(r, 2), RAFT_EBUSY);
    drain(r, &o, true);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    CHECK_U64(raft_commit_index(r), raft_last_index(r));
    uint64_t before = raft_last_index(r);
    struct raft_msg a = msg(RAFT_MSG_APPEND_RESP, 4, 1, raft_term(r));
    a.index = raft_commit_index(r);
    raft_step(r, &a);
    drain(r, &o, true);
    CHECK_U64(raft_last_index(r), before + 1);
    CHECK_EQ(raft_conf_role(raft_conf(r), 4), RAFT_VOTER);
    raft_free(r);
}

/* Removing the leader: it keeps leading until the change commits, then
 * steps down and hands over. */
TEST(raft, remove_leader)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    ack(r, 2, raft_last_index(r));
    ack(r, 3, raft_last_index(r));
    drain(r, &o, true);
    reset(&o);
    CHECK_EQ(raft_remove(r, 1), 0);
    CHECK_EQ(raft_conf_role(raft_conf(r), 1), 0);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_LEADER); /* 2 of the 2 new voters needed */
    ack(r, 3, raft_last_index(r));
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    CHECK(find(&o, RAFT_MSG_TIMEOUT_NOW, 0) != NULL);
    /* Not a member: it never campaigns. */
    uint64_t term = raft_term(r);
    for (int i = 0; i < 20; i++) {
        raft_tick(r, 100);
        drain(r, &o, true);
    }
    CHECK_U64(raft_term(r), term);
    raft_free(r);
}

/* A follower behind the leader's compacted log gets the snapshot in
 * chunks, one at a time. */
TEST(raft, snapshot_sent_in_chunks)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    for (int i = 0; i < 5; i++)
        raft_propose(r, "data", 4, NULL, NULL);
    drain(r, &o, true);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    uint64_t snap = raft_commit_index(r);
    CHECK_EQ(raft_compact(r, snap, 0), 0);
    reset(&o);
    /* Node 3 answers a heartbeat: it is still probed from index 2, which
     * is compacted away. */
    struct raft_msg hr = msg(RAFT_MSG_HEARTBEAT_RESP, 3, 1, raft_term(r));
    raft_step(r, &hr);
    drain(r, &o, true);
    const struct raft_msg *c0 = find(&o, RAFT_MSG_SNAPSHOT, 3);
    CHECK(c0 != NULL);
    CHECK_U64(c0->index, snap);
    CHECK_U64(c0->offset, 0);
    CHECK_EQ(c0->len, 16);
    reset(&o);
    struct raft_msg sr = msg(RAFT_MSG_SNAPSHOT_RESP, 3, 1, raft_term(r));
    sr.index = snap;
    sr.offset = 16;
    raft_step(r, &sr);
    drain(r, &o, true);
    const struct raft_msg *c1 = find(&o, RAFT_MSG_SNAPSHOT, 3);
    CHECK(c1 != NULL && c1->offset == 16);
    raft_step(r, &sr); /* a duplicate answer sends nothing more */
    reset(&o);
    drain(r, &o, true);
    CHECK(find(&o, RAFT_MSG_SNAPSHOT, 3) == NULL);
    sr.last = true;
    raft_step(r, &sr);
    CHECK_U64(raft_match_index(r, 3), snap);
    raft_free(r);
}

/* The follower side of a snapshot: chunks are persisted, the log is
 * replaced, and nothing is applied until the install is durable. */
TEST(raft, snapshot_install_on_follower)
{
    struct out o = {0};
    struct raft *r = node(2, 3, false);
    drain(r, &o, true);
    reset(&o);
    struct raft_conf conf;
    conf_of(&conf, 3);
    struct raft_msg s = msg(RAFT_MSG_SNAPSHOT, 1, 2, 4);
    s.index = 50;
    s.log_term = 4;
    s.data = (const uint8_t *)"0123456789abcdef";
    s.len = 16;
    s.conf = conf;
    CHECK_EQ(raft_step(r, &s), 0);
    drain(r, &o, true);
    const struct raft_msg *resp = find(&o, RAFT_MSG_SNAPSHOT_RESP, 1);
    CHECK(resp != NULL && resp->offset == 16 && !resp->last);
    reset(&o);
    s.offset = 16;
    s.len = 4;
    s.last = true;
    CHECK_EQ(raft_step(r, &s), 0);
    /* Entries after the snapshot arrive before the install is durable. */
    struct raft_entry e = {.term = 4, .index = 51, .type = RAFT_ENTRY_NOOP};
    struct raft_msg a = msg(RAFT_MSG_APPEND, 1, 2, 4);
    a.index = 50;
    a.log_term = 4;
    a.entries = &e;
    a.n_entries = 1;
    a.commit = 51;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r, &o, false);
    CHECK(o.chunk_last);
    CHECK_EQ(o.n_applied, 0);
    CHECK(find(&o, RAFT_MSG_SNAPSHOT_RESP, 1) == NULL);
    raft_persisted(r, o.last_seq);
    drain(r, &o, false);
    CHECK(find(&o, RAFT_MSG_SNAPSHOT_RESP, 1) != NULL);
    CHECK(find(&o, RAFT_MSG_SNAPSHOT_RESP, 1)->last);
    CHECK_EQ(o.n_applied, 1);
    CHECK_U64(o.applied[0], 51);
    CHECK_U64(raft_snapshot_index(r), 50);
    raft_free(r);
}

/* Malformed messages are refused and change nothing. */
TEST(raft, malformed_messages_rejected)
{
    struct out o = {0};
    struct raft *r = node(2, 3, false);
    drain(r, &o, true);
    uint64_t term = raft_term(r);
    struct raft_msg m = msg(RAFT_MSG_APPEND, 1, 2, 9);
    struct raft_entry e = {.term = 9, .index = 7, .type = RAFT_ENTRY_NOOP};
    m.index = 1;
    m.log_term = 1;
    m.entries = &e;
    m.n_entries = 1; /* index 7 does not follow 1 */
    CHECK(raft_step(r, &m) != 0);
    e.index = 2;
    e.type = 9;
    CHECK(raft_step(r, &m) != 0);
    e.type = RAFT_ENTRY_CONF;
    e.data = (uint8_t *)"junk";
    e.len = 4;
    CHECK(raft_step(r, &m) != 0);
    e.type = RAFT_ENTRY_NOOP;
    e.term = 10; /* entry newer than the message's term */
    e.data = NULL;
    e.len = 0;
    CHECK(raft_step(r, &m) != 0);
    struct raft_msg bad = msg(42, 1, 2, 9);
    CHECK(raft_step(r, &bad) != 0);
    bad = msg(RAFT_MSG_HEARTBEAT, 1, 7, 9); /* not for us */
    CHECK(raft_step(r, &bad) != 0);
    bad = msg(RAFT_MSG_HEARTBEAT, 1, 2, UINT64_MAX);
    CHECK(raft_step(r, &bad) != 0);
    CHECK_U64(raft_term(r), term);
    CHECK_U64(raft_last_index(r), 1);
    raft_free(r);
}

/* Restore: durable state comes back, and inconsistent state is refused. */
TEST(raft, restore)
{
    struct raft_config c;
    raft_config_default(&c, 1);
    struct raft *r = raft_new(&c);
    struct raft_snapshot_meta snap = {.index = 10, .term = 3};
    conf_of(&snap.conf, 3);
    struct raft_entry e[2] = {{.term = 3, .index = 11, .type = 2},
                              {.term = 4, .index = 12, .type = 2}};
    CHECK_EQ(raft_restore(r, 4, 2, &snap, e, 2), 0);
    CHECK_U64(raft_term(r), 4);
    CHECK_U64(raft_vote(r), 2);
    CHECK_U64(raft_last_index(r), 12);
    CHECK_U64(raft_commit_index(r), 10);
    CHECK_EQ(raft_conf(r)->n, 3);
    raft_free(r);
    r = raft_new(&c);
    e[1].index = 13; /* a gap */
    CHECK_EQ(raft_restore(r, 4, 2, &snap, e, 2), RAFT_ECORRUPT);
    raft_free(r);
    r = raft_new(&c);
    e[1].index = 12;
    CHECK_EQ(raft_restore(r, 3, 2, &snap, e, 2), RAFT_ECORRUPT); /* term */
    raft_free(r);
}

/* A server whose removal is not yet committed may still be elected
 * (D§4.2.2), asking first by PreVote even where PreVote is off (before, its
 * real votes took those of the candidates that could win); when its first
 * commit carries the removal it steps down, the read it had waiting is
 * dropped, and it falls quiet. */
TEST(raft, removed_server_elected_then_steps_down_quietly)
{
    struct out o = {0};
    struct raft *r = node(1, 3, false);
    drain(r, &o, true);
    struct raft_conf c23;
    conf_of(&c23, 3);
    c23.servers[0] = c23.servers[2];
    c23.n = 2; /* servers 3 and 2 */
    uint8_t buf[256];
    size_t len = raft_conf_encode(&c23, buf, sizeof buf);
    struct raft_entry e = {.term = 2,
                           .index = 2,
                           .type = RAFT_ENTRY_CONF,
                           .len = (uint32_t)len,
                           .data = buf};
    struct raft_msg a = msg(RAFT_MSG_APPEND, 2, 1, 2);
    a.index = 1;
    a.log_term = 1;
    a.entries = &e;
    a.n_entries = 1;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r, &o, true);
    CHECK_EQ(raft_conf_role(raft_conf(r), 1), 0);
    reset(&o);
    raft_tick(r, 1000);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_PRECANDIDATE);
    CHECK_U64(raft_term(r), 2);
    CHECK(find(&o, RAFT_MSG_PREVOTE, 2) != NULL);
    CHECK(find(&o, RAFT_MSG_VOTE, 0) == NULL);
    struct raft_msg pv = msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 3);
    raft_step(r, &pv);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_PRECANDIDATE); /* needs both 2 and 3 */
    pv.from = 3;
    raft_step(r, &pv);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_CANDIDATE);
    struct raft_msg v = msg(RAFT_MSG_VOTE_RESP, 2, 1, raft_term(r));
    raft_step(r, &v);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_CANDIDATE); /* needs both 2 and 3 */
    v.from = 3;
    raft_step(r, &v);
    drain(r, &o, true);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    CHECK_EQ(raft_read_index(r, 9), 0);
    drain(r, &o, true);
    ack(r, 2, raft_last_index(r));
    ack(r, 3, raft_last_index(r));
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    drain(r, &o, true);
    CHECK(!raft_has_update(r));
    raft_free(r);
}

/* Flow control by bytes: appends to one follower stop once
 * max_inflight_bytes are unacknowledged, and resume on acknowledgement. */
TEST(raft, inflight_bytes_cap)
{
    struct out o = {0};
    struct raft_config c;
    test_config(&c, 1, false, true);
    c.max_msg_bytes = 100;
    c.max_inflight_bytes = 250;
    struct raft *r = leader3_with(&c, &o);
    char payload[50] = {0};
    for (int i = 0; i < 20; i++)
        CHECK_EQ(raft_propose(r, payload, sizeof payload, NULL, NULL), 0);
    drain(r, &o, true);
    unsigned sent = 0;
    uint64_t last_sent = 0;
    for (unsigned i = 0; i < o.n_msgs; i++)
        if (o.msgs[i].type == RAFT_MSG_APPEND && o.msgs[i].to == 2) {
            CHECK(o.msgs[i].n_entries <= 2); /* 100 bytes a message */
            sent += o.msgs[i].n_entries;
            last_sent = o.msgs[i].index + o.msgs[i].n_entries;
        }
    CHECK(sent * sizeof payload <= 250 + sizeof payload);
    CHECK(sent < 20);
    reset(&o);
    ack(r, 2, last_sent);
    drain(r, &o, true);
    CHECK(find(&o, RAFT_MSG_APPEND, 2) != NULL);
    raft_free(r);
}

/* Election timeouts are drawn from [e, 2e) and differ between servers, so
 * that split votes do not repeat (§5.2). */
TEST(raft, election_timeouts_randomised)
{
    uint64_t seen[8];
    for (uint64_t id = 1; id <= 8; id++) {
        struct out o = {0};
        struct raft *r = node_cq(id, 9, false, true);
        drain(r, &o, true);
        uint64_t t = 0;
        while (raft_role(r) == RAFT_FOLLOWER && t < 1000) {
            raft_tick(r, 1);
            t++;
        }
        CHECK(t >= 100 && t < 200);
        seen[id - 1] = t;
        raft_free(r);
    }
    unsigned distinct = 0;
    for (int i = 0; i < 8; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= seen[j] == seen[i];
        distinct += !dup;
    }
    CHECK(distinct >= 5);
}

/* The leader says when it is sending a snapshot, so that the edge does not
 * replace it mid-transfer. */
TEST(raft, sending_snapshot_view)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    CHECK(!raft_sending_snapshot(r));
    CHECK_EQ(raft_compact(r, raft_commit_index(r), 0), 0);
    struct raft_msg hr = msg(RAFT_MSG_HEARTBEAT_RESP, 3, 1, raft_term(r));
    raft_step(r, &hr);
    drain(r, &o, true);
    CHECK(raft_sending_snapshot(r));
    struct raft_msg sr = msg(RAFT_MSG_SNAPSHOT_RESP, 3, 1, raft_term(r));
    sr.index = raft_snapshot_index(r);
    sr.last = true;
    raft_step(r, &sr);
    CHECK(!raft_sending_snapshot(r));
    raft_free(r);
}

/* raft_compact_some drops what raft_compact would, a few at a time: the
 * snapshot point moves at the first call, and the log shrinks to the same
 * place after the calls that returned 1. */
TEST(raft, compact_in_steps)
{
    struct out o = {0};
    struct raft *r = leader3(&o);
    for (int i = 0; i < 40; i++)
        raft_propose(r, "data", 4, NULL, NULL);
    drain(r, &o, true);
    ack(r, 2, raft_last_index(r));
    drain(r, &o, true);
    uint64_t snap = raft_commit_index(r);
    CHECK(snap > 30);
    int calls = 0, rv;
    while ((rv = raft_compact_some(r, snap, 5, 7)) == 1) {
        CHECK_U64(raft_snapshot_index(r), snap);
        calls++;
    }
    CHECK_EQ(rv, 0);
    CHECK(calls >= 3);
    struct raft_snapshot_meta meta;
    CHECK_EQ(raft_snapshot_meta(r, snap, &meta), 0);
    CHECK_U64(meta.conf.n, 3);
    /* The same place raft_compact drops to: the entry at snap - 5 is gone,
     * the one after it kept. */
    CHECK(raft_entry_at(r, snap - 5) == NULL);
    CHECK(raft_entry_at(r, snap - 4) != NULL);
    CHECK_EQ(raft_compact_some(r, snap, 5, 7), 0); /* nothing more */
    reset(&o);
    raft_free(r);
}
