#include "app/ws_rx.h"

#include <string.h>

#include "app/utf8.h"

#define HDR_FIN 0x80u
#define HDR_RSV 0x70u
#define HDR_OP 0x0Fu

void ws_rx_init(ws_rx_t *rx, char *buf, size_t cap)
{
    memset(rx, 0, sizeof *rx);
    rx->buf = buf;
    rx->cap = cap;
}

const char *ws_rx_err_name(ws_rx_err_t e)
{
    switch (e) {
    case WS_RX_ERR_PROTOCOL: return "protocol_error";
    case WS_RX_ERR_UNSUPPORTED: return "unsupported_data";
    case WS_RX_ERR_BAD_UTF8: return "invalid_utf8";
    case WS_RX_ERR_TOO_BIG: return "too_big";
    default: return "unknown";
    }
}

bool ws_rx_utf8_valid(const uint8_t *s, size_t len)
{
    return utf8_valid(s, len);
}

size_t ws_rx_close_payload(uint8_t *out, size_t cap, uint16_t code, const char *reason)
{
    if (cap < 2u) {
        return 0;
    }
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)(code & 0xFFu);
    size_t room = (cap < WS_CONTROL_MAX ? cap : WS_CONTROL_MAX) - 2u;
    size_t rl = reason ? strlen(reason) : 0u;
    if (rl > room) {
        rl = room;
        while (rl > 0u && ((uint8_t)reason[rl] & 0xC0u) == 0x80u) {
            rl--; /* never cut a character in two: the reason must stay UTF-8 */
        }
    }
    if (rl) {
        memcpy(out + 2, reason, rl);
    }
    return 2u + rl;
}

static ws_rx_action_t fail(ws_rx_t *rx, ws_rx_err_t err, const char *why)
{
    static const uint16_t codes[WS_RX_ERR_COUNT] = {WS_CLOSE_PROTOCOL, WS_CLOSE_UNSUPPORTED, WS_CLOSE_BAD_DATA,
                                                    WS_CLOSE_TOO_BIG};
    rx->failed = true;
    rx->in_message = false;
    rx->len = 0;
    rx->err = err;
    rx->code = codes[err];
    rx->why = why;
    return WS_RX_FAIL;
}

/* Codes a peer may send (RFC 6455 7.4.1/7.4.2 and the IANA registry): 1004-1006 and 1015 are
 * reserved for local use, 1016-2999 for future RFCs, 3000-4999 for libraries and applications. */
static bool close_code_ok(uint16_t c)
{
    return (c >= 1000u && c <= 1003u) || (c >= 1007u && c <= 1014u) || (c >= 3000u && c <= 4999u);
}

static ws_rx_action_t control(ws_rx_t *rx, uint8_t hdr, const uint8_t *data, size_t len)
{
    unsigned op = hdr & HDR_OP;
    if (op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "unknown control opcode");
    }
    if (!(hdr & HDR_FIN)) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "fragmented control frame");
    }
    if (len > WS_CONTROL_MAX) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "control frame longer than 125 bytes");
    }
    if (op == WS_OP_PING) {
        return WS_RX_PING;
    }
    if (op == WS_OP_PONG) {
        return WS_RX_PONG;
    }
    if (len == 0u) {
        rx->code = 0; /* no status code: the answer carries none either */
        return WS_RX_CLOSE;
    }
    if (len == 1u) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "close frame with a 1-byte payload");
    }
    uint16_t code = (uint16_t)((data[0] << 8) | data[1]);
    if (!close_code_ok(code)) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "invalid close status code");
    }
    if (!ws_rx_utf8_valid(data + 2, len - 2u)) {
        return fail(rx, WS_RX_ERR_BAD_UTF8, "close reason is not UTF-8");
    }
    rx->code = code;
    return WS_RX_CLOSE;
}

ws_rx_action_t ws_rx_unmasked(ws_rx_t *rx)
{
    return rx->failed ? WS_RX_FAIL : fail(rx, WS_RX_ERR_PROTOCOL, "unmasked client frame");
}

ws_rx_action_t ws_rx_frame(ws_rx_t *rx, uint8_t hdr, const uint8_t *data, size_t len)
{
    if (rx->failed) {
        return WS_RX_FAIL; /* code and why of the first failure */
    }
    if (len && !data) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "frame payload missing");
    }
    if (hdr & HDR_RSV) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "reserved bits set (no extension was negotiated)");
    }
    unsigned op = hdr & HDR_OP;
    if (op & 0x8u) {
        return control(rx, hdr, data, len);
    }
    bool start = op != WS_OP_CONT;
    if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "unknown data opcode");
    }
    if (!start && !rx->in_message) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "continuation frame without a message to continue");
    }
    if (start && rx->in_message) {
        return fail(rx, WS_RX_ERR_PROTOCOL, "new message before the fragmented one ended");
    }
    if (op == WS_OP_BINARY) {
        return fail(rx, WS_RX_ERR_UNSUPPORTED, "binary messages are not accepted (JSON text only)");
    }
    if (start) {
        rx->len = 0;
    }
    if (len > rx->cap - rx->len) {
        return fail(rx, WS_RX_ERR_TOO_BIG, "message too big");
    }
    if (len) {
        memcpy(rx->buf + rx->len, data, len);
        rx->len += len;
    }
    if (!(hdr & HDR_FIN)) {
        rx->in_message = true;
        return WS_RX_NONE;
    }
    rx->in_message = false;
    if (!ws_rx_utf8_valid((const uint8_t *)rx->buf, rx->len)) {
        return fail(rx, WS_RX_ERR_BAD_UTF8, "text message is not UTF-8");
    }
    return WS_RX_TEXT;
}

void ws_rx_scan_init(ws_rx_scan_t *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->max_data = UINT64_MAX;
}

void ws_rx_scan(ws_rx_scan_t *sc, const uint8_t *p, size_t n)
{
    while (n > 0u) {
        if (sc->skip) {
            size_t k = sc->skip < n ? (size_t)sc->skip : n;
            p += k;
            n -= k;
            sc->skip -= k;
            continue;
        }
        sc->hdr[sc->have++] = *p++;
        n--;
        if (sc->have == 2u) {
            uint8_t l = sc->hdr[1] & 0x7Fu;
            sc->need = (uint8_t)(2u + (l == 126u ? 2u : l == 127u ? 8u : 0u) + ((sc->hdr[1] & 0x80u) ? 4u : 0u));
        }
        if (sc->have < 2u || sc->have < sc->need) {
            continue;
        }
        uint8_t l = sc->hdr[1] & 0x7Fu;
        uint64_t len = l;
        if (l == 126u) {
            len = ((uint64_t)sc->hdr[2] << 8) | sc->hdr[3];
        } else if (l == 127u) {
            len = 0;
            for (unsigned i = 0; i < 8u; i++) {
                len = (len << 8) | sc->hdr[2 + i];
            }
        }
        if (!(sc->hdr[1] & 0x80u)) {
            sc->unmasked = true;
        }
        if (sc->hdr[0] & 0x08u) {
            if (len > WS_CONTROL_MAX) {
                sc->control_too_long = true;
            }
        } else if (len > sc->max_data) {
            sc->too_big = true;
        }
        sc->frames++;
        sc->skip = len;
        sc->have = 0;
        sc->need = 0;
    }
}
