/* metrics: the Prometheus text exposition (format 0.0.4) of GET /metrics.
 *
 * Every number of the published view (BMS, cells, temperatures, limits and their state, alarms,
 * link statistics with the round-trip histogram, CAN counters per frame id, GX presence, energy)
 * plus the HTTP/WebSocket/login counters, each with # HELP and # TYPE. Names start with
 * "tinybms_"; per-cell, per-sensor, per-alarm and per-frame values are labels. Values that are
 * unknown (no BMS data yet, no sensor) are left out rather than exported as NaN.
 * No allocation, no OS calls; thread-safe (pure function of its inputs).
 */
#ifndef APP_METRICS_H
#define APP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "app/auth.h"
#include "app/gw_view.h"


typedef struct {
    const void *api;           /* const api_counters_t * (app/api.h), may be NULL */
    auth_counters_t auth;
    uint64_t log_lines[4];     /* per level */
    uint64_t log_suppressed;
    uint64_t log_security;     /* log_security_count() */
    uint32_t uptime_s;         /* of the web service */
    uint32_t ws_clients;
    uint64_t ws_sent;
    uint64_t ws_skipped;       /* intermediate updates a slow client never got (latest-value) */
    uint64_t ws_dropped;       /* clients disconnected for not reading */
    const void *platform;      /* const api_platform_t * (app/api.h) of a firmware, or NULL */
} metrics_extra_t;

/* Render into buf. v may be NULL (nothing published yet). Returns the length (NUL-terminated)
 * or TB_ERR_NOSPACE. About 20 KB for a 16-cell pack. */
int metrics_render(const gw_view_t *v, const metrics_extra_t *x, char *buf, size_t cap);

#endif
