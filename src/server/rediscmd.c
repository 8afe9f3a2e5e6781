/* rediscmd.c - the Redis commands that Redis lock libraries send
 * (docs/redis-compat.md): SET NX PX/EX, GET, DEL, PEXPIRE, EXPIRE, PTTL,
 * TTL, EXISTS, and EVAL, EVALSHA and SCRIPT for the scripts of scripts.h,
 * each on dlock's lease locks, whose owner is the value set. Reads are
 * linearizable; a command that depends on the lock's state reads it first,
 * then proposes a write by the token of the grant it found, so that it can
 * only act on that grant: if the lock changed hands meanwhile, the write
 * finds another token and does nothing. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "server/command.h"
#include "server/lockcmd_internal.h"
#include "server/node.h"
#include "server/scripts.h"

/* What a command does once it has read the lock. */
enum verb {
    V_GET = 1,
    V_DEL,    /* any holder's */
    V_EXPIRE, /* PEXPIRE, EXPIRE: any holder's TTL */
    V_PTTL,   /* PTTL, TTL */
    V_EXISTS,
    V_SCRIPT, /* a known script: kind */
};

/* A command's state while it waits (the slot's op). */
struct rop {
    char key[FSM_NAME_MAX];
    uint32_t key_len;
    char value[FSM_OWNER_MAX]; /* ARGV[1]: the owner's value */
    uint32_t value_len;
    int verb;
    int kind;     /* V_SCRIPT: enum script_kind */
    int64_t ms;   /* a TTL, or a TTL to add */
    bool add;     /* SCRIPT_EXTEND: add ms to the TTL left */
    bool seconds; /* EXPIRE, TTL */
};

static const char not_a_lock[] =
    "ERR dlock is a lock service: it keeps locks, not keys; SET takes NX "
    "(and PX or EX) and a value that owns the lock (docs/redis-compat.md)";

static bool same(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Whether the value of op holds the lock of info as a Redis lock does: a
 * lease lock's, whose owner it is. A session's hold with an owner of the
 * same bytes is not the value's (dlock's own clients name owners). */
static bool value_holds(const struct fsm *f, const struct fsm_lock_info *info,
                        const struct rop *op)
{
    struct fsm_session_info si;
    return info->holder != 0 &&
           same(info->owner, info->owner_len, op->value, op->value_len) &&
           fsm_session_info(f, info->holder, &si) && si.lease_lock;
}

static struct rop *rop_of(struct slot *s)
{
    if (s->op == NULL)
        s->op = mem_xcalloc(1, sizeof(struct rop));
    return s->op;
}

/* Parses a signed integer argument; false with an error answered. */
static bool int_arg(struct slot *s, const struct resp_value *a, int64_t *out)
{
    char buf[24];
    char *end;
    if (a->len == 0 || a->len >= sizeof buf) {
        command_error(s, "ERR value is not an integer or out of range");
        return false;
    }
    memcpy(buf, a->str, a->len);
    buf[a->len] = '\0';
    long long v = strtoll(buf, &end, 10);
    if (*end != '\0') {
        command_error(s, "ERR value is not an integer or out of range");
        return false;
    }
    *out = v;
    return true;
}

/* A TTL in ms as a lease lock takes it: Redis keeps any, dlock's lease
 * locks last 100 ms to an hour (docs/redis-compat.md). */
static uint64_t lease_ttl(int64_t ms)
{
    if (ms < FSM_TTL_MIN)
        return FSM_TTL_MIN;
    if (ms > FSM_TTL_MAX)
        return FSM_TTL_MAX;
    return (uint64_t)ms;
}

/* Whether a write's outcome is to be answered: false, with the slot
 * finished, when its client is gone or it was not applied here. */
static bool to_answer(struct slot *s, int status)
{
    if (s->conn != NULL && status != NODE_OK)
        command_not_leader(s);
    if (s->conn != NULL && status == NODE_OK)
        return true;
    lockcmd_finish(s);
    return false;
}

/* ---- SET key value NX [PX ms | EX s] ---------------------------------- */

/* SET NX answered: OK when granted (a value that holds the lock already is
 * granted again by the state machine, its lease started again: the retry
 * of a SET whose answer was lost), nil when another value holds it. */
static void set_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (!to_answer(s, status))
        return;
    if (r->status == FSM_OK)
        resp_write_simple(&s->buf, "OK");
    else if (r->status == FSM_HELD)
        resp_write_null(&s->buf, s->conn->proto);
    else
        lockcmd_result_error(s, r, false);
    lockcmd_finish(s);
}

bool rediscmd_set(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n)
{
    bool nx = false, ttl_given = false;
    int64_t ttl = FSM_TTL_MAX;
    for (size_t i = 3; i < n; i++) {
        if (command_is(&a[i], "NX")) {
            nx = true;
        } else if ((command_is(&a[i], "PX") || command_is(&a[i], "EX")) &&
                   i + 1 < n && !ttl_given) {
            bool sec = command_is(&a[i], "EX");
            if (!int_arg(s, &a[++i], &ttl))
                return true;
            if (ttl <= 0) {
                command_error(s, "ERR invalid expire time in 'set' command");
                return true;
            }
            if (sec)
                ttl = ttl > INT64_MAX / 1000 ? INT64_MAX : ttl * 1000;
            ttl_given = true;
        } else {
            command_error(s, "%s", not_a_lock);
            return true;
        }
    }
    if (!nx) {
        command_error(s, "%s", not_a_lock);
        return true;
    }
    if (!lockcmd_arg_str(s, &a[1], "the lock name", 1, FSM_NAME_MAX) ||
        !lockcmd_arg_str(s, &a[2], "the value (the lock's owner)", 0,
                         FSM_OWNER_MAX))
        return true;
    struct rop *op = rop_of(s);
    memcpy(op->key, a[1].str, a[1].len);
    op->key_len = (uint32_t)a[1].len;
    memcpy(op->value, a[2].str, a[2].len);
    op->value_len = (uint32_t)a[2].len;
    /* A Redis lock is free again the moment it expires or is deleted:
     * no lock-delay. */
    struct fsm_cmd cmd = {.type = FSM_ACQUIRE, .ttl = lease_ttl(ttl)};
    cmd.name = op->key;
    cmd.name_len = op->key_len;
    cmd.owner = op->value;
    cmd.owner_len = op->value_len;
    return lockcmd_propose(c, s, &cmd, set_done);
}

/* ---- the reads, and the writes that follow them ----------------------- */

static void integer(struct slot *s, int64_t v)
{
    resp_write_integer(&s->buf, v);
    lockcmd_finish(s);
}

/* A write by token answered 1 when it applied OK, else 0. */
static void one_if_ok(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (to_answer(s, status))
        integer(s, r->status == FSM_OK);
}

/* Proposes cmd (its name the op's key), answered by one_if_ok. */
static void propose(struct slot *s, struct fsm_cmd *cmd)
{
    struct rop *op = s->op;
    cmd->name = op->key;
    cmd->name_len = op->key_len;
    if (lockcmd_propose(s->conn, s, cmd, one_if_ok))
        lockcmd_finish(s);
}

/* The lease lock's TTL left, in ms. */
static int64_t ttl_left(struct slot *s, const struct fsm_lock_info *info)
{
    return (int64_t)node_lease_left(command_node(s->conn), info->holder);
}

static void script_read(struct slot *s, const struct fsm_lock_info *info)
{
    struct rop *op = s->op;
    bool owned = value_holds(node_fsm(command_node(s->conn)), info, op);
    if (!owned && op->kind == SCRIPT_RELEASE_OR_GONE && info->holder == 0) {
        integer(s, -1);
        return;
    }
    if (!owned && op->kind == SCRIPT_TOUCH_OR_SET && info->holder == 0) {
        /* Free: taken for the value, as the script's SET NX PX. */
        struct fsm_cmd cmd = {.type = FSM_ACQUIRE, .ttl = lease_ttl(op->ms)};
        cmd.owner = op->value;
        cmd.owner_len = op->value_len;
        propose(s, &cmd);
        return;
    }
    if (!owned) {
        integer(s, 0);
        return;
    }
    if (op->kind == SCRIPT_RELEASE || op->kind == SCRIPT_RELEASE_OR_GONE) {
        struct fsm_cmd cmd = {.type = FSM_RELEASE, .token = info->token};
        propose(s, &cmd);
        return;
    }
    int64_t ttl = op->ms;
    if (op->kind == SCRIPT_EXTEND && op->add)
        ttl += ttl_left(s, info);
    if (ttl <= 0) {
        integer(s, 1); /* nothing to change */
        return;
    }
    struct fsm_cmd cmd = {.type = FSM_EXTEND, .token = info->token};
    cmd.ttl = lease_ttl(ttl);
    propose(s, &cmd);
}

static void read_done(void *ctx, int status)
{
    struct slot *s = ctx;
    if (!lockcmd_read_ok(s, status))
        return;
    struct rop *op = s->op;
    struct fsm_lock_info info;
    const struct fsm *f = node_fsm(command_node(s->conn));
    bool held =
        fsm_lock_info(f, op->key, op->key_len, &info) && info.holder != 0;
    if (!held)
        memset(&info, 0, sizeof info);
    switch (op->verb) {
    case V_GET:
        if (held)
            resp_write_bulk(&s->buf, info.owner, info.owner_len);
        else
            resp_write_null(&s->buf, s->conn->proto);
        lockcmd_finish(s);
        break;
    case V_EXISTS:
        integer(s, held);
        break;
    case V_PTTL:
        if (!held) {
            integer(s, -2);
        } else {
            int64_t ms = ttl_left(s, &info);
            integer(s, op->seconds ? (ms + 500) / 1000 : ms);
        }
        break;
    case V_DEL: {
        if (!held) {
            integer(s, 0);
            break;
        }
        struct fsm_cmd cmd = {.type = FSM_REVOKE, .token = info.token};
        propose(s, &cmd); /* delay 0: free at once, as in Redis */
        break;
    }
    case V_EXPIRE: {
        if (!held) {
            integer(s, 0);
            break;
        }
        struct fsm_cmd cmd = {.type = FSM_EXTEND, .token = info.token};
        cmd.ttl = lease_ttl(op->ms);
        propose(s, &cmd);
        break;
    }
    default:
        script_read(s, &info);
        break;
    }
}

/* Starts the read of key a for verb. */
static bool read_key(struct conn *c, struct slot *s, const struct resp_value *a,
                     int verb)
{
    if (!lockcmd_arg_str(s, a, "the lock name", 1, FSM_NAME_MAX))
        return true;
    struct rop *op = rop_of(s);
    memcpy(op->key, a->str, a->len);
    op->key_len = (uint32_t)a->len;
    op->verb = verb;
    return lockcmd_read_start(c, s, read_done);
}

bool rediscmd_get(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n)
{
    return read_key(c, s, &a[1], V_GET);
}

bool rediscmd_exists(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    return read_key(c, s, &a[1], V_EXISTS);
}

bool rediscmd_del(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n)
{
    return read_key(c, s, &a[1], V_DEL);
}

bool rediscmd_pttl(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n)
{
    rop_of(s)->seconds = command_is(&a[0], "TTL");
    return read_key(c, s, &a[1], V_PTTL);
}

bool rediscmd_pexpire(struct conn *c, struct slot *s,
                      const struct resp_value *a, size_t n)
{
    int64_t v;
    if (!int_arg(s, &a[2], &v))
        return true;
    if (command_is(&a[0], "EXPIRE"))
        v = v > INT64_MAX / 1000   ? INT64_MAX
            : v < INT64_MIN / 1000 ? -1
                                   : v * 1000;
    rop_of(s)->ms = v;
    /* Redis deletes a key so expired: a DEL. */
    return read_key(c, s, &a[1], v <= 0 ? V_DEL : V_EXPIRE);
}

/* ---- scripts ---------------------------------------------------------- */

static void sha1_hex(const char *p, size_t len, char hex[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(p, len, md, &n, EVP_sha1(), NULL) != 1 || n != 20) {
        fprintf(stderr, "dlockd: SHA1 failed\n");
        abort();
    }
    for (unsigned i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* The known script of the text, or NULL: by its SHA1, or that of its
 * canonical text. sha gets the SHA1 of the text itself. */
static const struct script *script_of_text(const struct resp_value *t,
                                           char sha[41])
{
    sha1_hex(t->str, t->len, sha);
    const struct script *k = scripts_find(sha, 40);
    if (k != NULL)
        return k;
    char *flat = mem_xmalloc(t->len ? t->len : 1);
    char flat_sha[41];
    sha1_hex(flat, scripts_canon(t->str, t->len, flat), flat_sha);
    free(flat);
    return scripts_find(flat_sha, 40);
}

static const char unknown_script[] =
    "ERR dlock runs no Lua: only the scripts of the Redis lock libraries it "
    "knows, as native operations (docs/redis-compat.md); this script is "
    "not one of them";

/* A LEASES command answered as its script: how many keys it did (all or
 * none for a take or an extend). */
static void leases_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (!to_answer(s, status))
        return;
    const struct rop *op = s->op;
    if (r->status == FSM_OK && op != NULL && op->kind == SCRIPT_MSEM_RELEASE) {
        integer(s, r->holds > 0 ? op->ms : 0); /* the members removed */
    } else if (r->status == FSM_OK) {
        integer(s, r->holds);
    } else if (r->status == FSM_HELD || r->status == FSM_NOTHELD) {
        integer(s, 0);
    } else {
        lockcmd_result_error(s, r, false);
        lockcmd_finish(s);
    }
}

/* Proposes LEASES of op over the nk keys with owner (not empty) and ttl,
 * answered by leases_done; false while under way. */
static bool propose_leases(struct conn *c, struct slot *s, uint64_t op,
                           const struct resp_value *keys, size_t nk,
                           const struct resp_value *owner, uint64_t ttl)
{
    if (!lockcmd_arg_str(s, owner, "the value (the lock's owner)", 1,
                         FSM_OWNER_MAX))
        return true;
    size_t cap = nk * (2 + FSM_NAME_MAX), len = 0;
    uint8_t *names = mem_xmalloc(cap);
    for (size_t i = 0; i < nk; i++) {
        if (!lockcmd_arg_str(s, &keys[i], "the lock name", 1, FSM_NAME_MAX)) {
            free(names);
            return true;
        }
        fsm_leases_add(names, cap, &len, keys[i].str, (uint32_t)keys[i].len);
    }
    struct fsm_cmd cmd = {.type = FSM_LEASES, .count = op, .ttl = ttl};
    cmd.owner = owner->str;
    cmd.owner_len = (uint32_t)owner->len;
    cmd.data = names;
    cmd.data_len = (uint32_t)len;
    bool done = lockcmd_propose(c, s, &cmd, leases_done);
    free(names); /* proposing encoded it */
    return done;
}

/* Runs the known script k over nk keys (a[3] on), with ARGV after them,
 * as one LEASES command: it decides by the owner, so that no read comes
 * first. */
static bool run_keys_script(struct conn *c, struct slot *s,
                            const struct script *k, const struct resp_value *a,
                            size_t n, int64_t nk)
{
    size_t want = k->kind == SCRIPT_KEYS_RELEASE ? 1 : 2;
    if (nk < 1 || nk > FSM_LEASES_MAX || n < 3 || (size_t)nk + want > n - 3) {
        command_error(s,
                      "ERR %s: takes 1 to %d keys, then %zu arguments "
                      "(docs/redis-compat.md)",
                      k->library, FSM_LEASES_MAX, want);
        return true;
    }
    const struct resp_value *argv = &a[3 + nk];
    int64_t ms = 0;
    if (want == 2 && !int_arg(s, &argv[1], &ms))
        return true;
    uint64_t op = k->kind == SCRIPT_KEYS_TAKE     ? FSM_LEASES_TAKE
                  : k->kind == SCRIPT_KEYS_EXTEND ? FSM_LEASES_EXTEND
                                                  : FSM_LEASES_RELEASE;
    return propose_leases(c, s, op, &a[3], (size_t)nk, &argv[0],
                          want == 2 ? lease_ttl(ms) : 0);
}

/* A lease semaphore's acquire answered as redis-semaphore's script: 1 if
 * granted, 0 if no permit is free. */
static void sem_done(void *ctx, int status, const struct fsm_result *r)
{
    struct slot *s = ctx;
    if (!to_answer(s, status))
        return;
    if (r->status == FSM_OK || r->status == FSM_HELD) {
        integer(s, r->status == FSM_OK);
    } else {
        lockcmd_result_error(s, r, false);
        lockcmd_finish(s);
    }
}

/* Whether the script k, in a request of n arguments, has one key (the
 * fourth) and at least want ARGV after it; if not, the error is
 * answered. */
static bool one_key(struct slot *s, const struct script *k, size_t n,
                    int64_t nk, size_t want)
{
    if (nk == 1 && n >= 4 + want)
        return true;
    command_error(s,
                  "ERR %s: takes one key and %zu arguments "
                  "(docs/redis-compat.md)",
                  k->library, want);
    return false;
}

/* redis-semaphore's Semaphore (ARGV limit, identifier, timeout, and the
 * client's clock, unused: the lease is the server's) and MultiSemaphore
 * (ARGV limit, permits, identifier, timeout, clock; its release: permits,
 * identifier), on KEYS[1]. */
static bool run_sem_script(struct conn *c, struct slot *s,
                           const struct script *k, const struct resp_value *a,
                           size_t n, int64_t nk)
{
    bool multi = k->kind >= SCRIPT_MSEM_ACQUIRE;
    bool release = k->kind == SCRIPT_MSEM_RELEASE;
    size_t want = release ? 2 : multi ? 4 : 3;
    if (!one_key(s, k, n, nk, want))
        return true;
    const struct resp_value *argv = &a[4];
    int64_t limit = 0, count = 1, ms = 0;
    if ((!release && !int_arg(s, &argv[0], &limit)) ||
        (multi && !int_arg(s, &argv[release ? 0 : 1], &count)) ||
        (!release && !int_arg(s, &argv[want - 1], &ms)))
        return true;
    const struct resp_value *ident = &argv[release ? 1 : want - 2];
    if (release) {
        rop_of(s)->ms = count; /* the answer when released */
        rop_of(s)->kind = k->kind;
        return propose_leases(c, s, FSM_LEASES_RELEASE, &a[3], 1, ident, 0);
    }
    if (k->kind == SCRIPT_SEM_REFRESH || k->kind == SCRIPT_MSEM_REFRESH)
        return propose_leases(c, s, FSM_LEASES_EXTEND, &a[3], 1, ident,
                              lease_ttl(ms));
    if (limit < 1 || limit > FSM_PERMITS_MAX || count < 1 || count > limit) {
        command_error(s,
                      "ERR the limit is 1 to %d permits, and at most the "
                      "limit is taken",
                      FSM_PERMITS_MAX);
        return true;
    }
    if (!lockcmd_arg_str(s, &a[3], "the semaphore name", 1, FSM_NAME_MAX) ||
        !lockcmd_arg_str(s, ident, "the identifier (the permits' owner)", 1,
                         FSM_OWNER_MAX))
        return true;
    struct fsm_cmd cmd = {.type = FSM_SEM_LEASE, .ttl = lease_ttl(ms)};
    cmd.name = a[3].str;
    cmd.name_len = (uint32_t)a[3].len;
    cmd.owner = ident->str;
    cmd.owner_len = (uint32_t)ident->len;
    cmd.permits = (uint64_t)limit;
    cmd.count = (uint64_t)count;
    return lockcmd_propose(c, s, &cmd, sem_done);
}

bool rediscmd_zrem(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n)
{
    if (n != 3) {
        command_error(s, "ERR dlock's ZREM takes a semaphore's name and one "
                         "identifier (docs/redis-compat.md)");
        return true;
    }
    return propose_leases(c, s, FSM_LEASES_RELEASE, &a[1], 1, &a[2], 0);
}

/* Runs the known script k with numkeys a[2], keys and args after. */
static bool run_script(struct conn *c, struct slot *s, const struct script *k,
                       const struct resp_value *a, size_t n)
{
    int64_t nk;
    if (!int_arg(s, &a[2], &nk))
        return true;
    if (k->kind >= SCRIPT_SEM_ACQUIRE)
        return run_sem_script(c, s, k, a, n, nk);
    if (k->kind >= SCRIPT_KEYS_TAKE)
        return run_keys_script(c, s, k, a, n, nk);
    bool release =
        k->kind == SCRIPT_RELEASE || k->kind == SCRIPT_RELEASE_OR_GONE;
    size_t want = release ? 1 : k->kind == SCRIPT_EXTEND ? 3 : 2;
    if (!one_key(s, k, n, nk, want))
        return true;
    const struct resp_value *argv = &a[4];
    if (!lockcmd_arg_str(s, &argv[0], "the value (the lock's owner)", 0,
                         FSM_OWNER_MAX))
        return true;
    struct rop *op = rop_of(s);
    op->kind = k->kind;
    memcpy(op->value, argv[0].str, argv[0].len);
    op->value_len = (uint32_t)argv[0].len;
    if (!release && !int_arg(s, &argv[1], &op->ms))
        return true;
    if (k->kind == SCRIPT_EXTEND)
        op->add = command_is(&argv[2], "0");
    return read_key(c, s, &a[3], V_SCRIPT);
}

bool rediscmd_eval(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n)
{
    char sha[41];
    const struct script *k = script_of_text(&a[1], sha);
    if (k == NULL) {
        command_error(s, "%s", unknown_script);
        return true;
    }
    return run_script(c, s, k, a, n);
}

bool rediscmd_evalsha(struct conn *c, struct slot *s,
                      const struct resp_value *a, size_t n)
{
    const struct script *k = scripts_find(a[1].str, a[1].len);
    if (k == NULL) {
        command_error(s, "NOSCRIPT No matching script. Please use EVAL.");
        return true;
    }
    return run_script(c, s, k, a, n);
}

/* SCRIPT LOAD text | EXISTS sha... | FLUSH [ASYNC|SYNC]. A text known only
 * by its canonical form loads under that form's SHA1 (what EVALSHA then
 * takes), not its own. */
bool rediscmd_script(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n)
{
    if (command_is(&a[1], "LOAD") && n == 3) {
        char sha[41];
        const struct script *k = script_of_text(&a[2], sha);
        if (k == NULL)
            command_error(s, "%s", unknown_script);
        else if (scripts_find(sha, 40) != NULL)
            resp_write_bulk(&s->buf, sha, 40);
        else
            resp_write_bulk(&s->buf, k->canon, 40);
    } else if (command_is(&a[1], "EXISTS") && n >= 3) {
        resp_write_array(&s->buf, n - 2);
        for (size_t i = 2; i < n; i++)
            resp_write_integer(&s->buf,
                               scripts_find(a[i].str, a[i].len) != NULL);
    } else if (command_is(&a[1], "FLUSH") && n <= 3) {
        resp_write_simple(&s->buf, "OK");
    } else {
        command_error(s, "ERR unknown SCRIPT subcommand or wrong number of "
                         "arguments (LOAD, EXISTS, FLUSH)");
    }
    return true;
}
