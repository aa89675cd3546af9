/* Unit tests of the charge-limit controller (core/charge.h) through its public API: every limiter,
 * every phase transition, the dynamics (immediate decreases, held and ramped increases,
 * hysteresis), the stale-data path and the golden vectors of tests/vectors/charge_vectors.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "app/chg_reason.h"
#include "core/charge.h"
#include "test_charge_util.h"
#include "tests/vectors/charge_vectors.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (double)(tol))

typedef struct {
    chg_st_t st;
    chg_config_t cfg;
    bms_snapshot_t snap;
    uint32_t now;
    chg_limits_t out;
} rig_t;

static void rig_init(rig_t *r, uint8_t n, float cell_v)
{
    memset(r, 0, sizeof *r);
    chg_config_defaults(&r->cfg);
    chg_init(&r->st);
    r->now = 1000u;
    tcu_snapshot(&r->snap, n, cell_v, r->now);
}

/* Advance time by dt_ms, refresh the live block (fresh data) and step. */
static void step(rig_t *r, uint32_t dt_ms)
{
    r->now += dt_ms;
    r->snap.live.t_ms = r->now;
    chg_step(&r->st, &r->snap, &r->cfg, r->now, &r->out);
    chg_reason_fill(&r->out); /* as app/gateway does */
}

/* Step without refreshing the data (the BMS went silent). */
static void step_silent(rig_t *r, uint32_t dt_ms)
{
    r->now += dt_ms;
    chg_step(&r->st, &r->snap, &r->cfg, r->now, &r->out);
    chg_reason_fill(&r->out); /* as app/gateway does */
}

static void run(rig_t *r, uint32_t seconds)
{
    for (uint32_t i = 0; i < seconds; i++) {
        step(r, 1000u);
    }
}

static const char *lim(chg_limiter_t l)
{
    return chg_limiter_name(l);
}

/* "Stop charging" CVL: never above the pack voltage; at most one wire step below it, unless the
 * pack is above series cells x target, where the target caps it (invariant 2). */
static void assert_stop_cvl(float cvl, float pack, const chg_limits_t *out)
{
    assert_true(cvl <= pack + 1e-4f);
    float cap = (float)out->series_cells * out->cell_target_v;
    float lo = fminf(pack, cap) - CHG_CVL_STEP_V - 1e-3f;
    assert_true(cvl >= lo);
}

/* A rig that has been running on nominal data long enough for every ramp to finish. */
static void settled(rig_t *r, uint8_t n)
{
    rig_init(r, n, 3.30f);
    run(r, 300);
    assert_true(r->out.valid);
    NEAR(r->out.ccl_a, 80.0, 0.11);
    NEAR(r->out.dcl_a, 120.0, 0.11);
}

/* ---- start-up and data validity ---------------------------------------------------------- */

static void no_limits_before_first_complete_snapshot(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, 16, 3.30f);
    bms_snapshot_t empty;
    memset(&empty, 0, sizeof empty);
    for (int i = 0; i < 20; i++) {
        r.now += 1000u;
        chg_step(&r.st, &empty, &r.cfg, r.now, &r.out);
        assert_false(r.out.valid);
        assert_false(r.out.transmit);
        assert_int_equal(r.out.state, CHG_STATE_NO_DATA);
        assert_true(r.out.ccl_a <= 0.0f && r.out.dcl_a <= 0.0f && r.out.cvl_v <= 0.0f);
        assert_string_equal(lim(r.out.ccl_lim), "no_data");
    }
    /* Live data without the settings block is not complete either. */
    r.snap.settings.valid = false;
    step(&r, 1000);
    assert_false(r.out.valid);
    assert_false(r.out.transmit);
    /* First complete snapshot: valid, and every limit starts at its target (DCL = 0 would switch
     * an off-grid inverter off at every gateway restart; CCL = 0 would pin CVL to the pack
     * voltage); CVL is at most cells x target, a pack value. */
    r.snap.settings.valid = true;
    step(&r, 1000);
    assert_true(r.out.valid);
    assert_true(r.out.transmit);
    assert_int_equal(r.out.state, CHG_STATE_BULK);
    assert_true(r.out.ccl_a > 0.0f);
    assert_float_equal(r.out.ccl_a, r.out.ccl_target_a, 1e-4f);
    assert_true(r.out.dcl_a > 0.0f);
    assert_float_equal(r.out.dcl_a, r.out.dcl_target_a, 1e-4f);
    assert_float_equal(r.out.cvl_v, r.out.cvl_target_v, 1e-4f);
    assert_true(r.out.cvl_v <= 16.0f * r.cfg.cell_bulk_v + 1e-3f);
    assert_true(r.out.cvl_v >= r.snap.live.pack_voltage_v - CHG_CVL_STEP_V - 1e-4f);
}

static void limits_start_at_target_then_follow_ramps(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, 16, 3.30f);
    step(&r, 1000);
    /* the first output is at the targets already */
    NEAR(r.out.ccl_a, 80.0, 0.11);
    NEAR(r.out.dcl_a, 120.0, 0.11);
    NEAR(r.out.cvl_v, 55.2, 1e-3);
    /* a drop applies at once, the way back ramps */
    r.snap.settings.charge_oc_a = 50.0f;
    step(&r, 1000);
    assert_true(r.out.ccl_a < 50.0f);
    r.snap.settings.charge_oc_a = 100.0f;
    float prev_ccl = r.out.ccl_a;
    float prev_dcl = r.out.dcl_a;
    for (int i = 0; i < 100; i++) {
        step(&r, 1000);
        assert_true(r.out.ccl_a - prev_ccl <= r.cfg.ccl_ramp_a_s * 1.0f + 0.101f);
        assert_true(r.out.dcl_a - prev_dcl <= r.cfg.dcl_ramp_a_s * 1.0f + 0.101f);
        prev_ccl = r.out.ccl_a;
        prev_dcl = r.out.dcl_a;
    }
    NEAR(r.out.ccl_a, 80.0, 0.11);
    NEAR(r.out.dcl_a, 120.0, 0.11);
    assert_string_equal(lim(r.out.ccl_lim), "bms_cutoff");
    assert_string_equal(lim(r.out.dcl_lim), "bms_cutoff");
    /* back from 40 A to 80 A at 2 A/s after the 30 s hold: within the 100 s */
    run(&r, 900);
    NEAR(r.out.cvl_v, 55.2, 1e-3);
    assert_string_equal(lim(r.out.cvl_lim), "config_max");
    NEAR(r.out.dvl_v, 46.4, 1e-3); /* 16 x max(2.90, 2.80) */
    assert_true(strlen(r.out.reason) > 10u);
}

static void implausible_snapshot_stops_charging_at_once(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    r.snap.live.cell_v[3] = NAN;
    step(&r, 1000);
    assert_int_equal(r.out.state, CHG_STATE_STALE);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_true(r.out.cvl_v <= 52.8f + 1e-4f);
    assert_true(r.out.valid);
    /* Pack voltage that disagrees with the cells: same. */
    tcu_set_cells(&r.snap, 3.30f);
    r.snap.live.pack_voltage_v = 40.0f;
    step(&r, 1000);
    assert_int_equal(r.out.state, CHG_STATE_STALE);
    tcu_recalc(&r.snap);
    step(&r, 1000);
    assert_int_equal(r.out.state, CHG_STATE_BULK);
}

/* ---- CVL ---------------------------------------------------------------------------------- */

static void cvl_is_series_cells_times_target(void **state)
{
    (void)state;
    static const uint8_t counts[] = {4, 8, 13, 15, 16};
    for (size_t i = 0; i < sizeof counts; i++) {
        rig_t r;
        rig_init(&r, counts[i], 3.30f);
        run(&r, 1200);
        NEAR(r.out.cvl_v, floorf((float)counts[i] * 3.45f * 10.0f + 1e-3f) / 10.0f, 1e-3);
        assert_int_equal(r.out.series_cells, counts[i]);
        assert_true(r.out.cvl_v > 4.0f * 3.0f); /* a pack voltage, never a per-cell value */
    }
    /* The count comes from the BMS (register 53, else 307), not from configuration. */
    rig_t r;
    rig_init(&r, 8, 3.30f);
    r.snap.live.cell_count = 8;
    r.snap.settings.series_cells = 16;
    run(&r, 1200);
    NEAR(r.out.cvl_v, 27.6, 1e-3);
}

static void cvl_capped_by_bms_settings(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, 16, 3.30f);
    r.snap.settings.over_voltage_v = 3.50f; /* target <= 3.50 - 0.10 */
    run(&r, 1200);
    NEAR(r.out.cvl_v, 54.4, 1e-3);
    NEAR(r.out.cell_target_v, 3.40, 1e-4);
    assert_string_equal(lim(r.out.cvl_lim), "bms_cutoff");

    rig_init(&r, 16, 3.30f);
    r.snap.settings.fully_charged_v = 3.42f; /* register 300 */
    run(&r, 1200);
    NEAR(r.out.cvl_v, 54.7, 1e-3);
    assert_string_equal(lim(r.out.cvl_lim), "bms_cutoff");

    rig_init(&r, 16, 3.30f);
    r.cfg.cap_at_bms_full = false;
    r.snap.settings.fully_charged_v = 3.42f;
    run(&r, 1200);
    NEAR(r.out.cvl_v, 55.2, 1e-3);
}

static void cell_controller_pulls_cvl_down_not_below_pack(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    run(&r, 900);
    NEAR(r.out.cvl_v, 55.2, 1e-3);
    /* A runner at 3.48 V with the rest at 3.40 V: pack 54.48 V "looks fine" against 55.2 V. */
    tcu_set_cells(&r.snap, 3.40f);
    r.snap.live.cell_v[7] = 3.48f;
    tcu_recalc(&r.snap);
    step(&r, 1000);
    NEAR(r.out.cvl_v, 54.8, 1e-3); /* 54.48 + 16 x (3.50 - 3.48), at once */
    assert_string_equal(lim(r.out.cvl_lim), "cell_voltage_high");
    /* Runner above the controller limit: CVL at the pack voltage, never below it. */
    r.snap.live.cell_v[7] = 3.53f;
    tcu_recalc(&r.snap);
    step(&r, 1000);
    assert_true(r.out.cvl_v <= r.snap.live.pack_voltage_v + 1e-4f);
    assert_true(r.out.cvl_v >= r.snap.live.pack_voltage_v - CHG_CVL_STEP_V - 1e-4f);
    assert_string_equal(lim(r.out.cvl_target_lim), "cell_voltage_high");
    /* Runner back down: CVL recovers only after the hold, then at the configured rate. */
    r.snap.live.cell_v[7] = 3.42f;
    tcu_recalc(&r.snap);
    float low = r.out.cvl_v;
    step(&r, 1000);
    for (int i = 0; i < 50; i++) {
        step(&r, 1000);
        NEAR(r.out.cvl_v, low, 1e-3); /* cvl_hold_s = 60 */
    }
    run(&r, 1200);
    NEAR(r.out.cvl_v, 55.2, 1e-3);
}

/* ---- CCL limiters and stops ---------------------------------------------------------------- */

static void cell_over_voltage_stops_in_the_same_step(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    r.snap.live.cell_v[5] = 3.65f; /* exactly the BMS cut-off */
    tcu_recalc(&r.snap);
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_true(r.out.charge_stopped);
    assert_true(r.out.cvl_v <= r.snap.live.pack_voltage_v);
    assert_true(r.out.cvl_v >= r.snap.live.pack_voltage_v - CHG_CVL_STEP_V - 1e-4f);
    assert_string_equal(lim(r.out.ccl_lim), "cell_over_voltage");
    assert_string_equal(lim(r.out.cvl_lim), "cell_over_voltage");
    assert_non_null(strstr(r.out.reason, "over-voltage"));
    NEAR(r.out.dcl_a, 120.0, 0.11); /* discharging stays allowed */
}

static void bms_over_voltage_setting_lower_than_taper(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    r.snap.settings.over_voltage_v = 3.52f; /* a cautious installer */
    r.snap.live.cell_v[0] = 3.52f;
    tcu_recalc(&r.snap);
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_string_equal(lim(r.out.ccl_lim), "cell_over_voltage");
}

static void charge_stop_latch_and_release(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    tcu_set_cells(&r.snap, 3.45f);
    r.snap.live.cell_v[2] = 3.56f;
    tcu_recalc(&r.snap);
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_string_equal(lim(r.out.ccl_lim), "cell_voltage_high");
    /* Back to 3.48 V: still latched (release needs <= 3.55 - 0.10). */
    r.snap.live.cell_v[2] = 3.48f;
    tcu_recalc(&r.snap);
    run(&r, 120);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_true(r.out.charge_stopped);
    /* Below 3.45 V for limit_hold_s releases; then the limit ramps up from 0. */
    r.snap.live.cell_v[2] = 3.44f;
    tcu_recalc(&r.snap);
    run(&r, 29);
    assert_true(r.out.ccl_a <= 0.0f);
    run(&r, 2);
    run(&r, 40);
    assert_true(r.out.ccl_a > 0.0f);
    assert_false(r.out.charge_stopped);
}

static void bms_fault_stops_charging_only(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    tcu_fault(&r.snap, true);
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_string_equal(lim(r.out.ccl_lim), "bms_fault");
    assert_true(r.out.cvl_v <= r.snap.live.pack_voltage_v);
    NEAR(r.out.dcl_a, 120.0, 0.11);
    tcu_fault(&r.snap, false);
    run(&r, 120);
    NEAR(r.out.ccl_a, 80.0, 0.11);
}

/* An under-voltage trip clears only when the pack is charged: a small recovery charge is
 * allowed (never zero, which would lock the pack out), discharge stays at 0. */
static void under_voltage_fault_allows_recovery_charge(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    tcu_set_cells(&r.snap, 2.85f); /* below fully discharged (3.00 V), above the UV cut-off (2.80 V) */
    tcu_fault(&r.snap, true);
    step(&r, 1000);
    float recovery = r.cfg.fault_recovery_c * r.snap.settings.capacity_ah;
    assert_true(recovery > 0.0f);
    NEAR(r.out.ccl_target_a, recovery, 0.11);
    assert_true(r.out.ccl_a > 0.0f && r.out.ccl_a <= recovery + 0.05f);
    assert_string_equal(lim(r.out.ccl_target_lim), "bms_fault");
    assert_true(r.out.dcl_a <= 0.0f);
    /* the same fault with healthy cells is another fault: no charging at all */
    tcu_set_cells(&r.snap, 3.30f);
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    /* and recovery charging can be switched off */
    tcu_set_cells(&r.snap, 2.85f);
    r.cfg.fault_recovery_c = 0.0f;
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
}

static void temperature_window(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    tcu_set_temp(&r.snap, -5.0f);
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_string_equal(lim(r.out.ccl_lim), "temperature_low");
    assert_true(r.out.cvl_v <= r.snap.live.pack_voltage_v);
    NEAR(r.out.dcl_a, 120.0, 0.11);
    /* 0.5 C: inside the window but within the hysteresis of the stop (1 C): still refused. */
    tcu_set_temp(&r.snap, 0.5f);
    run(&r, 60);
    assert_true(r.out.ccl_a <= 0.0f);
    /* 5 C: derated to 20 % + 80 % x (5 - 0 - 1 hysteresis) / 10 = 52 %. */
    tcu_set_temp(&r.snap, 5.0f);
    run(&r, 120);
    NEAR(r.out.ccl_target_a, 0.52 * 80.0, 0.11);
    NEAR(r.out.ccl_a, 0.52 * 80.0, 0.11);
    /* The BMS low-temperature charge cut-off (320) raises the window. */
    r.snap.settings.low_temp_charge_c = 6.0f;
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    r.snap.settings.low_temp_charge_c = 0.0f;
    /* Only an external sensor is cold; the board sensor is warm: the coldest counts. */
    tcu_set_temp(&r.snap, 25.0f);
    run(&r, 120);
    r.snap.live.temp_ext_c[0] = -1.0f;
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    /* Hot: at min(50, 60 - 5) charging stops; the discharge window goes to 55. */
    tcu_set_temp(&r.snap, 50.0f);
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_string_equal(lim(r.out.ccl_lim), "temperature_high");
    assert_true(r.out.dcl_a > 0.0f);
    tcu_set_temp(&r.snap, 55.0f);
    step(&r, 1000);
    assert_true(r.out.dcl_a <= 0.0f);
    assert_string_equal(lim(r.out.dcl_lim), "temperature_high");
    /* Over-heat setting 319 at 50 C pulls both windows to 45 C. */
    tcu_set_temp(&r.snap, 45.0f);
    r.snap.settings.over_heat_c = 50.0f;
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_true(r.out.dcl_a <= 0.0f);
    /* Cold discharge. */
    r.snap.settings.over_heat_c = 60.0f;
    tcu_set_temp(&r.snap, -20.0f);
    step(&r, 1000);
    assert_true(r.out.dcl_a <= 0.0f);
    assert_string_equal(lim(r.out.dcl_lim), "temperature_low");
}

static void board_sensor_can_be_excluded(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, 16, 3.30f);
    r.cfg.use_internal_temp = false;
    r.snap.live.temp_internal_c = 70.0f; /* hot board, cells at 25 C */
    run(&r, 200);
    assert_true(r.out.ccl_a > 70.0f);
    r.cfg.use_internal_temp = true;
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    /* Without any external sensor the board sensor is used anyway. */
    r.cfg.use_internal_temp = false;
    r.snap.live.temp_ext_present[0] = false;
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
}

static void soc_tapers(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    r.snap.live.soc_pct = 97.5f;
    step(&r, 1000);
    NEAR(r.out.ccl_a, 50.0, 0.11);
    assert_string_equal(lim(r.out.ccl_lim), "soc_taper");
    r.snap.live.soc_pct = 5.0f;
    step(&r, 1000);
    NEAR(r.out.dcl_a, 75.0, 0.11);
    assert_string_equal(lim(r.out.dcl_lim), "soc_taper");
    /* Off switches. */
    r.cfg.soc_ccl_taper_pct = 100.0f;
    r.cfg.soc_dcl_taper_pct = 0.0f;
    r.snap.live.soc_pct = 100.0f;
    run(&r, 200);
    NEAR(r.out.ccl_a, 80.0, 0.11);
    r.snap.live.soc_pct = 0.0f;
    run(&r, 200);
    NEAR(r.out.dcl_a, 120.0, 0.11);
}

static void configured_maxima_and_bms_cutoffs(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, 16, 3.30f);
    r.cfg.ccl_max_a = 50.0f;
    r.cfg.dcl_max_a = 60.0f;
    run(&r, 200);
    NEAR(r.out.ccl_a, 50.0, 0.11);
    NEAR(r.out.dcl_a, 60.0, 0.11);
    assert_string_equal(lim(r.out.ccl_lim), "config_max");
    assert_string_equal(lim(r.out.dcl_lim), "config_max");
    r.cfg.bms_current_margin_pct = 60.0f; /* 0.4 x 100 / 0.4 x 150 */
    step(&r, 1000);
    NEAR(r.out.ccl_a, 40.0, 0.11);
    NEAR(r.out.dcl_a, 60.0, 0.11);
    assert_string_equal(lim(r.out.ccl_lim), "bms_cutoff");
    /* A zero cut-off register is not trusted as a limit (the configured maximum applies). */
    r.snap.settings.charge_oc_a = 0.0f;
    run(&r, 200);
    NEAR(r.out.ccl_a, 50.0, 0.11);
    /* Configured maximum 0 = no charging: CCL 0 and CVL at the pack. */
    r.cfg.ccl_max_a = 0.0f;
    step(&r, 1000);
    assert_true(r.out.ccl_a <= 0.0f);
    assert_true(r.out.charge_stopped);
    assert_true(r.out.cvl_v <= r.snap.live.pack_voltage_v);
}

static void discharge_stop_latch_and_release(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    tcu_set_cells(&r.snap, 3.00f);
    r.snap.live.cell_v[9] = 2.80f;
    tcu_recalc(&r.snap);
    step(&r, 1000);
    assert_true(r.out.dcl_a <= 0.0f);
    assert_true(r.out.discharge_stopped);
    assert_string_equal(lim(r.out.dcl_lim), "cell_under_voltage");
    assert_true(r.out.ccl_a > 0.0f); /* charging stays possible (black start) */
    /* The load is gone, the cell rebounds to 3.0 V: still latched (needs >= 2.90 + 0.15). */
    r.snap.live.cell_v[9] = 3.00f;
    tcu_recalc(&r.snap);
    run(&r, 300);
    assert_true(r.out.dcl_a <= 0.0f);
    assert_string_equal(lim(r.out.dcl_lim), "cell_voltage_low");
    tcu_set_cells(&r.snap, 3.10f);
    run(&r, 120);
    assert_true(r.out.dcl_a > 0.0f);
}

static void imbalance_hold_enters_and_releases(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    tcu_set_cells(&r.snap, 3.40f);
    r.snap.live.cell_v[0] = 3.30f;
    r.snap.live.cell_v[1] = 3.42f;
    tcu_recalc(&r.snap); /* spread 0.12, highest 3.42 */
    step(&r, 1000);
    assert_true(r.out.imbalance_hold);
    NEAR(r.out.ccl_a, 5.6, 0.11);
    assert_string_equal(lim(r.out.ccl_lim), "imbalance_hold");
    /* Spread 0.07: between release (0.05) and hold (0.10): hold stays. */
    r.snap.live.cell_v[0] = 3.35f;
    tcu_recalc(&r.snap);
    run(&r, 10);
    assert_true(r.out.imbalance_hold);
    r.snap.live.cell_v[0] = 3.38f; /* spread 0.04 */
    tcu_recalc(&r.snap);
    step(&r, 1000);
    assert_false(r.out.imbalance_hold);
}

/* ---- dynamics ---------------------------------------------------------------------------- */

static void decreases_at_once_increases_held_then_ramped(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    r.snap.live.soc_pct = 100.0f;
    step(&r, 1000);
    NEAR(r.out.ccl_a, 20.0, 0.11); /* immediate */
    r.snap.live.soc_pct = 50.0f;
    for (int i = 0; i < 29; i++) {
        step(&r, 1000);
        NEAR(r.out.ccl_a, 20.0, 0.11); /* held for limit_hold_s */
        assert_string_equal(lim(r.out.ccl_lim), "ramp");
    }
    float prev = r.out.ccl_a;
    int steps = 0;
    while (r.out.ccl_a < 79.9f && steps < 100) {
        step(&r, 1000);
        assert_true(r.out.ccl_a - prev <= 2.0f + 0.101f);
        prev = r.out.ccl_a;
        steps++;
    }
    assert_true(steps >= 29 && steps <= 33); /* 60 A at 2 A/s after the hold */
}

/* The ramp rate must not depend on how often the controller runs: the gateway calls it on every
 * event (each UART chunk, each CAN frame), often a few milliseconds apart. Each step's increase
 * was rounded down to the 0.1 A wire step, so below 50 ms per step (CCL at 2 A/s) CCL never rose
 * again after a drop (found by the simulator scenarios: tests/unit/test_scenario_silence.c). */
static void ramp_rate_does_not_depend_on_the_step_rate(void **state)
{
    (void)state;
    static const uint32_t periods[] = {1, 7, 10, 33, 40, 100, 250, 1000};
    for (size_t k = 0; k < sizeof periods / sizeof periods[0]; k++) {
        rig_t r;
        settled(&r, 16);
        r.snap.live.soc_pct = 100.0f;
        step(&r, 1000);
        NEAR(r.out.ccl_a, 20.0, 0.11);
        NEAR(r.out.dcl_a, 120.0, 0.11);
        r.snap.live.soc_pct = 50.0f;
        uint32_t t0 = r.now;
        uint32_t t_full = 0;
        float prev = r.out.ccl_a;
        while (r.now - t0 < 65000u) {
            step(&r, periods[k]);
            assert_true(r.out.ccl_a - prev <= r.cfg.ccl_ramp_a_s * (float)periods[k] / 1000.0f + 0.101f);
            prev = r.out.ccl_a;
            if (!t_full && r.out.ccl_a >= 79.95f) {
                t_full = r.now - t0;
            }
        }
        /* limit_hold_s (30 s), then 60 A at 2 A/s (30 s); float rounding may cost a few tenths */
        if (!t_full || t_full < 59000u || t_full > 61500u + periods[k]) {
            fail_msg("step %u ms: CCL back at 80 A after %u ms (expected 60 s)", (unsigned)periods[k], (unsigned)t_full);
        }
    }
}

static void noisy_steady_input_does_not_oscillate(void **state)
{
    (void)state;
    /* Noise within the hysteresis bands (+-4.5 mV on cells, +-0.45 C, +-0.45 % SOC) around a
     * point where the cell, temperature and SOC tapers are all active. The hysteresis follows a
     * new extreme at once (a decrease is never delayed), so the limits may creep down a little
     * while the noise finds its extremes, but they never go back up: no oscillation. */
    rig_t r;
    rig_init(&r, 16, 3.45f);
    tcu_rng_t rng = {12345u};
    float base_v = 3.47f;
    unsigned ccl_changes = 0;
    unsigned cvl_changes = 0;
    float prev_ccl = 0.0f;
    float prev_dcl = 0.0f;
    float prev_cvl = 0.0f;
    for (int i = 0; i < 2 * 3600; i++) {
        for (unsigned k = 0; k < 16; k++) {
            r.snap.live.cell_v[k] = base_v + tcu_uniform(&rng, -0.0045f, 0.0045f);
        }
        tcu_recalc(&r.snap);
        r.snap.live.soc_pct = 97.0f + tcu_uniform(&rng, -0.45f, 0.45f);
        tcu_set_temp(&r.snap, 6.0f + tcu_uniform(&rng, -0.45f, 0.45f));
        step(&r, 1000);
        if (i >= 3600) { /* second hour: settled */
            assert_true(r.out.ccl_a <= prev_ccl + 1e-4f);
            assert_true(r.out.dcl_a <= prev_dcl + 1e-4f);
            if (fabsf(r.out.ccl_a - prev_ccl) > 1e-4f) {
                ccl_changes++;
            }
            if (fabsf(r.out.cvl_v - prev_cvl) > 1e-4f) {
                cvl_changes++;
            }
        }
        prev_ccl = r.out.ccl_a;
        prev_dcl = r.out.dcl_a;
        prev_cvl = r.out.cvl_v;
    }
    print_message("noisy hour: %u CCL changes, %u CVL changes\n", ccl_changes, cvl_changes);
    assert_true(ccl_changes <= 5u);
    assert_true(cvl_changes <= 4u);
}

static void noisy_runner_does_not_make_cvl_chatter(void **state)
{
    (void)state;
    /* The cell-voltage controller is the binding CVL limiter (a runner at 3.49 V, the rest at
     * 3.42 V) and every reading carries noise: +-4 mV per cell, i.e. tens of mV on the pack.
     * CVL must settle and then change at most a few times per hour. */
    rig_t r;
    rig_init(&r, 16, 3.42f);
    r.cfg.absorption_max_s = 172800; /* stay in absorption: this test is about the controller */
    tcu_rng_t rng = {777u};
    unsigned changes = 0;
    float prev = 0.0f;
    for (int i = 0; i < 3 * 3600; i++) {
        for (unsigned k = 0; k < 16; k++) {
            r.snap.live.cell_v[k] = 3.42f + tcu_uniform(&rng, -0.004f, 0.004f);
        }
        r.snap.live.cell_v[9] = 3.49f + tcu_uniform(&rng, -0.004f, 0.004f);
        tcu_recalc(&r.snap);
        r.snap.live.pack_current_a = 3.0f;
        step(&r, 1000);
        if (i >= 2 * 3600 && fabsf(r.out.cvl_v - prev) > 1e-4f) {
            changes++;
        }
        prev = r.out.cvl_v;
    }
    print_message("controller-bound noisy hour: %u CVL changes, CVL %.1f V (%s)\n", changes, (double)r.out.cvl_v,
                  lim(r.out.cvl_lim));
    assert_string_equal(lim(r.out.cvl_target_lim), "cell_voltage_high");
    assert_true(changes <= 4u);
}

static void constant_input_gives_constant_limits(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, 16, 3.47f);
    r.snap.live.soc_pct = 97.0f;
    r.snap.live.pack_current_a = 12.0f;
    tcu_set_temp(&r.snap, 6.0f);
    run(&r, 4 * 3600);
    chg_limits_t ref = r.out;
    for (int i = 0; i < 3600; i++) {
        step(&r, 1000);
        assert_true(r.out.cvl_v == ref.cvl_v && r.out.ccl_a == ref.ccl_a && r.out.dcl_a == ref.dcl_a); /* NOLINT */
        assert_int_equal(r.out.state, ref.state);
    }
}

static void long_pause_does_not_unlock_a_jump(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    r.snap.live.soc_pct = 100.0f;
    step(&r, 1000);
    NEAR(r.out.ccl_a, 20.0, 0.11);
    r.snap.live.soc_pct = 50.0f;
    run(&r, 40);
    float before = r.out.ccl_a;
    step(&r, 3600u * 1000u); /* the caller stalled for an hour, data fresh again */
    assert_true(r.out.ccl_a - before <= 2.0f * 5.0f + 0.11f);
}

static void clock_wrap_is_harmless(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, 16, 3.30f);
    r.now = 0xFFFFFFFFu - 100000u;
    r.snap.live.t_ms = r.now;
    run(&r, 400); /* crosses 0 */
    assert_true(r.out.valid);
    assert_int_equal(r.out.data, FAILSAFE_FRESH);
    NEAR(r.out.ccl_a, 80.0, 0.11);
}

/* ---- charge phases ------------------------------------------------------------------------ */

/* Move a 16S pack through a charge: cells rise to the target, the current tails off. */
static void charge_to_absorption(rig_t *r)
{
    r->snap.live.pack_current_a = 60.0f;
    tcu_set_cells(&r->snap, 3.35f);
    run(r, 60);
    assert_int_equal(r->out.state, CHG_STATE_BULK);
    tcu_set_cells(&r->snap, 3.44f); /* within 20 mV of 3.45: at voltage */
    step(r, 1000);
    assert_int_equal(r->out.state, CHG_STATE_ABSORPTION);
}

static void bulk_absorption_float_on_tail_current(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    charge_to_absorption(&r);
    r.snap.live.pack_current_a = 20.0f;
    run(&r, 600);
    assert_int_equal(r.out.state, CHG_STATE_ABSORPTION);
    r.snap.live.pack_current_a = 5.0f; /* <= 0.02 C x 280 Ah = 5.6 A */
    run(&r, 119);
    assert_int_equal(r.out.state, CHG_STATE_ABSORPTION);
    run(&r, 2);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    /* Float descent: from 55.2 V to 54.0 V at 5 mV/cell/min = 15 min, gradually. */
    float prev = r.out.cvl_v;
    unsigned changes = 0;
    for (int i = 0; i < 20 * 60; i++) {
        step(&r, 1000);
        assert_true(prev - r.out.cvl_v <= 0.1f + 1e-4f); /* never an abrupt drop */
        if (fabsf(prev - r.out.cvl_v) > 1e-4f) {
            changes++;
        }
        prev = r.out.cvl_v;
    }
    NEAR(r.out.cvl_v, 54.0, 1e-3);
    assert_string_equal(lim(r.out.cvl_lim), "float");
    assert_true(changes >= 10u && changes <= 13u);
    /* A day in float with steady input: CVL does not move. */
    for (int i = 0; i < 24 * 60; i++) {
        step(&r, 60000);
        NEAR(r.out.cvl_v, 54.0, 1e-3);
        assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    }
}

static void absorption_ends_on_time_when_balanced(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    charge_to_absorption(&r);
    r.snap.live.pack_current_a = 30.0f; /* loads: never a tail */
    run(&r, 1799);
    assert_int_equal(r.out.state, CHG_STATE_ABSORPTION);
    run(&r, 2);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
}

static void absorption_paused_by_a_dip_not_ended(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    charge_to_absorption(&r);
    r.snap.live.pack_current_a = 30.0f;
    run(&r, 1000);
    tcu_set_cells(&r.snap, 3.33f); /* a large load: below the band */
    run(&r, 5000);
    assert_int_equal(r.out.state, CHG_STATE_ABSORPTION);
    tcu_set_cells(&r.snap, 3.44f);
    run(&r, 790);
    assert_int_equal(r.out.state, CHG_STATE_ABSORPTION);
    run(&r, 20);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
}

static void absorption_waits_for_balance_then_times_out(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    charge_to_absorption(&r);
    r.snap.live.pack_current_a = 2.0f;
    r.snap.live.cell_v[4] = 3.40f; /* spread 0.04 > 0.02 */
    tcu_recalc(&r.snap);
    run(&r, 3600);
    assert_int_equal(r.out.state, CHG_STATE_ABSORPTION);
    /* Unbalanced for 2 h at voltage: float anyway, and the spread re-bulk is disarmed. */
    r.snap.live.cell_v[4] = 3.35f; /* spread 0.09 >= rebulk 0.08 */
    tcu_recalc(&r.snap);
    run(&r, 3601);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    run(&r, 1200);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
}

static void rebulk_on_soc_drop_after_arming(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    charge_to_absorption(&r);
    r.snap.live.pack_current_a = 1.0f;
    run(&r, 200);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    r.snap.live.soc_pct = 70.0f; /* never above 85 % since float: not armed */
    run(&r, 600);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    r.snap.live.soc_pct = 95.0f;
    run(&r, 10);
    r.snap.live.soc_pct = 75.0f; /* loads took 20 %: cells in the flat middle */
    tcu_set_cells(&r.snap, 3.30f);
    run(&r, 119);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    run(&r, 3);
    assert_int_equal(r.out.state, CHG_STATE_BULK);
    /* CVL climbs back from the float target at the configured rate, not in one jump. */
    assert_true(r.out.cvl_v < 55.2f - 0.5f);
}

static void rebulk_on_spread_and_low_cell(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    charge_to_absorption(&r);
    r.snap.live.pack_current_a = 1.0f;
    run(&r, 200);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    tcu_set_cells(&r.snap, 3.36f);
    r.snap.live.cell_v[3] = 3.27f; /* spread 0.09 */
    tcu_recalc(&r.snap);
    run(&r, 121);
    assert_int_equal(r.out.state, CHG_STATE_BULK);

    settled(&r, 16);
    charge_to_absorption(&r);
    r.snap.live.pack_current_a = 1.0f;
    run(&r, 200);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    tcu_set_cells(&r.snap, 3.30f); /* arms the cell trigger (>= 3.25) */
    run(&r, 10);
    tcu_set_cells(&r.snap, 3.15f);
    run(&r, 121);
    assert_int_equal(r.out.state, CHG_STATE_BULK);
}

static void periodic_full_charge(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    charge_to_absorption(&r);
    r.snap.live.pack_current_a = 1.0f;
    run(&r, 200);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    for (int day = 0; day < 6; day++) {
        for (int m = 0; m < 24 * 60; m++) {
            step(&r, 60000);
            assert_int_equal(r.out.state, CHG_STATE_FLOAT);
        }
    }
    /* Day 7: a full charge starts; with the pack still full it goes through bulk and absorption
     * (tail current) back to float within minutes. */
    bool charged = false;
    for (int m = 0; m < 24 * 60 + 40; m++) {
        step(&r, 60000);
        charged = charged || r.out.state != CHG_STATE_FLOAT;
    }
    assert_true(charged);
    assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    /* Switched off: never. */
    r.cfg.full_charge_days = 0;
    for (int m = 0; m < 8 * 24 * 60; m++) {
        step(&r, 60000);
        assert_int_equal(r.out.state, CHG_STATE_FLOAT);
    }
}

/* ---- stale data and fail-safe ------------------------------------------------------------ */

static void stale_then_failsafe_then_recovery(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        rig_t r;
        settled(&r, 16);
        r.cfg.failsafe.mode = mode;
        float pack = r.snap.live.pack_voltage_v;
        float dcl = r.out.dcl_a;
        step_silent(&r, 5000); /* age 5 s: still fresh */
        assert_int_equal(r.out.data, FAILSAFE_FRESH);
        step_silent(&r, 1); /* 5.001 s: stale */
        assert_int_equal(r.out.state, CHG_STATE_STALE);
        assert_true(r.out.valid && r.out.transmit && r.out.comm_alarm);
        assert_true(r.out.ccl_a <= 0.0f);
        assert_true(r.out.cvl_v <= pack);
        NEAR(r.out.dcl_a, dcl, 1e-4); /* frozen, not raised */
        assert_string_equal(lim(r.out.ccl_lim), "stale_data");
        step_silent(&r, 24999); /* 30.000 s */
        assert_int_equal(r.out.state, CHG_STATE_STALE);
        step_silent(&r, 1); /* 30.001 s: fail-safe */
        assert_int_equal(r.out.state, CHG_STATE_FAILSAFE);
        if (mode == FAILSAFE_MODE_STOP_TRANSMITTING) {
            assert_false(r.out.transmit);
            assert_false(r.out.valid);
        } else {
            assert_true(r.out.transmit);
            assert_true(r.out.valid);
            assert_true(r.out.ccl_a <= 0.0f && r.out.dcl_a <= 0.0f);
            assert_true(r.out.cvl_v <= pack);
        }
        /* A day of silence: still fail-safe. */
        for (int i = 0; i < 24 * 60; i++) {
            step_silent(&r, 60000);
            assert_int_equal(r.out.state, CHG_STATE_FAILSAFE);
        }
        /* Fresh data: normal again, limits ramp from 0 after the hold. */
        step(&r, 1000);
        assert_int_equal(r.out.data, FAILSAFE_FRESH);
        assert_true(r.out.valid && r.out.transmit);
        assert_true(r.out.ccl_a <= 0.0f && r.out.dcl_a <= 0.0f);
        run(&r, 200);
        NEAR(r.out.ccl_a, 80.0, 0.11);
        NEAR(r.out.dcl_a, 120.0, 0.11);
    }
}

static void silence_for_longer_than_the_clock_wrap(void **state)
{
    (void)state;
    rig_t r;
    settled(&r, 16);
    /* No new live block for more than 2^32 ms: (now - t_ms) wraps back through 0..stale_ms.
     * Hourly steps up to just before the wrap, then 1 s steps right across it. */
    uint32_t stamp = r.snap.live.t_ms;
    while ((uint32_t)(r.now - stamp) < 0xFFFFFFFFu - 2u * 3600u * 1000u) {
        step_silent(&r, 3600u * 1000u);
        assert_int_equal(r.out.state, CHG_STATE_FAILSAFE);
    }
    for (int i = 0; i < 4 * 3600; i++) {
        step_silent(&r, 1000);
        assert_int_equal(r.out.state, CHG_STATE_FAILSAFE);
        assert_false(r.out.valid);
    }
}

static void future_stamp_is_not_fresh(void **state)
{
    (void)state;
    rig_t r;
    rig_init(&r, 16, 3.30f);
    r.now = 10000u;
    r.snap.live.t_ms = 20000u;
    chg_step(&r.st, &r.snap, &r.cfg, r.now, &r.out);
    assert_false(r.out.valid);
}

/* ---- golden vectors ----------------------------------------------------------------------- */

static void taper_shape_vectors(void **state)
{
    (void)state;
    for (unsigned i = 0; i < chg_vec_taper_count; i++) {
        NEAR(chg_taper_fraction(chg_vec_taper[i].x), chg_vec_taper[i].frac, 1e-5);
    }
    assert_true(chg_taper_fraction(NAN) <= 0.0f);
}

static void limiter_vectors(void **state)
{
    (void)state;
    for (unsigned i = 0; i < chg_vec_case_count; i++) {
        const chg_vec_case_t *c = &chg_vec_cases[i];
        print_message("vector: %s\n", c->name);
        rig_t r;
        rig_init(&r, 16, c->others);
        r.snap.live.cell_v[15] = c->vmax;
        r.snap.live.cell_v[0] = c->vmin;
        tcu_recalc(&r.snap);
        tcu_set_temp(&r.snap, c->temp_c);
        r.snap.live.soc_pct = c->soc_pct;
        tcu_fault(&r.snap, c->fault != 0u);
        step(&r, 1000);
        step(&r, 1000);
        NEAR(r.out.ccl_target_a, c->ccl_target_a, 0.101);
        assert_string_equal(lim(r.out.ccl_target_lim), c->ccl_lim);
        NEAR(r.out.dcl_target_a, c->dcl_target_a, 0.101);
        assert_string_equal(lim(r.out.dcl_target_lim), c->dcl_lim);
        if (c->cvl_target_v > 0.0f) {
            NEAR(r.out.cvl_target_v, c->cvl_target_v, 1e-3);
        } else {
            assert_true(r.out.charge_stopped);
            assert_stop_cvl(r.out.cvl_target_v, r.snap.live.pack_voltage_v, &r.out);
        }
        if (c->cvl_lim) {
            assert_string_equal(lim(r.out.cvl_target_lim), c->cvl_lim);
        }
    }
}

/* ---- configuration and names -------------------------------------------------------------- */

static void config_schema_is_complete_and_defaults_valid(void **state)
{
    (void)state;
    chg_config_t c;
    chg_config_defaults(&c);
    cfg_error_t err;
    assert_int_equal(cfg_validate(&chg_section, &c, &err), TB_OK);
    assert_int_equal(cfg_validate(&failsafe_section, &c.failsafe, &err), TB_OK);
    const char *why = NULL;
    assert_int_equal(chg_config_check(&c, &why), TB_OK);
    for (size_t i = 0; i < chg_section.count; i++) {
        const cfg_param_t *p = &chg_section.params[i];
        assert_non_null(cfg_param_doc(p));
        assert_true(strlen(cfg_param_doc(p)) > 20u);
        assert_true(strncmp(p->key, "charge.", 7) == 0);
        assert_true(p->def >= p->min && p->def <= p->max);
        assert_true((size_t)p->offset + cfg_param_size(p) <= sizeof(chg_config_t));
        for (size_t j = 0; j < i; j++) {
            assert_true(strcmp(p->key, chg_section.params[j].key) != 0);
        }
    }
    /* Every field of chg_config_t before the embedded failsafe has exactly one row: the rows
     * cover that part of the struct except the padding after its two bools (3 bytes each). */
    size_t covered = 0;
    for (size_t i = 0; i < chg_section.count; i++) {
        covered += cfg_param_size(&chg_section.params[i]);
    }
    assert_int_equal(covered + 6u, offsetof(chg_config_t, failsafe));

    /* Cross-field checks catch inconsistent values. */
    chg_config_t b = c;
    b.cell_float_v = 3.50f;
    assert_int_equal(chg_config_check(&b, &why), TB_ERR_RANGE);
    assert_non_null(strstr(why, "cell_float_v"));
    b = c;
    b.ccl_taper_start_v = 3.55f;
    assert_int_equal(chg_config_check(&b, &why), TB_ERR_RANGE);
    b = c;
    b.failsafe.failsafe_ms = 1000;
    assert_int_equal(chg_config_check(&b, &why), TB_ERR_RANGE);
    b = c;
    b.imbalance_release_v = 0.2f;
    assert_int_equal(chg_config_check(&b, &why), TB_ERR_RANGE);
    /* Out-of-range values are refused by the schema setter and leave the value unchanged. */
    const cfg_param_t *p = cfg_find(&chg_section, "charge.cell_bulk_v");
    assert_non_null(p);
    assert_int_equal(cfg_set_number(p, &b, 3.9, &err), TB_ERR_RANGE);
    NEAR(b.cell_bulk_v, 3.45, 1e-6);
}

static void names_are_stable_and_unique(void **state)
{
    (void)state;
    for (int i = 0; i < CHG_LIM_COUNT; i++) {
        const char *a = chg_limiter_name((chg_limiter_t)i);
        assert_string_not_equal(a, "unknown");
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(a, chg_limiter_name((chg_limiter_t)j));
        }
    }
    assert_string_equal(chg_limiter_name(CHG_LIM_STALE), "stale_data");
    assert_string_equal(chg_limiter_name(CHG_LIM_CELL_VOLTAGE_HIGH), "cell_voltage_high");
    assert_string_equal(chg_limiter_name(CHG_LIM_COUNT), "unknown");
    assert_string_equal(chg_state_name(CHG_STATE_ABSORPTION), "absorption");
    assert_string_equal(chg_state_name(CHG_STATE_COUNT), "unknown");
    assert_string_equal(chg_phase_name(CHG_PHASE_FLOAT), "float");
}

static void interp_helper(void **state)
{
    (void)state;
    const float xs[] = {0.0f, 2.0f, 10.0f};
    const float ys[] = {0.0f, 1.0f, 1.0f};
    NEAR(chg_interp(xs, ys, 3, -1.0f), 0.0, 1e-6);
    NEAR(chg_interp(xs, ys, 3, 1.0f), 0.5, 1e-6);
    NEAR(chg_interp(xs, ys, 3, 5.0f), 1.0, 1e-6);
    NEAR(chg_interp(xs, ys, 3, 50.0f), 1.0, 1e-6);
    NEAR(chg_interp(xs, ys, 0, 5.0f), 0.0, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_limits_before_first_complete_snapshot),
        cmocka_unit_test(limits_start_at_target_then_follow_ramps),
        cmocka_unit_test(implausible_snapshot_stops_charging_at_once),
        cmocka_unit_test(cvl_is_series_cells_times_target),
        cmocka_unit_test(cvl_capped_by_bms_settings),
        cmocka_unit_test(cell_controller_pulls_cvl_down_not_below_pack),
        cmocka_unit_test(cell_over_voltage_stops_in_the_same_step),
        cmocka_unit_test(bms_over_voltage_setting_lower_than_taper),
        cmocka_unit_test(charge_stop_latch_and_release),
        cmocka_unit_test(bms_fault_stops_charging_only),
        cmocka_unit_test(under_voltage_fault_allows_recovery_charge),
        cmocka_unit_test(temperature_window),
        cmocka_unit_test(board_sensor_can_be_excluded),
        cmocka_unit_test(soc_tapers),
        cmocka_unit_test(configured_maxima_and_bms_cutoffs),
        cmocka_unit_test(discharge_stop_latch_and_release),
        cmocka_unit_test(imbalance_hold_enters_and_releases),
        cmocka_unit_test(decreases_at_once_increases_held_then_ramped),
        cmocka_unit_test(ramp_rate_does_not_depend_on_the_step_rate),
        cmocka_unit_test(noisy_steady_input_does_not_oscillate),
        cmocka_unit_test(noisy_runner_does_not_make_cvl_chatter),
        cmocka_unit_test(constant_input_gives_constant_limits),
        cmocka_unit_test(long_pause_does_not_unlock_a_jump),
        cmocka_unit_test(clock_wrap_is_harmless),
        cmocka_unit_test(bulk_absorption_float_on_tail_current),
        cmocka_unit_test(absorption_ends_on_time_when_balanced),
        cmocka_unit_test(absorption_paused_by_a_dip_not_ended),
        cmocka_unit_test(absorption_waits_for_balance_then_times_out),
        cmocka_unit_test(rebulk_on_soc_drop_after_arming),
        cmocka_unit_test(rebulk_on_spread_and_low_cell),
        cmocka_unit_test(periodic_full_charge),
        cmocka_unit_test(stale_then_failsafe_then_recovery),
        cmocka_unit_test(silence_for_longer_than_the_clock_wrap),
        cmocka_unit_test(future_stamp_is_not_fresh),
        cmocka_unit_test(taper_shape_vectors),
        cmocka_unit_test(limiter_vectors),
        cmocka_unit_test(config_schema_is_complete_and_defaults_valid),
        cmocka_unit_test(names_are_stable_and_unique),
        cmocka_unit_test(interp_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
