/* datadir.h - who a data directory belongs to: one dlockd process at a time
 * (a lock held for the life of the process), and one server id for ever (an
 * identity written when the directory is first used).
 *
 * Two processes writing one directory would interleave two logs into one and
 * hand out the same fencing tokens; a directory copied to a second server
 * would carry the first one's votes. dlockd opens its data directory here,
 * before recovery reads or cuts anything in it. docs/operations.md ("What is
 * never shared") describes what is checked and what cannot be. */
#ifndef DLOCK_DATADIR_H
#define DLOCK_DATADIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The lock file and the identity file, inside the data directory. */
#define DATADIR_LOCK_FILE "LOCK"
#define DATADIR_IDENTITY_FILE "IDENTITY"

struct datadir {
    bool held;       /* lock_fd is open and holds the lock */
    int lock_fd;     /* holds the lock (flock) until closed */
    uint64_t dir_id; /* random, drawn when the directory was first used */
    /* The cluster the server belongs to (docs/design.md §8), 0 while not
     * known: before its cluster is created or joined, or for a directory
     * of a version before cluster ids. */
    uint64_t cluster_id;
    uint64_t server_id;
    char dir[512];
};

/* Creates dir if missing (not its parents) and takes its lock without
 * waiting. The lock is an flock on DATADIR_LOCK_FILE, so that a child forked
 * from this process (the snapshot writer) holds it too while it lives.
 * holder describes this process ("pid 12, clients on ...") and is written
 * into the lock file for whoever is refused next. Then checks the identity:
 * a directory stamped for another server id is refused; one without a stamp
 * is stamped with server_id and a new dir_id (a directory of a version
 * before stamps is adopted the same way).
 * Returns 0, or -1 with a message in err: the directory is locked by another
 * process (naming it, as its lock file describes it), belongs to another
 * server id, or a system call failed. On failure nothing is held. */
int datadir_open(struct datadir *d, const char *dir, uint64_t server_id,
                 const char *holder, char *err, size_t errlen);

/* Records the cluster id in the identity file, durably (a new file synced
 * and renamed over it), and in d. Returns 0, or -1 with a message in err. */
int datadir_set_cluster_id(struct datadir *d, uint64_t cluster_id, char *err,
                           size_t errlen);

/* Releases the lock (if this process's children hold none). Accepts a
 * zeroed or closed d; idempotent. */
void datadir_close(struct datadir *d);

#endif
