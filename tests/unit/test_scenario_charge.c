/* Scenario: a full charge from 20 % on the simulated battery, through the real poller, charge
 * controller and CAN scheduler (tests/unit/support/scenario_rig.h), with the simulated charger
 * obeying the 0x351 that went on the bus. It must reach absorption, then float, and hold float
 * for a simulated day with CVL changing no more than a few times per hour, without the simulated
 * BMS ever having to protect the battery.
 *
 * Time: the battery runs 10x faster than the wire (sim speed 10). The main cases express the
 * controller's time parameters in battery time (scen_config_battery_time: durations / 10, rates
 * x 10), so that against the battery the controller behaves as the default configuration does
 * in real time; CVL changes are then counted per battery hour. The last case keeps the default
 * configuration unscaled - the battery then moves 10x faster than the controller expects, a
 * harsher test for chatter - and counts per wire hour (the GX's hour).
 *
 * The measured figures are printed; the assertions use bounds derived from the configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scenario_rig.h"

#define SPEED 10.0
/* Float is held this long (battery hours). The sanitizer build runs the same scenarios ten times
 * slower; there it holds float for 4 h: memory errors do not need a day to show up, and the day
 * is proven by the normal build. */
#if defined(__SANITIZE_ADDRESS__)
#define HOLD_H 4.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOLD_H 4.0
#endif
#endif
#ifndef HOLD_H
#define HOLD_H 24.0
#endif
#define MAX_CVL_CHANGES_PER_HOUR 6u
#define MAX_HOURS 48u

static scen_t R;

typedef struct {
    bool per_wire_hour;       /* count CVL changes per wire hour (else battery hour) */
    float float_cvl;          /* the float target on the wire */
    bool have;
    float cvl;
    chg_state_t state;
    /* milestones (wire ms, battery h) */
    bool absorption, flt, hold;
    double absorption_h, float_h, hold_h;
    uint32_t hold_ms;
    double soc_at_float;
    float spread_at_float;
    /* float descent: absorption target -> float target */
    unsigned descent_steps;
    bool descent_only_down;
    /* the hold */
    unsigned per_hour[MAX_HOURS];
    unsigned hold_changes;
    unsigned hold_not_float;  /* 0x351 frames in the hold whose state was not float */
    unsigned ccl_changes;
    unsigned ccl_reversals;   /* CCL changes whose direction differs from the previous change */
    unsigned ccl_rev_per_hour[MAX_HOURS];
    int ccl_dir;
    float ccl;
} obs_t;

/* Battery hours since the hold started (the hold lasts HOLD_H of them). */
static double hold_hours(const scen_t *s, const obs_t *o)
{
    return scen_model_h(s) - o->hold_h;
}

/* The histogram bin: battery or wire hours since the hold started. */
static unsigned hold_bin(const scen_t *s, const obs_t *o)
{
    return o->per_wire_hour ? (unsigned)((s->now - o->hold_ms) / 3600000u) : (unsigned)hold_hours(s, o);
}

static void on_351(scen_t *s, const scen_351_t *f, void *ctx)
{
    obs_t *o = ctx;
    if (!o->absorption && f->state == CHG_STATE_ABSORPTION) {
        o->absorption = true;
        o->absorption_h = scen_model_h(s);
        scen_say(s, "absorption at %.2f h, SOC %.1f %%, highest cell %.3f V", o->absorption_h, s->truth.soc_pct,
                 (double)s->gw.limits.cell_max_v);
    }
    if (!o->flt && f->state == CHG_STATE_FLOAT) {
        o->flt = true;
        o->float_h = scen_model_h(s);
        o->soc_at_float = s->truth.soc_pct;
        o->spread_at_float = s->gw.limits.spread_v;
        o->descent_only_down = true;
        scen_say(s, "float at %.2f h, SOC %.1f %%, cell spread %.1f mV (absorption ended on %s)", o->float_h,
                 o->soc_at_float, (double)o->spread_at_float * 1000.0,
                 o->spread_at_float <= s->cfg.charge.float_max_spread_v ? "tail current / time, cells balanced"
                                                                        : "its time limit, cells unbalanced");
    }
    bool cvl_changed = o->have && fabsf(f->lim.cvl_v - o->cvl) > 0.05f;
    if (o->flt && !o->hold) {
        if (cvl_changed) {
            o->descent_steps++;
            if (!(f->lim.cvl_v < o->cvl)) {
                o->descent_only_down = false;
            }
        }
        if (fabsf(f->lim.cvl_v - o->float_cvl) < 0.05f) {
            o->hold = true;
            o->hold_ms = f->t_ms;
            o->hold_h = scen_model_h(s);
            o->ccl = f->lim.ccl_a;
            scen_say(s, "float target %.1f V reached at %.2f h after %u steps of the descent", (double)o->float_cvl,
                     o->hold_h, o->descent_steps);
        }
    } else if (o->hold) {
        double h = hold_hours(s, o);
        if (h < HOLD_H) {
            unsigned bin = hold_bin(s, o);
            if (cvl_changed && bin < MAX_HOURS) {
                o->per_hour[bin]++;
                o->hold_changes++;
            }
            if (f->state != CHG_STATE_FLOAT) {
                o->hold_not_float++;
            }
            if (fabsf(f->lim.ccl_a - o->ccl) > 0.05f) {
                int dir = f->lim.ccl_a > o->ccl ? 1 : -1;
                o->ccl_changes++;
                if (o->ccl_dir != 0 && dir != o->ccl_dir && bin < MAX_HOURS) {
                    o->ccl_reversals++;
                    o->ccl_rev_per_hour[bin]++;
                }
                o->ccl_dir = dir;
            }
        }
    }
    o->have = true;
    o->cvl = f->lim.cvl_v;
    o->ccl = f->lim.ccl_a;
    o->state = f->state;
}

static bool hold_done(const scen_t *s, void *ctx)
{
    const obs_t *o = ctx;
    return o->hold && hold_hours(s, o) >= HOLD_H;
}

/* Runs the charge; the caller has set the load. */
static void charge_and_hold(obs_t *o, uint32_t max_wire_s)
{
    o->float_cvl = floorf((float)R.opts.cells * R.cfg.charge.cell_float_v * 10.0f + 1e-3f) / 10.0f;
    R.on_351 = on_351;
    R.hook_ctx = o;
    bool done = scen_run_until(&R, max_wire_s * 1000u, hold_done, o);

    sim_truth_t *t = &R.truth;
    double ov = R.gw.poll.snap.settings.over_voltage_v;
    printf("  float held for %.0f battery hours%s\n", HOLD_H, HOLD_H < 24.0 ? " (sanitizer build)" : "");
    printf("  result: absorption %.2f h, float %.2f h (SOC %.1f %%), float target from %.2f h, held to %.2f h "
           "(battery time), %.0f s of wire time, %u steps\n",
           o->absorption_h, o->float_h, o->soc_at_float, o->hold_h, scen_model_h(&R), scen_wire_s(&R), R.steps);
    printf("  float descent: %u CVL steps, all down: %s\n", o->descent_steps, o->descent_only_down ? "yes" : "NO");
    printf("  CVL changes per %s hour while holding float (%u in all):\n   ", o->per_wire_hour ? "wire" : "battery",
           o->hold_changes);
    unsigned worst = 0;
    unsigned worst_rev = 0;
    unsigned bins = o->per_wire_hour ? (unsigned)ceil(HOLD_H / SPEED) : (unsigned)HOLD_H;
    for (unsigned h = 0; h < bins && h < MAX_HOURS; h++) {
        printf(" %u", o->per_hour[h]);
        worst = o->per_hour[h] > worst ? o->per_hour[h] : worst;
        worst_rev = o->ccl_rev_per_hour[h] > worst_rev ? o->ccl_rev_per_hour[h] : worst_rev;
    }
    printf("\n  CCL: %u changes in 0.1 A steps following its limiters, %u reversals of direction (at most %u in an hour)",
           o->ccl_changes, o->ccl_reversals, worst_rev);
    printf("\n  highest cell ever %.3f V (BMS over-voltage cut-off %.3f V), lowest %.3f V; BMS protections seen: 0x%X;"
           " %.1f Ah in, %.1f Ah out; 0x351 frames %u, longest gap %u ms; oracle violations %u\n",
           R.max_cell_true_v, ov, R.min_cell_true_v, R.protections_seen, t->ah_in, t->ah_out, R.n351, R.max_351_gap_ms,
           R.violations);

    if (R.violations) {
        fail_msg("oracle: %s", R.first_violation);
    }
    assert_true(o->absorption);
    assert_true(o->flt);
    assert_true(o->absorption_h <= o->float_h);
    assert_true(o->descent_only_down);
    assert_true(o->hold);
    assert_true(done);
    assert_int_equal(o->hold_not_float, 0);
    assert_true(worst <= MAX_CVL_CHANGES_PER_HOUR);
    assert_true(worst_rev <= MAX_CVL_CHANGES_PER_HOUR); /* CCL follows its limiters without chattering */
    /* the simulated BMS never had to step in */
    assert_int_equal(R.protections_seen & SIM_PROT_FAULTS, 0);
    assert_true(R.max_cell_true_v < ov);
    /* the highest cell stays under the cell-voltage controller's limit plus the charge taper span */
    assert_true(R.max_cell_true_v < (double)R.cfg.charge.ccl_taper_end_v);
    /* 0x351 at least every can.fast_period_ms (+ one cycle) */
    assert_true(R.max_351_gap_ms <= (uint32_t)R.cfg.can.fast_period_ms + 100u);
    assert_true(R.n351 > 0);
}

static void start(double spread_pct, bool scaled)
{
    scen_opts_t o;
    scen_opts_default(&o);
    o.soc_pct = 20.0;
    o.speed = SPEED;
    o.soc_spread_pct = spread_pct;
    o.log_level = LOG_INFO;
    gw_config_t cfg;
    gw_config_defaults(&cfg);
    if (scaled) {
        scen_config_battery_time(&cfg, SPEED);
    }
    assert_true(scen_init(&R, &o, &cfg));
}

/* A pack its BMS keeps well balanced: absorption ends normally (tail current, cells within
 * charge.float_max_spread_v). */
static void charger_balanced_pack(void **state)
{
    (void)state;
    obs_t o;
    memset(&o, 0, sizeof o);
    start(0.05, true);
    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    charge_and_hold(&o, 6u * 3600u);
    assert_true(o.spread_at_float <= R.cfg.charge.float_max_spread_v);
    /* a day of float with a steady charger: nothing to change */
    assert_int_equal(o.hold_changes, 0);
}

/* Solar: a PV half-sine (60 A at noon) minus a 1 A house load, starting at 08:00, on a pack with
 * the simulator's default cell spread. At the top the cells are then more than
 * charge.float_max_spread_v apart and the TinyBMS balances only while current flows, so
 * absorption ends on charge.absorption_max_s. The charge ends in the afternoon; float then has to
 * survive the evening, a night on the battery and the next sunny morning. */
static void solar_day_and_night(void **state)
{
    (void)state;
    obs_t o;
    memset(&o, 0, sizeof o);
    start(-1.0, true);
    sim_load_t l;
    memset(&l, 0, sizeof l);
    l.kind = SIM_LOAD_SOLAR;
    l.solar_peak_a = 60.0;
    l.solar_load_a = 1.0;
    l.start_hour = 8.0;
    assert_int_equal(sim_set_load(&R.sim, &l, R.now), SIM_OK);
    charge_and_hold(&o, 6u * 3600u);
    double abs_max_h = (double)R.cfg.charge.absorption_max_s * SPEED / 3600.0;
    assert_true(o.float_h - o.absorption_h <= abs_max_h + 0.05);
    if (HOLD_H >= 24.0) {
        assert_true(R.truth.ah_out > 5.0); /* the night really ran on the battery */
    }
}

/* The default configuration unscaled against a battery 10x faster than real time (a well
 * balanced pack, so that absorption ends on tail current and not after 2 wire hours). */
static void charger_defaults_unscaled(void **state)
{
    (void)state;
    obs_t o;
    memset(&o, 0, sizeof o);
    o.per_wire_hour = true;
    start(0.05, false);
    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    charge_and_hold(&o, 6u * 3600u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(charger_balanced_pack),
        cmocka_unit_test(solar_day_and_night),
        cmocka_unit_test(charger_defaults_unscaled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
