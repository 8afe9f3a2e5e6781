/* crc32c.h - CRC32C (Castagnoli), the checksum of the on-disk log and
 * snapshot files: the SSE4.2 instruction when the CPU has it, else a table. */
#ifndef DLOCK_CRC32C_H
#define DLOCK_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns the CRC32C of len bytes at buf, continuing from crc: start with 0;
 * crc32c(crc32c(0, a, n), b, m) is the CRC of a followed by b. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The two implementations behind crc32c(), for tests and benchmarks.
 * crc32c_hw() may only be called when crc32c_has_hw() is true. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool crc32c_has_hw(void);

#endif
