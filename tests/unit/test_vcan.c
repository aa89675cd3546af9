/* core/vcan: golden vectors (Victron's example, real captures, our own), exhaustive encode/decode
 * round trips over every raw value of every numeric field, clamping at every limit, the 0x35A
 * pair encoding, the known-brand check and the JSON rendering. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/vcan_json.h"
#include "core/vcan.h"
#include "tests/vectors/vcan_vectors.h"

static bool feq(double a, double b, double tol)
{
    if (isnan(a) || isnan(b)) {
        return isnan(a) && isnan(b);
    }
    return fabs(a - b) <= tol;
}

#define ASSERT_FEQ(a, b, tol, name)                                                                     \
    do {                                                                                                \
        if (!feq((double)(a), (double)(b), (tol))) {                                                    \
            fail_msg("%s: %s = %.6f, expected %.6f", (name), #a, (double)(a), (double)(b));             \
        }                                                                                               \
    } while (0)

static void assert_msg_equal(const vcan_msg_t *got, const vcan_msg_t *exp, const char *name)
{
    const double t = VCAN_VECTOR_TOL;
    if (got->id != exp->id) {
        fail_msg("%s: id 0x%X, expected 0x%X", name, got->id, exp->id);
    }
    switch (exp->id) {
    case VCAN_ID_LIMITS:
        ASSERT_FEQ(got->u.limits.cvl_v, exp->u.limits.cvl_v, t, name);
        ASSERT_FEQ(got->u.limits.ccl_a, exp->u.limits.ccl_a, t, name);
        ASSERT_FEQ(got->u.limits.dcl_a, exp->u.limits.dcl_a, t, name);
        ASSERT_FEQ(got->u.limits.dvl_v, exp->u.limits.dvl_v, t, name);
        break;
    case VCAN_ID_SOC:
        ASSERT_FEQ(got->u.soc.soc_pct, exp->u.soc.soc_pct, t, name);
        ASSERT_FEQ(got->u.soc.soh_pct, exp->u.soc.soh_pct, t, name);
        ASSERT_FEQ(got->u.soc.soc_hires_pct, exp->u.soc.soc_hires_pct, t, name);
        break;
    case VCAN_ID_BATTERY:
        ASSERT_FEQ(got->u.battery.voltage_v, exp->u.battery.voltage_v, t, name);
        ASSERT_FEQ(got->u.battery.current_a, exp->u.battery.current_a, t, name);
        ASSERT_FEQ(got->u.battery.temp_c, exp->u.battery.temp_c, t, name);
        break;
    case VCAN_ID_ALARMS:
        for (unsigned c = 0; c < ALARM_COUNT; c++) {
            if (got->u.alarms.levels.level[c] != exp->u.alarms.levels.level[c]) {
                fail_msg("%s: %s is %s, expected %s", name, vcan_alarm_name(c),
                         vcan_level_name(got->u.alarms.levels.level[c]), vcan_level_name(exp->u.alarms.levels.level[c]));
            }
        }
        assert_int_equal(got->u.alarms.status, exp->u.alarms.status);
        break;
    case VCAN_ID_INFO:
        assert_int_equal(got->u.info.model_id, exp->u.info.model_id);
        assert_int_equal(got->u.info.fw_major, exp->u.info.fw_major);
        assert_int_equal(got->u.info.fw_minor, exp->u.info.fw_minor);
        ASSERT_FEQ(got->u.info.capacity_ah, exp->u.info.capacity_ah, t, name);
        assert_int_equal(got->u.info.reserved, exp->u.info.reserved);
        break;
    case VCAN_ID_MODULES:
        assert_int_equal(got->u.modules.online, exp->u.modules.online);
        assert_int_equal(got->u.modules.blocking_charge, exp->u.modules.blocking_charge);
        assert_int_equal(got->u.modules.blocking_discharge, exp->u.modules.blocking_discharge);
        assert_int_equal(got->u.modules.offline, exp->u.modules.offline);
        break;
    case VCAN_ID_CELLS:
        ASSERT_FEQ(got->u.cells.min_cell_v, exp->u.cells.min_cell_v, t, name);
        ASSERT_FEQ(got->u.cells.max_cell_v, exp->u.cells.max_cell_v, t, name);
        ASSERT_FEQ(got->u.cells.min_temp_c, exp->u.cells.min_temp_c, t, name);
        ASSERT_FEQ(got->u.cells.max_temp_c, exp->u.cells.max_temp_c, t, name);
        break;
    case VCAN_ID_ENERGY:
        ASSERT_FEQ(got->u.energy.in_wh, exp->u.energy.in_wh, t, name);
        ASSERT_FEQ(got->u.energy.out_wh, exp->u.energy.out_wh, t, name);
        break;
    case VCAN_ID_CAPACITY:
        ASSERT_FEQ(got->u.capacity.installed_ah, exp->u.capacity.installed_ah, t, name);
        break;
    case VCAN_ID_GX_INVERTER:
        assert_int_equal(got->u.gx_id.signature_ok, exp->u.gx_id.signature_ok);
        assert_string_equal(got->u.gx_id.tag, exp->u.gx_id.tag);
        break;
    case VCAN_ID_GX_KEEPALIVE:
    case VCAN_ID_GX_306:
        assert_int_equal(got->u.raw.dlc, exp->u.raw.dlc);
        assert_memory_equal(got->u.raw.data, exp->u.raw.data, exp->u.raw.dlc);
        break;
    default:
        assert_string_equal(got->u.text.text, exp->u.text.text);
        break;
    }
}

static void assert_frame_equal(const can_frame_t *got, const can_frame_t *exp, const char *name)
{
    if (got->id != exp->id || got->dlc != exp->dlc || got->flags != exp->flags ||
        memcmp(got->data, exp->data, CAN_FRAME_MAX_DLC) != 0) {
        fail_msg("%s: got %03X [%u] %02X %02X %02X %02X %02X %02X %02X %02X, expected %03X [%u] %02X %02X %02X %02X %02X %02X "
                 "%02X %02X",
                 name, got->id, got->dlc, got->data[0], got->data[1], got->data[2], got->data[3], got->data[4], got->data[5],
                 got->data[6], got->data[7], exp->id, exp->dlc, exp->data[0], exp->data[1], exp->data[2], exp->data[3],
                 exp->data[4], exp->data[5], exp->data[6], exp->data[7]);
    }
}

/* ---- golden vectors ---------------------------------------------------------------------- */

static void golden_decode(void **state)
{
    (void)state;
    assert_true(vcan_decode_vector_count >= 30u);
    for (size_t i = 0; i < vcan_decode_vector_count; i++) {
        const vcan_decode_vector_t *v = &vcan_decode_vectors[i];
        vcan_msg_t m;
        memset(&m, 0xA5, sizeof m);
        int rc = vcan_decode(&v->frame, &m);
        if (rc != v->rc) {
            fail_msg("%s: vcan_decode returned %d, expected %d", v->name, rc, v->rc);
        }
        if (rc == TB_OK) {
            assert_msg_equal(&m, &v->decoded, v->name);
        }
    }
}

static void golden_encode_exact(void **state)
{
    (void)state;
    size_t exact = 0;
    for (size_t i = 0; i < vcan_decode_vector_count; i++) {
        const vcan_decode_vector_t *v = &vcan_decode_vectors[i];
        if (!v->encode_exact) {
            continue;
        }
        can_frame_t f;
        int rc = vcan_encode(&f, &v->decoded);
        if (rc != 8) {
            fail_msg("%s: vcan_encode returned %d", v->name, rc);
        }
        assert_frame_equal(&f, &v->frame, v->name);
        exact++;
    }
    assert_true(exact >= 20u);
}

static void golden_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < vcan_encode_vector_count; i++) {
        const vcan_encode_vector_t *v = &vcan_encode_vectors[i];
        can_frame_t f;
        memset(&f, 0x5A, sizeof f);
        can_frame_t untouched = f;
        int rc = vcan_encode(&f, &v->in);
        if (rc != v->rc) {
            fail_msg("%s: vcan_encode returned %d, expected %d", v->name, rc, v->rc);
        }
        if (rc >= 0) {
            assert_frame_equal(&f, &v->frame, v->name);
        } else {
            /* refused: output untouched */
            assert_memory_equal(&f, &untouched, sizeof f);
        }
    }
}

/* Every frame the gateway sends is covered by at least one golden vector. */
static void every_frame_has_a_vector(void **state)
{
    (void)state;
    static const uint16_t ids[] = {0x351, 0x355, 0x356, 0x35A, 0x35E, 0x35F, 0x370, 0x371, 0x372, 0x373, 0x374,
                                   0x375, 0x376, 0x377, 0x378, 0x379, 0x380, 0x381, 0x382};
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        bool found = false;
        for (size_t i = 0; i < vcan_decode_vector_count && !found; i++) {
            found = vcan_decode_vectors[i].frame.id == ids[k] && vcan_decode_vectors[i].rc == TB_OK;
        }
        for (size_t i = 0; i < vcan_encode_vector_count && !found; i++) {
            found = vcan_encode_vectors[i].in.id == ids[k] && vcan_encode_vectors[i].rc > 0;
        }
        if (!found && (ids[k] == 0x371 || ids[k] == 0x375 || ids[k] == 0x377 || ids[k] == 0x380 || ids[k] == 0x381)) {
            /* text frames share one codec; check the id is accepted at least */
            can_frame_t f;
            found = vcan_encode_text(&f, ids[k], "x") == 8 && f.id == ids[k];
        }
        if (!found) {
            fail_msg("no vector for 0x%03X", ids[k]);
        }
        assert_true(vcan_is_bms_tx_id(ids[k]));
    }
}

/* ---- exhaustive raw round trips ---------------------------------------------------------- */

static void put16(can_frame_t *f, unsigned off, uint32_t raw)
{
    f->data[off] = (uint8_t)(raw & 0xFFu);
    f->data[off + 1u] = (uint8_t)(raw >> 8);
}

static uint32_t get16(const can_frame_t *f, unsigned off)
{
    return (uint32_t)f->data[off] | ((uint32_t)f->data[off + 1u] << 8);
}

/* Frame with plausible defaults in every field, `raw` in the field at `off`. */
static can_frame_t base_frame(uint16_t id)
{
    can_frame_t f;
    memset(&f, 0, sizeof f);
    f.id = id;
    f.dlc = 8;
    switch (id) {
    case 0x351: put16(&f, 0, 560); put16(&f, 2, 500); put16(&f, 4, 1000); put16(&f, 6, 448); break;
    case 0x355: put16(&f, 0, 50); put16(&f, 2, 99); put16(&f, 4, 5000); break;
    case 0x356: put16(&f, 0, 5321); put16(&f, 2, 0xFF85); put16(&f, 4, 245); break;
    case 0x35F: put16(&f, 0, 0); f.data[2] = 1; f.data[3] = 0xF2; put16(&f, 4, 280); break;
    case 0x372: put16(&f, 0, 1); break;
    case 0x373: put16(&f, 0, 3301); put16(&f, 2, 3342); put16(&f, 4, 295); put16(&f, 6, 298); break;
    case 0x379: put16(&f, 0, 280); break;
    default: break;
    }
    return f;
}

/* What the encoder must produce for a raw value it cannot reproduce (clamp or not-supported). */
typedef uint32_t (*expect_fn)(uint32_t raw);

static uint32_t same(uint32_t raw) { return raw; }
static uint32_t pos_s16(uint32_t raw) { return raw >= 0x8000u ? 0u : raw; }         /* CCL/DCL >= 0 */
static uint32_t pct(uint32_t raw) { return raw > 100u ? 100u : raw; }                /* SOC */
static uint32_t soh(uint32_t raw) { return raw == 0xFFFFu ? raw : (raw > 100u ? 100u : raw); }
static uint32_t hires(uint32_t raw) { return raw > 10000u ? 10000u : raw; }
static uint32_t cell(uint32_t raw) { return raw == 0u ? 0xFFFFu : raw; }             /* 0 = n/s -> FFFF */

static void roundtrip_field(uint16_t id, unsigned off, expect_fn expect)
{
    for (uint32_t raw = 0; raw <= 0xFFFFu; raw++) {
        can_frame_t f = base_frame(id);
        put16(&f, off, raw);
        vcan_msg_t m;
        assert_int_equal(vcan_decode(&f, &m), TB_OK);
        can_frame_t g;
        int rc = vcan_encode(&g, &m);
        if (rc != 8) {
            fail_msg("0x%03X raw %u at byte %u: encode returned %d", id, raw, off, rc);
        }
        uint32_t want = expect(raw);
        if (get16(&g, off) != want) {
            fail_msg("0x%03X raw 0x%04X at byte %u: re-encoded as 0x%04X, expected 0x%04X", id, raw, off, get16(&g, off), want);
        }
        /* the other fields are untouched by the round trip */
        for (unsigned b = 0; b < 8; b++) {
            if (b != off && b != off + 1u && g.data[b] != f.data[b] && !(id == 0x355 && b >= 4u)) {
                fail_msg("0x%03X raw 0x%04X: byte %u changed", id, raw, b);
            }
        }
    }
}

static void roundtrip_every_raw_value(void **state)
{
    (void)state;
    roundtrip_field(0x351, 0, same);    /* CVL un16 */
    roundtrip_field(0x351, 2, pos_s16); /* CCL sn16, sent >= 0 */
    roundtrip_field(0x351, 4, pos_s16); /* DCL */
    roundtrip_field(0x351, 6, same);    /* DVL un16 */
    roundtrip_field(0x355, 0, pct);
    roundtrip_field(0x355, 2, soh);
    roundtrip_field(0x355, 4, hires);
    roundtrip_field(0x356, 0, same);    /* voltage: every sn16 */
    roundtrip_field(0x356, 2, same);    /* current */
    roundtrip_field(0x356, 4, same);    /* temperature: 0x8000 <-> NaN */
    roundtrip_field(0x35F, 0, same);    /* model id */
    roundtrip_field(0x35F, 4, same);    /* capacity */
    roundtrip_field(0x372, 0, same);
    roundtrip_field(0x372, 2, same);
    roundtrip_field(0x372, 4, same);
    roundtrip_field(0x372, 6, same);
    roundtrip_field(0x373, 0, cell);
    roundtrip_field(0x373, 2, cell);
    roundtrip_field(0x373, 4, cell);
    roundtrip_field(0x373, 6, cell);
    roundtrip_field(0x379, 0, same);
}

static void roundtrip_firmware_bytes(void **state)
{
    (void)state;
    for (unsigned maj = 0; maj < 256; maj++) {
        for (unsigned min = 0; min < 256; min += 17) {
            vcan_info_t v = {0x1234, (uint8_t)maj, (uint8_t)min, 100.0f, 0};
            can_frame_t f;
            assert_int_equal(vcan_encode_info(&f, &v), 8);
            assert_int_equal(f.data[2], maj); /* big-endian: major first */
            assert_int_equal(f.data[3], min);
            vcan_msg_t m;
            assert_int_equal(vcan_decode(&f, &m), TB_OK);
            assert_int_equal(m.u.info.fw_major, maj);
            assert_int_equal(m.u.info.fw_minor, min);
        }
    }
}

static void roundtrip_energy(void **state)
{
    (void)state;
    /* 32-bit counters: a multiplicative walk through the range plus the edges. */
    uint32_t vals[] = {0u, 1u, 2u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFEu, 0xFFFFFFFFu};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        vcan_energy_t e = {(double)vals[k] * 100.0, (double)(0xFFFFFFFFu - vals[k]) * 100.0};
        can_frame_t f;
        assert_int_equal(vcan_encode_energy(&f, &e), 8);
        vcan_msg_t m;
        assert_int_equal(vcan_decode(&f, &m), TB_OK);
        assert_true(m.u.energy.in_wh == e.in_wh);
        assert_true(m.u.energy.out_wh == e.out_wh);
    }
    for (uint64_t u = 1; u <= 0xFFFFFFFFull; u = u * 3u + 1u) {
        vcan_energy_t e = {(double)u * 100.0, 0.0};
        can_frame_t f;
        assert_int_equal(vcan_encode_energy(&f, &e), 8);
        vcan_msg_t m;
        assert_int_equal(vcan_decode(&f, &m), TB_OK);
        assert_true(m.u.energy.in_wh == e.in_wh);
    }
}

/* Physical values across each field's range come back within half a resolution step, and values
 * just outside the range clamp to the edge. */
static void value_sweeps_and_limits(void **state)
{
    (void)state;
    for (double v0 = -10.0; v0 <= 7000.0; v0 += 0.37) {
        double v = (double)(float)v0;
        vcan_limits_t l = {(float)v, (float)(v / 2.0 - 5.0), (float)(v / 2.0 - 5.0), (float)v};
        can_frame_t f;
        assert_int_equal(vcan_encode_limits(&f, &l), 8);
        vcan_msg_t m;
        assert_int_equal(vcan_decode(&f, &m), TB_OK);
        double cvl = v < 0.0 ? 0.0 : (v > 6553.5 ? 6553.5 : v);
        double cur = (double)l.ccl_a;
        cur = cur < 0.0 ? 0.0 : (cur > 3276.7 ? 3276.7 : cur);
        ASSERT_FEQ(m.u.limits.cvl_v, cvl, 0.0501, "cvl sweep");
        ASSERT_FEQ(m.u.limits.dvl_v, cvl, 0.0501, "dvl sweep");
        ASSERT_FEQ(m.u.limits.ccl_a, cur, 0.0501, "ccl sweep");
        ASSERT_FEQ(m.u.limits.dcl_a, cur, 0.0501, "dcl sweep");
        assert_true(m.u.limits.ccl_a >= 0.0f && m.u.limits.dcl_a >= 0.0f);
    }
    for (double v0 = -400.0; v0 <= 400.0; v0 += 0.013) {
        vcan_battery_t b = {(float)v0, (float)(v0 * 10.0), (float)(v0 * 10.0)};
        can_frame_t f;
        assert_int_equal(vcan_encode_battery(&f, &b), 8);
        vcan_msg_t m;
        assert_int_equal(vcan_decode(&f, &m), TB_OK);
        double bv = (double)b.voltage_v, bi = (double)b.current_a, bt = (double)b.temp_c;
        double volt = bv < -327.68 ? -327.68 : (bv > 327.67 ? 327.67 : bv);
        double cur = bi < -3276.8 ? -3276.8 : (bi > 3276.7 ? 3276.7 : bi);
        double tmp = bt < -3276.7 ? -3276.7 : (bt > 3276.7 ? 3276.7 : bt);
        ASSERT_FEQ(m.u.battery.voltage_v, volt, 0.0051, "voltage sweep");
        ASSERT_FEQ(m.u.battery.current_a, cur, 0.0501, "current sweep");
        ASSERT_FEQ(m.u.battery.temp_c, tmp, 0.0501, "temperature sweep");
        assert_false(isnan(m.u.battery.temp_c)); /* a real temperature never reads as n/s */
    }
    for (double v0 = -1.0; v0 <= 70.0; v0 += 0.0007) {
        double v = (double)(float)v0;
        vcan_cells_t c = {(float)v, (float)v, (float)(v * 10.0 - 300.0), (float)(v * 1000.0)};
        can_frame_t f;
        assert_int_equal(vcan_encode_cells(&f, &c), 8);
        vcan_msg_t m;
        assert_int_equal(vcan_decode(&f, &m), TB_OK);
        double cv = v < 0.001 ? 0.001 : (v > 65.534 ? 65.534 : v);
        ASSERT_FEQ(m.u.cells.min_cell_v, cv, 0.00051, "cell sweep");
        double t1 = (double)c.min_temp_c;
        t1 = t1 < -272.0 ? -272.0 : t1;
        ASSERT_FEQ(m.u.cells.min_temp_c, t1, 0.501, "cell temp sweep");
        double t2 = (double)c.max_temp_c > 65261.0 ? 65261.0 : (double)c.max_temp_c;
        t2 = t2 < -272.0 ? -272.0 : t2;
        ASSERT_FEQ(m.u.cells.max_temp_c, t2, 0.501, "cell temp sweep (high)");
    }
    for (double v0 = -5.0; v0 <= 110.0; v0 += 0.003) {
        double v = (double)(float)v0;
        vcan_soc_t s = {(float)v, (float)v, (float)v};
        can_frame_t f;
        assert_int_equal(vcan_encode_soc(&f, &s), 8);
        vcan_msg_t m;
        assert_int_equal(vcan_decode(&f, &m), TB_OK);
        double p = v < 0.0 ? 0.0 : (v > 100.0 ? 100.0 : v);
        ASSERT_FEQ(m.u.soc.soc_pct, p, 0.501, "soc sweep");
        ASSERT_FEQ(m.u.soc.soh_pct, p, 0.501, "soh sweep");
        ASSERT_FEQ(m.u.soc.soc_hires_pct, p, 0.0051, "hires sweep");
        assert_true(m.u.soc.soc_pct <= 100.0f);
    }
}

/* ---- 0x35A -------------------------------------------------------------------------------- */

static void alarm_levels_roundtrip(void **state)
{
    (void)state;
    static const uint8_t levels[] = {ALARM_LEVEL_OK, ALARM_LEVEL_WARNING, ALARM_LEVEL_ALARM, ALARM_LEVEL_UNSUPPORTED};
    static const vcan_sys_status_t st[] = {VCAN_STATUS_UNSUPPORTED, VCAN_STATUS_ONLINE, VCAN_STATUS_OFFLINE};
    /* each category alone at each level, others OK */
    for (unsigned c = 0; c < ALARM_COUNT; c++) {
        for (unsigned l = 0; l < 4; l++) {
            for (unsigned s = 0; s < 3; s++) {
                alarm_set_t set;
                memset(&set, ALARM_LEVEL_OK, sizeof set);
                set.level[c] = levels[l];
                can_frame_t f;
                assert_int_equal(vcan_encode_alarms(&f, &set, st[s]), 8);
                /* pair positions: byte c/4 (alarm) and 4 + c/4 (warning), bits 2*(c%4) */
                unsigned ap = (f.data[c / 4] >> (2 * (c % 4))) & 3u;
                unsigned wp = (f.data[4 + c / 4] >> (2 * (c % 4))) & 3u;
                static const unsigned want_a[] = {2, 2, 1, 0};
                static const unsigned want_w[] = {2, 1, 1, 0};
                assert_int_equal(ap, want_a[l]);
                assert_int_equal(wp, want_w[l]);
                unsigned sp = (f.data[7] >> 2) & 3u;
                static const unsigned want_s[] = {0, 2, 1};
                assert_int_equal(sp, want_s[s]);
                vcan_msg_t m;
                assert_int_equal(vcan_decode(&f, &m), TB_OK);
                assert_memory_equal(&m.u.alarms.levels, &set, sizeof set);
                assert_int_equal(m.u.alarms.status, st[s]);
            }
        }
    }
    /* pseudo-random combinations */
    uint32_t x = 12345u;
    for (unsigned n = 0; n < 20000; n++) {
        alarm_set_t set;
        for (unsigned c = 0; c < ALARM_COUNT; c++) {
            x = x * 1103515245u + 12345u;
            set.level[c] = levels[(x >> 16) & 3u];
        }
        can_frame_t f;
        assert_int_equal(vcan_encode_alarms(&f, &set, VCAN_STATUS_ONLINE), 8);
        vcan_msg_t m;
        assert_int_equal(vcan_decode(&f, &m), TB_OK);
        assert_memory_equal(&m.u.alarms.levels, &set, sizeof set);
    }
}

/* A healthy battery that supports everything sends 0xAA in every byte; never 00 or 11 for OK. */
static void alarm_healthy_is_aa(void **state)
{
    (void)state;
    alarm_set_t set;
    memset(&set, ALARM_LEVEL_OK, sizeof set);
    can_frame_t f;
    assert_int_equal(vcan_encode_alarms(&f, &set, VCAN_STATUS_ONLINE), 8);
    for (unsigned b = 0; b < 8; b++) {
        assert_int_equal(f.data[b], 0xAA);
    }
    /* every 2-bit pair in every byte of any encoding is 00, 01 or 10 - never 11 */
    uint32_t x = 99u;
    for (unsigned n = 0; n < 5000; n++) {
        for (unsigned c = 0; c < ALARM_COUNT; c++) {
            x = x * 1664525u + 1013904223u;
            set.level[c] = (uint8_t)((x >> 20) & 3u);
        }
        assert_int_equal(vcan_encode_alarms(&f, &set, (vcan_sys_status_t)(n % 3u)), 8);
        for (unsigned b = 0; b < 8; b++) {
            for (unsigned p = 0; p < 4; p++) {
                assert_int_not_equal((f.data[b] >> (2 * p)) & 3u, 3u);
            }
        }
    }
    assert_int_equal(vcan_encode_alarms(&f, &set, (vcan_sys_status_t)7), TB_ERR_RANGE);
}

/* ---- text frames -------------------------------------------------------------------------- */

static void text_frames(void **state)
{
    (void)state;
    can_frame_t f;
    assert_int_equal(vcan_encode_text(&f, 0x351, "x"), TB_ERR_ARG); /* not a text id */
    assert_int_equal(vcan_encode_text(&f, 0x35E, NULL), TB_ERR_ARG);
    assert_int_equal(vcan_encode_text(&f, 0x381, ""), 8);
    for (unsigned b = 0; b < 8; b++) {
        assert_int_equal(f.data[b], 0);
    }
    /* every printable character survives, in every position */
    for (unsigned ch = 0x20; ch <= 0x7E; ch++) {
        for (unsigned pos = 0; pos < 8; pos++) {
            char s[9] = "abcdefgh";
            s[pos] = (char)ch;
            assert_int_equal(vcan_encode_text(&f, 0x370, s), 8);
            vcan_msg_t m;
            assert_int_equal(vcan_decode(&f, &m), TB_OK);
            assert_string_equal(m.u.text.text, s);
        }
    }
}

/* ---- decoder hygiene ---------------------------------------------------------------------- */

static void decoder_rejects(void **state)
{
    (void)state;
    can_frame_t f = base_frame(0x351);
    vcan_msg_t m;
    assert_int_equal(vcan_decode(NULL, &m), TB_ERR_ARG);
    assert_int_equal(vcan_decode(&f, NULL), TB_ERR_ARG);
    f.dlc = 9;
    assert_int_equal(vcan_decode(&f, &m), TB_ERR_FORMAT);
    f.dlc = 8;
    f.flags = CAN_FLAG_ERR;
    assert_int_equal(vcan_decode(&f, &m), TB_ERR_FORMAT);
    /* every 11-bit id outside the set is "not found", the set decodes */
    for (uint32_t id = 0; id <= 0x7FFu; id++) {
        can_frame_t g = base_frame((uint16_t)id);
        int rc = vcan_decode(&g, &m);
        if (vcan_id_name(id)) {
            assert_int_equal(rc, TB_OK);
        } else {
            assert_int_equal(rc, TB_ERR_NOTFOUND);
        }
    }
    /* any DLC 0..8 of any id gives a defined answer and never reads beyond the DLC */
    for (uint32_t id = 0x300; id <= 0x3FFu; id++) {
        for (uint8_t dlc = 0; dlc <= 8; dlc++) {
            can_frame_t g;
            memset(&g, 0xEE, sizeof g);
            g.id = id;
            g.flags = 0;
            g.dlc = dlc;
            int rc = vcan_decode(&g, &m);
            assert_true(rc == TB_OK || rc == TB_ERR_FORMAT || rc == TB_ERR_NOTFOUND);
        }
    }
}

static void id_classes(void **state)
{
    (void)state;
    assert_true(vcan_is_gx_id(0x305));
    assert_true(vcan_is_gx_id(0x306));
    assert_true(vcan_is_gx_id(0x307));
    assert_false(vcan_is_bms_tx_id(0x305));
    assert_false(vcan_is_bms_tx_id(0x306));
    assert_false(vcan_is_bms_tx_id(0x307));
    assert_false(vcan_is_bms_tx_id(0x359));
    assert_false(vcan_is_bms_tx_id(0x35C));
    assert_true(vcan_is_bms_tx_id(0x351));
    assert_string_equal(vcan_id_name(0x351), "limits");
    assert_null(vcan_id_name(0x800));
    assert_string_equal(vcan_level_name(9), "invalid");
    assert_string_equal(vcan_alarm_name(99), "?");
    can_frame_t f;
    vcan_msg_t m = {.id = 0x305};
    assert_int_equal(vcan_encode(&f, &m), TB_ERR_ARG);
    m.id = 0x306;
    assert_int_equal(vcan_encode(&f, &m), TB_ERR_ARG);
}

/* ---- brands ------------------------------------------------------------------------------- */

static void known_brands(void **state)
{
    (void)state;
    const char *brand = NULL;
    static const char *const refused[] = {"PYLON", "Pylontech", "pylon-tech", "BYD", "byd lvs", "LG", "LG RESU",
                                          "lg-chem", "DYNESS", "Dyness A48100", "PELIO", "Pelio_L", "FREEDOMWON",
                                          "Freedom Won", "Victron", "LYNX", "My PYLON", "PREMIUM", "MG Master"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (!vcan_is_known_brand(refused[i], &brand)) {
            fail_msg("\"%s\" should be refused", refused[i]);
        }
    }
    static const char *const allowed[] = {"TinyBMS", "", "DIY 16S", "Garage pack", "Solar48", "BLG", "HOME-LFP",
                                          "AB YD", "Energus"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (vcan_is_known_brand(allowed[i], &brand)) {
            fail_msg("\"%s\" should be allowed (matched %s)", allowed[i], brand);
        }
    }
    assert_true(vcan_is_known_brand("x byd", &brand));
    assert_string_equal(brand, "BYD");
    assert_false(vcan_is_known_brand(NULL, NULL));
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void json_fields(void **state)
{
    (void)state;
    char buf[1024];
    jw_t w;
    vcan_msg_t m;
    can_frame_t f = {.id = 0x351, .dlc = 8, .flags = 0, .data = {0x45, 0x02, 0x4C, 0x04, 0x4C, 0x04, 0x00, 0x00}};
    assert_int_equal(vcan_decode(&f, &m), TB_OK);
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    vcan_json_fields(&w, &m);
    jw_obj_end(&w);
    assert_true(jw_finish(&w) > 0);
    assert_string_equal(buf, "{\"cvl_v\":58.1,\"ccl_a\":110,\"dcl_a\":110,\"dvl_v\":0}");

    can_frame_t g = {.id = 0x356, .dlc = 8, .flags = 0, .data = {0xBE, 0x14, 0xF9, 0xFF, 0x00, 0x80, 0, 0}};
    assert_int_equal(vcan_decode(&g, &m), TB_OK);
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    vcan_json_fields(&w, &m);
    jw_obj_end(&w);
    assert_true(jw_finish(&w) > 0);
    assert_string_equal(buf, "{\"voltage_v\":53.1,\"current_a\":-0.7,\"temperature_c\":null}");

    can_frame_t h = {.id = 0x35F, .dlc = 8, .flags = 0, .data = {0x4C, 0x69, 0x01, 0x17, 0x69, 0, 0, 0}};
    assert_int_equal(vcan_decode(&h, &m), TB_OK);
    jw_init(&w, buf, sizeof buf);
    jw_obj_begin(&w);
    vcan_json_fields(&w, &m);
    jw_obj_end(&w);
    assert_true(jw_finish(&w) > 0);
    assert_non_null(strstr(buf, "\"firmware\":\"1.17\""));
    assert_non_null(strstr(buf, "\"capacity_online_ah\":105"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_decode),
        cmocka_unit_test(golden_encode_exact),
        cmocka_unit_test(golden_encode),
        cmocka_unit_test(every_frame_has_a_vector),
        cmocka_unit_test(roundtrip_every_raw_value),
        cmocka_unit_test(roundtrip_firmware_bytes),
        cmocka_unit_test(roundtrip_energy),
        cmocka_unit_test(value_sweeps_and_limits),
        cmocka_unit_test(alarm_levels_roundtrip),
        cmocka_unit_test(alarm_healthy_is_aa),
        cmocka_unit_test(text_frames),
        cmocka_unit_test(decoder_rejects),
        cmocka_unit_test(id_classes),
        cmocka_unit_test(known_brands),
        cmocka_unit_test(json_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
