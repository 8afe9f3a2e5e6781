/* harness.h - the house test harness: self-registering tests, each run in its
 * own process with a timeout, a name filter, tests that skip themselves
 * (SKIP, with the reason), and a closing line "N passed, N failed" (with
 * ", N skipped" when some were) that tests/run.sh and CI read. */
#ifndef DLOCK_HARNESS_H
#define DLOCK_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*harness_fn)(void);

void harness_register(const char *suite, const char *name, harness_fn fn,
                      unsigned timeout_s);
void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void harness_skip(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Ends the running test as skipped, for the reason given (printf-style):
 * it cannot run here (no SSE4.2, say). Counted apart from passed. */
#define SKIP(...) harness_skip(__VA_ARGS__)

#define TEST_TIMEOUT(suite, name, secs)                                        \
    static void test_##suite##_##name(void);                                   \
    __attribute__((constructor)) static void reg_##suite##_##name(void)        \
    {                                                                          \
        harness_register(#suite, #name, test_##suite##_##name, secs);          \
    }                                                                          \
    static void test_##suite##_##name(void)

#define TEST(suite, name) TEST_TIMEOUT(suite, name, 60)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            harness_fail(__FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            harness_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, \
                         a_, b_);                                              \
    } while (0)

#define CHECK_U64(a, b)                                                        \
    do {                                                                       \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                       \
        if (a_ != b_)                                                          \
            harness_fail(__FILE__, __LINE__,                                   \
                         "%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, a_, b_); \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                   \
            harness_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, \
                         #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");          \
    } while (0)

#define CHECK_MEM(a, b, n)                                                     \
    do {                                                                       \
        if (memcmp((a), (b), (n)) != 0)                                        \
            harness_fail(__FILE__, __LINE__, "memcmp(%s, %s, %s) != 0", #a,    \
                         #b, #n);                                              \
    } while (0)

/* A fresh temporary directory for the running test, removed at its end. */
const char *harness_tmpdir(void);

#endif
