/* conn.c - one client connection: RESP requests in, replies out in request
 * order, with backpressure and a bound on what a slow client may leave
 * unread. */
#include "server/conn.h"

#include <inttypes.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common/mem.h"
#include "common/resp.h"
#include "server/auth.h"
#include "server/command.h"
#include "server/watch.h"
#include "server/listener.h"
#include "server/logger.h"
#include "server/server.h"
#include "server/stream.h"
#include "tls/tls.h"

/* Requests stop being served, and the socket read, while this many replies
 * are pending, or this many bytes of replies wait to be sent, and resume
 * below them. */
#define PAUSE_SLOTS 1024
#define PAUSE_BYTES (1u << 20)
/* An output buffer this big or smaller is kept once its replies are sent. */
#define KEPT_OUTPUT (64u << 10)
/* Freed memory is given back to the system (malloc_trim) by the sweep once
 * connections freed this much: glibc keeps what it freed otherwise. */
#define TRIM_BYTES (16u << 20)
/* A TLS connection with nothing under way for this long gives its record
 * buffers back (tls_idle); a busy one keeps them. */
#define TLS_IDLE_MS 1000
/* Connections closed past --max-input-total are logged at most this often,
 * with a count. */
#define INPUT_LOG_MS 60000

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static struct resp_reader *reader(struct conn *c)
{
    return c->reader;
}

#define CHUNK 65536

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char chunk[CHUNK];
    buf->base = chunk;
    buf->len = sizeof chunk;
}

static bool must_pause(const struct conn *c)
{
    size_t queued =
        c->out.len + c->held + c->reserved + (c->writing ? PAUSE_BYTES / 2 : 0);
    return c->n_slots >= PAUSE_SLOTS || queued >= PAUSE_BYTES || c->auth_busy;
}

static void dispatch(struct conn *c);
static void update_reading(struct conn *c);
static void on_resume(uv_idle_t *h);

static bool resume_listed(const struct conn *c)
{
    return c->resume_prev != NULL || c->srv->resume == c;
}

static void resume_unlist(struct conn *c)
{
    if (!resume_listed(c))
        return;
    struct server *srv = c->srv;
    if (c->resume_prev != NULL)
        c->resume_prev->resume_next = c->resume_next;
    else
        srv->resume = c->resume_next;
    if (c->resume_next != NULL)
        c->resume_next->resume_prev = c->resume_prev;
    else
        srv->resume_tail = c->resume_prev;
    c->resume_prev = c->resume_next = NULL;
}

/* Requests read and not yet served are served from the loop's next turn,
 * never from inside whatever filled a reply (an entry being applied, say),
 * in the order the connections came to wait: one cut short by the turn's
 * budget goes behind the others. */
static void resume_later(struct conn *c)
{
    if (resume_listed(c))
        return;
    struct server *srv = c->srv;
    if (srv->resume == NULL)
        uv_idle_start(&srv->resume_idle, on_resume);
    c->resume_next = NULL;
    c->resume_prev = srv->resume_tail;
    if (srv->resume_tail != NULL)
        srv->resume_tail->resume_next = c;
    else
        srv->resume = c;
    srv->resume_tail = c;
}

/* While connections wait, the idle handle keeps the loop from blocking in
 * its poll; each turn serves them for at most one budget (turn.h), so
 * timers, Raft messages and other sockets get their turn in between. */
static void on_resume(uv_idle_t *h)
{
    struct server *srv = h->data;
    while (srv->resume != NULL) {
        if (turn_over(&srv->turn))
            return;
        struct conn *c = srv->resume;
        resume_unlist(c);
        dispatch(c);
        update_reading(c);
    }
    uv_idle_stop(&srv->resume_idle);
}

/* Reads the socket while the replies allow and no request read waits to be
 * served: requests read and not served go first, when the replies allow
 * (resume_later), and a connection cut short by the turn's budget reads
 * nothing more until they are served, so what it holds stays bounded. */
static void update_reading(struct conn *c)
{
    if (c->closing)
        return;
    bool blocked = must_pause(c) || c->close_after_write;
    if (!blocked && c->unserved)
        resume_later(c);
    bool pause = blocked || c->unserved;
    if (pause && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    } else if (!pause && !c->reading) {
        /* The client could not send the rest while it was not read. */
        if (c->partial_ms != 0)
            c->partial_ms = uv_now(c->srv->loop);
        c->reading = true;
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, conn_read_cb);
    }
}

static void write_cb(uv_write_t *req, int status);

static void start_write(struct conn *c)
{
    if (c->writing || c->closing)
        return;
    /* Most replies fit the socket at once, and the buffer stays for the
     * next ones. */
    int sent = c->out.len > 0 ? stream_send_now((uv_stream_t *)&c->tcp,
                                                c->out.data, c->out.len)
                              : 0;
    if (sent < 0) {
        conn_close(c);
        return;
    }
    if ((size_t)sent == c->out.len) {
        if (c->out.cap > KEPT_OUTPUT)
            buf_close(&c->out);
        else
            buf_clear(&c->out);
        /* QUIT or a protocol error: every earlier reply goes out first,
         * in order (one pending reply, e.g. an acquire that applied,
         * would otherwise be lost). */
        if (c->close_after_write && c->head == NULL)
            conn_close(c);
        return;
    }
    if (c->out.len - (size_t)sent > c->srv->cfg->max_output) {
        log_warn("client %s: %zu bytes of replies unread; closing", c->peer,
                 c->out.len - (size_t)sent);
        conn_close(c);
        return;
    }
    uv_buf_t b =
        uv_buf_init(c->out.data + sent, (unsigned)(c->out.len - (size_t)sent));
    c->inflight = c->out.data;
    buf_init(&c->out);
    c->writing = true;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
        c->writing = false;
        conn_close(c);
    }
}

static void write_cb(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = false;
    free(c->inflight);
    c->inflight = NULL;
    if (status < 0) {
        conn_close(c);
        return;
    }
    start_write(c);
    update_reading(c);
}

static void out_of_memory(void)
{
    log_error("out of memory for a reply");
    abort();
}

/* Encrypts the n bytes of plaintext at p into c's output, on a TLS port:
 * one call makes records of up to 16 KiB, so replies are gathered first.
 * An engine that fails closes the connection. */
static void seal(struct conn *c, const void *p, size_t n)
{
    if (tls_send(c->tls, p, n) != 0) {
        log_info("client %s: %s; closing", c->peer, tls_error(c->tls));
        conn_close(c);
    } else if (tls_take(c->tls, &c->out) != 0) {
        out_of_memory();
    }
}

/* Moves the replies that are ready at the head into the output. */
static void flush_slots(struct conn *c)
{
    struct buf *dst = c->tls != NULL ? &c->srv->tls_out : &c->out;
    while (c->head != NULL && c->head->ready) {
        struct slot *s = c->head;
        c->head = s->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->n_slots--;
        c->held -= s->buf.len;
        if (buf_append(dst, s->buf.data, s->buf.len) != 0)
            out_of_memory();
        slot_free(s);
    }
    if (c->tls != NULL && dst->len > 0) {
        seal(c, dst->data, dst->len);
        if (dst->cap > KEPT_OUTPUT)
            buf_close(dst);
        else
            buf_clear(dst);
    }
    start_write(c);
    update_reading(c);
}

void slot_free(struct slot *s)
{
    buf_close(&s->buf);
    free(s->op);
    free(s);
}

void slot_reserve(struct slot *s, size_t bytes)
{
    if (s->conn == NULL || s->ready)
        return;
    s->conn->reserved += bytes;
    s->reserve += bytes;
}

void slot_done(struct slot *s)
{
    if (s->conn == NULL) {
        slot_free(s);
        return;
    }
    s->ready = true;
    s->conn->reserved -= s->reserve;
    s->reserve = 0;
    s->conn->held += s->buf.len;
    s->conn->active_ms = uv_now(s->conn->srv->loop);
    flush_slots(s->conn);
}

static struct slot *new_slot(struct conn *c)
{
    struct slot *s = mem_xcalloc(1, sizeof *s);
    s->conn = c;
    buf_init(&s->buf);
    if (c->tail != NULL)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    c->n_slots++;
    return s;
}

/* Brings c->input and srv->input_total up to what c's reader holds. */
static void account(struct conn *c)
{
    struct server *srv = c->srv;
    size_t now = c->closing ? 0 : resp_reader_memory(reader(c));
    if (now < c->input)
        srv->input_freed += c->input - now;
    srv->input_total = srv->input_total - c->input + now;
    c->input = now;
}

/* Drops the input c holds (nothing after it is served). */
static void drop_input(struct conn *c)
{
    resp_reader_close(reader(c));
    account(c);
    c->unserved = false;
    c->partial_ms = 0;
}

/* Answers "why" (a LIMIT error) after the replies before it, drops the
 * input held and closes the connection. */
void conn_limit_close(struct conn *c, const char *why)
{
    drop_input(c);
    struct slot *s = new_slot(c);
    resp_write_error(&s->buf, why);
    metrics_error(&c->srv->metrics, why);
    c->close_after_write = true;
    slot_done(s);
}

/* Keeps the input all readers hold within --max-input-total: while it is
 * over, the connection holding the most is answered LIMIT and closed, so
 * that many connections each holding much cannot lock out those that
 * send whole requests (docs/protocol.md §7). */
static void bound_input(struct server *srv)
{
    while (srv->input_total > srv->cfg->max_input_total) {
        struct conn *big = NULL;
        for (struct conn *c = srv->conns; c != NULL; c = c->next)
            if (!c->closing && (big == NULL || c->input > big->input))
                big = c;
        if (big == NULL || big->input == 0)
            return;
        uint64_t now = uv_now(srv->loop);
        srv->input_closed++;
        if (srv->input_logged_ms == 0 ||
            now - srv->input_logged_ms >= INPUT_LOG_MS) {
            log_warn("clients hold more than %" PRIu64 " bytes of unfinished "
                     "input (--max-input-total): %" PRIu64 " connection%s "
                     "closed, the latest %s with %zu bytes",
                     srv->cfg->max_input_total, srv->input_closed,
                     srv->input_closed == 1 ? "" : "s", big->peer, big->input);
            srv->input_logged_ms = now;
            srv->input_closed = 0;
        }
        conn_limit_close(big,
                         "LIMIT the server holds too much unfinished input "
                         "from its clients (--max-input-total); this "
                         "connection held the most");
    }
}

/* Answers "ERR why" (a protocol error) after the replies before it and
 * closes the connection (docs/protocol.md §2): what follows in the stream
 * cannot be trusted to start a request. */
static void protocol_error(struct conn *c, const char *why)
{
    struct slot *s = new_slot(c);
    char msg[256];
    snprintf(msg, sizeof msg, "ERR %s", why ? why : "Protocol error");
    resp_write_error(&s->buf, msg);
    metrics_error(&c->srv->metrics, msg);
    c->close_after_write = true;
    drop_input(c);
    log_info("client %s broke the protocol (%s); closing", c->peer,
             why ? why : "?");
    slot_done(s);
}

/* Sends what c's engine has for the network (handshake messages, an
 * alert), after the replies already in its output. */
static void tls_output(struct conn *c)
{
    if (tls_pending(c->tls) == 0)
        return;
    if (tls_take(c->tls, &c->out) != 0)
        out_of_memory();
    start_write(c);
}

/* Takes n bytes that arrived on a TLS port: the plaintext they complete is
 * in plain. False if the connection ends: its handshake or a record failed
 * (it is sent the alert, if any, and closed), or the client ended the
 * session. */
static bool tls_input(struct conn *c, const char *data, size_t n,
                      struct buf *plain)
{
    if (plain->cap > CHUNK * 2)
        buf_close(plain);
    buf_clear(plain);
    /* A TLS client starts with a handshake record (content type 22); a
     * plain RESP client is told in RESP what it missed. */
    if (!c->tls_begun && (unsigned char)data[0] != 22) {
        static const char no[] =
            "-ERR this port speaks TLS: connect with TLS (redis-cli --tls "
            "--cacert CA_FILE; docs/security.md)\r\n";
        c->srv->tls_failed++;
        log_info("client %s: not TLS on the TLS port; closing", c->peer);
        stream_send_now((uv_stream_t *)&c->tcp, no, sizeof no - 1);
        conn_close(c);
        return false;
    }
    c->tls_begun = true;
    int rc = tls_recv(c->tls, data, n, plain);
    if (rc != TLS_OK) {
        if (rc == TLS_FAILED) {
            c->srv->tls_failed++;
            log_info("client %s: %s; closing", c->peer, tls_error(c->tls));
            /* The alert says why, if the socket takes it now. */
            struct buf alert = {0};
            if (tls_take(c->tls, &alert) == 0 && alert.len > 0)
                stream_send_now((uv_stream_t *)&c->tcp, alert.data, alert.len);
            buf_close(&alert);
        }
        conn_close(c);
        return false;
    }
    if (!c->tls_ready && tls_ready(c->tls)) {
        c->tls_ready = true;
        c->partial_ms = 0; /* the handshake's clock stops */
        char what[128], name[CONN_NAME_MAX];
        tls_describe(c->tls, what, sizeof what);
        if (tls_peer_name(c->tls, name, sizeof name))
            log_debug("client %s: %s, certificate of %s", c->peer, what, name);
        else
            log_debug("client %s: %s", c->peer, what);
        auth_cert_login(c);
    }
    tls_output(c);
    return !c->closing;
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->close_after_write)
        return;
    /* libuv reads on while a read fills its buffer: a full one may have
     * left more in the socket. */
    c->full_read = nread == CHUNK;
    c->active_ms = uv_now(c->srv->loop);
    c->woke_ns = turn_woke(&c->srv->turn);
    const char *data = buf->base;
    size_t n = (size_t)nread;
    if (c->tls != NULL) {
        struct buf *plain = &c->srv->tls_in;
        if (!tls_input(c, data, n, plain))
            return;
        data = plain->data;
        n = plain->len;
        if (n == 0)
            return;
    }
    c->in_bytes += n;
    if (resp_reader_feed(reader(c), data, n) != 0) {
        protocol_error(c, resp_reader_error(reader(c)));
        return;
    }
    account(c);
    dispatch(c);
    update_reading(c);
    bound_input(c->srv);
}

/* Serves the requests read and not yet served, in order, until the replies
 * they leave make the connection pause (must_pause): a few bytes of
 * requests may ask for megabytes of replies (LOCK.LIST), so a client that
 * does not read is held to about PAUSE_BYTES plus one reply. The turn's
 * budget may cut it short too: the rest is served in a later turn. Called
 * only from the loop's own callbacks (a read, the resume idle). */
static void dispatch(struct conn *c)
{
    c->unserved = true;
    while (!c->closing && !c->close_after_write && !must_pause(c)) {
        if (turn_over(&c->srv->turn)) {
            resume_later(c);
            break;
        }
        const struct resp_value *v;
        int rc = resp_reader_next(reader(c), &v);
        if (rc == 0) {
            c->unserved = false;
            break;
        }
        if (rc < 0) {
            protocol_error(c, resp_reader_error(reader(c)));
            break;
        }
        if (!command_is_request(v)) {
            protocol_error(c, "Protocol error: a request is a non-empty "
                              "array of bulk strings");
            break;
        }
        struct slot *s = new_slot(c);
        s->woke_ns = c->woke_ns;
        s->recv_ns = uv_hrtime();
        c->srv->total_commands++;
        c->partial_ms = 0; /* a request completed */
        if (command_dispatch(c, s, v))
            slot_done(s);
    }
    if (c->closing)
        return;
    account(c);
    /* The clock of --request-timeout-ms runs while a request is unfinished
     * and no other completes; not while complete ones wait for the server. */
    if (c->unserved || c->close_after_write ||
        resp_reader_pending(reader(c)) == 0)
        c->partial_ms = 0;
    else if (c->partial_ms == 0)
        c->partial_ms = uv_now(c->srv->loop);
}

void conn_push(struct conn *c, const void *data, size_t len)
{
    if (c->closing)
        return;
    if (c->tls != NULL)
        seal(c, data, len);
    else if (buf_append(&c->out, data, len) != 0)
        out_of_memory();
    c->active_ms = uv_now(c->srv->loop);
    start_write(c);
}

static void closed_cb(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->srv->input_freed += c->out.cap;
    resp_reader_close(c->reader);
    free(c->reader);
    buf_close(&c->out);
    free(c->inflight);
    tls_free(c->tls);
    free(c);
}

void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct server *srv = c->srv;
    resume_unlist(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->n_conns--;
    watch_conn_closed(srv->watch, c);
    account(c);
    listener_release(&srv->clients, c->from);
    c->from = NULL;
    /* Replies still pending belong to operations under way: they find the
     * client gone. Ready ones are dropped now. */
    struct slot *s = c->head;
    while (s != NULL) {
        struct slot *next = s->next;
        s->next = NULL;
        s->conn = NULL;
        if (s->ready)
            slot_free(s);
        else if (s->on_close != NULL)
            s->on_close(s);
        s = next;
    }
    c->head = c->tail = NULL;
    uv_close((uv_handle_t *)&c->tcp, closed_cb);
}

/* Bytes waiting in c's socket, unread (0 if that cannot be told). */
static uint64_t socket_unread(struct conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 ||
        ioctl(fd, FIONREAD, &n) != 0 || n < 0)
        return 0;
    return (uint64_t)n;
}

bool conn_input_settled(void *arg, uint64_t round)
{
    struct server *srv = arg;
    bool settled = true;
    for (struct conn *c = srv->conns; c != NULL; c = c->next) {
        /* Behind: requests wait in its reader (the turn's budget cut it
         * short), or the last read may have left some in the socket. */
        bool behind = c->unserved || c->full_read;
        if (c->settle_round != round) {
            c->settle_round = round;
            c->settle_target = behind ? c->in_bytes + socket_unread(c) : 0;
        }
        if (c->settle_target == 0 || c->closing || c->close_after_write ||
            must_pause(c))
            continue;
        uint64_t served = c->in_bytes - resp_reader_pending(reader(c));
        if (served >= c->settle_target || !behind)
            c->settle_target = 0;
        else
            settled = false;
    }
    return settled;
}

/* The client's address, for the log. */
static void name_peer(struct conn *c, const struct sockaddr_storage *sa)
{
    char ip[48];
    int port = 0;
    if (sa->ss_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

void conn_accept(struct server *srv, int fd, const struct sockaddr_storage *sa,
                 struct listener_addr *from)
{
    struct conn *c = mem_xcalloc(1, sizeof *c);
    c->srv = srv;
    c->proto = 2;
    c->id = ++srv->next_conn_id;
    c->reader = mem_xmalloc(sizeof(struct resp_reader));
    struct resp_limits lim = resp_limits_server;
    if (lim.max_pending > srv->cfg->max_request)
        lim.max_pending = srv->cfg->max_request;
    resp_reader_init(reader(c), &lim);
    buf_init(&c->out);
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        listener_release(&srv->clients, from);
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, closed_cb);
        return;
    }
    c->from = from;
    name_peer(c, sa);
    auth_conn_init(c);
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    srv->total_conns++;
    c->active_ms = uv_now(srv->loop);
    uv_tcp_nodelay(&c->tcp, 1);
    /* Its socket is polled from the loop's next turn: until a read, what
     * the client sent may wait there (conn_input_settled). */
    c->full_read = true;
    if (srv->tls_clients != NULL) {
        c->tls = tls_new(srv->tls_clients, NULL);
        if (c->tls == NULL) {
            log_warn("client %s: out of memory for TLS; closing", c->peer);
            conn_close(c);
            return;
        }
        /* The handshake must end within --request-timeout-ms. */
        c->partial_ms = c->active_ms;
    }
    c->reading = true;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, conn_read_cb);
}

/* Nothing under way: no bytes of a request, no reply pending or unsent. A
 * blocking acquire waiting for its grant has its reply pending. */
static bool is_idle(struct conn *c)
{
    return c->head == NULL && !c->writing && c->out.len == 0 &&
           !c->close_after_write && resp_reader_pending(reader(c)) == 0;
}

void conn_sweep(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    uint64_t now = uv_now(srv->loop);
    struct conn *next;
    for (struct conn *c = srv->conns; c != NULL; c = next) {
        next = c->next;
        if (c->closing || c->close_after_write)
            continue;
        if (cfg->request_timeout_ms > 0 && c->partial_ms != 0 && c->reading &&
            now - c->partial_ms >= cfg->request_timeout_ms) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "LIMIT request not complete within %" PRIu64
                     " ms (--request-timeout-ms)",
                     cfg->request_timeout_ms);
            log_debug("client %s: request unfinished for %" PRIu64
                      " ms; closing",
                      c->peer, now - c->partial_ms);
            conn_limit_close(c, msg);
        } else if (cfg->idle_timeout_ms > 0 && is_idle(c) &&
                   now - c->active_ms >= cfg->idle_timeout_ms) {
            log_debug("client %s: idle for %" PRIu64 " ms; closing", c->peer,
                      now - c->active_ms);
            conn_close(c);
        } else if (c->tls != NULL && c->tls_ready && is_idle(c) &&
                   now - c->active_ms >= TLS_IDLE_MS) {
            tls_idle(c->tls); /* its record buffers, until it is busy */
        }
    }
#ifdef __GLIBC__
    if (srv->input_freed >= TRIM_BYTES) {
        malloc_trim(0);
        srv->input_freed = 0;
    }
#endif
}
