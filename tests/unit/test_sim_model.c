/* Unit tests of the simulator's battery model and BMS logic (sim/sim.h), through the public API:
 * OCV curve, charge and energy balance, balancing, self-discharge, heat, every protection at its
 * settings register with recovery, status codes, events, statistics, reboot, determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/sim.h"

static sim_t g_sim;
static uint32_t g_now;

static sim_t *mk(uint8_t cells, double soc, double speed, uint32_t seed)
{
    sim_config_t c;
    sim_config_default(&c);
    c.cells = cells;
    c.soc_pct = soc;
    c.speed = speed;
    c.seed = seed;
    c.sleep_enabled = false;
    c.start_ms = 1000;
    g_now = 1000;
    assert_int_equal(sim_init(&g_sim, &c), SIM_OK);
    return &g_sim;
}

/* Advance the wire clock by ms in 100 ms steps. */
static void run_ms(sim_t *s, uint32_t ms)
{
    g_now += ms;
    sim_advance(s, g_now);
}

static void run_model_s(sim_t *s, double model_s)
{
    sim_truth_t t;
    sim_truth(s, &t);
    run_ms(s, (uint32_t)ceil(model_s / t.speed * 1000.0));
}

static uint16_t reg(const sim_t *s, uint16_t a)
{
    uint16_t v = 0;
    assert_int_equal(sim_read_register(s, a, &v), SIM_OK);
    return v;
}

static void wr(sim_t *s, uint16_t a, int v)
{
    assert_int_equal(sim_write_register(s, a, (uint16_t)v, g_now), SIM_OK);
}

static sim_truth_t truth(const sim_t *s)
{
    sim_truth_t t;
    sim_truth(s, &t);
    return t;
}

static double vmax(const sim_truth_t *t)
{
    double m = -1;
    for (unsigned k = 0; k < t->cells; k++) {
        m = fmax(m, t->cell_v[k]);
    }
    return m;
}

static double vmin(const sim_truth_t *t)
{
    double m = 99;
    for (unsigned k = 0; k < t->cells; k++) {
        m = fmin(m, t->cell_v[k]);
    }
    return m;
}

/* Does the event log hold id (anywhere in the 49 slots)? */
static int count_event(const sim_t *s, uint8_t id)
{
    int n = 0;
    for (uint16_t a = 201; a < 298; a += 2) {
        if ((reg(s, a) >> 8) == id) {
            n++;
        }
    }
    return n;
}

/* ---- OCV ----------------------------------------------------------------------------------- */

static void ocv_curve_monotonic_and_known_points(void **state)
{
    (void)state;
    double prev = sim_lfp_ocv(-5.0);
    for (double p = -4.99; p <= 105.0; p += 0.01) {
        double v = sim_lfp_ocv(p);
        assert_true(v > prev);
        prev = v;
    }
    assert_float_equal(sim_lfp_ocv(0), 2.500, 1e-9);
    assert_float_equal(sim_lfp_ocv(10), 3.200, 1e-9);
    assert_float_equal(sim_lfp_ocv(50), 3.300, 1e-9);
    assert_float_equal(sim_lfp_ocv(100), 3.500, 1e-9);
    /* the plateau: 20..90 % within 100 mV, the knees steep */
    assert_true(sim_lfp_ocv(90) - sim_lfp_ocv(20) < 0.100);
    assert_true(sim_lfp_ocv(5) - sim_lfp_ocv(0) > 0.5);
    assert_true(sim_lfp_ocv(100.5) - sim_lfp_ocv(99) > 0.3);
}

/* ---- charge and energy --------------------------------------------------------------------- */

static void coulomb_balance_charge(void **state)
{
    (void)state;
    sim_t *s = mk(16, 30, 100, 3);
    wr(s, 303, 4500); /* no balancing: every amp-hour goes into the cells */
    sim_truth_t a = truth(s);
    assert_int_equal(sim_set_current(s, 50.0, g_now), SIM_OK);
    run_model_s(s, 3600);
    sim_truth_t b = truth(s);
    double dq = 0;
    for (unsigned k = 0; k < 16; k++) {
        dq += b.cell_ah[k] - a.cell_ah[k];
    }
    dq /= 16;
    assert_float_equal(b.ah_in, 50.0 * b.model_s / 3600.0, 1e-6);
    /* coulombic: what went in is in the cells, less self-discharge */
    assert_float_equal(dq, b.ah_in - b.ah_self_discharge / 16, 1e-6);
    assert_true(b.ah_self_discharge > 0 && b.ah_self_discharge < 0.1);
    /* the BMS counted the same charge against its capacity setting */
    assert_float_equal(b.bms_soc_pct - a.bms_soc_pct, b.ah_in / 100.0 * 100.0, 1e-6);
    assert_float_equal(b.soc_pct - a.soc_pct, 50.0, 0.8); /* cells differ from 100 Ah by ~1 % */
}

static void energy_cycle_has_losses(void **state)
{
    (void)state;
    sim_t *s = mk(16, 40, 100, 4);
    wr(s, 303, 4500);
    sim_truth_t a = truth(s);
    sim_set_current(s, 50.0, g_now);
    run_model_s(s, 3600);
    sim_set_current(s, 0.0, g_now);
    run_model_s(s, 3600);
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_DISCHARGE;
    l.current_a = 50.0;
    l.stop_soc_pct = a.soc_pct;
    assert_int_equal(sim_set_load(s, &l, g_now), SIM_OK);
    run_model_s(s, 4 * 3600);
    sim_truth_t b = truth(s);
    assert_true(b.pack_i == 0.0);                  /* the discharge stopped */
    assert_float_equal(b.soc_pct, a.soc_pct, 0.05); /* back where it started */
    assert_true(b.wh_in > 2500.0);
    assert_true(b.wh_out < b.wh_in);   /* a cycle costs energy */
    assert_true(b.wh_loss > 0.0);
    /* what was lost is what the resistances dissipated (within the charge left over) */
    assert_float_equal(b.wh_in - b.wh_out, b.wh_loss, 0.01 * b.wh_in);
    assert_float_equal(b.ah_in - b.ah_out, (b.soc_pct - a.soc_pct) / 100.0 * 100.0, 0.5);
}

static void charger_cc_cv_to_full(void **state)
{
    (void)state;
    sim_t *s = mk(16, 60, 200, 1);
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_CHARGER;
    l.charge_a = 20;
    l.tail_a = 0.5;
    assert_int_equal(sim_set_load(s, &l, g_now), SIM_OK);
    run_model_s(s, 600);
    sim_truth_t t = truth(s);
    assert_float_equal(t.pack_i, 20.0, 1e-9); /* CC phase */
    assert_int_equal(t.status, SIM_STATUS_CHARGING);
    bool saw_cv = false;
    for (int k = 0; k < 400; k++) {
        run_model_s(s, 60);
        t = truth(s);
        assert_true(t.pack_v <= 16 * 3.55 + 0.001); /* CV: never above the set point */
        if (t.pack_i > 0.6 && t.pack_i < 19.0) {
            saw_cv = true;
            assert_float_equal(t.pack_v, 16 * 3.55, 0.002);
        }
    }
    t = truth(s);
    assert_true(saw_cv);
    assert_true(t.pack_i == 0.0); /* tail reached, charger off */
    assert_int_equal(t.protections, 0);
    assert_int_equal(t.status, SIM_STATUS_FULL);
    assert_float_equal(t.bms_soc_pct, 100.0, 1e-9);
    assert_true(t.soc_pct > 99.5);
    assert_int_equal(count_event(s, 0x63), 1); /* charging done */
    assert_int_equal(reg(s, 112), 1);          /* full charge count */
    assert_int_equal(reg(s, 50), SIM_STATUS_FULL);
}

static void charger_honours_charge_switch(void **state)
{
    (void)state;
    sim_t *s = mk(8, 50, 1, 1);
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_CHARGER;
    l.charge_a = 20;
    sim_set_load(s, &l, g_now);
    run_ms(s, 500);
    assert_float_equal(truth(s).pack_i, 20, 1e-9);
    sim_set_temperature(s, 70, g_now); /* over-heat opens both switches */
    run_ms(s, 200);
    sim_truth_t t = truth(s);
    assert_true(t.protections & SIM_PROT_OT);
    assert_false(t.charge_switch);
    assert_true(t.pack_i == 0.0);
}

static void limits_are_obeyed(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    sim_set_current(s, 80, g_now);
    assert_int_equal(sim_set_limits(s, true, 60.0, 30.0, 20.0, g_now), SIM_OK);
    run_ms(s, 300);
    assert_float_equal(truth(s).pack_i, 30.0, 1e-9);
    sim_set_current(s, -80, g_now);
    run_ms(s, 300);
    assert_float_equal(truth(s).pack_i, -20.0, 1e-9);
    /* CVL below the pack voltage: no charge current at all */
    sim_set_current(s, 50, g_now);
    sim_set_limits(s, true, truth(s).pack_v - 0.5, 50.0, 50.0, g_now);
    run_ms(s, 300);
    assert_true(truth(s).pack_i == 0.0);
    sim_set_limits(s, false, 0, 0, 0, g_now);
    run_ms(s, 300);
    assert_float_equal(truth(s).pack_i, 50.0, 1e-9);
    assert_int_equal(sim_set_limits(s, true, NAN, 1, 1, g_now), SIM_ERR_ARG);
}

/* ---- balancing ----------------------------------------------------------------------------- */

/* Spread of "charge missing from full" across cells, Ah (0 = perfectly top-balanced). */
static double top_spread(const sim_truth_t *t)
{
    double lo = 1e9, hi = -1e9;
    for (unsigned k = 0; k < t->cells; k++) {
        double m = t->cell_cap_ah[k] - t->cell_ah[k];
        lo = fmin(lo, m);
        hi = fmax(hi, m);
    }
    return hi - lo;
}

static double balance_run(int threshold_mv, uint16_t *bits_seen, double *bled)
{
    sim_config_t c;
    sim_config_default(&c);
    c.cells = 8;
    c.soc_pct = 97;
    c.soc_spread_pct = 1.0;
    c.speed = 5000;
    c.seed = 11;
    c.sleep_enabled = false;
    c.start_ms = 0;
    g_now = 0;
    sim_t *s = &g_sim;
    assert_int_equal(sim_init(s, &c), SIM_OK);
    wr(s, 303, threshold_mv);
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_CHARGER;
    l.charge_a = 2;
    l.charge_v = 8 * 3.45; /* hold the pack just above the balancing threshold */
    sim_set_load(s, &l, g_now);
    *bits_seen = 0;
    for (int k = 0; k < 100; k++) {
        run_model_s(s, 1800); /* 50 h in all */
        *bits_seen |= reg(s, 52);
        assert_int_equal(truth(s).protections, 0);
    }
    sim_truth_t t = truth(s);
    *bled = t.ah_bled;
    return top_spread(&t);
}

static void balancing_moves_charge(void **state)
{
    (void)state;
    uint16_t bits_off, bits_on;
    double bled_off, bled_on;
    double off = balance_run(4500, &bits_off, &bled_off);
    double on = balance_run(3400, &bits_on, &bled_on);
    assert_int_equal(bits_off, 0);
    assert_float_equal(bled_off, 0.0, 1e-12);
    assert_true(bits_on != 0);
    assert_true(bled_on > 0.5);
    /* without balancing the spread stays; with it, it shrinks by more than half */
    assert_true(off > 1.0);
    assert_true(on < 0.5 * off);
}

static void balancing_bits_follow_threshold(void **state)
{
    (void)state;
    sim_t *s = mk(8, 99, 1, 2);
    sim_set_current(s, 5, g_now); /* charging */
    run_ms(s, 300);
    uint16_t dec = reg(s, 51), act = reg(s, 52);
    /* the BMS decides on its own readings (registers 16-N..15, 0.1 mV) */
    double v[8], lo = 99;
    for (unsigned k = 0; k < 8; k++) {
        v[k] = reg(s, (uint16_t)(8 + k)) / 10000.0;
        lo = fmin(lo, v[k]);
    }
    uint16_t want = 0;
    for (unsigned k = 0; k < 8; k++) {
        if (v[k] > 3.4 + 1e-9 && v[k] - lo > 0.015 + 1e-9) {
            want |= (uint16_t)(1u << k);
        }
    }
    assert_int_equal(dec, want);      /* bit 0 = cell 1 */
    assert_int_not_equal(dec, 0);
    assert_int_equal(act, dec);       /* charging: every cell that needs it bleeds */
    sim_set_current(s, 0, g_now);
    run_ms(s, 300);
    assert_int_equal(reg(s, 52), 0); /* idle: no bleeding */
    assert_int_not_equal(reg(s, 51), 0);
}

/* ---- slow effects -------------------------------------------------------------------------- */

static void self_discharge_about_three_percent_a_month(void **state)
{
    (void)state;
    sim_t *s = mk(8, 60, 100000, 5);
    sim_truth_t a = truth(s);
    run_model_s(s, 30 * 86400.0);
    sim_truth_t b = truth(s);
    double drop = a.soc_pct - b.soc_pct;
    assert_true(drop > 1.5 && drop < 4.5);
    /* the BMS does not see it: its SOC still reads 60 % */
    assert_float_equal(b.bms_soc_pct, 60.0, 1e-9);
}

static void temperature_follows_current_and_ambient(void **state)
{
    (void)state;
    sim_t *s = mk(16, 90, 10, 6);
    sim_set_current(s, -90, g_now);
    run_model_s(s, 3000);
    sim_truth_t t = truth(s);
    assert_true(t.temp_ext1_c > 27.0 && t.temp_ext1_c < 45.0);
    assert_true(t.temp_ext2_c > t.temp_ext1_c); /* near the terminals: hotter */
    assert_true(t.temp_int_c > 26.0);           /* the switches heat the board */
    int16_t r42 = (int16_t)reg(s, 42);
    assert_true(fabs(r42 / 10.0 - t.temp_ext1_c) < 0.2);
    sim_set_current(s, 0, g_now);
    sim_set_ambient(s, 5.0, g_now);
    run_model_s(s, 8 * 3600);
    t = truth(s);
    assert_float_equal(t.temp_ext1_c, 5.0, 0.5);
    assert_float_equal(t.temp_int_c, 5.0, 0.1);
}

/* ---- protections --------------------------------------------------------------------------- */

static void over_voltage_trips_at_315_and_recovers(void **state)
{
    (void)state;
    int limits[] = {3700, 4000};
    for (int li = 0; li < 2; li++) {
        sim_t *s = mk(16, 60, 1, 1);
        wr(s, 315, limits[li]);
        wr(s, 332, 5);
        sim_set_current(s, 10, g_now);
        sim_fault_t f = {1.0, 3, 20.0}; /* cell 3 climbs 20 mV/s */
        assert_int_equal(sim_set_fault(s, SIM_FAULT_CELL_HIGH, &f, g_now), SIM_OK);
        uint16_t before = 0;
        int steps = 0;
        while (!(truth(s).protections & SIM_PROT_OV) && steps < 1000) {
            before = reg(s, 41);
            run_ms(s, 100);
            steps++;
        }
        sim_truth_t t = truth(s);
        assert_true(t.protections & SIM_PROT_OV);
        assert_true(before < limits[li]);             /* no trip below the setting */
        uint16_t at = reg(s, 41);
        assert_true(at >= limits[li]);                /* trips at it (register 41, mV) */
        assert_true(at < limits[li] + 3);             /* ... within one sample at 20 mV/s */
        assert_true(vmax(&t) * 1000 > limits[li] - 0.1);
        run_ms(s, 100);
        assert_int_equal(reg(s, 50), SIM_STATUS_FAULT);
        assert_true(truth(s).pack_i == 0.0); /* charge switch open */
        assert_false(truth(s).charge_switch);
        assert_true(truth(s).discharge_switch);
        assert_int_equal(count_event(s, 0x03), 1);
        assert_int_equal(reg(s, 106), 1);
        /* the cell comes back; recovery waits for register 332 seconds */
        sim_clear_fault(s, SIM_FAULT_CELL_HIGH, g_now);
        run_ms(s, 4500);
        assert_true(truth(s).protections & SIM_PROT_OV);
        run_ms(s, 1000);
        assert_false(truth(s).protections & SIM_PROT_OV);
        assert_int_equal(count_event(s, 0x79), 1);
        run_ms(s, 200);
        assert_float_equal(truth(s).pack_i, 10.0, 1e-9);
        assert_int_equal(reg(s, 50), SIM_STATUS_CHARGING);
    }
}

static void under_voltage_trips_at_316_latched_until_charger(void **state)
{
    (void)state;
    sim_t *s = mk(8, 30, 1, 1);
    wr(s, 316, 3000);
    wr(s, 301, 3100);
    sim_fault_t f = {1.0, 2, 50.0};
    sim_set_fault(s, SIM_FAULT_CELL_LOW, &f, g_now);
    uint16_t before = 0;
    for (int k = 0; k < 200 && !(truth(s).protections & SIM_PROT_UV); k++) {
        before = reg(s, 40);
        run_ms(s, 100);
    }
    sim_truth_t t = truth(s);
    assert_true(t.protections & SIM_PROT_UV);
    assert_true(before > 3000);
    assert_true(reg(s, 40) <= 3000 && reg(s, 40) >= 2995);
    assert_true(vmin(&t) * 1000 < 3000.1);
    assert_false(t.discharge_switch);
    assert_true(t.charge_switch);
    assert_int_equal(reg(s, 105), 1);
    assert_int_equal(count_event(s, 0x02), 1);
    sim_clear_fault(s, SIM_FAULT_CELL_LOW, g_now);
    sim_set_current(s, -10, g_now);
    run_ms(s, 20000);
    t = truth(s);
    assert_true(t.protections & SIM_PROT_UV); /* latched: no charger */
    assert_true(t.pack_i == 0.0);
    sim_set_current(s, 5, g_now); /* a charger */
    run_ms(s, 6000);
    t = truth(s);
    assert_false(t.protections & SIM_PROT_UV);
    assert_int_equal(count_event(s, 0x7B), 1);
}

static void discharge_over_current_317_and_peak_305(void **state)
{
    (void)state;
    sim_t *s = mk(16, 60, 1, 1);
    wr(s, 317, 50);
    sim_set_current(s, -49, g_now);
    run_ms(s, 1000);
    assert_int_equal(truth(s).protections, 0);
    sim_set_current(s, -51, g_now);
    run_ms(s, 200);
    sim_truth_t t = truth(s);
    assert_true(t.protections & SIM_PROT_OC_DIS);
    assert_true(t.pack_i == 0.0);
    assert_int_equal(reg(s, 107), 1);
    assert_int_equal(count_event(s, 0x05), 1);
    sim_set_current(s, -20, g_now);
    run_ms(s, 5200);
    t = truth(s);
    assert_false(t.protections & SIM_PROT_OC_DIS);
    assert_int_equal(count_event(s, 0x77), 1);
    assert_float_equal(t.pack_i, -20, 1e-9);
    /* a timeout in 330's high byte delays the 317 trip, the peak cutoff 305 does not wait */
    wr(s, 330, 0x0301);
    sim_set_current(s, -60, g_now);
    run_ms(s, 2000);
    assert_false(truth(s).protections & SIM_PROT_OC_DIS);
    run_ms(s, 1200);
    assert_true(truth(s).protections & SIM_PROT_OC_DIS);
    run_ms(s, 6000);
    sim_set_current(s, -10, g_now);
    run_ms(s, 6000);
    assert_false(truth(s).protections & SIM_PROT_OC_DIS);
    wr(s, 305, 80);
    sim_set_current(s, -81, g_now);
    run_ms(s, 200);
    assert_true(truth(s).protections & SIM_PROT_OC_DIS);
}

static void charge_over_current_318(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    wr(s, 318, 30);
    sim_set_current(s, 30, g_now);
    run_ms(s, 500);
    assert_int_equal(truth(s).protections, 0);
    sim_set_current(s, 31, g_now);
    run_ms(s, 200);
    sim_truth_t t = truth(s);
    assert_true(t.protections & SIM_PROT_OC_CHG);
    assert_false(t.charge_switch);
    assert_true(t.discharge_switch);
    assert_int_equal(reg(s, 108), 1);
    assert_int_equal(count_event(s, 0x06), 1);
    sim_set_current(s, 10, g_now);
    run_ms(s, 5200);
    assert_false(truth(s).protections & SIM_PROT_OC_CHG);
    assert_int_equal(count_event(s, 0x76), 1);
}

static void over_heat_319(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    wr(s, 319, 45);
    sim_set_current(s, -10, g_now);
    sim_set_temperature(s, 44.8, g_now);
    run_ms(s, 300);
    assert_int_equal(truth(s).protections, 0);
    sim_set_temperature(s, 45.2, g_now);
    run_ms(s, 200);
    sim_truth_t t = truth(s);
    assert_true(t.protections & SIM_PROT_OT);
    assert_false(t.charge_switch);
    assert_false(t.discharge_switch);
    assert_int_equal(reg(s, 109), 1);
    assert_int_equal(count_event(s, 0x04), 1);
    assert_int_equal(reg(s, 50), SIM_STATUS_FAULT);
    sim_set_temperature(s, 42, g_now); /* inside the 5 degC hysteresis */
    run_ms(s, 8000);
    assert_true(truth(s).protections & SIM_PROT_OT);
    sim_set_temperature(s, 35, g_now);
    run_ms(s, 5200);
    assert_false(truth(s).protections & SIM_PROT_OT);
    assert_int_equal(count_event(s, 0x73), 1);
}

static void low_temperature_charge_cutoff_320(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    wr(s, 320, 5);
    sim_set_ambient(s, 4, g_now);
    sim_set_temperature(s, 4, g_now);
    sim_set_current(s, 10, g_now);
    run_ms(s, 200);
    sim_truth_t t = truth(s);
    assert_true(t.protections & SIM_PROT_UT_CHG);
    assert_true(t.pack_i == 0.0);
    assert_true(t.discharge_switch); /* a warning: discharge still allowed */
    assert_int_not_equal(reg(s, 50), SIM_STATUS_FAULT);
    assert_int_equal(count_event(s, 0x37), 1);
    sim_set_current(s, -10, g_now);
    run_ms(s, 300);
    assert_float_equal(truth(s).pack_i, -10, 1e-9);
    sim_set_ambient(s, 20, g_now);
    sim_set_temperature(s, 20, g_now);
    run_ms(s, 5200);
    assert_false(truth(s).protections & SIM_PROT_UT_CHG);
    assert_int_equal(count_event(s, 0x74), 1);
    /* a temperature right at the setting still refuses charge */
    wr(s, 320, 10);
    sim_set_ambient(s, 10, g_now);
    sim_set_temperature(s, 10, g_now);
    sim_set_current(s, 5, g_now);
    run_ms(s, 200);
    assert_true(truth(s).protections & SIM_PROT_UT_CHG);
}

static void fully_discharged_cutoff_301(void **state)
{
    (void)state;
    sim_t *s = mk(16, 8, 50, 1);
    sim_set_current(s, -30, g_now);
    sim_truth_t t;
    for (int k = 0; k < 100; k++) {
        run_model_s(s, 60);
        t = truth(s);
        if (t.protections & SIM_PROT_EMPTY) {
            break;
        }
    }
    assert_true(t.protections & SIM_PROT_EMPTY);
    assert_true(t.pack_i == 0.0);
    assert_float_equal(t.bms_soc_pct, 0.0, 1e-9); /* SOC set to 0 */
    assert_int_equal(count_event(s, 0x31), 1);
    assert_true(t.soc_pct > 1.0 && t.soc_pct < 10.0);
    sim_set_current(s, 10, g_now); /* charger recovers it */
    run_model_s(s, 300);
    assert_false(truth(s).protections & SIM_PROT_EMPTY);
    assert_int_equal(count_event(s, 0x7A), 1);
}

static void injected_bms_fault_and_switches(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    sim_set_current(s, -10, g_now);
    sim_fault_t f = {1.0, 0x0C, 0};
    assert_int_equal(sim_set_fault(s, SIM_FAULT_BMS_FAULT, &f, g_now), SIM_OK);
    run_ms(s, 200);
    sim_truth_t t = truth(s);
    assert_int_equal(t.status, SIM_STATUS_FAULT);
    assert_true(t.pack_i == 0.0);
    assert_int_equal(count_event(s, 0x0C), 1);
    sim_clear_fault(s, SIM_FAULT_BMS_FAULT, g_now);
    run_ms(s, 200);
    assert_int_equal(reg(s, 50), SIM_STATUS_DISCHARGING);
}

/* ---- status, events, statistics, reboot, determinism -------------------------------------- */

static void status_codes(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    run_ms(s, 200);
    assert_int_equal(reg(s, 50), SIM_STATUS_IDLE);
    sim_set_current(s, 0.5, g_now); /* below the 0.8 A activity threshold */
    run_ms(s, 200);
    assert_int_equal(reg(s, 50), SIM_STATUS_IDLE);
    sim_set_current(s, 10, g_now);
    run_ms(s, 200);
    assert_int_equal(reg(s, 50), SIM_STATUS_CHARGING);
    sim_set_charger_mode(s, 2, g_now); /* current in without a charger: regeneration */
    run_ms(s, 200);
    assert_int_equal(reg(s, 50), SIM_STATUS_REGEN);
    wr(s, 340, 1); /* single port: no regeneration state (reboots) */
    run_ms(s, 2000);
    assert_int_equal(reg(s, 50), SIM_STATUS_CHARGING);
    sim_set_current(s, -10, g_now);
    run_ms(s, 200);
    assert_int_equal(reg(s, 50), SIM_STATUS_DISCHARGING);
    assert_true(count_event(s, 0x62) >= 1); /* charging started */
    assert_true(reg(s, 111) >= 1);
}

static void measurements_refresh_every_100ms(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    run_ms(s, 50); /* wire time 1050: last measurement at 1000 */
    sim_set_current(s, -25, g_now);
    run_ms(s, 40); /* 1090 */
    uint32_t lo = reg(s, 38), hi = reg(s, 39);
    float f;
    uint32_t u = lo | (hi << 16);
    memcpy(&f, &u, 4);
    assert_true(f == 0.0f);
    run_ms(s, 10); /* 1100: a new measurement */
    u = reg(s, 38) | ((uint32_t)reg(s, 39) << 16);
    memcpy(&f, &u, 4);
    assert_float_equal(f, -25.0, 1e-6);
}

static void event_ring_wraps_at_49(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    wr(s, 318, 5);
    wr(s, 332, 1);
    /* each cycle: trip (0x06) + recovery (0x76) */
    for (int k = 0; k < 30; k++) {
        sim_set_current(s, 6, g_now);
        run_ms(s, 200);
        sim_set_current(s, 1, g_now);
        run_ms(s, 1200);
    }
    int used = 0;
    for (uint16_t a = 201; a < 298; a += 2) {
        used += reg(s, a) != 0;
    }
    assert_int_equal(used, 49);
    assert_int_equal(count_event(s, 0x61), 0); /* the oldest ones were overwritten */
    assert_int_equal(reg(s, 108), 30);
    /* timestamps are lifetime seconds, 24 bits */
    uint32_t life = reg(s, 32) | ((uint32_t)reg(s, 33) << 16);
    for (uint16_t a = 200; a < 298; a += 2) {
        uint32_t ts = reg(s, a) | ((uint32_t)(reg(s, (uint16_t)(a + 1)) & 0xFF) << 16);
        assert_true(ts <= (life & 0xFFFFFF) && ts + 200 > (life & 0xFFFFFF));
    }
}

static void statistics_record_extremes(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    sim_set_current(s, -42.34, g_now);
    run_ms(s, 300);
    sim_set_current(s, 17.0, g_now);
    run_ms(s, 300);
    sim_set_current(s, 0, g_now);
    run_ms(s, 300);
    assert_int_equal(reg(s, 102), 423);
    assert_int_equal(reg(s, 103), 170);
    assert_true(reg(s, 104) > 0);
    assert_int_equal(reg(s, 113) & 0xFF, 25);
    assert_int_equal(reg(s, 113) >> 8, 25);
    assert_int_equal(reg(s, 114), 5); /* power-on reset, no wake-up yet */
    uint32_t cleared = reg(s, 116) | ((uint32_t)reg(s, 117) << 16);
    assert_int_equal(cleared, 86400);
}

static void write_340_reboots(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    run_ms(s, 3000);
    uint32_t life0 = reg(s, 32);
    assert_int_equal(sim_write_register(s, 340, 1, g_now), SIM_OK);
    assert_true(truth(s).rebooting);
    assert_int_equal(sim_write_register(s, 300, 3500, g_now), SIM_ERR_BUSY);
    run_ms(s, 1000);
    assert_true(truth(s).rebooting);
    run_ms(s, 600);
    assert_false(truth(s).rebooting);
    assert_int_equal(count_event(s, 0x61), 2);
    assert_int_equal(count_event(s, 0x67), 1); /* single-port mode activated */
    assert_int_equal(reg(s, 114) & 0xFF, 4);   /* software reset */
    assert_true(reg(s, 32) >= life0 + 1);      /* lifetime kept counting */
}

static void settings_checks(void **state)
{
    (void)state;
    sim_t *s = mk(14, 50, 1, 1);
    assert_int_equal(reg(s, 307), 14);
    assert_int_equal(reg(s, 306), 10000);
    assert_int_equal(reg(s, 53), 14);
    assert_int_equal(sim_write_register(s, 315, 4501, g_now), SIM_ERR_RANGE);
    assert_int_equal(sim_write_register(s, 320, (uint16_t)-41, g_now), SIM_ERR_RANGE);
    assert_int_equal(sim_write_register(s, 320, (uint16_t)-40, g_now), SIM_OK);
    assert_int_equal(sim_write_register(s, 50, 1, g_now), SIM_ERR_READONLY);
    assert_int_equal(sim_write_register(s, 400, 1, g_now), SIM_ERR_READONLY);
    assert_int_equal(sim_write_register(s, 330, 0x1F01, g_now), SIM_ERR_RANGE);
    assert_int_equal(sim_write_register(s, 330, 0x1E02, g_now), SIM_OK);
    assert_int_equal(sim_write_register(s, 313, 2, g_now), SIM_ERR_RANGE); /* 131072+1000 */
    assert_int_equal(sim_write_register(s, 302, 1234, g_now), SIM_OK);      /* reserved */
    assert_int_equal(reg(s, 302), 0);
    assert_int_equal(sim_write_register(s, 328, 25000, g_now), SIM_OK);     /* SOC 50 % */
    assert_int_equal(reg(s, 328), 0xFFFF);
    run_ms(s, 100);
    assert_int_equal(reg(s, 46) | ((uint32_t)reg(s, 47) << 16), 50000000);
    uint16_t d, lo, hi;
    assert_int_equal(sim_setting_info(320, &d, &lo, &hi), SIM_OK);
    assert_int_equal((int16_t)lo, -40);
    assert_int_equal(sim_setting_info(299, &d, &lo, &hi), SIM_ERR_ARG);
}

static uint16_t read42(const sim_t *s)
{
    uint16_t v = 0;
    sim_read_register(s, 42, &v);
    return v;
}

static void run_scenario(sim_t *s, uint32_t seed, sim_truth_t *out, uint16_t *regs)
{
    sim_config_t c;
    sim_config_default(&c);
    c.seed = seed;
    c.speed = 50;
    c.start_ms = 5;
    assert_int_equal(sim_init(s, &c), SIM_OK);
    sim_fault_t f = {0.3, 0, 0};
    sim_set_fault(s, SIM_FAULT_TEMP_OPEN, &f, 5);
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_SOLAR;
    l.solar_peak_a = 40;
    l.solar_load_a = 8;
    l.start_hour = 7;
    sim_set_load(s, &l, 5);
    uint32_t t = 5;
    for (int k = 0; k < 500; k++) {
        t += 137;
        sim_advance(s, t);
        regs[k] = read42(s);
    }
    sim_truth(s, out);
}

static void deterministic_given_seed(void **state)
{
    (void)state;
    static sim_t a, b;
    static uint16_t ra[500], rb[500];
    sim_truth_t ta, tb;
    run_scenario(&a, 77, &ta, ra);
    run_scenario(&b, 77, &tb, rb);
    assert_memory_equal(&ta, &tb, sizeof ta);
    assert_memory_equal(ra, rb, sizeof ra);
    int opens = 0;
    for (int k = 0; k < 500; k++) {
        opens += ra[k] == 0x8000;
    }
    assert_true(opens > 50 && opens < 300); /* intermittent open sensor, p = 0.3 */
    run_scenario(&b, 78, &tb, rb);
    assert_true(memcmp(ta.cell_cap_ah, tb.cell_cap_ah, sizeof ta.cell_cap_ah) != 0);
}

static void bad_arguments_change_nothing(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    sim_config_t c;
    sim_config_default(&c);
    c.cells = 3;
    static sim_t z;
    assert_int_equal(sim_init(&z, &c), SIM_ERR_ARG);
    c.cells = 17;
    assert_int_equal(sim_init(&z, &c), SIM_ERR_ARG);
    sim_config_default(&c);
    c.capacity_ah = NAN;
    assert_int_equal(sim_init(&z, &c), SIM_ERR_ARG);
    assert_int_equal(sim_init(NULL, &c), SIM_ERR_ARG);
    sim_truth_t before = truth(s);
    assert_int_equal(sim_set_current(s, NAN, g_now), SIM_ERR_ARG);
    assert_int_equal(sim_set_current(s, 1e9, g_now), SIM_ERR_ARG);
    assert_int_equal(sim_set_soc(s, 101, g_now), SIM_ERR_ARG);
    assert_int_equal(sim_set_speed(s, 0, g_now), SIM_ERR_ARG);
    sim_fault_t f = {1.5, 0, 0};
    assert_int_equal(sim_set_fault(s, SIM_FAULT_CRC, &f, g_now), SIM_ERR_ARG);
    f.probability = 1.0;
    f.param = 17;
    assert_int_equal(sim_set_fault(s, SIM_FAULT_CELL_HIGH, &f, g_now), SIM_ERR_ARG);
    assert_int_equal(sim_set_fault(s, SIM_FAULT_COUNT, &f, g_now), SIM_ERR_ARG);
    sim_point_t p[2] = {{10, 1}, {5, 2}};
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_PROFILE;
    l.points = p;
    l.n_points = 2;
    assert_int_equal(sim_set_load(s, &l, g_now), SIM_ERR_ARG); /* time goes backwards */
    sim_truth_t after = truth(s);
    assert_memory_equal(&before, &after, sizeof before);
    char small[16];
    assert_int_equal(sim_truth_json(s, small, sizeof small), SIM_ERR_NOSPACE);
    assert_string_equal(small, "");
}

/* The documented bound: 2048 bytes hold the JSON truth in the widest state. */
static void truth_json_fits_2048(void **state)
{
    (void)state;
    sim_t *s = mk(16, 100, 1, 1);
    for (unsigned k = 0; k < SIM_FAULT_COUNT; k++) {
        sim_fault_t f = {1.0, k == SIM_FAULT_CELL_HIGH || k == SIM_FAULT_CELL_LOW ? 1u + k : 1u,
                         1000.0};
        assert_int_equal(sim_set_fault(s, (sim_fault_kind_t)k, &f, g_now), SIM_OK);
    }
    sim_set_temperature(s, -50, g_now);
    sim_set_current(s, -9999.9999, g_now);
    run_ms(s, 5000);
    static char buf[2048];
    int n = sim_truth_json(s, buf, sizeof buf);
    assert_true(n > 800 && n < 2048);
    assert_int_equal(buf[n], '\0');
}

static void profile_interpolates(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    static const char text[] = "# time_s,current_a\n0, 0\n10,-20 # ramp\n\n  20 , 10\n";
    sim_point_t p[8];
    size_t n = 0, line = 0;
    assert_int_equal(sim_profile_parse(text, sizeof text - 1, p, 8, &n, &line), SIM_OK);
    assert_int_equal(n, 3);
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_PROFILE;
    l.points = p;
    l.n_points = n;
    l.loop = true;
    assert_int_equal(sim_set_load(s, &l, g_now), SIM_OK);
    run_ms(s, 5000);
    assert_float_equal(truth(s).pack_i, -10.0, 0.21);
    run_ms(s, 10000);
    assert_float_equal(truth(s).pack_i, -5.0, 0.31);
    run_ms(s, 10000); /* looped: t = 25 -> 5 */
    assert_float_equal(truth(s).pack_i, -10.0, 0.21);
    static const char bad[] = "0,0\n5,1\n5,2\n";
    assert_int_equal(sim_profile_parse(bad, sizeof bad - 1, p, 8, &n, &line), SIM_ERR_FORMAT);
    assert_int_equal(line, 3);
    assert_int_equal(n, 0);
    static const char bad2[] = "0,0\nx,1\n";
    assert_int_equal(sim_profile_parse(bad2, sizeof bad2 - 1, p, 8, &n, &line), SIM_ERR_FORMAT);
    assert_int_equal(line, 2);
    static const char many[] = "0,0\n1,1\n2,2\n";
    assert_int_equal(sim_profile_parse(many, sizeof many - 1, p, 2, &n, &line), SIM_ERR_NOSPACE);
    assert_int_equal(sim_profile_parse("", 0, p, 2, &n, &line), SIM_ERR_FORMAT);
    assert_int_equal(sim_profile_parse("0,inf\n", 6, p, 2, &n, &line), SIM_ERR_FORMAT);
}

/* The DAY load: PV only between 06:00 and 18:00 with each day's own weather (the same for the same
 * seed), a household load curve whose mean is solar_load_a (evening peak above the night base), so
 * that a battery on it charges by day and discharges by night, day after day. */
static void day_load_cycles(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 600, 5);
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_DAY;
    l.solar_peak_a = 16;
    l.solar_load_a = 4;
    l.start_hour = 0;
    assert_int_equal(sim_set_load(s, &l, g_now), SIM_OK);
    double peak[4] = {0}, night_min[4] = {0}, evening[4] = {0}, soc_min = 100, soc_max = 0;
    double mean_night = 0;
    int n_night = 0;
    for (int step = 0; step < 4 * 24 * 60; step++) { /* one model minute per 100 ms */
        run_ms(s, 100);
        sim_truth_t t;
        sim_truth(s, &t);
        int day = (int)(t.model_s / 86400.0);
        double h = fmod(t.model_s / 3600.0, 24.0);
        if (day > 3) {
            break;
        }
        if (h > 11.5 && h < 12.5 && t.soc_pct < 95) {
            peak[day] = fmax(peak[day], t.pack_i); /* not yet full: PV minus the load reaches the pack */
        }
        if (h < 5) {
            night_min[day] = fmin(night_min[day], t.pack_i);
            mean_night += t.pack_i;
            n_night++;
        }
        if (h > 18.5 && h < 19.5) {
            evening[day] = fmin(evening[day], t.pack_i);
        }
        soc_min = fmin(soc_min, t.soc_pct);
        soc_max = fmax(soc_max, t.soc_pct);
    }
    mean_night /= n_night;
    for (int d = 0; d < 4; d++) {
        printf("day %d: noon %.2f A, night %.2f A, evening %.2f A\n", d, peak[d], night_min[d], evening[d]);
    }
    printf("SOC %.1f..%.1f %%, mean night %.2f A\n", soc_min, soc_max, mean_night);
    for (int d = 0; d < 4; d++) {
        assert_true(night_min[d] < -1.4 && night_min[d] > -2.0); /* 0.4..0.5 of the mean 4 A */
        assert_true(evening[d] < -7.5 && evening[d] > -8.5);     /* 1.9..2.0 of it */
    }
    assert_true(mean_night < -1.5 && mean_night > -1.8);
    assert_true(soc_max - soc_min > 10);
    /* the weather changes from day to day (0.35..1 of the clear-day peak) */
    double lo = peak[0], hi = peak[0];
    for (int d = 1; d < 4; d++) {
        assert_true(peak[d] > 0);
        lo = fmin(lo, peak[d]);
        hi = fmax(hi, peak[d]);
    }
    assert_true(hi - lo > 1.0);
}

/* sim_write_registers: one checked list, as a Modbus 0x10 write; a refused list changes nothing. */
static void write_registers_list(void **state)
{
    (void)state;
    sim_t *s = mk(16, 50, 1, 1);
    uint16_t a[3] = {315, 312, 313}, v[3] = {3700, 0xA120, 0x0007}; /* 0x7A120 = 500000: out of 1..100000 */
    uint16_t before[3];
    for (int k = 0; k < 3; k++) {
        assert_int_equal(sim_read_register(s, a[k], &before[k]), SIM_OK);
    }
    assert_int_equal(sim_write_registers(s, a, v, 3, g_now), SIM_ERR_RANGE);
    for (int k = 0; k < 3; k++) {
        uint16_t x;
        assert_int_equal(sim_read_register(s, a[k], &x), SIM_OK);
        assert_int_equal(x, before[k]);
    }
    v[1] = 0x86A0;
    v[2] = 0x0001; /* 100000 */
    assert_int_equal(sim_write_registers(s, a, v, 3, g_now), SIM_OK);
    for (int k = 0; k < 3; k++) {
        uint16_t x;
        assert_int_equal(sim_read_register(s, a[k], &x), SIM_OK);
        assert_int_equal(x, v[k]);
    }
    assert_int_equal(sim_write_registers(s, NULL, v, 1, g_now), SIM_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ocv_curve_monotonic_and_known_points),
        cmocka_unit_test(coulomb_balance_charge),
        cmocka_unit_test(energy_cycle_has_losses),
        cmocka_unit_test(charger_cc_cv_to_full),
        cmocka_unit_test(charger_honours_charge_switch),
        cmocka_unit_test(limits_are_obeyed),
        cmocka_unit_test(balancing_moves_charge),
        cmocka_unit_test(balancing_bits_follow_threshold),
        cmocka_unit_test(self_discharge_about_three_percent_a_month),
        cmocka_unit_test(temperature_follows_current_and_ambient),
        cmocka_unit_test(over_voltage_trips_at_315_and_recovers),
        cmocka_unit_test(under_voltage_trips_at_316_latched_until_charger),
        cmocka_unit_test(discharge_over_current_317_and_peak_305),
        cmocka_unit_test(charge_over_current_318),
        cmocka_unit_test(over_heat_319),
        cmocka_unit_test(low_temperature_charge_cutoff_320),
        cmocka_unit_test(fully_discharged_cutoff_301),
        cmocka_unit_test(injected_bms_fault_and_switches),
        cmocka_unit_test(status_codes),
        cmocka_unit_test(measurements_refresh_every_100ms),
        cmocka_unit_test(event_ring_wraps_at_49),
        cmocka_unit_test(statistics_record_extremes),
        cmocka_unit_test(write_340_reboots),
        cmocka_unit_test(settings_checks),
        cmocka_unit_test(deterministic_given_seed),
        cmocka_unit_test(bad_arguments_change_nothing),
        cmocka_unit_test(truth_json_fits_2048),
        cmocka_unit_test(profile_interpolates),
        cmocka_unit_test(day_load_cycles),
        cmocka_unit_test(write_registers_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
