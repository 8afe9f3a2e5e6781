/* fuzz_tls.c - libFuzzer target for TLS over memory (src/tls/tls.c), as
 * dlockd's ports run it: bytes from the network, whatever they are, must
 * fail the engine or be taken, never crash it, hang it or make it give
 * plaintext before its handshake is done.
 *
 * The first byte picks where the input lands; the second cuts it into
 * pieces of that many bytes (0: whole):
 *   0  a server's first bytes from a client (a ClientHello, or not)
 *   1  a server's bytes after a real client's ClientHello
 *   2  a client's bytes from a server, after its ClientHello
 *   3  a server's records after a real handshake (client certificate
 *      required and shown)
 * The certificates are made once, in a temporary folder (tls_pki.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"
#include "tls_pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tls_pki pki;
static struct tls_ctx *server_ctx, *client_ctx;

static void remove_pki(void)
{
    tls_ctx_free(server_ctx);
    tls_ctx_free(client_ctx);
    tls_pki_remove(&pki);
}

static void setup(void)
{
    if (server_ctx != NULL)
        return;
    char err[256];
    if (tls_pki_make(&pki) != 0)
        abort();
    struct tls_config s = {.server = true,
                           .cert_file = pki.server_cert,
                           .key_file = pki.server_key,
                           .ca_file = pki.ca,
                           .verify = TLS_VERIFY_REQUIRED};
    struct tls_config c = {.cert_file = pki.client_cert,
                           .key_file = pki.client_key,
                           .ca_file = pki.ca};
    server_ctx = tls_ctx_new(&s, err, sizeof err);
    client_ctx = tls_ctx_new(&c, err, sizeof err);
    if (server_ctx == NULL || client_ctx == NULL)
        abort();
    atexit(remove_pki);
}

/* Moves from's output into to; to's tls_recv result. */
static int move(struct tls *from, struct tls *to, struct buf *plain)
{
    struct buf wire = {0};
    if (tls_take(from, &wire) != 0)
        abort();
    int rc = tls_recv(to, wire.data, wire.len, plain);
    buf_close(&wire);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 2)
        return 0;
    int mode = data[0] % 4;
    size_t piece = data[1];
    data += 2;
    size -= 2;
    struct tls *s = tls_new(server_ctx, NULL);
    struct tls *c = mode != 0 ? tls_new(client_ctx, "127.0.0.1") : NULL;
    struct tls *target = mode == 2 ? c : s;
    struct buf plain = {0};
    if (s == NULL || (mode != 0 && c == NULL))
        abort();
    if (mode == 1 || mode == 2) {
        if (move(c, s, &plain) != TLS_OK) /* the ClientHello */
            abort();
    }
    if (mode == 3) {
        for (int i = 0; i < 6 && !(tls_ready(c) && tls_ready(s)); i++)
            if (move(c, s, &plain) != TLS_OK || move(s, c, &plain) != TLS_OK)
                abort();
        if (!tls_ready(c) || !tls_ready(s))
            abort();
    }
    bool ready_before = tls_ready(target);
    /* A heap copy of each piece, so that AddressSanitizer sees a read past
     * it. */
    for (size_t off = 0; off < size;) {
        size_t n = piece == 0 || size - off < piece ? size - off : piece;
        uint8_t *copy = malloc(n);
        if (copy == NULL)
            abort();
        memcpy(copy, data + off, n);
        int rc = tls_recv(target, copy, n, &plain);
        free(copy);
        off += n;
        if (rc == TLS_FAILED && tls_error(target)[0] == '\0')
            abort(); /* a failure always says why */
        if (rc != TLS_OK)
            break;
    }
    /* Plaintext comes only through a finished handshake: random bytes
     * cannot finish one with certificates required. */
    if (plain.len > 0 && !ready_before && !tls_ready(target))
        abort();
    struct buf out = {0};
    if (tls_take(target, &out) != 0)
        abort();
    buf_close(&out);
    buf_close(&plain);
    tls_free(s);
    tls_free(c);
    return 0;
}
