/* scenario_rig: the TinyBMS simulator (sim/) and the gateway's whole owner cycle (app/gateway:
 * poller -> charge controller -> alarms -> energy -> CAN scheduler) in one process, on a
 * simulated clock, with a model of the Victron GX that obeys what actually went on the bus.
 *
 *   gateway_uart_tx -> sim_rx          the poller's requests reach the simulated BMS
 *   sim_tx          -> gateway_uart_rx the BMS's replies, when they are due on the wire
 *   CAN send callback                  every frame is captured; 0x351 is decoded with vcan_decode
 *                                      (as the GX would) and, when the GX obeys, fed to
 *                                      sim_set_limits: the simulated chargers and inverter follow
 *                                      CVL/CCL/DCL. Without 0x351 for 3 s (or before the first
 *                                      one) the GX stops charge and discharge: limits 0/0/0.
 *
 * Time: one wire clock in whole milliseconds (the gateway's now_ms and the simulator's wire
 * clock). The loop jumps from event to event - the next request the poller wants to send, the
 * next reply byte due, the next CAN cadence, at most 100 ms apart - never finer than 1 ms. The
 * battery runs on the simulator's model clock = wire time x speed (sim_set_speed); the UART, the
 * poller, the stale-data policy and the CAN scheduler stay in wire time. Everything is
 * deterministic: no host clock is read.
 *
 * An oracle checks every 0x351 as the GX sees it (scen_t.violations, first message kept):
 * no 0x351 before a complete snapshot; CVL a pack voltage (<= cells x charge.cell_bulk_v and
 * >= 2 V x cells); CCL, DCL >= 0; CCL = 0 comes with CVL <= the pack voltage the gateway knows;
 * CCL/DCL increases never faster than their ramp and never within charge.limit_hold_s of a
 * decrease; CVL increases (while charging) never faster than charge.cvl_rise_v_min. It also
 * checks that no GX id (0x305-0x307) or unknown id is ever transmitted.
 *
 * This file is test support (no cmocka inside) so that tests/tools/charge_cycle.c can use it too.
 */
#ifndef SCENARIO_RIG_H
#define SCENARIO_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/config.h"
#include "app/gateway.h"
#include "core/can_frame.h"
#include "core/vcan.h"
#include "sim/sim.h"

#define SCEN_GX_TIMEOUT_MS 3000u /* Victron: no 0x351 for 3 s -> charge and discharge stop */
#define SCEN_START_MS 1000u      /* wire time of the start */

typedef struct {
    uint8_t cells;          /* series cells (16) */
    double capacity_ah;     /* (100) */
    double soc_pct;         /* initial true SOC (50) */
    double ambient_c;       /* (25) */
    double temp_c;          /* initial pack temperature, NaN = ambient */
    double soc_spread_pct;  /* < 0: simulator default */
    double speed;           /* model seconds per wire second (1) */
    uint32_t seed;          /* (7) */
    bool gx_obeys;          /* the simulated system follows the 0x351 on the bus (true) */
    int log_level;          /* gateway log lines printed at or below this level (LOG_WARN) */
} scen_opts_t;

/* One 0x351 as the GX decoded it, with what the gateway and the battery knew at that moment. */
typedef struct {
    uint32_t t_ms;
    vcan_limits_t lim;
    float pack_v_known;     /* the pack voltage the controller acted on (last known when stale) */
    chg_state_t state;      /* the controller's state when the frame left */
} scen_351_t;

typedef struct scen_s scen_t;
typedef void (*scen_351_fn)(scen_t *s, const scen_351_t *f, void *ctx);
typedef void (*scen_step_fn)(scen_t *s, void *ctx);

struct scen_s {
    sim_t sim;
    gateway_t gw;
    gw_config_t cfg;
    scen_opts_t opts;
    uint32_t now;
    uint32_t steps;

    /* the bus, as the GX sees it */
    uint32_t frames;             /* every frame sent */
    uint32_t frames_since_mark;  /* reset by scen_mark_bus() */
    uint32_t last_frame_ms;
    bool have_frame;
    uint32_t n351;
    bool have351;
    uint32_t first351_ms;
    scen_351_t last351;
    uint32_t max_351_gap_ms;     /* largest gap between consecutive 0x351 (while both sent) */
    uint32_t last_35a_ms;
    vcan_alarms_t last_35a;
    bool have35a;

    /* the GX model */
    bool gx_stopped;             /* no 0x351 for SCEN_GX_TIMEOUT_MS: limits 0/0/0 applied */
    uint32_t gx_stopped_since;

    /* the BMS replies as the gateway received them */
    uint32_t live_replies;       /* live blocks received */
    uint32_t last_live_rx_ms;    /* when the last live block was completed on the wire */
    float last_live_max_cell_v;  /* its highest cell */
    float last_live_min_cell_v;

    /* the battery's truth, updated every step */
    sim_truth_t truth;
    double max_cell_true_v;      /* highest cell voltage ever, truth */
    double min_cell_true_v;
    uint32_t protections_seen;   /* OR of every SIM_PROT_* seen */

    /* oracle */
    uint32_t violations;
    char first_violation[320];
    float ramp_slack_a;          /* extra allowance for the ramp checks (0) */

    /* hooks (may be NULL) */
    scen_351_fn on_351;
    scen_step_fn on_step;
    void *hook_ctx;

    /* private: the ramp oracle */
    bool ccl_dec_seen, dcl_dec_seen;
    uint32_t ccl_dec_after_ms, dcl_dec_after_ms; /* a decrease happened after this frame time */
};

void scen_opts_default(scen_opts_t *o);

/* Express the charge controller's time parameters in battery time for a run at `speed`: every
 * duration (absorption, tail, re-bulk delay, holds) divided by it, every rate (ramps, float
 * descent, CVL rise) multiplied by it, so that against the accelerated battery the controller
 * behaves as the unscaled configuration does in real time. The link, the stale-data policy, the
 * alarms' debounce and the CAN cadences stay in wire time (they concern the UART and the GX, not
 * the battery). charge.full_charge_days cannot be scaled (whole days) and is left as it is.
 * The result may fall outside a schema range (scen_init then refuses it): speed <= 10 is safe
 * for the defaults. */
void scen_config_battery_time(gw_config_t *cfg, double speed);

/* Start: the simulator from opts, the gateway from cfg (NULL = defaults; it must pass
 * gw_config_check, otherwise 0 is returned and nothing runs). Returns 1 on success. */
int scen_init(scen_t *s, const scen_opts_t *opts, const gw_config_t *cfg);

/* One event of the loop (see the top); advances s->now by 1..100 ms. */
void scen_step(scen_t *s);
/* Run for ms of wire time. */
void scen_run(scen_t *s, uint32_t ms);
/* Run until pred(s, ctx) is true or ms of wire time have passed. Returns true if pred held. */
bool scen_run_until(scen_t *s, uint32_t ms, bool (*pred)(const scen_t *s, void *ctx), void *ctx);

/* Elapsed wire time since the start, in seconds / the battery's model time in hours. */
double scen_wire_s(const scen_t *s);
double scen_model_h(const scen_t *s);

/* The simulated system's loads. */
int scen_load_charger(scen_t *s, double amps);  /* CC/CV charger that never stops by itself */
int scen_load_current(scen_t *s, double amps);  /* + charges, - discharges */

/* Zero frames_since_mark (to check that nothing is sent from now on). */
void scen_mark_bus(scen_t *s);

/* printf-style line prefixed with the wire time, on stdout. */
void scen_say(const scen_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
