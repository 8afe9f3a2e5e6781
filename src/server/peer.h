/* peer.h - the Raft transport between servers: TCP on libuv, frames of the
 * peer codec (src/raft/wire.h).
 *
 * Each server keeps one outbound connection to each other member and sends
 * on it; it receives on the connections the others open to it. A
 * connection starts with a hello (src/raft/hello.h): the sender's id, the
 * receiver's id, the sender's data directory id and process nonce (checked
 * by peerids.h: one process and one data directory per id), the sender's
 * client address (so that followers can redirect clients to the leader) and
 * its peer address (so that a server that joined, and does not know the
 * configuration yet, can answer). A receiver that refuses a sender says why
 * on the connection (a refusal) and closes it. Messages
 * to a peer that is down or slow are dropped past a bound: Raft retransmits
 * what matters.
 *
 * The peer port is bounded (docs/operations.md, "The peer port"): at most
 * PEERS_PENDING_MAX connections not yet through their hello (past it the
 * oldest is closed), each closed if its hello is not complete within
 * PEERS_HELLO_MS or not a hello within HELLO_MAX_SIZE bytes; at most
 * PEERS_PER_ID_MAX connections from one server id and PEERS_OTHERS_MAX from
 * ids that are not members (past either, the oldest such is closed); a
 * frame announcing more than PEERS_MAX_FRAME bytes closes its connection
 * before anything is buffered; a connection that brings nothing for
 * PEERS_IDLE_MS is closed. A sender closes its own connection after
 * PEERS_IDLE_MS / 2 with nothing to send and connects again at its next
 * message, so that the receivers' timeout closes only what no server uses.
 * So the peer port holds at most PEERS_PENDING_MAX + RAFT_MAX_SERVERS *
 * PEERS_PER_ID_MAX + PEERS_OTHERS_MAX descriptors, whatever it is sent. */
#ifndef DLOCK_PEER_H
#define DLOCK_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "raft/raft.h"

#define PEERS_PENDING_MAX 8
#define PEERS_PER_ID_MAX 2
#define PEERS_OTHERS_MAX 2
#define PEERS_HELLO_MS 5000
#define PEERS_IDLE_MS 60000
/* Four times the largest frame a server sends: an APPEND holds at most
 * raft_config.max_msg_bytes (1 MiB) of entries with their headers, or one
 * entry (a command of at most a few KiB); a SNAPSHOT chunk holds
 * chunk_bytes (1 MiB) and a configuration. */
#define PEERS_MAX_FRAME (4u << 20)
/* The most descriptors the peer transport holds: inbound connections
 * waiting for their hello, from each other member, from non-members; one
 * outbound connection to each other member. */
#define PEERS_MAX_FDS                                                          \
    (PEERS_PENDING_MAX + PEERS_PER_ID_MAX * (RAFT_MAX_SERVERS - 1) +           \
     PEERS_OTHERS_MAX + (RAFT_MAX_SERVERS - 1))

struct peers; /* opaque */
struct tls_ctx;

struct peers_cbs {
    /* A message arrived (borrowed for the call). */
    void (*recv)(void *arg, const struct raft_msg *m);
    /* A peer introduced itself with its client and peer addresses and its
     * cluster id (0 if it gave none). */
    void (*hello)(void *arg, uint64_t id, const char *client_addr,
                  const char *raft_addr, uint64_t cluster_id);
    /* Peer id refused to hear this server, saying why (another process
     * runs with this server's id, or this data directory is not the one the
     * id was first seen with). May be NULL. */
    void (*refused)(void *arg, uint64_t id, const char *why);
    /* Whether id is in this server's configuration (its connections count
     * against PEERS_PER_ID_MAX, others' against PEERS_OTHERS_MAX). May be
     * NULL: every id is then a member. */
    bool (*member)(void *arg, uint64_t id);
};

/* Creates the transport of server id running on the data directory
 * dir_id (datadir.h); its client and peer addresses are told to peers. */
struct peers *peers_new(uv_loop_t *loop, uint64_t id, uint64_t dir_id,
                        const char *client_addr, const char *raft_addr,
                        const struct peers_cbs *cbs, void *arg);
/* Puts TLS on the peer port, or takes it off (both NULL): connections
 * are accepted with accept, which requires the other side's certificate,
 * and made with connect, which checks the peer's certificate against the
 * host of its address. A connection whose certificate the CA did not sign,
 * or is not a server's (tls_peer_is_server), is closed. The transport owns
 * the contexts and frees the ones it had: connections open keep theirs
 * (certificates reloaded on SIGHUP). */
void peers_set_tls(struct peers *p, struct tls_ctx *accept,
                   struct tls_ctx *connect);
/* Sets the cluster id this server sends in its hellos and requires of
 * others' (0: none known, any is accepted). A hello of version 3 with
 * another non-zero id is refused with a refusal starting with
 * HELLO_OTHER_CLUSTER, which its sender takes as a reason to retry slowly,
 * not to stop. */
void peers_set_cluster_id(struct peers *p, uint64_t cluster_id);
/* Listens for peers on addr ("host:port"). 0 or a negative uv error. */
int peers_listen(struct peers *p, const char *addr);
/* Encodes m and queues it on the connection to m->to at addr (connecting
 * or reconnecting as needed). A SNAPSHOT must carry its data. */
void peers_send(struct peers *p, const struct raft_msg *m, const char *addr);
/* Closes every connection and the listener; done(arg) when all handles are
 * closed. */
/* Corked, messages are queued per peer and not written; uncorked, what
 * was queued goes out, one write per peer. The leader corks while it
 * works through a turn of its loop and while it gathers a batch
 * (disk.c), so that a follower receives a batch's entries together
 * and syncs them as one. */
void peers_cork(struct peers *p, bool on);

void peers_close(struct peers *p, void (*done)(void *arg), void *arg);
void peers_free(struct peers *p);

#endif
