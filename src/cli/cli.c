/* cli.c - what every verb needs: the server list, a client, the identity
 * of this process, usage errors and numbers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define DEFAULT_SERVERS "127.0.0.1:7411"

const char *cli_servers(const struct cli *cli)
{
    if (cli->servers != NULL)
        return cli->servers;
    const char *env = getenv("DLOCK_SERVERS");
    if (env != NULL && env[0] != '\0')
        return env;
    return DEFAULT_SERVERS;
}

void cli_identity(char *buf, size_t n)
{
    char host[64];
    if (gethostname(host, sizeof host) != 0)
        strcpy(host, "?");
    host[sizeof host - 1] = '\0';
    /* The pid goes last and is kept whole: a long host name is cut. */
    char pid[16];
    int pn = snprintf(pid, sizeof pid, ":%ld", (long)getpid());
    size_t room = n > (size_t)pn + 1 ? n - (size_t)pn - 1 : 0;
    snprintf(buf, n, "%.*s%s", (int)room, host, pid);
}

/* The first line of --password-file into buf; 0, or the exit code after
 * reporting. */
static int read_password(const struct cli *cli, char *buf, size_t n)
{
    FILE *f = fopen(cli->password_file, "r");
    if (f == NULL)
        return cli_usage_error(cli, "cannot read --password-file %s: %s",
                               cli->password_file, strerror(errno));
    bool ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    size_t len = ok ? strcspn(buf, "\r\n") : 0;
    if (!ok || len == 0 || len > 512) {
        explicit_bzero(buf, n);
        return cli_usage_error(cli,
                               "--password-file %s: its first line must be "
                               "the password (1 to 512 bytes)",
                               cli->password_file);
    }
    buf[len] = '\0';
    return 0;
}

int cli_client(const struct cli *cli, const char *name,
               struct dlock_client **out)
{
    struct dlock_options o;
    char who[65];
    dlock_options_init(&o);
    o.servers = cli_servers(cli);
    if (cli->timeout_ms > 0)
        o.timeout_ms = cli->timeout_ms;
    if (name == NULL) {
        snprintf(who, sizeof who, "dlock %s", cli->verb);
        name = who;
    }
    o.name = name;
    o.tls_ca = cli->tls_ca;
    o.tls_cert = cli->tls_cert;
    o.tls_key = cli->tls_key;
    o.user = cli->user;
    char password[514];
    if (cli->password_file != NULL) {
        int rc = read_password(cli, password, sizeof password);
        if (rc != 0)
            return rc;
        o.password = password;
    }
    int err = dlock_client_new(&o, out);
    if (cli->password_file != NULL)
        explicit_bzero(password, sizeof password);
    if (err == DLOCK_EINVAL && dlock_errmsg(NULL)[0] != '\0')
        return cli_usage_error(cli, "%s", dlock_errmsg(NULL));
    if (err == DLOCK_EINVAL)
        return cli_usage_error(cli,
                               "bad server list '%s' (write "
                               "host:port,host:port)",
                               o.servers);
    if (err != 0)
        return report_failure_detail(cli, err, "cannot make a client",
                                     dlock_errmsg(NULL));
    return 0;
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dlock%s%s: ", cli->verb != NULL ? " " : "",
            cli->verb != NULL ? cli->verb : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cli->verb != NULL)
        fprintf(stderr, "\nTry 'dlock %s --help'.\n", cli->verb);
    else
        fprintf(stderr, "\nTry 'dlock --help'.\n");
    return CLI_EXIT_USAGE;
}

bool cli_parse_u64(const char *s, uint64_t *v)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *v = x;
    return true;
}
