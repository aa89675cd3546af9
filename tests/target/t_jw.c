/* The JSON writer on a 32-bit soft-float target: the same expectations as the host's
 * tests/unit/test_jw.c (fixed-point formatting goes through 64-bit integer and double helpers
 * from libgcc here, natively on the host). */
#include <math.h>
#include <string.h>

#include "core/jw.h"
#include "tests.h"

void t_jw_output(void)
{
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
    jw_kv_uint(&w, "e", 18446744073709551615ull);
    jw_kv_int(&w, "f", INT64_MIN);
    jw_obj_end(&w);
    int n = jw_finish(&w);
    TT_STREQ(buf, "{\"a\":\"x\\\"y\\\\z\\n\\u0001\",\"b\":-42,\"c\":[3.3,-0.25,true,null],"
                  "\"e\":18446744073709551615,\"f\":-9223372036854775808}");
    TT_EQ(n, (int)strlen(buf));

    static const struct {
        double v;
        unsigned d;
        const char *want;
    } cases[] = {
        {53.219, 2, "53.22"},     {0.0, 3, "0"},         {-0.0004, 3, "0"},          {1.5, 0, "2"},
        {100.0, 2, "100"},        {3.2999999, 3, "3.3"}, {-12.05, 1, "-12.1"},       {1e20, 1, "null"},
        {NAN, 2, "null"},         {INFINITY, 2, "null"}, {0.000001, 6, "0.000001"},  {123456.789, 9, "123456.789"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char b[64];
        tt_context(cases[i].want);
        jw_init(&w, b, sizeof b);
        jw_double(&w, cases[i].v, cases[i].d);
        TT_CHECK(jw_finish(&w) >= 0);
        TT_STREQ(b, cases[i].want);
    }
    tt_context(NULL);

    /* a float as the gateway writes cell voltages */
    jw_init(&w, buf, sizeof buf);
    jw_float(&w, 3.3045f * 14.0f, 3);
    TT_CHECK(jw_finish(&w) > 0);
    TT_STREQ(buf, "46.263");

    /* overflow is reported, the buffer stays terminated */
    char small[8];
    jw_init(&w, small, sizeof small);
    jw_obj_begin(&w);
    jw_kv_str(&w, "long", "value that does not fit");
    jw_obj_end(&w);
    TT_EQ(jw_finish(&w), TB_ERR_NOSPACE);
    TT_CHECK(strlen(small) < sizeof small);
}
