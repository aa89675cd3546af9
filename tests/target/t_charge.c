/* The charge-limit controller on the emulated target: the golden limiter and taper vectors of
 * tests/vectors/charge_vectors.c (run as the host's tests/unit/test_charge.c runs them, with the
 * same snapshot builder tests/unit/test_charge_util.h), and a short scenario: cells rising
 * through the taper to over-voltage, then the BMS going silent. */
#include <math.h>
#include <string.h>

#include "core/charge.h"
#include "test_charge_util.h"
#include "tests.h"
#include "tests/vectors/charge_vectors.h"

typedef struct {
    chg_config_t cfg;
    chg_st_t st;
    bms_snapshot_t snap;
    chg_limits_t out;
    uint32_t now;
} rig_t;

static rig_t g;

static void rig_init(uint8_t n, float cell_v, uint32_t now)
{
    memset(&g, 0, sizeof g);
    chg_config_defaults(&g.cfg);
    chg_init(&g.st);
    g.now = now;
    tcu_snapshot(&g.snap, n, cell_v, g.now);
}

/* Advance time, refresh the live block (fresh data) unless `silent`, and step. */
static void step(uint32_t dt_ms, bool silent)
{
    g.now += dt_ms;
    if (!silent) {
        g.snap.live.t_ms = g.now;
    }
    chg_step(&g.st, &g.snap, &g.cfg, g.now, &g.out);
}

/* "Stop charging": CCL 0 and CVL not above the pack voltage, at most one wire step below it
 * (or below series cells x target when the pack is above that). */
static void stopped(void)
{
    TT_CHECK(g.out.charge_stopped);
    TT_NEAR(g.out.ccl_a, 0.0, 0.0);
    TT_CHECK(g.out.cvl_v <= g.snap.live.pack_voltage_v + 1e-4f);
    float cap = (float)g.out.series_cells * g.out.cell_target_v;
    TT_CHECK(g.out.cvl_v >= fminf(g.snap.live.pack_voltage_v, cap) - CHG_CVL_STEP_V - 1e-3f);
}

void t_charge_vectors(void)
{
    for (unsigned i = 0; i < chg_vec_taper_count; i++) {
        TT_NEAR(chg_taper_fraction(chg_vec_taper[i].x), chg_vec_taper[i].frac, 1e-5);
    }
    TT_CHECK(chg_vec_case_count >= 10u);
    for (unsigned i = 0; i < chg_vec_case_count; i++) {
        const chg_vec_case_t *c = &chg_vec_cases[i];
        tt_context(c->name);
        rig_init(16, c->others, 1000u);
        g.snap.live.cell_v[15] = c->vmax;
        g.snap.live.cell_v[0] = c->vmin;
        tcu_recalc(&g.snap);
        tcu_set_temp(&g.snap, c->temp_c);
        g.snap.live.soc_pct = c->soc_pct;
        tcu_fault(&g.snap, c->fault != 0u);
        step(1000, false);
        step(1000, false);
        TT_NEAR(g.out.ccl_target_a, c->ccl_target_a, 0.101);
        TT_STREQ(chg_limiter_name(g.out.ccl_target_lim), c->ccl_lim);
        TT_NEAR(g.out.dcl_target_a, c->dcl_target_a, 0.101);
        TT_STREQ(chg_limiter_name(g.out.dcl_target_lim), c->dcl_lim);
        if (c->cvl_target_v > 0.0f) {
            TT_NEAR(g.out.cvl_target_v, c->cvl_target_v, 1e-3);
        } else {
            TT_CHECK(g.out.charge_stopped);
            TT_CHECK(g.out.cvl_target_v <= g.snap.live.pack_voltage_v + 1e-4f);
        }
        if (c->cvl_lim) {
            TT_STREQ(chg_limiter_name(g.out.cvl_target_lim), c->cvl_lim);
        }
    }
    tt_context(NULL);
}

static void trace(const char *what)
{
    tt_puts("    ");
    tt_puts(what);
    tt_puts(": cells ");
    tt_put_double(g.snap.live.max_cell_v, 3);
    tt_puts(" V, CVL ");
    tt_put_double(g.out.cvl_v, 1);
    tt_puts(" V, CCL ");
    tt_put_double(g.out.ccl_a, 1);
    tt_puts(" A (");
    tt_puts(chg_limiter_name(g.out.ccl_lim));
    tt_puts("), DCL ");
    tt_put_double(g.out.dcl_a, 1);
    tt_puts(" A, ");
    tt_puts(chg_state_name(g.out.state));
    tt_puts("\n");
}

void t_charge_scenario(void)
{
    /* 16S at 3.30 V, settled; the 32-bit millisecond clock wraps 40 s into the rise */
    rig_init(16, 3.30f, 0u - 340000u);
    TT_EQ(chg_config_check(&g.cfg, NULL), TB_OK);
    for (int i = 0; i < 300; i++) {
        step(1000, false);
    }
    TT_CHECK(g.out.valid);
    TT_NEAR(g.out.ccl_a, 80.0, 0.11);
    TT_NEAR(g.out.dcl_a, 120.0, 0.11);
    trace("settled");

    const float cvl_cap = 16.0f * g.cfg.cell_bulk_v;
    float prev_ccl = g.out.ccl_a;
    bool reached_zero = false;
    bool traced_taper = false;
    /* every cell rises 5 mV per second from 3.300 V to 3.700 V (over-voltage cut-off 3.65 V) */
    for (int k = 1; k <= 80; k++) {
        float v = 3.30f + 0.005f * (float)k;
        tcu_set_cells(&g.snap, v);
        step(1000, false);
        TT_CHECK(g.out.valid);
        /* invariant 2: CVL is a pack voltage, never above series cells x the charge target */
        TT_CHECK(g.out.cvl_v <= cvl_cap + 1e-3f);
        TT_CHECK(g.out.cvl_v > 16.0f * 2.5f);
        /* a rising cell voltage never raises CCL; decreases apply in the same step */
        TT_CHECK(g.out.ccl_a <= prev_ccl + 1e-4f);
        prev_ccl = g.out.ccl_a;
        if (!traced_taper && g.out.ccl_a < 79.9f) {
            trace("taper starts");
            traced_taper = true;
        }
        if (v >= g.cfg.ccl_taper_end_v - 1e-4f) {
            /* invariant 3: at the taper end (and at over-voltage) charging stops at once */
            stopped();
            if (!reached_zero) {
                trace("charging stopped");
            }
            reached_zero = true;
        }
        if (v >= g.snap.settings.over_voltage_v) {
            TT_STREQ(chg_limiter_name(g.out.ccl_lim), "cell_over_voltage");
        }
    }
    TT_CHECK(reached_zero);
    trace("over-voltage");

    /* the BMS goes silent: charging stays stopped, the communication alarm comes on */
    uint32_t silent_ms = (uint32_t)g.cfg.failsafe.stale_ms + 1000u;
    for (uint32_t t = 0; t < silent_ms; t += 100u) {
        step(100, true);
        TT_NEAR(g.out.ccl_a, 0.0, 0.0);
    }
    TT_CHECK(g.out.comm_alarm);
    TT_CHECK(g.out.state == CHG_STATE_STALE || g.out.state == CHG_STATE_FAILSAFE);
    TT_CHECK(g.out.cvl_v <= g.snap.live.pack_voltage_v + 1e-4f);
    trace("BMS silent");
}
