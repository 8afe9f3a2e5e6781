/* lease.c - dlock acquire, extend and release: lease locks, for shell
 * scripts that hold a lock across several commands (docs/protocol.md §5). */
#include <string.h>

#include "cli/cli.h"

const char lease_acquire_usage[] =
    "usage: dlock acquire NAME --ttl DURATION [--wait DURATION | --no-wait]\n"
    "\n"
    "Takes the lock NAME as a lease lock and prints its fencing token. The\n"
    "lock is held until `dlock release NAME TOKEN`, or until its lease ends:\n"
    "renew it with `dlock extend NAME TOKEN --ttl DURATION` well before.\n"
    "\n"
    "  --ttl DURATION   how long the lease lasts (100ms to 1h); required\n"
    "  --no-wait        fail at once if the lock is held (the default)\n"
    "  --wait DURATION  wait up to this long for the lock; a wait never\n"
    "                   outlasts the TTL (the lease ends the wait)\n"
    "\n"
    "Prints the token (with --json: {\"ok\":true,\"name\":...,\"token\":N,\n"
    "\"ttl_ms\":N}). Exit codes: 0 acquired, 75 held or the wait ran out,\n"
    "64 usage, 69 cluster unavailable, 70 internal, 71 system error.\n"
    "\n"
    "  token=$(dlock acquire nightly-report --ttl 10m) || exit\n";

const char lease_extend_usage[] =
    "usage: dlock extend NAME TOKEN --ttl DURATION\n"
    "\n"
    "Renews the lease lock NAME held with TOKEN: its lease now lasts\n"
    "DURATION from now. Prints nothing (with --json: {\"ok\":true,...}).\n"
    "Exit codes: 0 extended, 76 TOKEN no longer holds the lock (its lease\n"
    "ended, or it was released), 64 usage, 69 cluster unavailable.\n";

const char lease_release_usage[] =
    "usage: dlock release NAME TOKEN\n"
    "\n"
    "Releases the lease lock NAME held with TOKEN. Prints nothing (with\n"
    "--json: {\"ok\":true,...}). Exit codes: 0 released, 76 TOKEN does not\n"
    "hold the lock (its lease ended, or it was released already), 64 usage,\n"
    "69 cluster unavailable.\n";

/* What the three verbs take. */
struct lease_args {
    const char *name;
    const char *token_text;
    uint64_t token;
    uint64_t ttl_ms; /* 0: not given */
    uint64_t wait_ms;
};

/* The options a verb takes. */
enum { WITH_TTL = 1, WITH_WAIT = 2 };

/* Scans the arguments: npos positional ones (NAME, and TOKEN if 2), and the
 * options in with (WITH_*). Returns -1 when done, else the exit code (usage
 * errors, --help). */
static int scan(struct cli *cli, int argc, char **argv, const char *usage,
                int npos, unsigned with, struct lease_args *la)
{
    struct args a;
    const char *pos[2] = {NULL, NULL};
    int n = 0;
    memset(la, 0, sizeof *la);
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
        if (k == ARGS_ARG) {
            if (n == npos)
                return cli_usage_error(cli, "unexpected argument '%s'", a.arg);
            pos[n++] = a.arg;
        } else if ((with & WITH_TTL) && strcmp(a.opt, "--ttl") == 0) {
            if (!args_duration(&a, &la->ttl_ms))
                return CLI_EXIT_USAGE;
            if (la->ttl_ms == 0)
                return cli_usage_error(cli, "--ttl must be above 0");
        } else if ((with & WITH_WAIT) && strcmp(a.opt, "--wait") == 0) {
            if (!args_duration(&a, &la->wait_ms))
                return CLI_EXIT_USAGE;
        } else if ((with & WITH_WAIT) && strcmp(a.opt, "--no-wait") == 0) {
            if (!args_no_value(&a))
                return CLI_EXIT_USAGE;
            la->wait_ms = 0;
        } else {
            return args_unknown(&a);
        }
    }
    if (n < npos)
        return cli_usage_error(cli, "missing %s", n == 0 ? "NAME" : "TOKEN");
    if ((with & WITH_TTL) && la->ttl_ms == 0)
        return cli_usage_error(cli, "--ttl DURATION is required");
    la->name = pos[0];
    la->token_text = pos[1];
    if (npos == 2 && !cli_parse_u64(pos[1], &la->token))
        return cli_usage_error(cli, "TOKEN must be a number, not '%s'", pos[1]);
    return -1;
}

/* The JSON success object of the three verbs. */
static void json_lease(const struct lease_args *la, uint64_t token)
{
    struct json j;
    report_json_ok(&j);
    json_str(&j, "name", la->name);
    json_u64(&j, "token", token);
    if (la->ttl_ms > 0)
        json_u64(&j, "ttl_ms", la->ttl_ms);
    json_end(&j);
}

int lease_acquire_main(struct cli *cli, int argc, char **argv)
{
    struct lease_args la;
    struct dlock_client *c;
    int rc = scan(cli, argc, argv, lease_acquire_usage, 1, WITH_TTL | WITH_WAIT,
                  &la);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    uint64_t token = 0;
    int err = dlock_lease_acquire(c, la.name, la.ttl_ms, la.wait_ms, &token);
    if (err == 0) {
        if (cli->json)
            json_lease(&la, token);
        else
            printf("%llu\n", (unsigned long long)token);
    } else if (err == DLOCK_ENOSESSION) {
        /* The lease under a queued lease lock ended its wait. */
        rc = report_error(cli, CLI_EXIT_HELD,
                          "%s: the wait ended with the lease (--ttl): the "
                          "lock was not granted",
                          la.name);
    } else {
        rc = report_failure(cli, c, err, la.name);
    }
    dlock_client_free(c);
    return rc;
}

int lease_extend_main(struct cli *cli, int argc, char **argv)
{
    struct lease_args la;
    struct dlock_client *c;
    int rc = scan(cli, argc, argv, lease_extend_usage, 2, WITH_TTL, &la);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    int err = dlock_lease_extend(c, la.name, la.token, la.ttl_ms);
    if (err == 0 && cli->json)
        json_lease(&la, la.token);
    else if (err != 0)
        rc = report_failure(cli, c, err, la.name);
    dlock_client_free(c);
    return rc;
}

int lease_release_main(struct cli *cli, int argc, char **argv)
{
    struct lease_args la;
    struct dlock_client *c;
    int rc = scan(cli, argc, argv, lease_release_usage, 2, 0, &la);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    int err = dlock_lease_release(c, la.name, la.token);
    if (err == 0 && cli->json)
        json_lease(&la, la.token);
    else if (err != 0)
        rc = report_failure(cli, c, err, la.name);
    dlock_client_free(c);
    return rc;
}
