/* The status document's "warnings" (GET /api/status, the WebSocket, MQTT state): conditions the
 * gateway also logs, as sentences a person reads in the web UI. The simulated TinyBMS of the
 * scenario rig holds a fully charged voltage above the charge target: the warning is there; a
 * charge target raised to it ends the warning at once (the configuration change re-checks), and
 * lowering it again brings the warning back. */
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

static scen_t g_s;

/* The text of the warning `id` in the gateway's current status document, or NULL; *n = count. */
static char *warning(const char *id, int *n)
{
    static char text[512];
    const gw_view_t *v = gateway_view(&g_s.gw);
    cJSON *root = cJSON_ParseWithLength(v->status_json, v->status_len);
    assert_non_null(root);
    cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "warnings");
    assert_true(cJSON_IsArray(w));
    *n = cJSON_GetArraySize(w);
    char *found = NULL;
    cJSON *e;
    cJSON_ArrayForEach(e, w)
    {
        cJSON *eid = cJSON_GetObjectItemCaseSensitive(e, "id");
        cJSON *et = cJSON_GetObjectItemCaseSensitive(e, "text");
        assert_true(cJSON_IsString(eid) && cJSON_IsString(et));
        if (strcmp(eid->valuestring, id) == 0) {
            snprintf(text, sizeof text, "%s", et->valuestring);
            found = text;
        }
    }
    cJSON_Delete(root);
    return found;
}

static void full_voltage_above_the_charge_target(void **state)
{
    (void)state;
    scen_opts_t o;
    scen_opts_default(&o);
    assert_true(scen_init(&g_s, &o, NULL));
    scen_run(&g_s, 20000u); /* the settings are read */
    float full = g_s.gw.poll.snap.settings.fully_charged_v;
    assert_true(g_s.gw.poll.snap.settings.valid);
    assert_true(full > g_s.gw.cfg.charge.cell_bulk_v + 0.02f);
    int n = 0;
    char *t = warning("bms_full_voltage", &n);
    assert_non_null(t);
    printf("warning: %s\n", t);
    char want[32];
    snprintf(want, sizeof want, "%.3f V", (double)full);
    assert_non_null(strstr(t, want));
    assert_non_null(strstr(t, "charge.cell_bulk_v"));

    gw_config_t c = g_s.gw.cfg;
    c.charge.cell_bulk_v = full;
    gateway_reconfigure(&g_s.gw, &c, g_s.now);
    scen_run(&g_s, 500u);
    assert_null(warning("bms_full_voltage", &n));
    assert_int_equal(n, 0);

    c.charge.cell_bulk_v = full - 0.1f;
    gateway_reconfigure(&g_s.gw, &c, g_s.now);
    scen_run(&g_s, 500u);
    assert_non_null(warning("bms_full_voltage", &n));
    assert_int_equal(n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_voltage_above_the_charge_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
