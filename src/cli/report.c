/* report.c - how dlock reports a failure: a line on stderr for people, an
 * object on stdout with --json, and the exit code that tells them apart. */
#include <stdarg.h>
#include <stdlib.h>

#include "cli/cli.h"

int report_exit_code(int err)
{
    switch (err) {
    case DLOCK_OK:
        return CLI_EXIT_OK;
    case DLOCK_EINVAL:
    case DLOCK_ELIMIT:
        return CLI_EXIT_USAGE;
    case DLOCK_EIO:
    case DLOCK_ETIMEDOUT:
    case DLOCK_EREFUSED:
    case DLOCK_ETLS:
        return CLI_EXIT_UNAVAILABLE;
    case DLOCK_EHELD:
    case DLOCK_EWAIT:
    case DLOCK_EUPGRADE:
        return CLI_EXIT_HELD;
    case DLOCK_ENOTHELD:
    case DLOCK_ENOSESSION:
    case DLOCK_ELOST:
        return CLI_EXIT_LOST;
    case DLOCK_ENOMEM:
        return CLI_EXIT_OSERR;
    case DLOCK_EAUTH:
    case DLOCK_EPERM:
        return CLI_EXIT_DENIED;
    default: /* DLOCK_EPROTO, and any code this tool does not know */
        return CLI_EXIT_SOFTWARE;
    }
}

const char *report_reason(int code)
{
    switch (code) {
    case CLI_EXIT_USAGE:
        return "usage";
    case CLI_EXIT_UNAVAILABLE:
        return "unavailable";
    case CLI_EXIT_SOFTWARE:
        return "internal";
    case CLI_EXIT_OSERR:
        return "system";
    case CLI_EXIT_HELD:
        return "held";
    case CLI_EXIT_LOST:
        return "lost";
    case CLI_EXIT_DENIED:
        return "denied";
    case CLI_EXIT_CANNOT_EXEC:
        return "cannot-execute";
    case CLI_EXIT_NOT_FOUND:
        return "not-found";
    default:
        return code > 128 ? "signal" : "error";
    }
}

const char *report_err_name(int err)
{
    switch (err) {
    case DLOCK_OK:
        return "DLOCK_OK";
    case DLOCK_ENOMEM:
        return "DLOCK_ENOMEM";
    case DLOCK_EPROTO:
        return "DLOCK_EPROTO";
    case DLOCK_EINVAL:
        return "DLOCK_EINVAL";
    case DLOCK_ELIMIT:
        return "DLOCK_ELIMIT";
    case DLOCK_EIO:
        return "DLOCK_EIO";
    case DLOCK_ETIMEDOUT:
        return "DLOCK_ETIMEDOUT";
    case DLOCK_EHELD:
        return "DLOCK_EHELD";
    case DLOCK_ENOTHELD:
        return "DLOCK_ENOTHELD";
    case DLOCK_ENOSESSION:
        return "DLOCK_ENOSESSION";
    case DLOCK_EWAIT:
        return "DLOCK_EWAIT";
    case DLOCK_ELOST:
        return "DLOCK_ELOST";
    case DLOCK_EREFUSED:
        return "DLOCK_EREFUSED";
    case DLOCK_EUPGRADE:
        return "DLOCK_EUPGRADE";
    case DLOCK_ETLS:
        return "DLOCK_ETLS";
    case DLOCK_EAUTH:
        return "DLOCK_EAUTH";
    case DLOCK_EPERM:
        return "DLOCK_EPERM";
    default:
        return "DLOCK_E?";
    }
}

/* The JSON failure object: ok, exit, error, code (NULL: none), message. */
static void json_failure(int exit_code, const char *code, const char *msg)
{
    struct json j;
    json_begin(&j, stdout);
    json_bool(&j, "ok", false);
    json_int(&j, "exit", exit_code);
    json_str(&j, "error", report_reason(exit_code));
    if (code != NULL)
        json_str(&j, "code", code);
    json_str(&j, "message", msg);
    json_end(&j);
}

int report_failure(const struct cli *cli, const struct dlock_client *c, int err,
                   const char *what)
{
    return report_failure_detail(cli, err, what,
                                 c != NULL ? dlock_errmsg(c) : "");
}

int report_failure_detail(const struct cli *cli, int err, const char *what,
                          const char *detail)
{
    int code = report_exit_code(err);
    char msg[1024];
    if (detail != NULL && detail[0] != '\0')
        snprintf(msg, sizeof msg, "%s: %s (%s)", what, dlock_strerror(err),
                 detail);
    else
        snprintf(msg, sizeof msg, "%s: %s", what, dlock_strerror(err));
    fprintf(stderr, "dlock %s: %s\n", cli->verb, msg);
    if (cli->json)
        json_failure(code, report_err_name(err), msg);
    return code;
}

int report_error(const struct cli *cli, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "dlock %s: %s\n", cli->verb, msg);
    if (cli->json)
        json_failure(code, NULL, msg);
    return code;
}

void report_json_ok(struct json *j)
{
    json_begin(j, stdout);
    json_bool(j, "ok", true);
}
