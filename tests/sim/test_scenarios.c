/* test_scenarios.c - scripted cluster scenarios, each showing one behaviour
 * of the core end to end: PreVote, CheckQuorum, redirects, leadership
 * transfer, ReadIndex, learners, removing the leader, chunked snapshots.
 * Every run is also watched by the simulator's safety checker. Set
 * SIM_TRACE=1 to see every event. */
#include <stdlib.h>

#include "harness.h"
#include "raft/wire.h"
#include "sim/cluster.h"
#include "sim/net.h"

#define ELECTION_MS 100

static struct cluster *new_cluster_cq(uint64_t seed, unsigned n, bool pre_vote,
                                      bool check_quorum)
{
    struct cluster_config cc;
    cluster_config_default(&cc, seed, n);
    cc.election_ms = ELECTION_MS;
    cc.heartbeat_ms = 20;
    cc.chunk_bytes = 64;
    cc.no_pre_vote = !pre_vote;
    cc.no_check_quorum = !check_quorum;
    cc.trace = getenv("SIM_TRACE") ? stderr : NULL;
    struct cluster *c = cluster_new(&cc);
    CHECK(c != NULL && !cluster_failed(c));
    return c;
}

static struct cluster *new_cluster(uint64_t seed, unsigned n, bool pre_vote)
{
    return new_cluster_cq(seed, n, pre_vote, true);
}

static void run(struct cluster *c, uint64_t ms)
{
    cluster_run_until(c, c->now_ms + ms);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
}

static struct raft *core(struct cluster *c, uint64_t id)
{
    struct sim_node *n = cluster_node(c, id);
    CHECK(n != NULL && n->up);
    return n->core;
}

/* Runs until some node leads (at most 20 election timeouts). */
static uint64_t wait_leader(struct cluster *c)
{
    for (int k = 0; k < 400 && cluster_leader(c) == 0; k++)
        run(c, 5);
    uint64_t l = cluster_leader(c);
    CHECK(l != 0);
    return l;
}

/* A voter other than `not`. */
static uint64_t other(struct cluster *c, uint64_t not )
{
    for (uint64_t id = 1; id <= CLUSTER_MAX_ID; id++) {
        struct sim_node *n = cluster_node(c, id);
        if (id != not &&n != NULL && n->up && !n->gone)
            return id;
    }
    CHECK(false);
    return 0;
}

/* Proposes k small commands on the leader and lets them commit. */
static void propose_some(struct cluster *c, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        char cmd[32];
        int len = snprintf(cmd, sizeof cmd, "cmd-%u", i);
        CHECK_EQ(
            cluster_propose(c, wait_leader(c), cmd, (uint32_t)len, NULL, NULL),
            0);
        run(c, 2);
    }
    run(c, 50);
}

/* PreVote (dissertation §9.6): a follower cut off for many election
 * timeouts does not raise its term, so rejoining does not depose the
 * leader. */
TEST(scenarios, prevote_keeps_a_rejoining_node_from_disrupting)
{
    struct cluster *c = new_cluster(1, 3, true);
    uint64_t l = wait_leader(c);
    uint64_t t = raft_term(core(c, l));
    uint64_t f = other(c, l);
    cluster_isolate(c, f);
    run(c, 10 * ELECTION_MS);
    CHECK_U64(raft_term(core(c, f)), t);
    cluster_heal(c);
    run(c, 5 * ELECTION_MS);
    CHECK_U64(cluster_leader(c), l);
    CHECK_U64(raft_term(core(c, l)), t);
    CHECK_U64(raft_leader(core(c, f)), l);
    cluster_free(c);
}

/* Without PreVote the same rejoining node does depose the leader: the
 * scenario above can tell the difference. */
TEST(scenarios, without_prevote_a_rejoining_node_raises_the_term)
{
    struct cluster *c = new_cluster(1, 3, false);
    uint64_t l = wait_leader(c);
    uint64_t t = raft_term(core(c, l));
    uint64_t f = other(c, l);
    cluster_isolate(c, f);
    run(c, 10 * ELECTION_MS);
    CHECK(raft_term(core(c, f)) > t);
    cluster_heal(c);
    run(c, 5 * ELECTION_MS);
    CHECK(raft_term(core(c, wait_leader(c))) > t);
    cluster_free(c);
}

/* CheckQuorum: a leader cut off from every follower steps down within two
 * election timeouts, and the others elect a new leader. */
TEST(scenarios, checkquorum_isolated_leader_steps_down)
{
    struct cluster *c = new_cluster(2, 3, true);
    uint64_t l = wait_leader(c);
    cluster_isolate(c, l);
    run(c, 2 * ELECTION_MS + 10);
    CHECK(raft_role(core(c, l)) != RAFT_LEADER);
    uint64_t l2 = wait_leader(c);
    CHECK(l2 != l);
    cluster_heal(c);
    run(c, 3 * ELECTION_MS);
    CHECK_U64(raft_leader(core(c, l)), cluster_leader(c));
    cluster_free(c);
}

/* A proposal on a follower fails with RAFT_ENOTLEADER and raft_leader()
 * names the leader to redirect to. */
TEST(scenarios, follower_redirects_proposals_to_the_leader)
{
    struct cluster *c = new_cluster(3, 5, true);
    uint64_t l = wait_leader(c);
    run(c, 3 * ELECTION_MS);
    for (uint64_t id = 1; id <= 5; id++) {
        if (id == l)
            continue;
        CHECK_EQ(cluster_propose(c, id, "x", 1, NULL, NULL), RAFT_ENOTLEADER);
        CHECK_U64(raft_leader(core(c, id)), l);
    }
    uint64_t index = 0, term = 0;
    CHECK_EQ(cluster_propose(c, l, "x", 1, &index, &term), 0);
    run(c, ELECTION_MS);
    for (uint64_t id = 1; id <= 5; id++)
        CHECK(cluster_node(c, id)->sm.index >= index);
    cluster_free(c);
}

/* Leadership transfer (dissertation §3.10): the leader hands over to the
 * chosen voter, or with id 0 to some other voter, within an election
 * timeout, without losing committed entries. */
TEST(scenarios, leadership_transfer)
{
    struct cluster *c = new_cluster(4, 5, true);
    uint64_t l = wait_leader(c);
    propose_some(c, 10);
    uint64_t to = other(c, l);
    CHECK_EQ(cluster_transfer(c, l, to), 0);
    run(c, ELECTION_MS);
    CHECK_U64(cluster_leader(c), to);
    CHECK_EQ(cluster_transfer(c, to, 0), 0);
    run(c, ELECTION_MS);
    uint64_t l3 = cluster_leader(c);
    CHECK(l3 != 0 && l3 != to);
    propose_some(c, 5);
    cluster_free(c);
}

/* ReadIndex (dissertation §6.4): a leader cut off from the others cannot
 * confirm it still leads, so a read asked of it is never served (it is
 * dropped once the leader steps down), while the new leader serves one. */
TEST(scenarios, readindex_on_an_isolated_leader_never_completes)
{
    struct cluster *c = new_cluster(5, 3, true);
    uint64_t l = wait_leader(c);
    propose_some(c, 3);
    cluster_isolate(c, l);
    CHECK_EQ(cluster_read(c, l), 0);
    uint64_t stale = c->next_ctx;
    run(c, ELECTION_MS / 2);
    CHECK_EQ(cluster_read_outcome(c, stale), CLUSTER_READ_PENDING);
    run(c, 3 * ELECTION_MS);
    CHECK_EQ(cluster_read_outcome(c, stale), CLUSTER_READ_DROPPED);
    uint64_t l2 = wait_leader(c);
    CHECK(l2 != l);
    CHECK_EQ(cluster_read(c, l2), 0);
    uint64_t fresh = c->next_ctx;
    run(c, ELECTION_MS);
    CHECK_EQ(cluster_read_outcome(c, fresh), CLUSTER_READ_SERVED);
    cluster_free(c);
}

/* A server added as a learner with promote set catches up while clients
 * keep writing, and is made a voter by the leader. */
TEST(scenarios, learner_is_promoted_after_catching_up)
{
    struct cluster *c = new_cluster(6, 3, true);
    uint64_t l = wait_leader(c);
    propose_some(c, 40);
    uint64_t id = 0;
    CHECK_EQ(cluster_add(c, l, true, &id), 0);
    CHECK_EQ(raft_conf_role(raft_conf(core(c, l)), id), RAFT_LEARNER);
    propose_some(c, 10);
    run(c, 5 * ELECTION_MS);
    l = wait_leader(c);
    CHECK_EQ(raft_conf_role(raft_conf(core(c, l)), id), RAFT_VOTER);
    CHECK_EQ(raft_conf_role(&c->conf, id), RAFT_VOTER); /* committed */
    CHECK_U64(cluster_node(c, id)->sm.index, raft_commit_index(core(c, l)));
    cluster_free(c);
}

/* A learner added to an idle cluster (no writes after the change) is
 * brought up to date and promoted all the same. */
TEST(scenarios, learner_added_to_an_idle_cluster_catches_up)
{
    struct cluster *c = new_cluster(6, 3, true);
    uint64_t l = wait_leader(c);
    propose_some(c, 40);
    uint64_t id = 0;
    CHECK_EQ(cluster_add(c, l, true, &id), 0);
    run(c, 10 * ELECTION_MS);
    l = wait_leader(c);
    CHECK(cluster_node(c, id)->sm.index >= 40);
    CHECK_EQ(raft_conf_role(&c->conf, id), RAFT_VOTER);
    cluster_free(c);
}

/* Removing the leader (dissertation §4.2.2): it steps down once the change
 * commits and the remaining servers go on without it. */
TEST(scenarios, removing_the_leader)
{
    struct cluster *c = new_cluster(7, 5, true);
    uint64_t l = wait_leader(c);
    propose_some(c, 5);
    CHECK_EQ(cluster_remove(c, l, l), 0);
    run(c, 3 * ELECTION_MS);
    CHECK_EQ(raft_conf_role(&c->conf, l), 0);
    CHECK(raft_role(core(c, l)) != RAFT_LEADER);
    cluster_retire(c, l);
    uint64_t l2 = wait_leader(c);
    CHECK(l2 != l);
    CHECK_EQ(c->conf.n, 4);
    propose_some(c, 5);
    cluster_free(c);
}

/* A leader of two voters removes itself; the change reaches no one else
 * before it crashes. Back up, it is not a voter of its latest configuration
 * while the other voter still needs its vote; the dissertation (§4.2.2) has
 * such a server still start elections, so that the cluster goes on. */
TEST(scenarios, removed_leader_that_crashed_before_commit_still_campaigns)
{
    struct cluster *c = new_cluster(9, 3, true);
    uint64_t l = wait_leader(c);
    propose_some(c, 5);
    uint64_t x = other(c, l);
    CHECK_EQ(cluster_remove(c, l, x), 0);
    run(c, 2 * ELECTION_MS);
    CHECK_EQ(c->conf.n, 2);
    cluster_retire(c, x);
    l = wait_leader(c);
    uint64_t f = other(c, l);
    cluster_isolate(c, f);
    CHECK_EQ(cluster_remove(c, l, l), 0);
    run(c, 20); /* durable on l, and on l alone */
    CHECK_EQ(raft_conf_role(raft_conf(core(c, l)), l), 0);
    CHECK(raft_conf_role(raft_conf(core(c, f)), l) != 0);
    cluster_crash(c, l, false);
    cluster_restart(c, l);
    cluster_heal(c);
    run(c, 20 * ELECTION_MS);
    CHECK_U64(cluster_leader(c), f);
    CHECK_EQ(raft_conf_role(&c->conf, l), 0);
    cluster_free(c);
}

/* A follower that fell behind a compacted log gets the leader's snapshot in
 * several chunks, installs it and catches up. */
TEST(scenarios, lagging_follower_gets_a_snapshot_in_chunks)
{
    struct cluster *c = new_cluster(8, 3, true);
    uint64_t l = wait_leader(c);
    uint64_t f = other(c, l);
    cluster_isolate(c, f);
    propose_some(c, 60);
    l = wait_leader(c);
    for (uint64_t id = 1; id <= 3; id++)
        if (id != f)
            CHECK_EQ(cluster_snapshot(c, id, 0), 0);
    const struct sim_snap *s = &cluster_node(c, l)->disk.snap;
    CHECK(s->present && s->len > 2 * 64);
    uint64_t chunks = c->n_sent[RAFT_MSG_SNAPSHOT];
    cluster_heal(c);
    run(c, 5 * ELECTION_MS);
    struct sim_node *n = cluster_node(c, f);
    CHECK(n->disk.snap.present);
    CHECK(n->disk.snap.meta.index >= s->meta.index);
    CHECK(c->n_sent[RAFT_MSG_SNAPSHOT] - chunks >= (s->len + 63) / 64);
    CHECK_U64(n->sm.index, cluster_node(c, l)->sm.index);
    cluster_free(c);
}

/* Injects a message of type from `from` (not a member) to node `to` with
 * this term, as a server outside the cluster might send it. */
static void inject(struct cluster *c, uint64_t from, uint64_t to, uint8_t type,
                   uint64_t term)
{
    struct raft_msg m = {.type = type, .from = from, .to = to, .term = term};
    m.index = m.log_term = m.commit = 1;
    uint8_t frame[256];
    size_t len = wire_msg_encode(&m, frame, sizeof frame);
    CHECK(len > 0 && len <= sizeof frame);
    net_deliver(c, to, frame, len, CLUSTER_ALL);
}

/* Messages from a server id that is not a member, with a huge term (past
 * RAFT_MAX_TERM) or a merely higher one, change no server's term: the
 * cluster keeps its leader, elects new ones and commits (issue 14, item 5:
 * one such frame made a server adopt term 2^64-3 and never campaign
 * again). */
TEST(scenarios, messages_from_outside_the_cluster_change_no_term)
{
    static const uint8_t types[] = {RAFT_MSG_HEARTBEAT,   RAFT_MSG_APPEND,
                                    RAFT_MSG_VOTE,        RAFT_MSG_PREVOTE,
                                    RAFT_MSG_APPEND_RESP, RAFT_MSG_VOTE_RESP,
                                    RAFT_MSG_SNAPSHOT,    RAFT_MSG_TIMEOUT_NOW};
    static const uint64_t terms[] = {UINT64_MAX - 2, RAFT_MAX_TERM + 1,
                                     RAFT_MAX_TERM, 1000};
    struct cluster *c = new_cluster(10, 3, true);
    uint64_t l = wait_leader(c);
    propose_some(c, 5);
    uint64_t t = raft_term(core(c, l));
    for (uint64_t id = 1; id <= 3; id++)
        for (size_t i = 0; i < sizeof types; i++)
            for (size_t k = 0; k < sizeof terms / sizeof terms[0]; k++)
                inject(c, 99, id, types[i], terms[k]);
    run(c, 5 * ELECTION_MS);
    for (uint64_t id = 1; id <= 3; id++)
        CHECK_U64(raft_term(core(c, id)), t);
    CHECK_U64(cluster_leader(c), l);
    propose_some(c, 5);
    /* Elections go on as before. */
    cluster_isolate(c, l);
    run(c, 3 * ELECTION_MS);
    uint64_t l2 = wait_leader(c);
    CHECK(l2 != l);
    CHECK(raft_term(core(c, l2)) < 1000);
    cluster_heal(c);
    propose_some(c, 5);
    cluster_free(c);
}

/* A removed server cannot raise the term of the servers that removed it,
 * even when it does not know it was removed and campaigns on its own, and
 * neither PreVote nor leader stickiness (CheckQuorum) hold it back. */
TEST(scenarios, removed_server_that_campaigns_disturbs_no_one)
{
    struct cluster *c = new_cluster_cq(11, 4, false, false);
    uint64_t l = wait_leader(c);
    propose_some(c, 5);
    uint64_t x = other(c, l);
    cluster_isolate(c, x);
    CHECK_EQ(cluster_remove(c, l, x), 0);
    run(c, 3 * ELECTION_MS);
    CHECK_EQ(raft_conf_role(&c->conf, x), 0);
    CHECK(raft_conf_role(raft_conf(core(c, x)), x) != 0);
    uint64_t t = raft_term(core(c, l));
    /* Without PreVote, x raises its own term while cut off. */
    run(c, 10 * ELECTION_MS);
    CHECK(raft_term(core(c, x)) > t);
    cluster_heal(c);
    run(c, 10 * ELECTION_MS);
    CHECK_U64(cluster_leader(c), l);
    CHECK_U64(raft_term(core(c, l)), t);
    propose_some(c, 5);
    cluster_free(c);
}
