/* Hexadecimal digits in text protocols (slcan, candump lines, URL query escapes): the one
 * parser they share. Header-only: nothing is linked into a build that does not use it. */
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

#endif
