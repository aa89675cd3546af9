/* http_gate: the daemon's own front door to the web service.
 *
 * civetweb serves each open connection with one of a fixed pool of worker threads, from the
 * moment it accepts the socket until it closes it, and it accepts no matter who is asking: a
 * few dozen idle sockets (or "slowloris" clients that send a header byte every few seconds) held
 * every worker, and every other client waited in civetweb's queue. civetweb 1.15 shows a
 * connection's peer address only once a request header has been read, so it cannot refuse
 * early by address either.
 *
 * The gate listens on gateway.http itself, in one thread with epoll (an idle connection costs a
 * descriptor and a 16 KB buffer, never a thread), and:
 *   - refuses a connection at once (503 + close) beyond web.max_conns_per_addr from one client
 *     address (IPv6: one /64) or beyond web.max_connections in all;
 *   - closes a connection that has not sent a complete request header ("\r\n\r\n") within
 *     web.header_timeout_ms of its opening (408), and one whose header exceeds 16 KB (431);
 *   - only then connects it to civetweb, which listens on 127.0.0.1:<ephemeral>, and relays
 *     bytes both ways until either side closes (keep-alive and WebSocket upgrades pass through
 *     unchanged; a later keep-alive request is bounded by civetweb's own timeouts and by the
 *     per-address limit);
 *   - on a connection whose first request is a WebSocket handshake (GET with "Upgrade:
 *     websocket"), checks the one rule civetweb 1.15 cannot (it does not pass on the MASK bit):
 *     every client frame must be masked (RFC 6455 5.1). What the client sends after the handshake
 *     waits in the gate until civetweb has answered it; after a 101 answer every client byte runs
 *     through ws_rx_scan (app/ws_rx.h) before it is relayed. On a frame without the MASK bit the
 *     client gets civetweb's frame in progress, then a close frame with status 1002, and both
 *     sides are closed (civetweb sees its connection end); counted in
 *     api_counters_t.ws_failed[WS_RX_ERR_PROTOCOL] and logged like the refusals. A handshake
 *     later on a kept-alive connection is not scanned: the hub refuses it
 *     (http_gate_ws_handshake).
 * Every refusal is counted in api_counters_t.rejected (conn_per_addr, conn_total,
 * header_timeout, too_large) and logged at most every few seconds. Memory is bounded by
 * web.max_connections: at most two 16 KB buffers per open connection.
 *
 * civetweb sees every connection coming from 127.0.0.1; http_gate_peer() gives the client's
 * real address (for the per-address login rules and the logs) from the port civetweb reports.
 * A connection to civetweb's internal port that did not come through the gate has no peer and
 * is refused by the adapter.
 *
 * Threads: http_gate_open/run/stop from the service's thread; http_gate_peer,
 * http_gate_ws_handshake, http_gate_backlog and http_gate_close from any thread (civetweb's
 * workers, the WebSocket writers: a short lock; the gate's thread alone opens, reads, writes and
 * closes its descriptors); everything else in the gate's own thread. */
#ifndef PORTS_LINUX_HTTP_GATE_H
#define PORTS_LINUX_HTTP_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "app/api.h"

typedef struct http_gate http_gate_t;

typedef struct {
    const char *listen;     /* gateway.http: "ADDR:PORT", "[V6ADDR]:PORT" or "PORT" (all IPv4 addresses) */
    int max_conns;          /* web.max_connections */
    int max_per_addr;       /* web.max_conns_per_addr */
    int header_timeout_ms;  /* web.header_timeout_ms */
    int drain_timeout_ms;   /* web.request_timeout_ms: a reply left for a client that does not read */
    api_counters_t *counters; /* refusals are counted here; must outlive the gate */
    atomic_int *max_body;   /* web.max_body_bytes (api_t.max_body), may be NULL: a request that
                             * declares a longer body is answered 413 by the gate itself */
} http_gate_cfg_t;

/* Bind and listen on cfg->listen (connections wait in the kernel's backlog until
 * http_gate_run). NULL with the reason in why[0..cap) (bad address, address in use or not on
 * this host, no memory); the caller logs it (the service retries and logs each reason once). */
http_gate_t *http_gate_open(const http_gate_cfg_t *cfg, char *why, size_t cap);
/* Start the gate's thread, passing complete requests to civetweb on 127.0.0.1:upstream_port.
 * 0, or -1 after logging why. */
int http_gate_run(http_gate_t *g, int upstream_port);
/* Stop the thread, close every connection and free. NULL is a no-op. */
void http_gate_stop(http_gate_t *g);
/* The port the gate listens on (the one chosen when gateway.http asked for port 0). */
int http_gate_port(const http_gate_t *g);
/* The client address of the connection civetweb sees from seen_addr:seen_port (its
 * remote_addr/remote_port), into out (at least 46 bytes). false (out = "") unless seen_addr is
 * 127.0.0.1 and one of the gate's connections to civetweb has that port. */
bool http_gate_peer(http_gate_t *g, const char *seen_addr, int seen_port, char *out, size_t cap);
/* Bytes of civetweb's connection from 127.0.0.1:upstream_port that have not reached the client
 * yet: unread in the gate's socket from civetweb (SIOCINQ), in the gate's buffer, and in the
 * client socket's send queue (SIOCOUTQ: not sent or not acknowledged). On a WebSocket the gate
 * keeps that queue small (32 KB, doubled by Linux), so a client that stops reading shows here
 * long before civetweb's own socket fills. 0 for an unknown port. */
size_t http_gate_backlog(http_gate_t *g, int upstream_port);
/* True while civetweb's connection from 127.0.0.1:upstream_port is a WebSocket handshake that
 * was its connection's first request and has not been answered yet: the only handshakes whose
 * frames the gate checks (call from civetweb's handshake callback; false = refuse it). */
bool http_gate_ws_handshake(http_gate_t *g, int upstream_port);
/* End the connection civetweb has from 127.0.0.1:upstream_port: the gate closes both of its
 * sockets (the client's and the one to civetweb, whose reader then sees the end of the stream).
 * Asynchronous (the gate's thread does it at once); unknown ports are ignored. */
void http_gate_close(http_gate_t *g, int upstream_port);

#endif
