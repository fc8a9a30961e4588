/* base/crc32c.h — CRC-32C (Castagnoli), with the SSE4.2 instruction when the
 * CPU has it and a table otherwise; both give the same result. */
#ifndef KEEL_BASE_CRC32C_H
#define KEEL_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (start with 0) over buf: crc32c(crc32c(0,a),b) == crc32c(0,ab).
 * crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
