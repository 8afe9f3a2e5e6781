/* peer.c - the Raft transport between servers: one outbound TCP connection
 * to each peer for what this server sends, inbound connections for what it
 * receives. Frames are the peer codec's; a connection opens with a hello. */
#include "server/peer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/le.h"
#include "common/mem.h"
#include "raft/hello.h"
#include "raft/wire.h"
#include "server/config.h"
#include "server/logger.h"
#include "server/peerids.h"
#include "server/stream.h"
#include "tls/tls.h"

#define MAX_PENDING                                                            \
    (64u << 20) /* bytes queued for one peer before dropping                   \
                 */
/* A buffer of pending frames this big or smaller is kept once sent. */
#define KEPT_PENDING (1u << 20)
#define BACKOFF_MIN 50
#define BACKOFF_MAX 1000
/* How often the inbound connections' timeouts are checked. */
#define SWEEP_MS 1000
/* An inbound buffer bigger than this is given back once emptied. */
#define KEPT_IN (256u << 10)
#define READ_CHUNK 65536

enum { OUT_IDLE, OUT_CONNECTING, OUT_CONNECTED };

struct out_conn {
    struct peers *p;
    uint64_t id;
    char addr[RAFT_ADDR_MAX];
    int state;
    bool tcp_open; /* tcp initialised and not yet closed */
    bool waiting;  /* the retry timer runs */
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t retry;
    uint64_t backoff;
    uint8_t *pending; /* frames not yet handed to a write */
    size_t len, cap;
    uint8_t *inflight; /* the write in progress */
    uv_write_t wreq;
    bool writing;
    char last_err[96];  /* why the last connect failed, or "" */
    bool other_cluster; /* refused as another cluster's: said once */
    uint64_t last_ms;   /* when something was last queued or connected */
    uint8_t back[HELLO_REFUSAL_MAX_SIZE]; /* what the peer sent back */
    size_t back_len;
    /* With TLS: the engine. pending holds plaintext until its frames go
     * out, sealed into records just before (out_seal); nothing of it goes
     * before the handshake is done. */
    struct tls *tls;
};

struct in_conn {
    struct peers *p;
    struct in_conn *next;
    uv_tcp_t tcp;
    uint8_t *buf;
    size_t len, cap;
    bool hello;
    bool member; /* from a member, as the hello was read */
    uint64_t from;
    uint64_t nonce;    /* the sender's process, 0 for a version 1 hello */
    uint64_t since_ms; /* accepted */
    uint64_t last_ms;  /* last read */
    struct tls *tls;   /* with TLS: the engine; buf holds plaintext */
};

struct peers {
    uv_loop_t *loop;
    uint64_t id;
    char client_addr[CONFIG_ADDR_MAX];
    char raft_addr[CONFIG_ADDR_MAX];
    struct peers_cbs cbs;
    void *arg;
    uint64_t dir_id, nonce;
    uint64_t cluster_id;
    uint64_t other_logged; /* last id refused as another cluster's */
    struct peerids ids;
    uv_tcp_t listener;
    bool listening;
    /* Outgoing connections leave from the listening address's IP (port 0)
     * when it names one, so that peers and firewalls see one address per
     * server; from the system's choice for a wildcard listener. */
    struct sockaddr_storage source;
    bool bind_source;
    struct out_conn *outs[RAFT_MAX_SERVERS * 2];
    unsigned n_outs;
    struct in_conn *ins; /* newest first */
    uv_timer_t sweep;
    bool sweeping;
    /* Closed since the last sweep's log line, by reason. */
    unsigned shed_pending, shed_slow, shed_id, shed_others, shed_tls;
    bool closing;
    bool corked; /* messages are queued, not written (peers_cork) */
    unsigned open_handles;
    void (*done)(void *arg);
    void *done_arg;
    /* With TLS (peers_set_tls): servers are accepted with one, connected
     * to with the other. */
    struct tls_ctx *tls_accept, *tls_connect;
    struct buf tls_buf;        /* plaintext or records on their way */
    char tls_refused_why[128]; /* the last reason logged (in_tls_refused) */
};

static void closed_one(struct peers *p)
{
    if (--p->open_handles == 0 && p->closing && p->done != NULL) {
        void (*done)(void *) = p->done;
        p->done = NULL;
        done(p->done_arg);
    }
}

static bool reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    *buf = mem_xrealloc(*buf, c);
    *cap = c;
    return true;
}

/* ---- outbound --------------------------------------------------------- */

static void out_connect(struct out_conn *o);

static void out_tcp_closed(uv_handle_t *h)
{
    struct out_conn *o = h->data;
    closed_one(o->p);
}

static void out_retry_cb(uv_timer_t *t)
{
    struct out_conn *o = t->data;
    o->waiting = false;
    out_connect(o);
}

/* Drops the connection and what was queued on it; retries with backoff. */
static void out_reset(struct out_conn *o, const char *why)
{
    if (o->state == OUT_CONNECTED) {
        log_info("peer %" PRIu64 " at %s lost: %s", o->id, o->addr, why);
    } else if (strcmp(o->last_err, why) != 0) {
        /* Said once per reason, not at every retry. */
        log_warn("peer %" PRIu64 " at %s: cannot connect: %s", o->id, o->addr,
                 why);
        snprintf(o->last_err, sizeof o->last_err, "%s", why);
    }
    o->state = OUT_IDLE;
    o->len = 0;
    tls_free(o->tls);
    o->tls = NULL;
    if (o->tcp_open) {
        o->tcp_open = false;
        uv_close((uv_handle_t *)&o->tcp, out_tcp_closed);
    }
    if (!o->waiting && !o->p->closing) {
        o->waiting = true;
        o->backoff = o->backoff ? 2 * o->backoff : BACKOFF_MIN;
        if (o->backoff > BACKOFF_MAX)
            o->backoff = BACKOFF_MAX;
        uv_timer_start(&o->retry, out_retry_cb, o->backoff, 0);
    }
}

/* Closes a connection that had nothing to send for PEERS_IDLE_MS / 2,
 * quietly and with no retry: the next message connects again (peer.h). */
static void out_idle(struct out_conn *o)
{
    log_debug("peer %" PRIu64 " at %s: nothing sent for %u s; closing the "
              "connection until the next message",
              o->id, o->addr, PEERS_IDLE_MS / 2000);
    o->state = OUT_IDLE;
    o->backoff = 0;
    tls_free(o->tls);
    o->tls = NULL;
    if (o->tcp_open) {
        o->tcp_open = false;
        uv_close((uv_handle_t *)&o->tcp, out_tcp_closed);
    }
}

/* With TLS, turns the plaintext in pending into records, in place. False
 * if the engine failed (the connection is reset). */
static bool out_seal(struct out_conn *o)
{
    struct buf *b = &o->p->tls_buf;
    buf_clear(b);
    if (tls_send(o->tls, o->pending, o->len) != 0 || tls_take(o->tls, b) != 0) {
        out_reset(o, tls_error(o->tls));
        return false;
    }
    if (b->len > 0) {
        reserve(&o->pending, &o->cap, b->len);
        memcpy(o->pending, b->data, b->len);
    }
    o->len = b->len;
    if (b->cap > KEPT_PENDING)
        buf_close(b);
    return true;
}

static void out_written(uv_write_t *req, int status)
{
    struct out_conn *o = req->data;
    o->writing = false;
    free(o->inflight);
    o->inflight = NULL;
    if (status < 0) {
        if (status != UV_ECANCELED)
            out_reset(o, uv_strerror(status));
        return;
    }
    if (o->state == OUT_CONNECTED && o->len > 0 && !o->p->corked &&
        (o->tls == NULL || out_seal(o))) {
        /* Everything queued meanwhile goes at once, most often whole into
         * the socket, and the buffer stays for the next frames. */
        int sent = stream_send_now((uv_stream_t *)&o->tcp, o->pending, o->len);
        if (sent < 0) {
            out_reset(o, uv_strerror(sent));
            return;
        }
        if ((size_t)sent == o->len) {
            o->len = 0;
            if (o->cap > KEPT_PENDING) {
                free(o->pending);
                o->pending = NULL;
                o->cap = 0;
            }
            return;
        }
        o->inflight = o->pending;
        uv_buf_t b = uv_buf_init((char *)o->inflight + sent,
                                 (unsigned)(o->len - (size_t)sent));
        o->pending = NULL;
        o->len = o->cap = 0;
        o->writing = true;
        if (uv_write(&o->wreq, (uv_stream_t *)&o->tcp, &b, 1, out_written) !=
            0) {
            o->writing = false;
            free(o->inflight);
            o->inflight = NULL;
            out_reset(o, "write failed");
        }
    }
}

static void out_write(struct out_conn *o)
{
    if (o->state != OUT_CONNECTED || o->writing || o->len == 0 ||
        o->p->corked || (o->tls != NULL && !tls_ready(o->tls)))
        return;
    o->writing = true;
    o->wreq.data = o;
    out_written(&o->wreq, 0);
}

static void out_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char sink[READ_CHUNK];
    struct out_conn *o = h->data;
    buf->base = sink;
    /* Without TLS only a refusal comes back; with it, the handshake. */
    buf->len = o->tls != NULL ? sizeof sink : 256;
}

/* Nothing is expected on an outbound connection but a refusal (the peer
 * will not hear this server: peerids.h) and its end. */
static void out_back(struct out_conn *o, const uint8_t *data, size_t len)
{
    size_t room = sizeof o->back - o->back_len;
    memcpy(o->back + o->back_len, data, len < room ? len : room);
    o->back_len += len < room ? len : room;
    char why[HELLO_REFUSAL_MAX + 1];
    if (hello_refusal_decode(o->back, o->back_len, why) <= 0)
        return;
    o->back_len = 0;
    if (strncmp(why, HELLO_OTHER_CLUSTER, strlen(HELLO_OTHER_CLUSTER)) == 0) {
        /* Retry about once a second, saying so once. */
        if (!o->other_cluster)
            log_warn("peer %" PRIu64 " at %s refused this server: %s", o->id,
                     o->addr, why);
        o->other_cluster = true;
        why[sizeof o->last_err - 1] = '\0';
        memcpy(o->last_err, why, strlen(why) + 1);
        o->state = OUT_CONNECTING;
        o->backoff = BACKOFF_MAX;
        out_reset(o, o->last_err);
        return;
    }
    if (o->p->cbs.refused != NULL)
        o->p->cbs.refused(o->p->arg, o->id, why);
}

/* With TLS: bytes from the peer, the handshake's or a refusal's. */
static void out_tls_read(struct out_conn *o, const uint8_t *data, size_t n)
{
    struct buf *plain = &o->p->tls_buf;
    buf_clear(plain);
    bool was_ready = tls_ready(o->tls);
    int rc = tls_recv(o->tls, data, n, plain);
    if (rc != TLS_OK) {
        /* The alert tells the peer why, if the socket takes it now. */
        struct buf alert = {0};
        if (tls_take(o->tls, &alert) == 0 && alert.len > 0)
            (void)stream_send_now((uv_stream_t *)&o->tcp, alert.data,
                                  alert.len);
        buf_close(&alert);
        if (!was_ready)
            o->state = OUT_CONNECTING; /* said once, retried with backoff */
        out_reset(o, rc == TLS_CLOSED ? "closed by peer" : tls_error(o->tls));
        return;
    }
    if (plain->len > 0) {
        /* out_back may reset o, and it reads the plaintext */
        struct buf got = *plain;
        buf_init(plain);
        out_back(o, (const uint8_t *)got.data, got.len);
        buf_close(&got);
        if (o->tls == NULL)
            return;
    }
    stream_write_tls((uv_stream_t *)&o->tcp, o->tls);
    if (!was_ready && tls_ready(o->tls)) {
        char what[128];
        tls_describe(o->tls, what, sizeof what);
        log_info("peer %" PRIu64 " at %s: %s", o->id, o->addr, what);
        o->last_err[0] = '\0';
        o->backoff = 0;
        out_write(o); /* the hello and what was queued */
    }
}

static void out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct out_conn *o = s->data;
    if (nread > 0 && o->tls != NULL)
        out_tls_read(o, (const uint8_t *)buf->base, (size_t)nread);
    else if (nread > 0)
        out_back(o, (const uint8_t *)buf->base, (size_t)nread);
    if (nread < 0)
        out_reset(s->data,
                  nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
}

/* With TLS: the engine that checks the peer's certificate against its
 * address's host, and the ClientHello. False if o was reset. */
static bool out_tls_start(struct out_conn *o)
{
    char host[CONFIG_ADDR_MAX];
    if (config_addr_host(o->addr, host, sizeof host) != 0) {
        out_reset(o, "bad address");
        return false;
    }
    o->tls = tls_new(o->p->tls_connect, host);
    if (o->tls == NULL || tls_error(o->tls)[0] != '\0') {
        char why[160];
        snprintf(why, sizeof why, "%s",
                 o->tls ? tls_error(o->tls) : "out of memory for TLS");
        out_reset(o, why);
        return false;
    }
    stream_write_tls((uv_stream_t *)&o->tcp, o->tls);
    return true;
}

static void out_connected(uv_connect_t *req, int status)
{
    struct out_conn *o = req->data;
    if (status < 0) {
        if (status != UV_ECANCELED)
            out_reset(o, uv_strerror(status));
        return;
    }
    o->state = OUT_CONNECTED;
    o->last_ms = uv_now(o->p->loop);
    if (o->p->tls_connect == NULL) {
        /* With TLS, once the handshake is done: a peer that refuses it is
         * retried as one that cannot be connected to. */
        o->last_err[0] = '\0';
        o->backoff = 0;
    }
    uv_tcp_nodelay(&o->tcp, 1);
    if (o->p->tls_connect != NULL && !out_tls_start(o))
        return;
    uv_read_start((uv_stream_t *)&o->tcp, out_alloc, out_read);
    log_info("peer %" PRIu64 " at %s connected", o->id, o->addr);
    /* The hello goes first, before what was queued while connecting. */
    struct hello h = {.version = HELLO_VERSION,
                      .from = o->p->id,
                      .to = o->id,
                      .dir_id = o->p->dir_id,
                      .nonce = o->p->nonce,
                      .cluster_id = o->p->cluster_id};
    snprintf(h.client_addr, sizeof h.client_addr, "%s", o->p->client_addr);
    snprintf(h.raft_addr, sizeof h.raft_addr, "%s", o->p->raft_addr);
    uint8_t *buf = mem_xmalloc(HELLO_MAX_SIZE + o->len);
    size_t hlen = hello_encode(&h, buf, HELLO_MAX_SIZE);
    o->back_len = 0;
    if (o->len > 0)
        memcpy(buf + hlen, o->pending, o->len);
    free(o->pending);
    o->pending = buf;
    o->len += hlen;
    o->cap = o->len;
    out_write(o);
}

static void out_connect(struct out_conn *o)
{
    struct sockaddr_storage sa;
    if (o->p->closing || o->state != OUT_IDLE)
        return;
    if (config_parse_addr(o->addr, &sa) != 0) {
        log_warn("peer %" PRIu64 ": bad address '%s'", o->id, o->addr);
        return;
    }
    uv_tcp_init(o->p->loop, &o->tcp);
    o->tcp.data = o;
    o->tcp_open = true;
    o->p->open_handles++;
    o->connect_req.data = o;
    o->state = OUT_CONNECTING;
    if (o->p->bind_source && sa.ss_family == o->p->source.ss_family) {
        int rc =
            uv_tcp_bind(&o->tcp, (const struct sockaddr *)&o->p->source, 0);
        if (rc != 0) {
            char why[96];
            snprintf(why, sizeof why, "binding to the --raft address: %s",
                     uv_strerror(rc));
            out_reset(o, why);
            return;
        }
    }
    int rc = uv_tcp_connect(&o->connect_req, &o->tcp,
                            (const struct sockaddr *)&sa, out_connected);
    if (rc != 0)
        out_reset(o, uv_strerror(rc));
}

static struct out_conn *out_get(struct peers *p, uint64_t id, const char *addr)
{
    for (unsigned i = 0; i < p->n_outs; i++) {
        struct out_conn *o = p->outs[i];
        if (o->id != id)
            continue;
        if (strcmp(o->addr, addr) != 0) {
            snprintf(o->addr, sizeof o->addr, "%s", addr);
            out_reset(o, "address changed");
        }
        return o;
    }
    if (p->n_outs == sizeof p->outs / sizeof p->outs[0])
        return NULL;
    struct out_conn *o = mem_xcalloc(1, sizeof *o);
    o->p = p;
    o->id = id;
    snprintf(o->addr, sizeof o->addr, "%s", addr);
    uv_timer_init(p->loop, &o->retry);
    o->retry.data = o;
    p->open_handles++;
    p->outs[p->n_outs++] = o;
    return o;
}

void peers_send(struct peers *p, const struct raft_msg *m, const char *addr)
{
    if (p->closing)
        return;
    struct out_conn *o = out_get(p, m->to, addr);
    size_t size = wire_msg_size(m);
    if (o == NULL || size > WIRE_MAX_FRAME || o->len + size > MAX_PENDING)
        return; /* Raft retransmits */
    reserve(&o->pending, &o->cap, o->len + size);
    if (wire_msg_encode(m, o->pending + o->len, size) != size)
        return;
    o->len += size;
    o->last_ms = uv_now(p->loop);
    if (o->state == OUT_IDLE && !o->waiting)
        out_connect(o);
    else
        out_write(o);
}

/* ---- inbound ---------------------------------------------------------- */

static void in_closed(uv_handle_t *h)
{
    struct in_conn *c = h->data;
    struct peers *p = c->p;
    free(c->buf);
    tls_free(c->tls);
    free(c);
    closed_one(p);
}

static void in_close(struct in_conn *c)
{
    for (struct in_conn **q = &c->p->ins; *q != NULL; q = &(*q)->next) {
        if (*q == c) {
            *q = c->next;
            break;
        }
    }
    uv_close((uv_handle_t *)&c->tcp, in_closed);
}

/* Before the hello, room for a hello and no more; after it, a read's worth
 * more, grown by doubling while small and exactly past PEERS_MAX_FRAME (a
 * frame is refused once its header says it is bigger, so a buffer holds at
 * most one partial frame and a read). */
static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct in_conn *c = h->data;
    if (c->tls != NULL) {
        /* Records, which in_tls_read opens into c->buf. */
        static char chunk[READ_CHUNK];
        buf->base = chunk;
        buf->len = sizeof chunk;
        return;
    }
    size_t need = c->hello ? c->len + READ_CHUNK : HELLO_MAX_SIZE;
    if (need > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : (c->hello ? 4096 : need);
        while (cap < need)
            cap *= 2;
        if (cap > PEERS_MAX_FRAME)
            cap = need;
        c->buf = mem_xrealloc(c->buf, cap);
        c->cap = cap;
    }
    buf->base = (char *)c->buf + c->len;
    buf->len = need - c->len;
}

/* Refuses c: says why on it, then closes it. */
static void in_refuse(struct in_conn *c, const char *why)
{
    uint8_t msg[HELLO_REFUSAL_MAX_SIZE];
    size_t n = hello_refusal_encode(why, msg);
    struct buf *b = &c->p->tls_buf;
    buf_clear(b);
    if (c->tls == NULL)
        buf_append(b, msg, n);
    else if (tls_send(c->tls, msg, n) != 0 || tls_take(c->tls, b) != 0)
        buf_clear(b);
    if (b->len > 0)
        (void)stream_send_now((uv_stream_t *)&c->tcp, b->data, b->len);
    in_close(c);
}

/* Acts on a verdict of the identity table for c: false if c was refused
 * (and is closed). A restart closes the previous process's connections, a
 * duplicate refuses the banned process's. */
static bool in_verdict(struct in_conn *c, enum peerids_verdict v,
                       uint64_t other, const char *why)
{
    struct peers *p = c->p;
    if (v == PEERIDS_ACCEPT)
        return true;
    if (v != PEERIDS_RESTART)
        log_error("peer %" PRIu64 ": %s", c->from, why);
    if (v == PEERIDS_REFUSE) {
        in_refuse(c, why);
        return false;
    }
    for (struct in_conn *i = p->ins, *next; i != NULL; i = next) {
        next = i->next;
        if (i == c || !i->hello || i->from != c->from || i->nonce == c->nonce)
            continue;
        if (v == PEERIDS_RESTART)
            in_close(i);
        else if (i->nonce == other)
            in_refuse(i, why);
    }
    return true;
}

/* Keeps the connections like c (from its id if a member, from any
 * non-member otherwise) within their cap, closing the oldest. */
static void in_limit(struct in_conn *c)
{
    struct peers *p = c->p;
    struct in_conn *oldest = NULL;
    unsigned n = 1;
    for (struct in_conn *i = p->ins; i != NULL; i = i->next) {
        if (i == c || !i->hello ||
            (c->member ? !i->member || i->from != c->from : i->member))
            continue;
        n++;
        oldest = i; /* the list is newest first */
    }
    if (n <= (c->member ? PEERS_PER_ID_MAX : PEERS_OTHERS_MAX))
        return;
    if (c->member)
        p->shed_id++;
    else
        p->shed_others++;
    in_close(oldest);
}

/* Reads the hello; returns bytes used, 0 if incomplete, -1 if bad, -2 if
 * refused (c is closed). A hello must be addressed to this server, from
 * another. */
static long in_hello(struct in_conn *c)
{
    struct hello h;
    long used = hello_decode(&h, c->buf, c->len);
    if (used == 0 && c->len >= HELLO_MAX_SIZE)
        return -1; /* cannot be a hello */
    if (used <= 0)
        return used;
    if (h.to != c->p->id || h.from == c->p->id)
        return -1;
    struct peers *p = c->p;
    if (h.cluster_id != 0 && p->cluster_id != 0 &&
        h.cluster_id != p->cluster_id) {
        char why[HELLO_REFUSAL_MAX];
        snprintf(why, sizeof why,
                 HELLO_OTHER_CLUSTER ": server %" PRIu64 " belongs to cluster "
                                     "%016" PRIx64 ", this one to %016" PRIx64,
                 h.from, h.cluster_id, p->cluster_id);
        if (p->other_logged != h.from)
            log_warn("peer %" PRIu64 " refused: %s", h.from, why);
        p->other_logged = h.from;
        in_refuse(c, why);
        return -2;
    }
    c->from = h.from;
    c->nonce = h.nonce;
    c->hello = true;
    if (h.version >= 2) {
        uint64_t other = 0;
        char why[HELLO_REFUSAL_MAX];
        enum peerids_verdict v = peerids_hello(
            &c->p->ids, h.from, h.dir_id, h.nonce, &other, why, sizeof why);
        if (!in_verdict(c, v, other, why))
            return -2;
    }
    c->member =
        c->p->cbs.member == NULL || c->p->cbs.member(c->p->arg, c->from);
    in_limit(c);
    c->p->cbs.hello(c->p->arg, c->from, h.client_addr, h.raft_addr,
                    h.cluster_id);
    return used;
}

enum { FRAMES_OK, FRAMES_BAD, FRAMES_REFUSED, FRAMES_BIG };

/* Hands every whole frame received to the callback. */
static int in_frames(struct in_conn *c)
{
    size_t off = 0;
    if (!c->hello) {
        long used = in_hello(c);
        if (used < 0)
            return used == -2 ? FRAMES_REFUSED : FRAMES_BAD;
        off = (size_t)used;
    }
    int rc = FRAMES_OK;
    while (c->hello && !c->p->closing) {
        size_t flen;
        if (c->len - off >= 8 && le_get32(c->buf + off + 4) > PEERS_MAX_FRAME) {
            log_warn("peer connection from %" PRIu64 ": a frame of %" PRIu32
                     " bytes, past the limit of %u; closing it",
                     c->from, le_get32(c->buf + off + 4), PEERS_MAX_FRAME);
            rc = FRAMES_BIG;
            break;
        }
        int fl = wire_frame_len(c->buf + off, c->len - off, &flen);
        if (fl == 0)
            break;
        struct raft_msg m;
        if (fl < 0 || wire_msg_decode(&m, c->buf + off, flen) != 0 ||
            m.from != c->from) {
            rc = FRAMES_BAD;
            break;
        }
        c->p->cbs.recv(c->p->arg, &m);
        wire_msg_close(&m);
        off += flen;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    if (c->len == 0 && c->cap > KEPT_IN) {
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
    return rc;
}

/* Logs why a connection's TLS was refused: at once when the reason is
 * new, else counted and said by the sweep, so a server that keeps
 * retrying fills no log. */
static void in_tls_refused(struct peers *p, const char *why)
{
    if (strcmp(why, p->tls_refused_why) == 0) {
        p->shed_tls++;
        return;
    }
    snprintf(p->tls_refused_why, sizeof p->tls_refused_why, "%s", why);
    log_warn("peer connection refused: %s", why);
}

/* With TLS: opens the records of n bytes into c->buf. False if c is
 * closed: its handshake failed, or its certificate is not a server's. */
static bool in_tls_read(struct in_conn *c, const char *data, size_t n)
{
    struct peers *p = c->p;
    struct buf *plain = &p->tls_buf;
    buf_clear(plain);
    bool was_ready = tls_ready(c->tls);
    int rc = tls_recv(c->tls, data, n, plain);
    stream_write_tls((uv_stream_t *)&c->tcp, c->tls);
    if (rc != TLS_OK) {
        if (rc == TLS_FAILED)
            in_tls_refused(p, tls_error(c->tls));
        in_close(c);
        return false;
    }
    if (!was_ready && tls_ready(c->tls) && !tls_peer_is_server(c->tls)) {
        in_tls_refused(p, "its certificate is not a server's (its extended "
                          "key usage lacks serverAuth)");
        in_close(c);
        return false;
    }
    if (plain->len > 0) {
        reserve(&c->buf, &c->cap, c->len + plain->len);
        memcpy(c->buf + c->len, plain->data, plain->len);
        c->len += plain->len;
    }
    if (plain->cap > KEPT_IN)
        buf_close(plain);
    return true;
}

static void in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct in_conn *c = s->data;
    if (nread < 0) {
        in_close(c);
        return;
    }
    if (c->tls != NULL) {
        /* Handshake records may open into no bytes at all. */
        if (!in_tls_read(c, buf->base, (size_t)nread) || c->len == 0)
            return;
    } else {
        c->len += (size_t)nread;
    }
    c->last_ms = uv_now(c->p->loop);
    int rc = in_frames(c);
    if (rc == FRAMES_BIG) {
        in_close(c);
    } else if (rc == FRAMES_BAD) {
        log_warn("peer connection from %" PRIu64 " broke the protocol; "
                 "closing it",
                 c->from);
        in_close(c);
    }
}

/* Keeps the connections not yet through their hello within
 * PEERS_PENDING_MAX, closing the oldest. */
static void in_shed_pending(struct peers *p)
{
    struct in_conn *oldest = NULL;
    unsigned n = 0;
    for (struct in_conn *i = p->ins; i != NULL; i = i->next) {
        if (!i->hello) {
            n++;
            oldest = i;
        }
    }
    if (n > PEERS_PENDING_MAX) {
        p->shed_pending++;
        in_close(oldest);
    }
}

/* Closes the inbound connections past their time, and the outbound ones
 * with nothing to send; says once a sweep what was closed for the caps. */
static void sweep_cb(uv_timer_t *t)
{
    struct peers *p = t->data;
    uint64_t now = uv_now(p->loop);
    for (struct in_conn *i = p->ins, *next; i != NULL; i = next) {
        next = i->next;
        if (!i->hello && now - i->since_ms >= PEERS_HELLO_MS) {
            p->shed_slow++;
            in_close(i);
        } else if (i->hello && now - i->last_ms >= PEERS_IDLE_MS) {
            log_info("peer connection from %" PRIu64 ": nothing for %u s; "
                     "closing it",
                     i->from, PEERS_IDLE_MS / 1000);
            in_close(i);
        }
    }
    for (unsigned k = 0; k < p->n_outs; k++) {
        struct out_conn *o = p->outs[k];
        if (o->state == OUT_CONNECTED && !o->writing && o->len == 0 &&
            now - o->last_ms >= PEERS_IDLE_MS / 2)
            out_idle(o);
    }
    if (p->shed_pending + p->shed_slow + p->shed_id + p->shed_others > 0)
        log_warn("peer port: closed %u connection%s past %u waiting for a "
                 "hello, %u with no hello within %u s, %u past %u from one "
                 "server, %u past %u from non-members",
                 p->shed_pending, p->shed_pending == 1 ? "" : "s",
                 PEERS_PENDING_MAX, p->shed_slow, PEERS_HELLO_MS / 1000,
                 p->shed_id, PEERS_PER_ID_MAX, p->shed_others,
                 PEERS_OTHERS_MAX);
    if (p->shed_tls > 0)
        log_warn("peer port: refused %u more connection%s: %s", p->shed_tls,
                 p->shed_tls == 1 ? "" : "s", p->tls_refused_why);
    p->shed_pending = p->shed_slow = p->shed_id = p->shed_others = 0;
    p->shed_tls = 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct peers *p = server->data;
    if (status < 0 || p->closing)
        return;
    struct in_conn *c = mem_xcalloc(1, sizeof *c);
    c->p = p;
    c->since_ms = c->last_ms = uv_now(p->loop);
    uv_tcp_init(p->loop, &c->tcp);
    c->tcp.data = c;
    p->open_handles++;
    c->next = p->ins;
    p->ins = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        in_close(c);
        return;
    }
    if (p->tls_accept != NULL &&
        (c->tls = tls_new(p->tls_accept, NULL)) == NULL) {
        in_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, in_alloc, in_read);
    in_shed_pending(p);
}

/* ---- lifecycle -------------------------------------------------------- */

/* A number for this process, different at each start. */
static uint64_t process_nonce(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v || v == 0)
        v = uv_hrtime() ^ ((uint64_t)getpid() << 40) ^ 1;
    return v;
}

struct peers *peers_new(uv_loop_t *loop, uint64_t id, uint64_t dir_id,
                        const char *client_addr, const char *raft_addr,
                        const struct peers_cbs *cbs, void *arg)
{
    struct peers *p = mem_xcalloc(1, sizeof *p);
    p->loop = loop;
    p->id = id;
    p->dir_id = dir_id;
    p->nonce = process_nonce();
    peerids_init(&p->ids);
    snprintf(p->client_addr, sizeof p->client_addr, "%s", client_addr);
    snprintf(p->raft_addr, sizeof p->raft_addr, "%s", raft_addr);
    p->cbs = *cbs;
    p->arg = arg;
    return p;
}

static void set_source(struct peers *p, const struct sockaddr_storage *sa)
{
    static const uint8_t any6[16];
    p->source = *sa;
    if (sa->ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&p->source;
        p->bind_source = in->sin_addr.s_addr != htonl(INADDR_ANY);
        in->sin_port = 0;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&p->source;
        p->bind_source = memcmp(&in6->sin6_addr, any6, sizeof any6) != 0;
        in6->sin6_port = 0;
    }
}

static void listener_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

int peers_listen(struct peers *p, const char *addr)
{
    struct sockaddr_storage sa;
    if (config_parse_addr(addr, &sa) != 0)
        return UV_EINVAL;
    uv_tcp_init(p->loop, &p->listener);
    p->listener.data = p;
    p->open_handles++;
    p->listening = true;
    int rc = uv_tcp_bind(&p->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&p->listener, 128, on_connection);
    if (rc == 0)
        set_source(p, &sa);
    if (rc == 0 && !p->sweeping) {
        uv_timer_init(p->loop, &p->sweep);
        p->sweep.data = p;
        p->sweeping = true;
        p->open_handles++;
        uv_timer_start(&p->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
    }
    return rc;
}

static void timer_closed(uv_handle_t *h)
{
    struct out_conn *o = h->data;
    closed_one(o->p);
}

void peers_close(struct peers *p, void (*done)(void *arg), void *arg)
{
    p->closing = true;
    p->done = done;
    p->done_arg = arg;
    p->open_handles++; /* held until everything below is started */
    if (p->listening) {
        p->listening = false;
        uv_close((uv_handle_t *)&p->listener, listener_closed);
    }
    if (p->sweeping) {
        p->sweeping = false;
        uv_close((uv_handle_t *)&p->sweep, listener_closed);
    }
    for (unsigned i = 0; i < p->n_outs; i++) {
        struct out_conn *o = p->outs[i];
        uv_close((uv_handle_t *)&o->retry, timer_closed);
        if (o->tcp_open) {
            o->tcp_open = false;
            uv_close((uv_handle_t *)&o->tcp, out_tcp_closed);
        }
    }
    while (p->ins != NULL)
        in_close(p->ins);
    closed_one(p);
}

void peers_free(struct peers *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->n_outs; i++) {
        free(p->outs[i]->pending);
        free(p->outs[i]->inflight);
        tls_free(p->outs[i]->tls);
        free(p->outs[i]);
    }
    tls_ctx_free(p->tls_accept);
    tls_ctx_free(p->tls_connect);
    buf_close(&p->tls_buf);
    free(p);
}

void peers_set_tls(struct peers *p, struct tls_ctx *accept,
                   struct tls_ctx *connect)
{
    tls_ctx_free(p->tls_accept);
    tls_ctx_free(p->tls_connect);
    p->tls_accept = accept;
    p->tls_connect = connect;
}

void peers_set_cluster_id(struct peers *p, uint64_t cluster_id)
{
    p->cluster_id = cluster_id;
}

void peers_cork(struct peers *p, bool on)
{
    if (p->corked == on)
        return;
    p->corked = on;
    if (!on)
        for (unsigned i = 0; i < p->n_outs; i++)
            out_write(p->outs[i]);
}
