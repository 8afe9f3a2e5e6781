/* watch.h - watches of names (docs/protocol.md §4, "Watches"): every
 * change of a name's holds that this server applies (fsm_changes), with
 * its revision (the log index of the entry that made it), is kept in a
 * bounded history and pushed, in the order applied, to the connections
 * that watch the name (RESP3 pushes), or answers a WATCH.NEXT that waits
 * for it (any protocol).
 *
 * Revisions never go backwards and no change is skipped on a connection:
 * a watch that starts from a revision the history no longer holds, or
 * whose connection lets its pushes back up past WATCH_BACKLOG_MAX, gets a
 * "gone" change instead (the revision from which the history is whole)
 * and, for a backlog, ends. All of it runs on the loop; nothing here
 * allocates without a bound: watches per connection, history entries and
 * the bytes each keeps are capped. */
#ifndef DLOCK_WATCH_H
#define DLOCK_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lock/fsm.h"

#define WATCH_HISTORY 65536          /* changes kept for FROM, WATCH.NEXT */
#define WATCH_PER_CONN 1024          /* names one connection watches */
#define WATCH_BACKLOG_MAX (1u << 20) /* unsent bytes a watch may leave */

struct watch_hub;
struct conn;
struct slot;

/* A hub on loop, keeping the last history changes (WATCH_HISTORY when 0). */
struct watch_hub *watch_hub_new(uv_loop_t *loop, size_t history);
/* Stops its timer; done(arg) once closed, then watch_hub_free. Every
 * connection must be closed by then (watch_conn_closed). */
void watch_hub_close(struct watch_hub *h, void (*done)(void *arg), void *arg);
void watch_hub_free(struct watch_hub *h);

/* The changes of the entry at revision, as the node applied it; since is
 * the index of the snapshot the machine was last restored from (0: none).
 * A new one restarts the history there: the changes up to it were never
 * applied here, so a watch from before it is told "gone". */
void watch_feed(struct watch_hub *h, uint64_t since, uint64_t revision,
                const struct fsm_change *ch, size_t n);
/* The revision of the last entry fed (0 before any). */
uint64_t watch_revision(const struct watch_hub *h);

/* What INFO says of watches. */
struct watch_stats {
    uint64_t watches;    /* of names and sessions, by all connections */
    uint64_t waits;      /* WATCH.NEXT requests waiting */
    uint64_t kept;       /* changes in the history */
    uint64_t whole_from; /* the history has every change after it */
    uint64_t ended_slow; /* watches ended for 1 MiB of unsent pushes */
};
void watch_stats(const struct watch_hub *h, struct watch_stats *st);
/* The "lost" changes kept for watches of a session's losses (LOST), of a
 * history of `history` changes (0: WATCH_HISTORY): a sixteenth, at least
 * 16. */
size_t watch_lost_history(size_t history);

/* c (RESP3) watches name: the changes after revision from are pushed,
 * those of the history first. 0, or -1 when c watches WATCH_PER_CONN
 * names already. Watching a name again starts it afresh from from. The
 * pushes may close c (a write fails): then nothing is added. */
int watch_add(struct watch_hub *h, struct conn *c, const char *name,
              uint32_t len, uint64_t from);
/* Whether c may watch name (it watches it already, or fewer than
 * WATCH_PER_CONN names). */
bool watch_can_add(struct watch_hub *h, struct conn *c, const char *name,
                   uint32_t len);
/* c (RESP3) watches the holds of session id, of every name: each change of
 * them after revision from is pushed (named after its lock); with
 * only_lost, only the "lost" ones (a hold ended by expiry or a revoke).
 * As watch_add. */
int watch_add_session(struct watch_hub *h, struct conn *c, uint64_t id,
                      uint64_t from, bool only_lost);
/* c no longer watches session id (either kind); false if it did not. */
bool watch_remove_session(struct watch_hub *h, struct conn *c, uint64_t id);
bool watch_can_add_session(struct watch_hub *h, struct conn *c, uint64_t id,
                           bool only_lost);
/* c no longer watches name; false if it did not. */
bool watch_remove(struct watch_hub *h, struct conn *c, const char *name,
                  uint32_t len);
/* c closes: its watches and waits end. */
void watch_conn_closed(struct watch_hub *h, struct conn *c);

/* WATCH.NEXT: answers s (and ends it) with the changes of name at the
 * first revision after `after` that has any, from the history (an array
 * of them), or with one "gone" change if the history is not whole after
 * `after`; if none came yet, s waits until wait_ms from now for the next
 * revision that changes name (then a null reply). */
void watch_next(struct watch_hub *h, struct slot *s, const char *name,
                uint32_t len, uint64_t after, uint64_t wait_ms);

#endif
