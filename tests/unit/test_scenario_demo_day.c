/* Scenario: the demo's battery over several simulated days (issue 17: "after 6 minutes the demo
 * sits at 100 % and 0 A"). The battery, its speed and its household day are the ones
 * `tinybms-gateway --demo` runs (ports/linux/demo.h: 16 x 280 Ah at 30x, sim load DAY with PV
 * peak and mean load), the gateway with its default configuration, the simulated GX obeying the
 * bus (tests/unit/support/scenario_rig.h), as in the demo.
 *
 * Expected: the demo keeps moving. Every simulated day the SOC swings (charge in the morning, a
 * night discharge), current flows most of the time (a full battery at midday, with PV covering
 * the loads, rests at 0 A for some hours, as a real one does), the charge controller goes through
 * bulk and absorption or float, the battery never needs a BMS
 * protection, and the oracle sees no bad 0x351. Printed: the SOC range and the hours at 0 A per
 * day, for the docs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ports/linux/demo.h"
#include "scenario_rig.h"

/* Four simulated days; the sanitizer build (ten times slower) runs three (the last day must see
 * bulk, which day 2 skips): memory errors do not need four days to show, and the four are proven
 * by the normal build. */
#if defined(__SANITIZE_ADDRESS__)
#define DAYS 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DAYS 3
#endif
#endif
#ifndef DAYS
#define DAYS 4
#endif

static scen_t R;

static void demo_keeps_moving(void **state)
{
    (void)state;
    scen_opts_t o;
    scen_opts_default(&o);
    o.cells = DEMO_CELLS;
    o.capacity_ah = DEMO_CAPACITY_AH;
    o.soc_pct = DEMO_SOC_PCT;
    o.speed = DEMO_SPEED;
    o.soc_spread_pct = DEMO_SOC_SPREAD_PCT;
    o.seed = 1796681505u; /* a seed the demo drew from the clock */
    o.log_level = LOG_ERROR;
    assert_int_equal(scen_init(&R, &o, NULL), 1);
    uint16_t full_mv = (uint16_t)(R.cfg.charge.cell_bulk_v * 1000.0f + 0.5f);
    assert_int_equal(sim_write_register(&R.sim, 300, full_mv, R.now), SIM_OK);
    sim_load_t load;
    memset(&load, 0, sizeof load);
    load.kind = SIM_LOAD_DAY;
    load.solar_peak_a = DEMO_PV_PEAK_A;
    load.solar_load_a = DEMO_LOAD_MEAN_A;
    load.start_hour = DEMO_START_HOUR;
    assert_int_equal(sim_set_load(&R.sim, &load, R.now), SIM_OK);

    double soc_min[DAYS], soc_max[DAYS];
    unsigned idle[DAYS], samples[DAYS], charging[DAYS], discharging[DAYS];
    bool bulk[DAYS], charged[DAYS];
    for (int d = 0; d < DAYS; d++) {
        soc_min[d] = 101.0;
        soc_max[d] = -1.0;
        idle[d] = samples[d] = charging[d] = discharging[d] = 0;
        bulk[d] = charged[d] = false;
    }
    double next = 0.0;
    while (scen_model_h(&R) < 24.0 * DAYS) {
        scen_step(&R);
        double h = scen_model_h(&R);
        if (h < next) {
            continue;
        }
        next += 0.25; /* every quarter of a battery hour */
        int d = (int)(h / 24.0);
        if (d >= DAYS) {
            break;
        }
        double soc = R.truth.soc_pct, i = R.truth.pack_i;
        soc_min[d] = fmin(soc_min[d], soc);
        soc_max[d] = fmax(soc_max[d], soc);
        samples[d]++;
        idle[d] += fabs(i) < 1.0;
        charging[d] += i > 1.0;
        discharging[d] += i < -1.0;
        chg_state_t st = R.gw.limits.state;
        bulk[d] |= st == CHG_STATE_BULK;
        charged[d] |= st == CHG_STATE_ABSORPTION || st == CHG_STATE_FLOAT;
    }
    for (int d = 0; d < DAYS; d++) {
        printf("demo day %d: SOC %.1f..%.1f %%, %.1f h at 0 A, %.1f h charging, %.1f h discharging; bulk %s, "
               "absorption/float %s\n",
               d + 1, soc_min[d], soc_max[d], idle[d] / 4.0, charging[d] / 4.0, discharging[d] / 4.0,
               bulk[d] ? "yes" : "no", charged[d] ? "yes" : "no");
    }
    printf("highest cell %.3f V, lowest %.3f V, BMS protections 0x%X, oracle violations %u%s%s\n", R.max_cell_true_v,
           R.min_cell_true_v, R.protections_seen, R.violations, R.violations ? ": " : "", R.first_violation);
    for (int d = 0; d < DAYS; d++) {
        assert_true(soc_max[d] - soc_min[d] >= 25.0);      /* a real daily cycle */
        assert_true(idle[d] <= samples[d] / 3u);            /* at 0 A at most 8 hours a day */
        assert_true(charging[d] >= samples[d] / 8u);        /* charging 3 hours or more */
        assert_true(discharging[d] >= samples[d] / 4u);     /* discharging 6 hours or more */
        assert_true(bulk[d] || charged[d]);                 /* charging under the controller */
    }
    /* the charge phases turn: bulk after the night, absorption or float once full (a day that
     * starts in float may stay there: the controller re-bulks on its own rules) */
    assert_true(bulk[0] && charged[0]);
    assert_true(bulk[DAYS - 1] && charged[DAYS - 1]);
    assert_int_equal(R.protections_seen & SIM_PROT_FAULTS, 0);
    assert_int_equal(R.violations, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(demo_keeps_moving),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
