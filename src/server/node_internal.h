/* node_internal.h - the node's state, shared by its files: node.c (the loop's
 * work: driving the replica, proposals), node_disk.c (persistence and
 * snapshots), node_read.c (reads, keepalives, waits), node_peers.c (the peer
 * transport's callbacks, messages out, the address book, the cluster id) and
 * node_life.c (start, stop). */
#ifndef DLOCK_NODE_INTERNAL_H
#define DLOCK_NODE_INTERNAL_H

#include "lock/replica.h"
#include "server/config.h"
#include "server/datadir.h"
#include "server/node.h"
#include "server/turn.h"
#include "store/store.h"

#define EXPIRE_RETRY_MS 1000 /* an expiry lost is proposed again after */
#define EXPIRE_BATCH 1024    /* sessions in one EXPIRE_BATCH entry */
#define EXPIRE_PER_TURN 8192 /* sessions proposed in one turn of the loop */

/* What a proposal or a wait of the command layer calls back: the (ctx) the
 * replica knows them by (replica.h), freed once called. */
struct node_cb {
    node_apply_cb cb;       /* a command's proposal */
    node_read_cb change_cb; /* a membership change's */
    node_wait_cb wait_cb;   /* a wait's */
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
};

struct node {
    uv_loop_t *loop;
    struct config cfg_copy;
    const struct config *cfg;
    struct raft *raft;
    struct datadir datadir; /* locked for the life of the process */
    struct store *store;
    struct replica *rep; /* the state machine and the leader's part */
    struct peers *peers;
    uv_timer_t timer;
    uv_check_t check;
    uv_idle_t expire_idle; /* runs while due expiries are left over from a
                              turn of the loop (node.c) */
    uint64_t last_tick;
    uint8_t last_role;
    bool flushing;
    /* Expiry waits until the clients' input that reached this server by
     * settle_at has been served (node_set_input_guard). */
    bool settling;
    uint64_t settle_at;
    uint64_t settle_round;
    bool (*input_settled)(void *arg, uint64_t round);
    void *input_arg;
    /* The loop turn's budget (node_set_turn), or NULL; the reads that are
     * ready and over it are completed from reads_idle. */
    struct turn *turn;
    uv_idle_t reads_idle;
    struct {
        struct read_req *v;
        size_t n, cap;
    } reads;
    uint64_t next_read_id;

    /* disk */
    uv_work_t work;
    bool syncing;
    uint64_t buffered_seq; /* highest update seq handed to the store */
    uint64_t reported_seq; /* highest seq reported persisted */
    uint64_t batch_seq;    /* highest seq in the batch in flight */
    uint64_t sync_ns;      /* how long the last batch took to write */
    uint64_t sync_avg_ns;  /* a moving average of it */
    uint64_t syncs;        /* batches synced, for INFO */
    uint64_t entries_synced;
    uint64_t batch_entries; /* entries in the batch in flight */
    bool batch_untimed;     /* its time is not the disk's (node_disk.c) */
    uint64_t buffered_entries;
    uint64_t batch_index;  /* the last index in the batch in flight */
    uint64_t synced_index; /* the last index in the last batch synced */
    uint64_t commit_wait_since;
    /* Gathering the next batch (node_disk.c): client proposals answered
     * since the batch in flight started, proposals made since then, how
     * many to wait for (0: not waiting) and since when. */
    uint32_t answered;
    uint32_t proposed;
    uint32_t gather_target;
    uint64_t gather_since;
    int gather_fd;         /* a timerfd: libuv's timers count whole ms */
    bool gather_armed;     /* it is set to wake the loop */
    bool gathering;        /* the next batch waits, and so do its entries */
    uv_poll_t gather_poll; /* its readability wakes the loop */
    struct raft_persist *deferred; /* an update's persistence, copied
                                      because it waits for the batch in
                                      flight (a snapshot install needs the
                                      store idle; what follows waits behind
                                      it, in order) */
    size_t n_deferred, cap_deferred;
    uint64_t last_snapshot;
    bool snapshotting; /* a child process is writing a snapshot */
    pid_t snap_pid;
    int snap_fd;         /* the read end of its pipe */
    uv_poll_t snap_poll; /* on it */
    char snap_what[48];
    bool sparing; /* the next segment is being made ahead on a worker */
    uv_work_t spare_work;
    struct store_snap_job snap_job;
    struct raft_snapshot_meta snap_meta;
    uint64_t snap_started;
    uint64_t snap_taken_ns; /* the loop held for the fork */
    uint8_t *chunk_buf;
    size_t chunk_cap;

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

/* node_disk.c */
void node_disk_persist(struct node *n, const struct raft_update *u);
void node_disk_start(struct node *n);
void node_disk_snapshot(struct node *n);
bool node_disk_fill_chunk(struct node *n, struct raft_msg *m);
void node_disk_free_deferred(struct node *n);
/* Starts watching the gathering timer. */
void node_disk_init_gather(struct node *n);
/* Stops making the next segment ahead, soon (the node is stopping). */
void node_disk_cancel_spare(struct node *n);
/* Whether the next batch is synced on the loop (the disk is fast). */
bool node_disk_inline(const struct node *n);

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
/* Fixes the cluster id from the log's first entry when it is not known yet
 * and the log still holds that entry. */
void node_derive_cluster_id(struct node *n);

/* node_life.c */
const char *node_member_addr(const struct node *n, uint64_t id);
const char *node_client_addr_of(const struct node *n, uint64_t id);
void node_conf_changed(struct node *n, uint64_t index);
void node_stop_progress(struct node *n);

#endif
