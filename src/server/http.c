/* http.c - the HTTP port (http.h): libuv's TCP, TLS over memory when the
 * client port has it (src/tls), requests read by httpreq.h, logins by
 * auth.h, answers from metrics.h, status.h and the page's files (page.h).
 * Requests are served one at a time per connection, in order; a login
 * being checked holds the requests after it. */
#include "server/http.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/buf.h"
#include "common/httpreq.h"
#include "common/mem.h"
#include "lock/acl.h"
#include "server/auth.h"
#include "server/logger.h"
#include "server/metrics.h"
#include "server/page.h"
#include "server/server.h"
#include "server/status.h"
#include "tls/tls.h"

/* Answers waiting to be written past this stop the reading of requests
 * until they are (a client that pipelines and does not read). */
#define OUT_MAX (4u << 20)
/* Requests read ahead of the one served, at most. */
#define IN_MAX (64u << 10)
/* The longest Authorization header taken (a user and a password, base64). */
#define AUTHZ_MAX 1024

struct http_conn {
    uv_tcp_t tcp;
    struct http *h;
    struct http_conn *prev, *next;
    char peer[64];
    struct tls *tls; /* NULL: plain */
    struct buf in;   /* plaintext read, not yet taken by a request */
    struct httpreq req;
    bool have_req;       /* req is DONE, being served */
    struct buf out;      /* being written */
    struct buf next_out; /* answered since */
    uv_write_t wr;
    bool writing;
    bool close_after; /* the last answer written, close */
    bool closing;
    bool reading;
    uint64_t active_ms; /* the last request completed (or the accept) */
    /* Logins: the one under way, and the credentials that passed on this
     * connection (compared with each request's). */
    struct auth_http *login;
    char user[ACL_USER_MAX + 1];
    char authz[AUTHZ_MAX + 1];
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
    buf_close(&c->in);
    buf_close(&c->out);
    buf_close(&c->next_out);
    tls_free(c->tls);
    OPENSSL_cleanse(c->authz, sizeof c->authz);
    free(c);
}

static void conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    auth_http_forget(c->login);
    c->login = NULL;
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

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void on_alloc(uv_handle_t *hd, size_t size, uv_buf_t *b);
static void start_write(struct http_conn *c);
static void process(struct http_conn *c);

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
    process(c); /* requests held while the output was full */
    start_write(c);
}

/* Reads while there is room for what it reads: input held and output
 * unwritten within their bounds, nothing to close after. */
static void read_or_not(struct http_conn *c)
{
    bool want = !c->closing && !c->close_after && c->in.len < IN_MAX &&
                c->next_out.len + c->out.len < OUT_MAX;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* Writes what was answered (through TLS when the port has it); closes
 * after the last answer when asked. */
static void start_write(struct http_conn *c)
{
    if (c->writing || c->closing)
        return;
    if (c->tls != NULL && tls_pending(c->tls) > 0 &&
        tls_take(c->tls, &c->next_out) != 0) {
        conn_close(c);
        return;
    }
    if (c->next_out.len == 0) {
        if (c->close_after && !c->have_req && c->login == NULL)
            conn_close(c);
        else
            read_or_not(c);
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
    read_or_not(c);
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
    case 403:
        return "Forbidden";
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

/* Appends bytes to send: through the TLS engine when there is one. */
static void emit(struct http_conn *c, const char *p, size_t n)
{
    if (c->tls == NULL) {
        buf_append(&c->next_out, p, n);
    } else if (n > 0 && tls_send(c->tls, p, n) != 0) {
        log_info("HTTP client %s: %s; closing", c->peer, tls_error(c->tls));
        c->close_after = true;
    }
}

/* An answer: status, type, body (n bytes; none for HEAD). */
static void answer(struct http_conn *c, int status, const char *type,
                   const char *body, size_t n, const char *extra)
{
    struct buf head;
    buf_init(&head);
    buf_appendf(&head,
                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                "%s%s\r\n",
                status, reason(status), type, n, extra != NULL ? extra : "",
                c->close_after ? "Connection: close\r\n" : "");
    emit(c, head.data, head.len);
    buf_close(&head);
    if (!c->req.head_only)
        emit(c, body, n);
}

static void answer_text(struct http_conn *c, int status, const char *text)
{
    answer(c, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

/* The page's own files, and nothing from elsewhere (its policy). */
#define PAGE_HEADERS                                                           \
    "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n"  \
    "X-Frame-Options: DENY\r\n"

/* ---- who may read what ------------------------------------------------ */

/* What a path asks of a user when the cluster wants logins: nothing
 * (/health, /ready: for load balancers, and they tell nothing of the
 * state), any user (the metrics: no names in them), or the reads of every
 * name (the status page and its document list names, as SERVER.STATUS). */
enum need { NEED_NONE, NEED_USER, NEED_READS };

static enum need need_of(const char *path)
{
    if (strcmp(path, "/health") == 0 || strcmp(path, "/ready") == 0 ||
        strcmp(path, "/favicon.ico") == 0)
        return NEED_NONE;
    if (strcmp(path, "/metrics") == 0)
        return NEED_USER;
    return NEED_READS;
}

static void unauthorized(struct http_conn *c, const char *why)
{
    answer(c, 401, "text/plain; charset=utf-8", why, strlen(why),
           "WWW-Authenticate: Basic realm=\"dlock\", charset=\"UTF-8\"\r\n");
}

/* Decodes "Basic base64(user:password)" into user and password (both
 * NUL-terminated within out, n bytes); false if it is not that. */
static bool basic(const char *authz, char *out, size_t n, const char **user,
                  size_t *ulen, const char **pw, size_t *plen)
{
    if (strncasecmp(authz, "Basic ", 6) != 0)
        return false;
    const char *b64 = authz + 6;
    while (*b64 == ' ')
        b64++;
    size_t len = strlen(b64);
    if (len == 0 || len % 4 != 0 || len / 4 * 3 + 1 > n)
        return false;
    int got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64,
                              (int)len);
    if (got < 0)
        return false;
    size_t m = (size_t)got;
    m -= (len >= 1 && b64[len - 1] == '=') + (len >= 2 && b64[len - 2] == '=');
    out[m] = '\0';
    char *colon = memchr(out, ':', m);
    if (colon == NULL)
        return false;
    *colon = '\0';
    *user = out;
    *ulen = (size_t)(colon - out);
    *pw = colon + 1;
    *plen = m - *ulen - 1;
    return true;
}

static void serve_now(struct http_conn *c);

/* Whether the connection's user may have what the request asks; false
 * with the refusal answered (403). */
static bool may(struct http_conn *c)
{
    enum need need = need_of(c->req.path);
    uint32_t category = need == NEED_READS ? ACL_CAT_READS : 0;
    if (auth_user_may(c->h->srv, c->user, strlen(c->user), category))
        return true;
    answer_text(c, 403,
                need == NEED_READS
                    ? "the user may not read every name (it needs the reads "
                      "category and READ *)\n"
                    : "the user was deleted or turned off\n");
    return false;
}

static void login_done(void *arg, bool ok)
{
    struct http_conn *c = arg;
    c->login = NULL;
    if (ok && may(c)) {
        serve_now(c);
    } else if (ok) {
        c->have_req = false; /* refused */
    } else {
        c->user[0] = c->authz[0] = '\0';
        unauthorized(c, "the user and password were refused\n");
        c->have_req = false;
    }
    httpreq_init(&c->req);
    process(c);
    start_write(c);
}

/* Whether the request may be served now: true when no login is needed or
 * the connection's user may; false when it was answered (401, 403) or a
 * login is under way (serve_now follows it). */
static bool allowed(struct http_conn *c)
{
    struct server *srv = c->h->srv;
    enum need need = need_of(c->req.path);
    if (need == NEED_NONE || !auth_required(srv))
        return true;
    const char *authz = c->req.authorization;
    char cert_user[ACL_USER_MAX + 1];
    if (authz[0] == '\0' && c->user[0] == '\0' &&
        auth_cert_user(srv, c->tls, cert_user, sizeof cert_user)) {
        memcpy(c->user, cert_user, sizeof c->user); /* by its certificate */
        c->authz[0] = '\0';
    } else if (authz[0] != '\0' &&
               (c->user[0] == '\0' || strcmp(authz, c->authz) != 0)) {
        /* New credentials: checked (off the loop, or from memory). */
        char plain[AUTHZ_MAX];
        const char *user, *pw;
        size_t ulen, plen;
        c->user[0] = '\0';
        if (strlen(authz) > AUTHZ_MAX ||
            !basic(authz, plain, sizeof plain, &user, &ulen, &pw, &plen) ||
            ulen > ACL_USER_MAX) {
            OPENSSL_cleanse(plain, sizeof plain);
            unauthorized(c, "Authorization: Basic with a dlock user and its "
                            "password\n");
            return false;
        }
        memcpy(c->user, user, ulen);
        c->user[ulen] = '\0';
        snprintf(c->authz, sizeof c->authz, "%s", authz);
        struct auth_http *lg =
            auth_http_login(srv, c->peer, user, ulen, pw, plen, login_done, c);
        OPENSSL_cleanse(plain, sizeof plain);
        if (lg != NULL) {
            c->login = lg;
            return false;
        }
        return false; /* login_done has served it */
    }
    if (c->user[0] == '\0') {
        unauthorized(c, "this server wants a login: a dlock user and its "
                        "password (docs/operations.md, Monitoring)\n");
        return false;
    }
    return may(c);
}

/* Serves the request read (its login passed, if it needed one). */
static void serve_now(struct http_conn *c)
{
    struct server *srv = c->h->srv;
    const char *p = c->req.path;
    c->have_req = false;
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

static void serve(struct http_conn *c)
{
    c->h->srv->metrics.http_requests++;
    c->have_req = true;
    if (strcmp(c->req.method, "GET") != 0 &&
        strcmp(c->req.method, "HEAD") != 0) {
        c->have_req = false;
        answer(c, 405, "text/plain; charset=utf-8", "GET or HEAD only\n", 17,
               "Allow: GET, HEAD\r\n");
        return;
    }
    if (allowed(c))
        serve_now(c);
    else if (c->login == NULL)
        c->have_req = false; /* answered */
}

/* Serves the requests read, in order, until one waits for its login or
 * the output is full. */
static void process(struct http_conn *c)
{
    while (!c->closing && !c->have_req && c->login == NULL && !c->close_after &&
           c->next_out.len + c->out.len < OUT_MAX && c->in.len > 0) {
        size_t used;
        int rc = httpreq_feed(&c->req, c->in.data, c->in.len, &used);
        buf_consume(&c->in, used);
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
        if (!c->have_req)
            httpreq_init(&c->req);
    }
    if (c->close_after)
        buf_clear(&c->in);
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
    if (c->tls == NULL) {
        buf_append(&c->in, b->base, (size_t)n);
    } else if (n > 0) {
        int rc = tls_recv(c->tls, b->base, (size_t)n, &c->in);
        if (rc != TLS_OK) {
            if (rc == TLS_FAILED)
                log_info("HTTP client %s: %s; closing", c->peer,
                         tls_error(c->tls));
            c->close_after = true;
            buf_clear(&c->in);
        }
    }
    process(c);
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
    struct sockaddr_storage sa;
    int len = sizeof sa;
    char host[48] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        if (sa.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&sa, host, sizeof host);
        else
            uv_ip4_name((struct sockaddr_in *)&sa, host, sizeof host);
        snprintf(c->peer, sizeof c->peer, "%s:%d", host,
                 ntohs(((struct sockaddr_in *)&sa)->sin_port));
    }
    if (h->srv->tls_clients != NULL &&
        (c->tls = tls_new(h->srv->tls_clients, NULL)) == NULL) {
        conn_close(c);
        return;
    }
    httpreq_init(&c->req);
    c->active_ms = uv_now(h->srv->loop);
    uv_tcp_nodelay(&c->tcp, 1);
    read_or_not(c);
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
    log_info("metrics, health and the status page on %s://%s/",
             srv->tls_clients != NULL ? "https" : "http", cfg->http);
    return h;
}

void http_sweep(struct http *h)
{
    if (h == NULL)
        return;
    uint64_t now = uv_now(h->srv->loop);
    for (struct http_conn *c = h->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (!c->writing && c->login == NULL &&
            now - c->active_ms >= HTTP_IDLE_MS)
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
