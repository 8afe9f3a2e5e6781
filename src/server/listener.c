/* listener.c - the client port: connections within the process's file
 * descriptors and the caps, "LIMIT ..." to the others. libuv's listener
 * resets connections silently when accept fails for want of a descriptor,
 * so the socket is accepted from here. */
#include "server/listener.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/mem.h"
#include "raft/raft.h"
#include "server/conn.h"
#include "server/logger.h"
#include "server/peer.h"
#include "server/server.h"

/* Descriptors kept back from clients besides those open at the start: the
 * most the peer transport holds (peer.h, PEERS_MAX_FDS), a snapshot's (its
 * pipe, and the directory, file and rename of its end) and a margin for the
 * log's segments and libuv. docs/operations.md, "File descriptors". */
#define PEER_FDS PEERS_MAX_FDS
#define SNAPSHOT_FDS 8
#define MARGIN_FDS 16
/* Connections accepted in one turn of the loop, so that a flood of them
 * does not hold up timers and peers. */
#define ACCEPT_BATCH 64
/* With no descriptor even to answer, accepting pauses this long. */
#define PAUSE_MS 100
#define NOFILE_LOG_MS 60000

/* Descriptors open now (those of /proc/self/fd, less the directory's). */
static uint64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    uint64_t n = 0;
    if (d == NULL)
        return 64; /* no /proc: a guess */
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

/* The soft limit of open files, raised to the hard one. */
static uint64_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = rl;
        want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (1u << 20) : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl.rlim_cur = want.rlim_cur;
    }
    return rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
}

/* Sets l->max_clients from --max-clients and the descriptors left. */
static void budget(struct listener *l)
{
    uint64_t limit = raise_nofile();
    uint64_t keep = open_fds() + PEER_FDS + SNAPSHOT_FDS + MARGIN_FDS;
    uint64_t room = limit > keep ? limit - keep : 0;
    uint64_t want = l->srv->cfg->max_clients;
    l->max_clients = want < room ? want : room;
    if (l->max_clients == 0)
        l->max_clients = 1;
    if (l->max_clients < want)
        log_warn("at most %" PRIu64 " clients, not %" PRIu64
                 " (--max-clients): %" PRIu64 " open files allowed "
                 "(ulimit -n), %" PRIu64 " kept for the server itself",
                 l->max_clients, want, limit, keep);
}

/* Answers "-msg" to a connection not taken and closes it. What it sent
 * already is read first, so that closing does not reset the connection
 * before the answer is read. */
static void refuse(struct listener *l, int fd, const char *msg)
{
    char scratch[4096], line[256];
    for (int i = 0; i < 4; i++)
        if (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) <= 0)
            break;
    int n = snprintf(line, sizeof line, "-%s\r\n", msg);
    if (send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("refusing a client: %s", strerror(errno));
    close(fd);
    l->srv->rejected_conns++;
}

static void key_of(const struct sockaddr_storage *sa, uint8_t key[16],
                   uint32_t *len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    if (sa->ss_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        *len = 4;
        return;
    }
    const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (memcmp(a6, mapped, sizeof mapped) == 0) {
        memcpy(key, a6 + 12, 4);
        *len = 4;
        return;
    }
    memcpy(key, a6, 16);
    *len = 16;
}

struct listener_addr *listener_claim(struct listener *l,
                                     const struct sockaddr_storage *sa)
{
    uint8_t key[16];
    uint32_t len;
    key_of(sa, key, &len);
    struct listener_addr *a = map_str_get(&l->addrs, key, len);
    if (a == NULL) {
        a = mem_xcalloc(1, sizeof *a);
        memcpy(a->key, key, len);
        a->len = len;
        if (map_str_put(&l->addrs, a->key, len, a) != 0) {
            log_error("out of memory for a client's address");
            abort();
        }
    }
    if (a->n >= l->srv->cfg->max_clients_per_address)
        return NULL;
    if (a->n++ == 0 && a->auth_fails > 0)
        l->kept--;
    return a;
}

/* Records of addresses that have no connection and only failures to
 * remember: at most this many (then the oldest are not kept). */
#define KEPT_MAX 65536

static void forget(struct listener *l, struct listener_addr *a)
{
    map_str_del(&l->addrs, a->key, a->len);
    free(a);
}

void listener_release(struct listener *l, struct listener_addr *a)
{
    if (a == NULL || --a->n > 0)
        return;
    if (a->auth_fails > 0 && l->kept < KEPT_MAX)
        l->kept++;
    else
        forget(l, a);
}

void listener_forget(struct listener *l, uint64_t now, uint64_t ms)
{
    if (l->kept == 0)
        return;
    struct listener_addr *a;
    size_t pos = 0;
    /* A deletion shifts later entries back into the hole: look at its
     * slot again (one seen twice is harmless). */
    while ((a = map_str_next(&l->addrs, &pos, NULL, NULL)) != NULL) {
        if (a->n == 0 && now - a->auth_fail_ms >= ms) {
            l->kept--;
            forget(l, a);
            pos--;
            if (l->kept == 0)
                return;
        }
    }
}

static void on_pause_end(uv_timer_t *t);

/* Out of descriptors: the spare one makes room to answer one connection.
 * Logged once, then once a minute with a count. Whether there was one. */
static bool refuse_nofile(struct listener *l)
{
    uint64_t now = uv_now(l->srv->loop);
    if (l->spare_fd < 0)
        l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (l->spare_fd < 0) {
        uv_poll_stop(&l->poll);
        uv_timer_start(&l->pause, on_pause_end, PAUSE_MS, 0);
        return false;
    }
    close(l->spare_fd);
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        refuse(l, fd, "LIMIT too many open files");
        l->nofile_refused++;
    }
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (l->nofile_refused > 0 &&
        (!l->logged_nofile || now - l->nofile_logged_ms >= NOFILE_LOG_MS)) {
        log_warn("out of file descriptors: %" PRIu64 " client connection%s "
                 "answered LIMIT too many open files%s (raise ulimit -n, or "
                 "lower --max-clients)",
                 l->nofile_refused, l->nofile_refused == 1 ? "" : "s",
                 l->logged_nofile ? " in the last minute" : "");
        l->logged_nofile = true;
        l->nofile_logged_ms = now;
        l->nofile_refused = 0;
    }
    return fd >= 0;
}

/* One accepted connection: served, or refused past a cap. */
static void take(struct listener *l, int fd, const struct sockaddr_storage *sa)
{
    struct server *srv = l->srv;
    if (srv->n_conns >= l->max_clients) {
        refuse(l, fd, "LIMIT too many clients");
        return;
    }
    struct listener_addr *a = listener_claim(l, sa);
    if (a == NULL) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "LIMIT too many clients from this address "
                 "(--max-clients-per-address %" PRIu64 ")",
                 srv->cfg->max_clients_per_address);
        refuse(l, fd, msg);
        return;
    }
    conn_accept(srv, fd, sa, a);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct listener *l = h->data;
    (void)events;
    if (status < 0 || l->srv->stopping)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;
        int fd = accept4(l->fd, (struct sockaddr *)&sa, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            take(l, fd, &sa);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE) {
            if (!refuse_nofile(l))
                return;
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
            errno == ECONNABORTED || errno == EPROTO)
            return;
        log_warn("accepting a client: %s", strerror(errno));
        return;
    }
}

static void on_pause_end(uv_timer_t *t)
{
    struct listener *l = t->data;
    if (l->fd >= 0 && !l->srv->stopping)
        uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

static int open_socket(struct listener *l, const struct sockaddr_storage *sa)
{
    int one = 1;
    socklen_t len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6);
    l->fd =
        socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0 ||
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(l->fd, (const struct sockaddr *)sa, len) != 0 ||
        listen(l->fd, 511) != 0)
        return uv_translate_sys_error(errno);
    return 0;
}

int listener_start(struct listener *l, struct server *srv, char *err,
                   size_t errlen)
{
    struct sockaddr_storage sa;
    memset(l, 0, sizeof *l);
    l->srv = srv;
    l->fd = l->spare_fd = -1;
    map_str_init(&l->addrs);
    int rc = config_parse_addr(srv->cfg->listen, &sa) == 0 ? open_socket(l, &sa)
                                                           : UV_EINVAL;
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen for clients on %s (--listen): %s",
                 srv->cfg->listen, uv_strerror(rc));
        if (l->fd >= 0)
            close(l->fd);
        l->fd = -1;
        return -1;
    }
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    budget(l);
    uv_poll_init_socket(srv->loop, &l->poll, l->fd);
    l->poll.data = l;
    uv_timer_init(srv->loop, &l->pause);
    l->pause.data = l;
    uv_poll_start(&l->poll, UV_READABLE, on_readable);
    return 0;
}

static void closed_cb(uv_handle_t *h)
{
}

void listener_close(struct listener *l)
{
    if (l->fd < 0)
        return;
    uv_close((uv_handle_t *)&l->poll, closed_cb);
    uv_close((uv_handle_t *)&l->pause, closed_cb);
    close(l->fd);
    l->fd = -1;
    if (l->spare_fd >= 0)
        close(l->spare_fd);
    l->spare_fd = -1;
}
