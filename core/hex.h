/* Hexadecimal digits in text protocols (slcan, candump lines, URL query escapes) and in the
 * JSON views of CAN frames and serial numbers: the one parser and the one (upper-case) printer
 * they share. Header-only: nothing is linked into a build that does not use it. */
#ifndef TB_HEX_H
#define TB_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1. */
static inline int tb_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Exactly n hex digits at s (1 <= n <= 8) into *v; false, *v untouched, if n is out of range
 * or any character is not a hex digit. */
static inline bool tb_hex_u32(const char *s, size_t n, uint32_t *v)
{
    uint32_t x = 0;
    if (n == 0u || n > 8u) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        int h = tb_hex_digit(s[i]);
        if (h < 0) {
            return false;
        }
        x = (x << 4) | (uint32_t)h;
    }
    *v = x;
    return true;
}

/* The upper-case hex digit of v's low four bits. */
static inline char tb_hex_char(unsigned v)
{
    return "0123456789ABCDEF"[v & 0xFu];
}

/* v as exactly n upper-case hex digits (1 <= n <= 8; the high digits first, leading zeros kept)
 * at dst, no NUL; returns n. */
static inline size_t tb_hex_put(char *dst, uint32_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = tb_hex_char((unsigned)(v >> (4u * (n - 1u - i))));
    }
    return n;
}

/* n bytes as 2n upper-case hex digits at dst ("01AB..."), no NUL; returns 2n. */
static inline size_t tb_hex_bytes(char *dst, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tb_hex_put(dst + 2u * i, d[i], 2u);
    }
    return 2u * n;
}

#endif
