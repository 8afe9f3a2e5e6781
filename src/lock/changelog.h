/* changelog.h - the last changes of holds a server applied, with their
 * revisions (the log index of the entry that made them), for watches that
 * resume from a revision (docs/protocol.md §4, "Watches").
 *
 * A bounded ring in revision order: each change is copied with its strings
 * in a block of its own, and the oldest change goes when a new one finds
 * the ring full. The log says from which revision it is whole: every
 * change after that revision is kept. A revision some of whose changes
 * were dropped counts as gone, as does every revision at or before the
 * one the log restarted from (a server restored from a snapshot, or
 * started anew: the log is in memory). Pure: no I/O, no clock; it aborts
 * on out-of-memory (mem.h). */
#ifndef DLOCK_CHANGELOG_H
#define DLOCK_CHANGELOG_H

#include <stddef.h>
#include <stdint.h>

#include "lock/fsm.h"

/* One change kept: ch's strings point into bytes, which the log owns. */
struct changelog_entry {
    uint64_t revision;
    struct fsm_change ch;
    char *bytes;
};

struct changelog {
    struct changelog_entry *ring;
    size_t cap, head, n;
    uint64_t revision; /* the last revision added, or restarted from */
    uint64_t whole;    /* changes after it are all kept */
};

/* An empty log for the last cap changes (cap > 0), whole from 0. */
void changelog_init(struct changelog *cl, size_t cap);
void changelog_close(struct changelog *cl);

/* Forgets every change: the log is whole from revision on, which is also
 * its last revision (the index of the snapshot a server restored). */
void changelog_restart(struct changelog *cl, uint64_t revision);

/* Keeps the n changes (n may be 0) of the entry at revision, in order;
 * they are copied. revision must be above every revision added or
 * restarted from before (the caller applies entries in log order). */
void changelog_add(struct changelog *cl, uint64_t revision,
                   const struct fsm_change *ch, size_t n);

/* The last revision added or restarted from (0 before any). */
uint64_t changelog_revision(const struct changelog *cl);

/* The revision from which the log is whole: every change of a later
 * revision is kept. A resume from a revision below it has missed some. */
uint64_t changelog_whole_from(const struct changelog *cl);

/* How many changes are kept; changelog_at(cl, i) for i below it is the
 * i-th, oldest first. */
size_t changelog_count(const struct changelog *cl);
const struct changelog_entry *changelog_at(const struct changelog *cl,
                                           size_t i);

/* The position of the first change kept after revision `after`
 * (changelog_count if none): O(log n). */
size_t changelog_first_after(const struct changelog *cl, uint64_t after);

#endif
