/* watch.c - dlock watch and dlock leader --watch: the changes of a name as
 * they come, one line each (JSON lines with --json), until --count changes
 * or SIGINT or SIGTERM (exit 0). The changes are printed from the watch's
 * thread; the main thread waits for a signal, which the callback sends
 * itself (SIGUSR1) after the last of --count. */
#include <pthread.h>
#include <string.h>

#include "cli/cli.h"

const char watch_usage[] =
    "usage: dlock watch NAME [--from REV] [--count N]\n"
    "\n"
    "Prints every change of the holders of NAME (a lock, a semaphore or an\n"
    "election) as it comes, in order, one line each: its revision (the\n"
    "same on every server), its event (granted, released, lost, withdrawn,\n"
    "downgraded, proclaimed, or gone: the changes up to that revision are\n"
    "no longer kept), the hold it is about (session, owner, token, its\n"
    "exclusive and shared holds after it), the holders of NAME after it,\n"
    "and an election's value. A handover is a released and a granted at\n"
    "one revision. It reads from any server and goes on from another if\n"
    "that one fails, missing nothing and repeating nothing.\n"
    "\n"
    "  --from REV   the changes after revision REV that the server still\n"
    "               keeps, then the new ones (default: from now on)\n"
    "  --count N    end after N changes\n"
    "\n"
    "With --json, one object a line: {\"revision\":N,\"event\":...,\n"
    "\"name\":...,\"session\":N,\"owner\":...,\"token\":N,\"exclusive\":N,\n"
    "\"shared\":N,\"holders\":N,\"value\":...}. Ends on SIGINT or SIGTERM\n"
    "with exit 0. Exit codes: 0, 64 usage, 69 cluster unavailable.\n";

/* What the main thread and the watch's callback share. */
struct watching {
    const struct cli *cli;
    struct dlock_client *c;
    const char *name;
    bool leader;    /* dlock leader --watch */
    uint64_t count; /* 0: no end */
    pthread_t main;
    uint64_t printed; /* the watch's thread's */
};

static void print_change(const struct watching *wt,
                         const struct dlock_change *ch)
{
    const char *ev = dlock_change_event_name(ch->event);
    if (wt->cli->json) {
        struct json j;
        json_begin(&j, stdout);
        json_u64(&j, "revision", ch->revision);
        json_str(&j, "event", ev);
        json_str(&j, "name", ch->name);
        json_u64(&j, "session", ch->session);
        json_str(&j, "owner", ch->owner);
        json_u64(&j, "token", ch->token);
        json_u64(&j, "exclusive", ch->exclusive);
        json_u64(&j, "shared", ch->shared);
        json_u64(&j, "holders", ch->holders);
        json_str(&j, "value", ch->value);
        json_end(&j);
        fflush(stdout); /* a line as it comes, also into a pipe */
        return;
    }
    printf("%llu %s", (unsigned long long)ch->revision, ev);
    if (ch->event != DLOCK_CHANGE_GONE) {
        printf(" session %llu", (unsigned long long)ch->session);
        if (ch->owner[0] != '\0')
            printf(" owner %s", ch->owner);
        printf(" token %llu exclusive %u shared %u holders %u",
               (unsigned long long)ch->token, (unsigned)ch->exclusive,
               (unsigned)ch->shared, (unsigned)ch->holders);
        if (ch->value_len > 0) {
            printf(" value ");
            json_write_string(stdout, ch->value);
        }
    }
    putchar('\n');
    fflush(stdout);
}

/* A leader, or none (session 0), as one line. */
static void print_leader(const struct watching *wt, uint64_t revision,
                         const struct dlock_leader_info *li)
{
    if (wt->cli->json) {
        struct json j;
        json_begin(&j, stdout);
        json_u64(&j, "revision", revision);
        json_str(&j, "name", wt->name);
        json_u64(&j, "leader", li->leader);
        json_str(&j, "owner", li->owner);
        json_u64(&j, "token", li->token);
        json_str(&j, "value", li->value);
        json_end(&j);
        fflush(stdout);
        return;
    }
    printf("%llu ", (unsigned long long)revision);
    if (li->leader == 0) {
        printf("no leader\n");
    } else {
        printf("leader session %llu", (unsigned long long)li->leader);
        if (li->owner[0] != '\0')
            printf(" owner %s", li->owner);
        printf(" token %llu value ", (unsigned long long)li->token);
        json_write_string(stdout, li->value);
        putchar('\n');
    }
    fflush(stdout);
}

/* Counts a line printed: false past --count; after the last, wakes the
 * main thread. */
static bool printing(struct watching *wt)
{
    if (wt->count > 0 && wt->printed >= wt->count)
        return false;
    if (++wt->printed == wt->count)
        pthread_kill(wt->main, SIGUSR1);
    return true;
}

static void on_change(void *arg, const struct dlock_change *ch)
{
    struct watching *wt = arg;
    if (printing(wt))
        print_change(wt, ch);
}

static void on_leader(void *arg, uint64_t revision,
                      const struct dlock_leader_info *li)
{
    struct watching *wt = arg;
    if (printing(wt))
        print_leader(wt, revision, li);
}

/* Watches (or observes the leader) until --count or a signal. */
static int watch_run(struct watching *wt, uint64_t from)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    /* Blocked before the watch's thread starts, which inherits it. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    wt->main = pthread_self();
    int rc = cli_client(wt->cli, NULL, &wt->c);
    if (rc != 0)
        return rc;
    struct dlock_watch *w = NULL;
    struct dlock_observe *o = NULL;
    int err = wt->leader
                  ? dlock_observe_start(wt->c, wt->name, on_leader, wt, &o)
                  : dlock_watch_start(wt->c, wt->name, from, on_change, wt, &w);
    if (err != 0) {
        rc = report_failure(wt->cli, wt->c, err, wt->name);
        dlock_client_free(wt->c);
        return rc;
    }
    int sig = 0;
    sigwait(&set, &sig);
    dlock_watch_stop(w);
    dlock_observe_stop(o);
    dlock_client_free(wt->c);
    return 0;
}

/* Scans NAME, --from REV, --count N and, for leader, --watch. */
static int scan(struct cli *cli, int argc, char **argv, const char *usage,
                bool leader, struct watching *wt, uint64_t *from)
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
            continue;
        if (k == ARGS_ARG && n == 0) {
            wt->name = a.arg;
            n++;
            continue;
        }
        if (k == ARGS_ARG)
            return cli_usage_error(cli, "unexpected argument '%s'", a.arg);
        const char *v;
        if (leader && strcmp(a.opt, "--watch") == 0) {
            if (!args_no_value(&a))
                return CLI_EXIT_USAGE;
        } else if (!leader && strcmp(a.opt, "--from") == 0) {
            if ((v = args_value(&a)) == NULL)
                return CLI_EXIT_USAGE;
            if (!cli_parse_u64(v, from) || *from == DLOCK_WATCH_NOW)
                return cli_usage_error(cli, "--from takes a revision");
        } else if (strcmp(a.opt, "--count") == 0) {
            if ((v = args_value(&a)) == NULL)
                return CLI_EXIT_USAGE;
            if (!cli_parse_u64(v, &wt->count) || wt->count == 0)
                return cli_usage_error(cli, "--count takes a number above 0");
        } else {
            return args_unknown(&a);
        }
    }
    if (n == 0)
        return cli_usage_error(cli, "missing NAME");
    return -1;
}

int watch_main(struct cli *cli, int argc, char **argv)
{
    struct watching wt = {.cli = cli};
    uint64_t from = DLOCK_WATCH_NOW;
    int rc = scan(cli, argc, argv, watch_usage, false, &wt, &from);
    if (rc >= 0)
        return rc;
    return watch_run(&wt, from);
}

int watch_leader_main(struct cli *cli, int argc, char **argv)
{
    struct watching wt = {.cli = cli, .leader = true};
    uint64_t from = DLOCK_WATCH_NOW;
    int rc = scan(cli, argc, argv, show_leader_usage, true, &wt, &from);
    if (rc >= 0)
        return rc;
    return watch_run(&wt, from);
}
