/* peerids.c - one process and one data directory per server id on the peer
 * port (peerids.h). */
#include "server/peerids.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void peerids_init(struct peerids *t)
{
    memset(t, 0, sizeof *t);
}

static struct peerids_entry *find(struct peerids *t, uint64_t id)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->e[i].id == id)
            return &t->e[i];
    return NULL;
}

static bool is_past(const struct peerids_entry *e, uint64_t nonce)
{
    for (unsigned i = 0; i < e->n_past; i++)
        if (e->past[i] == nonce)
            return true;
    return false;
}

/* A past nonce spoke: two processes run under e->id. The one seen first
 * (the past one) keeps it; the newer is banned. */
static enum peerids_verdict duplicate(struct peerids_entry *e, uint64_t past,
                                      uint64_t *other, char *why, size_t whylen)
{
    e->banned = e->nonce;
    *other = e->nonce;
    e->nonce = past;
    snprintf(why, whylen,
             "two servers run with id %" PRIu64 " (processes %016" PRIx64
             " and %016" PRIx64 "): an id must never be given to two servers, "
             "nor a data directory copied to a second one; the one seen first "
             "keeps the id",
             e->id, past, *other);
    return PEERIDS_DUPLICATE;
}

static enum peerids_verdict banned_one(const struct peerids_entry *e, char *why,
                                       size_t whylen)
{
    snprintf(
        why, whylen,
        "another server already runs with id %" PRIu64 " (process %016" PRIx64
        "; this one is %016" PRIx64
        "); an id must never be given to two servers, nor a data directory "
        "copied to a second one",
        e->id, e->nonce, e->banned);
    return PEERIDS_REFUSE;
}

enum peerids_verdict peerids_hello(struct peerids *t, uint64_t id,
                                   uint64_t dir_id, uint64_t nonce,
                                   uint64_t *other, char *why, size_t whylen)
{
    struct peerids_entry *e = find(t, id);
    if (e == NULL) {
        if (t->n == PEERIDS_MAX)
            t->n--; /* past the bound, the last one makes room */
        e = &t->e[t->n++];
        *e = (struct peerids_entry){.id = id, .dir_id = dir_id, .nonce = nonce};
        return PEERIDS_ACCEPT;
    }
    if (dir_id != e->dir_id) {
        snprintf(
            why, whylen,
            "server %" PRIu64 " now runs on data directory %016" PRIx64
            ", but was first seen here on %016" PRIx64
            "; a server keeps its data directory for life (a new or copied "
            "one needs a new id: remove the old id, add a new one)",
            id, dir_id, e->dir_id);
        return PEERIDS_REFUSE;
    }
    if (nonce == e->banned)
        return banned_one(e, why, whylen);
    if (nonce == e->nonce)
        return PEERIDS_ACCEPT;
    if (is_past(e, nonce))
        return duplicate(e, nonce, other, why, whylen);
    /* A restart: the previous process is gone, or will show itself when
     * its connection, closed now, is made again. */
    if (e->n_past == PEERIDS_PAST)
        memmove(e->past, e->past + 1, (PEERIDS_PAST - 1) * sizeof e->past[0]);
    else
        e->n_past++;
    e->past[e->n_past - 1] = e->nonce;
    e->nonce = nonce;
    return PEERIDS_RESTART;
}
