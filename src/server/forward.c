/* forward.c - requests a follower sends on to the leader (forward.h). One
 * connection, made when the first request comes and kept while the leader
 * stays: requests go out in order, replies come back in the same order,
 * each into the slot that waits for it. A new leader, or a connection that
 * breaks, ends the connection: what waits is answered NOLEADER (as a
 * client of the old leader would have been), and the next request opens a
 * connection to the leader then known. */
#include "server/forward.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/buf.h"
#include "common/mem.h"
#include "server/auth.h"
#include "server/command.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/logger.h"
#include "server/node.h"
#include "server/server.h"
#include "server/stream.h"

struct waiting {
    struct slot *slot;
    struct waiting *next;
};

struct forward {
    struct server *srv;
    uv_tcp_t tcp;
    uv_connect_t creq;
    bool open;      /* the handle is initialised (connecting or connected) */
    bool connected; /* requests go out as they come */
    char addr[CONFIG_ADDR_MAX]; /* the leader's, when open */
    struct buf early;           /* requests made while connecting */
    struct resp_reader reader;
    struct waiting *head, *tail;
    size_t n;
};

static struct forward *fwd_of(struct server *srv)
{
    if (srv->forward == NULL) {
        struct forward *f = mem_xcalloc(1, sizeof *f);
        f->srv = srv;
        buf_init(&f->early);
        resp_reader_init(&f->reader, &resp_limits_client);
        srv->forward = f;
    }
    return srv->forward;
}

/* Answers every waiting request NOLEADER. */
static void fail_all(struct forward *f)
{
    while (f->head != NULL) {
        struct waiting *w = f->head;
        f->head = w->next;
        if (w->slot->conn != NULL)
            command_error(w->slot, "NOLEADER the connection to the leader "
                                   "ended; retry");
        slot_done(w->slot);
        free(w);
    }
    f->tail = NULL;
    f->n = 0;
}

static void closed_cb(uv_handle_t *h)
{
    struct forward *f = h->data;
    f->open = false;
    if (f->srv->stopping && f->srv->forward == NULL) {
        resp_reader_close(&f->reader);
        buf_close(&f->early);
        free(f);
    }
}

static void end(struct forward *f, const char *why)
{
    if (why != NULL)
        log_info("forwarding to the leader %s: %s", f->addr, why);
    fail_all(f);
    buf_clear(&f->early);
    resp_reader_close(&f->reader);
    resp_reader_init(&f->reader, &resp_limits_client);
    f->connected = false;
    if (f->open && !uv_is_closing((uv_handle_t *)&f->tcp))
        uv_close((uv_handle_t *)&f->tcp, closed_cb);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char chunk[65536];
    b->base = chunk;
    b->len = sizeof chunk;
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct forward *f = st->data;
    if (nread < 0) {
        end(f, uv_strerror((int)nread));
        return;
    }
    if (resp_reader_feed(&f->reader, b->base, (size_t)nread) != 0) {
        end(f, "a malformed reply");
        return;
    }
    const struct resp_value *v;
    int rc;
    while ((rc = resp_reader_next(&f->reader, &v)) > 0) {
        struct waiting *w = f->head;
        if (w == NULL) {
            end(f, "a reply to nothing");
            return;
        }
        f->head = w->next;
        if (f->head == NULL)
            f->tail = NULL;
        f->n--;
        struct slot *s = w->slot;
        free(w);
        if (s->conn != NULL &&
            resp_write_value(&s->buf, s->conn->proto, v) != 0)
            command_error(s, "ERR the leader's reply cannot be relayed");
        slot_done(s);
    }
    if (rc < 0)
        end(f, "a malformed reply");
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct forward *f = req->data;
    if (status < 0) {
        end(f, uv_strerror(status));
        return;
    }
    f->connected = true;
    uv_tcp_nodelay(&f->tcp, 1);
    uv_read_start((uv_stream_t *)&f->tcp, alloc_cb, read_cb);
    if (f->early.len > 0)
        stream_write_copy((uv_stream_t *)&f->tcp, f->early.data, f->early.len);
    buf_clear(&f->early);
}

/* Opens the connection to the leader at addr. */
static bool start(struct forward *f, const char *addr)
{
    struct sockaddr_storage sa;
    if (f->open || config_parse_addr(addr, &sa) != 0)
        return false;
    uv_tcp_init(f->srv->loop, &f->tcp);
    f->tcp.data = f;
    f->open = true;
    snprintf(f->addr, sizeof f->addr, "%s", addr);
    f->creq.data = f;
    if (uv_tcp_connect(&f->creq, &f->tcp, (const struct sockaddr *)&sa,
                       connect_cb) != 0) {
        end(f, "cannot connect");
        return false;
    }
    return true;
}

bool forward_request(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    struct server *srv = c->srv;
    const char *leader = node_leader_addr(srv->node);
    if (srv->stopping || leader == NULL || node_is_leader(srv->node) ||
        srv->tls_clients != NULL || auth_required(srv))
        return false;
    struct forward *f = fwd_of(srv);
    if (f->open && strcmp(f->addr, leader) != 0)
        end(f, "a new leader");
    /* A connection that ended closes still: nothing more may wait on it
     * (no reply would come). The next request after it opens another. */
    if (f->open && uv_is_closing((uv_handle_t *)&f->tcp))
        return false;
    if (f->n >= FORWARD_PENDING_MAX)
        return false;
    if (!f->open && !start(f, leader))
        return false;
    const char **argv = mem_xmalloc(n * sizeof *argv);
    size_t *len = mem_xmalloc(n * sizeof *len);
    for (size_t i = 0; i < n; i++) {
        argv[i] = a[i].str;
        len[i] = a[i].len;
    }
    struct buf req;
    buf_init(&req);
    int rc = resp_write_command(&req, n, argv, len);
    free(argv);
    free(len);
    if (rc != 0) {
        buf_close(&req);
        return false;
    }
    if (f->connected)
        stream_write_copy((uv_stream_t *)&f->tcp, req.data, req.len);
    else if (buf_append(&f->early, req.data, req.len) != 0) {
        log_error("out of memory for a forwarded request");
        abort();
    }
    buf_close(&req);
    struct waiting *w = mem_xcalloc(1, sizeof *w);
    w->slot = s;
    if (f->tail != NULL)
        f->tail->next = w;
    else
        f->head = w;
    f->tail = w;
    f->n++;
    return true;
}

void forward_stop(struct server *srv)
{
    struct forward *f = srv->forward;
    if (f == NULL)
        return;
    srv->forward = NULL;
    end(f, NULL);
    if (!f->open) {
        resp_reader_close(&f->reader);
        buf_close(&f->early);
        free(f);
    }
}
