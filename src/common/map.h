/* map.h - hash maps from byte strings or 64-bit integers to pointers, for
 * the server and the client library alike.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), a power-of-two table kept at most 3/4 full and shrunk below
 * 1/8. The hash functions take no seed, so a map holds its entries in the
 * same slots on every host of one endianness given the same history; no
 * caller may let the order of iteration decide anything that must be
 * deterministic (the lock state machine sorts what it iterates).
 *
 * Values are non-NULL pointers the caller owns. A map_str borrows its keys:
 * the bytes must stay valid and unchanged while the entry is in the map
 * (keep them in the value). Memory comes from alloc.h; a function that must
 * allocate returns DLOCK_ENOMEM and leaves the map as it was. */
#ifndef DLOCK_MAP_H
#define DLOCK_MAP_H

#include <stddef.h>
#include <stdint.h>

struct map_str_slot {
    const char *key;
    void *val; /* NULL: empty slot */
    uint32_t len;
    uint32_t hash;
};

struct map_str {
    struct map_str_slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t n;
};

struct map_u64_slot {
    uint64_t key;
    void *val; /* NULL: empty slot */
};

struct map_u64 {
    struct map_u64_slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t n;
};

/* The seedless 64-bit hash of len bytes at key that map_str uses. */
uint64_t map_hash(const void *key, size_t len);

/* Makes m an empty map that owns no memory. */
void map_str_init(struct map_str *m);
/* Frees the table (not the values); m is left empty. Accepts a closed map. */
void map_str_close(struct map_str *m);
/* The value stored under key, or NULL. */
void *map_str_get(const struct map_str *m, const void *key, uint32_t len);
/* Stores val (not NULL) under key, replacing the value (and the borrowed key
 * pointer) of an equal key. 0 or DLOCK_ENOMEM (map unchanged). */
int map_str_put(struct map_str *m, const void *key, uint32_t len, void *val);
/* Removes key; returns its value, or NULL if absent. Cannot fail. */
void *map_str_del(struct map_str *m, const void *key, uint32_t len);
/* Makes room for n entries without growing again. 0 or DLOCK_ENOMEM. */
int map_str_reserve(struct map_str *m, size_t n);
/* Iteration: the value of the first entry at or after slot *pos, advancing
 * *pos past it; NULL at the end. Start with *pos = 0. The map must not change
 * during an iteration. */
void *map_str_next(const struct map_str *m, size_t *pos, const char **key,
                   uint32_t *len);
/* Bytes of the table. */
size_t map_str_bytes(const struct map_str *m);

/* The same for 64-bit keys. */
void map_u64_init(struct map_u64 *m);
void map_u64_close(struct map_u64 *m);
void *map_u64_get(const struct map_u64 *m, uint64_t key);
int map_u64_put(struct map_u64 *m, uint64_t key, void *val);
void *map_u64_del(struct map_u64 *m, uint64_t key);
int map_u64_reserve(struct map_u64 *m, size_t n);
void *map_u64_next(const struct map_u64 *m, size_t *pos, uint64_t *key);
size_t map_u64_bytes(const struct map_u64 *m);

#endif
