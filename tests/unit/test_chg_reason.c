/* app/chg_reason: the controller's decision in words. The wording and digits are those the core
 * produced before the text moved out of core/charge.c (checked then by replaying the property
 * test's 360 000 random steps through both and comparing every sentence); these cases pin them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "app/chg_reason.h"

static chg_limits_t fresh(void)
{
    chg_limits_t l;
    memset(&l, 0, sizeof l);
    l.valid = l.transmit = true;
    l.state = CHG_STATE_ABSORPTION;
    l.phase = CHG_PHASE_ABSORPTION;
    l.data = FAILSAFE_FRESH;
    l.data_why = "";
    l.cvl_v = 55.2f;
    l.ccl_a = 12.3f;
    l.dcl_a = 150.0f;
    l.ccl_target_a = 12.3f;
    l.cvl_lim = CHG_LIM_BMS_CUTOFF;
    l.ccl_lim = CHG_LIM_CELL_VOLTAGE_HIGH;
    l.dcl_lim = CHG_LIM_CONFIG_MAX;
    l.cell_max_v = 3.4825f;
    l.cell_min_v = 3.301f;
    l.temp_min_c = -2.25f;
    l.temp_max_c = 41.04f;
    l.cell_ov_v = 3.65f;
    l.cell_uv_v = 2.8f;
    l.ccl_taper_v[0] = 3.4f;
    l.ccl_taper_v[1] = 3.55f;
    l.dcl_taper_v[0] = 3.1f;
    l.dcl_taper_v[1] = 2.9f;
    l.temp_charge_c[0] = 0.0f;
    l.temp_charge_c[1] = 50.0f;
    l.temp_discharge_c[0] = -20.0f;
    l.temp_discharge_c[1] = 55.0f;
    return l;
}

static void expect(const chg_limits_t *l, const char *want)
{
    char buf[CHG_REASON_LEN];
    chg_reason_format(l, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void normal_operation(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    expect(&l, "absorption: CVL 55.2 V bms_cutoff, CCL 12.3 A cell_voltage_high, DCL 150.0 A config_max");
    l.phase = CHG_PHASE_FLOAT;
    l.cvl_lim = CHG_LIM_RAMP;
    l.ccl_a = 0.05f;
    expect(&l, "float: CVL 55.2 V ramp, CCL 0.1 A cell_voltage_high, DCL 150.0 A config_max");
}

static void charge_stops(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    l.charge_stopped = true;
    l.ccl_a = 0.0f;
    expect(&l, "charging paused after a limit drop: CCL held at 0 A, then ramps to 12.3 A");
    l.ccl_target_a = 0.0f;
    l.ccl_target_lim = CHG_LIM_CELL_OVER_VOLTAGE;
    expect(&l, "charge stopped: highest cell 3.483 V at/above BMS over-voltage cut-off 3.650 V");
    l.ccl_target_lim = CHG_LIM_CELL_VOLTAGE_HIGH;
    expect(&l, "charge stopped: highest cell 3.483 V (taper 3.400-3.550 V)");
    l.ccl_target_lim = CHG_LIM_TEMP_LOW;
    expect(&l, "charge stopped: lowest temperature -2.3 C, limit 0.0 C");
    l.ccl_target_lim = CHG_LIM_TEMP_HIGH;
    expect(&l, "charge stopped: highest temperature 41.0 C, limit 50.0 C");
    l.ccl_target_lim = CHG_LIM_BMS_FAULT;
    expect(&l, "charge stopped: TinyBMS reports a fault (status 0x9B)");
    l.ccl_target_lim = CHG_LIM_SOC_TAPER;
    expect(&l, "charge stopped: soc_taper");
}

static void discharge_stops(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    l.discharge_stopped = true;
    l.dcl_target_lim = CHG_LIM_CELL_UNDER_VOLTAGE;
    expect(&l, "discharge stopped: lowest cell 3.301 V at/below BMS under-voltage cut-off 2.800 V");
    l.dcl_target_lim = CHG_LIM_CELL_VOLTAGE_LOW;
    expect(&l, "discharge stopped: lowest cell 3.301 V (taper 3.100-2.900 V)");
    l.dcl_target_lim = CHG_LIM_TEMP_LOW;
    expect(&l, "discharge stopped: lowest temperature -2.3 C, limit -20.0 C");
    l.dcl_target_lim = CHG_LIM_TEMP_HIGH;
    expect(&l, "discharge stopped: highest temperature 41.0 C, limit 55.0 C");
}

static void data_not_fresh(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    l.state = CHG_STATE_NO_DATA;
    l.data_why = "no BMS data yet";
    expect(&l, "no usable BMS data yet: no BMS data yet");
    l.state = CHG_STATE_STALE;
    l.data_age_ms = 12345u;
    l.data_why = "BMS data too old";
    expect(&l, "charging stopped: no usable BMS data for 12.3 s (BMS data too old)");
    l.data_why = "";
    expect(&l, "charging stopped: no usable BMS data for 12.3 s");
    l.state = CHG_STATE_FAILSAFE;
    l.failsafe_mode = FAILSAFE_MODE_ZERO_LIMITS;
    expect(&l, "fail-safe: zero limits, no usable BMS data for 12.3 s");
    l.failsafe_mode = FAILSAFE_MODE_STOP_TRANSMITTING;
    l.data_why = NULL; /* tolerated */
    expect(&l, "fail-safe: not transmitting, no usable BMS data for 12.3 s");
}

static void truncates_and_fills(void **state)
{
    (void)state;
    chg_limits_t l = fresh();
    char small[10];
    chg_reason_format(&l, small, sizeof small);
    assert_string_equal(small, "absorptio");
    chg_reason_format(&l, small, 0); /* writes nothing */
    chg_reason_fill(&l);
    assert_string_equal(l.reason, "absorption: CVL 55.2 V bms_cutoff, CCL 12.3 A cell_voltage_high, DCL 150.0 A config_max");
    l.cvl_v = NAN;
    chg_reason_fill(&l);
    assert_non_null(strstr(l.reason, "CVL ? V"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(normal_operation),   cmocka_unit_test(charge_stops),
        cmocka_unit_test(discharge_stops),    cmocka_unit_test(data_not_fresh),
        cmocka_unit_test(truncates_and_fills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
