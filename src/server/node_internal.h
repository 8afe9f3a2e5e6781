/* node_internal.h - the node's state, shared by its files: node.c (the
 * loop's work: driving the replica and the disk, proposals), node_read.c
 * (reads, keepalives, waits), node_peers.c (the peer transport's callbacks,
 * messages out, the address book, the cluster id) and node_life.c (start,
 * stop). The disk, group commit and snapshots are a module of their own
 * (disk.h). */
#ifndef DLOCK_NODE_INTERNAL_H
#define DLOCK_NODE_INTERNAL_H

#include "lock/replica.h"
#include "server/config.h"
#include "server/datadir.h"
#include "server/disk.h"
#include "server/node.h"
#include "server/turn.h"

#define EXPIRE_RETRY_MS 1000  /* an expiry lost is proposed again after */
#define EXPIRE_BATCH 1024     /* sessions in one EXPIRE_BATCH entry */
#define EXPIRE_PER_TURN 8192  /* sessions proposed in one turn of the loop */
#define NODE_ACKS_KEPT 256    /* followers' acknowledgements, for traces */
#define NODE_APPENDS_KEPT 256 /* appends not acknowledged yet, for traces */

/* What a proposal or a wait of the command layer calls back: the (ctx) the
 * replica knows them by (replica.h), freed once called. */
struct node_cb {
    node_apply_cb cb;          /* a command's proposal */
    uint64_t proposed_ns;      /* its uv_hrtime, for the commit latency */
    bool traced;               /* a client's write: woke_ns and recv_ns hold */
    uint8_t what;              /* its command's type */
    uint64_t woke_ns, recv_ns; /* its trace's first stamps */
    uint64_t index;            /* its entry's */
    node_read_cb change_cb;    /* a membership change's */
    node_wait_cb wait_cb;      /* a wait's */
    void *ctx;
    void *handle; /* the wait's in the replica */
};

enum { READ_PLAIN = 1, READ_KEEPALIVE = 2 };

struct read_req {
    uint64_t id;    /* the ReadIndex context */
    uint64_t index; /* the read point, once confirmed */
    bool confirmed;
    uint8_t kind;
    uint64_t session; /* keepalive */
    uint64_t at;      /* keepalive: cluster time when asked */
    node_read_cb cb;
    node_keepalive_cb kcb;
    void *ctx;
};

/* What a peer told of itself in its hello. */
struct client_addr {
    uint64_t id;
    char addr[CONFIG_ADDR_MAX];    /* its client address */
    char raft_addr[RAFT_ADDR_MAX]; /* its peer address */
    uint64_t cluster_id;           /* from its hello, 0 if none */
    uint64_t heard_ms;             /* uv_now of its last message, 0: none */
};

struct node {
    uv_loop_t *loop;
    struct config cfg_copy;
    const struct config *cfg;
    struct raft *raft;
    struct datadir datadir; /* locked for the life of the process */
    struct replica *rep;    /* the state machine and the leader's part */
    struct peers *peers;
    uv_timer_t timer;
    uv_check_t check;
    uv_idle_t expire_idle; /* runs while due expiries are left over from a
                              turn of the loop (node.c) */
    uint64_t last_tick;
    uint64_t started_ms;    /* uv_now at the start, for contacts never made */
    uint64_t behind_target; /* a commit index heard and not applied yet,
                               0: none */
    uint64_t behind_since;  /* uv_now when it was heard */
    uint64_t applied_ms;    /* uv_now when the last normal entry applied */
    uint8_t last_role;
    bool flushing;
    /* Expiry waits until the clients' input that reached this server by
     * settle_at has been served (node_set_input_guard). */
    bool settling;
    uint64_t settle_at;
    uint64_t settle_round;
    bool (*input_settled)(void *arg, uint64_t round);
    void *input_arg;
    void (*on_changes)(void *arg, uint64_t since, uint64_t revision,
                       const struct fsm_change *ch, size_t count);
    void *changes_arg;
    uint64_t told_restored; /* the restore on_changes last had */
    /* The loop turn's budget (node_set_turn), or NULL; the reads that are
     * ready and over it are completed from reads_idle. */
    struct turn *turn;
    uv_idle_t reads_idle;
    struct {
        struct read_req *v;
        size_t n, cap;
    } reads;
    uint64_t next_read_id;

    struct disk *disk; /* the log, group commit and snapshots (disk.h) */
    struct node_metrics metrics;
    /* Traces (node_traces): the leader's of client writes, with when each
     * follower acknowledgement came (a ring), and the commit of the update
     * being applied; a follower's of appends from the leader, those not
     * acknowledged yet in a ring. */
    struct tracer trace;
    struct tracer ftrace;
    uint64_t commit_ns;
    struct {
        uint64_t match, at_ns;
    } acks[NODE_ACKS_KEPT];
    unsigned n_acks; /* ever */
    struct {
        uint64_t last, woke_ns, recv_ns;
    } appends[NODE_APPENDS_KEPT];
    unsigned appends_head, appends_tail; /* tail - head are unacknowledged */
    uint64_t last_leader; /* the leader of the last update, 0: none */

    struct client_addr addrs[2 * RAFT_MAX_SERVERS];
    unsigned n_addrs;

    /* stop */
    bool stopping;
    bool transferring; /* stopping: leadership is being handed over */
    bool closed;
    uint64_t stop_started;
    unsigned open_handles;
    void (*stop_done)(void *arg);
    void *stop_arg;
};

/* node.c */
uint64_t node_cluster_now(const struct node *n);
void node_kick(struct node *n);
void node_lost_leadership(struct node *n, int status);
/* Calls back the proposals and waits the replica completed. */
void node_deliver(struct node *n);
struct node_cb *node_new_cb(void *ctx);
void node_on_check(uv_check_t *h);
void node_on_tick(uv_timer_t *h);
/* Proposes the expiries left over from the last turn of the loop. */
void node_on_expire_idle(uv_idle_t *h);

/* node_read.c */
void node_read_update(struct node *n, const struct raft_update *u);
void node_read_done(struct node *n, struct read_req *r, int status);
void node_read_fail_all(struct node *n, int status);
/* Proposes the UNWAITs decided since the last call (at the end of a turn
 * of the loop); forgets them when this server no longer leads. */
void node_unwait_flush(struct node *n);

/* node_peers.c */
struct peers_cbs node_peer_cbs(void);
void node_send_msgs(struct node *n, const struct raft_update *u);
/* When a follower first acknowledged index, since since_ns (0: not
 * known). */
uint64_t node_acked_at(const struct node *n, uint64_t index, uint64_t since_ns);
/* Fixes the cluster id from the log's first entry when it is not known yet
 * and the log still holds that entry. */
void node_derive_cluster_id(struct node *n);

/* node_life.c */
const char *node_member_addr(const struct node *n, uint64_t id);
const char *node_client_addr_of(const struct node *n, uint64_t id);
void node_conf_changed(struct node *n, uint64_t index);
void node_stop_progress(struct node *n);

#endif
