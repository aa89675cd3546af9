/* ws_rx: the RFC 6455 rules for what a WebSocket client sends, frame by frame.
 *
 * The server library parses the frame header and unmasks the payload; it hands over each frame
 * as it arrives: the first header byte (FIN, RSV1-3, opcode) and the payload. ws_rx_frame()
 * decides what the frame means for the connection:
 *   - data frames (text, continuation) are reassembled into one message of at most `cap` bytes
 *     (the sum of the fragments, not each frame); a complete text message must be UTF-8;
 *   - control frames (close, ping, pong) may be interleaved with fragments;
 *   - anything else fails the connection with the close code RFC 6455 7.4.1 gives for it:
 *       1002 protocol error: reserved bits set (no extension is negotiated), unknown opcode,
 *            control frame fragmented or longer than 125 bytes, continuation without a message,
 *            a new message before the fragmented one ended, a malformed close frame;
 *       1003 unsupported data: a binary message (the protocol is JSON text);
 *       1007 invalid data: a text message or close reason that is not UTF-8;
 *       1009 message too big: the message would exceed `cap` bytes.
 * What the library cannot pass on (the MASK bit, the length field before the payload is read)
 * is outside this module: the connection gate runs the client's bytes through ws_rx_scan
 * (ports/linux/http_gate.h).
 *
 * No allocation, no OS calls: the caller owns the message buffer. Not thread-safe: one ws_rx_t per
 * connection, used by the connection's reader only.
 */
#ifndef APP_WS_RX_H
#define APP_WS_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 5.2). */
#define WS_OP_CONT 0x0u
#define WS_OP_TEXT 0x1u
#define WS_OP_BINARY 0x2u
#define WS_OP_CLOSE 0x8u
#define WS_OP_PING 0x9u
#define WS_OP_PONG 0xAu
#define WS_CONTROL_MAX 125u        /* payload limit of a control frame */

/* Close status codes (RFC 6455 7.4.1). */
#define WS_CLOSE_NORMAL 1000u
#define WS_CLOSE_GOING_AWAY 1001u
#define WS_CLOSE_PROTOCOL 1002u
#define WS_CLOSE_UNSUPPORTED 1003u
#define WS_CLOSE_BAD_DATA 1007u
#define WS_CLOSE_TOO_BIG 1009u

typedef enum {
    WS_RX_NONE,                /* a fragment was stored; nothing to do yet */
    WS_RX_TEXT,                /* a whole text message is in buf[0..len) (valid until the next call) */
    WS_RX_PING,                /* answer with a pong carrying the same payload */
    WS_RX_PONG,                /* an answer to our ping */
    WS_RX_CLOSE,               /* the client closes: answer with a close frame of `code` (0: no code) */
    WS_RX_FAIL,                /* fail the connection: close frame with `code` and `why`, then close */
} ws_rx_action_t;

/* Why a connection was failed (for counters). */
typedef enum {
    WS_RX_ERR_PROTOCOL,        /* 1002 */
    WS_RX_ERR_UNSUPPORTED,     /* 1003 */
    WS_RX_ERR_BAD_UTF8,        /* 1007 */
    WS_RX_ERR_TOO_BIG,         /* 1009 */
    WS_RX_ERR_COUNT
} ws_rx_err_t;

typedef struct {
    char *buf;                 /* the caller's message buffer */
    size_t cap;
    size_t len;                /* bytes of the current message */
    bool in_message;           /* a fragmented message has started and not ended */
    bool failed;               /* once failed, every further frame fails again */
    uint16_t code;             /* WS_RX_CLOSE / WS_RX_FAIL: the close code to send (0: none) */
    ws_rx_err_t err;           /* WS_RX_FAIL: the reason class */
    const char *why;           /* WS_RX_FAIL: a static sentence for the log and the close frame */
} ws_rx_t;

/* buf: cap bytes owned by the caller, alive as long as rx; cap = the largest message accepted. */
void ws_rx_init(ws_rx_t *rx, char *buf, size_t cap);

/* One frame: hdr = its first header byte, data/len = its unmasked payload (data may be NULL when
 * len is 0). Returns what to do; rx->code, rx->err and rx->why say more for CLOSE and FAIL. */
ws_rx_action_t ws_rx_frame(ws_rx_t *rx, uint8_t hdr, const uint8_t *data, size_t len);

/* The transport saw a frame without the MASK bit (see ws_rx_scan): fail the connection (1002). */
ws_rx_action_t ws_rx_unmasked(ws_rx_t *rx);

/* "protocol_error", "unsupported_data", "invalid_utf8", "too_big" (metric labels). */
const char *ws_rx_err_name(ws_rx_err_t e);

/* True if s[0..len) is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
bool ws_rx_utf8_valid(const uint8_t *s, size_t len);

/* The frame headers in a client's raw byte stream, for the one rule the server library cannot
 * let ws_rx_frame() check: every client frame must be masked (RFC 6455 5.1). Feed it the bytes
 * read from the connection after the handshake, in order, in pieces of any size. */
typedef struct {
    uint8_t hdr[14];           /* the header being read: 2 bytes, 2 or 8 of length, 4 of mask */
    uint8_t have, need;
    uint64_t skip;             /* payload bytes of the current frame not seen yet */
    uint64_t frames;           /* headers seen */
    uint64_t max_data;         /* a data frame may declare at most this many payload bytes */
    bool unmasked;             /* a frame without the MASK bit was seen (stays set) */
    bool control_too_long;     /* a control frame declared more than WS_CONTROL_MAX bytes (1002) */
    bool too_big;              /* a data frame declared more than max_data bytes (1009) */
} ws_rx_scan_t;

/* The scanner also checks every declared payload length, so that the transport can fail the
 * connection before the server library allocates a frame of whatever size the client claims
 * (civetweb 1.15 mallocs the declared length, up to about 2 GB, before its data callback runs):
 * max_data is API_WS_CLIENT_MSG_MAX for the gate's client side; UINT64_MAX checks nothing. */
void ws_rx_scan_init(ws_rx_scan_t *sc);
void ws_rx_scan(ws_rx_scan_t *sc, const uint8_t *p, size_t n);

/* A close frame payload: 2-byte code, then the reason (cut to fit the 125-byte control limit at a
 * character boundary). Returns the length written; cap >= 2. */
size_t ws_rx_close_payload(uint8_t *out, size_t cap, uint16_t code, const char *reason);

#endif
