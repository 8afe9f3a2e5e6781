/* node_peers.c - the node's side of the peer transport: messages in
 * (raft_step, with whether the sender is of this cluster) and out (to each
 * server's address), the address book of what peers told in their hellos,
 * and the cluster id (derived at bootstrap, learnt from the leader when
 * joining). */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "server/logger.h"
#include "server/node_internal.h"
#include "server/peer.h"

/* Where to send to server id: its address in the configuration, or, for a
 * server that does not know the configuration yet (one that joined), the
 * peer address the other side gave in its hello. */
const char *node_member_addr(const struct node *n, uint64_t id)
{
    const struct raft_conf *c = raft_conf(n->raft);
    for (unsigned i = 0; i < c->n; i++)
        if (c->servers[i].id == id)
            return c->servers[i].addr;
    for (unsigned i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].id == id && n->addrs[i].raft_addr[0] != '\0')
            return n->addrs[i].raft_addr;
    return NULL;
}

const char *node_client_addr_of(const struct node *n, uint64_t id)
{
    for (unsigned i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].id == id)
            return n->addrs[i].addr;
    return NULL;
}

void node_conf_changed(struct node *n, uint64_t index)
{
    (void)n;
    (void)index; /* the transport looks addresses up at each send */
}

/* Records the cluster id durably and in the hellos from now on. */
static void set_cluster_id(struct node *n, uint64_t id, const char *how)
{
    char err[512];
    if (datadir_set_cluster_id(&n->datadir, id, err, sizeof err) != 0) {
        log_error("%s; the cluster id is not kept", err);
        return;
    }
    if (n->peers != NULL)
        peers_set_cluster_id(n->peers, id);
    log_info("cluster id %016" PRIx64 " (%s)", id, how);
}

/* A server that does not know its cluster id (one that is joining, or a
 * directory of a version before cluster ids) takes the one its leader gave
 * in its hello, once the core has taken the leader's message. */
static void learn_cluster_id(struct node *n, uint64_t from)
{
    if (n->datadir.cluster_id != 0 || raft_leader(n->raft) != from)
        return;
    for (unsigned i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].id == from && n->addrs[i].cluster_id != 0)
            set_cluster_id(n, n->addrs[i].cluster_id, "the leader's");
}

/* Whether the peer id is of this server's cluster as far as it can tell:
 * its hello carried this cluster's id, or this server does not know the id
 * (it joins, or its directory predates cluster ids) and takes anyone. */
static bool same_cluster(const struct node *n, uint64_t id)
{
    if (n->datadir.cluster_id == 0)
        return true;
    for (unsigned i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].id == id)
            return n->addrs[i].cluster_id == n->datadir.cluster_id;
    return false;
}

/* ---- traces (node.h, node_traces) ------------------------------------- */

/* Keeps, for traces, when a follower acknowledged entries (on a leader),
 * and when entries came from the leader (on a follower). */
static void note_for_traces(struct node *n, const struct raft_msg *m)
{
    if (m->type == RAFT_MSG_APPEND_RESP && !m->reject &&
        raft_role(n->raft) == RAFT_LEADER) {
        unsigned i = n->n_acks++ % NODE_ACKS_KEPT;
        n->acks[i].match = m->index;
        n->acks[i].at_ns = uv_hrtime();
    } else if (m->type == RAFT_MSG_APPEND && m->n_entries > 0) {
        if (n->appends_tail - n->appends_head == NODE_APPENDS_KEPT)
            n->appends_head++; /* the oldest goes untraced */
        unsigned i = n->appends_tail++ % NODE_APPENDS_KEPT;
        n->appends[i].last = m->entries[m->n_entries - 1].index;
        n->appends[i].woke_ns =
            n->turn != NULL ? turn_woke(n->turn) : uv_hrtime();
        n->appends[i].recv_ns = uv_hrtime();
    }
}

uint64_t node_acked_at(const struct node *n, uint64_t index, uint64_t since_ns)
{
    uint64_t first = 0;
    unsigned kept = n->n_acks < NODE_ACKS_KEPT ? n->n_acks : NODE_ACKS_KEPT;
    for (unsigned k = 1; k <= kept; k++) { /* newest first */
        unsigned i = (n->n_acks - k) % NODE_ACKS_KEPT;
        if (n->acks[i].at_ns < since_ns)
            break;
        if (n->acks[i].match >= index)
            first = n->acks[i].at_ns;
    }
    return first;
}

/* A follower acknowledges up to match: the appends it covers are traced. */
static void trace_acked(struct node *n, uint64_t match)
{
    while (n->appends_head != n->appends_tail) {
        unsigned i = n->appends_head % NODE_APPENDS_KEPT;
        if (n->appends[i].last > match)
            break;
        n->appends_head++;
        struct trace_rec r = {.index = n->appends[i].last};
        r.at[NODE_FTRACE_WOKE] = n->appends[i].woke_ns;
        r.at[NODE_FTRACE_RECEIVED] = n->appends[i].recv_ns;
        disk_batch_of(n->disk, r.index, &r.at[NODE_FTRACE_WRITE],
                      &r.at[NODE_FTRACE_SYNCED], &r.batch);
        r.at[NODE_FTRACE_ACKED] = uv_hrtime();
        if (n->turn != NULL)
            r.turn_us = turn_longest_since(n->turn, r.at[NODE_FTRACE_WOKE]);
        tracer_add(&n->ftrace, &r);
    }
}

static void on_recv(void *arg, const struct raft_msg *m)
{
    struct node *n = arg;
    if (n->closed)
        return;
    for (unsigned i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].id == m->from)
            n->addrs[i].heard_ms = uv_now(n->loop);
    note_for_traces(n, m);
    struct raft_msg vouched = *m;
    vouched.same_cluster = same_cluster(n, m->from);
    int rc = raft_step(n->raft, &vouched);
    if (rc != 0)
        log_debug("message %u from %" PRIu64 " refused (%d)", m->type, m->from,
                  rc);
    else if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
             m->type == RAFT_MSG_SNAPSHOT)
        learn_cluster_id(n, m->from);
}

static void on_hello(void *arg, uint64_t id, const char *client_addr,
                     const char *raft_addr, uint64_t cluster_id)
{
    struct node *n = arg;
    struct client_addr *a = NULL;
    for (unsigned i = 0; i < n->n_addrs && a == NULL; i++)
        if (n->addrs[i].id == id)
            a = &n->addrs[i];
    if (a == NULL) {
        if (n->n_addrs == sizeof n->addrs / sizeof n->addrs[0])
            n->n_addrs--; /* past the bound, the last one makes room */
        a = &n->addrs[n->n_addrs++];
        a->id = id;
    }
    snprintf(a->addr, sizeof a->addr, "%s", client_addr);
    a->cluster_id = cluster_id;
    if (strlen(raft_addr) < sizeof a->raft_addr)
        memcpy(a->raft_addr, raft_addr, strlen(raft_addr) + 1);
}

/* A peer will not hear this server: another process runs with its id, or
 * its data directory is not the one the id was first seen with. Either way
 * this server must not take part: it stops (docs/operations.md). */
static void on_refused(void *arg, uint64_t id, const char *why)
{
    (void)arg;
    log_error("server %" PRIu64 " refused this server: %s; stopping", id, why);
    exit(2);
}

/* Whether id is in this server's configuration, for the peer port's caps. */
static bool on_member(void *arg, uint64_t id)
{
    struct node *n = arg;
    return raft_conf_role(raft_conf(n->raft), id) != 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* The cluster id of a cluster whose first entry (the configuration every
 * initial server bootstraps with) is e: FNV-1a over its servers in id order,
 * each id with its address as parsed (family, port, address: "localhost"
 * and "127.0.0.1" are one), so that the initial servers, which start
 * independently and may list --peers in any order, agree on it without
 * talking. Never 0; 0 if e is not a configuration. */
static uint64_t cluster_id_of(const struct raft_entry *e)
{
    struct raft_conf c;
    if (raft_conf_decode(&c, e->data, e->len) != 0 || c.n == 0)
        return 0;
    static const char tag[] = "dlock cluster";
    uint64_t h = fnv(0xcbf29ce484222325ull, tag, sizeof tag - 1);
    uint64_t last = 0;
    for (unsigned k = 0; k < c.n; k++) {
        const struct raft_server *s = NULL;
        for (unsigned i = 0; i < c.n; i++)
            if (c.servers[i].id > last &&
                (s == NULL || c.servers[i].id < s->id))
                s = &c.servers[i];
        last = s->id;
        h = fnv(h, &s->id, sizeof s->id);
        struct sockaddr_storage sa;
        memset(&sa, 0, sizeof sa);
        if (config_parse_addr(s->addr, &sa) != 0) {
            h = fnv(h, s->addr, strlen(s->addr));
        } else if (sa.ss_family == AF_INET) {
            const struct sockaddr_in *in = (const void *)&sa;
            h = fnv(h, &in->sin_port, sizeof in->sin_port);
            h = fnv(h, &in->sin_addr, sizeof in->sin_addr);
        } else {
            const struct sockaddr_in6 *in6 = (const void *)&sa;
            h = fnv(h, &in6->sin6_port, sizeof in6->sin6_port);
            h = fnv(h, &in6->sin6_addr, sizeof in6->sin6_addr);
        }
    }
    return h ? h : 1;
}

/* Fixes the cluster id from the log's first entry when it is not known yet
 * and the log still holds that entry (a new cluster, or a directory of a
 * version before cluster ids that was never compacted). */
void node_derive_cluster_id(struct node *n)
{
    const struct raft_entry *e = raft_entry_at(n->raft, 1);
    if (n->datadir.cluster_id != 0 || e == NULL || e->type != RAFT_ENTRY_CONF ||
        e->term != 1)
        return;
    uint64_t id = cluster_id_of(e);
    if (id != 0)
        set_cluster_id(n, id, "from the first entry");
}

/* Sends an update's messages to their servers' addresses, filling a
 * snapshot chunk's bytes from the snapshot file (disk.h). */
void node_send_msgs(struct node *n, const struct raft_update *u)
{
    for (size_t i = 0; i < u->n_msgs; i++) {
        struct raft_msg m = u->msgs[i];
        const char *addr = node_member_addr(n, m.to);
        if (addr == NULL)
            continue;
        if (m.type == RAFT_MSG_SNAPSHOT && m.data == NULL) {
            if (!disk_fill_chunk(n->disk, &m))
                continue;
        }
        if (m.type == RAFT_MSG_APPEND_RESP && !m.reject)
            trace_acked(n, m.index);
        peers_send(n->peers, &m, addr);
    }
}

struct peers_cbs node_peer_cbs(void)
{
    return (struct peers_cbs){on_recv, on_hello, on_refused, on_member};
}
