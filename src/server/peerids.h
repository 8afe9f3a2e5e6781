/* peerids.h - who may speak for a server id on the peer port: one process at
 * a time, with the data directory that id was first seen with here.
 *
 * Raft counts a vote and an acknowledgement per server id, and trusts that
 * the server behind an id keeps its log and its vote for ever. Two processes
 * under one id (a second server started with the same --id, or a copied
 * data directory started elsewhere) would let one id vote twice or claim a
 * log it does not have; an id whose data directory was replaced (wiped or
 * swapped) has forgotten its vote. Each server's hello says which data
 * directory it runs on (datadir.h's dir_id) and which process it is (a
 * nonce drawn at start); this table decides, from what it has seen, whether
 * to accept it. Pure: the caller passes the time and acts on the verdict.
 *
 * The rules:
 * - An id is bound to the first dir_id seen with it; a hello with another is
 *   refused.
 * - A hello with a new nonce is a restart: accepted, the previous nonce is
 *   kept as past, and the connections of the id under other nonces are
 *   closed (a dead process's are dead anyway).
 * - A past nonce that says hello again is alive (a dead process says
 *   nothing): two processes run under the id. The one seen first keeps the
 *   id; the newer nonce is banned: its connections are closed and its
 *   hellos refused, with a reason it logs before it stops.
 * A live second process is found within one reconnection of the first (its
 * connection closed at the restart rule, it reconnects at once); until
 * then what it sent was heard. docs/operations.md ("What is never shared")
 * says what this catches and what it cannot. */
#ifndef DLOCK_PEERIDS_H
#define DLOCK_PEERIDS_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define PEERIDS_MAX (RAFT_MAX_SERVERS * 2) /* ids remembered */
#define PEERIDS_PAST 4                     /* past nonces kept per id */

enum peerids_verdict {
    PEERIDS_ACCEPT = 0, /* go on */
    PEERIDS_RESTART,    /* go on, and close the id's connections under any
                           other nonce (the previous process's) */
    PEERIDS_DUPLICATE,  /* go on, and close and refuse the connections of
                           the nonce *other (two processes run under the
                           id; why says so) */
    PEERIDS_REFUSE,     /* refuse this connection; why says why */
};

struct peerids_entry {
    uint64_t id;
    uint64_t dir_id;
    uint64_t nonce; /* the process speaking for the id now */
    uint64_t past[PEERIDS_PAST];
    unsigned n_past;
    uint64_t banned; /* a nonce refused for good, or 0 */
};

struct peerids {
    struct peerids_entry e[PEERIDS_MAX];
    unsigned n;
};

/* Initialises an empty table. */
void peerids_init(struct peerids *t);

/* A hello from server id, of process nonce on data directory dir_id (both
 * nonzero). *other is set for PEERIDS_DUPLICATE; why gets a message for
 * the log and for the refused side for PEERIDS_DUPLICATE and
 * PEERIDS_REFUSE. */
enum peerids_verdict peerids_hello(struct peerids *t, uint64_t id,
                                   uint64_t dir_id, uint64_t nonce,
                                   uint64_t *other, char *why, size_t whylen);

#endif
