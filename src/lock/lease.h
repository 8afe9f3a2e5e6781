/* lease.h - the leader's record of when each session's lease ends.
 *
 * Leases are not replicated: only the leader tracks them, in cluster time
 * (docs/design.md §11). A keepalive, confirmed by a ReadIndex round, moves a
 * session's end to now + ttl; a leader that takes over gives every session a
 * fresh lease from the moment it is ready. Pure: time comes in as arguments.
 */
#ifndef DLOCK_LEASE_H
#define DLOCK_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lease; /* opaque */

/* Aborts on out-of-memory (server only). */
struct lease *lease_new(void);
void lease_free(struct lease *l);

/* Forgets every session. */
void lease_clear(struct lease *l);
/* The lease of session id ends at now + ttl (adding the session if new). */
void lease_set(struct lease *l, uint64_t id, uint64_t ttl, uint64_t now);
void lease_remove(struct lease *l, uint64_t id);
/* Milliseconds left at now, 0 if over or unknown. */
uint64_t lease_left(const struct lease *l, uint64_t id, uint64_t now);
/* The session's TTL, 0 if unknown. */
uint64_t lease_ttl(const struct lease *l, uint64_t id);
/* Fills ids (at most max) with sessions whose lease ended at or before now
 * and that were not reported in the last retry_ms; returns how many. Each
 * one is reported again after retry_ms until removed or renewed, so that an
 * expiry lost with a leader change is proposed again. A session with a
 * keepalive under way (lease_hold) is not reported: it is looked at again
 * after now. */
size_t lease_due(struct lease *l, uint64_t now, uint64_t retry_ms,
                 uint64_t *ids, size_t max);
size_t lease_count(const struct lease *l);
/* Fills ids (at most max, by the end of their leases, soonest first) with
 * the sessions whose leases end soonest, and returns how many: a walk of
 * the heap in key order that reads at most LEASE_NEAREST_VISITS entries
 * (stale ones among them), whatever the number of sessions, and keeps the
 * soonest ends of the first 4 max sessions it finds (a lease reported
 * over is found by its next retry, later than its end). */
#define LEASE_NEAREST_VISITS 65536
size_t lease_nearest(const struct lease *l, uint64_t *ids, size_t max);
/* The earliest time at which lease_due may report a session, or UINT64_MAX
 * if none has a lease. */
uint64_t lease_next_due(struct lease *l);
/* A keepalive for session id was received: until lease_unhold, lease_due
 * does not report it, so that its expiry cannot overtake it. Holds nest;
 * ignored for an unknown session. */
void lease_hold(struct lease *l, uint64_t id);
void lease_unhold(struct lease *l, uint64_t id);
/* Whether session id has a lease that lease_due has not reported over (a
 * keepalive may still renew it, even past its end: its expiry has not been
 * proposed). */
bool lease_alive(const struct lease *l, uint64_t id);

#endif
