/* server.h - dlockd's process: the loop, the client listener, the
 * connections, signals, and the node. */
#ifndef DLOCK_SERVER_H
#define DLOCK_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "server/config.h"
#include "server/listener.h"
#include "server/metrics.h"
#include "server/node.h"
#include "server/turn.h"

struct conn;
struct tls_ctx;

struct server {
    uv_loop_t *loop;
    const struct config *cfg;
    struct node *node;
    struct watch_hub *watch; /* watches of names (watch.h) */
    struct auth *auth;       /* who clients are (auth.h) */
    struct forward *forward; /* Redis requests sent to the leader, or NULL */
    struct listener clients; /* the client port */
    uv_timer_t sweep;        /* timeouts, memory given back (conn_sweep) */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_signal_t sighup;          /* reloads the TLS certificates */
    struct tls_ctx *tls_clients; /* the client port's TLS, or NULL: plain */
    struct buf tls_in, tls_out;  /* plaintext on its way, for conn.c */
    uint64_t tls_failed;         /* handshakes and sessions that failed */
    struct conn *conns;
    struct conn *resume; /* connections to serve again (conn.c), or NULL */
    struct conn *resume_tail;
    uv_idle_t resume_idle;
    struct turn turn; /* the budget of a loop turn */
    struct metrics metrics;
    struct http *http;               /* the HTTP port (http.h), or NULL */
    struct status_scan *status_scan; /* status.h */
    uint64_t n_conns;
    uint64_t next_conn_id;
    uint64_t total_conns;
    uint64_t total_commands;
    uint64_t rejected_conns;
    size_t input_total;    /* bytes the connections' readers hold */
    size_t input_freed;    /* of it, freed since memory was last trimmed */
    uint64_t input_closed; /* closed past --max-input-total, not logged */
    uint64_t input_logged_ms;
    uint64_t started_ms;
    bool stopping;
    int exit_code;
};

/* Starts everything; 0, or -1 with a message in err. */
int server_start(struct server *s, uv_loop_t *loop, const struct config *cfg,
                 char *err, size_t errlen);
/* Loads the client port's TLS certificate, key and CA files again (on
 * SIGHUP): new connections use them, those open keep theirs. If they do not
 * load, the old ones stay. 0, or -1 with a message in err. */
int server_reload_tls(struct server *s, char *err, size_t errlen);
/* Stops gracefully (a leader hands over first); the loop then ends. */
void server_stop(struct server *s);

#endif
