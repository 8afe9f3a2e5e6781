/* datadir.c - a data directory's lock and identity (datadir.h). */
#include "server/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IDENTITY_TMP DATADIR_IDENTITY_FILE ".tmp"
#define IDENTITY_MAX 512

/* What the lock file says of its holder, on one line ("" if nothing). */
static void read_holder(int fd, char *out, size_t outlen)
{
    ssize_t n = pread(fd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

static int lock_dir(struct datadir *d, int dirfd, const char *dir,
                    const char *holder, char *err, size_t errlen)
{
    int fd =
        openat(dirfd, DATADIR_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s/%s: %s", dir, DATADIR_LOCK_FILE,
                 strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char who[256];
        read_holder(fd, who, sizeof who);
        close(fd);
        if (e == EWOULDBLOCK)
            snprintf(err, errlen,
                     "the data directory %s is in use by another dlockd (%s);"
                     " two servers must never share a data directory "
                     "(docs/operations.md): give this one its own --data",
                     dir, who[0] ? who : "it has not said who it is yet");
        else
            snprintf(err, errlen, "cannot lock %s/%s: %s", dir,
                     DATADIR_LOCK_FILE, strerror(e));
        return -1;
    }
    /* Who holds it, for whoever is refused next. The lock is the flock:
     * a holder that could not say who it is is still the holder, and the
     * one refused reads what is there (read_holder). */
    char line[512];
    int n = snprintf(line, sizeof line, "%s\n", holder);
    if (ftruncate(fd, 0) == 0 && n > 0)
        (void)!pwrite(fd, line,
                      (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, 0);
    d->lock_fd = fd;
    d->held = true;
    return 0;
}

/* Parses "server_id N", "dir_id HEX" and the optional "cluster_id HEX"
 * lines (0 when absent); 0, or -1 if one is missing or malformed. */
static int parse_identity(const char *text, uint64_t *server_id,
                          uint64_t *dir_id, uint64_t *cluster_id)
{
    const char *s = strstr(text, "\nserver_id ");
    const char *d = strstr(text, "\ndir_id ");
    const char *c = strstr(text, "\ncluster_id ");
    char *end;
    if (s == NULL || d == NULL)
        return -1;
    *cluster_id = 0;
    if (c != NULL) {
        errno = 0;
        *cluster_id = strtoull(c + 12, &end, 16);
        if (errno != 0 || end == c + 12 || *end != '\n')
            return -1;
    }
    errno = 0;
    *server_id = strtoull(s + 11, &end, 10);
    if (errno != 0 || end == s + 11 || *end != '\n')
        return -1;
    *dir_id = strtoull(d + 8, &end, 16);
    if (errno != 0 || end == d + 8 || *end != '\n' || *dir_id == 0)
        return -1;
    return 0;
}

/* Reads the identity: 1 if there is none, 0 if read, -1 on an error. */
static int read_identity(int dirfd, const char *dir, uint64_t *server_id,
                         uint64_t *dir_id, uint64_t *cluster_id, char *err,
                         size_t errlen)
{
    char text[IDENTITY_MAX + 2] = "\n";
    int fd = openat(dirfd, DATADIR_IDENTITY_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s/%s: %s", dir,
                 DATADIR_IDENTITY_FILE, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, text + 1, IDENTITY_MAX);
    close(fd);
    text[n > 0 ? n + 1 : 1] = '\0';
    if (n < 0 || parse_identity(text, server_id, dir_id, cluster_id) != 0) {
        snprintf(err, errlen,
                 "%s/%s is damaged; it says which server the directory "
                 "belongs to (docs/operations.md)",
                 dir, DATADIR_IDENTITY_FILE);
        return -1;
    }
    return 0;
}

/* Writes the identity durably: a temporary file, synced, renamed, and the
 * directory synced. */
static int write_identity(int dirfd, const char *dir, uint64_t server_id,
                          uint64_t dir_id, uint64_t cluster_id, char *err,
                          size_t errlen)
{
    char text[IDENTITY_MAX];
    int len = snprintf(text, sizeof text,
                       "# dlock data directory: it belongs to this server "
                       "alone; never share or copy it\n"
                       "server_id %" PRIu64 "\ndir_id %016" PRIx64 "\n",
                       server_id, dir_id);
    if (cluster_id != 0)
        len += snprintf(text + len, sizeof text - (size_t)len,
                        "cluster_id %016" PRIx64 "\n", cluster_id);
    /* e is the errno of the step that failed (EIO for a short write). */
    int e = 0;
    int fd = openat(dirfd, IDENTITY_TMP,
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = errno;
    } else {
        ssize_t n = write(fd, text, (size_t)len);
        if (n != len)
            e = n < 0 ? errno : EIO;
        else if (fsync(fd) != 0)
            e = errno;
        close(fd);
    }
    if (e == 0 &&
        renameat(dirfd, IDENTITY_TMP, dirfd, DATADIR_IDENTITY_FILE) != 0)
        e = errno;
    if (e == 0 && fsync(dirfd) != 0)
        e = errno;
    if (e != 0) {
        snprintf(err, errlen, "cannot write %s/%s: %s", dir,
                 DATADIR_IDENTITY_FILE, strerror(e));
        return -1;
    }
    return 0;
}

static uint64_t random_id(void)
{
    uint64_t v = 0;
    while (v == 0)
        if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
            v = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    return v;
}

static int check_identity(struct datadir *d, int dirfd, const char *dir,
                          uint64_t server_id, char *err, size_t errlen)
{
    uint64_t id = 0;
    int rc =
        read_identity(dirfd, dir, &id, &d->dir_id, &d->cluster_id, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0 && id != server_id) {
        snprintf(err, errlen,
                 "the data directory %s belongs to server %" PRIu64
                 " (%s/%s), not to --id %" PRIu64
                 ": each server needs a directory of its own, never a copy "
                 "of another's (docs/operations.md)",
                 dir, id, dir, DATADIR_IDENTITY_FILE, server_id);
        return -1;
    }
    if (rc == 0)
        return 0;
    /* A new directory, or one of a version before identities: stamp it. */
    d->dir_id = random_id();
    return write_identity(dirfd, dir, server_id, d->dir_id, 0, err, errlen);
}

int datadir_open(struct datadir *d, const char *dir, uint64_t server_id,
                 const char *holder, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->lock_fd = -1;
    d->server_id = server_id;
    if (strlen(dir) >= sizeof d->dir) {
        snprintf(err, errlen, "the data directory's name is too long");
        return -1;
    }
    strcpy(d->dir, dir);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the data directory %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(err, errlen, "cannot open the data directory %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    int rc = lock_dir(d, dirfd, dir, holder, err, errlen);
    if (rc == 0)
        rc = check_identity(d, dirfd, dir, server_id, err, errlen);
    close(dirfd);
    if (rc != 0)
        datadir_close(d);
    return rc;
}

int datadir_set_cluster_id(struct datadir *d, uint64_t cluster_id, char *err,
                           size_t errlen)
{
    int dirfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(err, errlen, "cannot open the data directory %s: %s", d->dir,
                 strerror(errno));
        return -1;
    }
    int rc = write_identity(dirfd, d->dir, d->server_id, d->dir_id, cluster_id,
                            err, errlen);
    close(dirfd);
    if (rc == 0)
        d->cluster_id = cluster_id;
    return rc;
}

void datadir_close(struct datadir *d)
{
    if (!d->held)
        return;
    close(d->lock_fd);
    d->held = false;
    d->lock_fd = -1;
}
