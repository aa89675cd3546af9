#include "core/alarms.h"

#include <stddef.h>
#include <string.h>

#include "core/tb_bits.h"

#define S alarms_config_t
static const cfg_param_t alarms_params[] = {
    CFG_ROW_FLOAT(S, cell_high_warn_v, "alarms.cell_high_warn_v", "V", 3.40, 4.50, 3.55, 0,
                  "High-voltage warning when the highest cell reaches this (where charging stops by default)."),
    CFG_ROW_FLOAT(S, cell_high_alarm_v, "alarms.cell_high_alarm_v", "V", 3.40, 4.50, 3.60, 0,
                  "High-voltage alarm when the highest cell reaches this or the BMS over-voltage cut-off "
                  "(register 315), whichever is lower."),
    CFG_ROW_FLOAT(S, cell_low_warn_v, "alarms.cell_low_warn_v", "V", 2.00, 3.30, 3.00, 0,
                  "Low-voltage warning when the lowest cell falls to this."),
    CFG_ROW_FLOAT(S, cell_low_alarm_v, "alarms.cell_low_alarm_v", "V", 2.00, 3.30, 2.90, 0,
                  "Low-voltage alarm when the lowest cell falls to this or the BMS under-voltage cut-off "
                  "(register 316), whichever is higher."),
    CFG_ROW_FLOAT(S, voltage_hyst_v, "alarms.voltage_hyst_v", "V", 0.0, 0.2, 0.03, CFG_F_ADVANCED,
                  "A voltage warning/alarm clears only this far inside its threshold."),
    CFG_ROW_FLOAT(S, temp_high_warn_c, "alarms.temp_high_warn_c", "°C", 20, 90, 50, 0,
                  "High-temperature warning (any sensor)."),
    CFG_ROW_FLOAT(S, temp_high_alarm_c, "alarms.temp_high_alarm_c", "°C", 20, 90, 55, 0,
                  "High-temperature alarm (any sensor), at most the BMS over-heat cut-off (register 319)."),
    CFG_ROW_FLOAT(S, temp_low_warn_c, "alarms.temp_low_warn_c", "°C", -40, 20, -10, 0,
                  "Low-temperature warning (any sensor)."),
    CFG_ROW_FLOAT(S, temp_low_alarm_c, "alarms.temp_low_alarm_c", "°C", -40, 20, -20, 0,
                  "Low-temperature alarm (any sensor); LiFePO4 should not be discharged much colder."),
    CFG_ROW_FLOAT(S, charge_temp_high_warn_c, "alarms.charge_temp_high_warn_c", "°C", 20, 90, 45, 0,
                  "High-temperature-while-charging warning."),
    CFG_ROW_FLOAT(S, charge_temp_high_alarm_c, "alarms.charge_temp_high_alarm_c", "°C", 20, 90, 50, 0,
                  "High-temperature-while-charging alarm (at most the BMS over-heat cut-off)."),
    CFG_ROW_FLOAT(S, charge_temp_low_warn_c, "alarms.charge_temp_low_warn_c", "°C", -20, 20, 5, 0,
                  "Low-temperature-while-charging warning."),
    CFG_ROW_FLOAT(S, charge_temp_low_alarm_c, "alarms.charge_temp_low_alarm_c", "°C", -20, 20, 0, 0,
                  "Low-temperature-while-charging alarm (at least the BMS low-temperature charge cut-off, "
                  "register 320)."),
    CFG_ROW_FLOAT(S, temp_hyst_c, "alarms.temp_hyst_c", "°C", 0.0, 10.0, 2.0, CFG_F_ADVANCED,
                  "A temperature warning/alarm clears only this far inside its threshold."),
    CFG_ROW_FLOAT(S, charging_current_a, "alarms.charging_current_a", "A", 0.1, 50, 1.0, CFG_F_ADVANCED,
                  "The battery counts as charging (for the while-charging categories) above this current."),
    CFG_ROW_FLOAT(S, current_warn_pct, "alarms.current_warn_pct", "%", 10, 150, 90, 0,
                  "High charge/discharge current warning at this share of the BMS over-current cut-off "
                  "(318/317); above charge.bms_current_margin_pct's limit (80 %), so running at the allowed "
                  "current is not a warning, exceeding it is."),
    CFG_ROW_FLOAT(S, current_alarm_pct, "alarms.current_alarm_pct", "%", 10, 150, 95, 0,
                  "High charge/discharge current alarm at this share of the BMS over-current cut-off."),
    CFG_ROW_FLOAT(S, current_hyst_pct, "alarms.current_hyst_pct", "%", 0, 50, 5, CFG_F_ADVANCED,
                  "A current warning/alarm clears only this many percent of the cut-off below its threshold."),
    CFG_ROW_FLOAT(S, imbalance_warn_v, "alarms.imbalance_warn_v", "V", 0.01, 1.0, 0.15, 0,
                  "Cell-imbalance warning when highest minus lowest cell reaches this."),
    CFG_ROW_FLOAT(S, imbalance_alarm_v, "alarms.imbalance_alarm_v", "V", 0.01, 1.0, 0.30, 0,
                  "Cell-imbalance alarm when the spread reaches this."),
    CFG_ROW_INT(S, raise_ms, "alarms.raise_ms", "ms", 0, 600000, 5000, 0,
                "A condition must hold this long before its warning/alarm is raised (filters spikes)."),
    CFG_ROW_INT(S, clear_ms, "alarms.clear_ms", "ms", 0, 3600000, 30000, 0,
                "A raised warning/alarm clears after its condition has been gone this long."),
    CFG_ROW_INT(S, fault_event_s, "alarms.fault_event_s", "s", 0, 86400, 600, 0,
                "A TinyBMS fault event younger than this (and not followed by a recovery) gives a "
                "BMS-internal warning (0 = ignore the event log)."),
};
#undef S

const cfg_section_t alarms_section = {"alarms", alarms_params, sizeof alarms_params / sizeof alarms_params[0],
                                      sizeof(alarms_config_t)};

void alarms_config_defaults(alarms_config_t *cfg)
{
    cfg_set_defaults(&alarms_section, cfg);
}

/* Cross-field checks in order: a row fails when a > b (a >= b for `ge`); a "warn < alarm" check is
 * written as "alarm > warn" (the same predicate). a, b: byte offsets of floats in alarms_config_t. */
typedef struct {
    uint8_t a, b, ge;
    const char *msg;
} alarms_check_t;
#define AC(f) ((uint8_t)offsetof(alarms_config_t, f))
static const alarms_check_t alarms_checks[] = {
    {AC(cell_high_warn_v), AC(cell_high_alarm_v), 0,
     "alarms.cell_high_warn_v must not exceed alarms.cell_high_alarm_v"},
    {AC(cell_low_alarm_v), AC(cell_low_warn_v), 0,
     "alarms.cell_low_warn_v must not be below alarms.cell_low_alarm_v"},
    {AC(cell_low_warn_v), AC(cell_high_warn_v), 1, "low-voltage thresholds must lie below the high-voltage ones"},
    {AC(temp_high_warn_c), AC(temp_high_alarm_c), 0, "every temperature warning must lie inside its alarm threshold"},
    {AC(temp_low_alarm_c), AC(temp_low_warn_c), 0, "every temperature warning must lie inside its alarm threshold"},
    {AC(charge_temp_high_warn_c), AC(charge_temp_high_alarm_c), 0,
     "every temperature warning must lie inside its alarm threshold"},
    {AC(charge_temp_low_alarm_c), AC(charge_temp_low_warn_c), 0,
     "every temperature warning must lie inside its alarm threshold"},
    {AC(current_warn_pct), AC(current_alarm_pct), 0,
     "alarms.current_warn_pct must not exceed alarms.current_alarm_pct"},
    {AC(imbalance_warn_v), AC(imbalance_alarm_v), 0,
     "alarms.imbalance_warn_v must not exceed alarms.imbalance_alarm_v"},
};
#undef AC

static float float_at(const void *base, unsigned offset)
{
    return *(const float *)(const void *)((const unsigned char *)base + offset);
}

int alarms_config_check(const alarms_config_t *c, const char **why)
{
    for (size_t i = 0; i < sizeof alarms_checks / sizeof alarms_checks[0]; i++) {
        const alarms_check_t *k = &alarms_checks[i];
        float a = float_at(c, k->a);
        float b = float_at(c, k->b);
        if (k->ge ? a >= b : a > b) {
            return tb_err_why(why, TB_ERR_RANGE, k->msg);
        }
    }
    return TB_OK;
}

void alarms_init(alarms_state_t *st)
{
    memset(st, 0, sizeof *st);
    for (unsigned i = 0; i < ALARM_COUNT; i++) {
        st->level[i] = ALARM_LEVEL_OK;
    }
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return (a > UINT32_MAX - b) ? UINT32_MAX : a + b;
}

/* Debounce: `active` follows the raw condition once it has disagreed for the raise/clear time. */
static void debounce(alarms_deb_t *d, bool cond, uint32_t dt, uint32_t raise_ms, uint32_t clear_ms)
{
    if (cond == d->active) {
        d->pend_ms = 0;
        return;
    }
    d->pend_ms = sat_add(d->pend_ms, dt);
    if (d->pend_ms >= (cond ? raise_ms : clear_ms)) {
        d->active = cond;
        d->pend_ms = 0;
    }
}

/* Out of line: -Os would copy them into every use, each copy repeating the libgcc compare and the
 * select. */
TB_NOINLINE static float minf(float a, float b)
{
    return a < b ? a : b;
}

TB_NOINLINE static float maxf(float a, float b)
{
    return a > b ? a : b;
}

typedef struct {
    alarms_state_t *st;
    uint32_t dt, raise, clear;
} ctx_t;

/* Warning and alarm of one category. The raw condition is x at/above the threshold (at/below for
 * `low`), with the hysteresis band applied once active: high x >= thr (active: x >= thr - hyst),
 * low x <= thr (active: x <= thr + hyst). */
static void eval(ctx_t *c, alarm_id_t id, float x, float warn, float alarm, float hyst, bool enabled, bool low)
{
    for (unsigned k = 0; k < 2u; k++) {
        alarms_deb_t *d = k ? &c->st->alarm[id] : &c->st->warn[id];
        float thr = k ? alarm : warn;
        if (d->active) {
            thr = low ? thr + hyst : thr - hyst;
        }
        debounce(d, enabled && (low ? thr >= x : x >= thr), c->dt, c->raise, c->clear);
    }
}

/* The evaluated categories, in evaluation order. x: which reading; warn/alarm/hyst: byte offsets
 * of the alarms_config_t thresholds; bms: byte offset of a bms_settings_t value that either
 * caps the thresholds (AL_CAP: alarm = min(alarm, bms), warn = min(warn, alarm), max for
 * AL_LOW) or must be > 0 for the category to be evaluated at all (AL_NEEDS_BMS); 0 for none. */
enum { AX_VMAX, AX_VMIN, AX_TMAX, AX_TMIN, AX_DISCHARGE_PCT, AX_CHARGE_PCT, AX_SPREAD, AX_COUNT };
enum { AL_LOW = 1, AL_CAP = 2, AL_NEEDS_BMS = 4, AL_CHARGING = 8 };
typedef struct {
    uint8_t id, x, warn, alarm, hyst, bms, flags;
} alarm_row_t;
#define AC(f) ((uint8_t)offsetof(alarms_config_t, f))
#define AB(f) ((uint8_t)offsetof(bms_settings_t, f))
static const alarm_row_t alarm_rows[] = {
    {ALARM_HIGH_VOLTAGE, AX_VMAX, AC(cell_high_warn_v), AC(cell_high_alarm_v), AC(voltage_hyst_v),
     AB(over_voltage_v), AL_CAP},
    {ALARM_LOW_VOLTAGE, AX_VMIN, AC(cell_low_warn_v), AC(cell_low_alarm_v), AC(voltage_hyst_v),
     AB(under_voltage_v), AL_CAP | AL_LOW},
    {ALARM_HIGH_TEMP, AX_TMAX, AC(temp_high_warn_c), AC(temp_high_alarm_c), AC(temp_hyst_c), AB(over_heat_c),
     AL_CAP},
    {ALARM_LOW_TEMP, AX_TMIN, AC(temp_low_warn_c), AC(temp_low_alarm_c), AC(temp_hyst_c), 0, AL_LOW},
    {ALARM_HIGH_TEMP_CHARGE, AX_TMAX, AC(charge_temp_high_warn_c), AC(charge_temp_high_alarm_c), AC(temp_hyst_c),
     AB(over_heat_c), AL_CAP | AL_CHARGING},
    {ALARM_LOW_TEMP_CHARGE, AX_TMIN, AC(charge_temp_low_warn_c), AC(charge_temp_low_alarm_c), AC(temp_hyst_c),
     AB(low_temp_charge_c), AL_CAP | AL_LOW | AL_CHARGING},
    /* currents as a percentage of the BMS cut-offs; unsupported when the cut-off is unknown */
    {ALARM_HIGH_DISCHARGE_CURRENT, AX_DISCHARGE_PCT, AC(current_warn_pct), AC(current_alarm_pct),
     AC(current_hyst_pct), AB(discharge_oc_a), AL_NEEDS_BMS},
    {ALARM_HIGH_CHARGE_CURRENT, AX_CHARGE_PCT, AC(current_warn_pct), AC(current_alarm_pct), AC(current_hyst_pct),
     AB(charge_oc_a), AL_NEEDS_BMS},
    {ALARM_CELL_IMBALANCE, AX_SPREAD, AC(imbalance_warn_v), AC(imbalance_alarm_v), AC(voltage_hyst_v), 0, 0},
};
#undef AC
#undef AB

/* Newest fault event that is recent and not followed by a recovery (0x73-0x7B) or a restart
 * (0x61). Events are sorted oldest first (bms_decode_event_regs contract). 0 if none. */
static uint8_t recent_fault(const bms_events_t *ev, const alarms_config_t *cfg, uint32_t now_ms)
{
    if (!ev || !ev->valid || cfg->fault_event_s <= 0 || ev->count == 0u) {
        return 0;
    }
    unsigned count = ev->count < BMS_EVENT_SLOTS ? ev->count : BMS_EVENT_SLOTS;
    int last_fault = -1;
    for (unsigned i = 0; i < count; i++) {
        uint8_t id = ev->ev[i].id;
        if (id >= 0x01u && id <= 0x30u) {
            last_fault = (int)i;
        } else if (last_fault >= 0 && (id == 0x61u || (id >= 0x73u && id <= 0x7Bu))) {
            last_fault = -1;
        }
    }
    if (last_fault < 0) {
        return 0;
    }
    /* Event time stamps are BMS lifetime seconds truncated to 24 bits. */
    uint32_t age_s = (ev->bms_time_s - ev->ev[last_fault].timestamp_s) & 0xFFFFFFu;
    int32_t since_read = (int32_t)(now_ms - ev->t_ms);
    if (since_read > 0) {
        age_s = sat_add(age_s, (uint32_t)since_read / 1000u);
    }
    return age_s <= (uint32_t)cfg->fault_event_s ? ev->ev[last_fault].id : 0u;
}

void alarms_step(alarms_state_t *st, const bms_snapshot_t *snap, const bms_events_t *events,
                 failsafe_data_t data, bool comm_alarm, const alarms_config_t *cfg, uint32_t now_ms,
                 alarms_out_t *out)
{
    memset(out, 0, sizeof *out);
    uint32_t dt = st->started ? now_ms - st->last_now_ms : 0u;
    st->started = true;
    st->last_now_ms = now_ms;
    ctx_t c = {st, dt, cfg->raise_ms > 0 ? (uint32_t)cfg->raise_ms : 0u,
               cfg->clear_ms > 0 ? (uint32_t)cfg->clear_ms : 0u};

    bool fresh = data == FAILSAFE_FRESH && failsafe_snapshot_usable(snap, NULL);
    out->evaluated = fresh;

    if (fresh) {
        const bms_live_t *l = &snap->live;
        const bms_settings_t *s = &snap->settings;
        float vmax = l->max_cell_v;
        float vmin = l->min_cell_v;
        for (unsigned i = 0; i < l->cell_count && i < BMS_MAX_CELLS; i++) {
            vmax = maxf(vmax, l->cell_v[i]);
            vmin = minf(vmin, l->cell_v[i]);
        }
        /* Every sensor counts for alarms, the BMS board one included. */
        float tmin = l->temp_internal_c;
        float tmax = tmin;
        for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
            if (l->temp_ext_present[i]) {
                tmin = minf(tmin, l->temp_ext_c[i]);
                tmax = maxf(tmax, l->temp_ext_c[i]);
            }
        }
        float i_a = l->pack_current_a;
        bool charging = i_a > cfg->charging_current_a;
        float x[AX_COUNT];
        x[AX_VMAX] = vmax;
        x[AX_VMIN] = vmin;
        x[AX_TMAX] = tmax;
        x[AX_TMIN] = tmin;
        x[AX_DISCHARGE_PCT] = -i_a / s->discharge_oc_a * 100.0f; /* used only when the cut-off is > 0 */
        x[AX_CHARGE_PCT] = i_a / s->charge_oc_a * 100.0f;
        x[AX_SPREAD] = vmax - vmin;
        for (size_t r = 0; r < sizeof alarm_rows / sizeof alarm_rows[0]; r++) {
            const alarm_row_t *row = &alarm_rows[r];
            float warn = float_at(cfg, row->warn);
            float alarm = float_at(cfg, row->alarm);
            float bms = row->bms ? float_at(s, row->bms) : 0.0f;
            bool low = (row->flags & AL_LOW) != 0u;
            if ((row->flags & AL_NEEDS_BMS) && !(bms > 0.0f)) {
                continue;
            }
            if (row->flags & AL_CAP) {
                alarm = low ? maxf(alarm, bms) : minf(alarm, bms);
                warn = low ? maxf(warn, alarm) : minf(warn, alarm);
            }
            eval(&c, (alarm_id_t)row->id, x[row->x], warn, alarm, float_at(cfg, row->hyst),
                 !(row->flags & AL_CHARGING) || charging, low);
        }
        bool fault = l->status == BMS_STATUS_FAULT || l->status_raw == (uint16_t)BMS_STATUS_FAULT;
        debounce(&st->fault_status, fault, dt, c.raise, c.clear);

        for (unsigned id = 0; id < ALARM_COUNT; id++) {
            st->level[id] = st->alarm[id].active ? ALARM_LEVEL_ALARM
                            : st->warn[id].active ? ALARM_LEVEL_WARNING
                                                  : ALARM_LEVEL_OK;
        }
        if (s->discharge_oc_a <= 0.0f) {
            st->level[ALARM_HIGH_DISCHARGE_CURRENT] = ALARM_LEVEL_UNSUPPORTED;
        }
        if (s->charge_oc_a <= 0.0f) {
            st->level[ALARM_HIGH_CHARGE_CURRENT] = ALARM_LEVEL_UNSUPPORTED;
        }
    } else if (data == FAILSAFE_NO_DATA) {
        /* Boot: nothing known, nothing concluded. Never "low voltage" from an empty snapshot. */
        for (unsigned id = 0; id < ALARM_COUNT; id++) {
            st->level[id] = ALARM_LEVEL_OK;
        }
    }
    /* STALE / FAILSAFE: st->level keeps the last fresh levels; timers did not advance. */

    for (unsigned id = 0; id < ALARM_COUNT; id++) {
        out->set.level[id] = st->level[id];
    }

    /* BMS internal: link first, then the BMS's own fault indications. */
    uint8_t internal = ALARM_LEVEL_OK;
    if (comm_alarm || data == FAILSAFE_STALE || data == FAILSAFE_ACTIVE) {
        internal = ALARM_LEVEL_ALARM;
        out->internal = data == FAILSAFE_NO_DATA ? ALARMS_INTERNAL_NO_ANSWER : ALARMS_INTERNAL_COMM_LOST;
    } else if (st->fault_status.active && data == FAILSAFE_FRESH) {
        internal = ALARM_LEVEL_ALARM;
        out->internal = ALARMS_INTERNAL_FAULT_STATUS;
    } else if (data == FAILSAFE_FRESH) {
        uint8_t id = recent_fault(events, cfg, now_ms);
        if (id != 0u) {
            internal = ALARM_LEVEL_WARNING;
            out->internal = ALARMS_INTERNAL_FAULT_EVENT;
            out->fault_event_id = id;
        }
    }
    out->set.level[ALARM_BMS_INTERNAL] = internal;
    out->set.level[ALARM_GENERAL] = ALARM_LEVEL_UNSUPPORTED;
    out->set.level[ALARM_CONTACTOR] = ALARM_LEVEL_UNSUPPORTED;
    out->set.level[ALARM_SHORT_CIRCUIT] = ALARM_LEVEL_UNSUPPORTED;

    for (unsigned id = 0; id < ALARM_COUNT; id++) {
        if (out->set.level[id] == ALARM_LEVEL_ALARM) {
            out->active_alarms++;
        } else if (out->set.level[id] == ALARM_LEVEL_WARNING) {
            out->active_warnings++;
        }
    }
}

const char *alarms_category_name(alarm_id_t id)
{
    static const char *const n[ALARM_COUNT] = {
        "general",           "high_voltage",           "low_voltage",          "high_temperature",
        "low_temperature",   "high_charge_temperature", "low_charge_temperature", "high_discharge_current",
        "high_charge_current", "contactor",            "short_circuit",        "bms_internal",
        "cell_imbalance",
    };
    return (unsigned)id < (unsigned)ALARM_COUNT ? n[id] : "unknown";
}

const char *alarms_level_name(alarm_level_t level)
{
    switch (level) {
    case ALARM_LEVEL_OK:
        return "ok";
    case ALARM_LEVEL_WARNING:
        return "warning";
    case ALARM_LEVEL_ALARM:
        return "alarm";
    case ALARM_LEVEL_UNSUPPORTED:
        return "unsupported";
    default:
        break;
    }
    return "unknown";
}

const char *alarms_internal_name(alarms_internal_t why)
{
    switch (why) {
    case ALARMS_INTERNAL_NONE:
        return "none";
    case ALARMS_INTERNAL_COMM_LOST:
        return "communication_lost";
    case ALARMS_INTERNAL_NO_ANSWER:
        return "no_answer";
    case ALARMS_INTERNAL_FAULT_STATUS:
        return "fault_status";
    case ALARMS_INTERNAL_FAULT_EVENT:
        return "fault_event";
    default:
        break;
    }
    return "unknown";
}
