#include "core/vcan.h"

#include <string.h>

/* ---- byte and number helpers ---------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_s16(uint8_t *p, int32_t v)
{
    /* v is already clamped to the int16 range; two's complement via the unsigned image. */
    put_u16(p, (uint16_t)((uint32_t)v & 0xFFFFu));
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static int16_t get_s16(const uint8_t *p)
{
    uint16_t u = get_u16(p);
    /* Portable two's-complement reinterpretation (no implementation-defined conversion). */
    return (u & 0x8000u) ? (int16_t)(-(int32_t)(0x10000u - (uint32_t)u)) : (int16_t)u;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* x (finite) rounded half away from zero and clamped to [lo, hi]. Clamping happens before the
 * conversion so that no out-of-range double is ever converted to an integer (undefined in C). */
static int32_t round_clamp(double x, int32_t lo, int32_t hi)
{
    if (x <= (double)lo) {
        return lo;
    }
    if (x >= (double)hi) {
        return hi;
    }
    double r = (x >= 0.0) ? x + 0.5 : x - 0.5;
    return (int32_t)r; /* truncation toward zero after the 0.5 shift = half away from zero */
}

static int32_t scale_f(float v, double scale, int32_t lo, int32_t hi)
{
    return round_clamp((double)v * scale, lo, hi);
}

static void frame_init(can_frame_t *f, uint16_t id)
{
    memset(f, 0, sizeof *f);
    f->id = id;
    f->dlc = CAN_FRAME_MAX_DLC;
}

/* ---- encoders ------------------------------------------------------------------------------- */

int vcan_encode_limits(can_frame_t *out, const vcan_limits_t *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    if (!isfinite(v->cvl_v) || !isfinite(v->ccl_a) || !isfinite(v->dcl_a) || !isfinite(v->dvl_v)) {
        return TB_ERR_RANGE; /* 0x351 has no "not supported" code: never invent a limit */
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_LIMITS);
    put_u16(&f.data[0], (uint16_t)scale_f(v->cvl_v, 10.0, 0, 65535));
    /* sn16 on the wire, but Victron wants both current limits positive: clamp at 0. */
    put_s16(&f.data[2], scale_f(v->ccl_a, 10.0, 0, 32767));
    put_s16(&f.data[4], scale_f(v->dcl_a, 10.0, 0, 32767));
    put_u16(&f.data[6], (uint16_t)scale_f(v->dvl_v, 10.0, 0, 65535));
    *out = f;
    return (int)f.dlc;
}

int vcan_encode_soc(can_frame_t *out, const vcan_soc_t *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    if (!isfinite(v->soc_pct)) {
        return TB_ERR_RANGE;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_SOC);
    put_u16(&f.data[0], (uint16_t)scale_f(v->soc_pct, 1.0, 0, 100));
    put_u16(&f.data[2], isfinite(v->soh_pct) ? (uint16_t)scale_f(v->soh_pct, 1.0, 0, 100) : (uint16_t)VCAN_U16_NA);
    float hires = isfinite(v->soc_hires_pct) ? v->soc_hires_pct : v->soc_pct;
    put_u16(&f.data[4], (uint16_t)scale_f(hires, 100.0, 0, 10000));
    *out = f;
    return (int)f.dlc;
}

int vcan_encode_battery(can_frame_t *out, const vcan_battery_t *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    if (!isfinite(v->voltage_v) || !isfinite(v->current_a)) {
        return TB_ERR_RANGE;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_BATTERY);
    put_s16(&f.data[0], scale_f(v->voltage_v, 100.0, INT16_MIN, INT16_MAX));
    put_s16(&f.data[2], scale_f(v->current_a, 10.0, INT16_MIN, INT16_MAX));
    /* -32768 is the "not supported" code, so a real temperature stops at -3276.7 degC. */
    put_s16(&f.data[4], isfinite(v->temp_c) ? scale_f(v->temp_c, 10.0, -INT16_MAX, INT16_MAX) : (int32_t)VCAN_S16_NA);
    *out = f;
    return (int)f.dlc;
}

enum { PAIR_NONE = 0u, PAIR_ACTIVE = 1u, PAIR_OK = 2u };

static void set_pair(uint8_t *data, unsigned byte, unsigned pair, uint8_t value)
{
    unsigned shift = pair * 2u;
    data[byte] = (uint8_t)((data[byte] & (uint8_t) ~(3u << shift)) | (uint8_t)((value & 3u) << shift));
}

static uint8_t get_pair(const uint8_t *data, unsigned byte, unsigned pair)
{
    return (uint8_t)((data[byte] >> (pair * 2u)) & 3u);
}

int vcan_encode_alarms(can_frame_t *out, const alarm_set_t *levels, vcan_sys_status_t status)
{
    if (!out || !levels) {
        return TB_ERR_ARG;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_ALARMS);
    /* Reserved pairs (byte 3 pairs 1-3, byte 7 pairs 2-3) are "inactive": a fully healthy battery
     * then reads AA AA AA AA AA AA AA AA like the real ones do. */
    memset(f.data, 0xAA, sizeof f.data);
    for (unsigned c = 0; c < (unsigned)ALARM_COUNT; c++) {
        uint8_t a;
        uint8_t w;
        switch (levels->level[c]) {
        case ALARM_LEVEL_OK:
            a = PAIR_OK;
            w = PAIR_OK;
            break;
        case ALARM_LEVEL_WARNING:
            a = PAIR_OK;
            w = PAIR_ACTIVE;
            break;
        case ALARM_LEVEL_ALARM:
            a = PAIR_ACTIVE;
            w = PAIR_ACTIVE;
            break;
        case ALARM_LEVEL_UNSUPPORTED:
            a = PAIR_NONE;
            w = PAIR_NONE;
            break;
        default:
            return TB_ERR_RANGE; /* not an alarm_level_t: a bug upstream, do not guess */
        }
        set_pair(f.data, c / 4u, c % 4u, a);
        set_pair(f.data, 4u + c / 4u, c % 4u, w);
    }
    uint8_t sp;
    switch (status) {
    case VCAN_STATUS_ONLINE:
        sp = PAIR_OK;
        break;
    case VCAN_STATUS_OFFLINE:
        sp = PAIR_ACTIVE;
        break;
    case VCAN_STATUS_UNSUPPORTED:
        sp = PAIR_NONE;
        break;
    default:
        return TB_ERR_RANGE;
    }
    set_pair(f.data, 7u, 1u, sp);
    *out = f;
    return (int)f.dlc;
}

bool vcan_is_text_id(uint32_t id)
{
    switch (id) {
    case VCAN_ID_MANUFACTURER:
    case VCAN_ID_NAME1:
    case VCAN_ID_NAME2:
    case VCAN_ID_MIN_CELL_V_ID:
    case VCAN_ID_MAX_CELL_V_ID:
    case VCAN_ID_MIN_TEMP_ID:
    case VCAN_ID_MAX_TEMP_ID:
    case VCAN_ID_SERIAL1:
    case VCAN_ID_SERIAL2:
    case VCAN_ID_FAMILY:
        return true;
    default:
        return false;
    }
}

static bool printable(uint8_t c)
{
    return c >= 0x20u && c <= 0x7Eu;
}

int vcan_encode_text(can_frame_t *out, uint16_t id, const char *s)
{
    if (!out || !s || !vcan_is_text_id(id)) {
        return TB_ERR_ARG;
    }
    can_frame_t f;
    frame_init(&f, id);
    for (unsigned i = 0; i < VCAN_TEXT_MAX && s[i] != '\0'; i++) {
        uint8_t c = (uint8_t)s[i];
        f.data[i] = printable(c) ? c : (uint8_t)'?';
    }
    *out = f;
    return (int)f.dlc;
}

int vcan_encode_info(can_frame_t *out, const vcan_info_t *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_INFO);
    put_u16(&f.data[0], v->model_id);
    f.data[2] = v->fw_major; /* the one big-endian field of the set: major byte first */
    f.data[3] = v->fw_minor;
    put_u16(&f.data[4], isfinite(v->capacity_ah) ? (uint16_t)scale_f(v->capacity_ah, 1.0, 0, 65535) : 0u);
    put_u16(&f.data[6], v->reserved);
    *out = f;
    return (int)f.dlc;
}

int vcan_encode_modules(can_frame_t *out, const vcan_modules_t *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_MODULES);
    /* A real count can never be 0xFFFF in a uint16_t that is not VCAN_U16_NA: pass through. */
    put_u16(&f.data[0], v->online);
    put_u16(&f.data[2], v->blocking_charge);
    put_u16(&f.data[4], v->blocking_discharge);
    put_u16(&f.data[6], v->offline);
    *out = f;
    return (int)f.dlc;
}

static uint16_t u16_or_na(float v, double scale, double offset)
{
    if (!isfinite(v)) {
        return (uint16_t)VCAN_U16_NA;
    }
    /* 0 and 0xFFFF both read as "not supported" in 0x373: real values stay in 1..0xFFFE. */
    return (uint16_t)round_clamp((double)v * scale + offset, 1, 0xFFFE);
}

int vcan_encode_cells(can_frame_t *out, const vcan_cells_t *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_CELLS);
    put_u16(&f.data[0], u16_or_na(v->min_cell_v, 1000.0, 0.0));
    put_u16(&f.data[2], u16_or_na(v->max_cell_v, 1000.0, 0.0));
    put_u16(&f.data[4], u16_or_na(v->min_temp_c, 1.0, 273.0));
    put_u16(&f.data[6], u16_or_na(v->max_temp_c, 1.0, 273.0));
    *out = f;
    return (int)f.dlc;
}

/* Energy counter in 100 Wh units, wrapping modulo 2^32 as the spec asks ("roll over to 0"). */
static uint32_t energy_units(double wh)
{
    double u = wh / 100.0;
    if (!(u > 0.0)) {
        return 0u;
    }
    if (u > 9007199254740992.0) { /* 2^53: beyond it doubles are not exact integers anyway */
        u = 9007199254740992.0;
    }
    uint64_t r = (uint64_t)(u + 0.5);
    return (uint32_t)(r & 0xFFFFFFFFu);
}

int vcan_encode_energy(can_frame_t *out, const vcan_energy_t *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    if (!isfinite(v->in_wh) || !isfinite(v->out_wh)) {
        return TB_ERR_RANGE;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_ENERGY);
    put_u32(&f.data[0], energy_units(v->in_wh));
    put_u32(&f.data[4], energy_units(v->out_wh));
    *out = f;
    return (int)f.dlc;
}

int vcan_encode_capacity(can_frame_t *out, const vcan_capacity_t *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    if (!isfinite(v->installed_ah)) {
        return TB_ERR_RANGE;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_CAPACITY);
    put_u16(&f.data[0], (uint16_t)scale_f(v->installed_ah, 1.0, 0, 65535));
    *out = f;
    return (int)f.dlc;
}

int vcan_encode(can_frame_t *out, const vcan_msg_t *m)
{
    if (!out || !m) {
        return TB_ERR_ARG;
    }
    switch (m->id) {
    case VCAN_ID_LIMITS:
        return vcan_encode_limits(out, &m->u.limits);
    case VCAN_ID_SOC:
        return vcan_encode_soc(out, &m->u.soc);
    case VCAN_ID_BATTERY:
        return vcan_encode_battery(out, &m->u.battery);
    case VCAN_ID_ALARMS:
        return vcan_encode_alarms(out, &m->u.alarms.levels, m->u.alarms.status);
    case VCAN_ID_INFO:
        return vcan_encode_info(out, &m->u.info);
    case VCAN_ID_MODULES:
        return vcan_encode_modules(out, &m->u.modules);
    case VCAN_ID_CELLS:
        return vcan_encode_cells(out, &m->u.cells);
    case VCAN_ID_ENERGY:
        return vcan_encode_energy(out, &m->u.energy);
    case VCAN_ID_CAPACITY:
        return vcan_encode_capacity(out, &m->u.capacity);
    default:
        if (vcan_is_text_id(m->id)) {
            return vcan_encode_text(out, m->id, m->u.text.text);
        }
        return TB_ERR_ARG;
    }
}

/* ---- decoder -------------------------------------------------------------------------------- */

static bool have(const can_frame_t *f, unsigned off, unsigned len)
{
    return (unsigned)f->dlc >= off + len;
}

static float dec_u16(const can_frame_t *f, unsigned off, float div)
{
    return have(f, off, 2u) ? (float)get_u16(&f->data[off]) / div : VCAN_NA;
}

static float dec_s16(const can_frame_t *f, unsigned off, float div)
{
    return have(f, off, 2u) ? (float)get_s16(&f->data[off]) / div : VCAN_NA;
}

static uint16_t dec_count(const can_frame_t *f, unsigned off)
{
    return have(f, off, 2u) ? get_u16(&f->data[off]) : (uint16_t)VCAN_U16_NA;
}

static float dec_cell_field(const can_frame_t *f, unsigned off, bool temp)
{
    if (!have(f, off, 2u)) {
        return VCAN_NA;
    }
    uint16_t raw = get_u16(&f->data[off]);
    if (raw == 0u || raw == VCAN_U16_NA) {
        return VCAN_NA;
    }
    return temp ? (float)((int32_t)raw - 273) : (float)raw / 1000.0f;
}

static void dec_text(const can_frame_t *f, vcan_text_t *t)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->dlc && i < VCAN_TEXT_MAX; i++) {
        uint8_t c = f->data[i];
        if (c == 0u) {
            break;
        }
        if (printable(c)) {
            t->text[n++] = (char)c;
        }
    }
    t->text[n] = '\0';
}

static void dec_alarms(const can_frame_t *f, vcan_alarms_t *a)
{
    uint8_t d[CAN_FRAME_MAX_DLC] = {0};
    memcpy(d, f->data, f->dlc); /* bytes beyond the DLC read as 00 = not supported */
    for (unsigned c = 0; c < (unsigned)ALARM_COUNT; c++) {
        uint8_t ap = get_pair(d, c / 4u, c % 4u);
        uint8_t wp = get_pair(d, 4u + c / 4u, c % 4u);
        a->alarm_pair[c] = ap;
        a->warning_pair[c] = wp;
        uint8_t lvl;
        if (ap == PAIR_ACTIVE) {
            lvl = ALARM_LEVEL_ALARM;
        } else if (wp == PAIR_ACTIVE) {
            lvl = ALARM_LEVEL_WARNING;
        } else if (ap == PAIR_OK || wp == PAIR_OK) {
            lvl = ALARM_LEVEL_OK;
        } else {
            lvl = ALARM_LEVEL_UNSUPPORTED; /* 00 or 11 in both */
        }
        a->levels.level[c] = lvl;
    }
    a->status_pair = get_pair(d, 7u, 1u);
    a->status = a->status_pair == PAIR_OK       ? VCAN_STATUS_ONLINE
                : a->status_pair == PAIR_ACTIVE ? VCAN_STATUS_OFFLINE
                                                : VCAN_STATUS_UNSUPPORTED;
}

int vcan_decode(const can_frame_t *f, vcan_msg_t *out)
{
    if (!f || !out) {
        return TB_ERR_ARG;
    }
    if ((f->flags & (CAN_FLAG_EXT | CAN_FLAG_RTR | CAN_FLAG_ERR)) != 0u || f->dlc > CAN_FRAME_MAX_DLC) {
        return TB_ERR_FORMAT; /* the protocol is 11-bit data frames only */
    }
    if (vcan_id_name(f->id) == NULL) {
        return TB_ERR_NOTFOUND;
    }
    vcan_msg_t m;
    memset(&m, 0, sizeof m);
    m.id = (uint16_t)f->id;
    switch (f->id) {
    case VCAN_ID_GX_KEEPALIVE:
    case VCAN_ID_GX_306:
        m.u.raw.dlc = f->dlc;
        memcpy(m.u.raw.data, f->data, f->dlc);
        break;
    case VCAN_ID_GX_INVERTER: {
        static const uint8_t sig[7] = {0x12, 0x34, 0x56, 0x78, 'V', 'I', 'C'};
        m.u.gx_id.signature_ok = have(f, 0, 7u) && memcmp(f->data, sig, sizeof sig) == 0;
        unsigned n = 0;
        for (unsigned i = 4; i < 7u && i < f->dlc; i++) {
            if (printable(f->data[i])) {
                m.u.gx_id.tag[n++] = (char)f->data[i];
            }
        }
        m.u.gx_id.tag[n] = '\0';
        break;
    }
    case VCAN_ID_LIMITS:
        if (!have(f, 0, 2u)) {
            return TB_ERR_FORMAT;
        }
        m.u.limits.cvl_v = dec_u16(f, 0, 10.0f);
        m.u.limits.ccl_a = dec_s16(f, 2, 10.0f);
        m.u.limits.dcl_a = dec_s16(f, 4, 10.0f);
        m.u.limits.dvl_v = dec_u16(f, 6, 10.0f);
        break;
    case VCAN_ID_SOC:
        if (!have(f, 0, 2u)) {
            return TB_ERR_FORMAT;
        }
        m.u.soc.soc_pct = dec_u16(f, 0, 1.0f);
        m.u.soc.soh_pct = (have(f, 2, 2u) && get_u16(&f->data[2]) != VCAN_U16_NA) ? dec_u16(f, 2, 1.0f) : VCAN_NA;
        m.u.soc.soc_hires_pct = dec_u16(f, 4, 100.0f);
        break;
    case VCAN_ID_BATTERY:
        if (!have(f, 0, 2u)) {
            return TB_ERR_FORMAT;
        }
        m.u.battery.voltage_v = dec_s16(f, 0, 100.0f);
        m.u.battery.current_a = dec_s16(f, 2, 10.0f);
        m.u.battery.temp_c = (have(f, 4, 2u) && get_s16(&f->data[4]) != VCAN_S16_NA) ? dec_s16(f, 4, 10.0f) : VCAN_NA;
        break;
    case VCAN_ID_ALARMS:
        if (f->dlc == 0u) {
            return TB_ERR_FORMAT;
        }
        dec_alarms(f, &m.u.alarms);
        break;
    case VCAN_ID_INFO:
        if (!have(f, 0, 2u)) {
            return TB_ERR_FORMAT;
        }
        m.u.info.model_id = get_u16(&f->data[0]);
        m.u.info.fw_major = have(f, 2, 1u) ? f->data[2] : 0u;
        m.u.info.fw_minor = have(f, 3, 1u) ? f->data[3] : 0u;
        m.u.info.capacity_ah = dec_u16(f, 4, 1.0f);
        m.u.info.reserved = have(f, 6, 2u) ? get_u16(&f->data[6]) : 0u;
        break;
    case VCAN_ID_MODULES:
        if (!have(f, 0, 2u)) {
            return TB_ERR_FORMAT;
        }
        m.u.modules.online = dec_count(f, 0);
        m.u.modules.blocking_charge = dec_count(f, 2);
        m.u.modules.blocking_discharge = dec_count(f, 4);
        m.u.modules.offline = dec_count(f, 6);
        break;
    case VCAN_ID_CELLS:
        if (!have(f, 0, 2u)) {
            return TB_ERR_FORMAT;
        }
        m.u.cells.min_cell_v = dec_cell_field(f, 0, false);
        m.u.cells.max_cell_v = dec_cell_field(f, 2, false);
        m.u.cells.min_temp_c = dec_cell_field(f, 4, true);
        m.u.cells.max_temp_c = dec_cell_field(f, 6, true);
        break;
    case VCAN_ID_ENERGY:
        if (!have(f, 0, 4u)) {
            return TB_ERR_FORMAT;
        }
        m.u.energy.in_wh = (double)get_u32(&f->data[0]) * 100.0;
        m.u.energy.out_wh = have(f, 4, 4u) ? (double)get_u32(&f->data[4]) * 100.0 : VCAN_NA_D;
        break;
    case VCAN_ID_CAPACITY:
        if (!have(f, 0, 2u)) {
            return TB_ERR_FORMAT;
        }
        m.u.capacity.installed_ah = dec_u16(f, 0, 1.0f);
        break;
    default: /* text frames: vcan_id_name() accepted the id */
        dec_text(f, &m.u.text);
        break;
    }
    *out = m;
    return TB_OK;
}

/* ---- names ---------------------------------------------------------------------------------- */

const char *vcan_id_name(uint32_t id)
{
    switch (id) {
    case VCAN_ID_GX_KEEPALIVE: return "gx_keepalive";
    case VCAN_ID_GX_306: return "gx_306";
    case VCAN_ID_GX_INVERTER: return "gx_inverter_id";
    case VCAN_ID_LIMITS: return "limits";
    case VCAN_ID_SOC: return "soc";
    case VCAN_ID_BATTERY: return "battery";
    case VCAN_ID_ALARMS: return "alarms";
    case VCAN_ID_MANUFACTURER: return "manufacturer";
    case VCAN_ID_INFO: return "info";
    case VCAN_ID_NAME1: return "name_1";
    case VCAN_ID_NAME2: return "name_2";
    case VCAN_ID_MODULES: return "modules";
    case VCAN_ID_CELLS: return "cells";
    case VCAN_ID_MIN_CELL_V_ID: return "min_cell_voltage_id";
    case VCAN_ID_MAX_CELL_V_ID: return "max_cell_voltage_id";
    case VCAN_ID_MIN_TEMP_ID: return "min_temperature_id";
    case VCAN_ID_MAX_TEMP_ID: return "max_temperature_id";
    case VCAN_ID_ENERGY: return "energy";
    case VCAN_ID_CAPACITY: return "capacity";
    case VCAN_ID_SERIAL1: return "serial_1";
    case VCAN_ID_SERIAL2: return "serial_2";
    case VCAN_ID_FAMILY: return "family";
    default: return NULL;
    }
}

bool vcan_is_gx_id(uint32_t id)
{
    return id == VCAN_ID_GX_KEEPALIVE || id == VCAN_ID_GX_306 || id == VCAN_ID_GX_INVERTER;
}

bool vcan_is_bms_tx_id(uint32_t id)
{
    return vcan_id_name(id) != NULL && !vcan_is_gx_id(id);
}

const char *vcan_level_name(uint8_t level)
{
    switch (level) {
    case ALARM_LEVEL_OK: return "ok";
    case ALARM_LEVEL_WARNING: return "warning";
    case ALARM_LEVEL_ALARM: return "alarm";
    case ALARM_LEVEL_UNSUPPORTED: return "unsupported";
    default: return "invalid";
    }
}

const char *vcan_alarm_name(unsigned id)
{
    static const char *const names[ALARM_COUNT] = {
        "general",          "high_voltage",           "low_voltage",         "high_temperature",
        "low_temperature",  "high_charge_temperature", "low_charge_temperature", "high_discharge_current",
        "high_charge_current", "contactor",           "short_circuit",       "bms_internal",
        "cell_imbalance",
    };
    return id < (unsigned)ALARM_COUNT ? names[id] : "?";
}

const char *vcan_status_name(vcan_sys_status_t st)
{
    switch (st) {
    case VCAN_STATUS_ONLINE: return "online";
    case VCAN_STATUS_OFFLINE: return "offline";
    case VCAN_STATUS_UNSUPPORTED: return "unsupported";
    default: return "invalid";
    }
}

/* ---- identity hygiene ----------------------------------------------------------------------- */

/* Brands the GX identifies (or that Venus gives special DVCC treatment), in upper case without
 * spaces. Short entries (<= 3 letters) match only at the start of a word, longer ones anywhere.
 * Not exhaustive: it exists to stop the obvious mistakes (copying a peer's "PYLON" or "BYD"). */
static const char *const known_brands[] = {
    "PYLON",    /* Pylontech: CVL controller + CCL floor C/4 in DVCC */
    "PELIO",    /* Pylontech Pelio-L family */
    "BYD",      /* CCL=0 is replaced by 40 A in DVCC */
    "PREMIUM",  /* BYD's 0x382 family string */
    "LG",       /* LG RESU: CVL capped */
    "DYNESS",
    "FREEDOMWON",
    "VICTRON",
    "LYNX",     /* Victron Lynx Smart BMS */
    "MG",       /* MG Energy Systems */
    "PYTES",
    "SOLTARO",
    "DISCOVER",
    "BLUENOVA",
    "REDFLOW",
    "BMZ",
    "WECO",
    "HUBBLE",
    "BSL",
    "SHOTO",
};

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static bool alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

bool vcan_is_known_brand(const char *s, const char **brand)
{
    if (!s) {
        return false;
    }
    /* compact: upper-case letters and digits only ("Freedom Won" -> "FREEDOMWON"), bounded. */
    char compact[64];
    size_t n = 0;
    /* word_start[i]: compact[i] begins a word of the original text */
    bool word_start[sizeof compact] = {false};
    bool prev_alnum = false;
    for (size_t i = 0; s[i] != '\0' && n < sizeof compact; i++) {
        if (alnum(s[i])) {
            word_start[n] = !prev_alnum;
            compact[n++] = upper(s[i]);
            prev_alnum = true;
        } else {
            prev_alnum = false;
        }
    }
    for (size_t b = 0; b < sizeof known_brands / sizeof known_brands[0]; b++) {
        const char *k = known_brands[b];
        size_t kl = strlen(k);
        for (size_t i = 0; i + kl <= n; i++) {
            if (kl <= 3u && !word_start[i]) {
                continue;
            }
            if (starts_with(&compact[i], n - i, k)) {
                if (brand) {
                    *brand = k;
                }
                return true;
            }
        }
    }
    return false;
}
