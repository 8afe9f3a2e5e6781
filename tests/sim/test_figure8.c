/* test_figure8.c - the Raft paper's Figure 8 (§5.4.2), scripted message by
 * message on five servers: an entry of an earlier term stored on a majority
 * is not committed by counting replicas, and may still be overwritten.
 *
 * The core appends a no-op when it wins an election (§8), so the script's
 * entries are those no-ops: S1's of term 2 at index 2, S5's of term 3 at
 * index 2, S1's of term 4 at index 3. Set SIM_TRACE=1 to see every event. */
#include <stdlib.h>

#include "harness.h"
#include "sim/cluster.h"

#define ELECTION_MS 100

static struct cluster *new_cluster(void)
{
    struct cluster_config cc;
    cluster_config_default(&cc, 8, 5);
    cc.manual = true;
    cc.election_ms = ELECTION_MS;
    cc.heartbeat_ms = 20;
    cc.max_msg_bytes = 1 << 16;
    /* Elections happen exactly when the script says. */
    cc.no_pre_vote = true;
    cc.no_check_quorum = true;
    cc.trace = getenv("SIM_TRACE") ? stderr : NULL;
    struct cluster *c = cluster_new(&cc);
    CHECK(c != NULL && !cluster_failed(c));
    return c;
}

static struct raft *core(struct cluster *c, uint64_t id)
{
    struct sim_node *n = cluster_node(c, id);
    CHECK(n != NULL && n->up);
    return n->core;
}

static uint64_t term_at(struct cluster *c, uint64_t id, uint64_t index)
{
    return raft_term_at(core(c, id), index);
}

/* Runs one election of `cand`, its VOTE delivered to `voters` only (a zero
 * ends the list), the answers delivered back. True if cand won. */
static bool elect(struct cluster *c, uint64_t cand, const uint64_t *voters)
{
    cluster_tick(c, cand, 2 * ELECTION_MS);
    CHECK_EQ(raft_role(core(c, cand)), RAFT_CANDIDATE);
    for (const uint64_t *v = voters; *v != 0; v++)
        cluster_deliver(c, cand, *v, RAFT_MSG_VOTE, CLUSTER_ALL);
    cluster_drop(c, cand, 0, RAFT_MSG_VOTE);
    cluster_deliver(c, 0, cand, RAFT_MSG_VOTE_RESP, CLUSTER_ALL);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
    return raft_role(core(c, cand)) == RAFT_LEADER;
}

/* Figure 8 (a)-(c): returns with S1 leader of term 4, its term-2 entry at
 * index 2 on S1, S2 and S3 (a majority), its term-4 no-op at index 3 on S1
 * only, and S5 (term-3 entry at index 2) crashed. */
static struct cluster *figure8_abc(void)
{
    struct cluster *c = new_cluster();

    /* (a) S1 leads term 2; its entry at index 2 reaches S2 only. */
    CHECK(elect(c, 1, (const uint64_t[]){2, 3, 4, 5, 0}));
    CHECK_U64(raft_term(core(c, 1)), 2);
    CHECK_U64(term_at(c, 1, 2), 2);
    cluster_deliver(c, 1, 2, RAFT_MSG_APPEND, CLUSTER_ALL);
    cluster_drop(c, 0, 0, 0);
    CHECK_U64(term_at(c, 2, 2), 2);
    cluster_crash(c, 1, false);

    /* (b) S5 wins term 3 with the votes of S3, S4 and its own, appends its
     * entry at index 2, replicates it nowhere and crashes. */
    CHECK(elect(c, 5, (const uint64_t[]){3, 4, 0}));
    CHECK_U64(raft_term(core(c, 5)), 3);
    CHECK_U64(term_at(c, 5, 2), 3);
    cluster_drop(c, 0, 0, 0);
    cluster_crash(c, 5, false);

    /* (c) S1 restarts and wins term 4 with S2 and S3 (its first try, term
     * 3, fails: S3 and S4 voted for S5 in term 3). */
    cluster_restart(c, 1);
    CHECK(!elect(c, 1, (const uint64_t[]){2, 3, 4, 0}));
    CHECK(elect(c, 1, (const uint64_t[]){2, 3, 0}));
    CHECK_U64(raft_term(core(c, 1)), 4);
    CHECK_U64(term_at(c, 1, 3), 4);
    cluster_drop(c, 1, 4, 0);

    /* S1 replicates its term-2 entry, and not its term-4 one, to S2 and S3:
     * S2 already holds index 2, S3 gets the entry on its own. */
    cluster_deliver(c, 1, 2, RAFT_MSG_APPEND, 0);
    cluster_deliver(c, 1, 3, RAFT_MSG_APPEND, 0); /* S3 lacks index 2 */
    cluster_deliver(c, 0, 1, 0, CLUSTER_ALL);
    CHECK(cluster_n_held(c, 1, 3, RAFT_MSG_APPEND) > 0);
    cluster_deliver(c, 1, 3, RAFT_MSG_APPEND, 1);
    cluster_deliver(c, 0, 1, 0, CLUSTER_ALL);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
    for (uint64_t id = 1; id <= 3; id++)
        CHECK_U64(term_at(c, id, 2), 2);
    CHECK_U64(term_at(c, 2, 3), 0);
    CHECK_U64(term_at(c, 3, 3), 0);
    CHECK_U64(raft_match_index(core(c, 1), 2), 2);
    CHECK_U64(raft_match_index(core(c, 1), 3), 2);
    return c;
}

/* Figure 8 (c): an entry of an earlier term stored on a majority is not
 * committed until an entry of the leader's own term is (§5.4.2). */
TEST(figure8, old_term_entry_on_majority_is_not_committed)
{
    struct cluster *c = figure8_abc();
    CHECK(raft_commit_index(core(c, 1)) < 2);
    /* More time does not change it while index 3 stays on S1 alone. */
    cluster_drop(c, 0, 0, 0);
    for (uint64_t id = 1; id <= 4; id++)
        cluster_tick(c, id, 10);
    cluster_drop(c, 0, 0, 0);
    CHECK(raft_commit_index(core(c, 1)) < 2);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
    cluster_free(c);
}

/* Figure 8 (d): S1 crashes, S5 is elected and overwrites index 2 on the
 * others; that entry was never committed, so nothing committed is lost. */
TEST(figure8, uncommitted_entry_is_overwritten)
{
    struct cluster *c = figure8_abc();
    cluster_crash(c, 1, false);
    cluster_drop(c, 0, 0, 0);
    cluster_restart(c, 5);
    /* Term 4: S2 and S3 already voted for S1 in it; S4 alone is not enough. */
    CHECK(!elect(c, 5, (const uint64_t[]){2, 3, 4, 0}));
    CHECK(elect(c, 5, (const uint64_t[]){2, 3, 4, 0}));
    CHECK_U64(raft_term(core(c, 5)), 5);
    cluster_pump(c, 100);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
    for (uint64_t id = 2; id <= 5; id++) {
        CHECK_U64(term_at(c, id, 2), 3);
        CHECK_U64(term_at(c, id, 3), 5);
    }
    CHECK_U64(raft_commit_index(core(c, 5)), 3);
    /* S1 comes back and is brought in line too. */
    cluster_restart(c, 1);
    cluster_settle(c, 200, 10);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
    CHECK_U64(term_at(c, 1, 2), 3);
    CHECK_U64(raft_commit_index(core(c, 1)), 3);
    cluster_free(c);
}

/* Figure 8 (e): once S1's term-4 entry is on a majority, both it and the
 * term-2 entry before it are committed, and S5 can no longer win. */
TEST(figure8, current_term_entry_commits_the_earlier_one)
{
    struct cluster *c = figure8_abc();
    cluster_deliver(c, 1, 2, RAFT_MSG_APPEND, CLUSTER_ALL);
    cluster_deliver(c, 1, 3, RAFT_MSG_APPEND, CLUSTER_ALL);
    CHECK_U64(term_at(c, 2, 3), 4);
    CHECK_U64(term_at(c, 3, 3), 4);
    cluster_deliver(c, 0, 1, 0, CLUSTER_ALL);
    CHECK_U64(raft_commit_index(core(c, 1)), 3);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);

    cluster_crash(c, 1, false);
    cluster_drop(c, 0, 0, 0);
    cluster_restart(c, 5);
    for (int k = 0; k < 3; k++)
        CHECK(!elect(c, 5, (const uint64_t[]){2, 3, 4, 0}));
    /* The survivors elect one of themselves and S5 is repaired. */
    cluster_restart(c, 1);
    cluster_settle(c, 2000, 10);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
    for (uint64_t id = 1; id <= 5; id++) {
        CHECK_U64(term_at(c, id, 2), 2);
        CHECK_U64(term_at(c, id, 3), 4);
        CHECK(raft_commit_index(core(c, id)) >= 3);
    }
    cluster_free(c);
}

/* A candidate elected by the others' votes before its own new term is
 * durable must not act as leader of that term yet: were it to crash, it
 * would come back in the older term, could win the same term again and put
 * a different entry at an index and term it already handed out (found by
 * the simulator: seeds with a slow disk on the candidate). */
TEST(figure8, leader_does_not_act_in_a_term_not_yet_durable)
{
    struct cluster *c = new_cluster();
    cluster_hold_disk(c, 1, true);
    elect(c, 1, (const uint64_t[]){2, 3, 4, 0}); /* a majority without S1 */
    if (raft_role(core(c, 1)) == RAFT_LEADER) {
        /* It is: entry A at (3, 2) reaches S2. */
        CHECK_EQ(cluster_propose(c, 1, "A", 1, NULL, NULL), 0);
        for (int k = 0; k < 3; k++) {
            cluster_deliver(c, 1, 2, 0, CLUSTER_ALL);
            cluster_deliver(c, 2, 1, 0, CLUSTER_ALL);
        }
        CHECK_U64(term_at(c, 2, 3), 2);
    }
    cluster_drop(c, 0, 0, 0);
    cluster_crash(c, 1, false);
    cluster_restart(c, 1);
    cluster_hold_disk(c, 1, false);
    if (elect(c, 1, (const uint64_t[]){2, 3, 4, 0}))
        cluster_propose(c, 1, "B", 1, NULL, NULL);
    cluster_pump(c, 100);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
    cluster_settle(c, 500, 10);
    CHECK_MSG(!cluster_failed(c), "%s", c->failure);
    cluster_free(c);
}
