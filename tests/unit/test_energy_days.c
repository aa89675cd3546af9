/* Unit tests of the daily energy buckets (app/energy_days.h): day rollover, clock steps forwards
 * and backwards, no wall clock, a restart through the blob, counters reset, the calendar helpers
 * and every corruption of the blob refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "app/energy_days.h"
#include "core/tb_err.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) <= 1e-6)

static int32_t D(int32_t y, unsigned m, unsigned d)
{
    return energy_days_from_civil(y, m, d);
}

static void calendar(void **state)
{
    (void)state;
    assert_int_equal(D(1970, 1, 1), 0);
    assert_int_equal(D(2000, 3, 1), 11017);
    assert_int_equal(D(2026, 12, 7), 20794);
    assert_int_equal(D(1969, 12, 31), -1);
    char b[16];
    for (int32_t day = -800; day < 30000; day += 37) {
        int32_t y;
        unsigned m, d;
        energy_days_to_civil(day, &y, &m, &d);
        assert_int_equal(D(y, m, d), day);
    }
    energy_days_date(D(2024, 2, 29), b, sizeof b);
    assert_string_equal(b, "2024-02-29");
    energy_days_date(ENERGY_DAYS_NO_CLOCK, b, sizeof b);
    assert_string_equal(b, "");
}

static void rollover(void **state)
{
    (void)state;
    energy_days_t s;
    energy_days_init(&s);
    int32_t d0 = D(2026, 12, 7);
    energy_days_update(&s, d0, 1000.0, 500.0); /* the base: nothing counted */
    assert_int_equal(s.count, 1);
    NEAR(s.d[0].in_wh, 0.0);
    energy_days_update(&s, d0, 1100.0, 520.0);
    energy_days_update(&s, d0 + 1, 1150.0, 530.0); /* midnight: the growth goes to the new day */
    assert_int_equal(s.count, 2);
    assert_int_equal(s.d[0].day, d0 + 1);
    NEAR(s.d[0].in_wh, 50.0);
    NEAR(s.d[0].out_wh, 10.0);
    NEAR(s.d[1].in_wh, 100.0);
    NEAR(s.d[1].out_wh, 20.0);
    double in, out;
    energy_days_sum(&s, d0 - 5, d0 + 1, &in, &out);
    NEAR(in, 150.0);
    NEAR(out, 30.0);
    /* ten more days, 10 Wh each: 8 buckets kept, the oldest fall off */
    double tin = 1150.0;
    for (int32_t k = 2; k <= 11; k++) {
        energy_days_update(&s, d0 + k, tin, 530.0);
        tin += 10.0;
        energy_days_update(&s, d0 + k, tin, 530.0);
    }
    assert_int_equal(s.count, ENERGY_DAYS_N);
    assert_int_equal(s.d[0].day, d0 + 11);
    assert_int_equal(s.d[ENERGY_DAYS_N - 1].day, d0 + 4);
    energy_days_sum(&s, d0 + 5, d0 + 11, &in, &out); /* the last 7 days */
    NEAR(in, 70.0);
    assert_int_equal(s.clock_steps_back, 0);
}

static void clock_forward(void **state)
{
    (void)state;
    energy_days_t s;
    energy_days_init(&s);
    int32_t d0 = D(2026, 1, 1);
    energy_days_update(&s, d0, 0.0, 0.0);
    energy_days_update(&s, d0, 10.0, 0.0);
    energy_days_update(&s, d0 + 3, 15.0, 0.0); /* the clock jumps three days */
    assert_int_equal(s.count, 2);
    assert_int_equal(s.d[0].day, d0 + 3);
    NEAR(s.d[0].in_wh, 5.0);
    double in, out;
    energy_days_sum(&s, d0 + 1, d0 + 2, &in, &out); /* the skipped days: nothing */
    NEAR(in, 0.0);
    energy_days_update(&s, d0 + 400, 20.0, 0.0); /* a year ahead: one new bucket */
    assert_int_equal(s.d[0].day, d0 + 400);
    NEAR(s.d[0].in_wh, 5.0);
}

static void clock_backward(void **state)
{
    (void)state;
    energy_days_t s;
    energy_days_init(&s);
    int32_t d0 = D(2026, 6, 10);
    energy_days_update(&s, d0, 0.0, 0.0);
    energy_days_update(&s, d0, 10.0, 1.0);
    energy_days_update(&s, d0 + 1, 30.0, 2.0);
    energy_days_update(&s, d0 + 2, 60.0, 3.0); /* buckets d0: 10, d0+1: 20, d0+2: 30 */
    energy_days_update(&s, d0 + 2, 60.0, 3.0);
    /* a step back within the day changes nothing */
    energy_days_update(&s, d0 + 2, 61.0, 3.0);
    assert_int_equal(s.clock_steps_back, 0);
    /* back to d0+1: d0+2 is folded into d0+1, nothing lost or counted twice */
    energy_days_update(&s, d0 + 1, 65.0, 3.0);
    assert_int_equal(s.clock_steps_back, 1);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.d[0].day, d0 + 1);
    NEAR(s.d[0].in_wh, 20.0 + 31.0 + 4.0);
    assert_int_equal(s.d[1].day, d0);
    /* back before every bucket (a clock reset to an old date): all become that
     * day */
    energy_days_update(&s, D(2020, 1, 1), 66.0, 3.0);
    assert_int_equal(s.count, 1);
    NEAR(s.d[0].in_wh, 66.0);
    NEAR(s.d[0].out_wh, 3.0);
    assert_int_equal(s.clock_steps_back, 2);
    /* and forwards again from there */
    energy_days_update(&s, d0 + 2, 70.0, 3.0);
    assert_int_equal(s.count, 2);
    NEAR(s.d[0].in_wh, 4.0);
}

static void no_clock(void **state)
{
    (void)state;
    energy_days_t s;
    energy_days_init(&s);
    energy_days_update(&s, ENERGY_DAYS_NO_CLOCK, 100.0, 50.0);
    energy_days_update(&s, ENERGY_DAYS_NO_CLOCK, 130.0, 60.0);
    assert_false(s.clock_known);
    assert_int_equal(s.today, ENERGY_DAYS_NO_CLOCK);
    assert_int_equal(s.count, 0);
    NEAR(s.undated_in_wh, 30.0);
    NEAR(s.undated_out_wh, 10.0);
    /* the clock becomes known (SNTP): days from then on, the undated energy stays
     * apart */
    int32_t d0 = D(2026, 12, 7);
    energy_days_update(&s, d0, 140.0, 60.0);
    assert_true(s.clock_known);
    assert_int_equal(s.today, d0);
    NEAR(s.d[0].in_wh, 10.0);
    NEAR(s.undated_in_wh, 30.0);
    /* and lost again */
    energy_days_update(&s, ENERGY_DAYS_NO_CLOCK, 145.0, 60.0);
    assert_false(s.clock_known);
    NEAR(s.undated_in_wh, 35.0);
    NEAR(s.d[0].in_wh, 10.0);
}

static void restart_and_reset(void **state)
{
    (void)state;
    energy_days_t s;
    energy_days_init(&s);
    int32_t d0 = D(2026, 12, 7);
    energy_days_update(&s, ENERGY_DAYS_NO_CLOCK, 0.0, 0.0);
    energy_days_update(&s, ENERGY_DAYS_NO_CLOCK, 2.5, 0.0);
    energy_days_update(&s, d0 - 1, 2.5, 0.0);
    energy_days_update(&s, d0 - 1, 102.5, 40.0);
    energy_days_update(&s, d0, 152.5, 41.0);
    uint8_t blob[ENERGY_DAYS_BLOB_SIZE + 4];
    assert_int_equal(energy_days_serialize(&s, blob, ENERGY_DAYS_BLOB_SIZE - 1), TB_ERR_NOSPACE);
    assert_int_equal(energy_days_serialize(&s, blob, sizeof blob), ENERGY_DAYS_BLOB_SIZE);
    /* a restart: the energy counters restore 152.5 / 41.0 Wh; nothing is counted
     * twice */
    energy_days_t r;
    energy_days_init(&r);
    assert_int_equal(energy_days_restore(&r, blob, ENERGY_DAYS_BLOB_SIZE), TB_OK);
    assert_int_equal(r.count, 2);
    NEAR(r.d[0].in_wh, 50.0);
    NEAR(r.d[1].in_wh, 100.0);
    NEAR(r.d[1].out_wh, 40.0);
    NEAR(r.undated_in_wh, 2.5);
    energy_days_update(&r, d0, 152.5, 41.0);
    energy_days_update(&r, d0, 160.0, 41.0);
    NEAR(r.d[0].in_wh, 57.5);
    /* counters reset (lost): the new, lower totals are the base, nothing is
     * subtracted */
    energy_days_update(&r, d0, 5.0, 0.0);
    NEAR(r.d[0].in_wh, 57.5);
    energy_days_update(&r, d0, 7.0, 0.0);
    NEAR(r.d[0].in_wh, 59.5);
    /* non-finite totals are ignored */
    energy_days_update(&r, d0, NAN, 0.0);
    energy_days_update(&r, d0, 8.0, 0.0);
    NEAR(r.d[0].in_wh, 60.5);
}

static void blob_refused(void **state)
{
    (void)state;
    energy_days_t s, r;
    energy_days_init(&s);
    energy_days_update(&s, 100, 0.0, 0.0);
    energy_days_update(&s, 100, 1.0, 0.0);
    energy_days_update(&s, 101, 2.0, 0.0);
    uint8_t blob[ENERGY_DAYS_BLOB_SIZE];
    assert_int_equal(energy_days_serialize(&s, blob, sizeof blob), ENERGY_DAYS_BLOB_SIZE);
    energy_days_init(&r);
    energy_days_update(&r, 7, 0.0, 0.0);
    energy_days_t before = r;
    uint8_t bad[ENERGY_DAYS_BLOB_SIZE];
    for (size_t i = 0; i < sizeof blob; i++) { /* every single flipped bit */
        for (unsigned bit = 0; bit < 8; bit++) {
            memcpy(bad, blob, sizeof bad);
            bad[i] ^= (uint8_t)(1u << bit);
            assert_int_not_equal(energy_days_restore(&r, bad, sizeof bad), TB_OK);
            assert_memory_equal(&r, &before, sizeof r);
        }
    }
    assert_int_equal(energy_days_restore(&r, blob, sizeof blob - 1), TB_ERR_FORMAT);
    assert_int_equal(energy_days_restore(&r, blob, 2), TB_ERR_FORMAT);
    memcpy(bad, blob, sizeof bad);
    bad[2] = 2;
    assert_int_equal(energy_days_restore(&r, bad, sizeof bad), TB_ERR_UNSUPPORTED);
    assert_memory_equal(&r, &before, sizeof r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(calendar),       cmocka_unit_test(rollover), cmocka_unit_test(clock_forward),
        cmocka_unit_test(clock_backward), cmocka_unit_test(no_clock), cmocka_unit_test(restart_and_reset),
        cmocka_unit_test(blob_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
