/* http_ws: the /ws WebSocket hub of the firmware (the twin of ports/linux/http_ws.c), the same
 * protocol (app/api_ws.h) on esp_http_server.
 *
 * One pusher task waits for published views and sends each client what it subscribed to: status
 * and CAN at most web.ws_rate_hz per second (latest value, app/api_ws.h rate limiter), new TinyBMS
 * events, log lines. Sends run inside the server task (httpd_queue_work), one message buffer for
 * all clients. At most HTTP_WS_MAX clients (web.ws_max_clients, capped). Client messages follow
 * the RFC 6455 rules of app/ws_rx.h as far as esp_http_server lets them be seen (size, opcode,
 * UTF-8; the server itself unmasks frames and does not report an unmasked one).
 *
 * Refusals (cross-origin, not logged in with the read-only view closed, too many clients):
 * esp_http_server answers the handshake before any handler runs, so the firmware refuses right
 * after it with a close frame (1008 policy violation, 1013 try again later) and the reason; the
 * Linux daemon answers 403/401/503 instead. Counted in the same API counters. */
#ifndef PORTS_ESP_HTTP_WS_H
#define PORTS_ESP_HTTP_WS_H

#include <stdint.h>

#include "app/api.h"
#include "esp_http_server.h"
#include "view_store.h"

#define HTTP_WS_MAX 4

typedef struct http_ws http_ws_t;

http_ws_t *http_ws_start(httpd_handle_t hd, api_t *api, view_store_t *views, int max_clients);
/* The /ws handler (handshake and client frames); user_ctx of the URI is the hub. */
esp_err_t http_ws_handler(httpd_req_t *req);
/* The server closed a socket: forget the client. */
void http_ws_closed(http_ws_t *ws, int fd);
void http_ws_stats(http_ws_t *ws, uint32_t *clients, uint64_t *sent, uint64_t *skipped, uint64_t *dropped);
#endif
