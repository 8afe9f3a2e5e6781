/* lockmodel.h - a reference model of the lock service that follows a lock
 * state machine's apply stream: given each command and what the machine
 * answered (its result and events), it checks the answer against the rules
 * of docs/protocol.md and fsm.h and moves its own state on. Grants take
 * their tokens from the machine, which need only exceed every earlier
 * grant's; everything else is predicted. Whether a request is a retry is
 * decided by the caller (tests/sim/lockcheck.c keeps the first outcome of
 * every request id), since it is a fact about the log, not the state. */
#ifndef DLOCK_SIM_LOCKMODEL_H
#define DLOCK_SIM_LOCKMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock/fsm.h"

struct lockmodel;

/* What the caller knows of a request id: when replay is set, the command
 * repeats a request whose outcome was remembered, and first is that
 * outcome as it stands at this index (a queued ACQUIRE's final outcome once
 * its wait ended). When reused is set, the id names another request of its
 * table (another type, or other arguments): FSM_REQ_REUSED, nothing
 * changed; for a CLOSE, one of its session's requests (it counts while the
 * session is open). */
struct lockmodel_replay {
    bool replay;
    bool reused;
    struct fsm_result first;
};

struct lockmodel *lockmodel_new(void);
void lockmodel_free(struct lockmodel *m);
struct lockmodel *lockmodel_copy(const struct lockmodel *m);

/* Follows the NORMAL entry at index, above every one followed before: cmd
 * is its decoded command (NULL if it does not decode), res and ev[0..n_ev)
 * what the machine answered. False, with the first disagreement in why,
 * if the answer breaks a rule; the model has then moved on as best it
 * could. */
bool lockmodel_follow(struct lockmodel *m, uint64_t index,
                      const struct fsm_cmd *cmd,
                      const struct lockmodel_replay *rp,
                      const struct fsm_result *res, const struct fsm_event *ev,
                      size_t n_ev, char *why, size_t cap);

/* Whether the machine f is in the model's state: every lock the model
 * knows (and name[0..len), when len > 0) has the same holder, owner,
 * token, holds, waiters and lock-delay; the clock, last token, applied
 * index and next deadline agree. With full, also every lock and session
 * the machine knows. False with the first difference in why. */
bool lockmodel_agrees(const struct lockmodel *m, const struct fsm *f,
                      const char *name, uint32_t len, bool full, char *why,
                      size_t cap);

/* After lockmodel_follow: the holds in both modes of the hold that its
 * i-th event, a GRANTED, went to, right after it (more than 1 when the
 * waiter joined its session and owner's hold); 0 for other events. What
 * the machine remembers as the outcome of that waiter's request. */
uint32_t lockmodel_grant_holds(const struct lockmodel *m, size_t i);

/* A digest of the whole state. */
uint64_t lockmodel_digest(const struct lockmodel *m);
/* True if session id is open; *lease tells whether a lease lock's. */
bool lockmodel_session(const struct lockmodel *m, uint64_t id, bool *lease);
uint64_t lockmodel_applied(const struct lockmodel *m);

/* One-line descriptions for traces and failures. */
void lockmodel_describe_cmd(const struct fsm_cmd *c, char *buf, size_t cap);
void lockmodel_describe_res(const struct fsm_result *r, char *buf, size_t cap);
const char *lockmodel_status_name(uint8_t status);
const char *lockmodel_event_name(uint8_t type);

#endif
