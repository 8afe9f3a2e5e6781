/* cluster.h - a simulated Raft cluster in one process: cores driven through
 * the edge contract of raft.h, simulated disks that lose what is not yet
 * durable, a seeded network, a deterministic state machine, and the checker
 * of Raft's safety properties. Shared by the seeded simulator (sim.c) and the
 * scripted scenarios (test_*.c).
 *
 * Two modes. Automatic: every node ticks on its own, messages arrive after a
 * random delay (or are lost, duplicated, blocked by a partition) and disk
 * writes complete after a random delay; cluster_run_until() advances time.
 * Manual (scripted tests): nothing happens unless asked: messages are held
 * until cluster_deliver(), disks are durable at once (or hold their writes
 * until cluster_flush_disk()), nodes tick only through cluster_tick().
 *
 * Every update a core hands out is checked as it happens (see check.c); the
 * first violation is recorded, and cluster_failed() reports it. */
#ifndef DLOCK_SIM_CLUSTER_H
#define DLOCK_SIM_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raft/raft.h"
#include "rng.h"

/* Node ids are 1..CLUSTER_MAX_ID; the initial ones are 1..n_voters and
 * servers added later get the next free ids. */
#define CLUSTER_MAX_ID 31
/* Messages the random simulator injects from servers outside the cluster
 * (ids past CLUSTER_MAX_ID) carry terms from here up, or past RAFT_MAX_TERM;
 * a server that takes one has let an outsider change its term, which the
 * checker reports. No member's own elections come near it. */
#define CLUSTER_OUTSIDER_TERM (1ull << 40)

struct cluster;
struct sim_node;

/* An application state machine run on every node beside the simulated one
 * (struct sim_sm, which goes on hashing every entry for the Raft checks):
 * it is told of every applied entry, its bytes ride in each snapshot after
 * the simulator's header (in place of the padding), and it is restored from
 * them on restart and install. tests/sim/lockserver.c runs the lock state
 * machine through it. */
struct cluster_app {
    void *arg;
    /* n's state machine is empty: n starts, restarts or crashes. */
    void (*reset)(void *arg, struct cluster *c, struct sim_node *n);
    /* n applied the committed entry e (after the Raft checks). */
    void (*apply)(void *arg, struct cluster *c, struct sim_node *n,
                  const struct raft_entry *e);
    /* n's state as bytes for a snapshot at n->sm.index (malloc'd). */
    uint8_t *(*save)(void *arg, struct cluster *c, struct sim_node *n,
                     size_t *len);
    /* n's state becomes that of a snapshot at n->sm.index (restart or
     * install); false if the bytes are refused. */
    bool (*load)(void *arg, struct cluster *c, struct sim_node *n,
                 const uint8_t *data, size_t len);
};

struct cluster_config {
    uint64_t seed;
    unsigned n_voters; /* bootstrapped voters, ids 1..n_voters */
    uint64_t election_ms;
    uint64_t heartbeat_ms;
    uint32_t max_msg_bytes;
    uint32_t max_inflight_msgs;
    uint64_t max_inflight_bytes;
    uint32_t chunk_bytes;
    bool no_pre_vote;
    bool no_check_quorum;
    bool manual;
    unsigned drift_pct;            /* clocks run up to this much fast or slow */
    FILE *trace;                   /* a line per event when not NULL */
    const struct cluster_app *app; /* NULL: snapshots carry padding */
};

/* Network behaviour in automatic mode, changed freely between steps. */
struct cluster_net {
    unsigned drop_pm;      /* per mille of messages lost */
    unsigned dup_pm;       /* per mille of messages delivered twice */
    uint64_t delay_min_ms; /* usual delivery delay range */
    uint64_t delay_max_ms;
    unsigned slow_pm; /* per mille delayed up to slow_max_ms */
    uint64_t slow_max_ms;
};

/* The simulated state machine: a running hash of every applied NORMAL
 * entry. Its snapshot is this state, then the application's bytes or
 * padding derived from it. */
struct sim_sm {
    uint64_t index; /* last applied */
    uint64_t hash;
    uint64_t count; /* NORMAL entries applied */
};

struct sim_snap {
    bool present;
    struct raft_snapshot_meta meta;
    uint8_t *data;
    size_t len;
};

/* A run of consecutive entries with owned data; entry i is e[i - first],
 * and the entry before the first had term prev_term. */
struct sim_log {
    struct raft_entry *e;
    size_t n;
    size_t cap;
    uint64_t first;
    uint64_t prev_term;
};

/* What survives a crash: the hard state, the latest snapshot and the log
 * as a log-structured store holds it (cut and appended by each write, its
 * prefix trimmed by snapshots). A restart reads the entries after the
 * snapshot if the log continues it (cluster_disk_entries). */
struct sim_disk {
    uint64_t term;
    uint64_t vote;
    struct sim_snap snap;
    struct sim_log log;
    /* The snapshot being received from a leader. */
    uint64_t in_index;
    uint64_t in_term;
    uint8_t *in_data;
    size_t in_len;
    size_t in_cap;
};

/* The log as handed out by the core in its current lifetime: what the core
 * holds in memory, by the edge's account. Terms of [first, last] are known,
 * and snap_index/snap_term is the latest snapshot. */
struct sim_view {
    uint64_t term;
    uint64_t vote;
    uint64_t snap_index;
    uint64_t snap_term;
    uint64_t first;
    uint64_t last;
    uint64_t *terms; /* indexed by absolute index, valid in [first, last] */
    size_t cap;
    uint64_t commit;
    uint64_t seq;   /* highest update seq handed out */
    bool in_active; /* an incoming snapshot is being written */
    uint64_t in_index;
    uint64_t in_term;
    uint64_t in_len;
    bool installing; /* a handed-out install is not yet durable */
};

struct sim_node {
    uint64_t id;
    bool used;     /* started at least once */
    bool up;       /* running */
    bool gone;     /* removed by a committed configuration and shut down */
    bool member;   /* appeared in a committed configuration */
    unsigned life; /* bumped at every crash: stale events are dropped */
    struct raft *core;
    struct sim_disk disk;
    struct raft_persist *q; /* writes not yet durable, in seq order: the
                               persistent part of updates, copied
                               (raft_persist_copy) */
    size_t q_head;
    size_t q_n;
    size_t q_cap;
    bool writing;
    uint64_t write_seq; /* highest seq of the write in progress */
    uint64_t ack_ms;    /* time of the latest scheduled persisted ack */
    bool slow_disk;
    bool sync; /* writes are durable at once (while bootstrapping) */
    bool hold; /* manual mode: writes wait for cluster_flush_disk() */
    struct sim_sm sm;
    struct sim_view view;
    uint64_t tick_ms;   /* time of the last raft_tick */
    unsigned clock_pct; /* how fast its clock runs, in % of real time */
    uint64_t clock_rem; /* elapsed time not yet ticked, in ms/100 */
    uint8_t role;
    uint64_t leader;
    uint64_t seed_salt;
    /* The log before a snapshot is dropped in steps, as dlockd drops it
     * (raft_compact_some): the snapshot's index and trailing, 0: done. */
    uint64_t compacting;
    uint64_t compact_trailing;
};

/* A message held by the manual network. */
struct sim_held {
    uint64_t from;
    uint64_t to;
    uint8_t type;
    uint8_t *frame;
    size_t len;
};

struct sim_event;
struct check;

struct cluster {
    struct cluster_config cfg;
    struct rng rng;
    uint64_t now_ms;
    struct cluster_net net;
    bool blocked[CLUSTER_MAX_ID + 1][CLUSTER_MAX_ID + 1]; /* from, to */
    struct sim_node nodes[CLUSTER_MAX_ID + 1];
    uint64_t next_id;
    /* Pending events, a binary heap ordered by (at_ms, seq). */
    struct sim_event *ev;
    size_t n_ev;
    size_t cap_ev;
    uint64_t ev_seq;
    uint64_t n_events; /* processed so far */
    struct sim_held *held;
    size_t n_held;
    size_t cap_held;
    uint8_t *scratch; /* codec round-trip buffer */
    size_t scratch_cap;
    struct check *check;
    /* The configuration of the highest committed CONF entry applied. */
    struct raft_conf conf;
    uint64_t conf_index;
    uint64_t next_ctx;                      /* read-index contexts */
    uint64_t n_sent[RAFT_MSG_TYPE_MAX + 1]; /* messages sent, by type */
    bool failed;
    uint64_t fail_ms;
    char failure[768];
};

void cluster_config_default(struct cluster_config *cc, uint64_t seed,
                            unsigned n_voters);

/* Builds the cluster and bootstraps nodes 1..n_voters with one conf. */
struct cluster *cluster_new(const struct cluster_config *cc);
void cluster_free(struct cluster *c);

/* Automatic mode: processes every event due up to t_ms (at least the
 * current time), stopping at the first violation. */
void cluster_run_until(struct cluster *c, uint64_t t_ms);

/* Hands out node n's pending updates and acts on them as the edge does
 * (the calls below do it themselves). */
void cluster_drain(struct cluster *c, struct sim_node *n);

/* The node with this id, or NULL if the id was never used. */
struct sim_node *cluster_node(struct cluster *c, uint64_t id);
/* The running node that is leader in the highest term, 0 if none. */
uint64_t cluster_leader(const struct cluster *c);
/* True if node id is running and a voter or learner of the latest
 * committed configuration. */
bool cluster_is_member(const struct cluster *c, uint64_t id);

/* Client calls on node id (must be up): they call into the core, then hand
 * out its updates. They return the core's result. */
int cluster_propose(struct cluster *c, uint64_t id, const void *data,
                    uint32_t len, uint64_t *index, uint64_t *term);
int cluster_read(struct cluster *c, uint64_t id);
/* What became of the read of context ctx (c->next_ctx after the call). */
enum { CLUSTER_READ_PENDING, CLUSTER_READ_SERVED, CLUSTER_READ_DROPPED };
int cluster_read_outcome(const struct cluster *c, uint64_t ctx);
/* Adds a brand-new server (empty disk, started at once) through node id;
 * *new_id gets its id. */
int cluster_add(struct cluster *c, uint64_t id, bool promote, uint64_t *new_id);
int cluster_remove(struct cluster *c, uint64_t id, uint64_t victim);
int cluster_transfer(struct cluster *c, uint64_t id, uint64_t to);
/* Takes a snapshot of node id's state machine (stored durably at once) and
 * compacts its log keeping `trailing` entries. */
int cluster_snapshot(struct cluster *c, uint64_t id, uint64_t trailing);

/* Crashes node id: its core, state machine and every write not yet durable
 * are lost (with keep_some, a random prefix of them reaches the disk
 * first, as a crash in the middle of a write may leave it). */
void cluster_crash(struct cluster *c, uint64_t id, bool keep_some);
/* Restarts a crashed node from its disk. */
void cluster_restart(struct cluster *c, uint64_t id);
/* Shuts a removed node down for good. */
void cluster_retire(struct cluster *c, uint64_t id);
void cluster_set_slow_disk(struct cluster *c, uint64_t id, bool slow);

/* Partitions: blocks (or unblocks) messages from one node to another. */
void cluster_block(struct cluster *c, uint64_t from, uint64_t to, bool on);
/* Cuts node id off from everyone, both ways. */
void cluster_isolate(struct cluster *c, uint64_t id);
void cluster_heal(struct cluster *c);

/* Manual mode. */
void cluster_tick(struct cluster *c, uint64_t id, uint64_t ms);
/* Delivers, in the order sent, the held messages matching from, to and type
 * (0 matches any); returns how many. max_entries caps the entries of
 * delivered APPENDs (CLUSTER_ALL: no cap), as if the leader had sent fewer. */
#define CLUSTER_ALL UINT32_MAX
size_t cluster_deliver(struct cluster *c, uint64_t from, uint64_t to,
                       uint8_t type, uint32_t max_entries);
/* Delivers every held message, and those they cause, until none is left
 * or `rounds` rounds have passed; returns how many were delivered. */
size_t cluster_pump(struct cluster *c, unsigned rounds);
/* Lets total_ms pass in steps of step_ms: every running node ticks, then
 * everything held is delivered. */
void cluster_settle(struct cluster *c, uint64_t total_ms, uint64_t step_ms);
/* Manual mode: node id's writes stay pending (a crash loses them) until
 * cluster_flush_disk() makes them durable and acknowledges them. */
void cluster_hold_disk(struct cluster *c, uint64_t id, bool on);
void cluster_flush_disk(struct cluster *c, uint64_t id);
/* Drops the held messages matching, returns how many. */
size_t cluster_drop(struct cluster *c, uint64_t from, uint64_t to,
                    uint8_t type);
size_t cluster_n_held(const struct cluster *c, uint64_t from, uint64_t to,
                      uint8_t type);

/* Records a violation (the first one wins) and stops the run. */
void cluster_fail(struct cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline bool cluster_failed(const struct cluster *c)
{
    return c->failed;
}
void cluster_trace(struct cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* What a restart reads back from d: the entries after its snapshot
 * (pointing into d), the last index and the term at index i (false if i is
 * below the snapshot or past the end). */
size_t cluster_disk_entries(const struct sim_disk *d,
                            const struct raft_entry **es);
uint64_t cluster_disk_last(const struct sim_disk *d);
bool cluster_disk_term(const struct sim_disk *d, uint64_t i, uint64_t *term);

/* The digest of an entry's type and data, as the checker records it. */
uint64_t cluster_entry_digest(uint8_t type, const uint8_t *data, uint32_t len);

/* State machine (sm.c). */
void sm_apply(struct sim_sm *sm, const struct raft_entry *e);
/* Serializes sm followed by plen bytes into a malloc'd buffer: those of
 * payload, or padding derived from sm if payload is NULL. */
uint8_t *sm_save(const struct sim_sm *sm, const uint8_t *payload, size_t plen,
                 size_t *len);
/* Parses a snapshot; *payload and *plen get the bytes after the header,
 * which must be the padding if padded. False if malformed. */
bool sm_load(struct sim_sm *sm, const uint8_t *data, size_t len, bool padded,
             const uint8_t **payload, size_t *plen);

#endif
