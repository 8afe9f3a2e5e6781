/* node_read.c - linearizable reads and keepalives through ReadIndex
 * (dissertation §6.4), the waits of blocking acquires, and giving up the
 * waits whose clients went away (UNWAIT, docs/design.md §11.4). */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "server/node_internal.h"

static struct read_req *push_read_slot(struct node *n);

static struct read_req *push_read(struct node *n)
{
    struct read_req *r = push_read_slot(n);
    memset(r, 0, sizeof *r);
    r->id = ++n->next_read_id;
    return r;
}

/* A new place at the end of the vector of reads. */
static struct read_req *push_read_slot(struct node *n)
{
    if (n->reads.n == n->reads.cap) {
        n->reads.cap = n->reads.cap ? 2 * n->reads.cap : 16;
        n->reads.v =
            mem_xrealloc(n->reads.v, n->reads.cap * sizeof *n->reads.v);
    }
    return &n->reads.v[n->reads.n++];
}

static int start_read(struct node *n, struct read_req *r)
{
    if (raft_read_index(n->raft, r->id) != 0) {
        n->reads.n--;
        return NODE_NOTLEADER;
    }
    return NODE_OK;
}

int node_read(struct node *n, node_read_cb cb, void *ctx)
{
    if (n->stopping)
        return NODE_SHUTDOWN;
    if (!node_is_leader(n))
        return NODE_NOTLEADER;
    struct read_req *r = push_read(n);
    r->kind = READ_PLAIN;
    r->cb = cb;
    r->ctx = ctx;
    return start_read(n, r);
}

int node_keepalive(struct node *n, uint64_t session, node_keepalive_cb cb,
                   void *ctx)
{
    if (n->stopping)
        return NODE_SHUTDOWN;
    if (!node_is_leader(n))
        return NODE_NOTLEADER;
    uint64_t at;
    int rc = replica_keepalive_begin(n->rep, session, uv_now(n->loop), &at);
    if (rc != REPLICA_OK)
        return rc;
    struct read_req *r = push_read(n);
    r->kind = READ_KEEPALIVE;
    r->session = session;
    r->at = at;
    r->kcb = cb;
    r->ctx = ctx;
    rc = start_read(n, r);
    if (rc != NODE_OK)
        replica_keepalive_end(n->rep, session, at, false);
    return rc;
}

void node_read_done(struct node *n, struct read_req *r, int status)
{
    if (r->kind == READ_PLAIN) {
        r->cb(r->ctx, status);
        return;
    }
    uint64_t ttl =
        replica_keepalive_end(n->rep, r->session, r->at, status == NODE_OK);
    if (status == NODE_OK && ttl == 0)
        status = NODE_NOSESSION;
    r->kcb(r->ctx, status, status == NODE_OK ? ttl : 0);
}

static void complete(struct node *n, uint64_t applied, bool all, int status);

static struct read_req *find_read(struct node *n, uint64_t id)
{
    for (size_t i = 0; i < n->reads.n; i++)
        if (n->reads.v[i].id == id)
            return &n->reads.v[i];
    return NULL;
}

static void on_reads_idle(uv_idle_t *h)
{
    struct node *n = h->data;
    uv_idle_stop(&n->reads_idle);
    if (n->reads.n > 0 && !n->closed)
        complete(n, raft_applied_index(n->raft), false, NODE_OK);
}

/* Takes the reads that are done out of the vector before calling back:
 * a callback may start a new read. Unless all fail at once, plain reads are
 * completed within the loop turn's budget (node_set_turn); those left go
 * back to the vector, to complete from the idle handle in the next turn.
 * Keepalives complete at once. */
static void complete(struct node *n, uint64_t applied, bool all, int status)
{
    struct read_req done[64];
    for (;;) {
        size_t k = 0, count = 0;
        for (size_t i = 0; i < n->reads.n; i++) {
            struct read_req *r = &n->reads.v[i];
            bool ready = all || (r->confirmed && r->index <= applied);
            if (ready && count < 64)
                done[count++] = *r;
            else
                n->reads.v[k++] = *r;
        }
        n->reads.n = k;
        bool deferred = false;
        for (size_t i = 0; i < count; i++) {
            /* A keepalive costs next to nothing: never held back. */
            if (!all && done[i].kind == READ_PLAIN && n->turn != NULL &&
                turn_over(n->turn)) {
                *push_read_slot(n) = done[i];
                deferred = true;
                continue;
            }
            node_read_done(n, &done[i], status);
        }
        if (deferred) {
            uv_idle_start(&n->reads_idle, on_reads_idle);
            return;
        }
        if (count < 64)
            return;
    }
}

void node_read_update(struct node *n, const struct raft_update *u)
{
    for (size_t i = 0; i < u->n_reads; i++) {
        struct read_req *r = find_read(n, u->reads[i].ctx);
        if (r != NULL) {
            r->confirmed = true;
            r->index = u->reads[i].index;
        }
    }
    for (size_t i = 0; i < u->n_dropped_reads; i++) {
        struct read_req *r = find_read(n, u->dropped_reads[i]);
        if (r != NULL) {
            struct read_req copy = *r;
            *r = n->reads.v[--n->reads.n];
            node_read_done(n, &copy, NODE_NOTLEADER);
        }
    }
    if (n->reads.n > 0)
        complete(n, raft_applied_index(n->raft), false, NODE_OK);
}

void node_read_fail_all(struct node *n, int status)
{
    complete(n, 0, true, status);
}

/* ---- waits ------------------------------------------------------------ */

void *node_wait_attach(struct node *n, uint64_t index, node_wait_cb cb,
                       void *ctx)
{
    struct node_cb *k = node_new_cb(ctx);
    k->wait_cb = cb;
    k->handle = replica_wait_attach(n->rep, index, k, 0);
    return k;
}

bool node_wait_detach(struct node *n, void *handle)
{
    struct node_cb *k = handle;
    bool alone = replica_wait_detach(n->rep, k->handle);
    free(k);
    return alone;
}

/* ---- clients gone: UNWAIT ---------------------------------------------- */

void node_unwait(struct node *n, const struct fsm_cmd *cmd)
{
    if (!node_is_leader(n) || n->stopping)
        return;
    replica_unwait(n->rep, cmd);
}

/* A proposal that fails (the leader lost) is left to the next leader. */
void node_unwait_flush(struct node *n)
{
    struct fsm_cmd cmd;
    while (replica_next_unwait(n->rep, &cmd))
        node_propose(n, &cmd, NULL, NULL);
}
