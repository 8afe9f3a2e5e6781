/* join.c - asks a cluster to add this server. Its handles are unreferenced:
 * they never keep the loop alive. On a cluster with users it logs in first,
 * with DLOCK_USER and DLOCK_PASSWORD from the environment (a user allowed
 * the cluster category: docs/security.md). */
#include "server/join.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/resp.h"
#include "server/logger.h"
#include "server/stream.h"
#include "tls/tls.h"

#define RETRY_MS 1000

static struct {
    uv_loop_t *loop;
    const struct config *cfg;
    char target[CONFIG_ADDR_MAX];
    uv_tcp_t tcp;
    bool tcp_open;
    uv_connect_t creq;
    uv_write_t wreq;
    struct buf out;
    struct resp_reader reader;
    uv_timer_t timer;
    bool started, done;
    /* With TLS on the client port (members' too): this server's
     * certificate as a client's, and the connection's engine. */
    struct tls_ctx *tls_ctx;
    struct tls *tls;
    struct buf plain;
    bool auth_wait; /* the AUTH's answer comes first */
} j;

static void attempt(void);

static void attempt_cb(uv_timer_t *t)
{
    attempt();
}

static void tcp_closed(uv_handle_t *h)
{
    j.tcp_open = false;
    tls_free(j.tls);
    j.tls = NULL;
}

static void retry(const char *why, unsigned ms)
{
    if (why != NULL)
        log_info("join via %s: %s; retrying", j.target, why);
    if (j.tcp_open && !uv_is_closing((uv_handle_t *)&j.tcp))
        uv_close((uv_handle_t *)&j.tcp, tcp_closed);
    if (!j.done)
        uv_timer_start(&j.timer, attempt_cb, ms, 0);
}

static void on_reply(const struct resp_value *v)
{
    if (v->type == RESP_SIMPLE) {
        log_info("added to the cluster by %s", j.target);
        j.done = true;
        retry(NULL, 0);
    } else if (v->type == RESP_ERROR && v->len > 7 &&
               strncmp(v->str, "LEADER ", 7) == 0 &&
               v->len - 7 < sizeof j.target) {
        memcpy(j.target, v->str + 7, v->len - 7);
        j.target[v->len - 7] = '\0';
        retry(NULL, 10);
    } else if (v->type == RESP_ERROR && strstr(v->str, "duplicate") != NULL) {
        log_info("already a member of the cluster of %s", j.target);
        j.done = true;
        retry(NULL, 0);
    } else {
        retry(v->type == RESP_ERROR ? v->str : "unexpected reply", RETRY_MS);
    }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char chunk[4096];
    b->base = chunk;
    b->len = sizeof chunk;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    const struct resp_value *v;
    if (n < 0) {
        retry("connection closed", RETRY_MS);
        return;
    }
    const char *data = b->base;
    if (j.tls != NULL) {
        buf_clear(&j.plain);
        if (tls_recv(j.tls, b->base, (size_t)n, &j.plain) != TLS_OK) {
            retry(tls_error(j.tls)[0] ? tls_error(j.tls) : "TLS closed",
                  RETRY_MS);
            return;
        }
        stream_write_tls((uv_stream_t *)&j.tcp, j.tls);
        data = j.plain.data;
        n = (ssize_t)j.plain.len;
    }
    if (resp_reader_feed(&j.reader, data, (size_t)n) != 0) {
        retry("bad reply", RETRY_MS);
        return;
    }
    int rc;
    while ((rc = resp_reader_next(&j.reader, &v)) > 0 && j.auth_wait) {
        j.auth_wait = false;
        if (v->type == RESP_ERROR) {
            retry(v->str, RETRY_MS); /* AUTH refused (DLOCK_USER) */
            return;
        }
    }
    if (rc < 0)
        retry("bad reply", RETRY_MS);
    else if (rc > 0) {
        uv_read_stop(s);
        on_reply(v);
    }
}

static void write_cb(uv_write_t *req, int status)
{
    if (status < 0)
        retry(uv_strerror(status), RETRY_MS);
}

static void connect_cb(uv_connect_t *req, int status)
{
    if (status < 0) {
        retry(uv_strerror(status), RETRY_MS);
        return;
    }
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, j.cfg->id);
    const char *argv[] = {"CLUSTER.ADD", id, j.cfg->raft};
    const char *user = getenv("DLOCK_USER"), *pw = getenv("DLOCK_PASSWORD");
    buf_clear(&j.out);
    j.auth_wait = pw != NULL && pw[0] != '\0';
    if (j.auth_wait) {
        const char *auth[] = {"AUTH",
                              user != NULL && user[0] ? user : "default", pw};
        resp_write_command(&j.out, 3, auth, NULL);
    }
    resp_write_command(&j.out, 3, argv, NULL);
    resp_reader_close(&j.reader);
    resp_reader_init(&j.reader, &resp_limits_client);
    uv_read_start((uv_stream_t *)&j.tcp, alloc_cb, read_cb);
    if (j.tls_ctx != NULL) {
        /* The request waits in the engine for the handshake. */
        char host[CONFIG_ADDR_MAX];
        if (config_addr_host(j.target, host, sizeof host) != 0 ||
            (j.tls = tls_new(j.tls_ctx, host)) == NULL ||
            tls_send(j.tls, j.out.data, j.out.len) != 0) {
            retry("cannot start TLS", RETRY_MS);
            return;
        }
        stream_write_tls((uv_stream_t *)&j.tcp, j.tls);
        return;
    }
    uv_buf_t b = uv_buf_init(j.out.data, (unsigned)j.out.len);
    uv_write(&j.wreq, (uv_stream_t *)&j.tcp, &b, 1, write_cb);
}

static void attempt(void)
{
    struct sockaddr_storage sa;
    if (j.done || j.tcp_open)
        return;
    if (config_parse_addr(j.target, &sa) != 0) {
        /* A redirect to an address we cannot use: start over from the
         * configured one rather than stall. */
        log_warn("join: cannot use the address %s; retrying via %s", j.target,
                 j.cfg->join);
        snprintf(j.target, sizeof j.target, "%s", j.cfg->join);
        uv_timer_start(&j.timer, attempt_cb, RETRY_MS, 0);
        return;
    }
    uv_tcp_init(j.loop, &j.tcp);
    uv_unref((uv_handle_t *)&j.tcp);
    j.tcp_open = true;
    if (uv_tcp_connect(&j.creq, &j.tcp, (struct sockaddr *)&sa, connect_cb))
        retry("cannot connect", RETRY_MS);
}

void join_start(uv_loop_t *loop, const struct config *cfg)
{
    memset(&j, 0, sizeof j);
    j.loop = loop;
    j.cfg = cfg;
    snprintf(j.target, sizeof j.target, "%s", cfg->join);
    buf_init(&j.out);
    resp_reader_init(&j.reader, &resp_limits_client);
    uv_timer_init(loop, &j.timer);
    uv_unref((uv_handle_t *)&j.timer);
    if (cfg->tls_cert[0] != '\0') {
        char err[256];
        struct tls_config tc = {.cert_file = cfg->tls_cert,
                                .key_file =
                                    cfg->tls_key[0] ? cfg->tls_key : NULL,
                                .ca_file = cfg->tls_ca[0] ? cfg->tls_ca : NULL};
        j.tls_ctx = tls_ctx_new(&tc, err, sizeof err);
        if (j.tls_ctx == NULL)
            log_error("join: TLS: %s", err);
    }
    j.started = true;
    uv_timer_start(&j.timer, attempt_cb, 100, 0);
}

void join_stop(void)
{
    if (!j.started)
        return;
    buf_close(&j.out);
    buf_close(&j.plain);
    resp_reader_close(&j.reader);
    tls_ctx_free(j.tls_ctx);
    j.tls_ctx = NULL;
    j.started = false;
}
