#include "core/failsafe.h"

#include <stddef.h>

#include "core/tb_bits.h"

static const char *const mode_names[FAILSAFE_MODE_COUNT] = {"stop_transmitting", "zero_limits"};

static const cfg_param_t failsafe_params[] = {
    CFG_ROW_INT(failsafe_config_t, stale_ms, "failsafe.stale_ms", "ms", 1000, 60000, 5000, 0,
                "Live BMS data older than this is stale: charging stops at once (CCL 0, CVL at the last "
                "known pack voltage) and the communication alarm is raised; 5 s is five live polls."),
    CFG_ROW_INT(failsafe_config_t, failsafe_ms, "failsafe.failsafe_ms", "ms", 2000, 600000, 30000, 0,
                "Once the last usable data is this old the fail-safe mode applies (must be at least "
                "failsafe.stale_ms); 30 s bounds how long discharge continues on unverified data."),
    CFG_ROW_ENUM(failsafe_config_t, mode, "failsafe.mode", mode_names, FAILSAFE_MODE_COUNT, 0, 0,
                 "What the fail-safe does: stop_transmitting (the GX stops charge and discharge within 3 s "
                 "and reports the BMS lost) or zero_limits (keep sending CCL = DCL = 0; an off-grid inverter "
                 "switches off)."),
};

const cfg_section_t failsafe_section = {"failsafe", failsafe_params,
                                        sizeof failsafe_params / sizeof failsafe_params[0],
                                        sizeof(failsafe_config_t)};

void failsafe_config_defaults(failsafe_config_t *cfg)
{
    cfg_set_defaults(&failsafe_section, cfg);
}

int failsafe_config_check(const failsafe_config_t *cfg, const char **why)
{
    if (cfg->failsafe_ms < cfg->stale_ms) {
        return tb_err_why(why, TB_ERR_RANGE, "failsafe.failsafe_ms must be at least failsafe.stale_ms");
    }
    if (cfg->mode < 0 || cfg->mode >= (int32_t)FAILSAFE_MODE_COUNT) {
        return tb_err_why(why, TB_ERR_RANGE, "failsafe.mode is not a known mode");
    }
    return TB_OK;
}

void failsafe_init(failsafe_state_t *st)
{
    st->started = false;
    st->have_good = false;
    st->last_now_ms = 0;
    st->since_start_ms = 0;
    st->seen_t_ms = 0;
    st->seen_valid = false;
    st->live_age_ms = UINT32_MAX;
    st->good_age_ms = UINT32_MAX;
    st->state = FAILSAFE_NO_DATA;
}

/* A float of the snapshot that must lie in [lo, hi]. The bounds are finite, so NaN and the
 * infinities fail the comparisons (no isfinite() needed). */
typedef struct {
    uint16_t off; /* byte offset in bms_snapshot_t */
    float lo, hi;
    const char *why;
} range_t;

#define LIVE(f) ((uint16_t)offsetof(bms_snapshot_t, live.f))
#define SET(f) ((uint16_t)offsetof(bms_snapshot_t, settings.f))
enum {
    R_MINMAX = 0,
    R_CURRENT = 2,
    R_TEMP = 4,
    R_CUTOFF_V = 5,
    R_FULL = 7,
    R_CUTOFF_T = 10,
    R_CAPACITY = 12,
    R_END = 13
};
static const range_t ranges[R_END] = {
    {LIVE(min_cell_v), 0.5f, 5.0f, "minimum/maximum cell voltage registers implausible"},
    {LIVE(max_cell_v), 0.5f, 5.0f, "minimum/maximum cell voltage registers implausible"},
    {LIVE(pack_current_a), -2000.0f, 2000.0f, "pack current implausible"},
    {LIVE(soc_pct), 0.0f, 100.0f, "state of charge outside 0..100 %"},
    {LIVE(temp_internal_c), -60.0f, 150.0f, "BMS temperature implausible"},
    {SET(over_voltage_v), 1.2f, 4.5f, "BMS cell voltage cut-off settings implausible"},
    {SET(under_voltage_v), 0.8f, 3.5f, "BMS cell voltage cut-off settings implausible"},
    {SET(fully_charged_v), 1.2f, 4.5f, "BMS fully-charged voltage setting implausible"},
    {SET(charge_oc_a), 0.0f, 5000.0f, "BMS over-current cut-off settings implausible"},
    {SET(discharge_oc_a), 0.0f, 5000.0f, "BMS over-current cut-off settings implausible"},
    {SET(over_heat_c), 0.0f, 120.0f, "BMS temperature cut-off settings implausible"},
    {SET(low_temp_charge_c), -50.0f, 30.0f, "BMS temperature cut-off settings implausible"},
    {SET(capacity_ah), 0.0f, 100000.0f, "BMS capacity setting implausible"},
};
#undef LIVE
#undef SET

static bool in_range(float v, const range_t *r)
{
    return v >= r->lo && v <= r->hi;
}

/* The reason of the first of ranges[from..to-1] the snapshot fails, NULL if none. */
static const char *bad_range(const bms_snapshot_t *snap, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        const range_t *r = &ranges[i];
        if (!in_range(*(const float *)(const void *)((const unsigned char *)snap + r->off), r)) {
            return r->why;
        }
    }
    return NULL;
}

/* Why the snapshot is not usable, NULL if it is. Out of line: inlined, each early return would
 * repeat the store through `why`. */
TB_NOINLINE static const char *unusable_why(const bms_snapshot_t *snap)
{
    if (!bms_snapshot_complete(snap)) {
        return "snapshot incomplete (live or settings block missing)";
    }
    uint8_t n = bms_series_cells(snap);
    if (n < BMS_MIN_CELLS || n > BMS_MAX_CELLS) {
        return "series cell count unknown";
    }
    const bms_live_t *l = &snap->live;
    if (l->cell_count < BMS_MIN_CELLS || l->cell_count > BMS_MAX_CELLS) {
        return "live cell count outside 4..16";
    }
    float sum = 0.0f;
    for (unsigned i = 0; i < l->cell_count; i++) {
        if (!in_range(l->cell_v[i], &ranges[R_MINMAX])) { /* 0.5..5.0 V */
            return "a cell voltage is outside 0.5..5.0 V";
        }
        sum += l->cell_v[i];
    }
    if (bad_range(snap, R_MINMAX, R_CURRENT) || l->min_cell_v > l->max_cell_v) {
        return ranges[R_MINMAX].why;
    }
    /* The pack voltage is what CVL is clamped against; it must agree with the cells (10 %).
     * !(pack > 0) also refuses NaN; an infinite pack is refused by the difference (sum is finite).
     * tb_f32_abs() is fabsf() (the sign bit cleared) without the library call. */
    if (!(l->pack_voltage_v > 0.0f) || tb_f32_abs(l->pack_voltage_v - sum) > 0.1f * sum) {
        return "pack voltage disagrees with the sum of the cells";
    }
    const char *bad = bad_range(snap, R_CURRENT, R_CUTOFF_V); /* current, SOC, BMS temperature */
    if (bad) {
        return bad;
    }
    for (unsigned i = 0; i < BMS_EXT_TEMPS; i++) {
        if (l->temp_ext_present[i] && !in_range(l->temp_ext_c[i], &ranges[R_TEMP])) { /* -60..150 degC */
            return "external temperature implausible";
        }
    }
    const bms_settings_t *s = &snap->settings;
    if (bad_range(snap, R_CUTOFF_V, R_FULL) || s->under_voltage_v + 0.1f > s->over_voltage_v) {
        return ranges[R_CUTOFF_V].why;
    }
    bad = bad_range(snap, R_FULL, R_CAPACITY); /* fully charged, over-current and temperature cut-offs */
    if (bad) {
        return bad;
    }
    if (s->low_temp_charge_c >= s->over_heat_c) {
        return ranges[R_CUTOFF_T].why;
    }
    return bad_range(snap, R_CAPACITY, R_END);
}

bool failsafe_snapshot_usable(const bms_snapshot_t *snap, const char **why)
{
    const char *bad = unusable_why(snap);
    if (why) {
        *why = bad ? bad : "";
    }
    return !bad;
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return (a > UINT32_MAX - b) ? UINT32_MAX : a + b;
}

void failsafe_step(failsafe_state_t *st, const bms_snapshot_t *snap, const failsafe_config_t *cfg,
                   uint32_t now_ms, failsafe_verdict_t *out)
{
    uint32_t stale_ms = cfg->stale_ms > 0 ? (uint32_t)cfg->stale_ms : 1u;
    uint32_t fs_ms = cfg->failsafe_ms > 0 ? (uint32_t)cfg->failsafe_ms : 1u;
    if (fs_ms < stale_ms) {
        fs_ms = stale_ms;
    }

    uint32_t dt = 0;
    if (st->started) {
        dt = now_ms - st->last_now_ms; /* modular: fine for any gap below 49.7 days */
    }
    st->started = true;
    st->last_now_ms = now_ms;
    st->since_start_ms = sat_add(st->since_start_ms, dt);
    st->good_age_ms = st->have_good ? sat_add(st->good_age_ms, dt) : UINT32_MAX;

    /* Age of the live block: recomputed from its stamp only when the stamp changes, otherwise
     * carried forward, so that an old snapshot never wraps back to "fresh". */
    if (snap->live.valid) {
        if (!st->seen_valid || snap->live.t_ms != st->seen_t_ms) {
            int32_t a = (int32_t)(now_ms - snap->live.t_ms);
            st->live_age_ms = a < 0 ? UINT32_MAX : (uint32_t)a; /* future stamp: never fresh */
            st->seen_t_ms = snap->live.t_ms;
            st->seen_valid = true;
        } else {
            st->live_age_ms = sat_add(st->live_age_ms, dt);
        }
    } else {
        st->seen_valid = false;
        st->live_age_ms = UINT32_MAX;
    }

    const char *why = "";
    bool usable = failsafe_snapshot_usable(snap, &why);
    bool fresh = usable && st->live_age_ms <= stale_ms;
    if (usable && !fresh) {
        why = "BMS data too old";
    }

    if (fresh) {
        st->have_good = true;
        st->good_age_ms = st->live_age_ms;
        st->state = FAILSAFE_FRESH;
        why = "";
    } else if (!st->have_good) {
        st->state = FAILSAFE_NO_DATA;
        if (snap->live.valid || snap->settings.valid) {
            /* keep the specific reason */
        } else {
            why = "no BMS data yet";
        }
    } else if (st->good_age_ms > fs_ms) {
        st->state = FAILSAFE_ACTIVE;
    } else {
        /* Includes the case of a usable snapshot turning unusable while the last good data is
         * still young: charging stops at once rather than waiting for the age threshold. */
        st->state = FAILSAFE_STALE;
    }

    out->state = st->state;
    out->usable = st->state == FAILSAFE_FRESH;
    out->age_ms = st->have_good ? st->good_age_ms : UINT32_MAX;
    out->why = why ? why : "";
    switch (st->state) {
    case FAILSAFE_FRESH:
        out->valid = true;
        out->transmit = true;
        out->comm_alarm = false;
        break;
    case FAILSAFE_STALE:
        out->valid = true;
        out->transmit = true;
        out->comm_alarm = true;
        break;
    case FAILSAFE_ACTIVE: {
        bool zero = cfg->mode == (int32_t)FAILSAFE_MODE_ZERO_LIMITS;
        out->valid = zero;
        out->transmit = zero;
        out->comm_alarm = true;
        break;
    }
    case FAILSAFE_NO_DATA:
    default:
        out->valid = false;
        out->transmit = false;
        /* Boot: no alarm during the first stale_ms, then report that the BMS does not answer. */
        out->comm_alarm = st->since_start_ms > stale_ms;
        break;
    }
}

const char *failsafe_data_name(failsafe_data_t s)
{
    switch (s) {
    case FAILSAFE_NO_DATA:
        return "no_data";
    case FAILSAFE_FRESH:
        return "fresh";
    case FAILSAFE_STALE:
        return "stale";
    case FAILSAFE_ACTIVE:
        return "failsafe";
    case FAILSAFE_DATA_COUNT:
    default:
        break;
    }
    return "unknown";
}

const char *failsafe_mode_name(failsafe_mode_t m)
{
    if ((unsigned)m < (unsigned)FAILSAFE_MODE_COUNT) {
        return mode_names[m];
    }
    return "unknown";
}
