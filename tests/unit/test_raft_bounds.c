/* test_raft_bounds.c - unit tests of what the Raft core refuses so that no
 * message can poison its term: terms and indexes past RAFT_MAX_TERM and
 * RAFT_MAX_INDEX, and a higher term from a server outside the configuration
 * (issue 14, item 5). */
#include "harness.h"
#include "raft_test.h"
#include "raft/raft.h"

/* Takes every update and persists it at once. */
static void drain(struct raft *r)
{
    for (int guard = 0; raft_has_update(r) && guard < 100; guard++) {
        struct raft_update u;
        raft_update(r, &u);
        if (u.persist.seq != 0)
            raft_persisted(r, u.persist.seq);
    }
}

static struct raft *new_core(uint64_t id)
{
    struct raft_config c;
    raft_config_default(&c, id);
    c.election_ms = 100;
    c.heartbeat_ms = 10;
    c.no_pre_vote = true;
    c.no_check_quorum = true;
    struct raft *r = raft_new(&c);
    CHECK(r != NULL);
    return r;
}

/* Server id of a cluster of n voters 1..n, bootstrapped. */
static struct raft *member(uint64_t id, unsigned n)
{
    struct raft *r = new_core(id);
    struct raft_conf conf;
    conf_of(&conf, n);
    CHECK_EQ(raft_bootstrap(r, &conf), 0);
    drain(r);
    return r;
}

static const uint8_t every_type[] = {
    RAFT_MSG_APPEND,        RAFT_MSG_APPEND_RESP,    RAFT_MSG_VOTE,
    RAFT_MSG_VOTE_RESP,     RAFT_MSG_PREVOTE,        RAFT_MSG_PREVOTE_RESP,
    RAFT_MSG_HEARTBEAT,     RAFT_MSG_HEARTBEAT_RESP, RAFT_MSG_SNAPSHOT,
    RAFT_MSG_SNAPSHOT_RESP, RAFT_MSG_TIMEOUT_NOW};

/* The 40-byte frame of the issue: term 2^64-3, here from a member, and
 * every term past RAFT_MAX_TERM, is malformed; the term stays. */
TEST(raft_bounds, term_past_the_maximum_is_malformed)
{
    struct raft *r = member(2, 3);
    uint64_t terms[] = {UINT64_MAX, UINT64_MAX - 2, RAFT_MAX_TERM + 1};
    for (size_t i = 0; i < sizeof every_type; i++)
        for (size_t k = 0; k < 3; k++) {
            struct raft_msg m = msg(every_type[i], 1, 2, terms[k]);
            m.index = m.log_term = m.commit = 1;
            CHECK_EQ(raft_step(r, &m), RAFT_ECORRUPT);
            drain(r);
        }
    CHECK_U64(raft_term(r), 1);
    /* RAFT_MAX_TERM itself is a term like any other. */
    struct raft_msg m = msg(RAFT_MSG_HEARTBEAT, 1, 2, RAFT_MAX_TERM);
    CHECK_EQ(raft_step(r, &m), 0);
    drain(r);
    CHECK_U64(raft_term(r), RAFT_MAX_TERM);
    CHECK_U64(raft_leader(r), 1);
    raft_free(r);
}

/* Indexes past RAFT_MAX_INDEX, and terms of entries past RAFT_MAX_TERM,
 * are malformed too. */
TEST(raft_bounds, index_past_the_maximum_is_malformed)
{
    struct raft *r = member(2, 3);
    struct raft_msg m = msg(RAFT_MSG_APPEND, 1, 2, 2);
    m.index = RAFT_MAX_INDEX + 1;
    m.log_term = 1;
    CHECK_EQ(raft_step(r, &m), RAFT_ECORRUPT);
    m.index = 1;
    m.commit = UINT64_MAX;
    CHECK_EQ(raft_step(r, &m), RAFT_ECORRUPT);
    m.commit = 0;
    m.log_term = RAFT_MAX_TERM + 1;
    CHECK_EQ(raft_step(r, &m), RAFT_ECORRUPT);
    struct raft_msg resp = msg(RAFT_MSG_APPEND_RESP, 1, 2, 1);
    resp.reject = true;
    resp.hint = UINT64_MAX;
    CHECK_EQ(raft_step(r, &resp), RAFT_ECORRUPT);
    struct raft_msg snap = msg(RAFT_MSG_SNAPSHOT, 1, 2, 2);
    snap.index = UINT64_MAX - 1;
    snap.log_term = 2;
    CHECK_EQ(raft_step(r, &snap), RAFT_ECORRUPT);
    CHECK_U64(raft_term(r), 1);
    raft_free(r);
}

/* A voter ignores a higher term from a server that is not in its
 * configuration, of every type; a member's higher term it takes. */
TEST(raft_bounds, outsider_cannot_raise_the_term)
{
    struct raft *r = member(2, 3);
    for (size_t i = 0; i < sizeof every_type; i++) {
        struct raft_msg m = msg(every_type[i], 99, 2, 1000);
        m.index = m.log_term = 1;
        CHECK_EQ(raft_step(r, &m), RAFT_EINVAL);
        drain(r);
        CHECK_U64(raft_term(r), 1);
        CHECK_U64(raft_leader(r), 0);
    }
    struct raft_msg m = msg(RAFT_MSG_HEARTBEAT, 3, 2, 1000);
    CHECK_EQ(raft_step(r, &m), 0);
    drain(r);
    CHECK_U64(raft_term(r), 1000);
    CHECK_U64(raft_leader(r), 3);
    raft_free(r);
}

/* Once it knows the term (from a member), a voter takes the messages of a
 * leader that its lagging log does not list yet: that is how it catches up
 * with a leader added while it was away. */
TEST(raft_bounds, lagging_voter_follows_a_leader_it_does_not_list)
{
    struct raft *r = member(2, 3);
    struct raft_msg m = msg(RAFT_MSG_HEARTBEAT, 4, 2, 5);
    CHECK_EQ(raft_step(r, &m), RAFT_EINVAL);
    drain(r);
    CHECK_U64(raft_term(r), 1);
    /* A member answers a vote request with its term, 5. */
    struct raft_msg v = msg(RAFT_MSG_VOTE_RESP, 3, 2, 5);
    v.reject = true;
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r);
    CHECK_U64(raft_term(r), 5);
    struct raft_msg a = msg(RAFT_MSG_APPEND, 4, 2, 5);
    a.index = 1;
    a.log_term = 1;
    struct raft_entry e = {.term = 5, .index = 2, .type = RAFT_ENTRY_NOOP};
    a.entries = &e;
    a.n_entries = 1;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r);
    CHECK_U64(raft_leader(r), 4);
    CHECK_U64(raft_last_index(r), 2);
    raft_free(r);
}

/* A server that is joining (no configuration yet) cannot tell members from
 * others and takes the leader's messages that its edge vouches for, as it
 * must to be brought in (dlockd vouches for anyone while it does not know
 * its cluster's id); the peer hello's cluster id is what keeps outsiders
 * from it. */
TEST(raft_bounds, joining_server_takes_the_leaders_messages)
{
    struct raft *r = new_core(4);
    CHECK_EQ(raft_restore(r, 0, 0, NULL, NULL, 0), 0);
    struct raft_msg m = msg(RAFT_MSG_HEARTBEAT, 1, 4, 3);
    CHECK_EQ(raft_step(r, &m), RAFT_EINVAL); /* not vouched for */
    CHECK_U64(raft_term(r), 0);
    m.same_cluster = true;
    CHECK_EQ(raft_step(r, &m), 0);
    drain(r);
    CHECK_U64(raft_term(r), 3);
    CHECK_U64(raft_leader(r), 1);
    raft_free(r);
}

/* A server at RAFT_MAX_TERM no longer campaigns: its term cannot grow. */
TEST(raft_bounds, no_campaign_at_the_maximum_term)
{
    struct raft *r = new_core(1);
    struct raft_snapshot_meta snap = {.index = 1, .term = 1};
    conf_of(&snap.conf, 3);
    CHECK_EQ(raft_restore(r, RAFT_MAX_TERM, 0, &snap, NULL, 0), 0);
    raft_tick(r, 1000);
    drain(r);
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    CHECK_U64(raft_term(r), RAFT_MAX_TERM);
    raft_free(r);
}

/* A stored term past RAFT_MAX_TERM (written by an earlier version that took
 * one from a bogus message) does not restore: the server says so at start
 * (docs/operations.md). */
TEST(raft_bounds, restore_refuses_a_term_past_the_maximum)
{
    struct raft *r = new_core(1);
    struct raft_snapshot_meta snap = {.index = 1, .term = 1};
    conf_of(&snap.conf, 3);
    CHECK_EQ(raft_restore(r, UINT64_MAX - 2, 0, &snap, NULL, 0), RAFT_ECORRUPT);
    raft_free(r);
    r = new_core(1);
    snap.index = RAFT_MAX_INDEX + 1;
    CHECK_EQ(raft_restore(r, 2, 0, &snap, NULL, 0), RAFT_ECORRUPT);
    raft_free(r);
}

/* Server 1, the leader of voters 1 to 3 and learner 4. */
static struct raft *leader_with_a_learner(void)
{
    struct raft *r = new_core(1);
    struct raft_conf conf;
    conf_of(&conf, 4);
    conf.servers[3].role = RAFT_LEARNER;
    CHECK_EQ(raft_bootstrap(r, &conf), 0);
    drain(r);
    raft_tick(r, 250);
    drain(r);
    struct raft_msg v = msg(RAFT_MSG_VOTE_RESP, 2, 1, raft_term(r));
    CHECK_EQ(raft_step(r, &v), 0);
    drain(r);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    return r;
}

/* A leader does not take a higher term from the answer of a learner its
 * edge does not vouch for: a learner that took a bogus term cannot pass it
 * on to the voters. Before, the leader stepped down to the learner's
 * term. */
TEST(raft_bounds, leader_ignores_a_learners_higher_term)
{
    struct raft *r = leader_with_a_learner();
    uint64_t t = raft_term(r);
    struct raft_msg a = msg(RAFT_MSG_APPEND_RESP, 4, 1, RAFT_MAX_TERM);
    a.reject = true;
    CHECK_EQ(raft_step(r, &a), RAFT_EINVAL);
    drain(r);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    CHECK_U64(raft_term(r), t);
    /* A voter's higher term it takes. */
    a.from = 3;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r);
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    CHECK_U64(raft_term(r), RAFT_MAX_TERM);
    raft_free(r);
}

/* A learner takes a higher term only from a leader's message: answers and
 * vote requests from anyone but a voter leave its term alone. */
TEST(raft_bounds, learner_takes_a_higher_term_only_from_a_leader)
{
    struct raft *r = new_core(4);
    struct raft_conf conf;
    conf_of(&conf, 4);
    conf.servers[3].role = RAFT_LEARNER;
    CHECK_EQ(raft_bootstrap(r, &conf), 0);
    drain(r);
    uint8_t refused[] = {RAFT_MSG_APPEND_RESP,    RAFT_MSG_VOTE,
                         RAFT_MSG_VOTE_RESP,      RAFT_MSG_PREVOTE,
                         RAFT_MSG_HEARTBEAT_RESP, RAFT_MSG_SNAPSHOT_RESP};
    for (size_t i = 0; i < sizeof refused; i++) {
        struct raft_msg m = msg(refused[i], 99, 4, 1000);
        m.index = m.log_term = 1;
        CHECK_EQ(raft_step(r, &m), RAFT_EINVAL);
        drain(r);
        CHECK_U64(raft_term(r), 1);
    }
    struct raft_msg h = msg(RAFT_MSG_HEARTBEAT, 5, 4, 7);
    CHECK_EQ(raft_step(r, &h), RAFT_EINVAL); /* not vouched for */
    h.same_cluster = true;
    CHECK_EQ(raft_step(r, &h), 0);
    drain(r);
    CHECK_U64(raft_term(r), 7);
    CHECK_U64(raft_leader(r), 5);
    raft_free(r);
}

/* A voter that lags may list none of the servers that lead now (all added
 * since it last heard): a vouched leader's message from a server it does
 * not list raises its term and brings it in; an outsider's does not, nor
 * does a vouched server's vote request (sim seeds 152815, 158672, 165688
 * stayed behind for good before). */
TEST(raft_bounds, lagging_voter_takes_a_vouched_leader_it_does_not_list)
{
    struct raft *r = new_core(1);
    struct raft_conf conf;
    conf_of(&conf, 3);
    CHECK_EQ(raft_bootstrap(r, &conf), 0);
    drain(r);
    struct raft_msg v = msg(RAFT_MSG_VOTE, 7, 1, 9);
    v.same_cluster = true;
    v.index = v.log_term = 1;
    CHECK_EQ(raft_step(r, &v), RAFT_EINVAL);
    struct raft_msg h = msg(RAFT_MSG_HEARTBEAT, 7, 1, 9);
    CHECK_EQ(raft_step(r, &h), RAFT_EINVAL);
    CHECK_U64(raft_term(r), 1);
    h.same_cluster = true;
    CHECK_EQ(raft_step(r, &h), 0);
    drain(r);
    CHECK_U64(raft_term(r), 9);
    CHECK_U64(raft_leader(r), 7);
    raft_free(r);
}

/* A learner that took itself for a voter campaigns to a high term and
 * rejects the leader's appends with it: a leader that ignored its answer
 * would never reach it again, so a vouched member's answer makes the leader
 * step down (sim seed 133851 stayed stuck before); an unvouched one's does
 * not. */
TEST(raft_bounds, leader_steps_down_for_a_vouched_learners_answer)
{
    struct raft *r = leader_with_a_learner();
    struct raft_msg a = msg(RAFT_MSG_APPEND_RESP, 4, 1, 44);
    a.reject = true;
    CHECK_EQ(raft_step(r, &a), RAFT_EINVAL);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    a.same_cluster = true;
    CHECK_EQ(raft_step(r, &a), 0);
    drain(r);
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    CHECK_U64(raft_term(r), 44);
    /* From outside the configuration, even vouched, an answer does not. */
    struct raft_msg o = msg(RAFT_MSG_APPEND_RESP, 9, 1, 60);
    o.same_cluster = true;
    CHECK_EQ(raft_step(r, &o), RAFT_EINVAL);
    CHECK_U64(raft_term(r), 44);
    raft_free(r);
}
