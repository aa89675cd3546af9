/* The gateway's TinyBMS poller (core/tb_poll) against the simulator (sim/), byte for byte in one
 * process with simulated time (1 ms ticks).
 *
 * The two sides were written independently, so agreement here is evidence that both read the
 * protocol the same way; and the simulator's truth lets every decoded value be checked. For each
 * wire fault the poller must count the error, never deliver garbage as data (every live update is
 * compared with the truth), and recover when the fault clears. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/tb_poll.h"
#include "sim/sim.h"

typedef struct {
    sim_t sim;
    tb_poll_t poll;
    uint32_t now;
    bool pause_poller;  /* the gateway is off: only the battery lives */
    uint32_t settle_until; /* after a step change, replies may still carry the old measurement */
    unsigned live_updates;
    unsigned live_checked;
} rig_t;

static rig_t g;

/* Every decoded live block must be the battery's state (within what 100 ms can change). */
static void check_live(void)
{
    const bms_live_t *l = &g.poll.snap.live;
    if ((int32_t)(g.now - g.settle_until) < 0) {
        return;
    }
    sim_truth_t t;
    sim_truth(&g.sim, &t);
    assert_true(l->valid);
    assert_int_equal(l->cell_count, t.cells);
    for (unsigned k = 0; k < t.cells; k++) {
        if (fabs(l->cell_v[k] - t.cell_v[k]) > 0.003) {
            fail_msg("cell %u: gateway %.4f V, truth %.4f V", k + 1, l->cell_v[k], t.cell_v[k]);
        }
    }
    assert_float_equal(l->pack_voltage_v, t.pack_v, 0.05);
    assert_float_equal(l->pack_current_a, t.pack_i, 0.001);
    assert_float_equal(l->soc_pct, t.bms_soc_pct, 0.01);
    if (l->temp_ext_present[0]) {
        assert_float_equal(l->temp_ext_c[0], t.temp_ext1_c, 0.11);
    }
    assert_float_equal(l->temp_internal_c, t.temp_int_c, 0.11);
    assert_int_equal(l->status_raw, t.status);
    /* a delayed reply is older, never newer (a dribbled reply that outlived its request can be
     * taken as the answer to the resend: up to ~2 s old) */
    if (!(l->lifetime_s <= t.lifetime_s && l->lifetime_s + 3 >= t.lifetime_s)) {
        fail_msg("lifetime: gateway %u, truth %u, now %u", (unsigned)l->lifetime_s, (unsigned)t.lifetime_s, (unsigned)g.now);
    }
    g.live_checked++;
}

static void tick(void)
{
    if (!g.pause_poller) {
        uint8_t tx[TB_FRAME_MAX];
        int n = tb_poll_step(&g.poll, g.now, tx, sizeof tx);
        assert_true(n >= 0);
        if (n > 0) {
            sim_rx(&g.sim, tx, (size_t)n, g.now);
        }
    }
    uint8_t rx[1024];
    size_t k = sim_tx(&g.sim, rx, sizeof rx, g.now);
    if (k > 0 && !g.pause_poller) {
        tb_poll_rx(&g.poll, rx, k, g.now);
        uint32_t up = tb_poll_take_updates(&g.poll);
        if (up & (1u << TB_BLK_LIVE)) {
            g.live_updates++;
            check_live();
        }
    }
    g.now++;
}

/* The scenario changed something abruptly: give it a measurement and a reply time to show. */
static void settle(void)
{
    g.settle_until = g.now + 700;
}

static void run(uint32_t ms)
{
    for (uint32_t k = 0; k < ms; k++) {
        tick();
    }
}

static void rig(uint8_t cells, bool sleep)
{
    memset(&g, 0, sizeof g);
    g.now = 1000;
    sim_config_t c;
    sim_config_default(&c);
    c.cells = cells;
    c.seed = 21;
    c.sleep_enabled = sleep;
    c.start_ms = g.now;
    assert_int_equal(sim_init(&g.sim, &c), SIM_OK);
    tb_poll_cfg_t pc;
    tb_poll_cfg_defaults(&pc);
    tb_poll_init(&g.poll, &pc, g.now);
}

static tb_link_stats_t stats(void)
{
    tb_link_stats_t s;
    tb_poll_stats(&g.poll, &s);
    return s;
}

static void agreement_on_a_clean_line(void **state)
{
    (void)state;
    rig(14, true);
    sim_set_current(&g.sim, -12.5, g.now);
    run(12000);
    tb_link_stats_t s = stats();
    assert_true(s.link_up);
    assert_int_equal(s.timeouts, 0);
    assert_int_equal(s.nacks, 0);
    assert_int_equal(s.decode_errors, 0);
    assert_int_equal(s.rx.crc_errors, 0);
    assert_int_equal(s.rx.garbage_bytes, 0);
    assert_int_equal(s.unexpected, 0);
    assert_true(g.live_updates > 100);
    const bms_snapshot_t *snap = &g.poll.snap;
    assert_true(bms_snapshot_complete(snap));
    assert_int_equal(bms_series_cells(snap), 14);
    assert_int_equal(snap->live.status, BMS_STATUS_DISCHARGING);
    assert_true(snap->settings.valid);
    assert_int_equal(snap->settings.series_cells, 14);
    assert_float_equal(snap->settings.capacity_ah, 100.0, 1e-3);
    assert_float_equal(snap->settings.over_voltage_v, 3.8, 1e-6);
    assert_float_equal(snap->settings.under_voltage_v, 2.8, 1e-6);
    assert_float_equal(snap->settings.fully_charged_v, 3.55, 1e-6);
    assert_float_equal(snap->settings.discharge_oc_a, 100, 1e-6);
    assert_float_equal(snap->settings.charge_oc_a, 60, 1e-6);
    assert_float_equal(snap->settings.over_heat_c, 60, 1e-6);
    assert_float_equal(snap->settings.low_temp_charge_c, 0, 1e-6);
    assert_true(snap->version.valid);
    assert_int_equal(snap->version.hw_version, 2);
    assert_int_equal(snap->version.fw_internal, 242);
    assert_true(snap->version.high_power);
    assert_true(snap->stats.valid);
    assert_float_equal(snap->stats.max_discharge_current_a, 12.5, 0.051);
    assert_int_equal(snap->stats.last_reset_cause, 5);
    assert_true(tb_poll_limits_valid(&g.poll));
}

/* A wire fault at probability p for a while, then cleared. */
static void survive_ex(sim_fault_kind_t kind, uint32_t param, double p, bool errors_expected,
                       bool data_flows)
{
    rig(16, true);
    sim_set_current(&g.sim, 7.0, g.now);
    run(3000);
    tb_link_stats_t before = stats();
    unsigned checked = g.live_checked;
    sim_fault_t f = {p, param, 0};
    assert_int_equal(sim_set_fault(&g.sim, kind, &f, g.now), SIM_OK);
    run(20000);
    tb_link_stats_t during = stats();
    sim_counters_t c;
    sim_counters(&g.sim, &c);
    assert_true(c.injected[kind] > 3);
    /* counted */
    uint32_t errs = (during.timeouts - before.timeouts) + (during.retries - before.retries) +
                    (during.rx.crc_errors - before.rx.crc_errors) +
                    (during.rx.garbage_bytes - before.rx.garbage_bytes) +
                    (during.rx.truncated - before.rx.truncated);
    if (errors_expected && errs == 0) {
        fail_msg("fault %s: the poller counted nothing", sim_fault_name(kind));
    }
    if (!errors_expected) {
        assert_int_equal(errs, 0);
        assert_true(during.last_rtt_ms >= param);
    }
    if (data_flows) {
        /* data still flows, and all of it was the truth (check_live ran on every update) */
        assert_true(g.live_checked > checked + 20);
    }
    sim_clear_faults(&g.sim, g.now);
    settle();
    run(6000);
    tb_link_stats_t after = stats();
    assert_true(after.link_up);
    unsigned n0 = g.live_updates;
    uint32_t t0 = after.timeouts;
    run(3000);
    assert_true(g.live_updates > n0 + 20);
    assert_int_equal(stats().timeouts, t0);
}

static void survive(sim_fault_kind_t kind, uint32_t param, double p)
{
    survive_ex(kind, param, p, true, p < 1.0);
}

static void survives_no_reply(void **state)
{
    (void)state;
    survive(SIM_FAULT_NOREPLY, 0, 0.3);
    survive(SIM_FAULT_NOREPLY, 0, 1.0);
    assert_true(stats().link_up);
}

static void survives_delay(void **state)
{
    (void)state;
    survive(SIM_FAULT_DELAY, 400, 0.3); /* longer than the reply timeout */
    survive_ex(SIM_FAULT_DELAY, 60, 1.0, false, true); /* slow but in time: no error */
}

static void survives_crc(void **state)
{
    (void)state;
    survive(SIM_FAULT_CRC, 0, 0.3);
    survive(SIM_FAULT_CRC, 0, 1.0);
}

static void survives_truncate(void **state)
{
    (void)state;
    survive(SIM_FAULT_TRUNCATE, 0, 0.3);
}

static void survives_split(void **state)
{
    (void)state;
    survive(SIM_FAULT_SPLIT, 10, 0.3); /* a big reply then outlasts the reply timeout */
    /* pieces further apart than the receiver's gap: little gets through, nothing wrong does */
    survive_ex(SIM_FAULT_SPLIT, 80, 0.3, true, false);
    assert_true(stats().rx.truncated > 0);
}

static void survives_garbage(void **state)
{
    (void)state;
    survive(SIM_FAULT_GARBAGE, 0, 0.3);
}

static void wakes_a_sleeping_bms(void **state)
{
    (void)state;
    rig(16, true);
    run(3000);
    g.pause_poller = true; /* the gateway stops polling: the BMS falls asleep */
    run(15000);
    sim_truth_t t;
    sim_truth(&g.sim, &t);
    assert_true(t.asleep);
    g.pause_poller = false;
    tb_link_stats_t b = stats();
    run(3000);
    tb_link_stats_t a = stats();
    sim_counters_t c;
    sim_counters(&g.sim, &c);
    assert_int_equal(c.swallowed, 1);
    assert_true(a.wakeups > b.wakeups);
    assert_int_equal(a.timeouts, b.timeouts);
    assert_false(g.poll.snap.live.valid && g.live_updates == 0);
}

static void battery_faults_reach_the_snapshot(void **state)
{
    (void)state;
    rig(16, true);
    sim_set_current(&g.sim, 10, g.now);
    run(2000);
    sim_fault_t f = {1.0, 5, 100.0}; /* cell 5 climbs 100 mV/s */
    sim_set_fault(&g.sim, SIM_FAULT_CELL_HIGH, &f, g.now);
    run(6000);
    const bms_live_t *l = &g.poll.snap.live;
    assert_int_equal(l->status, BMS_STATUS_FAULT);
    assert_true(l->cell_v[4] >= 3.8f);
    assert_true(l->max_cell_v >= 3.8f);
    assert_true(l->pack_current_a == 0.0f);
    sim_clear_faults(&g.sim, g.now);
    settle();
    sim_fault_t o = {1.0, 1, 0};
    sim_set_fault(&g.sim, SIM_FAULT_TEMP_OPEN, &o, g.now);
    run(1000);
    assert_false(l->temp_ext_present[0]);
    assert_true(l->temp_ext_present[1]);
    sim_clear_faults(&g.sim, g.now);
    settle();
    run(1000);
    assert_true(l->temp_ext_present[0]);
    sim_fault_t b = {1.0, 0x0C, 0};
    sim_set_fault(&g.sim, SIM_FAULT_BMS_FAULT, &b, g.now);
    run(1000);
    assert_int_equal(l->status, BMS_STATUS_FAULT);
}

static void jobs_write_and_reset(void **state)
{
    (void)state;
    rig(16, true);
    run(3000);
    tb_job_t j;
    memset(&j, 0, sizeof j);
    j.type = TB_JOB_WRITE;
    j.addr = 315;
    j.count = 1;
    j.values[0] = 3700;
    assert_int_equal(tb_poll_submit(&g.poll, &j), TB_OK);
    for (int k = 0; k < 3000 && !tb_poll_job_done(&g.poll); k++) {
        tick();
    }
    assert_true(tb_poll_job_done(&g.poll));
    assert_int_equal(tb_poll_job_result(&g.poll)->rc, TB_OK);
    uint16_t v = 0;
    sim_read_register(&g.sim, 315, &v);
    assert_int_equal(v, 3700);
    tb_poll_job_clear(&g.poll);

    j.values[0] = 5000; /* out of range: refused on one side or the other, never written */
    int rc = tb_poll_submit(&g.poll, &j);
    if (rc == TB_OK) {
        for (int k = 0; k < 3000 && !tb_poll_job_done(&g.poll); k++) {
            tick();
        }
        assert_int_not_equal(tb_poll_job_result(&g.poll)->rc, TB_OK);
        tb_poll_job_clear(&g.poll);
    }
    sim_read_register(&g.sim, 315, &v);
    assert_int_equal(v, 3700);

    memset(&j, 0, sizeof j);
    j.type = TB_JOB_RESET;
    j.option = TB_RESET_BMS;
    assert_int_equal(tb_poll_submit(&g.poll, &j), TB_OK);
    for (int k = 0; k < 5000 && !tb_poll_job_done(&g.poll); k++) {
        tick();
    }
    assert_true(tb_poll_job_done(&g.poll));
    assert_int_equal(tb_poll_job_result(&g.poll)->rc, TB_OK);
    tb_poll_job_clear(&g.poll);
    sim_counters_t c;
    sim_counters(&g.sim, &c);
    assert_int_equal(c.reboots, 1);
    run(5000);
    assert_true(stats().link_up);
    unsigned n0 = g.live_updates;
    run(1000);
    assert_true(g.live_updates > n0 + 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agreement_on_a_clean_line),
        cmocka_unit_test(survives_no_reply),
        cmocka_unit_test(survives_delay),
        cmocka_unit_test(survives_crc),
        cmocka_unit_test(survives_truncate),
        cmocka_unit_test(survives_split),
        cmocka_unit_test(survives_garbage),
        cmocka_unit_test(wakes_a_sleeping_bms),
        cmocka_unit_test(battery_faults_reach_the_snapshot),
        cmocka_unit_test(jobs_write_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
