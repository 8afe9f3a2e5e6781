/* avl.h - an intrusive ordered tree (AVL, with parent links): the index that
 * lets the lock state machine read locks in name order from any point in
 * O(log n), then walk on in O(1) amortised per entry.
 *
 * The caller embeds a struct avl_node in each item and supplies the order:
 * cmp(a, b) for insertion, and a key comparator for searches. Nothing is
 * allocated, so nothing fails; the tree never owns its items. Height is kept
 * within 1.44 log2(n), so every operation is O(log n) whatever order the
 * items arrive in (a client chooses the names). Deterministic: the shape
 * depends only on the sequence of inserts and removes. */
#ifndef DLOCK_AVL_H
#define DLOCK_AVL_H

#include <stddef.h>

struct avl_node {
    struct avl_node *left, *right, *parent;
    int height; /* of the subtree rooted here: 1 for a leaf */
};

struct avl_tree {
    struct avl_node *root;
    size_t n;
};

/* Orders two items of the tree: negative, 0 or positive. */
typedef int (*avl_cmp_fn)(const struct avl_node *a, const struct avl_node *b);
/* Orders a search key against an item: negative if key sorts before it. */
typedef int (*avl_key_fn)(const void *key, const struct avl_node *item);

/* Makes t an empty tree. */
void avl_init(struct avl_tree *t);

/* Inserts x, which must not be in a tree and must not compare equal to an
 * item of t (the caller keeps keys unique). */
void avl_insert(struct avl_tree *t, struct avl_node *x, avl_cmp_fn cmp);

/* Removes x, which must be in t. */
void avl_remove(struct avl_tree *t, struct avl_node *x);

/* The first item in order, or NULL if t is empty. */
struct avl_node *avl_first(const struct avl_tree *t);

/* The item after x in order, or NULL after the last. */
struct avl_node *avl_next(const struct avl_node *x);

/* The first item that does not sort before key (after it when strict is
 * nonzero), or NULL if there is none. */
struct avl_node *avl_seek(const struct avl_tree *t, const void *key,
                          avl_key_fn cmp, int strict);

/* Checks the tree's invariants (links, heights, balance, order, count);
 * returns 0, or -1 if one is broken. For tests and fsm_check. */
int avl_check(const struct avl_tree *t, avl_cmp_fn cmp);

#endif
