/* changelog.c - the bounded, revision-ordered ring of changes applied
 * (changelog.h). */
#include "lock/changelog.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void changelog_init(struct changelog *cl, size_t cap)
{
    *cl = (struct changelog){.cap = cap};
    cl->ring = mem_xcalloc(cap, sizeof *cl->ring);
}

/* Frees the strings of every change kept and empties the ring. */
static void forget(struct changelog *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        free(cl->ring[(cl->head + i) % cl->cap].bytes);
    cl->head = 0;
    cl->n = 0;
}

void changelog_close(struct changelog *cl)
{
    if (cl->ring == NULL)
        return;
    forget(cl);
    free(cl->ring);
    cl->ring = NULL;
}

void changelog_restart(struct changelog *cl, uint64_t revision)
{
    forget(cl);
    cl->revision = revision;
    cl->whole = revision;
}

/* Copies c into the entry e, its strings in one block. */
static void copy(struct changelog_entry *e, uint64_t revision,
                 const struct fsm_change *c)
{
    size_t len = (size_t)c->name_len + c->owner_len + c->value_len;
    e->revision = revision;
    e->ch = *c;
    e->bytes = mem_xmalloc(len ? len : 1);
    memcpy(e->bytes, c->name, c->name_len);
    memcpy(e->bytes + c->name_len, c->owner, c->owner_len);
    memcpy(e->bytes + c->name_len + c->owner_len, c->value, c->value_len);
    e->ch.name = e->bytes;
    e->ch.owner = e->bytes + c->name_len;
    e->ch.value = e->bytes + c->name_len + c->owner_len;
}

void changelog_add(struct changelog *cl, uint64_t revision,
                   const struct fsm_change *ch, size_t n)
{
    cl->revision = revision;
    for (size_t i = 0; i < n; i++) {
        if (cl->n == cl->cap) {
            /* The oldest goes, and with it the whole of its revision. */
            struct changelog_entry *old = &cl->ring[cl->head];
            cl->whole = old->revision;
            free(old->bytes);
            cl->head = (cl->head + 1) % cl->cap;
            cl->n--;
        }
        copy(&cl->ring[(cl->head + cl->n) % cl->cap], revision, &ch[i]);
        cl->n++;
    }
}

uint64_t changelog_revision(const struct changelog *cl)
{
    return cl->revision;
}

uint64_t changelog_whole_from(const struct changelog *cl)
{
    return cl->whole;
}

size_t changelog_count(const struct changelog *cl)
{
    return cl->n;
}

const struct changelog_entry *changelog_at(const struct changelog *cl, size_t i)
{
    return &cl->ring[(cl->head + i) % cl->cap];
}

size_t changelog_first_after(const struct changelog *cl, uint64_t after)
{
    size_t lo = 0, hi = cl->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (changelog_at(cl, mid)->revision > after)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}
