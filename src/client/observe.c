/* observe.c - observers of an election's leader (dlock_observe_*): a watch
 * of the election's name whose changes become its leader, reported once
 * for each revision that changes it, when the revision is whole (the
 * watch's settled callback), after a first linearizable read; a gone
 * change is answered by a read. docs/design.md, "Observers". */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "common/alloc.h"

static bool same_leader(const struct dlock_leader_info *a,
                        const struct dlock_leader_info *b)
{
    return a->leader == b->leader && a->token == b->token &&
           strcmp(a->owner, b->owner) == 0 && a->value_len == b->value_len &&
           memcmp(a->value, b->value, a->value_len) == 0;
}

/* Reads the leader into li on the watch's thread: 0 or an error. */
static int read_leader(struct dlock_observe *o, struct dlock_leader_info *li)
{
    int rc = dlock_leader(o->w->pc, o->w->name, li);
    li->candidates = 0;
    li->lease_left_ms = 0;
    return rc;
}

/* Reports the pending revision if it changed the leader: false when a
 * read failed (it stays pending). */
static bool flush(struct dlock_observe *o)
{
    if (!o->pending)
        return true;
    if (o->read && read_leader(o, &o->next) != 0)
        return false;
    o->pending = false;
    if (o->reported && same_leader(&o->next, &o->last))
        return true;
    o->last = o->next;
    o->reported = true;
    o->cb(o->arg, o->revision, &o->last);
    return true;
}

/* The first report, at revision: the leader read now. The start waits for
 * it (or gives up, before the read has begun). */
static void first_report(struct dlock_observe *o, uint64_t revision)
{
    o->started = true;
    pthread_mutex_lock(&o->mu);
    bool go = !o->abandoned;
    o->reading = go;
    pthread_mutex_unlock(&o->mu);
    if (!go) {
        o->failed = true;
        return;
    }
    o->pending = true;
    o->revision = revision;
    o->read = true;
    int rc = read_leader(o, &o->next);
    if (rc == 0) {
        o->read = false;
        flush(o);
    } else {
        o->failed = true;
    }
    pthread_mutex_lock(&o->mu);
    o->first_done = true;
    o->first_rc = rc;
    if (rc != 0)
        snprintf(o->first_msg, sizeof o->first_msg, "%s",
                 dlock_errmsg(o->w->pc));
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->mu);
}

static void observe_free(struct dlock_observe *o)
{
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cond);
    alloc_free(o);
}

/* After cb ran: whether it stopped o (then o is freed). */
static bool ended(struct dlock_observe *o)
{
    if (!o->stopped)
        return false;
    observe_free(o);
    return true;
}

static void on_settled(void *arg, uint64_t revision)
{
    struct dlock_observe *o = arg;
    if (!o->started)
        first_report(o, revision);
    else if (!o->failed)
        flush(o);
    ended(o);
}

/* A change: the revision before it, if pending, is whole. */
static void on_change(void *arg, const struct dlock_change *ch)
{
    struct dlock_observe *o = arg;
    if (!o->started || o->failed)
        return; /* none comes before the start; none after a failed one */
    if (o->pending && ch->revision > o->revision) {
        flush(o);
        if (ended(o))
            return;
    }
    if (!o->pending) {
        o->pending = true;
        o->read = false;
        o->next = o->last;
    }
    if (ch->revision > o->revision)
        o->revision = ch->revision;
    struct dlock_leader_info *li = &o->next;
    if (ch->event == DLOCK_CHANGE_GONE) {
        o->read = true; /* what was missed: read it */
    } else if (ch->holders == 0) {
        li->leader = 0;
        li->owner[0] = '\0';
        li->token = 0;
        li->value[0] = '\0';
        li->value_len = 0;
    } else if (ch->event == DLOCK_CHANGE_GRANTED ||
               ch->event == DLOCK_CHANGE_PROCLAIMED) {
        li->leader = ch->session;
        memcpy(li->owner, ch->owner, sizeof li->owner);
        li->token = ch->token;
        memcpy(li->value, ch->value, ch->value_len + 1);
        li->value_len = ch->value_len;
    } else {
        o->read = true; /* a change that does not name the leader */
    }
}

/* Waits for the first report, up to the client's timeout until its read
 * has begun: 0, or the error to return (the start then stops o). */
static int wait_first(struct dlock_client *c, struct dlock_observe *o)
{
    uint64_t deadline = client_now_ms() + c->timeout_ms;
    struct timespec ts = {(time_t)(deadline / 1000),
                          (long)(deadline % 1000) * 1000000};
    pthread_mutex_lock(&o->mu);
    while (!o->first_done) {
        if (o->reading)
            pthread_cond_wait(&o->cond, &o->mu);
        else if (pthread_cond_timedwait(&o->cond, &o->mu, &ts) != 0 &&
                 !o->reading && !o->first_done)
            o->abandoned = true;
        if (o->abandoned)
            break;
    }
    int rc = o->abandoned ? DLOCK_ETIMEDOUT : o->first_rc;
    pthread_mutex_unlock(&o->mu);
    if (rc == DLOCK_ETIMEDOUT && o->abandoned)
        return client_error(c, rc, "no server answered the watch of %s",
                            o->w->name);
    if (rc != 0)
        return client_error(c, rc, "%s", o->first_msg);
    return 0;
}

DLOCK_API int dlock_observe_start(struct dlock_client *c, const char *name,
                                  dlock_leader_cb cb, void *arg,
                                  struct dlock_observe **out)
{
    if (c == NULL || cb == NULL || out == NULL)
        return DLOCK_EINVAL; /* the watch checks name */
    struct dlock_observe *o = alloc_malloc(sizeof *o);
    if (o == NULL)
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    memset(o, 0, sizeof *o);
    o->cb = cb;
    o->arg = arg;
    bool cond = watch_cond_init(&o->cond);
    if (!cond || pthread_mutex_init(&o->mu, NULL) != 0) {
        if (cond)
            pthread_cond_destroy(&o->cond);
        alloc_free(o);
        return client_error(c, DLOCK_ENOMEM, "out of memory");
    }
    int rc =
        watch_start(c, name, DLOCK_WATCH_NOW, on_change, on_settled, o, &o->w);
    if (rc == 0 && (rc = wait_first(c, o)) != 0)
        watch_stop(o->w);
    if (rc != 0) {
        observe_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

DLOCK_API void dlock_observe_stop(struct dlock_observe *o)
{
    if (o == NULL)
        return;
    if (watch_stop(o->w))
        o->stopped = true; /* from cb: freed when it returns */
    else
        observe_free(o);
}
