/* show.c - dlock status, holders, list and cluster: reading the state of locks
 * and servers, for people and (--json) for scripts. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

const char show_status_usage[] =
    "usage: dlock status NAME\n"
    "\n"
    "Shows the lock NAME as the leader has it now: whether it is held, in\n"
    "which mode (exclusive or shared) and by how many holders, by which\n"
    "session and owner (host:pid for `dlock run`; of a shared lock, its\n"
    "first holder by session id: `dlock holders` lists them all), its\n"
    "fencing token, holds, waiters, the lease the holder has left and any\n"
    "lock-delay left. A free lock is shown too (held: no). With --json:\n"
    "{\"ok\":true,\"name\":...,\"held\":true,\"session\":N,\"owner\":...,\n"
    "\"token\":N,\"holds\":N,\"waiters\":N,\"lease_left_ms\":N,\n"
    "\"delay_left_ms\":N,\"mode\":\"shared\",\"holders\":N} (mode none,\n"
    "exclusive or shared). Exit codes: 0, 64 usage, 69 cluster unavailable.\n";

const char show_holders_usage[] =
    "usage: dlock holders NAME [--max N]\n"
    "\n"
    "Lists every holder of the lock NAME (one exclusive holder, or all that\n"
    "hold it shared), by session id then owner: its session, owner, fencing\n"
    "token, holds in each mode and the lease its session has left.\n"
    "\n"
    "  --max N   list at most N holders (default 1000)\n"
    "\n"
    "With --json: {\"ok\":true,\"name\":...,\"holders\":[{\"session\":N,\n"
    "\"owner\":...,\"token\":N,\"exclusive\":N,\"shared\":N,\n"
    "\"lease_left_ms\":N},...]}. Exit codes: 0 (held or not), 64 usage,\n"
    "69 cluster unavailable.\n";

const char show_list_usage[] =
    "usage: dlock list [PREFIX] [--max N]\n"
    "\n"
    "Lists the locks whose names start with PREFIX (all without it) that\n"
    "are held, waited for or in lock-delay, in name order: holder, token,\n"
    "waiters, lease left. Free locks nobody waits for are not listed.\n"
    "\n"
    "  --max N   list at most N locks (default 1000)\n"
    "\n"
    "With --json: {\"ok\":true,\"locks\":[{...as dlock status...},...]}.\n"
    "Exit codes: 0, 64 usage, 69 cluster unavailable.\n";

const char show_cluster_usage[] =
    "usage: dlock cluster\n"
    "\n"
    "Shows the servers of the cluster: each member's id, voter or learner,\n"
    "addresses, its role and term as it says itself, its applied index and\n"
    "match index (as the leader sees it), and its health: ok, behind (more\n"
    "than 1000 entries behind the leader's commit index), no-leader (it\n"
    "knows no leader), or unreachable. Also the leader, term and indexes.\n"
    "Each member is asked directly, for at most 2s.\n"
    "With --json: {\"ok\":true,\"leader\":N,...,\"healthy\":true,\n"
    "\"members\":[...]}. Exit codes: 0 (whatever the health), 64 usage,\n"
    "69 no server answered.\n";

int show_scan(struct cli *cli, int argc, char **argv, const char *usage,
              const char **pos, int min_pos, int max_pos, uint64_t *max)
{
    struct args a;
    int n = 0;
    args_init(&a, cli, argc, argv);
    for (int k; (k = args_next(&a)) != ARGS_END;) {
        if (k == ARGS_HELP) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        }
        if (k == ARGS_BAD)
            return CLI_EXIT_USAGE;
        if (k == ARGS_DASHDASH)
            continue; /* NAME may start with '-' after it */
        if (k == ARGS_ARG && n < max_pos) {
            pos[n++] = a.arg;
        } else if (k == ARGS_ARG) {
            return cli_usage_error(cli, "unexpected argument '%s'", a.arg);
        } else if (max != NULL && strcmp(a.opt, "--max") == 0) {
            const char *v = args_value(&a);
            if (v == NULL)
                return CLI_EXIT_USAGE;
            if (!cli_parse_u64(v, max) || *max == 0)
                return cli_usage_error(cli, "--max takes a number above 0");
        } else {
            return args_unknown(&a);
        }
    }
    if (n < min_pos)
        return cli_usage_error(cli, "missing NAME");
    return -1;
}

/* ---- status and list -------------------------------------------------- */

static const char *mode_name(int mode)
{
    return mode == DLOCK_MODE_SHARED      ? "shared"
           : mode == DLOCK_MODE_EXCLUSIVE ? "exclusive"
                                          : "none";
}

/* The fields of a lock's status; m (NULL: not known) adds its mode. */
static void json_lock_fields(struct json *j, const struct dlock_lock_status *st,
                             const struct dlock_lock_mode *m)
{
    json_str(j, "name", st->name);
    json_bool(j, "held", st->held);
    json_u64(j, "session", st->session);
    json_str(j, "owner", st->owner);
    json_u64(j, "token", st->token);
    json_u64(j, "holds", st->holds);
    json_u64(j, "waiters", st->waiters);
    json_u64(j, "lease_left_ms", st->lease_left_ms);
    json_u64(j, "delay_left_ms", st->delay_left_ms);
    if (m != NULL) {
        json_str(j, "mode", mode_name(m->mode));
        json_u64(j, "holders", m->holders);
    }
}

static void print_status(const struct dlock_lock_status *st,
                         const struct dlock_lock_mode *m)
{
    char lease[32], delay[32];
    duration_format(st->lease_left_ms, lease, sizeof lease);
    duration_format(st->delay_left_ms, delay, sizeof delay);
    printf("name:        %s\n", st->name);
    printf("held:        %s\n", st->held ? "yes" : "no");
    if (st->held) {
        printf("mode:        %s\n", mode_name(m->mode));
        printf("holders:     %u\n", (unsigned)m->holders);
        printf("session:     %llu\n", (unsigned long long)st->session);
        printf("owner:       %s\n", st->owner);
        printf("token:       %llu\n", (unsigned long long)st->token);
        printf("holds:       %u\n", (unsigned)st->holds);
        printf("lease left:  %s\n", lease);
    }
    printf("waiters:     %u\n", (unsigned)st->waiters);
    if (st->delay_left_ms > 0)
        printf("lock-delay:  %s left\n", delay);
}

int show_status_main(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    struct dlock_client *c;
    int rc = show_scan(cli, argc, argv, show_status_usage, &name, 1, 1, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    struct dlock_lock_status st;
    struct dlock_lock_mode m;
    memset(&st, 0, sizeof st);
    int err = dlock_lock_status_mode(c, name, &st, &m);
    if (err != 0) {
        rc = report_failure(cli, c, err, name);
    } else if (cli->json) {
        struct json j;
        report_json_ok(&j);
        json_lock_fields(&j, &st, &m);
        json_end(&j);
    } else {
        print_status(&st, &m);
    }
    dlock_client_free(c);
    return rc;
}

/* "session 6 (owner)", or what a free lock in the list is waiting on. */
static void holder_text(const struct dlock_lock_status *st, char *buf, size_t n)
{
    char delay[32];
    if (!st->held && st->delay_left_ms > 0) {
        duration_format(st->delay_left_ms, delay, sizeof delay);
        snprintf(buf, n, "(free, lock-delay %s)", delay);
    } else if (!st->held) {
        snprintf(buf, n, "(free)");
    } else if (st->owner[0] != '\0') {
        snprintf(buf, n, "session %llu (%s)", (unsigned long long)st->session,
                 st->owner);
    } else {
        snprintf(buf, n, "session %llu", (unsigned long long)st->session);
    }
}

static void print_list(const struct dlock_lock_status *locks, size_t n)
{
    char holder[128], lease[32];
    int wname = 4, wholder = 6;
    for (size_t i = 0; i < n; i++) {
        holder_text(&locks[i], holder, sizeof holder);
        int ln = (int)strlen(locks[i].name), lh = (int)strlen(holder);
        wname = ln > wname ? (ln < 40 ? ln : 40) : wname;
        wholder = lh > wholder ? lh : wholder;
    }
    printf("%-*s  %-*s  %6s  %7s  %s\n", wname, "NAME", wholder, "HOLDER",
           "TOKEN", "WAITERS", "LEASE LEFT");
    for (size_t i = 0; i < n; i++) {
        const struct dlock_lock_status *st = &locks[i];
        holder_text(st, holder, sizeof holder);
        if (st->held)
            duration_format(st->lease_left_ms, lease, sizeof lease);
        else
            strcpy(lease, "-");
        char token[24] = "-";
        if (st->held)
            snprintf(token, sizeof token, "%llu",
                     (unsigned long long)st->token);
        printf("%-*s  %-*s  %6s  %7u  %s\n", wname, st->name, wholder, holder,
               token, (unsigned)st->waiters, lease);
    }
}

int show_list_main(struct cli *cli, int argc, char **argv)
{
    const char *prefix = NULL;
    uint64_t max = 1000;
    struct dlock_client *c;
    int rc = show_scan(cli, argc, argv, show_list_usage, &prefix, 0, 1, &max);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    struct dlock_lock_status *locks = NULL;
    size_t n = 0;
    int err = dlock_lock_list(c, prefix, (size_t)max, &locks, &n);
    if (err != 0) {
        rc = report_failure(cli, c, err, prefix != NULL ? prefix : "list");
    } else if (cli->json) {
        struct json j;
        report_json_ok(&j);
        json_array_open(&j, "locks");
        for (size_t i = 0; i < n; i++) {
            json_object_open(&j, NULL);
            json_lock_fields(&j, &locks[i], NULL);
            json_object_close(&j);
        }
        json_array_close(&j);
        json_end(&j);
    } else if (n == 0) {
        printf("no locks%s%s\n", prefix != NULL ? " starting with " : "",
               prefix != NULL ? prefix : "");
    } else {
        print_list(locks, n);
    }
    free(locks);
    dlock_client_free(c);
    return rc;
}

/* ---- holders ---------------------------------------------------------- */

static void print_holders(const struct dlock_holder *hs, size_t n)
{
    int wowner = 5;
    for (size_t i = 0; i < n; i++) {
        int lo = (int)strlen(hs[i].owner);
        wowner = lo > wowner ? lo : wowner;
    }
    printf("%-8s  %-*s  %6s  %9s  %6s  %s\n", "SESSION", wowner, "OWNER",
           "TOKEN", "EXCLUSIVE", "SHARED", "LEASE LEFT");
    for (size_t i = 0; i < n; i++) {
        char lease[32];
        duration_format(hs[i].lease_left_ms, lease, sizeof lease);
        printf("%-8llu  %-*s  %6llu  %9u  %6u  %s\n",
               (unsigned long long)hs[i].session, wowner, hs[i].owner,
               (unsigned long long)hs[i].token, (unsigned)hs[i].exclusive,
               (unsigned)hs[i].shared, lease);
    }
}

static void json_holders(const char *name, const struct dlock_holder *hs,
                         size_t n)
{
    struct json j;
    report_json_ok(&j);
    json_str(&j, "name", name);
    json_array_open(&j, "holders");
    for (size_t i = 0; i < n; i++) {
        json_object_open(&j, NULL);
        json_u64(&j, "session", hs[i].session);
        json_str(&j, "owner", hs[i].owner);
        json_u64(&j, "token", hs[i].token);
        json_u64(&j, "exclusive", hs[i].exclusive);
        json_u64(&j, "shared", hs[i].shared);
        json_u64(&j, "lease_left_ms", hs[i].lease_left_ms);
        json_object_close(&j);
    }
    json_array_close(&j);
    json_end(&j);
}

int show_holders_main(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    uint64_t max = 1000;
    struct dlock_client *c;
    int rc = show_scan(cli, argc, argv, show_holders_usage, &name, 1, 1, &max);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    struct dlock_holder *hs = NULL;
    size_t n = 0;
    int err = dlock_lock_holders(c, name, (size_t)max, &hs, &n);
    if (err != 0)
        rc = report_failure(cli, c, err, name);
    else if (cli->json)
        json_holders(name, hs, n);
    else if (n == 0)
        printf("no holders: %s is free\n", name);
    else
        print_holders(hs, n);
    free(hs);
    dlock_client_free(c);
    return rc;
}

/* ---- cluster ---------------------------------------------------------- */

/* A member as it answered for itself. */
struct probe {
    bool reachable;
    struct dlock_cluster_info ci;
    const char *health;
};

/* How far a member may trail the leader's commit index and still be
 * shown healthy: entries arrive all the time, so a small lag is normal. */
#define BEHIND_ENTRIES 1000

static void probe_member(struct dlock_client *pc, const struct dlock_member *m,
                         const struct dlock_cluster_info *leader,
                         struct probe *p)
{
    memset(p, 0, sizeof *p);
    p->health = "unreachable";
    if (m->client_addr[0] == '\0' ||
        dlock_cluster_info(pc, m->client_addr, &p->ci) != 0)
        return;
    p->reachable = true;
    if (p->ci.leader == 0)
        p->health = "no-leader";
    else if (p->ci.applied_index + BEHIND_ENTRIES < leader->commit_index)
        p->health = "behind";
    else
        p->health = "ok";
}

static void json_cluster(const struct dlock_cluster_info *ci,
                         const struct probe *probes, bool healthy)
{
    struct json j;
    report_json_ok(&j);
    json_u64(&j, "answered_by", ci->id);
    json_u64(&j, "leader", ci->leader);
    json_str(&j, "leader_addr", ci->leader_addr);
    json_u64(&j, "term", ci->term);
    json_u64(&j, "commit_index", ci->commit_index);
    json_u64(&j, "applied_index", ci->applied_index);
    json_u64(&j, "last_index", ci->last_index);
    json_u64(&j, "snapshot_index", ci->snapshot_index);
    json_bool(&j, "healthy", healthy);
    json_array_open(&j, "members");
    for (unsigned i = 0; i < ci->n_members; i++) {
        const struct dlock_member *m = &ci->members[i];
        const struct probe *p = &probes[i];
        json_object_open(&j, NULL);
        json_u64(&j, "id", m->id);
        json_bool(&j, "voter", m->voter);
        json_str(&j, "raft_addr", m->raft_addr);
        json_str(&j, "client_addr", m->client_addr);
        json_u64(&j, "match_index", m->match_index);
        json_bool(&j, "reachable", p->reachable);
        if (p->reachable) {
            json_str(&j, "role", p->ci.role);
            json_u64(&j, "term", p->ci.term);
            json_u64(&j, "applied_index", p->ci.applied_index);
        }
        json_str(&j, "health", p->health);
        json_object_close(&j);
    }
    json_array_close(&j);
    json_end(&j);
}

static void print_cluster(const struct dlock_cluster_info *ci,
                          const struct probe *probes)
{
    if (ci->leader != 0)
        printf("leader %llu at %s, term %llu\n", (unsigned long long)ci->leader,
               ci->leader_addr, (unsigned long long)ci->term);
    else
        printf("no leader known (term %llu)\n", (unsigned long long)ci->term);
    printf("server %llu (%s) answered: commit %llu, applied %llu, last %llu, "
           "snapshot %llu\n\n",
           (unsigned long long)ci->id, ci->role,
           (unsigned long long)ci->commit_index,
           (unsigned long long)ci->applied_index,
           (unsigned long long)ci->last_index,
           (unsigned long long)ci->snapshot_index);
    printf("%-4s %-7s %-9s %5s %8s %8s  %-22s %-22s %s\n", "ID", "MEMBER",
           "ROLE", "TERM", "APPLIED", "MATCH", "CLIENT ADDRESS", "RAFT ADDRESS",
           "HEALTH");
    for (unsigned i = 0; i < ci->n_members; i++) {
        const struct dlock_member *m = &ci->members[i];
        const struct probe *p = &probes[i];
        char term[24] = "-", applied[24] = "-";
        if (p->reachable) {
            snprintf(term, sizeof term, "%llu", (unsigned long long)p->ci.term);
            snprintf(applied, sizeof applied, "%llu",
                     (unsigned long long)p->ci.applied_index);
        }
        printf("%-4llu %-7s %-9s %5s %8s %8llu  %-22s %-22s %s\n",
               (unsigned long long)m->id, m->voter ? "voter" : "learner",
               p->reachable ? p->ci.role : "-", term, applied,
               (unsigned long long)m->match_index,
               m->client_addr[0] != '\0' ? m->client_addr : "-", m->raft_addr,
               p->health);
    }
}

/* Asks any server, then the leader it names (whose member list has the
 * match indexes), then each member for itself. */
static int cluster_report(struct cli *cli, struct dlock_client *c,
                          struct dlock_client *pc)
{
    struct dlock_cluster_info ci, li;
    struct probe probes[16];
    int err = dlock_cluster_info(c, NULL, &ci);
    if (err != 0)
        return report_failure(cli, c, err, "cluster");
    if (ci.leader != 0 && ci.leader != ci.id && ci.leader_addr[0] != '\0' &&
        dlock_cluster_info(pc, ci.leader_addr, &li) == 0)
        ci = li;
    if (ci.n_members > 16)
        ci.n_members = 16;
    bool healthy = ci.leader != 0;
    for (unsigned i = 0; i < ci.n_members; i++) {
        probe_member(pc, &ci.members[i], &ci, &probes[i]);
        healthy = healthy && strcmp(probes[i].health, "ok") == 0;
    }
    if (cli->json)
        json_cluster(&ci, probes, healthy);
    else
        print_cluster(&ci, probes);
    return CLI_EXIT_OK;
}

int show_cluster_main(struct cli *cli, int argc, char **argv)
{
    struct dlock_client *c, *pc;
    int rc = show_scan(cli, argc, argv, show_cluster_usage, NULL, 0, 0, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    /* Members are asked with a short timeout: a dead one must not hold up
     * the report for long. */
    struct cli probe_cli = *cli;
    if (probe_cli.timeout_ms == 0 || probe_cli.timeout_ms > 2000)
        probe_cli.timeout_ms = 2000;
    if ((rc = cli_client(&probe_cli, NULL, &pc)) != 0) {
        dlock_client_free(c);
        return rc;
    }
    rc = cluster_report(cli, c, pc);
    dlock_client_free(pc);
    dlock_client_free(c);
    return rc;
}
