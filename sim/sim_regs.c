/* The register map as the TinyBMS presents it, the settings table (defaults and ranges), and
 * checked writes. The ranges are those of the register reference (tinybms-registers.csv); the
 * defaults are the simulator's own choice for a LiFePO4 pack (docs/simulator.md). */
#include <string.h>

#include "sim/sim_internal.h"

enum {
    F_USED = 1,   /* a documented register (others are reserved: read 0, writes ignored) */
    F_SIGNED = 2, /* INT16 */
    F_FFFF = 4,   /* reads back 0xFFFF once written (observed for 323 and 328) */
    F_U32 = 8,    /* 312-313: one UINT32, low word first, 1..100000 */
    F_BYTES = 16  /* 330: low byte charger type 0..2, high byte timeout 0..30 s */
};

typedef struct {
    uint16_t def, min, max;
    uint8_t flags;
} setting_t;

#define S_(reg) [(reg) - SIM_SETTINGS_FIRST]
static const setting_t k_settings[SIM_SETTINGS_COUNT] = {
    S_(300) = {3550, 1200, 4500, F_USED},   /* fully charged voltage, mV */
    S_(301) = {3000, 1000, 3500, F_USED},   /* fully discharged voltage, mV */
    S_(303) = {3400, 1000, 4500, F_USED},   /* early balancing threshold, mV */
    S_(304) = {1000, 100, 5000, F_USED},    /* charge finished current, mA */
    S_(305) = {200, 1, 750, F_USED},        /* peak discharge current cutoff, A (range: sim's) */
    S_(306) = {10000, 10, 65500, F_USED},   /* battery capacity, 0.01 Ah */
    S_(307) = {16, 4, 16, F_USED},          /* series cells */
    S_(308) = {15, 15, 100, F_USED},        /* allowed disbalance, mV */
    S_(310) = {20, 5, 60, F_USED},          /* charger startup delay, s */
    S_(311) = {5, 0, 60, F_USED},           /* charger disable delay, s */
    S_(312) = {1000, 1, 0x86A0, F_USED | F_U32}, /* pulses per unit, low word (max 100000) */
    S_(313) = {0, 0, 0x0001, F_USED | F_U32},    /* pulses per unit, high word */
    S_(314) = {2, 1, 5, F_USED},            /* distance unit: km */
    S_(315) = {3800, 1200, 4500, F_USED},   /* over-voltage cutoff, mV */
    S_(316) = {2800, 800, 3500, F_USED},    /* under-voltage cutoff, mV */
    S_(317) = {100, 1, 750, F_USED},        /* discharge over-current cutoff, A */
    S_(318) = {60, 1, 750, F_USED},         /* charge over-current cutoff, A */
    S_(319) = {60, 20, 90, F_USED | F_SIGNED},              /* over-heat cutoff, degC */
    S_(320) = {0, (uint16_t)-40, 10, F_USED | F_SIGNED},    /* low-temp charger cutoff, degC */
    S_(321) = {90, 60, 95, F_USED},         /* charge restart level, % */
    S_(322) = {3000, 10, 65000, F_USED},    /* battery max cycles */
    S_(323) = {50000, 0, 50000, F_USED | F_FFFF}, /* SOH setting, 0.002 % */
    S_(328) = {0, 0, 50000, F_USED | F_FFFF},     /* SOC setting, 0.002 % */
    S_(329) = {0, 0, 7, F_USED},            /* option bits */
    S_(330) = {0x0001, 0x0000, 0x1E02, F_USED | F_BYTES}, /* CC/CV charger, OC timeout 0 s */
    S_(331) = {0, 0, 8, F_USED},            /* load switch: FET */
    S_(332) = {5, 1, 30, F_USED},           /* automatic recovery, s */
    S_(333) = {1, 1, 9, F_USED},            /* charger switch: charge FET */
    S_(334) = {0, 0, 6, F_USED},            /* ignition: disabled */
    S_(335) = {1, 1, 7, F_USED},            /* charger detection: internal */
    S_(336) = {0, 0, 2, F_USED},            /* speed sensor: disabled */
    S_(337) = {0, 0, 10, F_USED},           /* precharge: disabled */
    S_(338) = {3, 0, 7, F_USED},            /* precharge duration: 1 s */
    S_(339) = {0, 0, 1, F_USED},            /* temperature sensor: dual 10k NTC */
    S_(340) = {0, 0, 1, F_USED},            /* operation mode: dual port */
    S_(341) = {0, 0, 8, F_USED},            /* single-port switch: FET */
    S_(342) = {0, 0, 7, F_USED},            /* broadcast: disabled */
    S_(343) = {0, 0, 2, F_USED},            /* broadcast protocol: CA V3 */
};

int sim_setting_info(uint16_t addr, uint16_t *def, uint16_t *min, uint16_t *max)
{
    if (addr < SIM_SETTINGS_FIRST || addr >= SIM_SETTINGS_FIRST + SIM_SETTINGS_COUNT) {
        return SIM_ERR_ARG;
    }
    const setting_t *e = &k_settings[addr - SIM_SETTINGS_FIRST];
    if (def) {
        *def = e->def;
    }
    if (min) {
        *min = e->min;
    }
    if (max) {
        *max = e->max;
    }
    return SIM_OK;
}

void sim__settings_defaults(sim_t *s)
{
    for (unsigned k = 0; k < SIM_SETTINGS_COUNT; k++) {
        s->settings[k] = k_settings[k].def;
    }
    double cap = s->cfg.capacity_ah * 100.0;
    SIM_SET(s, 306) = (uint16_t)(cap < 10 ? 10 : (cap > 65500 ? 65500 : cap + 0.5));
    SIM_SET(s, 307) = s->n;
}

uint16_t sim__setting_opt(const sim_t *s, uint8_t opt, uint16_t addr)
{
    const setting_t *e = &k_settings[addr - SIM_SETTINGS_FIRST];
    switch (opt) {
    case 1:
        return e->min;
    case 2:
        return e->max;
    case 3:
        return e->def;
    default:
        return sim__reg(s, addr);
    }
}

static uint16_t lo16(uint32_t v)
{
    return (uint16_t)(v & 0xFFFFu);
}

static uint16_t hi16(uint32_t v)
{
    return (uint16_t)(v >> 16);
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

uint16_t sim__reg(const sim_t *s, uint16_t a)
{
    const sim_pub_t *p = &s->pub;
    if (a < 16) {
        /* N cells fill the top slots: register 16-N is cell 1 (bottom), 15 is cell N. */
        unsigned first = 16u - s->n;
        return a >= first ? p->cell_01mv[a - first] : 0;
    }
    if (a >= 200 && a < 200 + 2 * SIM_EVENT_SLOTS) {
        const sim_event_t *e = &s->ev[(a - 200) / 2];
        if (e->id == 0) {
            return 0;
        }
        return (a & 1) ? (uint16_t)(((unsigned)e->id << 8) | ((e->ts >> 16) & 0xFFu))
                       : lo16(e->ts);
    }
    if (a >= SIM_SETTINGS_FIRST && a < SIM_SETTINGS_FIRST + SIM_SETTINGS_COUNT) {
        const setting_t *e = &k_settings[a - SIM_SETTINGS_FIRST];
        if (!(e->flags & F_USED)) {
            return 0;
        }
        return (e->flags & F_FFFF) ? 0xFFFFu : s->settings[a - SIM_SETTINGS_FIRST];
    }
    uint32_t life = sim__lifetime(s);
    switch (a) {
    case 32: return lo16(life);
    case 33: return hi16(life);
    case 34: return lo16(p->time_left_s);
    case 35: return hi16(p->time_left_s);
    case 36: return lo16(f2u(p->pack_v));
    case 37: return hi16(f2u(p->pack_v));
    case 38: return lo16(f2u(p->pack_i));
    case 39: return hi16(f2u(p->pack_i));
    case 40: return p->min_mv;
    case 41: return p->max_mv;
    case 42: return (uint16_t)p->t_ext1;
    case 43: return (uint16_t)p->t_ext2;
    case 44: return 0;     /* distance left: no speed sensor */
    case 45: return 50000; /* state of health 100 % */
    case 46: return lo16(p->soc_raw);
    case 47: return hi16(p->soc_raw);
    case 48: return (uint16_t)p->t_int;
    case 50: return p->status;
    case 51: return p->bal_decision;
    case 52: return p->bal_active;
    case 53: return s->n;
    case 54: return 0; /* speed 0.0f */
    case 55: return 0;
    case 100: return lo16(s->st_distance);
    case 101: return hi16(s->st_distance);
    case 102: return s->st_max_dis_da;
    case 103: return s->st_max_chg_da;
    case 104: return s->st_max_diff_01mv;
    case 105: return s->st_count[0];
    case 106: return s->st_count[1];
    case 107: return s->st_count[2];
    case 108: return s->st_count[3];
    case 109: return s->st_count[4];
    case 111: return s->st_charging;
    case 112: return s->st_full;
    case 113: return (uint16_t)((uint8_t)s->st_tmin | ((unsigned)(uint8_t)s->st_tmax << 8));
    case 114: return (uint16_t)(s->st_reset_cause | ((unsigned)s->st_wake_src << 8));
    case 116: return lo16(s->st_cleared_ts);
    case 117: return hi16(s->st_cleared_ts);
    case 500: return s->hw[0];
    case 501: return s->hw[1];
    case 502: return s->hw[2];
    case 503: return s->hw[3];
    default:
        break;
    }
    if (a >= 504 && a <= 509) {
        return s->serial[a - 504];
    }
    return 0;
}

static bool value_ok(const setting_t *e, uint16_t v)
{
    if (e->flags & F_SIGNED) {
        int16_t x = (int16_t)v;
        return x >= (int16_t)e->min && x <= (int16_t)e->max;
    }
    if (e->flags & F_BYTES) {
        return (v & 0xFFu) <= (e->max & 0xFFu) && (v >> 8) <= (e->max >> 8);
    }
    if (e->flags & F_U32) {
        return true; /* checked as a pair below */
    }
    return v >= e->min && v <= e->max;
}

int sim__write_list(sim_t *s, const uint16_t *addrs, const uint16_t *vals, size_t n, uint32_t now)
{
    uint16_t tmp[SIM_SETTINGS_COUNT];
    memcpy(tmp, s->settings, sizeof tmp);
    bool soc_written = false, mode_written = false, pair = false;
    uint16_t soc_val = 0;
    for (size_t k = 0; k < n; k++) {
        uint16_t a = addrs[k];
        if (a < SIM_SETTINGS_FIRST || a >= SIM_SETTINGS_FIRST + SIM_SETTINGS_COUNT) {
            return SIM_ERR_READONLY;
        }
        const setting_t *e = &k_settings[a - SIM_SETTINGS_FIRST];
        if (!(e->flags & F_USED)) {
            continue; /* reserved: accepted and ignored, as the device is assumed to do */
        }
        if (!value_ok(e, vals[k])) {
            return SIM_ERR_RANGE;
        }
        tmp[a - SIM_SETTINGS_FIRST] = vals[k];
        pair |= (e->flags & F_U32) != 0;
        if (a == 328) {
            soc_written = true;
            soc_val = vals[k];
        }
        mode_written |= a == 340;
    }
    if (pair) {
        uint32_t ppu = tmp[SIM_S(312)] | ((uint32_t)tmp[SIM_S(313)] << 16);
        if (ppu < 1 || ppu > 100000) {
            return SIM_ERR_RANGE;
        }
    }
    uint16_t old_mode = SIM_SET(s, 340);
    memcpy(s->settings, tmp, sizeof tmp);
    if (soc_written) {
        sim__set_bms_soc(s, soc_val * 0.002);
    }
    if (mode_written) {
        bool was = s->rebooting;
        sim__begin_reboot(s, now);
        if (!was) {
            s->mode_before_reboot = old_mode;
        }
    }
    return SIM_OK;
}

int sim_read_register(const sim_t *s, uint16_t addr, uint16_t *value)
{
    if (!s || !value || addr >= SIM_REG_SPACE) {
        return SIM_ERR_ARG;
    }
    *value = sim__reg(s, addr);
    return SIM_OK;
}

int sim_write_register(sim_t *s, uint16_t addr, uint16_t value, uint32_t now)
{
    if (!s) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    if (s->rebooting) {
        return SIM_ERR_BUSY;
    }
    return sim__write_list(s, &addr, &value, 1, now);
}

int sim_write_registers(sim_t *s, const uint16_t *addrs, const uint16_t *values, size_t n, uint32_t now)
{
    if (!s || (n > 0u && (!addrs || !values))) {
        return SIM_ERR_ARG;
    }
    sim_advance(s, now);
    if (s->rebooting) {
        return SIM_ERR_BUSY;
    }
    return sim__write_list(s, addrs, values, n, now);
}
