/* client_internal.h - what the files of libdlock share: the client, its
 * connections, the request loop, sessions, the keepalive engine and lock
 * handles. Nothing here is exported (the library is built with
 * -fvisibility=hidden); tests link the static library and use it. */
#ifndef DLOCK_CLIENT_INTERNAL_H
#define DLOCK_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/resp.h"
#include "dlock.h"

/* "host:port" with its NUL, as servers and LEADER redirects name them. */
#define CLIENT_ADDR_MAX 128
/* Idle connections a client keeps for later calls. */
#define CLIENT_POOL_MAX 16
/* Retry pauses after a failure (NOLEADER, no connection), doubling. */
#define CLIENT_BACKOFF_MIN_MS 50
#define CLIENT_BACKOFF_MAX_MS 500
/* A request id: 16 hex digits of the client's prefix, '-', a counter. */
#define CLIENT_REQ_MAX 40
/* Writes whose outcome is unknown, remembered so that a retry by the
 * caller reuses their request id. */
#define CLIENT_UNSETTLED 16
#define CLIENT_TTL_MIN 100
#define CLIENT_TTL_MAX 3600000

/* ---- client.c: the client, server lists, request ids, errors ---------- */

struct dlock_client {
    uint64_t serial; /* unique in the process: keys per-thread messages */
    char (*servers)[CLIENT_ADDR_MAX];
    size_t n_servers;
    uint64_t timeout_ms;
    char *name;
    uint64_t req_prefix;
    atomic_uint_fast64_t req_counter;
    /* Whether a connection of the client to any server has ever been
     * accepted: until then, servers that all refuse are not retried. */
    atomic_bool reached;

    /* Guards what follows, and every lock handle's session pointer. It is
     * never held across I/O, and never while taking a keeper's lock. */
    pthread_mutex_t mu;
    char leader[CLIENT_ADDR_MAX];   /* the leader last named, or "" */
    char answered[CLIENT_ADDR_MAX]; /* the server that answered last, or "" */
    size_t cursor;                  /* the server tried next without one */
    struct conn *pool[CLIENT_POOL_MAX];
    size_t n_pool;
    struct dlock_session **sessions; /* open ones, to close at free */
    size_t n_sessions, cap_sessions;
    struct dlock_lock **locks; /* live handles, to detach and free */
    size_t n_locks, cap_locks;

    /* Writes that timed out: a hash of their arguments and their id. */
    struct {
        uint64_t key;
        char req[CLIENT_REQ_MAX];
    } unsettled[CLIENT_UNSETTLED];
    size_t next_unsettled;

    struct tls_ctx *tls;     /* the servers' TLS (dlock_options), or NULL */
    char *user;              /* AUTH's (dlock_options), or NULL */
    char *password;          /* AUTH's, or NULL: connections do not log in */
    struct keeper *threaded; /* sessions kept alive by a thread, or NULL */
    struct keeper *noloop;   /* sessions the program keeps alive, or NULL */
};

/* Splits "a:1,b:2" into servers (each checked: a non-empty host, a port
 * 1..65535; "[v6]:port" allowed; blanks around entries ignored). On success
 * *out is an alloc_malloc'd array of *n entries. DLOCK_EINVAL, DLOCK_ENOMEM. */
int client_parse_servers(const char *list, char (**out)[CLIENT_ADDR_MAX],
                         size_t *n);
/* Whether addr is "host:port" as above; copies it to out if so. */
bool client_parse_addr(const char *addr, size_t len, char out[CLIENT_ADDR_MAX]);
/* Splits a checked "host:port" into host (brackets removed) and port. */
void client_split_addr(const char *addr, char *host, size_t hostlen, char *port,
                       size_t portlen);

/* Writes a fresh request id of c into out. */
void client_req_id(struct dlock_client *c, char out[CLIENT_REQ_MAX]);
/* The id the client with prefix p gives its request number n. */
void client_format_req(uint64_t p, uint64_t n, char out[CLIENT_REQ_MAX]);

/* Records fmt as the calling thread's message for c and returns err. */
int client_error(const struct dlock_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The server to connect to next: the leader last named, else the server
 * at the cursor. */
void client_target(struct dlock_client *c, char out[CLIENT_ADDR_MAX]);
/* Notes that addr failed: forget it as leader, move the cursor on. */
void client_failed(struct dlock_client *c, const char *addr);
/* Notes that addr is the leader (from a redirect). */
void client_set_leader(struct dlock_client *c, const char *addr);
/* Notes that addr gave a call its answer. */
void client_set_answered(struct dlock_client *c, const char *addr);

/* Keeps p in the client's array *arr of *n (cap *cap): 0 or DLOCK_ENOMEM. */
int client_track(struct dlock_client *c, void ***arr, size_t *n, size_t *cap,
                 void *p);
/* Removes p from the array (under c->mu). */
void client_untrack(void **arr, size_t *n, void *p);

uint64_t client_now_ms(void);
/* Sleeps ms, or until deadline_ms if that is sooner. */
void client_sleep_until(uint64_t ms, uint64_t deadline_ms);

/* ---- conn.c: one TCP connection to a server --------------------------- */

struct conn {
    int fd;
    bool connecting;      /* a non-blocking connect is under way */
    bool nonblocking;     /* could not be made blocking: waits with poll() */
    uint64_t rcvtimeo_ms; /* its SO_RCVTIMEO, 0 while unset */
    char addr[CLIENT_ADDR_MAX];
    struct resp_reader rd;
    /* With TLS: the engine; plaintext goes through it, and wire holds the
     * records it made that the socket has not taken yet. */
    struct tls *tls;
    struct buf wire;
    /* The AUTH a new connection sends before its first request, and
     * whether its answer is still to come (conn_next takes it). */
    struct buf pre;
    bool auth_wait;
};

/* Starts a non-blocking connect to addr. 0 (*out connected or connecting),
 * DLOCK_EREFUSED (nothing listens there), DLOCK_EIO (c's message says
 * why), DLOCK_ENOMEM. */
int conn_start(struct dlock_client *c, const char *addr, struct conn **out);
/* Waits until the connect completes, up to deadline_ms: 0, DLOCK_EIO,
 * DLOCK_EREFUSED, DLOCK_ETIMEDOUT. */
int conn_finish(struct dlock_client *c, struct conn *k, uint64_t deadline_ms);
/* Whether a non-blocking connect has completed (0), is still under way
 * (1) or failed (DLOCK_EREFUSED, DLOCK_EIO). Never blocks. */
int conn_check(struct dlock_client *c, struct conn *k);
/* Sends the len bytes at p, waiting up to deadline_ms: 0, DLOCK_EIO,
 * DLOCK_ETIMEDOUT, DLOCK_ETLS, DLOCK_ENOMEM. With TLS, before the
 * handshake is done they wait in the engine: conn_recv completes it. */
int conn_send(struct dlock_client *c, struct conn *k, const char *p, size_t len,
              uint64_t deadline_ms);
/* Sends what it can of b without waiting and drops it from b: 0 or
 * DLOCK_EIO, DLOCK_ETLS, DLOCK_ENOMEM. With TLS, all of b goes into the
 * engine and what the socket does not take waits in k (conn_wants_write). */
int conn_send_some(struct dlock_client *c, struct conn *k, struct buf *b);
/* Whether k holds bytes for the socket (TLS records, a handshake's): the
 * caller then waits for POLLOUT too and calls conn_send_some. */
bool conn_wants_write(const struct conn *k);
/* Waits up to deadline_ms for one complete reply: 0 and *v (valid until
 * the next use of k), DLOCK_EIO (closed or failed), DLOCK_ETIMEDOUT,
 * DLOCK_EPROTO, DLOCK_ENOMEM. */
int conn_recv(struct dlock_client *c, struct conn *k, uint64_t deadline_ms,
              const struct resp_value **v);
/* Reads what has arrived without waiting: 0, DLOCK_EIO (closed or failed),
 * DLOCK_EPROTO, DLOCK_ENOMEM. Replies are then taken with
 * resp_reader_next. */
int conn_read_some(struct dlock_client *c, struct conn *k);
/* Closes k and frees it. Accepts NULL. */
void conn_free(struct conn *k);
/* The next value the reader holds, as resp_reader_next (1, 0 or an error,
 * with c's message), after the answer to the connection's AUTH:
 * DLOCK_EAUTH if that was refused. */
int conn_next(struct dlock_client *c, struct conn *k,
              const struct resp_value **v);

/* ---- call.c: requests with redirects, retries and timeouts ------------ */

/* The most arguments of a write whose lengths are given. */
#define CALL_ARGS_MAX 32

struct call {
    size_t argc;
    const char *const *argv;
    /* NULL: C strings; else the lengths (at most CALL_ARGS_MAX of them, for
     * a write: its request id's is taken from the id). */
    const size_t *argvlen;
    uint64_t deadline_ms; /* of the whole call */
    uint64_t attempt_ms;  /* the longest wait for one server's reply */
    const char *addr;     /* ask this server only, or NULL: the leader */
    /* A write: argv[req_arg] is req, which call_run fills with the id of
     * an earlier identical write that timed out, else a fresh id. */
    char *req;
    size_t req_arg;
};

/* Fills k for argv with the client's timeout plus extra_ms. */
void call_init(struct call *k, struct dlock_client *c, size_t argc,
               const char *const *argv, uint64_t extra_ms);
/* Makes k a write whose request id goes into req, argument req_arg. */
void call_write(struct call *k, char *req, size_t req_arg);
/* A hash of a request's arguments (argvlen NULL: C strings), the one at
 * skip left out. */
uint64_t call_key(size_t argc, const char *const *argv, const size_t *argvlen,
                  size_t skip);
/* Sends the request and waits for its answer, following LEADER redirects
 * and retrying other servers on NOLEADER and broken connections until the
 * deadline. 0: *conn is a connection that the caller owns and *v its
 * reply (not an error), valid until call_done. Otherwise the code mapped
 * from the server's error (call_error_code), or DLOCK_ETIMEDOUT (the
 * request was sent: its outcome is unknown), DLOCK_EIO (no server was
 * reached), DLOCK_EREFUSED (every server refused the first connection of
 * a client none has answered yet: not retried), DLOCK_EPROTO,
 * DLOCK_ENOMEM, with the message set. */
int call_run(struct dlock_client *c, const struct call *k, struct conn **conn,
             const struct resp_value **v);
/* Gives the connection of a successful call_run back to the client. */
void call_done(struct dlock_client *c, struct conn *conn);
/* call_run for a reply that must be an integer: 0 and *out. */
int call_integer(struct dlock_client *c, const struct call *k, int64_t *out);
/* The DLOCK_E* code of a server's error message by its first word. */
int call_error_code(const char *msg, size_t len);

/* ---- info.c: reading the state -------------------------------------- */

/* The value of field key in a RESP2 flat map or a RESP3 map, or NULL. */
const struct resp_value *info_field(const struct resp_value *map,
                                    const char *key);
/* Parses a LOCK.STATUS map into st: false if a field is missing or bad. */
bool info_parse_status(const struct resp_value *map,
                       struct dlock_lock_status *st);
/* Parses the mode and holders of a LOCK.STATUS map (st parsed from it)
 * into m; a map without them (a server before shared locks) gives
 * exclusive when held. False if they are bad. */
bool info_parse_mode(const struct resp_value *map,
                     const struct dlock_lock_status *st,
                     struct dlock_lock_mode *m);
/* Parses one LOCK.HOLDERS entry into h: false if a field is missing or bad
 * (or the session is 0). */
bool info_parse_holder(const struct resp_value *map, struct dlock_holder *h);

/* The most holders one LOCK.HOLDERS may ask for (its COUNT). */
#define INFO_HOLDERS_MAX 100000

/* The holders read so far by dlock_lock_holders, in the server's order
 * (session, then owner), and the FROM of the next page. */
struct info_holders {
    struct dlock_holder *a; /* room for n + the next page */
    size_t n;
    uint64_t from;
};

/* The COUNT of the next page for at most max holders in all: the holders
 * left, and room for those of the last session read again. */
uint64_t info_holders_count(const struct info_holders *hs, size_t max);
/* Appends the k holders of a page that come after the last of hs (at most
 * max in all) and sets hs->from for the next. Returns whether to read
 * another page: not after an empty page or at max. A page that adds
 * something is followed by one FROM its last session (the page may have
 * ended inside it); one that adds nothing repeated the last session, all
 * of it or as many of its owners as one reply holds: the next reads FROM
 * the session after it (owners of one session beyond what a reply holds
 * are passed over, since FROM cannot start inside a session). */
bool info_holders_merge(struct info_holders *hs, const struct dlock_holder *p,
                        size_t k, size_t max);

/* Parses a SEM.STATUS map into st: false if a field is missing or bad. */
bool info_parse_sem_status(const struct resp_value *map,
                           struct dlock_sem_status *st);
/* Parses an ELECT.LEADER map into li: false if a field is missing or bad
 * (a value longer than DLOCK_VALUE_MAX). */
bool info_parse_leader(const struct resp_value *map,
                       struct dlock_leader_info *li);

/* Parses a CLUSTER.INFO map into ci (at most 16 members). */
bool info_parse_cluster(const struct resp_value *map,
                        struct dlock_cluster_info *ci);

/* ---- session.c: sessions and lock handles ----------------------------- */

struct dlock_session {
    struct dlock_client *c;
    struct keeper *k;
    uint64_t id;
    uint64_t ttl_ms;
    unsigned flags;
    _Atomic uint64_t safe_until; /* dlock_now_ms() */
    atomic_bool lost;
    /* Under the keeper's lock: */
    bool active;     /* open: its keepalives are due from due_ms */
    uint64_t due_ms; /* the next keepalive's time */
    bool in_flight;  /* a keepalive is sent and not answered */
    bool notified;   /* the lost callback was called (or is running) */
    bool watched;    /* SESSION.WATCH sent on the keeper's connection */
    dlock_lost_cb cb;
    void *cb_arg;
    dlock_hold_lost_cb hold_cb;
    void *hold_cb_arg;
};

/* What a handle holds: a lock, permits of a semaphore, or leadership. */
enum lock_kind {
    LOCK_KIND_LOCK,
    LOCK_KIND_SEM,
    LOCK_KIND_ELECT,
};

/* A hold under a session, of any kind: a dlock_lock, or the first member
 * of a dlock_sem or dlock_leadership (c->locks tracks them all). */
struct dlock_lock {
    struct dlock_client *c;
    struct dlock_session *s; /* NULL once its session closed (c->mu) */
    enum lock_kind kind;
    uint64_t sid; /* s's id, kept after s is gone */
    char *name;
    char *owner;
    uint64_t token;
    /* A shared hold: set at the acquire, or by a downgrade of any handle of
     * the same session, owner and lock (which another thread may do). */
    atomic_bool shared;
    /* The server said the hold is gone while the session lives (a proclaim
     * refused with NOTHELD): lost. */
    atomic_bool gone;
};

struct dlock_sem {
    struct dlock_lock h;
    uint32_t count; /* the permits this handle took */
};

struct dlock_leadership {
    struct dlock_lock h;
};

/* The safe-until deadline of a lease of ttl_ms renewed by a request sent
 * at sent_ms (design.md §12). */
uint64_t session_safe_until(uint64_t sent_ms, uint64_t ttl_ms);
/* The interval of keepalives of a lease of ttl_ms. */
uint64_t session_interval(uint64_t ttl_ms);
/* Marks s lost (final); its keeper calls the callback. */
void session_mark_lost(struct dlock_session *s);
/* Whether s is lost now (also when its safe-until has passed unseen). */
bool session_is_lost(const struct dlock_session *s, uint64_t now_ms);
/* Closes s as dlock_session_close does, with the client's lock held or
 * not; used by dlock_client_free. */
int session_close(struct dlock_session *s);

/* ---- lock.c: holds of every kind ------------------------------------ */

#define LOCK_NAME_MAX 256
#define LOCK_OWNER_MAX 64

/* The arguments of an acquire of any kind: "CMD name session", the kind's
 * own, then OWNER, WAIT, DELAY and REQ. */
struct lock_acquire {
    char sid[24], wait[24], delay[24], req[CLIENT_REQ_MAX];
    char owner[LOCK_OWNER_MAX + 1];
    const char *argv[16];
    size_t argvlen[16];
    size_t argc, req_arg;
    uint64_t wait_ms;
    const struct dlock_acquire_options *o;
    struct dlock_acquire_options def;
};

/* Checks the name and options o (NULL: the defaults) of an acquire by s
 * and starts a's arguments with cmd, name and the session: 0,
 * DLOCK_EINVAL, DLOCK_ELIMIT (c's message says why). */
int lock_acquire_begin(struct dlock_session *s, const char *cmd,
                       const char *name, const struct dlock_acquire_options *o,
                       struct lock_acquire *a);
/* Appends the len bytes at p (borrowed until the acquire ends). */
void lock_acquire_arg(struct lock_acquire *a, const char *p, size_t len);
/* Appends OWNER, WAIT, DELAY and REQ and sends the acquire: 0 and *out, a
 * handle of size bytes (a struct that starts with a dlock_lock) of kind
 * with the token; else the server's error (DLOCK_ENOSESSION marks s
 * lost), DLOCK_ENOMEM. */
int lock_acquire_run(struct dlock_session *s, struct lock_acquire *a,
                     enum lock_kind kind, size_t size, struct dlock_lock **out);
/* Sends l's ending write (a release or a resign: argv of argc, its request
 * id in argv[argc - 1], a reply of an integer or OK) unless its session is
 * closed, and frees l. DLOCK_ELOST when the hold was lost (the session
 * closed, lost, or the server says it has expired). */
int lock_handle_end(struct dlock_lock *l, const char **argv, size_t argc,
                    char *req);
/* Whether l's session is open and not lost, and l not gone; *safe_until
 * (may be NULL) receives the session's safe-until then. */
bool lock_handle_alive(const struct dlock_lock *l, uint64_t *safe_until);

/* ---- watch.c: watches of a name ------------------------------------- */

/* Where a watch is: the revision of the last change delivered, and how
 * many changes of that revision were delivered (WATCH_POS_ALL: all of
 * them; a revision may hold several, as a handover's released and
 * granted). A watch goes on after a reconnect FROM the revision before,
 * and passes over the changes of it that were delivered. */
#define WATCH_POS_ALL UINT32_MAX
struct watch_pos {
    uint64_t revision;
    uint32_t delivered;
    uint32_t skip; /* of the current connection: changes at revision to
                      pass over still */
};

/* The FROM of a new connection's WATCH for p, and p made ready for the
 * changes it replays. */
uint64_t watch_pos_from(struct watch_pos *p);
/* Whether ch comes after what p has delivered (then p moves on to it);
 * false for one delivered already. A GONE change moves p to its revision,
 * all of it. */
bool watch_pos_accept(struct watch_pos *p, const struct dlock_change *ch);
/* Parses a change (an array or a push of 11: "watch", name, revision,
 * event, session, owner, token, exclusive, shared, holders, value) into
 * ch: false if it is not one, or a field is bad or too long. */
bool watch_parse_change(const struct resp_value *v, struct dlock_change *ch);

/* Called on a watch's thread when every change up to revision (the last
 * delivered) has been delivered, all of its revision: when a watch from
 * DLOCK_WATCH_NOW learns where it starts (first), then at each answer to
 * a PING, which the watch sends after a push when none is in flight (the
 * server pushes a revision's changes at once, before it answers). */
typedef void (*watch_settled_cb)(void *arg, uint64_t revision);

/* dlock_watch_start, with settled (NULL: none) called as above, and *out
 * set before the thread starts (its callbacks may read it). */
int watch_start(struct dlock_client *c, const char *name,
                uint64_t from_revision, dlock_change_cb cb,
                watch_settled_cb settled, void *arg, struct dlock_watch **out);
/* Makes cond a condition on CLOCK_MONOTONIC: false if it failed. */
bool watch_cond_init(pthread_cond_t *cond);
/* dlock_watch_stop: true when called from w's callback (w is freed when
 * it returns), false when w is freed already (or NULL). */
bool watch_stop(struct dlock_watch *w);

/* A watch: its thread reads the pushes of WATCH over its own connection,
 * through a private client on the same servers. */
struct dlock_watch {
    struct dlock_client *pc; /* private: only the thread uses it (and an
                                observer's callbacks, on it) */
    char *name;
    dlock_change_cb cb;
    watch_settled_cb settled;
    void *arg;
    struct watch_pos pos;       /* the thread's */
    _Atomic uint64_t delivered; /* pos.revision, for dlock_watch_revision */
    pthread_t thread;
    /* Guards what follows. */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC: wakes a pause at stop */
    bool stop;
    bool self_free; /* stopped from its callback: the thread frees it */
    bool running;   /* the thread has set self */
    pthread_t self; /* the thread, as it knows itself */
    int fd;         /* the connection's, -1: shut down at stop */
    char addr[CLIENT_ADDR_MAX]; /* the server read from, or "" */
};

/* ---- observe.c: observers of an election's leader --------------------- */

/* An observer: a watch of the election's name with a settled callback;
 * what it keeps is its thread's, but for the start's wait. */
struct dlock_observe {
    struct dlock_watch *w;
    dlock_leader_cb cb;
    void *arg;
    /* The watch's thread's. */
    bool started; /* the first report is made (or its read failed) */
    bool failed;  /* its read failed: report nothing */
    bool stopped; /* stopped from cb: free it when cb returns */
    bool reported;
    struct dlock_leader_info last; /* reported last */
    bool pending;                  /* a revision not reported yet, */
    uint64_t revision;             /* its number, */
    bool read;                     /* whose leader must be read, */
    struct dlock_leader_info next; /* or is this */
    /* The start's wait for the first report, guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool first_done;
    int first_rc;
    char first_msg[256];
    bool reading;   /* the first read has begun */
    bool abandoned; /* the start gave up: report nothing */
};

/* ---- keeper.c: the keepalive engine ----------------------------------- */

/* Keeps sessions alive over one non-blocking connection of its own: it
 * sends keepalives that are due, reads their answers, updates safe-until,
 * notices lost sessions and calls their callbacks. It never blocks; a
 * thread (keeper_start) or the program (noloop.c) drives it. */
struct keeper {
    struct dlock_client *c;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct dlock_session **ss;
    size_t n_ss, cap_ss;
    struct conn *conn;
    struct buf out;
    struct keeper_fly *fly; /* keepalives in flight, in sending order */
    size_t n_fly, cap_fly;
    uint64_t reply_deadline; /* of the oldest in flight, or the connect */
    uint64_t retry_at;
    uint64_t backoff_ms;
    unsigned redirects;               /* in a row */
    struct dlock_session *delivering; /* whose callback runs now */
    /* Session watches (holdwatch.c): the connection speaks RESP3 (HELLO
     * sent) or cannot (no_push: answered with an error); the last
     * revision a watch started from or pushed, to go on FROM at the next
     * connection; holds the server said lost, to deliver. */
    bool hello_sent, no_push;
    uint64_t revision;
    struct holdwatch_lost *lost;
    size_t n_lost, cap_lost;
    /* The thread that drives it, if any. */
    bool has_thread, stop;
    pthread_t thread;
    int wake_fd; /* an eventfd that interrupts the thread's poll */
};

/* What a request of the keeper's connection is. */
enum keeper_req {
    KEEPER_KEEPALIVE,
    KEEPER_HELLO,
    KEEPER_WATCH, /* SESSION.WATCH or SESSION.UNWATCH */
};

struct keeper_fly {
    struct dlock_session *s; /* NULL once removed, and for other requests */
    uint64_t sent_ms;
    uint64_t deadline_ms; /* of its answer */
    enum keeper_req req;
};

/* Makes a keeper for c: 0 or DLOCK_ENOMEM. */
int keeper_new(struct dlock_client *c, struct keeper **out);
/* Starts the thread that drives k: 0, DLOCK_ENOMEM (no thread). */
int keeper_start(struct keeper *k);
/* Stops k's thread and frees k. Accepts NULL. */
void keeper_free(struct keeper *k);
/* Adds s to the sessions k keeps alive: 0 or DLOCK_ENOMEM. */
int keeper_add(struct keeper *k, struct dlock_session *s);
/* Removes s; when this returns, k no longer touches s. */
void keeper_remove(struct keeper *k, struct dlock_session *s);
/* Interrupts the driving thread's wait (something changed). */
void keeper_wake(struct keeper *k);
/* One step at now_ms: I/O that is ready, keepalives that are due, lost
 * sessions and their callbacks. 0, or DLOCK_ENOMEM (try again later). */
int keeper_process(struct keeper *k);
int keeper_fd(struct keeper *k);
short keeper_events(struct keeper *k);
uint64_t keeper_deadline(struct keeper *k);
/* Queues req (argc strings) on k's connection, its answer due within
 * wait_ms: 0 or DLOCK_ENOMEM. With k locked. */
int keeper_queue(struct keeper *k, struct dlock_session *s, enum keeper_req req,
                 size_t argc, const char **argv, uint64_t now,
                 uint64_t wait_ms);

/* ---- holdwatch.c: the holds the server takes -------------------------- */

/* The keeper's connection watches the losses of each of its sessions'
 * holds (HELLO 3, SESSION.WATCH id FROM r LOST), so that a hold the server ends
 * while the session lives (an administrator's LOCK.REVOKE) is known at
 * once: its handles report lost, and the session's hold-lost callback is
 * called. All but holdwatch_deliver with k locked. */
struct holdwatch_lost {
    uint64_t session, token;
    char name[257];
    char owner[65];
};

/* Whether s waits for its watch: then the keeper connects for it. */
bool holdwatch_wanted(const struct keeper *k, const struct dlock_session *s);
/* Queues HELLO 3 on a new connection and the watch of each session that
 * wants one: 0 or DLOCK_ENOMEM. */
int holdwatch_queue(struct keeper *k, uint64_t now);
/* s leaves k: its watch ends (SESSION.UNWATCH). */
void holdwatch_remove(struct keeper *k, struct dlock_session *s, uint64_t now);
/* The answer v to a HELLO or a watch request. */
void holdwatch_answer(struct keeper *k, const struct keeper_fly *f,
                      const struct resp_value *v);
/* A push on the connection: a change of a watched session's holds. */
void holdwatch_push(struct keeper *k, const struct resp_value *v);
/* The connection is gone: the watches go with it. */
void holdwatch_reset(struct keeper *k);
/* Marks the handles of the holds reported lost, and calls the hold-lost
 * callbacks, one at a time; with k unlocked. */
void holdwatch_deliver(struct keeper *k);

#endif
