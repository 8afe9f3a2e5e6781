/* http.c - the HTTP port (http.h): libuv's TCP, requests read by
 * httpreq.h, answers from metrics.h, status.h and the page's files
 * (page.h). */
#include "server/http.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/httpreq.h"
#include "server/logger.h"
#include "server/metrics.h"
#include "server/page.h"
#include "server/server.h"
#include "server/status.h"

/* Answers waiting to be written past this stop the reading of requests
 * until they are (a client that pipelines and does not read). */
#define OUT_MAX (4u << 20)

struct http_conn {
    uv_tcp_t tcp;
    struct http *h;
    struct http_conn *prev, *next;
    struct httpreq req;
    struct buf out;      /* being written */
    struct buf next_out; /* answered since */
    uv_write_t wr;
    bool writing;
    bool close_after; /* the last answer written, close */
    bool closing;
    bool reading;
    uint64_t active_ms; /* the last request completed (or the accept) */
};

struct http {
    struct server *srv;
    uv_tcp_t listener;
    struct http_conn *conns;
    unsigned n_conns;
    bool closed;
};

static void listener_closed(uv_handle_t *hd)
{
    free(hd->data);
}

static void conn_closed(uv_handle_t *hd)
{
    struct http_conn *c = hd->data;
    buf_close(&c->out);
    buf_close(&c->next_out);
    free(c);
}

static void conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct http *h = c->h;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    h->n_conns--;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void start_write(struct http_conn *c);

static void on_written(uv_write_t *wr, int status)
{
    struct http_conn *c = wr->data;
    c->writing = false;
    buf_clear(&c->out);
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    start_write(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void on_alloc(uv_handle_t *hd, size_t size, uv_buf_t *b);

/* Writes what was answered; closes after the last answer when asked. */
static void start_write(struct http_conn *c)
{
    if (c->writing)
        return;
    if (c->next_out.len == 0) {
        if (c->close_after)
            conn_close(c);
        else if (!c->reading && !c->closing &&
                 uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
        return;
    }
    struct buf t = c->out;
    c->out = c->next_out;
    c->next_out = t;
    uv_buf_t ub = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &ub, 1, on_written) != 0) {
        conn_close(c);
        return;
    }
    c->writing = true;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* Appends an answer: status, type, body (n bytes; none for HEAD). */
static void answer(struct http_conn *c, int status, const char *type,
                   const char *body, size_t n, const char *extra)
{
    struct buf *o = &c->next_out;
    buf_appendf(o,
                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                "%s%s\r\n",
                status, reason(status), type, n, extra != NULL ? extra : "",
                c->close_after ? "Connection: close\r\n" : "");
    if (!c->req.head_only)
        buf_append(o, body, n);
}

static void answer_text(struct http_conn *c, int status, const char *text)
{
    answer(c, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

/* The page's own files, and nothing from elsewhere (its policy). */
#define PAGE_HEADERS                                                           \
    "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n"  \
    "X-Frame-Options: DENY\r\n"

static void serve(struct http_conn *c)
{
    struct http *h = c->h;
    struct server *srv = h->srv;
    const struct httpreq *r = &c->req;
    srv->metrics.http_requests++;
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        answer(c, 405, "text/plain; charset=utf-8", "GET or HEAD only\n", 17,
               "Allow: GET, HEAD\r\n");
        return;
    }
    const char *p = r->path;
    if (strcmp(p, "/metrics") == 0) {
        struct buf b;
        buf_init(&b);
        metrics_write(srv, &b);
        answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data,
               b.len, NULL);
        buf_close(&b);
    } else if (strcmp(p, "/health") == 0) {
        answer_text(c, 200, "ok\n");
    } else if (strcmp(p, "/ready") == 0) {
        char why[256], text[300];
        bool ready = status_ready(srv, why, sizeof why);
        snprintf(text, sizeof text, "%s: %s\n", ready ? "ready" : "not ready",
                 why);
        answer_text(c, ready ? 200 : 503, text);
    } else if (strcmp(p, "/status.json") == 0) {
        struct buf b;
        buf_init(&b);
        status_write(srv, &b);
        answer(c, 200, "application/json", b.data, b.len, NULL);
        buf_close(&b);
    } else if (strcmp(p, "/favicon.ico") == 0) {
        answer(c, 204, "image/x-icon", "", 0, NULL); /* none: asked anyway */
    } else {
        const struct page_file *f = page_find(p);
        if (f != NULL)
            answer(c, 200, f->type, f->data, f->len, PAGE_HEADERS);
        else
            answer_text(c, 404,
                        "not found: GET / (the status page), "
                        "/metrics, /health, /ready or /status.json\n");
    }
}

static void on_alloc(uv_handle_t *hd, size_t size, uv_buf_t *b)
{
    static char chunk[16384]; /* one read at a time, on the loop */
    (void)hd;
    (void)size;
    *b = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct http_conn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    size_t off = 0;
    while (off < (size_t)n && !c->close_after) {
        size_t used;
        int rc = httpreq_feed(&c->req, b->base + off, (size_t)n - off, &used);
        off += used;
        if (rc == HTTPREQ_MORE)
            break;
        if (rc == HTTPREQ_DONE) {
            c->close_after = !c->req.keep_alive;
            c->active_ms = uv_now(c->h->srv->loop);
            serve(c);
        } else {
            c->close_after = true;
            answer_text(c, rc, "a malformed request\n");
        }
        httpreq_init(&c->req);
    }
    if (c->close_after || c->next_out.len > OUT_MAX) {
        uv_read_stop(s); /* nothing more is read until written */
        c->reading = false;
    }
    start_write(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct http *h = server->data;
    if (status < 0)
        return;
    struct http_conn *c = mem_xcalloc(1, sizeof *c);
    c->h = h;
    uv_tcp_init(h->srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    h->n_conns++;
    if (h->n_conns > HTTP_CONNS_MAX) {
        conn_close(c); /* too many: dropped */
        return;
    }
    httpreq_init(&c->req);
    c->active_ms = uv_now(h->srv->loop);
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
    else
        c->reading = true;
}

struct http *http_start(struct server *srv, int *rc, char *err, size_t errlen)
{
    *rc = 0;
    const struct config *cfg = srv->cfg;
    if (cfg->http[0] == '\0')
        return NULL;
    struct sockaddr_storage sa;
    if (config_parse_addr(cfg->http, &sa) != 0) {
        *rc = -1;
        snprintf(err, errlen, "--http %s is not HOST:PORT", cfg->http);
        return NULL;
    }
    struct http *h = mem_xcalloc(1, sizeof *h);
    h->srv = srv;
    uv_tcp_init(srv->loop, &h->listener);
    h->listener.data = h;
    int e = uv_tcp_bind(&h->listener, (const struct sockaddr *)&sa, 0);
    if (e == 0)
        e = uv_listen((uv_stream_t *)&h->listener, 64, on_connection);
    if (e != 0) {
        uv_close((uv_handle_t *)&h->listener, listener_closed);
        if (cfg->http_given) {
            *rc = -1;
            snprintf(err, errlen, "cannot listen for HTTP on %s (--http): %s",
                     cfg->http, uv_strerror(e));
        } else {
            log_warn("no metrics or status page: cannot listen for HTTP on "
                     "%s (by default the client port + 200): %s; give "
                     "--http HOST:PORT, or --http off",
                     cfg->http, uv_strerror(e));
        }
        return NULL;
    }
    log_info("metrics, health and the status page on http://%s/", cfg->http);
    return h;
}

void http_sweep(struct http *h)
{
    if (h == NULL)
        return;
    uint64_t now = uv_now(h->srv->loop);
    for (struct http_conn *c = h->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (!c->writing && now - c->active_ms >= HTTP_IDLE_MS)
            conn_close(c);
    }
}

void http_close(struct http *h)
{
    if (h == NULL || h->closed)
        return;
    h->closed = true;
    while (h->conns != NULL)
        conn_close(h->conns);
    uv_close((uv_handle_t *)&h->listener, listener_closed);
}
