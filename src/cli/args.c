/* args.c - scanning a verb's arguments: its options, the global ones, and
 * its positional arguments, in any order up to "--". */
#include <string.h>

#include "cli/cli.h"

void args_init(struct args *a, struct cli *cli, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->cli = cli;
    a->argc = argc;
    a->argv = argv;
    a->i = 1;
}

/* Splits "--name=value" into a->opt and a->inline_value. */
static void split_option(struct args *a, const char *s)
{
    const char *eq = strchr(s, '=');
    a->inline_value = NULL;
    a->opt = s;
    if (eq == NULL)
        return;
    size_t n = (size_t)(eq - s);
    if (n >= sizeof a->optbuf)
        n = sizeof a->optbuf - 1; /* an unknown option anyway */
    memcpy(a->optbuf, s, n);
    a->optbuf[n] = '\0';
    a->opt = a->optbuf;
    a->inline_value = eq + 1;
}

/* Handles a global option; 1 if it was one, 0 if not, -1 on a usage
 * error (reported). */
static int global_option(struct args *a)
{
    if (strcmp(a->opt, "--json") == 0) {
        if (!args_no_value(a))
            return -1;
        a->cli->json = true;
        return 1;
    }
    const char **path = NULL;
    if (strcmp(a->opt, "--servers") == 0)
        path = &a->cli->servers;
    else if (strcmp(a->opt, "--tls-ca") == 0)
        path = &a->cli->tls_ca;
    else if (strcmp(a->opt, "--tls-cert") == 0)
        path = &a->cli->tls_cert;
    else if (strcmp(a->opt, "--tls-key") == 0)
        path = &a->cli->tls_key;
    else if (strcmp(a->opt, "--user") == 0)
        path = &a->cli->user;
    else if (strcmp(a->opt, "--password-file") == 0)
        path = &a->cli->password_file;
    if (path != NULL) {
        const char *v = args_value(a);
        if (v == NULL)
            return -1;
        *path = v;
        return 1;
    }
    if (strcmp(a->opt, "--timeout") == 0) {
        uint64_t ms;
        if (!args_duration(a, &ms))
            return -1;
        if (ms == 0) {
            cli_usage_error(a->cli, "--timeout must be above 0");
            return -1;
        }
        a->cli->timeout_ms = ms;
        return 1;
    }
    return 0;
}

int args_next(struct args *a)
{
    if (a->i >= a->argc)
        return ARGS_END;
    const char *s = a->argv[a->i++];
    if (strcmp(s, "--") == 0 && !a->dashdash) {
        a->dashdash = true;
        return ARGS_DASHDASH;
    }
    /* "-" alone is an argument, and so is everything after "--". */
    if (s[0] != '-' || s[1] == '\0' || a->dashdash) {
        a->arg = s;
        return ARGS_ARG;
    }
    split_option(a, s);
    if (strcmp(a->opt, "--help") == 0 || strcmp(a->opt, "-h") == 0)
        return ARGS_HELP;
    switch (global_option(a)) {
    case 1:
        return args_next(a);
    case -1:
        return ARGS_BAD;
    default:
        return ARGS_OPTION;
    }
}

const char *args_value(struct args *a)
{
    if (a->inline_value != NULL)
        return a->inline_value;
    if (a->i >= a->argc) {
        cli_usage_error(a->cli, "%s needs a value", a->opt);
        return NULL;
    }
    return a->argv[a->i++];
}

bool args_duration(struct args *a, uint64_t *ms)
{
    const char *v = args_value(a);
    if (v == NULL)
        return false;
    if (duration_parse(v, ms) != 0) {
        cli_usage_error(a->cli,
                        "%s: '%s' is not a duration (write e.g. 500ms, 10s, "
                        "5m, 1m30s)",
                        a->opt, v);
        return false;
    }
    return true;
}

int args_unknown(struct args *a)
{
    return cli_usage_error(a->cli, "unknown option '%s'", a->opt);
}

bool args_no_value(struct args *a)
{
    if (a->inline_value == NULL)
        return true;
    cli_usage_error(a->cli, "%s takes no value", a->opt);
    return false;
}
