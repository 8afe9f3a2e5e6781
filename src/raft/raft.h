/* raft.h - a pure Raft core: no I/O, no clock reads, no threads.
 *
 * The core is driven by its caller (the "edge"): messages received, elapsed
 * time, proposals and disk completions go in as function calls; what must
 * happen comes out as a struct raft_update (state to persist, messages to
 * send, committed entries to apply, reads that may be served). The design and
 * the reasons behind each rule are in docs/design.md; section numbers refer to
 * the Raft paper (Ongaro & Ousterhout 2014) and dissertation (Ongaro 2014).
 *
 * Contract of the edge, in one loop iteration:
 *   1. feed inputs: raft_step(), raft_tick(), raft_propose(), ...
 *   2. while raft_has_update(): raft_update(&u), then
 *        - start persisting u's hard state, snapshot chunk and entries (in
 *          that order, and in the order of u.seq across updates); when all of
 *          it is durable call raft_persisted(u.seq). One fsync may cover many
 *          updates: report the highest seq it covers.
 *        - send u.msgs (they never depend on state not yet durable);
 *        - apply u.committed in order; serve u.reads once applied.
 *   Everything an update points to is valid until the next call into the core.
 */
#ifndef DLOCK_RAFT_H
#define DLOCK_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes of the core. */
enum {
    RAFT_ENOTLEADER = -1, /* not the leader; raft_leader() tells who is */
    RAFT_EBUSY = -2,      /* a change or transfer is in progress: retry later */
    RAFT_EINVAL = -3,     /* bad argument */
    RAFT_ECORRUPT = -4,   /* inconsistent restored state or message */
};

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRECANDIDATE = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 1, /* the application's command */
    RAFT_ENTRY_NOOP = 2,   /* appended by a new leader, Raft §5.4.2 / §8 */
    RAFT_ENTRY_CONF = 3,   /* a configuration, data = raft_conf_encode() */
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type;
    uint32_t len;
    uint8_t *data; /* owned by whoever owns the entry; len bytes */
};

/* What the peer codec adds to each entry's data in an APPEND (term, index,
 * type, length: src/raft/wire.h). max_msg_bytes counts it, so that an
 * APPEND of many small or empty entries stays within the bound too, and the
 * transport can refuse a frame much larger (src/server/peer.c). */
#define RAFT_ENTRY_OVERHEAD 21

/* The largest term and index the core accepts or reaches. A message that
 * carries a larger one is malformed and ignored, so that no message can push
 * a server's term (stored durably) to where it can no longer be incremented;
 * a server at RAFT_MAX_TERM no longer campaigns, one whose log reaches
 * RAFT_MAX_INDEX takes no more proposals. At one election a millisecond the
 * term bound lasts about 8,900 years; at a million entries a second the
 * index bound about 2,280 years. docs/design.md "Terms and indexes". */
#define RAFT_MAX_TERM (1ull << 48)
#define RAFT_MAX_INDEX (1ull << 56)

/* Membership, dissertation §4. A learner receives the log but neither votes
 * nor counts toward a majority; a learner with promote set is made a voter
 * by the leader once it has caught up with the commit index. */
#define RAFT_MAX_SERVERS 16
#define RAFT_ADDR_MAX 64

enum raft_server_role { RAFT_VOTER = 1, RAFT_LEARNER = 2 };

struct raft_server {
    uint64_t id; /* non-zero */
    uint8_t role;
    bool promote;
    char addr[RAFT_ADDR_MAX]; /* NUL-terminated, opaque to the core */
};

struct raft_conf {
    unsigned n;
    struct raft_server servers[RAFT_MAX_SERVERS];
};

struct raft_snapshot_meta {
    uint64_t index;
    uint64_t term;
    struct raft_conf conf;
};

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,
    RAFT_MSG_APPEND_RESP = 2,
    RAFT_MSG_VOTE = 3,
    RAFT_MSG_VOTE_RESP = 4,
    RAFT_MSG_PREVOTE = 5,
    RAFT_MSG_PREVOTE_RESP = 6,
    RAFT_MSG_HEARTBEAT = 7,
    RAFT_MSG_HEARTBEAT_RESP = 8,
    RAFT_MSG_SNAPSHOT = 9,
    RAFT_MSG_SNAPSHOT_RESP = 10,
    RAFT_MSG_TIMEOUT_NOW = 11,
};
#define RAFT_MSG_TYPE_MAX 11

/* One flat message; which fields count depends on the type:
 *   APPEND          index = prev log index, log_term = prev log term,
 *                   commit, entries/n_entries
 *   APPEND_RESP     reject; index = match index (accepted) or the rejected
 *                   prev index; hint/hint_term = follower's backtrack hint
 *   VOTE, PREVOTE   index/log_term = candidate's last log index and term;
 *                   transfer = campaign ordered by TIMEOUT_NOW
 *   *VOTE_RESP      reject
 *   HEARTBEAT       commit, ctx (read-index round)
 *   HEARTBEAT_RESP  ctx echoed
 *   SNAPSHOT        index/log_term = snapshot's last index and term, offset,
 *                   data/len (one chunk), last (final chunk), conf (with
 *                   last). An outgoing chunk is emitted with data == NULL and
 *                   len = the most bytes wanted: the edge fills data and len
 *                   from its snapshot file of that index, sets last when the
 *                   chunk reaches the end, or drops the message when it has
 *                   no such snapshot (the leader retries later).
 *   SNAPSHOT_RESP   index = snapshot index, offset = next offset wanted,
 *                   reject (restart from 0), last (fully installed)
 *   TIMEOUT_NOW     (no fields): start an election now, dissertation §3.10
 */
struct raft_msg {
    uint8_t type;
    bool reject;
    bool transfer;
    bool last;
    /* Not on the wire: set by the edge when the sender is of this
     * server's cluster as far as it can tell (dlockd: its peer hello
     * carried this cluster's id, or this server does not know the id yet,
     * as when it joins). Only then may a server that is not a voter of the
     * configuration raise this server's term, with a leader's message or a
     * member's answer (raft_step). */
    bool same_cluster;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t index;
    uint64_t log_term;
    uint64_t commit;
    uint64_t hint;
    uint64_t hint_term;
    uint64_t ctx;
    uint64_t offset;
    struct raft_entry *entries;
    uint32_t n_entries;
    uint32_t len;
    const uint8_t *data;
    struct raft_conf conf;
};

/* A linearizable read may be served once the state machine has applied
 * index, dissertation §6.4. ctx is the caller's value from raft_read_index. */
struct raft_read {
    uint64_t ctx;
    uint64_t index;
};

/* What an update asks to persist, in this order, before raft_persisted(r,
 * seq): the hard state, a snapshot chunk, entries. An edge that must hold
 * it beyond the update (a batch in flight, a simulated disk) copies it with
 * raft_persist_copy. */
struct raft_persist {
    /* seq is 0 when there is nothing to persist. */
    uint64_t seq;
    bool hs_changed;
    uint64_t term; /* current term and vote, to store atomically */
    uint64_t vote;
    /* One snapshot chunk received from the leader, persisted after the hard
     * state and before the entries: write len bytes at offset of the incoming
     * snapshot (index, term); offset 0 starts a new one. With last set, once
     * the chunk is written, make the snapshot durable, replace the stored log
     * with it (drop every stored entry) and restore the state machine from
     * it, all before calling raft_persisted(seq). Entries of the same update
     * come after the snapshot and are kept. */
    bool chunk;
    uint64_t chunk_index;
    uint64_t chunk_term;
    uint64_t chunk_offset;
    const uint8_t *chunk_data;
    uint32_t chunk_len;
    bool chunk_last;
    struct raft_snapshot_meta chunk_meta; /* valid with chunk_last */
    /* Entries to append, after the chunk. When entries[0].index is not past
     * the last entry already stored, the stored log is first cut to
     * entries[0].index-1. */
    struct raft_entry *entries;
    size_t n_entries;
};

/* A copy of src into dst that owns its chunk's bytes and its entries (and
 * their data). Aborts on out-of-memory, as the core does. */
void raft_persist_copy(struct raft_persist *dst,
                       const struct raft_persist *src);
/* Frees what a copy owns; p is left empty. Accepts an empty one. */
void raft_persist_free(struct raft_persist *p);

struct raft_update {
    /* Persist, in this order, then call raft_persisted(r, persist.seq). */
    struct raft_persist persist;

    /* Send now. */
    struct raft_msg *msgs;
    size_t n_msgs;

    /* Apply, in order. */
    struct raft_entry *committed;
    size_t n_committed;

    /* Serve once the state machine has applied read.index. */
    struct raft_read *reads;
    size_t n_reads;
    /* Reads that can no longer be confirmed (leadership lost): fail them. */
    uint64_t *dropped_reads;
    size_t n_dropped_reads;

    /* The state after this update. */
    bool role_changed;
    uint8_t role;
    uint64_t leader;
    uint64_t commit;
};

struct raft_config {
    uint64_t id;                 /* this server's id, non-zero */
    uint64_t election_ms;        /* election timeout base: random in [e, 2e) */
    uint64_t heartbeat_ms;       /* leader heartbeat interval, < election_ms */
    uint32_t max_msg_bytes;      /* bytes of entries in one APPEND, each
                                    counted with RAFT_ENTRY_OVERHEAD besides
                                    its data (at least one entry) */
    uint32_t max_inflight_msgs;  /* pipelined APPENDs per follower */
    uint64_t max_inflight_bytes; /* entry bytes in flight per follower */
    uint32_t chunk_bytes;        /* snapshot chunk size */
    uint64_t seed;               /* seeds the election timeout PRNG */
    bool no_pre_vote;            /* tests only: disable PreVote, §9.6 */
    bool no_check_quorum;        /* tests only: disable CheckQuorum */
};

/* Fills c with the defaults for server id (election 1000 ms, heartbeat
 * 100 ms, 1 MiB messages, 256 in flight, 8 MiB in flight, 1 MiB chunks). */
void raft_config_default(struct raft_config *c, uint64_t id);

struct raft; /* opaque */

/* Allocates a core for c (copied). Aborts on out-of-memory. Returns NULL if c
 * is invalid (zero id, heartbeat not below election timeout, zero limits). */
struct raft *raft_new(const struct raft_config *c);
void raft_free(struct raft *r);

/* Restores what was read back from storage, once, before any other input:
 * the hard state, the latest snapshot's meta (NULL if none) and the entries
 * stored after it (copied). Entries must be consecutive and start right after
 * the snapshot. The state machine must already hold the snapshot. Returns
 * RAFT_ECORRUPT if the pieces do not fit together or a term or index is past
 * RAFT_MAX_TERM or RAFT_MAX_INDEX (the edge checks the term first, to say
 * what to do: docs/operations.md). */
int raft_restore(struct raft *r, uint64_t term, uint64_t vote,
                 const struct raft_snapshot_meta *snap,
                 const struct raft_entry *entries, size_t n);

/* Starts a brand-new cluster: every initial server calls this with the same
 * conf on an empty store. Emits term 1 and a configuration entry at index 1
 * to persist. RAFT_EINVAL if the store is not empty or conf is invalid. */
int raft_bootstrap(struct raft *r, const struct raft_conf *conf);

/* Feeds one received message (borrowed). Messages not addressed to this
 * server, malformed or stale ones are ignored: returns RAFT_EINVAL or
 * RAFT_ECORRUPT then, 0 otherwise; the core stays consistent either way.
 * Malformed includes a term past RAFT_MAX_TERM or an index past
 * RAFT_MAX_INDEX. A message of a higher term than this server's is taken
 * only from a voter of its configuration, or, by a server that does not
 * campaign (joining, a learner, removed), from a leader's APPEND, HEARTBEAT
 * or SNAPSHOT of anyone; otherwise it is ignored with RAFT_EINVAL. So an
 * outsider, a removed server or a learner cannot change the term of a voter
 * (nor, through a learner's answers, of its leader). A voter whose log lags
 * behind a leader it does not list yet learns the term from the voters it
 * campaigns with, and then takes that leader's messages, which no longer
 * raise its term. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Advances the core's clock by ms milliseconds. */
void raft_tick(struct raft *r, uint64_t ms);

/* Appends a command of type RAFT_ENTRY_NORMAL (data copied) on the leader and
 * stores its index in *index. RAFT_ENOTLEADER on a non-leader, RAFT_EBUSY
 * during a leadership transfer, RAFT_EINVAL for bad data or a log that has
 * reached RAFT_MAX_INDEX. The entry commits or is lost with the term:
 * check the applied entry's term (raft_update.committed) against *term. */
int raft_propose(struct raft *r, const void *data, uint32_t len,
                 uint64_t *index, uint64_t *term);

/* Reports that the updates up to seq are durable. */
void raft_persisted(struct raft *r, uint64_t seq);

/* Asks for a linearizable read point; the answer comes as a raft_read with
 * the same ctx in a later update (or ctx in dropped_reads).
 * RAFT_ENOTLEADER on a non-leader. */
int raft_read_index(struct raft *r, uint64_t ctx);

/* Membership changes, one server at a time (dissertation §4.1). Each appends
 * a configuration entry; RAFT_EBUSY while an earlier one is uncommitted.
 * raft_add adds id as a learner that is promoted to voter once caught up
 * (promote false: stays a learner). raft_remove removes any server, the
 * leader included (it steps down once the change commits). */
int raft_add(struct raft *r, uint64_t id, const char *addr, bool promote);
int raft_remove(struct raft *r, uint64_t id);

/* Hands leadership to id (0: the most up-to-date voter), dissertation §3.10.
 * Proposals get RAFT_EBUSY until it succeeds or an election timeout passes. */
int raft_transfer(struct raft *r, uint64_t id);

/* raft_compact tells the core that the state machine's state up to index
 * (at most the applied index) is durably snapshotted: the log before it may
 * be dropped, keeping `trailing` entries for followers slightly behind.
 * raft_snapshot_meta fills *meta with what the snapshot file must record;
 * call it before writing the file.
 *
 * The applied index may be past the entries this server has itself made
 * durable (others committed them), so a stored log may hold, after the
 * snapshot's index, a stale tail of an earlier term. On recovery the store
 * must keep the entries after a snapshot (index, term) only when its log
 * holds that same (index, term), or when they were appended after the
 * snapshot was installed from a leader (which replaces the whole log). */
int raft_snapshot_meta(const struct raft *r, uint64_t index,
                       struct raft_snapshot_meta *meta);
int raft_compact(struct raft *r, uint64_t index, uint64_t trailing);
/* raft_compact that drops at most max entries of those it would drop, the
 * oldest first, so that an edge may spread the freeing of a long log over
 * turns of its loop: called again with the same index and trailing, it
 * drops the next ones. Returns 1 while some are left to drop, 0 once none
 * are, or raft_compact's error. */
int raft_compact_some(struct raft *r, uint64_t index, uint64_t trailing,
                      uint64_t max);

bool raft_has_update(const struct raft *r);
void raft_update(struct raft *r, struct raft_update *u);

/* Read-only views. */
uint64_t raft_id(const struct raft *r);
uint8_t raft_role(const struct raft *r);
uint64_t raft_leader(const struct raft *r); /* 0 when unknown */
uint64_t raft_term(const struct raft *r);
uint64_t raft_vote(const struct raft *r);
uint64_t raft_commit_index(const struct raft *r);
/* The cluster's commit index as this server last heard it: a leader's own;
 * a follower's, the largest a leader told it (which its own commit index
 * may not reach yet, while its log lags). */
uint64_t raft_leader_commit(const struct raft *r);
uint64_t raft_applied_index(const struct raft *r); /* handed out to apply */
uint64_t raft_last_index(const struct raft *r);
uint64_t raft_first_index(const struct raft *r); /* first entry in memory */
uint64_t raft_snapshot_index(const struct raft *r);
/* Term of the entry at index, 0 if unknown (compacted or past the end). */
uint64_t raft_term_at(const struct raft *r, uint64_t index);
/* The entry at index, or NULL if not in memory. */
const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index);
const struct raft_conf *raft_conf(const struct raft *r);
/* The role of id in the current configuration, or 0 if not a member. */
uint8_t raft_conf_role(const struct raft_conf *c, uint64_t id);
/* For the leader: whether it is sending a snapshot to some follower. A
 * new local snapshot would restart that transfer, so the edge waits. */
bool raft_sending_snapshot(const struct raft *r);
/* For the leader: the match index it knows for id (0 when unknown). */
uint64_t raft_match_index(const struct raft *r, uint64_t id);
const char *raft_role_name(uint8_t role);

/* Configuration codec (the payload of RAFT_ENTRY_CONF), little-endian:
 *   u32 n, then n times: u64 id, u8 role, u8 promote, u16 addr_len, addr.
 * encode returns the bytes needed (writes nothing past cap); decode returns
 * 0 or RAFT_ECORRUPT for anything malformed (bad role, zero or duplicate id,
 * too many servers, address too long, trailing bytes). */
size_t raft_conf_encode(const struct raft_conf *c, uint8_t *buf, size_t cap);
int raft_conf_decode(struct raft_conf *c, const uint8_t *buf, size_t len);
/* 0 if c is a valid configuration (ids non-zero and distinct, roles known,
 * addresses terminated), RAFT_EINVAL otherwise. */
int raft_conf_check(const struct raft_conf *c);

#endif
