/* tls.h - TLS over memory: OpenSSL's engine between two byte streams, with
 * no socket of its own.
 *
 * The caller moves the bytes: what arrives from the network goes in with
 * tls_recv, which gives back the plaintext; plaintext to send goes in with
 * tls_send, and what must go out (records, handshake messages, alerts) is
 * taken with tls_take. So the same engine serves dlockd's libuv loop (one
 * thread, no blocking) and libdlock's blocking sockets, and the tests and
 * fuzz targets drive it with buffers only.
 *
 * Its own memory comes from alloc.h, as the client library's must;
 * OpenSSL's from OpenSSL's allocator. TLS 1.2 and 1.3 only. A context holds the
 * certificate, key and CA of one side, loaded from PEM files; loading them
 * again makes a new context (tls_ctx_new), and an engine keeps the context it
 * was made with, so replacing a server's context (SIGHUP) drops no connection.
 */
#ifndef DLOCK_TLS_H
#define DLOCK_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* Whether the other side must show a certificate that the CA signed. */
enum tls_verify {
    TLS_VERIFY_NONE,     /* not asked for (a server: clients need none) */
    TLS_VERIFY_OPTIONAL, /* asked for; checked if shown */
    TLS_VERIFY_REQUIRED  /* refused without one */
};

struct tls_config {
    bool server;
    const char *cert_file;  /* PEM, the certificate then its chain; a client
                               without one: NULL */
    const char *key_file;   /* PEM, its private key (NULL: cert_file's) */
    const char *ca_file;    /* PEM, the CAs that sign the other side's
                               certificates; NULL: the system's (a client) */
    enum tls_verify verify; /* a client always verifies the server */
};

struct tls_ctx; /* opaque: OpenSSL's SSL_CTX */
struct tls;     /* opaque: one connection's engine */

/* Loads a context. NULL with a message in err (which file, what is wrong:
 * missing, not PEM, key not the certificate's, CA unreadable). */
struct tls_ctx *tls_ctx_new(const struct tls_config *cfg, char *err,
                            size_t errlen);
/* Lets go of ctx; engines made from it keep it until they are freed.
 * Accepts NULL. */
void tls_ctx_free(struct tls_ctx *ctx);

/* An engine for one connection. A client's checks the server's
 * certificate against host (a DNS name or an IP address; NULL: the CA's
 * signature only) and sends host as the server name; its first flight is
 * ready for tls_take at once. NULL if out of memory. */
struct tls *tls_new(struct tls_ctx *ctx, const char *host);
void tls_free(struct tls *t);

/* Result of tls_recv. */
#define TLS_OK 0
#define TLS_CLOSED 1 /* the other side ended the session (close_notify) */
#define TLS_FAILED                                                             \
    (-1) /* tls_error says why; send what tls_take gives (an                   \
            alert), then close */

/* Feeds n bytes received from the network; appends the plaintext they
 * complete to plain. Drives the handshake: afterwards tls_take may have
 * bytes to send even when plain got none. TLS_OK, TLS_CLOSED or
 * TLS_FAILED (also when out of memory). */
int tls_recv(struct tls *t, const void *data, size_t n, struct buf *plain);

/* Takes n bytes of plaintext to send. Before the handshake is done they
 * wait in the engine and go out with it. 0, or TLS_FAILED. */
int tls_send(struct tls *t, const void *data, size_t n);

/* Appends what must be sent to the network to out and drops it from the
 * engine. 0, or TLS_FAILED when out of memory (nothing is dropped then). */
int tls_take(struct tls *t, struct buf *out);

/* Queues a close_notify alert (for tls_take): this side sends nothing
 * more. */
void tls_shutdown(struct tls *t);

/* Gives back the engine's record buffers (about 34 KiB) while it holds
 * nothing in them: for a connection that has been idle a while. A busy
 * engine keeps them, since freeing and allocating them at every record
 * costs a fifth of a busy server's throughput. */
void tls_idle(struct tls *t);

/* Bytes tls_take would give. */
size_t tls_pending(const struct tls *t);

/* Whether the handshake is done (the other side's certificate, if any, was
 * accepted). */
bool tls_ready(const struct tls *t);

/* Why the engine failed: OpenSSL's reason, or the certificate check's. */
const char *tls_error(const struct tls *t);

/* The common name of the other side's certificate, if it showed one that
 * was accepted, in name (NUL-terminated, at most len); false otherwise. */
bool tls_peer_name(const struct tls *t, char *name, size_t len);

/* Whether the other side's certificate was accepted and may serve as a
 * server's (its extended key usage, if it has one, includes serverAuth):
 * the peer port takes only servers, not clients the same CA signed. */
bool tls_peer_is_server(const struct tls *t);

/* The protocol version and cipher agreed, for the log ("TLSv1.3
 * TLS_AES_256_GCM_SHA384"), in out. */
void tls_describe(const struct tls *t, char *out, size_t len);

#endif
