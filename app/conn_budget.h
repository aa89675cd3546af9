/* conn_budget: how long one web connection may keep a single-task server waiting, by phase.
 *
 * ports/esp-idf/main/http_service.c serves every client from esp_http_server's one task: while it
 * waits for one client's bytes, or for a client to take what it sends, nobody else is served. Each
 * connection therefore carries a conn_budget_t, and every wait on its socket lasts at most
 * conn_budget_left():
 *   CB_HEADER  the request header: the header budget (web.header_timeout_ms) from its first byte.
 *              The first byte's time is when it was first SEEN (conn_budget_seen()), which the
 *              port notes also while its task waits on another connection, so that slow headers
 *              arriving together run out together instead of one after the other;
 *   CB_BODY    a handler reads the request body, and
 *   CB_REPLY   the reply is being sent: CONN_RATE_GRACE_MS plus one second per CONN_RATE_MIN bytes
 *              moved in the phase (what the client has taken or sent buys it time), never more
 *              than the phase's budget (web.request_timeout_ms);
 *   CB_STREAM  a streamed upload: each wait the whole budget (the firmware image takes minutes);
 *   CB_PUSH    a WebSocket update: the budget from its start;
 *   CB_IDLE    between requests: each wait the whole budget (a lone error reply).
 * A spent budget still lets the port poll once: bytes already there are read however late the
 * task comes to them (a complete header that waited behind others is served, not refused).
 *
 * No OS calls, no allocation: time is a now_ms argument (any wrapping millisecond clock).
 * Thread safety: none; a connection's budget belongs to the server task.
 */
#ifndef APP_CONN_BUDGET_H
#define APP_CONN_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#define CONN_RATE_GRACE_MS 1000u /* a body or reply gets this much before the minimum rate applies */
#define CONN_RATE_MIN 4096u      /* bytes a second a body or reply must move after the grace */

typedef enum {
    CB_IDLE,
    CB_HEADER,
    CB_BODY,
    CB_REPLY,
    CB_STREAM,
    CB_PUSH,
} cb_phase_t;

typedef struct {
    uint8_t phase;      /* cb_phase_t */
    uint32_t start;     /* when the phase began (CB_HEADER: its first byte) */
    uint32_t budget_ms; /* the phase's budget (its cap for CB_BODY and CB_REPLY) */
    uint32_t moved;     /* bytes received or sent in the phase */
    uint32_t seen;      /* CB_IDLE: when the next request's first byte was seen, 0: not yet */
} conn_budget_t;

/* Enters phase ph at now with its budget. CB_HEADER starts at the first byte's time when it was
 * seen (conn_budget_seen()), else at now. Clears moved and seen. */
void conn_budget_enter(conn_budget_t *c, cb_phase_t ph, uint32_t budget_ms, uint32_t now);

/* Notes that the next request's first byte was there at `at` (no effect unless idle and not yet
 * seen; at 0 is taken as 1: 0 means "not seen"). */
void conn_budget_seen(conn_budget_t *c, uint32_t at);

/* Counts n bytes received or sent in the current phase. */
void conn_budget_moved(conn_budget_t *c, size_t n);

/* What is left of the phase's budget at now, in ms (0: spent). */
uint32_t conn_budget_left(const conn_budget_t *c, uint32_t now);

/* Why a connection whose budget ran out in phase ph is closed, for the log line. */
const char *conn_budget_why(cb_phase_t ph);

#endif
