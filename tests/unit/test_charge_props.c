/* Property tests: random snapshots, random configurations, random timing, silences, invalid
 * blocks, implausible values and faults are driven through chg_step() and alarms_step(), and the
 * safety invariants of design.md are checked after EVERY step against an oracle written here,
 * independently of the controller's internals:
 *   1  no limits (valid/transmit false, CCL = DCL = 0) before the first usable snapshot;
 *   2  CVL <= series cells x charge.cell_bulk_v, and a pack value (>= 2 V x cells), never per cell;
 *   3  cell >= BMS OV, BMS fault, temperature outside the charge window -> CCL 0 and CVL at (not
 *      above) the pack voltage in that very step; cell <= BMS UV or outside the discharge window
 *      -> DCL 0; CCL 0 always comes with CVL <= pack voltage;
 *   4  data state (fresh / stale / fail-safe) exactly as the thresholds say; stale -> CCL 0 and
 *      CVL <= last known pack voltage, DCL never raised; fail-safe -> zero limits or silence;
 *   5  outputs never above their targets (decreases immediate); increases only after the hold
 *      and no faster than the ramp; CVL likewise;
 *   alarms: nothing data-derived raised before the first usable snapshot (zeros never give "low
 *      voltage"), unsupported categories stay unsupported, link loss is BMS internal.
 * A second property: constant input -> constant limits after settling, for random inputs and
 * configurations. Seeds are fixed, so every run checks the same cases; a failure prints its seed
 * and step. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/chg_reason.h"
#include "core/alarms.h"
#include "core/charge.h"
#include "test_charge_util.h"

#define SCENARIOS 120
#define STEPS 3000

static uint32_t g_seed;
static unsigned g_step;
static unsigned g_charging; /* valid steps with CCL > 0 */

#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        if (!(cond)) {                                                                                   \
            print_error("invariant failed: %s (seed %u, step %u)\n", #cond, (unsigned)g_seed, g_step);   \
            fail();                                                                                      \
        }                                                                                                \
    } while (0)

/* Random configuration: every numeric row of the schema drawn from its own range, then the
 * cross-field rules repaired the way an installer would, then checked by chg_config_check(). */
static void random_config(tcu_rng_t *rng, chg_config_t *c)
{
    chg_config_defaults(c);
    cfg_error_t err;
    for (size_t i = 0; i < chg_section.count; i++) {
        const cfg_param_t *p = &chg_section.params[i];
        if (!tcu_chance(rng, 0.5f)) {
            continue; /* keep half of the defaults so that typical values stay common */
        }
        if (p->type == CFG_FLOAT) {
            assert_int_equal(cfg_set_number(p, c, (double)tcu_uniform(rng, p->min, p->max), &err), TB_OK);
        } else if (p->type == CFG_INT) {
            double v = floor((double)tcu_uniform(rng, p->min, p->max));
            assert_int_equal(cfg_set_number(p, c, v, &err), TB_OK);
        } else if (p->type == CFG_BOOL) {
            assert_int_equal(cfg_set_bool(p, c, tcu_chance(rng, 0.5f), &err), TB_OK);
        }
    }
    if (c->cell_bulk_v > c->cell_limit_v) {
        float t = c->cell_bulk_v;
        c->cell_bulk_v = c->cell_limit_v;
        c->cell_limit_v = t;
    }
    c->cell_float_v = fminf(c->cell_float_v, c->cell_bulk_v);
    if (c->ccl_taper_start_v + 0.01f > c->ccl_taper_end_v) {
        c->ccl_taper_start_v = c->ccl_taper_end_v - 0.05f;
    }
    if (c->dcl_taper_end_v + 0.01f > c->dcl_taper_start_v) {
        c->dcl_taper_end_v = c->dcl_taper_start_v - 0.05f;
    }
    if (c->dcl_taper_start_v >= c->ccl_taper_start_v) {
        c->dcl_taper_start_v = c->ccl_taper_start_v - 0.05f;
        c->dcl_taper_end_v = fminf(c->dcl_taper_end_v, c->dcl_taper_start_v - 0.05f);
    }
    if (c->charge_temp_min_c + 1.0f > c->charge_temp_max_c) {
        c->charge_temp_min_c = c->charge_temp_max_c - 5.0f;
    }
    if (c->discharge_temp_min_c + 1.0f > c->discharge_temp_max_c) {
        c->discharge_temp_min_c = c->discharge_temp_max_c - 5.0f;
    }
    if (c->imbalance_release_v >= c->imbalance_hold_v) {
        c->imbalance_release_v = c->imbalance_hold_v * 0.5f;
    }
    if (c->absorption_time_s > c->absorption_max_s) {
        c->absorption_time_s = c->absorption_max_s;
    }
    c->voltage_hyst_v = fminf(c->voltage_hyst_v, 0.5f * fminf(c->ov_release_v, c->uv_release_v));
    if (c->rebulk_cell_v > 0.0f && c->rebulk_cell_v >= c->cell_float_v) {
        c->rebulk_cell_v = c->cell_float_v - 0.1f;
    }
    if (c->rebulk_spread_v > 0.0f && c->rebulk_spread_v <= c->float_max_spread_v) {
        c->rebulk_spread_v = c->float_max_spread_v + 0.02f;
    }
    c->failsafe.stale_ms = 1000 + (int32_t)(tcu_next(rng) % 20000u);
    c->failsafe.failsafe_ms = c->failsafe.stale_ms + (int32_t)(tcu_next(rng) % 120000u);
    c->failsafe.mode = (int32_t)(tcu_next(rng) % 2u);
    const char *why = "";
    if (chg_config_check(c, &why) != TB_OK) {
        print_error("random config rejected: %s\n", why);
        fail();
    }
}

static void random_settings(tcu_rng_t *rng, bms_snapshot_t *s)
{
    bms_settings_t *st = &s->settings;
    st->over_voltage_v = tcu_uniform(rng, 3.55f, 3.75f);
    st->under_voltage_v = tcu_uniform(rng, 2.50f, 3.00f);
    st->fully_charged_v = tcu_uniform(rng, 3.30f, 3.65f);
    st->charge_oc_a = tcu_chance(rng, 0.1f) ? 0.0f : tcu_uniform(rng, 5.0f, 300.0f);
    st->discharge_oc_a = tcu_chance(rng, 0.1f) ? 0.0f : tcu_uniform(rng, 5.0f, 400.0f);
    st->over_heat_c = tcu_uniform(rng, 40.0f, 80.0f);
    st->low_temp_charge_c = tcu_uniform(rng, -10.0f, 5.0f);
    st->capacity_ah = tcu_uniform(rng, 10.0f, 600.0f);
}

/* Oracle temperatures, with the rule of charge.h: external sensors, plus the board sensor when
 * configured or when no external sensor is present. */
static void oracle_temps(const bms_snapshot_t *s, const chg_config_t *c, float *tmin, float *tmax)
{
    bool any = false;
    float lo = 1000.0f;
    float hi = -1000.0f;
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        if (s->live.temp_ext_present[i]) {
            lo = fminf(lo, s->live.temp_ext_c[i]);
            hi = fmaxf(hi, s->live.temp_ext_c[i]);
            any = true;
        }
    }
    if (c->use_internal_temp || !any) {
        lo = fminf(lo, s->live.temp_internal_c);
        hi = fmaxf(hi, s->live.temp_internal_c);
    }
    *tmin = lo;
    *tmax = hi;
}

typedef struct {
    bool have_good;
    uint32_t good_t;
    float good_pack;
    uint8_t good_n;
    float prev_ccl, prev_dcl, prev_cvl;
    bool prev_valid;
    uint32_t last_ccl_dec, last_dcl_dec, last_cvl_dec; /* now_ms of the last decrease */
    bool ccl_dec_seen, dcl_dec_seen, cvl_dec_seen;
} oracle_t;

static bool elapsed_at_least(uint32_t now, uint32_t since, bool seen, uint32_t ms)
{
    return !seen || (uint32_t)(now - since) >= ms;
}

static void check_step(oracle_t *o, const chg_config_t *c, const bms_snapshot_t *s, bool usable_gen, uint32_t now,
                       uint32_t dt, const chg_limits_t *out, const alarms_out_t *al)
{
    /* ---- expected data state ---- */
    int32_t age = (int32_t)(now - s->live.t_ms);
    bool fresh = usable_gen && age >= 0 && age <= c->failsafe.stale_ms;
    if (fresh) {
        o->have_good = true;
        o->good_t = s->live.t_ms;
        o->good_pack = s->live.pack_voltage_v;
        o->good_n = s->live.cell_count;
    }
    failsafe_data_t want = FAILSAFE_NO_DATA;
    if (fresh) {
        want = FAILSAFE_FRESH;
    } else if (o->have_good) {
        want = (uint32_t)(now - o->good_t) > (uint32_t)c->failsafe.failsafe_ms ? FAILSAFE_ACTIVE : FAILSAFE_STALE;
    }
    CHECK(out->data == want);

    /* ---- basic hygiene ---- */
    CHECK(isfinite(out->cvl_v) && isfinite(out->ccl_a) && isfinite(out->dcl_a) && isfinite(out->dvl_v));
    CHECK(out->ccl_a >= 0.0f && out->dcl_a >= 0.0f && out->cvl_v >= 0.0f);
    CHECK(out->reason[0] != '\0');
    CHECK(out->reason[CHG_REASON_LEN - 1u] == '\0');
    /* the reason is worded (no internal name such as "config_max"), complete (not cut by the
     * buffer) and knows every limiter it is given */
    CHECK(strchr(out->reason, '_') == NULL);
    CHECK(strlen(out->reason) + 1u < CHG_REASON_LEN);
    CHECK(strstr(out->reason, "unknown") == NULL);

    /* ---- 1: nothing before the first usable snapshot ---- */
    if (!o->have_good) {
        CHECK(!out->valid && !out->transmit);
        CHECK(out->ccl_a <= 0.0f && out->dcl_a <= 0.0f);
        CHECK(out->state == CHG_STATE_NO_DATA);
    }
    CHECK(!out->valid || o->have_good);

    if (o->have_good && out->state != CHG_STATE_NO_DATA) {
        float n = (float)o->good_n;
        /* ---- 2: CVL is a pack voltage not above cells x target ---- */
        CHECK(out->cvl_v <= n * c->cell_bulk_v + 1e-3f);
        CHECK(out->cvl_v >= 2.0f * n && out->cvl_v > 5.0f);
        CHECK(out->cvl_v <= out->cvl_target_v + 1e-4f);
        /* ---- 5: outputs never above their targets ---- */
        CHECK(out->ccl_a <= out->ccl_target_a + 1e-4f);
        CHECK(out->dcl_a <= out->dcl_target_a + 1e-4f);
        CHECK(out->charge_stopped == !(out->ccl_a > 0.0f));
    }

    if (want == FAILSAFE_FRESH) {
        const bms_settings_t *st = &s->settings;
        float pack = s->live.pack_voltage_v;
        float vmax = s->live.max_cell_v;
        float vmin = s->live.min_cell_v;
        for (unsigned i = 0; i < s->live.cell_count; i++) {
            vmax = fmaxf(vmax, s->live.cell_v[i]);
            vmin = fminf(vmin, s->live.cell_v[i]);
        }
        float tmin;
        float tmax;
        oracle_temps(s, c, &tmin, &tmax);
        float hot = st->over_heat_c - c->temp_margin_c;
        /* an under-voltage fault allows a small recovery charge (charge.fault_recovery_c) */
        bool fault = s->live.status == BMS_STATUS_FAULT;
        bool uv_fault = fault && vmin < st->fully_discharged_v && vmax < c->ccl_taper_start_v;
        if (uv_fault) {
            CHECK(out->ccl_a <= c->fault_recovery_c * st->capacity_ah + 0.1f);
        }
        bool stop_charge = vmax >= st->over_voltage_v || (fault && !uv_fault) ||
                           tmin <= fmaxf(c->charge_temp_min_c, st->low_temp_charge_c) ||
                           tmax >= fminf(c->charge_temp_max_c, hot);
        bool stop_discharge = vmin <= st->under_voltage_v || tmin <= c->discharge_temp_min_c ||
                              tmax >= fminf(c->discharge_temp_max_c, hot);
        CHECK(out->valid && out->transmit);
        /* ---- 3 ---- */
        if (stop_charge) {
            CHECK(out->ccl_a <= 0.0f);
        }
        if (stop_discharge) {
            CHECK(out->dcl_a <= 0.0f);
        }
        if (!(out->ccl_a > 0.0f)) {
            /* stop charging: CVL at the pack voltage, not above, at most two steps below (its
             * hysteresis), unless the pack is above cells x target (then the target caps it) */
            float cap = (float)s->live.cell_count * out->cell_target_v;
            CHECK(out->cvl_v <= pack + 1e-4f);
            CHECK(out->cvl_v >= fminf(pack - 2.0f * CHG_CVL_STEP_V, cap - CHG_CVL_STEP_V) - 1e-3f);
        }
    } else if (o->have_good) {
        /* ---- 4: stale / fail-safe ---- */
        CHECK(out->ccl_a <= 0.0f);
        CHECK(out->cvl_v <= o->good_pack + 1e-4f);
        CHECK(out->comm_alarm);
        if (o->prev_valid) {
            CHECK(out->dcl_a <= o->prev_dcl + 1e-4f);
        }
        if (want == FAILSAFE_STALE) {
            CHECK(out->valid && out->transmit && out->state == CHG_STATE_STALE);
        } else {
            CHECK(out->state == CHG_STATE_FAILSAFE);
            if (c->failsafe.mode == FAILSAFE_MODE_ZERO_LIMITS) {
                CHECK(out->valid && out->transmit && out->ccl_a <= 0.0f && out->dcl_a <= 0.0f);
            } else {
                CHECK(!out->valid && !out->transmit);
            }
        }
    }

    /* ---- 5: dynamics (only between steps that both produced limits) ---- */
    if (o->have_good && out->state != CHG_STATE_NO_DATA && o->prev_valid) {
        uint32_t dtc = dt < (uint32_t)c->failsafe.stale_ms ? dt : (uint32_t)c->failsafe.stale_ms;
        float step_s = (float)dtc / 1000.0f;
        if (out->ccl_a > o->prev_ccl + 1e-4f) {
            CHECK(out->ccl_a - o->prev_ccl <= c->ccl_ramp_a_s * step_s + CHG_CURRENT_STEP_A + 1e-3f);
            CHECK(elapsed_at_least(now, o->last_ccl_dec, o->ccl_dec_seen, (uint32_t)c->limit_hold_s * 1000u));
        }
        if (out->dcl_a > o->prev_dcl + 1e-4f) {
            CHECK(out->dcl_a - o->prev_dcl <= c->dcl_ramp_a_s * step_s + CHG_CURRENT_STEP_A + 1e-3f);
            CHECK(elapsed_at_least(now, o->last_dcl_dec, o->dcl_dec_seen, (uint32_t)c->limit_hold_s * 1000u));
        }
        if (out->cvl_v > o->prev_cvl + 1e-4f && !out->charge_stopped) {
            float n = (float)o->good_n;
            CHECK(out->cvl_v - o->prev_cvl <= n * c->cvl_rise_v_min * (float)dtc / 60000.0f + CHG_CVL_STEP_V + 1e-3f);
            CHECK(elapsed_at_least(now, o->last_cvl_dec, o->cvl_dec_seen, (uint32_t)c->cvl_hold_s * 1000u));
        }
    }

    /* ---- alarms ---- */
    CHECK(al->set.level[ALARM_GENERAL] == ALARM_LEVEL_UNSUPPORTED);
    CHECK(al->set.level[ALARM_CONTACTOR] == ALARM_LEVEL_UNSUPPORTED);
    CHECK(al->set.level[ALARM_SHORT_CIRCUIT] == ALARM_LEVEL_UNSUPPORTED);
    for (unsigned id = 0; id < ALARM_COUNT; id++) {
        CHECK(al->set.level[id] <= ALARM_LEVEL_UNSUPPORTED);
    }
    if (!o->have_good) {
        for (unsigned id = 0; id < ALARM_COUNT; id++) {
            if (id != ALARM_BMS_INTERNAL) {
                CHECK(al->set.level[id] == ALARM_LEVEL_OK || al->set.level[id] == ALARM_LEVEL_UNSUPPORTED);
            }
        }
    }
    if (out->comm_alarm || (o->have_good && want != FAILSAFE_FRESH)) {
        CHECK(al->set.level[ALARM_BMS_INTERNAL] == ALARM_LEVEL_ALARM);
    }

    /* ---- bookkeeping for the next step ---- */
    bool produced = o->have_good && out->state != CHG_STATE_NO_DATA;
    if (produced && o->prev_valid) {
        if (out->ccl_a < o->prev_ccl - 1e-4f) {
            o->last_ccl_dec = now;
            o->ccl_dec_seen = true;
        }
        if (out->dcl_a < o->prev_dcl - 1e-4f) {
            o->last_dcl_dec = now;
            o->dcl_dec_seen = true;
        }
        if (out->cvl_v < o->prev_cvl - 1e-4f) {
            o->last_cvl_dec = now;
            o->cvl_dec_seen = true;
        }
    }
    o->prev_valid = produced;
    o->prev_ccl = out->ccl_a;
    o->prev_dcl = out->dcl_a;
    o->prev_cvl = out->cvl_v;
}

static void clampcells(bms_snapshot_t *s)
{
    for (unsigned i = 0; i < s->live.cell_count; i++) {
        s->live.cell_v[i] = fminf(fmaxf(s->live.cell_v[i], 2.30f), 3.90f);
    }
}

static void run_scenario(uint32_t seed, unsigned *stale_steps, unsigned *fs_steps, unsigned *stop_steps)
{
    tcu_rng_t rng = {seed};
    g_seed = seed;
    chg_config_t cfg;
    if (seed % 4u == 0u) {
        chg_config_defaults(&cfg);
        cfg.failsafe.mode = (int32_t)((seed / 4u) % 2u);
    } else {
        random_config(&rng, &cfg);
    }
    alarms_config_t acfg;
    alarms_config_defaults(&acfg);
    uint8_t n = (uint8_t)(4u + tcu_next(&rng) % 13u);
    float base = tcu_uniform(&rng, 3.0f, 3.5f);
    float off[BMS_MAX_CELLS] = {0};
    float ambient = tcu_uniform(&rng, -5.0f, 35.0f);

    bms_snapshot_t snap;
    memset(&snap, 0, sizeof snap); /* boot: zeros, nothing valid */
    bms_snapshot_t model;         /* what the BMS would answer */
    uint32_t now = (seed % 3u == 0u) ? 0xFFFFFFFFu - 600000u : 1000u + (tcu_next(&rng) % 100000u);
    tcu_snapshot(&model, n, base, now);
    random_settings(&rng, &model);
    tcu_set_temp(&model, ambient);
    model.live.soc_pct = tcu_uniform(&rng, 0.0f, 100.0f);

    chg_st_t st;
    chg_init(&st);
    alarms_state_t ast;
    alarms_init(&ast);
    oracle_t o;
    memset(&o, 0, sizeof o);

    uint32_t boot_ms = tcu_next(&rng) % 30000u; /* BMS silent at start */
    uint32_t t0 = now;
    uint32_t silent_until = 0;
    bool silent = false;
    for (unsigned i = 0; i < STEPS; i++) {
        g_step = i;
        uint32_t dt = tcu_chance(&rng, 0.02f) ? 5000u + tcu_next(&rng) % 120000u : 100u + tcu_next(&rng) % 1400u;
        now += dt;

        /* evolve the battery: a slowly wandering pack level, cell offsets that relax back (so a
         * runaway or a sagging cell is an episode, not a permanent state), temperatures that
         * relax towards the scenario's ambient with occasional excursions */
        base += tcu_uniform(&rng, -0.002f, 0.002f);
        if (tcu_chance(&rng, 0.003f)) {
            base = tcu_uniform(&rng, 2.9f, 3.55f);
        }
        base = fminf(fmaxf(base, 2.6f), 3.6f);
        for (unsigned k = 0; k < n; k++) {
            off[k] = 0.97f * off[k] + tcu_uniform(&rng, -0.004f, 0.004f);
        }
        if (tcu_chance(&rng, 0.01f)) {
            off[tcu_next(&rng) % n] = tcu_uniform(&rng, -0.7f, 0.4f); /* runaway / sag */
        }
        for (unsigned k = 0; k < n; k++) {
            model.live.cell_v[k] = base + off[k];
        }
        clampcells(&model);
        tcu_recalc(&model);
        model.live.pack_voltage_v *= 1.0f + tcu_uniform(&rng, -0.01f, 0.01f);
        float t = model.live.temp_internal_c;
        t += 0.02f * (ambient - t) + tcu_uniform(&rng, -0.3f, 0.3f);
        if (tcu_chance(&rng, 0.005f)) {
            t = tcu_uniform(&rng, -30.0f, 75.0f);
        }
        t = fminf(fmaxf(t, -40.0f), 90.0f);
        model.live.temp_internal_c = t;
        model.live.temp_ext_c[0] = t + tcu_uniform(&rng, -2.0f, 2.0f);
        model.live.temp_ext_present[0] = !tcu_chance(&rng, 0.05f);
        model.live.temp_ext_c[1] = t + tcu_uniform(&rng, -2.0f, 2.0f);
        model.live.temp_ext_present[1] = tcu_chance(&rng, 0.3f);
        model.live.soc_pct = fminf(fmaxf(model.live.soc_pct + tcu_uniform(&rng, -0.3f, 0.3f), 0.0f), 100.0f);
        if (tcu_chance(&rng, 0.01f)) {
            model.live.soc_pct = tcu_uniform(&rng, 0.0f, 100.0f);
        }
        model.live.pack_current_a = tcu_uniform(&rng, -150.0f, 150.0f);
        if (model.live.status == BMS_STATUS_FAULT ? tcu_chance(&rng, 0.05f) : tcu_chance(&rng, 0.003f)) {
            tcu_fault(&model, model.live.status != BMS_STATUS_FAULT);
        }
        if (tcu_chance(&rng, 0.002f)) {
            random_settings(&rng, &model);
        }

        /* does the BMS answer this cycle? */
        if (!silent && tcu_chance(&rng, 0.01f)) {
            silent = true;
            silent_until = now + 1000u + tcu_next(&rng) % 150000u;
        }
        if (silent && (int32_t)(now - silent_until) >= 0) {
            silent = false;
        }
        bool booting = (uint32_t)(now - t0) < boot_ms;
        bool answer = !booting && !silent;
        if (answer) {
            bms_snapshot_t keep = snap;
            snap = model;
            snap.live.t_ms = now;
            snap.settings.t_ms = now;
            if (tcu_chance(&rng, 0.2f)) {
                snap.live.t_ms = now - tcu_next(&rng) % 3000u; /* decoded a little earlier */
            }
            /* a failed decode keeps the previous block (bms.h contract) */
            if (tcu_chance(&rng, 0.01f)) {
                snap.settings = keep.settings;
            }
        }
        /* transient garbage in the view the controller gets */
        bms_snapshot_t view = snap;
        bool usable = view.live.valid && view.settings.valid;
        if (tcu_chance(&rng, 0.005f)) {
            view.live.cell_v[tcu_next(&rng) % n] = NAN;
            usable = false;
        }
        if (tcu_chance(&rng, 0.005f)) {
            view.live.valid = false;
            usable = false;
        }
        if (tcu_chance(&rng, 0.003f)) {
            view.settings.valid = false;
            usable = false;
        }

        chg_limits_t out;
        chg_step(&st, &view, &cfg, now, &out);
        chg_reason_fill(&out);
        alarms_out_t al;
        alarms_step(&ast, &view, NULL, out.data, out.comm_alarm, &acfg, now, &al);
        check_step(&o, &cfg, &view, usable, now, dt, &out, &al);
        if (out.state == CHG_STATE_STALE) {
            (*stale_steps)++;
        }
        if (out.state == CHG_STATE_FAILSAFE) {
            (*fs_steps)++;
        }
        if (out.valid && out.charge_stopped) {
            (*stop_steps)++;
        }
        if (out.valid && out.ccl_a > 0.0f) {
            g_charging++;
        }
    }
}

static void invariants_hold_at_every_step(void **state)
{
    (void)state;
    unsigned stale = 0;
    unsigned fs = 0;
    unsigned stop = 0;
    for (uint32_t s = 1; s <= SCENARIOS; s++) {
        run_scenario(s * 2654435761u, &stale, &fs, &stop);
    }
    print_message("%u scenarios x %u steps: %u stale, %u fail-safe, %u charge-stopped, %u charging steps\n",
                  SCENARIOS, STEPS, stale, fs, stop, g_charging);
    /* the generator must actually reach the interesting states */
    assert_true(stale > 1000u);
    assert_true(fs > 1000u);
    assert_true(stop > 10000u);
    assert_true(g_charging > 50000u);
}

/* Constant input for hours: after settling the limits do not move at all. */
static void constant_input_settles(void **state)
{
    (void)state;
    for (uint32_t s = 1; s <= 40; s++) {
        tcu_rng_t rng = {s * 40503u};
        g_seed = s;
        chg_config_t cfg;
        random_config(&rng, &cfg);
        cfg.full_charge_days = 0;
        cfg.absorption_max_s = cfg.absorption_max_s > 4 * 3600 ? 4 * 3600 : cfg.absorption_max_s;
        cfg.absorption_time_s = cfg.absorption_time_s > cfg.absorption_max_s ? cfg.absorption_max_s
                                                                               : cfg.absorption_time_s;
        cfg.float_descent_v_min = fmaxf(cfg.float_descent_v_min, 0.005f);
        cfg.failsafe.stale_ms = 5000;
        cfg.failsafe.failsafe_ms = 30000;
        uint8_t n = (uint8_t)(4u + tcu_next(&rng) % 13u);
        bms_snapshot_t snap;
        tcu_snapshot(&snap, n, tcu_uniform(&rng, 2.9f, 3.6f), 0);
        random_settings(&rng, &snap);
        for (unsigned k = 0; k < n; k++) {
            snap.live.cell_v[k] += tcu_uniform(&rng, -0.05f, 0.05f);
        }
        tcu_recalc(&snap);
        tcu_set_temp(&snap, tcu_uniform(&rng, -10.0f, 60.0f));
        snap.live.soc_pct = tcu_uniform(&rng, 0.0f, 100.0f);
        snap.live.pack_current_a = tcu_uniform(&rng, -50.0f, 50.0f);
        chg_st_t st;
        chg_init(&st);
        chg_limits_t out;
        chg_limits_t ref;
        memset(&ref, 0, sizeof ref);
        uint32_t now = 5000u;
        for (unsigned i = 0; i < 8u * 3600u / 2u; i++) { /* 8 h in 2 s steps */
            now += 2000u;
            snap.live.t_ms = now;
            chg_step(&st, &snap, &cfg, now, &out);
            chg_reason_fill(&out);
            g_step = i;
            if (i == 6u * 3600u / 2u) {
                ref = out;
            } else if (i > 6u * 3600u / 2u) {
                CHECK(fabsf(out.cvl_v - ref.cvl_v) < 1e-6f);
                CHECK(fabsf(out.ccl_a - ref.ccl_a) < 1e-6f);
                CHECK(fabsf(out.dcl_a - ref.dcl_a) < 1e-6f);
                CHECK(out.state == ref.state);
                CHECK(out.ccl_lim == ref.ccl_lim && out.dcl_lim == ref.dcl_lim && out.cvl_lim == ref.cvl_lim);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invariants_hold_at_every_step),
        cmocka_unit_test(constant_input_settles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
