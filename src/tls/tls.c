/* tls.c - TLS over memory (tls.h): an SSL object between two memory BIOs. */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Plaintext is read from the engine this much at a time: one record. */
#define READ_STEP 16384

struct tls_ctx {
    SSL_CTX *ssl;
};

struct tls {
    SSL *ssl;
    BIO *in;         /* from the network, to OpenSSL */
    BIO *out;        /* from OpenSSL, to the network */
    struct buf wait; /* plaintext sent before the handshake was done */
    bool failed;
    char err[256];
};

/* OpenSSL's last reason, after what, in err. */
static void openssl_reason(const char *what, char *err, size_t errlen)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    if (r == NULL && e != 0) {
        static char code[64];
        snprintf(code, sizeof code, "error %lu", e);
        r = code;
    }
    snprintf(err, errlen, "%s%s%s", what, r != NULL ? ": " : "",
             r != NULL ? r : "");
    ERR_clear_error();
}

/* Whether path can be read; if not, why in err. */
static bool readable(const char *what, const char *path, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read the %s %s: %s", what, path,
                 strerror(errno));
        return false;
    }
    fclose(f);
    return true;
}

static int load_files(SSL_CTX *ssl, const struct tls_config *cfg, char *err,
                      size_t errlen)
{
    char what[600];
    const char *key_path =
        cfg->key_file != NULL ? cfg->key_file : cfg->cert_file;
    if ((cfg->cert_file != NULL &&
         (!readable("certificate", cfg->cert_file, err, errlen) ||
          !readable("private key", key_path, err, errlen))) ||
        (cfg->ca_file != NULL &&
         !readable("CA certificates", cfg->ca_file, err, errlen)))
        return -1;
    if (cfg->cert_file != NULL) {
        const char *key =
            cfg->key_file != NULL ? cfg->key_file : cfg->cert_file;
        if (SSL_CTX_use_certificate_chain_file(ssl, cfg->cert_file) != 1) {
            snprintf(what, sizeof what, "certificate %s", cfg->cert_file);
            openssl_reason(what, err, errlen);
            return -1;
        }
        if (SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
            snprintf(what, sizeof what, "private key %s", key);
            openssl_reason(what, err, errlen);
            return -1;
        }
        if (SSL_CTX_check_private_key(ssl) != 1) {
            snprintf(what, sizeof what, "private key %s is not %s's", key,
                     cfg->cert_file);
            openssl_reason(what, err, errlen);
            return -1;
        }
    } else if (cfg->server) {
        snprintf(err, errlen, "a TLS server needs a certificate and its key");
        return -1;
    }
    if (cfg->ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ssl, cfg->ca_file, NULL) != 1) {
            snprintf(what, sizeof what, "CA certificates %s", cfg->ca_file);
            openssl_reason(what, err, errlen);
            return -1;
        }
        if (cfg->server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
            if (names == NULL) {
                snprintf(what, sizeof what, "CA certificates %s", cfg->ca_file);
                openssl_reason(what, err, errlen);
                return -1;
            }
            SSL_CTX_set_client_CA_list(ssl, names);
        }
    } else if (cfg->server && cfg->verify != TLS_VERIFY_NONE) {
        snprintf(err, errlen,
                 "checking the other side's certificates needs a CA file");
        return -1;
    } else if (!cfg->server && SSL_CTX_set_default_verify_paths(ssl) != 1) {
        openssl_reason("the system's CA certificates", err, errlen);
        return -1;
    }
    return 0;
}

struct tls_ctx *tls_ctx_new(const struct tls_config *cfg, char *err,
                            size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ssl =
        SSL_CTX_new(cfg->server ? TLS_server_method() : TLS_client_method());
    if (ssl == NULL) {
        openssl_reason("TLS context", err, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    int mode = SSL_VERIFY_NONE;
    if (!cfg->server || cfg->verify == TLS_VERIFY_REQUIRED)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    else if (cfg->verify == TLS_VERIFY_OPTIONAL)
        mode = SSL_VERIFY_PEER;
    SSL_CTX_set_verify(ssl, mode, NULL);
    if (cfg->server)
        SSL_CTX_set_session_id_context(ssl, (const unsigned char *)"dlock", 5);
    if (load_files(ssl, cfg, err, errlen) != 0) {
        SSL_CTX_free(ssl);
        return NULL;
    }
    struct tls_ctx *ctx = alloc_malloc(sizeof *ctx);
    if (ctx == NULL) {
        SSL_CTX_free(ssl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx->ssl = ssl;
    return ctx;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl);
    alloc_free(ctx);
}

/* The engine failed in the call that returned rc: records why. */
static int fail(struct tls *t, int rc)
{
    int e = SSL_get_error(t->ssl, rc);
    long v = SSL_get_verify_result(t->ssl);
    t->failed = true;
    if (v != X509_V_OK)
        snprintf(t->err, sizeof t->err, "certificate refused: %s",
                 X509_verify_cert_error_string(v));
    else if (e == SSL_ERROR_SSL)
        openssl_reason("TLS", t->err, sizeof t->err);
    else
        snprintf(t->err, sizeof t->err, "TLS: error %d", e);
    ERR_clear_error();
    return TLS_FAILED;
}

static int oom(struct tls *t)
{
    t->failed = true;
    snprintf(t->err, sizeof t->err, "TLS: out of memory");
    return TLS_FAILED;
}

struct tls *tls_new(struct tls_ctx *ctx, const char *host)
{
    struct tls *t = alloc_malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof *t);
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        alloc_free(t);
        ERR_clear_error();
        return NULL;
    }
    /* An empty input asks for more, it is not the end. */
    BIO_set_mem_eof_return(t->in, -1);
    SSL_set_bio(t->ssl, t->in, t->out);
    if (SSL_is_server(t->ssl)) {
        SSL_set_accept_state(t->ssl);
        return t;
    }
    SSL_set_connect_state(t->ssl);
    if (host != NULL && host[0] != '\0') {
        unsigned char ip[16];
        bool is_ip = inet_pton(AF_INET, host, ip) == 1 ||
                     inet_pton(AF_INET6, host, ip) == 1;
        X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
        bool ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1
                        : SSL_set_tlsext_host_name(t->ssl, host) == 1 &&
                              SSL_set1_host(t->ssl, host) == 1;
        if (!ok) {
            openssl_reason("TLS: the server's name", t->err, sizeof t->err);
            t->failed = true;
        }
    }
    if (!t->failed) {
        int rc = SSL_do_handshake(t->ssl);
        if (rc <= 0 && SSL_get_error(t->ssl, rc) != SSL_ERROR_WANT_READ)
            fail(t, rc);
    }
    return t;
}

void tls_free(struct tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* and its BIOs */
    buf_close(&t->wait);
    alloc_free(t);
}

/* Encrypts n bytes of plaintext into the output. */
static int write_all(struct tls *t, const char *p, size_t n)
{
    while (n > 0) {
        int step = n > INT_MAX ? INT_MAX : (int)n;
        int rc = SSL_write(t->ssl, p, step);
        if (rc <= 0)
            return fail(t, rc);
        p += rc;
        n -= (size_t)rc;
    }
    return 0;
}

int tls_recv(struct tls *t, const void *data, size_t n, struct buf *plain)
{
    if (t->failed)
        return TLS_FAILED;
    ERR_clear_error();
    const char *p = data;
    while (n > 0) {
        int step = n > INT_MAX ? INT_MAX : (int)n;
        int rc = BIO_write(t->in, p, step);
        if (rc <= 0)
            return oom(t);
        p += rc;
        n -= (size_t)rc;
    }
    if (!SSL_is_init_finished(t->ssl)) {
        int rc = SSL_do_handshake(t->ssl);
        if (rc <= 0) {
            int e = SSL_get_error(t->ssl, rc);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return TLS_OK;
            return fail(t, rc);
        }
        if (t->wait.len > 0) {
            if (write_all(t, t->wait.data, t->wait.len) != 0)
                return TLS_FAILED;
            buf_close(&t->wait);
        }
    }
    for (;;) {
        if (buf_reserve(plain, READ_STEP) != 0)
            return oom(t);
        int rc = SSL_read(t->ssl, plain->data + plain->len, READ_STEP);
        if (rc > 0) {
            plain->len += (size_t)rc;
            plain->data[plain->len] = '\0';
            continue;
        }
        int e = SSL_get_error(t->ssl, rc);
        if (e == SSL_ERROR_WANT_READ)
            return TLS_OK;
        if (e == SSL_ERROR_ZERO_RETURN)
            return TLS_CLOSED;
        return fail(t, rc);
    }
}

int tls_send(struct tls *t, const void *data, size_t n)
{
    if (t->failed)
        return TLS_FAILED;
    if (!SSL_is_init_finished(t->ssl))
        return buf_append(&t->wait, data, n) == 0 ? 0 : oom(t);
    ERR_clear_error();
    return write_all(t, data, n);
}

void tls_shutdown(struct tls *t)
{
    if (!t->failed && SSL_is_init_finished(t->ssl)) {
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
}

void tls_idle(struct tls *t)
{
    /* Frees them only if they hold nothing. */
    (void)SSL_free_buffers(t->ssl);
}

size_t tls_pending(const struct tls *t)
{
    return BIO_ctrl_pending(t->out);
}

int tls_take(struct tls *t, struct buf *out)
{
    size_t n = BIO_ctrl_pending(t->out);
    if (n == 0)
        return 0;
    if (buf_reserve(out, n) != 0)
        return oom(t);
    int rc =
        BIO_read(t->out, out->data + out->len, n > INT_MAX ? INT_MAX : (int)n);
    if (rc > 0) {
        out->len += (size_t)rc;
        out->data[out->len] = '\0';
    }
    return 0;
}

bool tls_ready(const struct tls *t)
{
    return !t->failed && SSL_is_init_finished(t->ssl);
}

const char *tls_error(const struct tls *t)
{
    return t->failed ? t->err : "";
}

bool tls_peer_name(const struct tls *t, char *name, size_t len)
{
    if (!tls_ready(t) || SSL_get_verify_result(t->ssl) != X509_V_OK)
        return false;
    X509 *cert = SSL_get1_peer_certificate(t->ssl);
    if (cert == NULL)
        return false;
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
                                      NID_commonName, name, (int)len);
    X509_free(cert);
    /* Refused: none, cut short, or a NUL inside. */
    return n > 0 && (size_t)n < len && strlen(name) == (size_t)n;
}

bool tls_peer_is_server(const struct tls *t)
{
    if (!tls_ready(t) || SSL_get_verify_result(t->ssl) != X509_V_OK)
        return false;
    X509 *cert = SSL_get1_peer_certificate(t->ssl);
    if (cert == NULL)
        return false;
    /* Extended key usage, when present, must include serverAuth. */
    bool ok = (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0 ||
              (X509_get_extended_key_usage(cert) & XKU_SSL_SERVER) != 0;
    X509_free(cert);
    return ok;
}

void tls_describe(const struct tls *t, char *out, size_t len)
{
    snprintf(out, len, "%s %s", SSL_get_version(t->ssl),
             SSL_get_cipher_name(t->ssl));
}
