/* sim: a simulated Energus TinyBMS - a LiFePO4 battery model behind the BMS's UART protocol.
 *
 * Written independently of the gateway's decoder (it shares only core/crc16 with it), so that
 * a misreading of the protocol in one of them shows up as a disagreement instead of hiding.
 * docs/simulator.md describes the behaviour, the defaults and how they were chosen.
 *
 * Use:
 *     static sim_t sim;                     // caller-owned, ~14 KiB, no allocation inside
 *     sim_config_t cfg; sim_config_default(&cfg);
 *     cfg.cells = 16; cfg.seed = 42; cfg.start_ms = now_ms;
 *     sim_init(&sim, &cfg);
 *     sim_set_current(&sim, -20.0);         // a 20 A load
 *     ...
 *     sim_rx(&sim, bytes_from_gateway, n, now_ms);
 *     size_t k = sim_tx(&sim, out, sizeof out, now_ms);   // bytes the BMS has sent by now_ms
 *     sim_truth_t t; sim_truth(&sim, &t);   // what the battery really is
 *
 * Two clocks.
 *   wire clock  - the caller's now_ms (monotonic, uint32_t, wraps after 49 days; compared with
 *                 (int32_t)(a - b)). Protocol timing runs on it: the 100 ms measurement period,
 *                 the 10 s sleep timeout, reply latency, injected delays and splits, the reboot
 *                 silence. Time never has to be real: tests step now_ms as fast as they like.
 *   model clock - wire time x speed (sim_set_speed). Battery physics, the BMS lifetime counter,
 *                 event timestamps and protection delays (register 332) run on it, so a day of
 *                 battery can pass in minutes while the UART keeps its real-time behaviour.
 *
 * Determinism: given the same config (seed) and the same sequence of calls with the same
 * arguments, every output is bit-identical. Nothing reads a clock, the environment or a file.
 *
 * Thread safety: none. One sim_t is used by one thread; distinct sim_t are independent.
 * Errors: functions that can fail return SIM_OK (0) or a negative sim_err_t and then change
 * nothing. Bad bytes on the wire are never an error of the API: they are answered as the
 * device would (NACK, silence) and counted in sim_counters_t.
 */
#ifndef TB_SIM_H
#define TB_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MIN_CELLS 4u
#define SIM_MAX_CELLS 16u
#define SIM_EVENT_SLOTS 49u
#define SIM_SETTINGS_FIRST 300u
#define SIM_SETTINGS_COUNT 100u      /* 300..399 */
#define SIM_RX_MAX 300u              /* longest request: 0x10 with BC = 255 is 264 bytes */
#define SIM_TX_CAP 2048u             /* bytes queued towards the gateway */
#define SIM_MEASURE_MS 100u          /* measurement (register refresh) period, wire clock */
#define SIM_SLEEP_MS 10000u          /* UART silence before the BMS may sleep, wire clock */
#define SIM_RX_GAP_MS 5u             /* idle gap that ends a partial request (wire clock) */

/* Online status codes (register 50). */
#define SIM_STATUS_CHARGING 0x91u
#define SIM_STATUS_FULL 0x92u
#define SIM_STATUS_DISCHARGING 0x93u
#define SIM_STATUS_REGEN 0x96u
#define SIM_STATUS_IDLE 0x97u
#define SIM_STATUS_FAULT 0x9Bu

/* Errors of the API (the simulator deliberately has its own enum: it includes no gateway header). */
typedef enum {
    SIM_OK = 0,
    SIM_ERR_ARG = -1,      /* bad argument: NULL, unknown kind, value outside the allowed range */
    SIM_ERR_RANGE = -2,    /* a register value outside its documented range */
    SIM_ERR_READONLY = -3, /* register not writable (outside 300..399) */
    SIM_ERR_FORMAT = -4,   /* malformed text (profile file, control command) */
    SIM_ERR_NOSPACE = -5,  /* output buffer or table too small */
    SIM_ERR_IO = -6,       /* file could not be read (control channel only) */
    SIM_ERR_BUSY = -7      /* the BMS is rebooting and accepts nothing */
} sim_err_t;

/* Short English text for a sim_err_t; never NULL. */
const char *sim_err_str(int err);

/* ---- configuration ------------------------------------------------------------------------ */

typedef struct {
    uint8_t cells;             /* series cells, 4..16 (default 16) */
    double capacity_ah;        /* nominal cell capacity, 1..2000 Ah (default 100) */
    double soc_pct;            /* initial true state of charge, 0..100 % (default 50) */
    double ambient_c;          /* ambient temperature, -40..80 degC (default 25) */
    double temp_c;             /* initial pack temperature; NaN = ambient (default NaN) */
    uint32_t seed;             /* PRNG seed for the cell spread and random faults (default 1) */
    double cap_spread_pct;     /* 1-sigma cell capacity spread, 0..10 % (default 1) */
    double ir_spread_pct;      /* 1-sigma internal resistance spread, 0..50 % (default 10) */
    double soc_spread_pct;     /* 1-sigma spread of each cell's charge from a top-balanced
                                  pack, % of capacity, 0..10 (default 0.2) */
    double speed;              /* model seconds per wire second, 0.01..100000 (default 1) */
    uint16_t reply_latency_ms; /* device turnaround before a reply starts, 0..1000 (default 1) */
    bool sleep_enabled;        /* the BMS sleeps after 10 s of UART silence (default true) */
    uint32_t lifetime_s;       /* BMS lifetime counter at start (default 86400) */
    double activity_a;         /* idle / sleep current threshold, 0.01..10 A (default 0.8: 150 A board) */
    uint32_t start_ms;         /* wire time of sim_init (the caller's now_ms) */
} sim_config_t;

/* Fill cfg with the defaults listed above. */
void sim_config_default(sim_config_t *cfg);

/* ---- loads (what the battery is connected to) ---------------------------------------------- */

typedef enum {
    SIM_LOAD_CURRENT = 0, /* constant current: + charges, - discharges */
    SIM_LOAD_DISCHARGE,   /* constant discharge of current_a (magnitude) until stop_soc_pct */
    SIM_LOAD_CHARGER,     /* CC/CV charger: charge_a until the pack reaches charge_v, then CV */
    SIM_LOAD_SOLAR,       /* PV (half-sine between 06:00 and 18:00) minus a constant load,
                             through an MPPT that regulates to charge_v */
    SIM_LOAD_PROFILE,     /* time_s,current_a points, linear interpolation */
    SIM_LOAD_DAY          /* a household on solar: PV half-sine between 06:00 and 18:00 scaled by
                             each day's weather (0.35..1 of solar_peak_a, drawn from the seed and
                             the day's number; passing clouds on the duller days), minus a
                             household load curve around a mean of solar_load_a (a night base,
                             a morning and an evening peak), through an MPPT that regulates to
                             charge_v: charge in the morning, loads, a night discharge, every day */
} sim_load_kind_t;

typedef struct {
    double time_s;    /* model seconds since the profile started; strictly increasing */
    double current_a; /* + charges, - discharges */
} sim_point_t;

typedef struct {
    sim_load_kind_t kind;
    double current_a;    /* CURRENT: signed; DISCHARGE: magnitude (>= 0) */
    double stop_soc_pct; /* DISCHARGE: stop at this true SOC (0 = run until the BMS cuts off) */
    double charge_a;     /* CHARGER: CC limit (> 0) */
    double charge_v;     /* CHARGER/SOLAR: CV set point, pack volts; 0 = cells x register 300 */
    double tail_a;       /* CHARGER: stop once CV current stays below this for 60 s; 0 = never */
    double solar_peak_a; /* SOLAR, DAY: PV current at noon (DAY: on a clear day) */
    double solar_load_a; /* SOLAR: constant load (magnitude); DAY: the load curve's mean */
    double day_s;        /* SOLAR, DAY: length of a day in model seconds (0 = 86400) */
    double start_hour;   /* SOLAR, DAY: time of day when the load starts, 0..24 */
    const sim_point_t *points; /* PROFILE: caller-owned, must stay valid while this load is set */
    size_t n_points;     /* PROFILE: 1..; times strictly increasing */
    bool loop;           /* PROFILE: repeat after the last point (else hold its current) */
} sim_load_t;

/* ---- fault injection ----------------------------------------------------------------------- */

typedef enum {
    SIM_FAULT_NOREPLY = 0, /* reply dropped */
    SIM_FAULT_DELAY,       /* reply delayed by param ms */
    SIM_FAULT_CRC,         /* reply's CRC corrupted */
    SIM_FAULT_TRUNCATE,    /* reply cut short (1..len-1 bytes sent) */
    SIM_FAULT_SPLIT,       /* reply dribbled in 1..4-byte pieces, param ms apart */
    SIM_FAULT_GARBAGE,     /* 1..8 random bytes inserted before, inside or after a reply */
    SIM_FAULT_CELL_HIGH,   /* cell param (1..N) runs away upwards at rate mV per model second */
    SIM_FAULT_CELL_LOW,    /* cell param sags at rate mV per model second */
    SIM_FAULT_TEMP_OPEN,   /* sensor param (1, 2, or 0 = both) reads -32768 */
    SIM_FAULT_BMS_FAULT,   /* BMS fault status 0x9B, both switches open; param = event ID logged */
    SIM_FAULT_COUNT
} sim_fault_kind_t;

typedef struct {
    double probability; /* 0 < p <= 1; 1 = always. Wire faults: per reply. TEMP_OPEN: per
                           measurement (intermittent contact). BMS_FAULT: per model second until
                           it latches. CELL_HIGH/LOW ignore it (always on). */
    uint32_t param;     /* see sim_fault_kind_t */
    double rate;        /* CELL_HIGH/LOW: mV per model second, 0.001..1000 (0 = 5) */
} sim_fault_t;

/* ---- the true state ------------------------------------------------------------------------ */

/* Protection / warning flags (sim_truth_t.protections). */
#define SIM_PROT_OV (1u << 0)        /* over-voltage cutoff (315), event 0x03 */
#define SIM_PROT_UV (1u << 1)        /* under-voltage cutoff (316), latched, event 0x02 */
#define SIM_PROT_OC_DIS (1u << 2)    /* discharge over-current (317 / peak 305), event 0x05 */
#define SIM_PROT_OC_CHG (1u << 3)    /* charge over-current (318), event 0x06 */
#define SIM_PROT_OT (1u << 4)        /* over-heat (319), event 0x04 */
#define SIM_PROT_UT_CHG (1u << 5)    /* low-temperature charge cutoff (320), warning 0x37 */
#define SIM_PROT_UT (1u << 6)        /* below -40 degC, fault 0x0A */
#define SIM_PROT_EMPTY (1u << 7)     /* fully-discharged cutoff (301), warning 0x31 */
#define SIM_PROT_INJECTED (1u << 8)  /* SIM_FAULT_BMS_FAULT */
#define SIM_PROT_FAULTS (SIM_PROT_OV | SIM_PROT_UV | SIM_PROT_OC_DIS | SIM_PROT_OC_CHG | \
                         SIM_PROT_OT | SIM_PROT_UT | SIM_PROT_INJECTED)

typedef struct {
    uint8_t cells;
    double cell_v[SIM_MAX_CELLS];      /* terminal voltage, V; [0] = cell 1 (bottom) */
    double cell_ocv[SIM_MAX_CELLS];    /* open-circuit voltage, V */
    double cell_soc[SIM_MAX_CELLS];    /* 0..1 (slightly outside when over/under-charged) */
    double cell_ah[SIM_MAX_CELLS];     /* charge held, Ah */
    double cell_cap_ah[SIM_MAX_CELLS]; /* true capacity, Ah */
    double cell_r_mohm[SIM_MAX_CELLS]; /* internal resistance at 25 degC, mOhm */
    double pack_v;                     /* V */
    double pack_i;                     /* A through the BMS shunt, + = charging */
    double soc_pct;                    /* true pack SOC: mean of the cells */
    double bms_soc_pct;                /* the BMS's coulomb-counted estimate (register 46) */
    double temp_ext1_c, temp_ext2_c;   /* true sensor temperatures (even if a sensor is "open") */
    double temp_int_c;                 /* BMS board temperature */
    double ambient_c;
    uint16_t status;                   /* register 50 as computed now */
    uint16_t bal_decision;             /* register 51 */
    uint16_t bal_active;               /* register 52 */
    bool charge_switch;                /* the BMS lets charge current flow */
    bool discharge_switch;             /* the BMS lets discharge current flow */
    bool charger_present;
    bool asleep;
    bool rebooting;
    uint32_t protections;              /* SIM_PROT_* currently active */
    uint32_t lifetime_s;               /* register 32-33 */
    double model_s;                    /* model seconds since sim_init */
    double speed;
    double ah_in, ah_out;              /* through the terminals */
    double wh_in, wh_out;              /* through the terminals */
    double wh_loss;                    /* ohmic + polarisation losses inside the cells */
    double ah_bled, wh_bled;           /* removed by balancing resistors (sum over cells) */
    double ah_self_discharge;          /* sum over cells */
} sim_truth_t;

/* Responder statistics (monotonic counters since sim_init). */
typedef struct {
    uint32_t rx_bytes, rx_frames, rx_garbage, rx_partial_dropped, rx_while_rebooting;
    uint32_t replies, acks, nack_cmd, nack_crc;
    uint32_t swallowed, wakeups, reboots;
    uint32_t tx_bytes, tx_overflow;
    uint32_t injected[SIM_FAULT_COUNT]; /* times each wire fault altered a reply */
} sim_counters_t;

/* ---- private state (do not touch; use the functions) ---------------------------------------- */

typedef struct {
    double q_ah, cap_ah, r_ohm, sd_factor, soc_offset, vp, v, ocv, fault_mv, i;
} sim_cell_t;

typedef struct {
    uint32_t ts;   /* 24-bit lifetime seconds */
    uint8_t id;
} sim_event_t;

typedef struct {
    uint16_t cell_01mv[SIM_MAX_CELLS];
    float pack_v, pack_i;
    uint16_t min_mv, max_mv;
    int16_t t_ext1, t_ext2, t_int;
    uint32_t soc_raw, time_left_s;
    uint16_t status, bal_decision, bal_active;
} sim_pub_t;

typedef struct sim_s {
    sim_config_t cfg;
    uint8_t n;
    sim_cell_t cell[SIM_MAX_CELLS];
    double t_model, t_amb, t_ext1, t_ext2, t_int, i_pack, bms_soc, speed;
    bool lim_on;
    double lim_cvl, lim_ccl, lim_dcl;
    sim_load_t load;
    double load_t0;
    int charger_mode;               /* 0 auto, 1 on, 2 off */
    bool charger_present, load_done, chg_session_bulk, chg_warned;
    double chg_tail_since, chg_taper_since;
    bool full_flag, was_charging;
    uint32_t prot;
    double prot_clear_since[9];
    double oc_dis_since;
    uint16_t bal_decision, bal_active;
    uint16_t status;
    uint16_t settings[SIM_SETTINGS_COUNT];
    uint16_t hw[4];
    uint16_t serial[6];
    /* statistics */
    uint32_t st_distance;
    uint16_t st_max_dis_da, st_max_chg_da, st_max_diff_01mv, st_count[5], st_charging, st_full;
    int8_t st_tmin, st_tmax;
    uint8_t st_reset_cause, st_wake_src;
    uint32_t st_cleared_ts;
    /* events */
    sim_event_t ev[SIM_EVENT_SLOTS];
    uint8_t ev_head, ev_count, ev_unreported;
    /* accounting */
    double ah_in, ah_out, wh_in, wh_out, wh_loss, ah_bled, wh_bled, ah_sd;
    /* faults */
    bool fault_on[SIM_FAULT_COUNT];
    sim_fault_t fault[SIM_FAULT_COUNT];
    bool temp_open_now[2];
    uint64_t rng_model, rng_fault;
    /* wire side */
    uint32_t now, next_step, last_rx, quiet_since, last_pub, reboot_until, bcast_next;
    bool asleep, rebooting, pending_reboot;
    sim_pub_t pub;
    uint8_t rx_buf[SIM_RX_MAX];
    size_t rx_len, rx_need;
    uint32_t rx_last_byte;
    bool rx_have_last, rx_discard, rx_swallow;
    uint8_t tx_buf[SIM_TX_CAP];
    uint32_t tx_due[SIM_TX_CAP];
    size_t tx_head, tx_len;
    uint32_t tx_last_due;
    uint16_t mode_before_reboot;
    sim_counters_t cnt;
} sim_t;

/* ---- life cycle and time ------------------------------------------------------------------- */

/* Initialise sim from cfg (copied). Cells get their capacity, resistance, self-discharge and
 * SOC spread from cfg->seed; settings take their documented defaults (306/307 from cfg); the
 * event log holds "system started". Load: CURRENT 0 A. No faults.
 * Returns SIM_OK, or SIM_ERR_ARG (NULL or a field out of range; sim is then left zeroed). */
int sim_init(sim_t *sim, const sim_config_t *cfg);

/* Run the model up to wire time now_ms in 100 ms measurement steps (each step advances the
 * model clock by 100 ms x speed, in sub-steps of at most 1 model second). Calling it with a
 * time not later than the last one does nothing. Bounded work: about (elapsed / 100 ms) x
 * max(1, speed / 10) sub-steps. sim_rx, sim_tx and the setters call it themselves. */
void sim_advance(sim_t *sim, uint32_t now_ms);

/* ---- the UART, from the BMS's side --------------------------------------------------------- */

/* Feed n bytes the gateway sent, all received at now_ms (bytes may be NULL when n is 0).
 * Complete requests are executed and their replies queued for sim_tx. Never fails: bad input is
 * answered as the device would and counted. */
void sim_rx(sim_t *sim, const uint8_t *bytes, size_t n, uint32_t now_ms);

/* Copy into out (capacity cap) the queued bytes that are due by now_ms, in order, and remove
 * them from the queue. Returns the number of bytes written (0..cap). */
size_t sim_tx(sim_t *sim, uint8_t *out, size_t cap, uint32_t now_ms);

/* When the next queued byte is due: true and *due_ms set, or false when nothing is queued. */
bool sim_tx_pending(const sim_t *sim, uint32_t *due_ms);

/* ---- settings, registers, loads, faults ---------------------------------------------------- */

/* Read one register as the device would report it now (the last 100 ms measurement for live
 * values). Addresses 0..599; reserved ones read 0. SIM_ERR_ARG for NULL or addr > 599. */
int sim_read_register(const sim_t *sim, uint16_t addr, uint16_t *value);

/* Write one settings register with the same checks as the UART (300..399, per-register range;
 * SIM_ERR_READONLY outside, SIM_ERR_RANGE when refused, SIM_ERR_BUSY while rebooting).
 * Writing 340 reboots the BMS. Reserved registers accept any value and keep reading 0. */
int sim_write_register(sim_t *sim, uint16_t addr, uint16_t value, uint32_t now_ms);

/* Write several settings registers at once, checked together as one Modbus 0x10 write is (a
 * 32-bit pair such as 312/313 may change both halves); nothing changes on an error. Same
 * results as sim_write_register. For restoring saved settings. */
int sim_write_registers(sim_t *sim, const uint16_t *addrs, const uint16_t *values, size_t n, uint32_t now_ms);

/* Connect a load (copied; for PROFILE the points array is only referenced). SIM_ERR_ARG for
 * out-of-range fields. The load's own clock starts at the current model time. */
int sim_set_load(sim_t *sim, const sim_load_t *load, uint32_t now_ms);

/* Shorthand for a CURRENT load: + charges, - discharges, |amps| <= 10000. */
int sim_set_current(sim_t *sim, double amps, uint32_t now_ms);

/* Make the load obey battery limits, as a Victron system obeys the CAN-bus BMS frame 0x351:
 * charge current is held to at most ccl_a and to what keeps the pack at or below cvl_v (pack
 * volts), discharge current to at most dcl_a. on = false removes the limits (the default).
 * Ranges: cvl 0..1000 V, ccl/dcl 0..10000 A. This closes the loop gateway -> battery in tests. */
int sim_set_limits(sim_t *sim, bool on, double cvl_v, double ccl_a, double dcl_a, uint32_t now_ms);

/* Charger detection: 0 auto (present while the load pushes current in), 1 forced on, 2 off. */
int sim_set_charger_mode(sim_t *sim, int mode, uint32_t now_ms);

/* Enable a fault (replacing a previous setting of the same kind) / clear one / clear all.
 * Clearing a cell fault removes its voltage offset; clearing BMS_FAULT releases the switches. */
int sim_set_fault(sim_t *sim, sim_fault_kind_t kind, const sim_fault_t *f, uint32_t now_ms);
int sim_clear_fault(sim_t *sim, sim_fault_kind_t kind, uint32_t now_ms);
void sim_clear_faults(sim_t *sim, uint32_t now_ms);
/* Whether a fault kind is enabled; *f (may be NULL) receives its setting. */
bool sim_fault_get(const sim_t *sim, sim_fault_kind_t kind, sim_fault_t *f);
/* Stable lower-case name ("crc", "cellhigh", ...) or NULL for an unknown kind. */
const char *sim_fault_name(sim_fault_kind_t kind);

/* Set the true SOC of every cell to pct plus that cell's seeded offset (clamped to 0..100 %),
 * and the BMS's estimate to pct. 0..100. */
int sim_set_soc(sim_t *sim, double pct, uint32_t now_ms);
/* Ambient temperature (-40..80 degC); the pack follows with its thermal time constant. */
int sim_set_ambient(sim_t *sim, double c, uint32_t now_ms);
/* Force the pack and board temperatures to c (-50..120 degC) now. */
int sim_set_temperature(sim_t *sim, double c, uint32_t now_ms);
/* Model seconds per wire second, 0.01..100000. */
int sim_set_speed(sim_t *sim, double speed, uint32_t now_ms);
/* Reply turnaround 0..1000 ms; sleep on/off. */
int sim_set_latency(sim_t *sim, uint16_t ms);
void sim_set_sleep(sim_t *sim, bool enabled, uint32_t now_ms);
/* Restart the BMS now, as command 0x02 option 0x05 does (silent for the reboot time). */
void sim_reboot(sim_t *sim, uint32_t now_ms);

/* ---- observation --------------------------------------------------------------------------- */

/* The true model state now (after sim_advance to the last time seen). */
void sim_truth(const sim_t *sim, sim_truth_t *t);

/* Write the truth as one line of JSON (no newline, NUL-terminated) into buf; returns the length,
 * or SIM_ERR_NOSPACE (buf then holds "") when cap is too small. 2048 bytes always suffice.
 * Keys: model_s lifetime_s speed cells cell_mv[] cell_soc[] (%) pack_v pack_i soc bms_soc
 * temp_ext1 temp_ext2 temp_int ambient status bal_decision bal_active charge_switch
 * discharge_switch charger asleep rebooting protections[] faults[] ah_in ah_out wh_in wh_out
 * wh_loss ah_bled. */
int sim_truth_json(const sim_t *sim, char *buf, size_t cap);

void sim_counters(const sim_t *sim, sim_counters_t *c);

/* The simulator's LiFePO4 open-circuit voltage at 25 degC for a state of charge in percent
 * (continuous, strictly increasing; outside 0..100 % it extrapolates steeply). */
double sim_lfp_ocv(double soc_pct);

/* Documented default, minimum and maximum of settings register addr (300..399); reserved
 * registers give 0/0/0. SIM_ERR_ARG outside 300..399. */
int sim_setting_info(uint16_t addr, uint16_t *def, uint16_t *min, uint16_t *max);

/* ---- profiles ------------------------------------------------------------------------------ */

/* Parse a profile text: lines "time_s,current_a" (decimal numbers, optional spaces), blank lines
 * and lines starting with '#' (after optional spaces) ignored, a '#' after the values starts a
 * comment. Times must strictly increase from >= 0. Writes up to cap points into pts and their
 * count into *n. Returns SIM_OK; SIM_ERR_FORMAT (bad line: *err_line = its 1-based number);
 * SIM_ERR_NOSPACE (more than cap points); SIM_ERR_ARG (NULL). On error *n is 0 and pts may hold
 * a prefix that must not be used. text need not be NUL-terminated. */
int sim_profile_parse(const char *text, size_t len, sim_point_t *pts, size_t cap, size_t *n,
                      size_t *err_line);

#endif
