/* alarms: warning and alarm levels per Victron 0x35A category (core/alarm_types.h), with
 * time-based debounce and hysteresis, from the BMS snapshot, the TinyBMS event log and the
 * data state decided by the stale-data policy (core/failsafe.h).
 *
 * Rules (docs/charge-control.md, "Alarms"):
 *  - Each evaluated category has a warning and an alarm threshold. A threshold becomes active
 *    once its condition has held for alarms.raise_ms and inactive once the condition, widened by
 *    the hysteresis, has been absent for alarms.clear_ms. Level = alarm ? ALARM : warning ?
 *    WARNING : OK.
 *  - Voltage and temperature thresholds are the configured ones, tightened to the TinyBMS
 *    cut-offs when those are stricter (315/316/319/320); the current thresholds are percentages
 *    of the BMS over-current cut-offs (318 charge, 317 discharge).
 *  - "While charging" categories are evaluated only while the current is above
 *    alarms.charging_current_a.
 *  - BMS internal: ALARM on communication loss (stale data, fail-safe, or no answer after start)
 *    and on TinyBMS status 0x9B (fault); WARNING when the event log holds a fault event younger
 *    than alarms.fault_event_s with no later recovery or restart event.
 *  - Data state: NO_DATA (boot) -> the data-derived categories are OK and not evaluated, so a
 *    snapshot of zeros can never raise "low voltage"; STALE/FAILSAFE -> they keep their last
 *    levels (nothing new is concluded from old data) and their timers stop.
 *  - General, contactor and short circuit are ALARM_LEVEL_UNSUPPORTED (the GX does not implement
 *    general; a TinyBMS reports neither of the others).
 *
 * Pure: no clock (now_ms argument), no allocation. Thread safety: none.
 */
#ifndef TB_ALARMS_H
#define TB_ALARMS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/alarm_types.h"
#include "core/bms.h"
#include "core/cfg_schema.h"
#include "core/failsafe.h"

/* Section "alarms". */
typedef struct {
    float cell_high_warn_v;
    float cell_high_alarm_v;
    float cell_low_warn_v;
    float cell_low_alarm_v;
    float voltage_hyst_v;
    float temp_high_warn_c;
    float temp_high_alarm_c;
    float temp_low_warn_c;
    float temp_low_alarm_c;
    float charge_temp_high_warn_c;
    float charge_temp_high_alarm_c;
    float charge_temp_low_warn_c;
    float charge_temp_low_alarm_c;
    float temp_hyst_c;
    float charging_current_a;
    float current_warn_pct;
    float current_alarm_pct;
    float current_hyst_pct;
    float imbalance_warn_v;
    float imbalance_alarm_v;
    int32_t raise_ms;
    int32_t clear_ms;
    int32_t fault_event_s;
} alarms_config_t;

/* One debounced threshold. */
typedef struct {
    bool active;
    uint32_t pend_ms; /* how long the raw condition has disagreed with `active` */
} alarms_deb_t;

typedef struct {
    bool started;
    uint32_t last_now_ms;
    alarms_deb_t warn[ALARM_COUNT];
    alarms_deb_t alarm[ALARM_COUNT];
    alarms_deb_t fault_status;
    uint8_t level[ALARM_COUNT]; /* last data-derived levels (kept while data is stale) */
} alarms_state_t;

typedef enum {
    ALARMS_INTERNAL_NONE = 0,
    ALARMS_INTERNAL_COMM_LOST,    /* "communication_lost" */
    ALARMS_INTERNAL_NO_ANSWER,    /* "no_answer": nothing usable since start */
    ALARMS_INTERNAL_FAULT_STATUS, /* "fault_status": register 50 = 0x9B */
    ALARMS_INTERNAL_FAULT_EVENT   /* "fault_event": recent fault in the event log (warning) */
} alarms_internal_t;

typedef struct {
    alarm_set_t set;            /* level of every category (alarm_level_t values) */
    bool evaluated;             /* the data-derived levels come from fresh data this step */
    alarms_internal_t internal; /* why BMS internal is not OK */
    uint8_t fault_event_id;     /* the event behind ALARMS_INTERNAL_FAULT_EVENT, else 0 */
    uint8_t active_alarms;      /* count of categories at ALARM */
    uint8_t active_warnings;    /* count of categories at WARNING */
} alarms_out_t;

extern const cfg_section_t alarms_section;

void alarms_config_defaults(alarms_config_t *cfg);

/* Cross-field checks (warning before alarm on every scale). TB_OK or TB_ERR_RANGE + *why. */
int alarms_config_check(const alarms_config_t *cfg, const char **why);

void alarms_init(alarms_state_t *st);

/* One cycle. `events` may be NULL (or not valid): then only the status register and the link
 * count for BMS internal. `data` and `comm_alarm` come from the charge controller's output
 * (chg_limits_t.data / .comm_alarm) or a failsafe verdict. `out` is fully written. */
void alarms_step(alarms_state_t *st, const bms_snapshot_t *snap, const bms_events_t *events,
                 failsafe_data_t data, bool comm_alarm, const alarms_config_t *cfg, uint32_t now_ms,
                 alarms_out_t *out);

/* "general", "high_voltage", "low_voltage", "high_temperature", "low_temperature",
 * "high_charge_temperature", "low_charge_temperature", "high_discharge_current",
 * "high_charge_current", "contactor", "short_circuit", "bms_internal", "cell_imbalance". */
const char *alarms_category_name(alarm_id_t id);
/* "ok", "warning", "alarm", "unsupported". */
const char *alarms_level_name(alarm_level_t level);
const char *alarms_internal_name(alarms_internal_t why);

#endif
