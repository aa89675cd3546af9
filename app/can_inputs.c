#include "app/can_inputs.h"

#include <math.h>
#include <string.h>

static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0u;
    if (n >= cap) {
        n = cap - 1u;
    }
    if (n) {
        memcpy(dst, src, n);
    }
    dst[n] = '\0';
}

/* "cell 12", "ext 2": prefix + a small decimal number (n <= 99), always terminated. */
static void label(char *dst, size_t cap, const char *prefix, unsigned n)
{
    char num[3];
    size_t k = 0;
    if (n >= 10u) {
        num[k++] = (char)('0' + (n / 10u) % 10u);
    }
    num[k++] = (char)('0' + n % 10u);
    num[k] = '\0';
    size_t pl = strlen(prefix);
    if (pl + k >= cap) {
        dst[0] = '\0';
        return;
    }
    memcpy(dst, prefix, pl);
    memcpy(dst + pl, num, k + 1u);
}

void can_inputs_src_from_charge(can_inputs_src_t *src, const chg_limits_t *lim)
{
    if (!src || !lim) {
        return;
    }
    src->limits.valid = lim->valid;
    src->limits.transmit = lim->transmit;
    src->limits.cvl_v = lim->cvl_v;
    src->limits.ccl_a = lim->ccl_a;
    src->limits.dcl_a = lim->dcl_a;
    src->limits.dvl_v = lim->dvl_v;
    src->live_fresh = lim->data == FAILSAFE_FRESH;
}

void can_inputs_init(can_inputs_t *in)
{
    memset(in, 0, sizeof *in);
    in->transmit = true;
    in->cvl_v = in->ccl_a = in->dcl_a = in->dvl_v = VCAN_NA;
    in->soc_pct = in->soh_pct = VCAN_NA;
    in->pack_v = in->pack_a = in->pack_temp_c = VCAN_NA;
    for (unsigned c = 0; c < (unsigned)ALARM_COUNT; c++) {
        in->alarms.level[c] = ALARM_LEVEL_UNSUPPORTED;
    }
    in->system_status = VCAN_STATUS_OFFLINE;
    in->capacity_online_ah = VCAN_NA;
    in->modules.online = in->modules.blocking_charge = VCAN_U16_NA;
    in->modules.blocking_discharge = in->modules.offline = VCAN_U16_NA;
    in->cell_min_v = in->cell_max_v = VCAN_NA;
    in->temp_min_c = in->temp_max_c = VCAN_NA;
    in->energy_in_wh = in->energy_out_wh = VCAN_NA_D;
    in->capacity_installed_ah = VCAN_NA;
}

/* Cell extremes from the per-cell voltages, so that the value and the id come from the same
 * reading; registers 40/41 are used only when the cell array is unusable. */
static void cell_extremes(can_inputs_t *out, const bms_live_t *live)
{
    unsigned n = live->cell_count;
    if (n >= BMS_MIN_CELLS && n <= BMS_MAX_CELLS) {
        unsigned lo = 0;
        unsigned hi = 0;
        for (unsigned i = 1; i < n; i++) {
            if (live->cell_v[i] < live->cell_v[lo]) {
                lo = i;
            }
            if (live->cell_v[i] > live->cell_v[hi]) {
                hi = i;
            }
        }
        out->cell_min_v = live->cell_v[lo];
        out->cell_max_v = live->cell_v[hi];
        label(out->cell_min_id, sizeof out->cell_min_id, "cell ", lo + 1u);
        label(out->cell_max_id, sizeof out->cell_max_id, "cell ", hi + 1u);
    } else {
        out->cell_min_v = live->min_cell_v;
        out->cell_max_v = live->max_cell_v;
    }
}

static void temperatures(can_inputs_t *out, const bms_live_t *live)
{
    float sum = 0.0f;
    unsigned count = 0;
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        if (!live->temp_ext_present[i] || !isfinite(live->temp_ext_c[i])) {
            continue;
        }
        float t = live->temp_ext_c[i];
        sum += t;
        if (count == 0u || t < out->temp_min_c) {
            out->temp_min_c = t;
            label(out->temp_min_id, sizeof out->temp_min_id, "ext ", i + 1u);
        }
        if (count == 0u || t > out->temp_max_c) {
            out->temp_max_c = t;
            label(out->temp_max_id, sizeof out->temp_max_id, "ext ", i + 1u);
        }
        count++;
    }
    if (count > 0u) {
        out->pack_temp_c = sum / (float)count;
    } else if (isfinite(live->temp_internal_c)) {
        /* No cell sensor connected: the BMS board temperature is the only reading there is. */
        out->pack_temp_c = live->temp_internal_c;
        out->temp_min_c = out->temp_max_c = live->temp_internal_c;
        copy_text(out->temp_min_id, sizeof out->temp_min_id, "internal");
        copy_text(out->temp_max_id, sizeof out->temp_max_id, "internal");
    }
}

void can_inputs_build(can_inputs_t *out, const bms_snapshot_t *snap, const can_inputs_src_t *src)
{
    can_inputs_init(out);
    if (!snap || !src) {
        return;
    }
    const bms_live_t *live = &snap->live;
    bool meas = live->valid && src->live_fresh;

    /* Limits: only what the controller decided; never derived here. Defence in depth for
     * invariant 1: they count as valid only once a complete snapshot (live and settings blocks
     * decoded) exists, whatever the controller says. */
    out->transmit = src->limits.transmit;
    out->limits_valid = src->limits.valid && bms_snapshot_complete(snap);
    if (out->limits_valid) {
        out->cvl_v = src->limits.cvl_v;
        out->ccl_a = src->limits.ccl_a;
        out->dcl_a = src->limits.dcl_a;
        out->dvl_v = src->limits.dvl_v;
    }

    out->measurements_valid = meas;
    out->alarms = src->alarms;
    if (meas) {
        out->soc_pct = live->soc_pct;
        out->soh_pct = live->soh_pct; /* NaN when the firmware does not provide register 45 */
        out->pack_v = live->pack_voltage_v;
        out->pack_a = live->pack_current_a;
        cell_extremes(out, live);
        temperatures(out, live);
        out->system_status = live->status == BMS_STATUS_FAULT ? VCAN_STATUS_OFFLINE : VCAN_STATUS_ONLINE;
    } else {
        out->system_status = VCAN_STATUS_OFFLINE;
    }

    if (snap->version.valid) {
        out->fw_major = snap->version.fw_public;
        out->fw_minor = snap->version.fw_internal > 0xFFu ? 0xFFu : (uint8_t)snap->version.fw_internal;
    }
    if (snap->settings.valid && isfinite(snap->settings.capacity_ah) && snap->settings.capacity_ah > 0.0f) {
        out->capacity_installed_ah = snap->settings.capacity_ah;
        out->capacity_online_ah = meas ? snap->settings.capacity_ah : 0.0f;
    }

    /* One TinyBMS = one module. */
    out->modules.online = meas ? 1u : 0u;
    out->modules.offline = meas ? 0u : 1u;
    bool limits_ok = out->limits_valid && isfinite(src->limits.ccl_a) && isfinite(src->limits.dcl_a);
    /* "blocking" = what the GX sees: a limit below 0.05 A goes out as 0 (0.1 A resolution). */
    out->modules.blocking_charge = (!limits_ok || !(src->limits.ccl_a >= 0.05f)) ? 1u : 0u;
    out->modules.blocking_discharge = (!limits_ok || !(src->limits.dcl_a >= 0.05f)) ? 1u : 0u;

    out->energy_in_wh = src->energy_in_wh;
    out->energy_out_wh = src->energy_out_wh;

    copy_text(out->manufacturer, sizeof out->manufacturer, src->identity.manufacturer);
    copy_text(out->battery_name, sizeof out->battery_name, src->identity.battery_name);
    copy_text(out->serial, sizeof out->serial, src->identity.serial);
    copy_text(out->family, sizeof out->family, src->identity.family);
}
