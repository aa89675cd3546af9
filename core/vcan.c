#include "core/vcan.h"
#include "core/tb_bits.h"

#include <string.h>

/* ---- byte and number helpers ---------------------------------------------------------------- */

/* The low 16 bits of v, little-endian: an un16 as it is, an sn16 (already clamped to the int16
 * range) as its two's complement image. */
static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
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

/* v (finite) x scale + off, rounded half away from zero and clamped to [lo, hi]; scale <= 1000,
 * 0 <= off <= 273, |lo|, |hi| <= 65535. Exactly what rounding in double gave (the product of a
 * float and scale is exact in double, and so are the sums for every value that can round to
 * something other than off), computed in integers: |v| = m / 2^sh with m < 2^24. */
static int32_t scale_round(float v, uint32_t scale, int32_t off, int32_t lo, int32_t hi)
{
    uint32_t u = tb_f32_bits(v);
    bool neg = (u >> 31) != 0u;
    uint32_t e = (u >> 23) & 0xFFu;
    if (e >= 150u) {
        return neg ? lo : hi; /* |v| >= 2^23: beyond every wire range, whatever scale and off */
    }
    uint32_t m = u & 0x7FFFFFu;
    if (e != 0u) {
        m |= 0x800000u;
    } else {
        e = 1u; /* subnormal */
    }
    uint32_t sh = 150u - e; /* 1..149 */
    int32_t r = off;        /* |v x scale| < 2^34 / 2^41 cannot move the rounding of off */
    if (sh <= 40u) {
        int64_t x = (int64_t)((uint64_t)m * scale);
        x = (neg ? -x : x) + (int64_t)((uint64_t)(uint32_t)off << sh);
        uint64_t a = x < 0 ? (uint64_t)-x : (uint64_t)x;
        a = (a + ((uint64_t)1 << (sh - 1u))) >> sh; /* floor(|x| + 1/2) */
        if (a > 0x10000u) {
            a = 0x10000u; /* outside every range: only the clamp below matters */
        }
        r = x < 0 ? -(int32_t)a : (int32_t)a;
    }
    return r < lo ? lo : r > hi ? hi : r;
}

static void frame_init(can_frame_t *f, uint16_t id)
{
    memset(f, 0, sizeof *f);
    f->id = id;
    f->dlc = CAN_FRAME_MAX_DLC;
}

/* ---- the frame set -------------------------------------------------------------------------- */

/* Frame kinds. The numeric frames whose fields are all 16-bit scaled floats (0x351, 0x355, 0x356,
 * 0x373, 0x379) are K_NUM | first field in k_fields << 2 | (field count - 1); the encoder and
 * the decoder both walk their field list. */
enum { K_RAW = 1, K_GX_ID, K_TEXT, K_ALARMS, K_INFO, K_MODULES, K_ENERGY, K_NUM = 0x80 };
#define NUM(first, n) (K_NUM | ((first) << 2) | ((n) - 1))

/* Ids minus 0x300, their kinds and their names, in one order. */
static const uint8_t k_ids[] = {0x05, 0x06, 0x07, 0x51, 0x55, 0x56, 0x5A, 0x5E, 0x5F, 0x70, 0x71,
                                0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x80, 0x81, 0x82};
static const uint8_t k_kinds[sizeof k_ids] = {
    K_RAW,       K_RAW,     K_GX_ID,   NUM(0, 4), NUM(4, 3), NUM(7, 3), K_ALARMS,  K_TEXT,
    K_INFO,      K_TEXT,    K_TEXT,    K_MODULES, NUM(10, 4), K_TEXT,   K_TEXT,    K_TEXT,
    K_TEXT,      K_ENERGY,  NUM(14, 1), K_TEXT,   K_TEXT,    K_TEXT,
};
static const char k_names[] = "gx_keepalive\0gx_306\0gx_inverter_id\0limits\0soc\0battery\0alarms\0"
                              "manufacturer\0info\0name_1\0name_2\0modules\0cells\0min_cell_voltage_id\0"
                              "max_cell_voltage_id\0min_temperature_id\0max_temperature_id\0energy\0"
                              "capacity\0serial_1\0serial_2\0family";

/* Index of id in k_ids, or -1. */
static int id_index(uint32_t id)
{
    uint32_t low = id - 0x300u;
    for (unsigned i = 0; i < sizeof k_ids; i++) {
        if (low == k_ids[i]) {
            return (int)i;
        }
    }
    return -1;
}

static unsigned kind_of(uint32_t id)
{
    int i = id_index(id);
    return i < 0 ? 0u : k_kinds[i];
}

/* A 16-bit field: bits 0-1 scale (x1, x10, x100, x1000), bits 2-4 wire range, bits 5-7 what a
 * missing (non-finite) value becomes. */
enum { R_U16, R_PCT, R_PCT100, R_MV, R_KELVIN, R_S15, R_S16, R_S16NA }; /* >= R_S15: sn16 */
enum {
    NA_REQ = 0,   /* required: the frame is refused (TB_ERR_RANGE) */
    NA_FFFF = 1,  /* 0xFFFF; the decoder reads 0xFFFF as missing */
    NA_8000 = 2,  /* 0x8000; the decoder reads 0x8000 as missing */
    NA_CELL = 3,  /* 0xFFFF; the decoder reads 0x0000 and 0xFFFF as missing */
    NA_ZERO = 4,  /* 0x0000 ("unused"); the decoder has no missing code */
    NA_FIRST = 5  /* the frame's first field (0x355: high-resolution SOC from SOC) */
};
#define FLD(scale, range, na) ((scale) | ((range) << 2) | ((na) << 5))

static const int16_t k_lo[8] = {0, 0, 0, 1, 1, 0, INT16_MIN, -INT16_MAX};
/* 0x373 reserves 0 and 0xFFFF; 0x356 reserves -32768 for the temperature. */
static const uint16_t k_hi[8] = {65535, 100, 10000, 0xFFFE, 0xFFFE, 32767, 32767, 32767};
static const uint16_t k_scale[4] = {1, 10, 100, 1000};
static const float k_div[4] = {1.0f, 10.0f, 100.0f, 1000.0f};
static const uint16_t k_na_wire[5] = {0, 0xFFFF, 0x8000, 0xFFFF, 0x0000};

static const uint8_t k_fields[] = {
    /* 0x351: CVL, CCL, DCL, DVL (0.1 V / 0.1 A; Victron wants both current limits >= 0) */
    FLD(1, R_U16, NA_REQ), FLD(1, R_S15, NA_REQ), FLD(1, R_S15, NA_REQ), FLD(1, R_U16, NA_REQ),
    /* 0x355: SOC 1 %, SOH 1 %, SOC 0.01 % */
    FLD(0, R_PCT, NA_REQ), FLD(0, R_PCT, NA_FFFF), FLD(2, R_PCT100, NA_FIRST),
    /* 0x356: 0.01 V, 0.1 A, 0.1 degC */
    FLD(2, R_S16, NA_REQ), FLD(1, R_S16, NA_REQ), FLD(1, R_S16NA, NA_8000),
    /* 0x373: min/max cell 1 mV, min/max temperature 1 K */
    FLD(3, R_MV, NA_CELL), FLD(3, R_MV, NA_CELL), FLD(0, R_KELVIN, NA_CELL), FLD(0, R_KELVIN, NA_CELL),
    /* 0x379: installed capacity 1 Ah */
    FLD(0, R_U16, NA_REQ),
    /* 0x35F bytes 4-5: online capacity 1 Ah */
    FLD(0, R_U16, NA_ZERO),
};
#define INFO_CAPACITY 15u /* index in k_fields */

/* Wire value of a float field into p; TB_ERR_RANGE if it is required and not finite. */
static int enc_field(uint8_t *p, float v, float first, unsigned d)
{
    unsigned na = d >> 5;
    unsigned range = (d >> 2) & 7u;
    uint32_t w;
    if (!tb_f32_finite(v) && na == NA_FIRST) {
        v = first; /* finite: the first field is required */
    }
    if (tb_f32_finite(v)) {
        w = (uint32_t)scale_round(v, k_scale[d & 3u], range == R_KELVIN ? 273 : 0, k_lo[range], k_hi[range]);
    } else if (na == NA_REQ) {
        return TB_ERR_RANGE; /* no "not supported" code: never invent a value */
    } else {
        w = k_na_wire[na];
    }
    put_u16(p, w);
    return TB_OK;
}

static bool have(const can_frame_t *f, unsigned off, unsigned len)
{
    return (unsigned)f->dlc >= off + len;
}

static TB_NOINLINE float dec_field(const can_frame_t *f, unsigned off, unsigned d)
{
    if (!have(f, off, 2u)) {
        return VCAN_NA;
    }
    unsigned na = d >> 5;
    unsigned range = (d >> 2) & 7u;
    uint16_t raw = get_u16(&f->data[off]);
    if ((raw == 0xFFFFu && (na == NA_FFFF || na == NA_CELL)) || (raw == 0x8000u && na == NA_8000) ||
        (raw == 0u && na == NA_CELL)) {
        return VCAN_NA;
    }
    int32_t x = range >= R_S15 ? (int32_t)get_s16(&f->data[off]) : (int32_t)raw;
    if (range == R_KELVIN) {
        x -= 273;
    }
    return (float)x / k_div[d & 3u];
}

/* ---- encoders ------------------------------------------------------------------------------- */

/* The structs of the K_NUM frames are plain float arrays in field order: the i-th field sits at
 * offset i x sizeof(float) (the offsetof idiom, as in container_of). */
_Static_assert(offsetof(vcan_limits_t, dvl_v) == 3u * sizeof(float), "vcan_limits_t layout");
_Static_assert(offsetof(vcan_soc_t, soc_hires_pct) == 2u * sizeof(float), "vcan_soc_t layout");
_Static_assert(offsetof(vcan_battery_t, temp_c) == 2u * sizeof(float), "vcan_battery_t layout");
_Static_assert(offsetof(vcan_cells_t, max_temp_c) == 3u * sizeof(float), "vcan_cells_t layout");

static float num_get(const void *v, unsigned i)
{
    return *(const float *)(const void *)((const unsigned char *)v + i * sizeof(float));
}

static int enc_num(can_frame_t *out, uint16_t id, const void *v)
{
    if (!out || !v) {
        return TB_ERR_ARG;
    }
    unsigned k = kind_of(id);
    const uint8_t *d = &k_fields[(k >> 2) & 0x1Fu];
    can_frame_t f;
    frame_init(&f, id);
    for (unsigned i = 0; i <= (k & 3u); i++) {
        if (enc_field(&f.data[2u * i], num_get(v, i), num_get(v, 0), d[i]) != TB_OK) {
            return TB_ERR_RANGE;
        }
    }
    *out = f;
    return (int)f.dlc;
}

int vcan_encode_limits(can_frame_t *out, const vcan_limits_t *v)
{
    return enc_num(out, VCAN_ID_LIMITS, v);
}

int vcan_encode_soc(can_frame_t *out, const vcan_soc_t *v)
{
    return enc_num(out, VCAN_ID_SOC, v);
}

int vcan_encode_battery(can_frame_t *out, const vcan_battery_t *v)
{
    return enc_num(out, VCAN_ID_BATTERY, v);
}

int vcan_encode_cells(can_frame_t *out, const vcan_cells_t *v)
{
    return enc_num(out, VCAN_ID_CELLS, v);
}

int vcan_encode_capacity(can_frame_t *out, const vcan_capacity_t *v)
{
    return enc_num(out, VCAN_ID_CAPACITY, v);
}

enum { PAIR_NONE = 0u, PAIR_ACTIVE = 1u, PAIR_OK = 2u };

static void set_pair(uint8_t *data, unsigned byte, unsigned pair, unsigned value)
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
    /* Alarm pair | warning pair << 2 by alarm_level_t: OK = 10/10, WARNING = 10/01 (the alarm
     * pair stays OK), ALARM = 01/01 (the warning threshold lies below the alarm's), UNSUPPORTED =
     * 00/00. System status by vcan_sys_status_t: unsupported 00, online 10, offline 01. */
    static const uint8_t level_pairs[4] = {PAIR_OK | PAIR_OK << 2, PAIR_OK | PAIR_ACTIVE << 2,
                                           PAIR_ACTIVE | PAIR_ACTIVE << 2, PAIR_NONE};
    static const uint8_t status_pair[3] = {PAIR_NONE, PAIR_OK, PAIR_ACTIVE};
    if (!out || !levels) {
        return TB_ERR_ARG;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_ALARMS);
    /* Reserved pairs (byte 3 pairs 1-3, byte 7 pairs 2-3) are "inactive": a fully healthy battery
     * then reads AA AA AA AA AA AA AA AA like the real ones do. */
    memset(f.data, 0xAA, sizeof f.data);
    for (unsigned c = 0; c < (unsigned)ALARM_COUNT; c++) {
        unsigned l = levels->level[c];
        if (l >= sizeof level_pairs) {
            return TB_ERR_RANGE; /* not an alarm_level_t: a bug upstream, do not guess */
        }
        set_pair(f.data, c / 4u, c % 4u, level_pairs[l]);
        set_pair(f.data, 4u + c / 4u, c % 4u, (unsigned)level_pairs[l] >> 2);
    }
    if ((unsigned)status >= sizeof status_pair) {
        return TB_ERR_RANGE;
    }
    set_pair(f.data, 7u, 1u, status_pair[status]);
    *out = f;
    return (int)f.dlc;
}

bool vcan_is_text_id(uint32_t id)
{
    return kind_of(id) == K_TEXT;
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
    (void)enc_field(&f.data[4], v->capacity_ah, 0.0f, k_fields[INFO_CAPACITY]); /* NaN -> 0, never fails */
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

/* Energy counter in 100 Wh units, wrapping modulo 2^32 as the spec asks ("roll over to 0").
 * Kept out of line: inlined into the loop below it would be unrolled into two copies. */
static TB_NOINLINE uint32_t energy_units(double wh)
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
    if (!tb_f64_finite(v->in_wh) || !tb_f64_finite(v->out_wh)) {
        return TB_ERR_RANGE;
    }
    can_frame_t f;
    frame_init(&f, VCAN_ID_ENERGY);
    const double wh[2] = {v->in_wh, v->out_wh};
    for (unsigned i = 0; i < 2u; i++) {
        uint32_t u = energy_units(wh[i]);
        put_u16(&f.data[4u * i], u);
        put_u16(&f.data[4u * i + 2u], u >> 16);
    }
    *out = f;
    return (int)f.dlc;
}

int vcan_encode(can_frame_t *out, const vcan_msg_t *m)
{
    if (!out || !m) {
        return TB_ERR_ARG;
    }
    unsigned k = kind_of(m->id);
    if (k & K_NUM) {
        return enc_num(out, m->id, &m->u);
    }
    switch (k) {
    case K_ALARMS:
        return vcan_encode_alarms(out, &m->u.alarms.levels, m->u.alarms.status);
    case K_TEXT:
        return vcan_encode_text(out, m->id, m->u.text.text);
    case K_INFO:
        return vcan_encode_info(out, &m->u.info);
    case K_MODULES:
        return vcan_encode_modules(out, &m->u.modules);
    case K_ENERGY:
        return vcan_encode_energy(out, &m->u.energy);
    default:
        return TB_ERR_ARG; /* the GX's own ids, or not a Victron BMS id */
    }
}

/* ---- decoder -------------------------------------------------------------------------------- */

static uint16_t dec_count(const can_frame_t *f, unsigned off)
{
    return have(f, off, 2u) ? get_u16(&f->data[off]) : (uint16_t)VCAN_U16_NA;
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
    unsigned k = kind_of(f->id);
    if (k == 0u) {
        return TB_ERR_NOTFOUND;
    }
    /* Bytes the first field needs: a numeric frame shorter than that is malformed. */
    unsigned need = k == K_ENERGY ? 4u : k == K_ALARMS ? 1u : k >= K_INFO ? 2u : 0u;
    if (f->dlc < need) {
        return TB_ERR_FORMAT;
    }
    vcan_msg_t m;
    memset(&m, 0, sizeof m);
    m.id = (uint16_t)f->id;
    if (k & K_NUM) {
        const uint8_t *d = &k_fields[(k >> 2) & 0x1Fu];
        for (unsigned i = 0; i <= (k & 3u); i++) {
            *(float *)(void *)((unsigned char *)&m.u + i * sizeof(float)) = dec_field(f, 2u * i, d[i]);
        }
    }
    switch (k) {
    case K_RAW:
        m.u.raw.dlc = f->dlc;
        memcpy(m.u.raw.data, f->data, f->dlc);
        break;
    case K_GX_ID: {
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
    case K_ALARMS:
        dec_alarms(f, &m.u.alarms);
        break;
    case K_INFO:
        m.u.info.model_id = get_u16(&f->data[0]);
        m.u.info.fw_major = have(f, 2, 1u) ? f->data[2] : 0u;
        m.u.info.fw_minor = have(f, 3, 1u) ? f->data[3] : 0u;
        m.u.info.capacity_ah = dec_field(f, 4, k_fields[INFO_CAPACITY]);
        m.u.info.reserved = have(f, 6, 2u) ? get_u16(&f->data[6]) : 0u;
        break;
    case K_MODULES:
        m.u.modules.online = dec_count(f, 0);
        m.u.modules.blocking_charge = dec_count(f, 2);
        m.u.modules.blocking_discharge = dec_count(f, 4);
        m.u.modules.offline = dec_count(f, 6);
        break;
    case K_ENERGY: {
        double wh[2];
        for (unsigned i = 0; i < 2u; i++) {
            wh[i] = have(f, 4u * i, 4u) ? (double)get_u32(&f->data[4u * i]) * 100.0 : VCAN_NA_D;
        }
        m.u.energy.in_wh = wh[0];
        m.u.energy.out_wh = wh[1];
        break;
    }
    case K_TEXT:
        dec_text(f, &m.u.text);
        break;
    default: /* K_NUM: done above */
        break;
    }
    *out = m;
    return TB_OK;
}

/* ---- names ---------------------------------------------------------------------------------- */

const char *vcan_id_name(uint32_t id)
{
    int i = id_index(id);
    if (i < 0) {
        return NULL;
    }
    const char *s = k_names;
    while (i-- > 0) {
        s += strlen(s) + 1u;
    }
    return s;
}

bool vcan_is_gx_id(uint32_t id)
{
    return id == VCAN_ID_GX_KEEPALIVE || id == VCAN_ID_GX_306 || id == VCAN_ID_GX_INVERTER;
}

bool vcan_is_bms_tx_id(uint32_t id)
{
    return kind_of(id) > K_GX_ID;
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
 * spaces, one after the other, each ended by a NUL (one string: no table of pointers). Short
 * entries (<= 3 letters) match only at the start of a word, longer ones anywhere. Not exhaustive:
 * it exists to stop the obvious mistakes (copying a peer's "PYLON" or "BYD"). */
static const char known_brands[] =
    "PYLON\0"      /* Pylontech: CVL controller + CCL floor C/4 in DVCC */
    "PELIO\0"      /* Pylontech Pelio-L family */
    "BYD\0"        /* CCL=0 is replaced by 40 A in DVCC */
    "PREMIUM\0"    /* BYD's 0x382 family string */
    "LG\0"         /* LG RESU: CVL capped */
    "DYNESS\0"
    "FREEDOMWON\0"
    "VICTRON\0"
    "LYNX\0"       /* Victron Lynx Smart BMS */
    "MG\0"         /* MG Energy Systems */
    "PYTES\0"
    "SOLTARO\0"
    "DISCOVER\0"
    "BLUENOVA\0"
    "REDFLOW\0"
    "BMZ\0"
    "WECO\0"
    "HUBBLE\0"
    "BSL\0"
    "SHOTO\0";

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static bool alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
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
    size_t kl;
    for (const char *k = known_brands; *k != '\0'; k += kl + 1u) {
        kl = strlen(k);
        for (size_t i = 0; i + kl <= n; i++) {
            if ((kl > 3u || word_start[i]) && memcmp(&compact[i], k, kl) == 0) {
                if (brand) {
                    *brand = k;
                }
                return true;
            }
        }
    }
    return false;
}
