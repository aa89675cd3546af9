#include "app/vcan_json.h"

#include "core/hex.h"

/* Moved from core/vcan.c unchanged: the same members, names and digits. */

static void kv_count(jw_t *w, const char *key, uint16_t v)
{
    if (v == VCAN_U16_NA) {
        jw_kv_null(w, key);
    } else {
        jw_kv_uint(w, key, v);
    }
}

static void kv_hex(jw_t *w, const char *key, const uint8_t *d, unsigned n)
{
    char s[2u * CAN_FRAME_MAX_DLC + 1u];
    s[tb_hex_bytes(s, d, n < CAN_FRAME_MAX_DLC ? n : CAN_FRAME_MAX_DLC)] = '\0';
    jw_kv_str(w, key, s);
}

void vcan_json_fields(jw_t *w, const vcan_msg_t *m)
{
    if (!w || !m) {
        return;
    }
    switch (m->id) {
    case VCAN_ID_GX_KEEPALIVE:
    case VCAN_ID_GX_306:
        kv_hex(w, "payload", m->u.raw.data, m->u.raw.dlc);
        break;
    case VCAN_ID_GX_INVERTER:
        jw_kv_bool(w, "signature_ok", m->u.gx_id.signature_ok);
        jw_kv_str(w, "tag", m->u.gx_id.tag);
        break;
    case VCAN_ID_LIMITS:
        jw_kv_float(w, "cvl_v", m->u.limits.cvl_v, 1);
        jw_kv_float(w, "ccl_a", m->u.limits.ccl_a, 1);
        jw_kv_float(w, "dcl_a", m->u.limits.dcl_a, 1);
        jw_kv_float(w, "dvl_v", m->u.limits.dvl_v, 1);
        break;
    case VCAN_ID_SOC:
        jw_kv_float(w, "soc_pct", m->u.soc.soc_pct, 0);
        jw_kv_float(w, "soh_pct", m->u.soc.soh_pct, 0);
        jw_kv_float(w, "soc_hires_pct", m->u.soc.soc_hires_pct, 2);
        break;
    case VCAN_ID_BATTERY:
        jw_kv_float(w, "voltage_v", m->u.battery.voltage_v, 2);
        jw_kv_float(w, "current_a", m->u.battery.current_a, 1);
        jw_kv_float(w, "temperature_c", m->u.battery.temp_c, 1);
        break;
    case VCAN_ID_ALARMS:
        jw_key(w, "levels");
        jw_obj_begin(w);
        for (unsigned c = 0; c < (unsigned)ALARM_COUNT; c++) {
            jw_kv_str(w, vcan_alarm_name(c), vcan_level_name(m->u.alarms.levels.level[c]));
        }
        jw_obj_end(w);
        jw_kv_str(w, "system_status", vcan_status_name(m->u.alarms.status));
        break;
    case VCAN_ID_INFO:
        jw_kv_uint(w, "model_id", m->u.info.model_id);
        jw_kv_uint(w, "fw_major", m->u.info.fw_major);
        jw_kv_uint(w, "fw_minor", m->u.info.fw_minor);
        {
            /* Shown as the two bytes in hex, "01 17" -> "1.17", as the capture analyses read
             * them (how the GX renders the word is not documented). */
            char fw[6];
            size_t k = tb_hex_put(fw, m->u.info.fw_major, m->u.info.fw_major >= 0x10u ? 2u : 1u);
            fw[k++] = '.';
            k += tb_hex_put(fw + k, m->u.info.fw_minor, 2u);
            fw[k] = '\0';
            jw_kv_str(w, "firmware", fw);
        }
        jw_kv_float(w, "capacity_online_ah", m->u.info.capacity_ah, 0);
        jw_kv_uint(w, "reserved", m->u.info.reserved);
        break;
    case VCAN_ID_MODULES:
        kv_count(w, "online", m->u.modules.online);
        kv_count(w, "blocking_charge", m->u.modules.blocking_charge);
        kv_count(w, "blocking_discharge", m->u.modules.blocking_discharge);
        kv_count(w, "offline", m->u.modules.offline);
        break;
    case VCAN_ID_CELLS:
        jw_kv_float(w, "min_cell_v", m->u.cells.min_cell_v, 3);
        jw_kv_float(w, "max_cell_v", m->u.cells.max_cell_v, 3);
        jw_kv_float(w, "min_temperature_c", m->u.cells.min_temp_c, 0);
        jw_kv_float(w, "max_temperature_c", m->u.cells.max_temp_c, 0);
        break;
    case VCAN_ID_ENERGY:
        jw_kv_double(w, "energy_in_kwh", m->u.energy.in_wh / 1000.0, 1);
        jw_kv_double(w, "energy_out_kwh", m->u.energy.out_wh / 1000.0, 1);
        break;
    case VCAN_ID_CAPACITY:
        jw_kv_float(w, "capacity_installed_ah", m->u.capacity.installed_ah, 0);
        break;
    default:
        if (vcan_is_text_id(m->id)) {
            jw_kv_str(w, "text", m->u.text.text);
        }
        break;
    }
}

