/* child.c - CMD of `dlock run`: found on $PATH, started in a process group
 * of its own with the lock in its environment, signalled as a group, and
 * reaped. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"

extern char **environ;

/* 0 if path is an executable regular file, else an errno value. */
static int executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    if (!S_ISREG(st.st_mode))
        return EACCES;
    return access(path, X_OK) == 0 ? 0 : errno;
}

/* Looks for name in the directories of $PATH, as execvp does: the first
 * executable one wins; one found but not executable counts if no other
 * is. Returns 0 with *out malloc'd, or an errno value. */
static int search_path(const char *name, char **out)
{
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    int found = ENOENT;
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        char *full;
        /* An empty entry is the current directory. */
        if (asprintf(&full, "%.*s/%s", n > 0 ? (int)n : 1, n > 0 ? p : ".",
                     name) < 0)
            return ENOMEM;
        int e = executable(full);
        if (e == 0) {
            *out = full;
            return 0;
        }
        free(full);
        if (e == EACCES)
            found = EACCES;
        if (end == NULL)
            return found;
        p = end;
    }
}

int child_cmd_init(const struct cli *cli, struct child_cmd *cmd, char **argv)
{
    int argc = 0, e;
    memset(cmd, 0, sizeof *cmd);
    cmd->argv = argv;
    if (strchr(argv[0], '/') != NULL) {
        e = executable(argv[0]);
        if (e == 0 && (cmd->path = strdup(argv[0])) == NULL)
            e = ENOMEM;
    } else {
        e = search_path(argv[0], &cmd->path);
    }
    if (e == ENOENT || e == ENOTDIR)
        return report_error(cli, CLI_EXIT_NOT_FOUND, "%s: command not found",
                            argv[0]);
    if (e == ENOMEM)
        return report_error(cli, CLI_EXIT_OSERR, "out of memory");
    if (e != 0)
        return report_error(cli, CLI_EXIT_CANNOT_EXEC, "%s: %s", argv[0],
                            strerror(e));
    while (argv[argc] != NULL)
        argc++;
    cmd->sh_argv = calloc((size_t)argc + 2, sizeof *cmd->sh_argv);
    if (cmd->sh_argv == NULL) {
        child_cmd_close(cmd);
        return report_error(cli, CLI_EXIT_OSERR, "out of memory");
    }
    cmd->sh_argv[0] = "sh";
    cmd->sh_argv[1] = cmd->path;
    for (int i = 1; i < argc; i++)
        cmd->sh_argv[i + 1] = argv[i];
    return 0;
}

static bool is_ours(const char *var)
{
    return strncmp(var, "DLOCK_NAME=", 11) == 0 ||
           strncmp(var, "DLOCK_TOKEN=", 12) == 0 ||
           strncmp(var, "DLOCK_SERVERS=", 14) == 0;
}

int child_cmd_env(const struct cli *cli, struct child_cmd *cmd,
                  const char *name, uint64_t token, const char *servers)
{
    size_t n = 0, k = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 4, sizeof *env);
    if (env == NULL)
        return report_error(cli, CLI_EXIT_OSERR, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!is_ours(environ[i]))
            env[k++] = environ[i];
    /* Ours go last, and are the ones freed by child_cmd_close. */
    cmd->envp = env;
    if (asprintf(&env[k++], "DLOCK_NAME=%s", name) < 0 ||
        asprintf(&env[k++], "DLOCK_TOKEN=%llu", (unsigned long long)token) <
            0 ||
        asprintf(&env[k++], "DLOCK_SERVERS=%s", servers) < 0) {
        env[k - 1] = NULL;
        return report_error(cli, CLI_EXIT_OSERR, "out of memory");
    }
    return 0;
}

void child_cmd_close(struct child_cmd *cmd)
{
    if (cmd->envp != NULL) {
        size_t n = 0;
        while (cmd->envp[n] != NULL)
            n++;
        /* Our own variables are the last ones, up to three. */
        for (size_t i = n; i > 0 && is_ours(cmd->envp[i - 1]); i--)
            free(cmd->envp[i - 1]);
        free(cmd->envp);
    }
    free(cmd->sh_argv);
    free(cmd->path);
    memset(cmd, 0, sizeof *cmd);
}

/* In the child, between fork and exec: only async-signal-safe calls. On
 * failure the errno of exec goes to the parent through fd. */
static void exec_child(const struct child_cmd *cmd, const sigset_t *mask,
                       pid_t parent, int fd)
{
    setpgid(0, 0);
    /* Dies with dlock: a CMD left running without its supervisor would
     * outlive the lease unnoticed. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(CLI_EXIT_OSERR); /* dlock died before the prctl */
    sigprocmask(SIG_SETMASK, mask, NULL);
    execve(cmd->path, cmd->argv, cmd->envp);
    if (errno == ENOEXEC)
        execve("/bin/sh", cmd->sh_argv, cmd->envp);
    int e = errno;
    ssize_t unused = write(fd, &e, sizeof e);
    (void)unused;
    _exit(CLI_EXIT_CANNOT_EXEC);
}

int child_start(const struct cli *cli, struct child *ch,
                const struct child_cmd *cmd, const sigset_t *mask)
{
    int fds[2], e = 0;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return report_error(cli, CLI_EXIT_OSERR, "pipe: %s", strerror(errno));
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        e = errno;
        close(fds[0]);
        close(fds[1]);
        return report_error(cli, CLI_EXIT_OSERR, "fork: %s", strerror(e));
    }
    if (pid == 0)
        exec_child(cmd, mask, parent, fds[1]);
    close(fds[1]);
    /* The child does the same: whichever runs first, the group exists
     * before dlock signals it. (EACCES once it has exec'd: fine.) */
    setpgid(pid, pid);
    memset(ch, 0, sizeof *ch);
    ch->pid = pid;
    ssize_t n;
    do
        n = read(fds[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n != (ssize_t)sizeof e)
        return 0; /* the pipe closed on exec */
    child_reap(ch);
    return report_error(cli,
                        e == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_CANNOT_EXEC,
                        "%s: %s", cmd->argv[0], strerror(e));
}

void child_signal(const struct child *ch, int sig)
{
    kill(-ch->pid, sig);
}

bool child_ended(struct child *ch)
{
    siginfo_t si;
    if (ch->ended)
        return true;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)ch->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        si.si_pid == ch->pid)
        ch->ended = true;
    return ch->ended;
}

void child_reap(struct child *ch)
{
    while (waitpid(ch->pid, &ch->status, 0) < 0 && errno == EINTR)
        ;
    ch->ended = true;
}

int child_exit_code(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
