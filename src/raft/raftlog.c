/* raftlog.c - the in-memory Raft log: a ring of entries after a snapshot. */
#include "raft/raftlog.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void raftlog_init(struct raftlog *l)
{
    memset(l, 0, sizeof *l);
    l->offset = 1;
}

static struct raft_entry *slot(const struct raftlog *l, uint64_t i)
{
    return &l->ring[(l->head + (i - l->offset)) & (l->cap - 1)];
}

void raftlog_close(struct raftlog *l)
{
    if (l->ring == NULL)
        return;
    for (size_t k = 0; k < l->n; k++)
        free(slot(l, l->offset + k)->data);
    free(l->ring);
    l->ring = NULL;
    l->n = 0;
}

uint64_t raftlog_term(const struct raftlog *l, uint64_t i)
{
    if (i + 1 == l->offset)
        return l->prev_term;
    if (i < l->offset || i > raftlog_last(l))
        return 0;
    return slot(l, i)->term;
}

bool raftlog_has_term(const struct raftlog *l, uint64_t i)
{
    return i + 1 >= l->offset && i <= raftlog_last(l);
}

struct raft_entry *raftlog_get(const struct raftlog *l, uint64_t i)
{
    if (i < l->offset || i > raftlog_last(l))
        return NULL;
    return slot(l, i);
}

static void grow(struct raftlog *l)
{
    size_t cap = l->cap ? l->cap * 2 : 64;
    struct raft_entry *ring = mem_xmalloc(cap * sizeof *ring);
    for (size_t k = 0; k < l->n; k++)
        ring[k] = *slot(l, l->offset + k);
    free(l->ring);
    l->ring = ring;
    l->cap = cap;
    l->head = 0;
}

void raftlog_push(struct raftlog *l, uint64_t term, uint8_t type, uint8_t *data,
                  uint32_t len)
{
    if (l->n == l->cap)
        grow(l);
    l->n++;
    struct raft_entry *e = slot(l, raftlog_last(l));
    e->term = term;
    e->index = raftlog_last(l);
    e->type = type;
    e->len = len;
    e->data = data;
    l->bytes += len;
}

void raftlog_truncate(struct raftlog *l, uint64_t from)
{
    while (l->n > 0 && raftlog_last(l) >= from) {
        struct raft_entry *e = slot(l, raftlog_last(l));
        l->bytes -= e->len;
        free(e->data);
        e->data = NULL;
        l->n--;
    }
}

/* Drops entries up to and including index `upto` from the front. */
static void drop_front(struct raftlog *l, uint64_t upto)
{
    while (l->n > 0 && l->offset <= upto) {
        struct raft_entry *e = slot(l, l->offset);
        l->prev_term = e->term;
        l->bytes -= e->len;
        free(e->data);
        e->data = NULL;
        l->head = (l->head + 1) & (l->cap - 1);
        l->offset++;
        l->n--;
    }
}

void raftlog_compact(struct raftlog *l, uint64_t index, uint64_t trailing)
{
    if (index <= l->snap_index)
        return;
    l->snap_term = raftlog_term(l, index);
    l->snap_index = index;
    if (index > trailing)
        drop_front(l, index - trailing);
}

bool raftlog_drop(struct raftlog *l, uint64_t upto, uint64_t max)
{
    if (max == 0)
        max = 1;
    if (l->n > 0 && upto >= l->offset && upto - l->offset >= max) {
        drop_front(l, l->offset + max - 1);
        return l->n > 0;
    }
    drop_front(l, upto);
    return false;
}

void raftlog_reset(struct raftlog *l, uint64_t index, uint64_t term)
{
    raftlog_truncate(l, l->offset);
    l->head = 0;
    l->offset = index + 1;
    l->prev_term = term;
    l->snap_index = index;
    l->snap_term = term;
}
