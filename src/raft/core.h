/* core.h - the Raft core's internal state, shared by its files.
 *
 * Not installed: the interface is raft.h. The core is split by concept:
 * core.c (state helpers and message dispatch), election.c (roles and
 * votes), replication.c (the log's way from leader to followers, commitment,
 * reads), snapshot.c (snapshots sent in chunks), update.c (what the edge is
 * handed, and the replies held until state is durable), raft.c (the API). */
#ifndef DLOCK_RAFT_CORE_H
#define DLOCK_RAFT_CORE_H

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "raft/raft.h"
#include "raft/raftlog.h"

#define MAX_ENTRY_BYTES (64u << 20)

enum { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

/* What the leader knows of one server, D§3.5 and etcd's flow control. */
struct progress {
    uint64_t id;
    uint64_t match;
    uint64_t next;
    uint8_t state;
    bool paused; /* probing: one APPEND in flight */
    bool resend; /* send an APPEND even if nothing is new */
    bool active; /* heard from during this CheckQuorum period */
    uint64_t read_ack;
    uint64_t *infl_last; /* ring of in-flight APPENDs: last index, bytes */
    uint64_t *infl_bytes;
    unsigned infl_head;
    unsigned infl_n;
    uint64_t infl_total;
    uint64_t snap_index;
    uint64_t snap_offset;
    uint64_t snap_elapsed;
};

/* A reply held until seq is durable: only the fields replies use. */
struct held {
    uint64_t seq;
    uint64_t to;
    uint64_t term;
    uint64_t index;
    uint64_t offset;
    uint8_t type;
    bool reject;
    bool last;
};

struct pending_read {
    uint64_t ctx;
    uint64_t index;
    uint64_t round; /* 0: waiting for the leader's first commit */
};

#define VEC_DEFINE(name, type)                                                 \
    struct name {                                                              \
        type *v;                                                               \
        size_t n, cap;                                                         \
    }

VEC_DEFINE(msg_vec, struct raft_msg);
VEC_DEFINE(entry_vec, struct raft_entry);
VEC_DEFINE(read_vec, struct raft_read);
VEC_DEFINE(u64_vec, uint64_t);
VEC_DEFINE(size_vec, size_t);

#define VEC_PUSH(vec)                                                          \
    (((vec).n == (vec).cap                                                     \
          ? ((vec).cap = (vec).cap ? (vec).cap * 2 : 16,                       \
             (vec).v = mem_xrealloc((vec).v, (vec).cap * sizeof *(vec).v))     \
          : 0),                                                                \
     &(vec).v[(vec).n++])

struct raft {
    struct raft_config c;
    uint64_t term;
    uint64_t vote;
    uint8_t role;
    bool role_changed;
    uint64_t leader;
    struct raftlog log;
    uint64_t commit;
    uint64_t applied;
    uint64_t leader_commit; /* the largest commit index a leader's APPEND
                               or HEARTBEAT told (raft_leader_commit) */
    struct raft_conf conf;  /* from the last conf entry, or the snapshot */
    uint64_t conf_index;
    struct raft_conf snap_conf; /* the configuration at log.snap_index */
    bool started;               /* restored or bootstrapped */

    uint64_t election_elapsed;
    uint64_t heartbeat_elapsed;
    uint64_t timeout;
    uint64_t rng;

    uint64_t granted[RAFT_MAX_SERVERS];
    unsigned n_granted;
    uint64_t rejected[RAFT_MAX_SERVERS];
    unsigned n_rejected;
    bool term_durable; /* a candidate's own term and vote are on disk */

    struct progress prs[RAFT_MAX_SERVERS];
    unsigned n_prs;
    uint64_t transferee;
    uint64_t transfer_elapsed;
    VEC_DEFINE(pending_vec, struct pending_read) reads;
    uint64_t read_round;
    bool read_broadcast;

    uint64_t next_seq; /* last seq handed out */
    uint64_t persisted_seq;
    bool hs_dirty;
    uint64_t unstable_from; /* first entry not yet handed out to persist */
    VEC_DEFINE(held_vec, struct held) held;

    uint64_t recv_index; /* incoming snapshot, 0 when none */
    uint64_t recv_term;
    uint64_t recv_offset;
    bool chunk_pending;
    struct raft_msg chunk; /* pending chunk; data in chunk_buf */
    uint8_t *chunk_buf;
    bool install_pending;
    uint64_t install_seq;

    /* Accumulated for the next update. */
    struct msg_vec msgs;
    struct size_vec msg_ent; /* arena offset of each msg's entries */
    struct entry_vec arena;
    struct read_vec ready_reads;
    struct u64_vec dropped;
    /* Handed out by the last update. */
    struct msg_vec out_msgs;
    struct entry_vec out_arena;
    struct entry_vec out_entries;
    struct entry_vec out_committed;
    struct read_vec out_reads;
    struct u64_vec out_dropped;
    uint8_t *out_chunk_buf;
};

static inline uint64_t last_index(const struct raft *r)
{
    return raftlog_last(&r->log);
}

static inline uint64_t last_term(const struct raft *r)
{
    return raftlog_term(&r->log, last_index(r));
}

static inline unsigned n_voters(const struct raft_conf *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->n; i++)
        n += c->servers[i].role == RAFT_VOTER;
    return n;
}

static inline bool is_voter(const struct raft *r, uint64_t id)
{
    return raft_conf_role(&r->conf, id) == RAFT_VOTER;
}

static inline struct progress *find_pr(struct raft *r, uint64_t id)
{
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

static inline bool has_unpersisted(const struct raft *r)
{
    return r->hs_dirty || r->unstable_from <= last_index(r) || r->chunk_pending;
}

static inline bool committed_in_term(const struct raft *r)
{
    return raftlog_term(&r->log, r->commit) == r->term;
}

static inline bool conf_pending(const struct raft *r)
{
    return r->conf_index > r->commit;
}

/* core.c */
void core_reset_timer(struct raft *r);
struct raft_msg *core_msg_new(struct raft *r, uint8_t type, uint64_t to);
void core_set_term(struct raft *r, uint64_t term);
void core_set_role(struct raft *r, uint8_t role);
void core_conf_at(const struct raft *r, uint64_t index, struct raft_conf *c);
void core_sync_progress(struct raft *r);
void core_set_conf(struct raft *r, const struct raft_conf *c, uint64_t index);
void core_conf_after_truncate(struct raft *r, uint64_t from);
void core_append(struct raft *r, uint64_t term, uint8_t type, uint8_t *data,
                 uint32_t len);
void core_self_ack(struct raft *r);
int core_step(struct raft *r, const struct raft_msg *m);

/* election.c */
bool election_may_campaign(const struct raft *r);
void election_become_follower(struct raft *r, uint64_t term, uint64_t leader);
void election_campaign(struct raft *r, bool pre, bool transfer);
void election_tally(struct raft *r, uint64_t from, bool granted);
void election_handle_vote(struct raft *r, const struct raft_msg *m);
bool election_check_term(struct raft *r, const struct raft_msg *m);
void election_heard_from_leader(struct raft *r, const struct raft_msg *m);

/* replication.c */
void replication_to_probe(struct progress *pr);
void replication_flush_peer(struct raft *r, struct progress *pr);
bool replication_peer_wants_send(const struct raft *r,
                                 const struct progress *pr);
void replication_broadcast_heartbeat(struct raft *r);
void replication_send_timeout_now(struct raft *r, uint64_t to);
void replication_drop_reads(struct raft *r);
void replication_start_waiting_reads(struct raft *r);
void replication_propose_conf(struct raft *r, const struct raft_conf *c);
uint64_t replication_best_voter(struct raft *r);
void replication_maybe_commit(struct raft *r);
void replication_handle_append_resp(struct raft *r, const struct raft_msg *m);
void replication_handle_heartbeat_resp(struct raft *r,
                                       const struct raft_msg *m);
void replication_commit_to(struct raft *r, uint64_t index);
int replication_handle_append(struct raft *r, const struct raft_msg *m);
void replication_handle_heartbeat(struct raft *r, const struct raft_msg *m);
void replication_tick(struct raft *r, uint64_t ms);

/* snapshot.c */
void snapshot_start(struct raft *r, struct progress *pr);
void snapshot_handle_resp(struct raft *r, const struct raft_msg *m);
void snapshot_handle(struct raft *r, const struct raft_msg *m);

/* update.c */
void update_reply_durable(struct raft *r, const struct raft_msg *m);

#endif
