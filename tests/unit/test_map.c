/* test_map.c - the hash maps (src/common/map.c): every operation agrees
 * with a plain array after long random sequences, tables shrink, iteration
 * visits each entry once, and a failed allocation leaves the map intact. */
#include "harness.h"

#include "common/alloc.h"
#include "common/error.h"
#include "common/map.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define KEYS 3000

/* Keys: decimal strings, some sharing prefixes, one empty, some holding NUL
 * bytes. */
static char keys[KEYS][24];
static uint32_t key_len[KEYS];

static void make_keys(void)
{
    for (int i = 0; i < KEYS; i++) {
        key_len[i] = (uint32_t)snprintf(keys[i], sizeof keys[i], "k%d", i);
        if (i % 7 == 0) { /* "k7\0x": a NUL inside */
            keys[i][key_len[i] + 1] = 'x';
            key_len[i] += 2;
        }
    }
    key_len[0] = 0;
}

/* A random mix of puts, replacing puts, gets and deletes agrees with an
 * array of the expected values. */
TEST(map, str_random_agrees)
{
    make_keys();
    static int vals[KEYS];
    static void *want[KEYS];
    struct map_str m;
    map_str_init(&m);
    size_t n = 0;
    for (int step = 0; step < 200000; step++) {
        int k = (int)(rnd() % KEYS);
        switch (rnd() % 3) {
        case 0:
            if (want[k] == NULL)
                n++;
            vals[k] = step;
            want[k] = &vals[k];
            CHECK_EQ(map_str_put(&m, keys[k], key_len[k], want[k]), 0);
            break;
        case 1:
            CHECK(map_str_del(&m, keys[k], key_len[k]) == want[k]);
            if (want[k] != NULL)
                n--;
            want[k] = NULL;
            break;
        default:
            CHECK(map_str_get(&m, keys[k], key_len[k]) == want[k]);
        }
        CHECK_EQ(m.n, n);
    }
    for (int k = 0; k < KEYS; k++)
        CHECK(map_str_get(&m, keys[k], key_len[k]) == want[k]);
    map_str_close(&m);
    map_str_close(&m); /* idempotent */
}

/* The same for 64-bit keys, sequential and random. */
TEST(map, u64_random_agrees)
{
    static uint64_t ids[KEYS];
    static void *want[KEYS];
    static int vals[KEYS];
    for (int i = 0; i < KEYS; i++)
        ids[i] = i < KEYS / 2 ? (uint64_t)i : rnd();
    struct map_u64 m;
    map_u64_init(&m);
    for (int step = 0; step < 200000; step++) {
        int k = (int)(rnd() % KEYS);
        switch (rnd() % 3) {
        case 0:
            want[k] = &vals[k];
            CHECK_EQ(map_u64_put(&m, ids[k], want[k]), 0);
            break;
        case 1:
            CHECK(map_u64_del(&m, ids[k]) == want[k]);
            want[k] = NULL;
            break;
        default:
            CHECK(map_u64_get(&m, ids[k]) == want[k]);
        }
    }
    for (int k = 0; k < KEYS; k++)
        CHECK(map_u64_get(&m, ids[k]) == want[k]);
    map_u64_close(&m);
}

/* Iteration visits every entry exactly once; deleting all shrinks the table
 * back to its smallest size. */
TEST(map, iterate_and_shrink)
{
    make_keys();
    struct map_str m;
    map_str_init(&m);
    static int seen[KEYS];
    for (int k = 0; k < KEYS; k++)
        CHECK_EQ(map_str_put(&m, keys[k], key_len[k], &seen[k]), 0);
    CHECK(m.cap >= KEYS * 4 / 3 && m.cap <= KEYS * 4);
    size_t pos = 0, count = 0;
    const char *key;
    uint32_t len;
    int *v;
    while ((v = map_str_next(&m, &pos, &key, &len)) != NULL) {
        int k = (int)(v - seen);
        CHECK(len == key_len[k] && key == keys[k]);
        (*v)++;
        count++;
    }
    CHECK_EQ(count, KEYS);
    for (int k = 0; k < KEYS; k++)
        CHECK_EQ(seen[k], 1);
    for (int k = 0; k < KEYS; k++)
        CHECK(map_str_del(&m, keys[k], key_len[k]) == &seen[k]);
    CHECK_EQ(m.n, 0);
    CHECK(m.cap <= 32);
    CHECK(map_str_get(&m, keys[1], key_len[1]) == NULL);
    map_str_close(&m);
}

/* Entries that collide into one run stay findable whichever of them is
 * deleted (backward-shift deletion). */
TEST(map, deletion_in_runs)
{
    struct map_u64 m;
    map_u64_init(&m);
    static int v;
    for (int round = 0; round < 200; round++) {
        uint64_t ids[12];
        for (int i = 0; i < 12; i++) {
            ids[i] = rnd();
            CHECK_EQ(map_u64_put(&m, ids[i], &v), 0);
        }
        int order[12];
        for (int i = 0; i < 12; i++)
            order[i] = i;
        for (int i = 11; i > 0; i--) {
            int j = (int)(rnd() % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < 12; i++) {
            CHECK(map_u64_del(&m, ids[order[i]]) == &v);
            for (int k = i + 1; k < 12; k++)
                CHECK(map_u64_get(&m, ids[order[k]]) == &v);
        }
        CHECK_EQ(m.n, 0);
    }
    map_u64_close(&m);
}

static int fail_after;

static void *failing_malloc(size_t n)
{
    return fail_after-- > 0 ? malloc(n) : NULL;
}

/* A put that must grow the table fails with DLOCK_ENOMEM when memory runs
 * out, and the map keeps every entry; an absurd reserve fails too. */
TEST(map, enomem_leaves_map_intact)
{
    make_keys();
    static int vals[KEYS];
    struct map_str m;
    map_str_init(&m);
    int k = 0;
    for (; k < 12; k++) /* fills the first table (16 slots) to 3/4 */
        CHECK_EQ(map_str_put(&m, keys[k], key_len[k], &vals[k]), 0);
    struct alloc_hooks saved = alloc_hooks;
    alloc_hooks.malloc = failing_malloc;
    fail_after = 0;
    CHECK_EQ(map_str_put(&m, keys[k], key_len[k], &vals[k]), DLOCK_ENOMEM);
    alloc_hooks = saved;
    CHECK_EQ(m.n, 12);
    for (int i = 0; i < 12; i++)
        CHECK(map_str_get(&m, keys[i], key_len[i]) == &vals[i]);
    CHECK(map_str_get(&m, keys[k], key_len[k]) == NULL);
    CHECK_EQ(map_str_reserve(&m, SIZE_MAX / 2), DLOCK_ENOMEM);
    struct map_u64 u;
    map_u64_init(&u);
    CHECK_EQ(map_u64_reserve(&u, SIZE_MAX / 4), DLOCK_ENOMEM);
    CHECK_EQ(map_u64_put(&u, 1, &vals[0]), 0);
    map_u64_close(&u);
    map_str_close(&m);
}

/* SipHash-2-4's test vector from its paper: key 00..0f, message 00..0e. */
TEST(map, siphash_matches_its_reference)
{
    unsigned char msg[15];
    for (int i = 0; i < 15; i++)
        msg[i] = (unsigned char)i;
    CHECK_U64(map_siphash(0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull, msg,
                          sizeof msg),
              0xa129ca6149be45e5ull);
}

/* Names found to share one slot of a 4096-slot table under one key (as an
 * attacker who knew the key would craft them) spread over the table under
 * another; a map takes the key set when it is made and finds its entries
 * under it. */
TEST(map, a_secret_key_spreads_crafted_names)
{
    enum { N = 200, SLOTS = 4096 };
    static char names[N][24];
    int found = 0;
    for (unsigned long i = 0; found < N; i++) {
        char name[24];
        int len = snprintf(name, sizeof name, "lock-%lu", i);
        if ((map_siphash(1, 2, name, (size_t)len) & (SLOTS - 1)) == 7)
            memcpy(names[found++], name, sizeof name);
    }
    static unsigned char seen[SLOTS];
    int slots = 0;
    for (int i = 0; i < N; i++) {
        size_t s = map_siphash(3, 4, names[i], strlen(names[i])) & (SLOTS - 1);
        slots += seen[s] == 0;
        seen[s] = 1;
    }
    CHECK_MSG(slots > N * 9 / 10, "%d of %d names in distinct slots", slots, N);
    uint8_t key[16] = {3, 0, 0, 0, 0, 0, 0, 0, 4};
    map_hash_set_key(key);
    struct map_str m;
    map_str_init(&m);
    CHECK_U64(m.k0, 3);
    CHECK_U64(m.k1, 4);
    for (int i = 0; i < N; i++)
        CHECK_EQ(
            map_str_put(&m, names[i], (uint32_t)strlen(names[i]), names[i]), 0);
    for (int i = 0; i < N; i++)
        CHECK(map_str_get(&m, names[i], (uint32_t)strlen(names[i])) ==
              names[i]);
    map_str_close(&m);
    uint8_t zero[16] = {0};
    map_hash_set_key(zero);
}
