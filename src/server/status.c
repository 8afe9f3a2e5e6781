/* status.c - the status document (status.h). */
#include "server/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"
#include "server/command.h"
#include "server/node.h"
#include "server/server.h"

bool status_ready(struct server *srv, char *why, size_t n)
{
    struct node_info ni;
    node_info(srv->node, &ni);
    const struct node_metrics *nm = node_metrics(srv->node);
    if (ni.leader == 0) {
        snprintf(why, n, "no leader is known (term %" PRIu64 ")", ni.term);
        return false;
    }
    if (ni.leader == ni.id && !node_is_leader(srv->node)) {
        snprintf(why, n,
                 "elected leader of term %" PRIu64
                 ", not serving yet (its first entry has not committed)",
                 ni.term);
        return false;
    }
    /* Entries committed a moment ago apply in the same turn of the loop:
     * a server is behind only when it stays so (a follower catching up,
     * one whose disk is slow), longer than an election timeout. */
    if (nm->behind_ms > srv->cfg->election_ms) {
        snprintf(why, n,
                 "applied up to %" PRIu64
                 " of the leader's commit index %" PRIu64
                 ", behind for %" PRIu64 " ms",
                 ni.applied, nm->leader_commit, nm->behind_ms);
        return false;
    }
    snprintf(why, n, "%s of term %" PRIu64 ", applied up to %" PRIu64,
             ni.leader == ni.id ? "leader" : "follower", ni.term, ni.applied);
    return true;
}

static const char *kind_name(uint8_t kind)
{
    return kind == FSM_KIND_SEMAPHORE  ? "semaphore"
           : kind == FSM_KIND_ELECTION ? "election"
                                       : "lock";
}

static uint64_t ago(uint64_t now, uint64_t since)
{
    return since != 0 && now > since ? now - since : 0;
}

/* ---- the busiest names --------------------------------------------------- */

/* A name found busy, copied out of the state (which changes between the
 * turns of the loop a pass takes). */
struct busy {
    struct fsm_lock_info info; /* its strings: name, owner, below */
    char *name, *owner;
};

/* The walk over every name, a chunk per turn of the loop, that finds the
 * busiest: the last pass done (shown) and the one under way. */
struct status_scan {
    struct server *srv;
    uv_idle_t idle;
    bool running;
    char *after; /* the walk's cursor: the last name seen, or NULL */
    uint32_t after_len;
    struct busy top[STATUS_TOP]; /* the pass under way's */
    size_t n;
    struct busy done[STATUS_TOP]; /* the last pass done's */
    size_t n_done;
    bool have_done;
    uint64_t done_ms;    /* uv_now when it ended */
    uint64_t pass_names; /* names seen by the pass under way */
    uint64_t done_names; /* by the last one */
    uint64_t chunk_left; /* names left to this turn's chunk */
};

static void busy_clear(struct busy *b)
{
    free(b->name);
    free(b->owner);
    memset(b, 0, sizeof *b);
}

/* A name ranks by its waiters, then by how long its first hold is held. */
static bool busier(const struct fsm_lock_info *a, const struct fsm_lock_info *b)
{
    if (a->waiters != b->waiters)
        return a->waiters > b->waiters;
    uint64_t ha = a->holders > 0 ? a->held_since : UINT64_MAX;
    uint64_t hb = b->holders > 0 ? b->held_since : UINT64_MAX;
    return ha < hb;
}

static bool rank_name(void *arg, const struct fsm_lock_info *info)
{
    struct status_scan *sc = arg;
    if (sc->chunk_left == 0)
        return false; /* the next turn goes on from the cursor */
    sc->pass_names++;
    if (--sc->chunk_left == 0) {
        /* The chunk's last name: the next one goes on after it. */
        free(sc->after);
        sc->after = mem_xmemdup(info->name, info->name_len);
        sc->after_len = info->name_len;
    }
    if (info->holders == 0 && info->waiters == 0)
        return true; /* free, in lock-delay */
    if (sc->n == STATUS_TOP && !busier(info, &sc->top[sc->n - 1].info))
        return true;
    size_t i = STATUS_TOP - 1;
    if (sc->n < STATUS_TOP)
        i = sc->n++;
    else
        busy_clear(&sc->top[i]); /* the least busy makes room */
    while (i > 0 && busier(info, &sc->top[i - 1].info)) {
        sc->top[i] = sc->top[i - 1]; /* moved down: its strings with it */
        i--;
    }
    struct busy *b = &sc->top[i];
    b->info = *info;
    b->name = mem_xmemdup(info->name, info->name_len);
    b->owner = mem_xmemdup(info->owner, info->owner_len);
    b->info.name = b->name;
    b->info.owner = b->owner;
    b->info.value = "";
    b->info.value_len = 0;
    return true;
}

/* One chunk of the walk; at its end the pass is done. */
static void scan_step(struct status_scan *sc, uint64_t chunk)
{
    sc->chunk_left = chunk;
    fsm_lock_list(node_fsm(sc->srv->node), "", 0, sc->after, sc->after_len,
                  rank_name, sc);
    if (sc->chunk_left == 0)
        return; /* more names after the cursor */
    for (size_t i = 0; i < sc->n_done; i++)
        busy_clear(&sc->done[i]);
    memcpy(sc->done, sc->top, sizeof sc->top);
    sc->n_done = sc->n;
    memset(sc->top, 0, sizeof sc->top);
    sc->n = 0;
    free(sc->after);
    sc->after = NULL;
    sc->after_len = 0;
    sc->have_done = true;
    sc->done_ms = uv_now(sc->srv->loop);
    sc->done_names = sc->pass_names;
    sc->pass_names = 0;
    sc->running = false;
    uv_idle_stop(&sc->idle);
}

static void on_scan_idle(uv_idle_t *h)
{
    scan_step(h->data, STATUS_SCAN_CHUNK);
}

struct status_scan *status_scan_new(struct server *srv)
{
    struct status_scan *sc = mem_xcalloc(1, sizeof *sc);
    sc->srv = srv;
    uv_idle_init(srv->loop, &sc->idle);
    sc->idle.data = sc;
    return sc;
}

static void scan_closed(uv_handle_t *h)
{
    struct status_scan *sc = h->data;
    for (size_t i = 0; i < STATUS_TOP; i++) {
        busy_clear(&sc->top[i]);
        busy_clear(&sc->done[i]);
    }
    free(sc->after);
    free(sc);
}

void status_scan_close(struct status_scan *sc)
{
    if (sc != NULL)
        uv_close((uv_handle_t *)&sc->idle, scan_closed);
}

/* The busiest names of the last pass, starting the next when the last is
 * a second old. The first pass, on a state of a few chunks, is made at
 * once. */
static void write_names(struct server *srv, struct json *j, uint64_t now)
{
    struct status_scan *sc = srv->status_scan;
    uint64_t at = uv_now(srv->loop);
    if (!sc->running && (!sc->have_done || at - sc->done_ms >= 1000)) {
        struct fsm_stats fs;
        fsm_stats(node_fsm(srv->node), &fs);
        sc->running = true;
        if (!sc->have_done && fs.locks <= 4 * STATUS_SCAN_CHUNK)
            scan_step(sc, UINT64_MAX);
        else
            uv_idle_start(&sc->idle, on_scan_idle);
    }
    json_array_open(j, "busiest");
    for (size_t i = 0; i < sc->n_done; i++) {
        const struct fsm_lock_info *li = &sc->done[i].info;
        json_object_open(j, NULL);
        json_strn(j, "name", li->name, li->name_len);
        json_str(j, "kind", kind_name(li->kind));
        json_str(j, "mode",
                 li->mode == FSM_MODE_EXCLUSIVE ? "exclusive"
                 : li->mode == FSM_MODE_SHARED  ? "shared"
                                                : "free");
        json_u64(j, "holders", li->holders);
        if (li->holders > 0) {
            json_u64(j, "session", li->holder);
            json_strn(j, "owner", li->owner, li->owner_len);
            json_u64(j, "token", li->token);
            json_u64(j, "held_ms", ago(now, li->held_since));
        }
        json_u64(j, "waiters", li->waiters);
        if (li->waiters > 0)
            json_u64(j, "longest_wait_ms", ago(now, li->waiting_since));
        if (li->permits > 0) {
            json_u64(j, "permits", li->permits);
            json_u64(j, "used", li->used);
        }
        json_object_close(j);
    }
    json_array_close(j);
    /* How old that pass is, and how many names it read. */
    json_u64(j, "busiest_age_ms", sc->have_done ? at - sc->done_ms : 0);
    json_u64(j, "busiest_names_read", sc->done_names);
}

/* ---- the sessions nearest their expiry ------------------------------------
 */

static void write_sessions(struct server *srv, struct json *j)
{
    const struct fsm *f = node_fsm(srv->node);
    json_array_open(j, "expiring");
    uint64_t ids[STATUS_TOP];
    size_t n = node_is_leader(srv->node)
                   ? node_leases_nearest(srv->node, ids, STATUS_TOP)
                   : 0;
    for (size_t i = 0; i < n; i++) {
        struct fsm_session_info si;
        if (!fsm_session_info(f, ids[i], &si))
            continue;
        json_object_open(j, NULL);
        json_u64(j, "session", si.id);
        json_u64(j, "ttl_ms", si.ttl);
        json_u64(j, "left_ms", node_lease_left(srv->node, si.id));
        json_strn(j, "client", si.client, si.client_len);
        json_strn(j, "user", si.user, si.user_len);
        json_u64(j, "holds", si.locks);
        json_u64(j, "waits", si.waits);
        json_bool(j, "lease_lock", si.lease_lock);
        json_object_close(j);
    }
    json_array_close(j);
}

/* ---- the document -----------------------------------------------------------
 */

static void write_hist(struct json *j, const char *key, const struct hist *h)
{
    json_object_open(j, key);
    json_u64(j, "count", h->count);
    json_u64(j, "sum", h->sum);
    json_array_open(j, "bounds");
    for (unsigned i = 0; i < h->n_bounds; i++)
        json_u64(j, NULL, h->bounds[i]);
    json_array_close(j);
    json_array_open(j, "counts");
    for (unsigned i = 0; i <= h->n_bounds; i++)
        json_u64(j, NULL, h->counts[i]);
    json_array_close(j);
    json_object_close(j);
}

static void write_members(struct json *j, const struct node_info *ni,
                          bool leading)
{
    json_array_open(j, "members");
    for (unsigned i = 0; i < ni->n_members; i++) {
        const struct node_member *m = &ni->members[i];
        json_object_open(j, NULL);
        json_u64(j, "id", m->id);
        json_str(j, "role",
                 m->id == ni->leader       ? "leader"
                 : m->role == RAFT_LEARNER ? "learner"
                                           : "follower");
        json_str(j, "raft_addr", m->raft_addr);
        json_str(j, "client_addr", m->client_addr);
        json_bool(j, "self", m->id == ni->id);
        if (leading) {
            uint64_t match = m->id == ni->id ? ni->last_index : m->match;
            json_u64(j, "match", match);
            json_u64(j, "lag",
                     ni->last_index > match ? ni->last_index - match : 0);
        }
        if (m->heard_ms_ago != UINT64_MAX)
            json_u64(j, "last_contact_ms", m->heard_ms_ago);
        else
            json_null(j, "last_contact_ms");
        json_object_close(j);
    }
    json_array_close(j);
}

void status_write(struct server *srv, struct buf *b)
{
    struct node_info ni;
    node_info(srv->node, &ni);
    const struct node_metrics *nm = node_metrics(srv->node);
    bool leading = node_is_leader(srv->node);
    char why[256];
    bool ready = status_ready(srv, why, sizeof why);
    uint64_t now = node_view_now(srv->node);
    const char *leader_addr = node_leader_addr(srv->node);
    struct json j;
    json_init(&j, b);
    json_object_open(&j, NULL);
    json_object_open(&j, "server");
    json_u64(&j, "id", ni.id);
    json_str(&j, "version", DLOCK_SERVER_VERSION);
    json_str(&j, "role", leading ? "leader" : raft_role_name(ni.role));
    json_str(&j, "listen", srv->cfg->advertise);
    json_u64(&j, "uptime_s", (uv_now(srv->loop) - srv->started_ms) / 1000);
    json_bool(&j, "ready", ready);
    json_str(&j, "ready_why", why);
    json_u64(&j, "now_ms", now);
    json_object_close(&j);
    json_object_open(&j, "raft");
    json_u64(&j, "term", ni.term);
    json_u64(&j, "leader", ni.leader);
    if (leader_addr != NULL)
        json_str(&j, "leader_addr", leader_addr);
    else
        json_null(&j, "leader_addr");
    json_u64(&j, "commit_index", ni.commit);
    json_u64(&j, "leader_commit_index", nm->leader_commit);
    json_u64(&j, "applied_index", ni.applied);
    json_u64(&j, "last_index", ni.last_index);
    json_u64(&j, "snapshot_index", ni.snapshot_index);
    json_u64(&j, "leader_changes", nm->leader_changes);
    json_object_close(&j);
    write_members(&j, &ni, leading);
    struct fsm_stats fs;
    fsm_stats(node_fsm(srv->node), &fs);
    const struct metrics *m = &srv->metrics;
    uint64_t grants = 0, handovers = 0;
    for (int k = 0; k < METRICS_KINDS; k++)
        grants += m->grants[k], handovers += m->handovers[k];
    json_object_open(&j, "state");
    json_u64(&j, "names", fs.locks);
    json_u64(&j, "holds", fs.held);
    json_u64(&j, "waiters", fs.waiters);
    json_u64(&j, "sessions", fs.sessions);
    json_u64(&j, "last_token", fsm_last_token(node_fsm(srv->node)));
    json_object_close(&j);
    /* Counters since the start: the page and dlock top chart their rates
     * between two reads. */
    json_object_open(&j, "counters");
    json_u64(&j, "grants", grants);
    json_u64(&j, "handovers", handovers);
    json_u64(&j, "sessions_expired", fs.counts.sessions_expired);
    json_u64(&j, "commands", srv->total_commands);
    json_u64(&j, "connections", srv->n_conns);
    write_hist(&j, "commit_us", &nm->commit_us);
    write_hist(&j, "sync_us", nm->disk.sync_us);
    json_object_close(&j);
    write_names(srv, &j, now);
    write_sessions(srv, &j);
    json_object_close(&j);
}
