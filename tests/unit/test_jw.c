#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/jw.h"

static void structure_and_commas(void **state)
{
    (void)state;
    char buf[256];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    jw_kv_str(&w, "a", "x\"y\\z\n\x01");
    jw_kv_int(&w, "b", -42);
    jw_key(&w, "c");
    jw_arr_begin(&w);
    jw_float(&w, 3.3f, 4);
    jw_float(&w, -0.25f, 3);
    jw_bool(&w, true);
    jw_null(&w);
    jw_arr_end(&w);
    jw_key(&w, "d");
    jw_obj_begin(&w);
    jw_obj_end(&w);
    jw_kv_uint(&w, "e", 18446744073709551615ull);
    jw_obj_end(&w);
    int n = jw_finish(&w);
    assert_true(n > 0);
    assert_string_equal(buf, "{\"a\":\"x\\\"y\\\\z\\n\\u0001\",\"b\":-42,\"c\":[3.3,-0.25,true,null],\"d\":{},"
                             "\"e\":18446744073709551615}");
    assert_int_equal(n, (int)strlen(buf));
}

/* The reference: JSON string escaping as RFC 8259 requires it, byte by byte. */
static size_t ref_escape(const unsigned char *s, size_t n, char *out)
{
    size_t k = 0;
    out[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        const char *simple = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                           : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (simple) {
            memcpy(out + k, simple, 2);
            k += 2;
        } else if (c < 0x20u || c == 0x7Fu) {
            k += (size_t)sprintf(out + k, "\\u%04x", c);
        } else {
            out[k++] = (char)c;
        }
    }
    out[k++] = '"';
    out[k] = '\0';
    return k;
}

/* Every byte value at every position of strings up to three words long (so every lane of the
 * word-at-a-time scan, and the byte loop after it), alone and next to a second special byte,
 * as a value and as a key: the same bytes as the reference escaper. */
static void escaping_matches_reference(void **state)
{
    (void)state;
    unsigned char s[25];
    char got[256], want[256];
    for (size_t n = 1; n <= sizeof s - 1; n++) {
        for (size_t pos = 0; pos < n; pos++) {
            for (unsigned c = 1; c < 256u; c++) {
                for (unsigned variant = 0; variant < 3u; variant++) {
                    memset(s, 'a' + (int)(n % 26u), n);
                    s[pos] = (unsigned char)c;
                    if (variant == 1u) {
                        s[n - 1u - pos] = 0xC3u; /* a UTF-8 lead byte elsewhere: passes through */
                    } else if (variant == 2u) {
                        s[(pos + 3u) % n] = '"';
                    }
                    s[n] = 0;
                    jw_t w;
                    jw_init(&w, got, sizeof got);
                    jw_strn(&w, (const char *)s, n);
                    int len = jw_finish(&w);
                    size_t wl = ref_escape(s, n, want);
                    assert_int_equal(len, (int)wl);
                    assert_memory_equal(got, want, wl);
                    jw_init(&w, got, sizeof got);
                    jw_obj_begin(&w);
                    jw_kv_null(&w, (const char *)s);
                    jw_obj_end(&w);
                    len = jw_finish(&w);
                    assert_int_equal(len, (int)wl + 7);
                    assert_memory_equal(got + 1, want, wl);
                }
            }
        }
    }
}

static void floats(void **state)
{
    (void)state;
    struct {
        double v;
        unsigned d;
        const char *want;
    } cases[] = {
        {53.219, 2, "53.22"}, {0.0, 3, "0"},       {-0.0004, 3, "0"},   {1.5, 0, "2"},
        {100.0, 2, "100"},    {3.2999999, 3, "3.3"}, {-12.05, 1, "-12.1"}, {1e20, 1, "null"},
        {NAN, 2, "null"},     {INFINITY, 2, "null"}, {0.000001, 6, "0.000001"}, {123456.789, 9, "123456.789"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        jw_t w;
        jw_init(&w, buf, sizeof buf);
        jw_double(&w, cases[i].v, cases[i].d);
        assert_true(jw_finish(&w) >= 0);
        assert_string_equal(buf, cases[i].want);
    }
}

static void overflow_is_reported(void **state)
{
    (void)state;
    char buf[8];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    jw_kv_str(&w, "long", "value that does not fit");
    jw_obj_end(&w);
    assert_int_equal(jw_finish(&w), TB_ERR_NOSPACE);
    assert_true(strlen(buf) < sizeof buf);
    /* exactly fitting: 7 chars + NUL */
    jw_init(&w, buf, sizeof buf);
    jw_str(&w, "abcde");
    assert_int_equal(jw_finish(&w), 7);
    assert_string_equal(buf, "\"abcde\"");
}

static void misuse_is_reported(void **state)
{
    (void)state;
    char buf[64];
    jw_t w;
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    jw_int(&w, 1); /* value without key */
    jw_obj_end(&w);
    assert_int_equal(jw_finish(&w), TB_ERR_FORMAT);

    jw_init(&w, buf, sizeof buf);
    jw_arr_begin(&w);
    assert_int_equal(jw_finish(&w), TB_ERR_FORMAT); /* unclosed */

    jw_init(&w, buf, sizeof buf);
    jw_arr_begin(&w);
    jw_obj_end(&w); /* mismatched */
    assert_int_equal(jw_finish(&w), TB_ERR_FORMAT);

    jw_init(&w, buf, sizeof buf);
    for (int i = 0; i < 20; i++) {
        jw_arr_begin(&w);
    }
    assert_int_equal(jw_finish(&w), TB_ERR_FORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(structure_and_commas),
        cmocka_unit_test(floats),
        cmocka_unit_test(escaping_matches_reference),
        cmocka_unit_test(overflow_is_reported),
        cmocka_unit_test(misuse_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
