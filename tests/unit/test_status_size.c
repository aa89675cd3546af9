/* The status document (GET /api/status, the WebSocket and MQTT state) at its largest: a running
 * 16-cell gateway with every string of the view at its longest and made of characters JSON must
 * escape, every event slot used. The firmware builds app/ with a smaller GW_STATUS_JSON_MAX
 * (ports/esp-idf/components/tinybms_app/CMakeLists.txt, passed here as FW_STATUS_JSON_MAX) to save RAM: this is what shows that the
 * document always fits in it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "app/chg_reason.h"
#include "app/gateway.h"
#include "scenario_rig.h"

#ifndef FW_STATUS_JSON_MAX /* set by tests/CMakeLists.txt from the firmware's build */
#error "FW_STATUS_JSON_MAX not set"
#endif

static scen_t g_s;
static gw_view_t g_v;

static void fill(char *s, size_t cap)
{
    /* '"' is written as \" : two bytes of JSON per byte */
    memset(s, '"', cap - 1u);
    s[cap - 1u] = '\0';
}

static void worst_case_fits_the_firmware(void **state)
{
    (void)state;
    scen_opts_t o;
    scen_opts_default(&o);
    assert_true(scen_init(&g_s, &o, NULL));
    scen_run(&g_s, 20000u); /* live data, limits, alarms evaluated */
    g_v = *gateway_view(&g_s.gw);
    assert_true(g_v.snap.live.valid);
    size_t normal = g_v.status_len;

    fill(g_v.config_warning, sizeof g_v.config_warning);
    fill(g_v.config_source, sizeof g_v.config_source);
    fill(g_v.can_port_error, sizeof g_v.can_port_error);
    fill(g_v.can_mode, sizeof g_v.can_mode);
    fill(g_v.limits.reason, sizeof g_v.limits.reason);
    g_v.web.known = true;
    g_v.web.enabled = true;
    fill(g_v.web.error, sizeof g_v.web.error);
    g_v.wall_ms = 4102444800000ull; /* 2100 */
    g_v.seq = UINT64_MAX;
    g_v.uptime_s = UINT32_MAX;
    g_v.event_seq = UINT32_MAX;
    g_v.recent_count = GW_VIEW_EVENTS;
    for (unsigned i = 0; i < GW_VIEW_EVENTS; i++) {
        g_v.recent_events[i].id = 0x0B;
        g_v.recent_events[i].timestamp_s = UINT32_MAX;
    }
    g_v.warnings = GW_WARN_BMS_FULL_VOLTAGE | GW_WARN_ENERGY_UNREADABLE;
    g_v.warn_bms_full_v = 65.535f; /* register 300 at its largest, in V */
    g_v.warn_bulk_v = 1e30f;       /* clamped */
    g_v.energy_known = true;
    g_v.energy_in_wh = 1e12;
    g_v.energy_out_wh = 1e12;
    g_v.gx_present = true;
    g_v.gx_age_ms = UINT32_MAX - 1u;
    g_v.lat_samples = UINT32_MAX;
    for (unsigned i = 0; i < ALARM_COUNT; i++) { /* every category active for the longest time */
        g_v.alarm_active[i] = true;
        g_v.alarm_since_ms[i] = g_v.t_ms + 1u;
    }
    /* charging and discharging stopped ("why not" in the battery object), each with its longest
     * cause: every limiter tried with the values at their widest that validated data allows
     * (cells and cut-offs 0.5..5 V, temperatures -60..150 °C, SOC 0..100 %) */
    chg_limits_t *l = &g_v.limits;
    l->valid = true;
    l->state = CHG_STATE_BULK;
    l->charge_stopped = l->discharge_stopped = true;
    l->ccl_a = l->dcl_a = 0.0f;
    l->ccl_target_a = l->dcl_target_a = 999.9f;
    l->series_cells = 16;
    l->pack_v = 79.99f;
    l->cell_max_v = l->cell_min_v = l->spread_v = l->cell_target_v = l->cell_ov_v = l->cell_uv_v = 4.999f;
    l->cell_limit_v = l->cell_float_v = 4.999f;
    l->temp_min_c = l->temp_max_c = -59.9f;
    for (unsigned i = 0; i < 2; i++) {
        l->ccl_taper_v[i] = l->dcl_taper_v[i] = l->imbalance_v[i] = 4.999f;
        l->temp_charge_c[i] = l->temp_discharge_c[i] = -59.9f;
        l->soc_taper_pct[i] = 100.0f;
    }
    l->soc_pct = 100.0f;
    l->data_age_ms = UINT32_MAX - 1u;
    size_t longest[2] = {0, 0};
    chg_limiter_t worst[2] = {CHG_LIM_NONE, CHG_LIM_NONE};
    for (unsigned lim = 0; lim < CHG_LIM_COUNT; lim++) {
        char why[CHG_REASON_LEN];
        l->ccl_lim = l->dcl_lim = (chg_limiter_t)lim;
        for (unsigned c = 0; c < 2; c++) {
            chg_reason_stop(l, c == 0, why, sizeof why);
            if (strlen(why) > longest[c]) {
                longest[c] = strlen(why);
                worst[c] = (chg_limiter_t)lim;
            }
        }
    }
    l->ccl_lim = worst[0];
    l->dcl_lim = worst[1];
    printf("longest reasons why not: charging %zu, discharging %zu bytes\n", longest[0], longest[1]);
    int n = gw_view_render(&g_v);
    assert_true(n > 0);
    printf("status document: %zu bytes running, %d bytes at its largest; firmware room %u bytes\n", normal, n,
           FW_STATUS_JSON_MAX);
    assert_true((size_t)n < FW_STATUS_JSON_MAX);
    cJSON *root = cJSON_ParseWithLength(g_v.status_json, g_v.status_len);
    assert_non_null(root);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(worst_case_fits_the_firmware),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
