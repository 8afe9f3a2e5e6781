/* sys_etcd.c - dlock-bench's etcd 3.4: its lock service (v3lock) through
 * the JSON gateway on the client port, one libcurl handle (one keep-alive
 * HTTP/1.1 connection) and one lease per client. Client i talks to member
 * i % n (a member forwards to the leader itself), and to the next one when
 * its member cannot be reached, as etcd's own clients do.
 *
 * etcd 3.4's lock call has no try-lock: it blocks on the server until the
 * lock is granted. So every acquire waits, wait_ms 0 included, up to
 * max(wait_ms, 5 s) but never more than half the lease's TTL (the lease is
 * only kept alive between calls, from the client's own thread, when a third
 * of its TTL has passed); a wait that runs out is BENCH_BUSY. The fencing
 * token is the revision in the lock reply's header: it grows with every
 * grant of the lock. Acquiring a lock the client holds is reentrant (the
 * same token, if its key is still there). All reads (status) are
 * linearizable, as in dlock. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define BODY_MAX 8192
#define KEEPALIVE_FRACTION 3 /* a keepalive when TTL/3 has passed */

/* A lock name this client has used, and its key while it holds it. */
struct elock {
    char *name;
    char *key; /* base64, as etcd sent it; NULL when not held */
    uint64_t token;
};

struct etcd {
    CURL *curl;
    struct curl_slist *headers;
    char *servers;     /* host:port,... */
    unsigned endpoint; /* the index in servers of the member in url */
    char url[256];
    size_t url_len;
    char body[BODY_MAX];
    size_t body_len;
    bool truncated, timed_out;
    char lease[32]; /* decimal lease ID; "" when there is none */
    uint64_t ttl_s;
    uint64_t keepalive_ns; /* when the lease was last granted or renewed */
    struct elock *locks;
    size_t n_locks;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct etcd *c = arg;
    size_t k = size * nmemb, room = BODY_MAX - 1 - c->body_len;
    if (k > room) {
        c->truncated = true;
        k = room;
    }
    memcpy(c->body + c->body_len, p, k);
    c->body_len += k;
    c->body[c->body_len] = '\0';
    return size * nmemb;
}

static void base64(const char *in, size_t len, char *out)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < len)
            v |= s[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < len ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The string value of "field" in a flat JSON reply, into out: 0, or -1 if
 * there is none (or it has escapes, or does not fit). Every value read here
 * is base64 or a number, which etcd sends as a string. */
static int json_str(const char *js, const char *field, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", field);
    const char *p = strstr(js, pat);
    if (p == NULL)
        return -1;
    p += strlen(pat);
    p += strspn(p, " \t\r\n");
    if (*p++ != ':')
        return -1;
    p += strspn(p, " \t\r\n");
    if (*p++ != '"')
        return -1;
    size_t len = strcspn(p, "\"\\");
    if (p[len] != '"' || len >= n)
        return -1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

static unsigned count_endpoints(const char *servers)
{
    unsigned count = 1;
    for (const char *p = servers; *p != '\0'; p++)
        count += *p == ',';
    return count;
}

/* Makes member i of c->servers ("host:port,host:port,..."), modulo their
 * number, the one the client talks to: its base URL into c->url. */
static int pick_endpoint(struct etcd *c, unsigned i, char *err, size_t n)
{
    unsigned count = count_endpoints(c->servers);
    const char *s = c->servers;
    for (unsigned k = i % count; k > 0; k--)
        s = strchr(s, ',') + 1;
    size_t len = strcspn(s, ",");
    if (len == 0 || memchr(s, ':', len) == NULL ||
        len + 8 + 64 >= sizeof c->url) {
        snprintf(err, n, "bad etcd server list '%s'", c->servers);
        return -1;
    }
    c->url_len =
        (size_t)snprintf(c->url, sizeof c->url, "http://%.*s", (int)len, s);
    c->endpoint = i % count;
    return 0;
}

/* POSTs json to path with a timeout: 0 on HTTP 200 (the reply in c->body),
 * else -1 with what happened in err (c->timed_out if the time ran out). */
static int post(struct etcd *c, const char *path, const char *json,
                long timeout_ms, char *err, size_t n)
{
    long code = 0;
    snprintf(c->url + c->url_len, sizeof c->url - c->url_len, "%s", path);
    c->body_len = 0;
    c->body[0] = '\0';
    c->truncated = c->timed_out = false;
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode rc = curl_easy_perform(c->curl);
    c->url[c->url_len] = '\0';
    if (rc != CURLE_OK) {
        c->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        snprintf(err, n, "etcd %s %s: %s", c->url, path,
                 curl_easy_strerror(rc));
        char unused[8];    /* the list was checked when the client opened */
        if (!c->timed_out) /* the member is gone: try the next one */
            pick_endpoint(c, c->endpoint + 1, unused, sizeof unused);
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        char msg[200];
        if (json_str(c->body, "message", msg, sizeof msg) != 0)
            snprintf(msg, sizeof msg, "%.*s", 150, c->body);
        snprintf(err, n, "etcd %s: HTTP %ld: %s", path, code, msg);
        return -1;
    }
    if (c->truncated) {
        snprintf(err, n, "etcd %s: reply longer than %d bytes", path, BODY_MAX);
        return -1;
    }
    return 0;
}

/* Forgets the keys of the locks held under the lease (it is gone). */
static void forget_keys(struct etcd *c)
{
    for (size_t i = 0; i < c->n_locks; i++) {
        free(c->locks[i].key);
        c->locks[i].key = NULL;
    }
}

static int lease_grant(struct etcd *c, char *err, size_t n)
{
    char json[64];
    snprintf(json, sizeof json, "{\"TTL\":%llu}", (unsigned long long)c->ttl_s);
    if (post(c, "/v3/lease/grant", json, 5000, err, n) != 0)
        return -1;
    if (json_str(c->body, "ID", c->lease, sizeof c->lease) != 0) {
        snprintf(err, n, "etcd lease grant: no ID in '%.150s'", c->body);
        return -1;
    }
    c->keepalive_ns = bench_now_ns();
    return 0;
}

/* Revokes the lease (releasing every lock held under it), if there is one. */
static int lease_revoke(struct etcd *c, char *err, size_t n)
{
    char json[64];
    if (c->lease[0] == '\0')
        return 0;
    snprintf(json, sizeof json, "{\"ID\":\"%s\"}", c->lease);
    c->lease[0] = '\0';
    forget_keys(c);
    return post(c, "/v3/lease/revoke", json, 5000, err, n);
}

/* Makes sure the client has a lease that will live through the next call:
 * grants one if there is none, renews it when a third of its TTL has passed.
 * A lease found expired is an error (its locks are lost); the next call
 * grants a new one. */
static int lease_ensure(struct etcd *c, char *err, size_t n)
{
    char json[64], ttl[32];
    if (c->lease[0] == '\0')
        return lease_grant(c, err, n);
    uint64_t now = bench_now_ns();
    if (now - c->keepalive_ns < c->ttl_s * 1000000000u / KEEPALIVE_FRACTION)
        return 0;
    snprintf(json, sizeof json, "{\"ID\":\"%s\"}", c->lease);
    if (post(c, "/v3/lease/keepalive", json, 5000, err, n) != 0)
        return -1;
    /* An expired lease is renewed to a TTL of 0, which JSON leaves out. */
    if (json_str(c->body, "TTL", ttl, sizeof ttl) != 0 ||
        strtoull(ttl, NULL, 10) == 0) {
        snprintf(err, n, "etcd lease %s expired", c->lease);
        c->lease[0] = '\0';
        forget_keys(c);
        return -1;
    }
    c->keepalive_ns = now;
    return 0;
}

static void et_close(void *p)
{
    struct etcd *c = p;
    char err[256];
    if (c == NULL)
        return;
    if (c->curl != NULL)
        lease_revoke(c, err, sizeof err); /* best effort: frees the locks */
    for (size_t i = 0; i < c->n_locks; i++) {
        free(c->locks[i].name);
        free(c->locks[i].key);
    }
    free(c->locks);
    free(c->servers);
    curl_slist_free_all(c->headers);
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    free(c);
}

static int et_open(const char *servers, int i, uint64_t ttl_ms, void **out,
                   char *err, size_t n)
{
    pthread_once(&curl_once, curl_start);
    struct etcd *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    c->servers = strdup(servers);
    if (c->servers == NULL) {
        snprintf(err, n, "out of memory");
        goto fail;
    }
    for (unsigned k = 0; k < count_endpoints(servers); k++)
        if (pick_endpoint(c, k, err, n) != 0) /* checks each one */
            goto fail;
    pick_endpoint(c, (unsigned)(i < 0 ? 0 : i), err, n);
    c->ttl_s = (ttl_ms + 999) / 1000;
    if (c->ttl_s < 10)
        c->ttl_s = 10;
    c->curl = curl_easy_init();
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h = curl_slist_append(c->headers, "Expect:");
    if (c->curl == NULL || c->headers == NULL || h == NULL) {
        snprintf(err, n, "cannot make a libcurl handle");
        goto fail;
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L); /* threads */
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    if (lease_grant(c, err, n) != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    et_close(c);
    return -1;
}

/* The entry of name, added if it is new; NULL when out of memory. */
static struct elock *lock_entry(struct etcd *c, const char *name)
{
    for (size_t i = 0; i < c->n_locks; i++)
        if (strcmp(c->locks[i].name, name) == 0)
            return &c->locks[i];
    struct elock *l = realloc(c->locks, (c->n_locks + 1) * sizeof *c->locks);
    if (l == NULL)
        return NULL;
    c->locks = l;
    l = &c->locks[c->n_locks];
    l->name = strdup(name);
    l->key = NULL;
    l->token = 0;
    if (l->name == NULL)
        return NULL;
    c->n_locks++;
    return l;
}

/* A lock the client holds already: granted again with the same token if
 * its key is still there (an acquire by the same lease is reentrant). */
static int reacquire(struct etcd *c, struct elock *l, uint64_t *token,
                     char *err, size_t n)
{
    char json[512], count[32];
    snprintf(json, sizeof json, "{\"key\":\"%s\",\"count_only\":true}", l->key);
    if (post(c, "/v3/kv/range", json, 5000, err, n) != 0)
        return BENCH_ERROR;
    if (json_str(c->body, "count", count, sizeof count) == 0 &&
        strtoull(count, NULL, 10) == 1) {
        *token = l->token;
        return BENCH_GRANTED;
    }
    free(l->key); /* lost: acquire it anew */
    l->key = NULL;
    return BENCH_BUSY;
}

static int et_acquire(void *p, const char *name, uint64_t wait_ms,
                      uint64_t *token, char *err, size_t n)
{
    struct etcd *c = p;
    char json[512], name64[256], key[256], rev[32];
    size_t len = strlen(name);
    if (len > 150) {
        snprintf(err, n, "lock name too long");
        return BENCH_ERROR;
    }
    if (lease_ensure(c, err, n) != 0)
        return BENCH_ERROR;
    struct elock *l = lock_entry(c, name);
    if (l == NULL) {
        snprintf(err, n, "out of memory");
        return BENCH_ERROR;
    }
    if (l->key != NULL) {
        int rc = reacquire(c, l, token, err, n);
        if (rc != BENCH_BUSY)
            return rc;
    }
    uint64_t timeout_ms = wait_ms < 5000 ? 5000 : wait_ms;
    if (timeout_ms > c->ttl_s * 1000 / 2)
        timeout_ms = c->ttl_s * 1000 / 2;
    base64(name, len, name64);
    snprintf(json, sizeof json, "{\"name\":\"%s\",\"lease\":\"%s\"}", name64,
             c->lease);
    if (post(c, "/v3/lock/lock", json, (long)timeout_ms, err, n) != 0)
        return c->timed_out ? BENCH_BUSY : BENCH_ERROR;
    if (json_str(c->body, "key", key, sizeof key) != 0 ||
        json_str(c->body, "revision", rev, sizeof rev) != 0) {
        snprintf(err, n, "etcd lock: no key or revision in '%.150s'", c->body);
        return BENCH_ERROR;
    }
    l->key = strdup(key);
    if (l->key == NULL) {
        snprintf(err, n, "out of memory");
        return BENCH_ERROR;
    }
    l->token = strtoull(rev, NULL, 10);
    *token = l->token;
    return BENCH_GRANTED;
}

static int et_release(void *p, const char *name, char *err, size_t n)
{
    struct etcd *c = p;
    char json[512];
    struct elock *l = NULL;
    for (size_t i = 0; i < c->n_locks && l == NULL; i++)
        if (strcmp(c->locks[i].name, name) == 0 && c->locks[i].key != NULL)
            l = &c->locks[i];
    if (l == NULL) {
        snprintf(err, n, "etcd release: %s is not held", name);
        return -1;
    }
    if (lease_ensure(c, err, n) != 0)
        return -1;
    snprintf(json, sizeof json, "{\"key\":\"%s\"}", l->key);
    free(l->key);
    l->key = NULL;
    return post(c, "/v3/lock/unlock", json, 5000, err, n);
}

/* A linearizable read of the keys of name's lock (NAME/<lease>): how many
 * owners and waiters there are. */
static int et_status(void *p, const char *name, char *err, size_t n)
{
    struct etcd *c = p;
    char json[1024], prefix[200], key64[280], end64[280];
    int len = snprintf(prefix, sizeof prefix, "%s/", name);
    if (len < 0 || (size_t)len >= sizeof prefix) {
        snprintf(err, n, "lock name too long");
        return -1;
    }
    if (lease_ensure(c, err, n) != 0)
        return -1;
    base64(prefix, (size_t)len, key64);
    prefix[len - 1] = '/' + 1; /* the end of the range: NAME0 */
    base64(prefix, (size_t)len, end64);
    snprintf(json, sizeof json,
             "{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}", key64,
             end64);
    return post(c, "/v3/kv/range", json, 5000, err, n);
}

static int et_renew(void *p, char *err, size_t n)
{
    struct etcd *c = p;
    if (lease_revoke(c, err, n) != 0)
        return -1;
    return lease_grant(c, err, n);
}

const struct bench_system bench_etcd = {
    .name = "etcd",
    .open = et_open,
    .close = et_close,
    .acquire = et_acquire,
    .release = et_release,
    .status = et_status,
    .renew = et_renew,
};
