/* charge: the charge-limit controller. Turns a BMS snapshot and the configuration into the
 * Victron 0x351 limits CVL (charge voltage), CCL (charge current), DCL (discharge current) and
 * DVL (discharge voltage), the charge state and, for each limit, the limiter that binds it.
 *
 * It is one pure step function over a caller-owned state: chg_step(state, snapshot, config,
 * now_ms) -> limits. No clock, no allocation, no I/O; the same inputs give the same outputs.
 * docs/charge-control.md explains the behaviour; this header states the contract.
 *
 * Guarantees after every chg_step() (design.md "Safety invariants", proven by
 * tests/unit/test_charge_props.c):
 *  - out->valid is false (and all limits 0) until the first usable snapshot (failsafe.h).
 *  - CVL is a pack voltage: 0 < CVL <= series_cells x the configured per-cell charge target
 *    (charge.cell_bulk_v), where series_cells = bms_series_cells(snapshot); never a per-cell value.
 *  - "Stop charging" = CCL 0 and CVL at the pack voltage rounded down to CHG_CVL_STEP_V: never
 *    above the pack voltage and at most two steps below it (it follows the pack voltage up only
 *    once two steps below, so noise cannot make it chatter); when the pack is above series cells
 *    x target, that product caps it instead. It applies in the same step as:
 *    a cell at or above the BMS over-voltage cut-off (register 315) or at/above the CCL taper end;
 *    the BMS in fault status (0x9B); the lowest temperature at/below the charge cut-off
 *    (max(charge.charge_temp_min_c, register 320)); the highest temperature at/above
 *    min(charge.charge_temp_max_c, register 319 - charge.temp_margin_c); stale data (against the
 *    last known pack voltage); and whenever the resulting CCL is 0 for any other reason.
 *  - A cell at or below the BMS under-voltage cut-off (316) or the DCL taper end drives DCL to 0
 *    in the same step.
 *  - CCL and DCL are >= 0, never above their targets (the minimum over all limiters) and
 *    decreases apply in the step they are computed; increases wait charge.limit_hold_s after the
 *    last decrease and then ramp at charge.ccl_ramp_a_s / charge.dcl_ramp_a_s.
 *  - CVL decreases apply at once; increases wait charge.cvl_hold_s after a decrease and then ramp
 *    at charge.cvl_rise_v_min (per cell). The exception that follows from "never below the pack
 *    voltage": while charging is stopped CVL tracks the pack voltage in both directions.
 *  - Values are quantised (CVL to CHG_CVL_STEP_V rounded down, currents to CHG_CURRENT_STEP_A
 *    rounded down) so that they survive the 0.1 V / 0.1 A wire encoding unchanged.
 *  - Inputs within the hysteresis bands (charge.voltage_hyst_v, charge.temp_hyst_c,
 *    charge.soc_hyst_pct) do not move the limits: constant input gives constant output.
 *
 * Thread safety: none; state belongs to the owner thread. Memory: the structs below, nothing else.
 */
#ifndef TB_CHARGE_H
#define TB_CHARGE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/bms.h"
#include "core/cfg_schema.h"
#include "core/failsafe.h"

#define CHG_CVL_STEP_V 0.1f     /* 0x351 resolution; CVL is rounded down to it */
#define CHG_CURRENT_STEP_A 0.1f /* 0x351 resolution; CCL/DCL are rounded down to it */
#define CHG_REASON_LEN 384u     /* reason buffer, NUL included (longest sentence ~310, extreme values) */

/* Charge phase: where the charge cycle is. Kept across stale periods. */
typedef enum {
    CHG_PHASE_BULK = 0,   /* charge to the absorption target */
    CHG_PHASE_ABSORPTION, /* hold the target until tail current/time and cells balanced */
    CHG_PHASE_FLOAT,      /* hold the float target (reached by a slow descent) */
    CHG_PHASE_COUNT
} chg_phase_t;

/* Reported state: the phase when data is fresh, otherwise the data condition. */
typedef enum {
    CHG_STATE_NO_DATA = 0, /* no usable snapshot yet: nothing may be sent */
    CHG_STATE_BULK,
    CHG_STATE_ABSORPTION,
    CHG_STATE_FLOAT,
    CHG_STATE_STALE,    /* data stale: charging stopped, DCL frozen */
    CHG_STATE_FAILSAFE, /* fail-safe applied (stop transmitting or zero limits) */
    CHG_STATE_COUNT
} chg_state_t;

/* What binds a limit. Names (chg_limiter_name) are stable API: UI, MQTT and logs use them. */
typedef enum {
    CHG_LIM_NONE = 0,          /* "none" */
    CHG_LIM_CONFIG_MAX,        /* "config_max": configured maximum / per-cell target */
    CHG_LIM_BMS_CUTOFF,        /* "bms_cutoff": derived from a TinyBMS setting (300/315/316/317/318) */
    CHG_LIM_FLOAT,             /* "float": float target (CVL), including the descent to it */
    CHG_LIM_CELL_VOLTAGE_HIGH, /* "cell_voltage_high": highest cell taper / cell controller / stop */
    CHG_LIM_CELL_OVER_VOLTAGE, /* "cell_over_voltage": a cell at/above the BMS over-voltage cut-off */
    CHG_LIM_CELL_VOLTAGE_LOW,  /* "cell_voltage_low": lowest cell taper / stop */
    CHG_LIM_CELL_UNDER_VOLTAGE,/* "cell_under_voltage": a cell at/below the BMS under-voltage cut-off */
    CHG_LIM_TEMP_LOW,          /* "temperature_low" */
    CHG_LIM_TEMP_HIGH,         /* "temperature_high" */
    CHG_LIM_SOC_TAPER,         /* "soc_taper" */
    CHG_LIM_IMBALANCE_HOLD,    /* "imbalance_hold" */
    CHG_LIM_BMS_FAULT,         /* "bms_fault": TinyBMS status 0x9B */
    CHG_LIM_RAMP,              /* "ramp": an increase is being held or ramped */
    CHG_LIM_STALE,             /* "stale_data" */
    CHG_LIM_NO_DATA,           /* "no_data" */
    CHG_LIM_FAILSAFE,          /* "failsafe" */
    CHG_LIM_COUNT
} chg_limiter_t;

/* Section "charge". Fields use the cfg storage types (float, int32_t, bool). Per-cell voltages are
 * multiplied by the series cell count the BMS reports. See docs/charge-control.md for each. */
typedef struct {
    /* targets, per cell */
    float cell_bulk_v;            /* absorption target */
    float cell_float_v;           /* float target */
    float cell_limit_v;           /* cell-voltage controller: highest cell kept below this */
    float ov_margin_v;            /* targets stay this far below the BMS over-voltage cut-off */
    bool cap_at_bms_full;         /* also cap the target at the BMS fully-charged voltage (300) */
    float absorption_band_v;      /* "at voltage" band below the target */
    float dvl_cell_v;             /* discharge voltage (DVL) per cell */
    /* transitions */
    int32_t absorption_time_s;    /* at-voltage time that ends absorption (cells balanced) */
    int32_t absorption_max_s;     /* at-voltage time that ends absorption regardless */
    float tail_current_c;         /* tail current as a C-rate of the BMS capacity (306) */
    int32_t tail_time_s;          /* tail current must hold this long */
    float float_max_spread_v;     /* cells must be within this to end absorption normally */
    float float_descent_v_min;    /* per cell and minute, absorption -> float */
    float rebulk_soc_pct;         /* re-bulk when SOC falls below (0 = off) */
    float rebulk_cell_v;          /* re-bulk when the lowest cell falls below (0 = off) */
    float rebulk_spread_v;        /* re-bulk when the spread reaches this in float (0 = off) */
    int32_t rebulk_delay_s;       /* a re-bulk condition must hold this long */
    int32_t full_charge_days;     /* periodic full charge (0 = off) */
    /* current limits */
    float ccl_max_a;
    float dcl_max_a;
    float bms_current_margin_pct; /* CCL/DCL stay this far below the BMS cut-offs 318/317 */
    float ccl_taper_start_v;      /* highest cell: CCL starts to taper */
    float ccl_taper_end_v;        /* highest cell: CCL 0 (charge stop latch) */
    float ov_release_v;           /* stop releases this far below the taper end */
    float dcl_taper_start_v;      /* lowest cell: DCL starts to taper */
    float dcl_taper_end_v;        /* lowest cell: DCL 0 (discharge stop latch) */
    float uv_margin_v;            /* taper end at least this far above the BMS UV cut-off 316 */
    float uv_release_v;           /* stop releases this far above the taper end */
    float charge_temp_min_c;
    float charge_temp_max_c;
    float discharge_temp_min_c;
    float discharge_temp_max_c;
    float temp_margin_c;          /* distance kept from the BMS over-heat cut-off 319 */
    float temp_derate_c;          /* derating span inside each temperature limit */
    float soc_ccl_taper_pct;      /* CCL tapers above this SOC (100 = off) */
    float soc_dcl_taper_pct;      /* DCL tapers below this SOC (0 = off) */
    float soc_taper_min_frac;     /* fraction left at 100 % / 0 % SOC */
    float imbalance_hold_v;       /* spread that starts the imbalance hold */
    float imbalance_release_v;    /* spread that ends it */
    float imbalance_min_cell_v;   /* hold only when the highest cell is at least this */
    float imbalance_ccl_c;        /* CCL during the hold, C-rate */
    float fault_recovery_c;       /* CCL while the BMS is in an under-voltage fault, C-rate (0 = none) */
    /* dynamics */
    float ccl_ramp_a_s;
    float dcl_ramp_a_s;
    int32_t limit_hold_s;         /* no increase this long after a decrease */
    float cvl_rise_v_min;         /* per cell and minute */
    int32_t cvl_hold_s;           /* no CVL increase this long after a decrease */
    float voltage_hyst_v;
    float temp_hyst_c;
    float soc_hyst_pct;
    bool use_internal_temp;       /* include the BMS board sensor (register 48) */
    /* stale-data policy (its own section "failsafe", see failsafe.h) */
    failsafe_config_t failsafe;
} chg_config_t;

/* "Play" (backlash) operator: follows the input at once in one direction and only after it moved
 * more than the band in the other. Used so that noise cannot make limits chatter. */
typedef struct {
    bool init;
    float v;
} chg_play_t;

/* Controller state. Initialise with chg_init(); treat the fields as private. */
typedef struct {
    failsafe_state_t fs;
    chg_phase_t phase;
    bool started;
    uint32_t last_now_ms;
    /* phase timers (ms, saturating) */
    uint32_t abs_ms;
    uint32_t tail_ms;
    uint32_t rebulk_ms;
    uint32_t since_full_s;
    uint32_t since_full_rem_ms;
    bool spread_rebulk_armed;
    bool soc_rebulk_armed;
    bool cell_rebulk_armed;
    float float_cell_v;           /* float descent position, per cell */
    /* latches */
    bool chg_stop_latched;
    uint32_t chg_release_ms;
    bool dis_stop_latched;
    uint32_t dis_release_ms;
    bool imbalance_hold;
    /* hysteresis inputs */
    chg_play_t vmax, vmin, tmin, tmax, soc_hi, soc_lo, cvl_ctrl;
    /* outputs and their dynamics */
    float ccl, dcl, cvl, cvl_ramp;
    float ccl_pos, dcl_pos;       /* CCL/DCL ramp positions before the 0.1 A rounding */
    uint32_t ccl_hold_ms, dcl_hold_ms, cvl_hold_ms;
    bool have_output;
    float last_pack_v;
    float last_bulk_v;            /* per-cell absorption target in force at the last usable data */
    float last_dvl_v;
    uint8_t last_cells;
    float last_vmax, last_vmin, last_tmin, last_tmax;
} chg_st_t;

typedef struct {
    bool valid;            /* limits meaningful: 0x351 may be sent */
    bool transmit;         /* the CAN scheduler may send any frame */
    chg_state_t state;
    chg_phase_t phase;
    failsafe_data_t data;  /* no_data / fresh / stale / failsafe */
    bool comm_alarm;       /* communication-loss alarm (feed to alarms_step) */
    uint32_t data_age_ms;  /* age of the last usable data (0xFFFFFFFF = none) */
    float cvl_v;           /* charge voltage limit, pack volts */
    float ccl_a;           /* charge current limit, >= 0 */
    float dcl_a;           /* discharge current limit, >= 0 */
    float dvl_v;           /* discharge (low) voltage, pack volts */
    float cvl_target_v;    /* before hold/ramp (what the limiters allow) */
    float ccl_target_a;    /* minimum over the CCL limiters, before hold/ramp */
    float dcl_target_a;
    chg_limiter_t cvl_lim, ccl_lim, dcl_lim; /* what binds the output ("ramp" while ramping) */
    chg_limiter_t cvl_target_lim, ccl_target_lim, dcl_target_lim; /* what binds the target */
    bool charge_stopped;   /* CCL 0 and CVL at the pack voltage */
    bool discharge_stopped;/* DCL 0 */
    bool imbalance_hold;
    /* inputs as used (last usable data when not fresh) */
    uint8_t series_cells;
    float pack_v, cell_max_v, cell_min_v, spread_v, temp_min_c, temp_max_c;
    /* per-cell thresholds in force (after combining config and BMS settings) */
    float cell_target_v;   /* absorption target actually used */
    float cell_ov_v;       /* BMS over-voltage cut-off */
    float cell_uv_v;       /* BMS under-voltage cut-off */
    /* Limits in force when data is fresh (0 otherwise), for the reason text: per-cell taper
     * start/end of CCL (highest cell) and DCL (lowest cell), and the exclusive temperature
     * windows for charging and discharging (low, high), degC. */
    float ccl_taper_v[2];
    float dcl_taper_v[2];
    float temp_charge_c[2];
    float temp_discharge_c[2];
    /* Also for the reason text, when data is fresh (0 otherwise): the state of charge as used,
     * the per-cell limit of the cell-voltage controller and the float target in force (during the
     * descent: where it is), the SOC taper starts (CCL above [0], DCL below [1]; 100 / 0 = off)
     * and the imbalance hold's spreads (starts at [0], ends at [1]). */
    float soc_pct;
    float cell_limit_v;
    float cell_float_v;
    float soc_taper_pct[2];
    float imbalance_v[2];
    const char *data_why;  /* failsafe's static explanation when data is not fresh, "" when fresh; never NULL */
    failsafe_mode_t failsafe_mode; /* the configured fail-safe mode (what CHG_STATE_FAILSAFE does) */
    /* English sentence, e.g. "bulk — CVL 54.40 V: charging stopped, held at the pack voltage
     * 54.43 V; CCL 0 A: highest cell 3.652 V at or above the BMS's over-voltage cut-off 3.65 V;
     * DCL 80.0 A: the BMS's discharge current limit". chg_step() leaves it empty:
     * app/chg_reason.h words the codes and values above (chg_reason_fill), so the core carries
     * no English text. */
    char reason[CHG_REASON_LEN];
} chg_limits_t;

extern const cfg_section_t chg_section;

/* Fill both sections' defaults (charge and its embedded failsafe). */
void chg_config_defaults(chg_config_t *cfg);

/* Cross-field checks (float <= bulk <= limit, taper start/end ordering, temperature windows,
 * hysteresis smaller than the bands, failsafe_config_check). Per-row ranges are checked by
 * cfg_validate(). Returns TB_OK or TB_ERR_RANGE with *why (if not NULL) a static explanation.
 * The controller still behaves safely with a config that fails this check (it clamps), but the
 * app should refuse such a config. */
int chg_config_check(const chg_config_t *cfg, const char **why);

/* Start state: NO_DATA, phase BULK, all limits 0. */
void chg_init(chg_st_t *st);

/* One control cycle at now_ms (monotonic, may wrap). All pointers must be non-NULL; `out` is
 * fully written. Call it once per gateway cycle (typically every 0.1-1 s) whether or not the
 * snapshot changed: ages and ramps are computed from the now_ms differences. */
void chg_step(chg_st_t *st, const bms_snapshot_t *snap, const chg_config_t *cfg, uint32_t now_ms,
              chg_limits_t *out);

/* Stable names for logs, JSON and MQTT; never NULL ("unknown" for out-of-range values). */
const char *chg_limiter_name(chg_limiter_t l);
const char *chg_state_name(chg_state_t s);
const char *chg_phase_name(chg_phase_t p);

/* The shape of the voltage tapers: fraction of the maximum current at relative position x in
 * [0, 1] between taper start (x = 0, fraction 1) and end (x = 1, fraction 0). Piecewise linear
 * over CHG_TAPER_POINTS points; exposed for tests and docs. */
#define CHG_TAPER_POINTS 5u
float chg_taper_fraction(float x);

/* Piecewise-linear interpolation over n >= 2 points with strictly increasing xs; clamps outside.
 * Exposed for tests. */
float chg_interp(const float *xs, const float *ys, unsigned n, float x);

#endif
