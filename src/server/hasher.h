/* hasher.h - passwords hashed off the loop (docs/security.md): PBKDF2 with
 * HMAC-SHA-256 costs tens of milliseconds by design, so AUTH and USER.SET
 * hand it to a thread of its own, apart from libuv's pool (which the disk
 * uses for its syncs: a flood of AUTHs must not delay a commit). Jobs run
 * one at a time in the order given; a bounded queue, so a flood is refused
 * rather than held. */
#ifndef DLOCK_HASHER_H
#define DLOCK_HASHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lock/acl.h"

/* Jobs queued or running at most; hasher_submit refuses more. */
#define HASHER_QUEUE_MAX 256

struct hasher;

struct hasher_job {
    /* In: the password (wiped once hashed), the salt, the iterations. */
    char password[ACL_PASSWORD_MAX];
    uint32_t password_len;
    uint8_t salt[ACL_SALT_LEN];
    uint32_t iterations;
    /* Out. */
    uint8_t hash[ACL_HASH_LEN];
    /* Called on the loop once hashed, or with canceled set when the hasher
     * stops first; the job is the caller's again then. */
    void (*done)(struct hasher_job *j, bool canceled);
    void *data;
    struct hasher_job *next; /* private */
};

/* Starts the thread. Aborts if it cannot (at start-up only). */
struct hasher *hasher_new(uv_loop_t *loop);
/* Queues j; -1 (j untouched) when HASHER_QUEUE_MAX jobs are queued. */
int hasher_submit(struct hasher *h, struct hasher_job *j);
/* Jobs queued or running. */
size_t hasher_pending(const struct hasher *h);
/* Stops the thread (after the job it runs), calls done(canceled) for the
 * jobs not delivered, and frees h once its handle has closed. */
void hasher_free(struct hasher *h);

/* PBKDF2-HMAC-SHA-256 of the password, on the calling thread. */
void hasher_pbkdf2(const char *password, size_t len,
                   const uint8_t salt[ACL_SALT_LEN], uint32_t iterations,
                   uint8_t out[ACL_HASH_LEN]);

#endif
