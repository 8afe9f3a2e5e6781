/* client.c - the client: options, server lists, request ids, the
 * per-thread error messages, and the shared state of leader and cursor. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "common/alloc.h"
#include "tls/tls.h"

#define DEFAULT_SERVERS "127.0.0.1:7411"
#define DEFAULT_TIMEOUT_MS 10000
#define NAME_MAX_LEN 64

/* The calling thread's last message, and the client (by serial) it is for:
 * a serial, unlike a pointer, is never reused by a later client. */
static _Thread_local uint64_t err_serial;
static _Thread_local char err_msg[256];
static atomic_uint_fast64_t serials;

/* ---- errors ----------------------------------------------------------- */

DLOCK_API const char *dlock_strerror(int err)
{
    switch (err) {
    case DLOCK_OK:
        return "DLOCK_OK: success";
    case DLOCK_ENOMEM:
        return "DLOCK_ENOMEM: out of memory";
    case DLOCK_EPROTO:
        return "DLOCK_EPROTO: a server broke the protocol";
    case DLOCK_EINVAL:
        return "DLOCK_EINVAL: invalid argument";
    case DLOCK_ELIMIT:
        return "DLOCK_ELIMIT: a server limit was reached";
    case DLOCK_EIO:
        return "DLOCK_EIO: no server reachable";
    case DLOCK_ETIMEDOUT:
        return "DLOCK_ETIMEDOUT: no answer in time";
    case DLOCK_EHELD:
        return "DLOCK_EHELD: lock held by another";
    case DLOCK_ENOTHELD:
        return "DLOCK_ENOTHELD: lock not held";
    case DLOCK_ENOSESSION:
        return "DLOCK_ENOSESSION: the session has expired";
    case DLOCK_EWAIT:
        return "DLOCK_EWAIT: the wait for the lock ran out";
    case DLOCK_ELOST:
        return "DLOCK_ELOST: the lock was lost";
    case DLOCK_EREFUSED:
        return "DLOCK_EREFUSED: connection refused";
    case DLOCK_EUPGRADE:
        return "DLOCK_EUPGRADE: held shared by the same owner: release it "
               "before acquiring exclusive";
    case DLOCK_EAUTH:
        return "DLOCK_EAUTH: not authenticated: the user and password were "
               "refused, or none were given";
    case DLOCK_EPERM:
        return "DLOCK_EPERM: the user may not do that";
    case DLOCK_ETLS:
        return "DLOCK_ETLS: TLS failed: a certificate was refused, or the "
               "TLS files do not load";
    default:
        return "unknown error";
    }
}

DLOCK_API const char *dlock_errmsg(const struct dlock_client *c)
{
    if (c == NULL)
        return err_serial == 0 ? err_msg : "";
    if (err_serial != c->serial)
        return "";
    return err_msg;
}

int client_error(const struct dlock_client *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    err_serial = c->serial;
    return err;
}

/* ---- time ------------------------------------------------------------- */

uint64_t client_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

DLOCK_API uint64_t dlock_now_ms(void)
{
    return client_now_ms();
}

void client_sleep_until(uint64_t ms, uint64_t deadline_ms)
{
    uint64_t now = client_now_ms();
    if (now >= deadline_ms)
        return;
    if (ms > deadline_ms - now)
        ms = deadline_ms - now;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- server lists ----------------------------------------------------- */

bool client_parse_addr(const char *addr, size_t len, char out[CLIENT_ADDR_MAX])
{
    if (len == 0 || len >= CLIENT_ADDR_MAX)
        return false;
    const char *colon = NULL;
    if (addr[0] == '[') {
        const char *close = memchr(addr, ']', len);
        if (close == NULL || close == addr + 1 || close + 1 == addr + len ||
            close[1] != ':')
            return false;
        colon = close + 1;
    } else {
        for (const char *p = addr; p < addr + len; p++)
            if (*p == ':')
                colon = p;
        if (colon == NULL || colon == addr || memchr(addr, ':', len) != colon)
            return false;
    }
    size_t digits = (size_t)(addr + len - colon - 1);
    if (digits == 0 || digits > 5)
        return false;
    unsigned port = 0;
    for (size_t i = 1; i <= digits; i++) {
        if (colon[i] < '0' || colon[i] > '9')
            return false;
        port = port * 10 + (unsigned)(colon[i] - '0');
    }
    if (port == 0 || port > 65535)
        return false;
    for (const char *p = addr; p < colon; p++)
        if (*p == ' ' || *p == '\t' || *p == ',' || *p == '\0')
            return false;
    memcpy(out, addr, len);
    out[len] = '\0';
    return true;
}

void client_split_addr(const char *addr, char *host, size_t hostlen, char *port,
                       size_t portlen)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (addr[0] == '[') {
        h++;
        n -= 2;
    }
    if (n >= hostlen)
        n = hostlen - 1;
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
}

static bool blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

int client_parse_servers(const char *list, char (**out)[CLIENT_ADDR_MAX],
                         size_t *n)
{
    size_t count = 1;
    for (const char *p = list; *p; p++)
        count += *p == ',';
    char(*a)[CLIENT_ADDR_MAX] = alloc_malloc(count * CLIENT_ADDR_MAX);
    if (a == NULL)
        return DLOCK_ENOMEM;
    size_t i = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        while (p < end && blank(*p))
            p++;
        const char *e = end;
        while (e > p && blank(e[-1]))
            e--;
        if (!client_parse_addr(p, (size_t)(e - p), a[i])) {
            alloc_free(a);
            return DLOCK_EINVAL;
        }
        i++;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *out = a;
    *n = i;
    return 0;
}

/* ---- request ids ------------------------------------------------------ */

void client_format_req(uint64_t p, uint64_t n, char out[CLIENT_REQ_MAX])
{
    snprintf(out, CLIENT_REQ_MAX, "%016llx-%llx", (unsigned long long)p,
             (unsigned long long)n);
}

void client_req_id(struct dlock_client *c, char out[CLIENT_REQ_MAX])
{
    client_format_req(c->req_prefix, atomic_fetch_add(&c->req_counter, 1), out);
}

/* A prefix no other client is likely to have: random bits, or without
 * them the time, the process and the client's serial mixed. */
static uint64_t random_prefix(uint64_t serial)
{
    uint64_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
        ((uint64_t)getpid() << 48) ^ serial;
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    return v ^ (v >> 33);
}

/* ---- leader and cursor ------------------------------------------------ */

void client_target(struct dlock_client *c, char out[CLIENT_ADDR_MAX])
{
    pthread_mutex_lock(&c->mu);
    if (c->leader[0] != '\0')
        memcpy(out, c->leader, CLIENT_ADDR_MAX);
    else
        memcpy(out, c->servers[c->cursor % c->n_servers], CLIENT_ADDR_MAX);
    pthread_mutex_unlock(&c->mu);
}

void client_failed(struct dlock_client *c, const char *addr)
{
    pthread_mutex_lock(&c->mu);
    if (c->leader[0] != '\0' && strcmp(c->leader, addr) == 0)
        c->leader[0] = '\0';
    else if (strcmp(c->servers[c->cursor % c->n_servers], addr) == 0)
        c->cursor++;
    pthread_mutex_unlock(&c->mu);
}

void client_set_leader(struct dlock_client *c, const char *addr)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->leader, sizeof c->leader, "%s", addr);
    pthread_mutex_unlock(&c->mu);
}

void client_set_answered(struct dlock_client *c, const char *addr)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->answered, sizeof c->answered, "%s", addr);
    pthread_mutex_unlock(&c->mu);
}

void dlock_client_server(struct dlock_client *c, char *out, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&c->mu);
    snprintf(out, n, "%s", c->answered);
    pthread_mutex_unlock(&c->mu);
}

/* ---- tracking sessions and handles ------------------------------------ */

int client_track(struct dlock_client *c, void ***arr, size_t *n, size_t *cap,
                 void *p)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (alloc_grow((void **)arr, cap, *n + 1, sizeof(void *)) != 0)
        rc = DLOCK_ENOMEM;
    else
        (*arr)[(*n)++] = p;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void client_untrack(void **arr, size_t *n, void *p)
{
    for (size_t i = 0; i < *n; i++) {
        if (arr[i] == p) {
            arr[i] = arr[--*n];
            return;
        }
    }
}

/* ---- the client ------------------------------------------------------- */

DLOCK_API void dlock_options_init(struct dlock_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
}

/* An option, else the environment variable's value, else NULL. */
static const char *option_or_env(const char *v, const char *env)
{
    if (v == NULL)
        v = getenv(env);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* The TLS context of o's files (or their environment variables): none
 * without a CA. 0, DLOCK_ETLS (with dlock_errmsg(NULL)), DLOCK_EINVAL
 * (a certificate without a CA). */
static int load_tls(struct dlock_client *c, const struct dlock_options *o)
{
    struct tls_config tc = {
        .ca_file = option_or_env(o->tls_ca, "DLOCK_TLS_CA"),
        .cert_file = option_or_env(o->tls_cert, "DLOCK_TLS_CERT"),
        .key_file = option_or_env(o->tls_key, "DLOCK_TLS_KEY"),
    };
    c->tls = NULL;
    if (tc.ca_file == NULL && tc.cert_file == NULL)
        return 0;
    if (tc.ca_file == NULL) {
        snprintf(err_msg, sizeof err_msg,
                 "a TLS certificate without the CA that signs the servers' "
                 "(tls_ca, $DLOCK_TLS_CA)");
        err_serial = 0;
        return DLOCK_ETLS;
    }
    c->tls = tls_ctx_new(&tc, err_msg, sizeof err_msg);
    if (c->tls == NULL) {
        err_serial = 0;
        return DLOCK_ETLS;
    }
    return 0;
}

static char *copy_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = alloc_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void free_credentials(struct dlock_client *c)
{
    alloc_free(c->user);
    if (c->password != NULL)
        alloc_wipe(c->password, strlen(c->password));
    alloc_free(c->password);
    c->user = c->password = NULL;
}

/* The user and password of o (or their environment variables): none
 * without a password. 0, DLOCK_EINVAL (a user without a password), or
 * DLOCK_ENOMEM. */
static int load_credentials(struct dlock_client *c,
                            const struct dlock_options *o)
{
    const char *user = option_or_env(o->user, "DLOCK_USER");
    const char *pw = option_or_env(o->password, "DLOCK_PASSWORD");
    c->user = c->password = NULL;
    if (pw == NULL && user == NULL)
        return 0;
    if (pw == NULL) {
        snprintf(err_msg, sizeof err_msg,
                 "a user (%s) without a password (password, $DLOCK_PASSWORD)",
                 user);
        err_serial = 0;
        return DLOCK_EINVAL;
    }
    if (strlen(pw) > 512 || (user != NULL && strlen(user) > 64)) {
        snprintf(err_msg, sizeof err_msg,
                 "a user name is at most 64 bytes, a password 512");
        err_serial = 0;
        return DLOCK_EINVAL;
    }
    c->password = copy_str(pw);
    c->user = user != NULL ? copy_str(user) : NULL;
    if (c->password == NULL || (user != NULL && c->user == NULL)) {
        free_credentials(c);
        return DLOCK_ENOMEM;
    }
    return 0;
}

DLOCK_API int dlock_client_new(const struct dlock_options *o,
                               struct dlock_client **out)
{
    struct dlock_options def;
    err_msg[0] = '\0';
    if (o == NULL) {
        dlock_options_init(&def);
        o = &def;
    }
    if (out == NULL || (o->name != NULL && strlen(o->name) > NAME_MAX_LEN))
        return DLOCK_EINVAL;
    const char *list = o->servers;
    if (list == NULL)
        list = getenv("DLOCK_SERVERS");
    if (list == NULL || *list == '\0')
        list = DEFAULT_SERVERS;
    struct dlock_client *c = alloc_malloc(sizeof *c);
    if (c == NULL)
        return DLOCK_ENOMEM;
    memset(c, 0, sizeof *c);
    c->serial = atomic_fetch_add(&serials, 1) + 1;
    int rc = client_parse_servers(list, &c->servers, &c->n_servers);
    if (rc != 0)
        goto free_client;
    c->name = copy_str(o->name != NULL ? o->name : "");
    if (c->name == NULL) {
        rc = DLOCK_ENOMEM;
        goto free_servers;
    }
    c->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    rc = load_credentials(c, o);
    if (rc != 0)
        goto free_name;
    rc = load_tls(c, o);
    if (rc != 0)
        goto free_name;
    c->req_prefix = random_prefix(c->serial);
    /* Clients start at different servers of the list, spreading the
     * connections they make before they know the leader. */
    c->cursor = (size_t)(c->req_prefix % c->n_servers);
    atomic_init(&c->req_counter, 1);
    atomic_init(&c->reached, false);
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        rc = DLOCK_ENOMEM;
        goto free_name;
    }
    *out = c;
    return 0;

free_name:
    tls_ctx_free(c->tls);
    free_credentials(c);
    alloc_free(c->name);
free_servers:
    alloc_free(c->servers);
free_client:
    alloc_free(c);
    return rc;
}

DLOCK_API void dlock_client_free(struct dlock_client *c)
{
    if (c == NULL)
        return;
    /* Closing a session removes it from the array. */
    while (c->n_sessions > 0)
        session_close(c->sessions[c->n_sessions - 1]);
    keeper_free(c->threaded);
    keeper_free(c->noloop);
    for (size_t i = 0; i < c->n_locks; i++) {
        alloc_free(c->locks[i]->name);
        alloc_free(c->locks[i]->owner);
        alloc_free(c->locks[i]);
    }
    for (size_t i = 0; i < c->n_pool; i++)
        conn_free(c->pool[i]);
    alloc_free(c->locks);
    alloc_free(c->sessions);
    pthread_mutex_destroy(&c->mu);
    tls_ctx_free(c->tls);
    free_credentials(c);
    alloc_free(c->name);
    alloc_free(c->servers);
    alloc_free(c);
}
