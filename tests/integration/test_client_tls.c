/* test_client_tls.c - libdlock over TLS (docs/security.md) against a
 * 3-server dlockd cluster with TLS on both ports, its certificates made for
 * the test (tls_pki.h), given to the library through the environment
 * (DLOCK_TLS_CA, DLOCK_TLS_CERT, DLOCK_TLS_KEY) as dlock_options leave them:
 * a session kept alive by the keeper across a leader kill, a watch, and
 * certificates refused at once with DLOCK_ETLS. */
#include <pthread.h>

#include "client_test.h"
#include "tls_pki.h"

static struct ct_cluster cl;
static struct tls_pki pki;

static void tls_cluster(void)
{
    CHECK(tls_pki_make(&pki) == 0);
    const char *args[] = {"--tls-cert-file",
                          pki.server_cert,
                          "--tls-key-file",
                          pki.server_key,
                          "--tls-ca-cert-file",
                          pki.ca,
                          NULL};
    setenv("DLOCK_TLS_CA", pki.ca, 1);
    setenv("DLOCK_TLS_CERT", pki.client_cert, 1);
    setenv("DLOCK_TLS_KEY", pki.client_key, 1);
    ct_cluster_start_args(&cl, 3, args);
}

/* The keeper's keepalives, the calls and a watch go over TLS; the
 * leader's kill changes nothing for the holder. */
TEST_TIMEOUT(tls, a_lock_over_tls_survives_a_leader_kill, 120)
{
    tls_cluster();
    struct dlock_client *c = ct_client(&cl, 5000);
    ct_hold_across_leader_kill(&cl, c, "over-tls", NULL);
    dlock_client_free(c);
    ct_stop(&cl);
    tls_pki_remove(&pki);
}

/* A client with options o opens no session: DLOCK_ETLS, saying why. */
static void refused(const struct dlock_options *o, const char *why)
{
    struct dlock_client *c;
    struct dlock_session *s;
    CHECK_EQ(dlock_client_new(o, &c), 0);
    CHECK_EQ(dlock_session_open(c, 5000, 0, &s), DLOCK_ETLS);
    CHECK_MSG(strstr(dlock_errmsg(c), why) != NULL, "'%s' lacks '%s'",
              dlock_errmsg(c), why);
    dlock_client_free(c);
}

/* What a client does with certificates that do not fit: DLOCK_ETLS at
 * once (not after the timeout of retries), with the reason. */
TEST_TIMEOUT(tls, certificates_that_do_not_fit, 120)
{
    tls_cluster();
    struct dlock_client *ok = ct_client(&cl, 5000);
    dlock_client_free(ok);
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = cl.addrs;
    o.timeout_ms = 60000; /* a retry until the timeout would end otherwise */
    struct dlock_client *c;
    /* A CA that did not sign the servers. */
    o.tls_ca = pki.other_ca;
    refused(&o, "certificate");
    /* No certificate of its own, where the servers require one. */
    unsetenv("DLOCK_TLS_CERT");
    unsetenv("DLOCK_TLS_KEY");
    o.tls_ca = pki.ca;
    refused(&o, "certificate required");
    /* A certificate another CA signed. */
    o.tls_cert = pki.other_cert;
    o.tls_key = pki.other_key;
    refused(&o, "alert");
    /* Files that do not load: no client, and why. */
    o.tls_ca = "/nonexistent/ca.crt";
    c = NULL;
    CHECK_EQ(dlock_client_new(&o, &c), DLOCK_ETLS);
    CHECK(c == NULL);
    CHECK_MSG(strstr(dlock_errmsg(NULL), "/nonexistent/ca.crt") != NULL, "%s",
              dlock_errmsg(NULL));
    /* A certificate without a CA. */
    o.tls_ca = NULL;
    unsetenv("DLOCK_TLS_CA");
    CHECK_EQ(dlock_client_new(&o, &c), DLOCK_ETLS);
    ct_stop(&cl);
    tls_pki_remove(&pki);
}
