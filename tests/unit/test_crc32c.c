/* test_crc32c.c - CRC32C (src/common/crc32c.c): known vectors, chaining, and
 * agreement of the hardware and software versions. */
#include "harness.h"

#include "common/crc32c.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint8_t rnd8(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)rng_state;
}

/* crc32c() gives the published check values (RFC 3720 B.4 and the usual
 * "123456789" check). */
TEST(crc32c, known_vectors)
{
    uint8_t buf[32];
    CHECK_U64(crc32c(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, sizeof buf);
    CHECK_U64(crc32c(0, buf, sizeof buf), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    CHECK_U64(crc32c(0, buf, sizeof buf), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    CHECK_U64(crc32c(0, buf, sizeof buf), 0x46DD794Eu);
    CHECK_U64(crc32c(0, "", 0), 0);
}

/* The software table gives the same check values, so that a machine without
 * SSE4.2 reads the same files. */
TEST(crc32c, software_vectors)
{
    uint8_t zero[32] = {0};
    CHECK_U64(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    CHECK_U64(crc32c_sw(0, zero, sizeof zero), 0x8A9136AAu);
}

/* Computing a CRC in pieces gives the CRC of the whole, at every split. */
TEST(crc32c, chaining)
{
    uint8_t buf[200];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = rnd8();
    uint32_t whole = crc32c(0, buf, sizeof buf);
    for (size_t k = 0; k <= sizeof buf; k++) {
        CHECK_U64(crc32c(crc32c(0, buf, k), buf + k, sizeof buf - k), whole);
        CHECK_U64(crc32c_sw(crc32c_sw(0, buf, k), buf + k, sizeof buf - k),
                  whole);
    }
}

/* The hardware and software versions agree on random buffers of every
 * length 0..300 at every alignment 0..7 (skipped without SSE4.2). */
TEST(crc32c, hardware_matches_software)
{
    uint8_t buf[320];
    if (!crc32c_has_hw())
        SKIP("no SSE4.2 on this machine: the hardware path is not tested");
    for (size_t len = 0; len <= 300; len++) {
        for (size_t align = 0; align < 8; align++) {
            for (size_t i = 0; i < len; i++)
                buf[align + i] = rnd8();
            uint32_t seed = len % 3 == 0 ? 0 : (uint32_t)rnd8() << 24 | len;
            CHECK_U64(crc32c_hw(seed, buf + align, len),
                      crc32c_sw(seed, buf + align, len));
        }
    }
}

/* A single flipped bit anywhere changes the CRC. */
TEST(crc32c, detects_bit_flips)
{
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = rnd8();
    uint32_t good = crc32c(0, buf, sizeof buf);
    for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(crc32c(0, buf, sizeof buf) != good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
