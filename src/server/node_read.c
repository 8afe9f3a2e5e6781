/* node_read.c - linearizable reads and keepalives through ReadIndex
 * (dissertation §6.4), the waits of blocking acquires, and giving up the
 * waits whose clients went away (UNWAIT, docs/design.md §11.4). */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "server/lease.h"
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
    /* A keepalive read after the lease's end still renews it while its
     * expiry has not been proposed: it may have waited in the socket while
     * the loop was busy. From here until it completes, the expiry waits. */
    if (!lease_alive(n->lease, session))
        return NODE_NOSESSION;
    struct read_req *r = push_read(n);
    r->kind = READ_KEEPALIVE;
    r->session = session;
    r->at = node_cluster_now(n);
    r->kcb = cb;
    r->ctx = ctx;
    int rc = start_read(n, r);
    if (rc == NODE_OK)
        lease_hold(n->lease, session);
    return rc;
}

void node_read_done(struct node *n, struct read_req *r, int status)
{
    if (r->kind == READ_PLAIN) {
        r->cb(r->ctx, status);
        return;
    }
    uint64_t ttl = lease_ttl(n->lease, r->session);
    lease_unhold(n->lease, r->session);
    /* Leadership is confirmed for a moment after the keepalive came: the
     * lease may run ttl from then, unless the session went in between
     * (closed, or expired by an earlier leader's proposal). */
    if (status == NODE_OK && (ttl == 0 || !lease_alive(n->lease, r->session)))
        status = NODE_NOSESSION;
    if (status == NODE_OK)
        lease_set(n->lease, r->session, ttl, r->at);
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
    struct wait *w = mem_xmalloc(sizeof *w);
    size_t b = index % WAIT_BUCKETS;
    w->index = index;
    w->cb = cb;
    w->ctx = ctx;
    w->next = n->waits[b];
    n->waits[b] = w;
    return w;
}

bool node_wait_detach(struct node *n, void *handle)
{
    struct wait *w = handle;
    uint64_t index = w->index;
    bool alone = true; /* no other client waits on it here */
    for (struct wait **p = &n->waits[index % WAIT_BUCKETS]; *p != NULL;) {
        struct wait *o = *p;
        if (o == w) {
            *p = o->next;
            free(o);
            continue;
        }
        alone = alone && o->index != index;
        p = &o->next;
    }
    return alone;
}

/* Unlinks every wait on the waiter at ev->index first, then calls them:
 * a callback may attach or detach other waits. */
void node_wait_fire(struct node *n, const struct fsm_event *ev)
{
    struct wait *fired = NULL;
    struct wait **p = &n->waits[ev->index % WAIT_BUCKETS];
    while (*p != NULL) {
        struct wait *w = *p;
        if (w->index != ev->index) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        w->next = fired;
        fired = w;
    }
    while (fired != NULL) {
        struct wait *w = fired;
        fired = w->next;
        w->cb(w->ctx, ev, NODE_OK);
        free(w);
    }
}

void node_wait_fail_all(struct node *n, int status)
{
    for (size_t b = 0; b < WAIT_BUCKETS; b++) {
        while (n->waits[b] != NULL) {
            struct wait *w = n->waits[b];
            n->waits[b] = w->next;
            w->cb(w->ctx, NULL, status);
            free(w);
        }
    }
}

/* ---- clients gone: UNWAIT ---------------------------------------------- */

void node_unwait(struct node *n, const struct fsm_cmd *cmd)
{
    if (!node_is_leader(n) || n->stopping)
        return;
    if (n->unwaits.n == n->unwaits.cap) {
        n->unwaits.cap = n->unwaits.cap ? 2 * n->unwaits.cap : 8;
        n->unwaits.v =
            mem_xrealloc(n->unwaits.v, n->unwaits.cap * sizeof *n->unwaits.v);
    }
    struct unwait *u = &n->unwaits.v[n->unwaits.n++];
    u->cmd = *cmd;
    u->cmd.type = FSM_UNWAIT;
    u->cmd.wait = n->cfg->wait_grace_ms;
    /* The last answer about the wait this leader knows of: one applied
     * after it told another client, and the UNWAIT leaves that alone. */
    u->cmd.seen = fsm_wait_seen(n->fsm, cmd->index);
    u->cmd.name_len = cmd->name_len <= FSM_NAME_MAX ? cmd->name_len : 0;
    u->cmd.req_len = cmd->req_len <= FSM_REQ_MAX ? cmd->req_len : 0;
    if (u->cmd.name_len > 0)
        memcpy(u->name, cmd->name, u->cmd.name_len);
    if (u->cmd.req_len > 0)
        memcpy(u->req, cmd->req, u->cmd.req_len);
}

/* A proposal that fails (the leader lost) is left to the next leader. */
void node_unwait_flush(struct node *n)
{
    for (size_t i = 0; i < n->unwaits.n; i++) {
        struct unwait *u = &n->unwaits.v[i];
        u->cmd.name = u->name;
        u->cmd.req = u->req;
        node_propose(n, &u->cmd, NULL, NULL);
    }
    n->unwaits.n = 0;
}
