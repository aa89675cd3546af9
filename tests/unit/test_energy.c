/* Unit tests of the energy counters (core/energy.h): trapezoid exactness on known power profiles,
 * zero-crossing split, gaps, duplicates and bad samples, the save decision, and the blob format
 * (round trip, golden bytes, every corruption refused without touching the state). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/energy.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (double)(tol))

static energy_config_t defcfg(void)
{
    energy_config_t c;
    energy_config_defaults(&c);
    return c;
}

static void constant_power(void **state)
{
    (void)state;
    energy_config_t c = defcfg();
    energy_state_t e;
    energy_init(&e, 0);
    for (uint32_t t = 0; t <= 3600u * 1000u; t += 1000u) {
        energy_sample(&e, &c, t, 50.0f, 10.0f); /* 500 W */
    }
    NEAR(e.charged_wh, 500.0, 1e-9);
    NEAR(e.discharged_wh, 0.0, 1e-12);
    assert_int_equal(e.samples, 3600);
    for (uint32_t t = 3601u * 1000u; t <= 5401u * 1000u; t += 1000u) {
        energy_sample(&e, &c, t, 50.0f, -20.0f); /* -1000 W for 30 min, after one 1 s ramp */
    }
    /* the 1 s between the profiles: linear from +500 to -1000 W, split at its zero crossing */
    double ramp_pos = 0.5 * 500.0 * (1.0 / 3.0) / 3600.0;
    double ramp_neg = 0.5 * 1000.0 * (2.0 / 3.0) / 3600.0;
    NEAR(e.charged_wh, 500.0 + ramp_pos, 1e-9);
    NEAR(e.discharged_wh, 500.0 + ramp_neg, 1e-9);
}

/* time_scale (the demo's simulated battery at 30x): each interval counts scale times; the gap
 * limit stays on the measured time. */
static void time_scale(void **state)
{
    (void)state;
    energy_config_t c = defcfg();
    energy_state_t e;
    energy_init(&e, 0);
    assert_true(e.time_scale <= 0.0); /* real time by default */
    e.time_scale = 30.0;
    for (uint32_t t = 0; t <= 120u * 1000u; t += 1000u) {
        energy_sample(&e, &c, t, 50.0f, 10.0f); /* 500 W for 2 measured minutes = 1 battery hour */
    }
    NEAR(e.charged_wh, 500.0, 1e-9);
    uint32_t gaps = e.gaps;
    energy_sample(&e, &c, 120u * 1000u + (uint32_t)c.max_gap_ms + 1u, 50.0f, 10.0f);
    assert_int_equal(e.gaps, gaps + 1u);
    NEAR(e.charged_wh, 500.0, 1e-9);
}

static void linear_power_is_exact(void **state)
{
    (void)state;
    energy_config_t c = defcfg();
    energy_state_t e;
    energy_init(&e, 0);
    /* current rises linearly 0 -> 20 A at a constant 50 V over one hour: 500 Wh exactly */
    for (uint32_t k = 0; k <= 3600u; k++) {
        energy_sample(&e, &c, k * 1000u, 50.0f, 20.0f * (float)k / 3600.0f);
    }
    NEAR(e.charged_wh, 500.0, 1e-3); /* float samples of the current: 1e-6 relative */
    /* irregular sample spacing does not matter for a linear profile */
    energy_init(&e, 0);
    uint32_t t = 0;
    uint32_t k = 0;
    while (t < 3600u * 1000u) {
        energy_sample(&e, &c, t, 100.0f, 10.0f * (float)t / 3600000.0f);
        t += 100u + (k * 7919u) % 2900u;
        k++;
    }
    energy_sample(&e, &c, 3600u * 1000u, 100.0f, 10.0f);
    NEAR(e.charged_wh, 500.0, 1e-3);
}

static void zero_crossing_split(void **state)
{
    (void)state;
    energy_config_t c = defcfg();
    c.max_gap_ms = 600000;
    energy_state_t e;
    energy_init(&e, 0);
    /* +1000 W to -1000 W over 10 s: 10 s x 1000 W / 2 / 2 = 2500 J each way */
    energy_sample(&e, &c, 0, 50.0f, 20.0f);
    energy_sample(&e, &c, 10000, 50.0f, -20.0f);
    NEAR(e.charged_wh, 2500.0 / 3600.0, 1e-12);
    NEAR(e.discharged_wh, 2500.0 / 3600.0, 1e-12);
    /* -300 W to +100 W over 8 s: crossing at 6 s; 900 J out, 100 J in */
    energy_init(&e, 0);
    energy_sample(&e, &c, 0, 10.0f, -30.0f);
    energy_sample(&e, &c, 8000, 10.0f, 10.0f);
    NEAR(e.discharged_wh, 900.0 / 3600.0, 1e-12);
    NEAR(e.charged_wh, 100.0 / 3600.0, 1e-12);
}

static void gaps_duplicates_and_bad_samples(void **state)
{
    (void)state;
    energy_config_t c = defcfg(); /* max gap 5 s */
    energy_state_t e;
    energy_init(&e, 0);
    energy_sample(&e, &c, 1000, 50.0f, 72.0f); /* 3600 W = 1 Wh per second */
    energy_sample(&e, &c, 2000, 50.0f, 72.0f);
    NEAR(e.charged_wh, 1.0, 1e-12);
    energy_sample(&e, &c, 2000, 50.0f, 72.0f); /* the same snapshot again */
    NEAR(e.charged_wh, 1.0, 1e-12);
    energy_sample(&e, &c, 7001, 50.0f, 72.0f); /* 5.001 s: a stale period, not integrated */
    NEAR(e.charged_wh, 1.0, 1e-12);
    assert_int_equal(e.gaps, 1);
    energy_sample(&e, &c, 12001, 50.0f, 72.0f); /* exactly 5 s: integrated */
    NEAR(e.charged_wh, 6.0, 1e-12);
    energy_sample(&e, &c, 11000, 50.0f, 72.0f); /* time going backwards */
    NEAR(e.charged_wh, 6.0, 1e-12);
    assert_int_equal(e.rejected, 1);
    energy_sample(&e, &c, 12000, 50.0f, NAN);
    assert_int_equal(e.rejected, 2);
    energy_sample(&e, &c, 13000, 50.0f, 72.0f); /* starts afresh after the bad sample */
    energy_sample(&e, &c, 14000, 50.0f, 72.0f);
    NEAR(e.charged_wh, 7.0, 1e-12);
    energy_sample(&e, &c, 15000, INFINITY, 72.0f);
    energy_sample(&e, &c, 16000, -1.0f, 72.0f);
    assert_int_equal(e.rejected, 4);
    NEAR(e.charged_wh, 7.0, 1e-12);
    /* the counters never decrease and never go negative */
    assert_true(e.discharged_wh >= 0.0);
    /* across the 32-bit clock wrap */
    energy_init(&e, 0);
    energy_sample(&e, &c, 0xFFFFFC18u, 50.0f, 72.0f);
    energy_sample(&e, &c, 1000u, 50.0f, 72.0f); /* 2 s later */
    NEAR(e.charged_wh, 2.0, 1e-12);
}

static void save_decision_is_rate_bounded(void **state)
{
    (void)state;
    energy_config_t c = defcfg(); /* min 600 s, max 3600 s, 100 Wh */
    energy_state_t e;
    energy_init(&e, 0);
    assert_false(energy_should_save(&e, &c, 0));
    assert_false(energy_should_save(&e, &c, 10u * 3600u * 1000u)); /* nothing changed */
    /* 3600 W: 100 Wh after 100 s, but not before 600 s since the last save */
    uint32_t t = 0;
    unsigned saves = 0;
    uint32_t last_save = 0;
    for (; t <= 4u * 3600u * 1000u; t += 1000u) {
        energy_sample(&e, &c, t, 50.0f, 72.0f);
        if (energy_should_save(&e, &c, t)) {
            assert_true(t - last_save >= 600u * 1000u);
            uint8_t blob[ENERGY_BLOB_SIZE];
            assert_int_equal(energy_serialize(&e, blob, sizeof blob), (int)ENERGY_BLOB_SIZE);
            energy_mark_saved(&e, t);
            last_save = t;
            saves++;
            assert_false(energy_should_save(&e, &c, t));
        }
    }
    assert_int_equal(saves, 4 * 6); /* every 10 minutes for 4 hours */
    /* A trickle (1 W): no 100 Wh in an hour, so the max interval triggers the save. */
    energy_init(&e, 0);
    for (t = 0; t <= 3600u * 1000u; t += 1000u) {
        energy_sample(&e, &c, t, 1.0f, 1.0f);
        if (t < 3600u * 1000u) {
            assert_false(energy_should_save(&e, &c, t));
        }
    }
    assert_true(energy_should_save(&e, &c, 3600u * 1000u));
}

static void blob_round_trip_and_golden_bytes(void **state)
{
    (void)state;
    energy_state_t e;
    energy_init(&e, 0);
    e.charged_wh = 1234.5678;
    e.discharged_wh = 987.0004;
    e.sequence = 6;
    uint8_t blob[ENERGY_BLOB_SIZE + 4];
    assert_int_equal(energy_serialize(&e, blob, 10), TB_ERR_NOSPACE);
    assert_int_equal(energy_serialize(&e, blob, sizeof blob), (int)ENERGY_BLOB_SIZE);
    /* 'E' 'N' v1 len 20 | 1234568 mWh | 987000 mWh | seq 7 | CRC-16/MODBUS 0xE692 (computed
     * independently with a bitwise reference implementation) */
    static const uint8_t want[ENERGY_BLOB_SIZE] = {'E',  'N',  1,    20,   0x88, 0xD6, 0x12, 0x00, 0x00,
                                                   0x00, 0x00, 0x00, 0x78, 0x0F, 0x0F, 0x00, 0x00, 0x00,
                                                   0x00, 0x00, 7,    0,    0,    0,    0x92, 0xE6};
    assert_memory_equal(blob, want, sizeof want);
    energy_mark_saved(&e, 5000);
    assert_int_equal(e.sequence, 7);

    energy_state_t r;
    energy_init(&r, 0);
    assert_int_equal(energy_restore(&r, blob, ENERGY_BLOB_SIZE, 9000), TB_OK);
    NEAR(r.charged_wh, 1234.568, 1e-9);
    NEAR(r.discharged_wh, 987.0, 1e-9);
    assert_int_equal(r.sequence, 7);
    assert_int_equal(r.last_save_ms, 9000);
    assert_false(energy_should_save(&r, &(energy_config_t){5000, 60, 300, 1.0f}, 9000u + 3600000u));
    assert_int_equal(energy_charged_100wh(&r), 12);
    assert_int_equal(energy_discharged_100wh(&r), 9);
}

static void corrupt_blobs_are_refused_cleanly(void **state)
{
    (void)state;
    energy_state_t e;
    energy_init(&e, 0);
    e.charged_wh = 5000.25;
    e.discharged_wh = 4000.5;
    uint8_t good[ENERGY_BLOB_SIZE];
    assert_int_equal(energy_serialize(&e, good, sizeof good), (int)ENERGY_BLOB_SIZE);

    energy_state_t r;
    energy_init(&r, 123);
    r.charged_wh = 1.0;
    energy_state_t before = r;
    /* every single-bit flip anywhere in the blob */
    for (unsigned i = 0; i < ENERGY_BLOB_SIZE; i++) {
        for (unsigned b = 0; b < 8u; b++) {
            uint8_t bad[ENERGY_BLOB_SIZE];
            memcpy(bad, good, sizeof bad);
            bad[i] ^= (uint8_t)(1u << b);
            int rc = energy_restore(&r, bad, sizeof bad, 999);
            assert_true(rc == TB_ERR_CRC || rc == TB_ERR_FORMAT || rc == TB_ERR_UNSUPPORTED);
            assert_memory_equal(&r, &before, sizeof r);
        }
    }
    /* truncated, too long, empty, NULL, other version */
    for (size_t len = 0; len < ENERGY_BLOB_SIZE; len++) {
        assert_int_equal(energy_restore(&r, good, len, 0), TB_ERR_FORMAT);
    }
    uint8_t longer[ENERGY_BLOB_SIZE + 1];
    memcpy(longer, good, sizeof good);
    longer[ENERGY_BLOB_SIZE] = 0;
    assert_int_equal(energy_restore(&r, longer, sizeof longer, 0), TB_ERR_FORMAT);
    assert_int_equal(energy_restore(&r, NULL, 0, 0), TB_ERR_FORMAT);
    uint8_t v2[ENERGY_BLOB_SIZE];
    memcpy(v2, good, sizeof v2);
    v2[2] = 2;
    assert_int_equal(energy_restore(&r, v2, sizeof v2, 0), TB_ERR_UNSUPPORTED);
    uint8_t erased[ENERGY_BLOB_SIZE];
    memset(erased, 0xFF, sizeof erased); /* erased flash */
    assert_int_equal(energy_restore(&r, erased, sizeof erased, 0), TB_ERR_FORMAT);
    assert_memory_equal(&r, &before, sizeof r);
    /* and the good one still works */
    assert_int_equal(energy_restore(&r, good, sizeof good, 0), TB_OK);
    NEAR(r.charged_wh, 5000.25, 1e-9);
}

static void config_rows(void **state)
{
    (void)state;
    energy_config_t c = defcfg();
    cfg_error_t err;
    assert_int_equal(cfg_validate(&energy_section, &c, &err), TB_OK);
    size_t covered = 0;
    for (size_t i = 0; i < energy_section.count; i++) {
        assert_true(strncmp(energy_section.params[i].key, "energy.", 7) == 0);
        assert_true(strlen(cfg_param_doc(&energy_section.params[i])) > 20u);
        covered += cfg_param_size(&energy_section.params[i]);
    }
    assert_int_equal(covered, sizeof(energy_config_t));
    assert_int_equal(c.max_gap_ms, 5000);
    assert_int_equal(c.save_min_interval_s, 600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(constant_power),
        cmocka_unit_test(time_scale),
        cmocka_unit_test(linear_power_is_exact),
        cmocka_unit_test(zero_crossing_split),
        cmocka_unit_test(gaps_duplicates_and_bad_samples),
        cmocka_unit_test(save_decision_is_rate_bounded),
        cmocka_unit_test(blob_round_trip_and_golden_bytes),
        cmocka_unit_test(corrupt_blobs_are_refused_cleanly),
        cmocka_unit_test(config_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
