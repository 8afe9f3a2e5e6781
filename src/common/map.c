/* map.c - hash maps from byte strings or 64-bit integers to pointers: linear
 * probing with backward-shift deletion (see map.h). */
#include "map.h"

#include <stdbool.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define MIN_CAP 16

/* A finaliser that spreads every input bit over the whole word. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

uint64_t map_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0x243f6a8885a308d3ull ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9fb21c651e98df25ull;
        h = (h << 23) | (h >> 41);
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    if (len > 0)
        memcpy(&w, p, len);
    return mix(h ^ w);
}

/* The smallest table that holds n entries at most 3/4 full; 0 if too big. */
static size_t cap_for(size_t n, size_t slot_size)
{
    size_t cap = MIN_CAP;
    while (cap / 4 * 3 < n) {
        if (cap > SIZE_MAX / 2 / slot_size)
            return 0;
        cap *= 2;
    }
    return cap;
}

static void *zalloc(size_t n)
{
    void *p = alloc_malloc(n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

/* Backward-shift deletion: whether the entry at j, whose probe sequence
 * starts at home, may move back into the hole at i (its probe passes the hole
 * before reaching j). */
static bool fills_hole(size_t i, size_t j, size_t home, size_t mask)
{
    return ((j - home) & mask) >= ((j - i) & mask);
}

/* ---- string keys ------------------------------------------------------ */

void map_str_init(struct map_str *m)
{
    memset(m, 0, sizeof *m);
}

void map_str_close(struct map_str *m)
{
    alloc_free(m->slots);
    map_str_init(m);
}

static bool str_eq(const struct map_str_slot *s, const void *key, uint32_t len,
                   uint32_t hash)
{
    return s->hash == hash && s->len == len &&
           (len == 0 || memcmp(s->key, key, len) == 0);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t str_find(const struct map_str *m, const void *key, uint32_t len,
                       uint32_t hash)
{
    size_t mask = m->cap - 1, i = hash & mask;
    while (m->slots[i].val != NULL && !str_eq(&m->slots[i], key, len, hash))
        i = (i + 1) & mask;
    return i;
}

static int str_resize(struct map_str *m, size_t cap)
{
    struct map_str_slot *slots = zalloc(cap * sizeof *slots);
    if (slots == NULL)
        return DLOCK_ENOMEM;
    struct map_str old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].val == NULL)
            continue;
        size_t j = old.slots[i].hash & (cap - 1);
        while (slots[j].val != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = old.slots[i];
    }
    alloc_free(old.slots);
    return 0;
}

int map_str_reserve(struct map_str *m, size_t n)
{
    size_t cap = cap_for(n, sizeof(struct map_str_slot));
    if (cap == 0)
        return DLOCK_ENOMEM;
    return cap > m->cap ? str_resize(m, cap) : 0;
}

void *map_str_get(const struct map_str *m, const void *key, uint32_t len)
{
    if (m->n == 0)
        return NULL;
    size_t i = str_find(m, key, len, (uint32_t)map_hash(key, len));
    return m->slots[i].val;
}

int map_str_put(struct map_str *m, const void *key, uint32_t len, void *val)
{
    if (m->n >= m->cap / 4 * 3) {
        int rc = map_str_reserve(m, m->n + 1);
        if (rc != 0)
            return rc;
    }
    uint32_t hash = (uint32_t)map_hash(key, len);
    size_t i = str_find(m, key, len, hash);
    if (m->slots[i].val == NULL)
        m->n++;
    m->slots[i] = (struct map_str_slot){key, val, len, hash};
    return 0;
}

void *map_str_del(struct map_str *m, const void *key, uint32_t len)
{
    if (m->n == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = str_find(m, key, len, (uint32_t)map_hash(key, len));
    void *val = m->slots[i].val;
    if (val == NULL)
        return NULL;
    /* Backward shift: move each later entry of the run into the hole when
     * its probe sequence passes through the hole. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (m->slots[j].val == NULL)
            break;
        if (fills_hole(i, j, m->slots[j].hash & mask, mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].val = NULL;
    m->n--;
    if (m->cap > MIN_CAP && m->n < m->cap / 8)
        (void)str_resize(m, m->cap / 2); /* keeps the table if it fails */
    return val;
}

void *map_str_next(const struct map_str *m, size_t *pos, const char **key,
                   uint32_t *len)
{
    for (; *pos < m->cap; (*pos)++) {
        const struct map_str_slot *s = &m->slots[*pos];
        if (s->val == NULL)
            continue;
        (*pos)++;
        if (key != NULL)
            *key = s->key;
        if (len != NULL)
            *len = s->len;
        return s->val;
    }
    return NULL;
}

size_t map_str_bytes(const struct map_str *m)
{
    return m->cap * sizeof(struct map_str_slot);
}

/* ---- 64-bit keys ------------------------------------------------------ */

void map_u64_init(struct map_u64 *m)
{
    memset(m, 0, sizeof *m);
}

void map_u64_close(struct map_u64 *m)
{
    alloc_free(m->slots);
    map_u64_init(m);
}

static size_t u64_find(const struct map_u64 *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = mix(key) & mask;
    while (m->slots[i].val != NULL && m->slots[i].key != key)
        i = (i + 1) & mask;
    return i;
}

static int u64_resize(struct map_u64 *m, size_t cap)
{
    struct map_u64_slot *slots = zalloc(cap * sizeof *slots);
    if (slots == NULL)
        return DLOCK_ENOMEM;
    struct map_u64 old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].val == NULL)
            continue;
        size_t j = mix(old.slots[i].key) & (cap - 1);
        while (slots[j].val != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = old.slots[i];
    }
    alloc_free(old.slots);
    return 0;
}

int map_u64_reserve(struct map_u64 *m, size_t n)
{
    size_t cap = cap_for(n, sizeof(struct map_u64_slot));
    if (cap == 0)
        return DLOCK_ENOMEM;
    return cap > m->cap ? u64_resize(m, cap) : 0;
}

void *map_u64_get(const struct map_u64 *m, uint64_t key)
{
    if (m->n == 0)
        return NULL;
    return m->slots[u64_find(m, key)].val;
}

int map_u64_put(struct map_u64 *m, uint64_t key, void *val)
{
    if (m->n >= m->cap / 4 * 3) {
        int rc = map_u64_reserve(m, m->n + 1);
        if (rc != 0)
            return rc;
    }
    size_t i = u64_find(m, key);
    if (m->slots[i].val == NULL)
        m->n++;
    m->slots[i] = (struct map_u64_slot){key, val};
    return 0;
}

void *map_u64_del(struct map_u64 *m, uint64_t key)
{
    if (m->n == 0)
        return NULL;
    size_t mask = m->cap - 1, i = u64_find(m, key);
    void *val = m->slots[i].val;
    if (val == NULL)
        return NULL;
    for (size_t j = i;;) { /* backward shift, as in map_str_del */
        j = (j + 1) & mask;
        if (m->slots[j].val == NULL)
            break;
        if (fills_hole(i, j, mix(m->slots[j].key) & mask, mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].val = NULL;
    m->n--;
    if (m->cap > MIN_CAP && m->n < m->cap / 8)
        (void)u64_resize(m, m->cap / 2);
    return val;
}

void *map_u64_next(const struct map_u64 *m, size_t *pos, uint64_t *key)
{
    for (; *pos < m->cap; (*pos)++) {
        const struct map_u64_slot *s = &m->slots[*pos];
        if (s->val == NULL)
            continue;
        (*pos)++;
        if (key != NULL)
            *key = s->key;
        return s->val;
    }
    return NULL;
}

size_t map_u64_bytes(const struct map_u64 *m)
{
    return m->cap * sizeof(struct map_u64_slot);
}
