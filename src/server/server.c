/* server.c - dlockd's process: the client listener, signals, and a graceful
 * stop (a leader hands leadership over first). */
#include "server/server.h"

#include <inttypes.h>
#include <signal.h>
#include <string.h>

#include "server/conn.h"
#include "server/logger.h"

static void on_client(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
    if (status < 0 || s->stopping)
        return;
    conn_accept(s, listener);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    log_info("%s received", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(s);
}

static void closed_cb(uv_handle_t *h)
{
}

static void node_stopped(void *arg)
{
    struct server *s = arg;
    while (s->conns != NULL)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->sigterm, closed_cb);
    uv_close((uv_handle_t *)&s->sigint, closed_cb);
    uv_close((uv_handle_t *)&s->resume_idle, closed_cb);
    turn_close(&s->turn);
    log_info("stopped");
}

void server_stop(struct server *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    log_info("stopping");
    uv_close((uv_handle_t *)&s->listener, closed_cb);
    node_stop(s->node, node_stopped, s);
}

static int listen_clients(struct server *s, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    int rc = config_parse_addr(s->cfg->listen, &sa) == 0 ? 0 : UV_EINVAL;
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    if (rc == 0)
        rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 511, on_client);
    if (rc != 0)
        snprintf(err, errlen, "cannot listen for clients on %s (--listen): %s",
                 s->cfg->listen, uv_strerror(rc));
    return rc;
}

int server_start(struct server *s, uv_loop_t *loop, const struct config *cfg,
                 char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    s->started_ms = uv_now(loop);
    signal(SIGPIPE, SIG_IGN);
    s->node = node_start(loop, cfg, err, errlen);
    if (s->node == NULL)
        return -1;
    if (listen_clients(s, err, errlen) != 0)
        return -1;
    node_set_input_guard(s->node, conn_input_settled, s);
    node_set_turn(s->node, &s->turn);
    uv_idle_init(loop, &s->resume_idle);
    turn_init(&s->turn, loop);
    s->resume_idle.data = s;
    uv_signal_init(loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &s->sigint);
    s->sigint.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    log_info("dlockd %" PRIu64 ": clients on %s, peers on %s, data in %s",
             cfg->id, cfg->listen, cfg->raft, cfg->data);
    return 0;
}
