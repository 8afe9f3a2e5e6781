/* config.h - dlockd's settings, from flags and an optional config file.
 * docs/operations.md lists every setting. */
#ifndef DLOCK_CONFIG_H
#define DLOCK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "raft/raft.h"

#define CONFIG_ADDR_MAX 128

/* Server ids are 1 to CONFIG_ID_MAX: replies give ids as RESP integers,
 * which are signed 64-bit (docs/operations.md, Options). */
#define CONFIG_ID_MAX ((uint64_t)INT64_MAX)

#define CONFIG_PATH_MAX 512

/* --tls-auth-clients: whether a client must show a certificate that
 * --tls-ca-cert-file signed. */
#define CONFIG_TLS_AUTH_NO 0
#define CONFIG_TLS_AUTH_OPTIONAL 1
#define CONFIG_TLS_AUTH_YES 2 /* the default, as Redis's */

struct config_peer {
    uint64_t id;
    char addr[RAFT_ADDR_MAX]; /* its Raft (peer) address */
};

struct config {
    uint64_t id;                     /* --id, default 1 */
    char listen[CONFIG_ADDR_MAX];    /* --listen: clients, 127.0.0.1:7411 */
    char raft[CONFIG_ADDR_MAX];      /* --raft: peers, the client port + 100 */
    char advertise[CONFIG_ADDR_MAX]; /* --advertise: told to clients */
    char data[CONFIG_PATH_MAX];      /* --data, ./dlock-data */
    struct config_peer peers[RAFT_MAX_SERVERS]; /* --peers id=host:port,.. */
    unsigned n_peers;
    char join[CONFIG_ADDR_MAX];       /* --join: a member's client address */
    int log_level;                    /* --log-level, info */
    uint64_t election_ms;             /* --election-ms, 500 */
    uint64_t heartbeat_ms;            /* --heartbeat-ms, 50 */
    uint64_t snapshot_entries;        /* --snapshot-entries, 100000 */
    uint64_t watch_history;           /* --watch-history, 65536 */
    uint64_t max_clients;             /* --max-clients, 10000 */
    uint64_t max_output;              /* --max-output bytes a client, 16 MiB */
    uint64_t max_request;             /* --max-request bytes, 1 MiB */
    uint64_t wait_grace_ms;           /* --wait-grace-ms, 30000 */
    uint64_t max_clients_per_address; /* --max-clients-per-address, 1024 */
    uint64_t max_input_total;         /* --max-input-total bytes, 256 MiB */
    uint64_t request_timeout_ms;      /* --request-timeout-ms, 10000; 0: none */
    uint64_t idle_timeout_ms;         /* --idle-timeout-ms, 300000; 0: none */
    /* TLS on the client port (docs/security.md): on when tls_cert is
     * set. */
    char tls_cert[CONFIG_PATH_MAX]; /* --tls-cert-file: PEM, with its chain */
    char tls_key[CONFIG_PATH_MAX];  /* --tls-key-file (default: the cert's) */
    char tls_ca[CONFIG_PATH_MAX];   /* --tls-ca-cert-file: signs clients' */
    int tls_auth_clients;           /* --tls-auth-clients: CONFIG_TLS_AUTH_* */
    /* --tls-peers yes|no: TLS on the peer port too, with a certificate
     * required both ways (default: yes when --tls-cert-file is given). */
    bool tls_peers;
    bool tls_peers_given;
    /* Authentication (docs/security.md). */
    bool auth;       /* --auth yes|no: clients must log in */
    bool auth_given; /* (default: yes with users to bootstrap) */
    char users_file[CONFIG_PATH_MAX]; /* --users-file: bootstrap users */
    uint64_t password_iterations;     /* --password-iterations, 600000 */
    bool tls_cert_user; /* --tls-cert-user: a certificate's name logs in */
    /* --insecure (no value): serve a non-loopback address without TLS and
     * authentication. */
    bool insecure;
    bool reset_term; /* --reset-term (no value): resetterm.h, then exit */
    /* --http HOST:PORT: metrics, health and the status page (http.h);
     * "" when off (--http off). By default 127.0.0.1 and the client port
     * + 200, served if that port is free (http_given false). */
    char http[CONFIG_ADDR_MAX];
    bool http_given;
    bool log_json; /* --log-format json: log lines as JSON objects */
    /* Where raft came from, for messages: "--raft", or how its default
     * was found. */
    const char *raft_from;
};

/* Fills c from argv (flags `--name value` or `--name=value`; `--config
 * FILE` reads `name value` lines, # comments). Returns 0; 1 after printing
 * the help for --help; -1 with a message in err for a bad flag or value. */
int config_parse(struct config *c, int argc, char **argv, char *err,
                 size_t errlen);

/* Whether addr (config_parse_addr's form) is a loopback address:
 * 127.0.0.0/8, ::1, localhost. */
bool config_is_loopback(const char *addr);

/* Splits "host:port" into host (NUL-terminated, at most hostlen) and port.
 * -1 if malformed. */
int config_split_addr(const char *addr, char *host, size_t hostlen, int *port);

/* The host of "host:port" as a certificate names it: without an IPv6
 * address's brackets and zone. -1 if malformed. */
int config_addr_host(const char *addr, char *host, size_t hostlen);

/* Parses an address servers and clients connect to or listen on,
 * "host:port": host a numeric IPv4 or IPv6 address (IPv6 in brackets or
 * not, with an optional %zone) or localhost, port 1 to 65535. The one
 * parser of such addresses: --listen, --raft, --peers, --join,
 * CLUSTER.ADD and the peer transport use it. -1 if malformed. */
int config_parse_addr(const char *addr, struct sockaddr_storage *sa);

/* Whether a and b, both config_parse_addr addresses, name the same address
 * and port (127.0.0.1:7511 and localhost:7511 do). False if either is
 * malformed. */
bool config_same_addr(const char *a, const char *b);

#endif
