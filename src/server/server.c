/* server.c - dlockd's process: the client listener, signals, and a graceful
 * stop (a leader hands leadership over first). */
#include "server/server.h"
#include "server/watch.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/auth.h"
#include "server/conn.h"
#include "server/forward.h"
#include "server/http.h"
#include "server/status.h"
#include "server/logger.h"
#include "server/tlsfiles.h"
#include "tls/tls.h"

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    log_info("%s received", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(s);
}

int server_reload_tls(struct server *s, char *err, size_t errlen)
{
    if (s->cfg->tls_cert[0] == '\0') {
        snprintf(err, errlen, "no TLS configured");
        return -1;
    }
    struct tls_ctx *ctx = tlsfiles_clients(s->cfg, err, errlen);
    if (ctx == NULL)
        return -1;
    struct tls_ctx *accept, *connect;
    if (tlsfiles_peers(s->cfg, &accept, &connect, err, errlen) != 0) {
        tls_ctx_free(ctx);
        return -1;
    }
    tls_ctx_free(s->tls_clients);
    s->tls_clients = ctx;
    node_set_peer_tls(s->node, accept, connect);
    return 0;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    char err[512];
    if (s->cfg->tls_cert[0] == '\0')
        log_info("SIGHUP received: nothing to reload (no TLS)");
    else if (server_reload_tls(s, err, sizeof err) != 0)
        log_error("SIGHUP received: the TLS files did not load (%s); the "
                  "ones loaded before stay in use",
                  err);
    else
        log_info("SIGHUP received: TLS certificate, key and CA loaded again "
                 "from %s; new connections use them",
                 s->cfg->tls_cert);
}

static void closed_cb(uv_handle_t *h)
{
}

/* What the node applied, to the watches. */
static void on_changes(void *arg, uint64_t since, uint64_t revision,
                       const struct fsm_change *ch, size_t n)
{
    struct server *s = arg;
    metrics_changes(&s->metrics, ch, n);
    watch_feed(s->watch, since, revision, ch, n);
}

static void node_stopped(void *arg)
{
    struct server *s = arg;
    while (s->conns != NULL)
        conn_close(s->conns);
    auth_stop(s);
    forward_stop(s);
    listener_forget(&s->clients, UINT64_MAX, 0);
    map_str_close(&s->clients.addrs);
    uv_close((uv_handle_t *)&s->sigterm, closed_cb);
    uv_close((uv_handle_t *)&s->sigint, closed_cb);
    uv_close((uv_handle_t *)&s->sighup, closed_cb);
    tls_ctx_free(s->tls_clients);
    s->tls_clients = NULL;
    buf_close(&s->tls_in);
    buf_close(&s->tls_out);
    uv_close((uv_handle_t *)&s->resume_idle, closed_cb);
    turn_close(&s->turn);
    status_scan_close(s->status_scan);
    s->status_scan = NULL;
    watch_hub_close(s->watch, NULL, NULL);
    log_info("stopped");
}

void server_stop(struct server *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    log_info("stopping");
    listener_close(&s->clients);
    http_close(s->http);
    s->http = NULL;
    uv_close((uv_handle_t *)&s->sweep, closed_cb);
    node_stop(s->node, node_stopped, s);
}

static void on_sweep(uv_timer_t *t)
{
    struct server *s = t->data;
    conn_sweep(s);
    auth_sweep(s);
    http_sweep(s->http);
}

/* The sweep runs often enough that a timeout is kept to within a quarter
 * of itself, and at least once a second. */
static uint64_t sweep_ms(const struct config *cfg)
{
    uint64_t ms = 1000;
    if (cfg->request_timeout_ms > 0 && cfg->request_timeout_ms / 4 < ms)
        ms = cfg->request_timeout_ms / 4;
    if (cfg->idle_timeout_ms > 0 && cfg->idle_timeout_ms / 4 < ms)
        ms = cfg->idle_timeout_ms / 4;
    return ms < 10 ? 10 : ms;
}

int server_start(struct server *s, uv_loop_t *loop, const struct config *cfg,
                 char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    s->started_ms = uv_now(loop);
    metrics_init(&s->metrics);
    signal(SIGPIPE, SIG_IGN);
    if (cfg->insecure && !config_is_loopback(cfg->listen) &&
        (cfg->tls_cert[0] == '\0' || !cfg->auth))
        log_warn("INSECURE (--insecure): clients reach %s without %s; anyone "
                 "who can reach it can take and release every lock",
                 cfg->listen,
                 cfg->tls_cert[0] == '\0' && !cfg->auth
                     ? "TLS or authentication"
                 : cfg->auth ? "TLS"
                             : "authentication");
    if (cfg->insecure && !config_is_loopback(cfg->raft) && !cfg->tls_peers)
        log_warn("INSECURE (--insecure): peers reach %s without TLS; anyone "
                 "who can reach it can take part in the cluster",
                 cfg->raft);
    if (cfg->tls_cert[0] != '\0') {
        s->tls_clients = tlsfiles_clients(cfg, err, errlen);
        if (s->tls_clients == NULL)
            return -1;
    }
    s->node = node_start(loop, cfg, err, errlen);
    if (s->node == NULL)
        return -1;
    if (auth_start(s, err, errlen) != 0)
        return -1;
    if (listener_start(&s->clients, s, err, errlen) != 0)
        return -1;
    int rc;
    s->status_scan = status_scan_new(s);
    s->http = http_start(s, &rc, err, errlen);
    if (rc != 0)
        return -1;
    node_set_input_guard(s->node, conn_input_settled, s);
    s->watch = watch_hub_new(loop, (size_t)cfg->watch_history);
    node_set_changes(s->node, on_changes, s);
    node_set_turn(s->node, &s->turn);
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    uv_timer_start(&s->sweep, on_sweep, sweep_ms(cfg), sweep_ms(cfg));
    uv_idle_init(loop, &s->resume_idle);
    turn_init(&s->turn, loop);
    s->resume_idle.data = s;
    uv_signal_init(loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &s->sigint);
    s->sigint.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_init(loop, &s->sighup);
    s->sighup.data = s;
    uv_signal_start(&s->sighup, on_sighup, SIGHUP);
    static const char *const auth[] = {
        " with TLS", " with TLS (client certificates optional)",
        " with TLS (client certificates required)"};
    log_info("dlockd %" PRIu64 ": clients on %s%s, peers on %s, data in %s",
             cfg->id, cfg->listen,
             s->tls_clients ? auth[cfg->tls_auth_clients] : "", cfg->raft,
             cfg->data);
    return 0;
}
