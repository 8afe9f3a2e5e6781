/* test_buf.c - the growable byte buffer (src/common/buf.c) and the
 * allocator hooks it allocates through (src/common/alloc.c). */
#include "harness.h"

#include "common/buf.h"
#include "common/error.h"
#include "fail_alloc.h"

/* Checks that b holds exactly the n bytes at want, followed by a NUL. */
static void check_holds(const struct buf *b, const char *want, size_t n)
{
    CHECK_EQ(b->len, n);
    CHECK(b->cap > b->len);
    CHECK_MEM(b->data, want, n);
    CHECK_EQ(b->data[n], '\0');
}

/* A zeroed buffer is empty and may be closed, and closing is idempotent and
 * accepts NULL. */
TEST(buf, zeroed_and_double_close)
{
    struct buf b;
    memset(&b, 0, sizeof b);
    buf_close(&b);
    buf_close(&b);
    buf_close(NULL);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    CHECK_EQ(buf_append_str(&b, "x"), 0);
    buf_close(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    buf_close(&b);
}

/* Appends of bytes, strings and formatted text accumulate in order, with a
 * NUL after the data, across many reallocations. */
TEST(buf, appends_accumulate)
{
    struct buf b;
    char want[20000];
    size_t n = 0;
    buf_init(&b);
    for (int i = 0; n < sizeof want - 100; i++) {
        char tmp[64];
        int k = snprintf(tmp, sizeof tmp, "<%d:%s>", i, i % 2 ? "odd" : "ev");
        switch (i % 3) {
        case 0:
            CHECK_EQ(buf_append(&b, tmp, (size_t)k), 0);
            break;
        case 1:
            CHECK_EQ(buf_append_str(&b, tmp), 0);
            break;
        default:
            CHECK_EQ(buf_appendf(&b, "<%d:%s>", i, i % 2 ? "odd" : "ev"), 0);
        }
        memcpy(want + n, tmp, (size_t)k);
        n += (size_t)k;
        check_holds(&b, want, n);
    }
    CHECK_EQ(buf_append(&b, NULL, 0), 0);
    check_holds(&b, want, n);
    buf_close(&b);
}

/* A formatted append longer than the spare room is formatted again into a
 * larger buffer, and one that fits is not truncated. */
TEST(buf, appendf_longer_than_room)
{
    struct buf b;
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_init(&b);
    CHECK_EQ(buf_append_str(&b, "head "), 0);
    CHECK_EQ(buf_appendf(&b, "%s|%d", big, 42), 0);
    CHECK_EQ(b.len, 5 + 4999 + 3);
    CHECK_MEM(b.data, "head qqq", 8);
    CHECK_STR(b.data + b.len - 5, "qq|42");
    buf_clear(&b);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(b.data[0], '\0');
    size_t cap = b.cap;
    CHECK_EQ(buf_appendf(&b, "%d-%s", 7, "seven"), 0);
    CHECK_STR(b.data, "7-seven");
    CHECK_EQ(b.cap, cap);
    buf_close(&b);
}

/* Consuming drops a prefix and keeps the rest at the front; consuming more
 * than there is empties the buffer. */
TEST(buf, consume_prefix)
{
    struct buf b;
    buf_init(&b);
    buf_consume(&b, 3);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(buf_append_str(&b, "hello, world"), 0);
    buf_consume(&b, 0);
    check_holds(&b, "hello, world", 12);
    buf_consume(&b, 7);
    check_holds(&b, "world", 5);
    CHECK_EQ(buf_append_str(&b, "!"), 0);
    check_holds(&b, "world!", 6);
    buf_consume(&b, 100);
    check_holds(&b, "", 0);
    buf_close(&b);
}

/* A reservation reserves: appends within it do not reallocate; one that
 * would overflow size_t fails with DLOCK_ENOMEM and changes nothing. */
TEST(buf, reserve)
{
    struct buf b;
    buf_init(&b);
    CHECK_EQ(buf_append_str(&b, "abc"), 0);
    CHECK_EQ(buf_reserve(&b, 1000), 0);
    char *data = b.data;
    CHECK(b.cap >= 1004);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(buf_append(&b, "z", 1), 0);
    CHECK(b.data == data);
    CHECK_EQ(buf_reserve(&b, SIZE_MAX), DLOCK_ENOMEM);
    CHECK_EQ(buf_reserve(&b, SIZE_MAX - b.len), DLOCK_ENOMEM);
    CHECK_EQ(buf_append(&b, "x", SIZE_MAX - 2), DLOCK_ENOMEM);
    CHECK_EQ(b.len, 1003);
    CHECK_MEM(b.data, "abczz", 5);
    buf_close(&b);
}

/* Runs operation number op, each of which must grow a buffer holding
 * "seed"; returns its result. */
static int run_op(struct buf *b, int op)
{
    char big[300];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    switch (op) {
    case 0:
        return buf_append(b, big, 200);
    case 1:
        return buf_append_str(b, big);
    case 2:
        return buf_appendf(b, "%s%d", big, 12345);
    default:
        return buf_reserve(b, 4096);
    }
}

/* With the allocator failing, every operation that must allocate returns
 * DLOCK_ENOMEM and leaves the buffer as it was, a retry then succeeds, and
 * closing frees everything: no leak on any path. */
TEST(buf, allocation_failures)
{
    for (int op = 0; op < 4; op++) {
        for (int sticky = 0; sticky < 2; sticky++) {
            struct buf b;
            fa_install(0, false);
            buf_init(&b);
            CHECK_EQ(buf_append_str(&b, "seed"), 0);
            fa_install(1, sticky);
            char *data = b.data;
            size_t cap = b.cap;
            CHECK_EQ(run_op(&b, op), DLOCK_ENOMEM);
            CHECK(b.data == data && b.cap == cap);
            check_holds(&b, "seed", 4);
            if (sticky)
                CHECK_EQ(run_op(&b, op), DLOCK_ENOMEM);
            fa_install(0, false);
            CHECK_EQ(run_op(&b, op), 0);
            CHECK_MEM(b.data, "seed", 4);
            buf_close(&b);
            CHECK_EQ(fa_live, 0);
        }
    }
}

/* The hooks see every allocation: a buffer grown and closed allocates
 * through them, frees what it allocated, and a test's failure reaches it. */
TEST(buf, allocates_through_hooks)
{
    struct buf b;
    fa_install(0, false);
    buf_init(&b);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(buf_appendf(&b, "%0100d", i), 0);
    CHECK(fa_calls > 1);
    CHECK_EQ(fa_live, 1);
    buf_close(&b);
    CHECK_EQ(fa_live, 0);
}
