/* Scenarios: battery faults on the simulated TinyBMS, through the real poller, charge controller
 * and CAN scheduler (tests/unit/support/scenario_rig.h), with the simulated GX obeying the bus.
 *
 *   runaway cell (CELL_HIGH) during a charge -> CCL 0 and CVL <= the pack voltage on the bus
 *       within one poll cycle (+ the scheduler's burst gap) of the first BMS reply showing the
 *       cell at the stop threshold, before the BMS has to open its charge switch;
 *   a charge at -5 degC is refused (CCL 0, CVL <= pack) while discharge stays allowed; warming
 *       up lets charging resume, ramped;
 *   a sagging cell (CELL_LOW) during a discharge -> DCL 0 the same way, charging still allowed;
 *   the BMS in fault status (0x9B) -> charging stopped.
 *
 * Times are wire (gateway) time, printed; bounds are derived from the configuration:
 * one simulator measurement period + one live poll period + the CAN burst gap + one cycle. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scenario_rig.h"

#define CYCLE_SLACK_MS 100u /* the gateway runs at least every 100 ms (gateway_wait_ms) */

static scen_t R;

typedef enum { WATCH_CELL_HIGH, WATCH_CELL_LOW, WATCH_BMS_FAULT } watch_t;

typedef struct {
    watch_t what;
    float threshold;        /* stop threshold (V) for the cell watches */
    uint32_t t_inject;
    bool truth, reply, bus, trip;
    uint32_t t_truth;       /* the battery crossed the threshold (simulator truth) */
    uint32_t t_reply;       /* first BMS reply that shows it */
    uint32_t t_bus;         /* first 0x351 that acts on it */
    uint32_t t_trip;        /* the simulated BMS had to protect */
    scen_351_t bus_frame;
    float reply_value;
    uint32_t live_seen;
    /* after the stop, until cleared */
    bool cleared;
    unsigned bad_after;     /* 0x351 after t_bus that no longer stop */
    float other_min;        /* lowest of the other current limit after the stop */
    /* cell-voltage controller (runaway) */
    float min_cvl_charging; /* lowest CVL with CCL > 0 while the runner rose */
    float cvl_ctrl_cell;    /* the runner's voltage when CVL was first pulled down */
} obs_t;

static bool acts(const obs_t *o, const scen_351_t *f)
{
    if (o->what == WATCH_CELL_LOW) {
        return f->lim.dcl_a <= 0.0f;
    }
    return f->lim.ccl_a <= 0.0f && f->lim.cvl_v <= f->pack_v_known + 1e-3f;
}

static void on_step(scen_t *s, void *ctx)
{
    obs_t *o = ctx;
    if (!o->t_inject || o->cleared) {
        return;
    }
    double ext = o->what == WATCH_CELL_LOW ? 1e9 : -1e9;
    for (unsigned i = 0; i < s->truth.cells; i++) {
        ext = o->what == WATCH_CELL_LOW ? fmin(ext, s->truth.cell_v[i]) : fmax(ext, s->truth.cell_v[i]);
    }
    if (!o->truth) {
        /* the BMS's highest/lowest-cell registers are rounded to 1 mV: a reading of exactly the
         * threshold may be up to half a millivolt short of it in truth */
        bool crossed = o->what == WATCH_CELL_HIGH ? ext >= (double)o->threshold - 0.0005
                       : o->what == WATCH_CELL_LOW ? ext <= (double)o->threshold + 0.0005
                                                   : (s->truth.protections & SIM_PROT_INJECTED) != 0u;
        if (crossed) {
            o->truth = true;
            o->t_truth = s->now;
        }
    }
    if (!o->reply && s->live_replies != o->live_seen) {
        const bms_live_t *l = &s->gw.poll.snap.live;
        bool shows = o->what == WATCH_CELL_HIGH ? s->last_live_max_cell_v >= o->threshold
                     : o->what == WATCH_CELL_LOW ? s->last_live_min_cell_v <= o->threshold
                                                 : l->status_raw == SIM_STATUS_FAULT;
        if (shows) {
            o->reply = true;
            o->t_reply = s->last_live_rx_ms;
            o->reply_value = o->what == WATCH_CELL_HIGH ? s->last_live_max_cell_v : s->last_live_min_cell_v;
        }
    }
    o->live_seen = s->live_replies;
    uint32_t trip = o->what == WATCH_CELL_HIGH ? SIM_PROT_OV : o->what == WATCH_CELL_LOW ? SIM_PROT_UV : 0u;
    if (!o->trip && (s->truth.protections & trip)) {
        o->trip = true;
        o->t_trip = s->now;
    }
}

static void on_351(scen_t *s, const scen_351_t *f, void *ctx)
{
    obs_t *o = ctx;
    (void)s;
    if (!o->t_inject || o->cleared) {
        return;
    }
    if (!o->bus) {
        if (acts(o, f)) {
            o->bus = true;
            o->t_bus = f->t_ms;
            o->bus_frame = *f;
            o->other_min = 1e9f;
        } else if (o->what == WATCH_CELL_HIGH && f->lim.ccl_a > 0.0f) {
            float target = (float)s->opts.cells * s->gw.limits.cell_target_v;
            if (o->cvl_ctrl_cell == 0.0f && f->lim.cvl_v < target - 0.05f) {
                o->cvl_ctrl_cell = s->gw.limits.cell_max_v;
            }
            o->min_cvl_charging = fminf(o->min_cvl_charging, f->lim.cvl_v);
        }
        return;
    }
    if (!acts(o, f)) {
        o->bad_after++;
    }
    o->other_min = fminf(o->other_min, o->what == WATCH_CELL_LOW ? f->lim.ccl_a : f->lim.dcl_a);
}

static void start(obs_t *o, const scen_opts_t *op)
{
    memset(o, 0, sizeof *o);
    o->min_cvl_charging = 1e9f;
    assert_true(scen_init(&R, op, NULL));
    R.on_step = on_step;
    R.on_351 = on_351;
    R.hook_ctx = o;
}

static uint32_t bound_from_truth_ms(void)
{
    return SIM_MEASURE_MS + (uint32_t)R.cfg.link.live_period_ms + (uint32_t)R.cfg.can.burst_gap_ms + CYCLE_SLACK_MS;
}

static uint32_t bound_from_reply_ms(void)
{
    return (uint32_t)R.cfg.link.live_period_ms + (uint32_t)R.cfg.can.burst_gap_ms;
}

static void report(const obs_t *o, const char *what)
{
    scen_say(&R, "measured: %s: crossed %.3f V %d ms after the fault began; first BMS reply showing it (%.4f V) %+d ms "
             "later; on the bus: %s %+d ms after the crossing, %+d ms after that reply (bounds %u / %u ms)",
             what, (double)o->threshold, (int)(o->t_truth - o->t_inject), (double)o->reply_value,
             (int)(o->t_reply - o->t_truth), o->what == WATCH_CELL_LOW ? "DCL 0" : "CCL 0 and CVL <= pack",
             (int)(o->t_bus - o->t_truth), (int)(o->t_bus - o->t_reply), bound_from_truth_ms(), bound_from_reply_ms());
}

static void check_reaction(const obs_t *o)
{
    assert_true(o->truth);
    assert_true(o->reply);
    assert_true(o->bus);
    /* the BMS cannot show it before it happened, nor the bus act on what nobody saw */
    assert_true((int32_t)(o->t_reply - o->t_truth) >= 0);
    assert_true((int32_t)(o->t_bus - o->t_reply) <= (int32_t)bound_from_reply_ms());
    assert_true((int32_t)(o->t_bus - o->t_truth) <= (int32_t)bound_from_truth_ms());
    assert_int_equal(o->bad_after, 0);
}

static void finish(void)
{
    printf("  0x351 frames %u, oracle violations %u%s%s\n", R.n351, R.violations, R.violations ? ": " : "",
           R.first_violation);
    if (R.violations) {
        fail_msg("oracle: %s", R.first_violation);
    }
}

static float ccl_stop_v(void)
{
    return fminf(R.cfg.charge.ccl_taper_end_v, R.gw.poll.snap.settings.over_voltage_v);
}

static void runaway(double rate_mv_s, bool fast)
{
    obs_t o;
    scen_opts_t op;
    scen_opts_default(&op);
    op.soc_pct = 60.0;
    start(&o, &op);
    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    scen_run(&R, 15000);
    assert_true(R.last351.lim.ccl_a > 40.0f);
    o.threshold = ccl_stop_v();
    o.t_inject = R.now;
    sim_fault_t f = {1.0, 5, rate_mv_s};
    assert_int_equal(sim_set_fault(&R.sim, SIM_FAULT_CELL_HIGH, &f, R.now), SIM_OK);
    scen_say(&R, "cell 5 runs away at %.0f mV/s while charging at %.1f A (stop threshold %.3f V)", rate_mv_s,
             R.truth.pack_i, (double)o.threshold);
    scen_run(&R, fast ? 3000u : 90000u);
    report(&o, "runaway cell");
    check_reaction(&o);
    double ov = R.gw.poll.snap.settings.over_voltage_v;
    if (o.trip) {
        scen_say(&R, "the simulated BMS tripped over-voltage (%.3f V) %d ms after CCL 0 was on the bus", ov,
                 (int)(o.t_trip - o.t_bus));
        assert_true((int32_t)(o.t_trip - o.t_bus) > 0); /* the gateway stopped charging first */
    }
    if (!fast) {
        /* a slow runner: CCL tapered and the cell-voltage controller pulled CVL below the
         * absorption target while the pack voltage still looked fine */
        float target = (float)R.opts.cells * R.gw.limits.cell_target_v;
        scen_say(&R, "cell-voltage controller: CVL down to %.1f V (absorption target %.1f V) while charging; first pulled "
                 "down with the runner at %.3f V",
                 (double)o.min_cvl_charging, (double)target, (double)o.cvl_ctrl_cell);
        assert_true(o.min_cvl_charging < target - 0.3f);
        assert_false(o.trip);
    }
    assert_true(fabs(R.truth.pack_i) < 0.5); /* the charger obeyed */

    /* clear the runaway: the stop releases once the highest cell has been charge.ov_release_v
     * below the taper end for charge.limit_hold_s, then CCL is held another limit_hold_s and ramps */
    o.cleared = true;
    assert_int_equal(sim_clear_fault(&R.sim, SIM_FAULT_CELL_HIGH, R.now), SIM_OK);
    uint32_t t_clear = R.now;
    uint32_t hold = (uint32_t)R.cfg.charge.limit_hold_s * 1000u;
    uint32_t n0 = R.n351;
    float ccl_max = 0.0f;
    uint32_t t_resume = 0;
    while (R.now - t_clear < 2u * hold + 20000u) {
        scen_step(&R);
        if (R.n351 != n0 && R.last351.lim.ccl_a > 0.0f && !t_resume) {
            t_resume = R.last351.t_ms;
        }
        ccl_max = fmaxf(ccl_max, R.last351.lim.ccl_a);
    }
    scen_say(&R, "runner cleared: charging allowed again %u ms later (release %d s + hold %d s); CCL %.1f A now", 
             t_resume ? t_resume - t_clear : 0u, (int)R.cfg.charge.limit_hold_s, (int)R.cfg.charge.limit_hold_s,
             (double)R.last351.lim.ccl_a);
    assert_true(t_resume != 0u);
    assert_true(t_resume - t_clear >= hold);
    finish();
}

static void runaway_cell_fast(void **state)
{
    (void)state;
    runaway(1000.0, true);
}

static void runaway_cell_slow(void **state)
{
    (void)state;
    runaway(5.0, false);
}

/* The coldest sensor the controller looks at (board sensor included by default). */
static double coldest(const scen_t *s)
{
    return fmin(fmin(s->truth.temp_ext1_c, s->truth.temp_ext2_c), s->truth.temp_int_c);
}

typedef struct {
    unsigned cold_frames, cold_charging; /* 0x351 with the pack at/below the cut-off; of those with CCL > 0 */
    bool resumed;
    uint32_t t_resumed;
    double t_at_resume;
    double margin;
} cold_obs_t;

static void cold_on_351(scen_t *s, const scen_351_t *f, void *ctx)
{
    cold_obs_t *c = ctx;
    double t = coldest(s);
    if (t <= c->margin) {
        c->cold_frames++;
        if (f->lim.ccl_a > 0.0f || f->lim.cvl_v > f->pack_v_known + 1e-3f) {
            c->cold_charging++;
        }
    }
    if (!c->resumed && f->lim.ccl_a > 0.0f) {
        c->resumed = true;
        c->t_resumed = f->t_ms;
        c->t_at_resume = t;
    }
}

static void charge_at_minus_5_refused(void **state)
{
    (void)state;
    cold_obs_t c;
    memset(&c, 0, sizeof c);
    scen_opts_t op;
    scen_opts_default(&op);
    op.soc_pct = 50.0;
    op.ambient_c = -5.0;
    op.temp_c = -5.0;
    assert_true(scen_init(&R, &op, NULL));
    R.on_351 = cold_on_351;
    R.hook_ctx = &c;
    float cutoff = fmaxf(R.cfg.charge.charge_temp_min_c, 0.0f); /* register 320 reads 0 degC */
    /* allow for the 0.1 degC resolution and one measurement of delay */
    c.margin = (double)cutoff - 0.2;

    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    scen_run(&R, 20000);
    assert_true(R.have351);
    scen_say(&R, "at %.1f degC with an 80 A charger: CCL %.1f A, CVL %.1f V (pack %.2f V), DCL %.1f A, current %.2f A",
             coldest(&R), (double)R.last351.lim.ccl_a, (double)R.last351.lim.cvl_v, (double)R.last351.pack_v_known,
             (double)R.last351.lim.dcl_a, R.truth.pack_i);
    assert_true(c.cold_frames > 10);
    assert_int_equal(c.cold_charging, 0);
    assert_true(fabs(R.truth.pack_i) < 0.05);
    assert_int_equal(R.gw.limits.ccl_lim, CHG_LIM_TEMP_LOW);

    /* discharging is allowed in its window (down to charge.discharge_temp_min_c) */
    assert_int_equal(scen_load_current(&R, -30.0), SIM_OK);
    scen_run(&R, 10000);
    scen_say(&R, "discharging at %.1f degC: DCL %.1f A, current %.2f A", coldest(&R), (double)R.last351.lim.dcl_a,
             R.truth.pack_i);
    assert_true(R.last351.lim.dcl_a >= 30.0f);
    assert_float_equal(R.truth.pack_i, -30.0, 0.05);
    assert_int_equal(c.cold_charging, 0);

    /* warm up (30x faster battery so the pack follows the ambient within a few minutes) */
    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    assert_int_equal(sim_set_speed(&R.sim, 30.0, R.now), SIM_OK);
    assert_int_equal(sim_set_ambient(&R.sim, 25.0, R.now), SIM_OK);
    uint32_t t_warm = R.now;
    scen_run(&R, 240000);
    assert_true(c.resumed);
    const chg_config_t *cc = &R.cfg.charge;
    scen_say(&R, "warming: charging resumed %.1f s after the ambient rose, the coldest sensor then at %.1f degC "
             "(cut-off %.1f + hysteresis %.1f); now %.1f degC, CCL %.1f A, current %.1f A",
             (double)(c.t_resumed - t_warm) / 1000.0, c.t_at_resume, (double)cutoff, (double)cc->temp_hyst_c, coldest(&R),
             (double)R.last351.lim.ccl_a, R.truth.pack_i);
    assert_true(c.t_at_resume > (double)cutoff);
    assert_int_equal(c.cold_charging, 0);
    assert_true(R.last351.lim.ccl_a > 40.0f);
    assert_true(R.truth.pack_i > 0.0);
    /* the warming charge is "protected" by the gateway, not by the BMS's own cut-off */
    finish();
}

static void sagging_cell_stops_discharge(void **state)
{
    (void)state;
    obs_t o;
    scen_opts_t op;
    scen_opts_default(&op);
    op.soc_pct = 50.0;
    start(&o, &op);
    assert_int_equal(scen_load_current(&R, -40.0), SIM_OK);
    scen_run(&R, 10000);
    assert_float_equal(R.truth.pack_i, -40.0, 0.05);
    const chg_config_t *c = &R.cfg.charge;
    o.what = WATCH_CELL_LOW;
    o.threshold = fmaxf(c->dcl_taper_end_v, R.gw.poll.snap.settings.under_voltage_v + c->uv_margin_v);
    o.t_inject = R.now;
    sim_fault_t f = {1.0, 9, 20.0};
    assert_int_equal(sim_set_fault(&R.sim, SIM_FAULT_CELL_LOW, &f, R.now), SIM_OK);
    scen_say(&R, "cell 9 sags at 20 mV/s during a 40 A discharge (DCL stop threshold %.3f V)", (double)o.threshold);
    while (!o.bus && R.now - o.t_inject < 60000u) {
        scen_step(&R);
    }
    /* the cell stops sagging a second later (before the BMS's own cut-off) */
    scen_run(&R, 1000);
    assert_int_equal(sim_clear_fault(&R.sim, SIM_FAULT_CELL_LOW, R.now), SIM_OK);
    scen_run(&R, 5000);
    report(&o, "sagging cell");
    check_reaction(&o);
    /* DCL 0 stopped the discharge before the BMS had to; CCL stayed open so that the battery can
     * be recharged */
    scen_say(&R, "after the stop: lowest CCL on the bus %.1f A, current %.2f A, BMS under-voltage trip: %s",
             (double)o.other_min, R.truth.pack_i, o.trip ? "YES" : "no");
    assert_false(o.trip);
    assert_true(o.other_min > 0.0f);
    assert_true(fabs(R.truth.pack_i) < 0.05);
    /* the stop releases once the lowest cell is charge.uv_release_v above the taper end for
     * charge.limit_hold_s; DCL then ramps (checked by the rig's oracle) */
    o.cleared = true;
    uint32_t t_clear = R.now;
    uint32_t hold = (uint32_t)R.cfg.charge.limit_hold_s * 1000u;
    scen_run(&R, 2u * hold + 30000u);
    scen_say(&R, "cell recovered: DCL %.1f A on the bus %u ms after the sag ended (the simulated BMS itself %s)",
             (double)R.last351.lim.dcl_a, R.now - t_clear,
             (R.truth.protections & SIM_PROT_EMPTY) ? "keeps discharge off until a charger appears: its cell went "
                                                      "below the fully-discharged voltage, register 301"
                                                    : "allows discharge again");
    assert_true(R.last351.lim.dcl_a > 0.0f);
    finish();
}

static void bms_fault_stops_charge(void **state)
{
    (void)state;
    obs_t o;
    scen_opts_t op;
    scen_opts_default(&op);
    op.soc_pct = 60.0;
    start(&o, &op);
    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    scen_run(&R, 15000);
    o.what = WATCH_BMS_FAULT;
    o.t_inject = R.now;
    sim_fault_t f = {1.0, 0x0B, 0};
    assert_int_equal(sim_set_fault(&R.sim, SIM_FAULT_BMS_FAULT, &f, R.now), SIM_OK);
    scen_run(&R, (uint32_t)R.cfg.alarms.raise_ms + 2000u);
    assert_true(o.truth);
    assert_true(o.reply);
    assert_true(o.bus);
    scen_say(&R, "measured: BMS fault status 0x9B: first reply showing it %d ms after the fault, CCL 0 and CVL <= pack on "
             "the bus %+d ms after that reply (bound %u ms); BMS-internal alarm level %d",
             (int)(o.t_reply - o.t_truth), (int)(o.t_bus - o.t_reply), bound_from_reply_ms(),
             R.last_35a.levels.level[ALARM_BMS_INTERNAL]);
    assert_true((int32_t)(o.t_bus - o.t_reply) <= (int32_t)bound_from_reply_ms());
    assert_true((int32_t)(o.t_bus - o.t_truth) <= (int32_t)bound_from_truth_ms());
    assert_int_equal(o.bad_after, 0);
    assert_int_equal(R.last_35a.levels.level[ALARM_BMS_INTERNAL], ALARM_LEVEL_ALARM);
    o.cleared = true;
    assert_int_equal(sim_clear_fault(&R.sim, SIM_FAULT_BMS_FAULT, R.now), SIM_OK);
    uint32_t t_clear = R.now;
    const chg_config_t *c = &R.cfg.charge;
    uint32_t t_back = 0;
    while (R.now - t_clear < 3u * 60000u) {
        scen_step(&R);
        if (R.gw.limits.ccl_target_a > 0.0f && R.last351.lim.ccl_a >= R.gw.limits.ccl_target_a - 0.05f) {
            t_back = R.now;
            break;
        }
    }
    /* charge.limit_hold_s after the stop ends, then the ramp; plus a reply for the BMS to show it */
    uint32_t bound = (uint32_t)c->limit_hold_s * 1000u + (uint32_t)(R.gw.limits.ccl_target_a / c->ccl_ramp_a_s * 1000.0f) +
                     bound_from_truth_ms() + (uint32_t)R.cfg.can.fast_period_ms;
    scen_say(&R, "fault cleared: CCL back at its target %.1f A after %u ms (bound %u ms: hold %d s + ramp %.1f A/s)",
             (double)R.last351.lim.ccl_a, t_back ? t_back - t_clear : 0u, bound, (int)c->limit_hold_s,
             (double)c->ccl_ramp_a_s);
    assert_true(t_back != 0u);
    assert_true(t_back - t_clear >= (uint32_t)c->limit_hold_s * 1000u);
    assert_true(t_back - t_clear <= bound);
    finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runaway_cell_fast),
        cmocka_unit_test(runaway_cell_slow),
        cmocka_unit_test(charge_at_minus_5_refused),
        cmocka_unit_test(sagging_cell_stops_discharge),
        cmocka_unit_test(bms_fault_stops_charge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
