/* http_ws: the WebSocket /ws on civetweb, with latest-value delivery per client.
 *
 * One hub thread waits for each published view (view_store_wait), renders the messages of
 * app/api_ws.h once (status always, events when new ones arrived, the CAN table only while some
 * client subscribed to it) and swaps them in as immutable, reference-counted buffers.
 * Each client has its own writer thread that takes references to the newest messages under the
 * hub lock (held for pointer copies only), releases the lock and writes to its socket. Nothing is
 * queued per client: every client comes through the connection gate (http_gate.h), which keeps
 * the client socket's send buffer small (32 KB); while more than 16 KB wait on the gate's way to
 * the client (http_gate_backlog, by the port civetweb sees the connection from) the writer sends
 * nothing, so a slow client simply finds newer messages next time (the skipped ones are
 * counted). A client whose backlog does not drain for web.request_timeout_ms, or whose send times
 * out, is disconnected (http_gate_close: the gate closes both of its sockets) and counted. Only
 * that client's writer ever waits; the owner thread never waits for any of this (it only
 * publishes into the view store). The MASK bit of client frames is checked by the gate; the
 * other RFC 6455 rules by app/ws_rx in the data callback.
 *
 * Threads: the civetweb worker that owns the connection runs the handshake and reads client
 * messages (subscriptions); the writer thread runs from the ready callback to the close
 * callback, which joins it. */
#ifndef PORTS_LINUX_HTTP_WS_H
#define PORTS_LINUX_HTTP_WS_H

#include <stdbool.h>
#include <stdint.h>

#include "app/api.h"
#include "ports/linux/http_gate.h"
#include "ports/linux/view_store.h"

struct mg_context;
typedef struct http_ws http_ws_t;

/* Starts the hub thread; registers the /ws handler on ctx. gate gives the clients' addresses
 * (civetweb sees the gate's). NULL on failure (logged). */
http_ws_t *http_ws_start(struct mg_context *ctx, view_store_t *views, api_t *api, int max_clients, int timeout_ms,
                         const char *version, http_gate_t *gate);
/* Stop the hub and every writer (before mg_stop) ... */
void http_ws_shutdown(http_ws_t *ws);
/* ... and free it (after mg_stop: no callback can run any more). */
void http_ws_free(http_ws_t *ws);
void http_ws_stats(http_ws_t *ws, uint32_t *clients, uint64_t *sent, uint64_t *skipped, uint64_t *dropped);

#endif
