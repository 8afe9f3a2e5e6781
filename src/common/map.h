/* map.h - hash maps from byte strings or 64-bit integers to pointers, for
 * the server and the client library alike.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), a power-of-two table kept at most 3/4 full and shrunk below
 * 1/8. String keys are hashed with SipHash-2-4 under the map's key, taken
 * when the map is made from the process's (map_hash_set_key): dlockd draws
 * a secret one at start, so that names crafted to collide cannot turn its
 * maps into lists. Until it is set the key is zero, and a map holds its
 * entries in the same slots on every host given the same history. So the
 * order of iteration differs between servers: no caller may let it decide
 * anything that must be deterministic (the lock state machine sorts what
 * it iterates, and the simulator gives each server's maps a key of their
 * own to check it).
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
    uint64_t k0, k1; /* its hash key */
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

/* Sets the key that string maps made (map_str_init) from now on take, 16
 * bytes: secret and random in a server. Maps made before keep theirs. */
void map_hash_set_key(const uint8_t key[16]);
/* SipHash-2-4 of len bytes at key under the key (k0, k1), its two 8-byte
 * halves read little-endian. */
uint64_t map_siphash(uint64_t k0, uint64_t k1, const void *key, size_t len);

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
