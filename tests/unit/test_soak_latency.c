/* BMS reply -> CAN burst latency after a disturbance, in process (gateway + simulator, simulated
 * clock). The fast CAN group goes out "at once after a fresh snapshot", rate-limited by
 * can.burst_gap_ms. When that gap equals the live poll period, one burst sent for another reason
 * (the 1 s cadence while replies were missing) just before a reply makes that reply wait a whole
 * gap, and the next reply arrives just after the delayed burst again: the lag locks in. This test
 * makes replies go missing, late or dribbled for a few seconds, then measures the latency of the
 * next 20 s of replies. Found by the daemon soak (internal p50 98 ms).
 *
 * Fixed: a cadence burst no longer delays fresh data (app/can_sched: only a previous fresh burst
 * does), the default gap is 50 ms, and the configuration refuses a gap above half the poll
 * period (app/config.c), the condition under which a delayed burst can delay the next reply
 * again. The test asserts the latency recovers with the defaults and with the largest allowed
 * gap (half the 100 ms poll period). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "app/gateway.h"
#include "app/log.h"
#include "sim/sim.h"

static sim_t g_sim;
static gateway_t g_gw;
static uint32_t g_now = 1000;

static int no_send(void *ctx, const can_frame_t *f)
{
    (void)ctx;
    (void)f;
    return 0;
}

static void run(uint32_t ms, bool drop)
{
    uint32_t end = g_now + ms;
    while ((int32_t)(g_now - end) < 0) {
        uint8_t b[512];
        int n = gateway_uart_tx(&g_gw, g_now, b, sizeof b);
        if (n > 0 && !drop) {
            sim_rx(&g_sim, b, (size_t)n, g_now);
        }
        size_t k;
        while ((k = sim_tx(&g_sim, b, sizeof b, g_now)) > 0) {
            gateway_uart_rx(&g_gw, b, k, g_now);
        }
        gateway_run(&g_gw, g_now);
        uint32_t w = gateway_wait_ms(&g_gw, g_now);
        uint32_t due;
        if (sim_tx_pending(&g_sim, &due)) {
            int32_t d = (int32_t)(due - g_now);
            w = d <= 0 ? 0 : (uint32_t)d < w ? (uint32_t)d : w;
        }
        g_now += w ? w : 1;
    }
}

static unsigned p50(void)
{
    uint32_t total = 0, acc = 0;
    for (unsigned i = 0; i < GW_LAT_BUCKETS; i++) {
        total += g_gw.lat_hist[i];
    }
    for (unsigned i = 0; i < GW_LAT_BUCKETS; i++) {
        acc += g_gw.lat_hist[i];
        if (acc * 2u >= total) {
            return i;
        }
    }
    return GW_LAT_BUCKETS;
}

static unsigned disturbed(int32_t gap_ms, bool strict)
{
    g_now = 1000;
    log_set_level(LOG_ERROR);
    sim_config_t sc;
    sim_config_default(&sc);
    sc.cells = 16;
    sc.seed = 4;
    sc.start_ms = g_now;
    assert_int_equal(sim_init(&g_sim, &sc), SIM_OK);
    gw_config_t cfg;
    gw_config_defaults(&cfg);
    if (gap_ms > 0) {
        cfg.can.burst_gap_ms = gap_ms;
    }
    gw_ports_t p;
    memset(&p, 0, sizeof p);
    p.can_send = no_send;
    assert_int_equal(gateway_init(&g_gw, &cfg, &p, g_now), TB_OK);
    run(10000, false);
    unsigned before = p50(), worst = 0;
    static const sim_fault_kind_t kinds[] = {SIM_FAULT_NOREPLY, SIM_FAULT_DELAY, SIM_FAULT_SPLIT, SIM_FAULT_DELAY,
                                             SIM_FAULT_NOREPLY, SIM_FAULT_SPLIT};
    for (int k = 0; k < 6; k++) {
        /* replies lost, late or dribbled for a while, then normal again */
        sim_fault_t f = {0.5, kinds[k] == SIM_FAULT_DELAY ? 150u : kinds[k] == SIM_FAULT_SPLIT ? 1u : 0u, 0};
        assert_int_equal(sim_set_fault(&g_sim, kinds[k], &f, g_now), SIM_OK);
        run(3000 + 170u * (unsigned)k, false);
        sim_clear_faults(&g_sim, g_now);
        memset(g_gw.lat_hist, 0, sizeof g_gw.lat_hist);
        run(20000, false);
        unsigned after = p50();
        print_message("can.burst_gap_ms %d: disturbance %d: reply -> burst p50 %u ms before, %u ms after\n",
                      (int)g_gw.cfg.can.burst_gap_ms, k, before, after);
        worst = after > worst ? after : worst;
        if (strict) {
            assert_true(after <= 10);
        }
    }
    return worst;
}

static void latency_recovers_when_the_gap_is_half_the_poll_period(void **state)
{
    (void)state;
    disturbed(50, true);
}

static void latency_with_the_shipped_defaults(void **state)
{
    (void)state;
    disturbed(0, true);
}


int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(latency_recovers_when_the_gap_is_half_the_poll_period),
                                       cmocka_unit_test(latency_with_the_shipped_defaults)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
