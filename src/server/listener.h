/* listener.h - the client port: accepts connections within what the
 * process's file descriptors, --max-clients and --max-clients-per-address
 * allow, and answers "LIMIT ..." and closes those past them
 * (docs/protocol.md §7), never resetting one silently. */
#ifndef DLOCK_LISTENER_H
#define DLOCK_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/map.h"

struct server;

/* Connections from one source address (an IPv4 address, or an IPv6 one;
 * an IPv4-mapped IPv6 address counts as its IPv4 address). */
struct listener_addr {
    uint8_t key[16];
    uint32_t len;
    uint64_t n;
    /* Failed authentications from it (auth.c), counted while they are
     * recent: the record is kept after its last connection closes until
     * they are not (listener_forget). */
    uint32_t auth_fails;
    uint64_t auth_fail_ms;
};

struct listener {
    struct server *srv;
    int fd;                  /* the listening socket */
    uv_poll_t poll;          /* readable: connections to accept */
    uv_timer_t pause;        /* accepting again after descriptors ran out */
    int spare_fd;            /* given up to answer one connection when the
                                process has no descriptor left, or -1 */
    uint64_t max_clients;    /* --max-clients, or less if descriptors are
                                fewer */
    struct map_str addrs;    /* key -> struct listener_addr */
    size_t kept;             /* of them, with no connection (failures) */
    uint64_t nofile_refused; /* answered "too many open files", since
                                the last log line */
    uint64_t nofile_logged_ms;
    bool logged_nofile;
};

/* Raises the soft limit of open files to the hard one, listens on
 * cfg->listen and starts accepting. Called once the node has opened what it
 * keeps open (the data directory, the log, the peer port): what is open
 * then, the peers' connections and a snapshot's descriptors are kept back
 * from clients. 0, or -1 with a message in err. */
int listener_start(struct listener *l, struct server *srv, char *err,
                   size_t errlen);

/* Stops accepting and closes the socket. Idempotent. */
void listener_close(struct listener *l);

/* Counts one more connection from the address sa; the connection keeps
 * what is returned and gives it back with listener_release. NULL if the
 * address is at --max-clients-per-address (nothing is counted then). */
struct listener_addr *listener_claim(struct listener *l,
                                     const struct sockaddr_storage *sa);

/* Gives back a connection counted by listener_claim. Accepts NULL. */
void listener_release(struct listener *l, struct listener_addr *a);

/* Forgets the failures of addresses without a connection whose last
 * failure is older than ms before now. */
void listener_forget(struct listener *l, uint64_t now, uint64_t ms);

#endif
