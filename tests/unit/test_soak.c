/* Soak: the whole gateway (app/gateway: poller, charge limits, alarms, energy, CAN scheduler,
 * view) against the simulator (sim/) in one process, with a simulated clock, for simulated days.
 *
 * The battery model runs TB_SOAK_SPEED times faster than the wire (default 60: a simulated day
 * takes 24 minutes of wire time, stepped as fast as the CPU allows), while the UART and the CAN
 * schedule keep their real timing (the controller's own time constants are shortened to match). The simulated inverter
 * obeys the limits the gateway puts on the bus (decoded from the 0x351 frames, as a GX would; no 0x351 for 3 s = stop),
 * so the loop is closed. Each simulated day is a different kind of day - sunny, cloudy, a deep discharge followed by a
 * mains charge - and now and then something goes wrong: a burst of garbage, CRC errors, split or lost replies, the
 * cable unplugged long enough for the stale and fail-safe policies, a cell running away upwards or downwards, a
 * temperature sensor open, a latched BMS fault, a cold spell, a bad configuration change next to good ones. A "client"
 * reads every view the gateway publishes, as the web and MQTT threads would.
 *
 * Checked throughout (design.md, safety invariants):
 *   1  no 0x351 before the first complete snapshot;
 *   2  CVL is a pack voltage: cells x 2.0 V <= CVL <= cells x charge.cell_bulk_v;
 *   3  the frame computed from a snapshot with a cell at/above the BMS over-voltage cut-off (315),
 *      or the BMS in fault (except an under-voltage trip, which allows at most the recovery
 *      charge charge.fault_recovery_c), or a temperature outside the charge window, has CCL 0 and CVL no
 *      higher than that snapshot's pack voltage; a cell at/below the under-voltage cut-off (316)
 *      gives DCL 0; and, against the simulator's truth, a cell above the cut-off for 400 ms
 *      (a measurement, a poll and a reply) while the link is clean is never met by CCL > 0;
 *   4  data older than failsafe.stale_ms: CCL 0 and CVL at most the last pack voltage; 0x355/0x356
 *      never carry stale data; older than failsafe.failsafe_ms (mode stop): nothing is sent;
 *   5  CCL/DCL increases no faster than their configured ramps;
 *   6  never 0x305/0x306/0x307, only the gateway's own ids, no battery brand in 0x35E;
 *   7  0x35A pairs are 01/10/00 (never 11) and carry the gateway's alarm levels;
 *   8  every live block the gateway decodes equals the simulator's measurement it answered with
 *      (whatever the wire did), and a refused configuration change changes nothing.
 * And at the end: counters consistent (bytes delivered = bytes counted by the receiver, frames
 * sent = frames the scheduler counted, energy counters match the simulator's within 10 %), no
 * growth of heap use or RSS across the run (non-sanitizer builds; printed always).
 *
 * TB_SOAK_DAYS (default 2: a sunny day, then a deep discharge and a mains charge) sets the length:
 * `make test` runs the default, `make soak` a week (TB_SOAK_DAYS=7).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/gateway.h"
#include "app/log.h"
#include "core/vcan.h"
#include "mem_ports.h"
#include "sim/sim.h"

#if defined(__SANITIZE_ADDRESS__)
#define SOAK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_SANITIZED 1
#endif
#endif
#ifndef SOAK_SANITIZED
#define SOAK_SANITIZED 0
#endif

#define DAY_S 86400.0
#define GX_SILENCE_MS 3000u

typedef struct {
    /* the rig */
    sim_t sim;
    gateway_t gw;
    gw_config_t cfg;
    gw_cmd_t cmd;
    uint32_t now;
    double speed;
    bool unplugged;
    uint32_t wire_fault_until; /* a wire fault or unplug was active until then (+ slack) */

    mem_store_t store; /* memory "storage" for the energy counters (tests/unit/support/mem_ports) */

    /* what is on the bus */
    bool have351;
    uint32_t last351_ms;
    float cvl, ccl, dcl;
    uint32_t gx_last_limits_ms;
    unsigned frames[0x400];
    unsigned frames_total;

    /* truth tracking */
    bool ov_truth;
    uint32_t ov_since;
    uint32_t last_live_t;
    double last_model_s;

    /* statistics */
    unsigned checks, live_checked, live_skipped, ov_truth_checks, stale_checks, failsafe_silent_checks;
    unsigned stop_checks, uv_checks, temp_checks, ramp_checks, alarm_checks, cfg_refused, cfg_applied;
    unsigned views, views_parsed, faults_injected, unplugs, ccl_reversals;
    int last_ccl_dir;
    uint64_t bytes_to_gw;
    uint64_t views_seq_last;
    double max_age_seen_ms;
} soak_t;

static soak_t S;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sim_truth_t t;
    sim_truth(&S.sim, &t);
    fail_msg("at wire %.1f s (model day %.2f): %s", (S.now - 1000u) / 1000.0, t.model_s / DAY_S, buf);
}

/* ---- ports -------------------------------------------------------------------------------------- */

static float le16f(const uint8_t *d, bool sgn, float scale)
{
    uint16_t u = (uint16_t)(d[0] | d[1] << 8);
    return (sgn ? (float)(int16_t)u : (float)u) * scale;
}

static float snap_temp_min(const bms_live_t *l, bool internal)
{
    float m = internal ? l->temp_internal_c : INFINITY;
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        if (l->temp_ext_present[i] && l->temp_ext_c[i] < m) {
            m = l->temp_ext_c[i];
        }
    }
    return isinf(m) ? l->temp_internal_c : m;
}

static float snap_temp_max(const bms_live_t *l, bool internal)
{
    float m = internal ? l->temp_internal_c : -INFINITY;
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        if (l->temp_ext_present[i] && l->temp_ext_c[i] > m) {
            m = l->temp_ext_c[i];
        }
    }
    return isinf(m) ? l->temp_internal_c : m;
}

static void check_351(const can_frame_t *f)
{
    const bms_snapshot_t *snap = &S.gw.poll.snap;
    const chg_config_t *cc = &S.cfg.charge;
    float cvl = le16f(f->data, false, 0.1f), ccl = le16f(f->data + 2, true, 0.1f), dcl = le16f(f->data + 4, true, 0.1f);
    /* 1 */
    if (!bms_snapshot_complete(snap)) {
        violation("0x351 sent without a complete snapshot");
    }
    /* 2 */
    unsigned cells = S.sim.cfg.cells;
    if (cvl > (float)cells * cc->cell_bulk_v + 0.001f || cvl < (float)cells * 2.0f) {
        violation("CVL %.1f V is not a pack voltage for %u cells (bulk %.3f V per cell)", (double)cvl, cells,
                  (double)cc->cell_bulk_v);
    }
    if (ccl < 0 || dcl < 0) {
        violation("negative current limit CCL %.1f DCL %.1f", (double)ccl, (double)dcl);
    }
    const bms_live_t *l = &snap->live;
    uint32_t age = S.now - l->t_ms;
    if (age > S.max_age_seen_ms) {
        S.max_age_seen_ms = age;
    }
    bool stale = (int32_t)age > cc->failsafe.stale_ms;
    bool stop_expected = false;
    const char *why = "";
    /* 4 */
    if ((int32_t)age > cc->failsafe.stale_ms + 150) {
        stop_expected = true;
        why = "stale data";
        S.stale_checks++;
    }
    if ((int32_t)age > cc->failsafe.failsafe_ms + 250 && cc->failsafe.mode == FAILSAFE_MODE_STOP_TRANSMITTING) {
        violation("0x351 sent %u ms after the last data (fail-safe 'stop transmitting' after %d ms)", (unsigned)age,
                  (int)cc->failsafe.failsafe_ms);
    }
    /* 3, from the snapshot the frame was computed from (fresh data only) */
    if (!stale && l->valid) {
        const bms_settings_t *st = &snap->settings;
        float vmax = 0, vmin = 99;
        for (unsigned i = 0; i < l->cell_count; i++) {
            vmax = l->cell_v[i] > vmax ? l->cell_v[i] : vmax;
            vmin = l->cell_v[i] < vmin ? l->cell_v[i] : vmin;
        }
        if (vmax >= st->over_voltage_v) {
            stop_expected = true;
            why = "a cell at/above the over-voltage cut-off";
            S.stop_checks++;
        }
        if (l->status_raw == BMS_STATUS_FAULT) {
            /* an under-voltage trip (lowest cell below 301, highest below the taper start) allows a
             * small recovery charge (charge.fault_recovery_c): the BMS only recovers when charged.
             * Every other fault stops charging. */
            bool uv_trip = vmin < st->fully_discharged_v && vmax < cc->ccl_taper_start_v;
            S.stop_checks++;
            if (!uv_trip) {
                stop_expected = true;
                why = "BMS fault status";
            } else if (ccl > cc->fault_recovery_c * st->capacity_ah + 0.11f) {
                violation("BMS under-voltage fault: CCL %.1f A above the recovery charge %.1f A", (double)ccl,
                          (double)(cc->fault_recovery_c * st->capacity_ah));
            }
        }
        float tmin = snap_temp_min(l, cc->use_internal_temp), tmax = snap_temp_max(l, cc->use_internal_temp);
        float lo = cc->charge_temp_min_c > st->low_temp_charge_c ? cc->charge_temp_min_c : st->low_temp_charge_c;
        float hi = st->over_heat_c - cc->temp_margin_c;
        hi = cc->charge_temp_max_c < hi ? cc->charge_temp_max_c : hi;
        if (tmin <= lo || tmax >= hi) {
            stop_expected = true;
            why = "temperature outside the charge window";
            S.temp_checks++;
        }
        if (vmin <= st->under_voltage_v) {
            S.uv_checks++;
            if (dcl != 0.0f) {
                violation("a cell at %.3f V (under-voltage cut-off %.3f V) but DCL %.1f A", (double)vmin,
                          (double)st->under_voltage_v, (double)dcl);
            }
        }
    }
    if (stop_expected) {
        float pack = S.gw.limits.pack_v; /* the last known pack voltage the controller used */
        if (!stale) {
            pack = l->pack_voltage_v;
        }
        if (ccl != 0.0f || cvl > pack + 0.001f) {
            violation("%s: charging must stop, but CCL %.1f A, CVL %.1f V (pack %.3f V)", why, (double)ccl, (double)cvl,
                      (double)pack);
        }
    }
    /* 3 against the truth: an over-voltage the BMS has had time to report */
    if (S.ov_truth && (int32_t)(S.now - S.ov_since) >= 400 && (int32_t)(S.now - S.wire_fault_until) > 0) {
        S.ov_truth_checks++;
        if (ccl != 0.0f) {
            violation("a cell has been above the over-voltage cut-off for %u ms, CCL still %.1f A",
                      (unsigned)(S.now - S.ov_since), (double)ccl);
        }
    }
    /* 5 */
    if (S.have351) {
        double dt = (S.now - S.last351_ms) / 1000.0;
        S.ramp_checks++;
        if (ccl > S.ccl + cc->ccl_ramp_a_s * dt + 0.11) {
            violation("CCL rose %.1f -> %.1f A in %.3f s (ramp %.1f A/s)", (double)S.ccl, (double)ccl, dt,
                      (double)cc->ccl_ramp_a_s);
        }
        if (dcl > S.dcl + cc->dcl_ramp_a_s * dt + 0.11) {
            violation("DCL rose %.1f -> %.1f A in %.3f s (ramp %.1f A/s)", (double)S.dcl, (double)dcl, dt,
                      (double)cc->dcl_ramp_a_s);
        }
        int dir = ccl > S.ccl ? 1 : ccl < S.ccl ? -1 : 0;
        if (dir && S.last_ccl_dir && dir != S.last_ccl_dir) {
            S.ccl_reversals++;
        }
        if (dir) {
            S.last_ccl_dir = dir;
        }
    }
    S.have351 = true;
    S.last351_ms = S.now;
    S.cvl = cvl;
    S.ccl = ccl;
    S.dcl = dcl;
}

static void check_35a(const can_frame_t *f)
{
    vcan_msg_t m;
    if (vcan_decode(f, &m) != TB_OK) {
        violation("0x35A does not decode");
    }
    for (unsigned i = 0; i < 8; i++) {
        for (unsigned k = 0; k < 8; k += 2) {
            if (((f->data[i] >> k) & 3u) == 3u) {
                violation("0x35A byte %u has a pair 11 (%02X)", i, f->data[i]);
            }
        }
    }
    S.alarm_checks++;
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        uint8_t want = S.gw.alarms.set.level[i];
        if (want != m.u.alarms.levels.level[i]) {
            violation("0x35A category %u carries level %u, the gateway has %u", i, m.u.alarms.levels.level[i], want);
        }
    }
}

static int can_send(void *ctx, const can_frame_t *f)
{
    (void)ctx;
    S.checks++;
    if (f->id == 0x305 || f->id == 0x306 || f->id == 0x307 || f->id < 0x351 || f->id > 0x382 ||
        (f->flags & (CAN_FLAG_EXT | CAN_FLAG_RTR | CAN_FLAG_ERR)) || f->dlc > 8) {
        violation("frame 0x%X (flags %x, dlc %u) is not one of the gateway's own", (unsigned)f->id, f->flags, f->dlc);
    }
    const chg_config_t *cc = &S.cfg.charge;
    uint32_t good_age = S.gw.limits.data_age_ms;
    if (good_age != UINT32_MAX && (int32_t)good_age > cc->failsafe.failsafe_ms + 250 &&
        cc->failsafe.mode == FAILSAFE_MODE_STOP_TRANSMITTING) {
        violation("frame 0x%X sent %u ms after the last usable data (fail-safe: stop transmitting)", (unsigned)f->id,
                  (unsigned)good_age);
    }
    if (f->id == 0x355 || f->id == 0x356) {
        uint32_t age = S.now - S.gw.poll.snap.live.t_ms;
        if ((int32_t)age > cc->failsafe.stale_ms + 150) {
            violation("0x%X carries data %u ms old", (unsigned)f->id, (unsigned)age);
        }
    }
    if (f->id == 0x35E) {
        char text[9];
        memcpy(text, f->data, 8);
        text[8] = '\0';
        if (vcan_is_known_brand(text, NULL)) {
            violation("0x35E names a battery brand: %s", text);
        }
    }
    if (f->id == 0x351) {
        check_351(f);
    } else if (f->id == 0x35A) {
        check_35a(f);
    }
    S.frames[f->id & 0x3FFu]++;
    S.frames_total++;
    return 0;
}

/* A client of the view, as the web and MQTT threads are: every publication parses and agrees. */
static void on_publish(void *ctx, const gw_view_t *v)
{
    (void)ctx;
    S.views++;
    if (v->seq <= S.views_seq_last) {
        violation("view sequence went from %llu to %llu", (unsigned long long)S.views_seq_last,
                  (unsigned long long)v->seq);
    }
    S.views_seq_last = v->seq;
    if (v->status_len == 0 || v->status_json[v->status_len] != '\0') {
        violation("the published view has no JSON");
    }
    if (S.views % 16u != 0u) {
        return;
    }
    cJSON *root = cJSON_ParseWithLength(v->status_json, v->status_len);
    if (!root) {
        violation("the published status JSON does not parse");
    }
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(root, "limits");
    const cJSON *ccl = cJSON_GetObjectItemCaseSensitive(lim, "ccl_a");
    if (v->limits.valid && (!cJSON_IsNumber(ccl) || fabs(ccl->valuedouble - v->limits.ccl_a) > 0.051)) {
        violation("the view's JSON CCL disagrees with its limits");
    }
    cJSON_Delete(root);
    S.views_parsed++;
}

/* ---- the rig ------------------------------------------------------------------------------------- */

static void rig(double speed)
{
    memset(&S, 0, sizeof S);
    S.now = 1000;
    S.speed = speed;
    log_set_level(LOG_ERROR);
    sim_config_t sc;
    sim_config_default(&sc);
    sc.cells = 16;
    sc.capacity_ah = 280;
    sc.soc_pct = 70;
    sc.seed = 2026;
    sc.speed = speed;
    sc.soc_spread_pct = 0.6;
    sc.start_ms = S.now;
    assert_int_equal(sim_init(&S.sim, &sc), SIM_OK);
    gw_config_defaults(&S.cfg);
    /* The controller's timers run on the wire clock while the battery runs `speed` times faster:
     * its time constants are shortened so that a simulated day still sees normal charging (a CVL
     * creeping back at 0.01 V/min per cell would take 30 wire minutes, i.e. a simulated day). */
    static const char accel[] = "{\"charge\": {\"absorption_time_s\": 60, \"absorption_max_s\": 600, "
                                "\"tail_time_s\": 10, \"rebulk_delay_s\": 2, \"limit_hold_s\": 1, \"cvl_hold_s\": 1, "
                                "\"cvl_rise_v_min\": 0.2, \"ccl_ramp_a_s\": 50, \"dcl_ramp_a_s\": 50}}";
    cfg_diag_t d;
    if (gw_config_apply_json(&S.cfg, accel, sizeof accel - 1u, 0, &d) != TB_OK) {
        fail_msg("soak configuration: %s", d.message);
    }
    gw_ports_t p;
    memset(&p, 0, sizeof p);
    p.can_send = can_send;
    mem_store_init(&S.store);
    p.storage = &S.store.port;
    p.publish = on_publish;
    assert_int_equal(gateway_init(&S.gw, &S.cfg, &p, S.now), TB_OK);
}

static void gx_obeys(void)
{
    /* the inverter/chargers follow the last 0x351 on the bus; silence for 3 s = stop both ways */
    if (S.have351 && (S.now - S.last351_ms) < GX_SILENCE_MS) {
        if (S.gx_last_limits_ms != S.last351_ms) {
            sim_set_limits(&S.sim, true, S.cvl, S.ccl, S.dcl, S.now);
            S.gx_last_limits_ms = S.last351_ms;
        }
    } else {
        sim_set_limits(&S.sim, true, 0.0, 0.0, 0.0, S.now);
    }
}

static float reg_float(uint16_t lo_addr)
{
    uint16_t lo = 0, hi = 0;
    sim_read_register(&S.sim, lo_addr, &lo);
    sim_read_register(&S.sim, (uint16_t)(lo_addr + 1u), &hi);
    uint32_t u = (uint32_t)hi << 16 | lo;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Every live block the gateway decodes is the measurement the BMS answered with: compared with
 * the simulator's registers as long as no newer measurement has replaced them (lifetime counter
 * equal), whatever the wire did to the bytes on the way. */
static void check_live(void)
{
    const bms_live_t *l = &S.gw.poll.snap.live;
    if (!l->valid || l->t_ms == S.last_live_t) {
        return;
    }
    S.last_live_t = l->t_ms;
    uint16_t lt_lo = 0, lt_hi = 0, cells = 0, status = 0;
    sim_read_register(&S.sim, 32, &lt_lo);
    sim_read_register(&S.sim, 33, &lt_hi);
    if (l->lifetime_s != ((uint32_t)lt_hi << 16 | lt_lo)) {
        S.live_skipped++; /* a newer measurement was taken since this reply was composed */
        return;
    }
    S.live_checked++;
    sim_read_register(&S.sim, 53, &cells);
    sim_read_register(&S.sim, 50, &status);
    if (l->cell_count != cells) {
        violation("decoded %u cells, the BMS reports %u", l->cell_count, cells);
    }
    for (unsigned k = 0; k < cells; k++) {
        uint16_t v = 0;
        sim_read_register(&S.sim, (uint16_t)(16u - cells + k), &v);
        if (fabs(l->cell_v[k] - v / 10000.0) > 0.00006) {
            violation("cell %u decoded %.4f V, the BMS measured %.4f V", k + 1, (double)l->cell_v[k], v / 10000.0);
        }
    }
    float pv = reg_float(36), pi = reg_float(38);
    if (l->pack_voltage_v != pv || l->pack_current_a != pi || l->status_raw != status) {
        violation("live block disagrees with the BMS: %.3f V %.3f A status %02X vs %.3f V %.3f A %02X",
                  (double)l->pack_voltage_v, (double)l->pack_current_a, l->status_raw, (double)pv, (double)pi, status);
    }
}

static void track_truth(void)
{
    uint16_t ov = 0;
    sim_read_register(&S.sim, 315, &ov);
    bool now_ov = false;
    for (uint16_t r = 0; r < 16; r++) {
        uint16_t v = 0;
        sim_read_register(&S.sim, r, &v);
        if (v / 10u >= ov) {
            now_ov = true;
        }
    }
    if (now_ov && !S.ov_truth) {
        S.ov_since = S.now;
    }
    S.ov_truth = now_ov;
}

/* One turn of the owner loop, then the clock moves to the next thing that happens. */
static void turn(void)
{
    uint8_t buf[1024];
    int n = gateway_uart_tx(&S.gw, S.now, buf, sizeof buf);
    assert_true(n >= 0);
    if (n > 0 && !S.unplugged) {
        sim_rx(&S.sim, buf, (size_t)n, S.now);
    }
    sim_advance(&S.sim, S.now);
    size_t k;
    while ((k = sim_tx(&S.sim, buf, sizeof buf, S.now)) > 0) {
        if (!S.unplugged) {
            gateway_uart_rx(&S.gw, buf, k, S.now);
            S.bytes_to_gw += k;
        }
    }
    check_live();
    track_truth();
    gateway_run(&S.gw, S.now);
    gx_obeys();
    uint32_t w = gateway_wait_ms(&S.gw, S.now);
    uint32_t due;
    if (sim_tx_pending(&S.sim, &due)) {
        int32_t d = (int32_t)(due - S.now);
        w = d <= 0 ? 0 : (uint32_t)d < w ? (uint32_t)d : w;
    }
    S.now += w ? w : 1;
}

static void run_wire(uint32_t ms)
{
    uint32_t end = S.now + ms;
    while ((int32_t)(S.now - end) < 0) {
        turn();
    }
}

static void run_model(double model_s)
{
    run_wire((uint32_t)(model_s / S.speed * 1000.0));
}

/* ---- events -------------------------------------------------------------------------------------- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull; /* TB_SOAK_SEED varies it */
static double rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

static void config_change(bool good)
{
    gw_config_t before = S.gw.cfg;
    memset(&S.cmd, 0, sizeof S.cmd);
    S.cmd.type = GW_CMD_CONFIG_UPDATE;
    snprintf(S.cmd.source, sizeof S.cmd.source, "soak");
    static const char *const bad[] = {"{\"charge\": {\"ccl_max_a\": 5000}}",
                                      "{\"link\": {\"live_period_ms\": \"fast\"}}",
                                      "{\"charge\": {\"cell_float_v\": 3.6, \"cell_bulk_v\": 3.4}}",
                                      "{\"can\": {\"manufacturer\": \"BYD\"}}",
                                      "{\"nosuch\": 1}",
                                      "{\"charge\": {\"ccl_max_a\": 100,}}",
                                      "\x01\x02garbage"};
    if (good) {
        snprintf(S.cmd.text, sizeof S.cmd.text, "{\"charge\": {\"ccl_max_a\": %d}}", 100 + (int)(rnd() * 100));
    } else {
        snprintf(S.cmd.text, sizeof S.cmd.text, "%s", bad[(unsigned)(rnd() * 7) % 7]);
    }
    assert_true(gateway_command(&S.gw, &S.cmd, S.now));
    if (good) {
        assert_int_equal(S.cmd.rc, TB_OK);
        S.cfg = S.gw.cfg;
        S.cfg_applied++;
    } else {
        if (S.cmd.rc == TB_OK || S.cmd.message[0] == '\0') {
            violation("a bad configuration change was accepted or gave no message: %s", S.cmd.text);
        }
        if (memcmp(&before.charge, &S.gw.cfg.charge, sizeof before.charge) != 0 ||
            memcmp(&before.link, &S.gw.cfg.link, sizeof before.link) != 0 ||
            memcmp(&before.can, &S.gw.cfg.can, sizeof before.can) != 0) {
            violation("a refused configuration change altered the running configuration");
        }
        S.cfg_refused++;
    }
}

static void wire_fault(void)
{
    static const sim_fault_kind_t kinds[] = {SIM_FAULT_GARBAGE, SIM_FAULT_CRC,      SIM_FAULT_SPLIT,
                                             SIM_FAULT_NOREPLY, SIM_FAULT_TRUNCATE, SIM_FAULT_DELAY};
    sim_fault_kind_t k = kinds[(unsigned)(rnd() * 6) % 6];
    sim_fault_t f = {0.2 + 0.6 * rnd(), k == SIM_FAULT_DELAY ? 150u : k == SIM_FAULT_SPLIT ? 3u : 0u, 0};
    assert_int_equal(sim_set_fault(&S.sim, k, &f, S.now), SIM_OK);
    uint32_t ms = 5000 + (uint32_t)(rnd() * 20000);
    S.wire_fault_until = S.now + ms + 2000;
    run_wire(ms);
    sim_clear_fault(&S.sim, k, S.now);
    S.faults_injected++;
}

static void unplug(uint32_t ms)
{
    S.unplugged = true;
    S.wire_fault_until = S.now + ms + 3000;
    run_wire(ms);
    S.unplugged = false;
    S.unplugs++;
}

static void cell_fault(bool high)
{
    unsigned cell = 1 + (unsigned)(rnd() * 16) % 16;
    sim_fault_t f = {1.0, cell, high ? 2.0 : 1.5};
    assert_int_equal(sim_set_fault(&S.sim, high ? SIM_FAULT_CELL_HIGH : SIM_FAULT_CELL_LOW, &f, S.now), SIM_OK);
    run_model(600 + rnd() * 900);
    sim_clear_fault(&S.sim, high ? SIM_FAULT_CELL_HIGH : SIM_FAULT_CELL_LOW, S.now);
    S.faults_injected++;
}

/* Something goes wrong now and then: roughly every 2-5 simulated hours. */
static void mischief(void)
{
    double r = rnd();
    if (getenv("TB_SOAK_TRACE")) {
        printf("trace: mischief %.2f\n", r);
    }
    if (r < 0.30) {
        wire_fault();
    } else if (r < 0.45) {
        /* unplugged: long enough for stale (5 s), sometimes for the fail-safe (30 s) */
        unplug(rnd() < 0.5 ? 8000 : 40000);
    } else if (r < 0.60) {
        cell_fault(true);
    } else if (r < 0.70) {
        cell_fault(false);
    } else if (r < 0.78) {
        sim_fault_t f = {1.0, (uint32_t)(rnd() * 3) % 3, 0};
        assert_int_equal(sim_set_fault(&S.sim, SIM_FAULT_TEMP_OPEN, &f, S.now), SIM_OK);
        run_model(1800);
        sim_clear_fault(&S.sim, SIM_FAULT_TEMP_OPEN, S.now);
        S.faults_injected++;
    } else if (r < 0.84) {
        sim_fault_t f = {1.0, 0x0B, 0};
        assert_int_equal(sim_set_fault(&S.sim, SIM_FAULT_BMS_FAULT, &f, S.now), SIM_OK);
        run_model(1200);
        sim_clear_fault(&S.sim, SIM_FAULT_BMS_FAULT, S.now);
        S.faults_injected++;
    } else if (r < 0.90) {
        /* a cold spell: charging is refused below the cut-off until it warms up */
        sim_set_ambient(&S.sim, -8.0, S.now);
        run_model(4 * 3600);
        sim_set_ambient(&S.sim, 18.0, S.now);
        S.faults_injected++;
    } else {
        config_change(false);
        config_change(rnd() < 0.5);
        config_change(false);
    }
}

static void set_day(unsigned day)
{
    sim_load_t l;
    memset(&l, 0, sizeof l);
    switch (day % 4u) {
    case 0: /* sunny */
    case 3:
        l.kind = SIM_LOAD_SOLAR;
        l.solar_peak_a = 120;
        l.solar_load_a = 20;
        l.start_hour = 0;
        break;
    case 2: /* cloudy, with a heavier load */
        l.kind = SIM_LOAD_SOLAR;
        l.solar_peak_a = 35;
        l.solar_load_a = 25;
        l.start_hour = 0;
        break;
    default: /* deep discharge, then a mains charger */
        l.kind = SIM_LOAD_DISCHARGE;
        l.current_a = 70;
        l.stop_soc_pct = 0;
        break;
    }
    assert_int_equal(sim_set_load(&S.sim, &l, S.now), SIM_OK);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
        }
    }
    if (f) {
        fclose(f);
    }
    return v;
}

static void soak(void **state)
{
    (void)state;
    const char *e = getenv("TB_SOAK_DAYS");
    double days = e ? atof(e) : 2.0;
    const char *sp = getenv("TB_SOAK_SPEED");
    double speed = sp ? atof(sp) : 60.0;
    assert_true(days > 0 && speed >= 1);
    bool trace = getenv("TB_SOAK_TRACE") != NULL;
    const char *se = getenv("TB_SOAK_SEED");
    if (se) {
        g_rng ^= (uint64_t)strtoull(se, NULL, 10) * 0x2545F4914F6CDD1Dull;
    }
    rig(speed);
    double end_s = days * DAY_S;
    long rss0 = 0;
    size_t heap0 = 0;
    unsigned day = 0;
    set_day(0);
    sim_truth_t t;
    for (;;) {
        sim_truth(&S.sim, &t);
        if (t.model_s >= end_s) {
            break;
        }
        unsigned d = (unsigned)(t.model_s / DAY_S);
        if (d != day) {
            day = d;
            set_day(day);
            if (day == 1) {
                rss0 = rss_kb();
                heap0 = mallinfo2().uordblks;
            }
        }
        if (day % 4u == 1u && t.soc_pct < 12 && S.sim.load.kind == SIM_LOAD_DISCHARGE) {
            /* the deep discharge is over: the mains charger takes over (CC/CV, obeying the limits) */
            sim_load_t l;
            memset(&l, 0, sizeof l);
            l.kind = SIM_LOAD_CHARGER;
            l.charge_a = 90;
            assert_int_equal(sim_set_load(&S.sim, &l, S.now), SIM_OK);
        }
        /* 2 to 5 hours of normal life, then something goes wrong */
        double chunk = 7200 + rnd() * 10800;
        for (double done = 0; done < chunk; done += 1800) {
            run_model(1800);
            if (trace) {
                sim_truth(&S.sim, &t);
                printf("trace: day %.2f soc %5.1f%% %.2f V %6.1f A vmax %.3f | CVL %.1f CCL %.1f DCL %.1f | %s: %s | "
                       "prot %#x\n",
                       t.model_s / DAY_S, t.soc_pct, t.pack_v, t.pack_i, (double)S.gw.limits.cell_max_v, (double)S.cvl,
                       (double)S.ccl, (double)S.dcl, chg_state_name(S.gw.limits.state), S.gw.limits.reason,
                       t.protections);
            }
        }
        mischief();
    }
    gateway_shutdown(&S.gw, S.now);
    sim_truth(&S.sim, &t);
    long rss1 = rss_kb();
    size_t heap1 = mallinfo2().uordblks;

    /* counters */
    tb_link_stats_t ls;
    tb_poll_stats(&S.gw.poll, &ls);
    sim_counters_t c;
    sim_counters(&S.sim, &c);
    assert_true(ls.rx.bytes == S.bytes_to_gw);
    size_t pending = tb_rx_pending(&S.gw.poll.rx);
    if ((uint64_t)ls.rx.frames * 0u + ls.rx.garbage_bytes + pending > ls.rx.bytes) {
        violation("receiver counters: garbage %u + pending %zu > bytes %u", ls.rx.garbage_bytes, pending, ls.rx.bytes);
    }
    assert_int_equal(S.gw.can.n.tx_frames, S.frames_total);
    assert_int_equal(S.gw.can.n.refused, 0);
    assert_true(S.frames[0x351] > 0 && S.frames[0x35A] > 0);
    double e_in = S.gw.energy.charged_wh * S.speed, e_out = S.gw.energy.discharged_wh * S.speed;
    printf("soak: %.2f simulated days at speed %.0f in %.0f wire s; model %.0f s\n", t.model_s / DAY_S, S.speed,
           (S.now - 1000u) / 1000.0, t.model_s);
    printf("soak: battery: %.0f Wh in, %.0f Wh out (simulator); gateway counted %.0f Wh in, %.0f Wh out (x speed)\n",
           t.wh_in, t.wh_out, e_in, e_out);
    printf("soak: frames %u (0x351 %u), views %u (%u parsed), live blocks checked %u (skipped %u newer)\n",
           S.frames_total, S.frames[0x351], S.views, S.views_parsed, S.live_checked, S.live_skipped);
    printf("soak: checks: frames %u, stop %u, temperature %u, under-voltage %u, stale %u, truth over-voltage %u, "
           "ramps %u, alarms %u\n",
           S.checks, S.stop_checks, S.temp_checks, S.uv_checks, S.stale_checks, S.ov_truth_checks, S.ramp_checks,
           S.alarm_checks);
    printf("soak: mischief: %u faults, %u unplugs, config %u applied / %u refused; CCL direction changes %u\n",
           S.faults_injected, S.unplugs, S.cfg_applied, S.cfg_refused, S.ccl_reversals);
    printf("soak: link: %u requests, %u replies, %u timeouts, %u CRC errors, %u garbage bytes, %u decode errors; "
           "BMS protections now %#x\n",
           ls.requests, ls.replies, ls.timeouts, ls.rx.crc_errors, ls.rx.garbage_bytes, ls.decode_errors,
           t.protections);
    printf("soak: memory: RSS %ld -> %ld kB, heap in use %zu -> %zu bytes%s\n", rss0, rss1, heap0, heap1,
           SOAK_SANITIZED ? " (sanitizer build: not judged)" : "");
    if (t.wh_in > 1000) {
        assert_true(fabs(e_in - t.wh_in) <= 0.10 * t.wh_in);
    }
    if (t.wh_out > 1000) {
        assert_true(fabs(e_out - t.wh_out) <= 0.10 * t.wh_out);
    }
    assert_true(S.store.saves > 0);
    assert_non_null(mem_store_get(&S.store, "energy", NULL));
    if (!SOAK_SANITIZED && rss0 > 0 && days >= 2) {
        assert_true(rss1 - rss0 <= 256);
        assert_true(heap1 <= heap0 + 4096);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(soak)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
