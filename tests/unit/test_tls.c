/* test_tls.c - TLS over memory (src/tls): a client engine and a server
 * engine joined by buffers, with certificates made for the test. */
#include <stdint.h>

#include "harness.h"
#include "tls/tls.h"
#include "tls_pki.h"

static struct tls_pki pki;

static void pki_up(void)
{
    CHECK(tls_pki_make(&pki) == 0);
}

static struct tls_ctx *server_ctx(enum tls_verify verify)
{
    char err[256];
    struct tls_config cfg = {.server = true,
                             .cert_file = pki.server_cert,
                             .key_file = pki.server_key,
                             .ca_file = pki.ca,
                             .verify = verify};
    struct tls_ctx *ctx = tls_ctx_new(&cfg, err, sizeof err);
    CHECK_MSG(ctx != NULL, "server context: %s", err);
    return ctx;
}

static struct tls_ctx *client_ctx(const char *ca, const char *cert,
                                  const char *key)
{
    char err[256];
    struct tls_config cfg = {.cert_file = cert, .key_file = key, .ca_file = ca};
    struct tls_ctx *ctx = tls_ctx_new(&cfg, err, sizeof err);
    CHECK_MSG(ctx != NULL, "client context: %s", err);
    return ctx;
}

/* A server engine and a client engine, each of its own context. */
struct pair {
    struct tls_ctx *sc, *cc;
    struct tls *s, *c;
};

static void pair_open(struct pair *p, enum tls_verify verify, const char *ca,
                      const char *cert, const char *key, const char *host)
{
    p->sc = server_ctx(verify);
    p->cc = client_ctx(ca, cert, key);
    p->s = tls_new(p->sc, NULL);
    p->c = tls_new(p->cc, host);
    CHECK(p->s != NULL && p->c != NULL);
}

static void pair_close(struct pair *p)
{
    tls_free(p->c);
    tls_free(p->s);
    tls_ctx_free(p->cc);
    tls_ctx_free(p->sc);
}

/* Moves what one engine has to send into the other, plaintext into
 * plain. The other's tls_recv result. */
static int move(struct tls *from, struct tls *to, struct buf *plain)
{
    struct buf wire = {0};
    CHECK(tls_take(from, &wire) == 0);
    int rc = tls_recv(to, wire.data, wire.len, plain);
    buf_close(&wire);
    return rc;
}

/* Runs the handshake to its end or to a failure: the first failing
 * side's result (0 when both are ready). Plaintext that the client sent
 * before its end goes to got (NULL: there must be none). */
static int handshake_got(struct tls *c, struct tls *s, struct buf *got)
{
    struct buf plain = {0};
    for (int i = 0; i < 10 && !(tls_ready(c) && tls_ready(s)); i++) {
        int rc = move(c, s, &plain);
        if (rc == TLS_OK)
            rc = move(s, c, &plain);
        if (rc != TLS_OK) {
            buf_close(&plain);
            return rc;
        }
    }
    if (got != NULL)
        buf_append(got, plain.data, plain.len);
    else
        CHECK_EQ(plain.len, 0);
    buf_close(&plain);
    return tls_ready(c) && tls_ready(s) ? 0 : -2;
}

static int handshake(struct tls *c, struct tls *s)
{
    return handshake_got(c, s, NULL);
}

/* A pair whose handshake is done. */
static void pair_ready(struct pair *p, enum tls_verify verify, const char *cert,
                       const char *key, const char *host)
{
    pair_open(p, verify, pki.ca, cert, key, host);
    CHECK_EQ(handshake(p->c, p->s), 0);
}

TEST(tls, a_handshake_then_bytes_both_ways)
{
    pki_up();
    struct pair p;
    pair_open(&p, TLS_VERIFY_NONE, pki.ca, NULL, NULL, "127.0.0.1");
    struct tls *s = p.s, *c = p.c;
    /* Sent before the handshake: waits, and goes out after it. */
    CHECK(tls_send(c, "*1\r\n$4\r\nPING\r\n", 14) == 0);
    struct buf plain = {0};
    CHECK_EQ(handshake_got(c, s, &plain), 0);
    char desc[128];
    tls_describe(s, desc, sizeof desc);
    CHECK_MSG(strncmp(desc, "TLSv1.3 ", 8) == 0, "%s", desc);
    CHECK_EQ(move(c, s, &plain), TLS_OK);
    CHECK_EQ(plain.len, 14);
    CHECK(memcmp(plain.data, "*1\r\n$4\r\nPING\r\n", 14) == 0);
    /* Idle engines give their buffers back, and take them again. */
    tls_idle(s);
    tls_idle(c);
    /* A megabyte back, in records, arrives whole and in order. */
    size_t big = 1u << 20;
    char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 7 + 3);
    CHECK(tls_send(s, data, big) == 0);
    CHECK(tls_pending(s) > big);
    buf_clear(&plain);
    CHECK_EQ(move(s, c, &plain), TLS_OK);
    CHECK_EQ(plain.len, big);
    CHECK(memcmp(plain.data, data, big) == 0);
    CHECK(!tls_peer_name(s, desc, sizeof desc)); /* no client certificate */
    free(data);
    buf_close(&plain);
    pair_close(&p);
    tls_pki_remove(&pki);
}

TEST(tls, a_client_certificate_names_its_holder)
{
    pki_up();
    struct pair p;
    pair_ready(&p, TLS_VERIFY_REQUIRED, pki.client_cert, pki.client_key,
               "localhost");
    struct tls *s = p.s, *c = p.c;
    char name[64];
    CHECK(tls_peer_name(s, name, sizeof name));
    CHECK(strcmp(name, "alice") == 0);
    /* The client's view of the server. */
    CHECK(tls_peer_name(c, name, sizeof name));
    CHECK(strcmp(name, "server") == 0);
    pair_close(&p);
    tls_pki_remove(&pki);
}

/* Each case: the handshake fails, on the side that must refuse, saying
 * why. */
static void refused(enum tls_verify verify, const char *ca, const char *cert,
                    const char *key, const char *host, const char *why)
{
    struct pair p;
    pair_open(&p, verify, ca, cert, key, host);
    struct tls *s = p.s, *c = p.c;
    CHECK_EQ(handshake(c, s), TLS_FAILED);
    const char *e = tls_error(s)[0] != '\0' ? tls_error(s) : tls_error(c);
    CHECK_MSG(strstr(e, why) != NULL, "'%s' lacks '%s'", e, why);
    CHECK(!tls_ready(s));
    pair_close(&p);
}

TEST(tls, what_is_refused)
{
    pki_up();
    /* A client without a certificate, where one is required. */
    refused(TLS_VERIFY_REQUIRED, pki.ca, NULL, NULL, "127.0.0.1",
            "certificate");
    /* A client certificate from a CA the server does not know, where one
     * is required and where one is optional. */
    refused(TLS_VERIFY_REQUIRED, pki.ca, pki.other_cert, pki.other_key,
            "127.0.0.1", "certificate");
    refused(TLS_VERIFY_OPTIONAL, pki.ca, pki.other_cert, pki.other_key,
            "127.0.0.1", "certificate");
    /* A server that the client's CA did not sign. */
    refused(TLS_VERIFY_NONE, pki.other_ca, NULL, NULL, "127.0.0.1",
            "certificate");
    /* A server certificate for another name. */
    refused(TLS_VERIFY_NONE, pki.ca, NULL, NULL, "10.1.2.3", "certificate");
    refused(TLS_VERIFY_NONE, pki.ca, NULL, NULL, "db.example", "certificate");
    tls_pki_remove(&pki);
}

TEST(tls, an_optional_certificate_may_be_missing)
{
    pki_up();
    struct pair p;
    pair_ready(&p, TLS_VERIFY_OPTIONAL, NULL, NULL, "127.0.0.1");
    char name[64];
    CHECK(!tls_peer_name(p.s, name, sizeof name));
    pair_close(&p);
    tls_pki_remove(&pki);
}

TEST(tls, garbage_fails_the_engine_and_nothing_more)
{
    pki_up();
    struct pair p;
    pair_open(&p, TLS_VERIFY_NONE, pki.ca, NULL, NULL, "127.0.0.1");
    struct tls *s = p.s, *c = p.c;
    struct buf plain = {0};
    /* What a plain RESP client sends to a TLS port. */
    CHECK_EQ(tls_recv(s, "*1\r\n$4\r\nPING\r\n", 14, &plain), TLS_FAILED);
    CHECK(tls_error(s)[0] != '\0');
    CHECK_EQ(plain.len, 0);
    /* And it stays failed. */
    CHECK_EQ(tls_recv(s, "x", 1, &plain), TLS_FAILED);
    CHECK_EQ(tls_send(s, "x", 1), TLS_FAILED);
    tls_free(s);
    /* A record header that announces more than a record may hold. */
    s = tls_new(p.sc, NULL);
    const unsigned char huge[] = {0x16, 0x03, 0x03, 0xff, 0xff};
    CHECK_EQ(tls_recv(s, huge, sizeof huge, &plain), TLS_FAILED);
    tls_free(s);
    /* Byte by byte, a handshake still completes. */
    s = p.s = tls_new(p.sc, NULL);
    for (int round = 0; round < 6 && !(tls_ready(c) && tls_ready(s)); round++) {
        struct tls *from = round % 2 ? s : c, *to = round % 2 ? c : s;
        struct buf wire = {0};
        CHECK(tls_take(from, &wire) == 0);
        for (size_t i = 0; i < wire.len; i++)
            CHECK_EQ(tls_recv(to, wire.data + i, 1, &plain), TLS_OK);
        buf_close(&wire);
    }
    CHECK(tls_ready(c) && tls_ready(s));
    pair_close(&p);
    buf_close(&plain);
    tls_pki_remove(&pki);
}

TEST(tls, a_close_notify_ends_the_session)
{
    pki_up();
    struct pair p;
    pair_ready(&p, TLS_VERIFY_NONE, NULL, NULL, "127.0.0.1");
    struct tls *s = p.s, *c = p.c;
    struct buf plain = {0};
    /* What was sent before the close arrives, then the end. */
    CHECK(tls_send(c, "bye", 3) == 0);
    tls_shutdown(c);
    CHECK_EQ(move(c, s, &plain), TLS_CLOSED);
    CHECK_EQ(plain.len, 3);
    pair_close(&p);
    buf_close(&plain);
    tls_pki_remove(&pki);
}

TEST(tls, bad_files_are_named)
{
    pki_up();
    char err[512];
    struct tls_config cfg = {.server = true,
                             .cert_file = "/nonexistent/cert.pem",
                             .key_file = pki.server_key};
    CHECK(tls_ctx_new(&cfg, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "/nonexistent/cert.pem") != NULL, "%s", err);
    /* A key that is not the certificate's. */
    cfg.cert_file = pki.server_cert;
    cfg.key_file = pki.client_key;
    CHECK(tls_ctx_new(&cfg, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, pki.client_key) != NULL &&
                  strstr(err, "mismatch") != NULL,
              "%s", err);
    /* A certificate file that is not PEM. */
    cfg.cert_file = "/etc/hostname";
    CHECK(tls_ctx_new(&cfg, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "certificate /etc/hostname") != NULL, "%s", err);
    /* Checking clients needs a CA. */
    cfg.cert_file = pki.server_cert;
    cfg.key_file = pki.server_key;
    cfg.verify = TLS_VERIFY_REQUIRED;
    CHECK(tls_ctx_new(&cfg, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "CA file") != NULL, "%s", err);
    /* A server needs a certificate. */
    cfg.cert_file = NULL;
    cfg.verify = TLS_VERIFY_NONE;
    CHECK(tls_ctx_new(&cfg, err, sizeof err) == NULL);
    tls_pki_remove(&pki);
}
