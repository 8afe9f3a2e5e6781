/* tlsfiles.h - the TLS contexts that dlockd's options name
 * (docs/security.md): the client port's, and the peer port's two, one
 * that accepts servers and one that connects to them. Loaded at start and
 * again on SIGHUP. */
#ifndef DLOCK_TLSFILES_H
#define DLOCK_TLSFILES_H

#include <stddef.h>

#include "server/config.h"

struct tls_ctx;

/* The client port's context: --tls-cert-file, --tls-key-file,
 * --tls-ca-cert-file, --tls-auth-clients. NULL with a message in err. */
struct tls_ctx *tlsfiles_clients(const struct config *cfg, char *err,
                                 size_t errlen);

/* The peer port's contexts, with --tls-peers: the same files, a
 * certificate always required of the other side, in both directions. 0
 * with both set (both NULL when the peer port is plain), or -1 with a
 * message in err. */
int tlsfiles_peers(const struct config *cfg, struct tls_ctx **accept,
                   struct tls_ctx **connect, char *err, size_t errlen);

#endif
