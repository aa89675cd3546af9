/* app/can_inputs: which snapshot field feeds which CAN field, and what "not available" becomes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "app/can_inputs.h"

static void snapshot(bms_snapshot_t *s)
{
    memset(s, 0, sizeof *s);
    bms_live_t *l = &s->live;
    l->valid = true;
    l->t_ms = 1000;
    l->cell_count = 16;
    for (unsigned i = 0; i < 16; i++) {
        l->cell_v[i] = 3.320f + 0.001f * (float)i;
    }
    l->cell_v[2] = 3.301f;  /* cell 3 lowest */
    l->cell_v[11] = 3.342f; /* cell 12 highest */
    l->min_cell_v = 3.301f;
    l->max_cell_v = 3.342f;
    l->pack_voltage_v = 53.21f;
    l->pack_current_a = -12.3f;
    l->soc_pct = 75.4f;
    l->soh_pct = 98.0f;
    l->temp_internal_c = 31.0f;
    l->temp_ext_c[0] = 22.0f;
    l->temp_ext_c[1] = 25.0f;
    l->temp_ext_present[0] = true;
    l->temp_ext_present[1] = true;
    l->status = BMS_STATUS_DISCHARGING;
    s->settings.valid = true;
    s->settings.capacity_ah = 280.0f;
    s->settings.series_cells = 16;
    s->version.valid = true;
    s->version.fw_public = 1;
    s->version.fw_internal = 242;
}

static void sources(can_inputs_src_t *src)
{
    memset(src, 0, sizeof *src);
    src->limits = (can_limits_in_t){true, true, 56.0f, 50.0f, 100.0f, 44.8f};
    memset(&src->alarms, ALARM_LEVEL_OK, sizeof src->alarms);
    src->energy_in_wh = 1234500.0;
    src->energy_out_wh = 987600.0;
    src->identity = (can_identity_t){"TinyBMS", "TinyBMS Garage 1", "", "LFP16S"};
    src->live_fresh = true;
}

static void full_mapping(void **state)
{
    (void)state;
    bms_snapshot_t s;
    can_inputs_src_t src;
    can_inputs_t in;
    snapshot(&s);
    sources(&src);
    can_inputs_build(&in, &s, &src);
    assert_true(in.transmit);
    assert_true(in.limits_valid);
    assert_true(in.measurements_valid);
    assert_float_equal(in.cvl_v, 56.0f, 1e-6f);
    assert_float_equal(in.ccl_a, 50.0f, 1e-6f);
    assert_float_equal(in.dcl_a, 100.0f, 1e-6f);
    assert_float_equal(in.dvl_v, 44.8f, 1e-6f);
    assert_float_equal(in.soc_pct, 75.4f, 1e-6f);
    assert_float_equal(in.soh_pct, 98.0f, 1e-6f);
    assert_float_equal(in.pack_v, 53.21f, 1e-6f);
    assert_float_equal(in.pack_a, -12.3f, 1e-6f);
    assert_float_equal(in.pack_temp_c, 23.5f, 1e-6f); /* mean of the cell sensors, not the board */
    assert_float_equal(in.cell_min_v, 3.301f, 1e-6f);
    assert_float_equal(in.cell_max_v, 3.342f, 1e-6f);
    assert_string_equal(in.cell_min_id, "cell 3");
    assert_string_equal(in.cell_max_id, "cell 12");
    assert_float_equal(in.temp_min_c, 22.0f, 1e-6f);
    assert_float_equal(in.temp_max_c, 25.0f, 1e-6f);
    assert_string_equal(in.temp_min_id, "ext 1");
    assert_string_equal(in.temp_max_id, "ext 2");
    assert_int_equal(in.system_status, VCAN_STATUS_ONLINE);
    assert_int_equal(in.fw_major, 1);
    assert_int_equal(in.fw_minor, 242);
    assert_float_equal(in.capacity_installed_ah, 280.0f, 1e-6f);
    assert_float_equal(in.capacity_online_ah, 280.0f, 1e-6f);
    assert_int_equal(in.modules.online, 1);
    assert_int_equal(in.modules.offline, 0);
    assert_int_equal(in.modules.blocking_charge, 0);
    assert_int_equal(in.modules.blocking_discharge, 0);
    assert_true(in.energy_in_wh == 1234500.0);
    assert_true(in.energy_out_wh == 987600.0);
    assert_string_equal(in.manufacturer, "TinyBMS");
    assert_string_equal(in.battery_name, "TinyBMS Garage 1");
    assert_string_equal(in.serial, "");
    assert_string_equal(in.family, "LFP16S");
    assert_memory_equal(&in.alarms, &src.alarms, sizeof in.alarms);
}

static void stale_or_missing_data(void **state)
{
    (void)state;
    bms_snapshot_t s;
    can_inputs_src_t src;
    can_inputs_t in;
    snapshot(&s);
    sources(&src);
    src.live_fresh = false;
    can_inputs_build(&in, &s, &src);
    assert_false(in.measurements_valid);
    assert_true(isnan(in.soc_pct));
    assert_true(isnan(in.pack_v));
    assert_true(isnan(in.cell_min_v));
    assert_string_equal(in.cell_min_id, "");
    assert_int_equal(in.system_status, VCAN_STATUS_OFFLINE);
    assert_int_equal(in.modules.online, 0);
    assert_int_equal(in.modules.offline, 1);
    assert_float_equal(in.capacity_online_ah, 0.0f, 0.0f); /* an offline battery offers nothing */
    assert_float_equal(in.capacity_installed_ah, 280.0f, 0.0f);

    /* no snapshot at all */
    memset(&s, 0, sizeof s);
    sources(&src);
    src.limits.valid = false;
    src.energy_in_wh = NAN;
    can_inputs_build(&in, &s, &src);
    assert_false(in.limits_valid);
    assert_false(in.measurements_valid);
    assert_true(isnan(in.cvl_v));
    assert_true(isnan(in.capacity_installed_ah));
    assert_true(isnan(in.energy_in_wh));
    assert_int_equal(in.modules.blocking_charge, 1);
    assert_int_equal(in.modules.blocking_discharge, 1);
    assert_int_equal(in.fw_major, 0);

    /* the controller claims valid limits but no complete snapshot was ever read: not valid */
    snapshot(&s);
    sources(&src);
    s.settings.valid = false;
    can_inputs_build(&in, &s, &src);
    assert_false(in.limits_valid);
    assert_true(isnan(in.cvl_v));
    assert_int_equal(in.modules.blocking_charge, 1);
    snapshot(&s);
    s.live.valid = false;
    can_inputs_build(&in, &s, &src);
    assert_false(in.limits_valid);

    /* NULL arguments: all "not available", but never a crash */
    can_inputs_build(&in, NULL, &src);
    assert_false(in.limits_valid);
    assert_int_equal(in.alarms.level[ALARM_HIGH_VOLTAGE], ALARM_LEVEL_UNSUPPORTED);
}

static void special_values(void **state)
{
    (void)state;
    bms_snapshot_t s;
    can_inputs_src_t src;
    can_inputs_t in;
    snapshot(&s);
    sources(&src);
    /* older firmware: the decoder reports SOH as NaN (register 45 not provided) */
    s.live.soh_pct = NAN;
    /* no external sensor: the board temperature is the only reading */
    s.live.temp_ext_present[0] = s.live.temp_ext_present[1] = false;
    /* internal firmware number beyond one byte */
    s.version.fw_internal = 300;
    /* limits that reach the GX as 0 */
    src.limits.ccl_a = 0.04f;
    src.limits.dcl_a = 0.0f;
    s.live.status = BMS_STATUS_FAULT;
    can_inputs_build(&in, &s, &src);
    assert_true(isnan(in.soh_pct));
    assert_float_equal(in.pack_temp_c, 31.0f, 0.0f);
    assert_float_equal(in.temp_min_c, 31.0f, 0.0f);
    assert_string_equal(in.temp_min_id, "internal");
    assert_int_equal(in.fw_minor, 255);
    assert_int_equal(in.modules.blocking_charge, 1);
    assert_int_equal(in.modules.blocking_discharge, 1);
    assert_int_equal(in.system_status, VCAN_STATUS_OFFLINE);
    /* one sensor only */
    s.live.temp_ext_present[1] = true;
    can_inputs_build(&in, &s, &src);
    assert_float_equal(in.pack_temp_c, 25.0f, 0.0f);
    assert_string_equal(in.temp_min_id, "ext 2");
    assert_string_equal(in.temp_max_id, "ext 2");
    /* unusable cell count: registers 40/41, no ids */
    s.live.cell_count = 0;
    can_inputs_build(&in, &s, &src);
    assert_float_equal(in.cell_min_v, 3.301f, 0.0f);
    assert_string_equal(in.cell_min_id, "");
    /* fail-safe flag passes through */
    src.limits.transmit = false;
    can_inputs_build(&in, &s, &src);
    assert_false(in.transmit);
    /* overlong identity texts are cut, never overflow */
    src.identity.manufacturer = "ABCDEFGHIJKLMNOP";
    can_inputs_build(&in, &s, &src);
    assert_string_equal(in.manufacturer, "ABCDEFGH");
}

static void from_charge_controller(void **state)
{
    (void)state;
    chg_limits_t lim;
    memset(&lim, 0, sizeof lim);
    lim.valid = true;
    lim.transmit = true;
    lim.data = FAILSAFE_FRESH;
    lim.cvl_v = 55.2f;
    lim.ccl_a = 12.3f;
    lim.dcl_a = 80.0f;
    lim.dvl_v = 46.4f;
    can_inputs_src_t src;
    sources(&src);
    can_inputs_src_from_charge(&src, &lim);
    assert_true(src.limits.valid && src.limits.transmit && src.live_fresh);
    assert_float_equal(src.limits.cvl_v, 55.2f, 0.0f);
    assert_float_equal(src.limits.ccl_a, 12.3f, 0.0f);
    assert_float_equal(src.limits.dcl_a, 80.0f, 0.0f);
    assert_float_equal(src.limits.dvl_v, 46.4f, 0.0f);
    /* stale: charging stopped by the controller, measurements no longer fresh */
    lim.data = FAILSAFE_STALE;
    lim.ccl_a = 0.0f;
    can_inputs_src_from_charge(&src, &lim);
    assert_false(src.live_fresh);
    bms_snapshot_t s;
    snapshot(&s);
    can_inputs_t in;
    can_inputs_build(&in, &s, &src);
    assert_true(in.limits_valid);
    assert_false(in.measurements_valid);
    assert_int_equal(in.modules.blocking_charge, 1);
    /* fail-safe "stop transmitting" */
    lim.data = FAILSAFE_ACTIVE;
    lim.transmit = false;
    can_inputs_src_from_charge(&src, &lim);
    can_inputs_build(&in, &s, &src);
    assert_false(in.transmit);
    /* no data yet */
    memset(&lim, 0, sizeof lim);
    can_inputs_src_from_charge(&src, &lim);
    can_inputs_build(&in, &s, &src);
    assert_false(in.limits_valid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_mapping),
        cmocka_unit_test(stale_or_missing_data),
        cmocka_unit_test(special_values),
        cmocka_unit_test(from_charge_controller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
