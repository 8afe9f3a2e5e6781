/* fenced-store.c - a tiny storage service that honours fencing tokens: it
 * refuses a write whose token is lower than the highest it has accepted,
 * so a lock holder that was paused past its lease, and came back after
 * another took the lock, cannot overwrite the newer holder's data.
 *
 *   fenced-store serve SOCKET                     serve on a Unix socket
 *   fenced-store write SOCKET TOKEN KEY VALUE...  prints OK or STALE
 *   fenced-store read SOCKET KEY                  prints VALUE token value
 *
 * Protocol, one line each way: "WRITE token key value" answers "OK" or
 * "STALE"; "READ key" answers "VALUE token value" or "NONE"; anything else
 * "ERR ...". State is kept in memory only: this is an example. Standalone
 * C11 on Linux; it does not use dlock at all, only the tokens dlock gives. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNS 64
#define MAX_KEYS 256
#define LINE_MAX_LEN 1024

struct entry {
    char key[64];
    char value[512];
    uint64_t token;
};

struct conn {
    int fd;
    size_t len;
    char buf[LINE_MAX_LEN];
};

static struct entry entries[MAX_KEYS];
static size_t n_entries;
static uint64_t highest; /* the highest token accepted so far */

static int unix_socket(const char *path, struct sockaddr_un *sa)
{
    if (strlen(path) >= sizeof sa->sun_path) {
        fprintf(stderr, "fenced-store: socket path too long: %s\n", path);
        return -1;
    }
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    strcpy(sa->sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        perror("fenced-store: socket");
    return fd;
}

static struct entry *find(const char *key, bool create)
{
    for (size_t i = 0; i < n_entries; i++)
        if (strcmp(entries[i].key, key) == 0)
            return &entries[i];
    if (!create || n_entries == MAX_KEYS)
        return NULL;
    struct entry *e = &entries[n_entries++];
    snprintf(e->key, sizeof e->key, "%s", key);
    return e;
}

/* The fencing rule: a token below the highest accepted is refused. An
 * equal token is the same holder writing again. */
static void do_write(char *args, char *reply, size_t n)
{
    char *token_s = strtok(args, " "), *key = strtok(NULL, " ");
    char *value = strtok(NULL, "");
    char *end;
    if (token_s == NULL || key == NULL || value == NULL) {
        snprintf(reply, n, "ERR usage: WRITE token key value");
        return;
    }
    uint64_t token = strtoull(token_s, &end, 10);
    if (*end != '\0') {
        snprintf(reply, n, "ERR bad token");
        return;
    }
    if (token < highest) {
        printf("refused  token %" PRIu64 " (highest %" PRIu64 "): %s = %s\n",
               token, highest, key, value);
        snprintf(reply, n, "STALE");
        return;
    }
    struct entry *e = find(key, true);
    if (e == NULL) {
        snprintf(reply, n, "ERR full");
        return;
    }
    highest = token;
    e->token = token;
    snprintf(e->value, sizeof e->value, "%s", value);
    printf("accepted token %" PRIu64 ": %s = %s\n", token, key, value);
    snprintf(reply, n, "OK");
}

static void handle_line(char *line, char *reply, size_t n)
{
    if (strncmp(line, "WRITE ", 6) == 0) {
        do_write(line + 6, reply, n);
    } else if (strncmp(line, "READ ", 5) == 0) {
        struct entry *e = find(line + 5, false);
        if (e == NULL)
            snprintf(reply, n, "NONE");
        else
            snprintf(reply, n, "VALUE %" PRIu64 " %s", e->token, e->value);
    } else {
        snprintf(reply, n, "ERR unknown command");
    }
    fflush(stdout);
}

/* Reads what the connection sent and answers each complete line; false
 * when it is to be closed. */
static bool serve_conn(struct conn *c)
{
    ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (r <= 0)
        return false;
    c->len += (size_t)r;
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
        char reply[LINE_MAX_LEN + 64];
        *nl = '\0';
        if (nl > c->buf && nl[-1] == '\r')
            nl[-1] = '\0';
        handle_line(c->buf, reply, sizeof reply);
        strcat(reply, "\n");
        if (write(c->fd, reply, strlen(reply)) < 0)
            return false;
        c->len -= (size_t)(nl + 1 - c->buf);
        memmove(c->buf, nl + 1, c->len);
    }
    return c->len < sizeof c->buf; /* a line too long: close */
}

static int serve(const char *path)
{
    struct sockaddr_un sa;
    struct conn conns[MAX_CONNS];
    struct pollfd pfd[MAX_CONNS + 1];
    size_t n = 0;
    int lfd = unix_socket(path, &sa);
    if (lfd < 0)
        return 1;
    unlink(path); /* left by an earlier run */
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(lfd, 16) != 0) {
        fprintf(stderr, "fenced-store: %s: %s\n", path, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("serving on %s\n", path);
    fflush(stdout);
    for (;;) {
        pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (size_t i = 0; i < n; i++)
            pfd[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        if (poll(pfd, n + 1, -1) < 0 && errno != EINTR)
            return 1;
        for (size_t i = n; i > 0; i--) {
            if (pfd[i].revents == 0 || serve_conn(&conns[i - 1]))
                continue;
            close(conns[i - 1].fd);
            conns[i - 1] = conns[--n];
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 && n == MAX_CONNS)
                close(fd);
            else if (fd >= 0)
                conns[n++] = (struct conn){.fd = fd};
        }
    }
}

/* Sends one request line and prints the answer. Exit code: 0 for OK or
 * VALUE, 1 for STALE or NONE, 2 for anything else. */
static int request(const char *path, const char *line)
{
    struct sockaddr_un sa;
    char reply[LINE_MAX_LEN + 64];
    size_t len = 0;
    int fd = unix_socket(path, &sa);
    if (fd < 0)
        return 2;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "fenced-store: %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (write(fd, line, strlen(line)) < 0)
        return 2;
    while (len < sizeof reply - 1 && memchr(reply, '\n', len) == NULL) {
        ssize_t r = read(fd, reply + len, sizeof reply - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    reply[len] = '\0';
    fputs(reply, stdout);
    if (strncmp(reply, "OK", 2) == 0 || strncmp(reply, "VALUE", 5) == 0)
        return 0;
    if (strncmp(reply, "STALE", 5) == 0 || strncmp(reply, "NONE", 4) == 0)
        return 1;
    return 2;
}

int main(int argc, char **argv)
{
    char line[LINE_MAX_LEN];
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2]);
    for (int i = 2; i < argc; i++) {
        if (strchr(argv[i], '\n') != NULL) {
            fprintf(stderr, "fenced-store: no newlines in arguments\n");
            return 2;
        }
    }
    if (argc >= 6 && strcmp(argv[1], "write") == 0) {
        /* VALUE may be several words: they are joined with spaces. */
        int len = snprintf(line, sizeof line, "WRITE %s %s", argv[3], argv[4]);
        for (int i = 5; i < argc && len < (int)sizeof line; i++)
            len +=
                snprintf(line + len, sizeof line - (size_t)len, " %s", argv[i]);
        if (len >= (int)sizeof line - 1) {
            fprintf(stderr, "fenced-store: the request is too long\n");
            return 2;
        }
        strcat(line, "\n");
        return request(argv[2], line);
    }
    if (argc == 4 && strcmp(argv[1], "read") == 0) {
        snprintf(line, sizeof line, "READ %s\n", argv[3]);
        return request(argv[2], line);
    }
    fprintf(stderr, "usage: fenced-store serve SOCKET\n"
                    "       fenced-store write SOCKET TOKEN KEY VALUE...\n"
                    "       fenced-store read SOCKET KEY\n");
    return 2;
}
