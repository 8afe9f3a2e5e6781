/* node.h - one dlock server's replicated state: the Raft core, its store on
 * disk, the lock state machine and the leader's leases, driven by the libuv
 * loop. The command layer proposes and reads through it.
 *
 * Every callback given to the node is called exactly once: with the outcome,
 * or with an error when the outcome can no longer come (leadership lost,
 * shutdown). A caller whose client went away keeps its context alive until
 * then. */
#ifndef DLOCK_NODE_H
#define DLOCK_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/hist.h"
#include "common/trace.h"
#include "raft/raft.h"
#include "server/disk.h"
#include "server/config.h"
#include "lock/fsm.h"

enum {
    NODE_OK = 0,
    NODE_NOTLEADER = -1, /* not the leader: node_leader_addr() says who is */
    NODE_LOST = -2,      /* the proposal may or may not apply: retry it with
                            its request id */
    NODE_SHUTDOWN = -3,  /* the server is stopping */
    NODE_NOSESSION = -4, /* keepalive: no such session, or its lease ended */
    NODE_BUSY = -5,      /* a membership change or transfer is under way */
    NODE_INVALID = -6,   /* a membership change that cannot be made */
};

struct node; /* opaque */
struct turn;

/* Opens the store in cfg->data, restores the state and starts the Raft
 * peer listener. Returns NULL with a message in err on failure. */
struct node *node_start(uv_loop_t *loop, const struct config *cfg, char *err,
                        size_t errlen);
/* Stops: a leader first hands leadership over (waiting at most an election
 * timeout), then pending callbacks get NODE_SHUTDOWN, the store is synced
 * and closed. done is called once everything is closed; then node_free. */
void node_stop(struct node *n, void (*done)(void *arg), void *arg);
void node_free(struct node *n);

typedef void (*node_apply_cb)(void *ctx, int status,
                              const struct fsm_result *res);
/* Proposes cmd (its `now` is stamped here) and calls cb once the entry has
 * applied (status NODE_OK and the result) or can no longer apply as
 * proposed. NODE_NOTLEADER at once (cb not called) on a follower,
 * NODE_INVALID for a command that does not encode (a string over its
 * limit). */
int node_propose(struct node *n, struct fsm_cmd *cmd, node_apply_cb cb,
                 void *ctx);
/* A client request's first stamps (uv_hrtime) for its trace: when the turn
 * of the loop that read it woke, and when it was parsed. */
struct node_trace_in {
    uint64_t woke_ns, recv_ns;
};
/* node_propose, and the request's steps are traced (node_traces). */
int node_propose_traced(struct node *n, struct fsm_cmd *cmd, node_apply_cb cb,
                        void *ctx, const struct node_trace_in *in);

typedef void (*node_read_cb)(void *ctx, int status);
/* Calls cb with NODE_OK once a linearizable read of the state machine may
 * be served (ReadIndex confirmed and applied), or with an error. */
int node_read(struct node *n, node_read_cb cb, void *ctx);

typedef void (*node_wait_cb)(void *ctx, const struct fsm_event *ev, int status);
/* Attaches cb to the waiter created by the ACQUIRE at index: called with its
 * FSM_EV_GRANTED, FSM_EV_TIMEOUT or FSM_EV_CANCELED event, or with status
 * NODE_NOTLEADER/NODE_SHUTDOWN (ev NULL) when this server stops leading (the
 * client re-attaches at the new leader by retrying with its request id).
 * Returns a handle for node_wait_detach. */
void *node_wait_attach(struct node *n, uint64_t index, node_wait_cb cb,
                       void *ctx);
/* Detaches a wait (its client went away): cb is not called. True if no
 * other client waits on it here: the caller then gives it up
 * (node_unwait). */
bool node_wait_detach(struct node *n, void *handle);
/* The client of a blocking ACQUIRE went away without learning its outcome
 * (docs/protocol.md §4): cmd is an FSM_UNWAIT naming that ACQUIRE's index,
 * session (for a lease lock, its own), name and req. At the end of this
 * turn of the loop the leader proposes it, with --wait-grace-ms for a wait
 * with a req and the last answer about the wait it knows of (a wait
 * repeated since is left alone); its wait ends, or a grant nobody learnt
 * is taken back. Nothing on a server that does not lead: the next leader
 * gives up every wait it finds (index 0: every queued wait, which
 * becoming ready does). */
void node_unwait(struct node *n, const struct fsm_cmd *cmd);

typedef void (*node_keepalive_cb)(void *ctx, int status, uint64_t ttl);
/* Renews a session's lease: once leadership is confirmed the lease runs
 * ttl from the moment of the call, and cb gets the ttl; NODE_NOSESSION as
 * status for an unknown session or one whose expiry has been proposed. A
 * lease past its end whose expiry has not been proposed is renewed: the
 * keepalive may have waited in a socket (node_set_input_guard), and nobody
 * else can hold the session's locks before its expiry commits. */
int node_keepalive(struct node *n, uint64_t session, node_keepalive_cb cb,
                   void *ctx);

/* The state machine, for reads in a node_read callback. */
const struct fsm *node_fsm(const struct node *n);
/* The cluster time (docs/design.md §11) on this server now. */
uint64_t node_now(const struct node *n);
/* The cluster time as this server can tell it, for what it shows (how
 * long a name is held): the leader's is node_now's; another server's, the
 * time of the last entry it applied plus what its clock counted since. */
uint64_t node_view_now(const struct node *n);
/* On the leader: the sessions whose leases end soonest, soonest first, at
 * most max (lease.h: the cost is bounded, whatever their number). */
size_t node_leases_nearest(const struct node *n, uint64_t *ids, size_t max);
/* Lease left for a session on the leader, in ms (0 if unknown). */
uint64_t node_lease_left(const struct node *n, uint64_t session);
/* The leader's client address, or NULL if none is known. */
const char *node_leader_addr(const struct node *n);
bool node_is_leader(const struct node *n);

/* A leader expires a session only after a poll of the sockets that followed
 * the moment its lease was found over (docs/design.md §12), and then only
 * when settled(arg, round) says that every request that had reached this
 * server by then has been served: a keepalive that waited in a socket while
 * the loop was busy renews the lease instead. settled is asked with a new
 * round number when expiries become due, then with the same number until it
 * answers true. Without a guard (NULL), the poll is enough. */
/* The budget of a loop turn (turn.h) that completing reads counts in: the
 * reads confirmed together (a ReadIndex round answers many at once, and a
 * LOCK.LIST may take milliseconds) are completed within it, the rest in the
 * next turns. NULL: all at once. */
void node_set_turn(struct node *n, struct turn *t);

/* Replaces the peer port's TLS contexts (peers_set_tls), which the node
 * then owns: its certificates reloaded on SIGHUP. */
struct tls_ctx;
void node_set_peer_tls(struct node *n, struct tls_ctx *accept,
                       struct tls_ctx *connect);

/* fn(arg, since, revision, changes, n) after each normal entry applies:
 * what became of the holds (fsm_changes, n may be 0), for watches; since
 * is the index of the snapshot the machine was last restored from
 * (replica_restored), before which this server applied nothing. A
 * restore is also told at once, with no changes and revision = since: at
 * this call if the machine was restored at the start, and when a
 * snapshot from the leader is installed. */
void node_set_changes(struct node *n,
                      void (*fn)(void *arg, uint64_t since, uint64_t revision,
                                 const struct fsm_change *ch, size_t count),
                      void *arg);
void node_set_input_guard(struct node *n,
                          bool (*settled)(void *arg, uint64_t round),
                          void *arg);

/* Membership. cb gets NODE_OK once the change is committed. */
int node_add(struct node *n, uint64_t id, const char *raft_addr,
             node_read_cb cb, void *ctx);
int node_remove(struct node *n, uint64_t id, node_read_cb cb, void *ctx);

struct node_member {
    uint64_t id;
    uint8_t role; /* RAFT_VOTER or RAFT_LEARNER */
    const char *raft_addr;
    const char *client_addr; /* "" when not known yet */
    uint64_t match;          /* on the leader: its match index */
    uint64_t heard_ms_ago;   /* since its last message to this server (on
                                the leader, since this server started
                                when it never sent one); UINT64_MAX: this
                                server, or on a follower another than the
                                leader (followers hear only the leader) */
};
struct node_info {
    uint64_t id;
    uint8_t role;
    uint64_t term;
    uint64_t leader;
    uint64_t commit;
    uint64_t applied;
    uint64_t last_index;
    uint64_t snapshot_index;
    uint64_t sync_avg_us;    /* the log's write + fsync per batch, averaged */
    bool sync_inline;        /* synced on the loop (fast) or on a worker */
    uint64_t syncs;          /* batches written and synced since the start */
    uint64_t entries_synced; /* entries in them */
    unsigned n_members;
    struct node_member members[RAFT_MAX_SERVERS];
};
void node_info(const struct node *n, struct node_info *info);

/* What the node counted since it started, for metrics (metrics.h). */
struct node_metrics {
    uint64_t leader_changes; /* a new leader known (not: none known) */
    uint64_t elections;      /* times this server stood as a candidate */
    uint64_t proposed;       /* client commands proposed as leader */
    uint64_t committed;      /* of them, applied with their result */
    uint64_t failed;        /* not applied as proposed: leadership lost, a place
                               taken, the server stopping */
    struct hist commit_us;  /* proposal to result, of those committed */
    uint64_t leader_commit; /* the cluster's commit index as last heard */
    uint64_t behind_ms;     /* how long a commit index it heard has stayed
                               unapplied, 0: none */
    struct disk_stats disk; /* node_metrics fills it */
};
/* The node's metrics, the disk's statistics refreshed. */
const struct node_metrics *node_metrics(struct node *n);

/* Where requests' time went (common/trace.h; docs/operations.md, "Where a
 * request's time goes"), since the start or the last node_traces_reset.
 * The leader traces each client write it proposed, from the turn of the
 * loop that read it to its reply (NODE_TRACE_STAMPS); a follower each
 * append of entries from the leader, to its acknowledgement
 * (NODE_FTRACE_STAMPS). */
enum {
    NODE_TRACE_WOKE,      /* the loop turn that read the request woke */
    NODE_TRACE_READ,      /* it was parsed */
    NODE_TRACE_PROPOSED,  /* its entry was proposed */
    NODE_TRACE_WRITE,     /* the log write carrying it started */
    NODE_TRACE_SYNCED,    /* that write was durable here */
    NODE_TRACE_ACKED,     /* a follower acknowledged the entry */
    NODE_TRACE_COMMITTED, /* the commit was seen */
    NODE_TRACE_APPLIED,   /* it applied */
    NODE_TRACE_REPLIED,   /* the reply went to the socket */
    NODE_TRACE_STAMPS
};
enum {
    NODE_FTRACE_WOKE,     /* the loop turn that read the append woke */
    NODE_FTRACE_RECEIVED, /* it was handed to Raft */
    NODE_FTRACE_WRITE,    /* the log write carrying its entries started */
    NODE_FTRACE_SYNCED,   /* that write was durable */
    NODE_FTRACE_ACKED,    /* the acknowledgement was sent */
    NODE_FTRACE_STAMPS
};
extern const char *const node_trace_names[NODE_TRACE_STAMPS];
extern const char *const node_ftrace_names[NODE_FTRACE_STAMPS];
const struct tracer *node_traces(const struct node *n, bool follower);
void node_traces_reset(struct node *n);

#endif
