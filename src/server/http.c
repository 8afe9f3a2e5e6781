/* http.c - the HTTP port (http.h): libuv's TCP, TLS over memory when the
 * client port has it (src/tls), requests read by httpreq.h, logins by
 * auth.h, answers from metrics.h, status.h and the page's files (page.h).
 * Requests are served one at a time per connection, in order; a login
 * being checked holds the requests after it. */
#include "server/http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* Answers waiting to be written past this stop the reading and serving of
 * requests until they are (a client that pipelines and does not read). */
#define OUT_MAX (1u << 20)
/* Requests read ahead of the one served, at most. */
#define IN_MAX (64u << 10)
/* The longest Authorization header taken (a user and a password, base64). */
#define AUTHZ_MAX 1024

struct http_conn {
    uv_tcp_t tcp;
    struct http *h;
    struct http_conn *prev, *next;
    char peer[64];
    char ip[48];     /* the peer's address, for the limit per address */
    struct tls *tls; /* NULL: plain */
    bool tls_shut;   /* its close_notify queued */
    struct buf in;   /* plaintext read; from in_off on, not taken yet */
    size_t in_off;
    struct httpreq req;
    bool have_req;       /* req is DONE, being served */
    struct buf out;      /* being written */
    struct buf next_out; /* answered since */
    uv_write_t wr;
    bool writing;
    uint64_t write_ms; /* when the write in flight started */
    bool close_after;  /* the last answer written, close */
    bool closing;
    bool reading;
    uint64_t active_ms;      /* the last request completed (or the accept) */
    struct auth_http *login; /* the login under way, or NULL */
    char login_user[ACL_USER_MAX + 1]; /* the user it names */
    char cert_user[ACL_USER_MAX + 1];  /* --tls-cert-user's, or "" */
    bool cert_checked;
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

/* Bytes answered and not yet written. */
static size_t unwritten(const struct http_conn *c)
{
    return c->out.len + c->next_out.len;
}

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
    bool want = !c->closing && !c->close_after &&
                c->in.len - c->in_off < IN_MAX && unwritten(c) < OUT_MAX;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* Whether everything due is answered and written: a connection to close
 * after its last answer may close. */
static bool all_done(const struct http_conn *c)
{
    return !c->writing && c->next_out.len == 0 && !c->have_req &&
           c->login == NULL;
}

/* Writes what was answered; closes after the last answer when asked (with
 * TLS, after its close_notify). */
static void start_write(struct http_conn *c)
{
    if (c->writing || c->closing)
        return;
    if (c->close_after && c->tls != NULL && !c->tls_shut && !c->have_req &&
        c->login == NULL) {
        tls_shutdown(c->tls);
        c->tls_shut = true;
    }
    if (c->tls != NULL && tls_pending(c->tls) > 0 &&
        tls_take(c->tls, &c->next_out) != 0) {
        conn_close(c);
        return;
    }
    if (c->next_out.len == 0) {
        if (c->close_after && all_done(c))
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
    c->write_ms = uv_now(c->h->srv->loop);
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

/* An answer: status, type, body (n bytes; none for HEAD), written whole
 * or not at all (out of memory: the connection closes). */
static void answer(struct http_conn *c, int status, const char *type,
                   const char *body, size_t n, const char *extra)
{
    struct buf a;
    buf_init(&a);
    char length[48] = "";
    if (status != 204) /* which has no body, nor a length (RFC 9110) */
        snprintf(length, sizeof length, "Content-Length: %zu\r\n", n);
    int rc = buf_appendf(
        &a,
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sCache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n%s%s\r\n",
        status, reason(status), type, length, extra != NULL ? extra : "",
        c->close_after ? "Connection: close\r\n" : "");
    if (rc == 0 && !c->req.head_only)
        rc = buf_append(&a, body, n);
    if (rc == 0 && c->tls == NULL)
        rc = buf_append(&c->next_out, a.data, a.len);
    else if (rc == 0)
        rc = tls_send(c->tls, a.data, a.len) == 0 &&
                     tls_take(c->tls, &c->next_out) == 0
                 ? 0
                 : -1;
    buf_close(&a);
    if (rc != 0) {
        log_info("HTTP client %s: an answer could not be made (%s); closing",
                 c->peer, c->tls != NULL ? tls_error(c->tls) : "no memory");
        conn_close(c);
    }
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
    m -= (size_t)(b64[len - 1] == '=') + (size_t)(b64[len - 2] == '=');
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

/* Whether the user may have what the request asks; false with the
 * refusal answered (403). */
static bool may(struct http_conn *c, const char *user)
{
    enum need need = need_of(c->req.path);
    uint32_t category = need == NEED_READS ? ACL_CAT_READS : 0;
    if (auth_user_may(c->h->srv, user, strlen(user), category))
        return true;
    answer_text(c, 403,
                need == NEED_READS
                    ? "the user may not read every name (it needs the reads "
                      "category and READ *)\n"
                    : "the user was deleted or turned off\n");
    return false;
}

static void serve_now(struct http_conn *c);

/* The end of a request's login (its credentials needed hashing, or
 * failed): served or refused, then the requests after it. */
static void login_done(void *arg, bool ok)
{
    struct http_conn *c = arg;
    c->login = NULL;
    if (!ok)
        unauthorized(c, "the user and password were refused\n");
    else if (may(c, c->login_user))
        serve_now(c);
    c->have_req = false;
    httpreq_init(&c->req);
    process(c);
    start_write(c);
}

/* Whether the Host a request names is this machine (a loopback name or
 * address, or the --http address's host): with no login asked, a page of
 * another site that a browser here opens cannot read the status through
 * a name of its own pointed at 127.0.0.1 (DNS rebinding). A port open to
 * the network (--insecure) is anyone's anyway. */
static bool host_ok(const struct http_conn *c)
{
    const char *host = c->req.host;
    if (host[0] == '\0' || !config_is_loopback(c->h->srv->cfg->http))
        return true; /* HTTP/1.0, no browser; or open to the network */
    char name[CONFIG_ADDR_MAX], own[CONFIG_ADDR_MAX];
    size_t n = strlen(host);
    if (n >= sizeof name)
        return false;
    memcpy(name, host, n + 1);
    /* Without its port: after the last ':' unless inside [ ]. */
    char *colon = strrchr(name, ':');
    if (colon != NULL && strchr(colon, ']') == NULL)
        *colon = '\0';
    if (strcasecmp(name, "localhost") == 0)
        return true;
    char bare[CONFIG_ADDR_MAX];
    snprintf(bare, sizeof bare, "%s", name);
    if (bare[0] == '[') {
        memmove(bare, bare + 1, strlen(bare));
        char *e = strchr(bare, ']');
        if (e != NULL)
            *e = '\0';
    }
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, bare, &a4) == 1 ||
        inet_pton(AF_INET6, bare, &a6) == 1)
        return true; /* an address: no name to rebind */
    return config_addr_host(c->h->srv->cfg->http, own, sizeof own) == 0 &&
           strcasecmp(own, bare) == 0;
}

/* Whether the request may be served now: true when no login is needed or
 * its user may; false when it was answered (401, 403) or its login is
 * under way (login_done follows). Every request brings its own
 * credentials (or the connection its certificate). */
static bool allowed(struct http_conn *c)
{
    struct server *srv = c->h->srv;
    enum need need = need_of(c->req.path);
    if (need == NEED_NONE)
        return true;
    if (!auth_required(srv)) {
        if (host_ok(c))
            return true;
        answer_text(c, 403,
                    "not served to that Host: use this server's "
                    "address\n");
        return false;
    }
    if (c->req.authorization[0] == '\0' && c->cert_user[0] != '\0')
        return may(c, c->cert_user);
    char plain[AUTHZ_MAX];
    const char *u, *pw;
    size_t ulen, plen;
    const char *authz = c->req.authorization;
    if (authz[0] == '\0') {
        unauthorized(c, "this server wants a login: a dlock user and its "
                        "password (docs/operations.md, Monitoring)\n");
        return false;
    }
    if (strlen(authz) > AUTHZ_MAX ||
        !basic(authz, plain, sizeof plain, &u, &ulen, &pw, &plen) ||
        ulen > ACL_USER_MAX) {
        OPENSSL_cleanse(plain, sizeof plain);
        unauthorized(c, "Authorization: Basic with a dlock user and its "
                        "password\n");
        return false;
    }
    memcpy(c->login_user, u, ulen); /* for login_done */
    c->login_user[ulen] = '\0';
    int rc = auth_http_login(srv, c->peer, u, ulen, pw, plen, login_done, c,
                             &c->login);
    OPENSSL_cleanse(plain, sizeof plain);
    if (rc == AUTH_HTTP_PASSED)
        return may(c, c->login_user);
    if (rc == AUTH_HTTP_BUSY)
        answer_text(c, 503, "too many logins under way; retry shortly\n");
    return false;
}

/* Serves the request read (its login passed, if it needed one). */
static void serve_now(struct http_conn *c)
{
    struct server *srv = c->h->srv;
    const char *p = c->req.path;
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
    if (strcmp(c->req.method, "GET") != 0 &&
        strcmp(c->req.method, "HEAD") != 0) {
        answer(c, 405, "text/plain; charset=utf-8", "GET or HEAD only\n", 17,
               "Allow: GET, HEAD\r\n");
        return;
    }
    if (allowed(c))
        serve_now(c);
    else if (c->login != NULL)
        c->have_req = true; /* held until login_done */
}

/* Serves the requests read, in order, until one waits for its login or
 * the output is full. */
static void process(struct http_conn *c)
{
    while (!c->closing && !c->have_req && c->login == NULL && !c->close_after &&
           unwritten(c) < OUT_MAX && c->in_off < c->in.len) {
        size_t used;
        int rc = httpreq_feed(&c->req, c->in.data + c->in_off,
                              c->in.len - c->in_off, &used);
        c->in_off += used;
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
    /* What was taken goes once per batch, not once per request. */
    if (c->close_after || c->in_off == c->in.len) {
        buf_clear(&c->in);
        c->in_off = 0;
    } else if (c->in_off > 0) {
        buf_consume(&c->in, c->in_off);
        c->in_off = 0;
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
    if (n == UV_EOF) {
        /* The client sent all it will: its answers still go out. */
        c->close_after = true;
        uv_read_stop(s);
        c->reading = false;
        process(c);
        start_write(c);
        return;
    }
    if (n < 0) {
        conn_close(c);
        return;
    }
    int rc = 0;
    if (c->tls == NULL)
        rc = buf_append(&c->in, b->base, (size_t)n);
    else if (n > 0 &&
             (rc = tls_recv(c->tls, b->base, (size_t)n, &c->in)) != TLS_OK) {
        if (rc == TLS_FAILED)
            log_info("HTTP client %s: %s; closing", c->peer, tls_error(c->tls));
        c->close_after = true;
        c->tls_shut = rc == TLS_FAILED; /* its alert is all it gets */
        buf_clear(&c->in);
        c->in_off = 0;
    }
    if (c->tls == NULL && rc != 0) {
        conn_close(c);
        return;
    }
    if (c->tls != NULL && !c->cert_checked && tls_ready(c->tls)) {
        /* Once its handshake is done: a certificate naming a user. */
        c->cert_checked = true;
        if (!auth_cert_user(c->h->srv, c->tls, c->cert_user,
                            sizeof c->cert_user))
            c->cert_user[0] = '\0';
    }
    process(c);
    start_write(c);
}

/* Connections from one address at most: one client cannot take the port
 * from Prometheus and the load balancers. */
#define HTTP_CONNS_PER_ADDRESS 16

/* Makes room for a new connection from ip: false if that address has
 * HTTP_CONNS_PER_ADDRESS already; at HTTP_CONNS_MAX, the connection idle
 * the longest (nothing under way) is closed, if any. */
static bool room_for(struct http *h, const char *ip)
{
    unsigned same = 0;
    struct http_conn *idle = NULL;
    for (struct http_conn *c = h->conns; c != NULL; c = c->next) {
        same += strcmp(c->ip, ip) == 0;
        if (!c->writing && c->login == NULL && !c->have_req && c->in.len == 0 &&
            c->req.len == 0 && (idle == NULL || c->active_ms < idle->active_ms))
            idle = c;
    }
    if (same >= HTTP_CONNS_PER_ADDRESS)
        return false;
    if (h->n_conns < HTTP_CONNS_MAX)
        return true;
    if (idle == NULL)
        return false;
    conn_close(idle);
    return true;
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
    struct sockaddr_storage sa;
    int len = sizeof sa;
    int port = 0;
    snprintf(c->ip, sizeof c->ip, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        if (sa.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&sa, c->ip, sizeof c->ip);
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&sa, c->ip, sizeof c->ip);
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", c->ip, port);
    if (!room_for(h, c->ip)) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed); /* dropped */
        return;
    }
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    h->n_conns++;
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
        bool partial = c->in.len > 0 || c->req.len > 0;
        if (c->writing ? now - c->write_ms >= HTTP_IDLE_MS /* not read */
            : c->login != NULL || c->have_req
                ? false
                : now - c->active_ms >= (partial ? HTTP_HEAD_MS : HTTP_IDLE_MS))
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
