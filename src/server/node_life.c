/* node_life.c - the node's start (open the store, restore, bootstrap a new
 * cluster), the peer transport's callbacks, and its stop (hand leadership
 * over, fail what waits, close). */
#include <errno.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "server/logger.h"
#include "server/node_internal.h"
#include "server/peer.h"
#include "store/store.h"

#define TICK_MS 10

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

static void on_recv(void *arg, const struct raft_msg *m)
{
    struct node *n = arg;
    if (n->closed)
        return;
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
static void derive_cluster_id(struct node *n)
{
    const struct raft_entry *e = raft_entry_at(n->raft, 1);
    if (n->datadir.cluster_id != 0 || e == NULL || e->type != RAFT_ENTRY_CONF ||
        e->term != 1)
        return;
    uint64_t id = cluster_id_of(e);
    if (id != 0)
        set_cluster_id(n, id, "from the first entry");
}

/* The configuration of a new cluster: --peers, or this server alone.
 * config_parse has checked that the addresses fit. */
static void initial_conf(const struct config *cfg, struct raft_conf *c)
{
    memset(c, 0, sizeof *c);
    if (cfg->n_peers == 0) {
        c->n = 1;
        c->servers[0].id = cfg->id;
        c->servers[0].role = RAFT_VOTER;
        memcpy(c->servers[0].addr, cfg->raft, strlen(cfg->raft) + 1);
        return;
    }
    for (unsigned i = 0; i < cfg->n_peers; i++) {
        c->servers[c->n].id = cfg->peers[i].id;
        c->servers[c->n].role = RAFT_VOTER;
        memcpy(c->servers[c->n].addr, cfg->peers[i].addr, RAFT_ADDR_MAX);
        c->n++;
    }
}

static int restore(struct node *n, char *err, size_t errlen)
{
    struct store_state st;
    uint64_t t0 = uv_hrtime();
    if (store_open(n->store, &st) != 0) {
        snprintf(err, errlen, "%s", store_errmsg(n->store));
        return -1;
    }
    if (st.repaired[0] != '\0')
        log_warn("log repaired: %s", st.repaired);
    if (st.term > RAFT_MAX_TERM) {
        snprintf(err, errlen,
                 "the stored term %" PRIu64 " is past the largest a server "
                 "takes (%llu): an earlier version took it from a bogus "
                 "message. A member of a cluster: remove it (CLUSTER.REMOVE "
                 "%" PRIu64 "), empty %s and add it back with --join; a "
                 "single server: run dlockd --reset-term with the same --id "
                 "and --data once (docs/operations.md)",
                 st.term, RAFT_MAX_TERM, n->cfg->id, n->cfg->data);
        store_state_close(&st);
        return -1;
    }
    if (st.has_snapshot &&
        replica_restore(n->rep, st.snapshot_data, st.snapshot_len,
                        st.snapshot.index) != 0) {
        snprintf(err, errlen, "the snapshot at %" PRIu64 " does not restore",
                 st.snapshot.index);
        store_state_close(&st);
        return -1;
    }
    int rc = raft_restore(n->raft, st.term, st.vote,
                          st.has_snapshot ? &st.snapshot : NULL, st.entries,
                          st.n_entries);
    if (rc != 0) {
        snprintf(err, errlen, "the stored log does not fit together (%d)", rc);
        store_state_close(&st);
        return -1;
    }
    n->last_snapshot = st.has_snapshot ? st.snapshot.index : 0;
    bool fresh = !st.has_snapshot && st.n_entries == 0 && st.term == 0;
    log_info("restored in %" PRIu64 " ms: term %" PRIu64
             ", snapshot at %" PRIu64 ", %zu entries after it",
             (uv_hrtime() - t0) / 1000000, st.term, n->last_snapshot,
             st.n_entries);
    store_state_close(&st);
    if (fresh && n->cfg->join[0] == '\0') {
        struct raft_conf c;
        initial_conf(n->cfg, &c);
        if (raft_bootstrap(n->raft, &c) != 0) {
            snprintf(err, errlen, "cannot bootstrap the cluster");
            return -1;
        }
        log_info("new cluster of %u server%s", c.n, c.n == 1 ? "" : "s");
    } else if (fresh) {
        log_info("empty; waiting to be added to the cluster of %s",
                 n->cfg->join);
    }
    derive_cluster_id(n);
    return 0;
}

/* Takes the data directory for this process before anything reads or
 * repairs it, saying in its lock file who holds it. */
static int open_datadir(struct node *n, char *err, size_t errlen)
{
    char holder[512], since[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    snprintf(holder, sizeof holder,
             "pid %ld, server %" PRIu64
             ", clients on %s, peers on %s, since %s",
             (long)getpid(), n->cfg->id, n->cfg->listen, n->cfg->raft, since);
    return datadir_open(&n->datadir, n->cfg->data, n->cfg->id, holder, err,
                        errlen);
}

struct node *node_start(uv_loop_t *loop, const struct config *cfg, char *err,
                        size_t errlen)
{
    struct node *n = mem_xcalloc(1, sizeof *n);
    n->loop = loop;
    n->cfg_copy = *cfg;
    n->cfg = &n->cfg_copy;
    struct raft_config rc;
    raft_config_default(&rc, cfg->id);
    rc.election_ms = cfg->election_ms;
    rc.heartbeat_ms = cfg->heartbeat_ms;
    rc.seed = cfg->id ^ uv_hrtime();
    n->raft = raft_new(&rc);
    if (open_datadir(n, err, errlen) != 0) {
        node_free(n);
        return NULL;
    }
    n->store = store_new(cfg->data, 0);
    struct replica_config rcfg = {.wait_grace_ms = cfg->wait_grace_ms,
                                  .expire_retry_ms = EXPIRE_RETRY_MS,
                                  .expire_batch = EXPIRE_BATCH};
    n->rep = replica_new(&rcfg);
    if (n->raft == NULL || restore(n, err, errlen) != 0) {
        if (n->raft == NULL)
            snprintf(err, errlen, "bad Raft settings");
        node_free(n);
        return NULL;
    }
    /* The group commit's timer (node_disk.c): before any handle, so that a
     * failure leaves nothing to close. */
    n->gather_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    int uvrc = n->gather_fd < 0
                   ? uv_translate_sys_error(errno)
                   : uv_poll_init(loop, &n->gather_poll, n->gather_fd);
    if (uvrc != 0) {
        snprintf(err, errlen, "cannot make the group commit's timer: %s",
                 uv_strerror(uvrc));
        if (n->gather_fd >= 0)
            close(n->gather_fd);
        node_free(n);
        return NULL;
    }
    struct peers_cbs cbs = {on_recv, on_hello, on_refused, on_member};
    n->peers = peers_new(loop, cfg->id, n->datadir.dir_id, cfg->advertise,
                         cfg->raft, &cbs, n);
    peers_set_cluster_id(n->peers, n->datadir.cluster_id);
    uvrc = peers_listen(n->peers, cfg->raft);
    if (uvrc != 0) {
        snprintf(err, errlen, "cannot listen for peers on %s (%s): %s",
                 cfg->raft, cfg->raft_from, uv_strerror(uvrc));
        peers_free(n->peers);
        n->peers = NULL;
        node_free(n);
        return NULL;
    }
    n->last_role = RAFT_FOLLOWER;
    n->last_tick = uv_now(loop);
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    uv_timer_start(&n->timer, node_on_tick, TICK_MS, TICK_MS);
    uv_check_init(loop, &n->check);
    n->check.data = n;
    uv_check_start(&n->check, node_on_check);
    uv_idle_init(loop, &n->reads_idle);
    n->reads_idle.data = n;
    uv_idle_init(loop, &n->expire_idle);
    n->expire_idle.data = n;
    n->snap_fd = -1;
    n->gather_poll.data = n;
    node_disk_init_gather(n);
    n->open_handles = 5;
    raft_tick(n->raft, 0);
    return n;
}

/* ---- stop ------------------------------------------------------------- */

static void closed_one(struct node *n)
{
    if (--n->open_handles == 0 && n->stop_done != NULL) {
        void (*done)(void *) = n->stop_done;
        n->stop_done = NULL;
        done(n->stop_arg);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

static void on_gather_closed(uv_handle_t *h)
{
    struct node *n = h->data;
    close(n->gather_fd);
    n->gather_fd = -1;
    closed_one(n);
}

static void on_peers_closed(void *arg)
{
    closed_one(arg);
}

static void finish_stop(struct node *n)
{
    n->closed = true;
    node_lost_leadership(n, NODE_SHUTDOWN);
    store_sync(n->store); /* whatever is buffered; nothing waits on it */
    n->open_handles++;    /* the peers */
    peers_close(n->peers, on_peers_closed, n);
    uv_close((uv_handle_t *)&n->timer, on_handle_closed);
    uv_close((uv_handle_t *)&n->check, on_handle_closed);
    uv_close((uv_handle_t *)&n->reads_idle, on_handle_closed);
    uv_close((uv_handle_t *)&n->expire_idle, on_handle_closed);
    uv_close((uv_handle_t *)&n->gather_poll, on_gather_closed);
}

void node_stop_progress(struct node *n)
{
    if (!n->stopping || n->closed)
        return;
    bool handed = !n->transferring || raft_role(n->raft) != RAFT_LEADER;
    bool waited = uv_now(n->loop) >= n->stop_started + n->cfg->election_ms;
    if ((handed || waited) && !n->syncing && !n->snapshotting && !n->sparing)
        finish_stop(n);
}

void node_stop(struct node *n, void (*done)(void *arg), void *arg)
{
    if (n->stopping)
        return;
    n->stopping = true;
    n->stop_done = done;
    n->stop_arg = arg;
    n->stop_started = uv_now(n->loop);
    node_disk_cancel_spare(n);
    if (raft_role(n->raft) == RAFT_LEADER && raft_transfer(n->raft, 0) == 0)
        log_info("handing leadership over before stopping");
    node_kick(n);
    node_stop_progress(n);
}

void node_free(struct node *n)
{
    if (n == NULL)
        return;
    raft_free(n->raft);
    store_free(n->store);
    datadir_close(&n->datadir);
    replica_free(n->rep);
    peers_free(n->peers);
    node_disk_free_deferred(n);
    free(n->reads.v);
    free(n->chunk_buf);
    free(n);
}
