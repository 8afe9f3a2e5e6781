/* run.c - dlock run and dlock elect: take a lock (exclusive or shared), a
 * permit of a semaphore, or an election's leadership, run CMD while the
 * lease is kept alive, stop CMD before the lease can no longer be proven,
 * release the hold (resign) when CMD ends and exit with its status
 * (docs/cli.md, "dlock run", "dlock elect"). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

const char run_usage[] =
    "usage: dlock run [--wait DURATION | --no-wait] [--ttl DURATION]\n"
    "                 [--kill-grace DURATION] [--shared | --semaphore N]\n"
    "                 NAME -- CMD [ARG...]\n"
    "\n"
    "Takes the lock NAME, runs CMD with DLOCK_NAME, DLOCK_TOKEN (the fencing\n"
    "token) and DLOCK_SERVERS in its environment while keeping the lease\n"
    "alive, releases the lock when CMD ends and exits with CMD's status\n"
    "(128+N if a signal N ended it). CMD runs in a process group of its\n"
    "own; SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to dlock are passed on\n"
    "to that group.\n"
    "\n"
    "  --wait DURATION        wait up to this long for the lock (default:\n"
    "                         as long as it takes)\n"
    "  --no-wait              do not wait: exit 75 if the lock is held\n"
    "  --shared               take the lock shared (a read lock): any\n"
    "                         number of shared runs hold it at once, never\n"
    "                         with an exclusive one; a waiting exclusive\n"
    "                         run holds back shared runs that come after it\n"
    "  --semaphore N          take one permit of the semaphore NAME of N\n"
    "                         permits (1 to 1000000): at most N runs at\n"
    "                         once, served in order; every run of NAME must\n"
    "                         give the same N\n"
    "  --ttl DURATION         the session's lease, renewed every third of\n"
    "                         it (1s to 1h, default 15s)\n"
    "  --kill-grace DURATION  if the lease is lost, the time between\n"
    "                         SIGTERM and SIGKILL to CMD's group (0 to 10m,\n"
    "                         default 10s); also the lock-delay after a\n"
    "                         lost lease\n"
    "\n"
    "If the lease can no longer be proven (a tenth of the TTL before it\n"
    "could end without a renewal), CMD's group gets SIGTERM, SIGKILL after\n"
    "the kill grace, and dlock exits 76.\n"
    "\n"
    "Exit codes of dlock's own (with a message on stderr, and with --json\n"
    "an object on stdout after CMD's output): 75 the lock is held (with\n"
    "--no-wait) or the wait ran out, CMD not run; 76 the lease was lost\n"
    "while CMD ran; 64 usage; 69 cluster unavailable, CMD not run; 70\n"
    "internal; 71 system error; 126 CMD cannot be executed; 127 CMD not\n"
    "found. Otherwise CMD's own status, and no message.\n"
    "\n"
    "  dlock run --no-wait birthday-greetings -- ./send-greetings.sh\n";

const char elect_usage[] =
    "usage: dlock elect [--wait DURATION | --no-wait] [--ttl DURATION]\n"
    "                   [--kill-grace DURATION] NAME VALUE -- CMD [ARG...]\n"
    "\n"
    "Campaigns in the election NAME with VALUE (what `dlock leader NAME`\n"
    "shows: where to reach this instance, say; at most 1024 bytes), waits\n"
    "in line until elected, then runs CMD as dlock run does, with\n"
    "DLOCK_NAME, DLOCK_TOKEN (the leadership token, which fences the\n"
    "leader's writes) and DLOCK_SERVERS in its environment, while keeping\n"
    "the lease alive. When CMD ends, dlock resigns (the next candidate\n"
    "leads at once) and exits with CMD's status.\n"
    "\n"
    "  --wait DURATION        wait up to this long to be elected (default:\n"
    "                         as long as it takes)\n"
    "  --no-wait              do not wait: exit 75 if another leads\n"
    "  --ttl DURATION         the session's lease (1s to 1h, default 15s)\n"
    "  --kill-grace DURATION  if the lease is lost, the time between\n"
    "                         SIGTERM and SIGKILL to CMD's group (0 to 10m,\n"
    "                         default 10s); also the time after a lost\n"
    "                         lease before another can be elected\n"
    "\n"
    "CMD runs only while this instance leads: if the lease can no longer\n"
    "be proven (a tenth of the TTL before it could end), CMD's group gets\n"
    "SIGTERM, SIGKILL after the kill grace, and dlock exits 76; no other\n"
    "candidate is elected before the lease and the kill grace have ended.\n"
    "Exit codes as dlock run's (75: another leads, with --no-wait, or the\n"
    "wait ran out).\n"
    "\n"
    "  dlock elect report-writer \"$(hostname)\" -- ./write-reports.sh\n";

#define RUN_FOREVER UINT64_MAX
/* The longest wait the server takes in one request (docs/protocol.md §7);
 * a longer wait is made of several. */
#define DAY_MS 86400000u

/* What a run holds while CMD runs. */
enum run_kind {
    RUN_LOCK,  /* dlock run, exclusive or --shared */
    RUN_SEM,   /* dlock run --semaphore N */
    RUN_ELECT, /* dlock elect */
};

struct run {
    struct cli *cli;
    enum run_kind kind;
    const char *name;
    const char *value; /* dlock elect's VALUE */
    uint64_t permits;  /* --semaphore N */
    uint64_t wait_ms;  /* 0: a try-lock; RUN_FOREVER */
    uint64_t ttl_ms;
    uint64_t grace_ms;
    bool shared; /* --shared */
    char **cmd;
    char identity[65]; /* host:pid: the client's name and the owner */
    struct dlock_client *client;
    struct dlock_session *session;
    struct dlock_lock *lock;       /* RUN_LOCK */
    struct dlock_sem *sem;         /* RUN_SEM */
    struct dlock_leadership *lead; /* RUN_ELECT */
    int err;                       /* of opening the session and acquiring */
    char errmsg[256];  /* its dlock_errmsg, of the thread that got it */
    atomic_bool taken; /* the acquiring thread is done */
    pthread_t main_thread;
    bool lost; /* the lease was lost while CMD ran */
};

/* ---- arguments -------------------------------------------------------- */

/* Returns -1 when the arguments are good, else the exit code. */
static int scan(struct run *r, int argc, char **argv)
{
    struct args a;
    bool elect = r->kind == RUN_ELECT;
    args_init(&a, r->cli, argc, argv);
    for (int k; (k = args_next(&a)) != ARGS_DASHDASH;) {
        if (k == ARGS_HELP) {
            fputs(elect ? elect_usage : run_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (k == ARGS_BAD)
            return CLI_EXIT_USAGE;
        if (k == ARGS_END)
            return cli_usage_error(
                r->cli, r->name == NULL ? (elect ? "missing NAME VALUE "
                                                   "-- CMD"
                                                 : "missing NAME -- CMD")
                        : elect && r->value == NULL ? "missing VALUE -- CMD"
                                                    : "missing -- CMD");
        if (k == ARGS_ARG && r->name == NULL) {
            r->name = a.arg;
        } else if (k == ARGS_ARG && elect && r->value == NULL) {
            r->value = a.arg;
        } else if (k == ARGS_ARG) {
            return cli_usage_error(r->cli, "CMD must follow '--' (got '%s')",
                                   a.arg);
        } else if (strcmp(a.opt, "--wait") == 0) {
            if (!args_duration(&a, &r->wait_ms))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a.opt, "--no-wait") == 0) {
            if (!args_no_value(&a))
                return CLI_EXIT_USAGE;
            r->wait_ms = 0;
        } else if (!elect && strcmp(a.opt, "--shared") == 0) {
            if (!args_no_value(&a))
                return CLI_EXIT_USAGE;
            r->shared = true;
        } else if (!elect && strcmp(a.opt, "--semaphore") == 0) {
            const char *v = args_value(&a);
            if (v == NULL)
                return CLI_EXIT_USAGE;
            if (!cli_parse_u64(v, &r->permits) || r->permits < 1 ||
                r->permits > CLI_PERMITS_MAX)
                return cli_usage_error(r->cli,
                                       "--semaphore takes a number of permits "
                                       "from 1 to %u",
                                       CLI_PERMITS_MAX);
            r->kind = RUN_SEM;
        } else if (strcmp(a.opt, "--ttl") == 0) {
            if (!args_duration(&a, &r->ttl_ms))
                return CLI_EXIT_USAGE;
        } else if (strcmp(a.opt, "--kill-grace") == 0) {
            if (!args_duration(&a, &r->grace_ms))
                return CLI_EXIT_USAGE;
        } else {
            return args_unknown(&a);
        }
    }
    if (r->name == NULL)
        return cli_usage_error(r->cli, elect ? "missing NAME VALUE before '--'"
                                             : "missing NAME before '--'");
    if (elect && r->value == NULL)
        return cli_usage_error(r->cli, "missing VALUE before '--'");
    if (elect && strlen(r->value) > DLOCK_VALUE_MAX)
        return cli_usage_error(r->cli, "VALUE is at most %d bytes",
                               DLOCK_VALUE_MAX);
    if (r->shared && r->kind == RUN_SEM)
        return cli_usage_error(r->cli,
                               "--shared and --semaphore do not go together");
    if (a.i >= argc)
        return cli_usage_error(r->cli, "missing CMD after '--'");
    if (r->ttl_ms < 1000 || r->ttl_ms > 3600000)
        return cli_usage_error(r->cli, "--ttl must be from 1s to 1h");
    if (r->grace_ms > CLI_DELAY_MAX_MS)
        return cli_usage_error(r->cli, "--kill-grace must be at most 10m");
    r->cmd = argv + a.i;
    return -1;
}

/* ---- taking the lock -------------------------------------------------- */

/* One request for the hold, waiting up to o->wait_ms. */
static int take_once(struct run *r, const struct dlock_acquire_options *o)
{
    switch (r->kind) {
    case RUN_SEM:
        return dlock_sem_acquire(r->session, r->name, (uint32_t)r->permits, 1,
                                 o, &r->sem);
    case RUN_ELECT:
        return dlock_campaign(r->session, r->name, r->value, strlen(r->value),
                              o, &r->lead);
    default:
        return r->shared
                   ? dlock_lock_acquire_shared(r->session, r->name, o, &r->lock)
                   : dlock_lock_acquire(r->session, r->name, o, &r->lock);
    }
}

/* The hold's fencing token, safe-until (0 once lost) and loss. */
static uint64_t hold_token(const struct run *r)
{
    return r->kind == RUN_SEM     ? dlock_sem_token(r->sem)
           : r->kind == RUN_ELECT ? dlock_leadership_token(r->lead)
                                  : dlock_lock_token(r->lock);
}

static uint64_t hold_safe_until(const struct run *r)
{
    return r->kind == RUN_SEM     ? dlock_sem_safe_until(r->sem)
           : r->kind == RUN_ELECT ? dlock_leadership_safe_until(r->lead)
                                  : dlock_lock_safe_until(r->lock);
}

static bool hold_lost(const struct run *r)
{
    return r->kind == RUN_SEM     ? dlock_sem_lost(r->sem)
           : r->kind == RUN_ELECT ? dlock_leadership_lost(r->lead)
                                  : dlock_lock_lost(r->lock);
}

static int acquire(struct run *r)
{
    struct dlock_acquire_options o;
    dlock_acquire_options_init(&o);
    o.owner = r->identity;
    /* A lost lease leaves the lock ungrantable for the kill grace: the time
     * CMD may still run after the SIGTERM. */
    o.delay_ms = r->grace_ms;
    uint64_t left = r->wait_ms;
    for (;;) {
        o.wait_ms = left < DAY_MS ? left : DAY_MS;
        int err = take_once(r, &o);
        if (err != DLOCK_EWAIT || left == o.wait_ms)
            return err;
        if (left != RUN_FOREVER)
            left -= o.wait_ms;
    }
}

/* Opens the session and takes the lock, off the main thread, which keeps
 * answering signals meanwhile. */
static void *acquire_thread(void *arg)
{
    struct run *r = arg;
    r->err = dlock_session_open(r->client, r->ttl_ms, 0, &r->session);
    if (r->err == 0)
        r->err = acquire(r);
    if (r->err != 0)
        snprintf(r->errmsg, sizeof r->errmsg, "%s", dlock_errmsg(r->client));
    atomic_store(&r->taken, true);
    pthread_kill(r->main_thread, SIGUSR1);
    return NULL;
}

/* Ends dlock by sig, as if it had not been caught (a shell sees 128+sig),
 * after saying why. The server drops the wait, or the lock if it was just
 * granted, when the session's lease ends. */
static _Noreturn void die_by_signal(struct run *r, int sig)
{
    report_error(r->cli, 128 + sig,
                 "%s: interrupted by signal %d while waiting for the lock; "
                 "CMD was not run",
                 r->name, sig);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    signal(sig, SIG_DFL);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    raise(sig);
    _exit(128 + sig);
}

static bool passed_on(int sig)
{
    return sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT;
}

/* Waits for the lock. Returns 0 with r->lock, or an exit code after
 * reporting. */
static int take_lock(struct run *r, const sigset_t *set)
{
    pthread_t t;
    int e = pthread_create(&t, NULL, acquire_thread, r);
    if (e != 0)
        return report_error(r->cli, CLI_EXIT_OSERR, "cannot start a thread: %s",
                            strerror(e));
    while (!atomic_load(&r->taken)) {
        int sig = sigwaitinfo(set, NULL);
        if (passed_on(sig))
            die_by_signal(r, sig);
    }
    pthread_join(t, NULL);
    if (r->err == 0)
        return 0;
    if (r->err == DLOCK_EHELD || r->err == DLOCK_EWAIT)
        return report_failure_detail(r->cli, r->err, r->name, r->errmsg);
    if (r->err == DLOCK_ENOSESSION) /* could not keep the session alive */
        return report_error(r->cli, CLI_EXIT_UNAVAILABLE,
                            "%s: the session ended while waiting (the "
                            "cluster was unreachable for longer than the "
                            "TTL); CMD was not run",
                            r->name);
    return report_failure_detail(r->cli, r->err, r->name, r->errmsg);
}

static void lost_cb(struct dlock_session *s, void *arg)
{
    struct run *r = arg;
    (void)s;
    pthread_kill(r->main_thread, SIGUSR1); /* wakes the supervision */
}

/* The server ended the hold (LOCK.REVOKE): the supervision finds it lost. */
static void hold_lost_cb(struct dlock_session *s, const char *name,
                         const char *owner, uint64_t token, void *arg)
{
    lost_cb(s, arg);
}

/* ---- supervising CMD -------------------------------------------------- */

/* Waits up to ms (UINT64_MAX: no limit) for a signal of set; returns it,
 * or 0. */
static int wait_signal(const sigset_t *set, uint64_t ms)
{
    if (ms == UINT64_MAX) {
        int sig = sigwaitinfo(set, NULL);
        return sig > 0 ? sig : 0;
    }
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* Runs until CMD has ended: passes signals on, and stops CMD when the
 * lease can no longer be proven for a tenth of the TTL more. */
static void supervise(struct run *r, struct child *ch, const sigset_t *set)
{
    uint64_t margin = r->ttl_ms / 10, kill_at = 0;
    bool killed = false;
    char grace[32];
    duration_format(r->grace_ms, grace, sizeof grace);
    for (;;) {
        uint64_t now = dlock_now_ms();
        uint64_t safe = hold_safe_until(r);
        if (!r->lost && (hold_lost(r) || safe == 0 || now + margin >= safe)) {
            r->lost = true;
            /* The session lives and the hold is gone: the server took it. */
            bool revoked = hold_lost(r) && !dlock_session_lost(r->session) &&
                           dlock_session_safe_until(r->session) > now + margin;
            fprintf(stderr,
                    "dlock %s: %s: %s; SIGTERM to CMD (process group %ld), "
                    "SIGKILL in %s\n",
                    r->cli->verb, r->name,
                    revoked ? "the server ended the hold (an administrator's "
                              "revoke)"
                            : "the lease can no longer be proven",
                    (long)ch->pid, grace);
            child_signal(ch, SIGTERM);
            kill_at = now + r->grace_ms;
        }
        if (r->lost && !killed && now >= kill_at) {
            child_signal(ch, SIGKILL);
            killed = true;
        }
        if (child_ended(ch))
            break;
        uint64_t until = UINT64_MAX;
        if (!r->lost)
            until = safe - margin; /* above now: checked above */
        else if (!killed)
            until = kill_at;
        int sig = wait_signal(set, until == UINT64_MAX ? UINT64_MAX
                                   : until > now       ? until - now
                                                       : 0);
        if (passed_on(sig))
            child_signal(ch, sig);
    }
    /* CMD is gone; once the lease is lost nothing it left in its group
     * may go on. */
    if (r->lost)
        child_signal(ch, SIGKILL);
    child_reap(ch);
}

/* ---- the verb --------------------------------------------------------- */

static void json_result(const struct run *r, const struct child *ch, int code)
{
    struct json j;
    json_begin(&j, stdout);
    json_bool(&j, "ok", !r->lost);
    json_int(&j, "exit", code);
    if (r->lost) {
        json_str(&j, "error", "lost");
        json_str(&j, "message", "the lease was lost while CMD ran");
    }
    json_str(&j, "name", r->name);
    json_u64(&j, "token", hold_token(r));
    if (WIFSIGNALED(ch->status)) {
        json_null(&j, "cmd_exit");
        json_int(&j, "cmd_signal", WTERMSIG(ch->status));
    } else {
        json_int(&j, "cmd_exit", WEXITSTATUS(ch->status));
        json_null(&j, "cmd_signal");
    }
    json_bool(&j, "lost", r->lost);
    json_end(&j);
}

/* Runs CMD under the lock; returns the exit code. */
static int run_locked(struct run *r, struct child_cmd *cmd, const sigset_t *set,
                      const sigset_t *old_mask)
{
    struct child ch;
    uint64_t token = hold_token(r);
    int rc = child_cmd_env(r->cli, cmd, r->name, token, cli_servers(r->cli));
    if (rc == 0)
        rc = child_start(r->cli, &ch, cmd, old_mask);
    if (rc != 0)
        return rc;
    supervise(r, &ch, set);
    if (r->lost) {
        rc = CLI_EXIT_LOST;
        fprintf(stderr,
                "dlock %s: %s: exit 76: the lease was lost while CMD ran "
                "(CMD's status was %d)\n",
                r->cli->verb, r->name, child_exit_code(ch.status));
    } else {
        rc = child_exit_code(ch.status);
    }
    if (r->cli->json)
        json_result(r, &ch, rc);
    return rc;
}

/* Closes the session, which releases the lock (the next waiter gets it at
 * once): one request, also when the lease was lost and the cluster does
 * not answer. The exit code stays CMD's: a lock not released ends with the
 * session's lease. */
static void finish(struct run *r)
{
    bool held = r->lock != NULL || r->sem != NULL || r->lead != NULL;
    /* A leader resigns first: the next candidate leads at once, also if
     * the close that follows gets no answer. */
    if (r->lead != NULL && !r->lost) {
        int err = dlock_resign(r->lead);
        r->lead = NULL;
        if (err != 0)
            fprintf(stderr,
                    "dlock %s: %s: warning: the resign failed: %s (%s)\n",
                    r->cli->verb, r->name, dlock_strerror(err),
                    dlock_errmsg(r->client));
    }
    if (r->session != NULL) {
        int err = dlock_session_close(r->session);
        if (err != 0 && held && !r->lost)
            fprintf(stderr,
                    "dlock %s: %s: warning: the release failed: %s (%s); the "
                    "hold ends with the session's lease\n",
                    r->cli->verb, r->name, dlock_strerror(err),
                    dlock_errmsg(r->client));
        r->session = NULL;
    }
    /* The handles stay valid after the close, reporting the hold lost;
     * releasing them frees them. */
    if (r->lock != NULL)
        dlock_lock_release(r->lock);
    if (r->sem != NULL)
        dlock_sem_release(r->sem);
    if (r->lead != NULL)
        dlock_resign(r->lead);
    r->lock = NULL;
    r->sem = NULL;
    r->lead = NULL;
    dlock_client_free(r->client);
    r->client = NULL;
}

/* dlock run and dlock elect: the hold of kind (RUN_LOCK for run; --semaphore
 * makes it RUN_SEM). */
static int run_kind_main(struct cli *cli, enum run_kind kind, int argc,
                         char **argv)
{
    struct run r = {.cli = cli,
                    .kind = kind,
                    .wait_ms = RUN_FOREVER,
                    .ttl_ms = 15000,
                    .grace_ms = 10000};
    struct child_cmd cmd;
    sigset_t set, old_mask;
    int rc = scan(&r, argc, argv);
    if (rc >= 0)
        return rc;
    if ((rc = child_cmd_init(cli, &cmd, r.cmd)) != 0)
        return rc;
    /* Signals are taken synchronously by the main thread; every thread
     * the library starts inherits the mask. A SIGCHLD ignored by whoever
     * started dlock would make CMD's status unobtainable. */
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old_mask);
    r.main_thread = pthread_self();
    atomic_init(&r.taken, false);
    cli_identity(r.identity, sizeof r.identity);
    if ((rc = cli_client(cli, r.identity, &r.client)) == 0 &&
        (rc = take_lock(&r, &set)) == 0) {
        dlock_session_on_lost(r.session, lost_cb, &r);
        dlock_session_on_hold_lost(r.session, hold_lost_cb, &r);
        rc = run_locked(&r, &cmd, &set, &old_mask);
    }
    /* CMD has ended: from now on a signal ends dlock as it would any
     * program, also while the close waits for a cluster that does not
     * answer. (SIG_IGN drops a pending wake-up of lost_cb.) */
    signal(SIGUSR1, SIG_IGN);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    finish(&r);
    child_cmd_close(&cmd);
    return rc;
}

int run_main(struct cli *cli, int argc, char **argv)
{
    return run_kind_main(cli, RUN_LOCK, argc, argv);
}

int elect_main(struct cli *cli, int argc, char **argv)
{
    return run_kind_main(cli, RUN_ELECT, argc, argv);
}
