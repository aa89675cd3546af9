/* demo: what `tinybms-gateway --demo` runs around the gateway instead of hardware (docs/operations.md
 * "Demo mode").
 *
 *   - the built-in simulated TinyBMS (sim/), 16 x 280 Ah LiFePO4 at DEMO_SPEED, on a household day
 *     (SIM_LOAD_DAY: a morning charge from PV, loads, an evening peak, a night discharge, each day's
 *     weather drawn from the battery's seed), obeying CVL/CCL/DCL as a Victron system does
 *     (charge and discharge stop 3 s after the last valid 0x351);
 *   - a simulated GX on the CAN side: 0x305 keep-alive and 0x307 identification every second, fed
 *     to the gateway as received frames and written into a log: back-end's file as candump would
 *     see them on the bus;
 *   - the simulated BMS kept across runs in STATE_DIR/demo-bms.txt: its seed (hence its cells and
 *     serial number, hence the MQTT device id), its settings 300..399 (except 323, 328 and 340), its
 *     state of charge and time of day. Saved when a setting changes, every 5 minutes, and at stop
 *     or restart. A file that cannot be read is reported and replaced by a new battery.
 *
 * One demo_t per process, owner thread only. Nothing here is used outside demo mode. */
#ifndef PORTS_LINUX_DEMO_H
#define PORTS_LINUX_DEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "app/gateway.h"
#include "ports/linux/can_port.h"
#include "sim/sim.h"

/* The simulated battery and its day (tests/unit/test_scenario_demo_day.c runs the same). */
#define DEMO_SPEED 30.0            /* model seconds per wall second: a simulated day in 48 minutes */
#define DEMO_CELLS 16u
#define DEMO_CAPACITY_AH 280.0
#define DEMO_SOC_PCT 62.0          /* a new battery */
#define DEMO_START_HOUR 7.0        /* a new battery's first morning */
#define DEMO_PV_PEAK_A 110.0       /* PV at noon on a clear day */
#define DEMO_LOAD_MEAN_A 12.0      /* the household's mean draw */
#define DEMO_SOC_SPREAD_PCT 0.4
#define DEMO_GX_PERIOD_MS 1000u    /* the GX's 0x305 / 0x307 cadence */
#define DEMO_SAVE_EVERY_MS 300000u /* state of charge and time of day saved at least this often */
#define DEMO_STATE_FILE "demo-bms.txt"
#define DEMO_DAY_MAX 2932896ul     /* 9999-12-31 as days since 1970-01-01: the simulated date's bound */

typedef struct {
    sim_t sim;
    uint32_t seed;
    double start_hour;     /* time of day of the day load at start */
    int32_t start_day;     /* the simulated calendar day at start (days since 1970-01-01) */
    uint32_t silent_since; /* last valid 0x351 the simulated inverter obeyed */
    uint32_t gx_next;      /* next 0x305/0x307 */
    uint32_t check_at;     /* next comparison of the settings with the saved ones */
    uint32_t saved_at;
    bool save_failing;
    uint16_t saved[SIM_SETTINGS_COUNT];
    char path[512];
} demo_t;

/* Starts the simulated battery: from STATE_DIR/demo-bms.txt when it holds one, else a new one (seed
 * from the clock, 62 % at 07:00, fully_charged_voltage at cell_bulk_v). 0, or -1 after logging why. */
int demo_init(demo_t *d, const char *state_dir, float cell_bulk_v, uint32_t now_ms);

/* One turn of the event loop: the battery's model up to now, the inverter following the gateway's
 * limits, the BMS's UART bytes to the gateway, the GX's frames, the periodic save. */
void demo_step(demo_t *d, gateway_t *gw, can_port_t *can, uint32_t now_ms);

/* When the simulator has UART bytes queued: true and *due_ms. */
bool demo_uart_pending(const demo_t *d, uint32_t *due_ms);

/* The gateway's UART bytes to the simulated BMS. */
void demo_uart_rx(demo_t *d, const uint8_t *b, size_t n, uint32_t now_ms);

/* The simulated battery's calendar day (days since 1970-01-01) at now_ms: the day its energy is
 * counted under (gateway_set_day_clock; ctx is the demo_t). It starts on the wall clock's day and
 * runs DEMO_SPEED times faster; kept across runs with the time of day. */
int32_t demo_day(void *ctx, uint32_t now_ms);

/* Saves the simulated BMS now (at stop and before a restart). */
void demo_save(demo_t *d, uint32_t now_ms);

#endif
