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
    /* charging and discharging stopped with the longest causes (the cut-offs, values at their widest) */
    g_v.limits.valid = true;
    g_v.limits.state = CHG_STATE_BULK;
    g_v.limits.charge_stopped = g_v.limits.discharge_stopped = true;
    g_v.limits.ccl_a = g_v.limits.dcl_a = 0.0f;
    g_v.limits.ccl_lim = CHG_LIM_CELL_OVER_VOLTAGE;
    g_v.limits.dcl_lim = CHG_LIM_CELL_UNDER_VOLTAGE;
    g_v.limits.cell_max_v = g_v.limits.cell_min_v = -1e30f;
    g_v.limits.cell_ov_v = g_v.limits.cell_uv_v = -1e30f;
    g_v.energy_days.clock_known = true;
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
