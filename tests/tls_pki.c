/* tls_pki.c - certificates for tests (tls_pki.h). */
#include "tls_pki.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct made {
    EVP_PKEY *key;
    X509 *cert;
};

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return false;
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for cn, signed by issuer (NULL: by itself, a CA). */
static bool make(struct made *m, const char *cn, const struct made *issuer,
                 long serial)
{
    m->key = EVP_EC_gen("P-256");
    m->cert = X509_new();
    if (m->key == NULL || m->cert == NULL)
        return false;
    X509 *c = m->cert;
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600L * 24 * 30);
    X509_set_pubkey(c, m->key);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509 *icert = issuer != NULL ? issuer->cert : c;
    X509_set_issuer_name(c, X509_get_subject_name(icert));
    bool ok;
    if (issuer == NULL)
        ok = add_ext(c, icert, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(c, icert, NID_key_usage, "critical,keyCertSign,cRLSign");
    else
        ok = add_ext(c, icert, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(c, icert, NID_ext_key_usage, "serverAuth,clientAuth") &&
             add_ext(c, icert, NID_subject_alt_name,
                     "IP:127.0.0.1,DNS:localhost");
    return ok && X509_sign(c, issuer != NULL ? issuer->key : m->key,
                           EVP_sha256()) > 0;
}

static bool save(const struct made *m, char *cert_path, char *key_path,
                 const char *dir, const char *stem)
{
    snprintf(cert_path, TLS_PKI_PATH, "%s/%s.crt", dir, stem);
    FILE *f = fopen(cert_path, "w");
    bool ok = f != NULL && PEM_write_X509(f, m->cert) == 1;
    if (f != NULL)
        ok &= fclose(f) == 0;
    if (key_path == NULL || !ok)
        return ok;
    snprintf(key_path, TLS_PKI_PATH, "%s/%s.key", dir, stem);
    f = fopen(key_path, "w");
    ok = f != NULL &&
         PEM_write_PrivateKey(f, m->key, NULL, NULL, 0, NULL, NULL) == 1;
    if (f != NULL)
        ok &= fclose(f) == 0;
    return ok;
}

static void drop(struct made *m)
{
    EVP_PKEY_free(m->key);
    X509_free(m->cert);
}

int tls_pki_make(struct tls_pki *p)
{
    memset(p, 0, sizeof *p);
    strcpy(p->dir, "/tmp/dlock-pki-XXXXXX");
    if (mkdtemp(p->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    struct made ca = {0}, srv = {0}, cli = {0}, oca = {0}, oth = {0};
    bool ok = make(&ca, "dlock test CA", NULL, 1) &&
              make(&srv, "server", &ca, 2) && make(&cli, "alice", &ca, 3) &&
              make(&oca, "another CA", NULL, 4) &&
              make(&oth, "mallory", &oca, 5) &&
              save(&ca, p->ca, NULL, p->dir, "ca") &&
              save(&srv, p->server_cert, p->server_key, p->dir, "server") &&
              save(&cli, p->client_cert, p->client_key, p->dir, "alice") &&
              save(&oca, p->other_ca, NULL, p->dir, "other-ca") &&
              save(&oth, p->other_cert, p->other_key, p->dir, "mallory");
    drop(&ca);
    drop(&srv);
    drop(&cli);
    drop(&oca);
    drop(&oth);
    if (!ok) {
        fprintf(stderr, "tls_pki_make failed\n");
        ERR_print_errors_fp(stderr);
        tls_pki_remove(p);
        return -1;
    }
    return 0;
}

void tls_pki_remove(struct tls_pki *p)
{
    const char *files[] = {p->ca,          p->server_cert, p->server_key,
                           p->client_cert, p->client_key,  p->other_ca,
                           p->other_cert,  p->other_key};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (files[i][0] != '\0')
            unlink(files[i]);
    rmdir(p->dir);
}
