/* map.c - hash maps from byte strings or 64-bit integers to pointers: linear
 * probing with backward-shift deletion (see map.h). */
#include "map.h"

#include <stdbool.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define MIN_CAP 16

/* A finaliser that spreads every input bit over the whole word: the hash
 * of integer keys (ids the server assigns). */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static uint64_t le64_of(const unsigned char *p)
{
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

/* The key that maps made from now on take (map_hash_set_key); zero until
 * set. */
static uint64_t key0, key1;

void map_hash_set_key(const uint8_t key[16])
{
    const unsigned char *p = key;
    key0 = le64_of(p);
    key1 = le64_of(p + 8);
}

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

/* SipHash-2-4 (Aumasson and Bernstein, 2012): 128-bit key, 64-bit
 * output, its 8-byte words read little-endian. */
static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl(v[2], 32);
}

static uint64_t le64(const unsigned char *p, size_t n)
{
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

uint64_t map_siphash(uint64_t k0, uint64_t k1, const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                     k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
    uint64_t last = (uint64_t)len << 56;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t m = le64(p, 8);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    last |= le64(p, len);
    v[3] ^= last;
    sip_round(v);
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
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
    m->k0 = key0;
    m->k1 = key1;
}

static uint32_t str_hash(const struct map_str *m, const void *key, size_t len)
{
    return (uint32_t)map_siphash(m->k0, m->k1, key, len);
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
    size_t i = str_find(m, key, len, str_hash(m, key, len));
    return m->slots[i].val;
}

int map_str_put(struct map_str *m, const void *key, uint32_t len, void *val)
{
    if (m->n >= m->cap / 4 * 3) {
        int rc = map_str_reserve(m, m->n + 1);
        if (rc != 0)
            return rc;
    }
    uint32_t hash = str_hash(m, key, len);
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
    size_t i = str_find(m, key, len, str_hash(m, key, len));
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
