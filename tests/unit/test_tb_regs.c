#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/tb_proto.h"
#include "core/tb_regs.h"

static void table_is_sorted_unique_and_consistent(void **state)
{
    (void)state;
    unsigned settings = 0, live = 0, events = 0;
    for (size_t i = 0; i < tb_regs_count; i++) {
        const tb_reg_t *r = &tb_regs[i];
        if (i > 0) {
            /* sorted and non-overlapping (a 2-word value owns the next address too) */
            const tb_reg_t *prev = &tb_regs[i - 1];
            assert_true(r->addr >= prev->addr + prev->words);
        }
        for (size_t j = i + 1; j < tb_regs_count; j++) {
            if (strcmp(tb_reg_name(r), tb_reg_name(&tb_regs[j])) == 0) {
                fail_msg("duplicate name %s", tb_reg_name(r));
            }
        }
        assert_true(r->words == 1 || r->words == 2);
        assert_true(tb_reg_scale(r) > 0.0f);
        if (r->flags & TB_REGF_WRITABLE) {
            assert_true(r->addr >= 300 && r->addr + r->words - 1 <= 399);
        }
        if (r->flags & TB_REGF_RANGE) {
            assert_true(tb_reg_min(r) <= tb_reg_max(r));
        }
        assert_ptr_equal(tb_reg_find(r->addr), r);
        assert_ptr_equal(tb_reg_lookup(tb_reg_name(r)), r);
        /* the decimals kept with each scale: the first d with scale * 10^d >= 0.999 (floats: 3) */
        unsigned d = 0;
        for (float s = tb_reg_scale(r); s < 0.999f && d < 9u; s *= 10.0f) {
            d++;
        }
        assert_int_equal(tb_reg_decimals(r), r->type == TB_T_FLOAT32 ? 3u : d);
        /* a value description wherever the row says it has one */
        assert_true(!r->has_values || (tb_reg_values(r) != NULL && tb_reg_values(r)[0] != '\0'));
        settings += r->group == TB_GRP_SETTINGS;
        live += r->group == TB_GRP_LIVE;
        events += r->group == TB_GRP_EVENTS;
    }
    assert_int_equal(events, 49);
    assert_int_equal(settings, 37); /* 300-343 minus reserved 302, 309, 313 (2nd word), 324-327 */
    assert_true(live >= 30);
    assert_null(tb_reg_find(16));  /* reserved */
    assert_null(tb_reg_find(37));  /* second word of the pack voltage */
    assert_null(tb_reg_lookup("no_such_register"));
    assert_ptr_equal(tb_reg_lookup("315"), tb_reg_find(315));
    assert_null(tb_reg_lookup("99999"));
    assert_null(tb_reg_lookup(""));
}

/* Every register type and scale decodes to the document's physical value. */
static void decode_every_type(void **state)
{
    (void)state;
    uint16_t w[2];
    w[0] = 0x9740; /* 38720 x 0.1 mV */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("cell_voltage_slot_3"), w), 3872.0, 1e-6);
    w[0] = 0x1EB8; w[1] = 0x425F; /* float low word first */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("pack_voltage"), w), 55.78, 1e-4);
    w[0] = 0xAA36; w[1] = 0x04CD; /* UINT32 x 1e-6 % */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("state_of_charge"), w), 80.587318, 1e-6);
    w[0] = 0x8000; /* INT16: -3276.8 degC means "no sensor" */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("ext_temp_sensor_1"), w), -3276.8, 1e-6);
    w[0] = (uint16_t)(int16_t)-125;
    assert_float_equal(tb_reg_decode(tb_reg_lookup("bms_internal_temperature"), w), -12.5, 1e-6);
    w[0] = 49000; /* x 0.002 % */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("state_of_health"), w), 98.0, 1e-6);
    w[0] = 28000; /* x 0.01 Ah */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("battery_capacity"), w), 280.0, 1e-6);
    w[0] = 1234; /* statistic x 0.1 A */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("max_discharge_current_seen"), w), 123.4, 1e-6);
    w[0] = (uint16_t)(int16_t)-20;
    assert_float_equal(tb_reg_decode(tb_reg_lookup("low_temperature_charger_cutoff"), w), -20.0, 1e-9);
    w[0] = 0xAB05; /* ENUM8_LSB: only the low byte */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("automatic_recovery"), w), 5.0, 1e-9);
    w[0] = 0x0301; /* UINT8x2 read as the whole register */
    assert_int_equal(tb_reg_raw_int(tb_reg_lookup("public_firmware_version_and_flags"), w), 0x0301);
    w[0] = 0x86A0; w[1] = 0x0001; /* 100000 pulses, low word first */
    assert_float_equal(tb_reg_decode(tb_reg_lookup("pulses_per_unit"), w), 100000.0, 1e-9);
    w[0] = 0x4E2B; w[1] = 0x64B9; /* event slot: id in the high byte */
    assert_float_equal(tb_reg_decode(tb_reg_find(200), w), 100.0, 1e-9);
    assert_int_equal(tb_reg_raw_int(tb_reg_find(200), w), 0xB94E2B);
    assert_int_equal(tb_reg_decimals(tb_reg_lookup("cell_voltage_slot_1")), 1);
    assert_int_equal(tb_reg_decimals(tb_reg_lookup("state_of_charge")), 6);
    assert_int_equal(tb_reg_decimals(tb_reg_lookup("over_voltage_cutoff")), 0);
}

static void encode_validates_before_writing(void **state)
{
    (void)state;
    uint16_t w[2] = {0xDEAD, 0xBEEF};
    const char *why;
    const tb_reg_t *ov = tb_reg_lookup("over_voltage_cutoff");
    assert_int_equal(tb_reg_encode(ov, 3800, NULL, w, &why), TB_OK);
    assert_int_equal(w[0], 3800);
    w[0] = 0xDEAD;
    assert_int_equal(tb_reg_encode(ov, 4600, NULL, w, &why), TB_ERR_RANGE);
    assert_string_equal(why, "outside the documented range");
    assert_int_equal(w[0], 0xDEAD); /* untouched */
    assert_int_equal(tb_reg_encode(ov, 3800.5, NULL, w, &why), TB_ERR_RANGE);
    assert_string_equal(why, "not a multiple of the register's resolution");
    assert_int_equal(tb_reg_encode(ov, NAN, NULL, w, &why), TB_ERR_RANGE);
    assert_int_equal(tb_reg_encode(tb_reg_lookup("pack_voltage"), 50, NULL, w, &why), TB_ERR_READONLY);
    assert_int_equal(tb_reg_encode(tb_reg_lookup("number_of_detected_cells"), 8, NULL, w, &why), TB_ERR_READONLY);
    assert_int_equal(w[0], 0xDEAD);

    /* scaled and signed registers */
    assert_int_equal(tb_reg_encode(tb_reg_lookup("battery_capacity"), 280.5, NULL, w, &why), TB_OK);
    assert_int_equal(w[0], 28050);
    assert_int_equal(tb_reg_encode(tb_reg_lookup("low_temperature_charger_cutoff"), -10, NULL, w, &why), TB_OK);
    assert_int_equal(w[0], (uint16_t)(int16_t)-10);
    assert_int_equal(tb_reg_encode(tb_reg_lookup("low_temperature_charger_cutoff"), -41, NULL, w, &why), TB_ERR_RANGE);
    assert_int_equal(tb_reg_encode(tb_reg_lookup("state_of_charge_setting"), 50.0, NULL, w, &why), TB_OK);
    assert_int_equal(w[0], 25000);
    assert_int_equal(tb_reg_encode(tb_reg_lookup("pulses_per_unit"), 100000, NULL, w, &why), TB_OK);
    assert_int_equal(w[0], 0x86A0);
    assert_int_equal(w[1], 0x0001);

    /* the BMS's own (board-dependent) limits narrow the documented range */
    tb_settings_limits_t lim;
    memset(&lim, 0, sizeof lim);
    lim.valid = true;
    for (unsigned i = 0; i < BMS_SETTINGS_COUNT; i++) {
        lim.min[i] = 0;
        lim.max[i] = 0xFFFF;
    }
    lim.min[318 - 300] = 1;
    lim.max[318 - 300] = 90; /* a 150 A board with these switches */
    const tb_reg_t *coc = tb_reg_lookup("charge_over_current_cutoff");
    assert_int_equal(tb_reg_encode(coc, 100, NULL, w, &why), TB_OK);
    assert_int_equal(tb_reg_encode(coc, 100, &lim, w, &why), TB_ERR_RANGE);
    assert_string_equal(why, "outside the range the BMS reports for this board");
    assert_int_equal(tb_reg_encode(coc, 90, &lim, w, &why), TB_OK);
    lim.min[320 - 300] = (uint16_t)(int16_t)-30;
    lim.max[320 - 300] = 5;
    assert_int_equal(tb_reg_encode(tb_reg_lookup("low_temperature_charger_cutoff"), -35, &lim, w, &why), TB_ERR_RANGE);
    assert_int_equal(tb_reg_encode(tb_reg_lookup("low_temperature_charger_cutoff"), -25, &lim, w, &why), TB_OK);
}

static void settings_consistency(void **state)
{
    (void)state;
    uint16_t raw[BMS_SETTINGS_COUNT] = {0};
    raw[0] = 3650;  /* 300 fully charged */
    raw[1] = 3000;  /* 301 fully discharged */
    raw[3] = 3400;  /* 303 early balancing */
    raw[5] = 150;   /* 305 peak discharge */
    raw[7] = 16;    /* 307 cells */
    raw[15] = 3800; /* 315 OV */
    raw[16] = 2800; /* 316 UV */
    raw[17] = 100;  /* 317 discharge OC */
    raw[30] = 0x0501;
    const char *why;
    assert_int_equal(tb_settings_check(raw, &why), TB_OK);
    raw[15] = 3655; /* OV only 5 mV above fully charged */
    assert_int_equal(tb_settings_check(raw, &why), TB_ERR_RANGE);
    assert_non_null(strstr(why, "over_voltage_cutoff"));
    raw[15] = 3800;
    raw[16] = 2995; /* UV too close to fully discharged */
    assert_int_equal(tb_settings_check(raw, &why), TB_ERR_RANGE);
    raw[16] = 2800;
    raw[5] = 90; /* peak below the discharge over-current cut-off */
    assert_int_equal(tb_settings_check(raw, &why), TB_ERR_RANGE);
    raw[5] = 0; /* 0 = unset on older firmware: accepted */
    assert_int_equal(tb_settings_check(raw, &why), TB_OK);
    raw[30] = 0x2001; /* timeout 32 s */
    assert_int_equal(tb_settings_check(raw, &why), TB_ERR_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_is_sorted_unique_and_consistent),
        cmocka_unit_test(decode_every_type),
        cmocka_unit_test(encode_validates_before_writing),
        cmocka_unit_test(settings_consistency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
