/* api_cfg: configuration section "web" (the HTTP/WebSocket service, the REST API and its
 * security). Rows in api_cfg.c; see docs/web.md for what each key protects.
 *
 * Keys marked "restart" size the server (threads, clients, timeouts) and apply at the next start;
 * the others apply at once (the HTTP service picks them up from the next published view). */
#ifndef APP_API_CFG_H
#define APP_API_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cfg_schema.h"

typedef struct {
    bool enabled;                 /* web.enabled             default true (restart) */
    bool read_only_open;          /* web.read_only_open      default true: GET without login */
    int32_t session_lifetime_min; /* web.session_lifetime_min 5..10080, default 720 */
    int32_t login_max_failures;   /* web.login_max_failures  1..100, default 5 free failures per address */
    int32_t login_lockout_s;      /* web.login_lockout_s     10..86400, default 300 (backoff cap) */
    int32_t login_global_per_min; /* web.login_global_per_min 1..1000, default 30 (addresses with failures) */
    int32_t max_body_bytes;       /* web.max_body_bytes      1024..65536, default 32768 */
    int32_t ws_rate_hz;           /* web.ws_rate_hz          1..10, default 5 */
    int32_t ws_max_clients;       /* web.ws_max_clients      1..256, default 16 (restart) */
    int32_t http_threads;         /* web.http_threads        2..64, default 6 (restart) */
    int32_t request_timeout_ms;   /* web.request_timeout_ms  1000..60000, default 10000 (restart) */
    int32_t max_connections;      /* web.max_connections     8..4096, default 128 (restart) */
    int32_t max_conns_per_addr;   /* web.max_conns_per_addr  1..4096, default 16 (restart) */
    int32_t header_timeout_ms;    /* web.header_timeout_ms   500..60000, default 5000 (restart) */
} api_web_cfg_t;

extern const cfg_section_t api_web_cfg_section;

#endif
