/* http_service: the web server of the firmware (the twin of ports/linux/http_service.c):
 * esp_http_server adapted to app/api.h (REST, /metrics, the embedded UI with gzip and ETags) and
 * the /ws WebSocket (http_ws.c). Reads published views and history, sends commands through the
 * queue; never touches the owner's state. */
#ifndef PORTS_ESP_HTTP_SERVICE_H
#define PORTS_ESP_HTTP_SERVICE_H

#include "app/config.h"
#include "app/gw_view.h"
#include "daemon.h"

typedef struct http_service http_service_t;

/* Never fatal for the battery path: a server that cannot start is logged and reported by
 * http_service_status(). NULL only when out of memory. */
http_service_t *http_service_start(const gw_services_t *svc, const gw_config_t *cfg);
/* The client's address as text ("10.0.2.2"), for the API's rate limits and logs. */
#include "esp_http_server.h"
void http_peer(httpd_req_t *req, char *out, size_t cap);
/* Registers a URI handler behind the connection time budgets (http_service.c): every handler of
 * the server must be registered this way. */
esp_err_t http_service_register(httpd_handle_t hd, const httpd_uri_t *u);
/* Around a WebSocket update sent from the server task (http_ws.c): begin, then end. */
void http_service_push(httpd_handle_t hd, int fd, bool begin);
/* Why the chip last started, in words (main.c). */
const char *firmware_reset_reason(void);
/* s may be NULL (not started yet). */
void http_service_status(http_service_t *s, gw_web_status_t *out);
#endif
