/* vcan: encoder and decoder for the Victron "CAN-bus BMS" frame set (500 kbit/s, 11-bit ids).
 *
 * Facts and sources: docs/victron-can.md (field tables, scales, "not supported" values, GX-side
 * effects). Summary of the rules every function here follows:
 *   - Little-endian multi-byte fields, except the 0x35F firmware word (major byte first).
 *   - Scaling rounds half away from zero (58.15 V -> 582 x 0.1 V; -2.25 A -> -23 x 0.1 A).
 *   - Every field is clamped to its representable range on the wire; where the spec reserves a
 *     "not supported" code (0xFFFF in 0x372/0x373, 0x8000 for the 0x356 temperature, 0xFFFF for
 *     the 0x355 SOH) the clamp stops one step short of it, so a real value can never read as
 *     "not supported". CCL/DCL are clamped to >= 0. SOC/SOH are clamped to 0..100 %.
 *   - A value that is not available is passed as NaN (VCAN_NA) for floats or VCAN_U16_NA for the
 *     0x372 counters and is encoded as the spec's "not supported" code. Frames whose fields have no
 *     such code (0x351, 0x355 SOC, 0x356 voltage/current, 0x378, 0x379) refuse NaN with
 *     TB_ERR_RANGE instead of inventing a number; the scheduler then does not send that frame.
 *   - 0x35A: two-bit pairs, 01 = active, 10 = OK/inactive, 00 = not supported. A level of
 *     ALARM_LEVEL_ALARM sets the alarm pair (bytes 0-3) active and the warning pair (bytes 4-7)
 *     active too (the warning threshold lies below the alarm threshold); WARNING sets only the
 *     warning pair active (alarm pair OK); OK sets both to 10; UNSUPPORTED sets both to 00.
 *     Reserved pairs are sent as 10, so a healthy battery that supports every item sends 0xAA x 8
 *     (as real batteries do). System status (byte 7, bits 2-3): online = 10, offline = 01.
 *   - Text frames (0x35E, 0x370/0x371, 0x374-0x377, 0x380/0x381, 0x382): up to 8 characters of
 *     printable 7-bit ASCII, zero padded. The encoder replaces any other byte by '?'; the decoder
 *     stops at the first NUL and drops unprintable bytes (as the GX does).
 *   - Every frame is sent with DLC 8 (zero padding), as Victron's own captures show.
 *
 * Pure functions: no allocation, no I/O, no clock, no global state; safe from any thread.
 */
#ifndef TB_VCAN_H
#define TB_VCAN_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/alarm_types.h"
#include "core/can_frame.h"
#include "core/tb_err.h"

/* Frame identifiers. The three GX ids are listed so that receivers can name them; the gateway
 * must never transmit them (app/can_sched enforces it). */
typedef enum {
    VCAN_ID_GX_KEEPALIVE = 0x305,  /* GX -> BMS, 1 s; payload opaque */
    VCAN_ID_GX_306 = 0x306,        /* GX -> BMS, reported by captures, not in Victron's document */
    VCAN_ID_GX_INVERTER = 0x307,   /* GX -> BMS, 12 34 56 78 'V' 'I' 'C' 00 */
    VCAN_ID_LIMITS = 0x351,        /* CVL, CCL, DCL, DVL */
    VCAN_ID_SOC = 0x355,           /* SOC, SOH, high-resolution SOC */
    VCAN_ID_BATTERY = 0x356,       /* voltage, current, temperature */
    VCAN_ID_ALARMS = 0x35A,        /* alarm and warning pairs */
    VCAN_ID_MANUFACTURER = 0x35E,  /* manufacturer name */
    VCAN_ID_INFO = 0x35F,          /* model id, firmware version, online capacity */
    VCAN_ID_NAME1 = 0x370,         /* battery name, characters 1-8 */
    VCAN_ID_NAME2 = 0x371,         /* battery name, characters 9-16 */
    VCAN_ID_MODULES = 0x372,       /* modules online / blocking charge / blocking discharge / offline */
    VCAN_ID_CELLS = 0x373,         /* min/max cell voltage, min/max cell temperature */
    VCAN_ID_MIN_CELL_V_ID = 0x374, /* id of the lowest cell (text) */
    VCAN_ID_MAX_CELL_V_ID = 0x375,
    VCAN_ID_MIN_TEMP_ID = 0x376,
    VCAN_ID_MAX_TEMP_ID = 0x377,
    VCAN_ID_ENERGY = 0x378,        /* energy in / out, 100 Wh */
    VCAN_ID_CAPACITY = 0x379,      /* installed capacity */
    VCAN_ID_SERIAL1 = 0x380,       /* serial number, characters 1-8 */
    VCAN_ID_SERIAL2 = 0x381,       /* serial number, characters 9-16 */
    VCAN_ID_FAMILY = 0x382         /* battery family */
} vcan_id_t;

#define VCAN_TEXT_MAX 8u            /* characters per text frame */
#define VCAN_U16_NA 0xFFFFu         /* "not supported" for unsigned 16-bit fields */
#define VCAN_S16_NA ((int16_t)INT16_MIN) /* 0x8000: "not supported" for the 0x356 temperature */
#define VCAN_NA ((float)NAN)          /* "not available" for float fields */
#define VCAN_NA_D ((double)NAN)       /* "not available" for double fields */

/* 0x351. All four fields required (finite); CCL/DCL are sent as >= 0. */
typedef struct {
    float cvl_v;  /* charge voltage limit, un16 0.1 V: 0..6553.5 */
    float ccl_a;  /* max charge current, sn16 0.1 A sent >= 0: 0..3276.7 */
    float dcl_a;  /* max discharge current, sn16 0.1 A sent >= 0: 0..3276.7 */
    float dvl_v;  /* discharge (low) voltage, un16 0.1 V: 0..6553.5 */
} vcan_limits_t;

/* 0x355. soc_pct required; soh_pct NaN -> 0xFFFF; soc_hires_pct NaN -> derived from soc_pct. */
typedef struct {
    float soc_pct;       /* un16 1 %, clamped 0..100 */
    float soh_pct;       /* un16 1 %, clamped 0..100; NaN = not supported (0xFFFF) */
    float soc_hires_pct; /* un16 0.01 %, clamped 0..100.00 */
} vcan_soc_t;

/* 0x356. voltage and current required; temp NaN -> 0x8000. */
typedef struct {
    float voltage_v; /* sn16 0.01 V: -327.68..327.67 */
    float current_a; /* sn16 0.1 A, + = charging: -3276.8..3276.7 */
    float temp_c;    /* sn16 0.1 degC: -3276.7..3276.7; NaN = not supported (0x8000) */
} vcan_battery_t;

typedef enum {
    VCAN_STATUS_UNSUPPORTED = 0, /* pair 00 */
    VCAN_STATUS_ONLINE = 1,      /* pair 10: system running, MOSFETs/relay enabled */
    VCAN_STATUS_OFFLINE = 2      /* pair 01 */
} vcan_sys_status_t;

/* 0x35A. Encoding uses levels.level[] (alarm_level_t) and status; decoding fills everything:
 * alarm_pair/warning_pair are the raw two-bit values (0..3) and levels the derived level
 * (alarm pair active -> ALARM, else warning pair active -> WARNING, else both pairs
 * unsupported (00/11) -> UNSUPPORTED, else OK). */
typedef struct {
    alarm_set_t levels;
    vcan_sys_status_t status;
    uint8_t alarm_pair[ALARM_COUNT];
    uint8_t warning_pair[ALARM_COUNT];
    uint8_t status_pair;
} vcan_alarms_t;

/* Text frames. text is NUL-terminated; at most VCAN_TEXT_MAX characters are used. */
typedef struct {
    char text[VCAN_TEXT_MAX + 1u];
} vcan_text_t;

/* 0x35F. */
typedef struct {
    uint16_t model_id;     /* bytes 0-1, ignored by the GX */
    uint8_t fw_major;      /* byte 2 */
    uint8_t fw_minor;      /* byte 3 */
    float capacity_ah;     /* bytes 4-5 un16 1 Ah, online (usable) capacity; NaN -> 0 ("unused") */
    uint16_t reserved;     /* bytes 6-7, not defined by Victron; sent as 0 */
} vcan_info_t;

/* 0x372. Counts; VCAN_U16_NA = not supported. Real counts are clamped to 0..0xFFFE. */
typedef struct {
    uint16_t online;
    uint16_t blocking_charge;
    uint16_t blocking_discharge;
    uint16_t offline;
} vcan_modules_t;

/* 0x373. NaN = not supported (0xFFFF; the decoder also reads 0x0000 as not supported). */
typedef struct {
    float min_cell_v; /* un16 1 mV: 0.001..65.534 V */
    float max_cell_v;
    float min_temp_c; /* un16 1 K (degC + 273): -272..65261 degC */
    float max_temp_c;
} vcan_cells_t;

/* 0x378. Both required. un32 in 100 Wh; values wrap modulo 2^32 x 100 Wh (the spec's roll-over);
 * negative values clamp to 0. */
typedef struct {
    double in_wh;  /* charged energy */
    double out_wh; /* discharged energy */
} vcan_energy_t;

/* 0x379. Required. */
typedef struct {
    float installed_ah; /* un16 1 Ah: 0..65535 */
} vcan_capacity_t;

/* 0x307 (GX inverter identification). */
typedef struct {
    bool signature_ok; /* bytes 0-3 = 12 34 56 78 and bytes 4-6 = "VIC" */
    char tag[4];       /* bytes 4-6 as printable text */
} vcan_gx_id_t;

/* 0x305/0x306: opaque payload (decoder copies it). */
typedef struct {
    uint8_t dlc;
    uint8_t data[CAN_FRAME_MAX_DLC];
} vcan_raw_t;

/* A decoded (or to-be-encoded) frame: id selects the union member. */
typedef struct {
    uint16_t id; /* vcan_id_t */
    union {
        vcan_limits_t limits;     /* 0x351 */
        vcan_soc_t soc;           /* 0x355 */
        vcan_battery_t battery;   /* 0x356 */
        vcan_alarms_t alarms;     /* 0x35A */
        vcan_text_t text;         /* 0x35E, 0x370, 0x371, 0x374-0x377, 0x380-0x382 */
        vcan_info_t info;         /* 0x35F */
        vcan_modules_t modules;   /* 0x372 */
        vcan_cells_t cells;       /* 0x373 */
        vcan_energy_t energy;     /* 0x378 */
        vcan_capacity_t capacity; /* 0x379 */
        vcan_gx_id_t gx_id;       /* 0x307 */
        vcan_raw_t raw;           /* 0x305, 0x306 */
    } u;
} vcan_msg_t;

/* ---- encoders ------------------------------------------------------------------------------
 * Each writes a complete 11-bit data frame with DLC 8 into *out and returns 8, or returns
 * TB_ERR_RANGE (a required field is NaN/infinite) or TB_ERR_ARG (NULL pointer, or an id that is
 * not a gateway -> GX frame); *out is written only on success. */
int vcan_encode_limits(can_frame_t *out, const vcan_limits_t *v);
int vcan_encode_soc(can_frame_t *out, const vcan_soc_t *v);
int vcan_encode_battery(can_frame_t *out, const vcan_battery_t *v);
int vcan_encode_alarms(can_frame_t *out, const alarm_set_t *levels, vcan_sys_status_t status);
/* True for the ids whose payload is text (0x35E, 0x370, 0x371, 0x374-0x377, 0x380-0x382). */
bool vcan_is_text_id(uint32_t id);
/* id: one of the text frame ids. s: NUL-terminated; characters beyond VCAN_TEXT_MAX are ignored. */
int vcan_encode_text(can_frame_t *out, uint16_t id, const char *s);
int vcan_encode_info(can_frame_t *out, const vcan_info_t *v);
int vcan_encode_modules(can_frame_t *out, const vcan_modules_t *v);
int vcan_encode_cells(can_frame_t *out, const vcan_cells_t *v);
int vcan_encode_energy(can_frame_t *out, const vcan_energy_t *v);
int vcan_encode_capacity(can_frame_t *out, const vcan_capacity_t *v);
/* Dispatch on m->id (gateway -> GX ids only; 0x305-0x307 give TB_ERR_ARG). */
int vcan_encode(can_frame_t *out, const vcan_msg_t *m);

/* ---- decoder -------------------------------------------------------------------------------
 * Decodes any frame of the set (including 0x305/0x306/0x307). Fields lying beyond the frame's
 * DLC read as not supported (NaN / VCAN_U16_NA / empty text). Returns TB_OK (out filled),
 * TB_ERR_NOTFOUND (not a Victron BMS id), TB_ERR_FORMAT (29-bit, remote or error frame, DLC > 8,
 * or DLC shorter than the first field of a numeric frame) or TB_ERR_ARG (NULL). *out is written
 * only on TB_OK. */
int vcan_decode(const can_frame_t *f, vcan_msg_t *out);

/* ---- names and JSON ------------------------------------------------------------------------ */
/* Short stable name of a frame id ("limits", "soc", ..., "gx_keepalive"); NULL if unknown. */
const char *vcan_id_name(uint32_t id);
/* True for the ids this gateway may send (0x351 ... 0x382 of the set above). */
bool vcan_is_bms_tx_id(uint32_t id);
/* True for 0x305, 0x306, 0x307: the GX's ids, never to be transmitted by a battery. */
bool vcan_is_gx_id(uint32_t id);
/* "ok", "warning", "alarm", "unsupported" (level values above 3 give "invalid"). Never NULL. */
const char *vcan_level_name(uint8_t level);
/* snake_case name of an alarm category ("high_voltage"); "?" if out of range. */
const char *vcan_alarm_name(unsigned id);
/* "online", "offline", "unsupported". */
const char *vcan_status_name(vcan_sys_status_t st);

/* ---- identity hygiene ------------------------------------------------------------------------
 * True if s names (or starts with) a battery brand known to the GX or to Venus's DVCC quirks
 * (PYLON, BYD, LG, DYNESS, PELIO, FREEDOMWON, ... see vcan.c for the list). Case, spaces and
 * punctuation are ignored: "Pylon-Tech", "freedom won" and "LG RESU" all match. A battery that
 * announces such a name gets that brand's DVCC treatment (BYD: CCL=0 becomes 40 A), so the
 * gateway refuses them. *brand (if not NULL) receives the matched entry. */
bool vcan_is_known_brand(const char *s, const char **brand);

#endif
