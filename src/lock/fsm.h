/* fsm.h - the lock state machine: sessions, locks, FIFO waiters, fencing
 * tokens, lock-delay and remembered request outcomes.
 *
 * Pure and deterministic: apply reads no clock and draws no random number.
 * Every command carries the time the leader stamped into it ("cluster time",
 * milliseconds, never decreasing across leaders); the machine keeps the
 * largest it has seen as its clock. Everything that depends on time (a wait
 * running out, a lock-delay ending, a session's lease ending) happens only
 * when a command says so: the leader proposes FSM_TICK and
 * FSM_EXPIRE_BATCH.
 * Whether a waiting client is still there is not known to the machine
 * either: the leader says when one went away (FSM_UNWAIT). docs/design.md
 * §11 states the rules; docs/protocol.md the commands. */
#ifndef DLOCK_FSM_H
#define DLOCK_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits, the same on every server (they decide outcomes). */
#define FSM_NAME_MAX 256      /* lock name bytes */
#define FSM_OWNER_MAX 64      /* owner bytes */
#define FSM_REQ_MAX 64        /* request id bytes */
#define FSM_CLIENT_MAX 64     /* session client-name bytes */
#define FSM_TTL_MIN 100       /* ms */
#define FSM_TTL_MAX 3600000   /* ms, one hour */
#define FSM_WAIT_MAX 86400000 /* ms, one day */
#define FSM_DELAY_MAX 600000  /* ms, lock-delay */
#define FSM_SESSIONS_MAX 4000000
#define FSM_LOCKS_PER_SESSION_MAX 1000000
#define FSM_WAITERS_PER_LOCK_MAX 100000
#define FSM_OUTCOMES_PER_SESSION 256 /* remembered request outcomes */
#define FSM_OPEN_OUTCOMES 65536      /* remembered SESSION.OPEN outcomes */
#define FSM_DEFAULT_DELAY 1000       /* ms, lock-delay when not given */
#define FSM_EXPIRE_BATCH_MAX 8192    /* sessions of one EXPIRE_BATCH */
#define FSM_PERMITS_MAX 1000000      /* permits of one semaphore */
#define FSM_VALUE_MAX 1024           /* an election's value, bytes */
#define FSM_USER_MAX 64              /* a user name's bytes (ACL_USER_MAX) */
#define FSM_DATA_MAX 65535           /* USER_SET's definitions, bytes */
#define FSM_USERS_MAX 10000          /* users known */

enum fsm_cmd_type {
    FSM_OPEN = 1,    /* open a session */
    FSM_CLOSE = 2,   /* close a session: release all, cancel waits */
    FSM_EXPIRE = 3,  /* the leader ended a session's lease */
    FSM_ACQUIRE = 4, /* acquire (try, or wait) */
    FSM_RELEASE = 5, /* release one hold */
    FSM_EXTEND = 6,  /* lease lock: new TTL for the lock's own session */
    FSM_TICK = 7,    /* time passed: end waits and lock-delays that are due */
    FSM_SET_TTL = 8, /* change a session's TTL (reserved for clients) */
    FSM_UNWAIT = 9,  /* a waiting client went away: end its wait, or take
                        back the grant it did not learn */
    FSM_EXPIRE_BATCH = 10,   /* the leader ended the leases of many sessions:
                                an EXPIRE of each, in order */
    FSM_ACQUIRE_SHARED = 11, /* acquire in shared mode (a read lock) */
    FSM_RELEASE_SHARED = 12, /* release one shared hold */
    FSM_DOWNGRADE = 13,      /* exclusive holds become shared, in place */
    FSM_SEM_ACQUIRE = 14,    /* take permits of a semaphore */
    FSM_SEM_RELEASE = 15,    /* give permits back */
    FSM_CAMPAIGN = 16,       /* stand for leader of an election */
    FSM_PROCLAIM = 17,       /* the leader sets the election's value */
    FSM_RESIGN = 18,         /* the leader (or a candidate) steps back */
    FSM_REVOKE = 19,         /* an administrator ends a hold */
    FSM_USER_SET = 20,       /* make or change users (src/lock/acl.h) */
    FSM_USER_DEL = 21,       /* delete a user */
    FSM_LEASES = 22,         /* lease locks on several names at once, by
                                their owner (a Redis multi-key script) */
    FSM_SEM_LEASE = 23,      /* take permits of a semaphore as a lease */
};
#define FSM_CMD_MAX 23

/* LEASES: what it does (its count), and the names it takes at most. */
enum fsm_leases_op {
    FSM_LEASES_TAKE = 1,
    FSM_LEASES_EXTEND = 2,
    FSM_LEASES_RELEASE = 3,
};
#define FSM_LEASES_MAX 64

/* A command as proposed. Strings are not NUL-terminated; after
 * fsm_cmd_decode they point into the decoded buffer. Fields a type does not
 * use are zero.
 *   OPEN     ttl, client, req
 *   CLOSE    session, req
 *   EXPIRE   session
 *   ACQUIRE  session (0: a lease lock, with ttl: open a session of its own
 *            for this lock), name, owner, wait (0: try), delay
 *            (UINT64_MAX: FSM_DEFAULT_DELAY), req
 *   RELEASE  session, name, owner, req; or session 0 and token: a lease
 *            lock released by its token (its session closes)
 *   EXTEND   name, token, ttl, req
 *   TICK     (now only)
 *   SET_TTL  session, ttl, req
 *   UNWAIT   index: the log index of the blocking ACQUIRE whose client went
 *            away (0: every queued wait: the leader is new, and nobody
 *            waits on it yet), with that ACQUIRE's session (the lease
 *            lock's own, for one), name and req; wait: how long a wait
 *            with a request id keeps its place for the client to repeat
 *            it (one without ends at once); seen: when the leader saw the
 *            client go, the index of the last answer that told a client
 *            of the wait (fsm_wait_seen, or index for a grant made at
 *            once; for index 0, the last index applied): if a later
 *            answer told another client, the UNWAIT leaves the wait, or
 *            the grant made to it, alone
 *   EXPIRE_BATCH  ids, n_ids: 1 to FSM_EXPIRE_BATCH_MAX session ids
 *            (duplicates and ids of sessions that are gone allowed)
 *   ACQUIRE_SHARED  as ACQUIRE, but never a lease lock (session 0 is
 *            FSM_INVALID): lease locks are exclusive
 *   RELEASE_SHARED  session, name, owner, req (no token form)
 *   DOWNGRADE  session, name, owner, req
 *   SEM_ACQUIRE  session, name, owner, wait, delay, req, permits (the
 *            semaphore's: 1 to FSM_PERMITS_MAX), count (taken: 1 to
 *            permits)
 *   SEM_RELEASE  session, name, owner, req, count (given back: >= 1)
 *   CAMPAIGN session, name, owner, wait, delay, req, value
 *   PROCLAIM session, name, token (the leader's), req, value
 *   RESIGN   session, name, owner, req
 *   REVOKE   name, token (the hold's), delay (its lock-delay: UINT64_MAX
 *            for the hold's own), req: of any kind of name
 *   USER_SET data: one or more users, each its name (a byte of length,
 *            then the name) and its definition (2 bytes of length, then
 *            acl_encode's bytes, ACL_KEEP_PASSWORD allowed); count: 1 for
 *            a bootstrap, applied only while no user was ever set
 *   USER_DEL name: the user's
 *   SEM_LEASE  name, owner, ttl, delay, req, permits, count: as a lease
 *            lock's ACQUIRE, a session of its own (id = index) that takes
 *            count permits of the semaphore (a try: no wait); an owner (not
 *            empty) that holds permits of it so already is OK, and its
 *            lease starts again with ttl (a retry; nothing more taken).
 *            Released, extended and revoked by token or by LEASES, as a
 *            lease lock
 *   LEASES   count (enum fsm_leases_op), owner, ttl, data: 1 to
 *            FSM_LEASES_MAX names, each 2 bytes of length (1 to
 *            FSM_NAME_MAX) and its bytes (fsm_leases_names() writes them).
 *            A name is the owner's when a lease lock (or a lease
 *            semaphore's permits) holds it with that owner, not empty,
 *            for the command's user; TAKE is for locks.
 *            TAKE: if every name is free (no holder, no waiter, no
 *            lock-delay) or the owner's, those free are taken by one new
 *            lease-lock session (id = index, no lock-delay), and the TTL of
 *            every session holding the others becomes ttl: OK, holds = the
 *            names; else HELD (holder: the first other holder's session,
 *            0 if none), and nothing changes. EXTEND: if every name is the
 *            owner's, each session holding one gets ttl: OK, holds = the
 *            names; else NOTHELD, nothing changed. RELEASE: each name
 *            that is the owner's is released (a session with none left
 *            ends): OK, holds = how many. No request id: each is a
 *            retry's no-op, or does what it did again.
 *
 * Any type may carry user: the user a client authenticated as, stamped by
 * the server that proposes its command (empty: none, authentication is
 * off). A session belongs to the user that opened it (OPEN, a lease lock's
 * ACQUIRE): a command of another user that names it, or a lease lock's
 * token, is FSM_NOPERM.
 *
 * Modes (docs/design.md §11.10): a lock is held by one exclusive hold, or
 * by any number of shared ones. A hold is a (session, owner)'s, counts its
 * exclusive and its shared holds apart (reentrant in each mode), and has
 * the token it was granted first with.
 *
 * Semaphores (docs/design.md §11.3): a name with permits N, set by its
 * first SEM_ACQUIRE while it is known, holds permits per (session, owner)
 * and grants FIFO from the head as long as the count fits; an expired
 * holder's permits come back at the end of its lock-delay.
 *
 * Elections (docs/design.md §11.3): a name whose one exclusive holder is
 * the leader, with a value it proclaims; candidates wait in FIFO order. */
struct fsm_cmd {
    uint8_t type;
    uint64_t now; /* cluster time stamped by the leader */
    uint64_t session;
    uint64_t ttl;
    uint64_t wait;
    uint64_t delay;
    uint64_t token;
    uint64_t index;
    uint64_t seen;
    uint64_t permits; /* SEM_ACQUIRE: the semaphore's */
    uint64_t count;   /* SEM_*: the permits taken or given back */
    const char *name;
    uint32_t name_len;
    const char *owner;
    uint32_t owner_len;
    const char *req;
    uint32_t req_len;
    const char *client;
    uint32_t client_len;
    const char *value; /* CAMPAIGN, PROCLAIM: up to FSM_VALUE_MAX bytes */
    uint32_t value_len;
    const uint8_t *ids; /* n_ids session ids, 8 bytes little-endian each
                           (not aligned): fsm_cmd_id() reads one */
    uint32_t n_ids;
    const char *user; /* up to FSM_USER_MAX bytes */
    uint32_t user_len;
    const uint8_t *data; /* USER_SET: up to FSM_DATA_MAX bytes */
    uint32_t data_len;
};

/* Encodes cmd; returns the bytes needed (writes nothing past cap, and
 * nothing at all when cap is smaller than that). Returns 0 for a command
 * that fsm_cmd_decode would refuse (an unknown type, a string over its
 * limit): answer FSM_INVALID without proposing it. Strings may be NULL when
 * their length is 0. */
size_t fsm_cmd_encode(const struct fsm_cmd *cmd, uint8_t *buf, size_t cap);
/* Decodes buf (validating type, lengths against the limits above, no
 * trailing bytes); strings point into buf. 0 or -1. */
int fsm_cmd_decode(struct fsm_cmd *cmd, const uint8_t *buf, size_t len);
/* The i-th session id of an EXPIRE_BATCH (i < cmd->n_ids). */
uint64_t fsm_cmd_id(const struct fsm_cmd *cmd, uint32_t i);
/* The bytes an EXPIRE_BATCH of n session ids takes encoded. */
size_t fsm_cmd_batch_size(uint32_t n);
/* Appends name (1 to FSM_NAME_MAX bytes) to a LEASES command's data, the
 * *len bytes at buf of cap: false if it does not fit (nothing written). */
bool fsm_leases_add(uint8_t *buf, size_t cap, size_t *len, const char *name,
                    uint32_t name_len);

/* What applying a command did. */
enum fsm_status {
    FSM_OK = 0,        /* done: see the fields */
    FSM_QUEUED = 1,    /* ACQUIRE with wait: in the queue, answer comes later */
    FSM_HELD = 2,      /* try-lock: held by another */
    FSM_NOTHELD = 3,   /* release/extend: the caller does not hold it;
                          UNWAIT: no such wait or unclaimed grant (any
                          more) */
    FSM_NOSESSION = 4, /* unknown or expired session */
    FSM_LIMIT = 5,     /* a limit above would be passed: nothing changed */
    FSM_INVALID = 6,   /* malformed command: nothing changed */
    FSM_TIMEOUT = 7,   /* replayed ACQUIRE: the wait ran out */
    FSM_CANCELED = 8,  /* replayed lease-lock ACQUIRE: the wait ended with
                          its session (expired) */
    FSM_REQ_REUSED = 9, /* the request id names another request (another
                           type, or other arguments): nothing changed */
    FSM_UPGRADE = 10,   /* an exclusive ACQUIRE by a session and owner that
                           hold the lock shared only: refused (an upgrade
                           could deadlock), nothing changed */
    FSM_KIND = 11,      /* the name is of another kind (a lock named by a
                           SEM_*, a semaphore by a lock command, an
                           election by either), or a semaphore with other
                           permits (res.kind and res.permits say what it
                           is): nothing changed */
    FSM_NOPERM = 12,    /* the session, or the lease lock, is another
                           user's: nothing changed */
};

struct fsm_result {
    uint8_t status;
    bool replayed;    /* a request id seen before: this is the first outcome */
    uint64_t session; /* OPEN: the new session id; ACQUIRE: the session */
    uint64_t token;   /* ACQUIRE granted, DOWNGRADE: the hold's fencing
                         token; UNWAIT: the token of the grant taken back
                         now, 0 if none */
    uint32_t holds;   /* ACQUIRE/RELEASE/UNWAIT/DOWNGRADE: the holds this
                         session and owner have, in both modes */
    uint64_t holder;  /* HELD: the holder's session */
    uint64_t ttl;     /* OPEN/EXTEND/SET_TTL: the session's TTL */
    uint32_t expired; /* EXPIRE, EXPIRE_BATCH: how many sessions it ended
                         (the others were gone already) */
    uint32_t users;   /* USER_SET: the users it set */
    uint8_t kind;     /* FSM_KIND: the name's (enum fsm_kind) */
    uint64_t permits; /* FSM_KIND: the name's permits, 0 for a lock;
                         SEM_RELEASE: the permits the holder has left */
    uint64_t index;   /* ACQUIRE queued (first time or replayed), or
                         granted at once to a blocking ACQUIRE (wait > 0,
                         not replayed): the log index of that ACQUIRE,
                         which its events carry and an UNWAIT names;
                         UNWAIT: the index it named */
};

/* Things that happen to others while a command is applied: a waiter is
 * granted the lock or its wait ends, a session loses its locks. The server
 * turns them into replies to waiting clients and lease-loss notices. */
enum fsm_event_type {
    FSM_EV_GRANTED = 1,   /* session/owner/req waiting on name got token */
    FSM_EV_TIMEOUT = 2,   /* the wait of session/req on name ran out */
    FSM_EV_CANCELED = 3,  /* the wait ended because its session ended */
    FSM_EV_LOST = 4,      /* session lost the lock name (expired) */
    FSM_EV_WITHDRAWN = 5, /* the grant of token to the wait (index, req) of
                             session on name was taken back: its client
                             went away and did not learn it (UNWAIT) */
};

struct fsm_event {
    uint8_t type;
    uint64_t session;
    uint64_t token;
    uint64_t index;   /* log index of the waiter's ACQUIRE */
    const char *name; /* name and req: valid until fsm_events_clear() */
    uint32_t name_len;
    const char *req;
    uint32_t req_len;
};

struct fsm; /* opaque */

/* Aborts on out-of-memory (server only), as does every function below that
 * allocates. */
struct fsm *fsm_new(void);
void fsm_free(struct fsm *f);

/* The count limits, which decide outcomes: every server of a cluster must
 * use the same. fsm_new() uses the FSM_* values above; tests and simulations
 * may use smaller ones. */
struct fsm_limits {
    uint64_t sessions;          /* FSM_SESSIONS_MAX */
    uint64_t locks_per_session; /* FSM_LOCKS_PER_SESSION_MAX: held + queued */
    uint64_t waiters_per_lock;  /* FSM_WAITERS_PER_LOCK_MAX */
    uint64_t session_outcomes;  /* FSM_OUTCOMES_PER_SESSION */
    uint64_t global_outcomes;   /* FSM_OPEN_OUTCOMES */
};
/* A machine with the limits *lim (each at least 1). */
struct fsm *fsm_new_limited(const struct fsm_limits *lim);

/* Applies the command of the log entry at index (strictly above the last
 * applied). Fills *res; appends what happened to others to the event list,
 * which holds until fsm_events_clear(). Never fails for a domain reason: a
 * malformed command yields FSM_INVALID and changes nothing. Aborts only on
 * out-of-memory. */
void fsm_apply(struct fsm *f, uint64_t index, const uint8_t *cmd, size_t len,
               struct fsm_result *res);
const struct fsm_event *fsm_events(const struct fsm *f, size_t *n);
/* Clears the events, the session changes and the changes of holds. */
void fsm_events_clear(struct fsm *f);

/* How sessions began, changed their TTL and ended in the commands applied
 * since fsm_events_clear(), in order: what the leader keeps its leases by
 * (src/lock/replica.c), without decoding a command a second time. ttl is
 * the session's TTL from then on (a session opened, a lease lock's own
 * session made, a TTL changed by EXTEND or SET_TTL), 0 when the session
 * ended (closed, expired, or a lease lock's session gone with its lock or
 * its wait). A snapshot restored reports nothing. */
struct fsm_session_change {
    uint64_t id;
    uint64_t ttl;
};
const struct fsm_session_change *fsm_session_changes(const struct fsm *f,
                                                     size_t *n);

/* What a name is. */
enum fsm_kind {
    FSM_KIND_LOCK = 0,
    FSM_KIND_SEMAPHORE = 1,
    FSM_KIND_ELECTION = 2,
};

/* What became of a name's holds in the commands applied since
 * fsm_events_clear(), for watches (docs/protocol.md §4): one record per
 * hold a command made, changed or ended, in the order it happened, with
 * the hold and the name after it; strings valid until
 * fsm_events_clear(). A handover is a RELEASED then a GRANTED. A
 * snapshot restored reports nothing. */
enum fsm_change_type {
    FSM_CH_GRANTED = 1,    /* a hold was made, or took more holds */
    FSM_CH_RELEASED = 2,   /* a hold gave some back (ended: none left) */
    FSM_CH_LOST = 3,       /* a hold ended with its session's expiry, or an
                              administrator's REVOKE */
    FSM_CH_WITHDRAWN = 4,  /* a grant nobody learnt taken back (UNWAIT) */
    FSM_CH_DOWNGRADED = 5, /* exclusive holds became shared */
    FSM_CH_PROCLAIMED = 6, /* an election's leader set its value */
};
struct fsm_change {
    uint8_t type;
    uint8_t kind; /* the name's (enum fsm_kind) */
    const char *name;
    uint32_t name_len;
    uint64_t session;
    const char *owner;
    uint32_t owner_len;
    uint64_t token;     /* the hold's */
    uint32_t exclusive; /* the hold's holds after, in each mode (a */
    uint32_t shared;    /* semaphore's: permits); 0 and 0: it ended */
    uint32_t holders;   /* the name's holds after */
    const char *value;  /* an election's value after */
    uint32_t value_len;
    /* For metrics, from the times below fsm_hold_info.since: a GRANTED
     * to a wait that was queued (queued) has waited age_ms; a hold that
     * ended (RELEASED with none left, LOST, WITHDRAWN) was held age_ms. */
    bool queued;
    uint64_t age_ms;
};
const struct fsm_change *fsm_changes(const struct fsm *f, size_t *n);

/* Reads, for linearizable queries after a ReadIndex. */
enum fsm_mode {
    FSM_MODE_NONE = 0,      /* free */
    FSM_MODE_EXCLUSIVE = 1, /* one hold, with exclusive holds */
    FSM_MODE_SHARED = 2,    /* holds with shared holds only */
};
struct fsm_lock_info {
    const char *name;
    uint32_t name_len;
    uint64_t holder;   /* the first hold's session (by session id, then
                          owner), 0: free */
    const char *owner; /* the first hold's */
    uint32_t owner_len;
    uint64_t token; /* the first hold's */
    uint32_t holds; /* the first hold's, in both modes */
    uint32_t waiters;
    uint64_t available_at; /* lock-delay end in cluster time, 0 if none */
    uint8_t mode;          /* enum fsm_mode; a semaphore's holds are
                              shared */
    uint32_t holders;      /* holds: (session, owner)s that hold it */
    uint32_t permits;      /* a semaphore's N; 0: a lock */
    uint32_t used;         /* a semaphore's permits held */
    uint32_t expired;      /* a semaphore's permits of holders whose
                              sessions expired, until the lock-delay ends */
    uint8_t kind;          /* enum fsm_kind */
    const char *value;     /* an election's, while it has a leader */
    uint32_t value_len;
    uint64_t held_since;    /* the first hold's since (fsm_hold_info) */
    uint64_t waiting_since; /* the first waiter's since, 0: none */
};
/* Fills *info for name; false if the machine knows no such lock. */
bool fsm_lock_info(const struct fsm *f, const char *name, uint32_t len,
                   struct fsm_lock_info *info);
/* Calls fn for each known lock whose name starts with prefix and, when
 * after is not NULL, sorts after the name after (after_len bytes), in name
 * order (fsm_name_cmp: bytes, a prefix first), until fn returns false.
 * Costs O(log n) to find the first, then O(1) amortised per lock given. */
void fsm_lock_list(const struct fsm *f, const char *prefix, uint32_t len,
                   const char *after, uint32_t after_len,
                   bool (*fn)(void *arg, const struct fsm_lock_info *info),
                   void *arg);
/* Whether token is the token of a hold of name: O(holders). */
bool fsm_lock_check(const struct fsm *f, const char *name, uint32_t len,
                    uint64_t token);

/* One hold of a lock, and one waiter. */
struct fsm_hold_info {
    uint64_t session;
    const char *owner;
    uint32_t owner_len;
    uint64_t token;
    uint32_t exclusive; /* exclusive holds */
    uint32_t shared;    /* shared holds; of a semaphore, permits */
    /* The cluster time it was made: for what an operator sees (metrics,
     * the status page), not part of the state's snapshots, so a server
     * that restored one counts from the snapshot's time. */
    uint64_t since;
};
struct fsm_waiter_info {
    uint64_t session;
    const char *owner;
    uint32_t owner_len;
    uint64_t index; /* of its ACQUIRE */
    bool shared;
    uint32_t count;    /* of a semaphore: the permits it asks for */
    const char *value; /* of a candidate: the value it would lead with */
    uint32_t value_len;
    uint64_t since; /* the cluster time it was queued, as a hold's */
};
/* Calls fn for the holds of name from the first whose session is at least
 * from (0: all), by (session, owner), until fn returns false: O(log n) to
 * find the first, then O(1) amortised per hold. */
void fsm_lock_holds(const struct fsm *f, const char *name, uint32_t len,
                    uint64_t from,
                    bool (*fn)(void *arg, const struct fsm_hold_info *h),
                    void *arg);
/* Calls fn for the waiters of name in FIFO order, until fn returns false. */
void fsm_lock_waiters(const struct fsm *f, const char *name, uint32_t len,
                      bool (*fn)(void *arg, const struct fsm_waiter_info *w),
                      void *arg);

struct fsm_session_info {
    uint64_t id;
    uint64_t ttl;
    const char *client;
    uint32_t client_len;
    uint32_t locks;   /* held */
    uint32_t waits;   /* queued */
    bool lease_lock;  /* opened by a lease-lock acquire */
    const char *user; /* the user that opened it, or empty */
    uint32_t user_len;
};
bool fsm_session_info(const struct fsm *f, uint64_t id,
                      struct fsm_session_info *info);
/* Calls fn for every session (the leader grants each a fresh lease when it
 * takes over). */
void fsm_session_each(const struct fsm *f,
                      void (*fn)(void *arg, uint64_t id, uint64_t ttl),
                      void *arg);

/* Users (src/lock/acl.h). Whether a user was ever set: from then on
 * every client must authenticate, and a bootstrap USER_SET does
 * nothing. */
bool fsm_auth_on(const struct fsm *f);
/* The definition of the user name (acl_decode reads it), or NULL; valid
 * until the next apply or restore. */
const uint8_t *fsm_user(const struct fsm *f, const char *name, uint32_t len,
                        uint32_t *def_len);
/* Calls fn for every user, in name order (bytes), until it returns false. */
void fsm_user_each(const struct fsm *f,
                   bool (*fn)(void *arg, const char *name, uint32_t len,
                              const uint8_t *def, uint32_t def_len),
                   void *arg);

/* The earliest cluster time at which a FSM_TICK would change something (a
 * wait's end, a lock-delay's end, a grant's to be taken back), or
 * UINT64_MAX. */
uint64_t fsm_next_deadline(const struct fsm *f);
/* What an UNWAIT of the ACQUIRE at index names as seen, the last answer
 * that told a client of its wait: for a queued wait, the index of the
 * ACQUIRE or of its latest repeat; else index itself (a grant made at
 * once); for index 0 (every wait), the index applied. */
uint64_t fsm_wait_seen(const struct fsm *f, uint64_t index);
/* The machine's clock: the largest `now` applied. */
uint64_t fsm_now(const struct fsm *f);
uint64_t fsm_applied_index(const struct fsm *f);
uint64_t fsm_last_token(const struct fsm *f);

/* Counts of what a machine applied since it was made, for metrics: not
 * state, nor in snapshots (a snapshot installed keeps them). A server that
 * restarts counts again what it replays of its log after its snapshot. */
struct fsm_counts {
    uint64_t sessions_opened;  /* sessions opened by commands applied */
    uint64_t sessions_expired; /* ended by their lease's expiry */
};
struct fsm_stats {
    struct fsm_counts counts;
    uint64_t sessions;
    uint64_t locks; /* known: held, or with waiters, or in lock-delay */
    uint64_t held;  /* holds: a lock held shared by three counts three */
    uint64_t waiters;
    uint64_t bytes; /* memory held by the machine, approximately */
};
void fsm_stats(const struct fsm *f, struct fsm_stats *st);

/* Snapshot: the whole state as bytes (malloc'd into *buf), and back.
 * fsm_snapshot returns 0. fsm_restore replaces the state; -1 (state
 * unchanged) if the bytes are not a valid snapshot. The event list is not
 * part of the state: restore leaves it as it is. Snapshots are canonical
 * (docs/design.md §11.9): equal states give equal bytes. */
int fsm_snapshot(const struct fsm *f, uint8_t **buf, size_t *len);
int fsm_restore(struct fsm *f, const uint8_t *buf, size_t len);

/* Checks the machine's internal invariants (lists, counts, heaps, tables),
 * in time proportional to the state: for tests and fuzzing. True if they
 * hold; otherwise false, with the first violation described in msg (cap
 * bytes, NUL-terminated; msg may be NULL). */
bool fsm_check(const struct fsm *f, char *msg, size_t cap);

#endif
