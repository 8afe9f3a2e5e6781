/* holdwatch.c - the holds the server takes (client_internal.h): the
 * keeper's connection watches the holds of its sessions, so that a hold
 * ended while its session lives (LOCK.REVOKE) is known at once, not at the
 * handle's next use (docs/protocol.md §4, "Watches": SESSION.WATCH). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/alloc.h"

/* Holds told lost and not yet delivered, at most: a server that sends
 * more (it cannot: a push is a hold) is not followed further. */
#define LOST_MAX 4096

bool holdwatch_wanted(const struct keeper *k, const struct dlock_session *s)
{
    return s->active && !s->watched && !k->no_push && !atomic_load(&s->lost);
}

/* The wait for the answer of a HELLO or a watch. */
static uint64_t answer_wait(const struct keeper *k)
{
    return k->c->timeout_ms > 1000 ? k->c->timeout_ms : 1000;
}

int holdwatch_queue(struct keeper *k, uint64_t now)
{
    if (k->no_push)
        return 0;
    if (!k->hello_sent) {
        const char *argv[] = {"HELLO", "3"};
        if (keeper_queue(k, NULL, KEEPER_HELLO, 2, argv, now, answer_wait(k)) !=
            0)
            return DLOCK_ENOMEM;
        k->hello_sent = true;
    }
    for (size_t i = 0; i < k->n_ss; i++) {
        struct dlock_session *s = k->ss[i];
        if (!holdwatch_wanted(k, s))
            continue;
        /* From the last revision this connection's watches reached (0 at
         * the first: a new session has no history to replay but its own). */
        char id[24], from[24];
        snprintf(id, sizeof id, "%" PRIu64, s->id);
        snprintf(from, sizeof from, "%" PRIu64, k->revision);
        const char *argv[] = {"SESSION.WATCH", id, "FROM", from, "LOST"};
        if (keeper_queue(k, NULL, KEEPER_WATCH, 5, argv, now, answer_wait(k)) !=
            0)
            return DLOCK_ENOMEM;
        s->watched = true;
    }
    return 0;
}

void holdwatch_remove(struct keeper *k, struct dlock_session *s, uint64_t now)
{
    if (!s->watched || k->conn == NULL || k->conn->connecting)
        return;
    s->watched = false;
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, s->id);
    const char *argv[] = {"SESSION.UNWATCH", id};
    /* Out of memory: the watch ends with the connection instead. */
    if (keeper_queue(k, NULL, KEEPER_WATCH, 2, argv, now, answer_wait(k)) == 0)
        keeper_wake(k);
}

void holdwatch_answer(struct keeper *k, const struct keeper_fly *f,
                      const struct resp_value *v)
{
    if (f->req == KEEPER_HELLO && v->type == RESP_ERROR) {
        /* A server without RESP3: keepalives only, as before. */
        k->no_push = true;
        return;
    }
    /* A watch answers the revision it starts from (an error, LIMIT: that
     * session's handles learn at their next use). */
    if (f->req == KEEPER_WATCH && v->type == RESP_INTEGER && v->integer > 0 &&
        (uint64_t)v->integer > k->revision)
        k->revision = (uint64_t)v->integer;
}

/* Every session watches again, from k->revision. */
static void watch_again(struct keeper *k)
{
    for (size_t i = 0; i < k->n_ss; i++)
        k->ss[i]->watched = false;
}

void holdwatch_push(struct keeper *k, const struct resp_value *v)
{
    struct dlock_change ch;
    if (!watch_parse_change(v, &ch))
        return; /* not a change: a hold it was about learns at its next use */
    if (ch.revision > k->revision)
        k->revision = ch.revision;
    if (ch.event == DLOCK_CHANGE_GONE) {
        /* Its watch ended (its pushes were not read in time), or it asked
         * from before what is kept: watch again from where it is whole
         * (now k->revision), which cannot be gone again. */
        watch_again(k);
        return;
    }
    if (ch.event != DLOCK_CHANGE_LOST || k->n_lost == LOST_MAX ||
        alloc_grow((void **)&k->lost, &k->cap_lost, k->n_lost + 1,
                   sizeof *k->lost) != 0)
        return; /* out of memory: the handle learns it at its next use */
    struct holdwatch_lost *l = &k->lost[k->n_lost++];
    l->session = ch.session;
    l->token = ch.token;
    memcpy(l->name, ch.name, sizeof l->name);
    memcpy(l->owner, ch.owner, sizeof l->owner);
}

void holdwatch_reset(struct keeper *k)
{
    k->hello_sent = false;
    k->no_push = false;
    watch_again(k);
}

/* Marks the live handles of hold l lost (a handle of a later grant of the
 * same name has a greater token): how many were not already. */
static size_t mark(struct dlock_client *c, const struct holdwatch_lost *l)
{
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_locks; i++) {
        struct dlock_lock *h = c->locks[i];
        if (h->s != NULL && h->sid == l->session && h->token <= l->token &&
            strcmp(h->name, l->name) == 0 && strcmp(h->owner, l->owner) == 0 &&
            !atomic_exchange(&h->gone, true))
            n++;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

void holdwatch_deliver(struct keeper *k)
{
    for (;;) {
        pthread_mutex_lock(&k->mu);
        if (k->n_lost == 0) {
            pthread_mutex_unlock(&k->mu);
            return;
        }
        struct holdwatch_lost l = k->lost[0];
        memmove(k->lost, k->lost + 1, --k->n_lost * sizeof *k->lost);
        pthread_mutex_unlock(&k->mu);
        if (mark(k->c, &l) == 0)
            continue; /* no handle of it here, or told already */
        pthread_mutex_lock(&k->mu);
        struct dlock_session *s = NULL;
        for (size_t i = 0; i < k->n_ss && s == NULL; i++)
            if (k->ss[i]->id == l.session && k->ss[i]->hold_cb != NULL)
                s = k->ss[i];
        if (s == NULL) {
            pthread_mutex_unlock(&k->mu);
            continue;
        }
        dlock_hold_lost_cb cb = s->hold_cb;
        void *arg = s->hold_cb_arg;
        k->delivering = s;
        pthread_mutex_unlock(&k->mu);
        cb(s, l.name, l.owner, l.token, arg);
        pthread_mutex_lock(&k->mu);
        k->delivering = NULL;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->mu);
    }
}

DLOCK_API void dlock_session_on_hold_lost(struct dlock_session *s,
                                          dlock_hold_lost_cb cb, void *arg)
{
    pthread_mutex_lock(&s->k->mu);
    s->hold_cb = cb;
    s->hold_cb_arg = arg;
    pthread_mutex_unlock(&s->k->mu);
}
