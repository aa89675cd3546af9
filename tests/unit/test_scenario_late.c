/* Scenario: the BMS answers every request, but late (simulator fault DELAY, probability 1), while
 * the battery is being charged, through the real poller, charge controller and CAN scheduler
 * (tests/unit/support/scenario_rig.h), with the simulated GX obeying the bus.
 *
 * The simulator samples its registers when a request arrives and sends the reply `delay` ms
 * later, so a reply is at least `delay` old when it arrives. Expected (docs/charge-control.md,
 * "Late replies"; design.md invariant 4):
 *   - a delay inside the poller's answer window (the reply time-out of the copy it could answer,
 *     resends included): data flows, and every live block is stamped at least `delay` before it
 *     arrived (its age counts from the request, never from the reply);
 *   - a delay beyond that window: no reply is taken as the answer to a later request; they are
 *     discarded and counted (link.late_replies), the data is never fresh again, charging stops
 *     (CCL 0, CVL <= the last known pack voltage) within failsafe.stale_ms (+ one cycle and the
 *     burst gap) of the fault, and past failsafe.failsafe_ms the fail-safe applies;
 *   - either side of failsafe.stale_ms with a reply time-out longer than it: a reply younger than
 *     stale_ms keeps charging, an older one (accepted, honestly aged) stops it;
 *   - once the delay is cleared, the replies still on the way are drained and fresh data returns.
 *
 * The old poller took the late reply to an earlier request as the answer to the request then
 * outstanding and stamped it with that request's send time: with a 6 s delay the data was
 * "fresh" and CCL ramped back to its target.
 *
 * Every time is on the simulated wire clock and printed; bounds come from the configuration. */
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
    uint32_t t_fault;       /* DELAY switched on (0 = not yet) */
    uint32_t delay_ms;
    float pack_known;       /* pack voltage of the last live block before the fault */
    uint32_t seen_live;     /* R.live_replies already looked at */
    uint32_t live_after;    /* live blocks accepted after the fault */
    uint32_t min_age_rx;    /* smallest (arrival - stamp) of those */
    /* stamp - the BMS's lifetime counter (registers 32-33, whole seconds of model time = wire time
     * here) when it sampled the block: an oracle that does not trust the pairing. Its largest
     * value before the fault is the counter's 1 s quantisation plus the start offset; a reply
     * stamped with a later request's send time would exceed it by about the delay. */
    bool have_skew;
    int64_t skew_max_before, skew_max_after;
    uint32_t fresh_after;   /* gateway cycles with fresh data later than stale_ms after the fault */
    bool stopped;
    uint32_t t_stopped;     /* first 0x351 with CCL 0 after the fault */
    scen_351_t stop_frame;
    unsigned charging_after_stop; /* 0x351 after t_stopped that allow charging again */
    bool failsafe;
    uint32_t t_failsafe;
} obs_t;

static void on_step(scen_t *s, void *ctx)
{
    obs_t *o = ctx;
    if (s->live_replies != o->seen_live) {
        o->seen_live = s->live_replies;
        const bms_live_t *l = &s->gw.poll.snap.live;
        int64_t skew = (int64_t)l->t_ms - (int64_t)l->lifetime_s * 1000;
        if (!o->t_fault) {
            o->skew_max_before = o->have_skew && o->skew_max_before > skew ? o->skew_max_before : skew;
            o->have_skew = true;
        } else if (skew > o->skew_max_after) {
            o->skew_max_after = skew;
        }
        if (o->t_fault) {
            uint32_t age = s->last_live_rx_ms - s->gw.poll.snap.live.t_ms;
            o->live_after++;
            if (age < o->min_age_rx) {
                o->min_age_rx = age;
            }
        }
    }
    if (!o->t_fault) {
        return;
    }
    bool fresh = s->gw.limits.state == CHG_STATE_BULK || s->gw.limits.state == CHG_STATE_ABSORPTION ||
                 s->gw.limits.state == CHG_STATE_FLOAT;
    if (fresh && s->now - o->t_fault > (uint32_t)s->cfg.charge.failsafe.stale_ms + CYCLE_SLACK_MS) {
        o->fresh_after++;
    }
    if (!o->failsafe && s->gw.limits.state == CHG_STATE_FAILSAFE) {
        o->failsafe = true;
        o->t_failsafe = s->now;
    }
}

static void on_351(scen_t *s, const scen_351_t *f, void *ctx)
{
    obs_t *o = ctx;
    (void)s;
    if (!o->t_fault) {
        return;
    }
    if (!o->stopped && f->lim.ccl_a <= 0.0f) {
        o->stopped = true;
        o->t_stopped = f->t_ms;
        o->stop_frame = *f;
    } else if (o->stopped && (f->lim.ccl_a > 0.0f || f->lim.cvl_v > o->pack_known + 1e-3f)) {
        o->charging_after_stop++;
    }
}

/* Charge until CCL is at its target, with the given link/stale configuration (NULL: defaults). */
static void start(obs_t *o, const gw_config_t *cfg_in)
{
    memset(o, 0, sizeof *o);
    o->min_age_rx = UINT32_MAX;
    o->skew_max_after = INT64_MIN;
    scen_opts_t op;
    scen_opts_default(&op);
    op.soc_pct = 60.0;
    op.log_level = LOG_WARN;
    gw_config_t cfg;
    if (cfg_in) {
        cfg = *cfg_in;
    } else {
        gw_config_defaults(&cfg);
    }
    assert_true(scen_init(&R, &op, &cfg));
    assert_int_equal(scen_load_charger(&R, 80.0), SIM_OK);
    R.on_351 = on_351;
    R.on_step = on_step;
    R.hook_ctx = o;
    scen_run(&R, 20000);
    assert_true(R.have351);
    assert_true(R.last351.lim.ccl_a > 40.0f);
}

static void delay_on(obs_t *o, uint32_t ms)
{
    o->t_fault = R.now;
    o->delay_ms = ms;
    o->pack_known = R.gw.poll.snap.live.pack_voltage_v;
    o->seen_live = R.live_replies;
    sim_fault_t f = {1.0, ms, 0};
    assert_int_equal(sim_set_fault(&R.sim, SIM_FAULT_DELAY, &f, R.now), SIM_OK);
}

static uint32_t late_replies(void)
{
    tb_link_stats_t st;
    tb_poll_stats(&R.gw.poll, &st);
    return st.late_replies;
}

/* The poller's answer window for one transaction of an awake BMS: every copy's reply time-out. */
static uint32_t answer_window_ms(const gw_config_t *c)
{
    return (uint32_t)(c->link.max_retries + 1) * (uint32_t)c->link.reply_timeout_ms;
}

/* No live block since the fault was stamped later than the BMS sampled it (beyond the counter's
 * resolution, plus 50 ms for the simulator's turnaround and the rig's step). */
static void check_stamps(const obs_t *o)
{
    assert_true(o->have_skew);
    if (o->skew_max_after != INT64_MIN) {
        printf("  stamps vs the BMS's own sampling time: the latest since the fault is %lld ms later than the latest "
               "before it (allowed: 50 ms)\n",
               (long long)(o->skew_max_after - o->skew_max_before));
        assert_true(o->skew_max_after <= o->skew_max_before + 50);
    }
}

static void finish(void)
{
    printf("  0x351 frames %u, oracle violations %u%s%s\n", R.n351, R.violations, R.violations ? ": " : "",
           R.first_violation);
    if (R.violations) {
        fail_msg("oracle: %s", R.first_violation);
    }
}

/* A delay shorter than the reply time-out: nothing is lost, the ages include the delay. */
static void delay_below_timeout_flows_with_honest_age(void **state)
{
    (void)state;
    obs_t o;
    start(&o, NULL);
    uint32_t d = (uint32_t)R.cfg.link.reply_timeout_ms - 50u;
    uint32_t late0 = late_replies();
    delay_on(&o, d);
    scen_run(&R, 20000);
    scen_say(&R, "delay %u ms (< link.reply_timeout_ms %d): %u live blocks in 20 s, smallest age on arrival %u ms, "
             "%u late replies, CCL on the bus %.1f A",
             d, (int)R.cfg.link.reply_timeout_ms, o.live_after, o.min_age_rx, late_replies() - late0,
             (double)R.last351.lim.ccl_a);
    assert_true(o.live_after >= 20000u / (d + (uint32_t)R.cfg.link.live_period_ms) / 2u);
    assert_true(o.min_age_rx >= d);
    assert_false(o.stopped);
    assert_true(o.fresh_after > 0u);
    assert_int_equal(late_replies() - late0, 0);
    check_stamps(&o);
    finish();
}

/* Longer than one reply time-out but inside the resends' window: the reply may answer the first
 * copy, so it is aged from the first copy (the conservative choice). Still far below stale_ms. */
static void delay_inside_resend_window_is_aged_from_first_copy(void **state)
{
    (void)state;
    obs_t o;
    start(&o, NULL);
    uint32_t d = answer_window_ms(&R.cfg) - 150u;
    assert_true(d > (uint32_t)R.cfg.link.reply_timeout_ms);
    delay_on(&o, d);
    scen_run(&R, 20000);
    scen_say(&R, "delay %u ms (reply time-out %d ms, answer window %u ms): %u live blocks in 20 s, smallest age on "
             "arrival %u ms, %u late replies",
             d, (int)R.cfg.link.reply_timeout_ms, answer_window_ms(&R.cfg), o.live_after, o.min_age_rx, late_replies());
    assert_true(o.live_after > 0u);
    assert_true(o.min_age_rx >= d);
    assert_false(o.stopped);
    check_stamps(&o);
    finish();
}

/* Beyond the answer window: every reply is late. Checked below and above failsafe.stale_ms. */
static void late_check(uint32_t d)
{
    obs_t o;
    start(&o, NULL);
    const failsafe_config_t *fs = &R.cfg.charge.failsafe;
    uint32_t late0 = late_replies();
    delay_on(&o, d);
    scen_run(&R, (uint32_t)fs->failsafe_ms + 10000u);
    uint32_t late = late_replies() - late0;
    scen_say(&R, "delay %u ms (answer window %u ms, stale_ms %d): %u live blocks accepted after the fault (smallest "
             "age on arrival %u ms), %u late replies discarded; charging stopped %u ms after the fault; fail-safe %s "
             "%u ms after it",
             d, answer_window_ms(&R.cfg), (int)fs->stale_ms, o.live_after,
             o.min_age_rx == UINT32_MAX ? 0u : o.min_age_rx, late, o.stopped ? o.t_stopped - o.t_fault : 0u,
             o.failsafe ? "applied" : "not applied", o.failsafe ? o.t_failsafe - o.t_fault : 0u);
    /* no late reply was taken for a fresh one */
    assert_int_equal(o.live_after, 0);
    assert_int_equal(o.fresh_after, 0);
    assert_true(late > 0u);
    /* charging stops as for a silent BMS: at stale_ms, on the bus at once */
    assert_true(o.stopped);
    assert_true(o.t_stopped - o.t_fault <= (uint32_t)fs->stale_ms + CYCLE_SLACK_MS + (uint32_t)R.cfg.can.burst_gap_ms);
    assert_true(o.stop_frame.lim.cvl_v <= o.pack_known + 1e-3f);
    assert_int_equal(o.charging_after_stop, 0);
    assert_true(o.failsafe);
    assert_int_equal(R.last_35a.levels.level[ALARM_BMS_INTERNAL], ALARM_LEVEL_ALARM);

    /* the delay goes away: the replies still on the way are drained, fresh data comes back */
    assert_int_equal(sim_clear_fault(&R.sim, SIM_FAULT_DELAY, R.now), SIM_OK);
    uint32_t t_clear = R.now;
    uint32_t n0 = o.live_after;
    scen_run(&R, d + 10000u);
    scen_say(&R, "delay cleared: %u live blocks in the next %u ms (the replies still on the way were dropped: %u late "
             "replies in all)",
             o.live_after - n0, R.now - t_clear, late_replies() - late0);
    assert_true(o.live_after - n0 > 10u);
    check_stamps(&o);
    assert_true(R.gw.limits.state != CHG_STATE_STALE && R.gw.limits.state != CHG_STATE_FAILSAFE);
    finish();
}

static void delay_beyond_window_below_stale_stops_charging(void **state)
{
    (void)state;
    late_check(2000u);
}

static void delay_beyond_stale_stops_charging(void **state)
{
    (void)state;
    late_check(6000u);
}

/* A reply time-out longer than stale_ms: replies are accepted, and their honest age decides. With
 * one live read outstanding at a time the age peaks at about twice the delay just before the next
 * block arrives: 400 ms keeps it below stale_ms (1000), 1200 ms is beyond it on arrival. */
static void accepted_replies_either_side_of_stale(void **state)
{
    (void)state;
    gw_config_t cfg;
    gw_config_defaults(&cfg);
    cfg.charge.failsafe.stale_ms = 1000;
    cfg.charge.failsafe.failsafe_ms = 60000;
    cfg.link.reply_timeout_ms = 3000;
    cfg.link.max_retries = 0;
    cfg.link.backoff_max_ms = 500; /* must stay below stale_ms */
    /* live reads only: one request is outstanding at a time, so with other blocks in between the
     * gap between two live blocks (and the age just before the next) would grow by their delays */
    cfg.link.settings_period_ms = 0;
    cfg.link.stats_period_ms = 0;
    cfg.link.events_period_ms = 0;
    static const struct {
        uint32_t d;
        bool stops;
    } cases[] = {{400u, false}, {1200u, true}};
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        obs_t o;
        start(&o, &cfg);
        delay_on(&o, cases[i].d);
        scen_run(&R, 15000);
        scen_say(&R, "reply time-out 3000 ms, stale_ms 1000, delay %u ms: %u live blocks, smallest age on arrival "
                 "%u ms, charging %s",
                 cases[i].d, o.live_after, o.min_age_rx, o.stopped ? "stopped" : "went on");
        assert_true(o.live_after > 3u);
        assert_true(o.min_age_rx >= cases[i].d);
        assert_true(o.stopped == cases[i].stops);
        if (cases[i].stops) {
            assert_int_equal(o.charging_after_stop, 0);
            assert_int_equal(o.fresh_after, 0);
        }
        check_stamps(&o);
        finish();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delay_below_timeout_flows_with_honest_age),
        cmocka_unit_test(delay_inside_resend_window_is_aged_from_first_copy),
        cmocka_unit_test(delay_beyond_window_below_stale_stops_charging),
        cmocka_unit_test(delay_beyond_stale_stops_charging),
        cmocka_unit_test(accepted_replies_either_side_of_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
