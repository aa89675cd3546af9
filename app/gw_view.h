/* gw_view: the immutable picture the owner thread publishes after each cycle, for the web, MQTT
 * and metrics threads (which never touch the gateway state itself).
 *
 * The owner fills a gw_view_t, renders its JSON once (status_json: the body of GET /api/status,
 * the MQTT state document and the WebSocket "status" message — all the same bytes), and hands it
 * to the port's publish callback, which copies it under one short lock. Readers copy it out.
 */
#ifndef APP_GW_VIEW_H
#define APP_GW_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/can_sched.h"
#include "app/config.h"
#include "app/energy_days.h"
#include "core/alarms.h"
#include "core/bms.h"
#include "core/charge.h"
#include "core/jw.h"
#include "core/tb_poll.h"

/* Room for the status document (about 2.7 kB running with 16 cells, 5.2 kB at its largest:
 * tests/unit/test_status_size.c); the firmware sets 8192 to save RAM in each copy of the view. */
#ifndef GW_STATUS_JSON_MAX
#define GW_STATUS_JSON_MAX 12288u
#endif
#define GW_VIEW_EVENTS 16u
#define GW_CONFIG_SOURCE_MAX 12u
#define GW_CONFIG_WARNING_MAX 512u

/* The web service (UI, REST, WebSocket, /metrics) as the port reports it through
 * gw_ports_t.web_status. The battery side never waits for it: a web that cannot listen is shown
 * here (and in the MQTT state, the log and the service manager's status), not fatal. */
typedef struct {
    bool known;              /* false: the port reports no web service ("web": null) */
    bool enabled;            /* web.enabled */
    bool listening;          /* serving on gateway.http */
    bool retrying;           /* not listening, and trying again periodically */
    uint32_t bind_failures;  /* attempts to listen that failed since the start */
    char error[160];         /* the last failure ("cannot bind to ...: Address already in use"); kept
                              * after a later success, for the record */
} gw_web_status_t;

typedef struct {
    uint64_t seq;              /* 1, 2, 3 ... per publication */
    uint32_t t_ms;             /* owner's monotonic time at publication */
    uint64_t wall_ms;          /* wall clock (ms since epoch), 0 if unknown */
    uint32_t uptime_s;

    bms_snapshot_t snap;
    bms_events_t events;       /* the BMS log as last read */
    tb_settings_limits_t bms_limits; /* 0x1D tables (valid flag inside) */
    tb_link_stats_t link;

    chg_limits_t limits;
    alarms_out_t alarms;

    double energy_in_wh;
    double energy_out_wh;
    bool energy_known;
    uint32_t energy_save_errors; /* failed saves of the counters since the start */
    bool energy_save_failing;    /* the last one failed */
    energy_days_t energy_days;   /* per calendar day (energy_days.today: the current day or none) */

    /* when each Victron 0x35A category last left "ok" (owner's monotonic ms), while it is not ok */
    bool alarm_active[ALARM_COUNT];
    uint32_t alarm_since_ms[ALARM_COUNT];

    can_sched_counters_t can;
    can_sched_slot_t can_slots[CAN_SCHED_SLOTS];
    char can_mode[16];         /* "transmitting", "shadow", "stopped", ... */
    bool can_port_open;
    char can_port_error[160];
    uint32_t lat_samples;      /* BMS live reply -> fast CAN burst, in the owner loop */
    uint32_t lat_p50_ms;
    uint32_t lat_p99_ms;
    bool gx_present;
    uint32_t gx_age_ms;        /* UINT32_MAX if never seen */
    gw_web_status_t web;

    /* new TinyBMS events, numbered so that consumers can tell what they already sent */
    uint32_t event_seq;        /* number of the newest entry in recent_events */
    uint8_t recent_count;
    bms_event_t recent_events[GW_VIEW_EVENTS]; /* oldest first */

    /* Conditions worth telling a person, also logged (GET /api/status "warnings"): GW_WARN_*
     * bits, with the figures their sentence quotes. */
    uint32_t warnings;
    float warn_bms_full_v;     /* GW_WARN_BMS_FULL_VOLTAGE: the BMS's fully charged voltage ... */
    float warn_bulk_v;         /* ... above the gateway's per-cell charge target */

    uint32_t config_version;   /* increments when the configuration changes */
    char config_source[GW_CONFIG_SOURCE_MAX];   /* "file", "backup", "defaults"; "" = not told */
    char config_warning[GW_CONFIG_WARNING_MAX]; /* "" or why the saved file is not what runs */
    gw_config_t cfg;           /* the running configuration, secrets included: strip them
                                * (gw_config_to_json without GW_CFG_OUT_SECRETS) before output */

    size_t status_len;
    char status_json[GW_STATUS_JSON_MAX];
} gw_view_t;

/* gw_view_t.warnings: each bit is one entry {"id","text"} of the status document's "warnings". */
enum {
    GW_WARN_BMS_FULL_VOLTAGE = 1u << 0,  /* TinyBMS fully_charged_voltage above charge.cell_bulk_v */
    GW_WARN_ENERGY_UNREADABLE = 1u << 1, /* the saved energy counters were unreadable: from 0 Wh */
};

/* Render v->status_json from the other fields. Returns the length or TB_ERR_NOSPACE. */
int gw_view_render(gw_view_t *v);

/* Pieces, reusable by the API handlers. */
void gw_view_json_limits(jw_t *w, const chg_limits_t *l);
void gw_view_json_alarms(jw_t *w, const alarms_out_t *a);
/* The "battery" object of the status: capacity and Ah, time to go, charge counts, charging and
 * discharging allowed and why not (docs/api.md). */
void gw_view_json_battery(jw_t *w, const gw_view_t *v);
/* The "alarm_since_s" array: per 0x35A category, in the order of the "alarms" object, the seconds
 * since it left "ok" while it is at warning or alarm, else null. */
void gw_view_json_alarm_since(jw_t *w, const gw_view_t *v);
/* The "daily" energy object of GET /api/energy (docs/api.md). */
void gw_view_json_energy_days(jw_t *w, const gw_view_t *v);

#endif
