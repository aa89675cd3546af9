/* The dashboard's fields of the status document (app/gw_view.h): "battery" (capacity, remaining
 * and consumed Ah, time to go towards full or empty, charge counts, charging and discharging
 * allowed and why not in words), "alarm_since", and the "daily" energy object of GET /api/energy
 * with and without a wall clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "app/chg_reason.h"
#include "app/gw_view.h"

static gw_view_t g_v;
static char g_buf[8192];

typedef void (*piece_fn)(jw_t *w, const gw_view_t *v);

static cJSON *render(piece_fn fn)
{
    jw_t w;
    jw_init(&w, g_buf, sizeof g_buf);
    fn(&w, &g_v);
    assert_true(jw_finish(&w) > 0);
    cJSON *root = cJSON_Parse(g_buf);
    assert_non_null(root);
    return root;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(x));
    return x->valuedouble;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static bool is_null(const cJSON *o, const char *k)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void running(void)
{
    memset(&g_v, 0, sizeof g_v);
    g_v.t_ms = 100000;
    g_v.wall_ms = 1796681707000ull;
    bms_live_t *l = &g_v.snap.live;
    l->valid = true;
    l->t_ms = g_v.t_ms;
    l->pack_voltage_v = 53.0f;
    l->soc_pct = 50.0f;
    g_v.snap.settings.valid = true;
    g_v.snap.settings.capacity_ah = 200.0f;
    g_v.snap.stats.valid = true;
    g_v.snap.stats.charging_count = 12;
    g_v.snap.stats.full_charge_count = 3;
    chg_limits_t *c = &g_v.limits;
    c->valid = true;
    c->transmit = true;
    c->state = CHG_STATE_BULK;
    c->ccl_a = 40.0f;
    c->dcl_a = 80.0f;
}

static void ah_and_time_to_go(void **state)
{
    (void)state;
    running();
    g_v.snap.live.pack_current_a = 20.0f; /* charging: 100 Ah to go at 20 A = 5 h */
    cJSON *b = render(gw_view_json_battery);
    assert_true(fabs(num(b, "capacity_ah") - 200.0) < 1e-6);
    assert_true(fabs(num(b, "remaining_ah") - 100.0) < 0.05);
    assert_true(fabs(num(b, "consumed_ah") - 100.0) < 0.05);
    assert_int_equal((int)num(b, "charge_count"), 12);
    assert_int_equal((int)num(b, "full_charge_count"), 3);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "time_to_go");
    assert_string_equal(str(t, "direction"), "full");
    assert_int_equal((int)num(t, "seconds"), 5 * 3600);
    assert_string_equal(str(t, "source"), "estimate");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "charge_allowed")));
    assert_true(is_null(b, "charge_why_not"));
    cJSON_Delete(b);

    /* discharging: the BMS's own estimate first, the gateway's when the BMS gives none */
    g_v.snap.live.pack_current_a = -10.0f;
    g_v.snap.live.time_left_s = 7000;
    b = render(gw_view_json_battery);
    t = cJSON_GetObjectItemCaseSensitive(b, "time_to_go");
    assert_string_equal(str(t, "direction"), "empty");
    assert_int_equal((int)num(t, "seconds"), 7000);
    assert_string_equal(str(t, "source"), "bms");
    cJSON_Delete(b);
    g_v.snap.live.time_left_s = 0;
    b = render(gw_view_json_battery);
    t = cJSON_GetObjectItemCaseSensitive(b, "time_to_go");
    assert_int_equal((int)num(t, "seconds"), 10 * 3600);
    cJSON_Delete(b);

    /* idle; and nothing known without the settings (capacity) */
    g_v.snap.live.pack_current_a = 0.2f;
    g_v.snap.settings.valid = false;
    g_v.snap.stats.valid = false;
    b = render(gw_view_json_battery);
    t = cJSON_GetObjectItemCaseSensitive(b, "time_to_go");
    assert_string_equal(str(t, "direction"), "idle");
    assert_true(is_null(t, "seconds"));
    assert_true(is_null(b, "capacity_ah") && is_null(b, "remaining_ah") && is_null(b, "consumed_ah"));
    assert_true(is_null(b, "charge_count"));
    cJSON_Delete(b);
}

static void why_not_in_words(void **state)
{
    (void)state;
    running();
    chg_limits_t *c = &g_v.limits;
    c->charge_stopped = true;
    c->ccl_a = 0.0f;
    c->ccl_lim = CHG_LIM_CELL_OVER_VOLTAGE;
    c->cell_max_v = 3.652f;
    c->cell_ov_v = 3.650f;
    c->series_cells = 16;
    cJSON *b = render(gw_view_json_battery);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "charge_allowed")));
    const char *why = str(b, "charge_why_not");
    assert_non_null(why);
    assert_non_null(strstr(why, "highest cell 3.652 V"));
    assert_null(strstr(why, "cell_over_voltage")); /* words, not the limiter's name */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "discharge_allowed")));
    cJSON_Delete(b);

    /* stale data: charging stopped for that reason; nothing sent at all: neither allowed */
    c->state = CHG_STATE_STALE;
    c->data_age_ms = 6200;
    b = render(gw_view_json_battery);
    assert_non_null(strstr(str(b, "charge_why_not"), "BMS data stale for"));
    cJSON_Delete(b);
    running();
    g_v.limits.transmit = false;
    b = render(gw_view_json_battery);
    assert_string_equal(str(b, "charge_why_not"), "nothing is sent to the GX");
    assert_string_equal(str(b, "discharge_why_not"), "nothing is sent to the GX");
    cJSON_Delete(b);
    running();
    g_v.limits.valid = false;
    g_v.limits.state = CHG_STATE_NO_DATA;
    b = render(gw_view_json_battery);
    assert_string_equal(str(b, "charge_why_not"), "no usable BMS data yet");
    cJSON_Delete(b);
}

static void alarm_since(void **state)
{
    (void)state;
    running();
    g_v.alarm_active[ALARM_HIGH_TEMP] = true;
    g_v.alarm_since_ms[ALARM_HIGH_TEMP] = g_v.t_ms - 93000u;
    cJSON *a = render(gw_view_json_alarm_since);
    assert_int_equal(cJSON_GetArraySize(a), ALARM_COUNT);
    for (int i = 0; i < (int)ALARM_COUNT; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i);
        if (i == ALARM_HIGH_TEMP) {
            assert_true(cJSON_IsNumber(x) && x->valuedouble == 93.0);
        } else {
            assert_true(cJSON_IsNull(x));
        }
    }
    cJSON_Delete(a);
}

static void daily_energy(void **state)
{
    (void)state;
    running();
    energy_days_t *d = &g_v.energy_days;
    energy_days_init(d);
    int32_t today = energy_days_from_civil(2026, 12, 7);
    energy_days_update(d, today - 8, 0.0, 0.0);
    energy_days_update(d, today - 8, 50.0, 0.0); /* outside the 7 days */
    energy_days_update(d, today - 6, 60.0, 1.0);
    energy_days_update(d, today - 1, 160.0, 21.0);
    energy_days_update(d, today, 400.0, 21.0);
    cJSON *e = render(gw_view_json_energy_days);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "clock_known")));
    assert_string_equal(str(e, "date"), "2026-12-07");
    assert_true(fabs(num(cJSON_GetObjectItemCaseSensitive(e, "today"), "charged_wh") - 240.0) < 1e-6);
    assert_true(fabs(num(cJSON_GetObjectItemCaseSensitive(e, "yesterday"), "charged_wh") - 100.0) < 1e-6);
    assert_true(fabs(num(cJSON_GetObjectItemCaseSensitive(e, "yesterday"), "discharged_wh") - 20.0) < 1e-6);
    assert_true(fabs(num(cJSON_GetObjectItemCaseSensitive(e, "last_7_days"), "charged_wh") - 350.0) < 1e-6);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "days")), 4);
    cJSON_Delete(e);

    /* the clock lost (or never known): say so, keep the days, count apart */
    energy_days_update(d, ENERGY_DAYS_NO_CLOCK, 410.0, 21.0);
    e = render(gw_view_json_energy_days);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e, "clock_known")));
    assert_true(is_null(e, "date") && is_null(e, "today") && is_null(e, "yesterday") && is_null(e, "last_7_days"));
    assert_true(fabs(num(e, "undated_charged_wh") - 10.0) < 1e-6);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "days")), 4);
    cJSON_Delete(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ah_and_time_to_go),
        cmocka_unit_test(why_not_in_words),
        cmocka_unit_test(alarm_since),
        cmocka_unit_test(daily_energy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
