/* conn.h - one client connection: RESP requests in, replies out in request
 * order. A reply may come later than the request (a blocking acquire, a
 * write waiting for its commit): each request gets a slot, and slots are
 * sent in order as they are filled. */
#ifndef DLOCK_CONN_H
#define DLOCK_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "lock/acl.h"

/* A client name's bytes, as for a session's (docs/protocol.md §1). */
#define CONN_NAME_MAX 64

struct server;
struct conn;
struct listener_addr;
struct tls;

/* The reply to one request. */
struct slot {
    struct conn *conn; /* NULL once the client is gone */
    struct slot *next;
    struct buf buf; /* the reply, written by the command */
    bool ready;
    /* Called if the client goes away while the reply is pending, for the
     * command to let go of what it waits on (the slot is then freed by it,
     * with slot_free). NULL: the pending operation frees the slot itself
     * when it completes and finds conn NULL. */
    void (*on_close)(struct slot *s);
    void *op;         /* the command's own state: one malloc'd block, freed with
                         the slot */
    size_t reserve;   /* slot_reserve's estimate, while pending */
    uint64_t woke_ns; /* the trace's first stamps (node_trace_in): when */
    uint64_t recv_ns; /* the turn that read it woke, when it was parsed */
};

struct conn {
    struct server *srv;
    struct conn *prev, *next;
    uv_tcp_t tcp;
    uint64_t id;
    int proto;                /* 2 or 3 (HELLO) */
    char name[CONN_NAME_MAX]; /* CLIENT SETNAME / HELLO SETNAME */
    size_t name_len;
    char peer[64];  /* the client's address, for the log */
    void *reader;   /* struct resp_reader */
    struct buf out; /* replies ready to go */
    char *inflight; /* the write in progress */
    uv_write_t wreq;
    bool writing;
    bool reading;
    bool closing;
    bool close_after_write;   /* QUIT, or a protocol error */
    struct slot *head, *tail; /* pending and ready replies, in order */
    unsigned n_slots;
    struct conn *resume_prev, *resume_next; /* in srv->resume */
    size_t held;       /* bytes of ready replies behind a pending one */
    size_t reserved;   /* estimated bytes of pending replies (slot_reserve) */
    bool unserved;     /* requests read may wait in the reader (dispatch) */
    bool full_read;    /* the last read filled its buffer: more may wait */
    uint64_t in_bytes; /* read from the socket, in all */
    uint64_t woke_ns;  /* when the turn of its last read woke (turn.h) */
    uint64_t settle_round;      /* conn_input_settled's round it has seen */
    uint64_t settle_target;     /* in_bytes to serve for it, 0 if none */
    struct listener_addr *from; /* its source address's count */
    size_t input;        /* bytes its reader holds, in srv->input_total */
    uint64_t active_ms;  /* when it last sent bytes or got a reply */
    uint64_t partial_ms; /* since when an unfinished request is held with
                            no request completed, or 0 */
    void *watches;       /* the names it watches (watch.c), or NULL */
    struct tls *tls;     /* its TLS engine on a TLS port, or NULL: out holds
                            what goes on the wire, encrypted already */
    bool tls_ready;      /* its handshake is done (logged) */
    bool tls_begun;      /* its first bytes came */
    /* Authentication (auth.h). */
    char user[ACL_USER_MAX]; /* the user it acts as, when authed */
    uint8_t user_len;
    bool authed;
    bool auth_busy;     /* an AUTH is checked: nothing else is served */
    bool pre_auth;      /* held to the limits before authentication */
    uint64_t opened_ms; /* when it connected */
};

/* Serves the client connected on the socket fd (accepted, non-blocking),
 * which is taken over, from the address sa; from is its count of
 * connections from that address (listener_claim), given back when it
 * closes. */
void conn_accept(struct server *srv, int fd, const struct sockaddr_storage *sa,
                 struct listener_addr *from);
/* Enforces the timeouts (docs/protocol.md §7): a connection holding an
 * unfinished request, or an unfinished TLS handshake, with none completed
 * for --request-timeout-ms is
 * answered LIMIT and closed, and one with nothing under way (no bytes of a
 * request, no reply pending or unsent: a blocking acquire waiting is under
 * way) for --idle-timeout-ms is closed; a TLS connection with nothing
 * under way for a second gives its record buffers back (tls_idle). Gives
 * memory freed back to the
 * system. Called every so often (server.c). */
void conn_sweep(struct server *srv);
/* Closes the connection (pending replies are dropped). */
void conn_close(struct conn *c);
/* Drops what c sent and not served, answers the error why ("LIMIT ...")
 * after the replies before it, and closes c. */
void conn_limit_close(struct conn *c, const char *why);
/* Sends len bytes of an out-of-band message (a RESP3 push) to c at once,
 * between replies: not behind a pending one. */
void conn_push(struct conn *c, const void *data, size_t len);

/* The node's input guard (node_set_input_guard; arg is the server): true
 * once every connection has served the requests that had reached this
 * server, in its reader or its socket, when round began. A connection
 * whose client does not read its replies (paused, docs/protocol.md §7) is
 * not waited for: what it sent waits for the client, not the server. */
bool conn_input_settled(void *arg, uint64_t round);

/* Marks s filled; sends what is ready, in order. If the client is gone,
 * frees s. */
void slot_done(struct slot *s);
/* Counts bytes of reply that the pending s may bring (a read that lists):
 * the connection serves no more requests while its replies, pending and
 * ready, may pass a bound, so a few bytes of requests cannot make it hold
 * many megabytes of replies. */
void slot_reserve(struct slot *s, size_t bytes);
/* Frees a slot whose client is gone. */
void slot_free(struct slot *s);

#endif
