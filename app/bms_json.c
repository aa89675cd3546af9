#include "app/bms_json.h"

#include <math.h>
#include <string.h>

#include "core/hex.h"

typedef struct {
    uint8_t id;
    const char *name;
} event_name_t;

/* Vendor event list (protocol document chapter 4; identical in Rev B and Rev D). English text is
 * presentation, so it lives here and not in core/bms.c. */
static const event_name_t k_events[] = {
    {0x02, "Under-voltage cutoff"},
    {0x03, "Over-voltage cutoff"},
    {0x04, "Over-temperature cutoff"},
    {0x05, "Discharging over-current cutoff"},
    {0x06, "Charging over-current cutoff"},
    {0x07, "Regeneration over-current cutoff"},
    {0x0A, "Low-temperature cutoff"},
    {0x0B, "Charger switch error"},
    {0x0C, "Load switch error"},
    {0x0D, "Single-port switch error"},
    {0x0E, "External current sensor disconnected"},
    {0x0F, "External current sensor connected"},
    {0x31, "Fully-discharged cutoff"},
    {0x37, "Low-temperature charging cutoff"},
    {0x38, "Charging done (charger voltage too high)"},
    {0x39, "Charging done (charger voltage too low)"},
    {0x61, "System started"},
    {0x62, "Charging started"},
    {0x63, "Charging done"},
    {0x64, "Charger connected"},
    {0x65, "Charger disconnected"},
    {0x66, "Dual-port mode activated"},
    {0x67, "Single-port mode activated"},
    {0x73, "Recovered from over-temperature fault"},
    {0x74, "Recovered from low-temperature warning"},
    {0x75, "Recovered from low-temperature fault"},
    {0x76, "Recovered from charging over-current fault"},
    {0x77, "Recovered from discharging over-current fault"},
    {0x78, "Recovered from regeneration over-current fault"},
    {0x79, "Recovered from over-voltage fault"},
    {0x7A, "Recovered from fully-discharged warning"},
    {0x7B, "Recovered from under-voltage fault"},
    {0x7C, "External current sensor connected (in use)"},
    {0x7D, "External current sensor disconnected (internal Hall used)"},
};

const char *bms_json_event_name(uint8_t id)
{
    for (size_t i = 0; i < sizeof k_events / sizeof k_events[0]; i++) {
        if (k_events[i].id == id) {
            return k_events[i].name;
        }
    }
    return "Unknown event";
}

static void age(jw_t *w, bool valid, uint32_t t_ms, uint32_t now_ms)
{
    jw_kv_bool(w, "valid", valid);
    if (valid) {
        jw_kv_uint(w, "age_ms", (uint32_t)(now_ms - t_ms));
    } else {
        jw_kv_null(w, "age_ms");
    }
}

static void kv_float_or_null(jw_t *w, const char *k, float v, unsigned d)
{
    if (isfinite(v)) {
        jw_kv_float(w, k, v, d);
    } else {
        jw_kv_null(w, k);
    }
}

static void bits_as_cells(jw_t *w, const char *key, uint16_t bits, unsigned n)
{
    jw_key(w, key);
    jw_arr_begin(w);
    for (unsigned i = 0; i < n; i++) {
        jw_bool(w, (bits >> i) & 1u);
    }
    jw_arr_end(w);
}

void bms_json_live(jw_t *w, const bms_live_t *l, uint32_t now_ms)
{
    jw_obj_begin(w);
    age(w, l->valid, l->t_ms, now_ms);
    if (!l->valid) {
        jw_obj_end(w);
        return;
    }
    jw_kv_float(w, "pack_voltage_v", l->pack_voltage_v, 3);
    jw_kv_float(w, "pack_current_a", l->pack_current_a, 2);
    jw_kv_float(w, "power_w", l->pack_voltage_v * l->pack_current_a, 1);
    jw_kv_float(w, "soc_pct", l->soc_pct, 2);
    kv_float_or_null(w, "soh_pct", l->soh_pct, 1);
    jw_kv_uint(w, "cell_count", l->cell_count);
    jw_key(w, "cells_v");
    jw_arr_begin(w);
    for (unsigned i = 0; i < l->cell_count; i++) {
        jw_float(w, l->cell_v[i], 4);
    }
    jw_arr_end(w);
    jw_kv_float(w, "min_cell_v", l->min_cell_v, 3);
    jw_kv_float(w, "max_cell_v", l->max_cell_v, 3);
    jw_kv_float(w, "cell_spread_v", l->max_cell_v - l->min_cell_v, 3);
    jw_key(w, "temperatures_c");
    jw_obj_begin(w);
    jw_kv_float(w, "internal", l->temp_internal_c, 1);
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        const char *k = i == 0 ? "external_1" : "external_2";
        if (l->temp_ext_present[i]) {
            jw_kv_float(w, k, l->temp_ext_c[i], 1);
        } else {
            jw_kv_null(w, k);
        }
    }
    jw_obj_end(w);
    jw_kv_str(w, "status", bms_status_name(l->status));
    jw_kv_uint(w, "status_code", l->status_raw);
    bits_as_cells(w, "balancing_needed", l->balancing_needed, l->cell_count);
    bits_as_cells(w, "balancing_active", l->balancing_active, l->cell_count);
    jw_kv_uint(w, "lifetime_s", l->lifetime_s);
    jw_kv_uint(w, "time_left_s", l->time_left_s);
    jw_kv_uint(w, "distance_left_km", l->distance_left_km);
    jw_kv_float(w, "speed_kmh", l->speed_kmh, 1);
    jw_obj_end(w);
}

static const char *reset_cause(uint8_t c)
{
    static const char *const k[] = {"unknown", "low_power_reset", "window_watchdog", "independent_watchdog",
                                    "software_reset", "power_on_reset", "pin_reset", "option_byte_load"};
    return c < sizeof k / sizeof k[0] ? k[c] : "undocumented";
}

static const char *wake_source(uint8_t c)
{
    static const char *const k[] = {"charger_connected", "ignition", "discharging_detected", "uart_communication"};
    return c < sizeof k / sizeof k[0] ? k[c] : "undocumented";
}

const char *bms_json_reset_cause_text(uint8_t c)
{
    static const char *const k[] = {"unknown",        "low-power reset", "window watchdog", "independent watchdog",
                                    "software reset", "power-on reset",  "reset pin",       "option byte load"};
    return c < sizeof k / sizeof k[0] ? k[c] : "undocumented code";
}

const char *bms_json_wake_source_text(uint8_t c)
{
    static const char *const k[] = {"charger connected", "ignition", "discharging detected", "UART communication"};
    return c < sizeof k / sizeof k[0] ? k[c] : "undocumented code";
}

const char *bms_json_current_sensor_text(uint8_t c)
{
    static const char *const k[] = {"internal shunt", "internal Hall sensor", "external sensor"};
    return c < sizeof k / sizeof k[0] ? k[c] : "undocumented code";
}

void bms_json_stats(jw_t *w, const bms_stats_t *s, uint32_t now_ms)
{
    jw_obj_begin(w);
    age(w, s->valid, s->t_ms, now_ms);
    if (s->valid) {
        jw_kv_float(w, "total_distance_km", s->total_distance_km, 2);
        jw_kv_float(w, "max_discharge_current_a", s->max_discharge_current_a, 1);
        jw_kv_float(w, "max_charge_current_a", s->max_charge_current_a, 1);
        jw_kv_float(w, "max_cell_diff_v", s->max_cell_diff_v, 4);
        jw_kv_uint(w, "under_voltage_count", s->under_voltage_count);
        jw_kv_uint(w, "over_voltage_count", s->over_voltage_count);
        jw_kv_uint(w, "discharge_over_current_count", s->discharge_oc_count);
        jw_kv_uint(w, "charge_over_current_count", s->charge_oc_count);
        jw_kv_uint(w, "over_heat_count", s->over_heat_count);
        jw_kv_uint(w, "charging_count", s->charging_count);
        jw_kv_uint(w, "full_charge_count", s->full_charge_count);
        jw_kv_int(w, "min_pack_temp_c", s->min_pack_temp_c);
        jw_kv_int(w, "max_pack_temp_c", s->max_pack_temp_c);
        jw_kv_str(w, "last_reset_cause", reset_cause(s->last_reset_cause));
        jw_kv_str(w, "last_wakeup_source", wake_source(s->last_wakeup_source));
        jw_kv_uint(w, "stats_cleared_s", s->stats_cleared_s);
    }
    jw_obj_end(w);
}

void bms_json_version(jw_t *w, const bms_version_t *v, uint32_t now_ms)
{
    static const char *const sensors[] = {"internal_shunt", "internal_hall", "external", "undocumented"};
    jw_obj_begin(w);
    age(w, v->valid, v->t_ms, now_ms);
    if (v->valid) {
        jw_kv_uint(w, "hardware_version", v->hw_version);
        jw_kv_uint(w, "hardware_changes", v->hw_changes);
        jw_kv_uint(w, "firmware_public", v->fw_public);
        jw_kv_uint(w, "firmware_internal", v->fw_internal);
        jw_kv_uint(w, "bootloader", v->bootloader);
        jw_kv_uint(w, "register_map", v->register_map);
        jw_kv_str(w, "power_type", v->high_power ? "high_power_150a" : "low_power_30a");
        jw_kv_str(w, "current_sensor", sensors[v->current_sensor & 3u]);
        char serial[25];
        for (unsigned i = 0; i < 6; i++) {
            tb_hex_put(serial + 4 * i, v->serial[i], 4u);
        }
        serial[24] = '\0';
        jw_kv_str(w, "serial_hex", serial);
    }
    jw_obj_end(w);
}

void bms_json_event(jw_t *w, const bms_event_t *e)
{
    jw_obj_begin(w);
    jw_kv_uint(w, "timestamp_s", e->timestamp_s);
    jw_kv_uint(w, "id", e->id);
    jw_kv_str(w, "class", bms_event_class_name(bms_event_class(e->id)));
    jw_kv_str(w, "name", bms_json_event_name(e->id));
    jw_obj_end(w);
}

void bms_json_events(jw_t *w, const bms_events_t *e, uint32_t now_ms)
{
    jw_obj_begin(w);
    age(w, e->valid, e->t_ms, now_ms);
    if (e->valid) {
        jw_kv_uint(w, "bms_time_s", e->bms_time_s);
        jw_key(w, "events");
        jw_arr_begin(w);
        for (unsigned i = 0; i < e->count; i++) {
            bms_json_event(w, &e->ev[i]);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static void raw_value(jw_t *w, const tb_reg_t *r, int64_t raw)
{
    jw_double(w, (double)raw * (double)tb_reg_scale(r), tb_reg_decimals(r));
}

void bms_json_register(jw_t *w, const tb_reg_t *r, const uint16_t *words, const tb_settings_limits_t *limits)
{
    jw_obj_begin(w);
    jw_kv_uint(w, "address", r->addr);
    jw_kv_str(w, "name", tb_reg_name(r));
    jw_kv_str(w, "label", tb_reg_label(r));
    jw_kv_str(w, "group", tb_reg_group_name((tb_reg_group_t)r->group));
    jw_kv_str(w, "type", tb_reg_type_name((tb_reg_type_t)r->type));
    jw_key(w, "value");
    jw_double(w, tb_reg_decode(r, words), tb_reg_decimals(r));
    jw_kv_str(w, "unit", tb_reg_unit(r));
    jw_kv_uint(w, "raw", r->words == 2u ? ((uint32_t)words[1] << 16 | words[0]) : words[0]);
    jw_kv_bool(w, "writable", (r->flags & TB_REGF_WRITABLE) != 0u);
    if ((r->flags & TB_REGF_READBACK_FFFF) && r->words == 1u && words[0] == 0xFFFFu) {
        jw_kv_bool(w, "not_set", true); /* the BMS reads 0xFFFF: no preset pending (value is meaningless) */
    }
    if (r->flags & TB_REGF_RANGE) {
        jw_key(w, "min");
        raw_value(w, r, tb_reg_min(r));
        jw_key(w, "max");
        raw_value(w, r, tb_reg_max(r));
    }
    unsigned idx = (unsigned)(r->addr - BMS_SETTINGS_FIRST);
    if (limits && limits->valid && r->addr >= BMS_SETTINGS_FIRST && idx < BMS_SETTINGS_COUNT && r->words == 1u) {
        bool s = r->type == TB_T_INT16;
        jw_key(w, "device_min");
        raw_value(w, r, s ? (int16_t)limits->min[idx] : limits->min[idx]);
        jw_key(w, "device_max");
        raw_value(w, r, s ? (int16_t)limits->max[idx] : limits->max[idx]);
        jw_key(w, "device_default");
        raw_value(w, r, s ? (int16_t)limits->def[idx] : limits->def[idx]);
    }
    if (tb_reg_values(r)) {
        jw_kv_str(w, "values", tb_reg_values(r));
    }
    if (r->flags & TB_REGF_REBOOTS) {
        jw_kv_bool(w, "reboots_bms", true);
    }
    jw_obj_end(w);
}

void bms_json_settings(jw_t *w, const bms_settings_t *s, const tb_settings_limits_t *limits, uint32_t now_ms)
{
    jw_obj_begin(w);
    age(w, s->valid, s->t_ms, now_ms);
    if (s->valid) {
        jw_key(w, "registers");
        jw_arr_begin(w);
        for (size_t i = 0; i < tb_regs_count; i++) {
            const tb_reg_t *r = &tb_regs[i];
            if (r->group != TB_GRP_SETTINGS) {
                continue;
            }
            bms_json_register(w, r, &s->raw[r->addr - BMS_SETTINGS_FIRST], limits);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

void bms_json_link(jw_t *w, const tb_link_stats_t *s, uint32_t now_ms)
{
    jw_obj_begin(w);
    jw_kv_bool(w, "up", s->link_up);
    if (s->ever_replied) {
        jw_kv_uint(w, "last_reply_age_ms", (uint32_t)(now_ms - s->last_reply_ms));
    } else {
        jw_kv_null(w, "last_reply_age_ms");
    }
    jw_kv_uint(w, "requests", s->requests);
    jw_kv_uint(w, "replies", s->replies);
    jw_kv_uint(w, "timeouts", s->timeouts);
    jw_kv_uint(w, "retries", s->retries);
    jw_kv_uint(w, "wakeups", s->wakeups);
    jw_kv_uint(w, "nacks", s->nacks);
    jw_kv_uint(w, "crc_errors", s->rx.crc_errors);
    jw_kv_uint(w, "garbage_bytes", s->rx.garbage_bytes);
    jw_kv_uint(w, "truncated", s->rx.truncated);
    jw_kv_uint(w, "unexpected", s->unexpected);
    jw_kv_uint(w, "duplicates", s->duplicates);
    jw_kv_uint(w, "late_replies", s->late_replies);
    jw_kv_uint(w, "decode_errors", s->decode_errors);
    jw_kv_uint(w, "readback_mismatch", s->readback_mismatch);
    jw_kv_uint(w, "bms_restarts", s->bms_restarts);
    jw_kv_uint(w, "consecutive_failures", s->consecutive_failures);
    jw_kv_uint(w, "last_rtt_ms", s->last_rtt_ms);
    jw_key(w, "rtt_histogram");
    jw_arr_begin(w);
    for (unsigned i = 0; i < TB_RTT_BUCKETS; i++) {
        jw_obj_begin(w);
        if (i < TB_RTT_BUCKETS - 1u) {
            jw_kv_uint(w, "le_ms", tb_rtt_bucket_ms[i]);
        } else {
            jw_kv_null(w, "le_ms");
        }
        jw_kv_uint(w, "count", s->rtt_hist[i]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}
