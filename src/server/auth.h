/* auth.h - who a client is and what it may do (docs/security.md): AUTH and
 * HELLO's AUTH checked against the replicated users off the loop, failures
 * counted by source address and answered late, the check of every command
 * against its user's categories and rules, the user stamped into what a
 * client proposes, and the users bootstrapped from --users-file or
 * DLOCK_USERS at a cluster's first start. */
#ifndef DLOCK_AUTH_H
#define DLOCK_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/resp.h"
#include "lock/acl.h"
#include "lock/fsm.h"

struct server;
struct conn;
struct slot;
struct hasher;

/* What a command's arguments name, for its check. */
enum auth_arg {
    AUTH_ARG_NONE = 0,
    AUTH_ARG_NAME = 1,    /* a[1] is a name: the rules decide, at level */
    AUTH_ARG_PREFIX = 2,  /* LOCK.LIST's optional prefix: a prefix rule */
    AUTH_ARG_SESSION = 3, /* a[1] is a session id: the user's own only */
    AUTH_ARG_KEYS = 4,    /* EVAL's: a[2] keys from a[3], each a name */
};

/* A command's permission: its category (0: every client, authenticated),
 * what it names, and the level the rules must give. */
struct auth_perm {
    uint32_t category;
    uint8_t arg;
    uint8_t level;
    bool before_auth; /* allowed before authentication (AUTH, HELLO...) */
};

/* Before authentication, requests are held to these limits. */
#define AUTH_PRE_MAX_STR 1024
#define AUTH_PRE_MAX_ELEMS 16
#define AUTH_PRE_MAX_PENDING 4096
/* A connection must authenticate within --request-timeout-ms of
 * connecting (this long when that is 0), or it is answered NOAUTH and
 * closed. */
#define AUTH_PRE_TIMEOUT_MS 10000
/* Failures from one address are counted while the last is this recent. */
#define AUTH_FAIL_WINDOW_MS 600000
/* A failed AUTH is answered after 100 ms, doubled for each failure from
 * its address counted before it, up to this. */
#define AUTH_FAIL_DELAY_MAX_MS 5000

struct auth;

/* Sets up authentication for srv: the hasher, the delayed replies, and
 * the bootstrap users of --users-file or DLOCK_USERS (parsed and hashed
 * now). 0, or -1 with a message in err. */
int auth_start(struct server *srv, char *err, size_t errlen);
/* Ends it: what is pending is dropped (its slots finished). */
void auth_stop(struct server *srv);

/* Whether clients must authenticate: --auth yes, or users were ever set in
 * the replicated state. */
bool auth_required(const struct server *srv);

/* Prepares c, new: held to the limits above while authentication is
 * required and it has not passed. */
void auth_conn_init(struct conn *c);

/* Whether c may run the command name (with perm) with arguments a; false
 * with the refusal answered (NOAUTH, NOPERM). */
bool auth_allows(struct conn *c, struct slot *s, const char *name,
                 const struct auth_perm *perm, const struct resp_value *a,
                 size_t n);

/* The bytes a caller of auth_login may keep for its then. */
#define AUTH_THEN_CTX 80

/* AUTH [user] password, and HELLO's AUTH: checks the password off the
 * loop; the connection serves nothing else meanwhile. Then calls then(s,
 * true, ctx) with c authenticated (its reply to write), or writes the
 * error (WRONGPASS, after the delay its address has earned) and calls
 * then(s, false, ctx); then must end the slot either way. ctx is a copy of
 * the ctx_len (at most AUTH_THEN_CTX) bytes given. user NULL: the user
 * "default". */
void auth_login(struct conn *c, struct slot *s, const struct resp_value *user,
                const struct resp_value *password,
                void (*then)(struct slot *s, bool ok, const void *ctx),
                const void *ctx, size_t ctx_len);

/* The HTTP port's logins (http.c): user and password (ulen, plen bytes)
 * checked as AUTH checks them, with the same memory of passwords that
 * passed lately and the hashing off the loop; a failure is answered after
 * AUTH_FAIL_DELAY_MAX_MS (the port counts no failures by address).
 * Returns AUTH_HTTP_PASSED (a password that passed lately: done is not
 * called), AUTH_HTTP_BUSY (too many logins under way: done is not called)
 * or AUTH_HTTP_PENDING: done(arg, ok) is called later, from the loop,
 * unless auth_http_forget(*pending) comes first (the requester went
 * away). peer names the client in the log. */
enum { AUTH_HTTP_PASSED = 1, AUTH_HTTP_PENDING = 0, AUTH_HTTP_BUSY = -1 };
struct auth_http;
int auth_http_login(struct server *srv, const char *peer, const char *user,
                    size_t ulen, const char *pw, size_t plen,
                    void (*done)(void *arg, bool ok), void *arg,
                    struct auth_http **pending);
void auth_http_forget(struct auth_http *h);
/* Whether user exists, is on, and is allowed category (0: any user) with
 * READ on every name (a rule READ *). */
bool auth_user_may(struct server *srv, const char *user, size_t ulen,
                   uint32_t category);
/* With --tls-cert-user: whether the certificate the TLS client t showed
 * names an existing user (its common name, into user, n bytes). */
struct tls;
bool auth_cert_user(struct server *srv, const struct tls *t, char *user,
                    size_t n);

/* With --tls-cert-user: a client whose certificate names an existing user
 * (its common name) is that user once its handshake is done. */
void auth_cert_login(struct conn *c);

/* The user c acts as, stamped into what it proposes (none while
 * authentication is off). */
void auth_stamp(const struct conn *c, struct fsm_cmd *cmd);

/* Called by the sweep: times out connections that did not authenticate,
 * proposes the bootstrap users when this server leads a cluster that has
 * none, forgets old failures. */
void auth_sweep(struct server *srv);

/* USER.SET's work: the definition sp of user name (copied), its password
 * hashed off the loop, proposed; done(s, status, res) as a write's. True
 * if an error was answered instead. */
bool auth_user_set(struct conn *c, struct slot *s, const char *name,
                   uint32_t len, const struct acl_spec *sp);

/* Counters for INFO. */
struct auth_stats {
    uint64_t ok, failed, refused; /* logins; NOAUTH and NOPERM answers */
    size_t hashing;               /* passwords being hashed */
};
void auth_stats(const struct server *srv, struct auth_stats *st);

#endif
