/* ws_wire: what civetweb 1.15 reads from a WebSocket client but does not pass on - the MASK bit.
 *
 * civetweb's data callback gets a frame's first header byte and its unmasked payload; whether the
 * client masked the frame (RFC 6455 5.1: a server MUST close the connection on an unmasked client
 * frame) is lost. civetweb reads plain (non-TLS) connections with recv(2) from the C library, so
 * this module defines recv() in the executable: the dynamic linker binds civetweb's recv to it
 * (an executable's definitions come first in symbol lookup), it does the read with recvfrom(2)
 * and, for a socket being watched, runs the bytes through ws_rx_scan (app/ws_rx.h). Every other
 * socket costs one atomic load. http_ws watches a connection from the ready callback (the
 * handshake has been read; a client may send nothing before the 101 answer, RFC 6455 4.1) to
 * the close callback, and asks ws_wire_unmasked() for each frame it is given.
 *
 * Limits: up to WS_WIRE_MAX sockets at once (web.ws_max_clients is at most 256); a TLS
 * listener would read through OpenSSL instead and see no scanning (none is configured).
 * Thread-safe: one mutex over the table.
 */
#ifndef PORTS_LINUX_WS_WIRE_H
#define PORTS_LINUX_WS_WIRE_H

#include <stdbool.h>

#define WS_WIRE_MAX 256

/* Start scanning what is read from fd from now on. false if the table is full (not watched). */
bool ws_wire_watch(int fd);
/* Stop; call before the descriptor is closed. Unknown fds are ignored. */
void ws_wire_unwatch(int fd);
/* True if a frame without the MASK bit was read from fd since ws_wire_watch(). */
bool ws_wire_unmasked(int fd);

#endif
