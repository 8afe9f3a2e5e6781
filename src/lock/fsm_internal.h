/* fsm_internal.h - the lock state machine's private state, shared by its
 * files: fsm.c (apply, events, reads), fsm_lock.c (locks, waiters, timers),
 * fsm_session.c (sessions, remembered outcomes), fsm_cmd.c (the command
 * codec), fsm_snapshot.c and fsm_check.c. docs/design.md §11 states the
 * rules; this file says how the state holds them. */
#ifndef DLOCK_FSM_INTERNAL_H
#define DLOCK_FSM_INTERNAL_H

#include "common/avl.h"
#include "common/map.h"
#include "lock/fsm.h"

#define FSM_NOPOS UINT32_MAX /* not in a heap */

/* Circular doubly-linked lists whose first item is *head (NULL: empty),
 * linked through the fields prev and next of each item: x appended last,
 * or x taken out. */
#define FSM_RING_APPEND(head, x, prev, next)                                   \
    do {                                                                       \
        if (*(head) == NULL) {                                                 \
            (x)->prev = (x)->next = (x);                                       \
            *(head) = (x);                                                     \
        } else {                                                               \
            (x)->prev = (*(head))->prev;                                       \
            (x)->next = *(head);                                               \
            (x)->prev->next = (x);                                             \
            (*(head))->prev = (x);                                             \
        }                                                                      \
    } while (0)
#define FSM_RING_REMOVE(head, x, prev, next)                                   \
    do {                                                                       \
        if ((x)->next == (x))                                                  \
            *(head) = NULL;                                                    \
        else if (*(head) == (x))                                               \
            *(head) = (x)->next;                                               \
        (x)->prev->next = (x)->next;                                           \
        (x)->next->prev = (x)->prev;                                           \
    } while (0)

struct fsm_session;
struct fsm_waiter;

/* A lock the machine knows, or a semaphore (permits > 0): held, or free
 * in lock-delay, with or without waiters. Nothing else: one that is free,
 * has no waiters and no lock-delay is forgotten at once. One with waiters
 * is one whose first waiter cannot be granted now (a lock in lock-delay,
 * or the first waiter's mode or count does not fit). A lock in lock-delay
 * grants nothing; a semaphore's lock-delay holds back only the permits of
 * its holders whose sessions expired (expired), until its end. The name
 * is stored inline and is the key of fsm.locks. */
struct fsm_lock {
    struct avl_node by_name;    /* in fsm.order */
    struct avl_tree holds;      /* struct fsm_hold by (session id, owner);
                                   empty: free */
    struct fsm_waiter *waiters; /* FIFO (circular): the first; or NULL */
    uint64_t available_at;      /* the lock-delay's end; 0: none */
    uint32_t heap_pos;          /* place in fsm.delays, or FSM_NOPOS */
    uint32_t n_waiters;
    uint32_t permits;   /* a semaphore's; 0: a lock */
    uint32_t used;      /* a semaphore's permits held: its holds' shared */
    uint32_t expired;   /* a semaphore's permits held back until the
                           lock-delay ends (> 0 exactly while in it) */
    char *value;        /* an election's, while it has a leader; or NULL */
    uint16_t value_len; /* its bytes (FSM_VALUE_MAX at most) */
    uint8_t kind;       /* enum fsm_kind */
    bool deferred;      /* in fsm.deferred (fsm_lock_defer) */
    uint16_t name_len;
    char name[];
};

/* A (session, owner)'s hold of a lock: its exclusive and shared holds
 * (reentrant, counted apart; at least one of them), the token of its
 * first grant and the lock-delay that grant asked for. In its lock's
 * holds and in its session's list, in the order the session acquired. */
struct fsm_hold {
    struct avl_node by_holder; /* in lock->holds */
    struct fsm_lock *lock;
    struct fsm_session *session;
    struct fsm_hold *prev, *next; /* the session's holds (circular) */
    uint64_t token;               /* the fencing token */
    uint64_t grant;               /* granted to a blocking ACQUIRE: the index
                                     of the last answer that told a client of
                                     it (its waiter's seen, or the ACQUIRE's
                                     own index when granted at once), which
                                     an UNWAIT names to take it back; 0 once
                                     a repeat learnt it, or for a try */
    uint32_t exclusive;           /* exclusive holds */
    uint32_t shared;              /* shared holds; of a semaphore, permits */
    uint32_t delay_ms;            /* lock-delay if the session expires */
    uint32_t grant_count;         /* a semaphore's: the permits of the grant
                                     an UNWAIT may take back */
    uint64_t since;               /* cluster time it was made (or the state
                                     restored): not in snapshots, only told
                                     (fsm_hold_info, fsm_change.age_ms) */
    uint8_t owner_len;
    char owner[];
};

/* A queued ACQUIRE. It sits in its lock's FIFO, in its session's list of
 * waits (in the order queued, so by index), in fsm.waits by the time it
 * ends (fsm_lock_wait_end) and in fsm.waiting by index. */
struct fsm_waiter {
    struct fsm_lock *lock;
    struct fsm_session *session;
    struct fsm_waiter *prev, *next;   /* in the lock's FIFO (circular) */
    struct fsm_waiter *sprev, *snext; /* in the session's waits (circular) */
    uint64_t index;                   /* log index of the ACQUIRE: unique */
    uint64_t deadline;                /* cluster time the wait runs out */
    uint64_t gone_until; /* its client went away (UNWAIT): the wait ends
                            then unless the ACQUIRE is repeated; 0: not
                            gone */
    uint64_t seen;       /* the index of the ACQUIRE, or of its latest
                            repeat: when a client last learnt it waits */
    uint64_t since;      /* cluster time it was queued (or the state
                            restored), as fsm_hold.since */
    uint32_t delay_ms;   /* the lock-delay the ACQUIRE asked for */
    uint32_t heap_pos;   /* place in fsm.waits */
    uint8_t owner_len, req_len;
    bool shared;        /* an ACQUIRE_SHARED's, or a SEM_ACQUIRE's */
    uint32_t count;     /* a SEM_ACQUIRE's permits; 0 for a lock's */
    uint16_t value_len; /* a CAMPAIGN's value, after the req in data */
    char data[];        /* owner, then req, then value */
};

/* A grant to a wait whose client had gone (UNWAIT), to be taken back at
 * `until` unless a repeat of its ACQUIRE learns it first (the lock's grant
 * is then 0). Found by the lock's name at its time, and dropped then
 * whatever became of the lock: a lock is never looked up through one
 * before, so one that outlives its grant is harmless. */
struct fsm_claim {
    uint64_t until;   /* cluster time */
    uint64_t index;   /* of the ACQUIRE, for its event */
    uint64_t grant;   /* the lock's grant */
    uint64_t session; /* the holder */
    uint32_t heap_pos;
    uint16_t name_len;
    uint8_t req_len;
    char data[]; /* name, then req */
};

/* A remembered outcome of a request. The key is the request id (for
 * CLOSE: the 8-byte session id, then the request id): one id names one
 * request of its table, so the type and the fingerprint of the arguments
 * are kept beside it, and a repeat of the id with another type or other
 * arguments is refused (FSM_REQ_REUSED, docs/design.md §11.6). */
struct fsm_outcome {
    uint64_t session; /* the result's session */
    uint64_t value;   /* token (ACQUIRE OK), holder (HELD), ttl (OPEN,
                         EXTEND, SET_TTL OK), the waiter's index (QUEUED) */
    uint64_t fp;      /* fsm_cmd_fingerprint of the command; 0: none (a
                         CLOSE's) or not known (a version 1 or 2
                         snapshot's): any arguments match */
    uint32_t holds;
    uint8_t status;
    uint8_t type; /* the command's */
    uint8_t key_len;
    char key[];
};

/* A FIFO of remembered outcomes, the oldest dropped first beyond max. A
 * session's table is searched by a scan of the ring's hashes while it is
 * small; from FSM_OTABLE_SCAN_MAX outcomes on, through slots: an open
 * addressing index (linear probing, 2 * cap slots, each a ring position
 * + 1, 0 when empty), kept in step by add, drop and grow. The global tables
 * index it by key in a map instead. */
#define FSM_OTABLE_SCAN_MAX 8
struct fsm_otable {
    struct fsm_outcome **ring;
    uint32_t *hashes; /* of ring[i]'s key, for a scan in cache */
    uint32_t head, n, cap;
    uint32_t max;
    uint32_t *slots; /* NULL until the table outgrows a scan */
    uint32_t n_slots;
    struct map_str *index; /* key -> outcome (malloc'd); NULL for a
                              session's table */
};

struct fsm_session {
    struct fsm_session *prev, *next; /* all sessions (circular), by id */
    uint64_t id;                     /* the log index that opened it */
    uint64_t ttl;
    struct fsm_hold *holds;   /* in acquisition order; or NULL */
    struct fsm_waiter *waits; /* queued, in the order queued; or NULL */
    uint32_t n_holds, n_waits;
    struct fsm_otable outcomes; /* ACQUIRE, RELEASE and SET_TTL by req */
    bool lease_lock;            /* opened by a lease-lock ACQUIRE */
    uint8_t client_len;
    uint8_t user_len;
    char client[]; /* the client name, then the user's (FSM_SESSION_USER) */
};
/* The user that opened session s (user_len bytes). */
#define FSM_SESSION_USER(s) ((s)->client + (s)->client_len)

/* A user (fsm_user.c): its name and definition (acl.h's bytes). */
struct fsm_user {
    uint32_t def_len;
    uint8_t name_len;
    char name[FSM_USER_MAX];
    uint8_t def[];
};

/* A binary min-heap of waiters or locks, each item recording its place in
 * the uint32_t at pos_off. before() must be a total order, so that the order
 * of equal times does not depend on the history of the heap. */
struct fsm_heap {
    void **v;
    size_t n, cap;
    size_t pos_off;
    bool (*before)(const void *a, const void *b);
};

/* Events' strings live in blocks that are not moved until cleared. */
struct fsm_arena {
    struct fsm_arena *next;
    size_t used, cap;
    char data[];
};

struct fsm {
    struct fsm_limits lim;
    uint64_t now;               /* the largest `now` applied */
    uint64_t applied;           /* index of the last entry applied */
    uint64_t last_token;        /* the last token granted, of any lock */
    struct fsm_counts counts;   /* what this machine applied (fsm_stats):
                                   not state, kept across a restore */
    struct map_str locks;       /* name -> struct fsm_lock */
    struct avl_tree order;      /* the same locks in name order (LOCK.LIST,
                                   snapshots) */
    struct map_u64 sessions;    /* id -> struct fsm_session */
    struct fsm_session *first;  /* the session of lowest id, or NULL */
    struct fsm_heap waits;      /* waiters by (end, index) */
    struct fsm_heap delays;     /* free locks by (available_at, name) */
    struct fsm_heap claims;     /* fsm_claim by (until, index, ...) */
    struct map_u64 waiting;     /* index -> struct fsm_waiter */
    struct fsm_otable opens;    /* OPEN, lease ACQUIRE and RELEASE, EXTEND */
    struct fsm_otable closes;   /* CLOSE by (session, req) */
    struct map_str users;       /* name -> struct fsm_user */
    bool auth_on;               /* a user was ever set */
    uint64_t n_held, n_waiters; /* holds, waiters */
    uint64_t bytes; /* allocated for locks, waiters, sessions, outcomes */
    struct fsm_event *ev;
    size_t n_ev, cap_ev;
    struct fsm_arena *arena;
    struct fsm_session_change *sc; /* fsm_session_changes */
    size_t n_sc, cap_sc;
    struct fsm_change *ch; /* fsm_changes */
    size_t n_ch, cap_ch;
    /* While a command ends many waits (a session's, or every one), the
     * locks whose first waiters may now be granted wait here, in the
     * order they came, until it is done (fsm_lock_defer). */
    bool deferring;
    struct fsm_lock **deferred;
    size_t n_deferred, cap_deferred;
};

/* fsm.c */
/* The change just recorded was a grant to a wait queued at since, or the
 * end of a hold made at since (fsm_change.age_ms). */
void fsm_change_waited(struct fsm *f, uint64_t since);
void fsm_change_held(struct fsm *f, uint64_t since);
/* Records a change of a hold of l (fsm_changes): of session's under owner
 * with token, with the holds given after it. */
void fsm_changed(struct fsm *f, const struct fsm_lock *l, uint8_t type,
                 uint64_t session, const char *owner, uint32_t owner_len,
                 uint64_t token, uint32_t exclusive, uint32_t shared);
void *fsm_alloc(struct fsm *f, size_t n);
void fsm_dealloc(struct fsm *f, void *p, size_t n);
/* Records a session change (fsm_session_changes): ttl 0 when it ended. */
void fsm_session_changed(struct fsm *f, uint64_t id, uint64_t ttl);
void fsm_emit(struct fsm *f, uint8_t type, uint64_t session, uint64_t token,
              uint64_t index, const char *name, uint32_t name_len,
              const char *req, uint32_t req_len);
uint64_t fsm_add_sat(uint64_t a, uint64_t b);
bool fsm_bytes_eq(const void *a, size_t alen, const void *b, size_t blen);
int fsm_name_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen);
/* Aborts unless rc is 0: a map's DLOCK_ENOMEM, in the server that may abort
 * on out-of-memory. */
void fsm_xok(int rc);

/* fsm_lock.c */
struct fsm_lock *fsm_lock_get(const struct fsm *f, const char *name,
                              uint32_t len);
struct fsm_lock *fsm_lock_new(struct fsm *f, const char *name, uint32_t len);
/* The order of fsm.order: fsm_name_cmp of the locks' names. */
int fsm_lock_order(const struct avl_node *a, const struct avl_node *b);
/* The order of a lock's holds: by session id, then owner. */
int fsm_lock_hold_order(const struct avl_node *a, const struct avl_node *b);
/* s's hold of l under owner, or NULL. */
struct fsm_hold *fsm_lock_find(const struct fsm_lock *l,
                               const struct fsm_session *s, const char *owner,
                               uint32_t owner_len);
/* The hold of l by session whose grant is grant (not 0), or NULL: a walk
 * over the session's holds of l, one per owner. */
struct fsm_hold *fsm_lock_granted_to(const struct fsm_lock *l, uint64_t session,
                                     uint64_t grant);
/* The hold of l with token, or NULL: a walk over l's holds. */
struct fsm_hold *fsm_lock_with_token(const struct fsm_lock *l, uint64_t token);
/* The first hold of l (by session id, then owner), or NULL if free. */
struct fsm_hold *fsm_lock_first(const struct fsm_lock *l);
/* The hold of l that is c's owner's as a lease lock or lease semaphore: a
 * lease-lock session's, with c's owner (not empty) and user; or NULL. */
struct fsm_hold *fsm_lock_lease_of(const struct fsm_lock *l,
                                   const struct fsm_cmd *c);
/* Whether a request fits l's holds now: of a lock, an exclusive one no
 * hold at all, a shared one no exclusive hold; of a semaphore, count
 * permits besides those used and held back. */
bool fsm_lock_fits(const struct fsm_lock *l, bool shared, uint32_t count);
/* Whether l grants now: out of lock-delay, and nobody waits. */
bool fsm_lock_open(const struct fsm *f, const struct fsm_lock *l);
/* Makes s's new hold of l under owner (appended to s's holds), with the
 * token, holds and delay given (a snapshot's restore; l may be in
 * lock-delay). */
struct fsm_hold *fsm_lock_hold(struct fsm *f, struct fsm_lock *l,
                               struct fsm_session *s, const char *owner,
                               uint8_t owner_len, uint64_t token,
                               uint32_t exclusive, uint32_t shared,
                               uint32_t delay_ms);
/* A new hold of l for s with the holds given (a semaphore's: shared,
 * permits) and a new token; a lock's lock-delay, if it had one, is over
 * (it ends here). */
struct fsm_hold *fsm_lock_grant(struct fsm *f, struct fsm_lock *l,
                                struct fsm_session *s, const char *owner,
                                uint8_t owner_len, uint32_t exclusive,
                                uint32_t shared, uint32_t delay_ms);
/* Records that h changed (fsm_changes), as it is now. */
void fsm_lock_changed(struct fsm *f, const struct fsm_hold *h, uint8_t type);
/* Adds n shared holds (a semaphore's permits) to h. */
void fsm_lock_add(struct fsm_lock *l, struct fsm_hold *h, uint32_t n);
/* Ends a semaphore's lock-delay that is over (at or before the clock),
 * granting its first waiters as far as they fit; false if that forgot it
 * (l is gone). */
bool fsm_lock_delay_check(struct fsm *f, struct fsm_lock *l);
/* Ends the hold h (all its holds). expired: its session's lease ended, so
 * FSM_EV_LOST and the hold's lock-delay. Then the lock's first waiters
 * get it as far as they fit, or it is forgotten. */
void fsm_lock_drop(struct fsm *f, struct fsm_hold *h, bool expired);
/* Drops n holds of h in the mode (shared or not), which it has; at none
 * left, h goes as by fsm_lock_drop, not expired. Returns the holds left
 * in both modes. */
uint32_t fsm_lock_put(struct fsm *f, struct fsm_hold *h, bool shared,
                      uint32_t n);
/* Turns h's exclusive holds into shared ones; the first waiters get the
 * lock as far as they fit. */
void fsm_lock_downgrade(struct fsm *f, struct fsm_hold *h);
/* Puts l in lock-delay until at (> 0), or later if it already is. */
void fsm_lock_delay(struct fsm *f, struct fsm_lock *l, uint64_t at);
/* Appends a waiter to l's FIFO: seen is the index, gone_until 0. */
struct fsm_waiter *fsm_lock_enqueue(struct fsm *f, struct fsm_lock *l,
                                    struct fsm_session *s, uint64_t index,
                                    uint64_t deadline, uint32_t delay_ms,
                                    bool shared, uint32_t count,
                                    const char *owner, uint8_t owner_len,
                                    const char *req, uint8_t req_len,
                                    const char *value, uint16_t value_len);
/* Sets an election's value (len bytes; 0: none). */
void fsm_lock_set_value(struct fsm *f, struct fsm_lock *l, const char *value,
                        uint16_t len);
/* The bytes a waiter takes. */
size_t fsm_lock_waiter_size(const struct fsm_waiter *w);
/* Ends the wait w: FSM_EV_TIMEOUT or FSM_EV_CANCELED, its outcome updated;
 * the waiters after it get the lock if they fit now. A lease-lock session
 * left with nothing is closed on a timeout. */
void fsm_lock_unwait(struct fsm *f, struct fsm_waiter *w, uint8_t ev_type);
/* When w's wait ends: its deadline, or sooner if its client is gone. */
uint64_t fsm_lock_wait_end(const struct fsm_waiter *w);
/* w's client is gone until `until` (0: it is back, by a repeat): sets
 * gone_until and moves w in fsm.waits. */
void fsm_lock_set_gone(struct fsm *f, struct fsm_waiter *w, uint64_t until);
/* Takes back h's grant (h->grant != 0) to the ACQUIRE at index, which
 * nobody learnt: FSM_EV_WITHDRAWN, and the outcome of req (that ACQUIRE's
 * request id) becomes FSM_TIMEOUT. Of a lock, an exclusive hold goes if h
 * has one, else a shared one; of a semaphore, the grant's permits. At
 * none left h goes (a lease lock's session closes). Returns the holds
 * left. */
uint32_t fsm_lock_withdraw(struct fsm *f, struct fsm_hold *h, uint64_t index,
                           const char *req, uint8_t req_len);
/* Records that h's grant to the ACQUIRE at index is taken back at until
 * unless learnt first. */
void fsm_lock_claim(struct fsm *f, const struct fsm_hold *h, uint64_t index,
                    uint64_t until, const char *req, uint8_t req_len);
/* Adds a claim as it was (snapshot restore); returns it. */
struct fsm_claim *fsm_lock_claim_add(struct fsm *f, uint64_t until,
                                     uint64_t index, uint64_t grant,
                                     uint64_t session, const char *name,
                                     uint16_t name_len, const char *req,
                                     uint8_t req_len);
void fsm_lock_claim_free(struct fsm *f, struct fsm_claim *c);
/* Whether grant is one a hold of s can have: none (0), or an answer
 * after s opened (a lease lock's ACQUIRE is the one that opened it), not
 * past the index applied. fsm_check and snapshot restore check it. */
bool fsm_lock_grant_ok(const struct fsm *f, const struct fsm_session *s,
                       uint64_t grant);
/* Whether c names a grant of a real ACQUIRE, with its request id (its
 * name and request id are not looked at, only their lengths). */
bool fsm_lock_claim_ok(const struct fsm *f, const struct fsm_claim *c);
/* Ends the waits, claims and lock-delays due at f->now, in time order. */
void fsm_lock_tick(struct fsm *f);
/* From here on, the first waiters of a lock whose waits end are not
 * granted at once: the lock waits in fsm.deferred until
 * fsm_lock_undefer, which grants them, lock by lock in the order they
 * came. So a session's end cancels all its waits before any is granted
 * its own lock (docs/design.md §11.2), and UNWAIT 0 marks every wait gone
 * before it grants (§11.4). No lock is freed meanwhile. */
void fsm_lock_defer(struct fsm *f);
void fsm_lock_undefer(struct fsm *f);
void fsm_heap_init(struct fsm_heap *h, size_t pos_off,
                   bool (*before)(const void *a, const void *b));
void fsm_heap_close(struct fsm_heap *h);
void fsm_heap_push(struct fsm_heap *h, void *item);
void fsm_heap_remove(struct fsm_heap *h, void *item);
bool fsm_lock_waiter_before(const void *a, const void *b);
bool fsm_lock_delay_before(const void *a, const void *b);
bool fsm_lock_claim_before(const void *a, const void *b);
/* The order of claims in fsm_lock_claim_before and in snapshots: by
 * (until, index, grant, session, name, req); < 0, 0 (the same) or > 0. */
int fsm_lock_claim_cmp(const struct fsm_claim *a, const struct fsm_claim *b);

/* fsm_cmd.c */
/* The fingerprint of the arguments that define the request c: a 64-bit
 * hash (FNV-1a over a fixed layout: it is kept in snapshots) of its type,
 * session, ttl, delay, token, name, owner and client, of a SEM_*'s
 * permits and count, and of a CAMPAIGN's or PROCLAIM's value; never 0. Not
 * of its
 * wait, which says only how long this attempt waits (a repeat may wait
 * again with another), nor of its time or request id. */
uint64_t fsm_cmd_fingerprint(const struct fsm_cmd *c);

/* fsm_session.c */
struct fsm_session *fsm_session_get(const struct fsm *f, uint64_t id);
/* A new session with id (above every other), appended to the list. */
struct fsm_session *fsm_session_new(struct fsm *f, uint64_t id, uint64_t ttl,
                                    const char *client, uint8_t client_len,
                                    const char *user, uint8_t user_len,
                                    bool lease_lock);
/* Ends s: cancels its waits (in the order queued), ends its holds (in the
 * order acquired; expired: with lock-delay and FSM_EV_LOST), deletes it. */
void fsm_session_end(struct fsm *f, struct fsm_session *s, bool expired);
/* Deletes s, which holds and waits for nothing. */
void fsm_session_delete(struct fsm *f, struct fsm_session *s);
/* An empty table of at most max outcomes, indexed by a map if indexed. */
void fsm_session_otable_init(struct fsm_otable *t, size_t max, bool indexed);
/* Frees t's outcomes and its index; t must be initialised again to be
 * used. */
void fsm_session_otable_close(struct fsm *f, struct fsm_otable *t);
/* Builds a key (prefix of plen bytes, then req) into buf (FSM_KEY_MAX
 * bytes); returns its length. */
#define FSM_KEY_MAX (8 + FSM_REQ_MAX)
uint8_t fsm_session_key(char *buf, const void *prefix, size_t plen,
                        const char *req, uint32_t req_len);
struct fsm_outcome *fsm_session_otable_find(const struct fsm_otable *t,
                                            const char *key, uint8_t len);
/* Appends a copy of o's fields under key, dropping the oldest beyond max.
 * The key must not be in t. */
struct fsm_outcome *fsm_session_otable_add(struct fsm *f, struct fsm_otable *t,
                                           const char *key, uint8_t len,
                                           const struct fsm_outcome *o);

/* fsm_user.c */
void fsm_user_init(struct fsm *f);
void fsm_user_free(struct fsm *f);
/* USER_SET, USER_DEL (fsm.h). */
void fsm_user_set(struct fsm *f, const struct fsm_cmd *c,
                  struct fsm_result *res);
void fsm_user_del(struct fsm *f, const struct fsm_cmd *c,
                  struct fsm_result *res);
/* Adds a user as restored from a snapshot: false if its name or definition
 * is not valid, or it is there already. */
bool fsm_user_load(struct fsm *f, const char *name, uint32_t len,
                   const uint8_t *def, uint32_t def_len);
/* The users by name, malloc'd (n of them): for snapshots and checks. */
const struct fsm_user **fsm_user_sorted(const struct fsm *f, size_t *n);

/* fsm_leases.c: LEASES (fsm.h). */
/* Whether a lease-lock session may have these: it waits for its one lock,
 * or holds its locks (one, or a LEASES command's several). */
bool fsm_lease_counts_ok(uint32_t holds, uint32_t waits);
/* Whether a lease-lock session's hold may have these: one exclusive hold
 * of a lock, or permits of a semaphore (permits > 0). */
bool fsm_lease_hold_ok(uint32_t permits, uint32_t exclusive, uint32_t shared);
void fsm_leases_apply(struct fsm *f, uint64_t index, const struct fsm_cmd *c,
                      struct fsm_result *res);

/* fsm_snapshot.c: see fsm.h. */

#endif
