/* can_sched: decides which Victron CAN-bus BMS frames go out when, through one guarded TX path.
 *
 * Cadences (config section "can", all in ms; defaults in can_sched.c):
 *   fast group     0x351 0x355 0x356 0x35A           every can.fast_period_ms (<= 1000), and
 *                                                    promptly after a fresh BMS snapshot, but
 *                                                    never two bursts closer than can.burst_gap_ms
 *   status group   0x372 0x373 0x374-0x377 0x378     every can.status_period_ms
 *   identity group 0x35E 0x35F 0x370 0x371 0x379     every can.identity_period_ms
 *                  0x380 0x381 0x382
 * Every group goes out at the first poll after data becomes available.
 *
 * What is sent (per frame, from can_inputs_t):
 *   nothing at all     while inputs.transmit is false (the stale-data fail-safe "stop
 *                      transmitting": the GX stops charge and discharge after 3 s), or before the
 *                      first inputs with limits_valid or measurements_valid;
 *   0x351              only while limits_valid (safety invariant 1) - also enforced in the TX guard;
 *   0x355 0x356        only while measurements_valid (no SOC/voltage without fresh data);
 *   0x373              always, with "not supported" codes for unknown values;
 *   text frames        only when their text is non-empty (0x370/0x371 both when a name is set);
 *   0x378 0x379        only when the value is known.
 *
 * TX guard (can_sched_transmit, the only function that calls the send callback): refuses and
 * counts any frame that is not an 11-bit data frame with DLC <= 8, any id outside the gateway's
 * own set (so 0x305, 0x306 and 0x307 - the GX's ids - can never leave), 0x351 while limits are
 * not valid, 0x351 with a negative CCL/DCL, 0x355 with SOC or SOH above 100 %, and text frames
 * naming a known battery brand.
 *
 * Shadow (listen-only) mode: everything is computed, guarded and recorded in the per-frame table
 * (for the web monitor) exactly as when transmitting, but the send callback is never called.
 *
 * RX: can_sched_on_rx() tracks the GX's 0x305 keepalive / 0x307 identification (GX present if
 * either was seen within can.gx_timeout_ms) and counts frames carrying one of our own ids sent by
 * another node (two batteries on one bus: a wiring or configuration error).
 *
 * Memory: caller-allocated can_sched_t, no allocation. Time: now_ms (monotonic, wraps; compared
 * with (int32_t)(a - b)). Thread safety: none; the owner thread calls everything.
 */
#ifndef TB_CAN_SCHED_H
#define TB_CAN_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "app/can_inputs.h"
#include "core/can_frame.h"
#include "core/cfg_schema.h"
#include "core/jw.h"

#define CAN_SCHED_PORT_MAX 64u

/* Configuration section "can" (rows in can_sched.c; can_sched_cfg_section). */
typedef struct {
    int32_t fast_period_ms;     /* can.fast_period_ms      200..1000, default 1000 */
    int32_t burst_gap_ms;       /* can.burst_gap_ms         20..1000, default 50 */
    int32_t status_period_ms;   /* can.status_period_ms   1000..5000, default 2000 */
    int32_t identity_period_ms; /* can.identity_period_ms 1000..10000, default 5000 */
    int32_t gx_timeout_ms;      /* can.gx_timeout_ms      1000..60000, default 5000 */
    bool shadow;                /* can.shadow             default false */
    char port[CAN_SCHED_PORT_MAX];          /* can.port  "socketcan:can0" | "slcan:/dev/ttyACM0" | "log:PATH" */
    char manufacturer[CAN_TEXT_SHORT];      /* can.manufacturer  0x35E, default "TinyBMS" */
    char battery_name[CAN_TEXT_LONG];       /* can.battery_name  0x370/0x371, default "" (not sent) */
    char serial[CAN_TEXT_LONG];             /* can.serial        0x380/0x381, default "" (not sent) */
    char family[CAN_TEXT_SHORT];            /* can.family        0x382, default "" (not sent) */
} can_sched_cfg_t;

extern const cfg_section_t can_sched_cfg_section;

/* cfg_validate() plus the rules a row cannot express: identity strings are printable 7-bit ASCII
 * and name no known battery brand (vcan_is_known_brand), burst_gap_ms < fast_period_ms, the port
 * spec passes can_sched_port_spec_error(). Returns TB_OK or TB_ERR_RANGE with *err (if not NULL)
 * naming the parameter and the reason. Whoever loads or changes the "can" section must call this
 * (the generic setters check ranges only). */
int can_sched_cfg_validate(const can_sched_cfg_t *cfg, cfg_error_t *err);

/* Syntax of a can.port spec, as the port opens it: "socketcan:IFACE" (a Linux interface name,
 * 1..15 characters without '/', ':' or spaces), "slcan:DEVICE" or "slcan:DEVICE@BAUD" (BAUD one
 * of the tty speeds the back-end drives), "log:PATH" or "log:PATH@SIZE" (PATH non-empty, SIZE as
 * can_sched_log_size() reads it). A spec the port would refuse for
 * good (never retried, CAN silent) is refused here, when the configuration is loaded or changed.
 * Returns NULL when valid, else a static sentence saying what is wrong. */
const char *can_sched_port_spec_error(const char *spec);

/* The SIZE of a "log:PATH@SIZE" CAN port: digits with an optional k/K or M suffix (1024-based), at
 * most 1024M; 0 = no bound. true with *bytes set, or false. */
bool can_sched_log_size(const char *text, uint64_t *bytes);

/* The identity part of a config, as can_inputs_build() wants it (pointers into *cfg). */
can_identity_t can_sched_identity(const can_sched_cfg_t *cfg);

/* Transmit callback: returns >= 0 when the frame was handed to the bus, < 0 (TB_ERR_*) if not.
 * ports/linux/can_port.h provides one (can_port_send_cb). */
typedef int (*can_send_fn)(void *ctx, const can_frame_t *f);

/* The per-id table of the gateway's frames (for the monitor and tests). */
#define CAN_SCHED_SLOTS 20u
typedef struct {
    uint16_t id;
    uint32_t sent;         /* handed to the bus successfully */
    uint32_t errors;       /* send callback failed */
    uint32_t shadow;       /* computed in shadow mode, not sent */
    bool has_last;         /* last_* below are meaningful */
    bool last_was_shadow;
    uint32_t last_ms;
    can_frame_t last;      /* last payload computed (sent or shadowed) */
} can_sched_slot_t;

typedef struct {
    uint32_t tx_frames;        /* sent */
    uint32_t tx_errors;        /* send callback returned < 0 */
    uint32_t shadow_frames;    /* computed but not sent (shadow mode) */
    uint32_t encode_errors;    /* a frame could not be encoded (required value not finite) */
    uint32_t bursts;           /* fast-group bursts */
    uint32_t refused;          /* TX guard refusals, all reasons */
    uint32_t refused_gx_id;    /*   0x305/0x306/0x307 */
    uint32_t refused_id;       /*   any other id outside the gateway's set */
    uint32_t refused_format;   /*   not an 11-bit data frame with DLC <= 8; 0x355 above 100 % */
    uint32_t refused_limits;   /*   0x351 while limits not valid, or with negative CCL/DCL */
    uint32_t refused_brand;    /*   a text frame naming a known battery brand */
    uint32_t last_refused_id;
    uint32_t stopped;          /* transmit attempts while inputs.transmit is false */
    uint32_t rx_frames;
    uint32_t rx_gx_keepalive;  /* 0x305 */
    uint32_t rx_gx_306;        /* 0x306 */
    uint32_t rx_gx_inverter;   /* 0x307 */
    uint32_t rx_conflicts;     /* another node sent one of our ids */
    uint32_t last_conflict_id;
    uint32_t rx_other;         /* anything else (ignored) */
} can_sched_counters_t;

typedef struct {
    can_sched_cfg_t cfg;
    bool configured;           /* cfg passed can_sched_cfg_validate; else nothing is sent */
    can_send_fn send;
    void *send_ctx;
    can_inputs_t in;
    bool have_inputs;
    bool fresh_pending;        /* a fresh snapshot arrived since the last fast burst */
    bool last_burst_fresh;     /* the last fast burst was triggered by fresh data */
    bool group_ever[3];
    uint32_t group_last_ms[3];
    bool gx_seen;
    uint32_t gx_last_ms;
    bool gx_signature_ok;      /* last 0x307 carried 12 34 56 78 "VIC" */
    can_sched_slot_t slot[CAN_SCHED_SLOTS];
    can_sched_counters_t n;
} can_sched_t;

/* Resets *s (counters, timers, inputs) and applies cfg (copied). send may be NULL only for a
 * scheduler that stays in shadow mode. Returns TB_OK, or the can_sched_cfg_validate() error - the
 * scheduler is then left unconfigured and transmits nothing until can_sched_configure() succeeds. */
int can_sched_init(can_sched_t *s, const can_sched_cfg_t *cfg, can_send_fn send, void *send_ctx, cfg_error_t *err);

/* Applies a new configuration at run time (validated first; on error nothing changes). Counters
 * and timers are kept. */
int can_sched_configure(can_sched_t *s, const can_sched_cfg_t *cfg, cfg_error_t *err);

/* Commissioning switch: shadow (listen-only) on or off, without touching the rest. */
void can_sched_set_shadow(can_sched_t *s, bool shadow);

/* New inputs (copied). fresh_snapshot: they come from a BMS snapshot that was just read - the
 * fast group then goes out at the next poll that respects can.burst_gap_ms. */
void can_sched_update(can_sched_t *s, const can_inputs_t *in, bool fresh_snapshot, uint32_t now_ms);

/* Sends every frame that is due. Returns the number of frames handed to the TX path (sent or
 * shadowed). Call it after can_sched_update() and whenever can_sched_next_due_ms() expires. */
int can_sched_poll(can_sched_t *s, uint32_t now_ms);

/* Milliseconds until the next group is due (0 = now); for the event loop's poll() timeout. */
uint32_t can_sched_next_due_ms(const can_sched_t *s, uint32_t now_ms);

/* THE transmit path, guarded as described at the top. Returns the send callback's result,
 * TB_OK for a shadowed frame, or TB_ERR_UNSUPPORTED (id outside the set, incl. 0x305-0x307),
 * TB_ERR_ARG (malformed frame), TB_ERR_STATE (0x351 without valid limits; or transmit is false;
 * or the scheduler is not configured), TB_ERR_RANGE (negative current limit, brand name). */
int can_sched_transmit(can_sched_t *s, const can_frame_t *f, uint32_t now_ms);

/* Feeds one received frame (any kind; error frames are ignored). */
void can_sched_on_rx(can_sched_t *s, const can_frame_t *f, uint32_t now_ms);

/* GX present: a 0x305 or 0x307 was received within can.gx_timeout_ms. */
bool can_sched_gx_present(const can_sched_t *s, uint32_t now_ms);
/* Age of the last 0x305/0x307 in ms, or UINT32_MAX if never seen. */
uint32_t can_sched_gx_age_ms(const can_sched_t *s, uint32_t now_ms);

/* "stopped", "shadow", "waiting" (no valid data yet), "transmitting", "unconfigured". */
const char *can_sched_mode(const can_sched_t *s);

/* The slot of a frame id, or NULL. */
const can_sched_slot_t *can_sched_slot(const can_sched_t *s, uint16_t id);

/* Writes the whole monitor view as one JSON object (mode, GX presence, counters, and per frame:
 * id, name, counts, age, hex payload and decoded fields). */
void can_sched_json(const can_sched_t *s, jw_t *w, uint32_t now_ms);
/* Pieces of the monitor JSON, for views built from copies of the scheduler's state:
 * an id as "0x351"; every counter as key/value pairs (inside an open object); the last payload
 * of a slot as age_ms, data (hex) and decoded fields (age_ms null if nothing was computed yet). */
void can_sched_json_id(jw_t *w, const char *key, uint32_t id);
void can_sched_json_counters(jw_t *w, const can_sched_counters_t *n);
void can_sched_json_last(jw_t *w, const can_sched_slot_t *sl, uint32_t now_ms);

#endif
