/* tls_pki.h - certificates for tests, made in a temporary folder with
 * OpenSSL's API (EC P-256, SHA-256): a CA; a server certificate it signs
 * for 127.0.0.1 and localhost; a client certificate it signs (common name
 * "alice"); and a second CA with a certificate of its own, which the first
 * CA does not know. The system tests make theirs with the openssl command,
 * as docs/security.md does. */
#ifndef DLOCK_TLS_PKI_H
#define DLOCK_TLS_PKI_H

#define TLS_PKI_PATH 160

struct tls_pki {
    char dir[64];
    char ca[TLS_PKI_PATH];          /* the CA's certificate */
    char server_cert[TLS_PKI_PATH]; /* CN server, SAN IP 127.0.0.1, DNS
                                       localhost */
    char server_key[TLS_PKI_PATH];
    char client_cert[TLS_PKI_PATH]; /* CN alice */
    char client_key[TLS_PKI_PATH];
    char other_ca[TLS_PKI_PATH];   /* a CA the first does not know */
    char other_cert[TLS_PKI_PATH]; /* CN mallory, signed by other_ca, for
                                      127.0.0.1 and localhost */
    char other_key[TLS_PKI_PATH];
};

/* Makes them; 0, or -1 with a message on stderr. */
int tls_pki_make(struct tls_pki *p);
/* Removes the files and the folder. */
void tls_pki_remove(struct tls_pki *p);

#endif
