/* dlock.h - libdlock, the C client library of dlock: locks that hold across
 * machines, with leases, fencing tokens and retry-safe requests.
 *
 * A client talks to a dlock cluster (a list of servers); it finds the leader
 * itself, follows redirects, reconnects after failures and retries every
 * request with its request id, so a retry never has a second effect.
 * Locks are held under a session: a lease that the library keeps alive
 * (a thread it owns, or, for programs with their own event loop, calls the
 * program makes; see "Without threads"). The holder of a lock knows until
 * when it is safe (dlock_lock_safe_until) and is told when it can no longer
 * prove it holds it (lost). Each grant carries a fencing token: pass it to
 * the storage you protect, and have the storage refuse tokens lower than
 * one it has seen.
 *
 * Errors: functions that can fail return 0 or a negative DLOCK_E* code;
 * dlock_strerror() names it and dlock_errmsg() says what happened. The
 * library never prints and never aborts; out of memory is DLOCK_ENOMEM.
 *
 * Threads: a client may be used by several threads at once unless a
 * function says otherwise; each call blocks its thread only. Times are
 * milliseconds; deadlines are CLOCK_MONOTONIC milliseconds
 * (dlock_now_ms()). */
#ifndef DLOCK_H
#define DLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLOCK_API __attribute__((visibility("default")))

#define DLOCK_VERSION "0.1.0"

/* Error codes. Each tells the caller what to do. */
enum {
    DLOCK_OK = 0,
    DLOCK_ENOMEM = -1,     /* out of memory */
    DLOCK_EPROTO = -2,     /* a server broke the protocol (a bug) */
    DLOCK_EINVAL = -3,     /* a bad argument: fix the call (or the name is
                              a semaphore's or an election's) */
    DLOCK_ELIMIT = -4,     /* a server limit (name too long, too many) */
    DLOCK_EIO = -5,        /* no server reachable */
    DLOCK_ETIMEDOUT = -6,  /* no answer in time: the outcome is unknown,
                              retrying the same call is safe */
    DLOCK_EHELD = -7,      /* try-lock: someone else holds it */
    DLOCK_ENOTHELD = -8,   /* release/extend of a lock not held */
    DLOCK_ENOSESSION = -9, /* the session has expired: its locks are lost */
    DLOCK_EWAIT = -10,     /* a wait for a lock ran out */
    DLOCK_ELOST = -11,     /* the lease can no longer be proven: treat the
                              lock as lost */
    DLOCK_EREFUSED = -12,  /* every server refused the connection, and the
                              client has never reached one: nothing is
                              listening there; check the server list, or
                              start the servers */
    DLOCK_EUPGRADE = -13,  /* an exclusive acquire by an owner that holds
                              the lock shared only: refused at once (an
                              upgrade in place could deadlock); release
                              the shared hold, then acquire exclusive */
    DLOCK_ETLS = -14,      /* TLS failed: the server's certificate was
                              refused (not signed by the CA, or not for
                              its address), or this client's was, or the
                              TLS files do not load; dlock_errmsg says
                              which. Retrying does not help: fix the
                              certificates (docs/security.md) */
    DLOCK_EAUTH = -15,     /* the server refused the user and password (or
                              wants them, and none were given): retrying
                              does not help; fix the credentials */
    DLOCK_EPERM = -16,     /* the user may not do that (its categories or
                              its rules over names: docs/security.md);
                              nothing changed */
};

/* A short name of an error code ("DLOCK_EHELD: lock held by another"). */
DLOCK_API const char *dlock_strerror(int err);

/* Monotonic milliseconds: the clock of every deadline in this API. */
DLOCK_API uint64_t dlock_now_ms(void);

/* ---- clients ---------------------------------------------------------- */

struct dlock_client;

struct dlock_options {
    /* "host:port,host:port"; NULL: $DLOCK_SERVERS, else 127.0.0.1:7411. */
    const char *servers;
    /* The longest any call waits for an answer (a blocking acquire waits
     * for its own time on top), across redirects and reconnects.
     * Default 10000. A server that refuses the connection is retried
     * within that time (during a restart or a leader change it comes
     * back), except by a client that has not reached any server yet:
     * when every server of the list refuses its first connections, the
     * call fails at once with DLOCK_EREFUSED, since nothing is listening
     * there (a wrong list, or no server started). */
    uint64_t timeout_ms;
    /* The client's name, shown by the server (SESSION.INFO). */
    const char *name;
    /* TLS (docs/security.md): the CA certificates (PEM) that sign the
     * servers' certificates; a server's must also name the host of its
     * address in the list. NULL: $DLOCK_TLS_CA; without either, plain
     * TCP. */
    const char *tls_ca;
    /* This client's certificate and its key (PEM), for servers that ask
     * for one (--tls-auth-clients); NULL: $DLOCK_TLS_CERT and
     * $DLOCK_TLS_KEY; the key may be in the certificate's file. */
    const char *tls_cert;
    const char *tls_key;
    /* Authentication (docs/security.md): every connection logs in with
     * AUTH user password first. NULL: $DLOCK_USER and $DLOCK_PASSWORD;
     * without a password, none (a user without one is "default"). */
    const char *user;
    const char *password;
};

/* Fills o with the defaults. */
DLOCK_API void dlock_options_init(struct dlock_options *o);

/* Makes a client (no connection yet: the first call connects).
 * DLOCK_EINVAL for a malformed server list, DLOCK_ETLS if the TLS files
 * do not load (dlock_errmsg(NULL) then says why),
 * DLOCK_ENOMEM. */
DLOCK_API int dlock_client_new(const struct dlock_options *o,
                               struct dlock_client **out);
/* Closes the client's sessions (releasing their locks) and frees it.
 * Not to be called while another thread uses the client. Accepts NULL. */
DLOCK_API void dlock_client_free(struct dlock_client *c);

/* What the last failed call of the calling thread on c was about, or "".
 * The text is the calling thread's own, valid until its next call on c.
 * With c NULL: why the thread's last dlock_client_new failed, or "". */
DLOCK_API const char *dlock_errmsg(const struct dlock_client *c);

/* Writes into out (n bytes) the "host:port" of the server that answered
 * the client's latest call (any thread's), or "" before the first answer:
 * for logs and histories. */
DLOCK_API void dlock_client_server(struct dlock_client *c, char *out, size_t n);

/* ---- sessions --------------------------------------------------------- */

struct dlock_session;

enum {
    /* No keepalive thread: the program keeps the session alive itself
     * (see "Without threads"). */
    DLOCK_SESSION_NO_THREAD = 1,
};

/* Opens a session with a lease of ttl_ms (100 .. 3,600,000), kept alive
 * every ttl_ms/3 by a thread of the library (unless flags say otherwise).
 * It carries the client's name (dlock_options.name). */
DLOCK_API int dlock_session_open(struct dlock_client *c, uint64_t ttl_ms,
                                 unsigned flags, struct dlock_session **out);
/* Closes the session: its locks are released (their handles stay valid
 * until released or freed, reporting lost), its keepalive stops; frees it.
 * Accepts NULL. Returns the server's answer (0, or an error when it could
 * not be reached: the session then ends with its lease). */
DLOCK_API int dlock_session_close(struct dlock_session *s);
DLOCK_API uint64_t dlock_session_id(const struct dlock_session *s);
/* Until when (dlock_now_ms) the session's lease is known to hold: the send
 * time of the last answered keepalive, plus the TTL shortened by the
 * clock-rate margin (DLOCK_DRIFT_PPM), minus DLOCK_SAFETY_MS. */
DLOCK_API uint64_t dlock_session_safe_until(const struct dlock_session *s);
/* True once the lease can no longer be proven (safe-until passed without
 * a renewal, or the server said the session expired). Final. */
DLOCK_API bool dlock_session_lost(const struct dlock_session *s);

/* The rate by which clocks may drift apart, parts per million, and the
 * margin taken off every safe-until deadline. */
#define DLOCK_DRIFT_PPM 1000
#define DLOCK_SAFETY_MS 50

/* Called once, from the keepalive thread (or from dlock_client_process),
 * the moment the session is lost. It must not call back into the library
 * with this session. */
typedef void (*dlock_lost_cb)(struct dlock_session *s, void *arg);
DLOCK_API void dlock_session_on_lost(struct dlock_session *s, dlock_lost_cb cb,
                                     void *arg);

/* Called, from the same thread as the lost callback, the moment the server
 * says it ended a hold of the session that a handle of this client holds:
 * an administrator's LOCK.REVOKE of a lock, a semaphore's permits or an
 * election's leadership (or the session's expiry, which also calls the
 * lost callback). name and owner are the hold's, token its fencing token;
 * its handles (dlock_lock_lost, dlock_sem_lost, dlock_leadership_lost)
 * report lost from then on. Each hold is told once. The library learns it
 * from pushes of the server (SESSION.WATCH) on the keepalive connection;
 * a hold ended while that connection is down is told when it is back,
 * unless the server no longer keeps the change (then the handle learns it
 * at its next use, as before). It must not call back into the library
 * with this session. */
typedef void (*dlock_hold_lost_cb)(struct dlock_session *s, const char *name,
                                   const char *owner, uint64_t token,
                                   void *arg);
DLOCK_API void dlock_session_on_hold_lost(struct dlock_session *s,
                                          dlock_hold_lost_cb cb, void *arg);

/* ---- locks ------------------------------------------------------------ */

struct dlock_lock;

struct dlock_acquire_options {
    /* 0: a try-lock (DLOCK_EHELD when held); else wait up to this long
     * (DLOCK_EWAIT when it runs out). Waiters are served in order. */
    uint64_t wait_ms;
    /* Who holds it within the session, for reentrancy; NULL: the calling
     * thread. */
    const char *owner;
    /* Lock-delay after the session expires holding it; UINT64_MAX: the
     * server's default (1000). */
    uint64_t delay_ms;
};

DLOCK_API void dlock_acquire_options_init(struct dlock_acquire_options *o);

/* Acquires name exclusive for session s (o NULL: a try-lock by the
 * calling thread). Acquiring a lock the same owner holds adds a hold
 * (reentrant) and returns a new handle with the same token. DLOCK_EHELD,
 * DLOCK_EWAIT, DLOCK_ENOSESSION, DLOCK_ELIMIT, DLOCK_EUPGRADE (the owner
 * holds it shared only), DLOCK_ETIMEDOUT (outcome unknown: the request id
 * makes a retry safe, and the library retried already). */
DLOCK_API int dlock_lock_acquire(struct dlock_session *s, const char *name,
                                 const struct dlock_acquire_options *o,
                                 struct dlock_lock **out);
/* Acquires name shared for session s (a read lock): as dlock_lock_acquire
 * (the same options, waiting, retries with the request id, leader
 * following, safe-until and loss through the session), but any number of
 * sessions and owners hold it shared at once, never with an exclusive
 * holder. A try-lock fails with DLOCK_EHELD while the lock is held
 * exclusive, in lock-delay, or while others wait for it (a queued writer
 * holds back later readers); a wait joins the lock's one FIFO queue, whose
 * head readers are granted together (docs/protocol.md §4, "Shared locks").
 * Reentrant per mode: a second shared acquire by the same owner adds a
 * shared hold with the same token, and an owner that holds the lock
 * exclusive may acquire it shared too. An exclusive acquire
 * (dlock_lock_acquire) by an owner that holds it shared only fails at once
 * with DLOCK_EUPGRADE. The handle remembers its mode:
 * dlock_lock_release releases a shared hold. */
DLOCK_API int dlock_lock_acquire_shared(struct dlock_session *s,
                                        const char *name,
                                        const struct dlock_acquire_options *o,
                                        struct dlock_lock **out);
/* Turns the exclusive holds of l's session and owner on its lock into
 * shared ones, in place, atomically and keeping the token: no writer can
 * come in between, and the readers at the head of the queue are granted
 * with it. Every handle of that session, owner and lock becomes shared
 * (dlock_lock_is_shared). Retry-safe like every write (its request id).
 * DLOCK_EINVAL for a handle that is shared already, DLOCK_ELOST for a lock
 * lost, DLOCK_ENOTHELD if the server has no exclusive hold of the owner,
 * DLOCK_ETIMEDOUT (outcome unknown: calling it again is safe). */
DLOCK_API int dlock_lock_downgrade(struct dlock_lock *l);
/* Whether l is a shared hold (dlock_lock_acquire_shared, or after
 * dlock_lock_downgrade). */
DLOCK_API bool dlock_lock_is_shared(const struct dlock_lock *l);
/* Releases one hold, in the handle's mode, and frees the handle (also when
 * the lock was lost: then DLOCK_ELOST or DLOCK_ENOTHELD is returned, and
 * the handle is freed all the same). */
DLOCK_API int dlock_lock_release(struct dlock_lock *l);
DLOCK_API uint64_t dlock_lock_token(const struct dlock_lock *l);
DLOCK_API const char *dlock_lock_name(const struct dlock_lock *l);
/* The session's safe-until deadline, or 0 once the lock is lost. */
DLOCK_API uint64_t dlock_lock_safe_until(const struct dlock_lock *l);
DLOCK_API bool dlock_lock_lost(const struct dlock_lock *l);

/* ---- semaphores --------------------------------------------------------- */

/* A hold of permits of a semaphore (docs/protocol.md §4, "Semaphores"). */
struct dlock_sem;

/* Takes count permits (1 .. permits) of the semaphore name of permits
 * (1 .. 1,000,000) permits for session s, with the options of
 * dlock_lock_acquire (o NULL: a try by the calling thread): at once when
 * nobody waits and count permits are free; else a try fails with
 * DLOCK_EHELD and a wait joins the semaphore's strict FIFO queue (a large
 * request at its head is not passed by smaller ones). The request id makes
 * the library's retries and a leader change safe, as for a lock. The
 * permits are the session's: they are lost with it (dlock_sem_lost, the
 * session's lost callback), and come back to the others when it closes,
 * or after the lock-delay when it expires. A session and owner that hold
 * permits already take more into the same hold, with its token.
 * DLOCK_EINVAL for a count out of range, or a name that is a lock's, an
 * election's, or a semaphore's of other permits; DLOCK_EHELD, DLOCK_EWAIT,
 * DLOCK_ENOSESSION, DLOCK_ELIMIT, DLOCK_ETIMEDOUT as dlock_lock_acquire. */
DLOCK_API int dlock_sem_acquire(struct dlock_session *s, const char *name,
                                uint32_t permits, uint32_t count,
                                const struct dlock_acquire_options *o,
                                struct dlock_sem **out);
/* Gives back the permits h took and frees h (also when they were lost:
 * then DLOCK_ELOST or DLOCK_ENOTHELD is returned, and h is freed all the
 * same). */
DLOCK_API int dlock_sem_release(struct dlock_sem *h);
/* The fencing token of the grant (of the session's and owner's hold). */
DLOCK_API uint64_t dlock_sem_token(const struct dlock_sem *h);
/* The session's safe-until deadline, or 0 once the permits are lost. */
DLOCK_API uint64_t dlock_sem_safe_until(const struct dlock_sem *h);
DLOCK_API bool dlock_sem_lost(const struct dlock_sem *h);

/* A semaphore as SEM.STATUS reads it. */
struct dlock_sem_status {
    char name[257];
    uint32_t permits;   /* its N; 0 for a name not known */
    uint32_t used;      /* held by live sessions */
    uint32_t expired;   /* held back for an expired session's lock-delay */
    uint32_t available; /* permits - used - expired */
    uint32_t holders;   /* sessions and owners that hold permits */
    uint32_t waiters;
    uint64_t delay_left_ms; /* until the permits held back come back */
};

/* A linearizable read of the semaphore name. DLOCK_EINVAL for a bad name
 * or a name that is a lock's or an election's. */
DLOCK_API int dlock_sem_status(struct dlock_client *c, const char *name,
                               struct dlock_sem_status *st);

/* ---- elections ---------------------------------------------------------- */

/* Leadership of an election (docs/protocol.md §4, "Elections"). */
struct dlock_leadership;

/* The longest value a leader publishes. */
#define DLOCK_VALUE_MAX 1024

/* Campaigns for leader of the election name for session s, publishing the
 * value_len bytes at value (at most DLOCK_VALUE_MAX; any bytes) once
 * elected. With the options of dlock_lock_acquire (o NULL: a try by the
 * calling thread): elected at once without a leader; else a try fails with
 * DLOCK_EHELD and a wait queues the candidate in FIFO order until it leads
 * (DLOCK_EWAIT when the wait runs out). The handle's token, the leadership
 * token, fences the leader's writes. Leadership is the session's: it is
 * lost with it (dlock_leadership_lost, and the session's lost callback
 * tells it at once), handed on at once when the session closes, and after
 * the lock-delay when it expires. A leader that campaigns again gets a
 * handle with its token, and nothing changes. DLOCK_ELIMIT for a value too
 * long, DLOCK_EINVAL for a name that is a lock's or a semaphore's;
 * otherwise the errors of dlock_lock_acquire. */
DLOCK_API int dlock_campaign(struct dlock_session *s, const char *name,
                             const char *value, size_t value_len,
                             const struct dlock_acquire_options *o,
                             struct dlock_leadership **out);
/* Publishes a new value (value_len bytes) as the leader of l, fenced by
 * its token: DLOCK_ENOTHELD if the session no longer leads under it
 * (leadership revoked, or lost and won again: l then reports lost),
 * DLOCK_ELOST if the session was lost, DLOCK_ELIMIT for a value too long,
 * DLOCK_ETIMEDOUT (outcome unknown: calling it again is safe). */
DLOCK_API int dlock_proclaim(struct dlock_leadership *l, const char *value,
                             size_t value_len);
/* Steps down (the next candidate leads at once) and frees l (also when
 * leadership was lost: then DLOCK_ELOST or DLOCK_ENOTHELD is returned, and
 * l is freed all the same). */
DLOCK_API int dlock_resign(struct dlock_leadership *l);
DLOCK_API uint64_t dlock_leadership_token(const struct dlock_leadership *l);
/* The session's safe-until deadline, or 0 once leadership is lost. */
DLOCK_API uint64_t
dlock_leadership_safe_until(const struct dlock_leadership *l);
/* True once leadership is lost: the session was lost, or a proclaim found
 * that the session no longer leads under l's token. */
DLOCK_API bool dlock_leadership_lost(const struct dlock_leadership *l);

/* An election's leader as ELECT.LEADER reads it. */
struct dlock_leader_info {
    char name[257];
    uint64_t leader; /* its session; 0 without a leader */
    char owner[65];
    uint64_t token;                  /* the leadership token */
    char value[DLOCK_VALUE_MAX + 1]; /* its value, NUL-terminated */
    size_t value_len;                /* (it may hold NUL bytes) */
    uint32_t candidates;             /* waiting */
    uint64_t lease_left_ms;          /* of the leader's session */
};

/* A linearizable read of the leader of the election name (leader 0: none,
 * also for a name not known). DLOCK_EINVAL for a bad name or a name that
 * is a lock's or a semaphore's. */
DLOCK_API int dlock_leader(struct dlock_client *c, const char *name,
                           struct dlock_leader_info *out);

/* ---- watches ----------------------------------------------------------- */

/* What a change did (docs/protocol.md §4, "Watches"). */
enum {
    DLOCK_CHANGE_GRANTED = 1,    /* a hold was made, or took more holds */
    DLOCK_CHANGE_RELEASED = 2,   /* a hold gave some back, or ended */
    DLOCK_CHANGE_LOST = 3,       /* ended with its session's expiry, or
                                    revoked by an administrator */
    DLOCK_CHANGE_WITHDRAWN = 4,  /* a grant nobody learnt, taken back */
    DLOCK_CHANGE_DOWNGRADED = 5, /* exclusive holds became shared */
    DLOCK_CHANGE_PROCLAIMED = 6, /* an election's leader set its value */
    DLOCK_CHANGE_GONE = 7,       /* the changes up to revision are no longer
                                    kept: some may be missed; read the state
                                    (dlock_lock_status, dlock_leader) */
};

/* One change of a name's holders, of a lock, a semaphore or an election.
 * A handover is a RELEASED and a GRANTED at one revision; an election
 * without a leader is a change with holders 0. A GONE change carries its
 * revision only (the rest is 0 or empty). */
struct dlock_change {
    char name[257];
    uint64_t revision;  /* the log index that made it: the same on every
                           server, never going back */
    int event;          /* DLOCK_CHANGE_* */
    uint64_t session;   /* the hold it is about: its session, */
    char owner[65];     /* owner, */
    uint64_t token;     /* and token */
    uint32_t exclusive; /* the hold's exclusive holds after it */
    uint32_t shared;    /* its shared holds (permits) after it */
    uint32_t holders;   /* the name's holders after it */
    char value[DLOCK_VALUE_MAX + 1]; /* an election's value after it, */
    size_t value_len;                /* NUL-terminated; may hold NULs */
};

/* The word of an event: "granted", "released", ..., "gone" ("?" for
 * another number). */
DLOCK_API const char *dlock_change_event_name(int event);

/* Called for each change of a watch, from the watch's own thread. */
typedef void (*dlock_change_cb)(void *arg, const struct dlock_change *ch);

/* A watch of one name. */
struct dlock_watch;

/* The from_revision of a watch of what comes from now on (the last
 * revision the server it first reads from has applied). */
#define DLOCK_WATCH_NOW UINT64_MAX

/* Watches name: cb(arg, ch) is called for every change of name after
 * from_revision (0: from the oldest the server keeps; DLOCK_WATCH_NOW: the
 * changes from now on; give the revision of the last change seen to go on
 * from there), one at a time, in order, and each once, from a thread the
 * watch starts (one per watch). The watch reads from any server of c's
 * list over a connection of its own, through a client of its own (a
 * follower serves it as well as the leader: a change has the same
 * revision on every server); when that server fails it goes on from
 * another, from the last change it delivered, so that nothing is lost or
 * delivered twice. When the history a server keeps no longer reaches back
 * to where the watch is, cb gets a DLOCK_CHANGE_GONE change and the watch
 * goes on from its revision. A watch that the server ends because its
 * pushes were not read in time (1 MiB unsent: cb is slow) is taken up
 * again at once from the last change delivered: nothing is lost, and cb
 * is not told. A connection silent for 5 s is sent a PING;
 * one that does not answer within c's timeout is left for another server.
 * A watch of an election observes its leader: a change with holders 0 is
 * "no leader", otherwise the leader is the change's session (GRANTED, and
 * PROCLAIMED with its new value).
 * The callback runs on the watch's thread only, never two at once: it may
 * call the library (with c or any other client), but should not block
 * for long (the next changes wait). The watch does not use c after this
 * returns. It checks name (1..256 bytes) and reaches a server first:
 * 0 and *out, DLOCK_EINVAL, DLOCK_EIO, DLOCK_EREFUSED, DLOCK_ETIMEDOUT,
 * DLOCK_ENOMEM (c's message says why). */
DLOCK_API int dlock_watch_start(struct dlock_client *c, const char *name,
                                uint64_t from_revision, dlock_change_cb cb,
                                void *arg, struct dlock_watch **out);
/* The revision of the last change w delivered (before the first:
 * from_revision, or for DLOCK_WATCH_NOW the revision the server started
 * it from, DLOCK_WATCH_NOW until a server answered): a watch from it goes
 * on where w ended (but for the rest of a revision of several changes,
 * had w stopped between them, as between a handover's two). */
DLOCK_API uint64_t dlock_watch_revision(const struct dlock_watch *w);
/* Stops w and frees it. From any thread but the callback's, it returns
 * once the thread has ended: no callback runs then or later. From w's
 * own callback, no callback comes after the one running, and w is freed
 * when that one returns. Accepts NULL. */
DLOCK_API void dlock_watch_stop(struct dlock_watch *w);

/* ---- observing an election --------------------------------------------- */

/* Called with an election's leader at revision (li->leader 0: none; name,
 * owner, token and value as dlock_leader gives them; candidates and
 * lease_left_ms are 0, since a change does not carry them). */
typedef void (*dlock_leader_cb)(void *arg, uint64_t revision,
                                const struct dlock_leader_info *li);

/* An observer of an election's leader. */
struct dlock_observe;

/* Observes the leader of the election name: a watch of name (as
 * dlock_watch_start, from DLOCK_WATCH_NOW) that reports its leader rather
 * than its changes. cb(arg, revision, li) is called first with the leader
 * as a linearizable read (dlock_leader) gives it once the watch has
 * started, at the revision the watch starts from (the read is no older,
 * and may already show changes after it: their revisions are reported
 * all the same, as they come); then, in order, once for each later
 * revision that
 * changes the leader or its value: a new leader (also one that won again,
 * with a new token), no leader, a proclaim of another value. A revision
 * is reported as a whole, after its last change: a handover (the leader
 * resigns or its session closes, and the next candidate leads at the same
 * revision) is one report, of the new leader, never a "no leader" between
 * them; to know that a revision is whole the observer waits for the
 * server's answer to a PING sent after it, so each report comes one
 * round trip after its change. After a DLOCK_CHANGE_GONE (the server no
 * longer keeps changes it missed) it reads the leader again and reports
 * it (if it differs from the last report), at the gone change's revision
 * or the last it reported, whichever is later. While no server is
 * reachable nothing is reported; then the watch goes on from where it was,
 * from any server, and reports each revision it missed, as above (or a
 * read, after a gone change). A read that fails after a gone change is
 * retried at the next answer of the server (5 s of silence at most).
 * The revisions of reports never go back. All calls of cb come from the
 * watch's thread, one at a time, as dlock_watch_start's (cb may call the
 * library, or dlock_observe_stop, but should not block for long); the
 * first comes before this returns. Returns 0 and *out once the first
 * report is made; DLOCK_EINVAL for a bad name or a name that is a lock's
 * or a semaphore's; DLOCK_ETIMEDOUT when the watch is not answered within
 * c's timeout; the errors of dlock_watch_start and dlock_leader (c's
 * message says why). */
DLOCK_API int dlock_observe_start(struct dlock_client *c, const char *name,
                                  dlock_leader_cb cb, void *arg,
                                  struct dlock_observe **out);
/* Stops o and frees it, as dlock_watch_stop: from any thread but the
 * callback's, it returns once no callback runs, or will; from o's own
 * callback, none comes after the one running. Accepts NULL. */
DLOCK_API void dlock_observe_stop(struct dlock_observe *o);

/* ---- lease locks: a lock without a session ---------------------------- */

/* For callers that hold a lock across processes (shell scripts): the lock
 * has its own TTL, renewed only by dlock_lease_extend. wait_ms as above.
 * *token receives the fencing token. */
DLOCK_API int dlock_lease_acquire(struct dlock_client *c, const char *name,
                                  uint64_t ttl_ms, uint64_t wait_ms,
                                  uint64_t *token);
DLOCK_API int dlock_lease_extend(struct dlock_client *c, const char *name,
                                 uint64_t token, uint64_t ttl_ms);
DLOCK_API int dlock_lease_release(struct dlock_client *c, const char *name,
                                  uint64_t token);

/* ---- reading the state ------------------------------------------------ */

struct dlock_lock_status {
    char name[257];
    bool held;
    uint64_t session;
    char owner[65];
    uint64_t token;
    uint32_t holds;
    uint32_t waiters;
    uint64_t lease_left_ms;
    uint64_t delay_left_ms;
};

/* A linearizable read of one lock (a free lock: held false). Of a lock
 * held shared, session, owner, token and holds are those of its first
 * holder by session id (dlock_lock_holders lists them all). */
DLOCK_API int dlock_lock_status(struct dlock_client *c, const char *name,
                                struct dlock_lock_status *st);

/* How a lock is held. */
enum {
    DLOCK_MODE_NONE = 0,      /* free */
    DLOCK_MODE_EXCLUSIVE = 1, /* by one holder */
    DLOCK_MODE_SHARED = 2,    /* by any number of holders */
};

/* What dlock_lock_status_mode adds to a lock's status. */
struct dlock_lock_mode {
    int mode;         /* DLOCK_MODE_* */
    uint32_t holders; /* sessions and owners that hold it (1 if exclusive) */
};

/* dlock_lock_status, and in the same read the lock's mode and number of
 * holders into m (NULL: not wanted). A server older than shared locks
 * gives no mode: m is then derived from st (exclusive when held). */
DLOCK_API int dlock_lock_status_mode(struct dlock_client *c, const char *name,
                                     struct dlock_lock_status *st,
                                     struct dlock_lock_mode *m);

/* One holder of a lock: a session and owner, with its holds per mode. */
struct dlock_holder {
    uint64_t session;
    char owner[65];
    uint64_t token;     /* of its first grant */
    uint32_t exclusive; /* its exclusive holds */
    uint32_t shared;    /* its shared holds */
    uint64_t lease_left_ms;
};

/* The holders of name, by session id then owner (none for a free lock), at
 * most max: *out receives a malloc'd array of *n entries (free it with
 * free(); NULL when *n is 0). It pages through LOCK.HOLDERS with FROM, one
 * read per page, so the whole is not one snapshot. DLOCK_EINVAL for a bad
 * name. */
DLOCK_API int dlock_lock_holders(struct dlock_client *c, const char *name,
                                 size_t max, struct dlock_holder **out,
                                 size_t *n);
/* The locks whose names start with prefix (NULL: all), in name order, at
 * most max (any number: it pages through LOCK.LIST with AFTER, one read per
 * page, so the whole is not one snapshot): *out receives a malloc'd array
 * of *n entries (free it with free()). */
DLOCK_API int dlock_lock_list(struct dlock_client *c, const char *prefix,
                              size_t max, struct dlock_lock_status **out,
                              size_t *n);

struct dlock_member {
    uint64_t id;
    bool voter;
    char raft_addr[64];
    char client_addr[128];
    uint64_t match_index;
};

struct dlock_cluster_info {
    uint64_t id; /* of the server that answered */
    char role[16];
    uint64_t leader;
    char leader_addr[128]; /* "" when none */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t last_index;
    uint64_t snapshot_index;
    unsigned n_members;
    struct dlock_member members[16];
};

/* The cluster as the server at addr (NULL: any reachable one) sees it. */
DLOCK_API int dlock_cluster_info(struct dlock_client *c, const char *addr,
                                 struct dlock_cluster_info *ci);

/* The status document of the server at addr (NULL: any reachable one):
 * JSON, as its status page shows it (SERVER.STATUS, docs/protocol.md §6).
 * *json is NUL-terminated, *len bytes (len may be NULL), malloc'd: free()
 * it. */
DLOCK_API int dlock_server_status(struct dlock_client *c, const char *addr,
                                  char **json, size_t *len);

/* ---- without threads -------------------------------------------------- */

/* For a program with its own event loop, sessions opened with
 * DLOCK_SESSION_NO_THREAD are kept alive by the program: poll the file
 * descriptor dlock_client_fd() (-1 when there is none yet: just wait for
 * the deadline) for what dlock_client_events() asks (POLLIN, POLLOUT), and
 * call dlock_client_process() when it is ready or when dlock_now_ms()
 * reaches dlock_client_deadline(). dlock_client_process never blocks; it
 * sends keepalives that are due, reads their answers, updates safe-until
 * and calls lost callbacks. These three are for one thread at a time. */
DLOCK_API int dlock_client_fd(struct dlock_client *c);
DLOCK_API short dlock_client_events(struct dlock_client *c);
DLOCK_API uint64_t dlock_client_deadline(struct dlock_client *c);
DLOCK_API int dlock_client_process(struct dlock_client *c);

#ifdef __cplusplus
}
#endif

#endif
