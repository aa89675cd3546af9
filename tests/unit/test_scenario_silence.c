/* Scenario: the BMS falls silent (simulator fault NOREPLY, probability 1) while the battery is
 * being charged, through the real poller, charge controller and CAN scheduler
 * (tests/unit/support/scenario_rig.h), with the simulated GX obeying the bus.
 *
 * Expected (docs/charge-control.md, design.md invariant 4): once the last data is older than
 * failsafe.stale_ms, 0x351 says stop charging (CCL 0, CVL at the last known pack voltage, DCL
 * frozen) and 0x35A raises the BMS-internal alarm; once it is older than failsafe.failsafe_ms
 * the fail-safe applies - by default no frame at all (the GX stops within 3 s), or zero limits.
 * When the BMS answers again, fresh complete data restores normal limits, ramped from 0.
 *
 * Every time is measured on the simulated wire clock (not the host's) and printed; bounds come
 * from the configuration: the link's retry/backoff schedule and the scheduler's cadences. */
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

typedef struct {
    uint32_t t_fault;        /* NOREPLY switched on */
    uint32_t t_last_reply;   /* the last live block before the silence */
    float pack_known;        /* its pack voltage */
    float dcl_before;        /* DCL on the bus before the silence */
    bool stale_dec;
    uint32_t t_stale_dec;    /* the controller decided "stale" */
    bool stale;
    uint32_t t_stale;        /* first 0x351 that stops charging after the fault */
    scen_351_t stale_frame;
    bool failsafe;
    uint32_t t_failsafe;     /* the controller's state turned fail-safe */
    bool zero;
    uint32_t t_zero;         /* zero_limits: first 0x351 with CCL = DCL = 0 */
    unsigned frames_in_failsafe;
    unsigned bad_in_stale;   /* 0x351 after t_stale (before recovery) that do not stop charging */
    unsigned dcl_raised;     /* ... or that raise DCL */
    bool recovering;
    uint32_t t_clear;
    bool fresh;
    uint32_t t_fresh;        /* first 0x351 with fresh data after the fault cleared */
    scen_351_t fresh_frame;
    bool full;
    uint32_t t_full;         /* CCL back at its target */
    float ccl_target;
    float min_ccl_quiet;     /* lowest CCL on the bus while no fault is being observed */
} obs_t;

static void on_351(scen_t *s, const scen_351_t *f, void *ctx)
{
    obs_t *o = ctx;
    if (!o->t_fault) {
        o->min_ccl_quiet = fminf(o->min_ccl_quiet, f->lim.ccl_a);
        return;
    }
    bool fresh_state = f->state == CHG_STATE_BULK || f->state == CHG_STATE_ABSORPTION || f->state == CHG_STATE_FLOAT;
    if (o->recovering) {
        if (!o->fresh && fresh_state) {
            o->fresh = true;
            o->t_fresh = f->t_ms;
            o->fresh_frame = *f;
        }
        if (o->fresh && !o->full && f->lim.ccl_a >= o->ccl_target - 0.05f) {
            o->full = true;
            o->t_full = f->t_ms;
        }
        return;
    }
    if (!o->failsafe && f->state == CHG_STATE_FAILSAFE) {
        /* the frame left in the very cycle that decided it (before on_step saw the state) */
        o->failsafe = true;
        o->t_failsafe = f->t_ms;
    }
    if (o->failsafe) {
        o->frames_in_failsafe++;
        if (!o->zero && f->lim.ccl_a <= 0.0f && f->lim.dcl_a <= 0.0f) {
            o->zero = true;
            o->t_zero = f->t_ms;
        }
    }
    if (!o->stale && f->lim.ccl_a <= 0.0f) {
        o->stale = true;
        o->t_stale = f->t_ms;
        o->stale_frame = *f;
    } else if (o->stale) {
        if (f->lim.ccl_a > 0.0f || f->lim.cvl_v > o->pack_known + 1e-3f) {
            o->bad_in_stale++;
        }
        if (f->lim.dcl_a > o->dcl_before + 1e-3f) {
            o->dcl_raised++;
        }
    }
    (void)s;
}

static void on_step(scen_t *s, void *ctx)
{
    obs_t *o = ctx;
    if (o->t_fault && !o->recovering && !o->stale_dec && s->gw.limits.state == CHG_STATE_STALE) {
        o->stale_dec = true;
        o->t_stale_dec = s->now;
    }
    if (o->t_fault && !o->recovering && !o->failsafe && s->gw.limits.state == CHG_STATE_FAILSAFE) {
        o->failsafe = true;
        o->t_failsafe = s->now;
        scen_mark_bus(s);
    }
}

/* The poller's worst case from a BMS that answers again to its next request: the longest backoff,
 * plus the wake-up resend (the BMS may have fallen asleep), plus one reply time-out per attempt. */
static uint32_t link_recovery_bound_ms(const gw_config_t *c)
{
    return (uint32_t)c->link.backoff_max_ms + (uint32_t)c->link.wake_timeout_ms +
           (uint32_t)(c->link.max_retries + 1) * (uint32_t)c->link.reply_timeout_ms + (uint32_t)c->link.live_period_ms;
}

static void start_ex(failsafe_mode_t mode, int32_t stale_ms, int32_t failsafe_ms, obs_t *o)
{
    memset(o, 0, sizeof *o);
    scen_opts_t op;
    scen_opts_default(&op);
    op.soc_pct = 60.0;
    op.log_level = LOG_WARN;
    gw_config_t cfg;
    gw_config_defaults(&cfg);
    cfg.charge.failsafe.mode = (int32_t)mode;
    if (stale_ms) {
        cfg.charge.failsafe.stale_ms = stale_ms;
        cfg.charge.failsafe.failsafe_ms = failsafe_ms;
    }
    assert_true(scen_init(&R, &op, &cfg));
    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    R.on_351 = on_351;
    R.on_step = on_step;
    R.hook_ctx = o;
    /* charge long enough for CCL to be at its target */
    scen_run(&R, 20000);
    assert_true(R.have351);
    assert_true(R.last351.lim.ccl_a > 40.0f);
    assert_true(R.truth.pack_i > 40.0);
    o->ccl_target = R.gw.limits.ccl_target_a;
    o->dcl_before = R.last351.lim.dcl_a;
    o->min_ccl_quiet = 1e9f;
}

static void start(failsafe_mode_t mode, obs_t *o)
{
    start_ex(mode, 0, 0, o);
}

static void go_silent(obs_t *o)
{
    o->t_fault = R.now;
    o->t_last_reply = R.last_live_rx_ms;
    o->pack_known = R.gw.poll.snap.live.pack_voltage_v;
    sim_fault_t f = {1.0, 0, 0};
    assert_int_equal(sim_set_fault(&R.sim, SIM_FAULT_NOREPLY, &f, R.now), SIM_OK);
    scen_say(&R, "BMS silent (last live reply at %.3f s, pack %.2f V)", (double)(o->t_last_reply - SCEN_START_MS) / 1000.0,
             (double)o->pack_known);
}

static void check_stale(const obs_t *o)
{
    const failsafe_config_t *fs = &R.cfg.charge.failsafe;
    assert_true(o->stale);
    uint32_t from_fault = o->t_stale - o->t_fault;
    uint32_t from_reply = o->t_stale - o->t_last_reply;
    assert_true(o->stale_dec);
    scen_say(&R, "measured: silence -> charging stopped on the bus (CCL 0, CVL %.1f V <= %.2f V): %u ms after the fault, "
             "%u ms after the last reply (failsafe.stale_ms = %d), %u ms after the controller's decision",
             (double)o->stale_frame.lim.cvl_v, (double)o->pack_known, from_fault, from_reply, (int)fs->stale_ms,
             o->t_stale - o->t_stale_dec);
    /* the stop is on the bus at once, not at the next periodic 0x351 */
    assert_true(o->t_stale - o->t_stale_dec <= (uint32_t)R.cfg.can.burst_gap_ms);
    /* never before the data is stale, at most one cycle (+ the CAN burst gap) after */
    assert_true(from_reply >= (uint32_t)fs->stale_ms - (uint32_t)R.cfg.link.live_period_ms);
    assert_true(from_fault <= (uint32_t)fs->stale_ms + CYCLE_SLACK_MS + (uint32_t)R.cfg.can.burst_gap_ms);
    assert_true(o->stale_frame.state == CHG_STATE_STALE);
    assert_true(o->stale_frame.lim.cvl_v <= o->pack_known + 1e-3f);
    assert_true(o->stale_frame.lim.cvl_v >= o->pack_known - 0.2f - 1e-3f);
    assert_float_equal(o->stale_frame.lim.dcl_a, o->dcl_before, 1e-3);
    assert_int_equal(o->bad_in_stale, 0);
    assert_int_equal(o->dcl_raised, 0);
    /* the GX sees the communication loss as the BMS-internal alarm */
    assert_true(R.have35a);
    assert_int_equal(R.last_35a.levels.level[ALARM_BMS_INTERNAL], ALARM_LEVEL_ALARM);
}

static void recover(obs_t *o)
{
    o->recovering = true;
    o->t_clear = R.now;
    assert_int_equal(sim_clear_fault(&R.sim, SIM_FAULT_NOREPLY, R.now), SIM_OK);
    uint32_t bound = link_recovery_bound_ms(&R.cfg) + CYCLE_SLACK_MS + (uint32_t)R.cfg.can.burst_gap_ms;
    const chg_config_t *c = &R.cfg.charge;
    uint32_t ramp_ms = (uint32_t)c->limit_hold_s * 1000u + (uint32_t)(o->ccl_target / c->ccl_ramp_a_s * 1000.0f);
    scen_run(&R, bound + ramp_ms + 10000u);
    assert_true(o->fresh);
    scen_say(&R, "measured: BMS answers again -> fresh data on the bus after %u ms (bound %u ms): CVL %.1f V, CCL %.1f A, "
             "DCL %.1f A; CCL back at %.1f A after %u ms (hold %d s + ramp %.1f A/s)",
             o->t_fresh - o->t_clear, bound, (double)o->fresh_frame.lim.cvl_v, (double)o->fresh_frame.lim.ccl_a,
             (double)o->fresh_frame.lim.dcl_a, (double)o->ccl_target, o->full ? o->t_full - o->t_fresh : 0u,
             (int)c->limit_hold_s, (double)c->ccl_ramp_a_s);
    assert_true(o->t_fresh - o->t_clear <= bound);
    /* normal limits come back ramped from 0, never as a jump */
    assert_true(o->fresh_frame.lim.ccl_a <= 0.1f + 1e-3f);
    assert_true(o->full);
    assert_true(o->t_full - o->t_fresh >= (uint32_t)c->limit_hold_s * 1000u);
    assert_true(o->t_full - o->t_fresh <= ramp_ms + 2u * (uint32_t)R.cfg.can.fast_period_ms);
    assert_false(R.gx_stopped);
    /* the battery charges again; the current is back once CVL, which restarts at the pack voltage,
     * has risen at charge.cvl_rise_v_min (after charge.cvl_hold_s) */
    uint32_t t_back = 0;
    while (R.now - o->t_clear < 30u * 60000u) {
        scen_step(&R);
        if (R.truth.pack_i >= 0.9 * (double)o->ccl_target) {
            t_back = R.now;
            break;
        }
    }
    scen_say(&R, "measured: charge current back at 90 %% of CCL %.1f s after the BMS answered again (CVL %.1f V, "
             "charge.cvl_rise_v_min %.3f V/min per cell)",
             (double)(t_back - o->t_clear) / 1000.0, (double)R.last351.lim.cvl_v, (double)c->cvl_rise_v_min);
    assert_true(t_back != 0u);
}

static void finish(void)
{
    printf("  0x351 frames %u, oracle violations %u%s%s\n", R.n351, R.violations, R.violations ? ": " : "",
           R.first_violation);
    if (R.violations) {
        fail_msg("oracle: %s", R.first_violation);
    }
}

/* Default mode: stop transmitting. */
static void silence_stop_transmitting(void **state)
{
    (void)state;
    obs_t o;
    start(FAILSAFE_MODE_STOP_TRANSMITTING, &o);
    const failsafe_config_t *fs = &R.cfg.charge.failsafe;
    go_silent(&o);
    scen_run(&R, (uint32_t)fs->failsafe_ms + 15000u);
    check_stale(&o);

    assert_true(o.failsafe);
    uint32_t from_fault = o.t_failsafe - o.t_fault;
    uint32_t from_reply = o.t_failsafe - o.t_last_reply;
    uint32_t last_frame = R.last_frame_ms;
    scen_say(&R, "measured: silence -> fail-safe (stop transmitting): %u ms after the fault, %u ms after the last reply "
             "(failsafe.failsafe_ms = %d); last frame on the bus %u ms after the fault; GX stopped charge and discharge "
             "%u ms after the last 0x351",
             from_fault, from_reply, (int)fs->failsafe_ms, last_frame - o.t_fault,
             R.gx_stopped ? R.gx_stopped_since - R.last351.t_ms : 0u);
    assert_true(from_reply >= (uint32_t)fs->failsafe_ms - (uint32_t)R.cfg.link.live_period_ms);
    assert_true(from_fault <= (uint32_t)fs->failsafe_ms + CYCLE_SLACK_MS);
    /* nothing at all left after the fail-safe: not 0x351, not any other frame */
    assert_int_equal(R.frames_since_mark, 0);
    assert_int_equal(o.frames_in_failsafe, 0);
    assert_true((int32_t)(last_frame - o.t_failsafe) <= 0);
    /* and the GX did what Victron documents: no 0x351 for 3 s -> charge and discharge stop */
    assert_true(R.gx_stopped);
    assert_true(fabs(R.truth.pack_i) < 0.05);

    recover(&o);
    finish();
}

/* zero_limits: frames continue with CCL = DCL = 0. */
static void silence_zero_limits(void **state)
{
    (void)state;
    obs_t o;
    start(FAILSAFE_MODE_ZERO_LIMITS, &o);
    const failsafe_config_t *fs = &R.cfg.charge.failsafe;
    /* discharge in this one, so that DCL = 0 has something to stop */
    assert_int_equal(scen_load_current(&R, -30.0), SIM_OK);
    scen_run(&R, 2000);
    o.dcl_before = R.last351.lim.dcl_a;
    go_silent(&o);
    scen_run(&R, (uint32_t)fs->failsafe_ms + 15000u);
    check_stale(&o);
    assert_true(o.failsafe);
    assert_true(o.zero);
    scen_say(&R, "measured: silence -> fail-safe (zero limits, CCL = DCL = 0 on the bus): %u ms after the fault, %u ms "
             "after the last reply (failsafe.failsafe_ms = %d), %u ms after the controller's decision; %u frames sent "
             "since",
             o.t_zero - o.t_fault, o.t_zero - o.t_last_reply, (int)fs->failsafe_ms, o.t_zero - o.t_failsafe,
             R.frames_since_mark);
    assert_true(o.t_zero - o.t_failsafe <= (uint32_t)R.cfg.can.burst_gap_ms);
    assert_true(o.t_zero - o.t_last_reply >= (uint32_t)fs->failsafe_ms - (uint32_t)R.cfg.link.live_period_ms);
    assert_true(o.t_zero - o.t_fault <= (uint32_t)fs->failsafe_ms + CYCLE_SLACK_MS + (uint32_t)R.cfg.can.burst_gap_ms);
    /* the battery stays visible: frames keep coming, 0x351 at its cadence, with zero limits */
    assert_true(R.frames_since_mark > 20u);
    assert_true(R.now - R.last351.t_ms <= (uint32_t)R.cfg.can.fast_period_ms + CYCLE_SLACK_MS);
    assert_true(R.last351.lim.ccl_a <= 0.0f && R.last351.lim.dcl_a <= 0.0f);
    assert_true(R.last351.lim.cvl_v <= o.pack_known + 1e-3f);
    assert_false(R.gx_stopped);
    assert_true(fabs(R.truth.pack_i) < 0.05); /* DCL 0 stopped the discharge */
    assert_int_equal(R.last_35a.levels.level[ALARM_BMS_INTERNAL], ALARM_LEVEL_ALARM);

    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    recover(&o);
    finish();
}

/* A hiccup shorter than failsafe.stale_ms changes nothing on the bus; one between the two
 * thresholds stops charging but keeps discharging at the frozen DCL, and recovers. */
static void short_silences(void **state)
{
    (void)state;
    obs_t o;
    start(FAILSAFE_MODE_STOP_TRANSMITTING, &o);
    const failsafe_config_t *fs = &R.cfg.charge.failsafe;
    sim_fault_t f = {1.0, 0, 0};
    uint32_t n0 = R.n351;
    uint32_t t0 = R.now;
    assert_int_equal(sim_set_fault(&R.sim, SIM_FAULT_NOREPLY, &f, R.now), SIM_OK);
    scen_run(&R, (uint32_t)fs->stale_ms / 2u);
    assert_int_equal(sim_clear_fault(&R.sim, SIM_FAULT_NOREPLY, R.now), SIM_OK);
    scen_run(&R, 10000);
    /* charging never stopped: every 0x351 since kept CCL at its target */
    assert_true(R.n351 > n0);
    assert_true(o.min_ccl_quiet >= o.ccl_target - 0.05f);
    assert_int_equal(R.last_35a.levels.level[ALARM_BMS_INTERNAL], ALARM_LEVEL_OK);
    scen_say(&R, "a %u ms silence: charging went on (lowest CCL on the bus %.1f A), no stale frame, no alarm",
             R.now - t0 - 10000u, (double)o.min_ccl_quiet);

    /* now 10 s: stale, not fail-safe */
    assert_int_equal(scen_load_current(&R, -30.0), SIM_OK);
    scen_run(&R, 3000);
    o.dcl_before = R.last351.lim.dcl_a;
    go_silent(&o);
    scen_run(&R, 10000);
    check_stale(&o);
    assert_false(o.failsafe);
    assert_true(R.truth.pack_i < -29.0); /* discharging goes on at the frozen DCL */
    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    recover(&o);
    finish();
}

/* With the defaults the thresholds are whole seconds and the decisions happen to fall on the
 * periodic 0x351 (every can.fast_period_ms since the last reply). Off that phase, a decision taken
 * without fresh data (stale, zero-limits fail-safe) must still reach the bus at once, not up to
 * can.fast_period_ms later. */
static void decisions_off_the_cadence_go_out_at_once(void **state)
{
    (void)state;
    obs_t o;
    start_ex(FAILSAFE_MODE_ZERO_LIMITS, 5450, 20650, &o);
    go_silent(&o);
    scen_run(&R, 30000u);
    check_stale(&o);
    assert_true(o.failsafe);
    assert_true(o.zero);
    scen_say(&R, "measured (stale_ms 5450, failsafe_ms 20650): decision -> bus %u ms (stale), %u ms (zero limits)",
             o.t_stale - o.t_stale_dec, o.t_zero - o.t_failsafe);
    assert_true(o.t_zero - o.t_failsafe <= (uint32_t)R.cfg.can.burst_gap_ms);
    finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(silence_stop_transmitting),
        cmocka_unit_test(silence_zero_limits),
        cmocka_unit_test(short_silences),
        cmocka_unit_test(decisions_off_the_cadence_go_out_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
