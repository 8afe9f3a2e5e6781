/* auth.c - authentication and permissions on the client port (auth.h).
 *
 * A password is checked with the user's PBKDF2 record, off the loop
 * (hasher.h). Once a user's password has passed on this server, an HMAC of
 * it under a key drawn at start is kept with the record it passed against,
 * so that the next logins as that user (every instance of a service
 * reconnecting after a leader change) cost a microsecond, not a hash; the
 * HMAC never leaves memory, and a change of the user's record makes it
 * stale. A failure is answered after a delay that doubles with each
 * failure from the same address (listener.h keeps the count). */
#include "server/auth.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/le.h"
#include "common/mem.h"
#include "server/command.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/hasher.h"
#include "server/listener.h"
#include "server/lockcmd_internal.h"
#include "server/logger.h"
#include "server/node.h"
#include "server/server.h"
#include "tls/tls.h"

#define MAC_LEN 32

/* A password that passed: its HMAC, and the record it passed against. */
struct verified {
    uint8_t record[4 + ACL_SALT_LEN + ACL_HASH_LEN];
    uint8_t mac[MAC_LEN];
    uint8_t name_len;
    char name[ACL_USER_MAX];
};

/* The slot's op while its AUTH is checked. */
struct login {
    struct hasher_job job;
    struct auth *auth;
    struct slot *slot; /* an AUTH's; NULL: the HTTP port's (below) */
    void (*then)(struct slot *s, bool ok, const void *ctx);
    /* The HTTP port's: done(arg, ok) once, unless forgotten (done NULL:
     * the requester went away), and its peer for the log. */
    void (*http_done)(void *arg, bool ok);
    void *http_arg;
    char peer[64];
    _Alignas(8) uint8_t ctx[AUTH_THEN_CTX];
    bool known; /* the user exists, is on and has a password */
    uint8_t record[4 + ACL_SALT_LEN + ACL_HASH_LEN];
    uint8_t mac[MAC_LEN];
    uint8_t user_len;
    char user[ACL_USER_MAX];
    uint64_t due_ms;    /* a failure's answer, delayed */
    struct login *next; /* in auth->delayed, by due_ms */
};

/* The slot's op while USER.SET hashes. */
struct setting {
    struct hasher_job job;
    struct slot *slot;
    uint8_t len;
    char name[ACL_USER_MAX];
    struct acl_spec spec;
    char text[ACL_RULES_MAX * ACL_PATTERN_MAX]; /* the rules' patterns */
};

struct auth {
    struct server *srv;
    struct hasher *hasher;
    uv_timer_t timer;      /* the first delayed failure's answer */
    uv_timer_t boot_timer; /* tries the bootstrap until it is decided */
    struct login *delayed;
    struct map_str verified; /* user name -> struct verified */
    uint8_t key[32];         /* of the HMACs */
    uint8_t *boot;           /* the bootstrap USER_SET's data, or NULL */
    size_t boot_len;
    bool boot_sent; /* proposed, the answer not come */
    uint64_t ok, failed, refused;
    int closed; /* handles closed, at auth_stop */
};

/* How often a server with bootstrap users looks whether to propose them. */
#define BOOT_MS 50

static struct auth *auth_of(const struct server *srv)
{
    return srv->auth;
}

/* ---- bootstrap -------------------------------------------------------- */

/* Appends a user (name, then definition) to a USER_SET's data. */
static int data_add(uint8_t *data, size_t *len, const char *name, size_t nlen,
                    const uint8_t *def, size_t dlen)
{
    if (FSM_DATA_MAX - *len < 3 + nlen + dlen)
        return -1;
    data[*len] = (uint8_t)nlen;
    memcpy(data + *len + 1, name, nlen);
    le_put16(data + *len + 1 + nlen, (uint16_t)dlen);
    memcpy(data + *len + 3 + nlen, def, dlen);
    *len += 3 + nlen + dlen;
    return 0;
}

static void random_bytes(uint8_t *p, size_t n)
{
    if (RAND_bytes(p, (int)n) != 1) {
        log_error("no random bytes (RAND_bytes)");
        abort();
    }
}

/* The definition of sp, with its password (if any) hashed now. */
static size_t encode_now(const struct acl_spec *sp, uint32_t iterations,
                         uint8_t *def)
{
    uint8_t salt[ACL_SALT_LEN], hash[ACL_HASH_LEN] = {0};
    random_bytes(salt, sizeof salt);
    if (sp->password != NULL)
        hasher_pbkdf2(sp->password, sp->password_len, salt, iterations, hash);
    return acl_encode(sp, iterations, salt, hash, def, ACL_DEF_MAX);
}

/* One line of users: "name words...", split at blanks. */
static int boot_line(struct auth *a, char *line, const char *where,
                     unsigned lineno, char *err, size_t errlen)
{
    struct acl_token t[ACL_TOKENS_MAX + 1];
    size_t n = acl_split(line, strlen(line), t, ACL_TOKENS_MAX + 1);
    if (n > ACL_TOKENS_MAX + 1) {
        snprintf(err, errlen, "%s:%u: too many words", where, lineno);
        return -1;
    }
    if (n == 0 || t[0].s[0] == '#')
        return 0;
    if (!acl_user_ok(t[0].s, t[0].len)) {
        snprintf(err, errlen,
                 "%s:%u: '%.*s' is not a user name (1 to %d letters, "
                 "digits and ._@-)",
                 where, lineno, (int)(t[0].len > 64 ? 64 : t[0].len), t[0].s,
                 ACL_USER_MAX);
        return -1;
    }
    struct acl_spec sp;
    char why[256];
    if (acl_parse(&sp, t + 1, n - 1, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s:%u: %s", where, lineno, why);
        return -1;
    }
    uint8_t def[ACL_DEF_MAX];
    size_t dlen =
        encode_now(&sp, (uint32_t)a->srv->cfg->password_iterations, def);
    if (a->boot == NULL)
        a->boot = mem_xmalloc(FSM_DATA_MAX);
    if (data_add(a->boot, &a->boot_len, t[0].s, t[0].len, def, dlen) != 0) {
        snprintf(err, errlen, "%s:%u: the users take more than %d bytes", where,
                 lineno, FSM_DATA_MAX);
        return -1;
    }
    return 0;
}

/* The users of text (lines, or ';'-separated), from where. */
static int boot_text(struct auth *a, char *text, const char *where, char *err,
                     size_t errlen)
{
    unsigned lineno = 0;
    char *save;
    for (char *line = strtok_r(text, "\n;", &save); line != NULL;
         line = strtok_r(NULL, "\n;", &save)) {
        lineno++;
        if (boot_line(a, line, where, lineno, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int boot_load(struct auth *a, char *err, size_t errlen)
{
    const struct config *cfg = a->srv->cfg;
    const char *env = getenv("DLOCK_USERS");
    int rc = 0;
    if (cfg->users_file[0] != '\0') {
        FILE *f = fopen(cfg->users_file, "r");
        if (f == NULL) {
            snprintf(err, errlen, "--users-file %s: cannot open it",
                     cfg->users_file);
            return -1;
        }
        char *text = mem_xcalloc(1, 1 << 20);
        size_t n = fread(text, 1, (1 << 20) - 1, f);
        bool big = !feof(f);
        fclose(f);
        if (big) {
            snprintf(err, errlen, "--users-file %s: larger than 1 MiB",
                     cfg->users_file);
            rc = -1;
        } else {
            text[n] = '\0';
            rc = boot_text(a, text, cfg->users_file, err, errlen);
        }
        OPENSSL_cleanse(text, 1 << 20);
        free(text);
    }
    if (rc == 0 && env != NULL && env[0] != '\0') {
        char *text = mem_xstrdup(env);
        rc = boot_text(a, text, "DLOCK_USERS", err, errlen);
        OPENSSL_cleanse(text, strlen(env));
        free(text);
    }
    if (rc == 0 && a->boot != NULL && a->boot_len == 0) {
        free(a->boot);
        a->boot = NULL;
    }
    return rc;
}

static void boot_done(void *ctx, int status, const struct fsm_result *r)
{
    struct auth *a = ctx;
    a->boot_sent = false;
    if (status != NODE_OK || a->boot == NULL)
        return; /* proposed again by a later sweep, if still wanted */
    if (r->status == FSM_OK)
        log_info("users: %u set from --users-file or DLOCK_USERS (the "
                 "cluster's first users)",
                 r->users);
    else if (r->status == FSM_NOTHELD)
        log_info("users: the cluster has users already; those of "
                 "--users-file or DLOCK_USERS are not applied");
    else
        log_warn("users: the bootstrap users were refused (status %d)",
                 r->status);
    free(a->boot);
    a->boot = NULL;
    uv_timer_stop(&a->boot_timer);
}

/* The leader proposes the bootstrap once the cluster has no users. */
static void boot_sweep(struct auth *a)
{
    struct node *node = a->srv->node;
    if (a->boot == NULL || a->boot_sent)
        return;
    if (fsm_auth_on(node_fsm(node))) {
        log_info("users: the cluster has users already; those of "
                 "--users-file or DLOCK_USERS are not applied");
        free(a->boot);
        a->boot = NULL;
        uv_timer_stop(&a->boot_timer);
        return;
    }
    if (!node_is_leader(node))
        return;
    struct fsm_cmd cmd = {.type = FSM_USER_SET, .count = 1};
    cmd.data = a->boot;
    cmd.data_len = (uint32_t)a->boot_len;
    if (node_propose(node, &cmd, boot_done, a) == NODE_OK)
        a->boot_sent = true;
}

static void boot_cb(uv_timer_t *t)
{
    boot_sweep(t->data);
}

/* ---- start, stop ------------------------------------------------------ */

static void delayed_cb(uv_timer_t *t);

int auth_start(struct server *srv, char *err, size_t errlen)
{
    struct auth *a = mem_xcalloc(1, sizeof *a);
    srv->auth = a;
    a->srv = srv;
    random_bytes(a->key, sizeof a->key);
    map_str_init(&a->verified);
    if (boot_load(a, err, errlen) != 0)
        return -1;
    a->hasher = hasher_new(srv->loop);
    uv_timer_init(srv->loop, &a->timer);
    a->timer.data = a;
    uv_timer_init(srv->loop, &a->boot_timer);
    a->boot_timer.data = a;
    if (a->boot != NULL)
        uv_timer_start(&a->boot_timer, boot_cb, BOOT_MS, BOOT_MS);
    return 0;
}

/* The two timers close, then a is freed. */
static void auth_closed(uv_handle_t *h)
{
    struct auth *a = h->data;
    if (++a->closed == 2)
        free(a);
}

/* Ends a login's slot whose client is gone, or that cannot finish. */
/* The HTTP port's login is over: its requester told, unless gone. */
static void http_end(struct login *lg, bool ok)
{
    if (lg->http_done != NULL)
        lg->http_done(lg->http_arg, ok);
    OPENSSL_cleanse(lg, sizeof *lg);
    free(lg);
}

static void login_drop(struct login *lg)
{
    if (lg->slot == NULL) {
        http_end(lg, false);
        return;
    }
    struct slot *s = lg->slot;
    if (s->conn != NULL) {
        s->conn->auth_busy = false;
        command_error(s, "ERR the server is stopping");
    }
    slot_done(s);
}

void auth_stop(struct server *srv)
{
    struct auth *a = auth_of(srv);
    if (a == NULL)
        return;
    hasher_free(a->hasher); /* cancels what is queued: login_drop each */
    while (a->delayed != NULL) {
        struct login *lg = a->delayed;
        a->delayed = lg->next;
        login_drop(lg);
    }
    size_t pos = 0;
    struct verified *v;
    while ((v = map_str_next(&a->verified, &pos, NULL, NULL)) != NULL) {
        OPENSSL_cleanse(v, sizeof *v);
        free(v);
    }
    map_str_close(&a->verified);
    free(a->boot);
    a->boot = NULL;
    OPENSSL_cleanse(a->key, sizeof a->key);
    srv->auth = NULL;
    uv_close((uv_handle_t *)&a->timer, auth_closed);
    uv_close((uv_handle_t *)&a->boot_timer, auth_closed);
}

/* ---- who is who ------------------------------------------------------- */

bool auth_required(const struct server *srv)
{
    return srv->cfg->auth || fsm_auth_on(node_fsm(srv->node));
}

void auth_conn_init(struct conn *c)
{
    c->opened_ms = uv_now(c->srv->loop);
    if (!auth_required(c->srv))
        return;
    struct resp_limits lim = resp_limits_server;
    lim.max_str = AUTH_PRE_MAX_STR;
    lim.max_elems = AUTH_PRE_MAX_ELEMS;
    lim.max_pending = AUTH_PRE_MAX_PENDING;
    lim.max_inline = AUTH_PRE_MAX_PENDING;
    resp_reader_set_limits(c->reader, &lim);
    c->pre_auth = true;
}

/* c passed as user: its limits are the port's own from now on. */
static void become(struct conn *c, const char *user, size_t len)
{
    memcpy(c->user, user, len);
    c->user_len = (uint8_t)len;
    c->authed = true;
    if (c->pre_auth) {
        struct resp_limits lim = resp_limits_server;
        if (lim.max_pending > c->srv->cfg->max_request)
            lim.max_pending = c->srv->cfg->max_request;
        resp_reader_set_limits(c->reader, &lim);
        c->pre_auth = false;
    }
}

/* The definition of user, decoded, if it exists and is on. */
static bool user_def(const struct server *srv, const char *user, size_t len,
                     struct acl_def *d)
{
    uint32_t dlen;
    const uint8_t *def =
        fsm_user(node_fsm(srv->node), user, (uint32_t)len, &dlen);
    return def != NULL && acl_decode(d, def, dlen, false) == 0 &&
           (d->flags & ACL_ON);
}

void auth_stamp(const struct conn *c, struct fsm_cmd *cmd)
{
    if (c->authed) {
        cmd->user = c->user;
        cmd->user_len = c->user_len;
    }
}

void auth_cert_login(struct conn *c)
{
    char cn[256];
    struct acl_def d;
    if (!c->srv->cfg->tls_cert_user || c->tls == NULL || c->authed ||
        !tls_peer_name(c->tls, cn, sizeof cn))
        return;
    size_t len = strlen(cn);
    if (!acl_user_ok(cn, len) || !user_def(c->srv, cn, len, &d))
        return;
    become(c, cn, len);
    auth_of(c->srv)->ok++;
    log_debug("client %s: authenticated as '%s' by its certificate", c->peer,
              cn);
}

/* ---- the check of each command ---------------------------------------- */

static bool refuse(struct conn *c, struct slot *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool refuse(struct conn *c, struct slot *s, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    command_error(s, "%s", msg);
    auth_of(c->srv)->refused++;
    return false;
}

/* The name LOCK.LIST lists under (lockread.c parses it the same way). */
static struct resp_value list_prefix(const struct resp_value *a, size_t n)
{
    if (n >= 2 && !(n % 2 == 1 &&
                    (command_is(&a[1], "COUNT") || command_is(&a[1], "AFTER"))))
        return a[1];
    return (struct resp_value){.str = "", .len = 0};
}

static bool session_of_user(struct conn *c, const struct resp_value *v)
{
    uint64_t id = 0;
    for (size_t i = 0; i < v->len && i < 20; i++) {
        unsigned d = (unsigned char)v->str[i] - '0';
        if (d > 9)
            return true; /* not an id: the command says so */
        id = id * 10 + d;
    }
    struct fsm_session_info si;
    if (!fsm_session_info(node_fsm(c->srv->node), id, &si))
        return true; /* unknown: NOSESSION, from the command */
    return si.user_len == c->user_len &&
           (si.user_len == 0 || memcmp(si.user, c->user, si.user_len) == 0);
}

/* Whether the rules of d let c run name (with p) on target; false with
 * the refusal answered. */
static bool decide(struct conn *c, struct slot *s, const char *name,
                   const struct auth_perm *p, const struct acl_def *d,
                   struct resp_value target)
{
    int v = acl_decide(d, p->category, p->level, target.str,
                       (uint32_t)target.len, p->arg == AUTH_ARG_PREFIX);
    int shown = (int)(target.len > 256 ? 256 : target.len);
    if (v == ACL_NO_CATEGORY)
        return refuse(c, s, "NOPERM user '%.*s' may not run '%s' (category %s)",
                      (int)c->user_len, c->user, name,
                      acl_category_name(p->category));
    if (v == ACL_NO_RULE && p->arg == AUTH_ARG_PREFIX)
        return refuse(c, s,
                      "NOPERM user '%.*s' may not %s every name that starts "
                      "with '%.*s'",
                      (int)c->user_len, c->user, acl_level_name(p->level),
                      shown, target.str);
    if (v == ACL_NO_RULE)
        return refuse(c, s, "NOPERM user '%.*s' may not %s '%.*s'",
                      (int)c->user_len, c->user, acl_level_name(p->level),
                      shown, target.str);
    return true;
}

bool auth_allows(struct conn *c, struct slot *s, const char *name,
                 const struct auth_perm *p, const struct resp_value *a,
                 size_t n)
{
    if (p->before_auth || !auth_required(c->srv))
        return true;
    struct acl_def d;
    if (!c->authed)
        return refuse(c, s, "NOAUTH Authentication required.");
    if (!user_def(c->srv, c->user, c->user_len, &d)) {
        c->authed = false;
        return refuse(c, s,
                      "NOAUTH user '%.*s' was deleted or turned off: "
                      "authenticate again",
                      (int)c->user_len, c->user);
    }
    /* What the command names: a name, a prefix, keys, or neither. */
    if (p->arg == AUTH_ARG_KEYS) {
        char digits[8];
        long nk = 0;
        if (n > 2 && a[2].len > 0 && a[2].len < sizeof digits) {
            memcpy(digits, a[2].str, a[2].len);
            digits[a[2].len] = '\0';
            nk = strtol(digits, NULL, 10);
        }
        if (nk < 1 || (size_t)nk > n - 3)
            return true; /* the command refuses it itself */
        for (size_t i = 3; i < 3 + (size_t)nk; i++)
            if (!decide(c, s, name, p, &d, a[i]))
                return false;
        return true;
    }
    struct resp_value target = {.str = NULL, .len = 0};
    if (p->arg == AUTH_ARG_NAME && n > 1)
        target = a[1];
    else if (p->arg == AUTH_ARG_NAME)
        return true; /* nothing named: the command refuses it itself */
    else if (p->arg == AUTH_ARG_PREFIX)
        target = list_prefix(a, n);
    if (!decide(c, s, name, p, &d, target))
        return false;
    if (p->arg == AUTH_ARG_SESSION && !session_of_user(c, &a[1]))
        return refuse(c, s, "NOPERM session %.*s is another user's",
                      (int)(a[1].len > 20 ? 20 : a[1].len), a[1].str);
    return true;
}

/* ---- logins ----------------------------------------------------------- */

static void mac_of(const struct auth *a, const char *user, size_t ulen,
                   const char *pw, size_t len, uint8_t out[MAC_LEN])
{
    /* The user's name, a zero byte, then the password. */
    uint8_t in[ACL_USER_MAX + 1 + ACL_PASSWORD_MAX];
    memcpy(in, user, ulen);
    in[ulen] = 0;
    memcpy(in + ulen + 1, pw, len);
    unsigned out_len = MAC_LEN;
    if (HMAC(EVP_sha256(), a->key, sizeof a->key, in, ulen + 1 + len, out,
             &out_len) == NULL) {
        log_error("HMAC failed (out of memory?)");
        abort();
    }
    OPENSSL_cleanse(in, sizeof in);
}

/* The delay a failure from the address a has earned (counted now). */
static uint64_t fail_delay(struct listener_addr *from, uint64_t now)
{
    if (from == NULL)
        return AUTH_FAIL_DELAY_MAX_MS;
    if (from->auth_fails > 0 && now - from->auth_fail_ms >= AUTH_FAIL_WINDOW_MS)
        from->auth_fails = 0;
    if (from->auth_fails < UINT32_MAX)
        from->auth_fails++;
    from->auth_fail_ms = now;
    unsigned shift = from->auth_fails - 1 < 16 ? from->auth_fails - 1 : 16;
    uint64_t ms = (uint64_t)100 << shift;
    return ms < AUTH_FAIL_DELAY_MAX_MS ? ms : AUTH_FAIL_DELAY_MAX_MS;
}

static void delayed_cb(uv_timer_t *t)
{
    struct auth *a = t->data;
    uint64_t now = uv_now(a->srv->loop);
    while (a->delayed != NULL && a->delayed->due_ms <= now) {
        struct login *lg = a->delayed;
        a->delayed = lg->next;
        if (lg->slot == NULL) {
            http_end(lg, false);
            continue;
        }
        struct slot *s = lg->slot;
        if (s->conn == NULL) {
            slot_done(s);
            continue;
        }
        s->conn->auth_busy = false;
        command_error(s, "WRONGPASS invalid username-password pair or user "
                         "is disabled.");
        lg->then(s, false, lg->ctx);
    }
    if (a->delayed != NULL)
        uv_timer_start(&a->timer, delayed_cb, a->delayed->due_ms - now, 0);
}

/* The login failed: answered after its delay. */
static void login_failed(struct login *lg)
{
    struct auth *a = lg->auth;
    struct conn *c = lg->slot != NULL ? lg->slot->conn : NULL;
    uint64_t now = uv_now(a->srv->loop);
    /* The HTTP port counts no failures by address: each waits the most. */
    uint64_t delay = fail_delay(c != NULL ? c->from : NULL, now);
    a->failed++;
    if (c == NULL)
        log_info("HTTP client %s: authentication as '%.*s' failed", lg->peer,
                 (int)lg->user_len, lg->user);
    else if (c->from == NULL || c->from->auth_fails == 1)
        log_info("client %s: authentication as '%.*s' failed", c->peer,
                 (int)lg->user_len, lg->user);
    else
        log_debug("client %s: authentication as '%.*s' failed (%" PRIu32
                  " from its address lately)",
                  c->peer, (int)lg->user_len, lg->user, c->from->auth_fails);
    lg->due_ms = now + delay;
    struct login **p = &a->delayed;
    while (*p != NULL && (*p)->due_ms <= lg->due_ms)
        p = &(*p)->next;
    lg->next = *p;
    *p = lg;
    if (a->delayed == lg)
        uv_timer_start(&a->timer, delayed_cb, delay, 0);
}

static void login_passed(struct login *lg)
{
    if (lg->slot == NULL) {
        lg->auth->ok++;
        http_end(lg, true);
        return;
    }
    struct slot *s = lg->slot;
    struct conn *c = s->conn;
    c->auth_busy = false;
    become(c, lg->user, lg->user_len);
    lg->auth->ok++;
    log_debug("client %s: authenticated as '%.*s'", c->peer, (int)c->user_len,
              c->user);
    lg->then(s, true, lg->ctx);
}

static void login_hashed(struct hasher_job *j, bool canceled)
{
    struct login *lg = (struct login *)j;
    bool gone =
        lg->slot != NULL ? lg->slot->conn == NULL : lg->http_done == NULL;
    if (canceled || gone) {
        login_drop(lg);
        return;
    }
    if (!lg->known || CRYPTO_memcmp(j->hash, lg->record + 4 + ACL_SALT_LEN,
                                    ACL_HASH_LEN) != 0) {
        login_failed(lg);
        return;
    }
    /* Remembered for the next login as this user. */
    struct auth *a = lg->auth;
    struct verified *v = map_str_get(&a->verified, lg->user, lg->user_len);
    if (v == NULL) {
        v = mem_xcalloc(1, sizeof *v);
        memcpy(v->name, lg->user, lg->user_len);
        v->name_len = lg->user_len;
        if (map_str_put(&a->verified, v->name, v->name_len, v) != 0) {
            log_error("out of memory for a verified login");
            abort();
        }
    }
    memcpy(v->record, lg->record, sizeof v->record);
    memcpy(v->mac, lg->mac, MAC_LEN);
    login_passed(lg);
}

void auth_login(struct conn *c, struct slot *s, const struct resp_value *user,
                const struct resp_value *password,
                void (*then)(struct slot *s, bool ok, const void *ctx),
                const void *ctx, size_t ctx_len)
{
    struct auth *a = auth_of(c->srv);
    static const struct resp_value fallback = {.str = "default", .len = 7};
    if (user == NULL)
        user = &fallback;
    struct login *lg = mem_xcalloc(1, sizeof *lg);
    s->op = lg;
    lg->auth = a;
    lg->slot = s;
    lg->then = then;
    if (ctx_len > 0)
        memcpy(lg->ctx, ctx, ctx_len < AUTH_THEN_CTX ? ctx_len : AUTH_THEN_CTX);
    bool name_ok = acl_user_ok(user->str, user->len);
    lg->user_len = (uint8_t)(name_ok ? user->len : 1);
    memcpy(lg->user, name_ok ? user->str : "?", lg->user_len);
    if (password->len > ACL_PASSWORD_MAX) {
        /* No user has one this long: a failure like any other. */
        c->auth_busy = true;
        login_failed(lg);
        return;
    }
    struct acl_def d;
    lg->known = name_ok && user_def(c->srv, user->str, user->len, &d) &&
                (d.flags & ACL_PASSWORD);
    if (lg->known) {
        le_put32(lg->record, d.iterations);
        memcpy(lg->record + 4, d.salt, ACL_SALT_LEN);
        memcpy(lg->record + 4 + ACL_SALT_LEN, d.hash, ACL_HASH_LEN);
    }
    c->auth_busy = true;
    mac_of(a, lg->user, lg->user_len, password->str, password->len, lg->mac);
    const struct verified *v =
        lg->known ? map_str_get(&a->verified, lg->user, lg->user_len) : NULL;
    if (v != NULL && memcmp(v->record, lg->record, sizeof v->record) == 0) {
        /* This password, or another, passed against this very record. */
        if (CRYPTO_memcmp(v->mac, lg->mac, MAC_LEN) == 0)
            login_passed(lg);
        else
            login_failed(lg);
        return;
    }
    /* An unknown user costs a hash too, so that time tells nothing. */
    struct hasher_job *j = &lg->job;
    memcpy(j->password, password->str, password->len);
    j->password_len = (uint32_t)password->len;
    if (lg->known) {
        memcpy(j->salt, d.salt, ACL_SALT_LEN);
        j->iterations = d.iterations;
    } else {
        memset(j->salt, 0, ACL_SALT_LEN);
        j->iterations = (uint32_t)c->srv->cfg->password_iterations;
    }
    j->done = login_hashed;
    if (hasher_submit(a->hasher, j) != 0) {
        OPENSSL_cleanse(j->password, sizeof j->password);
        c->auth_busy = false;
        command_error(s, "LIMIT too many authentications under way; retry "
                         "shortly");
        then(s, false, lg->ctx);
    }
}

/* ---- the HTTP port's logins ------------------------------------------- */

int auth_http_login(struct server *srv, const char *peer, const char *user,
                    size_t ulen, const char *pw, size_t plen,
                    void (*done)(void *arg, bool ok), void *arg,
                    struct auth_http **pending)
{
    struct auth *a = auth_of(srv);
    *pending = NULL;
    struct login *lg = mem_xcalloc(1, sizeof *lg);
    lg->auth = a;
    lg->http_done = done;
    lg->http_arg = arg;
    snprintf(lg->peer, sizeof lg->peer, "%s", peer);
    bool name_ok = acl_user_ok(user, ulen);
    lg->user_len = (uint8_t)(name_ok ? ulen : 1);
    memcpy(lg->user, name_ok ? user : "?", lg->user_len);
    *pending = (struct auth_http *)lg;
    if (plen > ACL_PASSWORD_MAX) {
        login_failed(lg);
        return AUTH_HTTP_PENDING;
    }
    struct acl_def d;
    lg->known =
        name_ok && user_def(srv, user, ulen, &d) && (d.flags & ACL_PASSWORD);
    if (lg->known) {
        le_put32(lg->record, d.iterations);
        memcpy(lg->record + 4, d.salt, ACL_SALT_LEN);
        memcpy(lg->record + 4 + ACL_SALT_LEN, d.hash, ACL_HASH_LEN);
    }
    mac_of(a, lg->user, lg->user_len, pw, plen, lg->mac);
    const struct verified *v =
        lg->known ? map_str_get(&a->verified, lg->user, lg->user_len) : NULL;
    if (v != NULL && memcmp(v->record, lg->record, sizeof v->record) == 0) {
        if (CRYPTO_memcmp(v->mac, lg->mac, MAC_LEN) != 0) {
            login_failed(lg);
            return AUTH_HTTP_PENDING;
        }
        /* This password passed against this very record lately. */
        a->ok++;
        *pending = NULL;
        OPENSSL_cleanse(lg, sizeof *lg);
        free(lg);
        return AUTH_HTTP_PASSED;
    }
    struct hasher_job *j = &lg->job;
    memcpy(j->password, pw, plen);
    j->password_len = (uint32_t)plen;
    if (lg->known) {
        memcpy(j->salt, d.salt, ACL_SALT_LEN);
        j->iterations = d.iterations;
    } else {
        memset(j->salt, 0, ACL_SALT_LEN);
        j->iterations = (uint32_t)srv->cfg->password_iterations;
    }
    j->done = login_hashed;
    if (hasher_submit(a->hasher, j) != 0) {
        OPENSSL_cleanse(lg, sizeof *lg);
        free(lg);
        *pending = NULL;
        return AUTH_HTTP_BUSY;
    }
    return AUTH_HTTP_PENDING;
}

void auth_http_forget(struct auth_http *h)
{
    if (h != NULL)
        ((struct login *)h)->http_done = NULL;
}

bool auth_user_may(struct server *srv, const char *user, size_t ulen,
                   uint32_t category)
{
    struct acl_def d;
    if (!acl_user_ok(user, ulen) || !user_def(srv, user, ulen, &d))
        return false;
    if (category == 0)
        return true;
    /* Every name: READ on the prefix "" (a rule "READ *"). */
    return acl_decide(&d, category, ACL_READ, "", 0, true) == ACL_ALLOWED;
}

bool auth_cert_user(struct server *srv, const struct tls *t, char *user,
                    size_t n)
{
    if (!srv->cfg->tls_cert_user || t == NULL || !tls_peer_name(t, user, n))
        return false;
    size_t len = strlen(user);
    struct acl_def d;
    return acl_user_ok(user, len) && user_def(srv, user, len, &d);
}

/* ---- USER.SET --------------------------------------------------------- */

static void set_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (s->conn != NULL) {
        if (status == NODE_OK && r->status == FSM_OK)
            resp_write_simple(&s->buf, "OK");
        else if (status == NODE_OK && r->status == FSM_LIMIT)
            command_error(s, "LIMIT there are %d users already", FSM_USERS_MAX);
        else if (status == NODE_OK)
            command_error(s, "ERR the definition was refused");
        else if (status == NODE_SHUTDOWN)
            command_error(s, "NOLEADER the server is stopping");
        else
            command_not_leader(s);
    }
    slot_done(s);
}

static void set_propose(struct setting *st)
{
    struct slot *s = st->slot;
    uint8_t def[ACL_DEF_MAX], data[3 + ACL_USER_MAX + ACL_DEF_MAX];
    size_t dlen =
        acl_encode(&st->spec, st->job.iterations ? st->job.iterations : 1,
                   st->job.salt, st->job.hash, def, sizeof def);
    size_t len = 0;
    data_add(data, &len, st->name, st->len, def, dlen);
    struct fsm_cmd cmd = {.type = FSM_USER_SET};
    cmd.data = data;
    cmd.data_len = (uint32_t)len;
    if (lockcmd_propose(s->conn, s, &cmd, set_done))
        slot_done(s);
}

static void set_hashed(struct hasher_job *j, bool canceled)
{
    struct setting *st = (struct setting *)j;
    struct slot *s = st->slot;
    if (canceled || s->conn == NULL) {
        if (s->conn != NULL)
            command_error(s, "NOLEADER the server is stopping");
        slot_done(s);
        return;
    }
    set_propose(st);
}

bool auth_user_set(struct conn *c, struct slot *s, const char *name,
                   uint32_t len, const struct acl_spec *sp)
{
    struct auth *a = auth_of(c->srv);
    if (!node_is_leader(command_node(c))) {
        command_not_leader(s);
        return true;
    }
    struct setting *st = mem_xcalloc(1, sizeof *st);
    s->op = st;
    st->slot = s;
    memcpy(st->name, name, len);
    st->len = (uint8_t)len;
    st->spec = *sp;
    /* The patterns, copied: the request's bytes go with it. */
    size_t off = 0;
    for (unsigned i = 0; i < sp->n_rules; i++) {
        memcpy(st->text + off, sp->rules[i].pattern, sp->rules[i].len);
        st->spec.rules[i].pattern = st->text + off;
        off += sp->rules[i].len;
    }
    st->spec.password = NULL;
    if (sp->password == NULL) {
        set_propose(st);
        return false;
    }
    st->spec.password = ""; /* has one: hashed below */
    struct hasher_job *j = &st->job;
    memcpy(j->password, sp->password, sp->password_len);
    j->password_len = sp->password_len;
    random_bytes(j->salt, ACL_SALT_LEN);
    j->iterations = (uint32_t)c->srv->cfg->password_iterations;
    j->done = set_hashed;
    if (hasher_submit(a->hasher, j) != 0) {
        OPENSSL_cleanse(j->password, sizeof j->password);
        command_error(s, "LIMIT too many passwords being hashed; retry "
                         "shortly");
        return true;
    }
    return false;
}

/* ---- the sweep -------------------------------------------------------- */

void auth_sweep(struct server *srv)
{
    struct auth *a = auth_of(srv);
    if (a == NULL)
        return;
    uint64_t now = uv_now(srv->loop);
    boot_sweep(a);
    listener_forget(&srv->clients, now, AUTH_FAIL_WINDOW_MS);
    if (!auth_required(srv))
        return;
    uint64_t limit = srv->cfg->request_timeout_ms > 0
                         ? srv->cfg->request_timeout_ms
                         : AUTH_PRE_TIMEOUT_MS;
    struct conn *next;
    for (struct conn *c = srv->conns; c != NULL; c = next) {
        next = c->next;
        if (!c->authed && !c->auth_busy && !c->closing &&
            !c->close_after_write && now - c->opened_ms >= limit) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "NOAUTH not authenticated within %" PRIu64
                     " ms of connecting (--request-timeout-ms)",
                     limit);
            conn_limit_close(c, msg);
        }
    }
}

void auth_stats(const struct server *srv, struct auth_stats *st)
{
    const struct auth *a = auth_of(srv);
    memset(st, 0, sizeof *st);
    if (a == NULL)
        return;
    st->ok = a->ok;
    st->failed = a->failed;
    st->refused = a->refused;
    st->hashing = hasher_pending(a->hasher);
}
