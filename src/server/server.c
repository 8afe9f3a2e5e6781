/* server.c - dlockd's process: the client listener, signals, and a graceful
 * stop (a leader hands leadership over first). */
#include "server/server.h"
#include "server/watch.h"

#include <inttypes.h>
#include <signal.h>
#include <string.h>

#include "server/conn.h"
#include "server/logger.h"

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    log_info("%s received", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(s);
}

static void closed_cb(uv_handle_t *h)
{
}

/* What the node applied, to the watches. */
static void on_changes(void *arg, uint64_t since, uint64_t revision,
                       const struct fsm_change *ch, size_t n)
{
    struct server *s = arg;
    watch_feed(s->watch, since, revision, ch, n);
}

static void node_stopped(void *arg)
{
    struct server *s = arg;
    while (s->conns != NULL)
        conn_close(s->conns);
    map_str_close(&s->clients.addrs);
    uv_close((uv_handle_t *)&s->sigterm, closed_cb);
    uv_close((uv_handle_t *)&s->sigint, closed_cb);
    uv_close((uv_handle_t *)&s->resume_idle, closed_cb);
    turn_close(&s->turn);
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
    uv_close((uv_handle_t *)&s->sweep, closed_cb);
    node_stop(s->node, node_stopped, s);
}

static void on_sweep(uv_timer_t *t)
{
    conn_sweep(t->data);
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
    signal(SIGPIPE, SIG_IGN);
    s->node = node_start(loop, cfg, err, errlen);
    if (s->node == NULL)
        return -1;
    if (listener_start(&s->clients, s, err, errlen) != 0)
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
    log_info("dlockd %" PRIu64 ": clients on %s, peers on %s, data in %s",
             cfg->id, cfg->listen, cfg->raft, cfg->data);
    return 0;
}
