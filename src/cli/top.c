/* top.c - dlock top: the status page's view in a terminal, refreshed
 * (docs/cli.md): the cluster as its leader sees it, the rates of grants and
 * commits, the busiest names and the sessions nearest their expiry, read
 * with SERVER.STATUS (dlock_server_status). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/jsonparse.h"

const char top_usage[] =
    "usage: dlock top [--interval DURATION] [--count N]\n"
    "\n"
    "The cluster, as its leader sees it, refreshed every --interval\n"
    "(default 1s): members with their lag and last contact, grants and\n"
    "commits per second, the busiest names (holder, token, how long held,\n"
    "waiters, the longest wait) and the sessions nearest their expiry.\n"
    "--count N: N screens, then exit (default: until interrupted; the\n"
    "first screen comes after one interval, for the rates). With --json:\n"
    "each read as one line, the leader's status document (docs/protocol.md,\n"
    "SERVER.STATUS). Exit codes: 0, 64 usage, 69 no server answered,\n"
    "77 not permitted.\n";

/* One read of the leader's status: the document and when it came. */
struct read {
    char *text;
    struct jv *doc;
    struct timespec at;
};

static void read_free(struct read *r)
{
    free(r->text);
    jv_free(r->doc);
    memset(r, 0, sizeof *r);
}

/* Reads the status of the leader (or of the server that answers, when it
 * knows none), remembering the leader's address in leader (n bytes). */
static int take_from(struct cli *cli, struct dlock_client *c, char *leader,
                     size_t n, struct read *r, bool follow)
{
    size_t len;
    int err = dlock_server_status(c, leader[0] ? leader : NULL, &r->text, &len);
    if (err != 0 && leader[0] != '\0') {
        leader[0] = '\0'; /* that leader is gone: ask anyone */
        err = dlock_server_status(c, NULL, &r->text, &len);
    }
    if (err != 0)
        return report_failure(cli, c, err, "top");
    clock_gettime(CLOCK_MONOTONIC, &r->at);
    char why[128];
    if (jsonparse(r->text, len, &r->doc, why, sizeof why) != 0)
        return report_error(cli, CLI_EXIT_SOFTWARE,
                            "SERVER.STATUS is not JSON: %s", why);
    const struct jv *raft = jv_get(r->doc, "raft");
    const char *addr = jv_str(jv_get(raft, "leader_addr"), "");
    const char *role = jv_str(jv_get(jv_get(r->doc, "server"), "role"), "");
    if (follow && strcmp(role, "leader") != 0 && addr[0] != '\0' &&
        strcmp(addr, leader) != 0 && strlen(addr) < n) {
        /* Not the leader: read the leader it names instead, once. */
        memcpy(leader, addr, strlen(addr) + 1);
        read_free(r);
        return take_from(cli, c, leader, n, r, false);
    }
    if (strcmp(role, "leader") == 0) {
        const char *self =
            jv_str(jv_get(jv_get(r->doc, "server"), "listen"), "");
        if (strlen(self) < n)
            memcpy(leader, self, strlen(self) + 1);
    }
    return 0;
}

static int take(struct cli *cli, struct dlock_client *c, char *leader, size_t n,
                struct read *r)
{
    return take_from(cli, c, leader, n, r, true);
}

static void fmt_ms(uint64_t ms, char *buf, size_t n)
{
    duration_format(ms, buf, n);
}

/* The mean and the p99 bound (ms) of a histogram between two reads; false
 * when nothing was counted. */
static bool interval(const struct jv *now, const struct jv *before,
                     double *mean, double *p99)
{
    uint64_t c1 = jv_u64(jv_get(now, "count"), 0);
    uint64_t c0 = jv_u64(jv_get(before, "count"), 0);
    uint64_t s1 = jv_u64(jv_get(now, "sum"), 0);
    uint64_t s0 = jv_u64(jv_get(before, "sum"), 0);
    if (c1 <= c0 || s1 < s0)
        return false; /* none, or another server's counts */
    uint64_t count = c1 - c0;
    *mean = (double)(s1 - s0) / (double)count / 1000.0;
    const struct jv *bounds = jv_get(now, "bounds");
    const struct jv *cn = jv_get(now, "counts"), *cb = jv_get(before, "counts");
    uint64_t seen = 0;
    *p99 = 0;
    if (bounds == NULL || bounds->type != JV_ARRAY || bounds->n == 0 ||
        cn == NULL || cb == NULL || cn->n != cb->n)
        return true; /* no buckets to tell the p99 by */
    for (size_t i = 0; i < cn->n; i++) {
        uint64_t b1 = jv_u64(jv_at(cn, i), 0), b0 = jv_u64(jv_at(cb, i), 0);
        seen += b1 >= b0 ? b1 - b0 : 0;
        if ((double)seen >= 0.99 * (double)count) {
            const struct jv *b =
                jv_at(bounds, i < bounds->n ? i : bounds->n - 1);
            *p99 = (double)jv_u64(b, 0) / 1000.0;
            break;
        }
    }
    return true;
}

static void print_members(const struct jv *doc)
{
    const struct jv *ms = jv_get(doc, "members");
    printf("\n%-4s %-9s %-22s %-22s %8s %6s  %s\n", "ID", "ROLE",
           "CLIENT ADDRESS", "RAFT ADDRESS", "MATCH", "LAG", "LAST CONTACT");
    for (size_t i = 0; ms != NULL && i < ms->n; i++) {
        const struct jv *m = jv_at(ms, i);
        char contact[32] = "-", match[24] = "-", lag[24] = "-";
        const struct jv *lc = jv_get(m, "last_contact_ms");
        if (lc != NULL && lc->type == JV_NUMBER)
            fmt_ms(jv_u64(lc, 0), contact, sizeof contact);
        if (jv_get(m, "match") != NULL) {
            snprintf(match, sizeof match, "%llu",
                     (unsigned long long)jv_u64(jv_get(m, "match"), 0));
            snprintf(lag, sizeof lag, "%llu",
                     (unsigned long long)jv_u64(jv_get(m, "lag"), 0));
        }
        printf("%-4llu %-9s %-22s %-22s %8s %6s  %s%s\n",
               (unsigned long long)jv_u64(jv_get(m, "id"), 0),
               jv_str(jv_get(m, "role"), "?"),
               jv_str(jv_get(m, "client_addr"), "")[0]
                   ? jv_str(jv_get(m, "client_addr"), "")
                   : "-",
               jv_str(jv_get(m, "raft_addr"), "-"), match, lag,
               jv_get(m, "self") != NULL && jv_get(m, "self")->b ? "(this)"
                                                                 : contact,
               "");
    }
}

/* A name as the terminal shows it: bytes that are not printable become
 * '?', and a long one is cut with "...". */
static void printable(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (; s[k] != '\0' && k + 1 < n; k++)
        out[k] = (unsigned char)s[k] < 0x20 || s[k] == 0x7f ? '?' : s[k];
    out[k] = '\0';
    if (s[k] != '\0' && n > 4)
        memcpy(out + n - 4, "...", 4);
}

static void print_names(const struct jv *doc)
{
    const struct jv *bs = jv_get(doc, "busiest");
    printf("\nBUSIEST NAMES\n%-28s %-9s %-8s %-20s %8s %8s %7s  %s\n", "NAME",
           "KIND", "HOLDER", "OWNER", "TOKEN", "HELD", "WAITERS",
           "LONGEST WAIT");
    if (bs == NULL || bs->n == 0)
        printf("(nothing is held or waited on)\n");
    for (size_t i = 0; bs != NULL && i < bs->n; i++) {
        const struct jv *b = jv_at(bs, i);
        char name[29], owner[21], held[32] = "-", wait[32] = "-",
                                  holder[24] = "-", token[24] = "-";
        printable(jv_str(jv_get(b, "name"), ""), name, sizeof name);
        printable(jv_str(jv_get(b, "owner"), "-"), owner, sizeof owner);
        if (jv_get(b, "session") != NULL) {
            snprintf(holder, sizeof holder, "%llu",
                     (unsigned long long)jv_u64(jv_get(b, "session"), 0));
            snprintf(token, sizeof token, "%llu",
                     (unsigned long long)jv_u64(jv_get(b, "token"), 0));
            fmt_ms(jv_u64(jv_get(b, "held_ms"), 0), held, sizeof held);
        }
        if (jv_get(b, "longest_wait_ms") != NULL)
            fmt_ms(jv_u64(jv_get(b, "longest_wait_ms"), 0), wait, sizeof wait);
        printf("%-28s %-9s %-8s %-20s %8s %8s %7llu  %s\n", name,
               jv_str(jv_get(b, "kind"), "?"), holder, owner[0] ? owner : "-",
               token, held, (unsigned long long)jv_u64(jv_get(b, "waiters"), 0),
               wait);
    }
}

static void print_sessions(const struct jv *doc)
{
    const struct jv *es = jv_get(doc, "expiring");
    printf("\nSESSIONS NEAREST EXPIRY\n%-10s %-24s %-12s %9s %9s %6s %6s\n",
           "SESSION", "CLIENT", "USER", "LEFT", "TTL", "HOLDS", "WAITS");
    if (es == NULL || es->n == 0)
        printf("(none)\n");
    for (size_t i = 0; es != NULL && i < es->n; i++) {
        const struct jv *e = jv_at(es, i);
        char client[25], user[13], left[32], ttl[32];
        printable(jv_str(jv_get(e, "client"), ""), client, sizeof client);
        printable(jv_str(jv_get(e, "user"), ""), user, sizeof user);
        fmt_ms(jv_u64(jv_get(e, "left_ms"), 0), left, sizeof left);
        fmt_ms(jv_u64(jv_get(e, "ttl_ms"), 0), ttl, sizeof ttl);
        printf("%-10llu %-24s %-12s %9s %9s %6llu %6llu\n",
               (unsigned long long)jv_u64(jv_get(e, "session"), 0),
               client[0] ? client : "-", user[0] ? user : "-", left, ttl,
               (unsigned long long)jv_u64(jv_get(e, "holds"), 0),
               (unsigned long long)jv_u64(jv_get(e, "waits"), 0));
    }
}

/* A counter's rate between two reads (0 if it went back). */
static double rate(const struct jv *now, const struct jv *before,
                   const char *key, double dt)
{
    uint64_t a = jv_u64(jv_get(now, key), 0),
             b = jv_u64(jv_get(before, key), 0);
    return a >= b && dt > 0 ? (double)(a - b) / dt : 0;
}

static void print_screen(const struct read *now, const struct read *before)
{
    const struct jv *doc = now->doc, *srv = jv_get(doc, "server"),
                    *raft = jv_get(doc, "raft"), *st = jv_get(doc, "state");
    char clock[16];
    time_t t = time(NULL);
    struct tm tm;
    strftime(clock, sizeof clock, "%H:%M:%S", localtime_r(&t, &tm));
    printf("server %llu (%s) at %s, term %llu, %s  %s\n",
           (unsigned long long)jv_u64(jv_get(srv, "id"), 0),
           jv_str(jv_get(srv, "role"), "?"), jv_str(jv_get(srv, "listen"), "?"),
           (unsigned long long)jv_u64(jv_get(raft, "term"), 0),
           jv_get(srv, "ready") != NULL && jv_get(srv, "ready")->b
               ? "ready"
               : "NOT READY",
           clock);
    printf("%s; leader changes seen %llu\n",
           jv_str(jv_get(srv, "ready_why"), ""),
           (unsigned long long)jv_u64(jv_get(raft, "leader_changes"), 0));
    print_members(doc);
    double dt = (double)(now->at.tv_sec - before->at.tv_sec) +
                (double)(now->at.tv_nsec - before->at.tv_nsec) / 1e9;
    const struct jv *cn = jv_get(doc, "counters"),
                    *cb = jv_get(before->doc, "counters");
    const struct jv *bsrv = jv_get(before->doc, "server");
    if (jv_u64(jv_get(srv, "id"), 0) != jv_u64(jv_get(bsrv, "id"), 1) ||
        jv_u64(jv_get(srv, "uptime_s"), 0) <
            jv_u64(jv_get(bsrv, "uptime_s"), 0)) {
        /* Read from another server, or one restarted: no rates. */
        printf("\n(rates from the next screen: the leader changed)\n");
        cb = cn;
    }
    double grants = rate(cn, cb, "grants", dt);
    double handovers = rate(cn, cb, "handovers", dt);
    double mean, p99;
    printf("\ngrants %.0f/s, handovers %.0f/s; ", grants, handovers);
    if (interval(jv_get(cn, "commit_us"), jv_get(cb, "commit_us"), &mean, &p99))
        printf("commit mean %.2f ms, p99 <= %.2f ms\n", mean, p99);
    else
        printf("no commits\n");
    printf("%llu names, %llu holds, %llu waiting, %llu sessions, last token "
           "%llu\n",
           (unsigned long long)jv_u64(jv_get(st, "names"), 0),
           (unsigned long long)jv_u64(jv_get(st, "holds"), 0),
           (unsigned long long)jv_u64(jv_get(st, "waiters"), 0),
           (unsigned long long)jv_u64(jv_get(st, "sessions"), 0),
           (unsigned long long)jv_u64(jv_get(st, "last_token"), 0));
    print_names(doc);
    print_sessions(doc);
    fflush(stdout);
}

int top_main(struct cli *cli, int argc, char **argv)
{
    uint64_t interval_ms = 1000, count = 0;
    struct args a;
    args_init(&a, cli, argc, argv);
    for (int k; (k = args_next(&a)) != ARGS_END;) {
        if (k == ARGS_HELP) {
            fputs(top_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (k == ARGS_BAD)
            return CLI_EXIT_USAGE;
        if (k == ARGS_ARG)
            return cli_usage_error(cli, "unexpected argument '%s'", a.arg);
        if (k == ARGS_DASHDASH)
            return cli_usage_error(cli, "unexpected '--'");
        if (strcmp(a.opt, "--interval") == 0) {
            if (!args_duration(&a, &interval_ms))
                return CLI_EXIT_USAGE;
            if (interval_ms < 100)
                return cli_usage_error(cli, "--interval is at least 100ms");
        } else if (strcmp(a.opt, "--count") == 0) {
            const char *v = args_value(&a);
            if (v == NULL)
                return CLI_EXIT_USAGE;
            if (!cli_parse_u64(v, &count) || count == 0)
                return cli_usage_error(cli, "--count takes a number above 0");
        } else {
            return args_unknown(&a);
        }
    }
    struct dlock_client *c;
    int rc = cli_client(cli, NULL, &c);
    if (rc != 0)
        return rc;
    char leader[256] = "";
    struct read before = {0}, now = {0};
    bool tty = isatty(STDOUT_FILENO);
    rc = take(cli, c, leader, sizeof leader, &before);
    uint64_t shown = 0;
    if (rc == 0 && cli->json) {
        /* Each read as it comes: the first at once. */
        puts(before.text);
        fflush(stdout);
        shown++;
    }
    while (rc == 0 && (count == 0 || shown < count)) {
        struct timespec nap = {(time_t)(interval_ms / 1000),
                               (long)(interval_ms % 1000) * 1000000};
        nanosleep(&nap, NULL);
        if ((rc = take(cli, c, leader, sizeof leader, &now)) != 0)
            break;
        if (cli->json) {
            puts(now.text);
            fflush(stdout);
        } else {
            if (tty && shown > 0) /* the next screen over the last */
                fputs("\033[H\033[2J", stdout);
            print_screen(&now, &before);
        }
        shown++;
        read_free(&before);
        before = now;
        memset(&now, 0, sizeof now);
    }
    read_free(&before);
    read_free(&now);
    dlock_client_free(c);
    return rc;
}
