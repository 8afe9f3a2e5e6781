/* avl.c - an intrusive AVL tree with parent links (avl.h). */
#include "common/avl.h"

static int height(const struct avl_node *x)
{
    return x != NULL ? x->height : 0;
}

static void update(struct avl_node *x)
{
    int l = height(x->left), r = height(x->right);
    x->height = (l > r ? l : r) + 1;
}

/* Points whatever pointed at old (its parent's child link, or the root) at
 * new, and gives new old's parent. */
static void replace_child(struct avl_tree *t, struct avl_node *old,
                          struct avl_node *new)
{
    struct avl_node *p = old->parent;
    if (p == NULL)
        t->root = new;
    else if (p->left == old)
        p->left = new;
    else
        p->right = new;
    if (new != NULL)
        new->parent = p;
}

/* Rotates x's right child up into x's place; returns it. */
static struct avl_node *rotate_left(struct avl_tree *t, struct avl_node *x)
{
    struct avl_node *y = x->right;
    replace_child(t, x, y);
    x->right = y->left;
    if (x->right != NULL)
        x->right->parent = x;
    y->left = x;
    x->parent = y;
    update(x);
    update(y);
    return y;
}

static struct avl_node *rotate_right(struct avl_tree *t, struct avl_node *x)
{
    struct avl_node *y = x->left;
    replace_child(t, x, y);
    x->left = y->right;
    if (x->left != NULL)
        x->left->parent = x;
    y->right = x;
    x->parent = y;
    update(x);
    update(y);
    return y;
}

/* Restores balance at x (its children balanced, heights differing by at
 * most 2); returns the subtree's new root. */
static struct avl_node *balance(struct avl_tree *t, struct avl_node *x)
{
    int diff = height(x->left) - height(x->right);
    if (diff > 1) {
        if (height(x->left->left) < height(x->left->right))
            rotate_left(t, x->left);
        return rotate_right(t, x);
    }
    if (diff < -1) {
        if (height(x->right->right) < height(x->right->left))
            rotate_right(t, x->right);
        return rotate_left(t, x);
    }
    update(x);
    return x;
}

/* Rebalances from x up to the root. A change stops mattering once a
 * subtree's height is what it was, but walking on costs O(log n) and keeps
 * this short. */
static void rebalance_up(struct avl_tree *t, struct avl_node *x)
{
    while (x != NULL)
        x = balance(t, x)->parent;
}

void avl_init(struct avl_tree *t)
{
    t->root = NULL;
    t->n = 0;
}

void avl_insert(struct avl_tree *t, struct avl_node *x, avl_cmp_fn cmp)
{
    struct avl_node *p = NULL, **link = &t->root;
    while (*link != NULL) {
        p = *link;
        link = cmp(x, p) < 0 ? &p->left : &p->right;
    }
    x->left = x->right = NULL;
    x->parent = p;
    x->height = 1;
    *link = x;
    t->n++;
    rebalance_up(t, p);
}

static struct avl_node *leftmost(struct avl_node *x)
{
    while (x->left != NULL)
        x = x->left;
    return x;
}

void avl_remove(struct avl_tree *t, struct avl_node *x)
{
    struct avl_node *from; /* where rebalancing starts */
    if (x->left == NULL || x->right == NULL) {
        struct avl_node *child = x->left != NULL ? x->left : x->right;
        from = x->parent;
        replace_child(t, x, child);
    } else {
        /* x's successor y (no left child) takes x's place. */
        struct avl_node *y = leftmost(x->right);
        if (y->parent == x) {
            from = y;
        } else {
            from = y->parent;
            replace_child(t, y, y->right);
            y->right = x->right;
            y->right->parent = y;
        }
        replace_child(t, x, y);
        y->left = x->left;
        y->left->parent = y;
        y->height = x->height;
    }
    x->left = x->right = x->parent = NULL;
    t->n--;
    rebalance_up(t, from);
}

struct avl_node *avl_first(const struct avl_tree *t)
{
    return t->root != NULL ? leftmost(t->root) : NULL;
}

struct avl_node *avl_next(const struct avl_node *x)
{
    if (x->right != NULL)
        return leftmost(x->right);
    while (x->parent != NULL && x->parent->right == x)
        x = x->parent;
    return x->parent;
}

struct avl_node *avl_seek(const struct avl_tree *t, const void *key,
                          avl_key_fn cmp, int strict)
{
    struct avl_node *x = t->root, *best = NULL;
    while (x != NULL) {
        int c = cmp(key, x);
        if (c < 0 || (c == 0 && !strict)) {
            best = x;
            x = x->left;
        } else {
            x = x->right;
        }
    }
    return best;
}

/* Checks the subtree at x; returns its size, or -1. */
static long check(const struct avl_node *x, const struct avl_node *parent,
                  avl_cmp_fn cmp)
{
    if (x == NULL)
        return 0;
    if (x->parent != parent)
        return -1;
    int l = height(x->left), r = height(x->right);
    if (x->height != (l > r ? l : r) + 1 || l - r > 1 || r - l > 1)
        return -1;
    if ((x->left != NULL && cmp(x->left, x) >= 0) ||
        (x->right != NULL && cmp(x, x->right) >= 0))
        return -1;
    long a = check(x->left, x, cmp), b = check(x->right, x, cmp);
    return a < 0 || b < 0 ? -1 : a + b + 1;
}

int avl_check(const struct avl_tree *t, avl_cmp_fn cmp)
{
    long n = check(t->root, NULL, cmp);
    if (n < 0 || (size_t)n != t->n)
        return -1;
    /* In order, each item sorts after the one before. */
    const struct avl_node *prev = NULL;
    for (const struct avl_node *x = avl_first(t); x != NULL; x = avl_next(x)) {
        if (prev != NULL && cmp(prev, x) >= 0)
            return -1;
        prev = x;
    }
    return 0;
}
