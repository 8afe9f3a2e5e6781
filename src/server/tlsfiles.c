/* tlsfiles.c - the TLS contexts that dlockd's options name (tlsfiles.h). */
#include "server/tlsfiles.h"

#include <string.h>

#include "tls/tls.h"

static struct tls_ctx *load(const struct config *cfg, bool server,
                            enum tls_verify verify, char *err, size_t errlen)
{
    struct tls_config tc = {
        .server = server,
        .cert_file = cfg->tls_cert,
        .key_file = cfg->tls_key[0] ? cfg->tls_key : NULL,
        .ca_file = cfg->tls_ca[0] ? cfg->tls_ca : NULL,
        .verify = verify,
    };
    return tls_ctx_new(&tc, err, errlen);
}

struct tls_ctx *tlsfiles_clients(const struct config *cfg, char *err,
                                 size_t errlen)
{
    static const enum tls_verify verify[] = {
        [CONFIG_TLS_AUTH_NO] = TLS_VERIFY_NONE,
        [CONFIG_TLS_AUTH_OPTIONAL] = TLS_VERIFY_OPTIONAL,
        [CONFIG_TLS_AUTH_YES] = TLS_VERIFY_REQUIRED};
    return load(cfg, true, verify[cfg->tls_auth_clients], err, errlen);
}

int tlsfiles_peers(const struct config *cfg, struct tls_ctx **accept,
                   struct tls_ctx **connect, char *err, size_t errlen)
{
    *accept = *connect = NULL;
    if (!cfg->tls_peers)
        return 0;
    *accept = load(cfg, true, TLS_VERIFY_REQUIRED, err, errlen);
    if (*accept == NULL)
        return -1;
    *connect = load(cfg, false, TLS_VERIFY_REQUIRED, err, errlen);
    if (*connect == NULL) {
        tls_ctx_free(*accept);
        *accept = NULL;
        return -1;
    }
    return 0;
}
