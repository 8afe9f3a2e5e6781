/* store_test.h - test entries for the store's tests: each (index, term) has
 * a payload of its own, so that a check can tell any two apart. */
#ifndef DLOCK_STORE_TEST_H
#define DLOCK_STORE_TEST_H

#include "harness.h"
#include "server/store.h"

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

#endif
