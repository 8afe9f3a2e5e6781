/* cli.h - dlock, the command-line tool: what its files share (exit codes,
 * global options, argument scanning, durations, JSON output, error reports).
 * The tool uses libdlock through include/dlock.h only; docs/cli.md is its
 * manual. */
#ifndef DLOCK_CLI_H
#define DLOCK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/json.h"
#include "dlock.h"

/* Exit codes of dlock's own outcomes (docs/cli.md, "Exit codes"). Those of
 * sysexits.h where one fits; 126 and 127 as a shell uses them. `dlock run`
 * otherwise exits with CMD's status, and says on stderr whenever the code is
 * its own. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 64,       /* bad usage, or a value the cluster refuses */
    CLI_EXIT_UNAVAILABLE = 69, /* no server answered (outcome may be unknown) */
    CLI_EXIT_SOFTWARE = 70,    /* a bug: a server broke the protocol */
    CLI_EXIT_OSERR = 71,       /* the system failed us: fork, memory, ... */
    CLI_EXIT_HELD = 75,        /* held elsewhere, or the wait ran out */
    CLI_EXIT_LOST = 76,        /* the lock is not (or no longer) held */
    CLI_EXIT_DENIED = 77,      /* authentication failed, or no permission */
    CLI_EXIT_CANNOT_EXEC = 126, /* CMD was found but could not be run */
    CLI_EXIT_NOT_FOUND = 127,   /* CMD was not found */
};

/* The longest lock-delay the server accepts, which bounds --kill-grace. */
#define CLI_DELAY_MAX_MS 600000u
/* The most permits of a semaphore (docs/protocol.md §7). */
#define CLI_PERMITS_MAX 1000000u

/* Options every verb takes. */
struct cli {
    const char *verb;    /* "run", "status", ...: for messages */
    const char *servers; /* --servers, or NULL */
    /* --tls-ca, --tls-cert, --tls-key, or NULL: libdlock's defaults, the
     * environment's DLOCK_TLS_CA, DLOCK_TLS_CERT, DLOCK_TLS_KEY. */
    const char *tls_ca, *tls_cert, *tls_key;
    /* --user, or NULL ($DLOCK_USER); --password-file, or NULL
     * ($DLOCK_PASSWORD): docs/security.md. */
    const char *user, *password_file;
    uint64_t timeout_ms; /* --timeout, or 0: the library's default */
    bool json;           /* --json */
};

/* The server list in use: --servers, else $DLOCK_SERVERS, else the
 * default 127.0.0.1:7411. */
const char *cli_servers(const struct cli *cli);

/* Makes the client for cli's options, named name (NULL: "dlock <verb>").
 * Returns 0, or an exit code after reporting the failure. */
int cli_client(const struct cli *cli, const char *name,
               struct dlock_client **out);

/* "host:pid" of this process, at most 64 bytes: the owner and client name
 * the holder shows in `dlock status`. */
void cli_identity(char *buf, size_t n);

/* ---- arguments (args.c) ----------------------------------------------- */

/* Walks a verb's arguments; options may come before, between and after
 * positional arguments, up to "--". Global options (--servers, --json,
 * --timeout) are taken care of here, for every verb. */
struct args {
    struct cli *cli;
    int argc;
    char **argv;
    int i;                    /* the next argument */
    const char *opt;          /* the current option, e.g. "--ttl" */
    char optbuf[32];          /* opt when it came as "--ttl=5s" */
    const char *inline_value; /* what followed "=" */
    const char *arg;          /* the current positional argument */
    bool dashdash;            /* "--" has come: the rest are arguments */
};

enum {
    ARGS_END,      /* no more arguments */
    ARGS_OPTION,   /* an option of the verb: a->opt (value: args_value) */
    ARGS_ARG,      /* a positional argument: a->arg */
    ARGS_DASHDASH, /* "--": the rest (from a->i) are arguments, not options */
    ARGS_HELP,     /* --help or -h */
    ARGS_BAD,      /* a usage error, already reported */
};

/* Starts walking argv[1..argc-1] (argv[0] is the verb). */
void args_init(struct args *a, struct cli *cli, int argc, char **argv);
/* The next argument: one of ARGS_*. */
int args_next(struct args *a);
/* The value of the current option ("--ttl 5s" or "--ttl=5s"); NULL after
 * reporting a usage error when there is none. */
const char *args_value(struct args *a);
/* The value of the current option as a duration; false after reporting a
 * usage error. */
bool args_duration(struct args *a, uint64_t *ms);
/* Reports the current option as unknown; returns CLI_EXIT_USAGE. */
int args_unknown(struct args *a);
/* Reports that an option takes no value when one came with "="; returns
 * false then. */
bool args_no_value(struct args *a);

/* Reports a usage error of cli's verb on stderr ("dlock VERB: ...", and how
 * to get help); returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses a decimal number, all of s; false if it is not one. */
bool cli_parse_u64(const char *s, uint64_t *v);

/* ---- durations (duration.c) ------------------------------------------- */

/* Parses a duration: numbers with units ms, s, m, h, e.g. "500ms", "10s",
 * "5m", "1.5s", "1m30s"; "0" alone is zero. Returns 0, or -1 for anything
 * else (no unit, an unknown unit, more than UINT64_MAX ms). */
int duration_parse(const char *s, uint64_t *ms);
/* Formats ms for people: "850ms", "10s", "29.8s", "4m05s", "2h03m". */
void duration_format(uint64_t ms, char *buf, size_t n);

/* ---- JSON output (json.c) --------------------------------------------- */

/* --json's output: one JSON object a line (src/common/json.h writes it),
 * on stdout. */
/* Starts the top-level object of a line. */
void json_begin(struct json *j, FILE *out);
/* Ends the top-level object and the line, writes it, and flushes. */
void json_end(struct json *j);
/* Writes s as a JSON string (quoted, escaped). */
void json_write_string(FILE *out, const char *s);

/* ---- reports (report.c) ----------------------------------------------- */

/* The exit code for a libdlock error (DLOCK_E*). */
int report_exit_code(int err);
/* A short word for an exit code, the "error" of a JSON report: "usage",
 * "unavailable", "internal", "system", "held", "lost", ... */
const char *report_reason(int code);
/* The symbolic name of a DLOCK_E* code, "DLOCK_EHELD". */
const char *report_err_name(int err);

/* Reports a failed library call: "dlock VERB: what: <error>: <detail>" on
 * stderr, and with --json the object {"ok":false,...} on stdout. c (may be
 * NULL) gives the detail. Returns the exit code. */
int report_failure(const struct cli *cli, const struct dlock_client *c, int err,
                   const char *what);
/* report_failure with the detail given (dlock_errmsg of another thread). */
int report_failure_detail(const struct cli *cli, int err, const char *what,
                          const char *detail);
/* Reports a failure of dlock's own with the given exit code and message,
 * the same way. Returns code. */
int report_error(const struct cli *cli, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Starts a JSON success report ({"ok":true,...}) on stdout. */
void report_json_ok(struct json *j);

/* ---- CMD of dlock run (child.c) --------------------------------------- */

/* What is executed: built before the lock is taken, so that nothing but
 * fork and exec happens between the grant and CMD's start. */
struct child_cmd {
    char *path;     /* argv[0] found on $PATH */
    char **argv;    /* borrowed */
    char **sh_argv; /* "sh" path argv[1..]: for a script with no "#!" */
    char **envp;    /* the environment, with DLOCK_NAME, _TOKEN, _SERVERS */
};

/* A running CMD, in a process group of its own. */
struct child {
    pid_t pid;  /* also its process group's id */
    int status; /* its wait status, once reaped */
    bool ended; /* it has exited (it stays a zombie until reaped) */
};

/* Finds argv[0] (on $PATH unless it has a '/') and fills cmd. Returns 0,
 * or an exit code after reporting: CLI_EXIT_NOT_FOUND, CLI_EXIT_CANNOT_EXEC
 * (found, but not executable), CLI_EXIT_OSERR. */
int child_cmd_init(const struct cli *cli, struct child_cmd *cmd, char **argv);
/* Adds the lock's variables to cmd's environment. Returns 0 or an exit
 * code after reporting. */
int child_cmd_env(const struct cli *cli, struct child_cmd *cmd,
                  const char *name, uint64_t token, const char *servers);
void child_cmd_close(struct child_cmd *cmd);

/* Starts cmd in a new process group, with the signal mask mask. It is
 * killed (SIGKILL) if dlock dies. Returns 0, or an exit code after
 * reporting (CLI_EXIT_NOT_FOUND or CLI_EXIT_CANNOT_EXEC if exec failed:
 * the child is reaped then). */
int child_start(const struct cli *cli, struct child *ch,
                const struct child_cmd *cmd, const sigset_t *mask);
/* Sends sig to the child's process group (nothing if it is gone). */
void child_signal(const struct child *ch, int sig);
/* Whether the child has exited; it is left unreaped, so that its process
 * group id cannot be reused while dlock may still signal the group. */
bool child_ended(struct child *ch);
/* Waits for the child to exit and reaps it; its status is ch->status. */
void child_reap(struct child *ch);
/* A wait status as a shell gives it: the exit code, or 128 + the signal. */
int child_exit_code(int status);

/* ---- verbs ------------------------------------------------------------ */

/* Scans the arguments of a verb that reads the state (show.c): at least
 * min_pos and at most max_pos positional ones into pos, and --max N into
 * *max if max is not NULL; --help prints usage. Returns -1 when done, else
 * the exit code. */
int show_scan(struct cli *cli, int argc, char **argv, const char *usage,
              const char **pos, int min_pos, int max_pos, uint64_t *max);

/* Each takes the verb's arguments (argv[0] is the verb) and returns the
 * exit code. */
int run_main(struct cli *cli, int argc, char **argv);
int elect_main(struct cli *cli, int argc, char **argv);
int lease_acquire_main(struct cli *cli, int argc, char **argv);
int lease_extend_main(struct cli *cli, int argc, char **argv);
int lease_release_main(struct cli *cli, int argc, char **argv);
int show_status_main(struct cli *cli, int argc, char **argv);
int show_holders_main(struct cli *cli, int argc, char **argv);
int show_list_main(struct cli *cli, int argc, char **argv);
/* ---- dlock top (top.c) ------------------------------------------------ */

extern const char top_usage[];
int top_main(struct cli *cli, int argc, char **argv);

int show_cluster_main(struct cli *cli, int argc, char **argv);
int show_sem_status_main(struct cli *cli, int argc, char **argv);
int show_leader_main(struct cli *cli, int argc, char **argv);
int watch_main(struct cli *cli, int argc, char **argv);
/* dlock leader NAME --watch (show_leader_main hands it over). */
int watch_leader_main(struct cli *cli, int argc, char **argv);

/* The usage texts printed by --help. */
extern const char run_usage[];
extern const char elect_usage[];
extern const char lease_acquire_usage[];
extern const char lease_extend_usage[];
extern const char lease_release_usage[];
extern const char show_status_usage[];
extern const char show_holders_usage[];
extern const char show_list_usage[];
extern const char show_cluster_usage[];
extern const char show_sem_status_usage[];
extern const char show_leader_usage[];
extern const char watch_usage[];

#endif
