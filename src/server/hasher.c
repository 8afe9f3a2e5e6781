/* hasher.c - PBKDF2 on a thread of its own (hasher.h). The thread takes
 * jobs from the queue, one at a time, and puts them on the done list; an
 * async handle wakes the loop to deliver them. */
#include "server/hasher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "server/logger.h"

struct hasher {
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    uv_async_t async;
    struct hasher_job *queue, *queue_tail; /* to hash, in order */
    struct hasher_job *done;               /* hashed, to deliver (any order) */
    size_t pending;                        /* queued, running or done */
    bool stop;
};

void hasher_pbkdf2(const char *password, size_t len,
                   const uint8_t salt[ACL_SALT_LEN], uint32_t iterations,
                   uint8_t out[ACL_HASH_LEN])
{
    if (PKCS5_PBKDF2_HMAC(password, (int)len, salt, ACL_SALT_LEN,
                          (int)iterations, EVP_sha256(), ACL_HASH_LEN,
                          out) != 1) {
        log_error("PBKDF2 failed (out of memory?)");
        abort();
    }
}

static void thread_main(void *arg)
{
    struct hasher *h = arg;
    uv_mutex_lock(&h->mu);
    for (;;) {
        while (h->queue == NULL && !h->stop)
            uv_cond_wait(&h->cond, &h->mu);
        if (h->stop)
            break;
        struct hasher_job *j = h->queue;
        h->queue = j->next;
        if (h->queue == NULL)
            h->queue_tail = NULL;
        uv_mutex_unlock(&h->mu);
        hasher_pbkdf2(j->password, j->password_len, j->salt, j->iterations,
                      j->hash);
        OPENSSL_cleanse(j->password, sizeof j->password);
        uv_mutex_lock(&h->mu);
        j->next = h->done;
        h->done = j;
        uv_async_send(&h->async);
    }
    uv_mutex_unlock(&h->mu);
}

/* Delivers what is done (all of it, canceled too, when stopping). */
static void deliver(struct hasher *h, bool canceled)
{
    uv_mutex_lock(&h->mu);
    struct hasher_job *list = h->done;
    h->done = NULL;
    if (canceled) {
        /* The queue too, after the done ones: every job is given back. */
        struct hasher_job **end = &list;
        while (*end != NULL)
            end = &(*end)->next;
        *end = h->queue;
        h->queue = h->queue_tail = NULL;
    }
    uv_mutex_unlock(&h->mu);
    while (list != NULL) {
        struct hasher_job *j = list;
        list = j->next;
        h->pending--;
        if (canceled)
            OPENSSL_cleanse(j->password, sizeof j->password);
        j->done(j, canceled);
    }
}

static void async_cb(uv_async_t *a)
{
    deliver(a->data, false);
}

struct hasher *hasher_new(uv_loop_t *loop)
{
    struct hasher *h = mem_xcalloc(1, sizeof *h);
    if (uv_mutex_init(&h->mu) != 0 || uv_cond_init(&h->cond) != 0 ||
        uv_async_init(loop, &h->async, async_cb) != 0 ||
        uv_thread_create(&h->thread, thread_main, h) != 0) {
        log_error("cannot start the password hasher's thread");
        abort();
    }
    h->async.data = h;
    return h;
}

int hasher_submit(struct hasher *h, struct hasher_job *j)
{
    if (h->stop || h->pending >= HASHER_QUEUE_MAX)
        return -1;
    j->next = NULL;
    h->pending++;
    uv_mutex_lock(&h->mu);
    if (h->queue_tail != NULL)
        h->queue_tail->next = j;
    else
        h->queue = j;
    h->queue_tail = j;
    uv_cond_signal(&h->cond);
    uv_mutex_unlock(&h->mu);
    return 0;
}

size_t hasher_pending(const struct hasher *h)
{
    return h->pending;
}

static void closed_cb(uv_handle_t *a)
{
    struct hasher *h = a->data;
    uv_mutex_destroy(&h->mu);
    uv_cond_destroy(&h->cond);
    free(h);
}

void hasher_free(struct hasher *h)
{
    if (h == NULL)
        return;
    uv_mutex_lock(&h->mu);
    h->stop = true;
    uv_cond_signal(&h->cond);
    uv_mutex_unlock(&h->mu);
    uv_thread_join(&h->thread);
    deliver(h, true);
    uv_close((uv_handle_t *)&h->async, closed_cb);
}
