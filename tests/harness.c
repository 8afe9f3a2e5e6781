/* harness.c - runs the registered tests, each in a child process. */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 1024

struct test {
    const char *suite;
    const char *name;
    harness_fn fn;
    unsigned timeout_s;
};

/* What a skipped test's process exits with (as automake's tests do). */
#define SKIP_STATUS 77

static struct test tests[MAX_TESTS];
static unsigned n_tests;
static const struct test *running; /* in the test's process */
static char tmpdir[256];

void harness_register(const char *suite, const char *name, harness_fn fn,
                      unsigned timeout_s)
{
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "harness: too many tests\n");
        exit(2);
    }
    tests[n_tests++] = (struct test){suite, name, fn, timeout_s};
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

const char *harness_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/dlock-test-XXXXXX",
                 base ? base : "/tmp");
        if (mkdtemp(tmpdir) == NULL)
            harness_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
    }
    return tmpdir;
}

static void remove_tmpdir(void)
{
    if (tmpdir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: could not remove %s\n", tmpdir);
    }
}

void harness_skip(const char *fmt, ...)
{
    va_list ap;
    printf("SKIPPED %s.%s: ", running->suite, running->name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    remove_tmpdir();
    _exit(SKIP_STATUS);
}

static bool selected(const struct test *t, int argc, char **argv)
{
    char full[256];
    if (argc < 2)
        return true;
    snprintf(full, sizeof full, "%s.%s", t->suite, t->name);
    for (int i = 1; i < argc; i++)
        if (strstr(full, argv[i]) != NULL)
            return true;
    return false;
}

enum outcome { PASSED, FAILED, SKIPPED };

/* Runs one test in a child and says how it went (a skipped test has said
 * why itself). */
static enum outcome run_one(const struct test *t)
{
    struct timespec t0, t1;
    int status;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        return FAILED;
    }
    if (pid == 0) {
        running = t;
        setpgid(0, 0);
        alarm(t->timeout_s);
        t->fn();
        remove_tmpdir();
        fflush(NULL);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    kill(-pid, SIGKILL); /* anything the test left running */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS)
        return SKIPPED;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok)
        printf("ok   %s.%s (%.0f ms)\n", t->suite, t->name, ms);
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        printf("FAIL %s.%s: timed out after %u s\n", t->suite, t->name,
               t->timeout_s);
    else if (WIFSIGNALED(status))
        printf("FAIL %s.%s: killed by signal %d\n", t->suite, t->name,
               WTERMSIG(status));
    else
        printf("FAIL %s.%s\n", t->suite, t->name);
    fflush(stdout);
    return ok ? PASSED : FAILED;
}

int main(int argc, char **argv)
{
    unsigned count[3] = {0, 0, 0};
    for (unsigned i = 0; i < n_tests; i++)
        if (selected(&tests[i], argc, argv))
            count[run_one(&tests[i])]++;
    unsigned passed = count[PASSED], failed = count[FAILED];
    if (count[SKIPPED] > 0)
        printf("%u passed, %u failed, %u skipped\n", passed, failed,
               count[SKIPPED]);
    else
        printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
