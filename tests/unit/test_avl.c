/* test_avl.c - the ordered index (src/common/avl.c): random inserts and
 * removes against a sorted array, with every invariant checked after each
 * step; seeks land where a binary search of the array says; sorted input
 * (the worst case for an unbalanced tree) keeps the height logarithmic. */
#include "harness.h"

#include <stdlib.h>

#include "common/avl.h"

struct item {
    struct avl_node node;
    unsigned key;
    int in;
};

#define ITEM(x) ((const struct item *)(const void *)(x))

static int cmp(const struct avl_node *a, const struct avl_node *b)
{
    unsigned x = ITEM(a)->key, y = ITEM(b)->key;
    return x < y ? -1 : x > y;
}

static int key_cmp(const void *key, const struct avl_node *b)
{
    unsigned x = *(const unsigned *)key, y = ITEM(b)->key;
    return x < y ? -1 : x > y;
}

/* The smallest key in items that is >= k (> k if strict), or -1. */
static long expect_seek(const struct item *items, size_t n, unsigned k,
                        int strict)
{
    long best = -1;
    for (size_t i = 0; i < n; i++)
        if (items[i].in && (strict ? items[i].key > k : items[i].key >= k) &&
            (best < 0 || items[i].key < (unsigned)best))
            best = items[i].key;
    return best;
}

static long seek(const struct avl_tree *t, unsigned k, int strict)
{
    const struct avl_node *x = avl_seek(t, &k, key_cmp, strict);
    return x != NULL ? (long)ITEM(x)->key : -1;
}

/* Keys 0..N-1 (item i has key i), inserted and removed at random. */
TEST(avl, random_against_a_model)
{
    enum { N = 300 };
    struct item items[N];
    for (unsigned i = 0; i < N; i++)
        items[i] = (struct item){.key = i};
    struct avl_tree t;
    avl_init(&t);
    srand(7);
    size_t in = 0;
    for (int step = 0; step < 20000; step++) {
        struct item *it = &items[(unsigned)rand() % N];
        if (it->in) {
            avl_remove(&t, &it->node);
            in--;
        } else {
            avl_insert(&t, &it->node, cmp);
            in++;
        }
        it->in = !it->in;
        CHECK_EQ(avl_check(&t, cmp), 0);
        CHECK_EQ(t.n, in);
        unsigned k = (unsigned)rand() % (N + 2);
        CHECK_EQ(seek(&t, k, 0), expect_seek(items, N, k, 0));
        CHECK_EQ(seek(&t, k, 1), expect_seek(items, N, k, 1));
    }
    /* A walk from the first visits exactly the items in, in order. */
    size_t walked = 0;
    long prev = -1;
    for (const struct avl_node *x = avl_first(&t); x != NULL; x = avl_next(x)) {
        CHECK(ITEM(x)->in);
        CHECK((long)ITEM(x)->key > prev);
        prev = ITEM(x)->key;
        walked++;
    }
    CHECK_EQ(walked, in);
}

/* 100,000 keys in increasing order, then every other one removed: the
 * height stays within the AVL bound (1.44 log2 n + 2 < 26). */
TEST(avl, sorted_input_stays_shallow)
{
    enum { N = 100000 };
    struct item *items = calloc(N, sizeof *items);
    CHECK(items != NULL);
    struct avl_tree t;
    avl_init(&t);
    for (unsigned i = 0; i < N; i++) {
        items[i].key = i;
        avl_insert(&t, &items[i].node, cmp);
    }
    CHECK(t.root->height <= 26);
    for (unsigned i = 0; i < N; i += 2)
        avl_remove(&t, &items[i].node);
    CHECK_EQ(avl_check(&t, cmp), 0);
    CHECK_EQ(t.n, N / 2);
    CHECK(t.root->height <= 25);
    CHECK_EQ(seek(&t, 0, 0), 1);
    CHECK_EQ(seek(&t, 4, 1), 5);
    CHECK_EQ(seek(&t, N, 0), -1);
    free(items);
}

/* An empty tree: no first item, seeks find nothing. */
TEST(avl, empty)
{
    struct avl_tree t;
    avl_init(&t);
    CHECK(avl_first(&t) == NULL);
    CHECK_EQ(seek(&t, 0, 0), -1);
    CHECK_EQ(avl_check(&t, cmp), 0);
}
