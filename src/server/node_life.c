/* node_life.c - the node's start (open the store, restore, bootstrap a new
 * cluster) and its stop (hand leadership over, fail what waits, close). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "server/logger.h"
#include "server/tlsfiles.h"
#include "server/node_internal.h"
#include "server/peer.h"
#include "store/store.h"

#define TICK_MS 10

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
    if (disk_open(n->disk, &st, err, errlen) != 0)
        return -1;
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
    bool fresh = !st.has_snapshot && st.n_entries == 0 && st.term == 0;
    log_info("restored in %" PRIu64 " ms: term %" PRIu64
             ", snapshot at %" PRIu64 ", %zu entries after it",
             (uv_hrtime() - t0) / 1000000, st.term,
             st.has_snapshot ? st.snapshot.index : 0, st.n_entries);
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
    node_derive_cluster_id(n);
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

static void disk_kick_cb(void *arg)
{
    node_kick(arg);
}

static void disk_before_write_cb(void *arg)
{
    struct node *n = arg;
    peers_cork(n->peers, false);
}

static void disk_idle_cb(void *arg)
{
    node_stop_progress(arg);
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
    struct replica_config rcfg = {.wait_grace_ms = cfg->wait_grace_ms,
                                  .expire_retry_ms = EXPIRE_RETRY_MS,
                                  .expire_batch = EXPIRE_BATCH};
    n->rep = replica_new(&rcfg);
    if (n->raft == NULL) {
        snprintf(err, errlen, "bad Raft settings");
        node_free(n);
        return NULL;
    }
    /* The disk makes its handle first, so that a failure leaves nothing
     * else to close. */
    struct disk_config dcfg = {.data = cfg->data,
                               .snapshot_entries = cfg->snapshot_entries,
                               .id = cfg->id,
                               .keep_fd =
                                   n->datadir.held ? n->datadir.lock_fd : -1};
    struct disk_cbs dcbs = {.kick = disk_kick_cb,
                            .before_write = disk_before_write_cb,
                            .idle = disk_idle_cb};
    n->disk = disk_new(loop, &dcfg, n->raft, n->rep, &dcbs, n, err, errlen);
    if (n->disk == NULL || restore(n, err, errlen) != 0) {
        node_free(n);
        return NULL;
    }
    struct tls_ctx *tls_accept, *tls_connect;
    if (tlsfiles_peers(cfg, &tls_accept, &tls_connect, err, errlen) != 0) {
        node_free(n);
        return NULL;
    }
    struct peers_cbs cbs = node_peer_cbs();
    n->peers = peers_new(loop, cfg->id, n->datadir.dir_id, cfg->advertise,
                         cfg->raft, &cbs, n);
    peers_set_tls(n->peers, tls_accept, tls_connect);
    peers_set_cluster_id(n->peers, n->datadir.cluster_id);
    int uvrc = peers_listen(n->peers, cfg->raft);
    if (uvrc != 0) {
        snprintf(err, errlen, "cannot listen for peers on %s (%s): %s",
                 cfg->raft, cfg->raft_from, uv_strerror(uvrc));
        peers_free(n->peers);
        n->peers = NULL;
        node_free(n);
        return NULL;
    }
    n->last_role = RAFT_FOLLOWER;
    hist_init(&n->metrics.commit_us, hist_latency_us, HIST_LATENCY_US_N);
    tracer_init(&n->trace, NODE_TRACE_STAMPS);
    tracer_init(&n->ftrace, NODE_FTRACE_STAMPS);
    n->last_tick = uv_now(loop);
    n->started_ms = n->last_tick;
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
    disk_watch(n->disk);
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

static void on_closed(void *arg)
{
    closed_one(arg);
}

static void finish_stop(struct node *n)
{
    n->closed = true;
    node_lost_leadership(n, NODE_SHUTDOWN);
    disk_close(n->disk, on_closed, n);
    n->open_handles++; /* the peers */
    peers_close(n->peers, on_closed, n);
    uv_close((uv_handle_t *)&n->timer, on_handle_closed);
    uv_close((uv_handle_t *)&n->check, on_handle_closed);
    uv_close((uv_handle_t *)&n->reads_idle, on_handle_closed);
    uv_close((uv_handle_t *)&n->expire_idle, on_handle_closed);
}

void node_stop_progress(struct node *n)
{
    if (!n->stopping || n->closed)
        return;
    bool handed = !n->transferring || raft_role(n->raft) != RAFT_LEADER;
    bool waited = uv_now(n->loop) >= n->stop_started + n->cfg->election_ms;
    if ((handed || waited) && !disk_busy(n->disk))
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
    disk_cancel_spare(n->disk);
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
    datadir_close(&n->datadir);
    replica_free(n->rep);
    peers_free(n->peers);
    disk_free(n->disk);
    free(n->reads.v);
    free(n);
}
