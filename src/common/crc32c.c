/* crc32c.c - CRC32C (Castagnoli): hardware when available, else a table. */
#include "common/crc32c.h"

#include <pthread.h>
#include <string.h>

/* The reflected Castagnoli polynomial 0x1EDC6F41. */
#define POLY 0x82F63B78u

static uint32_t table[256];
static bool use_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        table[i] = c;
    }
    use_hw = crc32c_has_hw();
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    pthread_once(&once, init);
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = (crc >> 8) ^ table[(crc ^ p[i]) & 0xff];
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

bool crc32c_has_hw(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

/* Eight bytes per instruction; memcpy makes the loads safe at any
 * alignment (the compiler turns it into one mov). */
__attribute__((target("sse4.2"))) uint32_t
crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    for (; len > 0; p++, len--)
        c32 = __builtin_ia32_crc32qi(c32, *p);
    return ~c32;
}

#else

bool crc32c_has_hw(void)
{
    return false;
}

uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    return crc32c_sw(crc, buf, len);
}

#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&once, init);
    if (use_hw)
        return crc32c_hw(crc, buf, len);
    return crc32c_sw(crc, buf, len);
}
