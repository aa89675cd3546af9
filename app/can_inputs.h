/* can_inputs: everything the Victron frame set needs, in one plain struct, and the mapping from
 * the gateway's data (bms_snapshot_t, the charge controller's limits, the alarm set, the energy
 * counters, the configured identity) into it.
 *
 * The CAN scheduler (app/can_sched) only ever reads a can_inputs_t; it never looks at the
 * snapshot. Keeping the mapping here, as a pure function, makes "which register feeds which byte"
 * testable on its own and documented in one place (docs/victron-can.md, "Sources").
 *
 * Units as in core/vcan.h. "Not available" is NaN (VCAN_NA) for floats, VCAN_U16_NA for module
 * counts, "" for texts: the frames then carry the spec's "not supported" code or are not sent.
 * Plain value, no pointers; the owner thread builds it each cycle. No allocation, no I/O.
 */
#ifndef TB_CAN_INPUTS_H
#define TB_CAN_INPUTS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/alarm_types.h"
#include "core/bms.h"
#include "core/charge.h"
#include "core/vcan.h"

#define CAN_TEXT_SHORT 9u  /* 8 characters + NUL: one frame */
#define CAN_TEXT_LONG 17u  /* 16 characters + NUL: two frames (0x370/0x371, 0x380/0x381) */

typedef struct {
    /* Gates (see app/can_sched.h for what each one allows). */
    bool transmit;            /* false = fail-safe "stop transmitting": the bus goes silent */
    bool limits_valid;        /* the charge controller's limits may be sent (invariant 1) */
    bool measurements_valid;  /* a complete, fresh BMS snapshot backs the measured values */

    /* 0x351 */
    float cvl_v, ccl_a, dcl_a, dvl_v;
    /* 0x355 */
    float soc_pct, soh_pct;
    /* 0x356 */
    float pack_v, pack_a, pack_temp_c;
    /* 0x35A */
    alarm_set_t alarms;
    vcan_sys_status_t system_status;
    /* 0x35F */
    uint16_t model_id;
    uint8_t fw_major, fw_minor;
    float capacity_online_ah;
    /* 0x372 */
    vcan_modules_t modules;
    /* 0x373 - 0x377 */
    float cell_min_v, cell_max_v;
    char cell_min_id[CAN_TEXT_SHORT], cell_max_id[CAN_TEXT_SHORT];
    float temp_min_c, temp_max_c;
    char temp_min_id[CAN_TEXT_SHORT], temp_max_id[CAN_TEXT_SHORT];
    /* 0x378 */
    double energy_in_wh, energy_out_wh;
    /* 0x379 */
    float capacity_installed_ah;
    /* identity: 0x35E, 0x370/0x371, 0x380/0x381, 0x382 */
    char manufacturer[CAN_TEXT_SHORT];
    char battery_name[CAN_TEXT_LONG];
    char serial[CAN_TEXT_LONG];
    char family[CAN_TEXT_SHORT];
} can_inputs_t;

/* What the charge controller decided (taken as plain values: the controller is its own module). */
typedef struct {
    bool valid;     /* false until the controller has acted on a complete snapshot */
    bool transmit;  /* false = the stale-data fail-safe wants the bus silent */
    float cvl_v, ccl_a, dcl_a, dvl_v;
} can_limits_in_t;

/* Configured identity strings (from the "can" config section, app/can_sched.h). */
typedef struct {
    const char *manufacturer;
    const char *battery_name;
    const char *serial;
    const char *family;
} can_identity_t;

/* Everything not in the snapshot. */
typedef struct {
    can_limits_in_t limits;
    alarm_set_t alarms;
    double energy_in_wh;   /* NaN if the energy counter has nothing yet */
    double energy_out_wh;
    can_identity_t identity;
    bool live_fresh;       /* the gateway cycle's verdict on the live block's age */
} can_inputs_src_t;

/* Fills src->limits and src->live_fresh from the charge controller's output (core/charge.h):
 * valid, transmit, CVL/CCL/DCL/DVL as decided, live_fresh = (lim->data == FAILSAFE_FRESH). */
void can_inputs_src_from_charge(can_inputs_src_t *src, const chg_limits_t *lim);

/* An all-"not available" input: nothing valid, transmit true, texts empty, alarms unsupported. */
void can_inputs_init(can_inputs_t *in);

/* Builds *out from a snapshot and the other sources. Never fails; missing data becomes "not
 * available" (see docs/victron-can.md for the mapping, register by register):
 *   limits_valid       = src->limits.valid && live and settings blocks valid (a complete
 *                        snapshot has been read: invariant 1, whatever the controller says);
 *   measurements_valid = live block valid && src->live_fresh;
 *   0x356 temperature  = mean of the connected external sensors (registers 42/43), else the BMS
 *                        internal temperature (register 48);
 *   cell min/max       = from the cell voltages (registers 0-15), ids "cell N" (N from 1);
 *   temp min/max       = over the connected external sensors ("ext 1"/"ext 2"), else internal;
 *   SOH                = register 45 (NaN from the decoder on firmware without it -> 0xFFFF);
 *   capacity installed = register 306 (settings block); online = installed while the BMS is
 *                        online and fresh, 0 when it is not (its capacity is not usable);
 *   firmware           = register 501 low byte . register 502 (clamped to 255);
 *   modules            = one module: online/offline from measurements_valid, blocking charge /
 *                        discharge when the sent CCL / DCL is 0 or limits are not valid;
 *   system status      = online when measurements_valid and the BMS is not in fault (reg 50).
 * snap and src must not be NULL (then *out is set by can_inputs_init). */
void can_inputs_build(can_inputs_t *out, const bms_snapshot_t *snap, const can_inputs_src_t *src);

#endif
