#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
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
        cmocka_unit_test(overflow_is_reported),
        cmocka_unit_test(misuse_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
