/* test_hello.c - the opening of a peer connection (src/raft/hello.c): a
 * hello of any version round-trips, is incomplete at every shorter
 * prefix, and what is not a hello is refused; a refusal round-trips and is
 * cut at its bound. */
#include "harness.h"

#include "raft/hello.h"

static struct hello sample(uint8_t version)
{
    struct hello h = {.version = version, .from = 3, .to = 1};
    if (version >= 2) {
        h.dir_id = 0xa1b2c3d4e5f60718ull;
        h.nonce = 0x1122334455667788ull;
    }
    if (version >= 3)
        h.cluster_id = 0xc1c2c3c4c5c6c7c8ull;
    snprintf(h.client_addr, sizeof h.client_addr, "127.0.0.1:7413");
    snprintf(h.raft_addr, sizeof h.raft_addr, "[::1]:7513");
    return h;
}

/* Every version round-trips; every shorter prefix asks for more. */
TEST(hello, round_trip_and_prefixes)
{
    for (uint8_t v = 1; v <= HELLO_VERSION; v++) {
        struct hello h = sample(v), d;
        uint8_t buf[HELLO_MAX_SIZE + 8];
        size_t n = hello_encode(&h, buf, sizeof buf);
        CHECK(n > 0 && n <= HELLO_MAX_SIZE);
        CHECK_EQ(hello_encode(&h, buf, n - 1), (long long)n); /* too small */
        buf[n] = 0xd1; /* a frame follows: not part of the hello */
        CHECK_EQ(hello_decode(&d, buf, n + 1), (long long)n);
        CHECK_EQ(d.version, v);
        CHECK_U64(d.from, 3);
        CHECK_U64(d.to, 1);
        CHECK_U64(d.dir_id, h.dir_id);
        CHECK_U64(d.nonce, h.nonce);
        CHECK_U64(d.cluster_id, h.cluster_id);
        CHECK_STR(d.client_addr, "127.0.0.1:7413");
        CHECK_STR(d.raft_addr, "[::1]:7513");
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(hello_decode(&d, buf, i), 0);
    }
}

/* Bad magic (as soon as a byte shows it), an unknown version, ids of 0 in
 * version 2, an address too long or holding a NUL are not hellos. */
TEST(hello, malformed_refused)
{
    struct hello h = sample(2), d;
    uint8_t buf[HELLO_MAX_SIZE];
    size_t n = hello_encode(&h, buf, sizeof buf);
    buf[1] = 'X';
    CHECK_EQ(hello_decode(&d, buf, 2), -1);
    buf[1] = 'L';
    buf[4] = HELLO_VERSION + 1;
    CHECK_EQ(hello_decode(&d, buf, n), -1);
    buf[4] = 0;
    CHECK_EQ(hello_decode(&d, buf, n), -1);
    buf[4] = 2;
    h.nonce = 0;
    CHECK_EQ(hello_encode(&h, buf, sizeof buf), 0);
    n = hello_encode(&(struct hello){.version = 2, .dir_id = 1, .nonce = 1},
                     buf, sizeof buf);
    CHECK(n > 0);
    memset(buf + 21, 0, 8); /* dir_id 0 */
    CHECK_EQ(hello_decode(&d, buf, n), -1);
    /* An address of HELLO_ADDR_MAX bytes or more. */
    n = hello_encode(&(struct hello){.version = 1}, buf, sizeof buf);
    buf[21] = HELLO_ADDR_MAX & 0xff;
    buf[22] = HELLO_ADDR_MAX >> 8;
    CHECK_EQ(hello_decode(&d, buf, sizeof buf), -1);
    /* An address with a NUL in it (it would not re-encode the same). */
    struct hello one = sample(1);
    n = hello_encode(&one, buf, sizeof buf);
    buf[21 + 2 + 3] = '\0';
    CHECK_EQ(hello_decode(&d, buf, n), -1);
    memset(h.client_addr, 'a', sizeof h.client_addr);
    h.nonce = 1;
    CHECK_EQ(hello_encode(&h, buf, sizeof buf), 0);
}

/* A refusal round-trips, asks for more while incomplete, and is cut at
 * HELLO_REFUSAL_MAX bytes; anything else is not one. */
TEST(hello, refusal)
{
    uint8_t buf[HELLO_REFUSAL_MAX_SIZE];
    char why[HELLO_REFUSAL_MAX + 1];
    size_t n = hello_refusal_encode("two servers run with id 3", buf);
    CHECK_EQ(hello_refusal_decode(buf, n, why), (long long)n);
    CHECK_STR(why, "two servers run with id 3");
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(hello_refusal_decode(buf, i, why), 0);
    char longer[HELLO_REFUSAL_MAX + 100];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    n = hello_refusal_encode(longer, buf);
    CHECK_EQ(n, HELLO_REFUSAL_MAX_SIZE);
    CHECK_EQ(hello_refusal_decode(buf, n, why), (long long)n);
    CHECK_EQ(strlen(why), HELLO_REFUSAL_MAX);
    CHECK_EQ(hello_refusal_decode((const uint8_t *)"DLKP", 4, why), -1);
    buf[4] = 0xff;
    buf[5] = 0xff;
    CHECK_EQ(hello_refusal_decode(buf, n, why), -1);
}

/* Version 3 carries the cluster id after the nonce; 0 (a server that does
 * not know its cluster yet) is a valid one, and version 2 reads as 0. */
TEST(hello, cluster_id)
{
    struct hello h = sample(3), d;
    uint8_t buf[HELLO_MAX_SIZE];
    size_t n = hello_encode(&h, buf, sizeof buf);
    CHECK_U64(n, 5 + 40 + 2 + 14 + 2 + 10);
    CHECK(memcmp(buf + 37, "\xc8\xc7\xc6\xc5\xc4\xc3\xc2\xc1", 8) == 0);
    h.cluster_id = 0;
    n = hello_encode(&h, buf, sizeof buf);
    CHECK_EQ(hello_decode(&d, buf, n), (long long)n);
    CHECK_U64(d.cluster_id, 0);
    h = sample(2);
    n = hello_encode(&h, buf, sizeof buf);
    CHECK_EQ(hello_decode(&d, buf, n), (long long)n);
    CHECK_U64(d.cluster_id, 0);
    CHECK_EQ(strncmp(HELLO_OTHER_CLUSTER ": x", HELLO_OTHER_CLUSTER,
                     strlen(HELLO_OTHER_CLUSTER)),
             0);
}
