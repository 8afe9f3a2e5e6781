/* metrics.c - dlockd's metrics in the Prometheus text format (metrics.h). */
#include "server/metrics.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/prom.h"
#include "server/auth.h"
#include "server/command.h"
#include "server/node.h"
#include "server/server.h"
#include "server/status.h"
#include "server/watch.h"

static const char *const kinds[METRICS_KINDS] = {"lock", "semaphore",
                                                 "election"};

/* The code words of docs/protocol.md §2, and what dlockd answers besides;
 * any other first word counts as "other", the last. */
static const char *const codes[] = {
    "ERR",     "LIMIT",     "LEADER",   "NOLEADER", "NOSESSION", "HELD",
    "NOTHELD", "TIMEOUT",   "KIND",     "UPGRADE",  "NOPROTO",   "NOAUTH",
    "NOPERM",  "WRONGPASS", "NOSCRIPT", "other"};
#define N_CODES (sizeof codes / sizeof codes[0])
_Static_assert(N_CODES <= 32, "struct metrics counts 32 codes");

void metrics_init(struct metrics *m)
{
    memset(m, 0, sizeof *m);
    for (int k = 0; k < METRICS_KINDS; k++) {
        hist_init(&m->wait_ms[k], hist_hold_ms, HIST_HOLD_MS_N);
        hist_init(&m->hold_ms[k], hist_hold_ms, HIST_HOLD_MS_N);
    }
}

void metrics_error(struct metrics *m, const char *msg)
{
    size_t n = strcspn(msg, " ");
    size_t i;
    for (i = 0; i + 1 < N_CODES; i++)
        if (strlen(codes[i]) == n && memcmp(codes[i], msg, n) == 0)
            break;
    m->errors[i]++;
}

void metrics_changes(struct metrics *m, const struct fsm_change *ch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct fsm_change *c = &ch[i];
        unsigned k = c->kind < METRICS_KINDS ? c->kind : 0;
        bool ended = c->exclusive == 0 && c->shared == 0;
        switch (c->type) {
        case FSM_CH_GRANTED:
            m->grants[k]++;
            if (c->queued) {
                m->handovers[k]++;
                hist_observe(&m->wait_ms[k], c->age_ms);
            }
            break;
        case FSM_CH_RELEASED:
            m->releases[k]++;
            if (ended)
                hist_observe(&m->hold_ms[k], c->age_ms);
            break;
        case FSM_CH_LOST:
            m->lost[k]++;
            hist_observe(&m->hold_ms[k], c->age_ms);
            break;
        case FSM_CH_WITHDRAWN:
            m->withdrawn[k]++;
            if (ended)
                hist_observe(&m->hold_ms[k], c->age_ms);
            break;
        default:
            break;
        }
    }
}

/* ---- the exposition ----------------------------------------------------- */

static void by_kind(struct buf *b, const char *name, const char *help,
                    const uint64_t *v)
{
    char labels[32];
    prom_family(b, name, "counter", help);
    for (int k = 0; k < METRICS_KINDS; k++) {
        snprintf(labels, sizeof labels, "kind=\"%s\"", kinds[k]);
        prom_u64(b, name, labels, v[k]);
    }
}

static void hist_by_kind(struct buf *b, const char *name, const char *help,
                         const struct hist *h)
{
    char labels[32];
    prom_family(b, name, "histogram", help);
    for (int k = 0; k < METRICS_KINDS; k++) {
        snprintf(labels, sizeof labels, "kind=\"%s\"", kinds[k]);
        prom_hist(b, name, labels, &h[k], 1e3);
    }
}

static void write_raft(struct server *srv, struct buf *b)
{
    struct node_info ni;
    node_info(srv->node, &ni);
    const struct node_metrics *nm = node_metrics(srv->node);
    prom_one(b, "dlock_server_id", "gauge", "This server's id (--id).", ni.id);
    prom_one(b, "dlock_raft_has_leader", "gauge",
             "1 if this server knows a leader.", ni.leader != 0);
    prom_one(b, "dlock_raft_is_leader", "gauge",
             "1 if this server is the leader, serving.",
             node_is_leader(srv->node));
    prom_one(b, "dlock_raft_leader_id", "gauge",
             "The leader's server id, 0 when none is known.", ni.leader);
    prom_one(b, "dlock_raft_term", "gauge", "The current Raft term.", ni.term);
    char why[256];
    prom_one(b, "dlock_ready", "gauge",
             "1 if this server is ready (GET /ready): in a cluster with a "
             "leader, applied up to its commit index.",
             status_ready(srv, why, sizeof why));
    prom_one(b, "dlock_raft_leader_changes_total", "counter",
             "Times this server learnt of a new leader.", nm->leader_changes);
    prom_one(b, "dlock_raft_elections_total", "counter",
             "Times this server stood as a candidate.", nm->elections);
    prom_one(b, "dlock_raft_commit_index", "gauge",
             "The highest log index known committed here.", ni.commit);
    prom_one(b, "dlock_raft_leader_commit_index", "gauge",
             "The cluster's commit index as last heard from the leader.",
             nm->leader_commit);
    prom_one(b, "dlock_raft_applied_index", "gauge",
             "The highest log index applied to the state machine.", ni.applied);
    prom_one(b, "dlock_raft_last_index", "gauge",
             "The last index in this server's log.", ni.last_index);
    prom_one(b, "dlock_raft_snapshot_index", "gauge",
             "The index of the latest snapshot.", ni.snapshot_index);
    prom_one(b, "dlock_raft_members", "gauge",
             "Servers in the configuration (voters and learners).",
             ni.n_members);
    prom_one(b, "dlock_raft_proposals_total", "counter",
             "Client commands proposed by this server as leader.",
             nm->proposed);
    prom_one(b, "dlock_raft_proposals_committed_total", "counter",
             "Proposals applied with their result.", nm->committed);
    prom_one(b, "dlock_raft_proposals_failed_total", "counter",
             "Proposals that did not apply as proposed (leadership lost, "
             "the server stopping).",
             nm->failed);
    prom_one(b, "dlock_raft_proposals_pending", "gauge",
             "Proposals not applied yet.",
             nm->proposed - nm->committed - nm->failed);
    prom_family(b, "dlock_raft_commit_duration_seconds", "histogram",
                "From a proposal to its result: replication, fsync, apply.");
    prom_hist(b, "dlock_raft_commit_duration_seconds", NULL, &nm->commit_us,
              1e6);
    prom_one(b, "dlock_raft_snapshots_taken_total", "counter",
             "Snapshots this server wrote.", nm->disk.snapshots_taken);
    prom_one(b, "dlock_raft_snapshots_installed_total", "counter",
             "Snapshots received from a leader and installed.",
             nm->disk.snapshots_installed);
    char labels[48];
    prom_family(b, "dlock_raft_peer_last_contact_seconds", "gauge",
                "Since the last message from each other member.");
    for (unsigned i = 0; i < ni.n_members; i++) {
        if (ni.members[i].heard_ms_ago == UINT64_MAX)
            continue;
        snprintf(labels, sizeof labels, "peer=\"%" PRIu64 "\"",
                 ni.members[i].id);
        prom_f64(b, "dlock_raft_peer_last_contact_seconds", labels,
                 (double)ni.members[i].heard_ms_ago / 1e3);
    }
    if (node_is_leader(srv->node)) {
        prom_family(b, "dlock_raft_peer_lag_entries", "gauge",
                    "On the leader: entries each member lacks of the log.");
        for (unsigned i = 0; i < ni.n_members; i++) {
            snprintf(labels, sizeof labels, "peer=\"%" PRIu64 "\"",
                     ni.members[i].id);
            uint64_t m =
                ni.members[i].id == ni.id ? ni.last_index : ni.members[i].match;
            prom_u64(b, "dlock_raft_peer_lag_entries", labels,
                     ni.last_index > m ? ni.last_index - m : 0);
        }
    }
    prom_family(b, "dlock_disk_sync_duration_seconds", "histogram",
                "Each batch of log entries written and fsynced.");
    prom_hist(b, "dlock_disk_sync_duration_seconds", NULL, nm->disk.sync_us,
              1e6);
    prom_family(b, "dlock_disk_batch_entries", "histogram",
                "Log entries in each batch synced (the group commit).");
    prom_hist(b, "dlock_disk_batch_entries", NULL, nm->disk.batch_entries, 1);
    prom_one(b, "dlock_disk_written_bytes_total", "counter",
             "Bytes of log records appended (headers included).",
             nm->disk.bytes_appended);
    prom_one(b, "dlock_disk_sync_on_loop", "gauge",
             "1 while log syncs run on the event loop (fast), 0 on a worker.",
             nm->disk.sync_inline);
    struct statvfs fs;
    if (statvfs(srv->cfg->data, &fs) == 0) {
        prom_one(b, "dlock_disk_free_bytes", "gauge",
                 "Space left on the file system of the data directory, for "
                 "this server's user.",
                 (uint64_t)fs.f_bavail * fs.f_frsize);
        prom_one(b, "dlock_disk_size_bytes", "gauge",
                 "Size of the file system of the data directory.",
                 (uint64_t)fs.f_blocks * fs.f_frsize);
    }
}

static void write_locks(struct server *srv, struct buf *b)
{
    struct metrics *m = &srv->metrics;
    struct fsm_stats fs;
    fsm_stats(node_fsm(srv->node), &fs);
    prom_one(b, "dlock_names", "gauge",
             "Names known: held, waited on or in lock-delay.", fs.locks);
    prom_one(b, "dlock_holds", "gauge",
             "Holds of names (a lock held shared by three counts three).",
             fs.held);
    prom_one(b, "dlock_waiters", "gauge", "Queued waits.", fs.waiters);
    prom_one(b, "dlock_fencing_token_last", "gauge",
             "The last fencing token granted.",
             fsm_last_token(node_fsm(srv->node)));
    prom_one(b, "dlock_state_bytes", "gauge",
             "Memory the lock state holds, approximately.", fs.bytes);
    by_kind(b, "dlock_grants_total", "Holds made or taken again.", m->grants);
    by_kind(b, "dlock_handovers_total",
            "Grants to a queued wait (the server handing a name over).",
            m->handovers);
    by_kind(b, "dlock_releases_total", "Holds given back.", m->releases);
    by_kind(b, "dlock_holds_lost_total",
            "Holds ended by their session's expiry or an administrator's "
            "REVOKE.",
            m->lost);
    by_kind(b, "dlock_grants_withdrawn_total",
            "Grants whose client went away before learning them, taken "
            "back.",
            m->withdrawn);
    hist_by_kind(b, "dlock_wait_duration_seconds",
                 "Queued waits, from their request to their grant.",
                 m->wait_ms);
    hist_by_kind(b, "dlock_hold_duration_seconds",
                 "Holds, from their grant to their end.", m->hold_ms);
    prom_one(b, "dlock_sessions", "gauge", "Sessions open.", fs.sessions);
    prom_one(b, "dlock_sessions_opened_total", "counter",
             "Sessions opened (lease locks' own included).",
             fs.counts.sessions_opened);
    prom_one(b, "dlock_sessions_expired_total", "counter",
             "Sessions ended by their lease's expiry.",
             fs.counts.sessions_expired);
}

static void write_clients(struct server *srv, struct buf *b)
{
    struct metrics *m = &srv->metrics;
    prom_one(b, "dlock_client_connections", "gauge", "Client connections open.",
             srv->n_conns);
    prom_one(b, "dlock_client_connections_total", "counter",
             "Client connections accepted.", srv->total_conns);
    prom_one(b, "dlock_client_connections_rejected_total", "counter",
             "Client connections refused (--max-clients and its kin).",
             srv->rejected_conns);
    char labels[64];
    prom_family(b, "dlock_commands_total", "counter",
                "Requests, by command (unknown ones as \"unknown\").");
    for (size_t i = 0; i < METRICS_COMMANDS_MAX; i++) {
        const char *name = command_name(i);
        if (name == NULL) {
            prom_u64(b, "dlock_commands_total", "command=\"unknown\"",
                     m->commands[i]);
            break;
        }
        snprintf(labels, sizeof labels, "command=\"%s\"", name);
        prom_u64(b, "dlock_commands_total", labels, m->commands[i]);
    }
    prom_family(b, "dlock_errors_total", "counter",
                "Error replies, by code word (docs/protocol.md §2).");
    for (size_t i = 0; i < N_CODES; i++) {
        snprintf(labels, sizeof labels, "code=\"%s\"", codes[i]);
        prom_u64(b, "dlock_errors_total", labels, m->errors[i]);
    }
    struct watch_stats ws;
    watch_stats(srv->watch, &ws);
    prom_one(b, "dlock_watches", "gauge", "Watches of names and sessions.",
             ws.watches);
    struct auth_stats as;
    auth_stats(srv, &as);
    prom_one(b, "dlock_auth_failures_total", "counter", "Logins refused.",
             as.failed);
    prom_one(b, "dlock_loop_slow_turns_total", "counter",
             "Turns of the event loop busy for 100 ms or more.",
             srv->turn.slow_turns);
    prom_one(b, "dlock_http_requests_total", "counter",
             "Requests to the HTTP port.", m->http_requests);
}

/* process_*: the names Prometheus's client libraries use. */
static void write_process(struct buf *b)
{
    unsigned long utime = 0, stime = 0, vsize = 0;
    unsigned long long start = 0;
    long rss = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f != NULL) {
        char line[1024];
        if (fgets(line, sizeof line, f) != NULL) {
            /* Fields after the command's name, which ends with the last
             * ')': state is field 3. */
            const char *p = strrchr(line, ')');
            if (p == NULL ||
                sscanf(p + 2,
                       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
                       "%*d %*d %*d %*d %*d %*d %llu %lu %ld",
                       &utime, &stime, &start, &vsize, &rss) != 5)
                utime = stime = vsize = 0, start = 0, rss = 0;
        }
        fclose(f);
    }
    double tick = (double)sysconf(_SC_CLK_TCK);
    double boot = 0;
    f = fopen("/proc/stat", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof line, f) != NULL)
            if (sscanf(line, "btime %lf", &boot) == 1)
                break;
        fclose(f);
    }
    unsigned fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        while (readdir(d) != NULL)
            fds++;
        closedir(d);
        fds = fds >= 3 ? fds - 3 : 0; /* ., .. and the directory's own */
    }
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    prom_family(b, "process_cpu_seconds_total", "counter",
                "User and system CPU time spent, in seconds.");
    prom_f64(b, "process_cpu_seconds_total", NULL,
             (double)(utime + stime) / tick);
    prom_one(b, "process_resident_memory_bytes", "gauge",
             "Resident memory size in bytes.",
             (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE));
    prom_one(b, "process_virtual_memory_bytes", "gauge",
             "Virtual memory size in bytes.", vsize);
    prom_one(b, "process_open_fds", "gauge", "Open file descriptors.", fds);
    prom_one(b, "process_max_fds", "gauge",
             "The limit of open file descriptors.", rl.rlim_cur);
    prom_family(b, "process_start_time_seconds", "gauge",
                "Start time of the process since the Unix epoch, in "
                "seconds.");
    prom_f64(b, "process_start_time_seconds", NULL,
             boot + (double)start / tick);
}

void metrics_write(struct server *srv, struct buf *b)
{
    prom_family(b, "dlock_build_info", "gauge",
                "1, labelled with the server's version.");
    prom_u64(b, "dlock_build_info", "version=\"" DLOCK_SERVER_VERSION "\"", 1);
    write_raft(srv, b);
    write_locks(srv, b);
    write_clients(srv, b);
    write_process(b);
}
