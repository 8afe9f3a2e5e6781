/* raftlog.h - the in-memory Raft log: a ring of entries after a snapshot.
 *
 * Holds the entries [offset, last] and the term of entry offset-1, so that
 * the term of every index from offset-1 to last is known. The snapshot index
 * lies in [offset-1, last]: entries before it are kept ("trailing") only to
 * serve followers slightly behind without sending a snapshot. */
#ifndef DLOCK_RAFTLOG_H
#define DLOCK_RAFTLOG_H

#include "raft/raft.h"

struct raftlog {
    struct raft_entry *ring;
    size_t cap;  /* a power of two */
    size_t head; /* slot of entry `offset` */
    size_t n;
    uint64_t offset;    /* index of the first entry held */
    uint64_t prev_term; /* term of entry offset-1 */
    uint64_t snap_index;
    uint64_t snap_term;
    uint64_t bytes; /* payload bytes held */
};

void raftlog_init(struct raftlog *l);
void raftlog_close(struct raftlog *l);

static inline uint64_t raftlog_last(const struct raftlog *l)
{
    return l->offset + l->n - 1;
}

/* Term of entry i, or 0 when i is outside [offset-1, last]. */
uint64_t raftlog_term(const struct raftlog *l, uint64_t i);
/* True when the term of entry i is known (i in [offset-1, last]). */
bool raftlog_has_term(const struct raftlog *l, uint64_t i);
/* The entry at i, or NULL when not held. */
struct raft_entry *raftlog_get(const struct raftlog *l, uint64_t i);

/* Appends an entry at last+1 taking ownership of data (malloc'd or NULL). */
void raftlog_push(struct raftlog *l, uint64_t term, uint8_t type, uint8_t *data,
                  uint32_t len);
/* Drops the entries from index `from` on (from >= offset). */
void raftlog_truncate(struct raftlog *l, uint64_t from);
/* Marks index (held, or offset-1) as snapshotted and drops the entries up to
 * min(index - trailing, ...) , never past index. */
void raftlog_compact(struct raftlog *l, uint64_t index, uint64_t trailing);
/* Drops the entries up to upto (those held), at most max of them (at least
 * 1), the oldest first. True if some up to upto are still held. */
bool raftlog_drop(struct raftlog *l, uint64_t upto, uint64_t max);
/* Drops everything: the log restarts after a snapshot (index, term). */
void raftlog_reset(struct raftlog *l, uint64_t index, uint64_t term);

#endif
