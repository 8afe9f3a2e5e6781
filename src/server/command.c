/* command.c - the command table, dispatch, the helpers command files share,
 * and the generic (PING, HELLO, AUTH, QUIT, COMMAND, CLIENT) and cluster
 * commands. docs/protocol.md is the reference. */
#include "server/command.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/mem.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/forward.h"
#include "server/node.h"
#include "server/server.h"

typedef bool (*command_fn)(struct conn *c, struct slot *s,
                           const struct resp_value *a, size_t n);

struct command {
    const char *name;
    int arity; /* Redis's convention: n exact, -n at least n (name included) */
    const char *flags;
    command_fn fn;
    struct auth_perm perm; /* who may run it (auth.h) */
    /* A follower sends it on to the leader (forward.h): a Redis lock
     * command, from a client that knows one address. */
    bool forward;
};

/* The permissions of the table below: what authenticated clients may run
 * (ANY), and each category's commands with what they name. */
#define PERM(cat, arg, level, pre)                                             \
    {                                                                          \
        cat, arg, level, pre                                                   \
    }
#define PRE PERM(0, AUTH_ARG_NONE, 0, true)
#define ANY PERM(0, AUTH_ARG_NONE, 0, false)
#define CLUSTER PERM(ACL_CAT_CLUSTER, AUTH_ARG_NONE, 0, false)
#define USERS PERM(ACL_CAT_USERS, AUTH_ARG_NONE, 0, false)
#define SESSION PERM(ACL_CAT_SESSIONS, AUTH_ARG_SESSION, 0, false)
#define SESSION_NEW PERM(ACL_CAT_SESSIONS, AUTH_ARG_NONE, 0, false)
#define TAKE PERM(ACL_CAT_LOCKS, AUTH_ARG_NAME, ACL_ACQUIRE, false)
#define REVOKE PERM(ACL_CAT_LOCKS, AUTH_ARG_NAME, ACL_ADMIN, false)
#define READ PERM(ACL_CAT_READS, AUTH_ARG_NAME, ACL_READ, false)
#define LIST PERM(ACL_CAT_READS, AUTH_ARG_PREFIX, ACL_READ, false)
#define SCRIPT_KEYS PERM(ACL_CAT_LOCKS, AUTH_ARG_KEYS, ACL_ACQUIRE, false)

/* ---- helpers ---------------------------------------------------------- */

void command_error(struct slot *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* A simple error cannot hold a line break. */
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    resp_write_error(&s->buf, msg);
    metrics_error(&s->conn->srv->metrics, msg);
}

struct node *command_node(const struct conn *c)
{
    return c->srv->node;
}

void command_not_leader(struct slot *s)
{
    const char *addr = node_leader_addr(command_node(s->conn));
    if (addr != NULL)
        command_error(s, "LEADER %s", addr);
    else
        command_error(s, "NOLEADER no leader is known now; retry shortly");
}

bool command_is(const struct resp_value *a, const char *kw)
{
    return a->len == strlen(kw) && strncasecmp(a->str, kw, a->len) == 0;
}

bool command_u64(struct slot *s, const struct resp_value *a, const char *what,
                 uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    bool ok = a->len > 0 && a->len <= 20;
    for (size_t i = 0; ok && i < a->len; i++) {
        unsigned d = (unsigned char)a->str[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            ok = false;
        else
            v = v * 10 + d;
    }
    if (!ok || v < min || v > max) {
        command_error(s,
                      "ERR %s must be an integer from %" PRIu64 " to %" PRIu64,
                      what, min, max);
        return false;
    }
    *out = v;
    return true;
}

/* ---- generic commands ------------------------------------------------- */

static void auth_then(struct slot *s, bool ok, const void *ctx)
{
    if (ok)
        resp_write_simple(&s->buf, "OK");
    slot_done(s);
}

/* AUTH [user] password (Redis's two forms: one names the user "default"). */
static bool cmd_auth(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    if (n > 3) {
        command_error(s, "ERR syntax error");
        return true;
    }
    auth_login(c, s, n == 3 ? &a[1] : NULL, &a[n - 1], auth_then, NULL, 0);
    return false;
}

static bool cmd_ping(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    if (n > 2) {
        command_error(s, "ERR wrong number of arguments for 'ping' command");
        return true;
    }
    if (n == 2)
        resp_write_bulk(&s->buf, a[1].str, a[1].len);
    else
        resp_write_simple(&s->buf, "PONG");
    return true;
}

static bool cmd_echo(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    resp_write_bulk(&s->buf, a[1].str, a[1].len);
    return true;
}

static bool cmd_quit(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    resp_write_simple(&s->buf, "OK");
    c->close_after_write = true;
    return true;
}

static bool cmd_select(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n)
{
    if (command_is(&a[1], "0"))
        resp_write_simple(&s->buf, "OK");
    else
        command_error(s, "ERR dlock has one database, 0");
    return true;
}

/* Whether v can be a client name: LIMIT, and false, if it is too long. */
static bool name_fits(struct slot *s, const struct resp_value *v)
{
    if (v->len <= CONN_NAME_MAX)
        return true;
    command_error(s, "LIMIT the client name is longer than %d bytes",
                  CONN_NAME_MAX);
    return false;
}

static void set_name(struct conn *c, const struct resp_value *v)
{
    memcpy(c->name, v->str, v->len);
    c->name_len = v->len;
}

/* What HELLO changes, kept while its AUTH is checked. */
struct hello {
    int proto;
    uint8_t name_len;
    bool has_name;
    char name[CONN_NAME_MAX];
};

_Static_assert(sizeof(struct hello) <= AUTH_THEN_CTX, "HELLO's state fits");

static void hello_reply(struct conn *c, struct slot *s, const struct hello *h)
{
    if (h->has_name) {
        memcpy(c->name, h->name, h->name_len);
        c->name_len = h->name_len;
    }
    c->proto = h->proto;
    struct node_info info;
    node_info(command_node(c), &info);
    resp_write_map(&s->buf, c->proto, 7);
    resp_write_bulk_str(&s->buf, "server");
    resp_write_bulk_str(&s->buf, "dlock");
    resp_write_bulk_str(&s->buf, "version");
    resp_write_bulk_str(&s->buf, DLOCK_SERVER_VERSION);
    resp_write_bulk_str(&s->buf, "proto");
    resp_write_integer(&s->buf, c->proto);
    resp_write_bulk_str(&s->buf, "id");
    resp_write_integer(&s->buf, (int64_t)c->id);
    resp_write_bulk_str(&s->buf, "mode");
    resp_write_bulk_str(&s->buf, info.n_members > 1 ? "cluster" : "standalone");
    resp_write_bulk_str(&s->buf, "role");
    resp_write_bulk_str(&s->buf,
                        info.role == RAFT_LEADER ? "master" : "replica");
    resp_write_bulk_str(&s->buf, "modules");
    resp_write_array(&s->buf, 0);
}

static void hello_then(struct slot *s, bool ok, const void *ctx)
{
    if (ok && s->conn != NULL)
        hello_reply(s->conn, s, ctx);
    slot_done(s);
}

/* HELLO [2|3] [AUTH user password] [SETNAME name]: with AUTH, the whole
 * HELLO waits for it and is refused with it, as Redis's. */
static bool cmd_hello(struct conn *c, struct slot *s,
                      const struct resp_value *a, size_t n)
{
    uint64_t proto = (uint64_t)c->proto;
    size_t i = 1;
    if (n > 1) {
        if (!command_u64(s, &a[1], "the protocol version", 0, 99, &proto))
            return true;
        if (proto != 2 && proto != 3) {
            command_error(s, "NOPROTO unsupported protocol version");
            return true;
        }
        i = 2;
    }
    const struct resp_value *user = NULL, *password = NULL, *name = NULL;
    for (; i < n; i++) {
        if (command_is(&a[i], "AUTH") && i + 2 < n) {
            user = &a[i + 1];
            password = &a[i + 2];
            i += 2;
        } else if (command_is(&a[i], "SETNAME") && i + 1 < n) {
            name = &a[++i];
        } else {
            command_error(s, "ERR syntax error in HELLO option '%.*s'",
                          (int)a[i].len, a[i].str);
            return true;
        }
    }
    if (name != NULL && !name_fits(s, name))
        return true;
    struct hello h = {.proto = (int)proto};
    if (name != NULL) {
        h.has_name = true;
        h.name_len = (uint8_t)name->len;
        memcpy(h.name, name->str, name->len);
    }
    if (password != NULL) {
        auth_login(c, s, user, password, hello_then, &h, sizeof h);
        return false;
    }
    hello_reply(c, s, &h);
    return true;
}

/* CLIENT SETINFO LIB-NAME|LIB-VER value, which Redis clients send as they
 * connect: checked as Redis checks it, then answered OK. dlock has no
 * CLIENT LIST or CLIENT INFO to show it in, so it is not kept. */
static void client_setinfo(struct slot *s, const struct resp_value *attr,
                           const struct resp_value *v)
{
    if (!command_is(attr, "LIB-NAME") && !command_is(attr, "LIB-VER")) {
        command_error(s, "ERR Unrecognized option '%.*s'",
                      (int)(attr->len > 64 ? 64 : attr->len), attr->str);
        return;
    }
    for (size_t i = 0; i < v->len; i++) {
        if (v->str[i] < '!' || v->str[i] > '~') {
            command_error(s,
                          "ERR %.*s cannot contain spaces, newlines or "
                          "special characters.",
                          (int)attr->len, attr->str);
            return;
        }
    }
    resp_write_simple(&s->buf, "OK");
}

static bool cmd_client(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n)
{
    if (command_is(&a[1], "SETNAME") && n == 3) {
        if (name_fits(s, &a[2])) {
            set_name(c, &a[2]);
            resp_write_simple(&s->buf, "OK");
        }
    } else if (command_is(&a[1], "GETNAME") && n == 2) {
        if (c->name_len > 0)
            resp_write_bulk(&s->buf, c->name, c->name_len);
        else
            resp_write_null(&s->buf, c->proto);
    } else if (command_is(&a[1], "ID") && n == 2) {
        resp_write_integer(&s->buf, (int64_t)c->id);
    } else if (command_is(&a[1], "SETINFO") && n == 4) {
        client_setinfo(s, &a[2], &a[3]);
    } else {
        command_error(s, "ERR unknown CLIENT subcommand or wrong number of "
                         "arguments");
    }
    return true;
}

/* ---- cluster commands ------------------------------------------------- */

/* A 64-bit number as a RESP integer, which is signed: one above INT64_MAX
 * (a term or index no healthy cluster reaches, an id from before ids were
 * bounded) is given as its decimal string rather than as a negative. */
static void write_u64(struct slot *s, uint64_t v)
{
    char d[24];
    if (v <= (uint64_t)INT64_MAX) {
        resp_write_integer(&s->buf, (int64_t)v);
        return;
    }
    snprintf(d, sizeof d, "%" PRIu64, v);
    resp_write_bulk_str(&s->buf, d);
}

static void write_member(struct slot *s, int proto, const struct node_member *m)
{
    resp_write_map(&s->buf, proto, 5);
    resp_write_bulk_str(&s->buf, "id");
    write_u64(s, m->id);
    resp_write_bulk_str(&s->buf, "role");
    resp_write_bulk_str(&s->buf, m->role == RAFT_VOTER ? "voter" : "learner");
    resp_write_bulk_str(&s->buf, "raft_addr");
    resp_write_bulk_str(&s->buf, m->raft_addr);
    resp_write_bulk_str(&s->buf, "client_addr");
    resp_write_bulk_str(&s->buf, m->client_addr);
    resp_write_bulk_str(&s->buf, "match_index");
    write_u64(s, m->match);
}

static bool cmd_cluster_info(struct conn *c, struct slot *s,
                             const struct resp_value *a, size_t n)
{
    struct node_info ni;
    node_info(command_node(c), &ni);
    const char *leader_addr = node_leader_addr(command_node(c));
    int p = c->proto;
    resp_write_map(&s->buf, p, 10);
    resp_write_bulk_str(&s->buf, "id");
    write_u64(s, ni.id);
    resp_write_bulk_str(&s->buf, "role");
    resp_write_bulk_str(&s->buf, raft_role_name(ni.role));
    resp_write_bulk_str(&s->buf, "leader");
    write_u64(s, ni.leader);
    resp_write_bulk_str(&s->buf, "leader_addr");
    if (leader_addr != NULL)
        resp_write_bulk_str(&s->buf, leader_addr);
    else
        resp_write_null(&s->buf, p);
    const char *names[] = {"term", "commit_index", "applied_index",
                           "last_index", "snapshot_index"};
    const uint64_t values[] = {ni.term, ni.commit, ni.applied, ni.last_index,
                               ni.snapshot_index};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        resp_write_bulk_str(&s->buf, names[i]);
        write_u64(s, values[i]);
    }
    resp_write_bulk_str(&s->buf, "members");
    resp_write_array(&s->buf, ni.n_members);
    for (unsigned i = 0; i < ni.n_members; i++)
        write_member(s, p, &ni.members[i]);
    return true;
}

static void change_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (s->conn != NULL) {
        if (status == NODE_OK)
            resp_write_simple(&s->buf, "OK");
        else if (status == NODE_NOTLEADER || status == NODE_LOST)
            command_not_leader(s);
        else
            command_error(s, "ERR the server is stopping");
    }
    slot_done(s);
}

static bool change_started(struct slot *s, int rc)
{
    if (rc == NODE_OK)
        return false;
    if (rc == NODE_NOTLEADER)
        command_not_leader(s);
    else if (rc == NODE_BUSY)
        command_error(s, "ERR a membership change is in progress; retry when "
                         "it has committed");
    else if (rc == NODE_SHUTDOWN)
        command_error(s, "ERR the server is stopping");
    else
        command_error(s,
                      "ERR cannot change the membership that way (the "
                      "last voter, or %d servers already)",
                      RAFT_MAX_SERVERS);
    return true;
}

/* Refuses, with the reason, a server CLUSTER.ADD cannot add: an address
 * peers cannot connect to, or an id or address a member has (this server's
 * own included). */
static bool bad_new_member(struct conn *c, struct slot *s, uint64_t id,
                           const char *addr)
{
    struct sockaddr_storage sa;
    if (config_parse_addr(addr, &sa) != 0) {
        command_error(s,
                      "ERR '%s' is not a peer address: give HOST:PORT, "
                      "HOST a numeric IPv4 or IPv6 address or "
                      "localhost, PORT 1 to 65535",
                      addr);
        return true;
    }
    struct node_info ni;
    node_info(command_node(c), &ni);
    for (unsigned i = 0; i < ni.n_members; i++) {
        const struct node_member *m = &ni.members[i];
        const char *self = m->id == ni.id ? " (this server)" : "";
        if (m->id == id) {
            command_error(s, "ERR server %" PRIu64 " is already a member%s", id,
                          self);
            return true;
        }
        if (config_same_addr(addr, m->raft_addr)) {
            command_error(s,
                          "ERR %s is the peer address of server %" PRIu64 "%s",
                          addr, m->id, self);
            return true;
        }
    }
    return false;
}

static bool cmd_cluster_add(struct conn *c, struct slot *s,
                            const struct resp_value *a, size_t n)
{
    uint64_t id;
    if (!command_u64(s, &a[1], "the server id", 1, CONFIG_ID_MAX, &id))
        return true;
    if (a[2].len >= RAFT_ADDR_MAX || memchr(a[2].str, 0, a[2].len) != NULL) {
        command_error(s,
                      "ERR the peer address is not host:port of at most "
                      "%d bytes",
                      RAFT_ADDR_MAX - 1);
        return true;
    }
    char addr[RAFT_ADDR_MAX];
    memcpy(addr, a[2].str, a[2].len);
    addr[a[2].len] = '\0';
    if (!node_is_leader(command_node(c))) {
        command_not_leader(s);
        return true;
    }
    if (bad_new_member(c, s, id, addr))
        return true;
    return change_started(s,
                          node_add(command_node(c), id, addr, change_done, s));
}

/* Any id a member has can be removed, one above CONFIG_ID_MAX from before
 * ids were bounded too. */
static bool cmd_cluster_remove(struct conn *c, struct slot *s,
                               const struct resp_value *a, size_t n)
{
    uint64_t id;
    if (!command_u64(s, &a[1], "the server id", 1, UINT64_MAX - 1, &id))
        return true;
    if (!node_is_leader(command_node(c))) {
        command_not_leader(s);
        return true;
    }
    struct node_info ni;
    node_info(command_node(c), &ni);
    bool member = false;
    for (unsigned i = 0; i < ni.n_members; i++)
        member |= ni.members[i].id == id;
    if (!member) {
        command_error(s, "ERR server %" PRIu64 " is not a member", id);
        return true;
    }
    return change_started(s, node_remove(command_node(c), id, change_done, s));
}

/* ---- the table -------------------------------------------------------- */

static const struct command commands[] = {
    {"PING", -1, "fast", cmd_ping, PRE, false},
    {"ECHO", 2, "fast", cmd_echo, ANY, false},
    {"QUIT", -1, "fast", cmd_quit, PRE, false},
    {"SELECT", 2, "fast", cmd_select, ANY, false},
    {"HELLO", -1, "fast", cmd_hello, PRE, false},
    {"AUTH", -2, "fast", cmd_auth, PRE, false},
    {"CLIENT", -2, "fast", cmd_client, ANY, false},
    {"INFO", -1, "fast", infocmd_info, ANY, false},
    {"CONFIG", -2, "fast", infocmd_config, CLUSTER, false},
    {"COMMAND", -1, "fast", NULL, ANY, false},
    {"CLUSTER.INFO", 1, "fast", cmd_cluster_info, ANY, false},
    {"SERVER.STATUS", 1, "readonly", infocmd_status, LIST, false},
    {"SERVER.TRACE", -1, "fast", tracecmd_trace, CLUSTER, false},
    {"CLUSTER.ADD", 3, "write", cmd_cluster_add, CLUSTER, false},
    {"CLUSTER.REMOVE", 2, "write", cmd_cluster_remove, CLUSTER, false},
    {"USER.SET", -2, "write", usercmd_set, USERS, false},
    {"USER.DEL", 2, "write", usercmd_del, USERS, false},
    {"USER.GET", 2, "readonly", usercmd_get, USERS, false},
    {"USER.LIST", 1, "readonly", usercmd_list, USERS, false},
    {"USER.WHOAMI", 1, "fast", usercmd_whoami, ANY, false},
    {"SESSION.OPEN", -2, "write", lockcmd_session_open, SESSION_NEW, false},
    {"SESSION.KEEPALIVE", 2, "fast", lockcmd_session_keepalive, SESSION, false},
    {"SESSION.CLOSE", -2, "write", lockcmd_session_close, SESSION, false},
    {"SESSION.INFO", 2, "readonly", lockcmd_session_info, SESSION, false},
    {"LOCK.ACQUIRE", -3, "write", lockcmd_acquire, TAKE, false},
    {"LOCK.RELEASE", -3, "write", lockcmd_release, TAKE, false},
    {"LOCK.EXTEND", -4, "write", lockcmd_extend, TAKE, false},
    {"LOCK.DOWNGRADE", -3, "write", lockcmd_downgrade, TAKE, false},
    {"LOCK.HOLDERS", -2, "readonly", lockcmd_holders, READ, false},
    {"LOCK.REVOKE", -3, "write", lockcmd_revoke, REVOKE, false},
    {"WATCH", -2, "fast", watchcmd_watch, READ, false},
    {"UNWATCH", 2, "fast", watchcmd_unwatch, ANY, false},
    {"WATCH.NEXT", -3, "fast", watchcmd_next, READ, false},
    {"SESSION.WATCH", -2, "fast", watchcmd_session_watch, SESSION, false},
    {"SESSION.UNWATCH", 2, "fast", watchcmd_session_unwatch, ANY, false},
    {"LOCK.WAITERS", -2, "readonly", lockcmd_waiters, READ, false},
    {"SEM.WAITERS", -2, "readonly", lockcmd_waiters, READ, false},
    {"ELECT.CANDIDATES", -2, "readonly", lockcmd_waiters, READ, false},
    {"SEM.ACQUIRE", -4, "write", semcmd_acquire, TAKE, false},
    {"SEM.RELEASE", -3, "write", semcmd_release, TAKE, false},
    {"SEM.STATUS", 2, "readonly", semcmd_status, READ, false},
    {"SEM.HOLDERS", -2, "readonly", lockcmd_holders, READ, false},
    {"ELECT.CAMPAIGN", -4, "write", electcmd_campaign, TAKE, false},
    {"ELECT.PROCLAIM", -5, "write", electcmd_proclaim, TAKE, false},
    {"ELECT.RESIGN", -3, "write", electcmd_resign, TAKE, false},
    {"ELECT.LEADER", 2, "readonly", electcmd_leader, READ, false},
    {"LOCK.STATUS", 2, "readonly", lockcmd_status, READ, false},
    {"LOCK.CHECK", 3, "readonly", lockcmd_check, READ, false},
    {"LOCK.LIST", -1, "readonly", lockcmd_list, LIST, false},
    /* Redis's, for Redis lock libraries (docs/redis-compat.md). */
    {"SET", -3, "write", rediscmd_set, TAKE, true},
    {"GET", 2, "readonly", rediscmd_get, READ, true},
    {"EXISTS", 2, "readonly", rediscmd_exists, READ, true},
    {"PTTL", 2, "readonly", rediscmd_pttl, READ, true},
    {"TTL", 2, "readonly", rediscmd_pttl, READ, true},
    {"DEL", 2, "write", rediscmd_del, REVOKE, true},
    {"PEXPIRE", 3, "write", rediscmd_pexpire, REVOKE, true},
    {"EXPIRE", 3, "write", rediscmd_pexpire, REVOKE, true},
    {"ZREM", -3, "write", rediscmd_zrem, TAKE, true},
    {"EVAL", -3, "write", rediscmd_eval, SCRIPT_KEYS, true},
    {"EVALSHA", -3, "write", rediscmd_evalsha, SCRIPT_KEYS, true},
    {"SCRIPT", -2, "fast", rediscmd_script, ANY, false},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])
_Static_assert(N_COMMANDS < METRICS_COMMANDS_MAX,
               "metrics count the commands and unknown ones");

const char *command_name(size_t i)
{
    return i < N_COMMANDS ? commands[i].name : NULL;
}

static void write_command_info(struct slot *s, const struct command *cmd)
{
    char lower[32];
    size_t i;
    for (i = 0; cmd->name[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)(cmd->name[i] >= 'A' && cmd->name[i] <= 'Z'
                              ? cmd->name[i] + 32
                              : cmd->name[i]);
    lower[i] = '\0';
    resp_write_array(&s->buf, 6);
    resp_write_bulk_str(&s->buf, lower);
    resp_write_integer(&s->buf, cmd->arity);
    resp_write_array(&s->buf, 1);
    resp_write_simple(&s->buf, cmd->flags);
    resp_write_integer(&s->buf, 0);
    resp_write_integer(&s->buf, 0);
    resp_write_integer(&s->buf, 0);
}

/* COMMAND, COMMAND COUNT, COMMAND DOCS, COMMAND INFO name...: enough for
 * redis-cli and client libraries that ask at start. */
static bool cmd_command(struct conn *c, struct slot *s,
                        const struct resp_value *a, size_t n)
{
    if (n == 1) {
        resp_write_array(&s->buf, N_COMMANDS);
        for (size_t i = 0; i < N_COMMANDS; i++)
            write_command_info(s, &commands[i]);
    } else if (command_is(&a[1], "COUNT")) {
        resp_write_integer(&s->buf, (int64_t)N_COMMANDS);
    } else if (command_is(&a[1], "DOCS")) {
        resp_write_map(&s->buf, c->proto, 0);
    } else if (command_is(&a[1], "INFO")) {
        resp_write_array(&s->buf, n - 2);
        for (size_t k = 2; k < n; k++) {
            size_t i;
            for (i = 0; i < N_COMMANDS; i++)
                if (command_is(&a[k], commands[i].name))
                    break;
            if (i < N_COMMANDS)
                write_command_info(s, &commands[i]);
            else
                resp_write_null(&s->buf, c->proto);
        }
    } else {
        command_error(s, "ERR unknown COMMAND subcommand '%.*s'",
                      (int)(a[1].len > 64 ? 64 : a[1].len), a[1].str);
    }
    return true;
}

bool command_is_request(const struct resp_value *v)
{
    if (v->type != RESP_ARRAY || v->n == 0)
        return false;
    for (size_t i = 0; i < v->n; i++)
        if (v->elems[i].type != RESP_BULK && v->elems[i].type != RESP_SIMPLE)
            return false;
    return true;
}

bool command_dispatch(struct conn *c, struct slot *s,
                      const struct resp_value *v)
{
    const struct resp_value *a = v->elems;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct command *cmd = &commands[i];
        if (!command_is(&a[0], cmd->name))
            continue;
        c->srv->metrics.commands[i]++;
        if ((cmd->arity > 0 && v->n != (size_t)cmd->arity) ||
            (cmd->arity < 0 && v->n < (size_t)-cmd->arity)) {
            command_error(s, "ERR wrong number of arguments for '%s' command",
                          cmd->name);
            return true;
        }
        if (!auth_allows(c, s, cmd->name, &cmd->perm, a, v->n))
            return true;
        if (cmd->forward && forward_request(c, s, a, v->n))
            return false;
        if (cmd->fn == NULL)
            return cmd_command(c, s, a, v->n);
        return cmd->fn(c, s, a, v->n);
    }
    c->srv->metrics.commands[N_COMMANDS]++;
    command_error(s, "ERR unknown command '%.*s'",
                  (int)(a[0].len > 64 ? 64 : a[0].len), a[0].str);
    return true;
}
