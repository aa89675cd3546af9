/* api_ws: the WebSocket protocol of /ws, independent of the server library.
 *
 * Server -> client (text frames, one JSON object each, "type" first):
 *   {"type":"hello","version":..,"rate_hz":..,"subscribed":[..]}      once, after the handshake
 *   {"type":"status","data":<GET /api/status>}                         live view, at most
 *                                                                      web.ws_rate_hz per second,
 *                                                                      always the newest
 *   {"type":"events","new_seq":N,"events":[..]}                         TinyBMS events that arrived
 *                                                                      (the last GW_VIEW_EVENTS)
 *   {"type":"log","last_seq":N,"entries":[..]}                          log lines (when subscribed)
 *   {"type":"can","data":<GET /api/can/frames>}                        CAN monitor (when subscribed)
 * Client -> server:
 *   {"subscribe":["status","events","log","can"],"log_level":"info"}  replaces the subscription
 *   (default on connect: status and events).
 *
 * Delivery is latest-value per client: a client that reads slowly receives fewer status/can
 * messages (never a backlog), events and log lines carry sequence numbers so it can tell what it
 * missed. No allocation, no OS calls.
 */
#ifndef APP_API_WS_H
#define APP_API_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/gw_view.h"
#include "app/log.h"

#define API_WS_CLIENT_MSG_MAX 512u /* larger client messages are refused (connection closed) */

typedef struct {
    bool status;
    bool events;
    bool log;
    bool can;
    uint8_t log_level;         /* log_level_t: lines at or above this severity */
} api_ws_sub_t;

/* Subscription of a new connection. */
void api_ws_sub_default(api_ws_sub_t *s);
/* Parse a client message into *s (replaced only if valid). Returns TB_OK, TB_ERR_FORMAT (not
 * JSON / not an object / wrong types), TB_ERR_RANGE (unknown topic or level) or TB_ERR_TOO_LARGE. */
int api_ws_parse(const char *msg, size_t len, api_ws_sub_t *s);

/* Message renderers: return the length written (NUL-terminated) or TB_ERR_NOSPACE. */
int api_ws_hello(char *buf, size_t cap, const char *version, int rate_hz, const api_ws_sub_t *s);
/* status_json: the view's pre-rendered bytes, inserted verbatim. */
int api_ws_status(char *buf, size_t cap, const char *status_json, size_t len);
int api_ws_events(char *buf, size_t cap, const gw_view_t *v);
int api_ws_can(char *buf, size_t cap, const gw_view_t *v);
int api_ws_log(char *buf, size_t cap, const log_entry_t *e, size_t n, uint64_t last_seq);

/* Rate limit of one client's status (or CAN) stream: one message per interval_ms on average,
 * a message allowed up to half an interval early so that the jitter of the views' publication
 * is absorbed (GCRA: tat is when the next message is due on the ideal schedule). Any 1 s window
 * holds at most 1000 / interval_ms + 1 messages. Measuring the interval from the previous send
 * instead makes a view that is published a little early wait; with views published at the same
 * rate as the limit those waits add up to a lag of up to a whole interval that never recovers. */
typedef struct {
    uint32_t tat;
    bool started;
} api_ws_rate_t;

/* Milliseconds until a message may go (0: now). */
uint32_t api_ws_rate_wait(const api_ws_rate_t *r, uint32_t now_ms, uint32_t interval_ms);
/* A message went at now_ms. */
void api_ws_rate_sent(api_ws_rate_t *r, uint32_t now_ms, uint32_t interval_ms);

/* Replace every byte sequence that is not valid UTF-8 by '?', in place, so that a text frame can
 * never be refused by a browser (which would close the connection). Returns the count replaced. */
size_t api_ws_utf8_sanitize(char *s, size_t len);

#endif
