/* utf8: RFC 3629 table 3-7, byte ranges instead of decoding (see utf8.h). */
#include "app/utf8.h"

size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    if (n == 0u) {
        return 0;
    }
    uint8_t c = s[0];
    if (c < 0x80u) {
        return 1;
    }
    size_t len;
    uint8_t lo = 0x80u, hi = 0xBFu;
    if (c >= 0xC2u && c <= 0xDFu) {
        len = 2;
    } else if (c >= 0xE0u && c <= 0xEFu) {
        len = 3;
        if (c == 0xE0u) {
            lo = 0xA0u; /* no overlong 3-byte forms */
        } else if (c == 0xEDu) {
            hi = 0x9Fu; /* no UTF-16 surrogates */
        }
    } else if (c >= 0xF0u && c <= 0xF4u) {
        len = 4;
        if (c == 0xF0u) {
            lo = 0x90u; /* no overlong 4-byte forms */
        } else if (c == 0xF4u) {
            hi = 0x8Fu; /* nothing above U+10FFFF */
        }
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80u || s[i] > 0xBFu) {
            return 0;
        }
    }
    return len;
}

bool utf8_valid(const void *s, size_t n)
{
    const uint8_t *p = s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0u) {
            return false;
        }
        i += k;
    }
    return true;
}
