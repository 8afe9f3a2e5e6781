/* test_datadir.c - a data directory's lock and identity (src/server/
 * datadir.c): one holder at a time, its forked children included, named to
 * whoever is refused; a directory stamped for one server id is refused to
 * another; a damaged stamp is refused, not replaced. */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/datadir.h"

static const char *dir_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", harness_tmpdir(), name);
    return path;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
}

/* The second open of a held directory is refused, naming the holder as
 * the first described itself; once closed, it opens again. */
TEST(datadir, second_open_refused_naming_holder)
{
    struct datadir a, b;
    char err[512];
    const char *dir = dir_path("d");
    CHECK_EQ(
        datadir_open(&a, dir, 1, "pid 4242, clients on x", err, sizeof err), 0);
    CHECK_EQ(datadir_open(&b, dir, 1, "pid 7, second", err, sizeof err), -1);
    CHECK_MSG(strstr(err, "in use by another dlockd (pid 4242, clients on x)"),
              "%s", err);
    CHECK(!b.held);
    datadir_close(&a);
    datadir_close(&a); /* idempotent */
    CHECK_EQ(datadir_open(&b, dir, 1, "pid 7, second", err, sizeof err), 0);
    datadir_close(&b);
}

/* A child forked by the holder (the snapshot writer) holds the lock while
 * it lives, even after the holder closed it. */
TEST(datadir, forked_child_keeps_it_locked)
{
    struct datadir a, b;
    char err[512];
    const char *dir = dir_path("d");
    CHECK_EQ(datadir_open(&a, dir, 1, "parent", err, sizeof err), 0);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char c;
        close(p[1]);
        (void)read(p[0], &c, 1); /* until the parent says */
        _exit(0);
    }
    close(p[0]);
    datadir_close(&a);
    CHECK_EQ(datadir_open(&b, dir, 1, "next", err, sizeof err), -1);
    CHECK_MSG(strstr(err, "(parent)"), "%s", err);
    close(p[1]);
    CHECK_EQ(waitpid(pid, NULL, 0), pid);
    CHECK_EQ(datadir_open(&b, dir, 1, "next", err, sizeof err), 0);
    datadir_close(&b);
}

/* A directory is stamped with the first id and a dir_id that stays; another
 * id is refused, naming the owner. */
TEST(datadir, identity_binds_one_server_id)
{
    struct datadir a;
    char err[512];
    const char *dir = dir_path("d");
    CHECK_EQ(datadir_open(&a, dir, 3, "h", err, sizeof err), 0);
    uint64_t dir_id = a.dir_id;
    CHECK(dir_id != 0);
    datadir_close(&a);
    CHECK_EQ(datadir_open(&a, dir, 3, "h", err, sizeof err), 0);
    CHECK_U64(a.dir_id, dir_id);
    datadir_close(&a);
    CHECK_EQ(datadir_open(&a, dir, 4, "h", err, sizeof err), -1);
    CHECK_MSG(strstr(err, "belongs to server 3") &&
                  strstr(err, "not to --id 4"),
              "%s", err);
    CHECK(!a.held);
    /* Refused, it is not left locked either. */
    CHECK_EQ(datadir_open(&a, dir, 3, "h", err, sizeof err), 0);
    datadir_close(&a);
}

/* Two new directories get different dir_ids. */
TEST(datadir, new_directories_differ)
{
    struct datadir a, b;
    char err[512];
    char one[512];
    snprintf(one, sizeof one, "%s", dir_path("one"));
    CHECK_EQ(datadir_open(&a, one, 1, "h", err, sizeof err), 0);
    CHECK_EQ(datadir_open(&b, dir_path("two"), 1, "h", err, sizeof err), 0);
    CHECK(a.dir_id != b.dir_id);
    datadir_close(&a);
    datadir_close(&b);
}

/* A damaged identity is refused (not replaced by a new one, which would
 * hide a copied or mixed-up directory). */
TEST(datadir, damaged_identity_refused)
{
    struct datadir a;
    char err[512];
    const char *dir = dir_path("d");
    CHECK_EQ(datadir_open(&a, dir, 1, "h", err, sizeof err), 0);
    datadir_close(&a);
    static const char *bad[] = {"", "server_id 1\n", "server_id x\ndir_id 1\n",
                                "server_id 1\ndir_id zz\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(dir, DATADIR_IDENTITY_FILE, bad[i]);
        CHECK_EQ(datadir_open(&a, dir, 1, "h", err, sizeof err), -1);
        CHECK_MSG(strstr(err, "is damaged"), "%zu: %s", i, err);
    }
    write_file(dir, DATADIR_IDENTITY_FILE, "server_id 1\ndir_id 00ab\n");
    CHECK_EQ(datadir_open(&a, dir, 1, "h", err, sizeof err), 0);
    CHECK_U64(a.dir_id, 0xab);
    datadir_close(&a);
}

/* A directory that cannot be made is an error, not a crash. */
TEST(datadir, missing_parent_is_an_error)
{
    struct datadir a;
    char err[512];
    CHECK_EQ(datadir_open(&a, dir_path("no/such/dir"), 1, "h", err, sizeof err),
             -1);
    CHECK_MSG(strstr(err, "cannot create the data directory"), "%s", err);
    datadir_close(&a);
}

/* The cluster id is 0 until set; once set it survives a reopen, beside the
 * server id and directory id; a stamp without one (earlier versions) reads
 * as 0. */
TEST(datadir, cluster_id_kept)
{
    struct datadir d;
    char err[512];
    const char *dir = dir_path("cl");
    CHECK_EQ(datadir_open(&d, dir, 4, "t", err, sizeof err), 0);
    CHECK_U64(d.cluster_id, 0);
    uint64_t dir_id = d.dir_id;
    CHECK_EQ(datadir_set_cluster_id(&d, 0xfedcba9876543210ull, err, sizeof err),
             0);
    CHECK_U64(d.cluster_id, 0xfedcba9876543210ull);
    datadir_close(&d);
    CHECK_EQ(datadir_open(&d, dir, 4, "t", err, sizeof err), 0);
    CHECK_U64(d.cluster_id, 0xfedcba9876543210ull);
    CHECK_U64(d.dir_id, dir_id);
    datadir_close(&d);
    CHECK_EQ(datadir_open(&d, dir, 5, "t", err, sizeof err), -1);
    write_file(dir, DATADIR_IDENTITY_FILE,
               "server_id 4\ndir_id 00000000000000ab\n");
    CHECK_EQ(datadir_open(&d, dir, 4, "t", err, sizeof err), 0);
    CHECK_U64(d.cluster_id, 0);
    CHECK_U64(d.dir_id, 0xab);
    datadir_close(&d);
    write_file(dir, DATADIR_IDENTITY_FILE,
               "server_id 4\ndir_id 00000000000000ab\ncluster_id zz\n");
    CHECK_EQ(datadir_open(&d, dir, 4, "t", err, sizeof err), -1);
}
