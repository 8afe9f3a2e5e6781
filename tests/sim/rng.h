/* rng.h - the simulator's PRNG: xoshiro256** seeded through splitmix64, so
 * that one 64-bit seed replays a whole run exactly. */
#ifndef DLOCK_SIM_RNG_H
#define DLOCK_SIM_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rng {
    uint64_t s[4];
};

/* splitmix64: a good 64-bit mixer, also used to hash small keys. */
static inline uint64_t rng_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A 64-bit hash of p[0..n) that goes on from h: the checkers' digests. */
static inline uint64_t rng_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return rng_mix(h ^ n);
}

static inline void rng_seed(struct rng *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed = rng_mix(seed);
        g->s[i] = seed;
    }
}

static inline uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *g)
{
    uint64_t *s = g->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n); 0 when n is 0. The modulo bias is irrelevant here. */
static inline uint64_t rng_below(struct rng *g, uint64_t n)
{
    return n == 0 ? 0 : rng_next(g) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(struct rng *g, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(g, hi - lo + 1);
}

/* True with probability per_mille / 1000. */
static inline bool rng_chance(struct rng *g, unsigned per_mille)
{
    return rng_below(g, 1000) < per_mille;
}

#endif
