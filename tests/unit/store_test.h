/* store_test.h - test entries for the store's tests: each (index, term) has
 * a payload of its own, so that a check can tell any two apart. */
#ifndef DLOCK_STORE_TEST_H
#define DLOCK_STORE_TEST_H

#include "harness.h"
#include "store/store.h"

/* The payload of the test entry (index, term): len bytes derived from both. */
static inline uint32_t entry_len(uint64_t index)
{
    return (uint32_t)(index * 37 % 200);
}

static inline uint8_t entry_byte(uint64_t index, uint64_t term, uint32_t k)
{
    return (uint8_t)(index * 131 + term * 7 + k);
}

/* Appends entries [from, to] of term to s. */
static inline void append(struct store *s, uint64_t from, uint64_t to,
                          uint64_t term)
{
    static uint8_t data[256];
    for (uint64_t i = from; i <= to; i++) {
        struct raft_entry e = {term, i, RAFT_ENTRY_NORMAL, entry_len(i), data};
        for (uint32_t k = 0; k < e.len; k++)
            data[k] = entry_byte(i, term, k);
        int rc = store_append(s, &e, 1);
        CHECK_MSG(rc == 0, "append %" PRIu64 ": %s", i, store_errmsg(s));
    }
}

/* Opens dir, which must succeed. */
static inline struct store *open_ok(const char *dir, uint64_t seg_bytes,
                                    struct store_state *st)
{
    struct store *s = store_new(dir, seg_bytes);
    int rc = store_open(s, st);
    CHECK_MSG(rc == 0, "open %s: %d %s", dir, rc, store_errmsg(s));
    return s;
}

/* How many files of dir end with suffix. */
static inline int count_files(const char *dir, const char *suffix)
{
    char cmd[700], out[32] = "";
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (fgets(out, sizeof out, p) == NULL)
        out[0] = '\0';
    pclose(p);
    return atoi(out);
}

#endif
