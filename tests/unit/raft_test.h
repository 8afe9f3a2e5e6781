/* raft_test.h - what the unit tests of the Raft core share: a configuration
 * of n voters and a message. */
#ifndef DLOCK_RAFT_TEST_H
#define DLOCK_RAFT_TEST_H

#include <stdio.h>
#include <string.h>

#include "raft/raft.h"

/* Voters 1..n at 127.0.0.1:9000 and on. */
static inline void conf_of(struct raft_conf *c, unsigned n)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    for (unsigned i = 0; i < n; i++) {
        c->servers[i].id = i + 1;
        c->servers[i].role = RAFT_VOTER;
        snprintf(c->servers[i].addr, RAFT_ADDR_MAX, "127.0.0.1:%u", 9000 + i);
    }
}

/* A message with only its type, ends and term set. */
static inline struct raft_msg msg(uint8_t type, uint64_t from, uint64_t to,
                                  uint64_t term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

#endif
