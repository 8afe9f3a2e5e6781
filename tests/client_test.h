/* client_test.h - what the tests of libdlock share (its unit tests in
 * tests/unit/test_client*.c, its integration tests in tests/integration/):
 * dlockd processes on 127.0.0.1 (free ports, data in harness_tmpdir(),
 * killed at the end; the binary is $DLOCKD, default build/dlockd), and a
 * thread-safe failing allocator that counts live blocks. */
#ifndef DLOCK_CLIENT_TEST_H
#define DLOCK_CLIENT_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "dlock.h"
#include "harness.h"

#define CT_MAX_SERVERS 5

struct ct_server {
    int id;
    int port, raft_port;
    pid_t pid; /* 0 when not running */
    char addr[64];
};

#define CT_MAX_ARGS 8

struct ct_cluster {
    struct ct_server s[CT_MAX_SERVERS];
    int n;
    char addrs[CT_MAX_SERVERS * 64]; /* "a:1,b:2,..." */
    /* More arguments of every dlockd ("--watch-history", "16", ...). */
    const char *args[CT_MAX_ARGS];
    int n_args;
};

static inline void ct_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A TCP port of 127.0.0.1 that was free a moment ago. */
static inline int ct_free_port(void)
{
    static int given[64];
    static int n_given;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        CHECK(fd >= 0);
        CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
        CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
        close(fd);
        int port = ntohs(a.sin_port), seen = 0;
        for (int i = 0; i < n_given; i++)
            seen |= given[i] == port;
        if (!seen && n_given < 64) {
            given[n_given++] = port;
            return port;
        }
    }
}

/* Starts server i of cl (ports fixed when cl was made), with --peers when
 * the cluster has more than one server. */
static inline void ct_start(struct ct_cluster *cl, int i)
{
    struct ct_server *s = &cl->s[i];
    char listen[64], raft[64], data[512], log[512], id[16], peers[512];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    snprintf(raft, sizeof raft, "127.0.0.1:%d", s->raft_port);
    snprintf(data, sizeof data, "%s/n%d", harness_tmpdir(), s->id);
    snprintf(log, sizeof log, "%s/n%d.log", harness_tmpdir(), s->id);
    snprintf(id, sizeof id, "%d", s->id);
    size_t off = 0;
    peers[0] = '\0';
    for (int j = 0; j < cl->n; j++)
        off += (size_t)snprintf(peers + off, sizeof peers - off,
                                "%s%d=127.0.0.1:%d", j ? "," : "", cl->s[j].id,
                                cl->s[j].raft_port);
    const char *bin = getenv("DLOCKD");
    if (bin == NULL || *bin == '\0')
        bin = "build/dlockd";
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        const char *argv[20 + CT_MAX_ARGS] = {
            bin,    "--id",          id,     "--listen",
            listen, "--raft",        raft,   "--data",
            data,   "--election-ms", "300",  "--heartbeat-ms",
            "30",   "--log-level",   "warn", "--http",
            "off"};
        int argc = 17;
        for (int k = 0; k < cl->n_args; k++)
            argv[argc++] = cl->args[k];
        if (cl->n > 1) {
            argv[argc++] = "--peers";
            argv[argc++] = peers;
        }
        argv[argc] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
}

/* The index of the server of cl at addr ("host:port"), failing the test
 * when there is none. */
static inline int ct_server_at(const struct ct_cluster *cl, const char *addr)
{
    for (int i = 0; i < cl->n; i++)
        if (strcmp(cl->s[i].addr, addr) == 0)
            return i;
    CHECK_MSG(false, "no server at '%s'", addr);
    return -1;
}

/* Kills server i (a crash: SIGKILL) and reaps it. */
static inline void ct_kill(struct ct_cluster *cl, int i)
{
    if (cl->s[i].pid > 0) {
        kill(cl->s[i].pid, SIGKILL);
        waitpid(cl->s[i].pid, NULL, 0);
        cl->s[i].pid = 0;
    }
}

static inline void ct_stop(struct ct_cluster *cl)
{
    for (int i = 0; i < cl->n; i++)
        ct_kill(cl, i);
}

/* Makes a cluster of n servers on free ports and starts them all, each
 * with the arguments args (NULL-terminated; NULL: none) added. */
static inline void ct_cluster_start_args(struct ct_cluster *cl, int n,
                                         const char *const *args)
{
    memset(cl, 0, sizeof *cl);
    cl->n = n;
    for (; args != NULL && *args != NULL; args++) {
        CHECK(cl->n_args < CT_MAX_ARGS);
        cl->args[cl->n_args++] = *args;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        struct ct_server *s = &cl->s[i];
        s->id = i + 1;
        s->port = ct_free_port();
        s->raft_port = ct_free_port();
        snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", s->port);
        off += (size_t)snprintf(cl->addrs + off, sizeof cl->addrs - off, "%s%s",
                                i ? "," : "", s->addr);
    }
    for (int i = 0; i < n; i++)
        ct_start(cl, i);
}

/* Makes a cluster of n servers on free ports and starts them all. */
static inline void ct_cluster_start(struct ct_cluster *cl, int n)
{
    ct_cluster_start_args(cl, n, NULL);
}

/* The index of the server that is leader (as it says itself, naming its
 * own address), waiting up to 15 s for one. */
static inline int ct_wait_leader(struct ct_cluster *cl, struct dlock_client *c)
{
    for (int tries = 0; tries < 300; tries++) {
        for (int i = 0; i < cl->n; i++) {
            struct dlock_cluster_info ci;
            if (cl->s[i].pid == 0 ||
                dlock_cluster_info(c, cl->s[i].addr, &ci) != 0)
                continue;
            if (strcmp(ci.role, "leader") == 0 &&
                strcmp(ci.leader_addr, cl->s[i].addr) == 0)
                return i;
        }
        ct_sleep_ms(50);
    }
    CHECK_MSG(false, "no leader in 15 s");
    return -1;
}

/* A client of cl with a short timeout, and cl's leader known to serve. */
static inline struct dlock_client *ct_client(struct ct_cluster *cl,
                                             uint64_t timeout_ms)
{
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = cl->addrs;
    o.timeout_ms = timeout_ms;
    o.name = "test";
    struct dlock_client *c = NULL;
    CHECK_EQ(dlock_client_new(&o, &c), 0);
    /* A fast probe client for the wait, so a server still starting does
     * not hold it up for a whole timeout. */
    struct dlock_client *probe = NULL;
    o.timeout_ms = 200;
    CHECK_EQ(dlock_client_new(&o, &probe), 0);
    ct_wait_leader(cl, probe);
    dlock_client_free(probe);
    return c;
}

/* ---- a failing allocator, safe with the library's threads ------------- */

static atomic_long ct_live;   /* blocks allocated and not freed */
static atomic_long ct_calls;  /* allocations attempted since ct_fail_at */
static atomic_long ct_fail_n; /* the attempt that fails; 0: none */

static inline void *ct_malloc(size_t n)
{
    long call = atomic_fetch_add(&ct_calls, 1) + 1;
    if (call == atomic_load(&ct_fail_n))
        return NULL;
    void *p = malloc(n);
    if (p != NULL)
        atomic_fetch_add(&ct_live, 1);
    return p;
}

static inline void *ct_realloc(void *p, size_t n)
{
    long call = atomic_fetch_add(&ct_calls, 1) + 1;
    if (call == atomic_load(&ct_fail_n))
        return NULL;
    void *q = realloc(p, n);
    if (q != NULL && p == NULL)
        atomic_fetch_add(&ct_live, 1);
    return q;
}

static inline void ct_free(void *p)
{
    atomic_fetch_sub(&ct_live, 1);
    free(p);
}

/* Routes alloc.h through the counting wrappers; attempt n (1 is the next
 * one) fails, 0: none does. The hooks are set once, at the first call,
 * before any thread of the library runs: the keepalive threads allocate
 * while later calls are made. */
static inline void ct_fail_at(long n)
{
    atomic_store(&ct_calls, 0);
    atomic_store(&ct_fail_n, n);
    if (alloc_hooks.malloc != ct_malloc) {
        alloc_hooks.malloc = ct_malloc;
        alloc_hooks.realloc = ct_realloc;
        alloc_hooks.free = ct_free;
    }
}

/* Counts the grants a watch delivers. */
static inline void ct_count_grants(void *arg, const struct dlock_change *ch)
{
    if (ch->event == DLOCK_CHANGE_GRANTED)
        atomic_fetch_add((atomic_int *)arg, 1);
}

/* A client c of cl whose calls, keeper and watch go some way of their own
 * (TLS, a login) holds name across a leader kill: a watch of name from
 * now (waited for, so that it sees both grants), a session (TTL 2 s) that
 * acquires it, the leader killed, the session kept alive at the new
 * leader for twice its TTL, the lock still its own with its token,
 * released and acquired again, the two grants seen by the watch. Between
 * the acquire and the kill, between(c, s) runs, if given. */
static inline void ct_hold_across_leader_kill(
    struct ct_cluster *cl, struct dlock_client *c, const char *name,
    void (*between)(struct dlock_client *c, struct dlock_session *s))
{
    atomic_int granted;
    atomic_init(&granted, 0);
    struct dlock_watch *w;
    CHECK_EQ(dlock_watch_start(c, name, DLOCK_WATCH_NOW, ct_count_grants,
                               &granted, &w),
             0);
    /* The watch starts where the server it reached is when its WATCH
     * arrives: the grants below must come after that. */
    for (int i = 0; i < 200 && dlock_watch_revision(w) == DLOCK_WATCH_NOW; i++)
        ct_sleep_ms(50);
    CHECK(dlock_watch_revision(w) != DLOCK_WATCH_NOW);
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 2000, 0, &s), 0);
    struct dlock_lock *l;
    CHECK_EQ(dlock_lock_acquire(s, name, NULL, &l), 0);
    if (between != NULL)
        between(c, s);
    int old = ct_wait_leader(cl, c);
    ct_kill(cl, old);
    CHECK(ct_wait_leader(cl, c) != old);
    ct_sleep_ms(4000); /* twice the TTL: kept alive at the new leader */
    CHECK(!dlock_session_lost(s));
    struct dlock_lock_status st;
    CHECK_EQ(dlock_lock_status(c, name, &st), 0);
    CHECK(st.held);
    CHECK_U64(st.token, dlock_lock_token(l));
    CHECK_EQ(dlock_lock_release(l), 0);
    CHECK_EQ(dlock_lock_acquire(s, name, NULL, &l), 0);
    for (int i = 0; i < 200 && atomic_load(&granted) < 2; i++)
        ct_sleep_ms(50);
    CHECK_EQ(atomic_load(&granted), 2);
    CHECK_EQ(dlock_lock_release(l), 0);
    CHECK_EQ(dlock_session_close(s), 0);
    dlock_watch_stop(w);
}

#endif
