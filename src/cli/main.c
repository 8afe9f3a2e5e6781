/* main.c - dlock, the command-line tool of the dlock lock service: the
 * verbs and the options before them (docs/cli.md). */
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: dlock [--servers LIST] [--json] [--timeout DURATION] VERB ...\n"
    "\n"
    "Locks that hold across machines, from the dlock service.\n"
    "\n"
    "verbs:\n"
    "  run NAME -- CMD [ARG...]   run CMD while holding the lock NAME\n"
    "                             (--shared: a shared, read hold;\n"
    "                             --semaphore N: one permit of N)\n"
    "  elect NAME VALUE -- CMD    run CMD while leader of the election NAME\n"
    "  acquire NAME --ttl D       take a lease lock; prints its token\n"
    "  extend NAME TOKEN --ttl D  renew a lease lock\n"
    "  release NAME TOKEN         release a lease lock\n"
    "  status NAME                one lock: mode, holder, token, waiters,\n"
    "                             lease\n"
    "  holders NAME               every holder of a lock (shared: all)\n"
    "  list [PREFIX]              the locks in use\n"
    "  sem-status NAME            one semaphore: permits used, available,\n"
    "                             holders, waiters\n"
    "  leader NAME [--watch]      the leader of an election: session,\n"
    "                             token, value (--watch: at each change)\n"
    "  watch NAME                 the changes of a lock, semaphore or\n"
    "                             election, as they come\n"
    "  cluster                    the servers: roles, leader, term, health\n"
    "  top                        the cluster, its busiest names and its\n"
    "                             sessions nearest expiry, refreshed\n"
    "  help [VERB]                this text, or a verb's\n"
    "\n"
    "options (before or after the verb):\n"
    "  --servers LIST      host:port,host:port (default $DLOCK_SERVERS,\n"
    "                      else 127.0.0.1:7411)\n"
    "  --tls-ca FILE       TLS: the servers' CA (default $DLOCK_TLS_CA)\n"
    "  --tls-cert FILE     this client's certificate ($DLOCK_TLS_CERT)\n"
    "  --tls-key FILE      and its key ($DLOCK_TLS_KEY)\n"
    "  --user NAME         log in as NAME ($DLOCK_USER), with the password\n"
    "                      of $DLOCK_PASSWORD or of:\n"
    "  --password-file FILE  its first line\n"
    "  --json              results as one JSON object on stdout\n"
    "  --timeout DURATION  the longest a request waits for an answer\n"
    "                      (default 10s)\n"
    "  --help              help; --version: the version\n"
    "\n"
    "Durations: 500ms, 10s, 5m, 1h, 1m30s.\n"
    "Exit codes: 0 done, 64 usage, 69 cluster unavailable, 70 internal,\n"
    "71 system error, 75 lock held or wait ran out, 76 lock lost or not\n"
    "held, 77 authentication failed or not permitted; `dlock run` exits\n"
    "with CMD's status (see dlock run --help).\n"
    "Manual: docs/cli.md.\n";

struct verb {
    const char *name;
    int (*fn)(struct cli *cli, int argc, char **argv);
    const char *usage;
};

static const struct verb verbs[] = {
    {"run", run_main, run_usage},
    {"elect", elect_main, elect_usage},
    {"acquire", lease_acquire_main, lease_acquire_usage},
    {"extend", lease_extend_main, lease_extend_usage},
    {"release", lease_release_main, lease_release_usage},
    {"status", show_status_main, show_status_usage},
    {"holders", show_holders_main, show_holders_usage},
    {"list", show_list_main, show_list_usage},
    {"sem-status", show_sem_status_main, show_sem_status_usage},
    {"leader", show_leader_main, show_leader_usage},
    {"watch", watch_main, watch_usage},
    {"cluster", show_cluster_main, show_cluster_usage},
    {"top", top_main, top_usage},
};

static const struct verb *find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

/* dlock help [VERB] */
static int help(struct cli *cli, int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    const struct verb *v = find_verb(argv[1]);
    if (v == NULL)
        return cli_usage_error(cli, "no verb '%s'", argv[1]);
    fputs(v->usage, stdout);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    struct args a;
    args_init(&a, &cli, argc, argv);
    /* The options before the verb; the verb's scan takes those after. */
    for (;;) {
        int k = args_next(&a);
        if (k == ARGS_HELP) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        }
        if (k == ARGS_BAD)
            return CLI_EXIT_USAGE;
        if (k == ARGS_OPTION && strcmp(a.opt, "--version") == 0) {
            printf("dlock %s\n", DLOCK_VERSION);
            return CLI_EXIT_OK;
        }
        if (k == ARGS_OPTION)
            return args_unknown(&a);
        if (k == ARGS_END || k == ARGS_DASHDASH)
            return cli_usage_error(&cli, "no verb given");
        break; /* ARGS_ARG: the verb */
    }
    int at = a.i - 1;
    if (strcmp(a.arg, "help") == 0) {
        cli.verb = NULL;
        return help(&cli, argc - at, argv + at);
    }
    const struct verb *v = find_verb(a.arg);
    if (v == NULL)
        return cli_usage_error(&cli, "no verb '%s'", a.arg);
    cli.verb = v->name;
    return v->fn(&cli, argc - at, argv + at);
}
