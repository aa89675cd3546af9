/* utf8: the byte-range check against a decoding reference, exhaustively up to three bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "app/utf8.h"

/* Reference: decode, then reject overlong forms, surrogates and code points above U+10FFFF. */
static size_t ref_len(const uint8_t *s, size_t n)
{
    if (n == 0u) {
        return 0;
    }
    uint8_t c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80u) {
        return 1;
    } else if ((c & 0xE0u) == 0xC0u) {
        len = 2, cp = c & 0x1Fu, min = 0x80u;
    } else if ((c & 0xF0u) == 0xE0u) {
        len = 3, cp = c & 0x0Fu, min = 0x800u;
    } else if ((c & 0xF8u) == 0xF0u) {
        len = 4, cp = c & 0x07u, min = 0x10000u;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0u) != 0x80u) {
            return 0;
        }
        cp = (cp << 6) | (s[k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) {
        return 0;
    }
    return len;
}

static void every_sequence_up_to_three_bytes(void **state)
{
    (void)state;
    uint8_t s[3];
    for (uint32_t v = 0; v < (1u << 24); v++) {
        s[0] = (uint8_t)(v >> 16);
        s[1] = (uint8_t)(v >> 8);
        s[2] = (uint8_t)v;
        for (size_t n = 1; n <= 3; n++) {
            if (utf8_seq_len(s, n) != ref_len(s, n)) {
                fail_msg("%02X %02X %02X n=%zu: %zu (reference %zu)", s[0], s[1], s[2], n, utf8_seq_len(s, n),
                         ref_len(s, n));
            }
        }
    }
}

static void four_byte_edges(void **state)
{
    (void)state;
    static const uint8_t good[][4] = {{0xF0, 0x90, 0x80, 0x80}, {0xF4, 0x8F, 0xBF, 0xBF}, {0xF3, 0xBF, 0xBF, 0xBF}};
    static const uint8_t bad[][4] = {{0xF0, 0x8F, 0xBF, 0xBF}, {0xF4, 0x90, 0x80, 0x80}, {0xF5, 0x80, 0x80, 0x80},
                                     {0xF0, 0x90, 0x80, 0x7F}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(utf8_seq_len(good[i], 4), 4);
        assert_int_equal(utf8_seq_len(good[i], 3), 0); /* truncated */
        assert_true(utf8_valid(good[i], 4));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(utf8_seq_len(bad[i], 4), ref_len(bad[i], 4));
        assert_int_equal(utf8_seq_len(bad[i], 4), 0);
        assert_false(utf8_valid(bad[i], 4));
    }
    assert_true(utf8_valid("", 0));
    assert_int_equal(utf8_seq_len((const uint8_t *)"", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_sequence_up_to_three_bytes),
        cmocka_unit_test(four_byte_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
