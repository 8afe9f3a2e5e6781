/* hello.c - the peer connection's hello and refusal (hello.h). */
#include "raft/hello.h"

#include <string.h>

#include "common/le.h"

#define HEAD 21 /* magic 4, version 1, from 8, to 8 */
#define IDS 16  /* dir_id 8, nonce 8 */
#define CLUSTER 8

static size_t fixed_of(uint8_t version)
{
    return HEAD + (version >= 2 ? IDS : 0) + (version >= 3 ? CLUSTER : 0);
}

size_t hello_encode(const struct hello *h, uint8_t *buf, size_t cap)
{
    size_t clen = strnlen(h->client_addr, HELLO_ADDR_MAX);
    size_t rlen = strnlen(h->raft_addr, HELLO_ADDR_MAX);
    if (h->version < 1 || h->version > HELLO_VERSION ||
        clen == HELLO_ADDR_MAX || rlen == HELLO_ADDR_MAX ||
        (h->version >= 2 && (h->dir_id == 0 || h->nonce == 0)))
        return 0;
    size_t fixed = fixed_of(h->version);
    size_t size = fixed + 2 + clen + 2 + rlen;
    if (cap < size)
        return size;
    memcpy(buf, "DLKP", 4);
    buf[4] = h->version;
    le_put64(buf + 5, h->from);
    le_put64(buf + 13, h->to);
    if (h->version >= 2) {
        le_put64(buf + HEAD, h->dir_id);
        le_put64(buf + HEAD + 8, h->nonce);
    }
    if (h->version >= 3)
        le_put64(buf + HEAD + IDS, h->cluster_id);
    le_put16(buf + fixed, (uint16_t)clen);
    memcpy(buf + fixed + 2, h->client_addr, clen);
    le_put16(buf + fixed + 2 + clen, (uint16_t)rlen);
    memcpy(buf + fixed + 2 + clen + 2, h->raft_addr, rlen);
    return size;
}

/* Reads a u16-prefixed string at *off into out; 1 done, 0 incomplete, -1
 * too long or holding a NUL. */
static int read_str(const uint8_t *buf, size_t len, size_t *off, char *out)
{
    if (len < *off + 2)
        return 0;
    size_t n = le_get16(buf + *off);
    if (n >= HELLO_ADDR_MAX)
        return -1;
    if (len < *off + 2 + n)
        return 0;
    if (memchr(buf + *off + 2, '\0', n) != NULL)
        return -1;
    memcpy(out, buf + *off + 2, n);
    out[n] = '\0';
    *off += 2 + n;
    return 1;
}

long hello_decode(struct hello *h, const uint8_t *buf, size_t len)
{
    memset(h, 0, sizeof *h);
    if (len < 5)
        return len > 0 && memcmp(buf, "DLKP", len < 4 ? len : 4) != 0 ? -1 : 0;
    if (memcmp(buf, "DLKP", 4) != 0 || buf[4] < 1 || buf[4] > HELLO_VERSION)
        return -1;
    h->version = buf[4];
    size_t off = fixed_of(h->version);
    if (len < off)
        return 0;
    h->from = le_get64(buf + 5);
    h->to = le_get64(buf + 13);
    if (h->version >= 2) {
        h->dir_id = le_get64(buf + HEAD);
        h->nonce = le_get64(buf + HEAD + 8);
        if (h->dir_id == 0 || h->nonce == 0)
            return -1;
    }
    if (h->version >= 3)
        h->cluster_id = le_get64(buf + HEAD + IDS);
    int rc = read_str(buf, len, &off, h->client_addr);
    if (rc == 1)
        rc = read_str(buf, len, &off, h->raft_addr);
    return rc == 1 ? (long)off : rc;
}

size_t hello_refusal_encode(const char *why, uint8_t *buf)
{
    size_t n = strnlen(why, HELLO_REFUSAL_MAX);
    memcpy(buf, "DLKR", 4);
    le_put16(buf + 4, (uint16_t)n);
    memcpy(buf + 6, why, n);
    return 6 + n;
}

long hello_refusal_decode(const uint8_t *buf, size_t len, char *why)
{
    if (len > 0 && memcmp(buf, "DLKR", len < 4 ? len : 4) != 0)
        return -1;
    if (len < 6)
        return 0;
    size_t n = le_get16(buf + 4);
    if (n > HELLO_REFUSAL_MAX)
        return -1;
    if (len < 6 + n)
        return 0;
    memcpy(why, buf + 6, n);
    why[n] = '\0';
    return (long)(6 + n);
}
