#include "core/bms.h"
#include "core/tb_bits.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/tb_proto.h"

/* Plausibility bounds. They reject bytes that cannot be a real 4..16S pack (boot-time zeros,
 * corrupted but CRC-valid frames, a foreign device on the bus), never a real but alarming value:
 * a cell at 2.0 V or 4.5 V is decoded as such and left to the alarms and the charge controller. */
#define CELL_MIN_V 0.5f
#define CELL_MAX_V 5.0f
#define PACK_MAX_V 100.0f
#define CURRENT_MAX_A 5000.0f
#define TEMP_MIN_C (-60.0f)
#define TEMP_MAX_C 150.0f
#define TEMP_ABSENT (-32768)

const char *bms_status_name(bms_status_t status)
{
    switch (status) {
    case BMS_STATUS_CHARGING: return "charging";
    case BMS_STATUS_FULLY_CHARGED: return "fully_charged";
    case BMS_STATUS_DISCHARGING: return "discharging";
    case BMS_STATUS_REGENERATION: return "regeneration";
    case BMS_STATUS_IDLE: return "idle";
    case BMS_STATUS_FAULT: return "fault";
    case BMS_STATUS_UNKNOWN: break;
    }
    return "unknown";
}

bms_status_t bms_status_from_raw(uint16_t raw)
{
    switch (raw) {
    case BMS_STATUS_CHARGING:
    case BMS_STATUS_FULLY_CHARGED:
    case BMS_STATUS_DISCHARGING:
    case BMS_STATUS_REGENERATION:
    case BMS_STATUS_IDLE:
    case BMS_STATUS_FAULT:
        return (bms_status_t)raw;
    default:
        return BMS_STATUS_UNKNOWN;
    }
}

bms_event_class_t bms_event_class(uint8_t id)
{
    if (id >= 0x01u && id <= 0x30u) {
        return BMS_EVENT_FAULT;
    }
    if (id >= 0x31u && id <= 0x60u) {
        return BMS_EVENT_WARNING;
    }
    if (id >= 0x61u && id <= 0x90u) {
        return BMS_EVENT_INFO;
    }
    return BMS_EVENT_UNKNOWN;
}

const char *bms_event_class_name(bms_event_class_t c)
{
    switch (c) {
    case BMS_EVENT_FAULT: return "fault";
    case BMS_EVENT_WARNING: return "warning";
    case BMS_EVENT_INFO: return "info";
    case BMS_EVENT_UNKNOWN: break;
    }
    return "unknown";
}

static bool temp_ok(float t)
{
    return t >= TEMP_MIN_C && t <= TEMP_MAX_C;
}

/* (float)raw * k: every register scaling goes through one call (int32_t holds both the uint16_t
 * registers and the int16_t ones, and converts exactly: |raw| < 2^24). */
static TB_NOINLINE float scaled(int32_t raw, float k)
{
    return (float)raw * k;
}

int bms_decode_live(bms_live_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms, const char **why)
{
    if (!regs || count != BMS_LIVE_COUNT) {
        return TB_ERR_ARG;
    }
    bms_live_t l;
    memset(&l, 0, sizeof l);
    unsigned n = regs[53];
    if (n < BMS_MIN_CELLS || n > BMS_MAX_CELLS) {
        return tb_err_why(why, TB_ERR_RANGE, "number of detected cells (register 53) outside 4..16");
    }
    l.cell_count = (uint8_t)n;
    /* With N cells the populated slots are registers 16-N..15; register 16-N is cell 1. */
    for (unsigned i = 0; i < n; i++) {
        float v = scaled(regs[BMS_MAX_CELLS - n + i], 0.0001f);
        if (v < CELL_MIN_V || v > CELL_MAX_V) {
            return tb_err_why(why, TB_ERR_RANGE,
                              "a populated cell voltage (registers 0-15) is outside 0.5-5.0 V");
        }
        l.cell_v[i] = v;
    }
    l.min_cell_v = scaled(regs[40], 0.001f);
    l.max_cell_v = scaled(regs[41], 0.001f);
    if (l.min_cell_v < CELL_MIN_V || l.max_cell_v > CELL_MAX_V || l.min_cell_v > l.max_cell_v) {
        return tb_err_why(why, TB_ERR_RANGE, "min/max cell voltage (registers 40/41) implausible");
    }
    l.pack_voltage_v = tb_float_from_regs(&regs[36]);
    if (!tb_f32_finite(l.pack_voltage_v) || l.pack_voltage_v < 0.0f || l.pack_voltage_v > PACK_MAX_V) {
        return tb_err_why(why, TB_ERR_RANGE, "pack voltage (registers 36-37) not a plausible float");
    }
    l.pack_current_a = tb_float_from_regs(&regs[38]);
    if (!tb_f32_finite(l.pack_current_a) || tb_f32_abs(l.pack_current_a) > CURRENT_MAX_A) {
        return tb_err_why(why, TB_ERR_RANGE, "pack current (registers 38-39) not a plausible float");
    }
    uint32_t soc = tb_u32_from_regs(&regs[46]);
    if (soc > 100000000u) {
        return tb_err_why(why, TB_ERR_RANGE, "state of charge (registers 46-47) above 100 %");
    }
    l.soc_pct = (float)((double)soc / 1000000.0);
    l.soh_pct = regs[45] <= 50000u ? scaled(regs[45], 0.002f) : NAN;
    l.temp_internal_c = scaled((int16_t)regs[48], 0.1f);
    if (!temp_ok(l.temp_internal_c)) {
        return tb_err_why(why, TB_ERR_RANGE, "internal temperature (register 48) outside -60..150 °C");
    }
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        int16_t raw = (int16_t)regs[42 + i];
        l.temp_ext_present[i] = raw != TEMP_ABSENT;
        l.temp_ext_c[i] = l.temp_ext_present[i] ? scaled(raw, 0.1f) : 0.0f;
        if (l.temp_ext_present[i] && !temp_ok(l.temp_ext_c[i])) {
            return tb_err_why(why, TB_ERR_RANGE,
                              "external temperature (registers 42/43) outside -60..150 °C");
        }
    }
    l.status_raw = regs[50];
    l.status = bms_status_from_raw(regs[50]);
    l.balancing_needed = regs[51];
    l.balancing_active = regs[52];
    l.lifetime_s = tb_u32_from_regs(&regs[32]);
    l.time_left_s = tb_u32_from_regs(&regs[34]);
    l.distance_left_km = regs[44];
    l.speed_kmh = tb_float_from_regs(&regs[54]);
    if (!tb_f32_finite(l.speed_kmh)) {
        l.speed_kmh = 0.0f; /* only meaningful with a speed sensor; never worth rejecting the block */
    }
    l.valid = true;
    l.t_ms = now_ms;
    *out = l;
    return TB_OK;
}

int bms_decode_stats(bms_stats_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms, const char **why)
{
    (void)why;
    if (!regs || count != BMS_STATS_COUNT) {
        return TB_ERR_ARG;
    }
    const uint16_t *r = regs - BMS_STATS_FIRST; /* index by register address */
    bms_stats_t s;
    memset(&s, 0, sizeof s);
    s.total_distance_km = (float)((double)tb_u32_from_regs(&r[100]) * 0.01);
    s.max_discharge_current_a = scaled(r[102], 0.1f);
    s.max_charge_current_a = scaled(r[103], 0.1f);
    s.max_cell_diff_v = scaled(r[104], 0.0001f);
    s.under_voltage_count = r[105];
    s.over_voltage_count = r[106];
    s.discharge_oc_count = r[107];
    s.charge_oc_count = r[108];
    s.over_heat_count = r[109];
    s.charging_count = r[111];
    s.full_charge_count = r[112];
    s.min_pack_temp_c = (int8_t)(r[113] & 0xFFu);
    s.max_pack_temp_c = (int8_t)(r[113] >> 8);
    s.last_reset_cause = (uint8_t)(r[114] & 0xFFu);
    s.last_wakeup_source = (uint8_t)(r[114] >> 8);
    s.stats_cleared_s = tb_u32_from_regs(&r[116]);
    s.valid = true;
    s.t_ms = now_ms;
    *out = s;
    return TB_OK;
}

/* The typed float fields of the settings block: register - 300, scale, field. */
enum { S_MILLI, S_CENTI, S_ONE, S_I16 };
static const float k_setting_scale[4] = {0.001f, 0.01f, 1.0f, 1.0f};
typedef struct {
    uint8_t reg;
    uint8_t scale;
    uint8_t off;
} setting_field_t;
#define SET(REG, SCALE, FIELD) {(REG) - BMS_SETTINGS_FIRST, SCALE, (uint8_t)offsetof(bms_settings_t, FIELD)}
static const setting_field_t k_settings[] = {
    SET(300, S_MILLI, fully_charged_v),   SET(301, S_MILLI, fully_discharged_v),
    SET(303, S_MILLI, early_balancing_v), SET(304, S_MILLI, charge_finished_a),
    SET(305, S_ONE, peak_discharge_a),    SET(306, S_CENTI, capacity_ah),
    SET(308, S_MILLI, allowed_disbalance_v), SET(315, S_MILLI, over_voltage_v),
    SET(316, S_MILLI, under_voltage_v),   SET(317, S_ONE, discharge_oc_a),
    SET(318, S_ONE, charge_oc_a),         SET(319, S_I16, over_heat_c),
    SET(320, S_I16, low_temp_charge_c),
};
_Static_assert(sizeof(bms_settings_t) <= 256u, "setting_field_t.off is a byte");

int bms_decode_settings(bms_settings_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms, const char **why)
{
    if (!regs || count != BMS_SETTINGS_COUNT) {
        return TB_ERR_ARG;
    }
    const uint16_t *r = regs - BMS_SETTINGS_FIRST;
    bms_settings_t s;
    memset(&s, 0, sizeof s);
    memcpy(s.raw, regs, sizeof s.raw);
    if (r[307] < BMS_MIN_CELLS || r[307] > BMS_MAX_CELLS) {
        return tb_err_why(why, TB_ERR_RANGE, "number of series cells (register 307) outside 4..16");
    }
    if (r[315] < 1200u || r[315] > 4500u || r[316] < 800u || r[316] > 3500u || r[316] >= r[315]) {
        return tb_err_why(why, TB_ERR_RANGE, "over/under-voltage cut-offs (registers 315/316) implausible");
    }
    for (unsigned i = 0; i < sizeof k_settings / sizeof k_settings[0]; i++) {
        const setting_field_t *d = &k_settings[i];
        uint16_t raw = r[BMS_SETTINGS_FIRST + d->reg];
        /* x 1.0f leaves the exactly converted integer unchanged */
        float v = scaled(d->scale == S_I16 ? (int32_t)(int16_t)raw : (int32_t)raw, k_setting_scale[d->scale]);
        *(float *)(void *)((unsigned char *)&s + d->off) = v;
    }
    s.series_cells = (uint8_t)r[307];
    s.automatic_recovery_s = (uint8_t)(r[332] & 0xFFu);
    s.broadcast_time = (uint8_t)(r[342] & 0xFFu);
    s.valid = true;
    s.t_ms = now_ms;
    *out = s;
    return TB_OK;
}

int bms_decode_version(bms_version_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms, const char **why)
{
    (void)why;
    if (!regs || count != BMS_VERSION_COUNT) {
        return TB_ERR_ARG;
    }
    bms_version_t v;
    memset(&v, 0, sizeof v);
    v.hw_version = (uint8_t)(regs[0] & 0xFFu);
    v.hw_changes = (uint8_t)(regs[0] >> 8);
    v.fw_public = (uint8_t)(regs[1] & 0xFFu);
    v.high_power = (regs[1] & 0x0100u) != 0u;
    v.current_sensor = (uint8_t)((regs[1] >> 9) & 0x3u);
    v.fw_internal = regs[2];
    v.bootloader = (uint8_t)(regs[3] & 0xFFu);
    v.register_map = (uint8_t)(regs[3] >> 8);
    memcpy(v.serial, &regs[4], sizeof v.serial);
    v.valid = true;
    v.t_ms = now_ms;
    *out = v;
    return TB_OK;
}

int bms_decode_event_regs(bms_events_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms)
{
    if (!regs || count != 2u * BMS_EVENT_SLOTS) {
        return TB_ERR_ARG;
    }
    bms_events_t e;
    memset(&e, 0, sizeof e);
    for (unsigned k = 0; k < BMS_EVENT_SLOTS; k++) {
        uint16_t lo = regs[2u * k], hi = regs[2u * k + 1u];
        if (lo == 0u && hi == 0u) {
            continue; /* never written */
        }
        bms_event_t ev = {(uint32_t)lo | ((uint32_t)(hi & 0xFFu) << 16), (uint8_t)(hi >> 8)};
        /* insertion sort, oldest first */
        unsigned j = e.count;
        while (j > 0u && e.ev[j - 1u].timestamp_s > ev.timestamp_s) {
            e.ev[j] = e.ev[j - 1u];
            j--;
        }
        e.ev[j] = ev;
        e.count++;
    }
    e.valid = true;
    e.t_ms = now_ms;
    *out = e;
    return TB_OK;
}

uint8_t bms_series_cells(const bms_snapshot_t *s)
{
    if (s->live.valid && s->live.cell_count >= BMS_MIN_CELLS && s->live.cell_count <= BMS_MAX_CELLS) {
        return s->live.cell_count;
    }
    if (s->settings.valid && s->settings.series_cells >= BMS_MIN_CELLS && s->settings.series_cells <= BMS_MAX_CELLS) {
        return s->settings.series_cells;
    }
    return 0;
}

bool bms_snapshot_complete(const bms_snapshot_t *s)
{
    return s->live.valid && s->settings.valid;
}
