#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/history.h"

static history_t *g_h;

static history_sample_t obs(float v, float cmin, float cmax)
{
    history_sample_t s = {0, v, -10.0f, 50.0f, cmin, cmax, 25.0f, 55.2f, 50.0f, 100.0f};
    return s;
}

static void averages_and_extremes(void **state)
{
    (void)state;
    history_init(g_h);
    uint32_t t0 = 1800000000u;
    for (uint32_t i = 0; i <= HISTORY_FINE_S; i++) {
        history_sample_t o = obs(50.0f + (float)i, 3.30f - 0.01f * (float)i, 3.30f + 0.01f * (float)i);
        if (i == 3) {
            o.soc_pct = NAN; /* a missing value is skipped, not averaged as 0 */
        }
        history_add(g_h, t0 + i, &o);
    }
    history_sample_t out[8];
    size_t n = history_get(g_h, HISTORY_1H, t0 + HISTORY_FINE_S, out, 8);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].t, t0 + HISTORY_FINE_S);
    /* the bucket [t0, t0+10) holds i = 0..9; the observation at t0+10 opened the next one */
    assert_float_equal(out[0].pack_v, 50.0f + (float)(HISTORY_FINE_S - 1u) / 2.0f, 1e-4);
    assert_float_equal(out[0].cell_min_v, 3.30f - 0.01f * (float)(HISTORY_FINE_S - 1u), 1e-5);
    assert_float_equal(out[0].cell_max_v, 3.30f + 0.01f * (float)(HISTORY_FINE_S - 1u), 1e-5);
    assert_float_equal(out[0].soc_pct, 50.0f, 1e-5);
}

static void ranges_and_wrap(void **state)
{
    (void)state;
    history_init(g_h);
    uint32_t t0 = 1800000000u;
    uint32_t secs = 8u * 24u * 3600u; /* more than the 7 days kept */
    for (uint32_t i = 0; i < secs; i += 5) {
        history_sample_t o = obs(52.0f, 3.3f, 3.31f);
        history_add(g_h, t0 + i, &o);
    }
    static history_sample_t out[HISTORY_COARSE_N + 10];
    uint32_t now = t0 + secs - 5u;
    size_t n1 = history_get(g_h, HISTORY_1H, now, out, HISTORY_COARSE_N + 10);
    size_t n24 = history_get(g_h, HISTORY_24H, now, out, HISTORY_COARSE_N + 10);
    size_t n7 = history_get(g_h, HISTORY_7D, now, out, HISTORY_COARSE_N + 10);
    assert_in_range(n1, 3600 / HISTORY_FINE_S - 2, 3600 / HISTORY_FINE_S + 1);
    assert_in_range(n24, HISTORY_FINE_N - 2, HISTORY_FINE_N);
    assert_in_range(n7, HISTORY_COARSE_N - 2, HISTORY_COARSE_N);
    for (size_t i = 1; i < n7; i++) {
        assert_true(out[i].t > out[i - 1].t); /* oldest first */
    }
    history_range_t r;
    assert_true(history_range_parse("24h", &r));
    assert_int_equal(r, HISTORY_24H);
    assert_false(history_range_parse("2d", &r));
}

int main(void)
{
    g_h = malloc(sizeof *g_h);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(averages_and_extremes),
        cmocka_unit_test(ranges_and_wrap),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_h);
    return rc;
}
