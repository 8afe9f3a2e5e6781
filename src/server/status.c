/* status.c - the status document (status.h). */
#include "server/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
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
                 ", not serving yet (its first entry has not "
                 "committed)",
                 ni.term);
        return false;
    }
    if (ni.applied < nm->leader_commit) {
        snprintf(why, n,
                 "applied up to %" PRIu64
                 " of the leader's commit index %" PRIu64,
                 ni.applied, nm->leader_commit);
        return false;
    }
    snprintf(why, n, "%s of term %" PRIu64 ", applied up to %" PRIu64,
             ni.leader == ni.id ? "leader" : "follower", ni.term, ni.applied);
    return true;
}

/* ---- the busiest names --------------------------------------------------- */

/* A name ranks by its waiters, then by how long its first hold is held. */
static bool busier(const struct fsm_lock_info *a, const struct fsm_lock_info *b)
{
    if (a->waiters != b->waiters)
        return a->waiters > b->waiters;
    uint64_t ha = a->holders > 0 ? a->held_since : UINT64_MAX;
    uint64_t hb = b->holders > 0 ? b->held_since : UINT64_MAX;
    return ha < hb;
}

struct top_names {
    struct fsm_lock_info top[STATUS_TOP]; /* the busiest, in order */
    size_t n;
};

static bool rank_name(void *arg, const struct fsm_lock_info *info)
{
    struct top_names *t = arg;
    if (info->holders == 0 && info->waiters == 0)
        return true; /* free, in lock-delay */
    if (t->n == STATUS_TOP && !busier(info, &t->top[t->n - 1]))
        return true;
    size_t i = t->n < STATUS_TOP ? t->n++ : STATUS_TOP - 1;
    while (i > 0 && busier(info, &t->top[i - 1])) {
        t->top[i] = t->top[i - 1];
        i--;
    }
    t->top[i] = *info; /* its strings live as long as the state */
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

static void write_names(struct server *srv, struct json *j, uint64_t now)
{
    struct top_names t = {.n = 0};
    fsm_lock_list(node_fsm(srv->node), "", 0, NULL, 0, rank_name, &t);
    json_array_open(j, "busiest");
    for (size_t i = 0; i < t.n; i++) {
        const struct fsm_lock_info *li = &t.top[i];
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
}

/* ---- the sessions nearest their expiry ------------------------------------
 */

struct near {
    uint64_t id, left, ttl;
};
struct top_sessions {
    struct server *srv;
    struct near top[STATUS_TOP]; /* by lease left, least first */
    size_t n;
};

static void rank_session(void *arg, uint64_t id, uint64_t ttl)
{
    struct top_sessions *t = arg;
    uint64_t left = node_lease_left(t->srv->node, id);
    if (t->n == STATUS_TOP && left >= t->top[t->n - 1].left)
        return;
    size_t i = t->n < STATUS_TOP ? t->n++ : STATUS_TOP - 1;
    while (i > 0 && left < t->top[i - 1].left) {
        t->top[i] = t->top[i - 1];
        i--;
    }
    t->top[i] = (struct near){id, left, ttl};
}

static void write_sessions(struct server *srv, struct json *j)
{
    const struct fsm *f = node_fsm(srv->node);
    json_array_open(j, "expiring");
    if (node_is_leader(srv->node)) {
        struct top_sessions t = {.srv = srv, .n = 0};
        fsm_session_each(f, rank_session, &t);
        for (size_t i = 0; i < t.n; i++) {
            struct fsm_session_info si;
            if (!fsm_session_info(f, t.top[i].id, &si))
                continue;
            json_object_open(j, NULL);
            json_u64(j, "session", si.id);
            json_u64(j, "ttl_ms", si.ttl);
            json_u64(j, "left_ms", t.top[i].left);
            json_strn(j, "client", si.client, si.client_len);
            json_strn(j, "user", si.user, si.user_len);
            json_u64(j, "holds", si.locks);
            json_u64(j, "waits", si.waits);
            json_bool(j, "lease_lock", si.lease_lock);
            json_object_close(j);
        }
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
    uint64_t now = node_now(srv->node);
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
