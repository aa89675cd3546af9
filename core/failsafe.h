/* failsafe: the stale-data policy. Decides, every cycle, whether the BMS data may be acted on
 * and what the CAN side may send.
 *
 * Data states (design.md invariants 1 and 4):
 *   NO_DATA   no usable snapshot seen since start. Nothing may be sent (valid = transmit = false).
 *   FRESH     the snapshot is usable and its live block is at most stale_ms old.
 *   STALE     the last usable data is older than stale_ms (or the present snapshot became
 *             unusable): the communication alarm is raised and charging stops at once (the
 *             charge controller sets CCL = 0 and CVL to the last known pack voltage). Frames are
 *             still sent so that the GX sees the stop.
 *   FAILSAFE  the last usable data is older than failsafe_ms: the configured fail-safe applies,
 *             either stop transmitting (transmit = valid = false; the GX stops charge and
 *             discharge within 3 s) or keep sending zero limits (CCL = DCL = 0).
 * Recovery from STALE or FAILSAFE needs a usable snapshot whose live block is fresh again; the
 * charge controller then ramps the limits up from where they were (never a jump).
 *
 * "Usable" means: live and settings blocks valid (bms_snapshot_complete()), a series cell count
 * (bms_series_cells()), and every value the controller uses finite and physically plausible
 * (failsafe_snapshot_usable() says which check failed).
 *
 * Time: ages are accumulated from the step-to-step now_ms differences while the live block's
 * t_ms does not change, so an unchanged snapshot can never look fresh again after the 32-bit
 * millisecond clock wraps (49.7 days). A live block stamped in the future counts as not fresh.
 *
 * Memory: caller-owned state, no allocation. Thread safety: none (owner thread only).
 */
#ifndef TB_FAILSAFE_H
#define TB_FAILSAFE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/bms.h"
#include "core/cfg_schema.h"

typedef enum {
    FAILSAFE_MODE_STOP_TRANSMITTING = 0, /* stop all frames: the GX stops within 3 s */
    FAILSAFE_MODE_ZERO_LIMITS = 1,       /* keep sending, CCL = DCL = 0 */
    FAILSAFE_MODE_COUNT
} failsafe_mode_t;

typedef enum {
    FAILSAFE_NO_DATA = 0,
    FAILSAFE_FRESH,
    FAILSAFE_STALE,
    FAILSAFE_ACTIVE,
    FAILSAFE_DATA_COUNT
} failsafe_data_t;

/* Section "failsafe". Fields are the cfg storage types (see core/cfg_schema.h). */
typedef struct {
    int32_t stale_ms;     /* live data older than this is stale: stop charging, comm alarm */
    int32_t failsafe_ms;  /* last usable data older than this: apply `mode` (>= stale_ms) */
    int32_t mode;         /* failsafe_mode_t */
} failsafe_config_t;

typedef struct {
    bool started;             /* at least one step was run */
    bool have_good;           /* a usable fresh snapshot was seen at least once */
    uint32_t last_now_ms;     /* now_ms of the previous step */
    uint32_t since_start_ms;  /* saturating time since the first step */
    uint32_t seen_t_ms;       /* live.t_ms of the snapshot seen last */
    bool seen_valid;          /* seen_t_ms is meaningful */
    uint32_t live_age_ms;     /* saturating age of the live block seen last */
    uint32_t good_age_ms;     /* saturating age of the last usable fresh data */
    failsafe_data_t state;
} failsafe_state_t;

typedef struct {
    failsafe_data_t state;
    bool valid;        /* the limits are meaningful: 0x351 may be sent */
    bool transmit;     /* the CAN scheduler may send frames at all */
    bool comm_alarm;   /* raise the communication-loss alarm (reported as BMS internal) */
    bool usable;       /* this step's snapshot may be acted on (state == FRESH) */
    uint32_t age_ms;   /* age of the last usable data (saturating; 0xFFFFFFFF when none) */
    const char *why;   /* static English reason when not FRESH, "" when FRESH; never NULL */
} failsafe_verdict_t;

extern const cfg_section_t failsafe_section;

/* Defaults of the section (same as cfg_set_defaults(&failsafe_section, cfg)). */
void failsafe_config_defaults(failsafe_config_t *cfg);

/* Cross-field checks the schema rows cannot express (failsafe_ms >= stale_ms). Returns TB_OK or
 * TB_ERR_RANGE with *why (if not NULL) set to a static explanation. */
int failsafe_config_check(const failsafe_config_t *cfg, const char **why);

/* Start state (NO_DATA). Call once before the first step. */
void failsafe_init(failsafe_state_t *st);

/* True if the snapshot is complete and every value the charge controller and the alarms use is
 * finite and plausible; otherwise false with *why (if not NULL) a static reason. Does not look at
 * ages. Pure. */
bool failsafe_snapshot_usable(const bms_snapshot_t *snap, const char **why);

/* One cycle: classify the snapshot at now_ms. All pointers must be non-NULL. The config is used as
 * given (values are clamped to sane minima: stale_ms >= 1, failsafe_ms >= stale_ms). */
void failsafe_step(failsafe_state_t *st, const bms_snapshot_t *snap, const failsafe_config_t *cfg,
                   uint32_t now_ms, failsafe_verdict_t *out);

/* "no_data", "fresh", "stale", "failsafe"; never NULL. */
const char *failsafe_data_name(failsafe_data_t s);
/* "stop_transmitting", "zero_limits"; never NULL. */
const char *failsafe_mode_name(failsafe_mode_t m);

#endif
