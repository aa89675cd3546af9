/* gateway: the owner thread's whole job, independent of any OS.
 *
 * One cycle (gateway_run): take the blocks the poller refreshed -> stale-data policy and charge
 * limits (chg_step) -> alarms -> energy counters -> CAN inputs -> CAN scheduler (which transmits
 * through the port's send callback) -> publish the view when something changed.
 * The port feeds it UART bytes and CAN frames, asks it for UART bytes to send and for how long it
 * may sleep, and passes commands from other threads.
 *
 * Memory: gateway_t is about 25 KB on a 32-bit target (the view buffer is most of it);
 * allocate it statically or once.
 * Thread safety: none; only the owner thread calls these functions.
 */
#ifndef APP_GATEWAY_H
#define APP_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/can_sched.h"
#include "app/config.h"
#include "app/energy_days.h"
#include "app/gw_cmd.h"
#include "app/gw_view.h"
#include "app/history.h"
#include "app/storage.h"
#include "core/alarms.h"
#include "core/charge.h"
#include "core/energy.h"
#include "core/tb_poll.h"

#define GW_LAT_BUCKETS 101u

typedef struct {
    can_send_fn can_send;   /* may be NULL: nothing can be transmitted (shadow only) */
    void *can_ctx;
    /* Port status for the view; may be NULL. Returns true if the CAN port is open and fills err. */
    bool (*can_status)(void *ctx, char *err, size_t cap);
    const storage_t *storage; /* energy counters; may be NULL (not persisted) */
    /* Publish a finished view (the port copies it under its lock). May be NULL. */
    void (*publish)(void *ctx, const gw_view_t *v);
    void *publish_ctx;
    /* Persist a changed configuration (atomic file replace). Returns TB_OK or an error. */
    int (*save_config)(void *ctx, const gw_config_t *cfg, char *err, size_t cap);
    void *config_ctx;
    uint64_t (*wall_ms)(void *ctx);
    void *wall_ctx;
    /* One history observation per second (app/history.h); may be NULL. */
    void (*history_add)(void *ctx, uint32_t wall_s, const history_sample_t *obs);
    void *history_ctx;
    /* State of the web service for the view (fills *out; called once per publication from the
     * owner thread, must not block). May be NULL: "web" is then null in the status. */
    void (*web_status)(void *ctx, gw_web_status_t *out);
    void *web_ctx;
} gw_ports_t;

typedef struct {
    gw_config_t cfg;
    uint32_t config_version;
    gw_ports_t ports;
    uint32_t start_ms;

    tb_poll_t poll;
    chg_st_t chg;
    chg_limits_t limits;
    alarms_state_t alarms_st;
    alarms_out_t alarms;
    energy_state_t energy;
    bool energy_restored;
    bool energy_failing;      /* the last save of the counters failed */
    uint32_t energy_retry_ms; /* then the next periodic try, not before */
    uint32_t energy_save_errors;
    bool alarm_active[ALARM_COUNT];      /* 0x35A category at warning or alarm */
    uint32_t alarm_since_ms[ALARM_COUNT]; /* since when (a warning that became an alarm keeps it) */
    energy_days_t energy_days; /* per calendar day, saved with the counters ("energy_days") */
    uint32_t energy_days_ms;   /* last update of energy_days */
    int32_t (*day_clock)(void *ctx, uint32_t now_ms); /* gateway_set_day_clock(), NULL: the wall clock */
    void *day_ctx;
    char config_source[GW_CONFIG_SOURCE_MAX];   /* "file", "backup", "defaults" or "" (not told) */
    char config_warning[GW_CONFIG_WARNING_MAX]; /* "" or why the saved file is not what runs */
    uint32_t last_energy_sample_ms;
    can_sched_t can;

    bool fresh_live;          /* a live block arrived since the last CAN update */
    bool link_up;             /* last link state logged */
    bool warned_full_voltage; /* BMS register 300 above the absorption target (logged once) */
    bool energy_unreadable;   /* the saved energy counters could not be read at the start */
    bool dirty;               /* something worth publishing changed */
    uint32_t last_publish_ms;
    uint32_t last_cycle_ms;
    uint32_t last_history_s;

    /* BMS reply -> CAN burst latency (1 ms buckets, last one = 100 ms or more) */
    bool lat_pending;
    uint32_t lat_reply_ms;
    uint32_t lat_hist[GW_LAT_BUCKETS];

    uint32_t event_seq;
    uint8_t recent_count;
    bms_event_t recent_events[GW_VIEW_EVENTS];

    bool restart_requested;   /* GW_CMD_RESTART accepted: the port stops and starts again */

    gw_cmd_t *pending;        /* a command waiting for a poller job */
    uint32_t pending_deadline_ms;
    uint16_t pending_old[2];
    uint16_t pending_new[2];
    const tb_reg_t *pending_reg;

    gw_view_t view;
} gateway_t;

/* cfg must have passed gw_config_check(). Restores the energy counters from storage. Returns TB_OK
 * or the CAN configuration error (then the gateway runs but transmits nothing). */
int gateway_init(gateway_t *g, const gw_config_t *cfg, const gw_ports_t *ports, uint32_t now_ms);

/* UART: bytes to send now (0 if none), bytes received. */
int gateway_uart_tx(gateway_t *g, uint32_t now_ms, uint8_t *buf, size_t cap);
void gateway_uart_rx(gateway_t *g, const uint8_t *data, size_t n, uint32_t now_ms);
/* A frame received on the CAN bus (0x305/0x307 from the GX, anything else counted). */
void gateway_can_rx(gateway_t *g, const can_frame_t *f, uint32_t now_ms);

/* The cycle; call after any input and at least every gateway_wait_ms(). */
void gateway_run(gateway_t *g, uint32_t now_ms);
/* How long the owner may sleep before gateway_run()/gateway_uart_tx() have work (<= 100 ms, so
 * that the stale-data policy is evaluated at least ten times a second). */
uint32_t gateway_wait_ms(const gateway_t *g, uint32_t now_ms);

/* Start executing a command from another thread. Returns true if it finished at once (result
 * filled); false if it waits for the BMS (then gateway_command_poll() returns it when done). */
bool gateway_command(gateway_t *g, gw_cmd_t *cmd, uint32_t now_ms);
gw_cmd_t *gateway_command_poll(gateway_t *g, uint32_t now_ms);

/* True once GW_CMD_RESTART was accepted: the port shuts down as for SIGTERM, then starts again. */
bool gateway_restart_requested(const gateway_t *g);

/* Replace the configuration (already validated) at run time; keys marked CFG_F_RESTART take
 * effect at the next start. */
void gateway_reconfigure(gateway_t *g, const gw_config_t *cfg, uint32_t now_ms);

/* Orderly stop: CAN scheduler silenced, energy counters saved. The last log line says whether the
 * save worked ("stopped: energy counters saved (...)") or not ("... NOT saved: <reason>", error
 * level, with what the next start will restore). */
void gateway_shutdown(gateway_t *g, uint32_t now_ms);

/* Where the running configuration came from, for GET /api/status (config_source, config_warning):
 * source "file", "backup" or "defaults" (app/config_file.h), warning "" or one sentence (copied,
 * truncated to GW_CONFIG_WARNING_MAX - 1). A configuration change saved through save_config sets
 * "file" and clears the warning. */
void gateway_set_config_origin(gateway_t *g, const char *source, const char *warning);

/* Battery seconds per measured second for the energy counters (energy_state_t.time_scale): the demo
 * gives its simulator's speed, so that kWh and SOC move together; real hardware leaves it at 0. */
void gateway_set_energy_time_scale(gateway_t *g, double scale);

/* The calendar day the daily energy counters file energy under (days since 1970-01-01, or
 * ENERGY_DAYS_NO_CLOCK): by default the wall clock's local day; the demo gives its simulated
 * battery's day, the clock its counters follow (a simulated day passes in 48 wall minutes).
 * NULL restores the default. */
void gateway_set_day_clock(gateway_t *g, int32_t (*day)(void *ctx, uint32_t now_ms), void *ctx);

/* The last published view (owner thread only; other threads use the port's copy). */
const gw_view_t *gateway_view(const gateway_t *g);

#endif
