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
 * what matters. */
#ifndef DLOCK_PEER_H
#define DLOCK_PEER_H

#include <stdint.h>
#include <uv.h>

#include "raft/raft.h"

struct peers; /* opaque */

struct peers_cbs {
    /* A message arrived (borrowed for the call). */
    void (*recv)(void *arg, const struct raft_msg *m);
    /* A peer introduced itself with its client and peer addresses. */
    void (*hello)(void *arg, uint64_t id, const char *client_addr,
                  const char *raft_addr);
    /* Peer id refused to hear this server, saying why (another process
     * runs with this server's id, or this data directory is not the one the
     * id was first seen with). May be NULL. */
    void (*refused)(void *arg, uint64_t id, const char *why);
};

/* Creates the transport of server id running on the data directory
 * dir_id (datadir.h); its client and peer addresses are told to peers. */
struct peers *peers_new(uv_loop_t *loop, uint64_t id, uint64_t dir_id,
                        const char *client_addr, const char *raft_addr,
                        const struct peers_cbs *cbs, void *arg);
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
 * (node_disk.c), so that a follower receives a batch's entries together
 * and syncs them as one. */
void peers_cork(struct peers *p, bool on);

void peers_close(struct peers *p, void (*done)(void *arg), void *arg);
void peers_free(struct peers *p);

#endif
