/* Snapshot decoding and the register map on the target, from the register image of the test
 * double tests/unit/support/fake_bms.c (the host's tests/unit/test_bms.c uses the same image). */
#include <math.h>
#include <string.h>

#include "core/bms.h"
#include "core/tb_regs.h"
#include "fake_bms.h"
#include "tests.h"

static fake_bms_t g_fake;

/* 14S as in the [C5] dump: registers 0 and 1 read 0, cells in 2..15, register 2 is cell 1. */
void t_bms_decode_14s(void)
{
    fake_bms_init(&g_fake, 14);
    bms_live_t l;
    memset(&l, 0, sizeof l);
    const char *why = NULL;
    TT_EQ(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 1234, &why), TB_OK);
    TT_CHECK(l.valid);
    TT_EQ(l.t_ms, 1234);
    TT_EQ(l.cell_count, 14);
    TT_NEAR(l.cell_v[0], 3.3000, 1e-5);
    TT_NEAR(l.cell_v[13], 3.3130, 1e-5);
    TT_NEAR(l.cell_v[14], 0.0, 0.0);
    TT_NEAR(l.min_cell_v, 3.300, 1e-5);
    TT_NEAR(l.max_cell_v, 3.313, 1e-5);
    TT_NEAR(l.pack_voltage_v, 3.3045 * 14, 1e-4);
    TT_NEAR(l.pack_current_a, -12.5, 1e-6);
    TT_NEAR(l.soc_pct, 80.587318, 1e-4);
    TT_NEAR(l.soh_pct, 98.0, 1e-4);
    TT_NEAR(l.temp_internal_c, 25.6, 1e-4);
    TT_CHECK(l.temp_ext_present[0]);
    TT_NEAR(l.temp_ext_c[0], 21.5, 1e-4);
    TT_CHECK(!l.temp_ext_present[1]);
    TT_EQ(l.status, BMS_STATUS_DISCHARGING);
    TT_STREQ(bms_status_name(l.status), "discharging");
    TT_EQ(l.balancing_needed, 3);
    TT_EQ(l.lifetime_s, 123456);
    TT_EQ(l.time_left_s, 7200);

    /* an implausible image is refused and leaves the block untouched */
    g_fake.regs[53] = 17;
    why = NULL;
    TT_EQ(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 99, &why), TB_ERR_RANGE);
    TT_CHECK(why != NULL);
    TT_EQ(l.t_ms, 1234);
    fake_bms_init(&g_fake, 14);
    fake_bms_set_float(&g_fake, 36, NAN);
    TT_EQ(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 99, &why), TB_ERR_RANGE);
    fake_bms_init(&g_fake, 14);
    g_fake.regs[45] = 0xFFFF; /* reserved SOH on old firmware: NaN, not a rejection */
    TT_EQ(bms_decode_live(&l, g_fake.regs, BMS_LIVE_COUNT, 100, &why), TB_OK);
    TT_CHECK(isnan(l.soh_pct));

    bms_snapshot_t s;
    memset(&s, 0, sizeof s);
    fake_bms_init(&g_fake, 14);
    TT_EQ(bms_decode_settings(&s.settings, &g_fake.regs[300], BMS_SETTINGS_COUNT, 6, NULL), TB_OK);
    TT_NEAR(s.settings.fully_charged_v, 3.65, 1e-6);
    TT_NEAR(s.settings.over_voltage_v, 3.8, 1e-6);
    TT_NEAR(s.settings.capacity_ah, 280.0, 1e-4);
    TT_NEAR(s.settings.low_temp_charge_c, -5.0, 0.0);
    TT_EQ(bms_decode_stats(&s.stats, &g_fake.regs[100], BMS_STATS_COUNT, 5, NULL), TB_OK);
    TT_EQ(s.stats.min_pack_temp_c, -5);
    TT_EQ(s.stats.max_pack_temp_c, 35);
    TT_EQ(bms_decode_version(&s.version, &g_fake.regs[500], BMS_VERSION_COUNT, 8, NULL), TB_OK);
    TT_EQ(s.version.fw_internal, 242);
    TT_CHECK(s.version.high_power);
    TT_EQ(bms_series_cells(&s), 14);
    TT_CHECK(!bms_snapshot_complete(&s));
    TT_EQ(bms_decode_live(&s.live, g_fake.regs, BMS_LIVE_COUNT, 9, NULL), TB_OK);
    TT_CHECK(bms_snapshot_complete(&s));

    bms_events_t e;
    TT_EQ(bms_decode_event_regs(&e, &g_fake.regs[200], 98, 9), TB_OK);
    TT_EQ(e.count, 2);
    TT_EQ(e.ev[0].timestamp_s, 0xB94E2B);
    TT_EQ(e.ev[0].id, 0x64);
    TT_EQ(bms_event_class(0x37), BMS_EVENT_WARNING);
}

void t_tb_regs(void)
{
    const tb_reg_t *ov = tb_reg_lookup("over_voltage_cutoff");
    if (!TT_CHECK(ov != NULL)) {
        return;
    }
    TT_CHECK(tb_reg_find(315) == ov);
    TT_CHECK(tb_reg_lookup("315") == ov);
    TT_CHECK(tb_reg_find(37) == NULL);
    for (size_t i = 0; i < tb_regs_count; i++) {
        const tb_reg_t *r = &tb_regs[i];
        tt_context(tb_reg_name(r));
        if (i > 0) { /* sorted, non-overlapping: tb_reg_find() relies on it */
            TT_CHECK(r->addr >= tb_regs[i - 1].addr + tb_regs[i - 1].words);
        }
        TT_CHECK(tb_reg_label(r) != NULL);
#if defined(TB_CORE_DOCS) && TB_CORE_DOCS == 0
        TT_STREQ(tb_reg_label(r), ""); /* the build knob really drops the documentation */
        TT_CHECK(tb_reg_values(r) == NULL || tb_reg_values(r)[0] == '\0');
#endif
    }
    tt_context(NULL);
    uint16_t w[2] = {0, 0};
    const char *why = NULL;
    TT_EQ(tb_reg_encode(ov, 3750.0, NULL, w, &why), TB_OK);
    TT_EQ(w[0], 3750);
    TT_NEAR(tb_reg_decode(ov, w), 3750.0, 1e-9);
    TT_EQ(tb_reg_encode(tb_reg_find(36), 50.0, NULL, w, &why), TB_ERR_READONLY);
    w[0] = 0x1EB8;
    w[1] = 0x425F;
    TT_NEAR(tb_reg_decode(tb_reg_lookup("pack_voltage"), w), 55.78, 1e-4);
    w[0] = 0xAA36;
    w[1] = 0x04CD;
    TT_NEAR(tb_reg_decode(tb_reg_lookup("state_of_charge"), w), 80.587318, 1e-6);
    w[0] = (uint16_t)(int16_t)-125;
    TT_NEAR(tb_reg_decode(tb_reg_lookup("bms_internal_temperature"), w), -12.5, 1e-6);

    fake_bms_init(&g_fake, 16);
    TT_EQ(tb_settings_check(&g_fake.regs[300], &why), TB_OK);
    g_fake.regs[316] = 3700; /* under-voltage above fully discharged */
    TT_EQ(tb_settings_check(&g_fake.regs[300], &why), TB_ERR_RANGE);
}
