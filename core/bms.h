/* bms: the typed picture of one TinyBMS, in SI units, with a timestamp and a validity flag per
 * block.
 *
 * The gateway reads the BMS in four blocks on their own cadences (live 0-55, statistics 100-117,
 * settings 300-343, version 500-509). Each block is decoded on its own and carries:
 *   valid  - true only after a complete reply decoded without error; a failed decode leaves the
 *            previous content untouched and the caller counts the error;
 *   t_ms   - the caller's monotonic time (now_ms) the data is stamped with: the poller passes the
 *            time the request was first sent (what the BMS answers cannot be younger), never the
 *            time the reply arrived, so that an age computed from it is never understated.
 * Consumers decide about staleness from t_ms; nothing here reads a clock.
 *
 * Units: volts, amperes, degrees Celsius, percent, seconds, ampere-hours. Cell 1 is the bottom
 * cell: with N series cells the TinyBMS fills registers 16-N..15 (the lower slots read 0), and
 * cell_v[0] is taken from register 16-N (see docs/cli.md and the register reference; the
 * vendor does not state which end is cell 1, so this is the manual's pin numbering).
 *
 * Memory: all structs are plain values, caller-allocated, no pointers inside. Thread safety:
 * none; the owner thread writes, others read published copies.
 */
#ifndef TB_BMS_H
#define TB_BMS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tb_err.h"

#define BMS_MAX_CELLS 16u
#define BMS_MIN_CELLS 4u
#define BMS_EXT_TEMPS 2u
#define BMS_EVENT_SLOTS 49u
#define BMS_SETTINGS_FIRST 300u
#define BMS_SETTINGS_COUNT 44u /* 300..343 */
#define BMS_LIVE_FIRST 0u
#define BMS_LIVE_COUNT 56u /* 0..55 */
#define BMS_STATS_FIRST 100u
#define BMS_STATS_COUNT 18u /* 100..117 */
#define BMS_VERSION_FIRST 500u
#define BMS_VERSION_COUNT 10u /* 500..509 */

/* Online status, register 50 (and command 0x18). Values are the wire codes. */
typedef enum {
    BMS_STATUS_UNKNOWN = 0,
    BMS_STATUS_CHARGING = 0x91,
    BMS_STATUS_FULLY_CHARGED = 0x92,
    BMS_STATUS_DISCHARGING = 0x93,
    BMS_STATUS_REGENERATION = 0x96,
    BMS_STATUS_IDLE = 0x97,
    BMS_STATUS_FAULT = 0x9B
} bms_status_t;

/* Live block, registers 0-55. */
typedef struct {
    bool valid;
    uint32_t t_ms;
    uint8_t cell_count;             /* series cells in use, 4..16 (register 53) */
    float cell_v[BMS_MAX_CELLS];    /* [0..cell_count-1] valid, cell 1 first; rest 0 */
    float min_cell_v;               /* register 40 */
    float max_cell_v;               /* register 41 */
    float pack_voltage_v;           /* registers 36-37, float */
    float pack_current_a;           /* registers 38-39, float; + = charging */
    float soc_pct;                  /* registers 46-47, 0..100 */
    float soh_pct;                  /* register 45, 0..100; NaN when not provided (older firmware
                                     * reads the reserved register as > 50000) */
    float temp_internal_c;          /* register 48 */
    float temp_ext_c[BMS_EXT_TEMPS];/* registers 42, 43; meaningful only if present */
    bool temp_ext_present[BMS_EXT_TEMPS]; /* false when the BMS reports -32768 (no sensor) */
    bms_status_t status;            /* register 50, UNKNOWN for an undocumented code */
    uint16_t status_raw;            /* register 50 as read */
    uint16_t balancing_needed;      /* register 51: bit i = cell i+1 needs balancing */
    uint16_t balancing_active;      /* register 52: bit i = cell i+1 is being balanced */
    uint32_t lifetime_s;            /* registers 32-33, BMS lifetime counter */
    uint32_t time_left_s;           /* registers 34-35, BMS estimate */
    uint16_t distance_left_km;      /* register 44 */
    float speed_kmh;                /* registers 54-55 */
} bms_live_t;

/* Statistics block, registers 100-117 (lifetime records, NOT limits). */
typedef struct {
    bool valid;
    uint32_t t_ms;
    float total_distance_km;        /* 100-101, 0.01 km */
    float max_discharge_current_a;  /* 102, 0.1 A, largest ever seen */
    float max_charge_current_a;     /* 103, 0.1 A, largest ever seen */
    float max_cell_diff_v;          /* 104, 0.1 mV */
    uint16_t under_voltage_count;   /* 105 */
    uint16_t over_voltage_count;    /* 106 */
    uint16_t discharge_oc_count;    /* 107 */
    uint16_t charge_oc_count;       /* 108 */
    uint16_t over_heat_count;       /* 109 */
    uint16_t charging_count;        /* 111 */
    uint16_t full_charge_count;     /* 112 */
    int8_t min_pack_temp_c;         /* 113 low byte */
    int8_t max_pack_temp_c;         /* 113 high byte */
    uint8_t last_reset_cause;       /* 114 low byte */
    uint8_t last_wakeup_source;     /* 114 high byte */
    uint32_t stats_cleared_s;       /* 116-117, BMS lifetime seconds */
} bms_stats_t;

/* Settings block, registers 300-343. raw[] keeps every register as read (reserved ones too) so
 * that the settings editor and read-back comparisons work on wire values; the typed fields are
 * the ones the gateway itself uses. */
typedef struct {
    bool valid;
    uint32_t t_ms;
    uint16_t raw[BMS_SETTINGS_COUNT];
    float fully_charged_v;          /* 300, per cell */
    float fully_discharged_v;       /* 301, per cell */
    float early_balancing_v;        /* 303, per cell */
    float charge_finished_a;        /* 304 */
    float peak_discharge_a;         /* 305 */
    float capacity_ah;              /* 306 */
    uint8_t series_cells;           /* 307 */
    float allowed_disbalance_v;     /* 308 */
    float over_voltage_v;           /* 315, per cell cut-off */
    float under_voltage_v;          /* 316, per cell cut-off */
    float discharge_oc_a;           /* 317 cut-off */
    float charge_oc_a;              /* 318 cut-off */
    float over_heat_c;              /* 319 cut-off */
    float low_temp_charge_c;        /* 320 charger cut-off */
    uint8_t automatic_recovery_s;   /* 332 */
    uint8_t broadcast_time;         /* 342, 0 = no unsolicited frames */
} bms_settings_t;

/* Version block, registers 500-509. */
typedef struct {
    bool valid;
    uint32_t t_ms;
    uint8_t hw_version;             /* 500 low */
    uint8_t hw_changes;             /* 500 high */
    uint8_t fw_public;              /* 501 low */
    bool high_power;                /* 501 bit 8: 150 A board */
    uint8_t current_sensor;         /* 501 bits 9-10: 0 shunt, 1 internal Hall, 2 external */
    uint16_t fw_internal;           /* 502 */
    uint8_t bootloader;             /* 503 low */
    uint8_t register_map;           /* 503 high: profile (register-map) version */
    uint16_t serial[6];             /* 504-509 as read; encoding undocumented, shown as hex */
} bms_version_t;

typedef struct {
    bms_live_t live;
    bms_stats_t stats;
    bms_settings_t settings;
    bms_version_t version;
} bms_snapshot_t;

/* One record of the TinyBMS event log (commands 0x11/0x12, registers 200-297). */
typedef struct {
    uint32_t timestamp_s; /* BMS lifetime seconds, 24 bits on the wire */
    uint8_t id;           /* English name: bms_json_event_name() (app/bms_json.h) */
} bms_event_t;

typedef struct {
    bool valid;
    uint32_t t_ms;
    uint32_t bms_time_s;  /* the BMS's lifetime counter when it answered */
    uint8_t count;
    bms_event_t ev[BMS_EVENT_SLOTS];
} bms_events_t;

typedef enum { BMS_EVENT_FAULT, BMS_EVENT_WARNING, BMS_EVENT_INFO, BMS_EVENT_UNKNOWN } bms_event_class_t;

/* "charging", "fully_charged", ..., "unknown". Never NULL. */
const char *bms_status_name(bms_status_t status);
/* Maps a register-50 code to the enum; undocumented codes give BMS_STATUS_UNKNOWN. */
bms_status_t bms_status_from_raw(uint16_t raw);
/* Class by ID range: faults 0x01-0x30, warnings 0x31-0x60, information 0x61-0x90. */
bms_event_class_t bms_event_class(uint8_t id);
const char *bms_event_class_name(bms_event_class_t c);

/* Decoders. regs[] are host-order register values of the whole block (as produced by
 * tb_parse_read_reply). On success the block is overwritten, valid=true, t_ms=now_ms and TB_OK is
 * returned. On failure (implausible content: cell count outside 4..16, non-finite or out-of-range
 * pack values, SOC above 100 %, a populated cell outside 0.5-5.0 V) the block is left untouched,
 * *why (if not NULL) points to a static reason and TB_ERR_RANGE is returned.
 * `count` must be the block's register count (BMS_LIVE_COUNT etc.), else TB_ERR_ARG. */
int bms_decode_live(bms_live_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms, const char **why);
int bms_decode_stats(bms_stats_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms, const char **why);
int bms_decode_settings(bms_settings_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms, const char **why);
int bms_decode_version(bms_version_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms, const char **why);
/* Decode the event ring from registers 200-297 (98 registers). Empty slots (all zero) are skipped;
 * records are sorted oldest first. */
int bms_decode_event_regs(bms_events_t *out, const uint16_t *regs, unsigned count, uint32_t now_ms);

/* Series cell count to use: live register 53 if valid and in range, else settings register 307 if
 * valid and in range, else 0. */
uint8_t bms_series_cells(const bms_snapshot_t *s);

/* A snapshot the charge controller may act on: live and settings blocks valid. */
bool bms_snapshot_complete(const bms_snapshot_t *s);

#endif
