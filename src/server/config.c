/* config.c - dlockd's settings, from flags and an optional config file. */
#include "server/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/logger.h"

static const char usage[] =
    "usage: dlockd [options]\n"
    "With no options: one server on 127.0.0.1:7411 with its data in "
    "./dlock-data.\n"
    "  --id N                 this server's id (default 1)\n"
    "  --listen HOST:PORT     client address (default 127.0.0.1:7411)\n"
    "  --raft HOST:PORT       peer address (default: client port + 100)\n"
    "  --advertise HOST:PORT  client address told to clients (default: "
    "--listen)\n"
    "  --data DIR             data directory (default ./dlock-data)\n"
    "  --peers ID=HOST:PORT,...  the initial cluster's peer addresses\n"
    "  --join HOST:PORT       join the cluster of the server at this client "
    "address\n"
    "  --log-level LEVEL      debug, info, warn or error (default info)\n"
    "  --log-format FORMAT    text or json (one JSON object a line; default "
    "text)\n"
    "  --http HOST:PORT|off   metrics, /health, /ready and the status page "
    "(default\n"
    "                         127.0.0.1 and the client port + 200, if free)\n"
    "  --election-ms MS       election timeout (default 500)\n"
    "  --heartbeat-ms MS      heartbeat interval (default 50)\n"
    "  --snapshot-entries N   snapshot after N entries (default 100000)\n"
    "  --watch-history N      changes kept for watches that resume (default\n"
    "                         65536)\n"
    "  --max-clients N        client connections (default 10000)\n"
    "  --max-output BYTES     output buffered for one client (default "
    "16777216)\n"
    "  --max-request BYTES    one request (default 1048576)\n"
    "  --max-clients-per-address N  client connections from one address "
    "(default 1024)\n"
    "  --max-input-total BYTES  unfinished requests held for all clients "
    "(default 268435456)\n"
    "  --request-timeout-ms MS  close a connection whose request stays "
    "unfinished this long\n"
    "                         (default 10000; 0: never)\n"
    "  --idle-timeout-ms MS   close a connection with nothing under way "
    "after this long\n"
    "                         (default 300000; 0: never)\n"
    "  --wait-grace-ms MS     a gone client's wait with REQ stays this long "
    "(default 30000)\n"
    "  --tls-cert-file FILE   TLS on the client port: this server's "
    "certificate (PEM,\n"
    "                         with its chain)\n"
    "  --tls-key-file FILE    its private key (default: in the certificate's "
    "file)\n"
    "  --tls-ca-cert-file FILE  the CA certificates that sign clients' "
    "certificates\n"
    "  --tls-auth-clients yes|optional|no  whether a client must show one "
    "(default yes)\n"
    "  --tls-peers yes|no     TLS on the peer port too, certificates "
    "required both ways\n"
    "                         (default yes with --tls-cert-file)\n"
    "  --auth yes|no          clients must authenticate (default no; yes "
    "with\n"
    "                         --users-file or DLOCK_USERS)\n"
    "  --users-file FILE      the users a new cluster starts with "
    "(docs/security.md)\n"
    "  --password-iterations N  PBKDF2 iterations of a password set here "
    "(default\n"
    "                         600000)\n"
    "  --tls-cert-user yes|no  a client certificate's common name logs in as "
    "that\n"
    "                         user (default no)\n"
    "  --insecure             serve a non-loopback address without TLS and "
    "authentication\n"
    "  --reset-term           bring back a single server whose stored term "
    "is past\n"
    "                         the bound (docs/operations.md), then exit\n"
    "  --config FILE          read `name value` lines (names without --)\n"
    "  --help                 this text\n";

static void defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    c->id = 1;
    strcpy(c->listen, "127.0.0.1:7411");
    strcpy(c->data, "./dlock-data");
    c->log_level = LOG_INFO;
    c->election_ms = 500;
    c->heartbeat_ms = 50;
    c->snapshot_entries = 100000;
    c->watch_history = 65536;
    c->max_clients = 10000;
    c->max_output = 16u << 20;
    c->max_request = 1u << 20;
    c->wait_grace_ms = 30000; /* docs/protocol.md §4 */
    /* docs/protocol.md §7 */
    c->max_clients_per_address = 1024;
    c->max_input_total = 256u << 20;
    c->request_timeout_ms = 10000;
    c->idle_timeout_ms = 300000;
    c->tls_auth_clients = CONFIG_TLS_AUTH_YES;
    c->password_iterations = 600000; /* OWASP's figure for PBKDF2-SHA256 */
}

static int set_path(char *dst, const char *v)
{
    if (v[0] == '\0' || strlen(v) >= CONFIG_PATH_MAX)
        return -1;
    strcpy(dst, v);
    return 0;
}

static int set_yes_no(bool *dst, const char *v)
{
    if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
        return -1;
    *dst = v[0] == 'y';
    return 0;
}

static int set_tls_auth(struct config *c, const char *v)
{
    if (!strcmp(v, "yes"))
        c->tls_auth_clients = CONFIG_TLS_AUTH_YES;
    else if (!strcmp(v, "optional"))
        c->tls_auth_clients = CONFIG_TLS_AUTH_OPTIONAL;
    else if (!strcmp(v, "no"))
        c->tls_auth_clients = CONFIG_TLS_AUTH_NO;
    else
        return -1;
    return 0;
}

int config_split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || (size_t)(colon - addr) >= hostlen ||
        colon[1] < '0' || colon[1] > '9')
        return -1;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    *port = (int)p;
    return 0;
}

int config_addr_host(const char *addr, char *host, size_t hostlen)
{
    int port;
    if (config_split_addr(addr, host, hostlen, &port) != 0)
        return -1;
    size_t n = strlen(host);
    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    host[strcspn(host, "%")] = '\0';
    return 0;
}

/* An IPv6 host, in brackets or not, with an optional %zone. */
static int parse_ip6(char *host, int port, struct sockaddr_in6 *in6)
{
    size_t n = strlen(host);
    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    char *zone = strchr(host, '%');
    if (zone != NULL) {
        *zone++ = '\0';
        in6->sin6_scope_id = if_nametoindex(zone);
        if (in6->sin6_scope_id == 0)
            return -1;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
        return -1;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    return 0;
}

int config_parse_addr(const char *addr, struct sockaddr_storage *sa)
{
    char host[CONFIG_ADDR_MAX];
    int port;
    memset(sa, 0, sizeof *sa);
    if (config_split_addr(addr, host, sizeof host, &port) != 0 || port == 0)
        return -1;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    return parse_ip6(host, port, (struct sockaddr_in6 *)sa);
}

bool config_same_addr(const char *a, const char *b)
{
    struct sockaddr_storage x, y;
    if (config_parse_addr(a, &x) != 0 || config_parse_addr(b, &y) != 0 ||
        x.ss_family != y.ss_family)
        return false;
    if (x.ss_family == AF_INET) {
        const struct sockaddr_in *p = (const void *)&x, *q = (const void *)&y;
        return p->sin_port == q->sin_port &&
               p->sin_addr.s_addr == q->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *p = (const void *)&x, *q = (const void *)&y;
    return p->sin6_port == q->sin6_port &&
           p->sin6_scope_id == q->sin6_scope_id &&
           memcmp(&p->sin6_addr, &q->sin6_addr, sizeof p->sin6_addr) == 0;
}

/* An address to listen on or connect to (config_parse_addr), or, with
 * loose (--advertise, only told to clients), any host:port. */
static int set_addr(char *dst, const char *v, bool loose)
{
    char host[CONFIG_ADDR_MAX];
    struct sockaddr_storage sa;
    int port;
    if (strlen(v) >= CONFIG_ADDR_MAX ||
        (loose ? config_split_addr(v, host, sizeof host, &port)
               : config_parse_addr(v, &sa)) != 0)
        return -1;
    strcpy(dst, v);
    return 0;
}

static int set_u64(uint64_t *dst, const char *v, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || end == v || v[0] == '-' || x < min ||
        x > max)
        return -1;
    *dst = x;
    return 0;
}

static int set_peers(struct config *c, const char *v)
{
    char buf[2048];
    if (strlen(v) >= sizeof buf)
        return -1;
    strcpy(buf, v);
    c->n_peers = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        struct config_peer *p = &c->peers[c->n_peers];
        if (eq == NULL || c->n_peers == RAFT_MAX_SERVERS)
            return -1;
        *eq = '\0';
        if (set_u64(&p->id, tok, 1, CONFIG_ID_MAX) != 0 ||
            strlen(eq + 1) >= RAFT_ADDR_MAX ||
            set_addr(p->addr, eq + 1, false) != 0)
            return -1;
        for (unsigned i = 0; i < c->n_peers; i++)
            if (c->peers[i].id == p->id)
                return -1;
        c->n_peers++;
    }
    return c->n_peers > 0 ? 0 : -1;
}

static int set_one(struct config *c, const char *name, const char *v, char *err,
                   size_t errlen);

static int read_file(struct config *c, const char *path, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int lineno = 0;
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *p = line + strspn(line, " \t");
        p[strcspn(p, "\r\n#")] = '\0';
        if (*p == '\0')
            continue;
        char *name = strtok(p, " \t="), *v = strtok(NULL, " \t");
        if (name == NULL || v == NULL || strcmp(name, "config") == 0 ||
            set_one(c, name, v, err, errlen) != 0) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, "%s%s:%d: bad line", n ? " at " : "",
                     path, lineno);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

/* What a value of option name must be, for the message that refuses one. */
static const char *hint(const char *name)
{
    if (!strcmp(name, "id"))
        return " (a server id is 1 to 9223372036854775807)";
    if (!strcmp(name, "peers"))
        return " (ID=HOST:PORT,...: ids 1 to 9223372036854775807, each once; "
               "HOST a numeric IPv4 or IPv6 address or localhost; PORT 1 to "
               "65535)";
    if (!strcmp(name, "tls-auth-clients"))
        return " (yes, optional or no)";
    if (!strcmp(name, "tls-peers") || !strcmp(name, "auth") ||
        !strcmp(name, "tls-cert-user") || !strcmp(name, "insecure"))
        return " (yes or no)";
    if (!strcmp(name, "users-file"))
        return " (a path of 1 to 511 bytes)";
    if (!strncmp(name, "tls-", 4) || !strcmp(name, "data"))
        return " (a path of 1 to 511 bytes)";
    if (!strcmp(name, "log-format"))
        return " (text or json)";
    if (!strcmp(name, "http"))
        return " (HOST:PORT as --listen's, or off)";
    if (!strcmp(name, "listen") || !strcmp(name, "raft") ||
        !strcmp(name, "join"))
        return " (HOST:PORT: HOST a numeric IPv4 or IPv6 address or "
               "localhost; PORT 1 to 65535)";
    return "";
}

static int set_one(struct config *c, const char *name, const char *v, char *err,
                   size_t errlen)
{
    int rc;
    int64_t level;
    if (!strcmp(name, "id"))
        rc = set_u64(&c->id, v, 1, CONFIG_ID_MAX);
    else if (!strcmp(name, "listen"))
        rc = set_addr(c->listen, v, false);
    else if (!strcmp(name, "raft"))
        rc = set_addr(c->raft, v, false);
    else if (!strcmp(name, "advertise"))
        rc = set_addr(c->advertise, v, true);
    else if (!strcmp(name, "join"))
        rc = set_addr(c->join, v, false);
    else if (!strcmp(name, "data"))
        rc = set_path(c->data, v);
    else if (!strcmp(name, "tls-cert-file"))
        rc = set_path(c->tls_cert, v);
    else if (!strcmp(name, "tls-key-file"))
        rc = set_path(c->tls_key, v);
    else if (!strcmp(name, "tls-ca-cert-file"))
        rc = set_path(c->tls_ca, v);
    else if (!strcmp(name, "tls-auth-clients"))
        rc = set_tls_auth(c, v);
    else if (!strcmp(name, "tls-peers"))
        rc = set_yes_no(&c->tls_peers, v) == 0 ? (c->tls_peers_given = true, 0)
                                               : -1;
    else if (!strcmp(name, "auth"))
        rc = set_yes_no(&c->auth, v) == 0 ? (c->auth_given = true, 0) : -1;
    else if (!strcmp(name, "users-file"))
        rc = set_path(c->users_file, v);
    else if (!strcmp(name, "password-iterations"))
        rc = set_u64(&c->password_iterations, v, 1000, 10000000);
    else if (!strcmp(name, "tls-cert-user"))
        rc = set_yes_no(&c->tls_cert_user, v);
    else if (!strcmp(name, "insecure"))
        rc = set_yes_no(&c->insecure, v);
    else if (!strcmp(name, "peers"))
        rc = set_peers(c, v);
    else if (!strcmp(name, "log-level"))
        rc = (level = logger_parse_level(v)) < 0
                 ? -1
                 : (c->log_level = (int)level, 0);
    else if (!strcmp(name, "election-ms"))
        rc = set_u64(&c->election_ms, v, 50, 60000);
    else if (!strcmp(name, "heartbeat-ms"))
        rc = set_u64(&c->heartbeat_ms, v, 5, 30000);
    else if (!strcmp(name, "snapshot-entries"))
        rc = set_u64(&c->snapshot_entries, v, 100, UINT32_MAX);
    else if (!strcmp(name, "watch-history"))
        rc = set_u64(&c->watch_history, v, 16, 16777216);
    else if (!strcmp(name, "max-clients"))
        rc = set_u64(&c->max_clients, v, 1, 1000000);
    else if (!strcmp(name, "max-output"))
        rc = set_u64(&c->max_output, v, 4096, 1ull << 32);
    else if (!strcmp(name, "max-request"))
        rc = set_u64(&c->max_request, v, 1024, 64u << 20);
    else if (!strcmp(name, "wait-grace-ms"))
        rc = set_u64(&c->wait_grace_ms, v, 0, 86400000);
    else if (!strcmp(name, "max-clients-per-address"))
        rc = set_u64(&c->max_clients_per_address, v, 1, 1000000);
    else if (!strcmp(name, "max-input-total"))
        rc = set_u64(&c->max_input_total, v, 1u << 20, 1ull << 40);
    else if (!strcmp(name, "request-timeout-ms"))
        rc = set_u64(&c->request_timeout_ms, v, 0, 86400000);
    else if (!strcmp(name, "idle-timeout-ms"))
        rc = set_u64(&c->idle_timeout_ms, v, 0, 86400000 * 7ull);
    else if (!strcmp(name, "http")) {
        c->http_given = true;
        if (!strcmp(v, "off"))
            rc = (c->http[0] = '\0', 0);
        else
            rc = set_addr(c->http, v, false);
    } else if (!strcmp(name, "log-format"))
        rc = !strcmp(v, "json")   ? (c->log_json = true, 0)
             : !strcmp(v, "text") ? (c->log_json = false, 0)
                                  : -1;
    else if (!strcmp(name, "config"))
        return read_file(c, v, err, errlen);
    else {
        snprintf(err, errlen, "unknown option --%s (see --help)", name);
        return -1;
    }
    if (rc != 0)
        snprintf(err, errlen, "bad value for --%s: '%s'%s", name, v,
                 hint(name));
    return rc;
}

bool config_is_loopback(const char *addr)
{
    struct sockaddr_storage sa;
    if (config_parse_addr(addr, &sa) != 0)
        return false;
    if (sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)&sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) ||
           (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* Secure by default (docs/security.md): a client port off loopback needs
 * TLS and authentication, a peer port off loopback TLS between servers,
 * unless --insecure says otherwise. */
static int exposed(struct config *c, char *err, size_t errlen)
{
    if (c->insecure)
        return 0;
    if (!config_is_loopback(c->listen) &&
        (c->tls_cert[0] == '\0' || !c->auth)) {
        snprintf(err, errlen,
                 "--listen %s is not a loopback address: clients there need "
                 "TLS and authentication (--tls-cert-file, and --auth yes or "
                 "--users-file; docs/security.md), or give --insecure to "
                 "serve it without them",
                 c->listen);
        return -1;
    }
    if (c->http[0] != '\0' && !config_is_loopback(c->http) &&
        (c->tls_cert[0] == '\0' || !c->auth)) {
        snprintf(err, errlen,
                 "--http %s is not a loopback address: the metrics and the "
                 "status page there need TLS and authentication "
                 "(--tls-cert-file, and --auth yes or --users-file; "
                 "docs/operations.md, Monitoring), or give --insecure to "
                 "serve them without",
                 c->http);
        return -1;
    }
    if (!config_is_loopback(c->raft) && !c->tls_peers) {
        snprintf(err, errlen,
                 "the peer address %s (%s) is not a loopback address: "
                 "servers there need TLS (--tls-cert-file and "
                 "--tls-ca-cert-file; docs/security.md), or give --insecure "
                 "to serve it without",
                 c->raft, c->raft_from);
        return -1;
    }
    return 0;
}

/* The peer address defaults to the client port + 100 on the same host. */
static int derive_raft(struct config *c, char *err, size_t errlen)
{
    c->raft_from = "--raft";
    for (unsigned i = 0; i < c->n_peers; i++) {
        if (c->peers[i].id == c->id && c->raft[0] == '\0') {
            strcpy(c->raft, c->peers[i].addr);
            c->raft_from = "--raft, by default this server's entry in --peers";
        }
    }
    if (c->raft[0] == '\0') {
        c->raft_from = "--raft, by default the --listen port + 100";
        char host[CONFIG_ADDR_MAX - 16];
        int port;
        if (config_split_addr(c->listen, host, sizeof host, &port) != 0 ||
            port == 0 || port + 100 > 65535) {
            snprintf(err, errlen,
                     "give --raft: the client port + 100 is not "
                     "a port");
            return -1;
        }
        snprintf(c->raft, sizeof c->raft, "%s:%d", host, port + 100);
    }
    if (strlen(c->raft) >= RAFT_ADDR_MAX) {
        snprintf(err, errlen, "the peer address %s is longer than %d bytes",
                 c->raft, RAFT_ADDR_MAX - 1);
        return -1;
    }
    if (c->advertise[0] == '\0')
        strcpy(c->advertise, c->listen);
    if (!c->http_given) {
        char host[CONFIG_ADDR_MAX - 16];
        int port;
        if (config_split_addr(c->listen, host, sizeof host, &port) == 0 &&
            port + 200 <= 65535)
            snprintf(c->http, sizeof c->http, "127.0.0.1:%d", port + 200);
    }
    if (c->heartbeat_ms * 2 > c->election_ms) {
        snprintf(err, errlen,
                 "--heartbeat-ms must be at most half of "
                 "--election-ms");
        return -1;
    }
    if (c->tls_cert[0] == '\0' && (c->tls_key[0] || c->tls_ca[0])) {
        snprintf(err, errlen,
                 "--tls-key-file and --tls-ca-cert-file need "
                 "--tls-cert-file");
        return -1;
    }
    if (c->tls_cert[0] && c->tls_auth_clients != CONFIG_TLS_AUTH_NO &&
        c->tls_ca[0] == '\0') {
        snprintf(err, errlen,
                 "--tls-auth-clients %s needs --tls-ca-cert-file (the CA "
                 "that signs clients' certificates), or give "
                 "--tls-auth-clients no",
                 c->tls_auth_clients == CONFIG_TLS_AUTH_YES ? "yes"
                                                            : "optional");
        return -1;
    }
    if (!c->tls_peers_given)
        c->tls_peers = c->tls_cert[0] != '\0';
    if (c->tls_peers && c->tls_cert[0] == '\0') {
        snprintf(err, errlen, "--tls-peers yes needs --tls-cert-file");
        return -1;
    }
    if (c->tls_peers && c->tls_ca[0] == '\0') {
        snprintf(err, errlen,
                 "TLS on the peer port needs --tls-ca-cert-file: servers "
                 "prove they belong to the cluster with a certificate its CA "
                 "signed (or give --tls-peers no)");
        return -1;
    }
    if (!c->auth_given) {
        const char *env = getenv("DLOCK_USERS");
        c->auth = c->users_file[0] != '\0' || (env != NULL && env[0] != '\0');
    }
    if (c->tls_cert_user &&
        (c->tls_cert[0] == '\0' || c->tls_auth_clients == CONFIG_TLS_AUTH_NO)) {
        snprintf(err, errlen,
                 "--tls-cert-user yes needs client certificates: "
                 "--tls-cert-file, --tls-ca-cert-file and --tls-auth-clients "
                 "yes or optional");
        return -1;
    }
    if (exposed(c, err, errlen) != 0)
        return -1;
    if (c->n_peers > 0 && c->join[0] != '\0') {
        snprintf(err, errlen, "--peers and --join exclude each other");
        return -1;
    }
    bool self = c->n_peers == 0;
    for (unsigned i = 0; i < c->n_peers; i++)
        self |= c->peers[i].id == c->id;
    if (!self) {
        snprintf(err, errlen, "--peers does not list --id %" PRIu64, c->id);
        return -1;
    }
    return 0;
}

int config_parse(struct config *c, int argc, char **argv, char *err,
                 size_t errlen)
{
    defaults(c);
    err[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--reset-term")) {
            c->reset_term = true;
            continue;
        }
        if (!strcmp(a, "--insecure")) {
            c->insecure = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return -1;
        }
        char name[64];
        const char *v;
        const char *eq = strchr(a, '=');
        if (eq != NULL) {
            if ((size_t)(eq - a - 2) >= sizeof name)
                goto bad;
            memcpy(name, a + 2, (size_t)(eq - a - 2));
            name[eq - a - 2] = '\0';
            v = eq + 1;
        } else {
            if (strlen(a + 2) >= sizeof name || i + 1 == argc)
                goto bad;
            strcpy(name, a + 2);
            v = argv[++i];
        }
        if (set_one(c, name, v, err, errlen) != 0)
            return -1;
        continue;
    bad:
        snprintf(err, errlen, "option %s needs a value (see --help)", a);
        return -1;
    }
    return derive_raft(c, err, errlen);
}
