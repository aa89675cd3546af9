#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "app/bms_json.h"
#include "core/bms.h"
#include "fake_bms.h"

static fake_bms_t g_fake;

/* 14S as in the [C5] dump: registers 0 and 1 read 0, cells in 2..15, register 2 is cell 1. */
static void live_14s_top_aligned(void **state)
{
    (void)state;
    fake_bms_init(&g_fake, 14);
    bms_live_t l;
    const char *why = NULL;
    assert_int_equal(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 1234, &why), TB_OK);
    assert_true(l.valid);
    assert_int_equal(l.t_ms, 1234);
    assert_int_equal(l.cell_count, 14);
    assert_float_equal(l.cell_v[0], 3.3000f, 1e-5);
    assert_float_equal(l.cell_v[13], 3.3130f, 1e-5);
    assert_float_equal(l.cell_v[14], 0.0f, 0.0f);
    assert_float_equal(l.min_cell_v, 3.300f, 1e-5);
    assert_float_equal(l.max_cell_v, 3.313f, 1e-5);
    assert_float_equal(l.pack_voltage_v, 3.3045f * 14, 1e-4);
    assert_float_equal(l.pack_current_a, -12.5f, 1e-6);
    assert_float_equal(l.soc_pct, 80.587318f, 1e-4);
    assert_float_equal(l.soh_pct, 98.0f, 1e-4);
    assert_float_equal(l.temp_internal_c, 25.6f, 1e-4);
    assert_true(l.temp_ext_present[0]);
    assert_float_equal(l.temp_ext_c[0], 21.5f, 1e-4);
    assert_false(l.temp_ext_present[1]);
    assert_int_equal(l.status, BMS_STATUS_DISCHARGING);
    assert_string_equal(bms_status_name(l.status), "discharging");
    assert_int_equal(l.balancing_needed, 3);
    assert_int_equal(l.lifetime_s, 123456);
    assert_int_equal(l.time_left_s, 7200);
}

static void live_rejects_implausible(void **state)
{
    (void)state;
    bms_live_t l;
    memset(&l, 0, sizeof l);
    l.valid = true;
    l.cell_count = 7; /* sentinel: a rejected decode must leave the block untouched */
    const char *why = NULL;
    struct {
        unsigned reg;
        uint16_t val;
    } bad[] = {
        {53, 0},      /* no cells detected (boot) */
        {53, 17},
        {15, 0},      /* populated cell reads 0 */
        {15, 60000},  /* 6 V */
        {40, 0},      /* min cell 0 */
        {45, 0},      /* (not a rejection: SOH only) placeholder replaced below */
    };
    for (size_t i = 0; i < 5; i++) {
        fake_bms_init(&g_fake, 16);
        g_fake.regs[bad[i].reg] = bad[i].val;
        assert_int_equal(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 1, &why), TB_ERR_RANGE);
        assert_non_null(why);
        assert_int_equal(l.cell_count, 7);
    }
    fake_bms_init(&g_fake, 16);
    fake_bms_set_float(&g_fake, 36, NAN);
    assert_int_equal(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 1, &why), TB_ERR_RANGE);
    fake_bms_init(&g_fake, 16);
    fake_bms_set_float(&g_fake, 38, INFINITY);
    assert_int_equal(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 1, &why), TB_ERR_RANGE);
    fake_bms_init(&g_fake, 16);
    fake_bms_set_u32(&g_fake, 46, 100000001u);
    assert_int_equal(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 1, &why), TB_ERR_RANGE);
    fake_bms_init(&g_fake, 16);
    g_fake.regs[48] = (uint16_t)(int16_t)-32768;
    assert_int_equal(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 1, &why), TB_ERR_RANGE);
    assert_int_equal(l.cell_count, 7);
    assert_int_equal(bms_decode_live(&l, g_fake.regs, 55, 1, &why), TB_ERR_ARG);

    /* SOH above 50000 (reserved on old firmware) is not a reason to reject: it becomes NaN */
    fake_bms_init(&g_fake, 16);
    g_fake.regs[45] = 0xFFFF;
    g_fake.regs[50] = 0x95; /* undocumented "sleep" code */
    assert_int_equal(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 1, &why), TB_OK);
    assert_true(isnan(l.soh_pct));
    assert_int_equal(l.status, BMS_STATUS_UNKNOWN);
    assert_int_equal(l.status_raw, 0x95);
}

static void stats_settings_version(void **state)
{
    (void)state;
    fake_bms_init(&g_fake, 16);
    bms_stats_t st;
    assert_int_equal(bms_decode_stats(&st, &g_fake.regs[100], BMS_STATS_COUNT, 5, NULL), TB_OK);
    assert_float_equal(st.max_discharge_current_a, 123.4f, 1e-4);
    assert_float_equal(st.max_charge_current_a, 56.7f, 1e-4);
    assert_float_equal(st.max_cell_diff_v, 0.025f, 1e-6);
    assert_int_equal(st.over_voltage_count, 2);
    assert_int_equal(st.full_charge_count, 17);
    assert_int_equal(st.min_pack_temp_c, -5);
    assert_int_equal(st.max_pack_temp_c, 35);
    assert_int_equal(st.last_reset_cause, 5);
    assert_int_equal(st.last_wakeup_source, 3);

    bms_settings_t s;
    assert_int_equal(bms_decode_settings(&s, &g_fake.regs[300], BMS_SETTINGS_COUNT, 6, NULL), TB_OK);
    assert_float_equal(s.fully_charged_v, 3.65f, 1e-6);
    assert_float_equal(s.over_voltage_v, 3.8f, 1e-6);
    assert_float_equal(s.under_voltage_v, 2.8f, 1e-6);
    assert_float_equal(s.charge_finished_a, 1.0f, 1e-6);
    assert_float_equal(s.capacity_ah, 280.0f, 1e-4);
    assert_int_equal(s.series_cells, 16);
    assert_float_equal(s.charge_oc_a, 60.0f, 0.0f);
    assert_float_equal(s.low_temp_charge_c, -5.0f, 0.0f);
    assert_int_equal(s.raw[0], 3650);
    g_fake.regs[307] = 3;
    const char *why = NULL;
    assert_int_equal(bms_decode_settings(&s, &g_fake.regs[300], BMS_SETTINGS_COUNT, 7, &why), TB_ERR_RANGE);
    assert_int_equal(s.t_ms, 6);

    bms_version_t v;
    assert_int_equal(bms_decode_version(&v, &g_fake.regs[500], BMS_VERSION_COUNT, 8, NULL), TB_OK);
    assert_int_equal(v.hw_version, 1);
    assert_int_equal(v.hw_changes, 2);
    assert_int_equal(v.fw_public, 3);
    assert_true(v.high_power);
    assert_int_equal(v.current_sensor, 1);
    assert_int_equal(v.fw_internal, 242);
    assert_int_equal(v.bootloader, 0x18);
    assert_int_equal(v.register_map, 4);
    assert_int_equal(v.serial[5], 0x1005);
}

static void events_from_registers_sorted(void **state)
{
    (void)state;
    fake_bms_init(&g_fake, 16);
    g_fake.regs[250] = 0x0001; /* an older record in a later slot */
    g_fake.regs[251] = 0x03B9;
    bms_events_t e;
    assert_int_equal(bms_decode_event_regs(&e, &g_fake.regs[200], 98, 9), TB_OK);
    assert_int_equal(e.count, 3);
    assert_int_equal(e.ev[0].timestamp_s, 0xB90001);
    assert_int_equal(e.ev[0].id, 0x03);
    assert_int_equal(e.ev[1].timestamp_s, 0xB94E2B);
    assert_int_equal(e.ev[2].id, 0x62);
    assert_string_equal(bms_json_event_name(0x03), "Over-voltage cutoff");
    assert_int_equal(bms_event_class(0x03), BMS_EVENT_FAULT);
    assert_int_equal(bms_event_class(0x37), BMS_EVENT_WARNING);
    assert_int_equal(bms_event_class(0x61), BMS_EVENT_INFO);
    assert_int_equal(bms_event_class(0xF0), BMS_EVENT_UNKNOWN);
    assert_string_equal(bms_json_event_name(0xEE), "Unknown event");
}

static void snapshot_helpers(void **state)
{
    (void)state;
    bms_snapshot_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(bms_series_cells(&s), 0);
    assert_false(bms_snapshot_complete(&s));
    s.settings.valid = true;
    s.settings.series_cells = 8;
    assert_int_equal(bms_series_cells(&s), 8);
    s.live.valid = true;
    s.live.cell_count = 16;
    assert_int_equal(bms_series_cells(&s), 16);
    assert_true(bms_snapshot_complete(&s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(live_14s_top_aligned),
        cmocka_unit_test(live_rejects_implausible),
        cmocka_unit_test(stats_settings_version),
        cmocka_unit_test(events_from_registers_sorted),
        cmocka_unit_test(snapshot_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
