/* infocmd.c - what a server says about itself: INFO, by sections, and
 * CONFIG GET, its settings. docs/protocol.md §6 is the reference. */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "server/auth.h"
#include "server/command.h"
#include "server/logger.h"
#include "server/node.h"
#include "server/server.h"
#include "server/status.h"
#include "server/watch.h"

/* ---- INFO --------------------------------------------------------------- */

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void info_server(struct server *srv, struct buf *b)
{
    buf_appendf(b,
                "# Server\r\nserver:dlock\r\nversion:%s\r\nprocess_id:%d\r\n"
                "uptime_in_seconds:%" PRIu64 "\r\nlisten:%s\r\nraft:%s\r\n"
                "data:%s\r\nloop_longest_turn_ms:%" PRIu64
                "\r\nloop_slow_turns:%" PRIu64 "\r\nloop_budget_cuts:%" PRIu64
                "\r\n",
                DLOCK_SERVER_VERSION, (int)getpid(),
                (uv_now(srv->loop) - srv->started_ms) / 1000, srv->cfg->listen,
                srv->cfg->raft, srv->cfg->data, srv->turn.longest_ns / 1000000,
                srv->turn.slow_turns, srv->turn.cut);
}

static void info_clients(struct server *srv, struct buf *b)
{
    struct auth_stats st;
    auth_stats(srv, &st);
    buf_appendf(b,
                "# Clients\r\nconnected_clients:%" PRIu64
                "\r\nmaxclients:%" PRIu64 "\r\nclient_input_bytes:%zu"
                "\r\ntotal_connections_received:%" PRIu64
                "\r\nrejected_connections:%" PRIu64
                "\r\ntotal_commands_processed:%" PRIu64 "\r\ntls:%s"
                "\r\ntls_failed:%" PRIu64 "\r\nauth:%s\r\nauth_ok:%" PRIu64
                "\r\nauth_failed:%" PRIu64 "\r\nauth_refused:%" PRIu64
                "\r\nauth_hashing:%zu\r\n",
                srv->n_conns, srv->clients.max_clients, srv->input_total,
                srv->total_conns, srv->rejected_conns, srv->total_commands,
                srv->tls_clients != NULL ? "on" : "off", srv->tls_failed,
                auth_required(srv) ? "on" : "off", st.ok, st.failed, st.refused,
                st.hashing);
}

static void info_raft(struct server *srv, struct buf *b)
{
    struct node_info ni;
    node_info(srv->node, &ni);
    buf_appendf(b,
                "# Raft\r\nid:%" PRIu64 "\r\nrole:%s\r\nterm:%" PRIu64
                "\r\nleader:%" PRIu64 "\r\ncommit_index:%" PRIu64
                "\r\napplied_index:%" PRIu64 "\r\nlast_index:%" PRIu64
                "\r\nsnapshot_index:%" PRIu64 "\r\nmembers:%u\r\n",
                ni.id, raft_role_name(ni.role), ni.term, ni.leader, ni.commit,
                ni.applied, ni.last_index, ni.snapshot_index, ni.n_members);
}

static void info_disk(struct server *srv, struct buf *b)
{
    struct node_info ni;
    node_info(srv->node, &ni);
    buf_appendf(b,
                "# Disk\r\nsync_avg_us:%" PRIu64 "\r\nsync_on_loop:%d\r\n"
                "syncs:%" PRIu64 "\r\nentries_synced:%" PRIu64 "\r\n",
                ni.sync_avg_us, ni.sync_inline ? 1 : 0, ni.syncs,
                ni.entries_synced);
}

static void info_locks(struct server *srv, struct buf *b)
{
    struct fsm_stats fs;
    fsm_stats(node_fsm(srv->node), &fs);
    buf_appendf(b,
                "# Locks\r\nsessions:%" PRIu64 "\r\nlocks:%" PRIu64
                "\r\nheld:%" PRIu64 "\r\nwaiters:%" PRIu64
                "\r\nlast_token:%" PRIu64 "\r\nstate_bytes:%" PRIu64 "\r\n",
                fs.sessions, fs.locks, fs.held, fs.waiters,
                fsm_last_token(node_fsm(srv->node)), fs.bytes);
}

static void info_watches(struct server *srv, struct buf *b)
{
    struct watch_stats st;
    watch_stats(srv->watch, &st);
    buf_appendf(b,
                "# Watches\r\nwatches:%" PRIu64 "\r\nwatch_waits:%" PRIu64
                "\r\nwatch_history:%" PRIu64 "\r\nwatch_whole_from:%" PRIu64
                "\r\nwatches_ended_slow:%" PRIu64 "\r\n",
                st.watches, st.waits, st.kept, st.whole_from, st.ended_slow);
}

static void info_memory(struct server *srv, struct buf *b)
{
    buf_appendf(b, "# Memory\r\nused_memory_rss:%" PRIu64 "\r\n", rss_bytes());
}

static const struct {
    const char *name;
    void (*write)(struct server *srv, struct buf *b);
} sections[] = {
    {"server", info_server}, {"clients", info_clients},
    {"raft", info_raft},     {"disk", info_disk},
    {"locks", info_locks},   {"watches", info_watches},
    {"memory", info_memory},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

/* INFO [section ...]: the sections named (case-insensitive; "all",
 * "default" and "everything" name every one, as in Redis), in their own
 * order, each once; none for names it does not know. */
bool infocmd_info(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n)
{
    bool want[N_SECTIONS] = {false};
    for (size_t k = 1; k < n; k++) {
        bool every = command_is(&a[k], "all") || command_is(&a[k], "default") ||
                     command_is(&a[k], "everything");
        for (size_t i = 0; i < N_SECTIONS; i++)
            want[i] = want[i] || every || command_is(&a[k], sections[i].name);
    }
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < N_SECTIONS; i++) {
        if (n > 1 && !want[i])
            continue;
        if (b.len > 0)
            buf_append(&b, "\r\n", 2);
        sections[i].write(c->srv, &b);
    }
    resp_write_bulk(&s->buf, b.data, b.len);
    buf_close(&b);
    return true;
}

/* ---- SERVER.STATUS ------------------------------------------------------ */

bool infocmd_status(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    struct buf b;
    buf_init(&b);
    status_write(c->srv, &b);
    resp_write_bulk(&s->buf, b.data, b.len);
    buf_close(&b);
    return true;
}

/* ---- CONFIG GET --------------------------------------------------------- */

/* One setting CONFIG GET knows: a string, or else a number. */
struct setting {
    const char *name;
    const char *str;
    uint64_t num;
};

#define N_SETTINGS 35

/* Fills out with the settings: dlockd's options by their names, and the
 * Redis ones that tools read (redis-benchmark prints save and appendonly)
 * with what holds for dlock: no periodic dumps, and every write logged and
 * synced before it is acknowledged. peers (n bytes) receives the --peers
 * list. */
static void settings_of(const struct config *cfg, struct setting *out,
                        char *peers, size_t n)
{
    peers[0] = '\0';
    for (unsigned p = 0, len = 0; p < cfg->n_peers && len < n; p++)
        len += (unsigned)snprintf(peers + len, n - len, "%s%" PRIu64 "=%s",
                                  p ? "," : "", cfg->peers[p].id,
                                  cfg->peers[p].addr);
    const struct setting all[N_SETTINGS] = {
        {"id", NULL, cfg->id},
        {"listen", cfg->listen, 0},
        {"raft", cfg->raft, 0},
        {"advertise", cfg->advertise, 0},
        {"data", cfg->data, 0},
        {"peers", peers, 0},
        {"join", cfg->join, 0},
        {"log-level", logger_level_name(cfg->log_level), 0},
        {"log-format", cfg->log_json ? "json" : "text", 0},
        {"http", cfg->http[0] != '\0' ? cfg->http : "off", 0},
        {"election-ms", NULL, cfg->election_ms},
        {"heartbeat-ms", NULL, cfg->heartbeat_ms},
        {"snapshot-entries", NULL, cfg->snapshot_entries},
        {"watch-history", NULL, cfg->watch_history},
        {"max-clients", NULL, cfg->max_clients},
        {"max-output", NULL, cfg->max_output},
        {"max-request", NULL, cfg->max_request},
        {"wait-grace-ms", NULL, cfg->wait_grace_ms},
        {"max-clients-per-address", NULL, cfg->max_clients_per_address},
        {"max-input-total", NULL, cfg->max_input_total},
        {"request-timeout-ms", NULL, cfg->request_timeout_ms},
        {"idle-timeout-ms", NULL, cfg->idle_timeout_ms},
        {"tls-cert-file", cfg->tls_cert, 0},
        {"tls-key-file", cfg->tls_key, 0},
        {"tls-ca-cert-file", cfg->tls_ca, 0},
        {"tls-peers", cfg->tls_peers ? "yes" : "no", 0},
        {"tls-auth-clients",
         (const char *const[]){"no", "optional", "yes"}[cfg->tls_auth_clients],
         0},
        {"auth", cfg->auth ? "yes" : "no", 0},
        {"users-file", cfg->users_file, 0},
        {"password-iterations", NULL, cfg->password_iterations},
        {"tls-cert-user", cfg->tls_cert_user ? "yes" : "no", 0},
        {"insecure", cfg->insecure ? "yes" : "no", 0},
        {"save", "", 0},
        {"appendonly", "yes", 0},
        {"appendfsync", "always", 0},
    };
    memcpy(out, all, sizeof all);
}

/* Whether name matches one of the glob patterns a[2..n-1]. */
static bool setting_matches(const char *name, const struct resp_value *a,
                            size_t n)
{
    char pattern[256];
    for (size_t k = 2; k < n; k++) {
        if (a[k].len >= sizeof pattern || memchr(a[k].str, 0, a[k].len))
            continue;
        memcpy(pattern, a[k].str, a[k].len);
        pattern[a[k].len] = '\0';
        if (fnmatch(pattern, name, FNM_CASEFOLD) == 0)
            return true;
    }
    return false;
}

/* CONFIG GET pattern [pattern ...]: each setting whose name matches a glob
 * pattern (case-insensitive), with its value, as a map (RESP3) or a flat
 * array (RESP2), as Redis answers; CONFIG SET and the rest are refused. */
bool infocmd_config(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    if (command_is(&a[1], "RESETSTAT") && n == 2) {
        /* The loop's figures start again (INFO server), for a measurement
         * of what follows. */
        struct turn *t = &c->srv->turn;
        t->longest_ns = t->slow_turns = t->cut = 0;
        resp_write_simple(&s->buf, "OK");
        return true;
    }
    if (!command_is(&a[1], "GET")) {
        command_error(s,
                      "ERR CONFIG %.*s is not supported: dlock answers "
                      "CONFIG GET and RESETSTAT only; its settings are "
                      "dlockd's options",
                      (int)(a[1].len > 64 ? 64 : a[1].len), a[1].str);
        return true;
    }
    if (n < 3) {
        command_error(s, "ERR wrong number of arguments for 'config|get' "
                         "command");
        return true;
    }
    struct setting set[N_SETTINGS];
    char peers[(RAFT_ADDR_MAX + 24) * RAFT_MAX_SERVERS];
    bool match[N_SETTINGS];
    size_t found = 0;
    settings_of(c->srv->cfg, set, peers, sizeof peers);
    for (size_t i = 0; i < N_SETTINGS; i++)
        found += match[i] = setting_matches(set[i].name, a, n);
    resp_write_map(&s->buf, c->proto, found);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (!match[i])
            continue;
        char num[24];
        snprintf(num, sizeof num, "%" PRIu64, set[i].num);
        resp_write_bulk_str(&s->buf, set[i].name);
        resp_write_bulk_str(&s->buf, set[i].str != NULL ? set[i].str : num);
    }
    return true;
}
