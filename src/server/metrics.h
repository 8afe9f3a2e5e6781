/* metrics.h - what dlockd counts for the people who run it, written in the
 * Prometheus text format for GET /metrics on its HTTP port (http.h):
 * Raft, the disk, every primitive, sessions, clients and the process.
 * docs/operations.md (Monitoring) lists every metric. No label takes an
 * unbounded set of values: kinds, command names, error code words and
 * server ids only, never a lock's name. */
#ifndef DLOCK_METRICS_H
#define DLOCK_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hist.h"
#include "lock/fsm.h"

struct server;

#define METRICS_KINDS 3         /* enum fsm_kind: lock, semaphore, election */
#define METRICS_COMMANDS_MAX 96 /* the command table's, and one: unknown */

struct metrics {
    uint64_t commands[METRICS_COMMANDS_MAX]; /* by command_name's index */
    uint64_t errors[32];                     /* by metrics_code's index */
    /* What the holds of each kind of name became, as this server applied
     * them (every server applies every change). */
    uint64_t grants[METRICS_KINDS];     /* holds made or taken again */
    uint64_t handovers[METRICS_KINDS];  /* of them, to a queued wait */
    uint64_t releases[METRICS_KINDS];   /* holds given back */
    uint64_t lost[METRICS_KINDS];       /* ended by expiry or REVOKE */
    uint64_t withdrawn[METRICS_KINDS];  /* grants nobody learnt, taken back */
    struct hist wait_ms[METRICS_KINDS]; /* queued waits until granted */
    struct hist hold_ms[METRICS_KINDS]; /* holds from grant to their end */
    uint64_t http_requests;
};

void metrics_init(struct metrics *m);
/* Counts an error reply by its code word (docs/protocol.md §2), from the
 * message msg. */
void metrics_error(struct metrics *m, const char *msg);
/* Counts what the holds became in an entry applied (fsm_changes). */
void metrics_changes(struct metrics *m, const struct fsm_change *ch, size_t n);
/* Appends the exposition of everything srv counts and knows. */
void metrics_write(struct server *srv, struct buf *b);

#endif
