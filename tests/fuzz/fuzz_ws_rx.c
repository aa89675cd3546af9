/* libFuzzer harness for what a WebSocket client sends (app/ws_rx): the input is read as a client's
 * byte stream after the handshake. The harness splits it into frames as civetweb does (header,
 * 7/16/64-bit length cut to what remains, optional mask) and hands each to ws_rx_frame; the
 * whole stream also goes through ws_rx_scan in two different splits.
 *
 * Invariants checked (abort on violation; NDEBUG-proof):
 *   - the message never exceeds the buffer; a TEXT message is complete UTF-8 within the limit;
 *   - FAIL carries 1002, 1003, 1007 or 1009 with a reason that fits a close frame, and every
 *     later frame fails again with the same code; CLOSE carries 0 or a code a peer may send;
 *   - PING/PONG only for payloads of at most 125 bytes;
 *   - the scanner's result does not depend on how the stream is split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/ws_rx.h"

#define CHECK(c)                                                                                        \
    do {                                                                                                \
        if (!(c)) {                                                                                     \
            abort();                                                                                    \
        }                                                                                               \
    } while (0)

#define CAP 512u

static void frames(const uint8_t *d, size_t n)
{
    static char buf[CAP];
    static uint8_t payload[1u << 16];
    ws_rx_t rx;
    ws_rx_init(&rx, buf, sizeof buf);
    uint16_t fail_code = 0;
    size_t i = 0;
    while (i + 2u <= n) {
        uint8_t h0 = d[i], h1 = d[i + 1];
        i += 2;
        uint64_t len = h1 & 0x7Fu;
        if (len == 126u || len == 127u) {
            size_t k = len == 126u ? 2u : 8u;
            if (i + k > n) {
                break;
            }
            len = 0;
            for (size_t j = 0; j < k; j++) {
                len = (len << 8) | d[i + j];
            }
            i += k;
        }
        uint8_t mask[4] = {0, 0, 0, 0};
        if (h1 & 0x80u) {
            if (i + 4u > n) {
                break;
            }
            memcpy(mask, d + i, 4);
            i += 4;
        }
        size_t pl = len < (uint64_t)(n - i) ? (size_t)len : n - i;
        if (pl > sizeof payload) {
            pl = sizeof payload;
        }
        for (size_t j = 0; j < pl; j++) {
            payload[j] = (uint8_t)(d[i + j] ^ mask[j & 3u]);
        }
        i += pl;
        ws_rx_action_t a = ws_rx_frame(&rx, h0, pl ? payload : NULL, pl);
        CHECK(rx.len <= CAP);
        switch (a) {
        case WS_RX_NONE:
            CHECK(rx.in_message);
            break;
        case WS_RX_TEXT:
            CHECK(!rx.in_message && ws_rx_utf8_valid((const uint8_t *)rx.buf, rx.len));
            break;
        case WS_RX_PING:
        case WS_RX_PONG:
            CHECK(pl <= WS_CONTROL_MAX && (h0 & 0x80u) && !(h0 & 0x70u));
            break;
        case WS_RX_CLOSE:
            CHECK(rx.code == 0u || (rx.code >= 1000u && rx.code < 5000u));
            break;
        case WS_RX_FAIL: {
            CHECK(rx.code == 1002u || rx.code == 1003u || rx.code == 1007u || rx.code == 1009u);
            CHECK(rx.why && strlen(rx.why) <= WS_CONTROL_MAX - 2u && rx.failed);
            CHECK(fail_code == 0u || fail_code == rx.code);
            fail_code = rx.code;
            uint8_t cp[WS_CONTROL_MAX];
            size_t cl = ws_rx_close_payload(cp, sizeof cp, rx.code, rx.why);
            CHECK(cl >= 2u && cl <= WS_CONTROL_MAX && ws_rx_utf8_valid(cp + 2, cl - 2u));
            break;
        }
        default:
            CHECK(0);
        }
        if (fail_code) {
            CHECK(a == WS_RX_FAIL);
        }
    }
}

static void scan(const uint8_t *d, size_t n)
{
    ws_rx_scan_t a, b;
    ws_rx_scan_init(&a);
    ws_rx_scan(&a, d, n);
    ws_rx_scan_init(&b);
    size_t step = n ? (size_t)d[0] % 7u + 1u : 1u;
    for (size_t i = 0; i < n; i += step) {
        ws_rx_scan(&b, d + i, n - i < step ? n - i : step);
    }
    CHECK(a.unmasked == b.unmasked && a.frames == b.frames && a.skip == b.skip && a.have == b.have);
    CHECK(a.have < sizeof a.hdr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frames(data, size);
    scan(data, size);
    return 0;
}
