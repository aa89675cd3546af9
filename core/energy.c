#include "core/energy.h"
#include "core/tb_bits.h"

#include <math.h>
#include <string.h>

#include "core/crc16.h"

#define S energy_config_t
static const cfg_param_t energy_params[] = {
    CFG_ROW_INT(S, max_gap_ms, "energy.max_gap_ms", "ms", 1000, 600000, 5000, CFG_F_ADVANCED,
                "Samples further apart than this are not integrated (same as the stale threshold by "
                "default), so a silent BMS never adds invented energy."),
    CFG_ROW_INT(S, save_min_interval_s, "energy.save_min_interval_s", "s", 60, 86400, 600, 0,
                "The counters are written to storage at most once per this interval (flash wear), plus "
                "on shutdown."),
    CFG_ROW_INT(S, save_max_interval_s, "energy.save_max_interval_s", "s", 300, 604800, 3600, 0,
                "Any change is written at least this often."),
    CFG_ROW_FLOAT(S, save_delta_wh, "energy.save_delta_wh", "Wh", 1, 100000, 100, 0,
                  "The counters are written once they moved this much (one 0x378 unit)."),
};
#undef S

const cfg_section_t energy_section = {"energy", energy_params, sizeof energy_params / sizeof energy_params[0],
                                      sizeof(energy_config_t)};

void energy_config_defaults(energy_config_t *cfg)
{
    cfg_set_defaults(&energy_section, cfg);
}

void energy_init(energy_state_t *st, uint32_t now_ms)
{
    memset(st, 0, sizeof *st);
    st->last_save_ms = now_ms;
}

/* -1, 0 or +1 for a float that is not NaN (both zeros are 0). */
static int sign_of(float v)
{
    uint32_t u = tb_f32_bits(v);
    return (u << 1) == 0u ? 0 : (u >> 31) != 0u ? -1 : 1;
}

void energy_sample(energy_state_t *st, const energy_config_t *cfg, uint32_t t_ms, float volts, float amps)
{
    /* volts < 0.0f for a finite volts: sign bit set and not -0.0 */
    if (!tb_f32_finite(volts) || !tb_f32_finite(amps) || tb_f32_bits(volts) > 0x80000000u) {
        st->have_prev = false;
        st->rejected++;
        return;
    }
    float p = volts * amps;
    if (!st->have_prev) {
        st->have_prev = true;
        st->prev_t_ms = t_ms;
        st->prev_p_w = p;
        return;
    }
    int32_t dt = (int32_t)(t_ms - st->prev_t_ms);
    if (dt == 0) {
        return; /* the same snapshot again */
    }
    if (dt < 0) {
        st->rejected++;
    } else if (cfg->max_gap_ms > 0 && dt > cfg->max_gap_ms) {
        st->gaps++;
    } else {
        double h = (double)dt / 3600000.0; /* hours */
        if (st->time_scale > 0.0) {
            h *= st->time_scale;
        }
        double p0 = (double)st->prev_p_w;
        double p1 = (double)p;
        double pos;
        double neg;
        /* p0 >= 0 && p1 >= 0 || p0 <= 0 && p1 <= 0: the product of finite floats is never NaN,
         * so this is "no strict sign change", read off the sign bits. */
        if (sign_of(st->prev_p_w) * sign_of(p) >= 0) {
            double a = 0.5 * (p0 + p1) * h;
            pos = a > 0.0 ? a : 0.0;
            neg = a < 0.0 ? -a : 0.0;
        } else {
            /* Sign change: split at the zero crossing of the straight line between the samples. */
            double tz = h * p0 / (p0 - p1);
            double a0 = 0.5 * p0 * tz;
            double a1 = 0.5 * p1 * (h - tz);
            pos = a0 > 0.0 ? a0 : a1;
            neg = a0 > 0.0 ? -a1 : -a0;
        }
        st->charged_wh += pos;
        st->discharged_wh += neg;
        st->samples++;
    }
    st->prev_t_ms = t_ms;
    st->prev_p_w = p;
}

bool energy_should_save(const energy_state_t *st, const energy_config_t *cfg, uint32_t now_ms)
{
    double delta = (st->charged_wh - st->saved_charged_wh) + (st->discharged_wh - st->saved_discharged_wh);
    if (!(delta > 0.0)) {
        return false;
    }
    /* Unsigned elapsed time: after a 49.7-day wrap a save is at worst delayed, never early. */
    uint32_t since = now_ms - st->last_save_ms;
    uint32_t min_ms = cfg->save_min_interval_s > 0 ? (uint32_t)cfg->save_min_interval_s * 1000u : 0u;
    uint32_t max_ms = cfg->save_max_interval_s > 0 ? (uint32_t)cfg->save_max_interval_s * 1000u : 0u;
    if (since < min_ms) {
        return false;
    }
    return delta >= (double)cfg->save_delta_wh || since >= max_ms;
}

/* Little-endian; 64-bit values as two 32-bit halves (no 64-bit shifts by a variable count). */
static void put_u32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4u; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4u; i++) {
        v |= (uint32_t)p[i] << (8u * i);
    }
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

static uint64_t wh_to_mwh(double wh)
{
    double m = wh * 1000.0 + 0.5;
    if (!(m > 0.0)) {
        return 0;
    }
    if (m >= 9.0e18) {
        return (uint64_t)9.0e18;
    }
    return (uint64_t)m;
}

/* Counter (Wh) -> blob field (mWh, little-endian u64). Out of line: called for both counters. */
static TB_NOINLINE void put_mwh(uint8_t *p, double wh)
{
    uint64_t v = wh_to_mwh(wh);
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

int energy_serialize(const energy_state_t *st, uint8_t *buf, size_t cap)
{
    if (!buf || cap < ENERGY_BLOB_SIZE) {
        return TB_ERR_NOSPACE;
    }
    uint32_t seq = st->sequence + 1u;
    buf[0] = 'E';
    buf[1] = 'N';
    buf[2] = (uint8_t)ENERGY_BLOB_VERSION;
    buf[3] = (uint8_t)(ENERGY_BLOB_SIZE - 6u);
    put_mwh(&buf[4], st->charged_wh);
    put_mwh(&buf[12], st->discharged_wh);
    put_u32(&buf[20], seq);
    uint16_t crc = crc16_modbus(buf, ENERGY_BLOB_SIZE - 2u);
    buf[24] = (uint8_t)(crc & 0xFFu);
    buf[25] = (uint8_t)(crc >> 8);
    return (int)ENERGY_BLOB_SIZE;
}

void energy_mark_saved(energy_state_t *st, uint32_t now_ms)
{
    /* The blob stores mWh: remember exactly what was stored so nothing is lost or double-counted
     * in the "moved since" decision. */
    st->saved_charged_wh = st->charged_wh;
    st->saved_discharged_wh = st->discharged_wh;
    st->last_save_ms = now_ms;
    st->sequence++;
}

/* Blob field (mWh) -> counter (Wh). Out of line: called for both counters. */
static TB_NOINLINE double mwh_to_wh(const uint8_t *p)
{
    return (double)get_u64(p) / 1000.0;
}

int energy_restore(energy_state_t *st, const uint8_t *buf, size_t len, uint32_t now_ms)
{
    if (!buf || len < 4u || buf[0] != 'E' || buf[1] != 'N') {
        return TB_ERR_FORMAT;
    }
    if (buf[2] != (uint8_t)ENERGY_BLOB_VERSION) {
        return TB_ERR_UNSUPPORTED;
    }
    if (buf[3] != (uint8_t)(ENERGY_BLOB_SIZE - 6u) || len != ENERGY_BLOB_SIZE) {
        return TB_ERR_FORMAT;
    }
    uint16_t crc = (uint16_t)(buf[24] | (uint16_t)(buf[25] << 8));
    if (crc16_modbus(buf, ENERGY_BLOB_SIZE - 2u) != crc) {
        return TB_ERR_CRC;
    }
    uint32_t seq = get_u32(&buf[20]);
    st->charged_wh = mwh_to_wh(&buf[4]);
    st->discharged_wh = mwh_to_wh(&buf[12]);
    st->saved_charged_wh = st->charged_wh;
    st->saved_discharged_wh = st->discharged_wh;
    st->have_prev = false;
    st->last_save_ms = now_ms;
    st->sequence = seq;
    return TB_OK;
}

static TB_NOINLINE uint32_t to_100wh(double wh)
{
    if (!(wh > 0.0)) {
        return 0;
    }
    double u = floor(wh / 100.0);
    return (uint32_t)(uint64_t)fmod(u, 4294967296.0);
}

uint32_t energy_charged_100wh(const energy_state_t *st)
{
    return to_100wh(st->charged_wh);
}

uint32_t energy_discharged_100wh(const energy_state_t *st)
{
    return to_100wh(st->discharged_wh);
}
