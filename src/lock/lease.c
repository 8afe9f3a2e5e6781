/* lease.c - the leader's record of when each session's lease ends: a table
 * of sessions by id and a min-heap of the times they are next due. Heap
 * entries are not updated in place; a stale one (its session renewed or
 * gone) is skipped when it reaches the top, and the heap is rebuilt when
 * stale ones dominate.
 */
#include "lock/lease.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct slot {
    uint64_t id; /* 0: empty; TOMB: deleted */
    uint64_t end;
    uint64_t ttl;
    uint64_t key;   /* when lease_due should report it next: end, then
                       every retry_ms after */
    uint32_t holds; /* keepalives under way (lease_hold) */
    bool reported;  /* by lease_due, since the last lease_set */
};

struct heap_item {
    uint64_t key;
    uint64_t id;
};

struct lease {
    struct slot *slots;
    size_t cap;  /* a power of two */
    size_t used; /* live + tombstones */
    size_t live;
    struct heap_item *heap;
    size_t n_heap, cap_heap;
};

#define TOMB UINT64_MAX

static size_t hash(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id;
}

static struct slot *find(const struct lease *l, uint64_t id)
{
    if (l->cap == 0)
        return NULL;
    for (size_t i = hash(id) & (l->cap - 1);; i = (i + 1) & (l->cap - 1)) {
        if (l->slots[i].id == id)
            return &l->slots[i];
        if (l->slots[i].id == 0)
            return NULL;
    }
}

static void rehash(struct lease *l, size_t cap)
{
    struct slot *old = l->slots;
    size_t old_cap = l->cap;
    l->slots = mem_xcalloc(cap, sizeof *l->slots);
    l->cap = cap;
    l->used = l->live = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].id == 0 || old[i].id == TOMB)
            continue;
        size_t k = hash(old[i].id) & (cap - 1);
        while (l->slots[k].id != 0)
            k = (k + 1) & (cap - 1);
        l->slots[k] = old[i];
        l->used++;
        l->live++;
    }
    free(old);
}

static struct slot *insert(struct lease *l, uint64_t id)
{
    struct slot *s = find(l, id);
    if (s != NULL)
        return s;
    if ((l->used + 1) * 4 > l->cap * 3)
        rehash(l, l->live * 2 >= l->cap / 2 ? (l->cap ? l->cap * 2 : 64)
                                            : (l->cap ? l->cap : 64));
    size_t i = hash(id) & (l->cap - 1);
    while (l->slots[i].id != 0 && l->slots[i].id != TOMB)
        i = (i + 1) & (l->cap - 1);
    if (l->slots[i].id == 0)
        l->used++;
    l->live++;
    memset(&l->slots[i], 0, sizeof l->slots[i]);
    l->slots[i].id = id;
    return &l->slots[i];
}

static bool before(const struct heap_item *a, const struct heap_item *b)
{
    return a->key < b->key || (a->key == b->key && a->id < b->id);
}

static void sift_down(struct lease *l, size_t i)
{
    for (;;) {
        size_t m = i, a = 2 * i + 1, b = 2 * i + 2;
        if (a < l->n_heap && before(&l->heap[a], &l->heap[m]))
            m = a;
        if (b < l->n_heap && before(&l->heap[b], &l->heap[m]))
            m = b;
        if (m == i)
            return;
        struct heap_item t = l->heap[i];
        l->heap[i] = l->heap[m];
        l->heap[m] = t;
        i = m;
    }
}

static void push(struct lease *l, uint64_t key, uint64_t id)
{
    if (l->n_heap == l->cap_heap) {
        l->cap_heap = l->cap_heap ? l->cap_heap * 2 : 64;
        l->heap = mem_xrealloc(l->heap, l->cap_heap * sizeof *l->heap);
    }
    size_t i = l->n_heap++;
    l->heap[i] = (struct heap_item){key, id};
    while (i > 0 && before(&l->heap[i], &l->heap[(i - 1) / 2])) {
        struct heap_item t = l->heap[i];
        l->heap[i] = l->heap[(i - 1) / 2];
        l->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static void pop(struct lease *l)
{
    l->heap[0] = l->heap[--l->n_heap];
    sift_down(l, 0);
}

/* Rebuilds the heap from the live sessions when most entries are stale. */
static void maybe_rebuild(struct lease *l)
{
    if (l->n_heap < 1024 || l->n_heap < 4 * l->live)
        return;
    l->n_heap = 0;
    for (size_t i = 0; i < l->cap; i++)
        if (l->slots[i].id != 0 && l->slots[i].id != TOMB)
            l->heap[l->n_heap++] =
                (struct heap_item){l->slots[i].key, l->slots[i].id};
    for (size_t i = l->n_heap / 2; i-- > 0;)
        sift_down(l, i);
}

struct lease *lease_new(void)
{
    return mem_xcalloc(1, sizeof(struct lease));
}

void lease_free(struct lease *l)
{
    if (l == NULL)
        return;
    free(l->slots);
    free(l->heap);
    free(l);
}

void lease_clear(struct lease *l)
{
    free(l->slots);
    free(l->heap);
    memset(l, 0, sizeof *l);
}

void lease_set(struct lease *l, uint64_t id, uint64_t ttl, uint64_t now)
{
    struct slot *s = insert(l, id);
    s->ttl = ttl;
    s->end = now + ttl;
    s->key = s->end;
    s->reported = false;
    push(l, s->key, id);
    maybe_rebuild(l);
}

void lease_remove(struct lease *l, uint64_t id)
{
    struct slot *s = find(l, id);
    if (s != NULL) {
        s->id = TOMB;
        l->live--;
    }
}

uint64_t lease_left(const struct lease *l, uint64_t id, uint64_t now)
{
    const struct slot *s = find(l, id);
    return s != NULL && s->end > now ? s->end - now : 0;
}

uint64_t lease_ttl(const struct lease *l, uint64_t id)
{
    const struct slot *s = find(l, id);
    return s != NULL ? s->ttl : 0;
}

size_t lease_due(struct lease *l, uint64_t now, uint64_t retry_ms,
                 uint64_t *ids, size_t max)
{
    size_t n = 0;
    while (n < max && l->n_heap > 0 && l->heap[0].key <= now) {
        struct heap_item top = l->heap[0];
        pop(l);
        struct slot *s = find(l, top.id);
        if (s == NULL || s->key != top.key)
            continue; /* stale: renewed or removed */
        if (s->holds > 0) {
            s->key = now + 1; /* after the keepalive, if it fails */
            push(l, s->key, s->id);
            continue;
        }
        ids[n++] = s->id;
        s->reported = true;
        /* Reported again after retry_ms, unless renewed or removed. */
        s->key = now + (retry_ms ? retry_ms : 1);
        push(l, s->key, s->id);
    }
    return n;
}

size_t lease_nearest(const struct lease *l, uint64_t *ids, size_t max)
{
    /* Best first over the heap, by key: a frontier of heap positions,
     * itself a min-heap by their items. A live item is a session's next
     * key, which is its lease's end, or later for one reported over (the
     * retries): so the walk gathers four times as many as asked, then
     * keeps the soonest ends. */
    if (l->n_heap == 0 || max == 0)
        return 0;
    size_t want = max * 4, cap = l->n_heap < LEASE_NEAREST_VISITS
                                     ? l->n_heap + 1
                                     : LEASE_NEAREST_VISITS + 1;
    size_t nf = 0, n = 0, visits = 0;
    size_t *fr = mem_xmalloc(cap * sizeof *fr);
    struct heap_item *found = mem_xmalloc(want * sizeof *found);
    fr[nf++] = 0;
    while (nf > 0 && n < want && visits < LEASE_NEAREST_VISITS) {
        size_t top = fr[0];
        fr[0] = fr[--nf];
        for (size_t i = 0;;) { /* sift down */
            size_t m = i, a = 2 * i + 1, b = a + 1;
            if (a < nf && before(&l->heap[fr[a]], &l->heap[fr[m]]))
                m = a;
            if (b < nf && before(&l->heap[fr[b]], &l->heap[fr[m]]))
                m = b;
            if (m == i)
                break;
            size_t t = fr[i];
            fr[i] = fr[m];
            fr[m] = t;
            i = m;
        }
        visits++;
        const struct heap_item *it = &l->heap[top];
        const struct slot *s = find(l, it->id);
        if (s != NULL && s->key == it->key) {
            bool seen = false; /* an id twice, when keys are equal */
            for (size_t k = 0; k < n && !seen; k++)
                seen = found[k].id == it->id;
            if (!seen) /* by its end, then; insertion keeps them sorted */
                found[n++] = (struct heap_item){s->end, it->id};
            for (size_t k = n - 1;
                 !seen && k > 0 && before(&found[k], &found[k - 1]); k--) {
                struct heap_item t = found[k];
                found[k] = found[k - 1];
                found[k - 1] = t;
            }
        }
        for (size_t c = 2 * top + 1; c <= 2 * top + 2; c++) {
            if (c >= l->n_heap || nf == cap)
                continue;
            size_t i = nf++;
            fr[i] = c;
            while (i > 0 &&
                   before(&l->heap[fr[i]], &l->heap[fr[(i - 1) / 2]])) {
                size_t t = fr[i];
                fr[i] = fr[(i - 1) / 2];
                fr[(i - 1) / 2] = t;
                i = (i - 1) / 2;
            }
        }
    }
    if (n > max)
        n = max;
    for (size_t k = 0; k < n; k++)
        ids[k] = found[k].id;
    free(found);
    free(fr);
    return n;
}

size_t lease_count(const struct lease *l)
{
    return l->live;
}

uint64_t lease_next_due(struct lease *l)
{
    while (l->n_heap > 0) {
        const struct slot *s = find(l, l->heap[0].id);
        if (s != NULL && s->key == l->heap[0].key)
            return s->key;
        pop(l); /* stale */
    }
    return UINT64_MAX;
}

void lease_hold(struct lease *l, uint64_t id)
{
    struct slot *s = find(l, id);
    if (s != NULL)
        s->holds++;
}

void lease_unhold(struct lease *l, uint64_t id)
{
    struct slot *s = find(l, id);
    if (s != NULL && s->holds > 0)
        s->holds--;
}

bool lease_alive(const struct lease *l, uint64_t id)
{
    const struct slot *s = find(l, id);
    return s != NULL && !s->reported;
}
